//! VMSAv8-64 stage 1 translation for the three AArch64 translation
//! regimes (EL1&0, EL2 without E2H, EL3): the translation-table walk (4, 16
//! and 64 KiB granules, 39/42/48-bit VAs, TTBR0/TTBR1 split by T0SZ/T1SZ
//! in EL1&0, block and page descriptors, hierarchical APTable/XNTable/
//! PXNTable/NSTable, MAIR memory types), the permission checks (including
//! PAN), the tagged software TLB and TLBI ([`tlb`]) and the AT instructions.
//!
//! The walker is a pure function of the registers it is given and a
//! descriptor reader, so it is tested without a CPU.
//!
//! # Stage 2
//!
//! **Stage 2 (VTTBR_EL2/VTCR_EL2) is not modelled.** The walker is shaped
//! for it: every table address and the final output address of an EL1&0
//! walk go through [`DescReader::stage2`], which maps an intermediate
//! physical address to a physical address (identity today); a stage-2
//! walker implements that hook (and its faults) without touching [`walk`].
//! When a guest sets HCR_EL2.VM, Preboard logs one error and translates
//! with IPA = PA. TLBI IPAS2E1* are therefore no-ops (no stage 2 entry is
//! ever cached) and AT S12E* report the stage 1 result.
//!
//! # Not modelled
//!
//! - Hardware Access flag / dirty state update (ID_AA64MMFR1_EL1.HAFDBS
//!   is 0, so TCR_ELx.HA/HD are ignored): a clear AF is an Access flag
//!   fault.
//! - HCR_EL2.DC (default cacheable with stage 1 off) and SCTLR_ELx.C/I:
//!   with stage 1 off, data is Device-nGnRnE and fetches Normal.
//! - HCR_EL2.E2H (FEAT_VHE) and FEAT_TTL/range TLBIs are not implemented.
//! - Physical address spaces: the descriptor NS bit of a Secure regime is
//!   reported in PAR_EL1.NS but the bus has a single address space.

use crate::bus::{AccessKind, Bus, PhysAddr, Requester};
use crate::exception::Fault;

pub mod descriptor;
pub mod tlb;
pub use descriptor::{decode_descriptor, Descriptor};
pub use tlb::{Tlb, TlbEntry, Tlbi};

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

    /// log2 of what one descriptor at `level` (0-3) maps: its block or
    /// page size, and the shift of the address bits that index its table.
    pub fn level_shift(self, level: u32) -> u32 {
        self.bits() + (3 - level) * (self.bits() - 3)
    }

    /// Whether a block descriptor may appear at `level`: level 2 always,
    /// level 1 only with 4 KiB granules (no FEAT_LPA2).
    pub fn block_allowed(self, level: u32) -> bool {
        level == 2 || (level == 1 && self == Granule::K4)
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

/// The translation regimes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegimeKind {
    /// EL1&0: two VA ranges (TTBR0/TTBR1_EL1), ASIDs, two privilege levels.
    El10 = 0,
    /// EL2 (HCR_EL2.E2H = 0): TTBR0_EL2 only, one privilege level.
    El2 = 1,
    /// EL3: TTBR0_EL3 only, one privilege level, Secure.
    El3 = 2,
}

impl RegimeKind {
    /// The regime used by accesses from `el` (EL0 and EL1 use EL1&0:
    /// without E2H, EL0 with HCR_EL2.TGE = 1 still uses EL1&0, whose
    /// stage 1 is then disabled).
    #[inline]
    pub fn of_el(el: u8) -> Self {
        match el {
            0 | 1 => RegimeKind::El10,
            2 => RegimeKind::El2,
            _ => RegimeKind::El3,
        }
    }
}

/// Permissions of a translated page. In the EL1&0 regime `priv_*` are
/// EL1's and `user_*` EL0's; in the EL2 and EL3 regimes (one privilege
/// level) `priv_*` are that EL's and the `user_*` fields are false.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Perms {
    /// EL0 may read.
    pub el0_read: bool,
    /// EL0 may write.
    pub el0_write: bool,
    /// EL0 may execute.
    pub el0_exec: bool,
    /// The privileged level (EL1, or the EL of an EL2/EL3 regime) may read.
    pub el1_read: bool,
    /// The privileged level may write.
    pub el1_write: bool,
    /// The privileged level may execute.
    pub el1_exec: bool,
}

/// Permission bits of a [`TlbEntry`]: one bit per (privilege, access).
pub mod perm {
    /// Privileged read.
    pub const PRIV_R: u8 = 1 << 0;
    /// Privileged write.
    pub const PRIV_W: u8 = 1 << 1;
    /// Privileged execute.
    pub const PRIV_X: u8 = 1 << 2;
    /// EL0 read.
    pub const USER_R: u8 = 1 << 3;
    /// EL0 write.
    pub const USER_W: u8 = 1 << 4;
    /// EL0 execute.
    pub const USER_X: u8 = 1 << 5;
    /// EL0 has data access (AP[1] = 1 after APTable): privileged data
    /// accesses fault here while PSTATE.PAN is set.
    pub const USER: u8 = 1 << 6;
}

impl Perms {
    /// The [`perm`] bit mask.
    pub fn bits(&self) -> u8 {
        let b = |c: bool, bit: u8| if c { bit } else { 0 };
        b(self.el1_read, perm::PRIV_R)
            | b(self.el1_write, perm::PRIV_W)
            | b(self.el1_exec, perm::PRIV_X)
            | b(self.el0_read, perm::USER_R | perm::USER)
            | b(self.el0_write, perm::USER_W)
            | b(self.el0_exec, perm::USER_X)
    }
}

/// One descriptor read by a debugger's walk ([`Cpu::walk_debug`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkStep {
    /// Where the descriptor was read (physical).
    pub desc_pa: u64,
    /// Its value.
    pub desc: u64,
}

/// A debugger's stage 1 walk of one address, level by level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebugWalk {
    /// The regime of the core's current EL.
    pub kind: RegimeKind,
    /// Its registers and where the walk started (`None` when stage 1 is
    /// off): what [`DebugWalk::decoded`] needs to read the descriptors.
    pub regime: Option<(Regime, WalkStart)>,
    /// The descriptors read, from the start level on.
    pub steps: Vec<WalkStep>,
    /// The final translation (`None` when stage 1 is off or the walk faulted).
    pub translation: Option<Translation>,
    /// The physical address, or the fault (its level names the failing step).
    pub result: Result<PhysAddr, Fault>,
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
    /// Not global: tagged with the ASID (always false outside EL1&0).
    pub ng: bool,
    /// Level of the final descriptor.
    pub level: u8,
    /// The output address is in the Non-secure physical address space
    /// (always true for a Non-secure regime; NS/NSTable in Secure ones).
    pub ns: bool,
}

impl Translation {
    /// The output address of `va`.
    pub fn pa(&self, va: u64) -> u64 {
        self.pa_base | (va & ((1u64 << self.size_bits) - 1))
    }
}

/// The registers of one translation regime the walk depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Regime {
    /// Which regime; it selects the TCR layout and the permission model.
    pub kind: RegimeKind,
    /// TCR_ELx (TCR_EL2 and TCR_EL3 share a layout: T0SZ 5:0, TG0 15:14,
    /// PS 18:16, TBI 20; TCR_EL1 adds T1SZ/EPDx/TG1/A1/AS/TBI1 and has
    /// IPS at 34:32, TBI0/1 at 37/38).
    pub tcr: u64,
    /// TTBR0_ELx.
    pub ttbr0: u64,
    /// TTBR1_EL1 (ignored outside EL1&0).
    pub ttbr1: u64,
    /// MAIR_ELx.
    pub mair: u64,
    /// SCTLR_ELx (WXN).
    pub sctlr: u64,
    /// The regime is Secure (EL3, or EL1&0 with SCR_EL3.NS = 0): the
    /// descriptors' NS/NSTable bits are meaningful.
    pub secure: bool,
}

impl Regime {
    /// An EL1&0 regime in Non-secure state.
    pub fn el10(tcr: u64, ttbr0: u64, ttbr1: u64, mair: u64, sctlr: u64) -> Self {
        Regime {
            kind: RegimeKind::El10,
            tcr,
            ttbr0,
            ttbr1,
            mair,
            sctlr,
            secure: false,
        }
    }

    /// Output address size of the regime, capped at [`PA_BITS`].
    pub fn output_bits(&self) -> u32 {
        match self.kind {
            RegimeKind::El10 => output_bits(self.tcr),
            _ => ps_bits(self.tcr >> 16 & 7),
        }
    }

    /// Top-byte-ignore for a data access to `va`.
    #[inline]
    pub fn tbi(&self, va: u64) -> bool {
        tbi(self.kind, self.tcr, va)
    }
}

/// Top-byte-ignore of data addresses: TCR_EL1.TBI0/TBI1 by VA bit 55 in
/// EL1&0, TCR_EL2/EL3.TBI (bit 20) otherwise.
#[inline]
pub fn tbi(kind: RegimeKind, tcr: u64, va: u64) -> bool {
    let bit = match kind {
        RegimeKind::El10 => 37 + (va >> 55 & 1),
        _ => 20,
    };
    tcr >> bit & 1 == 1
}

/// Physical address size (ID_AA64MMFR0_EL1.PARange = 48 bits).
pub const PA_BITS: u32 = 48;

/// Bits of an output address in a descriptor (47:12 with 48-bit PAs).
const OA_MASK: u64 = ((1 << PA_BITS) - 1) & !0xfff;

/// A descriptor read found nothing at its address (external abort).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkAbort;

/// Why the walker asks for a stage 2 translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage2Use {
    /// A stage 1 translation-table read (a stage 2 fault here sets
    /// PAR_EL1.PTW / ESR ISS.S1PTW).
    TableRead,
    /// The output address of the stage 1 translation.
    Output,
}

/// Reads translation table descriptors (physical, 8-byte aligned) and
/// performs the stage 2 part of an EL1&0 translation.
pub trait DescReader {
    /// The descriptor at `pa`, or `Err` for an external abort.
    fn read_desc(&mut self, pa: u64) -> Result<u64, WalkAbort>;

    /// Stage 2 of the EL1&0 regime: the physical address of intermediate
    /// physical address `ipa`, and log2 of the size of the stage 2
    /// mapping containing it (the combined translation is no larger than
    /// either stage). The walker calls this for every stage 1 table
    /// address and for the output address of EL1&0 walks only.
    ///
    /// The default is the identity with one mapping covering the whole
    /// physical address range: **stage 2 is not modelled**. A stage 2
    /// walker (VTTBR_EL2/VTCR_EL2, selected when HCR_EL2.VM = 1) goes here
    /// and will need a stage 2 flavour of [`Fault`] (PAR_EL1.S, HPFAR).
    fn stage2(&mut self, ipa: u64, _use: Stage2Use) -> Result<(u64, u32), Fault> {
        Ok((ipa, PA_BITS))
    }
}

/// Descriptor reads through a CPU's bus (stage 2: identity).
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

/// Size in bits of a TCR_ELx.{I}PS encoding, capped at the implemented
/// [`PA_BITS`] (larger and reserved values act as PA_BITS).
pub fn ps_bits(ps: u64) -> u32 {
    match ps & 7 {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        _ => PA_BITS,
    }
}

/// Output address size of the EL1&0 regime: TCR_EL1.IPS (34:32), capped
/// at the implemented [`PA_BITS`].
pub fn output_bits(tcr: u64) -> u32 {
    ps_bits(tcr >> 32)
}

/// TCR_EL1.TBI0/TBI1: top-byte-ignore for data addresses in each half.
pub fn top_byte_ignored(tcr: u64, va: u64) -> bool {
    tbi(RegimeKind::El10, tcr, va)
}

/// Where a walk of one address starts: the TTBR half, its granule and
/// the level of the first table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkStart {
    /// The upper (TTBR1) range of the EL1&0 regime.
    pub upper: bool,
    /// Walks of this range are disabled (TCR_EL1.EPDx).
    pub epd: bool,
    /// The range's granule.
    pub granule: Granule,
    /// The TTBR of the range.
    pub ttbr: u64,
    /// VA bits translated (64 - TxSZ, TxSZ clamped to 16..=39).
    pub in_bits: u32,
    /// The level of the first table (0..=3).
    pub start_level: u32,
}

/// Where the walk of `va` (after top-byte-ignore) in regime `r` starts.
pub fn walk_start(r: &Regime, va: u64) -> WalkStart {
    let two_ranges = r.kind == RegimeKind::El10;
    let upper = two_ranges && va >> 63 == 1;
    let (tsz, epd, granule, ttbr) = if upper {
        (
            r.tcr >> 16 & 0x3f,
            r.tcr >> 23 & 1,
            Granule::from_tg1(r.tcr >> 30 & 3),
            r.ttbr1,
        )
    } else {
        // EPD0 exists in TCR_EL1 only (bit 7 is RES0 in TCR_EL2/EL3).
        let epd = if two_ranges { r.tcr >> 7 & 1 } else { 0 };
        (r.tcr & 0x3f, epd, Granule::from_tg0(r.tcr >> 14 & 3), r.ttbr0)
    };
    // A reserved TGx value is treated as an IMPLEMENTATION DEFINED choice
    // of granule; 4 KiB is the common one.
    let granule = granule.unwrap_or(Granule::K4);
    // T0SZ/T1SZ outside 16..=39 are clamped as the architecture permits.
    let in_bits = 64 - tsz.clamp(16, 39) as u32;
    let g = granule.bits();
    // Levels needed for in_bits: ceil((in_bits - g) / stride).
    let levels = (in_bits - g).div_ceil(g - 3);
    WalkStart {
        upper,
        epd: epd == 1,
        granule,
        ttbr,
        in_bits,
        start_level: 4 - levels,
    }
}

/// Walks the stage 1 tables of regime `r` for `va`. `data` selects whether
/// top-byte-ignore applies (it does for data accesses only here). Faults
/// carry the level of the descriptor that caused them (0 for a VA outside
/// the ranges or a TTBR beyond the output size).
pub fn walk(r: &Regime, va: u64, data: bool, mem: &mut dyn DescReader) -> Result<Translation, Fault> {
    let va = if data && r.tbi(va) {
        crate::isa::sext(va, 56)
    } else {
        va
    };
    let two_ranges = r.kind == RegimeKind::El10;
    let WalkStart {
        upper,
        epd,
        granule,
        ttbr,
        in_bits,
        start_level,
    } = walk_start(r, va);
    let tsz = 64 - in_bits;
    // The VA must be all-zeros (TTBR0) or all-ones (TTBR1) above in_bits;
    // regimes with one range have only the all-zeros one.
    let top = va >> in_bits;
    let expect = if upper { (1u64 << tsz) - 1 } else { 0 };
    if top != expect || epd {
        return Err(Fault::Translation(0));
    }
    let g = granule.bits();
    let stride = g - 3;
    let levels = 4 - start_level;
    // Table base: TTBR BADDR, aligned to the size of the first table.
    let first_bits = in_bits - g - (levels - 1) * stride; // index bits at the start level
    let table_align = (first_bits + 3).max(6);
    // Output addresses (the table base, next-level tables, pages and
    // blocks) beyond the {I}PS size are address size faults: level 0 for
    // the TTBR, else the level of the descriptor.
    let oa_bits = r.output_bits();
    let oa_too_big = |a: u64| (a & ((1u64 << PA_BITS) - 1)) >> oa_bits != 0;
    if oa_too_big(ttbr) {
        return Err(Fault::AddressSize(0));
    }
    // Stage 2 applies to the EL1&0 regime only.
    let s2 = two_ranges;
    let mut table = ttbr & ((1u64 << PA_BITS) - 1) & !((1u64 << table_align) - 1);
    // Hierarchical limits. APTable[0] (no EL0) and PXNTable exist only in
    // the two-privilege-level regime; NSTable only matters when Secure.
    let (mut ap_no_el0, mut ap_ro, mut uxn_t, mut pxn_t, mut ns_t) = (false, false, false, false, false);
    let mut level = start_level;
    loop {
        let shift = granule.level_shift(level);
        let idx_bits = if level == start_level { first_bits } else { stride };
        let idx = (va >> shift) & ((1u64 << idx_bits) - 1);
        let mut addr = table + idx * 8;
        if s2 {
            addr = mem.stage2(addr, Stage2Use::TableRead)?.0;
        }
        let desc = mem.read_desc(addr).map_err(|_| Fault::WalkExternal(level as u8))?;
        if desc & 1 == 0 {
            return Err(Fault::Translation(level as u8));
        }
        let is_table = desc & 2 != 0;
        if level == 3 {
            if !is_table {
                return Err(Fault::Translation(3)); // reserved at level 3
            }
        } else if is_table {
            // Bits 51:48 are not address bits without FEAT_LPA/LPA2: in
            // table descriptors bit 51 is ignored, in page and block
            // descriptors bit 51 is DBM and bit 50 GP (BTI), which Linux
            // sets. Like QEMU, only bits 47:12 form the address.
            let next = desc & OA_MASK & !((1u64 << g) - 1);
            if oa_too_big(next) {
                return Err(Fault::AddressSize(level as u8));
            }
            ap_no_el0 |= two_ranges && desc >> 61 & 1 == 1;
            ap_ro |= desc >> 62 & 1 == 1;
            uxn_t |= desc >> 60 & 1 == 1;
            pxn_t |= two_ranges && desc >> 59 & 1 == 1;
            ns_t |= desc >> 63 & 1 == 1;
            table = next;
            level += 1;
            continue;
        } else {
            if !granule.block_allowed(level) {
                return Err(Fault::Translation(level as u8));
            }
        }
        // A page or block descriptor.
        let mut size_bits = shift;
        let mut pa_base = desc & OA_MASK & !((1u64 << size_bits) - 1);
        if oa_too_big(pa_base) {
            return Err(Fault::AddressSize(level as u8));
        }
        if desc & (1 << 10) == 0 {
            return Err(Fault::AccessFlag(level as u8));
        }
        if s2 {
            // The combined translation covers the smaller of the two
            // mappings around this VA.
            let ipa = pa_base | (va & ((1u64 << size_bits) - 1));
            let (pa, s2_bits) = mem.stage2(ipa, Stage2Use::Output)?;
            size_bits = size_bits.min(s2_bits);
            pa_base = pa & !((1u64 << size_bits) - 1);
        }
        let attr_idx = (desc >> 2) & 7;
        let attr = (r.mair >> (8 * attr_idx)) as u8;
        let ap = (desc >> 6) & 3;
        let read_only = ap & 2 != 0 || ap_ro;
        let wxn = r.sctlr >> 19 & 1 == 1;
        let perms = if two_ranges {
            let el0_access = ap & 1 == 1 && !ap_no_el0;
            let uxn = desc >> 54 & 1 == 1 || uxn_t;
            let pxn = desc >> 53 & 1 == 1 || pxn_t;
            let el0_write = el0_access && !read_only;
            let el1_write = !read_only;
            Perms {
                el0_read: el0_access,
                el0_write,
                el0_exec: el0_access && !uxn && !(wxn && el0_write),
                el1_read: true,
                el1_write,
                // EL1 never executes memory EL0 can write.
                el1_exec: !(pxn || el0_write || (wxn && el1_write)),
            }
        } else {
            // One privilege level: AP[2] selects read-only, AP[1] is
            // ignored (RES1), bit 54 is XN (with XNTable), PXN is RES0.
            let xn = desc >> 54 & 1 == 1 || uxn_t;
            let writable = !read_only;
            Perms {
                el1_read: true,
                el1_write: writable,
                el1_exec: !(xn || (wxn && writable)),
                ..Perms::default()
            }
        };
        return Ok(Translation {
            pa_base,
            size_bits,
            mem: MemType::from_attr(attr),
            attr,
            sh: (desc >> 8 & 3) as u8,
            perms,
            // nG exists only in the regime with ASIDs.
            ng: two_ranges && desc >> 11 & 1 == 1,
            level: level as u8,
            ns: !r.secure || ns_t || desc >> 5 & 1 == 1,
        });
    }
}

/// Checks `access` by an `el0` (EL0, or unprivileged) or privileged access
/// against `t`, without PAN.
pub fn check_permission(t: &Translation, access: AccessType, el0: bool) -> Result<(), Fault> {
    check_bits(t.perms.bits(), t.level, access, el0, false)
}

/// The permission check on [`perm`] bits: `pan` is whether PSTATE.PAN
/// applies to this access (a privileged data access from EL1, not
/// LDTR/STTR, not AT S1E1R/W).
#[inline]
pub fn check_bits(bits: u8, level: u8, access: AccessType, el0: bool, pan: bool) -> Result<(), Fault> {
    let need = match access {
        AccessType::Read => perm::PRIV_R,
        AccessType::Write => perm::PRIV_W,
        AccessType::Fetch => perm::PRIV_X,
    } << if el0 { 3 } else { 0 };
    let pan_fault = pan && !el0 && access != AccessType::Fetch && bits & perm::USER != 0;
    if bits & need == 0 || pan_fault {
        Err(Fault::Permission(level))
    } else {
        Ok(())
    }
}

use crate::state::Cpu;
use crate::sysreg::{sctlr, SysReg};

/// HCR_EL2 bits the MMU reads.
mod hcr {
    /// Stage 2 enable.
    pub const VM: u64 = 1 << 0;
    /// Force broadcast of EL1 TLB maintenance.
    pub const FB: u64 = 1 << 9;
    /// Trap general exceptions (EL1&0 stage 1 off when E2H = 0).
    pub const TGE: u64 = 1 << 27;
}

/// The translation context of an access, computed from the registers on
/// every access (the cheap part; the [`Regime`] is gathered on TLB misses
/// only).
#[derive(Clone, Copy, Debug)]
struct Context {
    kind: RegimeKind,
    /// TCR_ELx.
    tcr: u64,
    /// The TLB context tag ([`tlb::ctx`]).
    tag: u64,
}

/// What a successful translation yields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Resolved {
    pa: u64,
    attr: u8,
    sh: u8,
    ns: bool,
}

/// How an access is checked: against which regime, as EL0 or privileged,
/// and whether PAN applies.
#[derive(Clone, Copy, Debug)]
struct Check {
    kind: RegimeKind,
    el0: bool,
    pan: bool,
}

/// The AT (address translate) instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    /// AT S1E1R: EL1&0 stage 1, EL1 read (PAN not applied).
    S1E1R,
    /// AT S1E1W.
    S1E1W,
    /// AT S1E0R: EL1&0 stage 1, EL0 read.
    S1E0R,
    /// AT S1E0W.
    S1E0W,
    /// AT S1E1RP: as S1E1R, honouring PSTATE.PAN (FEAT_PAN2).
    S1E1RP,
    /// AT S1E1WP.
    S1E1WP,
    /// AT S1E2R: EL2 regime read.
    S1E2R,
    /// AT S1E2W.
    S1E2W,
    /// AT S12E1R: EL1&0 stages 1 and 2, EL1 read (stage 1 only here).
    S12E1R,
    /// AT S12E1W.
    S12E1W,
    /// AT S12E0R.
    S12E0R,
    /// AT S12E0W.
    S12E0W,
    /// AT S1E3R: EL3 regime read.
    S1E3R,
    /// AT S1E3W.
    S1E3W,
}

impl At {
    /// The AT instruction `SYS #op1, C7, C<crm>, #op2`, if any.
    pub fn decode(op1: u32, crm: u32, op2: u32) -> Option<At> {
        Some(match (op1, crm, op2) {
            (0, 8, 0) => At::S1E1R,
            (0, 8, 1) => At::S1E1W,
            (0, 8, 2) => At::S1E0R,
            (0, 8, 3) => At::S1E0W,
            (0, 9, 0) => At::S1E1RP,
            (0, 9, 1) => At::S1E1WP,
            (4, 8, 0) => At::S1E2R,
            (4, 8, 1) => At::S1E2W,
            (4, 8, 4) => At::S12E1R,
            (4, 8, 5) => At::S12E1W,
            (4, 8, 6) => At::S12E0R,
            (4, 8, 7) => At::S12E0W,
            (6, 8, 0) => At::S1E3R,
            (6, 8, 1) => At::S1E3W,
            _ => return None,
        })
    }

    /// Whether the instruction writes (else reads).
    pub fn write(self) -> bool {
        matches!(
            self,
            At::S1E1W | At::S1E0W | At::S1E1WP | At::S1E2W | At::S12E1W | At::S12E0W | At::S1E3W
        )
    }

    /// Whether executing it at `el` is allowed (else UNDEFINED): the
    /// op1 = 4 forms need EL2 or EL3 (S1E2* an implemented EL2), the
    /// op1 = 6 forms EL3, the rest EL1 or higher.
    pub fn permitted(self, el: u8, has_el2: bool) -> bool {
        match self {
            At::S1E2R | At::S1E2W => el >= 2 && has_el2,
            At::S12E1R | At::S12E1W | At::S12E0R | At::S12E0W => el >= 2,
            At::S1E3R | At::S1E3W => el == 3,
            _ => el >= 1,
        }
    }
}

/// Logs, once per process, that a guest enabled stage 2.
#[cold]
fn stage2_not_modelled() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::error!(
            "guest set HCR_EL2.VM: stage 2 translation is not modelled, \
             intermediate physical addresses are used as physical addresses"
        );
    });
}

impl Cpu {
    /// EL1&0 runs in Secure state (EL3 implemented and SCR_EL3.NS = 0).
    #[inline]
    fn el10_secure(&self) -> bool {
        self.config.has_el3 && self.sys.get(SysReg::SCR_EL3) & 1 == 0
    }

    /// The translation context of regime `kind` now, or `None` when its
    /// stage 1 is off (decided from SCTLR_ELx.M first: the common case
    /// before an OS boots).
    #[inline]
    fn context(&self, kind: RegimeKind) -> Option<Context> {
        let (sctlr, tcr) = match kind {
            RegimeKind::El10 => (SysReg::SCTLR_EL1, SysReg::TCR_EL1),
            RegimeKind::El2 => (SysReg::SCTLR_EL2, SysReg::TCR_EL2),
            RegimeKind::El3 => (SysReg::SCTLR_EL3, SysReg::TCR_EL3),
        };
        if self.sys.get(sctlr) & sctlr::M == 0 {
            return None;
        }
        let tcr = self.sys.get(tcr);
        if kind != RegimeKind::El10 {
            return Some(Context {
                kind,
                tcr,
                tag: tlb::ctx::tag(kind, 0, 0),
            });
        }
        let space = if self.config.has_el2 || self.config.has_el3 {
            self.el10_space()?
        } else {
            0
        };
        // TCR_EL1.A1 picks the TTBR holding the ASID, AS its width.
        let ttbr = if tcr >> 22 & 1 == 1 {
            self.sys.get(SysReg::TTBR1_EL1)
        } else {
            self.sys.get(SysReg::TTBR0_EL1)
        };
        let asid_mask = if tcr >> 36 & 1 == 1 { 0xffff } else { 0xff };
        Some(Context {
            kind,
            tcr,
            tag: tlb::ctx::tag(kind, space, (ttbr >> 48 & asid_mask) as u16),
        })
    }

    /// The translation space of EL1&0 with EL2 or EL3 implemented: the
    /// VMID (VTTBR_EL2.VMID, 8 bits) in Non-secure state with EL2,
    /// [`tlb::ctx::SECURE`] in Secure state, or `None` when HCR_EL2.TGE
    /// (with E2H = 0) turns EL1&0 stage 1 off.
    fn el10_space(&self) -> Option<u64> {
        if self.el10_secure() {
            return Some(tlb::ctx::SECURE);
        }
        if !self.config.has_el2 {
            return Some(0);
        }
        let hcr = self.sys.get(SysReg::HCR_EL2);
        if hcr & hcr::TGE != 0 {
            return None;
        }
        if hcr & hcr::VM != 0 {
            stage2_not_modelled();
        }
        Some(self.sys.get(SysReg::VTTBR_EL2) >> 48 & 0xff)
    }

    /// The registers of regime `kind`, for a walk.
    fn regime_regs(&self, kind: RegimeKind) -> Regime {
        let (tcr, ttbr0, ttbr1, mair, sctlr, secure) = match kind {
            RegimeKind::El10 => (
                SysReg::TCR_EL1,
                SysReg::TTBR0_EL1,
                SysReg::TTBR1_EL1,
                SysReg::MAIR_EL1,
                SysReg::SCTLR_EL1,
                self.el10_secure(),
            ),
            RegimeKind::El2 => (
                SysReg::TCR_EL2,
                SysReg::TTBR0_EL2,
                SysReg::TTBR0_EL2,
                SysReg::MAIR_EL2,
                SysReg::SCTLR_EL2,
                false,
            ),
            RegimeKind::El3 => (
                SysReg::TCR_EL3,
                SysReg::TTBR0_EL3,
                SysReg::TTBR0_EL3,
                SysReg::MAIR_EL3,
                SysReg::SCTLR_EL3,
                true,
            ),
        };
        Regime {
            kind,
            tcr: self.sys.get(tcr),
            ttbr0: self.sys.get(ttbr0),
            ttbr1: self.sys.get(ttbr1),
            mair: self.sys.get(mair),
            sctlr: self.sys.get(sctlr),
            secure,
        }
    }

    /// Translates `va` for `access` at the current EL (as EL0 when
    /// `unprivileged` at EL1, for LDTR/STTR): the physical address and
    /// memory type, or the fault. The regime follows PSTATE.EL; PAN
    /// applies to privileged EL1 data accesses. With stage 1 off, addresses
    /// map flat: data accesses are Device-nGnRnE, fetches Normal.
    #[inline]
    pub fn translate<B: Bus + ?Sized>(
        &mut self,
        bus: &mut B,
        va: u64,
        access: AccessType,
        unprivileged: bool,
    ) -> Result<(PhysAddr, MemType), Fault> {
        // The hot path, kept small enough to inline into the interpreter:
        // stage 1 off, or a TLB hit and one permission bit test. Misses
        // walk out of line.
        let el = self.pstate.el;
        let Some(ctx) = self.context(RegimeKind::of_el(el)) else {
            if va >> PA_BITS != 0 {
                return Err(Fault::AddressSize(0));
            }
            let mem = if access == AccessType::Fetch {
                MemType::Normal
            } else {
                MemType::Device
            };
            return Ok((PhysAddr(va), mem));
        };
        let el0 = el == 0 || (unprivileged && el == 1);
        let pan = self.pstate.pan && el == 1 && !el0;
        let data = access != AccessType::Fetch;
        let key = if data && tbi(ctx.kind, ctx.tcr, va) {
            crate::isa::sext(va, 56)
        } else {
            va
        };
        let e = match self.tlb.lookup(key, ctx.tag) {
            Some(e) => e,
            None => self.fill(bus, key, data, ctx)?,
        };
        check_bits(e.perms, e.level, access, el0, pan)?;
        Ok((PhysAddr(e.pa_page | (key & 0xfff)), MemType::from_attr(e.attr)))
    }

    /// The translation of `va` in a regime, checked as `check` says (for
    /// AT; [`Cpu::translate`] has its own inlined copy of this path).
    fn translate_in<B: Bus + ?Sized>(
        &mut self,
        bus: &mut B,
        va: u64,
        access: AccessType,
        check: Check,
    ) -> Result<Resolved, Fault> {
        let Some(ctx) = self.context(check.kind) else {
            return self.flat(va, access, check.kind);
        };
        let data = access != AccessType::Fetch;
        let key = if data && tbi(ctx.kind, ctx.tcr, va) {
            crate::isa::sext(va, 56)
        } else {
            va
        };
        let e = match self.tlb.lookup(key, ctx.tag) {
            Some(e) => e,
            None => self.fill(bus, key, data, ctx)?,
        };
        check_bits(e.perms, e.level, access, check.el0, check.pan)?;
        Ok(Resolved {
            pa: e.pa_page | (key & 0xfff),
            attr: e.attr,
            sh: e.sh,
            ns: e.ns,
        })
    }

    /// Stage 1 off: the flat mapping (checked against the physical
    /// address range); data is Device-nGnRnE, fetches Normal.
    #[inline]
    fn flat(&self, va: u64, access: AccessType, kind: RegimeKind) -> Result<Resolved, Fault> {
        if va >> PA_BITS != 0 {
            return Err(Fault::AddressSize(0));
        }
        let attr = if access == AccessType::Fetch { 0xff } else { 0x00 };
        let secure = match kind {
            RegimeKind::El10 => self.el10_secure(),
            RegimeKind::El2 => false,
            RegimeKind::El3 => true,
        };
        Ok(Resolved {
            pa: va,
            attr,
            sh: 0b10,
            ns: !secure,
        })
    }

    /// A debugger's translation of `va` in the regime of the current EL:
    /// walks the tables with debug reads, without consulting or filling
    /// the TLB and without permission checks, so nothing the guest can
    /// observe changes. A fault (unmapped address) is returned, never
    /// taken.
    pub fn translate_debug<B: Bus + ?Sized>(&self, bus: &mut B, va: u64) -> Result<PhysAddr, Fault> {
        let kind = RegimeKind::of_el(self.pstate.el);
        let Some(ctx) = self.context(kind) else {
            return self.flat(va, AccessType::Read, kind).map(|r| PhysAddr(r.pa));
        };
        let key = if tbi(ctx.kind, ctx.tcr, va) {
            crate::isa::sext(va, 56)
        } else {
            va
        };
        struct DebugReader<'a, B: Bus + ?Sized>(&'a mut B, usize);
        impl<B: Bus + ?Sized> DescReader for DebugReader<'_, B> {
            fn read_desc(&mut self, pa: u64) -> Result<u64, WalkAbort> {
                let req = Requester {
                    cpu: self.1,
                    kind: AccessKind::Debug,
                };
                self.0.read(req, PhysAddr(pa), 8).map_err(|_| WalkAbort)
            }
        }
        let r = self.regime_regs(ctx.kind);
        let t = walk(&r, key, true, &mut DebugReader(bus, self.id))?;
        Ok(PhysAddr(t.pa(key)))
    }

    /// [`Cpu::translate_debug`] with every descriptor the walk read, in
    /// order, for a debugger's page-table view. `None` as the translation
    /// means stage 1 is off (the flat mapping; `result` is still given).
    pub fn walk_debug<B: Bus + ?Sized>(&self, bus: &mut B, va: u64) -> DebugWalk {
        let kind = RegimeKind::of_el(self.pstate.el);
        let Some(ctx) = self.context(kind) else {
            return DebugWalk {
                kind,
                regime: None,
                steps: Vec::new(),
                translation: None,
                result: self.flat(va, AccessType::Read, kind).map(|r| PhysAddr(r.pa)),
            };
        };
        let key = if tbi(ctx.kind, ctx.tcr, va) {
            crate::isa::sext(va, 56)
        } else {
            va
        };
        struct Recorder<'a, B: Bus + ?Sized>(&'a mut B, usize, Vec<WalkStep>);
        impl<B: Bus + ?Sized> DescReader for Recorder<'_, B> {
            fn read_desc(&mut self, pa: u64) -> Result<u64, WalkAbort> {
                let req = Requester {
                    cpu: self.1,
                    kind: AccessKind::Debug,
                };
                let desc = self.0.read(req, PhysAddr(pa), 8).map_err(|_| WalkAbort)?;
                self.2.push(WalkStep { desc_pa: pa, desc });
                Ok(desc)
            }
        }
        let r = self.regime_regs(ctx.kind);
        let mut rec = Recorder(bus, self.id, Vec::new());
        let t = walk(&r, key, true, &mut rec);
        DebugWalk {
            kind: ctx.kind,
            regime: Some((r, walk_start(&r, key))),
            steps: rec.2,
            translation: t.ok(),
            result: t.map(|t| PhysAddr(t.pa(key))),
        }
    }

    /// A TLB miss: walks and caches the translation.
    #[cold]
    #[inline(never)]
    fn fill<B: Bus + ?Sized>(&mut self, bus: &mut B, key: u64, data: bool, ctx: Context) -> Result<TlbEntry, Fault> {
        let r = self.regime_regs(ctx.kind);
        let t = walk(&r, key, data, &mut BusReader { bus, cpu: self.id })?;
        Ok(self.tlb.insert(key, ctx.tag, &t))
    }

    /// AT S1E1{R,W} / S1E0{R,W}: the PAR_EL1 value for `va` (kept for
    /// callers predating [`Cpu::at`]; `el0` selects S1E0*).
    pub fn address_translate<B: Bus + ?Sized>(&mut self, bus: &mut B, va: u64, access: AccessType, el0: bool) -> u64 {
        let op = match (el0, access == AccessType::Write) {
            (false, false) => At::S1E1R,
            (false, true) => At::S1E1W,
            (true, false) => At::S1E0R,
            (true, true) => At::S1E0W,
        };
        self.at(bus, op, va)
    }

    /// Executes AT `op` for `va` and returns the PAR_EL1 value (the caller
    /// checks [`At::permitted`] and writes PAR_EL1).
    ///
    /// Success: F = 0, SH (8:7), NS (9), bit 11 RES1, PA (47:12), ATTR
    /// (63:56, the MAIR byte). Fault: F = 1, FST (6:1), PTW (8) and S (9)
    /// both 0 (stage 1 faults only, no stage 2), bit 11 RES1.
    pub fn at<B: Bus + ?Sized>(&mut self, bus: &mut B, op: At, va: u64) -> u64 {
        const RES1: u64 = 1 << 11;
        let (kind, el0, pan) = match op {
            At::S1E1R | At::S1E1W | At::S12E1R | At::S12E1W => (RegimeKind::El10, false, false),
            At::S1E1RP | At::S1E1WP => (RegimeKind::El10, false, self.pstate.pan),
            At::S1E0R | At::S1E0W | At::S12E0R | At::S12E0W => (RegimeKind::El10, true, false),
            At::S1E2R | At::S1E2W => (RegimeKind::El2, false, false),
            At::S1E3R | At::S1E3W => (RegimeKind::El3, false, false),
        };
        let access = if op.write() {
            AccessType::Write
        } else {
            AccessType::Read
        };
        match self.translate_in(bus, va, access, Check { kind, el0, pan }) {
            Ok(r) => {
                // ATTR is the MAIR byte. SH reads 0b10 for Device and for
                // Inner and Outer Non-cacheable Normal memory (the Arm ARM's
                // PAREncodeShareability), else the descriptor's SH. NS is
                // the output address space (UNKNOWN for Non-secure
                // regimes; 1 here).
                let sh = if MemType::from_attr(r.attr) == MemType::Device || r.attr == 0x44 {
                    0b10
                } else {
                    r.sh
                };
                (u64::from(r.attr) << 56)
                    | (r.pa & 0x0000_ffff_ffff_f000)
                    | (u64::from(r.ns) << 9)
                    | (u64::from(sh) << 7)
                    | RES1
            }
            // F = 1, FST = fault status, PTW = 0, S = 0 (stage 1).
            Err(f) => 1 | (u64::from(f.fsc()) << 1) | RES1,
        }
    }
}

#[cfg(test)]
mod tests;
