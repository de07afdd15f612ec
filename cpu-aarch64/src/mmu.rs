//! VMSAv8-64 stage 1 translation: the translation-table walk for the EL1&0
//! regime (4, 16 and 64 KiB granules, TTBR0/TTBR1 split by T0SZ/T1SZ,
//! block and page descriptors, hierarchical APTable/XNTable, MAIR memory
//! types), the permission checks, and a small software TLB.
//!
//! The walker is a pure function of the registers it is given and a
//! descriptor reader, so it is tested without a CPU and can serve the
//! EL2/EL3 regimes and a stage 2 walk later.

use crate::bus::{AccessKind, Bus, PhysAddr, Requester};
use crate::exception::Fault;

/// Translation granule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granule {
    /// 4 KiB pages.
    K4,
    /// 16 KiB pages.
    K16,
    /// 64 KiB pages.
    K64,
}

impl Granule {
    /// log2 of the page size.
    pub fn bits(self) -> u32 {
        match self {
            Granule::K4 => 12,
            Granule::K16 => 14,
            Granule::K64 => 16,
        }
    }

    /// TCR_ELx.TG0 encoding.
    fn from_tg0(tg: u64) -> Option<Self> {
        match tg {
            0 => Some(Granule::K4),
            1 => Some(Granule::K64),
            2 => Some(Granule::K16),
            _ => None,
        }
    }

    /// TCR_EL1.TG1 encoding.
    fn from_tg1(tg: u64) -> Option<Self> {
        match tg {
            1 => Some(Granule::K16),
            2 => Some(Granule::K4),
            3 => Some(Granule::K64),
            _ => None,
        }
    }
}

/// What an access does, for the permission check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessType {
    /// Data read.
    Read,
    /// Data write.
    Write,
    /// Instruction fetch.
    Fetch,
}

/// Memory type from MAIR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemType {
    /// Device memory: unaligned accesses fault.
    Device,
    /// Normal memory.
    Normal,
}

impl MemType {
    /// The type a MAIR attribute byte describes (Device: upper nibble 0).
    pub fn from_attr(attr: u8) -> Self {
        if attr & 0xf0 == 0 {
            MemType::Device
        } else {
            MemType::Normal
        }
    }
}

/// Permissions of a translated page for EL0 and EL1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Perms {
    /// EL0 may read.
    pub el0_read: bool,
    /// EL0 may write.
    pub el0_write: bool,
    /// EL0 may execute.
    pub el0_exec: bool,
    /// EL1 may read.
    pub el1_read: bool,
    /// EL1 may write.
    pub el1_write: bool,
    /// EL1 may execute.
    pub el1_exec: bool,
}

/// A successful walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// Output address of the first byte of the page/block containing the VA.
    pub pa_base: u64,
    /// log2 of the page/block size.
    pub size_bits: u32,
    /// Memory type.
    pub mem: MemType,
    /// The MAIR attribute byte selected by AttrIndx.
    pub attr: u8,
    /// The descriptor's SH field (shareability of Normal memory).
    pub sh: u8,
    /// Permissions.
    pub perms: Perms,
    /// Not global: tagged with the ASID.
    pub ng: bool,
    /// Level of the final descriptor.
    pub level: u8,
}

impl Translation {
    /// The output address of `va`.
    pub fn pa(&self, va: u64) -> u64 {
        self.pa_base | (va & ((1u64 << self.size_bits) - 1))
    }
}

/// The registers of the EL1&0 regime the walk depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Regime {
    /// TCR_EL1.
    pub tcr: u64,
    /// TTBR0_EL1.
    pub ttbr0: u64,
    /// TTBR1_EL1.
    pub ttbr1: u64,
    /// MAIR_EL1.
    pub mair: u64,
    /// SCTLR_EL1 (WXN).
    pub sctlr: u64,
}

/// Physical address size (ID_AA64MMFR0_EL1.PARange = 48 bits).
pub const PA_BITS: u32 = 48;

/// Bits of an output address in a descriptor (47:12 with 48-bit PAs).
const OA_MASK: u64 = ((1 << PA_BITS) - 1) & !0xfff;

/// A descriptor read found nothing at its address (external abort).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkAbort;

/// Reads translation table descriptors (physical, 8-byte aligned).
pub trait DescReader {
    /// The descriptor at `pa`, or `Err` for an external abort.
    fn read_desc(&mut self, pa: u64) -> Result<u64, WalkAbort>;
}

/// Descriptor reads through a CPU's bus.
pub struct BusReader<'a, B: Bus + ?Sized> {
    /// The bus.
    pub bus: &'a mut B,
    /// The walking core.
    pub cpu: usize,
}

impl<B: Bus + ?Sized> DescReader for BusReader<'_, B> {
    fn read_desc(&mut self, pa: u64) -> Result<u64, WalkAbort> {
        let req = Requester {
            cpu: self.cpu,
            kind: AccessKind::Data,
        };
        self.bus.read(req, PhysAddr(pa), 8).map_err(|_| WalkAbort)
    }
}

/// Output address size of the regime: TCR_EL1.IPS, capped at the
/// implemented [`PA_BITS`] (larger and reserved values act as PA_BITS).
pub fn output_bits(tcr: u64) -> u32 {
    match tcr >> 32 & 7 {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        _ => PA_BITS,
    }
}

/// TCR_EL1.TBI0/TBI1: top-byte-ignore for data addresses in each half.
pub fn top_byte_ignored(tcr: u64, va: u64) -> bool {
    let bit = if va >> 55 & 1 == 1 { 38 } else { 37 };
    tcr >> bit & 1 == 1
}

/// Walks the EL1&0 stage 1 tables for `va`. `data` selects whether
/// top-byte-ignore applies (it does for data accesses only here).
pub fn walk(r: &Regime, va: u64, data: bool, mem: &mut dyn DescReader) -> Result<Translation, Fault> {
    let va = if data && top_byte_ignored(r.tcr, va) {
        crate::isa::sext(va, 56)
    } else {
        va
    };
    let upper = va >> 63 == 1;
    let (tsz, epd, granule, ttbr) = if upper {
        (
            r.tcr >> 16 & 0x3f,
            r.tcr >> 23 & 1,
            Granule::from_tg1(r.tcr >> 30 & 3),
            r.ttbr1,
        )
    } else {
        (
            r.tcr & 0x3f,
            r.tcr >> 7 & 1,
            Granule::from_tg0(r.tcr >> 14 & 3),
            r.ttbr0,
        )
    };
    // A reserved TGx value is treated as an IMPLEMENTATION DEFINED choice
    // of granule; 4 KiB is the common one.
    let granule = granule.unwrap_or(Granule::K4);
    // T0SZ/T1SZ outside 16..=39 are clamped as the architecture permits.
    let tsz = tsz.clamp(16, 39) as u32;
    let in_bits = 64 - tsz;
    // The VA must be all-zeros (TTBR0) or all-ones (TTBR1) above in_bits.
    let top = if in_bits == 64 { 0 } else { va >> in_bits };
    let expect = if upper { (1u64 << tsz) - 1 } else { 0 };
    if top != expect || epd == 1 {
        return Err(Fault::Translation(0));
    }
    let g = granule.bits();
    let stride = g - 3;
    // Levels needed for in_bits: ceil((in_bits - g) / stride).
    let levels = (in_bits - g).div_ceil(stride);
    let start_level = 4 - levels;
    // Table base: TTBR BADDR, aligned to the size of the first table.
    let first_bits = in_bits - g - (levels - 1) * stride; // index bits at the start level
    let table_align = (first_bits + 3).max(6);
    // Output addresses (the table base, next-level tables, pages and
    // blocks) beyond the IPS size are address size faults: level 0 for
    // the TTBR, else the level of the descriptor.
    let oa_bits = output_bits(r.tcr);
    let oa_too_big = |a: u64| (a & ((1u64 << PA_BITS) - 1)) >> oa_bits != 0;
    if oa_too_big(ttbr) {
        return Err(Fault::AddressSize(0));
    }
    let mut table = ttbr & ((1u64 << PA_BITS) - 1) & !((1u64 << table_align) - 1);
    // Hierarchical permission limits.
    let (mut ap_no_el0, mut ap_ro, mut uxn_t, mut pxn_t) = (false, false, false, false);
    let mut level = start_level;
    loop {
        let shift = g + (3 - level) * stride;
        let idx_bits = if level == start_level { first_bits } else { stride };
        let idx = (va >> shift) & ((1u64 << idx_bits) - 1);
        let desc = mem
            .read_desc(table + idx * 8)
            .map_err(|_| Fault::WalkExternal(level as u8))?;
        if desc & 1 == 0 {
            return Err(Fault::Translation(level as u8));
        }
        let is_table = desc & 2 != 0;
        if level == 3 {
            if !is_table {
                return Err(Fault::Translation(3)); // reserved at level 3
            }
        } else if is_table {
            let next = desc & OA_MASK & !((1u64 << g) - 1);
            if desc >> PA_BITS & 0xf != 0 || oa_too_big(next) {
                return Err(Fault::AddressSize(level as u8));
            }
            ap_no_el0 |= desc >> 61 & 1 == 1;
            ap_ro |= desc >> 62 & 1 == 1;
            uxn_t |= desc >> 60 & 1 == 1;
            pxn_t |= desc >> 59 & 1 == 1;
            table = next;
            level += 1;
            continue;
        } else {
            // Blocks: level 1 only with 4 KiB granules, level 2 always.
            let ok = level == 2 || (level == 1 && granule == Granule::K4);
            if !ok {
                return Err(Fault::Translation(level as u8));
            }
        }
        // A page or block descriptor.
        let size_bits = shift;
        let pa_base = desc & OA_MASK & !((1u64 << size_bits) - 1);
        if desc >> PA_BITS & 0xf != 0 || oa_too_big(pa_base) {
            return Err(Fault::AddressSize(level as u8));
        }
        if desc & (1 << 10) == 0 {
            return Err(Fault::AccessFlag(level as u8));
        }
        let attr_idx = (desc >> 2) & 7;
        let attr = (r.mair >> (8 * attr_idx)) as u8;
        let ap = (desc >> 6) & 3;
        let el0_access = ap & 1 == 1 && !ap_no_el0;
        let read_only = ap & 2 != 0 || ap_ro;
        let uxn = desc >> 54 & 1 == 1 || uxn_t;
        let pxn = desc >> 53 & 1 == 1 || pxn_t;
        let wxn = r.sctlr >> 19 & 1 == 1;
        let el0_write = el0_access && !read_only;
        let el1_write = !read_only;
        let perms = Perms {
            el0_read: el0_access,
            el0_write,
            el0_exec: el0_access && !uxn && !(wxn && el0_write),
            el1_read: true,
            el1_write,
            // EL1 never executes memory EL0 can write.
            el1_exec: !(pxn || el0_write || (wxn && el1_write)),
        };
        return Ok(Translation {
            pa_base,
            size_bits,
            mem: MemType::from_attr(attr),
            attr,
            sh: (desc >> 8 & 3) as u8,
            perms,
            ng: desc >> 11 & 1 == 1,
            level: level as u8,
        });
    }
}

/// Checks `access` by an `el` (0 or 1) access against `t`.
pub fn check_permission(t: &Translation, access: AccessType, el0: bool) -> Result<(), Fault> {
    let p = &t.perms;
    let ok = match (access, el0) {
        (AccessType::Read, true) => p.el0_read,
        (AccessType::Write, true) => p.el0_write,
        (AccessType::Fetch, true) => p.el0_exec,
        (AccessType::Read, false) => p.el1_read,
        (AccessType::Write, false) => p.el1_write,
        (AccessType::Fetch, false) => p.el1_exec,
    };
    if ok {
        Ok(())
    } else {
        Err(Fault::Permission(t.level))
    }
}

/// Entries in the software TLB (direct-mapped, a power of two).
const TLB_ENTRIES: usize = 256;

#[derive(Clone, Copy, Debug)]
struct TlbEntry {
    /// VA >> 12 of the 4 KiB page this entry answers for, or `u64::MAX`.
    vpage: u64,
    asid: u16,
    t: Translation,
}

/// A software TLB of stage 1 translations, at 4 KiB granularity whatever
/// the page/block size. Tagged with the ASID; global entries match any ASID.
#[derive(Clone, Debug)]
pub struct Tlb {
    entries: Box<[Option<TlbEntry>]>,
    /// Lookups that hit.
    pub hits: u64,
    /// Lookups that walked.
    pub misses: u64,
}

impl Default for Tlb {
    fn default() -> Self {
        Tlb {
            entries: vec![None; TLB_ENTRIES].into_boxed_slice(),
            hits: 0,
            misses: 0,
        }
    }
}

impl Tlb {
    fn slot(vpage: u64) -> usize {
        (vpage as usize) & (TLB_ENTRIES - 1)
    }

    /// The cached translation of `va` for `asid`, if any.
    pub fn lookup(&mut self, va: u64, asid: u16) -> Option<Translation> {
        let vpage = va >> 12;
        match self.entries[Self::slot(vpage)] {
            Some(e) if e.vpage == vpage && (!e.t.ng || e.asid == asid) => {
                self.hits += 1;
                Some(e.t)
            }
            _ => {
                self.misses += 1;
                None
            }
        }
    }

    /// Caches `t` for the page of `va`.
    pub fn insert(&mut self, va: u64, asid: u16, t: Translation) {
        let vpage = va >> 12;
        self.entries[Self::slot(vpage)] = Some(TlbEntry { vpage, asid, t });
    }

    /// Invalidates everything (TLBI VMALLE1 and, conservatively, every
    /// narrower TLBI: over-invalidation is always allowed).
    pub fn flush(&mut self) {
        self.entries.iter_mut().for_each(|e| *e = None);
    }
}

use crate::state::Cpu;
use crate::sysreg::{sctlr, SysReg};

impl Cpu {
    /// The EL1&0 regime registers.
    fn regime(&self) -> Regime {
        Regime {
            tcr: self.sys.get(SysReg::TCR_EL1),
            ttbr0: self.sys.get(SysReg::TTBR0_EL1),
            ttbr1: self.sys.get(SysReg::TTBR1_EL1),
            mair: self.sys.get(SysReg::MAIR_EL1),
            sctlr: self.sys.get(SysReg::SCTLR_EL1),
        }
    }

    /// The current ASID (8-bit ASIDs: TTBR0 or TTBR1 bits 55:48 per TCR.A1).
    fn asid(&self) -> u16 {
        let tcr = self.sys.get(SysReg::TCR_EL1);
        let ttbr = if tcr >> 22 & 1 == 1 {
            self.sys.get(SysReg::TTBR1_EL1)
        } else {
            self.sys.get(SysReg::TTBR0_EL1)
        };
        (ttbr >> 48 & 0xff) as u16
    }

    /// Translates `va` for `access` at the current EL (as EL0 when
    /// `unprivileged` at EL1, for LDTR/STTR and AT S1E0*): the physical
    /// address and memory type, or the fault. With the MMU off, addresses
    /// map flat: data accesses are Device-nGnRnE, fetches Normal.
    pub fn translate<B: Bus + ?Sized>(
        &mut self,
        bus: &mut B,
        va: u64,
        access: AccessType,
        unprivileged: bool,
    ) -> Result<(PhysAddr, MemType), Fault> {
        self.translate_attrs(bus, va, access, unprivileged)
            .map(|(pa, attr, _)| (pa, MemType::from_attr(attr)))
    }

    /// [`Cpu::translate`] with the MAIR attribute byte and the descriptor's
    /// SH field instead of the memory type. With the MMU off, data is
    /// Device-nGnRnE (0x00) and fetches Normal (0xff).
    fn translate_attrs<B: Bus + ?Sized>(
        &mut self,
        bus: &mut B,
        va: u64,
        access: AccessType,
        unprivileged: bool,
    ) -> Result<(PhysAddr, u8, u8), Fault> {
        // MMU off is the common case before an OS boots: decide it from
        // SCTLR alone, before gathering the rest of the regime.
        if self.sys.get(SysReg::SCTLR_EL1) & sctlr::M == 0 {
            if va >> PA_BITS != 0 {
                return Err(Fault::AddressSize(0));
            }
            let attr = if access == AccessType::Fetch { 0xff } else { 0x00 };
            return Ok((PhysAddr(va), attr, 0b10));
        }
        let r = self.regime();
        let data = access != AccessType::Fetch;
        let key = if data && top_byte_ignored(r.tcr, va) {
            crate::isa::sext(va, 56)
        } else {
            va
        };
        let asid = self.asid();
        let t = match self.tlb.lookup(key, asid) {
            Some(t) => t,
            None => {
                let t = walk(&r, key, data, &mut BusReader { bus, cpu: self.id })?;
                self.tlb.insert(key, asid, t);
                t
            }
        };
        let el0 = self.pstate.el == 0 || (unprivileged && self.pstate.el == 1);
        check_permission(&t, access, el0)?;
        Ok((PhysAddr(t.pa(key)), t.attr, t.sh))
    }

    /// AT S1E1{R,W} / S1E0{R,W}: the PAR_EL1 value for `va`.
    /// Bit 11 of PAR_EL1 is RES1 in both formats.
    pub fn address_translate<B: Bus + ?Sized>(&mut self, bus: &mut B, va: u64, access: AccessType, el0: bool) -> u64 {
        const RES1: u64 = 1 << 11;
        match self.translate_attrs(bus, va, access, el0) {
            Ok((pa, attr, sh)) => {
                // ATTR is the MAIR byte. SH reads 0b10 for Device and for
                // Inner and Outer Non-cacheable Normal memory (the Arm ARM's
                // PAREncodeShareability), else the descriptor's SH.
                let sh = if MemType::from_attr(attr) == MemType::Device || attr == 0x44 {
                    0b10
                } else {
                    sh
                };
                (u64::from(attr) << 56) | (pa.0 & 0x0000_ffff_ffff_f000) | (u64::from(sh) << 7) | RES1
            }
            // F = 1, FST = fault status, stage 1.
            Err(f) => 1 | (u64::from(f.fsc()) << 1) | RES1,
        }
    }
}

#[cfg(test)]
mod tests;
