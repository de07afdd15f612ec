//! Semantics of group `simd_int`: AdvSIMD integer arithmetic, shifts, modified immediate.
//!
//! Lanes are processed one by one at translation time: `q_lane` reads an
//! element (zero-extended), scalar `bin`/`un`/`sat` operations compute it,
//! `q_with_lane` stores its low bits. Results are built from a zero
//! register, so the 64-bit (Q = 0) and scalar forms clear the rest of the
//! destination as the architecture requires; the narrowing "2" forms start
//! from the old destination instead, keeping its low half. Whole-register
//! logic goes through `q_op`.
//!
//! Each visitor method first rejects the reserved size/Q combinations and
//! unallocated opcodes of its row (UNDEFINED, which the Arm ARM gives
//! priority over the FP/SIMD access trap), then calls `check_fp_enabled`.

use super::*;
use crate::isa::SimdIntVisitor;
use crate::simd::decode::{
    across_allocated, elem_index, shift_imm, shift_narrow_allocated, shift_same_allocated, three_diff_allocated,
    three_same_allocated, two_misc_allocated, ShiftImm,
};
use crate::simd::{adv_simd_expand_imm, mask, vfp_expand_imm64};

/// Number of `ebytes`-byte lanes in a 64-bit (`q = 0`) or 128-bit vector.
fn lanes(q: u32, ebytes: u8) -> u8 {
    (8u8 << q) / ebytes
}

/// The three-same opcodes that take the destination as an accumulator.
fn same_accumulates(opcode: u32) -> bool {
    matches!(opcode, 0b01111 | 0b10010)
}

impl<E: Emitter> Translate<'_, E> {
    fn sat_op(&mut self, op: SatOp, a: E::V, b: E::V) -> E::V {
        self.e.sat(op, a, b)
    }

    fn binop(&mut self, op: BinOp, a: E::V, b: E::V) -> E::V {
        self.e.bin(op, a, b)
    }

    fn bin_imm(&mut self, op: BinOp, a: E::V, b: u64) -> E::V {
        let b = self.e.imm(b);
        self.e.bin(op, a, b)
    }

    /// Sign- (`signed`) or zero-extends a lane value of `bits` bits.
    fn ext(&mut self, v: E::V, bits: u8, signed: bool) -> E::V {
        if signed && bits < 64 {
            self.e.un(UnOp::Sext(bits), v)
        } else {
            v
        }
    }

    /// 0 / 1 turned into all zeros / all ones.
    fn all_ones_if(&mut self, flag: E::V) -> E::V {
        let zero = self.e.imm(0);
        self.e.bin(BinOp::Sub, zero, flag)
    }

    fn zero_q(&mut self) -> E::Q {
        self.e.q_imm(0)
    }

    /// Writes a scalar result: element 0 of V`rd`, the rest zeroed.
    fn set_scalar(&mut self, rd: u32, ebytes: u8, v: E::V) {
        let z = self.zero_q();
        let r = self.e.q_with_lane(z, ebytes, 0, v);
        self.e.set_q(rd, r);
    }

    /// Clears the upper 64 bits of a whole-register result when `q = 0`.
    fn set_vec(&mut self, rd: u32, q: u32, r: E::Q) {
        let r = if q == 1 {
            r
        } else {
            let m = self.e.q_imm(u128::from(u64::MAX));
            self.e.q_op(QOp::And, r, m)
        };
        self.e.set_q(rd, r);
    }

    /// One lane of a three-same operation (`d`: the accumulator lane).
    fn same_lane(&mut self, opcode: u32, u: u32, bits: u8, a: E::V, b: E::V, d: Option<E::V>) -> E::V {
        let signed = u == 0;
        let halving = |sub, round| SatOp::Halving {
            bits,
            signed,
            sub,
            round,
        };
        match opcode {
            0b00000 => self.sat_op(halving(false, false), a, b),
            0b00001 => {
                let op = if signed {
                    SatOp::AddS { bits }
                } else {
                    SatOp::AddU { bits }
                };
                self.sat_op(op, a, b)
            }
            0b00010 => self.sat_op(halving(false, true), a, b),
            0b00100 => self.sat_op(halving(true, false), a, b),
            0b00101 => {
                let op = if signed {
                    SatOp::SubS { bits }
                } else {
                    SatOp::SubU { bits }
                };
                self.sat_op(op, a, b)
            }
            0b00110 => self.sat_op(SatOp::CmpGt { bits, signed }, a, b),
            0b00111 => self.sat_op(SatOp::CmpGe { bits, signed }, a, b),
            0b01000..=0b01011 => {
                let op = SatOp::Shift {
                    bits,
                    signed,
                    round: opcode & 2 != 0,
                    sat: opcode & 1 != 0,
                };
                self.sat_op(op, a, b)
            }
            0b01100 => self.sat_op(SatOp::Max { bits, signed }, a, b),
            0b01101 => self.sat_op(SatOp::Min { bits, signed }, a, b),
            0b01110 | 0b01111 => {
                let r = self.sat_op(SatOp::Abd { bits, signed }, a, b);
                match d {
                    Some(d) => self.binop(BinOp::Add, d, r),
                    None => r,
                }
            }
            0b10000 => self.binop(if signed { BinOp::Add } else { BinOp::Sub }, a, b),
            0b10001 => {
                let c = if signed {
                    let t = self.binop(BinOp::And, a, b);
                    self.bin_imm(BinOp::Ne, t, 0)
                } else {
                    self.binop(BinOp::Eq, a, b)
                };
                self.all_ones_if(c)
            }
            0b10010 => {
                let p = self.binop(BinOp::Mul, a, b);
                let d = d.expect("MLA/MLS accumulate");
                self.binop(if signed { BinOp::Add } else { BinOp::Sub }, d, p)
            }
            0b10011 if signed => self.binop(BinOp::Mul, a, b),
            0b10011 => self.sat_op(SatOp::PolyMul { bits }, a, b),
            0b10100 => self.sat_op(SatOp::Max { bits, signed }, a, b),
            0b10101 => self.sat_op(SatOp::Min { bits, signed }, a, b),
            0b10110 => self.sat_op(SatOp::DoublingMulHigh { bits, round: !signed }, a, b),
            _ => self.binop(BinOp::Add, a, b), // 10111: ADDP
        }
    }

    /// AdvSIMD three same (vector and scalar), `opcode` is the full 5 bits.
    #[allow(clippy::too_many_arguments)]
    fn three_same(
        &mut self,
        scalar: bool,
        q: u32,
        u: u32,
        size: u32,
        rm: u32,
        opcode: u32,
        rn: u32,
        rd: u32,
    ) -> SemResult<E> {
        if !three_same_allocated(scalar, q, u, size, opcode) {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let va = self.e.get_q(rn);
        let vb = self.e.get_q(rm);
        if opcode == 0b00011 {
            return self.logic_3same(q, u, size, va, vb, rd);
        }
        let ebytes = 1u8 << size;
        let bits = ebytes * 8;
        let n = if scalar { 1 } else { lanes(q, ebytes) };
        let vd = if same_accumulates(opcode) {
            Some(self.e.get_q(rd))
        } else {
            None
        };
        let pairwise = !scalar && matches!(opcode, 0b10100 | 0b10101 | 0b10111);
        let mut r = self.zero_q();
        for i in 0..n {
            let (a, b) = if pairwise {
                // Pairs of concat(Vm:Vn): the low half of the result from
                // Vn, the high half from Vm.
                let half = n / 2;
                let src = if i < half { va } else { vb };
                let j = (i % half) * 2;
                (self.e.q_lane(src, ebytes, j), self.e.q_lane(src, ebytes, j + 1))
            } else {
                (self.e.q_lane(va, ebytes, i), self.e.q_lane(vb, ebytes, i))
            };
            let d = vd.map(|vd| self.e.q_lane(vd, ebytes, i));
            let x = self.same_lane(opcode, u, bits, a, b, d);
            r = self.e.q_with_lane(r, ebytes, i, x);
        }
        self.e.set_q(rd, r);
        Ok(())
    }

    /// AND/BIC/ORR/ORN (U = 0) and EOR/BSL/BIT/BIF (U = 1) by `size`.
    fn logic_3same(&mut self, q: u32, u: u32, size: u32, n: E::Q, m: E::Q, rd: u32) -> SemResult<E> {
        let r = match (u, size) {
            (0, 0) => self.e.q_op(QOp::And, n, m),
            (0, 1) => self.e.q_op(QOp::Bic, n, m),
            (0, 2) => self.e.q_op(QOp::Orr, n, m),
            (0, _) => self.e.q_op(QOp::Orn, n, m),
            (_, 0) => self.e.q_op(QOp::Eor, n, m),
            _ => {
                // BSL: d = m ^ ((m ^ n) & d); BIT: d ^ ((d ^ n) & m);
                // BIF: d ^ ((d ^ n) & ~m).
                let d = self.e.get_q(rd);
                let (base, sel, op) = match size {
                    1 => (m, d, QOp::And),
                    2 => (d, m, QOp::And),
                    _ => (d, m, QOp::Bic),
                };
                let x = self.e.q_op(QOp::Eor, base, n);
                let x = self.e.q_op(op, x, sel);
                self.e.q_op(QOp::Eor, base, x)
            }
        };
        self.set_vec(rd, q, r);
        Ok(())
    }

    /// AdvSIMD three different (vector; `scalar` for SQDMLAL/SQDMLSL/SQDMULL).
    #[allow(clippy::too_many_arguments)]
    fn three_diff(
        &mut self,
        scalar: bool,
        q: u32,
        u: u32,
        size: u32,
        rm: u32,
        opcode: u32,
        rn: u32,
        rd: u32,
    ) -> SemResult<E> {
        if !three_diff_allocated(scalar, u, size, opcode) {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let signed = u == 0;
        let eb = 1u8 << size;
        let bits = eb * 8;
        let va = self.e.get_q(rn);
        let vb = self.e.get_q(rm);
        // Lanes of one 64-bit half; the "2" forms (Q = 1) read or write
        // the upper half.
        let n = if scalar { 1 } else { 8 / eb };
        let off = if scalar { 0 } else { q as u8 * n };
        if matches!(opcode, 0b0100 | 0b0110) {
            // ADDHN / RADDHN / SUBHN / RSUBHN: the high halves of wide sums.
            let mut r = if q == 1 { self.e.get_q(rd) } else { self.zero_q() };
            for i in 0..n {
                let a = self.e.q_lane(va, 2 * eb, i);
                let b = self.e.q_lane(vb, 2 * eb, i);
                let s = self.binop(if opcode == 0b0100 { BinOp::Add } else { BinOp::Sub }, a, b);
                let s = if u == 1 {
                    self.bin_imm(BinOp::Add, s, 1 << (bits - 1))
                } else {
                    s
                };
                let x = self.bin_imm(BinOp::Lshr, s, u64::from(bits));
                r = self.e.q_with_lane(r, eb, off + i, x);
            }
            self.e.set_q(rd, r);
            return Ok(());
        }
        let vd = if matches!(opcode, 0b0101 | 0b1000 | 0b1001 | 0b1010 | 0b1011) {
            Some(self.e.get_q(rd))
        } else {
            None
        };
        let mut r = self.zero_q();
        for i in 0..n {
            let a = if matches!(opcode, 0b0001 | 0b0011) {
                self.e.q_lane(va, 2 * eb, i)
            } else {
                self.e.q_lane(va, eb, off + i)
            };
            let b = self.e.q_lane(vb, eb, off + i);
            let d = vd.map(|vd| self.e.q_lane(vd, 2 * eb, i));
            let x = self.long_lane(opcode, signed, bits, a, b, d);
            r = self.e.q_with_lane(r, 2 * eb, i, x);
        }
        self.e.set_q(rd, r);
        Ok(())
    }

    /// One lane of a widening operation: `a`, `b` are `bits`-bit lanes
    /// (except `a` of the wide forms SADDW/SSUBW..., already `2 * bits`),
    /// `d` the `2 * bits`-bit accumulator; the result is `2 * bits` wide.
    /// `opcode` is the three-different opcode (the by-element forms map
    /// onto it).
    fn long_lane(&mut self, opcode: u32, signed: bool, bits: u8, a: E::V, b: E::V, d: Option<E::V>) -> E::V {
        let acc = |s: &mut Self, op: BinOp, x: E::V| {
            let d = d.expect("accumulating long operation");
            s.binop(op, d, x)
        };
        match opcode {
            0b0000..=0b0011 | 0b1000 | 0b1010 | 0b1100 => {
                let a = if matches!(opcode, 0b0001 | 0b0011) {
                    a
                } else {
                    self.ext(a, bits, signed)
                };
                let b = self.ext(b, bits, signed);
                match opcode {
                    0b0000 | 0b0001 => self.binop(BinOp::Add, a, b),
                    0b0010 | 0b0011 => self.binop(BinOp::Sub, a, b),
                    _ => {
                        let p = self.binop(BinOp::Mul, a, b);
                        match opcode {
                            0b1000 => acc(self, BinOp::Add, p),
                            0b1010 => acc(self, BinOp::Sub, p),
                            _ => p,
                        }
                    }
                }
            }
            0b0101 | 0b0111 => {
                let x = self.sat_op(SatOp::Abd { bits, signed }, a, b);
                if opcode == 0b0101 {
                    acc(self, BinOp::Add, x)
                } else {
                    x
                }
            }
            0b1001 | 0b1011 | 0b1101 => {
                // Both steps saturate and either sets FPSR.QC.
                let p = self.sat_op(SatOp::DoublingMulLong { bits }, a, b);
                match (opcode, d) {
                    (0b1001, Some(d)) => self.sat_op(SatOp::AddS { bits: 2 * bits }, d, p),
                    (0b1011, Some(d)) => self.sat_op(SatOp::SubS { bits: 2 * bits }, d, p),
                    _ => p,
                }
            }
            _ => self.sat_op(SatOp::PolyMul { bits }, a, b), // 1110: PMULL
        }
    }

    /// AdvSIMD two-register misc, integer opcodes (vector and scalar).
    #[allow(clippy::too_many_arguments)]
    fn two_misc(&mut self, scalar: bool, q: u32, u: u32, size: u32, opcode: u32, rn: u32, rd: u32) -> SemResult<E> {
        if !two_misc_allocated(scalar, q, u, size, opcode) {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let va = self.e.get_q(rn);
        let signed = u == 0;
        let eb = 1u8 << size;
        let bits = eb * 8;
        match opcode {
            0b00000 | 0b00001 => return self.rev(q, u, size, opcode, va, rd),
            0b00101 if size == 0 && u == 1 => {
                // NOT: zero ORN a.
                let z = self.zero_q();
                let r = self.e.q_op(QOp::Orn, z, va);
                self.set_vec(rd, q, r);
                return Ok(());
            }
            0b00101 if size == 1 => {
                // RBIT: reverse all 64 bits, then the bytes back.
                let mut r = self.zero_q();
                for i in 0..=q as u8 {
                    let x = self.e.q_lane(va, 8, i);
                    let x = self.e.un(UnOp::Rbit(Width::W64), x);
                    let x = self.e.un(UnOp::Rev64, x);
                    r = self.e.q_with_lane(r, 8, i, x);
                }
                self.e.set_q(rd, r);
                return Ok(());
            }
            0b00010 | 0b00110 => {
                // SADDLP / UADDLP / SADALP / UADALP.
                let vd = self.e.get_q(rd);
                let mut r = self.zero_q();
                for i in 0..lanes(q, 2 * eb) {
                    let a = self.e.q_lane(va, eb, 2 * i);
                    let b = self.e.q_lane(va, eb, 2 * i + 1);
                    let a = self.ext(a, bits, signed);
                    let b = self.ext(b, bits, signed);
                    let mut x = self.binop(BinOp::Add, a, b);
                    if opcode == 0b00110 {
                        let d = self.e.q_lane(vd, 2 * eb, i);
                        x = self.binop(BinOp::Add, d, x);
                    }
                    r = self.e.q_with_lane(r, 2 * eb, i, x);
                }
                self.e.set_q(rd, r);
                return Ok(());
            }
            0b10010 | 0b10100 => {
                // XTN / SQXTUN / SQXTN / UQXTN: narrow into the half Q selects.
                let n = if scalar { 1 } else { 8 / eb };
                let off = if scalar { 0 } else { q as u8 * n };
                let mut r = if !scalar && q == 1 {
                    self.e.get_q(rd)
                } else {
                    self.zero_q()
                };
                for i in 0..n {
                    let a = self.e.q_lane(va, 2 * eb, i);
                    let x = match (opcode, u) {
                        (0b10010, 0) => a,
                        (0b10010, _) => self.sat_op(
                            SatOp::Narrow {
                                bits,
                                signed_in: true,
                                signed_out: false,
                            },
                            a,
                            a,
                        ),
                        _ => self.sat_op(
                            SatOp::Narrow {
                                bits,
                                signed_in: signed,
                                signed_out: signed,
                            },
                            a,
                            a,
                        ),
                    };
                    r = self.e.q_with_lane(r, eb, off + i, x);
                }
                self.e.set_q(rd, r);
                return Ok(());
            }
            0b10011 => {
                // SHLL: widen the half Q selects, shift left by the element size.
                let n = 8 / eb;
                let mut r = self.zero_q();
                for i in 0..n {
                    let a = self.e.q_lane(va, eb, q as u8 * n + i);
                    let x = self.bin_imm(BinOp::Shl, a, u64::from(bits));
                    r = self.e.q_with_lane(r, 2 * eb, i, x);
                }
                self.e.set_q(rd, r);
                return Ok(());
            }
            _ => {}
        }
        // Element-wise operations.
        let n = if scalar { 1 } else { lanes(q, eb) };
        let vd = if opcode == 0b00011 {
            Some(self.e.get_q(rd))
        } else {
            None
        };
        let mut r = self.zero_q();
        for i in 0..n {
            let a = self.e.q_lane(va, eb, i);
            let zero = self.e.imm(0);
            let x = match opcode {
                0b00011 => {
                    let d = self.e.q_lane(vd.expect("SUQADD/USQADD accumulate"), eb, i);
                    let op = if signed {
                        SatOp::AddSU { bits }
                    } else {
                        SatOp::AddUS { bits }
                    };
                    self.sat_op(op, d, a)
                }
                0b00100 => {
                    // CLS / CLZ through the 32-bit count.
                    let (x, un) = if signed {
                        (self.ext(a, bits, true), UnOp::Cls(Width::W32))
                    } else {
                        (a, UnOp::Clz(Width::W32))
                    };
                    let c = self.e.un(un, x);
                    if bits == 32 {
                        c
                    } else {
                        self.bin_imm(BinOp::Sub, c, u64::from(32 - bits))
                    }
                }
                0b00101 => self.sat_op(SatOp::Popcount, a, zero),
                0b00111 => {
                    let op = if signed {
                        SatOp::AbsS { bits }
                    } else {
                        SatOp::NegS { bits }
                    };
                    self.sat_op(op, a, zero)
                }
                0b01000 if signed => self.sat_op(SatOp::CmpGt { bits, signed: true }, a, zero),
                0b01000 => self.sat_op(SatOp::CmpGe { bits, signed: true }, a, zero),
                0b01001 if signed => {
                    let c = self.binop(BinOp::Eq, a, zero);
                    self.all_ones_if(c)
                }
                0b01001 => self.sat_op(SatOp::CmpGe { bits, signed: true }, zero, a),
                0b01010 => self.sat_op(SatOp::CmpGt { bits, signed: true }, zero, a),
                _ if signed => self.sat_op(SatOp::Abs { bits }, a, zero), // 01011: ABS
                _ => self.binop(BinOp::Sub, zero, a),                     // 01011: NEG
            };
            r = self.e.q_with_lane(r, eb, i, x);
        }
        self.e.set_q(rd, r);
        Ok(())
    }

    /// REV64 / REV32 (U = 1) / REV16 of `size`-sized elements, per 64-bit half.
    fn rev(&mut self, q: u32, u: u32, size: u32, opcode: u32, va: E::Q, rd: u32) -> SemResult<E> {
        // The container: 64 (REV64), 32 (REV32) or 16 (REV16) bits.
        let container = match (opcode, u) {
            (0, 0) => 64,
            (0, _) => 32,
            _ => 16,
        };
        let ops: &[(Option<UnOp>, u32)] = match (container, size) {
            (64, 0) => &[(Some(UnOp::Rev64), 0)],
            (64, 1) => &[(Some(UnOp::Rev64), 0), (Some(UnOp::Rev16), 0)],
            (64, _) => &[(None, 32)], // swap the words: ROR #32
            (32, 0) => &[(Some(UnOp::Rev32), 0)],
            (32, _) => &[(Some(UnOp::Rev32), 0), (Some(UnOp::Rev16), 0)],
            _ => &[(Some(UnOp::Rev16), 0)],
        };
        let mut r = self.zero_q();
        for i in 0..=q as u8 {
            let mut x = self.e.q_lane(va, 8, i);
            for &(op, ror) in ops {
                x = match op {
                    Some(op) => self.e.un(op, x),
                    None => self.bin_imm(BinOp::Ror(Width::W64), x, u64::from(ror)),
                };
            }
            r = self.e.q_with_lane(r, 8, i, x);
        }
        self.e.set_q(rd, r);
        Ok(())
    }

    /// ADDV, SADDLV/UADDLV, SMAXV/UMAXV/SMINV/UMINV (`kind`: 0 add, 1 add
    /// long, 2 max, 3 min).
    fn across(&mut self, q: u32, u: u32, size: u32, kind: u32, rn: u32, rd: u32) -> SemResult<E> {
        if !across_allocated(q, u, size, kind) {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let signed = u == 0;
        let eb = 1u8 << size;
        let bits = eb * 8;
        let va = self.e.get_q(rn);
        let first = self.e.q_lane(va, eb, 0);
        let mut acc = if kind == 1 {
            self.ext(first, bits, signed)
        } else {
            first
        };
        for i in 1..lanes(q, eb) {
            let x = self.e.q_lane(va, eb, i);
            acc = match kind {
                0 => self.binop(BinOp::Add, acc, x),
                1 => {
                    let x = self.ext(x, bits, signed);
                    self.binop(BinOp::Add, acc, x)
                }
                2 => self.sat_op(SatOp::Max { bits, signed }, acc, x),
                _ => self.sat_op(SatOp::Min { bits, signed }, acc, x),
            };
        }
        self.set_scalar(rd, if kind == 1 { 2 * eb } else { eb }, acc);
        Ok(())
    }

    /// Shift by immediate, element-wise opcodes `0xxxx` (vector and scalar).
    #[allow(clippy::too_many_arguments)]
    fn shift_imm_same(
        &mut self,
        scalar: bool,
        q: u32,
        u: u32,
        immh: u32,
        immb: u32,
        opcode: u32,
        rn: u32,
        rd: u32,
    ) -> SemResult<E> {
        let Some(ShiftImm {
            bits,
            right: rsh,
            left: lsh,
        }) = shift_imm(immh, immb)
        else {
            return self.undef();
        };
        if !shift_same_allocated(scalar, q, u, bits, opcode) {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let signed = u == 0;
        let eb = bits / 8;
        let n = if scalar { 1 } else { lanes(q, eb) };
        let va = self.e.get_q(rn);
        let vd = if matches!(opcode, 0b00010 | 0b00110 | 0b01000) || (opcode == 0b01010 && u == 1) {
            Some(self.e.get_q(rd))
        } else {
            None
        };
        let mut r = self.zero_q();
        for i in 0..n {
            let a = self.e.q_lane(va, eb, i);
            let d = vd.map(|vd| self.e.q_lane(vd, eb, i));
            let x = match opcode {
                0b00000..=0b00110 => {
                    let round = opcode & 0b100 != 0;
                    let s = if round {
                        let amount = self.e.imm((-i64::from(rsh)) as u64);
                        let op = SatOp::Shift {
                            bits,
                            signed,
                            round: true,
                            sat: false,
                        };
                        self.sat_op(op, a, amount)
                    } else if signed {
                        // ASR by the element size gives the sign, as does
                        // ASR by one less.
                        let x = self.ext(a, bits, true);
                        self.bin_imm(BinOp::Asr(Width::W64), x, u64::from(rsh.min(u32::from(bits) - 1)))
                    } else if rsh == u32::from(bits) {
                        self.e.imm(0)
                    } else {
                        self.bin_imm(BinOp::Lshr, a, u64::from(rsh))
                    };
                    match d {
                        Some(d) => self.binop(BinOp::Add, d, s),
                        None => s,
                    }
                }
                0b01000 => {
                    // SRI: the top `rsh` bits of each element are kept.
                    let d = d.expect("SRI reads the destination");
                    if rsh == u32::from(bits) {
                        d
                    } else {
                        let s = self.bin_imm(BinOp::Lshr, a, u64::from(rsh));
                        let keep = self.bin_imm(BinOp::And, d, !(mask(bits) >> rsh));
                        self.binop(BinOp::Or, s, keep)
                    }
                }
                0b01010 => {
                    let s = self.bin_imm(BinOp::Shl, a, u64::from(lsh));
                    match d {
                        // SLI: the low `lsh` bits of each element are kept.
                        Some(d) => {
                            let keep = self.bin_imm(BinOp::And, d, !(mask(bits) << lsh));
                            self.binop(BinOp::Or, s, keep)
                        }
                        None => s,
                    }
                }
                0b01100 => {
                    let amount = self.e.imm(u64::from(lsh));
                    self.sat_op(SatOp::ShlSU { bits }, a, amount)
                }
                _ => {
                    let amount = self.e.imm(u64::from(lsh));
                    let op = SatOp::Shift {
                        bits,
                        signed,
                        round: false,
                        sat: true,
                    };
                    self.sat_op(op, a, amount)
                }
            };
            r = self.e.q_with_lane(r, eb, i, x);
        }
        self.e.set_q(rd, r);
        Ok(())
    }

    /// Shift right narrow, `opcode` the low two bits of `100xx`:
    /// SHRN/RSHRN/SQSHRN/SQRSHRN (U = 0), SQSHRUN/SQRSHRUN/UQSHRN/UQRSHRN
    /// (U = 1).
    #[allow(clippy::too_many_arguments)]
    fn shift_narrow(
        &mut self,
        scalar: bool,
        q: u32,
        u: u32,
        immh: u32,
        immb: u32,
        opcode: u32,
        rn: u32,
        rd: u32,
    ) -> SemResult<E> {
        let Some(ShiftImm { bits, right: rsh, .. }) = shift_imm(immh, immb) else {
            return self.undef();
        };
        if !shift_narrow_allocated(scalar, u, bits, opcode) {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let eb = bits / 8;
        let round = opcode & 1 != 0;
        // (signed input, saturation: None or Some(signed output))
        let (signed_in, sat) = match (u, opcode >> 1) {
            (0, 0) => (false, None),
            (0, _) => (true, Some(true)),
            (_, 0) => (true, Some(false)),
            _ => (false, Some(false)),
        };
        let n = if scalar { 1 } else { 8 / eb };
        let off = if scalar { 0 } else { q as u8 * n };
        let va = self.e.get_q(rn);
        let mut r = if !scalar && q == 1 {
            self.e.get_q(rd)
        } else {
            self.zero_q()
        };
        for i in 0..n {
            let a = self.e.q_lane(va, 2 * eb, i);
            let s = if round || signed_in {
                // The shifted value fits in 2 * bits bits whatever the
                // rounding, so the wide truncation loses nothing.
                let amount = self.e.imm((-i64::from(rsh)) as u64);
                let op = SatOp::Shift {
                    bits: 2 * bits,
                    signed: signed_in,
                    round,
                    sat: false,
                };
                self.sat_op(op, a, amount)
            } else {
                self.bin_imm(BinOp::Lshr, a, u64::from(rsh))
            };
            let x = match sat {
                None => s,
                Some(signed_out) => {
                    let op = SatOp::Narrow {
                        bits,
                        signed_in,
                        signed_out,
                    };
                    self.sat_op(op, s, s)
                }
            };
            r = self.e.q_with_lane(r, eb, off + i, x);
        }
        self.e.set_q(rd, r);
        Ok(())
    }

    /// The by-element forms: `opcode` is the by-element opcode.
    #[allow(clippy::too_many_arguments)]
    fn by_elem(
        &mut self,
        scalar: bool,
        q: u32,
        u: u32,
        size: u32,
        l: u32,
        m: u32,
        rm: u32,
        opcode: u32,
        h: u32,
        rn: u32,
        rd: u32,
    ) -> SemResult<E> {
        let Some((rm, index)) = elem_index(size, l, m, h, rm) else {
            return self.undef();
        };
        self.e.check_fp_enabled()?;
        let signed = u == 0;
        let eb = 1u8 << size;
        let bits = eb * 8;
        let va = self.e.get_q(rn);
        let vm = self.e.get_q(rm);
        let b = self.e.q_lane(vm, eb, index);
        let long = matches!(opcode, 0b0010 | 0b0011 | 0b0110 | 0b0111 | 0b1010 | 0b1011);
        if long {
            // The three-different opcode of the same operation.
            let op3 = match opcode {
                0b0010 => 0b1000,
                0b0011 => 0b1001,
                0b0110 => 0b1010,
                0b0111 => 0b1011,
                0b1010 => 0b1100,
                _ => 0b1101,
            };
            let n = if scalar { 1 } else { 8 / eb };
            let off = if scalar { 0 } else { q as u8 * n };
            let vd = if op3 == 0b1100 || op3 == 0b1101 {
                None
            } else {
                Some(self.e.get_q(rd))
            };
            let mut r = self.zero_q();
            for i in 0..n {
                let a = self.e.q_lane(va, eb, off + i);
                let d = vd.map(|vd| self.e.q_lane(vd, 2 * eb, i));
                let x = self.long_lane(op3, signed, bits, a, b, d);
                r = self.e.q_with_lane(r, 2 * eb, i, x);
            }
            self.e.set_q(rd, r);
            return Ok(());
        }
        let n = if scalar { 1 } else { lanes(q, eb) };
        let vd = if u == 1 { Some(self.e.get_q(rd)) } else { None };
        let mut r = self.zero_q();
        for i in 0..n {
            let a = self.e.q_lane(va, eb, i);
            let x = match opcode {
                0b1100 | 0b1101 => {
                    let op = SatOp::DoublingMulHigh {
                        bits,
                        round: opcode == 0b1101,
                    };
                    self.sat_op(op, a, b)
                }
                _ => {
                    // MUL (1000), MLA (0000, U = 1), MLS (0100, U = 1).
                    let p = self.binop(BinOp::Mul, a, b);
                    match vd {
                        Some(vd) => {
                            let d = self.e.q_lane(vd, eb, i);
                            self.binop(if opcode == 0 { BinOp::Add } else { BinOp::Sub }, d, p)
                        }
                        None => p,
                    }
                }
            };
            r = self.e.q_with_lane(r, eb, i, x);
        }
        self.e.set_q(rd, r);
        Ok(())
    }
}

impl<E: Emitter> SimdIntVisitor for Translate<'_, E> {
    fn simd_3same(&mut self, q: u32, u: u32, size: u32, rm: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        self.three_same(false, q, u, size, rm, opcode, rn, rd)
    }

    fn simd_3same_hi(&mut self, q: u32, u: u32, size: u32, rm: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        self.three_same(false, q, u, size, rm, 0b10000 | opcode, rn, rd)
    }

    fn simd_3diff(&mut self, q: u32, u: u32, size: u32, rm: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        self.three_diff(false, q, u, size, rm, opcode, rn, rd)
    }

    fn simd_3diff_hi(&mut self, q: u32, u: u32, size: u32, rm: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        self.three_diff(false, q, u, size, rm, 0b1000 | opcode, rn, rd)
    }

    fn simd_3diff_mul(&mut self, q: u32, u: u32, size: u32, rm: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        self.three_diff(false, q, u, size, rm, 0b1100 | opcode, rn, rd)
    }

    fn simd_pmull8(&mut self, q: u32, rm: u32, rn: u32, rd: u32) -> Self::Out {
        self.three_diff(false, q, 0, 0, rm, 0b1110, rn, rd)
    }

    fn simd_2misc(&mut self, q: u32, u: u32, size: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        self.two_misc(false, q, u, size, opcode, rn, rd)
    }

    fn simd_2misc_cmp(&mut self, q: u32, u: u32, size: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        self.two_misc(false, q, u, size, 0b01000 | opcode, rn, rd)
    }

    fn simd_2misc_xtn(&mut self, q: u32, u: u32, size: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        self.two_misc(false, q, u, size, 0b10010 | opcode, rn, rd)
    }

    fn simd_2misc_qxtn(&mut self, q: u32, u: u32, size: u32, rn: u32, rd: u32) -> Self::Out {
        self.two_misc(false, q, u, size, 0b10100, rn, rd)
    }

    fn simd_addlv(&mut self, q: u32, u: u32, size: u32, rn: u32, rd: u32) -> Self::Out {
        self.across(q, u, size, 1, rn, rd)
    }

    fn simd_maxv(&mut self, q: u32, u: u32, size: u32, op: u32, rn: u32, rd: u32) -> Self::Out {
        self.across(q, u, size, 2 + op, rn, rd)
    }

    fn simd_addv(&mut self, q: u32, u: u32, size: u32, rn: u32, rd: u32) -> Self::Out {
        self.across(q, u, size, 0, rn, rd)
    }

    #[allow(clippy::too_many_arguments)]
    fn simd_mod_imm(&mut self, q: u32, op: u32, abc: u32, cmode: u32, o2: u32, defgh: u32, rd: u32) -> Self::Out {
        let imm8 = ((abc << 5) | defgh) as u8;
        // FMOV (vector, immediate) of a double: op = 1, cmode = 1111, Q = 1.
        let fmov_d = op == 1 && cmode == 0b1111;
        let imm = if fmov_d {
            (q == 1).then(|| vfp_expand_imm64(imm8))
        } else {
            adv_simd_expand_imm(op, cmode, imm8)
        };
        // o2 = 1 is FMOV of a half (FEAT_FP16, not implemented).
        let Some(imm) = imm.filter(|_| o2 == 0) else {
            return self.undef();
        };
        self.e.check_fp_enabled()?;
        let imm = if op == 1 && cmode < 0b1110 { !imm } else { imm };
        let wide = if q == 1 {
            u128::from(imm) | (u128::from(imm) << 64)
        } else {
            u128::from(imm)
        };
        let c = self.e.q_imm(wide);
        // ORR / BIC: the odd cmodes below 1100.
        if cmode & 1 == 1 && cmode < 0b1100 {
            let d = self.e.get_q(rd);
            // BIC's immediate is already inverted above: AND with it.
            let r = self.e.q_op(if op == 1 { QOp::And } else { QOp::Orr }, d, c);
            self.set_vec(rd, q, r);
        } else {
            self.e.set_q(rd, c);
        }
        Ok(())
    }

    fn simd_shift_imm(&mut self, q: u32, u: u32, immh: u32, immb: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        self.shift_imm_same(false, q, u, immh, immb, opcode, rn, rd)
    }

    fn simd_shift_narrow(&mut self, q: u32, u: u32, immh: u32, immb: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        self.shift_narrow(false, q, u, immh, immb, opcode, rn, rd)
    }

    fn simd_shift_long(&mut self, q: u32, u: u32, immh: u32, immb: u32, rn: u32, rd: u32) -> Self::Out {
        // SSHLL / USHLL (SXTL / UXTL with shift 0).
        let Some(ShiftImm { bits, left: lsh, .. }) = shift_imm(immh, immb) else {
            return self.undef();
        };
        if bits == 64 {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let eb = bits / 8;
        let n = 8 / eb;
        let va = self.e.get_q(rn);
        let mut r = self.zero_q();
        for i in 0..n {
            let a = self.e.q_lane(va, eb, q as u8 * n + i);
            let a = self.ext(a, bits, u == 0);
            let x = self.bin_imm(BinOp::Shl, a, u64::from(lsh));
            r = self.e.q_with_lane(r, 2 * eb, i, x);
        }
        self.e.set_q(rd, r);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn simd_elem_mlal(
        &mut self,
        q: u32,
        u: u32,
        size: u32,
        l: u32,
        m: u32,
        rm: u32,
        opcode: u32,
        h: u32,
        rn: u32,
        rd: u32,
    ) -> Self::Out {
        self.by_elem(false, q, u, size, l, m, rm, 0b0010 | (opcode << 2), h, rn, rd)
    }

    #[allow(clippy::too_many_arguments)]
    fn simd_elem_mull(
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
        self.by_elem(false, q, u, size, l, m, rm, 0b1010, h, rn, rd)
    }

    #[allow(clippy::too_many_arguments)]
    fn simd_elem_sqdml(
        &mut self,
        q: u32,
        size: u32,
        l: u32,
        m: u32,
        rm: u32,
        opcode: u32,
        h: u32,
        rn: u32,
        rd: u32,
    ) -> Self::Out {
        self.by_elem(false, q, 0, size, l, m, rm, 0b0011 | (opcode << 2), h, rn, rd)
    }

    #[allow(clippy::too_many_arguments)]
    fn simd_elem_sqdmull(&mut self, q: u32, size: u32, l: u32, m: u32, rm: u32, h: u32, rn: u32, rd: u32) -> Self::Out {
        self.by_elem(false, q, 0, size, l, m, rm, 0b1011, h, rn, rd)
    }

    #[allow(clippy::too_many_arguments)]
    fn simd_elem_sqdmulh(
        &mut self,
        q: u32,
        size: u32,
        l: u32,
        m: u32,
        rm: u32,
        opcode: u32,
        h: u32,
        rn: u32,
        rd: u32,
    ) -> Self::Out {
        self.by_elem(false, q, 0, size, l, m, rm, 0b1100 | opcode, h, rn, rd)
    }

    #[allow(clippy::too_many_arguments)]
    fn simd_elem_mul(&mut self, q: u32, size: u32, l: u32, m: u32, rm: u32, h: u32, rn: u32, rd: u32) -> Self::Out {
        self.by_elem(false, q, 0, size, l, m, rm, 0b1000, h, rn, rd)
    }

    #[allow(clippy::too_many_arguments)]
    fn simd_elem_mla(
        &mut self,
        q: u32,
        size: u32,
        l: u32,
        m: u32,
        rm: u32,
        opcode: u32,
        h: u32,
        rn: u32,
        rd: u32,
    ) -> Self::Out {
        self.by_elem(false, q, 1, size, l, m, rm, opcode << 2, h, rn, rd)
    }

    fn simd_s3same(&mut self, u: u32, size: u32, rm: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        self.three_same(true, 0, u, size, rm, opcode, rn, rd)
    }

    fn simd_s3same_hi(&mut self, u: u32, size: u32, rm: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        self.three_same(true, 0, u, size, rm, 0b10000 | opcode, rn, rd)
    }

    fn simd_s3diff(&mut self, u: u32, size: u32, rm: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        self.three_diff(true, 0, u, size, rm, opcode, rn, rd)
    }

    fn simd_s2misc_sat(&mut self, u: u32, size: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        self.two_misc(true, 0, u, size, 0b00011 | (opcode << 2), rn, rd)
    }

    fn simd_s2misc_cmp(&mut self, u: u32, size: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        self.two_misc(true, 0, u, size, 0b01000 | opcode, rn, rd)
    }

    fn simd_s2misc_xtun(&mut self, u: u32, size: u32, rn: u32, rd: u32) -> Self::Out {
        self.two_misc(true, 0, u, size, 0b10010, rn, rd)
    }

    fn simd_s2misc_qxtn(&mut self, u: u32, size: u32, rn: u32, rd: u32) -> Self::Out {
        self.two_misc(true, 0, u, size, 0b10100, rn, rd)
    }

    fn simd_saddp(&mut self, u: u32, size: u32, rn: u32, rd: u32) -> Self::Out {
        if u != 0 || size != 3 {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let va = self.e.get_q(rn);
        let a = self.e.q_lane(va, 8, 0);
        let b = self.e.q_lane(va, 8, 1);
        let s = self.binop(BinOp::Add, a, b);
        self.set_scalar(rd, 8, s);
        Ok(())
    }

    fn simd_sshift_imm(&mut self, u: u32, immh: u32, immb: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        self.shift_imm_same(true, 0, u, immh, immb, opcode, rn, rd)
    }

    fn simd_sshift_narrow(&mut self, u: u32, immh: u32, immb: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        self.shift_narrow(true, 0, u, immh, immb, opcode, rn, rd)
    }

    #[allow(clippy::too_many_arguments)]
    fn simd_selem_sqdml(
        &mut self,
        size: u32,
        l: u32,
        m: u32,
        rm: u32,
        opcode: u32,
        h: u32,
        rn: u32,
        rd: u32,
    ) -> Self::Out {
        self.by_elem(true, 0, 0, size, l, m, rm, 0b0011 | (opcode << 2), h, rn, rd)
    }

    #[allow(clippy::too_many_arguments)]
    fn simd_selem_sqdmull(&mut self, size: u32, l: u32, m: u32, rm: u32, h: u32, rn: u32, rd: u32) -> Self::Out {
        self.by_elem(true, 0, 0, size, l, m, rm, 0b1011, h, rn, rd)
    }

    #[allow(clippy::too_many_arguments)]
    fn simd_selem_sqdmulh(
        &mut self,
        size: u32,
        l: u32,
        m: u32,
        rm: u32,
        opcode: u32,
        h: u32,
        rn: u32,
        rd: u32,
    ) -> Self::Out {
        self.by_elem(true, 0, 0, size, l, m, rm, 0b1100 | opcode, h, rn, rd)
    }
}
