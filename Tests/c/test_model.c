/* C client test of the model ABI: builder vs a naive double forward pass,
 * file loading, bad inputs (each a status and a message, never a crash),
 * ensembles, and 8 threads running forward on one model agreeing bit for
 * bit with the serial result. Run from the repository root. */
#include "softmaxkit.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond, ...) do { if (!(cond)) { failures++; \
    fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

#define EXPECT_STATUS(call, want) do { smk_status s_ = (call); \
    CHECK(s_ == (want), "%s returned %d (%s), wanted %d", #call, (int)s_, smk_last_error_message(), (int)(want)); \
    if (s_ != SMK_OK) CHECK(strlen(smk_last_error_message()) > 0, "%s: empty error message", #call); } while (0)

enum { F = 10, H1 = 128, H2 = 64, A = 4, B = 33 };

static const char *ROBOT_SPEC =
    "{\"softmaxkit\": 1, \"input\": {\"features\": 10},"
    " \"layers\": [{\"name\": \"fc1\", \"input\": \"input\", \"activation\": \"relu\"},"
    "              {\"name\": \"fc2\", \"input\": \"fc1\", \"activation\": \"relu\"},"
    "              {\"name\": \"action_output\", \"input\": \"fc2\"},"
    "              {\"name\": \"force_output\", \"input\": \"fc2\"}],"
    " \"heads\": [{\"name\": \"action\", \"layer\": \"action_output\", \"output\": \"softmax\"},"
    "           {\"name\": \"force\", \"layer\": \"force_output\", \"output\": \"identity\"}]}";

static unsigned long long rng_state = 12345;
static float uniform(float bound) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return bound * (2.0f * (float)((rng_state >> 40) & 0xFFFFFF) / 16777216.0f - 1.0f);
}

static float w1[H1 * F], b1[H1], w2[H2 * H1], b2[H2], wa[A * H2], ba[A], wf[H2], bf[1];

static void dense(const double *x, int in, const float *w, const float *b, int out, int relu, double *y) {
    int i, j;
    for (j = 0; j < out; j++) {
        double s = b[j];
        for (i = 0; i < in; i++) s += x[i] * (double)w[j * in + i];
        y[j] = relu && s < 0 ? 0 : s;
    }
}

/* The float64 reference forward pass of one row. */
static void reference(const float *xr, double *action, double *force) {
    double x[F], h1[H1], h2[H2], la[A], m = -INFINITY, s = 0;
    int i;
    for (i = 0; i < F; i++) x[i] = xr[i];
    dense(x, F, w1, b1, H1, 1, h1);
    dense(h1, H1, w2, b2, H2, 1, h2);
    dense(h2, H2, wa, ba, A, 0, la);
    dense(h2, H2, wf, bf, 1, 0, force);
    for (i = 0; i < A; i++) if (la[i] > m) m = la[i];
    for (i = 0; i < A; i++) { action[i] = exp(la[i] - m); s += action[i]; }
    for (i = 0; i < A; i++) action[i] /= s;
}

static smk_model *build_robot(void) {
    smk_model_builder *b = NULL;
    smk_model *m = NULL;
    int64_t s1[2] = {H1, F}, s1b[1] = {H1}, s2[2] = {H2, H1}, s2b[1] = {H2};
    int64_t sa[2] = {A, H2}, sab[1] = {A}, sf[2] = {1, H2}, sfb[1] = {1};
    EXPECT_STATUS(smk_model_builder_create(ROBOT_SPEC, &b), SMK_OK);
    EXPECT_STATUS(smk_model_builder_add_f32(b, "fc1.weight", w1, s1, 2), SMK_OK);
    EXPECT_STATUS(smk_model_builder_add_f32(b, "fc1.bias", b1, s1b, 1), SMK_OK);
    EXPECT_STATUS(smk_model_builder_add_f32(b, "fc2.weight", w2, s2, 2), SMK_OK);
    EXPECT_STATUS(smk_model_builder_add_f32(b, "fc2.bias", b2, s2b, 1), SMK_OK);
    EXPECT_STATUS(smk_model_builder_add_f32(b, "action_output.weight", wa, sa, 2), SMK_OK);
    EXPECT_STATUS(smk_model_builder_add_f32(b, "action_output.bias", ba, sab, 1), SMK_OK);
    /* A missing tensor is a format error naming it. */
    EXPECT_STATUS(smk_model_builder_build(b, &m), SMK_ERROR_FORMAT);
    CHECK(strstr(smk_last_error_message(), "force_output.weight") != NULL, "message: %s", smk_last_error_message());
    CHECK(m == NULL, "model_out written on failure");
    EXPECT_STATUS(smk_model_builder_add_f32(b, "force_output.weight", wf, sf, 2), SMK_OK);
    EXPECT_STATUS(smk_model_builder_add_f32(b, "force_output.bias", bf, sfb, 1), SMK_OK);
    EXPECT_STATUS(smk_model_builder_build(b, &m), SMK_OK);
    smk_model_builder_free(b);
    return m;
}

static float xs[B * F];

static void test_builder_matches_reference(smk_model *m) {
    float action[B * A], force[B];
    float *outs[2];
    int64_t count = 0, size = 0, params = 0;
    const char *name = NULL;
    double worst = 0;
    int r, i;
    outs[0] = action; outs[1] = force;
    EXPECT_STATUS(smk_model_head_count(m, &count), SMK_OK);
    CHECK(count == 2, "head count %lld", (long long)count);
    EXPECT_STATUS(smk_model_head_name(m, 0, &name), SMK_OK);
    CHECK(name && strcmp(name, "action") == 0, "head 0 name %s", name ? name : "(null)");
    EXPECT_STATUS(smk_model_head_size(m, 1, &size), SMK_OK);
    CHECK(size == 1, "head 1 size %lld", (long long)size);
    EXPECT_STATUS(smk_model_parameter_count(m, &params), SMK_OK);
    CHECK(params == H1 * F + H1 + H2 * H1 + H2 + A * H2 + A + H2 + 1, "parameters %lld", (long long)params);
    EXPECT_STATUS(smk_model_forward(m, xs, B, 1, F, outs, 2), SMK_OK);
    for (r = 0; r < B; r++) {
        double ra[A], rf;
        reference(xs + r * F, ra, &rf);
        for (i = 0; i < A; i++) worst = fmax(worst, fabs(ra[i] - action[r * A + i]));
        worst = fmax(worst, fabs(rf - force[r]) / fmax(1.0, fabs(rf)));
    }
    CHECK(worst < 1e-5, "max error vs float64 reference %g", worst);
}

static void test_bad_inputs(smk_model *m) {
    float action[B * A], force[B], sentinel;
    float *outs[2];
    float *null_outs[2] = {NULL, NULL};
    smk_model *none = NULL;
    const char *name = NULL;
    int64_t v;
    static const unsigned char truncated[5] = {1, 2, 3, 4, 5};
    static const char huge_header[16] = {0, 0, 0, 0, 0, 0, 0, 1, '{', '}'};
    outs[0] = action; outs[1] = force;
    action[0] = 12345.0f;
    sentinel = action[0];
    EXPECT_STATUS(smk_model_forward(m, xs, B, 1, F + 1, outs, 2), SMK_ERROR_SHAPE_MISMATCH);
    CHECK(action[0] == sentinel, "output written by a failed call");
    EXPECT_STATUS(smk_model_forward(m, xs, B, 1, F, outs, 1), SMK_ERROR_SHAPE_MISMATCH);
    EXPECT_STATUS(smk_model_forward(m, NULL, B, 1, F, outs, 2), SMK_ERROR_NULL_POINTER);
    EXPECT_STATUS(smk_model_forward(m, xs, B, 1, F, null_outs, 2), SMK_ERROR_NULL_POINTER);
    EXPECT_STATUS(smk_model_forward(m, xs, B, 1, F, NULL, 2), SMK_ERROR_NULL_POINTER);
    EXPECT_STATUS(smk_model_forward(NULL, xs, B, 1, F, outs, 2), SMK_ERROR_NULL_POINTER);
    EXPECT_STATUS(smk_model_forward(m, xs, -1, 1, F, outs, 2), SMK_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(smk_model_forward(m, xs, INT64_MAX / 2, 4, F, outs, 2), SMK_ERROR_SIZE_OVERFLOW);
    EXPECT_STATUS(smk_model_forward(m, NULL, 0, 1, F, null_outs, 2), SMK_OK); /* empty batch */
    {
        /* Outputs may not overlap the input or each other. */
        float buf[B * F + B * A];
        float *overlap[2];
        memcpy(buf, xs, sizeof xs);
        overlap[0] = buf + 4; overlap[1] = force;
        EXPECT_STATUS(smk_model_forward(m, buf, B, 1, F, overlap, 2), SMK_ERROR_INVALID_ARGUMENT);
        overlap[0] = action; overlap[1] = action + 3;
        EXPECT_STATUS(smk_model_forward(m, xs, B, 1, F, overlap, 2), SMK_ERROR_INVALID_ARGUMENT);
        CHECK(strstr(smk_last_error_message(), "overlap") != NULL, "message: %s", smk_last_error_message());
    }
    EXPECT_STATUS(smk_model_head_name(m, 2, &name), SMK_ERROR_INDEX_OUT_OF_RANGE);
    EXPECT_STATUS(smk_model_head_size(m, -1, &v), SMK_ERROR_INDEX_OUT_OF_RANGE);
    EXPECT_STATUS(smk_model_load("/nonexistent/model.safetensors", &none), SMK_ERROR_IO);
    CHECK(none == NULL, "model_out written on failure");
    EXPECT_STATUS(smk_model_load(NULL, &none), SMK_ERROR_NULL_POINTER);
    EXPECT_STATUS(smk_model_load_memory(truncated, sizeof truncated, NULL, &none), SMK_ERROR_FORMAT);
    EXPECT_STATUS(smk_model_load_memory(huge_header, sizeof huge_header, NULL, &none), SMK_ERROR_FORMAT);
    CHECK(strstr(smk_last_error_message(), "header length") != NULL, "message: %s", smk_last_error_message());
    EXPECT_STATUS(smk_model_load_memory(NULL, 10, NULL, &none), SMK_ERROR_NULL_POINTER);
    {
        smk_model_builder *b = NULL;
        EXPECT_STATUS(smk_model_builder_create("{\"softmaxkit\": 1, \"input\": {\"features\": 3}, \"layers\": [], \"heads\": [], \"extra\": 0}", &b), SMK_ERROR_FORMAT);
        CHECK(strstr(smk_last_error_message(), "extra") != NULL, "message: %s", smk_last_error_message());
        EXPECT_STATUS(smk_model_builder_create("not json", &b), SMK_ERROR_FORMAT);
        CHECK(b == NULL, "builder_out written on failure");
    }
    smk_model_free(NULL);
    smk_model_builder_free(NULL);
    smk_ensemble_free(NULL);
}

static void test_bundled_file(void) {
    smk_model *m = NULL;
    float x[2 * 10], action[2 * 4], force[2];
    float *outs[2];
    int i;
    outs[0] = action; outs[1] = force;
    for (i = 0; i < 20; i++) x[i] = uniform(1.0f);
    EXPECT_STATUS(smk_model_load("examples/models/robot_arm.safetensors", &m), SMK_OK);
    if (!m) return;
    EXPECT_STATUS(smk_model_forward(m, x, 2, 1, 10, outs, 2), SMK_OK);
    for (i = 0; i < 2; i++) {
        float s = action[4 * i] + action[4 * i + 1] + action[4 * i + 2] + action[4 * i + 3];
        CHECK(fabsf(s - 1.0f) < 1e-6f, "row %d sums to %g", i, (double)s);
    }
    smk_model_free(m);
}

/* Tensor enumeration and serialization: the tensors come back as added (in
 * spec order), the serialized bytes load to a model with the same outputs,
 * smk_model_save writes the same bytes, and every buffer follows the
 * convention (size query, short buffer refused untouched, NULLs refused). */
static void test_tensors_and_serialize(smk_model *m) {
    static const char *names[] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "action_output.weight",
                                  "action_output.bias", "force_output.weight", "force_output.bias"};
    const float *values[] = {w1, b1, w2, b2, wa, ba, wf, bf};
    const int64_t counts[] = {H1 * F, H1, H2 * H1, H2, A * H2, A, H2, 1};
    int64_t count = -1, rank = -1, shape[8], size = -1, i;
    smk_dtype dtype = SMK_DTYPE_F64;
    const char *name = NULL;
    float *buf;
    unsigned char *bytes, *file_bytes;
    smk_model *back = NULL;
    float outs_a[2][B * A], outs_f[2][B];
    float *o0[2], *o1[2];
    FILE *f;
    const char *path = "/tmp/smk_test_model_save.safetensors";

    EXPECT_STATUS(smk_model_tensor_count(m, &count), SMK_OK);
    CHECK(count == 8, "tensor count %lld", (long long)count);
    for (i = 0; i < count && i < 8; i++) {
        EXPECT_STATUS(smk_model_tensor_name(m, i, &name), SMK_OK);
        CHECK(name && strcmp(name, names[i]) == 0, "tensor %lld is %s, wanted %s", (long long)i, name, names[i]);
        EXPECT_STATUS(smk_model_tensor_dtype(m, i, &dtype), SMK_OK);
        CHECK(dtype == SMK_DTYPE_F32, "tensor %lld dtype %d", (long long)i, (int)dtype);
        EXPECT_STATUS(smk_model_tensor_shape(m, i, NULL, 0, &rank), SMK_OK);  /* size query */
        CHECK(rank == (i % 2 == 0 ? 2 : 1), "tensor %lld rank %lld", (long long)i, (long long)rank);
        EXPECT_STATUS(smk_model_tensor_shape(m, i, shape, 8, &rank), SMK_OK);
        CHECK((rank == 2 ? shape[0] * shape[1] : shape[0]) == counts[i], "tensor %lld shape", (long long)i);
        EXPECT_STATUS(smk_model_tensor_data(m, i, NULL, 0, &size), SMK_OK);
        CHECK(size == counts[i] * 4, "tensor %lld holds %lld bytes", (long long)i, (long long)size);
        buf = malloc((size_t)size);
        EXPECT_STATUS(smk_model_tensor_data(m, i, buf, size, &size), SMK_OK);
        CHECK(memcmp(buf, values[i], (size_t)size) == 0, "tensor %lld values differ", (long long)i);
        free(buf);
    }
    /* Bad arguments: statuses, nothing written. */
    EXPECT_STATUS(smk_model_tensor_count(NULL, &count), SMK_ERROR_NULL_POINTER);
    EXPECT_STATUS(smk_model_tensor_count(m, NULL), SMK_ERROR_NULL_POINTER);
    EXPECT_STATUS(smk_model_tensor_name(m, 8, &name), SMK_ERROR_INDEX_OUT_OF_RANGE);
    EXPECT_STATUS(smk_model_tensor_name(m, -1, &name), SMK_ERROR_INDEX_OUT_OF_RANGE);
    EXPECT_STATUS(smk_model_tensor_dtype(m, 0, NULL), SMK_ERROR_NULL_POINTER);
    shape[0] = shape[1] = -7;
    EXPECT_STATUS(smk_model_tensor_shape(m, 0, shape, 1, &rank), SMK_ERROR_SHAPE_MISMATCH);
    CHECK(rank == 2 && shape[0] == -7, "short shape buffer: rank %lld, shape[0] %lld", (long long)rank, (long long)shape[0]);
    EXPECT_STATUS(smk_model_tensor_shape(m, 0, NULL, 2, &rank), SMK_ERROR_NULL_POINTER);
    EXPECT_STATUS(smk_model_tensor_shape(m, 0, shape, -1, &rank), SMK_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(smk_model_tensor_shape(m, 0, shape, 8, NULL), SMK_ERROR_NULL_POINTER);
    EXPECT_STATUS(smk_model_tensor_shape(m, 0, shape, 8, &shape[1]), SMK_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(smk_model_tensor_data(m, 1, shape, 8, &size), SMK_ERROR_SHAPE_MISMATCH);
    CHECK(size == H1 * 4 && shape[0] == -7, "short data buffer: size %lld", (long long)size);

    /* Serialize: size query, short buffer, then the bytes, which load back. */
    EXPECT_STATUS(smk_model_serialize(m, NULL, 0, &size), SMK_OK);
    CHECK(size > 8 * 4, "serialized size %lld", (long long)size);
    bytes = malloc((size_t)size);
    memset(bytes, 0xAB, (size_t)size);
    EXPECT_STATUS(smk_model_serialize(m, bytes, size - 1, &size), SMK_ERROR_SHAPE_MISMATCH);
    CHECK(bytes[0] == 0xAB, "short serialize buffer was written");
    EXPECT_STATUS(smk_model_serialize(m, bytes, size, &size), SMK_OK);
    EXPECT_STATUS(smk_model_serialize(m, NULL, 1, &size), SMK_ERROR_NULL_POINTER);
    EXPECT_STATUS(smk_model_serialize(m, bytes, size, NULL), SMK_ERROR_NULL_POINTER);
    EXPECT_STATUS(smk_model_serialize(NULL, bytes, size, &size), SMK_ERROR_NULL_POINTER);
    EXPECT_STATUS(smk_model_load_memory(bytes, size, NULL, &back), SMK_OK);
    if (back) {
        o0[0] = outs_a[0]; o0[1] = outs_f[0]; o1[0] = outs_a[1]; o1[1] = outs_f[1];
        EXPECT_STATUS(smk_model_forward(m, xs, B, 1, F, o0, 2), SMK_OK);
        EXPECT_STATUS(smk_model_forward(back, xs, B, 1, F, o1, 2), SMK_OK);
        CHECK(memcmp(outs_a[0], outs_a[1], sizeof outs_a[0]) == 0 && memcmp(outs_f[0], outs_f[1], sizeof outs_f[0]) == 0,
              "the reloaded model's outputs differ");
        smk_model_free(back);
    }
    /* Save writes the same bytes; an unwritable path is an I/O error naming it. */
    EXPECT_STATUS(smk_model_save(m, path), SMK_OK);
    file_bytes = malloc((size_t)size + 1);
    f = fopen(path, "rb");
    CHECK(f != NULL, "saved file missing");
    if (f) {
        CHECK(fread(file_bytes, 1, (size_t)size + 1, f) == (size_t)size, "saved file has another size");
        CHECK(memcmp(file_bytes, bytes, (size_t)size) == 0, "saved file differs from smk_model_serialize");
        fclose(f);
    }
    remove(path);
    EXPECT_STATUS(smk_model_save(m, "/nonexistent-dir/x.safetensors"), SMK_ERROR_IO);
    CHECK(strstr(smk_last_error_message(), "/nonexistent-dir/x.safetensors") != NULL, "message: %s", smk_last_error_message());
    EXPECT_STATUS(smk_model_save(m, NULL), SMK_ERROR_NULL_POINTER);
    EXPECT_STATUS(smk_model_save(NULL, path), SMK_ERROR_NULL_POINTER);
    free(file_bytes);
    free(bytes);
}

static void test_ensemble(smk_model *m) {
    smk_ensemble *e = NULL;
    const smk_model *members[2];
    const smk_model *first = NULL;
    float a1[B * A], f1[B], a2[B * A], f2[B];
    float *o1[2], *o2[2];
    int i, same = 1;
    o1[0] = a1; o1[1] = f1; o2[0] = a2; o2[1] = f2;
    members[0] = m; members[1] = m;
    EXPECT_STATUS(smk_ensemble_create(members, 2, SMK_ENSEMBLE_GEOMETRIC, &e), SMK_OK);
    EXPECT_STATUS(smk_ensemble_create(members, 0, SMK_ENSEMBLE_ARITHMETIC, &e), SMK_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(smk_ensemble_create(members, 2, 7, &e), SMK_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(smk_ensemble_model(e, 0, &first), SMK_OK);
    CHECK(first == m, "member 0 is not the model given");
    EXPECT_STATUS(smk_ensemble_model(e, 2, &first), SMK_ERROR_INDEX_OUT_OF_RANGE);
    /* Two copies of one model average to that model. */
    EXPECT_STATUS(smk_ensemble_forward(e, xs, B, 1, F, o1, 2), SMK_OK);
    EXPECT_STATUS(smk_model_forward(m, xs, B, 1, F, o2, 2), SMK_OK);
    for (i = 0; i < B * A; i++) if (fabsf(a1[i] - a2[i]) > 1e-6f) same = 0;
    for (i = 0; i < B; i++) if (fabsf(f1[i] - f2[i]) > 1e-6f * fmaxf(1.0f, fabsf(f2[i]))) same = 0;
    CHECK(same, "ensemble of one model twice differs from the model");
    smk_ensemble_free(e);
}

/* 8 threads, one model, each running forward repeatedly on the same input. */
enum { THREADS = 8, ROWS = 257, REPEAT = 50 };
static float tx[ROWS * F], serial_a[ROWS * A], serial_f[ROWS];
static smk_model *shared_model;

static void *worker(void *arg) {
    float *a = malloc(sizeof(float) * ROWS * A), *f = malloc(sizeof(float) * ROWS);
    float *outs[2];
    int k, bad = 0;
    (void)arg;
    if (!a || !f) { free(a); free(f); return (void *)1; }
    outs[0] = a; outs[1] = f;
    for (k = 0; k < REPEAT && !bad; k++) {
        if (smk_model_forward(shared_model, tx, ROWS, 1, F, outs, 2) != SMK_OK) bad = 1;
        if (memcmp(a, serial_a, sizeof serial_a) != 0 || memcmp(f, serial_f, sizeof serial_f) != 0) bad = 1;
    }
    free(a); free(f);
    return bad ? (void *)1 : NULL;
}

static void test_threads(smk_model *m) {
    pthread_t t[THREADS];
    float *outs[2];
    int i;
    outs[0] = serial_a; outs[1] = serial_f;
    for (i = 0; i < ROWS * F; i++) tx[i] = uniform(2.0f);
    shared_model = m;
    EXPECT_STATUS(smk_model_forward(m, tx, ROWS, 1, F, outs, 2), SMK_OK);
    for (i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, worker, NULL) == 0, "pthread_create");
    for (i = 0; i < THREADS; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        CHECK(r == NULL, "thread %d disagreed with the serial result", i);
    }
}

int main(void) {
    smk_model *m;
    int i;
    for (i = 0; i < H1 * F; i++) w1[i] = uniform(0.6f);
    for (i = 0; i < H1; i++) b1[i] = uniform(0.3f);
    for (i = 0; i < H2 * H1; i++) w2[i] = uniform(0.17f);
    for (i = 0; i < H2; i++) b2[i] = uniform(0.1f);
    for (i = 0; i < A * H2; i++) wa[i] = uniform(0.5f);
    for (i = 0; i < A; i++) ba[i] = uniform(0.1f);
    for (i = 0; i < H2; i++) wf[i] = uniform(0.5f);
    bf[0] = 0.25f;
    for (i = 0; i < B * F; i++) xs[i] = uniform(3.0f);
    m = build_robot();
    if (!m) { fprintf(stderr, "could not build the model\n"); return 1; }
    test_builder_matches_reference(m);
    test_bad_inputs(m);
    test_bundled_file();
    test_tensors_and_serialize(m);
    test_ensemble(m);
    test_threads(m);
    smk_model_free(m);
    if (failures) { fprintf(stderr, "test_model: %d failures\n", failures); return 1; }
    printf("test_model: all checks passed\n");
    return 0;
}
