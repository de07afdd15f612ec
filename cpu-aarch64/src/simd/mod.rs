//! AdvSIMD integer helpers shared by the interpreter and the JIT: the
//! evaluation of [`SatOp`] lane operations and [`QOp`] whole-register
//! operations, and the decode-time immediate expansions of the
//! modified-immediate class.
//!
//! Lane arithmetic is done on `i128`, where every AdvSIMD intermediate
//! (up to a 64-bit value plus a rounding constant, or a doubled 32x32-bit
//! product) fits exactly; saturation then clamps to the element range, as
//! the Arm ARM's `SignedSatQ` / `UnsignedSatQ` do on unbounded integers.

use crate::sem::{QOp, SatOp};

pub mod decode;
#[cfg(test)]
mod tests;

/// Evaluates a lane operation: the result (zero-extended) and whether it
/// saturated (the caller sets FPSR.QC).
pub fn eval_sat(op: SatOp, a: u64, b: u64) -> (u64, bool) {
    let nosat = |v: u64| (v, false);
    match op {
        SatOp::AddS { bits } => sat_s(sx(a, bits) + sx(b, bits), bits),
        SatOp::AddU { bits } => sat_u(ux(a, bits) + ux(b, bits), bits),
        SatOp::SubS { bits } => sat_s(sx(a, bits) - sx(b, bits), bits),
        SatOp::SubU { bits } => sat_u(ux(a, bits) - ux(b, bits), bits),
        SatOp::AddSU { bits } => sat_s(sx(a, bits) + ux(b, bits), bits),
        SatOp::AddUS { bits } => sat_u(ux(a, bits) + sx(b, bits), bits),
        SatOp::AbsS { bits } => sat_s(sx(a, bits).abs(), bits),
        SatOp::NegS { bits } => sat_s(-sx(a, bits), bits),
        SatOp::DoublingMulHigh { bits, round } => {
            // Operands of at most 32 bits: the doubled product fits in i128
            // with room to spare.
            let p = 2 * sx(a, bits) * sx(b, bits) + if round { 1i128 << (bits - 1) } else { 0 };
            sat_s(p >> bits, bits)
        }
        SatOp::DoublingMulLong { bits } => sat_s(2 * sx(a, bits) * sx(b, bits), 2 * bits),
        SatOp::Narrow {
            bits,
            signed_in,
            signed_out,
        } => {
            let v = if signed_in { sx(a, 2 * bits) } else { ux(a, 2 * bits) };
            if signed_out {
                sat_s(v, bits)
            } else {
                sat_u(v, bits)
            }
        }
        SatOp::Shift {
            bits,
            signed,
            round,
            sat,
        } => {
            let v = if signed { sx(a, bits) } else { ux(a, bits) };
            let sh = i32::from(b as u8 as i8);
            if sh >= 0 {
                shl(v, sh as u32, bits, if sat { Some(signed) } else { None })
            } else {
                // Beyond 66 every element gives the same result (0 or -1,
                // or 0 when rounding), and the rounding constant still fits.
                let n = (-sh).min(66) as u32;
                let r = if round { (v + (1i128 << (n - 1))) >> n } else { v >> n };
                if sat {
                    if signed {
                        sat_s(r, bits)
                    } else {
                        sat_u(r, bits)
                    }
                } else {
                    nosat(r as u64 & mask(bits))
                }
            }
        }
        SatOp::ShlSU { bits } => shl(sx(a, bits), (b & 63) as u32, bits, Some(false)),
        SatOp::CmpGt { bits, signed } => nosat(ones_if(cmp(a, b, bits, signed).is_gt(), bits)),
        SatOp::CmpGe { bits, signed } => nosat(ones_if(cmp(a, b, bits, signed).is_ge(), bits)),
        SatOp::Max { bits, signed } => nosat((if cmp(a, b, bits, signed).is_ge() { a } else { b }) & mask(bits)),
        SatOp::Min { bits, signed } => nosat((if cmp(a, b, bits, signed).is_le() { a } else { b }) & mask(bits)),
        SatOp::Abd { bits, signed } => {
            let (x, y) = if signed {
                (sx(a, bits), sx(b, bits))
            } else {
                (ux(a, bits), ux(b, bits))
            };
            nosat((x - y).unsigned_abs() as u64 & mask(bits))
        }
        SatOp::Abs { bits } => nosat(sx(a, bits).unsigned_abs() as u64 & mask(bits)),
        SatOp::Halving {
            bits,
            signed,
            sub,
            round,
        } => {
            let (x, y) = if signed {
                (sx(a, bits), sx(b, bits))
            } else {
                (ux(a, bits), ux(b, bits))
            };
            let s = if sub { x - y } else { x + y } + i128::from(round);
            nosat((s >> 1) as u64 & mask(bits))
        }
        SatOp::Popcount => nosat(u64::from(a.count_ones())),
        SatOp::PolyMul { bits } => nosat(clmul(a & mask(bits), b & mask(bits)) as u64),
    }
}

/// `v << sh` at `bits` bits: truncated (`sat == None`) or saturated to the
/// signed (`Some(true)`) or unsigned (`Some(false)`) range.
fn shl(v: i128, sh: u32, bits: u8, sat: Option<bool>) -> (u64, bool) {
    let Some(signed_out) = sat else {
        let r = if sh >= u32::from(bits) { 0 } else { (v as u64) << sh };
        return (r & mask(bits), false);
    };
    // |v| < 2^64 and sh < 64 keep the product inside i128; anything
    // shifted by the element size or more is out of range unless zero.
    let r = if v == 0 {
        0
    } else if sh >= u32::from(bits) {
        v.signum() << 100
    } else {
        v << sh
    };
    if signed_out {
        sat_s(r, bits)
    } else {
        sat_u(r, bits)
    }
}

/// `v` clamped to the signed `bits`-bit range: (result, saturated).
fn sat_s(v: i128, bits: u8) -> (u64, bool) {
    let max = (1i128 << (bits - 1)) - 1;
    let min = -(1i128 << (bits - 1));
    let r = v.clamp(min, max);
    (r as u64 & mask(bits), r != v)
}

/// `v` clamped to the unsigned `bits`-bit range: (result, saturated).
fn sat_u(v: i128, bits: u8) -> (u64, bool) {
    let max = (1i128 << bits) - 1;
    let r = v.clamp(0, max);
    (r as u64, r != v)
}

fn cmp(a: u64, b: u64, bits: u8, signed: bool) -> std::cmp::Ordering {
    if signed {
        sx(a, bits).cmp(&sx(b, bits))
    } else {
        ux(a, bits).cmp(&ux(b, bits))
    }
}

fn ones_if(c: bool, bits: u8) -> u64 {
    if c {
        mask(bits)
    } else {
        0
    }
}

/// Carry-less (polynomial over GF(2)) product.
fn clmul(a: u64, b: u64) -> u128 {
    (0..64)
        .filter(|i| b >> i & 1 == 1)
        .fold(0u128, |acc, i| acc ^ (u128::from(a) << i))
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

/// The low `bits` bits of `v`, zero-extended, as i128.
pub fn ux(v: u64, bits: u8) -> i128 {
    i128::from(v & mask(bits))
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

/// Arm ARM `AdvSIMDExpandImm(op, cmode, imm8)`: the 64-bit pattern of the
/// modified-immediate instructions, or `None` for the one reserved
/// combination (`op = 1, cmode = 1111`, whose Q = 1 form is FMOV of a
/// double and is expanded by [`vfp_expand_imm64`]).
pub fn adv_simd_expand_imm(op: u32, cmode: u32, imm8: u8) -> Option<u64> {
    let i = u64::from(imm8);
    let rep2 = |v: u64| v | (v << 32);
    let rep4 = |v: u64| rep2(v | (v << 16));
    Some(match cmode >> 1 {
        0 => rep2(i),
        1 => rep2(i << 8),
        2 => rep2(i << 16),
        3 => rep2(i << 24),
        4 => rep4(i),
        5 => rep4(i << 8),
        6 if cmode & 1 == 0 => rep2((i << 8) | 0xff),
        6 => rep2((i << 16) | 0xffff),
        _ => match (cmode & 1, op) {
            (0, 0) => i * 0x0101_0101_0101_0101,
            (0, _) => (0..8).fold(0, |acc, b| acc | if i >> b & 1 == 1 { 0xff << (8 * b) } else { 0 }),
            (_, 0) => rep2(vfp_expand_imm32(imm8)),
            _ => return None,
        },
    })
}

/// `VFPExpandImm(imm8)` for a single (shared with scalar FMOV).
pub fn vfp_expand_imm32(imm8: u8) -> u64 {
    crate::fp::vfp_expand_imm(u32::from(imm8), crate::sem::FpSize::S)
}

/// `VFPExpandImm(imm8)` for a double (shared with scalar FMOV).
pub fn vfp_expand_imm64(imm8: u8) -> u64 {
    crate::fp::vfp_expand_imm(u32::from(imm8), crate::sem::FpSize::D)
}
