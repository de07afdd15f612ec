//! The device side of the bus: what every memory-mapped device implements.
//!
//! A device is a plain state machine: it can be unit-tested by calling
//! `read`/`write` directly, without a bus or a CPU. It declares its own
//! resources and its own device-tree node, so the machine and the DTB the
//! guest receives come from the same object.

use crate::dt;
use crate::ram::GuestRam;
use crate::snapshot::{StateError, StateReader, StateWriter};

/// One MMIO window a device occupies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioRegion {
    /// Guest physical base address.
    pub base: u64,
    /// Size in bytes.
    pub size: u64,
}

/// One register access as a device sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessInfo {
    /// The accessing core (for banked registers).
    pub cpu: usize,
    /// Index into [`Device::regions`] of the window that was hit.
    pub region: usize,
    /// Byte offset within that window.
    pub offset: u64,
    /// Access size in bytes: 1, 2, 4 or 8.
    pub size: u8,
    /// True for debugger/inspector accesses, which must not change device
    /// state (e.g. must not pop a receive FIFO).
    pub debug: bool,
}

/// A device refused an access (unsupported size or offset); the bus reports
/// it to the CPU as an external abort.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("device rejected the access")]
pub struct AccessRejected;

/// A device's live state as it describes itself to an inspector (the GUI's
/// Devices panel), from [`Device::inspect`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceView {
    /// A virtio-mmio transport and its queues.
    Virtio(crate::virtio::VirtioView),
    /// A CFI flash bank.
    Flash(crate::pflash::FlashView),
}

/// A memory-mapped device.
pub trait Device: Send {
    /// Instance name used in logs and errors, e.g. `uart0`.
    fn name(&self) -> &str;
    /// The MMIO windows this device decodes.
    fn regions(&self) -> Vec<MmioRegion>;
    /// Handles a read; returns the value zero-extended to 64 bits.
    fn read(&mut self, info: AccessInfo) -> Result<u64, AccessRejected>;
    /// Handles a write of the low `info.size` bytes of `value`.
    fn write(&mut self, info: AccessInfo, value: u64) -> Result<(), AccessRejected>;
    /// The device-tree node describing this device, or `None` for devices
    /// the guest discovers otherwise.
    fn dt_node(&self) -> Option<dt::Node>;

    /// Handles a write by a device that may access guest memory in
    /// response (DMA: a virtio queue notification walks descriptors in
    /// RAM). The bus always calls this; the default ignores `mem`. Guest
    /// memory is reached only through `mem`'s bounds-checked accessors, so
    /// a bad guest address is an error the device reports, never a host
    /// access outside guest RAM.
    fn write_with_memory(&mut self, info: AccessInfo, value: u64, mem: &mut GuestRam) -> Result<(), AccessRejected> {
        let _ = mem;
        self.write(info, value)
    }

    /// Lets a device make progress on host-side events (input arriving,
    /// a backend completing) between CPU turns. The default does nothing.
    fn poll(&mut self, mem: &mut GuestRam) {
        let _ = mem;
    }

    /// Whether host input may still arrive for this device (a console
    /// whose stdin is open, a listening socket). While some device says
    /// so, a machine whose cores all wait for an interrupt keeps waiting
    /// instead of reporting a deadlock. The default is `false`.
    fn can_produce_input(&self) -> bool {
        false
    }

    /// The device's live state for an inspector, or `None` for devices
    /// that do not describe themselves (the default). Reading it changes
    /// nothing: the device is borrowed shared, and `mem` (for state the
    /// driver keeps in guest RAM, such as a virtqueue's available index)
    /// only through plain reads.
    fn inspect(&self, mem: &GuestRam) -> Option<DeviceView> {
        let _ = mem;
        None
    }

    /// Writes the device's state (registers, FIFOs, queue positions; not
    /// its host backend) for a machine snapshot. The default refuses, so a
    /// device that does not describe its state cannot be silently lost.
    fn save_state(&self, w: &mut StateWriter) -> Result<(), StateError> {
        let _ = w;
        Err(StateError::Unsupported {
            device: self.name().to_string(),
            reason: "the device does not save its state".into(),
        })
    }

    /// Takes back a state written by [`Device::save_state`] of a device
    /// built the same way. Wrong or truncated bytes are an error, never a
    /// panic; the caller discards a device whose restore failed.
    fn restore_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let _ = r;
        Err(StateError::Unsupported {
            device: self.name().to_string(),
            reason: "the device does not restore its state".into(),
        })
    }
}
