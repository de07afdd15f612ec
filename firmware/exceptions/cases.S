/*
 * The instructions the exceptions firmware provokes, each at a global
 * label (x_*) so main.c knows the address ELR_EL1/FAR_EL1 must report.
 *
 * t_* run at EL1 through exc_try(t_*, arg) (arg in x0) and end in `ret`;
 * e_* run at EL0 (entered with el0_enter, x0 = arg) and end in
 * `svc #0xd0` ("done"), which is what the handler sees if the interesting
 * instruction did not trap.
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

/* Store x0 in t_result (a uint64_t in main.c). Clobbers x9. */
	.macro	RESULT, reg
	adrp	x9, t_result
	str	\reg, [x9, :lo12:t_result]
	.endm

/* ---- EL1 ---- */

FUNC t_svc
AT x_svc
	svc	#0x1234
	ret

FUNC t_svc_sp0			/* SVC with SP_EL0 selected: the SP0 vector group */
	msr	spsel, #0
AT x_svc_sp0
	svc	#0x77
	msr	spsel, #1
	ret

FUNC t_brk
AT x_brk
	brk	#0x4321
	ret

FUNC t_udf
AT x_udf
	udf	#0x5a
	ret

FUNC t_hvc			/* x0 = 0 is no PSCI function number */
	mov	x0, #0
AT x_hvc
	hvc	#0x11
	RESULT	x0
	ret

FUNC t_smc
	mov	x0, #0
AT x_smc
	smc	#0x22
	RESULT	x0
	ret

FUNC t_hlt			/* HLT other than the semihosting #0xf000 */
AT x_hlt
	hlt	#0x1
	ret

FUNC t_load			/* x0 = address */
AT x_load
	ldr	x1, [x0]
	RESULT	x1
	ret

FUNC t_store			/* x0 = address */
AT x_store
	str	x0, [x0]
	ret

FUNC t_br			/* x0 = branch target */
AT x_br
	br	x0
AT x_br_target
	nop
	ret

FUNC t_sp_align			/* x0 = value for SP_EL0, used as a base */
	msr	spsel, #0
	mov	sp, x0
AT x_sp_align
	ldr	x1, [sp]
	msr	spsel, #1
	ret

FUNC t_mrs_unimpl		/* op0=3 op1=0 CRn=13 CRm=0 op2=0: unallocated */
AT x_mrs_unimpl
	mrs	x1, s3_0_c13_c0_0
	ret

FUNC t_msr_ro			/* MSR to MIDR_EL1, which is read-only */
AT x_msr_ro
	msr	s3_0_c0_c0_0, xzr
	ret

FUNC t_fp
AT x_fp
	fmov	d0, xzr
	ret

FUNC t_eret			/* x0 = SPSR for an ERET to x_eret_target */
	msr	spsr_el1, x0
	adr	x1, x_eret_target
	msr	elr_el1, x1
	eret
AT x_eret_target
	mrs	x0, spsel
	mrs	x1, nzcv
	orr	x0, x0, x1
	RESULT	x0
	msr	spsel, #1
	ret

/* ---- EL0 ---- */

FUNC e_svc			/* reports NZCV in x0 and SP in x1 */
	mrs	x0, nzcv
	mov	x1, sp
AT x_e_svc
	svc	#0x42
	b	.

FUNC e_mrs_sctlr
AT x_e_mrs_sctlr
	mrs	x5, sctlr_el1
	svc	#0xd0

FUNC e_ctr
AT x_e_ctr
	mrs	x5, ctr_el0
	mov	x0, x5
	svc	#0xd0

FUNC e_dczid
	mrs	x0, dczid_el0
	svc	#0xd0

FUNC e_daifset
AT x_e_daifset
	msr	daifset, #2
	svc	#0xd0

FUNC e_mrs_daif
AT x_e_mrs_daif
	mrs	x7, daif
	svc	#0xd0

FUNC e_spsel
AT x_e_spsel
	msr	spsel, #1
	svc	#0xd0

FUNC e_dczva			/* x0 = address */
AT x_e_dczva
	dc	zva, x0
	svc	#0xd0

FUNC e_dccvau			/* x0 = address */
AT x_e_dccvau
	dc	cvau, x0
	svc	#0xd0

FUNC e_eret
AT x_e_eret
	eret
	svc	#0xd0

FUNC e_hvc			/* x0 = 0 */
AT x_e_hvc
	hvc	#0
	svc	#0xd0

FUNC e_smc
AT x_e_smc
	smc	#0
	svc	#0xd0

FUNC e_brk
AT x_e_brk
	brk	#7
	svc	#0xd0

FUNC e_load			/* x0 = address */
AT x_e_load
	ldr	x1, [x0]
	svc	#0xd0

FUNC e_sp_align			/* x0 = value for SP (SP_EL0) */
	mov	sp, x0
AT x_e_sp_align
	ldr	x1, [sp]
	svc	#0xd0

FUNC e_fp
AT x_e_fp
	fmov	d0, xzr
	svc	#0xd0

FUNC e_wfi
AT x_e_wfi
	wfi
	svc	#0xd0

FUNC e_wfe			/* the ERET here set the event register */
	sevl			/* (Arm ARM), so consume it first: a WFE */
	wfe			/* with the event set completes untrapped */
AT x_e_wfe
	wfe
	svc	#0xd0
