//! GICv3 redistributors (GICR_*) and the system-register CPU interface
//! (ICC_*).
//!
//! # Redistributors
//!
//! One per core, in core order, each two 64 KiB frames: RD_base (GICR_CTLR,
//! IIDR, TYPER, STATUSR, WAKER, the ID registers; the LPI registers read as
//! zero) and SGI_base (IGROUPR0, ISENABLER0/ICENABLER0, ISPENDR0/ICPENDR0,
//! ISACTIVER0/ICACTIVER0, IPRIORITYR0..7, ICFGR0/1; IGRPMODR0 and NSACR
//! read as zero as with DS = 1). GICR_WAKER resets with ProcessorSleep and ChildrenAsleep set;
//! ChildrenAsleep follows ProcessorSleep at once. A sleeping
//! redistributor signals nothing to its core and takes no part in 1 of N
//! SPI routing.
//!
//! # System registers
//!
//! Implemented at EL1 and above: ICC_PMR_EL1, ICC_IAR0/1_EL1,
//! ICC_EOIR0/1_EL1, ICC_HPPIR0/1_EL1, ICC_BPR0/1_EL1, ICC_AP0R0_EL1,
//! ICC_AP1R0_EL1, ICC_DIR_EL1, ICC_RPR_EL1, ICC_SGI0R_EL1, ICC_SGI1R_EL1,
//! ICC_ASGI1R_EL1, ICC_CTLR_EL1 (CBPR and EOImode writable; PRIbits = 4,
//! IDbits = 0 (16 bits), A3V = 1, SEIS, PMHE, RSS, ExtRange = 0),
//! ICC_SRE_EL1 (reads 0b111: SRE, DFB, DIB fixed), ICC_IGRPEN0/1_EL1.
//! Group 0 is fully supported (DS = 1 lets EL1 use it) and is signalled as
//! FIQ. ICC_AP0R1..3 and ICC_AP1R1..3 are UNDEFINED (5 priority bits), as
//! are ICC_NMIAR1_EL1 and all ICH_* registers (no virtualization).
//!
//! At EL2 and above: ICC_SRE_EL2 reads 0b1111 (SRE, DFB, DIB, Enable) and
//! ignores writes. At EL3: ICC_SRE_EL3 likewise; ICC_CTLR_EL3 reads PRIbits
//! and A3V and ignores writes; ICC_IGRPEN1_EL3.EnableGrp1NS is
//! ICC_IGRPEN1_EL1.Enable. Lower ELs get UNDEFINED for these.

use cpu_aarch64::sem::SysRegId;

use super::dist::{id_reg, BitReg, V3_IDS, V3_IIDR};
use super::{Gic, BPR0_MIN, BPR1_MIN, PRIO_MASK, REDIST_STRIDE};

/// GICD_IROUTER.Interrupt_Routing_Mode: any participating core (1 of N).
pub(super) const IROUTER_IRM: u64 = 1 << 31;
/// ICC_CTLR_EL1.CBPR.
pub(super) const CTLR_CBPR: u32 = 1 << 0;
/// ICC_CTLR_EL1.EOImode.
pub(super) const CTLR_EOIMODE: u32 = 1 << 1;
/// ICC_CTLR_EL1 read-only part: PRIbits = 4 (5 bits), A3V.
pub(super) const CTLR_RO: u64 = (4 << 8) | (1 << 15);

/// RD_base offsets.
mod rd {
    pub const CTLR: u64 = 0x0000;
    pub const IIDR: u64 = 0x0004;
    pub const TYPER: u64 = 0x0008;
    pub const STATUSR: u64 = 0x0010;
    pub const WAKER: u64 = 0x0014;
    pub const PROPBASER: u64 = 0x0070;
    pub const PENDBASER: u64 = 0x0078;
}

/// SGI_base offsets.
mod sgi {
    pub const IGROUPR0: u64 = 0x0080;
    pub const BITS_END: u64 = 0x0400;
    pub const IPRIORITYR: u64 = 0x0400;
    pub const ICFGR0: u64 = 0x0c00;
    pub const ICFGR1: u64 = 0x0c04;
    pub const IGRPMODR0: u64 = 0x0d00;
    pub const NSACR: u64 = 0x0e00;
}

/// GICR_WAKER.ProcessorSleep.
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
/// GICR_WAKER.ChildrenAsleep.
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;

/// The ICC registers by encoding.
mod icc {
    use cpu_aarch64::sem::SysRegId;
    pub const PMR: SysRegId = SysRegId::new(3, 0, 4, 6, 0);
    pub const IAR0: SysRegId = SysRegId::new(3, 0, 12, 8, 0);
    pub const EOIR0: SysRegId = SysRegId::new(3, 0, 12, 8, 1);
    pub const HPPIR0: SysRegId = SysRegId::new(3, 0, 12, 8, 2);
    pub const BPR0: SysRegId = SysRegId::new(3, 0, 12, 8, 3);
    pub const AP0R0: SysRegId = SysRegId::new(3, 0, 12, 8, 4);
    pub const AP1R0: SysRegId = SysRegId::new(3, 0, 12, 9, 0);
    pub const DIR: SysRegId = SysRegId::new(3, 0, 12, 11, 1);
    pub const RPR: SysRegId = SysRegId::new(3, 0, 12, 11, 3);
    pub const SGI1R: SysRegId = SysRegId::new(3, 0, 12, 11, 5);
    pub const ASGI1R: SysRegId = SysRegId::new(3, 0, 12, 11, 6);
    pub const SGI0R: SysRegId = SysRegId::new(3, 0, 12, 11, 7);
    pub const IAR1: SysRegId = SysRegId::new(3, 0, 12, 12, 0);
    pub const EOIR1: SysRegId = SysRegId::new(3, 0, 12, 12, 1);
    pub const HPPIR1: SysRegId = SysRegId::new(3, 0, 12, 12, 2);
    pub const BPR1: SysRegId = SysRegId::new(3, 0, 12, 12, 3);
    pub const CTLR: SysRegId = SysRegId::new(3, 0, 12, 12, 4);
    pub const SRE: SysRegId = SysRegId::new(3, 0, 12, 12, 5);
    pub const IGRPEN0: SysRegId = SysRegId::new(3, 0, 12, 12, 6);
    pub const IGRPEN1: SysRegId = SysRegId::new(3, 0, 12, 12, 7);
    pub const SRE_EL2: SysRegId = SysRegId::new(3, 4, 12, 9, 5);
    pub const CTLR_EL3: SysRegId = SysRegId::new(3, 6, 12, 12, 4);
    pub const SRE_EL3: SysRegId = SysRegId::new(3, 6, 12, 12, 5);
    pub const IGRPEN1_EL3: SysRegId = SysRegId::new(3, 6, 12, 12, 7);
}

/// Which register generated an SGI.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SgiReg {
    /// ICC_SGI1R_EL1: SGIs of either group (DS = 1).
    Any,
    /// ICC_SGI0R_EL1 / ICC_ASGI1R_EL1: Group 0 SGIs only.
    Group0,
}

impl Gic {
    /// Redistributor region read.
    pub(super) fn redist_read(&mut self, offset: u64, size: u8) -> u64 {
        let cpu = (offset / REDIST_STRIDE) as usize;
        if cpu >= self.cpus.len() {
            self.bad_access("redistributor read", offset, size);
            return 0;
        }
        let off = offset % REDIST_STRIDE;
        let word_access = size == 4 && off % 4 == 0;
        if off < 0x1_0000 {
            let c = &self.cpus[cpu];
            let v = match off {
                rd::CTLR | rd::STATUSR if word_access => 0,
                rd::IIDR if word_access => V3_IIDR,
                rd::TYPER | 0x000c => {
                    let typer = self.gicr_typer(cpu);
                    return match (size, off) {
                        (8, rd::TYPER) => typer,
                        (4, rd::TYPER) => typer & 0xffff_ffff,
                        (4, _) => typer >> 32,
                        _ => {
                            self.bad_access("redistributor read", offset, size);
                            0
                        }
                    };
                }
                rd::WAKER if word_access => {
                    if c.asleep {
                        WAKER_PROCESSOR_SLEEP | WAKER_CHILDREN_ASLEEP
                    } else {
                        0
                    }
                }
                // No LPIs: the LPI configuration registers read as zero.
                rd::PROPBASER | rd::PENDBASER if size == 8 || word_access => 0,
                0x0074 | 0x007c if word_access => 0,
                o if word_access => match id_reg(&V3_IDS, 0xffd0, o) {
                    Some(v) => v,
                    None => {
                        self.bad_access("redistributor read", offset, size);
                        0
                    }
                },
                _ => {
                    self.bad_access("redistributor read", offset, size);
                    0
                }
            };
            return u64::from(v);
        }
        let off = off - 0x1_0000;
        let v = match off {
            o if (sgi::IGROUPR0..sgi::BITS_END).contains(&o) && word_access && o % 0x80 == 0 => {
                let (kind, _) = BitReg::decode(o);
                self.bitreg_read(cpu, kind, 0)
            }
            o if (sgi::IPRIORITYR..sgi::IPRIORITYR + 32).contains(&o) && (size == 1 || word_access) => {
                return self.priority_read(cpu, (o - sgi::IPRIORITYR) as u32, size);
            }
            sgi::ICFGR0 if word_access => self.icfgr_read(cpu, 0),
            sgi::ICFGR1 if word_access => self.icfgr_read(cpu, 1),
            sgi::IGRPMODR0 | sgi::NSACR if word_access => 0,
            _ => {
                self.bad_access("redistributor SGI frame read", offset, size);
                0
            }
        };
        u64::from(v)
    }

    /// Redistributor region write.
    pub(super) fn redist_write(&mut self, offset: u64, size: u8, value: u64) {
        let cpu = (offset / REDIST_STRIDE) as usize;
        if cpu >= self.cpus.len() {
            self.bad_access("redistributor write", offset, size);
            return;
        }
        let off = offset % REDIST_STRIDE;
        let word_access = size == 4 && off % 4 == 0;
        let v = value as u32;
        if off < 0x1_0000 {
            match off {
                rd::WAKER if word_access => {
                    self.cpus[cpu].asleep = v & WAKER_PROCESSOR_SLEEP != 0;
                    // The core's participation in 1 of N routing changed.
                    self.update_all();
                }
                // GICR_CTLR (EnableLPIs is RES0 without LPIs), STATUSR
                // and the LPI registers ignore writes.
                rd::CTLR | rd::STATUSR if word_access => {}
                rd::PROPBASER | rd::PENDBASER if size == 8 || word_access => {}
                0x0074 | 0x007c if word_access => {}
                _ => self.bad_access("redistributor write", offset, size),
            }
            return;
        }
        let off = off - 0x1_0000;
        match off {
            o if (sgi::IGROUPR0..sgi::BITS_END).contains(&o) && word_access && o % 0x80 == 0 => {
                let (kind, _) = BitReg::decode(o);
                self.bitreg_write(cpu, kind, 0, v);
            }
            o if (sgi::IPRIORITYR..sgi::IPRIORITYR + 32).contains(&o) && (size == 1 || word_access) => {
                self.priority_write(cpu, (o - sgi::IPRIORITYR) as u32, size, value);
            }
            sgi::ICFGR0 if word_access => {}
            sgi::ICFGR1 if word_access => self.icfgr_write(cpu, 1, v),
            sgi::IGRPMODR0 | sgi::NSACR if word_access => {}
            _ => self.bad_access("redistributor SGI frame write", offset, size),
        }
    }

    /// GICR_TYPER of `cpu`'s redistributor.
    fn gicr_typer(&self, cpu: usize) -> u64 {
        let a = self.cpus[cpu].affinity;
        // Affinity_Value = Aff3.Aff2.Aff1.Aff0.
        let aff = ((a >> 32) & 0xff) << 24 | (a & 0xff_ffff);
        let last = u64::from(cpu + 1 == self.cpus.len());
        // PLPIS, VLPIS, DirectLPI = 0; Last; Processor_Number;
        // CommonLPIAff = 0.
        (aff << 32) | ((cpu as u64 & 0xffff) << 8) | (last << 4)
    }

    /// ICC_SGI0R/SGI1R/ASGI1R write by `src`.
    fn sgi_from_sysreg(&mut self, src: usize, v: u64, kind: SgiReg) {
        let sgi = ((v >> 24) & 0xf) as u32;
        let irm = v & (1 << 40) != 0;
        let list = v & 0xffff;
        let rs = (v >> 44) & 0xf;
        // Aff3.Aff2.Aff1 in MPIDR layout.
        let upper = ((v >> 48) & 0xff) << 32 | ((v >> 32) & 0xff) << 16 | ((v >> 16) & 0xff) << 8;
        for t in 0..self.cpus.len() {
            let a = self.cpus[t].affinity;
            let hit = if irm {
                t != src
            } else {
                let aff0 = a & 0xff;
                a & !0xff == upper && aff0 >> 4 == rs && list & (1 << (aff0 & 0xf)) != 0
            };
            let group1 = self.cpus[t].private.group & (1 << sgi) != 0;
            if hit && (kind == SgiReg::Any || !group1) {
                self.send_sgi(src, t, sgi);
            }
        }
    }

    /// MRS of an ICC register.
    pub(super) fn icc_read(&mut self, cpu: usize, id: SysRegId, el: u8) -> Option<u64> {
        let cbpr = self.cbpr(cpu);
        let c = &self.cpus[cpu];
        let v = match id {
            icc::PMR => u64::from(c.pmr),
            icc::IAR0 => u64::from(self.acknowledge(cpu, Some(0), false)),
            icc::IAR1 => u64::from(self.acknowledge(cpu, Some(1), false)),
            icc::HPPIR0 => u64::from(self.read_hppir(cpu, Some(0))),
            icc::HPPIR1 => u64::from(self.read_hppir(cpu, Some(1))),
            icc::BPR0 => u64::from(c.bpr0),
            icc::BPR1 if cbpr => u64::from((c.bpr0 + 1).min(7)),
            icc::BPR1 => u64::from(c.bpr1),
            icc::AP0R0 => u64::from(c.apr[0]),
            icc::AP1R0 => u64::from(c.apr[1]),
            icc::RPR => u64::from(self.running_priority(cpu)),
            icc::CTLR => u64::from(c.ctlr) | CTLR_RO,
            icc::SRE => 0b111,
            icc::IGRPEN0 => u64::from(c.igrpen[0]),
            icc::IGRPEN1 => u64::from(c.igrpen[1]),
            icc::SRE_EL2 if el >= 2 => 0b1111,
            icc::SRE_EL3 if el >= 3 => 0b1111,
            icc::CTLR_EL3 if el >= 3 => CTLR_RO,
            icc::IGRPEN1_EL3 if el >= 3 => u64::from(c.igrpen[1]),
            // Write-only (EOIR, DIR, SGI*R), unimplemented (AP0R1..3,
            // AP1R1..3, NMIAR1, ICH_*) or not at this EL.
            _ => return None,
        };
        Some(v)
    }

    /// MSR of an ICC register.
    pub(super) fn icc_write(&mut self, cpu: usize, id: SysRegId, el: u8, value: u64) -> bool {
        let cbpr = self.cbpr(cpu);
        let v = value as u32;
        let c = &mut self.cpus[cpu];
        match id {
            icc::PMR => c.pmr = v as u8 & PRIO_MASK,
            icc::EOIR0 => self.end_of_interrupt(cpu, v & 0xff_ffff, 0),
            icc::EOIR1 => self.end_of_interrupt(cpu, v & 0xff_ffff, 1),
            icc::DIR => self.deactivate_interrupt(cpu, v & 0xff_ffff),
            icc::BPR0 => c.bpr0 = (v as u8 & 7).max(BPR0_MIN),
            // With CBPR set, BPR1 writes are ignored (Non-secure view).
            icc::BPR1 if cbpr => {}
            icc::BPR1 => c.bpr1 = (v as u8 & 7).max(BPR1_MIN),
            icc::AP0R0 => c.apr[0] = v,
            icc::AP1R0 => c.apr[1] = v,
            icc::CTLR => c.ctlr = v & (CTLR_CBPR | CTLR_EOIMODE),
            icc::SRE => {}
            icc::IGRPEN0 => c.igrpen[0] = v & 1 != 0,
            icc::IGRPEN1 => c.igrpen[1] = v & 1 != 0,
            icc::SGI1R => self.sgi_from_sysreg(cpu, value, SgiReg::Any),
            icc::SGI0R | icc::ASGI1R => self.sgi_from_sysreg(cpu, value, SgiReg::Group0),
            icc::SRE_EL2 if el >= 2 => {}
            icc::SRE_EL3 | icc::CTLR_EL3 if el >= 3 => {}
            icc::IGRPEN1_EL3 if el >= 3 => c.igrpen[1] = v & 1 != 0,
            // Read-only (IAR, HPPIR, RPR), unimplemented or not at this EL.
            _ => return false,
        }
        self.update_cpu(cpu);
        true
    }
}
