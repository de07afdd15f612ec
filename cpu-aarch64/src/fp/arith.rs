//! Arithmetic and comparisons: FPAdd/FPSub, FPMul(X), FPDiv, FPSqrt,
//! FPMulAdd, FPRecipStepFused/FPRSqrtStepFused, FPMax/FPMin(Num),
//! FPCompare*.

use super::soft::{exact_add, msb, process_nans, round, unpack, Class, Env, Exact, Fmt, Unpacked};
use super::{DZC, IOC};
use crate::sem::Rounding;
use std::cmp::Ordering;

/// The zero that an exact zero sum gets when its sign is not fixed by the
/// operands: -0 when rounding toward minus infinity, else +0.
fn exact_zero(env: &Env, fmt: Fmt) -> u64 {
    fmt.zero(env.rmode() == Rounding::NegInf)
}

/// `±2.0`.
fn two(fmt: Fmt, sign: bool) -> u64 {
    fmt.pack(sign, 1 << (fmt.e - 1), 0)
}

/// The product of two unpacked operands as an exact value (zero when
/// either is zero).
fn product(a: &Unpacked, b: &Unpacked) -> Exact {
    let (x, y) = (a.exact(), b.exact());
    Exact {
        sign: a.sign != b.sign,
        exp: x.exp + y.exp,
        mant: x.mant * y.mant,
        sticky: false,
    }
}

/// FPAdd, or FPSub when `sub`.
pub(super) fn add(env: &mut Env, fmt: Fmt, a: u64, b: u64, sub: bool) -> u64 {
    let ua = unpack(env, fmt, a, false);
    let ub = unpack(env, fmt, b, false);
    if let Some(r) = process_nans(env, fmt, &[(&ua, a), (&ub, b)]) {
        return r;
    }
    // FPSub is FPAdd of the negated second operand once NaNs are handled.
    let ub = Unpacked {
        sign: ub.sign != sub,
        ..ub
    };
    let (inf1, inf2) = (ua.class == Class::Inf, ub.class == Class::Inf);
    if inf1 && inf2 && ua.sign != ub.sign {
        env.raise(IOC);
        return fmt.default_nan();
    }
    if inf1 {
        return fmt.inf(ua.sign);
    }
    if inf2 {
        return fmt.inf(ub.sign);
    }
    if ua.class == Class::Zero && ub.class == Class::Zero && ua.sign == ub.sign {
        return fmt.zero(ua.sign);
    }
    match exact_add(ua.exact(), ub.exact()) {
        None => exact_zero(env, fmt),
        Some(x) => round(env, fmt, x, env.rmode(), false),
    }
}

/// FPMul, or FPMulX when `mulx` (0 * inf = 2).
pub(super) fn mul(env: &mut Env, fmt: Fmt, a: u64, b: u64, mulx: bool) -> u64 {
    let ua = unpack(env, fmt, a, false);
    let ub = unpack(env, fmt, b, false);
    if let Some(r) = process_nans(env, fmt, &[(&ua, a), (&ub, b)]) {
        return r;
    }
    let sign = ua.sign != ub.sign;
    let (inf1, inf2) = (ua.class == Class::Inf, ub.class == Class::Inf);
    let (zero1, zero2) = (ua.class == Class::Zero, ub.class == Class::Zero);
    if (inf1 && zero2) || (zero1 && inf2) {
        if mulx {
            return two(fmt, sign);
        }
        env.raise(IOC);
        return fmt.default_nan();
    }
    if inf1 || inf2 {
        return fmt.inf(sign);
    }
    if zero1 || zero2 {
        return fmt.zero(sign);
    }
    round(env, fmt, product(&ua, &ub), env.rmode(), false)
}

/// FPDiv.
pub(super) fn div(env: &mut Env, fmt: Fmt, a: u64, b: u64) -> u64 {
    let ua = unpack(env, fmt, a, false);
    let ub = unpack(env, fmt, b, false);
    if let Some(r) = process_nans(env, fmt, &[(&ua, a), (&ub, b)]) {
        return r;
    }
    let sign = ua.sign != ub.sign;
    let (inf1, inf2) = (ua.class == Class::Inf, ub.class == Class::Inf);
    let (zero1, zero2) = (ua.class == Class::Zero, ub.class == Class::Zero);
    if (inf1 && inf2) || (zero1 && zero2) {
        env.raise(IOC);
        return fmt.default_nan();
    }
    if inf1 || zero2 {
        if !inf1 {
            env.raise(DZC);
        }
        return fmt.inf(sign);
    }
    if zero1 || inf2 {
        return fmt.zero(sign);
    }
    // Both significands normalised to bit 63: the quotient of the numerator
    // shifted by 64 has 64 or 65 bits, the remainder goes to sticky.
    let (sa, sb) = (ua.mant.leading_zeros(), ub.mant.leading_zeros());
    let (ma, mb) = (u128::from(ua.mant << sa), u128::from(ub.mant << sb));
    let num = ma << 64;
    let q = num / mb;
    let x = Exact {
        sign,
        exp: (ua.exp - sa as i32) - 64 - (ub.exp - sb as i32),
        mant: q,
        sticky: num % mb != 0,
    };
    round(env, fmt, x, env.rmode(), false)
}

/// Integer square root: `floor(sqrt(n))` and whether it is inexact.
fn isqrt(n: u128) -> (u128, bool) {
    let mut rem = n;
    let mut res: u128 = 0;
    let mut bit: u128 = 1 << 126;
    while bit > n {
        bit >>= 2;
    }
    while bit != 0 {
        if rem >= res + bit {
            rem -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    (res, rem != 0)
}

/// FPSqrt.
pub(super) fn sqrt(env: &mut Env, fmt: Fmt, a: u64) -> u64 {
    let u = unpack(env, fmt, a, false);
    match u.class {
        Class::QNaN | Class::SNaN => return super::soft::process_nan(env, fmt, &u, a),
        Class::Zero => return fmt.zero(u.sign),
        Class::Inf if !u.sign => return fmt.inf(false),
        _ if u.sign => {
            env.raise(IOC);
            return fmt.default_nan();
        }
        _ => {}
    }
    // Scale the significand to about 2^124 with an even exponent: its root
    // has 62 or 63 bits.
    let m = u128::from(u.mant);
    let mut s = 124 - msb(m);
    if (u.exp - s) & 1 != 0 {
        s += 1;
    }
    let (r, inexact) = isqrt(m << s);
    let x = Exact {
        sign: false,
        exp: (u.exp - s) / 2,
        mant: r,
        sticky: inexact,
    };
    round(env, fmt, x, env.rmode(), false)
}

/// FPMulAdd: `addend + n * m` with a single rounding.
pub(super) fn mul_add(env: &mut Env, fmt: Fmt, addend: u64, n: u64, m: u64) -> u64 {
    let ua = unpack(env, fmt, addend, false);
    let u1 = unpack(env, fmt, n, false);
    let u2 = unpack(env, fmt, m, false);
    let (inf1, inf2) = (u1.class == Class::Inf, u2.class == Class::Inf);
    let (zero1, zero2) = (u1.class == Class::Zero, u2.class == Class::Zero);
    let inf_times_zero = (inf1 && zero2) || (zero1 && inf2);
    if let Some(r) = process_nans(env, fmt, &[(&ua, addend), (&u1, n), (&u2, m)]) {
        // A quiet NaN addend does not hide the invalid product.
        if ua.class == Class::QNaN && inf_times_zero {
            env.raise(IOC);
            return fmt.default_nan();
        }
        return r;
    }
    let (inf_a, zero_a) = (ua.class == Class::Inf, ua.class == Class::Zero);
    let sign_p = u1.sign != u2.sign;
    let inf_p = inf1 || inf2;
    let zero_p = zero1 || zero2;
    if inf_times_zero || (inf_a && inf_p && ua.sign != sign_p) {
        env.raise(IOC);
        return fmt.default_nan();
    }
    if (inf_a && !ua.sign) || (inf_p && !sign_p) {
        return fmt.inf(false);
    }
    if (inf_a && ua.sign) || (inf_p && sign_p) {
        return fmt.inf(true);
    }
    if zero_a && zero_p && ua.sign == sign_p {
        return fmt.zero(ua.sign);
    }
    match exact_add(ua.exact(), product(&u1, &u2)) {
        None => exact_zero(env, fmt),
        Some(x) => round(env, fmt, x, env.rmode(), false),
    }
}

/// FPRecipStepFused (`2 - a * b`) or, when `rsqrt`, FPRSqrtStepFused
/// (`(3 - a * b) / 2`), each rounded once.
pub(super) fn step(env: &mut Env, fmt: Fmt, a: u64, b: u64, rsqrt: bool) -> u64 {
    let a = a ^ fmt.sign_bit();
    let ua = unpack(env, fmt, a, false);
    let ub = unpack(env, fmt, b, false);
    if let Some(r) = process_nans(env, fmt, &[(&ua, a), (&ub, b)]) {
        return r;
    }
    let (inf1, inf2) = (ua.class == Class::Inf, ub.class == Class::Inf);
    let (zero1, zero2) = (ua.class == Class::Zero, ub.class == Class::Zero);
    if (inf1 && zero2) || (zero1 && inf2) {
        return if rsqrt {
            // 1.5
            fmt.pack(false, fmt.bias() as u64, fmt.quiet_bit())
        } else {
            two(fmt, false)
        };
    }
    if inf1 || inf2 {
        return fmt.inf(ua.sign != ub.sign);
    }
    let constant = Exact {
        sign: false,
        exp: 0,
        mant: if rsqrt { 3 } else { 2 },
        sticky: false,
    };
    match exact_add(constant, product(&ua, &ub)) {
        None => exact_zero(env, fmt),
        Some(mut x) => {
            if rsqrt {
                x.exp -= 1;
            }
            round(env, fmt, x, env.rmode(), false)
        }
    }
}

/// The numeric order of two non-NaN operands (zeros equal whatever their
/// sign; flushed denormals are zeros).
fn order(fmt: Fmt, ua: &Unpacked, a: u64, ub: &Unpacked, b: u64) -> Ordering {
    let key = |u: &Unpacked, x: u64| {
        let mag = if u.class == Class::Zero {
            0
        } else {
            i128::from(x & !fmt.sign_bit())
        };
        if u.sign {
            -mag
        } else {
            mag
        }
    };
    key(ua, a).cmp(&key(ub, b))
}

/// FPMax (`max`) or FPMin.
pub(super) fn max_min(env: &mut Env, fmt: Fmt, a: u64, b: u64, max: bool) -> u64 {
    let ua = unpack(env, fmt, a, false);
    let ub = unpack(env, fmt, b, false);
    if let Some(r) = process_nans(env, fmt, &[(&ua, a), (&ub, b)]) {
        return r;
    }
    let want = if max { Ordering::Greater } else { Ordering::Less };
    let u = if order(fmt, &ua, a, &ub, b) == want { ua } else { ub };
    match u.class {
        Class::Inf => fmt.inf(u.sign),
        // The most positive (max) or most negative (min) zero.
        Class::Zero => fmt.zero(if max { ua.sign && ub.sign } else { ua.sign || ub.sign }),
        _ => round(env, fmt, u.exact(), env.rmode(), false),
    }
}

/// FPMaxNum (`max`) or FPMinNum: a single quiet NaN operand counts as the
/// infinity that loses.
pub(super) fn max_min_num(env: &mut Env, fmt: Fmt, a: u64, b: u64, max: bool) -> u64 {
    let qa = unpack(env, fmt, a, false).class == Class::QNaN;
    let qb = unpack(env, fmt, b, false).class == Class::QNaN;
    let (a, b) = match (qa, qb) {
        (true, false) => (fmt.inf(max), b),
        (false, true) => (a, fmt.inf(max)),
        _ => (a, b),
    };
    max_min(env, fmt, a, b, max)
}

/// FPCompare: NZCV in bits 31:28. `signaling` (FCMPE) raises Invalid for
/// quiet NaNs too.
pub(super) fn compare(env: &mut Env, fmt: Fmt, a: u64, b: u64, signaling: bool) -> u64 {
    let ua = unpack(env, fmt, a, false);
    let ub = unpack(env, fmt, b, false);
    let nzcv: u64 = if ua.is_nan() || ub.is_nan() {
        if ua.class == Class::SNaN || ub.class == Class::SNaN || signaling {
            env.raise(IOC);
        }
        0b0011
    } else {
        match order(fmt, &ua, a, &ub, b) {
            Ordering::Equal => 0b0110,
            Ordering::Less => 0b1000,
            Ordering::Greater => 0b0010,
        }
    };
    nzcv << 28
}

/// FPCompareEQ: quiet (Invalid only for signalling NaNs).
pub(super) fn compare_eq(env: &mut Env, fmt: Fmt, a: u64, b: u64) -> bool {
    let ua = unpack(env, fmt, a, false);
    let ub = unpack(env, fmt, b, false);
    if ua.is_nan() || ub.is_nan() {
        if ua.class == Class::SNaN || ub.class == Class::SNaN {
            env.raise(IOC);
        }
        return false;
    }
    order(fmt, &ua, a, &ub, b) == Ordering::Equal
}

/// FPCompareGE, or FPCompareGT when `strict`: signalling (Invalid for any
/// NaN).
pub(super) fn compare_ge(env: &mut Env, fmt: Fmt, a: u64, b: u64, strict: bool) -> bool {
    let ua = unpack(env, fmt, a, false);
    let ub = unpack(env, fmt, b, false);
    if ua.is_nan() || ub.is_nan() {
        env.raise(IOC);
        return false;
    }
    let o = order(fmt, &ua, a, &ub, b);
    o == Ordering::Greater || (!strict && o == Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::super::soft::shift_right_sticky;
    use super::*;

    #[test]
    fn isqrt_is_exact() {
        for n in [
            0u128,
            1,
            2,
            3,
            4,
            15,
            16,
            17,
            1 << 100,
            (1 << 124) + 12345,
            u128::MAX >> 1,
        ] {
            let (r, inexact) = isqrt(n);
            assert!(r * r <= n && (r + 1) * (r + 1) > n, "{n}");
            assert_eq!(inexact, r * r != n);
        }
    }

    #[test]
    fn shift_right_sticky_edges() {
        assert_eq!(shift_right_sticky(5, 0), (5, false));
        assert_eq!(shift_right_sticky(5, 1), (2, true));
        assert_eq!(shift_right_sticky(4, 2), (1, false));
        assert_eq!(shift_right_sticky(1, 200), (0, true));
        assert_eq!(shift_right_sticky(0, 200), (0, false));
    }
}
