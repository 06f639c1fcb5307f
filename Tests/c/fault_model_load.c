/* Fault injection for the model loader, through the C ABI (TESTING.md).
 *
 * Every bundled model (examples/models) and every model-load fuzz seed is
 * loaded with fallible allocation 1, 2, 3, ... failing in turn until a load
 * succeeds (or fails as it does without faults), from a file and from
 * memory; the builder, model forward and ensembles likewise. File reads of
 * every bundled model stop (end of file or EIO) at each class of position,
 * files are cut there, and paths that cannot be read are tried. Each failure
 * must give its status and a message and leave *model_out untouched; the
 * next load without faults must give the same forward outputs bit for bit.
 * Leaks are for LeakSanitizer (`make sanitize`, `make fault`) and valgrind.
 *
 * Needs a library built with -DSMK_TESTING_HOOKS: the hooks below are not in
 * the header and not in the release library. Run from the repository root. */
#include "softmaxkit.h"
#include "check.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Sources/SoftmaxKitABI/TestingExports.swift */
void smk_testing_fault_arm(int64_t fail_allocation, int64_t read_stop_at, int32_t read_fault, int64_t read_chunk);
int64_t smk_testing_fault_disarm(int32_t *fired);

enum { FIRED_ALLOCATION = 1, FIRED_READ = 2, READ_EOF = 0, READ_EIO = 1, ROWS = 3, MAX_LOADS = 10000 };

#define MODELS_DIR "examples/models"
#define SEEDS_DIR "Tests/fuzz/corpus/fuzz_model_load"

/* Totals for the summary line (TESTING.md quotes them). */
static long allocations_failed = 0, reads_faulted = 0, files_cut = 0, loads = 0;

/* A value no load may write: the address of a local marker. */
static int untouched_marker;
#define UNTOUCHED ((smk_model *)(void *)&untouched_marker)

static unsigned char *read_all(const char *path, long *size) {
    FILE *f = fopen(path, "rb");
    unsigned char *b;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)*size + 1);
    if (b && fread(b, 1, (size_t)*size, f) != (size_t)*size) { free(b); b = NULL; }
    fclose(f);
    return b;
}

static int write_all(const char *path, const unsigned char *b, long size) {
    FILE *f = fopen(path, "wb");
    int ok;
    if (!f) return 0;
    ok = fwrite(b, 1, (size_t)size, f) == (size_t)size;
    return fclose(f) == 0 && ok;
}

/* Every head's output for a fixed input of ROWS rows, back to back. */
typedef struct { float *v; long n; } outputs;

/* Every head on ROWS rows of 4 steps ([ROWS, 4, features], or token ids
 * [ROWS, 4] for a vocabulary model): enough steps for the heads that read a
 * selected step; dense-only models see 4 * ROWS independent rows. */
static outputs forward_all(const smk_model *m) {
    enum { STEPS = 4 };
    outputs o = {NULL, 0};
    int64_t f = 0, v = 0, heads = 0, size, h, i, ids[ROWS * STEPS];
    int32_t per_step = 1;
    float *x, *outs[64];
    long off = 0;
    if (smk_model_input_features(m, &f) != SMK_OK || smk_model_input_vocabulary(m, &v) != SMK_OK
        || smk_model_head_count(m, &heads) != SMK_OK || heads > 64) return o;
    for (h = 0; h < heads; h++) {
        smk_model_head_size(m, h, &size);
        smk_model_head_per_step(m, h, &per_step);
        o.n += ROWS * (per_step ? STEPS : 1) * size;
    }
    o.v = malloc(sizeof(float) * (size_t)(o.n + 1));
    x = malloc(sizeof(float) * (size_t)(ROWS * STEPS * f + 1));
    for (i = 0; i < ROWS * STEPS * f; i++) x[i] = (float)((i * 37 % 17) - 8) / 4.0f;
    for (i = 0; i < ROWS * STEPS; i++) ids[i] = v > 0 ? (i * 37) % v : 0;
    for (h = 0; h < heads; h++) {
        smk_model_head_size(m, h, &size);
        smk_model_head_per_step(m, h, &per_step);
        outs[h] = o.v + off;
        off += ROWS * (per_step ? STEPS : 1) * size;
    }
    if (v > 0) CHECK_STATUS(smk_model_forward_ids(m, ids, ROWS, STEPS, NULL, outs, heads), SMK_OK);
    else CHECK_STATUS(smk_model_forward(m, x, ROWS, STEPS, f, outs, heads), SMK_OK);
    free(x);
    return o;
}

static int same_outputs(const smk_model *m, outputs want) {
    outputs got = forward_all(m);
    int same = got.v && want.v && got.n == want.n && memcmp(got.v, want.v, sizeof(float) * (size_t)got.n) == 0;
    free(got.v);
    return same;
}

/* The side-file spec of the seed being loaded from memory (NULL: the
 * file's metadata). */
static const char *side_spec = NULL;

/* One load by path (data NULL) or from memory. */
static smk_status load(const char *path, const unsigned char *data, long size, smk_model **m) {
    loads++;
    return data ? smk_model_load_memory(data, size, side_spec, m) : smk_model_load(path, m);
}

/* A failed load: status as wanted, a message, *model_out untouched. */
static void check_failed(smk_status st, smk_status want, smk_model *m, const char *what) {
    CHECK_STATUS(st, want);
    CHECK(m == UNTOUCHED);
    CHECK(strlen(smk_last_error_message()) > 0);
    if (st != want || m != UNTOUCHED) fprintf(stderr, "  in %s: %s\n", what, smk_last_error_message());
    if (st == SMK_OK && m != UNTOUCHED) smk_model_free(m);
}

/* Loads with allocation 1, 2, ... failing until the fault is no longer
 * reached. When it is, the load must fail with SMK_ERROR_OUT_OF_MEMORY;
 * when not, it must end as `clean` does (SMK_OK with `want`'s outputs).
 * After each failure a load without faults must still give `want`. */
static void allocation_faults(const char *path, const unsigned char *data, long size, smk_status clean, outputs want) {
    int64_t k;
    for (k = 1; k <= MAX_LOADS; k++) {
        smk_model *m = UNTOUCHED, *again = UNTOUCHED;
        int32_t fired = 0;
        smk_status st;
        smk_testing_fault_arm(k, -1, READ_EOF, 0);
        st = load(path, data, size, &m);
        smk_testing_fault_disarm(&fired);
        if (!(fired & FIRED_ALLOCATION)) {
            CHECK_STATUS(st, clean);
            if (st == SMK_OK) { CHECK(same_outputs(m, want)); smk_model_free(m); }
            else CHECK(m == UNTOUCHED);
            return;
        }
        allocations_failed++;
        check_failed(st, SMK_ERROR_OUT_OF_MEMORY, m, path);
        /* No state left poisoned: the next load works as before. */
        st = load(path, data, size, &again);
        CHECK_STATUS(st, clean);
        if (st == SMK_OK) { CHECK(same_outputs(again, want)); smk_model_free(again); }
    }
    CHECK(!"allocation faults never ended");
}

/* The status and outputs of a load without faults. */
static smk_status clean_load(const char *path, const unsigned char *data, long size, outputs *want) {
    smk_model *m = UNTOUCHED;
    smk_status st = load(path, data, size, &m);
    want->v = NULL; want->n = 0;
    if (st == SMK_OK) { *want = forward_all(m); smk_model_free(m); }
    return st;
}

/* ---------------------------------------------------------------- reads */

/* The classes of file positions of a safetensors file: inside the 8-byte
 * length, the JSON header, each tensor's first byte, inside it, its last
 * byte, the file's last byte. Returns how many were written to pos. */
static int position_classes(const unsigned char *b, long size, long *pos, int cap) {
    uint64_t n = 0;
    long data, p;
    int k, count = 0;
    const char *s;
    char *header;
    for (k = 0; k < 8 && k < size; k++) n |= (uint64_t)b[k] << (8 * k);
    if (size < 8 || n > (uint64_t)(size - 8)) return 0;
    data = 8 + (long)n;
#define ADD(x) do { if (count < cap && (x) >= 0 && (x) < size) pos[count++] = (x); } while (0)
    ADD(0); ADD(1); ADD(4); ADD(7);
    ADD(8); ADD(9); ADD(8 + (long)n / 2); ADD(data - 1);
    header = malloc((size_t)n + 1);
    memcpy(header, b + 8, (size_t)n);
    header[n] = 0;
    for (s = strstr(header, "\"data_offsets\""); s; s = strstr(s + 1, "\"data_offsets\"")) {
        long begin, end;
        char *e;
        const char *q = strchr(s, '[');
        if (!q) break;
        begin = strtol(q + 1, &e, 10);
        q = strchr(e, ',');
        if (!q) break;
        end = strtol(q + 1, &e, 10);
        if (end <= begin) continue;
        ADD(data + begin); ADD(data + begin + 1); ADD(data + (begin + end) / 2); ADD(data + end - 1);
    }
    free(header);
    p = size - 1;
    ADD(p);
#undef ADD
    return count;
}

static void read_faults(const char *path, const unsigned char *b, long size, outputs want) {
    long pos[512];
    int count = position_classes(b, size, pos, 512), k;
    int64_t chunk[4] = {1, 3, 7, 4096};
    char cut[] = "/tmp/smk-fault-XXXXXX";
    int fd = mkstemp(cut);
    CHECK(count >= 12);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    for (k = 0; k < count; k++) {
        int mode;
        /* Reads that stop at pos[k]: the file is shorter than its size says. */
        for (mode = READ_EOF; mode <= READ_EIO; mode++) {
            smk_model *m = UNTOUCHED;
            int32_t fired = 0;
            smk_status st;
            smk_testing_fault_arm(0, pos[k], mode, 0);
            st = load(path, NULL, 0, &m);
            smk_testing_fault_disarm(&fired);
            CHECK(fired & FIRED_READ);
            reads_faulted++;
            check_failed(st, SMK_ERROR_IO, m, path);
            if (mode == READ_EIO) CHECK(strstr(smk_last_error_message(), "Input/output error") != NULL);
        }
        /* The file really cut there: a format error (truncated). */
        if (fd >= 0 && write_all(cut, b, pos[k])) {
            smk_model *m = UNTOUCHED;
            files_cut++;
            check_failed(load(cut, NULL, 0, &m), SMK_ERROR_FORMAT, m, "a cut file");
        }
    }
    /* An I/O error where the end of the file would be read. */
    {
        smk_model *m = UNTOUCHED;
        smk_testing_fault_arm(0, size, READ_EIO, 0);
        check_failed(load(path, NULL, 0, &m), SMK_ERROR_IO, m, path);
        smk_testing_fault_disarm(NULL);
        reads_faulted++;
    }
    /* Short reads that are not the end: the loader reads on. */
    for (k = 0; k < 4; k++) {
        smk_model *m = UNTOUCHED;
        smk_status st;
        if (chunk[k] == 1 && size > 100000) continue;  /* a syscall per byte: too slow for the big model */
        smk_testing_fault_arm(0, -1, READ_EOF, chunk[k]);
        st = load(path, NULL, 0, &m);
        smk_testing_fault_disarm(NULL);
        CHECK_STATUS(st, SMK_OK);
        if (st == SMK_OK) { CHECK(same_outputs(m, want)); smk_model_free(m); }
    }
    if (fd >= 0) unlink(cut);
}

/* Paths that cannot be read as a model file. */
static void unreadable_paths(void) {
    struct { const char *path; smk_status want; } cases[] = {
        {MODELS_DIR, SMK_ERROR_IO},          /* a directory */
        {"/dev/zero", SMK_ERROR_IO},         /* not a regular file: never ends */
        {"/proc/self/mem", SMK_ERROR_IO},    /* a read error (EIO at offset 0) */
        {"/proc/self/status", SMK_ERROR_FORMAT}, /* says 0 bytes, has more: read, not a model */
    };
    char gone[] = "/tmp/smk-fault-gone-XXXXXX";
    int fd = mkstemp(gone), k;
    smk_model *m = UNTOUCHED;
    for (k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        m = UNTOUCHED;
        check_failed(load(cases[k].path, NULL, 0, &m), cases[k].want, m, cases[k].path);
    }
    /* A file removed before it is opened. */
    if (fd >= 0) { close(fd); unlink(gone); }
    m = UNTOUCHED;
    check_failed(load(gone, NULL, 0, &m), SMK_ERROR_IO, m, "a removed file");
    /* The buffer growth of a file larger than it says (/proc/self/smaps is
     * several pages) fails cleanly too. */
    allocation_faults("/proc/self/smaps", NULL, 0, SMK_ERROR_FORMAT, (outputs){NULL, 0});
}

/* ------------------------------------------------- builder and ensembles */

static const char *SPEC =
    "{\"softmaxkit\": 1, \"input\": {\"features\": 3},"
    " \"layers\": [{\"name\": \"fc\", \"input\": \"input\", \"activation\": \"tanh\"},"
    "              {\"name\": \"out\", \"input\": \"fc\"}],"
    " \"heads\": [{\"name\": \"p\", \"layer\": \"out\", \"output\": \"softmax\"},"
    "           {\"name\": \"logits\", \"layer\": \"out\", \"output\": \"identity\"}]}";

static void builder_faults(void) {
    float w1[12] = {0.5f, -1, 2, 0.25f, 1, 0, -0.5f, 3, 1, 1, -1, 0.125f}, b1[4] = {0, 1, -1, 0.5f};
    double w2[8] = {1, -2, 0.5, 0.25, -1, 1, 2, -0.75};
    int64_t s1[2] = {4, 3}, sb[1] = {4}, s2[2] = {2, 4};
    smk_model_builder *b = NULL;
    smk_model *m = UNTOUCHED;
    outputs want;
    int64_t k;
    int32_t fired;
    CHECK_STATUS(smk_model_builder_create(SPEC, &b), SMK_OK);
    /* Adding a tensor: its copy may fail; the builder stays usable. */
    for (k = 1; k <= MAX_LOADS; k++) {
        smk_status st;
        smk_testing_fault_arm(k, -1, READ_EOF, 0);
        st = smk_model_builder_add_f32(b, "fc.weight", w1, s1, 2);
        smk_testing_fault_disarm(&fired);
        if (!(fired & FIRED_ALLOCATION)) { CHECK_STATUS(st, SMK_OK); break; }
        allocations_failed++;
        CHECK_STATUS(st, SMK_ERROR_OUT_OF_MEMORY);
    }
    CHECK_STATUS(smk_model_builder_add_f32(b, "fc.bias", b1, sb, 1), SMK_OK);
    CHECK_STATUS(smk_model_builder_add_f64(b, "out.weight", w2, s2, 2), SMK_OK);
    CHECK_STATUS(smk_model_builder_build(b, &m), SMK_OK);
    want = forward_all(m);
    smk_model_free(m);
    for (k = 1; k <= MAX_LOADS; k++) {
        smk_status st;
        m = UNTOUCHED;
        smk_testing_fault_arm(k, -1, READ_EOF, 0);
        st = smk_model_builder_build(b, &m);
        smk_testing_fault_disarm(&fired);
        if (!(fired & FIRED_ALLOCATION)) {
            CHECK_STATUS(st, SMK_OK);
            if (st == SMK_OK) { CHECK(same_outputs(m, want)); smk_model_free(m); }
            break;
        }
        allocations_failed++;
        check_failed(st, SMK_ERROR_OUT_OF_MEMORY, m, "smk_model_builder_build");
    }
    CHECK(k > 1);
    free(want.v);
    smk_model_builder_free(b);
}

/* Forward scratch: a failed allocation leaves every output untouched. */
static void forward_faults(void) {
    smk_model *a = NULL, *b = NULL;
    smk_ensemble *e = NULL;
    int64_t f = 0, size = 0, heads = 0, k, i;
    int mode;
    CHECK_STATUS(smk_model_load(MODELS_DIR "/ensemble_a.safetensors", &a), SMK_OK);
    CHECK_STATUS(smk_model_load(MODELS_DIR "/ensemble_b.safetensors", &b), SMK_OK);
    if (!a || !b) return;
    smk_model_input_features(a, &f);
    smk_model_head_count(a, &heads);
    CHECK(heads == 1);
    smk_model_head_size(a, 0, &size);
    for (mode = -1; mode <= SMK_ENSEMBLE_LOGITS; mode++) {
        const smk_model *pair[2];
        float x[ROWS * 64], y[ROWS * 64], want[ROWS * 64];
        smk_status st;
        pair[0] = a; pair[1] = b;
        if (f > 64 || size > 64) break;
        for (i = 0; i < ROWS * f; i++) x[i] = (float)(i % 7) - 3.0f;
        if (mode >= 0) {
            e = NULL;
            CHECK_STATUS(smk_ensemble_create(pair, 2, (smk_ensemble_mode)mode, &e), SMK_OK);
        }
        {
            float *o[1];
            o[0] = want;
            st = mode < 0 ? smk_model_forward(a, x, ROWS, 1, f, o, 1) : smk_ensemble_forward(e, x, ROWS, 1, f, o, 1);
            CHECK_STATUS(st, SMK_OK);
        }
        for (k = 1; k <= MAX_LOADS; k++) {
            int32_t fired = 0;
            float *o[1];
            o[0] = y;
            for (i = 0; i < ROWS * size; i++) y[i] = -7.0f;
            smk_testing_fault_arm(k, -1, READ_EOF, 0);
            st = mode < 0 ? smk_model_forward(a, x, ROWS, 1, f, o, 1) : smk_ensemble_forward(e, x, ROWS, 1, f, o, 1);
            smk_testing_fault_disarm(&fired);
            if (!(fired & FIRED_ALLOCATION)) {
                CHECK_STATUS(st, SMK_OK);
                CHECK(memcmp(y, want, sizeof(float) * (size_t)(ROWS * size)) == 0);
                break;
            }
            allocations_failed++;
            CHECK_STATUS(st, SMK_ERROR_OUT_OF_MEMORY);
            for (i = 0; i < ROWS * size; i++) if (y[i] != -7.0f) break;
            CHECK(i == ROWS * size);
        }
        CHECK(k > 1);
        smk_ensemble_free(e);
        e = NULL;
    }
    smk_model_free(a);
    smk_model_free(b);
}

/* ------------------------------------------------------------------ main */

static int by_name(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

/* The files of `dir` ending in `suffix`, sorted; NULL-terminated. */
static char **list(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    struct dirent *ent;
    char **names = calloc(1024, sizeof(char *));
    int n = 0;
    if (!d) return names;
    while ((ent = readdir(d)) && n < 1023) {
        size_t len = strlen(ent->d_name), sl = strlen(suffix);
        if (ent->d_name[0] == '.' || len < sl || strcmp(ent->d_name + len - sl, suffix) != 0) continue;
        names[n] = malloc(strlen(dir) + len + 2);
        sprintf(names[n++], "%s/%s", dir, ent->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), by_name);
    return names;
}

int main(void) {
    char **models = list(MODELS_DIR, ".safetensors"), **seeds = list(SEEDS_DIR, "");
    int k, n_models = 0, n_seeds = 0;
    for (k = 0; models[k]; k++, n_models++) {
        long size = 0;
        unsigned char *b = read_all(models[k], &size);
        outputs want;
        CHECK(b != NULL);
        CHECK_STATUS(clean_load(models[k], NULL, 0, &want), SMK_OK);
        if (b && want.v) {
            allocation_faults(models[k], NULL, 0, SMK_OK, want);
            allocation_faults(models[k], b, size, SMK_OK, want);
            read_faults(models[k], b, size, want);
        }
        free(want.v);
        free(b);
        free(models[k]);
    }
    /* A seed is a byte then a file: byte 0 even, the file alone (loaded
     * from memory and from a copy on disk); odd, a side-file spec up to the
     * first NUL, then the file (Tests/fuzz/fuzz_model_load.c). */
    for (k = 0; seeds[k]; k++, n_seeds++) {
        long size = 0, skip = 1;
        unsigned char *b = read_all(seeds[k], &size);
        char copy[] = "/tmp/smk-fault-seed-XXXXXX";
        int fd;
        outputs want;
        smk_status clean;
        CHECK(b != NULL);
        if (!b || size < 1) { free(b); free(seeds[k]); continue; }
        side_spec = NULL;
        if (b[0] & 1) {
            unsigned char *nul = memchr(b + 1, 0, (size_t)(size - 1));
            if (!nul) { free(b); free(seeds[k]); continue; }
            side_spec = (const char *)(b + 1);
            skip = (long)(nul - b) + 1;
        }
        clean = clean_load(seeds[k], b + skip, size - skip, &want);
        allocation_faults(seeds[k], b + skip, size - skip, clean, want);
        fd = side_spec ? -1 : mkstemp(copy);
        if (fd >= 0) {
            close(fd);
            if (write_all(copy, b + skip, size - skip)) allocation_faults(copy, NULL, 0, clean, want);
            unlink(copy);
        }
        side_spec = NULL;
        free(want.v);
        free(b);
        free(seeds[k]);
    }
    free(models);
    free(seeds);
    CHECK(n_models >= 8);
    CHECK(n_seeds >= 40);
    unreadable_paths();
    builder_faults();
    forward_faults();
    printf("fault_model_load: %d models, %d seeds, %ld loads; %ld allocations failed, %ld reads faulted, %ld files cut\n",
           n_models, n_seeds, loads, allocations_failed, reads_faulted, files_cut);
    return check_summary("fault_model_load");
}
