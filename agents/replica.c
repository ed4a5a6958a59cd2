/*  replica.c: a peer's public copy in two pooled buffers (replica.h). */
#include "replica.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "vec.h"

struct mdl_replica_t {
    size_t d;
    mdl_blobpool_t *pool; /* buffers of d floats; the mailbox's references return here */
    mdl_blob_t *buf[2];   /* ours (one reference each); NULL: none */
    int cur;              /* buf[cur]: the newest version, when have */
    bool have;
    bool behind; /* buf[!cur] + the last delta == buf[cur], bit for bit */
    /* the delta that made buf[cur]: a sparse codec's entries, as decoded (no second
       validation, no second decode), or a dense codec's payload */
    bool sparse;
    uint32_t *kidx;
    float *kval;
    size_t knnz, kcap;
    uint8_t *last;
    size_t last_len, last_cap;
    uint64_t copied, advanced;
};

mdl_replica_t *
mdl_replica_new (size_t d, int *err)
{
    int rc = MDL_EINVAL;
    mdl_replica_t *self = NULL;
    if (d == 0 || d > SIZE_MAX / sizeof (float))
        goto fail;
    rc = MDL_ENOMEM;
    if (!(self = calloc (1, sizeof *self)))
        goto fail;
    self->d = d;
    if (!(self->pool = mdl_blobpool_new (d * sizeof (float), &rc)))
        goto fail;
    if (err)
        *err = MDL_OK;
    return self;
fail:
    mdl_replica_destroy (&self);
    if (err)
        *err = rc;
    return NULL;
}

static void
s_drop (mdl_replica_t *self, int k)
{
    if (self->buf[k])
        mdl_blob_unref (self->buf[k]);
    self->buf[k] = NULL;
}

void
mdl_replica_destroy (mdl_replica_t **pself)
{
    if (!pself || !*pself)
        return;
    mdl_replica_t *self = *pself;
    s_drop (self, 0);
    s_drop (self, 1);
    mdl_blobpool_destroy (&self->pool); /* freed by the last reference out, if any */
    free (self->kidx);
    free (self->kval);
    free (self->last);
    free (self);
    *pself = NULL;
}

/* buf[k] as a buffer only we hold (ours kept if so, else a fresh one). 0 or MDL_ENOMEM;
   *fresh says whether its contents are unrelated to what it held. */
static int
s_own (mdl_replica_t *self, int k, bool *fresh)
{
    *fresh = false;
    if (self->buf[k] && mdl_blob_sole (self->buf[k]))
        return 0;
    s_drop (self, k); /* the mailbox's reference keeps it alive until it lets go */
    *fresh = true;
    if (!(self->buf[k] = mdl_blob_take (self->pool)))
        return MDL_ENOMEM;
    mdl_blob_set_len (self->buf[k], self->d * sizeof (float));
    return 0;
}

int
mdl_replica_reset (mdl_replica_t *self, mdl_codec_t *codec, const void *payload, size_t len)
{
    const int o = self->have ? !self->cur : self->cur;
    bool fresh;
    int rc = s_own (self, o, &fresh);
    if (rc == 0)
        rc = mdl_codec_decode (codec, payload, len, mdl_blob_data (self->buf[o]));
    self->behind = false; /* nothing relates the two versions by a delta */
    self->have = rc == 0;
    if (rc == 0)
        self->cur = o;
    return rc;
}

/* y += a sparse delta's entries, as mdl_codec_apply adds them (alpha 1: the same
   floats). */
static void
s_add (float *y, const uint32_t *idx, const float *val, size_t nnz)
{
    const float alpha = 1.0f;
    for (size_t j = 0; j < nnz; j++)
        y[idx[j]] += alpha * val[j];
}

/* Keeps the delta just applied, for bringing the other buffer forward next time. false
   when there is no room for it (the next advance then copies). */
static bool
s_keep (mdl_replica_t *self, bool sparse, const uint32_t *idx, const float *val, size_t nnz, const void *payload,
        size_t len)
{
    self->sparse = sparse;
    if (sparse) {
        if (nnz > self->kcap) {
            uint32_t *i2 = realloc (self->kidx, nnz * sizeof *i2);
            if (i2)
                self->kidx = i2;
            float *v2 = i2 ? realloc (self->kval, nnz * sizeof *v2) : NULL;
            if (!v2)
                return false;
            self->kval = v2;
            self->kcap = nnz;
        }
        if (nnz) {
            memcpy (self->kidx, idx, nnz * sizeof *idx);
            memcpy (self->kval, val, nnz * sizeof *val);
        }
        self->knnz = nnz;
        return true;
    }
    if (len > self->last_cap) {
        uint8_t *p = realloc (self->last, len);
        if (!p)
            return false;
        self->last = p;
        self->last_cap = len;
    }
    if (len)
        memcpy (self->last, payload, len);
    self->last_len = len;
    return true;
}

int
mdl_replica_advance (mdl_replica_t *self, mdl_codec_t *codec, const void *payload, size_t len)
{
    if (!self->have)
        return MDL_EINVAL;
    /* A sparse delta is validated and decoded once, before anything is written. */
    const bool sparse = mdl_codec_is_sparse (codec);
    const uint32_t *idx = NULL;
    const float *val = NULL;
    size_t nnz = 0;
    int rc = sparse ? mdl_codec_decode_sparse (codec, payload, len, &idx, &val, &nnz) : 0;
    const int o = !self->cur;
    bool fresh = false;
    if (rc == 0)
        rc = s_own (self, o, &fresh);
    float *y = rc == 0 ? mdl_blob_data (self->buf[o]) : NULL;
    if (rc == 0 && (fresh || !self->behind)) {
        mdl_vec_copy (y, mdl_blob_data (self->buf[self->cur]), self->d);
        self->copied++;
    } else if (rc == 0 && self->sparse) /* the older version: the last delta first, as then */
        s_add (y, self->kidx, self->kval, self->knnz);
    else if (rc == 0)
        rc = mdl_codec_apply (codec, self->last, self->last_len, 1.0f, y);
    if (rc == 0 && sparse)
        s_add (y, idx, val, nnz);
    else if (rc == 0)
        rc = mdl_codec_apply (codec, payload, len, 1.0f, y);
    if (rc) {
        self->have = self->behind = false;
        return rc;
    }
    self->advanced++;
    self->cur = o;
    self->behind = s_keep (self, sparse, idx, val, nnz, payload, len);
    return 0;
}

const float *
mdl_replica_newest (const mdl_replica_t *self)
{
    return self->have ? mdl_blob_data (self->buf[self->cur]) : NULL;
}

mdl_blob_t *
mdl_replica_blob (mdl_replica_t *self)
{
    return self->have ? self->buf[self->cur] : NULL;
}

const float *
mdl_replica_spare (const mdl_replica_t *self)
{
    mdl_blob_t *b = self->have ? self->buf[!self->cur] : NULL;
    return b ? mdl_blob_data (b) : NULL;
}

size_t
mdl_replica_bytes (const mdl_replica_t *self)
{
    size_t n = 0;
    for (int k = 0; k < 2; k++)
        n += self->buf[k] && mdl_blob_sole (self->buf[k]);
    return n * self->d * sizeof (float);
}

void
mdl_replica_counts (const mdl_replica_t *self, uint64_t *copied, uint64_t *advanced)
{
    if (copied)
        *copied = self->copied;
    if (advanced)
        *advanced = self->advanced;
}
