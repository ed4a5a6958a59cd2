/*  ef.c: error feedback (see ef.h). */
#include "ef.h"

#include <stdlib.h>

#include "err.h"
#include "mem.h"
#include "vec.h"

struct mdl_ef_t {
    size_t d;
    float *e; /* (d) residual */
};

mdl_ef_t *
mdl_ef_new (size_t d, int *err)
{
    mdl_ef_t *self = calloc (1, sizeof *self);
    if (!self)
        goto err;
    self->d = d;
    self->e = mdl_mem_zeroed (d * sizeof *self->e); /* read first: mem.h */
    if (!self->e)
        goto err;
    if (err)
        *err = 0;
    return self;
err:
    mdl_ef_destroy (&self);
    if (err)
        *err = MDL_ENOMEM;
    return NULL;
}

void
mdl_ef_destroy (mdl_ef_t **self)
{
    if (!self || !*self)
        return;
    free ((*self)->e);
    free (*self);
    *self = NULL;
}

int
mdl_ef_compress (mdl_ef_t *self, mdl_codec_t *codec, const float *x, void *out,
                 size_t cap, size_t *len, mdl_rng_t *rng)
{
    if (mdl_codec_dim (codec) != self->d || cap < mdl_codec_max_size (codec))
        return MDL_EINVAL;
    float *e = self->e;
    /* v = x + e, held in e */
    mdl_vec_axpy (e, 1.0f, x, self->d);
    int rc = mdl_codec_encode (codec, e, out, cap, len, rng);
    if (rc)
        return rc;
    /* e = v - C(v): the payload is decoded exactly as the receiver will decode it, and
       for sparse codecs only the k sent entries are touched */
    return mdl_codec_apply (codec, out, *len, -1.0f, e);
}

const float *
mdl_ef_residual (const mdl_ef_t *self)
{
    return self->e;
}

void
mdl_ef_reset (mdl_ef_t *self)
{
    mdl_vec_zero (self->e, self->d);
}
