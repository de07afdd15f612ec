/* Polled output on the board's first PL011 UART. */
#ifndef FW_UART_H
#define FW_UART_H

/* Write one byte; waits while the transmit FIFO is full. No "\n" -> "\r\n". */
void uart_putc(char c);

/* Write a NUL-terminated string. */
void uart_puts(const char *s);

#endif
