/* The chunked normalizer (smk_softmax_state_*, smk_softmax_state_merge,
 * smk_*_finish_*): a row split into chunks, states merged in different
 * trees, must give what the whole-row kernels give, edge cases exactly;
 * bad arguments are refused with nothing written. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "softmaxkit.h"

#define ROWS 4
#define COLS 37

static double rel(double a, double b) {
    if (a == b) return 0;
    return fabs(a - b) / fmax(fabs(b), 1e-30);
}

/* Row r of x (ROWS x COLS) split at the cut points; states of each chunk
 * merged in one call (fold), then each chunk finished. */
static void chunked_softmax(const float *x, const int *cuts, int parts, float temperature,
                            float *y, float *ly, float *lse) {
    double pm[8 * ROWS], ps[8 * ROWS], m[ROWS], s[ROWS];
    float chunk[ROWS * COLS], out[ROWS * COLS];
    for (int p = 0; p < parts; p++) {
        int a = cuts[p], b = cuts[p + 1], w = b - a;
        for (int r = 0; r < ROWS; r++) memcpy(chunk + r * w, x + r * COLS + a, (size_t)w * sizeof(float));
        CHECK_STATUS(smk_softmax_state_f32(chunk, pm + p * ROWS, ps + p * ROWS, ROWS, w, 1, temperature), SMK_OK);
    }
    CHECK_STATUS(smk_softmax_state_merge(pm, ps, m, s, parts, ROWS, temperature), SMK_OK);
    for (int p = 0; p < parts; p++) {
        int a = cuts[p], b = cuts[p + 1], w = b - a;
        for (int r = 0; r < ROWS; r++) memcpy(chunk + r * w, x + r * COLS + a, (size_t)w * sizeof(float));
        CHECK_STATUS(smk_softmax_finish_f32(chunk, m, s, out, ROWS, w, 1, temperature), SMK_OK);
        for (int r = 0; r < ROWS; r++) memcpy(y + r * COLS + a, out + r * w, (size_t)w * sizeof(float));
        CHECK_STATUS(smk_log_softmax_finish_f32(chunk, m, s, out, ROWS, w, 1, temperature), SMK_OK);
        for (int r = 0; r < ROWS; r++) memcpy(ly + r * COLS + a, out + r * w, (size_t)w * sizeof(float));
    }
    if (lse) CHECK_STATUS(smk_logsumexp_finish_f32(m, s, lse, ROWS), SMK_OK);
}

static void same_as_whole_rows(const float *x, float temperature, int exact_edges) {
    static const int cut_sets[][9] = {
        {0, 37}, {0, 1, 37}, {0, 18, 19, 37}, {0, 5, 10, 15, 20, 25, 30, 35, 37}, {0, 36, 37},
    };
    static const int parts[] = {1, 2, 3, 8, 2};
    float want[ROWS * COLS], lwant[ROWS * COLS], lsewant[ROWS];
    CHECK_STATUS(smk_softmax_f32(x, want, ROWS, COLS, 1, temperature), SMK_OK);
    CHECK_STATUS(smk_log_softmax_f32(x, lwant, ROWS, COLS, 1, temperature), SMK_OK);
    CHECK_STATUS(smk_logsumexp_f32(x, lsewant, ROWS, COLS, 1), SMK_OK);
    for (int c = 0; c < 5; c++) {
        float y[ROWS * COLS], ly[ROWS * COLS], lse[ROWS];
        chunked_softmax(x, cut_sets[c], parts[c], temperature, y, ly, temperature == 1.0f ? lse : NULL);
        int ok = 1;
        for (int i = 0; i < ROWS * COLS; i++) {
            if (isnan(want[i]) != isnan(y[i]) || isnan(lwant[i]) != isnan(ly[i])) ok = 0;
            else if (!isnan(want[i]) && (rel(y[i], want[i]) > 4e-6 && fabs(y[i] - want[i]) > 1e-12)) ok = 0;
            else if (!isnan(lwant[i]) && isinf(lwant[i]) != isinf(ly[i])) ok = 0;
            else if (!isnan(lwant[i]) && !isinf(lwant[i]) && fabs(ly[i] - lwant[i]) > 4e-6 * fmax(1, fabs(lwant[i]))) ok = 0;
        }
        CHECK(ok);
        if (temperature == 1.0f) {
            for (int r = 0; r < ROWS; r++) {
                if (exact_edges && (isnan(lsewant[r]) || isinf(lsewant[r])))
                    CHECK(memcmp(&lse[r], &lsewant[r], sizeof(float)) == 0 || (isnan(lse[r]) && isnan(lsewant[r])));
                else
                    CHECK(fabs(lse[r] - lsewant[r]) <= 4e-6 * fmax(1, fabs(lsewant[r])));
            }
        }
    }
}

int main(void) {
    float x[ROWS * COLS];
    for (int i = 0; i < ROWS * COLS; i++) x[i] = (float)(((i * 7919) % 101) - 50) * 0.13f;
    same_as_whole_rows(x, 1.0f, 0);
    same_as_whole_rows(x, 0.3f, 0);

    /* Edge rows: a NaN, all -inf, a +inf, -inf entries beside finite ones. */
    float e[ROWS * COLS];
    memcpy(e, x, sizeof e);
    e[0 * COLS + 20] = NAN;
    for (int j = 0; j < COLS; j++) e[1 * COLS + j] = -INFINITY;
    e[2 * COLS + 3] = INFINITY;
    for (int j = 0; j < COLS; j += 2) e[3 * COLS + j] = -INFINITY;
    same_as_whole_rows(e, 1.0f, 1);

    /* Merging in a different tree gives the same state up to rounding. */
    double pm[4] = {1.0, -INFINITY, 3.0, 2.5}, ps[4] = {2.0, 0.0, 1.5, 4.0};
    double m1, s1, m2[2], s2[2], m3, s3;
    CHECK_STATUS(smk_softmax_state_merge(pm, ps, &m1, &s1, 4, 1, 1.0), SMK_OK);
    CHECK_STATUS(smk_softmax_state_merge(pm, ps, m2, s2, 2, 2, 1.0), SMK_OK); /* pairs (0,2), (1,3) */
    double pm2[2] = {m2[0], m2[1]}, ps2[2] = {s2[0], s2[1]};
    CHECK_STATUS(smk_softmax_state_merge(pm2, ps2, &m3, &s3, 2, 1, 1.0), SMK_OK);
    CHECK(m1 == 3.0 && m3 == 3.0 && rel(s1, s3) < 1e-15);
    CHECK(rel(s1, 2.0 * exp(-2.0) + 1.5 + 4.0 * exp(-0.5)) < 1e-15);

    /* An empty chunk is the neutral state. */
    double em = 0, es = 1;
    CHECK_STATUS(smk_softmax_state_f32(NULL, &em, &es, 1, 0, 1, 1.0f), SMK_OK);
    CHECK(em == -INFINITY && es == 0.0);

    /* Bad arguments: nothing written. */
    double mm[ROWS], ss[ROWS];
    for (int r = 0; r < ROWS; r++) mm[r] = ss[r] = 7.0;
    CHECK_STATUS(smk_softmax_state_f32(x, mm, ss, ROWS, COLS, 1, 0.0f), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_softmax_state_f32(x, mm, mm, ROWS, COLS, 1, 1.0f), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_softmax_state_f32(x, NULL, ss, ROWS, COLS, 1, 1.0f), SMK_ERROR_NULL_POINTER);
    CHECK_STATUS(smk_softmax_state_f32(x, mm, ss, -1, COLS, 1, 1.0f), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(mm[0] == 7.0 && ss[0] == 7.0);
    CHECK_STATUS(smk_softmax_state_merge(pm, ps, &m1, &s1, 0, 1, 1.0), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_softmax_state_merge(pm, ps, &m1, &s1, 1, -1, 1.0), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_softmax_state_merge(pm, ps, pm + 1, &s1, 2, 1, 1.0), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_softmax_state_merge(pm, ps, &m1, &s1, INT64_MAX, 2, 1.0), SMK_ERROR_SIZE_OVERFLOW);
    /* parts * count = 2^61: no 64-bit wrap, past the element limit. */
    CHECK_STATUS(smk_softmax_state_merge(pm, ps, &m1, &s1, (int64_t)1 << 30, (int64_t)1 << 31, 1.0),
                 SMK_ERROR_SIZE_OVERFLOW);
    float y[ROWS * COLS];
    CHECK_STATUS(smk_softmax_finish_f32(x, mm, ss, x + 1, ROWS, COLS, 1, 1.0f), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_softmax_finish_f32(x, mm, ss, y, ROWS, COLS, 1, NAN), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_logsumexp_finish_f64(mm, ss, mm, ROWS), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_logsumexp_finish_f32(mm, ss, NULL, ROWS), SMK_ERROR_NULL_POINTER);
    /* In place is allowed for the finishing pass. */
    double d[3] = {1.0, 2.0, 3.0}, dm = 3.0, ds;
    CHECK_STATUS(smk_softmax_state_f64(d, &dm, &ds, 1, 3, 1, 1.0), SMK_OK);
    CHECK_STATUS(smk_softmax_finish_f64(d, &dm, &ds, d, 1, 3, 1, 1.0), SMK_OK);
    CHECK(fabs(d[0] + d[1] + d[2] - 1.0) < 1e-15);

    /* Top-k merge: two chunks' top-2 lists of the row {1, 5, 5, NaN, 2, 5}
     * (chunks [0, 3) and [3, 6)): NaN first, then the 5s by row index. */
    {
        float cv[4] = {5, 5, NAN, 5};
        int64_t ci[4] = {1, 2, 3, 5}, io[3] = {-1, -1, -1};
        float vo[3];
        CHECK_STATUS(smk_topk_merge_f32(cv, ci, vo, io, 1, 4, 1, 3), SMK_OK);
        CHECK(isnan(vo[0]) && io[0] == 3 && vo[1] == 5 && io[1] == 1 && vo[2] == 5 && io[2] == 2);
        io[0] = 77;
        CHECK_STATUS(smk_topk_merge_f32(cv, ci, vo, io, 1, 4, 1, 5), SMK_ERROR_INVALID_ARGUMENT);
        CHECK_STATUS(smk_topk_merge_f32(cv, NULL, vo, io, 1, 4, 1, 3), SMK_ERROR_NULL_POINTER);
        CHECK_STATUS(smk_topk_merge_f32(cv, ci, vo, (int64_t *)(void *)cv, 1, 4, 1, 1), SMK_ERROR_INVALID_ARGUMENT);
        CHECK(io[0] == 77);
    }
    /* Masked state and finish: unselected NaN never read, exactly 0 / -inf out. */
    {
        float mx[4] = {1.0f, NAN, 3.0f, INFINITY}, my[4];
        uint8_t mk[4] = {1, 0, 1, 0};
        double mmax, msum;
        CHECK_STATUS(smk_masked_softmax_state_f32(mx, mk, &mmax, &msum, 1, 4, 1, 4), SMK_OK);
        /* float rows take float exponentials (summed in double), as
         * smk_softmax_state_f32 and smk_masked_softmax_f32: an ulp of float. */
        CHECK(mmax == 3.0 && rel(msum, 1.0 + exp(-2.0)) < 2e-7);
        double dx[4] = {1.0, NAN, 3.0, INFINITY}, dmax, dsum;
        CHECK_STATUS(smk_masked_softmax_state_f64(dx, mk, &dmax, &dsum, 1, 4, 1, 4), SMK_OK);
        CHECK(dmax == 3.0 && rel(dsum, 1.0 + exp(-2.0)) < 1e-15);
        CHECK_STATUS(smk_masked_softmax_finish_f32(mx, mk, &mmax, &msum, my, 1, 4, 1, 4), SMK_OK);
        CHECK(my[1] == 0.0f && my[3] == 0.0f && fabs(my[0] + my[2] - 1.0f) < 1e-6f);
        CHECK_STATUS(smk_masked_log_softmax_finish_f32(mx, mk, &mmax, &msum, my, 1, 4, 1, 4), SMK_OK);
        CHECK(my[1] == -INFINITY && my[3] == -INFINITY && fabs(my[2] + (float)log1p(exp(-2.0))) < 1e-6f);
        uint8_t none[4] = {0, 0, 0, 0};
        CHECK_STATUS(smk_masked_softmax_state_f32(mx, none, &mmax, &msum, 1, 4, 1, 4), SMK_OK);
        CHECK(mmax == -INFINITY && msum == 0.0);
        CHECK_STATUS(smk_masked_softmax_finish_f32(mx, none, &mmax, &msum, my, 1, 4, 1, 4), SMK_OK);
        CHECK(my[0] == 0.0f && my[1] == 0.0f && my[2] == 0.0f && my[3] == 0.0f);
        CHECK_STATUS(smk_masked_softmax_state_f32(mx, mk, &mmax, &msum, 1, 4, 1, 3), SMK_ERROR_SHAPE_MISMATCH);
        CHECK_STATUS(smk_masked_softmax_finish_f32(mx, mk, &mmax, &msum, mx + 1, 1, 3, 1, 3), SMK_ERROR_INVALID_ARGUMENT);
    }
    /* Cross-entropy parts over chunks [0, 2) and [2, 4) of 4 classes sum to
     * the whole-row loss; a bad target anywhere is refused, nothing written. */
    {
        float lx[4] = {0.5f, -1.0f, 2.0f, 0.25f}, part_a[2] = {0.5f, -1.0f}, part_b[2] = {2.0f, 0.25f};
        float w[4] = {1.0f, 2.0f, 0.5f, 1.5f}, whole;
        double lm, ls, la, lb, ta, tb;
        int64_t t = 1, bad = 4;
        smk_loss_options o;
        smk_loss_options_init(&o);
        o.label_smoothing = 0.1;
        o.reduction = SMK_REDUCTION_NONE;
        CHECK_STATUS(smk_cross_entropy_f32(lx, &t, w, &whole, NULL, 1, 4, 1, &o), SMK_OK);
        CHECK_STATUS(smk_softmax_state_f32(lx, &lm, &ls, 1, 4, 1, 1.0f), SMK_OK);
        CHECK_STATUS(smk_cross_entropy_chunk_f32(part_a, &lm, &ls, &t, w, &la, &ta, 1, 2, 1, 0, 4, -100, 0.1), SMK_OK);
        CHECK_STATUS(smk_cross_entropy_chunk_f32(part_b, &lm, &ls, &t, w + 2, &lb, &tb, 1, 2, 1, 2, 4, -100, 0.1), SMK_OK);
        CHECK(rel(la + lb, whole) < 1e-6 && ta == 2.0 && tb == 0.0);
        la = 7.0;
        CHECK_STATUS(smk_cross_entropy_chunk_f32(part_a, &lm, &ls, &bad, w, &la, NULL, 1, 2, 1, 0, 4, -100, 0.1),
                     SMK_ERROR_INDEX_OUT_OF_RANGE);
        CHECK_STATUS(smk_cross_entropy_chunk_f32(part_a, &lm, &ls, &t, w, &la, NULL, 1, 2, 1, 3, 4, -100, 0.1),
                     SMK_ERROR_INVALID_ARGUMENT);
        CHECK_STATUS(smk_cross_entropy_chunk_f32(part_a, &lm, &ls, &t, w, &la, NULL, 1, 2, 1, 0, 4, -100, NAN),
                     SMK_ERROR_INVALID_ARGUMENT);
        CHECK_STATUS(smk_cross_entropy_probs_chunk_f32(part_a, &lm, &ls, NULL, w, &la, 1, 2, 1, 0, 4, 0.0),
                     SMK_ERROR_NULL_POINTER);
        CHECK(la == 7.0);
    }
    /* Cross-entropy gradient parts over chunks [0, 2) and [2, 4) of 4
     * classes (weights over all 4, label smoothing, the mean's divisor) are
     * the whole-row gradient; a bad divisor or target is refused, nothing written. */
    {
        float lx[4] = {0.5f, -1.0f, 2.0f, 0.25f}, w[4] = {1.0f, 2.0f, 0.5f, 1.5f}, whole, g[4], ga[4];
        double lm, ls;
        int64_t t = 2, bad = 4;
        smk_loss_options o;
        smk_loss_options_init(&o);
        o.label_smoothing = 0.1;
        o.reduction = SMK_REDUCTION_MEAN;
        CHECK_STATUS(smk_cross_entropy_f32(lx, &t, w, &whole, g, 1, 4, 1, &o), SMK_OK);
        CHECK_STATUS(smk_softmax_state_f32(lx, &lm, &ls, 1, 4, 1, 1.0f), SMK_OK);
        CHECK_STATUS(smk_cross_entropy_grad_chunk_f32(lx, &lm, &ls, &t, w, ga, 1, 2, 1, 0, 4, -100, 0.1, 0.5), SMK_OK);
        CHECK_STATUS(smk_cross_entropy_grad_chunk_f32(lx + 2, &lm, &ls, &t, w, ga + 2, 1, 2, 1, 2, 4, -100, 0.1, 0.5),
                     SMK_OK);
        for (int c = 0; c < 4; c++) CHECK(fabsf(ga[c] - g[c]) < 1e-6f);
        ga[0] = 7.0f;
        CHECK_STATUS(smk_cross_entropy_grad_chunk_f32(lx, &lm, &ls, &t, w, ga, 1, 2, 1, 0, 4, -100, 0.1, 0.0),
                     SMK_ERROR_INVALID_ARGUMENT);
        CHECK_STATUS(smk_cross_entropy_grad_chunk_f32(lx, &lm, &ls, &bad, w, ga, 1, 2, 1, 0, 4, -100, 0.1, 1.0),
                     SMK_ERROR_INDEX_OUT_OF_RANGE);
        CHECK_STATUS(smk_cross_entropy_grad_chunk_f32(lx, &lm, &ls, &t, w, ga, 1, 2, 1, 3, 4, -100, 0.1, 1.0),
                     SMK_ERROR_INVALID_ARGUMENT);
        CHECK_STATUS(smk_cross_entropy_grad_chunk_f32(lx, &lm, &ls, NULL, w, ga, 1, 2, 1, 0, 4, -100, 0.1, 1.0),
                     SMK_ERROR_NULL_POINTER);
        CHECK(ga[0] == 7.0f);
        t = -100;
        CHECK_STATUS(smk_cross_entropy_grad_chunk_f32(lx, &lm, &ls, &t, NULL, ga, 1, 2, 1, 0, 4, -100, 0.0, 1.0), SMK_OK);
        CHECK(ga[0] == 0.0f && ga[1] == 0.0f);
    }
    return check_summary("test_chunked");
}
