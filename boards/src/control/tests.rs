use super::*;
use crate::machine::MachineConfig;
use std::time::Duration;

/// The test program, at the image's entry E (data at E + 0x1000, a page
/// of its own: stores to the code's page would invalidate its
/// translations and hide what the JIT does with code it keeps):
///
/// ```text
/// E+0x00  adr  x1, E+0x1000
/// E+0x04  movz x2, #1
/// E+0x08  str  x2, [x1]        <- loop
/// E+0x0c  add  x2, x2, #1
/// E+0x10  str  w2, [x1, #8]
/// E+0x14  b    E+0x08
/// ```
const PROGRAM: [u32; 6] = [
    0x1000_8001,
    0xd280_0022,
    0xf900_0022,
    0x9100_0442,
    0xb900_0822,
    0x17ff_fffd,
];
const DATA: u64 = 0x1000;

fn machine(engine: &str, smp: u32) -> (Machine, u64) {
    machine_with(engine, smp, &PROGRAM)
}

fn machine_with(engine: &str, smp: u32, program: &[u32]) -> (Machine, u64) {
    machine_timed(engine, smp, program, crate::time::TimeMode::Host)
}

fn machine_timed(engine: &str, smp: u32, program: &[u32], time: crate::time::TimeMode) -> (Machine, u64) {
    let mut board = crate::resolve_board("virt").unwrap();
    board.set_cpu_count(smp).unwrap();
    let mut bytes: Vec<u8> = program.iter().flat_map(|w| w.to_le_bytes()).collect();
    bytes.resize(0x2000, 0);
    let cfg = MachineConfig::headless(board, "loop.bin", bytes);
    let mut m = Machine::with_time(cfg, time).unwrap();
    if engine == "jit" {
        m.set_engine(Engine::Jit(Box::new(jit::Jit::new(jit::JitConfig::default()).unwrap())));
    }
    let entry = m.cpus[0].pc;
    (m, entry)
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

fn read_u32(m: &mut Machine, addr: u64) -> u32 {
    let mut b = [0u8; 4];
    m.read_memory(0, addr, Space::Virtual, &mut b).unwrap();
    u32::from_le_bytes(b)
}

fn each_engine(f: impl Fn(&str)) {
    for e in ["interp", "jit"] {
        f(e);
    }
}

/// A breakpoint stops before its instruction, resuming executes it, and
/// one set after the loop was translated (the JIT's block for the loop
/// would otherwise run straight through) still stops the core.
#[test]
fn breakpoints_stop_before_the_instruction_under_both_engines() {
    each_engine(|e| {
        let (mut m, entry) = machine(e, 1);
        // Let the loop run (and be translated) first.
        assert_eq!(m.resume(Instant::now() + Duration::from_millis(20)).unwrap(), None);
        let before = m.read_reg(0, Reg::X(2)).unwrap() as u64;
        m.insert_breakpoint(entry + 0xc, BreakKind::Software);
        let stop = m.resume(soon()).unwrap();
        assert_eq!(
            stop,
            Some(Stop::Breakpoint {
                core: 0,
                pc: entry + 0xc
            }),
            "{e}"
        );
        let x2 = m.read_reg(0, Reg::X(2)).unwrap() as u64;
        assert!(x2 >= before, "{e}");
        // The store before the breakpoint happened, the add after it not.
        assert_eq!(u64::from(read_u32(&mut m, entry + DATA)), x2 & 0xffff_ffff, "{e}");
        // Resuming runs exactly one loop iteration back to it.
        let icount = m.cpus[0].icount;
        assert_eq!(
            m.resume(soon()).unwrap(),
            Some(Stop::Breakpoint {
                core: 0,
                pc: entry + 0xc
            })
        );
        assert_eq!(m.cpus[0].icount - icount, 4, "{e}: add, str, b, str");
        assert_eq!(m.read_reg(0, Reg::X(2)).unwrap() as u64, x2 + 1, "{e}");
        // A register written by the debugger changes what the guest does.
        m.write_reg(0, Reg::X(2), 1000).unwrap();
        assert!(m.resume(soon()).unwrap().is_some());
        assert_eq!(read_u32(&mut m, entry + DATA), 1001, "{e}");
        // Removed: the loop runs freely again.
        assert!(m.remove_breakpoint(entry + 0xc, BreakKind::Software));
        assert!(!m.remove_breakpoint(entry + 0xc, BreakKind::Software));
        assert_eq!(
            m.resume(Instant::now() + Duration::from_millis(20)).unwrap(),
            None,
            "{e}"
        );
    });
}

/// Watchpoints catch exactly the watched bytes and the right kind of
/// access, stop before the store and report the data address.
#[test]
fn watchpoints_are_exact_and_stop_before_the_access() {
    each_engine(|e| {
        let (mut m, entry) = machine(e, 1);
        assert_eq!(m.resume(Instant::now() + Duration::from_millis(20)).unwrap(), None);
        // Bytes next to the stores and reads of stored bytes: no stop.
        m.insert_watchpoint(Watchpoint {
            addr: entry + DATA + 12,
            len: 8,
            kind: WatchKind::Access,
        });
        m.insert_watchpoint(Watchpoint {
            addr: entry + DATA,
            len: 12,
            kind: WatchKind::Read,
        });
        assert_eq!(
            m.resume(Instant::now() + Duration::from_millis(30)).unwrap(),
            None,
            "{e}"
        );
        // The 4-byte store at DATA+8 touches byte DATA+10. Starting at
        // the unwatched store to the same page first: under the JIT it
        // would fill a fast-path entry for the page if watched pages got
        // them, and the watched store would go unseen.
        m.write_reg(0, Reg::Pc, u128::from(entry + 0x8)).unwrap();
        let w = Watchpoint {
            addr: entry + DATA + 10,
            len: 1,
            kind: WatchKind::Write,
        };
        m.insert_watchpoint(w);
        let old = read_u32(&mut m, entry + DATA + 8);
        let stop = m.resume(soon()).unwrap();
        assert_eq!(
            stop,
            Some(Stop::Watchpoint {
                core: 0,
                pc: entry + 0x10,
                addr: entry + DATA + 10,
                kind: WatchKind::Write
            }),
            "{e}"
        );
        assert_eq!(m.cpus[0].pc, entry + 0x10, "{e}: stopped at the store");
        assert_eq!(read_u32(&mut m, entry + DATA + 8), old, "{e}: before the store");
        // A step (as gdb does with the watchpoint removed) completes it.
        assert!(m.remove_watchpoint(w));
        assert_eq!(m.step_core(0, StepOptions::default()), Ok(Stop::Stepped { core: 0 }));
        assert_eq!(
            u64::from(read_u32(&mut m, entry + DATA + 8)),
            m.read_reg(0, Reg::X(2)).unwrap() as u64 & 0xffff_ffff
        );
    });
}

/// A 128-bit SIMD&FP store (whose alignment check is a helper call of
/// its own in the JIT) is stopped by a watchpoint on its upper half.
#[test]
fn watchpoints_catch_simd_stores() {
    // adr x1, E+0x1000; loop: str q0, [x1]; b loop
    let program = [0x1000_8001, 0x3d80_0020, 0x17ff_ffff];
    each_engine(|e| {
        let (mut m, entry) = machine_with(e, 1, &program);
        m.write_reg(0, Reg::V(0), u128::MAX).unwrap();
        // FP/SIMD enabled (CPACR_EL1.FPEN = 0b11).
        m.write_reg(0, Reg::Sys(SysReg::CPACR_EL1.info().id), 3 << 20).unwrap();
        assert_eq!(m.resume(Instant::now() + Duration::from_millis(20)).unwrap(), None);
        m.write_memory(0, entry + DATA, Space::Virtual, &[0; 16]).unwrap();
        m.insert_watchpoint(Watchpoint {
            addr: entry + DATA + 8,
            len: 8,
            kind: WatchKind::Write,
        });
        assert_eq!(
            m.resume(soon()).unwrap(),
            Some(Stop::Watchpoint {
                core: 0,
                pc: entry + 4,
                addr: entry + DATA + 8,
                kind: WatchKind::Write
            }),
            "{e}"
        );
        assert_eq!(m.cpus[0].pc, entry + 4, "{e}");
        let mut b = [0xaau8; 16];
        m.read_memory(0, entry + DATA, Space::Virtual, &mut b).unwrap();
        assert_eq!(b, [0; 16], "{e}: nothing stored");
    });
}

#[test]
fn steps_retire_one_instruction_each() {
    each_engine(|e| {
        let (mut m, entry) = machine(e, 1);
        for (i, pc) in [4u64, 8, 0xc, 0x10, 0x14, 0x8].iter().enumerate() {
            assert_eq!(m.step_core(0, StepOptions::default()), Ok(Stop::Stepped { core: 0 }));
            assert_eq!(m.cpus[0].pc, entry + pc, "{e}: step {i}");
            assert_eq!(m.cpus[0].icount, i as u64 + 1);
        }
        assert_eq!(m.read_reg(0, Reg::X(1)).unwrap() as u64, entry + DATA);
        // A breakpoint at the PC does not stop a step.
        m.insert_breakpoint(entry + 8, BreakKind::Hardware);
        assert_eq!(m.step_core(0, StepOptions::default()), Ok(Stop::Stepped { core: 0 }));
        assert_eq!(m.cpus[0].pc, entry + 0xc);
    });
}

#[test]
fn registers_and_system_registers() {
    let (mut m, entry) = machine("interp", 2);
    assert_eq!(m.core_count(), 2);
    assert_eq!(m.read_reg(0, Reg::Pc), Ok(u128::from(entry)));
    let mpidr = SysReg::MPIDR_EL1.info().id;
    assert_eq!(m.read_reg(0, Reg::Sys(mpidr)), Ok(0x8000_0000));
    assert_eq!(m.read_reg(1, Reg::Sys(mpidr)), Ok(0x8000_0001));
    assert!(m.sysreg_list(0).unwrap().iter().any(|r| r.name == "MPIDR_EL1"));
    assert_eq!(m.read_reg(2, Reg::Pc), Err(ControlError::NoCore(2, 2)));
    assert!(m.read_reg(0, Reg::X(31)).is_err());
    // Reset PSTATE: EL1h, DAIF masked.
    assert_eq!(m.read_reg(0, Reg::Cpsr), Ok(0x3c5));
    m.write_reg(0, Reg::Cpsr, 0x6000_03c5).unwrap();
    assert_eq!(m.cpus[0].pstate.nzcv, 0x6000_0000);
    m.write_reg(0, Reg::V(3), 0x1234_5678_9abc_def0_0fed_cba9_8765_4321)
        .unwrap();
    assert_eq!(m.cpus[0].v[3], 0x1234_5678_9abc_def0_0fed_cba9_8765_4321);
    m.write_reg(0, Reg::Sys(SysReg::VBAR_EL1.info().id), 0x4000_0800)
        .unwrap();
    assert_eq!(m.cpus[0].sys.get(SysReg::VBAR_EL1), 0x4000_0800);
    assert_eq!(
        m.write_reg(0, Reg::Sys(mpidr), 0),
        Err(ControlError::ReadOnly {
            core: 0,
            reg: Reg::Sys(mpidr)
        })
    );
}

#[test]
fn memory_by_virtual_and_physical_address() {
    let (mut m, entry) = machine("jit", 1);
    let mut b = [0u8; 8];
    m.read_memory(0, entry, Space::Physical, &mut b).unwrap();
    assert_eq!(b, [0x01, 0x80, 0, 0x10, 0x22, 0, 0x80, 0xd2]);
    // Unaligned, across a page boundary.
    let at = (entry + 0x2000) & !0xfff;
    m.write_memory(0, at - 3, Space::Virtual, &[1, 2, 3, 4, 5, 6]).unwrap();
    let mut b = [0u8; 6];
    m.read_memory(0, at - 3, Space::Physical, &mut b).unwrap();
    assert_eq!(b, [1, 2, 3, 4, 5, 6]);
    // Nothing at physical 0x3000_0000 on virt (between flash and MMIO is
    // used; far above RAM is not) and nothing past the PA range.
    let hole = 0x7f_0000_0000u64;
    assert_eq!(
        m.read_memory(0, hole, Space::Physical, &mut b),
        Err(ControlError::Bus(hole))
    );
    assert_eq!(
        m.read_memory(0, 1 << 60, Space::Virtual, &mut b),
        Err(ControlError::Unmapped { core: 0, va: 1 << 60 })
    );
    // A debugger write to code is seen by the JIT: patch `movz x2, #1`
    // to `movz x2, #7` after the code was translated.
    assert_eq!(m.resume(Instant::now() + Duration::from_millis(10)).unwrap(), None);
    m.write_reg(0, Reg::Pc, u128::from(entry)).unwrap();
    m.write_memory(0, entry + 4, Space::Virtual, &0xd280_00e2u32.to_le_bytes())
        .unwrap();
    m.insert_breakpoint(entry + 0xc, BreakKind::Software);
    assert!(m.resume(soon()).unwrap().is_some());
    assert_eq!(m.read_reg(0, Reg::X(2)), Ok(7));
}

/// A pending IRQ with PSTATE.I clear: a masked step (the default) lands
/// on the next instruction, an unmasked one takes the interrupt to
/// VBAR_EL1 + 0x280 (IRQ, current EL with SP_ELx: Arm ARM D1.10.2).
#[test]
fn steps_mask_interrupts_unless_asked() {
    each_engine(|e| {
        let (mut m, entry) = machine(e, 1);
        let vbar = 0x4000_0800u64;
        m.write_reg(0, Reg::Sys(SysReg::VBAR_EL1.info().id), u128::from(vbar))
            .unwrap();
        // EL1h, D, A, F masked, I clear.
        m.write_reg(0, Reg::Cpsr, 0x345).unwrap();
        m.cpus[0].irq.set(cpu_aarch64::irq::IRQ, true);
        let masked = StepOptions { mask_interrupts: true };
        assert_eq!(m.step_core(0, masked), Ok(Stop::Stepped { core: 0 }));
        assert_eq!(m.cpus[0].pc, entry + 4, "{e}");
        let taken = StepOptions { mask_interrupts: false };
        assert_eq!(m.step_core(0, taken), Ok(Stop::Stepped { core: 0 }));
        assert_eq!(m.cpus[0].pc, vbar + 0x280, "{e}");
        assert_eq!(
            m.read_reg(0, Reg::Sys(SysReg::ELR_EL1.info().id)),
            Ok(u128::from(entry + 4)),
            "{e}"
        );
    });
}

/// In deterministic time a step advances virtual time by the instruction
/// it retires (1 ns each, boards::time), exactly as running does: N
/// steps and a run of N instructions end at the same virtual time.
#[test]
fn deterministic_steps_advance_virtual_time() {
    each_engine(|e| {
        let deterministic = |e: &str| machine_timed(e, 1, &PROGRAM, crate::time::TimeMode::deterministic()).0;
        let mut stepped = deterministic(e);
        assert_eq!(stepped.virtual_ns(), Some(0));
        for i in 1..=25u64 {
            stepped.step_core(0, StepOptions::default()).unwrap();
            assert_eq!(stepped.virtual_ns(), Some(i), "{e}: step {i}");
        }
        let mut ran = deterministic(e);
        assert_eq!(ran.run(Some(25)).unwrap(), RunOutcome::InstructionLimit);
        assert_eq!(ran.virtual_ns(), stepped.virtual_ns(), "{e}");
        assert_eq!(ran.cpus[0].pc, stepped.cpus[0].pc, "{e}");
    });
}

/// A machine put in another's place keeps the debugger's breakpoints and
/// watchpoints, and they work in it.
#[test]
fn a_replacing_machine_keeps_the_debug_points() {
    each_engine(|e| {
        let (mut m, entry) = machine(e, 1);
        m.insert_breakpoint(entry + 0xc, BreakKind::Software);
        assert!(m.resume(soon()).unwrap().is_some());
        let (fresh, _) = machine(e, 1);
        m.replace(fresh);
        assert_eq!((m.cpus[0].pc, m.cpus[0].icount), (entry, 0), "{e}: the new machine");
        assert_eq!(
            m.resume(soon()).unwrap(),
            Some(Stop::Breakpoint {
                core: 0,
                pc: entry + 0xc
            }),
            "{e}"
        );
        assert!(m.remove_breakpoint(entry + 0xc, BreakKind::Software));
    });
}

#[test]
fn gic_view_of_the_board() {
    let (m, _) = machine("interp", 2);
    let v = m.gic_view().expect("virt has a GIC");
    assert_eq!(v.version, soc::gic::GicVersion::V2);
    assert_eq!(v.cpus.len(), 2);
}

/// Devices describe themselves: virt's two flash banks (in memory, read
/// array, ready status) and its 32 virtio-mmio slots, the rng in the first
/// (attached) and the rest empty; nothing the guest did set a queue up.
#[test]
fn device_views_of_the_board() {
    use soc::device::DeviceView;
    let mut board = crate::resolve_board("virt").unwrap();
    board.set_cpu_count(1).unwrap();
    let mut cfg = MachineConfig::headless(board, "loop.bin", vec![0; 16]);
    cfg.attach.rng = true;
    let m = Machine::new(cfg).unwrap();
    let views = m.device_views();
    let flash: Vec<_> = views
        .iter()
        .filter_map(|(n, v)| match v {
            DeviceView::Flash(f) => Some((n.as_str(), f.mode, f.status, f.store.clone())),
            _ => None,
        })
        .collect();
    let store = soc::pflash::FlashStore::Memory;
    let ra = soc::pflash::Mode::ReadArray;
    assert_eq!(
        flash,
        [("flash0", ra, 0x80, store.clone()), ("flash1", ra, 0x80, store)]
    );
    let virtio: Vec<_> = views
        .iter()
        .filter_map(|(_, v)| match v {
            DeviceView::Virtio(v) => Some(v),
            _ => None,
        })
        .collect();
    assert_eq!(virtio.len(), 32);
    let ids: Vec<u32> = virtio.iter().map(|v| v.device_id).filter(|&id| id != 0).collect();
    assert_eq!(ids, [soc::virtio::device_id::RNG]);
    let rng = virtio.iter().find(|v| v.device_id != 0).unwrap();
    assert_eq!(rng.status, 0);
    assert!(rng.queues.iter().all(|q| !q.ready && q.driver_avail_idx.is_none()));
}

/// A walk through hand-built tables (4 KiB granule, 39-bit VAs: the walk
/// starts at level 1) reports each descriptor where the architecture puts
/// it and ends in the 2 MiB block it maps; an address whose level 2 entry
/// is invalid faults at level 2 after reading that entry.
#[test]
fn translation_walks_show_every_level() {
    let (mut m, _) = machine("interp", 1);
    let l1 = 0x4400_0000u64;
    let l2 = 0x4400_1000u64;
    let table = l2 | 0b11;
    // A block: valid, AF, output 0x4080_0000 (not the VA: the walk must
    // have used the descriptor).
    let block = 0x4080_0000u64 | 1 << 10 | 0b01;
    m.write_memory(0, l1 + 8, Space::Physical, &table.to_le_bytes())
        .unwrap();
    m.write_memory(0, l2 + 3 * 8, Space::Physical, &block.to_le_bytes())
        .unwrap();
    m.write_memory(0, l2 + 4 * 8, Space::Physical, &0u64.to_le_bytes())
        .unwrap();
    let sys = |r: SysReg| Reg::Sys(r.info().id);
    // T0SZ 25, TG0 4 KiB, EPD1 (no TTBR1 walks).
    m.write_reg(0, sys(SysReg::TCR_EL1), 25 | 1 << 23).unwrap();
    m.write_reg(0, sys(SysReg::TTBR0_EL1), u128::from(l1)).unwrap();
    m.write_reg(0, sys(SysReg::MAIR_EL1), 0).unwrap();
    let sctlr = m.read_reg(0, sys(SysReg::SCTLR_EL1)).unwrap();
    m.write_reg(0, sys(SysReg::SCTLR_EL1), sctlr | 1).unwrap();

    let w = m.translation_walk(0, 0x4060_0123).unwrap();
    let steps: Vec<(u64, u64)> = w.steps.iter().map(|s| (s.desc_pa, s.desc)).collect();
    assert_eq!(steps, [(l1 + 8, table), (l2 + 3 * 8, block)]);
    assert_eq!(w.translation.map(|t| (t.level, t.size_bits)), Some((2, 21)));
    assert_eq!(w.result.map(|p| p.0), Ok(0x4080_0123));
    assert_eq!(m.debug_translate(0, 0x4060_0123, Space::Virtual), Ok(0x4080_0123));

    let w = m.translation_walk(0, 0x4080_0000).unwrap();
    assert_eq!(w.steps.len(), 2);
    assert_eq!(w.steps[1].desc_pa, l2 + 4 * 8);
    assert_eq!(w.result, Err(cpu_aarch64::exception::Fault::Translation(2)));
    assert!(w.translation.is_none());
    assert!(m.translation_walk(1, 0).is_err(), "core 1 does not exist");
}

/// The counters and indicators a GUI shows come from the machine as built.
#[test]
fn stats_and_indicators() {
    let (mut m, entry) = machine("interp", 2);
    assert_eq!(m.engine_name(), "interp");
    assert!(!m.is_deterministic());
    assert_eq!(m.exec_stats().per_core, [0, 0]);
    assert_eq!(m.exec_stats().jit, None);
    m.step_core(0, StepOptions::default()).unwrap();
    m.step_core(0, StepOptions::default()).unwrap();
    // Two steps retire two instructions, both on core 0.
    assert_eq!(m.exec_stats().per_core, [2, 0]);
    assert_eq!(m.exec_stats().instructions(), 2);
    m.insert_breakpoint(entry + 8, BreakKind::Software);
    m.insert_breakpoint(entry + 12, BreakKind::Hardware);
    assert_eq!(
        m.breakpoints(),
        [(entry + 8, BreakKind::Software), (entry + 12, BreakKind::Hardware)]
    );
    let (j, _) = machine("jit", 1);
    assert_eq!(j.engine_name(), "jit");
    assert!(j.exec_stats().jit.is_some());
}
