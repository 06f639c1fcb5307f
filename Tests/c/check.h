/* Minimal assertion helpers for the C client tests: count checks, report
 * failures with file:line, and end with a "N passed, N failed" line. */
#ifndef SMK_TEST_CHECK_H
#define SMK_TEST_CHECK_H
#include <stdio.h>

static int smk_checks_passed = 0;
static int smk_checks_failed = 0;

#define CHECK(cond) do { \
    if (cond) { smk_checks_passed++; } \
    else { smk_checks_failed++; fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_STATUS(call, expected) do { \
    smk_status st_ = (call); \
    if (st_ == (expected)) { smk_checks_passed++; } \
    else { smk_checks_failed++; fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d\n", \
           __FILE__, __LINE__, #call, (int)st_, smk_status_string(st_), (int)(expected)); } \
} while (0)

static int check_summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, smk_checks_passed, smk_checks_failed);
    return smk_checks_failed == 0 ? 0 : 1;
}
#endif
