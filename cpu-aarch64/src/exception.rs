//! Synchronous and asynchronous exceptions: their syndromes (ESR_ELx) and
//! the architectural entry sequence.

use crate::irq;
use crate::state::Cpu;
use crate::sysreg::{cptr, hcr, scr, sctlr, SysReg};

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
    /// HVC #imm, EC 0x16 (return address: the next instruction).
    Hvc(u16),
    /// SMC #imm taken to EL3, EC 0x17 (return address: the next
    /// instruction).
    Smc(u16),
    /// SMC trapped to EL2 by HCR_EL2.TSC, EC 0x17 with the immediate
    /// (return address: the SMC itself, which did not execute).
    SmcTrap(u16),
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
    /// An FP/SIMD instruction disabled by CPACR_EL1.FPEN, CPTR_EL2.TFP or
    /// CPTR_EL3.TFP.
    FpAccessTrap,
    /// A trapped MSR/MRS/SYS (SCTLR_EL1 controls on EL0, HCR_EL2 and
    /// CNTHCTL_EL2 traps, CPTR_ELx.TCPAC); `iss` from [`sysreg_trap_iss`].
    SysRegTrap {
        /// ISS: Op0, Op2, Op1, CRn, Rt, CRm, direction.
        iss: u32,
    },
    /// WFI (`wfe` false) or WFE trapped by SCTLR_EL1.nTWI/nTWE (EL0),
    /// HCR_EL2.TWI/TWE or SCR_EL3.TWI/TWE.
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
    pub const HVC64: u32 = 0x16;
    pub const SMC64: u32 = 0x17;
    pub const SYSREG: u32 = 0x18;
    pub const IABT_LOWER: u32 = 0x20;
    pub const PC_ALIGN: u32 = 0x22;
    pub const DABT_LOWER: u32 = 0x24;
    pub const SP_ALIGN: u32 = 0x26;
    pub const SERROR: u32 = 0x2f;
    pub const BRK64: u32 = 0x3c;
}

/// ESR_ELx of an SError interrupt (physical or virtual): EC 0x2F, IL = 1,
/// ISS = 0 (IDS = 0: no RAS extension, so no further syndrome; VSESR_EL2
/// is not implemented).
pub const SERROR_SYNDROME: u64 = ((ec::SERROR as u64) << 26) | (1 << 25);

/// The internal interrupt-line bit for a virtual SError (HCR_EL2.VSE),
/// next to the `irq::` line bits.
pub const VSERROR: u32 = 1 << 5;

impl Exception {
    /// ESR_ELx value (EC, IL = 1 for 32-bit instructions, ISS), given
    /// whether the exception comes from a lower EL than the one taking it.
    pub fn syndrome(self, from_lower: bool) -> u64 {
        let lower = u32::from(!from_lower); // same-EL classes are lower + 1
        let (class, iss) = match self {
            Exception::Undefined => (ec::UNKNOWN, 0),
            Exception::Svc(imm) => (ec::SVC64, u32::from(imm)),
            Exception::Hvc(imm) => (ec::HVC64, u32::from(imm)),
            Exception::Smc(imm) | Exception::SmcTrap(imm) => (ec::SMC64, u32::from(imm)),
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

    /// The preferred return address for this exception raised by the
    /// instruction at `pc`: the next instruction for the calls (SVC, HVC,
    /// SMC to EL3), the instruction itself for everything else.
    pub fn preferred_return(self, pc: u64) -> u64 {
        match self {
            Exception::Svc(_) | Exception::Hvc(_) | Exception::Smc(_) => pc.wrapping_add(4),
            _ => pc,
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

/// The registers an exception level owns for taking and returning from
/// exceptions (index 0 unused).
const SPSR: [SysReg; 4] = [SysReg::SPSR_EL1, SysReg::SPSR_EL1, SysReg::SPSR_EL2, SysReg::SPSR_EL3];
const ELR: [SysReg; 4] = [SysReg::ELR_EL1, SysReg::ELR_EL1, SysReg::ELR_EL2, SysReg::ELR_EL3];
const ESR: [SysReg; 4] = [SysReg::ESR_EL1, SysReg::ESR_EL1, SysReg::ESR_EL2, SysReg::ESR_EL3];
const FAR: [SysReg; 4] = [SysReg::FAR_EL1, SysReg::FAR_EL1, SysReg::FAR_EL2, SysReg::FAR_EL3];
const VBAR: [SysReg; 4] = [SysReg::VBAR_EL1, SysReg::VBAR_EL1, SysReg::VBAR_EL2, SysReg::VBAR_EL3];
/// SCTLR of the translation regime of each EL (EL0 is in EL1&0).
const SCTLR: [SysReg; 4] = [
    SysReg::SCTLR_EL1,
    SysReg::SCTLR_EL1,
    SysReg::SCTLR_EL2,
    SysReg::SCTLR_EL3,
];

/// The registers of exception level `el` (1..=3): SPSR, ELR, ESR, FAR, VBAR.
pub fn el_regs(el: u8) -> (SysReg, SysReg, SysReg, SysReg, SysReg) {
    let i = usize::from(el & 3);
    (SPSR[i], ELR[i], ESR[i], FAR[i], VBAR[i])
}

/// One asynchronous exception source: its line bit, vector, PSTATE mask
/// bit (in DAIF bits 3:0), SCR_EL3 and HCR_EL2 routing bits, and whether
/// it is virtual.
struct Source {
    line: u32,
    kind: VectorKind,
    mask: u32,
    scr: u64,
    hcr: u64,
    virt: bool,
}

/// Sources in priority order (IMPLEMENTATION DEFINED; SError first, then
/// FIQ, then IRQ, physical before virtual).
const SOURCES: [Source; 6] = [
    Source {
        line: irq::SERROR,
        kind: VectorKind::SError,
        mask: 0b0100,
        scr: scr::EA,
        hcr: hcr::AMO,
        virt: false,
    },
    Source {
        line: irq::FIQ,
        kind: VectorKind::Fiq,
        mask: 0b0001,
        scr: scr::FIQ,
        hcr: hcr::FMO,
        virt: false,
    },
    Source {
        line: irq::IRQ,
        kind: VectorKind::Irq,
        mask: 0b0010,
        scr: scr::IRQ,
        hcr: hcr::IMO,
        virt: false,
    },
    Source {
        line: VSERROR,
        kind: VectorKind::SError,
        mask: 0b0100,
        scr: 0,
        hcr: hcr::AMO,
        virt: true,
    },
    Source {
        line: irq::VFIQ,
        kind: VectorKind::Fiq,
        mask: 0b0001,
        scr: 0,
        hcr: hcr::FMO,
        virt: true,
    },
    Source {
        line: irq::VIRQ,
        kind: VectorKind::Irq,
        mask: 0b0010,
        scr: 0,
        hcr: hcr::IMO,
        virt: true,
    },
];

impl Cpu {
    /// EL2 is implemented and enabled in the current security state.
    #[inline]
    pub fn el2_enabled(&self) -> bool {
        self.sys.el2_enabled()
    }

    /// SCTLR of the current translation regime (SCTLR_EL1 at EL0/EL1).
    #[inline]
    pub fn sctlr_current(&self) -> u64 {
        self.sys.get(SCTLR[usize::from(self.pstate.el & 3)])
    }

    /// The EL a synchronous exception "to EL1" really goes to from the
    /// current EL: EL2 from EL0 when HCR_EL2.TGE is set.
    #[inline]
    fn route_sync(&self, target: u8) -> u8 {
        if target == 1 && self.pstate.el == 0 && self.sys.hcr() & hcr::TGE != 0 {
            2
        } else {
            target.max(self.pstate.el).max(1)
        }
    }

    /// Takes `exc`, raised by the instruction at `pc`, at the EL the
    /// architecture routes it to by default: EL1 from EL0 (EL2 when
    /// HCR_EL2.TGE is set), else the current EL.
    pub fn take_exception(&mut self, exc: Exception, pc: u64) {
        self.take_exception_to(exc, pc, 1);
    }

    /// Takes `exc`, raised by the instruction at `pc`, at exception level
    /// `target` (1 meaning "EL1, or EL2 from EL0 under HCR_EL2.TGE"; never
    /// below the current EL): writes SPSR/ELR/ESR/FAR of the target and
    /// jumps to its vector.
    pub fn take_exception_to(&mut self, exc: Exception, pc: u64, target: u8) {
        let target = self.route_sync(target);
        let ret = exc.preferred_return(pc);
        let syndrome = exc.syndrome(self.pstate.el < target);
        let far = exc.fault_address(pc);
        self.enter_exception(VectorKind::Sync, target, ret, Some(syndrome), far);
    }

    /// The architectural entry sequence (AArch64.TakeException) to
    /// `target` (1..=3, not below the current EL): SPSR_ELx, ELR_ELx, the
    /// syndrome (ESR_ELx) and fault address (FAR_ELx) when given, PSTATE
    /// (DAIF set, SP_ELx selected, IL and SS cleared, PAN set on entry to
    /// EL1 when SCTLR_EL1.SPAN is clear), then PC = VBAR_ELx + the vector
    /// group (current EL with SP0 0x000, with SPx 0x200, lower EL AArch64
    /// 0x400; the AArch32 group 0x600 is never used) + `kind`.
    pub fn enter_exception(&mut self, kind: VectorKind, target: u8, ret: u64, syndrome: Option<u64>, far: Option<u64>) {
        let (spsr_r, elr_r, esr_r, far_r, vbar_r) = el_regs(target);
        let base = if self.pstate.el < target {
            0x400
        } else if self.pstate.sp {
            0x200
        } else {
            0x000
        };
        let spsr = self.pstate.to_spsr();
        self.sys.set(spsr_r, spsr);
        self.sys.set(elr_r, ret);
        if let Some(s) = syndrome {
            self.sys.set(esr_r, s);
        }
        if let Some(f) = far {
            self.sys.set(far_r, f);
        }
        self.pstate.el = target;
        self.pstate.sp = true;
        self.pstate.daif = 0xf;
        self.pstate.il = false;
        self.pstate.ss = false;
        if target == 1 && self.sys.get(SysReg::SCTLR_EL1) & sctlr::SPAN == 0 {
            self.pstate.pan = true;
        }
        self.monitor = None;
        self.pc = self.sys.get(vbar_r).wrapping_add(base + kind as u64);
    }

    /// Whether SPSR value `spsr` names a state the current EL may return
    /// to (the Arm ARM's IllegalExceptionReturn, for an AArch64-only core
    /// without Secure EL2 or VHE).
    fn legal_return(&self, spsr: u64) -> bool {
        let m = (spsr & 0x1f) as u8;
        let target = (m >> 2) & 3;
        let implemented = match target {
            2 => self.config.has_el2,
            3 => self.config.has_el3,
            _ => true,
        };
        m & 0x10 == 0 // AArch32 is not implemented
            && m & 0b10 == 0 // M[1] is RES0
            && implemented
            && target <= self.pstate.el
            && !(target == 0 && m & 1 == 1) // EL0 has only SP_EL0
            // No Secure EL2: EL2 only while SCR_EL3.NS is set.
            && !(target == 2 && self.config.has_el3 && self.sys.get(SysReg::SCR_EL3) & scr::NS == 0)
            // EL1 is unreachable while HCR_EL2.TGE is set.
            && !(target == 1 && self.sys.hcr() & hcr::TGE != 0)
    }

    /// ERET from the current EL (1..=3): restores PSTATE from SPSR_ELx and
    /// jumps to ELR_ELx (with the target regime's top-byte-ignore applied),
    /// or performs an illegal exception return when SPSR names a state the
    /// core cannot return to: EL and SPSel stay, PSTATE.IL is set, the rest
    /// of PSTATE still comes from SPSR and PC from ELR; the next
    /// instruction then takes an Illegal State exception (EC 0x0E).
    /// Clears the local exclusive monitor and sets the event register.
    pub fn exception_return(&mut self) {
        let (spsr_r, elr_r, ..) = el_regs(self.pstate.el);
        let spsr = self.sys.get(spsr_r);
        let elr = self.sys.get(elr_r);
        let legal = self.legal_return(spsr);
        self.monitor = None;
        self.event = true;
        self.pstate.set_from_spsr(spsr, legal);
        if legal {
            self.pstate.el = ((spsr >> 2) & 3) as u8;
            self.pstate.sp = spsr & 1 == 1;
        }
        self.pc = self.branch_target(elr);
    }

    /// The PC a branch to `va` sets (AArch64.BranchAddr): with the current
    /// regime's top-byte-ignore enabled for `va` (TCR_EL1.TBI0/TBI1 chosen
    /// by bit 55 at EL0/EL1, TCR_EL2/EL3.TBI at EL2/EL3), bits 63:56 become
    /// the sign extension of bit 55 (EL1&0) or zero (EL2, EL3).
    #[inline]
    pub fn branch_target(&self, va: u64) -> u64 {
        if va >> 55 == 0 {
            return va; // the usual low-half target: nothing to change
        }
        match self.pstate.el {
            0 | 1 => {
                let bit = if va >> 55 & 1 == 1 { 38 } else { 37 };
                if self.sys.get(SysReg::TCR_EL1) >> bit & 1 == 1 {
                    crate::isa::sext(va, 56)
                } else {
                    va
                }
            }
            el => {
                let tcr = if el == 2 { SysReg::TCR_EL2 } else { SysReg::TCR_EL3 };
                if self.sys.get(tcr) >> 20 & 1 == 1 {
                    va & 0x00ff_ffff_ffff_ffff
                } else {
                    va
                }
            }
        }
    }

    /// The EL a physical interrupt of `src` is routed to: EL3 by the
    /// SCR_EL3 bit, else EL2 by the HCR_EL2 bit or TGE (when EL2 is
    /// enabled), else EL1.
    fn physical_target(&self, src: &Source) -> u8 {
        if self.config.has_el3 && self.sys.get(SysReg::SCR_EL3) & src.scr != 0 {
            3
        } else if self.sys.hcr() & (src.hcr | hcr::TGE) != 0 {
            2
        } else {
            1
        }
    }

    /// Where `src` (asserted) would be taken now: `Some((target, masked))`,
    /// or `None` when it cannot be taken at this EL at all (routed below
    /// the current EL, or a virtual interrupt not enabled or outside
    /// Non-secure EL0/EL1). `masked` is whether PSTATE masks it: an
    /// interrupt to the current EL, or to EL1 from EL0, is masked by its
    /// PSTATE bit; one to a higher EL is not.
    fn interrupt_route(&self, src: &Source) -> Option<(u8, bool)> {
        let el = self.pstate.el;
        let target = if src.virt {
            let h = self.sys.hcr();
            if el > 1 || h & src.hcr == 0 || h & hcr::TGE != 0 {
                return None;
            }
            1
        } else {
            self.physical_target(src)
        };
        if target < el {
            return None;
        }
        let masked = (target == el || (target == 1 && el == 0)) && self.pstate.daif & src.mask != 0;
        Some((target, masked))
    }

    /// All asserted interrupt sources: the lines plus HCR_EL2.VI/VF/VSE
    /// (cached). Zero is the common case; otherwise an engine calls
    /// [`Cpu::take_pending_interrupt`] at the instruction boundary.
    #[inline]
    pub fn interrupt_lines(&self) -> u32 {
        self.irq.get() | self.sys.virt_pending
    }

    /// Takes the highest-priority interrupt among the asserted `lines`
    /// that is routed here and unmasked; returns whether one was taken.
    /// Called at an instruction boundary: the return address is the
    /// current PC (the next instruction to execute). IRQ and FIQ leave
    /// ESR_ELx alone; SErrors write [`SERROR_SYNDROME`], and taking a
    /// virtual SError clears HCR_EL2.VSE.
    #[cold]
    pub fn take_pending_interrupt(&mut self, lines: u32) -> bool {
        for src in &SOURCES {
            if lines & src.line == 0 {
                continue;
            }
            let Some((target, false)) = self.interrupt_route(src) else {
                continue;
            };
            let syndrome = (src.kind == VectorKind::SError).then_some(SERROR_SYNDROME);
            if src.line == VSERROR {
                let h = self.sys.get(SysReg::HCR_EL2);
                self.sys.set(SysReg::HCR_EL2, h & !hcr::VSE);
            }
            let ret = self.pc;
            self.enter_exception(src.kind, target, ret, syndrome, None);
            return true;
        }
        false
    }

    /// Whether an interrupt is pending that WFI/WFE wake up for: any
    /// asserted physical line (whatever PSTATE masks and routing say; an
    /// early wake-up is always allowed) or a virtual interrupt routed to
    /// this EL. The machine uses it to decide when a waiting core runs.
    pub fn interrupt_pending_for_wake(&self) -> bool {
        let lines = self.interrupt_lines();
        if lines & (irq::IRQ | irq::FIQ | irq::SERROR) != 0 {
            return true;
        }
        SOURCES
            .iter()
            .any(|s| s.virt && lines & s.line != 0 && self.interrupt_route(s).is_some())
    }

    /// The EL an FP/SIMD instruction traps to (EC 0x07) at the current EL,
    /// if it does: CPACR_EL1.FPEN at EL0/EL1 (to EL1, EL2 under TGE),
    /// CPTR_EL2.TFP at EL0..EL2 with EL2 enabled, CPTR_EL3.TFP anywhere.
    #[inline]
    pub fn fp_trap(&self) -> Option<u8> {
        let el = self.pstate.el;
        if el <= 1 && !crate::sysreg::fp_enabled(self.sys.get(SysReg::CPACR_EL1), el) {
            return Some(1);
        }
        if !self.config.has_el2 && !self.config.has_el3 {
            return None;
        }
        if el <= 2 && self.el2_enabled() && self.sys.get(SysReg::CPTR_EL2) & cptr::TFP != 0 {
            return Some(2);
        }
        if self.config.has_el3 && self.sys.get(SysReg::CPTR_EL3) & cptr::TFP != 0 {
            return Some(3);
        }
        None
    }

    /// The EL a WFI (`wfe` false) or WFE traps to at the current EL, if it
    /// does: SCTLR_EL1.nTWI/nTWE at EL0 (to EL1, EL2 under TGE),
    /// HCR_EL2.TWI/TWE at EL0/EL1, SCR_EL3.TWI/TWE below EL3.
    pub fn wfx_trap(&self, wfe: bool) -> Option<u8> {
        let el = self.pstate.el;
        let (ntw, htw, stw) = if wfe {
            (sctlr::NTWE, hcr::TWE, scr::TWE)
        } else {
            (sctlr::NTWI, hcr::TWI, scr::TWI)
        };
        if el == 0 && self.sys.get(SysReg::SCTLR_EL1) & ntw == 0 {
            return Some(1);
        }
        if el <= 1 && self.sys.hcr() & htw != 0 {
            return Some(2);
        }
        if self.config.has_el3 && el < 3 && self.sys.get(SysReg::SCR_EL3) & stw != 0 {
            return Some(3);
        }
        None
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

#[cfg(test)]
mod el_tests;
