#include <stdbool.h>
#include <stdint.h>

#include "fdt.h"

/* Header field offsets (all fields are big-endian 32-bit). */
#define HDR_MAGIC 0
#define HDR_TOTALSIZE 4
#define HDR_OFF_DT_STRUCT 8
#define HDR_OFF_DT_STRINGS 12
#define HDR_OFF_MEM_RSVMAP 16
#define HDR_VERSION 20
#define HDR_LAST_COMP_VERSION 24
#define HDR_SIZE_DT_STRINGS 32
#define HDR_SIZE_DT_STRUCT 36   /* version 17 and later */

#define HDR_LEN_V16 36u
#define HDR_LEN_V17 40u

static uint32_t hdr(uintptr_t base, unsigned int field)
{
	return fdt_be32((const void *)(base + field));
}

static bool fail(struct fdt_error *err, const char *msg, uint64_t value)
{
	err->msg = msg;
	err->value = value;
	return false;
}

bool fdt_has_magic(uintptr_t addr)
{
	if (addr == 0 || (addr & 7) != 0)
		return false;
	return hdr(addr, HDR_MAGIC) == FDT_MAGIC;
}

bool fdt_open(struct fdt *f, uintptr_t addr, struct fdt_error *err)
{
	if (!fdt_has_magic(addr))
		return fail(err, "no FDT magic (or not 8-byte aligned) at address", addr);

	/* Check totalsize before reading any field beyond it. */
	uint32_t total = hdr(addr, HDR_TOTALSIZE);
	if (total < HDR_LEN_V16 || total > FDT_MAX_TOTALSIZE)
		return fail(err, "bad totalsize", total);
	if (addr > UINTPTR_MAX - total)
		return fail(err, "blob wraps the address space, totalsize", total);

	uint32_t version = hdr(addr, HDR_VERSION);
	if (version < 16)
		return fail(err, "unsupported FDT version", version);
	uint32_t last_comp = hdr(addr, HDR_LAST_COMP_VERSION);
	if (last_comp > 17)
		return fail(err, "unsupported last_comp_version", last_comp);
	uint32_t hdr_len = version >= 17 ? HDR_LEN_V17 : HDR_LEN_V16;
	if (total < hdr_len)
		return fail(err, "bad totalsize", total);

	uint32_t rsv = hdr(addr, HDR_OFF_MEM_RSVMAP);
	if ((rsv & 7) != 0 || rsv < hdr_len || rsv > total || total - rsv < 16)
		return fail(err, "bad off_mem_rsvmap", rsv);

	uint32_t soff = hdr(addr, HDR_OFF_DT_STRUCT);
	if ((soff & 3) != 0 || soff < hdr_len || soff > total)
		return fail(err, "bad off_dt_struct", soff);
	uint32_t ssize = version >= 17 ? hdr(addr, HDR_SIZE_DT_STRUCT) : total - soff;
	if (ssize > total - soff)
		return fail(err, "bad size_dt_struct", ssize);

	uint32_t stroff = hdr(addr, HDR_OFF_DT_STRINGS);
	if (stroff < hdr_len || stroff > total)
		return fail(err, "bad off_dt_strings", stroff);
	uint32_t strsize = hdr(addr, HDR_SIZE_DT_STRINGS);
	if (strsize > total - stroff)
		return fail(err, "bad size_dt_strings", strsize);

	f->base = addr;
	f->totalsize = total;
	f->structs = (const uint8_t *)(addr + soff);
	f->struct_size = ssize;
	f->strings = (const char *)(addr + stroff);
	f->strings_size = strsize;
	return true;
}

void fdt_iter_init(struct fdt_iter *it)
{
	it->off = 0;
	it->depth = 0;
	it->seen_root = false;
	it->done = false;
}

/* Length of the string at s, or `max` if there is no NUL in s[0..max). */
static uint32_t bounded_strlen(const char *s, uint32_t max)
{
	uint32_t n = 0;

	while (n < max && s[n] != '\0')
		n++;
	return n;
}

static uint32_t align4(uint32_t v)
{
	return (v + 3) & ~3u;
}

bool fdt_next(const struct fdt *f, struct fdt_iter *it, struct fdt_item *item,
	      struct fdt_error *err)
{
	item->name = "";
	item->value = 0;
	item->len = 0;

	for (;;) {
		uint32_t off = it->off;

		item->off = off;
		if (it->done) {
			item->type = FDT_END;
			item->depth = 0;
			return true;
		}
		/* off may exceed struct_size by up to 3 after alignment. */
		if (off > f->struct_size || f->struct_size - off < 4)
			return fail(err, "structure block ends without FDT_END at struct offset", off);

		uint32_t token = fdt_be32(f->structs + off);
		uint32_t rest = f->struct_size - off - 4;   /* bytes after the token */
		const uint8_t *body = f->structs + off + 4;

		switch (token) {
		case FDT_BEGIN_NODE: {
			const char *name = (const char *)body;
			uint32_t n = bounded_strlen(name, rest);

			if (n == rest)
				return fail(err, "unterminated node name at struct offset", off);
			if (it->depth == 0 && it->seen_root)
				return fail(err, "second top-level node at struct offset", off);
			if (it->depth == 0 && n != 0)
				return fail(err, "root node has a name, at struct offset", off);
			if (it->depth >= FDT_MAX_DEPTH)
				return fail(err, "nodes nested too deeply at struct offset", off);
			it->seen_root = true;
			it->depth++;
			it->off = align4(off + 4 + n + 1);
			item->type = FDT_BEGIN_NODE;
			item->depth = it->depth;
			item->name = name;
			return true;
		}
		case FDT_END_NODE:
			if (it->depth == 0)
				return fail(err, "FDT_END_NODE with no open node at struct offset", off);
			item->type = FDT_END_NODE;
			item->depth = it->depth;
			it->depth--;
			it->off = off + 4;
			return true;
		case FDT_PROP: {
			if (it->depth == 0)
				return fail(err, "property outside any node at struct offset", off);
			if (rest < 8)
				return fail(err, "truncated property header at struct offset", off);
			uint32_t len = fdt_be32(body);
			uint32_t nameoff = fdt_be32(body + 4);

			if (len > rest - 8)
				return fail(err, "property value overruns the structure block at struct offset", off);
			if (nameoff >= f->strings_size)
				return fail(err, "property name offset outside the strings block at struct offset", off);
			if (bounded_strlen(f->strings + nameoff, f->strings_size - nameoff) ==
			    f->strings_size - nameoff)
				return fail(err, "unterminated property name at struct offset", off);
			it->off = align4(off + 12 + len);
			item->type = FDT_PROP;
			item->depth = it->depth;
			item->name = f->strings + nameoff;
			item->value = body + 8;
			item->len = len;
			return true;
		}
		case FDT_NOP:
			it->off = off + 4;
			continue;
		case FDT_END:
			if (it->depth != 0)
				return fail(err, "FDT_END inside an open node at struct offset", off);
			if (!it->seen_root)
				return fail(err, "no root node before FDT_END at struct offset", off);
			it->done = true;
			item->type = FDT_END;
			item->depth = 0;
			return true;
		default:
			return fail(err, "unknown token at struct offset", off);
		}
	}
}

uint64_t fdt_read_cells(const uint8_t *p, uint32_t cells)
{
	uint64_t v = fdt_be32(p);

	if (cells == 2)
		v = (v << 32) | fdt_be32(p + 4);
	return v;
}

bool fdt_streq(const char *a, const char *b)
{
	while (*a != '\0' && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

bool fdt_starts_with(const char *s, const char *prefix)
{
	while (*prefix != '\0') {
		if (*s++ != *prefix++)
			return false;
	}
	return true;
}

bool fdt_prop_is_string(const struct fdt_item *item)
{
	return item->len > 0 && item->value[item->len - 1] == '\0';
}

bool fdt_prop_is(const struct fdt_item *item, const char *s)
{
	/* The value must be NUL-terminated, so comparing as C strings stays in bounds... */
	if (!fdt_prop_is_string(item))
		return false;
	/* ...and have no bytes after that first string. */
	return fdt_streq((const char *)item->value, s) &&
	       bounded_strlen((const char *)item->value, item->len) == item->len - 1;
}
