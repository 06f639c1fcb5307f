/* The half-precision reference of the C tests, written from the formats'
 * definitions (not from the library): the value of a float16 / bfloat16
 * bit pattern, a double rounded once to nearest even into either format,
 * and the distance in ulps between two patterns. */
#ifndef SMK_TEST_HALF_REFERENCE_H
#define SMK_TEST_HALF_REFERENCE_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static inline double ref_f16_value(uint16_t h) {
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double s = (h & 0x8000) ? -1.0 : 1.0;
    if (e == 0x1f) return m ? NAN : s * INFINITY;
    if (e == 0) return s * ldexp(m, -24);
    return s * ldexp(1024 + m, e - 25);
}

static inline double ref_bf16_value(uint16_t h) {
    int e = (h >> 7) & 0xff, m = h & 0x7f;
    double s = (h & 0x8000) ? -1.0 : 1.0;
    if (e == 0xff) return m ? NAN : s * INFINITY;
    if (e == 0) return s * ldexp(m, -133);
    return s * ldexp(128 + m, e - 134);
}

/* A double rounded to nearest even into binary16 (nearbyint rounds ties to
 * even in the default mode). */
static inline uint16_t ref_f16(double v) {
    uint16_t sign = signbit(v) ? 0x8000 : 0;
    double a = fabs(v);
    int e;
    if (isnan(v)) return (uint16_t)(sign | 0x7e00);
    if (a >= 65520.0) return (uint16_t)(sign | 0x7c00);
    if (a < ldexp(1, -14)) return (uint16_t)(sign | (uint16_t)nearbyint(ldexp(a, 24)));
    frexp(a, &e);
    return (uint16_t)(sign | (((e - 1 + 15) << 10) + (int)nearbyint(ldexp(a, 11 - e)) - 1024));
}

static inline uint16_t ref_bf16(double v) {
    uint16_t sign = signbit(v) ? 0x8000 : 0;
    double a = fabs(v);
    int e;
    if (isnan(v)) return (uint16_t)(sign | 0x7fc0);
    if (a >= ldexp(2.0 - ldexp(1, -8), 127)) return (uint16_t)(sign | 0x7f80);
    if (a < ldexp(1, -126)) return (uint16_t)(sign | (uint16_t)nearbyint(ldexp(a, 133)));
    frexp(a, &e);
    return (uint16_t)(sign | (((e - 1 + 127) << 7) + (int)nearbyint(ldexp(a, 8 - e)) - 128));
}

/* Distance in units in the last place between two half patterns (of either
 * format: both order like sign-magnitude integers); NaN against NaN is 0,
 * NaN against a number is huge. */
static inline long ulps(uint16_t a, uint16_t b, int bf) {
    uint16_t expmask = bf ? 0x7f80 : 0x7c00, mant = bf ? 0x7f : 0x3ff;
    int an = (a & expmask) == expmask && (a & mant), bn = (b & expmask) == expmask && (b & mant);
    long ia, ib;
    if (an || bn) return an && bn ? 0 : 1L << 20;
    ia = (a & 0x8000) ? -(long)(a & 0x7fff) : (long)(a & 0x7fff);
    ib = (b & 0x8000) ? -(long)(b & 0x7fff) : (long)(b & 0x7fff);
    return labs(ia - ib);
}

static inline double value(uint16_t h, int bf) { return bf ? ref_bf16_value(h) : ref_f16_value(h); }
static inline uint16_t round_half(double v, int bf) { return bf ? ref_bf16(v) : ref_f16(v); }

#endif
