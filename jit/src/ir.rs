//! The JIT's intermediate representation and its builder.
//!
//! [`Builder`] implements [`Emitter`], so a block's IR comes from running
//! the one copy of the instruction semantics (`cpu_aarch64::sem`) over it:
//! there is no second description of what an instruction does. The IR is
//! a straight-line SSA list per block with side exits. Guest registers are
//! cached in IR values inside the block (reads after the first are free,
//! writes are buffered) and written back only where the machine state must
//! be exact: at exits, before an instruction handed to the interpreter,
//! and on the slow path of a memory access (where the state of the start
//! of the faulting instruction is written, so faults are precise).
//!
//! An instruction whose semantics use an operation the backends do not
//! lower yet (system registers, exclusives, SIMD&FP, ...) is recorded as
//! [`Inst::Interp`]: generated code calls the interpreter for that one
//! instruction. Correctness never depends on which path ran.

use cpu_aarch64::interp::{eval_bin, eval_un};
use cpu_aarch64::sem::{
    AtomicOp, Barrier, BinOp, BranchKind, CryptoOp, Emitter, FpOp, FpSize, Hint, InsnException, MemAccess, QOp, SatOp,
    SysRegId, UnOp, Width,
};
use cpu_aarch64::sysreg::SysReg;

/// An SSA value: the index of the instruction that defines it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Val(pub u32);

/// A 128-bit SIMD&FP value: the index of the instruction that defines
/// it (the same numbering as [`Val`]). Backends keep these in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QVal(pub u32);

impl QVal {
    /// The same index as a [`Val`] (for liveness).
    pub fn val(self) -> Val {
        Val(self.0)
    }
}

/// An operation evaluated by a helper with the shared leaf functions
/// (`simd`, `crypto`, `fp`); backends pass it by index into the engine's
/// table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HelperOp {
    /// A whole-register SIMD operation.
    Q(QOp),
    /// A cryptographic operation.
    Crypto(CryptoOp),
    /// A scalar floating-point operation (reads FPCR, accumulates FPSR).
    Fp(FpOp, FpSize),
    /// A saturating operation (sets FPSR.QC).
    Sat(SatOp),
    /// Table lookup with this many table registers.
    Table(u8),
    /// A floating-point operation on the low lanes (count) of 128-bit
    /// values (reads FPCR, accumulates FPSR).
    FpLanes(FpOp, FpSize, u8),
}

/// A piece of guest state the block caches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cell {
    /// X0..X30.
    X(u8),
    /// The stack pointer selected by the block's mode.
    Sp,
    /// NZCV in bits 31:28.
    Nzcv,
}

impl Cell {
    const COUNT: usize = 33;

    fn index(self) -> usize {
        match self {
            Cell::X(r) => usize::from(r),
            Cell::Sp => 31,
            Cell::Nzcv => 32,
        }
    }

    fn from_index(i: usize) -> Cell {
        match i {
            31 => Cell::Sp,
            32 => Cell::Nzcv,
            r => Cell::X(r as u8),
        }
    }
}

/// CPU state outside the cached cells that plain MRS/MSR read and write
/// in place (rare within one block, so not worth caching).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SysLoc {
    /// A value in the system-register table (`SysRegs::as_ptr`), kept as
    /// written (no side effects on access).
    Table(SysReg),
    /// SP_EL0 while it is not the selected stack pointer.
    SpEl0,
    /// PSTATE.DAIF in the DAIF register's layout (bits 9:6).
    Daif,
}

/// Entries `start..start + len` of one of a block's side tables
/// ([`Lists`]): the variable-length parts of instructions live there, so
/// an [`Inst`] is plain data (no drop, no allocation per list).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct List<T> {
    start: u32,
    len: u32,
    of: std::marker::PhantomData<T>,
}

impl<T> List<T> {
    /// The empty list.
    pub const EMPTY: List<T> = List {
        start: 0,
        len: 0,
        of: std::marker::PhantomData,
    };

    /// Number of entries.
    pub fn len(self) -> usize {
        self.len as usize
    }

    /// Whether it has no entries.
    pub fn is_empty(self) -> bool {
        self.len == 0
    }

    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..(self.start + self.len) as usize
    }

    /// Appends `xs` to `table`: their list.
    fn append(table: &mut Vec<T>, xs: &[T]) -> List<T>
    where
        T: Copy,
    {
        let start = table.len();
        table.extend_from_slice(xs);
        List::since(table, start)
    }

    /// The list of the entries of `table` from `start` on.
    fn since(table: &[T], start: usize) -> List<T> {
        List {
            start: start as u32,
            len: (table.len() - start) as u32,
            of: std::marker::PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for List<T> {
    // The entries are in the block ([`Block::dump`] shows them).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}]", self.len)
    }
}

/// Values to store back to guest state: `(cell, value)`.
pub type Writeback = List<(Cell, Val)>;

/// A block's side tables (see [`List`]).
#[derive(Clone, Debug, Default)]
pub struct Lists {
    /// Write-back entries.
    pub wbs: Vec<(Cell, Val)>,
    /// Operands of [`Inst::Call`].
    pub args: Vec<Val>,
    /// Operands of [`Inst::QCall`].
    pub qargs: Vec<QVal>,
}

impl Lists {
    /// A write-back list's entries.
    pub fn wb(&self, l: Writeback) -> &[(Cell, Val)] {
        &self.wbs[l.range()]
    }

    /// A call's operands.
    pub fn args(&self, l: List<Val>) -> &[Val] {
        &self.args[l.range()]
    }

    /// A 128-bit call's operands.
    pub fn qargs(&self, l: List<QVal>) -> &[QVal] {
        &self.qargs[l.range()]
    }

    fn clear(&mut self) {
        self.wbs.clear();
        self.args.clear();
        self.qargs.clear();
    }
}

/// Where a block exit goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// A constant address (chainable).
    Direct(u64),
    /// A computed address.
    Indirect(Val, BranchKind),
}

/// One IR instruction. Those that define a value define [`Val`] = their
/// index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Inst {
    /// Nothing: defines no value, emits no code (what value 0 becomes when
    /// nothing reads it, see [`Builder::restart`]).
    Nop,
    /// A constant.
    Const(u64),
    /// Reads guest state.
    Get(Cell),
    /// A two-operand operation.
    Bin(BinOp, Val, Val),
    /// A one-operand operation.
    Un(UnOp, Val),
    /// `a + b + c` truncated to `w` (see `Emitter::add_with_carry`).
    Adc(Val, Val, Val, Width),
    /// `a - b` truncated to `w`: what `Adc(a, NOT b, 1, w)` computes,
    /// with the same flags (the optimiser's rewrite of subtractions).
    SubC(Val, Val, Width),
    /// `a - k` (see [`Inst::SubC`]).
    SubCImm(Val, u64, Width),
    /// The NZCV of the [`Inst::Adc`] or [`Inst::SubC`]/[`Inst::SubCImm`]
    /// that defined the operand (always the instruction right before it).
    AdcFlags(Val),
    /// NZCV of a logical result.
    LogicFlags(Val, Width),
    /// 1 if the condition holds for the NZCV operand.
    CondHolds(Val, u32),
    /// `c != 0 ? a : b`.
    Select(Val, Val, Val),
    /// A load; `sync` is the state written back before the slow path.
    Load(Mem),
    /// A store of the second value.
    Store(Mem, Val),
    /// Faults if SP-alignment checking is on and the value is not 16-byte
    /// aligned.
    CheckSp(Val, Sync),
    /// Runs guest instruction `insn` on the interpreter after writing
    /// back `sync`; every cached cell is forgotten afterwards. `ends` ends
    /// the block after it.
    Interp {
        /// Index into [`Block::insns`].
        insn: u16,
        /// State written back first.
        sync: Sync,
        /// The block ends after this instruction (it may change the
        /// block's mode or the interrupt masks).
        ends: bool,
    },
    /// An atomic read-modify-write (LSE `LD<op>`/`SWP`: operands
    /// `(v, v)`; `CAS`: `(expected, new)`) defining the old value,
    /// zero-extended. Natively only on a write hit in the fast-path TLB
    /// (aligned, writable RAM without code or watchpoints); otherwise the
    /// whole instruction runs on the interpreter from `mem.sync`'s state and
    /// the block ends after it.
    Atomic(AtomicKind, Mem, Val, Val),
    /// Reads CPU state an MRS can see without side effects or traps in
    /// the block's mode (see `Builder::plain_sysreg`).
    SysGet(SysLoc),
    /// Writes such state (an MSR that changes nothing else).
    SysSet(SysLoc, Val),
    /// Reads V`r` (128-bit value).
    GetQ(u8),
    /// Writes V`r`.
    SetQ(u8, QVal),
    /// A 128-bit constant, low half first (two words: a `u128` would
    /// align every instruction to 16 bytes).
    QImm([u64; 2]),
    /// Lane `idx` (`esize` bytes) of a 128-bit value, zero-extended.
    QLane(QVal, u8, u8),
    /// Lane `idx` (`esize` bytes) of V`r` as it is now, zero-extended:
    /// `QLane(GetQ(r), ..)` without the copy (the builder's form when V`r`
    /// cannot change in between).
    QRegLane(u8, u8, u8),
    /// Writes V`r` with the low `esize` bytes of the value, zero-extended:
    /// `SetQ(r, QWithLane(QImm(0), esize, 0, v))`, what every scalar
    /// SIMD&FP result and load does.
    SetQZext(u8, Val, u8),
    /// Writes V`r` with the first value as its low and the second as its
    /// high 64 bits: `SetQ(r, QWithLane(QWithLane(QImm(0), 8, 0, lo), 8,
    /// 1, hi))`, a 128-bit load.
    SetQPair(u8, Val, Val),
    /// The 128-bit value with lane `idx` (`esize` bytes) replaced.
    QWithLane(QVal, u8, u8, Val),
    /// A 128-bit operation through a helper: `HelperOp::Q`,
    /// `HelperOp::Crypto` (three operands) or `HelperOp::Table` (the
    /// operands are the table registers, then index and fallback).
    QCall(HelperOp, List<QVal>),
    /// A scalar operation through a helper (`HelperOp::Fp`, `Sat`) that
    /// reads or accumulates FPCR/FPSR.
    Call(HelperOp, List<Val>),
    /// The alignment (and translation) check of a SIMD&FP access of
    /// `size` bytes at the address: may fault like the access would.
    CheckAlign(Val, u8, bool, Sync),
    /// Leaves the block to `target` if the condition is non-zero.
    ExitIf(Val, u64, Exit),
    /// After a store that reached a device or translated code: leaves the
    /// block for the next instruction at `pc` when the store asked for an
    /// exit (see the engine's budget protocol).
    CheckExit(u64, Exit),
    /// After a write that may unmask interrupts (MSR DAIF, DAIFClr):
    /// leaves the block for the next instruction at `pc` when an interrupt
    /// line is asserted, so the dispatcher can take it.
    IrqCheck(u64, Exit),
    /// Leaves the block (always the last instruction).
    Exit(Target, Exit),
}

/// What an [`Inst::Atomic`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicKind {
    /// Memory becomes `op(old, v)`.
    Rmw(AtomicOp),
    /// Memory becomes `new` if it equals `expected`.
    Cas,
    /// DC ZVA: the 64 bytes at the (aligned) address become zero; the
    /// fast path also needs the page marked `tlb_entry::ZVA_OK` (Normal
    /// memory, learnt from an interpreted DC ZVA). Defines 0.
    ZeroBlock,
}

/// A memory access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mem {
    /// The virtual address.
    pub addr: Val,
    /// 1, 2, 4 or 8 bytes.
    pub size: u8,
    /// Access properties.
    pub acc: MemAccess,
    /// State to write back if the access leaves the fast path.
    pub sync: Sync,
}

/// The guest state at the start of an instruction that may leave the
/// fast path: dirty cells to write back and the block's instructions
/// retired before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sync {
    /// Index into [`Block::insns`] of the instruction.
    pub insn: u16,
    /// Dirty cells at its start.
    pub wb: Writeback,
    /// Instructions of the block retired before it (natively or by the
    /// interpreter).
    pub retired: u32,
}

/// State written back when the block is left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Exit {
    /// Dirty cells.
    pub wb: Writeback,
    /// Instructions of the block retired when it is left.
    pub retired: u32,
}

/// The properties of the machine state that a block's code depends on
/// (part of its key).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mode {
    /// Exception level.
    pub el: u8,
    /// PSTATE.SP.
    pub sp: bool,
    // PSTATE.PAN is not part of it: Linux turns PAN on after its early
    // boot, which translated all that code a second time. The fast-path
    // TLB is emptied instead when PAN changes (`JitCtx::tlb_pan`).
    /// SIMD&FP instructions do not trap at this EL (CPACR/CPTR).
    pub fp: bool,
    /// MRS of CTR_EL0 does not trap here (SCTLR_EL1.UCT at EL0,
    /// HCR_EL2.TID2 below EL2): kernels read it in every cache
    /// maintenance loop.
    pub ctr: bool,
    /// Cache maintenance by VA to the point of unification or coherency
    /// (DC CVAU, CVAC, CIVAC, CVAP, IC IVAU) does not trap here
    /// (SCTLR_EL1.UCI at EL0, HCR_EL2.TPU/TPC below EL2), so it does
    /// nothing: no caches are modelled, and stores to translated code
    /// are seen without it. Linux runs these loops over every page it
    /// makes executable.
    pub cmo: bool,
}

impl Mode {
    /// The mode `cpu` is in now.
    pub fn of(cpu: &cpu_aarch64::Cpu) -> Mode {
        Mode {
            el: cpu.pstate.el,
            sp: cpu.pstate.sp,
            fp: cpu.fp_trap().is_none(),
            ctr: Self::ctr_readable(cpu),
            cmo: Self::cmo_untrapped(cpu),
        }
    }

    fn cmo_untrapped(cpu: &cpu_aarch64::Cpu) -> bool {
        use cpu_aarch64::sysreg::{hcr, sctlr, SysReg};
        let el = cpu.pstate.el;
        let trapped = el <= 1 && cpu.sys.hcr() & (hcr::TPU | hcr::TPC) != 0;
        let uci = el > 0 || cpu.sys.get(SysReg::SCTLR_EL1) & sctlr::UCI != 0;
        uci && !trapped
    }

    fn ctr_readable(cpu: &cpu_aarch64::Cpu) -> bool {
        use cpu_aarch64::sysreg::{hcr, sctlr, SysReg};
        let el = cpu.pstate.el;
        let tid2 = el <= 1 && cpu.sys.el2_enabled() && cpu.sys.get(SysReg::HCR_EL2) & hcr::TID2 != 0;
        let uct = el > 0 || cpu.sys.get(SysReg::SCTLR_EL1) & sctlr::UCT != 0;
        uct && !tid2
    }

    /// Index of `SP_ELx` the block's SP reads and writes.
    pub fn sp_index(self) -> usize {
        if self.sp {
            usize::from(self.el)
        } else {
            0
        }
    }

    /// Which of the fast-path TLBs the block's accesses use: one per
    /// exception level (their permissions differ; each holds entries of
    /// the PSTATE.PAN they were filled under only).
    pub fn mmu_index(self) -> usize {
        Self::mmu_index_at(self.el)
    }

    /// [`Mode::mmu_index`] of any mode at exception level `el`.
    pub fn mmu_index_at(el: u8) -> usize {
        usize::from(el.min(3))
    }

    /// Packed form (for keys and logs).
    pub fn bits(self) -> u32 {
        u32::from(self.el)
            | u32::from(self.sp) << 2
            | u32::from(self.ctr) << 3
            | u32::from(self.fp) << 4
            | u32::from(self.cmo) << 5
    }
}

/// Number of fast-path TLBs ([`Mode::mmu_index`]).
pub const MMU_INDICES: usize = 4;

/// A translated block.
#[derive(Clone, Debug)]
pub struct Block {
    /// Virtual address of the first instruction.
    pub pc: u64,
    /// Mode it was translated for.
    pub mode: Mode,
    /// The guest instructions `(pc, word)`.
    pub insns: Vec<(u64, u32)>,
    /// The IR; the last instruction is an [`Inst::Exit`].
    pub code: Vec<Inst>,
    /// The instructions' write-back lists and call operands.
    pub lists: Lists,
    /// Where each guest instruction's IR begins: `(index into code, index
    /// into insns)`, in order (a table, not markers in the code: those were
    /// a quarter of what every pass walked).
    pub starts: Vec<(u32, u16)>,
    /// The block branches back to its own start and backends may run it
    /// as a loop (see [`Block::close_loop`]).
    pub looped: bool,
}

impl Block {
    /// The values instruction `inst` (of this block) reads.
    pub fn uses(&self, inst: &Inst, f: impl FnMut(Val)) {
        Self::uses_in(&self.lists, inst, f)
    }

    fn uses_in(lists: &Lists, inst: &Inst, mut f: impl FnMut(Val)) {
        if let Some(wb) = Self::operands_in(lists, inst, &mut f) {
            wb.iter().for_each(|&(_, v)| f(v));
        }
    }

    /// The values `inst` (of this block) reads as operands, and the
    /// write-back list it reads besides (an exit's, or a possibly faulting
    /// instruction's state at its start), if it has one.
    pub fn operands(&self, inst: &Inst, f: impl FnMut(Val)) -> Option<&[(Cell, Val)]> {
        Self::operands_in(&self.lists, inst, f)
    }

    fn operands_in<'l>(lists: &'l Lists, inst: &Inst, mut f: impl FnMut(Val)) -> Option<&'l [(Cell, Val)]> {
        let wb = |w: &Writeback| Some(lists.wb(*w));
        match inst {
            Inst::Nop | Inst::Const(_) | Inst::Get(_) => {}
            Inst::Bin(_, a, b) => {
                f(*a);
                f(*b)
            }
            Inst::Un(_, a)
            | Inst::AdcFlags(a)
            | Inst::LogicFlags(a, _)
            | Inst::CondHolds(a, _)
            | Inst::SubCImm(a, _, _) => f(*a),
            Inst::SubC(a, b, _) => {
                f(*a);
                f(*b)
            }
            Inst::Adc(a, b, c, _) | Inst::Select(a, b, c) => {
                f(*a);
                f(*b);
                f(*c)
            }
            Inst::Load(m) => {
                f(m.addr);
                return wb(&m.sync.wb);
            }
            Inst::Store(m, v) => {
                f(m.addr);
                f(*v);
                return wb(&m.sync.wb);
            }
            Inst::Atomic(_, m, a, b) => {
                f(m.addr);
                f(*a);
                f(*b);
                return wb(&m.sync.wb);
            }
            Inst::CheckSp(v, s) | Inst::CheckAlign(v, _, _, s) => {
                f(*v);
                return wb(&s.wb);
            }
            Inst::Interp { sync, .. } => return wb(&sync.wb),
            Inst::ExitIf(c, _, e) => {
                f(*c);
                return wb(&e.wb);
            }
            Inst::CheckExit(_, e) | Inst::IrqCheck(_, e) => return wb(&e.wb),
            Inst::Exit(t, e) => {
                if let Target::Indirect(v, _) = t {
                    f(*v)
                }
                return wb(&e.wb);
            }
            Inst::GetQ(_) | Inst::QImm(_) | Inst::SysGet(_) | Inst::QRegLane(..) => {}
            Inst::SysSet(_, v) | Inst::SetQZext(_, v, _) => f(*v),
            Inst::SetQPair(_, lo, hi) => {
                f(*lo);
                f(*hi)
            }
            Inst::SetQ(_, q) | Inst::QLane(q, ..) => f(q.val()),
            Inst::QWithLane(q, _, _, v) => {
                f(q.val());
                f(*v)
            }
            Inst::QCall(_, qs) => lists.qargs(*qs).iter().for_each(|q| f(q.val())),
            Inst::Call(_, vs) => lists.args(*vs).iter().for_each(|v| f(*v)),
        }
        None
    }

    /// Whether the instruction may write V`r` (conservatively: anything
    /// run outside the IR may). A read of V`r` may move past the others.
    pub fn may_write_v(inst: &Inst, r: u8) -> bool {
        match inst {
            Inst::SetQ(w, _) | Inst::SetQZext(w, ..) | Inst::SetQPair(w, ..) => *w == r,
            Inst::Interp { .. } | Inst::Atomic(..) | Inst::Call(..) | Inst::QCall(..) => true,
            _ => false,
        }
    }

    /// Whether the instruction defines a 128-bit value.
    pub fn defines_q(inst: &Inst) -> bool {
        matches!(
            inst,
            Inst::GetQ(_) | Inst::QImm(_) | Inst::QWithLane(..) | Inst::QCall(..)
        )
    }

    /// Whether the instruction defines a 64-bit value.
    pub fn defines_v(inst: &Inst) -> bool {
        !Self::defines_q(inst)
            && !matches!(
                inst,
                Inst::Nop
                    | Inst::Store(..)
                    | Inst::CheckSp(..)
                    | Inst::Interp { .. }
                    | Inst::ExitIf(..)
                    | Inst::CheckExit(..)
                    | Inst::IrqCheck(..)
                    | Inst::Exit(..)
                    | Inst::SetQ(..)
                    | Inst::SetQZext(..)
                    | Inst::SetQPair(..)
                    | Inst::SysSet(..)
                    | Inst::CheckAlign(..)
            )
    }

    /// Whether the instruction has an effect beyond defining its value.
    pub fn has_effect(inst: &Inst) -> bool {
        matches!(
            inst,
            Inst::Load(_)
                | Inst::Store(..)
                | Inst::Atomic(..)
                | Inst::CheckSp(..)
                | Inst::Interp { .. }
                | Inst::ExitIf(..)
                | Inst::CheckExit(..)
                | Inst::IrqCheck(..)
                | Inst::Exit(..)
                | Inst::SetQ(..)
                | Inst::SetQZext(..)
                | Inst::SetQPair(..)
                | Inst::SysSet(..)
                | Inst::Call(..)
                | Inst::QCall(HelperOp::FpLanes(..), _)
                | Inst::CheckAlign(..)
        )
    }

    /// Rewrites every value the instruction reads through `f` (its lists
    /// are its own: no two instructions share entries).
    fn rewrite(lists: &mut Lists, inst: &mut Inst, f: impl Fn(Val) -> Val) {
        match inst {
            Inst::Nop | Inst::Const(_) | Inst::Get(_) => {}
            Inst::Bin(_, a, b) | Inst::SubC(a, b, _) => {
                *a = f(*a);
                *b = f(*b)
            }
            Inst::Un(_, a)
            | Inst::AdcFlags(a)
            | Inst::LogicFlags(a, _)
            | Inst::CondHolds(a, _)
            | Inst::SubCImm(a, _, _) => *a = f(*a),
            Inst::Adc(a, b, c, _) | Inst::Select(a, b, c) => {
                *a = f(*a);
                *b = f(*b);
                *c = f(*c)
            }
            Inst::Load(m) => m.addr = f(m.addr),
            Inst::Store(m, v) => {
                m.addr = f(m.addr);
                *v = f(*v)
            }
            Inst::Atomic(_, m, a, b) => {
                m.addr = f(m.addr);
                *a = f(*a);
                *b = f(*b)
            }
            Inst::CheckSp(v, _) | Inst::CheckAlign(v, ..) | Inst::ExitIf(v, ..) => *v = f(*v),
            Inst::Interp { .. } | Inst::CheckExit(..) | Inst::IrqCheck(..) => {}
            Inst::Exit(t, _) => {
                if let Target::Indirect(v, _) = t {
                    *v = f(*v)
                }
            }
            Inst::GetQ(_)
            | Inst::QImm(_)
            | Inst::SetQ(..)
            | Inst::QLane(..)
            | Inst::QRegLane(..)
            | Inst::QCall(..)
            | Inst::SysGet(_) => {}
            Inst::SysSet(_, v) => *v = f(*v),
            Inst::QWithLane(_, _, _, v) | Inst::SetQZext(_, v, _) => *v = f(*v),
            Inst::SetQPair(_, lo, hi) => {
                *lo = f(*lo);
                *hi = f(*hi)
            }
            Inst::Call(_, vs) => lists.args[vs.range()].iter_mut().for_each(|v| *v = f(*v)),
        }
        if let Some(wb) = Self::writeback_mut(inst) {
            lists.wbs[wb.range()].iter_mut().for_each(|(_, v)| *v = f(*v));
        }
    }

    /// The write-back list of `inst`, if it has one (the list
    /// [`Block::operands`] returns).
    fn writeback_mut(inst: &mut Inst) -> Option<&mut Writeback> {
        match inst {
            Inst::Load(m) | Inst::Store(m, _) | Inst::Atomic(_, m, ..) => Some(&mut m.sync.wb),
            Inst::CheckSp(_, s) | Inst::CheckAlign(.., s) | Inst::Interp { sync: s, .. } => Some(&mut s.wb),
            Inst::ExitIf(.., e) | Inst::CheckExit(_, e) | Inst::IrqCheck(_, e) | Inst::Exit(_, e) => Some(&mut e.wb),
            _ => None,
        }
    }

    /// An upper bound on the significant bits of the value `inst`
    /// defines, given those of its operands.
    fn bits_of(code: &[Inst], bits: &[u32], inst: &Inst) -> u32 {
        let b = |v: &Val| bits[v.0 as usize];
        let k = |v: &Val| match code[v.0 as usize] {
            Inst::Const(c) => Some(c),
            _ => None,
        };
        match inst {
            Inst::Const(c) => 64 - c.leading_zeros(),
            Inst::Get(Cell::Nzcv) | Inst::AdcFlags(_) | Inst::LogicFlags(..) => 32,
            Inst::CondHolds(..) => 1,
            Inst::Select(_, x, y) => b(x).max(b(y)),
            Inst::Adc(.., Width::W32) | Inst::SubC(_, _, Width::W32) | Inst::SubCImm(_, _, Width::W32) => 32,
            Inst::Load(m) | Inst::Atomic(_, m, ..) => (8 * u32::from(m.size)).min(64),
            Inst::QLane(_, esize, _) | Inst::QRegLane(_, esize, _) => 8 * u32::from(*esize),
            Inst::Bin(op, x, y) => match op {
                BinOp::And => b(x).min(b(y)),
                BinOp::Or | BinOp::Xor => b(x).max(b(y)),
                BinOp::Add => (b(x).max(b(y)) + 1).min(64),
                BinOp::Shl => match k(y) {
                    Some(s) if s < 64 => (b(x) + s as u32).min(64),
                    _ => 64,
                },
                BinOp::Lshr => match k(y) {
                    Some(s) if s < 64 => b(x).saturating_sub(s as u32),
                    _ => b(x),
                },
                BinOp::Asr(Width::W32) | BinOp::Ror(Width::W32) | BinOp::Crc32 { .. } => 32,
                BinOp::UDiv(Width::W32) | BinOp::SDiv(Width::W32) => 32,
                BinOp::UDiv(Width::W64) => b(x),
                BinOp::Eq | BinOp::Ne | BinOp::SubCond { .. } => 1,
                _ => 64,
            },
            Inst::Un(op, x) => match op {
                UnOp::Zext(n) => u32::from(*n).min(b(x)),
                UnOp::Sext(n) if b(x) < u32::from(*n) => b(x),
                UnOp::Clz(_) | UnOp::Cls(_) => 7,
                UnOp::Rbit(Width::W32) => 32,
                UnOp::Rev32 if b(x) <= 32 => 32,
                _ => 64,
            },
            _ => 64,
        }
    }

    /// An existing value equal to what `inst` computes, from algebraic
    /// identities (x | 0, x + 0, zero-extending what has no high bits, ...).
    fn identity(code: &[Inst], bits: &[u32], inst: &Inst) -> Option<Val> {
        let k = |v: &Val| match code[v.0 as usize] {
            Inst::Const(c) => Some(c),
            _ => None,
        };
        let b = |v: &Val| bits[v.0 as usize];
        match inst {
            Inst::Un(UnOp::Zext(n), x) if u32::from(*n) >= b(x) => Some(*x),
            Inst::Un(UnOp::Sext(n), x) if u32::from(*n) > b(x) || *n == 64 => Some(*x),
            Inst::Bin(BinOp::Or | BinOp::Xor | BinOp::Add, x, y) if k(x) == Some(0) => Some(*y),
            Inst::Bin(
                BinOp::Or
                | BinOp::Xor
                | BinOp::Add
                | BinOp::Sub
                | BinOp::Shl
                | BinOp::Lshr
                | BinOp::Asr(_)
                | BinOp::Ror(_),
                x,
                y,
            ) if k(y) == Some(0) => Some(*x),
            Inst::Bin(BinOp::And, x, y) => match (k(x), k(y)) {
                (_, Some(m)) if b(x) == 64 && m == u64::MAX || b(x) < 64 && m | ((1 << b(x)) - 1) == m => Some(*x),
                (Some(m), _) if b(y) == 64 && m == u64::MAX || b(y) < 64 && m | ((1 << b(y)) - 1) == m => Some(*y),
                _ => None,
            },
            Inst::Bin(BinOp::Mul, x, y) if k(y) == Some(1) => Some(*x),
            _ => None,
        }
    }

    /// Constant folding (with the interpreter's own evaluation functions,
    /// so folding cannot disagree with it), algebraic identities, common
    /// subexpressions, then dead-code elimination, which also removes flag
    /// computations nobody reads. The dead instructions (a quarter of a
    /// booting kernel's IR) are dropped and the values numbered again, so
    /// that a backend's passes see only code that emits something. Order is
    /// kept (an `AdcFlags` stays right after its `Adc`). Value 0 stays,
    /// as an [`Inst::Start`] no-op if dead: it is the placeholder
    /// `Builder::restart` puts there for [`Block::close_loop`], and
    /// dropping it would renumber every block.
    pub fn optimise(&mut self) {
        self.optimise_in(&mut Scratch::default());
    }

    /// [`Block::optimise`] with tables from `scratch`.
    fn optimise_in(&mut self, scratch: &mut Scratch) {
        let n = self.code.len();
        let Scratch {
            alias,
            bits,
            seen,
            live,
            ..
        } = scratch;
        alias.clear();
        alias.extend((0..n as u32).map(Val));
        bits.clear();
        bits.resize(n, 64);
        seen.start();
        // Which values anything reads (for the flags of an ADD; only
        // blocks with one need it).
        live.clear();
        live.resize(n, false);
        if self.code.iter().any(|i| matches!(i, Inst::Adc(.., Width::W64))) {
            for inst in &self.code {
                self.uses(inst, |v| live[v.0 as usize] = true);
            }
        }
        // Whether any value stands for another yet (until then operands
        // need no renaming).
        let mut aliased = false;
        for i in 0..n {
            let foldable = matches!(
                self.code[i],
                Inst::Const(_)
                    | Inst::Bin(..)
                    | Inst::Un(..)
                    | Inst::Adc(..)
                    | Inst::SubC(..)
                    | Inst::SubCImm(..)
                    | Inst::CondHolds(..)
                    | Inst::Select(..)
                    | Inst::LogicFlags(..)
            );
            if !foldable {
                // Nothing below applies (half of a kernel's IR: instruction
                // starts, reads, memory accesses, exits).
                if aliased {
                    Self::rewrite(&mut self.lists, &mut self.code[i], |v| alias[v.0 as usize]);
                }
                bits[i] = Self::bits_of(&self.code, bits, &self.code[i]);
                continue;
            }
            // Put back below: only earlier instructions are read meanwhile.
            let mut inst = self.code[i];
            if aliased {
                Self::rewrite(&mut self.lists, &mut inst, |v| alias[v.0 as usize]);
            }
            let konst = |code: &[Inst], v: Val| match code[v.0 as usize] {
                Inst::Const(c) => Some(c),
                _ => None,
            };
            let folded = match &inst {
                Inst::Bin(op, a, b) => match (konst(&self.code, *a), konst(&self.code, *b)) {
                    (Some(a), Some(b)) => Some(eval_bin(*op, a, b)),
                    _ => None,
                },
                Inst::Un(op, a) => konst(&self.code, *a).map(|a| eval_un(*op, a)),
                Inst::CondHolds(v, cond) => {
                    konst(&self.code, *v).map(|v| u64::from(cpu_aarch64::isa::condition_holds(*cond, v)))
                }
                _ => None,
            };
            if let Some(c) = folded {
                inst = Inst::Const(c);
            }
            // a + NOT b + 1 is a subtraction: x86 has one with the same N,
            // Z, V and the inverted carry (see `SubC`).
            if let Inst::Adc(a, b, c, w) = inst {
                if konst(&self.code, c) == Some(1) {
                    let mask = if w == Width::W32 { 0xffff_ffff } else { u64::MAX };
                    let not_of = |v: Val| match self.code[v.0 as usize] {
                        Inst::Un(UnOp::Not, x) => Some(x),
                        Inst::Un(UnOp::Zext(32), y) if w == Width::W32 => match self.code[y.0 as usize] {
                            Inst::Un(UnOp::Not, x) => Some(x),
                            _ => None,
                        },
                        _ => None,
                    };
                    if let Some(k) = konst(&self.code, b) {
                        inst = Inst::SubCImm(a, !k & mask, w);
                    } else if let Some(x) = not_of(b) {
                        inst = Inst::SubC(a, alias[x.0 as usize], w);
                    }
                }
            }
            // A 32-bit arithmetic operation or compare reads only the low
            // halves of its operands: a zero-extension feeding it is not
            // needed (and dies unless something else reads it).
            let low = |code: &[Inst], v: &mut Val| {
                if let Inst::Un(UnOp::Zext(32), x) = code[v.0 as usize] {
                    *v = x;
                }
            };
            match &mut inst {
                Inst::Adc(a, b, _, Width::W32)
                | Inst::SubC(a, b, Width::W32)
                | Inst::Bin(BinOp::SubCond { w: Width::W32, .. }, a, b) => {
                    low(&self.code, a);
                    low(&self.code, b);
                }
                Inst::SubCImm(a, _, Width::W32) => low(&self.code, a),
                _ => {}
            }
            // A 64-bit ADD (no flags read) is the plain add an address
            // computation uses: one form, so the two are one value.
            if let Inst::Adc(a, b, c, Width::W64) = inst {
                let flags_read =
                    matches!(self.code.get(i + 1), Some(Inst::AdcFlags(f)) if f.0 as usize == i) && live[i + 1];
                if konst(&self.code, c) == Some(0) && !flags_read {
                    inst = Inst::Bin(BinOp::Add, a, b);
                }
            }
            if let Inst::Select(c, a, b) = &inst {
                match konst(&self.code, *c) {
                    Some(0) => alias[i] = *b,
                    Some(_) => alias[i] = *a,
                    None if a == b => alias[i] = *a,
                    None => {}
                }
            }
            if alias[i].0 as usize == i {
                if let Some(v) = Self::identity(&self.code, bits, &inst) {
                    alias[i] = v;
                } else if let Some(key) = Pure::of(&inst) {
                    match seen.find(&self.code, &key) {
                        Some(v) => alias[i] = v,
                        None => seen.insert(&key, Val(i as u32)),
                    }
                }
            }
            aliased |= alias[i].0 as usize != i;
            bits[i] = Self::bits_of(&self.code, bits, &inst);
            self.code[i] = inst;
        }
        // Dead-code elimination, backwards.
        live.clear();
        live.resize(n, false);
        for i in (0..n).rev() {
            if Self::has_effect(&self.code[i]) {
                live[i] = true;
            }
            if live[i] {
                Self::uses_in(&self.lists, &self.code[i], |v| live[v.0 as usize] = true);
            }
        }
        if !live[0] {
            self.code[0] = Inst::Nop;
            live[0] = true;
        }
        // Compaction, in one pass: an instruction reads only earlier
        // values, whose new numbers are known by then.
        let map = alias;
        // (Overwritten in place: an entry is read only after it is set.)
        let mut k = 0;
        let mut s = 0;
        for (i, &is_live) in live.iter().enumerate() {
            // A guest instruction's IR now begins at its first live
            // instruction.
            while let Some(start) = self.starts.get_mut(s).filter(|st| st.0 as usize <= i) {
                start.0 = k as u32;
                s += 1;
            }
            if !is_live {
                // Nothing live reads it.
                map[i] = Val(u32::MAX);
                continue;
            }
            map[i] = Val(k as u32);
            // Until the first dropped instruction every number stays.
            if k != i {
                let mut inst = self.code[i];
                Self::rewrite(&mut self.lists, &mut inst, |v| map[v.0 as usize]);
                let q = |q: &mut QVal| q.0 = map[q.0 as usize].0;
                match &mut inst {
                    Inst::SetQ(_, x) | Inst::QLane(x, ..) | Inst::QWithLane(x, ..) => q(x),
                    Inst::QCall(_, xs) => self.lists.qargs[xs.range()].iter_mut().for_each(q),
                    _ => {}
                }
                self.code[k] = inst;
            }
            k += 1;
        }
        for start in &mut self.starts[s..] {
            start.0 = k as u32;
        }
        self.code.truncate(k);
    }

    /// Per value, into `fed`: whether it depends on a load's result, in
    /// this iteration or, through the cells a looped block carries, an
    /// earlier one.
    pub fn load_fed(&self, fed: &mut Vec<bool>) {
        fed.clear();
        fed.resize(self.code.len(), false);
        if !self.code.iter().any(|i| matches!(i, Inst::Load(..) | Inst::Atomic(..))) {
            return;
        }
        // Carried cells a back edge sets from a load-fed value.
        let mut carried = 0u64;
        loop {
            for (i, inst) in self.code.iter().enumerate() {
                fed[i] = match inst {
                    Inst::Load(..) | Inst::Atomic(..) => true,
                    Inst::Get(c) => self.looped && carried >> c.index() & 1 == 1,
                    // (The write-backs the others read are not operands.)
                    _ if !Self::defines_v(inst) => false,
                    _ => {
                        let mut any = false;
                        self.uses(inst, |v| any |= fed[v.0 as usize]);
                        any
                    }
                };
            }
            let mut now = carried;
            for &(c, v) in self.back_edges().flatten() {
                if fed[v.0 as usize] {
                    now |= 1 << c.index();
                }
            }
            if !self.looped || now == carried {
                return;
            }
            carried = now;
        }
    }

    /// Where the IR of the guest instruction that instruction `i` belongs
    /// to begins (after optimisation).
    pub fn insn_start(&self, i: usize) -> usize {
        let k = self.starts.partition_point(|&(at, _)| at as usize <= i);
        k.checked_sub(1).map_or(0, |k| self.starts[k].0 as usize)
    }

    /// The write-backs of the block's back edges.
    pub fn back_edges(&self) -> impl Iterator<Item = &[(Cell, Val)]> {
        self.code.iter().filter_map(|inst| match inst {
            Inst::ExitIf(_, _, e) | Inst::Exit(_, e) if self.is_back_edge(inst) => Some(self.lists.wb(e.wb)),
            _ => None,
        })
    }

    /// A write-back list's entries.
    pub fn wb(&self, l: Writeback) -> &[(Cell, Val)] {
        self.lists.wb(l)
    }

    /// Whether exit `inst` is a back edge: a direct branch to the block's
    /// own start (the mode cannot change inside a block that qualifies).
    pub fn is_back_edge(&self, inst: &Inst) -> bool {
        match inst {
            Inst::ExitIf(_, t, _) | Inst::Exit(Target::Direct(t), _) => *t == self.pc,
            _ => false,
        }
    }

    /// Marks a block that branches back to its own start as a loop, so a
    /// backend can keep the guest registers it reads in host registers
    /// across iterations instead of storing them at the back edge and
    /// loading them again through the chained jump (tight loops spend most
    /// of their time there).
    ///
    /// A backend loads every [`Inst::Get`] once, before the loop, into a
    /// place it keeps until the last back edge; a back edge moves the new
    /// values of those cells into those places and stores only the cells
    /// the block does not read. From the second iteration on, guest state
    /// in memory is therefore stale for the carried cells the loop
    /// changes, so this adds them (as their value at the iteration's start)
    /// to every write-back that does not already have them: faults,
    /// interpreter fallbacks and the other exits stay precise.
    ///
    /// Only blocks without [`Inst::Interp`] (which forgets cached cells)
    /// or [`Inst::SysSet`], reading at most [`MAX_LOOP_CELLS`] cells,
    /// qualify.
    pub fn close_loop(&mut self) {
        if self.insns.is_empty()
            || !self.code.iter().any(|i| self.is_back_edge(i))
            || self
                .code
                .iter()
                .any(|i| matches!(i, Inst::Interp { .. } | Inst::SysSet(..)))
        {
            return;
        }
        let mut get: [Option<Val>; Cell::COUNT] = [None; Cell::COUNT];
        for (i, inst) in self.code.iter().enumerate() {
            if let Inst::Get(c) = inst {
                get[c.index()] = Some(Val(i as u32));
            }
        }
        // Each carried cell pins a host register for the whole block: with
        // more, the rest of a long block spilled (the Linux boot ran 4%
        // more host instructions with no limit than with this one; 3 and 8
        // were worse too).
        if get.iter().flatten().count() > MAX_LOOP_CELLS {
            return;
        }
        // A loop that sets NZCV but does not read it carries it too (from
        // the dead read at value 0, see `Builder::restart`): a back edge
        // then keeps the flags in a host register instead of storing them,
        // and a backend may keep them there in its own form until an exit.
        if get[Cell::Nzcv.index()].is_none()
            && get.iter().flatten().count() < MAX_LOOP_CELLS
            && self.code.first() == Some(&Inst::Nop)
            && self.back_edges().flatten().any(|&(c, _)| c == Cell::Nzcv)
        {
            self.code[0] = Inst::Get(Cell::Nzcv);
            get[Cell::Nzcv.index()] = Some(Val(0));
        }
        // The carried cells some back edge changes.
        let mut changed = 0u64;
        for &(c, v) in self.back_edges().flatten() {
            if get[c.index()].is_some_and(|g| g != v) {
                changed |= 1 << c.index();
            }
        }
        self.looped = true;
        if changed == 0 {
            return;
        }
        // A list that needs more entries is copied to the end of the
        // table with them.
        let wbs = &mut self.lists.wbs;
        let mut extend = |wb: &mut Writeback| {
            let mut have = 0u64;
            for &(c, _) in &wbs[wb.range()] {
                have |= 1 << c.index();
            }
            if changed & !have == 0 {
                return;
            }
            let start = wbs.len();
            wbs.extend_from_within(wb.range());
            for (i, g) in get.iter().enumerate() {
                if let Some(g) = *g {
                    if (changed & !have) >> i & 1 == 1 {
                        wbs.push((Cell::from_index(i), g));
                    }
                }
            }
            *wb = List::since(wbs, start);
        };
        for inst in &mut self.code {
            match inst {
                Inst::Load(m) | Inst::Store(m, _) | Inst::Atomic(_, m, ..) => extend(&mut m.sync.wb),
                Inst::CheckSp(_, s) | Inst::CheckAlign(.., s) => extend(&mut s.wb),
                Inst::ExitIf(.., e) | Inst::CheckExit(_, e) | Inst::IrqCheck(_, e) | Inst::Exit(_, e) => {
                    extend(&mut e.wb)
                }
                _ => {}
            }
        }
    }

    /// A readable listing (for `--trace-blocks` and golden tests).
    pub fn dump(&self) -> String {
        use std::fmt::Write;
        let mut s = format!("block {:#x} mode {:#x}\n", self.pc, self.mode.bits());
        if self.looped {
            s.push_str("  (loop: read cells stay in host registers across iterations)\n");
        }
        let mut starts = self.starts.iter().peekable();
        for (i, inst) in self.code.iter().enumerate() {
            let insn = |s: &mut String, n: u16| {
                let (pc, raw) = self.insns[usize::from(n)];
                let _ = writeln!(
                    s,
                    "  ; {pc:#x}: {raw:08x}  {}",
                    cpu_aarch64::disasm::disassemble(raw, pc)
                );
            };
            while let Some(&(_, n)) = starts.next_if(|&&(at, _)| at as usize <= i) {
                insn(&mut s, n);
            }
            match inst {
                Inst::Nop => {}
                _ => {
                    let _ = write!(s, "  v{i} = {inst:?}");
                    // The lists' entries (their `Debug` shows only lengths).
                    match inst {
                        Inst::Call(_, a) => {
                            let _ = write!(s, " {:?}", self.lists.args(*a));
                        }
                        Inst::QCall(_, a) => {
                            let _ = write!(s, " {:?}", self.lists.qargs(*a));
                        }
                        _ => {}
                    }
                    if let Some(wb) = self.operands(inst, |_| {}) {
                        let _ = write!(s, " wb {wb:?}");
                    }
                    s.push('\n');
                }
            }
        }
        s
    }
}

/// DC ZVA (`SYS #3, C7, C4, #1`).
const DC_ZVA: SysRegId = SysRegId::new(1, 3, 7, 4, 1);

/// `(CRm, op2)` of the DC instructions (`SYS #0|#3, C7, Cm, #op2`):
/// ZVA, IVAC, ISW, CVAC, CSW, CVAU, CVAP, CIVAC, CISW.
const SYS_DC: [(u32, u32); 9] = [
    (4, 1),
    (6, 1),
    (6, 2),
    (10, 1),
    (10, 2),
    (11, 1),
    (12, 1),
    (14, 1),
    (14, 2),
];

/// A system register the builder accesses without the interpreter.
enum Plain {
    /// The cached NZCV cell.
    Nzcv,
    /// State read or written in place.
    At(SysLoc),
}

/// Why the builder stopped an instruction: it needs the interpreter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsupported;

/// Most guest registers a block may read to run as a loop
/// ([`Block::close_loop`]).
pub const MAX_LOOP_CELLS: usize = 6;

/// Longest block, in guest instructions.
pub const MAX_BLOCK_INSNS: usize = 64;

/// How many unconditional branches a block may follow (`Builder::branch`).
const MAX_FOLLOWS: u8 = 4;

/// The optimiser's tables, kept for the next block with the builder
/// (a fresh set for every block was a fifth of the translation time, in
/// the allocator).
#[derive(Default)]
struct Scratch {
    alias: Vec<Val>,
    bits: Vec<u32>,
    seen: Seen,
    live: Vec<bool>,
}

/// The optimiser's table of pure values computed so far in a block:
/// direct-mapped by a hash of the instruction, holding the value that
/// computed it (the instruction itself is read from the block, so an
/// entry is 8 bytes). A collision forgets the older value: at worst a
/// common subexpression is computed twice. Entries of earlier blocks are
/// told apart by a generation number instead of being cleared. (A hash
/// map was 5% of translation.)
#[derive(Default)]
struct Seen {
    slots: Vec<(u32, Val)>,
    generation: u32,
}

impl Seen {
    const SLOTS: usize = 1024;

    /// Empties the table for a new block.
    fn start(&mut self) {
        if self.slots.is_empty() || self.generation == u32::MAX {
            self.slots.clear();
            self.slots.resize(Self::SLOTS, (0, Val(0)));
            self.generation = 0;
        }
        self.generation += 1;
    }

    fn slot(key: &Pure) -> usize {
        use std::hash::BuildHasher;
        let h = rustc_hash::FxBuildHasher.hash_one(key);
        (h >> 32) as usize % Self::SLOTS
    }

    /// The value computing `key` in this block, from `code` (the block's
    /// instructions so far).
    fn find(&self, code: &[Inst], key: &Pure) -> Option<Val> {
        let (g, v) = self.slots[Self::slot(key)];
        (g == self.generation && Pure::of(&code[v.0 as usize]).as_ref() == Some(key)).then_some(v)
    }

    fn insert(&mut self, key: &Pure, v: Val) {
        self.slots[Self::slot(key)] = (self.generation, v);
    }
}

/// A pure instruction as the optimiser's table of values computed so far
/// keys it: the kinds of [`Inst`] that compute a value from their operands
/// alone (smaller to hash and compare than a whole instruction).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Pure {
    Const(u64),
    Bin(BinOp, Val, Val),
    Un(UnOp, Val),
    LogicFlags(Val, Width),
    CondHolds(Val, u32),
    Select(Val, Val, Val),
}

impl Pure {
    /// The key of `inst` if two equal instructions compute the same value
    /// and one may stand for the other. (`Adc` is left out: its flags are
    /// taken from the host flags right after it, so it must stay next to
    /// its `AdcFlags`.)
    fn of(inst: &Inst) -> Option<Pure> {
        Some(match *inst {
            Inst::Const(k) => Pure::Const(k),
            Inst::Bin(op, a, b) => Pure::Bin(op, a, b),
            Inst::Un(op, a) => Pure::Un(op, a),
            Inst::LogicFlags(a, w) => Pure::LogicFlags(a, w),
            Inst::CondHolds(a, c) => Pure::CondHolds(a, c),
            Inst::Select(c, a, b) => Pure::Select(c, a, b),
            _ => return None,
        })
    }
}

/// The indices of the set bits of `bits`, lowest first.
fn set_bits(mut bits: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (bits != 0).then(|| {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            i
        })
    })
}

/// Builds a [`Block`] from the semantics of one instruction after another
/// (see the module docs).
pub struct Builder {
    block: Block,
    scratch: Scratch,
    cur: [Option<Val>; Cell::COUNT],
    dirty: u64,
    /// The block's instructions retired so far (natively or by the
    /// interpreter): `Sync::retired`, `Exit::retired`.
    retired: u32,
    // The instruction being translated.
    insn: u16,
    insn_pc: u64,
    /// Where the next instruction is: after this one, or the target of a
    /// B the block follows (`branch`).
    next_pc: u64,
    /// How many B instructions the block has followed.
    follows: u8,
    /// Cells the current instruction has changed (a bit per cell), and
    /// for those their values at its start: an undo log, cheaper than a
    /// copy of every cell per instruction.
    touched: u64,
    start_cur: [Option<Val>; Cell::COUNT],
    start_dirty: u64,
    start_len: usize,
    unsupported: bool,
    ends: bool,
    /// An exit was emitted by this instruction's semantics.
    exited: bool,
    /// A conditional side exit was emitted.
    side_exit: bool,
    /// The instruction stores to memory.
    stored: bool,
    /// The instruction may unmask an interrupt ([`Inst::IrqCheck`]).
    irq_check: bool,
    finished: bool,
}

impl Builder {
    /// A builder for a block at `pc` in `mode`.
    pub fn new(pc: u64, mode: Mode) -> Self {
        let mut b = Builder {
            block: Block {
                pc,
                mode,
                insns: Vec::with_capacity(MAX_BLOCK_INSNS),
                // Typical blocks need a few hundred: growing by doubling
                // copied them.
                code: Vec::with_capacity(512),
                lists: Lists {
                    wbs: Vec::with_capacity(1024),
                    args: Vec::new(),
                    qargs: Vec::new(),
                },
                starts: Vec::with_capacity(MAX_BLOCK_INSNS),
                looped: false,
            },
            scratch: Scratch::default(),
            cur: [None; Cell::COUNT],
            dirty: 0,
            retired: 0,
            insn: 0,
            insn_pc: pc,
            next_pc: pc,
            follows: 0,
            touched: 0,
            start_cur: [None; Cell::COUNT],
            start_dirty: 0,
            start_len: 0,
            unsupported: false,
            ends: false,
            exited: false,
            side_exit: false,
            stored: false,
            irq_check: false,
            finished: false,
        };
        b.restart(pc, mode);
        b
    }

    /// Starts a new block at `pc` in `mode`, in the storage of the last
    /// one (a builder is kept for the next block: allocating and moving
    /// its tables for every block was a visible share of translation).
    pub fn restart(&mut self, pc: u64, mode: Mode) {
        let block = &mut self.block;
        block.pc = pc;
        block.mode = mode;
        block.looped = false;
        block.insns.clear();
        block.code.clear();
        block.lists.clear();
        block.starts.clear();
        // A read of NZCV nobody uses (dead code unless `close_loop`
        // revives it): value 0, before everything.
        block.code.push(Inst::Get(Cell::Nzcv));
        self.cur = [None; Cell::COUNT];
        self.dirty = 0;
        self.retired = 0;
        self.insn = 0;
        self.insn_pc = pc;
        self.next_pc = pc;
        self.follows = 0;
        self.touched = 0;
        self.start_dirty = 0;
        self.start_len = 0;
        self.clear_insn_flags();
        self.finished = false;
    }

    /// What the semantics of the next instruction will report.
    fn clear_insn_flags(&mut self) {
        self.unsupported = false;
        self.ends = false;
        self.exited = false;
        self.side_exit = false;
        self.stored = false;
        self.irq_check = false;
    }

    fn push(&mut self, i: Inst) -> Val {
        self.block.code.push(i);
        Val(self.block.code.len() as u32 - 1)
    }

    /// `(a, b, w)` when `nzcv` is the flags of `a - b` at width `w`, as
    /// the shared semantics compute a compare or subtraction:
    /// `AdcFlags(Adc(a, NOT b, 1, w))` (the NOT zero-extended at 32 bits).
    fn compare_of(&self, nzcv: Val) -> Option<(Val, Val, Width)> {
        let code = &self.block.code;
        let Inst::AdcFlags(r) = code[nzcv.0 as usize] else {
            return None;
        };
        let Inst::Adc(a, nb, c, w) = code[r.0 as usize] else {
            return None;
        };
        if code[c.0 as usize] != Inst::Const(1) {
            return None;
        }
        let not = match (&code[nb.0 as usize], w) {
            (&Inst::Un(UnOp::Zext(32), y), Width::W32) => y,
            _ => nb,
        };
        match code[not.0 as usize] {
            Inst::Un(UnOp::Not, b) => Some((a, b, w)),
            _ => None,
        }
    }

    /// Whether a register cell holds the result of the arithmetic whose
    /// flags are `nzcv` (`AdcFlags`).
    fn result_kept(&self, nzcv: Val) -> bool {
        let Inst::AdcFlags(r) = self.block.code[nzcv.0 as usize] else {
            return false;
        };
        // (A 32-bit result is written zero-extended.)
        let code = &self.block.code;
        let holds = |v: Val| v == r || code[v.0 as usize] == Inst::Un(UnOp::Zext(32), r);
        self.cur
            .iter()
            .enumerate()
            .any(|(i, c)| c.is_some_and(holds) && Cell::from_index(i) != Cell::Nzcv)
    }

    fn writeback(wbs: &mut Vec<(Cell, Val)>, cur: &[Option<Val>; Cell::COUNT], dirty: u64) -> Writeback {
        Self::writeback_of(wbs, dirty, |i| cur[i])
    }

    /// The write-back list of the cells in `dirty`, cell `i` holding
    /// `value(i)`.
    fn writeback_of(wbs: &mut Vec<(Cell, Val)>, dirty: u64, value: impl Fn(usize) -> Option<Val>) -> Writeback {
        // Called for every memory access and exit: only the set bits (a
        // filtered collect over every cell was ~1 100 host instructions a
        // call).
        let start = wbs.len();
        for i in set_bits(dirty) {
            wbs.push((Cell::from_index(i), value(i).expect("dirty cells hold a value")));
        }
        List::since(wbs, start)
    }

    /// The state at the current instruction's start: a cell it changed
    /// holds its logged value (`touched`).
    fn sync(&mut self) -> Sync {
        let (cur, start_cur, touched) = (&self.cur, &self.start_cur, self.touched);
        let wb = Self::writeback_of(&mut self.block.lists.wbs, self.start_dirty, |i| {
            if touched >> i & 1 != 0 {
                start_cur[i]
            } else {
                cur[i]
            }
        });
        Sync {
            insn: self.insn,
            wb,
            retired: self.retired,
        }
    }

    /// Records cell `i`'s value at the instruction's start before its
    /// first change in the instruction.
    fn touch(&mut self, i: usize) {
        if self.touched >> i & 1 == 0 {
            self.touched |= 1 << i;
            self.start_cur[i] = self.cur[i];
        }
    }

    fn exit_state(&mut self) -> Exit {
        Exit {
            wb: Self::writeback(&mut self.block.lists.wbs, &self.cur, self.dirty),
            retired: self.retired + 1,
        }
    }

    /// A call's operands, in the block's table.
    fn args(&mut self, vs: &[Val]) -> List<Val> {
        List::append(&mut self.block.lists.args, vs)
    }

    /// A 128-bit call's operands, in the block's table.
    fn qargs(&mut self, qs: &[QVal]) -> List<QVal> {
        List::append(&mut self.block.lists.qargs, qs)
    }

    fn get(&mut self, c: Cell) -> Val {
        if let Some(v) = self.cur[c.index()] {
            return v;
        }
        let v = self.push(Inst::Get(c));
        self.touch(c.index());
        self.cur[c.index()] = Some(v);
        v
    }

    fn set(&mut self, c: Cell, v: Val) {
        self.touch(c.index());
        self.cur[c.index()] = Some(v);
        self.dirty |= 1 << c.index();
    }

    /// Where an MRS/MSR of `id` can go without the interpreter: registers
    /// that no trap, redirection or side effect touches at EL0/EL1 (the
    /// access rules of `cpu_aarch64::sysreg` for these, decided by the
    /// block's mode). Anything else runs on the interpreter.
    fn plain_sysreg(&self, id: SysRegId, write: bool) -> Option<Plain> {
        let Mode { el, sp, .. } = self.block.mode;
        let reg = SysReg::from_id(id)?;
        let table = Plain::At(SysLoc::Table(reg));
        Some(match reg {
            SysReg::NZCV if el <= 1 => Plain::Nzcv,
            SysReg::TPIDR_EL0 if el <= 1 => table,
            SysReg::TPIDRRO_EL0 if el == 1 || el == 0 && !write => table,
            SysReg::TPIDR_EL1 if el == 1 => table,
            // Constant identification (at EL0 DCZID_EL0.DZP follows
            // SCTLR_EL1.DZE, which the mode does not record).
            SysReg::CTR_EL0 if self.block.mode.ctr && !write => table,
            SysReg::DCZID_EL0 if el >= 1 && !write => table,
            // UNDEFINED while SP_EL0 is the selected stack pointer.
            SysReg::SP_EL0 if el == 1 && sp => Plain::At(SysLoc::SpEl0),
            // A write may unmask an interrupt (see `write_sysreg`).
            SysReg::DAIF if el == 1 => Plain::At(SysLoc::Daif),
            // No block depends on them: the FP code reads both at run
            // time. A write keeps only the writable fields (`write_sysreg`).
            SysReg::FPCR | SysReg::FPSR if el <= 1 && self.block.mode.fp => table,
            _ => return None,
        })
    }

    fn unsupported<T>(&mut self) -> Result<T, Unsupported> {
        self.unsupported = true;
        Err(Unsupported)
    }

    /// Whether the block is complete (a branch, an exception-raising or
    /// mode-changing instruction, or the length limit).
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Number of guest instructions so far.
    pub fn len(&self) -> usize {
        self.block.insns.len()
    }

    /// Whether no instruction was added.
    pub fn is_empty(&self) -> bool {
        self.block.insns.is_empty()
    }

    /// The address of the next instruction to add.
    pub fn next_pc(&self) -> u64 {
        self.next_pc
    }

    /// Adds the instruction `raw` at the next address (`next_pc`): runs
    /// its semantics (or records it for the interpreter).
    pub fn add(&mut self, raw: u32) {
        assert!(!self.finished, "block already ended");
        let pc = self.next_pc;
        self.next_pc = pc + 4;
        self.insn = self.block.insns.len() as u16;
        self.insn_pc = pc;
        self.block.insns.push((pc, raw));
        self.touched = 0;
        self.start_dirty = self.dirty;
        self.start_len = self.block.code.len();
        let lists = &self.block.lists;
        let list_lens = (lists.wbs.len(), lists.args.len(), lists.qargs.len());
        self.clear_insn_flags();
        self.block.starts.push((self.start_len as u32, self.insn));
        let r = match cpu_aarch64::isa::decode(raw) {
            Some(op) => cpu_aarch64::sem::translate(self, op, raw),
            None => {
                // Unallocated: the interpreter raises Undefined Instruction.
                self.ends = true;
                self.unsupported()
            }
        };
        if r.is_err() || self.unsupported {
            // Roll back and hand the whole instruction to the interpreter.
            self.block.code.truncate(self.start_len);
            let lists = &mut self.block.lists;
            lists.wbs.truncate(list_lens.0);
            lists.args.truncate(list_lens.1);
            lists.qargs.truncate(list_lens.2);
            for i in set_bits(self.touched) {
                self.cur[i] = self.start_cur[i];
            }
            self.dirty = self.start_dirty;
            let sync = Sync {
                insn: self.insn,
                wb: Self::writeback(&mut self.block.lists.wbs, &self.cur, self.dirty),
                retired: self.retired,
            };
            self.push(Inst::Interp {
                insn: self.insn,
                sync,
                ends: self.ends,
            });
            self.cur = [None; Cell::COUNT];
            self.dirty = 0;
            // The interpreter retires the instruction.
            self.retired = u32::from(self.insn) + 1;
            if self.ends {
                self.finish_with(Target::Direct(pc + 4), 0);
            } else {
                // It may have stored to a device or to this very block.
                self.push(Inst::CheckExit(
                    pc + 4,
                    Exit {
                        wb: List::EMPTY,
                        retired: self.retired,
                    },
                ));
            }
        } else {
            if self.exited {
                self.finished = true;
                return;
            }
            self.retired += 1;
            if self.side_exit || self.ends {
                self.finish_with(Target::Direct(pc + 4), 0);
            } else if self.irq_check {
                let e = Exit {
                    wb: Self::writeback(&mut self.block.lists.wbs, &self.cur, self.dirty),
                    retired: self.retired,
                };
                self.push(Inst::IrqCheck(pc + 4, e));
            } else if self.stored {
                let e = Exit {
                    wb: Self::writeback(&mut self.block.lists.wbs, &self.cur, self.dirty),
                    retired: self.retired,
                };
                self.push(Inst::CheckExit(pc + 4, e));
            }
        }
        if !self.finished && (self.len() >= MAX_BLOCK_INSNS || self.next_pc & 0xfff == 0) {
            self.finish_with(Target::Direct(self.next_pc), 0);
        }
    }

    fn finish_with(&mut self, t: Target, extra: u32) {
        let e = Exit {
            wb: Self::writeback(&mut self.block.lists.wbs, &self.cur, self.dirty),
            retired: self.retired + extra,
        };
        self.push(Inst::Exit(t, e));
        self.finished = true;
    }

    /// Ends the block before the next instruction (e.g. it could not be
    /// fetched) and returns it.
    pub fn finish(mut self) -> Block {
        self.complete();
        self.block
    }

    /// The block so far.
    pub fn block(&self) -> &Block {
        &self.block
    }

    /// [`Builder::finish`] in place: the block stays the builder's (until
    /// [`Builder::restart`]).
    pub fn complete(&mut self) -> &Block {
        if !self.finished {
            self.finish_with(Target::Direct(self.next_pc), 0);
        }
        self.block.optimise_in(&mut self.scratch);
        self.block.close_loop();
        &self.block
    }
}

impl Emitter for Builder {
    type V = Val;
    type Q = QVal;
    type Stop = Unsupported;

    fn pc(&self) -> u64 {
        self.insn_pc
    }
    fn imm(&mut self, v: u64) -> Val {
        self.push(Inst::Const(v))
    }
    fn get_x(&mut self, r: u32) -> Val {
        self.get(Cell::X(r as u8))
    }
    fn set_x(&mut self, r: u32, v: Val) {
        self.set(Cell::X(r as u8), v)
    }
    fn get_sp(&mut self) -> Val {
        self.get(Cell::Sp)
    }
    fn set_sp(&mut self, v: Val) {
        self.set(Cell::Sp, v)
    }
    fn get_nzcv(&mut self) -> Val {
        self.get(Cell::Nzcv)
    }
    fn set_nzcv(&mut self, v: Val) {
        self.set(Cell::Nzcv, v)
    }
    fn bin(&mut self, op: BinOp, a: Val, b: Val) -> Val {
        self.push(Inst::Bin(op, a, b))
    }
    fn un(&mut self, op: UnOp, a: Val) -> Val {
        self.push(Inst::Un(op, a))
    }
    fn add_with_carry(&mut self, a: Val, b: Val, carry: Val, w: Width) -> (Val, Val) {
        let r = self.push(Inst::Adc(a, b, carry, w));
        let f = self.push(Inst::AdcFlags(r));
        (r, f)
    }
    fn logic_flags(&mut self, result: Val, w: Width) -> Val {
        self.push(Inst::LogicFlags(result, w))
    }
    fn cond_holds(&mut self, nzcv: Val, cond: u32) -> Val {
        // A test of a compare's flags is the compare itself (`SubCond`):
        // the backend emits one host compare, and the flags value dies
        // unless the guest state needs it.
        match self.compare_of(nzcv) {
            Some((_, _, _)) if cond < 2 && self.result_kept(nzcv) => {
                // EQ/NE after a SUBS whose result a register holds: test
                // the result, live anyway, and let the operands die.
                let Inst::AdcFlags(r) = self.block.code[nzcv.0 as usize] else {
                    unreachable!("compare_of matched AdcFlags");
                };
                let zero = self.imm(0);
                let op = if cond == 0 { BinOp::Eq } else { BinOp::Ne };
                self.push(Inst::Bin(op, r, zero))
            }
            Some((a, b, w)) if cond < 14 => self.push(Inst::Bin(BinOp::SubCond { cond: cond as u8, w }, a, b)),
            _ => self.push(Inst::CondHolds(nzcv, cond)),
        }
    }
    fn select(&mut self, c: Val, a: Val, b: Val) -> Val {
        self.push(Inst::Select(c, a, b))
    }

    fn load(&mut self, addr: Val, size: u8, acc: MemAccess) -> Result<Val, Unsupported> {
        let sync = self.sync();
        Ok(self.push(Inst::Load(Mem { addr, size, acc, sync })))
    }
    fn store(&mut self, addr: Val, v: Val, size: u8, acc: MemAccess) -> Result<(), Unsupported> {
        let sync = self.sync();
        self.stored = true;
        self.push(Inst::Store(Mem { addr, size, acc, sync }, v));
        Ok(())
    }
    fn load_exclusive(&mut self, _: Val, _: u8, _: MemAccess) -> Result<Val, Unsupported> {
        self.unsupported()
    }
    fn store_exclusive(&mut self, _: Val, _: Val, _: u8, _: MemAccess) -> Result<Val, Unsupported> {
        self.unsupported()
    }
    fn load_exclusive_pair(&mut self, _: Val, _: u8, _: MemAccess) -> Result<(Val, Val), Unsupported> {
        self.unsupported()
    }
    fn store_exclusive_pair(&mut self, _: Val, _: Val, _: Val, _: u8, _: MemAccess) -> Result<Val, Unsupported> {
        self.unsupported()
    }
    fn atomic_rmw(&mut self, op: AtomicOp, addr: Val, v: Val, size: u8, acc: MemAccess) -> Result<Val, Unsupported> {
        let sync = self.sync();
        self.stored = true;
        Ok(self.push(Inst::Atomic(AtomicKind::Rmw(op), Mem { addr, size, acc, sync }, v, v)))
    }
    fn compare_and_swap(
        &mut self,
        addr: Val,
        expected: Val,
        new: Val,
        size: u8,
        acc: MemAccess,
    ) -> Result<Val, Unsupported> {
        let sync = self.sync();
        self.stored = true;
        Ok(self.push(Inst::Atomic(
            AtomicKind::Cas,
            Mem { addr, size, acc, sync },
            expected,
            new,
        )))
    }
    fn compare_and_swap_pair(
        &mut self,
        _: Val,
        _: (Val, Val),
        _: (Val, Val),
        _: MemAccess,
    ) -> Result<(Val, Val), Unsupported> {
        self.unsupported()
    }
    fn check_sp_alignment(&mut self, sp: Val) -> Result<(), Unsupported> {
        let sync = self.sync();
        self.push(Inst::CheckSp(sp, sync));
        Ok(())
    }

    fn branch(&mut self, target: u64) {
        // A B to elsewhere in the block's page, not yet in the block,
        // goes on translating there: a loop whose test is at the top and
        // whose B closes it becomes one block from the B's target (then a
        // loop, `close_loop`), and the chain exit is saved.
        let raw = self.block.insns.last().map_or(0, |&(_, w)| w);
        let follow = raw & 0xfc00_0000 == 0x1400_0000
            && self.follows < MAX_FOLLOWS
            && target != self.block.pc
            && target >> 12 == self.block.pc >> 12
            && self.len() + 1 < MAX_BLOCK_INSNS
            && !self.block.insns.iter().any(|&(p, _)| p == target);
        if follow {
            self.follows += 1;
            self.next_pc = target;
            return;
        }
        let e = self.exit_state();
        self.push(Inst::Exit(Target::Direct(target), e));
        self.exited = true;
    }
    fn branch_indirect(&mut self, target: Val, kind: BranchKind) {
        let e = self.exit_state();
        self.push(Inst::Exit(Target::Indirect(target, kind), e));
        self.exited = true;
    }
    fn branch_if(&mut self, c: Val, target: u64) {
        let e = self.exit_state();
        self.push(Inst::ExitIf(c, target, e));
        self.side_exit = true;
    }

    fn raise(&mut self, _: InsnException) -> Result<(), Unsupported> {
        self.ends = true;
        self.unsupported()
    }
    fn read_sysreg(&mut self, id: SysRegId) -> Result<Val, Unsupported> {
        match self.plain_sysreg(id, false) {
            Some(Plain::Nzcv) => Ok(self.get(Cell::Nzcv)),
            Some(Plain::At(loc)) => Ok(self.push(Inst::SysGet(loc))),
            None => self.unsupported(),
        }
    }
    fn write_sysreg(&mut self, id: SysRegId, v: Val) -> Result<(), Unsupported> {
        match self.plain_sysreg(id, true) {
            Some(Plain::Nzcv) => {
                let m = self.imm(0xf000_0000);
                let v = self.bin(BinOp::And, v, m);
                self.set(Cell::Nzcv, v);
                Ok(())
            }
            Some(Plain::At(loc)) => {
                use cpu_aarch64::sysreg::{fpcr, fpsr};
                let writable = match loc {
                    SysLoc::Table(SysReg::FPCR) => Some(fpcr::WRITABLE),
                    SysLoc::Table(SysReg::FPSR) => Some(fpsr::WRITABLE),
                    _ => None,
                };
                let v = match writable {
                    Some(w) => {
                        let m = self.imm(w);
                        self.bin(BinOp::And, v, m)
                    }
                    None => v,
                };
                self.push(Inst::SysSet(loc, v));
                self.irq_check = loc == SysLoc::Daif;
                Ok(())
            }
            None => {
                // It may change the block's mode, the interrupt masks or
                // the translation: the interpreter runs it and the block
                // ends.
                self.ends = true;
                self.unsupported()
            }
        }
    }
    fn write_pstate_field(&mut self, op1: u32, op2: u32, crm: u32) -> Result<(), Unsupported> {
        // DAIFSet at EL1: masking more can make no interrupt deliverable,
        // so the block goes on; after DAIFClr it leaves if an interrupt
        // line is asserted (SPSel and PAN end it).
        if (op1, op2) == (3, 6) && self.block.mode.el == 1 {
            let d = self.push(Inst::SysGet(SysLoc::Daif));
            let k = self.imm(u64::from(crm & 0xf) << 6);
            let v = self.bin(BinOp::Or, d, k);
            self.push(Inst::SysSet(SysLoc::Daif, v));
            return Ok(());
        }
        if (op1, op2) == (3, 7) && self.block.mode.el == 1 {
            let d = self.push(Inst::SysGet(SysLoc::Daif));
            let k = self.imm(!(u64::from(crm & 0xf) << 6));
            let v = self.bin(BinOp::And, d, k);
            self.push(Inst::SysSet(SysLoc::Daif, v));
            self.irq_check = true;
            return Ok(());
        }
        self.ends = true;
        self.unsupported()
    }
    fn sys(&mut self, id: SysRegId, v: Val) -> Result<(), Unsupported> {
        // DC ZVA at EL1 (EL0 depends on SCTLR_EL1.DZE): inline where the
        // fast path allows, else interpreted with a block exit.
        if id == DC_ZVA && self.block.mode.el == 1 {
            let mask = self.imm(!(cpu_aarch64::sysreg::DCZVA_BYTES - 1));
            let addr = self.bin(BinOp::And, v, mask);
            let sync = self.sync();
            self.stored = true;
            let mem = Mem {
                addr,
                size: cpu_aarch64::sysreg::DCZVA_BYTES as u8,
                acc: MemAccess::default(),
                sync,
            };
            self.push(Inst::Atomic(AtomicKind::ZeroBlock, mem, addr, addr));
            return Ok(());
        }
        // Maintenance by VA to PoU/PoC where it does not trap: nothing
        // to do (see `Mode::cmo`).
        let (_, op1, crn, crm, op2) = id.fields();
        if self.block.mode.cmo && (op1, crn, op2) == (3, 7, 1) && matches!(crm, 5 | 10 | 11 | 12 | 14) {
            return Ok(());
        }
        // Data-cache maintenance (DC ZVA, DC C*/I*) changes no mode and no
        // translation: the block goes on after the interpreter ran it (its
        // writes are watched like any other). IC, TLBI and AT end it.
        let dc = crn == 7 && (op1 == 0 || op1 == 3) && SYS_DC.contains(&(crm, op2));
        if !dc {
            self.ends = true;
        }
        self.unsupported()
    }
    fn eret(&mut self) -> Result<(), Unsupported> {
        self.ends = true;
        self.unsupported()
    }
    fn hint(&mut self, _: Hint) -> Result<(), Unsupported> {
        self.ends = true;
        self.unsupported()
    }
    fn barrier(&mut self, b: Barrier) {
        // ISB is a context synchronisation event: whatever a preceding
        // system register write changed applies from the next instruction,
        // so the block ends. DMB/DSB order nothing for a single thread.
        if b == Barrier::Isb {
            self.ends = true;
        }
    }
    fn clear_exclusive(&mut self) {
        self.unsupported = true;
    }
    fn halt(&mut self, _: u16) -> Result<(), Unsupported> {
        self.ends = true;
        self.unsupported()
    }

    fn check_fp_enabled(&mut self) -> Result<(), Unsupported> {
        // Part of the block's mode: when SIMD&FP would trap, the
        // interpreter takes the trap.
        if self.block.mode.fp {
            Ok(())
        } else {
            self.unsupported()
        }
    }
    fn get_q(&mut self, r: u32) -> QVal {
        QVal(self.push(Inst::GetQ(r as u8)).0)
    }
    fn set_q(&mut self, r: u32, q: QVal) {
        // The copies become dead code.
        let code = &self.block.code;
        let zero = |z: QVal| matches!(code[z.0 as usize], Inst::QImm([0, 0]));
        match code[q.0 as usize] {
            Inst::QWithLane(z, esize, 0, v) if zero(z) => {
                self.push(Inst::SetQZext(r as u8, v, esize));
                return;
            }
            Inst::QWithLane(low, 8, 1, hi) => {
                if let Inst::QWithLane(z, 8, 0, lo) = code[low.0 as usize] {
                    if zero(z) {
                        self.push(Inst::SetQPair(r as u8, lo, hi));
                        return;
                    }
                }
            }
            _ => {}
        }
        self.push(Inst::SetQ(r as u8, q));
    }
    fn q_imm(&mut self, v: u128) -> QVal {
        QVal(self.push(Inst::QImm([v as u64, (v >> 64) as u64])).0)
    }
    fn q_lane(&mut self, q: QVal, esize: u8, idx: u8) -> Val {
        let at = q.0 as usize;
        if let Inst::GetQ(r) = self.block.code[at] {
            // Read in place if nothing since could have written V`r`
            // (the copy then becomes dead code).
            if !self.block.code[at + 1..].iter().any(|i| Block::may_write_v(i, r)) {
                return self.push(Inst::QRegLane(r, esize, idx));
            }
        }
        self.push(Inst::QLane(q, esize, idx))
    }
    fn q_with_lane(&mut self, q: QVal, esize: u8, idx: u8, v: Val) -> QVal {
        QVal(self.push(Inst::QWithLane(q, esize, idx, v)).0)
    }
    fn q_op(&mut self, op: QOp, a: QVal, b: QVal) -> QVal {
        let qs = self.qargs(&[a, b]);
        QVal(self.push(Inst::QCall(HelperOp::Q(op), qs)).0)
    }
    fn q_table(&mut self, table: &[QVal], idx: QVal, fallback: QVal) -> QVal {
        // TBL/TBX read one to four table registers.
        let n = table.len();
        let mut all = [QVal(0); 6];
        all[..n].copy_from_slice(table);
        all[n..n + 2].copy_from_slice(&[idx, fallback]);
        let qs = self.qargs(&all[..n + 2]);
        QVal(self.push(Inst::QCall(HelperOp::Table(table.len() as u8), qs)).0)
    }
    fn check_alignment(&mut self, addr: Val, size: u8, write: bool) -> Result<(), Unsupported> {
        let sync = self.sync();
        self.push(Inst::CheckAlign(addr, size, write, sync));
        Ok(())
    }
    fn crypto(&mut self, op: CryptoOp, a: QVal, b: QVal, c: QVal) -> QVal {
        let qs = self.qargs(&[a, b, c]);
        QVal(self.push(Inst::QCall(HelperOp::Crypto(op), qs)).0)
    }
    fn fp(&mut self, op: FpOp, size: FpSize, args: &[Val]) -> Val {
        let args = self.args(args);
        self.push(Inst::Call(HelperOp::Fp(op, size), args))
    }
    fn sat(&mut self, op: SatOp, a: Val, b: Val) -> Val {
        let args = self.args(&[a, b]);
        self.push(Inst::Call(HelperOp::Sat(op), args))
    }
    fn fp_lanes(&mut self, op: FpOp, size: FpSize, lanes: u8, args: &[QVal]) -> QVal {
        let qs = self.qargs(args);
        QVal(self.push(Inst::QCall(HelperOp::FpLanes(op, size, lanes), qs)).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> Builder {
        let mode = Mode {
            el: 1,
            sp: true,
            fp: true,
            ctr: true,
            cmo: true,
        };
        Builder::new(0x4000_0000, mode)
    }

    /// A lane of a V register is read in place only while nothing could
    /// have written the register since it was read; a scalar result is
    /// written zero-extended in one step.
    #[test]
    fn lanes_are_read_in_place_only_while_the_register_is_unchanged() {
        let mut b = builder();
        let q = b.get_q(3);
        let x = b.q_lane(q, 8, 1);
        assert_eq!(b.block.code[x.0 as usize], Inst::QRegLane(3, 8, 1));
        // A write to another register does not matter; to V3 it does.
        let zero = b.q_imm(0);
        b.set_q(4, zero);
        let y = b.q_lane(q, 4, 0);
        assert_eq!(b.block.code[y.0 as usize], Inst::QRegLane(3, 4, 0));
        let one = b.q_imm(1);
        b.set_q(3, one);
        let z = b.q_lane(q, 4, 0);
        assert_eq!(b.block.code[z.0 as usize], Inst::QLane(q, 4, 0));
        // So does anything run outside the IR (a helper, the interpreter).
        let q = b.get_q(5);
        b.fp(FpOp::Add, FpSize::D, &[x, y]);
        let w = b.q_lane(q, 8, 0);
        assert_eq!(b.block.code[w.0 as usize], Inst::QLane(q, 8, 0));
        // A zero-extended scalar; any other insertion stays as it was.
        let z0 = b.q_imm(0);
        let s = b.q_with_lane(z0, 4, 0, x);
        b.set_q(6, s);
        assert_eq!(b.block.code.last(), Some(&Inst::SetQZext(6, x, 4)));
        let s = b.q_with_lane(z0, 4, 1, x);
        b.set_q(6, s);
        assert_eq!(b.block.code.last(), Some(&Inst::SetQ(6, s)));
        let s = b.q_with_lane(one, 8, 0, x);
        b.set_q(6, s);
        assert_eq!(b.block.code.last(), Some(&Inst::SetQ(6, s)));
        // Both halves: one write of each.
        let lo = b.q_with_lane(z0, 8, 0, x);
        let s = b.q_with_lane(lo, 8, 1, y);
        b.set_q(7, s);
        assert_eq!(b.block.code.last(), Some(&Inst::SetQPair(7, x, y)));
        let lo = b.q_with_lane(one, 8, 0, x);
        let s = b.q_with_lane(lo, 8, 1, y);
        b.set_q(7, s);
        assert_eq!(b.block.code.last(), Some(&Inst::SetQ(7, s)));
        // And such a write of V3 keeps a later lane read of it from the
        // copy.
        let q = b.get_q(3);
        let lo = b.q_with_lane(z0, 8, 0, x);
        let s = b.q_with_lane(lo, 8, 1, y);
        b.set_q(3, s);
        assert_eq!(b.block.code.last(), Some(&Inst::SetQPair(3, x, y)));
        let v = b.q_lane(q, 8, 0);
        assert_eq!(b.block.code[v.0 as usize], Inst::QLane(q, 8, 0));
    }
}
