/*  algo/codistill.c: codistillation (Lacaille, "Communication channels between deep
    learning models", 2019, its first channel; Anil et al., ICLR 2018): agents exchange
    predictions, not parameters. The first --public-rows N rows of the training set are a
    public pool every agent holds (their labels are never used); the public batch of step
    b is --batch rows drawn from it by the shared --seed and b alone, so every agent
    predicts on the same inputs without a message. Step t of agent i minimises
        CE(y, f_i(x_batch)) + lambda * KL(q_t || f_i(x_public_t)),
        q_t = the mean of the in-neighbours' output probabilities on public batch t,
    lambda = --distill-weight. The gradient of the KL term in the logits is
    (p - q) / batch (lib/loss.c, mdl_model_distill); the learner's optimizer takes the sum.

    Pipelined so that nothing waits inside a step: after step t the agent predicts on
    public batch t + 1 with its new model x_{t+1} and sends those probabilities (batch x
    classes floats, one MDL_KIND_OUTPUTS message per neighbour: 320 bytes at batch 8 and
    10 classes, against 4 d bytes for a model); the round's mix gathers the neighbours'
    (sync: that round's, async: the newest that most of them share), whose mean is the
    target of step t + 1, computed at the same x_{t+1} on the same rows. Without targets
    (step 0, no neighbour heard) a step is plain SGD. */
#include <stdlib.h>
#include <string.h>

#include "algo.h"
#include "err.h"
#include "rng.h"
#include "vec.h"

typedef struct {
    const mdl_dataset_t *train;
    size_t pool;           /* public rows: [0, pool) of the training set */
    size_t B, C;           /* public batch rows, classes */
    double lambda;
    uint64_t seed;         /* shared: the training seed */
    uint64_t total;        /* steps of the run */
    uint32_t *idx;         /* (B) rows of a public batch */
    float *xb;             /* (B, in) its features */
    int32_t *yb;           /* (B) its labels, gathered and ignored */
    float *p;              /* (B, C) own probabilities, published */
    float *q;              /* (B, C) the neighbours' mean: the next step's target */
    bool have_q;
    uint64_t q_batch;      /* the public batch q was predicted on */
} s_cd_t;

/* The rows of public batch b: B distinct rows of [0, pool), by Floyd's sampling from a
   stream of the shared seed and b (the same on every agent, in the same order). */
static void
s_public_batch (s_cd_t *s, uint64_t b)
{
    mdl_rng_t r;
    mdl_rng_seed (&r, s->seed ^ 0x636f646973746c6cULL, b);
    size_t n = 0;
    for (size_t j = s->pool - s->B; j < s->pool; j++) {
        uint32_t t = (uint32_t) mdl_rng_below (&r, j + 1);
        bool seen = false;
        for (size_t k = 0; k < n && !seen; k++)
            seen = s->idx[k] == t;
        s->idx[n++] = seen ? (uint32_t) j : t;
    }
    mdl_dataset_gather (s->train, s->idx, s->B, s->xb, s->yb);
}

static int
s_check (const mdl_agent_cfg_t *cfg, char *err, size_t errlen)
{
    if (cfg->public_rows < 1) {
        snprintf (err, errlen, "--algo codistill needs --public-rows N: the first N training rows are the public pool "
                  "the agents predict on");
        return MDL_EALGO;
    }
    if (cfg->public_rows < cfg->learn.batch) {
        snprintf (err, errlen, "--algo codistill: --public-rows %zu is smaller than --batch %zu (a public batch is --batch "
                  "distinct public rows)", cfg->public_rows, cfg->learn.batch);
        return MDL_EALGO;
    }
    if (cfg->train && cfg->public_rows > mdl_dataset_n (cfg->train)) {
        snprintf (err, errlen, "--algo codistill: --public-rows %zu is more than the %zu training rows", cfg->public_rows,
                  mdl_dataset_n (cfg->train));
        return MDL_EALGO;
    }
    if (!(cfg->distill_weight >= 0)) {
        snprintf (err, errlen, "--algo codistill: --distill-weight must be >= 0 (got %g)", cfg->distill_weight);
        return MDL_EALGO;
    }
    return 0;
}

static int
s_init (void *state, mdl_ctx_t *ctx)
{
    s_cd_t *s = state;
    const mdl_agent_cfg_t *cfg = mdl_ctx_cfg (ctx);
    mdl_model_t *m = mdl_learner_model (mdl_ctx_learner (ctx));
    if (mdl_model_is_regression (m)) {
        mdl_ctx_error (ctx, "--algo codistill distils class probabilities: it needs a classifier, not %s",
                       mdl_model_spec (m));
        return MDL_EALGO;
    }
    const uint32_t *rows;
    size_t nrows;
    s->train = mdl_ctx_train (ctx, &rows, &nrows);
    s->pool = cfg->public_rows;
    s->B = cfg->learn.batch;
    s->C = mdl_model_out_dim (m);
    s->lambda = cfg->distill_weight;
    s->seed = cfg->learn.seed;
    s->total = mdl_ctx_total_steps (ctx);
    const size_t in = mdl_model_in_dim (m);
    if (s->pool < s->B || s->pool > mdl_dataset_n (s->train) || s->B * s->C != mdl_ctx_outputs_len (ctx)) {
        mdl_ctx_error (ctx, "--algo codistill: --public-rows %zu does not fit --batch %zu and %zu training rows", s->pool,
                       s->B, mdl_dataset_n (s->train));
        return MDL_EALGO;
    }
    if (!(s->idx = malloc (s->B * sizeof *s->idx)) || !(s->xb = malloc (s->B * in * sizeof *s->xb))
        || !(s->yb = malloc (s->B * sizeof *s->yb)) || !(s->p = malloc (s->B * s->C * sizeof *s->p))
        || !(s->q = malloc (s->B * s->C * sizeof *s->q)))
        return MDL_ENOMEM;
    return 0;
}

static void
s_destroy (void *state)
{
    s_cd_t *s = state;
    free (s->idx);
    free (s->xb);
    free (s->yb);
    free (s->p);
    free (s->q);
}

/* The distillation term, added to the minibatch gradient g: lambda times the gradient of
   KL(q || p) on the public batch q was predicted on. */
static int
s_distill (void *state, mdl_ctx_t *ctx, float *g)
{
    s_cd_t *s = state;
    if (!s->have_q || s->lambda == 0)
        return 0;
    s->have_q = false; /* each target serves one step */
    mdl_model_t *m = mdl_learner_model (mdl_ctx_learner (ctx));
    s_public_batch (s, s->q_batch);
    float kl = mdl_model_distill (m, s->xb, s->q, s->B, NULL);
    if (!(kl >= 0) || kl > 1e30f)
        return MDL_ENONFINITE;
    mdl_vec_axpy (g, (float) s->lambda, mdl_model_grads (m), mdl_ctx_dim (ctx));
    return 0;
}

static int
s_local_step (void *state, mdl_ctx_t *ctx)
{
    return mdl_ctx_sgd_step_with (ctx, s_distill, state);
}

static int
s_publish (void *state, mdl_ctx_t *ctx)
{
    s_cd_t *s = state;
    const uint64_t b = mdl_ctx_step (ctx) + 1; /* the batch of the next step */
    if (b >= s->total)
        return 0; /* no step will use it */
    s_public_batch (s, b);
    mdl_model_predict (mdl_learner_model (mdl_ctx_learner (ctx)), s->xb, s->B, s->p);
    return mdl_ctx_publish_outputs (ctx, 0, s->p, false);
}

static int
s_mix (void *state, mdl_ctx_t *ctx)
{
    s_cd_t *s = state;
    if (mdl_ctx_step (ctx) + 1 >= s->total)
        return 0;
    uint64_t round = 0;
    int n = mdl_ctx_gather_outputs (ctx, 0, false, s->q, &round);
    s->have_q = n > 0;
    if (n > 0) {
        mdl_vec_scale (s->q, 1.0f / (float) n, s->B * s->C);
        s->q_batch = round + 1;
    }
    return 0;
}

const mdl_algo_ops_t mdl_algo_codistill = {
    .name = "codistill",
    .about = "codistillation: agents exchange output probabilities on a shared public batch and add --distill-weight "
             "times KL(neighbours' mean || own) to their loss (Lacaille 2019)",
    .takes = MDL_ALGO_TAKES_GRAPH | MDL_ALGO_TAKES_DISTILL,
    .channels = 1,
    .outputs = MDL_ALGO_OUTPUTS_PROBS,
    .state_size = sizeof (s_cd_t),
    .check = s_check,
    .init = s_init,
    .local_step = s_local_step,
    .publish = s_publish,
    .mix = s_mix,
    .destroy = s_destroy,
};
