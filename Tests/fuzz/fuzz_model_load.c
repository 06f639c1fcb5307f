/* libFuzzer target: the model loader on raw bytes (safetensors header, JSON
 * spec, tensor data), through the models branch's entry point as its header
 * declares it today:
 *     smk_status smk_model_load_memory(const void *data, int64_t size,
 *                                      const char *spec_json, smk_model **model_out);
 *     void smk_model_free(smk_model *model);
 * (if the signature changes before the merge, only the two calls below change).
 * The Makefile builds this target only once include/softmaxkit.h declares
 * smk_model_load_memory (FUZZ_TARGETS); seeds: Tests/fuzz/corpus/fuzz_model_load/
 * (small model files and malformed variants, from make_model_seeds.py).
 *
 * Input layout: byte 0 even: the rest is a safetensors file, spec from its
 * metadata (spec_json NULL). Byte 0 odd: the rest up to the first NUL is a
 * side-file spec_json, what follows the NUL is the file.
 *
 * Checked for every input, besides "no crash, no leak, no out-of-bounds
 * read" (ASan/LSan/UBSan):
 *   - the status is SMK_OK or one the header documents for bad bytes;
 *   - on failure *model_out is untouched (no half-built model) and the
 *     thread has a message;
 *   - on success *model_out is a new non-NULL handle, freed cleanly;
 *   - the loader never writes to its input, and a loaded model does not
 *     point into it (the bytes are freed before the model is freed);
 *   - loading the same bytes twice gives the same status;
 *   - smk_model_free(NULL) is harmless.
 * Checks on a loaded model (forward passes, head shapes) belong after the
 * `free(bytes)` below, where a model still pointing at its input would be
 * caught by ASan. */
#include "softmaxkit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, smk_status st) {
    fprintf(stderr, "\nfuzz_model_load: %s (status %d: %s; message: %s)\n", what, (int)st,
            smk_status_string(st), smk_last_error_message());
    abort();
}

static int documented_failure(smk_status st) {
    return st == SMK_ERROR_FORMAT || st == SMK_ERROR_SIZE_OVERFLOW || st == SMK_ERROR_SHAPE_MISMATCH ||
           st == SMK_ERROR_UNSUPPORTED || st == SMK_ERROR_OUT_OF_MEMORY || st == SMK_ERROR_INVALID_ARGUMENT ||
           st == SMK_ERROR_INDEX_OUT_OF_RANGE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int sentinel_storage;
    smk_model *const sentinel = (smk_model *)(void *)&sentinel_storage;
    smk_model *model = sentinel, *again = sentinel;
    char *spec = NULL;
    const uint8_t *file = data + (size > 0);
    size_t file_size = size > 0 ? size - 1 : 0;
    uint8_t *bytes, *pristine;
    smk_status st, st2;

    if (size > 0 && (data[0] & 1)) {
        const uint8_t *nul = (const uint8_t *)memchr(file, 0, file_size);
        size_t spec_len = nul ? (size_t)(nul - file) : file_size;
        spec = (char *)malloc(spec_len + 1);
        if (!spec) abort();
        memcpy(spec, file, spec_len);
        spec[spec_len] = '\0';
        file += nul ? spec_len + 1 : spec_len;
        file_size -= nul ? spec_len + 1 : spec_len;
    }
    /* exact-size copies: ASan sees any read past the end */
    bytes = (uint8_t *)calloc(file_size ? file_size : 1, 1);
    pristine = (uint8_t *)malloc(file_size ? file_size : 1);
    if (!bytes || !pristine) abort();
    memcpy(bytes, file, file_size);
    memcpy(pristine, file, file_size);

    st = smk_model_load_memory(bytes, (int64_t)file_size, spec, &model);
    if (memcmp(bytes, pristine, file_size) != 0) fail("the loader wrote to its input", st);
    if (st == SMK_OK) {
        if (model == NULL || model == sentinel) fail("SMK_OK without a new model", st);
    } else {
        if (!documented_failure(st)) fail("undocumented status for bad bytes", st);
        if (model != sentinel) fail("a failed load wrote *model_out", st);
        if (smk_last_error_message()[0] == '\0') fail("a failed load left no message", st);
        model = NULL;
    }
    st2 = smk_model_load_memory(bytes, (int64_t)file_size, spec, &again);
    if (st2 != st) fail("loading the same bytes twice gave different statuses", st2);
    if (st2 != SMK_OK) again = NULL;
    free(bytes);
    free(spec);
    smk_model_free(model);
    smk_model_free(again);
    smk_model_free(NULL);
    free(pristine);
    return 0;
}
