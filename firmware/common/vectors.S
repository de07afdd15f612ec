/*
 * The EL1 vector table and exc_try/el0_enter (see exc.h).
 *
 * Each of the 16 entries makes room for a struct exc_frame on the stack
 * (SP_EL1: taking an exception to EL1 always selects it), saves x0/x1,
 * puts its own offset in x1 and branches to exc_entry, which saves the
 * rest, calls exc_dispatch(frame) and returns from the (possibly
 * rewritten) frame with ERET.
 */

#define FRAME_SIZE	288	/* sizeof(struct exc_frame), a multiple of 16 */
#define F_X30		240
#define F_ELR		248	/* elr, then spsr */
#define F_ESR		264	/* esr, then far */
#define F_VECTOR	280

	.macro	ventry, off
	.balign	0x80
	sub	sp, sp, #FRAME_SIZE
	stp	x0, x1, [sp]
	mov	x1, #\off
	b	exc_entry
	.endm

	.section .text.exc_vectors, "ax", %progbits
	.balign	0x800
	.global	exc_vectors
exc_vectors:
	ventry	0x000		/* current EL, SP_EL0: sync, IRQ, FIQ, SError */
	ventry	0x080
	ventry	0x100
	ventry	0x180
	ventry	0x200		/* current EL, SP_ELx */
	ventry	0x280
	ventry	0x300
	ventry	0x380
	ventry	0x400		/* lower EL, AArch64 */
	ventry	0x480
	ventry	0x500
	ventry	0x580
	ventry	0x600		/* lower EL, AArch32 */
	ventry	0x680
	ventry	0x700
	ventry	0x780

	.balign	0x80
exc_entry:
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
	mrs	x2, elr_el1
	mrs	x3, spsr_el1
	stp	x2, x3, [sp, #F_ELR]
	mrs	x2, esr_el1
	mrs	x3, far_el1
	stp	x2, x3, [sp, #F_ESR]
	str	x1, [sp, #F_VECTOR]
	mov	x0, sp
	bl	exc_dispatch
	ldp	x2, x3, [sp, #F_ELR]
	msr	elr_el1, x2
	msr	spsr_el1, x3
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
	.size	exc_vectors, . - exc_vectors

/*
 * uint64_t exc_try(void (*fn)(uint64_t), uint64_t arg)
 *
 * Saves the callee-saved registers, LR and SP in exc_try_ctx, then calls
 * fn(arg). A normal return gives 0; exc_unwind() makes the handler's ERET
 * go to exc_try_resume, which reloads the context and returns 1. Not
 * reentrant (one context).
 */
	.section .text.exc_try, "ax", %progbits
	.balign	4
	.global	exc_try
	.type	exc_try, %function
exc_try:
	adrp	x2, exc_try_ctx
	add	x2, x2, :lo12:exc_try_ctx
	stp	x19, x20, [x2, #0]
	stp	x21, x22, [x2, #16]
	stp	x23, x24, [x2, #32]
	stp	x25, x26, [x2, #48]
	stp	x27, x28, [x2, #64]
	stp	x29, x30, [x2, #80]
	mov	x3, sp
	str	x3, [x2, #96]
	mov	x3, x0
	mov	x0, x1
	blr	x3
	mov	x0, #0
	b	1f
	.global	exc_try_resume
exc_try_resume:
	mov	x0, #1
1:	adrp	x2, exc_try_ctx
	add	x2, x2, :lo12:exc_try_ctx
	ldp	x19, x20, [x2, #0]
	ldp	x21, x22, [x2, #16]
	ldp	x23, x24, [x2, #32]
	ldp	x25, x26, [x2, #48]
	ldp	x27, x28, [x2, #64]
	ldp	x29, x30, [x2, #80]
	ldr	x3, [x2, #96]
	mov	sp, x3
	ret
	.size	exc_try, . - exc_try

/* void el0_enter(uint64_t pc, uint64_t sp, uint64_t spsr, uint64_t x0) */
	.section .text.el0_enter, "ax", %progbits
	.balign	4
	.global	el0_enter
	.type	el0_enter, %function
el0_enter:
	msr	sp_el0, x1
	msr	elr_el1, x0
	msr	spsr_el1, x2
	mov	x0, x3
	eret
	.size	el0_enter, . - el0_enter

	.section .bss.exc_try_ctx, "aw", %nobits
	.balign	16
exc_try_ctx:
	.space	112
