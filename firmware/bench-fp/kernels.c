/*
 * bench-fp's kernels (see kernels.h). Built with FP/SIMD allowed,
 * -ftree-vectorize, -ffp-contract=off and -fno-math-errno (Makefile), so:
 *   - a * b + c is FMUL then FADD; fused operations only where written;
 *   - loops marked "auto-vectorised" become .4s/.2d code (k_vec's loops
 *     are checked in README.md); FP reductions stay scalar and in order,
 *     since GCC does not reassociate FP sums without -ffast-math;
 *   - __builtin_sqrt and friends are single instructions, no libm.
 * Every array a vector instruction touches is 16-byte aligned and every
 * access naturally aligned (-mstrict-align: MMU off means Device memory).
 * The round counts set the amount of work: about 153 million AArch64
 * instructions together, 17-22 million per kernel (bench-fp-quick: 19 million).
 */
#include <arm_neon.h>
#include <stdint.h>

#include "kernels.h"

const char *bench_error;

static void fail(const char *msg)
{
	if (!bench_error)
		bench_error = msg;
}

#define ALIGNED __attribute__((aligned(16)))

/*
 * Round counts: the full workload, or about an eighth of it for the
 * bench-fp-quick variant (-DBENCH_FP_QUICK), which tests run in debug
 * builds. The two print different checksums.
 */
#ifdef BENCH_FP_QUICK
#define WORK(full, quick) (quick)
#else
#define WORK(full, quick) (full)
#endif

/* One 64-bit word into a running checksum. */
static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x9e3779b97f4a7c15u;
	return h ^ (h >> 29);
}

static uint64_t dbits(double d)
{
	uint64_t u;

	__builtin_memcpy(&u, &d, sizeof(u));
	return u;
}

static uint32_t fbits(float f)
{
	uint32_t u;

	__builtin_memcpy(&u, &f, sizeof(u));
	return u;
}

static double dfrom(uint64_t u)
{
	double d;

	__builtin_memcpy(&d, &u, sizeof(d));
	return d;
}

static float ffrom(uint32_t u)
{
	float f;

	__builtin_memcpy(&f, &u, sizeof(f));
	return f;
}

/* Both halves of a 128-bit vector into the checksum. */
static uint64_t mix_q(uint64_t h, uint64x2_t v)
{
	h = mix(h, vgetq_lane_u64(v, 0));
	return mix(h, vgetq_lane_u64(v, 1));
}

#define MIXQ(h, v) ((h) = mix_q((h), vreinterpretq_u64_u32(vreinterpretq_u32_f32(v))))
#define MIXQ_S32(h, v) ((h) = mix_q((h), vreinterpretq_u64_s32(v)))
#define MIXQ_U32(h, v) ((h) = mix_q((h), vreinterpretq_u64_u32(v)))
#define MIXQ_F64(h, v) ((h) = mix_q((h), vreinterpretq_u64_f64(v)))
#define MIXQ_S64(h, v) ((h) = mix_q((h), vreinterpretq_u64_s64(v)))
#define MIXQ_U64(h, v) ((h) = mix_q((h), (v)))

/*
 * Four lanes of 32-bit words hashed in parallel (integer SIMD: EOR, MUL,
 * USHR), for checksumming float arrays cheaply.
 */
static uint32x4_t lanes_mix(uint32x4_t h, float32x4_t v)
{
	h = veorq_u32(h, vreinterpretq_u32_f32(v));
	h = vmulq_u32(h, vdupq_n_u32(0x01000193u));
	return veorq_u32(h, vshrq_n_u32(h, 15));
}

/* xorshift64: the deterministic input of every kernel. */
static uint64_t xs64(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

/* A double in [-1, 1]: a signed 64-bit integer (SCVTF rounds it) times 2^-63. */
static double rand_unit(uint64_t *s)
{
	return (double)(int64_t)xs64(s) * 0x1p-63;
}

static double fabs_d(double x)
{
	return __builtin_fabs(x);
}

/* ---- dgemm ------------------------------------------------------------ */

#define MM_N 64
#define MM_ROUNDS WORK(16, 2)

static double mm_a[MM_N][MM_N] ALIGNED;
static double mm_b[MM_N][MM_N] ALIGNED;
static double mm_c[MM_N][MM_N] ALIGNED;

/* C = A B, row by row; the j loop is auto-vectorised (FMUL/FADD .2d). */
static void matmul(void)
{
	for (int i = 0; i < MM_N; i++) {
		for (int j = 0; j < MM_N; j++)
			mm_c[i][j] = 0.0;
		for (int k = 0; k < MM_N; k++) {
			double a = mm_a[i][k];

			for (int j = 0; j < MM_N; j++)
				mm_c[i][j] += a * mm_b[k][j];
		}
	}
}

uint64_t k_dgemm(void)
{
	uint64_t seed = 0x243f6a8885a308d3u, h = 0;

	/* Round 0: small integers, so every sum is exact and must equal the
	 * integer product. */
	for (int i = 0; i < MM_N; i++) {
		for (int j = 0; j < MM_N; j++) {
			mm_a[i][j] = (double)((int)(xs64(&seed) % 17) - 8);
			mm_b[i][j] = (double)((int)(xs64(&seed) % 17) - 8);
		}
	}
	matmul();
	for (int i = 0; i < MM_N; i += 7) {
		for (int j = 0; j < MM_N; j += 5) {
			int64_t s = 0;

			for (int k = 0; k < MM_N; k++)
				s += (int64_t)mm_a[i][k] * (int64_t)mm_b[k][j];
			if (mm_c[i][j] != (double)s)
				fail("dgemm: a product of integer matrices is not exact");
		}
	}
	for (int r = 0; r < MM_ROUNDS; r++) {
		if (r > 0) {
			for (int i = 0; i < MM_N; i++) {
				for (int j = 0; j < MM_N; j++) {
					mm_a[i][j] = rand_unit(&seed);
					mm_b[i][j] = rand_unit(&seed) * 0.125;
				}
			}
			matmul();
		}
		for (int i = 0; i < MM_N; i++) {
			for (int j = 0; j < MM_N; j++)
				h = mix(h, dbits(mm_c[i][j]));
		}
	}
	return h;
}

/* ---- sfir ------------------------------------------------------------- */

#define FIR_TAPS 32
#define FIR_N 4096
#define FIR_ROUNDS WORK(120, 12)

static float fir_x[FIR_N + FIR_TAPS] ALIGNED;
static float fir_y[FIR_N] ALIGNED;
static float fir_h[FIR_TAPS] ALIGNED;

/*
 * y[n] = sum over k of x[n + k] h[k], four outputs at a time: each
 * output's sum is a chain of fused multiply-adds in tap order, starting
 * from +0. The shifted windows of x come from aligned loads and EXT.
 */
static void fir_block(void)
{
	for (int n = 0; n < FIR_N; n += 4) {
		float32x4_t acc = vdupq_n_f32(0.0f);
		float32x4_t a = vld1q_f32(&fir_x[n]);

		for (int k = 0; k < FIR_TAPS; k += 4) {
			float32x4_t b = vld1q_f32(&fir_x[n + k + 4]);
			float32x4_t hk = vld1q_f32(&fir_h[k]);

			acc = vfmaq_laneq_f32(acc, a, hk, 0);
			acc = vfmaq_laneq_f32(acc, vextq_f32(a, b, 1), hk, 1);
			acc = vfmaq_laneq_f32(acc, vextq_f32(a, b, 2), hk, 2);
			acc = vfmaq_laneq_f32(acc, vextq_f32(a, b, 3), hk, 3);
			a = b;
		}
		vst1q_f32(&fir_y[n], acc);
	}
}

/* The same sum for one output, with scalar FMADD. */
static float fir_one(int n)
{
	float acc = 0.0f;

	for (int k = 0; k < FIR_TAPS; k++)
		acc = __builtin_fmaf(fir_x[n + k], fir_h[k], acc);
	return acc;
}

uint64_t k_sfir(void)
{
	uint64_t seed = 0x13198a2e03707344u, h = 0;
	uint32x4_t lanes = vdupq_n_u32(0x811c9dc5u);

	/* Taps with sum |h| < 1; input in [-1, 1]. */
	for (int k = 0; k < FIR_TAPS; k++)
		fir_h[k] = (float)(rand_unit(&seed) / FIR_TAPS);
	for (int i = 0; i < FIR_N + FIR_TAPS; i++)
		fir_x[i] = (float)rand_unit(&seed);
	for (int r = 0; r < FIR_ROUNDS; r++) {
		fir_block();
		for (int c = 0; c < 3; c++) {
			int n = (r * 131 + c * 1361) % FIR_N;

			if (fbits(fir_one(n)) != fbits(fir_y[n]))
				fail("sfir: vector FMLA differs from scalar FMADD");
		}
		/* Renormalise (FMAXV, FABS, FDIV) so that the signal neither
		 * dies away nor grows, and feed it back, rotated by 5. */
		float32x4_t m = vdupq_n_f32(0.0f);

		for (int n = 0; n < FIR_N; n += 4) {
			float32x4_t y = vld1q_f32(&fir_y[n]);

			m = vmaxq_f32(m, vabsq_f32(y));
			lanes = lanes_mix(lanes, y);
		}
		float scale = 1.0f / vmaxvq_f32(m);

		h = mix(h, fbits(scale));
		for (int n = 0; n < FIR_N; n++)
			fir_x[(n + 5) % FIR_N] = fir_y[n] * scale;
		fir_x[(r * 97) % FIR_N] += 0.25f;
		for (int i = 0; i < FIR_TAPS; i++)
			fir_x[FIR_N + i] = fir_x[i];
	}
	return mix_q(h, vreinterpretq_u64_u32(lanes));
}

/* ---- vec -------------------------------------------------------------- */

#define VEC_N 4096
#define VEC_ROUNDS WORK(300, 30)

static float vec_a[VEC_N] ALIGNED;
static float vec_b[VEC_N] ALIGNED;
static float vec_d[VEC_N] ALIGNED;
static int32_t vec_i[VEC_N] ALIGNED;

/*
 * Plain C loops over aligned global arrays, which GCC auto-vectorises
 * (-ftree-vectorize): FMUL/FADD, FMAXNM/FMINNM, FCVTZS, SCVTF, FABD and
 * integer MUL/EOR/ADD on .4s. Only the dot product stays scalar: an FP
 * sum is not reassociated.
 */
uint64_t k_vec(void)
{
	uint64_t seed = 0xa4093822299f31d0u, h = 0;

	for (int i = 0; i < VEC_N; i++) {
		vec_a[i] = (float)rand_unit(&seed);
		vec_b[i] = (float)(rand_unit(&seed) * 4.0);
	}
	for (int r = 0; r < VEC_ROUNDS; r++) {
		float alpha = 0.75f - (float)r * (1.0f / 256);
		uint32_t sum = 0, x = 0;
		float dot = 0.0f;

		for (int i = 0; i < VEC_N; i++)
			vec_b[i] = alpha * vec_a[i] + vec_b[i];
		for (int i = 0; i < VEC_N; i++)
			vec_b[i] = __builtin_fminf(__builtin_fmaxf(vec_b[i], -4.0f), 4.0f);
		for (int i = 0; i < VEC_N; i++)
			vec_i[i] = (int32_t)(vec_b[i] * 1000.0f);
		for (int i = 0; i < VEC_N; i++)
			vec_a[i] = (float)(vec_i[i] - (i & 1023)) * (1.0f / 1024);
		for (int i = 0; i < VEC_N; i++)
			vec_d[i] = __builtin_fabsf(vec_a[i] - vec_b[i]);
		for (int i = 0; i < VEC_N; i++) {
			uint32_t b = fbits(vec_d[i]);

			sum += b;
			x ^= b * (uint32_t)(2 * i + 1);
		}
		for (int i = 0; i < VEC_N; i++)
			dot += vec_a[i] * vec_b[i];
		h = mix(h, (uint64_t)sum << 32 | x);
		h = mix(h, fbits(dot));
	}
	return h;
}

/* ---- cg --------------------------------------------------------------- */

#define CG_N 32
#define CG_W (CG_N + 2)		/* with a zero border */
#define CG_LEN (CG_W * CG_W)
#define CG_SOLVES WORK(4, 1)
#define CG_MAX_ITERS 400

static double cg_b[CG_LEN] ALIGNED;
static double cg_x[CG_LEN] ALIGNED;
static double cg_r[CG_LEN] ALIGNED;
static double cg_p[CG_LEN] ALIGNED;
static double cg_ap[CG_LEN] ALIGNED;

/* y = A v for the 5-point Laplacian on the interior (the border stays 0). */
static void cg_apply(double *restrict y, const double *restrict v)
{
	for (int i = 1; i <= CG_N; i++) {
		for (int j = 1; j <= CG_N; j++) {
			int c = i * CG_W + j;

			y[c] = 4.0 * v[c] - v[c - CG_W] - v[c + CG_W] - v[c - 1] - v[c + 1];
		}
	}
}

static double cg_dot(const double *a, const double *b)
{
	double s = 0.0;

	for (int i = 0; i < CG_LEN; i++)
		s += a[i] * b[i];
	return s;
}

uint64_t k_cg(void)
{
	uint64_t seed = 0x082efa98ec4e6c89u, h = 0;

	for (int s = 0; s < CG_SOLVES; s++) {
		for (int i = 0; i < CG_LEN; i++)
			cg_b[i] = cg_x[i] = cg_ap[i] = 0.0;
		for (int i = 1; i <= CG_N; i++) {
			for (int j = 1; j <= CG_N; j++)
				cg_b[i * CG_W + j] = rand_unit(&seed);
		}
		for (int i = 0; i < CG_LEN; i++)
			cg_r[i] = cg_p[i] = cg_b[i];

		double bb = cg_dot(cg_b, cg_b), rr = bb, tol = bb * 1e-20;
		int it;

		for (it = 0; it < CG_MAX_ITERS && rr > tol; it++) {
			cg_apply(cg_ap, cg_p);
			double alpha = rr / cg_dot(cg_p, cg_ap);

			for (int i = 0; i < CG_LEN; i++)
				cg_x[i] += alpha * cg_p[i];
			for (int i = 0; i < CG_LEN; i++)
				cg_r[i] -= alpha * cg_ap[i];
			double rr_new = cg_dot(cg_r, cg_r);
			double beta = rr_new / rr;

			rr = rr_new;
			for (int i = 0; i < CG_LEN; i++)
				cg_p[i] = cg_r[i] + beta * cg_p[i];
		}
		if (rr > tol)
			fail("cg: no convergence");
		/* The true residual |b - A x| / |b|, with FSQRT. */
		cg_apply(cg_ap, cg_x);
		for (int i = 0; i < CG_LEN; i++)
			cg_ap[i] = cg_b[i] - cg_ap[i];
		double rel = __builtin_sqrt(cg_dot(cg_ap, cg_ap)) / __builtin_sqrt(bb);

		if (!(rel < 1e-8))
			fail("cg: the solution does not solve the system");
		h = mix(h, (uint64_t)it);
		h = mix(h, dbits(rr));
		h = mix(h, dbits(rel));
		for (int i = 0; i < CG_LEN; i++)
			h = mix(h, dbits(cg_x[i]));
	}
	return h;
}

/* ---- fft -------------------------------------------------------------- */

#define FFT_LOG 10
#define FFT_N (1 << FFT_LOG)
#define FFT_ROUNDS WORK(45, 5)
#define PI 3.14159265358979323846

static double fft_re[FFT_N] ALIGNED;
static double fft_im[FFT_N] ALIGNED;
static double fft_in_re[FFT_N] ALIGNED;
static double fft_in_im[FFT_N] ALIGNED;
static double tw_cos[FFT_N / 2] ALIGNED;
static double tw_sin[FFT_N / 2] ALIGNED;	/* sin(2 pi k / N) */
static double tw_nsin[FFT_N / 2] ALIGNED;	/* -sin(2 pi k / N) */

/* Taylor polynomials, good to about 1e-16 for |x| <= pi/4. */
static double poly_sin(double x)
{
	double x2 = x * x;

	return x * (1.0 + x2 * (-1.0 / 6 + x2 * (1.0 / 120 + x2 * (-1.0 / 5040 + x2 * (1.0 / 362880
		+ x2 * (-1.0 / 39916800 + x2 * (1.0 / 6227020800.0 + x2 * (-1.0 / 1307674368000.0))))))));
}

static double poly_cos(double x)
{
	double x2 = x * x;

	return 1.0 + x2 * (-1.0 / 2 + x2 * (1.0 / 24 + x2 * (-1.0 / 720 + x2 * (1.0 / 40320
		+ x2 * (-1.0 / 3628800 + x2 * (1.0 / 479001600 + x2 * (-1.0 / 87178291200.0
		+ x2 * (1.0 / 20922789888000.0))))))));
}

/* cos and sin of 2 pi k / N for k in [0, N/2), from the first octant. */
static void fft_twiddles(void)
{
	const double step = 2.0 * PI / FFT_N;

	for (int k = 0; k < FFT_N / 2; k++) {
		double c, s;

		if (k <= FFT_N / 8) {
			c = poly_cos(k * step);
			s = poly_sin(k * step);
		} else if (k <= FFT_N / 4) {
			int j = FFT_N / 4 - k;

			c = poly_sin(j * step);
			s = poly_cos(j * step);
		} else if (k <= 3 * FFT_N / 8) {
			int j = k - FFT_N / 4;

			c = -poly_sin(j * step);
			s = poly_cos(j * step);
		} else {
			int j = FFT_N / 2 - k;

			c = -poly_cos(j * step);
			s = poly_sin(j * step);
		}
		tw_cos[k] = c;
		tw_sin[k] = s;
		tw_nsin[k] = -s;
	}
}

static unsigned int bit_reverse(unsigned int i)
{
	unsigned int r = 0;

	for (int b = 0; b < FFT_LOG; b++) {
		r = r << 1 | (i & 1);
		i >>= 1;
	}
	return r;
}

/* In place, decimation in time; `wsin` is tw_nsin (forward) or tw_sin. */
static void fft(double *re, double *im, const double *wsin)
{
	for (unsigned int i = 0; i < FFT_N; i++) {
		unsigned int j = bit_reverse(i);

		if (j > i) {
			double t = re[i];

			re[i] = re[j];
			re[j] = t;
			t = im[i];
			im[i] = im[j];
			im[j] = t;
		}
	}
	for (int len = 2, step = FFT_N / 2; len <= FFT_N; len <<= 1, step >>= 1) {
		int half = len / 2;

		for (int i = 0; i < FFT_N; i += len) {
			for (int j = 0; j < half; j++) {
				double wr = tw_cos[j * step], wi = wsin[j * step];
				int a = i + j, b = a + half;
				double vr = re[b] * wr - im[b] * wi;
				double vi = re[b] * wi + im[b] * wr;

				re[b] = re[a] - vr;
				im[b] = im[a] - vi;
				re[a] = re[a] + vr;
				im[a] = im[a] + vi;
			}
		}
	}
}

uint64_t k_fft(void)
{
	uint64_t seed = 0x452821e638d01377u, h = 0;

	fft_twiddles();
	if (fabs_d(tw_cos[FFT_N / 8] - tw_sin[FFT_N / 8]) > 1e-15
	    || fabs_d(tw_sin[FFT_N / 8] * tw_sin[FFT_N / 8] - 0.5) > 1e-15)
		fail("fft: cos(pi/4) != sin(pi/4) or sin^2 != 1/2");
	for (int r = 0; r < FFT_ROUNDS; r++) {
		for (int i = 0; i < FFT_N; i++) {
			if (r == 0) {
				/* cos(2 pi 5 i / N): all energy in bins 5 and N - 5. */
				int m = (5 * i) % FFT_N;

				fft_in_re[i] = m < FFT_N / 2 ? tw_cos[m] : -tw_cos[m - FFT_N / 2];
				fft_in_im[i] = 0.0;
			} else {
				fft_in_re[i] = rand_unit(&seed);
				fft_in_im[i] = rand_unit(&seed);
			}
			fft_re[i] = fft_in_re[i];
			fft_im[i] = fft_in_im[i];
		}
		fft(fft_re, fft_im, tw_nsin);
		if (r == 0 && (fabs_d(fft_re[5] - FFT_N / 2) > 1e-9 || fabs_d(fft_re[FFT_N - 5] - FFT_N / 2) > 1e-9
			       || fabs_d(fft_re[6]) > 1e-9 || fabs_d(fft_im[5]) > 1e-9))
			fail("fft: the spectrum of a cosine is not two peaks of N/2");
		for (int i = 0; i < FFT_N; i++) {
			h = mix(h, dbits(fft_re[i]));
			h = mix(h, dbits(fft_im[i]));
		}
		fft(fft_re, fft_im, tw_sin);
		double err = 0.0;

		for (int i = 0; i < FFT_N; i++) {
			double er = fabs_d(fft_re[i] * (1.0 / FFT_N) - fft_in_re[i]);
			double ei = fabs_d(fft_im[i] * (1.0 / FFT_N) - fft_in_im[i]);

			err = __builtin_fmax(err, __builtin_fmax(er, ei));
		}
		if (!(err < 1e-13))
			fail("fft: the inverse does not give back the input");
		h = mix(h, dbits(err));
	}
	return h;
}

/* ---- nbody ------------------------------------------------------------ */

#define NB_BODIES 5
#define NB_STEPS WORK(36000, 3000)
#define SOLAR_MASS (4 * PI * PI)
#define DAYS_PER_YEAR 365.24

struct body {
	double x, y, z, vx, vy, vz, mass;
};

/* The Sun and the four giant planets (heliocentric, AU and AU/day). */
static const struct body nb_init[NB_BODIES] = {
	{ 0, 0, 0, 0, 0, 0, SOLAR_MASS },
	{ 4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
	  1.66007664274403694e-03 * DAYS_PER_YEAR, 7.69901118419740425e-03 * DAYS_PER_YEAR,
	  -6.90460016972063023e-05 * DAYS_PER_YEAR, 9.54791938424326609e-04 * SOLAR_MASS },
	{ 8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
	  -2.76742510726862411e-03 * DAYS_PER_YEAR, 4.99852801234917238e-03 * DAYS_PER_YEAR,
	  2.30417297573763929e-05 * DAYS_PER_YEAR, 2.85885980666130812e-04 * SOLAR_MASS },
	{ 1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
	  2.96460137564761618e-03 * DAYS_PER_YEAR, 2.37847173959480950e-03 * DAYS_PER_YEAR,
	  -2.96589568540237556e-05 * DAYS_PER_YEAR, 4.36624404335156298e-05 * SOLAR_MASS },
	{ 1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
	  2.68067772490389322e-03 * DAYS_PER_YEAR, 1.62824170038242295e-03 * DAYS_PER_YEAR,
	  -9.51592254519715870e-05 * DAYS_PER_YEAR, 5.15138902046611451e-05 * SOLAR_MASS },
};

static struct body nb[NB_BODIES];

static double nb_energy(void)
{
	double e = 0.0;

	for (int i = 0; i < NB_BODIES; i++) {
		const struct body *b = &nb[i];

		e += 0.5 * b->mass * (b->vx * b->vx + b->vy * b->vy + b->vz * b->vz);
		for (int j = i + 1; j < NB_BODIES; j++) {
			double dx = b->x - nb[j].x, dy = b->y - nb[j].y, dz = b->z - nb[j].z;

			e -= b->mass * nb[j].mass / __builtin_sqrt(dx * dx + dy * dy + dz * dz);
		}
	}
	return e;
}

static void nb_advance(double dt)
{
	for (int i = 0; i < NB_BODIES; i++) {
		struct body *b = &nb[i];

		for (int j = i + 1; j < NB_BODIES; j++) {
			struct body *c = &nb[j];
			double dx = b->x - c->x, dy = b->y - c->y, dz = b->z - c->z;
			double d2 = dx * dx + dy * dy + dz * dz;
			double mag = dt / (d2 * __builtin_sqrt(d2));

			b->vx -= dx * c->mass * mag;
			b->vy -= dy * c->mass * mag;
			b->vz -= dz * c->mass * mag;
			c->vx += dx * b->mass * mag;
			c->vy += dy * b->mass * mag;
			c->vz += dz * b->mass * mag;
		}
	}
	for (int i = 0; i < NB_BODIES; i++) {
		nb[i].x += dt * nb[i].vx;
		nb[i].y += dt * nb[i].vy;
		nb[i].z += dt * nb[i].vz;
	}
}

uint64_t k_nbody(void)
{
	double px = 0, py = 0, pz = 0;
	uint64_t h = 0;

	for (int i = 0; i < NB_BODIES; i++) {
		nb[i] = nb_init[i];
		px += nb[i].vx * nb[i].mass;
		py += nb[i].vy * nb[i].mass;
		pz += nb[i].vz * nb[i].mass;
	}
	/* Zero total momentum: the Sun moves against the planets. */
	nb[0].vx = -px / SOLAR_MASS;
	nb[0].vy = -py / SOLAR_MASS;
	nb[0].vz = -pz / SOLAR_MASS;

	double e0 = nb_energy();

	if (fabs_d(e0 + 0.169075164) > 1e-9)
		fail("nbody: the initial energy is not -0.169075164");
	for (int s = 1; s <= NB_STEPS; s++) {
		nb_advance(0.01);
		if (s % 1000 == 0)
			h = mix(h, dbits(nb_energy()));
	}
	double e1 = nb_energy();

	/* Symplectic Euler: the energy oscillates (about 1e-4 relative) but does not drift. */
	if (!(fabs_d((e1 - e0) / e0) < 1e-3))
		fail("nbody: energy is not conserved");
	for (int i = 0; i < NB_BODIES; i++) {
		h = mix(h, dbits(nb[i].x));
		h = mix(h, dbits(nb[i].y));
		h = mix(h, dbits(nb[i].z));
		h = mix(h, dbits(nb[i].vx));
		h = mix(h, dbits(nb[i].vy));
		h = mix(h, dbits(nb[i].vz));
	}
	return h;
}

/* ---- operands for cvt and recip ------------------------------------- */

/* Edge cases: signed zeros, denormals, integer limits, ties, NaNs, infinities. */
static const uint32_t special_f32[] = {
	0x00000000, 0x80000000, 0x00000001, 0x807fffff, 0x00800000, 0x3f800000,
	0xbf800000, 0x3f000000, 0xbf000000, 0x3fc00000, 0x40200000, 0xc0200000,
	0x3effffff, 0x4b000001, 0x4effffff, 0x4f000000, 0xcf000000, 0xcf000001,
	0x4f800000, 0x5f000000, 0xdf000000, 0x7f7fffff, 0xff7fffff, 0x7f800000,
	0xff800000, 0x7fc00000, 0xffc12345, 0x7f812345, 0xff800001, 0x477fe000,
	0x477ff000, 0x33800000,
};

static const uint64_t special_f64[] = {
	0x0000000000000000, 0x8000000000000000, 0x0000000000000001, 0x800fffffffffffff,
	0x0010000000000000, 0x3ff0000000000000, 0xbff0000000000000, 0x3fe0000000000000,
	0x4004000000000000, 0xc004000000000000, 0x41dfffffffc00000, 0x41e0000000000000,
	0xc1e0000000000000, 0x43e0000000000000, 0xc3e0000000000000, 0x43f0000000000000,
	0x43dfffffffffffff, 0x7fefffffffffffff, 0x7ff0000000000000, 0xfff0000000000000,
	0x7ff8000000000000, 0xfff8000000012345, 0x7ff0000000012345, 0x36a0000000000000,
	0x3e70000000000001, 0x47efffffe0000000, 0x47efffff10000000, 0x380fffffffffffff,
};

#define N_SPECIAL_F32 (sizeof(special_f32) / sizeof(special_f32[0]))
#define N_SPECIAL_F64 (sizeof(special_f64) / sizeof(special_f64[0]))

/*
 * A float's bits: one time in 16 an edge case, one in 16 random bits,
 * otherwise a random significand with magnitude 2^-8 .. 2^39 (a quarter of
 * them beyond the 32-bit integers).
 */
static uint32_t gen_f32(uint64_t *s)
{
	uint64_t r = xs64(s);

	switch (r & 15) {
	case 0:
		return special_f32[(r >> 8) % N_SPECIAL_F32];
	case 1:
		return (uint32_t)(r >> 32);
	default:
		return (uint32_t)(r >> 63) << 31 | (uint32_t)(119 + (r >> 8) % 48) << 23 | (uint32_t)(r >> 32) >> 9;
	}
}

/* The same for doubles, magnitude 2^-8 .. 2^71. */
static uint64_t gen_f64(uint64_t *s)
{
	uint64_t r = xs64(s);

	switch (r & 15) {
	case 0:
		return special_f64[(r >> 8) % N_SPECIAL_F64];
	case 1:
		return xs64(s);
	default:
		return (r >> 63) << 63 | (uint64_t)(1015 + (r >> 8) % 80) << 52 | (xs64(s) >> 12);
	}
}

static float32x4_t gen_f32x4(uint64_t *s)
{
	uint32_t v[4] ALIGNED;

	for (int i = 0; i < 4; i++)
		v[i] = gen_f32(s);
	return vreinterpretq_f32_u32(vld1q_u32(v));
}

static float64x2_t gen_f64x2(uint64_t *s)
{
	uint64_t v[2] ALIGNED;

	v[0] = gen_f64(s);
	v[1] = gen_f64(s);
	return vreinterpretq_f64_u64(vld1q_u64(v));
}

/* Fold the cumulative exception flags (FPSR bits 0-4, 7; QC) and clear them. */
static uint64_t mix_fpsr(uint64_t h)
{
	h = mix(h, __builtin_aarch64_get_fpsr());
	__builtin_aarch64_set_fpsr(0);
	return h;
}

/* ---- cvt -------------------------------------------------------------- */

#define CVT_ITERS WORK(30000, 3000)

uint64_t k_cvt(void)
{
	uint64_t seed = 0xbe5466cf34e90c6cu, h = 0;
	int64_t exact = 0;

	__builtin_aarch64_set_fpsr(0);
	for (int it = 0; it < CVT_ITERS; it++) {
		float32x4_t f = gen_f32x4(&seed);
		float64x2_t d = gen_f64x2(&seed);
		uint32x4_t fraw = vreinterpretq_u32_f32(f);
		uint64x2_t draw = vreinterpretq_u64_f64(d);

		/* float -> int32/uint32, every rounding, and fixed point. */
		MIXQ_S32(h, vcvtq_s32_f32(f));
		MIXQ_U32(h, vcvtq_u32_f32(f));
		MIXQ_S32(h, vcvtnq_s32_f32(f));
		MIXQ_U32(h, vcvtnq_u32_f32(f));
		MIXQ_S32(h, vcvtaq_s32_f32(f));
		MIXQ_S32(h, vcvtmq_s32_f32(f));
		MIXQ_U32(h, vcvtpq_u32_f32(f));
		MIXQ_S32(h, vcvtq_n_s32_f32(f, 10));
		MIXQ_U32(h, vcvtq_n_u32_f32(f, 3));
		h = mix_fpsr(h);
		/* Round to integral, in float. */
		MIXQ(h, vrndnq_f32(f));
		MIXQ(h, vrndaq_f32(f));
		MIXQ(h, vrndmq_f32(f));
		MIXQ(h, vrndpq_f32(f));
		MIXQ(h, vrndq_f32(f));
		MIXQ(h, vrndxq_f32(f));
		MIXQ(h, vrndiq_f32(f));
		h = mix_fpsr(h);
		/* int32/uint32 (the raw bits) -> float, fixed point too. */
		MIXQ(h, vcvtq_f32_s32(vreinterpretq_s32_u32(fraw)));
		MIXQ(h, vcvtq_f32_u32(fraw));
		MIXQ(h, vcvtq_n_f32_s32(vreinterpretq_s32_u32(fraw), 16));
		MIXQ(h, vcvtq_n_f32_u32(fraw, 1));
		h = mix_fpsr(h);
		/* Between formats: float -> double (FCVTL, FCVTL2) -> float
		 * (FCVTN, FCVTXN: round to odd), float <-> half (FCVTN, FCVTL). */
		MIXQ_F64(h, vcvt_f64_f32(vget_low_f32(f)));
		MIXQ_F64(h, vcvt_high_f64_f32(f));
		MIXQ(h, vcombine_f32(vcvt_f32_f64(d), vcvtx_f32_f64(d)));
		float16x4_t half = vcvt_f16_f32(f);

		h = mix(h, vget_lane_u64(vreinterpret_u64_f16(half), 0));
		MIXQ(h, vcvt_f32_f16(half));
		h = mix_fpsr(h);
		/* double -> int64/uint64 and back. */
		MIXQ_S64(h, vcvtq_s64_f64(d));
		MIXQ_U64(h, vcvtq_u64_f64(d));
		MIXQ_S64(h, vcvtnq_s64_f64(d));
		MIXQ_S64(h, vcvtaq_s64_f64(d));
		MIXQ_S64(h, vcvtmq_s64_f64(d));
		MIXQ_U64(h, vcvtpq_u64_f64(d));
		MIXQ_S64(h, vcvtq_n_s64_f64(d, 20));
		MIXQ_F64(h, vrndnq_f64(d));
		MIXQ_F64(h, vrndxq_f64(d));
		MIXQ_F64(h, vcvtq_f64_s64(vreinterpretq_s64_u64(draw)));
		MIXQ_F64(h, vcvtq_f64_u64(draw));
		MIXQ_F64(h, vcvtq_n_f64_u64(draw, 32));
		h = mix_fpsr(h);
		/* Scalar forms between general and FP registers. */
		uint64_t d0 = vgetq_lane_u64(draw, 0);
		uint32_t f0 = vgetq_lane_u32(fraw, 0);

		h = mix(h, (uint64_t)vcvtd_s64_f64(dfrom(d0)));
		h = mix(h, (uint64_t)vcvts_u32_f32(ffrom(f0)));
		h = mix(h, dbits((double)(int64_t)d0));
		h = mix(h, fbits((float)(int64_t)d0));
		h = mix(h, dbits((double)f0));
		h = mix(h, fbits((float)dfrom(d0)));
		h = mix(h, dbits((double)ffrom(f0)));
		h = mix_fpsr(h);
		/* In-range C conversions round-trip exactly. */
		int32_t small = (int32_t)(f0 >> 8) - 0x800000;

		exact += (int32_t)(float)small - small;
		exact += (int64_t)(double)(int64_t)(d0 >> 11) - (int64_t)(d0 >> 11);
	}
	if (exact != 0)
		fail("cvt: an exact integer did not survive int -> float -> int");
	return h;
}

/* ---- recip ------------------------------------------------------------ */

#define RECIP_ITERS WORK(26000, 2600)

uint64_t k_recip(void)
{
	uint64_t seed = 0xc0ac29b7c97c50ddu, h = 0;
	float worst = 0.0f;

	__builtin_aarch64_set_fpsr(0);
	for (int it = 0; it < RECIP_ITERS; it++) {
		float32x4_t f = gen_f32x4(&seed), g = gen_f32x4(&seed);
		float64x2_t d = gen_f64x2(&seed), e = gen_f64x2(&seed);

		/* Estimates (FRECPE, FRSQRTE, URECPE, URSQRTE) and Newton steps. */
		float32x4_t re = vrecpeq_f32(f), rs = vrsqrteq_f32(f);

		MIXQ(h, re);
		MIXQ(h, rs);
		MIXQ(h, vrecpsq_f32(f, re));
		MIXQ(h, vrsqrtsq_f32(f, vmulq_f32(rs, rs)));
		MIXQ_U32(h, vrecpeq_u32(vreinterpretq_u32_f32(g)));
		MIXQ_U32(h, vrsqrteq_u32(vreinterpretq_u32_f32(g)));
		MIXQ_F64(h, vrecpeq_f64(d));
		MIXQ_F64(h, vrsqrteq_f64(d));
		h = mix(h, fbits(vrecpxs_f32(vgetq_lane_f32(f, 1))));
		h = mix_fpsr(h);
		/* Division and square root, vector and scalar. */
		MIXQ(h, vdivq_f32(g, f));
		MIXQ(h, vsqrtq_f32(f));
		MIXQ_F64(h, vdivq_f64(e, d));
		MIXQ_F64(h, vsqrtq_f64(d));
		double d0 = vgetq_lane_f64(d, 0), e0 = vgetq_lane_f64(e, 0);

		h = mix(h, dbits(e0 / d0));
		h = mix(h, dbits(__builtin_sqrt(e0)));
		h = mix(h, fbits(vgetq_lane_f32(g, 2) / vgetq_lane_f32(f, 3)));
		h = mix(h, fbits(__builtin_sqrtf(vgetq_lane_f32(g, 3))));
		h = mix_fpsr(h);
		/* NaN propagation and signed zeros: FMAX/FMIN, the NM forms, the
		 * across-lanes reductions, FABD, FMULX, fused multiply-adds. */
		MIXQ(h, vmaxq_f32(f, g));
		MIXQ(h, vminq_f32(f, g));
		MIXQ(h, vmaxnmq_f32(f, g));
		MIXQ(h, vminnmq_f32(f, g));
		h = mix(h, (uint64_t)fbits(vmaxnmvq_f32(f)) << 32 | fbits(vminvq_f32(g)));
		MIXQ(h, vabdq_f32(f, g));
		MIXQ(h, vmulxq_f32(f, g));
		MIXQ(h, vfmaq_f32(g, f, rs));
		MIXQ(h, vfmsq_f32(re, f, g));
		MIXQ_F64(h, vfmaq_f64(e, d, d));
		MIXQ_F64(h, vmulxq_f64(d, e));
		MIXQ_F64(h, vminnmq_f64(d, e));
		h = mix(h, dbits(__builtin_fma(d0, e0, vgetq_lane_f64(d, 1))));
		h = mix(h, dbits(-__builtin_fma(d0, e0, vgetq_lane_f64(e, 1))));
		h = mix(h, dbits(__builtin_fma(-d0, e0, vgetq_lane_f64(e, 1))));
		h = mix_fpsr(h);
		/* Comparisons (ordered, signalling and absolute). */
		MIXQ_U32(h, vcgtq_f32(f, g));
		MIXQ_U32(h, vcgeq_f32(f, g));
		MIXQ_U32(h, vceqq_f32(f, g));
		MIXQ_U32(h, vcagtq_f32(f, g));
		MIXQ_U32(h, vcltzq_f32(f));
		h = mix(h, (uint64_t)(d0 < e0) | (uint64_t)(d0 == e0) << 1 | (uint64_t)(d0 >= e0) << 2
			| (uint64_t)__builtin_isless(d0, e0) << 3 | (uint64_t)__builtin_isunordered(d0, e0) << 4);
		h = mix_fpsr(h);

		/* Two Newton steps from FRECPE give 1/x to within a few ulp for
		 * normal x of moderate size; measure the worst case. */
		float x = __builtin_fabsf(vgetq_lane_f32(f, 0));

		if (x > 0x1p-60f && x < 0x1p60f) {
			float32x4_t xv = vdupq_n_f32(x), r = vrecpeq_f32(xv);

			r = vmulq_f32(r, vrecpsq_f32(xv, r));
			r = vmulq_f32(r, vrecpsq_f32(xv, r));
			float rel = __builtin_fabsf(vgetq_lane_f32(r, 0) * x - 1.0f);

			worst = __builtin_fmaxf(worst, rel);
		}
	}
	__builtin_aarch64_set_fpsr(0);
	if (!(worst < 0x1p-20f))
		fail("recip: Newton steps from FRECPE do not converge to 1/x");
	return mix(h, fbits(worst));
}
