#include <stdint.h>

#include "check.h"
#include "print.h"
#include "uart.h"

static const char *cur_prefix = "";
static const char *cur_name = "";
static const char *cur_deviation;
static int cur_failed;
static unsigned failures;

void check_prefix(const char *prefix)
{
	cur_prefix = prefix;
}

void check_begin(const char *name)
{
	cur_name = name;
	cur_failed = 0;
	cur_deviation = 0;
}

static void case_name(const char *tag)
{
	uart_puts(tag);
	uart_puts(cur_prefix);
	uart_puts(cur_name);
}

void check_eq(const char *what, uint64_t want, uint64_t got)
{
	if (want == got)
		return;
	case_name("FAIL ");
	uart_puts(": want ");
	uart_puts(what);
	uart_puts(" ");
	print_hex(want);
	uart_puts(" got ");
	print_hex(got);
	uart_puts("\n");
	cur_failed = 1;
}

void check_deviation(const char *why)
{
	cur_deviation = why;
}

int check_end(void)
{
	if (cur_failed) {
		failures++;
		return 1;
	}
	if (cur_deviation) {
		case_name("deviation ");
		uart_puts(": ");
		uart_puts(cur_deviation);
		uart_puts("\n");
		return 0;
	}
	case_name("ok ");
	uart_puts("\n");
	return 0;
}

unsigned check_failures(void)
{
	return failures;
}
