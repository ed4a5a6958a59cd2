/*  layer_conv2d.c: 2-D convolution, stride 1, zero padding, by im2col + one sgemm for the
    whole batch. Parameters: W (oc, c*k*k) row-major, then b (oc).

    Workspace: col (c*k*k, B*oh*ow) holds the unfolded inputs of the whole batch, so one
    sgemm (oc x c*k*k) . (c*k*k x B*oh*ow) does the batch; tmp (oc, B*oh*ow) holds its
    result before it is scattered to the NCHW output. backward() reuses the columns that
    forward() left in col (the model always runs backward right after forward on the same
    batch), then overwrites col with the column gradients. */
#include "layer.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "err.h"

static void
s_im2col (const mdl_layer_t *l, const float *x, float *col, size_t b, size_t ldcol)
{
    const int C = l->c, H = l->h, W = l->w, K = l->k, P = l->pad, OH = l->oh, OW = l->ow;
    for (int c = 0; c < C; c++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                float *row = col + ((size_t) (c * K + ki) * K + kj) * ldcol + b * OH * OW;
                for (int oy = 0; oy < OH; oy++) {
                    const int iy = oy + ki - P;
                    float *dst = row + (size_t) oy * OW;
                    if (iy < 0 || iy >= H) {
                        for (int ox = 0; ox < OW; ox++)
                            dst[ox] = 0.0f;
                        continue;
                    }
                    const float *src = x + ((size_t) c * H + iy) * W;
                    for (int ox = 0; ox < OW; ox++) {
                        const int ix = ox + kj - P;
                        dst[ox] = (ix >= 0 && ix < W) ? src[ix] : 0.0f;
                    }
                }
            }
}

static void
s_col2im (const mdl_layer_t *l, const float *col, float *dx, size_t b, size_t ldcol)
{
    const int C = l->c, H = l->h, W = l->w, K = l->k, P = l->pad, OH = l->oh, OW = l->ow;
    for (size_t i = 0; i < (size_t) C * H * W; i++)
        dx[i] = 0.0f;
    for (int c = 0; c < C; c++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                const float *row = col + ((size_t) (c * K + ki) * K + kj) * ldcol + b * OH * OW;
                for (int oy = 0; oy < OH; oy++) {
                    const int iy = oy + ki - P;
                    if (iy < 0 || iy >= H)
                        continue;
                    float *dst = dx + ((size_t) c * H + iy) * W;
                    const float *src = row + (size_t) oy * OW;
                    for (int ox = 0; ox < OW; ox++) {
                        const int ix = ox + kj - P;
                        if (ix >= 0 && ix < W)
                            dst[ix] += src[ox];
                    }
                }
            }
}

static void
s_forward (mdl_layer_t *l, const float *p, const float *in, float *out, size_t B)
{
    const size_t ckk = (size_t) l->c * l->k * l->k, ohw = (size_t) l->oh * l->ow;
    const size_t ld = B * ohw;
    const float *W = p + l->poff, *bias = W + l->oc * ckk;
    float *col = l->ws, *tmp = l->ws + ckk * ld;
    for (size_t b = 0; b < B; b++)
        s_im2col (l, in + b * l->in_size, col, b, ld);
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, l->oc, (int) ld, (int) ckk, 1.0f, W,
                 (int) ckk, col, (int) ld, 0.0f, tmp, (int) ld);
    for (size_t b = 0; b < B; b++)
        for (int o = 0; o < l->oc; o++) {
            const float *src = tmp + (size_t) o * ld + b * ohw;
            float *dst = out + b * l->out_size + (size_t) o * ohw;
            for (size_t i = 0; i < ohw; i++)
                dst[i] = src[i] + bias[o];
        }
}

static void
s_backward (mdl_layer_t *l, const float *p, float *g, const float *in, const float *out,
            const float *dout, float *din, size_t B)
{
    const size_t ckk = (size_t) l->c * l->k * l->k, ohw = (size_t) l->oh * l->ow;
    const size_t ld = B * ohw;
    const float *W = p + l->poff;
    float *dW = g + l->poff, *db = dW + l->oc * ckk;
    float *col = l->ws, *dtmp = l->ws + ckk * ld;
    /* Gather dout (B, oc, ohw) into dtmp (oc, B*ohw), the layout of the forward sgemm. */
    for (int o = 0; o < l->oc; o++) {
        double s = 0.0;
        for (size_t b = 0; b < B; b++) {
            const float *src = dout + b * l->out_size + (size_t) o * ohw;
            float *dst = dtmp + (size_t) o * ld + b * ohw;
            for (size_t i = 0; i < ohw; i++) {
                dst[i] = src[i];
                s += src[i];
            }
        }
        db[o] = (float) s;
    }
    /* dW = dtmp . col^T  (oc, ckk), with col still holding forward's columns. */
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, l->oc, (int) ckk, (int) ld, 1.0f, dtmp,
                 (int) ld, col, (int) ld, 0.0f, dW, (int) ckk);
    if (!din)
        return;
    /* dcol = W^T . dtmp  (ckk, B*ohw), written over col, then folded back per sample. */
    cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int) ckk, (int) ld, l->oc, 1.0f, W,
                 (int) ckk, dtmp, (int) ld, 0.0f, col, (int) ld);
    for (size_t b = 0; b < B; b++)
        s_col2im (l, col, din + b * l->in_size, b, ld);
}

static int
s_reserve (mdl_layer_t *l, size_t B)
{
    const size_t ckk = (size_t) l->c * l->k * l->k, ohw = (size_t) l->oh * l->ow;
    const size_t need = (ckk + (size_t) l->oc) * B * ohw;
    if (B && need / B / ohw != ckk + (size_t) l->oc)
        return MDL_ENOMEM;
    if (need <= l->ws_len)
        return 0;
    float *ws = realloc (l->ws, need * sizeof *ws);
    if (!ws)
        return MDL_ENOMEM;
    l->ws = ws;
    l->ws_len = need;
    return 0;
}

static void
s_init (mdl_layer_t *l, float *p, mdl_rng_t *rng)
{
    const size_t ckk = (size_t) l->c * l->k * l->k;
    float *W = p + l->poff, *b = W + l->oc * ckk;
    /* He init with fan_in = c*k*k (conv layers here are always followed by ReLU/tanh). */
    const double sd = l->init_kind == MDL_INIT_XAVIER ? sqrt (2.0 / (ckk + (size_t) l->oc * l->k * l->k))
                                                      : sqrt (2.0 / ckk);
    mdl_rng_normal_fill (rng, W, l->oc * ckk, sd);
    for (int o = 0; o < l->oc; o++)
        b[o] = 0.0f;
}

static void
s_destroy (mdl_layer_t *l)
{
    free (l->ws);
    l->ws = NULL;
    l->ws_len = 0;
}

static const mdl_layer_ops_t s_ops = {
    .forward = s_forward,
    .backward = s_backward,
    .reserve = s_reserve,
    .init = s_init,
    .destroy = s_destroy,
};

int
mdl_layer_conv2d (mdl_layer_t *l, int c, int h, int w, int oc, int k, int pad)
{
    if (c < 1 || h < 1 || w < 1 || oc < 1 || k < 1 || pad < 0 || c > 4096 || oc > 4096
        || h > 4096 || w > 4096 || k > 64 || pad >= k || h + 2 * pad < k || w + 2 * pad < k)
        return MDL_ESPEC;
    l->ops = &s_ops;
    l->c = c;
    l->h = h;
    l->w = w;
    l->oc = oc;
    l->k = k;
    l->pad = pad;
    l->oh = h + 2 * pad - k + 1;
    l->ow = w + 2 * pad - k + 1;
    l->in_size = (size_t) c * h * w;
    l->out_size = (size_t) oc * l->oh * l->ow;
    l->pcount = (size_t) oc * c * k * k + oc;
    snprintf (l->name, sizeof l->name, "conv2d %dx%dx%d k%d p%d ->%dx%dx%d", c, h, w, k, pad, oc,
              l->oh, l->ow);
    return 0;
}

void
mdl_ref_conv2d_forward (const float *W, const float *b, const float *x, float *y, size_t B,
                        int c, int h, int w, int oc, int k, int pad)
{
    const int oh = h + 2 * pad - k + 1, ow = w + 2 * pad - k + 1;
    for (size_t n = 0; n < B; n++)
        for (int o = 0; o < oc; o++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double s = b[o];
                    for (int ci = 0; ci < c; ci++)
                        for (int ki = 0; ki < k; ki++)
                            for (int kj = 0; kj < k; kj++) {
                                int iy = oy + ki - pad, ix = ox + kj - pad;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                    continue;
                                s += (double) W[((size_t) (o * c + ci) * k + ki) * k + kj]
                                     * x[((n * c + ci) * h + iy) * w + ix];
                            }
                    y[((n * oc + o) * oh + oy) * ow + ox] = (float) s;
                }
}
