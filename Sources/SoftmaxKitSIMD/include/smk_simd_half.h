/* Half precision storage: IEEE binary16 and bfloat16 to float32 and back,
 * one value or whole arrays. Narrowing rounds to nearest, ties to even; a
 * NaN stays a (quiet) NaN with its sign, a finite value beyond the format's
 * range becomes an infinity, and values below its smallest normal become
 * its subnormals (or a signed zero) as rounding says.
 *
 * The array forms use F16C's vcvtph2ps / vcvtps2ph where the build's target
 * CPU has it (__F16C__: the avx2 and avx512 variants, native builds), and
 * integer shifts and adds for bfloat16 (AVX-512 BF16's vcvtneps2bf16 is not
 * used: it flushes float32 subnormal inputs to zero). Elsewhere (the sse2 variant) the scalar functions below
 * run, written without branches so that the compiler may vectorize them.
 * Part of softmaxkit_simd.h (see there); static inline, nothing exported. */
#ifndef SMK_SIMD_HALF_H
#define SMK_SIMD_HALF_H

#include <stdint.h>
#if defined(__F16C__) || defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "smk_simd_types.h"
#include "smk_simd_memory.h"

static inline uint32_t smk_half_float_bits(float f) { uint32_t u; __builtin_memcpy(&u, &f, 4); return u; }
static inline float smk_half_bits_float(uint32_t u) { float f; __builtin_memcpy(&f, &u, 4); return f; }

/* binary16 bits to float32 (exact). */
static inline float smk_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t em = h & 0x7fffu;
    /* Normal and subnormal: (em << 13) read as a float, times 2^112, is the
     * value (the multiply renormalizes subnormals exactly). Inf/NaN: exponent
     * all ones. */
    float v = smk_half_bits_float(em << 13) * 0x1p112f;
    uint32_t bits = smk_half_float_bits(v);
    bits = em >= 0x7c00u ? (0x7f800000u | (em & 0x3ffu) << 13) : bits;
    return smk_half_bits_float(bits | sign);
}

/* float32 to binary16 bits, round to nearest even; NaN stays a quiet NaN
 * keeping the payload's top bits (as vcvtps2ph does). */
static inline uint16_t smk_f32_to_f16(float f) {
    uint32_t u = smk_half_float_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    uint16_t out;
    if (a > 0x7f800000u) {                      /* NaN */
        out = (uint16_t)(0x7e00u | ((a >> 13) & 0x3ffu));
    } else if (a >= 0x477ff000u) {              /* rounds to >= 65520: inf */
        out = 0x7c00u;
    } else if (a < 0x38800000u) {               /* below 2^-14: subnormal or 0 */
        /* Adding 0.5 (2^-1) puts the half subnormal's bits at the bottom of
         * the float's mantissa, rounded to nearest even by the FPU. */
        float s = smk_half_bits_float(a) + 0.5f;
        out = (uint16_t)(smk_half_float_bits(s) - 0x3f000000u);
    } else {
        uint32_t odd = (a >> 13) & 1u;
        a += 0xc8000fffu + odd;                 /* rebias exponent (-112 << 23) and round */
        out = (uint16_t)(a >> 13);
    }
    return (uint16_t)(out | sign);
}

/* bfloat16 bits to float32 (exact). */
static inline float smk_bf16_to_f32(uint16_t h) { return smk_half_bits_float((uint32_t)h << 16); }

/* float32 to bfloat16 bits, round to nearest even; NaN stays a quiet NaN
 * (as vcvtneps2bf16). */
static inline uint16_t smk_f32_to_bf16(float f) {
    uint32_t u = smk_half_float_bits(f);
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t q = (u >> 16) | 0x40u;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? q : r);
}

/* count binary16 values at src widened into dst. */
static inline void smk_f16_widen(const uint16_t *src, float *dst, long count) {
    long i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= count; i += 16) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(h));
    }
#elif defined(__F16C__)
    for (; i + 8 <= count; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
#endif
    for (; i < count; i++) dst[i] = smk_f16_to_f32(src[i]);
}

/* count float32 values at src rounded into binary16 at dst. */
static inline void smk_f16_narrow(const float *src, uint16_t *dst, long count) {
    long i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= count; i += 16) {
        __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_storeu_si256((__m256i *)(void *)(dst + i), h);
    }
#elif defined(__F16C__)
    for (; i + 8 <= count; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(void *)(dst + i), h);
    }
#endif
    for (; i < count; i++) dst[i] = smk_f32_to_f16(src[i]);
}

/* count bfloat16 values at src widened into dst. */
static inline void smk_bf16_widen(const uint16_t *src, float *dst, long count) {
    long i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= count; i += 16) {
        __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(src + i)));
        _mm512_storeu_si512((void *)(dst + i), _mm512_slli_epi32(w, 16));
    }
#elif defined(__AVX2__)
    for (; i + 8 <= count; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(src + i)));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i), _mm256_slli_epi32(w, 16));
    }
#endif
    for (; i < count; i++) dst[i] = smk_bf16_to_f32(src[i]);
}

/* count float32 values at src rounded into bfloat16 at dst. */
static inline void smk_bf16_narrow(const float *src, uint16_t *dst, long count) {
    long i = 0;
#if defined(__AVX512F__)
    const __m512i one = _mm512_set1_epi32(1), round = _mm512_set1_epi32(0x7fff);
    const __m512i absmask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    const __m512i quiet = _mm512_set1_epi32(0x40);
    for (; i + 16 <= count; i += 16) {
        __m512i u = _mm512_loadu_si512((const void *)(src + i));
        __m512i hi = _mm512_srli_epi32(u, 16);
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, round), _mm512_and_si512(hi, one)), 16);
        __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, absmask), inf);
        r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(hi, quiet));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i), _mm512_cvtepi32_epi16(r));
    }
#elif defined(__AVX2__)
    const __m256i one = _mm256_set1_epi32(1), round = _mm256_set1_epi32(0x7fff);
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    const __m256i quiet = _mm256_set1_epi32(0x40);
    for (; i + 8 <= count; i += 8) {
        __m256i u = _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        __m256i hi = _mm256_srli_epi32(u, 16);
        __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, round), _mm256_and_si256(hi, one)), 16);
        /* |u| > inf as signed compare: both sides are below 2^31. */
        __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, absmask), inf);
        r = _mm256_blendv_epi8(r, _mm256_or_si256(hi, quiet), nan);
        /* r < 2^16 in every lane: an unsigned pack keeps it; packus works
         * within 128-bit halves, so fix the lane order. */
        __m256i p = _mm256_packus_epi32(r, r);
        p = _mm256_permute4x64_epi64(p, 0x08);
        _mm_storeu_si128((__m128i *)(void *)(dst + i), _mm256_castsi256_si128(p));
    }
#endif
    for (; i < count; i++) dst[i] = smk_f32_to_bf16(src[i]);
}

/* count float32 values at src, each times scale, rounded (once, after the
 * float32 product) into binary16 / bfloat16 at dst: the last pass of a
 * softmax whose exponentials are in src. */
static inline void smk_f16_narrow_scaled(const float *src, uint16_t *dst, long count, float scale) {
    long i = 0;
#if defined(__AVX512F__)
    const __m512 s = _mm512_set1_ps(scale);
    for (; i + 16 <= count; i += 16) {
        __m256i h = _mm512_cvtps_ph(_mm512_mul_ps(_mm512_loadu_ps(src + i), s), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_storeu_si256((__m256i *)(void *)(dst + i), h);
    }
#elif defined(__F16C__)
    const __m256 s = _mm256_set1_ps(scale);
    for (; i + 8 <= count; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(src + i), s), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(void *)(dst + i), h);
    }
#endif
    for (; i < count; i++) dst[i] = smk_f32_to_f16(src[i] * scale);
}

static inline void smk_bf16_narrow_scaled(float *src, uint16_t *dst, long count, float scale) {
    /* Scaled in place (src is scratch), then rounded by the vector path above. */
    for (long i = 0; i < count; i++) src[i] *= scale;
    smk_bf16_narrow(src, dst, count);
}

/* One vector of the kernels' width (SMK_SIMD_LANES32 lanes) loaded from, or
 * rounded into, half-precision bits: what the half row kernels read and
 * write instead of a float32 copy. The AVX-512 path converts 16 lanes with
 * one vcvtph2ps / vcvtps2ph (float16) or a zero-extend and shift (bfloat16);
 * the AVX2 path 8 lanes with F16C where the build has it; elsewhere (the sse2
 * build, other architectures) each lane goes through the scalar functions
 * above. Stores round once, to nearest even, as the array forms do. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpsabi"

#define SMK_SIMD_HALF_VECTOR_BYTES (SMK_SIMD_LANES32 * 2)

SMK_SIMD_INLINE smk_simd_vf32 smk_simd_load_f16(const uint16_t *p) {
#if defined(SMK_SIMD_AVX512)
    return (smk_simd_vf32)_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
#elif defined(SMK_SIMD_AVX2) && defined(__F16C__)
    return (smk_simd_vf32)_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
#else
    smk_simd_vf32 v;
    for (int l = 0; l < SMK_SIMD_LANES32; l++) v[l] = smk_f16_to_f32(p[l]);
    return v;
#endif
}

SMK_SIMD_INLINE void smk_simd_store_f16(smk_simd_vf32 v, uint16_t *p) {
#if defined(SMK_SIMD_AVX512)
    _mm256_storeu_si256((__m256i *)(void *)p, _mm512_cvtps_ph((__m512)v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#elif defined(SMK_SIMD_AVX2) && defined(__F16C__)
    _mm_storeu_si128((__m128i *)(void *)p, _mm256_cvtps_ph((__m256)v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#else
    for (int l = 0; l < SMK_SIMD_LANES32; l++) p[l] = smk_f32_to_f16(v[l]);
#endif
}

/* A non-temporal store of the rounded vector to p, aligned to
 * SMK_SIMD_HALF_VECTOR_BYTES (a plain store where there is no vector path). */
SMK_SIMD_INLINE void smk_simd_stream_f16(smk_simd_vf32 v, uint16_t *p) {
#if defined(SMK_SIMD_AVX512)
    _mm256_stream_si256((__m256i *)(void *)p, _mm512_cvtps_ph((__m512)v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#elif defined(SMK_SIMD_AVX2) && defined(__F16C__)
    _mm_stream_si128((__m128i *)(void *)p, _mm256_cvtps_ph((__m256)v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#else
    smk_simd_store_f16(v, p);
#endif
}

SMK_SIMD_INLINE smk_simd_vf32 smk_simd_load_bf16(const uint16_t *p) {
#if defined(SMK_SIMD_AVX512)
    __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)p));
    return (smk_simd_vf32)_mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
#elif defined(SMK_SIMD_AVX2)
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    return (smk_simd_vf32)_mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
#else
    smk_simd_vf32 v;
    for (int l = 0; l < SMK_SIMD_LANES32; l++) v[l] = smk_bf16_to_f32(p[l]);
    return v;
#endif
}

#if defined(SMK_SIMD_AVX512)
SMK_SIMD_INLINE __m256i smk_simd_round_bf16(smk_simd_vf32 v) {
    __m512i u = _mm512_castps_si512((__m512)v);
    __m512i hi = _mm512_srli_epi32(u, 16);
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)),
                                                   _mm512_and_si512(hi, _mm512_set1_epi32(1))), 16);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(hi, _mm512_set1_epi32(0x40)));
    return _mm512_cvtepi32_epi16(r);
}
#elif defined(SMK_SIMD_AVX2)
SMK_SIMD_INLINE __m128i smk_simd_round_bf16(smk_simd_vf32 v) {
    __m256i u = _mm256_castps_si256((__m256)v);
    __m256i hi = _mm256_srli_epi32(u, 16);
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)),
                                                   _mm256_and_si256(hi, _mm256_set1_epi32(1))), 16);
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
    r = _mm256_blendv_epi8(r, _mm256_or_si256(hi, _mm256_set1_epi32(0x40)), nan);
    __m256i q = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
    return _mm256_castsi256_si128(q);
}
#endif

SMK_SIMD_INLINE void smk_simd_store_bf16(smk_simd_vf32 v, uint16_t *p) {
#if defined(SMK_SIMD_AVX512)
    _mm256_storeu_si256((__m256i *)(void *)p, smk_simd_round_bf16(v));
#elif defined(SMK_SIMD_AVX2)
    _mm_storeu_si128((__m128i *)(void *)p, smk_simd_round_bf16(v));
#else
    for (int l = 0; l < SMK_SIMD_LANES32; l++) p[l] = smk_f32_to_bf16(v[l]);
#endif
}

SMK_SIMD_INLINE void smk_simd_stream_bf16(smk_simd_vf32 v, uint16_t *p) {
#if defined(SMK_SIMD_AVX512)
    _mm256_stream_si256((__m256i *)(void *)p, smk_simd_round_bf16(v));
#elif defined(SMK_SIMD_AVX2)
    _mm_stream_si128((__m128i *)(void *)p, smk_simd_round_bf16(v));
#else
    smk_simd_store_bf16(v, p);
#endif
}

/* The first count (0 <= count <= lanes) halves at p as a vector, the other
 * lanes fill; nothing past them is read. bf: bfloat16, else binary16. */
SMK_SIMD_INLINE smk_simd_vf32 smk_simd_load_first_half(const uint16_t *p, int64_t count, float fill, int bf) {
    uint16_t b[SMK_SIMD_LANES32] = {0};
    for (int64_t l = 0; l < count; l++) b[l] = p[l];
    smk_simd_vf32 v = bf ? smk_simd_load_bf16(b) : smk_simd_load_f16(b);
    return smk_simd_keep_first_f32(v, count, fill);
}

/* Rounds the first count (0 <= count <= lanes) lanes of v into p. */
SMK_SIMD_INLINE void smk_simd_store_first_half(smk_simd_vf32 v, uint16_t *p, int64_t count, int bf) {
    uint16_t b[SMK_SIMD_LANES32];
    if (bf) smk_simd_store_bf16(v, b); else smk_simd_store_f16(v, b);
    for (int64_t l = 0; l < count; l++) p[l] = b[l];
}

#pragma clang diagnostic pop

#endif
