/* C client test of the backward kernels: against the Jacobian written out
 * in double, in place, strided, and bad inputs. */
#include "softmaxkit.h"
#include "check.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static void test_softmax_backward(void) {
    enum { N = 37 };
    double x[N], y[N], ls[N], dy[N], dx[N], dl[N], dot = 0, sum = 0;
    float yf[N], dyf[N], dxf[N];
    int j, i;
    for (j = 0; j < N; j++) { x[j] = sin(j * 0.9) * 4; dy[j] = cos(j * 1.3); }
    CHECK_STATUS(smk_softmax_f64(x, y, 1, N, 1, 1.0), SMK_OK);
    CHECK_STATUS(smk_log_softmax_f64(x, ls, 1, N, 1, 1.0), SMK_OK);
    CHECK_STATUS(smk_softmax_backward_f64(y, dy, dx, 1, N, 1), SMK_OK);
    CHECK_STATUS(smk_log_softmax_backward_f64(ls, dy, dl, 1, N, 1), SMK_OK);
    for (j = 0; j < N; j++) { dot += dy[j] * y[j]; sum += dy[j]; }
    for (i = 0; i < N; i++) {
        /* J_softmax[j][i] = y_j (delta_ij - y_i); J_log_softmax[j][i] = delta_ij - y_i */
        double want = 0, wantl = 0;
        for (j = 0; j < N; j++) {
            want += dy[j] * y[j] * ((i == j) - y[i]);
            wantl += dy[j] * ((i == j) - y[i]);
        }
        CHECK(fabs(dx[i] - want) < 1e-15 && fabs(dl[i] - wantl) < 1e-14);
    }
    (void)dot; (void)sum;
    for (j = 0; j < N; j++) { yf[j] = (float)y[j]; dyf[j] = (float)dy[j]; }
    CHECK_STATUS(smk_softmax_backward_f32(yf, dyf, dxf, 1, N, 1), SMK_OK);
    for (j = 0; j < N; j++) CHECK(fabs(dxf[j] - dx[j]) < 1e-6);
    /* in place over dy */
    CHECK_STATUS(smk_softmax_backward_f64(y, dy, dy, 1, N, 1), SMK_OK);
    for (j = 0; j < N; j++) CHECK(dy[j] == dx[j]);
}

static void test_strided_and_sigmoid(void) {
    double y[6] = {0.2, 0.5, 0.8, 0.5, 0, 0}, dy[6] = {1, 2, 3, 4, 5, 6}, dx[6];
    double s[3] = {0.25, 0.5, 0.99}, ds[3] = {1, -2, 3}, dsx[3];
    int j;
    /* axis 1 of [1, 3, 2]: fibres (0.2, 0.8, 0) and (0.5, 0.5, 0) */
    CHECK_STATUS(smk_softmax_backward_f64(y, dy, dx, 1, 3, 2), SMK_OK);
    {
        double d0 = 0.2 * 1 + 0.8 * 3, d1 = 0.5 * 2 + 0.5 * 4;
        CHECK(fabs(dx[0] - 0.2 * (1 - d0)) < 1e-15 && fabs(dx[2] - 0.8 * (3 - d0)) < 1e-15 && dx[4] == 0);
        CHECK(fabs(dx[1] - 0.5 * (2 - d1)) < 1e-15 && fabs(dx[3] - 0.5 * (4 - d1)) < 1e-15);
    }
    CHECK_STATUS(smk_sigmoid_backward_f64(s, ds, dsx, 3), SMK_OK);
    for (j = 0; j < 3; j++) CHECK(fabs(dsx[j] - ds[j] * s[j] * (1 - s[j])) < 1e-16);
}

static void test_bad_input(void) {
    double y[4] = {0.25, 0.25, 0.25, 0.25}, dy[4] = {1, 2, 3, 4}, dx[4] = {7, 7, 7, 7};
    CHECK_STATUS(smk_softmax_backward_f64(y, NULL, dx, 1, 4, 1), SMK_ERROR_NULL_POINTER);
    CHECK(strstr(smk_last_error_message(), "dy") != NULL);
    CHECK_STATUS(smk_log_softmax_backward_f64(y, dy, dx, -1, 4, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_softmax_backward_f64(y, dy, dx, INT64_MAX, 4, 4), SMK_ERROR_SIZE_OVERFLOW);
    CHECK_STATUS(smk_softmax_backward_f64(y, dy, y + 1, 1, 3, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_sigmoid_backward_f64(y, dy, dx, -3), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(dx[0] == 7 && dx[3] == 7);
    CHECK_STATUS(smk_sigmoid_backward_f64(NULL, NULL, NULL, 0), SMK_OK);
}

int main(void) {
    test_softmax_backward();
    test_strided_and_sigmoid();
    test_bad_input();
    return check_summary("test_backward");
}
