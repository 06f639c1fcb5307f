/* SwiftPM builds a C target from at least one source file; the target's
 * content is the static inline functions of include/softmaxkit_simd.h. */
#include "softmaxkit_simd.h"
