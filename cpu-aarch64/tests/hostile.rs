//! Hostile guests: random instruction streams run at every exception level
//! on cores with random system-register state (MMU on with random tables,
//! random trap and routing controls, random vectors, interrupt lines
//! toggling) must never make the host panic. Whatever the guest provokes
//! (every fault class, illegal returns, exception loops, traps to absent
//! ELs) ends as a guest-visible exception or a clean `StepEvent`.
//!
//! `PREBOARD_HOSTILE_CASES=N` runs more cases (default 3000).

use cpu_aarch64::bus::{Bus, BusError, PhysAddr, Requester};
use cpu_aarch64::irq;
use cpu_aarch64::state::CpuConfig;
use cpu_aarch64::sysreg::SysReg;
use cpu_aarch64::{Cpu, StepEvent};

const BASE: u64 = 0x4000_0000;
const SIZE: usize = 0x1_0000;

/// RAM at BASE; everything else is unmapped (external aborts).
struct Ram(Vec<u8>);

impl Bus for Ram {
    fn read(&mut self, _req: Requester, pa: PhysAddr, size: u8) -> Result<u64, BusError> {
        let off = pa.0.checked_sub(BASE).ok_or(BusError::Unmapped(pa))? as usize;
        let bytes = self
            .0
            .get(off..off.saturating_add(size as usize))
            .ok_or(BusError::Unmapped(pa))?;
        Ok(bytes.iter().rev().fold(0, |acc, &b| (acc << 8) | u64::from(b)))
    }
    fn write(&mut self, _req: Requester, pa: PhysAddr, size: u8, value: u64) -> Result<(), BusError> {
        let off = pa.0.checked_sub(BASE).ok_or(BusError::Unmapped(pa))? as usize;
        let bytes = self
            .0
            .get_mut(off..off.saturating_add(size as usize))
            .ok_or(BusError::Unmapped(pa))?;
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (value >> (8 * i)) as u8;
        }
        Ok(())
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// An instruction word biased towards what provokes system behaviour.
fn word(r: &mut Rng) -> u32 {
    let w = r.next() as u32;
    match r.below(10) {
        // System instructions: MSR/MRS/SYS/hints/barriers/PSTATE.
        0..=2 => 0xd500_0000 | (w & 0x003f_ffff),
        // Exception generation: SVC/HVC/SMC/BRK/HLT/DCPS.
        3 => 0xd400_0000 | (w & 0x00ff_ffff),
        // ERET and friends, branches to registers.
        4 => [
            0xd69f_03e0,
            0xd61f_0000 | (w & 0x3e0),
            0xd65f_03c0,
            0xd63f_0000 | (w & 0x3e0),
        ][(w >> 28) as usize & 3],
        // Loads and stores (any form).
        5 | 6 => (w & !0x0a00_0000) | 0x0800_0000,
        // Anything at all.
        _ => w,
    }
}

fn random_core(r: &mut Rng) -> Cpu {
    let mut cfg = CpuConfig::cortex_a57(0);
    cfg.has_el2 = r.chance(60);
    cfg.has_el3 = r.chance(50);
    cfg.reset_el = match (cfg.has_el2, cfg.has_el3) {
        (_, true) => 1 + r.below(3) as u8,
        (true, false) => 1 + r.below(2) as u8,
        _ => 1,
    };
    cfg.gic_sysregs = r.chance(30);
    let mut cpu = Cpu::new(0, cfg, BASE);
    for i in 0..31 {
        cpu.x[i] = match r.below(4) {
            0 => BASE + r.below(SIZE as u64),
            1 => r.next(),
            2 => r.below(64),
            _ => BASE.wrapping_sub(8),
        };
    }
    for el in 0..4 {
        cpu.sp_el[el] = BASE + r.below(SIZE as u64);
    }
    let ram_addr = |r: &mut Rng| BASE + (r.below(SIZE as u64) & !0xfff);
    // Random (raw, unmasked) values for the registers that steer
    // exceptions, traps and translation.
    let regs = [
        SysReg::SCTLR_EL1,
        SysReg::TCR_EL1,
        SysReg::TTBR0_EL1,
        SysReg::TTBR1_EL1,
        SysReg::MAIR_EL1,
        SysReg::VBAR_EL1,
        SysReg::CPACR_EL1,
        SysReg::HCR_EL2,
        SysReg::SCTLR_EL2,
        SysReg::TCR_EL2,
        SysReg::TTBR0_EL2,
        SysReg::VBAR_EL2,
        SysReg::CPTR_EL2,
        SysReg::VTTBR_EL2,
        SysReg::SCR_EL3,
        SysReg::SCTLR_EL3,
        SysReg::TCR_EL3,
        SysReg::TTBR0_EL3,
        SysReg::VBAR_EL3,
        SysReg::CPTR_EL3,
        SysReg::CNTHCTL_EL2,
        SysReg::CNTKCTL_EL1,
        SysReg::SPSR_EL1,
        SysReg::SPSR_EL2,
        SysReg::SPSR_EL3,
        SysReg::ELR_EL1,
        SysReg::ELR_EL2,
        SysReg::ELR_EL3,
    ];
    for reg in regs {
        if r.chance(50) {
            let v = match r.below(3) {
                0 => r.next(),
                1 => ram_addr(r),
                _ => r.next() & 0xffff_ffff,
            };
            cpu.sys.set(reg, v);
        }
    }
    cpu.pstate.daif = r.below(16) as u32;
    cpu
}

#[test]
fn random_system_code_never_panics_the_host() {
    let cases: u64 = std::env::var("PREBOARD_HOSTILE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let seed = std::env::var("PREBOARD_DIFF_SEED")
        .ok()
        .and_then(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0x5eed_1234_abcd_0001);
    let mut events = [0u64; 6];
    for case in 0..cases {
        let mut r = Rng(seed ^ case.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut ram = Ram(vec![0; SIZE]);
        // Code, vectors, tables and data all come from the same random
        // words, so walks read garbage descriptors and vectors run garbage.
        for chunk in ram.0.chunks_exact_mut(4) {
            let w = if r.chance(80) { word(&mut r) } else { r.next() as u32 };
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        let mut cpu = random_core(&mut r);
        // Usually give each EL a vector table whose every entry skips the
        // offending instruction and returns, so a case keeps running (and
        // keeps provoking) instead of ending in its first exception loop.
        for (el, vbar, mrs, msr) in [
            (1, SysReg::VBAR_EL1, 0xd538_403e_u32, 0xd518_403e_u32),
            (2, SysReg::VBAR_EL2, 0xd53c_403e, 0xd51c_403e),
            (3, SysReg::VBAR_EL3, 0xd53e_403e, 0xd51e_403e),
        ] {
            if r.chance(85) {
                let table = 0x8000 + el * 0x1000;
                for entry in 0..16 {
                    let at = table + entry * 0x80;
                    for (i, w) in [mrs, 0x9100_13de, msr, 0xd69f_03e0].iter().enumerate() {
                        ram.0[at + i * 4..at + i * 4 + 4].copy_from_slice(&w.to_le_bytes());
                    }
                }
                cpu.sys.set(vbar, BASE + table as u64);
            }
        }
        if r.chance(60) {
            // MMU off in every regime.
            for sctlr in [SysReg::SCTLR_EL1, SysReg::SCTLR_EL2, SysReg::SCTLR_EL3] {
                let v = cpu.sys.get(sctlr);
                cpu.sys.set(sctlr, v & !1);
            }
        }
        let max_el = if cpu.config.has_el3 {
            3
        } else if cpu.config.has_el2 {
            2
        } else {
            1
        };
        for _slice in 0..8 {
            cpu.irq.set(irq::IRQ, r.chance(20));
            cpu.irq.set(irq::FIQ, r.chance(10));
            cpu.irq.set(irq::SERROR, r.chance(5));
            cpu.irq.set(irq::VIRQ, r.chance(10));
            let (_, ev) = cpu.run(&mut ram, 250);
            let k = match ev {
                StepEvent::Budget => 0,
                StepEvent::Semihosting => {
                    cpu.finish_semihosting(0);
                    1
                }
                StepEvent::WaitForInterrupt | StepEvent::WaitForEvent => 2,
                StepEvent::FirmwareCall => 3,
                StepEvent::Fatal(_) => 4,
                StepEvent::Debug => panic!("case {case}: a debug stop with no breakpoint or watchpoint set"),
            };
            events[k] += 1;
            assert!(
                cpu.pstate.el <= max_el,
                "case {case}: core reached EL{} but implements up to EL{max_el}",
                cpu.pstate.el
            );
            if k == 4 {
                break;
            }
        }
        events[5] += cpu.icount;
    }
    eprintln!(
        "{cases} hostile cases (seed {seed:#x}): {} turns ran out of budget, {} semihosting, {} WFI/WFE, \
         {} firmware calls, {} stuck in exception loops; {} instructions retired",
        events[0], events[1], events[2], events[3], events[4], events[5]
    );
    assert!(events[5] > cases * 100, "the random code barely ran: {events:?}");
}
