/*
 * Exception self-test: provokes each class of synchronous exception at EL1
 * and at EL0 and checks what the core reports (ESR_EL1, ELR_EL1, FAR_EL1,
 * SPSR_EL1, the vector taken), one `ok`/`FAIL` line per case (check.h),
 * then exits through semihosting with the number of failed cases.
 * README.md lists the cases and what each expects, with the Arm ARM rule.
 */
#include <stdint.h>

#include "arch.h"
#include "board.h"
#include "check.h"
#include "exc.h"
#include "fdt.h"
#include "print.h"
#include "uart.h"

/* Written by the snippets in cases.S. */
uint64_t t_result;

/* Physical addresses with nothing behind them on QEMU's virt (secure=off)
 * and on Preboard's virt: the secure RAM window, and beyond 48 bits. */
#define UNMAPPED_PA 0x0e000000UL
#define BEYOND_PA (1UL << 48)

#define SCTLR_A (1UL << 1)
#define SCTLR_UMA (1UL << 9)
#define SCTLR_DZE (1UL << 14)
#define SCTLR_UCT (1UL << 15)
#define SCTLR_NTWI (1UL << 16)
#define SCTLR_NTWE (1UL << 18)
#define SCTLR_UCI (1UL << 26)
#define CPACR_FPEN_EL1 (1UL << 20)

/* The snippets and their labels, in cases.S. */
extern void t_svc(uint64_t), t_svc_sp0(uint64_t), t_brk(uint64_t), t_udf(uint64_t),
	t_hvc(uint64_t), t_smc(uint64_t), t_hlt(uint64_t), t_load(uint64_t), t_store(uint64_t),
	t_br(uint64_t), t_sp_align(uint64_t), t_mrs_unimpl(uint64_t), t_msr_ro(uint64_t),
	t_fp(uint64_t), t_eret(uint64_t);
extern char x_svc[], x_svc_sp0[], x_brk[], x_udf[], x_hvc[], x_smc[], x_hlt[], x_load[],
	x_store[], x_br[], x_br_target[], x_sp_align[], x_mrs_unimpl[], x_msr_ro[], x_fp[],
	x_eret_target[];
extern char e_svc[], e_mrs_sctlr[], e_ctr[], e_dczid[], e_daifset[], e_mrs_daif[], e_spsel[],
	e_dczva[], e_dccvau[], e_eret[], e_hvc[], e_smc[], e_brk[], e_load[], e_sp_align[], e_fp[],
	e_wfi[], e_wfe[];
extern char x_e_svc[], x_e_mrs_sctlr[], x_e_ctr[], x_e_daifset[], x_e_mrs_daif[], x_e_spsel[],
	x_e_dczva[], x_e_dccvau[], x_e_eret[], x_e_hvc[], x_e_smc[], x_e_brk[], x_e_load[],
	x_e_sp_align[], x_e_fp[], x_e_wfi[], x_e_wfe[];

#define A(p) ((uint64_t)(uintptr_t)(p))

/* What the handler saw: the first exception of the current case. */
static volatile struct {
	unsigned taken;
	uint64_t esr, far, elr, spsr, vector, x0, x1;
} rec;

/* What the handler does after recording. */
enum action {
	UNWIND,		/* back to exc_try's caller, which returns 1 */
	RETURN,		/* ERET to ELR_EL1 unchanged */
	SKIP,		/* ERET to ELR_EL1 + 4 */
};
static volatile enum action action;
static uint64_t unwound;

static void handler(struct exc_frame *f)
{
	if (rec.taken++ == 0) {
		rec.esr = f->esr;
		rec.far = f->far;
		rec.elr = f->elr;
		rec.spsr = f->spsr;
		rec.vector = f->vector;
		rec.x0 = f->x[0];
		rec.x1 = f->x[1];
	}
	/* A second exception in one case is never expected: give up on it. */
	if (rec.taken > 1 || action == UNWIND)
		exc_unwind(f);
	else if (action == SKIP)
		f->elr += 4;
}

static void run(void (*fn)(uint64_t), uint64_t arg, enum action a)
{
	rec.taken = 0;
	rec.esr = rec.far = rec.elr = rec.spsr = rec.vector = rec.x0 = rec.x1 = 0;
	action = a;
	t_result = 0;
	unwound = exc_try(fn, arg);
}

/* EL0: a stack of its own (MMU off: EL0 may touch all memory). */
static uint64_t el0_stack[512] __attribute__((aligned(16)));
#define EL0_SP A(&el0_stack[512])

/* SPSR for the ERET to EL0: EL0t, D/A/I/F masked, N and V set (checked). */
#define EL0_NZCV 0x90000000UL
#define EL0_SPSR (EL0_NZCV | SPSR_DAIF | SPSR_M_EL0T)

static struct {
	uint64_t pc, sp, spsr, x0;
} el0_args;

static void el0_go(uint64_t unused)
{
	(void)unused;
	el0_enter(el0_args.pc, el0_args.sp, el0_args.spsr, el0_args.x0);
}

/* Runs e_* at EL0 with x0 = arg; the handler always unwinds. */
static void run_el0(const char *entry, uint64_t arg)
{
	el0_args.pc = A(entry);
	el0_args.sp = EL0_SP;
	el0_args.spsr = EL0_SPSR;
	el0_args.x0 = arg;
	run(el0_go, 0, UNWIND);
}

/* ESR masks: the whole register, or for aborts EC, IL, FnV, CM, S1PTW,
 * WnR and the fault status (not ISV and the access description, nor EA,
 * which are IMPLEMENTATION DEFINED or optional for same-EL aborts). */
#define ALL 0xffffffffUL
#define ABORT_MASK 0xfe0005ffUL

#define ESR(ec, iss) (((uint64_t)(ec) << 26) | ESR_IL | (iss))
#define SPSR_EL1H (SPSR_DAIF | SPSR_M_EL1H)
/* SPSR without NZCV (whatever the compiled code left there). */
#define NO_NZCV 0x0fffffffUL

/* Exactly one exception with these ESR (under mask), ELR, vector, SPSR. */
static void expect(uint64_t esr, uint64_t mask, uint64_t elr, uint64_t vector, uint64_t spsr,
		   uint64_t spsr_mask)
{
	check_eq("exceptions", 1, rec.taken);
	check_eq("ESR_EL1", esr & mask, rec.esr & mask);
	check_eq("ELR_EL1", elr, rec.elr);
	check_eq("vector", vector, rec.vector);
	check_eq("SPSR_EL1", spsr & spsr_mask, rec.spsr & spsr_mask);
}

/* One EL1 exception to the current-EL SP_ELx vector. */
static void expect_el1(uint64_t esr, uint64_t mask, uint64_t elr)
{
	expect(esr, mask, elr, VEC_CUR_SPX, SPSR_EL1H, NO_NZCV);
}

/* One exception from EL0 (taken to the lower-EL AArch64 vector). */
static void expect_el0(uint64_t esr, uint64_t mask, uint64_t elr)
{
	expect(esr, mask, elr, VEC_LOWER_A64, EL0_SPSR, ALL);
}

/* The encoding fields of a trapped MSR/MRS/SYS (EC 0x18 ISS). */
static uint64_t sysreg_iss(unsigned op0, unsigned op1, unsigned crn, unsigned crm, unsigned op2,
			   unsigned rt, unsigned read)
{
	return ((uint64_t)op0 << 20) | ((uint64_t)op2 << 17) | ((uint64_t)op1 << 14) |
	       ((uint64_t)crn << 10) | ((uint64_t)rt << 5) | ((uint64_t)crm << 1) | read;
}

static void set_sctlr(uint64_t v)
{
	write_sysreg(sctlr_el1, v);
	__asm__ volatile("isb" : : : "memory");
}

static void set_cpacr(uint64_t v)
{
	write_sysreg(cpacr_el1, v);
	__asm__ volatile("isb" : : : "memory");
}

/* A 16-byte aligned scratch word pair for loads. */
static uint64_t scratch[4] __attribute__((aligned(16))) = { 0x1122334455667788UL, 0x99aabbccddeeff00UL };

enum psci_conduit { PSCI_NONE, PSCI_HVC, PSCI_SMC };

/* The /psci node's `method`: how the board's PSCI firmware is called. The
 * DTB is where x0 points or, failing that, at the start of RAM (QEMU). */
static enum psci_conduit psci_conduit(uint64_t x0)
{
	struct fdt f;
	struct fdt_iter it;
	struct fdt_item item;
	struct fdt_error err;
	uintptr_t dtb = fdt_has_magic(x0) ? x0 : BOARD_RAM_BASE;
	int in_psci = 0;

	if (!fdt_has_magic(dtb) || !fdt_open(&f, dtb, &err))
		return PSCI_NONE;
	fdt_iter_init(&it);
	while (fdt_next(&f, &it, &item, &err) && item.type != FDT_END) {
		if (item.type == FDT_BEGIN_NODE)
			in_psci = item.depth == 2 && (fdt_streq(item.name, "psci") ||
						      fdt_starts_with(item.name, "psci@"));
		else if (item.type == FDT_END_NODE)
			in_psci = 0;
		else if (in_psci && item.depth == 2 && fdt_streq(item.name, "method")) {
			if (fdt_prop_is(&item, "hvc"))
				return PSCI_HVC;
			if (fdt_prop_is(&item, "smc"))
				return PSCI_SMC;
		}
	}
	return PSCI_NONE;
}

static void conduit_case(const char *name, void (*fn)(uint64_t), uint64_t insn, int conduit)
{
	check_begin(name);
	run(fn, 0, SKIP);
	if (conduit) {
		check_eq("exceptions", 0, rec.taken);
		check_eq("w0 (SMCCC NOT_SUPPORTED)", 0xffffffffUL, t_result & 0xffffffffUL);
	} else {
		expect_el1(ESR(EC_UNKNOWN, 0), ALL, insn);
	}
	check_end();
}

static void el1_cases(enum psci_conduit psci)
{
	uint64_t sctlr = read_sysreg(sctlr_el1);

	check_begin("svc");		/* EC 0x15, ISS = imm16, ELR = next instruction */
	run(t_svc, 0, RETURN);
	expect_el1(ESR(EC_SVC64, 0x1234), ALL, A(x_svc) + 4);
	check_eq("exc_try result (resumed after the SVC)", 0, unwound);
	check_end();

	check_begin("svc-sp0");		/* EL1t: the current-EL SP0 vector group */
	run(t_svc_sp0, 0, RETURN);
	expect(ESR(EC_SVC64, 0x77), ALL, A(x_svc_sp0) + 4, VEC_CUR_SP0,
	       SPSR_DAIF | SPSR_M_EL1T, NO_NZCV);
	check_eq("exc_try result", 0, unwound);
	check_end();

	check_begin("brk");		/* EC 0x3c, ISS = imm16, ELR = the BRK */
	run(t_brk, 0, SKIP);
	expect_el1(ESR(EC_BRK64, 0x4321), ALL, A(x_brk));
	check_eq("exc_try result", 0, unwound);
	check_end();

	check_begin("udf");		/* UNDEFINED: EC 0, ISS 0 */
	run(t_udf, 0, SKIP);
	expect_el1(ESR(EC_UNKNOWN, 0), ALL, A(x_udf));
	check_end();

	/*
	 * HVC and SMC are UNDEFINED without EL2/EL3, unless the board's device
	 * tree names that instruction as the PSCI conduit: then the "firmware"
	 * answers and a function number it does not know (x0 = 0) returns the
	 * SMCCC NOT_SUPPORTED (-1) in w0 (QEMU's virt uses HVC).
	 */
	conduit_case("hvc", t_hvc, A(x_hvc), psci == PSCI_HVC);
	conduit_case("smc", t_smc, A(x_smc), psci == PSCI_SMC);

	check_begin("hlt");		/* no halting debug: UNDEFINED */
	run(t_hlt, 0, SKIP);
	expect_el1(ESR(EC_UNKNOWN, 0), ALL, A(x_hlt));
	check_end();

	check_begin("dabt-unmapped-read");	/* synchronous external abort */
	run(t_load, UNMAPPED_PA, UNWIND);
	expect_el1(ESR(EC_DABT_CUR, 0x10), ABORT_MASK, A(x_load));
	check_eq("FAR_EL1", UNMAPPED_PA, rec.far);
	check_end();

	check_begin("dabt-unmapped-write");	/* ... WnR = 1 */
	run(t_store, UNMAPPED_PA + 8, UNWIND);
	expect_el1(ESR(EC_DABT_CUR, 0x50), ABORT_MASK, A(x_store));
	check_eq("FAR_EL1", UNMAPPED_PA + 8, rec.far);
	check_end();

	check_begin("dabt-address-size");	/* MMU off, PA beyond PARange: level 0 */
	run(t_load, BEYOND_PA, UNWIND);
	expect_el1(ESR(EC_DABT_CUR, 0x00), ABORT_MASK, A(x_load));
	check_eq("FAR_EL1", BEYOND_PA, rec.far);
	check_end();

	check_begin("align-sctlr-a");	/* SCTLR_EL1.A: alignment fault, DFSC 0x21 */
	set_sctlr(sctlr | SCTLR_A);
	run(t_load, A(&scratch[0]) + 4, UNWIND);
	set_sctlr(sctlr);
	expect_el1(ESR(EC_DABT_CUR, 0x21), ABORT_MASK, A(x_load));
	check_eq("FAR_EL1", A(&scratch[0]) + 4, rec.far);
	check_end();

	/*
	 * MMU off: data accesses are Device-nGnRnE, where an unaligned access
	 * is an alignment fault whatever SCTLR_EL1.A says.
	 */
	check_begin("align-device-mmu-off");
	run(t_load, A(&scratch[0]) + 4, UNWIND);
	if (rec.taken == 0 && !unwound && t_result == 0xddeeff0011223344UL)
		check_deviation("unaligned load with the MMU off did not fault "
				"(QEMU 7.2 checks alignment only for SCTLR_EL1.A)");
	else {
		expect_el1(ESR(EC_DABT_CUR, 0x21), ABORT_MASK, A(x_load));
		check_eq("FAR_EL1", A(&scratch[0]) + 4, rec.far);
	}
	check_end();

	check_begin("pc-align");	/* EC 0x22; ELR and FAR = the misaligned PC */
	run(t_br, A(x_br_target) + 2, UNWIND);
	expect_el1(ESR(EC_PC_ALIGN, 0), ALL, A(x_br_target) + 2);
	check_eq("FAR_EL1", A(x_br_target) + 2, rec.far);
	check_end();

	/* SP alignment (SCTLR_EL1.SA is set at reset): EC 0x26. With SP_EL0
	 * selected, so that the handler's SP_EL1 stays aligned. */
	check_begin("sp-align");
	check_eq("SCTLR_EL1.SA", 1UL << 3, sctlr & (1UL << 3));
	run(t_sp_align, A(&scratch[0]) + 8, UNWIND);
	if (rec.taken == 0 && !unwound)
		check_deviation("SP-relative load with SP % 16 == 8 did not fault "
				"(QEMU 7.2 does not check SP alignment)");
	else
		expect(ESR(EC_SP_ALIGN, 0), ALL, A(x_sp_align), VEC_CUR_SP0,
		       SPSR_DAIF | SPSR_M_EL1T, NO_NZCV);
	check_end();

	check_begin("mrs-unimplemented");	/* S3_0_C13_C0_0: UNDEFINED */
	run(t_mrs_unimpl, 0, SKIP);
	expect_el1(ESR(EC_UNKNOWN, 0), ALL, A(x_mrs_unimpl));
	check_end();

	check_begin("msr-read-only");	/* MSR MIDR_EL1: UNDEFINED */
	run(t_msr_ro, 0, SKIP);
	expect_el1(ESR(EC_UNKNOWN, 0), ALL, A(x_msr_ro));
	check_end();

	/* CPACR_EL1.FPEN = 0 (reset): EC 0x07, ISS CV = 1, COND = 0b1110. */
	check_begin("fp-trap");
	set_cpacr(0);
	run(t_fp, 0, SKIP);
	expect_el1(ESR(EC_FP, 0x1e00000), ALL, A(x_fp));
	check_end();

	check_begin("fp-el1-enabled");	/* FPEN = 0b01: EL1 may use FP */
	set_cpacr(CPACR_FPEN_EL1);
	run(t_fp, 0, SKIP);
	check_eq("exceptions", 0, rec.taken);
	check_end();

	/* ERET to EL1t with NZCV = 0b1010 from SPSR. */
	check_begin("eret-el1t");
	run(t_eret, 0xa0000000UL | SPSR_DAIF | SPSR_M_EL1T, UNWIND);
	check_eq("exceptions", 0, rec.taken);
	check_eq("SPSel | NZCV after ERET", 0xa0000000UL, t_result);
	check_end();

	/*
	 * Illegal exception returns: PSTATE.IL is set, EL and SP stay, NZCV and
	 * DAIF come from SPSR, PC = ELR; the next instruction then takes an
	 * Illegal Execution state exception (EC 0x0e) with SPSR_EL1.IL = 1.
	 */
	check_begin("illegal-return-el2");	/* EL2 is not implemented */
	run(t_eret, 0x90000000UL | SPSR_DAIF | SPSR_M_EL2H, UNWIND);
	expect(ESR(EC_ILLEGAL, 0), ALL, A(x_eret_target), VEC_CUR_SPX,
	       0x90000000UL | SPSR_IL | SPSR_EL1H, ALL);
	check_end();

	check_begin("illegal-return-el0h");	/* M = 0b0001: EL0 has no SP_EL0 alternative */
	run(t_eret, SPSR_DAIF | 0x1, UNWIND);
	expect(ESR(EC_ILLEGAL, 0), ALL, A(x_eret_target), VEC_CUR_SPX, SPSR_IL | SPSR_EL1H, ALL);
	check_end();

	check_begin("illegal-return-m1");	/* M[1] is reserved */
	run(t_eret, SPSR_DAIF | 0x7, UNWIND);
	expect(ESR(EC_ILLEGAL, 0), ALL, A(x_eret_target), VEC_CUR_SPX, SPSR_IL | SPSR_EL1H, ALL);
	check_end();
}

static void el0_cases(void)
{
	uint64_t sctlr = read_sysreg(sctlr_el1);

	/* ERET to EL0 restores NZCV and selects SP_EL0; SVC comes back to the
	 * lower-EL vector with ELR = the next instruction. */
	check_begin("el0-svc");
	run_el0(e_svc, 0);
	expect_el0(ESR(EC_SVC64, 0x42), ALL, A(x_e_svc) + 4);
	check_eq("NZCV at EL0", EL0_NZCV, rec.x0);
	check_eq("SP at EL0", EL0_SP, rec.x1);
	check_end();

	check_begin("el0-mrs-el1-register");	/* MRS SCTLR_EL1 at EL0: UNDEFINED */
	run_el0(e_mrs_sctlr, 0);
	expect_el0(ESR(EC_UNKNOWN, 0), ALL, A(x_e_mrs_sctlr));
	check_end();

	check_begin("el0-msr-spsel");		/* MSR SPSel at EL0: UNDEFINED */
	run_el0(e_spsel, 0);
	expect_el0(ESR(EC_UNKNOWN, 0), ALL, A(x_e_spsel));
	check_end();

	check_begin("el0-eret");
	run_el0(e_eret, 0);
	expect_el0(ESR(EC_UNKNOWN, 0), ALL, A(x_e_eret));
	check_end();

	check_begin("el0-hvc");
	run_el0(e_hvc, 0);
	expect_el0(ESR(EC_UNKNOWN, 0), ALL, A(x_e_hvc));
	check_end();

	check_begin("el0-smc");
	run_el0(e_smc, 0);
	expect_el0(ESR(EC_UNKNOWN, 0), ALL, A(x_e_smc));
	check_end();

	check_begin("el0-brk");
	run_el0(e_brk, 0);
	expect_el0(ESR(EC_BRK64, 7), ALL, A(x_e_brk));
	check_end();

	check_begin("el0-dabt-unmapped");	/* from EL0: EC 0x24 */
	run_el0(e_load, UNMAPPED_PA);
	expect_el0(ESR(EC_DABT_LOWER, 0x10), ABORT_MASK, A(x_e_load));
	check_eq("FAR_EL1", UNMAPPED_PA, rec.far);
	check_end();

	check_begin("el0-sp-align");		/* SCTLR_EL1.SA0 is set at reset */
	run_el0(e_sp_align, EL0_SP - 8);
	if (rec.taken == 1 && ESR_EC(rec.esr) == EC_SVC64)
		check_deviation("SP-relative load with SP % 16 == 8 did not fault "
				"(QEMU 7.2 does not check SP alignment)");
	else
		expect_el0(ESR(EC_SP_ALIGN, 0), ALL, A(x_e_sp_align));
	check_end();

	/*
	 * SCTLR_EL1 controls that trap EL0 to EL1 with EC 0x18 (not UNDEFINED),
	 * ISS = the instruction's encoding; all clear at reset.
	 */
	check_begin("el0-ctr-uct0");		/* MRS x5, CTR_EL0 */
	set_sctlr(sctlr & ~SCTLR_UCT);
	run_el0(e_ctr, 0);
	expect_el0(ESR(EC_SYSREG, sysreg_iss(3, 3, 0, 0, 1, 5, 1)), ALL, A(x_e_ctr));
	check_end();

	check_begin("el0-ctr-uct1");		/* allowed: the value EL1 reads */
	set_sctlr(sctlr | SCTLR_UCT);
	run_el0(e_ctr, 0);
	expect_el0(ESR(EC_SVC64, 0xd0), ALL, A(x_e_ctr) + 12);
	check_eq("CTR_EL0 at EL0", read_sysreg(ctr_el0), rec.x0);
	check_end();

	check_begin("el0-daifset-uma0");	/* MSR DAIFSet, #2 */
	set_sctlr(sctlr & ~SCTLR_UMA);
	run_el0(e_daifset, 0);
	if (rec.esr == ESR(EC_SYSREG, sysreg_iss(0, 6, 4, 2, 3, 31, 0)))
		check_deviation("ISS names Op1 = 6, Op2 = 3 for MSR DAIFSet "
				"(QEMU 7.2 swaps the two fields)");
	else
		expect_el0(ESR(EC_SYSREG, sysreg_iss(0, 3, 4, 2, 6, 31, 0)), ALL, A(x_e_daifset));
	check_end();

	check_begin("el0-mrs-daif-uma0");	/* MRS x7, DAIF */
	run_el0(e_mrs_daif, 0);
	expect_el0(ESR(EC_SYSREG, sysreg_iss(3, 3, 4, 2, 1, 7, 1)), ALL, A(x_e_mrs_daif));
	check_end();

	check_begin("el0-dczva-dze0");		/* DC ZVA, x0 */
	set_sctlr(sctlr & ~SCTLR_DZE);
	run_el0(e_dczva, A(&scratch[0]));
	expect_el0(ESR(EC_SYSREG, sysreg_iss(1, 3, 7, 4, 1, 0, 0)), ALL, A(x_e_dczva));
	check_end();

	check_begin("el0-dczid-dze0");		/* DCZID_EL0.DZP = 1 when EL0 may not */
	run_el0(e_dczid, 0);
	check_eq("DCZID_EL0 at EL0", read_sysreg(dczid_el0) | (1UL << 4), rec.x0);
	check_end();

	check_begin("el0-dccvau-uci0");		/* DC CVAU, x0 */
	set_sctlr(sctlr & ~SCTLR_UCI);
	run_el0(e_dccvau, A(&scratch[0]));
	expect_el0(ESR(EC_SYSREG, sysreg_iss(1, 3, 7, 11, 1, 0, 0)), ALL, A(x_e_dccvau));
	check_end();
	set_sctlr(sctlr);

	check_begin("el0-fp-trap");		/* FPEN = 0b01 traps EL0 only */
	set_cpacr(CPACR_FPEN_EL1);
	run_el0(e_fp, 0);
	expect_el0(ESR(EC_FP, 0x1e00000), ALL, A(x_e_fp));
	set_cpacr(0);
	check_end();

	/* Last: an emulator that does not trap these may wait for an
	 * interrupt that never comes. */
	check_begin("el0-wfi-ntwi0");		/* EC 0x01, CV = 1, COND = 0b1110, TI = 0 */
	set_sctlr(sctlr & ~SCTLR_NTWI);
	run_el0(e_wfi, 0);
	set_sctlr(sctlr);
	expect_el0(ESR(EC_WFX, 0x1e00000), ALL, A(x_e_wfi));
	check_end();

	check_begin("el0-wfe-ntwe0");		/* ... TI = 1 */
	set_sctlr(sctlr & ~SCTLR_NTWE);
	run_el0(e_wfe, 0);
	set_sctlr(sctlr);
	if (rec.taken == 1 && ESR_EC(rec.esr) == EC_SVC64)
		check_deviation("WFE at EL0 with SCTLR_EL1.nTWE = 0 did not trap "
				"(QEMU 7.2 never traps WFE)");
	else
		expect_el0(ESR(EC_WFX, 0x1e00001), ALL, A(x_e_wfe));
	check_end();
}

int fw_main(uint64_t x0)
{
	uart_puts("Preboard exceptions firmware\n");
	if (current_el() != 1) {
		uart_puts("these tests need to start at EL1; entered at EL");
		print_dec(current_el());
		uart_puts("\n");
		return 1;
	}
	exc_install(handler);
	el1_cases(psci_conduit(x0));
	el0_cases();
	exc_install(0);
	uart_puts("done: ");
	print_dec(check_failures());
	uart_puts(" failed\n");
	return (int)check_failures();
}
