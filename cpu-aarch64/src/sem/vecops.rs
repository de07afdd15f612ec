//! Operation enums of the FP/SIMD part of the [`super::Emitter`]: each is
//! evaluated by one shared function (`crate::fp`, `crate::simd`,
//! `crate::crypto`) that the interpreter calls directly and the JIT calls
//! as a helper (or lowers to host instructions where bit-exact).

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

/// Scalar floating-point operations. Arguments are bit patterns of `size`
/// (zero-extended in 64-bit values); results likewise unless stated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FpOp {
    /// a + b.
    Add,
    /// a - b.
    Sub,
    /// a * b.
    Mul,
    /// a / b.
    Div,
}

/// AdvSIMD integer operations that saturate (setting FPSR.QC) or need more
/// than a [`super::BinOp`]. `bits` is the element size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SatOp {
    /// Signed saturating add.
    AddS {
        /// Element bits.
        bits: u8,
    },
    /// Unsigned saturating add.
    AddU {
        /// Element bits.
        bits: u8,
    },
}

/// Whole-register (128-bit) operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QOp {
    /// a AND b.
    And,
    /// a OR b.
    Orr,
    /// a XOR b.
    Eor,
    /// a AND NOT b.
    Bic,
    /// a OR NOT b.
    Orn,
}

/// Cryptographic operations on whole registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CryptoOp {
    /// AESE: AddRoundKey, SubBytes, ShiftRows.
    Aese,
}
