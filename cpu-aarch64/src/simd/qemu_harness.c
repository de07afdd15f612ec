/* The outside reference for the AdvSIMD integer tests (src/simd/tests.rs):
 * a static aarch64 Linux program run under qemu-aarch64. It executes single
 * instructions on given SIMD&FP register contents and reports the result.
 *
 * stdin:  u32 count, then per case: u32 insn, u32 0, u64 fpsr,
 *         32 x 16 bytes V0..V31.
 * stdout: per case: u32 status (0 = executed, 1 = SIGILL), u32 0, u64 fpsr,
 *         32 x 16 bytes V0..V31 (the inputs again after a SIGILL).
 * All little-endian. Each instruction runs from its own `insn; ret` slot
 * of one code buffer written before any of them runs.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct state {
    uint8_t v[32][16];
    uint64_t fpsr;
};

void run_case(struct state *s, void *code);

__asm__(
    ".text\n"
    ".global run_case\n"
    "run_case:\n"
    "  stp x29, x30, [sp, #-96]!\n"
    "  mov x29, sp\n"
    "  stp d8, d9, [sp, #16]\n"
    "  stp d10, d11, [sp, #32]\n"
    "  stp d12, d13, [sp, #48]\n"
    "  stp d14, d15, [sp, #64]\n"
    "  str x0, [sp, #80]\n"
    "  mov x9, x1\n"
    "  ldr x2, [x0, #512]\n"
    "  msr fpsr, x2\n"
    "  msr fpcr, xzr\n"
    "  ldp q0, q1, [x0, #0]\n"
    "  ldp q2, q3, [x0, #32]\n"
    "  ldp q4, q5, [x0, #64]\n"
    "  ldp q6, q7, [x0, #96]\n"
    "  ldp q8, q9, [x0, #128]\n"
    "  ldp q10, q11, [x0, #160]\n"
    "  ldp q12, q13, [x0, #192]\n"
    "  ldp q14, q15, [x0, #224]\n"
    "  ldp q16, q17, [x0, #256]\n"
    "  ldp q18, q19, [x0, #288]\n"
    "  ldp q20, q21, [x0, #320]\n"
    "  ldp q22, q23, [x0, #352]\n"
    "  ldp q24, q25, [x0, #384]\n"
    "  ldp q26, q27, [x0, #416]\n"
    "  ldp q28, q29, [x0, #448]\n"
    "  ldp q30, q31, [x0, #480]\n"
    "  blr x9\n"
    "  ldr x0, [sp, #80]\n"
    "  stp q0, q1, [x0, #0]\n"
    "  stp q2, q3, [x0, #32]\n"
    "  stp q4, q5, [x0, #64]\n"
    "  stp q6, q7, [x0, #96]\n"
    "  stp q8, q9, [x0, #128]\n"
    "  stp q10, q11, [x0, #160]\n"
    "  stp q12, q13, [x0, #192]\n"
    "  stp q14, q15, [x0, #224]\n"
    "  stp q16, q17, [x0, #256]\n"
    "  stp q18, q19, [x0, #288]\n"
    "  stp q20, q21, [x0, #320]\n"
    "  stp q22, q23, [x0, #352]\n"
    "  stp q24, q25, [x0, #384]\n"
    "  stp q26, q27, [x0, #416]\n"
    "  stp q28, q29, [x0, #448]\n"
    "  stp q30, q31, [x0, #480]\n"
    "  mrs x2, fpsr\n"
    "  str x2, [x0, #512]\n"
    "  msr fpsr, xzr\n"
    "  ldp d8, d9, [sp, #16]\n"
    "  ldp d10, d11, [sp, #32]\n"
    "  ldp d12, d13, [sp, #48]\n"
    "  ldp d14, d15, [sp, #64]\n"
    "  ldp x29, x30, [sp], #96\n"
    "  ret\n");

static sigjmp_buf on_ill;

static void ill(int sig) {
    (void)sig;
    siglongjmp(on_ill, 1);
}

static void read_all(void *p, size_t n) {
    if (fread(p, 1, n, stdin) != n) {
        fprintf(stderr, "harness: short read\n");
        exit(2);
    }
}

int main(void) {
    uint32_t count;
    read_all(&count, 4);
    struct state *cases = calloc(count, sizeof *cases);
    uint32_t *insns = calloc(count, 4);
    uint32_t *code = mmap(NULL, (size_t)count * 8 + 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!cases || !insns || code == MAP_FAILED) {
        fprintf(stderr, "harness: out of memory\n");
        return 2;
    }
    for (uint32_t i = 0; i < count; i++) {
        uint32_t hdr[2];
        read_all(hdr, 8);
        insns[i] = hdr[0];
        read_all(&cases[i].fpsr, 8);
        read_all(cases[i].v, sizeof cases[i].v);
        code[2 * i] = hdr[0];
        code[2 * i + 1] = 0xd65f03c0; /* ret */
    }
    __builtin___clear_cache((char *)code, (char *)(code + 2 * count));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ill;
    sa.sa_flags = SA_NODEFER;
    sigaction(SIGILL, &sa, NULL);
    for (uint32_t i = 0; i < count; i++) {
        static struct state s;
        s = cases[i];
        uint32_t out[2] = {0, 0};
        if (sigsetjmp(on_ill, 1) == 0) {
            run_case(&s, code + 2 * i);
        } else {
            __asm__ volatile("msr fpcr, xzr\n msr fpsr, xzr");
            s = cases[i];
            out[0] = 1;
        }
        fwrite(out, 4, 2, stdout);
        fwrite(&s.fpsr, 8, 1, stdout);
        fwrite(s.v, 1, sizeof s.v, stdout);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
