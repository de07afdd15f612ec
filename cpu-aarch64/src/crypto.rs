//! The cryptographic extension (AES, SHA-1, SHA-256, PMULL) on 128-bit
//! register values: the evaluation of [`CryptoOp`], following the Arm ARM
//! pseudocode (`AESSubBytes`, `AESShiftRows`, `AESMixColumns`, `SHA1C`,
//! `SHA256hash`, `PolynomialMult`, ...).
//!
//! Register layout: lane/byte 0 is the least significant. An AES state is
//! the 16 bytes in FIPS-197 input order (`s[r, c]` is byte `r + 4c`), which
//! is what `ld1 {v.16b}` makes of a block in memory. SHA words are 32-bit
//! lanes, word 0 = lane 0.

use crate::sem::CryptoOp;

/// Evaluates `op`; see [`CryptoOp`] for which register each operand is.
pub fn eval(op: CryptoOp, a: u128, b: u128, c: u128) -> u128 {
    match op {
        CryptoOp::Aese => aes_sub_bytes(aes_shift_rows(a ^ b)),
        CryptoOp::Aesd => aes_inv_sub_bytes(aes_inv_shift_rows(a ^ b)),
        CryptoOp::Aesmc => aes_mix_columns(a),
        CryptoOp::Aesimc => aes_inv_mix_columns(a),
        CryptoOp::Sha1C => sha1_rounds(a, b as u32, c, sha1_choose),
        CryptoOp::Sha1P => sha1_rounds(a, b as u32, c, sha1_parity),
        CryptoOp::Sha1M => sha1_rounds(a, b as u32, c, sha1_majority),
        CryptoOp::Sha1Su0 => sha1su0(a, b, c),
        CryptoOp::Sha1H => u128::from((a as u32).rotate_left(30)),
        CryptoOp::Sha1Su1 => sha1su1(a, b),
        CryptoOp::Sha256H => sha256_hash(a, b, c, true),
        CryptoOp::Sha256H2 => sha256_hash(b, a, c, false),
        CryptoOp::Sha256Su0 => sha256su0(a, b),
        CryptoOp::Sha256Su1 => sha256su1(a, b, c),
        CryptoOp::Pmull64 { upper } => {
            let sh = if upper { 64 } else { 0 };
            pmull64((a >> sh) as u64, (b >> sh) as u64)
        }
    }
}

// ---------------------------------------------------------------------------
// AES

/// Multiplication in GF(2^8) modulo the AES polynomial x^8 + x^4 + x^3 + x + 1.
const fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            p ^= a;
        }
        let carry = a & 0x80 != 0;
        a <<= 1;
        if carry {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    p
}

/// FIPS-197 section 5.1.1: the multiplicative inverse in GF(2^8) (0 maps to
/// 0) followed by the affine transformation with constant 0x63.
const fn make_sbox() -> [u8; 256] {
    let mut s = [0u8; 256];
    let mut x = 0usize;
    while x < 256 {
        let mut inv = 0u8;
        if x != 0 {
            let mut y = 1usize;
            while y < 256 {
                if gf_mul(x as u8, y as u8) == 1 {
                    inv = y as u8;
                    break;
                }
                y += 1;
            }
        }
        s[x] = inv ^ inv.rotate_left(1) ^ inv.rotate_left(2) ^ inv.rotate_left(3) ^ inv.rotate_left(4) ^ 0x63;
        x += 1;
    }
    s
}

const fn invert(s: &[u8; 256]) -> [u8; 256] {
    let mut inv = [0u8; 256];
    let mut x = 0usize;
    while x < 256 {
        inv[s[x] as usize] = x as u8;
        x += 1;
    }
    inv
}

/// The AES S-box (FIPS-197 Figure 7).
pub static SBOX: [u8; 256] = make_sbox();
/// The inverse S-box (FIPS-197 Figure 14).
pub static INV_SBOX: [u8; 256] = invert(&make_sbox());

fn bytes(x: u128) -> [u8; 16] {
    x.to_le_bytes()
}

fn from_bytes(b: [u8; 16]) -> u128 {
    u128::from_le_bytes(b)
}

fn aes_sub_bytes(x: u128) -> u128 {
    from_bytes(bytes(x).map(|b| SBOX[usize::from(b)]))
}

fn aes_inv_sub_bytes(x: u128) -> u128 {
    from_bytes(bytes(x).map(|b| INV_SBOX[usize::from(b)]))
}

/// Row `r` is rotated left by `r` columns: `out[r, c] = in[r, c + r]`.
fn aes_shift_rows(x: u128) -> u128 {
    let i = bytes(x);
    from_bytes(std::array::from_fn(|k| {
        let (r, c) = (k % 4, k / 4);
        i[r + 4 * ((c + r) % 4)]
    }))
}

/// `out[r, c] = in[r, c - r]`.
fn aes_inv_shift_rows(x: u128) -> u128 {
    let i = bytes(x);
    from_bytes(std::array::from_fn(|k| {
        let (r, c) = (k % 4, k / 4);
        i[r + 4 * ((c + 4 - r) % 4)]
    }))
}

/// Multiplies each column by the circulant matrix whose first row is `m`.
fn aes_columns(x: u128, m: [u8; 4]) -> u128 {
    let i = bytes(x);
    from_bytes(std::array::from_fn(|k| {
        let (r, c) = (k % 4, k / 4);
        (0..4).fold(0, |acc, j| acc ^ gf_mul(m[(j + 4 - r) % 4], i[4 * c + j]))
    }))
}

fn aes_mix_columns(x: u128) -> u128 {
    aes_columns(x, [2, 3, 1, 1])
}

fn aes_inv_mix_columns(x: u128) -> u128 {
    aes_columns(x, [0x0e, 0x0b, 0x0d, 0x09])
}

// ---------------------------------------------------------------------------
// SHA-1 and SHA-256

/// 32-bit element `e` of `x`.
fn elem(x: u128, e: u32) -> u32 {
    (x >> (32 * e)) as u32
}

fn from_words(w: [u32; 4]) -> u128 {
    w.iter()
        .enumerate()
        .fold(0, |acc, (e, &v)| acc | (u128::from(v) << (32 * e)))
}

fn sha1_choose(x: u32, y: u32, z: u32) -> u32 {
    ((y ^ z) & x) ^ z
}

fn sha1_parity(x: u32, y: u32, z: u32) -> u32 {
    x ^ y ^ z
}

fn sha1_majority(x: u32, y: u32, z: u32) -> u32 {
    (x & y) | ((x | y) & z)
}

/// SHA1C/SHA1P/SHA1M: four rounds on `x` = abcd (a in word 0) and `y` = e,
/// with `w` = the four schedule words plus the round constant.
fn sha1_rounds(mut x: u128, mut y: u32, w: u128, f: fn(u32, u32, u32) -> u32) -> u128 {
    for e in 0..4 {
        let t = f(elem(x, 1), elem(x, 2), elem(x, 3));
        y = y
            .wrapping_add(elem(x, 0).rotate_left(5))
            .wrapping_add(t)
            .wrapping_add(elem(w, e));
        // X<63:32> = ROL(X<63:32>, 30)
        let b = u128::from(elem(x, 1).rotate_left(30));
        x = (x & !(0xffff_ffffu128 << 32)) | (b << 32);
        // <Y, X> = ROL(Y : X, 32)
        let top = elem(x, 3);
        x = (x << 32) | u128::from(y);
        y = top;
    }
    x
}

fn sha1su0(d: u128, n: u128, m: u128) -> u128 {
    // operand2<63:0> : operand1<127:64>
    let r = (n << 64) | (d >> 64);
    r ^ d ^ m
}

fn sha1su1(d: u128, n: u128) -> u128 {
    let t = d ^ (n >> 32);
    let t0 = elem(t, 0);
    from_words([
        t0.rotate_left(1),
        elem(t, 1).rotate_left(1),
        elem(t, 2).rotate_left(1),
        elem(t, 3).rotate_left(1) ^ t0.rotate_left(2),
    ])
}

fn sha256_choose(x: u32, y: u32, z: u32) -> u32 {
    ((y ^ z) & x) ^ z
}

fn sha256_majority(x: u32, y: u32, z: u32) -> u32 {
    (x & y) | ((x | y) & z)
}

fn sha256_big_sigma0(x: u32) -> u32 {
    x.rotate_right(2) ^ x.rotate_right(13) ^ x.rotate_right(22)
}

fn sha256_big_sigma1(x: u32) -> u32 {
    x.rotate_right(6) ^ x.rotate_right(11) ^ x.rotate_right(25)
}

/// `SHA256hash(X, Y, W, part1)`: four rounds with `x` = abcd and `y` = efgh
/// (a and e in word 0); returns the new abcd (`part1`) or efgh.
fn sha256_hash(mut x: u128, mut y: u128, w: u128, part1: bool) -> u128 {
    for e in 0..4 {
        let chs = sha256_choose(elem(y, 0), elem(y, 1), elem(y, 2));
        let maj = sha256_majority(elem(x, 0), elem(x, 1), elem(x, 2));
        let t1 = elem(y, 3)
            .wrapping_add(sha256_big_sigma1(elem(y, 0)))
            .wrapping_add(chs)
            .wrapping_add(elem(w, e));
        let x3 = t1.wrapping_add(elem(x, 3));
        let y3 = t1.wrapping_add(sha256_big_sigma0(elem(x, 0))).wrapping_add(maj);
        // X<127:96> = x3, Y<127:96> = y3, then <Y, X> = ROL(Y : X, 32).
        let (xlo, ylo) = (x & (u128::MAX >> 32), y & (u128::MAX >> 32));
        x = (xlo << 32) | u128::from(y3);
        y = (ylo << 32) | u128::from(x3);
    }
    if part1 {
        x
    } else {
        y
    }
}

fn sha256su0(d: u128, n: u128) -> u128 {
    // T = operand2<31:0> : operand1<127:32>
    let t = (n << 96) | (d >> 32);
    from_words(std::array::from_fn(|e| {
        let v = elem(t, e as u32);
        (v.rotate_right(7) ^ v.rotate_right(18) ^ (v >> 3)).wrapping_add(elem(d, e as u32))
    }))
}

fn sha256su1(d: u128, n: u128, m: u128) -> u128 {
    let sigma1 = |v: u32| v.rotate_right(17) ^ v.rotate_right(19) ^ (v >> 10);
    // T0 = operand3<31:0> : operand2<127:32>; T1 = operand3<127:64>
    let t0 = (m << 96) | (n >> 32);
    let mut r = [0u32; 4];
    for e in 0..4 {
        // Words 2 and 3 use words 0 and 1 of this result (T1 = result<63:0>).
        let t1 = if e < 2 { elem(m, e as u32 + 2) } else { r[e - 2] };
        r[e] = sigma1(t1)
            .wrapping_add(elem(d, e as u32))
            .wrapping_add(elem(t0, e as u32));
    }
    from_words(r)
}

// ---------------------------------------------------------------------------
// Polynomial multiplication

/// The carry-less (GF(2)[x]) product of two 64-bit polynomials.
fn pmull64(a: u64, b: u64) -> u128 {
    let a = u128::from(a);
    (0..64).filter(|i| b >> i & 1 == 1).fold(0, |acc, i| acc ^ (a << i))
}

#[cfg(test)]
mod tests {
    //! Known-answer tests from the published standards, computed the way
    //! real code uses the instructions: every step below is one
    //! instruction-level operation ([`eval`]) or plain integer glue
    //! (EOR/ADD/REV/DUP) that the guest does with other instructions.

    use super::*;

    fn op(o: CryptoOp, a: u128, b: u128, c: u128) -> u128 {
        eval(o, a, b, c)
    }

    /// A 16-byte block given as hex in memory order, as `ld1 {v.16b}` loads it.
    fn block(hex: &str) -> u128 {
        assert_eq!(hex.len(), 32, "{hex}");
        let b: Vec<u8> = (0..16)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        u128::from_le_bytes(b.try_into().unwrap())
    }

    fn hex(x: u128) -> String {
        x.to_le_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn dup32(w: u32) -> u128 {
        from_words([w; 4])
    }

    #[test]
    fn sbox_matches_fips197_figure7() {
        // Spot values of Figure 7 / Figure 14 and the worked example of
        // section 5.1.1 (S(0x53) = 0xed).
        let cases = [
            (0x00, 0x63),
            (0x01, 0x7c),
            (0x53, 0xed),
            (0x10, 0xca),
            (0x9a, 0xb8),
            (0xff, 0x16),
        ];
        for (x, s) in cases {
            assert_eq!(SBOX[x], s, "S({x:#x})");
            assert_eq!(INV_SBOX[s as usize], x as u8);
        }
        let mut seen = [false; 256];
        for &s in &SBOX {
            assert!(!seen[s as usize], "S-box is not a permutation");
            seen[s as usize] = true;
        }
    }

    #[test]
    fn shift_rows_matches_the_arm_arm_byte_order() {
        // AESShiftRows: result byte 1 is op<47:40> (byte 5), byte 15 is
        // op<95:88> (byte 11); InvShiftRows undoes it.
        let x = from_bytes(std::array::from_fn(|i| i as u8));
        let want: [u8; 16] = [0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12, 1, 6, 11];
        assert_eq!(bytes(aes_shift_rows(x)), want);
        assert_eq!(aes_inv_shift_rows(aes_shift_rows(x)), x);
    }

    #[test]
    fn mix_columns_fips197_example() {
        // FIPS-197 Appendix B, round 1: after ShiftRows / after MixColumns.
        let after_shift = block("d4bf5d30e0b452aeb84111f11e2798e5");
        let after_mix = block("046681e5e0cb199a48f8d37a2806264c");
        assert_eq!(hex(op(CryptoOp::Aesmc, after_shift, 0, 0)), hex(after_mix));
        assert_eq!(hex(op(CryptoOp::Aesimc, after_mix, 0, 0)), hex(after_shift));
    }

    /// AES-128 key expansion as the Linux/ACLE code does it: SubWord of a
    /// word by AESE with a zero key on the word broadcast to all four
    /// columns (ShiftRows then moves nothing).
    fn aes128_expand(key: u128) -> [u128; 11] {
        let mut rk = [0u128; 11];
        rk[0] = key;
        let mut rcon = 1u8;
        for i in 1..11 {
            let p = rk[i - 1];
            let sub = elem(op(CryptoOp::Aese, dup32(elem(p, 3)), 0, 0), 0);
            let mut w0 = elem(p, 0) ^ sub.rotate_right(8) ^ u32::from(rcon);
            let mut words = [0u32; 4];
            for (j, w) in words.iter_mut().enumerate() {
                if j > 0 {
                    w0 ^= elem(p, j as u32);
                }
                *w = w0;
            }
            rk[i] = from_words(words);
            rcon = gf_mul(rcon, 2);
        }
        rk
    }

    fn aes128_encrypt(rk: &[u128; 11], mut s: u128) -> u128 {
        for k in &rk[..9] {
            s = op(CryptoOp::Aesmc, op(CryptoOp::Aese, s, *k, 0), 0, 0);
        }
        op(CryptoOp::Aese, s, rk[9], 0) ^ rk[10]
    }

    /// The equivalent inverse cipher (FIPS-197 5.3.5) with AESIMC'd keys.
    fn aes128_decrypt(rk: &[u128; 11], mut s: u128) -> u128 {
        for i in (2..=10).rev() {
            let k = if i == 10 {
                rk[10]
            } else {
                op(CryptoOp::Aesimc, rk[i], 0, 0)
            };
            s = op(CryptoOp::Aesimc, op(CryptoOp::Aesd, s, k, 0), 0, 0);
        }
        op(CryptoOp::Aesd, s, op(CryptoOp::Aesimc, rk[1], 0, 0), 0) ^ rk[0]
    }

    #[test]
    fn aes128_fips197_appendix_a1_key_expansion() {
        let rk = aes128_expand(block("2b7e151628aed2a6abf7158809cf4f3c"));
        assert_eq!(hex(rk[1]), "a0fafe1788542cb123a339392a6c7605");
        assert_eq!(hex(rk[10]), "d014f9a8c9ee2589e13f0cc8b6630ca6");
    }

    #[test]
    fn aes128_fips197_appendix_b_and_c1() {
        // Appendix B.
        let rk = aes128_expand(block("2b7e151628aed2a6abf7158809cf4f3c"));
        let pt = block("3243f6a8885a308d313198a2e0370734");
        let ct = aes128_encrypt(&rk, pt);
        assert_eq!(hex(ct), "3925841d02dc09fbdc118597196a0b32");
        assert_eq!(hex(aes128_decrypt(&rk, ct)), hex(pt));
        // Appendix C.1.
        let rk = aes128_expand(block("000102030405060708090a0b0c0d0e0f"));
        let pt = block("00112233445566778899aabbccddeeff");
        let ct = aes128_encrypt(&rk, pt);
        assert_eq!(hex(ct), "69c4e0d86a7b0430d8cdb78070b4c55a");
        assert_eq!(hex(aes128_decrypt(&rk, ct)), hex(pt));
    }

    /// Big-endian message words, as `ld1 {v.16b}` + `rev32` produce them.
    fn be_words(b: &[u8]) -> u128 {
        from_words(std::array::from_fn(|i| {
            u32::from_be_bytes(b[4 * i..4 * i + 4].try_into().unwrap())
        }))
    }

    /// FIPS-180-4 padding: the message, 0x80, zeros, the 64-bit bit length.
    fn pad(msg: &[u8]) -> Vec<u8> {
        let mut m = msg.to_vec();
        m.push(0x80);
        while m.len() % 64 != 56 {
            m.push(0);
        }
        m.extend_from_slice(&(msg.len() as u64 * 8).to_be_bytes());
        m
    }

    fn sha1(msg: &[u8]) -> String {
        const K: [u32; 4] = [0x5a82_7999, 0x6ed9_eba1, 0x8f1b_bcdc, 0xca62_c1d6];
        let mut abcd = from_words([0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476]);
        let mut e = 0xc3d2_e1f0u32;
        for blk in pad(msg).chunks(64) {
            let mut w: [u128; 4] = std::array::from_fn(|i| be_words(&blk[16 * i..]));
            let (abcd0, e0) = (abcd, e);
            for g in 0..20 {
                if g >= 4 {
                    let su0 = op(CryptoOp::Sha1Su0, w[g % 4], w[(g + 1) % 4], w[(g + 2) % 4]);
                    w[g % 4] = op(CryptoOp::Sha1Su1, su0, w[(g + 3) % 4], 0);
                }
                let wk = from_words(std::array::from_fn(|i| elem(w[g % 4], i as u32).wrapping_add(K[g / 5])));
                let e_next = op(CryptoOp::Sha1H, abcd, 0, 0) as u32;
                let f = match g / 5 {
                    0 => CryptoOp::Sha1C,
                    2 => CryptoOp::Sha1M,
                    _ => CryptoOp::Sha1P,
                };
                abcd = op(f, abcd, u128::from(e), wk);
                e = e_next;
            }
            abcd = from_words(std::array::from_fn(|i| {
                elem(abcd, i as u32).wrapping_add(elem(abcd0, i as u32))
            }));
            e = e.wrapping_add(e0);
        }
        (0..4).map(|i| format!("{:08x}", elem(abcd, i))).collect::<String>() + &format!("{e:08x}")
    }

    const SHA256_K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
        0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
        0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
        0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
        0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
        0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
        0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    fn sha256(msg: &[u8]) -> String {
        let mut abcd = from_words([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a]);
        let mut efgh = from_words([0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
        for blk in pad(msg).chunks(64) {
            let mut w: [u128; 4] = std::array::from_fn(|i| be_words(&blk[16 * i..]));
            let (abcd0, efgh0) = (abcd, efgh);
            for g in 0..16 {
                if g >= 4 {
                    let su0 = op(CryptoOp::Sha256Su0, w[g % 4], w[(g + 1) % 4], 0);
                    w[g % 4] = op(CryptoOp::Sha256Su1, su0, w[(g + 2) % 4], w[(g + 3) % 4]);
                }
                let wk = from_words(std::array::from_fn(|i| {
                    elem(w[g % 4], i as u32).wrapping_add(SHA256_K[4 * g + i])
                }));
                let saved = abcd;
                abcd = op(CryptoOp::Sha256H, abcd, efgh, wk);
                efgh = op(CryptoOp::Sha256H2, efgh, saved, wk);
            }
            let add = |x: u128, y: u128| {
                from_words(std::array::from_fn(|i| {
                    elem(x, i as u32).wrapping_add(elem(y, i as u32))
                }))
            };
            abcd = add(abcd, abcd0);
            efgh = add(efgh, efgh0);
        }
        [abcd, efgh]
            .iter()
            .flat_map(|&x| (0..4).map(move |i| format!("{:08x}", elem(x, i))))
            .collect()
    }

    const MSG448: &[u8] = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

    #[test]
    fn sha1_fips180_examples() {
        assert_eq!(sha1(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(sha1(MSG448), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    }

    #[test]
    fn sha256_fips180_examples() {
        assert_eq!(
            sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256(MSG448),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn sha1h_and_scalar_forms() {
        assert_eq!(op(CryptoOp::Sha1H, u128::MAX - 0xffff_fffe, 0, 0), 0x4000_0000);
        // Only Sn's low word is e for SHA1C.
        let (x, w) = (
            block("000102030405060708090a0b0c0d0e0f"),
            block("f0e0d0c0b0a090807060504030201000"),
        );
        assert_eq!(
            op(CryptoOp::Sha1C, x, 5, w),
            op(CryptoOp::Sha1C, x, (u128::MAX << 32) | 5, w)
        );
    }

    fn pmull(a: u64, b: u64) -> u128 {
        op(CryptoOp::Pmull64 { upper: false }, u128::from(a), u128::from(b), 0)
    }

    #[test]
    fn pmull_known_products() {
        // (x^63 + 1)^2 = x^126 + 1 over GF(2).
        assert_eq!(pmull(0x8000_0000_0000_0001, 0x8000_0000_0000_0001), (1 << 126) | 1);
        // Squaring spreads the bits: (sum x^i)^2 = sum x^2i.
        assert_eq!(pmull(u64::MAX, u64::MAX), 0x5555_5555_5555_5555_5555_5555_5555_5555);
        // (x + 1)(x^2 + x + 1) = x^3 + 1; x^63 * x^63 = x^126.
        assert_eq!(pmull(3, 7), 9);
        assert_eq!(pmull(1 << 63, 1 << 63), 1 << 126);
        // PMULL2 uses the upper doublewords.
        let a = (u128::from(3u64) << 64) | 0xdead;
        let b = (u128::from(7u64) << 64) | 0xbeef;
        assert_eq!(op(CryptoOp::Pmull64 { upper: true }, a, b, 0), 9);
    }

    /// GF(2^128) multiplication of GCM with PMULL: blocks are bit-reflected
    /// per byte (RBIT .16b) so that x^i is bit i; four PMULLs give the
    /// 256-bit product, two more fold the top half with
    /// x^128 = x^7 + x^2 + x + 1 (0x87), and a last one folds the 7 bits
    /// that spill over.
    fn gf128_mul(a: u128, b: u128) -> u128 {
        let p = |x: u128, y: u128, hi_x: bool, hi_y: bool| {
            let x = if hi_x { x >> 64 } else { x & u128::from(u64::MAX) };
            let y = if hi_y { y >> 64 } else { y & u128::from(u64::MAX) };
            op(CryptoOp::Pmull64 { upper: false }, x, y, 0)
        };
        let lo = p(a, b, false, false);
        let hi = p(a, b, true, true);
        let mid = p(a, b, false, true) ^ p(a, b, true, false);
        let (lo, hi) = (lo ^ (mid << 64), hi ^ (mid >> 64));
        let t = p(hi, 0x87, false, false) ^ (p(hi, 0x87, true, false) << 64);
        let spill = p(hi, 0x87, true, false) >> 64;
        lo ^ t ^ p(spill, 0x87, false, false)
    }

    fn reflect(x: u128) -> u128 {
        from_bytes(bytes(x).map(u8::reverse_bits))
    }

    #[test]
    fn aes_gcm_test_case_2() {
        // McGrew & Viega, "The Galois/Counter Mode of Operation", test case 2:
        // K = 0, P = one zero block, IV = 0 (96 bits).
        let rk = aes128_expand(0);
        let h = aes128_encrypt(&rk, 0);
        assert_eq!(hex(h), "66e94bd4ef8a2c3b884cfa59ca342b2e");
        let y0 = block("00000000000000000000000000000001");
        let y1 = block("00000000000000000000000000000002");
        let c = aes128_encrypt(&rk, y1);
        assert_eq!(hex(c), "0388dace60b6a392f328c2b971b2fe78");
        let hr = reflect(h);
        let x1 = gf128_mul(reflect(c), hr);
        assert_eq!(hex(reflect(x1)), "5e2ec746917062882c85b0685353deb7");
        let lens = block("00000000000000000000000000000080");
        let ghash = reflect(gf128_mul(x1 ^ reflect(lens), hr));
        assert_eq!(hex(ghash), "f38cbb1ad69223dcc3457ae5b6b0f885");
        let tag = ghash ^ aes128_encrypt(&rk, y0);
        assert_eq!(hex(tag), "ab6e47d42cec13bdf53a67b21257bddf");
    }
}
