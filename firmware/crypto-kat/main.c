/*
 * crypto-kat: known-answer tests of the Armv8 cryptographic extension
 * (AESE/AESD/AESMC/AESIMC, SHA1*, SHA256*, 64-bit PMULL/PMULL2), written
 * the way real code uses the instructions, with the ACLE intrinsics of
 * <arm_neon.h>. The vectors come from FIPS-197 (AES), FIPS 180-4 (SHA-1,
 * SHA-256) and the GCM specification (McGrew & Viega, test case 2), plus
 * carry-less products that follow from arithmetic over GF(2).
 *
 * Prints one line per test over the PL011 and exits through semihosting:
 * 0 when every result matches, 1 otherwise (the failing lines say FAIL and
 * show what was computed and what was expected).
 */
#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>

#include "fpsimd.h"
#include "print.h"
#include "uart.h"

#define EXIT_FAIL 1

int fw_main(uint64_t dtb);

static int tests, failures;

/* Hides a value from the optimiser, so nothing is computed at build time. */
#define OPAQUE(x) __asm__ volatile("" : "+w"(x))

static void put_hex_bytes(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uart_putc("0123456789abcdef"[b[i] >> 4]);
		uart_putc("0123456789abcdef"[b[i] & 0xf]);
	}
}

/*
 * One test line: "<name>: <got> ok", or "<name>: <got> FAIL (want <want>)".
 * Values are byte strings, printed in memory order.
 */
static void check(const char *name, const void *got, const void *want, size_t n)
{
	const uint8_t *g = got, *w = want;
	int same = 1;

	for (size_t i = 0; i < n; i++)
		same &= g[i] == w[i];
	tests++;
	uart_puts(name);
	uart_puts(": ");
	put_hex_bytes(g, n);
	if (same) {
		uart_puts(" ok\n");
	} else {
		failures++;
		uart_puts(" FAIL (want ");
		put_hex_bytes(w, n);
		uart_puts(")\n");
	}
}

static void check_q(const char *name, uint8x16_t got, const uint8_t want[16])
{
	uint8_t g[16] __attribute__((aligned(16)));

	vst1q_u8(g, got);
	check(name, g, want, 16);
}

/* ------------------------------------------------------------------------
 * AES-128
 */

/*
 * SubWord(w), as the Linux arm64 AES code does it: AESE with a zero round
 * key on w broadcast to all four columns (ShiftRows then moves nothing).
 */
static uint32_t sub_word(uint32_t w)
{
	uint8x16_t x = vreinterpretq_u8_u32(vdupq_n_u32(w));
	uint8x16_t zero = vdupq_n_u8(0);

	OPAQUE(zero);
	return vgetq_lane_u32(vreinterpretq_u32_u8(vaeseq_u8(x, zero)), 0);
}

/* FIPS-197 5.2 for Nk = 4; words are little-endian (byte 0 = a0). */
static void aes128_expand(uint8x16_t rk[11], const uint8_t key[16])
{
	uint32_t w[44] __attribute__((aligned(16)));
	uint32_t rcon = 1;

	for (int i = 0; i < 4; i++)
		w[i] = (uint32_t)key[4 * i] | (uint32_t)key[4 * i + 1] << 8 |
		       (uint32_t)key[4 * i + 2] << 16 | (uint32_t)key[4 * i + 3] << 24;
	for (int i = 4; i < 44; i++) {
		uint32_t t = w[i - 1];

		if (i % 4 == 0) {
			t = sub_word(t);
			t = ((t >> 8) | (t << 24)) ^ rcon; /* RotWord after SubWord */
			rcon = (rcon << 1) ^ (rcon & 0x80 ? 0x11b : 0);
		}
		w[i] = w[i - 4] ^ t;
	}
	for (int i = 0; i < 11; i++)
		rk[i] = vreinterpretq_u8_u32(vld1q_u32(&w[4 * i]));
}

static uint8x16_t aes128_encrypt(const uint8x16_t rk[11], uint8x16_t s)
{
	for (int i = 0; i < 9; i++)
		s = vaesmcq_u8(vaeseq_u8(s, rk[i]));
	return veorq_u8(vaeseq_u8(s, rk[9]), rk[10]);
}

/* The equivalent inverse cipher (FIPS-197 5.3.5). */
static void aes128_decrypt_keys(uint8x16_t dk[11], const uint8x16_t rk[11])
{
	dk[0] = rk[10];
	for (int i = 1; i < 10; i++)
		dk[i] = vaesimcq_u8(rk[10 - i]);
	dk[10] = rk[0];
}

static uint8x16_t aes128_decrypt(const uint8x16_t dk[11], uint8x16_t s)
{
	for (int i = 0; i < 9; i++)
		s = vaesimcq_u8(vaesdq_u8(s, dk[i]));
	return veorq_u8(vaesdq_u8(s, dk[9]), dk[10]);
}

struct aes_vector {
	const char *name;
	uint8_t key[16], pt[16], ct[16];
};

static const struct aes_vector aes_vectors[] = {
	{ "FIPS-197 B",
	  { 0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c },
	  { 0x32, 0x43, 0xf6, 0xa8, 0x88, 0x5a, 0x30, 0x8d, 0x31, 0x31, 0x98, 0xa2, 0xe0, 0x37, 0x07, 0x34 },
	  { 0x39, 0x25, 0x84, 0x1d, 0x02, 0xdc, 0x09, 0xfb, 0xdc, 0x11, 0x85, 0x97, 0x19, 0x6a, 0x0b, 0x32 } },
	{ "FIPS-197 C.1",
	  { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f },
	  { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff },
	  { 0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30, 0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4, 0xc5, 0x5a } },
};

/* FIPS-197 A.1: the last round key of the key in B. */
static const uint8_t aes_a1_rk10[16] = {
	0xd0, 0x14, 0xf9, 0xa8, 0xc9, 0xee, 0x25, 0x89, 0xe1, 0x3f, 0x0c, 0xc8, 0xb6, 0x63, 0x0c, 0xa6,
};

/* FIPS-197 B, round 1: the state after ShiftRows and after MixColumns. */
static const uint8_t aes_b_shifted[16] = {
	0xd4, 0xbf, 0x5d, 0x30, 0xe0, 0xb4, 0x52, 0xae, 0xb8, 0x41, 0x11, 0xf1, 0x1e, 0x27, 0x98, 0xe5,
};
static const uint8_t aes_b_mixed[16] = {
	0x04, 0x66, 0x81, 0xe5, 0xe0, 0xcb, 0x19, 0x9a, 0x48, 0xf8, 0xd3, 0x7a, 0x28, 0x06, 0x26, 0x4c,
};

static void aes_tests(void)
{
	static const char *const names[][3] = {
		{ "AES-128 key expansion (FIPS-197 A.1)", "AES-128 encrypt (FIPS-197 B)",
		  "AES-128 decrypt (FIPS-197 B)" },
		{ 0, "AES-128 encrypt (FIPS-197 C.1)", "AES-128 decrypt (FIPS-197 C.1)" },
	};
	uint8x16_t rk[11], dk[11];

	for (size_t v = 0; v < sizeof(aes_vectors) / sizeof(aes_vectors[0]); v++) {
		const struct aes_vector *t = &aes_vectors[v];

		aes128_expand(rk, t->key);
		if (names[v][0])
			check_q(names[v][0], rk[10], aes_a1_rk10);
		check_q(names[v][1], aes128_encrypt(rk, vld1q_u8(t->pt)), t->ct);
		aes128_decrypt_keys(dk, rk);
		check_q(names[v][2], aes128_decrypt(dk, vld1q_u8(t->ct)), t->pt);
	}
	check_q("AESMC (FIPS-197 B round 1)", vaesmcq_u8(vld1q_u8(aes_b_shifted)), aes_b_mixed);
	check_q("AESIMC (FIPS-197 B round 1)", vaesimcq_u8(vld1q_u8(aes_b_mixed)), aes_b_shifted);
}

/* ------------------------------------------------------------------------
 * SHA-1 and SHA-256 (FIPS 180-4)
 */

/* Big-endian message words of 16 bytes, as ld1 + rev32 load them. */
static uint32x4_t load_be32x4(const uint8_t *p)
{
	return vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(p)));
}

static void sha1_blocks(uint32_t h[5], const uint8_t *p, size_t blocks)
{
	static const uint32_t k[4] = { 0x5a827999, 0x6ed9eba1, 0x8f1bbcdc, 0xca62c1d6 };
	uint32x4_t abcd = vld1q_u32(h);
	uint32_t e = h[4];

	for (; blocks > 0; blocks--, p += 64) {
		uint32x4_t w[4], abcd0 = abcd;
		uint32_t e0 = e;

		for (int i = 0; i < 4; i++)
			w[i] = load_be32x4(p + 16 * i);
		/* Twenty groups of four rounds; w[g % 4] = W[4g .. 4g+3]. */
		for (int g = 0; g < 20; g++) {
			if (g >= 4)
				w[g % 4] = vsha1su1q_u32(vsha1su0q_u32(w[g % 4], w[(g + 1) % 4], w[(g + 2) % 4]),
							 w[(g + 3) % 4]);
			uint32x4_t wk = vaddq_u32(w[g % 4], vdupq_n_u32(k[g / 5]));
			uint32_t e_next = vsha1h_u32(vgetq_lane_u32(abcd, 0));

			if (g < 5)
				abcd = vsha1cq_u32(abcd, e, wk);
			else if (g >= 10 && g < 15)
				abcd = vsha1mq_u32(abcd, e, wk);
			else
				abcd = vsha1pq_u32(abcd, e, wk);
			e = e_next;
		}
		abcd = vaddq_u32(abcd, abcd0);
		e += e0;
	}
	vst1q_u32(h, abcd);
	h[4] = e;
}

static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static void sha256_blocks(uint32_t h[8], const uint8_t *p, size_t blocks)
{
	uint32x4_t abcd = vld1q_u32(h), efgh = vld1q_u32(h + 4);

	for (; blocks > 0; blocks--, p += 64) {
		uint32x4_t w[4], abcd0 = abcd, efgh0 = efgh;

		for (int i = 0; i < 4; i++)
			w[i] = load_be32x4(p + 16 * i);
		/* Sixteen groups of four rounds; w[g % 4] = W[4g .. 4g+3]. */
		for (int g = 0; g < 16; g++) {
			if (g >= 4)
				w[g % 4] = vsha256su1q_u32(vsha256su0q_u32(w[g % 4], w[(g + 1) % 4]),
							   w[(g + 2) % 4], w[(g + 3) % 4]);
			uint32x4_t wk = vaddq_u32(w[g % 4], vld1q_u32(&sha256_k[4 * g]));
			uint32x4_t abcd_in = abcd;

			abcd = vsha256hq_u32(abcd, efgh, wk);
			efgh = vsha256h2q_u32(efgh, abcd_in, wk);
		}
		abcd = vaddq_u32(abcd, abcd0);
		efgh = vaddq_u32(efgh, efgh0);
	}
	vst1q_u32(h, abcd);
	vst1q_u32(h + 4, efgh);
}

/*
 * FIPS 180-4 5.1.1 padding of a message of at most 119 bytes into `buf`
 * (128 bytes); returns the number of 64-byte blocks.
 */
static size_t sha_pad(uint8_t buf[128], const char *msg)
{
	size_t n = 0, total;

	while (msg[n]) {
		buf[n] = (uint8_t)msg[n];
		n++;
	}
	total = n + 9 <= 64 ? 64 : 128;
	buf[n] = 0x80;
	for (size_t i = n + 1; i < total - 8; i++)
		buf[i] = 0;
	for (int i = 0; i < 8; i++)
		buf[total - 1 - i] = (uint8_t)((uint64_t)n * 8 >> (8 * i));
	return total / 64;
}

/* A digest as bytes: its words big-endian, as FIPS 180-4 prints them. */
static void digest_bytes(uint8_t *out, const uint32_t *h, int words)
{
	for (int i = 0; i < words; i++)
		for (int j = 0; j < 4; j++)
			out[4 * i + j] = (uint8_t)(h[i] >> (24 - 8 * j));
}

static const char msg_abc[] = "abc";
static const char msg_448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

static const uint8_t sha1_abc[20] = {
	0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e,
	0x25, 0x71, 0x78, 0x50, 0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d,
};
static const uint8_t sha1_448[20] = {
	0x84, 0x98, 0x3e, 0x44, 0x1c, 0x3b, 0xd2, 0x6e, 0xba, 0xae,
	0x4a, 0xa1, 0xf9, 0x51, 0x29, 0xe5, 0xe5, 0x46, 0x70, 0xf1,
};
static const uint8_t sha256_abc[32] = {
	0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
	0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
};
static const uint8_t sha256_448[32] = {
	0x24, 0x8d, 0x6a, 0x61, 0xd2, 0x06, 0x38, 0xb8, 0xe5, 0xc0, 0x26, 0x93, 0x0c, 0x3e, 0x60, 0x39,
	0xa3, 0x3c, 0xe4, 0x59, 0x64, 0xff, 0x21, 0x67, 0xf6, 0xec, 0xed, 0xd4, 0x19, 0xdb, 0x06, 0xc1,
};

static void sha_tests(void)
{
	static const struct {
		const char *sha1_name, *sha256_name, *msg;
		const uint8_t *sha1, *sha256;
	} cases[] = {
		{ "SHA-1 \"abc\" (FIPS 180-4)", "SHA-256 \"abc\" (FIPS 180-4)", msg_abc, sha1_abc,
		  sha256_abc },
		{ "SHA-1 448-bit message", "SHA-256 448-bit message", msg_448, sha1_448, sha256_448 },
	};
	uint8_t buf[128] __attribute__((aligned(16)));
	uint8_t out[32];

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		uint32_t h1[5] __attribute__((aligned(16))) = {
			0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0,
		};
		uint32_t h256[8] __attribute__((aligned(16))) = {
			0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
			0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
		};
		size_t blocks = sha_pad(buf, cases[c].msg);

		sha1_blocks(h1, buf, blocks);
		digest_bytes(out, h1, 5);
		check(cases[c].sha1_name, out, cases[c].sha1, 20);
		sha256_blocks(h256, buf, blocks);
		digest_bytes(out, h256, 8);
		check(cases[c].sha256_name, out, cases[c].sha256, 32);
	}
}

/* ------------------------------------------------------------------------
 * PMULL and GHASH
 */

/* A 128-bit product, printed as a number (most significant byte first). */
static void check_p128(const char *name, poly128_t got, uint64_t want_hi, uint64_t want_lo)
{
	uint8_t g[16] __attribute__((aligned(16))), gbe[16], want[16];

	vst1q_u8(g, vreinterpretq_u8_p128(got));
	for (int i = 0; i < 8; i++) {
		want[i] = (uint8_t)(want_hi >> (56 - 8 * i));
		want[8 + i] = (uint8_t)(want_lo >> (56 - 8 * i));
	}
	for (int i = 0; i < 16; i++)
		gbe[i] = g[15 - i];
	check(name, gbe, want, 16);
}

static void pmull_tests(void)
{
	poly64_t a = 0x8000000000000001, ones = 0xffffffffffffffff, x3 = 3, x7 = 7;
	poly64x2_t hi = vcombine_p64(vcreate_p64(0xdead), vcreate_p64(3));
	poly64x2_t hj = vcombine_p64(vcreate_p64(0xbeef), vcreate_p64(7));

	OPAQUE(a);
	OPAQUE(ones);
	OPAQUE(x3);
	OPAQUE(x7);
	OPAQUE(hi);
	OPAQUE(hj);
	check_p128("PMULL (x^63+1)^2 = x^126+1", vmull_p64(a, a), 0x4000000000000000, 1);
	check_p128("PMULL all-ones squared", vmull_p64(ones, ones), 0x5555555555555555, 0x5555555555555555);
	check_p128("PMULL (x+1)(x^2+x+1) = x^3+1", vmull_p64(x3, x7), 0, 9);
	check_p128("PMULL2 upper doublewords", vmull_high_p64(hi, hj), 0, 9);
}

/* a * x^64 (lo = 0) and a / x^64 (the high half), as 128-bit vectors. */
static uint64x2_t shl64(uint64x2_t a)
{
	return vcombine_u64(vcreate_u64(0), vget_low_u64(a));
}

static uint64x2_t shr64(uint64x2_t a)
{
	return vcombine_u64(vget_high_u64(a), vcreate_u64(0));
}

static uint64x2_t pmull_lo(uint64x2_t a, uint64x2_t b)
{
	return vreinterpretq_u64_p128(vmull_p64(vgetq_lane_u64(a, 0), vgetq_lane_u64(b, 0)));
}

/*
 * GF(2^128) multiplication of GCM. Blocks are bit-reflected within each
 * byte (RBIT .16b), so that x^i is bit i of the 128-bit little-endian
 * value. Four PMULLs give the 256-bit product; the top half is folded with
 * x^128 = x^7 + x^2 + x + 1 (0x87) by two more, and a last one folds the
 * seven bits that spill over.
 */
static uint8x16_t gf128_mul(uint8x16_t a8, uint8x16_t b8)
{
	uint64x2_t a = vreinterpretq_u64_u8(a8), b = vreinterpretq_u64_u8(b8);
	uint64x2_t lo = pmull_lo(a, b);
	uint64x2_t hi = vreinterpretq_u64_p128(vmull_high_p64(vreinterpretq_p64_u64(a), vreinterpretq_p64_u64(b)));
	uint64x2_t mid = veorq_u64(pmull_lo(a, shr64(b)), pmull_lo(shr64(a), b));
	uint64x2_t poly = vcombine_u64(vcreate_u64(0x87), vcreate_u64(0));
	uint64x2_t t_lo, t_hi;

	lo = veorq_u64(lo, shl64(mid));
	hi = veorq_u64(hi, shr64(mid));
	t_lo = pmull_lo(hi, poly);
	t_hi = pmull_lo(shr64(hi), poly);
	lo = veorq_u64(lo, veorq_u64(t_lo, shl64(t_hi)));
	lo = veorq_u64(lo, pmull_lo(shr64(t_hi), poly));
	return vreinterpretq_u8_u64(lo);
}

/* GCM test case 2: K = 0, IV = 0 (96 bits), P = one zero block, no AAD. */
static const uint8_t gcm_h[16] = {
	0x66, 0xe9, 0x4b, 0xd4, 0xef, 0x8a, 0x2c, 0x3b, 0x88, 0x4c, 0xfa, 0x59, 0xca, 0x34, 0x2b, 0x2e,
};
static const uint8_t gcm_c[16] = {
	0x03, 0x88, 0xda, 0xce, 0x60, 0xb6, 0xa3, 0x92, 0xf3, 0x28, 0xc2, 0xb9, 0x71, 0xb2, 0xfe, 0x78,
};
static const uint8_t gcm_x1[16] = {
	0x5e, 0x2e, 0xc7, 0x46, 0x91, 0x70, 0x62, 0x88, 0x2c, 0x85, 0xb0, 0x68, 0x53, 0x53, 0xde, 0xb7,
};
static const uint8_t gcm_ghash[16] = {
	0xf3, 0x8c, 0xbb, 0x1a, 0xd6, 0x92, 0x23, 0xdc, 0xc3, 0x45, 0x7a, 0xe5, 0xb6, 0xb0, 0xf8, 0x85,
};
static const uint8_t gcm_tag[16] = {
	0xab, 0x6e, 0x47, 0xd4, 0x2c, 0xec, 0x13, 0xbd, 0xf5, 0x3a, 0x67, 0xb2, 0x12, 0x57, 0xbd, 0xdf,
};

static void gcm_test(void)
{
	static const uint8_t key[16], y0[16] = { [15] = 1 }, y1[16] = { [15] = 2 },
				    lens[16] = { [15] = 0x80 };
	uint8x16_t rk[11], h, c, hr, x1, ghash;

	aes128_expand(rk, key);
	h = aes128_encrypt(rk, vdupq_n_u8(0));
	check_q("GCM test case 2: H = AES(K, 0)", h, gcm_h);
	c = aes128_encrypt(rk, vld1q_u8(y1)); /* P = 0, so C = E(K, Y1) */
	check_q("GCM test case 2: C", c, gcm_c);
	hr = vrbitq_u8(h);
	x1 = gf128_mul(vrbitq_u8(c), hr);
	check_q("GCM test case 2: X1 = C * H", vrbitq_u8(x1), gcm_x1);
	ghash = vrbitq_u8(gf128_mul(veorq_u8(x1, vrbitq_u8(vld1q_u8(lens))), hr));
	check_q("GCM test case 2: GHASH", ghash, gcm_ghash);
	check_q("GCM test case 2: tag", veorq_u8(ghash, aes128_encrypt(rk, vld1q_u8(y0))), gcm_tag);
}

/* ------------------------------------------------------------------------ */

static __attribute__((noinline)) int run_tests(void)
{
	aes_tests();
	sha_tests();
	pmull_tests();
	gcm_test();
	uart_puts("crypto-kat: ");
	if (failures == 0) {
		uart_puts("all ");
		print_dec((uint64_t)tests);
		uart_puts(" tests passed\n");
		return 0;
	}
	print_dec((uint64_t)failures);
	uart_puts(" of ");
	print_dec((uint64_t)tests);
	uart_puts(" tests FAILED\n");
	return EXIT_FAIL;
}

/* No FP/SIMD here: it runs before FP/SIMD is enabled. */
__attribute__((target("general-regs-only"))) int fw_main(uint64_t dtb)
{
	(void)dtb;
	fpsimd_enable();
	uart_puts("Preboard crypto-kat firmware\n");
	return run_tests();
}
