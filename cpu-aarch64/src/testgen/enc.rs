//! A64 encoding facts the generator needs beyond the table's field names,
//! and the few instructions it writes itself (the set-up preludes).
//! Everything here is from the Arm ARM's encoding index.

use crate::isa::Row;

/// Value of field `name` of `row` in `raw`, if the row has it.
pub(crate) fn field(row: &Row, raw: u32, name: &str) -> Option<u32> {
    let f = row.fields.iter().find(|f| f.name == name)?;
    Some((raw >> f.lsb) & mask(f.width))
}

/// `raw` with field `name` of `row` replaced by `v` (truncated to the
/// field's width). Panics if the row has no such field.
pub(crate) fn with_field(row: &Row, raw: u32, name: &str, v: u32) -> u32 {
    let f = row
        .fields
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("row {} has no field `{name}`", row.name));
    let m = mask(f.width) << f.lsb;
    (raw & !m) | ((v << f.lsb) & m)
}

fn mask(width: u8) -> u32 {
    if width >= 32 {
        u32::MAX
    } else {
        (1 << width) - 1
    }
}

/// Load/store pair (LDP/STP/LDNP/STNP/LDPSW): `opc 101 V 0 idx L ...`.
fn is_ldst_pair(raw: u32) -> bool {
    raw & 0x3a00_0000 == 0x2800_0000
}

/// Load/store register with a 9-bit immediate (unscaled, post-index,
/// unprivileged, pre-index): `size 111 V 00 opc 0 imm9 idx ...`.
fn is_ldst_imm9(raw: u32) -> bool {
    raw & 0x3b20_0000 == 0x3800_0000
}

/// The load/store exclusive class (also LDAR/STLR and CAS/CASP):
/// `size 001000 o2 L o1 Rs o0 Rt2 Rn Rt`.
fn is_exclusive_class(raw: u32) -> bool {
    raw & 0x3f00_0000 == 0x0800_0000
}

/// AdvSIMD load/store multiple or single structures, post-indexed:
/// `0 Q 00110 x 1 L ...` (bit 24 = 0 multiple, 1 single; bit 23 = post).
fn is_ldst_struct_post(raw: u32) -> bool {
    raw & 0xbe80_0000 == 0x0c80_0000
}

/// True for a load/store (`op0` = x1x0) whose transfer registers are V
/// registers (V, bit 26, set): the SIMD&FP forms and the AdvSIMD structure
/// loads/stores.
pub(crate) fn transfers_v(raw: u32) -> bool {
    raw & 0x0a00_0000 == 0x0800_0000 && raw & (1 << 26) != 0
}

/// True when the instruction writes its updated address back to Rn
/// (pre- and post-indexed forms: idx = 01 or 11 in both classes; the
/// post-indexed AdvSIMD structure loads/stores).
pub(crate) fn writes_back(raw: u32) -> bool {
    if is_ldst_struct_post(raw) {
        return true;
    }
    let idx = if is_ldst_pair(raw) {
        (raw >> 23) & 3
    } else if is_ldst_imm9(raw) {
        (raw >> 10) & 3
    } else {
        return false;
    };
    idx & 1 == 1
}

/// What an instruction of the exclusive class does with the exclusive
/// monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exclusive {
    /// LDXR/LDAXR/LDXP/LDAXP.
    Load,
    /// STXR/STLXR/STXP/STLXP: Rs receives the status.
    Store,
}

/// The monitor role of `raw` and whether it is a pair (LDXP/STXP), or
/// `None` for everything else (including LDAR/STLR and CAS/CASP, which
/// share the class but are ordinary single-copy-atomic accesses).
pub(crate) fn exclusive(raw: u32) -> Option<(Exclusive, bool)> {
    if !is_exclusive_class(raw) {
        return None;
    }
    let size = raw >> 30;
    let o2 = (raw >> 23) & 1;
    let l = (raw >> 22) & 1;
    let o1 = (raw >> 21) & 1;
    if o2 == 1 || (o1 == 1 && size < 2) {
        return None; // LDAR/STLR/LDLAR/STLLR, CAS, CASP
    }
    let role = if l == 1 { Exclusive::Load } else { Exclusive::Store };
    Some((role, o1 == 1))
}

/// The monitor slot class of an exclusive: element size (0..=3) for
/// single registers, 4 and 5 for 32- and 64-bit pairs.
pub(crate) fn exclusive_class(raw: u32) -> u64 {
    let size = u64::from(raw >> 30);
    if (raw >> 21) & 1 == 1 {
        size + 2
    } else {
        size
    }
}

/// `raw` (an exclusive) changed to slot class `class` (size and pair
/// bits), with its unused fields made canonical.
pub(crate) fn with_exclusive_class(raw: u32, class: u64) -> u32 {
    let (size, pair) = if class >= 4 { (class - 2, 1) } else { (class, 0) };
    let raw = (raw & !(0xc000_0000 | (1 << 21))) | ((size as u32) << 30) | (pair << 21);
    canonical_exclusive_class(raw)
}

/// A load-exclusive (LDXR/LDAXR/LDXP/LDAXP) of the same slot class as
/// `raw`, with random registers and ordering.
pub(crate) fn exclusive_load_like(raw: u32, rng: &mut super::Rng) -> u32 {
    let class = exclusive_class(raw);
    let rt = rng.below(32) as u32;
    let rt2 = if class >= 4 {
        (rt + 1 + rng.below(31) as u32) % 32
    } else {
        31
    };
    let rn = rng.below(32) as u32;
    let o0 = rng.below(2) as u32;
    let ldxr = 0x0840_0000 | (31 << 16) | (o0 << 15) | (rt2 << 10) | (rn << 5) | rt;
    with_exclusive_class(ldxr, class)
}

/// LSE atomics (LDADD...SWP, and LDAPR): `size 111 V 00 A R 1 Rs o3 opc 00`.
fn is_atomic_class(raw: u32) -> bool {
    raw & 0x3b20_0c00 == 0x3820_0000
}

/// LDAPR/LDAPRB/LDAPRH (FEAT_LRCPC), in the atomics class with o3:opc = 1100.
pub(crate) fn is_ldapr(raw: u32) -> bool {
    is_atomic_class(raw) && (raw >> 12) & 0xf == 0b1100
}

/// For accesses that must be aligned on any memory type (acquire/release,
/// exclusives, CAS/CASP, LSE atomics; without FEAT_LSE2): the alignment
/// required and the element size, in bytes. `None` for other accesses and
/// for store-exclusives.
pub(crate) fn strict_alignment(raw: u32) -> Option<(u64, u64)> {
    let size = u64::from(raw >> 30);
    if is_atomic_class(raw) {
        return Some((1 << size, 1 << size));
    }
    if !is_exclusive_class(raw) || exclusive(raw).map(|(r, _)| r) == Some(Exclusive::Store) {
        return None;
    }
    let o2 = (raw >> 23) & 1;
    let o1 = (raw >> 21) & 1;
    match (o2, o1) {
        (0, 1) if size >= 2 => Some((2 << size, 1 << size)), // LDXP/LDAXP
        (0, 1) => Some((8 << size, 4 << size)),              // CASP: register pairs
        _ => Some((1 << size, 1 << size)),
    }
}

/// True for load pairs, whose two destinations must differ (LDP, LDPSW,
/// LDNP, LDXP, LDAXP: Rt == Rt2 is CONSTRAINED UNPREDICTABLE).
pub(crate) fn is_load_pair(raw: u32) -> bool {
    let l = (raw >> 22) & 1 == 1;
    (is_ldst_pair(raw) && l) || exclusive(raw) == Some((Exclusive::Load, true))
}

/// For the exclusive class, forces the should-be-one fields the
/// instruction does not use to ones (Rs of everything but store-exclusives
/// and CAS/CASP; Rt2 of everything but the exclusive pairs), as an
/// assembler would.
pub(crate) fn canonical_exclusive_class(raw: u32) -> u32 {
    if !is_exclusive_class(raw) {
        return raw;
    }
    let size = raw >> 30;
    let o2 = (raw >> 23) & 1;
    let o1 = (raw >> 21) & 1;
    let mut raw = raw;
    let cas = o1 == 1 && (o2 == 1 || size < 2);
    if !cas && exclusive(raw).map(|(r, _)| r) != Some(Exclusive::Store) {
        raw |= 0x1f << 16; // Rs
    }
    if exclusive(raw).map(|(_, pair)| pair) != Some(true) && !cas {
        raw |= 0x1f << 10; // Rt2
    }
    raw
}

/// MOVZ/MOVN/MOVK words putting the 64-bit `v` in X`r` (r < 31), shortest
/// form.
pub(crate) fn mov_imm(r: u32, v: u64) -> Vec<u32> {
    debug_assert!(r < 31);
    let halves: Vec<u32> = (0..4).map(|i| ((v >> (16 * i)) & 0xffff) as u32).collect();
    let zeros = halves.iter().filter(|&&h| h == 0).count();
    let ones = halves.iter().filter(|&&h| h == 0xffff).count();
    let mut out = Vec::new();
    if ones > zeros {
        // MOVN of the first half that is not 0xffff (or of half 0).
        let first = halves.iter().position(|&h| h != 0xffff).unwrap_or(0);
        out.push(0x9280_0000 | ((first as u32) << 21) | ((!halves[first] & 0xffff) << 5) | r);
        for (i, &h) in halves.iter().enumerate() {
            if i != first && h != 0xffff {
                out.push(movk(r, i as u32, h));
            }
        }
    } else {
        let first = halves.iter().position(|&h| h != 0).unwrap_or(0);
        out.push(0xd280_0000 | ((first as u32) << 21) | (halves[first] << 5) | r);
        for (i, &h) in halves.iter().enumerate() {
            if i != first && h != 0 {
                out.push(movk(r, i as u32, h));
            }
        }
    }
    out
}

/// MOVZ X`r`, #(v & 0xffff); MOVK X`r`, #(v >> 16), LSL #16: a fixed-size
/// (two-word) load of a 32-bit value, for values fixed up after layout.
pub(crate) fn mov_imm32_fixed(r: u32, v: u32) -> [u32; 2] {
    [0xd280_0000 | ((v & 0xffff) << 5) | r, movk(r, 1, v >> 16)]
}

fn movk(r: u32, hw: u32, imm16: u32) -> u32 {
    0xf280_0000 | (hw << 21) | ((imm16 & 0xffff) << 5) | r
}

/// ADD SP, X`r`, #0 (`mov sp, xr`).
pub(crate) fn mov_sp_from(r: u32) -> u32 {
    0x9100_0000 | (r << 5) | 31
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(writes_back(0xa9bf7bfd)); // stp x29, x30, [sp, #-16]!
        assert!(writes_back(0xa8c17bfd)); // ldp x29, x30, [sp], #16
        assert!(!writes_back(0xa9400820)); // ldp x0, x2, [x1]
        assert!(writes_back(0xf8408420)); // ldr x0, [x1], #8
        assert!(writes_back(0xf81f0c20)); // str x0, [x1, #-16]!
        assert!(!writes_back(0xf85ff020)); // ldur x0, [x1, #-1]
        assert!(!writes_back(0xf8627820)); // ldr x0, [x1, x2, lsl #3]
        assert!(!writes_back(0xf8210040)); // ldadd x1, x0, [x2]
        assert!(writes_back(0x4cdfa020)); // ld1 {v0.16b, v1.16b}, [x1], #32
        assert!(writes_back(0x4da38420)); // st1 {v0.d}[1], [x1], x3
        assert!(!writes_back(0x4c407020)); // ld1 {v0.16b}, [x1]
        assert!(!writes_back(0x0d400c20)); // ld1 {v0.b}[3], [x1]
        assert!(writes_back(0xacc10420)); // ldp q0, q1, [x1], #32
        assert!(transfers_v(0x4c407020) && transfers_v(0x3dc00420) && transfers_v(0x1c000040));
        assert!(!transfers_v(0xf9400020) && !transfers_v(0x4e22d420) && !transfers_v(0xc85f7c20));
        assert_eq!(exclusive(0xc85f7c20), Some((Exclusive::Load, false))); // ldxr
        assert_eq!(exclusive(0xc8027c20), Some((Exclusive::Store, false))); // stxr
        assert_eq!(exclusive(0xc87f0440), Some((Exclusive::Load, true))); // ldxp
        assert_eq!(exclusive(0xc8dffc20), None); // ldar
        assert_eq!(exclusive(0xc8e1fc40), None); // casal
        assert_eq!(exclusive(0x48227c80), None); // casp
        assert!(is_load_pair(0xa9400820));
        assert!(!is_load_pair(0x29000820)); // stp w0, w2, [x1]
        assert!(is_load_pair(0xc87f0440));
        assert_eq!(canonical_exclusive_class(0xc8400020), 0xc85f7c20);
        assert_eq!(strict_alignment(0xc87f0440), Some((16, 8))); // ldxp x0, x1
        assert_eq!(strict_alignment(0x48227c80), Some((16, 8))); // casp x2, x3, x0, x1
        assert_eq!(strict_alignment(0x08227c80), Some((8, 4))); // casp w2, w3, w0, w1
        assert_eq!(strict_alignment(0xf8210040), Some((8, 8))); // ldadd
        assert_eq!(strict_alignment(0xc8dffc20), Some((8, 8))); // ldar
        assert_eq!(strict_alignment(0xc8027c20), None); // stxr
        assert_eq!(strict_alignment(0xf9400020), None); // ldr
        assert!(is_ldapr(0xf8bfc020) && is_ldapr(0x78bfc020) && !is_ldapr(0xf8210040));
        assert_eq!(exclusive_class(0xc87f0440), 5); // ldxp x0, x1
        assert_eq!(exclusive_class(0x085f7c20), 0); // ldxrb
        assert_eq!(with_exclusive_class(0xc8027c20, 2), 0x88027c20); // stxr w2, w0 -> stxr w2, w0 (32-bit)
        let ld = exclusive_load_like(0xc8220c20, &mut super::super::Rng::new(1)); // stxp
        assert_eq!(exclusive(ld), Some((Exclusive::Load, true)));
        assert_eq!(exclusive_class(ld), 5);
    }

    #[test]
    fn mov_imm_forms() {
        assert_eq!(mov_imm(1, 0), vec![0xd2800001]);
        assert_eq!(mov_imm(0, 0x1000_8000), vec![0xd2900000, 0xf2a20000]);
        assert_eq!(mov_imm(2, u64::MAX), vec![0x92800002]);
        assert_eq!(mov_imm(3, 0xffff_ffff_ffff_fff0), vec![0x928001e3]);
        assert_eq!(mov_sp_from(5), 0x910000bf);
    }
}
