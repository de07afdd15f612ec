/*
 * Physical addresses the firmwares rely on before they have read the
 * device tree. The defaults are the QEMU `virt` board's (Preboard's default
 * board); a build for another board overrides them with -D (see the
 * Makefile's board variants, e.g. hello-soc4), together with the link
 * address (common/link.ld, __link_base).
 */
#ifndef FW_BOARD_H
#define FW_BOARD_H

/* The PL011 UART the firmware prints to. */
#ifndef BOARD_UART0_BASE
#define BOARD_UART0_BASE 0x09000000UL
#endif

/*
 * Start of the main RAM; QEMU (and Preboard) place the DTB here when they
 * boot a bare ELF image.
 */
#ifndef BOARD_RAM_BASE
#define BOARD_RAM_BASE 0x40000000UL
#endif

#endif
