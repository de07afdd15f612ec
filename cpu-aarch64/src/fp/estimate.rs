//! Reciprocal and reciprocal square root estimates (FRECPE, FRSQRTE,
//! URECPE, URSQRTE) and FRECPX, as the Arm ARM defines them: 8-bit
//! estimates from `RecipEstimate` / `RecipSqrtEstimate` (FEAT_RPRES's
//! 12-bit estimates are not implemented).

use super::soft::{process_nan, unpack, Class, Env, Fmt};
use super::{DZC, IOC, IXC, OFC, UFC};
use crate::sem::Rounding;

/// RecipEstimate: `a` in 256..512 is a fixed-point number in [0.5, 1); the
/// result in 256..512 approximates its reciprocal in [1, 2).
pub(crate) fn recip_estimate_int(a: u32) -> u32 {
    // Round `a` to the middle of its 1/512 step, divide, round to nearest.
    let a = a.clamp(256, 511) * 2 + 1;
    let b = (1u32 << 19) / a;
    b.div_ceil(2)
}

/// RecipSqrtEstimate of `a` in 128..512 (a fixed-point number in [0.25, 1)
/// with 9 fraction bits), a value in 256..512 approximating 1/sqrt in
/// [1, 2), computed once per input into a table.
pub(crate) fn rsqrt_estimate_int(a: u32) -> u32 {
    RSQRT_TABLE[(a as usize).clamp(128, 511) - 128].into()
}

/// RecipSqrtEstimate for every `a` in 128..512.
static RSQRT_TABLE: [u16; 384] = rsqrt_table();

const fn rsqrt_table() -> [u16; 384] {
    let mut t = [0u16; 384];
    let mut i = 0;
    while i < 384 {
        let a0 = (i + 128) as u64;
        let a = if a0 < 256 {
            // 0.25 .. 0.5: in units of 1/512, rounded to nearest.
            a0 * 2 + 1
        } else {
            // 0.5 .. 1.0: the bottom bit dropped, in units of 1/256 rounded
            // to nearest.
            (((a0 >> 1) << 1) + 1) * 2
        };
        // The largest b with a * (b + 1)^2 < 2^28, i.e. b < 2^14 / sqrt(a).
        let mut b: u64 = 512;
        while a * (b + 1) * (b + 1) < (1 << 28) {
            b += 1;
        }
        t[i] = b.div_ceil(2) as u16;
        i += 1;
    }
    t
}

/// The 52-bit fraction and the biased exponent of `x`, as the estimate
/// pseudocode sees them (the fraction widened to double precision).
fn fraction52(fmt: Fmt, x: u64) -> (u64, i64) {
    ((x & fmt.frac_mask()) << (52 - fmt.f), fmt.biased_exp(x) as i64)
}

const FRAC52: u64 = (1 << 52) - 1;

/// FPRecipEstimate (FRECPE).
pub(super) fn recip_estimate(env: &mut Env, fmt: Fmt, x: u64) -> u64 {
    let u = unpack(env, fmt, x, false);
    match u.class {
        Class::QNaN | Class::SNaN => return process_nan(env, fmt, &u, x),
        Class::Inf => return fmt.zero(u.sign),
        Class::Zero => {
            env.raise(DZC);
            return fmt.inf(u.sign);
        }
        Class::Finite => {}
    }
    let sign = u.sign;
    let bias = fmt.bias();
    if u.log2() < -(bias + 1) {
        // The reciprocal overflows.
        let to_inf = match env.rmode() {
            Rounding::PosInf => !sign,
            Rounding::NegInf => sign,
            Rounding::Zero | Rounding::Odd => false,
            Rounding::TieEven | Rounding::TieAway => true,
        };
        env.raise(OFC | IXC);
        return if to_inf { fmt.inf(sign) } else { fmt.max_normal(sign) };
    }
    if env.flush(fmt, false) && u.log2() >= bias - 1 {
        // The reciprocal would be denormal: flushed.
        env.raise(UFC);
        return fmt.zero(sign);
    }
    let (mut fraction, mut exp) = fraction52(fmt, x);
    if exp == 0 {
        if fraction >> 51 == 0 {
            exp = -1;
            fraction = (fraction << 2) & FRAC52;
        } else {
            fraction = (fraction << 1) & FRAC52;
        }
    }
    let scaled = 256 | (fraction >> 44) as u32;
    let mut result_exp = 2 * i64::from(bias) - 1 - exp;
    let estimate = u64::from(recip_estimate_int(scaled));
    let mut fraction = (estimate & 0xff) << 44;
    if result_exp == 0 {
        fraction = 1 << 51 | fraction >> 1;
    } else if result_exp == -1 {
        fraction = 1 << 50 | fraction >> 2;
        result_exp = 0;
    }
    fmt.pack(sign, result_exp as u64, fraction >> (52 - fmt.f))
}

/// FPRSqrtEstimate (FRSQRTE).
pub(super) fn rsqrt_estimate(env: &mut Env, fmt: Fmt, x: u64) -> u64 {
    let u = unpack(env, fmt, x, false);
    match u.class {
        Class::QNaN | Class::SNaN => return process_nan(env, fmt, &u, x),
        Class::Zero => {
            env.raise(DZC);
            return fmt.inf(u.sign);
        }
        _ if u.sign => {
            env.raise(IOC);
            return fmt.default_nan();
        }
        Class::Inf => return fmt.zero(false),
        Class::Finite => {}
    }
    let (mut fraction, mut exp) = fraction52(fmt, x);
    if exp == 0 {
        // Normalise a denormal (its fraction is not zero).
        while fraction >> 51 == 0 && fraction != 0 {
            fraction = (fraction << 1) & FRAC52;
            exp -= 1;
        }
        fraction = (fraction << 1) & FRAC52;
    }
    // Keep the exponent's parity: 0.25 <= scaled/512 < 1.
    let scaled = if exp & 1 == 0 {
        (1 << 8) | (fraction >> 44) as u32
    } else {
        (1 << 7) | (fraction >> 45) as u32
    };
    let result_exp = (3 * i64::from(fmt.bias()) - 1 - exp).div_euclid(2);
    let estimate = u64::from(rsqrt_estimate_int(scaled));
    fmt.pack(false, result_exp as u64, (estimate & 0xff) << (fmt.f - 8))
}

/// FPRecpX (FRECPX): the sign and the inverted exponent, fraction zero.
pub(super) fn recip_exponent(env: &mut Env, fmt: Fmt, x: u64) -> u64 {
    let u = unpack(env, fmt, x, false);
    if u.is_nan() {
        return process_nan(env, fmt, &u, x);
    }
    let exp = fmt.biased_exp(x);
    let r_exp = if exp == 0 {
        fmt.exp_max() - 1
    } else {
        !exp & fmt.exp_max()
    };
    fmt.pack(u.sign, r_exp, 0)
}

/// UnsignedRecipEstimate (URECPE).
pub(super) fn unsigned_recip_estimate(x: u32) -> u32 {
    if x >> 31 == 0 {
        u32::MAX
    } else {
        (recip_estimate_int(x >> 23) & 0x1ff) << 23
    }
}

/// UnsignedRSqrtEstimate (URSQRTE).
pub(super) fn unsigned_rsqrt_estimate(x: u32) -> u32 {
    if x >> 30 == 0 {
        u32::MAX
    } else {
        (rsqrt_estimate_int(x >> 23) & 0x1ff) << 23
    }
}
