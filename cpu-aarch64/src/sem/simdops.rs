//! AdvSIMD integer operation types of the [`super::Emitter`], evaluated by
//! `crate::simd`.

/// AdvSIMD integer lane operations that saturate (setting FPSR.QC) or need
/// more than a [`super::BinOp`] (comparisons, min/max, rounding shifts...).
///
/// Operands are lane values held zero-extended in 64 bits; `bits` is the
/// element size (8, 16, 32 or 64) and the result is zero-extended from it
/// unless the variant says otherwise. Only the variants documented as
/// saturating ever set FPSR.QC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SatOp {
    /// SQADD: signed saturating `a + b`.
    AddS {
        /// Element bits.
        bits: u8,
    },
    /// UQADD: unsigned saturating `a + b`.
    AddU {
        /// Element bits.
        bits: u8,
    },
    /// SQSUB: signed saturating `a - b`.
    SubS {
        /// Element bits.
        bits: u8,
    },
    /// UQSUB: unsigned saturating `a - b`.
    SubU {
        /// Element bits.
        bits: u8,
    },
    /// SUQADD: signed `a` plus unsigned `b`, saturated to the signed range.
    AddSU {
        /// Element bits.
        bits: u8,
    },
    /// USQADD: unsigned `a` plus signed `b`, saturated to the unsigned range.
    AddUS {
        /// Element bits.
        bits: u8,
    },
    /// SQABS: signed saturating `|a|` (`b` unused).
    AbsS {
        /// Element bits.
        bits: u8,
    },
    /// SQNEG: signed saturating `-a` (`b` unused).
    NegS {
        /// Element bits.
        bits: u8,
    },
    /// SQDMULH / SQRDMULH: the high half of `2 * a * b` (signed; `round`
    /// adds `1 << (bits - 1)` first), saturated.
    DoublingMulHigh {
        /// Element bits.
        bits: u8,
        /// SQRDMULH.
        round: bool,
    },
    /// SQDMULL: `2 * a * b` (signed `bits`-bit operands), saturated to
    /// `2 * bits` bits; the result is `2 * bits` wide.
    DoublingMulLong {
        /// Bits of each operand.
        bits: u8,
    },
    /// SQXTN / UQXTN / SQXTUN: the `2 * bits`-bit `a` saturated to `bits`
    /// bits (`b` unused).
    Narrow {
        /// Bits of the result.
        bits: u8,
        /// `a` is signed.
        signed_in: bool,
        /// The result range is signed.
        signed_out: bool,
    },
    /// The SSHL family: `a` shifted by the signed amount `b<7:0>` (left
    /// when positive, right when negative); `round` adds half of the last
    /// bit shifted out (SRSHL), `sat` saturates (SQSHL, setting FPSR.QC)
    /// instead of truncating. Right shifts by immediate use it with a
    /// negative `b`.
    Shift {
        /// Element bits.
        bits: u8,
        /// `a` is signed.
        signed: bool,
        /// Rounding.
        round: bool,
        /// Saturating.
        sat: bool,
    },
    /// SQSHLU: signed `a` shifted left by `b` (`0..bits`), saturated to the
    /// unsigned range.
    ShlSU {
        /// Element bits.
        bits: u8,
    },
    /// CMGT / CMHI: all ones if `a > b`, else zero.
    CmpGt {
        /// Element bits.
        bits: u8,
        /// Signed comparison.
        signed: bool,
    },
    /// CMGE / CMHS: all ones if `a >= b`, else zero.
    CmpGe {
        /// Element bits.
        bits: u8,
        /// Signed comparison.
        signed: bool,
    },
    /// SMAX / UMAX.
    Max {
        /// Element bits.
        bits: u8,
        /// Signed.
        signed: bool,
    },
    /// SMIN / UMIN.
    Min {
        /// Element bits.
        bits: u8,
        /// Signed.
        signed: bool,
    },
    /// SABD / UABD: `|a - b|`, exact (it fits in `bits` bits unsigned).
    Abd {
        /// Element bits.
        bits: u8,
        /// Signed operands.
        signed: bool,
    },
    /// ABS (not saturating: `|MIN|` is `MIN`; `b` unused).
    Abs {
        /// Element bits.
        bits: u8,
    },
    /// SHADD / UHADD / SRHADD / URHADD / SHSUB / UHSUB: `(a ± b (+ 1)) >> 1`
    /// computed without overflow.
    Halving {
        /// Element bits.
        bits: u8,
        /// Signed operands.
        signed: bool,
        /// Subtract instead of add.
        sub: bool,
        /// Add one before halving (SRHADD / URHADD).
        round: bool,
    },
    /// CNT: the number of set bits of `a` (`b` unused).
    Popcount,
    /// PMUL / PMULL: the carry-less product of the low `bits` bits of `a`
    /// and `b`, `2 * bits` wide (PMUL keeps the low half).
    PolyMul {
        /// Bits of each operand.
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
