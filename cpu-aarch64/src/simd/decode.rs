//! Decode-time rules of the AdvSIMD integer rows (`isa/30-simd-int.isa`),
//! shared by the semantics (`sem/simd_int.rs`) and the disassembler
//! (`disasm/simd_int.rs`) so the two cannot disagree on what is allocated.
//!
//! `opcode` arguments are the class's full opcode field (rows that fix some
//! of its bits pass them back in). Each `*_allocated` function returns false
//! for unallocated opcodes and reserved size/Q combinations: UNDEFINED.

/// Three same, 5-bit opcode; `q` is ignored for scalars.
pub fn three_same_allocated(scalar: bool, q: u32, u: u32, size: u32, opcode: u32) -> bool {
    if scalar {
        return match opcode {
            // SQADD/UQADD, SQSUB/UQSUB, SQSHL/UQSHL, SQRSHL/UQRSHL: any size.
            0b00001 | 0b00101 | 0b01001 | 0b01011 => true,
            // Compares, SSHL/USHL, SRSHL/URSHL, ADD/SUB, CMTST/CMEQ: D only.
            0b00110 | 0b00111 | 0b01000 | 0b01010 | 0b10000 | 0b10001 => size == 3,
            0b10110 => size == 1 || size == 2, // SQDMULH/SQRDMULH
            _ => false,
        };
    }
    match opcode {
        0b00011 => true, // logic: size selects the operation
        // Halving, max/min, ABD/ABA, MLA/MLS, pairwise max/min: no 64-bit.
        0b00000 | 0b00010 | 0b00100 | 0b01100..=0b01111 | 0b10010 | 0b10100 | 0b10101 => size != 3,
        0b10011 => size == 0 || (u == 0 && size != 3), // MUL / PMUL (bytes only)
        0b10110 => size == 1 || size == 2,
        0b10111 => u == 0 && (size != 3 || q == 1), // ADDP
        _ => size != 3 || q == 1,                   // no 1D arrangement
    }
}

/// Three different, 4-bit opcode (the scalar class has SQDMLAL, SQDMLSL,
/// SQDMULL only).
pub fn three_diff_allocated(scalar: bool, u: u32, size: u32, opcode: u32) -> bool {
    let sq = matches!(opcode, 0b1001 | 0b1011 | 0b1101);
    size != 3
        && match opcode {
            _ if scalar => sq && u == 0 && size != 0,
            0b1001 | 0b1011 | 0b1101 => u == 0 && size != 0,
            0b1110 => u == 0 && size == 0, // PMULL of bytes (size 11: crypto rows)
            0b1111 => false,
            _ => true,
        }
}

/// Two-register misc, 5-bit opcode (integer opcodes only).
pub fn two_misc_allocated(scalar: bool, q: u32, u: u32, size: u32, opcode: u32) -> bool {
    if scalar {
        return match opcode {
            0b00011 | 0b00111 => true,                // SUQADD/USQADD, SQABS/SQNEG
            0b01000 | 0b01001 | 0b01011 => size == 3, // compares with zero, ABS/NEG
            0b01010 => u == 0 && size == 3,           // CMLT #0
            0b10010 => u == 1 && size != 3,           // SQXTUN
            0b10100 => size != 3,                     // SQXTN/UQXTN
            _ => false,
        };
    }
    match opcode {
        0b00000 => size + u < 3,        // REV64 (8..32-bit), REV32 (8, 16-bit)
        0b00001 => u == 0 && size == 0, // REV16
        0b00010 | 0b00100 | 0b00110 | 0b10010 | 0b10100 => size != 3,
        0b00101 => size == 0 || (u == 1 && size == 1), // CNT, NOT, RBIT
        0b01010 => u == 0 && (size != 3 || q == 1),    // CMLT #0
        0b10011 => u == 1 && size != 3,                // SHLL
        _ => size != 3 || q == 1,
    }
}

/// Across lanes: `kind` 0 ADDV, 1 SADDLV/UADDLV, 2 SMAXV/UMAXV, 3 SMINV/UMINV.
pub fn across_allocated(q: u32, u: u32, size: u32, kind: u32) -> bool {
    !(size == 3 || (size == 2 && q == 0) || (kind == 0 && u == 1))
}

/// The element size and shift amounts of a shift-by-immediate encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShiftImm {
    /// Element bits (8 << highest set bit of immh); for the narrowing
    /// shifts the narrow (destination) size, for SSHLL the source size.
    pub bits: u8,
    /// Right-shift amount, `2 * bits - immh:immb` (1..=bits).
    pub right: u32,
    /// Left-shift amount, `immh:immb - bits` (0..bits).
    pub left: u32,
}

/// Decodes `immh:immb`; `None` for `immh = 0000`.
pub fn shift_imm(immh: u32, immb: u32) -> Option<ShiftImm> {
    if immh == 0 {
        return None;
    }
    let bits = 8u32 << (31 - immh.leading_zeros());
    let immhb = (immh << 3) | immb;
    Some(ShiftImm {
        bits: bits as u8,
        right: 2 * bits - immhb,
        left: immhb - bits,
    })
}

/// Shift by immediate, element-wise opcodes `0xxxx`.
pub fn shift_same_allocated(scalar: bool, q: u32, u: u32, bits: u8, opcode: u32) -> bool {
    let allocated = match opcode {
        // SSHR, SSRA, SRSHR, SRSRA, SHL/SLI, SQSHL/UQSHL (immediate)
        0b00000 | 0b00010 | 0b00100 | 0b00110 | 0b01010 | 0b01110 => true,
        0b01000 | 0b01100 => u == 1, // SRI, SQSHLU
        _ => false,
    };
    let size_ok = if scalar {
        bits == 64 || opcode >= 0b01100 // only the saturating shifts have B/H/S forms
    } else {
        bits != 64 || q == 1
    };
    allocated && size_ok
}

/// Shift right narrow, opcode `100xx` (`low` = its two low bits), `bits`
/// the destination element size.
pub fn shift_narrow_allocated(scalar: bool, u: u32, bits: u8, low: u32) -> bool {
    // SHRN and RSHRN have no scalar form.
    bits != 64 && !(scalar && u == 0 && low < 2)
}

/// The by-element operand: `(register, index)`. 16-bit elements use
/// `H:L:M` as the index and V0..V15; 32-bit ones `H:L` and `M:Rm`. Other
/// sizes are reserved for the integer by-element instructions.
pub fn elem_index(size: u32, l: u32, m: u32, h: u32, rm: u32) -> Option<(u32, u8)> {
    match size {
        1 => Some((rm, ((h << 2) | (l << 1) | m) as u8)),
        2 => Some(((m << 4) | rm, ((h << 1) | l) as u8)),
        _ => None,
    }
}
