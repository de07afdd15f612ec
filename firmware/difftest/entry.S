/*
 * difftest: the assembly half of the differential-test harness (see
 * harness.c and firmware/README.md).
 *
 *   _start           process entry: calls difftest_main(), exits with its value
 *   run_case         saves the harness's callee-saved registers and SP, then
 *                    jumps to the trampoline copied in front of the test code
 *   difftest_resume  where the signal handler sends the core when a case
 *                    ends (marker UDF) or faults: restores the harness's
 *                    registers and returns from run_case
 *   tramp_start..tramp_end
 *                    position-independent trampoline, copied so that it falls
 *                    through into the test code: loads FPCR, V0-V31, FPSR,
 *                    NZCV, TPIDR_EL0, SP and X0-X30 from the state block
 *                    whose address is in x0
 */

/* State block layout (shared with harness.c and the Rust side). */
#define ST_X	0	/* x0..x30: 31 * 8 bytes */
#define ST_SP	248
#define ST_NZCV	256
#define ST_TPIDR 264
#define ST_FPCR	272
#define ST_FPSR	280
#define ST_V	288	/* v0..v31: 32 * 16 bytes, 16-byte aligned */

	.arch	armv8-a+fp+simd

	.text
	.global _start
	.type _start, %function
_start:
	mov	x29, #0
	mov	x30, #0
	bl	difftest_main
	mov	x8, #94			/* exit_group */
	svc	#0
	b	.
	.size _start, . - _start

/* void run_case(const uint64_t *state, uint64_t trampoline) */
	.global run_case
	.type run_case, %function
run_case:
	adrp	x9, saved_regs
	add	x9, x9, :lo12:saved_regs
	stp	x19, x20, [x9, #0]
	stp	x21, x22, [x9, #16]
	stp	x23, x24, [x9, #32]
	stp	x25, x26, [x9, #48]
	stp	x27, x28, [x9, #64]
	stp	x29, x30, [x9, #80]
	mov	x10, sp
	str	x10, [x9, #96]
	br	x1
	.size run_case, . - run_case

	.global difftest_resume
	.type difftest_resume, %function
difftest_resume:
	adrp	x9, saved_regs
	add	x9, x9, :lo12:saved_regs
	ldr	x10, [x9, #96]
	mov	sp, x10
	ldp	x19, x20, [x9, #0]
	ldp	x21, x22, [x9, #16]
	ldp	x23, x24, [x9, #32]
	ldp	x25, x26, [x9, #48]
	ldp	x27, x28, [x9, #64]
	ldp	x29, x30, [x9, #80]
	ret
	.size difftest_resume, . - difftest_resume

/* Signal return trampoline for SA_RESTORER. */
	.global difftest_sigreturn
	.type difftest_sigreturn, %function
difftest_sigreturn:
	mov	x8, #139		/* rt_sigreturn */
	svc	#0
	b	.
	.size difftest_sigreturn, . - difftest_sigreturn

	.section .rodata.tramp, "a", %progbits
	.balign 4
	.global tramp_start, tramp_end
tramp_start:
	clrex				/* no exclusive monitor state leaks between cases */
	ldr	x1, [x0, #ST_FPCR]	/* FPCR first: nothing below depends on it */
	msr	fpcr, x1
	ldp	q0, q1, [x0, #ST_V + 0]
	ldp	q2, q3, [x0, #ST_V + 32]
	ldp	q4, q5, [x0, #ST_V + 64]
	ldp	q6, q7, [x0, #ST_V + 96]
	ldp	q8, q9, [x0, #ST_V + 128]
	ldp	q10, q11, [x0, #ST_V + 160]
	ldp	q12, q13, [x0, #ST_V + 192]
	ldp	q14, q15, [x0, #ST_V + 224]
	ldp	q16, q17, [x0, #ST_V + 256]
	ldp	q18, q19, [x0, #ST_V + 288]
	ldp	q20, q21, [x0, #ST_V + 320]
	ldp	q22, q23, [x0, #ST_V + 352]
	ldp	q24, q25, [x0, #ST_V + 384]
	ldp	q26, q27, [x0, #ST_V + 416]
	ldp	q28, q29, [x0, #ST_V + 448]
	ldp	q30, q31, [x0, #ST_V + 480]
	ldr	x1, [x0, #ST_FPSR]
	msr	fpsr, x1
	ldr	x1, [x0, #ST_NZCV]
	msr	nzcv, x1
	ldr	x1, [x0, #ST_TPIDR]
	msr	tpidr_el0, x1
	ldr	x1, [x0, #ST_SP]
	mov	sp, x1
	ldp	x2, x3, [x0, #16]
	ldp	x4, x5, [x0, #32]
	ldp	x6, x7, [x0, #48]
	ldp	x8, x9, [x0, #64]
	ldp	x10, x11, [x0, #80]
	ldp	x12, x13, [x0, #96]
	ldp	x14, x15, [x0, #112]
	ldp	x16, x17, [x0, #128]
	ldp	x18, x19, [x0, #144]
	ldp	x20, x21, [x0, #160]
	ldp	x22, x23, [x0, #176]
	ldp	x24, x25, [x0, #192]
	ldp	x26, x27, [x0, #208]
	ldp	x28, x29, [x0, #224]
	ldr	x30, [x0, #240]
	ldr	x1, [x0, #8]
	ldr	x0, [x0]
tramp_end:

	.bss
	.balign 16
saved_regs:
	.skip	112
