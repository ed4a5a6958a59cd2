/*  codec_sign.c: scaled sign, 1 bit per element plus one scale per block.

    Per block of B elements: s = mean |x| (the l1-norm over n, as in EF-SignSGD,
    Karimireddy et al., ICML 2019), decoded as s * sign(x), with sign(0) = +1. This s
    minimises ||x - s sign(x)||^2, which then equals ||x||^2 - ||x||_1^2 / n
    <= (1 - 1/n) ||x||^2 per block: a contraction, so error feedback converges.

    Payload: nb = ceil(d/B) fp32 scales, then ceil(d/8) bytes of sign bits (LSB first,
    1 = negative), unused high bits of the last byte zero. */
#include "codec_impl.h"

#include <math.h>

static size_t
s_max_size (const mdl_codec_t *c)
{
    return 4 * mdl_nblocks (c->d, c->p.block) + (c->d + 7) / 8;
}

static int
s_encode (mdl_codec_t *c, const float *x, uint8_t *out, size_t *len, mdl_rng_t *rng)
{
    const size_t d = c->d, B = c->p.block, nb = mdl_nblocks (d, B);
    uint8_t *bits = out + 4 * nb;
    for (size_t b = 0; b < nb; b++) {
        const size_t lo = b * B, n = (b + 1) * B <= d ? B : d - lo;
        double sum = 0.0;
        for (size_t i = 0; i < n; i++)
            sum += fabsf (x[lo + i]);
        mdl_stf (out + 4 * b, (float) (sum / (double) n));
    }
    /* sign bits in whole bytes: 8 elements per byte regardless of block bounds */
    size_t i = 0;
    for (; i + 8 <= d; i += 8) {
        unsigned v = 0;
        for (unsigned j = 0; j < 8; j++)
            v |= (unsigned) (x[i + j] < 0.0f) << j;
        bits[i / 8] = (uint8_t) v;
    }
    if (i < d) {
        unsigned v = 0;
        for (unsigned j = 0; i + j < d; j++)
            v |= (unsigned) (x[i + j] < 0.0f) << j;
        bits[i / 8] = (uint8_t) v;
    }
    *len = s_max_size (c);
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
            return MDL_EWIRE_PAYLOAD;
    }
    if ((c->d & 7) && (p[len - 1] >> (c->d & 7)))
        return MDL_EWIRE_PAYLOAD;
    return 0;
}

static void
s_run (const mdl_codec_t *c, const uint8_t *p, float alpha, float *y, bool store)
{
    const size_t d = c->d, B = c->p.block, nb = mdl_nblocks (d, B);
    const uint8_t *bits = p + 4 * nb;
    for (size_t b = 0; b < nb; b++) {
        const size_t lo = b * B, n = (b + 1) * B <= d ? B : d - lo;
        const uint32_t sb = mdl_ld32 (p + 4 * b);
        /* decoded value: s with its sign bit flipped by the code bit */
        if (store)
            for (size_t i = lo; i < lo + n; i++)
                y[i] = mdl_bitsf (sb ^ ((uint32_t) (bits[i / 8] >> (i & 7)) << 31));
        else
            for (size_t i = lo; i < lo + n; i++)
                y[i] += alpha * mdl_bitsf (sb ^ ((uint32_t) (bits[i / 8] >> (i & 7)) << 31));
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

const mdl_codec_ops_t mdl_codec_sign_ops = {
    .name = "sign",
    .id = MDL_CODEC_SIGN,
    .max_size = s_max_size,
    .encode = s_encode,
    .check = s_check,
    .decode = s_decode,
    .apply = s_apply,
};
