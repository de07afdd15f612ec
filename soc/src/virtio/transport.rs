//! The virtio-mmio transport (VIRTIO 1.2 section 4.2): modern (version 2)
//! or legacy (version 1) register layout, chosen by the board.
//!
//! # Registers
//!
//! Registers below 0x100 are 32 bits wide and must be accessed with
//! aligned 32-bit accesses (anything else is rejected, i.e. an external
//! abort). The device configuration space at 0x100 takes 1-, 2-, 4- and
//! 8-byte accesses; bytes past the device's configuration read as zero.
//! VendorID is 0x554d4551 ("QEMU"), the value guests are used to; Linux
//! does not match on it.
//!
//! # Features
//!
//! Offered: the device's own bits, VIRTIO_F_RING_INDIRECT_DESC and
//! VIRTIO_F_RING_EVENT_IDX; in modern mode VIRTIO_F_VERSION_1, in legacy
//! mode VIRTIO_F_ANY_LAYOUT instead. Modern: setting FEATURES_OK checks
//! that the driver accepted only offered bits and VERSION_1; otherwise
//! FEATURES_OK does not stick (the driver reads the status back and sees
//! it clear). Feature writes after FEATURES_OK (modern) or DRIVER_OK
//! (legacy) are ignored and logged.
//!
//! # Queues
//!
//! Queue registers are ignored while the selected queue is ready. The
//! layout (size a power of two, areas aligned and in RAM) is checked when
//! the device uses the queue. Legacy queues are ready while QueuePFN is
//! non-zero, at `PFN * GuestPageSize` with the used ring at the next
//! QueueAlign boundary after the available ring; GuestPageSize and
//! QueueAlign default to 4096, and GuestPageSize survives a device reset
//! (Linux writes it once, before resetting the device).
//!
//! A notification of a ready queue is remembered and handed to the device
//! once DRIVER_OK is set; notifications of a queue that is not ready or
//! does not exist are ignored. Queues are processed inside the MMIO write
//! when the bus gives guest memory ([`Device::write_with_memory`]),
//! otherwise at the next [`Device::poll`].
//!
//! # Errors and interrupts
//!
//! A [`QueueError`] (bad descriptor, bad ring) is logged, sets
//! DEVICE_NEEDS_RESET and, with DRIVER_OK set, raises a configuration
//! change interrupt; the device then does nothing until the driver writes
//! 0 to Status. The interrupt output is level: asserted while
//! InterruptStatus is non-zero. The device-tree node says edge-rising
//! (`<0 spi 1>`) like QEMU's virt board, which Linux is used to.

use super::queue::{Queue, QueueError, QueueView};
use super::{features, interrupt, status, VirtioDevice, VirtioError};
use crate::device::{AccessInfo, AccessRejected, Device, MmioRegion};
use crate::dt::Node;
use crate::irq::IrqLine;
use crate::ram::GuestRam;
use crate::snapshot::{StateError, StateReader, StateWriter};

/// "virt" in little-endian ASCII.
pub const MAGIC: u32 = 0x7472_6976;
/// "QEMU" in little-endian ASCII.
pub const VENDOR_ID: u32 = 0x554d_4551;
/// Offset of the device configuration space.
pub const CONFIG_OFFSET: u64 = 0x100;
/// The usual window size (registers + 256 bytes of configuration).
pub const DEFAULT_SIZE: u64 = 0x200;

/// Register offsets.
pub mod reg {
    /// MagicValue.
    pub const MAGIC_VALUE: u64 = 0x000;
    /// Version.
    pub const VERSION: u64 = 0x004;
    /// DeviceID.
    pub const DEVICE_ID: u64 = 0x008;
    /// VendorID.
    pub const VENDOR_ID: u64 = 0x00c;
    /// DeviceFeatures (legacy HostFeatures).
    pub const DEVICE_FEATURES: u64 = 0x010;
    /// DeviceFeaturesSel (legacy HostFeaturesSel).
    pub const DEVICE_FEATURES_SEL: u64 = 0x014;
    /// DriverFeatures (legacy GuestFeatures).
    pub const DRIVER_FEATURES: u64 = 0x020;
    /// DriverFeaturesSel (legacy GuestFeaturesSel).
    pub const DRIVER_FEATURES_SEL: u64 = 0x024;
    /// Legacy GuestPageSize.
    pub const GUEST_PAGE_SIZE: u64 = 0x028;
    /// QueueSel.
    pub const QUEUE_SEL: u64 = 0x030;
    /// QueueNumMax.
    pub const QUEUE_NUM_MAX: u64 = 0x034;
    /// QueueNum.
    pub const QUEUE_NUM: u64 = 0x038;
    /// Legacy QueueAlign.
    pub const QUEUE_ALIGN: u64 = 0x03c;
    /// Legacy QueuePFN.
    pub const QUEUE_PFN: u64 = 0x040;
    /// QueueReady (modern).
    pub const QUEUE_READY: u64 = 0x044;
    /// QueueNotify.
    pub const QUEUE_NOTIFY: u64 = 0x050;
    /// InterruptStatus.
    pub const INTERRUPT_STATUS: u64 = 0x060;
    /// InterruptACK.
    pub const INTERRUPT_ACK: u64 = 0x064;
    /// Status.
    pub const STATUS: u64 = 0x070;
    /// QueueDescLow.
    pub const QUEUE_DESC_LOW: u64 = 0x080;
    /// QueueDescHigh.
    pub const QUEUE_DESC_HIGH: u64 = 0x084;
    /// QueueDriverLow (available ring).
    pub const QUEUE_DRIVER_LOW: u64 = 0x090;
    /// QueueDriverHigh.
    pub const QUEUE_DRIVER_HIGH: u64 = 0x094;
    /// QueueDeviceLow (used ring).
    pub const QUEUE_DEVICE_LOW: u64 = 0x0a0;
    /// QueueDeviceHigh.
    pub const QUEUE_DEVICE_HIGH: u64 = 0x0a4;
    /// SHMSel.
    pub const SHM_SEL: u64 = 0x0ac;
    /// SHMLenLow.
    pub const SHM_LEN_LOW: u64 = 0x0b0;
    /// SHMLenHigh.
    pub const SHM_LEN_HIGH: u64 = 0x0b4;
    /// ConfigGeneration.
    pub const CONFIG_GENERATION: u64 = 0x0fc;
}

/// Where and how a board places a virtio-mmio device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MmioParams {
    /// Instance name, e.g. `virtio-blk0`.
    pub name: String,
    /// Guest physical base of the window.
    pub base: u64,
    /// Window size; at least 0x100 + the device's configuration size.
    /// Normally [`DEFAULT_SIZE`] (0x200).
    pub size: u64,
    /// Shared peripheral interrupt number (the device tree's number).
    pub spi: u32,
    /// 1 = legacy, 2 = modern.
    pub version: u32,
}

/// What an inspector sees of a virtio-mmio device
/// ([`Device::inspect`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtioView {
    /// DeviceID ([`super::device_id`]; 0 for an empty slot).
    pub device_id: u32,
    /// The legacy (version 1) register layout.
    pub legacy: bool,
    /// The Status register ([`super::status`] bits).
    pub status: u32,
    /// InterruptStatus.
    pub interrupt_status: u32,
    /// The feature bits offered.
    pub offered: u64,
    /// The features in effect (accepted by the driver of those offered).
    pub negotiated: u64,
    /// Every queue, by index.
    pub queues: Vec<QueueView>,
}

/// Legacy per-queue registers.
#[derive(Clone, Copy, Debug)]
struct LegacyQueue {
    align: u32,
    pfn: u32,
}

const LEGACY_QUEUE: LegacyQueue = LegacyQueue { align: 4096, pfn: 0 };

/// A virtio device behind a virtio-mmio register block.
pub struct VirtioMmio<D: VirtioDevice> {
    name: String,
    base: u64,
    size: u64,
    spi: u32,
    irq: IrqLine,
    irq_level: bool,
    legacy: bool,
    device: D,
    queues: Vec<Queue>,
    legacy_queues: Vec<LegacyQueue>,
    /// Queues notified but not yet handed to the device.
    pending: Vec<bool>,
    offered: u64,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    guest_page_size: u32,
    queue_sel: u32,
    status: u32,
    interrupt_status: u32,
    config_generation: u32,
    shm_sel: u32,
}

impl<D: VirtioDevice> VirtioMmio<D> {
    /// Puts `device` behind a register block at `params.base`, driving
    /// `irq` (which must be the line into SPI `params.spi`).
    pub fn new(params: MmioParams, irq: IrqLine, device: D) -> Result<Self, VirtioError> {
        let legacy = match params.version {
            1 => true,
            2 => false,
            version => {
                return Err(VirtioError::BadVersion {
                    name: params.name,
                    version,
                })
            }
        };
        let min = CONFIG_OFFSET + device.config_space().len() as u64;
        if params.size < min {
            return Err(VirtioError::WindowTooSmall {
                name: params.name,
                size: params.size,
                min,
            });
        }
        let mut offered = device.device_features() | features::RING_INDIRECT_DESC | features::RING_EVENT_IDX;
        if legacy {
            offered = (offered | features::ANY_LAYOUT) & 0xffff_ffff;
        } else {
            offered |= features::VERSION_1;
        }
        let queues: Vec<Queue> = device.queue_max_sizes().into_iter().map(Queue::new).collect();
        let n = queues.len();
        let t = VirtioMmio {
            name: params.name,
            base: params.base,
            size: params.size,
            spi: params.spi,
            irq,
            irq_level: false,
            legacy,
            device,
            queues,
            legacy_queues: vec![LEGACY_QUEUE; n],
            pending: vec![false; n],
            offered,
            device_features_sel: 0,
            driver_features_sel: 0,
            driver_features: 0,
            guest_page_size: 4096,
            queue_sel: 0,
            status: 0,
            interrupt_status: 0,
            config_generation: 0,
            shm_sel: 0,
        };
        t.irq.lower();
        Ok(t)
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.device
    }

    /// The device, mutable (e.g. to push console input).
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }

    /// The queues.
    pub fn queues(&self) -> &[Queue] {
        &self.queues
    }

    /// The Status register.
    pub fn status(&self) -> u32 {
        self.status
    }

    /// The InterruptStatus register.
    pub fn interrupt_status(&self) -> u32 {
        self.interrupt_status
    }

    /// Whether the device has stopped with DEVICE_NEEDS_RESET.
    pub fn needs_reset(&self) -> bool {
        self.status & status::DEVICE_NEEDS_RESET != 0
    }

    /// True for the legacy (version 1) layout.
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }

    /// The feature bits offered to the driver.
    pub fn offered_features(&self) -> u64 {
        self.offered
    }

    /// The features in effect: what the driver accepted of the offer.
    pub fn negotiated_features(&self) -> u64 {
        self.driver_features & self.offered
    }

    /// The interrupt output level.
    pub fn irq_level(&self) -> bool {
        self.irq_level
    }

    fn sync_irq(&mut self) {
        let level = self.interrupt_status != 0;
        if level != self.irq_level {
            self.irq_level = level;
            self.irq.set(level);
        }
    }

    fn active(&self) -> bool {
        self.status & status::DRIVER_OK != 0 && self.status & (status::DEVICE_NEEDS_RESET | status::FAILED) == 0
    }

    fn features_locked(&self) -> bool {
        let lock = if self.legacy {
            status::DRIVER_OK
        } else {
            status::FEATURES_OK
        };
        self.status & lock != 0
    }

    fn reset(&mut self) {
        self.device.reset();
        for q in &mut self.queues {
            q.reset();
        }
        self.legacy_queues.fill(LEGACY_QUEUE);
        self.pending.fill(false);
        self.device_features_sel = 0;
        self.driver_features_sel = 0;
        self.driver_features = 0;
        self.queue_sel = 0;
        self.status = 0;
        self.interrupt_status = 0;
        self.shm_sel = 0;
        self.sync_irq();
    }

    /// Stops the device after a queue error.
    fn fail(&mut self, err: &QueueError) {
        tracing::warn!(device = %self.name, error = %err, "virtio device error; device needs reset");
        self.status |= status::DEVICE_NEEDS_RESET;
        if self.status & status::DRIVER_OK != 0 {
            self.interrupt_status |= interrupt::CONFIG_CHANGE;
            self.config_generation = self.config_generation.wrapping_add(1);
        }
        self.pending.fill(false);
        self.sync_irq();
    }

    fn selected(&self) -> Option<usize> {
        let i = self.queue_sel as usize;
        (i < self.queues.len()).then_some(i)
    }

    fn read_reg(&self, offset: u64) -> u32 {
        let q = self.selected();
        match offset {
            reg::MAGIC_VALUE => MAGIC,
            reg::VERSION => {
                if self.legacy {
                    1
                } else {
                    2
                }
            }
            reg::DEVICE_ID => self.device.device_id(),
            reg::VENDOR_ID => VENDOR_ID,
            reg::DEVICE_FEATURES => match self.device_features_sel {
                0 => self.offered as u32,
                1 => (self.offered >> 32) as u32,
                _ => 0,
            },
            reg::QUEUE_NUM_MAX => q.map_or(0, |i| u32::from(self.queues[i].max_size())),
            reg::QUEUE_PFN if self.legacy => q.map_or(0, |i| self.legacy_queues[i].pfn),
            reg::QUEUE_READY if !self.legacy => q.map_or(0, |i| u32::from(self.queues[i].ready)),
            reg::INTERRUPT_STATUS => self.interrupt_status,
            reg::STATUS => self.status,
            reg::SHM_LEN_LOW | reg::SHM_LEN_HIGH if !self.legacy => u32::MAX, // no shared memory regions
            reg::CONFIG_GENERATION if !self.legacy => self.config_generation,
            _ => 0,
        }
    }

    /// Applies a register write; queue work is left pending.
    fn write_reg(&mut self, offset: u64, value: u32) {
        match offset {
            reg::DEVICE_FEATURES_SEL => self.device_features_sel = value,
            reg::DRIVER_FEATURES_SEL => self.driver_features_sel = value,
            reg::DRIVER_FEATURES => self.write_driver_features(value),
            reg::GUEST_PAGE_SIZE if self.legacy => self.guest_page_size = value,
            reg::QUEUE_SEL => self.queue_sel = value,
            reg::QUEUE_NUM => self.with_idle_queue("QueueNum", |q, _| q.size = value as u16),
            reg::QUEUE_ALIGN if self.legacy => self.with_idle_queue("QueueAlign", |_, l| l.align = value),
            reg::QUEUE_PFN if self.legacy => self.write_queue_pfn(value),
            reg::QUEUE_READY if !self.legacy => {
                if let Some(i) = self.selected() {
                    self.queues[i].ready = value & 1 != 0;
                    if value & 1 == 0 {
                        self.pending[i] = false;
                    }
                }
            }
            reg::QUEUE_NOTIFY => self.notify(value),
            reg::INTERRUPT_ACK => {
                self.interrupt_status &= !value;
                self.sync_irq();
            }
            reg::STATUS => self.write_status(value),
            reg::QUEUE_DESC_LOW if !self.legacy => {
                self.with_idle_queue("QueueDescLow", |q, _| set_low(&mut q.desc_table, value))
            }
            reg::QUEUE_DESC_HIGH if !self.legacy => {
                self.with_idle_queue("QueueDescHigh", |q, _| set_high(&mut q.desc_table, value))
            }
            reg::QUEUE_DRIVER_LOW if !self.legacy => {
                self.with_idle_queue("QueueDriverLow", |q, _| set_low(&mut q.avail_ring, value))
            }
            reg::QUEUE_DRIVER_HIGH if !self.legacy => {
                self.with_idle_queue("QueueDriverHigh", |q, _| set_high(&mut q.avail_ring, value))
            }
            reg::QUEUE_DEVICE_LOW if !self.legacy => {
                self.with_idle_queue("QueueDeviceLow", |q, _| set_low(&mut q.used_ring, value))
            }
            reg::QUEUE_DEVICE_HIGH if !self.legacy => {
                self.with_idle_queue("QueueDeviceHigh", |q, _| set_high(&mut q.used_ring, value))
            }
            reg::SHM_SEL if !self.legacy => self.shm_sel = value,
            _ => {
                tracing::debug!(device = %self.name, offset = format_args!("{offset:#x}"), "virtio-mmio write to read-only or reserved register ignored");
            }
        }
    }

    /// Runs `f` on the selected queue unless it is in use.
    fn with_idle_queue(&mut self, what: &str, f: impl FnOnce(&mut Queue, &mut LegacyQueue)) {
        let Some(i) = self.selected() else {
            tracing::debug!(device = %self.name, queue = self.queue_sel, "virtio-mmio {what} write for a queue that does not exist");
            return;
        };
        if self.queues[i].ready {
            tracing::warn!(device = %self.name, queue = i, "virtio-mmio {what} write while the queue is ready ignored");
            return;
        }
        f(&mut self.queues[i], &mut self.legacy_queues[i]);
    }

    fn write_driver_features(&mut self, value: u32) {
        if self.features_locked() {
            tracing::warn!(device = %self.name, "driver features written after feature negotiation ended; ignored");
            return;
        }
        let (shift, mask) = match self.driver_features_sel {
            0 => (0, 0xffff_ffff),
            1 => (32, 0xffff_ffff << 32),
            _ => return,
        };
        self.driver_features = (self.driver_features & !mask) | (u64::from(value) << shift);
    }

    fn write_queue_pfn(&mut self, pfn: u32) {
        let Some(i) = self.selected() else {
            return;
        };
        let q = &mut self.queues[i];
        self.legacy_queues[i].pfn = pfn;
        if pfn == 0 {
            q.reset();
            self.pending[i] = false;
            return;
        }
        // Legacy layout: descriptors, available ring, then the used ring
        // at the next QueueAlign boundary. Nonsense (an alignment that is
        // not a power of two, an overflowing address) becomes an address
        // the layout check rejects when the queue is used.
        let n = u64::from(q.size);
        let desc = u64::from(pfn).saturating_mul(u64::from(self.guest_page_size));
        let avail = desc.saturating_add(16 * n);
        let align = u64::from(self.legacy_queues[i].align);
        let avail_end = avail.saturating_add(6 + 2 * n);
        let used = if align.is_power_of_two() {
            avail_end.checked_next_multiple_of(align).unwrap_or(u64::MAX)
        } else {
            u64::MAX
        };
        q.desc_table = desc;
        q.avail_ring = avail;
        q.used_ring = used;
        q.ready = true;
    }

    fn notify(&mut self, value: u32) {
        let i = value as usize;
        match self.queues.get(i) {
            Some(q) if q.ready => self.pending[i] = true,
            Some(_) => {
                tracing::debug!(device = %self.name, queue = i, "virtio-mmio notify of a queue that is not ready ignored");
            }
            None => {
                tracing::debug!(device = %self.name, queue = i, "virtio-mmio notify of a queue that does not exist ignored");
            }
        }
    }

    fn write_status(&mut self, value: u32) {
        if value == 0 {
            self.reset();
            return;
        }
        let old = self.status;
        let mut new = (value & 0xff & !status::DEVICE_NEEDS_RESET) | (old & status::DEVICE_NEEDS_RESET);
        if !self.legacy && new & status::FEATURES_OK != 0 && old & status::FEATURES_OK == 0 {
            let extra = self.driver_features & !self.offered;
            if extra != 0 || self.driver_features & features::VERSION_1 == 0 {
                tracing::warn!(
                    device = %self.name,
                    accepted = format_args!("{:#x}", self.driver_features),
                    offered = format_args!("{:#x}", self.offered),
                    "driver accepted unoffered features or not VERSION_1; FEATURES_OK refused"
                );
                new &= !status::FEATURES_OK;
            }
        }
        if new & status::DRIVER_OK != 0 && old & status::DRIVER_OK == 0 {
            if !self.legacy && new & status::FEATURES_OK == 0 {
                tracing::warn!(device = %self.name, "DRIVER_OK without FEATURES_OK");
            }
            let negotiated = self.negotiated_features();
            self.device.activate(negotiated);
        }
        self.status = new;
    }

    /// Hands pending notifications to the device, lets it poll, and raises
    /// used-buffer interrupts.
    fn run(&mut self, mem: &mut GuestRam) {
        if !self.active() {
            return;
        }
        let negotiated = self.negotiated_features();
        let event_idx = negotiated & features::RING_EVENT_IDX != 0;
        let indirect = negotiated & features::RING_INDIRECT_DESC != 0;
        for q in &mut self.queues {
            q.set_features(event_idx, indirect);
        }
        let mut result = Ok(());
        for i in 0..self.queues.len() {
            if std::mem::take(&mut self.pending[i]) && self.queues[i].ready {
                result = self.device.notify(i, &mut self.queues, mem);
                if result.is_err() {
                    break;
                }
            }
        }
        if result.is_ok() {
            result = self.device.poll(&mut self.queues, mem);
        }
        // Used elements added before an error still get their interrupt.
        let mut notify = false;
        for q in &mut self.queues {
            match q.needs_notification(mem) {
                Ok(n) => notify |= n,
                Err(e) if result.is_ok() => result = Err(e),
                Err(_) => {}
            }
        }
        if notify {
            self.interrupt_status |= interrupt::USED_BUFFER;
        }
        if let Err(e) = result {
            self.fail(&e);
        }
        self.sync_irq();
    }

    fn read_config(&self, offset: u64, size: u8) -> u64 {
        let cfg = self.device.config_space();
        let mut bytes = [0u8; 8];
        for (k, b) in bytes.iter_mut().take(usize::from(size)).enumerate() {
            *b = cfg.get(offset as usize + k).copied().unwrap_or(0);
        }
        u64::from_le_bytes(bytes)
    }
}

fn set_low(field: &mut u64, value: u32) {
    *field = (*field & !0xffff_ffff) | u64::from(value);
}

fn set_high(field: &mut u64, value: u32) {
    *field = (*field & 0xffff_ffff) | (u64::from(value) << 32);
}

impl<D: VirtioDevice> Device for VirtioMmio<D> {
    fn name(&self) -> &str {
        &self.name
    }

    fn regions(&self) -> Vec<MmioRegion> {
        vec![MmioRegion {
            base: self.base,
            size: self.size,
        }]
    }

    fn read(&mut self, info: AccessInfo) -> Result<u64, AccessRejected> {
        if info.offset >= CONFIG_OFFSET {
            if !matches!(info.size, 1 | 2 | 4 | 8) {
                return Err(AccessRejected);
            }
            return Ok(self.read_config(info.offset - CONFIG_OFFSET, info.size));
        }
        if info.size != 4 || info.offset & 3 != 0 {
            return Err(AccessRejected);
        }
        Ok(u64::from(self.read_reg(info.offset)))
    }

    fn write(&mut self, info: AccessInfo, value: u64) -> Result<(), AccessRejected> {
        if info.debug {
            return Ok(());
        }
        if info.offset >= CONFIG_OFFSET {
            if !matches!(info.size, 1 | 2 | 4 | 8) {
                return Err(AccessRejected);
            }
            let bytes = value.to_le_bytes();
            let off = (info.offset - CONFIG_OFFSET) as usize;
            self.device.write_config(off, &bytes[..usize::from(info.size)]);
            return Ok(());
        }
        if info.size != 4 || info.offset & 3 != 0 {
            return Err(AccessRejected);
        }
        self.write_reg(info.offset, value as u32);
        Ok(())
    }

    fn write_with_memory(&mut self, info: AccessInfo, value: u64, mem: &mut GuestRam) -> Result<(), AccessRejected> {
        self.write(info, value)?;
        // A notification, or DRIVER_OK releasing earlier notifications.
        if info.offset == reg::STATUS || self.pending.iter().any(|&p| p) {
            self.run(mem);
        }
        Ok(())
    }

    fn inspect(&self, mem: &GuestRam) -> Option<crate::device::DeviceView> {
        let queues = self
            .queues
            .iter()
            .zip(&self.pending)
            .map(|(q, &notified)| QueueView {
                notified,
                ..q.view(mem)
            })
            .collect();
        Some(crate::device::DeviceView::Virtio(VirtioView {
            device_id: self.device.device_id(),
            legacy: self.legacy,
            status: self.status,
            interrupt_status: self.interrupt_status,
            offered: self.offered,
            negotiated: self.negotiated_features(),
            queues,
        }))
    }

    /// The transport registers, each queue's configuration and ring
    /// positions, then the device's own state.
    fn save_state(&self, w: &mut StateWriter) -> Result<(), StateError> {
        w.u32(self.device.device_id());
        w.bool(self.legacy);
        w.u64(self.queues.len() as u64);
        for ((q, l), p) in self.queues.iter().zip(&self.legacy_queues).zip(&self.pending) {
            q.save_state(w);
            w.u32(l.align);
            w.u32(l.pfn);
            w.bool(*p);
        }
        for v in [
            self.device_features_sel,
            self.driver_features_sel,
            self.guest_page_size,
            self.queue_sel,
            self.status,
            self.interrupt_status,
            self.config_generation,
            self.shm_sel,
        ] {
            w.u32(v);
        }
        w.u64(self.driver_features);
        w.bool(self.irq_level);
        let mut dev = StateWriter::new();
        self.device.save_state(&self.name, &mut dev)?;
        w.bytes(&dev.into_bytes());
        Ok(())
    }

    fn restore_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let id = r.u32("device id")?;
        if id != self.device.device_id() {
            return Err(r.invalid(
                "device id",
                format!(
                    "{id}, but this slot holds device id {} (attach the same devices as when the snapshot was taken)",
                    self.device.device_id()
                ),
            ));
        }
        let legacy = r.bool("legacy")?;
        if legacy != self.legacy {
            return Err(r.invalid("legacy", legacy));
        }
        let n = r.len("queues", 1)?;
        if n != self.queues.len() {
            return Err(r.invalid("queues", n));
        }
        let mut queues = self.queues.clone();
        let mut legacy_queues = self.legacy_queues.clone();
        let mut pending = self.pending.clone();
        for ((q, l), p) in queues.iter_mut().zip(&mut legacy_queues).zip(&mut pending) {
            q.restore_state(r)?;
            l.align = r.u32("queue align")?;
            l.pfn = r.u32("queue pfn")?;
            *p = r.bool("queue notified")?;
        }
        let mut regs = [0u32; 8];
        for (v, f) in regs.iter_mut().zip([
            "device_features_sel",
            "driver_features_sel",
            "guest_page_size",
            "queue_sel",
            "status",
            "interrupt_status",
            "config_generation",
            "shm_sel",
        ]) {
            *v = r.u32(f)?;
        }
        let driver_features = r.u64("driver_features")?;
        let irq_level = r.bool("irq_level")?;
        let dev = r.bytes("device state")?;
        let mut dr = StateReader::new(r.device(), &dev);
        self.device.restore_state(&mut dr)?;
        dr.finish()?;
        self.queues = queues;
        self.legacy_queues = legacy_queues;
        self.pending = pending;
        [
            self.device_features_sel,
            self.driver_features_sel,
            self.guest_page_size,
            self.queue_sel,
            self.status,
            self.interrupt_status,
            self.config_generation,
            self.shm_sel,
        ] = regs;
        self.driver_features = driver_features;
        self.irq_level = irq_level;
        Ok(())
    }

    fn dt_node(&self) -> Option<Node> {
        Some(
            Node::with_unit("virtio_mmio", self.base)
                .string("compatible", "virtio,mmio")
                .reg64(&[(self.base, self.size)])
                // <GIC_SPI spi IRQ_TYPE_EDGE_RISING>, as QEMU's virt board.
                .cells("interrupts", &[0, self.spi, 1])
                .flag("dma-coherent"),
        )
    }

    fn poll(&mut self, mem: &mut GuestRam) {
        self.run(mem);
    }

    fn can_produce_input(&self) -> bool {
        self.device.can_produce_input()
    }
}

impl<D: VirtioDevice> std::fmt::Debug for VirtioMmio<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtioMmio")
            .field("name", &self.name)
            .field("base", &format_args!("{:#x}", self.base))
            .field("device_id", &self.device.device_id())
            .field("legacy", &self.legacy)
            .field("status", &format_args!("{:#x}", self.status))
            .field("interrupt_status", &format_args!("{:#x}", self.interrupt_status))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dt::PropValue;
    use crate::virtio::queue::{VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE};
    use crate::virtio::testing::*;
    use crate::virtio::{device_id, VirtioRng};

    fn rng(version: u32) -> Driver<VirtioRng> {
        Driver::new(VirtioRng::new(), version)
    }

    #[test]
    fn identification_registers_modern() {
        let mut d = rng(2);
        assert_eq!(d.read(reg::MAGIC_VALUE), 0x7472_6976);
        assert_eq!(d.read(reg::VERSION), 2);
        assert_eq!(d.read(reg::DEVICE_ID), device_id::RNG);
        assert_eq!(d.read(reg::VENDOR_ID), 0x554d_4551);
        let f = d.offered();
        assert_eq!(
            f,
            features::VERSION_1 | features::RING_EVENT_IDX | features::RING_INDIRECT_DESC
        );
        d.write(reg::QUEUE_SEL, 0);
        assert_eq!(d.read(reg::QUEUE_NUM_MAX), 64);
        assert_eq!(d.read(reg::QUEUE_READY), 0);
        d.write(reg::QUEUE_SEL, 1);
        assert_eq!(d.read(reg::QUEUE_NUM_MAX), 0, "queue 1 does not exist");
        assert_eq!(d.read(reg::SHM_LEN_LOW), u32::MAX);
        assert_eq!(d.read(reg::CONFIG_GENERATION), 0);
        assert_eq!(d.read(reg::STATUS), 0);
        // Writes to read-only registers are ignored.
        d.write(reg::MAGIC_VALUE, 0);
        d.write(reg::INTERRUPT_STATUS, 3);
        assert_eq!(d.read(reg::MAGIC_VALUE), 0x7472_6976);
        assert_eq!(d.read(reg::INTERRUPT_STATUS), 0);
    }

    #[test]
    fn identification_registers_legacy() {
        let mut d = rng(1);
        assert_eq!(d.read(reg::VERSION), 1);
        assert_eq!(
            d.offered(),
            features::ANY_LAYOUT | features::RING_EVENT_IDX | features::RING_INDIRECT_DESC,
            "no VERSION_1 in legacy mode"
        );
        d.write(reg::QUEUE_READY, 1);
        assert_eq!(d.read(reg::QUEUE_READY), 0, "no QueueReady in legacy mode");
        assert_eq!(d.read(reg::CONFIG_GENERATION), 0);
        assert_eq!(d.read(reg::QUEUE_PFN), 0);
    }

    #[test]
    fn constructor_errors() {
        let e = VirtioMmio::new(params(3), IrqLine::none(), VirtioRng::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "virtio0: unsupported virtio-mmio version 3 (1 = legacy, 2 = modern)"
        );
        let p = MmioParams {
            size: 0xff,
            ..params(2)
        };
        let e = VirtioMmio::new(p, IrqLine::none(), VirtioRng::new()).unwrap_err();
        assert!(matches!(e, VirtioError::WindowTooSmall { min: 0x100, .. }), "{e}");
    }

    #[test]
    fn feature_negotiation() {
        let mut d = rng(2);
        // An unoffered bit: FEATURES_OK does not stick.
        d.write(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
        d.write_features(features::VERSION_1 | 1 << 40);
        d.write(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK);
        assert_eq!(d.status(), status::ACKNOWLEDGE | status::DRIVER);
        // Without VERSION_1 neither.
        d.write_features(features::RING_EVENT_IDX);
        d.write(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK);
        assert_eq!(d.status() & status::FEATURES_OK, 0);
        // A proper subset is accepted.
        d.write_features(features::VERSION_1 | features::RING_EVENT_IDX);
        d.write(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK);
        assert_ne!(d.status() & status::FEATURES_OK, 0);
        // Writing features after FEATURES_OK is ignored.
        d.write_features(features::VERSION_1 | features::RING_INDIRECT_DESC);
        assert_eq!(
            d.dev.negotiated_features(),
            features::VERSION_1 | features::RING_EVENT_IDX
        );
        assert!(!d.dev.needs_reset());
        // Reset clears everything.
        d.write(reg::STATUS, 0);
        assert_eq!(d.status(), 0);
        assert_eq!(d.dev.negotiated_features(), 0);
    }

    #[test]
    fn legacy_features_lock_at_driver_ok() {
        let mut d = rng(1);
        let f = d.init(features::RING_EVENT_IDX, 16);
        assert_eq!(f, features::RING_EVENT_IDX);
        d.write_features(0);
        assert_eq!(d.dev.negotiated_features(), features::RING_EVENT_IDX);
    }

    fn rng_round_trip(version: u32, wanted: u64) {
        let mut d = rng(version);
        d.init(wanted, 16);
        let before = d.snapshot();
        let head = d.add_chain(0, &[(DATA, 64, true)]);
        assert!(!d.irq());
        d.notify(0);
        assert_eq!(d.take_used(0), [(u32::from(head), 64)]);
        assert_ne!(d.bytes(DATA, 64), [0u8; 64], "no randomness");
        let q = d.queues[0];
        assert_only_changed(
            &before,
            &d.snapshot(),
            &[
                (DATA, 64),
                (q.desc, 16 * 16),
                (q.avail, 6 + 2 * 16),
                (q.used, 6 + 8 * 16),
            ],
        );
        assert!(d.irq());
        assert_eq!(d.ack(), interrupt::USED_BUFFER);
        assert!(!d.irq());
    }

    #[test]
    fn round_trip_modern() {
        rng_round_trip(2, 0);
        rng_round_trip(2, features::RING_EVENT_IDX | features::RING_INDIRECT_DESC);
    }

    #[test]
    fn round_trip_legacy() {
        rng_round_trip(1, 0);
        rng_round_trip(1, features::RING_EVENT_IDX | features::RING_INDIRECT_DESC);
    }

    #[test]
    fn legacy_layout_and_pfn_zero() {
        let mut d = rng(1);
        d.init(0, 8);
        let q = &d.dev.queues()[0];
        assert_eq!(q.desc_table, RAM_BASE + 0x1_0000);
        assert_eq!(q.avail_ring, RAM_BASE + 0x1_0000 + 128);
        assert_eq!(q.used_ring, RAM_BASE + 0x1_1000);
        assert_eq!(d.read(reg::QUEUE_PFN), ((RAM_BASE + 0x1_0000) / 4096) as u32);
        d.write(reg::QUEUE_PFN, 0);
        assert!(!d.dev.queues()[0].ready);
        // GuestPageSize survives a reset (Linux sets it before resetting).
        d.write(reg::GUEST_PAGE_SIZE, 0x1_0000);
        d.write(reg::STATUS, 0);
        d.write(reg::QUEUE_NUM, 8);
        d.write(reg::QUEUE_PFN, 5);
        assert_eq!(d.dev.queues()[0].desc_table, 0x5_0000);
    }

    /// Sets up a modern rng with INDIRECT negotiated, lets `corrupt`
    /// build a bad chain (descriptors at the queue's table), notifies
    /// and checks the device broke without touching guest memory.
    fn expect_broken(version: u32, corrupt: impl FnOnce(&mut Driver<VirtioRng>)) -> Driver<VirtioRng> {
        let mut d = rng(version);
        d.init(features::RING_INDIRECT_DESC, 8);
        corrupt(&mut d);
        let before = d.snapshot();
        d.notify(0);
        d.assert_broken(&before);
        d
    }

    #[test]
    fn descriptor_out_of_ram() {
        for v in [1, 2] {
            expect_broken(v, |d| {
                d.add_chain(0, &[(0x1000, 16, true)]);
            });
            expect_broken(v, |d| {
                d.add_chain(0, &[(RAM_BASE + RAM_SIZE - 8, 16, true)]);
            });
        }
    }

    #[test]
    fn next_beyond_queue_size() {
        expect_broken(2, |d| {
            d.write_desc(0, 0, DATA, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 8);
            d.make_available(0, 0);
        });
    }

    #[test]
    fn head_beyond_queue_size() {
        expect_broken(2, |d| d.make_available(0, 8));
    }

    #[test]
    fn chain_loop() {
        expect_broken(2, |d| {
            d.write_desc(0, 0, DATA, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
            d.write_desc(0, 1, DATA, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
            d.make_available(0, 0);
        });
    }

    #[test]
    fn length_overflow() {
        expect_broken(2, |d| {
            d.write_desc(0, 0, u64::MAX - 7, 16, VIRTQ_DESC_F_WRITE, 0);
            d.make_available(0, 0);
        });
    }

    #[test]
    fn indirect_bad_length_and_nested() {
        let table = DATA + 0x1000;
        expect_broken(2, |d| {
            write_desc_at(&mut d.mem, table, DATA, 16, VIRTQ_DESC_F_WRITE, 0);
            d.write_desc(0, 0, table, 20, VIRTQ_DESC_F_INDIRECT, 0);
            d.make_available(0, 0);
        });
        expect_broken(2, |d| {
            d.write_desc(0, 0, table, 0, VIRTQ_DESC_F_INDIRECT, 0);
            d.make_available(0, 0);
        });
        expect_broken(2, |d| {
            write_desc_at(&mut d.mem, table, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
            d.write_desc(0, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
            d.make_available(0, 0);
        });
    }

    #[test]
    fn indirect_without_negotiation_breaks() {
        let mut d = rng(2);
        d.init(0, 8);
        let table = DATA + 0x1000;
        write_desc_at(&mut d.mem, table, DATA, 16, VIRTQ_DESC_F_WRITE, 0);
        d.write_desc(0, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
        d.make_available(0, 0);
        let before = d.snapshot();
        d.notify(0);
        d.assert_broken(&before);
    }

    #[test]
    fn indirect_round_trip() {
        let mut d = rng(2);
        d.init(features::RING_INDIRECT_DESC, 8);
        let table = DATA + 0x1000;
        write_desc_at(&mut d.mem, table, DATA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
        write_desc_at(&mut d.mem, table + 16, DATA + 0x100, 8, VIRTQ_DESC_F_WRITE, 0);
        d.write_desc(0, 3, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
        d.make_available(0, 3);
        d.notify(0);
        assert_eq!(d.take_used(0), [(3, 16)]);
        assert!(!d.dev.needs_reset());
    }

    #[test]
    fn zero_length_descriptors() {
        let mut d = rng(2);
        d.init(0, 8);
        let before = d.snapshot();
        let head = d.add_chain(0, &[(0, 0, true), (DATA, 4, true)]);
        d.add_chain(0, &[(DATA + 0x100, 0, true)]);
        d.notify(0);
        assert_eq!(d.take_used(0), [(u32::from(head), 4), (2, 0)]);
        assert!(!d.dev.needs_reset());
        let q = d.queues[0];
        assert_only_changed(
            &before,
            &d.snapshot(),
            &[(DATA, 4), (q.desc, 16 * 8), (q.avail, 64), (q.used, 128)],
        );
    }

    #[test]
    fn bad_queue_size_breaks_on_use() {
        let mut d = rng(2);
        d.negotiate(0);
        d.setup_queue(0, 8);
        d.write(reg::QUEUE_READY, 0);
        d.write(reg::QUEUE_NUM, 6);
        d.write(reg::QUEUE_READY, 1);
        d.driver_ok();
        d.add_chain(0, &[(DATA, 4, true)]);
        let before = d.snapshot();
        d.notify(0);
        d.assert_broken(&before);
    }

    #[test]
    fn notify_of_unready_or_missing_queue_is_ignored() {
        let mut d = rng(2);
        d.negotiate(0);
        d.setup_queue(0, 8);
        d.add_chain(0, &[(DATA, 4, true)]);
        d.write(reg::QUEUE_READY, 0);
        d.driver_ok();
        let before = d.snapshot();
        d.notify(0);
        d.notify(7);
        d.notify(u32::MAX);
        assert!(d.snapshot() == before);
        assert!(!d.dev.needs_reset());
        assert_eq!(d.read(reg::INTERRUPT_STATUS), 0);
        // Queue registers of a queue that does not exist are ignored too.
        d.write(reg::QUEUE_SEL, 9);
        d.write(reg::QUEUE_NUM, 4);
        d.write(reg::QUEUE_READY, 1);
        assert_eq!(d.read(reg::QUEUE_READY), 0);
    }

    #[test]
    fn queue_registers_locked_while_ready() {
        let mut d = rng(2);
        d.init(0, 8);
        d.write(reg::QUEUE_SEL, 0);
        d.write(reg::QUEUE_NUM, 4);
        d.write(reg::QUEUE_DESC_LOW, 0);
        assert_eq!(d.dev.queues()[0].size, 8);
        assert_eq!(d.dev.queues()[0].desc_table, RAM_BASE + 0x1_0000);
    }

    #[test]
    fn notification_before_driver_ok_waits() {
        let mut d = rng(2);
        d.negotiate(0);
        d.setup_queue(0, 8);
        d.add_chain(0, &[(DATA, 4, true)]);
        d.notify(0);
        assert!(d.take_used(0).is_empty());
        d.driver_ok();
        assert_eq!(d.take_used(0), [(0, 4)]);
        assert!(d.irq());
    }

    #[test]
    fn broken_device_ignores_work_until_reset() {
        let mut d = expect_broken(2, |d| {
            d.add_chain(0, &[(0x1000, 16, true)]);
        });
        // Further work is ignored.
        d.add_chain(0, &[(DATA, 4, true)]);
        d.notify(0);
        let mut mem = std::mem::take(&mut d.mem);
        d.dev.poll(&mut mem);
        d.mem = mem;
        assert!(d.take_used(0).is_empty());
        // Acknowledging the interrupt does not clear NEEDS_RESET.
        assert_eq!(d.ack(), interrupt::CONFIG_CHANGE);
        assert!(!d.irq());
        assert!(d.dev.needs_reset());
        // The driver cannot clear NEEDS_RESET except by a reset.
        let s = d.status();
        d.write(reg::STATUS, s & !status::DEVICE_NEEDS_RESET);
        assert!(d.dev.needs_reset());
        assert_eq!(d.read(reg::CONFIG_GENERATION), 1);
        d.write(reg::STATUS, 0);
        assert_eq!(d.status(), 0);
        assert_eq!(d.read(reg::INTERRUPT_STATUS), 0);
        assert!(!d.dev.queues()[0].ready);
        // And it works again.
        d.init(0, 8);
        d.add_chain(0, &[(DATA, 4, true)]);
        d.notify(0);
        assert_eq!(d.take_used(0), [(0, 4)]);
    }

    #[test]
    fn error_before_driver_ok_raises_no_interrupt() {
        // Notifications before DRIVER_OK are deferred, so errors can only
        // surface after it; a reset in between drops them.
        let mut d = rng(2);
        d.negotiate(0);
        d.setup_queue(0, 8);
        d.add_chain(0, &[(0x1000, 4, true)]);
        d.notify(0);
        d.write(reg::STATUS, 0);
        d.negotiate(0);
        d.setup_queue(0, 8);
        d.driver_ok();
        assert!(!d.dev.needs_reset());
    }

    #[test]
    fn event_idx_suppresses_interrupts() {
        let mut d = rng(2);
        d.init(features::RING_EVENT_IDX, 8);
        let q = d.queues[0];
        // used_event = 1: no interrupt for the first used element.
        d.mem.write_u16(q.avail + 4 + 2 * 8, 1).unwrap();
        d.add_chain(0, &[(DATA, 4, true)]);
        d.notify(0);
        assert_eq!(d.take_used(0).len(), 1);
        assert!(!d.irq());
        assert_eq!(d.mem.read_u16(q.used + 4 + 8 * 8).unwrap(), 1, "avail_event");
        d.add_chain(0, &[(DATA, 4, true)]);
        d.notify(0);
        assert!(d.irq());
    }

    #[test]
    fn no_interrupt_flag_without_event_idx() {
        let mut d = rng(2);
        d.init(0, 8);
        let q = d.queues[0];
        d.mem
            .write_u16(q.avail, crate::virtio::queue::VIRTQ_AVAIL_F_NO_INTERRUPT)
            .unwrap();
        d.add_chain(0, &[(DATA, 4, true)]);
        d.notify(0);
        assert_eq!(d.take_used(0).len(), 1);
        assert!(!d.irq());
    }

    #[test]
    fn write_without_memory_is_processed_at_poll() {
        let mut d = rng(2);
        d.init(0, 8);
        d.add_chain(0, &[(DATA, 4, true)]);
        let info = AccessInfo {
            cpu: 0,
            region: 0,
            offset: reg::QUEUE_NOTIFY,
            size: 4,
            debug: false,
        };
        d.dev.write(info, 0).unwrap();
        assert!(d.take_used(0).is_empty());
        let mut mem = std::mem::take(&mut d.mem);
        d.dev.poll(&mut mem);
        d.mem = mem;
        assert_eq!(d.take_used(0).len(), 1);
    }

    #[test]
    fn access_sizes() {
        let mut d = rng(2);
        let at = |offset, size| AccessInfo {
            cpu: 0,
            region: 0,
            offset,
            size,
            debug: false,
        };
        assert_eq!(d.dev.read(at(reg::MAGIC_VALUE, 2)), Err(AccessRejected));
        assert_eq!(d.dev.read(at(reg::MAGIC_VALUE, 8)), Err(AccessRejected));
        assert_eq!(d.dev.read(at(2, 4)), Err(AccessRejected));
        assert_eq!(d.dev.write(at(reg::STATUS, 1), 1), Err(AccessRejected));
        assert_eq!(d.dev.read(at(CONFIG_OFFSET + 3, 1)), Ok(0));
        assert_eq!(d.dev.read(at(CONFIG_OFFSET, 8)), Ok(0));
        assert_eq!(d.dev.read(at(CONFIG_OFFSET, 3)), Err(AccessRejected));
        // Debug writes change nothing.
        let dbg = AccessInfo {
            debug: true,
            ..at(reg::STATUS, 4)
        };
        d.dev.write(dbg, 1).unwrap();
        assert_eq!(d.status(), 0);
    }

    #[test]
    fn device_tree_node() {
        let d = rng(2);
        let n = d.dev.dt_node().unwrap();
        assert_eq!(n.name, "virtio_mmio@a000000");
        assert_eq!(
            n.get("compatible"),
            Some(&PropValue::Strings(vec!["virtio,mmio".into()]))
        );
        assert_eq!(n.get("reg"), Some(&PropValue::Cells(vec![0, 0x0a00_0000, 0, 0x200])));
        assert_eq!(n.get("interrupts"), Some(&PropValue::Cells(vec![0, SPI, 1])));
        assert_eq!(n.get("dma-coherent"), Some(&PropValue::Empty));
        assert_eq!(
            d.dev.regions(),
            [MmioRegion {
                base: 0x0a00_0000,
                size: 0x200
            }]
        );
    }

    #[test]
    fn on_the_bus() {
        use crate::bus::SystemBus;
        use cpu_aarch64::bus::{AccessKind, Bus, PhysAddr, Requester};

        let dev = VirtioMmio::new(params(2), IrqLine::none(), VirtioRng::new()).unwrap();
        let mut bus = SystemBus::new(GuestRam::with_region("dram", RAM_BASE, RAM_SIZE).unwrap());
        bus.add_device(Box::new(dev)).unwrap();
        let req = Requester {
            cpu: 0,
            kind: AccessKind::Data,
        };
        let w = |bus: &mut SystemBus, off: u64, v: u64| bus.write(req, PhysAddr(MMIO_BASE + off), 4, v).unwrap();
        assert_eq!(bus.read(req, PhysAddr(MMIO_BASE), 4).unwrap(), 0x7472_6976);
        w(&mut bus, reg::STATUS, 3);
        w(&mut bus, reg::DRIVER_FEATURES_SEL, 1);
        w(&mut bus, reg::DRIVER_FEATURES, 1);
        w(&mut bus, reg::STATUS, 11);
        let (desc, avail, used) = (RAM_BASE, RAM_BASE + 0x1000, RAM_BASE + 0x2000);
        w(&mut bus, reg::QUEUE_NUM, 4);
        w(&mut bus, reg::QUEUE_DESC_LOW, desc);
        w(&mut bus, reg::QUEUE_DRIVER_LOW, avail);
        w(&mut bus, reg::QUEUE_DEVICE_LOW, used);
        w(&mut bus, reg::QUEUE_READY, 1);
        w(&mut bus, reg::STATUS, 15);
        // One 8-byte writable buffer, through the bus's RAM path.
        let ram = |bus: &mut SystemBus, a: u64, size: u8, v: u64| bus.write(req, PhysAddr(a), size, v).unwrap();
        ram(&mut bus, desc, 8, DATA);
        ram(&mut bus, desc + 8, 4, 8);
        ram(&mut bus, desc + 12, 2, u64::from(VIRTQ_DESC_F_WRITE));
        ram(&mut bus, avail + 2, 2, 1);
        w(&mut bus, reg::QUEUE_NOTIFY, 0);
        assert_eq!(bus.read(req, PhysAddr(used + 2), 2).unwrap(), 1);
        assert_eq!(bus.read(req, PhysAddr(used + 8), 4).unwrap(), 8);
        assert_eq!(
            bus.read(req, PhysAddr(MMIO_BASE + reg::INTERRUPT_STATUS), 4).unwrap(),
            1
        );
    }

    fn view_of<D: VirtioDevice>(d: &Driver<D>) -> VirtioView {
        match d.dev.inspect(&d.mem) {
            Some(crate::device::DeviceView::Virtio(v)) => v,
            other => panic!("a virtio transport describes itself as virtio: {other:?}"),
        }
    }

    /// The view reports what a driver-like sequence of register writes set
    /// up (VIRTIO 1.2 4.2.3: status, features, QueueNum, the three ring
    /// addresses, QueueReady), then the ring positions as chains go
    /// through: made available and notified before DRIVER_OK they wait
    /// (the driver's avail idx 2, the device has seen none); DRIVER_OK
    /// lets the device take and return both.
    #[test]
    fn inspector_view_after_driver_setup() {
        let mut d = rng(2);
        d.negotiate(features::RING_EVENT_IDX);
        d.setup_queue(0, 16);
        let v = view_of(&d);
        assert_eq!(v.device_id, device_id::RNG);
        assert!(!v.legacy);
        assert_eq!(v.status, status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK);
        assert_eq!(v.negotiated, features::VERSION_1 | features::RING_EVENT_IDX);
        assert_eq!(v.offered, d.offered());
        assert_eq!(v.queues.len(), 1);
        let q = v.queues[0];
        assert!(q.ready);
        assert_eq!((q.size, q.max_size), (16, 64));
        let base = RAM_BASE + 0x1_0000;
        assert_eq!(
            (q.desc_table, q.avail_ring, q.used_ring),
            (base, base + 0x4000, base + 0x8000)
        );
        assert_eq!(q.driver_avail_idx, Some(0));
        assert_eq!(
            (q.next_avail, q.used_idx, q.in_flight(), q.waiting()),
            (0, 0, 0, Some(0))
        );

        d.add_chain(0, &[(DATA, 8, true)]);
        d.add_chain(0, &[(DATA + 8, 8, true)]);
        d.notify(0);
        let before = d.snapshot();
        let q = view_of(&d).queues[0];
        assert!(d.snapshot() == before, "inspecting wrote guest memory");
        assert_eq!(q.driver_avail_idx, Some(2));
        assert_eq!((q.next_avail, q.used_idx, q.waiting()), (0, 0, Some(2)));
        assert!(q.notified, "notified, waiting for DRIVER_OK");

        d.driver_ok();
        let v = view_of(&d);
        assert_eq!(v.status & status::DRIVER_OK, status::DRIVER_OK);
        assert_eq!(v.interrupt_status, interrupt::USED_BUFFER);
        let q = v.queues[0];
        assert!(!q.notified);
        assert!(q.event_idx && !q.indirect, "the negotiated ring features");
        assert_eq!(
            (q.next_avail, q.used_idx, q.in_flight(), q.waiting()),
            (2, 2, 0, Some(0))
        );
        assert_eq!(d.take_used(0).len(), 2, "the driver sees the same two chains used");
    }

    /// A queue not set up yet: no addresses, and guest RAM is not read
    /// for an available index.
    #[test]
    fn inspector_view_of_an_unready_queue() {
        let d = rng(2);
        let v = view_of(&d);
        assert_eq!(v.status, 0);
        let q = v.queues[0];
        assert!(!q.ready);
        assert_eq!(q.driver_avail_idx, None);
        assert_eq!(q.waiting(), None);
    }

    /// Legacy layout: the addresses the view shows are the ones QueuePFN
    /// implies (descriptors at PFN * 4096, the used ring at the next
    /// 4096 boundary after the available ring).
    #[test]
    fn inspector_view_of_a_legacy_queue() {
        let mut d = rng(1);
        d.init(0, 8);
        let v = view_of(&d);
        assert!(v.legacy);
        let q = v.queues[0];
        let base = RAM_BASE + 0x1_0000;
        assert_eq!(
            (q.desc_table, q.avail_ring, q.used_ring),
            (base, base + 128, base + 0x1000)
        );
    }

    /// A device that keeps the chains it takes, returning only the first:
    /// the rest are in flight.
    struct Holder(Vec<crate::virtio::DescChain>);

    impl VirtioDevice for Holder {
        fn device_id(&self) -> u32 {
            device_id::BLOCK
        }
        fn device_features(&self) -> u64 {
            0
        }
        fn queue_max_sizes(&self) -> Vec<u16> {
            vec![8]
        }
        fn config_space(&self) -> Vec<u8> {
            Vec::new()
        }
        fn notify(&mut self, index: usize, queues: &mut [Queue], mem: &mut GuestRam) -> Result<(), QueueError> {
            let q = &mut queues[index];
            while let Some(c) = q.pop(mem)? {
                if self.0.is_empty() {
                    q.add_used(mem, c.head(), 0)?;
                }
                self.0.push(c);
            }
            Ok(())
        }
        fn save_state(&self, _name: &str, _w: &mut StateWriter) -> Result<(), StateError> {
            Ok(())
        }
        fn restore_state(&mut self, _r: &mut StateReader<'_>) -> Result<(), StateError> {
            Ok(())
        }
    }

    #[test]
    fn inspector_view_counts_requests_in_flight() {
        let mut d = Driver::new(Holder(Vec::new()), 2);
        d.init(0, 8);
        for k in 0..3 {
            d.add_chain(0, &[(DATA + 16 * k, 16, false)]);
        }
        d.notify(0);
        assert_eq!(d.take_used(0).len(), 1);
        let q = view_of(&d).queues[0];
        assert_eq!((q.driver_avail_idx, q.next_avail, q.used_idx), (Some(3), 3, 1));
        assert_eq!(q.in_flight(), 2);
        assert_eq!(q.waiting(), Some(0));
    }

    #[test]
    fn status_bits_and_device_types_have_names() {
        assert_eq!(
            status::names(status::ACKNOWLEDGE | status::DRIVER_OK | status::DEVICE_NEEDS_RESET),
            ["ACKNOWLEDGE", "DRIVER_OK", "DEVICE_NEEDS_RESET"]
        );
        assert_eq!(device_id::name(2), Some("block"));
        assert_eq!(device_id::name(0), Some("empty slot"));
        assert_eq!(device_id::name(9), None);
    }
}
