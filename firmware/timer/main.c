/*
 * Generic timer and GIC: boots at EL1 on virt, finds the GIC version in
 * the device tree (GICv2 "arm,cortex-a15-gic"/"arm,gic-400", or GICv3
 * "arm,gic-v3", driven through the ICC_* system registers and the
 * redistributor), and checks that timer interrupts arrive at the
 * programmed time, what the GIC reports for them, IMASK, WFI wake-up with
 * PSTATE.I set, priority masking and SGIs. One `ok`/`FAIL` line per case
 * (check.h); exits through semihosting with the number of failures.
 * README.md lists the cases.
 */
#include <stdint.h>

#include "arch.h"
#include "board.h"
#include "check.h"
#include "exc.h"
#include "fdt.h"
#include "print.h"
#include "semihost.h"
#include "uart.h"

#define GICD 0x08000000UL		/* distributor (both versions) */
#define GICC 0x08010000UL		/* GICv2 CPU interface */
#define GICR 0x080A0000UL		/* GICv3 redistributor of core 0 (RD_base) */
#define GICR_SGI (GICR + 0x10000UL)	/* ... its SGI_base frame */

#define PPI_VTIMER 27
#define PPI_PTIMER 30
#define SGI_TEST 5
#define SPURIOUS 1023

#define CTL_ENABLE 1UL
#define CTL_IMASK 2UL
#define CTL_ISTATUS 4UL

#define PRIO_IRQ 0x80		/* every interrupt used here */

static int gicv3;

static inline uint32_t rd32(uint64_t a)
{
	return *(volatile uint32_t *)(uintptr_t)a;
}

static inline void wr32(uint64_t a, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)a = v;
}

static inline void isb(void)
{
	__asm__ volatile("isb" : : : "memory");
}

static inline void wfi(void)
{
	__asm__ volatile("dsb sy; wfi" : : : "memory");
}

static inline void irq_unmask(void)
{
	__asm__ volatile("msr daifclr, #2" : : : "memory");
}

static inline void irq_mask(void)
{
	__asm__ volatile("msr daifset, #2" : : : "memory");
}

/* ---- the GIC, either version ---- */

/* Registers of the banked (SGI/PPI) interrupts 0..31. */
static uint64_t banked(uint64_t gicd_off, uint64_t gicr_off)
{
	return gicv3 ? GICR_SGI + gicr_off : GICD + gicd_off;
}

static void gic_set_prio(unsigned intid, uint32_t prio)
{
	uint64_t a = banked(0x400, 0x400) + (intid & ~3u);
	unsigned sh = (intid & 3) * 8;

	wr32(a, (rd32(a) & ~(0xffu << sh)) | (prio << sh));
}

static int gic_pending(unsigned intid)
{
	return (rd32(banked(0x200, 0x200)) >> intid) & 1;
}

static void gic_pmr(uint64_t v)
{
	if (gicv3)
		write_sysreg(s3_0_c4_c6_0, v);		/* ICC_PMR_EL1 */
	else
		wr32(GICC + 0x004, (uint32_t)v);	/* GICC_PMR */
	isb();
}

static uint32_t gic_ack(void)
{
	if (gicv3)
		return (uint32_t)read_sysreg(s3_0_c12_c12_0);	/* ICC_IAR1_EL1 */
	return rd32(GICC + 0x00c);				/* GICC_IAR */
}

static void gic_eoi(uint32_t iar)
{
	if (gicv3) {
		write_sysreg(s3_0_c12_c12_1, iar);		/* ICC_EOIR1_EL1 */
		isb();
	} else {
		wr32(GICC + 0x010, iar);			/* GICC_EOIR */
	}
}

static void gic_sgi_self(unsigned intid)
{
	if (gicv3)	/* ICC_SGI1R_EL1: INTID, Aff3.2.1 = 0, TargetList = core 0 */
		write_sysreg(s3_0_c12_c11_5, ((uint64_t)intid << 24) | 1);
	else		/* GICD_SGIR: TargetListFilter = 0b10 (this core only) */
		wr32(GICD + 0xf00, (2u << 24) | intid);
	isb();
}

static void gic_init(void)
{
	if (gicv3) {
		/* Affinity routing, both groups (no security: DS = 1). */
		wr32(GICD + 0x000, (1u << 4) | 3);
		while (rd32(GICD + 0x000) & (1u << 31))		/* RWP */
			;
		/* Wake the redistributor. */
		wr32(GICR + 0x014, rd32(GICR + 0x014) & ~2u);	/* WAKER.ProcessorSleep */
		while (rd32(GICR + 0x014) & 4u)			/* ChildrenAsleep */
			;
		wr32(GICR_SGI + 0x080, 0xffffffffu);		/* IGROUPR0: Group 1 */
		write_sysreg(s3_0_c12_c12_5, read_sysreg(s3_0_c12_c12_5) | 1);	/* ICC_SRE_EL1.SRE */
		isb();
		write_sysreg(s3_0_c12_c12_7, 1);		/* ICC_IGRPEN1_EL1 */
	} else {
		wr32(GICD + 0x000, 1);				/* GICD_CTLR: enable */
		wr32(GICC + 0x000, 1);				/* GICC_CTLR: enable */
	}
	gic_set_prio(PPI_PTIMER, PRIO_IRQ);
	gic_set_prio(PPI_VTIMER, PRIO_IRQ);
	gic_set_prio(SGI_TEST, PRIO_IRQ);
	wr32(banked(0x100, 0x100), (1u << PPI_PTIMER) | (1u << PPI_VTIMER) | (1u << SGI_TEST));
	gic_pmr(0xff);
}

/* ---- the device tree: which GIC ---- */

/* Whether a stringlist property holds `s`. */
static int has_string(const struct fdt_item *item, const char *s)
{
	const char *p = (const char *)item->value, *end = p + item->len;

	while (p < end) {
		if (fdt_streq(p, s))
			return 1;
		while (p < end && *p)
			p++;
		p++;
	}
	return 0;
}

/* 3 for GICv3, 2 for GICv2, 0 if the DTB names neither. */
static int gic_version(uint64_t x0)
{
	struct fdt f;
	struct fdt_iter it;
	struct fdt_item item;
	struct fdt_error err;
	uintptr_t dtb = fdt_has_magic(x0) ? x0 : BOARD_RAM_BASE;

	if (!fdt_has_magic(dtb) || !fdt_open(&f, dtb, &err))
		return 0;
	fdt_iter_init(&it);
	while (fdt_next(&f, &it, &item, &err) && item.type != FDT_END) {
		if (item.type != FDT_PROP || !fdt_streq(item.name, "compatible") ||
		    !fdt_prop_is_string(&item))
			continue;
		if (has_string(&item, "arm,gic-v3"))
			return 3;
		if (has_string(&item, "arm,cortex-a15-gic") || has_string(&item, "arm,gic-400"))
			return 2;
	}
	return 0;
}

/* ---- interrupts ---- */

/* What the IRQ handler saw. */
static volatile struct {
	unsigned irqs;
	uint64_t iar, vector, spsr;
	uint64_t ctl, count, cval;	/* the timer's, when its interrupt came */
} seen;

static void reset_seen(void)
{
	seen.irqs = 0;
	seen.iar = seen.vector = seen.spsr = seen.ctl = seen.count = seen.cval = 0;
}

static void handler(struct exc_frame *f)
{
	if ((f->vector & 0x180) != VEC_IRQ) {
		uart_puts("unexpected ");
		exc_print(f);
		semihost_exit(100);
	}
	uint32_t iar = gic_ack();
	unsigned intid = iar & 0x3ff;

	if (seen.irqs++ == 0) {
		seen.iar = iar;
		seen.vector = f->vector;
		seen.spsr = f->spsr;
		if (intid == PPI_PTIMER) {
			seen.ctl = read_sysreg(cntp_ctl_el0);
			seen.count = read_sysreg(cntpct_el0);
			seen.cval = read_sysreg(cntp_cval_el0);
		} else if (intid == PPI_VTIMER) {
			seen.ctl = read_sysreg(cntv_ctl_el0);
			seen.count = read_sysreg(cntvct_el0);
			seen.cval = read_sysreg(cntv_cval_el0);
		}
	}
	/* Quiet the source so that the level-triggered line drops. */
	if (intid == PPI_PTIMER)
		write_sysreg(cntp_ctl_el0, 0);
	else if (intid == PPI_VTIMER)
		write_sysreg(cntv_ctl_el0, 0);
	isb();
	if (intid < 1020)
		gic_eoi(iar);
}

/*
 * About 100 ms of the counter: the checks that read ISTATUS "before the
 * deadline" need the host (QEMU's or Preboard's timer runs in host time)
 * not to stall that long between arming and reading, also on a loaded CI
 * machine (10 ms was not always enough).
 */
static uint64_t ticks;

/* Waits with IRQs unmasked until the handler ran (WFI between checks). */
static void wait_irq(void)
{
	irq_unmask();
	while (!seen.irqs)
		wfi();
	irq_mask();
}

/* Spins with IRQs unmasked until the physical count passes `until`. */
static void spin_until(uint64_t until)
{
	irq_unmask();
	while (read_sysreg(cntpct_el0) < until)
		;
	irq_mask();
}

/* One interrupt, from this INTID (source CPU 0), taken at EL1h. */
static void expect_irq(unsigned intid)
{
	check_eq("interrupts", 1, seen.irqs);
	check_eq("IAR", intid, seen.iar);
	check_eq("vector", VEC_CUR_SPX + VEC_IRQ, seen.vector);
	check_eq("SPSR_EL1.M and DAIF", 0x345, seen.spsr & 0x3cf);	/* D, A, F set; I clear */
}

/* The timer's state as the handler saw it: fired, not before CVAL. */
static void expect_timer_fired(void)
{
	check_eq("CTL (ENABLE, ISTATUS)", CTL_ENABLE | CTL_ISTATUS, seen.ctl);
	check_eq("count >= CVAL", 1, seen.count >= seen.cval);
}

static void timer_cases(void)
{
	uint64_t now, before, after;

	check_begin("ptimer-cval");	/* EL1 physical timer, CVAL, PPI 30 */
	reset_seen();
	now = read_sysreg(cntpct_el0);
	write_sysreg(cntp_cval_el0, now + ticks);
	write_sysreg(cntp_ctl_el0, CTL_ENABLE);
	isb();
	check_eq("ISTATUS before the deadline", 0, read_sysreg(cntp_ctl_el0) & CTL_ISTATUS);
	wait_irq();
	expect_irq(PPI_PTIMER);
	expect_timer_fired();
	check_eq("CVAL", now + ticks, seen.cval);
	check_end();

	check_begin("vtimer-tval");	/* virtual timer through TVAL, PPI 27 */
	reset_seen();
	before = read_sysreg(cntvct_el0);
	write_sysreg(cntv_tval_el0, ticks);
	after = read_sysreg(cntvct_el0);
	write_sysreg(cntv_ctl_el0, CTL_ENABLE);
	isb();
	now = read_sysreg(cntv_cval_el0);
	check_eq("CVAL = count at the TVAL write + TVAL", 1,
		 now >= before + ticks && now <= after + ticks);
	wait_irq();
	expect_irq(PPI_VTIMER);
	expect_timer_fired();
	check_end();

	check_begin("ptimer-imask");	/* IMASK: ISTATUS rises, no interrupt */
	reset_seen();
	now = read_sysreg(cntpct_el0);
	write_sysreg(cntp_cval_el0, now + ticks);
	write_sysreg(cntp_ctl_el0, CTL_ENABLE | CTL_IMASK);
	isb();
	spin_until(now + 3 * ticks);
	check_eq("CTL", CTL_ENABLE | CTL_IMASK | CTL_ISTATUS, read_sysreg(cntp_ctl_el0));
	check_eq("interrupts", 0, seen.irqs);
	check_eq("PPI 30 pending in the GIC", 0, gic_pending(PPI_PTIMER));
	write_sysreg(cntp_ctl_el0, 0);
	isb();
	check_end();

	check_begin("ptimer-tval-negative");	/* TVAL reads CVAL - count, signed */
	now = read_sysreg(cntpct_el0);
	write_sysreg(cntp_cval_el0, now - 1000);
	isb();
	check_eq("TVAL < -1000 (sign)", 1, (int32_t)read_sysreg(cntp_tval_el0) <= -1000);
	check_end();

	check_begin("wfi-wakes-with-irqs-masked");	/* PSTATE.I set: WFI still wakes */
	reset_seen();
	now = read_sysreg(cntpct_el0);
	write_sysreg(cntp_cval_el0, now + ticks);
	write_sysreg(cntp_ctl_el0, CTL_ENABLE);
	isb();
	wfi();
	check_eq("ISTATUS after WFI", CTL_ISTATUS, read_sysreg(cntp_ctl_el0) & CTL_ISTATUS);
	check_eq("count >= CVAL after WFI", 1, read_sysreg(cntpct_el0) >= now + ticks);
	check_eq("interrupts while masked", 0, seen.irqs);
	wait_irq();	/* then it is taken as soon as PSTATE.I is cleared */
	expect_irq(PPI_PTIMER);
	expect_timer_fired();
	check_end();

	check_begin("gic-pmr-masks");	/* priority 0x80 is not above a PMR of 0x80 */
	reset_seen();
	gic_pmr(PRIO_IRQ);
	now = read_sysreg(cntpct_el0);
	write_sysreg(cntp_cval_el0, now + ticks);
	write_sysreg(cntp_ctl_el0, CTL_ENABLE);
	isb();
	/* The line may rise a little after the count passes CVAL (on QEMU the
	 * timer is a host event): wait for the GIC to see it, up to 1 s. */
	irq_unmask();
	while (!gic_pending(PPI_PTIMER) && read_sysreg(cntpct_el0) < now + 100 * ticks)
		;
	spin_until(read_sysreg(cntpct_el0) + ticks);
	check_eq("interrupts with PMR = priority", 0, seen.irqs);
	check_eq("PPI 30 pending in the GIC", 1, gic_pending(PPI_PTIMER));
	gic_pmr(0xff);
	wait_irq();
	expect_irq(PPI_PTIMER);
	expect_timer_fired();
	check_end();

	check_begin("sgi-self");	/* SGI 5 to this core; IAR CPUID (GICv2) = 0 */
	reset_seen();
	gic_sgi_self(SGI_TEST);
	wait_irq();
	expect_irq(SGI_TEST);
	check_end();

	check_begin("iar-spurious");	/* nothing pending: 1023 */
	check_eq("IAR", SPURIOUS, gic_ack() & 0x3ff);
	check_end();
}

int fw_main(uint64_t x0)
{
	uart_puts("Preboard timer firmware\n");
	if (current_el() != 1) {
		uart_puts("these tests need to start at EL1; entered at EL");
		print_dec(current_el());
		uart_puts("\n");
		return 1;
	}
	int v = gic_version(x0);
	if (v == 0) {
		uart_puts("no GICv2 or GICv3 in the device tree\n");
		return 1;
	}
	gicv3 = v == 3;
	uart_puts(gicv3 ? "GIC: v3\n" : "GIC: v2\n");
	ticks = read_sysreg(cntfrq_el0) / 10;
	if (ticks == 0)
		ticks = 1000;
	write_sysreg(cntp_ctl_el0, 0);
	write_sysreg(cntv_ctl_el0, 0);
	exc_install(handler);
	gic_init();

	timer_cases();

	exc_install(0);
	uart_puts("done: ");
	print_dec(check_failures());
	uart_puts(" failed\n");
	return (int)check_failures();
}
