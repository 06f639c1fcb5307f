/* The vector primitives of Sources/SoftmaxKitSIMD against plain scalar
 * loops, for whichever width and instruction-set path this file is compiled
 * with: `make test-simd` builds it as the 512-bit and 256-bit vectors, each
 * with the machine's instructions (AVX-512 or AVX2 paths where it has them)
 * and as portable vector C, so that every path of the header runs here
 * whatever CPU the library itself was built for. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../Sources/SoftmaxKitSIMD/include/softmaxkit_simd.h"

static int failures = 0;
#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            failures++;                                                                        \
            if (failures < 20) { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } \
        }                                                                                      \
    } while (0)

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }
/* Small integers, so that ties are common. */
static float small(void) { return (float)((int)(next() % 9) - 4); }

#define W32 SMK_SIMD_LANES32
#define W64 SMK_SIMD_LANES64

static smk_simd_vf32 load32(const float *p) { smk_simd_vf32 v; memcpy(&v, p, sizeof v); return v; }
static smk_simd_vf64 load64(const double *p) { smk_simd_vf64 v; memcpy(&v, p, sizeof v); return v; }

static void test_prefix_and_masks(void) {
    float a[W32], b[W32];
    double c[W64];
    for (int trial = 0; trial < 200; trial++) {
        for (int l = 0; l < W32; l++) { a[l] = small(); b[l] = small(); }
        for (int l = 0; l < W64; l++) c[l] = small();
        if (trial % 7 == 0) a[trial % W32] = NAN;
        float t = small();
        uint32_t bits = smk_simd_above_bits_f32(load32(a), t), want = 0;
        for (int l = 0; l < W32; l++) want |= (uint32_t)(a[l] > t || isnan(a[l])) << l;
        CHECK(bits == want, "above_bits_f32 %x != %x", bits, want);
        uint32_t bits64 = smk_simd_above_bits_f64(load64(c), t), want64 = 0;
        for (int l = 0; l < W64; l++) want64 |= (uint32_t)(c[l] > t) << l;
        CHECK(bits64 == want64, "above_bits_f64 %x != %x", bits64, want64);
        for (int count = -1; count <= W32 + 1; count++) {
            smk_simd_vf32 k = smk_simd_keep_first_f32(load32(a), count, 9), d = smk_simd_drop_first_f32(load32(a), count, 9);
            smk_simd_vf32 mx = smk_simd_max_f32(load32(a), load32(b)), mn = smk_simd_min_f32(load32(a), load32(b));
            for (int l = 0; l < W32; l++) {
                int keep = l < count;
                CHECK(memcmp(&(float){k[l]}, keep ? &a[l] : &(float){9}, 4) == 0, "keep_first lane %d", l);
                CHECK(memcmp(&(float){d[l]}, keep ? &(float){9} : &a[l], 4) == 0, "drop_first lane %d", l);
                float wmx = b[l] > a[l] ? b[l] : a[l], wmn = b[l] < a[l] ? b[l] : a[l];
                CHECK(memcmp(&(float){mx[l]}, &wmx, 4) == 0 && memcmp(&(float){mn[l]}, &wmn, 4) == 0, "max/min lane %d", l);
            }
        }
        smk_simd_vu8_32 m;
        for (int l = 0; l < W32; l++) m[l] = (uint8_t)(next() % 3);
        smk_simd_vf32 s = smk_simd_select_bytes_f32(m, load32(a), load32(b));
        for (int l = 0; l < W32; l++) CHECK(memcmp(&(float){s[l]}, m[l] ? &a[l] : &b[l], 4) == 0, "select_bytes lane %d", l);
    }
}

static void test_fma(void) {
    float a[W32], b[W32], c[W32];
    for (int trial = 0; trial < 100; trial++) {
        for (int l = 0; l < W32; l++) { a[l] = 1 + (float)(next() % 1000) * 0x1p-12f; b[l] = a[l]; c[l] = -1; }
        smk_simd_vf32 r = smk_simd_fma_f32(load32(a), load32(b), load32(c));
        for (int l = 0; l < W32; l++) {
#if SMK_SIMD_FUSED
            float want = fmaf(a[l], b[l], c[l]); /* one rounding */
#else
            volatile float product = a[l] * b[l]; /* rounded: no contraction */
            float want = product + c[l];
#endif
            CHECK(r[l] == want, "fma_f32 lane %d: %a != %a", l, r[l], want);
        }
        smk_simd_f32x16 a16, c16;
        for (int l = 0; l < 16; l++) { a16[l] = a[l % W32]; c16[l] = -1; }
        smk_simd_f32x16 r16 = smk_simd_fma_f32x16(a16, a16, c16);
        for (int l = 0; l < 16; l++) {
#if SMK_SIMD_FUSED
            float want = fmaf(a16[l], a16[l], -1);
#else
            volatile float product = a16[l] * a16[l];
            float want = product - 1;
#endif
            CHECK(r16[l] == want, "fma_f32x16 lane %d", l);
        }
    }
}

static void test_reductions(void) {
    for (int trial = 0; trial < 200; trial++) {
        float a[W32];
        double c[W64];
        double sum = 0, csum = 0;
        float mx = -INFINITY, mn = INFINITY;
        double cmx = -INFINITY;
        for (int l = 0; l < W32; l++) { a[l] = small() * 0.25f; sum += a[l]; mx = fmaxf(mx, a[l]); mn = fminf(mn, a[l]); }
        for (int l = 0; l < W64; l++) { c[l] = small() * 0.5; csum += c[l]; cmx = fmax(cmx, c[l]); }
        /* quarters and halves of small integers: every sum is exact */
        CHECK(smk_simd_hsum_f32(load32(a)) == (float)sum, "hsum_f32");
        CHECK(smk_simd_hmax_f32(load32(a)) == mx && smk_simd_hmin_f32(load32(a)) == mn, "hmax/hmin_f32");
        CHECK(smk_simd_hsum_f64(load64(c)) == csum && smk_simd_hmax_f64(load64(c)) == cmx, "hsum/hmax_f64");
    }
}

static void test_partial_moves(void) {
    /* The row ends on the last byte before an unreadable page would be the
     * real test of the masked moves; here: values and untouched neighbours. */
    float src[3 * W32], dst[3 * W32];
    double src64[3 * W64], dst64[3 * W64];
    for (int i = 0; i < 3 * W32; i++) src[i] = (float)i;
    for (int i = 0; i < 3 * W64; i++) src64[i] = i;
    for (int count = 0; count <= W32; count++) {
        smk_simd_vf32 v = smk_simd_load_first_f32(src + W32, count, -1);
        for (int l = 0; l < W32; l++) CHECK(v[l] == (l < count ? src[W32 + l] : -1), "load_first_f32 %d lane %d", count, l);
        for (int i = 0; i < 3 * W32; i++) dst[i] = -7;
        smk_simd_store_first_f32(load32(src + W32), dst + W32, count);
        for (int i = 0; i < 3 * W32; i++)
            CHECK(dst[i] == (i >= W32 && i < W32 + count ? src[i] : -7), "store_first_f32 %d at %d", count, i);
    }
    for (int count = 0; count <= W64; count++) {
        smk_simd_vf64 v = smk_simd_load_first_f64(src64 + W64, count, -1);
        for (int l = 0; l < W64; l++) CHECK(v[l] == (l < count ? src64[W64 + l] : -1), "load_first_f64 %d lane %d", count, l);
        for (int i = 0; i < 3 * W64; i++) dst64[i] = -7;
        smk_simd_store_first_f64(load64(src64 + W64), dst64 + W64, count);
        for (int i = 0; i < 3 * W64; i++)
            CHECK(dst64[i] == (i >= W64 && i < W64 + count ? src64[i] : -7), "store_first_f64 %d at %d", count, i);
    }
}

static void test_transpose(void) {
    enum { SS = 21, DS = 19 };
    float src[W32 * SS], dst[W32 * DS];
    double src64[W64 * SS], dst64[W64 * DS];
    for (int i = 0; i < W32 * SS; i++) src[i] = (float)i;
    for (int i = 0; i < W64 * SS; i++) src64[i] = i;
    for (int R = 0; R <= W32; R++)
        for (int C = 0; C <= W32; C++) {
            for (int i = 0; i < W32 * DS; i++) dst[i] = -1;
            smk_simd_transpose_f32(src, SS, R, C, dst, DS);
            for (int c = 0; c < W32; c++)
                for (int r = 0; r < DS; r++) {
                    float want = c < C && r < R ? src[r * SS + c] : -1;
                    CHECK(dst[c * DS + r] == want, "transpose_f32 R=%d C=%d at (%d, %d)", R, C, c, r);
                }
        }
    for (int R = 0; R <= W64; R++)
        for (int C = 0; C <= W64; C++) {
            for (int i = 0; i < W64 * DS; i++) dst64[i] = -1;
            smk_simd_transpose_f64(src64, SS, R, C, dst64, DS);
            for (int c = 0; c < W64; c++)
                for (int r = 0; r < DS; r++) {
                    double want = c < C && r < R ? src64[r * SS + c] : -1;
                    CHECK(dst64[c * DS + r] == want, "transpose_f64 R=%d C=%d at (%d, %d)", R, C, c, r);
                }
        }
}

/* Rank order: descending, ties by lower index. */
static int ranks_before(const double *x, int64_t i, int64_t j) { return x[i] > x[j] || (x[i] == x[j] && i < j); }

static void test_rank_scatter(void) {
    for (int trial = 0; trial < 400; trial++) {
        int64_t n = 1 + (int64_t)(next() % (4 * W32));
        int64_t k = (int64_t)(next() % (uint64_t)(n + 1));
        float x[4 * W32], vals[4 * W32], vr[4 * W32];
        double xd[4 * W32], vd[4 * W32], vrd[4 * W32];
        int64_t ir[4 * W32];
        int32_t positions[4 * W32];
        for (int64_t i = 0; i < n; i++) {
            x[i] = small();
            if (x[i] == 0 && next() % 2) x[i] = -0.0f; /* -0 ties with +0 */
            vals[i] = (float)(100 + i);
            positions[i] = (int32_t)(1000 + i);
        }
        int nan = trial % 10 == 0;
        if (nan) x[next() % (uint64_t)n] = NAN;
        int64_t vectors = (n + W32 - 1) / W32;
        int r = smk_simd_rank_scatter_f32(x, vals, n, vectors, k, vr, ir, trial % 2 ? positions : NULL);
        CHECK(r == nan, "rank_scatter_f32 NaN flag %d", r);
        if (!nan) {
            double xs[4 * W32];
            for (int64_t i = 0; i < n; i++) xs[i] = x[i];
            for (int64_t q = 0; q < k; q++) {
                int64_t j = -1;
                for (int64_t c = 0; c < n && j < 0; c++) { /* the element with exactly q before it */
                    int64_t before = 0;
                    for (int64_t i = 0; i < n; i++) before += ranks_before(xs, i, c);
                    if (before == q) j = c;
                }
                CHECK(vr[q] == vals[j] && ir[q] == (trial % 2 ? positions[j] : j), "rank_scatter_f32 n=%lld slot %lld",
                      (long long)n, (long long)q);
            }
        }
        int64_t n64 = n <= 4 * W64 ? n : 4 * W64;
        if (k > n64) k = n64;
        for (int64_t i = 0; i < n64; i++) { xd[i] = x[i]; vd[i] = 100 + (double)i; }
        int nan64 = 0;
        for (int64_t i = 0; i < n64; i++) nan64 |= isnan(xd[i]);
        r = smk_simd_rank_scatter_f64(xd, vd, n64, (n64 + W64 - 1) / W64, k, vrd, ir, NULL);
        CHECK(r == nan64, "rank_scatter_f64 NaN flag");
        if (!nan64)
            for (int64_t q = 0; q < k; q++) {
                int64_t before = 0;
                for (int64_t i = 0; i < n64; i++) before += ranks_before(xd, i, ir[q]);
                CHECK(before == q && vrd[q] == vd[ir[q]], "rank_scatter_f64 n=%lld slot %lld", (long long)n64, (long long)q);
            }
        /* rank_kth: the element with k - 1 before it (as a value: ties give the same one). */
        if (k >= 1) {
            float kth = 0;
            r = smk_simd_rank_kth_f32(x, n, vectors, k, &kth);
            CHECK(r == nan, "rank_kth_f32 NaN flag %d", r);
            if (!nan) {
                float want = 0;
                for (int64_t c = 0; c < n; c++) {
                    int64_t before = 0;
                    for (int64_t i = 0; i < n; i++) before += x[i] > x[c] || (x[i] == x[c] && i < c);
                    if (before == k - 1) want = x[c];
                }
                CHECK(kth == want, "rank_kth_f32 n=%lld k=%lld: %g, want %g", (long long)n, (long long)k, kth, want);
            }
            double kd = 0;
            r = smk_simd_rank_kth_f64(xd, n64, (n64 + W64 - 1) / W64, k, &kd);
            CHECK(r == nan64, "rank_kth_f64 NaN flag");
            if (!nan64) {
                int64_t below = 0, above = 0; /* k - 1 rank strictly above it, and it is reached */
                for (int64_t i = 0; i < n64; i++) { above += xd[i] > kd; below += xd[i] >= kd; }
                CHECK(above <= k - 1 && below >= k, "rank_kth_f64 n=%lld k=%lld: %g", (long long)n64, (long long)k, kd);
            }
        }
    }
}

/* lanes_kth: the k-th largest lane of one or two vectors, from registers. */
static void test_lanes_kth(void) {
    for (int trial = 0; trial < 400; trial++) {
        float a[2 * W32];
        double d[2 * W64];
        int64_t vectors = 1 + trial % 2;
        for (int64_t i = 0; i < 2 * W32; i++) a[i] = trial % 7 == 0 && i % 5 == 0 ? -INFINITY : small();
        for (int64_t i = 0; i < 2 * W64; i++) d[i] = a[i];
        int64_t k = 1 + (int64_t)(next() % (uint64_t)(vectors * W32));
        smk_simd_vf32 v0, v1;
        memcpy(&v0, a, sizeof v0);
        memcpy(&v1, a + W32, sizeof v1);
        float got = smk_simd_lanes_kth_f32(v0, v1, vectors, k);
        int64_t above = 0, reached = 0;
        for (int64_t i = 0; i < vectors * W32; i++) { above += a[i] > got; reached += a[i] >= got; }
        CHECK(above <= k - 1 && reached >= k, "lanes_kth_f32 vectors=%lld k=%lld: %g", (long long)vectors, (long long)k, got);
        k = 1 + (int64_t)(next() % (uint64_t)(vectors * W64));
        smk_simd_vf64 e0, e1;
        memcpy(&e0, d, sizeof e0);
        memcpy(&e1, d + W64, sizeof e1);
        double gd = smk_simd_lanes_kth_f64(e0, e1, vectors, k);
        above = reached = 0;
        for (int64_t i = 0; i < vectors * W64; i++) { above += d[i] > gd; reached += d[i] >= gd; }
        CHECK(above <= k - 1 && reached >= k, "lanes_kth_f64 vectors=%lld k=%lld: %g", (long long)vectors, (long long)k, gd);
    }
}

/* Column top-k: list_nonzero_u16 against a scalar scan; slots_offer, row
 * by row, against each lane's k first by a scalar count (ties to the lower
 * row, NaN first). */
static void test_column_slots(void) {
    for (int trial = 0; trial < 200; trial++) {
        uint16_t marks[100];
        int32_t rows[116];
        int64_t n = 1 + (int64_t)(next() % 100), c = 0;
        for (int64_t j = 0; j < n; j++) marks[j] = next() % 3 ? 0 : (uint16_t)next();
        int64_t got = smk_simd_list_nonzero_u16(marks, n, rows);
        for (int64_t j = 0; j < n; j++)
            if (marks[j]) { CHECK(c < got && rows[c] == j, "list_nonzero_u16 n=%lld at %lld", (long long)n, (long long)j); c++; }
        CHECK(c == got, "list_nonzero_u16 count %lld, want %lld", (long long)got, (long long)c);
    }
    for (int trial = 0; trial < 100; trial++) {
        enum { R = 40 };
        float x[R][W32];
        int64_t k = 1 + (int64_t)(next() % 8);
        for (int r = 0; r < R; r++)
            for (int l = 0; l < W32; l++) x[r][l] = trial % 5 == 0 && next() % 17 == 0 ? NAN : small();
        smk_simd_vf32 vals[8], idx[8], floor;
        for (int64_t s = 0; s < k; s++) {
            for (int l = 0; l < W32; l++) { vals[s][l] = -INFINITY; idx[s][l] = -1; }
        }
        for (int l = 0; l < W32; l++) floor[l] = -INFINITY;
        for (int r = 0; r < R; r++) {
            smk_simd_vf32 v, iv;
            for (int l = 0; l < W32; l++) { v[l] = x[r][l]; iv[l] = (float)r; }
            smk_simd_slots_offer_f32(vals, idx, k, v, iv, floor);
        }
        for (int l = 0; l < W32; l++)
            for (int64_t s = 0; s < k; s++) {
                int r = (int)idx[s][l], before = 0;
                CHECK(r >= 0 && r < R, "slots_offer lane %d slot %lld empty", l, (long long)s);
                if (r < 0 || r >= R) continue;
                for (int i = 0; i < R; i++) {
                    float a = x[i][l], b = x[r][l];
                    before += (isnan(a) && !isnan(b)) || (isnan(a) && isnan(b) && i < r) || a > b || (a == b && i < r);
                }
                CHECK(before == s, "slots_offer lane %d slot %lld: row %d has %d before it", l, (long long)s, r, before);
            }
    }
}

static void test_collect(void) {
    for (int trial = 0; trial < 400; trial++) {
        float a[W32];
        double c[W64];
        int32_t pos[W32];
        for (int l = 0; l < W32; l++) a[l] = trial % 9 == 0 && l == 1 ? NAN : small();
        for (int l = 0; l < W64; l++) c[l] = small();
        float floor = small();
        int lanes = (int)(next() % (W32 + 1));
        int sparse = trial % 2;
        int64_t got = smk_simd_collect_f32(load32(a), floor, lanes, 40, pos, sparse), want = 0;
        for (int l = 0; l < lanes; l++)
            if (!(a[l] < floor)) {
                CHECK(want < got && pos[want] == 40 + l, "collect_f32 lane %d", l);
                want++;
            }
        CHECK(got == want, "collect_f32 count %lld != %lld", (long long)got, (long long)want);
        lanes = (int)(next() % (W64 + 1));
        got = smk_simd_collect_f64(load64(c), floor, lanes, 7, pos, sparse), want = 0;
        for (int l = 0; l < lanes; l++)
            if (!(c[l] < floor)) {
                CHECK(want < got && pos[want] == 7 + l, "collect_f64 lane %d", l);
                want++;
            }
        CHECK(got == want, "collect_f64 count %lld != %lld", (long long)got, (long long)want);
    }
}

static void test_log(void) {
    double x[W64];
    for (int trial = 0; trial < 20000; trial++) {
        for (int l = 0; l < W64; l++) x[l] = ldexp(1 + (double)(next() >> 11) * 0x1p-53, (int)(next() % 2000) - 1000);
        smk_simd_vf64 y = smk_simd_log_f64(load64(x));
        for (int l = 0; l < W64; l++) {
            double want = log(x[l]);
            CHECK(fabs(y[l] - want) <= 2 * (nextafter(fabs(want), INFINITY) - fabs(want)) || y[l] == want,
                  "log_f64(%a) = %a, libm %a", x[l], y[l], want);
        }
    }
}

/* exp's float64 table (an entry per low-bit pattern of each lane, whatever
 * else the lane holds): h_j = 2^(j/N) rounded to nearest, c_j = ln(2^(j/N) /
 * h_j), against long double (64-bit significand: exact enough for h_j's
 * rounding and c_j's first bits, which is all c_j contributes: c_j is
 * within 2^-61 of it, and an error there moves e^x by 2^-61 relative). */
static void test_exp_table(void) {
    const int bits = SMK_SIMD_EXP_TABLE_BITS_F64, N = 1 << bits;
    CHECK(bits == 0 || bits == 4, "exp table bits %d", bits);
    for (int trial = 0; trial < 200; trial++) {
        int64_t m[W64];
        for (int l = 0; l < W64; l++) m[l] = (int64_t)(next() >> 20) - (1ll << 43);
        smk_simd_vi64 mv;
        memcpy(&mv, m, sizeof mv);
        smk_simd_vi64 h = smk_simd_exp_mantissa_f64(mv);
        smk_simd_vf64 c = smk_simd_exp_correction_f64(mv);
        for (int l = 0; l < W64; l++) {
            int j = (int)(m[l] & (N - 1));
            long double exact = exp2l((long double)j / N);
            double hd = (double)exact, hj;
            int64_t hb = h[l] + (1023ll << 52);
            memcpy(&hj, &hb, sizeof hj);
            CHECK(hj == hd, "exp table head %d: %a != %a", j, hj, hd);
            double cw = (double)((exact - (long double)hd) / (long double)hd);
            /* long double's exp2l is within a few 2^-64: so is cw (c_j ~ 2^-54) */
            CHECK(fabs(c[l] - cw) <= 0x1p-61 && fabs(c[l]) <= 0x1p-53, "exp correction %d: %a != %a", j, c[l], cw);
        }
    }
}


/* Half precision (smk_simd_half.h): the array conversions of this path
 * (F16C / AVX2 / AVX-512 / scalar) against a reference written from the
 * formats' definitions, over every 16-bit pattern, every rounding midpoint
 * with a float32 step either side, float32 subnormals and overflow, and
 * lengths that leave every tail. */
static double half_value(uint16_t h, int bf) {
    int e = bf ? (h >> 7) & 0xff : (h >> 10) & 0x1f, m = bf ? h & 0x7f : h & 0x3ff;
    int emax = bf ? 0xff : 0x1f, mbits = bf ? 7 : 10, bias = bf ? 127 : 15;
    double s = (h & 0x8000) ? -1.0 : 1.0;
    if (e == emax) return m ? NAN : s * INFINITY;
    if (e == 0) return s * ldexp(m, 1 - bias - mbits);
    return s * ldexp((1 << mbits) + m, e - bias - mbits);
}

static uint16_t half_round(double v, int bf) {
    int mbits = bf ? 7 : 10, bias = bf ? 127 : 15, e;
    uint16_t sign = signbit(v) ? 0x8000 : 0;
    double a = fabs(v), big = ldexp(2.0 - ldexp(1, -mbits - 1), bias);
    if (isnan(v)) return (uint16_t)(sign | (bf ? 0x7fc0 : 0x7e00));
    if (a >= big) return (uint16_t)(sign | (bf ? 0x7f80 : 0x7c00));
    if (a < ldexp(1, 1 - bias)) return (uint16_t)(sign | (uint16_t)nearbyint(ldexp(a, bias - 1 + mbits)));
    frexp(a, &e);
    return (uint16_t)(sign | (((e - 1 + bias) << mbits) + (int)nearbyint(ldexp(a, mbits + 1 - e)) - (1 << mbits)));
}

static void test_half_conversions(void) {
    enum { N = 65536 };
    static float f[5 * N], w[N];
    static uint16_t h[N], o[5 * N];
    for (int bf = 0; bf < 2; bf++) {
        int count = 0;
        for (int i = 0; i < N; i++) h[i] = (uint16_t)i;
        for (int len = 0; len < 40; len++) {  /* every tail length */
            memset(w, 0, sizeof w);
            if (bf) smk_bf16_widen(h + 1000, w, len); else smk_f16_widen(h + 1000, w, len);
            for (int i = 0; i < 40; i++) CHECK(i < len ? w[i] == (float)half_value((uint16_t)(1000 + i), bf) : w[i] == 0, "widen len %d", len);
        }
        if (bf) smk_bf16_widen(h, w, N); else smk_f16_widen(h, w, N);
        for (int i = 0; i < N; i++) {
            double want = half_value((uint16_t)i, bf);
            CHECK(isnan(want) ? isnan(w[i]) && !!signbit(w[i]) == !!(i & 0x8000) : w[i] == (float)want && !!signbit(w[i]) == !!signbit(want),
                  "%s widen 0x%04x", bf ? "bf16" : "f16", i);
            f[count++] = w[i];
            if (isnan(want) || isinf(want) || (i & 0x7fff) == 0x7fff) continue;
            double b = half_value((uint16_t)(i + 1), bf);
            if (isnan(b)) continue;
            if (isinf(b)) b = copysign(ldexp(1, bf ? 128 : 16), want);
            float mid = (float)((want + b) / 2);
            if ((double)mid != (want + b) / 2) continue;
            f[count++] = mid;
            f[count++] = nextafterf(mid, INFINITY);
            f[count++] = nextafterf(mid, -INFINITY);
        }
        for (int i = 0; i < 2000 && count < 5 * N; i++) {  /* float32 subnormals, huge values */
            uint32_t u = (uint32_t)next();
            u = i & 1 ? (u & 0x807fffffu) : (u | 0x7f000000u) & 0xff7fffffu;
            memcpy(&f[count++], &u, 4);
        }
        for (int start = 0; start < 3; start++) {
            memset(o, 0, sizeof o);
            if (bf) smk_bf16_narrow(f + start, o, count - start); else smk_f16_narrow(f + start, o, count - start);
            for (int i = 0; i < count - start; i++) {
                uint16_t want = half_round((double)f[start + i], bf);
                int ok = isnan(f[start + i]) ? (o[i] & 0x7fff) > (bf ? 0x7f80 : 0x7c00) && (o[i] & 0x8000) == (want & 0x8000) : o[i] == want;
                CHECK(ok, "%s narrow %a: 0x%04x, want 0x%04x", bf ? "bf16" : "f16", (double)f[start + i], o[i], want);
            }
        }
        for (int len = 0; len < 300; len += 37) {  /* scaled narrowing: one rounding of the float32 product */
            float src[300], prod[300];
            uint16_t a[300], b[300];
            for (int i = 0; i < len; i++) { src[i] = f[(i * 7919) % count]; prod[i] = src[i] * 0.37f; }
            if (bf) { smk_bf16_narrow_scaled(src, a, len, 0.37f); smk_bf16_narrow(prod, b, len); }
            else { smk_f16_narrow_scaled(src, a, len, 0.37f); smk_f16_narrow(prod, b, len); }
            for (int i = 0; i < len; i++) CHECK(a[i] == b[i] || (isnan(prod[i]) && (a[i] & 0x7fff) > 0x7c00), "%s scaled %d", bf ? "bf16" : "f16", i);
        }
        for (int i = 0; i < count; i++) {  /* the scalar functions agree with the array ones */
            uint16_t s = bf ? smk_f32_to_bf16(f[i]) : smk_f32_to_f16(f[i]);
            CHECK(isnan(f[i]) || s == half_round((double)f[i], bf), "%s scalar %a", bf ? "bf16" : "f16", (double)f[i]);
        }
        /* The vector loads and stores the half row kernels use: every
         * pattern widened, every value above rounded, streamed stores, and
         * the partial forms at every count (nothing past count touched). */
        enum { L = SMK_SIMD_LANES32 };
        for (int i = 0; i + L <= N; i += L) {
            smk_simd_vf32 v = bf ? smk_simd_load_bf16(h + i) : smk_simd_load_f16(h + i);
            for (int l = 0; l < L; l++) CHECK(memcmp(&w[i + l], &((float *)&v)[l], 4) == 0, "%s vector load 0x%04x", bf ? "bf16" : "f16", i + l);
        }
        static uint16_t vo[5 * N + 64] __attribute__((aligned(64)));
        for (int i = 0; i + L <= count; i += L) {
            smk_simd_vf32 v;
            memcpy(&v, f + i, sizeof v);
            if (bf) smk_simd_store_bf16(v, vo + i); else smk_simd_store_f16(v, vo + i);
        }
        for (int i = 0; i + L <= count; i++) {
            uint16_t want = half_round((double)f[i], bf);
            int ok = isnan(f[i]) ? (vo[i] & 0x7fff) > (bf ? 0x7f80 : 0x7c00) && (vo[i] & 0x8000) == (want & 0x8000) : vo[i] == want;
            CHECK(ok || i >= count / L * L, "%s vector store %a: 0x%04x, want 0x%04x", bf ? "bf16" : "f16", (double)f[i], vo[i], want);
        }
        for (int i = 0; i + L <= count; i += L) {
            smk_simd_vf32 v;
            memcpy(&v, f + i, sizeof v);
            uint16_t a[L] __attribute__((aligned(64)));
            if (bf) smk_simd_stream_bf16(v, a); else smk_simd_stream_f16(v, a);
            CHECK(memcmp(a, vo + i, sizeof a) == 0, "%s stream %d", bf ? "bf16" : "f16", i);
        }
        smk_simd_stream_fence();
        for (int c = 0; c <= L; c++) {
            uint16_t a[L + 1];
            for (int l = 0; l <= L; l++) a[l] = 0x5555;
            smk_simd_vf32 v = smk_simd_load_first_half(h + 0x3c00, c, -7.0f, bf);
            for (int l = 0; l < L; l++) CHECK(((float *)&v)[l] == (l < c ? w[0x3c00 + l] : -7.0f), "%s load_first %d", bf ? "bf16" : "f16", c);
            memcpy(&v, f + 100, sizeof v);
            smk_simd_store_first_half(v, a, c, bf);
            for (int l = 0; l <= L; l++) CHECK(a[l] == (l < c ? vo[100 + l] : 0x5555), "%s store_first %d", bf ? "bf16" : "f16", c);
        }
    }
}

int main(void) {
    test_half_conversions();
    test_prefix_and_masks();
    test_exp_table();
    test_fma();
    test_reductions();
    test_partial_moves();
    test_transpose();
    test_rank_scatter();
    test_lanes_kth();
    test_column_slots();
    test_collect();
    test_log();
    const char *path =
#if defined(SMK_SIMD_AVX512)
        "AVX-512";
#elif defined(SMK_SIMD_AVX2)
        "AVX2";
#else
        "portable";
#endif
#if SMK_SIMD_FUSED
    const char *fma = "fused";
#else
    const char *fma = "unfused";
#endif
    printf("simd primitives, %d-bit vectors, %s path, %s multiply-adds: %s\n", W32 * 32, path, fma,
           failures ? "FAILED" : "ok");
    return failures != 0;
}
