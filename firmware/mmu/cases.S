/*
 * Instructions the MMU firmware runs through exc_try (arg in x0), each
 * faulting instruction at a global label (x_*) for the ELR check, and the
 * position-independent code blob main.c copies into test pages.
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

/* Store a register in t_result (a uint64_t in main.c). Clobbers x9. */
	.macro	RESULT, reg
	adrp	x9, t_result
	str	\reg, [x9, :lo12:t_result]
	.endm

FUNC m_load			/* 8-byte load from x0 (any alignment) */
AT x_m_load
	ldr	x1, [x0]
	RESULT	x1
	ret

FUNC m_store			/* 8-byte store of x0 to x0 */
AT x_m_store
	str	x0, [x0]
	ret

FUNC m_call			/* call x0; t_result = what it returns in x0 */
	stp	x29, x30, [sp, #-16]!
AT x_m_call
	blr	x0
	RESULT	x0
	ldp	x29, x30, [sp], #16
	ret

FUNC m_dczva			/* DC ZVA, x0 */
AT x_m_dczva
	dc	zva, x0
	ret

/*
 * The same with PSTATE.PAN set around the access (MSR PAN, #1 / #0 as raw
 * encodings: the file is assembled for v8.0). A fault unwinds through an
 * ERET with SPSR.PAN = 0, which clears it too.
 */
FUNC m_pan_load
	.inst	0xd500419f	/* msr pan, #1 */
AT x_m_pan_load
	ldr	x1, [x0]
	.inst	0xd500409f	/* msr pan, #0 */
	RESULT	x1
	ret

FUNC m_pan_store
	.inst	0xd500419f
AT x_m_pan_store
	str	x0, [x0]
	.inst	0xd500409f
	ret

FUNC m_pan_ldtr			/* unprivileged load: not subject to PAN */
	.inst	0xd500419f
	ldtr	x1, [x0]
	.inst	0xd500409f
	RESULT	x1
	ret

FUNC m_pan_read			/* t_result = PAN as MRS reads it while set */
	.inst	0xd500419f
	mrs	x1, s3_0_c4_c2_3	/* PAN */
	.inst	0xd500409f
	RESULT	x1
	ret

/* Returns its own address: called through an alias, the alias address. */
FUNC alias_probe
	adr	x0, alias_probe
	ret

/*
 * The code blob, copied to the start of two frames and mapped with various
 * permissions. EL1 calls offset 0 (`ret`); EL0 is entered at the others
 * and always ends in an SVC (imm 0x42, 1 and 2 tell which one ran).
 */
	.section .text.code_blob, "ax", %progbits
	.balign	4
	.global	code_blob, code_blob_end
	.global	blob_ret, blob_el0_svc, blob_el0_load, blob_el0_store, blob_el0_br
code_blob:
blob_ret:
	ret
blob_el0_svc:
	svc	#0x42
blob_el0_load:			/* x0 = address */
	ldr	x1, [x0]
	svc	#1
blob_el0_store:			/* x0 = address; stores the address */
	str	x0, [x0]
	svc	#2
blob_el0_br:			/* x0 = target */
	br	x0
code_blob_end:
