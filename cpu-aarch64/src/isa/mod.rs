//! The A64 encoding table and the decoder generated from it.
//!
//! `isa/*.isa` (read in file-name order) is the single source of truth; `build.rs` generates [`Op`],
//! [`ROWS`], the [`Visitor`] trait, [`decode`] and [`dispatch`] from it.

#![allow(missing_docs)] // generated items carry the table's line numbers instead

/// A named bit field of a row.
#[derive(Debug)]
pub struct Field {
    /// Field name as written in the table.
    pub name: &'static str,
    /// Lowest bit.
    pub lsb: u8,
    /// Width in bits.
    pub width: u8,
}

/// One row of the encoding table.
#[derive(Debug)]
pub struct Row {
    /// The row's identity.
    pub op: Op,
    /// The row's name in the table.
    pub name: &'static str,
    /// The table file defining it (`isa/NN-group.isa`).
    pub file: &'static str,
    /// Line of that file.
    pub line: u32,
    /// Bits fixed by the pattern.
    pub mask: u32,
    /// Values of the fixed bits.
    pub value: u32,
    /// Named fields, in pattern order.
    pub fields: &'static [Field],
    /// Example encodings that must decode to this row.
    pub examples: &'static [u32],
    /// Rows this one intentionally shadows.
    pub overrides: &'static [&'static str],
}

impl Row {
    /// True when `raw` matches this row's fixed bits.
    pub fn matches(&self, raw: u32) -> bool {
        raw & self.mask == self.value
    }

    /// True when some encoding matches both rows.
    pub fn overlaps(&self, other: &Row) -> bool {
        (self.value ^ other.value) & self.mask & other.mask == 0
    }
}

include!(concat!(env!("OUT_DIR"), "/a64_decode.rs"));

/// Decodes the `(N, imms, immr)` bitmask immediate of the logical
/// instructions (Arm ARM `DecodeBitMasks`). Returns `(wmask, tmask)` for a
/// `datasize`-bit operation, or `None` for reserved encodings.
pub fn decode_bit_masks(n: u32, imms: u32, immr: u32, immediate: bool, datasize: u32) -> Option<(u64, u64)> {
    let combined = (n << 6) | (!imms & 0x3f);
    if combined == 0 {
        return None;
    }
    let len = 31 - combined.leading_zeros(); // highest set bit of N:NOT(imms)
    if len < 1 {
        return None;
    }
    let esize = 1u32 << len;
    if esize > datasize {
        return None;
    }
    let levels = esize - 1;
    if immediate && (imms & levels) == levels {
        return None;
    }
    let s = imms & levels;
    let r = immr & levels;
    let d = s.wrapping_sub(r) & levels;
    let ones = |k: u32| if k >= 64 { u64::MAX } else { (1u64 << k) - 1 };
    let emask = ones(esize);
    let welem = ones(s + 1);
    let telem = ones(d + 1);
    let ror = |v: u64, r: u32| {
        if r == 0 {
            v
        } else {
            ((v >> r) | (v << (esize - r))) & emask
        }
    };
    let welem = ror(welem, r);
    let replicate = |e: u64| {
        let mut out = 0u64;
        let mut i = 0;
        while i < datasize {
            out |= e << i;
            i += esize;
        }
        out
    };
    let dmask = ones(datasize);
    Some((replicate(welem) & dmask, replicate(telem) & dmask))
}

/// Sign-extends the low `bits` bits of `v`.
#[inline]
pub fn sext(v: u64, bits: u32) -> u64 {
    let sh = 64 - bits;
    (((v << sh) as i64) >> sh) as u64
}

/// Condition-code mnemonics, indexed by the 4-bit `cond` field.
pub const COND_NAMES: [&str; 16] = [
    "eq", "ne", "hs", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al", "nv",
];

/// Evaluates condition `cond` against NZCV held in bits 31:28 of `nzcv`
/// (Arm ARM `ConditionHolds`).
#[inline]
pub fn condition_holds(cond: u32, nzcv: u64) -> bool {
    let n = nzcv >> 31 & 1 != 0;
    let z = nzcv >> 30 & 1 != 0;
    let c = nzcv >> 29 & 1 != 0;
    let v = nzcv >> 28 & 1 != 0;
    let r = match cond >> 1 {
        0 => z,
        1 => c,
        2 => n,
        3 => v,
        4 => c && !z,
        5 => n == v,
        6 => n == v && !z,
        _ => true,
    };
    if cond & 1 == 1 && cond != 0xf {
        !r
    } else {
        r
    }
}

#[cfg(test)]
mod tests;
