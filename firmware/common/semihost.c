#include <stdint.h>

#include "arch.h"
#include "semihost.h"

uint64_t semihost_call(uint32_t op, uint64_t arg)
{
	register uint64_t x0 __asm__("x0") = op;
	register uint64_t x1 __asm__("x1") = arg;

	/* "memory": the host may read the block x1 points to. */
	__asm__ volatile("hlt #0xf000" : "+r"(x0) : "r"(x1) : "memory");
	return x0;
}

void semihost_write0(const char *s)
{
	semihost_call(SYS_WRITE0, (uint64_t)(uintptr_t)s);
}

void semihost_exit(int code)
{
	/* On A64 the parameter block holds two 64-bit fields. */
	uint64_t block[2] = { ADP_Stopped_ApplicationExit, (uint64_t)code };

	semihost_call(SYS_EXIT, (uint64_t)(uintptr_t)block);
	/* No semihosting host, or it returned: stop here. */
	halt();
}
