/* Memory: prefetch, streaming stores, lane-prefix selects, partial loads
 * and stores, mask-byte blends, block transposes.
 * Part of softmaxkit_simd.h (see there); static inline, nothing exported. */
#ifndef SMK_SIMD_MEMORY_H
#define SMK_SIMD_MEMORY_H

#include "smk_simd_types.h"

#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpsabi"

/* A hint that the cache line at p will be read soon (never faults). */
SMK_SIMD_INLINE void smk_simd_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/* Non-temporal (streaming) stores of one vector to p, which must be aligned
 * to the vector's size: the line goes to memory without being read first
 * (a normal store of a line not in cache reads it, a third memory transfer
 * per element on outputs that do not fit in cache). Weakly ordered: finish
 * a run of them with smk_simd_stream_fence before other threads read. */
SMK_SIMD_INLINE void smk_simd_stream_f32(smk_simd_vf32 v, float *p) {
    __builtin_nontemporal_store(v, (smk_simd_vf32 *)(void *)p);
}

SMK_SIMD_INLINE void smk_simd_stream_f64(smk_simd_vf64 v, double *p) {
    __builtin_nontemporal_store(v, (smk_simd_vf64 *)(void *)p);
}

SMK_SIMD_INLINE void smk_simd_stream_fence(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_sfence();
#else
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

/* Lane-prefix selects: lanes l < count keep v and the others become fill
 * (keep_first), or the reverse (drop_first); count is clamped to the lanes.
 * Swift's `v.replacing(with: fill, where: lane .< splat(count))` was
 * scalarised by LLVM inside the short-row kernels (one masked scalar move
 * and one scalar add per lane of a sum: 30 instructions a row, found in the
 * disassembly); here the compare is a vector compare into a mask register
 * and the select one blend. */
SMK_SIMD_INLINE smk_simd_vi32 smk_simd_prefix32(int64_t count) {
    int32_t c = count < 0 ? 0 : count > SMK_SIMD_LANES32 ? SMK_SIMD_LANES32 : (int32_t)count;
    return smk_simd_iota32() < c; /* -1 in lanes below count, else 0 */
}

SMK_SIMD_INLINE smk_simd_vi64 smk_simd_prefix64(int64_t count) {
    return (smk_simd_vi64)(smk_simd_iota64() < count); /* compares give long lanes: int64_t is long long on macOS */
}

SMK_SIMD_INLINE smk_simd_vf32 smk_simd_select_f32(smk_simd_vi32 keep, smk_simd_vf32 v, float fill) {
    smk_simd_vf32 f = fill;
    return SMK_SIMD_PICK(smk_simd_vf32, smk_simd_vi32, keep, v, f);
}

SMK_SIMD_INLINE smk_simd_vf64 smk_simd_select_f64(smk_simd_vi64 keep, smk_simd_vf64 v, double fill) {
    smk_simd_vf64 f = fill;
    return SMK_SIMD_PICK(smk_simd_vf64, smk_simd_vi64, keep, v, f);
}

SMK_SIMD_INLINE smk_simd_vf32 smk_simd_keep_first_f32(smk_simd_vf32 v, int64_t count, float fill) {
    return smk_simd_select_f32(smk_simd_prefix32(count), v, fill);
}

SMK_SIMD_INLINE smk_simd_vf32 smk_simd_drop_first_f32(smk_simd_vf32 v, int64_t count, float fill) {
    return smk_simd_select_f32(~smk_simd_prefix32(count), v, fill);
}

SMK_SIMD_INLINE smk_simd_vf64 smk_simd_keep_first_f64(smk_simd_vf64 v, int64_t count, double fill) {
    return smk_simd_select_f64(smk_simd_prefix64(count), v, fill);
}

SMK_SIMD_INLINE smk_simd_vf64 smk_simd_drop_first_f64(smk_simd_vf64 v, int64_t count, double fill) {
    return smk_simd_select_f64(~smk_simd_prefix64(count), v, fill);
}

/* out[j] = bit j of bits, as a byte 0 or 1, for j < count (<= 64): the lane
 * patterns of short-row partition plans, written without a memset (a
 * memset and one per segment were a sixth of a 1x10 partitioned call). */
SMK_SIMD_INLINE void smk_simd_bits_to_bytes(uint64_t bits, uint8_t *out, int64_t count) {
#if defined(SMK_SIMD_AVX512) && defined(__AVX512BW__)
    __mmask64 keep = (__mmask64)(count >= 64 ? ~0ull : (1ull << count) - 1u);
    _mm512_mask_storeu_epi8(out, keep, _mm512_maskz_set1_epi8((__mmask64)bits, 1));
#else
    for (int64_t j = 0; j < count && j < 64; j++) out[j] = (uint8_t)((bits >> j) & 1u);
#endif
}

/* Loads of the first count lanes (the others = fill) and stores of the first
 * count lanes (0 <= count <= lanes). AVX-512 and AVX2 masked moves never
 * touch, nor fault on, the lanes left out; elsewhere a memcpy through a
 * local. (The memcpy was a library call per partial row or column block.) */
#if defined(SMK_SIMD_AVX512)
/* The mask register of the first count lanes (count clamped to 0...lanes). */
SMK_SIMD_INLINE __mmask16 smk_simd_first16(int64_t count) {
    return (__mmask16)(count >= 16 ? 0xFFFFu : count <= 0 ? 0u : (1u << count) - 1u);
}
SMK_SIMD_INLINE __mmask8 smk_simd_first8(int64_t count) {
    return (__mmask8)(count >= 8 ? 0xFFu : count <= 0 ? 0u : (1u << count) - 1u);
}
#endif

SMK_SIMD_INLINE smk_simd_vf32 smk_simd_load_first_f32(const float *p, int64_t count, float fill) {
    if (count <= 0) return (smk_simd_vf32)fill;
#if defined(SMK_SIMD_AVX512)
    return (smk_simd_vf32)_mm512_mask_loadu_ps(_mm512_set1_ps(fill), smk_simd_first16(count), p);
#elif defined(SMK_SIMD_AVX2)
    smk_simd_vi32 keep = smk_simd_prefix32(count);
    smk_simd_vf32 v = (smk_simd_vf32)_mm256_maskload_ps(p, (__m256i)keep);
    return smk_simd_select_f32(keep, v, fill);
#else
    smk_simd_vf32 v = fill;
    __builtin_memcpy(&v, p, (size_t)(count > SMK_SIMD_LANES32 ? SMK_SIMD_LANES32 : count) * sizeof(float));
    return v;
#endif
}

SMK_SIMD_INLINE smk_simd_vf64 smk_simd_load_first_f64(const double *p, int64_t count, double fill) {
    if (count <= 0) return (smk_simd_vf64)fill;
#if defined(SMK_SIMD_AVX512)
    return (smk_simd_vf64)_mm512_mask_loadu_pd(_mm512_set1_pd(fill), smk_simd_first8(count), p);
#elif defined(SMK_SIMD_AVX2)
    smk_simd_vi64 keep = smk_simd_prefix64(count);
    smk_simd_vf64 v = (smk_simd_vf64)_mm256_maskload_pd(p, (__m256i)keep);
    return smk_simd_select_f64(keep, v, fill);
#else
    smk_simd_vf64 v = fill;
    __builtin_memcpy(&v, p, (size_t)(count > SMK_SIMD_LANES64 ? SMK_SIMD_LANES64 : count) * sizeof(double));
    return v;
#endif
}

SMK_SIMD_INLINE void smk_simd_store_first_f32(smk_simd_vf32 v, float *p, int64_t count) {
    if (count <= 0) return;
#if defined(SMK_SIMD_AVX512)
    _mm512_mask_storeu_ps(p, smk_simd_first16(count), (__m512)v);
#elif defined(SMK_SIMD_AVX2)
    _mm256_maskstore_ps(p, (__m256i)smk_simd_prefix32(count), (__m256)v);
#else
    __builtin_memcpy(p, &v, (size_t)(count > SMK_SIMD_LANES32 ? SMK_SIMD_LANES32 : count) * sizeof(float));
#endif
}

SMK_SIMD_INLINE void smk_simd_store_first_f64(smk_simd_vf64 v, double *p, int64_t count) {
    if (count <= 0) return;
#if defined(SMK_SIMD_AVX512)
    _mm512_mask_storeu_pd(p, smk_simd_first8(count), (__m512d)v);
#elif defined(SMK_SIMD_AVX2)
    _mm256_maskstore_pd(p, (__m256i)smk_simd_prefix64(count), (__m256d)v);
#else
    __builtin_memcpy(p, &v, (size_t)(count > SMK_SIMD_LANES64 ? SMK_SIMD_LANES64 : count) * sizeof(double));
#endif
}

/* a where the mask byte is nonzero, else b (a blend: nothing of the other
 * operand leaks). Swift's version was a lane loop plus a select that LLVM
 * could scalarise like the others above. */
SMK_SIMD_INLINE smk_simd_vf32 smk_simd_select_bytes_f32(smk_simd_vu8_32 m, smk_simd_vf32 a, smk_simd_vf32 b) {
    smk_simd_vi32 keep = (smk_simd_vi32)(__builtin_convertvector(m, smk_simd_vi32) != 0);
    return SMK_SIMD_PICK(smk_simd_vf32, smk_simd_vi32, keep, a, b);
}

SMK_SIMD_INLINE smk_simd_vf64 smk_simd_select_bytes_f64(smk_simd_vu8_64 m, smk_simd_vf64 a, smk_simd_vf64 b) {
    smk_simd_vi64 keep = (smk_simd_vi64)(__builtin_convertvector(m, smk_simd_vi64) != 0);
    return SMK_SIMD_PICK(smk_simd_vf64, smk_simd_vi64, keep, a, b);
}

/* Transposes a block: rows r < R of src (row r at src + r * ss, lanes c < C
 * valid) into rows c < C of dst (row c at dst + c * ds, lanes r < R written).
 * R, C <= the lanes of a vector (SMK_SIMD_LANES32 or SMK_SIMD_LANES64).
 * Nothing outside those lanes is read or written. Masked loads, an
 * unpack/shuffle network (AVX-512: 64 shuffles for 16 x 16 floats, 24 for
 * 8 x 8 doubles; AVX2: 24 for 8 x 8 floats, 8 for 4 x 4 doubles) and masked
 * stores; the fibre gathers of the variants over a middle axis moved one
 * scalar a time and were a third of such a call. */
#if defined(SMK_SIMD_AVX512)
SMK_SIMD_INLINE void smk_simd_transpose_f32(const float *src, int64_t ss, int64_t R, int64_t C,
                                            float *dst, int64_t ds) {
    __mmask16 cm = smk_simd_first16(C), rm = smk_simd_first16(R);
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = i < R ? _mm512_maskz_loadu_ps(cm, src + i * ss) : _mm512_setzero_ps();
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    for (int i = 0; i < 16; i += 8) {
        for (int k = 0; k < 4; k++) {
            t[i + k] = _mm512_shuffle_f32x4(r[i + k], r[i + k + 4], 0x88);
            t[i + k + 4] = _mm512_shuffle_f32x4(r[i + k], r[i + k + 4], 0xdd);
        }
    }
    for (int k = 0; k < 8; k++) {
        r[k] = _mm512_shuffle_f32x4(t[k], t[k + 8], 0x88);
        r[k + 8] = _mm512_shuffle_f32x4(t[k], t[k + 8], 0xdd);
    }
    for (int c = 0; c < 16; c++) if (c < C) _mm512_mask_storeu_ps(dst + c * ds, rm, r[c]);
}

SMK_SIMD_INLINE void smk_simd_transpose_f64(const double *src, int64_t ss, int64_t R, int64_t C,
                                            double *dst, int64_t ds) {
    __mmask8 cm = smk_simd_first8(C), rm = smk_simd_first8(R);
    __m512d r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) r[i] = i < R ? _mm512_maskz_loadu_pd(cm, src + i * ss) : _mm512_setzero_pd();
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_pd(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_pd(r[i], r[i + 1]);
    }
    u[0] = _mm512_shuffle_f64x2(t[0], t[2], 0x88); u[4] = _mm512_shuffle_f64x2(t[0], t[2], 0xdd);
    u[1] = _mm512_shuffle_f64x2(t[1], t[3], 0x88); u[5] = _mm512_shuffle_f64x2(t[1], t[3], 0xdd);
    u[2] = _mm512_shuffle_f64x2(t[4], t[6], 0x88); u[6] = _mm512_shuffle_f64x2(t[4], t[6], 0xdd);
    u[3] = _mm512_shuffle_f64x2(t[5], t[7], 0x88); u[7] = _mm512_shuffle_f64x2(t[5], t[7], 0xdd);
    r[0] = _mm512_shuffle_f64x2(u[0], u[2], 0x88); r[4] = _mm512_shuffle_f64x2(u[0], u[2], 0xdd);
    r[1] = _mm512_shuffle_f64x2(u[1], u[3], 0x88); r[5] = _mm512_shuffle_f64x2(u[1], u[3], 0xdd);
    r[2] = _mm512_shuffle_f64x2(u[4], u[6], 0x88); r[6] = _mm512_shuffle_f64x2(u[4], u[6], 0xdd);
    r[3] = _mm512_shuffle_f64x2(u[5], u[7], 0x88); r[7] = _mm512_shuffle_f64x2(u[5], u[7], 0xdd);
    for (int c = 0; c < 8; c++) if (c < C) _mm512_mask_storeu_pd(dst + c * ds, rm, r[c]);
}
#elif defined(SMK_SIMD_AVX2)
SMK_SIMD_INLINE void smk_simd_transpose_f32(const float *src, int64_t ss, int64_t R, int64_t C,
                                            float *dst, int64_t ds) {
    __m256i cm = (__m256i)smk_simd_prefix32(C), rm = (__m256i)smk_simd_prefix32(R);
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++) r[i] = i < R ? _mm256_maskload_ps(src + i * ss, cm) : _mm256_setzero_ps();
    for (int i = 0; i < 8; i += 2) { /* per 128-bit half: rows i, i+1 interleaved */
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) { /* per half: columns of four rows */
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int k = 0; k < 4; k++) { /* the halves of rows 0-3 and 4-7 joined */
        t[k] = _mm256_permute2f128_ps(r[k], r[k + 4], 0x20);
        t[k + 4] = _mm256_permute2f128_ps(r[k], r[k + 4], 0x31);
    }
    for (int c = 0; c < 8; c++) if (c < C) _mm256_maskstore_ps(dst + c * ds, rm, t[c]);
}

SMK_SIMD_INLINE void smk_simd_transpose_f64(const double *src, int64_t ss, int64_t R, int64_t C,
                                            double *dst, int64_t ds) {
    __m256i cm = (__m256i)smk_simd_prefix64(C), rm = (__m256i)smk_simd_prefix64(R);
    __m256d r[4], t[4];
    for (int i = 0; i < 4; i++) r[i] = i < R ? _mm256_maskload_pd(src + i * ss, cm) : _mm256_setzero_pd();
    t[0] = _mm256_unpacklo_pd(r[0], r[1]);
    t[1] = _mm256_unpackhi_pd(r[0], r[1]);
    t[2] = _mm256_unpacklo_pd(r[2], r[3]);
    t[3] = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t[0], t[2], 0x20);
    r[1] = _mm256_permute2f128_pd(t[1], t[3], 0x20);
    r[2] = _mm256_permute2f128_pd(t[0], t[2], 0x31);
    r[3] = _mm256_permute2f128_pd(t[1], t[3], 0x31);
    for (int c = 0; c < 4; c++) if (c < C) _mm256_maskstore_pd(dst + c * ds, rm, r[c]);
}
#else
SMK_SIMD_INLINE void smk_simd_transpose_f32(const float *src, int64_t ss, int64_t R, int64_t C,
                                            float *dst, int64_t ds) {
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) dst[c * ds + r] = src[r * ss + c];
}

SMK_SIMD_INLINE void smk_simd_transpose_f64(const double *src, int64_t ss, int64_t R, int64_t C,
                                            double *dst, int64_t ds) {
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) dst[c * ds + r] = src[r * ss + c];
}
#endif

#pragma clang diagnostic pop

#endif
