//! The distributor (GICD_*), v2 and v3, and the per-interrupt register
//! arrays the v3 redistributor's SGI_base frame shares with it.

use super::{Gic, GicVersion, PRIO_MASK};

/// Register offsets.
pub(super) mod reg {
    pub const CTLR: u64 = 0x000;
    pub const TYPER: u64 = 0x004;
    pub const IIDR: u64 = 0x008;
    /// First of the bit arrays (IGROUPR .. ICACTIVER), 0x80 bytes each.
    pub const IGROUPR: u64 = 0x080;
    pub const BITS_END: u64 = 0x400;
    pub const IPRIORITYR: u64 = 0x400;
    pub const ITARGETSR: u64 = 0x800;
    pub const ICFGR: u64 = 0xc00;
    pub const SGIR: u64 = 0xf00;
    pub const CPENDSGIR: u64 = 0xf10;
    pub const SPENDSGIR: u64 = 0xf20;
    /// v3 `GICD_IROUTER<n>` is at IROUTER + 8 * n.
    pub const IROUTER: u64 = 0x6000;
}

/// The seven bit-per-interrupt arrays, in address order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BitReg {
    Group,
    SetEnable,
    ClearEnable,
    SetPending,
    ClearPending,
    SetActive,
    ClearActive,
}

impl BitReg {
    /// Decodes an offset in 0x080..0x400 into (array, word index).
    pub(super) fn decode(offset: u64) -> (BitReg, u32) {
        let kind = match (offset - reg::IGROUPR) / 0x80 {
            0 => BitReg::Group,
            1 => BitReg::SetEnable,
            2 => BitReg::ClearEnable,
            3 => BitReg::SetPending,
            4 => BitReg::ClearPending,
            5 => BitReg::SetActive,
            _ => BitReg::ClearActive,
        };
        (kind, ((offset & 0x7f) / 4) as u32)
    }
}

/// GIC-400 distributor GICD_IIDR (r0p1).
const GIC400_GICD_IIDR: u32 = 0x0200_143b;
/// v3 GICD_IIDR / GICR_IIDR: Implementer Arm (JEP106 0x43B), ProductID,
/// Variant and Revision 0 (this is not any particular Arm product).
pub(super) const V3_IIDR: u32 = 0x0000_043b;
/// GIC-400 GICD_PIDR4..7, PIDR0..3, CIDR0..3 (offsets 0xFD0..0xFFC).
const GIC400_DIST_IDS: [u32; 12] = [0x04, 0, 0, 0, 0x90, 0xb4, 0x2b, 0, 0x0d, 0xf0, 0x05, 0xb1];
/// v3 PIDR4..7, PIDR0..3, CIDR0..3 (offsets 0xFFD0..0xFFFC): JEP106 Arm,
/// part number 0, PIDR2.ArchRev = 3.
pub(super) const V3_IDS: [u32; 12] = [0x04, 0, 0, 0, 0x00, 0xb0, 0x3b, 0, 0x0d, 0xf0, 0x05, 0xb1];

/// Value of the ID register at `offset` in an ID block starting at `base`
/// (PIDR4 offset), if `offset` is in it.
pub(super) fn id_reg(ids: &[u32; 12], base: u64, offset: u64) -> Option<u32> {
    if (base..base + 0x30).contains(&offset) && offset % 4 == 0 {
        Some(ids[((offset - base) / 4) as usize])
    } else {
        None
    }
}

/// GICD_CTLR / GICR bits.
pub(super) const CTLR_ARE: u32 = 1 << 4;
/// GICD_CTLR.DS (v3): single Security state.
pub(super) const CTLR_DS: u32 = 1 << 6;

impl Gic {
    /// The bank holding word `word` of a distributor array as `cpu` sees
    /// it: word 0 is banked per core on v2 and RAZ/WI on v3 (the
    /// redistributor has it), words past the last SPI do not exist.
    fn dist_bank_for_word(&self, word: u32) -> bool {
        if word == 0 {
            self.version == GicVersion::V2
        } else {
            word < self.num_irqs() / 32
        }
    }

    /// Reads word `word` (INTIDs 32*word..) of bit array `kind`, the bank
    /// being the banked one of `cpu` for word 0.
    pub(super) fn bitreg_read(&self, cpu: usize, kind: BitReg, word: u32) -> u32 {
        let b = self.bank(cpu, word * 32);
        match kind {
            BitReg::Group => b.group,
            BitReg::SetEnable | BitReg::ClearEnable => b.enabled,
            BitReg::SetPending | BitReg::ClearPending => b.pending(),
            BitReg::SetActive | BitReg::ClearActive => b.active,
        }
    }

    /// Writes `v` to word `word` of bit array `kind` and updates outputs.
    pub(super) fn bitreg_write(&mut self, cpu: usize, kind: BitReg, word: u32, v: u32) {
        // v2 SGIs are made pending/not pending only through GICD_SGIR and
        // GICD_SPENDSGIR/CPENDSGIR: their ISPENDR0/ICPENDR0 bits ignore
        // writes.
        let pend_mask = if word == 0 && self.version == GicVersion::V2 {
            0xffff_0000
        } else {
            u32::MAX
        };
        let b = self.bank_mut(cpu, word * 32);
        match kind {
            BitReg::Group => b.group = v,
            BitReg::SetEnable => b.enabled |= v,
            BitReg::ClearEnable => b.enabled &= !v,
            BitReg::SetPending => b.latch |= v & pend_mask,
            BitReg::ClearPending => b.latch &= !(v & pend_mask),
            BitReg::SetActive => b.active |= v,
            BitReg::ClearActive => b.active &= !v,
        }
        if word == 0 {
            self.update_cpu(cpu);
        } else {
            self.update_all();
        }
    }

    /// Reads `size` (1 or 4) priority bytes from INTID `intid`.
    pub(super) fn priority_read(&self, cpu: usize, intid: u32, size: u8) -> u64 {
        let b = self.bank(cpu, intid);
        let i = (intid % 32) as usize;
        (0..usize::from(size)).fold(0, |acc, k| acc | u64::from(b.priority[i + k]) << (8 * k))
    }

    /// Writes `size` (1 or 4) priority bytes from INTID `intid`.
    pub(super) fn priority_write(&mut self, cpu: usize, intid: u32, size: u8, v: u64) {
        let b = self.bank_mut(cpu, intid);
        let i = (intid % 32) as usize;
        for k in 0..usize::from(size) {
            b.priority[i + k] = (v >> (8 * k)) as u8 & PRIO_MASK;
        }
        self.update_for(cpu, intid);
    }

    /// Reads `ICFGR<k>` (INTIDs 16k..16k+15).
    pub(super) fn icfgr_read(&self, cpu: usize, k: u32) -> u32 {
        let b = self.bank(cpu, k * 16);
        let edges = b.edge >> ((k % 2) * 16);
        (0..16).fold(0, |acc, i| acc | (((edges >> i) & 1) << (2 * i + 1)))
    }

    /// Writes `ICFGR<k>`; SGI configuration is read-only.
    pub(super) fn icfgr_write(&mut self, cpu: usize, k: u32, v: u32) {
        if k == 0 {
            return;
        }
        let mut edges = 0u32;
        for i in 0..16 {
            edges |= ((v >> (2 * i + 1)) & 1) << i;
        }
        let shift = (k % 2) * 16;
        let b = self.bank_mut(cpu, k * 16);
        b.edge = (b.edge & !(0xffff << shift)) | (edges << shift);
        self.update_for(cpu, k * 16);
    }

    pub(super) fn dist_typer(&self) -> u32 {
        let it_lines = self.num_irqs() / 32 - 1;
        match self.version {
            // ITLinesNumber, CPUNumber; SecurityExtn = 0, LSPI = 0.
            GicVersion::V2 => it_lines | ((self.cpus.len() as u32 - 1) << 5),
            // ITLinesNumber; CPUNumber = 0 (no legacy operation);
            // SecurityExtn, MBIS, LPIS, DVIS = 0; IDbits = 9 (INTIDs
            // below 1024); A3V = 1; No1N = 0 (1 of N supported); RSS = 0.
            GicVersion::V3 => it_lines | (9 << 19) | (1 << 24),
        }
    }

    pub(super) fn dist_ctlr_read(&self) -> u32 {
        match self.version {
            GicVersion::V2 => self.dist_ctlr,
            // ARE and DS are RAO/WI; RWP is always 0 (writes take effect
            // at once).
            GicVersion::V3 => self.dist_ctlr | CTLR_ARE | CTLR_DS,
        }
    }

    /// Distributor read of `size` bytes at `offset` by `cpu`.
    pub(super) fn dist_read(&mut self, cpu: usize, offset: u64, size: u8) -> u64 {
        let v3 = self.version == GicVersion::V3;
        let word_access = size == 4 && offset % 4 == 0;
        let v = match offset {
            reg::CTLR if word_access => self.dist_ctlr_read(),
            reg::TYPER if word_access => self.dist_typer(),
            reg::IIDR if word_access => {
                if v3 {
                    V3_IIDR
                } else {
                    GIC400_GICD_IIDR
                }
            }
            o if (reg::IGROUPR..reg::BITS_END).contains(&o) && word_access => {
                let (kind, word) = BitReg::decode(o);
                if self.dist_bank_for_word(word) {
                    self.bitreg_read(cpu, kind, word)
                } else {
                    0
                }
            }
            o if (reg::IPRIORITYR..reg::ITARGETSR).contains(&o) && byte_or_word(offset, size) => {
                let intid = (o - reg::IPRIORITYR) as u32;
                if self.dist_bank_for_word(intid / 32) {
                    return self.priority_read(cpu, intid, size);
                }
                0
            }
            o if (reg::ITARGETSR..reg::ICFGR).contains(&o) && byte_or_word(offset, size) && !v3 => {
                let intid = (o - reg::ITARGETSR) as u32;
                return self.itargets_read(cpu, intid, size);
            }
            o if (reg::ICFGR..reg::ICFGR + 0x100).contains(&o) && word_access => {
                let k = ((o - reg::ICFGR) / 4) as u32;
                if self.dist_bank_for_word(k / 2) {
                    self.icfgr_read(cpu, k)
                } else {
                    0
                }
            }
            o if (reg::CPENDSGIR..reg::SPENDSGIR + 0x10).contains(&o) && byte_or_word(offset, size) && !v3 => {
                let first = ((o - reg::CPENDSGIR) % 0x10) as usize;
                let src = &self.cpus[cpu].sgi_src;
                return (0..usize::from(size)).fold(0, |acc, k| acc | u64::from(src[first + k]) << (8 * k));
            }
            o if v3 && (reg::IROUTER + 0x100..reg::IROUTER + 8 * 1020).contains(&o) => {
                let intid = ((o - reg::IROUTER) / 8) as u32;
                if intid >= self.num_irqs() {
                    0
                } else {
                    let r = self.route[(intid - 32) as usize];
                    match (size, o % 8) {
                        (8, 0) => return r,
                        (4, 0) => r as u32,
                        (4, 4) => (r >> 32) as u32,
                        _ => {
                            self.bad_access("distributor read", offset, size);
                            0
                        }
                    }
                }
            }
            o if word_access => {
                let id = if v3 {
                    id_reg(&V3_IDS, 0xffd0, o)
                } else {
                    id_reg(&GIC400_DIST_IDS, 0xfd0, o)
                };
                match id {
                    Some(v) => v,
                    None => {
                        // GICD_SGIR is write-only; the rest is reserved,
                        // IMPLEMENTATION DEFINED or not implemented (v3
                        // TYPER2, STATUSR, SETSPI, IGRPMODR, NSACR, ...).
                        if o != reg::SGIR {
                            self.bad_access("distributor read", offset, size);
                        }
                        0
                    }
                }
            }
            _ => {
                self.bad_access("distributor read", offset, size);
                0
            }
        };
        u64::from(v)
    }

    /// Distributor write of `size` bytes at `offset` by `cpu`.
    pub(super) fn dist_write(&mut self, cpu: usize, offset: u64, size: u8, value: u64) {
        let v3 = self.version == GicVersion::V3;
        let word_access = size == 4 && offset % 4 == 0;
        let v = value as u32;
        match offset {
            reg::CTLR if word_access => {
                self.dist_ctlr = v & 3;
                self.update_all();
            }
            o if (reg::IGROUPR..reg::BITS_END).contains(&o) && word_access => {
                let (kind, word) = BitReg::decode(o);
                if self.dist_bank_for_word(word) {
                    self.bitreg_write(cpu, kind, word, v);
                }
            }
            o if (reg::IPRIORITYR..reg::ITARGETSR).contains(&o) && byte_or_word(offset, size) => {
                let intid = (o - reg::IPRIORITYR) as u32;
                if self.dist_bank_for_word(intid / 32) {
                    self.priority_write(cpu, intid, size, value);
                }
            }
            o if (reg::ITARGETSR..reg::ICFGR).contains(&o) && byte_or_word(offset, size) && !v3 => {
                let intid = (o - reg::ITARGETSR) as u32;
                self.itargets_write(intid, size, value);
            }
            o if (reg::ICFGR..reg::ICFGR + 0x100).contains(&o) && word_access => {
                let k = ((o - reg::ICFGR) / 4) as u32;
                if self.dist_bank_for_word(k / 2) {
                    self.icfgr_write(cpu, k, v);
                }
            }
            reg::SGIR if word_access && !v3 => self.sgir_write(cpu, v),
            o if (reg::CPENDSGIR..reg::SPENDSGIR + 0x10).contains(&o) && byte_or_word(offset, size) && !v3 => {
                let set = o >= reg::SPENDSGIR;
                let first = ((o - reg::CPENDSGIR) % 0x10) as usize;
                let valid = ((1u32 << self.cpus.len()) - 1) as u8;
                let c = &mut self.cpus[cpu];
                for k in 0..usize::from(size) {
                    let bits = (value >> (8 * k)) as u8 & valid;
                    let sgi = first + k;
                    if set {
                        c.sgi_src[sgi] |= bits;
                    } else {
                        c.sgi_src[sgi] &= !bits;
                    }
                    if c.sgi_src[sgi] != 0 {
                        c.private.latch |= 1 << sgi;
                    } else {
                        c.private.latch &= !(1 << sgi);
                    }
                }
                self.update_cpu(cpu);
            }
            o if v3 && (reg::IROUTER + 0x100..reg::IROUTER + 8 * 1020).contains(&o) => {
                let intid = ((o - reg::IROUTER) / 8) as u32;
                if intid < self.num_irqs() {
                    let r = &mut self.route[(intid - 32) as usize];
                    match (size, o % 8) {
                        (8, 0) => *r = value,
                        (4, 0) => *r = (*r & !0xffff_ffff) | value,
                        (4, 4) => *r = (*r & 0xffff_ffff) | (value << 32),
                        _ => {
                            self.bad_access("distributor write", offset, size);
                            return;
                        }
                    }
                    // Aff3, IRM, Aff2, Aff1, Aff0; the rest is RES0.
                    *r &= super::AFF_MASK | super::v3::IROUTER_IRM;
                    self.update_all();
                }
            }
            _ => self.bad_access("distributor write", offset, size),
        }
    }

    /// v2 GICD_ITARGETSR bytes from `intid`.
    fn itargets_read(&self, cpu: usize, intid: u32, size: u8) -> u64 {
        let n = self.cpus.len();
        let mut v = 0u64;
        for k in 0..u32::from(size) {
            let id = intid + k;
            // A uniprocessor GIC has RAZ/WI target registers.
            let byte = if n == 1 || id >= self.num_irqs() {
                0
            } else if id < 32 {
                // SGIs and PPIs read as the accessing core's own bit.
                1u8 << cpu
            } else {
                self.targets[(id - 32) as usize]
            };
            v |= u64::from(byte) << (8 * k);
        }
        v
    }

    /// v2 GICD_ITARGETSR write; SGI/PPI bytes are read-only.
    fn itargets_write(&mut self, intid: u32, size: u8, value: u64) {
        let n = self.cpus.len();
        if n == 1 {
            return;
        }
        let valid = ((1u32 << n) - 1) as u8;
        for k in 0..u32::from(size) {
            let id = intid + k;
            if (32..self.num_irqs()).contains(&id) {
                self.targets[(id - 32) as usize] = (value >> (8 * k)) as u8 & valid;
            }
        }
        self.update_all();
    }

    /// v2 GICD_SGIR.
    fn sgir_write(&mut self, src: usize, v: u32) {
        let sgi = v & 0xf;
        let n = self.cpus.len();
        let all = (1u32 << n) - 1;
        let targets = match (v >> 24) & 3 {
            0 => (v >> 16) & 0xff & all,
            1 => all & !(1 << src),
            2 => 1 << src,
            _ => {
                tracing::debug!(gic = %self.name, value = format_args!("{v:#x}"), "GICD_SGIR with reserved TargetListFilter ignored");
                0
            }
        };
        for t in 0..n {
            if targets & (1 << t) != 0 {
                self.send_sgi(src, t, sgi);
            }
        }
    }
}

/// A 1-byte access, or a 4-byte aligned one.
fn byte_or_word(offset: u64, size: u8) -> bool {
    size == 1 || (size == 4 && offset % 4 == 0)
}
