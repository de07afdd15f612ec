/*
 * bench-fp's kernels: floating-point and Advanced SIMD C (some of it ACLE
 * intrinsics from <arm_neon.h>), built without -mgeneral-regs-only and
 * with -ftree-vectorize (see the Makefile). Call them only after
 * fpsimd_enable(), from code that does not itself touch FP/SIMD.
 *
 * Each kernel runs a fixed amount of work under the default FPCR (round to
 * nearest even, no flush-to-zero, no default NaN) and returns a 64-bit
 * checksum of the bit patterns of its results (and, where it says so, of
 * the cumulative exception flags in FPSR). The sources are compiled with
 * -ffp-contract=off, so every fused multiply-add is one the C asks for
 * (__builtin_fma, vfmaq_*): the results are what IEEE 754 arithmetic in
 * the written order gives, bit for bit. A kernel that notices it computed
 * something wrong (a solver that did not converge, an FFT whose inverse
 * does not give back the input, an exact result that is not exact...)
 * also sets `bench_error` to a message saying what.
 */
#ifndef BENCH_FP_KERNELS_H
#define BENCH_FP_KERNELS_H

#include <stdint.h>

/* Set by a kernel whose own consistency check failed; 0 otherwise. */
extern const char *bench_error;

/* Double-precision 64x64 matrix multiply (i-k-j order, vectorised .2d). */
uint64_t k_dgemm(void);

/* Single-precision 32-tap FIR filter with NEON intrinsics (FMLA by lane, EXT). */
uint64_t k_sfir(void);

/* Auto-vectorised single-precision loops: saxpy, clamp, int<->float, abs diff. */
uint64_t k_vec(void);

/* Conjugate gradient (double) on the 2D Poisson equation, 32x32 grid. */
uint64_t k_cg(void);

/* Radix-2 complex FFT (double), 1024 points, forward and inverse. */
uint64_t k_fft(void);

/* Five-body gravitational simulation (double): sqrt and division. */
uint64_t k_nbody(void);

/* Float<->int, float<->double<->half conversions and FRINT*, with FPSR flags. */
uint64_t k_cvt(void);

/* Square root, division, reciprocal estimates and steps, min/max, with FPSR. */
uint64_t k_recip(void);

#endif
