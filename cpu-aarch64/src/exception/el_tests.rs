//! Exception levels EL0..EL3 through the interpreter: synchronous
//! exceptions and their syndromes per target EL, interrupt routing and
//! masking, ERET (legal and illegal), WFI/WFE, firmware conduits, TBI on
//! branch targets, and system-register access rules.

use super::*;
use crate::bus::{Bus, BusError, PhysAddr, Requester};
use crate::interp::{StepEvent, StopReason};
use crate::sem::SysRegId;
use crate::state::{Conduit, CpuConfig};

const BASE: u64 = 0x4000_0000;
/// VBAR_EL1..EL3 (index = EL).
const VBAR_AT: [u64; 4] = [0, BASE + 0x1000, BASE + 0x2000, BASE + 0x3000];

const SVC: u32 = 0xd400_0241; // svc #0x12
const HVC: u32 = 0xd400_0682; // hvc #0x34
const SMC: u32 = 0xd400_0ac3; // smc #0x56
const BRK: u32 = 0xd420_0020; // brk #1
const UDF: u32 = 0x0000_0000; // udf #0
const ERET: u32 = 0xd69f_03e0;
const WFI: u32 = 0xd503_207f;
const WFE: u32 = 0xd503_205f;
const SEV: u32 = 0xd503_209f;
const SEVL: u32 = 0xd503_20bf;
const NOP: u32 = 0xd503_201f;
const HLT: u32 = 0xd45e_0000; // hlt #0xf000
const BR_X0: u32 = 0xd61f_0000;
const FMOV_D0_X0: u32 = 0x9e67_0000;
const MRS_X0_HCR_EL2: u32 = 0xd53c_1100;
const MSR_TTBR0_EL1_X0: u32 = 0xd518_2000;
const MRS_X1_CNTPCT: u32 = 0xd53b_e021;
const MSR_PAN_1: u32 = 0xd500_419f;
const MRS_X0_PAN: u32 = 0xd538_4260;
const MRS_X0_ICC_IAR1: u32 = 0xd538_cc00;
const MSR_ICC_EOIR1_X0: u32 = 0xd518_cc20;
const LDR_X1_X0: u32 = 0xf940_0001;

/// ESR with EC `ec`, IL = 1 and `iss`.
fn esr(ec: u32, iss: u32) -> u64 {
    u64::from((ec << 26) | (1 << 25) | iss)
}

/// Flat RAM at `BASE`; the GICv3 sysreg hooks answer 0x77 and record the
/// EL of each access.
struct Ram {
    mem: Vec<u8>,
    gic_els: Vec<u8>,
}

impl Bus for Ram {
    fn read(&mut self, _req: Requester, pa: PhysAddr, size: u8) -> Result<u64, BusError> {
        let off = pa.0.checked_sub(BASE).ok_or(BusError::Unmapped(pa))? as usize;
        let bytes = self.mem.get(off..off + size as usize).ok_or(BusError::Unmapped(pa))?;
        Ok(bytes.iter().rev().fold(0, |acc, &b| (acc << 8) | u64::from(b)))
    }
    fn write(&mut self, _req: Requester, pa: PhysAddr, size: u8, value: u64) -> Result<(), BusError> {
        let off = pa.0.checked_sub(BASE).ok_or(BusError::Unmapped(pa))? as usize;
        let bytes = self
            .mem
            .get_mut(off..off + size as usize)
            .ok_or(BusError::Unmapped(pa))?;
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (value >> (8 * i)) as u8;
        }
        Ok(())
    }
    fn gic_sysreg_read(&mut self, _cpu: usize, _id: SysRegId, el: u8) -> Option<u64> {
        self.gic_els.push(el);
        Some(0x77)
    }
    fn gic_sysreg_write(&mut self, _cpu: usize, _id: SysRegId, el: u8, _value: u64) -> bool {
        self.gic_els.push(el);
        true
    }
}

fn config(el2: bool, el3: bool, reset_el: u8) -> CpuConfig {
    let mut c = CpuConfig::cortex_a57(0);
    c.has_el2 = el2;
    c.has_el3 = el3;
    c.reset_el = reset_el;
    c
}

/// A core built from `cfg` running `words` at `BASE`, with VBAR_ELx set
/// and the vectors filled with HLT.
fn core_with(cfg: CpuConfig, words: &[u32]) -> (Cpu, Ram) {
    let mut ram = Ram {
        mem: vec![0; 0x4000],
        gic_els: Vec::new(),
    };
    let hlt = HLT.to_le_bytes();
    for off in (0x1000..0x4000).step_by(4) {
        ram.mem[off..off + 4].copy_from_slice(&hlt);
    }
    for (i, w) in words.iter().enumerate() {
        ram.mem[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    let mut cpu = Cpu::new(0, cfg, BASE);
    cpu.sys.set(SysReg::VBAR_EL1, VBAR_AT[1]);
    cpu.sys.set(SysReg::VBAR_EL2, VBAR_AT[2]);
    cpu.sys.set(SysReg::VBAR_EL3, VBAR_AT[3]);
    (cpu, ram)
}

/// A core with EL2 and EL3 entered at `el` (EL0 entered as EL0t with
/// Non-secure EL1/EL2 set up as for an EL1 entry).
fn core(el: u8, words: &[u32]) -> (Cpu, Ram) {
    let (mut cpu, ram) = core_with(config(true, true, el.max(1)), words);
    if el == 0 {
        cpu.pstate.el = 0;
        cpu.pstate.sp = false;
    }
    (cpu, ram)
}

fn step_exception(cpu: &mut Cpu, ram: &mut Ram) {
    assert_eq!(cpu.step(ram), Err(StopReason::Exception), "pc={:#x}", cpu.pc);
}

#[test]
fn svc_hvc_smc_and_their_target_els() {
    // SVC at EL1 -> EL1 (current EL, SPx: +0x200), return after the SVC.
    let (mut cpu, mut ram) = core(1, &[SVC]);
    assert_eq!(
        cpu.sys.get(SysReg::SCR_EL3) & scr::NS,
        scr::NS,
        "EL1 entry is Non-secure"
    );
    step_exception(&mut cpu, &mut ram);
    assert_eq!(cpu.pstate.el, 1);
    assert_eq!(cpu.sys.get(SysReg::ESR_EL1), esr(0x15, 0x12));
    assert_eq!(cpu.sys.get(SysReg::ELR_EL1), BASE + 4);
    assert_eq!(cpu.sys.get(SysReg::SPSR_EL1), 0x3c5);
    assert_eq!(cpu.pc, VBAR_AT[1] + 0x200);

    // HVC at EL1 -> EL2 (lower EL: +0x400), EC 0x16.
    let (mut cpu, mut ram) = core(1, &[HVC]);
    cpu.pstate.nzcv = 0x6000_0000;
    step_exception(&mut cpu, &mut ram);
    assert_eq!(cpu.pstate.el, 2);
    assert_eq!(cpu.sys.get(SysReg::ESR_EL2), esr(0x16, 0x34));
    assert_eq!(cpu.sys.get(SysReg::ELR_EL2), BASE + 4);
    assert_eq!(cpu.sys.get(SysReg::SPSR_EL2), 0x6000_03c5);
    assert_eq!(cpu.pc, VBAR_AT[2] + 0x400);
    assert_eq!(cpu.sys.get(SysReg::ESR_EL1), 0, "EL1 registers untouched");

    // SMC at EL1 -> EL3, EC 0x17, return after the SMC.
    let (mut cpu, mut ram) = core(1, &[SMC]);
    step_exception(&mut cpu, &mut ram);
    assert_eq!(cpu.pstate.el, 3);
    assert_eq!(cpu.sys.get(SysReg::ESR_EL3), esr(0x17, 0x56));
    assert_eq!(cpu.sys.get(SysReg::ELR_EL3), BASE + 4);
    assert_eq!(cpu.pc, VBAR_AT[3] + 0x400);

    // SMC at EL1 trapped by HCR_EL2.TSC -> EL2, EC 0x17, return to the SMC.
    let (mut cpu, mut ram) = core(1, &[SMC]);
    cpu.sys.set(SysReg::HCR_EL2, hcr::RW | hcr::TSC);
    step_exception(&mut cpu, &mut ram);
    assert_eq!(cpu.pstate.el, 2);
    assert_eq!(cpu.sys.get(SysReg::ESR_EL2), esr(0x17, 0x56));
    assert_eq!(cpu.sys.get(SysReg::ELR_EL2), BASE);

    // SVC at EL0 under HCR_EL2.TGE -> EL2.
    let (mut cpu, mut ram) = core(0, &[SVC]);
    cpu.sys.set(SysReg::HCR_EL2, hcr::RW | hcr::TGE);
    step_exception(&mut cpu, &mut ram);
    assert_eq!(cpu.pstate.el, 2);
    assert_eq!(cpu.sys.get(SysReg::ESR_EL2), esr(0x15, 0x12));
    assert_eq!(cpu.sys.get(SysReg::SPSR_EL2), 0x3c0, "EL0t");
    assert_eq!(cpu.pc, VBAR_AT[2] + 0x400);

    // SVC at EL2 stays at EL2; BRK at EL2 likewise.
    let (mut cpu, mut ram) = core(2, &[SVC, BRK]);
    step_exception(&mut cpu, &mut ram);
    assert_eq!((cpu.pstate.el, cpu.pc), (2, VBAR_AT[2] + 0x200));
    cpu.pc = BASE + 4;
    step_exception(&mut cpu, &mut ram);
    assert_eq!(cpu.sys.get(SysReg::ESR_EL2), esr(0x3c, 1));
    assert_eq!(cpu.sys.get(SysReg::ELR_EL2), BASE + 4);

    // UDF at EL3 -> EL3, EC 0; HVC at EL3 -> EL3, EC 0x16.
    let (mut cpu, mut ram) = core(3, &[UDF, HVC]);
    step_exception(&mut cpu, &mut ram);
    assert_eq!(cpu.sys.get(SysReg::ESR_EL3), esr(0, 0));
    assert_eq!(cpu.sys.get(SysReg::ELR_EL3), BASE);
    cpu.pc = BASE + 4;
    cpu.sys.set(SysReg::SCR_EL3, scr::RES1 | scr::RW | scr::HCE);
    step_exception(&mut cpu, &mut ram);
    assert_eq!(cpu.sys.get(SysReg::ESR_EL3), esr(0x16, 0x34));
    assert_eq!(cpu.pc, VBAR_AT[3] + 0x200);
}

#[test]
fn undefined_hvc_and_smc() {
    let undef_at_el1 = |cpu: &mut Cpu, ram: &mut Ram| {
        step_exception(cpu, ram);
        assert_eq!(cpu.pstate.el, 1);
        assert_eq!(cpu.sys.get(SysReg::ESR_EL1), esr(0, 0));
        assert_eq!(cpu.sys.get(SysReg::ELR_EL1), BASE);
    };
    // HVC and SMC at EL0.
    for w in [HVC, SMC] {
        let (mut cpu, mut ram) = core(0, &[w]);
        undef_at_el1(&mut cpu, &mut ram);
    }
    // HVC disabled by SCR_EL3.HCE = 0.
    let (mut cpu, mut ram) = core(1, &[HVC]);
    cpu.sys.set(SysReg::SCR_EL3, scr::RES1 | scr::RW | scr::NS);
    undef_at_el1(&mut cpu, &mut ram);
    // SMC disabled by SCR_EL3.SMD = 1.
    let (mut cpu, mut ram) = core(1, &[SMC]);
    cpu.sys
        .set(SysReg::SCR_EL3, scr::RES1 | scr::RW | scr::NS | scr::HCE | scr::SMD);
    undef_at_el1(&mut cpu, &mut ram);
    // HVC in Secure EL1 (no Secure EL2).
    let (mut cpu, mut ram) = core(1, &[HVC]);
    cpu.sys.set(SysReg::SCR_EL3, scr::RES1 | scr::RW | scr::HCE);
    undef_at_el1(&mut cpu, &mut ram);
    // No EL2 / no EL3 and no conduit.
    let (mut cpu, mut ram) = core_with(config(false, true, 1), &[HVC]);
    undef_at_el1(&mut cpu, &mut ram);
    let (mut cpu, mut ram) = core_with(config(true, false, 1), &[SMC]);
    undef_at_el1(&mut cpu, &mut ram);
}

#[test]
fn firmware_conduit_stops_with_pc_advanced() {
    // Any immediate is a call (as QEMU's emulated firmware has it).
    for (conduit, word) in [(Conduit::Hvc, HVC), (Conduit::Smc, SMC)] {
        let mut cfg = config(false, false, 1);
        cfg.firmware_conduit = Some(conduit);
        let (mut cpu, mut ram) = core_with(cfg, &[word, HLT]);
        cpu.x[0] = 0x8400_0000;
        let (n, ev) = cpu.run(&mut ram, 100);
        assert_eq!((n, ev), (1, StepEvent::FirmwareCall), "{conduit:?}");
        assert_eq!(cpu.pc, BASE + 4);
        assert_eq!(cpu.pstate.el, 1);
        assert_eq!(cpu.sys.get(SysReg::ESR_EL1), 0, "no exception taken");
        cpu.x[0] = 0; // the machine's answer
        let (_, ev) = cpu.run(&mut ram, 100);
        assert_eq!(ev, StepEvent::Semihosting, "resumes after the call");
    }
    // The other instruction is UNDEFINED.
    let mut cfg = config(false, false, 1);
    cfg.firmware_conduit = Some(Conduit::Smc);
    let (mut cpu, mut ram) = core_with(cfg, &[HVC]);
    step_exception(&mut cpu, &mut ram);
    assert_eq!(cpu.sys.get(SysReg::ESR_EL1), esr(0, 0));
}

#[test]
fn data_abort_syndrome_and_far_per_el() {
    // At EL2: same-EL data abort (EC 0x25), FAR_EL2.
    let (mut cpu, mut ram) = core(2, &[LDR_X1_X0]);
    cpu.x[0] = 0x1000;
    step_exception(&mut cpu, &mut ram);
    assert_eq!(cpu.sys.get(SysReg::ESR_EL2), esr(0x25, 0x10));
    assert_eq!(cpu.sys.get(SysReg::FAR_EL2), 0x1000);
    // At EL0 under TGE: lower-EL data abort (EC 0x24) at EL2.
    let (mut cpu, mut ram) = core(0, &[LDR_X1_X0]);
    cpu.sys.set(SysReg::HCR_EL2, hcr::RW | hcr::TGE);
    cpu.x[0] = 0x2000;
    step_exception(&mut cpu, &mut ram);
    assert_eq!(cpu.sys.get(SysReg::ESR_EL2), esr(0x24, 0x10));
    assert_eq!(cpu.sys.get(SysReg::FAR_EL2), 0x2000);
    assert_eq!(cpu.sys.get(SysReg::FAR_EL1), 0);
    // At EL3.
    let (mut cpu, mut ram) = core(3, &[LDR_X1_X0]);
    cpu.x[0] = 0x3000;
    step_exception(&mut cpu, &mut ram);
    assert_eq!(cpu.sys.get(SysReg::ESR_EL3), esr(0x25, 0x10));
    assert_eq!(cpu.sys.get(SysReg::FAR_EL3), 0x3000);
}

#[test]
fn eret_legal_returns() {
    // EL3 -> EL2h needs SCR_EL3.NS; PC from ELR, PSTATE from SPSR.
    let (mut cpu, mut ram) = core(3, &[ERET]);
    cpu.sys.set(SysReg::SCR_EL3, scr::RES1 | scr::RW | scr::NS);
    cpu.sys.set(SysReg::SPSR_EL3, 0x9000_0009 | 0x140); // NZCV=1001, A, F, EL2h
    cpu.sys.set(SysReg::ELR_EL3, BASE + 0x40);
    cpu.step(&mut ram).unwrap();
    assert_eq!(cpu.pstate.el, 2);
    assert!(cpu.pstate.sp && !cpu.pstate.il);
    assert_eq!(cpu.pstate.daif, 0b0101);
    assert_eq!(cpu.pstate.nzcv, 0x9000_0000);
    assert_eq!(cpu.pc, BASE + 0x40);
    assert!(cpu.event, "an exception return sets the event register");

    // EL1 -> EL0t, with PAN restored from SPSR (to EL1).
    let (mut cpu, mut ram) = core(1, &[ERET, ERET]);
    cpu.sys.set(SysReg::SPSR_EL1, 0);
    cpu.sys.set(SysReg::ELR_EL1, BASE + 4);
    cpu.step(&mut ram).unwrap();
    assert_eq!((cpu.pstate.el, cpu.pstate.sp, cpu.pc), (0, false, BASE + 4));

    let (mut cpu, mut ram) = core(2, &[ERET]);
    cpu.sys.set(SysReg::SPSR_EL2, 0x40_0000 | 0x3c5);
    cpu.sys.set(SysReg::ELR_EL2, BASE + 8);
    cpu.step(&mut ram).unwrap();
    assert_eq!((cpu.pstate.el, cpu.pstate.pan), (1, true));
}

#[test]
fn eret_illegal_returns_set_il_then_fault() {
    // (EL, HCR_EL2, SCR_EL3, SPSR, has_el2, why)
    let cases: &[(u8, u64, u64, u64, bool, &str)] = &[
        (1, 0, scr::NS, 0x3c9, true, "EL2 target from EL1 (higher EL)"),
        (3, 0, scr::NS, 0x3c9, false, "EL2 not implemented"),
        (2, 0, scr::NS, 0x3d0, true, "AArch32 (M[4] set)"),
        (2, hcr::TGE, scr::NS, 0x3c5, true, "EL1 target with HCR_EL2.TGE"),
        (3, 0, 0, 0x3c9, true, "EL2 target in Secure state"),
        (2, 0, scr::NS, 0x3c6, true, "M[1] set"),
        (2, 0, scr::NS, 0x3c1, true, "EL0 with SPSel = 1"),
    ];
    for &(el, h, s, spsr, el2, why) in cases {
        let (mut cpu, mut ram) = core_with(config(el2, true, el), &[ERET]);
        cpu.sys.set(SysReg::HCR_EL2, hcr::RW | h);
        cpu.sys.set(SysReg::SCR_EL3, scr::RES1 | scr::RW | s);
        let (spsr_r, elr_r, esr_r, _, _) = el_regs(el);
        cpu.sys.set(spsr_r, spsr | 0x8000_0000);
        cpu.sys.set(elr_r, BASE + 0x100);
        cpu.step(&mut ram).unwrap();
        assert!(cpu.pstate.il, "{why}: PSTATE.IL");
        assert_eq!(cpu.pstate.el, el, "{why}: EL unchanged");
        assert!(cpu.pstate.sp, "{why}: SPSel unchanged");
        assert_eq!(cpu.pstate.nzcv, 0x8000_0000, "{why}: flags still restored");
        assert_eq!(cpu.pc, BASE + 0x100, "{why}: PC from ELR");
        // The next instruction takes an Illegal State exception (EC 0x0E).
        step_exception(&mut cpu, &mut ram);
        assert_eq!(cpu.pstate.el, el, "{why}");
        assert_eq!(cpu.sys.get(esr_r), esr(0x0e, 0), "{why}");
        assert_eq!(cpu.sys.get(elr_r), BASE + 0x100, "{why}");
        assert_eq!(cpu.sys.get(spsr_r) >> 20 & 1, 1, "{why}: SPSR.IL");
        assert!(!cpu.pstate.il, "{why}: IL cleared on entry");
        assert_eq!(cpu.pc, VBAR_AT[usize::from(el)] + 0x200, "{why}");
    }
    // ERET at EL0 is UNDEFINED.
    let (mut cpu, mut ram) = core(0, &[ERET]);
    step_exception(&mut cpu, &mut ram);
    assert_eq!(cpu.sys.get(SysReg::ESR_EL1), esr(0, 0));
}

/// Steps once with `line` asserted and returns where the core went: the
/// vector offset from VBAR_EL`el` (or `None` if no exception was taken).
fn interrupt_lands(cpu: &mut Cpu, ram: &mut Ram, line: u32) -> Option<(u8, u64)> {
    cpu.pc = BASE; // the NOPs
    cpu.irq.set(line, true);
    let pc = cpu.pc;
    let r = cpu.step(ram);
    cpu.irq.set(line, false);
    match r {
        Ok(()) => None,
        Err(StopReason::Exception) => {
            let el = cpu.pstate.el;
            let (_, elr_r, ..) = el_regs(el);
            assert_eq!(cpu.sys.get(elr_r), pc, "return address = next instruction");
            Some((el, cpu.pc - VBAR_AT[usize::from(el)]))
        }
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn interrupt_routing_and_masking() {
    let nops = [NOP; 8];
    // No EL2/EL3: IRQ to EL1, masked by PSTATE.I at EL1.
    let (mut cpu, mut ram) = core_with(config(false, false, 1), &nops);
    cpu.sys.set(SysReg::ESR_EL1, 0xdead);
    assert_eq!(interrupt_lands(&mut cpu, &mut ram, irq::IRQ), None, "masked");
    cpu.pstate.daif = 0;
    assert_eq!(interrupt_lands(&mut cpu, &mut ram, irq::IRQ), Some((1, 0x280)));
    assert_eq!(cpu.sys.get(SysReg::ESR_EL1), 0xdead, "IRQ leaves ESR alone");
    assert_eq!(cpu.sys.get(SysReg::SPSR_EL1), 0x5, "EL1h, unmasked");
    assert_eq!(cpu.pstate.daif, 0xf);
    // EL1 with SP_EL0 -> +0x000 group; FIQ +0x100.
    cpu.pc = BASE;
    cpu.pstate.daif = 0;
    cpu.pstate.sp = false;
    assert_eq!(interrupt_lands(&mut cpu, &mut ram, irq::FIQ), Some((1, 0x100)));
    // EL0 -> EL1: masked by PSTATE.I too; unmasked it uses the lower-EL group.
    cpu.pc = BASE;
    cpu.pstate.el = 0;
    cpu.pstate.daif = 0b0010;
    assert_eq!(interrupt_lands(&mut cpu, &mut ram, irq::IRQ), None);
    cpu.pstate.daif = 0;
    assert_eq!(interrupt_lands(&mut cpu, &mut ram, irq::IRQ), Some((1, 0x480)));
    // SError: EC 0x2F in ESR.
    cpu.pc = BASE;
    cpu.pstate.daif = 0;
    assert_eq!(interrupt_lands(&mut cpu, &mut ram, irq::SERROR), Some((1, 0x380)));
    assert_eq!(cpu.sys.get(SysReg::ESR_EL1), SERROR_SYNDROME);
    assert_eq!(SERROR_SYNDROME, 0xbe00_0000);

    // HCR_EL2.IMO: from EL1 to EL2, not masked by PSTATE.I there.
    let (mut cpu, mut ram) = core(1, &nops);
    cpu.sys.set(SysReg::HCR_EL2, hcr::RW | hcr::IMO | hcr::FMO);
    assert_eq!(interrupt_lands(&mut cpu, &mut ram, irq::IRQ), Some((2, 0x480)));
    // At EL2 itself: masked by PSTATE.I (set on entry), then taken.
    assert_eq!(interrupt_lands(&mut cpu, &mut ram, irq::FIQ), None);
    cpu.pstate.daif = 0;
    assert_eq!(interrupt_lands(&mut cpu, &mut ram, irq::FIQ), Some((2, 0x300)));
    // At EL2 with IMO clear the IRQ targets EL1: never taken at EL2.
    cpu.sys.set(SysReg::HCR_EL2, hcr::RW);
    cpu.pstate.daif = 0;
    assert_eq!(interrupt_lands(&mut cpu, &mut ram, irq::IRQ), None);

    // SCR_EL3.IRQ: from EL1 (masked or not) to EL3.
    let (mut cpu, mut ram) = core(1, &nops);
    cpu.sys.set(SysReg::SCR_EL3, scr::RES1 | scr::RW | scr::NS | scr::IRQ);
    cpu.sys.set(SysReg::HCR_EL2, hcr::RW | hcr::IMO);
    assert_eq!(interrupt_lands(&mut cpu, &mut ram, irq::IRQ), Some((3, 0x480)));
    // At EL3: masked by PSTATE.I, taken when clear.
    assert_eq!(interrupt_lands(&mut cpu, &mut ram, irq::IRQ), None);
    cpu.pstate.daif = 0;
    assert_eq!(interrupt_lands(&mut cpu, &mut ram, irq::IRQ), Some((3, 0x280)));
    // At EL3 with SCR_EL3.IRQ clear: not taken.
    cpu.sys.set(SysReg::SCR_EL3, scr::RES1 | scr::RW | scr::NS);
    cpu.pstate.daif = 0;
    assert_eq!(interrupt_lands(&mut cpu, &mut ram, irq::IRQ), None);
    // SCR_EL3.FIQ from EL2.
    let (mut cpu, mut ram) = core(2, &nops);
    cpu.sys.set(SysReg::SCR_EL3, scr::RES1 | scr::RW | scr::NS | scr::FIQ);
    assert_eq!(interrupt_lands(&mut cpu, &mut ram, irq::FIQ), Some((3, 0x500)));

    // HCR_EL2.TGE routes EL0 interrupts to EL2.
    let (mut cpu, mut ram) = core(0, &nops);
    cpu.sys.set(SysReg::HCR_EL2, hcr::RW | hcr::TGE);
    cpu.pstate.daif = 0xf;
    assert_eq!(interrupt_lands(&mut cpu, &mut ram, irq::IRQ), Some((2, 0x480)));
}

#[test]
fn virtual_interrupts() {
    let nops = [NOP; 8];
    let (mut cpu, mut ram) = core(1, &nops);
    // The VIRQ line needs HCR_EL2.IMO.
    cpu.pstate.daif = 0;
    assert_eq!(interrupt_lands(&mut cpu, &mut ram, irq::VIRQ), None);
    assert!(!cpu.interrupt_pending_for_wake());
    cpu.sys.set(SysReg::HCR_EL2, hcr::RW | hcr::IMO);
    assert_eq!(interrupt_lands(&mut cpu, &mut ram, irq::VIRQ), Some((1, 0x280)));
    // HCR_EL2.VI: masked by PSTATE.I at EL1, not taken at EL2.
    cpu.sys.set(SysReg::HCR_EL2, hcr::RW | hcr::IMO | hcr::VI);
    assert!(cpu.interrupt_pending_for_wake());
    cpu.pc = BASE;
    assert_eq!(cpu.step(&mut ram), Ok(()), "masked");
    cpu.pstate.daif = 0;
    assert_eq!(cpu.step(&mut ram), Err(StopReason::Exception));
    assert_eq!((cpu.pstate.el, cpu.pc), (1, VBAR_AT[1] + 0x280));
    cpu.pstate.el = 2;
    cpu.pstate.daif = 0;
    cpu.pc = BASE;
    assert_eq!(cpu.step(&mut ram), Ok(()), "virtual IRQs are for EL0/EL1 only");
    // HCR_EL2.VSE with AMO: a virtual SError at EL1, VSE cleared on entry.
    cpu.pstate.el = 1;
    cpu.pc = BASE;
    cpu.sys.set(SysReg::HCR_EL2, hcr::RW | hcr::AMO | hcr::VSE);
    assert_eq!(cpu.step(&mut ram), Err(StopReason::Exception));
    assert_eq!(cpu.pc, VBAR_AT[1] + 0x380);
    assert_eq!(cpu.sys.get(SysReg::ESR_EL1), SERROR_SYNDROME);
    assert_eq!(cpu.sys.get(SysReg::HCR_EL2), hcr::RW | hcr::AMO);
    assert_eq!(cpu.sys.virt_pending, 0);
}

#[test]
fn wfi_waits_or_completes() {
    // No interrupt: WFI stops with PC past it.
    let (mut cpu, mut ram) = core_with(config(false, false, 1), &[WFI, HLT]);
    assert_eq!(cpu.run(&mut ram, 10), (1, StepEvent::WaitForInterrupt));
    assert_eq!(cpu.pc, BASE + 4);
    assert!(!cpu.interrupt_pending_for_wake());
    // A pending but masked interrupt: WFI completes as a NOP and nothing
    // is taken (PSTATE.I is set).
    let (mut cpu, mut ram) = core_with(config(false, false, 1), &[WFI, HLT]);
    cpu.irq.set(irq::IRQ, true);
    assert!(cpu.interrupt_pending_for_wake());
    assert_eq!(cpu.run(&mut ram, 10), (1, StepEvent::Semihosting));
    assert_eq!(cpu.pc, BASE + 4);
}

#[test]
fn wfx_traps_to_el2_and_el3() {
    // HCR_EL2.TWI: WFI at EL1 -> EL2, EC 0x01, return to the WFI.
    let (mut cpu, mut ram) = core(1, &[WFI]);
    cpu.sys.set(SysReg::HCR_EL2, hcr::RW | hcr::TWI);
    step_exception(&mut cpu, &mut ram);
    assert_eq!(cpu.pstate.el, 2);
    assert_eq!(cpu.sys.get(SysReg::ESR_EL2), 0x07e0_0000);
    assert_eq!(cpu.sys.get(SysReg::ELR_EL2), BASE);
    assert_eq!(cpu.pc, VBAR_AT[2] + 0x400);
    // ... but not when an interrupt is pending: WFI completes.
    let (mut cpu, mut ram) = core(1, &[WFI]);
    cpu.sys.set(SysReg::HCR_EL2, hcr::RW | hcr::TWI);
    cpu.irq.set(irq::IRQ, true);
    assert_eq!(cpu.step(&mut ram), Ok(()));
    // SCR_EL3.TWE: WFE at EL2 -> EL3 with TI = 1.
    let (mut cpu, mut ram) = core(2, &[WFE]);
    cpu.sys.set(SysReg::SCR_EL3, cpu.sys.get(SysReg::SCR_EL3) | scr::TWE);
    step_exception(&mut cpu, &mut ram);
    assert_eq!(cpu.pstate.el, 3);
    assert_eq!(cpu.sys.get(SysReg::ESR_EL3), 0x07e0_0001);
    // EL0 WFI with SCTLR_EL1.nTWI clear under TGE -> EL2.
    let (mut cpu, mut ram) = core(0, &[WFI]);
    cpu.sys.set(SysReg::HCR_EL2, hcr::RW | hcr::TGE);
    cpu.sys.set(SysReg::SCTLR_EL1, 0);
    step_exception(&mut cpu, &mut ram);
    assert_eq!((cpu.pstate.el, cpu.sys.get(SysReg::ESR_EL2)), (2, 0x07e0_0000));
}

#[test]
fn wfe_and_the_event_register() {
    let (mut cpu, mut ram) = core_with(config(false, false, 1), &[SEVL, WFE, WFE, SEV, WFE]);
    assert!(!cpu.event);
    cpu.step(&mut ram).unwrap();
    assert!(cpu.event, "SEVL sets it");
    cpu.step(&mut ram).unwrap();
    assert!(!cpu.event, "WFE consumed it");
    assert_eq!(cpu.step(&mut ram), Err(StopReason::WaitForEvent));
    assert_eq!(cpu.pc, BASE + 12, "PC past the WFE");
    assert!(!cpu.sent_event);
    cpu.step(&mut ram).unwrap();
    assert!(cpu.sent_event && cpu.event, "SEV signals everyone, this core too");
    cpu.step(&mut ram).unwrap();
    // run() reports WaitForEvent.
    let (mut cpu, mut ram) = core_with(config(false, false, 1), &[WFE]);
    assert_eq!(cpu.run(&mut ram, 10), (1, StepEvent::WaitForEvent));
    // A pending interrupt wakes WFE.
    let (mut cpu, mut ram) = core_with(config(false, false, 1), &[WFE]);
    cpu.irq.set(irq::FIQ, true);
    assert_eq!(cpu.step(&mut ram), Ok(()));
}

#[test]
fn tbi_on_branch_targets() {
    // EL1 with TCR_EL1.TBI0: the tag of a low-half target is dropped.
    let (mut cpu, mut ram) = core_with(config(false, false, 1), &[BR_X0]);
    cpu.sys.set(SysReg::TCR_EL1, 1 << 37);
    cpu.x[0] = 0x5a00_0000_4000_0100;
    cpu.step(&mut ram).unwrap();
    assert_eq!(cpu.pc, 0x0000_0000_4000_0100);
    // TBI1 for a high-half target: the top byte becomes 0xff.
    cpu.pc = BASE;
    cpu.sys.set(SysReg::TCR_EL1, 1 << 38);
    cpu.x[0] = 0x1280_0000_0000_1000;
    cpu.step(&mut ram).unwrap();
    assert_eq!(cpu.pc, 0xff80_0000_0000_1000);
    // Without TBI the target is kept as is.
    cpu.pc = BASE;
    cpu.sys.set(SysReg::TCR_EL1, 0);
    cpu.x[0] = 0x5a00_0000_4000_0100;
    cpu.step(&mut ram).unwrap();
    assert_eq!(cpu.pc, 0x5a00_0000_4000_0100);
    // EL2 with TCR_EL2.TBI: the top byte is zeroed.
    let (mut cpu, mut ram) = core(2, &[BR_X0, ERET]);
    cpu.sys.set(SysReg::TCR_EL2, 1 << 20);
    cpu.x[0] = 0xff80_0000_4000_0004;
    cpu.step(&mut ram).unwrap();
    assert_eq!(cpu.pc, 0x0080_0000_4000_0004);
    // ERET applies the regime of the EL it returns to (EL1: TBI0).
    cpu.pc = BASE + 4;
    cpu.sys.set(SysReg::TCR_EL1, 1 << 37);
    cpu.sys.set(SysReg::SPSR_EL2, 0x3c5);
    cpu.sys.set(SysReg::ELR_EL2, 0x7700_0000_4000_0008);
    cpu.step(&mut ram).unwrap();
    assert_eq!((cpu.pstate.el, cpu.pc), (1, 0x4000_0008));
}

#[test]
fn fp_traps_to_el2_and_el3() {
    let (mut cpu, mut ram) = core(1, &[FMOV_D0_X0]);
    cpu.sys.set(SysReg::CPACR_EL1, 3 << 20);
    cpu.sys.set(
        SysReg::CPTR_EL2,
        crate::sysreg::cptr::EL2_RES1 | crate::sysreg::cptr::TFP,
    );
    step_exception(&mut cpu, &mut ram);
    assert_eq!(cpu.pstate.el, 2);
    assert_eq!(cpu.sys.get(SysReg::ESR_EL2), 0x1fe0_0000);
    let (mut cpu, mut ram) = core(2, &[FMOV_D0_X0]);
    cpu.sys.set(SysReg::CPTR_EL3, crate::sysreg::cptr::TFP);
    step_exception(&mut cpu, &mut ram);
    assert_eq!((cpu.pstate.el, cpu.sys.get(SysReg::ESR_EL3)), (3, 0x1fe0_0000));
    // CPACR_EL1.FPEN at EL0 under TGE goes to EL2.
    let (mut cpu, mut ram) = core(0, &[FMOV_D0_X0]);
    cpu.sys.set(SysReg::HCR_EL2, hcr::RW | hcr::TGE);
    step_exception(&mut cpu, &mut ram);
    assert_eq!((cpu.pstate.el, cpu.sys.get(SysReg::ESR_EL2)), (2, 0x1fe0_0000));
}

#[test]
fn system_register_traps_and_el_rules() {
    // MRS HCR_EL2 at EL1: UNDEFINED at EL1; at EL2 it reads.
    let (mut cpu, mut ram) = core(1, &[MRS_X0_HCR_EL2]);
    step_exception(&mut cpu, &mut ram);
    assert_eq!((cpu.pstate.el, cpu.sys.get(SysReg::ESR_EL1)), (1, esr(0, 0)));
    let (mut cpu, mut ram) = core(2, &[MRS_X0_HCR_EL2]);
    cpu.step(&mut ram).unwrap();
    assert_eq!(cpu.x[0], hcr::RW);
    // HCR_EL2.TVM: MSR TTBR0_EL1 at EL1 -> EL2, EC 0x18 quoting the MSR.
    let (mut cpu, mut ram) = core(1, &[MSR_TTBR0_EL1_X0]);
    cpu.sys.set(SysReg::HCR_EL2, hcr::RW | hcr::TVM);
    step_exception(&mut cpu, &mut ram);
    assert_eq!(cpu.pstate.el, 2);
    assert_eq!(
        cpu.sys.get(SysReg::ESR_EL2),
        esr(0x18, sysreg_trap_iss(MSR_TTBR0_EL1_X0))
    );
    assert_eq!(cpu.sys.get(SysReg::ELR_EL2), BASE);
    // CNTHCTL_EL2.EL1PCTEN clear: CNTPCT_EL0 at EL1 -> EL2.
    let (mut cpu, mut ram) = core(1, &[MRS_X1_CNTPCT]);
    cpu.sys.set(SysReg::CNTHCTL_EL2, 0);
    step_exception(&mut cpu, &mut ram);
    assert_eq!(cpu.sys.get(SysReg::ESR_EL2), esr(0x18, sysreg_trap_iss(MRS_X1_CNTPCT)));
    // The EL0 trap of an SCTLR_EL1 control goes to EL2 under TGE.
    let (mut cpu, mut ram) = core(0, &[0xd53b_0020]); // mrs x0, ctr_el0
    cpu.sys.set(SysReg::HCR_EL2, hcr::RW | hcr::TGE);
    cpu.sys.set(SysReg::SCTLR_EL1, 0);
    step_exception(&mut cpu, &mut ram);
    assert_eq!((cpu.pstate.el, cpu.sys.get(SysReg::ESR_EL2) >> 26), (2, 0x18));
}

#[test]
fn pan_field_and_register() {
    let (mut cpu, mut ram) = core_with(config(false, false, 1), &[MSR_PAN_1, MRS_X0_PAN, SVC]);
    cpu.step(&mut ram).unwrap();
    assert!(cpu.pstate.pan);
    cpu.step(&mut ram).unwrap();
    assert_eq!(cpu.x[0], 1 << 22);
    // SCTLR_EL1.SPAN clear: exception entry to EL1 sets PAN; SPSR keeps it.
    cpu.pstate.pan = false;
    cpu.sys.set(
        SysReg::SCTLR_EL1,
        cpu.sys.get(SysReg::SCTLR_EL1) & !crate::sysreg::sctlr::SPAN,
    );
    step_exception(&mut cpu, &mut ram);
    assert!(cpu.pstate.pan);
    assert_eq!(cpu.sys.get(SysReg::SPSR_EL1) >> 22 & 1, 0);
    // MSR PAN at EL0 is UNDEFINED.
    let (mut cpu, mut ram) = core(0, &[MSR_PAN_1]);
    step_exception(&mut cpu, &mut ram);
    assert_eq!(cpu.sys.get(SysReg::ESR_EL1), esr(0, 0));
}

#[test]
fn gic_system_registers_go_to_the_bus() {
    let mut cfg = config(false, false, 1);
    cfg.gic_sysregs = true;
    let (mut cpu, mut ram) = core_with(cfg.clone(), &[MRS_X0_ICC_IAR1, MSR_ICC_EOIR1_X0]);
    cpu.step(&mut ram).unwrap();
    cpu.step(&mut ram).unwrap();
    assert_eq!(cpu.x[0], 0x77);
    assert_eq!(ram.gic_els, [1, 1]);
    assert_eq!(cpu.sys.get(SysReg::ID_AA64PFR0_EL1) >> 24 & 0xf, 1);
    // EL0: UNDEFINED, the bus never sees it.
    let (mut cpu, mut ram) = core_with(cfg, &[MRS_X0_ICC_IAR1]);
    cpu.pstate.el = 0;
    cpu.pstate.sp = false;
    step_exception(&mut cpu, &mut ram);
    assert!(ram.gic_els.is_empty());
    // Without the interface: UNDEFINED.
    let (mut cpu, mut ram) = core_with(config(false, false, 1), &[MRS_X0_ICC_IAR1]);
    step_exception(&mut cpu, &mut ram);
    assert!(ram.gic_els.is_empty());
}

#[test]
fn reset_state_and_power_on() {
    let (cpu, _) = core_with(config(true, true, 3), &[]);
    assert_eq!((cpu.pstate.el, cpu.pstate.sp, cpu.pstate.daif), (3, true, 0xf));
    assert_eq!(cpu.sys.get(SysReg::SCR_EL3), scr::RES1 | scr::RW, "Secure");
    assert_eq!(cpu.sys.get(SysReg::RVBAR_EL3), BASE);
    assert_eq!(cpu.sys.get(SysReg::SCTLR_EL3), 0x30c5_0830);
    let (cpu, _) = core_with(config(true, true, 2), &[]);
    assert_eq!(cpu.pstate.el, 2);
    assert_eq!(cpu.sys.get(SysReg::SCR_EL3), scr::RES1 | scr::RW | scr::NS | scr::HCE);
    // An EL the core lacks falls back to the highest below it.
    let (cpu, _) = core_with(config(false, false, 3), &[]);
    assert_eq!(cpu.pstate.el, 1);

    let (mut cpu, _) = core_with(config(true, false, 2), &[]);
    let lines = cpu.irq.clone();
    cpu.x[5] = 55;
    cpu.sys.set(SysReg::HCR_EL2, hcr::RW | hcr::VI | hcr::IMO);
    cpu.icount = 10;
    cpu.power_on(BASE + 0x80, 0xc0ffee, 1);
    assert_eq!((cpu.pc, cpu.x[0], cpu.x[5]), (BASE + 0x80, 0xc0ffee, 0));
    assert_eq!((cpu.pstate.el, cpu.pstate.sp, cpu.pstate.daif), (1, true, 0xf));
    assert_eq!(cpu.sys.get(SysReg::HCR_EL2), hcr::RW);
    assert_eq!(cpu.sys.virt_pending, 0);
    assert_eq!(cpu.icount, 10);
    lines.set(irq::IRQ, true);
    assert_eq!(cpu.irq.get(), irq::IRQ, "the interrupt lines stay connected");
    cpu.reset(BASE);
    assert_eq!((cpu.pstate.el, cpu.x[0]), (2, 0));
}

#[test]
fn exception_loop_reports_the_current_el() {
    // EL2 with VBAR_EL2 pointing at nothing.
    let (mut cpu, mut ram) = core(2, &[UDF]);
    cpu.sys.set(SysReg::VBAR_EL2, 0);
    let (_, ev) = cpu.run(&mut ram, 1000);
    let StepEvent::Fatal(msg) = ev else { panic!("{ev:?}") };
    assert!(msg.contains("VBAR_EL2=0x0"), "{msg}");
    assert!(msg.contains("the first was ESR_EL2=0x2000000"), "{msg}");
}
