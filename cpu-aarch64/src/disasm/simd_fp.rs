//! Disassembly of group `simd_fp`: AdvSIMD floating point.
//!
//! The mnemonic tables mirror the decode of `sem/simd_fp.rs` entry for
//! entry; `None` marks what the semantics treat as UNDEFINED (checked by
//! `inst_marks_exactly_the_undefined_encodings`).

use super::*;
use crate::isa::SimdFpVisitor;

/// `v<r>.<arrangement>` for `esize`-byte elements in a 64- or 128-bit vector.
fn vreg(r: u32, q: u32, esize: u32) -> String {
    let lanes = if q == 1 { 16 / esize } else { 8 / esize };
    let t = match esize {
        2 => 'h',
        4 => 's',
        _ => 'd',
    };
    format!("v{r}.{lanes}{t}")
}

/// The scalar register `s<r>` (sz = 0) or `d<r>` (sz = 1).
fn freg(r: u32, sz: u32) -> String {
    format!("{}{r}", if sz == 1 { 'd' } else { 's' })
}

/// Element size in bytes from `sz`.
fn esize(sz: u32) -> u32 {
    4 << sz
}

/// Vector three-same mnemonics by `U`, `a`, `opcode<2:0>`.
#[rustfmt::skip]
const THREE_SAME: [[Option<&str>; 8]; 4] = [
    [Some("fmaxnm"), Some("fmla"), Some("fadd"), Some("fmulx"), Some("fcmeq"), None, Some("fmax"), Some("frecps")],
    [Some("fminnm"), Some("fmls"), Some("fsub"), None, None, None, Some("fmin"), Some("frsqrts")],
    [Some("fmaxnmp"), None, Some("faddp"), Some("fmul"), Some("fcmge"), Some("facge"), Some("fmaxp"), Some("fdiv")],
    [Some("fminnmp"), None, Some("fabd"), None, Some("fcmgt"), Some("facgt"), Some("fminp"), None],
];

/// Scalar three-same mnemonics by `U`, `a`, `opcode<2:0>`.
#[rustfmt::skip]
const SCALAR_THREE_SAME: [[Option<&str>; 8]; 4] = [
    [None, None, None, Some("fmulx"), Some("fcmeq"), None, None, Some("frecps")],
    [None, None, None, None, None, None, None, Some("frsqrts")],
    [None, None, None, None, Some("fcmge"), Some("facge"), None, None],
    [None, None, Some("fabd"), None, Some("fcmgt"), Some("facgt"), None, None],
];

/// A two-register misc mnemonic and where it exists.
#[derive(Clone, Copy)]
struct Misc {
    name: &'static str,
    /// Has a vector form.
    vector: bool,
    /// Has a scalar form.
    scalar: bool,
    /// 32-bit elements only (URECPE, URSQRTE).
    single_only: bool,
}

/// Vector and scalar.
const fn vs(name: &'static str) -> Option<Misc> {
    Some(Misc {
        name,
        vector: true,
        scalar: true,
        single_only: false,
    })
}

/// Vector only.
const fn v(name: &'static str) -> Option<Misc> {
    Some(Misc {
        name,
        vector: true,
        scalar: false,
        single_only: false,
    })
}

/// Vector only, 32-bit elements only.
const fn v32(name: &'static str) -> Option<Misc> {
    Some(Misc {
        name,
        vector: true,
        scalar: false,
        single_only: true,
    })
}

/// Scalar only.
const fn s(name: &'static str) -> Option<Misc> {
    Some(Misc {
        name,
        vector: false,
        scalar: true,
        single_only: false,
    })
}

/// Two-register misc mnemonics (opcodes `11xxx`) by `U`, `a`, `opcode<2:0>`.
#[rustfmt::skip]
const MISC: [[Option<Misc>; 8]; 4] = [
    [v("frintn"), v("frintm"), vs("fcvtns"), vs("fcvtms"), vs("fcvtas"), vs("scvtf"), None, None],
    [v("frintp"), v("frintz"), vs("fcvtps"), vs("fcvtzs"), v32("urecpe"), vs("frecpe"), None, s("frecpx")],
    [v("frinta"), v("frintx"), vs("fcvtnu"), vs("fcvtmu"), vs("fcvtau"), vs("ucvtf"), None, None],
    [None, v("frinti"), vs("fcvtpu"), vs("fcvtzu"), v32("ursqrte"), vs("frsqrte"), None, v("fsqrt")],
];

/// A mnemonic of the two-register misc opcodes `011xx` (size<1> = 1).
#[derive(Clone, Copy)]
struct ZeroName {
    name: &'static str,
    /// A comparison with `#0.0` (else FABS/FNEG, vector only).
    cmp: bool,
}

const fn cmp0(name: &'static str) -> Option<ZeroName> {
    Some(ZeroName { name, cmp: true })
}

const fn un(name: &'static str) -> Option<ZeroName> {
    Some(ZeroName { name, cmp: false })
}

/// By `U`, `opcode<1:0>`.
const MISC_ZERO: [[Option<ZeroName>; 4]; 2] = [
    [cmp0("fcmgt"), cmp0("fcmeq"), cmp0("fcmlt"), un("fabs")],
    [cmp0("fcmge"), cmp0("fcmle"), None, un("fneg")],
];

/// Across-lanes / scalar pairwise mnemonic stems by `o1`, `opcode<1:0>`
/// (`add` only pairwise).
fn reduce_stem(o1: u32, opcode: u32, pairwise: bool) -> Option<&'static str> {
    Some(match (o1, opcode) {
        (0, 0) => "fmaxnm",
        (1, 0) => "fminnm",
        (0, 1) if pairwise => "fadd",
        (0, 3) => "fmax",
        (1, 3) => "fmin",
        _ => return None,
    })
}

/// Fixed-point conversion mnemonics by `U`, `opcode<1:0>`.
fn fixed_name(u: u32, opcode: u32) -> Option<&'static str> {
    Some(match (u, opcode) {
        (0, 0) => "scvtf",
        (1, 0) => "ucvtf",
        (0, 3) => "fcvtzs",
        (1, 3) => "fcvtzu",
        _ => return None,
    })
}

/// `v<m>.<T>[<index>]` and the element size (`sz`) of a by-element operand.
fn elem_operand(size: u32, l: u32, m: u32, rm: u32, h: u32) -> Option<(String, u32)> {
    let rm = (m << 4) | rm;
    match (size, l) {
        (2, _) => Some((format!("v{rm}.s[{}]", (h << 1) | l), 0)),
        (3, 0) => Some((format!("v{rm}.d[{h}]"), 1)),
        _ => None,
    }
}

impl SimdFpVisitor for Disasm {
    fn simd_fp_3same(&mut self, q: u32, u: u32, a: u32, sz: u32, rm: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let mn = THREE_SAME[(u * 2 + a) as usize][opcode as usize]?;
        if sz == 1 && q == 0 {
            return None;
        }
        let e = esize(sz);
        Some(format!(
            "{mn} {}, {}, {}",
            vreg(rd, q, e),
            vreg(rn, q, e),
            vreg(rm, q, e)
        ))
    }

    fn simd_fp_misc(&mut self, q: u32, u: u32, a: u32, sz: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let Misc {
            name: mn,
            vector,
            single_only,
            ..
        } = MISC[(u * 2 + a) as usize][opcode as usize]?;
        if !vector || (sz == 1 && (q == 0 || single_only)) {
            return None;
        }
        let e = esize(sz);
        Some(format!("{mn} {}, {}", vreg(rd, q, e), vreg(rn, q, e)))
    }

    fn simd_fp_misc_zero(&mut self, q: u32, u: u32, sz: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let ZeroName { name: mn, cmp } = MISC_ZERO[u as usize][opcode as usize]?;
        if sz == 1 && q == 0 {
            return None;
        }
        let e = esize(sz);
        let zero = if cmp { ", #0.0" } else { "" };
        Some(format!("{mn} {}, {}{zero}", vreg(rd, q, e), vreg(rn, q, e)))
    }

    fn simd_fp_misc_cvt(&mut self, q: u32, u: u32, sz: u32, o: u32, rn: u32, rd: u32) -> Self::Out {
        let (mn, widen) = match (u, o, sz) {
            (0, 0, _) => ("fcvtn", false),
            (0, 1, _) => ("fcvtl", true),
            (1, 0, 1) => ("fcvtxn", false),
            _ => return None,
        };
        let two = if q == 1 { "2" } else { "" };
        let (narrow, wide) = (vreg(rn, q, 2 << sz), vreg(rd, 1, 4 << sz));
        Some(if widen {
            format!("{mn}{two} {wide}, {narrow}")
        } else {
            let (narrow, wide) = (vreg(rd, q, 2 << sz), vreg(rn, 1, 4 << sz));
            format!("{mn}{two} {narrow}, {wide}")
        })
    }

    fn simd_fp_across(&mut self, q: u32, u: u32, o1: u32, sz: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let stem = reduce_stem(o1, opcode, false)?;
        if u == 0 || sz == 1 || q == 0 {
            return None;
        }
        Some(format!("{stem}v s{rd}, v{rn}.4s"))
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
        let (elem, sz) = elem_operand(size, l, m, rm, h)?;
        if sz == 1 && q == 0 {
            return None;
        }
        let mn = if s == 1 { "fmls" } else { "fmla" };
        let e = esize(sz);
        Some(format!("{mn} {}, {}, {elem}", vreg(rd, q, e), vreg(rn, q, e)))
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
        let (elem, sz) = elem_operand(size, l, m, rm, h)?;
        if sz == 1 && q == 0 {
            return None;
        }
        let mn = if u == 1 { "fmulx" } else { "fmul" };
        let e = esize(sz);
        Some(format!("{mn} {}, {}, {elem}", vreg(rd, q, e), vreg(rn, q, e)))
    }

    fn simd_fp_shift_d(&mut self, q: u32, u: u32, imm: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let mn = fixed_name(u, opcode)?;
        if q == 0 {
            return None;
        }
        let fbits = super::imm(u64::from(64 - imm));
        Some(format!("{mn} {}, {}, {fbits}", vreg(rd, q, 8), vreg(rn, q, 8)))
    }

    fn simd_fp_shift_s(&mut self, q: u32, u: u32, imm: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let mn = fixed_name(u, opcode)?;
        let fbits = super::imm(u64::from(32 - imm));
        Some(format!("{mn} {}, {}, {fbits}", vreg(rd, q, 4), vreg(rn, q, 4)))
    }

    fn simd_fp_s_3same(&mut self, u: u32, a: u32, sz: u32, rm: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let mn = SCALAR_THREE_SAME[(u * 2 + a) as usize][opcode as usize]?;
        Some(format!("{mn} {}, {}, {}", freg(rd, sz), freg(rn, sz), freg(rm, sz)))
    }

    fn simd_fp_s_misc(&mut self, u: u32, a: u32, sz: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let m = MISC[(u * 2 + a) as usize][opcode as usize]?;
        if !m.scalar {
            return None;
        }
        let mn = m.name;
        Some(format!("{mn} {}, {}", freg(rd, sz), freg(rn, sz)))
    }

    fn simd_fp_s_misc_zero(&mut self, u: u32, sz: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        // FABS/FNEG have no scalar AdvSIMD form (they are scalar FP).
        let ZeroName { name: mn, cmp } = MISC_ZERO[u as usize][opcode as usize]?;
        if !cmp {
            return None;
        }
        Some(format!("{mn} {}, {}, #0.0", freg(rd, sz), freg(rn, sz)))
    }

    fn simd_fp_s_fcvtxn(&mut self, sz: u32, rn: u32, rd: u32) -> Self::Out {
        if sz == 0 {
            return None;
        }
        Some(format!("fcvtxn s{rd}, d{rn}"))
    }

    fn simd_fp_s_pair(&mut self, u: u32, o1: u32, sz: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let stem = reduce_stem(o1, opcode, true)?;
        if u == 0 {
            return None;
        }
        // Two elements: `.2s` or `.2d`.
        Some(format!("{stem}p {}, {}", freg(rd, sz), vreg(rn, sz, esize(sz))))
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
        let (elem, sz) = elem_operand(size, l, m, rm, h)?;
        let mn = if s == 1 { "fmls" } else { "fmla" };
        Some(format!("{mn} {}, {}, {elem}", freg(rd, sz), freg(rn, sz)))
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
        let (elem, sz) = elem_operand(size, l, m, rm, h)?;
        let mn = if u == 1 { "fmulx" } else { "fmul" };
        Some(format!("{mn} {}, {}, {elem}", freg(rd, sz), freg(rn, sz)))
    }

    fn simd_fp_s_shift(&mut self, u: u32, immh: u32, immb: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let imm = (immh << 3) | immb;
        let (sz, fbits) = match immh {
            8.. => (1, 128 - imm),
            4..=7 => (0, 64 - imm),
            _ => return None,
        };
        let mn = fixed_name(u, opcode)?;
        Some(format!(
            "{mn} {}, {}, {}",
            freg(rd, sz),
            freg(rn, sz),
            super::imm(u64::from(fbits))
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::disasm::disassemble;
    use crate::isa::{decode, ROWS};

    /// GNU objdump's text for each word (capstone agrees, except that it
    /// writes fbits above 9 in hexadecimal as we do).
    #[test]
    fn golden() {
        let cases: &[(u32, &str)] = &[
            (0x4e22d420, "fadd v0.4s, v1.4s, v2.4s"),
            (0x4e65cc83, "fmla v3.2d, v4.2d, v5.2d"),
            (0x2ea2c420, "fminnmp v0.2s, v1.2s, v2.2s"),
            (0x4ea1c820, "urecpe v0.4s, v1.4s"),
            (0x6e619820, "frintx v0.2d, v1.2d"),
            (0x6ea0d820, "fcmle v0.4s, v1.4s, #0.0"),
            (0x2ea0f820, "fneg v0.2s, v1.2s"),
            (0x0e216820, "fcvtn v0.4h, v1.4s"),
            (0x4e617820, "fcvtl2 v0.2d, v1.4s"),
            (0x6e616820, "fcvtxn2 v0.4s, v1.2d"),
            (0x6e30c820, "fmaxnmv s0, v1.4s"),
            (0x4fa21820, "fmla v0.4s, v1.4s, v2.s[3]"),
            (0x6fdf9020, "fmulx v0.2d, v1.2d, v31.d[0]"),
            (0x4f7de420, "scvtf v0.2d, v1.2d, #3"),
            (0x6f40fc20, "fcvtzu v0.2d, v1.2d, #0x40"),
            (0x7ea2d420, "fabd s0, s1, s2"),
            (0x5ee1f820, "frecpx d0, d1"),
            (0x5ea0e820, "fcmlt s0, s1, #0.0"),
            (0x7e616820, "fcvtxn s0, d1"),
            (0x7e70f820, "fmaxp d0, v1.2d"),
            (0x7e30d820, "faddp s0, v1.2s"),
            (0x5fc25820, "fmls d0, d1, v2.d[1]"),
            (0x5f929820, "fmul s0, s1, v18.s[2]"),
            (0x5f3de420, "scvtf s0, s1, #3"),
            // FEAT_FP16 / FEAT_FHM / FEAT_FRINTTS: not implemented.
            (0x0e421420, ".inst 0x0e421420"),
            (0x0e22ec20, ".inst 0x0e22ec20"),
            (0x4e21e820, ".inst 0x4e21e820"),
            (0x0e30c820, ".inst 0x0e30c820"),
        ];
        for &(raw, want) in cases {
            assert_eq!(disassemble(raw, 0), want, "{raw:08x}");
        }
    }

    /// Within this group's rows, `.inst` is printed exactly for the words
    /// the semantics reject (every field combination reached by sampling).
    #[test]
    fn inst_marks_exactly_the_undefined_words() {
        let mut x = 0x0123_4567_89ab_cdefu64;
        for row in ROWS.iter().filter(|r| r.file.ends_with("32-simd-fp.isa")) {
            for _ in 0..20_000 {
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
}
