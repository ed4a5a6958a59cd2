/*  algo/state.c: what the algorithms' save/restore hooks use (algo.h): their vectors and
    scalars as sections "algo.<name>" of a checkpoint image. Scalars are doubles stored as
    their 64-bit patterns, little-endian, so counters below 2^53 and digests come back
    exactly. */
#include "algo.h"

#include <stdio.h>
#include <string.h>

#include "err.h"

#define S_MAX_SCALARS 32

static void
s_section (char *buf, size_t len, const char *name)
{
    snprintf (buf, len, "algo.%s", name);
}

int
mdl_algo_put_vec (mdl_ckpt_image_t *img, const char *name, const float *v, size_t d)
{
    char sec[MDL_CKPT_MAX_NAME + 1];
    s_section (sec, sizeof sec, name);
    return mdl_ckpt_image_add (img, sec, MDL_CKPT_F32, v, d);
}

int
mdl_algo_get_vec (const mdl_ckpt_image_t *img, const char *name, float *v, size_t d)
{
    char sec[MDL_CKPT_MAX_NAME + 1];
    s_section (sec, sizeof sec, name);
    return mdl_ckpt_image_get (img, sec, MDL_CKPT_F32, v, d);
}

int
mdl_algo_put_scalars (mdl_ckpt_image_t *img, const char *name, const double *x, size_t n)
{
    if (n > S_MAX_SCALARS)
        return MDL_EINVAL;
    uint8_t b[8 * S_MAX_SCALARS];
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        memcpy (&u, &x[i], 8);
        for (int k = 0; k < 8; k++)
            b[8 * i + (size_t) k] = (uint8_t) (u >> (8 * k));
    }
    char sec[MDL_CKPT_MAX_NAME + 1];
    s_section (sec, sizeof sec, name);
    return mdl_ckpt_image_add (img, sec, MDL_CKPT_BYTES, b, 8 * n);
}

int
mdl_algo_get_scalars (const mdl_ckpt_image_t *img, const char *name, double *x, size_t n)
{
    if (n > S_MAX_SCALARS)
        return MDL_ECKPT_MODEL;
    uint8_t b[8 * S_MAX_SCALARS];
    char sec[MDL_CKPT_MAX_NAME + 1];
    s_section (sec, sizeof sec, name);
    if (mdl_ckpt_image_get (img, sec, MDL_CKPT_BYTES, b, 8 * n))
        return MDL_ECKPT_MODEL;
    for (size_t i = 0; i < n; i++) {
        uint64_t u = 0;
        for (int k = 0; k < 8; k++)
            u |= (uint64_t) b[8 * i + (size_t) k] << (8 * k);
        memcpy (&x[i], &u, 8);
    }
    return 0;
}

int
mdl_algo_save_state (mdl_ckpt_image_t *img, size_t d, const char *const *names, float *const *vecs, size_t nv,
                     const double *scalars, size_t ns)
{
    int rc = ns ? mdl_algo_put_scalars (img, "scalars", scalars, ns) : 0;
    for (size_t i = 0; i < nv && rc == 0; i++)
        rc = mdl_algo_put_vec (img, names[i], vecs[i], d);
    return rc;
}

int
mdl_algo_restore_state (const mdl_ckpt_image_t *img, size_t d, const char *const *names, float *const *vecs,
                        size_t nv, double *scalars, size_t ns)
{
    char sec[MDL_CKPT_MAX_NAME + 1];
    mdl_ckpt_kind_t kind;
    uint64_t n;
    for (size_t i = 0; i < nv; i++) {
        s_section (sec, sizeof sec, names[i]);
        if (!mdl_ckpt_image_has (img, sec, &kind, &n) || kind != MDL_CKPT_F32 || n != d)
            return MDL_ECKPT_MODEL;
    }
    if (ns && mdl_algo_get_scalars (img, "scalars", scalars, ns))
        return MDL_ECKPT_MODEL;
    for (size_t i = 0; i < nv; i++)
        mdl_algo_get_vec (img, names[i], vecs[i], d);
    return 0;
}
