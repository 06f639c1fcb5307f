/* Vector primitives Swift cannot spell, for the SoftmaxKit core only (not
 * part of the C ABI: everything here is static inline, nothing is exported).
 *
 * Swift has no way to turn a lane mask into an integer: its SIMD masks are
 * vectors of 0/-1 lanes, and the OR-halving trees that recover the bits
 * compile to ~25 shuffle, extract and OR instructions where the compare has
 * already produced the bits in a mask register (one kmovw on AVX-512, one
 * movmskps on SSE). Clang's boolean vectors reach that instruction. It also
 * exposes the software prefetch hint and non-temporal stores.
 *
 * The vector types are clang extended vectors, which Swift imports as
 * SIMD16<Float> and SIMD8<Double>. Compiled by the Swift compiler's own clang
 * with the Swift target's CPU, so these inline into the kernels. */
#ifndef SOFTMAXKIT_SIMD_H
#define SOFTMAXKIT_SIMD_H

#include <stdint.h>

typedef float smk_simd_f32x16 __attribute__((ext_vector_type(16)));
typedef double smk_simd_f64x8 __attribute__((ext_vector_type(8)));
typedef _Bool smk_simd_bool16 __attribute__((ext_vector_type(16)));
typedef _Bool smk_simd_bool8 __attribute__((ext_vector_type(8)));

#define SMK_SIMD_INLINE static inline __attribute__((always_inline))

/* Bit l set when lane l of v is greater than t or NaN (selection ranks NaN
 * above every number). */
SMK_SIMD_INLINE uint32_t smk_simd_above_bits_f32(smk_simd_f32x16 v, float t) {
    smk_simd_bool16 m = __builtin_convertvector((v > t) | (v != v), smk_simd_bool16);
    uint16_t bits;
    __builtin_memcpy(&bits, &m, sizeof bits);
    return bits;
}

SMK_SIMD_INLINE uint32_t smk_simd_above_bits_f64(smk_simd_f64x8 v, double t) {
    smk_simd_bool8 m = __builtin_convertvector((v > t) | (v != v), smk_simd_bool8);
    uint8_t bits;
    __builtin_memcpy(&bits, &m, sizeof bits);
    return bits;
}

/* A hint that the cache line at p will be read soon (never faults). */
SMK_SIMD_INLINE void smk_simd_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/* Non-temporal (streaming) stores of one vector to p, which must be aligned
 * to the vector's size: the line goes to memory without being read first
 * (a normal store of a line not in cache reads it, a third memory transfer
 * per element on outputs that do not fit in cache). Weakly ordered: finish
 * a run of them with smk_simd_stream_fence before other threads read. */
SMK_SIMD_INLINE void smk_simd_stream_f32(smk_simd_f32x16 v, float *p) {
    __builtin_nontemporal_store(v, (smk_simd_f32x16 *)(void *)p);
}

SMK_SIMD_INLINE void smk_simd_stream_f64(smk_simd_f64x8 v, double *p) {
    __builtin_nontemporal_store(v, (smk_simd_f64x8 *)(void *)p);
}

SMK_SIMD_INLINE void smk_simd_stream_fence(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_sfence();
#else
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

#endif
