//! Virtio devices on the virtio-mmio transport (VIRTIO 1.2, OASIS).
//!
//! * [`transport::VirtioMmio`] is the MMIO register block (modern version 2
//!   or legacy version 1, as the board selects) and implements
//!   [`crate::device::Device`]; it owns the virtqueues and drives one
//!   interrupt line.
//! * [`queue`] walks split virtqueues in guest RAM through
//!   [`crate::ram::GuestRam`]'s bounds-checked accessors only, validating
//!   every descriptor. A bad descriptor is a typed [`queue::QueueError`];
//!   the transport then sets DEVICE_NEEDS_RESET, raises a configuration
//!   change interrupt, logs the error and stops the device until the driver
//!   resets it. Nothing a guest writes can crash the host or reach host
//!   memory outside guest RAM.
//! * The devices implement [`VirtioDevice`]: [`blk::VirtioBlk`] (a raw
//!   image file), [`rng::VirtioRng`] (host randomness),
//!   [`console::VirtioConsole`] (one port) and [`net::VirtioNet`] (one
//!   queue pair, frames to a [`net::NetBackend`] such as
//!   [`crate::usernet::UserNet`]).
//!
//! Boards build a device with [`virtio_blk`], [`virtio_rng`],
//! [`virtio_console`] or [`virtio_net`] and add it to the bus like any
//! other device.

use std::path::PathBuf;

use crate::irq::IrqLine;
use crate::ram::GuestRam;
use crate::snapshot::{StateError, StateReader, StateWriter};

pub mod blk;
pub mod console;
pub mod net;
pub mod queue;
pub mod rng;
pub mod transport;

#[cfg(test)]
pub(crate) mod testing;

pub use blk::{BlkConfig, VirtioBlk};
pub use console::{ConsoleInput, VirtioConsole};
pub use net::{MacAddr, NetBackend, NicConfig, VirtioNet};
pub use queue::{DescChain, Queue, QueueError, QueueView};
pub use rng::VirtioRng;
pub use transport::{MmioParams, VirtioMmio, VirtioView};

/// Device IDs (VIRTIO 1.2 section 5).
pub mod device_id {
    /// Network card.
    pub const NET: u32 = 1;
    /// Block device.
    pub const BLOCK: u32 = 2;
    /// Console.
    pub const CONSOLE: u32 = 3;
    /// Entropy source.
    pub const RNG: u32 = 4;

    /// The device type's name (as VIRTIO 1.2 section 5 titles it), or
    /// `None` for IDs Preboard does not implement; 0 is an empty slot.
    pub fn name(id: u32) -> Option<&'static str> {
        Some(match id {
            0 => "empty slot",
            NET => "network",
            BLOCK => "block",
            CONSOLE => "console",
            RNG => "entropy",
            _ => return None,
        })
    }
}

/// Device-independent feature bits (VIRTIO 1.2 section 6).
pub mod features {
    /// Legacy: the device accepts any descriptor layout (implied by
    /// VERSION_1; our devices never depend on the layout).
    pub const ANY_LAYOUT: u64 = 1 << 27;
    /// Indirect descriptor tables.
    pub const RING_INDIRECT_DESC: u64 = 1 << 28;
    /// `used_event` / `avail_event` notification suppression.
    pub const RING_EVENT_IDX: u64 = 1 << 29;
    /// Modern (non-legacy) device.
    pub const VERSION_1: u64 = 1 << 32;
}

/// Device status bits (VIRTIO 1.2 section 2.1).
pub mod status {
    /// The guest has found the device.
    pub const ACKNOWLEDGE: u32 = 1;
    /// The guest knows how to drive the device.
    pub const DRIVER: u32 = 2;
    /// The driver is set up and ready to drive the device.
    pub const DRIVER_OK: u32 = 4;
    /// Feature negotiation is complete.
    pub const FEATURES_OK: u32 = 8;
    /// The device has hit an error it cannot recover from without a reset.
    pub const DEVICE_NEEDS_RESET: u32 = 0x40;
    /// The driver has given up on the device.
    pub const FAILED: u32 = 0x80;

    /// The names of the bits set in `status`, lowest first.
    pub fn names(status: u32) -> Vec<&'static str> {
        [
            (ACKNOWLEDGE, "ACKNOWLEDGE"),
            (DRIVER, "DRIVER"),
            (DRIVER_OK, "DRIVER_OK"),
            (FEATURES_OK, "FEATURES_OK"),
            (DEVICE_NEEDS_RESET, "DEVICE_NEEDS_RESET"),
            (FAILED, "FAILED"),
        ]
        .into_iter()
        .filter(|&(bit, _)| status & bit != 0)
        .map(|(_, name)| name)
        .collect()
    }
}

/// InterruptStatus bits.
pub mod interrupt {
    /// A used buffer notification.
    pub const USED_BUFFER: u32 = 1;
    /// A configuration change notification.
    pub const CONFIG_CHANGE: u32 = 2;
}

/// Errors building a virtio device, each naming what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum VirtioError {
    /// A disk image cannot be used.
    #[error("virtio-blk image {}: {reason}", path.display())]
    Image {
        /// The image path as given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A disk image cannot be reached at all: missing, or no permission
    /// to open it as asked (a missing input, where [`VirtioError::Image`]
    /// is an unusable one).
    #[error("virtio-blk image {}: {reason}", path.display())]
    ImageAccess {
        /// The image path as given.
        path: PathBuf,
        /// The host's reason.
        reason: String,
    },
    /// The virtio-mmio version is neither 1 nor 2.
    #[error("{name}: unsupported virtio-mmio version {version} (1 = legacy, 2 = modern)")]
    BadVersion {
        /// Device instance name.
        name: String,
        /// The version requested.
        version: u32,
    },
    /// The MMIO window cannot hold the registers and configuration space.
    #[error("{name}: virtio-mmio window size {size:#x} is too small (needs at least {min:#x})")]
    WindowTooSmall {
        /// Device instance name.
        name: String,
        /// The size requested.
        size: u64,
        /// The minimum.
        min: u64,
    },
    /// A network backend could not be started.
    #[error("{name}: network backend: {reason}")]
    NetBackend {
        /// Device instance name.
        name: String,
        /// What failed.
        reason: String,
    },
    /// A virtio-blk serial number longer than the 20 bytes GET_ID returns.
    #[error("virtio-blk serial {serial:?} is {len} bytes long; at most 20 are allowed")]
    SerialTooLong {
        /// The serial as given.
        serial: String,
        /// Its length in bytes.
        len: usize,
    },
}

/// The device side of a virtio device: everything that is not transport.
///
/// The transport owns the queues and calls [`VirtioDevice::notify`] when
/// the driver notifies a ready queue (only while DRIVER_OK is set and the
/// device is not broken), then decides about interrupts itself. An error
/// returned from `notify` or `poll` marks the device DEVICE_NEEDS_RESET.
pub trait VirtioDevice: Send {
    /// The virtio device ID ([`device_id`]).
    fn device_id(&self) -> u32;
    /// The device-specific feature bits offered (the transport adds
    /// VERSION_1, RING_EVENT_IDX and RING_INDIRECT_DESC).
    fn device_features(&self) -> u64;
    /// The maximum size of each queue; the length is the number of queues.
    fn queue_max_sizes(&self) -> Vec<u16>;
    /// The device configuration space as the driver sees it now
    /// (little-endian fields).
    fn config_space(&self) -> Vec<u8>;
    /// A driver write to the configuration space. The default ignores it.
    fn write_config(&mut self, offset: usize, data: &[u8]) {
        let _ = (offset, data);
    }
    /// The driver set DRIVER_OK with these negotiated features.
    fn activate(&mut self, negotiated: u64) {
        let _ = negotiated;
    }
    /// The driver reset the device.
    fn reset(&mut self) {}
    /// The driver notified queue `index` (always a valid, ready queue).
    fn notify(&mut self, index: usize, queues: &mut [Queue], mem: &mut GuestRam) -> Result<(), QueueError>;
    /// Whether host input may still arrive (see
    /// [`crate::device::Device::can_produce_input`]). The default is
    /// `false`.
    fn can_produce_input(&self) -> bool {
        false
    }
    /// Host-side progress between CPU turns (input arriving). The default
    /// does nothing.
    fn poll(&mut self, queues: &mut [Queue], mem: &mut GuestRam) -> Result<(), QueueError> {
        let _ = (queues, mem);
        Ok(())
    }
    /// Writes the device-specific state for a snapshot (the transport
    /// saves the queues and registers); `name` is the transport's, for
    /// errors.
    fn save_state(&self, name: &str, w: &mut StateWriter) -> Result<(), StateError>;
    /// Takes back what [`VirtioDevice::save_state`] wrote.
    fn restore_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError>;
}

/// A virtio-blk device on a virtio-mmio transport: opens the image now, so
/// a missing, unreadable or too small image is an error naming the file.
pub fn virtio_blk(params: MmioParams, irq: IrqLine, config: &BlkConfig) -> Result<VirtioMmio<VirtioBlk>, VirtioError> {
    let blk = VirtioBlk::open(config)?;
    VirtioMmio::new(params, irq, blk)
}

/// A virtio-rng device on a virtio-mmio transport.
pub fn virtio_rng(params: MmioParams, irq: IrqLine) -> Result<VirtioMmio<VirtioRng>, VirtioError> {
    VirtioMmio::new(params, irq, VirtioRng::new())
}

/// [`virtio_rng`] with a given source (e.g. [`VirtioRng::seeded`]).
pub fn virtio_rng_from(params: MmioParams, irq: IrqLine, rng: VirtioRng) -> Result<VirtioMmio<VirtioRng>, VirtioError> {
    VirtioMmio::new(params, irq, rng)
}

/// A virtio-console device on a virtio-mmio transport, connected to a
/// host character backend (guest output goes to it; its input reaches the
/// guest). The returned [`ConsoleInput`] feeds further guest input (it can
/// be cloned and moved to an input thread); the device takes both in
/// [`crate::device::Device::poll`].
pub fn virtio_console(
    params: MmioParams,
    irq: IrqLine,
    backend: Box<dyn crate::chardev::CharBackend>,
) -> Result<(VirtioMmio<VirtioConsole>, ConsoleInput), VirtioError> {
    let console = VirtioConsole::with_backend(backend);
    let input = console.input();
    Ok((VirtioMmio::new(params, irq, console)?, input))
}

/// A virtio-net device with address `mac` on a virtio-mmio transport,
/// its frames going to `backend`.
pub fn virtio_net(
    params: MmioParams,
    irq: IrqLine,
    mac: MacAddr,
    backend: Box<dyn NetBackend>,
) -> Result<VirtioMmio<VirtioNet>, VirtioError> {
    VirtioMmio::new(params, irq, VirtioNet::new(mac, backend))
}

/// An empty virtio-mmio slot: DeviceID 0, which drivers skip (QEMU's
/// `virt` lists all 32 transports in its device tree, most of them empty,
/// so guests see the same slots whatever is plugged in).
#[derive(Debug, Default)]
pub struct NoDevice;

impl VirtioDevice for NoDevice {
    fn device_id(&self) -> u32 {
        0
    }
    fn device_features(&self) -> u64 {
        0
    }
    fn queue_max_sizes(&self) -> Vec<u16> {
        Vec::new()
    }
    fn config_space(&self) -> Vec<u8> {
        Vec::new()
    }
    fn notify(&mut self, _index: usize, _queues: &mut [Queue], _mem: &mut GuestRam) -> Result<(), QueueError> {
        Ok(())
    }
    fn save_state(&self, _name: &str, _w: &mut StateWriter) -> Result<(), StateError> {
        Ok(())
    }
    fn restore_state(&mut self, _r: &mut StateReader<'_>) -> Result<(), StateError> {
        Ok(())
    }
}

/// An empty slot (see [`NoDevice`]).
pub fn virtio_empty(params: MmioParams, irq: IrqLine) -> Result<VirtioMmio<NoDevice>, VirtioError> {
    VirtioMmio::new(params, irq, NoDevice)
}

#[cfg(test)]
mod empty_slot_tests {
    use super::*;
    use crate::device::{AccessInfo, Device};

    #[test]
    fn an_empty_slot_reads_device_id_zero() {
        let params = MmioParams {
            name: "virtio0".into(),
            base: 0x0a00_0000,
            size: 0x200,
            spi: 16,
            version: 2,
        };
        let mut slot = virtio_empty(params, IrqLine::none()).unwrap();
        let rd = |d: &mut VirtioMmio<NoDevice>, offset| {
            d.read(AccessInfo {
                cpu: 0,
                region: 0,
                offset,
                size: 4,
                debug: false,
            })
            .unwrap()
        };
        assert_eq!(rd(&mut slot, 0x000), 0x7472_6976, "magic");
        assert_eq!(rd(&mut slot, 0x004), 2, "version");
        assert_eq!(rd(&mut slot, 0x008), 0, "no device");
    }
}
