//! A core's architectural state as plain data, for machine snapshots.
//!
//! [`Cpu::save_state`] copies out everything that survives an instruction
//! boundary: general, SIMD&FP and stack registers, PC, PSTATE, every system
//! register of the table (keyed by its encoding, so a reordered table still
//! restores), the exclusive monitor, the event register, the interrupt
//! lines and the instruction count. The configuration (MIDR, MPIDR, EL2/EL3,
//! conduit), the time base and the timer sink belong to the machine that
//! restores; the TLB and the decode cache are caches and start empty.

use crate::sem::SysRegId;
use crate::state::{Cpu, PState};
use crate::sysreg::{SysReg, SYSREGS};

/// One core's saved state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreState {
    /// X0..X30.
    pub x: [u64; 31],
    /// V0..V31.
    pub v: [u128; 32],
    /// SP_EL0..SP_EL3.
    pub sp_el: [u64; 4],
    /// Program counter.
    pub pc: u64,
    /// PSTATE.
    pub pstate: PState,
    /// Every system register of the table: (encoding, raw stored value).
    pub sysregs: Vec<(SysRegId, u64)>,
    /// The local exclusive monitor (address, size).
    pub monitor: Option<(u64, u8)>,
    /// The event register.
    pub event: bool,
    /// The interrupt input lines as the interrupt controller last drove them.
    pub irq_lines: u32,
    /// Instructions retired.
    pub icount: u64,
}

/// A saved core state this core cannot take.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CoreStateError {
    /// A system register encoding this build does not implement.
    #[error("system register with encoding {:?} is not implemented by this core", .0.fields())]
    UnknownSysReg(SysRegId),
    /// An exception level outside 0..=3 or one the core does not implement.
    #[error("PSTATE.EL = {0}, which this core does not implement")]
    BadEl(u8),
}

impl Cpu {
    /// The core's architectural state (see the module docs for what is in it).
    pub fn save_state(&self) -> CoreState {
        CoreState {
            x: self.x,
            v: self.v,
            sp_el: self.sp_el,
            pc: self.pc,
            pstate: self.pstate,
            sysregs: SYSREGS.iter().map(|r| (r.id, self.sys.get(r.reg))).collect(),
            monitor: self.monitor,
            event: self.event,
            irq_lines: self.irq.get(),
            icount: self.icount,
        }
    }

    /// Takes `s` as the core's state. Registers missing from `s` keep their
    /// current (reset) value; an encoding this core does not know or an EL
    /// it does not implement is refused before anything changes. The TLB
    /// is flushed.
    pub fn restore_state(&mut self, s: &CoreState) -> Result<(), CoreStateError> {
        let el_ok = match s.pstate.el {
            0 | 1 => true,
            2 => self.config.has_el2,
            3 => self.config.has_el3,
            _ => false,
        };
        if !el_ok {
            return Err(CoreStateError::BadEl(s.pstate.el));
        }
        let regs: Vec<(SysReg, u64)> = s
            .sysregs
            .iter()
            .map(|&(id, v)| {
                SysReg::from_id(id)
                    .map(|r| (r, v))
                    .ok_or(CoreStateError::UnknownSysReg(id))
            })
            .collect::<Result<_, _>>()?;
        for (r, v) in regs {
            self.sys.set(r, v);
        }
        self.x = s.x;
        self.v = s.v;
        self.sp_el = s.sp_el;
        self.pc = s.pc;
        self.pstate = s.pstate;
        self.monitor = s.monitor;
        self.event = s.event;
        self.sent_event = false;
        for bit in 0..32 {
            self.irq.set(1 << bit, s.irq_lines >> bit & 1 != 0);
        }
        self.icount = s.icount;
        self.broadcast_tlbi.clear();
        self.tlb.flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::CpuConfig;

    #[test]
    fn round_trip_restores_every_field() {
        let mut a = Cpu::new(0, CpuConfig::cortex_a57(0), 0x4000_0000);
        a.x[5] = 0x1234;
        a.v[31] = u128::MAX - 7;
        a.sp_el = [1, 2, 3, 4];
        a.pc = 0x4000_1234;
        a.pstate.nzcv = 0x6000_0000;
        a.pstate.el = 0;
        a.sys.set(SysReg::TTBR0_EL1, 0xdead_b000);
        a.sys.set(SysReg::CNTV_CVAL_EL0, 99);
        a.monitor = Some((0x4000_0040, 8));
        a.event = true;
        a.irq.set(crate::irq::IRQ, true);
        a.icount = 777;
        let saved = a.save_state();

        let mut b = Cpu::new(0, CpuConfig::cortex_a57(0), 0);
        b.restore_state(&saved).unwrap();
        assert_eq!(b.save_state(), saved);
        assert_eq!(b.sys.get(SysReg::TTBR0_EL1), 0xdead_b000);
        assert_eq!((b.pc, b.x[5], b.icount), (0x4000_1234, 0x1234, 777));
        assert_eq!(b.irq.get(), crate::irq::IRQ);
    }

    #[test]
    fn unknown_register_and_missing_el_are_refused_without_change() {
        let a = Cpu::new(0, CpuConfig::cortex_a57(0), 0x4000_0000);
        let mut s = a.save_state();
        s.pc = 0x99;
        s.sysregs.push((SysRegId::new(3, 7, 15, 15, 7), 1));
        let mut b = Cpu::new(0, CpuConfig::cortex_a57(0), 0);
        assert!(matches!(b.restore_state(&s), Err(CoreStateError::UnknownSysReg(_))));
        assert_eq!(b.pc, 0);
        let mut s = a.save_state();
        s.pstate.el = 3;
        assert_eq!(b.restore_state(&s), Err(CoreStateError::BadEl(3)));
    }
}
