/*
 * Per-kernel timing for the benchmark firmwares' "-timed" variants
 * (BENCH_TIMING, firmware/Makefile): the virtual counter before and after
 * each kernel, printed as "time <kernel> <microseconds> us" after the
 * kernel's checksum line. benches/compare.sh reads these lines (and drops
 * them before comparing the rest with the QEMU transcript). Both QEMU and
 * Preboard run the generic timer in host time, so this is the kernel's
 * wall time as the guest sees it, without process start-up.
 */
#ifndef BENCH_TIME_H
#define BENCH_TIME_H

#include <stdint.h>

#ifdef BENCH_TIMING
#include "arch.h"
#include "print.h"
#include "uart.h"

static inline uint64_t bench_now(void)
{
	__asm__ volatile("isb" ::: "memory");
	return read_sysreg(cntvct_el0);
}

/* Prints the line for `ticks` counter ticks (bench_now() differences). */
static inline void bench_report(const char *name, uint64_t ticks)
{
	uint64_t freq = read_sysreg(cntfrq_el0);

	uart_puts("time ");
	uart_puts(name);
	uart_putc(' ');
	print_dec(freq ? ticks * 1000000 / freq : 0);
	uart_puts(" us\n");
}
#else
static inline uint64_t bench_now(void)
{
	return 0;
}

static inline void bench_report(const char *name, uint64_t ticks)
{
	(void)name;
	(void)ticks;
}
#endif

#endif
