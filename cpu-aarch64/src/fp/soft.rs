//! The building blocks of the Arm ARM's floating-point pseudocode: formats,
//! FPUnpack, NaN processing, FPRound.

use super::{IDC, IOC, IXC, OFC, UFC};
use crate::sem::{FpSize, Rounding};

/// FPCR bits used here.
const FPCR_AHP: u64 = 1 << 26;
const FPCR_DN: u64 = 1 << 25;
const FPCR_FZ: u64 = 1 << 24;
const FPCR_FZ16: u64 = 1 << 19;
const FPCR_RMODE_SHIFT: u32 = 22;

/// The floating-point control value of one operation and the exceptions it
/// raised.
pub(super) struct Env {
    fpcr: u64,
    /// Cumulative exception bits, FPSR positions.
    pub(super) flags: u32,
}

impl Env {
    pub(super) fn new(fpcr: u64) -> Self {
        Env { fpcr, flags: 0 }
    }

    /// FPProcessException with all traps disabled.
    pub(super) fn raise(&mut self, flag: u32) {
        self.flags |= flag;
    }

    /// FPRoundingMode(FPCR).
    pub(super) fn rmode(&self) -> Rounding {
        match (self.fpcr >> FPCR_RMODE_SHIFT) & 3 {
            0 => Rounding::TieEven,
            1 => Rounding::PosInf,
            2 => Rounding::NegInf,
            _ => Rounding::Zero,
        }
    }

    pub(super) fn dn(&self) -> bool {
        self.fpcr & FPCR_DN != 0
    }

    /// Flush-to-zero for `fmt`: FZ for single and double, FZ16 for half
    /// (but never in conversions, `cv`: FPUnpackCV / FPRoundCV).
    pub(super) fn flush(&self, fmt: Fmt, cv: bool) -> bool {
        if fmt.is_half() {
            !cv && self.fpcr & FPCR_FZ16 != 0
        } else {
            self.fpcr & FPCR_FZ != 0
        }
    }

    /// Arm's alternative half-precision format, which applies to
    /// conversions only.
    pub(super) fn ahp(&self, fmt: Fmt, cv: bool) -> bool {
        cv && fmt.is_half() && self.fpcr & FPCR_AHP != 0
    }
}

/// A binary floating-point format: `e` exponent bits, `f` fraction bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Fmt {
    pub(super) e: u32,
    pub(super) f: u32,
}

impl Fmt {
    pub(super) const H: Fmt = Fmt { e: 5, f: 10 };
    pub(super) const S: Fmt = Fmt { e: 8, f: 23 };
    pub(super) const D: Fmt = Fmt { e: 11, f: 52 };

    pub(super) fn of(size: FpSize) -> Fmt {
        match size {
            FpSize::H => Fmt::H,
            FpSize::S => Fmt::S,
            FpSize::D => Fmt::D,
        }
    }

    /// The next narrower format (FCVTXN's destination).
    pub(super) fn narrower(self) -> Fmt {
        if self == Fmt::D {
            Fmt::S
        } else {
            Fmt::H
        }
    }

    pub(super) fn is_half(self) -> bool {
        self.e == 5
    }

    /// Total bits N.
    pub(super) fn bits(self) -> u32 {
        1 + self.e + self.f
    }

    pub(super) fn mask(self) -> u64 {
        u64::MAX >> (64 - self.bits())
    }

    pub(super) fn sign_bit(self) -> u64 {
        1 << (self.e + self.f)
    }

    pub(super) fn frac_mask(self) -> u64 {
        (1 << self.f) - 1
    }

    /// All-ones biased exponent.
    pub(super) fn exp_max(self) -> u64 {
        (1 << self.e) - 1
    }

    pub(super) fn bias(self) -> i32 {
        (1 << (self.e - 1)) - 1
    }

    /// The exponent of the smallest normal number.
    pub(super) fn min_exp(self) -> i32 {
        1 - self.bias()
    }

    pub(super) fn quiet_bit(self) -> u64 {
        1 << (self.f - 1)
    }

    fn sign(self, s: bool) -> u64 {
        if s {
            self.sign_bit()
        } else {
            0
        }
    }

    pub(super) fn biased_exp(self, x: u64) -> u64 {
        (x >> self.f) & self.exp_max()
    }

    pub(super) fn zero(self, s: bool) -> u64 {
        self.sign(s)
    }

    pub(super) fn inf(self, s: bool) -> u64 {
        self.sign(s) | self.exp_max() << self.f
    }

    pub(super) fn max_normal(self, s: bool) -> u64 {
        self.sign(s) | (self.exp_max() - 1) << self.f | self.frac_mask()
    }

    pub(super) fn default_nan(self) -> u64 {
        self.exp_max() << self.f | self.quiet_bit()
    }

    /// `±2^exp * (1 + frac / 2^f)` for a biased exponent that fits.
    pub(super) fn pack(self, s: bool, biased_exp: u64, frac: u64) -> u64 {
        self.sign(s) | (biased_exp & self.exp_max()) << self.f | (frac & self.frac_mask())
    }
}

/// FPType.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
    Zero,
    /// A normal or (not flushed) denormal number.
    Finite,
    Inf,
    QNaN,
    SNaN,
}

/// An unpacked operand: `value = ±mant * 2^exp` when [`Class::Finite`].
#[derive(Clone, Copy, Debug)]
pub(super) struct Unpacked {
    pub(super) class: Class,
    pub(super) sign: bool,
    pub(super) exp: i32,
    pub(super) mant: u64,
}

impl Unpacked {
    pub(super) fn is_nan(&self) -> bool {
        matches!(self.class, Class::QNaN | Class::SNaN)
    }

    /// The exact value, zero for anything but a finite number.
    pub(super) fn exact(&self) -> Exact {
        Exact {
            sign: self.sign,
            exp: self.exp,
            mant: if self.class == Class::Finite {
                u128::from(self.mant)
            } else {
                0
            },
            sticky: false,
        }
    }

    /// The exponent `x` of `2^x <= |value| < 2^(x+1)` (finite numbers only).
    pub(super) fn log2(&self) -> i32 {
        self.exp + 63 - self.mant.leading_zeros() as i32
    }
}

/// FPUnpack (`cv` = false) or FPUnpackCV (`cv` = true): classify `x`,
/// flushing a denormal to zero under FZ (raising IDC).
pub(super) fn unpack(env: &mut Env, fmt: Fmt, x: u64, cv: bool) -> Unpacked {
    let sign = x & fmt.sign_bit() != 0;
    let bexp = fmt.biased_exp(x);
    let frac = x & fmt.frac_mask();
    let finite = |exp: i32, mant: u64| Unpacked {
        class: Class::Finite,
        sign,
        exp,
        mant,
    };
    let special = |class| Unpacked {
        class,
        sign,
        exp: 0,
        mant: 0,
    };
    if bexp == 0 {
        if frac == 0 {
            special(Class::Zero)
        } else if env.flush(fmt, cv) {
            // Flushing a half-precision input (FZ16) does not signal IDC.
            if !fmt.is_half() {
                env.raise(IDC);
            }
            special(Class::Zero)
        } else {
            finite(fmt.min_exp() - fmt.f as i32, frac)
        }
    } else if bexp == fmt.exp_max() && !env.ahp(fmt, cv) {
        if frac == 0 {
            special(Class::Inf)
        } else if frac & fmt.quiet_bit() != 0 {
            special(Class::QNaN)
        } else {
            special(Class::SNaN)
        }
    } else {
        finite(bexp as i32 - fmt.bias() - fmt.f as i32, frac | 1 << fmt.f)
    }
}

/// FPProcessNaN: quiet a signalling NaN (raising IOC), default NaN under DN.
pub(super) fn process_nan(env: &mut Env, fmt: Fmt, u: &Unpacked, x: u64) -> u64 {
    let mut r = x;
    if u.class == Class::SNaN {
        r |= fmt.quiet_bit();
        env.raise(IOC);
    }
    if env.dn() {
        fmt.default_nan()
    } else {
        r
    }
}

/// FPProcessNaNs3 (and, with fewer operands, FPProcessNaNs): the first
/// signalling NaN in operand order, else the first quiet NaN, processed;
/// `None` when no operand is a NaN.
pub(super) fn process_nans(env: &mut Env, fmt: Fmt, ops: &[(&Unpacked, u64)]) -> Option<u64> {
    let pick = ops
        .iter()
        .find(|(u, _)| u.class == Class::SNaN)
        .or_else(|| ops.iter().find(|(u, _)| u.class == Class::QNaN))?;
    Some(process_nan(env, fmt, pick.0, pick.1))
}

/// An exact real value `±(mant + s) * 2^exp` where `s` is in (0, 1) when
/// `sticky` and 0 otherwise. With `sticky`, `mant` must hold at least two
/// more bits than the result's significand so the rounding position lies
/// inside it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Exact {
    pub(super) sign: bool,
    pub(super) exp: i32,
    pub(super) mant: u128,
    pub(super) sticky: bool,
}

/// Position of the most significant set bit of a non-zero value.
pub(super) fn msb(x: u128) -> i32 {
    127 - x.leading_zeros() as i32
}

/// `x >> n` and whether any set bit was shifted out.
pub(super) fn shift_right_sticky(x: u128, n: u32) -> (u128, bool) {
    if n == 0 {
        (x, false)
    } else if n >= 128 {
        (0, x != 0)
    } else {
        (x >> n, x & ((1u128 << n) - 1) != 0)
    }
}

/// How the discarded part of a value compares with half a unit in the last
/// place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Error {
    /// Exact.
    None,
    Below,
    Half,
    Above,
}

/// Splits `mant * 2^exp` (plus a sticky fraction) at bit `lsb` (a power of
/// two exponent): the integer quotient and the [`Error`] of the rest.
pub(super) fn split(mant: u128, sticky: bool, shift: i32) -> (u128, Error) {
    if shift <= 0 {
        // Whole value above the cut: exact but for the sticky part, which
        // callers keep below half a unit.
        let q = if shift <= -128 { 0 } else { mant << (-shift) as u32 };
        return (q, if sticky { Error::Below } else { Error::None });
    }
    let classify = |rem: u128, half: u128| {
        if rem == 0 && !sticky {
            Error::None
        } else if rem < half {
            Error::Below
        } else if rem == half && !sticky {
            Error::Half
        } else {
            Error::Above
        }
    };
    match shift {
        129.. => (
            0,
            if mant == 0 && !sticky {
                Error::None
            } else {
                Error::Below
            },
        ),
        128 => (0, classify(mant, 1 << 127)),
        _ => {
            let s = shift as u32;
            (mant >> s, classify(mant & ((1 << s) - 1), 1 << (s - 1)))
        }
    }
}

/// Whether a rounding to an integer with the given discarded part rounds the
/// magnitude `q` up, for a value of sign `neg` (the case analysis shared by
/// FPRound, FPRoundInt and FPToFixed).
pub(super) fn round_up(rounding: Rounding, neg: bool, q: u128, err: Error) -> bool {
    match rounding {
        Rounding::TieEven => err == Error::Above || (err == Error::Half && q & 1 == 1),
        Rounding::TieAway => err >= Error::Half,
        Rounding::PosInf => err != Error::None && !neg,
        Rounding::NegInf => err != Error::None && neg,
        Rounding::Zero | Rounding::Odd => false,
    }
}

/// FPRound (`cv` = false) or FPRoundCV (`cv` = true) of a non-zero exact
/// value into `fmt`.
pub(super) fn round(env: &mut Env, fmt: Fmt, x: Exact, rounding: Rounding, cv: bool) -> u64 {
    if x.mant == 0 {
        // Not reachable from the operations (they handle exact zeros
        // themselves); a tiny sticky-only value rounds like one below the
        // smallest denormal.
        if !x.sticky {
            return fmt.zero(x.sign);
        }
    }
    let sign = x.sign;
    let exponent = if x.mant == 0 { i32::MIN / 2 } else { x.exp + msb(x.mant) };
    let min_exp = fmt.min_exp();
    if env.flush(fmt, cv) && exponent < min_exp {
        env.raise(UFC);
        return fmt.zero(sign);
    }
    let f = fmt.f as i32;
    let tiny = exponent < min_exp;
    let mut biased_exp = if tiny { 0 } else { i64::from(exponent - min_exp) + 1 };
    let lsb = exponent.max(min_exp) - f;
    let (q, err) = split(x.mant, x.sticky, lsb.saturating_sub(x.exp));
    if tiny && err != Error::None {
        env.raise(UFC);
    }
    let (up, overflow_to_inf) = match rounding {
        Rounding::TieEven | Rounding::TieAway => (round_up(rounding, sign, q, err), true),
        Rounding::PosInf => (round_up(rounding, sign, q, err), !sign),
        Rounding::NegInf => (round_up(rounding, sign, q, err), sign),
        Rounding::Zero | Rounding::Odd => (false, false),
    };
    // q < 2^(f+1) by construction.
    let mut int_mant = q as u64;
    if up {
        int_mant += 1;
        if int_mant == 1 << f {
            // Rounded up from a denormal to the smallest normal.
            biased_exp = 1;
        }
        if int_mant == 1 << (f + 1) {
            biased_exp += 1;
            int_mant >>= 1;
        }
    }
    if err != Error::None && rounding == Rounding::Odd {
        int_mant |= 1;
    }
    let mut inexact = err != Error::None;
    let result = if !env.ahp(fmt, cv) {
        if biased_exp >= fmt.exp_max() as i64 {
            env.raise(OFC);
            inexact = true;
            if overflow_to_inf {
                fmt.inf(sign)
            } else {
                fmt.max_normal(sign)
            }
        } else {
            fmt.pack(sign, biased_exp as u64, int_mant)
        }
    } else if biased_exp > fmt.exp_max() as i64 {
        // The alternative half-precision format has no infinity.
        env.raise(IOC);
        inexact = false;
        fmt.sign(sign) | (fmt.mask() >> 1)
    } else {
        fmt.pack(sign, biased_exp as u64, int_mant)
    };
    if inexact {
        env.raise(IXC);
    }
    result
}

/// The exact sum of two exact values without sticky parts (either may be
/// zero), or `None` when it is exactly zero. Significands must be below
/// 2^126.
pub(super) fn exact_add(a: Exact, b: Exact) -> Option<Exact> {
    if a.mant == 0 {
        return (b.mant != 0).then_some(b);
    }
    if b.mant == 0 {
        return Some(a);
    }
    // Normalise both to bit 125, leaving room for a carry.
    let norm = |x: Exact| {
        let s = 125 - msb(x.mant);
        Exact {
            exp: x.exp - s,
            mant: x.mant << s,
            ..x
        }
    };
    let (a, b) = (norm(a), norm(b));
    let (hi, lo) = if (a.exp, a.mant) >= (b.exp, b.mant) {
        (a, b)
    } else {
        (b, a)
    };
    // hi.exp - lo.exp is at most a few thousand.
    let (lm, sticky) = shift_right_sticky(lo.mant, (hi.exp - lo.exp) as u32);
    let mant = if hi.sign == lo.sign {
        hi.mant + lm
    } else {
        // hi - (lm + s) = (hi - lm - 1) + (1 - s): the sticky part stays.
        hi.mant - lm - u128::from(sticky)
    };
    if mant == 0 && !sticky {
        return None;
    }
    Some(Exact {
        sign: hi.sign,
        exp: hi.exp,
        mant,
        sticky,
    })
}
