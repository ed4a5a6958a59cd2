/*  algo/dpsgd.c: D-PSGD gossip averaging (Lian et al., NeurIPS 2017), in the
    adapt-then-combine form: each round the agent takes its local SGD step, publishes the
    result, and mixes with its neighbours':
        x_i <- x_i + gamma * sum_j w_ij (x_j - x_i)      (gamma = 1: x_i <- sum_j W_ij x_j)
    Synchronous mode uses every neighbour's round-t state; asynchronous mode the newest
    state heard, discounted by its staleness. With a lossy codec and --error-feedback the
    neighbours' vectors are the public copies (replicas) that error-feedback compressed
    deltas keep in sync. */
#include "algo.h"

#include "err.h"

int
mdl_algo_publish_x (void *state, mdl_ctx_t *ctx)
{
    return mdl_ctx_publish (ctx, 0, mdl_ctx_x (ctx));
}

int
mdl_algo_mix_x (void *state, mdl_ctx_t *ctx)
{
    /* The agent's own term is its exact x, also when neighbours are seen through
       replicas: x_i <- w_ii x_i + sum_j w_ij xhat_j. Each step then replaces x by an
       average of fresh values, so the replicas' lag (the error-feedback residual,
       bounded) perturbs the average without accumulating; mixing differences of
       replicas instead (CHOCO, choco.c) needs gamma of the order of the codec's
       compression ratio to stay stable. */
    float *x = mdl_ctx_x (ctx);
    mdl_ctx_mix (ctx, 0, mdl_ctx_gamma (ctx), x, x);
    return 0;
}

const mdl_algo_ops_t mdl_algo_dpsgd = {
    .name = "dpsgd",
    .about = "D-PSGD: gossip averaging of the models, one round per step (Lian et al. 2017)",
    .takes = MDL_ALGO_TAKES_CODEC | MDL_ALGO_TAKES_GOSSIP_STEPS | MDL_ALGO_TAKES_GLOBAL_EVERY | MDL_ALGO_TAKES_OVERLAP | MDL_ALGO_TAKES_GRAPH
             | MDL_ALGO_TAKES_OFFLINE,
    .channels = 1,
    .state_size = 0,
    .init = NULL,
    .local_step = NULL,
    .publish = mdl_algo_publish_x,
    .mix = mdl_algo_mix_x,
    .destroy = NULL,
};
