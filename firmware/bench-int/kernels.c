/*
 * bench-int's kernels (see kernels.h). Only fixed-width unsigned
 * arithmetic whose result C defines, so the guest and a host build agree
 * bit for bit. The round counts set the amount of work: together about
 * 113 million AArch64 instructions at -O2, 17-21 million per kernel.
 */
#include <stdbool.h>
#include <stdint.h>

#include "kernels.h"

const char *bench_error;

static void fail(const char *msg)
{
	if (!bench_error)
		bench_error = msg;
}

/* Marsaglia's xorshift32: the deterministic input of every kernel. */
static uint32_t xorshift32(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

static uint64_t rotl64(uint64_t x, unsigned int r)
{
	return (x << r) | (x >> (64 - r));
}

static uint32_t rotl32(uint32_t x, unsigned int r)
{
	return (x << r) | (x >> (32 - r));
}

/* FNV-1a over one 32-bit word, a byte at a time. */
static uint32_t fnv1a32_word(uint32_t h, uint32_t w)
{
	for (unsigned int i = 0; i < 4; i++) {
		h ^= (w >> (8 * i)) & 0xff;
		h *= 0x01000193u;
	}
	return h;
}

#define FNV32_OFFSET 0x811c9dc5u

/* ---- crc32 ------------------------------------------------------------ */

#define CRC_BYTES 4096
#define CRC_ROUNDS 640

static uint32_t crc_table[256];
static uint8_t crc_buf[CRC_BYTES];

static void crc_make_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

/* Continue a CRC-32 over `n` more bytes (start with crc = 0). */
static uint32_t crc32_update(uint32_t crc, const uint8_t *p, uint32_t n)
{
	uint32_t c = ~crc;

	while (n--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return ~c;
}

uint32_t k_crc32(void)
{
	static const uint8_t check[9] = { '1', '2', '3', '4', '5', '6', '7', '8', '9' };
	uint32_t seed = 0x1234567u;
	uint32_t crc = 0;

	crc_make_table();
	/* The standard check value of CRC-32/ISO-HDLC. */
	if (crc32_update(0, check, sizeof(check)) != 0xcbf43926u)
		fail("CRC-32 of \"123456789\" is not 0xcbf43926");
	for (uint32_t i = 0; i < CRC_BYTES; i++)
		crc_buf[i] = (uint8_t)(xorshift32(&seed) >> 24);
	for (uint32_t r = 0; r < CRC_ROUNDS; r++) {
		crc = crc32_update(crc, crc_buf, CRC_BYTES);
		/* Change the input a little each round so no round repeats. */
		crc_buf[(r * 67) % CRC_BYTES] ^= (uint8_t)crc;
	}
	return crc;
}

/* ---- hash ------------------------------------------------------------- */

#define HASH_ROUNDS 400000

uint32_t k_hash(void)
{
	uint64_t s = 0x9e3779b97f4a7c15u;   /* xorshift64 state */
	uint64_t h = 0xcbf29ce484222325u;   /* FNV-1a 64 offset basis */
	uint64_t acc = 0;

	for (uint32_t i = 0; i < HASH_ROUNDS; i++) {
		s ^= s >> 12;
		s ^= s << 25;
		s ^= s >> 27;
		uint64_t v = s * 0x2545f4914f6cdd1du;   /* xorshift64* output */

		/* FNV-1a 64 over the low four bytes of v. */
		for (unsigned int b = 0; b < 4; b++) {
			h ^= (v >> (8 * b)) & 0xff;
			h *= 0x100000001b3u;
		}
		/* Fold a full 64x64->128 product, as wyhash/mum-hash do. */
		unsigned __int128 m = (unsigned __int128)(h ^ v) * (rotl64(v, 23) | 1);
		acc += (uint64_t)m ^ (uint64_t)(m >> 64);
		acc = rotl64(acc, 17) ^ h;
	}
	/* Murmur3's 64-bit finaliser. */
	acc ^= acc >> 33;
	acc *= 0xff51afd7ed558ccdu;
	acc ^= acc >> 33;
	acc *= 0xc4ceb9fe1a85ec53u;
	acc ^= acc >> 33;
	return (uint32_t)acc ^ (uint32_t)(acc >> 32);
}

/* ---- sort ------------------------------------------------------------- */

#define SORT_N 512
#define SORT_ROUNDS 384
#define SORT_CUTOFF 16

static uint32_t sort_a[SORT_N];

static void insertion_sort(uint32_t *a, uint32_t n)
{
	for (uint32_t i = 1; i < n; i++) {
		uint32_t v = a[i];
		uint32_t j = i;

		while (j > 0 && a[j - 1] > v) {
			a[j] = a[j - 1];
			j--;
		}
		a[j] = v;
	}
}

static void swap_u32(uint32_t *a, uint32_t *b)
{
	uint32_t t = *a;

	*a = *b;
	*b = t;
}

/*
 * Hoare partitioning around the median of the first, middle and last
 * elements; recurses into the smaller side and loops on the larger, so
 * the stack stays O(log n) deep. Short ranges are left for one final
 * insertion sort.
 */
static void quicksort(uint32_t *a, uint32_t n)
{
	while (n > SORT_CUTOFF) {
		uint32_t mid = n / 2;

		if (a[mid] < a[0])
			swap_u32(&a[mid], &a[0]);
		if (a[n - 1] < a[0])
			swap_u32(&a[n - 1], &a[0]);
		if (a[n - 1] < a[mid])
			swap_u32(&a[n - 1], &a[mid]);
		uint32_t pivot = a[mid];
		uint32_t i = 0, j = n - 1;

		for (;;) {
			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i >= j)
				break;
			swap_u32(&a[i], &a[j]);
			i++;
			j--;
		}
		/* [0, j] <= pivot <= [j + 1, n) */
		uint32_t left = j + 1;

		if (left < n - left) {
			quicksort(a, left);
			a += left;
			n -= left;
		} else {
			quicksort(a + left, n - left);
			n = left;
		}
	}
}

uint32_t k_sort(void)
{
	uint32_t seed = 0x2545f491u;
	uint32_t h = FNV32_OFFSET;

	for (uint32_t r = 0; r < SORT_ROUNDS; r++) {
		/* Every fourth round has many duplicates. */
		uint32_t mask = (r % 4 == 3) ? 0x3f : 0xffffffffu;

		for (uint32_t i = 0; i < SORT_N; i++)
			sort_a[i] = xorshift32(&seed) & mask;
		quicksort(sort_a, SORT_N);
		insertion_sort(sort_a, SORT_N);
		for (uint32_t i = 1; i < SORT_N; i++) {
			if (sort_a[i - 1] > sort_a[i])
				fail("array not sorted");
		}
		h = fnv1a32_word(h, sort_a[0]);
		h = fnv1a32_word(h, sort_a[SORT_N / 2]);
		h = fnv1a32_word(h, sort_a[(r * 37) % SORT_N]);
		h = fnv1a32_word(h, sort_a[SORT_N - 1]);
	}
	return h;
}

/* ---- vm --------------------------------------------------------------- */

/*
 * A register machine: 8 registers of 32 bits, one 32-bit word per
 * instruction: op | a << 8 | b << 16 | c << 24.
 *   LI  a, imm16     a = b | c << 8
 *   MOV a, b         ADD/SUB/MUL/AND/XOR/SHR/REM a, b, c (REM by 0 gives b)
 *   JZ/JNZ a, t      jump to t = b | c << 8 if register a is / is not 0
 *   JMP t            HALT
 */
enum { OP_LI, OP_MOV, OP_ADD, OP_SUB, OP_MUL, OP_AND, OP_XOR, OP_SHR, OP_REM, OP_JZ, OP_JNZ, OP_JMP, OP_HALT };

#define I(op, a, b, c) ((uint32_t)(op) | (uint32_t)(a) << 8 | (uint32_t)(b) << 16 | (uint32_t)(c) << 24)
#define LI(a, imm) I(OP_LI, a, (imm) & 0xff, (imm) >> 8)
#define JUMP(op, a, t) I(op, a, (t) & 0xff, (t) >> 8)

#define VM_COLLATZ_N 1600
#define VM_GCD_N 3000
#define VM_ROUNDS 1

/*
 * r1 = total Collatz steps of every i in [1, VM_COLLATZ_N], then r5 mixes
 * gcd((j * 7919) ^ r1, j) for j in [1, VM_GCD_N] (Euclid, with REM).
 * The comments give each word's index: the jump targets.
 */
static const uint32_t vm_program[] = {
	/*  0 */ LI(0, VM_COLLATZ_N),
	/*  1 */ LI(1, 0),
	/*  2 */ LI(7, 1),
	/*  3 */ LI(6, 3),
	/*  4 */ I(OP_MOV, 2, 0, 0),          /* next_i: x = i */
	/*  5 */ I(OP_SUB, 3, 2, 7),          /* step: if x == 1 goto done */
	/*  6 */ JUMP(OP_JZ, 3, 15),
	/*  7 */ I(OP_AND, 4, 2, 7),
	/*  8 */ JUMP(OP_JZ, 4, 12),          /* even */
	/*  9 */ I(OP_MUL, 2, 2, 6),          /* x = 3x + 1 */
	/* 10 */ I(OP_ADD, 2, 2, 7),
	/* 11 */ JUMP(OP_JMP, 0, 13),
	/* 12 */ I(OP_SHR, 2, 2, 7),          /* x >>= 1 */
	/* 13 */ I(OP_ADD, 1, 1, 7),          /* steps++ */
	/* 14 */ JUMP(OP_JMP, 0, 5),
	/* 15 */ I(OP_SUB, 0, 0, 7),          /* done: i--, loop while i != 0 */
	/* 16 */ JUMP(OP_JNZ, 0, 4),
	/* 17 */ LI(0, VM_GCD_N),             /* gcd phase: j = N */
	/* 18 */ LI(5, 0),
	/* 19 */ LI(6, 7919),
	/* 20 */ I(OP_MUL, 2, 0, 6),          /* next_j: a = (j * 7919) ^ steps */
	/* 21 */ I(OP_XOR, 2, 2, 1),
	/* 22 */ I(OP_MOV, 3, 0, 0),          /* b = j */
	/* 23 */ JUMP(OP_JZ, 3, 28),          /* euclid: while b != 0 */
	/* 24 */ I(OP_REM, 4, 2, 3),          /* t = a % b */
	/* 25 */ I(OP_MOV, 2, 3, 0),          /* a = b */
	/* 26 */ I(OP_MOV, 3, 4, 0),          /* b = t */
	/* 27 */ JUMP(OP_JMP, 0, 23),
	/* 28 */ I(OP_ADD, 5, 5, 2),          /* sum += gcd */
	/* 29 */ I(OP_XOR, 5, 5, 0),          /* sum ^= j */
	/* 30 */ I(OP_SUB, 0, 0, 7),          /* j-- */
	/* 31 */ JUMP(OP_JNZ, 0, 20),
	/* 32 */ I(OP_HALT, 0, 0, 0),
};

/* Runs `code` on `r`; returns the number of instructions it executed. */
static uint32_t vm_run(const uint32_t *code, uint32_t len, uint32_t *r)
{
	uint32_t pc = 0, executed = 0;

	for (;;) {
		if (pc >= len) {
			fail("vm: pc ran off the program");
			return executed;
		}
		uint32_t insn = code[pc++];
		uint32_t a = (insn >> 8) & 7, b = (insn >> 16) & 0xff, c = insn >> 24;
		uint32_t target = b | c << 8;

		executed++;
		switch (insn & 0xff) {
		case OP_LI:
			r[a] = target;
			break;
		case OP_MOV:
			r[a] = r[b & 7];
			break;
		case OP_ADD:
			r[a] = r[b & 7] + r[c & 7];
			break;
		case OP_SUB:
			r[a] = r[b & 7] - r[c & 7];
			break;
		case OP_MUL:
			r[a] = r[b & 7] * r[c & 7];
			break;
		case OP_AND:
			r[a] = r[b & 7] & r[c & 7];
			break;
		case OP_XOR:
			r[a] = r[b & 7] ^ r[c & 7];
			break;
		case OP_SHR:
			r[a] = r[b & 7] >> (r[c & 7] & 31);
			break;
		case OP_REM:
			r[a] = r[c & 7] ? r[b & 7] % r[c & 7] : r[b & 7];
			break;
		case OP_JZ:
			if (r[a] == 0)
				pc = target;
			break;
		case OP_JNZ:
			if (r[a] != 0)
				pc = target;
			break;
		case OP_JMP:
			pc = target;
			break;
		case OP_HALT:
			return executed;
		default:
			fail("vm: unknown opcode");
			return executed;
		}
	}
}

uint32_t k_vm(void)
{
	uint32_t h = FNV32_OFFSET;

	for (uint32_t round = 0; round < VM_ROUNDS; round++) {
		uint32_t r[8] = { 0 };
		uint32_t n = vm_run(vm_program, sizeof(vm_program) / sizeof(vm_program[0]), r);

		for (int i = 0; i < 8; i++)
			h = fnv1a32_word(h, r[i]);
		h = fnv1a32_word(h, n);
	}
	return h;
}

/* ---- chase ------------------------------------------------------------ */

#define CHASE_N 4096
#define CHASE_LAPS 600

struct node {
	struct node *next;
	uint32_t val;
	uint32_t visits;
};

static struct node nodes[CHASE_N];
static uint32_t chase_perm[CHASE_N];

uint32_t k_chase(void)
{
	uint32_t seed = 0xdeadbeefu;
	uint32_t sum = 0;

	/* A random cyclic order of the nodes (Fisher-Yates). */
	for (uint32_t i = 0; i < CHASE_N; i++)
		chase_perm[i] = i;
	for (uint32_t i = CHASE_N - 1; i > 0; i--) {
		uint32_t j = xorshift32(&seed) % (i + 1);
		uint32_t t = chase_perm[i];

		chase_perm[i] = chase_perm[j];
		chase_perm[j] = t;
	}
	for (uint32_t i = 0; i < CHASE_N; i++) {
		struct node *n = &nodes[chase_perm[i]];

		n->next = &nodes[chase_perm[(i + 1) % CHASE_N]];
		n->val = xorshift32(&seed);
		n->visits = 0;
	}

	struct node *start = &nodes[chase_perm[0]];
	struct node *p = start;

	for (uint32_t lap = 0; lap < CHASE_LAPS; lap++) {
		for (uint32_t k = 0; k < CHASE_N; k++) {
			sum = rotl32(sum, 5) ^ p->val;
			p->visits++;
			p = p->next;
		}
		if (p != start)
			fail("chase: a lap did not return to the first node");
		/* Perturb one node per lap. */
		p->val += lap;
	}
	for (uint32_t i = 0; i < CHASE_N; i++) {
		if (nodes[i].visits != CHASE_LAPS)
			fail("chase: a node was not visited once per lap");
	}
	return sum;
}

/* ---- mem -------------------------------------------------------------- */

#define MEM_WORDS 2048   /* 16 KiB per buffer */
#define MEM_ROUNDS 120

static uint64_t mem_a[MEM_WORDS];
static uint64_t mem_b[MEM_WORDS];
static uint8_t mem_bytes[MEM_WORDS * 8];

static void set64(uint64_t *d, uint64_t v, uint32_t n)
{
	while (n--)
		*d++ = v;
}

static void copy64(uint64_t *restrict d, const uint64_t *restrict s, uint32_t n)
{
	while (n--)
		*d++ = *s++;
}

static void copy8(uint8_t *restrict d, const uint8_t *restrict s, uint32_t n)
{
	while (n--)
		*d++ = *s++;
}

/* memmove towards higher addresses inside one buffer (copies backwards). */
static void move8_up(uint8_t *buf, uint32_t from, uint32_t to, uint32_t n)
{
	while (n--)
		buf[to + n] = buf[from + n];
}

uint32_t k_mem(void)
{
	uint32_t h = FNV32_OFFSET;

	for (uint32_t r = 0; r < MEM_ROUNDS; r++) {
		uint64_t pattern = 0x0101010101010101u * (r + 1);

		set64(mem_a, pattern, MEM_WORDS);
		mem_a[(r * 131) % MEM_WORDS] = r;
		copy64(mem_b, mem_a, MEM_WORDS);
		/* Byte copy from an 8-aligned to an odd offset. */
		copy8(mem_bytes + 1 + (r % 7), (const uint8_t *)mem_b, MEM_WORDS * 8 - 8);
		move8_up(mem_bytes, 0, 3, MEM_WORDS * 4);

		uint64_t x = 0;

		for (uint32_t i = 0; i < MEM_WORDS * 8; i += 64)
			x = rotl64(x, 7) ^ mem_bytes[i + (r % 64)];
		for (uint32_t i = 0; i < MEM_WORDS; i++)
			x += mem_b[i] ^ i;
		h = fnv1a32_word(h, (uint32_t)x);
		h = fnv1a32_word(h, (uint32_t)(x >> 32));
	}
	return h;
}
