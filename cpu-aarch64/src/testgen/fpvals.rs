//! Operand values for FP/SIMD cases: per lane size, the special values of
//! IEEE 754 and of the Arm FP behaviour (±0, ±infinity, quiet and
//! signalling NaNs with payloads, the smallest and largest denormals, the
//! smallest normal, ±max, 1.0, values that round to ties when converted to
//! integers or narrowed), values close to each other (so sums cancel and
//! round), biased exponents, random bits; integer lanes at their edges;
//! and random FPCR/FPSR values.

use super::Rng;
use crate::sysreg::{fpcr, fpsr};

/// Half-precision specials.
const SPECIAL_H: &[u16] = &[
    0x0000, 0x8000, // ±0
    0x7c00, 0xfc00, // ±inf
    0x7e00, 0xfe01, 0x7fff, // quiet NaNs (payloads)
    0x7c01, 0x7d00, 0xfd55, // signalling NaNs (payloads)
    0x0001, 0x8001, // smallest denormals
    0x03ff, 0x83ff, // largest denormals
    0x0400, 0x8400, // smallest normals
    0x7bff, 0xfbff, // ±max
    0x3c00, 0xbc00, // ±1.0
    0x3800, 0x3e00, 0x4100, 0xc100, // 0.5, 1.5, 2.5, -2.5: ties to integers
    0x3bff, 0x3c01, // around 1.0
    0x7800, 0x5bff, 0x6000, // 32768, 255.9, 512
];

/// Single-precision specials.
const SPECIAL_S: &[u32] = &[
    0x0000_0000,
    0x8000_0000, // ±0
    0x7f80_0000,
    0xff80_0000, // ±inf
    0x7fc0_0000,
    0xffc1_2345,
    0x7fff_ffff, // quiet NaNs
    0x7f80_0001,
    0xffa0_0000,
    0x7fbf_ffff, // signalling NaNs
    0x0000_0001,
    0x8000_0001, // smallest denormals
    0x007f_ffff,
    0x807f_ffff, // largest denormals
    0x0040_0000,
    0x0080_0000,
    0x8080_0000, // smallest normals
    0x7f7f_ffff,
    0xff7f_ffff, // ±max
    0x3f80_0000,
    0xbf80_0000, // ±1.0
    0x3f00_0000,
    0x3fc0_0000,
    0x4020_0000,
    0xbfc0_0000,
    0xc020_0000, // ±0.5, 1.5, 2.5: ties to integers
    0x3f80_1000,
    0x3f80_3000,
    0xbf80_1000, // ties when narrowed to half precision
    0x477f_f000, // 65520: the tie between half's max and 2^16
    0x3380_0000,
    0x3300_0000, // 2^-24 (half's smallest denormal), 2^-25 (a tie)
    0x3eff_ffff, // just below 0.5
    0x4f00_0000,
    0xcf00_0000,
    0x4f80_0000,
    0x4eff_ffff, // ±2^31, 2^32, just below 2^31
    0x5f00_0000,
    0xdf00_0000,
    0x5f80_0000, // ±2^63, 2^64
    0x4b80_0000, // 2^24
    0x2000_0000,
    0x6000_0000, // squares under- and overflow
];

/// Double-precision specials.
const SPECIAL_D: &[u64] = &[
    0x0000_0000_0000_0000,
    0x8000_0000_0000_0000, // ±0
    0x7ff0_0000_0000_0000,
    0xfff0_0000_0000_0000, // ±inf
    0x7ff8_0000_0000_0000,
    0xfff8_0000_0001_2345,
    0x7fff_ffff_ffff_ffff, // quiet NaNs
    0x7ff0_0000_0000_0001,
    0xfff4_0000_dead_beef,
    0x7ff7_ffff_ffff_ffff, // signalling NaNs
    0x0000_0000_0000_0001,
    0x8000_0000_0000_0001, // smallest denormals
    0x000f_ffff_ffff_ffff,
    0x800f_ffff_ffff_ffff, // largest denormals
    0x0010_0000_0000_0000,
    0x8010_0000_0000_0000, // smallest normals
    0x7fef_ffff_ffff_ffff,
    0xffef_ffff_ffff_ffff, // ±max
    0x3ff0_0000_0000_0000,
    0xbff0_0000_0000_0000, // ±1.0
    0x3fe0_0000_0000_0000,
    0xbfe0_0000_0000_0000,
    0x3ff8_0000_0000_0000,
    0x4004_0000_0000_0000,
    0xc004_0000_0000_0000, // ±0.5, 1.5, ±2.5: ties to integers
    0x41df_ffff_ffe0_0000, // 2^31 - 0.5: a tie at the 32-bit limit
    0x3ff0_0000_1000_0000,
    0x3ff0_0000_3000_0000,
    0xbff0_0000_1000_0000, // ties when narrowed to single precision
    0x3ff0_0200_0000_0000, // a tie when narrowed to half precision
    0x47ef_ffff_f000_0000, // the tie between single's max and 2^128
    0x36a0_0000_0000_0000,
    0x3690_0000_0000_0000, // 2^-149 (single's smallest denormal), 2^-150
    0x3810_0000_0000_0000, // single's smallest normal
    0x41e0_0000_0000_0000,
    0xc1e0_0000_0000_0000,
    0x41f0_0000_0000_0000, // ±2^31, 2^32
    0x43e0_0000_0000_0000,
    0xc3e0_0000_0000_0000,
    0x43f0_0000_0000_0000, // ±2^63, 2^64
    0x43df_ffff_ffff_ffff, // just below 2^63
    0x3fef_ffff_ffff_ffff, // just below 1.0
    0x4330_0000_0000_0000, // 2^52
    0x2000_0000_0000_0000,
    0x6000_0000_0000_0000, // squares under- and overflow
];

/// (exponent bits, fraction bits) of a 16-, 32- or 64-bit lane.
fn format(bits: u32) -> (u32, u32) {
    match bits {
        16 => (5, 10),
        32 => (8, 23),
        _ => (11, 52),
    }
}

impl Rng {
    /// A special value of a `bits`-bit (16, 32, 64) floating-point lane.
    pub fn fp_special(&mut self, bits: u32) -> u64 {
        match bits {
            16 => u64::from(SPECIAL_H[self.below(SPECIAL_H.len() as u64) as usize]),
            32 => u64::from(SPECIAL_S[self.below(SPECIAL_S.len() as u64) as usize]),
            _ => SPECIAL_D[self.below(SPECIAL_D.len() as u64) as usize],
        }
    }

    /// A `bits`-bit (16, 32, 64) floating-point lane: a special value, a
    /// value with a biased exponent (the edges, around 1.0, around the
    /// integer limits) and a patterned fraction, a value near ±1 (values
    /// near each other cancel and round), a value whose fraction ends in a
    /// half (ties when narrowed), an integer plus a half (ties when
    /// rounded to an integer), or random bits.
    pub fn fp_lane(&mut self, bits: u32) -> u64 {
        let (e, f) = format(bits);
        let emax = (1u64 << e) - 1;
        let bias = emax >> 1;
        let fm = (1u64 << f) - 1;
        let sign = self.below(2) << (e + f);
        match self.below(12) {
            0..=3 => self.fp_special(bits),
            4 | 5 => {
                let exp = match self.below(7) {
                    0 => 0,
                    1 => 1 + self.below(3),
                    2 => emax - 1 - self.below(3),
                    3 => emax,
                    4 => bias - 4 + self.below(8),
                    5 => (bias + 14 + self.below(52)).min(emax),
                    _ => self.below(emax + 1),
                };
                let frac = match self.below(4) {
                    0 => self.next_u64() & fm,
                    1 => fm >> self.below(u64::from(f)),
                    2 => self.next_u64() & fm & !(fm >> self.below(u64::from(f))),
                    _ => 1 << self.below(u64::from(f)),
                };
                sign | exp << f | frac
            }
            6 | 7 => sign | (bias - self.below(2)) << f | (self.next_u64() & fm),
            8 => {
                // Fraction ends in 1 followed by zeros: a tie when narrowed
                // (double to single: 29 dropped bits; single to half: 13).
                let drop = match bits {
                    64 => 29,
                    32 => 13,
                    _ => 1 + self.below(8) as u32,
                };
                let exp = bias - 8 + self.below(24).min(emax - bias + 7);
                sign | exp << f | (self.next_u64() & fm & !((1 << drop) - 1)) | 1 << (drop - 1)
            }
            9 => {
                // k + 0.5 for a small integer k (exact in every format).
                let k = self.below(if bits == 16 { 1024 } else { 2048 });
                let x = k as f64 + 0.5;
                let x = if sign != 0 { -x } else { x };
                match bits {
                    64 => x.to_bits(),
                    32 => u64::from((x as f32).to_bits()),
                    _ => u64::from(f32_to_f16_exact((x as f32).to_bits())),
                }
            }
            _ => self.next_u64() & (u64::MAX >> (64 - bits)),
        }
    }

    /// A `bits`-bit integer lane at an edge: 0, 1, all ones, the signed
    /// extremes and their neighbours, small numbers of either sign (shift
    /// amounts), or random.
    pub fn int_lane(&mut self, bits: u32) -> u64 {
        let m = u64::MAX >> (64 - bits);
        let min = 1u64 << (bits - 1);
        (match self.below(12) {
            0 => 0,
            1 => 1,
            2 => m,
            3 => min,
            4 => min - 1,
            5 => min + 1,
            6 => m - 1,
            7 | 8 => (self.below(140)).wrapping_sub(70),
            _ => self.next_u64(),
        }) & m
    }

    /// A V register for FP/SIMD cases: lanes of one size, floating-point
    /// (half, single, double) or integer (8 to 64 bits); sometimes bytes
    /// below 72 (in-range TBL/TBX indices) or random bits.
    pub fn vreg(&mut self) -> u128 {
        let lanes = |rng: &mut Rng, bits: u32, f: fn(&mut Rng, u32) -> u64| {
            (0..128 / bits).fold(0u128, |acc, i| acc | u128::from(f(rng, bits)) << (bits * i))
        };
        match self.below(16) {
            0..=2 => lanes(self, 64, Rng::fp_lane),
            3..=6 => lanes(self, 32, Rng::fp_lane),
            7..=8 => lanes(self, 16, Rng::fp_lane),
            9..=12 => {
                let bits = 8 << self.below(4);
                lanes(self, bits, Rng::int_lane)
            }
            13 => u128::from_le_bytes(self.next_u128().to_le_bytes().map(|b| b % 72)),
            _ => self.next_u128(),
        }
    }

    /// 64 bits of FP data for memory and general registers: one double,
    /// two singles or four halves, or edge-biased integer bits.
    pub fn fp_u64(&mut self) -> u64 {
        match self.below(4) {
            0 => self.fp_lane(64),
            1 => self.fp_lane(32) | self.fp_lane(32) << 32,
            2 => (0..4).fold(0, |acc, i| acc | self.fp_lane(16) << (16 * i)),
            _ => self.edge(),
        }
    }

    /// 128 random bits.
    pub fn next_u128(&mut self) -> u128 {
        u128::from(self.next_u64()) | u128::from(self.next_u64()) << 64
    }

    /// A random FPCR: zero a third of the time, else random RMode, FZ, DN
    /// and AHP (the bits our FPCR models as writable).
    pub fn fpcr(&mut self) -> u64 {
        if self.one_in(3) {
            0
        } else {
            self.next_u64() & fpcr::WRITABLE
        }
    }

    /// A random FPSR: zero half the time, else random N, Z, C, V, QC and
    /// cumulative exception flags.
    pub fn fpsr(&mut self) -> u64 {
        if self.one_in(2) {
            0
        } else {
            self.next_u64() & fpsr::WRITABLE
        }
    }
}

/// The half-precision encoding of single-precision `s`, which must be
/// exactly representable as a normal half (small integers plus a half).
fn f32_to_f16_exact(s: u32) -> u16 {
    let sign = (s >> 16) & 0x8000;
    let exp = (s >> 23) & 0xff;
    let frac = s & 0x7f_ffff;
    if exp == 0 {
        return sign as u16;
    }
    (sign | (exp + 15 - 127) << 10 | frac >> 13) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_conversion_of_exact_values() {
        assert_eq!(f32_to_f16_exact(1.5f32.to_bits()), 0x3e00);
        assert_eq!(f32_to_f16_exact((-2.5f32).to_bits()), 0xc100);
        assert_eq!(f32_to_f16_exact(1023.5f32.to_bits()), 0x63ff);
    }

    #[test]
    fn lanes_fit_their_size() {
        let mut rng = Rng::new(3);
        for _ in 0..10_000 {
            assert!(rng.fp_lane(16) <= 0xffff);
            assert!(rng.fp_lane(32) <= 0xffff_ffff);
            assert!(rng.int_lane(8) <= 0xff);
            assert_eq!(rng.fpcr() & !fpcr::WRITABLE, 0);
        }
    }
}
