/* A relaxed atomic counter, for Swift code that must build for every
 * deployment target: the Synchronization module's Atomic needs macOS 15.
 * Part of softmaxkit_simd.h (see there); static inline, nothing exported. */
#ifndef SMK_SIMD_ATOMIC_H
#define SMK_SIMD_ATOMIC_H

#include "smk_simd_types.h"

SMK_SIMD_INLINE int64_t smk_atomic_load_relaxed(const int64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

SMK_SIMD_INLINE void smk_atomic_add_relaxed(int64_t *p, int64_t v) { (void)__atomic_fetch_add(p, v, __ATOMIC_RELAXED); }

#endif
