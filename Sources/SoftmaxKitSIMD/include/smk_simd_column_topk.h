/* Column top-k: per-lane sorted slots and the marks of the rows they hold.
 * Part of softmaxkit_simd.h (see there); static inline, nothing exported. */
#ifndef SMK_SIMD_COLUMN_TOPK_H
#define SMK_SIMD_COLUMN_TOPK_H

#include "smk_simd_types.h"

#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpsabi"

/* Column top-k (Selection/Selection+Columns.swift): per lane, k sorted slots, the vectors
 * vals[s] and idx[s] (row indices held as floats; -1: an empty slot, below
 * everything), at any alignment. smk_simd_slots_offer offers row v (row
 * indices iv) on the lanes where v >= floor or is NaN: such a lane takes the
 * first slot it ranks above (a NaN above any number, else larger; ties keep
 * the earlier row, rows coming in order), and every slot below shifts down
 * one, the last falling off. The slots being in rank order, v ranks above
 * every slot after the first it ranks above: each slot's new content
 * follows from its own compare and the one before it, with no chain through
 * the slots (a running "placed" mask made one, and was slower). Returns at once
 * when no lane is offered (the common case: a compare and a branch a row). */
#define SMK_SIMD_RANK_ABOVE(a, b) (((a) > (b)) | (((a) != (a)) & ((b) == (b))))
#define SMK_SIMD_SLOTS_OFFER(T, IT)                                                            \
    SMK_SIMD_INLINE void smk_simd_slots_offer_##T(void *vals_, void *idx_, int64_t k, smk_simd_v##T v, \
                                                  smk_simd_v##T iv, smk_simd_v##T floor) {     \
        IT active = ~(IT)(v < floor);                                                          \
        if (!smk_simd_bits_##T(active)) return;                                                \
        char *vals = (char *)vals_, *idx = (char *)idx_;                                       \
        IT above = 0; /* the slot before's compare */                                          \
        smk_simd_v##T pv = v, pi = iv; /* the slot before's old content */                     \
        for (int64_t s = 0; s < k; s++) {                                                      \
            smk_simd_v##T sv, si;                                                              \
            __builtin_memcpy(&sv, vals + s * sizeof sv, sizeof sv);                            \
            __builtin_memcpy(&si, idx + s * sizeof si, sizeof si);                             \
            IT a = active & (SMK_SIMD_RANK_ABOVE(v, sv) | (IT)(si < 0));                       \
            smk_simd_v##T nv = SMK_SIMD_PICK(smk_simd_v##T, IT, above, pv, SMK_SIMD_PICK(smk_simd_v##T, IT, a, v, sv)); \
            smk_simd_v##T ni = SMK_SIMD_PICK(smk_simd_v##T, IT, above, pi, SMK_SIMD_PICK(smk_simd_v##T, IT, a, iv, si)); \
            __builtin_memcpy(vals + s * sizeof nv, &nv, sizeof nv);                            \
            __builtin_memcpy(idx + s * sizeof ni, &ni, sizeof ni);                             \
            above = a; pv = sv; pi = si;                                                       \
        }                                                                                      \
    }
SMK_SIMD_SLOTS_OFFER(f32, smk_simd_vi32)
SMK_SIMD_SLOTS_OFFER(f64, smk_simd_vi64)

/* The lanes smk_simd_slots_offer would offer v to: bit l set when lane l of
 * v is >= floor or NaN. */
SMK_SIMD_INLINE uint32_t smk_simd_offer_bits_f32(smk_simd_vf32 v, smk_simd_vf32 floor) {
    return smk_simd_bits_f32(~(smk_simd_vi32)(v < floor));
}
SMK_SIMD_INLINE uint32_t smk_simd_offer_bits_f64(smk_simd_vf64 v, smk_simd_vf64 floor) {
    return smk_simd_bits_f64(~(smk_simd_vi64)(v < floor));
}

/* The indices j < n with marks[j] != 0, in order, into rows (room for
 * n + 16); returns how many. With AVX-512, 16 marks a step by a compress
 * (a branch per mark mispredicts about once per nonzero one). */
SMK_SIMD_INLINE int64_t smk_simd_list_nonzero_u16(const uint16_t *marks, int64_t n, int32_t *rows) {
    int64_t c = 0, j = 0;
#if defined(SMK_SIMD_AVX512)
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    for (; j + 16 <= n; j += 16) {
        __m512i m = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(marks + j)));
        __mmask16 nz = _mm512_test_epi32_mask(m, m);
        _mm512_storeu_si512((void *)(rows + c), _mm512_maskz_compress_epi32(nz, _mm512_add_epi32(iota, _mm512_set1_epi32((int)j))));
        c += __builtin_popcount(nz);
    }
#endif
    for (; j < n; j++) {
        rows[c] = (int32_t)j;
        c += marks[j] != 0;
    }
    return c;
}

#pragma clang diagnostic pop

#endif
