/*  codec_minmax.c: deterministic min-max quantization, 8 or 4 bits per element.

    Per block of B elements: its min m and step h = (max - min) / L, L = 2^bits - 1;
    code = round ((x - m) / h), decoded as m + code * h. So |x - x^| <= h / 2 (plus one
    float rounding), and a block of equal values is exact. Blocks whose range exceeds
    FLT_MAX cannot be represented (the decoded value could overflow): encode returns
    MDL_ERANGE, and check rejects a block with |m| + L h > FLT_MAX as MDL_EWIRE_NONFINITE.

    Payload: nb = ceil(d/B) pairs (fp32 min, fp32 step), then the codes: q8 one byte
    each, q4 two per byte (low nibble first, a last odd nibble's partner zero). */
#include "codec_impl.h"

#include <float.h>
#include <math.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static unsigned
s_bits (const mdl_codec_t *c)
{
    return c->p.id == MDL_CODEC_Q8 ? 8 : 4;
}

static size_t
s_max_size (const mdl_codec_t *c)
{
    return 8 * mdl_nblocks (c->d, c->p.block) + (c->d * s_bits (c) + 7) / 8;
}

static void
s_minmax (const float *x, size_t n, float *mn, float *mx)
{
    size_t i = 0;
    float lo = x[0], hi = x[0];
#if defined(__SSE2__)
    if (n >= 8) {
        __m128 l0 = _mm_loadu_ps (x), h0 = l0, l1 = _mm_loadu_ps (x + 4), h1 = l1;
        for (i = 8; i + 8 <= n; i += 8) {
            __m128 a = _mm_loadu_ps (x + i), b = _mm_loadu_ps (x + i + 4);
            l0 = _mm_min_ps (l0, a);
            h0 = _mm_max_ps (h0, a);
            l1 = _mm_min_ps (l1, b);
            h1 = _mm_max_ps (h1, b);
        }
        float l[8], h[8];
        _mm_storeu_ps (l, l0);
        _mm_storeu_ps (l + 4, l1);
        _mm_storeu_ps (h, h0);
        _mm_storeu_ps (h + 4, h1);
        for (int j = 0; j < 8; j++) {
            lo = l[j] < lo ? l[j] : lo;
            hi = h[j] > hi ? h[j] : hi;
        }
    }
#endif
    for (; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    *mn = lo;
    *mx = hi;
}

/* code of one element; the comparisons map NaN to 0 so the cast is defined */
static inline uint32_t
s_code (float x, float mn, float inv, float L)
{
    float t = (x - mn) * inv + 0.5f;
    t = t > 0.0f ? t : 0.0f;
    t = t < L ? t : L;
    return (uint32_t) t;
}

static int
s_encode (mdl_codec_t *c, const float *x, uint8_t *out, size_t *len, mdl_rng_t *rng)
{
    const size_t d = c->d, B = c->p.block, nb = mdl_nblocks (d, B);
    const unsigned bits = s_bits (c);
    const float L = (float) ((1u << bits) - 1u);
    uint8_t *codes = out + 8 * nb;
    for (size_t b = 0; b < nb; b++) {
        const size_t lo = b * B, n = (b + 1) * B <= d ? B : d - lo;
        const float *xb = x + lo;
        float mn, mx;
        s_minmax (xb, n, &mn, &mx);
        const double range = (double) mx - (double) mn;
        if (range > FLT_MAX)
            return MDL_ERANGE;
        const float h = (float) (range / L);
        const float inv = range > 0.0 ? (float) (L / range) : 0.0f;
        mdl_stf (out + 8 * b, mn);
        mdl_stf (out + 8 * b + 4, h);
        if (bits == 8) {
            uint8_t *w = codes + lo;
            size_t i = 0;
#if defined(__SSE2__)
            /* cvttps maps NaN and overflow to INT_MIN, and the saturating packs clamp
               to [0, 255]: the same result as s_code */
            const __m128 vmn = _mm_set1_ps (mn), vinv = _mm_set1_ps (inv),
                         half = _mm_set1_ps (0.5f);
            for (; i + 16 <= n; i += 16) {
                __m128i q0 = _mm_cvttps_epi32 (_mm_add_ps (
                    _mm_mul_ps (_mm_sub_ps (_mm_loadu_ps (xb + i), vmn), vinv), half));
                __m128i q1 = _mm_cvttps_epi32 (_mm_add_ps (
                    _mm_mul_ps (_mm_sub_ps (_mm_loadu_ps (xb + i + 4), vmn), vinv), half));
                __m128i q2 = _mm_cvttps_epi32 (_mm_add_ps (
                    _mm_mul_ps (_mm_sub_ps (_mm_loadu_ps (xb + i + 8), vmn), vinv), half));
                __m128i q3 = _mm_cvttps_epi32 (_mm_add_ps (
                    _mm_mul_ps (_mm_sub_ps (_mm_loadu_ps (xb + i + 12), vmn), vinv), half));
                __m128i p = _mm_packus_epi16 (_mm_packs_epi32 (q0, q1),
                                              _mm_packs_epi32 (q2, q3));
                _mm_storeu_si128 ((__m128i *) (w + i), p);
            }
#endif
            for (; i < n; i++)
                w[i] = (uint8_t) s_code (xb[i], mn, inv, L);
        } else {
            /* q4: element lo + i goes to nibble (lo + i) & 1 of byte (lo + i) / 2 */
            for (size_t i = 0; i < n; i++) {
                const size_t e = lo + i;
                const uint32_t q = s_code (xb[i], mn, inv, L);
                if (e & 1)
                    codes[e / 2] |= (uint8_t) (q << 4);
                else
                    codes[e / 2] = (uint8_t) q;
            }
        }
    }
    *len = s_max_size (c);
    return 0;
}

static int
s_check (mdl_codec_t *c, const uint8_t *p, size_t len)
{
    const size_t nb = mdl_nblocks (c->d, c->p.block);
    const double L = (double) ((1u << s_bits (c)) - 1u);
    if (len != s_max_size (c))
        return MDL_EWIRE_LENGTH;
    for (size_t b = 0; b < nb; b++) {
        uint32_t um = mdl_ld32 (p + 8 * b), uh = mdl_ld32 (p + 8 * b + 4);
        if (!mdl_finite_bits (um) || !mdl_finite_bits (uh))
            return MDL_EWIRE_NONFINITE;
        if (uh >> 31)
            return MDL_EWIRE_PAYLOAD; /* a step is >= 0 */
        if (fabs ((double) mdl_bitsf (um)) + L * (double) mdl_bitsf (uh) > FLT_MAX)
            return MDL_EWIRE_NONFINITE;
    }
    if (s_bits (c) == 4 && (c->d & 1) && (p[len - 1] >> 4))
        return MDL_EWIRE_PAYLOAD;
    return 0;
}

static void
s_run (const mdl_codec_t *c, const uint8_t *p, float alpha, float *y, bool store)
{
    const size_t d = c->d, B = c->p.block, nb = mdl_nblocks (d, B);
    const bool q8 = s_bits (c) == 8;
    const uint8_t *codes = p + 8 * nb;
    for (size_t b = 0; b < nb; b++) {
        const size_t lo = b * B, n = (b + 1) * B <= d ? B : d - lo;
        const float mn = mdl_ldf (p + 8 * b), h = mdl_ldf (p + 8 * b + 4);
        float *yb = y + lo;
        if (q8 && store)
            for (size_t i = 0; i < n; i++)
                yb[i] = mn + (float) codes[lo + i] * h;
        else if (q8)
            for (size_t i = 0; i < n; i++)
                yb[i] += alpha * (mn + (float) codes[lo + i] * h);
        else
            for (size_t i = 0; i < n; i++) {
                const size_t e = lo + i;
                const float v = mn + (float) ((codes[e / 2] >> (4 * (e & 1))) & 15u) * h;
                if (store)
                    yb[i] = v;
                else
                    yb[i] += alpha * v;
            }
    }
}

static void
s_decode (const mdl_codec_t *c, const uint8_t *p, float *y)
{
    s_run (c, p, 1.0f, y, true);
}

static void
s_apply (const mdl_codec_t *c, const uint8_t *p, float alpha, float *y)
{
    s_run (c, p, alpha, y, false);
}

const mdl_codec_ops_t mdl_codec_q8_ops = {
    .name = "q8",
    .id = MDL_CODEC_Q8,
    .max_size = s_max_size,
    .encode = s_encode,
    .check = s_check,
    .decode = s_decode,
    .apply = s_apply,
};

const mdl_codec_ops_t mdl_codec_q4_ops = {
    .name = "q4",
    .id = MDL_CODEC_Q4,
    .max_size = s_max_size,
    .encode = s_encode,
    .check = s_check,
    .decode = s_decode,
    .apply = s_apply,
};
