/*
 * hello: the first firmware Preboard runs. Prints who and where it is,
 * walks the device tree for the board model and the RAM banks, and exits
 * through semihosting. Exit codes: 0 success, 1 no device tree found,
 * 2 the device tree is malformed or lacks what we need.
 */
#include <stdbool.h>
#include <stdint.h>

#include "arch.h"
#include "board.h"
#include "fdt.h"
#include "print.h"
#include "semihost.h"
#include "uart.h"

#define EXIT_NO_DTB 1
#define EXIT_BAD_DTB 2

int fw_main(uint64_t dtb);

/* Finish a "dt error: ..." line with `what` and `value`, and stop. */
static __attribute__((noreturn)) void fail_tail(const char *what, uint64_t value)
{
	uart_puts(what);
	uart_putc(' ');
	print_hex(value);
	uart_putc('\n');
	semihost_exit(EXIT_BAD_DTB);
}

/* Report a device-tree problem; `what` names the quantity `value` holds. */
static __attribute__((noreturn)) void dt_fail(const char *what, uint64_t value)
{
	uart_puts("dt error: ");
	fail_tail(what, value);
}

/* Same, for a problem with a named node or property. */
static __attribute__((noreturn)) void dt_fail_at(const char *name, const char *what,
						 uint64_t value)
{
	uart_puts("dt error: ");
	uart_puts(name);
	uart_puts(": ");
	fail_tail(what, value);
}

/* Next token of a walk; any structural error ends the run. */
static void next(const struct fdt *f, struct fdt_iter *it, struct fdt_item *item)
{
	struct fdt_error err;

	if (!fdt_next(f, it, item, &err))
		dt_fail(err.msg, err.value);
}

/* Properties of the root node we care about. */
struct root_info {
	uint32_t address_cells;
	uint32_t size_cells;
	const char *model;   /* 0 if absent */
};

static uint32_t cells_prop(const struct fdt_item *item)
{
	if (item->len != 4)
		dt_fail_at(item->name, "length is not 4 but", item->len);
	uint32_t v = fdt_be32(item->value);
	/* reg entries are read as 64-bit numbers: 1 or 2 cells. */
	if (v != 1 && v != 2)
		dt_fail_at(item->name, "unsupported value", v);
	return v;
}

/* First pass: check the whole structure block, collect the root's properties. */
static void scan_root(const struct fdt *f, struct root_info *root)
{
	struct fdt_iter it;
	struct fdt_item item;

	/* Defaults from the Devicetree Specification (2.3.5). */
	root->address_cells = 2;
	root->size_cells = 1;
	root->model = 0;

	fdt_iter_init(&it);
	for (next(f, &it, &item); item.type != FDT_END; next(f, &it, &item)) {
		if (item.type != FDT_PROP || item.depth != 1)
			continue;
		if (fdt_streq(item.name, "#address-cells")) {
			root->address_cells = cells_prop(&item);
		} else if (fdt_streq(item.name, "#size-cells")) {
			root->size_cells = cells_prop(&item);
		} else if (fdt_streq(item.name, "model")) {
			if (!fdt_prop_is_string(&item))
				dt_fail("root model is not a string, length", item.len);
			root->model = (const char *)item.value;
		}
	}
}

/* Print the banks of one memory node's reg property; returns their total size. */
static uint64_t print_banks(const char *node, const struct fdt_item *reg,
			    const struct root_info *root)
{
	uint32_t entry = 4 * (root->address_cells + root->size_cells);
	uint64_t total = 0;

	if (reg->len == 0 || reg->len % entry != 0)
		dt_fail_at(node, "reg length is not a multiple of the entry size, length",
			   reg->len);

	for (uint32_t off = 0; off < reg->len; off += entry) {
		const uint8_t *p = reg->value + off;
		uint64_t base = fdt_read_cells(p, root->address_cells);
		uint64_t size = fdt_read_cells(p + 4 * root->address_cells, root->size_cells);

		uart_puts("memory: base ");
		print_hex(base);
		uart_puts(" size ");
		print_hex(size);
		uart_puts(" (");
		print_dec(size >> 20);
		uart_puts(" MiB)\n");
		total += size;
	}
	return total;
}

/* Second pass: every memory node directly under the root. */
static void scan_memory(const struct fdt *f, const struct root_info *root)
{
	struct fdt_iter it;
	struct fdt_item item;
	struct fdt_item reg = { 0 };
	const char *node = "";
	bool is_memory = false, has_reg = false, disabled = false;
	unsigned int nodes = 0;
	uint64_t total = 0;

	fdt_iter_init(&it);
	for (next(f, &it, &item); item.type != FDT_END; next(f, &it, &item)) {
		if (item.depth != 2)
			continue;
		if (item.type == FDT_BEGIN_NODE) {
			node = item.name;
			is_memory = fdt_starts_with(node, "memory@") || fdt_streq(node, "memory");
			has_reg = false;
			disabled = false;
		} else if (item.type == FDT_PROP) {
			if (fdt_streq(item.name, "device_type") && fdt_prop_is(&item, "memory")) {
				is_memory = true;
			} else if (fdt_streq(item.name, "reg")) {
				reg = item;
				has_reg = true;
			} else if (fdt_streq(item.name, "status")) {
				/* As Linux does: only "okay" (or "ok") nodes are usable. */
				disabled = !fdt_prop_is(&item, "okay") && !fdt_prop_is(&item, "ok");
			}
		} else if (item.type == FDT_END_NODE && is_memory) {
			if (disabled) {
				uart_puts("memory: ");
				uart_puts(node);
				uart_puts(" skipped: status is not \"okay\"\n");
				continue;
			}
			if (!has_reg)
				dt_fail_at(node, "memory node without reg, at struct offset", item.off);
			total += print_banks(node, &reg, root);
			nodes++;
		}
	}
	if (nodes == 0) {
		uart_puts("dt error: no usable memory node under the root\n");
		semihost_exit(EXIT_BAD_DTB);
	}

	uart_puts("total memory: ");
	print_dec(total >> 20);
	uart_puts(" MiB\n");
}

/* Pick the DTB: x0 if it points at an FDT, else the start of RAM. */
static uintptr_t find_dtb(uint64_t x0)
{
	uart_puts("dtb: ");
	if (fdt_has_magic(x0)) {
		print_hex(x0);
		uart_puts(" (from x0)\n");
		return x0;
	}
	if (fdt_has_magic(BOARD_RAM_BASE)) {
		print_hex(BOARD_RAM_BASE);
		uart_puts(" (x0 = ");
		print_hex(x0);
		uart_puts(" is not an FDT; found one at the start of RAM)\n");
		return BOARD_RAM_BASE;
	}
	uart_puts("none: no FDT magic at x0 = ");
	print_hex(x0);
	uart_puts(" nor at ");
	print_hex(BOARD_RAM_BASE);
	uart_putc('\n');
	semihost_exit(EXIT_NO_DTB);
}

int fw_main(uint64_t x0)
{
	struct fdt f;
	struct fdt_error err;
	struct root_info root;

	uart_puts("Preboard hello firmware\n");
	uart_puts("CurrentEL: EL");
	print_dec(current_el());
	uart_puts("\nMPIDR_EL1: ");
	print_hex(read_sysreg(mpidr_el1));
	uart_putc('\n');

	if (!fdt_open(&f, find_dtb(x0), &err))
		dt_fail(err.msg, err.value);

	scan_root(&f, &root);
	uart_puts("model: ");
	uart_puts(root.model ? root.model : "(none)");
	uart_putc('\n');

	scan_memory(&f, &root);

	uart_puts("bye\n");
	return 0;
}
