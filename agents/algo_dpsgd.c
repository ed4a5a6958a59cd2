/*  algo_dpsgd.c: D-PSGD gossip averaging (Lian et al., NeurIPS 2017), in the
    adapt-then-combine form: each round the agent takes its local SGD step, publishes the
    result, and mixes with its neighbours':
        x_i <- x_i + gamma * sum_j w_ij (x_j - x_i)      (gamma = 1: x_i <- sum_j W_ij x_j)
    Synchronous mode uses every neighbour's round-t state; asynchronous mode the newest
    state heard, discounted by its staleness. With a lossy codec and --error-feedback the
    exchanged vectors are the public copies (replicas) that compressed deltas keep in
    sync, and the agent's own term is its public copy, as in CHOCO-SGD. */
#include "algo.h"

#include "err.h"

static int
s_publish (void *state, mdl_ctx_t *ctx)
{
    return mdl_ctx_publish (ctx, 0, mdl_ctx_x (ctx));
}

static int
s_mix (void *state, mdl_ctx_t *ctx)
{
    float *x = mdl_ctx_x (ctx);
    const float *self_v = mdl_ctx_replicas (ctx) ? mdl_ctx_public (ctx, 0) : x;
    mdl_ctx_mix (ctx, 0, mdl_ctx_cfg (ctx)->gamma, self_v, x);
    return 0;
}

const mdl_algo_ops_t mdl_algo_dpsgd = {
    .name = "dpsgd",
    .channels = 1,
    .state_size = 0,
    .init = NULL,
    .local_step = NULL,
    .publish = s_publish,
    .mix = s_mix,
    .destroy = NULL,
};
