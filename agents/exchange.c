/*  exchange.c: bring your own model. An agent built with "dim" and no model has no
    learner and no worker thread; the caller owns a flat vector x of length d, takes its
    own local step, and calls mdl_agent_exchange after each one. The exchange runs what
    the worker runs after its local step, on the caller's thread and on the caller's x:
    the same worker context (worker_impl.h), the algorithm's publish and mix for the K
    gossip rounds of the step, the periodic exact average, snapshots for a cluster. The
    comm actor is the agent's own, unchanged: sockets, discovery, codecs, replicas,
    sync rounds, staleness and every check on what arrives are the engine's.

    What it cannot run is what needs the learner: algorithms with a local step of their
    own (they take the optimizer step and need the gradient, not the stepped x) or an
    optimizer of their own, and the settings that read the learning rate or the epoch
    (a relative consensus-control, consensus-scale lr, a relative degree-target,
    dense-window, overlap, drift-at), and a newcomer's start from a peer's snapshot
    (bootstrap peer: the snapshot is a learner's checkpoint image; such agents neither
    take nor serve one). mdl_exchange_check refuses them, by name, before
    the agent is built. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "err.h"
#include "vec.h"
#include "worker_impl.h"

/* The rule: an algorithm runs through the exchange when the local step is the caller's
   plain one (no .local_step) and it asks for no optimizer of its own (.optimizer: dmsgd
   is dpsgd restricted to the learner's momentum, whose step the caller owns here). */
static bool
s_algo_ok (const mdl_algo_ops_t *ops)
{
    return !ops->local_step && !ops->optimizer;
}

int
mdl_exchange_check (const mdl_algo_ops_t *ops, const mdl_agent_cfg_t *cfg)
{
    if (!s_algo_ok (ops)) {
        char ok[256] = "";
        size_t n;
        const mdl_algo_ops_t *const *all = mdl_algo_all (&n);
        for (size_t i = 0; i < n; i++)
            if (s_algo_ok (all[i]))
                snprintf (ok + strlen (ok), sizeof ok - strlen (ok), "%s%s", ok[0] ? ", " : "", all[i]->name);
        return mdl_error_set (MDL_EALGO,
                              "--algo %s takes the optimizer step itself (it needs meshdl's model and its gradient): "
                              "a vector of your own exchanges with %s",
                              ops->name, ok);
    }
    const char *opt = cfg->overlap                             ? "overlap"
                      : cfg->cc_target > 0                     ? "consensus-control"
                      : cfg->scale_kind == MDL_SCALE_LR        ? "consensus-scale lr"
                      : cfg->ad_target > 0 && cfg->ad_relative ? "degree-target lr:T (give an absolute T)"
                      : cfg->dense_len > 0                     ? "dense-window"
                      : cfg->drift_epoch > 0                   ? "drift-at"
                      : cfg->bootstrap == MDL_BOOT_PEER        ? "bootstrap peer"
                                                               : NULL;
    if (opt)
        return mdl_error_set (MDL_EINVAL,
                              "--%s needs meshdl's learner (its learning rate, epochs or data): not with a vector of "
                              "your own (dim)",
                              opt);
    return 0;
}

void
mdl_exchange_free (mdl_agent_t *a)
{
    mdl_worker_ctx_free (a->xctx);
    a->xctx = NULL;
}

/* Refuses a call that does not fit the agent; 0 when it does. */
static int
s_usable (mdl_agent_t *a, const float *x, size_t d)
{
    if (!a || !MDL_AGENT_EXTERNAL (a))
        return mdl_error_set (MDL_EINVAL, "mdl_agent_exchange: this agent trains a model of its own (mdl_agent_start); "
                                          "build it with model \"\" and dim to exchange a vector of yours");
    if (!x || d != a->d)
        return mdl_error_set (MDL_EINVAL, "mdl_agent_exchange: %s (the agent's dim is %zu)",
                              x ? "wrong length" : "no vector", a->d);
    if (a->xdone)
        return mdl_error_set (MDL_EINVAL, "mdl_agent_exchange: the agent has finished (mdl_agent_finish)");
    return 0;
}

/* The first call: the worker context over the caller's x, then --min-peers. */
static int
s_begin (mdl_agent_t *a, float *x)
{
    int rc = 0;
    if (!(a->xctx = mdl_worker_ctx_new (a, x, &rc)))
        return rc;
    if ((rc = mdl_worker_wait_min_peers (a->xctx)) != 0) {
        mdl_exchange_free (a);
        return rc;
    }
    pthread_mutex_lock (&a->stats_lock);
    a->stats.train_start = mdl_now (); /* the first step: discovery is over */
    pthread_mutex_unlock (&a->stats_lock);
    return 0;
}

int
mdl_agent_exchange (mdl_agent_t *a, float *x, size_t d, uint64_t step)
{
    mdl_error_clear ();
    int rc = s_usable (a, x, d);
    if (rc)
        return rc;
    if (!a->xctx && (rc = s_begin (a, x)) != 0)
        return rc;
    mdl_ctx_t *c = a->xctx;
    c->x = x; /* the caller may hand a different buffer each time */
    mdl_worker_params_point (c, step);
    mdl_agent_beat (&a->beat_worker); /* the caller's thread is this agent's worker */
    const uint64_t K = a->cfg.gossip_steps > 1 ? (uint64_t) a->cfg.gossip_steps : 1;
    pthread_mutex_lock (&a->stats_lock);
    const uint64_t applied0 = a->stats.updates_applied;
    pthread_mutex_unlock (&a->stats_lock);
    if ((rc = mdl_worker_gossip (c, step, K, UINT64_MAX)) != 0)
        return mdl_error_set (rc, "mdl_agent_exchange: publishing step %llu failed: %s", (unsigned long long) step,
                              mdl_strerror (rc));
    pthread_mutex_lock (&a->stats_lock);
    const uint64_t mixed = a->stats.updates_applied - applied0;
    a->stats.steps = step + 1;
    if (!isnan (c->loss_ema))
        a->stats.loss = c->loss_ema;
    pthread_mutex_unlock (&a->stats_lock);
    return (int) (mixed < (uint64_t) INT32_MAX ? mixed : INT32_MAX);
}

void
mdl_agent_set_loss (mdl_agent_t *a, double loss)
{
    if (!a || !a->xctx || !isfinite (loss))
        return;
    mdl_ctx_t *c = a->xctx;
    c->last_loss = (float) loss;
    c->loss_ema = isnan (c->loss_ema) ? loss : 0.98 * c->loss_ema + 0.02 * loss;
}

int
mdl_agent_finish (mdl_agent_t *a, float *x, size_t d)
{
    mdl_error_clear ();
    int rc = s_usable (a, x, d);
    if (rc)
        return rc;
    a->xdone = true;
    if (!a->xctx) { /* never exchanged: nothing to wind up */
        mdl_worker_finish (a, 0);
        return 0;
    }
    mdl_ctx_t *c = a->xctx;
    c->x = x;
    pthread_mutex_lock (&a->stats_lock);
    const uint64_t steps = a->stats.steps;
    pthread_mutex_unlock (&a->stats_lock);
    rc = mdl_worker_wind_up (c, 0, steps);
    mdl_worker_params_point (c, steps);
    mdl_worker_flush_counters (c); /* the last rounds' traffic counted before the end */
    /* an agent that finished answers snapshots with its last x (mdl_agent_snapshot) */
    pthread_mutex_lock (&a->snap_lock);
    mdl_vec_copy (a->snap, x, a->d);
    a->snap_step = steps;
    pthread_mutex_lock (&a->stats_lock);
    a->snap_stats = a->stats;
    pthread_mutex_unlock (&a->stats_lock);
    pthread_mutex_unlock (&a->snap_lock);
    mdl_exchange_free (a);
    mdl_agent_stats_t st;
    mdl_agent_stats (a, &st);
    mdl_worker_finish (a, rc);
    if (rc)
        return mdl_error_set (rc, "mdl_agent_finish: %s", mdl_strerror (rc));
    if (a->cfg.final_merge && !st.merged)
        return mdl_error_set (MDL_ETIMEOUT, "final merge incomplete after %llu peers (merge-timeout %.0f s)",
                              (unsigned long long) st.merge_peers, a->cfg.merge_timeout);
    return 0;
}
