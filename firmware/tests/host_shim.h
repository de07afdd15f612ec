/*
 * Force-included (-include) when firmware C files are compiled for the
 * host by host_hello.c. Replaces the parts of common/ that need AArch64
 * hardware; uart.c and semihost.c are replaced by functions in host_hello.c.
 */
#ifndef FW_HOST_SHIM_H
#define FW_HOST_SHIM_H

#include <stdint.h>

/* Stand-ins for arch.h: the values QEMU's virt board reports at EL1. */
#define FW_ARCH_H
#define read_sysreg(reg) ((uint64_t)0x80000000u)
static inline unsigned int current_el(void)
{
	return 1;
}
__attribute__((noreturn)) void halt(void);

#endif
