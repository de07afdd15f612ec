//! Arm floating-point arithmetic, bit-exact with the Arm ARM pseudocode
//! (FPUnpack, FPRound, FPProcessNaNs, FPMulAdd, FPRecipEstimate, ...): our
//! own soft-float on integer significands, so results never depend on the
//! host FPU.
//!
//! ```text
//!  eval(op, size, args, fpcr, &mut fpsr)
//!    │  Fmt::of(size), Env { fpcr, flags }
//!    ├─ soft::unpack      bits ─▶ Unpacked { class, sign, exp, mant }  (FZ: IDC)
//!    ├─ soft::nans2/3     FPProcessNaNs: SNaN before QNaN, operand order, DN
//!    ├─ arith / convert   exact result as Exact { sign, exp, mant: u128, sticky }
//!    └─ soft::round       FPRound: FZ flush (UFC), tininess before rounding,
//!                         RMode / explicit modes, overflow, AHP ─▶ bits
//! ```
//!
//! Every function here is total: any argument bits, any FPCR value, any
//! operation and size give a result without panicking (operations the
//! architecture defines only for some sizes are computed by the same
//! generic code for the others).
//!
//! ```
//! use cpu_aarch64::fp::eval;
//! use cpu_aarch64::sem::{FpOp, FpSize};
//! let mut fpsr = 0;
//! // 1.0f32 + 2^-30: inexact.
//! let r = eval(FpOp::Add, FpSize::S, &[0x3f80_0000, 0x3080_0000], 0, &mut fpsr);
//! assert_eq!((r, fpsr), (0x3f80_0000, cpu_aarch64::fp::IXC));
//! ```

mod arith;
mod convert;
mod estimate;
mod host;
mod soft;
#[cfg(test)]
mod tests;

pub use host::{exact_zero_operands, never_inexact, FPCR_NATIVE_MASK};

use crate::sem::{FpOp, FpSize, Rounding};
use soft::{Env, Fmt};

/// FPSR.IOC: invalid operation.
pub const IOC: u32 = 1 << 0;
/// FPSR.DZC: division by zero.
pub const DZC: u32 = 1 << 1;
/// FPSR.OFC: overflow.
pub const OFC: u32 = 1 << 2;
/// FPSR.UFC: underflow.
pub const UFC: u32 = 1 << 3;
/// FPSR.IXC: inexact.
pub const IXC: u32 = 1 << 4;
/// FPSR.IDC: input denormal flushed to zero.
pub const IDC: u32 = 1 << 7;

/// Evaluates `op` on bit patterns of `size` under FPCR value `fpcr`, ORing
/// cumulative exception flags (FPSR bit positions) into `fpsr`.
///
/// Arguments are read from the low bits of `args` (missing ones read as
/// zero); the result is zero-extended. See [`FpOp`] for each operation's
/// arguments and result. Pass the core's current FPSR in `fpsr`: when it
/// already holds IXC, common operations may run on the host FPU (see
/// `host.rs`), with results and flags identical to the soft-float's.
pub fn eval(op: FpOp, size: FpSize, args: &[u64], fpcr: u64, fpsr: &mut u32) -> u64 {
    if *fpsr & IXC != 0 {
        if let Some(r) = host::try_eval(op, size, args, fpcr) {
            return r;
        }
    }
    soft_eval(op, size, args, fpcr, fpsr)
}

/// [`eval`] on the soft-float only.
fn soft_eval(op: FpOp, size: FpSize, args: &[u64], fpcr: u64, fpsr: &mut u32) -> u64 {
    let fmt = Fmt::of(size);
    let mut env = Env::new(fpcr);
    let raw = |i: usize| args.get(i).copied().unwrap_or(0);
    let a = |i: usize| raw(i) & fmt.mask();
    let e = &mut env;
    let r = match op {
        FpOp::Add => arith::add(e, fmt, a(0), a(1), false),
        FpOp::Sub => arith::add(e, fmt, a(0), a(1), true),
        FpOp::Mul => arith::mul(e, fmt, a(0), a(1), false),
        FpOp::MulX => arith::mul(e, fmt, a(0), a(1), true),
        FpOp::NegMul => arith::mul(e, fmt, a(0), a(1), false) ^ fmt.sign_bit(),
        FpOp::Div => arith::div(e, fmt, a(0), a(1)),
        FpOp::Max => arith::max_min(e, fmt, a(0), a(1), true),
        FpOp::Min => arith::max_min(e, fmt, a(0), a(1), false),
        FpOp::MaxNum => arith::max_min_num(e, fmt, a(0), a(1), true),
        FpOp::MinNum => arith::max_min_num(e, fmt, a(0), a(1), false),
        FpOp::AbsDiff => arith::add(e, fmt, a(0), a(1), true) & !fmt.sign_bit(),
        FpOp::MulAdd => arith::mul_add(e, fmt, a(0), a(1), a(2)),
        FpOp::MulSub => arith::mul_add(e, fmt, a(0), a(1) ^ fmt.sign_bit(), a(2)),
        FpOp::NegMulAdd => arith::mul_add(e, fmt, a(0) ^ fmt.sign_bit(), a(1) ^ fmt.sign_bit(), a(2)),
        FpOp::NegMulSub => arith::mul_add(e, fmt, a(0) ^ fmt.sign_bit(), a(1), a(2)),
        FpOp::Sqrt => arith::sqrt(e, fmt, a(0)),
        FpOp::Abs => a(0) & !fmt.sign_bit(),
        FpOp::Neg => a(0) ^ fmt.sign_bit(),
        FpOp::RoundInt { mode, exact } => {
            let rounding = mode.unwrap_or_else(|| e.rmode());
            convert::round_int(e, fmt, a(0), rounding, exact)
        }
        FpOp::Convert { to } => convert::convert(e, fmt, Fmt::of(to), a(0), e.rmode()),
        FpOp::ConvertOdd => convert::convert(e, fmt, fmt.narrower(), a(0), Rounding::Odd),
        FpOp::ToInt {
            signed,
            bits,
            mode,
            fbits,
        } => {
            let rounding = mode.unwrap_or_else(|| e.rmode());
            convert::to_fixed(e, fmt, a(0), signed, bits, fbits, rounding)
        }
        FpOp::FromInt { signed, bits, fbits } => convert::from_fixed(e, fmt, raw(0), signed, bits, fbits),
        FpOp::Compare { signaling } => arith::compare(e, fmt, a(0), a(1), signaling),
        FpOp::CmpEq => mask_if(fmt, arith::compare_eq(e, fmt, a(0), a(1))),
        FpOp::CmpGe => mask_if(fmt, arith::compare_ge(e, fmt, a(0), a(1), false)),
        FpOp::CmpGt => mask_if(fmt, arith::compare_ge(e, fmt, a(0), a(1), true)),
        FpOp::AbsCmpGe => {
            let (x, y) = (a(0) & !fmt.sign_bit(), a(1) & !fmt.sign_bit());
            mask_if(fmt, arith::compare_ge(e, fmt, x, y, false))
        }
        FpOp::AbsCmpGt => {
            let (x, y) = (a(0) & !fmt.sign_bit(), a(1) & !fmt.sign_bit());
            mask_if(fmt, arith::compare_ge(e, fmt, x, y, true))
        }
        FpOp::RecipEstimate => estimate::recip_estimate(e, fmt, a(0)),
        FpOp::RSqrtEstimate => estimate::rsqrt_estimate(e, fmt, a(0)),
        FpOp::RecipStep => arith::step(e, fmt, a(0), a(1), false),
        FpOp::RSqrtStep => arith::step(e, fmt, a(0), a(1), true),
        FpOp::RecipExponent => estimate::recip_exponent(e, fmt, a(0)),
        FpOp::URecipEstimate => estimate::unsigned_recip_estimate(raw(0) as u32).into(),
        FpOp::URSqrtEstimate => estimate::unsigned_rsqrt_estimate(raw(0) as u32).into(),
    };
    *fpsr |= env.flags;
    r
}

/// `VFPExpandImm`: the 8-bit FMOV immediate as a `size` bit pattern
/// (sign, NOT(b6):b6...:b5:b4 exponent, b3:0 fraction top).
pub fn vfp_expand_imm(imm8: u32, size: FpSize) -> u64 {
    let (e, f) = match size {
        FpSize::H => (5, 10),
        FpSize::S => (8, 23),
        FpSize::D => (11, 52),
    };
    let imm8 = u64::from(imm8 & 0xff);
    let sign = imm8 >> 7;
    let b6 = (imm8 >> 6) & 1;
    // NOT(b6) : Replicate(b6, e - 3) : imm8<5:4>
    let replicated = if b6 == 1 { (1 << (e - 3)) - 1 } else { 0 };
    let exp = ((b6 ^ 1) << (e - 1)) | (replicated << 2) | ((imm8 >> 4) & 3);
    let frac = (imm8 & 15) << (f - 4);
    (sign << (e + f)) | (exp << f) | frac
}

/// All ones of the format if `c`, else zero (the AdvSIMD compare results).
fn mask_if(fmt: Fmt, c: bool) -> u64 {
    if c {
        fmt.mask()
    } else {
        0
    }
}
