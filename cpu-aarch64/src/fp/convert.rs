//! Conversions: FPConvert (between formats), FPRoundInt, FPToFixed,
//! FixedToFP.

use super::soft::{process_nan, round, round_up, split, unpack, Class, Env, Error, Exact, Fmt};
use super::{IOC, IXC};
use crate::sem::Rounding;

/// FPConvertNaN: the sign and the payload's top bits carried over, the
/// result quiet.
fn convert_nan(from: Fmt, to: Fmt, x: u64) -> u64 {
    let sign = x & from.sign_bit() != 0;
    // The payload below the quiet bit, aligned to 51 bits (as in the
    // pseudocode's 64-bit intermediate), then cut to the destination.
    let payload = (x & (from.quiet_bit() - 1)) << (51 - (from.f - 1));
    let frac = to.quiet_bit() | payload >> (51 - (to.f - 1));
    to.pack(sign, to.exp_max(), frac)
}

/// FPConvert from `from` to `to` with `rounding` (FPCR.AHP applies to a
/// half-precision side, FZ16 does not).
pub(super) fn convert(env: &mut Env, from: Fmt, to: Fmt, x: u64, rounding: Rounding) -> u64 {
    let u = unpack(env, from, x, true);
    let alt_hp = env.ahp(to, true);
    match u.class {
        Class::QNaN | Class::SNaN => {
            if u.class == Class::SNaN || alt_hp {
                env.raise(IOC);
            }
            if alt_hp {
                to.zero(u.sign)
            } else if env.dn() {
                to.default_nan()
            } else {
                convert_nan(from, to, x)
            }
        }
        Class::Inf => {
            if alt_hp {
                env.raise(IOC);
                to.zero(u.sign) | (to.mask() >> 1)
            } else {
                to.inf(u.sign)
            }
        }
        Class::Zero => to.zero(u.sign),
        Class::Finite => round(env, to, u.exact(), rounding, true),
    }
}

/// FPRoundInt: the integral value nearest `x` per `rounding`, in the same
/// format; `exact` (FRINTX) signals Inexact when that changes the value.
pub(super) fn round_int(env: &mut Env, fmt: Fmt, x: u64, rounding: Rounding, exact: bool) -> u64 {
    let u = unpack(env, fmt, x, false);
    match u.class {
        Class::QNaN | Class::SNaN => process_nan(env, fmt, &u, x),
        Class::Inf => fmt.inf(u.sign),
        Class::Zero => fmt.zero(u.sign),
        // Already integral (and too large to shift).
        Class::Finite if u.exp >= 0 => x,
        Class::Finite => {
            let (q, err) = split(u128::from(u.mant), false, -u.exp);
            let mag = q + u128::from(round_up(rounding, u.sign, q, err));
            let r = if mag == 0 {
                fmt.zero(u.sign)
            } else {
                // Exactly representable: no exception from the re-encoding.
                let v = Exact {
                    sign: u.sign,
                    exp: 0,
                    mant: mag,
                    sticky: false,
                };
                round(env, fmt, v, Rounding::Zero, false)
            };
            if err != Error::None && exact {
                env.raise(IXC);
            }
            r
        }
    }
}

/// FPToFixed: `x * 2^fbits` rounded per `rounding` to a `bits`-bit signed or
/// unsigned integer, saturating with Invalid (NaN gives 0 and Invalid);
/// Inexact otherwise when rounding changed the value. The result is the
/// integer's `bits`-bit pattern.
pub(super) fn to_fixed(env: &mut Env, fmt: Fmt, x: u64, signed: bool, bits: u8, fbits: u8, rounding: Rounding) -> u64 {
    let bits = u32::from(bits.clamp(1, 64));
    let u = unpack(env, fmt, x, false);
    let max_pos: u128 = if signed { (1 << (bits - 1)) - 1 } else { (1 << bits) - 1 };
    let max_neg: u128 = if signed { 1 << (bits - 1) } else { 0 };
    let mask = u64::MAX >> (64 - bits);
    let saturated = |env: &mut Env, neg: bool| {
        env.raise(IOC);
        if neg {
            ((max_neg as u64).wrapping_neg()) & mask
        } else {
            max_pos as u64
        }
    };
    match u.class {
        Class::QNaN | Class::SNaN => {
            env.raise(IOC);
            0
        }
        Class::Zero => 0,
        Class::Inf => saturated(env, u.sign),
        Class::Finite => {
            let e = u.exp + i32::from(fbits);
            if e > 64 {
                // |value| >= 2^65.
                return saturated(env, u.sign);
            }
            let (q, err) = split(u128::from(u.mant), false, -e);
            let mag = q + u128::from(round_up(rounding, u.sign, q, err));
            let neg = u.sign && mag != 0;
            if (neg && mag > max_neg) || (!neg && mag > max_pos) {
                return saturated(env, neg);
            }
            if err != Error::None {
                env.raise(IXC);
            }
            let m = mag as u64;
            if neg {
                m.wrapping_neg() & mask
            } else {
                m
            }
        }
    }
}

/// FixedToFP: the `bits`-bit integer `x` (signed or unsigned) divided by
/// 2^`fbits`, rounded per FPCR.RMode.
pub(super) fn from_fixed(env: &mut Env, fmt: Fmt, x: u64, signed: bool, bits: u8, fbits: u8) -> u64 {
    let bits = u32::from(bits.clamp(1, 64));
    let x = x & (u64::MAX >> (64 - bits));
    let (sign, mag) = if signed && (x >> (bits - 1)) & 1 == 1 {
        // Two's complement magnitude within `bits`.
        (true, (x ^ (u64::MAX >> (64 - bits))) + 1)
    } else {
        (false, x)
    };
    if mag == 0 {
        return fmt.zero(false);
    }
    let v = Exact {
        sign,
        exp: -i32::from(fbits),
        mant: u128::from(mag),
        sticky: false,
    };
    round(env, fmt, v, env.rmode(), false)
}
