//! The x86-64 backend (System V ABI), through dynasmrt.
//!
//! Register plan inside generated code:
//! - `rbx`: the engine context (`JitCtx`), `rbp`: the guest core (`Cpu`);
//!   both callee-saved, so they survive helper calls.
//! - `rax`, `rcx`, `rdx`: scratch (every operation computes into `rax`).
//! - `r15`: the instruction budget (`JitCtx::budget`), kept in a register
//!   from the trampoline's entry to its return, and in memory around
//!   helper calls (which may end it). Each block entry takes the whole
//!   block's instructions from it, and an exit that retires fewer gives
//!   the rest back, so it also counts instructions: `Cpu::icount` is
//!   `JitCtx::limit - budget` and is written only before helper calls.
//!   (In memory, the budget and the count were two read-modify-writes
//!   per block, whose store-forwarding latency chained every block, and
//!   every loop iteration, to the one before.)
//! - `rsi rdi r8-r11` (caller-saved) and `r12-r14` (callee-saved): IR
//!   values, allocated linearly over the block; what does not fit lives in
//!   the trampoline's spill area at `[rsp + 8 + 8 * slot]`.
//!
//! Blocks are entered by a `call` from the trampoline, so inside a block
//! `rsp` is 16-byte aligned and `ret` returns an exit code to it. Helper
//! calls save the caller-saved registers holding live values around the
//! call; slow paths are emitted out of line after the block body.

// dynasm's expansion of dynamic registers (`Rq(r)`) converts the `u8`
// into itself.
#![allow(clippy::useless_conversion)]

use super::codebuf::CodeBuf;
use super::{exit, tlb_entry, Backend, CompileError, Compiled, Env, ExitSite, PureOp};
use crate::ir::{AtomicKind, Block, Cell, Exit, HelperOp, Inst, Mem, QVal, Sync, SysLoc, Target, Val};
use cpu_aarch64::sem::{AtomicOp, BinOp, FpOp, FpSize, QOp, UnOp, Width};
use dynasmrt::{dynasm, x64::X64Relocation, DynamicLabel, DynasmApi, DynasmLabelApi};

/// The x86-64 backend.
#[derive(Default)]
pub struct X64 {
    /// The last compilation's tables, for the next.
    tables: std::cell::RefCell<Tables>,
}

/// Per-value and per-instruction tables of one compilation, kept for the
/// next (allocating them for every block was a visible share of
/// translation).
#[derive(Default)]
struct Tables {
    last_use: Vec<usize>,
    pinned: Vec<bool>,
    loc: Vec<Loc>,
    qslot: Vec<u16>,
    ops: Vec<u32>,
    handed: Vec<bool>,
    uses: Vec<u32>,
    fused: Vec<bool>,
    cc_from: Vec<Option<usize>>,
    cc_in_dl: Vec<bool>,
    live_cs: Vec<u16>,
    carried: Vec<(Cell, Val)>,
    expiring: Expiring,
    q_reg: Vec<u8>,
    q_out: Vec<u8>,
    scaled: Vec<u8>,
    fed: Vec<bool>,
    raw: Vec<u8>,
    joins: Vec<u32>,
    free: Vec<u8>,
    free_slots: Vec<u16>,
    exits: Vec<(DynamicLabel, DynamicLabel, u64)>,
    records: Vec<(DynamicLabel, usize)>,
    record_words: Vec<u64>,
    /// The assembler, its code, label and relocation tables emptied.
    asm: Asm,
    /// Slow paths waiting for the end of the block.
    slow: Vec<Slow>,
}

/// Whether instruction `i` is a compare: a subtraction whose only use is
/// its flags (`AdcFlags`, emitted with it), so it needs no place and
/// emits a `cmp`.
fn flags_only(block: &Block, uses: &[u32], i: usize) -> bool {
    let cmp = match block.code[i] {
        Inst::SubC(..) => true,
        Inst::SubCImm(_, k, _) => k < 1 << 31,
        _ => false,
    };
    cmp && uses[i] == 1 && block.code.get(i + 1) == Some(&Inst::AdcFlags(Val(i as u32)))
}

/// For the `Get` at `g` of cell `c` of a looped block, before its life
/// is stretched to the last back edge: when every back edge hands `c` the
/// same value `v` and nothing reads `g` after `v` is made (at `v` only as
/// what its lowering reads before writing its result), `v` can take `g`'s
/// register (`joins[v] = g`) and the back edges need no move.
fn join_carried(block: &Block, uses: &[u32], scaled: &[u8], last_use: &[usize], joins: &mut [u32], c: Cell, g: usize) {
    let mut v = None;
    for wb in block.back_edges() {
        let Some(&(_, x)) = wb.iter().find(|&&(k, _)| k == c) else {
            return;
        };
        if v.is_some_and(|v| v != x) || x.0 as usize == g {
            return;
        }
        v = Some(x);
    }
    let Some(v) = v.map(|v| v.0 as usize) else { return };
    let g_val = Val(g as u32);
    let only_first = |a: Val, rest: &[Val]| a == g_val && !rest.contains(&g_val);
    let ok = match block.code[v] {
        Inst::Load(_) | Inst::AdcFlags(_) => last_use[g] <= v,
        Inst::Bin(_, a, b) | Inst::SubC(a, b, _) => last_use[g] < v || last_use[g] == v && only_first(a, &[b]),
        Inst::Un(_, a) | Inst::SubCImm(a, ..) => last_use[g] <= v && (last_use[g] < v || a == g_val),
        Inst::Adc(a, b, k, _) => last_use[g] < v || last_use[g] == v && only_first(a, &[b, k]),
        _ => false,
    };
    if ok && scaled[v] == 0 && !flags_only(block, uses, v) && joins[v] == u32::MAX {
        joins[v] = g as u32;
    }
}

/// In `Gen::raw`: the flags of an add (x86 CF is Arm's C).
const RAW_ADD: u8 = 1;
/// In `Gen::raw`: the flags of a subtraction (x86 CF is a borrow, NOT C).
const RAW_SUB: u8 = 2;

/// Which NZCV values stay in their raw form: bits 15 (SF), 14 (ZF), 8
/// (CF) and 0 (OF) of a register, as `lahf; seto al` leave them, two
/// instructions instead of eight. The architectural form is made only
/// where one is written back (`Gen::writeback`), which is at exits and
/// before helper calls. So: the flags of an `Adc`/`SubC`/`SubCImm` that
/// nothing reads but write-backs of NZCV, and the NZCV a looped block
/// carries (`Block::close_loop`) when every back edge hands it raw flags
/// of one kind (the loop loads it in that form).
fn raw_flags(block: &Block, raw: &mut Vec<u8>) {
    let n = block.code.len();
    reset(raw, n, 0);
    for (i, inst) in block.code.iter().enumerate() {
        if let Inst::AdcFlags(src) = *inst {
            raw[i] = match block.code[src.0 as usize] {
                Inst::Adc(..) => RAW_ADD,
                Inst::SubC(..) | Inst::SubCImm(..) => RAW_SUB,
                _ => 0,
            };
        }
    }
    let get = (0..n).find(|&i| block.looped && block.code[i] == Inst::Get(Cell::Nzcv));
    let mut get_plain = false;
    for inst in &block.code {
        let mut plain = |v: Val| {
            raw[v.0 as usize] = 0;
            get_plain |= Some(v.0 as usize) == get;
        };
        // Write-backs to other cells than NZCV read the value as it is.
        if let Some(wb) = block.operands(inst, &mut plain) {
            for &(c, v) in wb {
                if c != Cell::Nzcv {
                    plain(v);
                }
            }
        }
    }
    let Some(g) = get else { return };
    // What the back edges hand the carried NZCV.
    let mut kinds = 0u8;
    for &(c, v) in block.back_edges().flatten() {
        if c == Cell::Nzcv && v.0 as usize != g {
            kinds |= 1 << raw[v.0 as usize];
        }
    }
    raw[g] = match kinds {
        _ if get_plain => 0,
        k if k == 1 << RAW_ADD => RAW_ADD,
        k if k == 1 << RAW_SUB => RAW_SUB,
        _ => 0,
    };
    if raw[g] == 0 {
        // The back edges' moves must hand it the architectural form.
        for &(c, v) in block.back_edges().flatten() {
            if c == Cell::Nzcv {
                raw[v.0 as usize] = 0;
            }
        }
    }
}

/// `v` as `n` copies of `x`, in its storage.
fn reset<T: Clone>(v: &mut Vec<T>, n: usize, x: T) {
    v.clear();
    v.resize(n, x);
}

type Asm = CodeBuf<X64Relocation>;

const RAX: u8 = 0;
const RCX: u8 = 1;
const RDX: u8 = 2;
/// Allocatable registers, caller-saved first.
const POOL: [u8; 9] = [6, 7, 8, 9, 10, 11, 12, 13, 14];
/// Spill slots in the trampoline frame.
const SPILL_SLOTS: usize = 240;
/// Size of the trampoline's frame (spill area), a multiple of 16.
const FRAME: i32 = (SPILL_SLOTS as i32) * 8 + 16;

/// Shared routines (`X64::thunks`, in `Env::ctx_thunks`): a slow path's
/// helper call that leaves its status in `JitCtx::status` (loads) or
/// returns it, the chaining lookup, then load and store slow paths of 2, 4
/// and 8 bytes that first try an unaligned access inside a page.
const THUNK_STATUS_CTX: usize = 0;
const THUNK_STATUS_RET: usize = 1;
const THUNK_CHAIN: usize = 2;
const THUNK_LOAD_UNALIGNED: usize = 3;
const THUNK_STORE_UNALIGNED: usize = 6;
const _: () = assert!(THUNK_STORE_UNALIGNED + 3 == super::THUNKS);

/// A slow path's record: `pc, info, helper, rest` (see `X64::thunks`),
/// the offset of the block's fast TLB in the context, the number of
/// words of its write-back list, then that list (`sync_writes`).
pub const RECORD_HEAD: usize = 6;
/// The word of a record holding the fast TLB's offset.
const RECORD_TLB: i32 = 4;
/// A write-back list entry: the cell (X0-X30, SP_EL0-3 from `SYNC_SP`,
/// NZCV), bits 7:0; its form, 15:8; where the value is, 23:16; the
/// register, 31:24, or the slot's offset from the stack pointer of the
/// call, 63:32; an immediate value follows in the next word.
const SYNC_SP: u64 = 31;
const SYNC_NZCV: u64 = 35;
const FORM_PLAIN: u64 = 0;
const FORM_RAW_ADD: u64 = 1;
const FORM_RAW_SUB: u64 = 2;
const SRC_REG: u64 = 0;
const SRC_SLOT: u64 = 1;
const SRC_IMM: u64 = 2;
/// Words pushed by the slow-path thunk below the return address, in push
/// order reversed: r14 r13 r12 r11 r10 r9 r8 rdi rsi.
const SAVED_REGS: [u8; 9] = [14, 13, 12, 11, 10, 9, 8, 7, 6];
/// The words from the thunk's stack pointer that a write-back list may
/// read: the saved registers, the return address, then the block's stack
/// (its spill slots, in the trampoline's frame).
pub const SYNC_FRAME_WORDS: usize = SAVED_REGS.len() + 2 + SPILL_SLOTS;

fn caller_saved(r: u8) -> bool {
    (6..=11).contains(&r)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loc {
    Reg(u8),
    Slot(u16),
    Imm(u64),
    None,
}

/// A scalar FP operation lowered to SSE/FMA with the host-FPU shortcut.
#[derive(Clone, Copy)]
struct NativeFp {
    op: cpu_aarch64::sem::FpOp,
    double: bool,
}

impl NativeFp {
    /// The operations `cpu_aarch64::fp`'s shortcut covers, single and
    /// double; the fused ones only on hosts with FMA3.
    fn of(op: cpu_aarch64::sem::FpOp, size: cpu_aarch64::sem::FpSize, fma: bool) -> Option<NativeFp> {
        use cpu_aarch64::sem::{FpOp as F, FpSize};
        let double = match size {
            FpSize::S => false,
            FpSize::D => true,
            FpSize::H => return None,
        };
        let ok = match op {
            F::Add | F::Sub | F::AbsDiff | F::Mul | F::MulX | F::NegMul | F::Div | F::Sqrt => true,
            F::MulAdd | F::MulSub | F::NegMulAdd | F::NegMulSub => fma,
            F::Compare { .. } | F::Max | F::Min | F::MaxNum | F::MinNum => true,
            F::CmpEq | F::CmpGe | F::CmpGt => true,
            // FCVT from single to double (exact) and back (rounded).
            F::Convert { to: FpSize::D } => size == FpSize::S,
            F::Convert { to: FpSize::S } => size == FpSize::D,
            F::FromInt {
                signed: true,
                bits: 32 | 64,
                fbits: 0,
            } => true,
            F::ToInt {
                signed: true,
                bits: 32 | 64,
                mode: Some(cpu_aarch64::sem::Rounding::Zero),
                fbits: 0,
            } => true,
            _ => false,
        };
        ok.then_some(NativeFp { op, double })
    }
}

/// Whether native code can tell if `op`'s result is inexact, so that it
/// runs with FPSR.IXC clear too and sets the flag itself (`set_ixc_if`),
/// by an error-free transformation: a sum's rounding error by TwoSum (six
/// operations, exact), a product's by FMA (`a*b - p`, exact while the
/// product is well above the underflow range: `PRODUCT_MIN`), a
/// conversion's by converting back. Else the native path needs IXC set.
fn detects_inexact(op: FpOp, fma: bool) -> bool {
    match op {
        FpOp::Add | FpOp::Sub | FpOp::AbsDiff => true,
        FpOp::Mul | FpOp::MulX | FpOp::NegMul => fma,
        // (Of the conversions and FRINTX, each native path lowers only
        // some forms.)
        FpOp::ToInt { .. } | FpOp::FromInt { .. } | FpOp::RoundInt { exact: true, .. } => true,
        // Double to single, single to half.
        FpOp::Convert {
            to: FpSize::S | FpSize::H,
        } => true,
        _ => false,
    }
}

/// The smallest native product magnitude, as (single, double) bits: the
/// exact product's lowest bit then lies at or above the smallest
/// denormal (2^-149: p >= 2^-101; 2^-1074: p >= 2^-968), so `a*b - p` is
/// representable and FMA computes it exactly (with margin: 2^-100 and
/// 2^-960).
const PRODUCT_MIN: (u32, u64) = (27 << 23, 63 << 52);

/// How many 128-bit operands an `FpLanes` operation takes (of those
/// `packed_fp` lowers).
fn op_operands(op: FpOp) -> usize {
    match op {
        FpOp::Neg | FpOp::Abs | FpOp::Sqrt => 1,
        FpOp::MulAdd => 3,
        _ => 2,
    }
}

/// A packed FP operation for the lowerings beside `Gen::packed_fp`:
/// instruction `at`'s operation over `lanes` lanes of `qs`, going on to
/// `done`, or to `slow` (the helper) when the shortcut does not apply.
#[derive(Clone, Copy)]
struct Packed<'q> {
    op: FpOp,
    double: bool,
    lanes: u8,
    qs: &'q [QVal],
    at: usize,
    slow: DynamicLabel,
    done: DynamicLabel,
}

impl Packed<'_> {
    /// The bytes of the lanes in use, if the operation reads `operands`
    /// values and its lanes fit one register.
    fn fits(&self, operands: usize) -> Option<u32> {
        let lane_bytes = u32::from(self.lanes) * if self.double { 8 } else { 4 };
        (self.lanes != 0 && self.qs.len() == operands && lane_bytes <= 16).then_some(lane_bytes)
    }
}

/// Out-of-line code to emit after the block body.
enum Slow {
    /// The FP operation of instruction `at` for when FPSR.IXC is clear
    /// (`detects_inexact`), out of the hot path: on to `slow` or, with
    /// its result, `done`.
    FpDetect {
        at: usize,
        label: DynamicLabel,
        slow: DynamicLabel,
        done: DynamicLabel,
    },
    Load {
        at: usize,
        label: DynamicLabel,
        back: DynamicLabel,
        mem: Mem,
        pc: u64,
        raw: u32,
    },
    Store {
        /// The exit of the `CheckExit` right after the store, tested here
        /// only.
        check: Option<DynamicLabel>,
        label: DynamicLabel,
        back: DynamicLabel,
        mem: Mem,
        value: Val,
        pc: u64,
        raw: u32,
    },
    CheckSp {
        label: DynamicLabel,
        back: DynamicLabel,
        sp: Val,
        sync: Sync,
        pc: u64,
        raw: u32,
    },
    /// The atomic at `pc` (address `addr`) runs on the interpreter from
    /// `sync`'s state, then the block returns to the dispatcher.
    InterpExit {
        label: DynamicLabel,
        sync: Sync,
        addr: Val,
        pc: u64,
        raw: u32,
        helper: usize,
    },
    /// A memory access's guessed addend (`tlb_probe`) was not its TLB
    /// entry's: `reg` gets the entry's, remembered in `slot`.
    Guess {
        label: DynamicLabel,
        back: DynamicLabel,
        reg: u8,
        slot: i32,
        add: i32,
    },
    /// A conditional back edge of a looped block.
    BackEdge { label: DynamicLabel, exit: Exit },
    Exit {
        label: DynamicLabel,
        target: Target,
        exit: Exit,
        /// A requested exit resuming at this PC (not chained).
        resume: Option<u64>,
    },
}

/// Per instruction, the values whose place frees before it: FIFO lists
/// threaded through one array (a vector per instruction cost an allocation
/// per value).
#[derive(Default)]
struct Expiring {
    head: Vec<usize>,
    tail: Vec<usize>,
    next: Vec<usize>,
}

impl Expiring {
    const NONE: usize = usize::MAX;

    /// Empty lists for instructions `0..=n` of values `0..n`.
    fn reset(&mut self, n: usize) {
        reset(&mut self.head, n + 1, Self::NONE);
        reset(&mut self.tail, n + 1, Self::NONE);
        reset(&mut self.next, n, Self::NONE);
    }

    /// Appends value `v` (at most once) to instruction `at`'s list.
    fn push(&mut self, at: usize, v: usize) {
        match self.tail[at] {
            Self::NONE => self.head[at] = v,
            t => self.next[t] = v,
        }
        self.tail[at] = v;
    }

    /// Instruction `at`'s list, in the order pushed.
    fn at(&self, at: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(Some(self.head[at]).filter(|&v| v != Self::NONE), |&v| {
            Some(self.next[v]).filter(|&w| w != Self::NONE)
        })
    }
}

struct Gen<'a> {
    a: Asm,
    env: &'a Env,
    block: &'a Block,
    loc: Vec<Loc>,
    /// Per instruction: the caller-saved registers (bit per register)
    /// holding values live across it, to save around helper calls.
    live_cs: Vec<u16>,
    /// Bytes pushed on the stack right now (slot addressing adds this).
    pushed: i32,
    slow: Vec<Slow>,
    exits: Vec<(DynamicLabel, DynamicLabel, u64)>,
    /// Returns the exit code in `eax` after a helper ended the block
    /// (`Cpu::icount` is then as the helper left it).
    ret_label: DynamicLabel,
    /// Tests evaluated by their single user (see `compile`).
    fused: Vec<bool>,
    /// The memory slot of each 128-bit value.
    qslot: Vec<u16>,
    /// For an arithmetic instruction: the fused CondHolds of its flags
    /// that is the next instruction to emit code (evaluated from EFLAGS).
    cc_from: Vec<Option<usize>>,
    /// The fused CondHolds whose value is in `dl`.
    cc_in_dl: Vec<bool>,
    /// Helper-operation indices of `QCall`/`Call` instructions.
    ops: Vec<u32>,
    /// A looped block's loop head (after the carried cells are loaded).
    loop_head: Option<DynamicLabel>,
    /// A looped block's `Get`s: each cell's place across iterations.
    carried: Vec<(Cell, Val)>,
    /// Per `GetQ`: the V register it is read from in place, or
    /// `NO_Q_REG` (copied to its slot).
    q_reg: Vec<u8>,
    /// Per 128-bit operation: the V register it writes its result to
    /// directly (its only use, the next `SetQ`, then does nothing),
    /// `IN_XMM0`, or `NO_Q_REG` (its slot).
    q_out: Vec<u8>,
    /// Emitting the out-of-line copy of an FP operation that runs while
    /// FPSR.IXC is clear and finds out itself whether it is inexact
    /// (`Slow::FpDetect`).
    detecting: bool,
    /// Per value: the shift (1 to 3) of a shift left folded into its only
    /// use, an add, as a scaled index; else 0.
    scaled: Vec<u8>,
    /// Per value: how many instructions read it.
    uses: Vec<u32>,
    /// Per value: whether it depends on a load ([`Block::load_fed`]).
    fed: Vec<bool>,
    /// The SUB or CMP whose flags EFLAGS hold now (`keep_flags`).
    flags_of: Option<usize>,
    /// A `CheckExit` (index) whose test a store's slow path makes, and
    /// its exit label.
    check_after: Option<(usize, DynamicLabel)>,
    /// Slow-path helper calls' records `(label, first word)` in
    /// `record_words`, emitted after the code (`faulting_call`).
    records: Vec<(DynamicLabel, usize)>,
    record_words: Vec<u64>,
    /// Per value: [`RAW_ADD`] or [`RAW_SUB`] for an NZCV value kept as
    /// LAHF and SETO leave the x86 flags ([`raw_flags`]), else 0.
    raw: Vec<u8>,
}

/// In `Gen::q_reg`: the value has a slot.
const NO_Q_REG: u8 = u8::MAX;
/// In `Gen::q_out`: the value stays in xmm0 for its only use, the next
/// instruction (a lane insert), and has no slot.
const IN_XMM0: u8 = u8::MAX - 1;
const RBX: u8 = 3;
const RBP: u8 = 5;

/// For each condition, bit `nzcv` (0..16) of the mask says whether it
/// holds.
fn cond_mask(cond: u32) -> u32 {
    (0..16u64)
        .filter(|n| cpu_aarch64::isa::condition_holds(cond, n << 28))
        .fold(0, |m, n| m | 1 << n)
}

/// An x86 condition (of `jcc`/`setcc`/`cmovcc`) a fused test leaves for
/// its user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cc {
    O,
    No,
    B,
    Ae,
    E,
    Ne,
    Be,
    A,
    S,
    Ns,
    L,
    Ge,
    Le,
    G,
}

impl Cc {
    /// After `cmp a, b`: Arm condition `cond` (below 14) of `CMP a, b`.
    /// x86's carry is the borrow, the inverse of Arm's C; N, Z and V
    /// agree.
    fn of_compare(cond: u8) -> Cc {
        match cond {
            0 => Cc::E,
            1 => Cc::Ne,
            2 => Cc::Ae,
            3 => Cc::B,
            4 => Cc::S,
            5 => Cc::Ns,
            6 => Cc::O,
            7 => Cc::No,
            8 => Cc::A,
            9 => Cc::Be,
            10 => Cc::Ge,
            11 => Cc::L,
            12 => Cc::G,
            _ => Cc::Le,
        }
    }
}

impl<'a> Gen<'a> {
    fn slot_off(&self, s: u16) -> i32 {
        8 + 8 * i32::from(s) + self.pushed
    }

    /// `reg = v`.
    fn load(&mut self, reg: u8, v: Val) {
        match self.loc[v.0 as usize] {
            Loc::Reg(r) => {
                if r != reg {
                    dynasm!(self.a ; .arch x64 ; mov Rq(reg), Rq(r));
                }
            }
            Loc::Slot(s) => {
                let off = self.slot_off(s);
                dynasm!(self.a ; .arch x64 ; mov Rq(reg), QWORD [rsp + off]);
            }
            Loc::Imm(c) => self.mov_imm(reg, c),
            Loc::None => unreachable!("value v{} used but never defined", v.0),
        }
    }

    /// `reg = c`, without touching the flags.
    fn mov_imm(&mut self, reg: u8, c: u64) {
        if c <= u64::from(u32::MAX) {
            dynasm!(self.a ; .arch x64 ; mov Rd(reg), c as i32);
        } else if c as i64 >= i64::from(i32::MIN) && (c as i64) < 0 {
            dynasm!(self.a ; .arch x64 ; mov Rq(reg), c as i32);
        } else {
            dynasm!(self.a ; .arch x64 ; mov Rq(reg), QWORD c as i64);
        }
    }

    /// `dest = reg`.
    fn store(&mut self, dest: Val, reg: u8) {
        match self.loc[dest.0 as usize] {
            Loc::Reg(r) => {
                if r != reg {
                    dynasm!(self.a ; .arch x64 ; mov Rq(r), Rq(reg));
                }
            }
            Loc::Slot(s) => {
                let off = self.slot_off(s);
                dynasm!(self.a ; .arch x64 ; mov QWORD [rsp + off], Rq(reg));
            }
            Loc::Imm(_) | Loc::None => {}
        }
    }

    /// A constant operand usable as a sign-extended imm32.
    fn imm32(&self, v: Val) -> Option<i32> {
        match self.loc[v.0 as usize] {
            Loc::Imm(c) if c as i64 == i64::from(c as i64 as i32) => Some(c as i64 as i32),
            _ => None,
        }
    }

    fn cell_off(&self, c: Cell) -> i32 {
        match c {
            Cell::X(r) => self.env.cpu_x + 8 * i32::from(r),
            Cell::Sp => self.env.cpu_sp_el + 8 * self.block.mode.sp_index() as i32,
            Cell::Nzcv => self.env.cpu_nzcv,
        }
    }

    /// Stores the cells of `wb` (clobbers `rax`, and `rcx` and the flags
    /// for NZCV in raw form).
    fn writeback(&mut self, wb: &[(Cell, Val)]) {
        for &(cell, v) in wb {
            let off = self.cell_off(cell);
            let r = self.reg_or(v, RAX);
            if cell == Cell::Nzcv && self.raw[v.0 as usize] != 0 {
                // See `flags_to_nzcv`.
                dynasm!(self.a
                    ; .arch x64
                    ; movzx ecx, Rw(r)
                    ; and ecx, 0xC101
                    ; imul eax, ecx, 0x1021_0000
                    ; and eax, 0xF000_0000u32 as i32
                );
                if self.raw[v.0 as usize] == RAW_SUB {
                    dynasm!(self.a ; .arch x64 ; xor eax, 0x2000_0000);
                }
                dynasm!(self.a ; .arch x64 ; mov DWORD [rbp + off], eax);
            } else if cell == Cell::Nzcv {
                dynasm!(self.a ; .arch x64 ; mov DWORD [rbp + off], Rd(r));
            } else {
                dynasm!(self.a ; .arch x64 ; mov QWORD [rbp + off], Rq(r));
            }
        }
    }

    /// Leaving the block with `retired` of its instructions done: gives
    /// the budget back the ones it took at the entry for the rest (flags
    /// are kept).
    fn refund(&mut self, retired: u32) {
        let rest = self.block.insns.len() as i32 - retired as i32;
        debug_assert!(rest >= 0, "an exit retires at most the block");
        if rest != 0 {
            dynasm!(self.a ; .arch x64 ; lea r15, [r15 + rest]);
        }
    }

    /// Before a helper call at an instruction with `retired` of the
    /// block's before it: makes `Cpu::icount` exact for the helper
    /// (`limit - budget`, less the instructions the entry took for the
    /// rest). A helper that retires the instruction itself (the
    /// interpreter) keeps `limit - budget` right for the block's count
    /// after it. Clobbers `rax`.
    fn exact_icount(&mut self, retired: u32) {
        let rest = self.block.insns.len() as i32 - retired as i32;
        let (limit, icount) = (self.env.ctx_limit, self.env.cpu_icount);
        dynasm!(self.a
            ; .arch x64
            ; mov rax, QWORD [rbx + limit]
            ; sub rax, r15
        );
        if rest != 0 {
            dynasm!(self.a ; .arch x64 ; sub rax, rest);
        }
        dynasm!(self.a ; .arch x64 ; mov QWORD [rbp + icount], rax);
    }

    /// Caller-saved registers holding values live across instruction `at`.
    fn live_caller_saved(&self, at: usize) -> Vec<u8> {
        let m = self.live_cs[at];
        (0..16).filter(|r| m >> r & 1 == 1).collect()
    }

    fn push_regs(&mut self, regs: &[u8]) {
        for &r in regs {
            dynasm!(self.a ; .arch x64 ; push Rq(r));
        }
        self.pushed += 8 * regs.len() as i32;
        if regs.len() % 2 == 1 {
            dynasm!(self.a ; .arch x64 ; sub rsp, 8);
            self.pushed += 8;
        }
    }

    fn pop_regs(&mut self, regs: &[u8]) {
        if regs.len() % 2 == 1 {
            dynasm!(self.a ; .arch x64 ; add rsp, 8);
            self.pushed -= 8;
        }
        for &r in regs.iter().rev() {
            dynasm!(self.a ; .arch x64 ; pop Rq(r));
        }
        self.pushed -= 8 * regs.len() as i32;
    }

    fn set_arg(&mut self, i: i32, from: u8) {
        let off = self.env.ctx_args + 8 * i;
        dynasm!(self.a ; .arch x64 ; mov QWORD [rbx + off], Rq(from));
    }

    fn call_ctx_helper(&mut self, f: usize) {
        // The helper sees the budget in the context, and may end it.
        let budget = self.env.ctx_budget;
        dynasm!(self.a
            ; .arch x64
            ; mov QWORD [rbx + budget], r15
            ; mov rdi, rbx
            ; mov rax, QWORD f as i64
            ; call rax
            ; mov r15, QWORD [rbx + budget]
        );
    }

    /// Materialises the x86 flags of the last arithmetic instruction as
    /// NZCV (bits 31:28) in `rax`.
    fn flags_to_nzcv(&mut self, with_cv: bool) {
        // LAHF: AH = SF ZF - AF - PF - CF (cheaper than the microcoded
        // PUSHF); SETO for V. One multiply gathers SF (bit 15), ZF (14),
        // CF (8) and OF (0) into bits 31..28: the other copies it makes
        // land on distinct bits below 28 or beyond bit 31, and are masked.
        if with_cv {
            dynasm!(self.a
                ; .arch x64
                ; lahf
                ; seto al
                ; movzx ecx, ax
                ; and ecx, 0xC101
                ; imul eax, ecx, 0x1021_0000
                ; and eax, 0xF000_0000u32 as i32
            );
        } else {
            dynasm!(self.a
                ; .arch x64
                ; lahf
                ; movzx eax, ah
                ; and eax, 0xC0
                ; shl eax, 24
            );
        }
    }

    /// Offset from the context of this block's fast TLB.
    fn tlb_base(&self) -> i32 {
        let entries = self.env.tlb_entries as i32;
        self.env.ctx_tlb + (self.block.mode.mmu_index() as i32) * (entries << tlb_entry::SHIFT)
    }

    /// After `tlb_probe` (hit or miss): rcx = the address of the entry
    /// it probed (it leaves the entry's offset in the table there).
    fn tlb_entry(&mut self) {
        let base = self.tlb_base();
        dynasm!(self.a ; .arch x64 ; lea rcx, [rbx + rcx + base]);
    }

    /// The inline TLB probe for `mem`: on a hit execution falls through
    /// with the host address in `rax` (`None`) or `rax + index register`
    /// (`Some(index)`, the guest address's own register, saving an add);
    /// on a miss it jumps to `miss`. Either way rcx holds the entry's
    /// offset in the table (`tlb_entry` makes it its address).
    fn tlb_probe(&mut self, mem: &Mem, write: bool, miss: DynamicLabel) -> Option<u8> {
        let entries = self.env.tlb_entries as i32;
        let base = self.tlb_base();
        let index_mask = (entries - 1) << tlb_entry::SHIFT;
        let tag_mask = -4096i32 | (i32::from(mem.size) - 1);
        let tag = base + if write { tlb_entry::WRITE } else { tlb_entry::READ };
        let add = base + tlb_entry::ADDEND;
        let ra = self.reg_or(mem.addr, RAX);
        dynasm!(self.a
            ; .arch x64
            ; mov rcx, Rq(ra)
            ; shr rcx, (12 - tlb_entry::SHIFT) as i8
            ; and ecx, index_mask
            ; mov rdx, tag_mask
            ; and rdx, Rq(ra)
            ; cmp rdx, QWORD [rbx + rcx + tag]
            ; jne =>miss
        );
        // An address that depends on a load (pointer chasing, table
        // lookups) makes the access latency bound: it takes its host
        // address from the addend this instruction used last, checked
        // against the entry's by a branch, and so waits for its own address
        // only, not for the entry's load as well. The guess is never used
        // unless it is the entry's addend. Not at EL0: an OS maps user pages
        // to scattered frames, each with its own addend, and the misses
        // (branch mispredictions) cost more than the latency saved (the
        // Linux workload ran 18% longer). Nor for other addresses: those
        // are known early, and the check is three instructions more.
        if self.block.mode.el == 0 || !self.fed[mem.addr.0 as usize] {
            if ra == RAX {
                dynasm!(self.a ; .arch x64 ; add rax, QWORD [rbx + rcx + add]);
                return None;
            }
            dynasm!(self.a ; .arch x64 ; mov rax, QWORD [rbx + rcx + add]);
            return Some(ra);
        }
        let pc = self.block.insns[usize::from(mem.sync.insn)].0;
        let slot = self.env.ctx_guess + ((pc >> 2) as usize % self.env.guess_slots) as i32 * 8;
        let (label, back) = (self.a.new_dynamic_label(), self.a.new_dynamic_label());
        let reg = if ra == RAX { RDX } else { RAX };
        dynasm!(self.a
            ; .arch x64
            ; mov Rq(reg), QWORD [rbx + slot]
            ; cmp Rq(reg), QWORD [rbx + rcx + add]
            ; jne =>label
            ; =>back
        );
        self.slow.push(Slow::Guess {
            label,
            back,
            reg,
            slot,
            add,
        });
        if ra == RAX {
            dynasm!(self.a ; .arch x64 ; add rax, rdx);
            None
        } else {
            Some(ra)
        }
    }

    fn inst(&mut self, i: usize) -> Result<(), CompileError> {
        // EFLAGS outlive only instructions that emit nothing here.
        let flags_of = self.flags_of.take();
        if matches!(self.block.code[i], Inst::Nop | Inst::Const(_) | Inst::AdcFlags(_))
            || matches!(self.block.code[i], Inst::Get(_)) && self.loop_head.is_some()
            || matches!(self.block.code[i], Inst::Bin(..)) && self.fused[i]
            || matches!(self.block.code[i], Inst::ExitIf(c, ..) if self.fused[c.0 as usize])
        {
            self.flags_of = flags_of;
        }
        // The block outlives `self`'s borrow: instructions are read in
        // place (cloning each one cost allocations for its write-backs).
        let block: &'a Block = self.block;
        let d = Val(i as u32);
        match block.code[i] {
            Inst::Nop | Inst::Const(_) => {}
            // A looped block loaded it before its loop head.
            Inst::Get(_) if self.loop_head.is_some() => {}
            Inst::Get(c) => self.get_cell(d, c),
            Inst::Bin(..) if self.fused[i] => {} // emitted by its user
            Inst::Bin(BinOp::Shl, ..) if self.scaled[i] != 0 => {}
            Inst::Bin(BinOp::Add, a, b) if self.scaled[a.0 as usize] != 0 || self.scaled[b.0 as usize] != 0 => {
                let (base, index) = if self.scaled[b.0 as usize] != 0 { (a, b) } else { (b, a) };
                self.scaled_add(d, base, index);
            }
            Inst::Bin(op, a, b) => self.bin(d, op, a, b),
            Inst::Un(op, a) => self.un(d, op, a),
            Inst::Adc(a, b, c, w) if self.loc[c.0 as usize] == Loc::Imm(0) && self.add_by_lea(i, a, b) => {
                // An add whose flags nobody reads, from a register that
                // lives on: one LEA (a 32-bit one zero-extends), no copy.
                let (r, Loc::Reg(ra)) = (self.dst(d), self.loc[a.0 as usize]) else {
                    unreachable!("add_by_lea checked the operand");
                };
                match (w, self.imm32(b), self.loc[b.0 as usize]) {
                    (Width::W64, Some(k), _) => dynasm!(self.a ; .arch x64 ; lea Rq(r), [Rq(ra) + k]),
                    (Width::W32, Some(k), _) => dynasm!(self.a ; .arch x64 ; lea Rd(r), [Rq(ra) + k]),
                    (Width::W64, None, Loc::Reg(rb)) => dynasm!(self.a ; .arch x64 ; lea Rq(r), [Rq(ra) + Rq(rb)]),
                    (_, None, Loc::Reg(rb)) => dynasm!(self.a ; .arch x64 ; lea Rd(r), [Rq(ra) + Rq(rb)]),
                    _ => unreachable!("add_by_lea checked the operand"),
                }
                self.store(d, r);
            }
            Inst::Adc(a, b, c, w) if self.loc[c.0 as usize] == Loc::Imm(0) => {
                // A plain add: x86's carry and overflow are Arm's C and V.
                let r = self.dst(d);
                self.load(r, a);
                match (w, self.imm32(b), self.loc[b.0 as usize]) {
                    (Width::W64, Some(k), _) => dynasm!(self.a ; .arch x64 ; add Rq(r), k),
                    (Width::W32, Some(k), _) => dynasm!(self.a ; .arch x64 ; add Rd(r), k),
                    (Width::W64, None, Loc::Reg(rb)) => dynasm!(self.a ; .arch x64 ; add Rq(r), Rq(rb)),
                    (Width::W32, None, Loc::Reg(rb)) => dynasm!(self.a ; .arch x64 ; add Rd(r), Rd(rb)),
                    (w, None, _) => {
                        self.load(RCX, b);
                        match w {
                            Width::W64 => dynasm!(self.a ; .arch x64 ; add Rq(r), rcx),
                            Width::W32 => dynasm!(self.a ; .arch x64 ; add Rd(r), ecx),
                        }
                    }
                }
                self.store(d, r);
                self.adc_flags(i, false);
            }
            Inst::Adc(a, b, c, w) => {
                self.load(RAX, a);
                self.load(RCX, b);
                let carry = match self.loc[c.0 as usize] {
                    Loc::Imm(k) => Some(k & 1),
                    _ => {
                        self.load(RDX, c);
                        None
                    }
                };
                match carry {
                    Some(0) => dynasm!(self.a ; .arch x64 ; clc),
                    Some(_) => dynasm!(self.a ; .arch x64 ; stc),
                    None => dynasm!(self.a ; .arch x64 ; bt edx, 0),
                }
                match w {
                    Width::W64 => dynasm!(self.a ; .arch x64 ; adc rax, rcx),
                    Width::W32 => dynasm!(self.a ; .arch x64 ; adc eax, ecx),
                }
                self.store(d, RAX);
                self.adc_flags(i, false);
            }
            Inst::SubC(a, b, w) if flags_only(self.block, &self.uses, i) => {
                // Only the flags are used (CMP): no result.
                self.compare(a, b, w);
                self.adc_flags(i, true);
                self.keep_flags(i);
            }
            Inst::SubCImm(a, k, w) if flags_only(self.block, &self.uses, i) => {
                let ra = self.reg_or(a, RAX);
                match w {
                    Width::W32 => dynasm!(self.a ; .arch x64 ; cmp Rd(ra), k as i32),
                    Width::W64 => dynasm!(self.a ; .arch x64 ; cmp Rq(ra), k as i32),
                }
                self.adc_flags(i, true);
                self.keep_flags(i);
            }
            Inst::SubC(a, b, w) => {
                let r = self.dst(d);
                self.load(r, a);
                let rb = self.reg_or(b, RCX);
                match w {
                    Width::W64 => dynasm!(self.a ; .arch x64 ; sub Rq(r), Rq(rb)),
                    Width::W32 => dynasm!(self.a ; .arch x64 ; sub Rd(r), Rd(rb)),
                }
                self.store(d, r);
                self.adc_flags(i, true);
                self.keep_flags(i);
            }
            Inst::SubCImm(a, k, w) => {
                let r = self.dst(d);
                self.load(r, a);
                match w {
                    Width::W32 => dynasm!(self.a ; .arch x64 ; sub Rd(r), k as u32 as i32),
                    Width::W64 if k as i64 == i64::from(k as i64 as i32) => {
                        dynasm!(self.a ; .arch x64 ; sub Rq(r), k as i64 as i32)
                    }
                    Width::W64 => {
                        // (mov does not touch the flags; sub sets them.)
                        self.mov_imm(RCX, k);
                        dynasm!(self.a ; .arch x64 ; sub Rq(r), rcx);
                    }
                }
                self.store(d, r);
                self.adc_flags(i, true);
                self.keep_flags(i);
            }
            Inst::AdcFlags(_) => {} // emitted with its Adc
            Inst::LogicFlags(v, w) => {
                self.load(RAX, v);
                match w {
                    Width::W64 => dynasm!(self.a ; .arch x64 ; test rax, rax),
                    Width::W32 => dynasm!(self.a ; .arch x64 ; test eax, eax),
                }
                self.flags_to_nzcv(false);
                self.store(d, RAX);
            }
            Inst::CondHolds(..) if self.fused[i] => {} // emitted by its user
            Inst::CondHolds(n, cond) => {
                let mask = cond_mask(cond) as i32;
                self.load(RAX, n);
                dynasm!(self.a
                    ; .arch x64
                    ; shr eax, 28
                    ; mov ecx, mask
                    ; bt ecx, eax
                    ; setc al
                    ; movzx eax, al
                );
                self.store(d, RAX);
            }
            Inst::Select(c, x, y) if self.fused[c.0 as usize] => {
                // The condition first: the moves after it keep the flags.
                let cc = self.fused_cc(c);
                self.load(RAX, y);
                self.load(RCX, x);
                self.cmov_rax_rcx(cc);
                self.store(d, RAX);
            }
            Inst::Select(c, x, y) => {
                self.load(RAX, y);
                self.load(RCX, x);
                self.load(RDX, c);
                dynasm!(self.a
                    ; .arch x64
                    ; test rdx, rdx
                    ; cmovnz rax, rcx
                );
                self.store(d, RAX);
            }
            Inst::Load(ref mem) => {
                let (pc, raw) = self.block.insns[usize::from(mem.sync.insn)];
                let label = self.a.new_dynamic_label();
                let back = self.a.new_dynamic_label();
                // Straight into the result's register; the slow paths
                // put it there too before coming back.
                if mem.acc.unprivileged {
                    dynasm!(self.a ; .arch x64 ; jmp =>label);
                } else {
                    let index = self.tlb_probe(mem, false, label);
                    let r = self.dst(d);
                    self.host_load(index, mem.size, r);
                    self.store(d, r);
                }
                dynasm!(self.a ; .arch x64 ; =>back);
                self.slow.push(Slow::Load {
                    at: i,
                    label,
                    back,
                    mem: *mem,
                    pc,
                    raw,
                });
            }
            Inst::Store(ref mem, value) => {
                let (pc, raw) = self.block.insns[usize::from(mem.sync.insn)];
                let label = self.a.new_dynamic_label();
                let back = self.a.new_dynamic_label();
                if mem.acc.unprivileged {
                    dynasm!(self.a ; .arch x64 ; jmp =>label);
                } else {
                    let index = self.tlb_probe(mem, true, label);
                    self.host_store(index, mem.size, value);
                }
                dynasm!(self.a ; .arch x64 ; =>back);
                // Only a helper call changes the budget: the exit check
                // right after this store is made on its slow path alone,
                // when it is the instruction's only access (for a pair,
                // the first half's slow path may be the one that ends it).
                let next = (i + 1..block.code.len()).find(|&j| !matches!(block.code[j], Inst::Nop | Inst::Const(_)));
                let only = block.code[block.insn_start(i)..i].iter().all(|x| !Block::has_effect(x));
                let check = match next.map(|j| (j, &block.code[j])) {
                    Some((j, Inst::CheckExit(..))) if only => {
                        let l = self.a.new_dynamic_label();
                        self.check_after = Some((j, l));
                        Some(l)
                    }
                    _ => None,
                };
                self.slow.push(Slow::Store {
                    check,
                    label,
                    back,
                    mem: *mem,
                    value,
                    pc,
                    raw,
                });
            }
            Inst::CheckSp(sp, ref sync) => {
                let (pc, raw) = self.block.insns[usize::from(sync.insn)];
                let label = self.a.new_dynamic_label();
                let back = self.a.new_dynamic_label();
                self.load(RAX, sp);
                dynasm!(self.a
                    ; .arch x64
                    ; test al, 15
                    ; jnz =>label
                    ; =>back
                );
                self.slow.push(Slow::CheckSp {
                    label,
                    back,
                    sp,
                    sync: *sync,
                    pc,
                    raw,
                });
            }
            Inst::Interp { insn, ref sync, ends } => {
                let (pc, raw) = self.block.insns[usize::from(insn)];
                self.writeback(block.wb(sync.wb));
                self.exact_icount(sync.retired);
                self.mov_imm(RAX, pc);
                self.set_arg(2, RAX);
                self.mov_imm(RAX, u64::from(raw) | u64::from(ends) << 32);
                self.set_arg(3, RAX);
                let regs = self.live_caller_saved(i);
                self.push_regs(&regs);
                self.call_ctx_helper(self.env.helper_interp);
                self.pop_regs(&regs);
                let ret = self.ret_label;
                dynasm!(self.a
                    ; .arch x64
                    ; test eax, eax
                    ; jnz =>ret
                );
            }
            Inst::Atomic(kind, ref mem, a, b) => {
                let (pc, raw) = self.block.insns[usize::from(mem.sync.insn)];
                let label = self.a.new_dynamic_label();
                if let Some(x) = self.tlb_probe(mem, true, label) {
                    dynasm!(self.a ; .arch x64 ; add rax, Rq(x));
                }
                if kind == AtomicKind::ZeroBlock {
                    // rcx: the fast-path entry.
                    self.tlb_entry();
                    let (pa, ok) = (tlb_entry::PA, tlb_entry::ZVA_OK as i8);
                    dynasm!(self.a
                        ; .arch x64
                        ; test BYTE [rcx + pa], ok
                        ; jz =>label
                        ; xorps xmm0, xmm0
                        ; movdqu [rax], xmm0
                        ; movdqu [rax + 16], xmm0
                        ; movdqu [rax + 32], xmm0
                        ; movdqu [rax + 48], xmm0
                        ; xor edx, edx
                    );
                    self.store(d, RDX);
                    self.slow.push(Slow::InterpExit {
                        label,
                        addr: mem.addr,
                        sync: mem.sync,
                        pc,
                        raw,
                        helper: self.env.helper_zva,
                    });
                    return Ok(());
                }
                // rax: the host address; rdx: the old value; rcx: the new.
                match mem.size {
                    1 => dynasm!(self.a ; .arch x64 ; movzx edx, BYTE [rax]),
                    2 => dynasm!(self.a ; .arch x64 ; movzx edx, WORD [rax]),
                    4 => dynasm!(self.a ; .arch x64 ; mov edx, DWORD [rax]),
                    _ => dynasm!(self.a ; .arch x64 ; mov rdx, QWORD [rax]),
                }
                self.load(RCX, a);
                let skip = self.a.new_dynamic_label();
                match kind {
                    AtomicKind::Cas => {
                        // `expected` is zero-extended like the old value.
                        dynasm!(self.a ; .arch x64 ; cmp rdx, rcx ; jne =>skip);
                        self.load(RCX, b);
                    }
                    AtomicKind::Rmw(op) => self.atomic_op(op, mem.size),
                    AtomicKind::ZeroBlock => unreachable!("emitted above"),
                }
                match mem.size {
                    1 => dynasm!(self.a ; .arch x64 ; mov BYTE [rax], cl),
                    2 => dynasm!(self.a ; .arch x64 ; mov WORD [rax], cx),
                    4 => dynasm!(self.a ; .arch x64 ; mov DWORD [rax], ecx),
                    _ => dynasm!(self.a ; .arch x64 ; mov QWORD [rax], rcx),
                }
                dynasm!(self.a ; .arch x64 ; =>skip);
                self.store(d, RDX);
                self.slow.push(Slow::InterpExit {
                    label,
                    addr: mem.addr,
                    sync: mem.sync,
                    pc,
                    raw,
                    helper: self.env.helper_atomic,
                });
            }
            Inst::SysGet(loc) => {
                let r = self.dst(d);
                match loc {
                    SysLoc::Table(reg) => {
                        let (sys, off) = (self.env.ctx_sysregs, 8 * reg as i32);
                        dynasm!(self.a
                            ; .arch x64
                            ; mov Rq(r), QWORD [rbx + sys]
                            ; mov Rq(r), QWORD [Rq(r) + off]
                        );
                    }
                    SysLoc::SpEl0 => {
                        let off = self.env.cpu_sp_el;
                        dynasm!(self.a ; .arch x64 ; mov Rq(r), QWORD [rbp + off]);
                    }
                    SysLoc::Daif => {
                        let off = self.env.cpu_daif;
                        dynasm!(self.a ; .arch x64 ; mov Rd(r), DWORD [rbp + off] ; shl Rd(r), 6);
                    }
                }
                self.store(d, r);
            }
            Inst::SysSet(loc, v) => {
                self.load(RCX, v);
                match loc {
                    SysLoc::Table(reg) => {
                        let (sys, off) = (self.env.ctx_sysregs, 8 * reg as i32);
                        dynasm!(self.a
                            ; .arch x64
                            ; mov rax, QWORD [rbx + sys]
                            ; mov QWORD [rax + off], rcx
                        );
                    }
                    SysLoc::SpEl0 => {
                        let off = self.env.cpu_sp_el;
                        dynasm!(self.a ; .arch x64 ; mov QWORD [rbp + off], rcx);
                    }
                    SysLoc::Daif => {
                        let off = self.env.cpu_daif;
                        dynasm!(self.a
                            ; .arch x64
                            ; shr ecx, 6
                            ; and ecx, 0xf
                            ; mov DWORD [rbp + off], ecx
                        );
                    }
                }
            }
            Inst::GetQ(_) if self.q_reg[i] != NO_Q_REG => {}
            Inst::GetQ(r) => {
                let src = self.v_off(r);
                let dst = self.q_off(QVal(i as u32));
                dynasm!(self.a
                    ; .arch x64
                    ; movdqu xmm0, [rbp + src]
                    ; movdqu [rbx + dst], xmm0
                );
            }
            Inst::SetQ(r, q) if self.q_out[q.0 as usize] == r => {}
            Inst::SetQ(r, q) => {
                let dst = self.v_off(r);
                let (base, src) = self.q_src(q);
                dynasm!(self.a
                    ; .arch x64
                    ; movdqu xmm0, [Rq(base) + src]
                    ; movdqu [rbp + dst], xmm0
                );
            }
            Inst::QImm(_) if self.q_out[i] == IN_XMM0 => dynasm!(self.a ; .arch x64 ; pxor xmm0, xmm0),
            Inst::QImm([lo, hi]) => {
                let v = u128::from(lo) | u128::from(hi) << 64;
                // One 16-byte store (see `SetQPair`).
                let dst = self.q_off(QVal(i as u32));
                if v == 0 {
                    dynasm!(self.a ; .arch x64 ; pxor xmm0, xmm0);
                } else {
                    self.mov_imm(RAX, v as u64);
                    dynasm!(self.a ; .arch x64 ; movq xmm0, rax);
                    self.mov_imm(RAX, (v >> 64) as u64);
                    dynasm!(self.a ; .arch x64 ; movq xmm1, rax ; punpcklqdq xmm0, xmm1);
                }
                dynasm!(self.a ; .arch x64 ; movdqu [rbx + dst], xmm0);
            }
            Inst::QLane(q, esize, idx) => {
                let (base, off) = self.q_src(q);
                let off = off + i32::from(esize) * i32::from(idx);
                let r = self.dst(d);
                match esize {
                    1 => dynasm!(self.a ; .arch x64 ; movzx Rd(r), BYTE [Rq(base) + off]),
                    2 => dynasm!(self.a ; .arch x64 ; movzx Rd(r), WORD [Rq(base) + off]),
                    4 => dynasm!(self.a ; .arch x64 ; mov Rd(r), DWORD [Rq(base) + off]),
                    _ => dynasm!(self.a ; .arch x64 ; mov Rq(r), QWORD [Rq(base) + off]),
                }
                self.store(d, r);
            }
            Inst::QRegLane(reg, esize, idx) => {
                // Not through `lane_load`: dynasm encodes a dynamic `rbp`
                // base with a SIB byte, four bytes longer.
                let off = self.v_off(reg) + i32::from(esize) * i32::from(idx);
                let r = self.dst(d);
                match esize {
                    1 => dynasm!(self.a ; .arch x64 ; movzx Rd(r), BYTE [rbp + off]),
                    2 => dynasm!(self.a ; .arch x64 ; movzx Rd(r), WORD [rbp + off]),
                    4 => dynasm!(self.a ; .arch x64 ; mov Rd(r), DWORD [rbp + off]),
                    _ => dynasm!(self.a ; .arch x64 ; mov Rq(r), QWORD [rbp + off]),
                }
                self.store(d, r);
            }
            Inst::SetQZext(reg, v, esize) => {
                let dst = self.v_off(reg);
                self.load(RAX, v);
                // movd/movq clear the rest of xmm0.
                match esize {
                    1 => dynasm!(self.a ; .arch x64 ; movzx eax, al ; movd xmm0, eax),
                    2 => dynasm!(self.a ; .arch x64 ; movzx eax, ax ; movd xmm0, eax),
                    4 => dynasm!(self.a ; .arch x64 ; movd xmm0, eax),
                    _ => dynasm!(self.a ; .arch x64 ; movq xmm0, rax),
                }
                dynasm!(self.a ; .arch x64 ; movdqu [rbp + dst], xmm0);
            }
            Inst::SetQPair(reg, lo, hi) => {
                // One 16-byte store: a later 16-byte load of the register
                // cannot be forwarded from two 8-byte stores, and stalls.
                let dst = self.v_off(reg);
                self.load(RAX, lo);
                dynasm!(self.a ; .arch x64 ; movq xmm0, rax);
                self.load(RAX, hi);
                dynasm!(self.a
                    ; .arch x64
                    ; movq xmm1, rax
                    ; punpcklqdq xmm0, xmm1
                    ; movdqu [rbp + dst], xmm0
                );
            }
            Inst::QWithLane(q, esize, idx, v) if self.env.host_sse41 => {
                // A chain of lane inserts (DUP, INS, by-element operands)
                // builds the value in xmm0 and stores it once: a 16-byte
                // load of a slot just written in part cannot be forwarded
                // from the store, and stalls.
                if self.q_out[q.0 as usize] != IN_XMM0 {
                    let (base, src) = self.q_src(q);
                    dynasm!(self.a ; .arch x64 ; movdqu xmm0, [Rq(base) + src]);
                }
                self.load(RAX, v);
                let idx = idx as i8;
                match esize {
                    1 => dynasm!(self.a ; .arch x64 ; pinsrb xmm0, eax, idx),
                    2 => dynasm!(self.a ; .arch x64 ; pinsrw xmm0, eax, idx),
                    4 => dynasm!(self.a ; .arch x64 ; pinsrd xmm0, eax, idx),
                    _ => dynasm!(self.a ; .arch x64 ; pinsrq xmm0, rax, idx),
                }
                if self.q_out[i] != IN_XMM0 {
                    let dst = self.q_off(QVal(i as u32));
                    dynasm!(self.a ; .arch x64 ; movdqu [rbx + dst], xmm0);
                }
            }
            Inst::QWithLane(q, esize, idx, v) => {
                let (base, src) = self.q_src(q);
                let dst = self.q_off(QVal(i as u32));
                let off = dst + i32::from(esize) * i32::from(idx);
                self.load(RAX, v);
                dynasm!(self.a
                    ; .arch x64
                    ; movdqu xmm0, [Rq(base) + src]
                    ; movdqu [rbx + dst], xmm0
                );
                match esize {
                    1 => dynasm!(self.a ; .arch x64 ; mov BYTE [rbx + off], al),
                    2 => dynasm!(self.a ; .arch x64 ; mov WORD [rbx + off], ax),
                    4 => dynasm!(self.a ; .arch x64 ; mov DWORD [rbx + off], eax),
                    _ => dynasm!(self.a ; .arch x64 ; mov QWORD [rbx + off], rax),
                }
            }
            Inst::QCall(HelperOp::Q(op), qs) if qs.len() == 2 => {
                // Bitwise whole-register operations: SSE2 directly.
                let qs = block.lists.qargs(qs);
                let ((ra, a), (rb, b)) = (self.q_src(qs[0]), self.q_src(qs[1]));
                let (ro, out) = self.q_dst(i);
                dynasm!(self.a
                    ; .arch x64
                    ; movdqu xmm0, [Rq(ra) + a]
                    ; movdqu xmm1, [Rq(rb) + b]
                );
                match op {
                    QOp::And => dynasm!(self.a ; .arch x64 ; pand xmm0, xmm1),
                    QOp::Orr => dynasm!(self.a ; .arch x64 ; por xmm0, xmm1),
                    QOp::Eor => dynasm!(self.a ; .arch x64 ; pxor xmm0, xmm1),
                    // pandn: xmm1 = !xmm1 & xmm0.
                    QOp::Bic => dynasm!(self.a ; .arch x64 ; pandn xmm1, xmm0 ; movdqa xmm0, xmm1),
                    QOp::Orn => dynasm!(self.a ; .arch x64 ; pcmpeqd xmm7, xmm7 ; pxor xmm1, xmm7 ; por xmm0, xmm1),
                }
                dynasm!(self.a ; .arch x64 ; movdqu [Rq(ro) + out], xmm0);
            }
            Inst::QCall(op, qs) => {
                let qs = block.lists.qargs(qs);
                let (slow, done) = (self.a.new_dynamic_label(), self.a.new_dynamic_label());
                let packed = match op {
                    HelperOp::FpLanes(fop, size, lanes) => self.packed_fp(fop, size, lanes, qs, i, slow, done),
                    _ => false,
                };
                if packed {
                    dynasm!(self.a ; .arch x64 ; =>slow);
                }
                self.mov_imm(RAX, u64::from(self.ops[i]) | (qs.len() as u64) << 32);
                self.set_arg(0, RAX);
                for (k, q) in qs.iter().enumerate() {
                    let (base, off) = self.q_src(*q);
                    dynasm!(self.a ; .arch x64 ; lea rax, [Rq(base) + off]);
                    self.set_arg(1 + k as i32, RAX);
                }
                let (ro, out) = self.q_dst(i);
                dynasm!(self.a ; .arch x64 ; lea rax, [Rq(ro) + out]);
                self.set_arg(7, RAX);
                self.call_inline(i, self.env.helper_qcall);
                if packed {
                    dynasm!(self.a ; .arch x64 ; =>done);
                }
            }
            Inst::Call(HelperOp::Fp(fop @ (FpOp::Abs | FpOp::Neg), size @ (FpSize::S | FpSize::D)), vs) => {
                // Bit operations: no FPCR dependence, no flags.
                let vs = block.lists.args(vs);
                let r = self.dst(d);
                self.load(r, vs[0]);
                match (fop, size) {
                    (FpOp::Abs, FpSize::D) => dynasm!(self.a ; .arch x64 ; btr Rq(r), 63),
                    (FpOp::Neg, FpSize::D) => dynasm!(self.a ; .arch x64 ; btc Rq(r), 63),
                    (FpOp::Abs, _) => dynasm!(self.a ; .arch x64 ; and Rd(r), 0x7fff_ffff),
                    _ => dynasm!(self.a ; .arch x64 ; xor Rd(r), 0x8000_0000u32 as i32),
                }
                self.store(d, r);
            }
            Inst::Call(op, vs) => {
                let vs = block.lists.args(vs);
                let (slow, done) = (self.a.new_dynamic_label(), self.a.new_dynamic_label());
                let native = match op {
                    HelperOp::Fp(fop, size) => self.native_scalar(fop, size, vs, i, slow, done),
                    _ => false,
                };
                if native {
                    dynasm!(self.a ; .arch x64 ; =>slow);
                }
                self.mov_imm(RAX, u64::from(self.ops[i]) | (vs.len() as u64) << 32);
                self.set_arg(0, RAX);
                for (k, v) in vs.iter().enumerate() {
                    self.load(RAX, *v);
                    self.set_arg(1 + k as i32, RAX);
                }
                self.call_inline(i, self.env.helper_call);
                if native {
                    dynasm!(self.a ; .arch x64 ; =>done);
                }
                self.store(d, RAX);
            }
            Inst::CheckAlign(addr, size, write, ref sync) => {
                // A fast-path TLB hit proves it: the tag compare includes
                // the alignment bits, and a present entry means the page
                // translates with this access's permission.
                let (slow, done) = (self.a.new_dynamic_label(), self.a.new_dynamic_label());
                let mem = Mem {
                    addr,
                    size,
                    acc: Default::default(),
                    sync: *sync,
                };
                self.tlb_probe(&mem, write, slow);
                dynasm!(self.a ; .arch x64 ; jmp =>done ; =>slow);
                let (pc, raw) = self.block.insns[usize::from(sync.insn)];
                let info = u64::from(raw) | u64::from(size) << 32 | u64::from(write) << 40;
                let f = self.env.helper_check_align;
                self.faulting_call(sync, addr, None, pc, info, f, THUNK_STATUS_RET);
                dynasm!(self.a ; .arch x64 ; =>done);
            }
            Inst::ExitIf(c, target, ref e) => {
                let label = self.a.new_dynamic_label();
                let back = self.loop_head.is_some() && target == block.pc;
                if self.fused[c.0 as usize] {
                    let cc = self.fused_cc(c);
                    self.jcc(cc, label);
                } else {
                    self.load(RAX, c);
                    dynasm!(self.a
                        ; .arch x64
                        ; test rax, rax
                        ; jnz =>label
                    );
                }
                self.slow.push(if back {
                    Slow::BackEdge { label, exit: *e }
                } else {
                    Slow::Exit {
                        label,
                        target: Target::Direct(target),
                        exit: *e,
                        resume: None,
                    }
                });
            }
            Inst::CheckExit(pc, ref e) => {
                let label = match self.check_after.take() {
                    Some((j, l)) if j == i => l,
                    _ => {
                        let label = self.a.new_dynamic_label();
                        dynasm!(self.a
                            ; .arch x64
                            ; test r15, r15
                            ; jl =>label
                        );
                        label
                    }
                };
                self.slow.push(Slow::Exit {
                    label,
                    target: Target::Direct(pc),
                    exit: *e,
                    resume: Some(pc),
                });
            }
            Inst::IrqCheck(pc, ref e) => {
                let label = self.a.new_dynamic_label();
                self.call_inline(i, self.env.helper_irq);
                dynasm!(self.a
                    ; .arch x64
                    ; test rax, rax
                    ; jnz =>label
                );
                self.slow.push(Slow::Exit {
                    label,
                    target: Target::Direct(pc),
                    exit: *e,
                    resume: Some(pc),
                });
            }
            Inst::Exit(Target::Direct(t), ref e) if self.loop_head.is_some() && t == block.pc => self.back_edge(e),
            Inst::Exit(target, ref e) => self.exit_code(target, e, None),
        }
        Ok(())
    }

    /// `d = ` guest cell `c`.
    fn get_cell(&mut self, d: Val, c: Cell) {
        let off = self.cell_off(c);
        let r = self.dst(d);
        if c == Cell::Nzcv && self.raw[d.0 as usize] != 0 {
            // NZCV to the raw form, by table (`raw_nzcv_table`).
            let table = self.env.ctx_raw_nzcv + if self.raw[d.0 as usize] == RAW_SUB { 32 } else { 0 };
            dynasm!(self.a
                ; .arch x64
                ; mov eax, DWORD [rbp + off]
                ; shr eax, 28
                ; movzx Rd(r), WORD [rbx + rax * 2 + table]
            );
        } else if c == Cell::Nzcv {
            dynasm!(self.a ; .arch x64 ; mov Rd(r), DWORD [rbp + off]);
        } else {
            dynasm!(self.a ; .arch x64 ; mov Rq(r), QWORD [rbp + off]);
        }
        self.store(d, r);
    }

    /// A looped block's back edge: stores the cells the block does not
    /// read, moves the new values of the carried ones into their places
    /// and, budget permitting, runs the next iteration (else leaves for
    /// the dispatcher at the block's start with every carried cell
    /// written back).
    fn back_edge(&mut self, e: &Exit) {
        let wb = self.block.wb(e.wb);
        let mut moves = Vec::with_capacity(wb.len());
        let mut stores = Vec::with_capacity(wb.len());
        for &(c, v) in wb {
            match self.carried.iter().find(|&&(k, _)| k == c) {
                Some(&(_, g)) => moves.push((self.loc[g.0 as usize], self.loc[v.0 as usize])),
                None => stores.push((c, v)),
            }
        }
        // Stores first: their values may sit where carried cells move to.
        self.writeback(&stores);
        debug_assert_eq!(
            e.retired as usize,
            self.block.insns.len(),
            "a back edge retires the block"
        );
        self.parallel_move(moves);
        let head = self.loop_head.expect("a looped block has a loop head");
        let insns = self.block.insns.len() as i32;
        dynasm!(self.a
            ; .arch x64
            ; sub r15, insns
            ; jge =>head
            ; add r15, insns
        );
        let all = self.carried.clone();
        self.writeback(&all);
        self.mov_imm(RAX, self.block.pc);
        let pc_off = self.env.cpu_pc;
        dynasm!(self.a
            ; .arch x64
            ; mov QWORD [rbp + pc_off], rax
            ; mov eax, exit::BUDGET as i32
            ; ret
        );
    }

    /// Performs the moves `(to, from)` as if all at once (a destination
    /// may be another move's source), breaking cycles through `rax`.
    fn parallel_move(&mut self, mut moves: Vec<(Loc, Loc)>) {
        moves.retain(|(to, from)| to != from);
        while !moves.is_empty() {
            let ready = moves
                .iter()
                .position(|&(to, _)| !moves.iter().any(|&(_, from)| from == to));
            if let Some(k) = ready {
                let (to, from) = moves.swap_remove(k);
                self.move_loc(to, from);
            } else {
                // Only cycles are left: park one destination's old value.
                let (to, _) = moves[0];
                self.move_loc(Loc::Reg(RAX), to);
                for m in &mut moves {
                    if m.1 == to {
                        m.1 = Loc::Reg(RAX);
                    }
                }
            }
        }
    }

    /// `to = from` between places (`rcx` is the scratch for memory to
    /// memory).
    fn move_loc(&mut self, to: Loc, from: Loc) {
        let src = match from {
            Loc::Reg(r) => r,
            Loc::Slot(s) => {
                let off = self.slot_off(s);
                let r = match to {
                    Loc::Reg(r) => r,
                    _ => RCX,
                };
                dynasm!(self.a ; .arch x64 ; mov Rq(r), QWORD [rsp + off]);
                r
            }
            Loc::Imm(c) => {
                let r = match to {
                    Loc::Reg(r) => r,
                    _ => RCX,
                };
                self.mov_imm(r, c);
                r
            }
            Loc::None => unreachable!("a move from a value with no place"),
        };
        match to {
            Loc::Reg(r) if r != src => dynasm!(self.a ; .arch x64 ; mov Rq(r), Rq(src)),
            Loc::Reg(_) => {}
            Loc::Slot(s) => {
                let off = self.slot_off(s);
                dynasm!(self.a ; .arch x64 ; mov QWORD [rsp + off], Rq(src));
            }
            Loc::Imm(_) | Loc::None => unreachable!("a move to a place that is not one"),
        }
    }

    /// After the arithmetic instruction `i` (flags still in EFLAGS):
    /// materialises its `AdcFlags`, which always follows it, if live.
    /// `borrow`: the x86 carry is a borrow (SUB), the inverse of Arm's C.
    fn adc_flags(&mut self, i: usize, borrow: bool) {
        if let Some(j) = self.cc_from[i] {
            // The condition a following fused CondHolds tests, straight
            // from EFLAGS into dl (flags_to_nzcv leaves rdx alone).
            let Inst::CondHolds(_, cond) = self.block.code[j] else {
                unreachable!("cc_from names CondHolds");
            };
            if self.setcc_dl(cond, borrow) {
                self.cc_in_dl[j] = true;
            }
        }
        if let Some(Inst::AdcFlags(src)) = self.block.code.get(i + 1) {
            if src.0 as usize == i && self.loc[i + 1] != Loc::None && self.raw[i + 1] != 0 {
                dynasm!(self.a
                    ; .arch x64
                    ; lahf
                    ; seto al
                );
                self.store(Val(i as u32 + 1), RAX);
            } else if src.0 as usize == i && self.loc[i + 1] != Loc::None {
                self.flags_to_nzcv(true);
                if borrow {
                    dynasm!(self.a ; .arch x64 ; xor eax, 0x2000_0000);
                }
                self.store(Val(i as u32 + 1), RAX);
            }
        }
    }

    /// `dl` = Arm condition `cond` from the EFLAGS of an add (`borrow`
    /// false) or a subtract (`borrow`: x86 CF is NOT Arm C); false if no
    /// single x86 condition matches (HI/LS after an add, AL/NV).
    fn setcc_dl(&mut self, cond: u32, borrow: bool) -> bool {
        match (cond, borrow) {
            (0, _) => dynasm!(self.a ; .arch x64 ; sete dl),
            (1, _) => dynasm!(self.a ; .arch x64 ; setne dl),
            (2, true) | (3, false) => dynasm!(self.a ; .arch x64 ; setae dl),
            (2, false) | (3, true) => dynasm!(self.a ; .arch x64 ; setb dl),
            (4, _) => dynasm!(self.a ; .arch x64 ; sets dl),
            (5, _) => dynasm!(self.a ; .arch x64 ; setns dl),
            (6, _) => dynasm!(self.a ; .arch x64 ; seto dl),
            (7, _) => dynasm!(self.a ; .arch x64 ; setno dl),
            (8, true) => dynasm!(self.a ; .arch x64 ; seta dl),
            (9, true) => dynasm!(self.a ; .arch x64 ; setbe dl),
            (10, _) => dynasm!(self.a ; .arch x64 ; setge dl),
            (11, _) => dynasm!(self.a ; .arch x64 ; setl dl),
            (12, _) => dynasm!(self.a ; .arch x64 ; setg dl),
            (13, _) => dynasm!(self.a ; .arch x64 ; setle dl),
            _ => return false,
        }
        true
    }

    /// Offset from the context of 128-bit value `q`'s slot.
    fn q_off(&self, q: QVal) -> i32 {
        self.env.ctx_qslots + 16 * i32::from(self.qslot[q.0 as usize])
    }

    /// Where instruction `at`'s 128-bit result goes: `[base + off]`.
    fn q_dst(&self, at: usize) -> (u8, i32) {
        match self.q_out[at] {
            NO_Q_REG => (RBX, self.q_off(QVal(at as u32))),
            IN_XMM0 => unreachable!("only lane inserts and zeros stay in xmm0"),
            r => (RBP, self.v_off(r)),
        }
    }

    /// The offset of V`r` from the core (`rbp`).
    fn v_off(&self, r: u8) -> i32 {
        self.env.cpu_v + 16 * i32::from(r)
    }

    /// Where 128-bit operand `q` is: `[base + off]`, its slot or the V
    /// register it is read from in place.
    fn q_src(&self, q: QVal) -> (u8, i32) {
        match self.q_reg[q.0 as usize] {
            NO_Q_REG => (RBX, self.q_off(q)),
            r => (RBP, self.v_off(r)),
        }
    }

    /// The FPCR/FPSR half of the host-FPU shortcut's conditions
    /// (`cpu_aarch64::fp::host`): on to `slow` unless FPCR's FZ and RMode
    /// are clear, then on to `ixc_clear` (if any) unless FPSR.IXC is set.
    /// Emits nothing in the out-of-line copy (`detecting`), which runs
    /// only after the gate. Clobbers rax.
    fn fp_gate(&mut self, slow: DynamicLabel, ixc_clear: Option<DynamicLabel>) {
        self.fp_gate_fpcr(slow, ixc_clear, cpu_aarch64::fp::FPCR_NATIVE_MASK);
    }

    /// `fp_gate` with the FPCR bits that must be clear (`fpcr_clear`: the
    /// native mask and any the operation adds).
    fn fp_gate_fpcr(&mut self, slow: DynamicLabel, ixc_clear: Option<DynamicLabel>, fpcr_clear: u64) {
        if self.detecting {
            return;
        }
        let (sys, fpsr, fpcr) = (self.env.ctx_sysregs, self.env.sysreg_fpsr, self.env.sysreg_fpcr);
        dynasm!(self.a
            ; .arch x64
            ; mov rax, QWORD [rbx + sys]
            ; test DWORD [rax + fpcr], fpcr_clear as i32
            ; jnz =>slow
        );
        if let Some(to) = ixc_clear {
            dynasm!(self.a
                ; .arch x64
                ; test BYTE [rax + fpsr], cpu_aarch64::fp::IXC as i8
                ; jz =>to
            );
        }
    }

    /// Where the native path of instruction `at` (`op`) goes while
    /// FPSR.IXC is clear: nowhere special if it never raises Inexact
    /// (`cpu_aarch64::fp::never_inexact`); to an out-of-line copy that
    /// finds out (`detects_inexact`, `Slow::FpDetect`); else to `slow`.
    fn ixc_gate(
        &mut self,
        op: FpOp,
        size: FpSize,
        at: usize,
        slow: DynamicLabel,
        done: DynamicLabel,
    ) -> Option<DynamicLabel> {
        if self.detecting || cpu_aarch64::fp::never_inexact(op, size) {
            return None;
        }
        if !detects_inexact(op, self.env.host_fma) {
            return Some(slow);
        }
        let label = self.a.new_dynamic_label();
        self.slow.push(Slow::FpDetect { at, label, slow, done });
        Some(label)
    }

    /// The host-FPU shortcut of `cpu_aarch64::fp` (its `host.rs` states
    /// the conditions) inline: FPSR.IXC set, FPCR.FZ and RMode clear, the
    /// SSE result finite and above the smallest normal, else on to `slow`
    /// (the helper call, which decides everything). Result in `rax` at
    /// `done`. Clobbers rax, rcx, rdx, xmm0-xmm2.
    fn native_fp(&mut self, n: NativeFp, vs: &[Val], at: usize, slow: DynamicLabel, done: DynamicLabel) {
        use cpu_aarch64::sem::FpOp as F;
        let size = if n.double { FpSize::D } else { FpSize::S };
        let detect = self.detecting;
        let ixc = self.ixc_gate(n.op, size, at, slow, done);
        self.fp_gate(slow, ixc);
        // Out of the range check: a zero result may still stand.
        let zero = self.a.new_dynamic_label();
        let zero_ok = cpu_aarch64::fp::exact_zero_operands(n.op);
        let range_fail = if zero_ok.is_some() { zero } else { slow };
        if let F::FromInt { bits, .. } = n.op {
            // SCVTF rounds to nearest like the host; exact for zero.
            self.load(RAX, vs[0]);
            dynasm!(self.a ; .arch x64 ; movq xmm3, rax);
            match (n.double, bits == 64) {
                (true, true) => dynasm!(self.a ; .arch x64 ; cvtsi2sd xmm0, rax ; movq rax, xmm0),
                (true, false) => dynasm!(self.a ; .arch x64 ; cvtsi2sd xmm0, eax ; movq rax, xmm0),
                (false, true) => dynasm!(self.a ; .arch x64 ; cvtsi2ss xmm0, rax ; movd eax, xmm0),
                (false, false) => dynasm!(self.a ; .arch x64 ; cvtsi2ss xmm0, eax ; movd eax, xmm0),
            }
            // Inexact unless it converts back to the integer (a rounding
            // up to 2^63 or 2^31 converts back to the indefinite value).
            // A 32-bit integer always fits a double.
            if !n.double || bits == 64 {
                self.set_ixc_if(|me, inexact| {
                    match (n.double, bits == 64) {
                        (true, _) => dynasm!(me.a ; .arch x64 ; cvttsd2si rcx, xmm0 ; movq rdx, xmm3 ; cmp rcx, rdx),
                        (false, true) => {
                            dynasm!(me.a ; .arch x64 ; cvttss2si rcx, xmm0 ; movq rdx, xmm3 ; cmp rcx, rdx)
                        }
                        (false, false) => {
                            dynasm!(me.a ; .arch x64 ; cvttss2si ecx, xmm0 ; movd edx, xmm3 ; cmp ecx, edx)
                        }
                    }
                    dynasm!(me.a ; .arch x64 ; jne =>inexact);
                });
            }
            dynasm!(self.a ; .arch x64 ; jmp =>done);
            return;
        }
        for (k, v) in vs.iter().enumerate().take(3) {
            self.load(RAX, *v);
            let x = k as u8;
            if n.double {
                dynasm!(self.a ; .arch x64 ; movq Rx(x), rax);
            } else {
                dynasm!(self.a ; .arch x64 ; movd Rx(x), eax);
            }
        }
        if self.native_fp_exact(n, slow) {
            dynasm!(self.a ; .arch x64 ; jmp =>done);
            return;
        }
        let product = detect && matches!(n.op, F::Mul | F::MulX | F::NegMul);
        // FMA arguments are (addend, n, m): xmm0 = ±(xmm1 * xmm2) ± xmm0.
        if n.double {
            match n.op {
                F::Add => dynasm!(self.a ; .arch x64 ; addsd xmm0, xmm1),
                F::Sub | F::AbsDiff => dynasm!(self.a ; .arch x64 ; subsd xmm0, xmm1),
                F::Mul | F::MulX | F::NegMul => dynasm!(self.a ; .arch x64 ; mulsd xmm0, xmm1),
                F::Div => dynasm!(self.a ; .arch x64 ; divsd xmm0, xmm1),
                F::Sqrt => dynasm!(self.a ; .arch x64 ; sqrtsd xmm0, xmm0),
                F::MulAdd => dynasm!(self.a ; .arch x64 ; vfmadd231sd xmm0, xmm1, xmm2),
                F::MulSub => dynasm!(self.a ; .arch x64 ; vfnmadd231sd xmm0, xmm1, xmm2),
                F::NegMulAdd => dynasm!(self.a ; .arch x64 ; vfnmsub231sd xmm0, xmm1, xmm2),
                F::NegMulSub => dynasm!(self.a ; .arch x64 ; vfmsub231sd xmm0, xmm1, xmm2),
                _ => unreachable!("NativeFp::of admits only these"),
            }
            // |r| << 1 in (MIN_POSITIVE << 1, INFINITY << 1), as one
            // unsigned compare (PRODUCT_MIN for a product whose
            // inexactness is detected).
            let lo = if product {
                PRODUCT_MIN.1
            } else {
                f64::MIN_POSITIVE.to_bits()
            };
            let lo = (lo << 1) + 1;
            dynasm!(self.a
                ; .arch x64
                ; movq rax, xmm0
                ; lea rcx, [rax + rax]
                ; mov rdx, QWORD lo as i64
                ; sub rcx, rdx
                ; mov rdx, QWORD ((f64::INFINITY.to_bits() << 1) - lo) as i64
                ; cmp rcx, rdx
                ; jae =>range_fail
            );
        } else {
            match n.op {
                F::Add => dynasm!(self.a ; .arch x64 ; addss xmm0, xmm1),
                F::Sub | F::AbsDiff => dynasm!(self.a ; .arch x64 ; subss xmm0, xmm1),
                F::Mul | F::MulX | F::NegMul => dynasm!(self.a ; .arch x64 ; mulss xmm0, xmm1),
                F::Div => dynasm!(self.a ; .arch x64 ; divss xmm0, xmm1),
                F::Sqrt => dynasm!(self.a ; .arch x64 ; sqrtss xmm0, xmm0),
                F::MulAdd => dynasm!(self.a ; .arch x64 ; vfmadd231ss xmm0, xmm1, xmm2),
                F::MulSub => dynasm!(self.a ; .arch x64 ; vfnmadd231ss xmm0, xmm1, xmm2),
                F::NegMulAdd => dynasm!(self.a ; .arch x64 ; vfnmsub231ss xmm0, xmm1, xmm2),
                F::NegMulSub => dynasm!(self.a ; .arch x64 ; vfmsub231ss xmm0, xmm1, xmm2),
                _ => unreachable!("NativeFp::of admits only these"),
            }
            let lo = if product {
                PRODUCT_MIN.0
            } else {
                f32::MIN_POSITIVE.to_bits()
            };
            let lo = (lo << 1) + 1;
            dynasm!(self.a
                ; .arch x64
                ; movd eax, xmm0
                ; lea ecx, [rax + rax]
                ; sub ecx, lo as i32
                ; cmp ecx, ((f32::INFINITY.to_bits() << 1) - lo) as i32
                ; jae =>range_fail
            );
        }
        if detect {
            // Operands again in xmm1 and xmm2, the result in xmm0.
            let double = n.double;
            self.set_ixc_if(|me, inexact| {
                for (k, v) in vs.iter().enumerate().take(2) {
                    me.load(RDX, *v);
                    let x = 1 + k as u8;
                    if double {
                        dynasm!(me.a ; .arch x64 ; movq Rx(x), rdx);
                    } else {
                        dynasm!(me.a ; .arch x64 ; movd Rx(x), edx);
                    }
                }
                me.rounding_error(n.op, double, false);
                dynasm!(me.a ; .arch x64 ; xorps xmm6, xmm6);
                if double {
                    dynasm!(me.a ; .arch x64 ; ucomisd xmm5, xmm6);
                } else {
                    dynasm!(me.a ; .arch x64 ; ucomiss xmm5, xmm6);
                }
                dynasm!(me.a ; .arch x64 ; jne =>inexact ; jp =>inexact);
            });
        }
        let fix = self.a.new_dynamic_label();
        dynasm!(self.a ; .arch x64 ; =>fix);
        match (n.op, n.double) {
            (F::AbsDiff, true) => dynasm!(self.a ; .arch x64 ; btr rax, 63),
            (F::NegMul, true) => dynasm!(self.a ; .arch x64 ; btc rax, 63),
            (F::AbsDiff, false) => dynasm!(self.a ; .arch x64 ; and eax, 0x7fff_ffff),
            (F::NegMul, false) => dynasm!(self.a ; .arch x64 ; xor eax, 0x8000_0000u32 as i32),
            _ => {}
        }
        dynasm!(self.a ; .arch x64 ; jmp =>done);
        if let Some(operands) = zero_ok {
            // Off the fast path: a result of ±0 (else the helper), with a
            // zero operand where the operation needs one.
            dynasm!(self.a ; .arch x64 ; =>zero);
            if n.double {
                dynasm!(self.a ; .arch x64 ; lea rcx, [rax + rax] ; test rcx, rcx ; jnz =>slow);
            } else {
                dynasm!(self.a ; .arch x64 ; lea ecx, [rax + rax] ; test ecx, ecx ; jnz =>slow);
            }
            for (k, &o) in operands.iter().enumerate() {
                self.load(RCX, vs[o]);
                if n.double {
                    dynasm!(self.a ; .arch x64 ; add rcx, rcx);
                } else {
                    dynasm!(self.a ; .arch x64 ; add ecx, ecx);
                }
                if k + 1 < operands.len() {
                    dynasm!(self.a ; .arch x64 ; jz =>fix);
                } else {
                    dynasm!(self.a ; .arch x64 ; jnz =>slow);
                }
            }
            dynasm!(self.a ; .arch x64 ; jmp =>fix);
        }
    }

    /// The native path of scalar FP operation `op` (instruction `at`),
    /// if it has one: the result in rax at `done`, else on to `slow`.
    /// `false` if nothing was emitted.
    fn native_scalar(
        &mut self,
        op: FpOp,
        size: FpSize,
        vs: &[Val],
        at: usize,
        slow: DynamicLabel,
        done: DynamicLabel,
    ) -> bool {
        if let Some(n) = NativeFp::of(op, size, self.env.host_fma) {
            self.native_fp(n, vs, at, slow, done);
            return true;
        }
        match (op, size) {
            (FpOp::Convert { to: FpSize::S }, FpSize::H) | (FpOp::Convert { to: FpSize::H }, FpSize::S)
                if self.env.host_f16c =>
            {
                self.native_half(size == FpSize::H, vs[0], at, slow, done);
                true
            }
            _ => false,
        }
    }

    /// FCVT between half and single precision with F16C, with FPCR.AHP
    /// clear too (the IEEE half format): half to single is exact but for
    /// an infinity or a NaN (exponent 31, also the top of the other
    /// format); single to half rounds to nearest like the host when the
    /// half result is finite and normal (else a NaN, an overflow or an
    /// underflow for the helper), Inexact unless it converts back.
    fn native_half(&mut self, from_half: bool, v: Val, at: usize, slow: DynamicLabel, done: DynamicLabel) {
        use cpu_aarch64::sysreg::fpcr;
        let size = if from_half { FpSize::H } else { FpSize::S };
        // Half to single never raises Inexact.
        let ixc = match from_half {
            true => None,
            false => self.ixc_gate(FpOp::Convert { to: FpSize::H }, size, at, slow, done),
        };
        self.fp_gate_fpcr(slow, ixc, cpu_aarch64::fp::FPCR_NATIVE_MASK | fpcr::AHP);
        self.load(RAX, v);
        if from_half {
            // vcvtph2ps xmm0, xmm0 (VEX.128.66.0F38.W0 13 /r).
            dynasm!(self.a
                ; .arch x64
                ; movzx eax, ax
                ; mov ecx, eax
                ; and ecx, 0x7fff
                ; cmp ecx, 0x7c00
                ; ja =>slow
                ; movd xmm0, eax
            );
            for b in [0xc4, 0xe2, 0x79, 0x13, 0xc0] {
                self.a.push(b);
            }
            dynasm!(self.a ; .arch x64 ; movd eax, xmm0 ; jmp =>done);
            return;
        }
        let special = self.a.new_dynamic_label();
        // vcvtps2ph xmm1, xmm0, 0 (VEX.128.66.0F3A.W0 1D /r ib; round to
        // nearest even).
        dynasm!(self.a ; .arch x64 ; movd xmm0, eax);
        for b in [0xc4, 0xe3, 0x79, 0x1d, 0xc1, 0x00] {
            self.a.push(b);
        }
        dynasm!(self.a
            ; .arch x64
            ; movd eax, xmm1
            ; movzx eax, ax
            ; lea ecx, [rax - 0x400]
            ; and ecx, 0x7c00
            ; cmp ecx, 0x7800
            ; jae =>special
        );
        self.set_ixc_if(|me, inexact| {
            // vcvtph2ps xmm2, xmm1
            for b in [0xc4, 0xe2, 0x79, 0x13, 0xd1] {
                me.a.push(b);
            }
            dynasm!(me.a ; .arch x64 ; ucomiss xmm2, xmm0 ; jne =>inexact);
        });
        // An infinite result: exact from an infinity, else an overflow
        // (Overflow and Inexact, whatever FPSR.IXC was). Zeros and
        // denormals (Arm detects tininess before rounding, x86 after)
        // and NaNs go to the helper.
        dynasm!(self.a
            ; .arch x64
            ; jmp =>done
            ; =>special
            ; mov ecx, eax
            ; and ecx, 0x7fff
            ; cmp ecx, 0x7c00
            ; jne =>slow
            ; movd ecx, xmm0
            ; and ecx, 0x7fff_ffff
            ; cmp ecx, 0x7f80_0000
            ; je =>done
        );
        self.or_fpsr(cpu_aarch64::fp::OFC | cpu_aarch64::fp::IXC);
        dynasm!(self.a ; .arch x64 ; jmp =>done);
    }

    /// ORs cumulative exception `flags` into FPSR; clobbers rcx.
    fn or_fpsr(&mut self, flags: u32) {
        let (sys, fpsr) = (self.env.ctx_sysregs, self.env.sysreg_fpsr);
        dynasm!(self.a
            ; .arch x64
            ; mov rcx, QWORD [rbx + sys]
            ; or BYTE [rcx + fpsr], flags as i8
        );
    }

    /// In the out-of-line copy (`detecting`, FPSR.IXC clear): sets
    /// FPSR.IXC when `check` finds the result inexact. `check` emits code
    /// that jumps to its label if so, and may clobber rcx, rdx and
    /// xmm1-xmm7 (not rax or xmm0). Emits nothing in the hot path.
    fn set_ixc_if(&mut self, check: impl FnOnce(&mut Self, DynamicLabel)) {
        if !self.detecting {
            return;
        }
        let (inexact, skip) = (self.a.new_dynamic_label(), self.a.new_dynamic_label());
        check(self, inexact);
        dynasm!(self.a ; .arch x64 ; jmp =>skip ; =>inexact);
        self.or_fpsr(cpu_aarch64::fp::IXC);
        dynasm!(self.a ; .arch x64 ; =>skip);
    }

    /// xmm5 = the rounding error of `op` (`detects_inexact`: a sum,
    /// difference or product) whose rounded result is in xmm0 and
    /// operands in xmm1 and xmm2; zero (in every lane, `packed`) exactly
    /// when the result is exact. Clobbers xmm2-xmm4.
    fn rounding_error(&mut self, op: FpOp, double: bool, packed: bool) {
        match op {
            FpOp::Mul | FpOp::MulX | FpOp::NegMul => {
                // xmm5 = xmm1 * xmm2 - xmm5 (vfmsub231{sd,ss,pd,ps}
                // xmm5, xmm1, xmm2: VEX.LIG.66.0F38.W{1,0} {BB,BB,BA,BA}
                // /r), as bytes (see MulAdd in `packed_fp`).
                dynasm!(self.a ; .arch x64 ; movaps xmm5, xmm0);
                let w = if double { 0xf1 } else { 0x71 };
                let opcode = if packed { 0xba } else { 0xbb };
                for b in [0xc4, 0xe2, w, opcode, 0xea] {
                    self.a.push(b);
                }
            }
            _ => {
                // TwoSum of a and b' (b, or -b for a difference): bv = s - a,
                // av = s - bv, error = (a - av) + (b' - bv); for a
                // difference b' - bv = -(b + bv).
                let sub = matches!(op, FpOp::Sub | FpOp::AbsDiff);
                macro_rules! twosum {
                    ($add:ident, $subi:ident) => {{
                        dynasm!(self.a
                            ; .arch x64
                            ; movaps xmm3, xmm0
                            ; $subi xmm3, xmm1
                            ; movaps xmm4, xmm0
                            ; $subi xmm4, xmm3
                            ; movaps xmm5, xmm1
                            ; $subi xmm5, xmm4
                        );
                        if sub {
                            dynasm!(self.a ; .arch x64 ; $add xmm2, xmm3 ; $subi xmm5, xmm2);
                        } else {
                            dynasm!(self.a ; .arch x64 ; $subi xmm2, xmm3 ; $add xmm5, xmm2);
                        }
                    }};
                }
                match (double, packed) {
                    (true, false) => twosum!(addsd, subsd),
                    (false, false) => twosum!(addss, subss),
                    (true, true) => twosum!(addpd, subpd),
                    (false, true) => twosum!(addps, subps),
                }
            }
        }
    }

    /// The exact operations of the FP shortcut (operands in xmm0/xmm1,
    /// result to rax); `false` if `n` is not one of them.
    fn native_fp_exact(&mut self, n: NativeFp, slow: DynamicLabel) -> bool {
        use cpu_aarch64::sem::FpOp as F;
        match n.op {
            F::Compare { .. } => {
                // Unordered (PF) needs the soft path; else NZCV from ZF/CF
                // (the movs keep the flags).
                if n.double {
                    dynasm!(self.a ; .arch x64 ; ucomisd xmm0, xmm1);
                } else {
                    dynasm!(self.a ; .arch x64 ; ucomiss xmm0, xmm1);
                }
                dynasm!(self.a
                    ; .arch x64
                    ; jp =>slow
                    ; mov eax, 0x2000_0000
                    ; mov ecx, 0x6000_0000
                    ; cmove eax, ecx
                    ; mov ecx, 0x8000_0000u32 as i32
                    ; cmovb eax, ecx
                );
            }
            F::Max | F::Min | F::MaxNum | F::MinNum => {
                // No NaN and not equal (±0 pairs): then the host's max/min
                // is Arm's.
                let max = matches!(n.op, F::Max | F::MaxNum);
                match (n.double, max) {
                    (true, true) => {
                        dynasm!(self.a ; .arch x64 ; ucomisd xmm0, xmm1 ; jp =>slow ; je =>slow ; maxsd xmm0, xmm1 ; movq rax, xmm0)
                    }
                    (true, false) => {
                        dynasm!(self.a ; .arch x64 ; ucomisd xmm0, xmm1 ; jp =>slow ; je =>slow ; minsd xmm0, xmm1 ; movq rax, xmm0)
                    }
                    (false, true) => {
                        dynasm!(self.a ; .arch x64 ; ucomiss xmm0, xmm1 ; jp =>slow ; je =>slow ; maxss xmm0, xmm1 ; movd eax, xmm0)
                    }
                    (false, false) => {
                        dynasm!(self.a ; .arch x64 ; ucomiss xmm0, xmm1 ; jp =>slow ; je =>slow ; minss xmm0, xmm1 ; movd eax, xmm0)
                    }
                }
            }
            F::CmpEq | F::CmpGe | F::CmpGt => {
                // FCMEQ/FCMGE/FCMGT: a NaN (Invalid, or not, by the
                // operation) for the helper; else all ones of the format
                // when it holds.
                if n.double {
                    dynasm!(self.a ; .arch x64 ; ucomisd xmm0, xmm1);
                } else {
                    dynasm!(self.a ; .arch x64 ; ucomiss xmm0, xmm1);
                }
                dynasm!(self.a ; .arch x64 ; jp =>slow);
                match n.op {
                    F::CmpEq => dynasm!(self.a ; .arch x64 ; sete al),
                    F::CmpGe => dynasm!(self.a ; .arch x64 ; setae al),
                    _ => dynasm!(self.a ; .arch x64 ; seta al),
                }
                dynasm!(self.a ; .arch x64 ; movzx eax, al);
                if n.double {
                    dynasm!(self.a ; .arch x64 ; neg rax);
                } else {
                    dynasm!(self.a ; .arch x64 ; neg eax);
                }
            }
            F::Convert { to: FpSize::D } => {
                // Single to double (`NativeFp::of`): exact but for a NaN,
                // which Arm quiets (or makes the default NaN) its own way.
                dynasm!(self.a
                    ; .arch x64
                    ; ucomiss xmm0, xmm0
                    ; jp =>slow
                    ; cvtss2sd xmm0, xmm0
                    ; movq rax, xmm0
                );
            }
            F::Convert { .. } => {
                // Double to single, rounded as the host does (RN, IXC
                // already set: the gate), when the single result is finite
                // and normal (else a NaN, an overflow or an underflow, for
                // the helper): the range check of `native_fp`.
                dynasm!(self.a
                    ; .arch x64
                    ; movapd xmm1, xmm0
                    ; cvtsd2ss xmm0, xmm0
                    ; movd eax, xmm0
                    ; lea ecx, [rax + rax]
                    ; sub ecx, 0x0100_0001
                    ; cmp ecx, 0xfdff_ffffu32 as i32
                    ; jae =>slow
                );
                // Inexact unless it converts back to the double.
                self.set_ixc_if(|me, inexact| {
                    dynasm!(me.a ; .arch x64 ; cvtss2sd xmm2, xmm0 ; ucomisd xmm2, xmm1 ; jne =>inexact);
                });
            }
            F::ToInt { bits, .. } => {
                // The host's "integer indefinite" (NaN, out of range, or
                // exactly the most negative value) goes to the soft path.
                match (n.double, bits == 64) {
                    (true, true) => dynasm!(self.a ; .arch x64 ; cvttsd2si rax, xmm0),
                    (true, false) => dynasm!(self.a ; .arch x64 ; cvttsd2si eax, xmm0),
                    (false, true) => dynasm!(self.a ; .arch x64 ; cvttss2si rax, xmm0),
                    (false, false) => dynasm!(self.a ; .arch x64 ; cvttss2si eax, xmm0),
                }
                if bits == 64 {
                    dynasm!(self.a
                        ; .arch x64
                        ; mov rcx, QWORD i64::MIN
                        ; cmp rax, rcx
                        ; je =>slow
                    );
                } else {
                    dynasm!(self.a ; .arch x64 ; cmp eax, i32::MIN ; je =>slow);
                }
                // Inexact unless the integer converts back to the operand
                // (exactly: a truncated float is a float).
                self.set_ixc_if(|me, inexact| {
                    match (n.double, bits == 64) {
                        (true, true) => dynasm!(me.a ; .arch x64 ; cvtsi2sd xmm1, rax ; ucomisd xmm1, xmm0),
                        (true, false) => dynasm!(me.a ; .arch x64 ; cvtsi2sd xmm1, eax ; ucomisd xmm1, xmm0),
                        (false, true) => dynasm!(me.a ; .arch x64 ; cvtsi2ss xmm1, rax ; ucomiss xmm1, xmm0),
                        (false, false) => dynasm!(me.a ; .arch x64 ; cvtsi2ss xmm1, eax ; ucomiss xmm1, xmm0),
                    }
                    dynasm!(me.a ; .arch x64 ; jne =>inexact);
                });
            }
            _ => return false,
        }
        true
    }

    /// `FpLanes` as one packed SSE/FMA3 operation: FNEG/FABS always (bit
    /// operations); the arithmetic behind the host-FPU shortcut's checks
    /// (`native_fp`), applied to every lane in use at once, else on to
    /// `slow` (the lane-by-lane helper). Writes the result slot of
    /// instruction `at`; `false` (nothing emitted) if not lowered.
    #[allow(clippy::too_many_arguments)]
    fn packed_fp(
        &mut self,
        op: FpOp,
        size: FpSize,
        lanes: u8,
        qs: &[QVal],
        at: usize,
        slow: DynamicLabel,
        done: DynamicLabel,
    ) -> bool {
        let double = match size {
            FpSize::S => false,
            FpSize::D => true,
            FpSize::H => return false,
        };
        let p = Packed {
            op,
            double,
            lanes,
            qs,
            at,
            slow,
            done,
        };
        match op {
            FpOp::Max | FpOp::Min | FpOp::MaxNum | FpOp::MinNum => return self.packed_min_max(p),
            FpOp::CmpEq | FpOp::CmpGe | FpOp::CmpGt | FpOp::AbsCmpGe | FpOp::AbsCmpGt => return self.packed_compare(p),
            FpOp::RoundInt { .. } | FpOp::ToInt { bits: 32, .. } | FpOp::FromInt { bits: 32, .. }
                if self.env.host_sse41 =>
            {
                return self.packed_int_convert(p)
            }
            FpOp::ToInt {
                signed: true,
                bits: 32,
                mode: Some(cpu_aarch64::sem::Rounding::Zero),
                fbits: 0,
            }
            | FpOp::FromInt {
                signed: true,
                bits: 32,
                fbits: 0,
            } if !double => return self.packed_convert(p),
            _ => {}
        }
        let gated = match op {
            FpOp::Neg | FpOp::Abs => false,
            FpOp::Add | FpOp::Sub | FpOp::AbsDiff | FpOp::Mul | FpOp::MulX | FpOp::Div | FpOp::Sqrt => true,
            FpOp::MulAdd | FpOp::RecipStep | FpOp::RSqrtStep if self.env.host_fma => true,
            _ => return false,
        };
        let lane_bytes = u32::from(lanes) * if double { 8 } else { 4 };
        if lanes == 0 || qs.len() != op_operands(op) || lane_bytes > 16 {
            return false;
        }
        let detect = self.detecting;
        let product = detect && matches!(op, FpOp::Mul | FpOp::MulX);
        if gated {
            // (FABD's packed result is already |a - b|: no TwoSum on it.)
            let ixc = match op {
                FpOp::AbsDiff => Some(slow),
                _ => self.ixc_gate(op, size, at, slow, done),
            };
            self.fp_gate(slow, ixc);
        }
        for (k, q) in qs.iter().enumerate() {
            let (base, off) = self.q_src(*q);
            dynasm!(self.a ; .arch x64 ; movdqu Rx(k as u8), [Rq(base) + off]);
        }
        // xmm7: all ones, then the sign mask (FNEG) or the magnitude mask.
        dynasm!(self.a ; .arch x64 ; pcmpeqd xmm7, xmm7);
        let magnitude = |a: &mut Asm| {
            if double {
                dynasm!(a ; .arch x64 ; psrlq xmm7, 1);
            } else {
                dynasm!(a ; .arch x64 ; psrld xmm7, 1);
            }
        };
        match (op, double) {
            (FpOp::Neg, true) => dynasm!(self.a ; .arch x64 ; psllq xmm7, 63 ; xorpd xmm0, xmm7),
            (FpOp::Neg, false) => dynasm!(self.a ; .arch x64 ; pslld xmm7, 31 ; xorps xmm0, xmm7),
            (FpOp::Abs, _) => {
                magnitude(&mut self.a);
                dynasm!(self.a ; .arch x64 ; andps xmm0, xmm7);
            }
            (FpOp::Add, true) => dynasm!(self.a ; .arch x64 ; addpd xmm0, xmm1),
            (FpOp::Add, false) => dynasm!(self.a ; .arch x64 ; addps xmm0, xmm1),
            (FpOp::Sub | FpOp::AbsDiff, true) => dynasm!(self.a ; .arch x64 ; subpd xmm0, xmm1),
            (FpOp::Sub | FpOp::AbsDiff, false) => dynasm!(self.a ; .arch x64 ; subps xmm0, xmm1),
            (FpOp::Mul | FpOp::MulX, true) => dynasm!(self.a ; .arch x64 ; mulpd xmm0, xmm1),
            (FpOp::Mul | FpOp::MulX, false) => dynasm!(self.a ; .arch x64 ; mulps xmm0, xmm1),
            (FpOp::Div, true) => dynasm!(self.a ; .arch x64 ; divpd xmm0, xmm1),
            (FpOp::Div, false) => dynasm!(self.a ; .arch x64 ; divps xmm0, xmm1),
            (FpOp::Sqrt, true) => dynasm!(self.a ; .arch x64 ; sqrtpd xmm0, xmm0),
            (FpOp::Sqrt, false) => dynasm!(self.a ; .arch x64 ; sqrtps xmm0, xmm0),
            // (addend, n, m): xmm0 = xmm1 * xmm2 + xmm0, rounded once.
            (FpOp::MulAdd, true) => {
                // vfmadd231pd xmm0, xmm1, xmm2 (VEX.128.66.0F38.W1 B8 /r),
                // as bytes: dynasm 5.1 encodes the mnemonic without VEX.W,
                // which is vfmadd231ps (the packed-FP test caught it).
                for b in [0xc4, 0xe2, 0xf1, 0xb8, 0xc2] {
                    self.a.push(b);
                }
            }
            (FpOp::MulAdd, false) => dynasm!(self.a ; .arch x64 ; vfmadd231ps xmm0, xmm1, xmm2),
            // FRECPS 2 - a*b, FRSQRTS (3 - a*b) / 2, rounded once (the
            // halving is exact while the result is normal, as checked):
            // vfnmadd213p{s,d} xmm0, xmm1, xmm2 (VEX.128.66.0F38.W{0,1}
            // AC /r: xmm0 = -(xmm0 * xmm1) + xmm2), as bytes.
            (FpOp::RecipStep | FpOp::RSqrtStep, _) => {
                let rsqrt = op == FpOp::RSqrtStep;
                let k = if rsqrt { 3.0 } else { 2.0 };
                self.splat_fp(2, k, double);
                for b in [0xc4, 0xe2, if double { 0xf1 } else { 0x71 }, 0xac, 0xc2] {
                    self.a.push(b);
                }
                if rsqrt {
                    self.splat_fp(2, 0.5, double);
                    if double {
                        dynasm!(self.a ; .arch x64 ; mulpd xmm0, xmm2);
                    } else {
                        dynasm!(self.a ; .arch x64 ; mulps xmm0, xmm2);
                    }
                }
            }
            _ => unreachable!("filtered above"),
        }
        if gated {
            // Every lane in use finite and above the smallest normal:
            // MIN < |r| and |r| < INF (ordered compares: NaN fails).
            magnitude(&mut self.a);
            dynasm!(self.a ; .arch x64 ; movaps xmm3, xmm0 ; andps xmm3, xmm7);
            if op == FpOp::AbsDiff {
                dynasm!(self.a ; .arch x64 ; andps xmm0, xmm7);
            }
            // xmm6: the lanes whose zero result is exact (`exact_zero`):
            // zero, and for a product, with a zero operand.
            let zero_ok = cpu_aarch64::fp::exact_zero_operands(op);
            if let Some(operands) = zero_ok {
                if double {
                    dynasm!(self.a ; .arch x64 ; xorpd xmm6, xmm6 ; cmpeqpd xmm6, xmm3);
                } else {
                    dynasm!(self.a ; .arch x64 ; xorps xmm6, xmm6 ; cmpeqps xmm6, xmm3);
                }
                if !operands.is_empty() {
                    // xmm5 = a == 0 | b == 0 (the operands, from their slots).
                    dynasm!(self.a ; .arch x64 ; xorps xmm5, xmm5);
                    for &o in operands {
                        let (base, off) = self.q_src(qs[o]);
                        dynasm!(self.a ; .arch x64 ; movdqu xmm4, [Rq(base) + off]);
                        if double {
                            dynasm!(self.a ; .arch x64 ; xorpd xmm2, xmm2 ; cmpeqpd xmm4, xmm2 ; orpd xmm5, xmm4);
                        } else {
                            dynasm!(self.a ; .arch x64 ; xorps xmm2, xmm2 ; cmpeqps xmm4, xmm2 ; orps xmm5, xmm4);
                        }
                    }
                    dynasm!(self.a ; .arch x64 ; andps xmm6, xmm5);
                }
            }
            if double {
                let lo = if product {
                    PRODUCT_MIN.1
                } else {
                    f64::MIN_POSITIVE.to_bits()
                };
                dynasm!(self.a
                    ; .arch x64
                    ; mov rax, QWORD lo as i64
                    ; movq xmm4, rax
                    ; punpcklqdq xmm4, xmm4
                    ; mov rax, QWORD f64::INFINITY.to_bits() as i64
                    ; movq xmm5, rax
                    ; punpcklqdq xmm5, xmm5
                    ; cmppd xmm4, xmm3, 1
                    ; cmppd xmm3, xmm5, 1
                    ; andpd xmm3, xmm4
                );
                if zero_ok.is_some() {
                    dynasm!(self.a ; .arch x64 ; orpd xmm3, xmm6);
                }
                dynasm!(self.a ; .arch x64 ; movmskpd eax, xmm3);
            } else {
                let lo = if product {
                    PRODUCT_MIN.0
                } else {
                    f32::MIN_POSITIVE.to_bits()
                };
                dynasm!(self.a
                    ; .arch x64
                    ; mov eax, lo as i32
                    ; movd xmm4, eax
                    ; pshufd xmm4, xmm4, 0
                    ; mov eax, f32::INFINITY.to_bits() as i32
                    ; movd xmm5, eax
                    ; pshufd xmm5, xmm5, 0
                    ; cmpps xmm4, xmm3, 1
                    ; cmpps xmm3, xmm5, 1
                    ; andps xmm3, xmm4
                );
                if zero_ok.is_some() {
                    dynasm!(self.a ; .arch x64 ; orps xmm3, xmm6);
                }
                dynasm!(self.a ; .arch x64 ; movmskps eax, xmm3);
            }
            let want = (1i32 << lanes) - 1;
            dynasm!(self.a
                ; .arch x64
                ; and eax, want
                ; cmp eax, want
                ; jne =>slow
            );
        }
        if detect {
            self.set_ixc_if(|me, inexact| {
                for (k, q) in qs.iter().enumerate() {
                    let (base, off) = me.q_src(*q);
                    dynasm!(me.a ; .arch x64 ; movdqu Rx(1 + k as u8), [Rq(base) + off]);
                }
                me.rounding_error(op, double, true);
                dynasm!(me.a ; .arch x64 ; xorps xmm6, xmm6);
                me.lanes_differ(double, lanes, inexact);
            });
        }
        self.packed_result(at, lane_bytes, done);
        true
    }

    /// `x` in every lane of `xmm{r}` (single or `double`); clobbers rax.
    fn splat_fp(&mut self, r: u8, x: f64, double: bool) {
        if double {
            self.mov_imm(RAX, x.to_bits());
            dynasm!(self.a ; .arch x64 ; movq Rx(r), rax ; punpcklqdq Rx(r), Rx(r));
        } else {
            self.mov_imm(RAX, u64::from((x as f32).to_bits()));
            dynasm!(self.a ; .arch x64 ; movd Rx(r), eax ; pshufd Rx(r), Rx(r), 0);
        }
    }

    /// Packed SCVTF (32-bit integers in xmm6, single results in xmm0),
    /// FPSR.IXC clear: Inexact unless every lane in use converts back.
    fn scvtf_inexact(&mut self, lanes: u8) {
        let want = (1i32 << lanes) - 1;
        self.set_ixc_if(|me, inexact| {
            dynasm!(me.a
                ; .arch x64
                ; cvttps2dq xmm5, xmm0
                ; pcmpeqd xmm5, xmm6
                ; movmskps eax, xmm5
                ; not eax
                ; test eax, want
                ; jnz =>inexact
            );
        });
    }

    /// Jumps to `to` if any of the first `lanes` lanes of xmm5 and xmm6
    /// compare unequal (or unordered) as floats; clobbers eax and xmm5.
    fn lanes_differ(&mut self, double: bool, lanes: u8, to: DynamicLabel) {
        if double {
            dynasm!(self.a ; .arch x64 ; cmpneqpd xmm5, xmm6 ; movmskpd eax, xmm5);
        } else {
            dynasm!(self.a ; .arch x64 ; cmpneqps xmm5, xmm6 ; movmskps eax, xmm5);
        }
        dynasm!(self.a ; .arch x64 ; test eax, (1i32 << lanes) - 1 ; jnz =>to);
    }

    /// Stores xmm0 as instruction `at`'s 128-bit result (lanes beyond
    /// `lane_bytes` zero) and goes on to `done`.
    fn packed_result(&mut self, at: usize, lane_bytes: u32, done: DynamicLabel) {
        if lane_bytes < 16 {
            dynasm!(self.a ; .arch x64 ; movq xmm0, xmm0);
        }
        let (ro, out) = self.q_dst(at);
        dynasm!(self.a
            ; .arch x64
            ; movdqu [Rq(ro) + out], xmm0
            ; jmp =>done
        );
    }

    /// Packed FMAX/FMIN(NM): exact, so only FPCR matters (FZ would flush
    /// denormal operands); a lane with a NaN or with equal operands
    /// (where ±0 order and the host's choice of operand differ from Arm's)
    /// sends the whole operation to the helper. `false` if not lowered.
    fn packed_min_max(&mut self, p: Packed) -> bool {
        let Some(lane_bytes) = p.fits(2) else {
            return false;
        };
        let (op, double) = (p.op, p.double);
        self.packed_exact_operands(&p, true);
        let max = matches!(op, FpOp::Max | FpOp::MaxNum);
        match (double, max) {
            (true, true) => dynasm!(self.a ; .arch x64 ; maxpd xmm0, xmm1),
            (true, false) => dynasm!(self.a ; .arch x64 ; minpd xmm0, xmm1),
            (false, true) => dynasm!(self.a ; .arch x64 ; maxps xmm0, xmm1),
            (false, false) => dynasm!(self.a ; .arch x64 ; minps xmm0, xmm1),
        }
        self.packed_result(p.at, lane_bytes, p.done);
        true
    }

    /// For an exact two-operand packed operation (`never_inexact`): the FP
    /// gate, the operands in xmm0 and xmm1, and on to the helper if a lane
    /// in use holds a NaN, or (`equal`) an equal pair. Clobbers xmm3,
    /// xmm4 and rax.
    fn packed_exact_operands(&mut self, p: &Packed, equal: bool) {
        let size = if p.double { FpSize::D } else { FpSize::S };
        let ixc = self.ixc_gate(p.op, size, p.at, p.slow, p.done);
        self.fp_gate(p.slow, ixc);
        for (k, q) in p.qs.iter().enumerate() {
            let (base, off) = self.q_src(*q);
            dynasm!(self.a ; .arch x64 ; movdqu Rx(k as u8), [Rq(base) + off]);
        }
        if p.double {
            dynasm!(self.a ; .arch x64 ; movapd xmm3, xmm0 ; cmpunordpd xmm3, xmm1);
            if equal {
                dynasm!(self.a ; .arch x64 ; movapd xmm4, xmm0 ; cmpeqpd xmm4, xmm1 ; orpd xmm3, xmm4);
            }
            dynasm!(self.a ; .arch x64 ; movmskpd eax, xmm3);
        } else {
            dynasm!(self.a ; .arch x64 ; movaps xmm3, xmm0 ; cmpunordps xmm3, xmm1);
            if equal {
                dynasm!(self.a ; .arch x64 ; movaps xmm4, xmm0 ; cmpeqps xmm4, xmm1 ; orps xmm3, xmm4);
            }
            dynasm!(self.a ; .arch x64 ; movmskps eax, xmm3);
        }
        dynasm!(self.a ; .arch x64 ; test eax, (1i32 << p.lanes) - 1 ; jnz =>p.slow);
    }

    /// Packed FCMEQ/FCMGE/FCMGT/FACGE/FACGT (register forms): exact, so
    /// only FPCR matters (FZ would flush denormal operands); a lane with
    /// a NaN (Invalid Operation, by the operation and the NaN's kind)
    /// sends the whole operation to the helper. Each lane is all ones
    /// where the comparison holds. `false` if not lowered.
    fn packed_compare(&mut self, p: Packed) -> bool {
        let Some(lane_bytes) = p.fits(2) else {
            return false;
        };
        let (op, double) = (p.op, p.double);
        self.packed_exact_operands(&p, false);
        if matches!(op, FpOp::AbsCmpGe | FpOp::AbsCmpGt) {
            dynasm!(self.a ; .arch x64 ; pcmpeqd xmm7, xmm7);
            if double {
                dynasm!(self.a ; .arch x64 ; psrlq xmm7, 1);
            } else {
                dynasm!(self.a ; .arch x64 ; psrld xmm7, 1);
            }
            dynasm!(self.a ; .arch x64 ; andps xmm0, xmm7 ; andps xmm1, xmm7);
        }
        // a >= b as b <= a, a > b as b < a: the result in xmm1.
        match (op, double) {
            (FpOp::CmpEq, true) => dynasm!(self.a ; .arch x64 ; cmpeqpd xmm1, xmm0),
            (FpOp::CmpEq, false) => dynasm!(self.a ; .arch x64 ; cmpeqps xmm1, xmm0),
            (FpOp::CmpGe | FpOp::AbsCmpGe, true) => dynasm!(self.a ; .arch x64 ; cmplepd xmm1, xmm0),
            (FpOp::CmpGe | FpOp::AbsCmpGe, false) => dynasm!(self.a ; .arch x64 ; cmpleps xmm1, xmm0),
            (_, true) => dynasm!(self.a ; .arch x64 ; cmpltpd xmm1, xmm0),
            (_, false) => dynasm!(self.a ; .arch x64 ; cmpltps xmm1, xmm0),
        }
        dynasm!(self.a ; .arch x64 ; movaps xmm0, xmm1);
        self.packed_result(p.at, lane_bytes, p.done);
        true
    }

    /// Packed FRINT[NMPZIX] (single and double) and conversions between
    /// single precision and 32-bit integers, signed or unsigned, fixed
    /// point too (FCVT[NMPZ][SU], [SU]CVTF), with SSE4.1, behind the FP
    /// gate; a NaN lane (FRINT) and the ties-away modes go to the helper.
    /// An integer out of range saturates with Invalid Operation as Arm's
    /// does (NaN gives 0). Inexact (out of line, FPSR.IXC clear): a lane
    /// in range whose rounded value differs from the operand (FRINTX and
    /// the conversions to integers), or whose integer does not convert
    /// back (SCVTF) or whose two exact halves do not add exactly (UCVTF).
    /// `false` if not lowered.
    fn packed_int_convert(&mut self, p: Packed) -> bool {
        use cpu_aarch64::sem::Rounding as R;
        let Some(lane_bytes) = p.fits(1) else {
            return false;
        };
        let Packed {
            op,
            double,
            lanes,
            qs,
            at,
            slow,
            done,
        } = p;
        let want = (1i32 << lanes) - 1;
        // roundps/roundpd immediates; the gate makes FPCR's mode RN.
        let imm = |m: Option<R>| match m {
            None | Some(R::TieEven) => Some(0i8),
            Some(R::NegInf) => Some(1),
            Some(R::PosInf) => Some(2),
            Some(R::Zero) => Some(3),
            _ => None,
        };
        let (mode, fbits) = match op {
            FpOp::RoundInt { mode, .. } => (mode, 0),
            FpOp::ToInt { mode, fbits, .. } if !double => (mode, fbits),
            FpOp::FromInt { fbits, .. } if !double => (None, fbits),
            _ => return false,
        };
        let Some(k) = imm(mode) else {
            return false;
        };
        let size = if double { FpSize::D } else { FpSize::S };
        let ixc = self.ixc_gate(op, size, at, slow, done);
        self.fp_gate(slow, ixc);
        let (base, off) = self.q_src(qs[0]);
        dynasm!(self.a ; .arch x64 ; movdqu xmm6, [Rq(base) + off]);
        match op {
            FpOp::RoundInt { exact, .. } => {
                if double {
                    dynasm!(self.a ; .arch x64 ; movapd xmm5, xmm6 ; cmpunordpd xmm5, xmm6 ; movmskpd eax, xmm5);
                } else {
                    dynasm!(self.a ; .arch x64 ; movaps xmm5, xmm6 ; cmpunordps xmm5, xmm6 ; movmskps eax, xmm5);
                }
                dynasm!(self.a ; .arch x64 ; test eax, want ; jnz =>slow);
                if double {
                    dynasm!(self.a ; .arch x64 ; roundpd xmm0, xmm6, k);
                } else {
                    dynasm!(self.a ; .arch x64 ; roundps xmm0, xmm6, k);
                }
                if exact {
                    self.set_ixc_if(|me, inexact| {
                        dynasm!(me.a ; .arch x64 ; movaps xmm5, xmm0);
                        me.lanes_differ(double, lanes, inexact);
                    });
                }
            }
            FpOp::FromInt { signed, .. } => {
                if signed {
                    dynasm!(self.a ; .arch x64 ; cvtdq2ps xmm0, xmm6);
                    self.scvtf_inexact(lanes);
                } else {
                    // (x >> 16) * 2^16 + (x & 0xffff): both exact, one
                    // rounding in the sum.
                    self.splat_fp(7, 65536.0, false);
                    dynasm!(self.a
                        ; .arch x64
                        ; movdqa xmm1, xmm6
                        ; psrld xmm1, 16
                        ; cvtdq2ps xmm1, xmm1
                        ; mulps xmm1, xmm7
                        ; movdqa xmm2, xmm6
                        ; pslld xmm2, 16
                        ; psrld xmm2, 16
                        ; cvtdq2ps xmm2, xmm2
                        ; movaps xmm0, xmm1
                        ; addps xmm0, xmm2
                    );
                    self.set_ixc_if(|me, inexact| {
                        me.rounding_error(FpOp::Add, false, true);
                        dynasm!(me.a ; .arch x64 ; xorps xmm6, xmm6);
                        me.lanes_differ(false, lanes, inexact);
                    });
                }
                if fbits > 0 {
                    // Exact: the result stays normal.
                    self.splat_fp(7, (-f64::from(fbits)).exp2(), false);
                    dynasm!(self.a ; .arch x64 ; mulps xmm0, xmm7);
                }
            }
            FpOp::ToInt { signed, .. } => {
                if fbits > 0 {
                    // Exact but for an overflow to infinity, which then
                    // saturates like the value itself.
                    self.splat_fp(7, f64::from(fbits).exp2(), false);
                    dynasm!(self.a ; .arch x64 ; mulps xmm6, xmm7);
                }
                // xmm0: the rounded operand r; xmm1: its integer; xmm2:
                // the lanes out of range (or NaN), Invalid Operation.
                dynasm!(self.a ; .arch x64 ; roundps xmm0, xmm6, k);
                let (special, join) = (self.a.new_dynamic_label(), self.a.new_dynamic_label());
                if signed {
                    dynasm!(self.a
                        ; .arch x64
                        ; cvttps2dq xmm1, xmm0
                        ; pcmpeqd xmm2, xmm2
                        ; pslld xmm2, 31
                        ; pcmpeqd xmm2, xmm1
                        ; movmskps eax, xmm2
                        ; test eax, want
                        ; jnz =>special
                        ; pxor xmm2, xmm2
                        ; =>join
                    );
                } else {
                    // r >= 2^31 converts as r - 2^31 with the top bit set.
                    self.splat_fp(7, 2f64.powi(31), false);
                    dynasm!(self.a
                        ; .arch x64
                        ; movaps xmm2, xmm7
                        ; cmpleps xmm2, xmm0
                        ; andps xmm7, xmm2
                        ; movaps xmm1, xmm0
                        ; subps xmm1, xmm7
                        ; cvttps2dq xmm1, xmm1
                        ; pslld xmm2, 31
                        ; pxor xmm1, xmm2
                        // In range: 0 <= r < 2^32 (NaN fails).
                        ; xorps xmm2, xmm2
                        ; cmpleps xmm2, xmm0
                        ; mov eax, 0x4f80_0000u32 as i32
                        ; movd xmm7, eax
                        ; pshufd xmm7, xmm7, 0
                        ; movaps xmm3, xmm0
                        ; cmpltps xmm3, xmm7
                        ; andps xmm2, xmm3
                        ; movmskps eax, xmm2
                        ; not eax
                        ; test eax, want
                        ; jnz =>special
                        ; pxor xmm2, xmm2
                        ; =>join
                    );
                }
                self.set_ixc_if(|me, inexact| {
                    // In range and not the operand.
                    dynasm!(me.a
                        ; .arch x64
                        ; movaps xmm5, xmm0
                        ; cmpneqps xmm5, xmm6
                        ; pandn xmm2, xmm5
                        ; movmskps eax, xmm2
                        ; test eax, want
                        ; jnz =>inexact
                    );
                });
                dynasm!(self.a ; .arch x64 ; movdqa xmm0, xmm1);
                self.packed_result(at, lane_bytes, done);
                // Saturation: xmm1 fixed, xmm2 = the lanes that raise
                // Invalid Operation, then back to `join`.
                dynasm!(self.a ; .arch x64 ; =>special);
                if signed {
                    // Indefinite lanes: r > 0 gives the maximum, NaN 0;
                    // exactly -2^31 is in range.
                    dynasm!(self.a
                        ; .arch x64
                        ; xorps xmm3, xmm3
                        ; cmpltps xmm3, xmm0
                        ; andps xmm3, xmm2
                        ; pxor xmm1, xmm3
                        ; movaps xmm4, xmm0
                        ; cmpunordps xmm4, xmm0
                        ; pandn xmm4, xmm1
                        ; movdqa xmm1, xmm4
                        ; mov eax, 0xcf00_0000u32 as i32
                        ; movd xmm5, eax
                        ; pshufd xmm5, xmm5, 0
                        ; cmpeqps xmm5, xmm0
                        ; pandn xmm5, xmm2
                        ; movdqa xmm2, xmm5
                    );
                } else {
                    // Out of range: r >= 2^32 gives all ones, the rest 0.
                    dynasm!(self.a
                        ; .arch x64
                        ; pand xmm1, xmm2
                        ; cmpleps xmm7, xmm0
                        ; por xmm1, xmm7
                        ; pcmpeqd xmm3, xmm3
                        ; pxor xmm2, xmm3
                    );
                }
                dynasm!(self.a
                    ; .arch x64
                    ; movmskps eax, xmm2
                    ; test eax, want
                    ; jz =>join
                );
                self.or_fpsr(cpu_aarch64::fp::IOC);
                dynasm!(self.a ; .arch x64 ; jmp =>join);
                return true;
            }
            _ => unreachable!("filtered above"),
        }
        self.packed_result(at, lane_bytes, done);
        true
    }

    /// Packed single-precision FCVTZS and SCVTF (32-bit integers, no
    /// fraction bits): behind the FP gate (either may be inexact); an
    /// FCVTZS lane the host gives its "integer indefinite" (NaN, out of
    /// range, or exactly -2^31) sends the whole operation to the helper.
    /// `false` if not lowered.
    fn packed_convert(&mut self, p: Packed) -> bool {
        let Some(lane_bytes) = p.fits(1) else {
            return false;
        };
        let Packed { op, lanes, qs, .. } = p;
        let ixc = self.ixc_gate(op, FpSize::S, p.at, p.slow, p.done);
        self.fp_gate(p.slow, ixc);
        let (base, off) = self.q_src(qs[0]);
        dynasm!(self.a ; .arch x64 ; movdqu xmm0, [Rq(base) + off] ; movaps xmm6, xmm0);
        // Inexact unless every lane converts back (exactly: a truncated
        // float is a float; a sum rounded up to 2^31 converts back to
        // the indefinite value).
        if let FpOp::ToInt { .. } = op {
            let want = (1i32 << lanes) - 1;
            dynasm!(self.a
                ; .arch x64
                ; cvttps2dq xmm0, xmm0
                ; pcmpeqd xmm3, xmm3
                ; pslld xmm3, 31
                ; pcmpeqd xmm3, xmm0
                ; movmskps eax, xmm3
                ; test eax, want
                ; jnz =>p.slow
            );
            self.set_ixc_if(|me, inexact| {
                dynasm!(me.a ; .arch x64 ; cvtdq2ps xmm5, xmm0);
                me.lanes_differ(false, lanes, inexact);
            });
        } else {
            dynasm!(self.a ; .arch x64 ; cvtdq2ps xmm0, xmm0);
            self.scvtf_inexact(lanes);
        }
        self.packed_result(p.at, lane_bytes, p.done);
        true
    }

    fn call_inline(&mut self, at: usize, f: usize) {
        let regs = self.live_caller_saved(at);
        self.push_regs(&regs);
        self.call_ctx_helper(f);
        self.pop_regs(&regs);
    }

    /// CF = the fused `CondHolds` `c` (clobbers `rax`, `rcx`; later plain
    /// moves keep CF).
    fn cond_to_cf(&mut self, c: Val) {
        let Inst::CondHolds(n, cond) = self.block.code[c.0 as usize] else {
            unreachable!("only CondHolds are fused");
        };
        if self.cc_in_dl[c.0 as usize] {
            dynasm!(self.a ; .arch x64 ; bt edx, 0);
            return;
        }
        let mask = cond_mask(cond) as i32;
        self.load(RAX, n);
        dynasm!(self.a
            ; .arch x64
            ; shr eax, 28
            ; mov ecx, mask
            ; bt ecx, eax
        );
    }

    /// `cmp a, b` at width `w` (clobbers `rax`/`rcx` only for operands
    /// not in registers).
    fn compare(&mut self, a: Val, b: Val, w: Width) {
        let ra = self.reg_or(a, RAX);
        match (w, self.loc[b.0 as usize]) {
            (Width::W32, Loc::Imm(k)) => dynasm!(self.a ; .arch x64 ; cmp Rd(ra), k as u32 as i32),
            (Width::W64, _) if self.imm32(b).is_some() => {
                let k = self.imm32(b).unwrap_or_default();
                dynasm!(self.a ; .arch x64 ; cmp Rq(ra), k);
            }
            (_, Loc::Reg(rb)) if w == Width::W32 => dynasm!(self.a ; .arch x64 ; cmp Rd(ra), Rd(rb)),
            (_, Loc::Reg(rb)) => dynasm!(self.a ; .arch x64 ; cmp Rq(ra), Rq(rb)),
            _ => {
                self.load(RCX, b);
                match w {
                    Width::W32 => dynasm!(self.a ; .arch x64 ; cmp Rd(ra), ecx),
                    Width::W64 => dynasm!(self.a ; .arch x64 ; cmp Rq(ra), rcx),
                }
            }
        }
    }

    /// After the SUB or CMP at `i` and its `AdcFlags`: notes that EFLAGS
    /// hold its flags, unless making NZCV clobbered them.
    fn keep_flags(&mut self, i: usize) {
        let nzcv_made = matches!(self.block.code.get(i + 1), Some(Inst::AdcFlags(s)) if s.0 as usize == i)
            && self.loc[i + 1] != Loc::None
            && self.raw[i + 1] == 0;
        if !nzcv_made {
            self.flags_of = Some(i);
        }
    }

    /// Whether EFLAGS still hold the flags of `cmp a, b` at width `w`
    /// (`keep_flags`), so a fused test of them needs no compare.
    fn flags_hold(&self, a: Val, b: Val, w: Width) -> bool {
        let Some(j) = self.flags_of else { return false };
        let konst = |v: Val| match self.block.code[v.0 as usize] {
            Inst::Const(k) => Some(k),
            _ => None,
        };
        match self.block.code[j] {
            Inst::SubC(x, y, wj) => (x, y, wj) == (a, b, w),
            Inst::SubCImm(x, k, wj) => (x, wj) == (a, w) && konst(b) == Some(k),
            _ => false,
        }
    }

    /// Evaluates the fused test `c` (a `CondHolds` or a compare) into the
    /// host flags, for its user: the condition under which it holds.
    fn fused_cc(&mut self, c: Val) -> Cc {
        match self.block.code[c.0 as usize] {
            Inst::Bin(BinOp::SubCond { cond, w }, a, b) => {
                if !self.flags_hold(a, b, w) {
                    self.compare(a, b, w);
                }
                Cc::of_compare(cond)
            }
            // ZF of the SUB that made `a` (at either width: a 32-bit
            // result is zero-extended).
            Inst::Bin(op @ (BinOp::Eq | BinOp::Ne), a, b)
                if self.flags_of == Some(a.0 as usize)
                    && matches!(self.block.code[b.0 as usize], Inst::Const(0))
                    && matches!(self.block.code[a.0 as usize], Inst::SubC(..) | Inst::SubCImm(..)) =>
            {
                if op == BinOp::Eq {
                    Cc::E
                } else {
                    Cc::Ne
                }
            }
            Inst::Bin(op @ (BinOp::Eq | BinOp::Ne), a, b) => {
                if !self.flags_hold(a, b, Width::W64) {
                    self.compare(a, b, Width::W64);
                }
                if op == BinOp::Eq {
                    Cc::E
                } else {
                    Cc::Ne
                }
            }
            _ => {
                self.cond_to_cf(c);
                Cc::B
            }
        }
    }

    fn jcc(&mut self, cc: Cc, l: DynamicLabel) {
        match cc {
            Cc::O => dynasm!(self.a ; .arch x64 ; jo =>l),
            Cc::No => dynasm!(self.a ; .arch x64 ; jno =>l),
            Cc::B => dynasm!(self.a ; .arch x64 ; jb =>l),
            Cc::Ae => dynasm!(self.a ; .arch x64 ; jae =>l),
            Cc::E => dynasm!(self.a ; .arch x64 ; je =>l),
            Cc::Ne => dynasm!(self.a ; .arch x64 ; jne =>l),
            Cc::Be => dynasm!(self.a ; .arch x64 ; jbe =>l),
            Cc::A => dynasm!(self.a ; .arch x64 ; ja =>l),
            Cc::S => dynasm!(self.a ; .arch x64 ; js =>l),
            Cc::Ns => dynasm!(self.a ; .arch x64 ; jns =>l),
            Cc::L => dynasm!(self.a ; .arch x64 ; jl =>l),
            Cc::Ge => dynasm!(self.a ; .arch x64 ; jge =>l),
            Cc::Le => dynasm!(self.a ; .arch x64 ; jle =>l),
            Cc::G => dynasm!(self.a ; .arch x64 ; jg =>l),
        }
    }

    /// `rax = rcx` if `cc` holds.
    fn cmov_rax_rcx(&mut self, cc: Cc) {
        match cc {
            Cc::O => dynasm!(self.a ; .arch x64 ; cmovo rax, rcx),
            Cc::No => dynasm!(self.a ; .arch x64 ; cmovno rax, rcx),
            Cc::B => dynasm!(self.a ; .arch x64 ; cmovb rax, rcx),
            Cc::Ae => dynasm!(self.a ; .arch x64 ; cmovae rax, rcx),
            Cc::E => dynasm!(self.a ; .arch x64 ; cmove rax, rcx),
            Cc::Ne => dynasm!(self.a ; .arch x64 ; cmovne rax, rcx),
            Cc::Be => dynasm!(self.a ; .arch x64 ; cmovbe rax, rcx),
            Cc::A => dynasm!(self.a ; .arch x64 ; cmova rax, rcx),
            Cc::S => dynasm!(self.a ; .arch x64 ; cmovs rax, rcx),
            Cc::Ns => dynasm!(self.a ; .arch x64 ; cmovns rax, rcx),
            Cc::L => dynasm!(self.a ; .arch x64 ; cmovl rax, rcx),
            Cc::Ge => dynasm!(self.a ; .arch x64 ; cmovge rax, rcx),
            Cc::Le => dynasm!(self.a ; .arch x64 ; cmovle rax, rcx),
            Cc::G => dynasm!(self.a ; .arch x64 ; cmovg rax, rcx),
        }
    }

    /// `eax = 1` if `cc` holds, else 0.
    fn set_eax(&mut self, cc: Cc) {
        match cc {
            Cc::O => dynasm!(self.a ; .arch x64 ; seto al),
            Cc::No => dynasm!(self.a ; .arch x64 ; setno al),
            Cc::B => dynasm!(self.a ; .arch x64 ; setb al),
            Cc::Ae => dynasm!(self.a ; .arch x64 ; setae al),
            Cc::E => dynasm!(self.a ; .arch x64 ; sete al),
            Cc::Ne => dynasm!(self.a ; .arch x64 ; setne al),
            Cc::Be => dynasm!(self.a ; .arch x64 ; setbe al),
            Cc::A => dynasm!(self.a ; .arch x64 ; seta al),
            Cc::S => dynasm!(self.a ; .arch x64 ; sets al),
            Cc::Ns => dynasm!(self.a ; .arch x64 ; setns al),
            Cc::L => dynasm!(self.a ; .arch x64 ; setl al),
            Cc::Ge => dynasm!(self.a ; .arch x64 ; setge al),
            Cc::Le => dynasm!(self.a ; .arch x64 ; setle al),
            Cc::G => dynasm!(self.a ; .arch x64 ; setg al),
        }
        dynasm!(self.a ; .arch x64 ; movzx eax, al);
    }

    /// The register an operation's result is computed in: its own
    /// register (never a second operand's; a Bin/Un's first operand's when
    /// that operand dies there), or `rax` for a spilled one.
    fn dst(&self, d: Val) -> u8 {
        match self.loc[d.0 as usize] {
            Loc::Reg(r) => r,
            _ => RAX,
        }
    }

    /// The simple two-operand ALU forms straight into the result's
    /// register; `false` if `op` is not one of them.
    fn bin_direct(&mut self, d: Val, op: BinOp, a: Val, b: Val) -> bool {
        let r = self.dst(d);
        match op {
            // A three-operand add (the first operand lives on): one LEA
            // instead of a copy and an add.
            BinOp::Add if matches!(self.loc[a.0 as usize], Loc::Reg(ra) if ra != r) => {
                let Loc::Reg(ra) = self.loc[a.0 as usize] else {
                    unreachable!()
                };
                match (self.imm32(b), self.loc[b.0 as usize]) {
                    (Some(k), _) => dynasm!(self.a ; .arch x64 ; lea Rq(r), [Rq(ra) + k]),
                    (_, Loc::Reg(rb)) => dynasm!(self.a ; .arch x64 ; lea Rq(r), [Rq(ra) + Rq(rb)]),
                    _ => {
                        self.load(RCX, b);
                        dynasm!(self.a ; .arch x64 ; lea Rq(r), [Rq(ra) + rcx]);
                    }
                }
            }
            BinOp::Add | BinOp::Sub | BinOp::And | BinOp::Or | BinOp::Xor | BinOp::Mul => {
                self.load(r, a);
                let src = match (self.imm32(b), self.loc[b.0 as usize]) {
                    (Some(k), _) if op != BinOp::Mul => {
                        match op {
                            BinOp::Add => dynasm!(self.a ; .arch x64 ; add Rq(r), k),
                            BinOp::Sub => dynasm!(self.a ; .arch x64 ; sub Rq(r), k),
                            BinOp::And => dynasm!(self.a ; .arch x64 ; and Rq(r), k),
                            BinOp::Or => dynasm!(self.a ; .arch x64 ; or Rq(r), k),
                            _ => dynasm!(self.a ; .arch x64 ; xor Rq(r), k),
                        }
                        None
                    }
                    (_, Loc::Reg(rb)) => Some(rb),
                    _ => {
                        self.load(RCX, b);
                        Some(RCX)
                    }
                };
                if let Some(rb) = src {
                    match op {
                        BinOp::Add => dynasm!(self.a ; .arch x64 ; add Rq(r), Rq(rb)),
                        BinOp::Sub => dynasm!(self.a ; .arch x64 ; sub Rq(r), Rq(rb)),
                        BinOp::And => dynasm!(self.a ; .arch x64 ; and Rq(r), Rq(rb)),
                        BinOp::Or => dynasm!(self.a ; .arch x64 ; or Rq(r), Rq(rb)),
                        BinOp::Xor => dynasm!(self.a ; .arch x64 ; xor Rq(r), Rq(rb)),
                        _ => dynasm!(self.a ; .arch x64 ; imul Rq(r), Rq(rb)),
                    }
                }
            }
            BinOp::Shl | BinOp::Lshr | BinOp::Asr(_) | BinOp::Ror(_) => {
                let Loc::Imm(k) = self.loc[b.0 as usize] else {
                    return false;
                };
                self.load(r, a);
                let k = k as i8;
                match op {
                    BinOp::Shl => dynasm!(self.a ; .arch x64 ; shl Rq(r), k & 63),
                    BinOp::Lshr => dynasm!(self.a ; .arch x64 ; shr Rq(r), k & 63),
                    BinOp::Asr(Width::W64) => dynasm!(self.a ; .arch x64 ; sar Rq(r), k & 63),
                    BinOp::Asr(Width::W32) => dynasm!(self.a ; .arch x64 ; sar Rd(r), k & 31),
                    BinOp::Ror(Width::W64) => dynasm!(self.a ; .arch x64 ; ror Rq(r), k & 63),
                    _ => dynasm!(self.a ; .arch x64 ; ror Rd(r), k & 31),
                }
            }
            _ => return false,
        }
        self.store(d, r);
        true
    }

    /// Whether the add (with carry 0) at `i` can be one LEA: no flags
    /// wanted from it (its `AdcFlags` dead, no fused condition), its first
    /// operand in another register than the result, the second a 32-bit
    /// immediate or in a register.
    fn add_by_lea(&self, i: usize, a: Val, b: Val) -> bool {
        let flags_dead = match self.block.code.get(i + 1) {
            Some(Inst::AdcFlags(src)) if src.0 as usize == i => self.loc[i + 1] == Loc::None,
            _ => true,
        };
        let d = self.loc[i];
        let a_ok = matches!(self.loc[a.0 as usize], Loc::Reg(_)) && self.loc[a.0 as usize] != d;
        let b_ok = self.imm32(b).is_some() || matches!(self.loc[b.0 as usize], Loc::Reg(_));
        flags_dead && self.cc_from[i].is_none() && a_ok && b_ok
    }

    /// The register holding `v`, or `scratch` loaded with it.
    fn reg_or(&mut self, v: Val, scratch: u8) -> u8 {
        match self.loc[v.0 as usize] {
            Loc::Reg(r) => r,
            _ => {
                self.load(scratch, v);
                scratch
            }
        }
    }

    /// `d = base + (x << k)` for `index` = the folded `Shl(x, k)`: one
    /// `lea`.
    fn scaled_add(&mut self, d: Val, base: Val, index: Val) {
        let Inst::Bin(BinOp::Shl, x, _) = self.block.code[index.0 as usize] else {
            unreachable!("only shifts are folded");
        };
        let r = self.dst(d);
        let rb = self.reg_or(base, RAX);
        let rx = self.reg_or(x, RCX);
        match self.scaled[index.0 as usize] {
            1 => dynasm!(self.a ; .arch x64 ; lea Rq(r), [Rq(rb) + Rq(rx) * 2]),
            2 => dynasm!(self.a ; .arch x64 ; lea Rq(r), [Rq(rb) + Rq(rx) * 4]),
            _ => dynasm!(self.a ; .arch x64 ; lea Rq(r), [Rq(rb) + Rq(rx) * 8]),
        }
        self.store(d, r);
    }

    fn bin(&mut self, d: Val, op: BinOp, a: Val, b: Val) {
        let compare = match op {
            BinOp::SubCond { cond, w } => Some((Cc::of_compare(cond), w)),
            BinOp::Eq => Some((Cc::E, Width::W64)),
            BinOp::Ne => Some((Cc::Ne, Width::W64)),
            _ => None,
        };
        if let Some((cc, w)) = compare {
            self.compare(a, b, w);
            self.set_eax(cc);
            self.store(d, RAX);
            return;
        }
        if self.bin_direct(d, op, a, b) {
            return;
        }
        let imm = self.imm32(b);
        self.load(RAX, a);
        match op {
            BinOp::Add | BinOp::Sub | BinOp::And | BinOp::Or | BinOp::Xor => {
                if let Some(k) = imm {
                    match op {
                        BinOp::Add => dynasm!(self.a ; .arch x64 ; add rax, k),
                        BinOp::Sub => dynasm!(self.a ; .arch x64 ; sub rax, k),
                        BinOp::And => dynasm!(self.a ; .arch x64 ; and rax, k),
                        BinOp::Or => dynasm!(self.a ; .arch x64 ; or rax, k),
                        _ => dynasm!(self.a ; .arch x64 ; xor rax, k),
                    }
                } else {
                    self.load(RCX, b);
                    match op {
                        BinOp::Add => dynasm!(self.a ; .arch x64 ; add rax, rcx),
                        BinOp::Sub => dynasm!(self.a ; .arch x64 ; sub rax, rcx),
                        BinOp::And => dynasm!(self.a ; .arch x64 ; and rax, rcx),
                        BinOp::Or => dynasm!(self.a ; .arch x64 ; or rax, rcx),
                        _ => dynasm!(self.a ; .arch x64 ; xor rax, rcx),
                    }
                }
            }
            BinOp::Mul => {
                self.load(RCX, b);
                dynasm!(self.a ; .arch x64 ; imul rax, rcx);
            }
            BinOp::UMulH => {
                self.load(RCX, b);
                dynasm!(self.a ; .arch x64 ; mul rcx ; mov rax, rdx);
            }
            BinOp::SMulH => {
                self.load(RCX, b);
                dynasm!(self.a ; .arch x64 ; imul rcx ; mov rax, rdx);
            }
            BinOp::Shl | BinOp::Lshr | BinOp::Asr(_) | BinOp::Ror(_) => {
                self.load(RCX, b);
                match op {
                    BinOp::Shl => dynasm!(self.a ; .arch x64 ; shl rax, cl),
                    BinOp::Lshr => dynasm!(self.a ; .arch x64 ; shr rax, cl),
                    BinOp::Asr(Width::W64) => dynasm!(self.a ; .arch x64 ; sar rax, cl),
                    BinOp::Asr(Width::W32) => dynasm!(self.a ; .arch x64 ; sar eax, cl),
                    BinOp::Ror(Width::W64) => dynasm!(self.a ; .arch x64 ; ror rax, cl),
                    _ => dynasm!(self.a ; .arch x64 ; ror eax, cl),
                }
            }
            BinOp::Eq | BinOp::Ne | BinOp::SubCond { .. } => unreachable!("compares are emitted above"),
            BinOp::UDiv(_) | BinOp::SDiv(_) | BinOp::Crc32 { .. } => {
                self.load(RCX, b);
                self.pure(d, PureOp::Bin(op));
            }
        }
        self.store(d, RAX);
    }

    fn un(&mut self, d: Val, op: UnOp, a: Val) {
        let r = self.dst(d);
        match op {
            UnOp::Not => {
                self.load(r, a);
                dynasm!(self.a ; .arch x64 ; not Rq(r));
                return self.store(d, r);
            }
            UnOp::Zext(32) => {
                // A 32-bit move zero-extends: one instruction from any place.
                match self.loc[a.0 as usize] {
                    Loc::Reg(ra) => dynasm!(self.a ; .arch x64 ; mov Rd(r), Rd(ra)),
                    Loc::Slot(sl) => {
                        let off = self.slot_off(sl);
                        dynasm!(self.a ; .arch x64 ; mov Rd(r), DWORD [rsp + off]);
                    }
                    _ => {
                        self.load(r, a);
                        dynasm!(self.a ; .arch x64 ; mov Rd(r), Rd(r));
                    }
                }
                return self.store(d, r);
            }
            _ => {}
        }
        self.load(RAX, a);
        match op {
            UnOp::Not => dynasm!(self.a ; .arch x64 ; not rax),
            UnOp::Zext(64) | UnOp::Sext(64) => {}
            UnOp::Zext(32) => dynasm!(self.a ; .arch x64 ; mov eax, eax),
            UnOp::Zext(16) => dynasm!(self.a ; .arch x64 ; movzx eax, ax),
            UnOp::Zext(8) => dynasm!(self.a ; .arch x64 ; movzx eax, al),
            UnOp::Zext(n) => {
                self.mov_imm(RCX, (1u64 << n) - 1);
                dynasm!(self.a ; .arch x64 ; and rax, rcx);
            }
            UnOp::Sext(32) => dynasm!(self.a ; .arch x64 ; movsxd rax, eax),
            UnOp::Sext(16) => dynasm!(self.a ; .arch x64 ; movsx rax, ax),
            UnOp::Sext(8) => dynasm!(self.a ; .arch x64 ; movsx rax, al),
            UnOp::Sext(n) => {
                let s = (64 - n) as i8;
                dynasm!(self.a ; .arch x64 ; shl rax, s ; sar rax, s);
            }
            UnOp::Rev64 => dynasm!(self.a ; .arch x64 ; bswap rax),
            UnOp::Rev32 => dynasm!(self.a
                ; .arch x64
                ; mov rcx, rax
                ; bswap eax
                ; shr rcx, 32
                ; bswap ecx
                ; shl rcx, 32
                ; or rax, rcx
            ),
            UnOp::Clz(_) | UnOp::Cls(_) | UnOp::Rbit(_) | UnOp::Rev16 => {
                dynasm!(self.a ; .arch x64 ; xor ecx, ecx);
                self.pure(d, PureOp::Un(op));
            }
        }
        self.store(d, RAX);
    }

    /// `rcx = op(old = rdx, v = rcx)` at `size` bytes (the bits above
    /// `size` are not stored).
    fn atomic_op(&mut self, op: AtomicOp, size: u8) {
        match op {
            AtomicOp::Add => dynasm!(self.a ; .arch x64 ; add rcx, rdx),
            AtomicOp::Clr => dynasm!(self.a ; .arch x64 ; not rcx ; and rcx, rdx),
            AtomicOp::Eor => dynasm!(self.a ; .arch x64 ; xor rcx, rdx),
            AtomicOp::Set => dynasm!(self.a ; .arch x64 ; or rcx, rdx),
            AtomicOp::Swp => {}
            AtomicOp::SMax | AtomicOp::SMin | AtomicOp::UMax | AtomicOp::UMin => {
                // Compare at the access size, keep the old value where it
                // wins (the 64-bit cmov also moves the bits never stored).
                match size {
                    1 => dynasm!(self.a ; .arch x64 ; cmp dl, cl),
                    2 => dynasm!(self.a ; .arch x64 ; cmp dx, cx),
                    4 => dynasm!(self.a ; .arch x64 ; cmp edx, ecx),
                    _ => dynasm!(self.a ; .arch x64 ; cmp rdx, rcx),
                }
                match op {
                    AtomicOp::SMax => dynasm!(self.a ; .arch x64 ; cmovg rcx, rdx),
                    AtomicOp::SMin => dynasm!(self.a ; .arch x64 ; cmovl rcx, rdx),
                    AtomicOp::UMax => dynasm!(self.a ; .arch x64 ; cmova rcx, rdx),
                    _ => dynasm!(self.a ; .arch x64 ; cmovb rcx, rdx),
                }
            }
        }
    }

    /// `rax = pure(rax, rcx)` through the helper.
    fn pure(&mut self, d: Val, op: PureOp) {
        let code = super::pure_index(op).expect("every non-inline operation is in PURE_OPS") as i32;
        let regs = self.live_caller_saved(d.0 as usize);
        // rdi/rsi may hold live values: move the operands out of the way
        // before saving, then into the argument registers.
        self.push_regs(&regs);
        let f = self.env.helper_pure as i64;
        dynasm!(self.a
            ; .arch x64
            ; mov rdi, rax
            ; mov rsi, rcx
            ; mov edx, code
            ; mov rax, QWORD f
            ; call rax
        );
        self.pop_regs(&regs);
    }

    /// Leaves the block: write back, count, set the PC and jump through a
    /// chaining slot (direct) or return (indirect).
    fn exit_code(&mut self, target: Target, e: &Exit, pc_override: Option<u64>) {
        self.writeback(self.block.wb(e.wb));
        self.refund(e.retired);
        let pc_off = self.env.cpu_pc;
        match (target, pc_override) {
            (_, Some(pc)) => {
                self.mov_imm(RAX, pc);
                dynasm!(self.a
                    ; .arch x64
                    ; mov QWORD [rbp + pc_off], rax
                    ; mov eax, exit::BUDGET as i32
                    ; ret
                );
            }
            (Target::Direct(t), None) => {
                // The PC is only stored on the way to the dispatcher (in
                // the stub): a chained block never reads it (its exits and
                // helpers are given their own PCs).
                let slot = self.a.new_dynamic_label();
                let stub = self.a.new_dynamic_label();
                dynasm!(self.a ; .arch x64 ; jmp QWORD [=>slot]);
                self.exits.push((slot, stub, t));
            }
            (Target::Indirect(v, _), None) => {
                self.load(RAX, v);
                dynasm!(self.a ; .arch x64 ; mov QWORD [rbp + pc_off], rax);
                self.jump_cache(exit::INDIRECT);
            }
        }
    }

    /// With the target PC in `rax` (and stored): jumps to the block the
    /// engine's jump cache holds for it in this mode, else returns
    /// `miss` to the dispatcher. The cache only holds blocks valid under
    /// the current translations (the engine clears it when they change).
    fn jump_cache(&mut self, miss: u32) {
        let mode = self.block.mode.bits() as i32;
        let l_miss = self.a.new_dynamic_label();
        jc_probe(&mut self.a, self.env, l_miss);
        dynasm!(self.a
            ; .arch x64
            ; cmp DWORD [rcx + 8], mode
            ; jne =>l_miss
            ; jmp QWORD [rcx + 16]
            ; =>l_miss
            ; mov eax, miss as i32
            ; ret
        );
    }

    /// A helper call that may take an exception through shared thunk
    /// `thunk` (`X64::thunks`), which writes back the state of the
    /// instruction's start (`sync`, from the site's record), brings the
    /// count up to date, passes `a0`, `a1`, the PC and `info` (args 0-3)
    /// and saves the caller-saved registers; if the helper reports a
    /// fault (in `JitCtx::status` for the load thunks, else as its return
    /// value) the thunk leaves the block itself. Any value the helper
    /// returns is in `rax` afterwards. The record also holds the block's
    /// fast TLB, where the unaligned-access thunks look.
    #[allow(clippy::too_many_arguments)]
    fn faulting_call(
        &mut self,
        sync: &Sync,
        a0: Val,
        a1: Option<Val>,
        pc: u64,
        info: u64,
        helper: usize,
        thunk: usize,
    ) {
        // A fault leaves from the thunk, straight to the trampoline.
        debug_assert_eq!(self.pushed, 0, "no pushes around a faulting call");
        self.load(RAX, a0);
        if let Some(v) = a1 {
            self.load(RCX, v);
        }
        // The site's record goes after the block's code (`records`): the
        // thunk stores the dirty cells from its list, so a slow path is a
        // few instructions, not a store per cell.
        let rest = self.block.insns.len() as u64 - u64::from(sync.retired);
        let record = self.a.new_dynamic_label();
        let start = self.record_words.len();
        let base = self.tlb_base() as u64;
        self.record_words
            .extend_from_slice(&[pc, info, helper as u64, rest, base, 0]);
        let block = self.block;
        for &(cell, v) in block.wb(sync.wb) {
            let cell_code = match cell {
                Cell::X(r) => u64::from(r),
                Cell::Sp => SYNC_SP + self.block.mode.sp_index() as u64,
                Cell::Nzcv => SYNC_NZCV,
            };
            let form = match (cell, self.raw[v.0 as usize]) {
                (Cell::Nzcv, RAW_ADD) => FORM_RAW_ADD,
                (Cell::Nzcv, RAW_SUB) => FORM_RAW_SUB,
                _ => FORM_PLAIN,
            };
            let head = cell_code | form << 8;
            match self.loc[v.0 as usize] {
                Loc::Reg(r) => self.record_words.push(head | SRC_REG << 16 | u64::from(r) << 24),
                Loc::Slot(s) => {
                    let off = self.slot_off(s) as u32;
                    self.record_words.push(head | SRC_SLOT << 16 | u64::from(off) << 32);
                }
                Loc::Imm(c) => self.record_words.extend_from_slice(&[head | SRC_IMM << 16, c]),
                Loc::None => unreachable!("value v{} used but never defined", v.0),
            }
        }
        self.record_words[start + RECORD_HEAD - 1] = (self.record_words.len() - start - RECORD_HEAD) as u64;
        self.records.push((record, start));
        let thunk = self.env.ctx_thunks + 8 * thunk as i32;
        dynasm!(self.a
            ; .arch x64
            ; lea rdx, [=>record]
            ; call QWORD [rbx + thunk]
        );
    }

    /// The thunk for a load's (`write` false) or store's slow path: one
    /// that first makes an access that missed the fast path only for being
    /// unaligned inside one page whose entry allows that
    /// (`tlb_entry::UNALIGNED_OK`), where the access may be one. Linux's
    /// string and unaligned-access helpers made these a tenth of its boot
    /// when each went through the interpreter byte by byte.
    fn access_thunk(mem: &Mem, write: bool) -> usize {
        let plain = if write { THUNK_STATUS_RET } else { THUNK_STATUS_CTX };
        if mem.size == 1 || mem.acc.unprivileged || mem.acc.ordered || mem.acc.atomic {
            return plain;
        }
        let size = mem.size.trailing_zeros() as usize - 1;
        if write {
            THUNK_STORE_UNALIGNED + size
        } else {
            THUNK_LOAD_UNALIGNED + size
        }
    }

    /// `rax` = the `size`-byte value (zero-extended) at host address
    /// `rax` (plus `index` when `Some`), as `tlb_probe` leaves them.
    /// Loads `size` bytes, zero-extended, from host address `rax` (plus
    /// `index`) into `r`.
    fn host_load(&mut self, index: Option<u8>, size: u8, r: u8) {
        match (index, size) {
            (None, 1) => dynasm!(self.a ; .arch x64 ; movzx Rd(r), BYTE [rax]),
            (None, 2) => dynasm!(self.a ; .arch x64 ; movzx Rd(r), WORD [rax]),
            (None, 4) => dynasm!(self.a ; .arch x64 ; mov Rd(r), DWORD [rax]),
            (None, _) => dynasm!(self.a ; .arch x64 ; mov Rq(r), QWORD [rax]),
            (Some(x), 1) => dynasm!(self.a ; .arch x64 ; movzx Rd(r), BYTE [rax + Rq(x)]),
            (Some(x), 2) => dynasm!(self.a ; .arch x64 ; movzx Rd(r), WORD [rax + Rq(x)]),
            (Some(x), 4) => dynasm!(self.a ; .arch x64 ; mov Rd(r), DWORD [rax + Rq(x)]),
            (Some(x), _) => dynasm!(self.a ; .arch x64 ; mov Rq(r), QWORD [rax + Rq(x)]),
        }
    }

    /// Stores the low `size` bytes of `value` at host address `rax` (plus
    /// `index`); clobbers `rcx` when the value has no register.
    fn host_store(&mut self, index: Option<u8>, size: u8, value: Val) {
        // The value straight from its register when it has one.
        let rv = self.reg_or(value, RCX);
        match (index, size) {
            (None, 1) => dynasm!(self.a ; .arch x64 ; mov BYTE [rax], Rb(rv)),
            (None, 2) => dynasm!(self.a ; .arch x64 ; mov WORD [rax], Rw(rv)),
            (None, 4) => dynasm!(self.a ; .arch x64 ; mov DWORD [rax], Rd(rv)),
            (None, _) => dynasm!(self.a ; .arch x64 ; mov QWORD [rax], Rq(rv)),
            (Some(x), 1) => dynasm!(self.a ; .arch x64 ; mov BYTE [rax + Rq(x)], Rb(rv)),
            (Some(x), 2) => dynasm!(self.a ; .arch x64 ; mov WORD [rax + Rq(x)], Rw(rv)),
            (Some(x), 4) => dynasm!(self.a ; .arch x64 ; mov DWORD [rax + Rq(x)], Rd(rv)),
            (Some(x), _) => dynasm!(self.a ; .arch x64 ; mov QWORD [rax + Rq(x)], Rq(rv)),
        }
    }

    fn emit_slow(&mut self, s: Slow) {
        match s {
            Slow::Guess {
                label,
                back,
                reg,
                slot,
                add,
            } => {
                dynasm!(self.a
                    ; .arch x64
                    ; =>label
                    ; mov Rq(reg), QWORD [rbx + rcx + add]
                    ; mov QWORD [rbx + slot], Rq(reg)
                    ; jmp =>back
                );
            }
            Slow::Load {
                at,
                label,
                back,
                mem,
                pc,
                raw,
            } => {
                dynasm!(self.a ; .arch x64 ; =>label);
                let info = info(raw, &mem);
                let (f, thunk) = (self.env.helper_load, Self::access_thunk(&mem, false));
                self.faulting_call(&mem.sync, mem.addr, None, pc, info, f, thunk);
                self.store(Val(at as u32), RAX);
                dynasm!(self.a ; .arch x64 ; jmp =>back);
            }
            Slow::Store {
                check,
                label,
                back,
                mem,
                value,
                pc,
                raw,
            } => {
                dynasm!(self.a ; .arch x64 ; =>label);
                let info = info(raw, &mem);
                let (f, thunk) = (self.env.helper_store, Self::access_thunk(&mem, true));
                self.faulting_call(&mem.sync, mem.addr, Some(value), pc, info, f, thunk);
                if let Some(exit) = check {
                    dynasm!(self.a
                        ; .arch x64
                        ; test r15, r15
                        ; jl =>exit
                    );
                }
                dynasm!(self.a ; .arch x64 ; jmp =>back);
            }
            Slow::CheckSp {
                label,
                back,
                sp,
                sync,
                pc,
                raw,
            } => {
                dynasm!(self.a ; .arch x64 ; =>label);
                let f = self.env.helper_check_sp;
                self.faulting_call(&sync, sp, None, pc, u64::from(raw), f, THUNK_STATUS_RET);
                dynasm!(self.a ; .arch x64 ; jmp =>back);
            }
            Slow::InterpExit {
                label,
                sync,
                addr,
                pc,
                raw,
                helper,
            } => {
                dynasm!(self.a ; .arch x64 ; =>label);
                self.writeback(self.block.wb(sync.wb));
                self.exact_icount(sync.retired);
                self.load(RAX, addr);
                self.set_arg(0, RAX);
                self.mov_imm(RAX, pc);
                self.set_arg(2, RAX);
                // "Ends": the helper reports a plain exit when it succeeds.
                self.mov_imm(RAX, u64::from(raw) | 1 << 32);
                self.set_arg(3, RAX);
                self.call_ctx_helper(helper);
                let ret = self.ret_label;
                dynasm!(self.a ; .arch x64 ; jmp =>ret);
            }
            Slow::Exit {
                label,
                target,
                exit,
                resume,
            } => {
                dynasm!(self.a ; .arch x64 ; =>label);
                self.exit_code(target, &exit, resume);
            }
            Slow::BackEdge { label, exit } => {
                dynasm!(self.a ; .arch x64 ; =>label);
                self.back_edge(&exit);
            }
            Slow::FpDetect { at, label, slow, done } => {
                dynasm!(self.a ; .arch x64 ; =>label);
                self.detecting = true;
                let block: &'a Block = self.block;
                match block.code[at] {
                    Inst::Call(HelperOp::Fp(fop, size), vs) => {
                        self.native_scalar(fop, size, block.lists.args(vs), at, slow, done);
                    }
                    Inst::QCall(HelperOp::FpLanes(fop, size, lanes), qs) => {
                        self.packed_fp(fop, size, lanes, block.lists.qargs(qs), at, slow, done);
                    }
                    _ => unreachable!("only FP operations detect Inexact"),
                }
                // Every path above ends in a jump; this one never runs.
                dynasm!(self.a ; .arch x64 ; jmp =>slow);
                self.detecting = false;
            }
        }
    }
}

/// The `info` argument of the memory helpers: the instruction word, the
/// size and the access flags.
fn info(raw: u32, mem: &Mem) -> u64 {
    u64::from(raw)
        | u64::from(mem.size) << 32
        | u64::from(mem.acc.unprivileged) << 40
        | u64::from(mem.acc.ordered) << 41
        | u64::from(mem.acc.atomic) << 42
}

/// The guest registers a slow path's record writes back before its helper
/// runs (`Gen::faulting_call`), with their values: `record` from its
/// first word, `frame` from the thunk's stack pointer
/// ([`SYNC_FRAME_WORDS`]). Calls `f(cell, value)` for each; `cell` is
/// 0-30 for X0-X30, 31-34 for SP_EL0-3 and 35 for NZCV (its value in
/// bits 31:28). A malformed record panics (an index out of range) rather
/// than reading anything else.
pub fn sync_writes(record: &[u64], frame: &[u64], mut f: impl FnMut(u8, u64)) {
    let list = &record[RECORD_HEAD..RECORD_HEAD + record[RECORD_HEAD - 1] as usize];
    let mut k = 0;
    while k < list.len() {
        let w = list[k];
        k += 1;
        let value = match w >> 16 & 0xff {
            SRC_REG => {
                let r = (w >> 24 & 0xff) as u8;
                let at = SAVED_REGS.iter().position(|&x| x == r).expect("a saved register");
                frame[at]
            }
            SRC_SLOT => frame[SAVED_REGS.len() + 1 + (w >> 32) as usize / 8],
            _ => {
                k += 1;
                list[k - 1]
            }
        };
        let value = match w >> 8 & 0xff {
            form @ (FORM_RAW_ADD | FORM_RAW_SUB) => u64::from(super::nzcv_of_raw(value as u16, form == FORM_RAW_SUB)),
            _ if w & 0xff == SYNC_NZCV => value & 0xffff_ffff,
            _ => value,
        };
        f((w & 0xff) as u8, value);
    }
}

/// Decodes [`info`]: `(raw, size, access)`.
pub fn decode_info(info: u64) -> (u32, u8, cpu_aarch64::sem::MemAccess) {
    (
        info as u32,
        (info >> 32) as u8,
        cpu_aarch64::sem::MemAccess {
            unprivileged: info >> 40 & 1 == 1,
            ordered: info >> 41 & 1 == 1,
            atomic: info >> 42 & 1 == 1,
        },
    )
}

/// Thunk 2: the lookup of a direct exit's stub until the exit is
/// chained. Called with `rcx` = the exit's slot, `rax` = the target PC and
/// `edx` = the block's mode: notes the slot for the engine to patch, sets
/// the PC and returns with `rcx` at the jump-cache entry of the block for
/// that PC and mode (the stub jumps through it: an indirect jump per stub
/// keeps its own prediction, where one shared by every stub missed on
/// Linux's calls between pages), else returns `exit::CHAIN` to the
/// dispatcher itself.
fn chain_thunk(env: &Env) -> Vec<u8> {
    let mut a = Asm::default();
    let (slot_off, pc_off) = (env.ctx_exit_slot, env.cpu_pc);
    let miss = a.new_dynamic_label();
    dynasm!(a
        ; .arch x64
        ; mov QWORD [rbx + slot_off], rcx
        ; mov QWORD [rbp + pc_off], rax
    );
    jc_probe(&mut a, env, miss);
    dynasm!(a
        ; .arch x64
        ; cmp DWORD [rcx + 8], edx
        ; jne =>miss
        ; ret
        ; =>miss
        // Past the stub, back to the trampoline.
        ; add rsp, 8
        ; mov eax, exit::CHAIN as i32
        ; ret
    );
    a.finalize().expect("thunk assembles")
}

/// A load's (`write` false) or store's slow path of `size` bytes (2, 4
/// or 8), entered like the helper-call thunks with the address in `rax`,
/// the value stored in `rcx` and the record in `rdx`: an access that
/// missed the fast path only for being unaligned, inside one page whose
/// fast-TLB entry allows that (`tlb_entry::UNALIGNED_OK`), is made here
/// (a load's value in `rax`); anything else goes on to the
/// helper call. Linux's string and unaligned-access helpers made these a
/// tenth of its boot when each went through the interpreter byte by byte.
fn unaligned_thunk(env: &Env, size: i32, write: bool) -> Vec<u8> {
    let mut a = Asm::default();
    let (helper, helper_pop) = (a.new_dynamic_label(), a.new_dynamic_label());
    let index_mask = (env.tlb_entries as i32 - 1) << tlb_entry::SHIFT;
    let tag = if write { tlb_entry::WRITE } else { tlb_entry::READ };
    let (pa, ok, add) = (tlb_entry::PA, tlb_entry::UNALIGNED_OK as i8, tlb_entry::ADDEND);
    dynasm!(a
        ; .arch x64
        // Aligned: a miss.
        ; test al, (size - 1) as i8
        ; jz =>helper
        ; push rsi
        // Into the next page.
        ; mov esi, eax
        ; and esi, 0xfff
        ; cmp esi, 4096 - size
        ; ja =>helper_pop
        // The page's entry (its offset from the context), its tag and
        // whether it allows unaligned accesses.
        ; mov rsi, rax
        ; shr rsi, (12 - tlb_entry::SHIFT) as i8
        ; and esi, index_mask
        ; add rsi, QWORD [rdx + 8 * RECORD_TLB]
        ; push rax
        ; and rax, -4096
        ; cmp rax, QWORD [rbx + rsi + tag]
        ; pop rax
        ; jne =>helper_pop
        ; test BYTE [rbx + rsi + pa], ok
        ; jz =>helper_pop
        ; add rax, QWORD [rbx + rsi + add]
        ; pop rsi
    );
    match (write, size) {
        (false, 2) => dynasm!(a ; .arch x64 ; movzx eax, WORD [rax]),
        (false, 4) => dynasm!(a ; .arch x64 ; mov eax, DWORD [rax]),
        (false, _) => dynasm!(a ; .arch x64 ; mov rax, QWORD [rax]),
        (true, 2) => dynasm!(a ; .arch x64 ; mov WORD [rax], cx),
        (true, 4) => dynasm!(a ; .arch x64 ; mov DWORD [rax], ecx),
        (true, _) => dynasm!(a ; .arch x64 ; mov QWORD [rax], rcx),
    }
    let thunk = env.ctx_thunks + 8 * if write { THUNK_STATUS_RET } else { THUNK_STATUS_CTX } as i32;
    dynasm!(a
        ; .arch x64
        ; ret
        ; =>helper_pop
        ; pop rsi
        ; =>helper
        ; jmp QWORD [rbx + thunk]
    );
    a.finalize().expect("thunk assembles")
}

/// The jump-cache probe for the PC in `rax`: `rcx` = its entry, and on to
/// `miss` unless the entry is for that PC (the caller checks the mode).
fn jc_probe(a: &mut Asm, env: &Env, miss: DynamicLabel) {
    let mask = (env.jc_entries - 1) as i32;
    let base = env.ctx_jc;
    dynasm!(a
        ; .arch x64
        ; mov rcx, rax
        ; shr rcx, 2
        ; and ecx, mask
        ; shl ecx, 5
        ; lea rcx, [rbx + rcx + base]
        ; cmp rax, QWORD [rcx]
        ; jne =>miss
    );
}

impl Backend for X64 {
    fn trampoline(&self, env: &Env) -> Vec<u8> {
        let mut a = Asm::default();
        let budget = env.ctx_budget;
        dynasm!(a
            ; .arch x64
            ; push rbx
            ; push rbp
            ; push r12
            ; push r13
            ; push r14
            ; push r15
            ; sub rsp, FRAME
            ; mov rbx, rdi
            ; mov rbp, rsi
            ; mov r15, QWORD [rbx + budget]
            ; call rdx
            ; mov QWORD [rbx + budget], r15
            ; add rsp, FRAME
            ; pop r15
            ; pop r14
            ; pop r13
            ; pop r12
            ; pop rbp
            ; pop rbx
            ; ret
        );
        a.finalize().expect("trampoline assembles")
    }

    /// The helper call of a slow path (`Gen::faulting_call`), shared:
    /// `THUNK_STATUS_CTX` takes the exception exit if the helper set
    /// `JitCtx::status`, `THUNK_STATUS_RET` if it returned non-zero (for
    /// any block: the exit depends on nothing of the block's).
    /// Entered by `call` with the helper's first two arguments in `rax`
    /// and `rcx` and `rdx` pointing at the site's record (`RECORD_HEAD`):
    /// saves the registers that may hold values, stores the record's
    /// write-back list through `Env::helper_sync`, makes `Cpu::icount`
    /// exact (`limit - budget - rest`), calls the helper and returns its
    /// result in `rax`. Then the chaining thunk, and the unaligned-access
    /// ones (`unaligned_thunk`).
    fn thunks(&self, env: &Env) -> Vec<Vec<u8>> {
        let (args, limit, icount, budget, status) = (
            env.ctx_args,
            env.ctx_limit,
            env.cpu_icount,
            env.ctx_budget,
            env.ctx_status,
        );
        let call = |kind: usize| {
            let mut a = Asm::default();
            let no_sync = a.new_dynamic_label();
            for &r in SAVED_REGS.iter().rev() {
                dynasm!(a ; .arch x64 ; push Rq(r));
            }
            // Nine pushes: 16-byte aligned for the calls (entered at 8
            // mod 16). r12 keeps the record across them.
            dynasm!(a
                ; .arch x64
                ; mov QWORD [rbx + args], rax
                ; mov QWORD [rbx + args + 8], rcx
                ; mov r12, rdx
                ; cmp QWORD [r12 + 8 * (RECORD_HEAD as i32 - 1)], 0
                ; je =>no_sync
                ; mov rdi, rbx
                ; mov rsi, rsp
                ; mov rax, QWORD env.helper_sync as i64
                ; call rax
                ; =>no_sync
                ; mov rax, QWORD [r12]
                ; mov QWORD [rbx + args + 16], rax
                ; mov rax, QWORD [r12 + 8]
                ; mov QWORD [rbx + args + 24], rax
                ; mov rax, QWORD [rbx + limit]
                ; sub rax, r15
                ; sub rax, QWORD [r12 + 24]
                ; mov QWORD [rbp + icount], rax
                ; mov QWORD [rbx + budget], r15
                ; mov rdi, rbx
                ; call QWORD [r12 + 16]
                ; mov r15, QWORD [rbx + budget]
            );
            let fault = a.new_dynamic_label();
            if kind == THUNK_STATUS_CTX {
                dynasm!(a ; .arch x64 ; cmp QWORD [rbx + status], 0);
            } else {
                dynasm!(a ; .arch x64 ; test rax, rax);
            }
            dynasm!(a ; .arch x64 ; jne =>fault);
            for &r in &SAVED_REGS {
                dynasm!(a ; .arch x64 ; pop Rq(r));
            }
            // A fault leaves the block from here, for every block alike:
            // past the saved registers and the return into the block, to
            // the trampoline with the count as the helper left it (what a
            // block's own exit after a helper does). The registers need
            // no restoring: the trampoline restores its caller's.
            let frame = 8 * (SAVED_REGS.len() as i32 + 1);
            dynasm!(a
                ; .arch x64
                ; ret
                ; =>fault
                ; add rsp, frame
                ; mov eax, exit::EXCEPTION as i32
                ; mov rcx, QWORD [rbp + icount]
                ; add rcx, r15
                ; mov QWORD [rbx + limit], rcx
                ; ret
            );
            a.finalize().expect("thunk assembles")
        };
        let mut thunks = vec![call(THUNK_STATUS_CTX), call(THUNK_STATUS_RET), chain_thunk(env)];
        for write in [false, true] {
            for size in [2, 4, 8] {
                thunks.push(unaligned_thunk(env, size, write));
            }
        }
        thunks
    }

    fn compile(
        &self,
        block: &Block,
        env: &Env,
        op_index: &mut dyn FnMut(crate::ir::HelperOp) -> u32,
        out: &mut Compiled,
    ) -> Result<(), CompileError> {
        let n = block.code.len();
        // Borrowed, not taken: moving the tables out and back copied them.
        let mut guard = self.tables.borrow_mut();
        let tables = &mut *guard;
        let Tables {
            last_use,
            pinned,
            loc,
            qslot,
            ops,
            handed,
            uses,
            fused,
            cc_from,
            cc_in_dl,
            live_cs,
            carried,
            expiring,
            q_reg,
            q_out,
            scaled,
            fed,
            raw,
            joins,
            free,
            free_slots,
            exits,
            records,
            record_words,
            asm,
            slow,
        } = tables;
        // Only the guess at EL1+ reads it (see `tlb_probe`). A looped
        // block's needs the fixed point over its carried cells
        // (`Block::load_fed`); any other's comes with the uses below (what
        // `load_fed` computes too, without a pass of its own).
        let fed_here = block.mode.el != 0 && !block.looped;
        if block.mode.el != 0 && block.looped {
            block.load_fed(fed);
        } else {
            reset(fed, n, false);
        }
        raw_flags(block, raw);
        reset(last_use, n, 0);
        reset(uses, n, 0);
        for (i, inst) in block.code.iter().enumerate() {
            last_use[i] = i;
            let mut any = false;
            block.uses(inst, |v| {
                last_use[v.0 as usize] = i;
                uses[v.0 as usize] += 1;
                any |= fed[v.0 as usize];
            });
            if fed_here {
                fed[i] = match inst {
                    Inst::Load(..) | Inst::Atomic(..) => true,
                    // (The write-backs the others read are not operands.)
                    _ => any && Block::defines_v(inst) && !matches!(inst, Inst::Get(_)),
                };
            }
        }
        debug_assert!(
            !fed_here || {
                let mut all = Vec::new();
                block.load_fed(&mut all);
                all == *fed
            }
        );
        // A shift left by 1 to 3 whose only use is an add is the add's
        // scaled index (`lea`): no code, no place of its own; its operand
        // lives on to the add. (Scaled-register addressing, LDR Wt,
        // [Xn, Xm, LSL #2], is an add of a shift.)
        reset(scaled, n, 0);
        for (i, inst) in block.code.iter().enumerate() {
            let Inst::Bin(BinOp::Shl, x, k) = *inst else {
                continue;
            };
            let Inst::Const(k @ 1..=3) = block.code[k.0 as usize] else {
                continue;
            };
            let j = last_use[i];
            // One index per add: `x<<1 + y<<3` folds one shift, and the
            // other keeps its place as the base (folding both left the
            // base without one: a panic a random sequence found).
            let by_add = matches!(block.code[j], Inst::Bin(BinOp::Add, p, q)
                if (p.0 as usize == i) != (q.0 as usize == i)
                    && scaled[if p.0 as usize == i { q } else { p }.0 as usize] == 0);
            if uses[i] == 1 && j > i && by_add {
                scaled[i] = k as u8;
                last_use[x.0 as usize] = last_use[x.0 as usize].max(j);
            }
        }
        // A looped block's `Get`s hold their cells from before the loop
        // head to the last back edge (see `Block::close_loop`).
        reset(pinned, n, false);
        carried.clear();
        reset(joins, n, u32::MAX);
        if let Some(last_back) = block.code.iter().rposition(|i| block.looped && block.is_back_edge(i)) {
            for (i, inst) in block.code.iter().enumerate() {
                if let Inst::Get(c) = *inst {
                    join_carried(block, uses, scaled, last_use, joins, c, i);
                    pinned[i] = true;
                    last_use[i] = last_use[i].max(last_back);
                    carried.push((c, Val(i as u32)));
                }
            }
        }
        // Linear register allocation.
        reset(loc, n, Loc::None);
        free.clear();
        free.extend(POOL.iter().rev());
        // Slots given back (free from now on), then ones never used (free
        // over the whole block).
        free_slots.clear();
        let mut fresh_slots = 0..SPILL_SLOTS as u16;
        expiring.reset(n);
        reset(qslot, n, u16::MAX);
        let mut next_q = 0usize;
        reset(ops, n, 0);
        // A V register read whose register cannot change before the
        // value's last use is used where it is (no copy, no slot; the
        // 128-bit helper takes operands in V registers too).
        reset(q_reg, n, NO_Q_REG);
        for (i, inst) in block.code.iter().enumerate() {
            if let Inst::GetQ(r) = *inst {
                let span = &block.code[i + 1..last_use[i].max(i + 1)];
                if !span.iter().any(|x| Block::may_write_v(x, r)) {
                    q_reg[i] = r;
                }
            }
        }
        // A 128-bit operation whose only use is the V register write right
        // after it (nothing in between emits code) writes that register
        // itself. Every lowering reads all operands before it writes the
        // result, and no value read from that register in place is needed
        // afterwards: the write would have been inside its span above.
        reset(q_out, n, NO_Q_REG);
        for (i, inst) in block.code.iter().enumerate() {
            if !matches!(inst, Inst::QCall(..)) {
                continue;
            }
            let j = last_use[i];
            let Inst::SetQ(r, q) = block.code[j] else {
                continue;
            };
            if q.0 as usize == i
                && block.code[i + 1..j]
                    .iter()
                    .all(|x| matches!(x, Inst::Nop | Inst::Const(_)))
            {
                debug_assert!(!(0..i).any(|g| q_reg[g] == r && last_use[g] > i));
                q_out[i] = r;
            }
        }
        // A zero or a lane insert whose only use is the lane insert right
        // after it stays in xmm0 (see the `QWithLane` lowering).
        if env.host_sse41 {
            for i in 0..n.saturating_sub(1) {
                let chained = matches!(block.code[i], Inst::QImm([0, 0]) | Inst::QWithLane(..))
                    && last_use[i] == i + 1
                    && matches!(block.code[i + 1], Inst::QWithLane(q, ..) if q.0 as usize == i);
                if chained {
                    q_out[i] = IN_XMM0;
                }
            }
        }
        for (i, inst) in block.code.iter().enumerate() {
            match inst {
                Inst::QCall(op, _) | Inst::Call(op, _) => ops[i] = op_index(*op),
                _ => {}
            }
            if Block::defines_q(inst) && q_reg[i] == NO_Q_REG && q_out[i] == NO_Q_REG {
                if next_q >= env.qslots {
                    return Err(CompileError::TooManySpills(env.qslots));
                }
                qslot[i] = next_q as u16;
                next_q += 1;
            }
        }
        for &(_, g) in carried.iter() {
            let g = g.0 as usize;
            loc[g] = if let Some(r) = free.pop() {
                Loc::Reg(r)
            } else if let Some(s) = free_slots.pop().or_else(|| fresh_slots.next()) {
                Loc::Slot(s)
            } else {
                return Err(CompileError::TooManySpills(SPILL_SLOTS));
            };
            expiring.push((last_use[g] + 1).min(n).max(g + 1), g);
        }
        // Values whose register passed to the result of their last use.
        reset(handed, n, false);
        // The value each register holds now (not the loop's carried ones).
        let mut owner: [Option<usize>; 16] = [None; 16];
        for (i, inst) in block.code.iter().enumerate() {
            let defines = Block::defines_v(inst);
            // Values whose last use was an earlier instruction free
            // their place before this one's result takes one.
            for v in expiring.at(i) {
                match loc[v] {
                    Loc::Reg(_) if handed[v] => {}
                    Loc::Reg(r) => {
                        free.push(r);
                        owner[r as usize] = None;
                    }
                    Loc::Slot(s) => free_slots.push(s),
                    _ => {}
                }
            }
            if !defines || pinned[i] || scaled[i] != 0 || flags_only(block, uses, i) {
                continue;
            }
            if let Inst::Const(c) = inst {
                loc[i] = Loc::Imm(*c);
                continue;
            }
            // The new value of a carried cell, in the cell's own place
            // (`join_carried`): the back edge moves nothing.
            if let Some(g) = Some(joins[i] as usize).filter(|&g| g != u32::MAX as usize) {
                if let Loc::Reg(r) = loc[g] {
                    handed[g] = true;
                    loc[i] = Loc::Reg(r);
                    let free_at = (last_use[i] + 1).min(n);
                    expiring.push(free_at.max(i + 1), i);
                    continue;
                }
            }
            // A unary, binary or flag-setting arithmetic operation whose
            // first operand dies here computes in that operand's register
            // (their lowerings load the first operand into the result's
            // register before reading the others, which then live
            // elsewhere): no copy.
            // So does a load whose address dies there (it is read before
            // the result is written, on the fast and slow paths alike).
            let first = match inst {
                Inst::Bin(_, a, _) | Inst::Un(_, a) | Inst::Adc(a, ..) | Inst::SubC(a, ..) | Inst::SubCImm(a, ..) => {
                    Some(a.0 as usize)
                }
                Inst::Load(m) => Some(m.addr.0 as usize),
                _ => None,
            };
            if let Some(a) = first.filter(|&a| last_use[a] == i && !handed[a]) {
                if let Loc::Reg(r) = loc[a] {
                    handed[a] = true;
                    loc[i] = Loc::Reg(r);
                    if owner[r as usize] == Some(a) {
                        owner[r as usize] = Some(i);
                    }
                    let free_at = (last_use[i] + 1).min(n);
                    expiring.push(free_at.max(i + 1), i);
                    continue;
                }
            }
            // Out of registers: the value used last of those in registers
            // and this one goes to memory, for its whole life (a value
            // needed again only at the block's exits costs a store and a
            // load there; a spilled temporary, a round trip through memory
            // on the way to its next use).
            let victim = if free.is_empty() {
                owner
                    .iter()
                    .enumerate()
                    .filter_map(|(r, v)| v.map(|v| (r as u8, v)))
                    .max_by_key(|&(_, v)| last_use[v])
                    .filter(|&(_, v)| last_use[v] > last_use[i])
            } else {
                None
            };
            if let Some((r, v)) = victim {
                // A slot free since before it was defined.
                let Some(s) = fresh_slots.next() else {
                    return Err(CompileError::TooManySpills(SPILL_SLOTS));
                };
                loc[v] = Loc::Slot(s);
                free.push(r);
            }
            loc[i] = if let Some(r) = free.pop() {
                owner[r as usize] = Some(i);
                Loc::Reg(r)
            } else if let Some(s) = free_slots.pop().or_else(|| fresh_slots.next()) {
                Loc::Slot(s)
            } else {
                return Err(CompileError::TooManySpills(SPILL_SLOTS));
            };
            // A value is freed after its last use (at least the
            // instruction after its definition, so an instruction's
            // operands never share a place with its result, but for the
            // hand-over above).
            let free_at = (last_use[i] + 1).min(n);
            expiring.push(free_at.max(i + 1), i);
        }
        // A test (CondHolds, or a compare) read only by the next
        // instruction that emits code, an ExitIf or a Select, is evaluated
        // into the host flags by that user (saving the 0/1 value).
        reset(fused, n, false);
        for (i, inst) in block.code.iter().enumerate() {
            let test = matches!(
                inst,
                Inst::CondHolds(..) | Inst::Bin(BinOp::Eq | BinOp::Ne | BinOp::SubCond { .. }, ..)
            );
            if !test || uses[i] != 1 {
                continue;
            }
            let next = block.code[i + 1..]
                .iter()
                .position(|x| !matches!(x, Inst::Nop | Inst::Const(_)))
                .map(|k| &block.code[i + 1 + k]);
            fused[i] = match next {
                Some(Inst::ExitIf(c, ..)) => c.0 as usize == i,
                Some(Inst::Select(c, x, y)) => c.0 as usize == i && x.0 as usize != i && y.0 as usize != i,
                _ => false,
            };
        }
        let next_code = |from: usize| {
            block.code[from..]
                .iter()
                .position(|x| !matches!(x, Inst::Nop | Inst::Const(_)))
                .map(|k| from + k)
        };
        reset(cc_from, n, None);
        for (i, inst) in block.code.iter().enumerate() {
            if !matches!(inst, Inst::Adc(..) | Inst::SubC(..) | Inst::SubCImm(..)) {
                continue;
            }
            if !matches!(block.code.get(i + 1), Some(Inst::AdcFlags(src)) if src.0 as usize == i) {
                continue;
            }
            if let Some(j) = next_code(i + 2) {
                if let Inst::CondHolds(f, _) = block.code[j] {
                    if f.0 as usize == i + 1 && fused[j] {
                        cc_from[i] = Some(j);
                    }
                }
            }
        }
        // Kept with its storage: the buffers grow to the largest block.
        let mut a = std::mem::take(asm);
        a.clear();
        let ret_label = a.new_dynamic_label();
        let budget_label = a.new_dynamic_label();
        // A register holds one value at a time, so these intervals are
        // disjoint per register: linear in the block's length.
        reset(live_cs, n, 0);
        for (v, l) in loc.iter().enumerate() {
            if let Loc::Reg(r) = *l {
                if caller_saved(r) {
                    let born = if pinned[v] { 0 } else { v + 1 };
                    for m in &mut live_cs[born.min(n)..last_use[v].max(v + 1).min(n)] {
                        *m |= 1 << r;
                    }
                }
            }
        }
        reset(cc_in_dl, n, false);
        let mut g = Gen {
            a,
            env,
            block,
            live_cs: std::mem::take(live_cs),
            loc: std::mem::take(loc),
            pushed: 0,
            slow: std::mem::take(slow),
            exits: std::mem::take(exits),
            ret_label,
            fused: std::mem::take(fused),
            qslot: std::mem::take(qslot),
            ops: std::mem::take(ops),
            cc_from: std::mem::take(cc_from),
            cc_in_dl: std::mem::take(cc_in_dl),
            loop_head: None,
            carried: std::mem::take(carried),
            q_reg: std::mem::take(q_reg),
            q_out: std::mem::take(q_out),
            scaled: std::mem::take(scaled),
            uses: std::mem::take(uses),
            fed: std::mem::take(fed),
            raw: std::mem::take(raw),
            records: std::mem::take(records),
            record_words: std::mem::take(record_words),
            flags_of: None,
            check_after: None,
            detecting: false,
        };
        // Entry: the budget check (bounded exit latency). Taking the
        // block's instructions first and giving them back on the exit path
        // is one read-modify-write instead of a compare and a subtract.
        let insns = block.insns.len() as i32;
        dynasm!(g.a
            ; .arch x64
            ; sub r15, insns
            ; jl =>budget_label
        );
        if block.looped {
            for k in 0..g.carried.len() {
                let (c, v) = g.carried[k];
                g.get_cell(v, c);
            }
            let head = g.a.new_dynamic_label();
            dynasm!(g.a ; .arch x64 ; =>head);
            g.loop_head = Some(head);
        }
        for i in 0..n {
            g.inst(i)?;
        }
        let mut slow = std::mem::take(&mut g.slow);
        for s in slow.drain(..) {
            g.emit_slow(s);
        }
        let exits = std::mem::take(&mut g.exits);
        for &(slot, stub, target) in &exits {
            dynasm!(g.a
                ; .arch x64
                ; =>stub
                ; lea rcx, [=>slot]
            );
            g.mov_imm(RAX, target);
            let (mode, thunk) = (block.mode.bits() as i32, env.ctx_thunks + 8 * THUNK_CHAIN as i32);
            dynasm!(g.a
                ; .arch x64
                ; mov edx, mode
                ; call QWORD [rbx + thunk]
                ; jmp QWORD [rcx + 16]
            );
        }
        dynasm!(g.a
            ; .arch x64
            ; =>budget_label
            ; add r15, insns
        );
        // Entered with nothing done: the PC is this block's.
        g.mov_imm(RAX, block.pc);
        let pc_off = env.cpu_pc;
        let (icount, limit) = (env.cpu_icount, env.ctx_limit);
        dynasm!(g.a
            ; .arch x64
            ; mov QWORD [rbp + pc_off], rax
            ; mov eax, exit::BUDGET as i32
            ; ret
            ; =>ret_label
            // A helper ended the block: the count is as it left it.
            ; mov rcx, QWORD [rbp + icount]
            ; add rcx, r15
            ; mov QWORD [rbx + limit], rcx
            ; ret
        );
        // Data from here on: chaining slots, then helper-call records.
        let text = g.a.offset().0;
        dynasm!(g.a ; .arch x64 ; .align 8);
        for &(slot, _, _) in &exits {
            dynasm!(g.a ; .arch x64 ; =>slot ; .u64 0);
        }
        let mut records = std::mem::take(&mut g.records);
        let mut record_words = std::mem::take(&mut g.record_words);
        for (k, &(label, start)) in records.iter().enumerate() {
            let end = records.get(k + 1).map_or(record_words.len(), |r| r.1);
            dynasm!(g.a ; .arch x64 ; =>label);
            g.a.extend(record_words[start..end].iter().flat_map(|w| w.to_le_bytes()));
        }
        records.clear();
        record_words.clear();
        let resolve = |a: &Asm, l: DynamicLabel| -> Result<usize, CompileError> {
            a.resolve(l).map_err(|e| CompileError::Assembler(e.to_string()))
        };
        out.exits.clear();
        for &(slot, stub, target) in &exits {
            out.exits.push(ExitSite {
                slot: resolve(&g.a, slot)?,
                stub: resolve(&g.a, stub)?,
                target,
            });
        }
        let mut exits = exits;
        exits.clear();
        g.a.swap_out(&mut out.code)
            .map_err(|e| CompileError::Assembler(format!("{e:?}")))?;
        out.text = text;
        tables.asm = g.a;
        tables.slow = slow;
        tables.exits = exits;
        tables.records = records;
        tables.record_words = record_words;
        tables.live_cs = g.live_cs;
        tables.loc = g.loc;
        tables.fused = g.fused;
        tables.qslot = g.qslot;
        tables.ops = g.ops;
        tables.cc_from = g.cc_from;
        tables.cc_in_dl = g.cc_in_dl;
        tables.carried = g.carried;
        tables.q_reg = g.q_reg;
        tables.q_out = g.q_out;
        tables.scaled = g.scaled;
        tables.uses = g.uses;
        tables.fed = g.fed;
        tables.raw = g.raw;
        Ok(())
    }

    fn disassemble(&self, code: &[u8], text: usize, addr: u64) -> String {
        use capstone::arch::BuildsCapstone;
        use std::fmt::Write;
        let Ok(cs) = capstone::Capstone::new()
            .x86()
            .mode(capstone::arch::x86::ArchMode::Mode64)
            .build()
        else {
            return String::from("(capstone unavailable)\n");
        };
        let mut out = String::new();
        match cs.disasm_all(&code[..text.min(code.len())], addr) {
            Ok(insns) => {
                for i in insns.iter() {
                    let _ = writeln!(
                        out,
                        "  {:#06x}: {} {}",
                        i.address(),
                        i.mnemonic().unwrap_or(""),
                        i.op_str().unwrap_or("")
                    );
                }
            }
            Err(e) => {
                let _ = writeln!(out, "(disassembly failed: {e})");
            }
        }
        // The data after the alignment padding, as 64-bit words.
        let data = (text + 7) & !7;
        for (k, q) in code.get(data..).unwrap_or_default().chunks(8).enumerate() {
            let mut b = [0u8; 8];
            b[..q.len()].copy_from_slice(q);
            let at = addr + (data + 8 * k) as u64;
            let _ = writeln!(out, "  {at:#06x}: .quad {:#x}", u64::from_le_bytes(b));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_back_list_reads_registers_slots_and_immediates() {
        // The thunk's stack: saved r14 .. rsi, the return address, then
        // the block's stack (slot s at 8 + 8 s from its pointer).
        let mut frame = vec![0u64; SYNC_FRAME_WORDS];
        for (k, &r) in SAVED_REGS.iter().enumerate() {
            frame[k] = 0x1000 + u64::from(r);
        }
        frame[SAVED_REGS.len() + 1 + 3] = 0x5107;
        // LAHF/SETO form: SF (bit 15), ZF (14), CF (8), OF (0).
        frame[0] = 0x8000 | 0x0100;
        let words = [
            SRC_REG << 16 | 6 << 24,       // X0 = rsi
            5 | SRC_SLOT << 16 | 24 << 32, // X5 = slot at +24
            (SYNC_SP + 1) | SRC_IMM << 16, // SP_EL1 = imm
            0xdead_beef,
            SYNC_NZCV | FORM_RAW_SUB << 8 | SRC_REG << 16 | 14 << 24, // from r14
            30 | SRC_REG << 16 | 11 << 24,                            // X30 = r11
        ];
        let mut record = vec![1, 2, 3, 4, 5, words.len() as u64];
        record.extend_from_slice(&words);
        let mut got = Vec::new();
        sync_writes(&record, &frame, |c, v| got.push((c, v)));
        assert_eq!(
            got,
            [
                (0, 0x1006),
                (5, 0x5107),
                (32, 0xdead_beef),
                // N and C from the host flags; a subtraction's carry is
                // the inverse of x86's borrow.
                (35, 0x8000_0000),
                (30, 0x100b),
            ]
        );
    }
}
