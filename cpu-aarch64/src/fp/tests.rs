//! Tests of the soft-float core: special values per operation and mode
//! (checked by hand against the Arm ARM pseudocode), and randomised
//! comparisons with the host's IEEE arithmetic where IEEE and Arm agree
//! (round to nearest, FZ and DN off, no NaN results).

use super::*;
use crate::sem::{FpOp as O, FpSize, Rounding};

const S: FpSize = FpSize::S;
const D: FpSize = FpSize::D;
const H: FpSize = FpSize::H;

// FPCR values.
const RN: u64 = 0;
const RP: u64 = 1 << 22;
const RM: u64 = 2 << 22;
const RZ: u64 = 3 << 22;
const FZ: u64 = 1 << 24;
const DN: u64 = 1 << 25;
const AHP: u64 = 1 << 26;

// Single-precision patterns.
const ONE: u64 = 0x3f80_0000;
const TWO: u64 = 0x4000_0000;
const THREE: u64 = 0x4040_0000;
const HALF: u64 = 0x3f00_0000;
const NONE: u64 = 0xbf80_0000;
const INF: u64 = 0x7f80_0000;
const NINF: u64 = 0xff80_0000;
const PZ: u64 = 0;
const NZ: u64 = 0x8000_0000;
const MAX: u64 = 0x7f7f_ffff;
const MINN: u64 = 0x0080_0000;
const DMIN: u64 = 0x0000_0001;
const DMAX: u64 = 0x007f_ffff;
const QNAN: u64 = 0x7fc0_0000;
const Q1: u64 = 0x7fc1_2345;
const Q2: u64 = 0xffc5_4321;
const S1: u64 = 0x7f81_2345;
const S2: u64 = 0xff85_4321;

fn ev(op: O, size: FpSize, args: &[u64], fpcr: u64) -> (u64, u32) {
    let mut fpsr = 0;
    let r = eval(op, size, args, fpcr, &mut fpsr);
    (r, fpsr)
}

#[track_caller]
fn check(op: O, size: FpSize, args: &[u64], fpcr: u64, want: u64, flags: u32) {
    let got = ev(op, size, args, fpcr);
    assert_eq!(
        got,
        (want, flags),
        "{op:?} {size:?} {args:x?} fpcr={fpcr:#x}: got {:#x} flags {:#x}, want {want:#x} flags {flags:#x}",
        got.0,
        got.1
    );
}

#[test]
fn fpsr_bits_match_sysreg() {
    use crate::sysreg::fpsr;
    assert_eq!(
        [IOC, DZC, OFC, UFC, IXC, IDC],
        [fpsr::IOC, fpsr::DZC, fpsr::OFC, fpsr::UFC, fpsr::IXC, fpsr::IDC]
    );
}

#[test]
fn nan_propagation_order() {
    // Signalling before quiet, then operand order; signalling ones quieted.
    check(O::Add, S, &[Q1, S2], RN, S2 | 0x40_0000, IOC);
    check(O::Add, S, &[S1, S2], RN, S1 | 0x40_0000, IOC);
    check(O::Add, S, &[Q1, Q2], RN, Q1, 0);
    check(O::Add, S, &[Q2, Q1], RN, Q2, 0);
    check(O::Mul, S, &[ONE, Q2], RN, Q2, 0);
    check(O::Div, S, &[S1, ONE], RN, S1 | 0x40_0000, IOC);
    check(O::Sub, S, &[ONE, Q2], RN, Q2, 0); // the NaN keeps its sign
                                             // Default NaN mode.
    check(O::Add, S, &[Q1, S2], DN, QNAN, IOC);
    check(O::Add, S, &[Q1, ONE], DN, QNAN, 0);
    check(O::Sqrt, S, &[S2], RN, S2 | 0x40_0000, IOC);
    // Double precision payloads.
    let (q, s) = (0x7ff8_0000_dead_beef, 0xfff0_0000_0000_0001);
    check(O::Mul, D, &[q, s], RN, 0xfff8_0000_0000_0001, IOC);
    check(O::Mul, D, &[q, 0x3ff0_0000_0000_0000], RN, q, 0);
}

#[test]
fn fused_multiply_add_nans_and_signs() {
    // [addend, n, m]
    check(O::MulAdd, S, &[Q1, S2, ONE], RN, S2 | 0x40_0000, IOC);
    check(O::MulAdd, S, &[S1, Q2, ONE], RN, S1 | 0x40_0000, IOC);
    check(O::MulAdd, S, &[Q2, Q1, ONE], RN, Q2, 0);
    // A quiet NaN addend with 0 * inf: the default NaN and Invalid.
    check(O::MulAdd, S, &[Q1, PZ, INF], RN, QNAN, IOC);
    check(O::MulAdd, S, &[Q1, INF, NZ], RN, QNAN, IOC);
    check(O::MulAdd, S, &[S1, PZ, INF], RN, S1 | 0x40_0000, IOC);
    check(O::MulAdd, S, &[ONE, PZ, INF], RN, QNAN, IOC);
    // inf + (-inf)
    check(O::MulAdd, S, &[INF, NINF, ONE], RN, QNAN, IOC);
    check(O::MulAdd, S, &[INF, INF, ONE], RN, INF, 0);
    // The negations happen before NaN processing (FPNeg of the operand).
    check(O::MulSub, S, &[ONE, Q1, ONE], RN, Q1 | 0x8000_0000, 0);
    check(O::NegMulAdd, S, &[Q1, ONE, ONE], RN, Q1 | 0x8000_0000, 0);
    check(O::NegMulSub, S, &[ONE, ONE, Q2], RN, Q2, 0);
    // Exact zeros.
    check(O::MulAdd, S, &[PZ, NONE, PZ], RN, PZ, 0);
    check(O::MulAdd, S, &[PZ, NONE, PZ], RM, NZ, 0);
    check(O::MulAdd, S, &[NZ, NONE, PZ], RN, NZ, 0);
    check(O::MulAdd, S, &[NONE, ONE, ONE], RN, PZ, 0);
    check(O::MulAdd, S, &[NONE, ONE, ONE], RM, NZ, 0);
    // Values: 1 + 2*3, 1 - 2*3, -1 - 2*3, -1 + 2*3.
    check(O::MulAdd, S, &[ONE, TWO, THREE], RN, 0x40e0_0000, 0);
    check(O::MulSub, S, &[ONE, TWO, THREE], RN, 0xc0a0_0000, 0);
    check(O::NegMulAdd, S, &[ONE, TWO, THREE], RN, 0xc0e0_0000, 0);
    check(O::NegMulSub, S, &[ONE, TWO, THREE], RN, 0x40a0_0000, 0);
    // Single rounding: (1 + 2^-23)(1 - 2^-23) - 1 = -2^-46 exactly.
    check(O::MulAdd, S, &[NONE, 0x3f80_0001, 0x3f7f_fffe], RN, 0xa880_0000, 0);
    // (1 + 2^-23)(1 - 2^-24) - 1 = 2^-24 - 2^-47; the unfused product
    // would round to 1 and give 0.
    check(O::MulAdd, S, &[NONE, 0x3f80_0001, 0x3f7f_ffff], RN, 0x337f_fffe, 0);
}

#[test]
fn signed_zeros() {
    check(O::Add, S, &[PZ, NZ], RN, PZ, 0);
    check(O::Add, S, &[PZ, NZ], RM, NZ, 0);
    check(O::Add, S, &[NZ, NZ], RN, NZ, 0);
    check(O::Sub, S, &[PZ, PZ], RN, PZ, 0);
    check(O::Sub, S, &[PZ, PZ], RM, NZ, 0);
    check(O::Sub, S, &[NZ, PZ], RP, NZ, 0);
    check(O::Add, S, &[ONE, NONE], RN, PZ, 0);
    check(O::Add, S, &[ONE, NONE], RM, NZ, 0);
    check(O::Add, S, &[ONE, NONE], RZ, PZ, 0);
    check(O::Mul, S, &[NZ, THREE], RN, NZ, 0);
    check(O::Div, S, &[NZ, INF], RN, NZ, 0);
    check(O::Sqrt, S, &[NZ], RN, NZ, 0);
    check(O::Max, S, &[PZ, NZ], RN, PZ, 0);
    check(O::Max, S, &[NZ, PZ], RN, PZ, 0);
    check(O::Max, S, &[NZ, NZ], RN, NZ, 0);
    check(O::Min, S, &[PZ, NZ], RN, NZ, 0);
    check(O::Min, S, &[NZ, PZ], RN, NZ, 0);
    check(O::MinNum, S, &[PZ, NZ], RN, NZ, 0);
    check(O::MaxNum, S, &[NZ, PZ], RN, PZ, 0);
    check(O::Max, S, &[NONE, NZ], RN, NZ, 0);
    check(O::Min, S, &[ONE, NZ], RN, NZ, 0);
}

#[test]
fn max_min_and_nans() {
    check(O::Max, S, &[ONE, TWO], RN, TWO, 0);
    check(O::Min, S, &[ONE, TWO], RN, ONE, 0);
    check(O::Max, S, &[NINF, MAX], RN, MAX, 0);
    check(O::Min, S, &[NINF, MAX], RN, NINF, 0);
    check(O::Max, S, &[Q1, ONE], RN, Q1, 0);
    check(O::Min, S, &[ONE, S1], RN, S1 | 0x40_0000, IOC);
    check(O::MaxNum, S, &[Q1, ONE], RN, ONE, 0);
    check(O::MaxNum, S, &[ONE, Q1], RN, ONE, 0);
    check(O::MinNum, S, &[Q1, NINF], RN, NINF, 0);
    check(O::MaxNum, S, &[Q1, NINF], RN, NINF, 0);
    check(O::MinNum, S, &[INF, Q2], RN, INF, 0);
    check(O::MaxNum, S, &[Q1, Q2], RN, Q1, 0);
    check(O::MaxNum, S, &[Q1, S2], RN, S2 | 0x40_0000, IOC);
    check(O::MaxNum, S, &[S1, ONE], RN, S1 | 0x40_0000, IOC);
    check(O::MaxNum, S, &[Q1, ONE], DN, ONE, 0);
    // Flushed denormals are zeros (and raise IDC).
    check(O::Max, S, &[DMAX, NZ], FZ, PZ, IDC);
    check(O::Min, S, &[DMAX | NZ, PZ], FZ, NZ, IDC);
    check(O::Max, S, &[DMAX, DMIN], RN, DMAX, 0);
}

#[test]
fn overflow_by_rounding_mode() {
    let nmax = MAX | NZ;
    check(O::Mul, S, &[MAX, TWO], RN, INF, OFC | IXC);
    check(O::Mul, S, &[MAX, TWO], RZ, MAX, OFC | IXC);
    check(O::Mul, S, &[MAX, TWO], RM, MAX, OFC | IXC);
    check(O::Mul, S, &[MAX, TWO], RP, INF, OFC | IXC);
    check(O::Mul, S, &[nmax, TWO], RP, nmax, OFC | IXC);
    check(O::Mul, S, &[nmax, TWO], RM, NINF, OFC | IXC);
    check(O::Add, S, &[MAX, MAX], RN, INF, OFC | IXC);
    // MAX + half an ulp: a tie, rounded to even = overflow.
    check(O::Add, S, &[MAX, 0x7300_0000], RN, INF, OFC | IXC);
    // Below half an ulp: stays MAX, only inexact.
    check(O::Add, S, &[MAX, 0x72ff_ffff], RN, MAX, IXC);
    check(O::Add, S, &[MAX, 0x72ff_ffff], RP, INF, OFC | IXC);
}

#[test]
fn underflow_tininess_before_rounding() {
    // Exact denormal results do not underflow.
    check(O::Mul, S, &[MINN, HALF], RN, 0x0040_0000, 0);
    check(O::Mul, S, &[DMAX, ONE], RN, DMAX, 0);
    // Inexact denormal results do.
    check(O::Mul, S, &[0x0080_0001, HALF], RN, 0x0040_0000, UFC | IXC);
    check(O::Mul, S, &[0x0080_0003, HALF], RN, 0x0040_0002, UFC | IXC);
    check(O::Mul, S, &[0x0080_0003, HALF], RZ, 0x0040_0001, UFC | IXC);
    // (1 - 2^-24) * 2^-126 rounds up to the smallest normal, but is tiny
    // before rounding: Underflow (x86 would not say so).
    check(O::Mul, S, &[0x3f7f_ffff, MINN], RN, MINN, UFC | IXC);
    check(O::Mul, S, &[0x3f7f_ffff, MINN], RZ, DMAX, UFC | IXC);
    // Below the smallest denormal.
    check(O::Mul, S, &[DMIN, HALF], RN, PZ, UFC | IXC);
    check(O::Mul, S, &[DMIN, 0x3f00_0001], RN, DMIN, UFC | IXC);
    check(O::Mul, S, &[DMIN, HALF], RP, DMIN, UFC | IXC);
    check(O::Mul, S, &[DMIN | NZ, HALF], RN, NZ, UFC | IXC);
    // FZ: tiny results are flushed (Underflow, no Inexact), even when they
    // would round to the smallest normal.
    check(O::Mul, S, &[MINN, HALF], FZ, PZ, UFC);
    check(O::Mul, S, &[0x3f7f_ffff, MINN | NZ], FZ, NZ, UFC);
    check(O::Mul, S, &[0x3f80_0001, MINN], FZ, 0x0080_0001, 0);
    // FZ: denormal inputs are zeros and raise IDC.
    check(O::Add, S, &[DMIN, ONE], FZ, ONE, IDC);
    check(O::Add, S, &[DMIN, PZ], FZ, PZ, IDC);
    check(O::Mul, S, &[DMAX, INF], FZ, QNAN, IDC | IOC);
    check(O::Add, S, &[DMIN, S1], FZ, S1 | 0x40_0000, IDC | IOC);
    check(O::Add, S, &[DMIN, DMIN], RN, 0x0000_0002, 0);
    // Double precision.
    check(
        O::Mul,
        D,
        &[0x0010_0000_0000_0001, 0x3fe0_0000_0000_0000],
        RN,
        0x0008_0000_0000_0000,
        UFC | IXC,
    );
    check(O::Mul, D, &[0x0010_0000_0000_0000, 0x3fe0_0000_0000_0000], FZ, 0, UFC);
}

#[test]
fn division_and_sqrt() {
    check(O::Div, S, &[ONE, PZ], RN, INF, DZC);
    check(O::Div, S, &[NONE, PZ], RN, NINF, DZC);
    check(O::Div, S, &[ONE, NZ], RN, NINF, DZC);
    check(O::Div, S, &[PZ, PZ], RN, QNAN, IOC);
    check(O::Div, S, &[INF, NINF], RN, QNAN, IOC);
    check(O::Div, S, &[INF, PZ], RN, INF, 0);
    check(O::Div, S, &[ONE, THREE], RN, 0x3eaa_aaab, IXC);
    check(O::Div, S, &[ONE, THREE], RZ, 0x3eaa_aaaa, IXC);
    check(O::Div, S, &[TWO, THREE], RN, 0x3f2a_aaab, IXC);
    check(O::Div, S, &[ONE, DMIN], RN, INF, OFC | IXC);
    check(O::Div, S, &[ONE, DMIN], FZ, INF, IDC | DZC);
    check(O::Sqrt, S, &[NONE], RN, QNAN, IOC);
    check(O::Sqrt, S, &[NINF], RN, QNAN, IOC);
    check(O::Sqrt, S, &[INF], RN, INF, 0);
    check(O::Sqrt, S, &[0x4080_0000], RN, TWO, 0);
    check(O::Sqrt, S, &[TWO], RN, 0x3fb5_04f3, IXC);
    check(O::Sqrt, S, &[TWO], RP, 0x3fb5_04f4, IXC);
    check(O::Sqrt, S, &[DMIN], RN, 0x1a35_04f3, IXC);
    check(O::Sqrt, S, &[DMIN], FZ, PZ, IDC);
    check(O::Sqrt, D, &[0x4000_0000_0000_0000], RN, 0x3ff6_a09e_667f_3bcd, IXC);
}

#[test]
fn mulx_and_negmul() {
    check(O::MulX, S, &[PZ, NINF], RN, 0xc000_0000, 0);
    check(O::MulX, S, &[INF, PZ], RN, TWO, 0);
    check(O::MulX, S, &[TWO, THREE], RN, 0x40c0_0000, 0);
    check(O::MulX, S, &[Q1, PZ], RN, Q1, 0);
    // FNMUL negates after rounding, NaNs included.
    check(O::NegMul, S, &[TWO, THREE], RN, 0xc0c0_0000, 0);
    check(O::NegMul, S, &[Q1, THREE], RN, Q1 | NZ, 0);
    check(O::NegMul, S, &[INF, PZ], RN, QNAN | NZ, IOC);
    check(O::NegMul, S, &[ONE, THREE], RN, 0xc040_0000, 0);
    // FABD: the sign cleared after rounding, NaNs included.
    check(O::AbsDiff, S, &[ONE, THREE], RN, TWO, 0);
    check(O::AbsDiff, S, &[Q2, ONE], RN, Q2 & !NZ, 0);
    check(O::Abs, S, &[S2], RN, S2 & !NZ, 0);
    check(O::Neg, S, &[S1], RN, S1 | NZ, 0);
    check(O::Abs, D, &[0x8000_0000_0000_0001], FZ, 1, 0);
}

#[test]
fn round_to_integral() {
    let r = |mode| O::RoundInt {
        mode: Some(mode),
        exact: false,
    };
    let x = |v: f32| u64::from(v.to_bits());
    for (v, n, a, p, m, z) in [
        (2.5f32, 2.0f32, 3.0, 3.0, 2.0, 2.0),
        (-2.5, -2.0, -3.0, -2.0, -3.0, -2.0),
        (3.5, 4.0, 4.0, 4.0, 3.0, 3.0),
        (0.3, 0.0, 0.0, 1.0, 0.0, 0.0),
        (-0.3, -0.0, -0.0, -0.0, -1.0, -0.0),
        (-0.5, -0.0, -1.0, -0.0, -1.0, -0.0),
        (0.5, 0.0, 1.0, 1.0, 0.0, 0.0),
        (1.5e10, 1.5e10, 1.5e10, 1.5e10, 1.5e10, 1.5e10),
        (8388607.5, 8388608.0, 8388608.0, 8388608.0, 8388607.0, 8388607.0),
    ] {
        for (mode, want) in [
            (Rounding::TieEven, n),
            (Rounding::TieAway, a),
            (Rounding::PosInf, p),
            (Rounding::NegInf, m),
            (Rounding::Zero, z),
        ] {
            check(r(mode), S, &[x(v)], RN, x(want), 0);
        }
    }
    // FRINTX signals Inexact, FRINTI does not; both use FPCR.RMode.
    let frintx = O::RoundInt {
        mode: None,
        exact: true,
    };
    let frinti = O::RoundInt {
        mode: None,
        exact: false,
    };
    check(frintx, S, &[x(2.5)], RN, x(2.0), IXC);
    check(frintx, S, &[x(2.5)], RP, x(3.0), IXC);
    check(frintx, S, &[x(2.0)], RP, x(2.0), 0);
    check(frinti, S, &[x(2.5)], RM, x(2.0), 0);
    check(frinti, S, &[DMIN], RP, ONE, 0);
    check(frintx, S, &[DMIN], RP, ONE, IXC);
    check(frintx, S, &[DMIN], FZ | RP, PZ, IDC);
    check(frintx, S, &[S1], RN, S1 | 0x40_0000, IOC);
    check(frintx, S, &[NINF], RN, NINF, 0);
    check(frintx, D, &[0xc004_0000_0000_0000], RN, 0xc000_0000_0000_0000, IXC);
}

#[test]
fn conversions_between_formats() {
    let cvt = |to| O::Convert { to };
    // D -> S
    check(cvt(S), D, &[0x3fd5_5555_5555_5555], RN, 0x3eaa_aaab, IXC);
    check(cvt(S), D, &[0x3fd5_5555_5555_5555], RZ, 0x3eaa_aaaa, IXC);
    check(cvt(S), D, &[0x7e37_e43c_8800_759c], RN, INF, OFC | IXC);
    check(cvt(S), D, &[0x7ff0_0000_0000_0001], RN, QNAN, IOC);
    check(cvt(S), D, &[0xfff8_0000_2000_0000], RN, 0xffc0_0001, 0);
    check(cvt(S), D, &[0xfff8_0000_2000_0000], DN, QNAN, 0);
    check(cvt(S), D, &[0x3800_0000_0000_0000], RN, 0x0040_0000, 0);
    check(cvt(S), D, &[0x3800_0000_0000_0000], FZ, PZ, UFC);
    check(cvt(S), D, &[0x0000_0000_0000_0001], FZ, PZ, IDC);
    // S -> D
    check(cvt(D), S, &[ONE], RN, 0x3ff0_0000_0000_0000, 0);
    check(cvt(D), S, &[S1], RN, 0x7ff8_2468_a000_0000, IOC);
    check(cvt(D), S, &[DMIN], RN, 0x36a0_0000_0000_0000, 0);
    check(cvt(D), S, &[DMIN], FZ, 0, IDC);
    check(cvt(D), S, &[NINF], RN, 0xfff0_0000_0000_0000, 0);
    // To and from half precision.
    check(cvt(H), S, &[ONE], RN, 0x3c00, 0);
    check(cvt(H), S, &[0x477f_f000], RN, 0x7c00, OFC | IXC); // 65520
    check(cvt(H), S, &[0x477f_f000], RZ, 0x7bff, IXC); // truncates to the max
    check(cvt(H), S, &[0x477f_f000], AHP, 0x7c00, IXC); // 65536 in AHP
    check(cvt(H), S, &[INF], AHP, 0x7fff, IOC);
    check(cvt(H), S, &[Q2], AHP, 0x8000, IOC);
    check(cvt(H), S, &[0x4800_0000], AHP, 0x7fff, IOC); // 131072 > AHP max
    check(cvt(H), S, &[S1], RN, 0x7e09, IOC);
    check(cvt(H), S, &[0x3380_0000], RN, 0x0001, 0); // 2^-24
    check(cvt(H), S, &[0x3380_0000], FZ, 0x0001, 0); // no FZ for halves
    check(cvt(H), S, &[0x3300_0000], RN, 0x0000, UFC | IXC); // 2^-25: tie to even
    check(cvt(H), D, &[0x3ff0_0000_0000_0000], RN, 0x3c00, 0);
    check(cvt(S), H, &[0x3c00], RN, ONE, 0);
    check(cvt(S), H, &[0x7c00], RN, INF, 0);
    check(cvt(S), H, &[0x7c00], AHP, 0x4780_0000, 0); // 65536
    check(cvt(S), H, &[0x7c01], RN, 0x7fc0_2000, IOC);
    check(cvt(S), H, &[0x0001], FZ, 0x3380_0000, 0);
    check(cvt(D), H, &[0xfe00], RN, 0xfff8_0000_0000_0000, 0);
    // FCVTXN: round to odd.
    check(O::ConvertOdd, D, &[0x3ff0_0000_0000_0001], RN, 0x3f80_0001, IXC);
    check(O::ConvertOdd, D, &[0x3ff0_0000_2000_0000], RN, 0x3f80_0001, 0);
    check(O::ConvertOdd, D, &[0x3ff0_0000_1fff_ffff], RN, 0x3f80_0001, IXC);
    check(O::ConvertOdd, D, &[0x7fef_ffff_ffff_ffff], RN, MAX, OFC | IXC);
}

#[test]
fn float_to_integer() {
    let to = |signed, bits, mode, fbits| O::ToInt {
        signed,
        bits,
        mode,
        fbits,
    };
    let x = |v: f32| u64::from(v.to_bits());
    let zs32 = to(true, 32, Some(Rounding::Zero), 0);
    let zu32 = to(false, 32, Some(Rounding::Zero), 0);
    let ns64 = to(true, 64, Some(Rounding::TieEven), 0);
    check(zs32, S, &[x(2.7)], RN, 2, IXC);
    check(zs32, S, &[x(-2.7)], RN, 0xffff_fffe, IXC);
    check(ns64, S, &[x(-2.5)], RN, (-2i64) as u64, IXC);
    check(ns64, S, &[x(-3.5)], RN, (-4i64) as u64, IXC);
    check(
        to(true, 64, Some(Rounding::TieAway), 0),
        S,
        &[x(-2.5)],
        RN,
        (-3i64) as u64,
        IXC,
    );
    check(
        to(true, 64, Some(Rounding::PosInf), 0),
        S,
        &[x(-2.5)],
        RN,
        (-2i64) as u64,
        IXC,
    );
    check(to(true, 64, Some(Rounding::NegInf), 0), S, &[x(2.5)], RN, 2, IXC);
    check(to(true, 64, None, 0), S, &[x(2.5)], RP, 3, IXC);
    check(zs32, S, &[QNAN], RN, 0, IOC);
    check(zs32, S, &[S1], RN, 0, IOC);
    check(zs32, S, &[INF], RN, 0x7fff_ffff, IOC);
    check(zs32, S, &[NINF], RN, 0x8000_0000, IOC);
    check(zs32, S, &[0x4f00_0000], RN, 0x7fff_ffff, IOC); // 2^31
    check(zs32, S, &[0xcf00_0000], RN, 0x8000_0000, 0); // -2^31
    check(zu32, S, &[0x4f00_0000], RN, 0x8000_0000, 0);
    check(zu32, S, &[0x4f80_0000], RN, 0xffff_ffff, IOC); // 2^32
    check(zu32, S, &[NONE], RN, 0, IOC);
    check(zu32, S, &[x(-0.5)], RN, 0, IXC);
    check(to(false, 32, Some(Rounding::NegInf), 0), S, &[x(-0.5)], RN, 0, IOC);
    check(zu32, S, &[NZ], RN, 0, 0);
    check(zs32, S, &[DMIN], RN, 0, IXC);
    check(zs32, S, &[DMIN], FZ, 0, IDC);
    check(
        to(false, 64, Some(Rounding::Zero), 0),
        D,
        &[0x43f0_0000_0000_0000],
        RN,
        u64::MAX,
        IOC,
    );
    check(
        to(false, 64, Some(Rounding::Zero), 0),
        D,
        &[0x43ef_ffff_ffff_ffff],
        RN,
        0xffff_ffff_ffff_f800,
        0,
    );
    check(
        to(true, 64, Some(Rounding::Zero), 0),
        D,
        &[0xc3e0_0000_0000_0000],
        RN,
        1 << 63,
        0,
    );
    check(
        to(true, 64, Some(Rounding::Zero), 0),
        D,
        &[0x7fef_ffff_ffff_ffff],
        RN,
        i64::MAX as u64,
        IOC,
    );
    // Fixed point: 1.25 * 2^2 = 5; 1.3 * 2^1 = 2.6 -> 2.
    check(to(true, 32, Some(Rounding::Zero), 2), S, &[x(1.25)], RN, 5, 0);
    check(to(true, 32, Some(Rounding::Zero), 1), S, &[x(1.3)], RN, 2, IXC);
    check(
        to(true, 32, Some(Rounding::Zero), 32),
        S,
        &[x(0.5)],
        RN,
        0x8000_0000 - 1,
        IOC,
    );
    check(
        to(false, 32, Some(Rounding::Zero), 32),
        S,
        &[x(0.5)],
        RN,
        0x8000_0000,
        0,
    );
    check(
        to(true, 64, Some(Rounding::Zero), 64),
        D,
        &[0xbfe0_0000_0000_0000],
        RN,
        1 << 63,
        0,
    );
    // Vector element widths.
    check(to(true, 16, Some(Rounding::Zero), 0), H, &[0x7bff], RN, 0x7fff, IOC);
    check(to(true, 16, Some(Rounding::Zero), 0), H, &[0xc000], RN, 0xfffe, 0);
}

#[test]
fn integer_to_float() {
    let from = |signed, bits, fbits| O::FromInt { signed, bits, fbits };
    check(from(true, 32, 0), S, &[0xffff_ffff], RN, NONE, 0);
    check(from(false, 32, 0), S, &[0xffff_ffff], RN, 0x4f80_0000, IXC);
    check(from(false, 32, 0), S, &[0xffff_ffff], RZ, 0x4f7f_ffff, IXC);
    check(from(true, 64, 0), S, &[1 << 63], RN, 0xdf00_0000, 0);
    check(from(true, 32, 0), S, &[0x8000_0000], RN, 0xcf00_0000, 0);
    check(from(true, 32, 0), S, &[0], RM, PZ, 0);
    check(from(false, 64, 0), D, &[u64::MAX], RN, 0x43f0_0000_0000_0000, IXC);
    check(from(false, 64, 0), D, &[u64::MAX], RM, 0x43ef_ffff_ffff_ffff, IXC);
    check(from(true, 32, 2), S, &[5], RN, 0x3fa0_0000, 0);
    check(from(true, 32, 32), S, &[0xffff_ffff], RN, 0xaf80_0000, 0);
    check(from(true, 64, 64), D, &[1], RN, 0x3bf0_0000_0000_0000, 0);
    // Only the low `bits` bits count.
    check(from(true, 32, 0), S, &[0xdead_0000_0000_0001], RN, ONE, 0);
}

#[test]
fn comparisons() {
    let cmp = O::Compare { signaling: false };
    let cmpe = O::Compare { signaling: true };
    check(cmp, S, &[ONE, TWO], RN, 0x8000_0000, 0);
    check(cmp, S, &[TWO, ONE], RN, 0x2000_0000, 0);
    check(cmp, S, &[ONE, ONE], RN, 0x6000_0000, 0);
    check(cmp, S, &[PZ, NZ], RN, 0x6000_0000, 0);
    check(cmp, S, &[NINF, MAX | NZ], RN, 0x8000_0000, 0);
    check(cmp, S, &[Q1, ONE], RN, 0x3000_0000, 0);
    check(cmpe, S, &[Q1, ONE], RN, 0x3000_0000, IOC);
    check(cmp, S, &[ONE, S1], RN, 0x3000_0000, IOC);
    check(cmp, S, &[DMIN, PZ], FZ, 0x6000_0000, IDC);
    check(cmp, S, &[DMIN, PZ], RN, 0x2000_0000, 0);
    check(O::CmpEq, S, &[Q1, Q1], RN, 0, 0);
    check(O::CmpEq, S, &[S1, ONE], RN, 0, IOC);
    check(O::CmpEq, S, &[PZ, NZ], RN, 0xffff_ffff, 0);
    check(O::CmpGe, S, &[Q1, ONE], RN, 0, IOC);
    check(O::CmpGe, S, &[ONE, ONE], RN, 0xffff_ffff, 0);
    check(O::CmpGt, S, &[ONE, ONE], RN, 0, 0);
    check(
        O::CmpGt,
        D,
        &[0x4000_0000_0000_0000, 0x3ff0_0000_0000_0000],
        RN,
        u64::MAX,
        0,
    );
    check(O::AbsCmpGt, S, &[0xc000_0000, ONE], RN, 0xffff_ffff, 0);
    check(O::AbsCmpGe, S, &[NONE, ONE], RN, 0xffff_ffff, 0);
    check(O::AbsCmpGe, S, &[Q2, ONE], RN, 0, IOC);
}

#[test]
fn estimates() {
    check(O::RecipEstimate, S, &[ONE], RN, 0x3f7f_8000, 0);
    check(O::RecipEstimate, S, &[TWO], RN, 0x3eff_8000, 0);
    check(O::RecipEstimate, S, &[NONE], RN, 0xbf7f_8000, 0);
    check(O::RecipEstimate, S, &[THREE], RN, 0x3eaa_8000, 0);
    check(
        O::RecipEstimate,
        D,
        &[0x3ff0_0000_0000_0000],
        RN,
        0x3fef_f000_0000_0000,
        0,
    );
    check(O::RecipEstimate, S, &[PZ], RN, INF, DZC);
    check(O::RecipEstimate, S, &[NZ], RN, NINF, DZC);
    check(O::RecipEstimate, S, &[NINF], RN, NZ, 0);
    check(O::RecipEstimate, S, &[S1], RN, S1 | 0x40_0000, IOC);
    // Tiny inputs overflow (by rounding mode); denormal results under FZ
    // are flushed.
    check(O::RecipEstimate, S, &[DMIN], RN, INF, OFC | IXC);
    check(O::RecipEstimate, S, &[DMIN], RZ, MAX, OFC | IXC);
    check(O::RecipEstimate, S, &[DMIN | NZ], RP, MAX | NZ, OFC | IXC);
    check(O::RecipEstimate, S, &[DMIN], FZ, INF, IDC | DZC);
    check(O::RecipEstimate, S, &[0x7e80_0000], FZ, PZ, UFC); // 2^126
    check(O::RecipEstimate, S, &[0x7e80_0000], RN, 0x0040_0000 | 0x3f_c000, 0);
    check(O::RecipEstimate, S, &[0x7f00_0000], RN, 0x0020_0000 | 0x1f_e000, 0);
    check(O::RecipEstimate, S, &[DMAX], RN, 0x7e80_0000, 0);
    check(O::RSqrtEstimate, S, &[ONE], RN, 0x3f7f_8000, 0);
    check(O::RSqrtEstimate, S, &[0x4080_0000], RN, 0x3eff_8000, 0);
    check(O::RSqrtEstimate, S, &[TWO], RN, 0x3f34_8000, 0);
    check(O::RSqrtEstimate, S, &[PZ], RN, INF, DZC);
    check(O::RSqrtEstimate, S, &[NZ], RN, NINF, DZC);
    check(O::RSqrtEstimate, S, &[NONE], RN, QNAN, IOC);
    check(O::RSqrtEstimate, S, &[NINF], RN, QNAN, IOC);
    check(O::RSqrtEstimate, S, &[INF], RN, PZ, 0);
    check(O::RSqrtEstimate, S, &[Q2], RN, Q2, 0);
    check(O::RSqrtEstimate, S, &[DMIN], RN, 0x64b4_8000, 0); // 2^74.5
    check(O::RSqrtEstimate, D, &[1], RN, 0x617f_f000_0000_0000, 0);
    check(O::RecipExponent, S, &[ONE], RN, TWO, 0);
    check(O::RecipExponent, S, &[NZ], RN, 0xff00_0000, 0);
    check(O::RecipExponent, S, &[DMAX], RN, 0x7f00_0000, 0);
    check(O::RecipExponent, S, &[DMAX], FZ, 0x7f00_0000, IDC);
    check(O::RecipExponent, S, &[NINF], RN, NZ, 0);
    check(O::RecipExponent, S, &[S1], DN, QNAN, IOC);
    check(
        O::RecipExponent,
        D,
        &[0x3ff0_0000_0000_0000],
        RN,
        0x4000_0000_0000_0000,
        0,
    );
    check(O::URecipEstimate, S, &[0x8000_0000], RN, 0xff80_0000, 0);
    check(O::URecipEstimate, S, &[0x7fff_ffff], RN, 0xffff_ffff, 0);
    check(O::URecipEstimate, S, &[0xffff_ffff], RN, 0x8000_0000, 0);
    check(O::URSqrtEstimate, S, &[0x4000_0000], RN, 0xff80_0000, 0);
    check(O::URSqrtEstimate, S, &[0x3fff_ffff], RN, 0xffff_ffff, 0);
    check(O::URSqrtEstimate, S, &[0xffff_ffff], RN, 0x8000_0000, 0);
}

#[test]
fn estimate_tables_are_monotonic_and_in_range() {
    let mut prev = u32::MAX;
    for a in 256..512 {
        let r = estimate::recip_estimate_int(a);
        assert!((256..512).contains(&r) && r <= prev, "{a}: {r}");
        prev = r;
    }
    let mut prev = u32::MAX;
    for a in 128..512 {
        let r = estimate::rsqrt_estimate_int(a);
        assert!((256..512).contains(&r) && r <= prev, "{a}: {r}");
        prev = r;
    }
}

#[test]
fn reciprocal_steps() {
    check(O::RecipStep, S, &[ONE, ONE], RN, ONE, 0);
    check(O::RecipStep, S, &[TWO, HALF], RN, ONE, 0);
    check(O::RecipStep, S, &[INF, PZ], RN, TWO, 0);
    check(O::RecipStep, S, &[NZ, NINF], RN, TWO, 0);
    check(O::RecipStep, S, &[INF, ONE], RN, NINF, 0);
    check(O::RecipStep, S, &[Q1, ONE], RN, Q1 | NZ, 0); // the first operand is negated
    check(O::RecipStep, S, &[ONE, S1], RN, S1 | 0x40_0000, IOC);
    check(O::RecipStep, S, &[TWO, ONE], RN, PZ, 0);
    check(O::RecipStep, S, &[TWO, ONE], RM, NZ, 0);
    check(O::RSqrtStep, S, &[ONE, ONE], RN, ONE, 0);
    check(O::RSqrtStep, S, &[PZ, INF], RN, 0x3fc0_0000, 0);
    check(O::RSqrtStep, S, &[THREE, ONE], RN, PZ, 0);
    check(O::RSqrtStep, S, &[NINF, TWO], RN, INF, 0);
    check(O::RSqrtStep, S, &[MAX, MAX], RN, NINF, OFC | IXC);
    // (3 - 2 * 0.5) / 2 = 1; (3 - 3 * (1 + 2^-23)) / 2 = -3 * 2^-24 exactly.
    check(O::RSqrtStep, S, &[TWO, HALF], RN, ONE, 0);
    check(O::RSqrtStep, S, &[THREE, 0x3f80_0001], RN, 0xb440_0000, 0);
    check(
        O::RSqrtStep,
        D,
        &[0x3ff0_0000_0000_0000, 0x3ff0_0000_0000_0000],
        RN,
        0x3ff0_0000_0000_0000,
        0,
    );
}

#[test]
fn no_panics_on_odd_arguments() {
    let ops = [
        O::Add,
        O::MulAdd,
        O::Sqrt,
        O::ToInt {
            signed: true,
            bits: 0,
            mode: None,
            fbits: 200,
        },
        O::ToInt {
            signed: false,
            bits: 255,
            mode: Some(Rounding::Odd),
            fbits: 255,
        },
        O::FromInt {
            signed: true,
            bits: 0,
            fbits: 255,
        },
        O::FromInt {
            signed: true,
            bits: 200,
            fbits: 0,
        },
        O::RoundInt {
            mode: Some(Rounding::Odd),
            exact: true,
        },
        O::Convert { to: H },
        O::ConvertOdd,
        O::RecipEstimate,
        O::RSqrtEstimate,
        O::URecipEstimate,
        O::URSqrtEstimate,
    ];
    let vals = [0, 1, u64::MAX, 0x7ff0_0000_0000_0001, 0x8000_0000, 0xffff, 0x7c00];
    for op in ops {
        for size in [H, S, D] {
            for &a in &vals {
                for fpcr in [0, u64::MAX] {
                    let mut f = 0;
                    eval(op, size, &[a, a, a], fpcr, &mut f);
                    eval(op, size, &[], fpcr, &mut f);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Randomised comparison with the host (IEEE, round to nearest even).

/// xorshift64*: fixed seed, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A biased random pattern of `size`: exponents near the edges and
    /// the middle, significands with runs of zeros or ones.
    fn float(&mut self, size: FpSize) -> u64 {
        let fmt = soft::Fmt::of(size);
        let r = self.next();
        let sign = (r & 1) << (fmt.e + fmt.f);
        let emax = fmt.exp_max();
        let exp = match (r >> 1) % 8 {
            0 => 0,
            1 => 1 + (r >> 8) % 3,
            2 => emax - 1 - (r >> 8) % 3,
            3 => emax,
            4 => fmt.bias() as u64 + ((r >> 8) % 8) - 4,
            _ => (r >> 8) % (emax + 1),
        };
        let frac = match (r >> 4) % 4 {
            0 => self.next() & fmt.frac_mask(),
            1 => fmt.frac_mask() >> ((r >> 16) % u64::from(fmt.f)),
            2 => (self.next() & fmt.frac_mask()) & !(fmt.frac_mask() >> ((r >> 16) % u64::from(fmt.f))),
            _ => 1 << ((r >> 16) % u64::from(fmt.f)),
        };
        sign | exp << fmt.f | frac
    }
}

const CASES: usize = 40_000;

/// Compares our result with the host's for one operation: equal bits, or
/// both NaN.
#[track_caller]
fn same(what: &str, args: &[u64], ours: u64, host: u64, is_nan: impl Fn(u64) -> bool) {
    assert!(
        ours == host || (is_nan(ours) && is_nan(host)),
        "{what} {args:x?}: ours {ours:#x}, host {host:#x}"
    );
}

#[test]
fn random_single_vs_host() {
    let mut rng = Rng(0x5eed_f10a_7000_0001);
    let f = |b: u64| f32::from_bits(b as u32);
    let b = |v: f32| u64::from(v.to_bits());
    let nan = |x: u64| f(x).is_nan();
    for _ in 0..CASES {
        let (x, y, z) = (rng.float(S), rng.float(S), rng.float(S));
        if nan(x) || nan(y) || nan(z) {
            continue;
        }
        let (a, c, d) = (f(x), f(y), f(z));
        let e = |op| ev(op, S, &[x, y, z], RN).0;
        same("add", &[x, y], e(O::Add), b(a + c), nan);
        same("sub", &[x, y], e(O::Sub), b(a - c), nan);
        same("mul", &[x, y], e(O::Mul), b(a * c), nan);
        same("div", &[x, y], e(O::Div), b(a / c), nan);
        same("sqrt", &[x], e(O::Sqrt), b(a.sqrt()), nan);
        same("fma", &[x, y, z], e(O::MulAdd), b(c.mul_add(d, a)), nan);
        same("fms", &[x, y, z], e(O::MulSub), b((-c).mul_add(d, a)), nan);
        same(
            "cvt",
            &[x],
            ev(O::Convert { to: D }, S, &[x], RN).0,
            (a as f64).to_bits(),
            |v| f64::from_bits(v).is_nan(),
        );
        let ord = match a.partial_cmp(&c) {
            Some(std::cmp::Ordering::Less) => 0x8000_0000,
            Some(std::cmp::Ordering::Equal) => 0x6000_0000,
            Some(std::cmp::Ordering::Greater) => 0x2000_0000,
            None => 0x3000_0000,
        };
        same("cmp", &[x, y], e(O::Compare { signaling: false }), ord, nan);
        if !(a == 0.0 && c == 0.0) {
            same("max", &[x, y], e(O::Max), b(a.max(c)), nan);
            same("min", &[x, y], e(O::Min), b(a.min(c)), nan);
        }
        for (mode, host) in [
            (Rounding::TieEven, a.round_ties_even()),
            (Rounding::TieAway, a.round()),
            (Rounding::PosInf, a.ceil()),
            (Rounding::NegInf, a.floor()),
            (Rounding::Zero, a.trunc()),
        ] {
            let r = O::RoundInt {
                mode: Some(mode),
                exact: false,
            };
            same("frint", &[x], e(r), b(host), nan);
            let to = |signed, bits| O::ToInt {
                signed,
                bits,
                mode: Some(mode),
                fbits: 0,
            };
            same("cvt s32", &[x], e(to(true, 32)), u64::from(host as i32 as u32), nan);
            same("cvt u32", &[x], e(to(false, 32)), u64::from(host as u32), nan);
            same("cvt s64", &[x], e(to(true, 64)), host as i64 as u64, nan);
            same("cvt u64", &[x], e(to(false, 64)), host as u64, nan);
        }
        // Flags where the host's exact answer is easy to get: products and
        // quotients of singles are exact or checkable in double precision.
        let p = f64::from(a) * f64::from(c);
        let (r, fl) = ev(O::Mul, S, &[x, y], RN);
        if p.is_finite() && p != 0.0 {
            let rounded = f64::from(f(r));
            let mut want = 0;
            if rounded != p {
                want |= IXC;
                if p.abs() < f64::from(f32::MIN_POSITIVE) {
                    want |= UFC;
                }
                if f(r).is_infinite() {
                    want |= OFC;
                }
            }
            assert_eq!(fl, want, "mul flags {x:#x} {y:#x}");
        }
        let (r, fl) = ev(O::Div, S, &[x, y], RN);
        if f(r).is_finite() && f(r) != 0.0 && c != 0.0 {
            let exact = f64::from(f(r)) * f64::from(c) == f64::from(a);
            assert_eq!(fl & IXC != 0, !exact, "div inexact {x:#x} {y:#x}");
        }
    }
}

#[test]
fn random_double_vs_host() {
    let mut rng = Rng(0x5eed_f10a_7000_0002);
    let f = f64::from_bits;
    let b = f64::to_bits;
    let nan = |x: u64| f(x).is_nan();
    for _ in 0..CASES {
        let (x, y, z) = (rng.float(D), rng.float(D), rng.float(D));
        if nan(x) || nan(y) || nan(z) {
            continue;
        }
        let (a, c, d) = (f(x), f(y), f(z));
        let e = |op| ev(op, D, &[x, y, z], RN).0;
        same("add", &[x, y], e(O::Add), b(a + c), nan);
        same("sub", &[x, y], e(O::Sub), b(a - c), nan);
        same("mul", &[x, y], e(O::Mul), b(a * c), nan);
        same("div", &[x, y], e(O::Div), b(a / c), nan);
        same("sqrt", &[x], e(O::Sqrt), b(a.sqrt()), nan);
        same("fma", &[x, y, z], e(O::MulAdd), b(c.mul_add(d, a)), nan);
        same("fnma", &[x, y, z], e(O::NegMulAdd), b((-c).mul_add(d, -a)), nan);
        same(
            "cvt",
            &[x],
            ev(O::Convert { to: S }, D, &[x], RN).0,
            u64::from((a as f32).to_bits()),
            |v| f32::from_bits(v as u32).is_nan(),
        );
        for (mode, host) in [
            (Rounding::TieEven, a.round_ties_even()),
            (Rounding::TieAway, a.round()),
            (Rounding::PosInf, a.ceil()),
            (Rounding::NegInf, a.floor()),
            (Rounding::Zero, a.trunc()),
        ] {
            let r = O::RoundInt {
                mode: Some(mode),
                exact: false,
            };
            same("frint", &[x], e(r), b(host), nan);
            let to = |signed, bits| O::ToInt {
                signed,
                bits,
                mode: Some(mode),
                fbits: 0,
            };
            same("cvt s64", &[x], e(to(true, 64)), host as i64 as u64, nan);
            same("cvt u64", &[x], e(to(false, 64)), host as u64, nan);
            same("cvt s32", &[x], e(to(true, 32)), u64::from(host as i32 as u32), nan);
        }
        // Integers to floating point.
        let i = rng.next() >> (rng.next() % 64);
        let from = |signed, bits| O::FromInt { signed, bits, fbits: 0 };
        same(
            "scvtf",
            &[i],
            ev(from(true, 64), D, &[i], RN).0,
            b(i as i64 as f64),
            nan,
        );
        same("ucvtf", &[i], ev(from(false, 64), D, &[i], RN).0, b(i as f64), nan);
        same(
            "scvtf s",
            &[i],
            ev(from(true, 32), S, &[i], RN).0,
            u64::from((i as u32 as i32 as f32).to_bits()),
            nan,
        );
        same(
            "ucvtf s",
            &[i],
            ev(from(false, 64), S, &[i], RN).0,
            u64::from((i as f32).to_bits()),
            nan,
        );
    }
}
