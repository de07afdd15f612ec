/*
 * Arm semihosting (A64: `hlt #0xf000`, operation in w0, argument in x1).
 * Needs a host that implements it, e.g. `qemu-system-aarch64 -semihosting`.
 */
#ifndef FW_SEMIHOST_H
#define FW_SEMIHOST_H

#include <stdint.h>

#define SYS_WRITE0 0x04
#define SYS_EXIT 0x18

/* Reason code for SYS_EXIT meaning "the application exited". */
#define ADP_Stopped_ApplicationExit 0x20026

/* Issue semihosting operation `op` with argument `arg`; returns x0. */
uint64_t semihost_call(uint32_t op, uint64_t arg);

/* Print a NUL-terminated string on the host's console. */
void semihost_write0(const char *s);

/* Ask the host to end the run with exit status `code`. */
__attribute__((noreturn)) void semihost_exit(int code);

#endif
