/* The seed documents' worked examples from C, through include/softmaxkit.h.
 *   cc -std=c99 -Iinclude examples/c/softmax_demo.c -Lbuild/lib -lsoftmaxkit */
#include "softmaxkit.h"

#include <stdio.h>

static void print_row(const char *label, const double *v, int n) {
    int i;
    printf("%-34s [", label);
    for (i = 0; i < n; i++) printf("%s%.4f", i ? ", " : "", v[i]);
    printf("]\n");
}

static int fail(smk_status st) {
    fprintf(stderr, "softmaxkit: %s: %s\n", smk_status_string(st), smk_last_error_message());
    return 1;
}

int main(void) {
    double s[3] = {0, 2, 4}, shifted[3] = {100, 102, 104}, p[3], q[3];
    double big[2] = {1000, 1}, logp[2];
    double x = 1.5, pair[2], sig;
    double rows[6] = {1, 2, 3, 3, 2, 1}, cols[6];
    smk_status st;

    printf("SoftmaxKit %s (header %s)\n", smk_version_string(), SMK_VERSION_STRING);
    /* the worked example: three output nodes with inputs 0, 2, 4 */
    if ((st = smk_softmax_f64(s, p, 1, 3, 1, 1.0)) != SMK_OK) return fail(st);
    print_row("softmax([0, 2, 4])", p, 3);
    /* shift invariance: adding 100 to every input changes nothing */
    if ((st = smk_softmax_f64(shifted, q, 1, 3, 1, 1.0)) != SMK_OK) return fail(st);
    print_row("softmax([100, 102, 104])", q, 3);
    /* temperature: T > 1 flattens, T < 1 sharpens */
    if ((st = smk_softmax_f64(s, q, 1, 3, 1, 4.0)) != SMK_OK) return fail(st);
    print_row("softmax([0, 2, 4], T=4)", q, 3);
    if ((st = smk_softmax_f64(s, q, 1, 3, 1, 0.5)) != SMK_OK) return fail(st);
    print_row("softmax([0, 2, 4], T=0.5)", q, 3);
    /* log-softmax never goes through log(softmax) */
    if ((st = smk_log_softmax_f64(big, logp, 1, 2, 1, 1.0)) != SMK_OK) return fail(st);
    print_row("log_softmax([1000, 1])", logp, 2);
    /* the sigmoid relation: softmax([x, 0])[0] == sigmoid(x) */
    pair[0] = x; pair[1] = 0;
    if ((st = smk_softmax_f64(pair, pair, 1, 2, 1, 1.0)) != SMK_OK) return fail(st);
    if ((st = smk_sigmoid_f64(&x, &sig, 1)) != SMK_OK) return fail(st);
    printf("%-34s %.6f == sigmoid(1.5) = %.6f\n", "softmax([1.5, 0])[0]", pair[0], sig);
    /* any axis: columns of a [2, 3] matrix are (outer 1, n 2, inner 3) */
    if ((st = smk_softmax_f64(rows, cols, 1, 2, 3, 1.0)) != SMK_OK) return fail(st);
    print_row("softmax([[1,2,3],[3,2,1]], axis=0)", cols, 6);
    /* a bad argument is a status and a message, never a crash */
    st = smk_softmax_f64(s, p, 1, 3, 1, -1.0);
    printf("%-34s %s (%s)\n", "temperature -1:", smk_status_string(st), smk_last_error_message());
    return 0;
}
