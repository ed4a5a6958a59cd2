/*  layer_pool.c: k x k max-pooling with stride k (floor), NCHW. No parameters.
    The forward pass records each output's arg-max so backward routes the gradient there. */
#include "layer.h"

#include <stdio.h>
#include <stdlib.h>

#include "err.h"

static void
s_forward (mdl_layer_t *l, const float *p, const float *in, float *out, size_t B)
{
    const int C = l->c, H = l->h, W = l->w, K = l->k, OH = l->oh, OW = l->ow;
    for (size_t b = 0; b < B; b++) {
        const float *x = in + b * l->in_size;
        float *y = out + b * l->out_size;
        int32_t *am = l->argmax + b * l->out_size;
        for (int c = 0; c < C; c++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    int best = (c * H + oy * K) * W + ox * K;
                    for (int i = 0; i < K; i++)
                        for (int j = 0; j < K; j++) {
                            int at = (c * H + oy * K + i) * W + ox * K + j;
                            if (x[at] > x[best])
                                best = at;
                        }
                    size_t o = ((size_t) c * OH + oy) * OW + ox;
                    y[o] = x[best];
                    am[o] = best;
                }
    }
}

static void
s_backward (mdl_layer_t *l, const float *p, float *g, const float *in, const float *out,
            const float *dout, float *din, size_t B)
{
    if (!din)
        return;
    for (size_t b = 0; b < B; b++) {
        float *dx = din + b * l->in_size;
        const float *dy = dout + b * l->out_size;
        const int32_t *am = l->argmax + b * l->out_size;
        for (size_t i = 0; i < l->in_size; i++)
            dx[i] = 0.0f;
        for (size_t o = 0; o < l->out_size; o++)
            dx[am[o]] += dy[o];
    }
}

static int
s_reserve (mdl_layer_t *l, size_t B)
{
    const size_t need = B * l->out_size;
    if (need <= l->argmax_len)
        return 0;
    int32_t *a = realloc (l->argmax, need * sizeof *a);
    if (!a)
        return MDL_ENOMEM;
    l->argmax = a;
    l->argmax_len = need;
    return 0;
}

static void
s_init (mdl_layer_t *l, float *p, mdl_rng_t *rng)
{
}

static void
s_destroy (mdl_layer_t *l)
{
    free (l->argmax);
    l->argmax = NULL;
    l->argmax_len = 0;
}

static const mdl_layer_ops_t s_ops = {
    .forward = s_forward,
    .backward = s_backward,
    .reserve = s_reserve,
    .init = s_init,
    .destroy = s_destroy,
};

int
mdl_layer_maxpool (mdl_layer_t *l, int c, int h, int w, int k)
{
    if (c < 1 || h < 1 || w < 1 || k < 1 || k > h || k > w)
        return MDL_ESPEC;
    l->ops = &s_ops;
    l->c = c;
    l->h = h;
    l->w = w;
    l->k = k;
    l->oc = c;
    l->oh = h / k;
    l->ow = w / k;
    l->in_size = (size_t) c * h * w;
    l->out_size = (size_t) c * l->oh * l->ow;
    snprintf (l->name, sizeof l->name, "maxpool %d ->%dx%dx%d", k, c, l->oh, l->ow);
    return 0;
}
