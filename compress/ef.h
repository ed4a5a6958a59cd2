/*  ef.h: error feedback, so that what a lossy codec drops is sent later, not lost.

    Holds a residual e (d floats, initially 0). Each mdl_ef_compress (x) encodes
    v = x + e and keeps e <- v - C(v), computed as float operations on e itself, so that
    after any number of steps  sum(decoded payloads) + e = sum(inputs)  up to float
    rounding (Seide et al. 2014; Karimireddy et al. 2019, "EF-SGD"). Works with any
    codec; for unbiased scaled codecs (qsgd, scaled randk) it is unnecessary. */
#ifndef MDL_EF_H
#define MDL_EF_H

#include <stddef.h>

#include "codec.h"

typedef struct mdl_ef_t mdl_ef_t;

/* New residual of d zeros. NULL + *err = MDL_ENOMEM. Caller owns and destroys it. */
mdl_ef_t *mdl_ef_new (size_t d, int *err);

/* Destroys *self and sets it to NULL; safe on NULL and twice. */
void mdl_ef_destroy (mdl_ef_t **self);

/* Encodes x + e with codec (whose d must equal the residual's) into out (cap >=
   mdl_codec_max_size) and updates e. Returns 0, MDL_EINVAL (d mismatch, cap too
   small), MDL_ERANGE, or a check error (MDL_EWIRE_NONFINITE when x + e is not finite).
   On error e holds x + e (nothing is lost; reset it to discard). */
int mdl_ef_compress (mdl_ef_t *self, mdl_codec_t *codec, const float *x, void *out,
                     size_t cap, size_t *len, mdl_rng_t *rng);

/* The residual e (d floats), owned by self. */
const float *mdl_ef_residual (const mdl_ef_t *self);

/* Sets e to 0 (e.g. after a keyframe). */
void mdl_ef_reset (mdl_ef_t *self);

#endif
