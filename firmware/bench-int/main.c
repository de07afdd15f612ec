/*
 * bench-int: a fixed mixed integer workload for measuring execution
 * engines (Preboard's interpreter, later its JIT, QEMU). Runs every kernel
 * of kernels.c once, prints one checksum line per kernel, and exits
 * through semihosting: 0 when every checksum equals the value computed
 * natively on the host (EXPECTED below, checked by `make host-test`),
 * 1 otherwise.
 */
#include <stdint.h>

#include "bench_time.h"
#include "kernels.h"
#include "uart.h"

#define EXIT_MISMATCH 1

int fw_main(uint64_t dtb);

struct kernel {
	const char *name;
	uint32_t (*run)(void);
	uint32_t expected;
};

static const struct kernel kernels[] = {
	{ "crc32", k_crc32, 0x64fd4dac },
	{ "hash", k_hash, 0xe866309b },
	{ "sort", k_sort, 0x42feff7d },
	{ "vm", k_vm, 0xa14edbef },
	{ "chase", k_chase, 0xe0007eb3 },
	{ "mem", k_mem, 0x65863998 },
};

/* "0x" and exactly eight hex digits. */
static void print_hex32(uint32_t v)
{
	uart_puts("0x");
	for (int shift = 28; shift >= 0; shift -= 4)
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
	uart_puts("Preboard bench-int firmware\n");
	for (unsigned int i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++) {
		const struct kernel *k = &kernels[i];

		bench_error = 0;
		uint64_t start = bench_now();
		uint32_t sum = k->run();
		uint64_t ticks = bench_now() - start;

		print_padded(k->name, 6);
		print_hex32(sum);
		if (bench_error) {
			uart_puts(" FAILED: ");
			uart_puts(bench_error);
			failed = 1;
		} else if (sum != k->expected) {
			uart_puts(" MISMATCH: expected ");
			print_hex32(k->expected);
			failed = 1;
		} else {
			uart_puts(" ok");
		}
		uart_putc('\n');
		bench_report(k->name, ticks);
	}
	uart_puts(failed ? "bench-int: FAILED\n" : "bench-int: all kernels ok\n");
	return failed ? EXIT_MISMATCH : 0;
}
