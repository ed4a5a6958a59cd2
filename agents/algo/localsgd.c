/*  algo/localsgd.c: local SGD (Stich, ICLR 2019; Lin et al., ICLR 2020): H optimizer
    steps on the agent's own shard between gossip rounds, each round a D-PSGD average
        x_i <- sum_j w_ij x_j.
    On the complete graph (weights 1/n) the round is the exact average of all agents:
    FedAvg (McMahan et al., AISTATS 2017) without a server, every client taking part,
    H local steps per round. With --global-every P the worker adds an exact average over
    all live peers every P steps (Gossip-PGA, Chen et al., ICML 2021).

    Rounds keep the step index (t = step * K + k): an agent gossips in the rounds of the
    steps s with (s + 1) % H == 0, so every agent skips the same rounds and synchronous
    neighbours never wait for a round nobody sends.

    --local-epochs E (Xu, Mi et al., "Collaborative deep learning across multiple data
    centers", Sci. China Inf. Sci. 2020): no gossip at all; every E epochs (and at the
    end of a run that is not a whole number of periods) the exact average over every
    live peer, weighted by shard size,
        x <- sum_k (n_k / n) x_k,
    through the acknowledged global-average protocol (globalavg.c), each agent's n_k
    travelling with its state. Their second strategy, the cyclical learning rate, is the
    schedule's: --schedule clr:MIN:MAX:PERIOD, whose minimum falls on the averages when
    PERIOD divides E. */
#include "algo.h"

#include <string.h>

#include "err.h"

static bool
s_due (mdl_ctx_t *ctx)
{
    const mdl_agent_cfg_t *cfg = mdl_ctx_cfg (ctx);
    if (cfg->local_epochs > 0)
        return false;
    const uint64_t K = cfg->gossip_steps > 1 ? (uint64_t) cfg->gossip_steps : 1;
    const uint64_t H = cfg->local_steps > 1 ? (uint64_t) cfg->local_steps : 1;
    return (mdl_ctx_step (ctx) / K + 1) % H == 0;
}

static int
s_check (const mdl_agent_cfg_t *cfg, char *err, size_t errlen)
{
    if (cfg->local_epochs <= 0)
        return 0;
    const char *opt = cfg->local_steps > 1      ? "--local-steps"
                      : cfg->global_every > 0   ? "--global-every"
                      : cfg->gossip_steps > 1   ? "--gossip-steps"
                      : cfg->error_feedback     ? "--error-feedback"
                      : cfg->codec && strcmp (cfg->codec, "fp32") ? "--codec"
                      : cfg->ad_target > 0      ? "--adaptive-degree"
                      : cfg->dense_len > 0      ? "--dense-window"
                      : cfg->offline > 0        ? "--offline"
                                                : NULL;
    if (opt) {
        snprintf (err, errlen, "--algo localsgd --local-epochs replaces gossip by exact averages every E epochs: no %s", opt);
        return MDL_EALGO;
    }
    return 0;
}

static int
s_publish (void *state, mdl_ctx_t *ctx)
{
    return s_due (ctx) ? mdl_ctx_publish (ctx, 0, mdl_ctx_x (ctx)) : 0;
}

/* --local-epochs: the weighted average after every E epochs' steps, and after the last. */
static void
s_epoch_average (mdl_ctx_t *ctx)
{
    const mdl_agent_cfg_t *cfg = mdl_ctx_cfg (ctx);
    const uint64_t done = mdl_ctx_step (ctx) + 1, total = mdl_ctx_total_steps (ctx);
    const uint64_t period = mdl_learner_steps_per_epoch (mdl_ctx_learner (ctx)) * (uint64_t) cfg->local_epochs;
    if ((period == 0 || done % period) && done != total)
        return;
    /* The k-th average is round MDL_MERGE_ROUND + 2k, k counted in periods, not steps:
       agents with shards of other sizes run other steps per epoch and reach their k-th
       average at other steps (the one with more data later, as a larger data centre
       would); the last, k = ceil(epochs / E), is the same for all. */
    const uint64_t k = period ? (done + period - 1) / period : 1;
    const uint32_t *rows;
    size_t nrows = 0, peers = 0, bad = 0;
    mdl_ctx_train (ctx, &rows, &nrows);
    int rc = mdl_ctx_global_average_weighted (ctx, MDL_MERGE_ROUND + 2 * k, (double) nrows, &peers, &bad);
    if (rc && !mdl_ctx_stopping (ctx))
        mdl_ctx_log (ctx, "localsgd: the average after step %llu is incomplete (%s): continuing without it",
                     (unsigned long long) done, mdl_strerror (rc));
    else if (!rc && bad)
        mdl_ctx_log (ctx, "localsgd: %zu peers sent no valid shard size with their state: they counted for nothing", bad);
}

static int
s_mix (void *state, mdl_ctx_t *ctx)
{
    float *x = mdl_ctx_x (ctx);
    if (mdl_ctx_cfg (ctx)->local_epochs > 0)
        s_epoch_average (ctx);
    else if (s_due (ctx))
        mdl_ctx_mix (ctx, 0, mdl_ctx_gamma (ctx), x, x);
    return 0;
}

const mdl_algo_ops_t mdl_algo_localsgd = {
    .name = "localsgd",
    .about = "local SGD: --local-steps H local steps between gossip rounds (Stich 2019; Lin et al. 2020), or "
             "--local-epochs E: exact averages weighted by shard size every E epochs (Xu, Mi et al. 2020)",
    .takes = MDL_ALGO_TAKES_CODEC | MDL_ALGO_TAKES_GOSSIP_STEPS | MDL_ALGO_TAKES_LOCAL_STEPS | MDL_ALGO_TAKES_GLOBAL_EVERY
             | MDL_ALGO_TAKES_GRAPH | MDL_ALGO_TAKES_LOCAL_EPOCHS | MDL_ALGO_TAKES_OFFLINE,
    .channels = 1,
    .check = s_check,
    .publish = s_publish,
    .mix = s_mix,
};
