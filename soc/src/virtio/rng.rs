//! virtio-rng (VIRTIO 1.2 section 5.4): fills every device-writable buffer
//! the driver offers with host randomness (`getrandom`, the operating
//! system's CSPRNG), or with a fixed pseudo-random stream from a seed
//! ([`VirtioRng::seeded`], for reproducible runs).
//!
//! At most [`MAX_REQUEST`] bytes are returned per request (the spec lets
//! the device return fewer bytes than the buffer holds). If the host
//! cannot provide randomness the request completes with 0 bytes and a
//! warning is logged.

use super::queue::{Queue, QueueError};
use super::{device_id, VirtioDevice};
use crate::ram::GuestRam;
use crate::snapshot::{StateError, StateReader, StateWriter};

/// Queue size of the request queue.
pub const QUEUE_SIZE: u16 = 64;
/// Most bytes returned for one request.
pub const MAX_REQUEST: u32 = 64 * 1024;

/// An entropy device.
#[derive(Debug, Default)]
pub struct VirtioRng {
    failed: bool,
    /// SplitMix64 state when the stream is seeded.
    seeded: Option<u64>,
}

impl VirtioRng {
    /// A new entropy device.
    pub fn new() -> Self {
        VirtioRng::default()
    }

    /// An entropy device returning the same SplitMix64 stream from `seed`
    /// on every run (not random: for deterministic runs only).
    pub fn seeded(seed: u64) -> Self {
        VirtioRng {
            failed: false,
            seeded: Some(seed),
        }
    }

    /// Fills `buf` from this device's source (host entropy or the seeded
    /// stream), as for a guest request.
    pub fn fill(&mut self, buf: &mut [u8]) -> Result<(), getrandom::Error> {
        let Some(state) = &mut self.seeded else {
            return getrandom::fill(buf);
        };
        for chunk in buf.chunks_mut(8) {
            // SplitMix64 (Steele, Lea, Flood 2014).
            *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = *state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
        Ok(())
    }
}

impl VirtioDevice for VirtioRng {
    fn device_id(&self) -> u32 {
        device_id::RNG
    }

    fn device_features(&self) -> u64 {
        0
    }

    fn queue_max_sizes(&self) -> Vec<u16> {
        vec![QUEUE_SIZE]
    }

    fn config_space(&self) -> Vec<u8> {
        Vec::new()
    }

    /// The seeded stream's position (deterministic runs); host entropy
    /// has no state.
    fn save_state(&self, _name: &str, w: &mut StateWriter) -> Result<(), StateError> {
        w.bool(self.seeded.is_some());
        w.u64(self.seeded.unwrap_or(0));
        Ok(())
    }

    fn restore_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let seeded = r.bool("seeded")?;
        let state = r.u64("stream state")?;
        self.seeded = seeded.then_some(state);
        Ok(())
    }

    fn notify(&mut self, index: usize, queues: &mut [Queue], mem: &mut GuestRam) -> Result<(), QueueError> {
        let Some(q) = queues.get_mut(index) else {
            return Ok(());
        };
        while let Some(chain) = q.pop(mem)? {
            let mut buf = vec![0u8; chain.writable_len().min(MAX_REQUEST) as usize];
            let n = match self.fill(&mut buf) {
                Ok(()) => chain.write(mem, 0, &buf)? as u32,
                Err(e) => {
                    if !self.failed {
                        tracing::warn!(error = %e, "host randomness unavailable; virtio-rng returns nothing");
                        self.failed = true;
                    }
                    0
                }
            };
            q.add_used(mem, chain.head(), n)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::virtio::testing::*;

    #[test]
    fn a_seeded_stream_repeats() {
        let take = |mut r: VirtioRng| {
            let mut b = [0u8; 20];
            r.fill(&mut b).unwrap();
            b
        };
        let a = take(VirtioRng::seeded(1));
        assert_eq!(a, take(VirtioRng::seeded(1)));
        assert_ne!(a, take(VirtioRng::seeded(2)));
        assert!(a.iter().filter(|&&b| b == 0).count() < 4, "{a:?}");
        // SplitMix64's first output for seed 0 (its reference value).
        assert_eq!(take(VirtioRng::seeded(0))[..8], 0xe220_a839_7b1d_cdafu64.to_le_bytes());
    }

    #[test]
    fn fills_writable_buffers_only_and_caps_the_size() {
        let mut d = Driver::new(VirtioRng::new(), 2);
        d.init(0, 16);
        // A readable-only chain gets 0 bytes and is not written.
        d.mem.write_bytes(DATA, &[7; 32]).unwrap();
        d.add_chain(0, &[(DATA, 32, false)]);
        // A huge buffer gets MAX_REQUEST bytes.
        d.add_chain(0, &[(DATA + 0x1000, 0x7_0000, true)]);
        d.notify(0);
        assert_eq!(d.take_used(0), [(0, 0), (1, MAX_REQUEST)]);
        assert_eq!(d.bytes(DATA, 32), [7; 32]);
        let got = d.bytes(DATA + 0x1000, MAX_REQUEST as usize);
        assert!(got.iter().filter(|&&b| b == 0).count() < 1024, "not random");
        assert!(d
            .bytes(DATA + 0x1000 + u64::from(MAX_REQUEST), 0x100)
            .iter()
            .all(|&b| b == 0));
    }
}
