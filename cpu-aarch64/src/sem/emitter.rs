//! The abstraction the instruction semantics are written against.
//!
//! Semantics never compute anything themselves: every value flows through an
//! [`Emitter`]. The interpreter's emitter ([`crate::interp::Eval`]) computes
//! on the spot; the JIT's emitter records the same calls as IR and compiles
//! them. Rust-level `if`s in the semantics may only test decode-time fields;
//! anything depending on run-time values goes through [`Emitter::select`],
//! [`Emitter::branch_if`] or a helper.

pub use super::cryptoops::*;
pub use super::fpops::*;
pub use super::simdops::*;

/// Operand width of an integer operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// 32-bit (W registers); values are held zero-extended in 64 bits.
    W32,
    /// 64-bit (X registers).
    W64,
}

impl Width {
    /// From the `sf` field of an encoding.
    pub fn from_sf(sf: u32) -> Self {
        if sf == 1 {
            Width::W64
        } else {
            Width::W32
        }
    }

    /// Number of bits.
    pub fn bits(self) -> u32 {
        match self {
            Width::W32 => 32,
            Width::W64 => 64,
        }
    }
}

/// Two-operand operations on 64-bit containers. Operations without a width
/// act on all 64 bits; the semantics truncate 32-bit results where needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// Wrapping addition.
    Add,
    /// Wrapping subtraction.
    Sub,
    /// Bitwise and.
    And,
    /// Bitwise or.
    Or,
    /// Bitwise exclusive or.
    Xor,
    /// Low 64 bits of the product.
    Mul,
    /// High 64 bits of the unsigned 128-bit product.
    UMulH,
    /// High 64 bits of the signed 128-bit product.
    SMulH,
    /// Shift left; the amount is below the operation width.
    Shl,
    /// Logical shift right; the amount is below the operation width.
    Lshr,
    /// Arithmetic shift right at the given width (the sign is bit 31 or 63).
    Asr(Width),
    /// Rotate right within the given width.
    Ror(Width),
    /// Unsigned division; division by zero gives zero.
    UDiv(Width),
    /// Signed division truncating toward zero; division by zero gives zero
    /// and `MIN / -1` gives `MIN`.
    SDiv(Width),
    /// One CRC32 (`castagnoli = false`) or CRC32C step over the low `bytes`
    /// bytes of the second operand.
    Crc32 {
        /// Bytes of data consumed: 1, 2, 4 or 8.
        bytes: u8,
        /// CRC-32C polynomial instead of CRC-32.
        castagnoli: bool,
    },
    /// 1 if the operands are equal, else 0.
    Eq,
    /// 1 if the operands differ, else 0.
    Ne,
    /// 1 if Arm condition `cond` (below 14) holds for the flags `a - b`
    /// sets at the width (as `CMP a, b`), else 0. The semantics never
    /// emit it: the JIT forms it from a compare and a test of its flags,
    /// so that the test needs no NZCV value (one host compare).
    SubCond {
        /// The Arm condition (EQ = 0 .. LE = 13).
        cond: u8,
        /// Width of the subtraction.
        w: Width,
    },
}

/// One-operand operations on 64-bit containers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnOp {
    /// Bitwise not (all 64 bits).
    Not,
    /// Zero-extends from the low N bits (1..=64).
    Zext(u8),
    /// Sign-extends from the low N bits (1..=64).
    Sext(u8),
    /// Count leading zeros within the width.
    Clz(Width),
    /// Count leading sign bits within the width.
    Cls(Width),
    /// Reverse the bit order within the width.
    Rbit(Width),
    /// Reverse the bytes within each 16-bit halfword.
    Rev16,
    /// Reverse the bytes within each 32-bit word.
    Rev32,
    /// Reverse all 8 bytes.
    Rev64,
}

/// What a memory access is, beyond its address and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct MemAccess {
    /// Checked as an EL0 access (LDTR/STTR and friends).
    pub unprivileged: bool,
    /// Load-acquire / store-release ordering (also requires alignment).
    pub ordered: bool,
    /// A single-copy atomic access (exclusives, LSE atomics): must be
    /// naturally aligned whatever the memory type.
    pub atomic: bool,
}

/// The read-modify-write operations of the LSE atomics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    /// LDADD: old + v.
    Add,
    /// LDCLR: old AND NOT v.
    Clr,
    /// LDEOR: old XOR v.
    Eor,
    /// LDSET: old OR v.
    Set,
    /// LDSMAX: signed maximum at the access size.
    SMax,
    /// LDSMIN: signed minimum at the access size.
    SMin,
    /// LDUMAX: unsigned maximum.
    UMax,
    /// LDUMIN: unsigned minimum.
    UMin,
    /// SWP: v.
    Swp,
}

/// Branch kinds, so a JIT can predict returns and calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BranchKind {
    /// A plain jump.
    Jump,
    /// A call (BL/BLR): X30 already holds the return address.
    Call,
    /// A return (RET).
    Return,
}

/// Hints with an effect on execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hint {
    /// YIELD.
    Yield,
    /// WFE.
    Wfe,
    /// WFI.
    Wfi,
    /// SEV.
    Sev,
    /// SEVL.
    Sevl,
}

/// Barriers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Barrier {
    /// DSB.
    Dsb,
    /// DMB.
    Dmb,
    /// ISB: a context synchronisation event (ends a JIT block).
    Isb,
}

/// Synchronous exceptions an instruction's semantics can raise directly.
/// Faults found by the memory system are raised by the emitter itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InsnException {
    /// Unallocated or unimplemented encoding.
    Undefined,
    /// SVC #imm.
    Svc(u16),
    /// HVC #imm.
    Hvc(u16),
    /// SMC #imm.
    Smc(u16),
    /// BRK #imm.
    Brk(u16),
}

/// An encoded system register / system instruction operand
/// (`op0, op1, CRn, CRm, op2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SysRegId(pub u16);

impl SysRegId {
    /// Packs the five encoding fields.
    pub const fn new(op0: u32, op1: u32, crn: u32, crm: u32, op2: u32) -> Self {
        SysRegId(((op0 << 14) | (op1 << 11) | (crn << 7) | (crm << 3) | op2) as u16)
    }

    /// The five fields `(op0, op1, CRn, CRm, op2)`.
    pub const fn fields(self) -> (u32, u32, u32, u32, u32) {
        let v = self.0 as u32;
        (v >> 14, (v >> 11) & 7, (v >> 7) & 15, (v >> 3) & 15, v & 7)
    }
}

/// The operations instruction semantics are built from.
///
/// `V` is a 64-bit integer value: a number in the interpreter, an IR value
/// in the JIT. `Stop` ends the instruction early (a fault was taken); the
/// JIT's emitter never stops at translation time.
pub trait Emitter {
    /// A 64-bit integer value.
    type V: Copy;
    /// A 128-bit SIMD&FP register value.
    type Q: Copy;
    /// Why an instruction stopped before completing.
    type Stop;

    /// Address of the instruction being translated (a translation-time
    /// constant).
    fn pc(&self) -> u64;
    /// A constant.
    fn imm(&mut self, v: u64) -> Self::V;
    /// Reads X`r` (0..=30).
    fn get_x(&mut self, r: u32) -> Self::V;
    /// Writes X`r` (0..=30).
    fn set_x(&mut self, r: u32, v: Self::V);
    /// Reads the current stack pointer.
    fn get_sp(&mut self) -> Self::V;
    /// Writes the current stack pointer.
    fn set_sp(&mut self, v: Self::V);
    /// Reads NZCV into bits 31:28.
    fn get_nzcv(&mut self) -> Self::V;
    /// Writes NZCV from bits 31:28.
    fn set_nzcv(&mut self, v: Self::V);

    /// A two-operand operation.
    fn bin(&mut self, op: BinOp, a: Self::V, b: Self::V) -> Self::V;
    /// A one-operand operation.
    fn un(&mut self, op: UnOp, a: Self::V) -> Self::V;
    /// `a + b + carry` at width `w` (operands already truncated to `w`,
    /// carry 0 or 1): the truncated result and its NZCV (bits 31:28).
    fn add_with_carry(&mut self, a: Self::V, b: Self::V, carry: Self::V, w: Width) -> (Self::V, Self::V);
    /// NZCV for a logical result at width `w`: N and Z from it, C = V = 0.
    fn logic_flags(&mut self, result: Self::V, w: Width) -> Self::V;
    /// 1 if condition `cond` holds for `nzcv` (bits 31:28), else 0.
    fn cond_holds(&mut self, nzcv: Self::V, cond: u32) -> Self::V;
    /// `if c != 0 { a } else { b }`.
    fn select(&mut self, c: Self::V, a: Self::V, b: Self::V) -> Self::V;

    /// Loads `size` (1, 2, 4, 8) bytes, zero-extended.
    fn load(&mut self, addr: Self::V, size: u8, acc: MemAccess) -> Result<Self::V, Self::Stop>;
    /// Stores the low `size` bytes of `v`.
    fn store(&mut self, addr: Self::V, v: Self::V, size: u8, acc: MemAccess) -> Result<(), Self::Stop>;
    /// Load-exclusive: loads and arms this core's exclusive monitor.
    fn load_exclusive(&mut self, addr: Self::V, size: u8, acc: MemAccess) -> Result<Self::V, Self::Stop>;
    /// Store-exclusive: stores only if the monitor is armed for `addr`;
    /// returns 0 on success, 1 on failure. Always disarms the monitor.
    fn store_exclusive(&mut self, addr: Self::V, v: Self::V, size: u8, acc: MemAccess) -> Result<Self::V, Self::Stop>;
    /// Load-exclusive of two `size`-byte elements at `addr` (LDXP): one
    /// access of `2 * size` bytes, arming the monitor for all of it.
    fn load_exclusive_pair(
        &mut self,
        addr: Self::V,
        size: u8,
        acc: MemAccess,
    ) -> Result<(Self::V, Self::V), Self::Stop>;
    /// Store-exclusive of two elements (STXP); returns 0 on success.
    fn store_exclusive_pair(
        &mut self,
        addr: Self::V,
        a: Self::V,
        b: Self::V,
        size: u8,
        acc: MemAccess,
    ) -> Result<Self::V, Self::Stop>;
    /// Atomic read-modify-write: memory becomes `op(old, v)` at `size`;
    /// returns `old` (zero-extended).
    fn atomic_rmw(
        &mut self,
        op: AtomicOp,
        addr: Self::V,
        v: Self::V,
        size: u8,
        acc: MemAccess,
    ) -> Result<Self::V, Self::Stop>;
    /// Compare and swap: if memory equals `expected` (at `size`), write
    /// `new`; returns the old value either way.
    fn compare_and_swap(
        &mut self,
        addr: Self::V,
        expected: Self::V,
        new: Self::V,
        size: u8,
        acc: MemAccess,
    ) -> Result<Self::V, Self::Stop>;
    /// 128-bit compare and swap of a register pair (CASP X): compares and
    /// replaces `[addr] = lo`, `[addr + 8] = hi` as one access.
    fn compare_and_swap_pair(
        &mut self,
        addr: Self::V,
        expected: (Self::V, Self::V),
        new: (Self::V, Self::V),
        acc: MemAccess,
    ) -> Result<(Self::V, Self::V), Self::Stop>;
    /// Checks that `sp` (about to be used as a load/store base) is 16-byte
    /// aligned when SCTLR_ELx.SA requires it.
    fn check_sp_alignment(&mut self, sp: Self::V) -> Result<(), Self::Stop>;

    /// Continue at a constant address.
    fn branch(&mut self, target: u64);
    /// Continue at a computed address.
    fn branch_indirect(&mut self, target: Self::V, kind: BranchKind);
    /// Continue at `target` if `c != 0`, else at the next instruction.
    fn branch_if(&mut self, c: Self::V, target: u64);

    /// Takes a synchronous exception caused by this instruction.
    fn raise(&mut self, e: InsnException) -> Result<(), Self::Stop>;
    /// MRS.
    fn read_sysreg(&mut self, id: SysRegId) -> Result<Self::V, Self::Stop>;
    /// MSR (register).
    fn write_sysreg(&mut self, id: SysRegId, v: Self::V) -> Result<(), Self::Stop>;
    /// MSR (immediate) to a PSTATE field: `op1`, `op2` select the field.
    fn write_pstate_field(&mut self, op1: u32, op2: u32, imm: u32) -> Result<(), Self::Stop>;
    /// SYS: cache, TLB and address-translation maintenance (`op0` = 1).
    fn sys(&mut self, id: SysRegId, v: Self::V) -> Result<(), Self::Stop>;
    /// ERET.
    fn eret(&mut self) -> Result<(), Self::Stop>;
    /// A hint with an effect.
    fn hint(&mut self, h: Hint) -> Result<(), Self::Stop>;
    /// A barrier.
    fn barrier(&mut self, b: Barrier);
    /// CLREX: disarm the exclusive monitor.
    fn clear_exclusive(&mut self);
    /// HLT #imm (semihosting when `imm == 0xF000` and enabled).
    fn halt(&mut self, imm: u16) -> Result<(), Self::Stop>;

    // ---- SIMD&FP ----
    /// Traps (EC 0x07) unless CPACR_EL1.FPEN allows FP/SIMD at this EL;
    /// every FP/SIMD instruction calls it first.
    fn check_fp_enabled(&mut self) -> Result<(), Self::Stop>;
    /// Reads V`r` (all 128 bits).
    fn get_q(&mut self, r: u32) -> Self::Q;
    /// Writes V`r` (all 128 bits; scalar writes zero the rest themselves).
    fn set_q(&mut self, r: u32, q: Self::Q);
    /// A 128-bit constant.
    fn q_imm(&mut self, v: u128) -> Self::Q;
    /// Lane `idx` of `q`, `esize` bytes wide (1, 2, 4, 8), zero-extended.
    fn q_lane(&mut self, q: Self::Q, esize: u8, idx: u8) -> Self::V;
    /// `q` with lane `idx` (`esize` bytes) replaced by the low bits of `v`.
    fn q_with_lane(&mut self, q: Self::Q, esize: u8, idx: u8, v: Self::V) -> Self::Q;
    /// A whole-register operation.
    fn q_op(&mut self, op: QOp, a: Self::Q, b: Self::Q) -> Self::Q;
    /// Table lookup (TBL/TBX): byte `i` of the result is byte `idx[i]` of
    /// the concatenation of `table` (byte 0 of `table[0]` first) when
    /// `idx[i] < 16 * table.len()`, else byte `i` of `fallback`.
    fn q_table(&mut self, table: &[Self::Q], idx: Self::Q, fallback: Self::Q) -> Self::Q;
    /// Faults as an access of `size` bytes at `addr` would for its alignment
    /// (SCTLR_ELx.A, Device memory), without accessing memory. The 16-byte
    /// SIMD&FP accesses, made as two 8-byte accesses, check their whole
    /// size first.
    fn check_alignment(&mut self, addr: Self::V, size: u8, write: bool) -> Result<(), Self::Stop>;
    /// A cryptographic operation (`c` unused by two-operand forms).
    fn crypto(&mut self, op: CryptoOp, a: Self::Q, b: Self::Q, c: Self::Q) -> Self::Q;
    /// A scalar floating-point operation under FPCR, accumulating FPSR.
    fn fp(&mut self, op: FpOp, size: FpSize, args: &[Self::V]) -> Self::V;
    /// [`Emitter::fp`] on each of the low `lanes` elements of `size` (lane
    /// `i` of the result is `op` on lane `i` of each of `args`), the other
    /// lanes zero. This default is the definition; an engine may override
    /// it with packed host operations that give the same lanes and flags.
    fn fp_lanes(&mut self, op: FpOp, size: FpSize, lanes: u8, args: &[Self::Q]) -> Self::Q {
        let esize = size.bytes();
        let mut acc = self.q_imm(0);
        for i in 0..lanes {
            let mut xs = [self.imm(0); 3];
            for (x, q) in xs.iter_mut().zip(args) {
                *x = self.q_lane(*q, esize, i);
            }
            let v = self.fp(op, size, &xs[..args.len().min(3)]);
            acc = self.q_with_lane(acc, esize, i, v);
        }
        acc
    }
    /// A saturating integer operation; sets FPSR.QC when it saturates.
    fn sat(&mut self, op: SatOp, a: Self::V, b: Self::V) -> Self::V;
}
