/* The vector types of the kernels' width, the instruction-set paths, lane
 * constants and the lane bits of a compare.
 * Part of softmaxkit_simd.h (see there); static inline, nothing exported. */
#ifndef SMK_SIMD_TYPES_H
#define SMK_SIMD_TYPES_H

#include <stddef.h>
#include <stdint.h>

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
#if defined(__x86_64__) && defined(__AVX512F__) && !defined(SMK_SIMD256)
#define SMK_SIMD_AVX512 1
#elif defined(__x86_64__) && defined(__AVX2__) && defined(SMK_SIMD256)
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

#pragma clang diagnostic pop

#endif
