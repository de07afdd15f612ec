//! How the CPU reaches memory and devices: the [`Bus`] trait the system
//! implements. The CPU crate knows nothing of RAM layout or devices.

use std::fmt;

/// A guest physical address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PhysAddr(pub u64);

impl fmt::Display for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// Who is asking: the accessing core (devices with banked registers, such
/// as the GIC CPU interface, need it) and what kind of access it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requester {
    /// Index of the accessing core within the machine.
    pub cpu: usize,
    /// Instruction fetch, data read/write, or a debugger/loader access.
    pub kind: AccessKind,
}

/// The kind of a bus access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessKind {
    /// Instruction fetch.
    Fetch,
    /// Data access by a load/store instruction.
    Data,
    /// Access on behalf of a debugger, loader or semihosting call: never
    /// has device side effects beyond what a data access would have.
    Debug,
}

/// Why a bus access failed; the CPU turns it into a synchronous external
/// abort for the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// Nothing is mapped at this address.
    #[error("no memory or device at {0}")]
    Unmapped(PhysAddr),
    /// A device refused the access (e.g. wrong size for its registers).
    #[error("device at {0} rejected a {1}-byte access")]
    DeviceError(PhysAddr, u8),
}

/// The system side of the CPU: physical memory and MMIO.
///
/// `size` is 1, 2, 4 or 8 and the access never crosses a naturally aligned
/// 8-byte boundary (the CPU splits anything else). Values are little-endian
/// and zero-extended.
pub trait Bus {
    /// Reads `size` bytes at `pa`.
    fn read(&mut self, req: Requester, pa: PhysAddr, size: u8) -> Result<u64, BusError>;
    /// Writes the low `size` bytes of `value` at `pa`.
    fn write(&mut self, req: Requester, pa: PhysAddr, size: u8, value: u64) -> Result<(), BusError>;
    /// Fetches one instruction word at a 4-byte aligned `pa`.
    fn fetch(&mut self, cpu: usize, pa: PhysAddr) -> Result<u32, BusError> {
        let req = Requester {
            cpu,
            kind: AccessKind::Fetch,
        };
        self.read(req, pa, 4).map(|v| v as u32)
    }

    /// Fetches instruction words from `pa` (4-byte aligned) on into `out`:
    /// returns how many of the first it filled, 0 when the word at `pa`
    /// cannot be fetched. A bus may fill fewer than asked for any reason
    /// (the caller fetches the rest from where it stopped); the default
    /// fetches one word, so nothing is read ahead from a device. RAM can
    /// be copied at once.
    fn fetch_run(&mut self, cpu: usize, pa: PhysAddr, out: &mut [u32]) -> usize {
        match (out.first_mut(), self.fetch(cpu, pa)) {
            (Some(w), Ok(v)) => {
                *w = v;
                1
            }
            _ => 0,
        }
    }

    /// A host pointer to the 4 KiB page of RAM at page-aligned `pa`, valid
    /// for reads and writes of the whole page for as long as the bus lives;
    /// `None` for anything else (MMIO, holes, partial pages). Engines use
    /// it for inline memory fast paths; the default offers none.
    fn ram_page(&mut self, pa: PhysAddr) -> Option<std::ptr::NonNull<u8>> {
        let _ = pa;
        None
    }

    /// Calls `f` with each physical page (address >> 12) of RAM written
    /// since the last call other than by CPU stores through this trait
    /// (device DMA, semihosting), or once with `None` when there were too
    /// many to list. Engines that cache translated code invalidate it.
    fn drain_external_writes(&mut self, f: &mut dyn FnMut(Option<u64>)) {
        let _ = f;
    }

    /// MRS of a GICv3 CPU-interface register (ICC_*) by core `cpu` at
    /// exception level `el`; `None` makes the access UNDEFINED. Only called
    /// when the core's `CpuConfig::gic_sysregs` is set, after the core's
    /// own EL checks.
    fn gic_sysreg_read(&mut self, cpu: usize, id: crate::sem::SysRegId, el: u8) -> Option<u64> {
        let _ = (cpu, id, el);
        None
    }

    /// MSR of a GICv3 CPU-interface register; `false` makes it UNDEFINED.
    fn gic_sysreg_write(&mut self, cpu: usize, id: crate::sem::SysRegId, el: u8, value: u64) -> bool {
        let _ = (cpu, id, el, value);
        false
    }
}
