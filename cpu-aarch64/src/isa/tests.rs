//! Checks of the encoding table itself and of the decoder generated from it.

use super::*;

/// A tiny deterministic PRNG (xorshift64*), so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
}

/// The reference decoder: the first row in table order whose fixed bits
/// match. `decode` (bucketed) must always agree with it.
fn first_match(raw: u32) -> Option<Op> {
    ROWS.iter().find(|r| r.matches(raw)).map(|r| r.op)
}

fn field_mask(f: &Field) -> u32 {
    (((1u64 << f.width) - 1) as u32) << f.lsb
}

/// A random word matching `row`'s fixed bits.
fn random_in_row(row: &Row, rng: &mut XorShift) -> u32 {
    (rng.next_u32() & !row.mask) | row.value
}

#[test]
fn rows_are_in_op_order() {
    for (i, r) in ROWS.iter().enumerate() {
        assert_eq!(r.op as usize, i, "ROWS[{i}] is {}", r.name);
    }
}

#[test]
fn examples_decode_to_their_row() {
    for r in ROWS {
        for &e in r.examples {
            assert!(
                r.matches(e),
                "{}:{}: example {e:08x} of {} does not match its pattern",
                r.file,
                r.line,
                r.name
            );
            assert_eq!(
                decode(e),
                Some(r.op),
                "{}:{}: example {e:08x} of {} decodes to {:?}",
                r.file,
                r.line,
                r.name,
                decode(e)
            );
        }
    }
}

#[test]
fn rows_overlap_only_where_declared() {
    for (i, a) in ROWS.iter().enumerate() {
        for o in a.overrides {
            let later = ROWS[i + 1..].iter().any(|b| b.name == *o);
            assert!(
                later,
                "{}:{}: {} overrides `{o}`, which is not a later row",
                a.file, a.line, a.name
            );
        }
        for b in &ROWS[i + 1..] {
            if a.overlaps(b) {
                assert!(
                    a.overrides.contains(&b.name),
                    "{}:{} {} and {}:{} {} share encodings (e.g. {:08x}) without `overrides={}`",
                    a.file,
                    a.line,
                    a.name,
                    b.file,
                    b.line,
                    b.name,
                    a.value | b.value,
                    b.name
                );
            }
        }
    }
}

#[test]
fn fields_and_fixed_bits_cover_32_bits_once() {
    for r in ROWS {
        let mut seen = r.mask;
        for f in r.fields {
            let m = field_mask(f);
            assert!(
                u32::from(f.lsb) + u32::from(f.width) <= 32,
                "{}:{}: {}.{} runs past bit 31",
                r.file,
                r.line,
                r.name,
                f.name
            );
            assert_eq!(
                seen & m,
                0,
                "{}:{}: {}.{} overlaps other bits ({:#010x})",
                r.file,
                r.line,
                r.name,
                f.name,
                seen & m
            );
            seen |= m;
        }
        assert_eq!(
            seen,
            u32::MAX,
            "{}:{}: {}: bits {:#010x} are neither fixed nor in a field",
            r.file,
            r.line,
            r.name,
            !seen
        );
        assert_eq!(
            r.value & !r.mask,
            0,
            "{}:{}: {}: value has bits outside the mask",
            r.file,
            r.line,
            r.name
        );
    }
}

#[test]
fn fields_are_in_pattern_order() {
    for r in ROWS {
        for w in r.fields.windows(2) {
            assert!(
                w[0].lsb > w[1].lsb,
                "{}:{}: {}: fields out of order",
                r.file,
                r.line,
                r.name
            );
        }
    }
}

/// Flipping any single bit of an example gives either a word of a row it
/// matches (the same or another) or nothing -- never a misdecode.
#[test]
fn single_bit_flips_of_examples_decode_consistently() {
    let mut checked = 0;
    for r in ROWS {
        for &e in r.examples {
            for bit in 0..32 {
                let w = e ^ (1 << bit);
                let d = decode(w);
                if let Some(op) = d {
                    assert!(
                        ROWS[op as usize].matches(w),
                        "{w:08x} ({} example {e:08x}, bit {bit}) decodes to non-matching {op:?}",
                        r.name
                    );
                }
                assert_eq!(d, first_match(w), "{w:08x} ({} example {e:08x}, bit {bit})", r.name);
                checked += 1;
            }
        }
    }
    assert!(checked > 0);
}

/// The bucketed decoder agrees with a brute-force scan of the table, over
/// uniformly random words and over random words inside each row (with a few
/// bits flipped, to land near the row's edges).
#[test]
fn decode_is_the_first_matching_row() {
    let mut rng = XorShift::new(0x5eed_a64d_ec0d_e001);
    for _ in 0..1_000_000 {
        let w = rng.next_u32();
        assert_eq!(decode(w), first_match(w), "{w:08x}");
    }
    for r in ROWS {
        for _ in 0..2_000 {
            let w = random_in_row(r, &mut rng);
            assert_eq!(decode(w), first_match(w), "{w:08x} (in {})", r.name);
            // A row owns all its words unless an earlier row overrides it.
            if !ROWS.iter().any(|x| x.overrides.contains(&r.name)) {
                assert_eq!(
                    decode(w),
                    Some(r.op),
                    "{w:08x} matches {} but decodes elsewhere",
                    r.name
                );
            }
            let flipped = w ^ (1 << (rng.next_u32() % 32)) ^ (1 << (rng.next_u32() % 32));
            assert_eq!(decode(flipped), first_match(flipped), "{flipped:08x} (near {})", r.name);
        }
    }
}

#[test]
fn bit_masks_match_known_values() {
    // and x0, x1, #0xf: N=1 immr=0 imms=3.
    assert_eq!(decode_bit_masks(1, 3, 0, true, 64).map(|m| m.0), Some(0xf));
    // orr w0, wzr, #0x80000000: N=0 immr=1 imms=0.
    assert_eq!(decode_bit_masks(0, 0, 1, true, 32).map(|m| m.0), Some(0x8000_0000));
    // All-ones is reserved for the logical immediates.
    assert_eq!(decode_bit_masks(1, 0x3f, 0, true, 64), None);
    assert_eq!(decode_bit_masks(0, 0x3c, 0, true, 32).map(|m| m.0), Some(0x5555_5555));
}
