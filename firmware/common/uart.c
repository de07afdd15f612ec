/*
 * PL011 transmit path: poll FR.TXFF, then write DR. The UART is used as
 * the loader left it (QEMU and Preboard enable it at reset); no baud-rate
 * or line-control setup is done.
 */
#include <stdint.h>

#include "board.h"
#include "uart.h"

#define PL011_DR 0x00   /* data register */
#define PL011_FR 0x18   /* flag register */
#define PL011_FR_TXFF (1u << 5)   /* transmit FIFO full */

static inline volatile uint32_t *pl011_reg(unsigned long off)
{
	return (volatile uint32_t *)(BOARD_UART0_BASE + off);
}

void uart_putc(char c)
{
	while (*pl011_reg(PL011_FR) & PL011_FR_TXFF)
		;
	*pl011_reg(PL011_DR) = (uint8_t)c;
}

void uart_puts(const char *s)
{
	while (*s)
		uart_putc(*s++);
}
