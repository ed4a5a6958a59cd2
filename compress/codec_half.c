/*  codec_half.c: fp16 (IEEE binary16) and bf16 (bfloat16), 2 bytes/element.

    Both round to nearest even. Both saturate: a finite input larger than the format's
    largest finite value becomes that value, not Inf, so that a legal vector never
    produces a payload the receiver must reject (relative error stays within 2^-11 for
    fp16 normals, 2^-8 for bf16, except for fp16 beyond 65504). Inf and NaN inputs map
    to Inf and NaN, which receivers reject. Bit tricks after F. Giesen, "float->half
    variants" (2016): branch-light, no FPU mode dependence beyond the default rounding. */
#include "codec_impl.h"

static inline uint16_t
s_f2h (float f)
{
    uint32_t u = mdl_fbits (f);
    const uint32_t sign = u & 0x80000000u;
    u ^= sign;
    uint32_t o;
    if (u >= 0x7f800000u)
        o = u > 0x7f800000u ? 0x7e00u : 0x7c00u; /* NaN -> qNaN, Inf -> Inf */
    else if (u >= ((127u + 16u) << 23))
        o = 0x7bffu; /* >= 65536: saturate */
    else if (u < (113u << 23)) {
        /* result is subnormal or zero: let the FPU round by adding a magic number whose
           ulp is exactly the fp16 subnormal step */
        const float magic = mdl_bitsf (((127u - 15u) + (23u - 10u) + 1u) << 23);
        o = mdl_fbits (mdl_bitsf (u) + magic) - mdl_fbits (magic);
    } else {
        const uint32_t odd = (u >> 13) & 1u;
        u += ((uint32_t) (15 - 127) << 23) + 0xfffu + odd;
        o = u >> 13;
        if (o > 0x7bffu)
            o = 0x7bffu; /* [65520, 65536) rounds to Inf: saturate */
    }
    return (uint16_t) (o | (sign >> 16));
}

static inline float
s_h2f (uint16_t h)
{
    const float magic = mdl_bitsf (113u << 23);
    const uint32_t shexp = 0x7c00u << 13;
    uint32_t o = ((uint32_t) h & 0x7fffu) << 13;
    const uint32_t exp = shexp & o;
    o += (127u - 15u) << 23;
    if (exp == shexp)
        o += (128u - 16u) << 23; /* Inf/NaN (rejected by check before decode) */
    else if (exp == 0) {
        o += 1u << 23; /* subnormal: renormalise through the FPU */
        o = mdl_fbits (mdl_bitsf (o) - magic);
    }
    return mdl_bitsf (o | (((uint32_t) h & 0x8000u) << 16));
}

static inline uint16_t
s_f2b (float f)
{
    uint32_t u = mdl_fbits (f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t) ((u >> 16) | 0x40u); /* NaN stays a (quiet) NaN */
    if ((u & 0x7fffffffu) == 0x7f800000u)
        return (uint16_t) (u >> 16);
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    if ((r & 0x7f80u) == 0x7f80u)
        r = (r & 0x8000u) | 0x7f7fu; /* rounded up past the largest finite: saturate */
    return (uint16_t) r;
}

static inline float
s_b2f (uint16_t b)
{
    return mdl_bitsf ((uint32_t) b << 16);
}

static size_t
s_max_size (const mdl_codec_t *c)
{
    return c->d * 2;
}

static int
s_encode_fp16 (mdl_codec_t *c, const float *x, uint8_t *out, size_t *len, mdl_rng_t *rng)
{
    for (size_t i = 0; i < c->d; i++) {
        uint16_t h = s_f2h (x[i]);
        memcpy (out + 2 * i, &h, 2);
    }
    *len = c->d * 2;
    return 0;
}

static int
s_encode_bf16 (mdl_codec_t *c, const float *x, uint8_t *out, size_t *len, mdl_rng_t *rng)
{
    for (size_t i = 0; i < c->d; i++) {
        uint16_t h = s_f2b (x[i]);
        memcpy (out + 2 * i, &h, 2);
    }
    *len = c->d * 2;
    return 0;
}

static inline uint16_t
s_ld16 (const uint8_t *p)
{
    uint16_t v;
    memcpy (&v, p, 2);
    return v;
}

static int
s_check_exp (const mdl_codec_t *c, const uint8_t *p, size_t len, uint16_t expmask)
{
    if (len != c->d * 2)
        return MDL_EWIRE_LENGTH;
    uint32_t bad = 0;
    for (size_t i = 0; i < c->d; i++)
        bad |= (uint32_t) ((s_ld16 (p + 2 * i) & expmask) == expmask);
    return bad ? MDL_EWIRE_NONFINITE : 0;
}

static int
s_check_fp16 (mdl_codec_t *c, const uint8_t *p, size_t len)
{
    return s_check_exp (c, p, len, 0x7c00u);
}

static int
s_check_bf16 (mdl_codec_t *c, const uint8_t *p, size_t len)
{
    return s_check_exp (c, p, len, 0x7f80u);
}

static void
s_decode_fp16 (const mdl_codec_t *c, const uint8_t *p, float *y)
{
    for (size_t i = 0; i < c->d; i++)
        y[i] = s_h2f (s_ld16 (p + 2 * i));
}

static void
s_apply_fp16 (const mdl_codec_t *c, const uint8_t *p, float alpha, float *y)
{
    for (size_t i = 0; i < c->d; i++)
        y[i] += alpha * s_h2f (s_ld16 (p + 2 * i));
}

static void
s_decode_bf16 (const mdl_codec_t *c, const uint8_t *p, float *y)
{
    for (size_t i = 0; i < c->d; i++)
        y[i] = s_b2f (s_ld16 (p + 2 * i));
}

static void
s_apply_bf16 (const mdl_codec_t *c, const uint8_t *p, float alpha, float *y)
{
    for (size_t i = 0; i < c->d; i++)
        y[i] += alpha * s_b2f (s_ld16 (p + 2 * i));
}

const mdl_codec_ops_t mdl_codec_fp16_ops = {
    .name = "fp16",
    .id = MDL_CODEC_FP16,
    .max_size = s_max_size,
    .encode = s_encode_fp16,
    .check = s_check_fp16,
    .decode = s_decode_fp16,
    .apply = s_apply_fp16,
};

const mdl_codec_ops_t mdl_codec_bf16_ops = {
    .name = "bf16",
    .id = MDL_CODEC_BF16,
    .max_size = s_max_size,
    .encode = s_encode_bf16,
    .check = s_check_bf16,
    .decode = s_decode_bf16,
    .apply = s_apply_bf16,
};
