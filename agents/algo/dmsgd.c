/*  algo/dmsgd.c: DmSGD, decentralized momentum SGD (the baseline of Yuan et al., ICCV
    2021, and of Lin et al., ICML 2021), in the adapt-then-combine form:
        m_i <- mu m_i + g_i ;  x_i <- sum_j w_ij (x_j - lr u_j)
    with u = m (--optimizer momentum, heavy ball) or g + mu m (nesterov): the learner's
    own optimizer takes the local step, then D-PSGD's gossip. It is D-PSGD restricted to
    the momentum optimizers, named for what it is in the papers; at its fixed point the
    momentum multiplies the heterogeneity bias by 1 / (1 - mu), which QGM and DecentLaM
    address. */
#include "algo.h"

#include "err.h"

static int
s_check (const mdl_agent_cfg_t *cfg, char *err, size_t errlen)
{
    return mdl_algo_require (cfg, 1u << MDL_OPT_MOMENTUM | 1u << MDL_OPT_NESTEROV, false, err, errlen);
}

const mdl_algo_ops_t mdl_algo_dmsgd = {
    .name = "dmsgd",
    .about = "DmSGD: D-PSGD with local heavy-ball momentum",
    .takes = MDL_ALGO_TAKES_CODEC | MDL_ALGO_TAKES_GOSSIP_STEPS | MDL_ALGO_TAKES_GRAPH,
    .channels = 1,
    .optimizer = "momentum",
    .lr = 0.02,
    .momentum = 0.9,
    .check = s_check,
    .publish = mdl_algo_publish_x,
    .mix = mdl_algo_mix_x,
};
