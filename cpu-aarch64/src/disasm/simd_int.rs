//! Disassembly of group `simd_int`: AdvSIMD integer arithmetic, shifts, modified immediate.
//!
//! The validity checks mirror `sem/simd_int.rs` row for row: `None` (printed
//! as `.inst`) exactly where the semantics raise UNDEFINED.

use super::*;
use crate::isa::SimdIntVisitor;
use crate::simd::decode::{
    across_allocated, elem_index, shift_imm, shift_narrow_allocated, shift_same_allocated, three_diff_allocated,
    three_same_allocated, two_misc_allocated,
};
use crate::simd::{adv_simd_expand_imm, vfp_expand_imm64};

/// `v<r>.<T>` for `size` (element 8 << size bits) in a 64- or 128-bit vector.
fn vreg(r: u32, q: u32, size: u32) -> String {
    format!("v{r}.{}", arrangement(q, size))
}

/// The arrangement specifier `8b` ... `2d`.
fn arrangement(q: u32, size: u32) -> &'static str {
    const T: [&str; 8] = ["8b", "16b", "4h", "8h", "2s", "4s", "1d", "2d"];
    T[(size * 2 + q) as usize]
}

/// The scalar register `b/h/s/d<r>` of element size 8 << `size` bits.
fn sreg(r: u32, size: u32) -> String {
    format!("{}{r}", ['b', 'h', 's', 'd'][size as usize])
}

/// `v<r>.<t>[<i>]`.
fn velem(r: u32, size: u32, i: u32) -> String {
    format!("v{r}.{}[{i}]", ['b', 'h', 's', 'd'][size as usize])
}

/// The `size` field value of `bits`-bit elements.
fn size_of(bits: u8) -> u32 {
    (bits / 8).trailing_zeros()
}

/// `"2"` for the upper-half forms of the widening and narrowing instructions.
fn two(q: u32) -> &'static str {
    if q == 1 {
        "2"
    } else {
        ""
    }
}

/// An operand `#n` in the style of capstone (decimal up to 9, else hex).
fn num(v: u32) -> String {
    imm(u64::from(v))
}

/// Three-same mnemonics by opcode, `[U = 0, U = 1]`.
#[rustfmt::skip]
const THREE_SAME: [[&str; 2]; 24] = [
    ["shadd", "uhadd"], ["sqadd", "uqadd"], ["srhadd", "urhadd"], ["", ""],
    ["shsub", "uhsub"], ["sqsub", "uqsub"], ["cmgt", "cmhi"], ["cmge", "cmhs"],
    ["sshl", "ushl"], ["sqshl", "uqshl"], ["srshl", "urshl"], ["sqrshl", "uqrshl"],
    ["smax", "umax"], ["smin", "umin"], ["sabd", "uabd"], ["saba", "uaba"],
    ["add", "sub"], ["cmtst", "cmeq"], ["mla", "mls"], ["mul", "pmul"],
    ["smaxp", "umaxp"], ["sminp", "uminp"], ["sqdmulh", "sqrdmulh"], ["addp", ""],
];

/// Three-different mnemonics by opcode, `[U = 0, U = 1]`.
#[rustfmt::skip]
const THREE_DIFF: [[&str; 2]; 15] = [
    ["saddl", "uaddl"], ["saddw", "uaddw"], ["ssubl", "usubl"], ["ssubw", "usubw"],
    ["addhn", "raddhn"], ["sabal", "uabal"], ["subhn", "rsubhn"], ["sabdl", "uabdl"],
    ["smlal", "umlal"], ["sqdmlal", ""], ["smlsl", "umlsl"], ["sqdmlsl", ""],
    ["smull", "umull"], ["sqdmull", ""], ["pmull", ""],
];

/// Two-register misc mnemonics by opcode (the integer ones), `[U = 0, U = 1]`.
#[rustfmt::skip]
const TWO_MISC: [[&str; 2]; 21] = [
    ["rev64", "rev32"], ["rev16", ""], ["saddlp", "uaddlp"], ["suqadd", "usqadd"],
    ["cls", "clz"], ["cnt", ""], ["sadalp", "uadalp"], ["sqabs", "sqneg"],
    ["cmgt", "cmge"], ["cmeq", "cmle"], ["cmlt", ""], ["abs", "neg"],
    ["", ""], ["", ""], ["", ""], ["", ""], ["", ""], ["", ""],
    ["xtn", "sqxtun"], ["", "shll"], ["sqxtn", "uqxtn"],
];

/// Shift-by-immediate mnemonics by opcode `0xxxx` / 2, `[U = 0, U = 1]`.
#[rustfmt::skip]
const SHIFT_IMM: [[&str; 2]; 8] = [
    ["sshr", "ushr"], ["ssra", "usra"], ["srshr", "urshr"], ["srsra", "ursra"],
    ["", "sri"], ["shl", "sli"], ["", "sqshlu"], ["sqshl", "uqshl"],
];

/// Shift-right-narrow mnemonics by opcode `100xx`, `[U = 0, U = 1]`.
#[rustfmt::skip]
const SHIFT_NARROW: [[&str; 2]; 4] = [
    ["shrn", "sqshrun"], ["rshrn", "sqrshrun"], ["sqshrn", "uqshrn"], ["sqrshrn", "uqrshrn"],
];

impl Disasm {
    #[allow(clippy::too_many_arguments)]
    fn three_same(
        &self,
        scalar: bool,
        q: u32,
        u: u32,
        size: u32,
        rm: u32,
        opcode: u32,
        rn: u32,
        rd: u32,
    ) -> Option<String> {
        if !three_same_allocated(scalar, q, u, size, opcode) {
            return None;
        }
        if scalar {
            let mn = THREE_SAME[opcode as usize][u as usize];
            return Some(format!(
                "{mn} {}, {}, {}",
                sreg(rd, size),
                sreg(rn, size),
                sreg(rm, size)
            ));
        }
        if opcode == 0b00011 {
            const LOGIC: [[&str; 4]; 2] = [["and", "bic", "orr", "orn"], ["eor", "bsl", "bit", "bif"]];
            let (d, n, m) = (vreg(rd, q, 0), vreg(rn, q, 0), vreg(rm, q, 0));
            if u == 0 && size == 2 && rn == rm {
                return Some(format!("mov {d}, {n}"));
            }
            return Some(format!("{} {d}, {n}, {m}", LOGIC[u as usize][size as usize]));
        }
        let mn = THREE_SAME[opcode as usize][u as usize];
        Some(format!(
            "{mn} {}, {}, {}",
            vreg(rd, q, size),
            vreg(rn, q, size),
            vreg(rm, q, size)
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn three_diff(
        &self,
        scalar: bool,
        q: u32,
        u: u32,
        size: u32,
        rm: u32,
        opcode: u32,
        rn: u32,
        rd: u32,
    ) -> Option<String> {
        if !three_diff_allocated(scalar, u, size, opcode) {
            return None;
        }
        let mn = THREE_DIFF[opcode as usize][u as usize];
        if scalar {
            return Some(format!(
                "{mn} {}, {}, {}",
                sreg(rd, size + 1),
                sreg(rn, size),
                sreg(rm, size)
            ));
        }
        let (wide, narrow) = (|r| vreg(r, 1, size + 1), |r| vreg(r, q, size));
        let (d, n, m) = match opcode {
            0b0001 | 0b0011 => (wide(rd), wide(rn), narrow(rm)),
            0b0100 | 0b0110 => (narrow(rd), wide(rn), wide(rm)),
            _ => (wide(rd), narrow(rn), narrow(rm)),
        };
        Some(format!("{mn}{} {d}, {n}, {m}", two(q)))
    }

    #[allow(clippy::too_many_arguments)]
    fn two_misc(&self, scalar: bool, q: u32, u: u32, size: u32, opcode: u32, rn: u32, rd: u32) -> Option<String> {
        if !two_misc_allocated(scalar, q, u, size, opcode) {
            return None;
        }
        let mn = match (opcode, u, size) {
            (0b00101, 1, 0) => "mvn",
            (0b00101, 1, _) => "rbit",
            _ => TWO_MISC[opcode as usize][u as usize],
        };
        let zero = if (0b01000..=0b01010).contains(&opcode) {
            ", #0"
        } else {
            ""
        };
        if scalar {
            let n = if opcode >= 0b10010 {
                sreg(rn, size + 1)
            } else {
                sreg(rn, size)
            };
            return Some(format!("{mn} {}, {n}{zero}", sreg(rd, size)));
        }
        Some(match opcode {
            0b00010 | 0b00110 => format!("{mn} {}, {}", vreg(rd, q, size + 1), vreg(rn, q, size)),
            0b00101 => format!("{mn} {}, {}", vreg(rd, q, 0), vreg(rn, q, 0)),
            0b10010 | 0b10100 => format!("{mn}{} {}, {}", two(q), vreg(rd, q, size), vreg(rn, 1, size + 1)),
            0b10011 => format!(
                "{mn}{} {}, {}, #{}",
                two(q),
                vreg(rd, 1, size + 1),
                vreg(rn, q, size),
                8 << size
            ),
            _ => format!("{mn} {}, {}{zero}", vreg(rd, q, size), vreg(rn, q, size)),
        })
    }

    fn across(&self, q: u32, u: u32, size: u32, kind: u32, rn: u32, rd: u32) -> Option<String> {
        if !across_allocated(q, u, size, kind) {
            return None;
        }
        let s = u as usize;
        let (mn, dsize) = match kind {
            0 => ("addv", size),
            1 => (["saddlv", "uaddlv"][s], size + 1),
            2 => (["smaxv", "umaxv"][s], size),
            _ => (["sminv", "uminv"][s], size),
        };
        Some(format!("{mn} {}, {}", sreg(rd, dsize), vreg(rn, q, size)))
    }

    #[allow(clippy::too_many_arguments)]
    fn shift_imm_same(
        &self,
        scalar: bool,
        q: u32,
        u: u32,
        immh: u32,
        immb: u32,
        opcode: u32,
        rn: u32,
        rd: u32,
    ) -> Option<String> {
        let sh = shift_imm(immh, immb)?;
        if !shift_same_allocated(scalar, q, u, sh.bits, opcode) {
            return None;
        }
        let size = size_of(sh.bits);
        let (rsh, lsh) = (sh.right, sh.left);
        let mn = SHIFT_IMM[(opcode >> 1) as usize][u as usize];
        let amount = if opcode <= 0b01000 { rsh } else { lsh };
        let (d, n) = if scalar {
            (sreg(rd, size), sreg(rn, size))
        } else {
            (vreg(rd, q, size), vreg(rn, q, size))
        };
        Some(format!("{mn} {d}, {n}, {}", num(amount)))
    }

    #[allow(clippy::too_many_arguments)]
    fn shift_narrow(
        &self,
        scalar: bool,
        q: u32,
        u: u32,
        immh: u32,
        immb: u32,
        opcode: u32,
        rn: u32,
        rd: u32,
    ) -> Option<String> {
        let sh = shift_imm(immh, immb)?;
        if !shift_narrow_allocated(scalar, u, sh.bits, opcode) {
            return None;
        }
        let (size, rsh) = (size_of(sh.bits), sh.right);
        let mn = SHIFT_NARROW[opcode as usize][u as usize];
        if scalar {
            return Some(format!("{mn} {}, {}, {}", sreg(rd, size), sreg(rn, size + 1), num(rsh)));
        }
        Some(format!(
            "{mn}{} {}, {}, {}",
            two(q),
            vreg(rd, q, size),
            vreg(rn, 1, size + 1),
            num(rsh)
        ))
    }

    /// By-element forms; `opcode` as in the semantics' `by_elem`.
    #[allow(clippy::too_many_arguments)]
    fn by_elem(
        &self,
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
    ) -> Option<String> {
        let (rm, index) = elem_index(size, l, m, h, rm)?;
        let index = u32::from(index);
        let s = u as usize;
        let (mn, long) = match opcode {
            0b0000 => ("mla", false),
            0b0100 => ("mls", false),
            0b1000 => ("mul", false),
            0b1100 => ("sqdmulh", false),
            0b1101 => ("sqrdmulh", false),
            0b0010 => (["smlal", "umlal"][s], true),
            0b0110 => (["smlsl", "umlsl"][s], true),
            0b1010 => (["smull", "umull"][s], true),
            0b0011 => ("sqdmlal", true),
            0b0111 => ("sqdmlsl", true),
            _ => ("sqdmull", true),
        };
        let e = velem(rm, size, index);
        Some(match (scalar, long) {
            (true, true) => format!("{mn} {}, {}, {e}", sreg(rd, size + 1), sreg(rn, size)),
            (true, false) => format!("{mn} {}, {}, {e}", sreg(rd, size), sreg(rn, size)),
            (false, true) => format!("{mn}{} {}, {}, {e}", two(q), vreg(rd, 1, size + 1), vreg(rn, q, size)),
            (false, false) => format!("{mn} {}, {}, {e}", vreg(rd, q, size), vreg(rn, q, size)),
        })
    }
}

/// The operands of MOVI/MVNI/ORR/BIC after `Vd`: `(arrangement, text)`;
/// no arrangement for the scalar `movi d<n>, #imm`.
fn mod_imm_text(q: u32, cmode: u32, op: u32, imm8: u32) -> Option<(Option<&'static str>, String)> {
    let i = num(imm8);
    Some(match cmode {
        0..=7 => (Some(arrangement(q, 2)), lsl_text(i, (cmode >> 1) * 8)),
        8..=11 => (Some(arrangement(q, 1)), lsl_text(i, ((cmode >> 1) & 1) * 8)),
        12 | 13 => (Some(arrangement(q, 2)), format!("{i}, msl #{}", ((cmode & 1) + 1) * 8)),
        14 if op == 0 => (Some(arrangement(q, 0)), i),
        14 => {
            let v = adv_simd_expand_imm(1, 14, imm8 as u8)?;
            // Printed as LLVM does: `%#016llx`.
            ((q == 1).then(|| arrangement(1, 3)), format!("#{v:#016x}"))
        }
        _ => return None,
    })
}

fn lsl_text(i: String, amount: u32) -> String {
    if amount == 0 {
        i
    } else {
        format!("{i}, lsl #{amount}")
    }
}

/// An FP immediate `VFPExpandImm(imm8)` as capstone prints it: the exact
/// value (these are all small dyadic rationals) with eight decimals.
fn fp_imm8(imm8: u32) -> String {
    let v = f64::from_bits(vfp_expand_imm64(imm8 as u8));
    format!("#{v:.8}")
}

impl SimdIntVisitor for Disasm {
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
        if o2 != 0 {
            return None;
        }
        let imm8 = (abc << 5) | defgh;
        if cmode == 0b1111 {
            if op == 1 && q == 0 {
                return None;
            }
            return Some(format!("fmov {}, {}", vreg(rd, q, 2 + op), fp_imm8(imm8)));
        }
        let (t, text) = mod_imm_text(q, cmode, op, imm8)?;
        let logic = cmode & 1 == 1 && cmode < 0b1100;
        let mn = match (logic, op) {
            (true, 0) => "orr",
            (true, _) => "bic",
            (false, 0) => "movi",
            (false, _) if cmode == 0b1110 => "movi",
            (false, _) => "mvni",
        };
        let d = match t {
            Some(t) => format!("v{rd}.{t}"),
            None => format!("d{rd}"),
        };
        Some(format!("{mn} {d}, {text}"))
    }

    fn simd_shift_imm(&mut self, q: u32, u: u32, immh: u32, immb: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        self.shift_imm_same(false, q, u, immh, immb, opcode, rn, rd)
    }

    fn simd_shift_narrow(&mut self, q: u32, u: u32, immh: u32, immb: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        self.shift_narrow(false, q, u, immh, immb, opcode, rn, rd)
    }

    fn simd_shift_long(&mut self, q: u32, u: u32, immh: u32, immb: u32, rn: u32, rd: u32) -> Self::Out {
        let sh = shift_imm(immh, immb)?;
        if sh.bits == 64 {
            return None;
        }
        let (size, lsh) = (size_of(sh.bits), sh.left);
        let (d, n) = (vreg(rd, 1, size + 1), vreg(rn, q, size));
        let s = ["s", "u"][u as usize];
        Some(if lsh == 0 {
            format!("{s}xtl{} {d}, {n}", two(q))
        } else {
            format!("{s}shll{} {d}, {n}, {}", two(q), num(lsh))
        })
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
            return None;
        }
        Some(format!("addp {}, {}", sreg(rd, 3), vreg(rn, 1, 3)))
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
