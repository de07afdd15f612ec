/*
 * Physical addresses of the QEMU `virt` board (Preboard's default board)
 * that the firmwares rely on before they have read the device tree.
 */
#ifndef FW_BOARD_H
#define FW_BOARD_H

/* First PL011 UART. */
#define VIRT_UART0_BASE 0x09000000UL

/* Start of RAM; QEMU places the DTB here when it boots a bare ELF image. */
#define VIRT_RAM_BASE 0x40000000UL

#endif
