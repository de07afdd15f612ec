//! Semantics of group `fp`: Scalar floating point.
//!
//! Every instruction rejects its unallocated encodings, checks that FP is
//! enabled (CPACR_EL1.FPEN), then reads its operands from lane 0 of the V
//! registers, computes through [`Emitter::fp`] (the arithmetic lives in
//! `crate::fp`) and writes lane 0 of V[d] with the rest of the register
//! zeroed. Half precision is accepted only by FCVT (no FEAT_FP16).

use super::*;
use crate::isa::FpVisitor;

/// The FCVT{N,P,M,Z}* rounding of the `rmode` field.
fn rmode_rounding(rmode: u32) -> Rounding {
    match rmode & 3 {
        0 => Rounding::TieEven,
        1 => Rounding::PosInf,
        2 => Rounding::NegInf,
        _ => Rounding::Zero,
    }
}

/// The arithmetic format of `ftype`: single or double (half precision
/// needs FEAT_FP16).
fn arith_size(ftype: u32) -> Option<FpSize> {
    match ftype {
        0 => Some(FpSize::S),
        1 => Some(FpSize::D),
        _ => None,
    }
}

impl<E: Emitter> Translate<'_, E> {
    /// Lane 0 of V[r] as an element of `size`.
    fn sfp_get(&mut self, r: u32, size: FpSize) -> E::V {
        let q = self.e.get_q(r);
        self.e.q_lane(q, size.bytes(), 0)
    }

    /// Writes a scalar: lane 0 of V[rd], the rest of the register zero.
    fn sfp_set(&mut self, rd: u32, size: FpSize, v: E::V) {
        let zero = self.e.q_imm(0);
        let q = self.e.q_with_lane(zero, size.bytes(), 0, v);
        self.e.set_q(rd, q);
    }
}

impl<E: Emitter> FpVisitor for Translate<'_, E> {
    fn fp_dp1(&mut self, ftype: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let Some(size) = FpSize::from_ftype(ftype) else {
            return self.undef();
        };
        let half = size == FpSize::H;
        enum Kind {
            Move,
            Op(FpOp),
            Convert(FpSize),
        }
        let kind = match opcode {
            0 if !half => Kind::Move,
            1 if !half => Kind::Op(FpOp::Abs),
            2 if !half => Kind::Op(FpOp::Neg),
            3 if !half => Kind::Op(FpOp::Sqrt),
            // FCVT: opc (opcode<1:0>) is the destination type; 10 is BFCVT
            // (FEAT_BF16, not implemented).
            4 | 5 | 7 => match FpSize::from_ftype(opcode & 3) {
                Some(to) if to != size => Kind::Convert(to),
                _ => return self.undef(),
            },
            8..=15 if !half && opcode != 13 => {
                let mode = match opcode {
                    8 => Some(Rounding::TieEven),
                    9 => Some(Rounding::PosInf),
                    10 => Some(Rounding::NegInf),
                    11 => Some(Rounding::Zero),
                    12 => Some(Rounding::TieAway),
                    _ => None, // FRINTX (14), FRINTI (15): FPCR.RMode
                };
                Kind::Op(FpOp::RoundInt {
                    mode,
                    exact: opcode == 14,
                })
            }
            // FRINT32*/FRINT64* (FEAT_FRINTTS) and the rest: unallocated.
            _ => return self.undef(),
        };
        self.e.check_fp_enabled()?;
        let v = self.sfp_get(rn, size);
        match kind {
            Kind::Move => self.sfp_set(rd, size, v),
            Kind::Op(op) => {
                let r = self.e.fp(op, size, &[v]);
                self.sfp_set(rd, size, r);
            }
            Kind::Convert(to) => {
                let r = self.e.fp(FpOp::Convert { to }, size, &[v]);
                self.sfp_set(rd, to, r);
            }
        }
        Ok(())
    }

    fn fp_dp2(&mut self, ftype: u32, rm: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let Some(size) = arith_size(ftype) else {
            return self.undef();
        };
        let op = match opcode {
            0 => FpOp::Mul,
            1 => FpOp::Div,
            2 => FpOp::Add,
            3 => FpOp::Sub,
            4 => FpOp::Max,
            5 => FpOp::Min,
            6 => FpOp::MaxNum,
            7 => FpOp::MinNum,
            8 => FpOp::NegMul,
            _ => return self.undef(),
        };
        self.e.check_fp_enabled()?;
        let a = self.sfp_get(rn, size);
        let b = self.sfp_get(rm, size);
        let r = self.e.fp(op, size, &[a, b]);
        self.sfp_set(rd, size, r);
        Ok(())
    }

    fn fp_dp3(&mut self, ftype: u32, o1: u32, rm: u32, o0: u32, ra: u32, rn: u32, rd: u32) -> Self::Out {
        let Some(size) = arith_size(ftype) else {
            return self.undef();
        };
        // FMADD, FMSUB (Vn negated), FNMADD (Va and Vn negated), FNMSUB
        // (Va negated): the negations happen before the fused operation.
        let op = match (o1, o0) {
            (0, 0) => FpOp::MulAdd,
            (0, _) => FpOp::MulSub,
            (_, 0) => FpOp::NegMulAdd,
            _ => FpOp::NegMulSub,
        };
        self.e.check_fp_enabled()?;
        let a = self.sfp_get(ra, size);
        let n = self.sfp_get(rn, size);
        let m = self.sfp_get(rm, size);
        let r = self.e.fp(op, size, &[a, n, m]);
        self.sfp_set(rd, size, r);
        Ok(())
    }

    fn fp_cmp(&mut self, ftype: u32, rm: u32, op: u32, rn: u32, opcode2: u32) -> Self::Out {
        let Some(size) = arith_size(ftype) else {
            return self.undef();
        };
        if op != 0 || opcode2 & 7 != 0 {
            return self.undef();
        }
        let signaling = opcode2 & 0x10 != 0;
        // The #0.0 forms ignore Rm (a should-be-zero field).
        let with_zero = opcode2 & 8 != 0;
        self.e.check_fp_enabled()?;
        let a = self.sfp_get(rn, size);
        let b = if with_zero {
            self.e.imm(0)
        } else {
            self.sfp_get(rm, size)
        };
        let nzcv = self.e.fp(FpOp::Compare { signaling }, size, &[a, b]);
        self.e.set_nzcv(nzcv);
        Ok(())
    }

    fn fp_ccmp(&mut self, ftype: u32, rm: u32, cond: u32, rn: u32, op: u32, nzcv: u32) -> Self::Out {
        let Some(size) = arith_size(ftype) else {
            return self.undef();
        };
        self.e.check_fp_enabled()?;
        let flags = self.e.get_nzcv();
        let holds = self.e.cond_holds(flags, cond);
        let a = self.sfp_get(rn, size);
        let b = self.sfp_get(rm, size);
        // The comparison (and its exceptions) happens only when the
        // condition holds: otherwise +0 is compared with +0, which raises
        // nothing, and the result is discarded.
        let zero = self.e.imm(0);
        let a = self.e.select(holds, a, zero);
        let b = self.e.select(holds, b, zero);
        let cmp = self.e.fp(FpOp::Compare { signaling: op == 1 }, size, &[a, b]);
        let given = self.e.imm(u64::from(nzcv) << 28);
        let r = self.e.select(holds, cmp, given);
        self.e.set_nzcv(r);
        Ok(())
    }

    fn fp_csel(&mut self, ftype: u32, rm: u32, cond: u32, rn: u32, rd: u32) -> Self::Out {
        let Some(size) = arith_size(ftype) else {
            return self.undef();
        };
        self.e.check_fp_enabled()?;
        let flags = self.e.get_nzcv();
        let holds = self.e.cond_holds(flags, cond);
        let a = self.sfp_get(rn, size);
        let b = self.sfp_get(rm, size);
        let r = self.e.select(holds, a, b);
        self.sfp_set(rd, size, r);
        Ok(())
    }

    fn fp_imm(&mut self, ftype: u32, imm8: u32, imm5: u32, rd: u32) -> Self::Out {
        let Some(size) = arith_size(ftype) else {
            return self.undef();
        };
        if imm5 != 0 {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let v = self.e.imm(crate::fp::vfp_expand_imm(imm8, size));
        self.sfp_set(rd, size, v);
        Ok(())
    }

    fn fp_int(&mut self, sf: u32, ftype: u32, rmode: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let w = Width::from_sf(sf);
        let bits = w.bits() as u8;
        match (opcode, rmode) {
            // FCVT{N,P,M,Z}{S,U}, FCVTA{S,U}: FP to integer.
            (0 | 1, _) | (4 | 5, 0) => {
                let Some(size) = arith_size(ftype) else {
                    return self.undef();
                };
                let mode = if opcode >= 4 {
                    Rounding::TieAway
                } else {
                    rmode_rounding(rmode)
                };
                self.e.check_fp_enabled()?;
                let v = self.sfp_get(rn, size);
                let op = FpOp::ToInt {
                    signed: opcode & 1 == 0,
                    bits,
                    mode: Some(mode),
                    fbits: 0,
                };
                let r = self.e.fp(op, size, &[v]);
                self.set_xzr(rd, r, w);
            }
            // SCVTF, UCVTF: integer to FP, rounded per FPCR.
            (2 | 3, 0) => {
                let Some(size) = arith_size(ftype) else {
                    return self.undef();
                };
                self.e.check_fp_enabled()?;
                let x = self.xzr(rn, w);
                let op = FpOp::FromInt {
                    signed: opcode == 2,
                    bits,
                    fbits: 0,
                };
                let r = self.e.fp(op, size, &[x]);
                self.sfp_set(rd, size, r);
            }
            // FMOV between general and FP registers: W <-> S, X <-> D,
            // X <-> V.D[1] (the other half of V unchanged). The H forms
            // need FEAT_FP16; FJCVTZS (sf 0, ftype 01, rmode 11) FEAT_JSCVT.
            (6 | 7, _) => {
                let to_fp = opcode == 7;
                match (sf, ftype, rmode) {
                    (0, 0, 0) | (1, 1, 0) => {
                        let size = if sf == 1 { FpSize::D } else { FpSize::S };
                        self.e.check_fp_enabled()?;
                        if to_fp {
                            let x = self.xzr(rn, w);
                            self.sfp_set(rd, size, x);
                        } else {
                            let v = self.sfp_get(rn, size);
                            self.set_xzr(rd, v, w);
                        }
                    }
                    (1, 2, 1) => {
                        self.e.check_fp_enabled()?;
                        if to_fp {
                            let x = self.xzr(rn, Width::W64);
                            let q = self.e.get_q(rd);
                            let q = self.e.q_with_lane(q, 8, 1, x);
                            self.e.set_q(rd, q);
                        } else {
                            let q = self.e.get_q(rn);
                            let v = self.e.q_lane(q, 8, 1);
                            self.set_xzr(rd, v, Width::W64);
                        }
                    }
                    _ => return self.undef(),
                }
            }
            _ => return self.undef(),
        }
        Ok(())
    }

    fn fp_fixed(&mut self, sf: u32, ftype: u32, rmode: u32, opcode: u32, scale: u32, rn: u32, rd: u32) -> Self::Out {
        let Some(size) = arith_size(ftype) else {
            return self.undef();
        };
        // A 32-bit integer has at most 32 fraction bits.
        if sf == 0 && scale < 32 {
            return self.undef();
        }
        let w = Width::from_sf(sf);
        let bits = w.bits() as u8;
        let fbits = (64 - scale) as u8;
        match (rmode, opcode) {
            (0, 2 | 3) => {
                self.e.check_fp_enabled()?;
                let x = self.xzr(rn, w);
                let op = FpOp::FromInt {
                    signed: opcode == 2,
                    bits,
                    fbits,
                };
                let r = self.e.fp(op, size, &[x]);
                self.sfp_set(rd, size, r);
            }
            (3, 0 | 1) => {
                self.e.check_fp_enabled()?;
                let v = self.sfp_get(rn, size);
                let op = FpOp::ToInt {
                    signed: opcode == 0,
                    bits,
                    mode: Some(Rounding::Zero),
                    fbits,
                };
                let r = self.e.fp(op, size, &[v]);
                self.set_xzr(rd, r, w);
            }
            _ => return self.undef(),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Hand-checked behaviour of each class. Random words of every row of
    //! `isa/20-fp.isa` (defined and UNDEFINED), on special values under
    //! random FPCR modes, are compared with QEMU by the differential test,
    //! `tests/diff_qemu.rs` (FP/SIMD cases).

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

    /// The registers a case sets and compares.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    struct Regs {
        v: [u128; 4],
        x: [u64; 4],
        nzcv: u32,
        fpsr: u64,
    }

    fn core(fpcr_v: u64, r: &Regs) -> Cpu {
        let mut cpu = Cpu::new(0, CpuConfig::cortex_a57(0), PC);
        cpu.sys.set(SysReg::CPACR_EL1, 3 << 20);
        cpu.sys.set(SysReg::FPCR, fpcr_v);
        cpu.v[..4].copy_from_slice(&r.v);
        cpu.x[..4].copy_from_slice(&r.x);
        cpu.pstate.nzcv = r.nzcv;
        cpu
    }

    fn regs(cpu: &Cpu) -> Regs {
        Regs {
            v: cpu.v[..4].try_into().unwrap(),
            x: cpu.x[..4].try_into().unwrap(),
            nzcv: cpu.pstate.nzcv,
            fpsr: cpu.sys.get(SysReg::FPSR),
        }
    }

    /// Executes `raw` once; it must not raise an exception.
    fn exec(raw: u32, fpcr_v: u64, r: &Regs) -> Regs {
        let mut cpu = core(fpcr_v, r);
        let res = cpu.step(&mut OneWord(raw));
        assert!(res.is_ok(), "{raw:08x} `{}` stopped: {res:?}", disassemble(raw, PC));
        regs(&cpu)
    }

    const JUNK: u128 = 0xdead_beef_dead_beef_dead_beef_dead_beef;

    #[test]
    fn arithmetic_writes_lane_zero_and_clears_the_rest() {
        // fadd s0, s1, s2: 1.5 + 2.25
        let r = Regs {
            v: [JUNK, JUNK << 32 | 0x3fc0_0000, 0x4010_0000, JUNK],
            ..Default::default()
        };
        let out = exec(0x1e22_2820, 0, &r);
        assert_eq!(out.v[0], 0x4070_0000);
        assert_eq!(out.fpsr, 0);
        // fmadd d0, d1, d2, d3: 3 + 2 * 0.5 (d3 is the addend)
        let r = Regs {
            v: [
                JUNK,
                0x4000_0000_0000_0000,
                0x3fe0_0000_0000_0000,
                0x4008_0000_0000_0000,
            ],
            ..Default::default()
        };
        assert_eq!(exec(0x1f42_0c20, 0, &r).v[0], 0x4010_0000_0000_0000);
        // fcvt h0, s1 under AHP: infinity is Invalid and saturates.
        let r = Regs {
            v: [JUNK, 0x7f80_0000, 0, 0],
            ..Default::default()
        };
        let out = exec(0x1e23_c020, fpcr::AHP, &r);
        assert_eq!((out.v[0], out.fpsr), (0x7fff, u64::from(fpsr::IOC)));
        // fmov s0, #1.0; fmov d0, #-0.125
        assert_eq!(exec(0x1e2e_1000, 0, &r).v[0], 0x3f80_0000);
        assert_eq!(exec(0x1e78_1000, 0, &r).v[0], 0xbfc0_0000_0000_0000);
    }

    #[test]
    fn fmov_general() {
        let r = Regs {
            v: [JUNK, JUNK, 0, 0],
            x: [0, 0x1122_3344_5566_7788, 0, 0],
            ..Default::default()
        };
        // fmov s0, w1: zero-extended into the whole of V0.
        assert_eq!(exec(0x1e27_0020, 0, &r).v[0], 0x5566_7788);
        // fmov d0, x1
        assert_eq!(exec(0x9e67_0020, 0, &r).v[0], 0x1122_3344_5566_7788);
        // fmov v0.d[1], x1: the low half stays.
        let v0 = exec(0x9eaf_0020, 0, &r).v[0];
        assert_eq!(v0, (0x1122_3344_5566_7788u128 << 64) | (JUNK & u128::from(u64::MAX)));
        // fmov x0, v1.d[1]; fmov w0, s1; fmov x0, d1
        assert_eq!(exec(0x9eae_0020, 0, &r).x[0], (JUNK >> 64) as u64);
        assert_eq!(exec(0x1e26_0020, 0, &r).x[0], 0xdead_beef);
        assert_eq!(exec(0x9e66_0020, 0, &r).x[0], JUNK as u64);
    }

    #[test]
    fn conversions_with_general_registers() {
        let r = Regs {
            v: [0, 0xc0a8_0000, 0x4f80_0000, 0], // s1 = -5.25, s2 = 2^32
            x: [0, (-3i64) as u64, 0, 0],
            ..Default::default()
        };
        // fcvtzs w0, s1 -> -5 (zero-extended W result), inexact.
        let out = exec(0x1e38_0020, 0, &r);
        assert_eq!((out.x[0], out.fpsr), (0xffff_fffb, u64::from(fpsr::IXC)));
        // fcvtms x0, s1 -> -6
        assert_eq!(exec(0x9e30_0020, 0, &r).x[0], (-6i64) as u64);
        // fcvtzu w0, s2: saturates.
        let out = exec(0x1e39_0040, 0, &r);
        assert_eq!((out.x[0], out.fpsr), (0xffff_ffff, u64::from(fpsr::IOC)));
        // scvtf d0, x1 -> -3.0; ucvtf s0, w1, #1 -> 0xfffffffd / 2, rounded
        // to 2^31
        assert_eq!(exec(0x9e62_0020, 0, &r).v[0], 0xc008_0000_0000_0000);
        assert_eq!(exec(0x1e03_fc20, 0, &r).v[0], 0x4f00_0000);
        // fcvtzs w0, s1, #2 -> -21
        assert_eq!(exec(0x1e18_f820, 0, &r).x[0], u64::from((-21i32) as u32));
    }

    #[test]
    fn compares_and_selects() {
        let nan = Regs {
            v: [0, 0x7fc0_0000, 0x3f80_0000, 0],
            nzcv: 0x4000_0000,
            ..Default::default()
        };
        // fcmp s1, s2 with a quiet NaN: unordered (C, V), no exception.
        let out = exec(0x1e22_2020, 0, &nan);
        assert_eq!((out.nzcv, out.fpsr), (0x3000_0000, 0));
        // fcmpe s1, s2: Invalid.
        let out = exec(0x1e22_2030, 0, &nan);
        assert_eq!((out.nzcv, out.fpsr), (0x3000_0000, u64::from(fpsr::IOC)));
        // fcmp s2, #0.0 (Rm ignored) -> greater.
        assert_eq!(exec(0x1e20_2048, 0, &nan).nzcv, 0x2000_0000);
        // fccmpe s1, s2, #5, ne with Z set: the condition fails, NZCV = 5,
        // and the NaN raises nothing.
        let out = exec(0x1e22_1435, 0, &nan);
        assert_eq!((out.nzcv, out.fpsr), (0x5000_0000, 0));
        // fccmpe s1, s2, #5, eq: compares.
        let out = exec(0x1e22_0435, 0, &nan);
        assert_eq!((out.nzcv, out.fpsr), (0x3000_0000, u64::from(fpsr::IOC)));
        // fcsel s0, s1, s2, eq / ne
        assert_eq!(exec(0x1e22_0c20, 0, &nan).v[0], 0x7fc0_0000);
        assert_eq!(exec(0x1e22_1c20, 0, &nan).v[0], 0x3f80_0000);
    }

    #[test]
    fn fp_disabled_traps() {
        let mut cpu = core(0, &Regs::default());
        cpu.sys.set(SysReg::CPACR_EL1, 0);
        assert!(cpu.step(&mut OneWord(0x1e22_2820)).is_err());
        assert_eq!(cpu.sys.get(SysReg::ESR_EL1) >> 26, 0x07);
    }

    #[test]
    fn fpcr_and_fpsr_accesses_trap_while_fp_is_disabled() {
        // mrs x1, fpsr / msr fpsr, x1 / mrs x1, fpcr / msr fpcr, x1
        for raw in [0xd53b_4421, 0xd51b_4421, 0xd53b_4401, 0xd51b_4401] {
            let r = Regs {
                x: [0, 0xffff_ffff_ffff_ffff, 0, 0],
                fpsr: 0,
                ..Default::default()
            };
            let mut cpu = core(0, &r);
            cpu.sys.set(SysReg::CPACR_EL1, 0);
            assert!(cpu.step(&mut OneWord(raw)).is_err(), "{raw:08x}");
            assert_eq!(cpu.sys.get(SysReg::ESR_EL1) >> 26, 0x07, "{raw:08x}");
            assert_eq!(cpu.x[1], u64::MAX, "{raw:08x} wrote x1");
            // Enabled, the write keeps only the writable fields.
            let out = exec(raw, 0, &r);
            if raw == 0xd51b_4421 {
                assert_eq!(out.fpsr, fpsr::WRITABLE);
            }
        }
    }
}
