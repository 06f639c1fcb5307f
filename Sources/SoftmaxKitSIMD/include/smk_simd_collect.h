/* Candidate collection for the fused softmax + top-k.
 * Part of softmaxkit_simd.h (see there); static inline, nothing exported. */
#ifndef SMK_SIMD_COLLECT_H
#define SMK_SIMD_COLLECT_H

#include "smk_simd_memory.h"

#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpsabi"

/* Candidate collection for the fused softmax + top-k: the indices base + l
 * of the lanes l < lanes of v that are >= floor or NaN, packed in lane order
 * to pos; returns how many (the caller reads their values back from the row
 * afterwards: packing the values too cost a second compress and store per
 * vector, for the ~k + 2 candidates of a row). Writes a whole vector
 * (room for `lanes per vector` indices is needed at pos),
 * branch-free: with AVX-512 a compress in registers, then plain stores (a
 * compress straight to memory is microcoded on Zen 4); with AVX2 a lane
 * permutation whose indices pdep/pext pack from the mask bits (BMI2; not on
 * Zen 1 and 2, where those two are microcoded and slow). With `sparse`,
 * a vector where no lane passes returns at once: a branch, mispredicted at
 * each vector holding a candidate (about k + 2 of them a row), which pays
 * on long rows (the permutes and stores on every vector slowed softmax_topk's
 * exp loop) and costs on short ones; callers choose by the vectors in a block and
 * whether it is a row's first (see sparseCollectVectors). */
#if defined(SMK_SIMD_AVX512) && defined(__AVX512VL__)
SMK_SIMD_INLINE int64_t smk_simd_collect_f32(smk_simd_vf32 v, float floor, int64_t lanes, int64_t base,
                                             int32_t *pos, int sparse) {
    __m512 x = (__m512)v;
    __mmask16 m = _mm512_mask_cmp_ps_mask(smk_simd_first16(lanes), x, _mm512_set1_ps(floor), _CMP_NLT_UQ);
    if (sparse && m == 0) return 0;
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    _mm512_storeu_si512(pos, _mm512_maskz_compress_epi32(m, _mm512_add_epi32(lane, _mm512_set1_epi32((int32_t)base))));
    return __builtin_popcount(m);
}

SMK_SIMD_INLINE int64_t smk_simd_collect_f64(smk_simd_vf64 v, double floor, int64_t lanes, int64_t base,
                                             int32_t *pos, int sparse) {
    __m512d x = (__m512d)v;
    __mmask8 m = _mm512_mask_cmp_pd_mask(smk_simd_first8(lanes), x, _mm512_set1_pd(floor), _CMP_NLT_UQ);
    if (sparse && m == 0) return 0;
    const __m256i lane = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
    _mm256_storeu_si256((__m256i *)(void *)pos,
                        _mm256_maskz_compress_epi32(m, _mm256_add_epi32(lane, _mm256_set1_epi32((int32_t)base))));
    return __builtin_popcount(m);
}
#elif defined(SMK_SIMD_AVX2) && defined(__BMI2__) && !defined(__znver1__) && !defined(__znver2__)
/* The source lanes of the kept ones, in order, one byte each: bit l of m
 * spreads to byte l (or the byte pair 2l, 2l + 1 for double lanes seen as
 * float pairs), and pext keeps those bytes of 0x0706...00. */
SMK_SIMD_INLINE __m256i smk_simd_compress_indices(uint64_t byte_mask) {
    uint64_t packed = _pext_u64(0x0706050403020100ull, byte_mask);
    return _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)packed));
}

SMK_SIMD_INLINE int64_t smk_simd_collect_f32(smk_simd_vf32 v, float floor, int64_t lanes, int64_t base,
                                             int32_t *pos, int sparse) {
    uint32_t m = smk_simd_bits_f32(~(smk_simd_vi32)(v < floor) & smk_simd_prefix32(lanes));
    if (sparse && m == 0) return 0;
    __m256i idx = smk_simd_compress_indices(_pdep_u64(m, 0x0101010101010101ull) * 0xFF);
    _mm256_storeu_si256((__m256i *)(void *)pos,
                        _mm256_permutevar8x32_epi32((__m256i)(smk_simd_iota32() + (int32_t)base), idx));
    return __builtin_popcount(m);
}

SMK_SIMD_INLINE int64_t smk_simd_collect_f64(smk_simd_vf64 v, double floor, int64_t lanes, int64_t base,
                                             int32_t *pos, int sparse) {
    uint32_t m = smk_simd_bits_f64(~(smk_simd_vi64)(v < floor) & smk_simd_prefix64(lanes));
    if (sparse && m == 0) return 0;
    __m256i idx = smk_simd_compress_indices(_pdep_u64(m, 0x01010101ull) * 0xFF);
    smk_simd_i32x4 lane = {0, 1, 2, 3};
    __m128 p = _mm_permutevar_ps((__m128)(lane + (int32_t)base), _mm256_castsi256_si128(idx));
    _mm_storeu_si128((__m128i *)(void *)pos, (__m128i)p);
    return __builtin_popcount(m);
}
#else
/* Each lane is written, and the count moves past the kept ones. */
#define SMK_SIMD_COLLECT_LANES(W)                                                              \
    int64_t c = 0;                                                                             \
    for (int l = 0; l < W && l < lanes; l++) {                                                 \
        pos[c] = (int32_t)(base + l);                                                          \
        c += !(v[l] < floor);                                                                  \
    }                                                                                          \
    return c;

SMK_SIMD_INLINE int64_t smk_simd_collect_f32(smk_simd_vf32 v, float floor, int64_t lanes, int64_t base,
                                             int32_t *pos, int sparse) {
    (void)sparse;
    SMK_SIMD_COLLECT_LANES(SMK_SIMD_LANES32)
}

SMK_SIMD_INLINE int64_t smk_simd_collect_f64(smk_simd_vf64 v, double floor, int64_t lanes, int64_t base,
                                             int32_t *pos, int sparse) {
    (void)sparse;
    SMK_SIMD_COLLECT_LANES(SMK_SIMD_LANES64)
}
#endif

#pragma clang diagnostic pop

#endif
