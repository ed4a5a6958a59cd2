/*  codec_identity.c: fp32, the raw vector (4 bytes/element, lossless). */
#include "codec_impl.h"

static size_t
s_max_size (const mdl_codec_t *c)
{
    return c->d * 4;
}

static int
s_encode (mdl_codec_t *c, const float *x, uint8_t *out, size_t *len, mdl_rng_t *rng)
{
    if (c->d)
        memcpy (out, x, c->d * 4);
    *len = c->d * 4;
    return 0;
}

static int
s_check (mdl_codec_t *c, const uint8_t *p, size_t len)
{
    if (len != c->d * 4)
        return MDL_EWIRE_LENGTH;
    /* AND of "exponent not all ones" over the whole payload: branch-free so it runs
       at memory speed. */
    uint32_t bad = 0;
    for (size_t i = 0; i < c->d; i++)
        bad |= (uint32_t) ((mdl_ld32 (p + 4 * i) & 0x7f800000u) == 0x7f800000u);
    return bad ? MDL_EWIRE_NONFINITE : 0;
}

static void
s_decode (const mdl_codec_t *c, const uint8_t *p, float *y)
{
    if (c->d)
        memcpy (y, p, c->d * 4);
}

static void
s_apply (const mdl_codec_t *c, const uint8_t *p, float alpha, float *y)
{
    for (size_t i = 0; i < c->d; i++)
        y[i] += alpha * mdl_ldf (p + 4 * i);
}

const mdl_codec_ops_t mdl_codec_fp32_ops = {
    .name = "fp32",
    .id = MDL_CODEC_FP32,
    .lossless = true,
    .max_size = s_max_size,
    .encode = s_encode,
    .check = s_check,
    .decode = s_decode,
    .apply = s_apply,
};
