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

/* Runtime dispatch for the mixing kernels: an AVX2 clone where the CPU has it (the
   default build targets baseline x86-64, SSE2, 4 floats a vector), chosen once at load.
   Same operations in the same order, and no FMA (not in the avx2 target; ISO C mode does
   not contract anyway): the clones give bit-identical results. The mix is a few loads
   and adds per element of L1-resident blocks, so the vector width is what it costs once
   the data is in cache (bench_stream: 31 GB/s at any size with SSE2). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define S_CLONES __attribute__ ((target_clones ("avx2", "default")))
#endif
#endif
#ifndef S_CLONES
#define S_CLONES
#endif
/* The helpers of a cloned function are inlined into each clone (so they get its ISA). */
#if defined(__GNUC__)
#define S_INLINE static inline __attribute__ ((always_inline))
#else
#define S_INLINE static inline
#endif

/* One block of the mix, the general form: xb[0..n) <- a xb + b yb + sum_j c_j vb_j, in
   that order per element. own[j] (when not NULL) says v_j's block is replaced by the
   agent's own value there (yb, or xb as it was): its weight goes to that term, after the
   others. With from, xb is not read: xb <- b yb + sum_j c_j vb_j (the own value is yb).
   The reference of s_mix_fast, and the path of blocks holding NaN/Inf. */
S_INLINE void
s_mix_block (float *restrict xb, float a, const float *restrict yb, float b, const float *const *v, const float *c,
             size_t k, size_t at, size_t n, const bool *own, bool from)
{
    float keep[1024];
    const float *self_b = yb;
    float moved = 0.0f; /* the weight of the replaced blocks */
    for (size_t j = 0; own && j < k; j++)
        moved += own[j] ? c[j] : 0.0f;
    if (moved != 0.0f && !yb) {
        for (size_t i = 0; i < n; i++)
            keep[i] = xb[i];
        self_b = keep;
    }
    if (from)
        for (size_t i = 0; i < n; i++)
            xb[i] = b * yb[i];
    else if (yb)
        for (size_t i = 0; i < n; i++)
            xb[i] = a * xb[i] + b * yb[i];
    else
        for (size_t i = 0; i < n; i++)
            xb[i] = a * xb[i];
    for (size_t j = 0; j < k; j++) {
        if (own && own[j])
            continue;
        const float *restrict vb = v[j] + at;
        const float cj = c[j];
        for (size_t i = 0; i < n; i++)
            xb[i] += cj * vb[i];
    }
    if (moved != 0.0f)
        for (size_t i = 0; i < n; i++)
            xb[i] += moved * self_b[i];
}

/* s_mix_block without replaced blocks, with the terms fused: the own terms and the first
   two neighbours in one loop, then the others two at a time, so the block is loaded and
   stored once per pair of neighbours instead of once per term. The sum per element is
   the same sequence of roundings, ((a x + b y) + c_0 v_0) + c_1 v_1 ..., bit for bit. */
S_INLINE void
s_mix_fast (float *restrict xb, float a, const float *restrict yb, float b, const float *const *v, const float *c,
            size_t k, size_t at, size_t n, bool from)
{
    const float *restrict p = k > 0 ? v[0] + at : NULL;
    const float *restrict q = k > 1 ? v[1] + at : NULL;
    const float cp = k > 0 ? c[0] : 0.0f, cq = k > 1 ? c[1] : 0.0f;
    if (from && q)
        for (size_t i = 0; i < n; i++)
            xb[i] = (b * yb[i] + cp * p[i]) + cq * q[i];
    else if (from && p)
        for (size_t i = 0; i < n; i++)
            xb[i] = b * yb[i] + cp * p[i];
    else if (from)
        for (size_t i = 0; i < n; i++)
            xb[i] = b * yb[i];
    else if (yb && q)
        for (size_t i = 0; i < n; i++)
            xb[i] = (a * xb[i] + b * yb[i] + cp * p[i]) + cq * q[i];
    else if (yb && p)
        for (size_t i = 0; i < n; i++)
            xb[i] = a * xb[i] + b * yb[i] + cp * p[i];
    else if (yb)
        for (size_t i = 0; i < n; i++)
            xb[i] = a * xb[i] + b * yb[i];
    else if (q)
        for (size_t i = 0; i < n; i++)
            xb[i] = (a * xb[i] + cp * p[i]) + cq * q[i];
    else if (p)
        for (size_t i = 0; i < n; i++)
            xb[i] = a * xb[i] + cp * p[i];
    else
        for (size_t i = 0; i < n; i++)
            xb[i] = a * xb[i];
    size_t j = 2;
    for (; j + 2 <= k; j += 2) {
        const float *restrict r = v[j] + at, *restrict s = v[j + 1] + at;
        const float cr = c[j], cs = c[j + 1];
        for (size_t i = 0; i < n; i++)
            xb[i] = (xb[i] + cr * r[i]) + cs * s[i];
    }
    if (j < k) {
        const float *restrict r = v[j] + at;
        const float cr = c[j];
        for (size_t i = 0; i < n; i++)
            xb[i] += cr * r[i];
    }
}

S_CLONES void
mdl_vec_mix (float *x, float a, const float *y, float b, const float *const *v, const float *c,
             size_t k, size_t d)
{
    /* Blocks of 1024 elements keep the k input streams and x in L1 while each block is
       combined; the per-element sum is in a fixed order (a*x, b*y, then v[0..k)), so
       results do not depend on the blocking. */
    for (size_t at = 0; at < d; at += 1024) {
        const size_t n = d - at < 1024 ? d - at : 1024;
        s_mix_fast (x + at, a, y ? y + at : NULL, b, v, c, k, at, n, false);
    }
}

/* Whether any of n floats has its exponent all ones (NaN or Inf): an integer OR, so it
   vectorises and runs at the speed of the loads. */
S_INLINE bool
s_block_bad (const float *v, size_t n)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy (&u, v + i, sizeof u);
        bad |= (uint32_t) ((u & 0x7f800000u) == 0x7f800000u);
    }
    return bad != 0;
}

/* ||x - v||^2 of a block (n <= 1024): 16 float lanes (a reduction in one double would
   run one element per add latency; the lanes vectorise), summed in double at the end.
   Each lane sums at most 64 squares: float keeps ~7 digits of what is an estimate. */
S_INLINE double
s_block_dist2 (const float *x, const float *v, size_t n)
{
    float lane[16] = { 0 };
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (size_t u = 0; u < 16; u++) {
            const float t = x[i + u] - v[i + u];
            lane[u] += t * t;
        }
    double s = 0.0;
    for (; i < n; i++)
        s += ((double) x[i] - v[i]) * ((double) x[i] - v[i]);
    for (size_t u = 0; u < 16; u++)
        s += lane[u];
    return s;
}

/* mdl_vec_mix_checked, and with from mdl_vec_mix_from_checked (x not read, y the own
   value and the origin of the distances). */
S_INLINE size_t
s_mix_checked (float *x, float a, const float *y, float b, const float *const *v, const float *c, size_t k, size_t d,
               bool *bad, double *dist2, bool from)
{
    bool own[MDL_VEC_MIX_MAX];
    size_t nbad = 0;
    if (k > MDL_VEC_MIX_MAX)
        k = MDL_VEC_MIX_MAX;
    for (size_t j = 0; j < k; j++) {
        bad[j] = false;
        if (dist2)
            dist2[j] = 0.0;
    }
    const float *self = from ? y : x;
    for (size_t at = 0; at < d; at += 1024) {
        const size_t n = d - at < 1024 ? d - at : 1024;
        /* Each input block is read here first, checked while it is brought into L1, and
           mixed from there: the check and the distances cost no pass of their own. */
        bool any = false;
        for (size_t j = 0; j < k; j++) {
            own[j] = s_block_bad (v[j] + at, n);
            any |= own[j];
            if (own[j] && !bad[j]) {
                bad[j] = true;
                nbad++;
            }
            if (dist2 && !own[j])
                dist2[j] += s_block_dist2 (self + at, v[j] + at, n);
        }
        if (any)
            s_mix_block (x + at, a, y ? y + at : NULL, b, v, c, k, at, n, own, from);
        else
            s_mix_fast (x + at, a, y ? y + at : NULL, b, v, c, k, at, n, from);
    }
    return nbad;
}

S_CLONES size_t
mdl_vec_mix_checked (float *x, float a, const float *y, float b, const float *const *v, const float *c, size_t k,
                     size_t d, bool *bad, double *dist2)
{
    return s_mix_checked (x, a, y, b, v, c, k, d, bad, dist2, false);
}

S_CLONES size_t
mdl_vec_mix_from_checked (float *x, const float *y, float b, const float *const *v, const float *c, size_t k, size_t d,
                          bool *bad, double *dist2)
{
    return s_mix_checked (x, 0.0f, y, b, v, c, k, d, bad, dist2, true);
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
