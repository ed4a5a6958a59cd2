/*  codec_topk.c: top-k, the k entries of largest |x|, selected exactly in O(d).

    Magnitudes are compared as the integer bits of |x| (monotonic for non-negative
    floats), so selection is a radix select: three histogram passes over 11+10+10 bits
    find the k-th largest magnitude T and how many lie strictly above it; one more pass
    takes those and the first (k - above) equal to T in index order: exactly k, ties to
    the lowest index, indices increasing.

    For large d that is four passes over the vector. The fast path does one: a stratified
    sample of S = 16384 magnitudes gives a threshold t whose expected count above it is
    k plus three standard deviations; one pass (four SSE2 compares per 16 floats) collects
    the candidates >= t, and the exact select runs on the candidates only. The result is
    the same whatever the sample: when the candidates are fewer than k or overflow their
    scratch (adversarial or constant vectors), the exact full-array path runs instead. */
#include "codec_impl.h"

#include <math.h>
#include <stdlib.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define S_SAMPLES 16384u

typedef struct {
    bool sampled;   /* fast path possible for this (d, k) */
    size_t r;       /* sample rank taken as the threshold */
    size_t cap;     /* candidate capacity */
    uint32_t *cidx; /* (cap) candidate indices */
    float *cval;    /* (cap) candidate x (s_kth compares |x|) */
    float *samp;    /* (S_SAMPLES) sampled |x| */
} s_topk_t;

static inline uint32_t
s_abits (const float *a, size_t i)
{
    uint32_t u;
    memcpy (&u, a + i, 4);
    return u & 0x7fffffffu;
}

/* Radix select: the k-th largest (1 <= k <= n) of |a[i]| as bits; *above gets the
   number of elements strictly larger. O(n), three passes. */
static uint32_t
s_kth (const float *a, size_t n, size_t k, size_t *above)
{
    static const unsigned shift[3] = { 20, 10, 0 };
    static const uint32_t width[3] = { 0x7ffu, 0x3ffu, 0x3ffu };
    uint32_t hist[2048];
    uint32_t prefix = 0, pmask = 0;
    size_t acc = 0;
    for (int pass = 0; pass < 3; pass++) {
        const unsigned sh = shift[pass];
        const uint32_t w = width[pass];
        memset (hist, 0, (w + 1) * sizeof hist[0]);
        if (pass == 0)
            for (size_t i = 0; i < n; i++)
                hist[s_abits (a, i) >> sh]++;
        else
            for (size_t i = 0; i < n; i++) {
                const uint32_t u = s_abits (a, i);
                if ((u & pmask) == prefix)
                    hist[(u >> sh) & w]++;
            }
        uint32_t b = w;
        size_t cum = 0;
        while (acc + cum + hist[b] < k) {
            cum += hist[b];
            b--;
        }
        acc += cum;
        prefix |= b << sh;
        pmask |= w << sh;
    }
    *above = acc;
    return prefix;
}

static size_t
s_max_size (const mdl_codec_t *c)
{
    return mdl_sparse_index_max (c->d, c->k) + c->values->ops->max_size (c->values);
}

static int
s_init (mdl_codec_t *c)
{
    s_topk_t *t = calloc (1, sizeof *t);
    if (!t)
        return MDL_ENOMEM;
    c->state = t;
    const size_t d = c->d, k = c->k;
    if (d < 65536 || k == 0 || k > d / 8)
        return 0;
    const double expect = (double) S_SAMPLES * (double) k / (double) d;
    t->r = (size_t) ceil (expect + 3.0 * sqrt (expect) + 4.0);
    if (t->r >= S_SAMPLES / 4)
        return 0;
    const double per = (double) d / S_SAMPLES; /* population per sample */
    t->cap = (size_t) (2.0 * per * (double) t->r) + 4096;
    if (t->cap > d)
        t->cap = d;
    t->cidx = malloc (t->cap * sizeof *t->cidx);
    t->cval = malloc (t->cap * sizeof *t->cval);
    t->samp = malloc (S_SAMPLES * sizeof *t->samp);
    if (!t->cidx || !t->cval || !t->samp)
        return MDL_ENOMEM;
    t->sampled = true;
    return 0;
}

static void
s_fini (mdl_codec_t *c)
{
    s_topk_t *t = c->state;
    if (!t)
        return;
    free (t->cidx);
    free (t->cval);
    free (t->samp);
    free (t);
    c->state = NULL;
}

/* Exact path over the whole vector: fills c->idx/c->val. */
static void
s_select_full (mdl_codec_t *c, const float *x)
{
    const size_t d = c->d, k = c->k;
    size_t above;
    const uint32_t T = s_kth (x, d, k, &above);
    size_t ties = k - above, o = 0;
    for (size_t i = 0; i < d && o < k; i++) {
        const uint32_t u = s_abits (x, i);
        if (u > T || (u == T && ties > 0 && ties--)) {
            c->idx[o] = (uint32_t) i;
            c->val[o++] = x[i];
        }
    }
}

/* Fast path; returns false when the candidates cannot hold the top k. */
static bool
s_select_sampled (mdl_codec_t *c, const float *x)
{
    s_topk_t *t = c->state;
    const size_t d = c->d, k = c->k, stride = d / S_SAMPLES;
    for (size_t j = 0; j < S_SAMPLES; j++) {
        /* stratified: one position per stride, jittered by a fixed hash of j */
        const size_t jit = (size_t) ((j * 0x9e3779b97f4a7c15ULL) >> 40) % stride;
        t->samp[j] = fabsf (x[j * stride + jit]);
    }
    size_t dummy;
    const uint32_t th = s_kth (t->samp, S_SAMPLES, t->r, &dummy);
    size_t n = 0, i = 0;
    const size_t cap = t->cap;
#if defined(__SSE2__)
    const __m128i absm = _mm_set1_epi32 (0x7fffffff), thm1 = _mm_set1_epi32 ((int) th - 1);
    for (; i + 16 <= d; i += 16) {
        const __m128i a0 = _mm_and_si128 (_mm_loadu_si128 ((const __m128i *) (x + i)), absm);
        const __m128i a1 = _mm_and_si128 (_mm_loadu_si128 ((const __m128i *) (x + i + 4)), absm);
        const __m128i a2 = _mm_and_si128 (_mm_loadu_si128 ((const __m128i *) (x + i + 8)), absm);
        const __m128i a3 = _mm_and_si128 (_mm_loadu_si128 ((const __m128i *) (x + i + 12)), absm);
        const int m = _mm_movemask_ps (_mm_castsi128_ps (_mm_cmpgt_epi32 (a0, thm1)))
                      | _mm_movemask_ps (_mm_castsi128_ps (_mm_cmpgt_epi32 (a1, thm1))) << 4
                      | _mm_movemask_ps (_mm_castsi128_ps (_mm_cmpgt_epi32 (a2, thm1))) << 8
                      | _mm_movemask_ps (_mm_castsi128_ps (_mm_cmpgt_epi32 (a3, thm1))) << 12;
        if (m == 0)
            continue;
        if (n + 16 > cap)
            return false;
        /* one store per hit, no per-element branch */
        for (unsigned bits = (unsigned) m; bits; bits &= bits - 1) {
            const size_t e = i + (size_t) __builtin_ctz (bits);
            t->cidx[n] = (uint32_t) e;
            t->cval[n++] = x[e];
        }
    }
#endif
    for (; i < d; i++) {
        const uint32_t u = s_abits (x, i);
        if (u >= th) {
            if (n == cap)
                return false;
            t->cidx[n] = (uint32_t) i;
            t->cval[n++] = x[i];
        }
    }
    if (n < k)
        return false;
    size_t above;
    const uint32_t T = s_kth (t->cval, n, k, &above);
    size_t ties = k - above, o = 0;
    for (size_t j = 0; j < n && o < k; j++) {
        const uint32_t u = s_abits (t->cval, j);
        if (u > T || (u == T && ties > 0 && ties--)) {
            c->idx[o] = t->cidx[j];
            c->val[o++] = t->cval[j]; /* the signed value: no second read of x */
        }
    }
    return true;
}

static int
s_encode (mdl_codec_t *c, const float *x, uint8_t *out, size_t *len, mdl_rng_t *rng)
{
    s_topk_t *t = c->state;
    if (c->k > 0 && !(t->sampled && s_select_sampled (c, x)))
        s_select_full (c, x);
    const size_t n = mdl_sparse_index_encode (c, out);
    size_t vlen;
    int rc = mdl_sparse_values_encode (c, out + n, &vlen, rng);
    *len = n + vlen;
    return rc;
}

static int
s_check (mdl_codec_t *c, const uint8_t *p, size_t len)
{
    size_t used;
    int rc = mdl_sparse_index_check (c, p, len, &used);
    if (rc)
        return rc;
    return mdl_sparse_values_check (c, p + used, len - used);
}

const mdl_codec_ops_t mdl_codec_topk_ops = {
    .name = "topk",
    .id = MDL_CODEC_TOPK,
    .sparse = true,
    .lossless = false,
    .init = s_init,
    .fini = s_fini,
    .max_size = s_max_size,
    .encode = s_encode,
    .check = s_check,
};
