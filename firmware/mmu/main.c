/*
 * MMU self-test: builds stage 1 translation tables for the EL1&0 regime in
 * C and turns the MMU on, once per granule (4, 16, 64 KiB) and VA size (39,
 * 42, 48 bits). Under each configuration it checks translation through
 * TTBR0 and a high alias through TTBR1, the faults (translation at each
 * level, access flag, permission, alignment, address size, instruction
 * aborts from XN/PXN), TLB maintenance, AT and DC ZVA; one `ok`/`FAIL`
 * line per case (check.h), prefixed with the configuration. Exits through
 * semihosting with the number of failed cases. README.md has the layout.
 */
#include <stdint.h>

#include "arch.h"
#include "check.h"
#include "exc.h"
#include "print.h"
#include "uart.h"

/* ---- physical layout (QEMU virt, 128 MiB of RAM) ---- */

#define RAM_PA 0x40000000UL
#define RAM_SIZE 0x08000000UL
#define UART_PA 0x09000000UL
#define POOL_PA 0x41000000UL	/* translation tables: 4 MiB, bump-allocated */
#define POOL_SIZE 0x00400000UL
#define FRAMES_PA 0x42000000UL	/* test frames, 64 KiB (the largest page) apart */
#define FRAME(i) (FRAMES_PA + (uint64_t)(i) * 0x10000UL)

enum {
	F_DATA,		/* byte pattern */
	F_RO,		/* another pattern, mapped read-only */
	F_NOAF,
	F_DEV,		/* mapped as Device memory */
	F_CODE,		/* the code blob, for EL1 */
	F_EL0_CODE,	/* the code blob, for EL0 */
	F_EL0_DATA,
	F_TLB_A,	/* word 0 = VAL_A */
	F_TLB_B,	/* word 0 = VAL_B */
};
#define VAL_A 0xaaaa0000aaaa0001UL
#define VAL_B 0xbbbb0000bbbb0002UL

/* ---- descriptors ---- */

#define D_ATTR(i) ((uint64_t)(i) << 2)
#define D_AP_EL1_RW (0UL << 6)
#define D_AP_ALL_RW (1UL << 6)
#define D_AP_EL1_RO (2UL << 6)
#define D_AP_ALL_RO (3UL << 6)
#define D_SH_OUTER (2UL << 8)
#define D_SH_INNER (3UL << 8)
#define D_AF (1UL << 10)
#define D_NG (1UL << 11)
#define D_PXN (1UL << 53)
#define D_UXN (1UL << 54)
#define T_PXN (1UL << 59)	/* table descriptors: PXNTable */
#define T_AP_RO (1UL << 62)	/* APTable[1]: no writes below */

/* MAIR_EL1: the attribute indexes the descriptors use. */
#define MT_DEVICE_NGNRNE 0	/* 0x00 */
#define MT_NORMAL 1		/* 0xff: write-back, read/write-allocate */
#define MT_NORMAL_NC 2		/* 0x44: non-cacheable */
#define MT_DEVICE_NGNRE 3	/* 0x04 */
#define MAIR_VALUE 0x0444ff00UL

#define NORMAL (D_ATTR(MT_NORMAL) | D_SH_INNER | D_AF)
#define DEVICE (D_ATTR(MT_DEVICE_NGNRNE) | D_AF)
#define XN (D_PXN | D_UXN)

/* ---- system register fields ---- */

#define SCTLR_M (1UL << 0)
#define SCTLR_C (1UL << 2)
#define SCTLR_I (1UL << 12)
#define TCR_EPD1 (1UL << 23)
#define TCR_TBI0 (1UL << 37)
#define TCR_IPS_40 (2UL << 32)

/* ---- the configuration under test ---- */

static unsigned gbits;		/* log2 of the granule: 12, 14, 16 */
static unsigned vabits;		/* 64 - TxSZ */
static uint64_t gsize;
static uint64_t pool_next;
static uint64_t *root0, *root1;	/* TTBR0 and TTBR1 tables */
static uint64_t tcr;

static unsigned stride(void)
{
	return gbits - 3;
}

/* The walk starts at level 4 - ceil((vabits - gbits) / stride). */
static unsigned start_level(void)
{
	return 4 - (vabits - gbits + stride() - 1) / stride();
}

/* VA bit where the index for `level` starts. */
static unsigned shift(unsigned level)
{
	return gbits + (3 - level) * stride();
}

static unsigned index_bits(unsigned level)
{
	return level == start_level() ? vabits - shift(level) : stride();
}

/* A zeroed table, granule-sized and granule-aligned, from the pool. */
static uint64_t *new_table(void)
{
	uint64_t pa = (pool_next + gsize - 1) & ~(gsize - 1);
	uint64_t *t = (uint64_t *)(uintptr_t)pa;

	pool_next = pa + gsize;
	for (uint64_t i = 0; i < gsize / 8; i++)
		t[i] = 0;
	return t;
}

/*
 * The entry for `va` at `level` under `root`, creating the tables above it
 * (with table attributes `tattr`) where they are missing.
 */
static volatile uint64_t *slot(uint64_t *root, uint64_t va, unsigned level, uint64_t tattr)
{
	uint64_t *t = root;

	for (unsigned l = start_level();; l++) {
		uint64_t i = (va >> shift(l)) & ((1UL << index_bits(l)) - 1);

		if (l == level)
			return &t[i];
		if (!(t[i] & 1))
			t[i] = (uint64_t)(uintptr_t)new_table() | 3 | tattr;
		t = (uint64_t *)(uintptr_t)(t[i] & 0x0000fffffffff000UL & ~(gsize - 1));
	}
}

/* A page (level 3) or block (levels 1, 2) descriptor for `pa`. */
static uint64_t leaf(unsigned level, uint64_t pa, uint64_t attr)
{
	return pa | attr | (level == 3 ? 3 : 1);
}

static void map(uint64_t *root, uint64_t va, unsigned level, uint64_t pa, uint64_t attr)
{
	*slot(root, va, level, 0) = leaf(level, pa, attr);
}

/* Map [pa, pa + size) at va with level-2 blocks. */
static void map_blocks(uint64_t *root, uint64_t va, uint64_t pa, uint64_t size, uint64_t attr)
{
	uint64_t bs = 1UL << shift(2);
	uint64_t off = pa & (bs - 1);

	for (uint64_t o = 0; o < size + off; o += bs)
		map(root, va - off + o, 2, pa - off + o, attr);
}

/* ---- the virtual layout ---- */

#define W 0x80000000UL				/* the test window: pages */
#define L2_SIZE (1UL << shift(2))
#define W2 (W + L2_SIZE)			/* pages under an APTable/PXNTable */
#define BLK_NOAF (W + 2 * L2_SIZE)		/* a level-2 block with AF = 0 */
#define BLK (W + 3 * L2_SIZE)			/* a level-2 block onto the frames */
#define BLK_PA (FRAMES_PA & ~(L2_SIZE - 1))
#define HOLE_L2 (W + 4 * L2_SIZE)		/* invalid level-2 entry */
#define L1_BLOCK 0x100000000UL			/* 4 KiB only: a 1 GiB block onto RAM */
#define PAGE(i) (W + (uint64_t)(i) * gsize)	/* page i of the window */
#define HI (~0UL << vabits)			/* start of the TTBR1 range */
#define ALIAS(pa) (HI | (pa))			/* TTBR1 alias of RAM */

enum {
	P_DATA,		/* F_DATA, EL1 read/write */
	P_RO,		/* F_RO, EL1 read-only */
	P_NOAF,		/* F_NOAF, AF = 0 */
	P_HOLE,		/* invalid */
	P_DEV,		/* F_DEV, Device-nGnRnE */
	P_DEV_NGNRE,	/* F_DEV, Device-nGnRE */
	P_NC,		/* F_DATA, Normal non-cacheable */
	P_OSH,		/* F_DATA, Normal outer shareable */
	P_EXEC,		/* F_CODE, EL1 executable */
	P_PXN,		/* F_CODE, PXN */
	P_EL0_WRITABLE,	/* F_CODE, EL0 read/write, PXN = 0 (EL1 may not execute) */
	P_EL0_CODE,	/* F_EL0_CODE, EL0 and EL1 read-only, EL0 executable */
	P_EL0_XN,	/* F_EL0_CODE, EL0 read-only, UXN */
	P_EL0_DATA,	/* F_EL0_DATA, EL0 read/write */
	P_TLB,		/* F_TLB_A or F_TLB_B */
	P_ASID,		/* F_TLB_A or F_TLB_B, not global */
	P_BIG_OA,	/* output address above TCR_EL1.IPS (40 bits) */
};

extern char code_blob[], code_blob_end[], blob_ret[], blob_el0_svc[], blob_el0_load[],
	blob_el0_store[], blob_el0_br[];
extern void m_load(uint64_t), m_store(uint64_t), m_call(uint64_t), m_dczva(uint64_t);
extern char x_m_load[], x_m_store[], x_m_call[], x_m_dczva[];
extern void m_pan_load(uint64_t), m_pan_store(uint64_t), m_pan_ldtr(uint64_t), m_pan_read(uint64_t);
extern char x_m_pan_load[], x_m_pan_store[];
extern uint64_t alias_probe(void);

#define A(p) ((uint64_t)(uintptr_t)(p))
#define BLOB(label) (A(label) - A(code_blob))

/* Written by the snippets in cases.S. */
uint64_t t_result;

static void build_tables(void)
{
	uint64_t page_xn = NORMAL | XN;

	pool_next = POOL_PA;
	root0 = new_table();
	root1 = new_table();

	/* Identity: RAM (EL1 read/write/execute) and the UART (Device). */
	map_blocks(root0, RAM_PA, RAM_PA, RAM_SIZE, NORMAL | D_UXN);
	map_blocks(root0, UART_PA, UART_PA, 0x1000, DEVICE | XN);
	/* The high alias of RAM through TTBR1. */
	map_blocks(root1, ALIAS(RAM_PA), RAM_PA, RAM_SIZE, NORMAL | D_UXN);

	map(root0, PAGE(P_DATA), 3, FRAME(F_DATA), page_xn);
	map(root0, PAGE(P_RO), 3, FRAME(F_RO), page_xn | D_AP_EL1_RO);
	map(root0, PAGE(P_NOAF), 3, FRAME(F_NOAF), page_xn & ~D_AF);
	map(root0, PAGE(P_DEV), 3, FRAME(F_DEV), DEVICE | XN);
	map(root0, PAGE(P_DEV_NGNRE), 3, FRAME(F_DEV), D_ATTR(MT_DEVICE_NGNRE) | D_AF | XN);
	map(root0, PAGE(P_NC), 3, FRAME(F_DATA), D_ATTR(MT_NORMAL_NC) | D_SH_INNER | D_AF | XN);
	map(root0, PAGE(P_OSH), 3, FRAME(F_DATA), D_ATTR(MT_NORMAL) | D_SH_OUTER | D_AF | XN);
	map(root0, PAGE(P_EXEC), 3, FRAME(F_CODE), NORMAL | D_UXN);
	map(root0, PAGE(P_PXN), 3, FRAME(F_CODE), NORMAL | D_UXN | D_PXN);
	map(root0, PAGE(P_EL0_WRITABLE), 3, FRAME(F_CODE), NORMAL | D_AP_ALL_RW | D_UXN);
	map(root0, PAGE(P_EL0_CODE), 3, FRAME(F_EL0_CODE), NORMAL | D_AP_ALL_RO | D_PXN);
	map(root0, PAGE(P_EL0_XN), 3, FRAME(F_EL0_CODE), NORMAL | D_AP_ALL_RO | XN);
	map(root0, PAGE(P_EL0_DATA), 3, FRAME(F_EL0_DATA), NORMAL | D_AP_ALL_RW | XN);
	map(root0, PAGE(P_TLB), 3, FRAME(F_TLB_A), page_xn);
	map(root0, PAGE(P_ASID), 3, FRAME(F_TLB_A), page_xn | D_NG);
	map(root0, PAGE(P_BIG_OA), 3, 1UL << 41, page_xn);

	/* W2: an executable, writable page under a table descriptor that
	 * takes away write and EL1 execute permission. */
	*slot(root0, W2, 3, T_AP_RO | T_PXN) = leaf(3, FRAME(F_CODE), NORMAL | D_UXN);

	map(root0, BLK_NOAF, 2, BLK_PA, (NORMAL | XN) & ~D_AF);
	map(root0, BLK, 2, BLK_PA, NORMAL | XN);
	if (gbits == 12)
		map(root0, L1_BLOCK, 1, RAM_PA, NORMAL | XN);
}

static volatile uint64_t *pte(unsigned page)
{
	return slot(root0, PAGE(page), 3, 0);
}

/* ---- exceptions ---- */

static volatile struct {
	unsigned taken;
	uint64_t esr, far, elr, spsr, vector, x0, x1;
} rec;
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
	exc_unwind(f);
}

static void run(void (*fn)(uint64_t), uint64_t arg)
{
	rec.taken = 0;
	rec.esr = rec.far = rec.elr = rec.spsr = rec.vector = rec.x0 = rec.x1 = 0;
	t_result = 0;
	unwound = exc_try(fn, arg);
}

#define EL0_SPSR (SPSR_DAIF | SPSR_M_EL0T)

static struct {
	uint64_t pc, x0;
} el0_args;

static void el0_go(uint64_t unused)
{
	(void)unused;
	el0_enter(el0_args.pc, PAGE(P_EL0_DATA) + gsize - 64, EL0_SPSR, el0_args.x0);
}

/* Run the EL0 blob entry at `off` (from the EL0 code page) with x0 = arg. */
static void run_el0(uint64_t off, uint64_t arg)
{
	el0_args.pc = PAGE(P_EL0_CODE) + off;
	el0_args.x0 = arg;
	run(el0_go, 0);
}

#define ESR(ec, iss) (((uint64_t)(ec) << 26) | ESR_IL | (iss))
#define ALL 0xffffffffUL
/* Aborts: EC, IL, FnV, CM, S1PTW, WnR, xFSC (not ISV & co., nor EA). */
#define ABORT_MASK 0xfe0005ffUL
#define WNR 0x40
/* SPSR: M and DAIF (the exceptions firmware checks the rest). */
#define SPSR_MASK 0x3cfUL

/* Fault status codes. */
#define FSC_ADDR_SIZE(l) (0x00 + (l))
#define FSC_XLAT(l) (0x04 + (l))
#define FSC_AF(l) (0x08 + (l))
#define FSC_PERM(l) (0x0c + (l))
#define FSC_ALIGN 0x21

static void expect(uint64_t esr, uint64_t mask, uint64_t elr, uint64_t vector, uint64_t spsr,
		   uint64_t spsr_mask)
{
	check_eq("exceptions", 1, rec.taken);
	check_eq("ESR_EL1", esr & mask, rec.esr & mask);
	check_eq("ELR_EL1", elr, rec.elr);
	check_eq("vector", vector, rec.vector);
	check_eq("SPSR_EL1", spsr & spsr_mask, rec.spsr & spsr_mask);
}

static void expect_none(void)
{
	check_eq("exceptions", 0, rec.taken);
	check_eq("ESR_EL1 (none expected)", 0, rec.esr);
}

/* An EL1 data abort at `va` by the instruction at `insn`. */
static void expect_dabt(uint64_t insn, uint64_t va, uint64_t iss)
{
	expect(ESR(EC_DABT_CUR, iss), ABORT_MASK, insn, VEC_CUR_SPX, SPSR_DAIF | SPSR_M_EL1H,
	       SPSR_MASK);
	check_eq("FAR_EL1", va, rec.far);
}

/* An EL1 instruction abort at `va`. */
static void expect_iabt(uint64_t va, uint64_t fsc)
{
	expect(ESR(EC_IABT_CUR, fsc), ABORT_MASK, va, VEC_CUR_SPX, SPSR_DAIF | SPSR_M_EL1H,
	       SPSR_MASK);
	check_eq("FAR_EL1", va, rec.far);
}

static void expect_el0(uint64_t esr, uint64_t mask, uint64_t elr)
{
	expect(esr, mask, elr, VEC_LOWER_A64, EL0_SPSR, SPSR_MASK);
}

/* A load from `va` faults with data fault status `fsc`. */
static void load_faults(const char *name, uint64_t va, uint64_t fsc)
{
	check_begin(name);
	run(m_load, va);
	expect_dabt(A(x_m_load), va, fsc);
	check_end();
}

/* A load from `va` succeeds and reads `want`. */
static void load_reads(const char *name, uint64_t va, uint64_t want)
{
	check_begin(name);
	run(m_load, va);
	expect_none();
	check_eq("value", want, t_result);
	check_end();
}

/* ---- helpers ---- */

static void isb(void)
{
	__asm__ volatile("isb" : : : "memory");
}

static void tlbi_all(void)
{
	__asm__ volatile("dsb ishst\n\ttlbi vmalle1\n\tdsb ish\n\tisb" : : : "memory");
}

static void set_pte(volatile uint64_t *p, uint64_t v)
{
	*p = v;
	__asm__ volatile("dsb ishst" : : : "memory");
}

static uint64_t read64(uint64_t va)
{
	return *(volatile uint64_t *)(uintptr_t)va;
}

static void write64(uint64_t va, uint64_t v)
{
	*(volatile uint64_t *)(uintptr_t)va = v;
}

/* The byte at offset i of F_DATA (F_RO: pattern ^ 0xff). */
static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 7 + 3);
}

/* Little-endian 8 bytes of F_DATA's pattern starting at byte i. */
static uint64_t pattern64(uint64_t i)
{
	uint64_t v = 0;

	for (unsigned b = 0; b < 8; b++)
		v |= (uint64_t)pattern(i + b) << (8 * b);
	return v;
}

/* Fill the frames; MMU off, so aligned 8-byte stores only. */
static void init_frames(void)
{
	for (uint64_t i = 0; i < 0x10000; i += 8) {
		write64(FRAME(F_DATA) + i, pattern64(i));
		write64(FRAME(F_RO) + i, ~pattern64(i));
		write64(FRAME(F_NOAF) + i, 0);
		write64(FRAME(F_DEV) + i, pattern64(i));
		write64(FRAME(F_EL0_DATA) + i, 0);
		write64(FRAME(F_TLB_A) + i, VAL_A);
		write64(FRAME(F_TLB_B) + i, VAL_B);
	}
	/* The code blob, for EL1 and EL0, then make it visible to fetches. */
	for (uint64_t i = 0; i < A(code_blob_end) - A(code_blob); i += 4) {
		uint32_t insn = *(volatile uint32_t *)(uintptr_t)(A(code_blob) + i);

		*(volatile uint32_t *)(uintptr_t)(FRAME(F_CODE) + i) = insn;
		*(volatile uint32_t *)(uintptr_t)(FRAME(F_EL0_CODE) + i) = insn;
	}
	__asm__ volatile("dsb ish\n\tic iallu\n\tdsb ish\n\tisb" : : : "memory");
}

/* AT <op>, va: the PAR_EL1 it produces. */
#define AT(op, va)                                                              \
	({                                                                      \
		__asm__ volatile("at " op ", %0\n\tisb" : : "r"(va) : "memory"); \
		read_sysreg(par_el1);                                           \
	})

/*
 * A successful AT: PA, ATTR (the MAIR byte) and SH. For Device and Normal
 * non-cacheable memory SH reads 0b10 whatever the descriptor says
 * (desc_sh); QEMU 7.2 returns the descriptor's value there.
 */
static void check_par_sh(uint64_t par, uint64_t pa, uint64_t attr, uint64_t sh, uint64_t desc_sh)
{
	check_eq("PAR_EL1.F", 0, par & 1);
	check_eq("PAR_EL1.PA", pa & 0x0000fffffffff000UL, par & 0x0000fffffffff000UL);
	check_eq("PAR_EL1.ATTR", attr, par >> 56);
	if (sh != desc_sh && ((par >> 7) & 3) == desc_sh)
		check_deviation("PAR_EL1.SH is the descriptor's SH, not 0b10 "
				"(QEMU 7.2 ignores the memory type there)");
	else
		check_eq("PAR_EL1.SH", sh, (par >> 7) & 3);
}

static void check_par_ok(uint64_t par, uint64_t pa, uint64_t attr, uint64_t sh)
{
	check_par_sh(par, pa, attr, sh, sh);
}

/* A failed AT: F = 1, FST, PTW = 0, S = 0 (stage 1). */
static void check_par_fault(uint64_t par, uint64_t fst)
{
	check_eq("PAR_EL1[9:0] (F, FST, PTW, S)", 1 | (fst << 1), par & 0x3ff);
}

/* ---- the cases ---- */

static void translation_cases(void)
{
	unsigned sl = start_level();

	load_reads("page-read", PAGE(P_DATA) + 0x108, pattern64(0x108));
	load_reads("alias-read", ALIAS(FRAME(F_DATA)) + 0x210, pattern64(0x210));

	check_begin("alias-write");
	write64(ALIAS(FRAME(F_TLB_A)) + 0x800, 0x5a5a5a5a12345678UL);
	check_eq("value through the identity map", 0x5a5a5a5a12345678UL,
		 read64(FRAME(F_TLB_A) + 0x800));
	write64(FRAME(F_TLB_A) + 0x800, VAL_A);
	check_end();

	check_begin("alias-exec");	/* code runs at the alias address */
	run(m_call, ALIAS(A(alias_probe)));
	expect_none();
	check_eq("PC of the code run", ALIAS(A(alias_probe)), t_result);
	check_end();

	load_reads("block-read", BLK + (FRAME(F_DATA) - BLK_PA) + 0x18, pattern64(0x18));
	if (gbits == 12)
		load_reads("l1-block-read", L1_BLOCK + (FRAME(F_DATA) - RAM_PA) + 0x20, pattern64(0x20));

	load_faults("xlat-fault-l3", PAGE(P_HOLE) + 0x10, FSC_XLAT(3));
	load_faults("xlat-fault-l2", HOLE_L2 + 0x10, FSC_XLAT(2));
	load_faults("xlat-fault-start-level", 1UL << (vabits - 1), FSC_XLAT(sl));
	load_faults("xlat-fault-ttbr1", ~0UL - 7, FSC_XLAT(sl));
	/* Above the TTBR0 range and below the TTBR1 range: level 0. */
	load_faults("xlat-fault-out-of-range", 1UL << vabits, FSC_XLAT(0));

	load_faults("af-fault-page", PAGE(P_NOAF) + 8, FSC_AF(3));
	load_faults("af-fault-block", BLK_NOAF + 0x40, FSC_AF(2));

	/* An output address beyond TCR_EL1.IPS (40 bits) is an address size
	 * fault at the level of the descriptor. */
	load_faults("address-size-fault", PAGE(P_BIG_OA), FSC_ADDR_SIZE(3));

	/* An invalid entry is never cached: making it valid needs no TLBI. */
	check_begin("invalid-to-valid");
	run(m_load, PAGE(P_HOLE));
	check_eq("exceptions (first)", 1, rec.taken);
	set_pte(pte(P_HOLE), leaf(3, FRAME(F_DATA), NORMAL | XN));
	isb();
	run(m_load, PAGE(P_HOLE) + 0x30);
	expect_none();
	check_eq("value", pattern64(0x30), t_result);
	set_pte(pte(P_HOLE), 0);
	tlbi_all();
	check_end();

	/* TCR_EL1.EPD1 = 1: no walks through TTBR1 (level 0 fault). */
	check_begin("epd1");
	write_sysreg(tcr_el1, tcr | TCR_EPD1);
	isb();
	tlbi_all();
	run(m_load, ALIAS(FRAME(F_DATA)));
	write_sysreg(tcr_el1, tcr);
	isb();
	tlbi_all();
	expect_dabt(A(x_m_load), ALIAS(FRAME(F_DATA)), FSC_XLAT(0));
	check_end();

	/* TCR_EL1.TBI0: the top byte of a TTBR0 data address is ignored. */
	check_begin("tbi0");
	write_sysreg(tcr_el1, tcr | TCR_TBI0);
	isb();
	tlbi_all();
	run(m_load, (0x5aUL << 56) | (PAGE(P_DATA) + 0x48));
	write_sysreg(tcr_el1, tcr);
	isb();
	tlbi_all();
	expect_none();
	check_eq("value", pattern64(0x48), t_result);
	check_end();

	load_faults("tbi0-off", (0x5aUL << 56) | PAGE(P_DATA), FSC_XLAT(0));
}

static void permission_cases(void)
{
	load_reads("read-only-read", PAGE(P_RO) + 0x10, ~pattern64(0x10));

	check_begin("perm-fault-write-read-only");
	run(m_store, PAGE(P_RO) + 0x18);
	expect_dabt(A(x_m_store), PAGE(P_RO) + 0x18, WNR | FSC_PERM(3));
	check_end();

	/* APTable[1] = 1 above a writable page. */
	load_reads("aptable-read", W2, 0xd4000841d65f03c0UL);	/* ret; svc #0x42 */
	check_begin("aptable-perm-fault-write");
	run(m_store, W2 + 0x20);
	expect_dabt(A(x_m_store), W2 + 0x20, WNR | FSC_PERM(3));
	check_end();

	check_begin("exec");
	run(m_call, PAGE(P_EXEC) + BLOB(blob_ret));
	expect_none();
	check_end();

	check_begin("pxn-fault");
	run(m_call, PAGE(P_PXN) + BLOB(blob_ret));
	expect_iabt(PAGE(P_PXN) + BLOB(blob_ret), FSC_PERM(3));
	check_end();

	check_begin("pxntable-fault");
	run(m_call, W2 + BLOB(blob_ret));
	expect_iabt(W2 + BLOB(blob_ret), FSC_PERM(3));
	check_end();

	/* EL1 never executes memory that EL0 may write. */
	check_begin("el0-writable-not-el1-executable");
	run(m_call, PAGE(P_EL0_WRITABLE) + BLOB(blob_ret));
	expect_iabt(PAGE(P_EL0_WRITABLE) + BLOB(blob_ret), FSC_PERM(3));
	check_end();

	check_begin("iabt-xlat-fault");
	run(m_call, PAGE(P_HOLE) + 0x40);
	expect_iabt(PAGE(P_HOLE) + 0x40, FSC_XLAT(3));
	check_end();

	check_begin("el0-svc");
	run_el0(BLOB(blob_el0_svc), 0);
	expect_el0(ESR(EC_SVC64, 0x42), ALL, PAGE(P_EL0_CODE) + BLOB(blob_el0_svc) + 4);
	check_end();

	check_begin("el0-perm-fault-el1-page");
	run_el0(BLOB(blob_el0_load), PAGE(P_DATA) + 8);
	expect_el0(ESR(EC_DABT_LOWER, FSC_PERM(3)), ABORT_MASK,
		   PAGE(P_EL0_CODE) + BLOB(blob_el0_load));
	check_eq("FAR_EL1", PAGE(P_DATA) + 8, rec.far);
	check_end();

	check_begin("el0-perm-fault-write-read-only");
	run_el0(BLOB(blob_el0_store), PAGE(P_EL0_CODE) + 0x100);
	expect_el0(ESR(EC_DABT_LOWER, WNR | FSC_PERM(3)), ABORT_MASK,
		   PAGE(P_EL0_CODE) + BLOB(blob_el0_store));
	check_eq("FAR_EL1", PAGE(P_EL0_CODE) + 0x100, rec.far);
	check_end();

	check_begin("el0-read-write");
	run_el0(BLOB(blob_el0_store), PAGE(P_EL0_DATA) + 0x80);
	expect_el0(ESR(EC_SVC64, 2), ALL, PAGE(P_EL0_CODE) + BLOB(blob_el0_store) + 8);
	check_eq("stored value", PAGE(P_EL0_DATA) + 0x80, read64(FRAME(F_EL0_DATA) + 0x80));
	run_el0(BLOB(blob_el0_load), PAGE(P_EL0_DATA) + 0x80);
	expect_el0(ESR(EC_SVC64, 1), ALL, PAGE(P_EL0_CODE) + BLOB(blob_el0_load) + 8);
	check_eq("loaded value", PAGE(P_EL0_DATA) + 0x80, rec.x1);
	check_end();

	check_begin("el0-uxn-fault");
	run_el0(BLOB(blob_el0_br), PAGE(P_EL0_XN) + BLOB(blob_el0_svc));
	expect_el0(ESR(EC_IABT_LOWER, FSC_PERM(3)), ABORT_MASK, PAGE(P_EL0_XN) + BLOB(blob_el0_svc));
	check_eq("FAR_EL1", PAGE(P_EL0_XN) + BLOB(blob_el0_svc), rec.far);
	check_end();

	/* EL0 executes only what it may read. */
	check_begin("el0-exec-fault-el1-page");
	run_el0(BLOB(blob_el0_br), PAGE(P_EXEC) + BLOB(blob_el0_svc));
	expect_el0(ESR(EC_IABT_LOWER, FSC_PERM(3)), ABORT_MASK, PAGE(P_EXEC) + BLOB(blob_el0_svc));
	check_eq("FAR_EL1", PAGE(P_EXEC) + BLOB(blob_el0_svc), rec.far);
	check_end();
}

static void alignment_cases(void)
{
	/* Normal memory: unaligned accesses work, also across pages. */
	load_reads("unaligned-normal", PAGE(P_DATA) + 0x103, pattern64(0x103));
	load_reads("unaligned-normal-cross-page", PAGE(P_DATA) + gsize - 3,
		   (pattern64(gsize - 3) & 0xffffff) | (~pattern64(0) << 24));

	check_begin("unaligned-cross-into-fault");	/* second page has AF = 0 */
	run(m_load, PAGE(P_NOAF) - 4);
	expect(ESR(EC_DABT_CUR, FSC_AF(3)), ABORT_MASK, A(x_m_load), VEC_CUR_SPX,
	       SPSR_DAIF | SPSR_M_EL1H, SPSR_MASK);
	check_end();

	load_reads("aligned-device", PAGE(P_DEV) + 0x28, pattern64(0x28));

	/* Device memory: an unaligned access is an alignment fault. */
	check_begin("unaligned-device-fault");
	run(m_load, PAGE(P_DEV) + 0x31);
	if (rec.taken == 0 && t_result == pattern64(0x31))
		check_deviation("unaligned load from Device memory did not fault "
				"(QEMU 7.2 does not check alignment by memory type)");
	else
		expect_dabt(A(x_m_load), PAGE(P_DEV) + 0x31, FSC_ALIGN);
	check_end();
}

/*
 * Change P_TLB's output address between F_TLB_A and F_TLB_B. Without TLB
 * maintenance either translation may be used (not checked); after the
 * given TLBI and DSB ISH + ISB only the new one.
 */
#define TLBI_CASE(name, insn, arg, frame, want)                                 \
	do {                                                                    \
		check_begin(name);                                              \
		set_pte(pte(P_TLB), leaf(3, FRAME(frame), NORMAL | XN));        \
		(void)read64(PAGE(P_TLB));                                      \
		__asm__ volatile(insn "\n\tdsb ish\n\tisb" : : "r"(arg) : "memory"); \
		check_eq("value", want, read64(PAGE(P_TLB)));                   \
		check_end();                                                    \
	} while (0)

static void tlb_cases(void)
{
	uint64_t va = PAGE(P_TLB) >> 12;

	check_begin("tlb-first-read");
	check_eq("value", VAL_A, read64(PAGE(P_TLB)));
	check_end();
	TLBI_CASE("tlbi-vmalle1", "tlbi vmalle1 // %0", 0UL, F_TLB_B, VAL_B);
	TLBI_CASE("tlbi-vae1", "tlbi vae1, %0", va, F_TLB_A, VAL_A);
	TLBI_CASE("tlbi-vale1", "tlbi vale1, %0", va, F_TLB_B, VAL_B);
	TLBI_CASE("tlbi-vaae1", "tlbi vaae1, %0", va, F_TLB_A, VAL_A);
	TLBI_CASE("tlbi-vmalle1is", "tlbi vmalle1is // %0", 0UL, F_TLB_B, VAL_B);
	TLBI_CASE("tlbi-vae1is", "tlbi vae1is, %0", va, F_TLB_A, VAL_A);

	/* Break: the stale mapping is gone after the TLBI. */
	check_begin("tlbi-unmap");
	set_pte(pte(P_TLB), 0);
	__asm__ volatile("tlbi vae1, %0\n\tdsb ish\n\tisb" : : "r"(va) : "memory");
	run(m_load, PAGE(P_TLB));
	expect_dabt(A(x_m_load), PAGE(P_TLB), FSC_XLAT(3));
	set_pte(pte(P_TLB), leaf(3, FRAME(F_TLB_A), NORMAL | XN));
	check_end();

	/*
	 * ASIDs: a non-global translation cached for ASID 1 does not serve
	 * ASID 2; returning to ASID 1 may find it again until TLBI ASIDE1.
	 */
	check_begin("asid");
	uint64_t ttbr0 = read_sysreg(ttbr0_el1) & 0x0000ffffffffffffUL;

	write_sysreg(ttbr0_el1, ttbr0 | (1UL << 48));
	isb();
	check_eq("value with ASID 1", VAL_A, read64(PAGE(P_ASID)));
	set_pte(pte(P_ASID), leaf(3, FRAME(F_TLB_B), NORMAL | XN | D_NG));
	write_sysreg(ttbr0_el1, ttbr0 | (2UL << 48));
	isb();
	check_eq("value with ASID 2", VAL_B, read64(PAGE(P_ASID)));
	write_sysreg(ttbr0_el1, ttbr0 | (1UL << 48));
	isb();
	(void)read64(PAGE(P_ASID));
	__asm__ volatile("tlbi aside1, %0\n\tdsb ish\n\tisb" : : "r"(1UL << 48) : "memory");
	check_eq("value with ASID 1 after TLBI ASIDE1", VAL_B, read64(PAGE(P_ASID)));
	write_sysreg(ttbr0_el1, ttbr0);
	isb();
	set_pte(pte(P_ASID), leaf(3, FRAME(F_TLB_A), NORMAL | XN | D_NG));
	tlbi_all();
	check_end();
}

static void at_cases(void)
{
	unsigned sl = start_level();

	check_begin("at-s1e1r");
	check_par_ok(AT("s1e1r", PAGE(P_DATA) + 0x123), FRAME(F_DATA), 0xff, 3);
	check_end();

	check_begin("at-s1e1r-block");
	check_par_ok(AT("s1e1r", BLK + (FRAME(F_EL0_DATA) - BLK_PA) + 0x1010), FRAME(F_EL0_DATA) + 0x1010,
		     0xff, 3);
	check_end();

	check_begin("at-s1e1r-alias");
	check_par_ok(AT("s1e1r", ALIAS(FRAME(F_RO)) + 0x2345), FRAME(F_RO) + 0x2345, 0xff, 3);
	check_end();

	check_begin("at-s1e1w-read-only");
	check_par_fault(AT("s1e1w", PAGE(P_RO)), FSC_PERM(3));
	check_end();

	check_begin("at-s1e1r-xlat-fault");
	check_par_fault(AT("s1e1r", PAGE(P_HOLE)), FSC_XLAT(3));
	check_end();

	check_begin("at-s1e1r-xlat-fault-start-level");
	check_par_fault(AT("s1e1r", 1UL << (vabits - 1)), FSC_XLAT(sl));
	check_end();

	check_begin("at-s1e1r-af-fault");
	check_par_fault(AT("s1e1r", PAGE(P_NOAF)), FSC_AF(3));
	check_end();

	check_begin("at-s1e0r-el1-page");
	check_par_fault(AT("s1e0r", PAGE(P_DATA)), FSC_PERM(3));
	check_end();

	check_begin("at-s1e0w-el0-page");
	check_par_ok(AT("s1e0w", PAGE(P_EL0_DATA) + 0x40), FRAME(F_EL0_DATA), 0xff, 3);
	check_end();

	/* PAR_EL1.ATTR is the MAIR byte; SH is 0b10 for Device and Normal
	 * non-cacheable memory, else the descriptor's SH. */
	check_begin("at-device-ngnrne");
	check_par_sh(AT("s1e1r", PAGE(P_DEV)), FRAME(F_DEV), 0x00, 2, 0);
	check_end();

	check_begin("at-device-ngnre");
	check_par_sh(AT("s1e1r", PAGE(P_DEV_NGNRE)), FRAME(F_DEV), 0x04, 2, 0);
	check_end();

	check_begin("at-normal-nc");
	check_par_sh(AT("s1e1r", PAGE(P_NC)), FRAME(F_DATA), 0x44, 2, 3);
	check_end();

	check_begin("at-normal-outer-shareable");
	check_par_ok(AT("s1e1r", PAGE(P_OSH)), FRAME(F_DATA), 0xff, 2);
	check_end();
}

static void dczva_cases(void)
{
	uint64_t dczid = read_sysreg(dczid_el0);
	uint64_t bs = 4UL << (dczid & 0xf);	/* bytes */
	uint64_t off = 0x400;			/* block under test, in F_DATA */
	int bad = 0;

	check_begin("dczid");
	check_eq("DCZID_EL0.DZP at EL1", 0, dczid & 0x10);
	check_end();

	/* Zeroes exactly the naturally aligned block holding the address. */
	check_begin("dczva");
	run(m_dczva, PAGE(P_DATA) + off + 0x13);
	expect_none();
	for (uint64_t i = off - 64; i < off + bs + 64; i += 8) {
		uint64_t want = i >= off && i < off + bs ? 0 : pattern64(i);

		if (read64(FRAME(F_DATA) + i) != want && !bad) {
			check_eq("memory word at block offset", want, read64(FRAME(F_DATA) + i));
			bad = 1;
		}
	}
	for (uint64_t i = off; i < off + bs; i += 8)
		write64(FRAME(F_DATA) + i, pattern64(i));
	check_end();

	check_begin("dczva-perm-fault");
	run(m_dczva, PAGE(P_RO) + 0x80);
	expect(ESR(EC_DABT_CUR, WNR | FSC_PERM(3)), ABORT_MASK, A(x_m_dczva), VEC_CUR_SPX,
	       SPSR_DAIF | SPSR_M_EL1H, SPSR_MASK);
	check_end();

	check_begin("dczva-xlat-fault");
	run(m_dczva, PAGE(P_HOLE) + 0x80);
	expect(ESR(EC_DABT_CUR, WNR | FSC_XLAT(3)), ABORT_MASK, A(x_m_dczva), VEC_CUR_SPX,
	       SPSR_DAIF | SPSR_M_EL1H, SPSR_MASK);
	check_end();

	/* DC ZVA to any type of Device memory is an alignment fault. */
	check_begin("dczva-device-fault");
	run(m_dczva, PAGE(P_DEV) + 0x80);
	if (rec.taken == 0 && read64(FRAME(F_DEV) + 0x80) == 0) {
		check_deviation("DC ZVA zeroed Device memory "
				"(QEMU 7.2 does not check the memory type)");
		for (uint64_t i = 0; i < bs; i += 8)
			write64(FRAME(F_DEV) + (0x80 & ~(bs - 1)) + i,
				pattern64((0x80 & ~(bs - 1)) + i));
	} else {
		expect(ESR(EC_DABT_CUR, WNR | FSC_ALIGN), ABORT_MASK, A(x_m_dczva), VEC_CUR_SPX,
		       SPSR_DAIF | SPSR_M_EL1H, SPSR_MASK);
	}
	check_end();
}

static void mmu_on(void)
{
	uint64_t tg0 = gbits == 12 ? 0 : gbits == 16 ? 1 : 2;
	uint64_t tg1 = gbits == 12 ? 2 : gbits == 16 ? 3 : 1;
	uint64_t tsz = 64 - vabits;

	/* Write-back write-allocate inner shareable walks; 40-bit IPS. */
	tcr = tsz | (1UL << 8) | (1UL << 10) | (3UL << 12) | (tg0 << 14) |
	      (tsz << 16) | (1UL << 24) | (1UL << 26) | (3UL << 28) | (tg1 << 30) | TCR_IPS_40;
	write_sysreg(mair_el1, MAIR_VALUE);
	write_sysreg(tcr_el1, tcr);
	write_sysreg(ttbr0_el1, A(root0));
	write_sysreg(ttbr1_el1, A(root1));
	isb();
	tlbi_all();
	write_sysreg(sctlr_el1, read_sysreg(sctlr_el1) | SCTLR_M | SCTLR_C | SCTLR_I);
	isb();
}

static void mmu_off(void)
{
	write_sysreg(sctlr_el1, read_sysreg(sctlr_el1) & ~(SCTLR_M | SCTLR_C | SCTLR_I));
	isb();
	tlbi_all();
}

static char prefix[16];

static void run_config(unsigned g, unsigned va)
{
	const char *gname = g == 12 ? "4k" : g == 14 ? "16k" : "64k";
	unsigned n = 0;

	gbits = g;
	vabits = va;
	gsize = 1UL << g;
	while (gname[n]) {
		prefix[n] = gname[n];
		n++;
	}
	prefix[n++] = '/';
	prefix[n++] = (char)('0' + va / 10);
	prefix[n++] = (char)('0' + va % 10);
	prefix[n++] = ' ';
	prefix[n] = 0;
	check_prefix(prefix);

	/* ID_AA64MMFR0_EL1.TGran4 (31:28) and TGran64 (27:24): 0xf = not
	 * implemented; TGran16 (23:20): 0 = not implemented. */
	uint64_t mmfr0 = read_sysreg(id_aa64mmfr0_el1);
	int have = g == 12 ? ((mmfr0 >> 28) & 0xf) != 0xf :
		   g == 14 ? ((mmfr0 >> 20) & 0xf) != 0 : ((mmfr0 >> 24) & 0xf) != 0xf;
	if (!have) {
		uart_puts("skip ");
		uart_puts(prefix);
		uart_puts("(granule not implemented: ID_AA64MMFR0_EL1 ");
		print_hex(mmfr0);
		uart_puts(")\n");
		return;
	}

	build_tables();
	mmu_on();
	check_begin("mmu-on");
	check_eq("SCTLR_EL1.M", 1, read_sysreg(sctlr_el1) & SCTLR_M);
	check_end();
	translation_cases();
	permission_cases();
	alignment_cases();
	tlb_cases();
	at_cases();
	dczva_cases();
	mmu_off();
}

/*
 * PAN (FEAT_PAN, v8.1), after every granule configuration, with 4k/39
 * tables: with PSTATE.PAN set, EL1 loads and stores to a page EL0 can
 * access are permission faults; LDTR and EL1-only pages are unaffected.
 * Lines are prefixed `pan `; a core without PAN prints `skip pan (...)`.
 */
static void pan_cases(void)
{
	uint64_t mmfr1 = read_sysreg(id_aa64mmfr1_el1);

	check_prefix("pan ");
	if (((mmfr1 >> 20) & 0xf) == 0) {
		uart_puts("skip pan (PAN not implemented: ID_AA64MMFR1_EL1 ");
		print_hex(mmfr1);
		uart_puts(")\n");
		return;
	}
	gbits = 12;
	vabits = 39;
	gsize = 1UL << 12;
	build_tables();
	mmu_on();
	uint64_t va = PAGE(P_EL0_DATA) + 0x20;

	check_begin("el0-page-read-pan0");	/* PAN clear: EL1 may */
	write64(va, 0x5a5a0000a5a5UL);
	run(m_load, va);
	expect_none();
	check_eq("value", 0x5a5a0000a5a5UL, t_result);
	check_end();

	check_begin("mrs-pan");
	run(m_pan_read, 0);
	expect_none();
	check_eq("PAN", 1UL << 22, t_result);
	check_eq("PAN after MSR PAN, #0", 0, read_sysreg(s3_0_c4_c2_3));
	check_end();

	check_begin("el0-page-read-fault");	/* permission fault, level 3 */
	run(m_pan_load, va);
	expect_dabt(A(x_m_pan_load), va, FSC_PERM(3));
	check_end();

	check_begin("el0-page-write-fault");
	run(m_pan_store, va + 8);
	expect_dabt(A(x_m_pan_store), va + 8, WNR | FSC_PERM(3));
	check_end();

	check_begin("el0-page-ldtr");	/* unprivileged: allowed */
	run(m_pan_ldtr, va);
	expect_none();
	check_eq("value", 0x5a5a0000a5a5UL, t_result);
	check_end();

	check_begin("el1-page-read");	/* EL1-only page: PAN does not apply */
	run(m_pan_load, PAGE(P_RO) + 0x10);
	expect_none();
	check_eq("value", ~pattern64(0x10), t_result);
	check_end();

	mmu_off();
}

int fw_main(uint64_t x0)
{
	static const unsigned granules[] = { 12, 14, 16 };
	static const unsigned vas[] = { 39, 42, 48 };

	(void)x0;
	uart_puts("Preboard MMU firmware\n");
	if (current_el() != 1) {
		uart_puts("these tests need to start at EL1; entered at EL");
		print_dec(current_el());
		uart_puts("\n");
		return 1;
	}
	exc_install(handler);
	init_frames();
	for (unsigned g = 0; g < 3; g++)
		for (unsigned v = 0; v < 3; v++)
			run_config(granules[g], vas[v]);
	pan_cases();
	exc_install(0);
	check_prefix("");
	uart_puts("done: ");
	print_dec(check_failures());
	uart_puts(" failed\n");
	return (int)check_failures();
}
