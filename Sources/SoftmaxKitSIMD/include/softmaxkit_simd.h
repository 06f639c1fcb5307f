/* Vector primitives Swift cannot spell, for the SoftmaxKit core only (not
 * part of the C ABI: everything here is static inline, nothing is exported).
 *
 * Swift has no way to turn a lane mask into an integer: its SIMD masks are
 * vectors of 0/-1 lanes, and the OR-halving trees that recover the bits
 * compile to ~25 shuffle, extract and OR instructions where the compare has
 * already produced the bits in a mask register (one kmovw on AVX-512, one
 * movmskps on AVX2). Clang's boolean vectors reach that instruction. It also
 * exposes the software prefetch hint and non-temporal stores.
 *
 * The vector types are clang extended vectors, which Swift imports as SIMD
 * vectors of the kernels' width: 512 bits (SIMD16<Float>, SIMD8<Double>), or
 * 256 bits (SIMD8<Float>, SIMD4<Double>) where the build defines
 * SMK_SIMD256, for CPUs without AVX-512. Those have 16 vector registers of
 * 256 bits: a 512-bit vector is a pair of them, and the exp kernels'
 * constants plus two unrolled pairs spilled to the stack in every iteration
 * (Zen 3, session 8). The Makefile passes SMK_SIMD256 to Swift and to this
 * header alike; the Swift conformances pick the same width, and a mismatch
 * is a type error at build time, never a silent one. Compiled by the Swift
 * compiler's own clang with the Swift target's CPU, so these inline into
 * the kernels. */
#ifndef SOFTMAXKIT_SIMD_H
#define SOFTMAXKIT_SIMD_H

#include <stddef.h>
#include <stdint.h>

/* Every function here is always inlined, so no vector ever crosses a call:
 * clang's note that a 512-bit vector argument changes the ABI without
 * AVX-512 (the baseline debug build) does not apply. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpsabi"

#if defined(SMK_SIMD256)
#define SMK_SIMD_LANES32 8
#define SMK_SIMD_LANES64 4
#else
#define SMK_SIMD_LANES32 16
#define SMK_SIMD_LANES64 8
#endif
/* The instruction-set paths below: AVX-512 where the vectors are 512 bits
 * and the CPU has it, AVX2 where they are 256 bits and the CPU has that,
 * plain vector C (any CPU, any width) otherwise. */
#if defined(__AVX512F__) && !defined(SMK_SIMD256)
#define SMK_SIMD_AVX512 1
#elif defined(__AVX2__) && defined(SMK_SIMD256)
#define SMK_SIMD_AVX2 1
#endif
#if defined(SMK_SIMD_AVX512) || defined(SMK_SIMD_AVX2)
#include <immintrin.h>
#endif

/* One vector of each kind: float and double lanes, integer masks of their
 * width (-1 or 0 lanes, as compares give), booleans (for the mask bits) and
 * mask bytes (one uint8_t per lane). */
typedef float smk_simd_vf32 __attribute__((ext_vector_type(SMK_SIMD_LANES32)));
typedef double smk_simd_vf64 __attribute__((ext_vector_type(SMK_SIMD_LANES64)));
typedef int32_t smk_simd_vi32 __attribute__((ext_vector_type(SMK_SIMD_LANES32)));
typedef int64_t smk_simd_vi64 __attribute__((ext_vector_type(SMK_SIMD_LANES64)));
typedef _Bool smk_simd_vb32 __attribute__((ext_vector_type(SMK_SIMD_LANES32)));
typedef _Bool smk_simd_vb64 __attribute__((ext_vector_type(SMK_SIMD_LANES64)));
typedef uint8_t smk_simd_vu8_32 __attribute__((ext_vector_type(SMK_SIMD_LANES32)));
typedef uint8_t smk_simd_vu8_64 __attribute__((ext_vector_type(SMK_SIMD_LANES64)));

/* Fixed-width pieces for the halving reductions and the AVX2 paths. */
typedef float smk_simd_f32x8 __attribute__((ext_vector_type(8)));
typedef float smk_simd_f32x4 __attribute__((ext_vector_type(4)));
typedef float smk_simd_f32x2 __attribute__((ext_vector_type(2)));
typedef double smk_simd_f64x4 __attribute__((ext_vector_type(4)));
typedef double smk_simd_f64x2 __attribute__((ext_vector_type(2)));
typedef int32_t smk_simd_i32x8 __attribute__((ext_vector_type(8)));
typedef int32_t smk_simd_i32x4 __attribute__((ext_vector_type(4)));
typedef int32_t smk_simd_i32x2 __attribute__((ext_vector_type(2)));
typedef int64_t smk_simd_i64x4 __attribute__((ext_vector_type(4)));
typedef int64_t smk_simd_i64x2 __attribute__((ext_vector_type(2)));

#define SMK_SIMD_INLINE static inline __attribute__((always_inline))

/* Lane l holds l (clang folds these loads to constants). */
static const int32_t smk_simd_iota32_lanes[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const int64_t smk_simd_iota64_lanes[8] = {0, 1, 2, 3, 4, 5, 6, 7};

SMK_SIMD_INLINE smk_simd_vi32 smk_simd_iota32(void) {
    smk_simd_vi32 v;
    __builtin_memcpy(&v, smk_simd_iota32_lanes, sizeof v);
    return v;
}

SMK_SIMD_INLINE smk_simd_vi64 smk_simd_iota64(void) {
    smk_simd_vi64 v;
    __builtin_memcpy(&v, smk_simd_iota64_lanes, sizeof v);
    return v;
}

/* b where m, else a (m: -1 or 0 lanes, from a compare). */
#define SMK_SIMD_PICK(VT, IT, m, b, a) ((VT)(((IT)(b) & (m)) | ((IT)(a) & ~(m))))

/* The lane bits of a compare result (-1 or 0 lanes). */
SMK_SIMD_INLINE uint32_t smk_simd_bits_f32(smk_simd_vi32 m) {
    smk_simd_vb32 b = __builtin_convertvector(m, smk_simd_vb32);
    uint32_t bits = 0;
    __builtin_memcpy(&bits, &b, sizeof b);
    return bits & ((1u << SMK_SIMD_LANES32) - 1u);
}

SMK_SIMD_INLINE uint32_t smk_simd_bits_f64(smk_simd_vi64 m) {
    smk_simd_vb64 b = __builtin_convertvector(m, smk_simd_vb64);
    uint32_t bits = 0;
    __builtin_memcpy(&bits, &b, sizeof b);
    return bits & ((1u << SMK_SIMD_LANES64) - 1u);
}

/* Bit l set when lane l of v is greater than t or NaN (selection ranks NaN
 * above every number). */
SMK_SIMD_INLINE uint32_t smk_simd_above_bits_f32(smk_simd_vf32 v, float t) {
    return smk_simd_bits_f32((v > t) | (v != v));
}

SMK_SIMD_INLINE uint32_t smk_simd_above_bits_f64(smk_simd_vf64 v, double t) {
    return smk_simd_bits_f64((v > t) | (v != v));
}

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
    return smk_simd_iota64() < count;
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

/* a * b + c lane by lane: one fused multiply-add instruction where the
 * build has FMA (the Makefile defines SMK_FMA for CPUs with it), else a
 * multiply and an add (fusing without the instruction would be a libm call
 * per lane). Swift's `SIMD.addingProduct` is a lane loop that LLVM's SLP
 * vectorizer must put back together, and with a few of them in one exp it
 * gave up on whole lane groups (partly scalar code); this is always one
 * vector instruction. */
#if defined(SMK_FMA) && defined(__FMA__)
#define SMK_SIMD_FMA(a, b, c) __builtin_elementwise_fma(a, b, c)
#else /* and never contracted into one behind FMA=0's back */
#define SMK_SIMD_FMA(a, b, c) ({ _Pragma("clang fp contract(off)") (a) * (b) + (c); })
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
    smk_simd_vi32 keep = __builtin_convertvector(m, smk_simd_vi32) != 0;
    return SMK_SIMD_PICK(smk_simd_vf32, smk_simd_vi32, keep, a, b);
}

SMK_SIMD_INLINE smk_simd_vf64 smk_simd_select_bytes_f64(smk_simd_vu8_64 m, smk_simd_vf64 a, smk_simd_vf64 b) {
    smk_simd_vi64 keep = __builtin_convertvector(m, smk_simd_vi64) != 0;
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

/* Selection's order on a short row: the k first of the n numbers at x in
 * descending order, ties by lower index. Element j's rank is
 *   #{i : x[i] > x[j]} + #{i < j : x[i] == x[j]},
 * counted in integer lanes by one broadcast compare per element and vector;
 * the ranks of a row without NaN are a permutation of 0 ..< n. Slot q < k of
 * vr/ir then gets values[j] and j for the j of rank q, the lowest set bit of
 * `rank == q` (branch-free, stores in slot order; a scatter instruction was
 * 1.5x slower on Zen 4).
 * `vectors` = ceil(n / lanes) (1 ... 4; a constant where the caller is
 * specialised, so the vector loops unroll); 0 <= k <= n; x and values hold
 * n elements; `positions` (or NULL) maps j to the index written (ir[q] =
 * positions[j]). Returns 1, having written nothing, when x holds a NaN (the
 * caller's general kernel orders NaN first); else 0.
 * smk_simd_rank_kth_f32/f64: the same ranks, and only the element of rank
 * k - 1 into *kth (1 <= k <= n; returns 1 for a NaN as above).
 * With AVX-512 CD and VPOPCNTDQ the ties inside a vector are counted once, by
 * vpconflict and a popcount, and each broadcast needs one compare: against
 * a vector after element i's own, `>=` (every lane there comes after i);
 * against its own or an earlier one, `>`. (The Swift ranks were float lanes
 * converted back to Int with range checks and branches per element: 2x
 * slower.) */
#if defined(SMK_SIMD_AVX512) && defined(__AVX512CD__) && defined(__AVX512VPOPCNTDQ__)
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
 * (float64 64x10 0.76x; one float32 vector was 1.08x slower that way). */
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
                   SMK_SIMD_CONFLICT_F32, _mm512_popcnt_epi32, _mm512_mask_mov_epi32, _mm512_mask_add_epi32, \
                   _mm512_set1_epi32, __mmask16)
#define SMK_SIMD_RANKS_F64                                                                     \
    SMK_SIMD_RANKS(8, __m512d, __m512i, _mm512_maskz_loadu_pd, SMK_SIMD_ADDZ_F64, _mm512_set1_pd, smk_simd_f64, \
                   SMK_SIMD_CONFLICT_F64, _mm512_popcnt_epi64, _mm512_mask_mov_epi64, _mm512_mask_add_epi64, \
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
        IT valid = lane < (n - W * c);                                                         \
        nan |= (v[c] != v[c]) & valid;                                                         \
        rank[c] = SMK_SIMD_PICK(IT, IT, valid, (IT)0, (IT)64);                                 \
    }                                                                                          \
    if (smk_simd_bits_##T(nan)) return 1;                                                      \
    for (int64_t i = 0; i < n; i++) {                                                          \
        VT b = x[i];                                                                           \
        for (int c = 0; c < 4 && c < vectors; c++)                                             \
            rank[c] -= (b > v[c]) | ((b == v[c]) & (lane > (IT)(i - W * c)));                  \
    }

/* The lane of rank q. */
#define SMK_SIMD_RANK_LANE(T, IT, W, q)                                                        \
    ({                                                                                         \
        uint64_t bits = 0;                                                                     \
        for (int c = 0; c < 4 && c < vectors; c++)                                             \
            bits |= (uint64_t)smk_simd_bits_##T(rank[c] == (IT)(q)) << (W * c);                \
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

#if defined(SMK_SIMD_AVX512) && defined(__AVX512CD__) && defined(__AVX512VPOPCNTDQ__)
#define SMK_SIMD_LANES_KTH_F32                                                                 \
    SMK_SIMD_LANES_KTH(16, __m512, __m512i, SMK_SIMD_ADDZ_F32, _mm512_permutexvar_ps, _mm512_cmp_ps_mask, \
                       SMK_SIMD_CONFLICT_F32, _mm512_popcnt_epi32, _mm512_mask_add_epi32, _mm512_set1_epi32, \
                       _mm512_cmpeq_epi32_mask, _mm512_cvtss_f32, __mmask16)
#define SMK_SIMD_LANES_KTH_F64                                                                 \
    SMK_SIMD_LANES_KTH(8, __m512d, __m512i, SMK_SIMD_ADDZ_F64, _mm512_permutexvar_pd, _mm512_cmp_pd_mask, \
                       SMK_SIMD_CONFLICT_F64, _mm512_popcnt_epi64, _mm512_mask_add_epi64, _mm512_set1_epi64, \
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

/* The float64 exp's table where looking a lane up is one instruction
 * (AVX-512's two-source permute, off the FMA pipes): for j = 0 ... 15, the
 * low four bits of each lane of `m`, 2^(j/16) rounded to a double h_j, given
 * as its mantissa field (exp adds it to 2^n's bits), and the correction
 * c_j = ln(2^(j/16) / h_j) (about 1e-16), which exp adds to its reduced
 * argument: 2^n h_j e^(r + c_j) is 2^n 2^(j/16) e^r. (Without the correction
 * the table's rounding put a third of the results 1 ulp off, up to 1.9 ulp
 * from e^x; with it, 0.55 ulp at most, measured.) Exp then reduces by ln2/16
 * instead of ln2 and needs a polynomial of degree 7 instead of 13
 * (Double+VectorMath.swift). Elsewhere the table has one entry: 0 bits,
 * h_0 = 1 (mantissa field 0), c_0 = 0. */
#if defined(SMK_SIMD_AVX512)
#define SMK_SIMD_EXP_TABLE_BITS_F64 4
SMK_SIMD_INLINE smk_simd_vi64 smk_simd_exp_mantissa_f64(smk_simd_vi64 m) {
    static const int64_t h[16] = {
        0x0, 0xb5586cf9890f, 0x172b83c7d517b, 0x2387a6e756238, 0x306fe0a31b715, 0x3dea64c123422,
        0x4bfdad5362a27, 0x5ab07dd485429, 0x6a09e667f3bcd, 0x7a11473eb0187, 0x8ace5422aa0db,
        0x9c49182a3f090, 0xae89f995ad3ad, 0xc199bdd85529c, 0xd5818dcfba487, 0xea4afa2a490da};
    return (smk_simd_vi64)_mm512_permutex2var_epi64(_mm512_loadu_si512(h), (__m512i)m, _mm512_loadu_si512(h + 8));
}
SMK_SIMD_INLINE smk_simd_vf64 smk_simd_exp_correction_f64(smk_simd_vi64 m) {
    static const double c[16] = {
        0x0.0p+0, 0x1.79aa65d837b6cp-54, -0x1.01b15eaa59348p-55, 0x1.68efde3a8a894p-54,
        0x1.34d754db0abb6p-55, 0x1.59f48a72a4c6dp-55, 0x1.690cebb7aafb0p-56, 0x1.063e1e21c5409p-54,
        -0x1.3b3efbf5e2229p-54, -0x1.b32dcb94da51dp-56, 0x1.db72fc1f0eab4p-55, 0x1.1affc2b91ce27p-56,
        0x1.c1a7792cb3387p-55, 0x1.36eae30af0cb3p-56, 0x1.4a385a63d07a7p-56, -0x1.ff7128fd391f1p-55};
    return (smk_simd_vf64)_mm512_permutex2var_pd(_mm512_loadu_pd(c), (__m512i)m, _mm512_loadu_pd(c + 8));
}
#else
#define SMK_SIMD_EXP_TABLE_BITS_F64 0
SMK_SIMD_INLINE smk_simd_vi64 smk_simd_exp_mantissa_f64(smk_simd_vi64 m) { return m & 0; }
SMK_SIMD_INLINE smk_simd_vf64 smk_simd_exp_correction_f64(smk_simd_vi64 m) { return (smk_simd_vf64)(m & 0); }
#endif

/* Natural log of lanes holding positive normal numbers (other lanes: no
 * meaning; callers take libm's log there). x = 2^e m with m in
 * [sqrt(1/2), sqrt(2)); log m = 2 atanh(f), f = (m - 1) / (m + 1), |f| <=
 * 0.1716, summed as its Taylor series 2f (1 + f^2/3 + f^4/5 + ...) to the
 * f^18 term (the rest is below 2^-54 of the sum), plus e ln 2 with ln 2 split
 * in two so that e * hi is exact. Within 2 ulp of libm's log over [1, 2^64)
 * (tested). The losses take the log of every row's normalizer: libm's log,
 * one call per row, was a third of a cross-entropy over rows of 10. */
SMK_SIMD_INLINE smk_simd_vf64 smk_simd_log_f64(smk_simd_vf64 x) {
    const int64_t sqrt_half_bits = 0x3FE6A09E667F3BCDLL;
    smk_simd_vi64 bits = (smk_simd_vi64)x;
    smk_simd_vi64 e = (bits - sqrt_half_bits) >> 52; /* m's exponent moves to 0 or -1 */
    smk_simd_vf64 m = (smk_simd_vf64)(bits - (e << 52));
    smk_simd_vf64 f = (m - 1) / (m + 1), f2 = f * f;
    /* q = 1/3 + f2/5 + ... + f2^8/19 by Estrin's scheme: four levels of
     * multiply-adds after f2 instead of Horner's eight (the log's latency is
     * most of a one-row cross-entropy after the sum). */
    smk_simd_vf64 f4 = f2 * f2, f8 = f4 * f4;
    smk_simd_vf64 p01 = f2 * (1.0 / 5) + 1.0 / 3, p23 = f2 * (1.0 / 9) + 1.0 / 7;
    smk_simd_vf64 p45 = f2 * (1.0 / 13) + 1.0 / 11, p67 = f2 * (1.0 / 17) + 1.0 / 15;
    smk_simd_vf64 q = ((p23 * f4 + p01) + (p67 * f4 + p45) * f8) + f8 * f8 * (1.0 / 19);
    smk_simd_vf64 twof = f + f;
    /* (double)e exactly, by the rounding constant 1.5 * 2^52 (|e| < 2^51):
     * AVX2 has no 64-bit integer conversion, and clang's was four scalar ones. */
    smk_simd_vf64 ef = (smk_simd_vf64)(e + 0x4338000000000000LL) - 6755399441055744.0;
    const double ln2_hi = 6.93147180369123816490e-01; /* 0x3FE62E42FEE00000: low 32 bits zero */
    const double ln2_lo = 1.90821492927058770002e-10;  /* ln 2 - ln2_hi */
    return ef * ln2_hi + (twof + (twof * f2 * q + ef * ln2_lo));
}

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
 * on long rows (the permutes and stores on every vector made softmax_topk's
 * exp loop 1.8x softmax's at 1024x1000 on Zen 3) and costs on short ones
 * (256x128 f64 1.2x slower); callers choose by the vectors in a block and
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
    uint32_t m = smk_simd_bits_f32(~(v < floor) & smk_simd_prefix32(lanes));
    if (sparse && m == 0) return 0;
    __m256i idx = smk_simd_compress_indices(_pdep_u64(m, 0x0101010101010101ull) * 0xFF);
    _mm256_storeu_si256((__m256i *)(void *)pos,
                        _mm256_permutevar8x32_epi32((__m256i)(smk_simd_iota32() + (int32_t)base), idx));
    return __builtin_popcount(m);
}

SMK_SIMD_INLINE int64_t smk_simd_collect_f64(smk_simd_vf64 v, double floor, int64_t lanes, int64_t base,
                                             int32_t *pos, int sparse) {
    uint32_t m = smk_simd_bits_f64(~(v < floor) & smk_simd_prefix64(lanes));
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

/* Column top-k (ColumnTopK.swift): per lane, k sorted slots, the vectors
 * vals[s] and idx[s] (row indices held as floats; -1: an empty slot, below
 * everything), at any alignment. smk_simd_slots_offer offers row v (row
 * indices iv) on the lanes where v >= floor or is NaN: such a lane takes the
 * first slot it ranks above (a NaN above any number, else larger; ties keep
 * the earlier row, rows coming in order), and every slot below shifts down
 * one, the last falling off. The slots being in rank order, v ranks above
 * every slot after the first it ranks above: each slot's new content
 * follows from its own compare and the one before it, with no chain through
 * the slots (a running "placed" mask made one, 2x slower). Returns at once
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
