/*
 * The instructions the els firmware provokes, each at a global label x_*
 * so main.c knows what ELR/FAR must say. Each t_* is called as fn(arg)
 * through run_here/run_lower at the EL under test and ends in `ret`.
 */

	.macro	FUNC, name
	.section .text.\name, "ax", %progbits
	.balign	4
	.global	\name
	.type	\name, %function
\name:
	.endm

	.macro	AT, name
	.global	\name
\name:
	.endm

/* Store a register in t_result (main.c). Clobbers x9. */
	.macro	RESULT, reg
	adrp	x9, t_result
	str	\reg, [x9, :lo12:t_result]
	.endm

FUNC t_where			/* t_result = CurrentEL | SPSel */
	mrs	x1, CurrentEL
	mrs	x2, spsel
	orr	x1, x1, x2
	RESULT	x1
	ret

FUNC t_hvc
AT x_hvc
	hvc	#0x1234
	ret

FUNC t_smc
AT x_smc
	smc	#0x22
	ret

FUNC t_svc
AT x_svc
	svc	#0x33
	ret

FUNC t_wfi
AT x_wfi
	wfi
	ret

FUNC t_udf
AT x_udf
	udf	#7
	ret

FUNC t_load			/* x0 = address */
AT x_load
	ldr	x1, [x0]
	ret

FUNC t_store			/* x0 = address */
AT x_store
	str	x0, [x0]
	ret

FUNC t_eret_el2			/* x0 = SPSR_EL2 for an ERET to x_eret2_target */
	msr	spsr_el2, x0
	adr	x1, x_eret2_target
	msr	elr_el2, x1
	eret
AT x_eret2_target
	nop
	ret

FUNC t_eret_el3			/* x0 = SPSR_EL3 for an ERET to x_eret3_target */
	msr	spsr_el3, x0
	adr	x1, x_eret3_target
	msr	elr_el3, x1
	eret
AT x_eret3_target
	nop
	ret

/*
 * Enable the EL1 physical timer with CVAL = 0 (already expired) and spin:
 * the IRQ can only come once the MSR has enabled it, so whenever it is
 * taken, ELR is x_spin.
 */
FUNC t_irq_spin
	msr	cntp_cval_el0, xzr
	isb
	mov	x1, #1			/* ENABLE, IMASK = 0 */
	msr	cntp_ctl_el0, x1
AT x_spin
	b	x_spin

/*
 * With PSTATE.I set: arm the timer, wait for CNTP_CTL.ISTATUS, record
 * t_result = 1 (nothing was taken meanwhile), then unmask IRQs: the
 * interrupt is taken before the instruction after the MSR.
 */
FUNC t_irq_unmask
	mrs	x1, cntpct_el0
	add	x1, x1, x0
	msr	cntp_cval_el0, x1
	mov	x1, #1
	msr	cntp_ctl_el0, x1
	isb
1:	mrs	x1, cntp_ctl_el0
	tbz	x1, #2, 1b
	mov	x1, #1
	RESULT	x1
	msr	daifclr, #2
AT x_unmasked
	b	x_unmasked
