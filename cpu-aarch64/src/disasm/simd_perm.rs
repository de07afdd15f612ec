//! Disassembly of group `simd_perm`: AdvSIMD structure loads/stores, permutes, table lookups, copies;
//! and the SIMD&FP register forms (V = 1) of the general load/store rows,
//! which `mod.rs` hands to the `fp_*` methods here.

use super::*;
use crate::isa::SimdPermVisitor;

/// Arrangement specifier of a vector of `1 << size`-byte elements.
fn arrangement(q: u32, size: u32) -> &'static str {
    const NAMES: [[&str; 2]; 4] = [["8b", "16b"], ["4h", "8h"], ["2s", "4s"], ["1d", "2d"]];
    NAMES[size as usize][q as usize]
}

/// Element-size letter of `1 << size`-byte elements.
fn elem(size: u32) -> char {
    ['b', 'h', 's', 'd'][size as usize]
}

/// A lane index: decimal up to 9, hexadecimal above.
fn lane(i: u32) -> String {
    if i > 9 {
        format!("{i:#x}")
    } else {
        i.to_string()
    }
}

/// `{vT.x, vT+1.x, ...}` with `n` registers, numbers wrapping at 32.
fn vlist(rt: u32, n: u32, suffix: &str) -> String {
    let regs: Vec<String> = (0..n).map(|k| format!("v{}.{suffix}", (rt + k) % 32)).collect();
    format!("{{{}}}", regs.join(", "))
}

/// `[Xn|SP]` and, for the post-indexed forms, `, Xm` or `, #imm` (the
/// transfer size, when Rm = 31).
fn struct_addr(rn: u32, post: Option<u32>, total: u32) -> String {
    let base = format!("[{}]", gpr_sp(rn, true));
    match post {
        None => base,
        Some(31) => format!("{base}, #{total}"),
        Some(rm) => format!("{base}, {}", gpr(rm, true)),
    }
}

/// (registers per structure, log2 element bytes, lane or `None` for
/// LD1R-LD4R) of a single-structure encoding (the semantics' decode).
fn single_layout(q: u32, l: u32, r: u32, opcode: u32, s: u32, size: u32) -> Option<(u32, u32, Option<u32>)> {
    let selem = ((opcode & 1) << 1 | r) + 1;
    let (scale, index) = match opcode >> 1 {
        0 => (0, Some(q << 3 | s << 2 | size)),
        1 if size & 1 == 0 => (1, Some(q << 2 | s << 1 | size >> 1)),
        2 if size == 0 => (2, Some(q << 1 | s)),
        2 if size == 1 && s == 0 => (3, Some(q)),
        3 if l == 1 && s == 0 => (size, None),
        _ => return None,
    };
    Some((selem, scale, index))
}

/// `imm5` of a copy: (size, index), `None` for imm5 = x0000.
fn imm5_elem(imm5: u32) -> Option<(u32, u32)> {
    let size = imm5.trailing_zeros();
    (size <= 3).then(|| (size, imm5 >> (size + 1)))
}

/// Name letter and byte count of a SIMD&FP LDR/STR register by
/// `size`:`opc<1>`.
fn fp_reg(size: u32, opc: u32) -> Option<(char, u32)> {
    match (opc >> 1, size) {
        (0, s) => Some((elem(s), 1 << s)),
        (1, 0) => Some(('q', 16)),
        _ => None,
    }
}

impl Disasm {
    fn ldst_multiple(q: u32, l: u32, post: Option<u32>, opcode: u32, size: u32, rn: u32, rt: u32) -> Option<String> {
        let (n, selem) = match opcode {
            0b0000 => (4, 4),
            0b0010 => (4, 1),
            0b0100 => (3, 3),
            0b0110 => (3, 1),
            0b0111 => (1, 1),
            0b1000 => (2, 2),
            0b1010 => (2, 1),
            _ => return None,
        };
        if size == 3 && q == 0 && selem != 1 {
            return None;
        }
        let mn = format!("{}{selem}", if l == 1 { "ld" } else { "st" });
        let total = n * (8 << q);
        Some(format!(
            "{mn} {}, {}",
            vlist(rt, n, arrangement(q, size)),
            struct_addr(rn, post, total)
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn ldst_one(
        q: u32,
        l: u32,
        r: u32,
        post: Option<u32>,
        opcode: u32,
        s: u32,
        size: u32,
        rn: u32,
        rt: u32,
    ) -> Option<String> {
        let (selem, scale, index) = single_layout(q, l, r, opcode, s, size)?;
        let ls = if l == 1 { "ld" } else { "st" };
        let total = selem << scale;
        let addr = struct_addr(rn, post, total);
        Some(match index {
            None => format!("{ls}{}r {}, {addr}", selem, vlist(rt, selem, arrangement(q, scale))),
            Some(i) => format!(
                "{ls}{} {}[{}], {addr}",
                selem,
                vlist(rt, selem, &elem(scale).to_string()),
                lane(i)
            ),
        })
    }

    fn permute(mn: &str, q: u32, size: u32, op: u32, rm: u32, rn: u32, rd: u32) -> Option<String> {
        if size == 3 && q == 0 {
            return None;
        }
        let t = arrangement(q, size);
        Some(format!("{mn}{} v{rd}.{t}, v{rn}.{t}, v{rm}.{t}", op + 1))
    }

    /// LDR (literal, SIMD&FP).
    pub fn fp_ldr_lit(&self, opc: u32, imm19: u32, rt: u32) -> Option<String> {
        let r = ['s', 'd', 'q'].get(opc as usize)?;
        Some(format!("ldr {r}{rt}, {}", self.target(sext(u64::from(imm19) << 2, 21))))
    }

    /// LDP/STP/LDNP/STNP (SIMD&FP).
    #[allow(clippy::too_many_arguments)]
    pub fn fp_ldst_pair(&self, opc: u32, idx: u32, l: u32, imm7: u32, rt2: u32, rn: u32, rt: u32) -> Option<String> {
        let r = ['s', 'd', 'q'].get(opc as usize)?;
        let off = (sext(u64::from(imm7), 7) << (2 + opc)) as i64;
        let mn = match (l, idx) {
            (1, 0) => "ldnp",
            (0, 0) => "stnp",
            (1, _) => "ldp",
            _ => "stp",
        };
        let index = match idx {
            1 => Index::Post,
            3 => Index::Pre,
            _ => Index::Offset,
        };
        Some(format!("{mn} {r}{rt}, {r}{rt2}, {}", mem_indexed(rn, off, index)))
    }

    /// LDR/STR (immediate, pre/post-index) and LDUR/STUR (SIMD&FP).
    #[allow(clippy::too_many_arguments)]
    pub fn fp_ldst_imm9(&self, size: u32, opc: u32, imm9: u32, idx: u32, rn: u32, rt: u32) -> Option<String> {
        let (r, _) = fp_reg(size, opc)?;
        let off = sext(u64::from(imm9), 9) as i64;
        let (infix, index) = match idx {
            0 => ("ur", Index::Offset),
            1 => ("r", Index::Post),
            3 => ("r", Index::Pre),
            _ => return None,
        };
        let ls = if opc & 1 == 1 { "ld" } else { "st" };
        Some(format!("{ls}{infix} {r}{rt}, {}", mem_indexed(rn, off, index)))
    }

    /// LDR/STR (register offset, SIMD&FP).
    #[allow(clippy::too_many_arguments)]
    pub fn fp_ldst_reg(&self, size: u32, opc: u32, rm: u32, option: u32, s: u32, rn: u32, rt: u32) -> Option<String> {
        let (r, bytes) = fp_reg(size, opc)?;
        if option & 2 == 0 {
            return None;
        }
        let amount = bytes.trailing_zeros();
        let ext = match (option, s) {
            (3, 0) => String::new(),
            (3, _) => format!(", lsl #{amount}"),
            (_, 0) => format!(", {}", EXTEND_NAMES[option as usize]),
            _ => format!(", {} #{amount}", EXTEND_NAMES[option as usize]),
        };
        let ls = if opc & 1 == 1 { "ld" } else { "st" };
        Some(format!(
            "{ls}r {r}{rt}, [{}, {}{ext}]",
            gpr_sp(rn, true),
            gpr(rm, option & 1 == 1)
        ))
    }

    /// LDR/STR (unsigned offset, SIMD&FP).
    pub fn fp_ldst_uimm(&self, size: u32, opc: u32, imm12: u32, rn: u32, rt: u32) -> Option<String> {
        let (r, bytes) = fp_reg(size, opc)?;
        let ls = if opc & 1 == 1 { "ld" } else { "st" };
        Some(format!(
            "{ls}r {r}{rt}, {}",
            mem_offset(rn, i64::from(imm12) * i64::from(bytes))
        ))
    }
}

impl SimdPermVisitor for Disasm {
    fn ldst_mult(&mut self, q: u32, l: u32, opcode: u32, size: u32, rn: u32, rt: u32) -> Self::Out {
        Self::ldst_multiple(q, l, None, opcode, size, rn, rt)
    }

    fn ldst_mult_post(&mut self, q: u32, l: u32, rm: u32, opcode: u32, size: u32, rn: u32, rt: u32) -> Self::Out {
        Self::ldst_multiple(q, l, Some(rm), opcode, size, rn, rt)
    }

    fn ldst_single(&mut self, q: u32, l: u32, r: u32, opcode: u32, s: u32, size: u32, rn: u32, rt: u32) -> Self::Out {
        Self::ldst_one(q, l, r, None, opcode, s, size, rn, rt)
    }

    fn ldst_single_post(
        &mut self,
        q: u32,
        l: u32,
        r: u32,
        rm: u32,
        opcode: u32,
        s: u32,
        size: u32,
        rn: u32,
        rt: u32,
    ) -> Self::Out {
        Self::ldst_one(q, l, r, Some(rm), opcode, s, size, rn, rt)
    }

    fn tbl_tbx(&mut self, q: u32, rm: u32, len: u32, op: u32, rn: u32, rd: u32) -> Self::Out {
        let t = arrangement(q, 0);
        let mn = if op == 1 { "tbx" } else { "tbl" };
        Some(format!("{mn} v{rd}.{t}, {}, v{rm}.{t}", vlist(rn, len + 1, "16b")))
    }

    fn uzp(&mut self, q: u32, size: u32, rm: u32, op: u32, rn: u32, rd: u32) -> Self::Out {
        Self::permute("uzp", q, size, op, rm, rn, rd)
    }

    fn trn(&mut self, q: u32, size: u32, rm: u32, op: u32, rn: u32, rd: u32) -> Self::Out {
        Self::permute("trn", q, size, op, rm, rn, rd)
    }

    fn zip(&mut self, q: u32, size: u32, rm: u32, op: u32, rn: u32, rd: u32) -> Self::Out {
        Self::permute("zip", q, size, op, rm, rn, rd)
    }

    fn ext(&mut self, q: u32, rm: u32, imm4: u32, rn: u32, rd: u32) -> Self::Out {
        if q == 0 && imm4 >= 8 {
            return None;
        }
        let t = arrangement(q, 0);
        Some(format!("ext v{rd}.{t}, v{rn}.{t}, v{rm}.{t}, {}", imm(u64::from(imm4))))
    }

    fn dup_elem(&mut self, q: u32, imm5: u32, rn: u32, rd: u32) -> Self::Out {
        let (size, index) = imm5_elem(imm5)?;
        if size == 3 && q == 0 {
            return None;
        }
        Some(format!(
            "dup v{rd}.{}, v{rn}.{}[{}]",
            arrangement(q, size),
            elem(size),
            lane(index)
        ))
    }

    fn dup_gen(&mut self, q: u32, imm5: u32, rn: u32, rd: u32) -> Self::Out {
        let (size, _) = imm5_elem(imm5)?;
        if size == 3 && q == 0 {
            return None;
        }
        Some(format!("dup v{rd}.{}, {}", arrangement(q, size), gpr(rn, size == 3)))
    }

    fn ins_gen(&mut self, imm5: u32, rn: u32, rd: u32) -> Self::Out {
        let (size, index) = imm5_elem(imm5)?;
        Some(format!(
            "mov v{rd}.{}[{}], {}",
            elem(size),
            lane(index),
            gpr(rn, size == 3)
        ))
    }

    fn smov(&mut self, q: u32, imm5: u32, rn: u32, rd: u32) -> Self::Out {
        let (size, index) = imm5_elem(imm5)?;
        if size > 1 + q {
            return None;
        }
        Some(format!(
            "smov {}, v{rn}.{}[{}]",
            gpr(rd, q == 1),
            elem(size),
            lane(index)
        ))
    }

    fn umov(&mut self, q: u32, imm5: u32, rn: u32, rd: u32) -> Self::Out {
        let (size, index) = imm5_elem(imm5)?;
        if (q == 0 && size > 2) || (q == 1 && size != 3) {
            return None;
        }
        // MOV is the preferred form for the 32- and 64-bit moves.
        let mn = if size >= 2 { "mov" } else { "umov" };
        Some(format!(
            "{mn} {}, v{rn}.{}[{}]",
            gpr(rd, q == 1),
            elem(size),
            lane(index)
        ))
    }

    fn ins_elem(&mut self, imm5: u32, imm4: u32, rn: u32, rd: u32) -> Self::Out {
        let (size, dst) = imm5_elem(imm5)?;
        let e = elem(size);
        Some(format!(
            "mov v{rd}.{e}[{}], v{rn}.{e}[{}]",
            lane(dst),
            lane(imm4 >> size)
        ))
    }

    fn dup_elem_scalar(&mut self, imm5: u32, rn: u32, rd: u32) -> Self::Out {
        let (size, index) = imm5_elem(imm5)?;
        let e = elem(size);
        Some(format!("mov {e}{rd}, v{rn}.{e}[{}]", lane(index)))
    }
}
