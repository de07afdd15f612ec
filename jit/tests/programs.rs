//! Directed tests of the JIT against the interpreter: whole programs (loops,
//! calls, jump tables, every condition code, every load/store size, faults,
//! self-modifying and newly loaded code, MMIO, budgets, FP fallbacks, stop
//! events, and random mixes of those shapes) run once on `Cpu::run` and once
//! on `Jit::run` from the same state; registers, SP, PC, PSTATE, V
//! registers, FPSR, the instruction count, the whole RAM and the device's
//! access log must be identical (see `support::Machine::diff`).
//!
//! Programs are built with the small assembler in `support/asm.rs`;
//! `encoders_match_the_disassembler` pins every encoder to the crate's
//! disassembler (itself checked against capstone), so a listing in a
//! failure message reads as the program that ran.
//!
//! `PREBOARD_JIT_PROGRAMS=N` sets the number of random programs (default
//! 400), `PREBOARD_JIT_PROGRAMS_SEED=S` their seed (default fixed), and
//! `PREBOARD_JIT_PROGRAM=K` runs (and lists) only program K.

mod support;

use cpu_aarch64::sysreg::SysReg;
use cpu_aarch64::testgen::Rng;
use cpu_aarch64::StepEvent;
use jit::{Jit, JitConfig};
use support::asm::{self, Asm, Ls, W};
use support::*;

// ---------------------------------------------------------------------------
// The assembler itself

#[test]
fn encoders_match_the_disassembler() {
    use asm::*;
    let pc = 0x1000;
    let table: Vec<(u32, &str)> = vec![
        (add_imm(X, 1, 2, 3), "add x1, x2, #3"),
        (add_imm(W, 1, 2, 0xfff), "add w1, w2, #0xfff"),
        (sub_imm(X, SP, SP, 16), "sub sp, sp, #0x10"),
        (adds_imm(W, 3, 4, 1), "adds w3, w4, #1"),
        (cmp_imm(X, 28, 0x15), "cmp x28, #0x15"),
        (addsub_imm(X, false, false, 1, 2, 1, true), "add x1, x2, #1, lsl #12"),
        (add(X, 1, 2, 3), "add x1, x2, x3"),
        (
            addsub_reg(X, true, true, 1, 2, 3, Shift::Asr, 7),
            "subs x1, x2, x3, asr #7",
        ),
        (
            addsub_reg(W, false, false, 1, 2, 3, Shift::Lsr, 31),
            "add w1, w2, w3, lsr #31",
        ),
        (cmp(W, 1, 2), "cmp w1, w2"),
        (cmn(X, 1, 2), "cmn x1, x2"),
        (and(X, 1, 2, 3), "and x1, x2, x3"),
        (eor(W, 1, 2, 3), "eor w1, w2, w3"),
        (ands(X, ZR, 2, 3), "tst x2, x3"),
        (bics(W, 1, 2, 3), "bics w1, w2, w3"),
        (logical(X, 1, false, 1, 2, 3, Shift::Ror, 5), "orr x1, x2, x3, ror #5"),
        (mov(X, 1, 2), "mov x1, x2"),
        (mov_sp(29, SP), "mov x29, sp"),
        (movz(X, 1, 0x1234, 2), "mov x1, #0x123400000000"),
        (movk(X, 1, 0xbeef, 1), "movk x1, #0xbeef, lsl #16"),
        (movn(X, 1, 0, 0), "mov x1, #-1"),
        (adc(X, false, false, 1, 2, 3), "adc x1, x2, x3"),
        (adc(W, true, true, 1, 2, 3), "sbcs w1, w2, w3"),
        (ccmp(X, false, 1, 2, 5, cond::GE), "ccmp x1, x2, #5, ge"),
        (ccmp_imm(W, true, 1, 31, 0xf, cond::VS), "ccmn w1, #0x1f, #0xf, vs"),
        (csel(X, 1, 2, 3, cond::HI), "csel x1, x2, x3, hi"),
        (csinc(X, 1, 2, 2, cond::LT), "cinc x1, x2, ge"),
        (csinc(W, 1, ZR, ZR, cond::NE), "cset w1, eq"),
        (mul(X, 1, 2, 3), "mul x1, x2, x3"),
        (madd(W, true, 1, 2, 3, 4), "msub w1, w2, w3, w4"),
        (mulh(false, 1, 2, 3), "umulh x1, x2, x3"),
        (mulh(true, 1, 2, 3), "smulh x1, x2, x3"),
        (udiv(X, 1, 2, 3), "udiv x1, x2, x3"),
        (sdiv(W, 1, 2, 3), "sdiv w1, w2, w3"),
        (dp2(X, 10, 1, 2, 3), "asr x1, x2, x3"),
        (dp1(X, 4, 1, 2), "clz x1, x2"),
        (dp1(W, 0, 1, 2), "rbit w1, w2"),
        (dp1(X, 3, 1, 2), "rev x1, x2"),
        (lsl_imm(X, 1, 2, 3), "lsl x1, x2, #3"),
        (lsr_imm(W, 1, 2, 31), "lsr w1, w2, #0x1f"),
        (asr_imm(X, 1, 2, 63), "asr x1, x2, #0x3f"),
        (bfm(X, 0, 1, 2, 0, 7), "sxtb x1, w2"),
        (extr(X, 1, 2, 3, 9), "extr x1, x2, x3, #9"),
        (orr_1(5, 5), "orr x5, x5, #1"),
        (and_low(1, 2, 3), "and x1, x2, #7"),
        (b_off(false, -8), "b #0xff8"),
        (b_off(true, 0x100), "bl #0x1100"),
        (b_cond_off(cond::LE, 8), "b.le #0x1008"),
        (cbz_off(X, false, 3, -4), "cbz x3, #0xffc"),
        (cbz_off(W, true, 3, 12), "cbnz w3, #0x100c"),
        (tbz_off(false, 3, 33, 8), "tbz x3, #0x21, #0x1008"),
        (tbz_off(true, 4, 5, -8), "tbnz w4, #5, #0xff8"),
        (adr_off(1, 0x11), "adr x1, #0x1011"),
        (br(2), "br x2"),
        (blr(9), "blr x9"),
        (ret(), "ret"),
        (ret_reg(5), "ret x5"),
        (NOP, "nop"),
        (WFI, "wfi"),
        (ISB, "isb"),
        (DSB_SY, "dsb sy"),
        (ERET, "eret"),
        (IC_IALLU, "ic iallu"),
        (ic_ivau(3), "ic ivau, x3"),
        (hvc(0), "hvc #0"),
        (svc(1), "svc #1"),
        (brk(3), "brk #3"),
        (mrs(27, sysreg::ESR_EL1), "mrs x27, esr_el1"),
        (mrs(5, sysreg::NZCV), "mrs x5, nzcv"),
        (msr(sysreg::NZCV, 3), "msr nzcv, x3"),
        (msr(sysreg::FPCR, 3), "msr fpcr, x3"),
        (mrs(3, sysreg::FPSR), "mrs x3, fpsr"),
        (msr(sysreg::VBAR_EL1, 1), "msr vbar_el1, x1"),
        (ldst(Ls::LdrX, 1, 2, 8), "ldr x1, [x2, #8]"),
        (ldst(Ls::Strb, 1, 2, 4095), "strb w1, [x2, #0xfff]"),
        (ldst(Ls::LdrsbX, 1, 2, 0), "ldrsb x1, [x2]"),
        (ldst(Ls::LdrshW, 1, 2, 2), "ldrsh w1, [x2, #2]"),
        (ldst(Ls::Ldrsw, 1, 2, 4), "ldrsw x1, [x2, #4]"),
        (ldst_post(Ls::LdrX, 1, 2, -8), "ldr x1, [x2], #-8"),
        (ldst_pre(Ls::StrW, 1, SP, -4), "str w1, [sp, #-4]!"),
        (ldst_unscaled(Ls::Ldrh, 1, 2, -2), "ldurh w1, [x2, #-2]"),
        (ldst_reg(Ls::LdrX, 1, 2, 3, 3, true), "ldr x1, [x2, x3, lsl #3]"),
        (ldst_reg(Ls::Ldrb, 1, 2, 3, 6, false), "ldrb w1, [x2, w3, sxtw]"),
        (ldst_reg(Ls::StrW, 1, 2, 3, 2, true), "str w1, [x2, w3, uxtw #2]"),
        (stp(X, 29, 30, SP, -16), "stp x29, x30, [sp, #-0x10]"),
        (ldstp(Pair::X, false, 3, 29, 30, SP, -32), "stp x29, x30, [sp, #-0x20]!"),
        (ldstp(Pair::X, true, 1, 29, 30, SP, 32), "ldp x29, x30, [sp], #0x20"),
        (ldstp(Pair::Sw, true, 2, 1, 2, 3, -8), "ldpsw x1, x2, [x3, #-8]"),
        (ldp(W, 1, 2, 3, 4), "ldp w1, w2, [x3, #4]"),
        (ldxr(X, 1, 2), "ldxr x1, [x2]"),
        (stxr(W, 3, 1, 2), "stxr w3, w1, [x2]"),
        (fmov_to_d(1, 2), "fmov d1, x2"),
        (fmov_from_d(1, 2), "fmov x1, d2"),
        (fp2(0, 1, 2, 3), "fmul d1, d2, d3"),
        (fp2(1, 1, 2, 3), "fdiv d1, d2, d3"),
        (fp2(2, 1, 2, 3), "fadd d1, d2, d3"),
        (fp2(3, 1, 2, 3), "fsub d1, d2, d3"),
        (fsqrt(1, 2), "fsqrt d1, d2"),
        (fcmp(1, 2), "fcmp d1, d2"),
        (scvtf(1, 2), "scvtf d1, x2"),
        (fcvtzs(1, 2), "fcvtzs x1, d2"),
        (ldst_d(true, 1, 2, 8), "ldr d1, [x2, #8]"),
        (ldst_d(false, 1, 2, 0), "str d1, [x2]"),
        (add_2d(1, 2, 3), "add v1.2d, v2.2d, v3.2d"),
    ];
    let bad: Vec<String> = table
        .iter()
        .filter_map(|&(w, want)| {
            let got = cpu_aarch64::disasm::disassemble(w, pc);
            (got != want).then(|| format!("{w:08x}: encoder meant `{want}`, disassembles as `{got}`"))
        })
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    for v in [
        0,
        1,
        0xffff,
        0x1_0000,
        u64::MAX,
        0x8000_0000_0000_0000,
        0xffff_0000_ffff,
        0x1234_5678_9abc_def0,
        0xffff_ffff_ffff_fffe,
    ] {
        let mut a = Asm::new(CODE);
        a.mov64(1, v).i(hvc(0));
        let b = run_both(&Machine::from_asm(&a), BUDGET);
        assert_eq!(b.interp.cpu.x[1], v, "mov64({v:#x})");
    }
}

// ---------------------------------------------------------------------------
// Control flow

/// X0 = 1 + 2 + ... + 1000, in a loop of one block (label `loop`).
fn counted_loop(a: &mut Asm) {
    use asm::*;
    a.i(movz(X, 0, 0, 0)).i(movz(X, 1, 1000, 0));
    a.label("loop")
        .i(add(X, 0, 0, 1))
        .i(eor(X, 2, 2, 0))
        .i(subs_imm(X, 1, 1, 1))
        .b_cond(cond::NE, "loop");
}

/// An add of two shifted registers whose shifts have no other use: the
/// backend folds a shift of 1 to 3 into its add as a scaled `lea` index,
/// and must fold only one of the two (folding both left the add without
/// a base: the emulator panicked on a random sequence). Shifts from EXTR
/// (a plain shift when the low register is XZR) and LSL, in both operand
/// orders.
#[test]
fn an_add_of_two_short_shifts() {
    use asm::*;
    for (first, second_lsl) in [
        (extr(X, 19, 5, 31, 63), 3),
        (lsl_imm(X, 19, 5, 2), 1),
        (lsl_imm(X, 19, 5, 3), 2),
    ] {
        for swap in [false, true] {
            let mut a = Asm::new(CODE);
            prologue(&mut a);
            a.i(first);
            let (rn, rm) = if swap { (8, 19) } else { (19, 8) };
            // add x19, x<rn>, x<rm>, lsl #k: the other operand is a shift too.
            a.i(addsub_reg(X, false, false, 19, rn, rm, Shift::Lsl, second_lsl));
            if swap {
                // With x8 as the shifted operand, x19 (the first shift) is
                // the base.
                a.i(addsub_reg(X, false, false, 20, 19, 19, Shift::Lsl, 1));
            } else {
                a.i(add_imm(X, 20, 19, 1));
            }
            a.i(movz(X, 19, 0, 0));
            epilogue(&mut a);
            // Inputs from outside the block (constants would fold).
            let mut m = Machine::from_asm(&a);
            m.cpu.x[5] = 0x1234_5678_9abc;
            m.cpu.x[8] = 0x0777_0000_1111;
            let b = run_named(&m, &format!("{first:#x} swap {swap}"));
            assert_completed(&b);
            assert_ne!(b.interp.cpu.x[20], 0);
        }
    }
}

#[test]
fn counted_loops_chain() {
    use asm::*;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    counted_loop(&mut a);
    // Nested loops with CBNZ and TBZ back-edges.
    a.i(movz(X, 3, 50, 0));
    a.label("outer").i(movz(X, 4, 20, 0));
    a.label("inner")
        .i(add(X, 5, 5, 4))
        .i(sub_imm(X, 4, 4, 1))
        .cbnz(X, 4, "inner")
        .i(sub_imm(X, 3, 3, 1))
        .tbz(3, 63, "check")
        .b("done")
        .label("check")
        .cbnz(W, 3, "outer");
    a.label("done");
    epilogue(&mut a);
    let b = run_both(&Machine::from_asm(&a), BUDGET);
    assert_completed(&b);
    assert_eq!(b.interp.cpu.x[0], 500_500);
    assert_eq!(b.interp.cpu.x[5], 50 * 210);
    assert!(b.stats.chains > 0, "no exit was chained: {:?}", b.stats);
    assert!(b.stats.dispatches < 200, "loops did not run chained: {:?}", b.stats);
}

/// With a hotness threshold, a block runs on the interpreter for its
/// first entries and is translated after: the loop is translated once it
/// is hot, the code run once never is, and the results (including a
/// cold block rewriting an instruction ahead of it) are the
/// interpreter's.
/// A loop of one block that rotates three registers (a cycle the back
/// edge's moves must break), walks a pointer and accumulates, reading six
/// registers (`MAX_LOOP_CELLS`): the JIT keeps the registers it reads in host
/// registers across iterations (`Block::close_loop`). Once it runs to
/// the end; then with the walking load running off the end of RAM on the
/// sixth iteration, where the fault must see every register (including
/// those the loop changed in earlier iterations and not yet in this one)
/// as the interpreter does; then in budget slices that end mid-loop.
#[test]
fn self_loops_keep_registers_in_host_registers() {
    use asm::*;
    for (name, start) in [("to the end", DATA), ("load faults in iteration 6", STACK_TOP - 5 * 8)] {
        let mut a = Asm::new(CODE);
        prologue(&mut a);
        a.mov64(11, start)
            .i(movz(X, 0, 1, 0))
            .i(movz(X, 1, 2, 0))
            .i(movz(X, 2, 3, 0))
            .i(movz(X, 3, 40, 0))
            .b("loop")
            .label("loop")
            .i(mov(X, 9, 0))
            .i(mov(X, 0, 1))
            .i(add(X, 7, 7, 0))
            .i(ldst_post(Ls::LdrX, 8, 11, 8))
            .i(mov(X, 1, 2))
            .i(mov(X, 2, 9))
            .i(eor(X, 7, 7, 8))
            .i(subs_imm(X, 3, 3, 1))
            .b_cond(cond::NE, "loop");
        epilogue(&mut a);
        let mut m = Machine::from_asm(&a);
        m.random_data(7);
        let b = run_named(&m, name);
        if start == DATA {
            assert_completed(&b);
            // 40 rotations of three registers.
            assert_eq!(&b.interp.cpu.x[..3], &[2, 3, 1], "{name}");
            for slice in [1, 3, 7, 12, 13, 25, 100] {
                let mut jit = new_jit();
                let mut j = m.clone();
                let (total, ev, _) = run_sliced(&mut jit, &mut j, slice);
                let d = b.interp.diff(&j);
                assert!(
                    d.is_empty() && (total, &ev) == (b.result.0, &b.result.1),
                    "slices of {slice}: retired {total} ({ev:?}), interpreter {:?}\n  {}",
                    b.result,
                    d.join("\n  ")
                );
            }
        } else {
            let (_, elr, far) = assert_faulted(&b);
            assert_eq!(far, STACK_TOP, "{name}");
            assert_eq!(
                elr,
                CODE + 4 * a
                    .words
                    .iter()
                    .position(|&w| w == ldst_post(Ls::LdrX, 8, 11, 8))
                    .unwrap() as u64
            );
            assert_eq!(b.interp.cpu.x[3], 40 - 5, "{name}");
        }
    }
}

#[test]
fn cold_blocks_run_on_the_interpreter_first() {
    use asm::*;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    // Run once: `movz x7, #1` becomes `movz x7, #2` before it executes.
    a.adr(21, "patched")
        .i(movz(W, 22, movz(X, 7, 2, 0) & 0xffff, 0))
        .i(movk(W, 22, movz(X, 7, 2, 0) >> 16, 1))
        .i(ldst(Ls::StrW, 22, 21, 0))
        .label("patched")
        .i(movz(X, 7, 1, 0));
    counted_loop(&mut a);
    epilogue(&mut a);
    let m = Machine::from_asm(&a);
    let mut jit = jit_translating_after(16);
    let b = run_both_with(&mut jit, &m, BUDGET);
    assert_completed(&b);
    assert_eq!(b.jit.cpu.x[0], 500_500);
    assert_eq!(b.jit.cpu.x[7], 2, "the patched instruction ran");
    // The loop ran 16 times on the interpreter (its first block, and the
    // run-once code around it, every time they were entered).
    assert!(b.stats.cold_insns >= 16 * 4, "{:?}", b.stats);
    assert!(b.stats.cold_insns < 200, "the loop was never translated: {:?}", b.stats);
    assert!(b.stats.blocks >= 1 && b.stats.blocks <= 3, "{:?}", b.stats);
}

#[test]
fn nested_calls_bl_ret_blr() {
    use asm::*;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.i(movz(X, 0, 12, 0)).bl("fact").i(mov(X, 21, 0));
    a.adr(9, "square").i(movz(X, 0, 7, 0)).i(blr(9)).i(mov(X, 22, 0));
    a.adr(10, "twice").i(movz(X, 0, 5, 0)).i(blr(10)).i(mov(X, 23, 0));
    // A loop of calls, and a return through another register.
    a.i(movz(X, 24, 0, 0)).i(movz(X, 11, 30, 0));
    a.label("calls")
        .i(mov(X, 0, 11))
        .bl("square")
        .i(add(X, 24, 24, 0))
        .adr(5, "back")
        .b("via_x5")
        .label("back")
        .i(subs_imm(X, 11, 11, 1))
        .b_cond(cond::NE, "calls");
    epilogue(&mut a);
    a.label("fact")
        .i(cmp_imm(X, 0, 1))
        .b_cond(cond::LS, "fact_base")
        .i(ldstp(Pair::X, false, 3, 29, 30, SP, -32))
        .i(mov_sp(29, SP))
        .i(ldst(Ls::StrX, 0, SP, 16))
        .i(sub_imm(X, 0, 0, 1))
        .bl("fact")
        .i(ldst(Ls::LdrX, 1, SP, 16))
        .i(mul(X, 0, 0, 1))
        .i(ldstp(Pair::X, true, 1, 29, 30, SP, 32))
        .i(ret())
        .label("fact_base")
        .i(movz(X, 0, 1, 0))
        .i(ret());
    a.label("square").i(mul(X, 0, 0, 0)).i(ret());
    a.label("twice")
        .i(ldstp(Pair::X, false, 3, 29, 30, SP, -16))
        .adr(12, "square")
        .i(blr(12))
        .i(blr(12))
        .i(ldstp(Pair::X, true, 1, 29, 30, SP, 16))
        .i(ret());
    a.label("via_x5").i(add_imm(X, 25, 25, 1)).i(ret_reg(5));
    let b = run_both(&Machine::from_asm(&a), BUDGET);
    assert_completed(&b);
    let c = &b.interp.cpu;
    assert_eq!((c.x[21], c.x[22], c.x[23]), (479_001_600, 49, 625));
    assert_eq!(c.x[24], (1..=30).map(|i| i * i).sum::<u64>());
}

#[test]
fn jump_tables_through_br() {
    use asm::*;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    // A table of addresses, indexed by X0 = 0..15 (mod 8).
    a.i(movz(X, 0, 0, 0)).i(movz(X, 21, 0, 0));
    a.label("loop")
        .adr(1, "table")
        .i(and_low(3, 0, 3))
        .i(ldst_reg(Ls::LdrX, 2, 1, 3, 3, true))
        .i(br(2));
    for k in 0..8 {
        a.label(&format!("case{k}"))
            .i(lsl_imm(X, 21, 21, 3))
            .i(add_imm(X, 21, 21, k + 1))
            .b("next");
    }
    a.label("next")
        .i(add_imm(X, 0, 0, 1))
        .i(cmp_imm(X, 0, 16))
        .b_cond(cond::NE, "loop");
    // Computed targets: ADR + index * 8 (two instructions per case).
    a.i(movz(X, 0, 0, 0));
    a.label("loop2")
        .adr(1, "ctable")
        .i(and_low(3, 0, 2))
        .i(addsub_reg(X, false, false, 1, 1, 3, Shift::Lsl, 3))
        .i(br(1))
        .label("ctable");
    for k in 0..4 {
        a.i(add_imm(X, 22, 22, 1 << k)).b("next2");
    }
    a.label("next2")
        .i(add_imm(X, 0, 0, 1))
        .i(cmp_imm(X, 0, 9))
        .b_cond(cond::NE, "loop2");
    epilogue(&mut a);
    a.pad_to(a.here().next_multiple_of(8)).label("table");
    for k in 0..8 {
        a.quad_label(&format!("case{k}"));
    }
    let b = run_both(&Machine::from_asm(&a), BUDGET);
    assert_completed(&b);
    assert_eq!(b.interp.cpu.x[22], 3 + 2 * (2 + 4 + 8)); // case 0 three times, the others twice
}

// ---------------------------------------------------------------------------
// Flags and condition codes

/// Values at the edges of carry and overflow, for both widths.
const EDGES: [u64; 14] = [
    0,
    1,
    2,
    0x7f,
    0x80,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    0xffff_ffff_ffff_ffff,
    0xffff_ffff_8000_0000,
    0x8000_0000_7fff_ffff,
];

/// A loop over `(a, b, nzcv_in)` rows at `DATA`: X1 = a, X2 = b, NZCV =
/// nzcv_in, then `op` (result in X4, if any), then NZCV, the 16 `CSINC`
/// results and the 16 `B.cond` outcomes are stored at `DATA + 0x6000`.
/// A program looping over `rows` of `(x1, x2, x3)` at `DATA` (the loop
/// head loads one into those registers; `body` stores its results at
/// `x21`, 16 bytes a row), ending with the last.
fn rows_program(rows: &[(u64, u64, u64)], body: impl FnOnce(&mut Asm)) -> Machine {
    use asm::*;
    assert!(rows.len() <= 0x6000 / 24);
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.mov64(21, DATA + 0x6000).mov64(9, rows.len() as u64);
    a.label("loop")
        .i(ldstp(Pair::X, true, 1, 1, 2, 19, 16))
        .i(ldst_post(Ls::LdrX, 3, 19, 8));
    body(&mut a);
    a.i(subs_imm(X, 9, 9, 1)).b_cond(cond::NE, "loop");
    epilogue(&mut a);
    let mut m = Machine::from_asm(&a);
    let flat: Vec<u64> = rows.iter().flat_map(|&(x, y, f)| [x, y, f]).collect();
    m.write_u64s(DATA, &flat);
    m
}

fn flags_program(op: &[u32], rows: &[(u64, u64, u64)]) -> Machine {
    rows_program(rows, |a| flags_body(a, op))
}

fn flags_body(a: &mut Asm, op: &[u32]) {
    use asm::*;
    a.i(movz(X, 4, 0, 0))
        .i(msr(sysreg::NZCV, 3))
        .all(op.iter().copied())
        .i(mrs(5, sysreg::NZCV))
        .i(movz(X, 6, 0, 0));
    for c in 0..16 {
        a.i(lsl_imm(X, 6, 6, 1)).i(csinc(X, 6, 6, 6, c));
    }
    a.i(movz(X, 8, 0, 0));
    for c in 0..16 {
        let skip = format!("taken{c}");
        a.i(lsl_imm(X, 8, 8, 1))
            .b_cond(c, &skip)
            .i(add_imm(X, 8, 8, 1))
            .label(&skip);
    }
    a.i(ldstp(Pair::X, false, 1, 5, 6, 21, 16))
        .i(ldstp(Pair::X, false, 1, 8, 4, 21, 16));
}

fn edge_rows(nzcv_ins: &[u64]) -> Vec<(u64, u64, u64)> {
    let mut rows = Vec::new();
    for (i, &x) in EDGES.iter().enumerate() {
        for (j, &y) in EDGES.iter().enumerate() {
            for (k, &f) in nzcv_ins.iter().enumerate() {
                // Keep every (a, b) pair; rotate through the incoming flags
                // when there are many.
                if nzcv_ins.len() <= 2 || (i + j) % nzcv_ins.len() == k {
                    rows.push((x, y, f));
                }
            }
        }
    }
    rows
}

fn check_flags(ops: &[(&str, Vec<u32>)], nzcv_ins: &[u64]) {
    let rows = edge_rows(nzcv_ins);
    for (name, op) in ops {
        let m = flags_program(op, &rows);
        let b = run_named(&m, name);
        assert_completed(&b);
    }
}

const NZCV_INS: [u64; 4] = [0, 0x2000_0000, 0xf000_0000, 0x9000_0000];

#[test]
fn conditions_after_cmp_and_cmn() {
    use asm::*;
    check_flags(
        &[
            ("cmp x", vec![cmp(X, 1, 2)]),
            ("cmp w", vec![cmp(W, 1, 2)]),
            ("cmn x", vec![cmn(X, 1, 2)]),
            ("cmn w", vec![cmn(W, 1, 2)]),
            ("cmp x, #1", vec![cmp_imm(X, 1, 1)]),
            ("cmp w, #0", vec![cmp_imm(W, 1, 0)]),
            ("cmp x asr", vec![addsub_reg(X, true, true, ZR, 1, 2, Shift::Asr, 63)]),
        ],
        &NZCV_INS,
    );
}

/// A branch right after its compare tests the host flags the compare
/// left; with an operation between them that sets host flags of its own
/// (EOR, a shift, an add), it must compare again. Every condition, for
/// every pair of edge values, at both widths and after SUBS.
#[test]
fn conditions_with_an_operation_between_compare_and_branch() {
    use asm::*;
    let rows = edge_rows(&[0]);
    let between = [eor(X, 3, 3, 1), lsl_imm(X, 4, 2, 3), add_imm(X, 5, 1, 7)];
    let compares = [cmp(X, 1, 2), cmp(W, 1, 2), subs(X, 6, 1, 2), cmp_imm(W, 1, 1)];
    for (k, &op) in compares.iter().enumerate() {
        for &mid in &between {
            let m = rows_program(&rows, |a| {
                a.i(movz(X, 8, 0, 0));
                for c in 0..16 {
                    let skip = format!("taken{c}");
                    a.i(lsl_imm(X, 8, 8, 1))
                        .i(op)
                        .i(mid)
                        .b_cond(c, &skip)
                        .i(add_imm(X, 8, 8, 1))
                        .label(&skip);
                }
                a.i(ldstp(Pair::X, false, 1, 8, 3, 21, 16));
            });
            let b = run_named(&m, &format!("compare {k}, operation {mid:#x}"));
            assert_completed(&b);
        }
    }
}

#[test]
fn conditions_after_adds_and_subs() {
    use asm::*;
    check_flags(
        &[
            ("adds x", vec![adds(X, 4, 1, 2)]),
            ("adds w", vec![adds(W, 4, 1, 2)]),
            ("subs x", vec![subs(X, 4, 1, 2)]),
            ("subs w", vec![subs(W, 4, 1, 2)]),
            ("adds x imm", vec![adds_imm(X, 4, 1, 0xfff)]),
            ("subs w imm", vec![subs_imm(W, 4, 1, 1)]),
            ("subs then adds (dead flags)", vec![subs(X, 7, 1, 2), adds(W, 4, 1, 2)]),
            ("negs", vec![subs(X, 4, ZR, 1)]),
        ],
        &NZCV_INS,
    );
}

#[test]
fn conditions_after_ands_and_bics() {
    use asm::*;
    check_flags(
        &[
            ("ands x", vec![ands(X, 4, 1, 2)]),
            ("ands w", vec![ands(W, 4, 1, 2)]),
            ("tst x", vec![ands(X, ZR, 1, 2)]),
            ("bics w", vec![bics(W, 4, 1, 2)]),
            ("ands x lsl", vec![logical(X, 3, false, 4, 1, 2, Shift::Lsl, 1)]),
        ],
        &NZCV_INS,
    );
}

#[test]
fn conditions_after_adcs_and_sbcs() {
    use asm::*;
    check_flags(
        &[
            ("adcs x", vec![adc(X, false, true, 4, 1, 2)]),
            ("adcs w", vec![adc(W, false, true, 4, 1, 2)]),
            ("sbcs x", vec![adc(X, true, true, 4, 1, 2)]),
            ("sbcs w", vec![adc(W, true, true, 4, 1, 2)]),
            ("adc x (flags kept)", vec![adc(X, false, false, 4, 1, 2)]),
            ("sbc w (flags kept)", vec![adc(W, true, false, 4, 1, 2)]),
        ],
        &[0, 0x2000_0000],
    );
}

#[test]
fn conditions_after_ccmp_and_ccmn() {
    use asm::*;
    let mut ops = Vec::new();
    for (k, c) in [
        cond::EQ,
        cond::NE,
        cond::CS,
        cond::MI,
        cond::VS,
        cond::HI,
        cond::GE,
        cond::GT,
        cond::AL,
    ]
    .into_iter()
    .enumerate()
    {
        let nzcv = (k as u32 * 7) & 15;
        ops.push((format!("ccmp x c{c}"), vec![ccmp(X, false, 1, 2, nzcv, c)]));
        ops.push((format!("ccmp w c{c}"), vec![ccmp(W, false, 1, 2, 15 - nzcv, c)]));
        ops.push((format!("ccmn x c{c}"), vec![ccmp(X, true, 1, 2, nzcv, c)]));
        ops.push((format!("ccmp w #imm c{c}"), vec![ccmp_imm(W, false, 1, 31, nzcv, c)]));
        ops.push((format!("ccmn x #imm c{c}"), vec![ccmp_imm(X, true, 1, 1, nzcv, c)]));
        // A compare in the block first: the incoming flags are computed
        // in the same block.
        ops.push((
            format!("cmp; ccmp c{c}"),
            vec![cmp(W, 2, 1), ccmp(X, false, 1, 2, nzcv, c)],
        ));
    }
    let all: Vec<u64> = (0..16).map(|f| f << 28).collect();
    let ops: Vec<(&str, Vec<u32>)> = ops.iter().map(|(n, o)| (n.as_str(), o.clone())).collect();
    check_flags(&ops, &all);
}

// ---------------------------------------------------------------------------
// Loads and stores

#[test]
fn loads_and_stores_of_every_size() {
    use asm::*;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.mov64(21, DATA + 0x8000); // output, post-incremented
    let out = |a: &mut Asm, r: u32| {
        a.i(ldst_post(Ls::StrX, r, 21, 8));
    };
    for k in Ls::ALL {
        let n = k.bytes() as i32;
        if k.is_store() {
            // Stores of a value with every byte set differently, at several
            // offsets, then read back as quads.
            a.mov64(1, 0x8182_8384_8586_8788);
            a.mov64(22, DATA + 0x4000 + 0x100 * (k.fields().0 as u64));
            a.i(ldst(k, 1, 22, 0))
                .i(ldst(k, 1, 22, 3 * n as u32))
                .i(ldst_unscaled(k, 1, 22, -n))
                .i(mov(X, 23, 22))
                .i(ldst_pre(k, 1, 23, 4 * n))
                .i(ldst_post(k, 1, 23, -2 * n))
                .i(movz(X, 2, 6, 0))
                .i(ldst_reg(k, 1, 22, 2, 3, true))
                .i(movn(X, 2, 2, 0)) // -3
                .i(ldst_reg(k, 1, 23, 2, 6, true));
            out(&mut a, 23);
            for q in -1..8 {
                a.i(ldst_unscaled(Ls::LdrX, 3, 22, 8 * q));
                out(&mut a, 3);
            }
        } else {
            for off in [0, n, 7 * n, 64 * n] {
                a.i(ldst(k, 1, 19, off as u32));
                out(&mut a, 1);
            }
            a.i(add_imm(X, 22, 19, 0x100)).i(ldst_unscaled(k, 1, 22, -n));
            out(&mut a, 1);
            a.i(mov(X, 23, 19)).i(ldst_pre(k, 1, 23, 3 * n));
            out(&mut a, 1);
            a.i(ldst_post(k, 1, 23, -n));
            out(&mut a, 1);
            out(&mut a, 23);
            a.i(movz(X, 2, 5, 0)).i(ldst_reg(k, 1, 19, 2, 3, true));
            out(&mut a, 1);
            a.i(movn(W, 2, 1, 0)) // w2 = -2
                .i(ldst_reg(k, 1, 22, 2, 6, true));
            out(&mut a, 1);
            if n <= 2 {
                // Not scaled: -2 bytes (aligned for these sizes only).
                a.i(ldst_reg(k, 1, 22, 2, 6, false));
                out(&mut a, 1);
            }
        }
    }
    // Pairs: every kind and addressing mode, loads after stores.
    a.mov64(24, DATA + 0x6000)
        .mov64(1, 0xfedc_ba98_7654_3210)
        .mov64(2, 0x0123_4567_89ab_cdef);
    for p in [Pair::W, Pair::X] {
        let n = if p == Pair::X { 8 } else { 4 };
        a.i(ldstp(p, false, 2, 1, 2, 24, 2 * n))
            .i(ldstp(p, false, 3, 2, 1, 24, 6 * n))
            .i(ldstp(p, false, 1, 1, 1, 24, -n))
            .i(ldstp(p, true, 2, 3, 4, 24, 0))
            .i(ldstp(p, true, 3, 5, 6, 24, -2 * n))
            .i(ldstp(p, true, 1, 7, 8, 24, 3 * n));
        for r in [3, 4, 5, 6, 7, 8, 24] {
            out(&mut a, r);
        }
    }
    a.i(ldstp(Pair::Sw, true, 2, 3, 4, 19, 8))
        .i(ldstp(Pair::Sw, true, 3, 5, 6, 19, 16))
        .i(ldstp(Pair::Sw, true, 1, 7, 8, 19, -64));
    for r in [3, 4, 5, 6, 7, 8, 19] {
        out(&mut a, r);
    }
    epilogue(&mut a);
    let mut m = Machine::from_asm(&a);
    m.random_data(7);
    // Bytes with the sign bit set and clear at the first offsets.
    m.write_u64s(
        DATA,
        &[0x80ff_7f01_8000_7fff, 0xffff_fffe_8000_0000, 0x7fff_ffff_ffff_ff80],
    );
    let b = run_both(&m, BUDGET);
    assert_completed(&b);
}

#[test]
fn unaligned_accesses_fault_with_the_mmu_off() {
    use asm::*;
    // (offset from DATA, access); every access but the byte ones is
    // unaligned and must fault (Device memory).
    let cases: Vec<(u64, u32, bool)> = vec![
        (1, ldst(Ls::LdrX, 1, 2, 0), true),
        (4, ldst(Ls::LdrX, 1, 2, 0), true),
        (1, ldst(Ls::Ldrh, 1, 2, 0), true),
        (2, ldst(Ls::LdrW, 1, 2, 0), true),
        (3, ldst(Ls::LdrshX, 1, 2, 0), true),
        (4, ldst(Ls::StrX, 1, 2, 0), true),
        (1, ldst(Ls::Strh, 1, 2, 0), true),
        (4, ldp(X, 1, 3, 2, 0), true),
        (2, ldp(W, 1, 3, 2, 0), true),
        (4, stp(X, 1, 3, 2, 0), true),
        (1, ldst_pre(Ls::LdrW, 1, 2, 0), true),
        (7, ldst_post(Ls::StrW, 1, 2, 1), true),
        (1, ldst(Ls::Ldrb, 1, 2, 0), false),
        (3, ldst(Ls::Strb, 1, 2, 0), false),
        (2, ldst(Ls::Strh, 1, 2, 0), false),
    ];
    for (off, access, faults) in cases {
        let mut a = Asm::new(CODE);
        prologue(&mut a);
        // Warm the fast path for the page with an aligned access first.
        a.mov64(2, DATA + off)
            .i(ldst(Ls::LdrX, 5, 19, 8))
            .i(ldst(Ls::StrX, 5, 19, 16))
            .i(movz(X, 6, 1, 0))
            .i(adds(X, 7, 6, 5))
            .i(access)
            .i(add_imm(X, 8, 8, 1));
        epilogue(&mut a);
        let mut m = Machine::from_asm(&a);
        m.random_data(off);
        let b = run_named(&m, &cpu_aarch64::disasm::disassemble(access, 0));
        if !faults {
            assert_completed(&b);
        } else {
            let (esr, elr, _) = assert_faulted(&b);
            assert_eq!(
                esr & 0x3f,
                0x21,
                "alignment fault for {}",
                cpu_aarch64::disasm::disassemble(access, 0)
            );
            assert_eq!(elr, CODE + 4 * (a.words.len() as u64 - 3));
        }
    }
}

#[test]
fn data_aborts_mid_block_are_precise() {
    use asm::*;
    // Each variant: the words before the faulting access (run in the same
    // block), the access, and the expected fault address.
    let variants: Vec<(&str, Vec<u32>, u64)> = vec![
        ("load from unmapped", vec![ldst(Ls::LdrX, 4, 10, 0)], UNMAPPED),
        ("store to unmapped", vec![ldst(Ls::StrW, 3, 10, 4)], UNMAPPED + 4),
        (
            "pre-index load: no writeback",
            vec![ldst_pre(Ls::LdrX, 4, 10, 16)],
            UNMAPPED + 16,
        ),
        (
            "post-index store: no writeback",
            vec![ldst_post(Ls::StrX, 4, 10, 16)],
            UNMAPPED,
        ),
        ("ldp: second half unmapped", vec![ldp(X, 4, 5, 11, 0)], STACK_TOP),
        ("stp: second half unmapped", vec![stp(X, 3, 2, 11, 0)], STACK_TOP),
        (
            "byte read rejected by the device",
            vec![ldst(Ls::Ldrb, 4, 20, 3)],
            MMIO + 3,
        ),
        (
            "after an MMIO store",
            vec![ldst(Ls::StrX, 3, 20, 8), ldst(Ls::LdrX, 4, 10, 0)],
            UNMAPPED,
        ),
        (
            "after an interpreted instruction",
            vec![fmov_to_d(0, 3), ldst(Ls::LdrX, 4, 10, 0)],
            UNMAPPED,
        ),
        (
            "hostile: top of the address space",
            vec![ldst(Ls::LdrX, 4, 12, 0)],
            u64::MAX - 7,
        ),
        (
            "hostile: above the PA range",
            vec![ldst(Ls::StrX, 4, 13, 0)],
            0x0001_0000_0000_0000,
        ),
        ("hostile: just below RAM", vec![ldst(Ls::LdrX, 4, 14, 0)], RAM_BASE - 8),
        (
            // More dirty registers than host registers: the slow path's
            // write-back list reads spilled values too.
            "after fourteen dirty registers",
            (15..19)
                .chain(21..29)
                .map(|r| add_imm(X, r, 1, r))
                .chain([ldst(Ls::LdrX, 4, 10, 0)])
                .collect(),
            UNMAPPED,
        ),
        (
            "unaligned store to unmapped after dirty registers",
            (15..19)
                .chain(21..29)
                .map(|r| add_imm(X, r, 2, r))
                .chain([ldst_unscaled(Ls::StrX, 3, 10, 3)])
                .collect(),
            UNMAPPED + 3,
        ),
    ];
    for (name, access, far) in variants {
        let mut a = Asm::new(CODE);
        prologue(&mut a);
        a.mov64(10, UNMAPPED)
            .mov64(11, STACK_TOP - 8)
            .mov64(12, u64::MAX - 7)
            .mov64(13, 0x0001_0000_0000_0000)
            .mov64(14, RAM_BASE - 8)
            .i(movz(X, 4, 0x4444, 0))
            .i(movz(X, 5, 0x5555, 0))
            .b("block")
            .label("block")
            // In one block: dirty registers, flags, a store, then the access.
            .i(movz(X, 1, 5, 0))
            .i(add_imm(X, 2, 1, 3))
            .i(adds(X, 3, 2, 1))
            .i(ldst(Ls::StrX, 3, 19, 0))
            .i(ldstp(Pair::X, false, 3, 1, 2, SP, -16))
            .all(access.iter().copied())
            .i(add_imm(X, 6, 6, 1))
            .i(add_imm(X, 7, 7, 1));
        epilogue(&mut a);
        let fault_pc = CODE + 4 * (a.words.len() as u64 - 4);
        let b = run_named(&Machine::from_asm(&a), name);
        let (_, elr, got_far) = assert_faulted(&b);
        assert_eq!(elr, fault_pc, "{name}");
        assert_eq!(got_far, far, "{name}");
    }
}

#[test]
fn plain_system_registers_run_in_place() {
    use asm::*;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.i(movz(X, 9, 50, 0))
        .i(movz(X, 8, 0, 0))
        .mov64(1, 0x1122_3344_5566_7788)
        // N and V, with low bits MSR NZCV ignores.
        .mov64(15, 0xffff_ffff_9000_00ff);
    a.label("loop")
        .i(msr(sysreg::TPIDR_EL0, 1))
        .i(mrs(2, sysreg::TPIDR_EL0))
        .i(add_imm(X, 2, 2, 1))
        .i(msr(sysreg::TPIDR_EL1, 2))
        .i(mrs(3, sysreg::TPIDR_EL1))
        .i(msr(sysreg::TPIDRRO_EL0, 3))
        .i(mrs(4, sysreg::TPIDRRO_EL0))
        .i(msr(sysreg::SP_EL0, 4))
        .i(mrs(5, sysreg::SP_EL0))
        .i(msr_imm(3, 6, 2)) // DAIFSet #2: I
        .i(mrs(6, sysreg::DAIF))
        .i(msr(sysreg::NZCV, 15))
        .i(mrs(7, sysreg::NZCV))
        .i(csinc(X, 8, 8, 8, cond::VC)) // V is set: X8 += 1
        .i(mrs(11, sysreg::CTR_EL0))
        .i(mrs(12, sysreg::DCZID_EL0))
        .i(add(X, 1, 1, 5))
        .i(subs_imm(X, 9, 9, 1))
        .b_cond(cond::NE, "loop");
    // In one block: in-place writes, then a fault; the handler must see
    // them done (they precede the faulting access).
    a.mov64(10, UNMAPPED)
        .b("block")
        .label("block")
        .i(msr(sysreg::TPIDR_EL0, 8))
        .i(msr(sysreg::SP_EL0, 9))
        .i(msr_imm(3, 6, 1)) // DAIFSet #1: F
        .i(ldst(Ls::LdrX, 4, 10, 0))
        .i(add_imm(X, 6, 6, 1));
    epilogue(&mut a);
    let b = run_named(&Machine::from_asm(&a), "plain sysregs");
    let (esr, _, far) = assert_faulted(&b);
    assert_eq!((esr >> 26, far), (0x25, UNMAPPED));
    let cpu = &b.jit.cpu;
    assert_eq!(cpu.x[7], 0x9000_0000, "MSR NZCV keeps bits 31:28 only");
    assert_eq!(cpu.x[8], 50);
    assert_eq!(cpu.sys.get(SysReg::TPIDR_EL0), 50);
    assert_eq!(cpu.sp_el[0], 0);
    assert_eq!(cpu.x[6] & 0x80, 0x80, "DAIFSet #2 sets I");
    assert_eq!(cpu.x[11], cpu.sys.get(SysReg::CTR_EL0));
    assert_eq!(cpu.x[12], cpu.sys.get(SysReg::DCZID_EL0));
    // 15 system-register accesses per iteration ran natively: only the
    // handler's few MRS went to the interpreter.
    assert!(b.stats.interp_calls < 20, "{:?}", b.stats);
}

/// MSR DAIF and DAIFClr at EL1, and cache maintenance by VA (DC CVAU,
/// CVAC, CIVAC, IC IVAU) where nothing traps it, run in generated code.
/// With an interrupt line asserted, the unmasking write is the last
/// instruction before the interrupt is taken (at the vector's HVC, which
/// ends the run), exactly where the interpreter takes it; with the
/// interrupt still masked, or none asserted, the block goes on.
#[test]
fn daif_writes_and_cache_maintenance_run_in_place() {
    use asm::*;
    const DC_CVAU: u32 = 0xd50b_7b20;
    const DC_CVAC: u32 = 0xd50b_7a20;
    const DC_CIVAC: u32 = 0xd50b_7e20;
    const IC_IVAU: u32 = 0xd50b_7520;
    // (name, the unmasking write, IRQ asserted, FIQ asserted).
    let cases = [
        ("msr daif, x2; no interrupt", msr(sysreg::DAIF, 2), false, false),
        ("msr daif, x2; IRQ", msr(sysreg::DAIF, 2), true, false),
        ("msr daifclr, #2; IRQ", msr_imm(3, 7, 2), true, false),
        ("msr daifclr, #2; FIQ still masked", msr_imm(3, 7, 2), false, true),
        ("msr daifclr, #1; FIQ", msr_imm(3, 7, 1), false, true),
    ];
    for (name, unmask, irq, fiq) in cases {
        let mut a = Asm::new(CODE);
        prologue(&mut a);
        a.i(movz(X, 9, 20, 0))
            .i(movz(X, 1, 0x3c0, 0))
            .mov64(3, DATA + 0x40)
            .i(movz(X, 2, 0x300, 0)); // D and A stay masked
                                      // A loop of maintenance, masking and unmasking with nothing
                                      // deliverable (the lines are asserted after it).
        a.label("loop")
            .i(msr(sysreg::DAIF, 1))
            .i(DC_CVAU | 3)
            .i(IC_IVAU | 3)
            .i(DC_CVAC | 3)
            .i(DC_CIVAC | 3)
            .i(mrs(6, sysreg::DAIF))
            .i(msr_imm(3, 6, 0xf))
            .i(add(X, 7, 7, 6))
            .i(subs_imm(X, 9, 9, 1))
            .b_cond(cond::NE, "loop");
        // The lines are asserted from the start, masked until here.
        a.b("block")
            .label("block")
            .i(add_imm(X, 5, 5, 1))
            .i(unmask)
            .i(add_imm(X, 5, 5, 1))
            .i(add_imm(X, 5, 5, 1));
        epilogue(&mut a);
        let mut m = Machine::from_asm(&a);
        // IRQ and FIQ from the current EL with SP_ELx: end the run there.
        m.load(VECTORS + 0x280, &[hvc(1)]);
        m.load(VECTORS + 0x300, &[hvc(2)]);
        m.cpu.pstate.daif = 0xf;
        m.cpu.irq.set(cpu_aarch64::irq::IRQ, irq);
        m.cpu.irq.set(cpu_aarch64::irq::FIQ, fiq);
        let b = run_named(&m, name);
        let taken = (irq && unmask != msr_imm(3, 7, 1)) || (fiq && unmask == msr_imm(3, 7, 1));
        let cpu = &b.interp.cpu;
        assert_eq!(cpu.x[5], if taken { 1 } else { 3 }, "{name}");
        assert_eq!(cpu.x[7], 20 * 0x3c0, "{name}");
        if taken {
            assert_eq!(
                cpu.sys.get(SysReg::ELR_EL1),
                CODE + 4 * a.words.iter().position(|&w| w == unmask).unwrap() as u64 + 4,
                "{name}"
            );
        }
        // Only the vector's HVC went to the interpreter.
        assert!(b.stats.interp_calls <= 1, "{name}: {:?}", b.stats);
    }
}

#[test]
fn sp_el0_is_undefined_while_selected() {
    use asm::*;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.i(msr_imm(0, 5, 0)).i(mrs(5, sysreg::SP_EL0)).i(add_imm(X, 6, 6, 1));
    epilogue(&mut a);
    let b = run_named(&Machine::from_asm(&a), "SP_EL0 with SPSel 0");
    let (esr, _, _) = assert_faulted(&b);
    assert_eq!(esr >> 26, 0, "EC: unknown reason");
}

/// LSE `LD<op>`/`SWP` (`o3:opc`: 0-7 ADD CLR EOR SET SMAX SMIN UMAX UMIN,
/// 8 SWP) of `1 << size` bytes, acquire and release.
fn lse(size: u32, op: u32, rs: u32, rn: u32, rt: u32) -> u32 {
    size << 30 | 0x38e0_0000 | (op >> 3) << 15 | (op & 7) << 12 | rs << 16 | rn << 5 | rt
}

/// `CASAL` of `1 << size` bytes.
fn casal(size: u32, rs: u32, rn: u32, rt: u32) -> u32 {
    size << 30 | 0x08e0_fc00 | rs << 16 | rn << 5 | rt
}

#[test]
fn lse_atomics_of_every_size_and_op() {
    use asm::*;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    // Operands with sign bits at every size.
    a.i(movz(X, 9, 20, 0))
        .mov64(2, 0x8081_f0f1_7f80_ff01)
        .mov64(3, 0x0123_4567_89ab_cdef);
    a.label("loop");
    for size in 0..4 {
        for op in 0..9 {
            a.i(lse(size, op, 2 + (op & 1), 19, 4))
                .i(add(X, 5, 5, 4))
                .i(eor(X, 2, 2, 5));
        }
        // CAS that fails (memory is not 0x...ef at this size), then one
        // that succeeds with what the failed one returned.
        a.i(mov(X, 6, 3)).i(casal(size, 6, 19, 2));
        a.i(casal(size, 6, 19, 3)).i(add(X, 5, 5, 6));
    }
    a.i(add_imm(X, 19, 19, 8))
        .i(subs_imm(X, 9, 9, 1))
        .b_cond(cond::NE, "loop");
    epilogue(&mut a);
    let mut m = Machine::from_asm(&a);
    m.random_data(5);
    let b = run_named(&m, "LSE atomics");
    assert_completed(&b);
    assert!(b.stats.interp_calls < 10, "the atomics ran natively: {:?}", b.stats);
}

#[test]
fn lse_atomics_off_the_fast_path() {
    use asm::*;
    // Each variant: an atomic whose address the fast path cannot take,
    // after dirty registers in the same block; the interpreter runs it.
    let variants: Vec<(&str, u32, Option<u32>)> = vec![
        ("ldadd on MMIO", lse(3, 0, 2, 20, 4), None),
        ("cas on MMIO", casal(2, 6, 20, 2), None),
        ("ldset to unmapped", lse(2, 3, 2, 10, 4), Some(0x25)),
        ("swp unaligned", lse(3, 8, 2, 11, 4), Some(0x25)),
        ("cas unaligned", casal(1, 6, 11, 2), Some(0x25)),
    ];
    for (name, insn, ec) in variants {
        let mut a = Asm::new(CODE);
        prologue(&mut a);
        a.mov64(10, UNMAPPED).mov64(11, DATA + 3).i(movz(X, 9, 3, 0));
        a.label("loop")
            .i(movz(X, 2, 0x1234, 0))
            .i(add(X, 6, 6, 9))
            .i(insn)
            .i(add(X, 7, 7, 4))
            .i(subs_imm(X, 9, 9, 1))
            .b_cond(cond::NE, "loop");
        epilogue(&mut a);
        let b = run_named(&Machine::from_asm(&a), name);
        match ec {
            None => assert_completed(&b),
            Some(ec) => {
                let (esr, _, _) = assert_faulted(&b);
                assert_eq!(esr >> 26, u64::from(ec), "{name}");
            }
        }
    }
}

/// Turns the MMU on for `m`: 4 KiB granule, 39-bit VAs, RAM mapped
/// flat as Normal memory by a 1 GiB block, and again as Device-nGnRnE at
/// `RAM_BASE + DEVICE_ALIAS`. The tables go in the last pages below the
/// stack (after `random_data`).
fn mmu_on(m: &mut Machine, strict_alignment: bool) {
    const L1: u64 = STACK_TOP - 0x4000;
    // Block descriptor: AF, inner shareable, AttrIndx, valid block.
    let block = |pa: u64, attr: u64| pa | 1 << 10 | 3 << 8 | attr << 2 | 0b01;
    let mut table = vec![0u64; 512];
    table[(RAM_BASE >> 30) as usize] = block(RAM_BASE, 0);
    table[((RAM_BASE + DEVICE_ALIAS) >> 30) as usize] = block(RAM_BASE, 1);
    m.write_u64s(L1, &table);
    let sys = &mut m.cpu.sys;
    // Attr0 Normal write-back, Attr1 Device-nGnRnE.
    sys.set(SysReg::MAIR_EL1, 0xff);
    // T0SZ 25, inner/outer write-back, inner shareable, TG0 4 KiB, EPD1,
    // IPS 48 bits.
    sys.set(SysReg::TCR_EL1, 25 | 1 << 8 | 1 << 10 | 3 << 12 | 1 << 23 | 5 << 32);
    sys.set(SysReg::TTBR0_EL1, L1);
    let sctlr = sys.get(SysReg::SCTLR_EL1) | 1 | 1 << 2 | 1 << 12;
    sys.set(SysReg::SCTLR_EL1, if strict_alignment { sctlr | 2 } else { sctlr & !2 });
}

/// Where [`mmu_on`] maps RAM a second time, as Device memory.
const DEVICE_ALIAS: u64 = 0x4000_0000;

/// With the MMU on, plain loads and stores that are not aligned to their
/// size work on Normal memory (inside a page natively, next to the
/// fast-path entry, and across pages through the helper), and are
/// alignment faults on Device memory and with SCTLR_EL1.A set; ordered
/// accesses fault whatever the memory. The JIT must agree with the
/// interpreter in every case, and run the in-page Normal ones without
/// leaving generated code.
#[test]
fn unaligned_accesses_with_the_mmu_on() {
    use asm::*;
    let page_end = (DATA | 0xfff) + 1;
    // (address, access, in one page).
    let cases: Vec<(u64, u32, bool)> = vec![
        (DATA + 0x101, ldst(Ls::LdrX, 1, 2, 0), true),
        (DATA + 0x104, ldst(Ls::LdrX, 1, 2, 0), true),
        (DATA + 0x102, ldst(Ls::LdrW, 1, 2, 0), true),
        (DATA + 0x101, ldst(Ls::Ldrh, 1, 2, 0), true),
        (DATA + 0x103, ldst(Ls::LdrshX, 1, 2, 0), true),
        (DATA + 0x105, ldst(Ls::StrX, 1, 2, 0), true),
        (DATA + 0x101, ldst(Ls::StrW, 1, 2, 0), true),
        (DATA + 0x103, ldst(Ls::Strh, 1, 2, 0), true),
        (DATA + 0x104, ldp(X, 1, 3, 2, 0), true),
        (DATA + 0x102, stp(W, 1, 3, 2, 0), true),
        (page_end - 3, ldst(Ls::LdrX, 1, 2, 0), false),
        (page_end - 5, ldst(Ls::StrX, 1, 2, 0), false),
        (page_end - 2, ldst(Ls::LdrW, 1, 2, 0), false),
    ];
    for (addr, access, in_page) in cases {
        let name = cpu_aarch64::disasm::disassemble(access, 0);
        for (memory, alias, strict) in [("normal", 0, false), ("device", DEVICE_ALIAS, false), ("A=1", 0, true)] {
            let mut a = Asm::new(CODE);
            prologue(&mut a);
            // Warm the page's read and write entries with aligned accesses,
            // then make the access ten times in a loop.
            a.mov64(2, addr + alias)
                .mov64(4, (addr & !0xfff) + alias)
                .i(movz(X, 9, 10, 0))
                .i(movz(X, 1, 0x1234, 0))
                .i(movk(X, 1, 0x5678, 3))
                .i(movz(X, 3, 0x4321, 1))
                .i(ldst(Ls::LdrX, 5, 4, 8))
                .i(ldst(Ls::StrX, 5, 4, 16))
                .b("loop")
                .label("loop")
                .i(access)
                .i(add(X, 6, 6, 1))
                .i(add_imm(X, 1, 1, 0x35))
                .i(subs_imm(X, 9, 9, 1))
                .b_cond(cond::NE, "loop");
            epilogue(&mut a);
            let mut m = Machine::from_asm(&a);
            m.random_data(addr);
            mmu_on(&mut m, strict);
            let b = run_named(&m, &format!("{name} at {addr:#x}, {memory}"));
            if memory == "normal" {
                assert_completed(&b);
                if in_page {
                    assert!(
                        b.stats.slow_accesses <= 4,
                        "{name} at {addr:#x} left the fast path: {:?}",
                        b.stats
                    );
                }
            } else {
                let (esr, _, far) = assert_faulted(&b);
                assert_eq!((esr >> 26, esr & 0x3f), (0x25, 0x21), "{name} at {addr:#x}, {memory}");
                assert_eq!(far, addr + alias, "{name}, {memory}");
            }
        }
    }
}

/// A load whose address comes from a load takes its host address from
/// the addend its instruction used last, checked against the TLB entry's.
/// Here a list's nodes are reached through two mappings of RAM (each with
/// its own addend) in an irregular order, so the guess is wrong at some
/// steps and right at others; the sums and the stores through either
/// mapping must be the interpreter's, and a pointer to an unmapped address
/// must fault precisely.
#[test]
fn pointer_chasing_through_two_mappings() {
    use asm::*;
    const NODES: u64 = 40;
    const ALIAS: u64 = 0x4000_0000;
    let node = |k: u64| DATA + k * 0x1c8;
    for bad in [None, Some(29)] {
        let mut a = Asm::new(CODE);
        prologue(&mut a);
        a.mov64(1, node(0))
            .i(movz(X, 3, 0, 0))
            .i(movz(X, 9, 200, 0))
            .b("loop")
            .label("loop")
            .i(ldst(Ls::LdrX, 2, 1, 8))
            .i(add(X, 3, 3, 2))
            .i(ldst(Ls::StrX, 3, 1, 16))
            .i(ldst(Ls::LdrX, 1, 1, 0))
            .i(subs_imm(X, 9, 9, 1))
            .b_cond(cond::NE, "loop");
        epilogue(&mut a);
        let mut m = Machine::from_asm(&a);
        let mut want = 0u64;
        let mut at = 0;
        for _ in 0..200 {
            want = want.wrapping_add(at * at + 7);
            at = (at + 1) % NODES;
        }
        for k in 0..NODES {
            let next = (k + 1) % NODES;
            let alias = if next % 3 == 0 || next % 7 == 0 { ALIAS } else { 0 };
            let ptr = match bad {
                Some(b) if b == k => RAM_BASE + 2 * ALIAS,
                _ => node(next) + alias,
            };
            m.write_u64s(node(k), &[ptr, k * k + 7, 0]);
        }
        mmu_on(&mut m, false);
        // The alias as Normal memory (attribute 0), like the flat map.
        m.write_u64s(
            STACK_TOP - 0x4000 + 8 * ((RAM_BASE + ALIAS) >> 30),
            &[RAM_BASE | 1 << 10 | 3 << 8 | 0b01],
        );
        let b = run_named(&m, &format!("bad node {bad:?}"));
        match bad {
            None => {
                assert_completed(&b);
                assert_eq!(b.jit.cpu.x[3], want);
            }
            Some(_) => {
                let (esr, _, far) = assert_faulted(&b);
                assert_eq!(esr >> 26, 0x25, "a data abort");
                assert_eq!(far, RAM_BASE + 2 * ALIAS + 8);
            }
        }
    }
}

/// A loop that sets NZCV without reading it carries the flags in a host
/// register, in the form the host's flag reads leave them, and makes the
/// architectural form only where it leaves. Each flag-setting kind, in a
/// loop that runs out (then reads NZCV) and in one whose load faults in a
/// later iteration before the flags are set again (NZCV must be the
/// previous iteration's), and in budget slices that cut it anywhere.
#[test]
fn carried_flags_leave_loops_exact() {
    use asm::*;
    const VALUES: [u64; 12] = [
        0,
        1,
        u64::MAX,
        0x8000_0000_0000_0000,
        0x7fff_ffff_ffff_ffff,
        0x8000_0000,
        0x7fff_ffff,
        0xffff_ffff,
        2,
        0x1234_5678_9abc_def0,
        0xffff_ffff_0000_0000,
        0x1_0000_0000,
    ];
    let ops: Vec<(&str, u32)> = vec![
        ("adds x", adds(X, 3, 3, 2)),
        ("subs x", subs(X, 3, 3, 2)),
        ("cmp x", cmp(X, 2, 3)),
        ("cmn w", cmn(W, 2, 3)),
        ("subs w imm", subs_imm(W, 3, 2, 1)),
        ("ands x", ands(X, 4, 2, 3)),
        ("adcs x", adc(X, false, true, 3, 3, 2)),
        ("sbcs w", adc(W, true, true, 3, 3, 2)),
    ];
    let node = |k: u64| DATA + 16 * k;
    for (name, op) in ops {
        for fault in [false, true] {
            let mut a = Asm::new(CODE);
            prologue(&mut a);
            a.mov64(1, node(0))
                .mov64(3, 0x7fff_ffff_ffff_fff0)
                .i(movz(X, 9, if fault { 100 } else { 11 }, 0))
                .b("loop")
                .label("loop")
                .i(ldst(Ls::LdrX, 2, 1, 8))
                .i(op)
                .i(ldst(Ls::LdrX, 1, 1, 0))
                .i(sub_imm(X, 9, 9, 1))
                .cbnz(X, 9, "loop")
                .i(mrs(20, sysreg::NZCV));
            epilogue(&mut a);
            let mut m = Machine::from_asm(&a);
            for (k, &v) in VALUES.iter().enumerate() {
                let k = k as u64;
                let next = if fault && k == 7 { UNMAPPED } else { node(k + 1) };
                m.write_u64s(node(k), &[next, v]);
            }
            let label = format!("{name}, fault {fault}");
            let b = run_named(&m, &label);
            if fault {
                let (_, _, far) = assert_faulted(&b);
                assert_eq!(far, UNMAPPED + 8, "{label}");
            } else {
                assert_completed(&b);
            }
            for slice in [1, 3, 7] {
                let mut jit = new_jit();
                let mut i = m.clone();
                let want = i.cpu.run(&mut i.bus, BUDGET);
                let mut j = m.clone();
                let got = run_sliced(&mut jit, &mut j, slice);
                assert_eq!((got.0, got.1), want, "{label}, slices of {slice}");
                compare(&label, &m, &i, &j, &want, &want);
            }
        }
    }
}

#[test]
fn dc_zva_with_the_mmu_off_is_an_alignment_fault() {
    use asm::*;
    // With the MMU off data memory is Device: DC ZVA faults even where a
    // store just made a fast-path write entry for the page (the inline
    // DC ZVA also needs the page learnt as Normal memory).
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.i(ldst(Ls::StrX, 3, 19, 0))
        .i(ldst(Ls::StrX, 3, 19, 0))
        .i(0xd50b_7420 | 19) // DC ZVA, X19
        .i(add_imm(X, 6, 6, 1));
    epilogue(&mut a);
    let b = run_named(&Machine::from_asm(&a), "DC ZVA, MMU off");
    let (esr, _, far) = assert_faulted(&b);
    assert_eq!(
        (esr >> 26, esr & 0x3f, far),
        (0x25, 0x21, DATA),
        "alignment fault at X19"
    );
}

#[test]
fn an_atomic_rewrites_the_next_instruction() {
    use asm::*;
    // LDEOR turns `movz x1, #1` (the next word) into `movz x1, #3`.
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.adr(21, "next")
        .i(movz(W, 2, (movz(X, 1, 1, 0) ^ movz(X, 1, 3, 0)) & 0xffff, 0))
        .i(lse(2, 2, 2, 21, 4))
        .label("next")
        .i(movz(X, 1, 1, 0))
        .i(add_imm(X, 0, 1, 0));
    epilogue(&mut a);
    let b = run_named(&Machine::from_asm(&a), "atomic SMC");
    assert_completed(&b);
    assert_eq!(b.jit.cpu.x[1], 3);
}

#[test]
fn sp_alignment_and_synchronous_exceptions() {
    use asm::*;
    let variants: Vec<(&str, Vec<u32>, u32)> = vec![
        (
            "misaligned SP",
            vec![sub_imm(X, SP, SP, 8), ldst(Ls::LdrX, 4, SP, 0)],
            0x26,
        ),
        ("brk", vec![brk(7)], 0x3c),
        ("undefined", vec![0], 0x00),
        ("hvc #1 without EL2 is a firmware call", vec![], 0),
    ];
    for (name, words, ec) in variants {
        let mut a = Asm::new(CODE);
        prologue(&mut a);
        a.i(movz(X, 1, 5, 0))
            .i(adds(X, 2, 1, 1))
            .all(words.iter().copied())
            .i(add_imm(X, 3, 3, 1));
        epilogue(&mut a);
        let b = run_named(&Machine::from_asm(&a), name);
        if words.is_empty() {
            assert_completed(&b);
        } else {
            let (esr, _, _) = assert_faulted(&b);
            assert_eq!((esr >> 26) as u32, ec, "{name}");
        }
    }
}

#[test]
fn exceptions_taken_and_returned_from_in_a_loop() {
    use asm::*;
    // SVC is counted by the handler (X26) and returns with ERET.
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.i(movz(X, 9, 100, 0)).i(movz(X, 26, 0, 0));
    a.label("loop")
        .i(add_imm(X, 0, 0, 3))
        .i(svc(1))
        .i(adds(X, 1, 1, 0))
        .i(subs_imm(X, 9, 9, 1))
        .b_cond(cond::NE, "loop");
    epilogue(&mut a);
    let b = run_both(&Machine::from_asm(&a), BUDGET);
    assert_completed(&b);
    assert_eq!(b.interp.cpu.x[26], 100);
}

/// Code that is not hot yet runs on the interpreter a basic block at a
/// time, fetching the next word of the same page without translating its
/// address again; a write to TTBR0 (here, to tables that map the code's
/// next page elsewhere, under another ASID) and a page boundary must each
/// make it translate again, as every fetch of the interpreter does.
#[test]
fn cold_straight_line_code_follows_translation_changes() {
    use asm::*;
    const L1B: u64 = STACK_TOP - 0x7000;
    const L2B: u64 = STACK_TOP - 0x6000;
    const L3B: u64 = STACK_TOP - 0x5000;
    const P1: u64 = CODE + 0x1000;
    const Q: u64 = CODE + 0x8000;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.mov64(1, L1B | 2 << 48)
        .mov64(2, STACK_TOP - 0x4000)
        .i(movz(X, 0, 0, 0))
        .i(movz(X, 9, 6, 0))
        .b("loop");
    // The last words of the first page and the first of the next: under
    // tables B the next page is Q, which differs at +0 and +8.
    a.pad_to(P1 - 16)
        .label("loop")
        .i(msr(sysreg::TTBR0_EL1, 1))
        .i(add_imm(X, 0, 0, 1))
        .i(add_imm(X, 0, 0, 1))
        .i(add_imm(X, 0, 0, 1));
    let next_page = |a: &mut Asm, first: u32, third: u32| {
        a.i(add_imm(X, 0, 0, first))
            .i(msr(sysreg::TTBR0_EL1, 2))
            .i(add_imm(X, 0, 0, third))
            .i(subs_imm(X, 9, 9, 1))
            .b_cond(cond::NE, "loop");
    };
    next_page(&mut a, 1, 3);
    epilogue(&mut a);
    a.pad_to(Q);
    next_page(&mut a, 100, 1000);
    let mut m = Machine::from_asm(&a);
    mmu_on(&mut m, false);
    // Every entry not global (nG), or the core's TLB could rightly keep
    // using one table's translation under the other's ASID. Tables A: RAM
    // flat by a 1 GiB block; tables B: RAM flat by 4 KiB pages, but P1 ->
    // Q.
    const NG: u64 = 1 << 11;
    m.write_u64s(
        STACK_TOP - 0x4000 + 8 * (RAM_BASE >> 30),
        &[RAM_BASE | NG | 1 << 10 | 3 << 8 | 0b01],
    );
    let table = |next: u64| next | 0b11;
    let page = |pa: u64| pa | NG | 1 << 10 | 3 << 8 | 0b11;
    let mut l1 = vec![0u64; 512];
    l1[(RAM_BASE >> 30) as usize] = table(L2B);
    let mut l2 = vec![0u64; 512];
    l2[(RAM_BASE >> 21 & 511) as usize] = table(L3B);
    let l3: Vec<u64> = (0..512u64)
        .map(|i| RAM_BASE + (i << 12))
        .map(|va| page(if va == P1 { Q } else { va }))
        .collect();
    m.write_u64s(L1B, &l1);
    m.write_u64s(L2B, &l2);
    m.write_u64s(L3B, &l3);
    let mut jit = jit_translating_after(2);
    let b = run_both_with(&mut jit, &m, BUDGET);
    assert_completed(&b);
    assert_eq!(b.jit.cpu.x[0], 6 * (3 + 100 + 3));
    assert!(b.stats.cold_insns >= 2 * 9, "{:?}", b.stats);
}

// ---------------------------------------------------------------------------
// Self-modifying and newly loaded code

/// Emits `movz/movk w{rd}, word`.
fn load_word(a: &mut Asm, rd: u32, word: u32) {
    a.i(asm::movz(W, rd, word & 0xffff, 0))
        .i(asm::movk(W, rd, word >> 16, 1));
}

#[test]
fn smc_rewrites_an_instruction_in_another_block() {
    use asm::*;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.i(movz(X, 0, 0, 0)).i(movz(X, 9, 5, 0)).adr(11, "patched");
    load_word(&mut a, 10, add_imm(X, 0, 0, 0));
    a.label("loop")
        .bl("patched")
        // Rewrite to `add x0, x0, #(x9 * 16)`.
        .i(addsub_reg(W, false, false, 12, 10, 9, Shift::Lsl, 14))
        .i(ldst(Ls::StrW, 12, 11, 0))
        .bl("patched")
        .i(subs_imm(X, 9, 9, 1))
        .b_cond(cond::NE, "loop");
    epilogue(&mut a);
    a.label("patched").i(add_imm(X, 0, 0, 1)).i(ret());
    let b = run_both(&Machine::from_asm(&a), BUDGET);
    assert_completed(&b);
    assert_eq!(b.interp.cpu.x[0], 1 + 2 * 16 * (5 + 4 + 3 + 2) + 16);
}

#[test]
fn smc_rewrites_the_next_instruction_in_the_same_block() {
    use asm::*;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.i(movz(X, 0, 0, 0)).i(movz(X, 9, 4, 0)).adr(11, "target");
    load_word(&mut a, 10, add_imm(X, 0, 0, 0));
    a.label("loop")
        .i(addsub_reg(W, false, false, 12, 10, 9, Shift::Lsl, 10))
        .i(ldst(Ls::StrW, 12, 11, 0))
        .label("target")
        .i(add_imm(X, 0, 0, 1000))
        .i(add_imm(X, 1, 1, 1))
        .i(subs_imm(X, 9, 9, 1))
        .b_cond(cond::NE, "loop");
    epilogue(&mut a);
    let b = run_both(&Machine::from_asm(&a), BUDGET);
    assert_completed(&b);
    assert_eq!(b.interp.cpu.x[0], 4 + 3 + 2 + 1);
}

#[test]
fn smc_rewrites_its_own_loop_head() {
    use asm::*;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.i(movz(X, 0, 0, 0)).i(movz(X, 9, 6, 0)).adr(11, "loop");
    load_word(&mut a, 10, add_imm(X, 0, 0, 1));
    a.label("loop")
        .i(add_imm(X, 0, 0, 1))
        .i(add_imm(W, 10, 10, 0x400))
        .i(ldst(Ls::StrW, 10, 11, 0))
        .i(subs_imm(X, 9, 9, 1))
        .b_cond(cond::NE, "loop");
    epilogue(&mut a);
    let b = run_both(&Machine::from_asm(&a), BUDGET);
    assert_completed(&b);
}

/// The instructions right after a store (through a NOP, in the same
/// block) rewritten by that store: the block must not go on with the old
/// instructions. X12 holds the two new words.
fn smc_next_instructions_via(name: &str, store: u32) {
    use asm::*;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.i(movz(X, 0, 0, 0)).i(movz(X, 9, 3, 0)).adr(11, "target");
    let new = add_imm(X, 0, 0, 1);
    let new2 = add_imm(X, 1, 1, 7);
    a.mov64(12, u64::from(new2) << 32 | u64::from(new))
        .i(mov(X, 14, 12))
        .i(lsr_imm(X, 14, 14, 32));
    a.label("loop").i(fmov_to_d(0, 12)).i(ldxr(X, 15, 11)).i(store);
    // The target must be 8-aligned for the 8-byte stores: maybe a NOP in
    // between, still in the same block.
    a.pad_to(a.here().next_multiple_of(8));
    a.label("target")
        .i(add_imm(X, 0, 0, 100))
        .i(add_imm(X, 1, 1, 100))
        .i(subs_imm(X, 9, 9, 1))
        .b_cond(cond::NE, "loop");
    epilogue(&mut a);
    let b = run_named(&Machine::from_asm(&a), name);
    assert_completed(&b);
    assert_eq!((b.interp.cpu.x[0], b.interp.cpu.x[1]), (3, 21), "{name}");
}

/// A store pair whose first half rewrites the next instruction of the
/// block and whose second half lands in the next page (data, no code):
/// the first half's slow path must end the block although the second
/// half takes the fast path.
#[test]
fn smc_through_the_first_half_of_a_pair_across_pages() {
    use asm::*;
    const PAGE_END: u64 = CODE + 0x2000;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.i(movz(X, 0, 0, 0)).i(movz(X, 9, 3, 0)).mov64(11, PAGE_END - 8);
    // The words at PAGE_END - 8: `add x0, x0, #1` (was #100), then the
    // branch on (unchanged).
    let branch = b_off(false, 0x1000 + 4);
    // A store to the data page first, so the second half finds its
    // fast-path entry.
    a.mov64(12, u64::from(branch) << 32 | u64::from(add_imm(X, 0, 0, 1)))
        .i(movz(X, 13, 0x55, 0))
        .i(ldst(Ls::StrX, 13, 11, 16));
    a.pad_to(PAGE_END - 8 - 4 * 2)
        .label("loop")
        .i(ldxr(X, 15, 11))
        .i(stp(X, 12, 13, 11, 0))
        .i(add_imm(X, 0, 0, 100))
        .i(branch)
        .pad_to(PAGE_END + 0x1000)
        .i(subs_imm(X, 9, 9, 1))
        .b_cond(cond::NE, "loop");
    epilogue(&mut a);
    let b = run_named(&Machine::from_asm(&a), "stp x12, x13 across pages");
    assert_completed(&b);
    assert_eq!(b.interp.cpu.x[0], 3);
}

#[test]
fn smc_through_a_native_store_pair() {
    smc_next_instructions_via("stp w12, w14", asm::stp(W, 12, 14, 11, 0));
}

#[test]
fn smc_through_an_fp_store() {
    // The JIT hands `str d0` to the interpreter (`Inst::Interp`); the
    // store invalidates the block and requests an exit, but generated
    // code only tests the helper's return value, not the exit request,
    // so the stale copy of the next instructions runs once.
    smc_next_instructions_via("str d0, [x11]", asm::ldst_d(false, 0, 11, 0));
}

#[test]
fn smc_through_a_store_exclusive() {
    smc_next_instructions_via("stxr w13, x12, [x11]", asm::stxr(true, 13, 12, 11));
}

#[test]
fn newly_loaded_code_runs() {
    use asm::*;
    // Copies a routine (from data) into a fresh page twice, with different
    // contents, calling it after each copy; the page was written through
    // the fast path before it ever held code.
    let page = CODE + 0x8000;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.mov64(11, page).i(movz(X, 0, 0, 0));
    // Dirty the page with data stores first (fast-path write entries).
    a.i(ldst(Ls::StrX, 19, 11, 0x800)).i(ldst(Ls::LdrX, 1, 11, 0x800));
    for (round, src) in [DATA, DATA + 0x100, DATA].into_iter().enumerate() {
        let l = format!("copy{round}");
        a.mov64(12, src).i(mov(X, 13, 11)).i(movz(X, 14, 8, 0));
        a.label(&l)
            .i(ldst_post(Ls::LdrX, 15, 12, 8))
            .i(ldst_post(Ls::StrX, 15, 13, 8))
            .i(subs_imm(X, 14, 14, 1))
            .b_cond(cond::NE, &l);
        if round == 1 {
            a.i(ic_ivau(11)).i(DSB_SY).i(ISB);
        }
        a.i(blr(11)).i(add(X, 21, 21, 0));
    }
    epilogue(&mut a);
    let mut m = Machine::from_asm(&a);
    let mut r1 = Asm::new(page);
    r1.i(add_imm(X, 0, 0, 1)).i(lsl_imm(X, 0, 0, 2)).i(ret());
    let mut r2 = Asm::new(page);
    r2.i(add_imm(X, 0, 0, 5))
        .i(mul(X, 0, 0, 0))
        .i(ldst(Ls::StrX, 0, 19, 0x200))
        .i(ret());
    m.load(DATA, &r1.finish());
    m.load(DATA + 0x100, &r2.finish());
    let b = run_both(&m, BUDGET);
    assert_completed(&b);
    assert_eq!(b.interp.cpu.x[0], 4 * (81 + 1));
}

#[test]
fn code_loaded_by_the_host_after_invalidate_phys() {
    use asm::*;
    // The host (a loader, DMA) rewrites code between runs and tells the
    // engine with `invalidate_phys`.
    let mut a = Asm::new(CODE);
    a.i(movz(X, 9, 3, 0))
        .label("loop")
        .bl("f")
        .i(add(X, 1, 1, 0))
        .i(subs_imm(X, 9, 9, 1))
        .b_cond(cond::NE, "loop");
    a.i(hvc(0)).b("loop");
    a.label("f").i(movz(X, 0, 1, 0)).i(ret());
    let f = a.addr("f");
    let m = Machine::from_asm(&a);
    let mut jit = new_jit();
    let (mut i, mut j) = (m.clone(), m.clone());
    for round in 0..3u32 {
        let want = i.cpu.run(&mut i.bus, BUDGET);
        let got = jit.run(0, &mut j.cpu, &mut j.bus, BUDGET);
        compare("", &m, &i, &j, &want, &got);
        assert_eq!(want.1, StepEvent::FirmwareCall);
        let w = movz(X, 0, 10 + round, 0);
        i.load(f, &[w]);
        j.load(f, &[w]);
        jit.invalidate_phys(f);
        for c in [&mut i.cpu, &mut j.cpu] {
            c.x[9] = 2;
        }
    }
    assert_eq!(i.cpu.x[1], 3 + 2 * 10 + 2 * 11);
}

#[test]
fn blocks_dropped_for_a_store_to_their_page_come_back_unchanged() {
    use asm::*;
    // A loop that stores a data word into its own code page every
    // iteration, as Linux writes data next to code or patches a few
    // instructions of a page: its blocks are dropped each time and come
    // back without a new translation while their words stay the same,
    // unless a breakpoint now falls inside one (it must end before it).
    let mut a = Asm::new(CODE);
    a.adr(11, "data").label("start").i(movz(X, 9, 8, 0));
    a.label("loop")
        .bl("f")
        .i(ldst(Ls::StrW, 9, 11, 0))
        .i(subs_imm(X, 9, 9, 1))
        .b_cond(cond::NE, "loop");
    a.i(hvc(0)).b("start");
    a.label("f").i(add_imm(X, 0, 0, 1)).i(add_imm(X, 1, 1, 2)).i(ret());
    a.label("data").i(0);
    let f = a.addr("f");
    let m = Machine::from_asm(&a);
    let mut jit = new_jit();
    let (mut i, mut j) = (m.clone(), m.clone());
    let want = i.cpu.run(&mut i.bus, BUDGET);
    let got = jit.run(0, &mut j.cpu, &mut j.bus, BUDGET);
    compare("", &m, &i, &j, &want, &got);
    assert_eq!(want.1, StepEvent::FirmwareCall);
    let s = jit.stats();
    assert!(s.invalidated >= 8 * 2, "{s:?}");
    // All but those dropped by the last store are entered again.
    assert!(s.revived + s.blocks >= s.invalidated, "{s:?}");
    assert!(s.blocks <= 6, "{s:?}");
    // A breakpoint inside `f`'s dropped block: it is translated again,
    // ending before the breakpoint, and the run stops there.
    for c in [&mut i.cpu, &mut j.cpu] {
        c.debug.set_breakpoints(vec![f + 4]);
    }
    let want = i.cpu.run(&mut i.bus, BUDGET);
    let got = jit.run(0, &mut j.cpu, &mut j.bus, BUDGET);
    compare("breakpoint", &m, &i, &j, &want, &got);
    assert_eq!((want.1, i.cpu.pc), (StepEvent::Debug, f + 4));
}

/// A block follows a B to elsewhere in its page (`Builder::branch`): a
/// loop with its test at the top and a B at the bottom runs as one looped
/// block from the B's target. Then the same loop stores into its own code
/// page every iteration, so its block is dropped and revived each time;
/// a breakpoint at the followed target (inside the block, not at its
/// start) must stop a revived block there, as the interpreter stops.
#[test]
fn blocks_follow_a_branch_in_their_page() {
    use asm::*;
    for store in [false, true] {
        let mut a = Asm::new(CODE);
        a.adr(11, "data")
            .i(movz(X, 0, 0, 0))
            .i(movz(X, 1, 0, 0))
            .i(movz(X, 9, 1000, 0));
        a.label("top").i(cmp(X, 1, 9)).b_cond(cond::CS, "out");
        a.label("body").i(add_imm(X, 1, 1, 1)).i(add(X, 0, 0, 1));
        if store {
            a.i(ldst(Ls::StrW, 1, 11, 0));
        }
        a.b("top");
        a.label("out").i(hvc(0));
        a.label("data").i(0);
        let (top, body) = (a.addr("top"), a.addr("body"));
        let m = Machine::from_asm(&a);
        let mut jit = new_jit();
        let (mut i, mut j) = (m.clone(), m.clone());
        let want = i.cpu.run(&mut i.bus, BUDGET);
        let got = jit.run(0, &mut j.cpu, &mut j.bus, BUDGET);
        compare("", &m, &i, &j, &want, &got);
        assert_eq!((want.1, i.cpu.x[0]), (StepEvent::FirmwareCall, 500_500));
        let s = jit.stats();
        if !store {
            // The blocks from CODE (through `top`), from `body` (through
            // `top` again: one looped block) and from `out`: no block of
            // its own for `top`, no trips between two blocks.
            assert!(s.blocks == 3 && s.chains == 2, "{s:?}");
            continue;
        }
        assert!(s.revived > 100, "{s:?}");
        // Into the loop body again, with a breakpoint at `top`: inside the
        // block from `body` (dropped by its last store), which must not
        // come back as it was but end before the breakpoint.
        for mm in [&mut i, &mut j] {
            mm.cpu.pc = body;
            mm.cpu.x[1] = 0;
            mm.cpu.debug.set_breakpoints(vec![top]);
        }
        let want = i.cpu.run(&mut i.bus, BUDGET);
        let got = jit.run(0, &mut j.cpu, &mut j.bus, BUDGET);
        compare("breakpoint at top", &m, &i, &j, &want, &got);
        assert_eq!((want.1, i.cpu.pc, i.cpu.x[1]), (StepEvent::Debug, top, 1));
    }
}

// ---------------------------------------------------------------------------
// Pages, devices, budgets

#[test]
fn blocks_crossing_pages() {
    use asm::*;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.i(movz(X, 9, 40, 0)).b("straight");
    // Straight-line code across the first page boundary.
    a.pad_to(CODE + 0x1000 - 0x20).label("straight");
    for k in 0..16 {
        a.i(add_imm(X, k % 8, (k + 1) % 8, k + 1));
    }
    a.b("loop");
    // A loop whose body straddles the next boundary, with memory accesses
    // on both sides.
    a.pad_to(CODE + 0x2000 - 0x10).label("loop");
    a.i(ldst(Ls::LdrX, 10, 19, 0))
        .i(add(X, 10, 10, 9))
        .i(ldst(Ls::StrX, 10, 19, 0))
        .i(adds(X, 11, 11, 10))
        .i(ldst(Ls::StrX, 11, 19, 8))
        .i(csinc(X, 12, 12, 12, cond::CS))
        .i(subs_imm(X, 9, 9, 1))
        .b_cond(cond::NE, "loop");
    // A block that is one word long (the last of its page).
    a.b("last")
        .pad_to(CODE + 0x3000 - 4)
        .label("last")
        .i(add_imm(X, 13, 13, 1));
    epilogue(&mut a);
    let mut m = Machine::from_asm(&a);
    m.random_data(3);
    let b = run_both(&m, BUDGET);
    assert_completed(&b);
}

#[test]
fn mmio_accesses_in_a_loop_reach_the_device_in_order() {
    use asm::*;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.i(movz(X, 9, 50, 0));
    a.label("loop")
        .i(ldst(Ls::StrX, 9, 20, 8))
        .i(ldst(Ls::Strh, 9, 20, 2))
        .i(ldst(Ls::LdrW, 1, 20, 16))
        .i(add(X, 0, 0, 1))
        .i(ldst(Ls::StrW, 0, 20, 0x20))
        .i(ldst(Ls::StrX, 0, 19, 0)) // RAM in between
        .i(ldstp(Pair::X, false, 2, 0, 9, 20, 0x40))
        .i(subs_imm(X, 9, 9, 1))
        .b_cond(cond::NE, "loop");
    epilogue(&mut a);
    let b = run_both(&Machine::from_asm(&a), BUDGET);
    assert_completed(&b);
    assert_eq!(b.interp.bus.mmio.len(), 50 * 6);
}

/// A program mixing the shapes above, for the budget tests.
fn mixed_program() -> Machine {
    use asm::*;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.i(movz(X, 9, 25, 0)).adr(11, "patched");
    load_word(&mut a, 10, add_imm(X, 0, 0, 0));
    a.label("loop")
        .bl("patched")
        .i(addsub_reg(W, false, false, 12, 10, 9, Shift::Lsl, 10))
        .i(ldst(Ls::StrW, 12, 11, 0))
        .i(ldst(Ls::StrX, 0, 20, 8))
        .i(scvtf(1, 0))
        .i(fp2(0, 2, 1, 1))
        .i(fcvtzs(3, 2))
        .i(adds(X, 4, 4, 3))
        .i(ldst_reg(Ls::StrX, 4, 19, 9, 3, true))
        .i(movz(X, 5, 7, 0))
        .label("inner")
        .i(add(X, 6, 6, 5))
        .i(subs_imm(X, 5, 5, 1))
        .b_cond(cond::NE, "inner")
        .i(svc(0))
        .i(subs_imm(X, 9, 9, 1))
        .b_cond(cond::NE, "loop");
    epilogue(&mut a);
    a.label("patched").i(add_imm(X, 0, 0, 1)).i(eor(X, 7, 7, 0)).i(ret());
    Machine::from_asm(&a)
}

/// Runs `m` on the JIT in slices of `slice` instructions until it stops
/// for another reason; returns the total retired, the last event and the
/// largest slice.
fn run_sliced(jit: &mut Jit, m: &mut Machine, slice: u64) -> (u64, StepEvent, u64) {
    let (mut total, mut most) = (0, 0);
    for _ in 0..1_000_000 {
        let (n, ev) = jit.run(0, &mut m.cpu, &mut m.bus, slice);
        total += n;
        most = most.max(n);
        if ev != StepEvent::Budget {
            return (total, ev, most);
        }
    }
    panic!("program did not end");
}

#[test]
fn budget_slices_add_up_to_one_long_run() {
    let m = mixed_program();
    let mut i = m.clone();
    let want = i.cpu.run(&mut i.bus, BUDGET);
    assert_eq!(want.1, StepEvent::FirmwareCall);
    for slice in [1, 2, 3, 4, 5, 7, 11, 16, 64, 1000] {
        let mut jit = new_jit();
        let mut j = m.clone();
        let (total, ev, _) = run_sliced(&mut jit, &mut j, slice);
        let d = i.diff(&j);
        assert!(
            d.is_empty() && (total, &ev) == (want.0, &want.1),
            "slices of {slice}: retired {total} ({ev:?}), interpreter {want:?}\n  {}",
            d.join("\n  ")
        );
    }
}

#[test]
fn budget_is_never_exceeded() {
    // `Jit::run` promises `Cpu::run`'s contract: up to `budget`
    // instructions (single-stepping relies on a budget of 1).
    let m = mixed_program();
    for slice in [1, 2, 3, 5, 16] {
        let mut jit = new_jit();
        let mut j = m.clone();
        let (_, _, most) = run_sliced(&mut jit, &mut j, slice);
        assert!(most <= slice, "a run with budget {slice} retired {most}");
    }
}

#[test]
fn fp_instructions_mixed_in() {
    use asm::*;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.i(movz(X, 9, 40, 0)).i(movz(X, 1, 3, 0)).i(scvtf(10, 1));
    a.label("loop")
        .i(scvtf(0, 9))
        .i(fp2(0, 1, 0, 0))
        .i(fp2(2, 2, 2, 1))
        .i(fp2(1, 3, 2, 10))
        .i(fsqrt(4, 3))
        .i(fcvtzs(5, 4))
        .i(add(X, 6, 6, 5))
        .i(fcmp(0, 4))
        .i(csinc(X, 7, 7, 7, cond::GT))
        .b_cond(cond::MI, "skip")
        .i(add_imm(X, 8, 8, 1))
        .label("skip")
        .i(ldst_d(false, 3, 19, 0x10))
        .i(ldst_d(true, 11, 19, 0x10))
        .i(add_2d(12, 12, 11))
        .i(fmov_from_d(13, 12))
        .i(subs_imm(X, 9, 9, 1))
        .b_cond(cond::NE, "loop");
    // Round towards zero from here, and read the sticky flags.
    a.mov64(2, 3 << 22)
        .i(msr(sysreg::FPCR, 2))
        .i(fp2(1, 14, 10, 0))
        .i(mrs(15, sysreg::FPSR));
    epilogue(&mut a);
    let b = run_both(&Machine::from_asm(&a), BUDGET);
    assert_completed(&b);
    assert!(b.stats.interp_calls > 0);
}

/// Operand triples at the edges of the host-FPU shortcut's conditions, as
/// double and single bit patterns: ordinary values, tiny, overflowing,
/// cancelling, underflowing-to-zero and exactly-minimal results, denormal, infinite, quiet and
/// signalling NaN operands, zeros of both signs.
fn fp_edge_rows() -> ([[u64; 3]; 16], [[u64; 3]; 16]) {
    let d = |x: f64| x.to_bits();
    let dmin = f64::MIN_POSITIVE;
    let double_rows: [[u64; 3]; 16] = [
        [d(1.5), d(2.25), d(0.1)],
        // The product underflows to zero (not exact: UFC and IXC).
        [d(1e-200), d(1e-300), d(1e-150)],
        [d(dmin * 1.5), d(0.5), d(-dmin)],
        [d(1e308), d(10.0), d(-1e308)],
        [d(1.0), d(1.0), d(-1.0)],
        [1, d(1.0), d(2.0)],
        // Zeros of both signs two apart: the same lane of two windows.
        [d(f64::INFINITY), d(2.0), d(0.0)],
        [0x7ff8_0000_0000_1234, d(-0.0), d(2.0)],
        [0x7ff0_0000_0000_0042, d(1.0), d(3.0)],
        [d(-4.0), d(0.0), d(1.0)],
        [d(3.0), d(f64::INFINITY), d(1.0)],
        [d(0.1), d(0.2), d(0.3)],
        [d(dmin), d(1.0), d(dmin)],
        [d(1.0 + f64::EPSILON), d(1.0 - f64::EPSILON / 2.0), d(-1.0)],
        [d(dmin * 2.0), d(0.5), d(-dmin)],
        [d(-0.0), d(5.0), d(-0.0)],
    ];
    let f = |x: f32| u64::from(x.to_bits());
    let fmin = f32::MIN_POSITIVE;
    let single_rows: [[u64; 3]; 16] = [
        [f(1.5), f(2.25), f(0.1)],
        [f(1e-20), f(1e-30), f(3.0)],
        [f(fmin * 1.5), f(0.5), f(-fmin)],
        [f(1e38), f(10.0), f(-1e38)],
        [f(1.0), f(1.0), f(-1.0)],
        [1, f(1.0), f(2.0)],
        [f(f32::INFINITY), f(2.0), f(1.0)],
        [0x7fc0_1234, f(1.0), f(2.0)],
        [0x7f80_0042, f(1.0), f(3.0)],
        [f(-4.0), f(0.0), f(1.0)],
        [f(3.0), f(f32::INFINITY), f(-0.0)],
        [f(0.1), f(0.2), f(0.3)],
        [f(fmin), f(1.0), f(fmin)],
        [f(1.0 + f32::EPSILON), f(1.0 - f32::EPSILON / 2.0), f(-1.0)],
        [f(fmin * 2.0), f(0.5), f(-fmin)],
        [f(-0.0), f(5.0), f(-0.0)],
    ];
    (double_rows, single_rows)
}

/// Ends `a` and runs it on both engines with the edge rows
/// (`fp_edge_rows`) at `DATA` (double) and `DATA + 0x400` (single), one
/// value per 8 bytes; the run must complete.
fn run_on_edge_rows(mut a: Asm) -> Both {
    let (double_rows, single_rows) = fp_edge_rows();
    epilogue(&mut a);
    let mut m = Machine::from_asm(&a);
    m.write_u64s(DATA, &double_rows.concat());
    m.write_u64s(DATA + 0x400, &single_rows.concat());
    let b = run_both(&m, BUDGET);
    assert_completed(&b);
    b
}

/// The inline host-FPU path (`backend::x64::native_fp`) and its fallback
/// against the interpreter's soft-float: every lowered scalar operation
/// (arithmetic, FMA, FCMP, FMAX/FMIN(NM), FCVT between single and double, SCVTF, FCVTZS), single and double, on operands at the edges of the shortcut's
/// conditions (tiny, overflowing and exactly-zero results; NaN, infinity
/// and denormal operands), under FPCR values that forbid it (FZ, directed
/// rounding) or do not matter (DN), with FPSR.IXC clear (set part way by
/// the first inexact result) and set. Every result and the FPSR after each
/// configuration are stored and compared.
#[test]
fn native_fp_path_at_its_edges() {
    use asm::*;
    const OUT: u64 = DATA + 0x1000;
    // Operations on (n = 1, m = 2, a = 3) into d4, or into x5 (`true`);
    // the single-precision form clears the type bit (22) of the double
    // encoding (`sized`), except for FMOV, which moves raw bits.
    let arith = |w: u32| (w, false, true);
    let ops: [(u32, bool, bool); 26] = [
        arith(0x1e60_2800 | 2 << 16 | 1 << 5 | 4),           // fadd
        arith(0x1e60_3800 | 2 << 16 | 1 << 5 | 4),           // fsub
        arith(0x1e60_0800 | 2 << 16 | 1 << 5 | 4),           // fmul
        arith(0x1e60_1800 | 2 << 16 | 1 << 5 | 4),           // fdiv
        arith(0x1e60_8800 | 2 << 16 | 1 << 5 | 4),           // fnmul
        arith(0x5e60_dc00 | 2 << 16 | 1 << 5 | 4),           // fmulx
        arith(0x7ee0_d400 | 2 << 16 | 1 << 5 | 4),           // fabd
        arith(0x1e61_c000 | 1 << 5 | 4),                     // fsqrt
        arith(0x1f40_0000 | 2 << 16 | 3 << 10 | 1 << 5 | 4), // fmadd
        arith(0x1f40_8000 | 2 << 16 | 3 << 10 | 1 << 5 | 4), // fmsub
        arith(0x1f60_0000 | 2 << 16 | 3 << 10 | 1 << 5 | 4), // fnmadd
        arith(0x1f60_8000 | 2 << 16 | 3 << 10 | 1 << 5 | 4), // fnmsub
        arith(0x1e60_4800 | 2 << 16 | 1 << 5 | 4),           // fmax
        arith(0x1e60_5800 | 2 << 16 | 1 << 5 | 4),           // fmin
        (0x1e22_c000 | 1 << 5 | 4, false, false),            // fcvt d4, s1
        (0x1e62_4000 | 1 << 5 | 4, false, false),            // fcvt s4, d1
        arith(0x1e60_6800 | 2 << 16 | 1 << 5 | 4),           // fmaxnm
        arith(0x1e60_7800 | 2 << 16 | 1 << 5 | 4),           // fminnm
        (0x1e60_2000 | 2 << 16 | 1 << 5, false, true),       // fcmp d1, d2
        (mrs(5, sysreg::NZCV), true, false),
        (0x9e78_0000 | 1 << 5 | 5, true, true),            // fcvtzs x5, d1
        (0x1e78_0000 | 1 << 5 | 5, true, true),            // fcvtzs w5, d1
        (0x9e66_0000 | 1 << 5 | 5, false, false),          // fmov x5, d1 (raw bits as an integer)
        arith(0x9e62_0000 | 5 << 5 | 4),                   // scvtf d4, x5
        arith(0x1e62_0000 | 5 << 5 | 4),                   // scvtf d4, w5
        (0x1e60_3800 | 2 << 16 | 1 << 5 | 4, false, true), // fsub (d4 for the next row's store)
    ];
    let str_d_post = |rt: u32, rn: u32| 0xfc00_8400 | rn << 5 | rt; // str dt, [xn], #8
    let str_x_post = |rt: u32, rn: u32| 0xf800_8400 | rn << 5 | rt; // str xt, [xn], #8
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.mov64(21, OUT);
    let mut loop_no = 0;
    for fpcr in [0u64, 1 << 24, 1 << 22, 1 << 25] {
        for fpsr in [0u64, 0x10] {
            a.mov64(2, fpcr)
                .i(msr(sysreg::FPCR, 2))
                .mov64(2, fpsr)
                .i(msr(sysreg::FPSR, 2));
            for (single, table) in [(false, DATA), (true, DATA + 0x400)] {
                let label = format!("rows{loop_no}");
                loop_no += 1;
                a.mov64(22, table).mov64(9, 16).label(&label);
                for (k, rt) in [1, 2, 3].into_iter().enumerate() {
                    // ldr dt / ldr st, [x22, #8k]
                    let w = if single {
                        0xbd40_0000 | (2 * k as u32) << 10 | 22 << 5 | rt
                    } else {
                        0xfd40_0000 | (k as u32) << 10 | 22 << 5 | rt
                    };
                    a.i(w);
                }
                for (op, to_x, sized) in ops {
                    a.i(if single && sized { op & !(1 << 22) } else { op });
                    a.i(if to_x { str_x_post(5, 21) } else { str_d_post(4, 21) });
                }
                a.i(add_imm(X, 22, 22, 24))
                    .i(subs_imm(X, 9, 9, 1))
                    .b_cond(cond::NE, &label);
            }
            a.i(mrs(3, sysreg::FPSR)).i(str_x_post(3, 21));
        }
    }
    let b = run_on_edge_rows(a);
    // Both paths ran: of the FP operations (all but MRS and FMOV), those
    // under FZ or directed rounding (half) and at the edge rows need the
    // helper; at least an eighth of all (the ordinary rows under RN) must
    // have stayed inline.
    let ops_run = 8 * 2 * 16 * (ops.len() as u64 - 2);
    assert!(b.stats.helper_calls >= ops_run / 2, "{:?}", b.stats);
    assert!(b.stats.helper_calls <= ops_run - ops_run / 8, "{:?}", b.stats);
}

/// FCVT between double and single (`native_fp`'s conversions) on values
/// that round, overflow, underflow to a denormal or to zero, sit at the
/// single range's ends, or are NaNs, infinities and zeros, under each
/// FPCR and with FPSR.IXC clear and set: the result and the FPSR after
/// every conversion (FPSR reset before each: the flags are sticky).
#[test]
fn fp_conversions_between_sizes_at_their_edges() {
    use asm::*;
    const OUT: u64 = DATA + 0x1000;
    let (double_rows, _) = fp_edge_rows();
    let mut values: Vec<u64> = double_rows.concat();
    values.extend(
        [
            1e39,
            -1e39,
            1e-39,
            1e-50,
            -1e-50,
            f64::from(f32::MAX),
            f64::from(f32::MIN_POSITIVE),
            0.1,
            1.5,
        ]
        .map(f64::to_bits),
    );
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.mov64(21, OUT);
    for (k, fpcr) in [0u64, 1 << 24, 1 << 22, 1 << 25].into_iter().enumerate() {
        for fpsr in [0u64, 0x10] {
            let label = format!("values{k}_{fpsr}");
            a.mov64(2, fpcr)
                .i(msr(sysreg::FPCR, 2))
                .mov64(10, fpsr)
                .mov64(22, DATA)
                .mov64(9, values.len() as u64)
                .label(&label)
                .i(0xfc40_8441 | 22 << 5) // ldr d1, [x22], #8
                .i(msr(sysreg::FPSR, 10))
                .i(0x1e62_4000 | 1 << 5 | 4) // fcvt s4, d1
                .i(0xfc00_8400 | 21 << 5 | 4) // str d4, [x21], #8
                .i(mrs(3, sysreg::FPSR))
                .i(0xf800_8400 | 21 << 5 | 3) // str x3, [x21], #8
                .i(msr(sysreg::FPSR, 10))
                .i(0x1e22_c000 | 4 << 5 | 5) // fcvt d5, s4
                .i(0xfc00_8400 | 21 << 5 | 5) // str d5, [x21], #8
                .i(mrs(3, sysreg::FPSR))
                .i(0xf800_8400 | 21 << 5 | 3) // str x3, [x21], #8
                .i(subs_imm(X, 9, 9, 1))
                .b_cond(cond::NE, &label);
        }
    }
    epilogue(&mut a);
    let mut m = Machine::from_asm(&a);
    m.write_u64s(DATA, &values);
    let b = run_both(&m, BUDGET);
    assert_completed(&b);
}

/// Scalar FCMEQ/FCMGE/FCMGT (`native_fp`'s compares to a mask), double
/// and single, on the operand pairs of the edge rows (NaNs, infinities,
/// zeros of both signs, denormals, equal values), under each
/// FPCR and with FPSR.IXC clear and set: the mask and the FPSR after every
/// compare (reset before each: the flags are sticky).
#[test]
fn fp_scalar_compares_at_their_edges() {
    use asm::*;
    const OUT: u64 = DATA + 0x1000;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.mov64(21, OUT);
    for (k, fpcr) in [0u64, 1 << 24, 1 << 25].into_iter().enumerate() {
        for fpsr in [0u64, 0x10] {
            for (single, table) in [(false, DATA), (true, DATA + 0x400)] {
                let label = format!("pairs{k}_{fpsr}_{single}");
                let ty = if single { 0 } else { 1 << 22 };
                let ldr = |rt: u32| {
                    if single {
                        0xbd40_0000 | 22 << 5 | rt
                    } else {
                        0xfd40_0000 | 22 << 5 | rt
                    }
                };
                a.mov64(2, fpcr)
                    .i(msr(sysreg::FPCR, 2))
                    .mov64(10, fpsr)
                    .mov64(22, table)
                    .mov64(9, 16)
                    .label(&label)
                    .i(ldr(1))
                    // The second value, 8 bytes on (the immediate scales by the size).
                    .i(ldr(2) | if single { 2 } else { 1 } << 10);
                for op in [0x5e20_e400u32, 0x7e20_e400, 0x7ea0_e400] {
                    a.i(msr(sysreg::FPSR, 10))
                        .i(op | ty | 2 << 16 | 1 << 5 | 4) // d4/s4 = cmp(1, 2)
                        .i(0xfc00_8400 | 21 << 5 | 4) // str d4, [x21], #8
                        .i(mrs(3, sysreg::FPSR))
                        .i(0xf800_8400 | 21 << 5 | 3); // str x3, [x21], #8
                }
                a.i(add_imm(X, 22, 22, 24))
                    .i(subs_imm(X, 9, 9, 1))
                    .b_cond(cond::NE, &label);
            }
        }
    }
    run_on_edge_rows(a);
}

/// The packed lowering of vector FP (`backend::x64::packed_fp`) against the
/// interpreter (`packed_fp_edges`): .2d/.4s/.2s arithmetic, FMLA/FMLS
/// (also by element), FSQRT/FNEG/FABS/FABD/FMULX.
#[test]
fn packed_fp_path_at_its_edges() {
    let r = |w: u32| w | 2 << 16 | 1 << 5 | 4;
    let r1 = |w: u32| w | 1 << 5 | 4;
    let ops = [
        r(0x4e60_d400),  // fadd .2d
        r(0x4e20_d400),  // fadd .4s
        r(0x4ee0_d400),  // fsub .2d
        r(0x4ea0_d400),  // fsub .4s
        r(0x6e60_dc00),  // fmul .2d
        r(0x6e20_dc00),  // fmul .4s
        r(0x6e60_fc00),  // fdiv .2d
        r(0x6e20_fc00),  // fdiv .4s
        r(0x4e60_cc00),  // fmla .2d
        r(0x4e20_cc00),  // fmla .4s
        r(0x4ee0_cc00),  // fmls .2d
        r(0x4ea0_cc00),  // fmls .4s
        r(0x6ee0_d400),  // fabd .2d
        r(0x6ea0_d400),  // fabd .4s
        r1(0x6ee1_f800), // fsqrt .2d
        r1(0x6ea1_f800), // fsqrt .4s
        r1(0x6ee0_f800), // fneg .2d
        r1(0x6ea0_f800), // fneg .4s
        r1(0x4ee0_f800), // fabs .2d
        r1(0x4ea0_f800), // fabs .4s
        r(0x4e60_dc00),  // fmulx .2d
        r(0x4e20_dc00),  // fmulx .4s
        r(0x4fa0_1000),  // fmla .4s, v2.s[1]
        r(0x4fc0_1800),  // fmla .2d, v2.d[1]
        r(0x0e20_d400),  // fadd .2s
        r(0x0f80_1800),  // fmla .2s, v2.s[2]
        r(0x4e20_fc00),  // frecps .4s
        r(0x4ea0_fc00),  // frsqrts .4s
        r(0x4e60_fc00),  // frecps .2d
        r(0x4ee0_fc00),  // frsqrts .2d
        r(0x0e20_fc00),  // frecps .2s
    ];
    packed_fp_edges(&ops);
}

/// The packed lowering of vector FMAX/FMIN(NM) (exact: no IXC needed; a
/// NaN or equal pair of lanes goes to the helper), of the compares
/// FCMEQ/FCMGE/FCMGT/FACGE/FACGT (a NaN lane goes to the helper) and
/// single-precision
/// FCVTZS/SCVTF (the host's "integer indefinite" goes to the helper) at
/// the same edges, with the ordinary arithmetic of the test above.
#[test]
fn packed_fp_conversions_and_min_max_at_their_edges() {
    let r = |w: u32| w | 2 << 16 | 1 << 5 | 4;
    let r1 = |w: u32| w | 1 << 5 | 4;
    packed_fp_edges(&[
        r(0x4e20_f400),  // fmax .4s
        r(0x4ea0_f400),  // fmin .4s
        r(0x4e20_c400),  // fmaxnm .4s
        r(0x4ea0_c400),  // fminnm .4s
        r(0x4e60_f400),  // fmax .2d
        r(0x4ee0_c400),  // fminnm .2d
        r(0x0e20_c400),  // fmaxnm .2s
        r(0x4e20_e400),  // fcmeq .4s
        r(0x6e20_e400),  // fcmge .4s
        r(0x6ea0_e400),  // fcmgt .4s
        r(0x6e20_ec00),  // facge .4s
        r(0x6ea0_ec00),  // facgt .4s
        r(0x4e60_e400),  // fcmeq .2d
        r(0x6ee0_ec00),  // facgt .2d
        r(0x2ea0_e400),  // fcmgt .2s
        r1(0x4ea1_b800), // fcvtzs .4s
        r1(0x4e21_d800), // scvtf .4s
        r1(0x0ea1_b800), // fcvtzs .2s
        r1(0x4ee1_b800), // fcvtzs .2d (the helper)
        r(0x4e20_d400),  // fadd .4s
    ]);
}

/// The packed FRINT and integer conversions with SSE4.1 (every rounding
/// but ties away, which stays on the helper; out-of-range integers
/// saturating inline with Invalid Operation; fixed point) at the same
/// edges.
#[test]
fn packed_fp_rounding_and_integer_conversions_at_their_edges() {
    let r1 = |w: u32| (w - 0x20) | 1 << 5 | 4;
    packed_fp_edges(&[
        r1(0x4e21_8820), // frintn .4s
        r1(0x4e21_9820), // frintm .4s
        r1(0x4ea1_8820), // frintp .4s
        r1(0x4ea1_9820), // frintz .4s
        r1(0x6e21_8820), // frinta .4s (the helper)
        r1(0x6e21_9820), // frintx .4s
        r1(0x6ea1_9820), // frinti .4s
        r1(0x4e61_8820), // frintn .2d
        r1(0x6e61_9820), // frintx .2d
        r1(0x0e21_9820), // frintm .2s
        r1(0x4e21_a820), // fcvtns .4s
        r1(0x4e21_b820), // fcvtms .4s
        r1(0x4ea1_a820), // fcvtps .4s
        r1(0x6e21_a820), // fcvtnu .4s
        r1(0x6e21_b820), // fcvtmu .4s
        r1(0x6ea1_a820), // fcvtpu .4s
        r1(0x6ea1_b820), // fcvtzu .4s
        r1(0x4e21_c820), // fcvtas .4s (the helper)
        r1(0x2ea1_b820), // fcvtzu .2s
        r1(0x6e21_d820), // ucvtf .4s
        r1(0x4f36_fc20), // fcvtzs .4s, #10
        r1(0x6f3d_fc20), // fcvtzu .4s, #3
        r1(0x4f30_e420), // scvtf .4s, #16
        r1(0x6f3f_e420), // ucvtf .4s, #1
        r1(0x2f20_e420), // ucvtf .2s, #32
    ]);
}

/// Runs each of `ops` (on v1, v2, v3 into v4) over windows sliding along
/// the edge operands (`fp_edge_rows`, so lanes mix ordinary and special
/// values) under FZ and IXC on and off, storing every result and the FPSR
/// after each operation (reset after each: the flags are sticky, and a
/// missing one would hide behind an earlier), and compares the JIT's run
/// with the interpreter's. Both paths must have run: the helper for at
/// least a quarter of the operations (FZ never stays packed) and at most
/// seven eighths (ordinary windows under RN with IXC set stay packed).
fn packed_fp_edges(ops: &[u32]) {
    use asm::*;
    const OUT: u64 = DATA + 0x1000;
    let (double_rows, single_rows) = fp_edge_rows();
    let mut table: Vec<u64> = double_rows.concat();
    table.truncate(24);
    let singles: Vec<u64> = single_rows.concat();
    table.extend(
        singles
            .chunks(2)
            .take(24)
            .map(|p| p[0] | p.get(1).copied().unwrap_or(0) << 32),
    );
    let str_q_post = |rt: u32, rn: u32| 0x3c81_0400 | rn << 5 | rt; // str qt, [xn], #16
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    // Results from OUT, each operation's FPSR after them.
    a.mov64(21, OUT).mov64(23, OUT + 0x8400);
    let mut loop_no = 0;
    for fpcr in [0u64, 1 << 24] {
        for fpsr in [0u64, 0x10] {
            a.mov64(2, fpcr)
                .i(msr(sysreg::FPCR, 2))
                .mov64(10, fpsr)
                .i(msr(sysreg::FPSR, 10));
            let label = format!("windows{loop_no}");
            loop_no += 1;
            a.mov64(22, DATA).mov64(9, 20).label(&label);
            for (k, rt) in [1, 2, 3].into_iter().enumerate() {
                a.i(0x3dc0_0000 | (k as u32) << 10 | 22 << 5 | rt); // ldr qt, [x22, #16k]
            }
            // Each operation's flags, then FPSR as configured again (the
            // flags are sticky: a missing one would hide behind an earlier).
            for &op in ops {
                a.i(op)
                    .i(str_q_post(4, 21))
                    .i(mrs(3, sysreg::FPSR))
                    .i(0xf800_8400 | 23 << 5 | 3) // str x3, [x23], #8
                    .i(msr(sysreg::FPSR, 10));
            }
            a.i(add_imm(X, 22, 22, 16))
                .i(subs_imm(X, 9, 9, 1))
                .b_cond(cond::NE, &label);
            a.i(mrs(3, sysreg::FPSR)).i(0xf801_0400 | 21 << 5 | 3); // str x3, [x21], #16
        }
    }
    epilogue(&mut a);
    let mut m = Machine::from_asm(&a);
    m.write_u64s(DATA, &table);
    let b = run_both(&m, BUDGET);
    assert_completed(&b);
    // Both the packed path and the lane-by-lane helper ran: FNEG/FABS and
    // the ordinary windows under RN with IXC stay packed, FZ never does.
    let fp_ops = 4 * 20 * ops.len() as u64;
    assert!(b.stats.helper_calls >= fp_ops / 4, "{:?}", b.stats);
    assert!(b.stats.helper_calls <= fp_ops - fp_ops / 8, "{:?}", b.stats);
}

#[test]
fn exclusive_increment_loop() {
    use asm::*;
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.i(movz(X, 9, 30, 0));
    a.label("loop")
        .label("retry")
        .i(ldxr(X, 1, 19))
        .i(add_imm(X, 1, 1, 3))
        .i(stxr(X, 2, 1, 19))
        .cbnz(W, 2, "retry")
        .i(subs_imm(X, 9, 9, 1))
        .b_cond(cond::NE, "loop");
    epilogue(&mut a);
    let b = run_both(&Machine::from_asm(&a), BUDGET);
    assert_completed(&b);
}

#[test]
fn wfi_and_hvc_stop_like_the_interpreter() {
    use asm::*;
    let mut a = Asm::new(CODE);
    a.i(movz(X, 0, 1, 0))
        .i(WFI)
        .i(add_imm(X, 0, 0, 1))
        .i(adds(X, 1, 0, 0))
        .i(hvc(5))
        .i(add_imm(X, 0, 0, 1))
        .i(WFI)
        .i(WFI)
        .b("next")
        .label("next")
        .i(hvc(0));
    let m = Machine::from_asm(&a);
    let mut jit = new_jit();
    let (mut i, mut j) = (m.clone(), m.clone());
    let mut events = Vec::new();
    for _ in 0..5 {
        let want = i.cpu.run(&mut i.bus, BUDGET);
        let got = jit.run(0, &mut j.cpu, &mut j.bus, BUDGET);
        compare("", &m, &i, &j, &want, &got);
        events.push(want.1);
    }
    use StepEvent::*;
    assert_eq!(
        events,
        [
            WaitForInterrupt,
            FirmwareCall,
            WaitForInterrupt,
            WaitForInterrupt,
            FirmwareCall
        ]
    );
}

#[test]
fn a_tiny_code_cache_is_flushed_and_refilled() {
    use asm::*;
    // Many short blocks visited repeatedly through a 64 KiB cache.
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.i(movz(X, 9, 3, 0)).label("round");
    for k in 0..1500 {
        a.i(add_imm(X, k % 8, (k + 3) % 8, k % 4096))
            .i(ldst(Ls::StrX, k % 8, 19, 8 * (k % 64)))
            .b(&format!("n{k}"))
            .label(&format!("n{k}"));
    }
    a.i(subs_imm(X, 9, 9, 1)).b_cond(cond::NE, "round");
    epilogue(&mut a);
    let m = Machine::from_asm(&a);
    let mut jit = Jit::new(JitConfig {
        cache_size: 64 << 10,
        hot_threshold: 0,
        ..JitConfig::default()
    })
    .expect("JIT");
    let b = run_both_with(&mut jit, &m, BUDGET);
    assert_completed(&b);
    assert!(b.stats.flushes > 0, "{:?}", b.stats);
}

#[test]
fn one_engine_for_machines_with_different_buses() {
    use asm::*;
    // The same engine runs a fresh machine (new core, new bus) after
    // another: translations and fast-path entries of the first must not
    // leak into the second.
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    a.i(ldst(Ls::LdrX, 1, 19, 0))
        .i(add_imm(X, 1, 1, 1))
        .i(ldst(Ls::StrX, 1, 19, 0));
    epilogue(&mut a);
    let mut jit = new_jit();
    let mut keep = Vec::new();
    for v in [10u64, 20, 30] {
        let mut m = Machine::from_asm(&a);
        m.write_u64s(DATA, &[v]);
        jit.flush();
        let b = run_both_with(&mut jit, &m, BUDGET);
        assert_eq!(b.interp.read_u64(DATA), v + 1);
        keep.push(b); // keep every bus alive: a stale entry reads it, not freed memory
    }
}

#[test]
fn ram_without_host_pages_uses_the_slow_path_only() {
    let mut m = mixed_program();
    m.bus.hand_out_pages = false;
    let b = run_both(&m, BUDGET);
    assert_completed(&b);
    assert_eq!(b.stats.tlb_fills, 0);
}

// ---------------------------------------------------------------------------
// Random programs

/// Registers random snippets compute with (X0-X9); X19 = DATA, X20 = MMIO,
/// X21-X24 scratch addresses, X26-X30 belong to the handler and calls.
const REGS: u32 = 10;

struct Gen<'a> {
    rng: Rng,
    a: &'a mut Asm,
    labels: u32,
    /// Functions to append after the main body: (label, words).
    funcs: Vec<(String, Vec<u32>)>,
}

impl Gen<'_> {
    fn reg(&mut self) -> u32 {
        self.rng.below(u64::from(REGS)) as u32
    }
    fn label(&mut self) -> String {
        self.labels += 1;
        format!("g{}", self.labels)
    }
    fn alu(&mut self) -> u32 {
        use asm::*;
        let (d, n, m) = (self.reg(), self.reg(), self.reg());
        let x = self.rng.below(3) != 0;
        let bits: u64 = if x { 64 } else { 32 };
        let sh = self.rng.below(bits) as u32;
        match self.rng.below(20) {
            0 => add_imm(x, d, n, self.rng.below(4096) as u32),
            1 => subs_imm(x, d, n, self.rng.below(4096) as u32),
            2 => addsub_reg(
                x,
                self.rng.one_in(2),
                self.rng.one_in(2),
                d,
                n,
                m,
                [Shift::Lsl, Shift::Lsr, Shift::Asr][self.rng.below(3) as usize],
                sh,
            ),
            3 => logical(
                x,
                self.rng.below(4) as u32,
                self.rng.one_in(2),
                d,
                n,
                m,
                [Shift::Lsl, Shift::Lsr, Shift::Asr, Shift::Ror][self.rng.below(4) as usize],
                sh,
            ),
            4 => adc(x, self.rng.one_in(2), self.rng.one_in(2), d, n, m),
            5 => ccmp(
                x,
                self.rng.one_in(2),
                n,
                m,
                self.rng.below(16) as u32,
                self.rng.below(16) as u32,
            ),
            6 => csel_kind(x, self.rng.below(4) as u32, d, n, m, self.rng.below(16) as u32),
            7 => madd(x, self.rng.one_in(2), d, n, m, self.reg()),
            8 => dp2(x, [2, 3, 8, 9, 10, 11][self.rng.below(6) as usize], d, n, m),
            9 => dp1(x, [0, 1, 2, 4, 5][self.rng.below(5) as usize], d, n),
            10 => lsl_imm(x, d, n, sh),
            11 => asr_imm(x, d, n, sh),
            12 => extr(x, d, n, m, sh),
            13 => movk(
                x,
                d,
                self.rng.below(0x1_0000) as u32,
                self.rng.below(if x { 4 } else { 2 }) as u32,
            ),
            14 => mulh(self.rng.one_in(2), d, n, m),
            15 => ccmp_imm(
                x,
                self.rng.one_in(2),
                n,
                self.rng.below(32) as u32,
                self.rng.below(16) as u32,
                self.rng.below(16) as u32,
            ),
            16 => adds(x, d, n, m),
            17 => ands(x, d, n, m),
            18 => bfm(x, self.rng.below(3) as u32, d, n, sh, self.rng.below(bits) as u32),
            _ => cmp(x, n, m),
        }
    }
    fn alus(&mut self, max: u64) {
        for _ in 0..1 + self.rng.below(max) {
            let w = self.alu();
            self.a.i(w);
        }
    }
    /// One aligned RAM access in the data area through X21.
    fn mem(&mut self) {
        use asm::*;
        let k = Ls::ALL[self.rng.below(13) as usize];
        let n = k.bytes();
        let off = self.rng.below(0x800 / u64::from(n)) as u32 * n;
        let rt = self.reg();
        match self.rng.below(5) {
            0 => {
                self.a.i(ldst(k, rt, 19, off));
            }
            1 => {
                self.a.mov64(21, DATA + 0x1000 + u64::from(off));
                self.a
                    .i(ldst_post(k, rt, 21, (self.rng.below(32) as i32 - 16) * n as i32));
            }
            2 => {
                self.a.mov64(21, DATA + 0x1000 + u64::from(off));
                self.a
                    .i(ldst_pre(k, rt, 21, (self.rng.below(32) as i32 - 16) * n as i32));
            }
            3 => {
                let p = [Pair::W, Pair::X, Pair::Sw][self.rng.below(3) as usize];
                let load = p == Pair::Sw || self.rng.one_in(2);
                let rt2 = (rt + 1 + self.rng.below(u64::from(REGS) - 1) as u32) % REGS;
                let scale = if p == Pair::X { 8 } else { 4 };
                self.a.mov64(21, DATA + 0x1000 + u64::from(off & !7));
                let idx = 1 + self.rng.below(3) as u32;
                self.a.i(ldstp(
                    p,
                    load,
                    idx,
                    rt,
                    rt2,
                    21,
                    (self.rng.below(16) as i32 - 8) * scale,
                ));
            }
            _ => {
                let rm = 22;
                self.a.mov64(rm, self.rng.below(0x100));
                self.a.i(ldst_reg(k, rt, 19, rm, 3, true));
            }
        }
    }
    fn snippet(&mut self, depth: u32) {
        use asm::*;
        match self.rng.below(12) {
            0..=2 => self.alus(6),
            3 => self.mem(),
            4 if depth < 2 => {
                // A counted loop (X23/X24 count, by depth).
                let l = self.label();
                let ctr = 23 + depth;
                self.a.i(movz(X, ctr, 1 + self.rng.below(12) as u32, 0)).label(&l);
                for _ in 0..1 + self.rng.below(3) {
                    self.snippet(depth + 1);
                }
                self.a.i(subs_imm(X, ctr, ctr, 1)).b_cond(cond::NE, &l);
            }
            5 => {
                // A forward conditional branch.
                let l = self.label();
                let (n, m) = (self.reg(), self.reg());
                let x = self.rng.one_in(2);
                self.a.i(cmp(x, n, m));
                match self.rng.below(3) {
                    0 => self.a.b_cond(self.rng.below(16) as u32, &l),
                    1 => self.a.cbz(x, n, &l),
                    _ => self.a.tbnz(n, self.rng.below(64) as u32, &l),
                };
                self.alus(3);
                self.a.label(&l);
            }
            6 => {
                // A call, direct or through a register.
                let l = self.label();
                let mut body = Vec::new();
                for _ in 0..1 + self.rng.below(4) {
                    body.push(self.alu());
                }
                body.push(asm::ret());
                self.funcs.push((l.clone(), body));
                if self.rng.one_in(2) {
                    self.a.bl(&l);
                } else {
                    self.a.adr(22, &l).i(blr(22));
                }
            }
            7 => {
                // MMIO: a store, sometimes a load.
                let r = self.reg();
                let off = 8 * self.rng.below(16) as u32;
                self.a.i(ldst(Ls::StrX, r, 20, off));
                if self.rng.one_in(2) {
                    self.a.i(ldst(Ls::LdrW, r, 20, off + 4));
                }
            }
            8 => {
                // FP through the interpreter.
                let (d, n) = (self.reg(), self.reg());
                self.a
                    .i(scvtf(1, n))
                    .i(fmov_to_d(2, d))
                    .i(fp2(self.rng.below(4) as u32, 3, 1, 2))
                    .i(fcmp(3, 1));
                self.a.i(fcvtzs(d, 3));
            }
            9 => {
                // Self-modifying: rewrite the immediate of a routine's ADD,
                // then call it.
                let l = self.label();
                let r = self.reg();
                self.funcs.push((l.clone(), vec![add_imm(X, r, r, 1), asm::ret()]));
                self.a.adr(22, &l);
                load_word(self.a, 21, add_imm(X, r, r, self.rng.below(4096) as u32));
                self.a.i(ldst(Ls::StrW, 21, 22, 0)).i(blr(22));
            }
            10 => {
                // A jump table over X(r) & 3.
                let r = self.reg();
                let t = self.label();
                let done = self.label();
                self.a
                    .adr(21, &t)
                    .i(and_low(22, r, 2))
                    .i(addsub_reg(X, false, false, 21, 21, 22, Shift::Lsl, 3))
                    .i(br(21));
                self.a.label(&t);
                for _ in 0..4 {
                    let w = self.alu();
                    self.a.i(w).b(&done);
                }
                self.a.label(&done);
            }
            _ => {
                let w = [
                    asm::NOP,
                    asm::svc(3),
                    asm::mrs(self.reg(), sysreg::NZCV),
                    asm::msr(sysreg::NZCV, self.reg()),
                ][self.rng.below(4) as usize];
                self.a.i(w);
            }
        }
    }
}

fn random_program(seed: u64) -> Machine {
    let mut rng = Rng::new(seed);
    let mut a = Asm::new(CODE);
    prologue(&mut a);
    for r in 0..REGS {
        let v = rng.edge();
        a.mov64(r, v);
    }
    let mut g = Gen {
        rng: Rng::new(seed ^ 0x5eed),
        a: &mut a,
        labels: 0,
        funcs: Vec::new(),
    };
    for _ in 0..4 + g.rng.below(12) {
        g.snippet(0);
    }
    // Sometimes end in a fault instead.
    if g.rng.one_in(8) {
        let r = g.reg();
        g.a.mov64(21, [UNMAPPED, DATA + 1, MMIO + 1][g.rng.below(3) as usize])
            .i(asm::ldst(Ls::LdrW, r, 21, 0));
    }
    let funcs = std::mem::take(&mut g.funcs);
    epilogue(&mut a);
    for (l, body) in funcs {
        a.label(&l).all(body);
    }
    let mut m = Machine::from_asm(&a);
    m.random_data(seed);
    m
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

#[test]
fn random_programs() {
    let n = env_u64("PREBOARD_JIT_PROGRAMS").unwrap_or(400);
    let seed = env_u64("PREBOARD_JIT_PROGRAMS_SEED").unwrap_or(0x00c0_ffee);
    // One engine and one pair of machines for all programs, as a machine
    // is reused after a reset; the code cache is flushed in between (the
    // RAM is rewritten behind the engine's back).
    let mut hot = new_jit();
    // A third of the programs start on the interpreter, as code that is not
    // hot yet does outside the tests, and are translated midway.
    let mut warming = jit_translating_after(2);
    let mut slices = Rng::new(seed ^ 1);
    let mut completed = 0;
    let only = env_u64("PREBOARD_JIT_PROGRAM");
    let (mut i, mut j) = (random_program(0), random_program(0));
    for k in 0..n {
        if only.is_some_and(|o| o != k) {
            continue;
        }
        let s = cpu_aarch64::testgen::case_seed(seed, k);
        let m = random_program(s);
        if only.is_some() {
            eprintln!("random program {k} (seed {s:#x}):\n{}", m.listing());
        }
        let jit = if k % 3 == 2 { &mut warming } else { &mut hot };
        jit.flush();
        // Load the program into the long-lived machines (the engine's
        // fast-path entries point into their RAM; see
        // `one_engine_for_machines_with_different_buses`).
        for x in [&mut i, &mut j] {
            x.cpu = m.cpu.clone();
            x.bus.ram.copy_from_slice(&m.bus.ram);
            x.bus.mmio.clear();
            x.program.clone_from(&m.program);
        }
        let want = i.cpu.run(&mut i.bus, BUDGET);
        // Half of the programs run in random budget slices.
        let got = if k % 2 == 0 {
            jit.run(0, &mut j.cpu, &mut j.bus, BUDGET)
        } else {
            let slice = 1 + slices.below(40);
            let (total, ev, _) = run_sliced(jit, &mut j, slice);
            (total, ev)
        };
        compare(&format!("random program {k} (seed {s:#x})"), &m, &i, &j, &want, &got);
        completed += usize::from(i.fault().is_none());
    }
    assert!(
        only.is_some() || n < 20 || completed as u64 > n / 2,
        "most random programs should complete: {completed} of {n}"
    );
}

/// Conditional selects of values computed in the same block, with the
/// condition read from incoming flags (a chain of `lsl`/`cinc`).
#[test]
fn conditional_select_chain_in_one_block() {
    use asm::*;
    for nzcv in [0x0u32, 0x6, 0x9, 0xf] {
        let mut a = Asm::new(CODE);
        a.i(movz(X, 6, 0, 0));
        for c in 0..16 {
            a.i(lsl_imm(X, 6, 6, 1)).i(csinc(X, 6, 6, 6, c));
        }
        a.i(csel(X, 7, 6, 0, cond::EQ)).i(csel(W, 8, 0, 6, cond::CS));
        epilogue(&mut a);
        let mut m = Machine::from_asm(&a);
        m.cpu.pstate.nzcv = nzcv << 28;
        m.cpu.x[0] = 0x1234_5678_9abc_def0;
        run_named(&m, &format!("NZCV {nzcv:#x}"));
    }
}

/// Straight-line blocks that keep more values live at once than the
/// backend has host registers (18 guest registers loaded from memory, then
/// long chains of operations mixing old and new values): the allocator
/// moves some values to spill slots for their whole life, and none may
/// share a slot or register with another while both are live.
#[test]
fn more_live_values_than_host_registers() {
    use asm::*;
    const N: u32 = 18;
    let mut rng = Rng::new(0x5b111);
    for round in 0..24 {
        let mut a = Asm::new(CODE);
        prologue(&mut a);
        for r in 0..N {
            a.i(ldst(Ls::LdrX, r, 19, 8 * r));
        }
        // One block: the loads above, then these (under 64 instructions).
        for _ in 0..36 {
            let (d, n, m) = (
                rng.below(u64::from(N)) as u32,
                rng.below(u64::from(N)) as u32,
                rng.below(u64::from(N)) as u32,
            );
            let w = match rng.below(5) {
                0 => add(X, d, n, m),
                1 => eor(X, d, n, m),
                2 => mul(X, d, n, m),
                3 => addsub_reg(X, true, false, d, n, m, Shift::Lsl, rng.below(64) as u32),
                _ => madd(X, false, d, n, m, rng.below(u64::from(N)) as u32),
            };
            a.i(w);
        }
        epilogue(&mut a);
        let mut m = Machine::from_asm(&a);
        m.random_data(round);
        let b = run_named(&m, &format!("round {round}"));
        assert_completed(&b);
    }
}
