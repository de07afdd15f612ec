/*
 * bench-int's kernels: plain integer C with no dependency on the firmware
 * runtime, so the same file builds for the guest and natively on the host
 * (firmware/tests/host_bench_int.c), where the checksums are checked
 * against the same expected values.
 *
 * Each kernel runs a fixed amount of work and returns a 32-bit checksum of
 * its results. A kernel that notices it computed something wrong (an
 * unsorted array, a list walk that does not come back to its start...)
 * also sets `bench_error` to a message saying what.
 */
#ifndef BENCH_INT_KERNELS_H
#define BENCH_INT_KERNELS_H

#include <stdint.h>

/* Set by a kernel whose own consistency check failed; 0 otherwise. */
extern const char *bench_error;

/* Table-driven CRC-32 (IEEE 802.3, reflected) over a 4 KiB buffer. */
uint32_t k_crc32(void);

/* FNV-1a, xorshift64* and a 64x64->128 multiply-fold mixing chain. */
uint32_t k_hash(void);

/* Quicksort (median of three, insertion sort below 16) of 512 u32. */
uint32_t k_sort(void);

/* A register byte-code machine with switch dispatch running Collatz and gcd. */
uint32_t k_vm(void);

/* Pointer chasing around a randomly permuted ring of 4096 nodes. */
uint32_t k_chase(void);

/* memset/memcpy/memmove-like word and byte loops over 16 KiB buffers. */
uint32_t k_mem(void);

#endif
