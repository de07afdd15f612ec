//! The software TLB and TLB maintenance (TLBI).
//!
//! # Entry layout (the JIT's fast path)
//!
//! The TLB is direct-mapped, [`TLB_ENTRIES`] entries indexed by VA bits
//! 12 and up, each answering for one 4 KiB page whatever the size of the
//! page or block it came from. A [`TlbEntry`] is `#[repr(C)]` so generated
//! code can inline the lookup:
//!
//! | offset | field       | meaning                                              |
//! |--------|-------------|------------------------------------------------------|
//! | 0      | `va_page`   | tag: VA with bits 11:0 clear ([`INVALID`] if empty)  |
//! | 8      | `ctx`       | context tag, see [`ctx`]                             |
//! | 16     | `pa_page`   | PA of this 4 KiB page                                |
//! | 24     | `perms`     | [`super::perm`] bits                                 |
//! | 25     | `attr`      | MAIR attribute byte                                  |
//! | 26     | `sh`        | descriptor SH                                        |
//! | 27     | `level`     | level of the final descriptor (for fault syndromes)  |
//! | 28     | `size_bits` | log2 size of the whole page/block (for TLBI by VA)   |
//! | 29     | `ns`        | output in the Non-secure PA space                    |
//!
//! A hit is `e.va_page == va & !0xfff && (e.ctx == tag || e.ctx ==
//! ctx::global(tag))`, then one `perms` bit test (plus [`super::perm::USER`]
//! under PAN). A later engine adds a page-granular host pointer per entry
//! (RAM pages only, null for MMIO, like QEMU's softmmu `addend`), filled
//! in [`Tlb::insert`] and cleared by every invalidation below, which
//! already goes through this module.
//!
//! # TLBI
//!
//! [`Tlbi::decode`] turns the SYS operands into a [`Tlbi`];
//! [`Cpu::tlbi`] fills in the issuing context (VMID, ASID width, security
//! state), applies it to this core's TLB and, for the inner-shareable
//! forms, queues it in [`Cpu::broadcast_tlbi`]; the machine delivers that
//! queue to every other core after the time slice ([`deliver_broadcasts`]).
//! Only final-level (leaf) translations are ever cached, so the
//! last-level-only forms (VALE1 etc.) invalidate exactly what VAE1 does,
//! and nothing from stage 2 is cached, so IPAS2E1* invalidate nothing.

use super::{RegimeKind, Translation};
use crate::state::Cpu;
use crate::sysreg::SysReg;

/// Entries in the software TLB (direct-mapped, a power of two).
pub const TLB_ENTRIES: usize = 256;

/// `va_page` of an empty entry: never equal to a page-aligned address.
pub const INVALID: u64 = 1;

/// VA bits a TLBI by VA compares (55:12; bits 63:56 follow bit 55 or are
/// the ignored top byte).
const VA_CMP: u64 = 0x00ff_ffff_ffff_f000;

/// Context tags: which translations an entry belongs to.
///
/// Bits 49:48 regime ([`RegimeKind`] as a number), bits 40:32 the
/// translation space of EL1&0 (the VMID, or [`SECURE`] for Secure EL1&0;
/// 0 otherwise), bit 16 [`GLOBAL`] (an entry with nG = 0, matching any
/// ASID; every EL2/EL3 entry), bits 15:0 the ASID (EL1&0 non-global).
pub mod ctx {
    use super::RegimeKind;

    /// An entry matching every ASID of its regime and space.
    pub const GLOBAL: u64 = 1 << 16;
    /// The translation space of the Secure EL1&0 regime (above any VMID).
    pub const SECURE: u64 = 0x100;

    /// The tag of the current context.
    #[inline]
    pub fn tag(kind: RegimeKind, space: u64, asid: u16) -> u64 {
        (kind as u64) << 48 | space << 32 | u64::from(asid)
    }

    /// The tag a global entry of the same regime and space carries.
    #[inline]
    pub fn global(tag: u64) -> u64 {
        (tag & !0xffff) | GLOBAL
    }

    /// The regime number of a tag.
    #[inline]
    pub fn regime(tag: u64) -> u64 {
        tag >> 48 & 3
    }

    /// The translation space of a tag.
    #[inline]
    pub fn space(tag: u64) -> u64 {
        tag >> 32 & 0x1ff
    }

    /// The ASID of a non-global tag.
    #[inline]
    pub fn asid(tag: u64) -> u16 {
        tag as u16
    }
}

/// One cached translation of a 4 KiB page (layout in the module docs).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbEntry {
    /// VA of the 4 KiB page (bits 11:0 clear), or [`INVALID`].
    pub va_page: u64,
    /// Context tag ([`ctx`]).
    pub ctx: u64,
    /// PA of the 4 KiB page.
    pub pa_page: u64,
    /// Permission bits ([`super::perm`]).
    pub perms: u8,
    /// MAIR attribute byte.
    pub attr: u8,
    /// Descriptor SH field.
    pub sh: u8,
    /// Level of the final descriptor.
    pub level: u8,
    /// log2 of the size of the page or block this entry is part of.
    pub size_bits: u8,
    /// Output address in the Non-secure physical address space.
    pub ns: bool,
}

impl TlbEntry {
    const EMPTY: TlbEntry = TlbEntry {
        va_page: INVALID,
        ctx: 0,
        pa_page: 0,
        perms: 0,
        attr: 0,
        sh: 0,
        level: 0,
        size_bits: 12,
        ns: false,
    };

    /// Whether the entry holds a translation.
    pub fn valid(&self) -> bool {
        self.va_page != INVALID
    }

    /// Whether the page/block of this entry translates `va` (bits 55:12).
    fn covers(&self, va: u64) -> bool {
        let block = !((1u64 << self.size_bits) - 1);
        (self.va_page ^ va) & VA_CMP & block == 0
    }
}

/// A software TLB of stage 1 translations tagged by regime, VMID/security
/// state and ASID (layout in the module docs).
#[derive(Clone, Debug)]
pub struct Tlb {
    entries: Box<[TlbEntry]>,
    /// Lookups that hit.
    pub hits: u64,
    /// Lookups that walked.
    pub misses: u64,
    /// Bumped by every invalidation and by writes to the registers that
    /// define a translation regime, so an engine caching translations of
    /// its own (the JIT's fast-path TLB) knows when to drop them.
    pub epoch: u64,
    /// What each of the last [`JOURNAL`] epochs changed
    /// ([`Tlb::changes_since`]), at `epoch % JOURNAL`.
    journal: [Change; JOURNAL],
}

/// Epochs [`Tlb::changes_since`] can still describe.
pub const JOURNAL: usize = 16;

/// What one epoch of a [`Tlb`] changed, so an engine caching translations
/// of its own drops only those (a kernel's TLBI by VA on every unmap and
/// its TTBR0 write on every context switch would otherwise empty it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Anything may have changed (a flush, or SCTLR/TCR/MAIR and the like).
    All,
    /// TTBR0_EL1 or TTBR1_EL1 was written: the ASID (and the tables of
    /// the non-global entries) may be new; global entries still apply.
    Context,
    /// A TLBI removed what it matches.
    Op(Tlbi),
}

impl Change {
    /// Whether a translation cached as `e` may no longer hold.
    pub fn removes(&self, e: &TlbEntry) -> bool {
        match self {
            Change::All => true,
            Change::Context => e.ctx & ctx::GLOBAL == 0,
            Change::Op(op) => e.valid() && op.matches(e),
        }
    }
}

impl Default for Tlb {
    fn default() -> Self {
        Tlb {
            entries: vec![TlbEntry::EMPTY; TLB_ENTRIES].into_boxed_slice(),
            hits: 0,
            misses: 0,
            epoch: 0,
            journal: [Change::All; JOURNAL],
        }
    }
}

impl Tlb {
    #[inline]
    fn slot(va: u64) -> usize {
        (va >> 12) as usize & (TLB_ENTRIES - 1)
    }

    /// The cached translation of the page of `va` in context `tag`
    /// ([`ctx::tag`]), if any: a non-global entry of that exact context or
    /// a global one of its regime and space.
    #[inline]
    pub fn lookup(&mut self, va: u64, tag: u64) -> Option<TlbEntry> {
        let e = self.entries[Self::slot(va)];
        if e.va_page == va & !0xfff && (e.ctx == tag || e.ctx == ctx::global(tag)) {
            self.hits += 1;
            Some(e)
        } else {
            self.misses += 1;
            None
        }
    }

    /// Caches `t` for the 4 KiB page of `va` in context `tag` (stored as
    /// global when `t` is not nG) and returns the entry.
    pub fn insert(&mut self, va: u64, tag: u64, t: &Translation) -> TlbEntry {
        let page = va & !0xfff;
        let e = TlbEntry {
            va_page: page,
            ctx: if t.ng { tag } else { ctx::global(tag) },
            pa_page: t.pa(page),
            perms: t.perms.bits(),
            attr: t.attr,
            sh: t.sh,
            level: t.level,
            size_bits: t.size_bits as u8,
            ns: t.ns,
        };
        self.entries[Self::slot(va)] = e;
        e
    }

    fn bump(&mut self, change: Change) {
        self.epoch += 1;
        self.journal[self.epoch as usize % JOURNAL] = change;
    }

    /// The changes after epoch `since` up to now, oldest first, or `None`
    /// when the journal no longer holds them all.
    pub fn changes_since(&self, since: u64) -> Option<impl Iterator<Item = Change> + '_> {
        let n = self.epoch.checked_sub(since)?;
        (n as usize <= JOURNAL).then(|| (since + 1..=self.epoch).map(|e| self.journal[e as usize % JOURNAL]))
    }

    /// Records a write to a register that defines the translation regime
    /// (the entries here are tagged and stay; engines caching untagged
    /// translations need to know).
    pub fn regime_written(&mut self, reg: crate::sysreg::SysReg) {
        use crate::sysreg::SysReg::{TTBR0_EL1, TTBR1_EL1};
        self.bump(if matches!(reg, TTBR0_EL1 | TTBR1_EL1) {
            Change::Context
        } else {
            Change::All
        });
    }

    /// The entry in `va`'s slot if it is for `va`'s page (whatever its
    /// context): right after an access that went through this TLB, the
    /// translation that access used.
    pub fn peek(&self, va: u64) -> Option<TlbEntry> {
        let e = self.entries[Self::slot(va)];
        (e.va_page == va & !0xfff).then_some(e)
    }

    /// Invalidates everything.
    pub fn flush(&mut self) {
        self.bump(Change::All);
        self.entries.iter_mut().for_each(|e| *e = TlbEntry::EMPTY);
    }

    /// The valid entries (for tests and inspection).
    pub fn entries(&self) -> impl Iterator<Item = &TlbEntry> {
        self.entries.iter().filter(|e| e.valid())
    }

    /// Applies a resolved TLBI (as [`Cpu::tlbi`] fills it in) to this TLB.
    pub fn invalidate(&mut self, op: &Tlbi) {
        self.bump(Change::Op(*op));
        // By VA, most entries fail on the address: test that inline first
        // (Linux issues a TLBI by page every few thousand instructions).
        let page = op.page();
        for e in self.entries.iter_mut() {
            if e.valid() && page.is_none_or(|va| e.covers(va)) && op.matches(e) {
                *e = TlbEntry::EMPTY;
            }
        }
    }
}

/// A TLB maintenance instruction (TLBI, `SYS #op1, C8, Cm, #op2, Xt`).
///
/// `is` marks the inner-shareable forms (CRm = 3, or CRm = 0 for
/// IPAS2*IS), which also apply to every other core. `last` marks the
/// last-level-only forms (VALE1, VAALE1, VALE2, VALE3, IPAS2LE1). `va` is
/// VA\[55:12\] from Xt\[43:0\] (sign-extended from bit 55), `asid`
/// Xt\[63:48\], `ipa` IPA\[47:12\] from Xt\[35:0\]. `vmid` is the
/// translation space of the EL1&0 forms: [`Tlbi::decode`] leaves it 0 and
/// [`Cpu::tlbi`] sets it to the issuing context's VMID (VTTBR_EL2.VMID
/// with EL2) or [`ctx::SECURE`] in Secure state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tlbi {
    /// VMALLE1(IS): all EL1&0 stage 1 entries of the VMID.
    VmallE1 {
        /// Inner shareable.
        is: bool,
        /// Translation space.
        vmid: u16,
    },
    /// VAE1(IS) / VALE1(IS): entries for `va` with this ASID or global.
    VaE1 {
        /// Inner shareable.
        is: bool,
        /// Last level only.
        last: bool,
        /// Virtual address (page).
        va: u64,
        /// ASID.
        asid: u16,
        /// Translation space.
        vmid: u16,
    },
    /// VAAE1(IS) / VAALE1(IS): entries for `va`, any ASID.
    VaaE1 {
        /// Inner shareable.
        is: bool,
        /// Last level only.
        last: bool,
        /// Virtual address (page).
        va: u64,
        /// Translation space.
        vmid: u16,
    },
    /// ASIDE1(IS): non-global entries of the ASID.
    AsidE1 {
        /// Inner shareable.
        is: bool,
        /// ASID.
        asid: u16,
        /// Translation space.
        vmid: u16,
    },
    /// ALLE1(IS): all EL1&0 entries of every VMID in the security state.
    AllE1 {
        /// Inner shareable.
        is: bool,
        /// The Secure EL1&0 regime (else Non-secure).
        secure: bool,
    },
    /// VMALLS12E1(IS): stage 1 and 2 EL1&0 entries of the VMID.
    VmallS12E1 {
        /// Inner shareable.
        is: bool,
        /// Translation space.
        vmid: u16,
    },
    /// IPAS2E1(IS) / IPAS2LE1(IS): stage 2 entries for `ipa`.
    Ipas2E1 {
        /// Inner shareable.
        is: bool,
        /// Last level only.
        last: bool,
        /// Intermediate physical address (page).
        ipa: u64,
    },
    /// ALLE2(IS): all EL2 entries.
    AllE2 {
        /// Inner shareable.
        is: bool,
    },
    /// VAE2(IS) / VALE2(IS): EL2 entries for `va`.
    VaE2 {
        /// Inner shareable.
        is: bool,
        /// Last level only.
        last: bool,
        /// Virtual address (page).
        va: u64,
    },
    /// ALLE3(IS): all EL3 entries.
    AllE3 {
        /// Inner shareable.
        is: bool,
    },
    /// VAE3(IS) / VALE3(IS): EL3 entries for `va`.
    VaE3 {
        /// Inner shareable.
        is: bool,
        /// Last level only.
        last: bool,
        /// Virtual address (page).
        va: u64,
    },
}

/// Queued broadcasts beyond this collapse into "invalidate everything"
/// (over-invalidation is always allowed), so an undelivered queue stays
/// small.
const BROADCAST_CAP: usize = 64;

impl Tlbi {
    /// The TLBI `SYS #op1, C8, C<crm>, #op2` with operand `xt`, if the
    /// encoding is one (ARMv8.0 forms; no OS/range forms).
    pub fn decode(op1: u32, crm: u32, op2: u32, xt: u64) -> Option<Tlbi> {
        let va = crate::isa::sext((xt & ((1 << 44) - 1)) << 12, 56);
        let asid = (xt >> 48) as u16;
        let ipa = (xt & ((1 << 36) - 1)) << 12;
        let is = crm == 3;
        Some(match (op1, crm, op2) {
            (0, 3 | 7, 0) => Tlbi::VmallE1 { is, vmid: 0 },
            (0, 3 | 7, 1 | 5) => Tlbi::VaE1 {
                is,
                last: op2 == 5,
                va,
                asid,
                vmid: 0,
            },
            (0, 3 | 7, 2) => Tlbi::AsidE1 { is, asid, vmid: 0 },
            (0, 3 | 7, 3 | 7) => Tlbi::VaaE1 {
                is,
                last: op2 == 7,
                va,
                vmid: 0,
            },
            (4, 0 | 4, 1 | 5) => Tlbi::Ipas2E1 {
                is: crm == 0,
                last: op2 == 5,
                ipa,
            },
            (4, 3 | 7, 0) => Tlbi::AllE2 { is },
            (4, 3 | 7, 1 | 5) => Tlbi::VaE2 { is, last: op2 == 5, va },
            (4, 3 | 7, 4) => Tlbi::AllE1 { is, secure: false },
            (4, 3 | 7, 6) => Tlbi::VmallS12E1 { is, vmid: 0 },
            (6, 3 | 7, 0) => Tlbi::AllE3 { is },
            (6, 3 | 7, 1 | 5) => Tlbi::VaE3 { is, last: op2 == 5, va },
            _ => return None,
        })
    }

    /// The virtual address of the by-VA forms.
    pub fn page(&self) -> Option<u64> {
        match *self {
            Tlbi::VaE1 { va, .. } | Tlbi::VaaE1 { va, .. } | Tlbi::VaE2 { va, .. } | Tlbi::VaE3 { va, .. } => Some(va),
            _ => None,
        }
    }

    /// An inner-shareable form (applies to every core).
    pub fn is_broadcast(&self) -> bool {
        match *self {
            Tlbi::VmallE1 { is, .. }
            | Tlbi::VaE1 { is, .. }
            | Tlbi::VaaE1 { is, .. }
            | Tlbi::AsidE1 { is, .. }
            | Tlbi::AllE1 { is, .. }
            | Tlbi::VmallS12E1 { is, .. }
            | Tlbi::Ipas2E1 { is, .. }
            | Tlbi::AllE2 { is }
            | Tlbi::VaE2 { is, .. }
            | Tlbi::AllE3 { is }
            | Tlbi::VaE3 { is, .. } => is,
        }
    }

    /// The lowest EL the instruction executes at (op1 = 0: EL1, 4: EL2,
    /// 6: EL3).
    pub fn min_el(&self) -> u8 {
        match self {
            Tlbi::VmallE1 { .. } | Tlbi::VaE1 { .. } | Tlbi::VaaE1 { .. } | Tlbi::AsidE1 { .. } => 1,
            Tlbi::AllE3 { .. } | Tlbi::VaE3 { .. } => 3,
            _ => 2,
        }
    }

    /// Whether it may execute at `el` on a core with/without EL2 (else
    /// UNDEFINED): below [`Tlbi::min_el`] never; ALLE2/VAE2/VALE2 need an
    /// implemented EL2. ALLE1, VMALLS12E1 and IPAS2* stay available to EL3
    /// without EL2 (as VMALLE1-like and no-op operations).
    pub fn permitted(&self, el: u8, has_el2: bool) -> bool {
        let needs_el2 = matches!(self, Tlbi::AllE2 { .. } | Tlbi::VaE2 { .. });
        el >= self.min_el() && (has_el2 || !needs_el2)
    }

    /// Whether entry `e` is one this (resolved) operation removes.
    fn matches(&self, e: &TlbEntry) -> bool {
        let regime = ctx::regime(e.ctx);
        let global = e.ctx & ctx::GLOBAL != 0;
        let el10 = |vmid: u16| regime == RegimeKind::El10 as u64 && ctx::space(e.ctx) == u64::from(vmid);
        match *self {
            Tlbi::VmallE1 { vmid, .. } | Tlbi::VmallS12E1 { vmid, .. } => el10(vmid),
            Tlbi::VaE1 { va, asid, vmid, .. } => el10(vmid) && e.covers(va) && (global || ctx::asid(e.ctx) == asid),
            Tlbi::VaaE1 { va, vmid, .. } => el10(vmid) && e.covers(va),
            Tlbi::AsidE1 { asid, vmid, .. } => el10(vmid) && !global && ctx::asid(e.ctx) == asid,
            Tlbi::AllE1 { secure, .. } => {
                regime == RegimeKind::El10 as u64 && (ctx::space(e.ctx) == ctx::SECURE) == secure
            }
            // No stage 2 translation is ever cached.
            Tlbi::Ipas2E1 { .. } => false,
            Tlbi::AllE2 { .. } => regime == RegimeKind::El2 as u64,
            Tlbi::VaE2 { va, .. } => regime == RegimeKind::El2 as u64 && e.covers(va),
            Tlbi::AllE3 { .. } => regime == RegimeKind::El3 as u64,
            Tlbi::VaE3 { va, .. } => regime == RegimeKind::El3 as u64 && e.covers(va),
        }
    }

    /// The same operation, inner shareable.
    fn broadcast(self) -> Tlbi {
        match self {
            Tlbi::VmallE1 { vmid, .. } => Tlbi::VmallE1 { is: true, vmid },
            Tlbi::VaE1 {
                last, va, asid, vmid, ..
            } => Tlbi::VaE1 {
                is: true,
                last,
                va,
                asid,
                vmid,
            },
            Tlbi::VaaE1 { last, va, vmid, .. } => Tlbi::VaaE1 {
                is: true,
                last,
                va,
                vmid,
            },
            Tlbi::AsidE1 { asid, vmid, .. } => Tlbi::AsidE1 { is: true, asid, vmid },
            other => other,
        }
    }
}

impl Cpu {
    /// Whether TLBI `op` may execute at the current EL (else UNDEFINED).
    /// The HCR_EL2.TTLB trap of EL1 forms is checked before, by the
    /// interpreter's `sys()`.
    pub fn tlbi_permitted(&self, op: &Tlbi) -> bool {
        op.permitted(self.pstate.el, self.config.has_el2)
    }

    /// Executes TLBI `op` (as decoded, permission already checked): fills
    /// in the issuing context (VMID or Secure space, 8-bit ASIDs when
    /// TCR_EL1.AS = 0, security state; HCR_EL2.FB makes EL1 forms
    /// broadcast), invalidates this core's TLB and queues inner-shareable
    /// forms in [`Cpu::broadcast_tlbi`] for the other cores.
    pub fn tlbi(&mut self, op: Tlbi) {
        let space = if self.el10_secure() {
            ctx::SECURE as u16
        } else if self.config.has_el2 {
            (self.sys.get(SysReg::VTTBR_EL2) >> 48 & 0xff) as u16
        } else {
            0
        };
        let asid_mask = if self.sys.get(SysReg::TCR_EL1) >> 36 & 1 == 1 {
            0xffff
        } else {
            0xff
        };
        let mut op = match op {
            Tlbi::VmallE1 { is, .. } => Tlbi::VmallE1 { is, vmid: space },
            Tlbi::VaE1 { is, last, va, asid, .. } => Tlbi::VaE1 {
                is,
                last,
                va,
                asid: asid & asid_mask,
                vmid: space,
            },
            Tlbi::VaaE1 { is, last, va, .. } => Tlbi::VaaE1 {
                is,
                last,
                va,
                vmid: space,
            },
            Tlbi::AsidE1 { is, asid, .. } => Tlbi::AsidE1 {
                is,
                asid: asid & asid_mask,
                vmid: space,
            },
            Tlbi::VmallS12E1 { is, .. } => Tlbi::VmallS12E1 { is, vmid: space },
            Tlbi::AllE1 { is, .. } => Tlbi::AllE1 {
                is,
                secure: self.el10_secure(),
            },
            other => other,
        };
        // HCR_EL2.FB: EL1 TLB maintenance is broadcast.
        if self.pstate.el == 1
            && self.config.has_el2
            && !self.el10_secure()
            && self.sys.get(SysReg::HCR_EL2) & super::hcr::FB != 0
        {
            op = op.broadcast();
        }
        self.tlb.invalidate(&op);
        if op.is_broadcast() {
            if self.broadcast_tlbi.len() >= BROADCAST_CAP {
                self.broadcast_tlbi.clear();
                for secure in [false, true] {
                    self.broadcast_tlbi.push(Tlbi::AllE1 { is: true, secure });
                }
                self.broadcast_tlbi.push(Tlbi::AllE2 { is: true });
                self.broadcast_tlbi.push(Tlbi::AllE3 { is: true });
            }
            self.broadcast_tlbi.push(op);
        }
    }

    /// Applies an inner-shareable TLBI another core issued (already
    /// resolved; not queued again).
    pub fn apply_broadcast_tlbi(&mut self, op: &Tlbi) {
        self.tlb.invalidate(op);
    }
}

/// Delivers the inner-shareable TLBIs core `from` queued to every other
/// core of `cpus` and empties the queue. The machine calls this after each
/// time slice (cores run one at a time, so this is exact).
pub fn deliver_broadcasts(cpus: &mut [Cpu], from: usize) {
    let ops = std::mem::take(&mut cpus[from].broadcast_tlbi);
    for (i, cpu) in cpus.iter_mut().enumerate() {
        if i != from {
            for op in &ops {
                cpu.apply_broadcast_tlbi(op);
            }
        }
    }
    // Keep the allocation for the next slice.
    let mut ops = ops;
    ops.clear();
    cpus[from].broadcast_tlbi = ops;
}
