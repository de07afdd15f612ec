/*
 * EL1 exception vectors with C handlers, for firmwares that provoke
 * exceptions on purpose (exceptions/, mmu/). Not part of COMMON_SRCS: a
 * firmware that wants it lists common/vectors.S and common/exc.c itself.
 *
 * Every vector entry saves the interrupted context in a struct exc_frame
 * on the SP_EL1 stack and calls the handler given to exc_install(). When
 * the handler returns, x0-x30, ELR_EL1 and SPSR_EL1 are reloaded from the
 * frame (so the handler may change where and how the ERET returns) and
 * the entry returns with ERET.
 *
 * exc_try() runs a function and lets a handler abandon it: a handler that
 * calls exc_unwind() makes the ERET land in exc_try's caller at EL1h, with
 * exc_try returning 1. This works from any EL and stack, so a test can
 * drop to EL0 (el0_enter) and come back through an SVC or a fault.
 */
#ifndef FW_EXC_H
#define FW_EXC_H

#include <stdint.h>

/* Offsets of the vector groups in the table (VBAR_EL1 + group + kind). */
#define VEC_CUR_SP0 0x000	/* from the current EL with SP_EL0 (ELxt) */
#define VEC_CUR_SPX 0x200	/* from the current EL with SP_ELx (ELxh) */
#define VEC_LOWER_A64 0x400	/* from a lower EL in AArch64 */
#define VEC_LOWER_A32 0x600	/* from a lower EL in AArch32 */
#define VEC_SYNC 0x000
#define VEC_IRQ 0x080
#define VEC_FIQ 0x100
#define VEC_SERROR 0x180

/* ESR_ELx fields. */
#define ESR_EC(esr) (((esr) >> 26) & 0x3f)
#define ESR_IL (1UL << 25)
#define ESR_ISS(esr) ((esr) & 0x1ffffff)

/* Exception classes (ESR_ELx.EC). */
#define EC_UNKNOWN 0x00
#define EC_WFX 0x01
#define EC_FP 0x07
#define EC_ILLEGAL 0x0e
#define EC_SVC64 0x15
#define EC_HVC64 0x16
#define EC_SMC64 0x17
#define EC_SYSREG 0x18
#define EC_IABT_LOWER 0x20
#define EC_IABT_CUR 0x21
#define EC_PC_ALIGN 0x22
#define EC_DABT_LOWER 0x24
#define EC_DABT_CUR 0x25
#define EC_SP_ALIGN 0x26
#define EC_BRK64 0x3c

/* SPSR_EL1 images. */
#define SPSR_M_EL0T 0x0
#define SPSR_M_EL1T 0x4
#define SPSR_M_EL1H 0x5
#define SPSR_M_EL2H 0x9
#define SPSR_DAIF (0xfUL << 6)
#define SPSR_IL (1UL << 20)

/* What a vector entry saves; the layout is shared with vectors.S. */
struct exc_frame {
	uint64_t x[31];		/* x0..x30 when the exception was taken */
	uint64_t elr;		/* ELR_EL1: where ERET returns to */
	uint64_t spsr;		/* SPSR_EL1: the PSTATE ERET restores */
	uint64_t esr;		/* ESR_EL1 at entry */
	uint64_t far;		/* FAR_EL1 at entry (UNKNOWN for some classes) */
	uint64_t vector;	/* offset of the entry taken, 0x000..0x780 */
};

typedef void (*exc_handler_t)(struct exc_frame *f);

/* The table (2 KiB aligned), in vectors.S. */
extern char exc_vectors[];

/*
 * Point VBAR_EL1 at exc_vectors and send every exception to `h`. With
 * h == 0 an exception prints the frame and exits (semihosting) with 100.
 */
void exc_install(exc_handler_t h);

/* Runs fn(arg); returns 0 if it returned, 1 if a handler unwound it. */
uint64_t exc_try(void (*fn)(uint64_t), uint64_t arg);

/* From a handler: let the ERET resume exc_try's caller (at EL1h). */
void exc_unwind(struct exc_frame *f);

/*
 * ERET with ELR_EL1 = pc, SPSR_EL1 = spsr, SP_EL0 = sp and x0 = x0; the
 * way to reach EL0. Only an exception (and exc_unwind) comes back.
 */
__attribute__((noreturn)) void el0_enter(uint64_t pc, uint64_t sp, uint64_t spsr, uint64_t x0);

/* Print a frame on the UART (for unexpected exceptions). */
void exc_print(const struct exc_frame *f);

#endif
