//! The system register file: one table row per register (encoding, name,
//! EL0 access, read/write rules, reset value). MRS/MSR of anything not in
//! the table is UNDEFINED to the guest and logged once with its encoding.

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
    MDSCR_EL1 = (2, 0, 0, 2, 2), No, RW;
    OSLAR_EL1 = (2, 0, 1, 0, 4), No, WO;
    OSLSR_EL1 = (2, 0, 1, 1, 4), No, RO;
    OSDLR_EL1 = (2, 0, 1, 3, 4), No, RW;
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

/// SCTLR_EL1 bits used by the core.
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
    /// EL0 cache maintenance by VA allowed.
    pub const UCI: u64 = 1 << 26;
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
    /// Trapped to EL1 by an SCTLR_EL1 control (EC 0x18): EL0 access to
    /// DAIF with UMA clear, to CTR_EL0 with UCT clear.
    Trap,
}

/// Values of the plain (storage-backed) registers of one core. PSTATE
/// views (NZCV, DAIF, SPSel, CurrentEL) and SP_EL0 live in the core state.
#[derive(Clone, Debug)]
pub struct SysRegs {
    vals: Vec<u64>,
    warned: HashSet<SysRegId>,
    /// The system counter's source (shared by the machine's cores).
    pub time: crate::timer::TimeBase,
}

/// Bytes zeroed by DC ZVA: 4 << DCZID_EL0.BS words.
pub const DCZVA_BYTES: u64 = 64;

impl SysRegs {
    /// Reset values for a core with configuration `cfg`.
    pub fn new(cfg: &CpuConfig) -> Self {
        let mut s = SysRegs {
            vals: vec![0; SYSREGS.len()],
            warned: HashSet::new(),
            time: cfg.time.clone(),
        };
        s.set(SysReg::CNTFRQ_EL0, cfg.time.freq());
        s.set(SysReg::MIDR_EL1, cfg.midr);
        s.set(SysReg::MPIDR_EL1, cfg.mpidr);
        // EL0 and EL1 AArch64 only; no EL2/EL3; FP and AdvSIMD implemented
        // without half-precision arithmetic (fields 19:16 and 23:20 = 0);
        // no GIC system-register interface, no SVE, no RAS.
        s.set(SysReg::ID_AA64PFR0_EL1, 0x0000_0000_0000_0011);
        // ISAR0: AES with PMULL (bits 7:4 = 2), SHA1 (11:8 = 1), SHA2 with
        // SHA-256 only (15:12 = 1), CRC32 (19:16 = 1), LSE atomics (23:20 = 2).
        s.set(
            SysReg::ID_AA64ISAR0_EL1,
            (2 << 20) | (1 << 16) | (1 << 12) | (1 << 8) | (2 << 4),
        );
        // ISAR1: LDAPR (LRCPC, bits 23:20 = 1). No PAC, BTI, etc.
        s.set(SysReg::ID_AA64ISAR1_EL1, 1 << 20);
        // 48-bit PA range, 8-bit ASIDs, 4/16/64 KiB granules at stage 1
        // (TGran4 = 0, TGran64 = 0, TGran16 = 1).
        s.set(SysReg::ID_AA64MMFR0_EL1, (1 << 20) | 5);
        // Debug architecture v8.0 (no breakpoints/watchpoints beyond the
        // architectural minimum are usable yet).
        s.set(SysReg::ID_AA64DFR0_EL1, 0x6);
        // The Cortex-A57 reset value QEMU uses: RES1 bits, SA, SA0, ...
        s.set(SysReg::SCTLR_EL1, 0x00c5_0838);
        // IminLine = DminLine = 4 words << 4 = 64 bytes, VIPT I-cache.
        s.set(SysReg::CTR_EL0, 0x8444_c004);
        // DC ZVA permitted, block of 2^4 words = 64 bytes.
        s.set(SysReg::DCZID_EL0, 4);
        // One level of separate I and D caches, LoC = LoUU = LoUIS = 1.
        s.set(SysReg::CLIDR_EL1, 0x0a20_0023);
        s.set(SysReg::OSLSR_EL1, 0x8); // OS lock implemented and unlocked
        s
    }

    /// Raw stored value.
    #[inline]
    pub fn get(&self, r: SysReg) -> u64 {
        self.vals[r as usize]
    }

    /// Stores a raw value (no side effects).
    #[inline]
    pub fn set(&mut self, r: SysReg, v: u64) {
        self.vals[r as usize] = v;
    }

    fn warn_once(&mut self, id: SysRegId, what: &str) {
        if self.warned.insert(id) {
            let (op0, op1, crn, crm, op2) = id.fields();
            tracing::warn!("guest {what} of unimplemented system register S{op0}_{op1}_C{crn}_C{crm}_{op2}: UNDEFINED");
        }
    }

    /// Whether EL0 may make this access: registers EL0 may never use are
    /// UNDEFINED, those an SCTLR_EL1 control withholds are trapped.
    fn check_el0(&self, info: &SysRegInfo, write: bool) -> Result<(), SysRegError> {
        let sctlr = self.get(SysReg::SCTLR_EL1);
        let (ok, err) = match info.el0 {
            El0::No => (false, SysRegError::Undefined),
            El0::Yes => (true, SysRegError::Undefined),
            El0::Uma => (sctlr & sctlr::UMA != 0, SysRegError::Trap),
            El0::Uct => (sctlr & sctlr::UCT != 0, SysRegError::Trap),
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
                (ok, SysRegError::Trap)
            }
        };
        if ok {
            Ok(())
        } else {
            Err(err)
        }
    }

    /// MRS: the value of register `id` as seen from `pstate`, or UNDEFINED.
    pub fn read(&mut self, id: SysRegId, pstate: &PState, sp_el0: u64) -> Result<u64, SysRegError> {
        let Some(reg) = SysReg::from_id(id) else {
            self.warn_once(id, "read");
            return Err(SysRegError::Undefined);
        };
        let info = reg.info();
        if info.access == Access::WO {
            return Err(SysRegError::Undefined);
        }
        if pstate.el == 0 {
            self.check_el0(info, false)?;
        }
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
            SysReg::CURRENTEL => u64::from(pstate.el) << 2,
            SysReg::SP_EL0 => {
                // Accessing SP_EL0 while it is the current SP is UNDEFINED.
                if !pstate.sp {
                    return Err(SysRegError::Undefined);
                }
                sp_el0
            }
            // DZP: DC ZVA is prohibited at EL0 while SCTLR_EL1.DZE is clear.
            SysReg::DCZID_EL0 if pstate.el == 0 && self.get(SysReg::SCTLR_EL1) & sctlr::DZE == 0 => {
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

    /// MSR: writes register `id` from `pstate`. PSTATE views and SP_EL0
    /// are written through `pstate` / `sp_el0`.
    pub fn write(&mut self, id: SysRegId, v: u64, pstate: &mut PState, sp_el0: &mut u64) -> Result<(), SysRegError> {
        let Some(reg) = SysReg::from_id(id) else {
            self.warn_once(id, "write");
            return Err(SysRegError::Undefined);
        };
        let info = reg.info();
        if info.access == Access::RO {
            return Err(SysRegError::Undefined);
        }
        if pstate.el == 0 {
            self.check_el0(info, true)?;
        }
        if let Some(t) = Timer::of_tval(reg) {
            self.set_timer_tval(t, v);
            return Ok(());
        }
        match reg {
            SysReg::NZCV => pstate.nzcv = (v as u32) & 0xf000_0000,
            SysReg::DAIF => pstate.daif = ((v >> 6) & 0xf) as u32,
            SysReg::SPSEL => pstate.sp = v & 1 == 1,
            SysReg::SP_EL0 => {
                if !pstate.sp {
                    return Err(SysRegError::Undefined);
                }
                *sp_el0 = v;
            }
            SysReg::OSLAR_EL1 => {
                let oslk = v & 1;
                let cur = self.get(SysReg::OSLSR_EL1);
                self.set(SysReg::OSLSR_EL1, (cur & !2) | (oslk << 1));
            }
            SysReg::SPSR_EL1 => self.set(reg, v & 0xf03f_03df),
            r if Timer::of_ctl(r).is_some() => self.set(r, v & (ctl::ENABLE | ctl::IMASK)),
            // EVNTI/EVNTDIR/EVNTEN and the EL0 access bits.
            SysReg::CNTKCTL_EL1 => self.set(reg, v & 0x3ff),
            SysReg::CNTFRQ_EL0 => self.set(reg, v & 0xffff_ffff),
            SysReg::FPCR => self.set(reg, v & fpcr::WRITABLE),
            SysReg::FPSR => self.set(reg, v & fpsr::WRITABLE),
            // FPEN (bits 21:20) is the only field: no SVE/SME, no trace.
            SysReg::CPACR_EL1 => self.set(reg, v & (3 << 20)),
            SysReg::VBAR_EL1 => self.set(reg, v & !0x7ff),
            SysReg::CSSELR_EL1 => self.set(reg, v & 0xf),
            r => self.set(r, v),
        }
        Ok(())
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
        assert_eq!(s.read(id(SysReg::CTR_EL0), &el0, 0), Err(SysRegError::Trap));
        assert_eq!(s.read(id(SysReg::DAIF), &el0, 0), Err(SysRegError::Trap));
        assert_eq!(s.read(id(SysReg::SCTLR_EL1), &el0, 0), Err(SysRegError::Undefined));
        let (mut p, mut sp0) = (el0, 0);
        assert_eq!(
            s.write(id(SysReg::TPIDRRO_EL0), 1, &mut p, &mut sp0),
            Err(SysRegError::Undefined)
        );
        assert_eq!(s.read(id(SysReg::DCZID_EL0), &el0, 0), Ok(0x14), "DZP with DZE clear");
        s.set(SysReg::SCTLR_EL1, reset | sctlr::UCT | sctlr::DZE);
        assert_eq!(s.read(id(SysReg::CTR_EL0), &el0, 0), Ok(0x8444_c004));
        assert_eq!(s.read(id(SysReg::DCZID_EL0), &el0, 0), Ok(0x4));
    }
}
