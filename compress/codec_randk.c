/*  codec_randk.c: random-k, k indices drawn uniformly without replacement.

    The indices are not sent: the payload starts with a 64-bit seed from which sender
    and receiver draw the same k-subset (Floyd's algorithm, O(k) draws, on a bitmap of d
    bits that also yields the indices sorted in O(d/64)). Values are scaled by d/k, so
    E[decoded] = x (each index is kept with probability k/d), unless :unscaled, the
    form to use with error feedback (it is then a contraction: E||x - C(x)||^2 =
    (1 - k/d) ||x||^2). Payload: u64 seed, then the values codec's payload. */
#include "codec_impl.h"

#include <stdlib.h>

static size_t
s_max_size (const mdl_codec_t *c)
{
    return 8 + c->values->ops->max_size (c->values);
}

static int
s_init (mdl_codec_t *c)
{
    c->state = calloc (c->d / 64 + 1, sizeof (uint64_t));
    return c->state ? 0 : MDL_ENOMEM;
}

static void
s_fini (mdl_codec_t *c)
{
    free (c->state);
    c->state = NULL;
}

/* Fills c->idx with the k sorted indices drawn from seed. */
static void
s_indices (mdl_codec_t *c, uint64_t seed)
{
    uint64_t *bm = c->state;
    const size_t d = c->d, k = c->k, nw = d / 64 + 1;
    if (k == 0)
        return;
    memset (bm, 0, nw * sizeof *bm);
    mdl_rng_t r;
    mdl_rng_seed (&r, seed, 0x72616e646bULL); /* "randk" */
    for (size_t j = d - k; j < d; j++) {
        size_t t = (size_t) mdl_rng_below (&r, (uint64_t) j + 1);
        if ((bm[t / 64] >> (t & 63)) & 1u)
            t = j;
        bm[t / 64] |= 1ULL << (t & 63);
    }
    size_t o = 0;
    for (size_t w = 0; w < nw; w++)
        for (uint64_t b = bm[w]; b; b &= b - 1)
            c->idx[o++] = (uint32_t) (64 * w + (size_t) __builtin_ctzll (b));
}

static int
s_encode (mdl_codec_t *c, const float *x, uint8_t *out, size_t *len, mdl_rng_t *rng)
{
    const uint64_t seed = mdl_rng_u64 (rng);
    s_indices (c, seed);
    const float scale = (c->p.flags & MDL_CODEC_UNSCALED) || c->k == 0
                            ? 1.0f
                            : (float) ((double) c->d / (double) c->k);
    for (size_t j = 0; j < c->k; j++)
        c->val[j] = x[c->idx[j]] * scale;
    mdl_st64 (out, seed);
    size_t vlen;
    int rc = mdl_sparse_values_encode (c, out + 8, &vlen, rng);
    *len = 8 + vlen;
    return rc;
}

static int
s_check (mdl_codec_t *c, const uint8_t *p, size_t len)
{
    if (len < 8)
        return MDL_EWIRE_LENGTH;
    /* values first: their check is cheap and needs no index */
    int rc = mdl_sparse_values_check (c, p + 8, len - 8);
    if (rc)
        return rc;
    s_indices (c, mdl_ld64 (p));
    return 0;
}

const mdl_codec_ops_t mdl_codec_randk_ops = {
    .name = "randk",
    .id = MDL_CODEC_RANDK,
    .sparse = true,
    .init = s_init,
    .fini = s_fini,
    .max_size = s_max_size,
    .encode = s_encode,
    .check = s_check,
};
