//! The system bus: guest RAM plus memory-mapped devices, reached by the CPU
//! through [`cpu_aarch64::bus::Bus`].
//!
//! Lookup order on every access: RAM first (the fast path, no device
//! dispatch), then a binary search over the device windows, which are kept
//! sorted by base address and never overlap each other or RAM.

use cpu_aarch64::bus::{AccessKind, Bus, BusError, PhysAddr, Requester};

use crate::device::{AccessInfo, Device};
use crate::dt;
use crate::irq::SharedCpuInterfaceRegs;
use crate::ram::{GuestRam, RamError};

/// Errors from building the bus.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SystemBusError {
    /// A device window overlaps a RAM region.
    #[error(
        "device {device:?} window [{base:#x}, {end:#x}) overlaps RAM region {ram:?} [{ram_base:#x}, {ram_end:#x})"
    )]
    OverlapsRam {
        /// Device being added.
        device: String,
        /// Its window base.
        base: u64,
        /// Its window end (exclusive).
        end: u64,
        /// RAM region name.
        ram: String,
        /// RAM region base.
        ram_base: u64,
        /// RAM region end (exclusive).
        ram_end: u64,
    },
    /// A device window overlaps another device's window.
    #[error(
        "device {device:?} window [{base:#x}, {end:#x}) overlaps device {other:?} window [{other_base:#x}, {other_end:#x})"
    )]
    OverlapsDevice {
        /// Device being added.
        device: String,
        /// Its window base.
        base: u64,
        /// Its window end (exclusive).
        end: u64,
        /// The device already mapped there.
        other: String,
        /// That device's window base.
        other_base: u64,
        /// That device's window end (exclusive).
        other_end: u64,
    },
    /// A RAM region overlaps a device window.
    #[error(
        "RAM region {ram:?} [{base:#x}, {end:#x}) overlaps device {device:?} window [{dev_base:#x}, {dev_end:#x})"
    )]
    RamOverlapsDevice {
        /// RAM region being added.
        ram: String,
        /// Its base.
        base: u64,
        /// Its end (exclusive).
        end: u64,
        /// The device mapped there.
        device: String,
        /// The device window's base.
        dev_base: u64,
        /// The device window's end (exclusive).
        dev_end: u64,
    },
    /// A device window has size 0.
    #[error("device {device:?} window at {base:#x} has size 0")]
    ZeroSize {
        /// Device name.
        device: String,
        /// Window base.
        base: u64,
    },
    /// A device window runs past the end of the 64-bit address space.
    #[error("device {device:?} window at {base:#x} size {size:#x} overflows the 64-bit address space")]
    Overflow {
        /// Device name.
        device: String,
        /// Window base.
        base: u64,
        /// Window size.
        size: u64,
    },
    /// Two devices with the same name.
    #[error("a device named {0:?} is already on the bus")]
    DuplicateName(String),
    /// Adding a RAM region failed.
    #[error(transparent)]
    Ram(#[from] RamError),
}

/// One mapped device window.
#[derive(Clone, Copy, Debug)]
struct Window {
    base: u64,
    /// Exclusive; never overflows (checked when mapping).
    end: u64,
    /// Index into `SystemBus::devices`.
    device: usize,
    /// Index into that device's `regions()`.
    region: usize,
}

/// Guest RAM plus the devices, as one physical address space.
#[derive(Default)]
pub struct SystemBus {
    ram: GuestRam,
    devices: Vec<Box<dyn Device>>,
    /// Sorted by `base`, non-overlapping.
    windows: Vec<Window>,
    /// Where the CPU's GICv3 system-register accesses go.
    gic_sysregs: Option<SharedCpuInterfaceRegs>,
}

impl SystemBus {
    /// A bus over `ram` with no devices yet.
    pub fn new(ram: GuestRam) -> Self {
        SystemBus {
            ram,
            devices: Vec::new(),
            windows: Vec::new(),
            gic_sysregs: None,
        }
    }

    /// Routes the CPU's GICv3 system-register accesses (`ICC_*`, through
    /// [`Bus::gic_sysreg_read`]/[`Bus::gic_sysreg_write`]) to `regs`,
    /// normally the machine's [`crate::gic::Gic`]. Without one they are
    /// UNDEFINED.
    pub fn set_gic_sysregs(&mut self, regs: SharedCpuInterfaceRegs) {
        self.gic_sysregs = Some(regs);
    }

    /// The guest RAM.
    pub fn ram(&self) -> &GuestRam {
        &self.ram
    }

    /// The guest RAM, for loaders. Add regions with
    /// [`SystemBus::add_ram_region`] rather than through this, so they are
    /// checked against the device windows.
    pub fn ram_mut(&mut self) -> &mut GuestRam {
        &mut self.ram
    }

    /// Adds a RAM region, rejecting overlaps with RAM or any device window.
    pub fn add_ram_region(&mut self, name: &str, base: u64, size: u64) -> Result<(), SystemBusError> {
        if let Some(end) = base.checked_add(size) {
            if let Some(w) = self.windows.iter().find(|w| base < w.end && w.base < end) {
                return Err(SystemBusError::RamOverlapsDevice {
                    ram: name.into(),
                    base,
                    end,
                    device: self.devices[w.device].name().into(),
                    dev_base: w.base,
                    dev_end: w.end,
                });
            }
        }
        Ok(self.ram.add_region(name, base, size)?)
    }

    /// Maps `device` at the windows its [`Device::regions`] declares and
    /// returns its index. Fails, leaving the bus unchanged, if a window is
    /// empty, overflows, or overlaps RAM or another window (including one
    /// of the device's own), or if the name is taken.
    pub fn add_device(&mut self, device: Box<dyn Device>) -> Result<usize, SystemBusError> {
        let name = device.name().to_string();
        if self.devices.iter().any(|d| d.name() == name) {
            return Err(SystemBusError::DuplicateName(name));
        }
        let index = self.devices.len();
        let mut new_windows = Vec::new();
        for (region, r) in device.regions().into_iter().enumerate() {
            if r.size == 0 {
                return Err(SystemBusError::ZeroSize {
                    device: name,
                    base: r.base,
                });
            }
            let end = r.base.checked_add(r.size).ok_or_else(|| SystemBusError::Overflow {
                device: name.clone(),
                base: r.base,
                size: r.size,
            })?;
            if let Some(ram) = self.ram.regions().iter().find(|m| r.base < m.end() && m.base() < end) {
                return Err(SystemBusError::OverlapsRam {
                    device: name,
                    base: r.base,
                    end,
                    ram: ram.name().into(),
                    ram_base: ram.base(),
                    ram_end: ram.end(),
                });
            }
            let clash = self
                .windows
                .iter()
                .chain(&new_windows)
                .find(|w| r.base < w.end && w.base < end);
            if let Some(w) = clash {
                let other = if w.device == index {
                    name.clone()
                } else {
                    self.devices[w.device].name().into()
                };
                return Err(SystemBusError::OverlapsDevice {
                    device: name,
                    base: r.base,
                    end,
                    other,
                    other_base: w.base,
                    other_end: w.end,
                });
            }
            new_windows.push(Window {
                base: r.base,
                end,
                device: index,
                region,
            });
        }
        self.windows.extend(new_windows);
        self.windows.sort_by_key(|w| w.base);
        self.devices.push(device);
        Ok(index)
    }

    /// Gives every device a chance to handle host-side events (see
    /// [`Device::poll`]).
    pub fn poll_devices(&mut self) {
        for d in &mut self.devices {
            d.poll(&mut self.ram);
        }
    }

    /// All devices, in the order they were added.
    pub fn devices(&self) -> impl Iterator<Item = &dyn Device> {
        self.devices.iter().map(|d| d.as_ref())
    }

    /// The device called `name`.
    pub fn device(&self, name: &str) -> Option<&dyn Device> {
        self.devices().find(|d| d.name() == name)
    }

    /// The device called `name`, mutable.
    pub fn device_mut(&mut self, name: &str) -> Option<&mut (dyn Device + 'static)> {
        self.devices.iter_mut().find(|d| d.name() == name).map(|d| d.as_mut())
    }

    /// The device-tree nodes of all devices that have one, in the order the
    /// devices were added.
    pub fn dt_nodes(&self) -> Vec<dt::Node> {
        self.devices.iter().filter_map(|d| d.dt_node()).collect()
    }

    /// The window containing the whole access `[addr, addr + size)`.
    /// `Err(true)` if `addr` is in a window but the access runs past its end.
    #[inline]
    fn find_window(&self, addr: u64, size: u8) -> Result<Window, bool> {
        // First window with base > addr; the candidate is the one before it.
        let i = self.windows.partition_point(|w| w.base <= addr);
        let w = *self.windows.get(i.wrapping_sub(1)).ok_or(false)?;
        if addr >= w.end {
            return Err(false);
        }
        if u64::from(size) > w.end - addr {
            return Err(true);
        }
        Ok(w)
    }

    fn device_access(&mut self, req: Requester, pa: PhysAddr, size: u8) -> Result<(Window, AccessInfo), BusError> {
        let w = self.find_window(pa.0, size).map_err(|partial| {
            if partial {
                BusError::DeviceError(pa, size)
            } else {
                BusError::Unmapped(pa)
            }
        })?;
        let info = AccessInfo {
            cpu: req.cpu,
            region: w.region,
            offset: pa.0 - w.base,
            size,
            debug: req.kind == AccessKind::Debug,
        };
        Ok((w, info))
    }
}

/// Mask for the low `size` bytes.
#[inline]
fn size_mask(size: u8) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * u32::from(size))) - 1
    }
}

fn valid_size(size: u8) -> bool {
    matches!(size, 1 | 2 | 4 | 8)
}

impl Bus for SystemBus {
    fn ram_page(&mut self, pa: PhysAddr) -> Option<std::ptr::NonNull<u8>> {
        self.ram.page_ptr(pa.0)
    }

    fn drain_external_writes(&mut self, f: &mut dyn FnMut(Option<u64>)) {
        match self.ram.take_written() {
            Some(pages) => pages.into_iter().for_each(|p| f(Some(p))),
            None => f(None),
        }
    }

    fn fetch_run(&mut self, cpu: usize, pa: PhysAddr, out: &mut [u32]) -> usize {
        // All in RAM: one copy of what fetching word by word reads.
        // Anything else one word at a time (no device read ahead).
        if let Ok(bytes) = self.ram.slice(pa.0, 4 * out.len()) {
            for (w, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
            return out.len();
        }
        match (out.first_mut(), self.fetch(cpu, pa)) {
            (Some(w), Ok(v)) => {
                *w = v;
                1
            }
            _ => 0,
        }
    }

    #[inline]
    fn read(&mut self, req: Requester, pa: PhysAddr, size: u8) -> Result<u64, BusError> {
        if let Some(v) = self.ram.read_fast(pa.0, size) {
            return Ok(v);
        }
        if !valid_size(size) {
            return Err(BusError::DeviceError(pa, size));
        }
        let (w, info) = self.device_access(req, pa, size)?;
        let dev = &mut self.devices[w.device];
        dev.read(info)
            .map(|v| v & size_mask(size))
            .map_err(|_| BusError::DeviceError(pa, size))
    }

    #[inline]
    fn write(&mut self, req: Requester, pa: PhysAddr, size: u8, value: u64) -> Result<(), BusError> {
        if self.ram.write_fast(pa.0, size, value) {
            return Ok(());
        }
        if !valid_size(size) {
            return Err(BusError::DeviceError(pa, size));
        }
        let (w, info) = self.device_access(req, pa, size)?;
        let dev = &mut self.devices[w.device];
        dev.write_with_memory(info, value & size_mask(size), &mut self.ram)
            .map_err(|_| BusError::DeviceError(pa, size))
    }

    fn gic_sysreg_read(&mut self, cpu: usize, id: cpu_aarch64::sem::SysRegId, el: u8) -> Option<u64> {
        let regs = self.gic_sysregs.as_ref()?;
        regs.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .sysreg_read(cpu, id, el)
    }

    fn gic_sysreg_write(&mut self, cpu: usize, id: cpu_aarch64::sem::SysRegId, el: u8, value: u64) -> bool {
        let Some(regs) = self.gic_sysregs.as_ref() else {
            return false;
        };
        regs.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .sysreg_write(cpu, id, el, value)
    }
}

impl std::fmt::Debug for SystemBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let windows: Vec<_> = self
            .windows
            .iter()
            .map(|w| format!("{} [{:#x}, {:#x})", self.devices[w.device].name(), w.base, w.end))
            .collect();
        f.debug_struct("SystemBus")
            .field("ram", &self.ram)
            .field("windows", &windows)
            .field("gic_sysregs", &self.gic_sysregs.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{AccessRejected, MmioRegion};
    use std::sync::{Arc, Mutex};

    type Log = Arc<Mutex<Vec<(AccessInfo, Option<u64>)>>>;

    /// Records every access; reads return `0xA5A5_..._00 | offset`.
    struct Probe {
        name: String,
        regions: Vec<MmioRegion>,
        log: Log,
        reject_size: Option<u8>,
    }

    impl Probe {
        fn boxed(name: &str, regions: &[(u64, u64)]) -> (Box<Self>, Log) {
            let log = Arc::new(Mutex::new(Vec::new()));
            let p = Probe {
                name: name.into(),
                regions: regions.iter().map(|&(base, size)| MmioRegion { base, size }).collect(),
                log: log.clone(),
                reject_size: None,
            };
            (Box::new(p), log)
        }
    }

    impl Device for Probe {
        fn name(&self) -> &str {
            &self.name
        }
        fn regions(&self) -> Vec<MmioRegion> {
            self.regions.clone()
        }
        fn read(&mut self, info: AccessInfo) -> Result<u64, AccessRejected> {
            if Some(info.size) == self.reject_size {
                return Err(AccessRejected);
            }
            self.log.lock().unwrap().push((info, None));
            Ok(0xa5a5_a5a5_a5a5_a500 | info.offset)
        }
        fn write(&mut self, info: AccessInfo, value: u64) -> Result<(), AccessRejected> {
            if Some(info.size) == self.reject_size {
                return Err(AccessRejected);
            }
            self.log.lock().unwrap().push((info, Some(value)));
            Ok(())
        }
        fn dt_node(&self) -> Option<dt::Node> {
            Some(dt::Node::new(&self.name))
        }
    }

    fn data(cpu: usize) -> Requester {
        Requester {
            cpu,
            kind: AccessKind::Data,
        }
    }

    fn bus() -> SystemBus {
        SystemBus::new(GuestRam::with_region("dram", 0x4000_0000, 0x10000).unwrap())
    }

    #[test]
    fn ram_fast_path() {
        let mut b = bus();
        b.write(data(0), PhysAddr(0x4000_0010), 8, 0x1122_3344_5566_7788)
            .unwrap();
        assert_eq!(b.read(data(0), PhysAddr(0x4000_0014), 4).unwrap(), 0x1122_3344);
        assert_eq!(b.fetch(0, PhysAddr(0x4000_0010)).unwrap(), 0x5566_7788);
        assert_eq!(b.ram().read_u8(0x4000_0017).unwrap(), 0x11);
        b.ram_mut().write_bytes(0x4000_0020, &[1, 2]).unwrap();
        assert_eq!(b.read(data(0), PhysAddr(0x4000_0020), 2).unwrap(), 0x0201);
    }

    #[test]
    fn fetch_runs_copy_ram_and_read_nothing_ahead_from_devices() {
        let mut b = bus();
        for k in 0..8u64 {
            b.write(data(0), PhysAddr(0x4000_0100 + 4 * k), 4, 0xd503_2000 + k)
                .unwrap();
        }
        let mut out = [0u32; 8];
        assert_eq!(b.fetch_run(0, PhysAddr(0x4000_0100), &mut out), 8);
        for (k, &w) in out.iter().enumerate() {
            assert_eq!(w, b.fetch(0, PhysAddr(0x4000_0100 + 4 * k as u64)).unwrap());
        }
        // Past the end of RAM: word by word, up to the last one there.
        assert_eq!(b.fetch_run(0, PhysAddr(0x4000_fff8), &mut out), 1);
        assert_eq!(b.fetch_run(0, PhysAddr(0x4000_fffc), &mut out), 1);
        assert_eq!(b.fetch_run(0, PhysAddr(0x4001_0000), &mut out), 0);
        assert_eq!(b.fetch_run(0, PhysAddr(0x4000_0000), &mut []), 0);
        // A device: one read, the word asked for.
        let (p, log) = Probe::boxed("probe", &[(0x900_0000, 0x1000)]);
        b.add_device(p).unwrap();
        assert_eq!(b.fetch_run(0, PhysAddr(0x900_0010), &mut out), 1);
        assert_eq!(out[0], 0xa5a5_a510);
        assert_eq!(log.lock().unwrap().len(), 1);
    }

    #[test]
    fn unmapped_and_bad_size() {
        let mut b = bus();
        assert_eq!(b.read(data(0), PhysAddr(0), 4), Err(BusError::Unmapped(PhysAddr(0))));
        assert_eq!(
            b.write(data(0), PhysAddr(u64::MAX), 8, 0),
            Err(BusError::Unmapped(PhysAddr(u64::MAX)))
        );
        // Runs off the end of RAM into nothing.
        assert_eq!(
            b.read(data(0), PhysAddr(0x4000_fffc), 8),
            Err(BusError::Unmapped(PhysAddr(0x4000_fffc)))
        );
        assert_eq!(
            b.read(data(0), PhysAddr(0x4000_0000), 3),
            Err(BusError::DeviceError(PhysAddr(0x4000_0000), 3))
        );
    }

    #[test]
    fn device_dispatch_builds_access_info() {
        let mut b = bus();
        let (p, log) = Probe::boxed("probe", &[(0x900_0000, 0x1000), (0x800_0000, 0x100)]);
        assert_eq!(b.add_device(p).unwrap(), 0);
        let (q, _) = Probe::boxed("other", &[(0x900_1000, 0x1000)]);
        b.add_device(q).unwrap();

        assert_eq!(b.read(data(3), PhysAddr(0x900_0018), 4).unwrap(), 0xa5a5_a518);
        b.write(
            Requester {
                cpu: 1,
                kind: AccessKind::Debug,
            },
            PhysAddr(0x800_00f8),
            1,
            0x1ff,
        )
        .unwrap();
        let log = log.lock().unwrap();
        assert_eq!(
            log[0].0,
            AccessInfo {
                cpu: 3,
                region: 0,
                offset: 0x18,
                size: 4,
                debug: false
            }
        );
        assert_eq!(
            log[1],
            (
                AccessInfo {
                    cpu: 1,
                    region: 1,
                    offset: 0xf8,
                    size: 1,
                    debug: true
                },
                Some(0xff)
            )
        );

        // Gaps, and accesses hanging off the end of a window.
        assert_eq!(
            b.read(data(0), PhysAddr(0x800_0100), 4),
            Err(BusError::Unmapped(PhysAddr(0x800_0100)))
        );
        assert_eq!(
            b.read(data(0), PhysAddr(0x7ff_ffff), 1),
            Err(BusError::Unmapped(PhysAddr(0x7ff_ffff)))
        );
        assert_eq!(
            b.read(data(0), PhysAddr(0x900_2000), 1),
            Err(BusError::Unmapped(PhysAddr(0x900_2000)))
        );
        assert_eq!(
            b.read(data(0), PhysAddr(0x800_00fc), 8),
            Err(BusError::DeviceError(PhysAddr(0x800_00fc), 8))
        );
    }

    #[test]
    fn device_rejection_becomes_device_error() {
        let mut b = bus();
        let (mut p, _) = Probe::boxed("probe", &[(0x900_0000, 0x1000)]);
        p.reject_size = Some(8);
        b.add_device(p).unwrap();
        assert_eq!(
            b.read(data(0), PhysAddr(0x900_0000), 8),
            Err(BusError::DeviceError(PhysAddr(0x900_0000), 8))
        );
        assert_eq!(
            b.write(data(0), PhysAddr(0x900_0008), 8, 0),
            Err(BusError::DeviceError(PhysAddr(0x900_0008), 8))
        );
        assert!(b.read(data(0), PhysAddr(0x900_0000), 4).is_ok());
    }

    #[test]
    fn overlaps_are_rejected_with_both_names() {
        let mut b = bus();
        let (p, _) = Probe::boxed("uart0", &[(0x900_0000, 0x1000)]);
        b.add_device(p).unwrap();

        let (q, _) = Probe::boxed("rtc", &[(0x900_0800, 0x1000)]);
        assert_eq!(
            b.add_device(q).unwrap_err().to_string(),
            "device \"rtc\" window [0x9000800, 0x9001800) overlaps device \"uart0\" window [0x9000000, 0x9001000)"
        );
        let (q, _) = Probe::boxed("bad", &[(0x3fff_f000, 0x2000)]);
        assert_eq!(
            b.add_device(q).unwrap_err().to_string(),
            "device \"bad\" window [0x3ffff000, 0x40001000) overlaps RAM region \"dram\" [0x40000000, 0x40010000)"
        );
        let (q, _) = Probe::boxed("self", &[(0x100, 0x100), (0x180, 0x10)]);
        assert!(matches!(b.add_device(q), Err(SystemBusError::OverlapsDevice { other, .. }) if other == "self"));
        let (q, _) = Probe::boxed("zero", &[(0x100, 0)]);
        assert!(matches!(b.add_device(q), Err(SystemBusError::ZeroSize { .. })));
        let (q, _) = Probe::boxed("wrap", &[(u64::MAX, 2)]);
        assert!(matches!(b.add_device(q), Err(SystemBusError::Overflow { .. })));
        let (q, _) = Probe::boxed("uart0", &[(0x100, 0x10)]);
        assert_eq!(b.add_device(q), Err(SystemBusError::DuplicateName("uart0".into())));
        // Failed additions left nothing behind.
        assert_eq!(b.devices().count(), 1);
        assert_eq!(
            b.read(data(0), PhysAddr(0x100), 4),
            Err(BusError::Unmapped(PhysAddr(0x100)))
        );

        assert!(matches!(
            b.add_ram_region("flash", 0x800_0000, 0x200_0000),
            Err(SystemBusError::RamOverlapsDevice { device, .. }) if device == "uart0"
        ));
        b.add_ram_region("flash", 0, 0x800_0000).unwrap();
        assert!(matches!(
            b.add_ram_region("dup", 0, 0x10),
            Err(SystemBusError::Ram(RamError::Overlap { .. }))
        ));
    }

    #[test]
    fn many_windows_binary_search() {
        let mut b = bus();
        // Add in descending order to exercise sorting.
        for i in (0..32u64).rev() {
            let (p, _) = Probe::boxed(&format!("d{i}"), &[(0x1000_0000 + i * 0x2000, 0x1000)]);
            b.add_device(p).unwrap();
        }
        for i in 0..32u64 {
            let base = 0x1000_0000 + i * 0x2000;
            assert_eq!(b.read(data(0), PhysAddr(base + 0xffc), 4).unwrap(), 0xa5a5_a500 | 0xffc);
            assert_eq!(
                b.read(data(0), PhysAddr(base + 0x1000), 4),
                Err(BusError::Unmapped(PhysAddr(base + 0x1000)))
            );
        }
        assert_eq!(b.device("d7").unwrap().regions()[0].base, 0x1000_e000);
        assert!(b.device_mut("d31").is_some());
        assert!(b.device("nope").is_none());
        assert_eq!(b.dt_nodes().len(), 32);
    }
}
