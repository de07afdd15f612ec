/* Small AArch64 helpers: system-register access and hints. */
#ifndef FW_ARCH_H
#define FW_ARCH_H

#include <stdint.h>

/* Read a system register by name, e.g. read_sysreg(mpidr_el1). */
#define read_sysreg(reg)                                        \
	({                                                      \
		uint64_t v_;                                    \
		__asm__ volatile("mrs %0, " #reg : "=r"(v_));   \
		v_;                                             \
	})

/* Write a system register by name (no barrier is implied). */
#define write_sysreg(reg, val)                                          \
	do {                                                            \
		uint64_t v_ = (val);                                    \
		__asm__ volatile("msr " #reg ", %0" : : "r"(v_));       \
	} while (0)

/* Exception level we are running at (0..3), from CurrentEL[3:2]. */
static inline unsigned int current_el(void)
{
	return (unsigned int)(read_sysreg(CurrentEL) >> 2) & 3;
}

static inline void wfe(void)
{
	__asm__ volatile("wfe" : : : "memory");
}

/* Stop this core for good: wait for events forever. */
static inline __attribute__((noreturn)) void halt(void)
{
	for (;;)
		wfe();
}

#endif
