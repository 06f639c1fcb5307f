/* C client test of cross-entropy, NLL and BCE-with-logits: the textbook worked
 * example, PyTorch's formulas written out in double, gradients against
 * central finite differences, and one test per bad input class. */
#include "softmaxkit.h"
#include "check.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* PyTorch's F.cross_entropy with class-index targets, [B, C] layout, in double. */
static double ref_cross_entropy(const double *x, const int64_t *t, const double *w, int64_t b, int64_t c,
                                int64_t ignore, double eps, int reduction, double *per) {
    double total = 0, denom = 0;
    int64_t r, k;
    for (r = 0; r < b; r++) {
        const double *row = x + r * c;
        double m = -INFINITY, s = 0, lz, loss = 0, smooth = 0;
        per[r] = 0;
        if (t[r] == ignore) continue;
        for (k = 0; k < c; k++) if (row[k] > m) m = row[k];
        for (k = 0; k < c; k++) s += exp(row[k] - m);
        lz = m + log(s);
        loss = (w ? w[t[r]] : 1) * (lz - row[t[r]]);
        for (k = 0; k < c; k++) smooth += (w ? w[k] : 1) * (lz - row[k]);
        per[r] = (1 - eps) * loss + eps / (double)c * smooth;
        total += per[r];
        denom += w ? w[t[r]] : 1;
    }
    return reduction == SMK_REDUCTION_MEAN ? total / denom : total;
}

static void test_seed_003(void) {
    /* logits [0, 2, 4] give softmax [0.0159, 0.1173, 0.8668]; the target is class 3 (index 2) */
    double x[3] = {0, 2, 4}, loss, g[3];
    float xf[3] = {0, 2, 4}, lf, gf[3];
    int64_t t[1] = {2};
    CHECK_STATUS(smk_cross_entropy_f64(x, t, NULL, &loss, g, 1, 3, 1, NULL), SMK_OK);
    CHECK(fabs(loss - log(1 + exp(-2.0) + exp(-4.0))) < 1e-15);   /* -log(0.8668) */
    CHECK(fabs(g[0] - 0.0158762) < 1e-7 && fabs(g[1] - 0.1173104) < 1e-7 && fabs(g[2] - (0.8668134 - 1)) < 1e-7);
    CHECK_STATUS(smk_cross_entropy_f32(xf, t, NULL, &lf, gf, 1, 3, 1, NULL), SMK_OK);
    CHECK(fabs(lf - 0.1429316f) < 1e-6 && fabs(gf[2] + 0.1331866f) < 1e-6);
}

static void test_against_reference(void) {
    enum { B = 6, C = 37 };
    double x[B * C], w[C], per[B], loss[B], want, g[B * C];
    int64_t t[B] = {3, -100, 36, 0, 5, 17};
    int64_t j;
    int red, use_w;
    double eps;
    smk_loss_options o;
    for (j = 0; j < B * C; j++) x[j] = sin((double)j * 0.37) * 8;
    for (j = 0; j < C; j++) w[j] = 0.5 + (double)(j % 5) * 0.25;
    smk_loss_options_init(&o);
    CHECK(o.size == sizeof(smk_loss_options) && o.ignore_index == -100 && o.reduction == SMK_REDUCTION_MEAN);
    for (use_w = 0; use_w < 2; use_w++)
    for (eps = 0; eps <= 0.3; eps += 0.15)
    for (red = 0; red < 3; red++) {
        o.reduction = red;
        o.label_smoothing = eps;
        want = ref_cross_entropy(x, t, use_w ? w : NULL, B, C, -100, eps, red, per);
        CHECK_STATUS(smk_cross_entropy_f64(x, t, use_w ? w : NULL, loss, g, B, C, 1, &o), SMK_OK);
        if (red == SMK_REDUCTION_NONE) {
            for (j = 0; j < B; j++) CHECK(fabs(loss[j] - per[j]) <= 1e-13 * (1 + fabs(per[j])));
        } else {
            CHECK(fabs(loss[0] - want) <= 1e-13 * (1 + fabs(want)));
        }
        /* gradient of the reduced loss (of the sum for none) by central differences */
        for (j = 0; j < B * C; j += 7) {
            double saved = x[j], up, down, h = 1e-5, tmp[B], fd;
            int64_t r;
            x[j] = saved + h; up = ref_cross_entropy(x, t, use_w ? w : NULL, B, C, -100, eps, red, tmp);
            if (red == SMK_REDUCTION_NONE) { up = 0; for (r = 0; r < B; r++) up += tmp[r]; }
            x[j] = saved - h; down = ref_cross_entropy(x, t, use_w ? w : NULL, B, C, -100, eps, red, tmp);
            if (red == SMK_REDUCTION_NONE) { down = 0; for (r = 0; r < B; r++) down += tmp[r]; }
            x[j] = saved;
            fd = (up - down) / (2 * h);
            CHECK(fabs(g[j] - fd) < 1e-8);
        }
    }
}

static void test_spatial_and_probabilities(void) {
    /* [2, 3, 2] logits (B, C, d1): sample (b, d) reads x[(b*3 + c)*2 + d] */
    double x[12], loss[4], flat[3], per[1], p[12], lp;
    int64_t t[4] = {0, 2, 1, 1}, r, c;
    smk_loss_options o;
    for (r = 0; r < 12; r++) x[r] = cos((double)r) * 3;
    smk_loss_options_init(&o);
    o.reduction = SMK_REDUCTION_NONE;
    CHECK_STATUS(smk_cross_entropy_f64(x, t, NULL, loss, NULL, 2, 3, 2, &o), SMK_OK);
    for (r = 0; r < 4; r++) {
        int64_t b = r / 2, d = r % 2;
        for (c = 0; c < 3; c++) flat[c] = x[(b * 3 + c) * 2 + d];
        ref_cross_entropy(flat, &t[r], NULL, 1, 3, -100, 0, SMK_REDUCTION_SUM, per);
        CHECK(fabs(loss[r] - per[0]) < 1e-14);
    }
    /* one-hot probability targets equal index targets; mean divides by B*d */
    for (r = 0; r < 12; r++) p[r] = 0;
    for (r = 0; r < 4; r++) p[((r / 2) * 3 + t[r]) * 2 + r % 2] = 1;
    o.reduction = SMK_REDUCTION_MEAN;
    CHECK_STATUS(smk_cross_entropy_probs_f64(x, p, NULL, &lp, NULL, 2, 3, 2, &o), SMK_OK);
    CHECK(fabs(lp - (loss[0] + loss[1] + loss[2] + loss[3]) / 4) < 1e-14);
}

static void test_all_ignored_and_nll(void) {
    double x[6] = {1, 2, 3, 4, 5, 6}, loss, lp[6], w[3] = {1, 2, 3}, want;
    int64_t t[2] = {-100, -100}, t2[2] = {2, 0};
    smk_loss_options o;
    CHECK_STATUS(smk_cross_entropy_f64(x, t, NULL, &loss, NULL, 2, 3, 1, NULL), SMK_OK);
    CHECK(isnan(loss));                               /* mean over no targets: NaN, as PyTorch */
    CHECK_STATUS(smk_log_softmax_f64(x, lp, 2, 3, 1, 1.0), SMK_OK);
    CHECK_STATUS(smk_nll_loss_f64(lp, t2, w, &loss, 2, 3, 1, NULL), SMK_OK);
    want = -(3 * lp[2] + 1 * lp[3]) / 4;
    CHECK(fabs(loss - want) < 1e-15);
    smk_loss_options_init(&o);
    o.ignore_index = 2;                               /* a valid class can be ignored */
    CHECK_STATUS(smk_nll_loss_f64(lp, t2, w, &loss, 2, 3, 1, &o), SMK_OK);
    CHECK(fabs(loss + lp[3]) < 1e-15);
}

static void test_bce(void) {
    double x[4] = {-800, -1, 2, 800}, y[4] = {1, 0, 1, 0}, pw[2] = {3, 0.5}, loss[4], mean;
    int j;
    CHECK_STATUS(smk_binary_cross_entropy_with_logits_f64(x, y, NULL, pw, loss, 4, 2, SMK_REDUCTION_NONE), SMK_OK);
    for (j = 0; j < 4; j++) {
        double lw = 1 + (pw[j % 2] - 1) * y[j];
        double sp = log1p(exp(-fabs(x[j]))) + (x[j] < 0 ? -x[j] : 0);
        CHECK(fabs(loss[j] - ((1 - y[j]) * x[j] + lw * sp)) <= 1e-15 * (1 + fabs(loss[j])));
    }
    CHECK(fabs(loss[0] - 2400) < 1e-9 && fabs(loss[3] - 800) < 1e-9);   /* no overflow */
    CHECK_STATUS(smk_binary_cross_entropy_with_logits_f64(x, y, NULL, NULL, &mean, 4, 2, SMK_REDUCTION_MEAN), SMK_OK);
    CHECK(isfinite(mean));
}

/* A target near 1 whose pos_weight puts 1 + (p - 1) y within a hair of
 * 1 - y: term by term, the two terms of about 0.98 cancel to 8.6e-8 and keep
 * 7 digits in double, wrong in the float result's sixth. The reference is
 * the exact value rounded (mpmath, 50 digits). */
static void test_bce_cancellation(void) {
    float xf = -700, yf = 0.99859309196472168f, pf = 1.2345679e-10f, lf;
    double xd = -700, yd = (double)yf, pd = (double)pf, ld;
    const double exact = 8.629816588095405e-08;
    CHECK_STATUS(smk_binary_cross_entropy_with_logits_f32(&xf, &yf, NULL, &pf, &lf, 1, 1, SMK_REDUCTION_NONE), SMK_OK);
    CHECK(lf == (float)exact);
    CHECK_STATUS(smk_binary_cross_entropy_with_logits_f64(&xd, &yd, NULL, &pd, &ld, 1, 1, SMK_REDUCTION_NONE), SMK_OK);
    CHECK(fabs(ld - exact) <= 4 * DBL_EPSILON * exact);
}

static void test_bad_input(void) {
    double x[6] = {0}, w[3] = {1, 1, 1}, loss[2] = {7, 7}, g[6] = {7, 7, 7, 7, 7, 7};
    int64_t bad[2] = {0, 3}, negative[2] = {-1, 0}, ok[2] = {0, 1};
    smk_loss_options o;
    smk_loss_options_init(&o);
    CHECK_STATUS(smk_cross_entropy_f64(x, bad, NULL, loss, g, 2, 3, 1, &o), SMK_ERROR_INDEX_OUT_OF_RANGE);
    CHECK(strstr(smk_last_error_message(), "target[1] = 3") != NULL);
    CHECK_STATUS(smk_cross_entropy_f64(x, negative, NULL, loss, g, 2, 3, 1, &o), SMK_ERROR_INDEX_OUT_OF_RANGE);
    CHECK_STATUS(smk_nll_loss_f64(x, bad, w, loss, 2, 3, 1, &o), SMK_ERROR_INDEX_OUT_OF_RANGE);
    o.label_smoothing = -0.1;
    CHECK_STATUS(smk_cross_entropy_f64(x, ok, NULL, loss, g, 2, 3, 1, &o), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "label_smoothing") != NULL);
    o.label_smoothing = NAN;
    CHECK_STATUS(smk_cross_entropy_f64(x, ok, NULL, loss, g, 2, 3, 1, &o), SMK_ERROR_INVALID_ARGUMENT);
    o.label_smoothing = 0;
    o.reduction = 3;
    CHECK_STATUS(smk_cross_entropy_f64(x, ok, NULL, loss, g, 2, 3, 1, &o), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "reduction") != NULL);
    o.reduction = SMK_REDUCTION_MEAN;
    o.size = 8;
    CHECK_STATUS(smk_cross_entropy_f64(x, ok, NULL, loss, g, 2, 3, 1, &o), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "size") != NULL);
    CHECK_STATUS(smk_cross_entropy_f64(x, NULL, NULL, loss, g, 2, 3, 1, NULL), SMK_ERROR_NULL_POINTER);
    CHECK(strstr(smk_last_error_message(), "target") != NULL);
    CHECK_STATUS(smk_cross_entropy_f64(x, ok, NULL, loss, x, 2, 3, 1, NULL), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_binary_cross_entropy_with_logits_f64(x, x, NULL, w, loss, 4, 3, SMK_REDUCTION_MEAN),
                 SMK_ERROR_SHAPE_MISMATCH);
    CHECK(strstr(smk_last_error_message(), "pos_weight") != NULL);
    CHECK(loss[0] == 7 && loss[1] == 7 && g[0] == 7 && g[5] == 7);
}

/* loss and dlogits are separate buffers: any overlap with an input (or each
 * other) is refused before anything is written. fuzz_abi found loss placed
 * inside logits accepted with reduction none, where later samples then read
 * logits the earlier ones had overwritten. */
static void test_outputs_must_be_separate(void) {
    float buf[16], w[3] = {1, 2, 3}, lossf[2], g[6];
    int64_t t[2] = {0, 2};
    smk_loss_options o;
    int i;
    smk_loss_options_init(&o);
    o.reduction = SMK_REDUCTION_NONE;
    for (i = 0; i < 16; i++) buf[i] = (float)i / 4;
    /* loss inside logits, at its start and at its end */
    CHECK_STATUS(smk_cross_entropy_f32(buf, t, NULL, buf + 4, NULL, 2, 3, 1, &o), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "loss overlaps logits") != NULL);
    CHECK_STATUS(smk_cross_entropy_f32(buf, t, NULL, buf, NULL, 2, 3, 1, &o), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(buf[0] == 0 && buf[4] == 1);  /* untouched */
    /* loss on the weight or the probability target; dlogits on the loss or the weight */
    CHECK_STATUS(smk_cross_entropy_f32(buf, t, w, w + 1, NULL, 2, 3, 1, &o), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "weight") != NULL);
    CHECK_STATUS(smk_cross_entropy_probs_f32(buf, buf + 6, NULL, buf + 7, NULL, 2, 3, 1, &o), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_cross_entropy_f32(buf, t, NULL, lossf, lossf, 2, 3, 1, &o), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_cross_entropy_f32(buf, t, w, lossf, g, 2, 3, 1, &o), SMK_OK);  /* separate: fine */
    CHECK_STATUS(smk_cross_entropy_f32(buf, t, w, lossf, w, 1, 3, 1, &o), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_nll_loss_f32(buf, t, NULL, buf + 5, 2, 3, 1, &o), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "log_probs") != NULL);
    /* BCE: loss on logits, target, weight or pos_weight */
    CHECK_STATUS(smk_binary_cross_entropy_with_logits_f32(buf, buf + 6, NULL, NULL, buf, 6, 3, SMK_REDUCTION_NONE),
                 SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_binary_cross_entropy_with_logits_f32(buf, buf + 6, NULL, NULL, buf + 11, 6, 3, SMK_REDUCTION_NONE),
                 SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_binary_cross_entropy_with_logits_f32(buf, buf + 6, NULL, w, w, 6, 3, SMK_REDUCTION_MEAN),
                 SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "pos_weight") != NULL);
    for (i = 0; i < 6; i++) g[i] = 0;
    CHECK_STATUS(smk_binary_cross_entropy_with_logits_f32(buf, buf + 6, g, NULL, g + 2, 6, 3, SMK_REDUCTION_SUM),
                 SMK_ERROR_INVALID_ARGUMENT);
    for (i = 0; i < 16; i++) CHECK(buf[i] == (float)i / 4);
}

int main(void) {
    test_seed_003();
    test_against_reference();
    test_spatial_and_probabilities();
    test_all_ignored_and_nll();
    test_bce();
    test_bce_cancellation();
    test_bad_input();
    test_outputs_must_be_separate();
    return check_summary("test_losses");
}
