//! Virtqueue walker: `soc::virtio::queue::fuzz_queue` builds a guest RAM and
//! a queue from the input and plays the device side against it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    soc::virtio::queue::fuzz_queue(data);
});
