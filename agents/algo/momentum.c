/*  algo/momentum.c: see momentum.h. Plain loops: each is one pass over a few vectors, simple
    enough for the compiler to vectorise; BLAS has no fused routine for them. */
#include "momentum.h"

#include <assert.h>

void
mdl_mom_direction (float *u, const float *m, const float *g, float mu, bool nesterov, size_t d)
{
    for (size_t i = 0; i < d; i++) {
        const float mh = mu * m[i] + g[i];
        u[i] = nesterov ? g[i] + mu * mh : mh;
    }
}

void
mdl_qgm_momentum (float *m, const float *x_before, const float *x_after, float mu, float lr, size_t d)
{
    assert (lr > 0);
    const float a = (1.0f - mu) / lr;
    for (size_t i = 0; i < d; i++)
        m[i] = mu * m[i] + a * (x_before[i] - x_after[i]);
}

void
mdl_decentlam_step (float *x, float *m, const float *g, const float *wx, float beta, float lr, size_t d)
{
    assert (lr > 0);
    /* x is written as Wx - lr (beta m + g), not x - lr m: the same value without
       cancelling x against the x inside m. */
    const float inv = 1.0f / lr;
    for (size_t i = 0; i < d; i++) {
        const float xn = wx[i] - lr * (beta * m[i] + g[i]);
        m[i] = beta * m[i] + g[i] + inv * (x[i] - wx[i]);
        x[i] = xn;
    }
}

void
mdl_gt_track (float *y, float *g_old, const float *g_new, size_t d)
{
    for (size_t i = 0; i < d; i++) {
        y[i] += g_new[i] - g_old[i];
        g_old[i] = g_new[i];
    }
}
