/* Number formatting on top of uart_putc (no printf). */
#ifndef FW_PRINT_H
#define FW_PRINT_H

#include <stdint.h>

/* "0x" followed by the value in lower-case hex, without leading zeros. */
void print_hex(uint64_t v);

/* Unsigned decimal. */
void print_dec(uint64_t v);

#endif
