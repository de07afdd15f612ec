//! AdvSIMD integer operation types of the [`super::Emitter`], evaluated by
//! `crate::simd`.

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
