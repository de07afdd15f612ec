/*
 * SMP bring-up through PSCI: boots at EL1 on virt with several cores
 * (`-smp 4`), finds the PSCI conduit (the /psci `method`) and the cores
 * (the /cpus/cpu@N `reg` values) in the device tree, asks the PSCI and
 * SMCCC versions, starts every secondary core with CPU_ON at
 * secondary_entry with a context id -- each reports its MPIDR and context
 * id and prints a line under a LDAXR/STLXR spinlock, then CPU_OFF --,
 * checks AFFINITY_INFO, ALREADY_ON and INVALID_PARAMETERS, runs all
 * secondaries at once contending for the lock, and finally powers the
 * machine off with SYSTEM_OFF (exit code 0) when every case passed, or
 * exits through semihosting with the number of failures. README.md lists
 * the cases.
 */
#include <stdint.h>

#include "arch.h"
#include "board.h"
#include "check.h"
#include "fdt.h"
#include "print.h"
#include "uart.h"

#define A(p) ((uint64_t)(uintptr_t)(p))

/* PSCI and SMCCC function ids (SMC32 forms but CPU_ON/AFFINITY_INFO: SMC64). */
#define PSCI_VERSION 0x84000000UL
#define PSCI_CPU_OFF 0x84000002UL
#define PSCI_CPU_ON 0xc4000003UL
#define PSCI_AFFINITY_INFO 0xc4000004UL
#define PSCI_SYSTEM_OFF 0x84000008UL
#define PSCI_FEATURES 0x8400000aUL
#define SMCCC_VERSION 0x80000000UL
#define SMCCC_ARCH_FEATURES 0x80000001UL
#define SMCCC_ARCH_WORKAROUND_1 0x80008000UL

#define PSCI_SUCCESS 0
#define PSCI_NOT_SUPPORTED (-1)
#define PSCI_INVALID_PARAMETERS (-2)
#define PSCI_ALREADY_ON (-4)
#define AFF_ON 0
#define AFF_OFF 1

#define MAX_CPUS 8
#define MPIDR_AFF_MASK 0xff00ffffffUL

uint64_t smccc_hvc(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3);
uint64_t smccc_smc(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3);
void spin_lock(volatile uint32_t *lock);
void spin_unlock(volatile uint32_t *lock);
uint32_t atomic_inc(volatile uint32_t *p);
extern char secondary_entry[];
void secondary_main(uint64_t context);

static uint64_t (*conduit)(uint64_t, uint64_t, uint64_t, uint64_t);

static int64_t psci(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3)
{
	return (int64_t)conduit(fn, a1, a2, a3);
}

/* 32-bit results (SMC32 calls) as signed values. */
static int64_t psci32(uint64_t fn, uint64_t a1)
{
	return (int32_t)(uint32_t)conduit(fn, a1, 0, 0);
}

/* The cores of the device tree. */
static uint64_t cpu_reg[MAX_CPUS];
static unsigned ncpus;

static int read_dt(uint64_t x0)
{
	struct fdt f;
	struct fdt_iter it;
	struct fdt_item item;
	struct fdt_error err;
	uintptr_t dtb = fdt_has_magic(x0) ? x0 : BOARD_RAM_BASE;
	int in_psci = 0, in_cpus = 0, in_cpu = 0;
	uint32_t cpu_cells = 1;

	if (!fdt_has_magic(dtb) || !fdt_open(&f, dtb, &err))
		return 0;
	fdt_iter_init(&it);
	while (fdt_next(&f, &it, &item, &err) && item.type != FDT_END) {
		if (item.type == FDT_BEGIN_NODE) {
			if (item.depth == 2) {
				in_psci = fdt_streq(item.name, "psci") || fdt_starts_with(item.name, "psci@");
				in_cpus = fdt_streq(item.name, "cpus");
			}
			in_cpu = in_cpus && item.depth == 3 && fdt_starts_with(item.name, "cpu@");
		} else if (item.type == FDT_END_NODE) {
			if (item.depth == 2)
				in_psci = in_cpus = 0;
			if (item.depth == 3)
				in_cpu = 0;
		} else if (item.type == FDT_PROP) {
			if (in_psci && item.depth == 2 && fdt_streq(item.name, "method")) {
				if (fdt_prop_is(&item, "hvc"))
					conduit = smccc_hvc;
				else if (fdt_prop_is(&item, "smc"))
					conduit = smccc_smc;
			} else if (in_cpus && item.depth == 2 && fdt_streq(item.name, "#address-cells") &&
				   item.len == 4) {
				cpu_cells = fdt_be32(item.value);
			} else if (in_cpu && item.depth == 3 && fdt_streq(item.name, "reg") &&
				   (cpu_cells == 1 || cpu_cells == 2) && item.len >= 4 * cpu_cells &&
				   ncpus < MAX_CPUS) {
				cpu_reg[ncpus++] = fdt_read_cells(item.value, cpu_cells);
			}
		}
	}
	return 1;
}

/* Shared with the secondaries. */
static volatile struct {
	uint64_t mpidr, context, el, cpu_off_ret, runs;
} slot[MAX_CPUS];
static volatile uint32_t print_lock, arrived, phase;
static volatile uint32_t locked_count, atomic_count;
#define CONTENTION_ROUNDS 1000
#define CONTEXT(i) (0xc0de0000UL | (i))

void secondary_main(uint64_t context)
{
	unsigned i = context & 0xff;

	slot[i].mpidr = read_sysreg(mpidr_el1);
	slot[i].context = context;
	slot[i].el = current_el();
	slot[i].runs++;
	if (phase == 1) {
		spin_lock(&print_lock);
		uart_puts("cpu ");
		print_dec(i);
		uart_puts(": MPIDR_EL1 ");
		print_hex(slot[i].mpidr);
		uart_puts(" context ");
		print_hex(context);
		uart_puts(" EL");
		print_dec(slot[i].el);
		uart_puts("\n");
		spin_unlock(&print_lock);
	} else {
		/* All secondaries at once: a plain counter under the lock, and
		 * an atomic one. */
		for (unsigned n = 0; n < CONTENTION_ROUNDS; n++) {
			spin_lock(&print_lock);
			locked_count = locked_count + 1;
			spin_unlock(&print_lock);
			atomic_inc(&atomic_count);
		}
	}
	__asm__ volatile("dsb ish" : : : "memory");
	atomic_inc(&arrived);
	__asm__ volatile("dsb ish; sev" : : : "memory");
	slot[i].cpu_off_ret = (uint64_t)psci32(PSCI_CPU_OFF, 0);	/* returns only on failure */
	__asm__ volatile("dsb ish; sev" : : : "memory");
	halt();
}

/* Waits (WFE) until `n` secondaries arrived, or about 5 s passed. */
static void wait_arrived(uint32_t n)
{
	uint64_t end = read_sysreg(cntpct_el0) + 5 * read_sysreg(cntfrq_el0);

	while (arrived < n && read_sysreg(cntpct_el0) < end)
		wfe();
}

/* AFFINITY_INFO for a core that is on its way off: poll while it says ON. */
static int64_t affinity_settled(uint64_t mpidr)
{
	int64_t r = 0;

	for (unsigned n = 0; n < 100000; n++) {
		r = psci(PSCI_AFFINITY_INFO, mpidr, 0, 0);
		if (r != AFF_ON)
			break;
	}
	return r;
}

static uint64_t self;	/* the boot core's MPIDR affinity */

static unsigned index_of_self(void)
{
	for (unsigned i = 0; i < ncpus; i++)
		if (cpu_reg[i] == self)
			return i;
	return MAX_CPUS;
}

/* Version queries: what QEMU answers is what Preboard must answer, except
 * where its PSCI implementation makes a different (allowed) choice. */
static void query(const char *name, uint64_t fn, uint64_t arg, int64_t want, int64_t qemu,
		  const char *why)
{
	int64_t got;

	check_begin(name);
	got = psci32(fn, arg);
	if (got == qemu && qemu != want)
		check_deviation(why);
	else
		check_eq("result", (uint64_t)want, (uint64_t)got);
	check_end();
}

static void psci_cases(void)
{
	query("psci-version", PSCI_VERSION, 0, 0x10001, 0x10001, "");
	query("psci-features-cpu-on", PSCI_FEATURES, PSCI_CPU_ON, 0, 0, "");
	query("psci-features-smccc-version", PSCI_FEATURES, SMCCC_VERSION, 0, PSCI_NOT_SUPPORTED,
	      "PSCI_FEATURES(SMCCC_VERSION) is NOT_SUPPORTED (QEMU 7.2 implements no SMCCC_VERSION)");
	query("smccc-version", SMCCC_VERSION, 0, 0x10001, PSCI_NOT_SUPPORTED,
	      "SMCCC_VERSION is NOT_SUPPORTED (QEMU 7.2 implements SMCCC 1.0 only)");
	query("smccc-arch-features-workaround-1", SMCCC_ARCH_FEATURES, SMCCC_ARCH_WORKAROUND_1,
	      PSCI_NOT_SUPPORTED, PSCI_NOT_SUPPORTED, "");

	check_begin("affinity-info-self");
	check_eq("AFFINITY_INFO", AFF_ON, (uint64_t)psci(PSCI_AFFINITY_INFO, self, 0, 0));
	check_end();

	check_begin("cpu-on-self-already-on");
	check_eq("CPU_ON", (uint64_t)PSCI_ALREADY_ON,
		 (uint64_t)psci(PSCI_CPU_ON, self, A(secondary_entry), CONTEXT(0)));
	check_end();

	check_begin("cpu-on-invalid-mpidr");	/* Aff0 = 0xfe: no such core */
	check_eq("CPU_ON", (uint64_t)PSCI_INVALID_PARAMETERS,
		 (uint64_t)psci(PSCI_CPU_ON, 0xfe, A(secondary_entry), CONTEXT(0)));
	check_end();
}

/* CPU_ON one core and wait until it reported and went off. */
static void bring_up(unsigned i, const char *name)
{
	uint32_t before = arrived;

	check_begin(name);
	slot[i].mpidr = slot[i].context = slot[i].el = 0;
	slot[i].cpu_off_ret = 0;
	check_eq("CPU_ON", PSCI_SUCCESS, (uint64_t)psci(PSCI_CPU_ON, cpu_reg[i], A(secondary_entry),
							 CONTEXT(i)));
	wait_arrived(before + 1);
	check_eq("reported", before + 1, arrived);
	check_eq("MPIDR_EL1 affinity", cpu_reg[i], slot[i].mpidr & MPIDR_AFF_MASK);
	check_eq("MPIDR_EL1 bit 31 (RES1)", 1UL << 31, slot[i].mpidr & (1UL << 31));
	check_eq("context id", CONTEXT(i), slot[i].context);
	check_eq("EL", 1, slot[i].el);
	check_eq("AFFINITY_INFO after CPU_OFF", AFF_OFF, (uint64_t)affinity_settled(cpu_reg[i]));
	check_eq("CPU_OFF returned", 0, slot[i].cpu_off_ret);
	check_end();
}

static const char *const up_names[MAX_CPUS] = {
	"cpu-on-0", "cpu-on-1", "cpu-on-2", "cpu-on-3", "cpu-on-4", "cpu-on-5", "cpu-on-6", "cpu-on-7",
};

static void smp_cases(void)
{
	unsigned me = index_of_self(), others = 0, first = MAX_CPUS;

	check_begin("boot-core-in-dt");
	check_eq("boot core's MPIDR among the cpu nodes", 1, me < MAX_CPUS);
	check_end();

	phase = 1;
	for (unsigned i = 0; i < ncpus; i++) {
		if (i == me)
			continue;
		bring_up(i, up_names[i]);
		others++;
		if (first == MAX_CPUS)
			first = i;
	}
	if (first == MAX_CPUS) {
		uart_puts("only one core: nothing more to do\n");
		return;
	}

	bring_up(first, "cpu-on-again");	/* a core that went off can come back */

	/* All secondaries at once, contending for the lock. */
	check_begin("contention");
	phase = 2;
	uint32_t before = arrived;
	for (unsigned i = 0; i < ncpus; i++)
		if (i != me)
			check_eq("CPU_ON", PSCI_SUCCESS, (uint64_t)psci(PSCI_CPU_ON, cpu_reg[i],
									 A(secondary_entry), CONTEXT(i)));
	wait_arrived(before + others);
	check_eq("arrived", before + others, arrived);
	check_eq("counter under the lock", others * CONTENTION_ROUNDS, locked_count);
	check_eq("atomic counter", others * CONTENTION_ROUNDS, atomic_count);
	for (unsigned i = 0; i < ncpus; i++)
		if (i != me)
			check_eq("AFFINITY_INFO after CPU_OFF", AFF_OFF,
				 (uint64_t)affinity_settled(cpu_reg[i]));
	check_end();
}

int fw_main(uint64_t x0)
{
	uart_puts("Preboard smp firmware\n");
	if (current_el() != 1) {
		uart_puts("these tests need to start at EL1; entered at EL");
		print_dec(current_el());
		uart_puts("\n");
		return 1;
	}
	if (!read_dt(x0) || !conduit || ncpus == 0) {
		uart_puts("no PSCI conduit or no cpu nodes in the device tree\n");
		return 1;
	}
	self = read_sysreg(mpidr_el1) & MPIDR_AFF_MASK;
	uart_puts(conduit == smccc_hvc ? "PSCI via HVC, " : "PSCI via SMC, ");
	print_dec(ncpus);
	uart_puts(" cores\n");

	psci_cases();
	smp_cases();

	uart_puts("done: ");
	print_dec(check_failures());
	uart_puts(" failed\n");
	if (check_failures())
		return (int)check_failures();
	uart_puts("SYSTEM_OFF\n");
	psci32(PSCI_SYSTEM_OFF, 0);
	uart_puts("SYSTEM_OFF returned\n");
	return 1;
}
