/*
 * Vector tables for EL3, EL2 and EL1 (one macro, instantiated per EL), and
 * the way the EL3 test driver runs code at any EL (see main.c):
 *
 *	uint64_t run_here(void (*fn)(uint64_t), uint64_t arg);
 *	uint64_t run_lower(uint64_t spsr, void (*fn)(uint64_t), uint64_t arg);
 *
 * Both save the driver's callee-saved registers, LR and SP. run_here calls
 * fn(arg) at EL3 and returns 0; run_lower ERETs with SPSR_EL3 = spsr to
 * lower_tramp, which calls fn(arg) at that EL and then executes the escape
 * instruction (x_escape: an FP instruction, trapped to EL3 by CPTR_EL3.TFP
 * from every EL). The EL3 handler ends either kind of run by pointing
 * ELR_EL3 at run_resume (EL3h), which reloads the context and returns 1.
 *
 * Every vector entry saves a struct el_frame (main.c) on the stack of the
 * EL it is taken to and calls el_dispatch(frame); x0-x30, ELR_ELx and
 * SPSR_ELx are reloaded from the frame before the ERET.
 */

#define FRAME_SIZE	304	/* sizeof(struct el_frame), a multiple of 16 */
#define F_X30		240
#define F_ELR		248	/* elr, spsr */
#define F_ESR		264	/* esr, far */
#define F_VECTOR	280	/* vector, el */

	.macro	ventry, el, off
	.balign	0x80
	sub	sp, sp, #FRAME_SIZE
	stp	x0, x1, [sp]
	mov	x1, #\off
	b	entry_el\el
	.endm

	.macro	vectors, el
	.section .text.vectors_el\el, "ax", %progbits
	.balign	0x800
	.global	vectors_el\el
vectors_el\el:
	ventry	\el, 0x000
	ventry	\el, 0x080
	ventry	\el, 0x100
	ventry	\el, 0x180
	ventry	\el, 0x200
	ventry	\el, 0x280
	ventry	\el, 0x300
	ventry	\el, 0x380
	ventry	\el, 0x400
	ventry	\el, 0x480
	ventry	\el, 0x500
	ventry	\el, 0x580
	ventry	\el, 0x600
	ventry	\el, 0x680
	ventry	\el, 0x700
	ventry	\el, 0x780

	.balign	0x80
entry_el\el:
	stp	x2, x3, [sp, #16]
	stp	x4, x5, [sp, #32]
	stp	x6, x7, [sp, #48]
	stp	x8, x9, [sp, #64]
	stp	x10, x11, [sp, #80]
	stp	x12, x13, [sp, #96]
	stp	x14, x15, [sp, #112]
	stp	x16, x17, [sp, #128]
	stp	x18, x19, [sp, #144]
	stp	x20, x21, [sp, #160]
	stp	x22, x23, [sp, #176]
	stp	x24, x25, [sp, #192]
	stp	x26, x27, [sp, #208]
	stp	x28, x29, [sp, #224]
	str	x30, [sp, #F_X30]
	mrs	x2, elr_el\el
	mrs	x3, spsr_el\el
	stp	x2, x3, [sp, #F_ELR]
	mrs	x2, esr_el\el
	mrs	x3, far_el\el
	stp	x2, x3, [sp, #F_ESR]
	mov	x2, #\el
	stp	x1, x2, [sp, #F_VECTOR]
	mov	x0, sp
	bl	el_dispatch
	ldp	x2, x3, [sp, #F_ELR]
	msr	elr_el\el, x2
	msr	spsr_el\el, x3
	ldp	x0, x1, [sp]
	ldp	x2, x3, [sp, #16]
	ldp	x4, x5, [sp, #32]
	ldp	x6, x7, [sp, #48]
	ldp	x8, x9, [sp, #64]
	ldp	x10, x11, [sp, #80]
	ldp	x12, x13, [sp, #96]
	ldp	x14, x15, [sp, #112]
	ldp	x16, x17, [sp, #128]
	ldp	x18, x19, [sp, #144]
	ldp	x20, x21, [sp, #160]
	ldp	x22, x23, [sp, #176]
	ldp	x24, x25, [sp, #192]
	ldp	x26, x27, [sp, #208]
	ldp	x28, x29, [sp, #224]
	ldr	x30, [sp, #F_X30]
	add	sp, sp, #FRAME_SIZE
	eret
	.size	vectors_el\el, . - vectors_el\el
	.endm

	vectors	3
	vectors	2
	vectors	1

	.macro	save_ctx
	adrp	x9, run_ctx
	add	x9, x9, :lo12:run_ctx
	stp	x19, x20, [x9, #0]
	stp	x21, x22, [x9, #16]
	stp	x23, x24, [x9, #32]
	stp	x25, x26, [x9, #48]
	stp	x27, x28, [x9, #64]
	stp	x29, x30, [x9, #80]
	mov	x10, sp
	str	x10, [x9, #96]
	.endm

	.section .text.run, "ax", %progbits
	.balign	4
	.global	run_here
	.type	run_here, %function
run_here:
	save_ctx
	mov	x9, x0
	mov	x0, x1
	blr	x9
	mov	x0, #0
	b	1f
	.global	run_resume
run_resume:
	mov	x0, #1
1:	adrp	x9, run_ctx
	add	x9, x9, :lo12:run_ctx
	ldp	x19, x20, [x9, #0]
	ldp	x21, x22, [x9, #16]
	ldp	x23, x24, [x9, #32]
	ldp	x25, x26, [x9, #48]
	ldp	x27, x28, [x9, #64]
	ldp	x29, x30, [x9, #80]
	ldr	x10, [x9, #96]
	mov	sp, x10
	ret
	.size	run_here, . - run_here

	.global	run_lower
	.type	run_lower, %function
run_lower:
	save_ctx
	msr	spsr_el3, x0
	adr	x9, lower_tramp
	msr	elr_el3, x9
	mov	x0, x1
	mov	x1, x2
	eret
lower_tramp:			/* at the lower EL: x0 = fn, x1 = arg */
	mov	x9, x0
	mov	x0, x1
	blr	x9
	.global	x_escape
x_escape:
	fmov	d0, xzr		/* CPTR_EL3.TFP: to EL3, EC 0x07 */
	b	.
	.size	run_lower, . - run_lower

	.section .bss.run_ctx, "aw", %nobits
	.balign	16
run_ctx:
	.space	112
