/*
 * Reporting for self-checking firmwares: one line per case.
 *
 *	ok <prefix><name>
 *	FAIL <prefix><name>: want <what> <value> got <value>   (one per field)
 *	deviation <prefix><name>: <why>
 *
 * A case runs between check_begin() and check_end(); each check_eq()
 * compares one field. A case that observed a documented deviation of the
 * reference emulator from the Arm ARM (check_deviation) prints a
 * `deviation` line instead of failing; the emulator's own test demands
 * `ok` there (tests/system_firmware.rs).
 */
#ifndef FW_CHECK_H
#define FW_CHECK_H

#include <stdint.h>

/* Text put before every case name (e.g. a configuration), or "". */
void check_prefix(const char *prefix);

void check_begin(const char *name);

/* One field of the current case; prints a FAIL line if want != got. */
void check_eq(const char *what, uint64_t want, uint64_t got);

/* The case saw a documented deviation instead of the architected result. */
void check_deviation(const char *why);

/* Prints `ok` unless the case failed or deviated; returns 1 if it failed. */
int check_end(void);

/* Cases that failed so far. */
unsigned check_failures(void);

#endif
