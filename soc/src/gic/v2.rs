//! The GICv2 memory-mapped CPU interface (GICC_*), banked per core: each
//! core reaches its own interface at the same addresses.
//!
//! Without Security Extensions GICC_CTLR has the layout of the Secure copy:
//! EnableGrp0 (0), EnableGrp1 (1), AckCtl (2, stored, no effect), FIQEn (3),
//! CBPR (4), the bypass disables (5..8, stored, no effect), EOImodeS (9,
//! the EOImode every access uses) and EOImodeNS (10, stored, no effect as
//! there are no Non-secure accesses). Linux writes bit 9 when it wants the
//! split EOI/deactivate mode.

use super::{Gic, BPR0_MIN, BPR1_MIN, PRIO_MASK};

/// Register offsets.
pub(super) mod reg {
    pub const CTLR: u64 = 0x00;
    pub const PMR: u64 = 0x04;
    pub const BPR: u64 = 0x08;
    pub const IAR: u64 = 0x0c;
    pub const EOIR: u64 = 0x10;
    pub const RPR: u64 = 0x14;
    pub const HPPIR: u64 = 0x18;
    pub const ABPR: u64 = 0x1c;
    pub const AIAR: u64 = 0x20;
    pub const AEOIR: u64 = 0x24;
    pub const AHPPIR: u64 = 0x28;
    pub const APR0: u64 = 0xd0;
    pub const NSAPR0: u64 = 0xe0;
    pub const IIDR: u64 = 0xfc;
    pub const DIR: u64 = 0x1000;
}

/// GICC_CTLR.FIQEn: Group 0 is signalled as FIQ.
pub(super) const CTLR_FIQEN: u32 = 1 << 3;
/// GICC_CTLR.CBPR: GICC_BPR controls both groups.
pub(super) const CTLR_CBPR: u32 = 1 << 4;
/// GICC_CTLR.EOImodeS: EOIR only drops priority, DIR deactivates.
pub(super) const CTLR_EOIMODE_S: u32 = 1 << 9;
/// Writable GICC_CTLR bits.
const CTLR_MASK: u32 = 0x7ff;
/// GIC-400 GICC_IIDR (r0p1, architecture version 2).
const GIC400_GICC_IIDR: u32 = 0x0202_143b;

impl Gic {
    /// CPU interface read by `cpu`; `debug` reads of GICC_IAR/AIAR do not
    /// acknowledge.
    pub(super) fn cpuif_read(&mut self, cpu: usize, offset: u64, size: u8, debug: bool) -> u64 {
        if size != 4 || offset % 4 != 0 {
            self.bad_access("CPU interface read", offset, size);
            return 0;
        }
        let c = &self.cpus[cpu];
        let v = match offset {
            reg::CTLR => c.ctlr,
            reg::PMR => u32::from(c.pmr),
            reg::BPR => u32::from(c.bpr0),
            reg::ABPR => u32::from(c.bpr1),
            reg::IAR => self.acknowledge(cpu, None, debug),
            reg::AIAR => self.acknowledge(cpu, Some(1), debug),
            reg::RPR => u32::from(self.running_priority(cpu)),
            reg::HPPIR => self.read_hppir(cpu, None),
            reg::AHPPIR => self.read_hppir(cpu, Some(1)),
            reg::APR0 => c.apr[0],
            reg::NSAPR0 => c.apr[1],
            // APR1..3 / NSAPR1..3: no further priority levels.
            0xd4..=0xdc | 0xe4..=0xec => 0,
            reg::IIDR => GIC400_GICC_IIDR,
            reg::EOIR | reg::AEOIR | reg::DIR => 0,
            _ => {
                self.bad_access("CPU interface read", offset, size);
                0
            }
        };
        u64::from(v)
    }

    /// CPU interface write by `cpu`.
    pub(super) fn cpuif_write(&mut self, cpu: usize, offset: u64, size: u8, value: u64) {
        if size != 4 || offset % 4 != 0 {
            self.bad_access("CPU interface write", offset, size);
            return;
        }
        let v = value as u32;
        let c = &mut self.cpus[cpu];
        match offset {
            reg::CTLR => c.ctlr = v & CTLR_MASK,
            reg::PMR => c.pmr = v as u8 & PRIO_MASK,
            reg::BPR => c.bpr0 = (v as u8 & 7).max(BPR0_MIN),
            reg::ABPR => c.bpr1 = (v as u8 & 7).max(BPR1_MIN),
            reg::EOIR => return self.end_of_interrupt(cpu, v & 0x3ff, 0),
            reg::AEOIR => return self.end_of_interrupt(cpu, v & 0x3ff, 1),
            reg::DIR => return self.deactivate_interrupt(cpu, v & 0x3ff),
            reg::APR0 => c.apr[0] = v,
            reg::NSAPR0 => c.apr[1] = v,
            0xd4..=0xdc | 0xe4..=0xec => {}
            _ => {
                self.bad_access("CPU interface write", offset, size);
                return;
            }
        }
        self.update_cpu(cpu);
    }
}
