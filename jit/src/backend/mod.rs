//! Host code generators. A backend turns one optimised [`Block`] into
//! position-independent machine code plus the places the engine patches
//! (chaining slots). `x64` is the first; an AArch64-host backend slots in
//! beside it behind the same trait.

use crate::ir::Block;

pub mod codebuf;
#[cfg(target_arch = "x86_64")]
pub mod x64;

/// Codes a block returns to the engine's dispatcher.
pub mod exit {
    /// Left through a direct exit whose chaining slot is in
    /// `JitCtx::exit_slot`; the guest PC is set.
    pub const CHAIN: u32 = 0;
    /// Left with the guest PC set (an indirect branch or a mode change).
    pub const PLAIN: u32 = 1;
    /// Left because the budget ran out (or an exit was requested); the
    /// guest PC is set.
    pub const BUDGET: u32 = 2;
    /// An exception was taken: the guest PC is at the vector.
    pub const EXCEPTION: u32 = 3;
    /// An interpreted instruction stopped (WFI, semihosting, ...): the
    /// reason is in `JitCtx::stop`.
    pub const STOP: u32 = 4;
    /// An indirect branch: the raw target is in the guest PC and still
    /// needs the branch-target treatment (TBI).
    pub const INDIRECT: u32 = 5;
}

/// Where generated code finds the guest state and the engine: byte
/// offsets into the core (`Cpu`, held in the frame register) and the
/// engine context (`JitCtx`), and the helper functions it calls.
#[derive(Clone, Debug)]
pub struct Env {
    /// `Cpu::x`.
    pub cpu_x: i32,
    /// `Cpu::sp_el`.
    pub cpu_sp_el: i32,
    /// `Cpu::pc`.
    pub cpu_pc: i32,
    /// `Cpu::pstate.nzcv` (u32).
    pub cpu_nzcv: i32,
    /// `Cpu::pstate.daif` (u32, DAIF in bits 3:0).
    pub cpu_daif: i32,
    /// `Cpu::icount`.
    pub cpu_icount: i32,
    /// `JitCtx::budget` (i64).
    pub ctx_budget: i32,
    /// `JitCtx::limit` (u64): the instruction count is `limit - budget`.
    pub ctx_limit: i32,
    /// `JitCtx::status` (u64).
    pub ctx_status: i32,
    /// `JitCtx::exit_slot` (u64).
    pub ctx_exit_slot: i32,
    /// `JitCtx::guess`: per memory-access instruction (by `pc >> 2`
    /// modulo `guess_slots`), the TLB addend it used last.
    pub ctx_guess: i32,
    /// Slots in `ctx_guess`.
    pub guess_slots: usize,
    /// `JitCtx::thunks`: the addresses of [`Backend::thunks`], in order.
    pub ctx_thunks: i32,
    /// `JitCtx::raw_nzcv` ([`raw_nzcv_table`]).
    pub ctx_raw_nzcv: i32,
    /// `JitCtx::args` ([u64; 8]).
    pub ctx_args: i32,
    /// `JitCtx::tlb` (the fast-path TLBs).
    pub ctx_tlb: i32,
    /// Entries per fast-path TLB (a power of two).
    pub tlb_entries: usize,
    /// `JitCtx::jump_cache`: `(va, mode, entry, -)` per 32-byte entry,
    /// indexed by `(va >> 2) & (jc_entries - 1)`.
    pub ctx_jc: i32,
    /// Entries in the jump cache (a power of two).
    pub jc_entries: usize,
    /// `Cpu::v`.
    pub cpu_v: i32,
    /// `JitCtx::qslots` (128-bit values of a block).
    pub ctx_qslots: i32,
    /// Number of 128-bit slots.
    pub qslots: usize,
    /// 128-bit helper (args: op index | operand count << 32, operand
    /// pointers 1..=6, result pointer 7).
    pub helper_qcall: usize,
    /// Scalar FP/saturating helper (args: op, values 1..=3); returns the
    /// result.
    pub helper_call: usize,
    /// SIMD&FP alignment check (args: addr, -, pc, raw | size << 32 |
    /// write << 40); returns the status.
    pub helper_check_align: usize,
    /// Whether an interrupt line is asserted (no args); returns 0 or 1.
    pub helper_irq: usize,
    /// `extern "sysv64" fn(*mut JitCtx) -> u64`: load slow path
    /// (args: va, -, pc, info); value returned, status in `status`.
    pub helper_load: usize,
    /// Store slow path (args: va, value, pc, info); returns the status.
    pub helper_store: usize,
    /// `extern "sysv64" fn(*mut JitCtx, frame: *const u64, record: *const
    /// u64)`: stores the guest registers a slow path's record lists
    /// (backend-defined: `x64::sync_writes`) before its helper runs.
    pub helper_sync: usize,
    /// SP alignment check (args: sp, -, pc, raw); returns the status.
    pub helper_check_sp: usize,
    /// Interpreter fallback (args: -, -, pc, raw | ends << 32); returns
    /// 0 to continue or an exit code.
    pub helper_interp: usize,
    /// The slow path of an atomic (args: va, -, pc, raw | 1 << 32): the
    /// interpreter runs the instruction; returns the exit code.
    pub helper_atomic: usize,
    /// The slow path of an inline DC ZVA (as `helper_atomic`; on success
    /// the page's entry gets `tlb_entry::ZVA_OK`).
    pub helper_zva: usize,
    /// `extern "sysv64" fn(a, b, op) -> u64` for operations without an
    /// inline lowering ([`crate::backend::pure_op`]).
    pub helper_pure: usize,
    /// `JitCtx::sysregs`: the running core's system-register values.
    pub ctx_sysregs: i32,
    /// Byte offsets of FPSR and FPCR in those values.
    pub sysreg_fpsr: i32,
    /// See `sysreg_fpsr`.
    pub sysreg_fpcr: i32,
    /// The host has FMA3 (fused multiply-add lowers inline).
    pub host_fma: bool,
    /// The host has SSE4.1 (lane inserts `pinsrb/d/q`).
    pub host_sse41: bool,
    /// The host has F16C (half-precision conversions inline).
    pub host_f16c: bool,
}

/// Byte offsets inside one fast-path TLB entry.
pub mod tlb_entry {
    /// Page tag for reads.
    pub const READ: i32 = 0;
    /// Page tag for writes.
    pub const WRITE: i32 = 8;
    /// `host - va_page`.
    pub const ADDEND: i32 = 16;
    /// The physical page, with [`ZVA_OK`] in bit 0.
    pub const PA: i32 = 24;
    /// Bit 0 of [`PA`]: a DC ZVA ran on this page through the interpreter
    /// (Normal memory, writable), so generated code may zero blocks of it.
    pub const ZVA_OK: u8 = 1;
    /// Bit 1 of [`PA`]: the page is Normal memory and alignment checking
    /// (SCTLR_ELx.A) is off, so a plain access that is not aligned to its
    /// size but stays inside the page may use the entry too.
    pub const UNALIGNED_OK: u8 = 2;
    /// Size of an entry (log2).
    pub const SHIFT: u32 = 5;
}

/// A chaining slot: an 8-byte cell in the code that a direct exit jumps
/// through. It first holds the address of the exit's stub (`stub`), and
/// the engine rewrites it to a target block's entry once one exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitSite {
    /// Offset of the slot in the code.
    pub slot: usize,
    /// Offset of the stub that returns to the dispatcher.
    pub stub: usize,
    /// The guest address the exit goes to.
    pub target: u64,
}

/// The code for one block.
#[derive(Clone, Debug, Default)]
pub struct Compiled {
    /// Machine code, entered at offset 0; position independent apart from
    /// the slots, which the engine fills with absolute addresses.
    pub code: Vec<u8>,
    /// Bytes of instructions at the start of `code`; the rest is data
    /// (chaining slots, helper-call records).
    pub text: usize,
    /// Direct exits.
    pub exits: Vec<ExitSite>,
}

/// Why a block could not be compiled (it is then run on the interpreter).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// More live values than spill slots.
    #[error("block needs more than {0} spill slots")]
    TooManySpills(usize),
    /// The assembler refused the code.
    #[error("assembler: {0}")]
    Assembler(String),
}

/// NZCV (bits 31:28, shifted down) in the form x86's `lahf; seto al`
/// leave flags in `ax`: N in bit 15 (SF), Z in 14 (ZF), C in 8 (CF), V
/// in 0 (OF); entries 16-31 with CF a borrow (NOT C), as after a SUB.
pub const fn raw_nzcv_table() -> [u16; 32] {
    let mut t = [0u16; 32];
    let mut i = 0;
    while i < 32 {
        let nzcv = i & 15;
        let c = (nzcv >> 1 & 1) ^ (i >> 4);
        t[i] = ((nzcv >> 3 & 1) << 15 | (nzcv >> 2 & 1) << 14 | c << 8 | (nzcv & 1)) as u16;
        i += 1;
    }
    t
}

/// Room for [`Backend::thunks`] in every core's context.
pub const THUNKS: usize = 9;

/// A code generator for one host architecture.
pub trait Backend {
    /// The entry trampoline: `extern "sysv64" fn(ctx, cpu, entry) -> u32`
    /// saving the callee-saved registers, setting up the frame and calling
    /// `entry`; placed once at the start of the code cache. The budget
    /// may live in a register between entry and return (`env`'s
    /// `ctx_budget` says where it is loaded from and stored back to).
    fn trampoline(&self, env: &Env) -> Vec<u8>;
    /// Shared out-of-line routines that blocks call through
    /// `Env::ctx_thunks` (at most [`THUNKS`]), placed once after the
    /// trampoline.
    fn thunks(&self, env: &Env) -> Vec<Vec<u8>>;
    /// Compiles `block` into `out`, replacing its contents (its vectors
    /// are reused, so a caller keeping one `Compiled` allocates nothing
    /// per block); `op_index` numbers the helper operations it passes to
    /// the engine's helpers.
    fn compile(
        &self,
        block: &Block,
        env: &Env,
        op_index: &mut dyn FnMut(crate::ir::HelperOp) -> u32,
        out: &mut Compiled,
    ) -> Result<(), CompileError>;
    /// Disassembles host code (for traces and golden tests): `text` bytes
    /// of instructions, then data.
    fn disassemble(&self, code: &[u8], text: usize, addr: u64) -> String;
}

/// Operations generated code hands to [`Env::helper_pure`] instead of
/// lowering inline; the helper evaluates them with the interpreter's own
/// functions. The index into this table is the `op` argument.
pub const PURE_OPS: &[PureOp] = &{
    use cpu_aarch64::sem::{BinOp::*, UnOp::*, Width::*};
    [
        PureOp::Bin(UDiv(W32)),
        PureOp::Bin(UDiv(W64)),
        PureOp::Bin(SDiv(W32)),
        PureOp::Bin(SDiv(W64)),
        PureOp::Bin(Crc32 {
            bytes: 1,
            castagnoli: false,
        }),
        PureOp::Bin(Crc32 {
            bytes: 2,
            castagnoli: false,
        }),
        PureOp::Bin(Crc32 {
            bytes: 4,
            castagnoli: false,
        }),
        PureOp::Bin(Crc32 {
            bytes: 8,
            castagnoli: false,
        }),
        PureOp::Bin(Crc32 {
            bytes: 1,
            castagnoli: true,
        }),
        PureOp::Bin(Crc32 {
            bytes: 2,
            castagnoli: true,
        }),
        PureOp::Bin(Crc32 {
            bytes: 4,
            castagnoli: true,
        }),
        PureOp::Bin(Crc32 {
            bytes: 8,
            castagnoli: true,
        }),
        PureOp::Un(Clz(W32)),
        PureOp::Un(Clz(W64)),
        PureOp::Un(Cls(W32)),
        PureOp::Un(Cls(W64)),
        PureOp::Un(Rbit(W32)),
        PureOp::Un(Rbit(W64)),
        PureOp::Un(Rev16),
    ]
};

/// An operation evaluated by [`Env::helper_pure`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PureOp {
    /// A two-operand operation.
    Bin(cpu_aarch64::sem::BinOp),
    /// A one-operand operation (second argument ignored).
    Un(cpu_aarch64::sem::UnOp),
}

/// Index of `op` in [`PURE_OPS`].
pub fn pure_index(op: PureOp) -> Option<usize> {
    PURE_OPS.iter().position(|&p| p == op)
}

/// Evaluates [`PURE_OPS`]`[op]`.
pub fn pure_op(a: u64, b: u64, op: u64) -> u64 {
    match PURE_OPS.get(op as usize) {
        Some(PureOp::Bin(o)) => cpu_aarch64::interp::eval_bin(*o, a, b),
        Some(PureOp::Un(o)) => cpu_aarch64::interp::eval_un(*o, a),
        None => 0,
    }
}

/// The host this build targets has a backend.
pub fn host_backend() -> Option<Box<dyn Backend>> {
    #[cfg(target_arch = "x86_64")]
    {
        Some(Box::new(x64::X64::default()))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// NZCV (bits 31:28) from its raw form ([`raw_nzcv_table`]), `sub` for
/// a borrow in CF: what the x86 backend's generated code computes with one
/// multiply (`Gen::writeback`), for its slow paths' records.
pub fn nzcv_of_raw(raw: u16, sub: bool) -> u32 {
    let nzcv = (u32::from(raw) & 0xc101).wrapping_mul(0x1021_0000) & 0xf000_0000;
    if sub {
        nzcv ^ 0x2000_0000
    } else {
        nzcv
    }
}

#[cfg(test)]
mod raw_nzcv_tests {
    use super::nzcv_of_raw as to_nzcv;

    #[test]
    fn the_raw_nzcv_table_round_trips() {
        let t = super::raw_nzcv_table();
        for n in 0..16u32 {
            assert_eq!(to_nzcv(t[n as usize], false), n << 28, "add kind, NZCV {n:#x}");
            assert_eq!(to_nzcv(t[16 + n as usize], true), n << 28, "sub kind, NZCV {n:#x}");
        }
    }
}
