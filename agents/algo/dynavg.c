/*  algo/dynavg.c: dynamic model averaging (Kamp et al., ECML PKDD 2018), without a
    coordinator. Every agent trains locally and holds the reference r, the model of the
    last synchronisation, identical everywhere. Every --check-every steps it checks its
    local condition ||x_i - r||^2 <= delta; a violator starts synchronisation k (round
    MDL_SYNC_BASE + 2k), every agent that sees it joins, and all replace x and r by the
    exact average over the live peers (mdl_ctx_global_average: acknowledged, retried).
    While models stay within delta of r nothing is sent at all. delta = 0 is periodic
    averaging every --check-every steps.

    Kamp's coordinator balances over a growing subset of learners; without a coordinator
    the balancing set is every live agent (the subset needs a global decision: any agent
    choosing it needs the others' models, which is what the full average costs anyway).

    References stay identical because every agent averages the same states in the same
    order; each state carries its sender's reference digest (mdl_vec_digest: 52 bits,
    exact in a double), and a mismatch is counted and logged. The synchronisation repairs it,
    since it replaces every reference with the same average; an agent whose
    synchronisation failed (timeout) holds a stale reference and starts a new one at its
    next check. After its last step an agent keeps joining synchronisations until every
    peer said it finished (FIN), so a late violator never waits for an agent that left. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "algo.h"
#include "err.h"
#include "vec.h"

typedef struct {
    float *r;          /* the reference */
    uint64_t version;  /* synchronisations behind it */
    double hash;       /* of r, sent as aux */
    bool stale;        /* the last synchronisation failed: r may differ from the peers' */
    uint64_t last;     /* step of the last check or synchronisation */
} s_dyn_t;

static uint64_t
s_round_of (uint64_t version)
{
    return MDL_SYNC_BASE + 2 * version;
}

static int
s_init (void *state, mdl_ctx_t *ctx)
{
    s_dyn_t *s = state;
    const mdl_agent_cfg_t *cfg = mdl_ctx_cfg (ctx);
    if (cfg->dyn_delta < 0) {
        mdl_ctx_error (ctx, "dynavg: --delta must be >= 0 (got %g)", cfg->dyn_delta);
        return MDL_EALGO;
    }
    if (cfg->check_every < 1) {
        mdl_ctx_error (ctx, "dynavg: --check-every must be >= 1 (got %d)", cfg->check_every);
        return MDL_EALGO;
    }
    const size_t d = mdl_ctx_dim (ctx);
    if (!(s->r = malloc (d * sizeof (float))))
        return MDL_ENOMEM;
    /* Agents start from the same initial model (same --seed), so it is everyone's first
       reference without a message. Different seeds show as a hash mismatch at the first
       synchronisation, which also repairs it. */
    mdl_vec_copy (s->r, mdl_ctx_x (ctx), d);
    s->hash = mdl_vec_digest (s->r, d);
    return 0;
}

static void
s_destroy (void *state)
{
    s_dyn_t *s = state;
    free (s->r);
}

/* Synchronisation at round R: x and r become the exact average over the live peers. */
static void
s_sync (s_dyn_t *s, mdl_ctx_t *ctx, uint64_t R)
{
    size_t peers = 0, mismatched = 0;
    int rc = mdl_ctx_global_average (ctx, R, s->hash, &peers, &mismatched);
    const size_t d = mdl_ctx_dim (ctx);
    if (rc) {
        s->stale = true;
        if (!mdl_ctx_stopping (ctx))
            mdl_ctx_log (ctx, "dynavg: synchronisation %llu incomplete (%s)",
                         (unsigned long long) ((R - MDL_SYNC_BASE) / 2), mdl_strerror (rc));
        return;
    }
    if (mismatched)
        mdl_ctx_log (ctx, "dynavg: %zu peers held another reference before synchronisation %llu (now repaired)",
                     mismatched, (unsigned long long) ((R - MDL_SYNC_BASE) / 2));
    mdl_vec_copy (s->r, mdl_ctx_x (ctx), d);
    s->version = (R - MDL_SYNC_BASE) / 2;
    mdl_ctx_log (ctx, "dynavg: synchronisation %llu at step %llu with %zu peers", (unsigned long long) s->version,
                 (unsigned long long) mdl_ctx_step (ctx), peers);
    s->hash = mdl_vec_digest (s->r, d);
    s->stale = false;
}

/* A synchronisation to join: one a peer started above our reference's. */
static uint64_t
s_wanted (const s_dyn_t *s, mdl_ctx_t *ctx)
{
    uint64_t w = mdl_ctx_sync_wanted (ctx);
    return w >= s_round_of (s->version + 1) ? w & ~(uint64_t) 1 : 0;
}

static int
s_publish (void *state, mdl_ctx_t *ctx)
{
    s_dyn_t *s = state;
    const mdl_agent_cfg_t *cfg = mdl_ctx_cfg (ctx);
    uint64_t R = s_wanted (s, ctx);
    const uint64_t t = mdl_ctx_step (ctx) + 1; /* steps taken */
    /* Checks come --check-every steps after the last check or synchronisation, also
       one this agent joined: agents do not run in lock step, and counting from a fixed
       phase would make one that joined early start another right after. */
    if (!R && t - s->last >= (uint64_t) cfg->check_every) {
        s->last = t;
        /* the local condition: strictly above delta violates, so delta = 0 with models
           that moved is periodic averaging, and models that agree send nothing */
        bool violated = mdl_vec_dist2 (mdl_ctx_x (ctx), s->r, mdl_ctx_dim (ctx)) > cfg->dyn_delta;
        if (violated || s->stale)
            R = s_round_of (s->version + 1);
    }
    if (R) {
        s_sync (s, ctx, R);
        s->last = t;
    }
    return 0;
}

static int
s_mix (void *state, mdl_ctx_t *ctx)
{
    (void) state;
    (void) ctx;
    return 0; /* all communication happens in synchronisations */
}

static int
s_finish (void *state, mdl_ctx_t *ctx)
{
    s_dyn_t *s = state;
    struct timespec nap = { 0, 5 * 1000000 };
    int k = 0;
    while (!mdl_ctx_stopping (ctx)) {
        uint64_t R = s_wanted (s, ctx);
        if (R)
            s_sync (s, ctx, R);
        if (k++ % 50 == 0 && mdl_ctx_fin (ctx)) /* FIN every 0.25 s: it may be lost */
            break;
        nanosleep (&nap, NULL);
    }
    return 0;
}

/* The reference and its bookkeeping: a resumed agent holds the reference it had, which
   the next synchronisation's hash check confirms or repairs. */
static const char *const s_names[] = { "r" };

static int
s_save (void *state, mdl_ctx_t *ctx, mdl_ckpt_image_t *img)
{
    s_dyn_t *s = state;
    const double sc[4] = { (double) s->version, s->hash, s->stale ? 1.0 : 0.0, (double) s->last };
    return mdl_algo_save_state (img, mdl_ctx_dim (ctx), s_names, &s->r, 1, sc, 4);
}

static int
s_restore (void *state, mdl_ctx_t *ctx, const mdl_ckpt_image_t *img)
{
    s_dyn_t *s = state;
    double sc[4];
    int rc = mdl_algo_restore_state (img, mdl_ctx_dim (ctx), s_names, &s->r, 1, sc, 4);
    if (rc == 0) {
        s->version = (uint64_t) sc[0];
        s->hash = sc[1];
        s->stale = sc[2] != 0.0;
        s->last = (uint64_t) sc[3];
    }
    return rc;
}

const mdl_algo_ops_t mdl_algo_dynavg = {
    .name = "dynavg",
    .about = "dynamic averaging: exact global averages only when a model drifted --delta from the common reference (Kamp et al. 2018)",
    .takes = 0,
    .channels = 1,
    .global_averages = true,
    .state_size = sizeof (s_dyn_t),
    .init = s_init,
    .publish = s_publish,
    .mix = s_mix,
    .finish = s_finish,
    .destroy = s_destroy,
    .save = s_save,
    .restore = s_restore,
};
