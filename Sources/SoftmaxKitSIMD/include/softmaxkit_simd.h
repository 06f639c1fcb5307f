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
 * The Makefile passes SMK_SIMD256 to Swift and to this
 * header alike; the Swift conformances pick the same width, and a mismatch
 * is a type error at build time, never a silent one. Compiled by the Swift
 * compiler's own clang with the Swift target's CPU, so these inline into
 * the kernels.
 *
 * One header per primitive family, included here in dependency order. Each
 * silences -Wpsabi: every function is always inlined, so no vector crosses
 * a call, and clang's note that a 512-bit vector argument changes the ABI
 * without AVX-512 (the baseline debug build) does not apply. */
#ifndef SOFTMAXKIT_SIMD_H
#define SOFTMAXKIT_SIMD_H

#include "smk_simd_types.h"
#include "smk_simd_arith.h"
#include "smk_simd_memory.h"
#include "smk_simd_rank.h"
#include "smk_simd_math.h"
#include "smk_simd_collect.h"
#include "smk_simd_column_topk.h"
#include "smk_simd_atomic.h"
#include "smk_simd_half.h"

#endif
