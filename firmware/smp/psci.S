/*
 * SMCCC calls (x0 = function, x1..x3 = arguments, result in x0), the
 * secondary cores' entry point, and the LDAXR/STLXR primitives.
 */

	.macro	FUNC, name
	.section .text.\name, "ax", %progbits
	.balign	4
	.global	\name
	.type	\name, %function
\name:
	.endm

/* uint64_t smccc_hvc(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3) */
FUNC smccc_hvc
	hvc	#0
	ret

FUNC smccc_smc
	smc	#0
	ret

/*
 * PSCI CPU_ON enters here at EL1, MMU off, x0 = the context id. Its low
 * byte is the core's index in main.c's tables: pick that stack and run
 * secondary_main(context), which never returns.
 */
#define SEC_STACK 4096

FUNC secondary_entry
	and	x1, x0, #0xff
	add	x1, x1, #1
	adrp	x2, sec_stacks
	add	x2, x2, :lo12:sec_stacks
	mov	x3, #SEC_STACK
	madd	x1, x1, x3, x2		/* top of stack `index` */
	mov	sp, x1
	mov	x29, #0
	bl	secondary_main
1:	wfe
	b	1b

/* void spin_lock(uint32_t *lock): LDAXR/STLXR, WFE while it is taken */
FUNC spin_lock
	mov	w3, #1
	sevl
1:	wfe
2:	ldaxr	w1, [x0]
	cbnz	w1, 1b
	stlxr	w2, w3, [x0]
	cbnz	w2, 2b
	ret

/* void spin_unlock(uint32_t *lock): release, then wake the waiters */
FUNC spin_unlock
	stlr	wzr, [x0]
	dsb	ish
	sev
	ret

/* uint32_t atomic_inc(uint32_t *p): returns the new value */
FUNC atomic_inc
1:	ldaxr	w1, [x0]
	add	w1, w1, #1
	stlxr	w2, w1, [x0]
	cbnz	w2, 1b
	mov	w0, w1
	ret

	.section .bss.sec_stacks, "aw", %nobits
	.balign	16
	.global	sec_stacks
sec_stacks:
	.space	SEC_STACK * 8
