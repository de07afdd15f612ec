/*
 * Timer-interrupt-heavy firmware for deterministic time (ticks/README.md).
 * Boots at EL1 on virt (GICv2, PSCI via HVC). Core 0 starts core 1 with
 * PSCI CPU_ON if the board has it; every core then takes periodic
 * virtual-timer interrupts (PPI 27) while it computes, and prints one line
 * per interrupt: the count, the counter, how late the interrupt came, the
 * interrupted PC, how far the computation had got and a running hash of
 * all of these. A last phase sleeps in WFI between long ticks (idle time),
 * reading the PL031 RTC. Core 0 prints a summary and powers off.
 *
 * Every printed value depends on the exact instruction at which each
 * interrupt was taken, so two runs print the same bytes only if time and
 * interrupt delivery are reproducible.
 */
#include <stdint.h>

#include "arch.h"
#include "exc.h"
#include "print.h"
#include "uart.h"

#define GICD 0x08000000UL
#define GICC 0x08010000UL
#define RTC 0x09010000UL

#define PPI_VTIMER 27
#define SPURIOUS 1023

#define PSCI_CPU_ON 0xc4000003UL
#define PSCI_SYSTEM_OFF 0x84000008UL

#define NCORES 2
#define BUSY_TICKS 120	/* ticks while computing */
#define IDLE_TICKS 4	/* then ticks while asleep */

uint64_t smccc_hvc(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3);
void spin_lock(volatile uint32_t *lock);
void spin_unlock(volatile uint32_t *lock);
extern char secondary_entry[];
void secondary_main(uint64_t context);

static inline uint32_t rd32(uint64_t a)
{
	return *(volatile uint32_t *)(uintptr_t)a;
}

static inline void wr32(uint64_t a, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)a = v;
}

static volatile uint32_t print_lock;
static volatile struct {
	uint64_t ticks, hash, progress, period, rtc_start, rtc_end;
	uint32_t done;
} core[NCORES];

static void mix(unsigned c, uint64_t v)
{
	/* FNV-1a over 64-bit words. */
	core[c].hash = (core[c].hash ^ v) * 0x100000001b3UL;
}

static unsigned this_core(void)
{
	return read_sysreg(mpidr_el1) & 0xff;
}

static void handler(struct exc_frame *f)
{
	unsigned c = this_core();

	if ((f->vector & 0x180) != VEC_IRQ || c >= NCORES) {
		exc_print(f);
		halt();
	}
	uint32_t iar = rd32(GICC + 0x00c);	/* GICC_IAR */
	if ((iar & 0x3ff) == SPURIOUS)
		return;
	if ((iar & 0x3ff) != PPI_VTIMER) {
		uart_puts("unexpected interrupt ");
		print_dec(iar);
		uart_puts("\n");
		halt();
	}
	uint64_t now = read_sysreg(cntvct_el0), cval = read_sysreg(cntv_cval_el0);
	uint64_t n = ++core[c].ticks;

	mix(c, now);
	mix(c, f->elr);
	mix(c, core[c].progress);
	spin_lock(&print_lock);
	uart_puts("c");
	print_dec(c);
	uart_puts(" n=");
	print_dec(n);
	uart_puts(" t=");
	print_dec(now);
	uart_puts(" late=");
	print_dec(now - cval);
	uart_puts(" pc=");
	print_hex(f->elr);
	uart_puts(" i=");
	print_dec(core[c].progress);
	uart_puts(" h=");
	print_hex(core[c].hash);
	uart_puts("\n");
	spin_unlock(&print_lock);
	if (n == BUSY_TICKS)	/* asleep from now on: long ticks */
		core[c].period = read_sysreg(cntfrq_el0) / 4;
	if (n < BUSY_TICKS + IDLE_TICKS)
		write_sysreg(cntv_cval_el0, cval + core[c].period);	/* no drift */
	else
		write_sysreg(cntv_ctl_el0, 0);
	__asm__ volatile("isb" : : : "memory");
	wr32(GICC + 0x010, iar);	/* GICC_EOIR */
}

/* Per-core set-up, the computation, then the idle ticks. */
static void run_core(unsigned c)
{
	uint64_t x = 0x9e3779b97f4a7c15UL + c;

	exc_install(handler);
	/* Banked for each core: PPI 27's priority and enable, the CPU interface. */
	wr32(GICD + 0x418, rd32(GICD + 0x418) & ~(0xffu << 24));	/* IPRIORITYR6, byte 3 */
	wr32(GICD + 0x100, 1u << PPI_VTIMER);				/* ISENABLER0 */
	wr32(GICC + 0x004, 0xff);					/* PMR */
	wr32(GICC + 0x000, 1);						/* CTLR */
	core[c].period = 700 + 311 * c;	/* ~11k and ~16k instructions at 1 ns each */
	write_sysreg(cntv_cval_el0, read_sysreg(cntvct_el0) + core[c].period);
	write_sysreg(cntv_ctl_el0, 1);
	__asm__ volatile("isb; msr daifclr, #2" : : : "memory");
	for (uint64_t i = 0; core[c].ticks < BUSY_TICKS; i++) {
		x = x * 6364136223846793005UL + i;
		x ^= x >> 29;
		core[c].progress = i;
	}
	mix(c, x);
	core[c].rtc_start = rd32(RTC);
	while (core[c].ticks < BUSY_TICKS + IDLE_TICKS)
		__asm__ volatile("dsb sy; wfi" : : : "memory");
	core[c].rtc_end = rd32(RTC);
	__asm__ volatile("msr daifset, #2" : : : "memory");
	core[c].done = 1;
	__asm__ volatile("dsb ish; sev" : : : "memory");
}

void secondary_main(uint64_t context)
{
	run_core(context & 0xff);
	halt();
}

int fw_main(uint64_t x0)
{
	(void)x0;
	unsigned cores = 1;

	uart_puts("Preboard ticks firmware\n");
	wr32(GICD + 0x000, 1);	/* GICD_CTLR */
	/* Core 1, if the board has it (else CPU_ON fails). */
	if ((int64_t)smccc_hvc(PSCI_CPU_ON, 1, (uint64_t)(uintptr_t)secondary_entry, 1) == 0)
		cores = 2;
	run_core(0);
	for (unsigned c = 1; c < cores; c++)
		while (!core[c].done)
			wfe();
	for (unsigned c = 0; c < cores; c++) {
		uart_puts("core ");
		print_dec(c);
		uart_puts(": ticks ");
		print_dec(core[c].ticks);
		uart_puts(" rtc ");
		print_dec(core[c].rtc_start);
		uart_puts(" -> ");
		print_dec(core[c].rtc_end);
		uart_puts(" hash ");
		print_hex(core[c].hash);
		uart_puts("\n");
	}
	uart_puts("done at t=");
	print_dec(read_sysreg(cntvct_el0));
	uart_puts(" freq=");
	print_dec(read_sysreg(cntfrq_el0));
	uart_puts("\n");
	smccc_hvc(PSCI_SYSTEM_OFF, 0, 0, 0);
	return 1;
}
