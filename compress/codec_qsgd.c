/*  codec_qsgd.c: Q-bit stochastic uniform quantization with a per-bucket scale.

    After QSGD (Alistarh et al., NeurIPS 2017), with the bucket's max|x| as the scale
    (their "max-norm" variant, lower variance than the 2-norm). For Q >= 2 a code is a
    sign bit and a level l in [0, s], s = 2^(Q-1) - 1, decoded as sign * m * l / s; l is
    floor(|x| s / m) rounded up with probability equal to the remainder, so
    E[decoded] = x. For Q = 1 the code is the sign alone, decoded as +-m, with
    P(+) = (1 + x/m) / 2: again E[decoded] = x. Per element error |x - x^| <= m / s
    (Q >= 2), <= 2m (Q = 1).

    Payload: nb = ceil(d/B) fp32 scales, then the d codes of Q bits packed LSB-first,
    ceil(d Q / 8) bytes, unused high bits of the last byte zero. */
#include "codec_impl.h"

#include <math.h>

static size_t
s_max_size (const mdl_codec_t *c)
{
    return 4 * mdl_nblocks (c->d, c->p.block) + (c->d * c->p.bits + 7) / 8;
}

static int
s_encode (mdl_codec_t *c, const float *x, uint8_t *out, size_t *len, mdl_rng_t *rng)
{
    const size_t d = c->d, B = c->p.block, nb = mdl_nblocks (d, B);
    const unsigned q = c->p.bits;
    const uint32_t s = (1u << (q - 1)) - 1u;
    uint8_t *w = out + 4 * nb;
    uint64_t acc = 0, r = 0;
    unsigned nbits = 0;
    for (size_t b = 0; b < nb; b++) {
        const float *xb = x + b * B;
        const size_t n = (b + 1) * B <= d ? B : d - b * B;
        float m = 0.0f;
        for (size_t i = 0; i < n; i++) {
            float a = fabsf (xb[i]);
            m = a > m ? a : m;
        }
        mdl_stf (out + 4 * b, m);
        const float inv = m > 0.0f ? 1.0f / m : 0.0f;
        const float mul = (float) s * inv;
        for (size_t i = 0; i < n; i++) {
            /* 24 random bits per element, two elements per 64-bit draw */
            if ((i & 1) == 0)
                r = mdl_rng_u64 (rng);
            const float u = (float) ((uint32_t) (r >> (32 * (i & 1))) >> 8) * 0x1.0p-24f;
            uint32_t code;
            if (q == 1)
                code = u < 0.5f - 0.5f * xb[i] * inv;
            else {
                float a = fabsf (xb[i]) * mul;
                /* the comparisons also turn NaN into 0, so the cast below is defined */
                a = a > 0.0f ? a : 0.0f;
                a = a < (float) s ? a : (float) s;
                uint32_t l = (uint32_t) a;
                l += u < a - (float) l;
                l = l < s ? l : s;
                code = ((uint32_t) (xb[i] < 0.0f) << (q - 1)) | l;
            }
            acc |= (uint64_t) code << nbits;
            nbits += q;
            while (nbits >= 8) {
                *w++ = (uint8_t) acc;
                acc >>= 8;
                nbits -= 8;
            }
        }
    }
    if (nbits)
        *w++ = (uint8_t) acc;
    *len = (size_t) (w - out);
    return 0;
}

static int
s_check (mdl_codec_t *c, const uint8_t *p, size_t len)
{
    const size_t nb = mdl_nblocks (c->d, c->p.block);
    if (len != s_max_size (c))
        return MDL_EWIRE_LENGTH;
    for (size_t b = 0; b < nb; b++) {
        uint32_t u = mdl_ld32 (p + 4 * b);
        if (!mdl_finite_bits (u))
            return MDL_EWIRE_NONFINITE;
        if (u >> 31)
            return MDL_EWIRE_PAYLOAD; /* a scale is a max|x| >= 0 */
    }
    const unsigned tail = (unsigned) ((c->d * c->p.bits) % 8);
    if (tail && (p[len - 1] >> tail))
        return MDL_EWIRE_PAYLOAD;
    return 0;
}

/* store: y = decoded; otherwise y += alpha * decoded */
static void
s_run (const mdl_codec_t *c, const uint8_t *p, float alpha, float *y, bool store)
{
    const size_t d = c->d, B = c->p.block, nb = mdl_nblocks (d, B);
    const unsigned q = c->p.bits;
    const uint32_t s = (1u << (q - 1)) - 1u, lmask = (1u << (q - 1)) - 1u;
    const uint8_t *rd = p + 4 * nb;
    uint64_t acc = 0;
    unsigned nbits = 0;
    for (size_t b = 0; b < nb; b++) {
        const size_t lo = b * B, n = (b + 1) * B <= d ? B : d - lo;
        const float m = mdl_ldf (p + 4 * b);
        const float step = q == 1 ? m : m / (float) s;
        if (8 % q == 0) {
            /* Q = 1, 2, 4, 8: codes never straddle a byte, so element e's code sits at
               a fixed place and the loop has no carried bit-reader state */
            const uint8_t *codes = p + 4 * nb;
            const uint32_t cmask = (1u << q) - 1u;
            for (size_t i = 0; i < n; i++) {
                const size_t e = lo + i, bit = e * q;
                const uint32_t code = (codes[bit / 8] >> (bit % 8)) & cmask;
                const float mag = q == 1 ? step : (float) (code & lmask) * step;
                const float v = mdl_bitsf (mdl_fbits (mag) ^ ((code >> (q - 1)) << 31));
                if (store)
                    y[e] = v;
                else
                    y[e] += alpha * v;
            }
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            while (nbits < q) {
                acc |= (uint64_t) *rd++ << nbits;
                nbits += 8;
            }
            const uint32_t code = (uint32_t) acc & ((1u << q) - 1u);
            acc >>= q;
            nbits -= q;
            float v = q == 1 ? step : (float) (code & lmask) * step;
            if (code >> (q - 1))
                v = -v;
            if (store)
                y[lo + i] = v;
            else
                y[lo + i] += alpha * v;
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

const mdl_codec_ops_t mdl_codec_qsgd_ops = {
    .name = "qsgd",
    .id = MDL_CODEC_QSGD,
    .max_size = s_max_size,
    .encode = s_encode,
    .check = s_check,
    .decode = s_decode,
    .apply = s_apply,
};
