//! Synchronous and asynchronous exceptions: their syndromes (ESR_ELx) and
//! the architectural entry sequence.

use crate::state::Cpu;
use crate::sysreg::SysReg;

/// A memory-system fault status, as reported in the ISS's xFSC field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Address size fault at a translation level (0 for an address above
    /// the physical address range with the MMU off).
    AddressSize(u8),
    /// Translation fault at a level.
    Translation(u8),
    /// Access flag fault at a level.
    AccessFlag(u8),
    /// Permission fault at a level.
    Permission(u8),
    /// Synchronous external abort (nothing answered at the address).
    External,
    /// Synchronous external abort on a translation table walk at a level.
    WalkExternal(u8),
    /// Alignment fault.
    Alignment,
}

impl Fault {
    /// The 6-bit fault status code.
    pub fn fsc(self) -> u32 {
        match self {
            Fault::AddressSize(l) => u32::from(l & 3),
            Fault::Translation(l) => 0b000100 | u32::from(l & 3),
            Fault::AccessFlag(l) => 0b001000 | u32::from(l & 3),
            Fault::Permission(l) => 0b001100 | u32::from(l & 3),
            Fault::External => 0b010000,
            Fault::WalkExternal(l) => 0b010100 | u32::from(l & 3),
            Fault::Alignment => 0b100001,
        }
    }
}

/// An exception to be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exception {
    /// Unallocated, unimplemented or disallowed instruction.
    Undefined,
    /// SVC #imm (return address: the next instruction).
    Svc(u16),
    /// BRK #imm.
    Brk(u16),
    /// Instruction fetch fault at `va`.
    InstructionAbort {
        /// Faulting virtual address.
        va: u64,
        /// Fault kind.
        fault: Fault,
    },
    /// Data access fault at `va`.
    DataAbort {
        /// Faulting virtual address.
        va: u64,
        /// Fault kind.
        fault: Fault,
        /// The access was a write.
        write: bool,
    },
    /// PC not 4-byte aligned at fetch.
    PcAlignment,
    /// SP not 16-byte aligned when used as a load/store base.
    SpAlignment,
    /// PSTATE.IL was set (after an illegal exception return).
    IllegalState,
    /// An FP/SIMD instruction while CPACR_EL1.FPEN disables them.
    FpAccessTrap,
    /// An EL0 MSR/MRS/SYS trapped to EL1 by an SCTLR_EL1 control (UCT, UMA,
    /// DZE, UCI); `iss` from [`sysreg_trap_iss`].
    SysRegTrap {
        /// ISS: Op0, Op2, Op1, CRn, Rt, CRm, direction.
        iss: u32,
    },
    /// WFI (`wfe` false) or WFE at EL0 trapped by SCTLR_EL1.nTWI/nTWE.
    WfxTrap {
        /// The instruction was WFE.
        wfe: bool,
    },
}

/// The ISS of a trapped MSR/MRS/SYS (EC 0x18) from the instruction word
/// (system-instruction class `1101 0101 00 L op0 op1 CRn CRm op2 Rt`):
/// Op0 in 21:20, Op2 in 19:17, Op1 in 16:14, CRn in 13:10, Rt in 9:5,
/// CRm in 4:1 and the direction (1 = read) in 0. MSR (immediate) has
/// op0 = 0 and Rt = 31 in its encoding, which is what the ISS reports.
pub fn sysreg_trap_iss(raw: u32) -> u32 {
    let op0 = (raw >> 19) & 3;
    let op1 = (raw >> 16) & 7;
    let crn = (raw >> 12) & 0xf;
    let crm = (raw >> 8) & 0xf;
    let op2 = (raw >> 5) & 7;
    let rt = raw & 0x1f;
    let read = (raw >> 21) & 1;
    (op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | (rt << 5) | (crm << 1) | read
}

/// Exception class values (ESR_ELx.EC).
mod ec {
    pub const UNKNOWN: u32 = 0x00;
    pub const WFX: u32 = 0x01;
    pub const FP_ACCESS: u32 = 0x07;
    pub const ILLEGAL_STATE: u32 = 0x0e;
    pub const SVC64: u32 = 0x15;
    pub const SYSREG: u32 = 0x18;
    pub const IABT_LOWER: u32 = 0x20;
    pub const PC_ALIGN: u32 = 0x22;
    pub const DABT_LOWER: u32 = 0x24;
    pub const SP_ALIGN: u32 = 0x26;
    pub const BRK64: u32 = 0x3c;
}

impl Exception {
    /// ESR_ELx value (EC, IL = 1 for 32-bit instructions, ISS), given
    /// whether the exception comes from a lower EL.
    pub fn syndrome(self, from_lower: bool) -> u64 {
        let lower = u32::from(!from_lower); // same-EL classes are lower + 1
        let (class, iss) = match self {
            Exception::Undefined => (ec::UNKNOWN, 0),
            Exception::Svc(imm) => (ec::SVC64, u32::from(imm)),
            Exception::Brk(imm) => (ec::BRK64, u32::from(imm)),
            Exception::InstructionAbort { fault, .. } => (ec::IABT_LOWER + lower, fault.fsc()),
            Exception::DataAbort { fault, write, .. } => {
                (ec::DABT_LOWER + lower, fault.fsc() | (u32::from(write) << 6))
            }
            Exception::PcAlignment => (ec::PC_ALIGN, 0),
            Exception::SpAlignment => (ec::SP_ALIGN, 0),
            Exception::IllegalState => (ec::ILLEGAL_STATE, 0),
            // CV = 1, COND = 0b1110, as reported for AArch64 (and by QEMU).
            Exception::FpAccessTrap => (ec::FP_ACCESS, 0x1e0_0000),
            Exception::SysRegTrap { iss } => (ec::SYSREG, iss),
            // CV = 1, COND = 0b1110 as for FP; TI = 1 for WFE.
            Exception::WfxTrap { wfe } => (ec::WFX, 0x1e0_0000 | u32::from(wfe)),
        };
        u64::from((class << 26) | (1 << 25) | iss)
    }

    /// The fault address register value, for classes that set FAR.
    pub fn fault_address(self, pc: u64) -> Option<u64> {
        match self {
            Exception::InstructionAbort { va, .. } | Exception::DataAbort { va, .. } => Some(va),
            Exception::PcAlignment => Some(pc),
            _ => None,
        }
    }
}

/// The kinds of vector entry (offset within a 0x200 vector group).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VectorKind {
    /// Synchronous exception.
    Sync = 0x000,
    /// IRQ.
    Irq = 0x080,
    /// FIQ.
    Fiq = 0x100,
    /// SError.
    SError = 0x180,
}

impl Cpu {
    /// Takes `exc`, raised by the instruction at `pc`: saves PSTATE and the
    /// return address, writes the syndrome and jumps to the vector.
    pub fn take_exception(&mut self, exc: Exception, pc: u64) {
        let ret = match exc {
            Exception::Svc(_) => pc.wrapping_add(4),
            _ => pc,
        };
        let syndrome = exc.syndrome(self.pstate.el == 0);
        let far = exc.fault_address(pc);
        self.enter_exception(VectorKind::Sync, ret, Some(syndrome), far);
    }

    /// The architectural entry sequence (AArch64.TakeException) to EL1,
    /// the only exception level above EL0 this core implements so far.
    pub fn enter_exception(&mut self, kind: VectorKind, ret: u64, syndrome: Option<u64>, far: Option<u64>) {
        let target = 1u8.max(self.pstate.el);
        let base = if self.pstate.el < target {
            0x400
        } else if self.pstate.sp {
            0x200
        } else {
            0x000
        };
        let spsr = self.pstate.to_spsr();
        self.sys.set(SysReg::SPSR_EL1, spsr);
        self.sys.set(SysReg::ELR_EL1, ret);
        if let Some(s) = syndrome {
            self.sys.set(SysReg::ESR_EL1, s);
        }
        if let Some(f) = far {
            self.sys.set(SysReg::FAR_EL1, f);
        }
        self.pstate.el = target;
        self.pstate.sp = true;
        self.pstate.daif = 0xf;
        self.pstate.il = false;
        self.pstate.ss = false;
        self.monitor = None;
        self.pc = self.sys.get(SysReg::VBAR_EL1).wrapping_add(base + kind as u64);
    }

    /// ERET from EL1: restores PSTATE from SPSR_EL1 and jumps to ELR_EL1,
    /// or performs an illegal exception return (PSTATE.IL set) when SPSR
    /// names a mode this core cannot return to.
    pub fn exception_return(&mut self) {
        let spsr = self.sys.get(SysReg::SPSR_EL1);
        let elr = self.sys.get(SysReg::ELR_EL1);
        let m = (spsr & 0x1f) as u8;
        let target_el = (m >> 2) & 3;
        let legal = m & 0x10 == 0 // AArch64 only
            && target_el <= self.pstate.el
            && target_el <= 1 // EL2/EL3 not implemented
            && m & 0b10 == 0 // M[1] is RES0
            && !(target_el == 0 && m & 1 == 1); // EL0 has only SP_EL0
        self.monitor = None;
        self.pstate.set_from_spsr(spsr, legal);
        if legal {
            self.pstate.el = target_el;
            self.pstate.sp = m & 1 == 1;
        }
        self.pc = elr;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ISS of EC 0x18 from the instruction word: Op0, Op2, Op1, CRn, Rt,
    /// CRm, direction (values as the Arm ARM encodes them).
    #[test]
    fn trapped_system_instruction_syndromes() {
        let esr = |raw| {
            Exception::SysRegTrap {
                iss: sysreg_trap_iss(raw),
            }
            .syndrome(true)
        };
        // mrs x5, ctr_el0: op0 3, op1 3, CRn 0, CRm 0, op2 1, Rt 5, read.
        assert_eq!(esr(0xd53b_0025), 0x6232_c0a1);
        // msr daifset, #2: op0 0, op1 3, CRn 4, CRm 2, op2 6, Rt 31, write.
        assert_eq!(esr(0xd503_42df), 0x620c_d3e4);
        // dc zva, x0: op0 1, op1 3, CRn 7, CRm 4, op2 1, Rt 0, write.
        assert_eq!(esr(0xd50b_7420), 0x6212_dc08);
        // mrs x7, daif.
        assert_eq!(esr(0xd53b_4227), 0x6232_d0e5);
    }

    #[test]
    fn wfx_trap_syndromes() {
        // EC 0x01, IL, CV = 1, COND = 0b1110, TI = 0 (WFI) / 1 (WFE).
        assert_eq!(Exception::WfxTrap { wfe: false }.syndrome(true), 0x07e0_0000);
        assert_eq!(Exception::WfxTrap { wfe: true }.syndrome(true), 0x07e0_0001);
    }
}
