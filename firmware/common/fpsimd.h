/*
 * Turning on FP/SIMD. Out of reset CPACR_EL1.FPEN traps every FP/SIMD
 * instruction (EC 0x07); firmwares that use the vector registers call
 * fpsimd_enable() before the first one. It uses general registers only, and
 * so must its caller: GCC may use vector registers anywhere in a function
 * compiled without -mgeneral-regs-only (or __attribute__((target(
 * "general-regs-only")))), even before the call.
 */
#ifndef FW_FPSIMD_H
#define FW_FPSIMD_H

#include "arch.h"

#define CPACR_EL1_FPEN (3UL << 20)	/* no FP/SIMD trap at EL0 or EL1 */
#define CPTR_ELx_TFP (1UL << 10)	/* CPTR_EL2 (E2H = 0) and CPTR_EL3: trap FP/SIMD */

/* Let this and lower exception levels use FP/SIMD. */
static inline void fpsimd_enable(void)
{
	unsigned int el = current_el();

	if (el >= 3)
		write_sysreg(cptr_el3, read_sysreg(cptr_el3) & ~CPTR_ELx_TFP);
	if (el >= 2)
		write_sysreg(cptr_el2, read_sysreg(cptr_el2) & ~CPTR_ELx_TFP);
	write_sysreg(cpacr_el1, read_sysreg(cpacr_el1) | CPACR_EL1_FPEN);
	__asm__ volatile("isb" : : : "memory");
}

#endif
