/*
 * Entry point shared by all Preboard firmwares.
 *
 * Boot contract (arm64 Linux boot protocol style): entered at _start with
 * the MMU off, at EL1 (EL2 and EL3 work too), x0 = physical address of the
 * DTB or 0. The boot core (MPIDR_EL1.Aff0 == 0) sets up the stack, zeroes
 * .bss and calls
 *
 *	int fw_main(uint64_t dtb);
 *
 * with the untouched x0. A return from fw_main exits through semihosting
 * with its return value as the exit code. Other cores park in a wfe loop.
 */

#define STACK_SIZE 0x4000

	.section .text.boot, "ax", %progbits
	.global _start
	.type _start, %function
_start:
	mov	x19, x0			/* keep the DTB pointer */
	mrs	x1, mpidr_el1
	and	x1, x1, #0xff		/* Aff0 */
	cbnz	x1, park

	adrp	x1, __stack_top
	add	x1, x1, :lo12:__stack_top
	mov	sp, x1
	mov	x29, #0			/* end of the frame-pointer chain */

	/* Zero .bss (16-byte aligned at both ends, see link.ld). */
	adrp	x1, __bss_start
	add	x1, x1, :lo12:__bss_start
	adrp	x2, __bss_end
	add	x2, x2, :lo12:__bss_end
1:	cmp	x1, x2
	b.hs	2f
	stp	xzr, xzr, [x1], #16
	b	1b

2:	mov	x0, x19
	bl	fw_main
	bl	semihost_exit		/* exit code = fw_main's return value */

park:
	wfe
	b	park
	.size _start, . - _start

	/* The boot stack; lives in .bss, so the loop above zeroes it too. */
	.section .bss.stack, "aw", %nobits
	.balign 16
	.space STACK_SIZE
	.global __stack_top
__stack_top:
