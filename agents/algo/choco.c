/*  algo/choco.c: CHOCO-SGD (Koloskova, Stich & Jaggi, ICML 2019). Every agent keeps public
    copies xhat of itself and its neighbours; it publishes q_i = C(x_i - xhat_i) (any
    codec), everyone adds q_i to their copy of xhat_i, and the consensus step is
        x_i <- x_i + gamma * sum_j w_ij (xhat_j - xhat_i)
    which preserves the network mean exactly (W doubly stochastic) and keeps the agent's
    own progress x_i - xhat_i. It needs gamma small enough for the codec (roughly of the
    order of the fraction of information a message carries). PUB/SUB can lose a message:
    sequence numbers detect the gap, the receiver asks for a keyframe and ignores deltas
    until it arrives (mdl_ctx_publish and the comm actor do this). */
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
    mdl_ctx_mix (ctx, 0, mdl_ctx_gamma (ctx), mdl_ctx_public (ctx, 0), mdl_ctx_x (ctx));
    return 0;
}

const mdl_algo_ops_t mdl_algo_choco = {
    .name = "choco",
    .about = "CHOCO-SGD: compressed gossip on public replicas (Koloskova et al. 2019)",
    .takes = MDL_ALGO_TAKES_CODEC | MDL_ALGO_TAKES_GOSSIP_STEPS | MDL_ALGO_TAKES_GRAPH,
    .gamma = 0.1,
    .channels = 1,
    .replicas = true,
    .publish = s_publish,
    .mix = s_mix,
};
