/*  codec_impl.h: what a codec implementation sees (private to compress/).

    A codec is a table of operations (one file per codec) plus an object holding its
    parameters and scratch. Adding a codec is one new file and one line in codec.c. */
#ifndef MDL_CODEC_IMPL_H
#define MDL_CODEC_IMPL_H

#include <stdint.h>
#include <string.h>

#include "codec.h"
#include "err.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "meshdl payloads are little-endian; this host needs byte swaps in compress/"
#endif

typedef struct {
    const char *name;
    mdl_codec_id_t id;
    bool sparse;
    bool lossless;
    /* Allocates scratch once d and params are known; 0 or MDL_ENOMEM. May be NULL. */
    int (*init) (mdl_codec_t *c);
    void (*fini) (mdl_codec_t *c);
    /* Exact payload size for dense codecs, an upper bound for sparse ones. */
    size_t (*max_size) (const mdl_codec_t *c);
    /* out holds max_size bytes. */
    int (*encode) (mdl_codec_t *c, const float *x, uint8_t *out, size_t *len,
                   mdl_rng_t *rng);
    /* Full validation of untrusted bytes. Sparse codecs also leave the k decoded
       entries in c->idx / c->val, which the generic sparse decode/apply then use. */
    int (*check) (mdl_codec_t *c, const uint8_t *p, size_t len);
    /* Dense codecs only, and only after check returned 0. */
    void (*decode) (const mdl_codec_t *c, const uint8_t *p, float *y);
    void (*apply) (const mdl_codec_t *c, const uint8_t *p, float alpha, float *y);
} mdl_codec_ops_t;

struct mdl_codec_t {
    const mdl_codec_ops_t *ops;
    size_t d;
    mdl_codec_params_t p;
    mdl_rng_t rng;         /* used when encode gets rng == NULL */
    char name[128];
    /* sparse codecs */
    size_t k;              /* entries per payload, min (k, d) */
    mdl_codec_t *values;   /* dense codec over the k values */
    uint32_t *idx;         /* (k) */
    float *val;            /* (k) */
    void *state;           /* codec-specific scratch */
};

extern const mdl_codec_ops_t mdl_codec_fp32_ops, mdl_codec_fp16_ops, mdl_codec_bf16_ops,
    mdl_codec_qsgd_ops, mdl_codec_q8_ops, mdl_codec_q4_ops, mdl_codec_sign_ops,
    mdl_codec_topk_ops, mdl_codec_randk_ops;

/* Shared by topk and randk (codec_sparse.c). */
size_t mdl_sparse_index_max (size_t d, size_t k);
/* Writes the index section for c->idx[0..k) at out (8-byte section header included);
   returns the bytes written, padded to 4. */
size_t mdl_sparse_index_encode (const mdl_codec_t *c, uint8_t *out);
/* Parses the index section into c->idx; sets *used to its padded size. */
int mdl_sparse_index_check (mdl_codec_t *c, const uint8_t *p, size_t len, size_t *used);
/* Encodes/validates+decodes the values c->val[0..k) with the values codec. */
int mdl_sparse_values_encode (mdl_codec_t *c, uint8_t *out, size_t *len, mdl_rng_t *rng);
int mdl_sparse_values_check (mdl_codec_t *c, const uint8_t *p, size_t len);

static inline uint32_t
mdl_ld32 (const uint8_t *p)
{
    uint32_t v;
    memcpy (&v, p, 4);
    return v;
}
static inline void
mdl_st32 (uint8_t *p, uint32_t v)
{
    memcpy (p, &v, 4);
}
static inline uint64_t
mdl_ld64 (const uint8_t *p)
{
    uint64_t v;
    memcpy (&v, p, 8);
    return v;
}
static inline void
mdl_st64 (uint8_t *p, uint64_t v)
{
    memcpy (p, &v, 8);
}
static inline float
mdl_ldf (const uint8_t *p)
{
    float v;
    memcpy (&v, p, 4);
    return v;
}
static inline void
mdl_stf (uint8_t *p, float v)
{
    memcpy (p, &v, 4);
}
static inline uint32_t
mdl_fbits (float f)
{
    uint32_t u;
    memcpy (&u, &f, 4);
    return u;
}
static inline float
mdl_bitsf (uint32_t u)
{
    float f;
    memcpy (&f, &u, 4);
    return f;
}
/* A float is finite iff its exponent is not all ones; integer test, immune to
   compiler flags that assume finite math. */
static inline bool
mdl_finite_bits (uint32_t u)
{
    return (u & 0x7f800000u) != 0x7f800000u;
}
static inline size_t
mdl_nblocks (size_t d, size_t b)
{
    return d / b + (d % b != 0);
}

#endif
