#include <stdint.h>

#include "arch.h"
#include "exc.h"
#include "print.h"
#include "semihost.h"
#include "uart.h"

extern char exc_try_resume[];

static exc_handler_t exc_handler;

/* Called by every vector entry (vectors.S). */
void exc_dispatch(struct exc_frame *f);

void exc_install(exc_handler_t h)
{
	exc_handler = h;
	write_sysreg(vbar_el1, (uint64_t)(uintptr_t)exc_vectors);
	__asm__ volatile("isb" : : : "memory");
}

void exc_unwind(struct exc_frame *f)
{
	f->elr = (uint64_t)(uintptr_t)exc_try_resume;
	f->spsr = SPSR_DAIF | SPSR_M_EL1H;
}

static void field(const char *name, uint64_t v)
{
	uart_puts(name);
	print_hex(v);
}

void exc_print(const struct exc_frame *f)
{
	field("exception: vector ", f->vector);
	field(" ESR_EL1 ", f->esr);
	field(" ELR_EL1 ", f->elr);
	field(" FAR_EL1 ", f->far);
	field(" SPSR_EL1 ", f->spsr);
	uart_puts("\n");
}

void exc_dispatch(struct exc_frame *f)
{
	if (exc_handler) {
		exc_handler(f);
		return;
	}
	uart_puts("unexpected ");
	exc_print(f);
	semihost_exit(100);
}
