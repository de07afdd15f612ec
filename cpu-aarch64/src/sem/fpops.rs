//! Floating-point operation types of the [`super::Emitter`], evaluated by
//! `crate::fp::eval` (the interpreter calls it directly, the JIT as a
//! helper or, where bit-exact, as host instructions).

/// A floating-point format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FpSize {
    /// Half precision (IEEE binary16, or Arm's alternative format with FPCR.AHP).
    H,
    /// Single precision.
    S,
    /// Double precision.
    D,
}

impl FpSize {
    /// Size in bytes.
    pub fn bytes(self) -> u8 {
        match self {
            FpSize::H => 2,
            FpSize::S => 4,
            FpSize::D => 8,
        }
    }

    /// From the `ftype` field of the scalar FP encodings (00 S, 01 D, 11 H).
    pub fn from_ftype(ftype: u32) -> Option<Self> {
        match ftype {
            0 => Some(FpSize::S),
            1 => Some(FpSize::D),
            3 => Some(FpSize::H),
            _ => None,
        }
    }
}

/// Rounding modes (FPCR.RMode order for the first four).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rounding {
    /// Round to nearest, ties to even.
    TieEven,
    /// Toward +infinity.
    PosInf,
    /// Toward -infinity.
    NegInf,
    /// Toward zero.
    Zero,
    /// Round to nearest, ties away from zero (FRINTA, FCVTA*).
    TieAway,
    /// Round to odd (FCVTXN).
    Odd,
}

/// Scalar floating-point operations, evaluated by `crate::fp::eval`.
/// Arguments and results are bit patterns of the operation's [`FpSize`]
/// (zero-extended in 64-bit values) unless the variant says otherwise.
/// NaN handling, FPCR.DN/FZ/RMode/AHP and FPSR flags follow the Arm ARM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FpOp {
    /// FADD: a + b.
    Add,
    /// FSUB: a - b.
    Sub,
    /// FMUL: a * b.
    Mul,
    /// FDIV: a / b.
    Div,
    /// FMULX: a * b, except 0 * inf = 2 with the product's sign.
    MulX,
    /// FNMUL: FPNeg(FPMul(a, b)): the product rounded, then negated (a
    /// NaN result too).
    NegMul,
    /// FMAX (NaN-propagating).
    Max,
    /// FMIN (NaN-propagating).
    Min,
    /// FMAXNM: a quiet NaN loses to a number.
    MaxNum,
    /// FMINNM: a quiet NaN loses to a number.
    MinNum,
    /// FABD: |a - b| (rounded once, sign cleared after rounding).
    AbsDiff,
    /// FMADD: args `[addend, n, m]` -> addend + n * m, fused.
    MulAdd,
    /// FMSUB: `[addend, n, m]` -> addend - n * m, fused (`n` negated
    /// before NaN processing, as FPNeg).
    MulSub,
    /// FNMADD: `[addend, n, m]` -> -addend - n * m, fused (`addend` and
    /// `n` negated first).
    NegMulAdd,
    /// FNMSUB: `[addend, n, m]` -> -addend + n * m, fused (`addend`
    /// negated first).
    NegMulSub,
    /// FSQRT.
    Sqrt,
    /// FABS (no NaN processing, no flags).
    Abs,
    /// FNEG (no NaN processing, no flags).
    Neg,
    /// FRINT*: round to an integral value in the same format; `None` uses
    /// FPCR.RMode; `exact` (FRINTX) raises Inexact when the value changes.
    RoundInt {
        /// Rounding mode, or `None` for FPCR.RMode.
        mode: Option<Rounding>,
        /// Signal Inexact.
        exact: bool,
    },
    /// FCVT between precisions: from the op's size to `to` (FCVTXN uses
    /// `Rounding::Odd` through [`FpOp::ConvertOdd`]).
    Convert {
        /// Destination format.
        to: FpSize,
    },
    /// FCVTXN: double (the op's size) to single, rounding to odd.
    ConvertOdd,
    /// FCVT{N,P,M,Z,A}{S,U} and FCVTZ{S,U} (fixed-point): to a `bits`-bit
    /// integer (32 or 64; element size for vectors) after scaling by
    /// 2^`fbits`, saturating; Invalid on NaN or out of range. Result is the
    /// integer, zero-extended.
    ToInt {
        /// Signed result.
        signed: bool,
        /// Integer width.
        bits: u8,
        /// Rounding mode, or `None` for FPCR.RMode (FCVTZ* pass `Zero`).
        mode: Option<Rounding>,
        /// Fraction bits (fixed-point forms), else 0.
        fbits: u8,
    },
    /// SCVTF/UCVTF: the argument is a `bits`-bit integer, divided by
    /// 2^`fbits`, rounded per FPCR into the op's size.
    FromInt {
        /// Signed source.
        signed: bool,
        /// Integer width.
        bits: u8,
        /// Fraction bits (fixed-point forms), else 0.
        fbits: u8,
    },
    /// FCMP/FCMPE: NZCV in bits 31:28; `signaling` (FCMPE) raises Invalid
    /// for quiet NaNs too.
    Compare {
        /// FCMPE.
        signaling: bool,
    },
    /// FCMEQ: all ones (of the size) if a == b, else zero.
    CmpEq,
    /// FCMGE: a >= b.
    CmpGe,
    /// FCMGT: a > b.
    CmpGt,
    /// FACGE: |a| >= |b|.
    AbsCmpGe,
    /// FACGT: |a| > |b|.
    AbsCmpGt,
    /// FRECPE (table-exact estimate).
    RecipEstimate,
    /// FRSQRTE (table-exact estimate).
    RSqrtEstimate,
    /// FRECPS: 2 - a * b, fused (`a` negated first, as FPNeg).
    RecipStep,
    /// FRSQRTS: (3 - a * b) / 2, fused (`a` negated first, as FPNeg).
    RSqrtStep,
    /// FRECPX: reciprocal exponent.
    RecipExponent,
    /// URECPE: unsigned 32-bit reciprocal estimate (integer argument).
    URecipEstimate,
    /// URSQRTE: unsigned 32-bit reciprocal square root estimate.
    URSqrtEstimate,
}
