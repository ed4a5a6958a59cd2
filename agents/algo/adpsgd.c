/*  algo/adpsgd.c: AD-PSGD, asynchronous decentralized parallel SGD (Lian, Zhang, Zhang
    and Liu, ICML 2018). Each agent, at its own pace, takes an SGD step on its shard and
    then averages its model with ONE neighbour picked at random, atomically on both
    sides:
        x_i, x_j <- (x_i + x_j) / 2.
    Each such average is a doubly stochastic pairwise W, so the network's mean model
    moves only by the gradient steps: with lr 0 it stays where it started while the
    agents converge to it. No rounds and no waiting for a whole neighbourhood: an agent
    waits only for its partner's next step boundary (request/accept through the worker's
    pairbox, worker.c), and a busy partner refuses instead of blocking, so there is no
    deadlock.

    Here the gradient step comes before the average (adapt-then-combine, as our dpsgd);
    Lian et al. apply the gradient, computed on the pre-average x, after it. Both are
    x_i <- avg - lr g(x_i) or avg(x_i - lr g(x_i), x_j) of one pair: the same algorithm
    up to when the pair sees the step.

    The exchange is one request and one answer, not a two-phase commit. A request that
    times out (--sync-timeout, or its partner looked gone) and is accepted after all
    still keeps the mean: the requester kept what it sent and takes its half of that
    exchange, x_i += (x_j_before - sent) / 2, when the accept comes (pairavg.c); until
    then it sends no new request, and a worker that ends waits for that answer. Only
    under --robust clip is such an accept dropped (counted and logged). Pair messages
    are exempt from --drop (a lost accept would leave the partner averaged alone). */
#include "algo.h"

static int
s_publish (void *state, mdl_ctx_t *ctx)
{
    return 0; /* nothing is broadcast: models travel in requests and accepts */
}

static int
s_mix (void *state, mdl_ctx_t *ctx)
{
    mdl_ctx_pair_average (ctx);
    return 0;
}

const mdl_algo_ops_t mdl_algo_adpsgd = {
    .name = "adpsgd",
    .about = "AD-PSGD: asynchronous pairwise averages of exact fp32 models, one per step (Lian et al. 2018)",
    .takes = MDL_ALGO_TAKES_GRAPH,
    .async_only = true,
    .channels = 1,
    .pairwise = true,
    .publish = s_publish,
    .mix = s_mix,
};
