/* libFuzzer target: well-formed model files with specs built from the
 * schema. The input bytes are not a file: they drive a generator's choices
 * (an exhausted input reads as zeros, and choice 0 is always the plain,
 * valid one), so every input is a structurally sound safetensors file whose
 * spec uses every key of the schema: layer graphs (chains, branches, deep
 * and wide), all seven activations, every head output (softmax and
 * log_softmax with temperatures, sigmoid, masked_softmax with and without
 * renormalization, partitioned segments, hierarchical), F32/F64/F16/BF16
 * weights, names in Unicode (NFC and NFD spellings, escapes, quotes,
 * control characters, NUL), integers spelled "4", "4.0", "4e0", "40e-1",
 * extreme integers (near 2^31, 2^53, 2^63, 2^64, wrapping sums), tiny and
 * huge floats (subnormals, 1e-39, 1e300), and one deliberate schema error
 * now and then (unknown key, wrong shape, missing tensor, ...).
 *
 * The model reaches the library through one of three surfaces: the file's
 * own metadata (smk_model_load_memory), a side-file spec, or the builder
 * (smk_model_builder_*). The harness knows what the spec means, so each
 * outcome is judged:
 *   - a spec that breaks the schema must fail with a documented status,
 *     a message, and *model_out untouched;
 *   - a plain valid spec must load; a borderline one (extreme temperature,
 *     canonically equivalent names, non-finite weights) may fail cleanly;
 *   - a loaded model must report the heads, names (byte for byte), sizes,
 *     features and parameter count of the spec, and its forward on a small
 *     input must match a float64 reference computed here (dense layers,
 *     activations, head transforms, with a running error bound: each
 *     output within 8x the propagated float32 rounding bound + 1e-5, plus
 *     invariants: no NaN where the reference is finite, probabilities in
 *     [0, 1] summing to 1);
 *   - a forward with the wrong feature count fails and writes nothing;
 *   - the model's own spec_json, given back as a side file, gives the same
 *     outputs bit for bit; an ensemble of the model with itself gives the
 *     model's outputs in every mode.
 *
 * Known failure classes can be skipped while fuzzing for new ones:
 *   SMK_FUZZ_SKIP_KNOWN=all, or a comma list of
 *   segwrap   partitioned widths that sum to the layer width modulo 2^64
 *   tinytemp  a head temperature whose float32 reciprocal is infinite
 *   nul       NUL in a layer, head or tensor name
 *   nfc       canonically equivalent names spelled with different bytes
 *   f64range  F64 weights beyond float32's range
 * (A geometric ensemble of a model with itself must give the model's values
 * even on rows holding NaN: NaN entries stay NaN, the others keep the
 * member's values. That is judged on every input, never skipped.)
 * A skipped input is loaded (and freed) but not judged.
 * SMK_FUZZ_VERBOSE=1 prints the generated spec before each load. */
#include "softmaxkit.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__extension__ typedef unsigned __int128 u128;
__extension__ typedef __int128 i128;
#define PI_D 3.14159265358979323846

/* ---------------------------------------------------------------- input */

static const uint8_t *in_p;
static size_t in_n, in_i;

static unsigned u8(void) { return in_i < in_n ? in_p[in_i++] : 0u; }
static unsigned pick(unsigned k) { return k <= 1 ? 0u : u8() % k; }
/* true with probability 1/den; false once the input is exhausted */
static int rare(unsigned den) { return den > 1 && u8() % den == den - 1; }

/* ------------------------------------------------------------ buffers */

typedef struct { char *p; size_t n, cap; } buf;

static void bput(buf *b, const void *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->n + n + 1 > cap) cap *= 2;
        b->p = (char *)realloc(b->p, cap);
        if (!b->p) abort();
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}
static void bputs(buf *b, const char *s) { bput(b, s, strlen(s)); }
static void bprintf(buf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) abort();
    bput(b, tmp, (size_t)n);
}

/* -------------------------------------------------------------- limits */

#define MAX_LAYERS 320
#define MAX_HEADS 40
#define MAX_W 12
#define MAX_FEAT 8
#define MAX_SEGS 4200
#define NAME_CAP 400
#define MAX_ROWS 300

enum { K_SEGWRAP = 1, K_TINYTEMP = 2, K_NUL = 4, K_NFC = 8, K_F64RANGE = 16 };
static const char *const known_names[] = {"segwrap", "tinytemp", "nul", "nfc", "f64range"};

enum { A_IDENTITY, A_RELU, A_TANH, A_SIGMOID, A_GELU, A_GELU_TANH, A_SILU, A_COUNT };
static const char *const act_names[] = {"identity", "relu", "tanh", "sigmoid", "gelu", "gelu_tanh", "silu"};
enum { H_IDENTITY, H_SOFTMAX, H_LOG_SOFTMAX, H_SIGMOID, H_MASKED, H_PARTITIONED, H_HIERARCHICAL, H_COUNT };
static const char *const head_names[] = {"identity", "softmax", "log_softmax", "sigmoid",
                                         "masked_softmax", "partitioned", "hierarchical"};
enum { S_IDENTITY, S_SOFTMAX, S_SIGMOID, S_TANH, S_LOG_SOFTMAX, S_COUNT };
static const char *const seg_names[] = {"identity", "softmax", "sigmoid", "tanh", "log_softmax"};
enum { D_F32, D_F64, D_F16, D_BF16 };
static const char *const dtype_names[] = {"F32", "F64", "F16", "BF16"};
static const int dtype_size[] = {4, 8, 2, 2};

typedef struct { char s[NAME_CAP]; int n; } name_t;

typedef struct {
    name_t name;
    int input;          /* -1: the model input */
    int act;            /* A_*, or -1: key omitted (identity) */
    int out;            /* units */
    int has_bias;
    int wdt, bdt;       /* dtypes */
    int units_key;      /* 0 omitted, 1 written */
    char units_txt[48];
    const char *act_txt; /* non-NULL: an unknown activation string */
    double *w, *b;      /* values as the file holds them (before widening) */
    float *wf, *bf;     /* widened to float32 as the model runs them */
} layer_t;

typedef struct {
    name_t name;
    int kind;
    int layer;          /* the layer read (-1: key omitted) */
    int has_temp;
    char temp_txt[48];
    double temp;
    int mask[MAX_W];
    int mask_n;
    char mask_txt[MAX_W][48];
    int renorm;         /* -1 omitted, 0 false, 1 true */
    int seg0, nseg;     /* into the segment pool */
    int coarse, nfine, fine[MAX_W];
    const char *extra_key;
} head_t;

static layer_t L[MAX_LAYERS];
static head_t H[MAX_HEADS];
static int nl, nh, features;
static char feat_txt[48], version_txt[48];
static int seg_act[MAX_SEGS];
static char seg_txt[MAX_SEGS][28];
static int nsegs_pool;
static double valpool[1 << 16];
static float fpool[1 << 16];
static int npool;

/* expectation */
static int must_fail, may_fail, known;
static char why[256];

static void expect_fail(const char *reason) {
    if (!must_fail) snprintf(why, sizeof why, "%s", reason);
    must_fail = 1;
}
static void expect_either(const char *reason) {
    if (!must_fail && !may_fail) snprintf(why, sizeof why, "%s", reason);
    may_fail = 1;
}

/* ------------------------------------------------------------- numbers */

/* A small integer in one of the spellings JSON allows for it. */
static void int_text(char *out, size_t cap, long long v, unsigned spelling) {
    switch (spelling % 8) {
    case 1: snprintf(out, cap, "%lld.0", v); break;
    case 2: snprintf(out, cap, "%lde0", (long)v); break;
    case 3: if (v == 0) snprintf(out, cap, "0.0e1"); else snprintf(out, cap, "%lld0e-1", v); break;
    case 4: snprintf(out, cap, "%lldE+0", v); break;
    case 5: snprintf(out, cap, "%lld.000", v); break;
    default: snprintf(out, cap, "%lld", v);
    }
}

static const char *const extreme_ints[] = {
    "2147483647", "2147483648", "4294967295", "4294967296", "4294967300", "9007199254740992",
    "9007199254740993", "9000000000000000", "9000000000000001", "9223372036854775807",
    "9223372036854775808", "18446744073709551615", "18446744073709551616", "18446744073709551620",
    "-1", "0", "-9223372036854775808", "1e300", "-1e300", "2.5", "1e-300", "-0", "1e400", "4294967297",
};
#define N_EXTREME_INTS (sizeof extreme_ints / sizeof extreme_ints[0])

/* What the text means as the schema reads an integer: -2 if it is not an
 * integer the schema accepts (non-finite, fractional, beyond 9e15). */
static long long int_meaning(const char *txt) {
    double d = strtod(txt, NULL);
    if (!isfinite(d) || d != floor(d) || fabs(d) > 9.0e15) return -(1LL << 62);
    return (long long)d;
}

/* An integer field: the intended value in a random spelling, or (rarely) an
 * extreme; returns whether the text still means `v`. */
static int int_field(char *out, size_t cap, long long v, unsigned rare_den) {
    if (rare(rare_den)) {
        snprintf(out, cap, "%s", extreme_ints[pick(N_EXTREME_INTS)]);
    } else {
        int_text(out, cap, v, rare(3) ? pick(8) : 0);
    }
    return int_meaning(out) == v;
}

/* ---------------------------------------------------------------- names */

static void name_append(name_t *nm, const char *s, int n) {
    if (nm->n < 0 || nm->n > NAME_CAP) abort();
    if (n > NAME_CAP - nm->n) n = NAME_CAP - nm->n;
    if (n <= 0) return;
    memcpy(nm->s + nm->n, s, (size_t)n);
    nm->n += n;
}

/* A fresh name, unique by its index suffix; the atoms cover Unicode, JSON
 * escapes and the reserved or invalid spellings. `nfd` selects the
 * decomposed spelling of the accented atoms. */
static void make_name(name_t *nm, char prefix, int index, unsigned atom, int nfd) {
    char suffix[16];
    nm->n = 0;
    switch (atom) {
    case 1: name_append(nm, nfd ? "e\xcc\x81" : "\xc3\xa9", nfd ? 3 : 2); break;              /* e acute */
    case 2: name_append(nm, nfd ? "A\xcc\x8a" : "\xc3\x85", nfd ? 3 : 2); break;              /* A ring */
    case 3: name_append(nm, "\xf0\x9f\x98\x80", 4); break;                                    /* emoji */
    case 4: name_append(nm, "\xe5\xb1\xa4", 3); break;                                        /* CJK */
    case 5: name_append(nm, "q\"b\\s/", 6); break;
    case 6: name_append(nm, "c\x01\t", 3); break;
    case 7: name_append(nm, "n\0x", 3); break;                                                /* NUL */
    case 8: { int k; for (k = 0; k < 300; k++) name_append(nm, "n", 1); } break;
    case 9: name_append(nm, "x.weight", 8); break;
    case 10: name_append(nm, nfd ? "\xe1\x84\x80\xe1\x85\xa1" : "\xea\xb0\x80", nfd ? 6 : 3); break; /* Hangul GA */
    default: { char p[2] = {prefix, 0}; name_append(nm, p, 1); }
    }
    snprintf(suffix, sizeof suffix, "%d", index);
    name_append(nm, suffix, (int)strlen(suffix));
}

static int name_has_nul(const name_t *nm) { return memchr(nm->s, 0, (size_t)nm->n) != NULL; }
static int name_eq(const name_t *a, const name_t *b) { return a->n == b->n && memcmp(a->s, b->s, (size_t)a->n) == 0; }

/* What a final name means for the load, judged once every replacement
 * (empty, "input", a copy, another normalization) has been made: judging an
 * atom before a later choice replaces the name gave wrong expectations.
 * Duplicates and canonically equivalent pairs are judged over all names. */
static void judge_name(const name_t *nm, int is_layer) {
    if (nm->n == 0) expect_fail(is_layer ? "empty layer name" : "empty head name");
    if (name_has_nul(nm)) { known |= K_NUL; expect_fail(is_layer ? "NUL in a layer name" : "NUL in a head name"); }
    if (is_layer && nm->n == 5 && memcmp(nm->s, "input", 5) == 0) expect_fail("a layer named input");
    for (int i = 0; i < nm->n; i++)
        if ((unsigned char)nm->s[i] < 0x20 && nm->s[i] != 0) {
            expect_either(is_layer ? "control characters in a layer name" : "control characters in a head name");
            break;
        }
}

/* The canonical composition of the few decomposed sequences make_name
 * writes, to tell canonically equivalent names apart from distinct ones. */
static void nfc_key(const name_t *in, name_t *out) {
    int i = 0;
    out->n = 0;
    while (i < in->n) {
        if (i + 3 <= in->n && memcmp(in->s + i, "e\xcc\x81", 3) == 0) { name_append(out, "\xc3\xa9", 2); i += 3; }
        else if (i + 3 <= in->n && memcmp(in->s + i, "A\xcc\x8a", 3) == 0) { name_append(out, "\xc3\x85", 2); i += 3; }
        else if (i + 6 <= in->n && memcmp(in->s + i, "\xe1\x84\x80\xe1\x85\xa1", 6) == 0) { name_append(out, "\xea\xb0\x80", 3); i += 6; }
        else { name_append(out, in->s + i, 1); i++; }
    }
}

/* Another spelling of the same canonical name, if there is one. */
static int other_normalization(const name_t *in, name_t *out) {
    name_t c;
    nfc_key(in, &c);
    if (!name_eq(&c, in)) { *out = c; return 1; }
    /* composed -> decomposed for the first accented atom */
    {
        int i;
        for (i = 0; i < in->n; i++) {
            const char *rep = NULL; int len = 0, rl = 0;
            if (i + 2 <= in->n && memcmp(in->s + i, "\xc3\xa9", 2) == 0) { rep = "e\xcc\x81"; len = 2; rl = 3; }
            else if (i + 2 <= in->n && memcmp(in->s + i, "\xc3\x85", 2) == 0) { rep = "A\xcc\x8a"; len = 2; rl = 3; }
            else if (i + 3 <= in->n && memcmp(in->s + i, "\xea\xb0\x80", 3) == 0) { rep = "\xe1\x84\x80\xe1\x85\xa1"; len = 3; rl = 6; }
            if (rep) {
                out->n = 0;
                name_append(out, in->s, i);
                name_append(out, rep, rl);
                name_append(out, in->s + i + len, in->n - i - len);
                return 1;
            }
        }
    }
    return 0;
}

/* Writes a JSON string literal of the bytes (valid UTF-8); `escape_all`
 * spells every non-ASCII character as \uXXXX (surrogate pairs above BMP). */
static void json_string(buf *b, const char *s, int n, int escape_all) {
    int i = 0;
    bputs(b, "\"");
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { char e[2] = {'\\', (char)c}; bput(b, e, 2); i++; }
        else if (c < 0x20) { bprintf(b, "\\u%04x", c); i++; }
        else if (c < 0x80 || !escape_all) { bput(b, s + i, 1); i++; }
        else {
            unsigned cp; int len;
            if (c >= 0xf0) { cp = c & 7u; len = 4; } else if (c >= 0xe0) { cp = c & 15u; len = 3; } else { cp = c & 31u; len = 2; }
            for (int k = 1; k < len && i + k < n; k++) cp = (cp << 6) | ((unsigned char)s[i + k] & 63u);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                bprintf(b, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
            } else {
                bprintf(b, "\\u%04X", cp);
            }
            i += len;
        }
    }
    bputs(b, "\"");
}

/* --------------------------------------------------------------- floats */

static uint16_t f32_to_f16_exact(float f) {
    /* only for values the generator makes exactly representable */
    uint32_t x; memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    float a = fabsf(f);
    if (a == 0.0f) return (uint16_t)sign;
    int e; float m = frexpf(a, &e); /* a = m * 2^e, m in [0.5, 1) */
    int exp16 = e - 1 + 15;
    if (exp16 <= 0) { /* subnormal half */
        return (uint16_t)(sign | (uint32_t)lrintf(a * 16777216.0f));
    }
    return (uint16_t)(sign | ((uint32_t)exp16 << 10) | ((uint32_t)lrintf((m * 2.0f - 1.0f) * 1024.0f) & 0x3ffu));
}
static double f16_value(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double s = (h & 0x8000) ? -1.0 : 1.0;
    if (e == 0) return s * ldexp(m, -24);
    if (e == 31) return m ? NAN : s * INFINITY;
    return s * ldexp(1024 + m, e - 25);
}
static double bf16_value(uint16_t h) { uint32_t x = (uint32_t)h << 16; float f; memcpy(&f, &x, 4); return f; }

/* One weight value of dtype `dt` into *value (its exact meaning) and its
 * little-endian bytes into raw. `regime` 0: multiples of 1/8 in [-2, 2]
 * (exact in every dtype); 1: finer values; 2: the extremes. */
static void gen_value(int dt, int regime, double *value, uint8_t *raw) {
    uint16_t h = 0;
    if (dt == D_F16 || dt == D_BF16) {
        if (regime == 2) {
            static const uint16_t f16x[] = {0x0001, 0x03ff, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x8000, 0x0400};
            static const uint16_t bf16x[] = {0x0001, 0x007f, 0x7f7f, 0x7f80, 0xff80, 0x7fc0, 0x8000, 0x0080};
            h = dt == D_F16 ? f16x[pick(8)] : bf16x[pick(8)];
        } else {
            float f = (float)((int)pick(33) - 16) / 8.0f;
            if (regime == 1) f = (float)((int)pick(129) - 64) / 32.0f;
            if (dt == D_F16) h = f32_to_f16_exact(f);
            else { uint32_t x; memcpy(&x, &f, 4); h = (uint16_t)(x >> 16); }
        }
        *value = dt == D_F16 ? f16_value(h) : bf16_value(h);
        raw[0] = (uint8_t)h; raw[1] = (uint8_t)(h >> 8);
        return;
    }
    double v;
    if (regime == 2) {
        static const double x32[] = {1e-39, 1e-45, FLT_MIN, -1e30, 1e30, 3.4e38, 0.0, -0.0, 1e-40, INFINITY, NAN, 7.0};
        static const double x64[] = {1e-39, 1e-50, 1e300, -1e300, 3.4028235e38, 3.5e38, 3.4028235677973366e38,
                                     4.9e-324, 1e-300, 1e30, INFINITY, NAN, 3.4028234663852886e38, -3.40282357e38};
        v = dt == D_F32 ? x32[pick(12)] : x64[pick(14)];
    } else if (regime == 1) {
        v = (double)((int)(pick(256) | (pick(256) << 8)) - 32768) / 8192.0;
        if (dt == D_F64) v += (double)pick(256) * 1e-12;
    } else {
        v = (double)((int)pick(33) - 16) / 8.0;
    }
    if (dt == D_F32) {
        float f = (float)v; uint32_t x; memcpy(&x, &f, 4);
        for (int k = 0; k < 4; k++) raw[k] = (uint8_t)(x >> (8 * k));
        *value = f;
    } else {
        uint64_t x; memcpy(&x, &v, 8);
        for (int k = 0; k < 8; k++) raw[k] = (uint8_t)(x >> (8 * k));
        *value = v;
    }
}

/* --------------------------------------------------------- tensors */

typedef struct {
    name_t name;
    int dtype, rank;
    char dim_txt[2][48];
    long long dims[2];
    uint8_t *raw;
    size_t bytes;
    char off_txt[2][48];
    int name_escape;
    int layer, is_bias;
    int bad_dim; /* a dimension spelled as another number */
} tensor_t;

#define MAX_TENSORS (2 * MAX_LAYERS + 4)
static tensor_t T[MAX_TENSORS];
static int nt;
static uint8_t rawpool[1 << 19];
static size_t nraw;

static void tensor_values(layer_t *l, int is_bias, int dt, int regime) {
    int n = is_bias ? l->out : l->out * (l->input < 0 ? features : L[l->input].out);
    tensor_t *t = &T[nt++];
    double *vals = &valpool[npool];
    float *fl = &fpool[npool];
    int esize = dtype_size[dt];
    if (npool + n > (int)(sizeof valpool / sizeof valpool[0]) || nraw + (size_t)n * 8 > sizeof rawpool) abort();
    npool += n;
    t->bad_dim = 0;
    t->dtype = dt;
    t->raw = &rawpool[nraw];
    t->bytes = (size_t)n * (size_t)esize;
    nraw += t->bytes;
    for (int k = 0; k < n; k++) {
        int r = regime == 3 ? (rare(6) ? 2 : 0) : regime;
        gen_value(dt, r, &vals[k], t->raw + (size_t)k * (size_t)esize);
        fl[k] = (float)vals[k];
        if (dt == D_F64 && isfinite(vals[k]) && isinf(fl[k])) {
            known |= K_F64RANGE;
            expect_fail("F64 weight beyond float32's range");
        } else if (dt == D_F64 && fabs(vals[k]) > FLT_MAX) {
            expect_either("F64 weight just beyond FLT_MAX or infinite");
        } else if (!isfinite(vals[k])) {
            expect_either("non-finite weight");
        } else if (dt == D_F64 && vals[k] != 0 && fabsf(fl[k]) < FLT_MIN) {
            expect_either("F64 weight that underflows float32");
        }
    }
    t->layer = (int)(l - L);
    t->is_bias = is_bias;
    t->name = l->name;
    name_append(&t->name, is_bias ? ".bias" : ".weight", is_bias ? 5 : 7);
    t->rank = is_bias ? 1 : 2;
    t->dims[0] = l->out;
    t->dims[1] = is_bias ? 0 : (l->input < 0 ? features : L[l->input].out);
    if (is_bias) { l->b = vals; l->bf = fl; } else { l->w = vals; l->wf = fl; }
}

/* ------------------------------------------------------------ generator */

static int gen_mode; /* 0 plain, 1 deep chain, 2 wide */
static int extra_tensor;

static void add_segments(head_t *h, int width) {
    h->seg0 = nsegs_pool;
    h->nseg = 0;
    if (rare(12)) {
        /* widths whose sum is the layer width modulo 2^64 (or 2^32), made
         * of large exact integers: the sum itself is not the width */
        static const unsigned long long bigs[] = {9000000000000000ULL, 4503599627370496ULL, 8000000000000000ULL,
                                                  2147483648ULL << 20};
        unsigned long long big = bigs[pick(4)];
        u128 target = ((u128)1 << (rare(4) ? 32 : 64)) + (unsigned)width;
        u128 sum = 0;
        while (target - sum > big && nsegs_pool < MAX_SEGS - 4) {
            snprintf(seg_txt[nsegs_pool], sizeof seg_txt[0], "%llu", big);
            seg_act[nsegs_pool++] = (int)pick(S_COUNT);
            sum += big;
            h->nseg++;
        }
        if (target - sum > 0 && target - sum <= big) {
            snprintf(seg_txt[nsegs_pool], sizeof seg_txt[0], "%llu", (unsigned long long)(target - sum));
            seg_act[nsegs_pool++] = (int)pick(S_COUNT);
            h->nseg++;
        }
        return;
    }
    int left = width;
    while (left > 0 && nsegs_pool < MAX_SEGS - 2) {
        int w = 1 + (int)pick((unsigned)left);
        if (rare(8)) w = left;
        int_field(seg_txt[nsegs_pool], sizeof seg_txt[0], w, 40);
        seg_act[nsegs_pool++] = (int)pick(S_COUNT);
        h->nseg++;
        left -= w;
    }
}

/* The exact sum of a head's segment widths as the schema reads them, and
 * whether each one is a positive integer. */
static int segments_ok(const head_t *h, int width) {
    i128 sum = 0;
    int all_int = 1;
    for (int k = 0; k < h->nseg; k++) {
        long long v = int_meaning(seg_txt[h->seg0 + k]);
        if (v <= 0) { all_int = 0; break; }
        sum += v;
    }
    if (!all_int || h->nseg == 0) return 0;
    if (sum != width && (unsigned long long)(u128)sum == (unsigned long long)width) known |= K_SEGWRAP;
    return sum == width;
}

static const char *const temps[] = {
    "2.0", "0.5", "3.7", "1", "1e-3", "1e3", "0.1e1", "64e0", "1e-20", "1e20", "2.9e-39", "1e-39",
    "2.95e-39", "1e-45", "4.9e-324", "1e-300", "1e30", "1e38", "3.5e38", "1e300", "1.7976931348623157e308",
    "1.1754943508222875e-38", "1e-38", "5e-39", "0", "-1", "-0.0", "1e400", "-1e-300",
};
#define N_TEMPS (sizeof temps / sizeof temps[0])

static void generate(void) {
    nl = nh = nt = 0; nsegs_pool = 0; npool = 0; nraw = 0;
    must_fail = may_fail = known = 0; why[0] = '\0';
    gen_mode = (int)pick(8);
    gen_mode = gen_mode == 6 ? 1 : gen_mode == 7 ? 2 : 0;
    features = 1 + (int)pick(MAX_FEAT);
    if (!int_field(feat_txt, sizeof feat_txt, features, 40)) expect_fail("input.features does not match the weights");
    if (!int_field(version_txt, sizeof version_txt, 1, 60)) expect_fail("schema version is not 1");

    int nlayers = gen_mode == 1 ? 20 + (int)pick(280) : gen_mode == 2 ? 16 + (int)pick(48) : 1 + (int)pick(6);
    int weight_regime = rare(4) ? 1 : rare(5) ? 3 : 0;
    unsigned name_den = rare(3) ? 3 : 40;
    for (int k = 0; k < nlayers; k++) {
        layer_t *l = &L[nl++];
        memset(l, 0, sizeof *l);
        unsigned atom = rare(name_den) ? 1 + pick(10) : 0;
        make_name(&l->name, 'L', k, atom, (int)pick(2));
        if (rare(60)) l->name.n = 0;
        if (rare(80)) { l->name.n = 0; name_append(&l->name, "input", 5); }
        if (k > 0 && rare(60)) l->name = L[pick((unsigned)k)].name;
        if (k > 0 && rare(40)) {
            name_t o;
            if (other_normalization(&L[k - 1].name, &o)) l->name = o;
        }
        judge_name(&l->name, 1);
        if (gen_mode == 1) l->input = k - 1;
        else if (gen_mode == 2) l->input = rare(4) && k > 0 ? (int)pick((unsigned)k) : -1;
        else l->input = k == 0 || pick(3) == 0 ? -1 : (int)pick((unsigned)k);
        l->out = gen_mode == 1 ? 1 + (int)pick(3) : 1 + (int)pick(MAX_W);
        l->act = (int)pick(A_COUNT + 1) - 1;
        if (rare(80)) { l->act_txt = rare(2) ? "Relu" : "softmax"; expect_fail("unknown activation"); }
        l->has_bias = pick(4) != 0;
        int dt = rare(3) ? (int)pick(4) : D_F32;
        l->wdt = dt;
        l->bdt = rare(3) ? (int)pick(4) : dt;
        l->units_key = pick(3) == 0;
        if (l->units_key && !int_field(l->units_txt, sizeof l->units_txt, l->out, 30)) expect_fail("units does not match the weight");
    }
    /* tensors (after all layers: widths are known) */
    for (int k = 0; k < nl; k++) {
        layer_t *l = &L[k];
        tensor_values(l, 0, l->wdt, weight_regime);
        if (l->has_bias) tensor_values(l, 1, l->bdt, weight_regime);
    }
    /* bad references, checked after widths are fixed */
    if (nl > 1 && rare(40)) {
        int k = (int)pick((unsigned)nl);
        L[k].input = k + (int)pick((unsigned)(nl - k + 1)); /* itself, a later layer or nowhere */
        expect_fail("a layer reads itself or a later layer");
        /* weights keep their old in-width: only the reference is wrong, and it is not used */
    }

    int nheads = gen_mode == 2 ? 4 + (int)pick(MAX_HEADS - 4) : 1 + (int)pick(4);
    if (rare(80)) { nheads = 0; expect_fail("no heads"); }
    for (int k = 0; k < nheads; k++) {
        head_t *h = &H[nh++];
        memset(h, 0, sizeof *h);
        unsigned atom = rare(name_den) ? 1 + pick(10) : 0;
        make_name(&h->name, 'h', k, atom, (int)pick(2));
        if (rare(60)) h->name.n = 0;
        if (k > 0 && rare(60)) h->name = H[pick((unsigned)k)].name;
        if (k > 0 && rare(30)) {
            name_t o;
            if (other_normalization(&H[k - 1].name, &o)) h->name = o;
        }
        judge_name(&h->name, 0);
        h->kind = (int)pick(H_COUNT);
        h->layer = (int)pick((unsigned)nl);
        if (gen_mode == 1 && pick(2)) h->layer = nl - 1;
        h->renorm = -1;
        int width = L[h->layer].out;
        if (h->kind == H_SOFTMAX || h->kind == H_LOG_SOFTMAX) {
            h->has_temp = pick(2);
            if (h->has_temp) {
                unsigned t = pick(rare(2) ? N_TEMPS : 8);
                snprintf(h->temp_txt, sizeof h->temp_txt, "%s", temps[t]);
                h->temp = strtod(h->temp_txt, NULL);
                if (!isfinite(h->temp) || h->temp <= 0) expect_fail("temperature not finite and > 0");
                else if (isinf((float)(1.0 / h->temp))) { known |= K_TINYTEMP; expect_either("temperature with an infinite float32 reciprocal"); }
                else if (h->temp < 1e-3 || h->temp > 1e3) expect_either("extreme temperature");
            } else {
                h->temp = 1.0;
            }
        } else if (rare(50)) {
            h->has_temp = 1; snprintf(h->temp_txt, sizeof h->temp_txt, "1.0"); h->temp = 1.0;
            expect_fail("temperature on a head that does not use it");
        }
        if (h->kind == H_MASKED) {
            h->mask_n = width;
            if (rare(40)) { h->mask_n = width + (rare(2) ? 1 : -1); expect_fail("mask length differs from the layer width"); }
            if (h->mask_n > MAX_W) h->mask_n = MAX_W;
            for (int j = 0; j < h->mask_n; j++) {
                h->mask[j] = (int)pick(2);
                if (!int_field(h->mask_txt[j], sizeof h->mask_txt[0], h->mask[j], 60)) {
                    long long v = int_meaning(h->mask_txt[j]);
                    if (v == 0 || v == 1) h->mask[j] = (int)v; else expect_fail("mask entry not 0 or 1");
                }
            }
            h->renorm = (int)pick(3) - 1;
        } else if (rare(60)) {
            h->renorm = 1; expect_fail("renormalize on a head that does not use it");
        }
        if (h->kind == H_PARTITIONED) {
            add_segments(h, width);
            if (rare(60)) { h->nseg = 0; }
            if (!segments_ok(h, width)) expect_fail("segment widths do not sum to the layer width");
        }
        if (h->kind == H_HIERARCHICAL) {
            /* a coarse layer of K units and K fine layers */
            int c = -1;
            for (int tries = 0; tries < 8 && c < 0; tries++) {
                int j = (int)pick((unsigned)nl);
                if (L[j].out <= MAX_W) c = j;
            }
            if (c < 0) c = 0;
            h->coarse = c;
            h->nfine = L[c].out;
            if (rare(40)) { h->nfine = h->nfine > 1 ? h->nfine - 1 : 2; expect_fail("fine layer count differs from the coarse width"); }
            for (int j = 0; j < h->nfine; j++) h->fine[j] = (int)pick((unsigned)nl);
            h->layer = rare(50) ? 0 : -1;
            if (h->layer == 0) expect_fail("layer key on a hierarchical head");
        } else if (rare(80)) {
            h->layer = -1; expect_fail("head without a layer");
        }
        if (rare(80)) { h->extra_key = "temprature"; expect_fail("unknown head key"); }
    }
    /* NUL in the same names as the tensors see them is covered by layer names;
     * canonically equivalent head names are either distinct or refused */
    for (int a = 0; a < nh; a++)
        for (int b = 0; b < a; b++) {
            name_t ka, kb;
            nfc_key(&H[a].name, &ka); nfc_key(&H[b].name, &kb);
            if (name_eq(&ka, &kb) && !name_eq(&H[a].name, &H[b].name)) { known |= K_NFC; expect_either("canonically equivalent head names"); }
            if (name_eq(&H[a].name, &H[b].name)) expect_fail("duplicate head name");
        }
    for (int a = 0; a < nl; a++)
        for (int b = 0; b < a; b++) {
            name_t ka, kb;
            nfc_key(&L[a].name, &ka); nfc_key(&L[b].name, &kb);
            if (name_eq(&ka, &kb) && !name_eq(&L[a].name, &L[b].name)) { known |= K_NFC; expect_either("canonically equivalent layer names"); }
            if (name_eq(&L[a].name, &L[b].name)) expect_fail("duplicate layer name");
        }

    /* tensor-level spellings and mistakes */
    for (int k = 0; k < nt; k++) {
        tensor_t *t = &T[k];
        t->name_escape = rare(4);
        for (int d = 0; d < t->rank; d++)
            if (!int_field(t->dim_txt[d], sizeof t->dim_txt[0], t->dims[d], 80)) t->bad_dim = 1;
    }
    if (nt > 0 && rare(16)) {
        /* a tensor whose name has another canonical spelling, if any */
        name_t o; tensor_t *t = &T[pick((unsigned)nt)];
        for (int k = 0; k < nt && !other_normalization(&t->name, &o); k++) t = &T[k];
        if (other_normalization(&t->name, &o)) {
            t->name = o; known |= K_NFC;
            expect_fail("tensor name in another normalization than its layer's");
        }
    }
    if (nt > 1 && rare(60)) {
        /* a dropped tensor: a bias is optional, a weight is not */
        tensor_t *t = &T[pick((unsigned)nt)];
        t->name.n = 0;
        if (t->is_bias) L[t->layer].has_bias = 0; else expect_fail("missing weight tensor");
    }
    extra_tensor = rare(60); /* in the file only (the builder adds the listed tensors) */
    /* a misspelled shape matters only for a tensor that is still written */
    for (int k = 0; k < nt; k++)
        if (T[k].bad_dim && T[k].name.n > 0) expect_fail("tensor shape does not match its bytes");
}

/* -------------------------------------------------------------- writing */

static int ext_escape;

static void write_name(buf *b, const name_t *n) { json_string(b, n->s, n->n, ext_escape); }

static void write_spec(buf *b) {
    ext_escape = rare(4);
    bputs(b, "{\"softmaxkit\": ");
    bputs(b, version_txt);
    bputs(b, ", \"input\": {\"features\": ");
    bputs(b, feat_txt);
    bputs(b, "}");
    if (rare(80)) { bputs(b, ", \"extra\": 1"); expect_fail("unknown top-level key"); }
    bputs(b, ", \"layers\": [");
    for (int k = 0; k < nl; k++) {
        layer_t *l = &L[k];
        if (k) bputs(b, ", ");
        bputs(b, "{\"name\": ");
        write_name(b, &l->name);
        if (l->input >= 0 || pick(2)) {
            bputs(b, ", \"input\": ");
            if (l->input < 0) bputs(b, "\"input\"");
            else if (l->input >= nl) bputs(b, "\"nowhere\"");
            else write_name(b, &L[l->input].name);
        }
        if (l->act_txt) bprintf(b, ", \"activation\": \"%s\"", l->act_txt);
        else if (l->act >= 0) bprintf(b, ", \"activation\": \"%s\"", act_names[l->act]);
        if (l->units_key) { bputs(b, ", \"units\": "); bputs(b, l->units_txt); }
        if (rare(120)) { bputs(b, ", \"bias\": true"); expect_fail("unknown layer key"); }
        bputs(b, "}");
    }
    bputs(b, "], \"heads\": [");
    for (int k = 0; k < nh; k++) {
        head_t *h = &H[k];
        if (k) bputs(b, ", ");
        bputs(b, "{\"name\": ");
        write_name(b, &h->name);
        bprintf(b, ", \"output\": \"%s\"", head_names[h->kind]);
        if (h->layer >= 0) { bputs(b, ", \"layer\": "); write_name(b, &L[h->layer].name); }
        if (h->has_temp) bprintf(b, ", \"temperature\": %s", h->temp_txt);
        if (h->kind == H_MASKED) {
            bputs(b, ", \"mask\": [");
            for (int j = 0; j < h->mask_n; j++) { if (j) bputs(b, ", "); bputs(b, h->mask_txt[j]); }
            bputs(b, "]");
        }
        if (h->renorm >= 0) bprintf(b, ", \"renormalize\": %s", h->renorm ? "true" : "false");
        if (h->kind == H_PARTITIONED) {
            bputs(b, ", \"segments\": [");
            for (int j = 0; j < h->nseg; j++) {
                if (j) bputs(b, ", ");
                bprintf(b, "[%s, \"%s\"]", seg_txt[h->seg0 + j], seg_names[seg_act[h->seg0 + j]]);
            }
            bputs(b, "]");
        }
        if (h->kind == H_HIERARCHICAL) {
            bputs(b, ", \"coarse\": "); write_name(b, &L[h->coarse].name);
            bputs(b, ", \"fine\": [");
            for (int j = 0; j < h->nfine; j++) { if (j) bputs(b, ", "); write_name(b, &L[h->fine[j]].name); }
            bputs(b, "]");
        }
        if (h->extra_key) bprintf(b, ", \"%s\": 1", h->extra_key);
        bputs(b, "}");
    }
    bputs(b, "]}");
}

/* The safetensors file: header with the spec under __metadata__ (unless
 * `with_spec` is 0), tensors in a shuffled order. */
static void write_file(buf *f, const char *spec, int with_spec) {
    buf h = {0}, data = {0};
    int order[MAX_TENSORS];
    for (int k = 0; k < nt; k++) order[k] = k;
    if (pick(2)) for (int k = nt - 1; k > 0; k--) { int j = (int)pick((unsigned)k + 1); int t = order[k]; order[k] = order[j]; order[j] = t; }
    bputs(&h, "{");
    int first = 1, meta_last = pick(3) == 0;
    if (with_spec && !meta_last) {
        bputs(&h, "\"__metadata__\": {\"softmaxkit\": ");
        json_string(&h, spec, (int)strlen(spec), rare(6));
        if (rare(4)) bputs(&h, ", \"format\": \"pt\"");
        bputs(&h, "}");
        first = 0;
    }
    for (int i = 0; i < nt; i++) {
        tensor_t *t = &T[order[i]];
        size_t begin = data.n;
        if (t->name.n == 0) { continue; } /* a dropped tensor */
        if (!first) bputs(&h, ", ");
        first = 0;
        json_string(&h, t->name.s, t->name.n, t->name_escape);
        bprintf(&h, ": {\"dtype\": \"%s\", \"shape\": [", dtype_names[t->dtype]);
        for (int d = 0; d < t->rank; d++) { if (d) bputs(&h, ", "); bputs(&h, t->dim_txt[d]); }
        bput(&data, t->raw, t->bytes);
        if (!int_field(t->off_txt[0], sizeof t->off_txt[0], (long long)begin, 200) ||
            !int_field(t->off_txt[1], sizeof t->off_txt[1], (long long)data.n, 200))
            expect_fail("data_offsets do not match the bytes");
        bprintf(&h, "], \"data_offsets\": [%s, %s]}", t->off_txt[0], t->off_txt[1]);
    }
    if (extra_tensor) {
        expect_fail("a tensor no layer uses");
        if (!first) bputs(&h, ", ");
        first = 0;
        bprintf(&h, "\"unused.weight\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [%zu, %zu]}", data.n, data.n + 4);
        bput(&data, "\0\0\0\0", 4);
    }
    if (with_spec && meta_last) {
        if (!first) bputs(&h, ", ");
        bputs(&h, "\"__metadata__\": {\"softmaxkit\": ");
        json_string(&h, spec, (int)strlen(spec), rare(6));
        bputs(&h, "}");
    }
    bputs(&h, "}");
    while (rare(2)) bputs(&h, " "); /* the alignment padding writers add */
    uint64_t hl = h.n;
    uint8_t len[8];
    for (int k = 0; k < 8; k++) len[k] = (uint8_t)(hl >> (8 * k));
    bput(f, len, 8);
    bput(f, h.p, h.n);
    if (data.n) bput(f, data.p, data.n);
    free(h.p); free(data.p);
}

/* ----------------------------------------------------------- reference */

static double act_ref(int a, double x) {
    switch (a) {
    case A_RELU: return x > 0 ? x : 0;
    case A_TANH: return tanh(x);
    case A_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case A_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case A_GELU_TANH: return 0.5 * x * (1.0 + tanh(sqrt(2.0 / PI_D) * (x + 0.044715 * x * x * x)));
    case A_SILU: return x / (1.0 + exp(-x));
    default: return x;
    }
}

/* values and error bounds of every layer for one row; wild[l] when some
 * value left float32's comfortable range (no value comparison then) */
static double lv[MAX_LAYERS][MAX_W], le[MAX_LAYERS][MAX_W];
static int wild[MAX_LAYERS];

static void reference_row(const float *x) {
    const double eps = 1.0 / 16777216.0;
    for (int k = 0; k < nl; k++) {
        layer_t *l = &L[k];
        int in = l->input < 0 ? features : L[l->input].out;
        wild[k] = l->input >= 0 ? wild[l->input] : 0;
        for (int j = 0; j < l->out; j++) {
            double s = l->has_bias ? l->bf[j] : 0.0, mag = fabs(s), err = 0;
            for (int i = 0; i < in; i++) {
                double xi = l->input < 0 ? x[i] : lv[l->input][i];
                double ei = l->input < 0 ? 0 : le[l->input][i];
                double w = l->wf[j * in + i];
                s += w * xi;
                mag += fabs(w * xi);
                err += fabs(w) * ei;
            }
            err += 4.0 * eps * (in + 2) * mag;
            if (!isfinite(s) || !isfinite(mag) || mag > 1e30) wild[k] = 1;
            double y = act_ref(l->act < 0 ? A_IDENTITY : l->act, s);
            lv[k][j] = y;
            le[k][j] = 1.2 * err + 4e-7 * fabs(s) + 1e-30;
        }
    }
}

static double max_err(int layer) {
    double m = 0;
    for (int j = 0; j < L[layer].out; j++) if (le[layer][j] > m) m = le[layer][j];
    return m;
}

static void report(const char *what, int head, int row, int j, double got, double ref, double tol);

/* y for one row of head h, with tolerances; returns 0 when the layer is
 * wild (not compared). probs: 1 where the value is a probability. */
static int head_reference(const head_t *h, double *y, double *tol, int *probs) {
    int n = 0;
    if (h->kind == H_HIERARCHICAL) {
        int c = h->coarse;
        if (wild[c]) return 0;
        double mc = -INFINITY, sc = 0;
        for (int k = 0; k < L[c].out; k++) if (lv[c][k] > mc) mc = lv[c][k];
        for (int k = 0; k < L[c].out; k++) sc += exp(lv[c][k] - mc);
        for (int k = 0; k < h->nfine; k++) {
            int f = h->fine[k];
            if (wild[f]) return 0;
            double mf = -INFINITY, sf = 0;
            for (int j = 0; j < L[f].out; j++) if (lv[f][j] > mf) mf = lv[f][j];
            for (int j = 0; j < L[f].out; j++) sf += exp(lv[f][j] - mf);
            for (int j = 0; j < L[f].out; j++) {
                y[n] = exp(lv[c][k] - mc) / sc * exp(lv[f][j] - mf) / sf;
                tol[n] = 8 * (2 * max_err(c) + 2 * max_err(f)) + 1e-5;
                probs[n] = 1;
                n++;
            }
        }
        return n;
    }
    int l = h->layer, w = L[l].out;
    if (wild[l]) return 0;
    double e = max_err(l);
    const double *v = lv[l];
    switch (h->kind) {
    case H_IDENTITY:
        for (int j = 0; j < w; j++) { y[j] = v[j]; tol[j] = 8 * le[l][j] + 1e-5 * (1 + fabs(v[j])); probs[j] = 0; }
        return w;
    case H_SIGMOID:
        for (int j = 0; j < w; j++) { y[j] = 1 / (1 + exp(-v[j])); tol[j] = 8 * 0.25 * le[l][j] + 1e-5; probs[j] = 1; }
        return w;
    case H_SOFTMAX: case H_LOG_SOFTMAX: {
        double m = -INFINITY, s = 0, t = h->temp, vmax = 0;
        for (int j = 0; j < w; j++) { if (v[j] > m) m = v[j]; if (fabs(v[j]) > vmax) vmax = fabs(v[j]); }
        for (int j = 0; j < w; j++) s += exp((v[j] - m) / t);
        double ez = 2 * (e + 2.4e-7 * vmax) / t; /* float32 1/t is rounded too */
        for (int j = 0; j < w; j++) {
            double z = (v[j] - m) / t;
            if (h->kind == H_SOFTMAX) { y[j] = exp(z) / s; tol[j] = 8 * ez + 1e-5; probs[j] = 1; }
            else { y[j] = z - log(s); tol[j] = 8 * ez + 1e-5 * (1 + fabs(y[j])); probs[j] = 0; }
        }
        return w;
    }
    case H_MASKED: {
        double m = -INFINITY, s = 0;
        int renorm = h->renorm != 0;
        for (int j = 0; j < w; j++) if ((h->mask[j] || !renorm) && v[j] > m) m = v[j];
        for (int j = 0; j < w; j++) if (h->mask[j] || !renorm) s += exp(v[j] - m);
        for (int j = 0; j < w; j++) {
            y[j] = h->mask[j] ? exp(v[j] - m) / s : 0.0;
            tol[j] = h->mask[j] ? 8 * 2 * e + 1e-5 : 0.0;
            probs[j] = 1;
        }
        return w;
    }
    case H_PARTITIONED: {
        int o = 0;
        for (int k = 0; k < h->nseg; k++) {
            int sw = (int)int_meaning(seg_txt[h->seg0 + k]), a = seg_act[h->seg0 + k];
            double m = -INFINITY, s = 0, se = 0;
            for (int j = o; j < o + sw; j++) { if (v[j] > m) m = v[j]; if (le[l][j] > se) se = le[l][j]; }
            for (int j = o; j < o + sw; j++) s += exp(v[j] - m);
            for (int j = o; j < o + sw; j++) {
                probs[j] = 0;
                switch (a) {
                case S_SOFTMAX: y[j] = exp(v[j] - m) / s; tol[j] = 8 * 2 * se + 1e-5; probs[j] = 1; break;
                case S_LOG_SOFTMAX: y[j] = v[j] - m - log(s); tol[j] = 8 * 2 * se + 1e-5 * (1 + fabs(y[j])); break;
                case S_SIGMOID: y[j] = 1 / (1 + exp(-v[j])); tol[j] = 8 * 0.25 * le[l][j] + 1e-5; probs[j] = 1; break;
                case S_TANH: y[j] = tanh(v[j]); tol[j] = 8 * le[l][j] + 1e-5; break;
                default: y[j] = v[j]; tol[j] = 8 * le[l][j] + 1e-5 * (1 + fabs(v[j]));
                }
            }
            o += sw;
        }
        return w;
    }
    }
    return 0;
}

/* ---------------------------------------------------------------- checks */

static const char *surface_name;

static void dump_spec(void);

static void fail(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "\nfuzz_model_spec [%s surface]: ", surface_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  last message: %s\n  expectation: %s (%s), known classes in input: 0x%x\n",
            smk_last_error_message(), must_fail ? "must fail" : may_fail ? "may fail" : "must load",
            why[0] ? why : "plain valid spec", known);
    dump_spec();
    abort();
}

static void report(const char *what, int head, int row, int j, double got, double ref, double tol) {
    fail("%s: head %d (%s) row %d value %d: got %.9g, reference %.9g, tolerance %.3g", what, head,
         head_names[H[head].kind], row, j, got, ref, tol);
}

static buf last_spec;
static void dump_spec(void) {
    if (last_spec.p) fprintf(stderr, "  spec (%zu bytes): %.2000s%s\n", last_spec.n, last_spec.p, last_spec.n > 2000 ? "..." : "");
}

static int documented_failure(smk_status st) {
    return st == SMK_ERROR_FORMAT || st == SMK_ERROR_SIZE_OVERFLOW || st == SMK_ERROR_SHAPE_MISMATCH ||
           st == SMK_ERROR_UNSUPPORTED || st == SMK_ERROR_OUT_OF_MEMORY || st == SMK_ERROR_INVALID_ARGUMENT ||
           st == SMK_ERROR_INDEX_OUT_OF_RANGE;
}

static unsigned skip_mask(void) {
    static int init = 0;
    static unsigned mask = 0;
    if (!init) {
        const char *s = getenv("SMK_FUZZ_SKIP_KNOWN");
        init = 1;
        if (s && *s) {
            if (strcmp(s, "all") == 0 || strcmp(s, "1") == 0) mask = ~0u;
            else for (unsigned k = 0; k < sizeof known_names / sizeof known_names[0]; k++)
                if (strstr(s, known_names[k])) mask |= 1u << k;
        }
    }
    return mask;
}

static float xin[MAX_ROWS * MAX_FEAT];

static int64_t head_size_expected(const head_t *h) {
    if (h->kind == H_HIERARCHICAL) { int64_t s = 0; for (int k = 0; k < h->nfine; k++) s += L[h->fine[k]].out; return s; }
    return L[h->layer].out;
}

/* Runs forward and returns malloc'd outputs (each with a canary). */
static int fwd_steps = 1;

static float **run_forward(const smk_model *m, const smk_ensemble *e, int rows) {
    float **outs = (float **)calloc((size_t)nh + 1, sizeof *outs);
    if (!outs) abort();
    for (int k = 0; k < nh; k++) {
        size_t n = (size_t)rows * (size_t)head_size_expected(&H[k]);
        outs[k] = (float *)malloc((n + 1) * sizeof(float));
        if (!outs[k]) abort();
        for (size_t i = 0; i <= n; i++) outs[k][i] = -12345.0f;
    }
    smk_status st = e ? smk_ensemble_forward(e, xin, rows / fwd_steps, fwd_steps, features, outs, nh)
                      : smk_model_forward(m, xin, rows / fwd_steps, fwd_steps, features, outs, nh);
    if (st != SMK_OK) fail("%s forward failed with %s", e ? "ensemble" : "model", smk_status_string(st));
    for (int k = 0; k < nh; k++) {
        size_t n = (size_t)rows * (size_t)head_size_expected(&H[k]);
        if (outs[k][n] != -12345.0f) fail("forward wrote past head %d's output", k);
    }
    return outs;
}

static void free_outs(float **outs) {
    for (int k = 0; k < nh; k++) free(outs[k]);
    free(outs);
}

static int same_bits(float a, float b) { uint32_t x, y; memcpy(&x, &a, 4); memcpy(&y, &b, 4); return x == y; }

static void check_model(smk_model *m, const char *tensors_file, size_t file_size) {
    int64_t v = -1;
    if (smk_model_head_count(m, &v) != SMK_OK || v != nh) fail("head count %lld, spec has %d", (long long)v, nh);
    if (smk_model_input_features(m, &v) != SMK_OK || v != features) fail("features %lld, spec has %d", (long long)v, features);
    int64_t params = 0;
    for (int k = 0; k < nl; k++) {
        int in = L[k].input < 0 ? features : L[L[k].input].out;
        params += (int64_t)L[k].out * in + (L[k].has_bias ? L[k].out : 0);
    }
    if (smk_model_parameter_count(m, &v) != SMK_OK || v != params) fail("parameter count %lld, expected %lld", (long long)v, (long long)params);
    for (int k = 0; k < nh; k++) {
        const char *name = NULL;
        if (smk_model_head_name(m, k, &name) != SMK_OK || !name) fail("no name for head %d", k);
        if (strlen(name) != (size_t)H[k].name.n || memcmp(name, H[k].name.s, (size_t)H[k].name.n) != 0)
            fail("head %d is named \"%s\" (%zu bytes), the spec says %d bytes", k, name, strlen(name), H[k].name.n);
        if (smk_model_head_size(m, k, &v) != SMK_OK || v != head_size_expected(&H[k]))
            fail("head %d size %lld, expected %lld", k, (long long)v, (long long)head_size_expected(&H[k]));
    }
    /* input rows */
    /* rows: a few, sometimes split into steps ([batch, steps, features]),
     * rarely more than one 256-row block of the forward pass */
    int rows = 1 + (int)pick(6), steps = 1;
    if (rare(4)) { steps = 2; rows = 2 * (1 + (int)pick(3)); }
    if (gen_mode == 0 && rare(16)) rows = (250 + (int)pick(MAX_ROWS - 250 + 1)) / steps * steps;
    for (int i = 0; i < rows * features; i++) {
        unsigned c = pick(16);
        xin[i] = c == 15 ? (float)((int)pick(256) - 128) * 100.0f : (float)((int)pick(65) - 32) / 16.0f;
    }
    /* a wrong feature count fails and writes nothing */
    {
        float *o[MAX_HEADS];
        float canary[MAX_HEADS][4];
        for (int k = 0; k < nh; k++) { for (int i = 0; i < 4; i++) canary[k][i] = 7.0f; o[k] = canary[k]; }
        smk_status st = smk_model_forward(m, xin, 1, 1, features + 1, o, nh);
        if (st == SMK_OK) fail("forward with %d features (model takes %d) succeeded", features + 1, features);
        for (int k = 0; k < nh; k++) for (int i = 0; i < 4; i++) if (canary[k][i] != 7.0f) fail("a failed forward wrote an output");
    }
    fwd_steps = steps;
    /* zero rows: success, nothing written */
    {
        float *o[MAX_HEADS];
        float canary[MAX_HEADS];
        for (int k = 0; k < nh; k++) { canary[k] = 7.0f; o[k] = &canary[k]; }
        if (smk_model_forward(m, xin, 0, steps, features, o, nh) != SMK_OK) fail("forward of zero rows failed");
        for (int k = 0; k < nh; k++) if (canary[k] != 7.0f) fail("forward of zero rows wrote an output");
    }
    float **outs = run_forward(m, NULL, rows);
    static double y[MAX_SEGS], tol[MAX_SEGS];
    static int probs[MAX_SEGS];
    for (int r = 0; r < rows; r++) {
        reference_row(&xin[r * features]);
        for (int k = 0; k < nh; k++) {
            int n = head_reference(&H[k], y, tol, probs);
            int size = (int)head_size_expected(&H[k]);
            const float *got = outs[k] + (size_t)r * (size_t)size;
            if (n == 0) continue;
            double psum = 0;
            for (int j = 0; j < n; j++) {
                double g = got[j], ref = y[j], t = tol[j];
                if (isnan(ref)) continue;
                if (isnan(g)) report("NaN where the reference is a number", k, r, j, g, ref, t);
                if (fabs(ref) > FLT_MAX) {
                    if (!(g * ref > 0 && fabs(g) >= 1e37)) report("value beyond float32 range not saturated", k, r, j, g, ref, t);
                    continue;
                }
                if (probs[j] && (g < -1e-6 || g > 1 + 1e-6)) report("probability outside [0, 1]", k, r, j, g, ref, t);
                if (!(t > 1e6) && fabs(g - ref) > t) report("differs from the float64 reference", k, r, j, g, ref, t);
            }
            if (H[k].kind == H_SOFTMAX || (H[k].kind == H_MASKED && H[k].renorm != 0) || H[k].kind == H_HIERARCHICAL) {
                int any = 0;
                for (int j = 0; j < n; j++) { psum += got[j]; if (H[k].kind != H_MASKED || H[k].mask[j]) any = 1; }
                if (any && fabs(psum - 1) > 1e-4 + 1e-6 * n) report("probabilities do not sum to 1", k, r, 0, psum, 1, 1e-4);
            }
        }
    }
    /* the model's own spec as a side file gives the same outputs, bit for bit */
    if (tensors_file) {
        const char *json = NULL;
        smk_model *again = NULL;
        if (smk_model_spec_json(m, &json) != SMK_OK || !json) fail("no spec_json");
        smk_status st = smk_model_load_memory(tensors_file, (int64_t)file_size, json, &again);
        if (st != SMK_OK) fail("the model's own spec_json does not load back: %s", smk_status_string(st));
        float **o2 = run_forward(again, NULL, rows);
        for (int k = 0; k < nh; k++) {
            size_t n = (size_t)rows * (size_t)head_size_expected(&H[k]);
            for (size_t i = 0; i < n; i++)
                if (!same_bits(o2[k][i], outs[k][i]) && !(isnan(o2[k][i]) && isnan(outs[k][i])))
                    fail("reloaded from its spec_json, head %d value %zu: %.9g vs %.9g", k, i, o2[k][i], outs[k][i]);
        }
        free_outs(o2);
        smk_model_free(again);
    }
    /* an ensemble of the model with itself is the model */
    {
        const smk_model *members[2] = {m, m};
        smk_ensemble *e = NULL;
        int mode = (int)pick(3);
        smk_status st = smk_ensemble_create(members, 2, mode, &e);
        if (st != SMK_OK) fail("ensemble of a model with itself: %s", smk_status_string(st));
        float **oe = run_forward(NULL, e, rows);
        for (int k = 0; k < nh; k++) {
            size_t n = (size_t)rows * (size_t)head_size_expected(&H[k]);
            for (size_t i = 0; i < n; i++) {
                double a = outs[k][i], b = oe[k][i];
                if (isnan(a) && isnan(b)) continue;
                if (isinf(a) && a == b) continue;
                if (a < -60 && b < -50) continue; /* log-space below float32's normal range */
                if (isnan(b) || fabs(a - b) > 1e-5 + 1e-4 * fabs(a)) {
                    size_t size = (size_t)head_size_expected(&H[k]), r0 = i / size * size;
                    fprintf(stderr, "model row:   ");
                    for (size_t q = r0; q < r0 + size && q < r0 + 16; q++) fprintf(stderr, " %.6g", outs[k][q]);
                    fprintf(stderr, "\nensemble row:");
                    for (size_t q = r0; q < r0 + size && q < r0 + 16; q++) fprintf(stderr, " %.6g", oe[k][q]);
                    fprintf(stderr, "\n");
                    fail("ensemble (mode %d) of the model with itself, head %d value %zu: %.9g vs the model's %.9g", mode, k, i, b, a);
                }
            }
        }
        free_outs(oe);
        smk_ensemble_free(e);
    }
    free_outs(outs);
}

/* ---------------------------------------------------------------- entry */

static void spec_verbose(const char *spec) {
    static int v = -1;
    if (v < 0) v = getenv("SMK_FUZZ_VERBOSE") != NULL;
    if (v) fprintf(stderr, "spec: %s\n", spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int sentinel_storage;
    smk_model *const sentinel = (smk_model *)(void *)&sentinel_storage;
    smk_model *m = sentinel;
    buf spec = {0}, file = {0};
    smk_status st;
    int surface;

    in_p = data; in_n = size; in_i = 0;
    surface = (int)pick(4);
    surface = surface == 3 ? 2 : surface == 2 ? 1 : 0;
    generate();
    write_spec(&spec);
    int spec_fail = must_fail, spec_may = may_fail;
    char spec_why[sizeof why];
    snprintf(spec_why, sizeof spec_why, "%s", why);
    last_spec.n = 0;
    bput(&last_spec, spec.p, spec.n);
    spec_verbose(spec.p);
    write_file(&file, spec.p, surface == 0);

    if (surface == 2) {
        /* C names end at NUL: the builder cannot spell such a tensor */
        for (int k = 0; k < nt; k++) if (name_has_nul(&T[k].name)) surface = 1;
    }
    surface_name = surface == 0 ? "file metadata" : surface == 1 ? "side-file spec" : "builder";
    int skipped = (known & skip_mask()) != 0, unexpressible = 0;
    if (surface == 2) { must_fail = spec_fail; may_fail = spec_may; snprintf(why, sizeof why, "%s", spec_why); }

    if (surface == 2) {
        smk_model_builder *b = NULL;
        st = smk_model_builder_create(spec.p, &b);
        if (st == SMK_OK) {
            for (int k = 0; k < nt && st == SMK_OK; k++) {
                tensor_t *t = &T[k];
                int64_t shape[2];
                int ok = 1;
                for (int d = 0; d < t->rank; d++) { long long v = int_meaning(t->dim_txt[d]); shape[d] = v; if (v < 0 || v > (1 << 20)) ok = 0; }
                if (t->name.n == 0) continue;
                if (!ok) { unexpressible = 1; break; }
                int64_t count = t->rank == 1 ? shape[0] : shape[0] * shape[1];
                size_t n = t->bytes / (size_t)dtype_size[t->dtype];
                char cname[NAME_CAP + 1];
                memcpy(cname, t->name.s, (size_t)t->name.n);
                cname[t->name.n] = '\0';
                if ((size_t)count != n) { unexpressible = 1; break; }
                if (t->dtype == D_F64) {
                    double *v = (double *)malloc(n * 8 + 8);
                    if (!v) abort();
                    memcpy(v, t->raw, n * 8);
                    st = smk_model_builder_add_f64(b, cname, v, shape, t->rank);
                    free(v);
                } else {
                    float *v = (float *)malloc(n * 4 + 4);
                    if (!v) abort();
                    for (size_t i = 0; i < n; i++) {
                        if (t->dtype == D_F32) memcpy(&v[i], t->raw + 4 * i, 4);
                        else {
                            uint16_t h = (uint16_t)(t->raw[2 * i] | (t->raw[2 * i + 1] << 8));
                            v[i] = (float)(t->dtype == D_F16 ? f16_value(h) : bf16_value(h));
                        }
                    }
                    st = smk_model_builder_add_f32(b, cname, v, shape, t->rank);
                    free(v);
                }
            }
            if (st == SMK_OK && !unexpressible) st = smk_model_builder_build(b, &m);
        }
        smk_model_builder_free(b);
    } else {
        st = smk_model_load_memory(file.p, (int64_t)file.n, surface == 1 ? spec.p : NULL, &m);
    }

    if (getenv("SMK_FUZZ_VERBOSE"))
        fprintf(stderr, "outcome: surface %s, status %s, expectation %s (%s), known 0x%x\n", surface_name,
                smk_status_string(st), must_fail ? "must fail" : may_fail ? "may fail" : "must load", why, known);
    if (skipped || unexpressible) {
        if (st == SMK_OK && m != sentinel) smk_model_free(m);
        free(spec.p); free(file.p);
        return 0;
    }
    if (st != SMK_OK) {
        if (!documented_failure(st)) fail("undocumented status %s", smk_status_string(st));
        if (m != sentinel) fail("a failed load wrote *model_out");
        if (smk_last_error_message()[0] == '\0') fail("a failed load left no message");
        if (!must_fail && !may_fail) fail("a valid spec was refused: %s", smk_status_string(st));
    } else {
        if (m == NULL || m == sentinel) fail("SMK_OK without a new model");
        if (must_fail) fail("a spec that breaks the schema (%s) was accepted", why);
        /* the spec_json round trip loads the same file with the model's
         * own spec as a side file (which replaces any metadata) */
        check_model(m, surface != 2 ? file.p : NULL, surface != 2 ? file.n : 0);
        smk_model_free(m);
    }
    free(spec.p); free(file.p);
    return 0;
}
