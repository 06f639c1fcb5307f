/* smk_cpu_path(): a static string naming the CPU path the loaded kernels
 * run. When SMK_TEST_EXPECT_CPU_PATH is set (the Makefile sets it to the
 * level each build or SOFTMAXKIT_CPU run is meant to run), it must be that. */
#include "softmaxkit.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

int main(void) {
    const char *p = smk_cpu_path();
    const char *want = getenv("SMK_TEST_EXPECT_CPU_PATH");
    CHECK(p != NULL);
    if (p == NULL) return check_summary("test_cpu_path");
    CHECK(strcmp(p, "avx512") == 0 || strcmp(p, "avx2") == 0 || strcmp(p, "sse2") == 0
          || strcmp(p, "generic") == 0);
    CHECK(smk_cpu_path() == p);   /* static storage: the same string every call */
    if (want && want[0]) {
        CHECK(strcmp(p, want) == 0);
        if (strcmp(p, want) != 0) fprintf(stderr, "cpu path %s, expected %s\n", p, want);
    }
    printf("cpu path: %s\n", p);
    return check_summary("test_cpu_path");
}
