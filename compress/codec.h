/*  codec.h: codecs that shrink a float vector of length d into a byte payload.

    A codec is chosen by a spec string (see mdl_codec_help ()):
      fp32                 identity, 4 bytes/element, lossless
      fp16 | bf16          2 bytes/element, round to nearest even, saturating (a finite
                           input never becomes Inf)
      qsgd:Q[:B]           Q-bit stochastic uniform quantization (1 <= Q <= 8), unbiased,
                           scale = max|x| per bucket of B elements (default 256)
      q8[:B] | q4[:B]      deterministic min-max 8-/4-bit quantization per block of B
      sign[:B]             scaled sign: 1 bit/element + mean|x| per block of B
      topk:K               the K largest |x| (exact, ties to the lowest index); K is a count
                           (topk:1000) or a fraction of d (topk:0.01)
      randk:K[:unscaled]   K indices drawn from a 64-bit seed carried in the payload (the
                           indices themselves are not sent); values scaled by d/K so the
                           decoded vector is unbiased, unless :unscaled
      SPARSE+DENSE         values of topk/randk encoded by a dense codec, e.g. topk:0.01+q8

    Payloads are little-endian. The payload of a dense codec has one exact size for d; a
    sparse payload is: u8 index format (0 = delta varints, 1 = bitmap, whichever is
    smaller), 3 zero bytes, u32 index-section length, the index section zero-padded to a
    multiple of 4, then the values codec's payload for K values. A random-k payload is the
    u64 index seed followed by the values codec's payload.

    A codec object holds scratch sized at creation: encode, decode and apply never
    allocate. One codec object must be used by one thread at a time. */
#ifndef MDL_CODEC_H
#define MDL_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rng.h"

typedef struct mdl_codec_t mdl_codec_t;

/* Numeric codec ids, as carried in the wire header. Never renumber. */
typedef enum {
    MDL_CODEC_FP32 = 1,
    MDL_CODEC_FP16 = 2,
    MDL_CODEC_BF16 = 3,
    MDL_CODEC_QSGD = 4,
    MDL_CODEC_Q8 = 5,
    MDL_CODEC_Q4 = 6,
    MDL_CODEC_SIGN = 7,
    MDL_CODEC_TOPK = 8,
    MDL_CODEC_RANDK = 9,
} mdl_codec_id_t;

#define MDL_CODEC_UNSCALED 1u /* params.flags: random-k values not scaled by d/k */

/* Everything a receiver must agree on to decode a payload; the wire header carries it
   and the receiver compares it field by field with its own codec's. */
typedef struct {
    uint32_t id;     /* mdl_codec_id_t */
    uint32_t bits;   /* qsgd: Q; 0 otherwise */
    uint32_t block;  /* bucket/block size of qsgd, q8, q4, sign; 0 otherwise */
    uint64_t k;      /* sparse codecs: number of entries, resolved for d; 0 otherwise */
    uint32_t vid;    /* sparse codecs: values codec id (MDL_CODEC_FP32 when none given) */
    uint32_t vbits;  /* values codec Q */
    uint32_t vblock; /* values codec block size */
    uint32_t flags;  /* MDL_CODEC_UNSCALED */
} mdl_codec_params_t;

/* Largest d a codec accepts (sparse indices are 32-bit). */
#define MDL_CODEC_MAX_D ((size_t) UINT32_MAX)

/* Static text listing the valid spec forms, for error messages. Never NULL. */
const char *mdl_codec_help (void);

/* Checks spec without building a codec. Returns 0 or MDL_ECODEC. */
int mdl_codec_check_spec (const char *spec);

/* Builds the codec for spec over vectors of length d; seed seeds the codec's own random
   stream (used when encode is given no rng). Returns NULL and sets *err to MDL_ECODEC
   (spec does not parse), MDL_ERANGE (d > MDL_CODEC_MAX_D) or MDL_ENOMEM.
   Caller owns the return value and must destroy it. */
mdl_codec_t *mdl_codec_new (const char *spec, size_t d, uint64_t seed, int *err);

/* Destroys *self and sets it to NULL; safe on NULL and twice. */
void mdl_codec_destroy (mdl_codec_t **self);

/* Canonical short name with parameters resolved for d (e.g. "topk:1000+q8:256"). */
const char *mdl_codec_name (const mdl_codec_t *self);
size_t mdl_codec_dim (const mdl_codec_t *self);
void mdl_codec_params (const mdl_codec_t *self, mdl_codec_params_t *params);
bool mdl_codec_is_sparse (const mdl_codec_t *self);
bool mdl_codec_is_lossless (const mdl_codec_t *self);

/* Upper bound on the payload size for this codec's d (exact for dense codecs). */
size_t mdl_codec_max_size (const mdl_codec_t *self);

/* Encodes x (d floats, expected finite: encoders do not check, receivers do) into out,
   which holds cap >= mdl_codec_max_size () bytes; sets *len. rng supplies stochastic
   codecs' randomness; NULL uses the codec's own stream. Returns 0, MDL_EINVAL (cap too
   small) or MDL_ERANGE (a q8/q4 block spans more than FLT_MAX); out is then undefined. */
int mdl_codec_encode (mdl_codec_t *self, const float *x, void *out, size_t cap,
                      size_t *len, mdl_rng_t *rng);

/* Validates an untrusted payload completely (length, index ranges and order, scales,
   NaN/Inf). Returns 0 or MDL_EWIRE_LENGTH / _INDEX / _NONFINITE / _PAYLOAD. */
int mdl_codec_check (mdl_codec_t *self, const void *payload, size_t len);

/* Validates payload, then writes the decoded vector to y (d floats). On error y is
   untouched and the code of mdl_codec_check is returned. */
int mdl_codec_decode (mdl_codec_t *self, const void *payload, size_t len, float *y);

/* The decoded vector without decoding, when the payload already is it (fp32 on a
   little-endian host, the payload aligned for floats): decoding would only copy it.
   NULL otherwise (decode it). Check the payload first (mdl_codec_check). */
const float *mdl_codec_view (const mdl_codec_t *self, const void *payload, size_t len);

/* Validates payload, then y += alpha * decoded, without a dense temporary (sparse codecs
   touch only their k entries). On error y is untouched. */
int mdl_codec_apply (mdl_codec_t *self, const void *payload, size_t len, float alpha,
                     float *y);

/* Sparse codecs only: validates payload and returns its entries as views into the
   codec's scratch (valid until the next call on self): nnz strictly increasing indices
   and their decoded values. Returns MDL_ENOTSUP for dense codecs, or a check error. */
int mdl_codec_decode_sparse (mdl_codec_t *self, const void *payload, size_t len,
                             const uint32_t **idx, const float **val, size_t *nnz);

#endif
