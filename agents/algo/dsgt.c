/*  algo/dsgt.c: decentralized stochastic gradient tracking (the form of Fainman & Vlaski,
    2025, PAPERS.md §18; Nedic, Olshevsky & Shi 2017; Pu & Nedic 2021):
        x^+ = W (x - lr y) ,   y^+ = W (y + g(x^+) - g(x)) ,   y_0 = g(x_0)
    Each agent's y tracks the network average of the gradients: with W doubly stochastic
    the mean of y is the mean of the current gradients at every round, so the fixed point
    is the minimiser of the average loss with no heterogeneity bias (D-PSGD's fixed point
    moves with the spread of the local optima). With a time-varying W(t) that averages
    exactly over a period (one-peer-exp for n = 2^p, base:K for any n) consensus is
    reached in finite time.
    The round, two vectors on two channels: the local step takes the gradient at x and
    corrects y <- y + g(x) - g(x_prev) (x unchanged); publish sends y (channel 1); mix
    takes y <- W y, then x <- x - lr y, publishes x (channel 0) and takes x <- W x. The
    second exchange waits for the first: two message latencies per round.
    Refused (mdl_algo_require): any optimizer but sgd (the tracked direction is the
    update; momentum on top is another algorithm), --mode async and lossy codecs: both
    break the mean-preservation of y, and its errors then accumulate without bound
    (compressed tracking needs its own error-feedback scheme, not done here).
    Further rounds of --gossip-steps mix both vectors again, without a new step. */
#include "algo.h"

#include <stdbool.h>
#include <stdlib.h>

#include "err.h"
#include "mem.h"
#include "momentum.h"
#include "vec.h"

typedef struct {
    float *y;       /* (d) gradient tracker */
    float *gold;    /* (d) gradient of the previous local step */
    bool started;   /* y holds a tracked direction */
    float lr;       /* learning rate of the pending step */
    bool pending;   /* x - lr y still to be taken this step */
} s_state_t;

static int
s_check (const mdl_agent_cfg_t *cfg, char *err, size_t errlen)
{
    return mdl_algo_require (cfg, 1u << MDL_OPT_SGD, true, err, errlen);
}

static int
s_init (void *state, mdl_ctx_t *ctx)
{
    s_state_t *s = state;
    const size_t d = mdl_ctx_dim (ctx) ? mdl_ctx_dim (ctx) : 1;
    if (!(s->y = mdl_mem_zeroed (d * sizeof (float))) || !(s->gold = mdl_mem_zeroed (d * sizeof (float))))
        return MDL_ENOMEM;
    return 0;
}

static void
s_destroy (void *state)
{
    s_state_t *s = state;
    free (s->y);
    free (s->gold);
    s->y = s->gold = NULL;
}

static int
s_local_step (void *state, mdl_ctx_t *ctx)
{
    s_state_t *s = state;
    const size_t d = mdl_ctx_dim (ctx);
    float *g;
    int rc = mdl_ctx_grad (ctx, &g);
    if (rc)
        return rc;
    if (!s->started) {
        mdl_vec_copy (s->y, g, d);
        mdl_vec_copy (s->gold, g, d);
        s->started = true;
    } else
        mdl_gt_track (s->y, s->gold, g, d);
    s->lr = mdl_ctx_lr (ctx);
    s->pending = true;
    mdl_ctx_step_done (ctx);
    return 0;
}

static int
s_publish (void *state, mdl_ctx_t *ctx)
{
    s_state_t *s = state;
    return mdl_ctx_publish (ctx, 1, s->y);
}

static int
s_mix (void *state, mdl_ctx_t *ctx)
{
    s_state_t *s = state;
    const size_t d = mdl_ctx_dim (ctx);
    const double gamma = mdl_ctx_gamma (ctx);
    float *x = mdl_ctx_x (ctx);
    mdl_ctx_mix (ctx, 1, gamma, s->y, s->y);
    if (s->pending)
        mdl_vec_axpy (x, -s->lr, s->y, d);
    s->pending = false;
    int rc = mdl_ctx_publish (ctx, 0, x);
    if (rc)
        return rc;
    mdl_ctx_mix (ctx, 0, gamma, x, x);
    return 0;
}

/* The tracker and the gradient it was last corrected with; at a step boundary the step
   x - lr y has been taken (pending is false). */
static const char *const s_names[] = { "y", "gold" };

static int
s_save (void *state, mdl_ctx_t *ctx, mdl_ckpt_image_t *img)
{
    s_state_t *s = state;
    float *const v[2] = { s->y, s->gold };
    const double started = s->started ? 1.0 : 0.0;
    return mdl_algo_save_state (img, mdl_ctx_dim (ctx), s_names, v, 2, &started, 1);
}

static int
s_restore (void *state, mdl_ctx_t *ctx, const mdl_ckpt_image_t *img)
{
    s_state_t *s = state;
    float *const v[2] = { s->y, s->gold };
    double started;
    int rc = mdl_algo_restore_state (img, mdl_ctx_dim (ctx), s_names, v, 2, &started, 1);
    if (rc == 0) {
        s->started = started != 0.0;
        s->pending = false;
    }
    return rc;
}

const mdl_algo_ops_t mdl_algo_dsgt = {
    .name = "dsgt",
    .about = "gradient tracking: tracks the average gradient over exact mixing (Pu & Nedic; Fainman & Vlaski)",
    .takes = MDL_ALGO_TAKES_CODEC | MDL_ALGO_TAKES_GOSSIP_STEPS | MDL_ALGO_TAKES_GRAPH,
    .channels = 2,
    .state_size = sizeof (s_state_t),
    .optimizer = "sgd",
    .lr = 0.1,
    .check = s_check,
    .init = s_init,
    .local_step = s_local_step,
    .publish = s_publish,
    .mix = s_mix,
    .destroy = s_destroy,
    .save = s_save,
    .restore = s_restore,
};
