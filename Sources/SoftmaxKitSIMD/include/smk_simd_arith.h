/* Arithmetic: fused multiply-add, the matrix product's tiles, NaN-aware
 * lane-wise max and min, horizontal reductions.
 * Part of softmaxkit_simd.h (see there); static inline, nothing exported. */
#ifndef SMK_SIMD_ARITH_H
#define SMK_SIMD_ARITH_H

#include "smk_simd_types.h"

#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpsabi"

/* a * b + c lane by lane: one fused multiply-add instruction where the
 * build has FMA (the Makefile defines SMK_FMA for CPUs with it), else a
 * multiply and an add (fusing without the instruction would be a libm call
 * per lane). Swift's `SIMD.addingProduct` is a lane loop that LLVM's SLP
 * vectorizer must put back together, and with a few of them in one exp it
 * gave up on whole lane groups (partly scalar code); this is always one
 * vector instruction. */
#if defined(SMK_FMA) && (defined(__FMA__) || defined(__ARM_FEATURE_FMA))
#define SMK_SIMD_FMA(a, b, c) __builtin_elementwise_fma(a, b, c)
#define SMK_SIMD_FUSED 1 /* whether SMK_SIMD_FMA rounds once (Swift reads it) */
#else /* and never contracted into one behind FMA=0's back */
#define SMK_SIMD_FMA(a, b, c) ({ _Pragma("clang fp contract(off)") (a) * (b) + (c); })
#define SMK_SIMD_FUSED 0
#endif

SMK_SIMD_INLINE smk_simd_vf32 smk_simd_fma_f32(smk_simd_vf32 a, smk_simd_vf32 b, smk_simd_vf32 c) {
    return SMK_SIMD_FMA(a, b, c);
}

SMK_SIMD_INLINE smk_simd_vf64 smk_simd_fma_f64(smk_simd_vf64 a, smk_simd_vf64 b, smk_simd_vf64 c) {
    return SMK_SIMD_FMA(a, b, c);
}

/* The model's matrix product keeps tiles of 16 floats whatever the kernels'
 * width (see Gemm.swift). */
typedef float smk_simd_f32x16 __attribute__((ext_vector_type(16)));

SMK_SIMD_INLINE smk_simd_f32x16 smk_simd_fma_f32x16(smk_simd_f32x16 a, smk_simd_f32x16 b, smk_simd_f32x16 c) {
    return SMK_SIMD_FMA(a, b, c);
}

/* Lane-wise max and min as `b > a ? b : a` and `b < a ? b : a`: a NaN in b
 * is ignored, a NaN in a kept (x86's maxps/minps with the operands in that
 * order). Swift's `a.replacing(with: b, where: b .> a)` gives the same
 * lanes, but where both operands came straight from loads LLVM turned the
 * select into masked loads of 2-lane pieces (~40 instructions for one max,
 * found in the short-row kernels' disassembly). */
#if defined(SMK_SIMD_AVX512)
#define SMK_SIMD_MAX_PS _mm512_max_ps
#define SMK_SIMD_MIN_PS _mm512_min_ps
#define SMK_SIMD_MAX_PD _mm512_max_pd
#define SMK_SIMD_MIN_PD _mm512_min_pd
typedef __m512 smk_simd_ps;
typedef __m512d smk_simd_pd;
#elif defined(SMK_SIMD_AVX2)
#define SMK_SIMD_MAX_PS _mm256_max_ps
#define SMK_SIMD_MIN_PS _mm256_min_ps
#define SMK_SIMD_MAX_PD _mm256_max_pd
#define SMK_SIMD_MIN_PD _mm256_min_pd
typedef __m256 smk_simd_ps;
typedef __m256d smk_simd_pd;
#endif
#if defined(SMK_SIMD_MAX_PS)
SMK_SIMD_INLINE smk_simd_vf32 smk_simd_max_f32(smk_simd_vf32 a, smk_simd_vf32 b) {
    return (smk_simd_vf32)SMK_SIMD_MAX_PS((smk_simd_ps)b, (smk_simd_ps)a);
}
SMK_SIMD_INLINE smk_simd_vf32 smk_simd_min_f32(smk_simd_vf32 a, smk_simd_vf32 b) {
    return (smk_simd_vf32)SMK_SIMD_MIN_PS((smk_simd_ps)b, (smk_simd_ps)a);
}
SMK_SIMD_INLINE smk_simd_vf64 smk_simd_max_f64(smk_simd_vf64 a, smk_simd_vf64 b) {
    return (smk_simd_vf64)SMK_SIMD_MAX_PD((smk_simd_pd)b, (smk_simd_pd)a);
}
SMK_SIMD_INLINE smk_simd_vf64 smk_simd_min_f64(smk_simd_vf64 a, smk_simd_vf64 b) {
    return (smk_simd_vf64)SMK_SIMD_MIN_PD((smk_simd_pd)b, (smk_simd_pd)a);
}
#else
SMK_SIMD_INLINE smk_simd_vf32 smk_simd_max_f32(smk_simd_vf32 a, smk_simd_vf32 b) {
    return SMK_SIMD_PICK(smk_simd_vf32, smk_simd_vi32, b > a, b, a);
}
SMK_SIMD_INLINE smk_simd_vf32 smk_simd_min_f32(smk_simd_vf32 a, smk_simd_vf32 b) {
    return SMK_SIMD_PICK(smk_simd_vf32, smk_simd_vi32, b < a, b, a);
}
SMK_SIMD_INLINE smk_simd_vf64 smk_simd_max_f64(smk_simd_vf64 a, smk_simd_vf64 b) {
    return SMK_SIMD_PICK(smk_simd_vf64, smk_simd_vi64, b > a, b, a);
}
SMK_SIMD_INLINE smk_simd_vf64 smk_simd_min_f64(smk_simd_vf64 a, smk_simd_vf64 b) {
    return SMK_SIMD_PICK(smk_simd_vf64, smk_simd_vi64, b < a, b, a);
}
#endif

/* Horizontal sum, max and min, halving: the low and high halves combine
 * lane-wise down to two lanes, then `c[0] + c[1]` (max: `c[1] > c[0] ?
 * c[1] : c[0]`; each halving max is `hi > lo ? hi : lo`). Swift's
 * `lowHalf`/`highHalf` were lane loops that LLVM turned, in the short-row
 * kernels, into per-lane extracts, masked moves and scalar adds. */
SMK_SIMD_INLINE smk_simd_f32x8 smk_simd_f32_to8_sum(smk_simd_vf32 v) {
#if SMK_SIMD_LANES32 == 16
    return __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
           __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
#else
    return v;
#endif
}

SMK_SIMD_INLINE float smk_simd_hsum_f32(smk_simd_vf32 v) {
    smk_simd_f32x8 a = smk_simd_f32_to8_sum(v);
    smk_simd_f32x4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
    smk_simd_f32x2 c = __builtin_shufflevector(b, b, 0, 1) + __builtin_shufflevector(b, b, 2, 3);
    return c[0] + c[1];
}

SMK_SIMD_INLINE double smk_simd_hsum_f64(smk_simd_vf64 v) {
#if SMK_SIMD_LANES64 == 8
    smk_simd_f64x4 a = __builtin_shufflevector(v, v, 0, 1, 2, 3) + __builtin_shufflevector(v, v, 4, 5, 6, 7);
#else
    smk_simd_f64x4 a = v;
#endif
    smk_simd_f64x2 b = __builtin_shufflevector(a, a, 0, 1) + __builtin_shufflevector(a, a, 2, 3);
    return b[0] + b[1];
}

/* OP is > (max) or < (min); the first step only for 512-bit vectors. */
#if SMK_SIMD_LANES32 == 16
#define SMK_SIMD_HREDUCE_F32_TO8(v, OP)                                                        \
    smk_simd_f32x8 lo8 = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);               \
    smk_simd_f32x8 hi8 = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);         \
    smk_simd_f32x8 a = SMK_SIMD_PICK(smk_simd_f32x8, smk_simd_i32x8, hi8 OP lo8, hi8, lo8);
#define SMK_SIMD_HREDUCE_F64_TO4(v, OP)                                                        \
    smk_simd_f64x4 lo4 = __builtin_shufflevector(v, v, 0, 1, 2, 3);                           \
    smk_simd_f64x4 hi4 = __builtin_shufflevector(v, v, 4, 5, 6, 7);                           \
    smk_simd_f64x4 a = SMK_SIMD_PICK(smk_simd_f64x4, smk_simd_i64x4, hi4 OP lo4, hi4, lo4);
#else
#define SMK_SIMD_HREDUCE_F32_TO8(v, OP) smk_simd_f32x8 a = v;
#define SMK_SIMD_HREDUCE_F64_TO4(v, OP) smk_simd_f64x4 a = v;
#endif

#define SMK_SIMD_HREDUCE_F32(v, OP)                                                            \
    SMK_SIMD_HREDUCE_F32_TO8(v, OP)                                                            \
    smk_simd_f32x4 lo4 = __builtin_shufflevector(a, a, 0, 1, 2, 3);                           \
    smk_simd_f32x4 hi4 = __builtin_shufflevector(a, a, 4, 5, 6, 7);                           \
    smk_simd_f32x4 b = SMK_SIMD_PICK(smk_simd_f32x4, smk_simd_i32x4, hi4 OP lo4, hi4, lo4);    \
    smk_simd_f32x2 lo2 = __builtin_shufflevector(b, b, 0, 1);                                 \
    smk_simd_f32x2 hi2 = __builtin_shufflevector(b, b, 2, 3);                                 \
    smk_simd_f32x2 c = SMK_SIMD_PICK(smk_simd_f32x2, smk_simd_i32x2, hi2 OP lo2, hi2, lo2);    \
    return c[1] OP c[0] ? c[1] : c[0];

#define SMK_SIMD_HREDUCE_F64(v, OP)                                                            \
    SMK_SIMD_HREDUCE_F64_TO4(v, OP)                                                            \
    smk_simd_f64x2 lo2 = __builtin_shufflevector(a, a, 0, 1);                                 \
    smk_simd_f64x2 hi2 = __builtin_shufflevector(a, a, 2, 3);                                 \
    smk_simd_f64x2 b = SMK_SIMD_PICK(smk_simd_f64x2, smk_simd_i64x2, hi2 OP lo2, hi2, lo2);    \
    return b[1] OP b[0] ? b[1] : b[0];

SMK_SIMD_INLINE float smk_simd_hmax_f32(smk_simd_vf32 v) { SMK_SIMD_HREDUCE_F32(v, >) }
SMK_SIMD_INLINE float smk_simd_hmin_f32(smk_simd_vf32 v) { SMK_SIMD_HREDUCE_F32(v, <) }
SMK_SIMD_INLINE double smk_simd_hmax_f64(smk_simd_vf64 v) { SMK_SIMD_HREDUCE_F64(v, >) }
SMK_SIMD_INLINE double smk_simd_hmin_f64(smk_simd_vf64 v) { SMK_SIMD_HREDUCE_F64(v, <) }

#pragma clang diagnostic pop

#endif
