//! The host-FPU shortcut ("hardfloat", as QEMU calls its own): when an
//! operation's result is certain to be what the soft-float would give, the
//! host computes it natively.
//!
//! That holds when
//! - FPCR.RMode is round-to-nearest-even (the host's mode; Rust never
//!   changes MXCSR) and FPCR.FZ is clear (denormal operands are then plain
//!   IEEE values on both sides, and IDC cannot be raised),
//! - the result is finite and strictly above the smallest normal magnitude:
//!   no overflow, no underflow, whatever the tininess rule, and no NaN or
//!   infinity anywhere, since for every operation listed a NaN or infinite
//!   operand gives a NaN, an infinity or a zero (x / inf); an exact zero
//!   result takes the soft path too, for its sign rules, and
//! - FPSR.IXC is already set: with such a result the only exception left
//!   is Inexact, so the flags cannot change and need not be computed. Code
//!   that never clears FPSR (nearly all) stays here after its first
//!   inexact result.
//!
//! Everything else returns `None` and the caller runs the soft-float. The
//! JIT's inline lowering (`jit::backend::x64`) tests these conditions,
//! and goes further where [`never_inexact`] and [`exact_zero_operands`]
//! say it may (no IXC needed; a zero result kept); `tests` compares the
//! shortcut and those two statements with the soft-float on random and
//! boundary operands.

use crate::sem::{FpOp, FpSize};

/// FPCR.FZ and FPCR.RMode: both must be zero.
pub const FPCR_NATIVE_MASK: u64 = 1 << 24 | 3 << 22;

/// The operations that never raise Inexact (FCMP/FCMPE, FCMEQ/FCMGE/
/// FCMGT, FACGE/FACGT, FMAX/FMIN(NM), FCVT from single to double, FRINT but FRINTX):
/// with FZ clear and no NaN operand they raise nothing, so a native path
/// for them needs no FPSR.IXC.
pub fn never_inexact(op: FpOp, size: FpSize) -> bool {
    match op {
        FpOp::Compare { .. } | FpOp::CmpEq | FpOp::CmpGe | FpOp::CmpGt => true,
        FpOp::AbsCmpGe | FpOp::AbsCmpGt => true,
        FpOp::Max | FpOp::Min | FpOp::MaxNum | FpOp::MinNum => true,
        FpOp::RoundInt { exact: false, .. } => true,
        FpOp::Convert { to: FpSize::D } => size == FpSize::S,
        _ => false,
    }
}

/// When `op`'s result is ±0 (round to nearest, FZ clear): `Some(operands)`
/// if that zero is then exact, raising nothing, as long as one of those
/// operands is zero (any result, when empty). Sums, differences and square
/// roots are zero only exactly; a product of non-zero operands may have
/// underflowed to zero. `None` for the operations not stated here.
pub fn exact_zero_operands(op: FpOp) -> Option<&'static [usize]> {
    match op {
        FpOp::Add | FpOp::Sub | FpOp::AbsDiff | FpOp::Sqrt => Some(&[]),
        FpOp::Mul | FpOp::MulX | FpOp::NegMul => Some(&[0, 1]),
        _ => None,
    }
}

/// `op` on `args` natively, or `None` when the conditions above fail (the
/// caller has checked FPSR.IXC).
pub(super) fn try_eval(op: FpOp, size: FpSize, args: &[u64], fpcr: u64) -> Option<u64> {
    if fpcr & FPCR_NATIVE_MASK != 0 {
        return None;
    }
    match size {
        FpSize::S => eval32(op, args)
            .map(|r| u64::from(r.to_bits()))
            .or_else(|| exact32(op, args)),
        FpSize::D => eval64(op, args).map(f64::to_bits).or_else(|| exact64(op, args)),
        FpSize::H => None,
    }
}

/// One body for both widths: `$t` the host type, `$bits` its bit type.
macro_rules! native {
    ($name:ident, $t:ty, $bits:ty) => {
        fn $name(op: FpOp, args: &[u64]) -> Option<$t> {
            // Truncation keeps the operand's own bits, as eval's mask does.
            let arg = |i: usize| Some(<$t>::from_bits(args.get(i).copied().unwrap_or(0) as $bits));
            let r = match op {
                FpOp::Add => arg(0)? + arg(1)?,
                FpOp::Sub => arg(0)? - arg(1)?,
                FpOp::AbsDiff => (arg(0)? - arg(1)?).abs(),
                // FMULX differs from FMUL only for 0 * inf.
                FpOp::Mul | FpOp::MulX => arg(0)? * arg(1)?,
                FpOp::NegMul => -(arg(0)? * arg(1)?),
                FpOp::Div => arg(0)? / arg(1)?,
                FpOp::Sqrt => arg(0)?.sqrt(),
                // args = [addend, n, m]; mul_add rounds once, as FPMulAdd.
                FpOp::MulAdd => arg(1)?.mul_add(arg(2)?, arg(0)?),
                FpOp::MulSub => (-arg(1)?).mul_add(arg(2)?, arg(0)?),
                FpOp::NegMulAdd => (-arg(1)?).mul_add(arg(2)?, -arg(0)?),
                FpOp::NegMulSub => arg(1)?.mul_add(arg(2)?, -arg(0)?),
                _ => return None,
            };
            (r.is_finite() && r.abs() > <$t>::MIN_POSITIVE).then_some(r)
        }
    };
}

native!(eval32, f32, u32);
native!(eval64, f64, u64);

/// The exact operations (no rounding, no flags once FZ is clear and no
/// NaN is involved): FCMP/FCMPE, FMAX/FMIN(NM), and the conversions
/// SCVTF (signed, no fraction bits: rounded to nearest like the host) and
/// FCVTZS (signed, toward zero, no fraction bits, in range). Equal
/// operands of FMAX/FMIN (which includes +0 against -0) take the soft path.
macro_rules! exact {
    ($name:ident, $t:ty, $bits:ty) => {
        fn $name(op: FpOp, args: &[u64]) -> Option<u64> {
            let arg = |i: usize| <$t>::from_bits(args.get(i).copied().unwrap_or(0) as $bits);
            let raw = args.first().copied().unwrap_or(0);
            let to_bits = |x: $t| u64::from(x.to_bits());
            match op {
                FpOp::Compare { .. } => {
                    let (a, b) = (arg(0), arg(1));
                    let nzcv: u64 = match a.partial_cmp(&b)? {
                        std::cmp::Ordering::Equal => 0b0110,
                        std::cmp::Ordering::Less => 0b1000,
                        std::cmp::Ordering::Greater => 0b0010,
                    };
                    Some(nzcv << 28)
                }
                FpOp::Max | FpOp::Min | FpOp::MaxNum | FpOp::MinNum => {
                    let (a, b) = (arg(0), arg(1));
                    let max = matches!(op, FpOp::Max | FpOp::MaxNum);
                    match a.partial_cmp(&b)? {
                        std::cmp::Ordering::Equal => None,
                        std::cmp::Ordering::Greater => Some(to_bits(if max { a } else { b })),
                        std::cmp::Ordering::Less => Some(to_bits(if max { b } else { a })),
                    }
                }
                FpOp::FromInt {
                    signed: true,
                    bits,
                    fbits: 0,
                } => match bits {
                    32 => Some(to_bits(raw as u32 as i32 as $t)),
                    64 => Some(to_bits(raw as i64 as $t)),
                    _ => None,
                },
                FpOp::ToInt {
                    signed: true,
                    bits,
                    mode: Some(crate::sem::Rounding::Zero),
                    fbits: 0,
                } => {
                    let t = arg(0).trunc();
                    let limit = match bits {
                        32 => 2_147_483_648.0,
                        64 => 9_223_372_036_854_775_808.0,
                        _ => return None,
                    };
                    // NaN fails both comparisons.
                    if t > -limit && t < limit {
                        let v = t as i64 as u64;
                        Some(if bits == 32 { v & 0xffff_ffff } else { v })
                    } else {
                        None
                    }
                }
                _ => None,
            }
        }
    };
}

exact!(exact32, f32, u32);
exact!(exact64, f64, u64);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fp::{soft_eval, IXC};
    use crate::sem::Rounding;

    /// Operand bit patterns: random ones plus the boundaries of the
    /// conditions (smallest/largest normals, zeros, denormals, inf, NaN).
    fn operand(rng: &mut u64, size: FpSize) -> u64 {
        // xorshift64*
        *rng ^= *rng >> 12;
        *rng ^= *rng << 25;
        *rng ^= *rng >> 27;
        let r = rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let (bits, exp_bits) = match size {
            FpSize::S => (32, 8),
            _ => (64, 11),
        };
        let frac_bits = bits - 1 - exp_bits;
        let max_exp = (1u64 << exp_bits) - 1;
        let sign = (r >> 63) << (bits - 1);
        let frac = r & ((1u64 << frac_bits) - 1);
        let exp = match r >> 60 & 7 {
            // Near the bottom, near the top, near one, or special.
            0 => 1 + (r >> 50 & 3),
            1 => max_exp - 1 - (r >> 50 & 3),
            2 => (max_exp >> 1) + (r >> 50 & 7) - 3,
            3 => [0, max_exp][(r >> 50 & 1) as usize],
            _ => (r >> 40) % (max_exp + 1),
        };
        sign | exp << frac_bits | frac
    }

    /// Whether the shortcut took `op` on `args`; if it did, its result
    /// equals the soft-float's, which raised nothing but (absorbed) IXC.
    fn agrees_with_soft(op: FpOp, size: FpSize, args: &[u64]) -> bool {
        let Some(fast) = try_eval(op, size, args, 0) else {
            return false;
        };
        let mut flags = 0;
        let soft = soft_eval(op, size, args, 0, &mut flags);
        assert_eq!(fast, soft, "{op:?} {size:?} {args:x?}");
        assert_eq!(flags & !IXC, 0, "{op:?} {size:?} {args:x?}: soft raised {flags:#x}");
        true
    }

    const OPS: [FpOp; 12] = [
        FpOp::Add,
        FpOp::Sub,
        FpOp::AbsDiff,
        FpOp::Mul,
        FpOp::MulX,
        FpOp::NegMul,
        FpOp::Div,
        FpOp::Sqrt,
        FpOp::MulAdd,
        FpOp::MulSub,
        FpOp::NegMulAdd,
        FpOp::NegMulSub,
    ];

    /// The exact operations of the shortcut, with the integer operand
    /// patterns the conversions need.
    const EXACT_OPS: [FpOp; 10] = [
        FpOp::Compare { signaling: false },
        FpOp::Compare { signaling: true },
        FpOp::Max,
        FpOp::Min,
        FpOp::MaxNum,
        FpOp::MinNum,
        FpOp::FromInt {
            signed: true,
            bits: 32,
            fbits: 0,
        },
        FpOp::FromInt {
            signed: true,
            bits: 64,
            fbits: 0,
        },
        FpOp::ToInt {
            signed: true,
            bits: 32,
            mode: Some(crate::sem::Rounding::Zero),
            fbits: 0,
        },
        FpOp::ToInt {
            signed: true,
            bits: 64,
            mode: Some(crate::sem::Rounding::Zero),
            fbits: 0,
        },
    ];

    #[test]
    fn exact_operations_equal_the_soft_float_and_raise_nothing_new() {
        let mut rng = 0x1234_5678_9abc_def1u64;
        let (mut taken, mut total) = (0, 0);
        for size in [FpSize::S, FpSize::D] {
            for op in EXACT_OPS {
                for k in 0..20_000 {
                    let mut args = [operand(&mut rng, size), operand(&mut rng, size)];
                    if matches!(op, FpOp::FromInt { .. }) {
                        // Integers: small, large and at the edges.
                        args[0] = match k % 4 {
                            0 => args[0] >> (args[1] % 64),
                            1 => [0, 1, u64::MAX, 1 << 63, (1 << 63) - 1, 0x8000_0000, 0x7fff_ffff][k % 7],
                            _ => args[0],
                        };
                    }
                    if k % 5 == 0 {
                        // Equal operands and zeros of both signs.
                        args[1] = [args[0], 0, 1 << 63, 1 << 31][k % 4];
                    }
                    total += 1;
                    taken += u32::from(agrees_with_soft(op, size, &args));
                }
            }
        }
        assert!(taken * 2 > total, "only {taken} of {total} cases took the native path");
    }

    #[test]
    fn native_results_equal_the_soft_float_and_raise_nothing_new() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let (mut taken, mut total) = (0, 0);
        for size in [FpSize::S, FpSize::D] {
            for op in OPS {
                for _ in 0..20_000 {
                    let args = [
                        operand(&mut rng, size),
                        operand(&mut rng, size),
                        operand(&mut rng, size),
                    ];
                    total += 1;
                    taken += u32::from(agrees_with_soft(op, size, &args));
                }
            }
        }
        // The shortcut must actually be exercised by this test.
        assert!(taken * 4 > total, "only {taken} of {total} cases took the native path");
    }

    /// `never_inexact`: the soft-float raises no IXC for those operations
    /// (NaN operands aside: the JIT sends them to the soft-float).
    #[test]
    fn operations_stated_never_inexact_raise_no_inexact() {
        let ops = [
            FpOp::Compare { signaling: false },
            FpOp::Compare { signaling: true },
            FpOp::CmpEq,
            FpOp::CmpGe,
            FpOp::CmpGt,
            FpOp::AbsCmpGe,
            FpOp::AbsCmpGt,
            FpOp::Max,
            FpOp::Min,
            FpOp::MaxNum,
            FpOp::MinNum,
            FpOp::Convert { to: FpSize::D },
            FpOp::RoundInt {
                mode: None,
                exact: false,
            },
            FpOp::RoundInt {
                mode: Some(Rounding::TieEven),
                exact: false,
            },
            FpOp::RoundInt {
                mode: Some(Rounding::TieAway),
                exact: false,
            },
            FpOp::RoundInt {
                mode: Some(Rounding::PosInf),
                exact: false,
            },
            FpOp::RoundInt {
                mode: Some(Rounding::NegInf),
                exact: false,
            },
            FpOp::RoundInt {
                mode: Some(Rounding::Zero),
                exact: false,
            },
            // Stated inexact: must not count.
            FpOp::RoundInt {
                mode: None,
                exact: true,
            },
        ];
        let mut rng = 0x0bad_cafe_f00d_1234u64;
        let mut stated = 0;
        for size in [FpSize::S, FpSize::D] {
            for op in ops {
                if !never_inexact(op, size) {
                    continue;
                }
                stated += 1;
                for k in 0..20_000 {
                    let mut args = [operand(&mut rng, size), operand(&mut rng, size)];
                    if k % 5 == 0 {
                        args[1] = [args[0], 0, 1 << 63, 1 << 31][k % 4];
                    }
                    let mut flags = 0;
                    soft_eval(op, size, &args, 0, &mut flags);
                    assert_eq!(flags & IXC, 0, "{op:?} {size:?} {args:x?}: soft raised {flags:#x}");
                }
            }
        }
        // Every operation of the list for single, all but the conversion
        // (already double) for double, FRINTX for neither.
        assert_eq!(stated, 35);
    }

    /// `exact_zero_operands`: where it says a zero result is exact, the
    /// soft-float gives the host's ±0 and raises nothing.
    #[test]
    fn zero_results_stated_exact_are_the_host_ones_and_raise_nothing() {
        let ops = [
            FpOp::Add,
            FpOp::Sub,
            FpOp::AbsDiff,
            FpOp::Sqrt,
            FpOp::Mul,
            FpOp::MulX,
            FpOp::NegMul,
        ];
        let mut rng = 0x5eed_0000_2e20_0001u64;
        let mut zeros = 0;
        for size in [FpSize::S, FpSize::D] {
            let sign = if size == FpSize::S { 1u64 << 31 } else { 1 << 63 };
            for op in ops {
                let need = exact_zero_operands(op).expect("stated for every operation here");
                for k in 0..40_000 {
                    let mut args = [operand(&mut rng, size), operand(&mut rng, size)];
                    match k % 4 {
                        // x - x, x + -x, and zeros of both signs.
                        0 => args[1] = args[0],
                        1 => args[1] = args[0] ^ sign,
                        2 => args[k % 2] = [0, sign][k / 4 % 2],
                        _ => {}
                    }
                    let mut flags = 0;
                    let soft = soft_eval(op, size, &args, 0, &mut flags);
                    let zero_operand = need.is_empty() || need.iter().any(|&i| args[i] & !sign == 0);
                    if soft & !sign != 0 || !zero_operand {
                        continue;
                    }
                    zeros += 1;
                    let host = match size {
                        FpSize::S => eval32_any(op, &args).map(|r| u64::from(r.to_bits())),
                        _ => eval64_any(op, &args).map(f64::to_bits),
                    };
                    assert_eq!(host, Some(soft), "{op:?} {size:?} {args:x?}");
                    assert_eq!(flags, 0, "{op:?} {size:?} {args:x?}: soft raised {flags:#x}");
                }
            }
        }
        assert!(zeros > 1000, "only {zeros} zero results");
    }

    /// The host's result of the `exact_zero_operands` operations, whatever
    /// it is (no range check).
    macro_rules! host_any {
        ($name:ident, $t:ty, $bits:ty) => {
            fn $name(op: FpOp, args: &[u64]) -> Option<$t> {
                let arg = |i: usize| <$t>::from_bits(args[i] as $bits);
                Some(match op {
                    FpOp::Add => arg(0) + arg(1),
                    FpOp::Sub => arg(0) - arg(1),
                    FpOp::AbsDiff => (arg(0) - arg(1)).abs(),
                    FpOp::Sqrt => arg(0).sqrt(),
                    FpOp::Mul | FpOp::MulX => arg(0) * arg(1),
                    FpOp::NegMul => -(arg(0) * arg(1)),
                    _ => return None,
                })
            }
        };
    }
    host_any!(eval32_any, f32, u32);
    host_any!(eval64_any, f64, u64);

    #[test]
    fn declines_what_the_soft_float_must_decide() {
        let one = 1.0f64.to_bits();
        let tiny = f64::MIN_POSITIVE.to_bits();
        let denormal = 1u64;
        let inf = f64::INFINITY.to_bits();
        let nan = f64::NAN.to_bits();
        // Directed rounding.
        assert_eq!(try_eval(FpOp::Add, FpSize::D, &[one, one], 1 << 22), None);
        // Flush-to-zero.
        assert_eq!(try_eval(FpOp::Add, FpSize::D, &[one, one], 1 << 24), None);
        // Special operands: never a finite non-zero result.
        for x in [inf, nan] {
            for op in OPS {
                let arity = match op {
                    FpOp::Sqrt => 1,
                    FpOp::MulAdd | FpOp::MulSub | FpOp::NegMulAdd | FpOp::NegMulSub => 3,
                    _ => 2,
                };
                for at in 0..arity {
                    let mut args = [one; 3];
                    args[at] = x;
                    assert_eq!(try_eval(op, FpSize::D, &args, 0), None, "{op:?} {args:x?}");
                }
            }
        }
        assert_eq!(try_eval(FpOp::Div, FpSize::D, &[one, inf], 0), None);
        // A denormal operand is an ordinary IEEE value when FZ is clear.
        assert_eq!(try_eval(FpOp::Add, FpSize::D, &[one, denormal], 0), Some(one));
        // Tiny, zero, overflowing and invalid results.
        assert_eq!(try_eval(FpOp::Mul, FpSize::D, &[tiny, one], 0), None);
        assert_eq!(try_eval(FpOp::Sub, FpSize::D, &[one, one], 0), None);
        assert_eq!(
            try_eval(FpOp::Mul, FpSize::D, &[f64::MAX.to_bits(), 2.0f64.to_bits()], 0),
            None
        );
        assert_eq!(try_eval(FpOp::Sqrt, FpSize::D, &[(-1.0f64).to_bits()], 0), None);
        assert_eq!(try_eval(FpOp::Div, FpSize::D, &[one, 0], 0), None);
        // Half precision and operations outside the list.
        assert_eq!(try_eval(FpOp::Add, FpSize::H, &[0x3c00, 0x3c00], 0), None);
        assert_eq!(try_eval(FpOp::Max, FpSize::D, &[one, one], 0), None);
        // The common case is taken.
        assert_eq!(try_eval(FpOp::Add, FpSize::D, &[one, one], 0), Some(2.0f64.to_bits()));
        assert_eq!(
            try_eval(FpOp::MulAdd, FpSize::S, &[0x3f80_0000, 0x4000_0000, 0x4040_0000], 0),
            Some(7.0f32.to_bits().into())
        );
    }
}
