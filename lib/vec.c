/*  vec.c: flat vector operations (see vec.h). */
#include "vec.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

void
mdl_vec_zero (float *x, size_t d)
{
    if (d)
        memset (x, 0, d * sizeof *x);
}

void
mdl_vec_copy (float *dst, const float *src, size_t d)
{
    if (d && dst != src)
        memmove (dst, src, d * sizeof *dst);
}

void
mdl_vec_axpy (float *restrict y, float a, const float *restrict x, size_t d)
{
    for (size_t i = 0; i < d; i++)
        y[i] += a * x[i];
}

void
mdl_vec_scale (float *x, float a, size_t d)
{
    for (size_t i = 0; i < d; i++)
        x[i] *= a;
}

void
mdl_vec_sub (float *dst, const float *a, const float *b, size_t d)
{
    for (size_t i = 0; i < d; i++)
        dst[i] = a[i] - b[i];
}

double
mdl_vec_dot (const float *x, const float *y, size_t d)
{
    double s = 0.0;
    for (size_t i = 0; i < d; i++)
        s += (double) x[i] * y[i];
    return s;
}

double
mdl_vec_norm2 (const float *x, size_t d)
{
    return mdl_vec_dot (x, x, d);
}

double
mdl_vec_dist2 (const float *x, const float *y, size_t d)
{
    double s = 0.0;
    for (size_t i = 0; i < d; i++) {
        double t = (double) x[i] - y[i];
        s += t * t;
    }
    return s;
}

bool
mdl_vec_isfinite (const float *x, size_t d)
{
    /* Accumulate x*0: NaN or Inf in any element makes the sum NaN. Branch-free so it
       runs at memory speed on the receive path. */
    float acc = 0.0f;
    for (size_t i = 0; i < d; i++)
        acc += x[i] * 0.0f;
    return acc == 0.0f;
}

void
mdl_vec_mix (float *x, float a, const float *y, float b, const float *const *v, const float *c,
             size_t k, size_t d)
{
    /* Blocks of 1024 elements keep the k input streams and x in L1 while each block is
       combined; the per-element sum is in a fixed order (a*x, b*y, then v[0..k)), so
       results do not depend on the blocking. */
    for (size_t at = 0; at < d; at += 1024) {
        const size_t n = d - at < 1024 ? d - at : 1024;
        float *restrict xb = x + at;
        if (y) {
            const float *restrict yb = y + at;
            for (size_t i = 0; i < n; i++)
                xb[i] = a * xb[i] + b * yb[i];
        } else
            for (size_t i = 0; i < n; i++)
                xb[i] = a * xb[i];
        for (size_t j = 0; j < k; j++) {
            const float *restrict vb = v[j] + at;
            const float cj = c[j];
            for (size_t i = 0; i < n; i++)
                xb[i] += cj * vb[i];
        }
    }
}

double
mdl_vec_digest (const float *x, size_t d)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t) d;
    size_t i = 0;
    for (; i + 2 <= d; i += 2) {
        uint64_t k;
        memcpy (&k, x + i, sizeof k); /* the bits of two floats (memcpy: no aliasing) */
        h = (h ^ k) * 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
    }
    if (i < d) {
        uint32_t k;
        memcpy (&k, x + i, sizeof k);
        h = ((h ^ k) * 0xff51afd7ed558ccdULL) ^ (h >> 31);
    }
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return (double) (h >> 12);
}
