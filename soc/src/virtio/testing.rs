//! A test driver: plays the guest's side of virtio-mmio (register
//! accesses, feature negotiation, split rings in a [`GuestRam`]) against a
//! [`VirtioMmio`] device, in the modern or the legacy layout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::queue::{VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE};
use super::transport::{reg, MmioParams, VirtioMmio, CONFIG_OFFSET};
use super::{features, status, VirtioDevice};
use crate::device::{AccessInfo, Device};
use crate::irq::{InterruptController, IrqLine};
use crate::ram::GuestRam;

pub const RAM_BASE: u64 = 0x4000_0000;
pub const RAM_SIZE: u64 = 0x10_0000;
/// Where tests put their data buffers.
pub const DATA: u64 = RAM_BASE + 0x8_0000;
pub const MMIO_BASE: u64 = 0x0a00_0000;
pub const SPI: u32 = 16;

/// Records the level of every SPI.
#[derive(Default)]
pub struct Levels(pub HashMap<u32, bool>);

impl InterruptController for Levels {
    fn set_spi(&mut self, spi: u32, level: bool) {
        self.0.insert(spi, level);
    }
    fn set_ppi(&mut self, _cpu: usize, _intid: u32, _level: bool) {}
}

/// The driver's view of one queue.
#[derive(Clone, Copy, Debug, Default)]
pub struct DriverQueue {
    pub size: u16,
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
    next_desc: u16,
    avail_idx: u16,
    last_used: u16,
}

pub struct Driver<D: VirtioDevice> {
    pub dev: VirtioMmio<D>,
    pub mem: GuestRam,
    pub levels: Arc<Mutex<Levels>>,
    pub legacy: bool,
    pub queues: Vec<DriverQueue>,
}

fn acc(offset: u64, size: u8) -> AccessInfo {
    AccessInfo {
        cpu: 0,
        region: 0,
        offset,
        size,
        debug: false,
    }
}

pub fn params(version: u32) -> MmioParams {
    MmioParams {
        name: "virtio0".into(),
        base: MMIO_BASE,
        size: 0x200,
        spi: SPI,
        version,
    }
}

impl<D: VirtioDevice> Driver<D> {
    pub fn new(device: D, version: u32) -> Self {
        let levels = Arc::new(Mutex::new(Levels::default()));
        let ctrl: crate::irq::SharedInterruptController = levels.clone();
        let dev = VirtioMmio::new(params(version), IrqLine::spi(ctrl, SPI), device).unwrap();
        let n = dev.queues().len();
        Driver {
            dev,
            mem: GuestRam::with_region("dram", RAM_BASE, RAM_SIZE).unwrap(),
            levels,
            legacy: version == 1,
            queues: vec![DriverQueue::default(); n],
        }
    }

    pub fn read(&mut self, offset: u64) -> u32 {
        self.dev.read(acc(offset, 4)).unwrap() as u32
    }

    pub fn write(&mut self, offset: u64, value: u32) {
        self.dev
            .write_with_memory(acc(offset, 4), u64::from(value), &mut self.mem)
            .unwrap();
    }

    pub fn config(&mut self, offset: u64, size: u8) -> u64 {
        self.dev.read(acc(CONFIG_OFFSET + offset, size)).unwrap()
    }

    pub fn irq(&self) -> bool {
        self.levels.lock().unwrap().0.get(&SPI).copied().unwrap_or(false)
    }

    pub fn status(&mut self) -> u32 {
        self.read(reg::STATUS)
    }

    pub fn offered(&mut self) -> u64 {
        self.write(reg::DEVICE_FEATURES_SEL, 0);
        let lo = self.read(reg::DEVICE_FEATURES);
        self.write(reg::DEVICE_FEATURES_SEL, 1);
        let hi = self.read(reg::DEVICE_FEATURES);
        u64::from(lo) | (u64::from(hi) << 32)
    }

    pub fn write_features(&mut self, f: u64) {
        self.write(reg::DRIVER_FEATURES_SEL, 0);
        self.write(reg::DRIVER_FEATURES, f as u32);
        self.write(reg::DRIVER_FEATURES_SEL, 1);
        self.write(reg::DRIVER_FEATURES, (f >> 32) as u32);
    }

    /// Reset, ACKNOWLEDGE, DRIVER, accept `wanted & offered` (plus
    /// VERSION_1 in modern mode), FEATURES_OK (modern). Returns the
    /// accepted features.
    pub fn negotiate(&mut self, wanted: u64) -> u64 {
        self.write(reg::STATUS, 0);
        self.write(reg::STATUS, status::ACKNOWLEDGE);
        self.write(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
        let mut f = self.offered() & wanted;
        if !self.legacy {
            f |= features::VERSION_1;
        }
        self.write_features(f);
        if !self.legacy {
            self.write(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK);
            assert_ne!(self.status() & status::FEATURES_OK, 0, "FEATURES_OK refused");
        }
        self.queues = vec![DriverQueue::default(); self.queues.len()];
        f
    }

    /// Sets up queue `i` with `size` entries in its own 64 KiB of RAM.
    pub fn setup_queue(&mut self, i: usize, size: u16) {
        let base = RAM_BASE + 0x1_0000 * (i as u64 + 1);
        self.write(reg::QUEUE_SEL, i as u32);
        assert!(self.read(reg::QUEUE_NUM_MAX) >= u32::from(size));
        self.write(reg::QUEUE_NUM, u32::from(size));
        let n = u64::from(size);
        let q = if self.legacy {
            self.write(reg::GUEST_PAGE_SIZE, 4096);
            self.write(reg::QUEUE_ALIGN, 4096);
            self.write(reg::QUEUE_PFN, (base / 4096) as u32);
            let avail = base + 16 * n;
            DriverQueue {
                size,
                desc: base,
                avail,
                used: (avail + 6 + 2 * n).next_multiple_of(4096),
                ..Default::default()
            }
        } else {
            let q = DriverQueue {
                size,
                desc: base,
                avail: base + 0x4000,
                used: base + 0x8000,
                ..Default::default()
            };
            self.write(reg::QUEUE_DESC_LOW, q.desc as u32);
            self.write(reg::QUEUE_DESC_HIGH, (q.desc >> 32) as u32);
            self.write(reg::QUEUE_DRIVER_LOW, q.avail as u32);
            self.write(reg::QUEUE_DRIVER_HIGH, (q.avail >> 32) as u32);
            self.write(reg::QUEUE_DEVICE_LOW, q.used as u32);
            self.write(reg::QUEUE_DEVICE_HIGH, (q.used >> 32) as u32);
            self.write(reg::QUEUE_READY, 1);
            q
        };
        self.queues[i] = q;
    }

    pub fn driver_ok(&mut self) {
        let s = self.status();
        self.write(reg::STATUS, s | status::DRIVER_OK);
    }

    /// Negotiates `wanted`, sets up every queue with `size` entries and
    /// sets DRIVER_OK.
    pub fn init(&mut self, wanted: u64, size: u16) -> u64 {
        let f = self.negotiate(wanted);
        for i in 0..self.queues.len() {
            self.setup_queue(i, size);
        }
        self.driver_ok();
        f
    }

    /// Writes descriptor `index` of queue `q`'s table.
    pub fn write_desc(&mut self, q: usize, index: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let table = self.queues[q].desc;
        write_desc_at(&mut self.mem, table + 16 * u64::from(index), addr, len, flags, next);
    }

    /// Makes chain `head` available (without notifying).
    pub fn make_available(&mut self, q: usize, head: u16) {
        let dq = &mut self.queues[q];
        let slot = u64::from(dq.avail_idx % dq.size);
        self.mem.write_u16(dq.avail + 4 + 2 * slot, head).unwrap();
        dq.avail_idx = dq.avail_idx.wrapping_add(1);
        self.mem.write_u16(dq.avail + 2, dq.avail_idx).unwrap();
    }

    /// Builds a chain of `(addr, len, writable)` buffers in consecutive
    /// free descriptors, makes it available and returns its head.
    pub fn add_chain(&mut self, q: usize, bufs: &[(u64, u32, bool)]) -> u16 {
        let size = self.queues[q].size;
        let head = self.queues[q].next_desc;
        for (k, &(addr, len, writable)) in bufs.iter().enumerate() {
            let i = (head + k as u16) % size;
            let mut flags = if writable { VIRTQ_DESC_F_WRITE } else { 0 };
            if k + 1 < bufs.len() {
                flags |= VIRTQ_DESC_F_NEXT;
            }
            self.write_desc(q, i, addr, len, flags, (i + 1) % size);
        }
        self.queues[q].next_desc = (head + bufs.len() as u16) % size;
        self.make_available(q, head);
        head
    }

    pub fn notify(&mut self, q: u32) {
        self.write(reg::QUEUE_NOTIFY, q);
    }

    /// The used elements added since the last call.
    pub fn take_used(&mut self, q: usize) -> Vec<(u32, u32)> {
        let dq = self.queues[q];
        let idx = self.mem.read_u16(dq.used + 2).unwrap();
        let mut out = Vec::new();
        let mut i = dq.last_used;
        while i != idx {
            let e = dq.used + 4 + 8 * u64::from(i % dq.size);
            out.push((self.mem.read_u32(e).unwrap(), self.mem.read_u32(e + 4).unwrap()));
            i = i.wrapping_add(1);
        }
        self.queues[q].last_used = idx;
        out
    }

    /// Reads InterruptStatus and acknowledges it.
    pub fn ack(&mut self) -> u32 {
        let s = self.read(reg::INTERRUPT_STATUS);
        self.write(reg::INTERRUPT_ACK, s);
        s
    }

    pub fn snapshot(&self) -> Vec<u8> {
        self.mem.regions()[0].as_slice().to_vec()
    }

    /// Asserts the device stopped with NEEDS_RESET, raised a config
    /// change interrupt, and that guest RAM equals `before`.
    pub fn assert_broken(&mut self, before: &[u8]) {
        assert!(self.dev.needs_reset(), "device should need a reset");
        assert_ne!(self.status() & status::DEVICE_NEEDS_RESET, 0);
        assert_ne!(self.read(reg::INTERRUPT_STATUS) & super::interrupt::CONFIG_CHANGE, 0);
        assert!(self.irq(), "interrupt line should be high");
        assert!(self.snapshot() == before, "guest memory changed");
    }

    pub fn bytes(&self, addr: u64, len: usize) -> Vec<u8> {
        self.mem.slice(addr, len).unwrap().to_vec()
    }
}

pub fn write_desc_at(mem: &mut GuestRam, at: u64, addr: u64, len: u32, flags: u16, next: u16) {
    mem.write_u64(at, addr).unwrap();
    mem.write_u32(at + 8, len).unwrap();
    mem.write_u16(at + 12, flags).unwrap();
    mem.write_u16(at + 14, next).unwrap();
}

/// Compares two RAM snapshots outside the given `(addr, len)` ranges.
pub fn assert_only_changed(before: &[u8], after: &[u8], allowed: &[(u64, u64)]) {
    for (i, (a, b)) in before.iter().zip(after).enumerate() {
        if a != b {
            let addr = RAM_BASE + i as u64;
            assert!(
                allowed.iter().any(|&(s, l)| addr >= s && addr < s + l),
                "guest byte at {addr:#x} changed outside the intended buffers"
            );
        }
    }
}
