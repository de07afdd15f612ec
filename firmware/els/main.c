/*
 * Exception levels: boots at EL3 and checks exception entry and return
 * between EL3, EL2, EL1 and EL0 -- which EL each exception is taken to,
 * with what ESR/ELR/SPSR/FAR, under the SCR_EL3 and HCR_EL2 controls that
 * route or trap it -- and physical IRQ routing (SCR_EL3.IRQ, HCR_EL2.IMO)
 * with the EL1 physical timer through the GICv2. One `ok`/`FAIL` line per
 * case (check.h); exits through semihosting with the number of failures.
 * README.md lists the cases and the Arm ARM rule behind each.
 */
#include <stdint.h>

#include "arch.h"
#include "check.h"
#include "print.h"
#include "uart.h"

#define A(p) ((uint64_t)(uintptr_t)(p))

/* What a vector entry saves (layout shared with vectors.S). */
struct el_frame {
	uint64_t x[31];
	uint64_t elr, spsr;	/* ELR_ELx, SPSR_ELx of the EL taken to */
	uint64_t esr, far;
	uint64_t vector;	/* offset of the entry, 0x000..0x780 */
	uint64_t el;		/* the EL the exception was taken to */
	uint64_t pad;
};

void el_dispatch(struct el_frame *f);
extern char vectors_el3[], vectors_el2[], vectors_el1[], run_resume[], x_escape[];
uint64_t run_here(void (*fn)(uint64_t), uint64_t arg);
uint64_t run_lower(uint64_t spsr, void (*fn)(uint64_t), uint64_t arg);

extern void t_where(uint64_t), t_hvc(uint64_t), t_smc(uint64_t), t_svc(uint64_t),
	t_wfi(uint64_t), t_udf(uint64_t), t_load(uint64_t), t_store(uint64_t),
	t_eret_el2(uint64_t), t_eret_el3(uint64_t), t_irq_spin(uint64_t), t_irq_unmask(uint64_t);
extern char x_hvc[], x_smc[], x_svc[], x_wfi[], x_udf[], x_load[], x_store[],
	x_eret2_target[], x_eret3_target[], x_spin[], x_unmasked[];

/* Written by the snippets in cases.S. */
uint64_t t_result;

/* ESR_ELx */
#define ESR_EC(esr) (((esr) >> 26) & 0x3f)
#define ESR_IL (1UL << 25)
#define ESR(ec, iss) (((uint64_t)(ec) << 26) | ESR_IL | (iss))
#define EC_UNKNOWN 0x00
#define EC_WFX 0x01
#define EC_FP 0x07
#define EC_ILLEGAL 0x0e
#define EC_SVC64 0x15
#define EC_HVC64 0x16
#define EC_SMC64 0x17
#define EC_DABT_CUR 0x25
#define ALL 0xffffffffUL
#define ABORT_MASK 0xfe0005ffUL	/* EC, IL, FnV, CM, S1PTW, WnR, DFSC */

/* Vector offsets. */
#define VEC_CUR_SPX 0x200
#define VEC_LOWER_A64 0x400
#define VEC_IRQ 0x080

/* SPSR images: D, A, I, F masked, and the mode. */
#define DAIF (0xfUL << 6)
#define I_BIT (1UL << 7)
#define SPSR_IL (1UL << 20)
#define M_EL0T 0x0
#define M_EL1H 0x5
#define M_EL2T 0x8
#define M_EL2H 0x9
#define M_EL3H 0xd
#define NO_NZCV 0x0fffffffUL

/* SCR_EL3 */
#define SCR_NS (1UL << 0)
#define SCR_IRQ (1UL << 1)
#define SCR_RES1 (3UL << 4)
#define SCR_SMD (1UL << 7)
#define SCR_HCE (1UL << 8)
#define SCR_RW (1UL << 10)
#define SCR_TWI (1UL << 12)
#define SCR_BASE (SCR_RES1 | SCR_NS | SCR_HCE | SCR_RW)

/* HCR_EL2 */
#define HCR_IMO (1UL << 4)
#define HCR_TWI (1UL << 13)
#define HCR_TSC (1UL << 19)
#define HCR_TGE (1UL << 27)
#define HCR_RW (1UL << 31)

/* Nothing behind this PA on QEMU's virt (secure=on too) or Preboard's. */
#define UNMAPPED_PA 0x0b000000UL

/* GICv2 on virt: distributor and CPU interface. */
#define GICD 0x08000000UL
#define GICC 0x08010000UL
#define TIMER_PPI 30		/* EL1 physical timer (non-secure) */

static inline void mmio_write(uint64_t addr, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)addr = v;
}

static inline void isb(void)
{
	__asm__ volatile("isb" : : : "memory");
}

/* What the handlers saw: the first exception of the current case. */
static volatile struct {
	unsigned taken;
	uint64_t el, esr, elr, spsr, far, vector;
} rec;

enum action {
	UNWIND,		/* end the run: back to the driver at EL3 */
	RETURN,		/* ERET to ELR unchanged */
	SKIP,		/* ERET to ELR + 4 */
};
static volatile enum action action;
static volatile unsigned escaped;	/* the run reached x_escape */

/* End the run from a handler at f->el. */
static void leave(struct el_frame *f)
{
	if (f->el == 3) {
		f->elr = A(run_resume);
		f->spsr = DAIF | M_EL3H;
	} else {
		/* ERET to the escape instruction at this EL, which traps to EL3 */
		f->elr = A(x_escape);
		f->spsr = DAIF | (f->el << 2) | 1;
	}
}

void el_dispatch(struct el_frame *f)
{
	int irq = (f->vector & 0x180) == VEC_IRQ;

	if (f->el == 3 && !irq && f->vector >= VEC_LOWER_A64 && ESR_EC(f->esr) == EC_FP &&
	    f->elr == A(x_escape)) {
		escaped = 1;
		leave(f);
		return;
	}
	/* The only interrupt source is the timer: turn it off, its line drops. */
	if (irq) {
		write_sysreg(cntp_ctl_el0, 0);
		isb();
	}
	if (rec.taken++ == 0) {
		rec.el = f->el;
		rec.esr = f->esr;
		rec.elr = f->elr;
		rec.spsr = f->spsr;
		rec.far = f->far;
		rec.vector = f->vector;
	}
	if (rec.taken > 1 || action == UNWIND || irq)
		leave(f);
	else if (action == SKIP)
		f->elr += 4;
}

static uint8_t stack_el2[8192] __attribute__((aligned(16)));
static uint8_t stack_el1[8192] __attribute__((aligned(16)));
static uint8_t stack_el0[8192] __attribute__((aligned(16)));

static uint64_t ticks;		/* timer delay: about 1 ms */

/* Fresh state for a case: routing controls, stacks, records. */
static void prep(uint64_t scr, uint64_t hcr, enum action a)
{
	rec.taken = 0;
	rec.el = rec.esr = rec.elr = rec.spsr = rec.far = rec.vector = 0;
	action = a;
	escaped = 0;
	t_result = 0;
	write_sysreg(cntp_ctl_el0, 0);
	write_sysreg(scr_el3, scr);
	write_sysreg(hcr_el2, hcr);
	write_sysreg(sp_el2, A(stack_el2 + sizeof(stack_el2)));
	write_sysreg(sp_el1, A(stack_el1 + sizeof(stack_el1)));
	write_sysreg(sp_el0, A(stack_el0 + sizeof(stack_el0)));
	isb();
}

static void lower(uint64_t scr, uint64_t hcr, uint64_t spsr, void (*fn)(uint64_t), uint64_t arg,
		  enum action a)
{
	prep(scr, hcr, a);
	run_lower(spsr, fn, arg);
}

static void here(uint64_t scr, uint64_t hcr, void (*fn)(uint64_t), uint64_t arg, enum action a)
{
	prep(scr, hcr, a);
	run_here(fn, arg);
}

/* Exactly one exception, taken to `el` with these values. */
static void expect(uint64_t el, uint64_t vector, uint64_t esr, uint64_t esr_mask, uint64_t elr,
		   uint64_t spsr, uint64_t spsr_mask)
{
	check_eq("exceptions", 1, rec.taken);
	check_eq("EL taken to", el, rec.el);
	check_eq("vector", vector, rec.vector);
	check_eq("ESR", esr & esr_mask, rec.esr & esr_mask);
	check_eq("ELR", elr, rec.elr);
	check_eq("SPSR", spsr & spsr_mask, rec.spsr & spsr_mask);
}

/* An interrupt: ESR is not written for IRQs, so it is not compared. */
static void expect_irq(uint64_t el, uint64_t vector, uint64_t elr, uint64_t spsr)
{
	expect(el, vector, 0, 0, elr, spsr, NO_NZCV);
}

static void eret_cases(void)
{
	static const struct {
		const char *name;
		uint64_t spsr, where;
	} drops[] = {
		{ "eret-el3-to-el2h", DAIF | M_EL2H, 0x9 },
		{ "eret-el3-to-el2t", DAIF | M_EL2T, 0x8 },
		{ "eret-el3-to-el1h", DAIF | M_EL1H, 0x5 },
	};

	for (unsigned i = 0; i < sizeof(drops) / sizeof(drops[0]); i++) {
		check_begin(drops[i].name);	/* CurrentEL | SPSel at the target */
		lower(SCR_BASE, HCR_RW, drops[i].spsr, t_where, 0, UNWIND);
		check_eq("exceptions", 0, rec.taken);
		check_eq("reached the end of the run", 1, escaped);
		check_eq("CurrentEL | SPSel", drops[i].where, t_result);
		check_end();
	}
}

static void call_cases(void)
{
	check_begin("hvc-el1");		/* EC 0x16, ISS = imm16, to EL2, ELR = next */
	lower(SCR_BASE, HCR_RW, DAIF | M_EL1H, t_hvc, 0, RETURN);
	expect(2, VEC_LOWER_A64, ESR(EC_HVC64, 0x1234), ALL, A(x_hvc) + 4, DAIF | M_EL1H, NO_NZCV);
	check_eq("reached the end of the run", 1, escaped);
	check_end();

	check_begin("hvc-el2");		/* HVC at EL2 stays at EL2 */
	lower(SCR_BASE, HCR_RW, DAIF | M_EL2H, t_hvc, 0, RETURN);
	expect(2, VEC_CUR_SPX, ESR(EC_HVC64, 0x1234), ALL, A(x_hvc) + 4, DAIF | M_EL2H, NO_NZCV);
	check_eq("reached the end of the run", 1, escaped);
	check_end();

	check_begin("hvc-el1-hce0");	/* SCR_EL3.HCE = 0: HVC is UNDEFINED */
	lower(SCR_BASE & ~SCR_HCE, HCR_RW, DAIF | M_EL1H, t_hvc, 0, SKIP);
	expect(1, VEC_CUR_SPX, ESR(EC_UNKNOWN, 0), ALL, A(x_hvc), DAIF | M_EL1H, NO_NZCV);
	check_end();

	check_begin("hvc-el0");		/* HVC at EL0 is UNDEFINED */
	lower(SCR_BASE, HCR_RW, DAIF | M_EL0T, t_hvc, 0, SKIP);
	expect(1, VEC_LOWER_A64, ESR(EC_UNKNOWN, 0), ALL, A(x_hvc), DAIF | M_EL0T, NO_NZCV);
	check_end();

	check_begin("smc-el2");		/* EC 0x17, ISS = imm16, to EL3, ELR = next */
	lower(SCR_BASE, HCR_RW, DAIF | M_EL2H, t_smc, 0, RETURN);
	expect(3, VEC_LOWER_A64, ESR(EC_SMC64, 0x22), ALL, A(x_smc) + 4, DAIF | M_EL2H, NO_NZCV);
	check_eq("reached the end of the run", 1, escaped);
	check_end();

	check_begin("smc-el1");
	lower(SCR_BASE, HCR_RW, DAIF | M_EL1H, t_smc, 0, RETURN);
	expect(3, VEC_LOWER_A64, ESR(EC_SMC64, 0x22), ALL, A(x_smc) + 4, DAIF | M_EL1H, NO_NZCV);
	check_eq("reached the end of the run", 1, escaped);
	check_end();

	check_begin("smc-el1-tsc");	/* HCR_EL2.TSC: trapped to EL2, ELR = the SMC */
	lower(SCR_BASE, HCR_RW | HCR_TSC, DAIF | M_EL1H, t_smc, 0, SKIP);
	expect(2, VEC_LOWER_A64, ESR(EC_SMC64, 0x22), ALL, A(x_smc), DAIF | M_EL1H, NO_NZCV);
	check_eq("reached the end of the run", 1, escaped);
	check_end();

	check_begin("smc-el1-smd");	/* SCR_EL3.SMD: UNDEFINED at EL1 */
	lower(SCR_BASE | SCR_SMD, HCR_RW, DAIF | M_EL1H, t_smc, 0, SKIP);
	expect(1, VEC_CUR_SPX, ESR(EC_UNKNOWN, 0), ALL, A(x_smc), DAIF | M_EL1H, NO_NZCV);
	check_end();

	check_begin("smc-el2-smd");	/* ... and at EL2 */
	lower(SCR_BASE | SCR_SMD, HCR_RW, DAIF | M_EL2H, t_smc, 0, SKIP);
	expect(2, VEC_CUR_SPX, ESR(EC_UNKNOWN, 0), ALL, A(x_smc), DAIF | M_EL2H, NO_NZCV);
	check_end();

	check_begin("smc-el1-tsc-smd");	/* the EL2 trap comes before SMD's UNDEFINED */
	lower(SCR_BASE | SCR_SMD, HCR_RW | HCR_TSC, DAIF | M_EL1H, t_smc, 0, SKIP);
	expect(2, VEC_LOWER_A64, ESR(EC_SMC64, 0x22), ALL, A(x_smc), DAIF | M_EL1H, NO_NZCV);
	check_end();

	check_begin("svc-el1");		/* EC 0x15 to EL1 */
	lower(SCR_BASE, HCR_RW, DAIF | M_EL1H, t_svc, 0, RETURN);
	expect(1, VEC_CUR_SPX, ESR(EC_SVC64, 0x33), ALL, A(x_svc) + 4, DAIF | M_EL1H, NO_NZCV);
	check_eq("reached the end of the run", 1, escaped);
	check_end();

	check_begin("svc-el0");		/* from EL0 to EL1 */
	lower(SCR_BASE, HCR_RW, DAIF | M_EL0T, t_svc, 0, RETURN);
	expect(1, VEC_LOWER_A64, ESR(EC_SVC64, 0x33), ALL, A(x_svc) + 4, DAIF | M_EL0T, NO_NZCV);
	check_eq("reached the end of the run", 1, escaped);
	check_end();

	check_begin("svc-el0-tge");	/* HCR_EL2.TGE: EL0's exceptions go to EL2 */
	lower(SCR_BASE, HCR_RW | HCR_TGE, DAIF | M_EL0T, t_svc, 0, RETURN);
	expect(2, VEC_LOWER_A64, ESR(EC_SVC64, 0x33), ALL, A(x_svc) + 4, DAIF | M_EL0T, NO_NZCV);
	check_eq("reached the end of the run", 1, escaped);
	check_end();
}

static void trap_cases(void)
{
	check_begin("wfi-el1-hcr-twi");	/* EC 0x01 (CV, COND 0xe, TI = 0) to EL2, ELR = the WFI */
	lower(SCR_BASE, HCR_RW | HCR_TWI, DAIF | M_EL1H, t_wfi, 0, SKIP);
	expect(2, VEC_LOWER_A64, ESR(EC_WFX, 0x1e00000), ALL, A(x_wfi), DAIF | M_EL1H, NO_NZCV);
	check_eq("reached the end of the run", 1, escaped);
	check_end();

	check_begin("wfi-el2-scr-twi");	/* SCR_EL3.TWI: to EL3 */
	lower(SCR_BASE | SCR_TWI, HCR_RW, DAIF | M_EL2H, t_wfi, 0, SKIP);
	expect(3, VEC_LOWER_A64, ESR(EC_WFX, 0x1e00000), ALL, A(x_wfi), DAIF | M_EL2H, NO_NZCV);
	check_eq("reached the end of the run", 1, escaped);
	check_end();

	check_begin("udf-el2");
	lower(SCR_BASE, HCR_RW, DAIF | M_EL2H, t_udf, 0, SKIP);
	expect(2, VEC_CUR_SPX, ESR(EC_UNKNOWN, 0), ALL, A(x_udf), DAIF | M_EL2H, NO_NZCV);
	check_eq("reached the end of the run", 1, escaped);
	check_end();

	check_begin("dabt-el2");	/* MMU off, nothing at the PA: external abort */
	lower(SCR_BASE, HCR_RW, DAIF | M_EL2H, t_load, UNMAPPED_PA, UNWIND);
	expect(2, VEC_CUR_SPX, ESR(EC_DABT_CUR, 0x10), ABORT_MASK, A(x_load), DAIF | M_EL2H,
	       NO_NZCV);
	check_eq("FAR_EL2", UNMAPPED_PA, rec.far);
	check_end();

	check_begin("dabt-el3");
	here(SCR_BASE, HCR_RW, t_load, UNMAPPED_PA, UNWIND);
	expect(3, VEC_CUR_SPX, ESR(EC_DABT_CUR, 0x10), ABORT_MASK, A(x_load), DAIF | M_EL3H,
	       NO_NZCV);
	check_eq("FAR_EL3", UNMAPPED_PA, rec.far);
	check_end();

	check_begin("dabt-el3-write");	/* WnR = 1 */
	here(SCR_BASE, HCR_RW, t_store, UNMAPPED_PA + 8, UNWIND);
	expect(3, VEC_CUR_SPX, ESR(EC_DABT_CUR, 0x50), ABORT_MASK, A(x_store), DAIF | M_EL3H,
	       NO_NZCV);
	check_eq("FAR_EL3", UNMAPPED_PA + 8, rec.far);
	check_end();

	/*
	 * Illegal exception returns: the EL stays, PSTATE.IL is set, NZCV and
	 * DAIF come from SPSR and PC = ELR; the instruction there takes EC 0x0e
	 * at the same EL with SPSR.IL = 1.
	 */
	check_begin("illegal-return-el2-to-el3");	/* ERET may not go up */
	lower(SCR_BASE, HCR_RW, DAIF | M_EL2H, t_eret_el2, 0x90000000UL | DAIF | M_EL3H, UNWIND);
	expect(2, VEC_CUR_SPX, ESR(EC_ILLEGAL, 0), ALL, A(x_eret2_target),
	       0x90000000UL | SPSR_IL | DAIF | M_EL2H, ALL);
	check_end();

	check_begin("illegal-return-el3-to-secure-el2");	/* SCR_EL3.NS = 0: no Secure EL2 */
	here(SCR_BASE & ~SCR_NS, HCR_RW, t_eret_el3, 0x60000000UL | DAIF | M_EL2H, UNWIND);
	expect(3, VEC_CUR_SPX, ESR(EC_ILLEGAL, 0), ALL, A(x_eret3_target),
	       0x60000000UL | SPSR_IL | DAIF | M_EL3H, ALL);
	check_end();
}

/* The GICv2 as the secure side sets it up: the timer's PPI in Group 0,
 * which without GICC_CTLR.FIQEn is signalled as IRQ. */
static void gic_init(void)
{
	mmio_write(GICD + 0x000, 1);			/* GICD_CTLR.EnableGrp0 */
	mmio_write(GICD + 0x41c, 0x80808080);		/* IPRIORITYR: PPIs 28..31 at 0x80 */
	mmio_write(GICD + 0x100, 1u << TIMER_PPI);	/* ISENABLER0 */
	mmio_write(GICC + 0x004, 0xff);			/* GICC_PMR: let everything through */
	mmio_write(GICC + 0x000, 1);			/* GICC_CTLR.EnableGrp0 */
}

static void irq_cases(void)
{
	check_begin("irq-scr-irq-el1-masked");	/* SCR_EL3.IRQ: to EL3 despite PSTATE.I */
	lower(SCR_BASE | SCR_IRQ, HCR_RW, DAIF | M_EL1H, t_irq_spin, 0, UNWIND);
	expect_irq(3, VEC_LOWER_A64 + VEC_IRQ, A(x_spin), DAIF | M_EL1H);
	check_end();

	check_begin("irq-scr-irq-el2-masked");
	lower(SCR_BASE | SCR_IRQ, HCR_RW, DAIF | M_EL2H, t_irq_spin, 0, UNWIND);
	expect_irq(3, VEC_LOWER_A64 + VEC_IRQ, A(x_spin), DAIF | M_EL2H);
	check_end();

	check_begin("irq-hcr-imo-el1-masked");	/* HCR_EL2.IMO: to EL2 despite PSTATE.I */
	lower(SCR_BASE, HCR_RW | HCR_IMO, DAIF | M_EL1H, t_irq_spin, 0, UNWIND);
	expect_irq(2, VEC_LOWER_A64 + VEC_IRQ, A(x_spin), DAIF | M_EL1H);
	check_end();

	/* No routing: PSTATE.I holds it at EL1 until unmasked, then it is
	 * taken at EL1 before the next instruction. */
	check_begin("irq-el1-masked-then-unmasked");
	lower(SCR_BASE, HCR_RW, DAIF | M_EL1H, t_irq_unmask, ticks, UNWIND);
	check_eq("ISTATUS seen with no interrupt taken", 1, t_result);
	expect_irq(1, VEC_CUR_SPX + VEC_IRQ, A(x_unmasked), (DAIF & ~I_BIT) | M_EL1H);
	check_end();
}

int fw_main(uint64_t x0)
{
	(void)x0;
	uart_puts("Preboard els firmware\n");
	check_begin("entry-el3");
	check_eq("CurrentEL", 3, current_el());
	if (check_end()) {
		uart_puts("these tests need to start at EL3\n");
		return 1;
	}

	write_sysreg(vbar_el3, A(vectors_el3));
	write_sysreg(vbar_el2, A(vectors_el2));
	write_sysreg(vbar_el1, A(vectors_el1));
	/* MMU and caches off everywhere, no alignment checks. */
	write_sysreg(sctlr_el3, 0x30c50830UL);
	write_sysreg(sctlr_el2, 0x30c50830UL);
	write_sysreg(sctlr_el1, 0x30d50830UL);
	/* FP/SIMD: not trapped at EL1/EL2, always trapped to EL3 (the escape). */
	write_sysreg(cpacr_el1, 3UL << 20);
	write_sysreg(cptr_el2, 0x33ffUL);
	write_sysreg(cptr_el3, 1UL << 10);
	/* EL1 may use the physical counter and timer. */
	write_sysreg(cnthctl_el2, 3);
	write_sysreg(cntvoff_el2, 0);
	write_sysreg(cntp_ctl_el0, 0);
	isb();
	ticks = read_sysreg(cntfrq_el0) / 1000;
	if (ticks == 0)
		ticks = 1000;
	gic_init();

	eret_cases();
	call_cases();
	trap_cases();
	irq_cases();

	write_sysreg(scr_el3, SCR_BASE);
	uart_puts("done: ");
	print_dec(check_failures());
	uart_puts(" failed\n");
	return (int)check_failures();
}
