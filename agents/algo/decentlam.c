/*  algo/decentlam.c: DecentLaM (Yuan, Chen, Huang, Zhang, Pan, Xu & Yin, ICCV 2021).
    DmSGD's momentum acts on the gradient only, and its fixed point carries a
    heterogeneity bias 1 / (1 - beta) times that of D-SGD, which large batches (little
    gradient noise) expose. DecentLaM puts the momentum on the whole D-SGD direction,
    gradient plus consensus pull:
        g~_i = g_i + (x_i - sum_j w_ij x_j) / lr ;  m_i <- beta m_i + g~_i ;  x_i <- x_i - lr m_i
    i.e. x_i <- sum_j w_ij x_j - lr (beta m_i + g_i). At a fixed point m = 0, so
    g_i + (x_i - (Wx)_i) / lr = 0: D-SGD's fixed point with step lr, not lr / (1 - beta).
    (The paper's rule is recalled, not verified against its text, in PAPERS.md §16; the
    fixed-point argument above is why this is the form that removes the bias.)
    The round: the gradient at x (local step, x unchanged), publish x, then
    x <- Wx - lr (beta m + g) once the neighbours' x are in; further rounds of
    --gossip-steps are plain gossip. beta is --momentum. */
#include "algo.h"

#include <stdbool.h>
#include <stdlib.h>

#include "err.h"
#include "mem.h"
#include "momentum.h"
#include "vec.h"

typedef struct {
    float *m;       /* (d) momentum of the D-SGD direction */
    float *g;       /* the model's gradient vector, from the local step */
    float lr;       /* learning rate of that step */
    bool pending;   /* the step's update is still to be applied by mix */
} s_state_t;

static int
s_check (const mdl_agent_cfg_t *cfg, char *err, size_t errlen)
{
    return mdl_algo_require (cfg, 1u << MDL_OPT_MOMENTUM, false, err, errlen);
}

static int
s_init (void *state, mdl_ctx_t *ctx)
{
    s_state_t *s = state;
    if (!(s->m = mdl_mem_zeroed (mdl_ctx_dim (ctx) * sizeof (float))))
        return MDL_ENOMEM;
    return 0;
}

static void
s_destroy (void *state)
{
    s_state_t *s = state;
    free (s->m);
    s->m = NULL;
}

static int
s_local_step (void *state, mdl_ctx_t *ctx)
{
    s_state_t *s = state;
    int rc = mdl_ctx_grad (ctx, &s->g);
    if (rc)
        return rc;
    s->lr = mdl_ctx_lr (ctx);
    s->pending = true;
    mdl_ctx_step_done (ctx);
    return 0;
}

static int
s_mix (void *state, mdl_ctx_t *ctx)
{
    s_state_t *s = state;
    const size_t d = mdl_ctx_dim (ctx);
    float *x = mdl_ctx_x (ctx), *wx = mdl_ctx_scratch (ctx, 0);
    mdl_vec_copy (wx, x, d);
    mdl_ctx_mix (ctx, 0, mdl_ctx_gamma (ctx), x, wx);
    if (s->pending && s->lr > 0)
        mdl_decentlam_step (x, s->m, s->g, wx, mdl_ctx_cfg (ctx)->learn.opt.momentum, s->lr, d);
    else
        mdl_vec_copy (x, wx, d);
    s->pending = false;
    return 0;
}

/* At a step boundary the step's update has been applied (pending is false): the
   momentum is the whole state. */
static const char *const s_names[] = { "m" };

static int
s_save (void *state, mdl_ctx_t *ctx, mdl_ckpt_image_t *img)
{
    s_state_t *s = state;
    return mdl_algo_save_state (img, mdl_ctx_dim (ctx), s_names, &s->m, 1, NULL, 0);
}

static int
s_restore (void *state, mdl_ctx_t *ctx, const mdl_ckpt_image_t *img)
{
    s_state_t *s = state;
    s->pending = false;
    return mdl_algo_restore_state (img, mdl_ctx_dim (ctx), s_names, &s->m, 1, NULL, 0);
}

const mdl_algo_ops_t mdl_algo_decentlam = {
    .name = "decentlam",
    .about = "DecentLaM: momentum without the large-batch bias (Yuan et al. 2021)",
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
    .mix = s_mix,
    .destroy = s_destroy,
    .save = s_save,
    .restore = s_restore,
};
