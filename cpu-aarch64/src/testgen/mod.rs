//! Random instruction-sequence generation for differential testing
//! (behind the `testgen` cargo feature; the tests enable it).
//!
//! ```text
//!  isa::ROWS ──▶ Generator::case(seed) ──▶ Case { kind, words, initial state, window patches }
//!                  │ draws a row, random fields, keeps words that decode to
//!                  │ the row and that our semantics accept at EL0 (probed on
//!                  │ a scratch core), then makes them safe to run anywhere:
//!                  │ base/index registers set by movz/movk preludes so every
//!                  │ access lands aligned inside the data window, forward
//!                  │ branches only, literals inside the sequence
//!                  ▼
//!        ┌─────────┴──────────┐
//!  Runner::run (interpreter)   qemu::Harness (firmware/difftest under qemu-aarch64,
//!        │                    │  -cpu CaseKind::qemu_cpu())
//!        └──────▶ Outcome ◀───┘   compared: X0-X30, SP, NZCV, TPIDR_EL0,
//!                                 V0-V31, FPCR, FPSR, the data window,
//!                                 how the case ended
//! ```
//!
//! Two kinds of case ([`CaseKind`], chosen by the seed's low bit):
//! integer cases draw only `isa/10-int.isa` rows (general-register forms)
//! and run under QEMU's `cortex-a76`; FP/SIMD cases draw mostly the rows of
//! `20-fp`, `30-simd-int`, `31-simd-perm`, `32-simd-fp`, `40-crypto` and the
//! SIMD&FP forms (V = 1) of the general load/store rows, with some integer
//! rows in between, start from V registers full of special values
//! ([`Rng::vreg`]) and random FPCR/FPSR, may end in an encoding our
//! semantics reject (which QEMU must reject too), and run under
//! `cortex-a57`, whose FP/SIMD feature set (v8.0 with AES, SHA-1, SHA-256,
//! PMULL; no FP16, RDM or dot product) is exactly ours.
//!
//! Both sides see the same address space: the test page at [`TEST_PC`]
//! ([`Case::test_page`]: the words at [`Case::first_pc`] followed by
//! [`MARKER`] (`UDF #0xc0de`, whose SIGILL means "completed") and
//! [`TAIL`]); a 64 KiB data window at [`DATA_BASE`] holding [`background`]
//! plus the case's patches. Our core runs at EL0 with SCTLR_EL1 set up as
//! Linux sets it and FP/SIMD enabled (CPACR_EL1.FPEN = 0b11), so privilege
//! checks match user mode.
//!
//! Limitations (see firmware/README.md): data accesses are naturally
//! aligned (our MMU-off memory is Device memory, where unaligned accesses
//! fault but Linux user memory is Normal), the stack pointer used as a base
//! is 16-byte aligned (QEMU does not check SP alignment), FPCR's Len and
//! Stride bits are never set (QEMU keeps them for AArch32, our core has
//! none), floating-point exception traps are not enabled (neither side
//! implements them), and only EL0 behaviour is compared.

mod enc;
mod fpvals;
mod gen;
mod machine;
pub mod qemu;

pub use gen::{class_of, has_v_form, is_fp_simd_row, GenStats, Generator, KnownMismatch, RowClass};
pub use machine::Runner;

use std::fmt::{self, Write as _};

/// Start of the code mapping (two 4 KiB pages; the harness's trampoline
/// sits at the end of the first).
pub const CODE_BASE: u64 = 0x2000_0000;
/// Size of the code mapping.
pub const CODE_SIZE: u64 = 0x2000;
/// Where the harness's trampoline enters the test page. A case's words
/// start at `TEST_PC + Case::start`; when `start` is not zero, the word at
/// `TEST_PC` is a `B` to them (varying the PC bits ADR/ADRP see).
pub const TEST_PC: u64 = CODE_BASE + 0x1000;
/// The test page's size: words, marker and tail all fit in it.
pub const TEST_PAGE: u64 = 0x1000;
/// Start of the data window.
pub const DATA_BASE: u64 = 0x1000_0000;
/// Size of the data window.
pub const DATA_SIZE: u64 = 0x1_0000;
/// The word after the test words: `UDF #0xc0de`. Reaching it completes the
/// case.
pub const MARKER: u32 = 0x0000_c0de;
/// Four constant words after the marker, so that literal loads near the
/// end of a sequence read known values on both sides.
pub const TAIL: [u32; 4] = [0x0123_4567, 0x89ab_cdef, 0xfedc_ba98, 0x7654_3210];

/// The registers a case starts from and ends with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct State {
    /// X0..X30.
    pub x: [u64; 31],
    /// SP_EL0.
    pub sp: u64,
    /// NZCV in bits 31:28.
    pub nzcv: u64,
    /// TPIDR_EL0.
    pub tpidr: u64,
    /// V0..V31.
    pub v: [u128; 32],
    /// FPCR (only the bits our core models as writable: AHP, DN, FZ,
    /// RMode).
    pub fpcr: u64,
    /// FPSR (N, Z, C, V, QC and the cumulative exception flags).
    pub fpsr: u64,
}

/// Which instructions a case draws, and so which QEMU CPU model is its
/// reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CaseKind {
    /// General-register instructions only (`isa/10-int.isa`, V = 0).
    Int,
    /// Mostly FP/SIMD/crypto instructions and SIMD&FP loads/stores, with
    /// integer ones in between (not LSE atomics, CAS or LDAPR, which the
    /// reference CPU lacks).
    FpSimd,
}

impl CaseKind {
    /// The kind a seed asks for: its low bit (1: FP/SIMD). The generator
    /// falls back to the other kind when no row of this one is allowed.
    pub fn of_seed(seed: u64) -> Self {
        if seed & 1 == 1 {
            CaseKind::FpSimd
        } else {
            CaseKind::Int
        }
    }

    /// `seed` with its low bit set for this kind.
    pub fn seed(self, seed: u64) -> u64 {
        (seed & !1) | u64::from(self == CaseKind::FpSimd)
    }

    /// The QEMU CPU model the case runs on. `cortex-a76` for integer cases:
    /// it has what our core implements beyond v8.0 (CRC32, LSE atomics,
    /// LDAPR) and no pointer authentication or BTI, so the hint-space
    /// PAC/BTI encodings are NOPs as on our core. `cortex-a57` for FP/SIMD
    /// cases: the a76 has FP16, RDM and dot product, so encodings our
    /// semantics (rightly, for v8.0) reject would run there; the a57's
    /// FP/SIMD/crypto set is ours, so rejected words can be compared.
    pub fn qemu_cpu(self) -> &'static str {
        match self {
            CaseKind::Int => "cortex-a76",
            CaseKind::FpSimd => "cortex-a57",
        }
    }

    /// Short name (`int`, `fp`).
    pub fn name(self) -> &'static str {
        match self {
            CaseKind::Int => "int",
            CaseKind::FpSimd => "fp",
        }
    }
}

/// What a group of words in a case is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupKind {
    /// An instruction drawn from a table row (`word` indexes `Case::words`).
    Row(crate::isa::Op),
    /// `UDF #imm`: an encoding outside every row (a fault case).
    Udf,
    /// An encoding our semantics reject as UNDEFINED (a fault case of
    /// FP/SIMD cases): of this row, or (`None`) a SIMD&FP data-processing
    /// encoding no row decodes.
    Undefined(Option<crate::isa::Op>),
}

/// One instruction under test with the words that set up its registers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Index of the first word (prelude or the instruction) in `Case::words`.
    pub start: usize,
    /// Index of the instruction under test.
    pub insn: usize,
    /// Words in the group (prelude + instruction).
    pub len: usize,
    /// Where the instruction comes from.
    pub kind: GroupKind,
}

/// One random test case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// The seed it was generated from (`Generator::case(seed)` rebuilds it).
    pub seed: u64,
    /// What it draws from and where it runs.
    pub kind: CaseKind,
    /// Byte offset of the first word from [`TEST_PC`] (a multiple of 4).
    pub start: u32,
    /// Instruction words, placed at [`Case::first_pc`].
    pub words: Vec<u32>,
    /// The instructions under test and their preludes.
    pub groups: Vec<Group>,
    /// Initial registers.
    pub init: State,
    /// Data-window patches applied over [`background`]: (byte offset, 8-byte
    /// aligned; little-endian value).
    pub patches: Vec<(u32, u64)>,
}

impl Case {
    /// Address of the first word: where the case starts.
    pub fn first_pc(&self) -> u64 {
        TEST_PC + u64::from(self.start)
    }

    /// Address of the marker: where a completed case stops.
    pub fn end_pc(&self) -> u64 {
        self.first_pc() + 4 * self.words.len() as u64
    }

    /// The test page as both sides hold it: the entry branch (if `start`
    /// is not zero), the words, the marker, the tail, zeros elsewhere.
    pub fn test_page(&self) -> Vec<u8> {
        let mut page = vec![0u8; TEST_PAGE as usize];
        let mut put = |at: usize, w: u32| page[at..at + 4].copy_from_slice(&w.to_le_bytes());
        if self.start != 0 {
            put(0, 0x1400_0000 | (self.start / 4)); // B first_pc
        }
        let words = self.words.iter().chain(std::iter::once(&MARKER)).chain(TAIL.iter());
        for (i, &w) in words.enumerate() {
            put(self.start as usize + 4 * i, w);
        }
        page
    }

    /// The sequence as text: address, word, disassembly, and what each
    /// word is for.
    pub fn listing(&self) -> String {
        let mut s = String::new();
        if self.start != 0 {
            let _ = writeln!(s, "    {TEST_PC:#010x}: (entry: b {:#x})", self.first_pc());
        }
        for (i, &w) in self.words.iter().enumerate() {
            let pc = self.first_pc() + 4 * i as u64;
            let what = match self.groups.iter().find(|g| g.start <= i && i < g.start + g.len) {
                Some(g) if g.insn == i => match g.kind {
                    GroupKind::Row(op) => {
                        let row = &crate::isa::ROWS[op as usize];
                        format!("<- {} ({}:{})", row.name, row.file, row.line)
                    }
                    GroupKind::Udf => "<- UDF (fault case)".to_string(),
                    GroupKind::Undefined(Some(op)) => {
                        let row = &crate::isa::ROWS[op as usize];
                        format!("<- {} ({}:{}), UNDEFINED here", row.name, row.file, row.line)
                    }
                    GroupKind::Undefined(None) => "<- unallocated SIMD&FP encoding".to_string(),
                },
                Some(_) => "   (set-up)".to_string(),
                None => String::new(),
            };
            let _ = writeln!(
                s,
                "    {pc:#010x}: {w:08x}  {:<36} {what}",
                crate::disasm::disassemble(w, pc)
            );
        }
        let _ = writeln!(s, "    {:#010x}: {MARKER:08x}  (end marker)", self.end_pc());
        s
    }
}

/// How a case ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Reached the marker.
    Completed,
    /// Undefined instruction (SIGILL).
    Undefined,
    /// Translation or external abort (SIGSEGV).
    Segv,
    /// Alignment fault: data, SP or PC (SIGBUS).
    Bus,
    /// BRK (SIGTRAP).
    Trap,
    /// Anything else: an unexpected signal, a timeout, or an interpreter
    /// stop that is not an exception.
    Other(String),
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Completed => f.write_str("completed"),
            End::Undefined => f.write_str("undefined instruction (SIGILL)"),
            End::Segv => f.write_str("abort (SIGSEGV)"),
            End::Bus => f.write_str("alignment fault (SIGBUS)"),
            End::Trap => f.write_str("breakpoint (SIGTRAP)"),
            End::Other(s) => write!(f, "other: {s}"),
        }
    }
}

/// The result of running a case on one side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// How it ended.
    pub end: End,
    /// The marker's address when completed, else the faulting instruction's.
    pub pc: u64,
    /// Registers at the end (at the fault, for faults).
    pub state: State,
    /// [`window_hash`] of the data window at the end.
    pub window_hash: u64,
}

impl Outcome {
    /// Every difference from `other` (`self` is QEMU's), one line each.
    pub fn diff(&self, ours: &Outcome) -> Vec<String> {
        let mut d = Vec::new();
        if self.end != ours.end || self.pc != ours.pc {
            d.push(format!(
                "end: qemu {} at {:#x}, ours {} at {:#x}",
                self.end, self.pc, ours.end, ours.pc
            ));
        }
        for i in 0..31 {
            if self.state.x[i] != ours.state.x[i] {
                d.push(format!(
                    "x{i}: qemu {:#018x}, ours {:#018x}",
                    self.state.x[i], ours.state.x[i]
                ));
            }
        }
        let named = [
            ("sp", self.state.sp, ours.state.sp),
            ("nzcv", self.state.nzcv, ours.state.nzcv),
            ("tpidr_el0", self.state.tpidr, ours.state.tpidr),
            ("fpcr", self.state.fpcr, ours.state.fpcr),
            ("fpsr", self.state.fpsr, ours.state.fpsr),
            ("window hash", self.window_hash, ours.window_hash),
        ];
        for (name, q, o) in named {
            if q != o {
                d.push(format!("{name}: qemu {q:#018x}, ours {o:#018x}"));
            }
        }
        for i in 0..32 {
            let (q, o) = (self.state.v[i], ours.state.v[i]);
            if q != o {
                d.push(format!("v{i}: qemu {q:#034x}, ours {o:#034x} (xor {:#034x})", q ^ o));
            }
        }
        d
    }
}

/// SplitMix64: a small, fast generator that is plenty for test data and
/// trivially reproducible from one seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        finalize(self.0)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability 1/`n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// A value biased toward the edge cases of integer arithmetic: 0, 1,
    /// -1, the 32- and 64-bit extremes, powers of two and their
    /// neighbours, small numbers, 32-bit values zero- or sign-extended; the
    /// rest uniformly random.
    pub fn edge(&mut self) -> u64 {
        let k = self.below(64) as u32;
        match self.below(24) {
            0 => 0,
            1 => 1,
            2 => u64::MAX,
            3 => i64::MIN as u64,
            4 => i64::MAX as u64,
            5 => 0x8000_0000,
            6 => 0x7fff_ffff,
            7 => 0xffff_ffff,
            8 => i32::MIN as i64 as u64,
            9 => 1 << k,
            10 => (1 << k) - 1,
            11 => (1u64 << k).wrapping_neg(),
            12 => (self.below(33) as i64 - 16) as u64,
            13 => u64::from(self.next_u64() as u32),
            14 => self.next_u64() as i32 as i64 as u64,
            15 => 1 << (k & 31),
            _ => self.next_u64(),
        }
    }
}

/// The SplitMix64 output function (also the window hash's mixer).
fn finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of case `index` of a run with seed `run_seed`.
pub fn case_seed(run_seed: u64, index: u64) -> u64 {
    finalize(run_seed ^ finalize(index.wrapping_add(0x5eed)))
}

/// The data window's contents before each case's patches: fixed (the
/// same for every case and run), edge-biased 64-bit values.
pub fn background() -> Vec<u8> {
    let mut rng = Rng::new(0x0062_6163_6b67_726e);
    let mut v = Vec::with_capacity(DATA_SIZE as usize);
    for _ in 0..DATA_SIZE / 8 {
        v.extend_from_slice(&rng.edge().to_le_bytes());
    }
    v
}

/// The mixer of [`window_hash`] for word `i` holding `w`.
pub(crate) fn mix(i: u64, w: u64) -> u64 {
    finalize(w ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// The window's fingerprint, computed the same way by the harness: the sum
/// of `mix(i, word)` over the 8-byte words that differ from `background`.
pub fn window_hash(window: &[u8], background: &[u8]) -> u64 {
    let mut h = 0u64;
    for (chunk, (w, b)) in window.chunks(64).zip(background.chunks(64)).enumerate() {
        if w == b {
            continue;
        }
        for (j, (wa, ba)) in w.chunks_exact(8).zip(b.chunks_exact(8)).enumerate() {
            if wa != ba {
                let word = u64::from_le_bytes(wa.try_into().expect("8-byte chunk"));
                h = h.wrapping_add(mix((chunk * 8 + j) as u64, word));
            }
        }
    }
    h
}
