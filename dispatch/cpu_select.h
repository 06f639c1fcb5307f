/*
 * cpu_select.h - which x86-64 level the dispatching libsoftmaxkit runs.
 *
 * Two pure steps, kept apart so that Tests/dispatch/test_cpu_select.c can
 * drive the second with made-up CPUs:
 *   smk_cpu_levels()   the levels this CPU and operating system can run
 *                      (cpuid for the instructions, xgetbv for the OS saving
 *                      the AVX / AVX-512 registers on context switches);
 *   smk_cpu_choose()   the variants to try, best first, given
 *                      SOFTMAXKIT_CPU and those levels.
 * Everything here is static: nothing leaves the dispatcher's object.
 */
#ifndef SMK_CPU_SELECT_H
#define SMK_CPU_SELECT_H

/* Compiler built-ins for the two C library calls, so that the header
 * compiles on its own for any target, freestanding included (make
 * check-portability); they are the C library's snprintf and strcmp. */
#include <stddef.h>
#define smk_cpu_snprintf __builtin_snprintf
#define smk_cpu_strcmp __builtin_strcmp

enum { SMK_LEVEL_SSE2, SMK_LEVEL_AVX2, SMK_LEVEL_AVX512, SMK_LEVEL_COUNT };

/* The file of level l is libsoftmaxkit-<name>.so; SOFTMAXKIT_CPU=<name>. */
static const char *const SMK_LEVEL_NAMES[SMK_LEVEL_COUNT] = {"sse2", "avx2", "avx512"};

/* What each level's build may use, in words, for the refusal message. */
static const char *const SMK_LEVEL_NEEDS[SMK_LEVEL_COUNT] = {
    "x86-64 (SSE2)",
    "x86-64-v3: AVX, AVX2, FMA, BMI1, BMI2, LZCNT, MOVBE, F16C and OS support for the AVX registers",
    "x86-64-v4: x86-64-v3 and AVX-512 F, CD, BW, DQ, VL and OS support for the AVX-512 registers",
};

#if defined(__x86_64__)
#include <cpuid.h>

static unsigned long long smk_xgetbv0(void)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

/* Bit l set: this CPU and OS can run level l. */
static unsigned smk_cpu_levels(void)
{
    unsigned a, b, c, d;
    unsigned levels = 1u << SMK_LEVEL_SSE2; /* every x86-64 CPU */
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return levels;
    const unsigned c1 = c;
    const int osxsave = (c1 >> 27) & 1;
    const int v2 = ((c1 >> 0) & 1) && ((c1 >> 9) & 1) && ((c1 >> 13) & 1) && ((c1 >> 19) & 1)
                   && ((c1 >> 20) & 1) && ((c1 >> 23) & 1); /* SSE3 SSSE3 CX16 SSE4.1 SSE4.2 POPCNT */
    const int v3_1 = ((c1 >> 12) & 1) && ((c1 >> 22) & 1) && ((c1 >> 28) & 1) && ((c1 >> 29) & 1);
    /* FMA MOVBE AVX F16C */
    if (!osxsave || !v2 || !v3_1)
        return levels;
    const unsigned long long xcr0 = smk_xgetbv0();
    if ((xcr0 & 0x6) != 0x6) /* XMM and YMM state */
        return levels;
    unsigned lzcnt = 0;
    if (__get_cpuid(0x80000001u, &a, &b, &c, &d))
        lzcnt = (c >> 5) & 1;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return levels;
    const unsigned b7 = b;
    if (!(lzcnt && ((b7 >> 3) & 1) && ((b7 >> 5) & 1) && ((b7 >> 8) & 1))) /* BMI1 AVX2 BMI2 */
        return levels;
    levels |= 1u << SMK_LEVEL_AVX2;
    const int avx512 = ((b7 >> 16) & 1) && ((b7 >> 17) & 1) && ((b7 >> 28) & 1) && ((b7 >> 30) & 1)
                       && ((b7 >> 31) & 1); /* F DQ CD BW VL */
    if (avx512 && (xcr0 & 0xE6) == 0xE6)    /* and opmask, ZMM0-15 upper halves, ZMM16-31 */
        levels |= 1u << SMK_LEVEL_AVX512;
    return levels;
}
#else
/* Not an x86-64 CPU: no variant of this library can run. */
static unsigned smk_cpu_levels(void) { return 0; }
#endif

/* The levels to try, best first, into order[]; returns how many (at least 1).
 * `request` is SOFTMAXKIT_CPU (NULL, "" and "auto": every level `host` has,
 * best first; a level name: that level alone). Returns 0, with the reason in
 * message, for an unknown name or a level `host` lacks. */
static int smk_cpu_choose(const char *request, unsigned host, int order[SMK_LEVEL_COUNT],
                          char *message, size_t message_size)
{
    int n = 0;
    if (request == NULL || request[0] == '\0' || smk_cpu_strcmp(request, "auto") == 0) {
        for (int l = SMK_LEVEL_COUNT - 1; l >= 0; l--)
            if (host & (1u << l))
                order[n++] = l;
        if (n == 0)
            smk_cpu_snprintf(message, message_size,
                     "SoftmaxKit: this CPU is not x86-64; the shipped library holds x86-64 kernels only");
        return n;
    }
    for (int l = 0; l < SMK_LEVEL_COUNT; l++) {
        if (smk_cpu_strcmp(request, SMK_LEVEL_NAMES[l]) != 0)
            continue;
        if (!(host & (1u << l))) {
            smk_cpu_snprintf(message, message_size,
                     "SoftmaxKit: SOFTMAXKIT_CPU=%s asks for kernels this CPU cannot run (they need %s); "
                     "unset SOFTMAXKIT_CPU to use the best level this CPU has", request, SMK_LEVEL_NEEDS[l]);
            return 0;
        }
        order[0] = l;
        return 1;
    }
    smk_cpu_snprintf(message, message_size,
             "SoftmaxKit: SOFTMAXKIT_CPU=%.64s is not a CPU level: use sse2, avx2, avx512 or auto", request);
    return 0;
}

#endif
