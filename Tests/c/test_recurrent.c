/* Recurrent models from C against PyTorch: every fixture of
 * Tests/fixtures/recurrent/ (written by Tests/fixtures/make_recurrent.py
 * with nn.LSTM, nn.GRU, nn.Embedding and pack_padded_sequence), run through
 * smk_model_forward, smk_model_forward_lengths and smk_model_forward_ids and
 * compared within 2e-5 absolute; then the id and lengths errors. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "softmaxkit.h"
#include "check.h"
#include "model_fixtures.h"

#define DIR "Tests/fixtures/recurrent/"


static const char *CASES[] = {
    "lstm_l1_uni_seq", "lstm_l1_uni_final", "lstm_l1_bi_seq", "lstm_l1_bi_final",
    "lstm_l2_uni_seq", "lstm_l2_uni_final", "lstm_l2_bi_seq", "lstm_l2_bi_final",
    "gru_l1_uni_seq", "gru_l1_uni_final", "gru_l1_bi_seq", "gru_l1_bi_final",
    "gru_l2_uni_seq", "gru_l2_uni_final", "gru_l2_bi_seq", "gru_l2_bi_final",
    "lstm_nobias", "gru_nobias", "lstm_l2_bi_seq_lengths", "lstm_l2_bi_final_lengths",
    "gru_l2_bi_seq_lengths", "gru_l2_bi_final_lengths", "seed_timesteps", "tagger", "tagger_gru_lengths",
};


static void test_errors(void) {
    smk_model *tagger = NULL, *seed = NULL;
    float out[2 * 3 * 3], sentinel = 7.0f, *outs[4];
    int64_t ids[6] = {1, 2, 3, 4, 11, 0}, lengths[2] = {3, 4}, vocab = 0, feats = -1;
    float x[2 * 5];
    int32_t per_step = -1;
    int i;
    CHECK_STATUS(smk_model_load(DIR "tagger.safetensors", &tagger), SMK_OK);
    CHECK_STATUS(smk_model_load(DIR "seed_timesteps.safetensors", &seed), SMK_OK);
    if (!tagger || !seed) return;
    CHECK_STATUS(smk_model_input_vocabulary(tagger, &vocab), SMK_OK);
    CHECK(vocab == 11);
    CHECK_STATUS(smk_model_input_features(tagger, &feats), SMK_OK);
    CHECK(feats == 0);
    CHECK_STATUS(smk_model_head_per_step(tagger, 0, &per_step), SMK_OK);
    CHECK(per_step == 1);
    CHECK_STATUS(smk_model_head_per_step(seed, 0, &per_step), SMK_OK);
    CHECK(per_step == 0);
    CHECK_STATUS(smk_model_head_per_step(seed, 9, &per_step), SMK_ERROR_INDEX_OUT_OF_RANGE);
    for (i = 0; i < 18; i++) out[i] = sentinel;
    outs[0] = out;
    /* id 11 at row 1, step 1: outside the vocabulary; nothing written. */
    CHECK_STATUS(smk_model_forward_ids(tagger, ids, 2, 3, NULL, outs, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "ids[1, 1] is 11") != NULL);
    CHECK(out[0] == sentinel && out[17] == sentinel);
    /* a length beyond the steps */
    ids[4] = 5;
    CHECK_STATUS(smk_model_forward_ids(tagger, ids, 2, 3, lengths, outs, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(smk_last_error_message(), "lengths[1] is 4") != NULL);
    CHECK(out[0] == sentinel);
    lengths[1] = 1;
    CHECK_STATUS(smk_model_forward_ids(tagger, ids, 2, 3, lengths, outs, 1), SMK_OK);
    CHECK(out[12] == 0.0f && out[17] == 0.0f && out[9] > 0.0f); /* row 1: steps 1 and 2 are padding */
    /* float input to an id model; ids to a float model */
    CHECK_STATUS(smk_model_forward(tagger, x, 2, 1, 0, outs, 1), SMK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(smk_model_forward_ids(seed, ids, 2, 1, NULL, outs, 4), SMK_ERROR_INVALID_ARGUMENT);
    /* a selected step outside the input */
    for (i = 0; i < 10; i++) x[i] = 0.5f;
    {
        float o[4][20], *po[4] = {o[0], o[1], o[2], o[3]};
        CHECK_STATUS(smk_model_forward(seed, x, 1, 2, 5, po, 4), SMK_ERROR_SHAPE_MISMATCH);
        CHECK(strstr(smk_last_error_message(), "head_2") != NULL);
    }
    smk_model_free(tagger);
    smk_model_free(seed);
}

/* A one-layer LSTM (F = 2, H = 1, G = 4) and a dense head built with
 * smk_model_builder: the spec `kind` / `extra` keys and which tensors are
 * added vary; the status and a fragment of the message are checked, and
 * *model_out left untouched on failure. Tensor flags: 1 weight_ih with a
 * wrong input width, 2 no bias_hh, 4 a weight_hr (proj_size) tensor,
 * 8 no _reverse tensors at all (with "bidirectional": true in extra). */
static void build_lstm(const char *kind, const char *extra, int flags, smk_status want, const char *fragment) {
    static const float zeros[16] = {0};
    char spec[512];
    smk_model_builder *b = NULL;
    smk_model *const untouched = (smk_model *)(uintptr_t)0x5a5a;
    smk_model *m = untouched;
    int64_t ih[2] = {4, (flags & 1) ? 3 : 2}, hh[2] = {4, 1}, bias[1] = {4}, hr[2] = {1, 1}, fc[2] = {3, 1};
    int bidirectional = extra && strstr(extra, "bidirectional") != NULL, spec_bad, d;
    snprintf(spec, sizeof spec,
             "{\"softmaxkit\": 1, \"input\": {\"features\": 2}, \"layers\": ["
             "{\"name\": \"rnn\", \"kind\": \"%s\"%s}, {\"name\": \"fc\", \"input\": \"rnn\"}], "
             "\"heads\": [{\"name\": \"p\", \"layer\": \"fc\", \"output\": \"softmax\"}]}",
             kind, extra ? extra : "");
    if (bidirectional) fc[1] = 2;
    /* an unknown kind or a proj_size key: the spec itself is refused */
    spec_bad = strcmp(kind, "lstm") != 0 || (extra && strstr(extra, "proj_size"));
    CHECK_STATUS(smk_model_builder_create(spec, &b), spec_bad ? want : SMK_OK);
    if (!b) {
        CHECK(strstr(smk_last_error_message(), fragment) != NULL);
        return;
    }
    for (d = 0; d < (bidirectional && !(flags & 8) ? 2 : 1); d++) {
        const char *sfx = d ? "_reverse" : "";
        char name[64];
        snprintf(name, sizeof name, "rnn.weight_ih_l0%s", sfx);
        CHECK_STATUS(smk_model_builder_add_f32(b, name, zeros, ih, 2), SMK_OK);
        snprintf(name, sizeof name, "rnn.weight_hh_l0%s", sfx);
        CHECK_STATUS(smk_model_builder_add_f32(b, name, zeros, hh, 2), SMK_OK);
        snprintf(name, sizeof name, "rnn.bias_ih_l0%s", sfx);
        CHECK_STATUS(smk_model_builder_add_f32(b, name, zeros, bias, 1), SMK_OK);
        snprintf(name, sizeof name, "rnn.bias_hh_l0%s", sfx);
        if (!(flags & 2)) CHECK_STATUS(smk_model_builder_add_f32(b, name, zeros, bias, 1), SMK_OK);
    }
    if (flags & 4) CHECK_STATUS(smk_model_builder_add_f32(b, "rnn.weight_hr_l0", zeros, hr, 2), SMK_OK);
    CHECK_STATUS(smk_model_builder_add_f32(b, "fc.weight", zeros, fc, 2), SMK_OK);
    CHECK_STATUS(smk_model_builder_build(b, &m), want);
    if (want == SMK_OK) {
        smk_model_free(m);
    } else {
        CHECK(m == untouched);
        if (!strstr(smk_last_error_message(), fragment))
            fprintf(stderr, "expected \"%s\" in: %s\n", fragment, smk_last_error_message());
        CHECK(strstr(smk_last_error_message(), fragment) != NULL);
    }
    smk_model_builder_free(b);
}

/* Each bad recurrent layer is a clear error naming what is wrong. */
static void test_bad_layers(void) {
    build_lstm("lstm", NULL, 0, SMK_OK, "");
    build_lstm("lstm", ", \"bidirectional\": true", 0, SMK_OK, "");
    build_lstm("rnn2", NULL, 0, SMK_ERROR_FORMAT, "unknown value \"rnn2\"");
    build_lstm("lstm", NULL, 1, SMK_ERROR_SHAPE_MISMATCH, "\"rnn.weight_ih_l0\" has shape [4, 3], expected [4, 2]");
    build_lstm("lstm", ", \"units\": 2", 0, SMK_ERROR_SHAPE_MISMATCH, "units");
    build_lstm("lstm", NULL, 2, SMK_ERROR_FORMAT, "give both biases or neither");
    build_lstm("lstm", NULL, 4, SMK_ERROR_FORMAT, "proj_size");
    build_lstm("lstm", ", \"proj_size\": 1", 0, SMK_ERROR_FORMAT, "proj_size");
    build_lstm("lstm", ", \"bidirectional\": true", 8, SMK_ERROR_FORMAT, "missing tensor \"rnn.weight_ih_l0_reverse\"");
}

/* smk_model_step over the steps of a fixture equals smk_model_forward. */
static void test_streaming(void) {
    tensor t[MAX_TENSORS];
    smk_model *model = NULL, *other = NULL, *bi = NULL;
    smk_model_state *state = NULL, *bad = NULL;
    int n = read_fixture(DIR, "gru_l2_uni_seq", t), round;
    int64_t B, T, F, C = 5, b, s, k;
    float *x, *whole[3], *step[3], *xt;
    CHECK(n > 0);
    if (n <= 0) return;
    CHECK_STATUS(smk_model_load(DIR "gru_l2_uni_seq.safetensors", &model), SMK_OK);
    CHECK_STATUS(smk_model_load(DIR "gru_l2_uni_seq.safetensors", &other), SMK_OK);
    CHECK_STATUS(smk_model_load(DIR "lstm_l1_bi_seq.safetensors", &bi), SMK_OK);
    B = t[0].shape[0]; T = t[0].shape[1]; F = t[0].shape[2];
    x = malloc(sizeof(float) * (size_t)(B * T * F));
    xt = malloc(sizeof(float) * (size_t)(B * F));
    for (k = 0; k < B * T * F; k++) x[k] = (float)t[0].values[k];
    for (k = 0; k < 3; k++) {
        whole[k] = malloc(sizeof(float) * (size_t)(B * T * C));
        step[k] = malloc(sizeof(float) * (size_t)(B * C));
    }
    CHECK_STATUS(smk_model_forward(model, x, B, T, F, whole, 3), SMK_OK);
    CHECK_STATUS(smk_model_state_create(model, B, &state), SMK_OK);
    for (round = 0; round < 2; round++) {
        int same = 1;
        for (s = 0; s < T; s++) {
            for (b = 0; b < B; b++) memcpy(xt + b * F, x + (b * T + s) * F, sizeof(float) * (size_t)F);
            CHECK_STATUS(smk_model_step(model, state, xt, B, F, step, 3), SMK_OK);
            for (k = 0; k < 3; k++) {
                int64_t c;
                for (b = 0; b < B; b++)
                    for (c = 0; c < C; c++)
                        if (fabsf(step[k][b * C + c] - whole[k][(b * T + s) * C + c]) > 1e-6f) same = 0;
            }
        }
        CHECK(same);
        CHECK_STATUS(smk_model_state_reset(state), SMK_OK);
    }
    CHECK_STATUS(smk_model_step(other, state, xt, B, F, step, 3), SMK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(smk_model_step(model, state, xt, B - 1, F, step, 3), SMK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(smk_model_state_create(bi, 1, &bad), SMK_ERROR_UNSUPPORTED);
    CHECK(bad == NULL);
    CHECK_STATUS(smk_model_state_reset(NULL), SMK_ERROR_NULL_POINTER);
    smk_model_state_free(NULL);
    smk_model_state_free(state);
    smk_model_free(model); smk_model_free(other); smk_model_free(bi);
    for (k = 0; k < 3; k++) { free(whole[k]); free(step[k]); }
    free(x); free(xt);
    for (k = 0; k < n; k++) free(t[k].values);
}

/* The per-timestep network streams: a step-i head is ready (and equal to the
 * forward's) at tick i only, NaN otherwise; the step -1 head at every tick. */
static void test_streaming_selected_steps(void) {
    smk_model *seed = NULL;
    smk_model_state *state = NULL;
    enum { B = 2, T = 4, F = 5, C = 10 };
    float x[B * T * F], xt[B * F], whole[4][B * C], step[4][B * C];
    float *pw[4] = {whole[0], whole[1], whole[2], whole[3]}, *ps[4] = {step[0], step[1], step[2], step[3]};
    int64_t b, s, k, c;
    int32_t ready = -1;
    CHECK_STATUS(smk_model_load(DIR "seed_timesteps.safetensors", &seed), SMK_OK);
    if (!seed) return;
    for (k = 0; k < B * T * F; k++) x[k] = (float)sin(0.37 * (double)k);
    CHECK_STATUS(smk_model_forward(seed, x, B, T, F, pw, 4), SMK_OK);
    CHECK_STATUS(smk_model_state_create(seed, B, &state), SMK_OK);
    CHECK_STATUS(smk_model_state_head_ready(state, 0, &ready), SMK_OK);
    CHECK(ready == 0);
    CHECK_STATUS(smk_model_state_head_ready(state, 4, &ready), SMK_ERROR_INDEX_OUT_OF_RANGE);
    CHECK_STATUS(smk_model_state_head_ready(state, 0, NULL), SMK_ERROR_NULL_POINTER);
    for (s = 0; s < T; s++) {
        for (b = 0; b < B; b++) memcpy(xt + b * F, x + (b * T + s) * F, sizeof xt / B);
        CHECK_STATUS(smk_model_step(seed, state, xt, B, F, ps, 4), SMK_OK);
        for (k = 0; k < 3; k++) {
            int same = 1, nan = 1;
            CHECK_STATUS(smk_model_state_head_ready(state, k, &ready), SMK_OK);
            CHECK(ready == (k == s));
            for (c = 0; c < B * C; c++) {
                if (fabsf(step[k][c] - whole[k][c]) > 1e-6f) same = 0;
                if (!isnan(step[k][c])) nan = 0;
            }
            CHECK(k == s ? same : nan);
        }
        CHECK_STATUS(smk_model_state_head_ready(state, 3, &ready), SMK_OK);
        CHECK(ready == 1 && !isnan(step[3][0]));
    }
    /* after T steps the step -1 head is the forward's "last" */
    for (c = 0; c < B * C; c++) CHECK(fabsf(step[3][c] - whole[3][c]) <= 1e-6f);
    smk_model_state_free(state);
    smk_model_free(seed);
}

/* Ensembles of sequence models: forward with lengths is the members'
 * average (arithmetic), streaming gives the whole-sequence values, id
 * ensembles step on ids; states are not interchangeable. */
static void test_ensemble(void) {
    smk_model *a = NULL, *tagger = NULL;
    smk_ensemble *ens = NULL, *tens = NULL;
    smk_model_state *es = NULL, *ms = NULL, *ts = NULL;
    enum { B = 2, T = 3, F = 4, C = 5 };
    float x[B * T * F], xt[B * F], m[3][B * T * C], e[3][B * T * C], st[3][B * C];
    float *pm[3] = {m[0], m[1], m[2]}, *pe[3] = {e[0], e[1], e[2]}, *pst[3] = {st[0], st[1], st[2]};
    int64_t lengths[B] = {3, 1}, ids[B * T] = {1, 4, 7, 2, 0, 9}, idt[B];
    int64_t b, s, k, c, V = 0;
    const smk_model *members[2];
    CHECK_STATUS(smk_model_load(DIR "lstm_l1_uni_seq.safetensors", &a), SMK_OK);
    CHECK_STATUS(smk_model_load(DIR "tagger.safetensors", &tagger), SMK_OK);
    if (!a || !tagger) return;
    members[0] = a; members[1] = tagger;
    CHECK_STATUS(smk_ensemble_create(members, 2, SMK_ENSEMBLE_ARITHMETIC, &ens), SMK_ERROR_SHAPE_MISMATCH);
    members[1] = a;
    CHECK_STATUS(smk_ensemble_create(members, 2, SMK_ENSEMBLE_GEOMETRIC, &ens), SMK_OK);
    for (k = 0; k < B * T * F; k++) x[k] = (float)cos(0.21 * (double)k);
    CHECK_STATUS(smk_model_forward_lengths(a, x, B, T, F, lengths, pm, 3), SMK_OK);
    CHECK_STATUS(smk_ensemble_forward_lengths(ens, x, B, T, F, lengths, pe, 3), SMK_OK);
    for (k = 0; k < 3; k++)
        for (c = 0; c < B * T * C; c++)
            CHECK(fabsf(e[k][c] - m[k][c]) <= 1e-5f || (isinf(e[k][c]) && e[k][c] == m[k][c]));
    CHECK(e[0][(1 * T + 2) * C] == 0.0f && isinf(e[1][(1 * T + 2) * C])); /* padding as a model sets it */
    CHECK_STATUS(smk_ensemble_forward(ens, x, B, T, F, pe, 3), SMK_OK);
    CHECK_STATUS(smk_ensemble_state_create(ens, B, &es), SMK_OK);
    CHECK_STATUS(smk_model_state_create(a, B, &ms), SMK_OK);
    for (s = 0; s < T; s++) {
        for (b = 0; b < B; b++) memcpy(xt + b * F, x + (b * T + s) * F, sizeof xt / B);
        CHECK_STATUS(smk_ensemble_step(ens, es, xt, B, F, pst, 3), SMK_OK);
        for (k = 0; k < 3; k++)
            for (b = 0; b < B; b++)
                for (c = 0; c < C; c++) CHECK(fabsf(st[k][b * C + c] - e[k][(b * T + s) * C + c]) <= 1e-5f);
    }
    CHECK_STATUS(smk_model_state_reset(es), SMK_OK);
    CHECK_STATUS(smk_ensemble_step(ens, ms, xt, B, F, pst, 3), SMK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(smk_model_step(a, es, xt, B, F, pst, 3), SMK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(smk_ensemble_step_ids(ens, es, ids, B, pst, 3), SMK_ERROR_INVALID_ARGUMENT);
    /* an ensemble of token-id models */
    members[0] = tagger; members[1] = tagger;
    CHECK_STATUS(smk_ensemble_create(members, 2, SMK_ENSEMBLE_LOGITS, &tens), SMK_OK);
    CHECK_STATUS(smk_model_input_vocabulary(tagger, &V), SMK_OK);
    {
        int64_t size = 0;
        float *wt, *ws, *pwt[1], *pws[1];
        CHECK_STATUS(smk_model_head_size(tagger, 0, &size), SMK_OK);
        wt = malloc(sizeof(float) * (size_t)(B * T * size));
        ws = malloc(sizeof(float) * (size_t)(B * size));
        pwt[0] = wt; pws[0] = ws;
        CHECK_STATUS(smk_ensemble_forward_ids(tens, ids, B, T, NULL, pwt, 1), SMK_OK);
        CHECK_STATUS(smk_ensemble_state_create(tens, B, &ts), SMK_OK);
        for (s = 0; s < T; s++) {
            for (b = 0; b < B; b++) idt[b] = ids[b * T + s];
            CHECK_STATUS(smk_ensemble_step_ids(tens, ts, idt, B, pws, 1), SMK_OK);
            for (b = 0; b < B; b++)
                for (c = 0; c < size; c++) CHECK(fabsf(ws[b * size + c] - wt[(b * T + s) * size + c]) <= 1e-5f);
        }
        idt[1] = V;
        ws[0] = 7.0f;
        CHECK_STATUS(smk_ensemble_step_ids(tens, ts, idt, B, pws, 1), SMK_ERROR_INVALID_ARGUMENT);
        CHECK(strstr(smk_last_error_message(), "ids[1]") != NULL && ws[0] == 7.0f);
        CHECK_STATUS(smk_model_step_ids(tagger, ms, idt, B, pws, 1), SMK_ERROR_SHAPE_MISMATCH);
        free(wt); free(ws);
    }
    smk_model_state_free(es); smk_model_state_free(ms); smk_model_state_free(ts);
    smk_ensemble_free(ens); smk_ensemble_free(tens);
    smk_model_free(a); smk_model_free(tagger);
}

/* One model shared by four threads, each streaming its own sequence with
 * its own state, many times: every step equals (within 1e-6) the forward
 * of that sequence computed alone (a model is shareable; a state belongs to one
 * thread). */
enum { SHARED_THREADS = 4, SHARED_T = 12, SHARED_ROUNDS = 50 };
struct stream_job {
    const smk_model *model;
    int64_t features, classes;
    const float *x;       /* [1, SHARED_T, features] */
    const float *whole;   /* [1, SHARED_T, classes], head 0 of the forward */
    int64_t heads;
    int mismatches, failures;
};

static void *stream_job_run(void *arg) {
    struct stream_job *j = arg;
    smk_model_state *state = NULL;
    float out[3][16], *outs[3] = {out[0], out[1], out[2]};
    int round, s;
    int64_t c;
    if (smk_model_state_create(j->model, 1, &state) != SMK_OK) { j->failures++; return NULL; }
    for (round = 0; round < SHARED_ROUNDS; round++) {
        for (s = 0; s < SHARED_T; s++) {
            if (smk_model_step(j->model, state, j->x + s * j->features, 1, j->features, outs, j->heads) != SMK_OK) {
                j->failures++;
                continue;
            }
            for (c = 0; c < j->classes; c++)
                if (fabsf(out[0][c] - j->whole[s * j->classes + c]) > 1e-6f) j->mismatches++;
        }
        if (smk_model_state_reset(state) != SMK_OK) j->failures++;
    }
    smk_model_state_free(state);
    return NULL;
}

static void test_shared_model_streams_on_threads(void) {
    smk_model *model = NULL;
    struct stream_job jobs[SHARED_THREADS];
    pthread_t threads[SHARED_THREADS];
    float x[SHARED_THREADS][SHARED_T * 4], whole[SHARED_THREADS][3][SHARED_T * 16];
    int64_t features = 0, heads = 0, k;
    int i;
    CHECK_STATUS(smk_model_load(DIR "gru_l2_uni_seq.safetensors", &model), SMK_OK);
    if (!model) return;
    CHECK_STATUS(smk_model_input_features(model, &features), SMK_OK);
    CHECK_STATUS(smk_model_head_count(model, &heads), SMK_OK);
    CHECK(features == 4 && heads == 3);
    for (i = 0; i < SHARED_THREADS; i++) {
        float *w[3] = {whole[i][0], whole[i][1], whole[i][2]};
        for (k = 0; k < SHARED_T * features; k++) x[i][k] = (float)sin(0.37 * (double)(k + 1) * (i + 1));
        CHECK_STATUS(smk_model_forward(model, x[i], 1, SHARED_T, features, w, heads), SMK_OK);
        jobs[i].model = model;
        jobs[i].features = features;
        jobs[i].classes = 5;
        jobs[i].x = x[i];
        jobs[i].whole = whole[i][0];
        jobs[i].heads = heads;
        jobs[i].mismatches = jobs[i].failures = 0;
    }
    for (i = 0; i < SHARED_THREADS; i++) CHECK(pthread_create(&threads[i], NULL, stream_job_run, &jobs[i]) == 0);
    for (i = 0; i < SHARED_THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(jobs[i].failures == 0);
        CHECK(jobs[i].mismatches == 0);
    }
    smk_model_free(model);
}

int main(void) {
    size_t i;
    for (i = 0; i < sizeof CASES / sizeof CASES[0]; i++) run_case(DIR, CASES[i], 2e-5);
    test_errors();
    test_bad_layers();
    test_streaming();
    test_streaming_selected_steps();
    test_shared_model_streams_on_threads();
    test_ensemble();
    return check_summary("test_recurrent");
}
