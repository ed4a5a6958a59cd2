/*  algo/adagossip.c: AdaGossip (Aketi, Hashemi & Roy, 2024): CHOCO-SGD with an
    element-wise consensus step. With public copies xhat kept in sync exactly as in CHOCO
    (choco.c), each round
        r_i   = sum_j w_ij xhat_j - xhat_i                  (the gossip error)
        v_i  <- beta v_i + (1 - beta) r_i .* r_i,  vhat = v_i / (1 - beta^t)
        gamma = min(cap, --gamma / (sqrt(vhat) + eps))      (per coordinate)
        x_i  <- x_i + gamma .* r_i
    so coordinates whose copies disagree little move with a large step and noisy ones with
    a small one (beta 0.999, eps 1e-8, as in the authors' code). The sum over j uses the
    same delay-tolerant weights as every algorithm (mdl_ctx_mix).

    The authors cap the step at 1 (cap = --gamma-max). With sparse codecs that diverges:
    coordinates a top-k message rarely carries have public copies that agree closely, so
    their step hits the cap, and a step of 1 on stale copies is CHOCO at gamma 1, unstable
    with top-k (measured: top-1% ends at chance with cap 1 or 0.3, 0.81 with 0.1 and
    0.05). So the cap defaults to 0.05 for topk/randk codecs, 1 otherwise. */
#include "algo.h"

#include <math.h>
#include <stdlib.h>

#include "err.h"
#include "mem.h"
#include "vec.h"

typedef struct {
    float *v;       /* (d) second moment of the gossip error */
    uint64_t t;     /* rounds, for the bias correction */
} s_state_t;

static int
s_init (void *state, mdl_ctx_t *ctx)
{
    s_state_t *s = state;
    if (!(s->v = mdl_mem_zeroed (mdl_ctx_dim (ctx) * sizeof (float))))
        return MDL_ENOMEM;
    return 0;
}

static void
s_destroy (void *state)
{
    s_state_t *s = state;
    free (s->v);
    s->v = NULL;
}

static int
s_publish (void *state, mdl_ctx_t *ctx)
{
    return mdl_ctx_publish (ctx, 0, mdl_ctx_x (ctx));
}

static int
s_mix (void *state, mdl_ctx_t *ctx)
{
    s_state_t *s = state;
    const size_t d = mdl_ctx_dim (ctx);
    const float *xhat = mdl_ctx_public (ctx, 0);
    float *r = mdl_ctx_scratch (ctx, 0), *x = mdl_ctx_x (ctx);
    /* r = sum_j w_ij xhat_j + w_ii xhat_i - xhat_i, by mixing a copy of xhat_i with step 1 */
    mdl_vec_copy (r, xhat, d);
    if (mdl_ctx_mix (ctx, 0, 1.0, xhat, r) == 0)
        return 0; /* nobody heard: no consensus step this round */
    mdl_vec_sub (r, r, xhat, d);
    const float beta = 0.999f, eps = 1e-8f, g = (float) mdl_ctx_gamma (ctx);
    const float cap = (float) mdl_ctx_cfg (ctx)->gamma_max;
    s->t++;
    const float corr = 1.0f / (1.0f - powf (beta, (float) s->t));
    float *restrict v = s->v;
    for (size_t i = 0; i < d; i++) {
        v[i] = beta * v[i] + (1.0f - beta) * r[i] * r[i];
        float step = g / (sqrtf (v[i] * corr) + eps);
        x[i] += (step < cap ? step : cap) * r[i];
    }
    return 0;
}

static const char *const s_names[] = { "v" };

static int
s_save (void *state, mdl_ctx_t *ctx, mdl_ckpt_image_t *img)
{
    s_state_t *s = state;
    const double t = (double) s->t;
    return mdl_algo_save_state (img, mdl_ctx_dim (ctx), s_names, &s->v, 1, &t, 1);
}

static int
s_restore (void *state, mdl_ctx_t *ctx, const mdl_ckpt_image_t *img)
{
    s_state_t *s = state;
    double t;
    int rc = mdl_algo_restore_state (img, mdl_ctx_dim (ctx), s_names, &s->v, 1, &t, 1);
    if (rc == 0)
        s->t = (uint64_t) t;
    return rc;
}

const mdl_algo_ops_t mdl_algo_adagossip = {
    .name = "adagossip",
    .about = "AdaGossip: CHOCO with a per-coordinate adaptive consensus step (Aketi et al. 2024)",
    .takes = MDL_ALGO_TAKES_CODEC | MDL_ALGO_TAKES_GOSSIP_STEPS | MDL_ALGO_TAKES_GRAPH,
    .gamma = 0.01,
    .channels = 1,
    .replicas = true,
    .state_size = sizeof (s_state_t),
    .init = s_init,
    .publish = s_publish,
    .mix = s_mix,
    .destroy = s_destroy,
    .save = s_save,
    .restore = s_restore,
};
