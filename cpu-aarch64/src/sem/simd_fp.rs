//! Semantics of group `simd_fp`: AdvSIMD floating point.
//!
//! Single- and double-precision elements only: half-precision arithmetic
//! (FEAT_FP16) is not implemented, so its encodings are UNDEFINED; half
//! precision appears only as the narrow side of FCVTN/FCVTL, which are base
//! Armv8. Every element operation is one [`Emitter::fp`] call (the emitter
//! accumulates FPSR per call), unrolled over the lanes at translation time.
//!
//! Each visitor method first decodes its fields (an unallocated or
//! unimplemented combination raises Undefined Instruction before anything
//! else, as the Arm ARM's decode pseudocode does), then checks that FP/SIMD
//! is enabled, then reads every source register before writing the
//! destination, so `Vd` may be any of the sources. Vector results with
//! Q = 0 and all scalar results zero the rest of the register.

use super::*;
use crate::isa::SimdFpVisitor;

/// `sz` field: 0 single, 1 double.
fn fsize(sz: u32) -> FpSize {
    if sz == 1 {
        FpSize::D
    } else {
        FpSize::S
    }
}

/// Number of `esize`-byte lanes in a 64-bit (Q = 0) or 128-bit vector.
fn lanes(q: u32, esize: u8) -> u8 {
    if q == 1 {
        16 / esize
    } else {
        8 / esize
    }
}

/// Integer width of an element of `size`, for the conversions.
fn ibits(size: FpSize) -> u8 {
    size.bytes() * 8
}

/// What a three-same vector operation does with each lane.
#[derive(Clone, Copy)]
enum Three {
    /// `d[e] = op(n[e], m[e])`.
    Lane(FpOp),
    /// `d[e] = op(pair e of m:n)`: FADDP, FMAXP, ...
    Pairwise(FpOp),
    /// `d[e] = d[e] + n[e] * m[e]`, fused; `true` negates `n[e]` first (FMLS).
    Fma(bool),
}

/// Vector three-same FP opcodes by `U`, `a` (size<1>) and `opcode<2:0>`.
fn three_same(u: u32, a: u32, opcode: u32) -> Option<Three> {
    use Three::*;
    Some(match (u, a, opcode) {
        (0, 0, 0) => Lane(FpOp::MaxNum),
        (0, 0, 1) => Fma(false),
        (0, 0, 2) => Lane(FpOp::Add),
        (0, 0, 3) => Lane(FpOp::MulX),
        (0, 0, 4) => Lane(FpOp::CmpEq),
        (0, 0, 6) => Lane(FpOp::Max),
        (0, 0, 7) => Lane(FpOp::RecipStep),
        (0, 1, 0) => Lane(FpOp::MinNum),
        (0, 1, 1) => Fma(true),
        (0, 1, 2) => Lane(FpOp::Sub),
        (0, 1, 6) => Lane(FpOp::Min),
        (0, 1, 7) => Lane(FpOp::RSqrtStep),
        (1, 0, 0) => Pairwise(FpOp::MaxNum),
        (1, 0, 2) => Pairwise(FpOp::Add),
        (1, 0, 3) => Lane(FpOp::Mul),
        (1, 0, 4) => Lane(FpOp::CmpGe),
        (1, 0, 5) => Lane(FpOp::AbsCmpGe),
        (1, 0, 6) => Pairwise(FpOp::Max),
        (1, 0, 7) => Lane(FpOp::Div),
        (1, 1, 0) => Pairwise(FpOp::MinNum),
        (1, 1, 2) => Lane(FpOp::AbsDiff),
        (1, 1, 4) => Lane(FpOp::CmpGt),
        (1, 1, 5) => Lane(FpOp::AbsCmpGt),
        (1, 1, 6) => Pairwise(FpOp::Min),
        // 0/0/5 FMLAL, 0/1/5 FMLSL, 1/0/1 FMLAL2, 1/1/1 FMLSL2: FEAT_FHM.
        _ => return None,
    })
}

/// Scalar three-same FP opcodes (a subset of the vector ones).
fn scalar_three_same(u: u32, a: u32, opcode: u32) -> Option<FpOp> {
    Some(match (u, a, opcode) {
        (0, 0, 3) => FpOp::MulX,
        (0, 0, 4) => FpOp::CmpEq,
        (0, 0, 7) => FpOp::RecipStep,
        (0, 1, 7) => FpOp::RSqrtStep,
        (1, 0, 4) => FpOp::CmpGe,
        (1, 0, 5) => FpOp::AbsCmpGe,
        (1, 1, 2) => FpOp::AbsDiff,
        (1, 1, 4) => FpOp::CmpGt,
        (1, 1, 5) => FpOp::AbsCmpGt,
        _ => return None,
    })
}

/// Two-register misc FP opcodes `11xxx` by `U`, `a` (size<1>) and
/// `opcode<2:0>`, for elements of `size`; `scalar` selects the scalar
/// class, which has no FRINT*, FSQRT, URECPE or URSQRTE but has FRECPX.
/// The flag says the operation exists only for 32-bit elements (URECPE,
/// URSQRTE).
fn misc(u: u32, a: u32, opcode: u32, size: FpSize, scalar: bool) -> Option<(FpOp, bool)> {
    let bits = ibits(size);
    let to_int = |signed: bool, mode: Rounding| FpOp::ToInt {
        signed,
        bits,
        mode: Some(mode),
        fbits: 0,
    };
    let from_int = |signed: bool| FpOp::FromInt { signed, bits, fbits: 0 };
    let round = |mode: Option<Rounding>, exact: bool| FpOp::RoundInt { mode, exact };
    let op = match (u, a, opcode) {
        (0, 0, 0) if !scalar => round(Some(Rounding::TieEven), false),
        (0, 0, 1) if !scalar => round(Some(Rounding::NegInf), false),
        (0, 0, 2) => to_int(true, Rounding::TieEven),
        (0, 0, 3) => to_int(true, Rounding::NegInf),
        (0, 0, 4) => to_int(true, Rounding::TieAway),
        (0, 0, 5) => from_int(true),
        (0, 1, 0) if !scalar => round(Some(Rounding::PosInf), false),
        (0, 1, 1) if !scalar => round(Some(Rounding::Zero), false),
        (0, 1, 2) => to_int(true, Rounding::PosInf),
        (0, 1, 3) => to_int(true, Rounding::Zero),
        (0, 1, 4) if !scalar => return Some((FpOp::URecipEstimate, true)),
        (0, 1, 5) => FpOp::RecipEstimate,
        (0, 1, 7) if scalar => FpOp::RecipExponent,
        (1, 0, 0) if !scalar => round(Some(Rounding::TieAway), false),
        (1, 0, 1) if !scalar => round(None, true),
        (1, 0, 2) => to_int(false, Rounding::TieEven),
        (1, 0, 3) => to_int(false, Rounding::NegInf),
        (1, 0, 4) => to_int(false, Rounding::TieAway),
        (1, 0, 5) => from_int(false),
        (1, 1, 1) if !scalar => round(None, false),
        (1, 1, 2) => to_int(false, Rounding::PosInf),
        (1, 1, 3) => to_int(false, Rounding::Zero),
        (1, 1, 4) if !scalar => return Some((FpOp::URSqrtEstimate, true)),
        (1, 1, 5) => FpOp::RSqrtEstimate,
        (1, 1, 7) if !scalar => FpOp::Sqrt,
        // x/0/6, x/0/7: FRINT32*/FRINT64* (FEAT_FRINTTS).
        _ => return None,
    };
    Some((op, false))
}

/// The operations of the two-register misc opcodes `011xx` (size<1> = 1):
/// comparisons with zero, FABS, FNEG.
#[derive(Clone, Copy)]
enum ZeroOp {
    /// `op(element, 0.0)`.
    Cmp(FpOp),
    /// `op(0.0, element)`: FCMLT and FCMLE.
    CmpSwapped(FpOp),
    /// A one-operand operation (FABS, FNEG).
    Unary(FpOp),
}

fn misc_zero(u: u32, opcode: u32, scalar: bool) -> Option<ZeroOp> {
    use ZeroOp::*;
    Some(match (u, opcode) {
        (0, 0) => Cmp(FpOp::CmpGt),
        (0, 1) => Cmp(FpOp::CmpEq),
        (0, 2) => CmpSwapped(FpOp::CmpGt),
        (0, 3) if !scalar => Unary(FpOp::Abs),
        (1, 0) => Cmp(FpOp::CmpGe),
        (1, 1) => CmpSwapped(FpOp::CmpGe),
        (1, 3) if !scalar => Unary(FpOp::Neg),
        _ => return None,
    })
}

/// FMAXNM(V/P), FMINNM(V/P), FMAX(V/P), FMIN(V/P) and FADDP by `o1`
/// (size<1>) and `opcode<1:0>` of the across-lanes and scalar pairwise
/// classes (FADDP exists only in the latter).
fn reduce_op(o1: u32, opcode: u32, pairwise: bool) -> Option<FpOp> {
    Some(match (o1, opcode) {
        (0, 0) => FpOp::MaxNum,
        (1, 0) => FpOp::MinNum,
        (0, 1) if pairwise => FpOp::Add,
        (0, 3) => FpOp::Max,
        (1, 3) => FpOp::Min,
        _ => return None,
    })
}

/// SCVTF/UCVTF (`opcode` 00) and FCVTZS/FCVTZU (11) with `fbits` fraction
/// bits, for the shift-by-immediate classes.
fn fixed_point(u: u32, opcode: u32, size: FpSize, fbits: u32) -> Option<FpOp> {
    let (signed, bits, fbits) = (u == 0, ibits(size), fbits as u8);
    Some(match opcode {
        0 => FpOp::FromInt { signed, bits, fbits },
        3 => FpOp::ToInt {
            signed,
            bits,
            mode: Some(Rounding::Zero),
            fbits,
        },
        _ => return None,
    })
}

/// The element size, index and register number of a by-element operand
/// (`size` 10: single, index H:L; 11: double, index H, L must be 0; 00 is
/// half precision, FEAT_FP16).
fn by_element(size: u32, l: u32, h: u32, m: u32, rm: u32) -> Option<(FpSize, u8, u32)> {
    let rm = (m << 4) | rm;
    match (size, l) {
        (2, _) => Some((FpSize::S, ((h << 1) | l) as u8, rm)),
        (3, 0) => Some((FpSize::D, h as u8, rm)),
        _ => None,
    }
}

impl<E: Emitter> Translate<'_, E> {
    /// Writes `n` lanes of `esize` bytes computed by `f(self, lane)` to
    /// V[rd], zeroing the rest of the register.
    fn fp_write_lanes(&mut self, rd: u32, esize: u8, n: u8, mut f: impl FnMut(&mut Self, u8) -> E::V) {
        let mut acc = self.e.q_imm(0);
        for i in 0..n {
            let v = f(self, i);
            acc = self.e.q_with_lane(acc, esize, i, v);
        }
        self.e.set_q(rd, acc);
    }

    /// Writes a scalar result: lane 0 of V[rd], the rest zero.
    fn fp_write_scalar(&mut self, rd: u32, size: FpSize, v: E::V) {
        let zero = self.e.q_imm(0);
        let q = self.e.q_with_lane(zero, size.bytes(), 0, v);
        self.e.set_q(rd, q);
    }

    /// Lane 0 of V[r] as an element of `size`.
    fn fp_scalar(&mut self, r: u32, size: FpSize) -> E::V {
        let q = self.e.get_q(r);
        self.e.q_lane(q, size.bytes(), 0)
    }

    /// FMLA/FMLS lane: `d + n * m` (fused), with `n` negated first for
    /// FMLS (FPNeg: sign flip only, so a NaN `n` propagates negated).
    fn fp_fma(&mut self, size: FpSize, sub: bool, d: E::V, n: E::V, m: E::V) -> E::V {
        let n = if sub { self.e.fp(FpOp::Neg, size, &[n]) } else { n };
        self.e.fp(FpOp::MulAdd, size, &[d, n, m])
    }

    /// FMLA/FMLS on the low `n` lanes: `d + n * m` per lane, fused, with
    /// `vn` negated first for FMLS (as [`Self::fp_fma`]).
    fn fp_fma_lanes(&mut self, size: FpSize, n: u8, sub: bool, vd: E::Q, vn: E::Q, vm: E::Q) -> E::Q {
        let vn = if sub {
            self.e.fp_lanes(FpOp::Neg, size, n, &[vn])
        } else {
            vn
        };
        self.e.fp_lanes(FpOp::MulAdd, size, n, &[vd, vn, vm])
    }

    /// Lane `idx` of `vm` in each of the low `n` lanes (the by-element
    /// operand).
    fn fp_broadcast(&mut self, vm: E::Q, esize: u8, idx: u8, n: u8) -> E::Q {
        let y = self.e.q_lane(vm, esize, idx);
        let mut acc = self.e.q_imm(0);
        for i in 0..n {
            acc = self.e.q_with_lane(acc, esize, i, y);
        }
        acc
    }

    /// Applies `op` to every lane of V[rn] (`size` elements, Q selecting
    /// 64 or 128 bits), writing V[rd].
    fn fp_unary_lanes(&mut self, q: u32, size: FpSize, op: FpOp, rn: u32, rd: u32) {
        let vn = self.e.get_q(rn);
        let r = self.e.fp_lanes(op, size, lanes(q, size.bytes()), &[vn]);
        self.e.set_q(rd, r);
    }

    /// `op` against +0.0 (FCMxx #0.0) or a one-operand op, on one element.
    fn fp_zero_op(&mut self, op: ZeroOp, size: FpSize, x: E::V) -> E::V {
        match op {
            ZeroOp::Cmp(op) => {
                let z = self.e.imm(0);
                self.e.fp(op, size, &[x, z])
            }
            ZeroOp::CmpSwapped(op) => {
                let z = self.e.imm(0);
                self.e.fp(op, size, &[z, x])
            }
            ZeroOp::Unary(op) => self.e.fp(op, size, &[x]),
        }
    }

    /// The Arm ARM's `Reduce`: halves the lanes recursively and combines
    /// `op(reduce(low half), reduce(high half))`.
    fn fp_reduce(&mut self, op: FpOp, size: FpSize, v: E::Q, first: u8, n: u8) -> E::V {
        if n == 1 {
            return self.e.q_lane(v, size.bytes(), first);
        }
        let half = n / 2;
        let lo = self.fp_reduce(op, size, v, first, half);
        let hi = self.fp_reduce(op, size, v, first + half, half);
        self.e.fp(op, size, &[lo, hi])
    }
}

impl<E: Emitter> SimdFpVisitor for Translate<'_, E> {
    fn simd_fp_3same(&mut self, q: u32, u: u32, a: u32, sz: u32, rm: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let Some(kind) = three_same(u, a, opcode) else {
            return self.undef();
        };
        if sz == 1 && q == 0 {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let size = fsize(sz);
        let esize = size.bytes();
        let n = lanes(q, esize);
        let (vn, vm, vd) = (self.e.get_q(rn), self.e.get_q(rm), self.e.get_q(rd));
        match kind {
            Three::Lane(op) => {
                let r = self.e.fp_lanes(op, size, n, &[vn, vm]);
                self.e.set_q(rd, r);
                return Ok(());
            }
            Three::Fma(sub) => {
                let r = self.fp_fma_lanes(size, n, sub, vd, vn, vm);
                self.e.set_q(rd, r);
                return Ok(());
            }
            Three::Pairwise(_) => {}
        }
        self.fp_write_lanes(rd, esize, n, |t, i| match kind {
            Three::Pairwise(op) => {
                // Elements 2i and 2i+1 of the concatenation m:n.
                let src = if 2 * i < n { vn } else { vm };
                let j = (2 * i) % n;
                let x = t.e.q_lane(src, esize, j);
                let y = t.e.q_lane(src, esize, j + 1);
                t.e.fp(op, size, &[x, y])
            }
            Three::Lane(_) | Three::Fma(_) => unreachable!("handled above"),
        });
        Ok(())
    }

    fn simd_fp_misc(&mut self, q: u32, u: u32, a: u32, sz: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let size = fsize(sz);
        let Some((op, single_only)) = misc(u, a, opcode, size, false) else {
            return self.undef();
        };
        if sz == 1 && (q == 0 || single_only) {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        self.fp_unary_lanes(q, size, op, rn, rd);
        Ok(())
    }

    fn simd_fp_misc_zero(&mut self, q: u32, u: u32, sz: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let Some(op) = misc_zero(u, opcode, false) else {
            return self.undef();
        };
        if sz == 1 && q == 0 {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let size = fsize(sz);
        let esize = size.bytes();
        let vn = self.e.get_q(rn);
        self.fp_write_lanes(rd, esize, lanes(q, esize), |t, i| {
            let x = t.e.q_lane(vn, esize, i);
            t.fp_zero_op(op, size, x)
        });
        Ok(())
    }

    fn simd_fp_misc_cvt(&mut self, q: u32, u: u32, sz: u32, o: u32, rn: u32, rd: u32) -> Self::Out {
        // (narrow, wide) element formats; the narrow side is `Vpart[.., Q]`.
        let (narrow, wide) = if sz == 1 {
            (FpSize::S, FpSize::D)
        } else {
            (FpSize::H, FpSize::S)
        };
        let (widen, op) = match (u, o, sz) {
            (0, 0, _) => (false, FpOp::Convert { to: narrow }),
            (0, 1, _) => (true, FpOp::Convert { to: wide }),
            (1, 0, 1) => (false, FpOp::ConvertOdd),
            _ => return self.undef(),
        };
        self.e.check_fp_enabled()?;
        let (ne, we) = (narrow.bytes(), wide.bytes());
        // As many elements as fit a 64-bit half on the narrow side (and all
        // 128 bits on the wide side); the narrow half is number Q.
        let count = 8 / ne;
        let base = q as u8 * count;
        let vn = self.e.get_q(rn);
        if widen {
            // FCVTL{2}: the narrow elements of half Q of Vn, widened.
            self.fp_write_lanes(rd, we, count, |t, i| {
                let x = t.e.q_lane(vn, ne, base + i);
                t.e.fp(op, narrow, &[x])
            });
        } else {
            // FCVTN{2}/FCVTXN{2}: into half Q of Vd; FCVTN2 keeps the low
            // half, FCVTN zeroes the high one.
            let mut acc = if q == 1 { self.e.get_q(rd) } else { self.e.q_imm(0) };
            for i in 0..count {
                let x = self.e.q_lane(vn, we, i);
                let v = self.e.fp(op, wide, &[x]);
                acc = self.e.q_with_lane(acc, ne, base + i, v);
            }
            self.e.set_q(rd, acc);
        }
        Ok(())
    }

    fn simd_fp_across(&mut self, q: u32, u: u32, o1: u32, sz: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        // U = 0 is the half-precision form (FEAT_FP16); only 4S exists.
        let Some(op) = reduce_op(o1, opcode, false) else {
            return self.undef();
        };
        if u == 0 || sz == 1 || q == 0 {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let vn = self.e.get_q(rn);
        let r = self.fp_reduce(op, FpSize::S, vn, 0, 4);
        self.fp_write_scalar(rd, FpSize::S, r);
        Ok(())
    }

    fn simd_fp_elem_mla(
        &mut self,
        q: u32,
        size: u32,
        l: u32,
        m: u32,
        rm: u32,
        s: u32,
        h: u32,
        rn: u32,
        rd: u32,
    ) -> Self::Out {
        let Some((fs, idx, rm)) = by_element(size, l, h, m, rm) else {
            return self.undef();
        };
        if fs == FpSize::D && q == 0 {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let esize = fs.bytes();
        let (vn, vm, vd) = (self.e.get_q(rn), self.e.get_q(rm), self.e.get_q(rd));
        let n = lanes(q, esize);
        let ym = self.fp_broadcast(vm, esize, idx, n);
        let r = self.fp_fma_lanes(fs, n, s == 1, vd, vn, ym);
        self.e.set_q(rd, r);
        Ok(())
    }

    fn simd_fp_elem_mul(
        &mut self,
        q: u32,
        u: u32,
        size: u32,
        l: u32,
        m: u32,
        rm: u32,
        h: u32,
        rn: u32,
        rd: u32,
    ) -> Self::Out {
        let Some((fs, idx, rm)) = by_element(size, l, h, m, rm) else {
            return self.undef();
        };
        if fs == FpSize::D && q == 0 {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let op = if u == 1 { FpOp::MulX } else { FpOp::Mul };
        let esize = fs.bytes();
        let (vn, vm) = (self.e.get_q(rn), self.e.get_q(rm));
        let n = lanes(q, esize);
        let ym = self.fp_broadcast(vm, esize, idx, n);
        let r = self.e.fp_lanes(op, fs, n, &[vn, ym]);
        self.e.set_q(rd, r);
        Ok(())
    }

    fn simd_fp_shift_d(&mut self, q: u32, u: u32, imm: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        // immh:immb = 1:imm, fbits = 128 - immh:immb = 64 - imm.
        let Some(op) = fixed_point(u, opcode, FpSize::D, 64 - imm) else {
            return self.undef();
        };
        if q == 0 {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        self.fp_unary_lanes(q, FpSize::D, op, rn, rd);
        Ok(())
    }

    fn simd_fp_shift_s(&mut self, q: u32, u: u32, imm: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        // immh:immb = 01:imm, fbits = 64 - immh:immb = 32 - imm.
        let Some(op) = fixed_point(u, opcode, FpSize::S, 32 - imm) else {
            return self.undef();
        };
        self.e.check_fp_enabled()?;
        self.fp_unary_lanes(q, FpSize::S, op, rn, rd);
        Ok(())
    }

    fn simd_fp_s_3same(&mut self, u: u32, a: u32, sz: u32, rm: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let Some(op) = scalar_three_same(u, a, opcode) else {
            return self.undef();
        };
        self.e.check_fp_enabled()?;
        let size = fsize(sz);
        let x = self.fp_scalar(rn, size);
        let y = self.fp_scalar(rm, size);
        let r = self.e.fp(op, size, &[x, y]);
        self.fp_write_scalar(rd, size, r);
        Ok(())
    }

    fn simd_fp_s_misc(&mut self, u: u32, a: u32, sz: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let size = fsize(sz);
        let Some((op, _)) = misc(u, a, opcode, size, true) else {
            return self.undef();
        };
        self.e.check_fp_enabled()?;
        let x = self.fp_scalar(rn, size);
        let r = self.e.fp(op, size, &[x]);
        self.fp_write_scalar(rd, size, r);
        Ok(())
    }

    fn simd_fp_s_misc_zero(&mut self, u: u32, sz: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let Some(op) = misc_zero(u, opcode, true) else {
            return self.undef();
        };
        self.e.check_fp_enabled()?;
        let size = fsize(sz);
        let x = self.fp_scalar(rn, size);
        let r = self.fp_zero_op(op, size, x);
        self.fp_write_scalar(rd, size, r);
        Ok(())
    }

    fn simd_fp_s_fcvtxn(&mut self, sz: u32, rn: u32, rd: u32) -> Self::Out {
        if sz == 0 {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let x = self.fp_scalar(rn, FpSize::D);
        let r = self.e.fp(FpOp::ConvertOdd, FpSize::D, &[x]);
        self.fp_write_scalar(rd, FpSize::S, r);
        Ok(())
    }

    fn simd_fp_s_pair(&mut self, u: u32, o1: u32, sz: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        // U = 0 is the half-precision form (FEAT_FP16).
        let Some(op) = reduce_op(o1, opcode, true) else {
            return self.undef();
        };
        if u == 0 {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let size = fsize(sz);
        let vn = self.e.get_q(rn);
        let r = self.fp_reduce(op, size, vn, 0, 2);
        self.fp_write_scalar(rd, size, r);
        Ok(())
    }

    fn simd_fp_s_elem_mla(
        &mut self,
        size: u32,
        l: u32,
        m: u32,
        rm: u32,
        s: u32,
        h: u32,
        rn: u32,
        rd: u32,
    ) -> Self::Out {
        let Some((fs, idx, rm)) = by_element(size, l, h, m, rm) else {
            return self.undef();
        };
        self.e.check_fp_enabled()?;
        let vm = self.e.get_q(rm);
        let y = self.e.q_lane(vm, fs.bytes(), idx);
        let x = self.fp_scalar(rn, fs);
        let d = self.fp_scalar(rd, fs);
        let r = self.fp_fma(fs, s == 1, d, x, y);
        self.fp_write_scalar(rd, fs, r);
        Ok(())
    }

    fn simd_fp_s_elem_mul(
        &mut self,
        u: u32,
        size: u32,
        l: u32,
        m: u32,
        rm: u32,
        h: u32,
        rn: u32,
        rd: u32,
    ) -> Self::Out {
        let Some((fs, idx, rm)) = by_element(size, l, h, m, rm) else {
            return self.undef();
        };
        self.e.check_fp_enabled()?;
        let op = if u == 1 { FpOp::MulX } else { FpOp::Mul };
        let vm = self.e.get_q(rm);
        let y = self.e.q_lane(vm, fs.bytes(), idx);
        let x = self.fp_scalar(rn, fs);
        let r = self.e.fp(op, fs, &[x, y]);
        self.fp_write_scalar(rd, fs, r);
        Ok(())
    }

    fn simd_fp_s_shift(&mut self, u: u32, immh: u32, immb: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let imm = (immh << 3) | immb;
        // immh = 1xxx: double, fbits = 128 - immh:immb; 01xx: single,
        // fbits = 64 - immh:immb; 001x is half precision (FEAT_FP16).
        let (size, fbits) = match immh {
            8.. => (FpSize::D, 128 - imm),
            4..=7 => (FpSize::S, 64 - imm),
            _ => return self.undef(),
        };
        let Some(op) = fixed_point(u, opcode, size, fbits) else {
            return self.undef();
        };
        self.e.check_fp_enabled()?;
        let x = self.fp_scalar(rn, size);
        let r = self.e.fp(op, size, &[x]);
        self.fp_write_scalar(rd, size, r);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Hand-checked values per class (each also confirmed on
    //! `qemu-aarch64 -cpu cortex-a57`). Random words of every row of
    //! `isa/32-simd-fp.isa` on special values under random FPCR modes are
    //! compared with QEMU by the differential test, `tests/diff_qemu.rs`
    //! (FP/SIMD cases).

    use crate::bus::{Bus, BusError, PhysAddr, Requester};
    use crate::disasm::disassemble;
    use crate::state::{Cpu, CpuConfig};
    use crate::sysreg::{fpcr, fpsr, SysReg};

    const PC: u64 = 0x4000_0000;

    /// A bus holding one instruction word at `PC`.
    struct OneWord(u32);

    impl Bus for OneWord {
        fn read(&mut self, _: Requester, pa: PhysAddr, _: u8) -> Result<u64, BusError> {
            if pa.0 == PC {
                Ok(u64::from(self.0))
            } else {
                Err(BusError::Unmapped(pa))
            }
        }
        fn write(&mut self, _: Requester, pa: PhysAddr, _: u8, _: u64) -> Result<(), BusError> {
            Err(BusError::Unmapped(pa))
        }
    }

    /// A core at EL1 with FP/SIMD enabled, FPCR = `fpcr` and the given V
    /// registers.
    fn core(fpcr: u64, regs: &[(usize, u128)]) -> Cpu {
        let mut cpu = Cpu::new(0, CpuConfig::cortex_a57(0), PC);
        cpu.sys.set(SysReg::CPACR_EL1, 3 << 20);
        cpu.sys.set(SysReg::FPCR, fpcr);
        for &(r, v) in regs {
            cpu.v[r] = v;
        }
        cpu
    }

    /// Executes `raw` once under `fpcr`; it must not raise an exception.
    fn exec_with(raw: u32, fpcr: u64, regs: &[(usize, u128)]) -> Cpu {
        let mut cpu = core(fpcr, regs);
        let r = cpu.step(&mut OneWord(raw));
        assert!(r.is_ok(), "{raw:08x} `{}` stopped: {r:?}", disassemble(raw, PC));
        cpu
    }

    fn exec(raw: u32, regs: &[(usize, u128)]) -> Cpu {
        exec_with(raw, 0, regs)
    }

    fn flags(cpu: &Cpu) -> u32 {
        cpu.sys.get(SysReg::FPSR) as u32
    }

    /// Four single-precision lanes, lane 0 first.
    fn s4(l: [f32; 4]) -> u128 {
        l.iter()
            .enumerate()
            .fold(0, |acc, (i, x)| acc | u128::from(x.to_bits()) << (32 * i))
    }

    /// Four 32-bit lanes from bit patterns.
    fn w4(l: [u32; 4]) -> u128 {
        l.iter()
            .enumerate()
            .fold(0, |acc, (i, &x)| acc | u128::from(x) << (32 * i))
    }

    /// Two double-precision lanes.
    fn d2(a: f64, b: f64) -> u128 {
        u128::from(a.to_bits()) | u128::from(b.to_bits()) << 64
    }

    /// Two 64-bit lanes from bit patterns.
    fn x2(a: u64, b: u64) -> u128 {
        u128::from(a) | u128::from(b) << 64
    }

    const ONES: u32 = u32::MAX;
    const GARBAGE: u128 = 0xdead_beef_dead_beef_dead_beef_dead_beef;

    #[test]
    fn three_same_lanes_flags_and_q0_zeroing() {
        // fadd v0.2s, v1.2s, v2.2s: the upper half of v0 is zeroed.
        let a = s4([1.0, 2.0, 3.0, 4.0]);
        let b = s4([0.5, 0.25, 8.0, 8.0]);
        let cpu = exec(0x0e22_d420, &[(0, GARBAGE), (1, a), (2, b)]);
        assert_eq!(cpu.v[0], s4([1.5, 2.25, 0.0, 0.0]));
        assert_eq!(flags(&cpu), 0);
        // fsub v0.4s, v1.4s, v2.4s
        let cpu = exec(0x4ea2_d420, &[(1, a), (2, b)]);
        assert_eq!(cpu.v[0], s4([0.5, 1.75, -5.0, -4.0]));
        // fdiv v0.2d, v1.2d, v2.2d: 1/3 is inexact, 1/0 divides by zero;
        // the flags of both lanes accumulate.
        let cpu = exec(0x6e62_fc20, &[(1, d2(1.0, 1.0)), (2, d2(3.0, 0.0))]);
        assert_eq!(cpu.v[0], x2(0x3fd5_5555_5555_5555, f64::INFINITY.to_bits()));
        assert_eq!(flags(&cpu), fpsr::IXC | fpsr::DZC);
        // fabd v0.4s: |a - b|; fmulx: 0 * inf = 2 with the product's sign.
        let cpu = exec(0x6ea2_d420, &[(1, a), (2, b)]);
        assert_eq!(cpu.v[0], s4([0.5, 1.75, 5.0, 4.0]));
        let cpu = exec(
            0x4e22_dc20,
            &[
                (1, s4([0.0, -0.0, 3.0, 1.0])),
                (2, s4([f32::INFINITY, f32::INFINITY, 2.0, -0.0])),
            ],
        );
        assert_eq!(cpu.v[0], s4([2.0, -2.0, 6.0, -0.0]));
        // frecps: 2 - a*b; frsqrts: (3 - a*b) / 2.
        let cpu = exec(
            0x4e22_fc20,
            &[(1, s4([2.0, 1.0, 0.0, 3.0])), (2, s4([0.5, 1.0, 5.0, 1.0]))],
        );
        assert_eq!(cpu.v[0], s4([1.0, 1.0, 2.0, -1.0]));
        let cpu = exec(
            0x4ea2_fc20,
            &[(1, s4([1.0, 3.0, 0.0, 0.5])), (2, s4([1.0, 1.0, 5.0, 2.0]))],
        );
        assert_eq!(cpu.v[0], s4([1.0, 0.0, 1.5, 1.0]));
    }

    #[test]
    fn min_max_nan_handling() {
        let qnan = 0x7fc0_1234;
        // fmax v0.4s: a quiet NaN propagates; fmaxnm: it loses to a number.
        let a = w4([qnan, 1.0f32.to_bits(), (-0.0f32).to_bits(), 2.0f32.to_bits()]);
        let b = w4([5.0f32.to_bits(), qnan, 0.0f32.to_bits(), 1.0f32.to_bits()]);
        let cpu = exec(0x4e22_f420, &[(1, a), (2, b)]);
        assert_eq!(cpu.v[0], w4([qnan, qnan, 0, 2.0f32.to_bits()]));
        assert_eq!(flags(&cpu), 0);
        let cpu = exec(0x4e22_c420, &[(1, a), (2, b)]);
        assert_eq!(cpu.v[0], s4([5.0, 1.0, 0.0, 2.0]));
        // fminnm v0.4s: min(-0, +0) = -0.
        let cpu = exec(0x4ea2_c420, &[(1, a), (2, b)]);
        assert_eq!(cpu.v[0], s4([5.0, 1.0, -0.0, 1.0]));
        // A signalling NaN is Invalid and comes out quiet.
        let cpu = exec(0x4e22_c420, &[(1, w4([0x7f80_0001, 0, 0, 0])), (2, 0)]);
        assert_eq!(cpu.v[0], w4([0x7fc0_0001, 0, 0, 0]));
        assert_eq!(flags(&cpu), fpsr::IOC);
        // ... and the default NaN under FPCR.DN.
        let cpu = exec_with(0x4e22_c420, fpcr::DN, &[(1, w4([0x7f80_0001, 0, 0, 0])), (2, 0)]);
        assert_eq!(cpu.v[0], w4([0x7fc0_0000, 0, 0, 0]));
    }

    #[test]
    fn pairwise_takes_pairs_of_m_n() {
        let n = s4([1.0, 2.0, 3.0, 4.0]);
        let m = s4([10.0, 20.0, 30.0, 40.0]);
        // faddp v0.4s, v1.4s, v2.4s
        let cpu = exec(0x6e22_d420, &[(1, n), (2, m)]);
        assert_eq!(cpu.v[0], s4([3.0, 7.0, 30.0, 70.0]));
        // fminnmp v0.2s, v1.2s, v2.2s: [min(n0, n1), min(m0, m1)], upper zero.
        let cpu = exec(0x2ea2_c420, &[(0, GARBAGE), (1, n), (2, m)]);
        assert_eq!(cpu.v[0], s4([1.0, 10.0, 0.0, 0.0]));
        // fmaxp v0.2d with Vd = Vn: sources are read first.
        let cpu = exec(0x6e62_f400, &[(0, d2(1.0, -1.0)), (2, d2(-7.0, -8.0))]);
        assert_eq!(cpu.v[0], d2(1.0, -7.0));
        // Scalar: faddp s0, v1.2s; fmaxp d0, v1.2d; fminnmp s0, v1.2s.
        let cpu = exec(0x7e30_d820, &[(0, GARBAGE), (1, n)]);
        assert_eq!(cpu.v[0], u128::from(3.0f32.to_bits()));
        let cpu = exec(0x7e70_f820, &[(1, d2(-1.0, 2.5))]);
        assert_eq!(cpu.v[0], d2(2.5, 0.0));
        let cpu = exec(0x7eb0_c820, &[(1, w4([0x7fc0_0000, 1.0f32.to_bits(), 0, 0]))]);
        assert_eq!(cpu.v[0], u128::from(1.0f32.to_bits()));
    }

    #[test]
    fn fmla_fmls_are_fused_and_fmls_negates_n() {
        // fmla v3.2d, v4.2d, v5.2d: -1 + (1 + 2^-30)^2 = 2^-29 + 2^-60
        // exactly (a separate multiply would lose the 2^-60).
        let x = 1.0 + 2f64.powi(-30);
        let cpu = exec(0x4e65_cc83, &[(3, d2(-1.0, 1.0)), (4, d2(x, 2.0)), (5, d2(x, 3.0))]);
        assert_eq!(cpu.v[3], x2(0x3e20_0000_0020_0000, 7.0f64.to_bits()));
        // fmls v0.4s, v1.4s, v2.4s: d - n*m; a NaN in n comes out negated
        // (FPNeg is applied before NaN propagation).
        let cpu = exec(
            0x4ea2_cc20,
            &[
                (0, s4([10.0, 1.0, 0.0, 0.0])),
                (1, w4([2.0f32.to_bits(), 0x7fc0_0001, 0, 0])),
                (2, s4([3.0, 1.0, 0.0, 0.0])),
            ],
        );
        assert_eq!(cpu.v[0], w4([4.0f32.to_bits(), 0xffc0_0001, 0, 0]));
    }

    #[test]
    fn compares() {
        let qnan = f32::NAN;
        // fcmeq v0.4s, v1.4s, #0.0: quiet, so a NaN is not Invalid.
        let cpu = exec(0x4ea0_d820, &[(1, s4([0.0, -0.0, 1.0, qnan]))]);
        assert_eq!(cpu.v[0], w4([ONES, ONES, 0, 0]));
        assert_eq!(flags(&cpu), 0);
        // fcmlt s0, s1, #0.0 (scalar) and fcmle v0.4s, v1.4s, #0.0.
        let cpu = exec(0x5ea0_e820, &[(0, GARBAGE), (1, s4([-1.0, 5.0, 5.0, 5.0]))]);
        assert_eq!(cpu.v[0], u128::from(ONES));
        let cpu = exec(0x6ea0_d820, &[(1, s4([-1.0, 1.0, -0.0, f32::NEG_INFINITY]))]);
        assert_eq!(cpu.v[0], w4([ONES, 0, ONES, ONES]));
        // fcmgt v0.2s (register): ordered compares are Invalid on any NaN.
        let cpu = exec(
            0x2ea2_e420,
            &[(1, s4([2.0, qnan, 0.0, 0.0])), (2, s4([1.0, 1.0, 0.0, 0.0]))],
        );
        assert_eq!(cpu.v[0], w4([ONES, 0, 0, 0]));
        assert_eq!(flags(&cpu), fpsr::IOC);
        // facgt s0, s1, s2: |-3| > |2|.
        let cpu = exec(
            0x7ea2_ec20,
            &[(1, s4([-3.0, 0.0, 0.0, 0.0])), (2, s4([2.0, 9.0, 9.0, 9.0]))],
        );
        assert_eq!(cpu.v[0], u128::from(ONES));
        // fcmle d0, d1, #0.0
        let cpu = exec(0x7ee0_d820, &[(1, d2(-0.0, 1.0))]);
        assert_eq!(cpu.v[0], u128::from(u64::MAX));
    }

    #[test]
    fn unary_misc() {
        // fabs v0.2d / fneg v0.2s flip only the sign, even of NaNs.
        let cpu = exec(0x4ee0_f820, &[(1, x2(0xfff0_0000_0000_0001, (-2.0f64).to_bits()))]);
        assert_eq!(cpu.v[0], x2(0x7ff0_0000_0000_0001, 2.0f64.to_bits()));
        assert_eq!(flags(&cpu), 0);
        let cpu = exec(0x2ea0_f820, &[(0, GARBAGE), (1, w4([0x7f80_0001, 0, 7, 7]))]);
        assert_eq!(cpu.v[0], w4([0xff80_0001, 0x8000_0000, 0, 0]));
        // fsqrt v0.4s
        let cpu = exec(0x6ea1_f820, &[(1, s4([4.0, 2.25, -0.0, -1.0]))]);
        assert_eq!(
            cpu.v[0],
            w4([2.0f32.to_bits(), 1.5f32.to_bits(), 0x8000_0000, 0x7fc0_0000])
        );
        assert_eq!(flags(&cpu), fpsr::IOC);
        // frecpx d0, d1: exponent inverted (0x400 -> 0x3ff), fraction cleared.
        let cpu = exec(0x5ee1_f820, &[(1, d2(3.0, 9.0))]);
        assert_eq!(cpu.v[0], d2(1.0, 0.0));
    }

    #[test]
    fn rounding_and_integer_conversions() {
        let v = s4([0.5, 1.5, 2.5, -0.5]);
        // frintn v0.4s (ties to even), frinta (ties away), frintx (FPCR,
        // Inexact), frintp/m/z.
        let cpu = exec(0x4e21_8820, &[(1, v)]);
        assert_eq!(cpu.v[0], s4([0.0, 2.0, 2.0, -0.0]));
        assert_eq!(flags(&cpu), 0);
        let cpu = exec(0x6e21_8820, &[(1, v)]);
        assert_eq!(cpu.v[0], s4([1.0, 2.0, 3.0, -1.0]));
        let cpu = exec_with(0x6e21_9820, 2 << fpcr::RMODE_SHIFT, &[(1, v)]);
        assert_eq!(cpu.v[0], s4([0.0, 1.0, 2.0, -1.0]));
        assert_eq!(flags(&cpu), fpsr::IXC);
        let cpu = exec(0x4ea1_8820, &[(1, v)]);
        assert_eq!(cpu.v[0], s4([1.0, 2.0, 3.0, -0.0]));
        // fcvtzs v0.2d, v1.2d: toward zero, saturating with Invalid.
        let cpu = exec(0x4ee1_b820, &[(1, d2(-2.75, 1e300))]);
        assert_eq!(cpu.v[0], x2(-2i64 as u64, i64::MAX as u64));
        assert_eq!(flags(&cpu), fpsr::IOC | fpsr::IXC);
        // fcvtns s0, s1 (scalar): 2.5 -> 2; fcvtau: -0.5 -> 0 (unsigned).
        let cpu = exec(0x5e21_a820, &[(0, GARBAGE), (1, v >> 64)]);
        assert_eq!(cpu.v[0], 2);
        let cpu = exec(0x2e21_c820, &[(1, v)]);
        assert_eq!(cpu.v[0], w4([1, 2, 0, 0]));
        // scvtf v0.2s, v1.2s and ucvtf d0, d1.
        let cpu = exec(0x0e21_d820, &[(1, w4([-3i32 as u32, 16_777_217, 9, 9]))]);
        assert_eq!(cpu.v[0], s4([-3.0, 16_777_216.0, 0.0, 0.0]));
        assert_eq!(flags(&cpu), fpsr::IXC);
        let cpu = exec(0x7e61_d820, &[(1, x2(u64::MAX, 5))]);
        assert_eq!(cpu.v[0], d2(18_446_744_073_709_551_616.0, 0.0));
    }

    #[test]
    fn fixed_point_conversions() {
        // scvtf v0.4s, v1.4s, #16
        let cpu = exec(0x4f30_e420, &[(1, w4([0x1_0000, 0x8000, -0x1_0000i32 as u32, 3]))]);
        assert_eq!(cpu.v[0], s4([1.0, 0.5, -1.0, 3.0 / 65536.0]));
        // fcvtzs v0.2s, v1.2s, #1: 2.75 * 2 = 5.5 -> 5; upper half zeroed.
        let cpu = exec(0x0f3f_fc20, &[(0, GARBAGE), (1, s4([2.75, -2.75, 1.0, 1.0]))]);
        assert_eq!(cpu.v[0], w4([5, -5i32 as u32, 0, 0]));
        // fcvtzu d0, d1, #64: 0.5 * 2^64.
        let cpu = exec(0x7f40_fc20, &[(1, d2(0.5, 0.0))]);
        assert_eq!(cpu.v[0], 1 << 63);
        // ucvtf v0.4s, v1.4s, #32: 2^31 / 2^32.
        let cpu = exec(0x6f20_e420, &[(1, w4([0x8000_0000, 0, 0, 0]))]);
        assert_eq!(cpu.v[0], s4([0.5, 0.0, 0.0, 0.0]));
        // scvtf s0, s1, #3
        let cpu = exec(0x5f3d_e420, &[(1, w4([12, 0, 0, 0]))]);
        assert_eq!(cpu.v[0], u128::from(1.5f32.to_bits()));
    }

    #[test]
    fn narrowing_and_widening_conversions() {
        // fcvtl v0.4s, v1.4h: half 1.0, -2.0, +inf, 2^-24 (smallest subnormal).
        let h = 0x0001_7c00_c000_3c00u128;
        let cpu = exec(0x0e21_7820, &[(1, h | GARBAGE << 64)]);
        assert_eq!(cpu.v[0], s4([1.0, -2.0, f32::INFINITY, 2f32.powi(-24)]));
        // fcvtl2 v0.2d, v1.4s: the upper two singles.
        let cpu = exec(0x4e61_7820, &[(1, s4([1.0, 2.0, 3.0, -4.0]))]);
        assert_eq!(cpu.v[0], d2(3.0, -4.0));
        // fcvtn v0.4h, v1.4s zeroes the upper half; fcvtn2 v0.4s, v1.2d
        // keeps the lower half.
        let cpu = exec(0x0e21_6820, &[(0, GARBAGE), (1, s4([1.0, -2.0, 65520.0, 0.0]))]);
        assert_eq!(cpu.v[0], 0x0000_7c00_c000_3c00);
        assert_eq!(flags(&cpu), fpsr::OFC | fpsr::IXC);
        let cpu = exec(0x4e61_6820, &[(0, GARBAGE), (1, d2(1.0, 0.1))]);
        assert_eq!(
            cpu.v[0],
            (GARBAGE & u128::from(u64::MAX)) | w4([0, 0, 1.0f32.to_bits(), 0.1f32.to_bits()])
        );
        // fcvtxn s0, d1: round to odd, 1 + 2^-30 -> 1 + 2^-23.
        let cpu = exec(0x7e61_6820, &[(1, d2(1.0 + 2f64.powi(-30), 0.0))]);
        assert_eq!(cpu.v[0], 0x3f80_0001);
        assert_eq!(flags(&cpu), fpsr::IXC);
        // fcvtxn2 v0.4s, v1.2d
        let cpu = exec(0x6e61_6820, &[(0, 7), (1, d2(2.0, 1.0 + 2f64.powi(-40)))]);
        assert_eq!(cpu.v[0], 7 | w4([0, 0, 2.0f32.to_bits(), 0x3f80_0001]));
    }

    #[test]
    fn across_lanes_reduce_pairwise() {
        // fmaxnmv s0, v1.4s: (max(e0, e1), max(e2, e3)).
        let cpu = exec(
            0x6e30_c820,
            &[
                (0, GARBAGE),
                (
                    1,
                    w4([0x7fc0_0000, 1.0f32.to_bits(), 3.0f32.to_bits(), 2.0f32.to_bits()]),
                ),
            ],
        );
        assert_eq!(cpu.v[0], u128::from(3.0f32.to_bits()));
        // fminv s0, v1.4s: a NaN propagates (the first NaN operand).
        let cpu = exec(0x6eb0_f820, &[(1, w4([0, 0x7fc0_0002, 0x7fc0_0003, 0]))]);
        assert_eq!(cpu.v[0], 0x7fc0_0002);
    }

    #[test]
    fn by_element() {
        let n = s4([1.0, 2.0, 3.0, 4.0]);
        let m = s4([0.0, 10.0, 100.0, 1000.0]);
        // fmul v0.2s, v1.2s, v2.s[1]
        let cpu = exec(0x0fa2_9020, &[(0, GARBAGE), (1, n), (2, m)]);
        assert_eq!(cpu.v[0], s4([10.0, 20.0, 0.0, 0.0]));
        // fmla v0.4s, v1.4s, v2.s[3]
        let cpu = exec(0x4fa2_1820, &[(0, s4([1.0, 1.0, 1.0, 1.0])), (1, n), (2, m)]);
        assert_eq!(cpu.v[0], s4([1001.0, 2001.0, 3001.0, 4001.0]));
        // fmls v0.2d, v1.2d, v18.d[1]
        let cpu = exec(0x4fd2_5820, &[(0, d2(1.0, 2.0)), (1, d2(3.0, 4.0)), (18, d2(9.0, 0.5))]);
        assert_eq!(cpu.v[0], d2(-0.5, 0.0));
        // fmulx v0.2d, v1.2d, v31.d[0]: -inf * 0 = -2.
        let cpu = exec(0x6fdf_9020, &[(1, d2(f64::NEG_INFINITY, 3.0)), (31, d2(0.0, 1.0))]);
        assert_eq!(cpu.v[0], d2(-2.0, 0.0));
        // Scalar: fmla s0, s1, v2.s[3] zeroes the rest of v0; fmul s0, s1, v18.s[2].
        let cpu = exec(
            0x5fa2_1820,
            &[
                (0, GARBAGE & !0xffff_ffff | u128::from(5.0f32.to_bits())),
                (1, n),
                (2, m),
            ],
        );
        assert_eq!(cpu.v[0], u128::from(1005.0f32.to_bits()));
        let cpu = exec(0x5f92_9820, &[(1, n), (18, m)]);
        assert_eq!(cpu.v[0], u128::from(100.0f32.to_bits()));
        // fmulx d0, d1, v31.d[1]
        let cpu = exec(0x7fdf_9820, &[(1, d2(1.5, 0.0)), (31, d2(0.0, 4.0))]);
        assert_eq!(cpu.v[0], d2(6.0, 0.0));
    }

    #[test]
    fn estimates() {
        // frecpe v0.4s: 1.0 -> 511/512 (the table's first entry); 0 -> inf
        // with Divide by Zero.
        let cpu = exec(0x4ea1_d820, &[(1, s4([1.0, 0.0, 2.0, -1.0]))]);
        assert_eq!(cpu.v[0], w4([0x3f7f_8000, 0x7f80_0000, 0x3eff_8000, 0xbf7f_8000]));
        assert_eq!(flags(&cpu), fpsr::DZC);
        // frsqrte s0, s1: 1/sqrt(4) = 0.5 estimated as 255/512 (the
        // table's entry for an even exponent and a zero fraction).
        let cpu = exec(0x7ea1_d820, &[(1, s4([4.0, 0.0, 0.0, 0.0]))]);
        assert_eq!(cpu.v[0], 0x3eff_8000);
        // urecpe v0.4s: below 0x80000000 gives all ones; the estimate of
        // 1/0.5 is 0x1.ff (0xff800000), of 1/0.99999 is 0x1.00.
        let cpu = exec(0x4ea1_c820, &[(1, w4([0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0]))]);
        assert_eq!(cpu.v[0], w4([ONES, 0xff80_0000, 0x8000_0000, ONES]));
    }

    #[test]
    fn reserved_encodings_are_undefined() {
        let undef = crate::sem::probe::undefined_at_decode;
        for raw in [
            0x0e62_d420u32,            // fadd with sz = 1, Q = 0 (".1d")
            0x4e22_dc20 | 0x0080_0000, // U=0 a=1 opcode 011: unallocated
            0x0e22_ec20,               // fmlal (FEAT_FHM)
            0x4ea1_c820 | 0x0040_0000, // urecpe with sz = 1
            0x4e21_e820,               // frint32z (FEAT_FRINTTS)
            0x6e70_c820,               // fmaxnmv with sz = 1
            0x0e30_c820,               // fmaxnmv (half, FEAT_FP16)
            0x7e21_6820,               // fcvtxn s0, s1 (sz = 0)
            0x5e30_d820,               // faddp (half, FEAT_FP16)
            0x4fe2_1820,               // fmla by element, sz:L = 11
            0x0fc2_1020,               // fmla v.1d by element (Q = 0)
            0x4f12_1020,               // fmla by element, size = 00 (half)
            0x0f7d_e420,               // scvtf v.1d, #3 (Q = 0)
            0x5f1d_e420,               // scvtf h0, h1, #3 (immh = 001x)
            0x4f3d_ec20,               // shift by immediate opcode 11101
            0x5ea1_8820,               // frintp in the scalar class
            0x5ee0_f820,               // scalar fabs in the AdvSIMD class
        ] {
            assert!(undef(raw), "{raw:08x} `{}` should be UNDEFINED", disassemble(raw, 0));
            assert!(disassemble(raw, 0).starts_with(".inst"), "{raw:08x}");
        }
        assert!(!undef(0x4e22_d420));
    }

    #[test]
    fn fp_disabled_traps_after_decode() {
        // CPACR_EL1.FPEN = 0: fadd takes an FP access trap (EC 0x07), an
        // unallocated FP-looking encoding is UNDEFINED (EC 0) instead.
        for (raw, ec) in [(0x4e22_d420u32, 0x07), (0x0e62_d420, 0x00)] {
            let mut cpu = core(0, &[]);
            cpu.sys.set(SysReg::CPACR_EL1, 0);
            assert!(cpu.step(&mut OneWord(raw)).is_err());
            assert_eq!(cpu.sys.get(SysReg::ESR_EL1) >> 26, ec, "{raw:08x}");
        }
    }
}
