/*
 * Host test bench for the hello firmware's device-tree code: runs
 * hello/main.c + common/fdt.c + common/print.c natively (built with
 * AddressSanitizer and UBSan by `make host-test`), with the UART and
 * semihosting replaced by an output buffer and longjmp.
 *
 *	host_hello run <file.dtb> ram|x0	  print what the firmware prints
 *	host_hello none				  no DTB anywhere
 *	host_hello corrupt <file.dtb>		  hand-made header/structure damage
 *	host_hello fuzz <file.dtb> <iters> <seed> random damage; must not crash
 *
 * "ram": x0 = 0 and the blob at 0x40000000 (how QEMU boots an ELF);
 * "x0": the blob at 0x40000000 and x0 pointing to it. The output ends with
 * a line "exit=<code>".
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "board.h"
#include "fdt.h"
#include "semihost.h"
#include "uart.h"

int fw_main(uint64_t dtb);

#define RAM_SIZE (4u << 20)

static char out[1 << 16];
static size_t out_len;
static jmp_buf exit_jmp;
static int echo = 1;

void uart_putc(char c)
{
	if (out_len < sizeof(out) - 1)
		out[out_len++] = c;
	if (echo)
		putchar(c);
}

void uart_puts(const char *s)
{
	while (*s)
		uart_putc(*s++);
}

void semihost_exit(int code)
{
	longjmp(exit_jmp, code + 1);
}

void halt(void)
{
	abort();
}

/* Run the firmware once; returns its exit code. */
static int run(uint64_t x0)
{
	int r;

	out_len = 0;
	r = setjmp(exit_jmp);
	if (r == 0)
		return fw_main(x0);
	return r - 1;
}

static uint8_t *ram;

static void map_ram(void)
{
	ram = mmap((void *)BOARD_RAM_BASE, RAM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (ram != (uint8_t *)BOARD_RAM_BASE) {
		perror("mmap at 0x40000000");
		exit(99);
	}
}

static uint8_t *load(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;

	if (!f) {
		perror(path);
		exit(99);
	}
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	buf = malloc(*len);
	if (!buf || fread(buf, 1, *len, f) != *len) {
		perror(path);
		exit(99);
	}
	fclose(f);
	return buf;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Offset of the first occurrence of the 4-byte big-endian `tok` after `from` (4-aligned). */
static size_t find_token(const uint8_t *b, size_t from, size_t end, uint32_t tok)
{
	for (size_t o = from; o + 4 <= end; o += 4) {
		if (get_be32(b + o) == tok)
			return o;
	}
	fprintf(stderr, "token %#x not found\n", tok);
	exit(99);
}

struct damage {
	const char *what;
	size_t off;          /* absolute offset in the blob; SIZE_MAX: see code */
	uint32_t value;
	int exit_code;
	const char *expect;  /* substring of the output */
};

static int corrupt(const uint8_t *blob, size_t len)
{
	uint32_t soff = get_be32(blob + 8);
	size_t send = soff + get_be32(blob + 36);
	size_t first_prop = find_token(blob, soff, send, FDT_PROP);
	size_t last_end = find_token(blob, send - 4, send, FDT_END);
	const struct damage cases[] = {
		{ "bad magic", 0, 0xd00dfeee, 1, "none: no FDT magic" },
		{ "totalsize too small", 4, 8, 2, "bad totalsize 0x8" },
		{ "totalsize too large", 4, 0x10000000, 2, "bad totalsize 0x10000000" },
		{ "old version", 20, 15, 2, "unsupported FDT version 0xf" },
		{ "future last_comp_version", 24, 18, 2, "unsupported last_comp_version 0x12" },
		{ "struct offset past end", 8, (uint32_t)len + 4, 2, "bad off_dt_struct" },
		{ "struct offset misaligned", 8, soff + 2, 2, "bad off_dt_struct" },
		{ "struct size past end", 36, (uint32_t)len, 2, "bad size_dt_struct" },
		{ "strings offset past end", 12, (uint32_t)len + 1, 2, "bad off_dt_strings" },
		{ "strings size past end", 32, (uint32_t)len, 2, "bad size_dt_strings" },
		{ "rsvmap misaligned", 16, 44, 2, "bad off_mem_rsvmap" },
		{ "root token is a prop", soff, FDT_PROP, 2, "property outside any node" },
		{ "unknown token", first_prop, 7, 2, "unknown token at struct offset" },
		{ "prop name offset huge", first_prop + 8, 0xfffffff0, 2,
		  "property name offset outside the strings block" },
		{ "prop length huge", first_prop + 4, 0x7fffffff, 2, "property value overruns" },
		{ "END replaced by END_NODE", last_end, FDT_END_NODE, 2, "FDT_END_NODE with no open node" },
		{ "END replaced by NOP", last_end, FDT_NOP, 2, "ends without FDT_END" },
		{ "struct truncated", 36, (uint32_t)(send - soff - 8), 2, "FDT_END" },
	};
	int failures = 0;

	echo = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct damage *d = &cases[i];
		uint8_t *copy = malloc(len);
		int code;

		memcpy(copy, blob, len);
		put_be32(copy + d->off, d->value);
		memset(ram, 0, RAM_SIZE);
		memcpy(ram, copy, len);
		code = run(0);
		out[out_len] = '\0';
		if (code != d->exit_code || !strstr(out, d->expect)) {
			printf("FAIL %s: exit %d (want %d), output:\n%s\n", d->what, code,
			       d->exit_code, out);
			failures++;
		} else {
			const char *last = out + out_len - 1;
			while (last > out && last[-1] != '\n')
				last--;
			printf("ok   %-28s -> exit %d: %s", d->what, code, last);
		}
		free(copy);
	}
	return failures ? 1 : 0;
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64 */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/*
 * Damage a copy of the blob at random and run the firmware on it with x0
 * pointing to an exactly-sized heap buffer, so ASan sees any read outside
 * the blob. Only blobs whose header promises no more than the buffer holds
 * are run: the firmware has to trust totalsize.
 */
static int fuzz(const uint8_t *blob, size_t len, long iters, uint64_t seed)
{
	long ran = 0, by_code[3] = { 0, 0, 0 };

	echo = 0;
	rng_state = seed ? seed : 1;
	for (long i = 0; i < iters; i++) {
		size_t n = len;
		uint8_t *copy;
		int edits = 1 + (int)(rnd() % 4);

		if (rnd() % 4 == 0)
			n = len - rnd() % len;   /* truncate */
		copy = malloc(n);
		memcpy(copy, blob, n);
		for (int e = 0; e < edits; e++) {
			size_t at;

			switch (rnd() % 4) {
			case 0:   /* header field */
				at = (rnd() % 10) * 4;
				if (at + 4 <= n)
					put_be32(copy + at, (uint32_t)rnd() % (uint32_t)(2 * len));
				break;
			case 1:   /* a structure-block word: token, length or name offset */
				at = get_be32(blob + 8) + (rnd() % (get_be32(blob + 36) / 4)) * 4;
				if (at + 4 <= n)
					put_be32(copy + at, (uint32_t)rnd() % 16 |
						 (rnd() % 2 ? 0 : (uint32_t)rnd()));
				break;
			default:  /* any byte */
				copy[rnd() % n] = (uint8_t)rnd();
				break;
			}
		}
		if (n < 8 || get_be32(copy + 4) > n) {
			if (n >= 8 && rnd() % 2)
				put_be32(copy + 4, (uint32_t)n);
			else {
				free(copy);
				continue;
			}
		}
		int code = run((uint64_t)(uintptr_t)copy);
		if (code < 0 || code > 2) {
			printf("fuzz: iteration %ld: exit code %d\n", i, code);
			return 1;
		}
		by_code[code]++;
		ran++;
		free(copy);
	}
	printf("fuzz: %ld runs (exit 0: %ld, exit 1: %ld, exit 2: %ld), no crash\n", ran,
	       by_code[0], by_code[1], by_code[2]);
	return 0;
}

int main(int argc, char **argv)
{
	size_t len = 0;
	uint8_t *blob = 0;

	if (argc < 2)
		goto usage;
	setvbuf(stdout, 0, _IONBF, 0);
	map_ram();
	if (argc >= 3) {
		blob = load(argv[2], &len);
		if (len > RAM_SIZE) {
			fprintf(stderr, "%s: too large\n", argv[2]);
			return 99;
		}
	}
	int rc = 99;

	if (strcmp(argv[1], "run") == 0 && argc == 4) {
		memcpy(ram, blob, len);
		printf("exit=%d\n", run(strcmp(argv[3], "x0") == 0 ? BOARD_RAM_BASE : 0));
		rc = 0;
	} else if (strcmp(argv[1], "none") == 0 && argc == 2) {
		printf("exit=%d\n", run(0));
		rc = 0;
	} else if (strcmp(argv[1], "corrupt") == 0 && argc == 3) {
		rc = corrupt(blob, len);
	} else if (strcmp(argv[1], "fuzz") == 0 && argc == 5) {
		rc = fuzz(blob, len, atol(argv[3]), strtoull(argv[4], 0, 0));
	} else {
		goto usage;
	}
	free(blob);
	return rc;
usage:
	fprintf(stderr, "usage: see the comment at the top of tests/host_hello.c\n");
	return 99;
}
