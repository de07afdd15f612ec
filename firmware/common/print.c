#include <stdint.h>

#include "print.h"
#include "uart.h"

void print_hex(uint64_t v)
{
	char digits[16];
	int n = 0;

	do {
		digits[n++] = "0123456789abcdef"[v & 0xf];
		v >>= 4;
	} while (v != 0);
	uart_putc('0');
	uart_putc('x');
	while (n > 0)
		uart_putc(digits[--n]);
}

void print_dec(uint64_t v)
{
	char digits[20];
	int n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		uart_putc(digits[--n]);
}
