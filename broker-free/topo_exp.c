/*  topo_exp.c: the static and the one-peer exponential graphs.

    Ying, Yuan, Chen, Hu, Pan, Yin, "Exponential Graph is Provably Efficient for
    Decentralized Deep Training", NeurIPS 2021. Agent i sends to i + 2^k (mod n), so
    it hears i - 2^k (mod n). The distances 2^k < n are distinct and non-zero mod n.

    Static: all k with 2^k < n at once, tau = ceil(log2 n) neighbours, uniform weights
    1/(tau+1). W = (I + sum_k P^(2^k)) / (tau+1) is circulant, hence doubly stochastic,
    but not symmetric in general.

    One-peer: at round t only k = t mod tau, weights 1/2, 1/2. Every factor
    (I + P^(2^k)) / 2 is circulant, so they commute, and for n = 2^tau their product
    is prod_k (I + P^(2^k)) / 2^tau = sum_{j<n} P^j / n = 11^T / n: exact averaging
    after tau rounds. For other n it is not exact. */
#include "topo_ops.h"

/* ceil(log2 n) for n >= 1. */
static uint32_t
s_tau (uint32_t n)
{
    uint32_t tau = 0;
    while (tau < 32 && (UINT64_C (1) << tau) < n)
        tau++;
    return tau;
}

static uint32_t
s_static_period (const mdl_topo_t *self, uint32_t n)
{
    return 1;
}

static void
s_static_row (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t, bool out,
              mdl_topo_row_t *row)
{
    for (uint64_t h = 1; h < n; h <<= 1) {
        uint32_t d = (uint32_t) h;
        mdl_topo_row_push (row, out ? (uint32_t) (((uint64_t) i + d) % n)
                                    : (uint32_t) (((uint64_t) i + n - d) % n), 0.0);
    }
}

static size_t
s_static_degree (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t)
{
    return s_tau (n);
}

static uint32_t
s_one_peer_period (const mdl_topo_t *self, uint32_t n)
{
    return n >= 2 ? s_tau (n) : 1;
}

static void
s_one_peer_row (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t, bool out,
                mdl_topo_row_t *row)
{
    if (n == 1)
        return;
    uint32_t d = (uint32_t) (UINT64_C (1) << (t % s_tau (n)));
    uint32_t j = out ? (uint32_t) (((uint64_t) i + d) % n)
                     : (uint32_t) (((uint64_t) i + n - d) % n);
    mdl_topo_row_push (row, j, 0.0);
}

static size_t
s_one_peer_degree (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t)
{
    return n >= 2 ? 1 : 0;
}

const mdl_topo_ops_t mdl_topo_exp_ops = {
    .name = "exp",
    .directed = true,
    .period = s_static_period,
    .row = s_static_row,
    .degree = s_static_degree,
};

const mdl_topo_ops_t mdl_topo_one_peer_exp_ops = {
    .name = "one-peer-exp",
    .directed = true,
    .time_varying = true,
    .period = s_one_peer_period,
    .row = s_one_peer_row,
    .degree = s_one_peer_degree,
};
