/* The dispatching libsoftmaxkit.so as a program sees it:
 *   test_dispatch EXPECTED_PATH EXPECTED_STATUS
 * run under some SOFTMAXKIT_CPU / library directory by make test-cpu-paths.
 * Eight threads make their first call at once (the variant is loaded once);
 * smk_cpu_path() must be EXPECTED_PATH and a softmax must return
 * EXPECTED_STATUS: SMK_OK with the right values, or, when no variant can run,
 * the status with a message and the output untouched, while smk_version(),
 * smk_version_string() and smk_status_string() still answer. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "softmaxkit.h"

static int failures;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);         \
            failures++;                                                    \
        }                                                                  \
    } while (0)

static const char *expected_path;
static int expected_status;

static void *first_call(void *arg)
{
    (void)arg;
    float x[37], y[37];
    for (int i = 0; i < 37; i++) {
        x[i] = (float)(i % 7) - 3.0f;
        y[i] = -7.0f;
    }
    smk_status s = smk_softmax_f32(x, y, 1, 37, 1, 1.0f);
    int ok = (int)s == expected_status;
    if (s == SMK_OK) {
        double sum = 0;
        for (int i = 0; i < 37; i++)
            sum += y[i];
        ok = ok && fabs(sum - 1.0) < 1e-5 && y[3] > y[2];
    } else {
        for (int i = 0; i < 37; i++)
            ok = ok && y[i] == -7.0f;
        ok = ok && smk_last_error_message()[0] != '\0';
    }
    return ok ? (void *)1 : NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_dispatch EXPECTED_PATH EXPECTED_STATUS\n");
        return 2;
    }
    expected_path = argv[1];
    expected_status = atoi(argv[2]);
    const char *env = getenv("SOFTMAXKIT_CPU");

    pthread_t threads[8];
    for (int i = 0; i < 8; i++)
        CHECK(pthread_create(&threads[i], NULL, first_call, NULL) == 0);
    for (int i = 0; i < 8; i++) {
        void *ok = NULL;
        pthread_join(threads[i], &ok);
        CHECK(ok != NULL);
    }
    CHECK(strcmp(smk_cpu_path(), expected_path) == 0);
    CHECK(smk_version() == SMK_VERSION_NUMBER);
    CHECK(strcmp(smk_version_string(), SMK_VERSION_STRING) == 0);
    CHECK(strncmp(smk_status_string(SMK_ERROR_UNSUPPORTED), "SMK_ERROR_UNSUPPORTED", 21) == 0);
    if (expected_status != SMK_OK) {
        const char *why = smk_last_error_message();
        printf("  refused as expected: %s\n", why);
        CHECK(strstr(why, "SoftmaxKit") != NULL);
        if (expected_status == SMK_ERROR_UNSUPPORTED)
            CHECK(strstr(why, "SOFTMAXKIT_CPU") != NULL);
        smk_model *model = (smk_model *)&failures; /* never dereferenced: nothing loaded */
        CHECK((int)smk_model_load("/nonexistent", &model) == expected_status);
        smk_set_num_threads(2);   /* void functions: no effect, no crash */
        CHECK(smk_get_num_threads() >= 1);
    }
    printf("test_dispatch SOFTMAXKIT_CPU=%s: cpu path %s, status %d: %s\n", env ? env : "(unset)",
           smk_cpu_path(), expected_status, failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
