/*
 * A small, bounds-checked reader for flattened device trees (FDT/DTB,
 * Devicetree Specification v0.4 chapter 5). It never reads outside the
 * blob's header-declared blocks and reports what was wrong, and where,
 * instead of trusting the input.
 *
 * Usage:
 *	struct fdt f; struct fdt_iter it; struct fdt_item item; struct fdt_error err;
 *	if (!fdt_open(&f, addr, &err)) ...
 *	fdt_iter_init(&it);
 *	while (fdt_next(&f, &it, &item, &err) && item.type != FDT_END) ...
 *	if (err.msg) ...   (fdt_next returned false)
 */
#ifndef FW_FDT_H
#define FW_FDT_H

#include <stdbool.h>
#include <stdint.h>

#define FDT_MAGIC 0xd00dfeedu

/* Structure-block tokens. */
#define FDT_BEGIN_NODE 1u
#define FDT_END_NODE 2u
#define FDT_PROP 3u
#define FDT_NOP 4u
#define FDT_END 9u

/* Largest blob we accept (the arm64 boot protocol's limit for the DTB). */
#define FDT_MAX_TOTALSIZE (2u << 20)

/* Deepest node nesting we accept (root is depth 1). */
#define FDT_MAX_DEPTH 64u

/*
 * What was wrong: `msg` names the quantity that `value` holds ("struct
 * offset" = offset of the bad token from the start of the structure block).
 */
struct fdt_error {
	const char *msg;
	uint64_t value;
};

/* A blob whose header has been checked by fdt_open. */
struct fdt {
	uintptr_t base;
	uint32_t totalsize;
	const uint8_t *structs;   /* structure block, 4-byte aligned */
	uint32_t struct_size;
	const char *strings;      /* strings block */
	uint32_t strings_size;
};

/* Position of a walk over the structure block. */
struct fdt_iter {
	uint32_t off;     /* next token, relative to the structure block */
	uint32_t depth;   /* number of open nodes */
	bool seen_root;
	bool done;
};

/* One token returned by fdt_next (FDT_NOP tokens are skipped). */
struct fdt_item {
	uint32_t type;          /* FDT_BEGIN_NODE, FDT_END_NODE, FDT_PROP or FDT_END */
	uint32_t depth;         /* depth of the node the token opens, closes or belongs to */
	uint32_t off;           /* offset of the token in the structure block */
	const char *name;       /* node name or property name; "" for END tokens */
	const uint8_t *value;   /* property value (4-byte aligned), else 0 */
	uint32_t len;           /* property value length in bytes */
};

/*
 * Whether `addr` holds the FDT magic. Refuses 0 and addresses that are not
 * 8-byte aligned without reading them.
 */
bool fdt_has_magic(uintptr_t addr);

/* Check the header at `addr` and fill `f`. On failure fills `err`. */
bool fdt_open(struct fdt *f, uintptr_t addr, struct fdt_error *err);

void fdt_iter_init(struct fdt_iter *it);

/*
 * Return the next token in `item`. After the final FDT_END it keeps
 * returning FDT_END. On malformed input returns false and fills `err`.
 */
bool fdt_next(const struct fdt *f, struct fdt_iter *it, struct fdt_item *item,
	      struct fdt_error *err);

/* Big-endian 32-bit value at a 4-byte aligned address. */
static inline uint32_t fdt_be32(const void *p)
{
	return __builtin_bswap32(*(const uint32_t *)p);
}

/* Read a 1- or 2-cell big-endian number (cells must be 1 or 2). */
uint64_t fdt_read_cells(const uint8_t *p, uint32_t cells);

/* Whether a property's value is exactly the string `s` (with its NUL). */
bool fdt_prop_is(const struct fdt_item *item, const char *s);

/* Whether a property's value is a NUL-terminated string. */
bool fdt_prop_is_string(const struct fdt_item *item);

/* Whether the NUL-terminated strings `a` and `b` are equal. */
bool fdt_streq(const char *a, const char *b);

/* Whether NUL-terminated `s` begins with `prefix`. */
bool fdt_starts_with(const char *s, const char *prefix);

#endif
