/*  algo/localsgd.c: local SGD (Stich, ICLR 2019; Lin et al., ICLR 2020): H optimizer
    steps on the agent's own shard between gossip rounds, each round a D-PSGD average
        x_i <- sum_j w_ij x_j.
    On the complete graph (weights 1/n) the round is the exact average of all agents:
    FedAvg (McMahan et al., AISTATS 2017) without a server, every client taking part,
    H local steps per round. With --global-every P the worker adds an exact average over
    all live peers every P steps (Gossip-PGA, Chen et al., ICML 2021).

    Rounds keep the step index (t = step * K + k): an agent gossips in the rounds of the
    steps s with (s + 1) % H == 0, so every agent skips the same rounds and synchronous
    neighbours never wait for a round nobody sends. */
#include "algo.h"

static bool
s_due (mdl_ctx_t *ctx)
{
    const mdl_agent_cfg_t *cfg = mdl_ctx_cfg (ctx);
    const uint64_t K = cfg->gossip_steps > 1 ? (uint64_t) cfg->gossip_steps : 1;
    const uint64_t H = cfg->local_steps > 1 ? (uint64_t) cfg->local_steps : 1;
    return (mdl_ctx_step (ctx) / K + 1) % H == 0;
}

static int
s_publish (void *state, mdl_ctx_t *ctx)
{
    return s_due (ctx) ? mdl_ctx_publish (ctx, 0, mdl_ctx_x (ctx)) : 0;
}

static int
s_mix (void *state, mdl_ctx_t *ctx)
{
    float *x = mdl_ctx_x (ctx);
    if (s_due (ctx))
        mdl_ctx_mix (ctx, 0, mdl_ctx_gamma (ctx), x, x);
    return 0;
}

const mdl_algo_ops_t mdl_algo_localsgd = {
    .name = "localsgd",
    .about = "local SGD: --local-steps H local steps between gossip rounds (Stich 2019; Lin et al. 2020)",
    .takes = MDL_ALGO_TAKES_CODEC | MDL_ALGO_TAKES_GOSSIP_STEPS | MDL_ALGO_TAKES_LOCAL_STEPS | MDL_ALGO_TAKES_GLOBAL_EVERY | MDL_ALGO_TAKES_GRAPH,
    .channels = 1,
    .publish = s_publish,
    .mix = s_mix,
};
