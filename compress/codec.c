/*  codec.c: the codec registry, the spec parser and the dispatch through the ops table. */
#include "codec_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* One line per codec: adding a codec is a new file and one entry here. */
static const mdl_codec_ops_t *const s_registry[] = {
    &mdl_codec_fp32_ops, &mdl_codec_fp16_ops, &mdl_codec_bf16_ops,
    &mdl_codec_qsgd_ops, &mdl_codec_q8_ops,   &mdl_codec_q4_ops,
    &mdl_codec_sign_ops, &mdl_codec_topk_ops, &mdl_codec_randk_ops,
};

#define S_DEFAULT_BLOCK 256u
#define S_MAX_BLOCK (1u << 24)

static const char s_help[] =
    "valid codecs: fp32 | fp16 | bf16 | qsgd:Q[:B] (Q = 1..8 bits) | q8[:B] | q4[:B] | "
    "sign[:B] | topk:K | randk:K[:unscaled] | topk:K+DENSE | randk:K+DENSE, where B is a "
    "block size (1..16777216, default 256), K a count >= 1 (topk:1000) or a fraction in "
    "(0, 1] (topk:0.01), DENSE one of fp32, fp16, bf16, qsgd:Q[:B], q8[:B], q4[:B], "
    "sign[:B]; e.g. topk:0.01, randk:1000, qsgd:4, q8, sign, fp16, topk:0.01+q8";

const char *
mdl_codec_help (void)
{
    return s_help;
}

typedef struct {
    const mdl_codec_ops_t *ops;
    uint32_t bits;
    uint32_t block;
    uint64_t count; /* sparse: K as a count, or 0 */
    double frac;    /* sparse: K as a fraction, or 0 */
    uint32_t flags;
} s_part_t;

typedef struct {
    s_part_t main;
    s_part_t values;
    bool has_values;
} s_spec_t;

/* Strict unsigned decimal: digits only, no sign or blanks, value in [lo, hi]. */
static bool
s_parse_uint (const char *s, size_t n, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (n == 0 || n > 19)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t) (s[i] - '0');
    }
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* K: a count >= 1 (digits only) or a fraction in (0, 1] (has '.' or an exponent). */
static bool
s_parse_k (const char *s, size_t n, s_part_t *p)
{
    if (memchr (s, '.', n) == NULL && memchr (s, 'e', n) == NULL
        && memchr (s, 'E', n) == NULL)
        return s_parse_uint (s, n, 1, UINT32_MAX, &p->count);
    char buf[32];
    if (n == 0 || n >= sizeof buf || !((s[0] >= '0' && s[0] <= '9') || s[0] == '.'))
        return false;
    memcpy (buf, s, n);
    buf[n] = 0;
    char *end;
    double f = strtod (buf, &end);
    if (*end != 0 || !(f > 0.0 && f <= 1.0))
        return false;
    p->frac = f;
    return true;
}

/* Parses one "name[:arg[:arg]]" of length n. */
static bool
s_parse_part (const char *s, size_t n, s_part_t *p)
{
    const char *tok[3];
    size_t len[3];
    size_t ntok = 0;
    const char *start = s;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == ':') {
            if (ntok == 3)
                return false;
            tok[ntok] = start;
            len[ntok] = (size_t) (s + i - start);
            ntok++;
            start = s + i + 1;
        }
    }
    memset (p, 0, sizeof *p);
    for (size_t r = 0; r < sizeof s_registry / sizeof s_registry[0]; r++) {
        size_t ln = strlen (s_registry[r]->name);
        if (len[0] == ln && memcmp (tok[0], s_registry[r]->name, ln) == 0)
            p->ops = s_registry[r];
    }
    if (len[0] == 8 && memcmp (tok[0], "identity", 8) == 0)
        p->ops = &mdl_codec_fp32_ops;
    if (!p->ops)
        return false;
    uint64_t v;
    switch (p->ops->id) {
    case MDL_CODEC_FP32:
    case MDL_CODEC_FP16:
    case MDL_CODEC_BF16:
        return ntok == 1;
    case MDL_CODEC_QSGD:
        if (ntok < 2 || !s_parse_uint (tok[1], len[1], 1, 8, &v))
            return false;
        p->bits = (uint32_t) v;
        p->block = S_DEFAULT_BLOCK;
        if (ntok == 3) {
            if (!s_parse_uint (tok[2], len[2], 1, S_MAX_BLOCK, &v))
                return false;
            p->block = (uint32_t) v;
        }
        return true;
    case MDL_CODEC_Q8:
    case MDL_CODEC_Q4:
    case MDL_CODEC_SIGN:
        if (ntok > 2)
            return false;
        p->block = S_DEFAULT_BLOCK;
        if (ntok == 2) {
            if (!s_parse_uint (tok[1], len[1], 1, S_MAX_BLOCK, &v))
                return false;
            p->block = (uint32_t) v;
        }
        return true;
    case MDL_CODEC_TOPK:
        return ntok == 2 && s_parse_k (tok[1], len[1], p);
    case MDL_CODEC_RANDK:
        if (ntok < 2 || !s_parse_k (tok[1], len[1], p))
            return false;
        if (ntok == 3) {
            if (len[2] != 8 || memcmp (tok[2], "unscaled", 8) != 0)
                return false;
            p->flags |= MDL_CODEC_UNSCALED;
        }
        return true;
    }
    return false;
}

static int
s_parse (const char *spec, s_spec_t *out)
{
    memset (out, 0, sizeof *out);
    if (!spec)
        return MDL_ECODEC;
    size_t n = strlen (spec);
    const char *plus = memchr (spec, '+', n);
    size_t n1 = plus ? (size_t) (plus - spec) : n;
    if (!s_parse_part (spec, n1, &out->main))
        return MDL_ECODEC;
    if (plus) {
        if (!out->main.ops->sparse)
            return MDL_ECODEC;
        if (!s_parse_part (plus + 1, n - n1 - 1, &out->values) || out->values.ops->sparse)
            return MDL_ECODEC;
        out->has_values = true;
    }
    return 0;
}

int
mdl_codec_check_spec (const char *spec)
{
    s_spec_t s;
    return s_parse (spec, &s);
}

static mdl_codec_t *
s_build (const s_part_t *part, const s_part_t *vpart, size_t d, uint64_t seed, int *err)
{
    mdl_codec_t *c = calloc (1, sizeof *c);
    if (!c) {
        *err = MDL_ENOMEM;
        return NULL;
    }
    c->ops = part->ops;
    c->d = d;
    mdl_rng_seed (&c->rng, seed, 0x636f646563ULL); /* "codec" */
    c->p.id = part->ops->id;
    c->p.bits = part->bits;
    c->p.block = part->block;
    c->p.flags = part->flags;
    if (part->ops->sparse) {
        uint64_t k = part->count;
        if (part->frac > 0.0) {
            /* ceil (frac * d), forgiving the last-bit error of decimal fractions so that
               topk:0.01 of 10^7 is 10^5, not 10^5 + 1; at least 1 entry when d > 0 */
            double t = part->frac * (double) d;
            k = (uint64_t) t;
            if (t - (double) k > 1e-9 * (t > 1.0 ? t : 1.0))
                k++;
            if (k == 0 && d > 0)
                k = 1;
        }
        if (k > d)
            k = d;
        c->k = (size_t) k;
        c->p.k = k;
        static const s_part_t fp32 = { .ops = &mdl_codec_fp32_ops };
        if (!vpart)
            vpart = &fp32;
        c->values = s_build (vpart, NULL, c->k, seed ^ 0x76616c7565ULL, err);
        if (!c->values)
            goto err;
        c->p.vid = vpart->ops->id;
        c->p.vbits = vpart->bits;
        c->p.vblock = vpart->block;
        c->idx = malloc ((c->k ? c->k : 1) * sizeof *c->idx);
        c->val = malloc ((c->k ? c->k : 1) * sizeof *c->val);
        if (!c->idx || !c->val) {
            *err = MDL_ENOMEM;
            goto err;
        }
    }
    if (c->ops->init) {
        int rc = c->ops->init (c);
        if (rc) {
            *err = rc;
            goto err;
        }
    }
    switch (c->p.id) {
    case MDL_CODEC_QSGD:
        snprintf (c->name, sizeof c->name, "qsgd:%u:%u", c->p.bits, c->p.block);
        break;
    case MDL_CODEC_Q8:
    case MDL_CODEC_Q4:
    case MDL_CODEC_SIGN:
        snprintf (c->name, sizeof c->name, "%s:%u", c->ops->name, c->p.block);
        break;
    case MDL_CODEC_TOPK:
    case MDL_CODEC_RANDK:
        snprintf (c->name, sizeof c->name, "%s:%zu%s%s%.40s", c->ops->name, c->k,
                  (c->p.flags & MDL_CODEC_UNSCALED) ? ":unscaled" : "",
                  c->p.vid != MDL_CODEC_FP32 ? "+" : "",
                  c->p.vid != MDL_CODEC_FP32 ? c->values->name : "");  /* values names are short */
        break;
    default:
        snprintf (c->name, sizeof c->name, "%s", c->ops->name);
    }
    return c;
err:
    mdl_codec_destroy (&c);
    return NULL;
}

mdl_codec_t *
mdl_codec_new (const char *spec, size_t d, uint64_t seed, int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    s_spec_t s;
    *err = s_parse (spec, &s);
    if (*err)
        return NULL;
    if (d > MDL_CODEC_MAX_D) {
        *err = MDL_ERANGE;
        return NULL;
    }
    mdl_codec_t *c = s_build (&s.main, s.has_values ? &s.values : NULL, d, seed, err);
    if (c)
        *err = 0;
    return c;
}

void
mdl_codec_destroy (mdl_codec_t **self)
{
    if (!self || !*self)
        return;
    mdl_codec_t *c = *self;
    if (c->ops && c->ops->fini)
        c->ops->fini (c);
    mdl_codec_destroy (&c->values);
    free (c->idx);
    free (c->val);
    free (c);
    *self = NULL;
}

const char *
mdl_codec_name (const mdl_codec_t *self)
{
    return self->name;
}

size_t
mdl_codec_dim (const mdl_codec_t *self)
{
    return self->d;
}

void
mdl_codec_params (const mdl_codec_t *self, mdl_codec_params_t *params)
{
    *params = self->p;
}

bool
mdl_codec_is_sparse (const mdl_codec_t *self)
{
    return self->ops->sparse;
}

bool
mdl_codec_is_lossless (const mdl_codec_t *self)
{
    if (self->ops->sparse)
        return self->k == self->d && self->values->ops->lossless
               && (self->p.id == MDL_CODEC_TOPK || (self->p.flags & MDL_CODEC_UNSCALED));
    return self->ops->lossless;
}

size_t
mdl_codec_max_size (const mdl_codec_t *self)
{
    return self->ops->max_size (self);
}

int
mdl_codec_encode (mdl_codec_t *self, const float *x, void *out, size_t cap, size_t *len,
                  mdl_rng_t *rng)
{
    if (cap < self->ops->max_size (self))
        return MDL_EINVAL;
    return self->ops->encode (self, x, out, len, rng ? rng : &self->rng);
}

int
mdl_codec_check (mdl_codec_t *self, const void *payload, size_t len)
{
    if (!payload && len)
        return MDL_EWIRE_LENGTH;
    return self->ops->check (self, payload ? payload : (const void *) "", len);
}

int
mdl_codec_decode (mdl_codec_t *self, const void *payload, size_t len, float *y)
{
    int rc = mdl_codec_check (self, payload, len);
    if (rc)
        return rc;
    if (self->ops->sparse) {
        memset (y, 0, self->d * sizeof *y);
        for (size_t j = 0; j < self->k; j++)
            y[self->idx[j]] = self->val[j];
    } else
        self->ops->decode (self, payload, y);
    return 0;
}

const float *
mdl_codec_view (const mdl_codec_t *self, const void *payload, size_t len)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* fp32's wire form is the floats, little-endian (codec_identity.c) */
    if (self->ops->id == MDL_CODEC_FP32 && len == self->d * sizeof (float) && self->d
        && (uintptr_t) payload % _Alignof (float) == 0)
        return payload;
#endif
    (void) self, (void) payload, (void) len;
    return NULL;
}

int
mdl_codec_apply (mdl_codec_t *self, const void *payload, size_t len, float alpha,
                 float *y)
{
    int rc = mdl_codec_check (self, payload, len);
    if (rc)
        return rc;
    if (self->ops->sparse) {
        const uint32_t *idx = self->idx;
        const float *val = self->val;
        for (size_t j = 0; j < self->k; j++)
            y[idx[j]] += alpha * val[j];
    } else
        self->ops->apply (self, payload, alpha, y);
    return 0;
}

int
mdl_codec_decode_sparse (mdl_codec_t *self, const void *payload, size_t len,
                         const uint32_t **idx, const float **val, size_t *nnz)
{
    if (!self->ops->sparse)
        return MDL_ENOTSUP;
    int rc = mdl_codec_check (self, payload, len);
    if (rc)
        return rc;
    *idx = self->idx;
    *val = self->val;
    *nnz = self->k;
    return 0;
}
