/*
 * bench-int natively: bench-int/main.c + bench-int/kernels.c built for the
 * host (with AddressSanitizer and UBSan by `make host-test`), with the UART
 * writing to stdout. Its output must equal bench-int/qemu-virt.expected and
 * its exit code must be 0, so the expected checksums compiled into the
 * firmware are the ones a native build computes.
 */
#include <stdint.h>
#include <stdio.h>

#include "uart.h"

int fw_main(uint64_t dtb);

void uart_putc(char c)
{
	putchar(c);
}

void uart_puts(const char *s)
{
	fputs(s, stdout);
}

int main(void)
{
	return fw_main(0);
}
