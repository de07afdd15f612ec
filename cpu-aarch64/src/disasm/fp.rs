//! Disassembly of group `fp`: Scalar floating point.
//!
//! The decode conditions mirror `crate::sem`'s `fp` module: a word prints
//! as `.inst` exactly when the semantics raise UNDEFINED.

use super::*;
use crate::isa::FpVisitor;
use crate::sem::FpSize;

/// An FP register of format `ftype` (00 S, 01 D, 11 H).
fn freg(r: u32, ftype: u32) -> String {
    let c = match ftype {
        0 => 's',
        1 => 'd',
        _ => 'h',
    };
    format!("{c}{r}")
}

/// Single or double: the formats of the arithmetic rows.
fn arith(ftype: u32) -> Option<u32> {
    (ftype < 2).then_some(ftype)
}

/// The FMOV immediate as LLVM prints it (`#%.8f`).
fn fp_imm(imm8: u32) -> String {
    let bits = crate::fp::vfp_expand_imm(imm8, FpSize::D);
    format!("#{:.8}", f64::from_bits(bits))
}

impl FpVisitor for Disasm {
    fn fp_dp1(&mut self, ftype: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        if ftype == 2 {
            return None;
        }
        let half = ftype == 3;
        let mn = match opcode {
            0 if !half => "fmov",
            1 if !half => "fabs",
            2 if !half => "fneg",
            3 if !half => "fsqrt",
            4 | 5 | 7 => {
                let to = opcode & 3;
                if to == ftype {
                    return None;
                }
                return Some(format!("fcvt {}, {}", freg(rd, to), freg(rn, ftype)));
            }
            8 if !half => "frintn",
            9 if !half => "frintp",
            10 if !half => "frintm",
            11 if !half => "frintz",
            12 if !half => "frinta",
            14 if !half => "frintx",
            15 if !half => "frinti",
            _ => return None,
        };
        Some(format!("{mn} {}, {}", freg(rd, ftype), freg(rn, ftype)))
    }

    fn fp_dp2(&mut self, ftype: u32, rm: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let t = arith(ftype)?;
        const NAMES: [&str; 9] = [
            "fmul", "fdiv", "fadd", "fsub", "fmax", "fmin", "fmaxnm", "fminnm", "fnmul",
        ];
        let mn = NAMES.get(opcode as usize)?;
        Some(format!("{mn} {}, {}, {}", freg(rd, t), freg(rn, t), freg(rm, t)))
    }

    fn fp_dp3(&mut self, ftype: u32, o1: u32, rm: u32, o0: u32, ra: u32, rn: u32, rd: u32) -> Self::Out {
        let t = arith(ftype)?;
        let mn = ["fmadd", "fmsub", "fnmadd", "fnmsub"][(o1 * 2 + o0) as usize];
        Some(format!(
            "{mn} {}, {}, {}, {}",
            freg(rd, t),
            freg(rn, t),
            freg(rm, t),
            freg(ra, t)
        ))
    }

    fn fp_cmp(&mut self, ftype: u32, rm: u32, op: u32, rn: u32, opcode2: u32) -> Self::Out {
        let t = arith(ftype)?;
        if op != 0 || opcode2 & 7 != 0 {
            return None;
        }
        let mn = if opcode2 & 0x10 != 0 { "fcmpe" } else { "fcmp" };
        let b = if opcode2 & 8 != 0 {
            "#0.0".to_string()
        } else {
            freg(rm, t)
        };
        Some(format!("{mn} {}, {b}", freg(rn, t)))
    }

    fn fp_ccmp(&mut self, ftype: u32, rm: u32, cnd: u32, rn: u32, op: u32, nzcv: u32) -> Self::Out {
        let t = arith(ftype)?;
        let mn = if op == 1 { "fccmpe" } else { "fccmp" };
        Some(format!(
            "{mn} {}, {}, {}, {}",
            freg(rn, t),
            freg(rm, t),
            imm(u64::from(nzcv)),
            cond(cnd)
        ))
    }

    fn fp_csel(&mut self, ftype: u32, rm: u32, cnd: u32, rn: u32, rd: u32) -> Self::Out {
        let t = arith(ftype)?;
        Some(format!(
            "fcsel {}, {}, {}, {}",
            freg(rd, t),
            freg(rn, t),
            freg(rm, t),
            cond(cnd)
        ))
    }

    fn fp_imm(&mut self, ftype: u32, imm8: u32, imm5: u32, rd: u32) -> Self::Out {
        let t = arith(ftype)?;
        if imm5 != 0 {
            return None;
        }
        Some(format!("fmov {}, {}", freg(rd, t), fp_imm(imm8)))
    }

    fn fp_int(&mut self, sf: u32, ftype: u32, rmode: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let x = sf == 1;
        match (opcode, rmode) {
            (0 | 1, _) | (4 | 5, 0) => {
                let t = arith(ftype)?;
                let m = if opcode >= 4 {
                    'a'
                } else {
                    ['n', 'p', 'm', 'z'][rmode as usize]
                };
                let su = if opcode & 1 == 0 { 's' } else { 'u' };
                Some(format!("fcvt{m}{su} {}, {}", gpr(rd, x), freg(rn, t)))
            }
            (2 | 3, 0) => {
                let t = arith(ftype)?;
                let mn = if opcode == 2 { "scvtf" } else { "ucvtf" };
                Some(format!("{mn} {}, {}", freg(rd, t), gpr(rn, x)))
            }
            (6 | 7, _) => {
                let to_fp = opcode == 7;
                let (g, v) = match (sf, ftype, rmode) {
                    (0, 0, 0) | (1, 1, 0) => (
                        gpr(if to_fp { rn } else { rd }, x),
                        freg(if to_fp { rd } else { rn }, ftype),
                    ),
                    (1, 2, 1) => (
                        gpr(if to_fp { rn } else { rd }, true),
                        format!("v{}.d[1]", if to_fp { rd } else { rn }),
                    ),
                    _ => return None,
                };
                Some(if to_fp {
                    format!("fmov {v}, {g}")
                } else {
                    format!("fmov {g}, {v}")
                })
            }
            _ => None,
        }
    }

    fn fp_fixed(&mut self, sf: u32, ftype: u32, rmode: u32, opcode: u32, scale: u32, rn: u32, rd: u32) -> Self::Out {
        let t = arith(ftype)?;
        if sf == 0 && scale < 32 {
            return None;
        }
        let x = sf == 1;
        let fbits = imm(u64::from(64 - scale));
        match (rmode, opcode) {
            (0, 2 | 3) => {
                let mn = if opcode == 2 { "scvtf" } else { "ucvtf" };
                Some(format!("{mn} {}, {}, {fbits}", freg(rd, t), gpr(rn, x)))
            }
            (3, 0 | 1) => {
                let mn = if opcode == 0 { "fcvtzs" } else { "fcvtzu" };
                Some(format!("{mn} {}, {}, {fbits}", gpr(rd, x), freg(rn, t)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::disassemble;
    use crate::isa::{decode, ROWS};

    /// Every field value of every row (exhaustively over the fields that
    /// select the operation, randomly over register numbers): `.inst`
    /// exactly when the semantics raise UNDEFINED.
    #[test]
    fn inst_marks_exactly_the_undefined_words() {
        let mut x = 0x0f0f_1234_5678_9abcu64;
        for row in ROWS.iter().filter(|r| r.file.ends_with("20-fp.isa")) {
            for _ in 0..50_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let w = ((x >> 16) as u32 & !row.mask) | row.value;
                if decode(w) != Some(row.op) {
                    continue;
                }
                let text = disassemble(w, 0);
                assert_eq!(
                    text.starts_with(".inst"),
                    crate::sem::probe::undefined_at_decode(w),
                    "{} {w:08x} `{text}`",
                    row.name
                );
            }
        }
    }

    #[test]
    fn golden() {
        let cases: &[(u32, &str)] = &[
            (0x1e204020, "fmov s0, s1"),
            (0x1e60c062, "fabs d2, d3"),
            (0x1e61c0e6, "fsqrt d6, d7"),
            (0x1e23c020, "fcvt h0, s1"),
            (0x1ee2c020, "fcvt d0, h1"),
            (0x1e27c020, "frinti s0, s1"),
            (0x1e228820, "fnmul s0, s1, s2"),
            (0x1f628c20, "fnmsub d0, d1, d2, d3"),
            (0x1e202008, "fcmp s0, #0.0"),
            (0x1e612010, "fcmpe d0, d1"),
            (0x1e61141f, "fccmpe d0, d1, #0xf, ne"),
            (0x1e62bc20, "fcsel d0, d1, d2, lt"),
            (0x1e2e1000, "fmov s0, #1.00000000"),
            (0x1e781000, "fmov d0, #-0.12500000"),
            (0x9e650020, "fcvtau x0, d1"),
            (0x9eae0020, "fmov x0, v1.d[1]"),
            (0x9eaf0020, "fmov v0.d[1], x1"),
            (0x1e02f420, "scvtf s0, w1, #3"),
            (0x9e430020, "ucvtf d0, x1, #0x40"),
            (0x1e188020, "fcvtzs w0, s1, #0x20"),
            // Half-precision arithmetic (FEAT_FP16) and FJCVTZS (FEAT_JSCVT)
            // are not implemented.
            (0x1ee22820, ".inst 0x1ee22820"),                        // fadd h0, h1, h2
            (0x1e7e0020, ".inst 0x1e7e0020"),                        // fjcvtzs w0, d1
            (0x1e22c020 | 0x0040_0000 | 0x8000, ".inst 0x1e62c020"), // fcvt d0, d1
        ];
        for &(raw, want) in cases {
            assert_eq!(disassemble(raw, 0), want, "{raw:08x}");
        }
    }
}
