/*  algo/plexus.c: Plexus (de Vos et al., arXiv 2023/2024; PAPERS.md, paper 17):
    decentralized learning in rounds of a small sample of online agents.

    Round r is --local-steps H steps long. Every agent computes, from the round id and its
    membership view alone, the same sample S_r: the online members ordered by
    mdl_rng_hash3 (seed, r, id), the first --sample S of them (mdl_plexus_sample); the
    first is the round's aggregator, the next ones its stand-ins. Then
      - the members of S_r train H steps from the aggregate they were sent, and send their
        model to the aggregator (channel 0, round r);
      - the aggregator waits for them (up to --sync-timeout; a member that left the view
        drops out), sets x to their mean, and closes the round: the aggregate goes to the
        members of S_{r+1} (channel 1, round r), a marker without payload to every other
        agent online in round r + 1; after the last round the aggregate goes to everyone;
      - everyone else stays idle: no computation (so not paced by --step-ms or --slow),
        no traffic, until the round closes (then an agent of S_{r+1} adopts the
        aggregate).
    Churn: membership and timeouts. An aggregator that leaves the view before closing
    its round is replaced by the next member of S_r still there: the survivors send it
    their models again and it closes the round ("the round is redone by the next one in
    the order"). An agent that hears no close within --sync-timeout goes on with its own
    model. --offline P (sim) is the availability trace every agent knows: the sample skips
    the agents offline in the round, and an agent offline in round r + 1 does not wait
    for round r's close.

    Synchronous by construction (rounds close); the bytes per round are 2 S models plus
    n - S - 1 empty markers, against 2 n models (ring) for D-PSGD. The model of the run is
    the newest aggregate: stats.model_round says which agent holds it (sim evaluates
    that one while training, and every agent ends with the last one). */
#include "plexus.h"

#include <stdlib.h>
#include <string.h>

#include "algo.h"
#include "err.h"
#include "rng.h"
#include "vec.h"

typedef struct {
    uint64_t seed;
    size_t S;
    uint64_t H, total, rounds;
    uint64_t cur[MDL_ALGO_MAX_MEMBERS];  /* S_r */
    size_t ncur;
    uint64_t next[MDL_ALGO_MAX_MEMBERS]; /* S_{r+1} */
    size_t nnext;
    uint64_t round;
    bool member;                               /* in S_r */
} s_px_t;

typedef struct {
    uint64_t id, key;
} s_keyed_t;

static int
s_by_key (const void *a, const void *b)
{
    const s_keyed_t *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key ? 1 : x->id < y->id ? -1 : x->id > y->id;
}

size_t
mdl_plexus_sample (uint64_t seed, uint64_t round, const uint64_t *view, size_t n, size_t S,
                   mdl_plexus_offline_fn *offline, void *arg, uint64_t *out)
{
    s_keyed_t k[MDL_ALGO_MAX_MEMBERS];
    if (n > MDL_ALGO_MAX_MEMBERS)
        n = MDL_ALGO_MAX_MEMBERS;
    for (size_t i = 0; i < n; i++)
        k[i] = (s_keyed_t) { view[i], mdl_rng_hash3 (seed, round, view[i]) };
    qsort (k, n, sizeof k[0], s_by_key);
    size_t m = 0;
    for (size_t i = 0; i < n && m < S; i++)
        if (!offline || !offline (arg, k[i].id, round))
            out[m++] = k[i].id;
    return m;
}

static bool
s_in (const uint64_t *list, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == id)
            return true;
    return false;
}

static bool
s_offline (void *ctx, uint64_t id, uint64_t round)
{
    return mdl_ctx_offline (ctx, id, round);
}

static size_t
s_sample (s_px_t *s, mdl_ctx_t *ctx, uint64_t r, uint64_t *out)
{
    const uint64_t *ids;
    size_t n = mdl_ctx_members (ctx, &ids);
    return mdl_plexus_sample (s->seed, r, ids, n, s->S, s_offline, ctx, out);
}

/* The first member of sample still in the view (0: none). */
static uint64_t
s_aggregator (mdl_ctx_t *ctx, const uint64_t *sample, size_t ns)
{
    const uint64_t *ids;
    size_t n = mdl_ctx_members (ctx, &ids);
    for (size_t k = 0; k < ns; k++)
        if (s_in (ids, n, sample[k]))
            return sample[k];
    return 0;
}

static int
s_check (const mdl_agent_cfg_t *cfg, char *err, size_t errlen)
{
    if (cfg->sample < 1) {
        snprintf (err, errlen, "--algo plexus needs --sample S >= 1: the agents that train in each round");
        return MDL_EALGO;
    }
    if (cfg->mode != MDL_MODE_SYNC) {
        snprintf (err, errlen, "--algo plexus runs in rounds that its aggregator closes: --mode sync only");
        return MDL_EALGO;
    }
    return 0;
}

static int
s_init (void *state, mdl_ctx_t *ctx)
{
    s_px_t *s = state;
    const mdl_agent_cfg_t *cfg = mdl_ctx_cfg (ctx);
    s->seed = cfg->learn.seed ^ mdl_rng_hash3 (0x706c657875, 0, 0);
    s->S = (size_t) cfg->sample;
    s->H = cfg->local_steps > 1 ? (uint64_t) cfg->local_steps : 1;
    s->total = mdl_ctx_total_steps (ctx);
    s->rounds = (s->total + s->H - 1) / s->H;
    s->round = UINT64_MAX;
    return 0;
}

typedef struct {
    mdl_ctx_t *ctx;
    const uint64_t *who;
    size_t n;
    int channel;
    uint64_t round;
} s_wait_t;

/* Every peer of who still in the view has something for the round on the channel (or
   has left it). */
static bool
s_heard (void *arg)
{
    s_wait_t *w = arg;
    const uint64_t *ids;
    size_t n = mdl_ctx_members (w->ctx, &ids);
    for (size_t k = 0; k < w->n; k++) {
        mdl_slot_meta_t m;
        if (w->who[k] == mdl_ctx_id (w->ctx) || !s_in (ids, n, w->who[k]))
            continue;
        if (!mdl_ctx_peek (w->ctx, w->who[k], w->channel, &m) || m.step < w->round)
            return false;
    }
    return true;
}

/* The aggregator's side of round r: the mean of its own x and the models of the other
   members of sample, then the close (to S_{r+1}, or after the last round to everyone). */
static void
s_aggregate (s_px_t *s, mdl_ctx_t *ctx, uint64_t r, const uint64_t *sample, size_t ns)
{
    const mdl_agent_cfg_t *cfg = mdl_ctx_cfg (ctx);
    const uint64_t me = mdl_ctx_id (ctx);
    s_wait_t w = { ctx, sample, ns, 0, r };
    mdl_ctx_wait (ctx, s_heard, &w, cfg->sync_timeout);
    float *x = mdl_ctx_x (ctx);
    const size_t d = mdl_ctx_dim (ctx);
    size_t used = 1;
    for (size_t k = 0; k < ns; k++) {
        if (sample[k] == me)
            continue;
        const float *v = mdl_ctx_read_begin (ctx, sample[k], 0, r, NULL);
        if (!v)
            continue;
        mdl_vec_axpy (x, 1.0f, v, d);
        mdl_ctx_read_end (ctx, sample[k], 0);
        used++;
    }
    mdl_vec_scale (x, 1.0f / (float) used, d);
    mdl_ctx_model_round (ctx, r + 1);
    if (used < ns)
        mdl_ctx_log (ctx, "plexus: round %llu aggregated %zu of its %zu members", (unsigned long long) r, used, ns);
    /* The close. */
    const uint64_t *ids;
    size_t n = mdl_ctx_members (ctx, &ids);
    uint64_t model_to[MDL_ALGO_MAX_MEMBERS], mark_to[MDL_ALGO_MAX_MEMBERS];
    size_t nm = 0, nk = 0;
    const bool last = r + 1 >= s->rounds;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == me)
            continue;
        if (last || s_in (s->next, s->nnext, ids[i]))
            model_to[nm++] = ids[i];
        else if (!mdl_ctx_offline (ctx, ids[i], r + 1))
            mark_to[nk++] = ids[i];
    }
    mdl_ctx_send (ctx, 1, r, x, model_to, nm);
    mdl_ctx_send (ctx, 1, r, NULL, mark_to, nk);
}

typedef struct {
    mdl_ctx_t *ctx;
    uint64_t agg, round;
} s_close_t;

/* The close of the round from agg has arrived, or agg left the view. */
static bool
s_closed (void *arg)
{
    s_close_t *w = arg;
    const uint64_t *ids;
    size_t n = mdl_ctx_members (w->ctx, &ids);
    mdl_slot_meta_t m;
    return !s_in (ids, n, w->agg) || (mdl_ctx_peek (w->ctx, w->agg, 1, &m) && m.step >= w->round);
}

/* Everyone else's side of round r: wait for its close and, with adopt, take the
   aggregate. When the aggregator leaves first, the next member still there redoes the
   round: the surviving members send it their models again (they have not moved since). */
static void
s_await_close (s_px_t *s, mdl_ctx_t *ctx, uint64_t r, bool adopt)
{
    const mdl_agent_cfg_t *cfg = mdl_ctx_cfg (ctx);
    const uint64_t me = mdl_ctx_id (ctx);
    const double timeout = r + 1 >= s->rounds ? cfg->merge_timeout : cfg->sync_timeout;
    uint64_t asked = s_aggregator (ctx, s->cur, s->ncur);
    while (!mdl_ctx_stopping (ctx)) {
        const uint64_t agg = s_aggregator (ctx, s->cur, s->ncur);
        if (agg == 0)
            return; /* the whole sample is gone: nothing will close this round */
        if (agg == me) {
            mdl_ctx_log (ctx, "plexus: the aggregator of round %llu left: redoing it", (unsigned long long) r);
            s_aggregate (s, ctx, r, s->cur, s->ncur);
            return;
        }
        if (agg != asked && s->member) {
            mdl_ctx_send (ctx, 0, r, mdl_ctx_x (ctx), &agg, 1); /* the round is redone by agg */
            asked = agg;
        }
        s_close_t w = { ctx, agg, r };
        if (!mdl_ctx_wait (ctx, s_closed, &w, timeout)) {
            if (!mdl_ctx_stopping (ctx))
                mdl_ctx_log (ctx, "plexus: no close of round %llu within %.1f s: going on with the own model",
                             (unsigned long long) r, timeout);
            return;
        }
        const uint64_t *ids;
        size_t n = mdl_ctx_members (ctx, &ids);
        if (!s_in (ids, n, agg))
            continue; /* it left: the next in the order takes over */
        if (adopt) {
            const float *v = mdl_ctx_read_begin (ctx, agg, 1, r, NULL);
            if (v) {
                mdl_vec_copy (mdl_ctx_x (ctx), v, mdl_ctx_dim (ctx));
                mdl_ctx_read_end (ctx, agg, 1);
                mdl_ctx_model_round (ctx, r + 1);
            }
        }
        return;
    }
}

static bool
s_round_end (const s_px_t *s, uint64_t t)
{
    return (t + 1) % s->H == 0 || t + 1 == s->total;
}

static int
s_local_step (void *state, mdl_ctx_t *ctx)
{
    s_px_t *s = state;
    const uint64_t t = mdl_ctx_step (ctx), r = t / s->H;
    if (r != s->round) {
        /* The sample of this round was fixed at the close of the last one, with the view
           the aggregator used to address it (the first round's now). */
        if (s->round == UINT64_MAX) {
            s->ncur = s_sample (s, ctx, r, s->cur);
        } else {
            memcpy (s->cur, s->next, s->nnext * sizeof s->next[0]);
            s->ncur = s->nnext;
        }
        s->round = r;
        s->member = s_in (s->cur, s->ncur, mdl_ctx_id (ctx));
        if (mdl_ctx_offline (ctx, mdl_ctx_id (ctx), r))
            mdl_ctx_count_offline (ctx);
    }
    if (!s->member) {
        mdl_ctx_step_idle (ctx); /* idle: the round clock moves, the model does not, unpaced */
        return 0;
    }
    return mdl_ctx_sgd_step (ctx);
}

static int
s_publish (void *state, mdl_ctx_t *ctx)
{
    s_px_t *s = state;
    const uint64_t t = mdl_ctx_step (ctx);
    if (!s->member || !s_round_end (s, t))
        return 0;
    const uint64_t agg = s_aggregator (ctx, s->cur, s->ncur);
    if (agg == 0 || agg == mdl_ctx_id (ctx))
        return 0;
    return mdl_ctx_send (ctx, 0, s->round, mdl_ctx_x (ctx), &agg, 1);
}

static int
s_mix (void *state, mdl_ctx_t *ctx)
{
    s_px_t *s = state;
    const uint64_t t = mdl_ctx_step (ctx), r = s->round, me = mdl_ctx_id (ctx);
    if (!s_round_end (s, t))
        return 0;
    const bool last = r + 1 >= s->rounds;
    s->nnext = last ? 0 : s_sample (s, ctx, r + 1, s->next);
    if (s->member && s_aggregator (ctx, s->cur, s->ncur) == me)
        s_aggregate (s, ctx, r, s->cur, s->ncur);
    else if (last || !mdl_ctx_offline (ctx, me, r + 1))
        s_await_close (s, ctx, r, last || s_in (s->next, s->nnext, me));
    return 0;
}

const mdl_algo_ops_t mdl_algo_plexus = {
    .name = "plexus",
    .about = "Plexus: each round a sample of --sample S online agents (the same on every agent, from the round and "
             "the view) trains --local-steps H steps and one of them averages their models (de Vos et al. 2023)",
    .takes = MDL_ALGO_TAKES_LOCAL_STEPS | MDL_ALGO_TAKES_SAMPLE | MDL_ALGO_TAKES_OFFLINE,
    .channels = 2,
    .sampled = true,
    .state_size = sizeof (s_px_t),
    .check = s_check,
    .init = s_init,
    .local_step = s_local_step,
    .publish = s_publish,
    .mix = s_mix,
};
