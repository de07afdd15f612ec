//! The system register file: one table row per register (encoding, name,
//! EL0 access, read/write rules, reset value). MRS/MSR of anything not in
//! the table is UNDEFINED to the guest and logged once with its encoding,
//! except reads of the unallocated ID register space (op0 = 3, op1 = 0,
//! CRn = 0, CRm = 1..7), which the architecture makes RAZ at EL1 and above.
//! The GICv3 ICC_* registers are not in the table: the interpreter forwards
//! them to the bus (`Bus::gic_sysreg_read/write`) when the core has the
//! system-register interface. See [`SysRegs`] for the per-EL rules.

use crate::sem::SysRegId;
use crate::state::{CpuConfig, PState};
use crate::timer::{ctl, Timer};
use std::collections::HashSet;

/// How software may access a register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read and write.
    RW,
    /// Read only (MSR is UNDEFINED).
    RO,
    /// Write only (MRS is UNDEFINED).
    WO,
}

/// Who may access a register from EL0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum El0 {
    /// Never (UNDEFINED at EL0).
    No,
    /// Always.
    Yes,
    /// When SCTLR_EL1.UMA is set (DAIF).
    Uma,
    /// When SCTLR_EL1.UCT is set (CTR_EL0).
    Uct,
    /// Read always, write never (TPIDRRO_EL0).
    ReadOnly,
    /// CNTFRQ_EL0: read when CNTKCTL_EL1.EL0PCTEN or EL0VCTEN is set.
    CntFrq,
    /// CNTPCT_EL0: when CNTKCTL_EL1.EL0PCTEN is set.
    CntPct,
    /// CNTVCT_EL0: when CNTKCTL_EL1.EL0VCTEN is set.
    CntVct,
    /// CNTP_*_EL0: when CNTKCTL_EL1.EL0PTEN is set.
    CntP,
    /// CNTV_*_EL0: when CNTKCTL_EL1.EL0VTEN is set.
    CntV,
}

/// One row of the register table.
#[derive(Debug)]
pub struct SysRegInfo {
    /// The register.
    pub reg: SysReg,
    /// Architectural name.
    pub name: &'static str,
    /// Encoding.
    pub id: SysRegId,
    /// EL0 access rule.
    pub el0: El0,
    /// Access rule at EL1.
    pub access: Access,
}

macro_rules! sysregs {
    ($($name:ident = ($op0:expr, $op1:expr, $crn:expr, $crm:expr, $op2:expr), $el0:ident, $acc:ident;)*) => {
        /// The implemented system registers.
        #[allow(non_camel_case_types, clippy::upper_case_acronyms, missing_docs)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum SysReg { $($name),* }

        /// The register table, in `SysReg` order.
        pub static SYSREGS: &[SysRegInfo] = &[
            $(SysRegInfo {
                reg: SysReg::$name,
                name: stringify!($name),
                id: SysRegId::new($op0, $op1, $crn, $crm, $op2),
                el0: El0::$el0,
                access: Access::$acc,
            }),*
        ];
    };
}

sysregs! {
    MIDR_EL1 = (3, 0, 0, 0, 0), No, RO;
    MPIDR_EL1 = (3, 0, 0, 0, 5), No, RO;
    REVIDR_EL1 = (3, 0, 0, 0, 6), No, RO;
    ID_AA64PFR0_EL1 = (3, 0, 0, 4, 0), No, RO;
    ID_AA64PFR1_EL1 = (3, 0, 0, 4, 1), No, RO;
    ID_AA64DFR0_EL1 = (3, 0, 0, 5, 0), No, RO;
    ID_AA64DFR1_EL1 = (3, 0, 0, 5, 1), No, RO;
    ID_AA64AFR0_EL1 = (3, 0, 0, 5, 4), No, RO;
    ID_AA64AFR1_EL1 = (3, 0, 0, 5, 5), No, RO;
    ID_AA64ISAR0_EL1 = (3, 0, 0, 6, 0), No, RO;
    ID_AA64ISAR1_EL1 = (3, 0, 0, 6, 1), No, RO;
    ID_AA64MMFR0_EL1 = (3, 0, 0, 7, 0), No, RO;
    ID_AA64MMFR1_EL1 = (3, 0, 0, 7, 1), No, RO;
    ID_AA64MMFR2_EL1 = (3, 0, 0, 7, 2), No, RO;
    SCTLR_EL1 = (3, 0, 1, 0, 0), No, RW;
    ACTLR_EL1 = (3, 0, 1, 0, 1), No, RW;
    CPACR_EL1 = (3, 0, 1, 0, 2), No, RW;
    TTBR0_EL1 = (3, 0, 2, 0, 0), No, RW;
    TTBR1_EL1 = (3, 0, 2, 0, 1), No, RW;
    TCR_EL1 = (3, 0, 2, 0, 2), No, RW;
    SPSR_EL1 = (3, 0, 4, 0, 0), No, RW;
    ELR_EL1 = (3, 0, 4, 0, 1), No, RW;
    SP_EL0 = (3, 0, 4, 1, 0), No, RW;
    SPSEL = (3, 0, 4, 2, 0), No, RW;
    CURRENTEL = (3, 0, 4, 2, 2), No, RO;
    NZCV = (3, 3, 4, 2, 0), Yes, RW;
    FPCR = (3, 3, 4, 4, 0), Yes, RW;
    FPSR = (3, 3, 4, 4, 1), Yes, RW;
    DAIF = (3, 3, 4, 2, 1), Uma, RW;
    AFSR0_EL1 = (3, 0, 5, 1, 0), No, RW;
    AFSR1_EL1 = (3, 0, 5, 1, 1), No, RW;
    ESR_EL1 = (3, 0, 5, 2, 0), No, RW;
    FAR_EL1 = (3, 0, 6, 0, 0), No, RW;
    PAR_EL1 = (3, 0, 7, 4, 0), No, RW;
    MAIR_EL1 = (3, 0, 10, 2, 0), No, RW;
    AMAIR_EL1 = (3, 0, 10, 3, 0), No, RW;
    VBAR_EL1 = (3, 0, 12, 0, 0), No, RW;
    CONTEXTIDR_EL1 = (3, 0, 13, 0, 1), No, RW;
    TPIDR_EL1 = (3, 0, 13, 0, 4), No, RW;
    TPIDR_EL0 = (3, 3, 13, 0, 2), Yes, RW;
    TPIDRRO_EL0 = (3, 3, 13, 0, 3), ReadOnly, RW;
    CTR_EL0 = (3, 3, 0, 0, 1), Uct, RO;
    DCZID_EL0 = (3, 3, 0, 0, 7), Yes, RO;
    CCSIDR_EL1 = (3, 1, 0, 0, 0), No, RO;
    CLIDR_EL1 = (3, 1, 0, 0, 1), No, RO;
    CSSELR_EL1 = (3, 2, 0, 0, 0), No, RW;
    PAN = (3, 0, 4, 2, 3), No, RW;
    // Self-hosted debug (op0 = 2). Breakpoint and watchpoint registers are
    // storage only: nothing fires yet (the gdb stub will use them).
    MDSCR_EL1 = (2, 0, 0, 2, 2), No, RW;
    OSLAR_EL1 = (2, 0, 1, 0, 4), No, WO;
    OSLSR_EL1 = (2, 0, 1, 1, 4), No, RO;
    OSDLR_EL1 = (2, 0, 1, 3, 4), No, RW;
    MDCCINT_EL1 = (2, 0, 0, 2, 0), No, RW;
    MDCCSR_EL0 = (2, 3, 0, 1, 0), Yes, RO;
    MDRAR_EL1 = (2, 0, 1, 0, 0), No, RO;
    DBGPRCR_EL1 = (2, 0, 1, 4, 4), No, RW;
    DBGCLAIMSET_EL1 = (2, 0, 7, 8, 6), No, RW;
    DBGCLAIMCLR_EL1 = (2, 0, 7, 9, 6), No, RW;
    DBGAUTHSTATUS_EL1 = (2, 0, 7, 14, 6), No, RO;
    DBGBVR0_EL1 = (2, 0, 0, 0, 4), No, RW;
    DBGBCR0_EL1 = (2, 0, 0, 0, 5), No, RW;
    DBGBVR1_EL1 = (2, 0, 0, 1, 4), No, RW;
    DBGBCR1_EL1 = (2, 0, 0, 1, 5), No, RW;
    DBGBVR2_EL1 = (2, 0, 0, 2, 4), No, RW;
    DBGBCR2_EL1 = (2, 0, 0, 2, 5), No, RW;
    DBGBVR3_EL1 = (2, 0, 0, 3, 4), No, RW;
    DBGBCR3_EL1 = (2, 0, 0, 3, 5), No, RW;
    DBGBVR4_EL1 = (2, 0, 0, 4, 4), No, RW;
    DBGBCR4_EL1 = (2, 0, 0, 4, 5), No, RW;
    DBGBVR5_EL1 = (2, 0, 0, 5, 4), No, RW;
    DBGBCR5_EL1 = (2, 0, 0, 5, 5), No, RW;
    DBGWVR0_EL1 = (2, 0, 0, 0, 6), No, RW;
    DBGWCR0_EL1 = (2, 0, 0, 0, 7), No, RW;
    DBGWVR1_EL1 = (2, 0, 0, 1, 6), No, RW;
    DBGWCR1_EL1 = (2, 0, 0, 1, 7), No, RW;
    DBGWVR2_EL1 = (2, 0, 0, 2, 6), No, RW;
    DBGWCR2_EL1 = (2, 0, 0, 2, 7), No, RW;
    DBGWVR3_EL1 = (2, 0, 0, 3, 6), No, RW;
    DBGWCR3_EL1 = (2, 0, 0, 3, 7), No, RW;
    // Generic timer (timer.rs). The EL2 and secure registers exist only
    // when the core implements those ELs.
    CNTFRQ_EL0 = (3, 3, 14, 0, 0), CntFrq, RW;
    CNTPCT_EL0 = (3, 3, 14, 0, 1), CntPct, RO;
    CNTVCT_EL0 = (3, 3, 14, 0, 2), CntVct, RO;
    CNTP_TVAL_EL0 = (3, 3, 14, 2, 0), CntP, RW;
    CNTP_CTL_EL0 = (3, 3, 14, 2, 1), CntP, RW;
    CNTP_CVAL_EL0 = (3, 3, 14, 2, 2), CntP, RW;
    CNTV_TVAL_EL0 = (3, 3, 14, 3, 0), CntV, RW;
    CNTV_CTL_EL0 = (3, 3, 14, 3, 1), CntV, RW;
    CNTV_CVAL_EL0 = (3, 3, 14, 3, 2), CntV, RW;
    CNTKCTL_EL1 = (3, 0, 14, 1, 0), No, RW;
    CNTVOFF_EL2 = (3, 4, 14, 0, 3), No, RW;
    CNTHCTL_EL2 = (3, 4, 14, 1, 0), No, RW;
    CNTHP_TVAL_EL2 = (3, 4, 14, 2, 0), No, RW;
    CNTHP_CTL_EL2 = (3, 4, 14, 2, 1), No, RW;
    CNTHP_CVAL_EL2 = (3, 4, 14, 2, 2), No, RW;
    CNTPS_TVAL_EL1 = (3, 7, 14, 2, 0), No, RW;
    CNTPS_CTL_EL1 = (3, 7, 14, 2, 1), No, RW;
    CNTPS_CVAL_EL1 = (3, 7, 14, 2, 2), No, RW;
    // EL2 (op1 = 4): present only when the core implements EL2.
    VPIDR_EL2 = (3, 4, 0, 0, 0), No, RW;
    VMPIDR_EL2 = (3, 4, 0, 0, 5), No, RW;
    SCTLR_EL2 = (3, 4, 1, 0, 0), No, RW;
    ACTLR_EL2 = (3, 4, 1, 0, 1), No, RW;
    HCR_EL2 = (3, 4, 1, 1, 0), No, RW;
    MDCR_EL2 = (3, 4, 1, 1, 1), No, RW;
    CPTR_EL2 = (3, 4, 1, 1, 2), No, RW;
    HSTR_EL2 = (3, 4, 1, 1, 3), No, RW;
    HACR_EL2 = (3, 4, 1, 1, 7), No, RW;
    TTBR0_EL2 = (3, 4, 2, 0, 0), No, RW;
    TCR_EL2 = (3, 4, 2, 0, 2), No, RW;
    VTTBR_EL2 = (3, 4, 2, 1, 0), No, RW;
    VTCR_EL2 = (3, 4, 2, 1, 2), No, RW;
    SPSR_EL2 = (3, 4, 4, 0, 0), No, RW;
    ELR_EL2 = (3, 4, 4, 0, 1), No, RW;
    SP_EL1 = (3, 4, 4, 1, 0), No, RW;
    AFSR0_EL2 = (3, 4, 5, 1, 0), No, RW;
    AFSR1_EL2 = (3, 4, 5, 1, 1), No, RW;
    ESR_EL2 = (3, 4, 5, 2, 0), No, RW;
    FAR_EL2 = (3, 4, 6, 0, 0), No, RW;
    HPFAR_EL2 = (3, 4, 6, 0, 4), No, RW;
    MAIR_EL2 = (3, 4, 10, 2, 0), No, RW;
    AMAIR_EL2 = (3, 4, 10, 3, 0), No, RW;
    VBAR_EL2 = (3, 4, 12, 0, 0), No, RW;
    TPIDR_EL2 = (3, 4, 13, 0, 2), No, RW;
    // EL3 (op1 = 6): present only when the core implements EL3.
    SCTLR_EL3 = (3, 6, 1, 0, 0), No, RW;
    ACTLR_EL3 = (3, 6, 1, 0, 1), No, RW;
    SCR_EL3 = (3, 6, 1, 1, 0), No, RW;
    CPTR_EL3 = (3, 6, 1, 1, 2), No, RW;
    MDCR_EL3 = (3, 6, 1, 3, 1), No, RW;
    TTBR0_EL3 = (3, 6, 2, 0, 0), No, RW;
    TCR_EL3 = (3, 6, 2, 0, 2), No, RW;
    SPSR_EL3 = (3, 6, 4, 0, 0), No, RW;
    ELR_EL3 = (3, 6, 4, 0, 1), No, RW;
    SP_EL2 = (3, 6, 4, 1, 0), No, RW;
    AFSR0_EL3 = (3, 6, 5, 1, 0), No, RW;
    AFSR1_EL3 = (3, 6, 5, 1, 1), No, RW;
    ESR_EL3 = (3, 6, 5, 2, 0), No, RW;
    FAR_EL3 = (3, 6, 6, 0, 0), No, RW;
    MAIR_EL3 = (3, 6, 10, 2, 0), No, RW;
    AMAIR_EL3 = (3, 6, 10, 3, 0), No, RW;
    VBAR_EL3 = (3, 6, 12, 0, 0), No, RW;
    RVBAR_EL3 = (3, 6, 12, 0, 1), No, RO;
    TPIDR_EL3 = (3, 6, 13, 0, 2), No, RW;
}

impl SysReg {
    /// The table row of this register.
    pub fn info(self) -> &'static SysRegInfo {
        &SYSREGS[self as usize]
    }

    /// The register with encoding `id`, if implemented.
    pub fn from_id(id: SysRegId) -> Option<SysReg> {
        SYSREGS.iter().find(|r| r.id == id).map(|r| r.reg)
    }
}

/// SCTLR_ELx bits used by the core.
pub mod sctlr {
    /// MMU enable.
    pub const M: u64 = 1 << 0;
    /// Alignment check enable.
    pub const A: u64 = 1 << 1;
    /// SP alignment check at EL1.
    pub const SA: u64 = 1 << 3;
    /// SP alignment check at EL0.
    pub const SA0: u64 = 1 << 4;
    /// EL0 access to DAIF.
    pub const UMA: u64 = 1 << 9;
    /// EL0 access to CTR_EL0.
    pub const UCT: u64 = 1 << 15;
    /// EL0 DC ZVA allowed.
    pub const DZE: u64 = 1 << 14;
    /// EL0 WFI not trapped.
    pub const NTWI: u64 = 1 << 16;
    /// EL0 WFE not trapped.
    pub const NTWE: u64 = 1 << 18;
    /// SCTLR_EL1.SPAN: when clear, taking an exception to EL1 sets PSTATE.PAN.
    pub const SPAN: u64 = 1 << 23;
    /// EL0 cache maintenance by VA allowed.
    pub const UCI: u64 = 1 << 26;
    /// The RES1 bits of SCTLR_EL2 (without E2H) and SCTLR_EL3: 29, 28, 23,
    /// 22, 18, 16, 11, 5, 4. They read as one whatever is written.
    pub const EL2_EL3_RES1: u64 = 0x30c5_0830;
}

/// HCR_EL2 bits used by the core.
pub mod hcr {
    /// FIQs routed to EL2; enables virtual FIQs.
    pub const FMO: u64 = 1 << 3;
    /// IRQs routed to EL2; enables virtual IRQs.
    pub const IMO: u64 = 1 << 4;
    /// SErrors routed to EL2; enables virtual SErrors.
    pub const AMO: u64 = 1 << 5;
    /// Virtual FIQ pending.
    pub const VF: u64 = 1 << 6;
    /// Virtual IRQ pending.
    pub const VI: u64 = 1 << 7;
    /// Virtual SError pending (cleared when taken).
    pub const VSE: u64 = 1 << 8;
    /// Trap WFI at EL0/EL1.
    pub const TWI: u64 = 1 << 13;
    /// Trap WFE at EL0/EL1.
    pub const TWE: u64 = 1 << 14;
    /// Trap ID group 2 (CTR_EL0, CCSIDR_EL1, CLIDR_EL1, CSSELR_EL1).
    pub const TID2: u64 = 1 << 17;
    /// Trap ID group 3 reads (the ID_* register space).
    pub const TID3: u64 = 1 << 18;
    /// Trap SMC at EL1.
    pub const TSC: u64 = 1 << 19;
    /// Trap ACTLR_EL1 accesses.
    pub const TACR: u64 = 1 << 21;
    /// Trap data cache maintenance by set/way.
    pub const TSW: u64 = 1 << 22;
    /// Trap data cache maintenance to the point of coherency.
    pub const TPC: u64 = 1 << 23;
    /// Trap cache maintenance to the point of unification.
    pub const TPU: u64 = 1 << 24;
    /// Trap TLB maintenance at EL1.
    pub const TTLB: u64 = 1 << 25;
    /// Trap EL1 writes of the virtual memory controls.
    pub const TVM: u64 = 1 << 26;
    /// Trap general exceptions: EL0 exceptions go to EL2.
    pub const TGE: u64 = 1 << 27;
    /// HVC disabled (when EL3 is not implemented).
    pub const HCD: u64 = 1 << 29;
    /// Trap EL1 reads of the virtual memory controls.
    pub const TRVM: u64 = 1 << 30;
    /// EL1 is AArch64: RES1 here (AArch32 is not implemented).
    pub const RW: u64 = 1 << 31;
    /// Bits software can change: 33:0 (E2H and later features are RES0).
    pub const WRITABLE: u64 = 0x3_ffff_ffff;
}

/// SCR_EL3 bits used by the core.
pub mod scr {
    /// Non-secure: EL0/EL1 (and EL2) run in Non-secure state.
    pub const NS: u64 = 1 << 0;
    /// IRQs routed to EL3.
    pub const IRQ: u64 = 1 << 1;
    /// FIQs routed to EL3.
    pub const FIQ: u64 = 1 << 2;
    /// External aborts and SErrors routed to EL3.
    pub const EA: u64 = 1 << 3;
    /// Bits 5:4 are RES1.
    pub const RES1: u64 = 3 << 4;
    /// SMC disabled (UNDEFINED at EL1 and above).
    pub const SMD: u64 = 1 << 7;
    /// HVC enabled.
    pub const HCE: u64 = 1 << 8;
    /// Lower ELs are AArch64: RES1 here (AArch32 is not implemented).
    pub const RW: u64 = 1 << 10;
    /// Trap WFI below EL3.
    pub const TWI: u64 = 1 << 12;
    /// Trap WFE below EL3.
    pub const TWE: u64 = 1 << 13;
    /// Bits software can change: NS, IRQ, FIQ, EA, SMD, HCE, SIF, ST,
    /// TWI, TWE.
    pub const WRITABLE: u64 = 0x3b8f;
}

/// CPTR_EL2 / CPTR_EL3 bits.
pub mod cptr {
    /// Trap FP/SIMD (EC 0x07).
    pub const TFP: u64 = 1 << 10;
    /// Trap trace register accesses (stored; no trace unit).
    pub const TTA: u64 = 1 << 20;
    /// Trap CPACR_EL1 (and, for CPTR_EL3, CPTR_EL2) accesses.
    pub const TCPAC: u64 = 1 << 31;
    /// The RES1 bits of CPTR_EL2 (without E2H): 13:12 and 9:0.
    pub const EL2_RES1: u64 = 0x33ff;
}

/// FPCR fields.
pub mod fpcr {
    /// Alternative half-precision format.
    pub const AHP: u64 = 1 << 26;
    /// Default NaN mode.
    pub const DN: u64 = 1 << 25;
    /// Flush-to-zero mode.
    pub const FZ: u64 = 1 << 24;
    /// Rounding mode field shift (bits 23:22).
    pub const RMODE_SHIFT: u32 = 22;
    /// Bits software can change: AHP, DN, FZ, RMode. Floating-point
    /// exception trapping is not implemented, so the trap enables are RAZ/WI;
    /// FZ16 is RES0 without FEAT_FP16.
    pub const WRITABLE: u64 = AHP | DN | FZ | (3 << RMODE_SHIFT);
}

/// FPSR fields.
pub mod fpsr {
    /// Invalid operation (cumulative).
    pub const IOC: u32 = 1 << 0;
    /// Division by zero.
    pub const DZC: u32 = 1 << 1;
    /// Overflow.
    pub const OFC: u32 = 1 << 2;
    /// Underflow.
    pub const UFC: u32 = 1 << 3;
    /// Inexact.
    pub const IXC: u32 = 1 << 4;
    /// Input denormal (flushed to zero).
    pub const IDC: u32 = 1 << 7;
    /// Saturation (AdvSIMD integer).
    pub const QC: u32 = 1 << 27;
    /// Bits software can change (N, Z, C, V are the AArch32 comparison flags).
    pub const WRITABLE: u64 = 0xf800_009f;
}

/// CPACR_EL1.FPEN: 0b11 lets EL0 and EL1 use FP/SIMD, 0b01 only EL1.
pub fn fp_enabled(cpacr: u64, el: u8) -> bool {
    match (cpacr >> 20) & 3 {
        3 => true,
        1 => el >= 1,
        _ => false,
    }
}

/// Why an MRS/MSR failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SysRegError {
    /// UNDEFINED to the guest.
    Undefined,
    /// Trapped (EC 0x18) to this exception level: 1 for the SCTLR_EL1 /
    /// CNTKCTL_EL1 controls on EL0 (the caller routes it to EL2 when
    /// HCR_EL2.TGE is set), 2 for HCR_EL2 / CNTHCTL_EL2 / CPTR_EL2 traps,
    /// 3 for CPTR_EL3 traps.
    Trap(u8),
}

/// Values of the plain (storage-backed) registers of one core. PSTATE
/// views (NZCV, DAIF, SPSel, CurrentEL, PAN) and SP_EL0..SP_EL2 live in
/// the core state.
///
/// Access rules follow the encoding: op1 = 0, 1, 2 need EL1; op1 = 3 is
/// EL0-accessible as the table's [`El0`] column says; op1 = 4 needs EL2,
/// op1 = 6 EL3; op1 = 7 (CNTPS_*) is EL3-only because Secure EL1 is not
/// modelled; op1 = 5 (the E2H aliases) is UNDEFINED. Registers of an EL the
/// core does not implement are UNDEFINED, except that EL2 registers read as
/// zero and ignore writes at EL3 when EL2 is absent (the Arm ARM's "RES0
/// from EL3"), so firmware that touches them unconditionally still runs.
/// PMU registers are not implemented (ID_AA64DFR0_EL1.PMUVer = 0): UNDEFINED.
#[derive(Clone, Debug)]
pub struct SysRegs {
    vals: Vec<u64>,
    pub(crate) warned: HashSet<SysRegId>,
    /// The system counter's source (shared by the machine's cores).
    pub time: crate::timer::TimeBase,
    has_el2: bool,
    has_el3: bool,
    /// The virtual interrupts HCR_EL2 asserts *and* enables
    /// (`irq::VIRQ` for VI with IMO, `irq::VFIQ` for VF with FMO,
    /// [`crate::exception::VSERROR`] for VSE with AMO), kept in step with
    /// HCR_EL2 by [`SysRegs::set`] so the per-instruction interrupt check
    /// is one load.
    pub(crate) virt_pending: u32,
    /// Where register writes that may change a timer output publish the
    /// outputs ([`SysRegs::publish_timers`]); set by the machine, kept
    /// across [`crate::Cpu::power_on`].
    pub timer_sink: Option<crate::timer::TimerSink>,
}

/// Bytes zeroed by DC ZVA: 4 << DCZID_EL0.BS words.
pub const DCZVA_BYTES: u64 = 64;

/// The bits of SPSR_ELx that hold state: NZCV, PAN, SS, IL, the AArch32
/// GE bits (kept as written), DAIF and M[4:0].
const SPSR_MASK: u64 = 0xf07f_03df;

/// HCR_EL2.TVM/TRVM: the EL1 virtual-memory control registers.
fn is_vm_control(r: SysReg) -> bool {
    use SysReg::*;
    matches!(
        r,
        SCTLR_EL1
            | TTBR0_EL1
            | TTBR1_EL1
            | TCR_EL1
            | ESR_EL1
            | FAR_EL1
            | AFSR0_EL1
            | AFSR1_EL1
            | MAIR_EL1
            | AMAIR_EL1
            | CONTEXTIDR_EL1
    )
}

/// The ID register space (op0 = 3, op1 = 0, CRn = 0, CRm = 1..7): HCR_EL2
/// TID3 traps its reads, and unallocated encodings in it read as zero.
fn is_id_group3(id: SysRegId) -> bool {
    let (op0, op1, crn, crm, _) = id.fields();
    op0 == 3 && op1 == 0 && crn == 0 && (1..=7).contains(&crm)
}

impl SysRegs {
    /// Reset values for a core with configuration `cfg`.
    pub fn new(cfg: &CpuConfig) -> Self {
        let mut s = SysRegs {
            vals: vec![0; SYSREGS.len()],
            warned: HashSet::new(),
            time: cfg.time.clone(),
            has_el2: cfg.has_el2,
            has_el3: cfg.has_el3,
            virt_pending: 0,
            timer_sink: None,
        };
        s.set(SysReg::CNTFRQ_EL0, cfg.time.freq());
        s.set(SysReg::MIDR_EL1, cfg.midr);
        s.set(SysReg::MPIDR_EL1, cfg.mpidr);
        s.set(SysReg::VPIDR_EL2, cfg.midr);
        s.set(SysReg::VMPIDR_EL2, cfg.mpidr);
        // EL0 and EL1 AArch64 only (bits 3:0, 7:4 = 1); EL2 (11:8) and EL3
        // (15:12) AArch64 only when implemented; FP and AdvSIMD implemented
        // without half-precision arithmetic (fields 19:16 and 23:20 = 0);
        // GIC (27:24) = 1 with the system-register CPU interface; no SVE,
        // no RAS.
        s.set(
            SysReg::ID_AA64PFR0_EL1,
            0x11 | u64::from(cfg.has_el2) << 8 | u64::from(cfg.has_el3) << 12 | u64::from(cfg.gic_sysregs) << 24,
        );
        // ISAR0: AES with PMULL (bits 7:4 = 2), SHA1 (11:8 = 1), SHA2 with
        // SHA-256 only (15:12 = 1), CRC32 (19:16 = 1), LSE atomics (23:20 = 2).
        s.set(
            SysReg::ID_AA64ISAR0_EL1,
            (2 << 20) | (1 << 16) | (1 << 12) | (1 << 8) | (2 << 4),
        );
        // ISAR1: LDAPR (LRCPC, bits 23:20 = 1). No PAC, BTI, etc.
        s.set(SysReg::ID_AA64ISAR1_EL1, 1 << 20);
        // 48-bit PA range, 16-bit ASIDs (ASIDBits 7:4 = 2, TCR_EL1.AS
        // selects), 4/16/64 KiB granules at stage 1 (TGran4 = 0,
        // TGran64 = 0, TGran16 = 1).
        s.set(SysReg::ID_AA64MMFR0_EL1, (1 << 20) | (2 << 4) | 5);
        // MMFR1: PAN with AT S1E1RP/WP (bits 23:20 = 2, FEAT_PAN2);
        // 8-bit VMIDs, no VHE, no hardware A/D updates.
        s.set(SysReg::ID_AA64MMFR1_EL1, 2 << 20);
        // Debug architecture v8.0 (3:0 = 6), no PMU (PMUVer 11:8 = 0),
        // 6 breakpoints (BRPs 15:12 = 5), 4 watchpoints (WRPs 23:20 = 3),
        // 2 of the breakpoints context-aware (CTX_CMPs 31:28 = 1).
        s.set(SysReg::ID_AA64DFR0_EL1, (1 << 28) | (3 << 20) | (5 << 12) | 6);
        // The Cortex-A57 reset value QEMU uses: RES1 bits, SA, SA0, ...
        s.set(SysReg::SCTLR_EL1, 0x00c5_0838);
        s.set(SysReg::SCTLR_EL2, sctlr::EL2_EL3_RES1);
        s.set(SysReg::SCTLR_EL3, sctlr::EL2_EL3_RES1);
        // EL1 is AArch64 (RW is RES1); everything else off, so an EL2 that
        // nobody programs is transparent.
        s.set(SysReg::HCR_EL2, hcr::RW);
        // Secure (NS = 0), nothing routed to EL3, RES1 bits and RW set.
        s.set(SysReg::SCR_EL3, scr::RES1 | scr::RW);
        s.set(SysReg::CPTR_EL2, cptr::EL2_RES1);
        // EL1PCTEN/EL1PCEN set: EL0/EL1 physical counter and timer accesses
        // are not trapped until EL2 software asks for it.
        s.set(SysReg::CNTHCTL_EL2, 3);
        // IminLine = DminLine = 4 words << 4 = 64 bytes, VIPT I-cache.
        s.set(SysReg::CTR_EL0, 0x8444_c004);
        // DC ZVA permitted, block of 2^4 words = 64 bytes.
        s.set(SysReg::DCZID_EL0, 4);
        // One level of separate I and D caches, LoC = LoUU = LoUIS = 1.
        s.set(SysReg::CLIDR_EL1, 0x0a20_0023);
        s.set(SysReg::OSLSR_EL1, 0x8); // OS lock implemented and unlocked
                                       // Non-secure invasive and non-invasive debug implemented and enabled
                                       // (NSID, NSNID = 0b11); Secure likewise when EL3 exists, else not
                                       // implemented.
        s.set(SysReg::DBGAUTHSTATUS_EL1, if cfg.has_el3 { 0xff } else { 0x0f });
        s
    }

    /// Raw stored value.
    #[inline]
    pub fn get(&self, r: SysReg) -> u64 {
        self.vals[r as usize]
    }

    /// The values, indexed by `SysReg as usize`, for generated code that
    /// tests or sets a register in place (the JIT's FPCR/FPSR checks, its
    /// plain MRS/MSR). Valid while `self` is neither moved nor dropped (the
    /// table never grows). Only registers whose accesses have no side
    /// effects may be written through it.
    pub fn as_mut_ptr(&mut self) -> *mut u64 {
        self.vals.as_mut_ptr()
    }

    /// Stores a raw value (no side effects beyond keeping the cached
    /// virtual-interrupt state in step with HCR_EL2).
    #[inline]
    pub fn set(&mut self, r: SysReg, v: u64) {
        self.vals[r as usize] = v;
        if r == SysReg::HCR_EL2 {
            self.virt_pending = Self::virtual_lines(v);
        }
    }

    /// The virtual interrupts HCR_EL2 value `h` asserts and enables.
    fn virtual_lines(h: u64) -> u32 {
        let on = |pending: u64, enable: u64| h & pending != 0 && h & enable != 0;
        (if on(hcr::VI, hcr::IMO) { crate::irq::VIRQ } else { 0 })
            | (if on(hcr::VF, hcr::FMO) { crate::irq::VFIQ } else { 0 })
            | (if on(hcr::VSE, hcr::AMO) {
                crate::exception::VSERROR
            } else {
                0
            })
    }

    /// EL2 is implemented and enabled in the current security state (there
    /// is no Secure EL2: with EL3, only when SCR_EL3.NS is set).
    #[inline]
    pub fn el2_enabled(&self) -> bool {
        self.has_el2 && (!self.has_el3 || self.get(SysReg::SCR_EL3) & scr::NS != 0)
    }

    /// HCR_EL2 as it applies now: zero when EL2 is not enabled.
    #[inline]
    pub fn hcr(&self) -> u64 {
        if self.el2_enabled() {
            self.get(SysReg::HCR_EL2)
        } else {
            0
        }
    }

    /// The highest implemented exception level.
    pub fn highest_el(&self) -> u8 {
        if self.has_el3 {
            3
        } else if self.has_el2 {
            2
        } else {
            1
        }
    }

    fn warn_once(&mut self, id: SysRegId, what: &str) {
        if self.warned.insert(id) {
            let (op0, op1, crn, crm, op2) = id.fields();
            tracing::warn!("guest {what} of unimplemented system register S{op0}_{op1}_C{crn}_C{crm}_{op2}: UNDEFINED");
        }
    }

    /// Whether EL0 may make this access: registers EL0 may never use are
    /// UNDEFINED, those an SCTLR_EL1 / CNTKCTL_EL1 control withholds are
    /// trapped to EL1.
    fn check_el0(&self, info: &SysRegInfo, write: bool) -> Result<(), SysRegError> {
        let sctlr = self.get(SysReg::SCTLR_EL1);
        let (ok, err) = match info.el0 {
            El0::No => (false, SysRegError::Undefined),
            El0::Yes => (true, SysRegError::Undefined),
            El0::Uma => (sctlr & sctlr::UMA != 0, SysRegError::Trap(1)),
            El0::Uct => (sctlr & sctlr::UCT != 0, SysRegError::Trap(1)),
            El0::ReadOnly => (!write, SysRegError::Undefined),
            // Timer registers EL0 may not use trap to EL1 (EC 0x18).
            El0::CntFrq | El0::CntPct | El0::CntVct | El0::CntP | El0::CntV => {
                let k = self.get(SysReg::CNTKCTL_EL1);
                let ok = match info.el0 {
                    El0::CntFrq => k & 3 != 0 && !write,
                    El0::CntPct => k & 1 != 0,
                    El0::CntVct => k & 2 != 0,
                    El0::CntV => k & (1 << 8) != 0,
                    _ => k & (1 << 9) != 0,
                };
                (ok, SysRegError::Trap(1))
            }
        };
        if ok {
            Ok(())
        } else {
            Err(err)
        }
    }

    /// The exception-level rules of the encoding: `Ok(true)` when the
    /// access goes ahead, `Ok(false)` when it is RAZ/WI (an EL2 register
    /// at EL3 without EL2).
    fn check_el(&self, info: &SysRegInfo, el: u8, write: bool) -> Result<bool, SysRegError> {
        if el == 0 {
            self.check_el0(info, write)?;
            return Ok(true);
        }
        let (_, op1, ..) = info.id.fields();
        let needed = match op1 {
            4 if !self.has_el2 => {
                return if el == 3 {
                    Ok(false)
                } else {
                    Err(SysRegError::Undefined)
                }
            }
            6 | 7 if !self.has_el3 => return Err(SysRegError::Undefined),
            4 => 2,
            5 => 4,
            6 | 7 => 3,
            _ => 1,
        };
        if el < needed {
            return Err(SysRegError::Undefined);
        }
        // CNTFRQ_EL0 is written by the highest implemented EL only.
        if write && info.reg == SysReg::CNTFRQ_EL0 && el < self.highest_el() {
            return Err(SysRegError::Undefined);
        }
        Ok(true)
    }

    /// Traps to EL2 (HCR_EL2, CNTHCTL_EL2, CPTR_EL2) and EL3 (CPTR_EL3) of
    /// an access the EL rules allow.
    fn check_traps(&self, reg: SysReg, el: u8, write: bool) -> Result<(), SysRegError> {
        use SysReg::*;
        if el <= 1 && self.el2_enabled() {
            let hcr = self.get(HCR_EL2);
            let cnthctl = self.get(CNTHCTL_EL2);
            let trap = match reg {
                CNTPCT_EL0 => cnthctl & 1 == 0,
                CNTP_CTL_EL0 | CNTP_CVAL_EL0 | CNTP_TVAL_EL0 => cnthctl & 2 == 0,
                CTR_EL0 | CCSIDR_EL1 | CLIDR_EL1 | CSSELR_EL1 => hcr & hcr::TID2 != 0,
                _ if el == 0 => false,
                r if is_vm_control(r) => hcr & if write { hcr::TVM } else { hcr::TRVM } != 0,
                ACTLR_EL1 => hcr & hcr::TACR != 0,
                CPACR_EL1 => self.get(CPTR_EL2) & cptr::TCPAC != 0,
                r => !write && is_id_group3(r.info().id) && hcr & hcr::TID3 != 0,
            };
            if trap {
                return Err(SysRegError::Trap(2));
            }
        }
        if self.has_el3 && el < 3 {
            let tcpac = self.get(CPTR_EL3) & cptr::TCPAC != 0;
            let trap = match reg {
                CPACR_EL1 => el >= 1 && tcpac,
                CPTR_EL2 => tcpac,
                _ => false,
            };
            if trap {
                return Err(SysRegError::Trap(3));
            }
        }
        Ok(())
    }

    /// An encoding outside the table: unallocated ID registers read as
    /// zero at EL1 and above (subject to HCR_EL2.TID3); anything else is
    /// UNDEFINED and logged once.
    fn unlisted(&mut self, id: SysRegId, el: u8, write: bool) -> Result<u64, SysRegError> {
        if !write && el >= 1 && is_id_group3(id) {
            if el == 1 && self.hcr() & hcr::TID3 != 0 {
                return Err(SysRegError::Trap(2));
            }
            return Ok(0);
        }
        self.warn_once(id, if write { "write" } else { "read" });
        Err(SysRegError::Undefined)
    }

    /// MRS: the value of register `id` as seen from `pstate`, or why not.
    /// `sp_el` are the four stack pointers (SP_EL0..SP_EL2 are registers).
    pub fn read(&mut self, id: SysRegId, pstate: &PState, sp_el: &[u64; 4]) -> Result<u64, SysRegError> {
        let el = pstate.el;
        let Some(reg) = SysReg::from_id(id) else {
            return self.unlisted(id, el, false);
        };
        let info = reg.info();
        if info.access == Access::WO {
            return Err(SysRegError::Undefined);
        }
        if !self.check_el(info, el, false)? {
            return Ok(0);
        }
        self.check_traps(reg, el, false)?;
        if let Some(t) = Timer::of_ctl(reg) {
            return Ok(self.timer_ctl(t));
        }
        if let Some(t) = Timer::of_tval(reg) {
            return Ok(self.timer_tval(t));
        }
        Ok(match reg {
            SysReg::NZCV => u64::from(pstate.nzcv),
            SysReg::DAIF => u64::from(pstate.daif) << 6,
            SysReg::SPSEL => u64::from(pstate.sp),
            SysReg::CURRENTEL => u64::from(el) << 2,
            SysReg::PAN => u64::from(pstate.pan) << 22,
            SysReg::SP_EL0 => {
                // Accessing SP_EL0 while it is the current SP is UNDEFINED.
                if !pstate.sp {
                    return Err(SysRegError::Undefined);
                }
                sp_el[0]
            }
            SysReg::SP_EL1 => sp_el[1],
            SysReg::SP_EL2 => sp_el[2],
            // EL1 sees the virtualised identification when EL2 is enabled.
            SysReg::MIDR_EL1 if el == 1 && self.el2_enabled() => self.get(SysReg::VPIDR_EL2),
            SysReg::MPIDR_EL1 if el == 1 && self.el2_enabled() => self.get(SysReg::VMPIDR_EL2),
            // ACTLR_ELx: nothing IMPLEMENTATION DEFINED is modelled (RES0).
            SysReg::ACTLR_EL1 | SysReg::ACTLR_EL2 | SysReg::ACTLR_EL3 => 0,
            // Eight claim tags are implemented; CLR reads the tags set.
            SysReg::DBGCLAIMSET_EL1 => 0xff,
            // DZP: DC ZVA is prohibited at EL0 while SCTLR_EL1.DZE is clear.
            SysReg::DCZID_EL0 if el == 0 && self.get(SysReg::SCTLR_EL1) & sctlr::DZE == 0 => {
                self.get(SysReg::DCZID_EL0) | 1 << 4
            }
            SysReg::CNTPCT_EL0 => self.physical_count(),
            SysReg::CNTVCT_EL0 => self.virtual_count(),
            SysReg::CCSIDR_EL1 => {
                // 64-byte lines, 4 ways, 128 sets for either cache.
                (127 << 13) | (3 << 3) | 2
            }
            r => self.get(r),
        })
    }

    /// MSR: writes register `id` from `pstate`. PSTATE views and the stack
    /// pointers are written through `pstate` / `sp_el`.
    pub fn write(
        &mut self,
        id: SysRegId,
        v: u64,
        pstate: &mut PState,
        sp_el: &mut [u64; 4],
    ) -> Result<(), SysRegError> {
        let el = pstate.el;
        let Some(reg) = SysReg::from_id(id) else {
            return self.unlisted(id, el, true).map(|_| ());
        };
        let info = reg.info();
        if info.access == Access::RO {
            return Err(SysRegError::Undefined);
        }
        if !self.check_el(info, el, true)? {
            return Ok(());
        }
        self.check_traps(reg, el, true)?;
        if let Some(t) = Timer::of_tval(reg) {
            self.set_timer_tval(t, v);
            self.publish_timers();
            return Ok(());
        }
        let (op0, op1, crn, crm, op2) = id.fields();
        match reg {
            SysReg::NZCV => pstate.nzcv = (v as u32) & 0xf000_0000,
            SysReg::DAIF => pstate.daif = ((v >> 6) & 0xf) as u32,
            SysReg::SPSEL => pstate.sp = v & 1 == 1,
            SysReg::PAN => pstate.pan = v >> 22 & 1 == 1,
            SysReg::SP_EL0 => {
                if !pstate.sp {
                    return Err(SysRegError::Undefined);
                }
                sp_el[0] = v;
            }
            SysReg::SP_EL1 => sp_el[1] = v,
            SysReg::SP_EL2 => sp_el[2] = v,
            SysReg::OSLAR_EL1 => {
                let oslk = v & 1;
                let cur = self.get(SysReg::OSLSR_EL1);
                self.set(SysReg::OSLSR_EL1, (cur & !2) | (oslk << 1));
            }
            SysReg::SPSR_EL1 | SysReg::SPSR_EL2 | SysReg::SPSR_EL3 => self.set(reg, v & SPSR_MASK),
            r if Timer::of_ctl(r).is_some() => self.set(r, v & (ctl::ENABLE | ctl::IMASK)),
            // EVNTI/EVNTDIR/EVNTEN and the EL0 access bits.
            SysReg::CNTKCTL_EL1 => self.set(reg, v & 0x3ff),
            // EL1PCTEN, EL1PCEN, EVNTEN, EVNTDIR, EVNTI.
            SysReg::CNTHCTL_EL2 => self.set(reg, v & 0xff),
            SysReg::CNTFRQ_EL0 => self.set(reg, v & 0xffff_ffff),
            SysReg::FPCR => self.set(reg, v & fpcr::WRITABLE),
            SysReg::FPSR => self.set(reg, v & fpsr::WRITABLE),
            // FPEN (bits 21:20) is the only field: no SVE/SME, no trace.
            SysReg::CPACR_EL1 => self.set(reg, v & (3 << 20)),
            SysReg::CPTR_EL2 => self.set(reg, (v & (cptr::TFP | cptr::TTA | cptr::TCPAC)) | cptr::EL2_RES1),
            SysReg::CPTR_EL3 => self.set(reg, v & (cptr::TFP | cptr::TTA | cptr::TCPAC)),
            SysReg::HCR_EL2 => self.set(reg, (v & hcr::WRITABLE) | hcr::RW),
            SysReg::SCR_EL3 => self.set(reg, (v & scr::WRITABLE) | scr::RES1 | scr::RW),
            SysReg::SCTLR_EL2 | SysReg::SCTLR_EL3 => self.set(reg, v | sctlr::EL2_EL3_RES1),
            SysReg::ACTLR_EL1 | SysReg::ACTLR_EL2 | SysReg::ACTLR_EL3 => {}
            SysReg::VBAR_EL1 | SysReg::VBAR_EL2 | SysReg::VBAR_EL3 => self.set(reg, v & !0x7ff),
            SysReg::CSSELR_EL1 => self.set(reg, v & 0xf),
            SysReg::OSDLR_EL1 | SysReg::DBGPRCR_EL1 => self.set(reg, v & 1),
            SysReg::MDCCINT_EL1 => self.set(reg, v & (3 << 29)),
            // The claim tags live in DBGCLAIMCLR_EL1's slot.
            SysReg::DBGCLAIMSET_EL1 => {
                let tags = self.get(SysReg::DBGCLAIMCLR_EL1);
                self.set(SysReg::DBGCLAIMCLR_EL1, tags | (v & 0xff));
            }
            SysReg::DBGCLAIMCLR_EL1 => {
                let tags = self.get(SysReg::DBGCLAIMCLR_EL1);
                self.set(reg, tags & !v);
            }
            // DBGBVR/DBGBCR/DBGWVR/DBGWCR<n>_EL1: the defined fields.
            _ if op0 == 2 && op1 == 0 && crn == 0 && op2 >= 4 => {
                let mask = match op2 {
                    5 => 0x00ff_e1e7, // BT, LBN, SSC, HMC, BAS, PMC, E
                    7 => 0x1f1f_ffff, // MASK, WT, LBN, SSC, HMC, BAS, LSC, PAC, E
                    _ => !3,          // value registers: word-aligned
                };
                self.set(reg, v & mask);
            }
            r => self.set(r, v),
        }
        // A timer's CTL or CVAL (CRn 14, CRm 2/3) or CNTVOFF_EL2 may have
        // changed its output.
        if crn == 14 && (crm >= 2 || reg == SysReg::CNTVOFF_EL2) {
            self.publish_timers();
        }
        Ok(())
    }
}

impl SysReg {
    /// Whether writing this register can change what a translation regime
    /// maps (its enable, tables, attributes or the security/EL2 routing):
    /// engines that cache translations beyond the TLB drop them on such a
    /// write ([`crate::mmu::Tlb::epoch`]).
    pub fn defines_translation(self) -> bool {
        use SysReg::*;
        matches!(
            self,
            SCTLR_EL1
                | SCTLR_EL2
                | SCTLR_EL3
                | TCR_EL1
                | TCR_EL2
                | TCR_EL3
                | TTBR0_EL1
                | TTBR1_EL1
                | TTBR0_EL2
                | TTBR0_EL3
                | MAIR_EL1
                | MAIR_EL2
                | MAIR_EL3
                | HCR_EL2
                | SCR_EL3
                | VTCR_EL2
                | VTTBR_EL2
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EL0 accesses SCTLR_EL1 withholds are trapped (EC 0x18), those EL0
    /// may never make are UNDEFINED; DCZID_EL0.DZP follows SCTLR_EL1.DZE.
    #[test]
    fn el0_access_rules() {
        let mut s = SysRegs::new(&CpuConfig::cortex_a57(0));
        let el0 = PState {
            el: 0,
            ..PState::default()
        };
        let id = |r: SysReg| r.info().id;
        let reset = s.get(SysReg::SCTLR_EL1);
        assert_eq!(s.read(id(SysReg::CTR_EL0), &el0, &[0; 4]), Err(SysRegError::Trap(1)));
        assert_eq!(s.read(id(SysReg::DAIF), &el0, &[0; 4]), Err(SysRegError::Trap(1)));
        assert_eq!(
            s.read(id(SysReg::SCTLR_EL1), &el0, &[0; 4]),
            Err(SysRegError::Undefined)
        );
        let (mut p, mut sp) = (el0, [0; 4]);
        assert_eq!(
            s.write(id(SysReg::TPIDRRO_EL0), 1, &mut p, &mut sp),
            Err(SysRegError::Undefined)
        );
        assert_eq!(
            s.read(id(SysReg::DCZID_EL0), &el0, &[0; 4]),
            Ok(0x14),
            "DZP with DZE clear"
        );
        s.set(SysReg::SCTLR_EL1, reset | sctlr::UCT | sctlr::DZE);
        assert_eq!(s.read(id(SysReg::CTR_EL0), &el0, &[0; 4]), Ok(0x8444_c004));
        assert_eq!(s.read(id(SysReg::DCZID_EL0), &el0, &[0; 4]), Ok(0x4));
    }

    fn at(el: u8) -> PState {
        PState {
            el,
            sp: el > 0,
            ..PState::default()
        }
    }

    fn cfg(el2: bool, el3: bool) -> CpuConfig {
        let mut c = CpuConfig::cortex_a57(0);
        c.has_el2 = el2;
        c.has_el3 = el3;
        c
    }

    /// EL2 registers need EL2, EL3 registers EL3; registers of an EL the
    /// core lacks are UNDEFINED, except EL2 ones at EL3 (RAZ/WI).
    #[test]
    fn access_rules_per_el() {
        let id = |r: SysReg| r.info().id;
        let sp = [0u64; 4];
        let mut s = SysRegs::new(&cfg(true, true));
        for el in 0..=3 {
            let r2 = s.read(id(SysReg::HCR_EL2), &at(el), &sp);
            let r3 = s.read(id(SysReg::SCR_EL3), &at(el), &sp);
            let rp = s.read(id(SysReg::CNTPS_CTL_EL1), &at(el), &sp);
            assert_eq!(r2.is_ok(), el >= 2, "HCR_EL2 at EL{el}");
            assert_eq!(r3.is_ok(), el == 3, "SCR_EL3 at EL{el}");
            assert_eq!(rp.is_ok(), el == 3, "CNTPS_CTL_EL1 at EL{el}");
            if el < 2 {
                assert_eq!(r2, Err(SysRegError::Undefined));
            }
        }
        assert_eq!(s.read(id(SysReg::HCR_EL2), &at(2), &sp), Ok(hcr::RW), "RW is RES1");
        assert_eq!(
            s.read(id(SysReg::SCR_EL3), &at(3), &sp),
            Ok(scr::RES1 | scr::RW),
            "Secure at reset"
        );
        let (mut p, mut spm) = (at(3), [0u64; 4]);
        s.write(id(SysReg::SCR_EL3), 1, &mut p, &mut spm).unwrap();
        assert_eq!(s.get(SysReg::SCR_EL3), 1 | scr::RES1 | scr::RW, "RW forced");
        s.write(id(SysReg::HCR_EL2), 0, &mut p, &mut spm).unwrap();
        assert_eq!(s.get(SysReg::HCR_EL2), hcr::RW);
        // SP_EL1 / SP_EL2 are the core's stack pointers.
        s.write(id(SysReg::SP_EL2), 0x1230, &mut p, &mut spm).unwrap();
        s.write(id(SysReg::SP_EL1), 0x4560, &mut p, &mut spm).unwrap();
        assert_eq!(spm, [0, 0x4560, 0x1230, 0]);
        // The E2H aliases (op1 = 5) are UNDEFINED everywhere.
        let e12 = SysRegId::new(3, 5, 1, 0, 0); // SCTLR_EL12
        assert_eq!(s.read(e12, &at(3), &sp), Err(SysRegError::Undefined));

        // EL3 without EL2: EL2 registers are RAZ/WI at EL3.
        let mut s = SysRegs::new(&cfg(false, true));
        let (mut p, mut spm) = (at(3), [0u64; 4]);
        assert_eq!(s.read(id(SysReg::HCR_EL2), &at(3), &sp), Ok(0));
        assert_eq!(s.write(id(SysReg::VTTBR_EL2), 5, &mut p, &mut spm), Ok(()));
        assert_eq!(s.get(SysReg::VTTBR_EL2), 0);
        assert_eq!(s.read(id(SysReg::HCR_EL2), &at(1), &sp), Err(SysRegError::Undefined));
        // EL2 without EL3: EL3 and secure timer registers are UNDEFINED.
        let mut s = SysRegs::new(&cfg(true, false));
        assert_eq!(s.read(id(SysReg::SCR_EL3), &at(2), &sp), Err(SysRegError::Undefined));
        assert_eq!(
            s.read(id(SysReg::CNTPS_CTL_EL1), &at(2), &sp),
            Err(SysRegError::Undefined)
        );
        // CNTFRQ_EL0 is writable only at the highest implemented EL.
        let (mut p1, mut p2) = (at(1), at(2));
        assert_eq!(
            s.write(id(SysReg::CNTFRQ_EL0), 1000, &mut p1, &mut spm),
            Err(SysRegError::Undefined)
        );
        assert_eq!(s.write(id(SysReg::CNTFRQ_EL0), 1000, &mut p2, &mut spm), Ok(()));
    }

    /// ID registers advertise the configuration; unallocated ID space
    /// encodings read as zero; EL1 sees VPIDR/VMPIDR under EL2.
    #[test]
    fn identification() {
        let sp = [0u64; 4];
        let mut c = cfg(true, true);
        c.gic_sysregs = true;
        let mut s = SysRegs::new(&c);
        let id = |r: SysReg| r.info().id;
        let pfr0 = s.read(id(SysReg::ID_AA64PFR0_EL1), &at(1), &sp).unwrap();
        assert_eq!(pfr0, 0x0100_1111);
        let dfr0 = s.get(SysReg::ID_AA64DFR0_EL1);
        assert_eq!(
            (dfr0 >> 8 & 0xf, dfr0 >> 12 & 0xf, dfr0 >> 20 & 0xf, dfr0 >> 28),
            (0, 5, 3, 1)
        );
        assert_eq!(s.get(SysReg::ID_AA64MMFR1_EL1) >> 20 & 0xf, 2, "PAN with AT S1E1RP/WP");
        assert_eq!(
            s.read(SysRegId::new(3, 0, 0, 6, 2), &at(1), &sp),
            Ok(0),
            "ID_AA64ISAR2_EL1"
        );
        assert_eq!(
            s.read(SysRegId::new(3, 0, 0, 6, 2), &at(0), &sp),
            Err(SysRegError::Undefined)
        );
        // Secure EL1 (SCR_EL3.NS = 0 at reset): the real MIDR.
        assert_eq!(s.read(id(SysReg::MIDR_EL1), &at(1), &sp), Ok(0x411f_d070));
        s.set(SysReg::SCR_EL3, scr::NS | scr::RW);
        s.set(SysReg::VPIDR_EL2, 0x1234);
        assert_eq!(s.read(id(SysReg::MIDR_EL1), &at(1), &sp), Ok(0x1234));
        assert_eq!(s.read(id(SysReg::MIDR_EL1), &at(2), &sp), Ok(0x411f_d070));
        let s = SysRegs::new(&CpuConfig::cortex_a57(0));
        assert_eq!(s.get(SysReg::ID_AA64PFR0_EL1), 0x11);
    }

    /// HCR_EL2 and CNTHCTL_EL2 traps (to EL2), CPTR_EL3.TCPAC (to EL3).
    #[test]
    fn el2_and_el3_traps() {
        let sp = [0u64; 4];
        let mut s = SysRegs::new(&cfg(true, false));
        let id = |r: SysReg| r.info().id;
        let (mut p1, mut spm) = (at(1), [0u64; 4]);
        s.set(SysReg::HCR_EL2, hcr::RW | hcr::TVM);
        assert_eq!(
            s.write(id(SysReg::TTBR0_EL1), 0, &mut p1, &mut spm),
            Err(SysRegError::Trap(2))
        );
        assert_eq!(
            s.read(id(SysReg::TTBR0_EL1), &at(1), &sp),
            Ok(0),
            "TVM traps writes only"
        );
        s.set(SysReg::HCR_EL2, hcr::RW | hcr::TRVM | hcr::TID3 | hcr::TACR);
        assert_eq!(s.read(id(SysReg::SCTLR_EL1), &at(1), &sp), Err(SysRegError::Trap(2)));
        assert_eq!(
            s.read(id(SysReg::ID_AA64MMFR0_EL1), &at(1), &sp),
            Err(SysRegError::Trap(2))
        );
        assert_eq!(
            s.read(SysRegId::new(3, 0, 0, 7, 3), &at(1), &sp),
            Err(SysRegError::Trap(2))
        );
        assert_eq!(s.read(id(SysReg::ACTLR_EL1), &at(1), &sp), Err(SysRegError::Trap(2)));
        assert!(s.read(id(SysReg::SCTLR_EL1), &at(2), &sp).is_ok(), "EL2 is not trapped");
        // Physical counter/timer at EL1 with CNTHCTL_EL2.EL1PCTEN/EL1PCEN clear.
        s.set(SysReg::CNTHCTL_EL2, 0);
        assert_eq!(s.read(id(SysReg::CNTPCT_EL0), &at(1), &sp), Err(SysRegError::Trap(2)));
        assert_eq!(s.read(id(SysReg::CNTP_CTL_EL0), &at(1), &sp), Err(SysRegError::Trap(2)));
        assert!(s.read(id(SysReg::CNTVCT_EL0), &at(1), &sp).is_ok());
        // EL0 is trapped by CNTKCTL_EL1 first (to EL1), then CNTHCTL_EL2.
        assert_eq!(s.read(id(SysReg::CNTPCT_EL0), &at(0), &sp), Err(SysRegError::Trap(1)));
        s.set(SysReg::CNTKCTL_EL1, 1);
        assert_eq!(s.read(id(SysReg::CNTPCT_EL0), &at(0), &sp), Err(SysRegError::Trap(2)));

        let mut s = SysRegs::new(&cfg(true, true));
        s.set(SysReg::SCR_EL3, scr::NS | scr::RW);
        s.set(SysReg::CPTR_EL3, cptr::TCPAC);
        assert_eq!(s.read(id(SysReg::CPACR_EL1), &at(1), &sp), Err(SysRegError::Trap(3)));
        assert_eq!(s.read(id(SysReg::CPTR_EL2), &at(2), &sp), Err(SysRegError::Trap(3)));
        assert!(s.read(id(SysReg::CPACR_EL1), &at(3), &sp).is_ok());
    }

    /// Debug registers are storage with their defined fields; claim tags.
    #[test]
    fn debug_registers() {
        let mut s = SysRegs::new(&CpuConfig::cortex_a57(0));
        let id = |r: SysReg| r.info().id;
        let (mut p, mut spm) = (at(1), [0u64; 4]);
        s.write(id(SysReg::DBGBVR5_EL1), 0x4000_1003, &mut p, &mut spm).unwrap();
        s.write(id(SysReg::DBGWCR3_EL1), u64::MAX, &mut p, &mut spm).unwrap();
        assert_eq!(s.read(id(SysReg::DBGBVR5_EL1), &p, &spm), Ok(0x4000_1000));
        assert_eq!(s.read(id(SysReg::DBGWCR3_EL1), &p, &spm), Ok(0x1f1f_ffff));
        s.write(id(SysReg::DBGCLAIMSET_EL1), 0x5, &mut p, &mut spm).unwrap();
        s.write(id(SysReg::DBGCLAIMCLR_EL1), 0x1, &mut p, &mut spm).unwrap();
        assert_eq!(s.read(id(SysReg::DBGCLAIMCLR_EL1), &p, &spm), Ok(0x4));
        assert_eq!(s.read(id(SysReg::DBGCLAIMSET_EL1), &p, &spm), Ok(0xff));
        assert_eq!(s.read(id(SysReg::MDRAR_EL1), &p, &spm), Ok(0));
        assert_eq!(s.read(id(SysReg::MDCCSR_EL0), &at(0), &spm), Ok(0));
        // The PMU is absent: PMCR_EL0 is UNDEFINED.
        assert_eq!(
            s.read(SysRegId::new(3, 3, 9, 12, 0), &p, &spm),
            Err(SysRegError::Undefined)
        );
    }
}
