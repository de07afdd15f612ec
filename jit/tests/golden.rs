//! Golden tests of the code the JIT emits for a handful of representative
//! blocks: `jit::block_listing` (guest disassembly, optimised IR, host
//! disassembly) compared with `tests/golden/<name>.txt`, so a codegen
//! change shows up in review as a diff of those files.
//!
//! Regenerate them after an intended change with
//!
//! ```text
//! PREBOARD_BLESS=1 cargo test -p jit --test golden
//! ```
//!
//! and review the diff. On a host without a JIT backend the tests pass
//! without comparing anything.

mod support;

use jit::ir::Mode;
use std::path::PathBuf;
use support::asm::{self, Asm};

/// Guest address of every block (its page matters for nothing here).
const PC: u64 = 0x4008_0000;

/// EL1 with SP_EL1 and SIMD&FP enabled, as firmware and kernels run.
const EL1: Mode = Mode {
    el: 1,
    sp: true,
    fp: true,
    ctr: true,
    cmo: true,
};

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.txt"))
}

/// A line diff (longest common subsequence), `-` for expected and `+`
/// for actual lines, with two lines of context around each change.
fn diff(want: &str, got: &str) -> String {
    let a: Vec<&str> = want.lines().collect();
    let b: Vec<&str> = got.lines().collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            ops.push(('+', b[j]));
            j += 1;
        } else {
            ops.push(('-', a[i]));
            i += 1;
        }
    }
    let near = |k: usize| {
        let lo = k.saturating_sub(2);
        let hi = (k + 3).min(ops.len());
        ops[lo..hi].iter().any(|o| o.0 != ' ')
    };
    let mut out = String::new();
    let mut skipped = false;
    for (k, (c, line)) in ops.iter().enumerate() {
        if near(k) {
            if skipped {
                out += "@@\n";
                skipped = false;
            }
            out += &format!("{c}{line}\n");
        } else {
            skipped = true;
        }
    }
    out
}

/// Compares the listing of `words` with the golden file `name`, or
/// rewrites the file when `PREBOARD_BLESS=1`.
fn check(name: &str, words: &[u32]) {
    let Some(got) = jit::block_listing(words, PC, EL1) else {
        eprintln!("no JIT backend on this host: golden test {name} skipped");
        return;
    };
    let path = golden_path(name);
    if std::env::var("PREBOARD_BLESS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("golden dir")).expect("create tests/golden");
        std::fs::write(&path, &got).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "reading {}: {e}\n(run with PREBOARD_BLESS=1 to create it)",
            path.display()
        )
    });
    assert!(
        want == got,
        "the JIT's code for `{name}` changed ({}):\n{}\nIf intended, rerun with PREBOARD_BLESS=1 and review the diff.",
        path.display(),
        diff(&want, &got)
    );
}

fn block(f: impl FnOnce(&mut Asm)) -> Vec<u32> {
    let mut a = Asm::new(PC);
    f(&mut a);
    a.finish()
}

/// Integer ALU work with register caching and dead flags: only the last
/// flag-setting instruction's NZCV is live at the exit.
#[test]
fn alu_block() {
    use asm::*;
    check(
        "alu",
        &block(|a| {
            a.i(add_imm(X, 0, 1, 16))
                .i(addsub_reg(X, true, false, 2, 0, 3, Shift::Lsl, 4))
                .i(and(X, 4, 2, 0))
                .i(eor(W, 5, 4, 1))
                .i(lsl_imm(X, 6, 5, 3))
                .i(mul(X, 7, 6, 0))
                .i(madd(X, false, 8, 7, 1, 2))
                .i(adds(X, 9, 8, 0))
                .i(subs_imm(W, 10, 9, 1))
                .i(csel(X, 11, 9, 10, cond::HI))
                .i(udiv(X, 12, 11, 1))
                .i(ret());
        }),
    );
}

/// A compare and a conditional branch (backwards, and falling through):
/// the NZCV computation feeds the branch directly.
#[test]
fn compare_and_branch() {
    use asm::*;
    check(
        "cmp_branch",
        &block(|a| {
            a.i(cmp(X, 0, 1))
                .i(ccmp(X, false, 2, 3, 4, cond::GE))
                .i(b_cond_off(cond::LT, -0x40));
        }),
    );
}

/// Loads and stores of several sizes, a pair with writeback and an SP
/// based access (alignment check): the inline fast path and its slow
/// paths.
#[test]
fn load_store_block() {
    use asm::*;
    check(
        "load_store",
        &block(|a| {
            a.i(ldstp(Pair::X, false, 3, 29, 30, SP, -32))
                .i(ldst(Ls::LdrX, 1, 0, 8))
                .i(ldst(Ls::LdrsbW, 2, 0, 3))
                .i(add(X, 1, 1, 2))
                .i(ldst(Ls::StrW, 1, 0, 16))
                .i(ldst_post(Ls::Strh, 2, 0, 2))
                .i(ldp(X, 3, 4, 0, 32))
                .i(ldstp(Pair::X, true, 1, 29, 30, SP, 32))
                .i(ret());
        }),
    );
}

/// The body of a counted loop that branches back to itself (a chaining
/// candidate).
#[test]
fn loop_body() {
    use asm::*;
    check(
        "loop_body",
        &block(|a| {
            a.label("loop")
                .i(ldst_post(Ls::LdrX, 1, 0, 8))
                .i(add(X, 2, 2, 1))
                .i(subs_imm(X, 3, 3, 1))
                .b_cond(cond::NE, "loop");
        }),
    );
}

/// Scalar FP between native integer instructions: FADD inline on SSE
/// behind the host-FPU checks (helper call when they fail), SCVTF and
/// FCMP through the FP helper, FCMP's NZCV read by CSINC, and MRS FPSR
/// read inline from the system-register table.
#[test]
fn fp_scalar() {
    use asm::*;
    check(
        "fp_scalar",
        &block(|a| {
            a.i(add_imm(X, 0, 0, 1))
                .i(scvtf(0, 0))
                .i(fp2(2, 1, 0, 0))
                .i(fcmp(1, 0))
                .i(csinc(X, 1, ZR, ZR, cond::LE))
                .i(mrs(2, sysreg::FPSR))
                .i(ret());
        }),
    );
}

/// 128-bit work: FMLA by element (the element duplicated by a chain of
/// lane inserts built in xmm0 and stored once, then one packed FMA behind
/// the host-FPU checks, the helper when they fail),
/// EXT from 64-bit halves, and ORR (MOV) writing its V register directly.
#[test]
fn simd_by_element() {
    check(
        "simd_by_element",
        &block(|a| {
            // fmla v0.4s, v5.4s, v3.s[1]; ext v5.16b, v1.16b, v2.16b, #4;
            // mov v1.16b, v2.16b; ret
            a.i(0x4fa3_10a0).i(0x6e02_2025).i(0x4ea2_1c41).i(0xd65f_03c0);
        }),
    );
}

/// Scaled-register addressing: the shift folds into the address's `lea`
/// (no code of its own), then the inline TLB probe.
#[test]
fn scaled_index_load() {
    check(
        "scaled_index_load",
        &block(|a| {
            // ldr w0, [x3, x0, lsl #2]; ldr x1, [x2, w1, uxtw #3]; ret
            a.i(0xb860_7860).i(0xf861_5841).i(0xd65f_03c0);
        }),
    );
}

/// A B forward in the page is followed: the block from the loop body
/// goes on at the test the B leads to, whose conditional branch back to
/// the body makes it one looped block.
#[test]
fn loop_through_a_branch() {
    use asm::*;
    check(
        "loop_through_a_branch",
        &block(|a| {
            // body: add x1, x1, #1; add x0, x0, x1; b test; ret;
            // test: cmp x1, x9; b.lo body
            a.i(add_imm(X, 1, 1, 1))
                .i(add(X, 0, 0, 1))
                .i(b_off(false, 8))
                .i(ret())
                .i(cmp(X, 1, 9))
                .i(b_cond_off(cond::CC, -20));
        }),
    );
}
