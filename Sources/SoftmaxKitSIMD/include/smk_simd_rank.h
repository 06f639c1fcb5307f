/* Selection's order: lanes above a threshold, the ranks of a short row and
 * its first k, the k-th largest lane.
 * Part of softmaxkit_simd.h (see there); static inline, nothing exported. */
#ifndef SMK_SIMD_RANK_H
#define SMK_SIMD_RANK_H

#include "smk_simd_types.h"
#include "smk_simd_memory.h"

#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpsabi"

/* Bit l set when lane l of v is greater than t or NaN (selection ranks NaN
 * above every number). */
SMK_SIMD_INLINE uint32_t smk_simd_above_bits_f32(smk_simd_vf32 v, float t) {
    return smk_simd_bits_f32((smk_simd_vi32)((v > t) | (v != v)));
}

SMK_SIMD_INLINE uint32_t smk_simd_above_bits_f64(smk_simd_vf64 v, double t) {
    return smk_simd_bits_f64((smk_simd_vi64)((v > t) | (v != v)));
}

/* Selection's order on a short row: the k first of the n numbers at x in
 * descending order, ties by lower index. Element j's rank is
 *   #{i : x[i] > x[j]} + #{i < j : x[i] == x[j]},
 * counted in integer lanes by one broadcast compare per element and vector;
 * the ranks of a row without NaN are a permutation of 0 ..< n. Slot q < k of
 * vr/ir then gets values[j] and j for the j of rank q, the lowest set bit of
 * `rank == q` (branch-free, stores in slot order; a scatter instruction was
 * slower).
 * `vectors` = ceil(n / lanes) (1 ... 4; a constant where the caller is
 * specialised, so the vector loops unroll); 0 <= k <= n; x and values hold
 * n elements; `positions` (or NULL) maps j to the index written (ir[q] =
 * positions[j]). Returns 1, having written nothing, when x holds a NaN (the
 * caller's general kernel orders NaN first); else 0.
 * smk_simd_rank_kth_f32/f64: the same ranks, and only the element of rank
 * k - 1 into *kth (1 <= k <= n; returns 1 for a NaN as above).
 * With AVX-512 CD the ties inside a vector are counted once, by vpconflict
 * and a popcount (VPOPCNTDQ's one instruction where the CPU has it, else
 * AVX-512 BW's nibble table: Skylake-X and Cascade Lake, the x86-64-v4
 * baseline, lack VPOPCNTDQ), and each broadcast needs one compare: against
 * a vector after element i's own, `>=` (every lane there comes after i);
 * against its own or an earlier one, `>`. (The Swift ranks were float lanes
 * converted back to Int with range checks and branches per element: 2x
 * slower.) */
#if defined(SMK_SIMD_AVX512) && defined(__AVX512CD__) && (defined(__AVX512VPOPCNTDQ__) || defined(__AVX512BW__))
#define SMK_SIMD_AVX512_RANKS 1
#endif
#if defined(SMK_SIMD_AVX512_RANKS) && defined(__AVX512VPOPCNTDQ__)
#define SMK_SIMD_POPCNT32(v) _mm512_popcnt_epi32(v)
#define SMK_SIMD_POPCNT64(v) _mm512_popcnt_epi64(v)
#elif defined(SMK_SIMD_AVX512_RANKS)
/* Bits set per byte from two nibble lookups, then summed per lane. */
SMK_SIMD_INLINE __m512i smk_simd_popcnt_bytes(__m512i v) {
    const __m512i table = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4));
    const __m512i low = _mm512_set1_epi8(0x0f);
    __m512i lo = _mm512_shuffle_epi8(table, _mm512_and_si512(v, low));
    __m512i hi = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(v, 4), low));
    return _mm512_add_epi8(lo, hi);
}
SMK_SIMD_INLINE __m512i smk_simd_popcnt32(__m512i v) {
    __m512i pairs = _mm512_maddubs_epi16(smk_simd_popcnt_bytes(v), _mm512_set1_epi8(1));
    return _mm512_madd_epi16(pairs, _mm512_set1_epi16(1));
}
SMK_SIMD_INLINE __m512i smk_simd_popcnt64(__m512i v) {
    return _mm512_sad_epu8(smk_simd_popcnt_bytes(v), _mm512_setzero_si512());
}
#define SMK_SIMD_POPCNT32(v) smk_simd_popcnt32(v)
#define SMK_SIMD_POPCNT64(v) smk_simd_popcnt64(v)
#endif
#if defined(SMK_SIMD_AVX512_RANKS)
#define SMK_SIMD_RANKS(W, VT, IT, LOADZ, ADDZ, SET1, CMP, CONFLICT, POPCNT, MOVMASK, ADD, SETI, MASKT) \
    VT v[4];                                                                                   \
    IT rank[4];                                                                                \
    MASKT nan = 0;                                                                             \
    for (int c = 0; c < 4 && c < vectors; c++) {                                               \
        MASKT valid = (MASKT)(n - W * c >= W ? (MASKT)-1 : (MASKT)((1u << (n - W * c)) - 1u)); \
        /* + 0 turns -0 into +0, so equal numbers have equal bits for vpconflict */            \
        v[c] = ADDZ(LOADZ(valid, x + W * c));                                                  \
        nan |= CMP##_mask_cmp(valid, v[c], v[c], _CMP_UNORD_Q);                                \
        /* lanes past n rank 64: never selected below */                                       \
        rank[c] = MOVMASK(SETI(64), valid, POPCNT(CONFLICT(v[c])));                            \
    }                                                                                          \
    if (nan) return 1;                                                                         \
    const IT one = SETI(1);                                                                    \
    for (int ci = 0; ci < 4 && ci < vectors; ci++) {                                           \
        int64_t end = n < W * (ci + 1) ? n : W * (ci + 1);                                     \
        for (int64_t i = W * ci; i < end; i++) {                                               \
            VT b = SET1(x[i]); /* (float compares: -0 == +0, no + 0 needed here) */           \
            for (int c = 0; c < 4 && c < vectors; c++) {                                       \
                MASKT m = c > ci ? CMP##_cmp(b, v[c], _CMP_GE_OQ) : CMP##_cmp(b, v[c], _CMP_GT_OQ); \
                rank[c] = ADD(rank[c], m, rank[c], one);                                       \
            }                                                                                  \
        }                                                                                      \
    }

/* Slots from the ranks. One vector: slot q takes the lane where rank == q
 * (a compare and a bit scan each). Several: the lanes of rank < k,
 * compressed in index order with their ranks (a register compress, then a
 * plain store), then k stores to their slots, independent of each other
 * (faster for float64; one float32 vector stays with the first form). */
#define SMK_SIMD_SCATTER_RANKS(W, IT, ET, SETI, CMPLT, COMPRESS, IOTA, MASKT, CMPEQ, ADD)      \
    if (vectors == 1) {                                                                        \
        IT qv = SETI(0);                                                                       \
        const IT one = SETI(1);                                                                \
        for (int64_t q = 0; q < k; q++) {                                                      \
            int64_t j = __builtin_ctzll((uint64_t)CMPEQ(rank[0], qv) | (1ull << 63));          \
            vr[q] = values[j];                                                                 \
            ir[q] = positions ? positions[j] : j;                                              \
            qv = ADD(qv, (MASKT)-1, qv, one);                                                  \
        }                                                                                      \
        return 0;                                                                              \
    }                                                                                          \
    ET jl[5 * W], ql[5 * W];                                                                    \
    int64_t m = 0;                                                                             \
    const IT kv = SETI(k);                                                                     \
    for (int c = 0; c < 4 && c < vectors; c++) {                                               \
        MASKT sel = CMPLT(rank[c], kv);                                                        \
        _mm512_storeu_si512((void *)(jl + m), COMPRESS(sel, IOTA(W * c)));                     \
        _mm512_storeu_si512((void *)(ql + m), COMPRESS(sel, rank[c]));                         \
        m += __builtin_popcount((unsigned)sel);                                                \
    }                                                                                          \
    for (int64_t t = 0; t < k; t++) {                                                          \
        int64_t j = jl[t], q = ql[t];                                                          \
        vr[q] = values[j];                                                                     \
        ir[q] = positions ? positions[j] : j;                                                  \
    }                                                                                          \
    return 0;

#define smk_simd_f32_mask_cmp(m, a, b, p) _mm512_mask_cmp_ps_mask(m, a, b, p)
#define smk_simd_f32_cmp(a, b, p) _mm512_cmp_ps_mask(a, b, p)
#define smk_simd_f64_mask_cmp(m, a, b, p) _mm512_mask_cmp_pd_mask(m, a, b, p)
#define smk_simd_f64_cmp(a, b, p) _mm512_cmp_pd_mask(a, b, p)
#define SMK_SIMD_ADDZ_F32(v) _mm512_add_ps(v, _mm512_setzero_ps())
#define SMK_SIMD_ADDZ_F64(v) _mm512_add_pd(v, _mm512_setzero_pd())
#define SMK_SIMD_CONFLICT_F32(v) _mm512_conflict_epi32(_mm512_castps_si512(v))
#define SMK_SIMD_CONFLICT_F64(v) _mm512_conflict_epi64(_mm512_castpd_si512(v))

#define SMK_SIMD_IOTA32(b) _mm512_add_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi32((int)(b)))
#define SMK_SIMD_IOTA64(b) _mm512_add_epi64(_mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi64(b))
#define SMK_SIMD_RANKS_F32                                                                     \
    SMK_SIMD_RANKS(16, __m512, __m512i, _mm512_maskz_loadu_ps, SMK_SIMD_ADDZ_F32, _mm512_set1_ps, smk_simd_f32, \
                   SMK_SIMD_CONFLICT_F32, SMK_SIMD_POPCNT32, _mm512_mask_mov_epi32, _mm512_mask_add_epi32, \
                   _mm512_set1_epi32, __mmask16)
#define SMK_SIMD_RANKS_F64                                                                     \
    SMK_SIMD_RANKS(8, __m512d, __m512i, _mm512_maskz_loadu_pd, SMK_SIMD_ADDZ_F64, _mm512_set1_pd, smk_simd_f64, \
                   SMK_SIMD_CONFLICT_F64, SMK_SIMD_POPCNT64, _mm512_mask_mov_epi64, _mm512_mask_add_epi64, \
                   _mm512_set1_epi64, __mmask8)

SMK_SIMD_INLINE int smk_simd_rank_scatter_f32(const float *x, const float *values, int64_t n, int64_t vectors,
                                              int64_t k, float *vr, int64_t *ir,
                                              const int32_t *positions) {
    SMK_SIMD_RANKS_F32
    SMK_SIMD_SCATTER_RANKS(16, __m512i, int32_t, _mm512_set1_epi32, _mm512_cmplt_epi32_mask,
                           _mm512_maskz_compress_epi32, SMK_SIMD_IOTA32, __mmask16,
                           _mm512_cmpeq_epi32_mask, _mm512_mask_add_epi32)
}

SMK_SIMD_INLINE int smk_simd_rank_scatter_f64(const double *x, const double *values, int64_t n, int64_t vectors,
                                              int64_t k, double *vr, int64_t *ir,
                                              const int32_t *positions) {
    SMK_SIMD_RANKS_F64
    SMK_SIMD_SCATTER_RANKS(8, __m512i, int64_t, _mm512_set1_epi64, _mm512_cmplt_epi64_mask,
                           _mm512_maskz_compress_epi64, SMK_SIMD_IOTA64, __mmask8,
                           _mm512_cmpeq_epi64_mask, _mm512_mask_add_epi64)
}

SMK_SIMD_INLINE int smk_simd_rank_kth_f32(const float *x, int64_t n, int64_t vectors, int64_t k, float *kth) {
    SMK_SIMD_RANKS_F32
    uint64_t bits = 0;
    for (int c = 0; c < 4 && c < vectors; c++)
        bits |= (uint64_t)_mm512_cmpeq_epi32_mask(rank[c], _mm512_set1_epi32((int)(k - 1))) << (16 * c);
    *kth = x[__builtin_ctzll(bits | (1ull << 63))] + 0;
    return 0;
}

SMK_SIMD_INLINE int smk_simd_rank_kth_f64(const double *x, int64_t n, int64_t vectors, int64_t k, double *kth) {
    SMK_SIMD_RANKS_F64
    uint64_t bits = 0;
    for (int c = 0; c < 4 && c < vectors; c++)
        bits |= (uint64_t)_mm512_cmpeq_epi64_mask(rank[c], _mm512_set1_epi64(k - 1)) << (8 * c);
    *kth = x[__builtin_ctzll(bits | (1ull << 63))] + 0;
    return 0;
}
#else
/* Elsewhere: the same ranks from two compares per broadcast, `>` or (`==`
 * and the lane after i). */
#define SMK_SIMD_RANKS(T, VT, IT, W, LANES)                                                    \
    const IT lane = LANES;                                                                     \
    VT v[4];                                                                                   \
    IT rank[4];                                                                                \
    IT nan = 0;                                                                                \
    for (int c = 0; c < 4 && c < vectors; c++) {                                               \
        v[c] = smk_simd_load_first_##T(x + W * c, n - W * c, 0);                               \
        IT valid = (IT)(lane < (n - W * c));                                                   \
        nan |= (IT)(v[c] != v[c]) & valid;                                                     \
        rank[c] = SMK_SIMD_PICK(IT, IT, valid, (IT)0, (IT)64);                                 \
    }                                                                                          \
    if (smk_simd_bits_##T(nan)) return 1;                                                      \
    for (int64_t i = 0; i < n; i++) {                                                          \
        VT b = x[i];                                                                           \
        for (int c = 0; c < 4 && c < vectors; c++)                                             \
            rank[c] -= (IT)((b > v[c]) | ((b == v[c]) & (lane > (IT)(i - W * c))));            \
    }

/* The lane of rank q. */
#define SMK_SIMD_RANK_LANE(T, IT, W, q)                                                        \
    ({                                                                                         \
        uint64_t bits = 0;                                                                     \
        for (int c = 0; c < 4 && c < vectors; c++)                                             \
            bits |= (uint64_t)smk_simd_bits_##T((IT)(rank[c] == (IT)(q))) << (W * c);          \
        (int64_t) __builtin_ctzll(bits | (1ull << 63));                                        \
    })

#define SMK_SIMD_RANK_SCATTER(T, VT, IT, W, LANES)                                             \
    SMK_SIMD_RANKS(T, VT, IT, W, LANES)                                                        \
    for (int64_t q = 0; q < k; q++) {                                                          \
        int64_t j = SMK_SIMD_RANK_LANE(T, IT, W, q);                                           \
        vr[q] = values[j];                                                                     \
        ir[q] = positions ? positions[j] : j;                                                  \
    }                                                                                          \
    return 0;

SMK_SIMD_INLINE int smk_simd_rank_scatter_f32(const float *x, const float *values, int64_t n, int64_t vectors,
                                              int64_t k, float *vr, int64_t *ir,
                                              const int32_t *positions) {
    SMK_SIMD_RANK_SCATTER(f32, smk_simd_vf32, smk_simd_vi32, SMK_SIMD_LANES32, smk_simd_iota32())
}

SMK_SIMD_INLINE int smk_simd_rank_scatter_f64(const double *x, const double *values, int64_t n, int64_t vectors,
                                              int64_t k, double *vr, int64_t *ir,
                                              const int32_t *positions) {
    SMK_SIMD_RANK_SCATTER(f64, smk_simd_vf64, smk_simd_vi64, SMK_SIMD_LANES64, smk_simd_iota64())
}

SMK_SIMD_INLINE int smk_simd_rank_kth_f32(const float *x, int64_t n, int64_t vectors, int64_t k, float *kth) {
    SMK_SIMD_RANKS(f32, smk_simd_vf32, smk_simd_vi32, SMK_SIMD_LANES32, smk_simd_iota32())
    *kth = x[SMK_SIMD_RANK_LANE(f32, smk_simd_vi32, SMK_SIMD_LANES32, k - 1)] + 0;
    return 0;
}

SMK_SIMD_INLINE int smk_simd_rank_kth_f64(const double *x, int64_t n, int64_t vectors, int64_t k, double *kth) {
    SMK_SIMD_RANKS(f64, smk_simd_vf64, smk_simd_vi64, SMK_SIMD_LANES64, smk_simd_iota64())
    *kth = x[SMK_SIMD_RANK_LANE(f64, smk_simd_vi64, SMK_SIMD_LANES64, k - 1)] + 0;
    return 0;
}
#endif

/* The k-th largest (1 <= k <= lanes * vectors) of the lanes of a (and of b
 * when vectors == 2), none of them NaN: the lane floor of the fused softmax +
 * top-k. With AVX-512 CD the lanes are ranked in registers, each broadcast
 * by a permute (storing them and ranking from memory made every row wait on
 * forwarding from the vector stores). */
#define SMK_SIMD_LANES_KTH(W, VT, IT, ADDZ, PERMUTE, CMP, CONFLICT, POPCNT, ADD, SETI, CMPEQ, EXTRACT, MASKT) \
    VT v0 = ADDZ((VT)a), v1 = ADDZ((VT)b);                                                       \
    IT r0 = POPCNT(CONFLICT(v0)), r1 = POPCNT(CONFLICT(v1));                                   \
    const IT one = SETI(1);                                                                    \
    for (int i = 0; i < W; i++) {                                                              \
        VT c = PERMUTE(SETI(i), v0);                                                           \
        r0 = ADD(r0, CMP(c, v0, _CMP_GT_OQ), r0, one);                                         \
        if (vectors > 1) r1 = ADD(r1, CMP(c, v1, _CMP_GE_OQ), r1, one);                        \
    }                                                                                          \
    if (vectors > 1)                                                                           \
        for (int i = 0; i < W; i++) {                                                          \
            VT c = PERMUTE(SETI(i), v1);                                                       \
            r0 = ADD(r0, CMP(c, v0, _CMP_GT_OQ), r0, one);                                     \
            r1 = ADD(r1, CMP(c, v1, _CMP_GT_OQ), r1, one);                                     \
        }                                                                                      \
    uint64_t bits = (uint64_t)CMPEQ(r0, SETI(k - 1));                                          \
    if (vectors > 1) bits |= (uint64_t)CMPEQ(r1, SETI(k - 1)) << W;                            \
    int64_t j = __builtin_ctzll(bits | (1ull << 63));                                          \
    return EXTRACT(PERMUTE(SETI(j % W), j < W ? v0 : v1));

#if defined(SMK_SIMD_AVX512_RANKS)
#define SMK_SIMD_LANES_KTH_F32                                                                 \
    SMK_SIMD_LANES_KTH(16, __m512, __m512i, SMK_SIMD_ADDZ_F32, _mm512_permutexvar_ps, _mm512_cmp_ps_mask, \
                       SMK_SIMD_CONFLICT_F32, SMK_SIMD_POPCNT32, _mm512_mask_add_epi32, _mm512_set1_epi32, \
                       _mm512_cmpeq_epi32_mask, _mm512_cvtss_f32, __mmask16)
#define SMK_SIMD_LANES_KTH_F64                                                                 \
    SMK_SIMD_LANES_KTH(8, __m512d, __m512i, SMK_SIMD_ADDZ_F64, _mm512_permutexvar_pd, _mm512_cmp_pd_mask, \
                       SMK_SIMD_CONFLICT_F64, SMK_SIMD_POPCNT64, _mm512_mask_add_epi64, _mm512_set1_epi64, \
                       _mm512_cmpeq_epi64_mask, _mm512_cvtsd_f64, __mmask8)
#else /* through smk_simd_rank_kth on the lanes stored */
#define SMK_SIMD_LANES_KTH_STORED(T, ET, W)                                                    \
    ET p[2 * W], kth = -__builtin_inff();                                                      \
    __builtin_memcpy(p, &a, sizeof a);                                                         \
    __builtin_memcpy(p + W, &b, sizeof b);                                                     \
    smk_simd_rank_kth_##T(p, vectors * W, vectors, k, &kth);                                   \
    return kth;
#define SMK_SIMD_LANES_KTH_F32 SMK_SIMD_LANES_KTH_STORED(f32, float, SMK_SIMD_LANES32)
#define SMK_SIMD_LANES_KTH_F64 SMK_SIMD_LANES_KTH_STORED(f64, double, SMK_SIMD_LANES64)
#endif

SMK_SIMD_INLINE float smk_simd_lanes_kth_f32(smk_simd_vf32 a, smk_simd_vf32 b, int64_t vectors, int64_t k) {
    SMK_SIMD_LANES_KTH_F32
}

SMK_SIMD_INLINE double smk_simd_lanes_kth_f64(smk_simd_vf64 a, smk_simd_vf64 b, int64_t vectors, int64_t k) {
    SMK_SIMD_LANES_KTH_F64
}

#pragma clang diagnostic pop

#endif
