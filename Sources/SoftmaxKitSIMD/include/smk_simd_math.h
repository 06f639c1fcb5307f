/* Vector exp and log pieces: the float64 exp's table lookup, the log of
 * positive normal lanes.
 * Part of softmaxkit_simd.h (see there); static inline, nothing exported. */
#ifndef SMK_SIMD_MATH_H
#define SMK_SIMD_MATH_H

#include "smk_simd_types.h"

#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpsabi"

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

#pragma clang diagnostic pop

#endif
