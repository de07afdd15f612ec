/*
 * difftest: runs random A64 instruction sequences for Preboard's
 * differential test (tests/diff_qemu.rs), under qemu-aarch64 (or natively on
 * an arm64 Linux machine). A static Linux user program without libc: raw
 * system calls only.
 *
 * Protocol (all little-endian; the Rust side is cpu-aarch64/src/testgen/qemu.rs):
 *   stdin:  "PBDT" u32 version, then commands, each a u32:
 *     'B'  65536 bytes: the background image of the data window
 *     'C'  u32 flags (bit 0: dump the window), u32 start, u32 nwords,
 *          u32 npatches, the 800-byte state block (u64 x[31], sp, nzcv,
 *          tpidr_el0, fpcr, fpsr, then 32 x 16 bytes V0-V31),
 *          u32 words[nwords], npatches * (u64 byte offset, u64 value): one
 *          case
 *     'Q'  exit
 *   stdout: per case an 840-byte record (struct result), then the 65536-byte
 *           window when the dump flag is set. Outcome codes: enum outcome.
 *
 * A case: the window is the background plus the patches; the words go to
 * TEST_PC + start followed by the marker (UDF #0xc0de) and four tail words,
 * with a B to them at TEST_PC when start is not zero; the rest of the test
 * page is zero. A trampoline in front of TEST_PC loads FPCR, V0-V31, FPSR,
 * NZCV, TPIDR_EL0, SP and X0-X30 and falls through into the page. The case
 * ends at the marker (SIGILL there means "completed"), at the first fault
 * (SIGILL, SIGSEGV, SIGBUS, SIGTRAP elsewhere) or after CASE_SECONDS of CPU
 * time (SIGPROF); in every case the signal handler records the registers
 * from the signal frame (V0-V31, FPSR and FPCR from its fpsimd_context
 * record) and resumes the harness. The window is then hashed (the sum of
 * mix(i, word) over the 8-byte words that differ from the background) and
 * restored to the background.
 */

#include <stddef.h>
#include <stdint.h>

#define CODE_BASE 0x20000000UL
#define CODE_SIZE 0x2000UL
#define TEST_PC (CODE_BASE + 0x1000UL)
#define TEST_MAX_WORDS 1000U
#define TEST_PAGE_WORDS 1024U
#define DATA_BASE 0x10000000UL
#define DATA_SIZE 0x10000UL
#define DATA_WORDS (DATA_SIZE / 8)
#define MARKER 0x0000c0deU
/* The signal handler's stack. The kernel (and QEMU) take a case's SP inside
 * it to mean "already on the alternate stack" and push the frame there, so
 * it sits where no edge-case SP value (powers of two, small numbers, the
 * windows) points, below 2^39 for kernels with 39-bit user addresses. */
#define ALTSTACK_BASE 0x3a5c000000UL
#define ALTSTACK_SIZE 0x10000UL
static const uint32_t tail_words[4] = { 0x01234567U, 0x89abcdefU, 0xfedcba98U, 0x76543210U };

#define VERSION 3U
#define CMD_BACKGROUND 0x42U
#define CMD_CASE 0x43U
#define CMD_QUIT 0x51U
#define FLAG_DUMP 1U

enum outcome {
	OUT_COMPLETED = 0,
	OUT_SIGILL = 1,
	OUT_SIGSEGV = 2,
	OUT_SIGBUS = 3,
	OUT_SIGTRAP = 4,
	OUT_OTHER = 5,
	OUT_TIMEOUT = 6, /* still running after CASE_SECONDS of CPU time */
};

#define CASE_SECONDS 5

/* ---- what GCC may call even in a freestanding build ------------------- */

void *memset(void *dst, int c, size_t n)
{
	volatile uint8_t *d = dst;
	for (size_t i = 0; i < n; i++)
		d[i] = (uint8_t)c;
	return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
	volatile uint8_t *d = dst;
	const uint8_t *s = src;
	for (size_t i = 0; i < n; i++)
		d[i] = s[i];
	return dst;
}

/* ---- system calls ---------------------------------------------------- */

#define SYS_read 63
#define SYS_write 64
#define SYS_exit_group 94
#define SYS_setitimer 103
#define SYS_sigaltstack 132
#define SYS_rt_sigaction 134
#define SYS_mmap 222

#define SIGILL 4
#define SIGTRAP 5
#define SIGBUS 7
#define SIGSEGV 11
#define SIGPROF 27
#define SA_SIGINFO 0x4UL
#define SA_ONSTACK 0x08000000UL
#define SA_RESTORER 0x04000000UL
#define PROT_READ 1
#define PROT_WRITE 2
#define PROT_EXEC 4
#define MAP_PRIVATE 0x02
#define MAP_ANONYMOUS 0x20

static long syscall6(long n, long a, long b, long c, long d, long e, long f)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc #0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory");
	return x0;
}

static void sys_exit(int code)
{
	syscall6(SYS_exit_group, code, 0, 0, 0, 0, 0);
	for (;;)
		;
}

/* ---- kernel structures (arm64 uapi) ---------------------------------- */

struct k_sigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

struct k_stack {
	void *sp;
	int flags;
	size_t size;
};

struct k_siginfo {
	int signo;
	int errno_;
	int code;
	int pad;
	void *addr;
};

struct k_sigcontext {
	uint64_t fault_address;
	uint64_t regs[31];
	uint64_t sp;
	uint64_t pc;
	uint64_t pstate;
	/* Records (struct k_ctx_head first), the first one fpsimd_context,
	 * ended by a record with magic 0. */
	uint8_t reserved[4096] __attribute__((aligned(16)));
};

struct k_ctx_head {
	uint32_t magic;
	uint32_t size;
};

#define FPSIMD_MAGIC 0x46508001U

/* struct fpsimd_context: V0-V31 as pairs of u64 (low half first), since
 * the harness is built without FP/SIMD registers. */
struct k_fpsimd_context {
	struct k_ctx_head head;
	uint32_t fpsr;
	uint32_t fpcr;
	uint64_t vregs[32][2];
};

struct k_ucontext {
	unsigned long flags;
	struct k_ucontext *link;
	struct k_stack stack;
	uint64_t sigmask;
	uint8_t unused[1024 / 8 - sizeof(uint64_t)];
	struct k_sigcontext mcontext __attribute__((aligned(16)));
};

_Static_assert(offsetof(struct k_ucontext, mcontext) == 176, "arm64 ucontext layout");
_Static_assert(offsetof(struct k_sigcontext, pc) == 264, "arm64 sigcontext layout");
_Static_assert(offsetof(struct k_sigcontext, reserved) == 288, "arm64 sigcontext layout");
_Static_assert(offsetof(struct k_fpsimd_context, vregs) == 16, "arm64 fpsimd_context layout");
_Static_assert(sizeof(struct k_fpsimd_context) == 528, "arm64 fpsimd_context size");

/* ---- output ------------------------------------------------------------ */

struct result {
	uint32_t magic;
	uint32_t outcome;
	uint32_t signo;
	uint32_t code;
	uint64_t pc;
	uint64_t fault_address;
	uint64_t x[31];
	uint64_t sp;
	uint64_t nzcv;
	uint64_t tpidr;
	uint64_t window_hash;
	uint64_t fpcr;
	uint64_t fpsr;
	uint64_t v[32][2]; /* V0-V31, low half first */
};

_Static_assert(sizeof(struct result) == 840, "result record size");

static void write_all(const void *buf, size_t n)
{
	const uint8_t *p = buf;
	while (n > 0) {
		long r = syscall6(SYS_write, 1, (long)p, (long)n, 0, 0, 0);
		if (r == -4) /* EINTR */
			continue;
		if (r <= 0)
			sys_exit(3);
		p += r;
		n -= (size_t)r;
	}
}

static void put_str(const char *msg)
{
	size_t n = 0;
	while (msg[n])
		n++;
	syscall6(SYS_write, 2, (long)msg, (long)n, 0, 0, 0);
}

static void put_hex(uint64_t v)
{
	char buf[19] = "0x";
	for (int i = 0; i < 16; i++)
		buf[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xf];
	buf[18] = 0;
	put_str(buf);
}

static void error(const char *msg)
{
	put_str("difftest: ");
	put_str(msg);
	put_str("\n");
	sys_exit(2);
}

/* ---- input --------------------------------------------------------------- */

static uint8_t inbuf[1 << 16];
static size_t in_pos, in_len;

/* Reads exactly n bytes; returns 0 at a clean end of input before any byte. */
static int read_exact(void *dst, size_t n)
{
	uint8_t *d = dst;
	size_t got = 0;
	while (got < n) {
		if (in_pos == in_len) {
			long r = syscall6(SYS_read, 0, (long)inbuf, sizeof(inbuf), 0, 0, 0);
			if (r == -4)
				continue;
			if (r < 0)
				error("read from stdin failed");
			if (r == 0) {
				if (got == 0)
					return 0;
				error("truncated input");
			}
			in_pos = 0;
			in_len = (size_t)r;
		}
		size_t k = in_len - in_pos;
		if (k > n - got)
			k = n - got;
		for (size_t i = 0; i < k; i++)
			d[got + i] = inbuf[in_pos + i];
		in_pos += k;
		got += k;
	}
	return 1;
}

static uint32_t read_u32(void)
{
	uint32_t v;
	if (!read_exact(&v, 4))
		error("truncated input");
	return v;
}

/* ---- the case ------------------------------------------------------------ */

extern void run_case(const uint64_t *state, uint64_t trampoline);
extern void difftest_resume(void);
extern void difftest_sigreturn(void);
extern const uint32_t tramp_start[], tramp_end[];

static uint64_t background[DATA_WORDS];
static uint64_t dump[DATA_WORDS];
static struct result res;
static volatile int in_case;
static uint64_t end_pc;

/* The signal frame's fpsimd_context record (the kernel and QEMU put it
 * first, but walk the records to be sure), or NULL. */
static const struct k_fpsimd_context *find_fpsimd(const struct k_sigcontext *mc)
{
	size_t off = 0;
	while (off + sizeof(struct k_ctx_head) <= sizeof(mc->reserved)) {
		const struct k_ctx_head *h = (const void *)(mc->reserved + off);
		if (h->magic == 0 || h->size < sizeof(struct k_ctx_head) || (h->size & 15) != 0)
			return NULL;
		if (h->magic == FPSIMD_MAGIC)
			return h->size >= sizeof(struct k_fpsimd_context) && off + h->size <= sizeof(mc->reserved)
				       ? (const void *)h
				       : NULL;
		off += h->size;
	}
	return NULL;
}

static void handler(int sig, struct k_siginfo *si, void *ucv)
{
	struct k_ucontext *uc = ucv;
	struct k_sigcontext *mc = &uc->mcontext;
	uint64_t tpidr;

	if (!in_case) {
		put_str("difftest: signal ");
		put_hex((uint64_t)sig);
		put_str(" at pc ");
		put_hex(mc->pc);
		put_str(", address ");
		put_hex((uint64_t)si->addr);
		error("outside a case: the harness itself faulted");
	}
	in_case = 0;
	__asm__ volatile("mrs %0, tpidr_el0" : "=r"(tpidr));
	res.signo = (uint32_t)sig;
	res.code = (uint32_t)si->code;
	res.fault_address = (uint64_t)si->addr;
	res.pc = mc->pc;
	for (int i = 0; i < 31; i++)
		res.x[i] = mc->regs[i];
	res.sp = mc->sp;
	res.nzcv = mc->pstate & 0xf0000000UL;
	res.tpidr = tpidr;
	const struct k_fpsimd_context *fp = find_fpsimd(mc);
	if (!fp)
		error("no fpsimd_context record in the signal frame");
	res.fpcr = fp->fpcr;
	res.fpsr = fp->fpsr;
	for (int i = 0; i < 32; i++) {
		res.v[i][0] = fp->vregs[i][0];
		res.v[i][1] = fp->vregs[i][1];
	}
	switch (sig) {
	case SIGILL:
		res.outcome = mc->pc == end_pc ? OUT_COMPLETED : OUT_SIGILL;
		break;
	case SIGSEGV:
		res.outcome = OUT_SIGSEGV;
		break;
	case SIGBUS:
		res.outcome = OUT_SIGBUS;
		break;
	case SIGTRAP:
		res.outcome = OUT_SIGTRAP;
		break;
	case SIGPROF:
		res.outcome = OUT_TIMEOUT;
		break;
	default:
		res.outcome = OUT_OTHER;
		break;
	}
	mc->pc = (uint64_t)difftest_resume;
}

static void *map_at(uint64_t addr, uint64_t size, int prot);

static void install_handlers(void)
{
	struct k_stack ss = { map_at(ALTSTACK_BASE, ALTSTACK_SIZE, PROT_READ | PROT_WRITE), 0, ALTSTACK_SIZE };
	if (syscall6(SYS_sigaltstack, (long)&ss, 0, 0, 0, 0, 0) != 0)
		error("sigaltstack failed");
	static const int sigs[] = { SIGILL, SIGTRAP, SIGBUS, SIGSEGV, SIGPROF };
	for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct k_sigaction sa = {
			.handler = (void *)handler,
			.flags = SA_SIGINFO | SA_ONSTACK | SA_RESTORER,
			.restorer = (void *)difftest_sigreturn,
			.mask = 0,
		};
		if (syscall6(SYS_rt_sigaction, sigs[i], (long)&sa, 0, 8, 0, 0) != 0)
			error("rt_sigaction failed");
	}
}

/* Arms (or with 0, disarms) the per-case SIGPROF: CPU time, not wall
 * time, so that a loaded machine does not turn slow cases into timeouts. */
static void set_timer(long seconds)
{
	long it[4] = { 0, 0, seconds, 0 }; /* it_interval, it_value */
	if (syscall6(SYS_setitimer, 2 /* ITIMER_PROF */, (long)it, 0, 0, 0, 0) != 0)
		error("setitimer failed");
}

static void *map_at(uint64_t addr, uint64_t size, int prot)
{
	long r = syscall6(SYS_mmap, (long)addr, (long)size, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if ((uint64_t)r != addr)
		error("could not map the code, data or signal stack at its fixed address");
	return (void *)r;
}

/* Make freshly written code visible to instruction fetch (architecturally;
 * QEMU notices the writes by itself). */
static void sync_code(uint64_t start, uint64_t end)
{
	uint64_t ctr;
	__asm__ volatile("mrs %0, ctr_el0" : "=r"(ctr));
	uint64_t dline = 4UL << ((ctr >> 16) & 0xf);
	uint64_t iline = 4UL << (ctr & 0xf);
	for (uint64_t p = start & ~(dline - 1); p < end; p += dline)
		__asm__ volatile("dc cvau, %0" : : "r"(p) : "memory");
	__asm__ volatile("dsb ish" : : : "memory");
	for (uint64_t p = start & ~(iline - 1); p < end; p += iline)
		__asm__ volatile("ic ivau, %0" : : "r"(p) : "memory");
	__asm__ volatile("dsb ish\n\tisb" : : : "memory");
}

static uint64_t mix(uint64_t i, uint64_t w)
{
	uint64_t z = w ^ (i * 0x9e3779b97f4a7c15UL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
	return z ^ (z >> 31);
}

int difftest_main(void)
{
	volatile uint32_t *code = map_at(CODE_BASE, CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC);
	volatile uint64_t *window = map_at(DATA_BASE, DATA_SIZE, PROT_READ | PROT_WRITE);
	size_t tramp_words = (size_t)(tramp_end - tramp_start);
	uint64_t tramp = TEST_PC - 4 * tramp_words;
	uint32_t used_words = 0;
	uint32_t hdr[2];
	/* The state block (entry.S: ST_*): x[31], sp, nzcv, tpidr, fpcr,
	 * fpsr, v[32][2]. */
	static uint64_t state[36 + 64] __attribute__((aligned(16)));

	for (size_t i = 0; i < tramp_words; i++)
		code[(tramp - CODE_BASE) / 4 + i] = tramp_start[i];
	sync_code(tramp, TEST_PC);
	install_handlers();

	if (!read_exact(hdr, sizeof(hdr)) || hdr[0] != 0x54444250U /* "PBDT" */ || hdr[1] != VERSION)
		error("bad header (expected \"PBDT\", version 3)");

	for (;;) {
		uint32_t cmd;
		if (!read_exact(&cmd, 4) || cmd == CMD_QUIT)
			return 0;
		if (cmd == CMD_BACKGROUND) {
			if (!read_exact(background, sizeof(background)))
				error("truncated background");
			for (size_t i = 0; i < DATA_WORDS; i++)
				window[i] = background[i];
			continue;
		}
		if (cmd != CMD_CASE)
			error("unknown command");

		uint32_t flags = read_u32();
		uint32_t start = read_u32();
		uint32_t nwords = read_u32();
		uint32_t npatches = read_u32();
		if (nwords > TEST_MAX_WORDS || (start & 3) != 0 || start / 4 + nwords + 5 > TEST_PAGE_WORDS)
			error("instruction words do not fit in the test page");
		if (!read_exact(state, sizeof(state)))
			error("truncated state");

		volatile uint32_t *page = code + (TEST_PC - CODE_BASE) / 4;
		for (uint32_t i = 0; i < used_words; i++)
			page[i] = 0;
		if (start != 0)
			page[0] = 0x14000000U | (start / 4); /* b TEST_PC + start */
		volatile uint32_t *test = page + start / 4;
		for (uint32_t i = 0; i < nwords; i++)
			test[i] = read_u32();
		test[nwords] = MARKER;
		for (uint32_t i = 0; i < 4; i++)
			test[nwords + 1 + i] = tail_words[i];
		used_words = start / 4 + nwords + 5;
		sync_code(TEST_PC, TEST_PC + 4 * used_words);
		end_pc = TEST_PC + start + 4 * (uint64_t)nwords;

		for (uint32_t i = 0; i < npatches; i++) {
			uint64_t p[2];
			if (!read_exact(p, sizeof(p)))
				error("truncated patch");
			if (p[0] >= DATA_SIZE || (p[0] & 7) != 0)
				error("patch outside the window or unaligned");
			window[p[0] / 8] = p[1];
		}

		res = (struct result){ .magic = 0x52 };
		set_timer(CASE_SECONDS);
		in_case = 1;
		run_case(state, tramp);
		set_timer(0);
		if (in_case)
			error("the case returned without a signal");

		if (flags & FLAG_DUMP)
			for (size_t i = 0; i < DATA_WORDS; i++)
				dump[i] = window[i];
		/* Eight words at a time: cases change only a few (this loop is
		 * most of the harness's time under QEMU). */
		uint64_t h = 0;
		for (size_t c = 0; c < DATA_WORDS; c += 8) {
			uint64_t d = 0;
			for (size_t i = c; i < c + 8; i++)
				d |= window[i] ^ background[i];
			if (d == 0)
				continue;
			for (size_t i = c; i < c + 8; i++) {
				uint64_t w = window[i];
				if (w != background[i]) {
					h += mix(i, w);
					window[i] = background[i];
				}
			}
		}
		res.window_hash = h;
		write_all(&res, sizeof(res));
		if (flags & FLAG_DUMP)
			write_all(dump, DATA_SIZE);
	}
}
