/*  model.c: models built from a spec string, over one flat parameter vector. */
#include "model.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "layer.h"
#include "mem.h"
#include "rng.h"
#include "vec.h"

#define MDL_MAX_LAYERS 64
#define MDL_MAX_WIDTH 65536

struct mdl_model_t {
    char *spec;
    size_t d;
    float *params;              /* (d): own, or the caller's (mdl_model_use_params) */
    float *own;                 /* (d) the model's own parameter array */
    float *grads;               /* (d): own_grads, or the caller's (mdl_model_use_grads) */
    float *own_grads;           /* (d) the model's own gradient array */
    mdl_layer_t layers[MDL_MAX_LAYERS];
    size_t nlayers;
    size_t in_dim, out_dim;
    int regression;             /* linreg: MSE on one output */
    size_t batch_cap;           /* rows the activation buffers hold */
    float *acts[MDL_MAX_LAYERS + 1]; /* acts[i] = input of layer i, (batch_cap, size) */
    float *dbuf[2];             /* ping-pong gradient buffers, (batch_cap, max size) */
    size_t max_size;
    size_t last_batch;          /* rows of the last forward pass */
};

/* Parses a '-'-separated list of positive integers into v (at most cap), returns count or
   -1. Rejects empty fields, signs, overflow and values above MDL_MAX_WIDTH. */
static int
s_parse_ints (const char *s, int *v, int cap)
{
    int n = 0;
    while (*s) {
        if (!isdigit ((unsigned char) *s) || n == cap)
            return -1;
        errno = 0;
        char *end;
        long x = strtol (s, &end, 10);
        if (errno || x < 1 || x > MDL_MAX_WIDTH)
            return -1;
        v[n++] = (int) x;
        s = end;
        if (*s == '-')
            s++;
        else if (*s)
            return -1;
        if (end[0] == '-' && end[1] == '\0')
            return -1;
    }
    return n;
}

static mdl_layer_t *
s_push (mdl_model_t *m)
{
    return m->nlayers < MDL_MAX_LAYERS ? &m->layers[m->nlayers++] : NULL;
}

static int
s_add_act (mdl_model_t *m, size_t size, int tanh_act)
{
    mdl_layer_t *l = s_push (m);
    if (!l)
        return MDL_ESPEC;
    return tanh_act ? mdl_layer_tanh (l, size) : mdl_layer_relu (l, size);
}

static int
s_build_mlp (mdl_model_t *m, const char *body, int tanh_act)
{
    int w[MDL_MAX_LAYERS / 2];
    int n = s_parse_ints (body, w, MDL_MAX_LAYERS / 2);
    if (n < 2)
        return MDL_ESPEC;
    for (int i = 0; i + 1 < n; i++) {
        mdl_layer_t *l = s_push (m);
        if (!l || mdl_layer_dense (l, w[i], w[i + 1]))
            return MDL_ESPEC;
        if (i + 2 < n) {
            l->init_kind = tanh_act ? MDL_INIT_XAVIER : MDL_INIT_HE;
            if (s_add_act (m, (size_t) w[i + 1], tanh_act))
                return MDL_ESPEC;
        } else
            l->init_kind = MDL_INIT_XAVIER; /* feeds the softmax */
    }
    m->in_dim = (size_t) w[0];
    m->out_dim = (size_t) w[n - 1];
    return m->out_dim >= 2 ? 0 : MDL_ESPEC;
}

/* LeNet-style for 28x28x1: two conv5x5 (pad 2) + ReLU + maxpool2 blocks, then a hidden
   dense layer and the 10-way output. */
static int
s_build_cnn (mdl_model_t *m, const char *body, int tanh_act)
{
    int v[3] = { 16, 32, 128 };
    if (body && *body && s_parse_ints (body, v, 3) != 3)
        return MDL_ESPEC;
    if (v[0] > 1024 || v[1] > 1024)
        return MDL_ESPEC;
    int c = 1, h = 28, w = 28;
    for (int blk = 0; blk < 2; blk++) {
        mdl_layer_t *l = s_push (m);
        if (!l || mdl_layer_conv2d (l, c, h, w, v[blk], 5, 2))
            return MDL_ESPEC;
        l->init_kind = tanh_act ? MDL_INIT_XAVIER : MDL_INIT_HE;
        c = v[blk];
        if (s_add_act (m, (size_t) c * h * w, tanh_act))
            return MDL_ESPEC;
        l = s_push (m);
        if (!l || mdl_layer_maxpool (l, c, h, w, 2))
            return MDL_ESPEC;
        h /= 2;
        w /= 2;
    }
    mdl_layer_t *l = s_push (m);
    if (!l || mdl_layer_flatten (l, c, h, w))
        return MDL_ESPEC;
    l = s_push (m);
    if (!l || mdl_layer_dense (l, c * h * w, v[2]))
        return MDL_ESPEC;
    l->init_kind = tanh_act ? MDL_INIT_XAVIER : MDL_INIT_HE;
    if (s_add_act (m, (size_t) v[2], tanh_act))
        return MDL_ESPEC;
    l = s_push (m);
    if (!l || mdl_layer_dense (l, v[2], 10))
        return MDL_ESPEC;
    l->init_kind = MDL_INIT_XAVIER;
    m->in_dim = 784;
    m->out_dim = 10;
    return 0;
}

static int
s_build_linreg (mdl_model_t *m, const char *body)
{
    int dim;
    if (s_parse_ints (body, &dim, 1) != 1)
        return MDL_ESPEC;
    mdl_layer_t *l = s_push (m);
    if (!l || mdl_layer_dense (l, dim, 1))
        return MDL_ESPEC;
    l->init_kind = MDL_INIT_XAVIER;
    m->in_dim = (size_t) dim;
    m->out_dim = 1;
    m->regression = 1;
    return 0;
}

/* Splits "kind:body,act=tanh" and dispatches. */
static int
s_build (mdl_model_t *m, const char *spec)
{
    char buf[512];
    if (strlen (spec) >= sizeof buf)
        return MDL_ESPEC;
    strcpy (buf, spec);
    int tanh_act = 0;
    char *opt = strchr (buf, ',');
    if (opt) {
        *opt++ = '\0';
        if (strcmp (opt, "act=tanh") == 0)
            tanh_act = 1;
        else if (strcmp (opt, "act=relu") != 0)
            return MDL_ESPEC;
    }
    char *body = strchr (buf, ':');
    if (body)
        *body++ = '\0';
    if (strcmp (buf, "mlp") == 0 && body)
        return s_build_mlp (m, body, tanh_act);
    if (strcmp (buf, "cnn") == 0)
        return s_build_cnn (m, body, tanh_act);
    if (strcmp (buf, "linreg") == 0 && body && !tanh_act)
        return s_build_linreg (m, body);
    return MDL_ESPEC;
}

/* The layers of spec, their parameters laid end to end in one vector (m->d), shapes
   checked to chain; no parameter vector yet. 0 or MDL_ESPEC / MDL_ENOMEM. */
static int
s_layout (mdl_model_t *m, const char *spec)
{
    int rc;
    if (!spec || (rc = s_build (m, spec)) != 0)
        return spec ? rc : MDL_ESPEC;
    if (!(m->spec = strdup (spec)))
        return MDL_ENOMEM;
    size_t off = 0;
    m->max_size = m->in_dim;
    for (size_t i = 0; i < m->nlayers; i++) {
        mdl_layer_t *l = &m->layers[i];
        size_t prev = i ? m->layers[i - 1].out_size : m->in_dim;
        if (l->in_size != prev)
            return MDL_ESPEC;
        l->poff = off;
        off += l->pcount;
        if (l->out_size > m->max_size)
            m->max_size = l->out_size;
    }
    if (off == 0 || off > ((size_t) 1 << 31))
        return MDL_ESPEC;
    m->d = off;
    return 0;
}

int
mdl_model_check (const char *spec, size_t *d)
{
    mdl_model_t *m = calloc (1, sizeof *m);
    if (!m)
        return MDL_ENOMEM;
    int rc = s_layout (m, spec);
    if (rc == 0 && d)
        *d = m->d;
    mdl_model_destroy (&m);
    return rc;
}

mdl_model_t *
mdl_model_new (const char *spec, uint64_t seed, int *err)
{
    int rc = MDL_ENOMEM;
    mdl_model_t *m = calloc (1, sizeof *m);
    if (!m)
        goto err;
    if ((rc = s_layout (m, spec)) != 0)
        goto err;
    rc = MDL_ENOMEM;
    /* Zeroed by writing, not calloc (mem.h): the pages are mapped now, once, not by a
       second fault and a TLB flush in the first training steps of every agent. */
    m->params = m->own = mdl_mem_zeroed (m->d * sizeof (float));
    m->grads = m->own_grads = mdl_mem_zeroed (m->d * sizeof (float));
    if (!m->params || !m->grads)
        goto err;
    mdl_model_init (m, seed);
    return m;
err:
    if (err)
        *err = rc;
    mdl_model_destroy (&m);
    return NULL;
}

void
mdl_model_destroy (mdl_model_t **pm)
{
    if (!pm || !*pm)
        return;
    mdl_model_t *m = *pm;
    for (size_t i = 0; i < m->nlayers; i++)
        if (m->layers[i].ops)
            m->layers[i].ops->destroy (&m->layers[i]);
    for (size_t i = 0; i <= m->nlayers; i++)
        free (m->acts[i]);
    free (m->dbuf[0]);
    free (m->dbuf[1]);
    free (m->own);
    free (m->own_grads);
    free (m->spec);
    free (m);
    *pm = NULL;
}

void
mdl_model_init (mdl_model_t *m, uint64_t seed)
{
    mdl_rng_t rng;
    /* Stream 0x1417 is reserved for initialisation, so the data-order stream of the
       same seed is independent of it. */
    mdl_rng_seed (&rng, seed, 0x1417);
    for (size_t i = 0; i < m->nlayers; i++)
        m->layers[i].ops->init (&m->layers[i], m->params, &rng);
    mdl_vec_zero (m->grads, m->d);
}

const char *mdl_model_spec (const mdl_model_t *m) { return m->spec; }
size_t mdl_model_nparams (const mdl_model_t *m) { return m->d; }
size_t mdl_model_in_dim (const mdl_model_t *m) { return m->in_dim; }
size_t mdl_model_out_dim (const mdl_model_t *m) { return m->out_dim; }
int mdl_model_is_regression (const mdl_model_t *m) { return m->regression; }
float *mdl_model_params (mdl_model_t *m) { return m->params; }
float *mdl_model_grads (mdl_model_t *m) { return m->grads; }
float *mdl_model_own_params (mdl_model_t *m) { return m->own; }
void mdl_model_use_params (mdl_model_t *m, float *p) { m->params = p ? p : m->own; }
void mdl_model_use_grads (mdl_model_t *m, float *g) { m->grads = g ? g : m->own_grads; }
size_t mdl_model_nlayers (const mdl_model_t *m) { return m->nlayers; }

const char *
mdl_model_layer_name (const mdl_model_t *m, size_t i)
{
    return i < m->nlayers ? m->layers[i].name : "";
}

int
mdl_model_reserve (mdl_model_t *m, size_t batch)
{
    if (batch == 0)
        return MDL_EINVAL;
    if (batch <= m->batch_cap)
        return 0;
    /* (batch * size) floats per buffer; sizes are bounded by the spec limits, so only the
       product with batch needs an overflow check. */
    if (batch > ((size_t) 1 << 40) / m->max_size)
        return MDL_ENOMEM;
    for (size_t i = 0; i <= m->nlayers; i++) {
        size_t size = i == 0 ? m->in_dim : m->layers[i - 1].out_size;
        float *a = realloc (m->acts[i], batch * size * sizeof *a);
        if (!a)
            return MDL_ENOMEM;
        m->acts[i] = a;
    }
    for (int k = 0; k < 2; k++) {
        float *a = realloc (m->dbuf[k], batch * m->max_size * sizeof *a);
        if (!a)
            return MDL_ENOMEM;
        m->dbuf[k] = a;
    }
    for (size_t i = 0; i < m->nlayers; i++)
        if (m->layers[i].ops->reserve (&m->layers[i], batch))
            return MDL_ENOMEM;
    m->batch_cap = batch;
    return 0;
}

const float *
mdl_model_forward (mdl_model_t *m, const float *x, size_t batch)
{
    /* Programming error, not input error: the caller sizes batches. */
    if (batch == 0 || batch > m->batch_cap)
        return NULL;
    memcpy (m->acts[0], x, batch * m->in_dim * sizeof (float));
    for (size_t i = 0; i < m->nlayers; i++)
        m->layers[i].ops->forward (&m->layers[i], m->params, m->acts[i], m->acts[i + 1], batch);
    m->last_batch = batch;
    return m->acts[m->nlayers];
}

static float
s_loss (mdl_model_t *m, const int32_t *labels, const float *targets, size_t batch,
        float *dout, size_t *correct)
{
    const float *out = m->acts[m->nlayers];
    if (m->regression) {
        if (correct)
            *correct = 0;
        return mdl_loss_mse (out, targets, batch, dout);
    }
    return mdl_loss_softmax_xent (out, labels, batch, m->out_dim, dout, correct);
}

float
mdl_model_loss (mdl_model_t *m, const int32_t *labels, const float *targets, size_t batch,
                size_t *correct)
{
    return s_loss (m, labels, targets, batch, NULL, correct);
}

/* Back-propagates d(loss)/d(outputs), already in m->dbuf[0], through every layer. */
static void
s_backprop (mdl_model_t *m, size_t batch)
{
    float *dcur = m->dbuf[0], *dnext = m->dbuf[1];
    for (size_t i = m->nlayers; i-- > 0;) {
        mdl_layer_t *l = &m->layers[i];
        /* The first layer's input gradient is never needed. */
        float *din = i > 0 ? dnext : NULL;
        l->ops->backward (l, m->params, m->grads, m->acts[i], m->acts[i + 1], dcur, din, batch);
        float *t = dcur;
        dcur = dnext;
        dnext = t;
    }
}

float
mdl_model_backward (mdl_model_t *m, const int32_t *labels, const float *targets, size_t batch)
{
    float loss = s_loss (m, labels, targets, batch, m->dbuf[0], NULL);
    s_backprop (m, batch);
    return loss;
}

void
mdl_model_predict (mdl_model_t *m, const float *x, size_t batch, float *probs)
{
    const float *z = mdl_model_forward (m, x, batch);
    if (!z)
        return;
    if (m->regression) {
        memcpy (probs, z, batch * sizeof (float));
        return;
    }
    for (size_t r = 0; r < batch; r++) {
        const float *zr = z + r * m->out_dim;
        float *pr = probs + r * m->out_dim;
        float zmax = zr[0];
        for (size_t c = 1; c < m->out_dim; c++)
            zmax = zr[c] > zmax ? zr[c] : zmax;
        double sum = 0.0;
        for (size_t c = 0; c < m->out_dim; c++)
            sum += exp ((double) zr[c] - zmax);
        for (size_t c = 0; c < m->out_dim; c++)
            pr[c] = (float) (exp ((double) zr[c] - zmax) / sum);
    }
}

float
mdl_model_distill (mdl_model_t *m, const float *x, const float *q, size_t batch, float *probs)
{
    const float *z = mdl_model_forward (m, x, batch);
    if (!z || m->regression)
        return NAN;
    float loss = mdl_loss_softmax_kl (z, q, batch, m->out_dim, m->dbuf[0], probs);
    s_backprop (m, batch);
    return loss;
}
