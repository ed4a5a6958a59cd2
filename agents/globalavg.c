/*  globalavg.c: exact global averages on the worker thread: the final merge, Gossip-PGA's
    --global-every, dynamic averaging's synchronisations; and FIN. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "err.h"
#include "vec.h"
#include "worker_impl.h"


/* Sends v (fp32, exact) with aux or, with v NULL, a control message of kind for round
   step to the given peers. */
int
mdl_worker_send_aux (mdl_ctx_t *c, uint32_t kind, uint64_t step, const float *v, double aux, const uint64_t *to, size_t nto)
{
    mdl_outmsg_t m = { .kind = kind, .step = step, .keyframe = true, .aux = aux };
    mdl_blob_t *b = NULL;
    int rc;
    /* --byzantine: a liar's global-average and pairwise states are forged too (on
       streams of their own, so stale:S replays within each) */
    if (v && !(v = mdl_worker_forge (c, MDL_AGENT_CHANNELS + (int) MDL_KIND_TYPE (kind) % 4, v, NULL)))
        return MDL_ENOMEM;
    if (v) {
        if ((rc = mdl_worker_encode (c, c->kcodec, v, &b)))
            return rc;
    } else {
        if (!(b = mdl_blob_take (c->a->pool)))
            return MDL_ENOMEM;
        mdl_blob_set_len (b, 0);
    }
    return mdl_worker_send (c, &m, to, nto, b);
}

int
mdl_worker_send_to (mdl_ctx_t *c, uint32_t kind, uint64_t step, const float *v, const uint64_t *to, size_t nto)
{
    return mdl_worker_send_aux (c, kind, step, v, 0.0, to, nto);
}

int
mdl_worker_transient (mdl_ctx_t *c, mdl_transient_t purpose, bool open, const uint64_t *ids, size_t n, uint64_t below)
{
    mdl_transient_msg_t tm = { .purpose = (uint32_t) purpose, .below = below };
    int rc = mdl_handoff_command (c->a->handoff, open ? 'O' : 'C', &tm, open && ids ? ids : NULL, open && ids ? n : 0);
    if (rc == 0 && purpose == MDL_TRANSIENT_FIN)
        c->fin_open = open;
    return rc;
}

/* The live peers of the current view (refreshed), self excluded, into out. */
size_t
mdl_worker_live_peers (mdl_ctx_t *c, uint64_t *out)
{
    mdl_worker_round (c);
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->ids[i] != c->a->cfg.id)
            out[n++] = c->ids[i];
    return n;
}

/* x <- the mean of the round-R states of self (xf) and every live peer, summed in
   ascending id order so that every agent computes the same floats. False (x unchanged)
   when a state is missing. Counts in *bad the states whose aux differs from ours. */
/* Weighted (aux is the sender's weight): x <- sum_i (w_i / W) v_i, W = sum_i w_i over the
   valid weights (finite, > 0; the others count in *bad and for nothing); the plain mean
   when no weight is valid. */
static bool
s_average_states (mdl_ctx_t *c, uint64_t R, const float *xf, double aux, bool weighted, size_t *n_out, size_t *bad)
{
    mdl_agent_t *a = c->a;
    const float *v[MDL_AGENT_MAX_PEERS + 1];
    double w[MDL_AGENT_MAX_PEERS + 1], W = 0;
    size_t n = 0;
    bool ok = true;
    *bad = 0;
    for (size_t i = 0; i < c->n; i++) {
        uint64_t id = c->ids[i];
        mdl_slot_meta_t m = { .aux = aux };
        v[i] = id == a->cfg.id ? xf : mdl_mailroom_read_begin (a->room, id, a->merge_ch, R, &m);
        ok &= v[i] != NULL;
        const bool valid = weighted ? isfinite (m.aux) && m.aux > 0 : m.aux == aux;
        *bad += v[i] && !valid;
        w[i] = weighted && valid ? m.aux : 0.0;
        W += w[i];
    }
    if (ok && c->a->cfg.robust.kind != MDL_ROBUST_NONE) {
        n = c->n;
        mdl_worker_robust_average (c, c->x, v, n); /* --robust */
    } else if (ok) {
        mdl_vec_zero (c->x, c->d);
        for (size_t i = 0; i < c->n; i++, n++)
            mdl_vec_axpy (c->x, W > 0 ? (float) (w[i] / W) : 1.0f, v[i], c->d);
        if (!(W > 0))
            mdl_vec_scale (c->x, 1.0f / (float) n, c->d);
    }
    for (size_t i = 0; i < c->n; i++)
        if (v[i] && c->ids[i] != a->cfg.id)
            mdl_mailroom_read_end (a->room, c->ids[i], a->merge_ch);
    *n_out = n;
    return ok;
}

/* Asks for our state of a global average that come within S_ASK_QUIET of the copy we
   last sent the asker are not answered: that copy is on its way. An asker asks from 20 ms
   after it entered the average, and again every 0.25 s at most, while our state is
   missing; but the states of d floats that every peer sends every other at once take
   longer than that (0.3 s for 8 agents of 0.94 MB on 2 loaded cores). Answering each ask
   sent each state 2 to 2.5 times (docs/results.md, final merge). An ask that comes later
   is answered (the copy was lost), and the asker's quiet time doubles (4 s at most), so
   that a slow transfer costs one copy more, not one per ask. */
#define S_ASK_QUIET 0.5

/* Where all[0..nall) has id, or nall. */
static size_t
s_index (const uint64_t *all, size_t nall, uint64_t id)
{
    size_t i = 0;
    while (i < nall && all[i] != id)
        i++;
    return i;
}

/* Sorts the asks asked[0..n) of this pass: a peer our state has not gone to yet (sent[]
   false) goes into due (it is listening now: it asked), the others stay in asked when
   their quiet time is over (their peers' sent_at stamped, quiet doubled) and are dropped
   otherwise. A peer not in all (it joined since) is answered. Returns how many stay. */
static size_t
s_answers_due (const uint64_t *all, size_t nall, const bool *sent, double *sent_at, double *quiet, uint64_t *asked,
               size_t n, uint64_t *due, size_t *ndue, double now)
{
    size_t keep = 0;
    for (size_t k = 0; k < n; k++) {
        const size_t i = s_index (all, nall, asked[k]);
        if (i < nall && !sent[i]) {
            if (s_index (due, *ndue, asked[k]) == *ndue)
                due[(*ndue)++] = asked[k];
            continue;
        }
        if (i < nall && now - sent_at[i] < quiet[i])
            continue;
        if (i < nall) {
            sent_at[i] = now;
            quiet[i] = quiet[i] * 2 < 4.0 ? quiet[i] * 2 : 4.0;
        }
        asked[keep++] = asked[k];
    }
    return keep;
}

/* Whether peer id's state of round R is in the merge mailbox. */
static bool
s_has_state (mdl_agent_t *a, uint64_t id, uint64_t R)
{
    mdl_slot_meta_t m;
    if (!mdl_mailroom_read_begin (a->room, id, a->merge_ch, R, &m))
        return false;
    mdl_mailroom_read_end (a->room, id, a->merge_ch);
    return true;
}

/* One exact average over every live peer in round R (>= MDL_MERGE_ROUND): Zhu et al.'s
   single global merge at the end, and Gossip-PGA's periodic average (--global-every).
   Reliable over lossy PUB/SUB: every agent sends its state (fp32) to all live peers on
   the merge channel; a state that does not arrive is asked for again (RESYNC) until it
   does; an agent that has everyone's state averages them at once, says so (MERGED, the
   marker R + 1), and keeps answering requests with its pre-merge state until every peer
   said the same (or moved on to a later round), or --merge-timeout passes. Peers that
   die meanwhile drop out of the average. On success x holds the average and *merged_with
   the number of peers in it; on failure x is unchanged. c->step is restored.

   A peer outside the talk set (hood.h: not linked with us by the graph) connects to us
   only when it enters the average, so a state sent to it before then is lost (PUB/SUB
   drops what has no subscriber): such a peer gets our state once we heard from it in
   this average (its state, or its ask for ours), which it sends after connecting to
   us. Sending on entering and answering its ask S_ASK_QUIET later cost every average
   0.45 s (an 8-agent local-SGD run of bench_sim: 0.96 s against 0.51 s). */
bool
mdl_worker_global_average (mdl_ctx_t *c, uint64_t R, double aux, bool weighted, uint64_t *merged_with, size_t *mismatched)
{
    mdl_agent_t *a = c->a;
    const uint32_t ch = MDL_KIND_MAKE (0, a->merge_ch);
    float *xf = c->merge_x;
    mdl_vec_copy (xf, c->x, c->d);
    const uint64_t step = c->step;
    c->step = R;
    atomic_store (&a->round, R);
    mdl_handoff_command (a->handoff, 'A', NULL, NULL, 0); /* sync: merge states parked until we got here may be filed */
    uint64_t all[MDL_AGENT_MAX_PEERS], talk[MDL_AGENT_MAX_PEERS], to[MDL_AGENT_MAX_PEERS];
    size_t nall = mdl_worker_live_peers (c, all);
    const size_t ntalk = c->n <= MDL_AGENT_MAX_PEERS ? mdl_worker_talk_ids (c, step, talk) : 0;
    /* Everyone takes part, not only the neighbours: connections and merge mailboxes for
       every live peer while this runs (the comm actor opens them before it sends). */
    mdl_worker_transient (c, MDL_TRANSIENT_MERGE, true, NULL, 0, 0);
    /* Our state goes now to the peers that hear it: the talk set's, and those that
       entered first (their state or their ask is here; the asks answered by this send).
       With a static list every peer hears it: each stays connected to every endpoint
       it lists (the hellos are its membership), ours among them. */
    const bool everyone = mdl_disc_static_list (&a->cfg.disc);
    bool sent[MDL_AGENT_MAX_PEERS];
    uint64_t asked[MDL_AGENT_MAX_PEERS];
    size_t nasked = mdl_agent_take_resync (a, asked), nto = 0;
    for (size_t i = 0; i < nall; i++) {
        sent[i] = everyone || s_index (talk, ntalk, all[i]) < ntalk || s_index (asked, nasked, all[i]) < nasked
                  || s_has_state (a, all[i], R);
        if (sent[i])
            to[nto++] = all[i];
    }
    for (size_t k = 0; k < nasked; k++) /* asks of peers that joined since: answered too */
        if (s_index (all, nall, asked[k]) == nall && nto < MDL_AGENT_MAX_PEERS)
            to[nto++] = asked[k];
    if (nto)
        mdl_worker_send_aux (c, ch | MDL_KIND_STATE, R, xf, aux, to, nto);
    const double t0 = mdl_now (), until = t0 + a->cfg.merge_timeout;
    /* When our state last went to each peer, and how long its asks are not answered
       after that (s_answers_due). */
    double sent_at[MDL_AGENT_MAX_PEERS], quiet[MDL_AGENT_MAX_PEERS];
    for (size_t i = 0; i < nall; i++) {
        sent_at[i] = t0;
        quiet[i] = S_ASK_QUIET;
    }
    /* The states we miss are asked for: the first asks soon (a peer that entered before
       us sent its state before we listened), then every 0.25 s. */
    double ask_every = 0.02, next_ask = t0 + ask_every;
    bool have_all = false;
    while (mdl_now () < until && !atomic_load (&a->stop)) {
        mdl_worker_round (c); /* membership may change: dead peers drop out */
        uint64_t missing[MDL_AGENT_MAX_PEERS];
        size_t nmiss = 0, ndone = 0, npeers = 0;
        for (size_t i = 0; i < c->n; i++) {
            uint64_t id = c->ids[i];
            if (id == a->cfg.id)
                continue;
            npeers++;
            mdl_slot_meta_t m;
            if (!s_has_state (a, id, R))
                missing[nmiss++] = id;
            /* done: its marker R + 1, or a later round (it finished R and moved on) */
            if (mdl_mailroom_peek (a->room, id, a->merge_ch, &m) && m.step > R)
                ndone++;
        }
        /* Our state to the peers we heard from since (their state came: they listen to
           us now), and to those that asked for it. */
        nto = 0;
        for (size_t i = 0; i < nall; i++)
            if (!sent[i] && s_has_state (a, all[i], R))
                to[nto++] = all[i];
        nasked = mdl_agent_take_resync (a, asked);
        nasked = s_answers_due (all, nall, sent, sent_at, quiet, asked, nasked, to, &nto, mdl_now ());
        for (size_t k = 0; k < nto; k++) {
            const size_t i = s_index (all, nall, to[k]);
            sent[i] = true;
            sent_at[i] = mdl_now ();
        }
        for (size_t k = 0; k < nasked && nto < MDL_AGENT_MAX_PEERS; k++)
            to[nto++] = asked[k];
        if (nto)
            mdl_worker_send_aux (c, ch | MDL_KIND_STATE, R, xf, aux, to, nto);
        if (!have_all && nmiss == 0) {
            size_t n = 0;
            size_t bad = 0;
            if ((have_all = s_average_states (c, R, xf, aux, weighted, &n, &bad))) {
                if (mismatched)
                    *mismatched = bad;
                *merged_with = n - 1;
                mdl_worker_send_to (c, ch | MDL_KIND_MERGED, R, NULL, all, nall);
            }
        }
        if (have_all && ndone == npeers)
            break;
        if (mdl_now () >= next_ask) {
            if (!have_all && nmiss)
                mdl_worker_send_to (c, ch | MDL_KIND_RESYNC, R, NULL, missing, nmiss);
            if (have_all) /* our MERGED may have been lost too */
                mdl_worker_send_to (c, ch | MDL_KIND_MERGED, R, NULL, all, nall);
            ask_every = ask_every * 2 < 0.25 ? ask_every * 2 : 0.25;
            next_ask = mdl_now () + ask_every;
        }
        struct timespec ts = { 0, 2 * 1000000 };
        nanosleep (&ts, NULL);
    }
    c->step = step;
    /* The states of round R (and its markers R + 1) are given back now; a later round's
       that a fast peer already sent stay. */
    mdl_worker_transient (c, MDL_TRANSIENT_MERGE, false, NULL, 0, R + 2);
    return have_all;
}

static int
s_ctx_global_average (mdl_ctx_t *c, uint64_t R, double aux, bool weighted, size_t *peers, size_t *mismatched)
{
    uint64_t with = 0;
    size_t bad = 0;
    if (c->a->merge_ch < 0)
        return MDL_EINVAL; /* the algorithm did not declare global_averages */
    if (!mdl_worker_global_average (c, R, aux, weighted, &with, &bad))
        return MDL_ETIMEOUT;
    *peers = (size_t) with;
    if (mismatched)
        *mismatched = bad;
    pthread_mutex_lock (&c->a->stats_lock);
    c->a->stats.global_averages++;
    pthread_mutex_unlock (&c->a->stats_lock);
    return 0;
}

int
mdl_ctx_global_average (mdl_ctx_t *c, uint64_t R, double aux, size_t *peers, size_t *mismatched)
{
    return s_ctx_global_average (c, R, aux, false, peers, mismatched);
}

int
mdl_ctx_global_average_weighted (mdl_ctx_t *c, uint64_t R, double weight, size_t *peers, size_t *bad)
{
    return s_ctx_global_average (c, R, weight, true, peers, bad);
}

uint64_t
mdl_ctx_sync_wanted (mdl_ctx_t *c)
{
    return atomic_load (&c->a->sync_wanted);
}

bool
mdl_ctx_stopping (mdl_ctx_t *c)
{
    return atomic_load (&c->a->stop);
}

bool
mdl_ctx_fin (mdl_ctx_t *c)
{
    return mdl_worker_fin (c, c->step);
}

bool
mdl_worker_fin (mdl_ctx_t *c, uint64_t step)
{
    uint64_t all[MDL_AGENT_MAX_PEERS];
    size_t nall = mdl_worker_live_peers (c, all);
    /* and the live peers that finished first (out of the view): they linger, and wait
       for every live peer's FIN before they leave */
    pthread_mutex_lock (&c->a->view_lock);
    for (size_t i = 0; i < c->a->view_fin_n && nall < MDL_AGENT_MAX_PEERS; i++)
        all[nall++] = c->a->view_fin[i];
    pthread_mutex_unlock (&c->a->view_lock);
    /* Every live peer must hear it, and be heard: open to all until the worker ends. */
    if (!c->fin_open)
        mdl_worker_transient (c, MDL_TRANSIENT_FIN, true, NULL, 0, 0);
    mdl_worker_send_to (c, MDL_KIND_FIN, step, NULL, all, nall);
    return mdl_agent_all_fin (c->a);
}

/* --global-every P: the exact average after every P-th step (not after the last one
   when the final merge follows). */
void
mdl_worker_periodic_average (mdl_ctx_t *c, uint64_t done, uint64_t total)
{
    mdl_agent_t *a = c->a;
    const uint64_t P = (uint64_t) a->cfg.global_every;
    if (P == 0 || done % P || (done == total && a->cfg.final_merge) || atomic_load (&a->stop))
        return;
    uint64_t with = 0;
    bool ok = mdl_worker_global_average (c, MDL_MERGE_ROUND + 2 * done, 0, false, &with, NULL);
    pthread_mutex_lock (&a->stats_lock);
    a->stats.global_averages += ok;
    pthread_mutex_unlock (&a->stats_lock);
    if (!ok)
        mdl_agent_log (a, "global average after step %llu incomplete after %.0f s: continuing without it",
                       (unsigned long long) done, a->cfg.merge_timeout);
}
