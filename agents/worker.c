/*  worker.c: the compute worker: minibatch, forward, backward, optimizer step, then the
    algorithm's publish and consensus step with whatever the mailboxes hold. It never
    touches a network socket: what it publishes goes to the comm actor through the
    hand-over queue (handoff.h: a pooled, reference-counted payload; no copy). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "err.h"
#include "mem.h"
#include "vec.h"
#include "worker_impl.h"

/* ---- the worker thread ---- */

static void
s_sleep (double seconds)
{
    if (seconds <= 0)
        return;
    struct timespec ts = { (time_t) seconds, (long) ((seconds - (double) (time_t) seconds) * 1e9) };
    nanosleep (&ts, NULL);
}

void
mdl_worker_params_point (mdl_ctx_t *c, uint64_t steps)
{
    mdl_agent_t *a = c->a;
    pthread_mutex_lock (&a->snap_lock);
    if (a->snap_req != a->snap_done) {
        mdl_vec_copy (a->snap, c->x, c->d);
        a->snap_step = steps;
        pthread_mutex_lock (&a->stats_lock);
        a->snap_stats = a->stats; /* its steps are snap_step: updated at every step's end */
        pthread_mutex_unlock (&a->stats_lock);
        a->snap_done = a->snap_req;
        pthread_cond_broadcast (&a->snap_cond);
    }
    pthread_mutex_unlock (&a->snap_lock);
}

/* Sync mode: this agent fell behind its neighbours (it was frozen, cut off by a
   partition, or resumed from a checkpoint while they trained on): their states are of a
   round at least catchup_gap above ours (agent.c), so the rounds it would wait for will
   never come. It jumps to their round, keeping its own model, optimizer and data order:
   the next mix pulls the model in, and from then on rounds match again. The steps jumped
   over are not taken (counted in steps_skipped); the learning-rate schedule follows the
   step. A jump never goes past the end of training. */
static void
s_catch_up (mdl_ctx_t *c, uint64_t K, uint64_t total)
{
    mdl_agent_t *a = c->a;
    mdl_learner_t *l = a->learner;
    const uint64_t ahead = atomic_load (&a->ahead), at = mdl_learner_steps (l);
    if (ahead < at * K + a->catchup_gap)
        return;
    uint64_t to = ahead / K;
    if (to > total)
        to = total;
    if (to <= at)
        return;
    mdl_learner_set_steps (l, to);
    pthread_mutex_lock (&a->stats_lock);
    a->stats.steps_skipped += to - at;
    a->stats.steps = to;
    pthread_mutex_unlock (&a->stats_lock);
    mdl_agent_log (a, "behind the cluster: catching up from step %llu to its step %llu (%llu steps not taken)",
                   (unsigned long long) at, (unsigned long long) to, (unsigned long long) (to - at));
}

/* ---- consensus control (Kong et al., ICML 2021) ---- */

/* Whether to take another gossip round this step: while the disagreement estimate
   sum_j w_ij ||x_i - x_j||^2 of the last round, averaged with the neighbours' (they share
   theirs with their states), is above the target (absolute, or times the
   current learning rate), and, unless asked for all phases, only before the first
   learning-rate decay, the phase Kong et al. find critical. Each agent decides alone; an
   agent that sits a round out sends SKIP so that synchronous neighbours do not wait. */
static bool
s_cc_more (mdl_ctx_t *c)
{
    const mdl_agent_cfg_t *cfg = &c->a->cfg;
    if (cfg->cc_target <= 0)
        return true; /* plain --gossip-steps: every round */
    mdl_learner_t *l = c->a->learner;
    if (!cfg->cc_all_phases && mdl_sched_phase (mdl_learner_sched (l), mdl_learner_steps (l)) > 0)
        return false;
    double target = cfg->cc_target * (cfg->cc_relative ? mdl_learner_lr (l) : 1.0);
    return c->cc_shared > target;
}

void
mdl_worker_ctx_free (mdl_ctx_t *c)
{
    if (!c)
        return;
    if (c->algo && c->algo->destroy && c->state)
        c->algo->destroy (c->state);
    free (c->state);
    mdl_codec_destroy (&c->codec);
    mdl_codec_destroy (&c->kcodec);
    mdl_codec_destroy (&c->ocodec);
    free (c->gsave);
    for (int k = 0; k < MDL_AGENT_CHANNELS; k++)
        free (c->pub[k]);
    for (int k = 0; k < 4; k++)
        free (c->scratch[k]);
    free (c->delta);
    free (c->merge_x);
    free (c->pair_sent);
    free (c->pair_late);
    free (c->label_map);
    mdl_worker_fused_end (c); /* x back in the model's own array; c->fused is x's buffer */
    mdl_byz_destroy (&c->byz);
    free (c->talk);
    free (c->mix.block);
    free (c);
}

mdl_ctx_t *
mdl_worker_ctx_new (mdl_agent_t *a, float *x, int *err)
{
    int rc = MDL_ENOMEM;
    mdl_ctx_t *c = calloc (1, sizeof *c);
    if (!c)
        goto fail;
    c->a = a;
    c->d = a->d;
    c->x = x;
    c->view_version = UINT64_MAX;
    c->loss_ema = NAN;
    c->ad_period = UINT64_MAX;
    mdl_rng_seed (&c->rng, a->cfg.seed ^ a->cfg.id, 0xc0dec);
    mdl_rng_seed (&c->prng, a->cfg.seed ^ a->cfg.id, 0x9a12);
    if (!(c->codec = mdl_codec_new (a->cfg.codec, c->d, a->cfg.seed ^ a->cfg.id, &rc))
        || !(c->kcodec = mdl_codec_new ("fp32", c->d, 0, &rc))
        || (a->out_n && !(c->ocodec = mdl_codec_new ("fp32", a->out_n, 0, &rc))))
        goto fail;
    rc = MDL_ENOMEM;
    for (int k = 0; k < 4; k++)
        if (!(c->scratch[k] = malloc (c->d * sizeof (float)))) /* untouched until used */
            goto fail;
    /* The worker's own workspaces, apart from the algorithms' four: an algorithm may hold
       a scratch vector across mdl_ctx_publish or mdl_ctx_global_average. */
    if (a->replicas && !(c->delta = mdl_mem_zeroed (c->d * sizeof (float))))
        goto fail;
    if (a->merge_ch >= 0 && !(c->merge_x = calloc (c->d, sizeof (float))))
        goto fail;
    if (a->replicas)
        for (int k = 0; k < a->algo->channels && k < MDL_AGENT_CHANNELS; k++)
            if (!(c->pub[k] = mdl_mem_zeroed (c->d * sizeof (float)))) /* read first: mem.h */
                goto fail;
    if (a->cfg.drift_epoch > 0) {
        const int classes = mdl_dataset_classes (a->cfg.train);
        if (!(c->label_map = malloc ((size_t) (classes > 0 ? classes : 1) * sizeof (int32_t))))
            goto fail;
        mdl_label_map_rotate (c->label_map, classes);
    }
    if (a->cfg.byzantine.kind != MDL_BYZ_NONE && !(c->byz = mdl_byz_new (&a->cfg.byzantine, c->d, a->cfg.seed ^ a->cfg.id, &rc)))
        goto fail;
    c->algo = a->algo;
    rc = MDL_ENOMEM;
    if (!(c->state = calloc (1, c->algo->state_size ? c->algo->state_size : 1)))
        goto fail;
    if (c->algo->init && (rc = c->algo->init (c->state, c)) != 0)
        goto fail;
    if ((rc = mdl_worker_restore_algo (c)) != 0)
        goto fail;
    c->ckpt_last = a->learner ? mdl_learner_steps (a->learner) : 0; /* no learner: a program's own model */
    return c;
fail:
    if (c && c->err[0]) {
        mdl_agent_log (a, "%s", c->err);
        mdl_error_set (rc, "%s", c->err);
    }
    mdl_worker_ctx_free (c);
    *err = rc;
    return NULL;
}

/* Whether the evaluations while training fall after step done (of spe per epoch, n per
   epoch): at the first step where done * n / spe reaches a new integer, i.e. at exactly
   k/n of an epoch rounded up to a step. The final evaluation is not one of them: it comes
   after training (and a final merge) ended. */
static bool
s_eval_due (uint64_t done, uint64_t spe, int n, uint64_t total)
{
    if (n <= 0 || done == 0 || done >= total)
        return false;
    return (done * (uint64_t) n) / spe != ((done - 1) * (uint64_t) n) / spe;
}

/* Evaluates x on the first rows of the test set and files the result as evaluation
   number evals + 1, with the counters as they are now (the step just ended). */
static void
s_evaluate (mdl_ctx_t *c, size_t rows, bool final)
{
    mdl_agent_t *a = c->a;
    mdl_learner_t *l = a->learner;
    double loss = NAN, acc = NAN;
    const size_t have = mdl_dataset_n (a->cfg.test);
    if (rows == 0 || rows > have)
        rows = have;
    mdl_learner_evaluate (l, NULL, a->cfg.test, rows, &loss, &acc);
    pthread_mutex_lock (&a->stats_lock);
    a->stats.test_loss = loss;
    a->stats.test_acc = acc;
    a->stats.eval_step = mdl_learner_steps (l);
    a->stats.eval_rows = rows;
    a->stats.eval_time = mdl_wallclock ();
    a->stats.eval_final = final;
    a->stats.evals++;
    a->evals[(a->stats.evals - 1) % MDL_AGENT_EVALS_KEPT] = a->stats;
    pthread_mutex_unlock (&a->stats_lock);
}

void
mdl_worker_finish (mdl_agent_t *a, int error)
{
    pthread_mutex_lock (&a->stats_lock);
    a->stats.finished = true;
    a->stats.error = error;
    pthread_mutex_unlock (&a->stats_lock);
    pthread_mutex_lock (&a->snap_lock);
    pthread_cond_broadcast (&a->snap_cond);
    pthread_mutex_unlock (&a->snap_lock);
}

void
mdl_worker_flush_counters (mdl_ctx_t *c)
{
    mdl_agent_t *a = c->a;
    pthread_mutex_lock (&a->snap_lock);
    const uint64_t want = ++a->flush_asked;
    pthread_mutex_unlock (&a->snap_lock);
    if (mdl_handoff_command (a->handoff, 'F', NULL, NULL, 0))
        return;
    struct timespec until;
    clock_gettime (CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    pthread_mutex_lock (&a->snap_lock);
    while (a->flush_done < want && !a->comm_ended)
        if (pthread_cond_timedwait (&a->snap_cond, &a->snap_lock, &until) != 0)
            break;
    pthread_mutex_unlock (&a->snap_lock);
}

/* The K gossip rounds of step s, just taken (Kong et al.'s extra consensus steps):
   round t = s * K + k, which is what neighbours match in sync mode and what a
   time-varying topology advances on; then the periodic exact average, if due. */
int
mdl_worker_gossip (mdl_ctx_t *c, uint64_t s, uint64_t K, uint64_t total)
{
    mdl_agent_t *a = c->a;
    int rc = 0;
    for (uint64_t k = 0; k < K && rc == 0; k++) {
        c->step = s * K + k;
        atomic_store (&a->round, c->step);
        /* parked states of this round may now be filed (a fused round's state says so) */
        if (a->cfg.mode == MDL_MODE_SYNC && !(k == 0 && c->fused))
            mdl_handoff_command (a->handoff, 'A', NULL, NULL, 0);
        if (k > 0 && !s_cc_more (c)) {
            /* Consensus control: close enough, sit the round out and say so. */
            mdl_worker_round (c);
            uint64_t to[MDL_AGENT_MAX_PEERS];
            for (size_t j = 0; j < c->nout; j++)
                to[j] = c->ids[c->out[j]];
            mdl_worker_send_to (c, MDL_KIND_SKIP, c->step, NULL, to, c->nout);
            continue;
        }
        if (k == 0 && c->fused)
            rc = mdl_worker_fused_round (c); /* publishes and mixes the optimizer's output */
        else if ((rc = c->algo->publish (c->state, c)) != 0)
            mdl_agent_log (a, "publish failed at round %llu: %s", (unsigned long long) c->step, mdl_strerror (rc));
        else
            c->algo->mix (c->state, c);
    }
    if (rc == 0)
        mdl_worker_periodic_average (c, s + 1, total);
    return rc;
}

/* --overlap (Wang et al., "From Promise to Practice", ICLR 2025; Decent-DP's ddp.py):
   step t computed g(x^t) while the states x_j^t that neighbours sent at the end of
   their step t - 1 travelled; now mix with them, apply the optimizer step with the
   gradient taken before mixing, and launch the exchange of x^{t+1}:
       x_i^{t+1} = sum_j w_ij x_j^t - lr Opt(g_i(x_i^t))
   (plain D-PSGD here is adapt-then-combine, x^{t+1} = W (x^t - lr Opt(g(x^t))), which
   must wait for the neighbours' step t before step t + 1 can start). One round per
   step: --gossip-steps 1. */
static int
s_overlapped_round (mdl_ctx_t *c, uint64_t total)
{
    mdl_agent_t *a = c->a;
    mdl_learner_t *l = a->learner;
    c->step = mdl_learner_steps (l); /* t: the gradient is computed, not applied */
    atomic_store (&a->round, c->step);
    if (a->cfg.mode == MDL_MODE_SYNC)
        mdl_handoff_command (a->handoff, 'A', NULL, NULL, 0);
    c->algo->mix (c->state, c);
    mdl_learner_apply (l);
    mdl_worker_periodic_average (c, mdl_learner_steps (l), total);
    c->step = mdl_learner_steps (l); /* t + 1 */
    int rc = c->algo->publish (c->state, c);
    if (rc)
        mdl_agent_log (a, "publish failed at round %llu: %s", (unsigned long long) c->step, mdl_strerror (rc));
    return rc;
}

/* --min-peers: waits for them before the first step. 0, or MDL_ETIMEOUT (logged unless
   the agent was asked to stop, which returns 0 too: nothing went wrong). */
int
mdl_worker_wait_min_peers (mdl_ctx_t *c)
{
    mdl_agent_t *a = c->a;
    if (a->cfg.min_peers <= 0)
        return 0;
    const double until = mdl_now () + a->cfg.min_peers_timeout;
    int rc = mdl_agent_wait_peers (a, a->cfg.min_peers, a->cfg.min_peers_timeout);
    /* CURVE: a peer joins on its beacon, before our handshake with it is done; one that
       refuses our key is dropped within a comm tick of the refusal (comm_peers.c). So the
       count must hold once the handshakes had time to finish (a LAN's round trips: a
       fraction of this settle time), else --min-peers would count peers we cannot hear. */
    for (int settle = 0; rc == 0 && a->cfg.curve && settle < 4; settle++) {
        struct timespec ts = { 0, 250 * 1000000 };
        nanosleep (&ts, NULL);
        const double left = until - mdl_now ();
        rc = mdl_agent_wait_peers (a, a->cfg.min_peers, left > 0.02 ? left : 0.02);
    }
    if (rc == 0)
        return 0;
    if (atomic_load (&a->stop))
        return 0;
    uint64_t ids[1];
    const size_t members = mdl_agent_members (a, ids, 0); /* view_n, under view_lock */
    const size_t seen = members ? members - 1 : 0;
    /* a name that never resolved is the likelier cause: say it on the same line */
    char unresolved[sizeof a->stats.disc_unresolved];
    pthread_mutex_lock (&a->stats_lock);
    memcpy (unresolved, a->stats.disc_unresolved, sizeof unresolved);
    pthread_mutex_unlock (&a->stats_lock);
    const char *also = unresolved[0] ? "; never resolved: " : "";
    mdl_agent_log (a, "only %zu of the %d peers required (--min-peers) appeared within %.0f s%s%s", seen,
                   a->cfg.min_peers, a->cfg.min_peers_timeout, also, unresolved);
    return mdl_error_set (MDL_ETIMEOUT, "only %zu of the %d peers required (min-peers) appeared within %.0f s%s%s",
                          seen, a->cfg.min_peers, a->cfg.min_peers_timeout, also, unresolved);
}

int
mdl_worker_wind_up (mdl_ctx_t *c, int rc, uint64_t steps)
{
    mdl_agent_t *a = c->a;
    pthread_mutex_lock (&a->stats_lock);
    a->stats.train_end = mdl_now (); /* the steps are over: what follows is the wind-up */
    pthread_mutex_unlock (&a->stats_lock);
    if (rc == 0 && c->algo->finish && !atomic_load (&a->stop))
        rc = c->algo->finish (c->state, c);
    if (rc == 0 && a->cfg.final_merge && !atomic_load (&a->stop)) {
        /* the training's kept message buffers given back before the merge's own are made
           (mdl_agent_heap_release): otherwise they add to the process's peak */
        mdl_agent_heap_release ();
        uint64_t with = 0;
        bool ok = mdl_worker_global_average (c, MDL_FINAL_MERGE_ROUND, 0, false, &with, NULL);
        pthread_mutex_lock (&a->stats_lock);
        a->stats.merged = ok;
        a->stats.merge_peers = with;
        pthread_mutex_unlock (&a->stats_lock);
        mdl_agent_log (a, ok ? "final merge: exact average with %llu peers" : "final merge incomplete after %llu peers",
                       (unsigned long long) with);
    }
    mdl_worker_pair_close (c);
    if (c->fin_open)
        mdl_worker_transient (c, MDL_TRANSIENT_FIN, false, NULL, 0, 0);
    c->step = steps;
    return rc;
}

/* Counts the step just taken; evaluates when one is due. */
static void
s_step_done (mdl_ctx_t *c, uint64_t spe, uint64_t total, size_t eval_rows)
{
    mdl_agent_t *a = c->a;
    c->loss_ema = isnan (c->loss_ema) ? c->last_loss : 0.98 * c->loss_ema + 0.02 * c->last_loss;
    const uint64_t done = mdl_learner_steps (a->learner);
    pthread_mutex_lock (&a->stats_lock);
    a->stats.steps = done;
    a->stats.epoch = (double) done / (double) spe;
    a->stats.loss = c->loss_ema;
    pthread_mutex_unlock (&a->stats_lock);
    if (a->cfg.test && s_eval_due (done, spe, a->cfg.evals_per_epoch, total))
        s_evaluate (c, eval_rows, false);
}

/* One step: the local computation (paced for --step-ms and --slow), then the gossip
   rounds (or the overlapped round). 0, or the error that stops the worker. */
static int
s_train_round (mdl_ctx_t *c, uint64_t K, uint64_t total)
{
    mdl_agent_t *a = c->a;
    mdl_learner_t *l = a->learner;
    double t0 = mdl_now ();
    int rc;
    c->idle = false;
    if (a->cfg.overlap)
        rc = mdl_learner_grad (l, &c->last_loss); /* g(x^t), applied after the mix */
    else
        rc = mdl_worker_local_step (c); /* fused.c: maybe D-PSGD's step into the message */
    if (rc) {
        mdl_agent_log (a, "training diverged at step %llu (loss %g): stopping this agent and leaving the mesh",
                       (unsigned long long) c->step, (double) c->last_loss);
        mdl_handoff_command (a->handoff, 'L', NULL, NULL, 0); /* the comm actor leaves (comm.c) */
        return rc;
    }
    double compute = mdl_now () - t0;
    if (c->idle)
        ; /* nothing was computed: nothing to emulate (an idle straggler keeps the pace) */
    else if (a->cfg.pace_s > 0)
        s_sleep (a->cfg.pace_s * a->cfg.slow_factor - compute);
    else if (a->cfg.slow_factor > 1.0)
        s_sleep ((a->cfg.slow_factor - 1.0) * compute);
    /* the step was taken: steps() is s + 1 */
    return a->cfg.overlap ? s_overlapped_round (c, total) : mdl_worker_gossip (c, mdl_learner_steps (l) - 1, K, total);
}

void *
mdl_worker_main (void *arg)
{
    mdl_agent_t *a = arg;
    int rc = 0;
    pthread_setname_np (pthread_self (), "mdl-worker"); /* top -H, perf --sort comm */
    mdl_learner_t *l = a->learner;
    mdl_ctx_t *c = mdl_worker_ctx_new (a, mdl_model_params (mdl_learner_model (l)), &rc);
    if (!c) {
        mdl_agent_log (a, "worker could not start: %s", mdl_strerror (rc));
        mdl_worker_finish (a, rc);
        return NULL;
    }
    mdl_agent_gate_wait (a); /* prepared (mdl_agent_prepare): set up, it waits for the start */
    if ((rc = mdl_worker_wait_min_peers (c)) != 0 || atomic_load (&a->stop)) {
        mdl_worker_ctx_free (c);
        mdl_worker_finish (a, rc);
        return NULL;
    }
    pthread_mutex_lock (&a->stats_lock);
    a->stats.train_start = mdl_now ();
    pthread_mutex_unlock (&a->stats_lock);
    pthread_mutex_lock (&a->stats_lock);
    const bool fresh = a->stats.start_from == MDL_START_INIT;
    pthread_mutex_unlock (&a->stats_lock);
    if (fresh && a->cfg.bootstrap == MDL_BOOT_PEER)
        mdl_worker_bootstrap (c);
    const uint64_t spe = mdl_learner_steps_per_epoch (l);
    const uint64_t total = spe * (uint64_t) a->cfg.epochs;
    const size_t eval_rows = a->cfg.eval_rows ? a->cfg.eval_rows : a->cfg.test_rows;
    const uint64_t K = a->cfg.gossip_steps > 1 ? (uint64_t) a->cfg.gossip_steps : 1;
    if (a->cfg.overlap) {
        /* Decent-DP: the exchange of x^t is launched at the end of step t - 1; x^0 now. */
        c->step = mdl_learner_steps (l);
        if ((rc = c->algo->publish (c->state, c)) != 0)
            mdl_agent_log (a, "publish failed at round %llu: %s", (unsigned long long) c->step, mdl_strerror (rc));
    }
    while (rc == 0 && mdl_learner_steps (l) < total && !atomic_load (&a->stop)) {
        if (a->cfg.mode == MDL_MODE_SYNC)
            s_catch_up (c, K, total);
        c->step = mdl_learner_steps (l) * K;
        mdl_worker_params_point (c, mdl_learner_steps (l));
        mdl_worker_checkpoint_point (c, mdl_learner_steps (l));
        mdl_worker_snapshot_point (c);
        mdl_agent_beat (&a->beat_worker);
        if (c->label_map && (double) mdl_learner_steps (l) >= a->cfg.drift_epoch * (double) spe)
            mdl_learner_set_label_map (l, c->label_map); /* the concept drifts */
        if (a->cfg.offline > 0 && !c->algo->sampled && mdl_worker_offline (c, a->cfg.id, mdl_learner_steps (l))) {
            /* --offline: this agent sits the round out (no step, nothing sent or mixed; its
               neighbours know from the same trace and do not wait); the schedule moves on.
               Sampled algorithms (Plexus) read the trace themselves, per round. */
            mdl_learner_set_steps (l, mdl_learner_steps (l) + 1);
            pthread_mutex_lock (&a->stats_lock);
            a->stats.rounds_offline++;
            pthread_mutex_unlock (&a->stats_lock);
        } else if ((rc = s_train_round (c, K, total)) != 0)
            break;
        s_step_done (c, spe, total, eval_rows);
    }
    rc = mdl_worker_wind_up (c, rc, mdl_learner_steps (l));
    /* The final evaluation, once, of the model as training left it (after the final
       merge, if any; at the step a stop request ended it). */
    if (a->cfg.test)
        s_evaluate (c, a->cfg.test_rows, true);
    c->step = mdl_learner_steps (l) * K;
    mdl_worker_params_point (c, mdl_learner_steps (l));
    /* A diverged agent keeps its last good checkpoint (its parameters are not finite). */
    if (rc == 0)
        mdl_worker_checkpoint_final (c);
    if (rc == 0)
        mdl_worker_linger (c, mdl_learner_steps (l)); /* linger.c */
    mdl_worker_flush_counters (c);
    mdl_worker_ctx_free (c);
    mdl_worker_finish (a, rc);
    return NULL;
}
