/*  layer_dense.c: fully connected layer y = x W^T + b, on OpenBLAS sgemm.
    Parameters: W (out, in) row-major, then b (out). */
#include "layer.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>

#include "err.h"

static void
s_forward (mdl_layer_t *l, const float *p, const float *in, float *out, size_t B)
{
    const int nin = l->in_features, nout = l->out_features;
    const float *W = p + l->poff, *b = W + (size_t) nout * nin;
    /* Start out as the bias in every row, then accumulate x W^T on top (beta = 1). */
    for (size_t r = 0; r < B; r++)
        for (int o = 0; o < nout; o++)
            out[r * nout + o] = b[o];
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, (int) B, nout, nin, 1.0f, in, nin, W, nin,
                 1.0f, out, nout);
}

static void
s_backward (mdl_layer_t *l, const float *p, float *g, const float *in, const float *out,
            const float *dout, float *din, size_t B)
{
    const int nin = l->in_features, nout = l->out_features;
    const float *W = p + l->poff;
    float *dW = g + l->poff, *db = dW + (size_t) nout * nin;
    /* dW = dout^T x  (out, in) */
    cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, nout, nin, (int) B, 1.0f, dout, nout, in, nin,
                 0.0f, dW, nin);
    for (int o = 0; o < nout; o++)
        db[o] = 0.0f;
    for (size_t r = 0; r < B; r++)
        for (int o = 0; o < nout; o++)
            db[o] += dout[r * nout + o];
    /* din = dout W  (B, in) */
    if (din)
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) B, nin, nout, 1.0f, dout, nout,
                     W, nin, 0.0f, din, nin);
}

static int
s_reserve (mdl_layer_t *l, size_t B)
{
    return 0;
}

static void
s_init (mdl_layer_t *l, float *p, mdl_rng_t *rng)
{
    const int nin = l->in_features, nout = l->out_features;
    float *W = p + l->poff, *b = W + (size_t) nout * nin;
    if (l->init_kind == MDL_INIT_HE) {
        /* He et al. 2015: N(0, 2/fan_in) keeps ReLU activations' variance constant. */
        mdl_rng_normal_fill (rng, W, (size_t) nout * nin, sqrt (2.0 / nin));
    } else {
        /* Glorot & Bengio 2010: U(-a, a), a = sqrt(6/(fan_in + fan_out)). */
        const double a = sqrt (6.0 / (nin + nout));
        for (size_t i = 0; i < (size_t) nout * nin; i++)
            W[i] = (float) (a * (2.0 * mdl_rng_double (rng) - 1.0));
    }
    for (int o = 0; o < nout; o++)
        b[o] = 0.0f;
}

static void
s_destroy (mdl_layer_t *l)
{
}

static const mdl_layer_ops_t s_ops = {
    .forward = s_forward,
    .backward = s_backward,
    .reserve = s_reserve,
    .init = s_init,
    .destroy = s_destroy,
};

int
mdl_layer_dense (mdl_layer_t *l, int in, int out)
{
    if (in < 1 || out < 1 || in > (1 << 24) || out > (1 << 24)
        || (double) in * out > (double) (1u << 31))
        return MDL_ESPEC;
    l->ops = &s_ops;
    l->in_features = in;
    l->out_features = out;
    l->in_size = (size_t) in;
    l->out_size = (size_t) out;
    l->pcount = (size_t) in * out + out;
    snprintf (l->name, sizeof l->name, "dense %d->%d", in, out);
    return 0;
}

void
mdl_ref_dense_forward (const float *W, const float *b, const float *x, float *y, size_t B,
                       size_t in, size_t out)
{
    for (size_t r = 0; r < B; r++)
        for (size_t o = 0; o < out; o++) {
            double s = b[o];
            for (size_t i = 0; i < in; i++)
                s += (double) W[o * in + i] * x[r * in + i];
            y[r * out + o] = (float) s;
        }
}
