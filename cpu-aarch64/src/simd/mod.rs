//! AdvSIMD integer helpers shared by the interpreter and the JIT.

use crate::sem::{QOp, SatOp};

/// Evaluates a saturating operation: the result and whether it saturated.
pub fn eval_sat(op: SatOp, a: u64, b: u64) -> (u64, bool) {
    let clamp_s = |v: i128, bits: u8| {
        let max = (1i128 << (bits - 1)) - 1;
        let min = -(1i128 << (bits - 1));
        let r = v.clamp(min, max);
        ((r as u64) & mask(bits), r != v)
    };
    let clamp_u = |v: i128, bits: u8| {
        let max = (1i128 << bits) - 1;
        let r = v.clamp(0, max);
        (r as u64, r != v)
    };
    match op {
        SatOp::AddS { bits } => clamp_s(sx(a, bits) + sx(b, bits), bits),
        SatOp::AddU { bits } => clamp_u(i128::from(a & mask(bits)) + i128::from(b & mask(bits)), bits),
    }
}

/// All-ones in the low `bits` bits.
pub fn mask(bits: u8) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// The low `bits` bits of `v`, sign-extended, as i128.
pub fn sx(v: u64, bits: u8) -> i128 {
    i128::from(crate::isa::sext(v, u32::from(bits)) as i64)
}

/// Evaluates a whole-register operation.
pub fn eval_q(op: QOp, a: u128, b: u128) -> u128 {
    match op {
        QOp::And => a & b,
        QOp::Orr => a | b,
        QOp::Eor => a ^ b,
        QOp::Bic => a & !b,
        QOp::Orn => a | !b,
    }
}
