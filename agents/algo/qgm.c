/*  algo/qgm.c: Quasi-Global Momentum (Lin, Karimireddy, Stich & Jaggi, ICML 2021;
    checked against epfml/quasi-global-momentum, decentralized_qg_sgd.py). Local momentum
    on a heterogeneous shard points towards the agent's own optimum; QGM's buffer instead
    follows the model's displacement over a whole round, local step AND gossip, which
    approximates the global direction with no extra message:
        u_i    = mu m_i + g_i   (heavy ball)   or  g_i + mu (mu m_i + g_i)   (Nesterov)
        x_i^½  = x_i - lr u_i ;   x_i^+ = sum_j w_ij x_j^½          (D-PSGD's gossip)
        m_i   <- mu m_i + (1 - mu) (x_i - x_i^+) / lr
    (the paper's beta = 1 - mu). The buffer is updated at the start of the next local
    step, so that --gossip-steps K > 1 counts all K rounds in the displacement; at a
    common fixed point it equals heavy-ball's m = g / (1 - mu). A round with lr 0 leaves
    the buffer alone (no displacement per unit step to speak of). */
#include "algo.h"

#include <stdlib.h>

#include "err.h"
#include "mem.h"
#include "momentum.h"
#include "vec.h"

typedef struct {
    float *m;       /* (d) quasi-global momentum */
    float *xprev;   /* (d) x at the start of the last local step */
    float lr_prev;  /* its learning rate; 0 = no step yet */
} s_state_t;

static int
s_check (const mdl_agent_cfg_t *cfg, char *err, size_t errlen)
{
    return mdl_algo_require (cfg, 1u << MDL_OPT_MOMENTUM | 1u << MDL_OPT_NESTEROV, false, err, errlen);
}

static int
s_init (void *state, mdl_ctx_t *ctx)
{
    s_state_t *s = state;
    const size_t d = mdl_ctx_dim (ctx) ? mdl_ctx_dim (ctx) : 1;
    if (!(s->m = mdl_mem_zeroed (d * sizeof (float))) || !(s->xprev = mdl_mem_zeroed (d * sizeof (float))))
        return MDL_ENOMEM;
    return 0;
}

static void
s_destroy (void *state)
{
    s_state_t *s = state;
    free (s->m);
    free (s->xprev);
    s->m = s->xprev = NULL;
}

static int
s_local_step (void *state, mdl_ctx_t *ctx)
{
    s_state_t *s = state;
    const mdl_opt_cfg_t *opt = &mdl_ctx_cfg (ctx)->learn.opt;
    const size_t d = mdl_ctx_dim (ctx);
    float *x = mdl_ctx_x (ctx), *g;
    if (s->lr_prev > 0)
        mdl_qgm_momentum (s->m, s->xprev, x, opt->momentum, s->lr_prev, d);
    int rc = mdl_ctx_grad (ctx, &g);
    if (rc)
        return rc;
    const float lr = mdl_ctx_lr (ctx);
    mdl_vec_copy (s->xprev, x, d);
    s->lr_prev = lr;
    mdl_mom_direction (g, s->m, g, opt->momentum, opt->kind == MDL_OPT_NESTEROV, d);
    mdl_vec_axpy (x, -lr, g, d);
    mdl_ctx_step_done (ctx);
    return 0;
}

static const char *const s_names[] = { "m", "xprev" };

static int
s_save (void *state, mdl_ctx_t *ctx, mdl_ckpt_image_t *img)
{
    s_state_t *s = state;
    float *const v[2] = { s->m, s->xprev };
    const double lr = s->lr_prev;
    return mdl_algo_save_state (img, mdl_ctx_dim (ctx), s_names, v, 2, &lr, 1);
}

static int
s_restore (void *state, mdl_ctx_t *ctx, const mdl_ckpt_image_t *img)
{
    s_state_t *s = state;
    float *const v[2] = { s->m, s->xprev };
    double lr;
    int rc = mdl_algo_restore_state (img, mdl_ctx_dim (ctx), s_names, v, 2, &lr, 1);
    if (rc == 0)
        s->lr_prev = (float) lr;
    return rc;
}

const mdl_algo_ops_t mdl_algo_qgm = {
    .name = "qgm",
    .about = "QGM: quasi-global momentum (Lin et al. 2021)",
    .takes = MDL_ALGO_TAKES_CODEC | MDL_ALGO_TAKES_GOSSIP_STEPS | MDL_ALGO_TAKES_GRAPH,
    .channels = 1,
    .state_size = sizeof (s_state_t),
    .optimizer = "momentum",
    .lr = 0.02,
    .momentum = 0.9,
    .check = s_check,
    .init = s_init,
    .local_step = s_local_step,
    .publish = mdl_algo_publish_x,
    .mix = mdl_algo_mix_x,
    .destroy = s_destroy,
    .save = s_save,
    .restore = s_restore,
};
