/* The dispatcher's choice of CPU level (dispatch/cpu_select.h) against
 * made-up CPUs: auto picks the best level the CPU has, an explicit
 * SOFTMAXKIT_CPU level is used alone, and a level the CPU lacks or an unknown
 * name is refused with a message, never chosen. Run by make test-cpu-paths. */
#include <stdio.h>
#include <string.h>

#include "../../dispatch/cpu_select.h"

static int failures;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);         \
            failures++;                                                    \
        }                                                                  \
    } while (0)

#define ALL ((1u << SMK_LEVEL_SSE2) | (1u << SMK_LEVEL_AVX2) | (1u << SMK_LEVEL_AVX512))
#define V3 ((1u << SMK_LEVEL_SSE2) | (1u << SMK_LEVEL_AVX2))
#define V1 (1u << SMK_LEVEL_SSE2)

static int choose(const char *request, unsigned host, int order[SMK_LEVEL_COUNT], char *msg, size_t size)
{
    memset(order, -1, sizeof(int) * SMK_LEVEL_COUNT);
    msg[0] = '\0';
    return smk_cpu_choose(request, host, order, msg, size);
}

int main(void)
{
    int order[SMK_LEVEL_COUNT];
    char msg[512];

    /* auto: every level the CPU has, best first. */
    const char *autos[] = {NULL, "", "auto"};
    for (int i = 0; i < 3; i++) {
        CHECK(choose(autos[i], ALL, order, msg, sizeof msg) == 3);
        CHECK(order[0] == SMK_LEVEL_AVX512 && order[1] == SMK_LEVEL_AVX2 && order[2] == SMK_LEVEL_SSE2);
        CHECK(choose(autos[i], V3, order, msg, sizeof msg) == 2);
        CHECK(order[0] == SMK_LEVEL_AVX2 && order[1] == SMK_LEVEL_SSE2);
        CHECK(choose(autos[i], V1, order, msg, sizeof msg) == 1 && order[0] == SMK_LEVEL_SSE2);
        CHECK(choose(autos[i], 0, order, msg, sizeof msg) == 0 && strstr(msg, "not x86-64"));
    }

    /* An explicit level the CPU has: that level alone. */
    for (int l = 0; l < SMK_LEVEL_COUNT; l++) {
        CHECK(choose(SMK_LEVEL_NAMES[l], ALL, order, msg, sizeof msg) == 1 && order[0] == l);
        CHECK(strcmp(msg, "") == 0);
    }

    /* A level the CPU lacks: refused, with what it needs. */
    CHECK(choose("avx512", V3, order, msg, sizeof msg) == 0);
    CHECK(strstr(msg, "SOFTMAXKIT_CPU=avx512") && strstr(msg, "AVX-512") && strstr(msg, "cannot run"));
    CHECK(choose("avx512", V1, order, msg, sizeof msg) == 0);
    CHECK(choose("avx2", V1, order, msg, sizeof msg) == 0 && strstr(msg, "SOFTMAXKIT_CPU=avx2") && strstr(msg, "AVX2"));
    CHECK(choose("sse2", 0, order, msg, sizeof msg) == 0);

    /* Unknown names: refused, naming the valid ones; a long one is cut, not overflowed. */
    const char *bad[] = {"AVX2", "avx", "avx512f", "native", " sse2", "sse2 ", "x86-64-v3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(choose(bad[i], ALL, order, msg, sizeof msg) == 0);
        CHECK(strstr(msg, "is not a CPU level") && strstr(msg, "sse2, avx2, avx512"));
    }
    char huge[4096];
    memset(huge, 'x', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    char small[40];
    CHECK(choose(huge, ALL, order, small, sizeof small) == 0 && strlen(small) == sizeof small - 1);

    /* This CPU: the baseline always, and the levels nest. */
    unsigned host = smk_cpu_levels();
#if defined(__x86_64__)
    CHECK(host & V1);
#endif
    if (host & (1u << SMK_LEVEL_AVX512))
        CHECK(host & (1u << SMK_LEVEL_AVX2));
    printf("test_cpu_select: this CPU runs:%s%s%s\n", host & 1 ? " sse2" : "", host & 2 ? " avx2" : "",
           host & 4 ? " avx512" : "");

    if (failures) {
        printf("test_cpu_select: %d failures\n", failures);
        return 1;
    }
    printf("test_cpu_select: ok\n");
    return 0;
}
