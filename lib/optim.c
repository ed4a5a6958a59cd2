/*  optim.c: SGD, heavy-ball and Nesterov momentum, Adam, AdamW and AccumAdam over a flat
    vector.

    The state is one allocation made by mdl_optim_new, laid out like the parameters
    (momentum: m; Adam: m then v), so each step is one pass over d elements and
    allocates nothing. */
#include "optim.h"

#include "err.h"
#include "mem.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct mdl_optim_t {
    mdl_opt_cfg_t cfg;
    size_t d;
    uint64_t t;         /* steps taken */
    float *state;       /* state_len floats; NULL for SGD */
    size_t state_len;
};

static const char *s_names[] = {
    [MDL_OPT_SGD] = "sgd",
    [MDL_OPT_MOMENTUM] = "momentum",
    [MDL_OPT_NESTEROV] = "nesterov",
    [MDL_OPT_ADAM] = "adam",
    [MDL_OPT_ADAMW] = "adamw",
    [MDL_OPT_ACCUMADAM] = "accumadam",
};
#define S_NKINDS (sizeof s_names / sizeof s_names[0])

void
mdl_opt_defaults (mdl_opt_cfg_t *cfg, mdl_opt_kind_t kind)
{
    assert (cfg);
    *cfg = (mdl_opt_cfg_t){
        .kind = kind,
        .momentum = 0.9f,
        .beta1 = 0.9f,
        .beta2 = 0.999f,
        .eps = 1e-8f,
        .weight_decay = 0.0f,
        .accum = 4,
    };
}

int
mdl_opt_parse (const char *name, mdl_opt_kind_t *kind)
{
    assert (kind);
    if (!name)
        return MDL_EINVAL;
    for (size_t k = 0; k < S_NKINDS; k++)
        if (strcmp (name, s_names[k]) == 0) {
            *kind = (mdl_opt_kind_t) k;
            return MDL_OK;
        }
    return MDL_EINVAL;
}

const char *
mdl_opt_name (mdl_opt_kind_t kind)
{
    return (unsigned) kind < S_NKINDS ? s_names[kind] : "unknown";
}

/* True for x in [0, 1); NaN fails both comparisons and is out of range. */
static bool
s_in_unit (float x)
{
    return x >= 0.0f && x < 1.0f;
}

int
mdl_opt_check (const mdl_opt_cfg_t *cfg)
{
    assert (cfg);
    if ((unsigned) cfg->kind >= S_NKINDS)
        return MDL_ERANGE;
    /* Every field is checked whatever the kind: mdl_opt_defaults fills them all with
       valid values, so a bad one is a user's option that would otherwise be ignored
       silently. */
    if (!s_in_unit (cfg->momentum) || !s_in_unit (cfg->beta1) || !s_in_unit (cfg->beta2))
        return MDL_ERANGE;
    if (!(cfg->eps > 0.0f) || !isfinite (cfg->eps))
        return MDL_ERANGE;
    if (!(cfg->weight_decay >= 0.0f) || !isfinite (cfg->weight_decay))
        return MDL_ERANGE;
    if (cfg->accum < 1 || cfg->accum > (1u << 20))
        return MDL_ERANGE;
    return MDL_OK;
}

static size_t
s_state_factor (mdl_opt_kind_t kind)
{
    switch (kind) {
    case MDL_OPT_SGD: return 0;
    case MDL_OPT_MOMENTUM:
    case MDL_OPT_NESTEROV: return 1;
    case MDL_OPT_ADAM:
    case MDL_OPT_ADAMW: return 2;
    case MDL_OPT_ACCUMADAM: return 3;
    }
    return 0;
}

mdl_optim_t *
mdl_optim_new (const mdl_opt_cfg_t *cfg, size_t d, int *err)
{
    int rc = mdl_opt_check (cfg);
    mdl_optim_t *self = NULL;
    if (rc)
        goto err;
    rc = MDL_ENOMEM;
    self = calloc (1, sizeof *self);
    if (!self)
        goto err;
    self->cfg = *cfg;
    self->d = d;
    size_t k = s_state_factor (cfg->kind);
    if (k && d) {
        if (d > SIZE_MAX / sizeof (float) / k)
            goto err;
        self->state_len = k * d;
        /* read before it is written: mapped by writes now, not in the first steps (mem.h) */
        self->state = mdl_mem_zeroed (self->state_len * sizeof (float));
        if (!self->state)
            goto err;
    }
    if (err)
        *err = MDL_OK;
    return self;
err:
    mdl_optim_destroy (&self);
    if (err)
        *err = rc;
    return NULL;
}

void
mdl_optim_destroy (mdl_optim_t **o)
{
    assert (o);
    if (*o) {
        free ((*o)->state);
        free (*o);
        *o = NULL;
    }
}

/* Adam: Kingma & Ba 2015, Algorithm 1, with eps added to sqrt(v_hat) as in the paper.
   AdamW: Loshchilov & Hutter 2019, Algorithm 2, decay applied to x before the Adam
   step (as PyTorch does), with the schedule multiplier folded into lr. */
static void
s_adam_step (mdl_optim_t *o, float *restrict x, const float *restrict g, float lr)
{
    const size_t d = o->d;
    const float b1 = o->cfg.beta1, b2 = o->cfg.beta2, eps = o->cfg.eps;
    const bool decoupled = o->cfg.kind == MDL_OPT_ADAMW;
    /* AdamW decays x itself; Adam adds wd*x to the gradient. */
    const float wd_g = decoupled ? 0.0f : o->cfg.weight_decay;
    const float keep = decoupled ? 1.0f - lr * o->cfg.weight_decay : 1.0f;
    /* Bias corrections in double: 1 - beta2^t is ~1e-3 at t = 1 and loses digits in
       float. o->t was incremented before the call, so t >= 1 and neither is zero. */
    const float c1 = (float) (1.0 / (1.0 - pow (b1, (double) o->t)));
    const float c2 = (float) (1.0 / (1.0 - pow (b2, (double) o->t)));
    float *restrict m = o->state;
    float *restrict v = o->state + d;
    for (size_t i = 0; i < d; i++) {
        float gi = g[i] + wd_g * x[i];
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        x[i] = keep * x[i] - lr * (m[i] * c1) / (sqrtf (v[i] * c2) + eps);
    }
}

/* AccumAdam, as in Wang et al.'s Decent-DP code (optim.py, accum_adamw_foreach; the
   weight decay here is coupled into g, as in our Adam). The persistent moments are kept
   pre-multiplied by beta: m = beta1 * M, v = beta2 * V, where M, V are Adam's moments of
   the last closed window. Each step uses the temporary moments
       m~ = m + (1 - beta1) g,   v~ = v + (1 - beta2) g^2
   (Adam's M, V had g been the window's gradient), bias-corrected with the number of
   windows started, k = ceil(t / K), and accumulates a += g / K. At the end of a window
   (t % K == 0) the moments advance once on the window's mean gradient a:
       m = beta1 (m + (1 - beta1) a),   v = beta2 (v + (1 - beta2) a^2),   a = 0.
   With K = 1 this is Adam. Small per-agent batches then move x every step, while the
   moments average K minibatches (their variance drops by K). */
static void
s_accumadam_step (mdl_optim_t *o, float *restrict x, const float *restrict g, float lr)
{
    const size_t d = o->d;
    const float b1 = o->cfg.beta1, b2 = o->cfg.beta2, eps = o->cfg.eps, wd = o->cfg.weight_decay;
    const uint64_t K = o->cfg.accum;
    const double k = (double) ((o->t + K - 1) / K);
    const float c1 = (float) (1.0 / (1.0 - pow (b1, k)));
    const float c2 = (float) (1.0 / (1.0 - pow (b2, k)));
    const float inv_k = 1.0f / (float) K;
    const bool close = o->t % K == 0;
    float *restrict m = o->state;
    float *restrict v = o->state + d;
    float *restrict a = o->state + 2 * d;
    for (size_t i = 0; i < d; i++) {
        float gi = g[i] + wd * x[i];
        a[i] += inv_k * gi;
        float mt = m[i] + (1.0f - b1) * gi;
        float vt = v[i] + (1.0f - b2) * gi * gi;
        x[i] -= lr * (mt * c1) / (sqrtf (vt * c2) + eps);
        if (close) {
            m[i] = b1 * (m[i] + (1.0f - b1) * a[i]);
            v[i] = b2 * (v[i] + (1.0f - b2) * a[i] * a[i]);
            a[i] = 0.0f;
        }
    }
}

void
mdl_optim_step (mdl_optim_t *o, float *x, const float *g, float lr)
{
    assert (o);
    assert (o->d == 0 || (x && g));
    const size_t d = o->d;
    const float wd = o->cfg.weight_decay;
    const float mu = o->cfg.momentum;
    o->t++;
    switch (o->cfg.kind) {
    case MDL_OPT_SGD: {
        float *restrict xr = x;
        const float *restrict gr = g;
        for (size_t i = 0; i < d; i++)
            xr[i] -= lr * (gr[i] + wd * xr[i]);
        break;
    }
    case MDL_OPT_MOMENTUM: {
        float *restrict xr = x, *restrict m = o->state;
        const float *restrict gr = g;
        for (size_t i = 0; i < d; i++) {
            m[i] = mu * m[i] + (gr[i] + wd * xr[i]);
            xr[i] -= lr * m[i];
        }
        break;
    }
    case MDL_OPT_NESTEROV: {
        /* The form used by PyTorch and by Lin et al.'s quasi-global momentum: the
           look-ahead is taken on the new buffer, so no extra vector is needed. */
        float *restrict xr = x, *restrict m = o->state;
        const float *restrict gr = g;
        for (size_t i = 0; i < d; i++) {
            float gi = gr[i] + wd * xr[i];
            m[i] = mu * m[i] + gi;
            xr[i] -= lr * (gi + mu * m[i]);
        }
        break;
    }
    case MDL_OPT_ADAM:
    case MDL_OPT_ADAMW:
        s_adam_step (o, x, g, lr);
        break;
    case MDL_OPT_ACCUMADAM:
        s_accumadam_step (o, x, g, lr);
        break;
    }
}

void
mdl_optim_step_to (mdl_optim_t *o, const float *x, const float *g, float lr, float *out)
{
    assert (o);
    assert (o->d == 0 || (x && g && out));
    if (out == x) {
        mdl_optim_step (o, out, g, lr);
        return;
    }
    const size_t d = o->d;
    const float wd = o->cfg.weight_decay;
    const float mu = o->cfg.momentum;
    /* The same expressions as mdl_optim_step's loops, x read and out written: the
       values are bit for bit those of the in-place step. */
    const float *restrict xr = x, *restrict gr = g;
    float *restrict xo = out, *restrict m = o->state;
    switch (o->cfg.kind) {
    case MDL_OPT_SGD:
        o->t++;
        for (size_t i = 0; i < d; i++)
            xo[i] = xr[i] - lr * (gr[i] + wd * xr[i]);
        break;
    case MDL_OPT_MOMENTUM:
        o->t++;
        for (size_t i = 0; i < d; i++) {
            m[i] = mu * m[i] + (gr[i] + wd * xr[i]);
            xo[i] = xr[i] - lr * m[i];
        }
        break;
    case MDL_OPT_NESTEROV:
        o->t++;
        for (size_t i = 0; i < d; i++) {
            float gi = gr[i] + wd * xr[i];
            m[i] = mu * m[i] + gi;
            xo[i] = xr[i] - lr * (gi + mu * m[i]);
        }
        break;
    default: /* the Adam family: its step in place on a copy (no pass saved) */
        memcpy (out, x, d * sizeof *out);
        mdl_optim_step (o, out, g, lr);
        break;
    }
}

float *
mdl_optim_state (mdl_optim_t *o, size_t *len)
{
    assert (o);
    if (len)
        *len = o->state_len;
    return o->state;
}

uint64_t
mdl_optim_steps (const mdl_optim_t *o)
{
    assert (o);
    return o->t;
}

void
mdl_optim_set_steps (mdl_optim_t *o, uint64_t t)
{
    assert (o);
    o->t = t;
}

void
mdl_optim_reset (mdl_optim_t *o)
{
    assert (o);
    if (o->state_len)
        memset (o->state, 0, o->state_len * sizeof (float));
    o->t = 0;
}
