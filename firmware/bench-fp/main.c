/*
 * bench-fp: a fixed floating-point and Advanced SIMD workload for
 * measuring execution engines and checking their FP semantics against
 * QEMU. Enables FP/SIMD, runs every kernel of kernels.c once, prints one
 * checksum line per kernel and exits through semihosting: 0 when every
 * checksum equals the value in EXPECTED below (what QEMU's cortex-a57
 * computes, see README.md) and no kernel's own check failed, 1 otherwise.
 *
 * This file is built with -mgeneral-regs-only like the rest of the
 * firmware: it runs before FP/SIMD is enabled and only handles integers.
 */
#include <stdint.h>

#include "fpsimd.h"
#include "bench_time.h"
#include "kernels.h"
#include "uart.h"

#define EXIT_MISMATCH 1

int fw_main(uint64_t dtb);

struct kernel {
	const char *name;
	uint64_t (*run)(void);
	uint64_t expected;
};

/* The bench-fp-quick variant runs about an eighth of the work (kernels.c). */
#ifdef BENCH_FP_QUICK
#define EXPECTED(full, quick) (quick)
#define BANNER "Preboard bench-fp firmware (quick)\n"
#else
#define EXPECTED(full, quick) (full)
#define BANNER "Preboard bench-fp firmware\n"
#endif

/* What QEMU 7.2 `-M virt -cpu cortex-a57` computes (README.md). */
static const struct kernel kernels[] = {
	{ "dgemm", k_dgemm, EXPECTED(0x3c09af8ac0f4464f, 0xcfed2f59f92fd021) },
	{ "sfir", k_sfir, EXPECTED(0x8f65b00fc122b63b, 0x66a13b905da5c63b) },
	{ "vec", k_vec, EXPECTED(0x3da9cdac215ca7df, 0xca9b0a6877747a41) },
	{ "cg", k_cg, EXPECTED(0xb3d9db8ef94e15d1, 0x94e88f458fd3ddd8) },
	{ "fft", k_fft, EXPECTED(0xd5966e5291ab2075, 0xc6c691be3eba37a9) },
	{ "nbody", k_nbody, EXPECTED(0xee14688889380ef7, 0xe3b567ba64ce4738) },
	{ "cvt", k_cvt, EXPECTED(0x98299dc23bbd2825, 0x144b41ff34b3e664) },
	{ "recip", k_recip, EXPECTED(0x7ad2d9a6ab1d5893, 0x71d4c4ab495e9b8f) },
};

/* "0x" and exactly sixteen hex digits. */
static void print_hex64(uint64_t v)
{
	uart_puts("0x");
	for (int shift = 60; shift >= 0; shift -= 4)
		uart_putc("0123456789abcdef"[(v >> shift) & 0xf]);
}

/* `s` padded with spaces to `width` columns. */
static void print_padded(const char *s, int width)
{
	while (*s) {
		uart_putc(*s++);
		width--;
	}
	while (width-- > 0)
		uart_putc(' ');
}

int fw_main(uint64_t dtb)
{
	int failed = 0;

	(void)dtb;
	fpsimd_enable();
	uart_puts(BANNER);
	for (unsigned int i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++) {
		const struct kernel *k = &kernels[i];

		bench_error = 0;
		uint64_t start = bench_now();
		uint64_t sum = k->run();
		uint64_t ticks = bench_now() - start;

		print_padded(k->name, 6);
		print_hex64(sum);
		if (bench_error) {
			uart_puts(" FAILED: ");
			uart_puts(bench_error);
			failed = 1;
		} else if (sum != k->expected) {
			uart_puts(" MISMATCH: expected ");
			print_hex64(k->expected);
			failed = 1;
		} else {
			uart_puts(" ok");
		}
		uart_putc('\n');
		bench_report(k->name, ticks);
	}
	uart_puts(failed ? "bench-fp: FAILED\n" : "bench-fp: all kernels ok\n");
	return failed ? EXIT_MISMATCH : 0;
}
