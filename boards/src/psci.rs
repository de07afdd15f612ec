//! PSCI 1.1 and SMCCC 1.1 as firmware emulated by the machine, for guests
//! that do not bring their own EL3 (or EL2) firmware: the core stops on
//! `HVC #0` / `SMC #0` (the board's conduit) and [`call`] decides the answer
//! and what the machine must do (power a core on or off, stop, reset).
//!
//! Function IDs and return codes are those of Arm DEN 0022 (PSCI) and
//! DEN 0028 (SMCCC). A call we do not implement returns NOT_SUPPORTED (-1),
//! as SMCCC requires for unknown function IDs.

/// PSCI return codes (as signed 32-bit values in X0).
pub mod ret {
    /// Success.
    pub const SUCCESS: i64 = 0;
    /// Function not supported.
    pub const NOT_SUPPORTED: i64 = -1;
    /// Invalid parameters.
    pub const INVALID_PARAMETERS: i64 = -2;
    /// The target core is already on.
    pub const ALREADY_ON: i64 = -4;
    /// Invalid entry address.
    pub const INVALID_ADDRESS: i64 = -9;
}

/// Function IDs (32-bit calling convention; the 64-bit forms set bit 30).
pub mod func {
    /// PSCI_VERSION.
    pub const PSCI_VERSION: u32 = 0x8400_0000;
    /// CPU_SUSPEND.
    pub const CPU_SUSPEND: u32 = 0x8400_0001;
    /// CPU_OFF.
    pub const CPU_OFF: u32 = 0x8400_0002;
    /// CPU_ON.
    pub const CPU_ON: u32 = 0x8400_0003;
    /// AFFINITY_INFO.
    pub const AFFINITY_INFO: u32 = 0x8400_0004;
    /// MIGRATE_INFO_TYPE.
    pub const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
    /// SYSTEM_OFF.
    pub const SYSTEM_OFF: u32 = 0x8400_0008;
    /// SYSTEM_RESET.
    pub const SYSTEM_RESET: u32 = 0x8400_0009;
    /// PSCI_FEATURES.
    pub const PSCI_FEATURES: u32 = 0x8400_000a;
    /// SMCCC_VERSION.
    pub const SMCCC_VERSION: u32 = 0x8000_0000;
    /// SMCCC_ARCH_FEATURES.
    pub const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;
    /// The SMC64 bit.
    pub const SMC64: u32 = 1 << 30;
}

/// PSCI 1.1 (major 1, minor 1).
pub const PSCI_VERSION_1_1: u64 = 0x0001_0001;
/// SMCCC 1.1.
pub const SMCCC_VERSION_1_1: u64 = 0x0001_0001;

/// What the machine knows about one core, for the calls that ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreInfo {
    /// MPIDR_EL1 affinity (Aff3..Aff0 in their MPIDR positions).
    pub affinity: u64,
    /// Whether the core is on.
    pub on: bool,
}

/// What the machine must do after a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write `x0` to the caller's X0 and resume it.
    Return(u64),
    /// Power core `index` on at `entry` with X0 = `context_id`, then
    /// return SUCCESS to the caller.
    CpuOn {
        /// Index of the target core.
        index: usize,
        /// Entry point (physical address; the MMU is off at entry).
        entry: u64,
        /// Value for the target's X0.
        context_id: u64,
    },
    /// Power the calling core off (the call does not return).
    CpuOff,
    /// Standby: the caller waits for an interrupt, then the call returns
    /// SUCCESS (power states are treated as standby, which PSCI allows).
    Suspend,
    /// Turn the system off: the run ends with exit code 0.
    SystemOff,
    /// Reset the whole system.
    SystemReset,
}

/// The affinity bits of an MPIDR value (Aff3 in 39:32, Aff2..Aff0 in 23:0).
pub fn affinity_bits(mpidr: u64) -> u64 {
    mpidr & 0xff_00ff_ffff
}

/// Answers one call. `x` holds X0-X3 of the caller, `cores` every core of
/// the machine in index order, `ram` the guest RAM ranges `(base, size)`
/// (CPU_ON entry points must lie in RAM).
pub fn call(x: [u64; 4], cores: &[CoreInfo], ram: &[(u64, u64)]) -> Action {
    let fid = x[0] as u32;
    let smc64 = fid & func::SMC64 != 0;
    // SMC32 calls pass 32-bit arguments in W registers.
    let arg = |i: usize| if smc64 { x[i] } else { x[i] & 0xffff_ffff };
    let neg = |v: i64| Action::Return(v as u64);
    match fid & !func::SMC64 {
        func::PSCI_VERSION if !smc64 => Action::Return(PSCI_VERSION_1_1),
        func::CPU_SUSPEND => Action::Suspend,
        func::CPU_OFF if !smc64 => Action::CpuOff,
        func::CPU_ON => {
            let target = affinity_bits(arg(1));
            let entry = arg(2);
            let Some(index) = cores.iter().position(|c| c.affinity == target) else {
                return neg(ret::INVALID_PARAMETERS);
            };
            if cores[index].on {
                return neg(ret::ALREADY_ON);
            }
            let in_ram = ram.iter().any(|&(b, s)| entry >= b && entry - b < s);
            if entry & 3 != 0 || !in_ram {
                return neg(ret::INVALID_ADDRESS);
            }
            Action::CpuOn {
                index,
                entry,
                context_id: arg(3),
            }
        }
        func::AFFINITY_INFO => {
            // Only level 0 (a single core) is meaningful with one core per
            // cluster entry; higher levels report ON if any core under it is.
            let level = arg(2);
            if level > 3 {
                return neg(ret::INVALID_PARAMETERS);
            }
            let mask = match level {
                0 => 0xff_00ff_ffff,
                1 => 0xff_00ff_ff00,
                2 => 0xff_00ff_0000,
                _ => 0xff_0000_0000,
            };
            let target = affinity_bits(arg(1)) & mask;
            let mut matched = cores.iter().filter(|c| c.affinity & mask == target).peekable();
            if matched.peek().is_none() {
                return neg(ret::INVALID_PARAMETERS);
            }
            let on = matched.any(|c| c.on);
            Action::Return(if on { 0 } else { 1 })
        }
        // 2: no Trusted OS, nothing to migrate.
        func::MIGRATE_INFO_TYPE if !smc64 => Action::Return(2),
        func::SYSTEM_OFF if !smc64 => Action::SystemOff,
        func::SYSTEM_RESET if !smc64 => Action::SystemReset,
        func::PSCI_FEATURES if !smc64 => {
            let q = arg(1) as u32;
            let known = [
                func::PSCI_VERSION,
                func::CPU_SUSPEND,
                func::CPU_SUSPEND | func::SMC64,
                func::CPU_OFF,
                func::CPU_ON,
                func::CPU_ON | func::SMC64,
                func::AFFINITY_INFO,
                func::AFFINITY_INFO | func::SMC64,
                func::MIGRATE_INFO_TYPE,
                func::SYSTEM_OFF,
                func::SYSTEM_RESET,
                func::PSCI_FEATURES,
                func::SMCCC_VERSION,
            ];
            // CPU_SUSPEND's feature flags: original power_state format,
            // no OS-initiated mode; 0 for everything else we implement.
            if known.contains(&q) {
                Action::Return(0)
            } else {
                neg(ret::NOT_SUPPORTED)
            }
        }
        func::SMCCC_VERSION if !smc64 => Action::Return(SMCCC_VERSION_1_1),
        func::SMCCC_ARCH_FEATURES if !smc64 => {
            // Only ARCH_FEATURES itself is implemented; in particular the
            // Spectre workaround calls (0x8000_8000, 0x8000_7fff,
            // 0x8000_3fff) are not: nothing here needs mitigating.
            if arg(1) as u32 == func::SMCCC_ARCH_FEATURES {
                Action::Return(0)
            } else {
                neg(ret::NOT_SUPPORTED)
            }
        }
        _ => {
            tracing::debug!("guest firmware call {fid:#x}: not supported");
            neg(ret::NOT_SUPPORTED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAM: &[(u64, u64)] = &[(0x4000_0000, 0x800_0000)];

    fn cores() -> Vec<CoreInfo> {
        (0..4)
            .map(|i| CoreInfo {
                affinity: crate::schema::mpidr_affinity(i),
                on: i == 0,
            })
            .collect()
    }

    fn ret_of(a: Action) -> i64 {
        match a {
            Action::Return(v) => v as i64,
            other => panic!("expected a return value, got {other:?}"),
        }
    }

    #[test]
    fn versions() {
        assert_eq!(call([0x8400_0000, 0, 0, 0], &cores(), RAM), Action::Return(0x10001));
        assert_eq!(call([0x8000_0000, 0, 0, 0], &cores(), RAM), Action::Return(0x10001));
        assert_eq!(call([0x8400_000a, 0x8000_0000, 0, 0], &cores(), RAM), Action::Return(0));
    }

    #[test]
    fn spectre_workarounds_are_not_supported() {
        for wa in [0x8000_8000u64, 0x8000_7fff, 0x8000_3fff] {
            assert_eq!(ret_of(call([0x8000_0001, wa, 0, 0], &cores(), RAM)), -1, "{wa:#x}");
        }
        assert_eq!(ret_of(call([0x8000_0001, 0x8000_0001, 0, 0], &cores(), RAM)), 0);
    }

    #[test]
    fn cpu_on_checks_target_and_entry() {
        let c = cores();
        // 64-bit CPU_ON for core 2 (MPIDR with RES1 bit 31 set is accepted).
        assert_eq!(
            call([0xc400_0003, 0x8000_0002, 0x4000_1000, 0xabcd], &c, RAM),
            Action::CpuOn {
                index: 2,
                entry: 0x4000_1000,
                context_id: 0xabcd
            }
        );
        assert_eq!(ret_of(call([0xc400_0003, 0, 0x4000_1000, 0], &c, RAM)), ret::ALREADY_ON);
        assert_eq!(
            ret_of(call([0xc400_0003, 9, 0x4000_1000, 0], &c, RAM)),
            ret::INVALID_PARAMETERS
        );
        assert_eq!(ret_of(call([0xc400_0003, 1, 0x1000, 0], &c, RAM)), ret::INVALID_ADDRESS);
        assert_eq!(
            ret_of(call([0xc400_0003, 1, 0x4000_1002, 0], &c, RAM)),
            ret::INVALID_ADDRESS
        );
        // 32-bit CPU_ON ignores the upper halves of the arguments.
        assert_eq!(
            call([0x8400_0003, 0xffff_ffff_0000_0003, 0x1_4000_2000, 7], &c, RAM),
            Action::CpuOn {
                index: 3,
                entry: 0x4000_2000,
                context_id: 7
            }
        );
    }

    #[test]
    fn affinity_info() {
        let c = cores();
        assert_eq!(ret_of(call([0xc400_0004, 0, 0, 0], &c, RAM)), 0, "core 0 on");
        assert_eq!(ret_of(call([0xc400_0004, 1, 0, 0], &c, RAM)), 1, "core 1 off");
        assert_eq!(
            ret_of(call([0xc400_0004, 1, 1, 0], &c, RAM)),
            0,
            "cluster 0 has a core on"
        );
        assert_eq!(
            ret_of(call([0xc400_0004, 0x100, 0, 0], &c, RAM)),
            ret::INVALID_PARAMETERS
        );
    }

    #[test]
    fn power_and_unknown_calls() {
        let c = cores();
        assert_eq!(call([0x8400_0008, 0, 0, 0], &c, RAM), Action::SystemOff);
        assert_eq!(call([0x8400_0009, 0, 0, 0], &c, RAM), Action::SystemReset);
        assert_eq!(call([0x8400_0002, 0, 0, 0], &c, RAM), Action::CpuOff);
        assert_eq!(ret_of(call([0x8400_0006, 0, 0, 0], &c, RAM)), 2);
        assert_eq!(ret_of(call([0x8400_00ff, 0, 0, 0], &c, RAM)), -1);
        assert_eq!(
            ret_of(call([0xc400_0008, 0, 0, 0], &c, RAM)),
            -1,
            "SYSTEM_OFF has no SMC64 form"
        );
        assert_eq!(ret_of(call([0x8400_000a, 0x8400_0012, 0, 0], &c, RAM)), -1);
    }
}
