/*  ctx.c: what an algorithm calls (algo.h) on the worker thread: the learner and its
    vectors, this round's neighbours and weights (refreshed from the membership view),
    publishing a vector (plain, or as a replica stream of deltas and keyframes) and mixing
    the neighbours' vectors from the mailboxes (sync: waiting for the round; async: the
    newest, discounted by staleness). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "err.h"
#include "hood.h"
#include "mixing.h"
#include "vec.h"
#include "weights.h"
#include "worker_impl.h"

/* ---- helpers for algorithms ---- */

mdl_learner_t *mdl_ctx_learner (mdl_ctx_t *c) { return c->a->learner; }
const mdl_agent_cfg_t *mdl_ctx_cfg (mdl_ctx_t *c) { return &c->a->cfg; }
float *mdl_ctx_x (mdl_ctx_t *c) { return c->x; }
size_t mdl_ctx_dim (mdl_ctx_t *c) { return c->d; }
uint64_t mdl_ctx_step (mdl_ctx_t *c) { return c->step; }

double
mdl_ctx_gamma (mdl_ctx_t *c)
{
    const mdl_agent_cfg_t *cfg = &c->a->cfg;
    double alpha = 1.0;
    if (cfg->scale_kind == MDL_SCALE_CONSTANT)
        alpha = cfg->scale_value;
    else if (cfg->scale_kind == MDL_SCALE_LR) {
        const mdl_sched_t *sc = mdl_learner_sched (c->a->learner);
        alpha = sc->lr0 > 0 ? cfg->scale_value * mdl_learner_lr (c->a->learner) / sc->lr0 : 0.0;
    }
    double g = cfg->gamma * alpha;
    return g > 1.0 ? 1.0 : g < 0.0 ? 0.0 : g;
}
float *mdl_ctx_scratch (mdl_ctx_t *c, int k) { return k >= 0 && k < 4 ? c->scratch[k] : NULL; }
bool mdl_ctx_replicas (mdl_ctx_t *c) { return c->a->replicas; }

void
mdl_ctx_error (mdl_ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (c->err, sizeof c->err, fmt, ap);
    va_end (ap);
}

void
mdl_ctx_log (mdl_ctx_t *c, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (line, sizeof line, fmt, ap);
    va_end (ap);
    mdl_agent_log (c->a, "%s", line);
}

int
mdl_ctx_sgd_step (mdl_ctx_t *c)
{
    float loss;
    int rc = mdl_learner_step (c->a->learner, &loss);
    c->last_loss = loss;
    return rc;
}

int
mdl_ctx_grad (mdl_ctx_t *c, float **g)
{
    mdl_learner_t *l = c->a->learner;
    float loss;
    int rc = mdl_learner_grad (l, &loss);
    c->last_loss = loss;
    *g = mdl_model_grads (mdl_learner_model (l));
    const float wd = c->a->cfg.learn.opt.weight_decay;
    if (rc == 0 && wd > 0)
        mdl_vec_axpy (*g, wd, c->x, c->d);
    return rc;
}

int
mdl_ctx_sgd_step_with (mdl_ctx_t *c, int (*extra) (void *state, mdl_ctx_t *ctx, float *g), void *state)
{
    mdl_learner_t *l = c->a->learner;
    float loss;
    int rc = mdl_learner_grad (l, &loss);
    c->last_loss = loss;
    if (rc)
        return rc;
    /* extra may run the model on other inputs (its passes overwrite the gradient
       vector): it gets a copy of the minibatch gradient to add to, put back after. */
    if (!c->gsave && !(c->gsave = malloc (c->d * sizeof (float))))
        return MDL_ENOMEM;
    float *g = mdl_model_grads (mdl_learner_model (l));
    mdl_vec_copy (c->gsave, g, c->d);
    rc = extra (state, c, c->gsave);
    mdl_vec_copy (g, c->gsave, c->d);
    if (rc)
        return rc;
    mdl_learner_apply (l);
    return 0;
}

const mdl_dataset_t *
mdl_ctx_train (mdl_ctx_t *c, const uint32_t **rows, size_t *nrows)
{
    const mdl_agent_cfg_t *cfg = &c->a->cfg;
    *rows = cfg->rows;
    *nrows = cfg->rows ? cfg->nrows : mdl_dataset_n (cfg->train);
    return cfg->train;
}

uint64_t
mdl_ctx_total_steps (mdl_ctx_t *c)
{
    return mdl_learner_steps_per_epoch (c->a->learner) * (uint64_t) (c->a->cfg.epochs > 0 ? c->a->cfg.epochs : 1);
}

uint64_t mdl_ctx_id (mdl_ctx_t *c) { return c->a->cfg.id; }

void
mdl_ctx_model_round (mdl_ctx_t *c, uint64_t round)
{
    pthread_mutex_lock (&c->a->stats_lock);
    c->a->stats.model_round = round;
    pthread_mutex_unlock (&c->a->stats_lock);
}

void
mdl_ctx_count_offline (mdl_ctx_t *c)
{
    pthread_mutex_lock (&c->a->stats_lock);
    c->a->stats.rounds_offline++;
    pthread_mutex_unlock (&c->a->stats_lock);
}

void
mdl_ctx_residual (mdl_ctx_t *c, double mse)
{
    pthread_mutex_lock (&c->a->stats_lock);
    c->a->stats.residual_mse = mse;
    pthread_mutex_unlock (&c->a->stats_lock);
}

size_t
mdl_ctx_members (mdl_ctx_t *c, const uint64_t **ids)
{
    mdl_worker_round (c);
    *ids = c->ids;
    return c->n;
}

float mdl_ctx_lr (mdl_ctx_t *c) { return mdl_learner_lr (c->a->learner); }

void
mdl_ctx_step_done (mdl_ctx_t *c)
{
    mdl_learner_set_steps (c->a->learner, mdl_learner_steps (c->a->learner) + 1);
}

void
mdl_ctx_step_idle (mdl_ctx_t *c)
{
    mdl_ctx_step_done (c);
    c->idle = true; /* read and cleared by the worker's pacing (worker.c) */
}

const float *
mdl_ctx_public (mdl_ctx_t *c, int channel)
{
    return c->a->replicas && channel >= 0 && channel < MDL_AGENT_CHANNELS ? c->pub[channel] : NULL;
}

/* ---- adaptive degree (after Xie et al.'s Ada) ----

   The exponential graph while the disagreement is high, --topology once it is low. The
   decision must be the same on every agent, round for round, or synchronous neighbours
   would wait for messages never sent. So rounds are cut into periods of P rounds
   (P = max(8, n) >= the diameter of every graph used), each agent votes at the start of
   a period (1 if its disagreement estimate is above the target, or not measured yet), and every state it
   publishes carries the largest vote it has seen this period (aux); receivers take the
   largest. After P rounds of this max-consensus every agent holds the same maximum
   (max is exact, the graph connected), which decides the next period's graph. A lost
   message can split the decision for one period (a synchronous round then ends on the
   tombstone or --sync-timeout); the next period's vote agrees again. */
uint64_t
mdl_worker_ad_len (const mdl_ctx_t *c)
{
    return c->n > 8 ? c->n : 8;
}

static void
s_ad_period (mdl_ctx_t *c)
{
    const uint64_t p = c->step / mdl_worker_ad_len (c);
    if (p == c->ad_period)
        return;
    /* the vote of the period that ended decides this one (the first period is dense) */
    c->ad_dense = p == 0 || (p == c->ad_period + 1 && c->ad_vote > 0);
    c->ad_period = p;
    mdl_learner_t *l = c->a->learner;
    const double target = c->a->cfg.ad_target * (c->a->cfg.ad_relative ? mdl_learner_lr (l) : 1.0);
    pthread_mutex_lock (&c->a->stats_lock);
    /* nothing measured yet (the first period): stay dense */
    c->ad_vote = c->a->stats.gossip_rounds == 0 || c->a->stats.disagreement > target ? 1.0 : 0.0;
    pthread_mutex_unlock (&c->a->stats_lock);
}

bool
mdl_worker_offline (const mdl_ctx_t *c, uint64_t id, uint64_t step)
{
    const double p = c->a->cfg.offline;
    if (!(p > 0))
        return false;
    /* A uniform draw from (training seed, id, step) alone: every agent computes the same
       trace without a message. */
    const uint64_t z = mdl_rng_hash3 (c->a->cfg.learn.seed ^ 0x6f66666c696e65ULL, id, step);
    return (double) (z >> 11) * 0x1.0p-53 < p;
}

bool mdl_ctx_offline (mdl_ctx_t *c, uint64_t id, uint64_t step) { return mdl_worker_offline (c, id, step); }

/* --offline: the round's neighbours that are offline in it neither send nor receive:
   they leave the in-neighbour row (the mix renormalises over the others, no one waits
   for them) and the out-neighbour list. */
static void
s_drop_offline (mdl_ctx_t *c)
{
    const uint64_t K = c->a->cfg.gossip_steps > 1 ? (uint64_t) c->a->cfg.gossip_steps : 1;
    const uint64_t s = c->step / K;
    size_t keep = 0;
    for (size_t k = 0; k < c->nnbr; k++)
        if (!mdl_worker_offline (c, c->ids[c->nbr[k]], s)) {
            c->nbr[keep] = c->nbr[k];
            c->w[keep++] = c->w[k];
        }
    c->nnbr = keep;
    keep = 0;
    for (size_t k = 0; k < c->nout; k++)
        if (!mdl_worker_offline (c, c->ids[c->out[k]], s))
            c->out[keep++] = c->out[k];
    c->nout = keep;
}

/* The talk set (hood.h) of round's window, ids into out (c->n entries): 0, or
   MDL_ENOMEM / the topology's error (out then unchanged). */
static int
s_talk_compute (mdl_ctx_t *c, uint64_t round, uint64_t *out, size_t *nout)
{
    const mdl_topo_t *graphs[3];
    const size_t ng = mdl_agent_graphs (c->a, round, graphs);
    uint32_t *in = malloc ((c->n ? c->n : 1) * sizeof *in), *talk = malloc ((c->n ? c->n : 1) * sizeof *talk);
    uint8_t *mark = malloc (c->n ? c->n : 1);
    size_t nin = 0, ntalk = 0;
    int rc = in && talk && mark ? mdl_hood_compute (graphs, ng, (uint32_t) c->n, c->me, round, in, &nin, talk, &ntalk, mark)
                                : MDL_ENOMEM;
    if (rc == 0) {
        for (size_t k = 0; k < ntalk; k++)
            out[k] = c->ids[talk[k]];
        *nout = ntalk;
    }
    free (in);
    free (talk);
    free (mark);
    return rc;
}

size_t
mdl_worker_talk_ids (mdl_ctx_t *c, uint64_t round, uint64_t *out)
{
    size_t n = 0;
    return s_talk_compute (c, round, out, &n) == 0 ? n : 0;
}

/* Replica holders are the peers of the talk set (hood.h): when the neighbourhood moves
   (membership, an aperiodic graph's window), the holders outside it are forgotten, as
   the comm actor of each of them forgets its copy of ours; one that comes back gets a
   keyframe. Otherwise deltas would go, every step, to every peer ever neighboured. */
static void
s_follow_talk (mdl_ctx_t *c)
{
    mdl_agent_t *a = c->a;
    const mdl_topo_t *graphs[3];
    const size_t ng = mdl_agent_graphs (a, c->step, graphs);
    const uint64_t w = mdl_hood_window (graphs, ng, (uint32_t) c->n, c->step);
    if (c->talk && c->talk_version == c->view_version && c->talk_window == w && c->talk_graphs == ng)
        return;
    uint64_t *ids = realloc (c->talk, (c->n ? c->n : 1) * sizeof *ids);
    if (!ids)
        return;
    c->talk = ids;
    size_t ntalk = 0;
    if (s_talk_compute (c, c->step, c->talk, &ntalk) == 0) {
        c->ntalk = ntalk;
        c->talk_version = c->view_version;
        c->talk_window = w;
        c->talk_graphs = ng;
        size_t keep = 0;
        for (size_t k = 0; k < c->nknown; k++) {
            bool in_talk = false;
            for (size_t j = 0; j < ntalk && !in_talk; j++)
                in_talk = c->talk[j] == c->known[k];
            if (in_talk)
                c->known[keep++] = c->known[k];
        }
        c->nknown = keep;
    }
}

/* Refreshes the membership snapshot and this round's neighbours and weights. */
int
mdl_worker_round (mdl_ctx_t *c)
{
    mdl_agent_t *a = c->a;
    pthread_mutex_lock (&a->view_lock);
    if (a->view_version != c->view_version) {
        c->n = a->view_n;
        memcpy (c->ids, a->view, c->n * sizeof c->ids[0]);
        c->view_version = a->view_version;
        c->round_valid = false;
    }
    pthread_mutex_unlock (&a->view_lock);
    if (c->round_valid && c->round_t == c->step)
        return 0;
    c->me = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->ids[i] == a->cfg.id)
            c->me = (uint32_t) i;
    /* --dense-window: the complete graph during a window of epochs (a function of the
       step only, so every agent switches at the same round). */
    const mdl_topo_t *topo = a->topo;
    if (a->cfg.ad_target > 0 && c->step < MDL_MERGE_ROUND) { /* global averages use no graph */
        s_ad_period (c);
        if (c->ad_dense) {
            topo = a->denser;
            pthread_mutex_lock (&a->stats_lock);
            a->stats.dense_rounds++;
            pthread_mutex_unlock (&a->stats_lock);
        }
    }
    if (a->cfg.dense_len > 0) {
        const uint64_t K = a->cfg.gossip_steps > 1 ? (uint64_t) a->cfg.gossip_steps : 1;
        double epoch = (double) (c->step / K) / (double) mdl_learner_steps_per_epoch (a->learner);
        if (epoch >= a->cfg.dense_start && epoch < a->cfg.dense_start + a->cfg.dense_len)
            topo = a->dense;
    }
    size_t cnt = 0;
    int rc = mdl_weights_row (a->cfg.weights, topo, (uint32_t) c->n, c->me, c->step, NULL, c->nbr, c->w,
                              MDL_AGENT_MAX_PEERS, &cnt, &c->w_self);
    if (rc)
        return rc;
    c->nnbr = cnt;
    rc = mdl_topo_out_neighbors (topo, (uint32_t) c->n, c->me, c->step, c->out, MDL_AGENT_MAX_PEERS, &cnt);
    if (rc)
        return rc;
    c->nout = cnt;
    if (a->cfg.offline > 0 && c->step < MDL_MERGE_ROUND)
        s_drop_offline (c);
    c->round_t = c->step;
    c->round_valid = true;
    if (a->replicas && c->step < MDL_MERGE_ROUND)
        s_follow_talk (c);
    return 0;
}

/* The neighbours of the round as they were when it began (its publish): a peer that
   leaves during the round leaves the next one, as it does for the neighbours, which
   published on the same view. Refreshing here instead dropped from the mix a state the
   peer sent before its goodbye whenever the goodbye came before the mix began
   (test_catchup's goodbye case, about 1 run in 22 under ASan). */
static int
s_round_begun (mdl_ctx_t *c)
{
    return c->round_valid && c->round_t == c->step ? 0 : mdl_worker_round (c);
}

/* Hands one encoded payload to the comm actor for the given recipients. Takes the blob
   reference. */
int
mdl_worker_send (mdl_ctx_t *c, const mdl_outmsg_t *m, const uint64_t *to, size_t nto, mdl_blob_t *blob)
{
    if (nto == 0) {
        mdl_blob_unref (blob);
        return 0;
    }
    return mdl_handoff_send (c->a->handoff, m, to, nto, blob);
}

int
mdl_worker_encode (mdl_ctx_t *c, mdl_codec_t *codec, const float *v, mdl_blob_t **out)
{
    mdl_blob_t *b = mdl_blob_take (c->a->pool);
    if (!b)
        return MDL_ENOMEM;
    size_t len = 0;
    int rc = mdl_codec_encode (codec, v, mdl_blob_data (b), mdl_blob_cap (b), &len, &c->rng);
    if (rc) {
        mdl_blob_unref (b);
        return rc;
    }
    mdl_blob_set_len (b, len);
    *out = b;
    return 0;
}

static bool
s_known (const mdl_ctx_t *c, uint64_t id)
{
    for (size_t i = 0; i < c->nknown; i++)
        if (c->known[i] == id)
            return true;
    return false;
}

bool
mdl_worker_alive (const mdl_ctx_t *c, uint64_t id)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->ids[i] == id)
            return true;
    return false;
}

int
mdl_worker_publish_blob (mdl_ctx_t *c, int channel, uint64_t step, mdl_blob_t *b, bool advance)
{
    mdl_agent_t *a = c->a;
    mdl_outmsg_t m = { .kind = MDL_KIND_MAKE (0, channel) | MDL_KIND_STATE, .step = step, .loss = c->last_loss,
                       .aux = a->cfg.cc_target > 0 ? c->cc_shared : c->ad_vote, .advance = advance };
    uint64_t to[MDL_AGENT_MAX_PEERS];
    for (size_t k = 0; k < c->nout; k++)
        to[k] = c->ids[c->out[k]];
    return mdl_worker_send (c, &m, to, c->nout, b);
}

int
mdl_ctx_publish (mdl_ctx_t *c, int channel, const float *v)
{
    if (channel < 0 || channel >= MDL_AGENT_CHANNELS)
        return MDL_EINVAL;
    int rc = mdl_worker_round (c);
    if (rc)
        return rc;
    mdl_agent_t *a = c->a;
    mdl_outmsg_t m = { .kind = MDL_KIND_MAKE (0, channel), .step = c->step, .loss = c->last_loss,
                       .aux = a->cfg.cc_target > 0 ? c->cc_shared : c->ad_vote };
    if (!(v = mdl_worker_forge (c, channel, v, &m.step))) /* --byzantine: what a liar sends */
        return MDL_ENOMEM;
    uint64_t to[MDL_AGENT_MAX_PEERS];
    size_t nto = 0;
    mdl_blob_t *b = NULL;
    if (!a->replicas) {
        /* Nobody to send to (--isolated, a round without out-neighbours): fp32's encode
           is a copy that draws nothing from the RNG, made only to be dropped
           (mdl_worker_send): skipped. A stochastic codec still encodes, so that its draws,
           and the run's floats, do not depend on who listened. */
        if (c->nout == 0 && mdl_codec_view (c->codec, v, c->d * sizeof (float)))
            return 0;
        if ((rc = mdl_worker_encode (c, c->codec, v, &b)))
            return rc;
        return mdl_worker_publish_blob (c, channel, m.step, b, false);
    }
    c->sends[channel]++;
    /* The first send is a keyframe too: starting the public copy at v, not at zero, so
       neighbours never mix with a copy that still lacks most of the model. */
    const bool all_kf = c->sends[channel] == 1
                        || (a->cfg.keyframe_every > 0 && c->sends[channel] % (uint64_t) a->cfg.keyframe_every == 0);
    if (all_kf) {
        /* Periodic keyframe: the public copy becomes v itself, sent exactly (fp32) to
           every holder, which also clears what error feedback still owed. */
        mdl_vec_copy (c->pub[channel], v, c->d);
        for (size_t k = 0; k < c->nout; k++) {
            uint64_t id = c->ids[c->out[k]];
            if (!s_known (c, id) && c->nknown < MDL_AGENT_MAX_PEERS)
                c->known[c->nknown++] = id;
        }
        size_t keep = 0;
        for (size_t k = 0; k < c->nknown; k++)
            if (mdl_worker_alive (c, c->known[k]))
                to[nto++] = c->known[keep++] = c->known[k];
        c->nknown = keep;
        uint64_t dropped_asks[MDL_AGENT_MAX_PEERS];
        mdl_agent_take_resync (a, dropped_asks); /* everyone gets this keyframe */
        if ((rc = mdl_worker_encode (c, c->kcodec, c->pub[channel], &b)))
            return rc;
        m.kind |= MDL_KIND_STATE;
        m.keyframe = true;
        if (a->cfg.verify_replicas)
            m.aux = mdl_vec_digest (c->pub[channel], c->d);
        pthread_mutex_lock (&a->stats_lock);
        a->stats.keyframes_sent += nto;
        pthread_mutex_unlock (&a->stats_lock);
        return mdl_worker_send (c, &m, to, nto, b);
    }
    /* Replica stream: q = C(v - pub); pub += decode(q), exactly as receivers do. */
    float *diff = c->delta;
    mdl_vec_sub (diff, v, c->pub[channel], c->d);
    if ((rc = mdl_worker_encode (c, c->codec, diff, &b)))
        return rc;
    rc = mdl_codec_apply (c->codec, mdl_blob_data (b), mdl_blob_len (b), 1.0f, c->pub[channel]);
    if (rc) {
        mdl_blob_unref (b);
        return rc;
    }
    /* Who gets a keyframe (the public copy, exactly) instead of the delta: this round's
       out-neighbours that hold no copy yet, and peers that asked (they saw a gap). */
    uint64_t kf[MDL_AGENT_MAX_PEERS];
    size_t nkf = 0;
    uint64_t asked[MDL_AGENT_MAX_PEERS];
    size_t nasked = mdl_agent_take_resync (a, asked);
    for (size_t k = 0; k < c->nout; k++) {
        uint64_t id = c->ids[c->out[k]];
        if (!s_known (c, id) && c->nknown < MDL_AGENT_MAX_PEERS)
            c->known[c->nknown++] = id, kf[nkf++] = id;
    }
    for (size_t k = 0; k < nasked; k++) {
        bool dup = false;
        for (size_t j = 0; j < nkf; j++)
            dup |= kf[j] == asked[k];
        if (!dup && s_known (c, asked[k]) && nkf < MDL_AGENT_MAX_PEERS)
            kf[nkf++] = asked[k];
    }
    /* Deltas go to every live holder of a copy (not only this round's neighbours: a copy
       that missed a delta would silently diverge). */
    size_t keep = 0;
    for (size_t k = 0; k < c->nknown; k++) {
        uint64_t id = c->known[k];
        if (!mdl_worker_alive (c, id))
            continue; /* a dead peer's copy is void; it gets a keyframe if it returns */
        c->known[keep++] = id;
        bool gets_kf = false;
        for (size_t j = 0; j < nkf && !gets_kf; j++)
            gets_kf = kf[j] == id;
        if (!gets_kf)
            to[nto++] = id;
    }
    c->nknown = keep;
    m.kind |= MDL_KIND_DELTA;
    if (a->cfg.verify_replicas) /* what every holder's copy must be after this delta */
        m.aux = mdl_vec_digest (c->pub[channel], c->d);
    if ((rc = mdl_worker_send (c, &m, to, nto, b)))
        return rc;
    if (nkf == 0)
        return 0;
    if ((rc = mdl_worker_encode (c, c->kcodec, c->pub[channel], &b)))
        return rc;
    m.kind = MDL_KIND_MAKE (MDL_KIND_STATE, channel);
    m.keyframe = true;
    pthread_mutex_lock (&a->stats_lock);
    a->stats.keyframes_sent += nkf;
    pthread_mutex_unlock (&a->stats_lock);
    return mdl_worker_send (c, &m, kf, nkf, b);
}

typedef struct {
    mdl_ctx_t *c;
    int channel;
} s_wait_t;

/* A wait on the mailroom ends early when the agent stops or its membership changed. */
static bool
s_wait_over (mdl_ctx_t *c)
{
    if (atomic_load (&c->a->stop))
        return true;
    pthread_mutex_lock (&c->a->view_lock);
    bool changed = c->a->view_version != c->view_version;
    pthread_mutex_unlock (&c->a->view_lock);
    return changed;
}

/* Sync round complete: every live in-neighbour's round-t vector is in. */
static bool
s_round_ready (void *arg)
{
    s_wait_t *w = arg;
    mdl_ctx_t *c = w->c;
    if (atomic_load (&c->a->stop))
        return true;
    /* Membership changed: stop waiting if a neighbour we still wait for left (the mix
       renormalises over whoever is there, and the next round uses the new graph). Not
       for any change: a peer that comes and goes elsewhere in the view (churn, real or
       hostile) would otherwise end every round early, and this agent would run ahead
       of the neighbours it should wait for. */
    pthread_mutex_lock (&c->a->view_lock);
    const bool changed = c->a->view_version != c->view_version;
    bool gone = false;
    for (size_t k = 0; changed && k < c->nnbr && !gone; k++) {
        mdl_slot_meta_t m;
        const uint64_t id = c->ids[c->nbr[k]];
        if (mdl_mailroom_peek (c->a->room, id, w->channel, &m) && m.step >= c->step)
            continue; /* its state is in */
        bool alive = false;
        for (size_t i = 0; i < c->a->view_n && !alive; i++)
            alive = c->a->view[i] == id;
        gone = !alive;
    }
    pthread_mutex_unlock (&c->a->view_lock);
    if (gone)
        return true;
    /* A neighbour is far ahead: this agent fell behind, and the round it waits for will
       not come; the worker catches up at its next step (worker.c). */
    if (atomic_load (&c->a->ahead) >= c->step + c->a->catchup_gap)
        return true;
    /* A newcomer wants this agent's snapshot (comm_boot.c): it is a neighbour that will
       send nothing until it has it, so the round ends without it and the image is built
       at the next step boundary (waiting would hold both for --sync-timeout). */
    if (atomic_load (&c->a->snap_wanted))
        return true;
    for (size_t k = 0; k < c->nnbr; k++) {
        mdl_slot_meta_t m;
        uint64_t id = c->ids[c->nbr[k]];
        if (!mdl_mailroom_peek (c->a->room, id, w->channel, &m) || m.step < c->step)
            return false;
    }
    return true;
}

/* Asks the in-neighbours whose state of this round on channel has not arrived to send it
   again (they do if it is still their last; see mdl_comm_resend). */
static void
s_ask_missing (mdl_ctx_t *c, int channel)
{
    uint64_t to[MDL_AGENT_MAX_PEERS];
    size_t n = 0;
    for (size_t k = 0; k < c->nnbr; k++) {
        mdl_slot_meta_t m;
        const uint64_t id = c->ids[c->nbr[k]];
        if (!mdl_mailroom_peek (c->a->room, id, channel, &m) || m.step < c->step)
            to[n++] = id;
    }
    if (n)
        mdl_worker_send_to (c, MDL_KIND_MAKE (MDL_KIND_RESEND, channel), c->step, NULL, to, n);
}

double
mdl_worker_resend_slice (double sync_timeout, double wait_hi)
{
    double slice = 2 * wait_hi > 0.5 ? 2 * wait_hi : 0.5;
    return sync_timeout / 8 < slice ? sync_timeout / 8 : slice;
}

/* Sync mode: waits until every live in-neighbour's state of this round on channel is
   in, or --sync-timeout passes. Waited in slices (mdl_worker_resend_slice): a neighbour
   whose state of this round is still missing after a slice is asked to send it again
   (RESEND). PUB/SUB loses, without a trace, what a publisher sends before the
   subscriber's subscription reached it: the first state to a peer that just joined, or
   came back. */
static void
s_sync_wait (mdl_ctx_t *c, int channel)
{
    mdl_agent_t *a = c->a;
    s_wait_t w = { c, channel };
    const double t0 = mdl_now (), until = t0 + a->cfg.sync_timeout;
    const double slice = mdl_worker_resend_slice (a->cfg.sync_timeout, c->wait_hi);
    bool ready;
    for (;;) {
        const double left = until - mdl_now ();
        if ((ready = mdl_mailroom_wait (a->room, s_round_ready, &w, left < slice ? left : slice)) || left <= slice)
            break;
        s_ask_missing (c, channel);
        mdl_agent_beat (&a->beat_worker); /* waiting for peers is not being stuck */
    }
    const double waited = mdl_now () - t0;
    /* How long states take to come here when they come (a slow neighbour, a delayed link,
       1024 agents sharing 2 cores, whose rounds took 0.23-0.43 s of wall time): the next
       slices last twice the longest recent such wait, so that a state still being
       computed is not asked for again (with a fixed 0.5 s slice, 6.6-16 K of 50 K rounds
       of 1024 sim agents sent RESENDs for states that did not exist yet). The longest
       decays by a tenth per wait, so a loss is again asked for after 0.5 s once the waits
       are short. */
    if (ready)
        c->wait_hi = waited > 0.9 * c->wait_hi ? waited : 0.9 * c->wait_hi;
    pthread_mutex_lock (&a->stats_lock);
    a->stats.wait_s += waited;
    mdl_hist_observe (&a->stats.sync_wait, waited);
    pthread_mutex_unlock (&a->stats_lock);
}

/* Room in c->mix for n neighbours. 0 or MDL_ENOMEM. */
static int
s_mix_room (mdl_ctx_t *c, size_t n)
{
    mdl_mixws_t *w = &c->mix;
    if (n <= w->cap)
        return 0;
    /* the 8-byte entries first, then the floats, then the flags: each array aligned */
    const size_t per = 3 * sizeof (const float *) + sizeof (uint64_t) + 5 * sizeof (double) + sizeof (size_t)
                       + sizeof (float) + sizeof (bool);
    char *b = malloc (n * per);
    if (!b)
        return MDL_ENOMEM;
    free (w->block);
    w->block = b;
    w->cap = n;
    w->v = (void *) b, b += n * sizeof *w->v;
    w->vs = (void *) b, b += n * sizeof *w->vs;
    w->rv = (void *) b, b += n * sizeof *w->rv;
    w->stale_by = (void *) b, b += n * sizeof *w->stale_by;
    w->coef = (void *) b, b += n * sizeof *w->coef;
    w->shared = (void *) b, b += n * sizeof *w->shared;
    w->ws = (void *) b, b += n * sizeof *w->ws;
    w->dist = (void *) b, b += n * sizeof *w->dist;
    w->rw = (void *) b, b += n * sizeof *w->rw;
    w->at = (void *) b, b += n * sizeof *w->at;
    w->cs = (void *) b, b += n * sizeof *w->cs;
    w->bad = (void *) b;
    return 0;
}

/* mdl_ctx_mix; with from, x is only written: x <- self_v + gamma sum_j c_j (v_j - self_v)
   (mdl_worker_mix_from). */
static int
s_mix (mdl_ctx_t *c, int channel, double gamma, const float *self_v, float *x, bool from)
{
    mdl_agent_t *a = c->a;
    const bool fused = from; /* mdl_worker_mix_from: fused.c's round, one mix per round */
    if (from && (s_round_begun (c) || a->cfg.robust.kind != MDL_ROBUST_NONE)) {
        /* nothing to mix, or --robust's rules (which read x): x takes the own value first */
        mdl_vec_copy (x, self_v, c->d);
        self_v = x;
        from = false;
    }
    if (s_round_begun (c))
        return 0;
    if (s_mix_room (c, c->nnbr)) {
        if (from)
            mdl_vec_copy (x, self_v, c->d);
        mdl_agent_log (a, "out of memory: round %llu not mixed", (unsigned long long) c->step);
        return MDL_ENOMEM;
    }
    mdl_mixws_t *w = &c->mix;
    const bool sync = a->cfg.mode == MDL_MODE_SYNC;
    if (sync && c->nnbr)
        s_sync_wait (c, channel);
    /* Read every neighbour's vector (held stable until read_end), then weigh them. */
    const float **v = w->v;
    uint64_t *stale_by = w->stale_by;
    double *coef = w->coef, *shared = w->shared;
    for (size_t k = 0; k < c->nnbr; k++) {
        mdl_slot_meta_t m = { .aux = 0 };
        v[k] = mdl_mailroom_read_begin (a->room, c->ids[c->nbr[k]], channel, sync ? c->step : UINT64_MAX, &m);
        stale_by[k] = !v[k] ? MDL_MIX_MISSING : c->step > m.step ? c->step - m.step : 0;
        if (v[k] && a->cfg.ad_target > 0 && m.step / mdl_worker_ad_len (c) == c->ad_period && m.aux > c->ad_vote)
            c->ad_vote = m.aux; /* max-consensus of this period's vote */
        shared[k] = m.aux;
    }
    mdl_mix_result_t r;
    mdl_mix_coefs (c->w_self, c->w, stale_by, c->nnbr, a->cfg.staleness_decay, (uint64_t) a->cfg.max_staleness,
                   coef, &r);
    /* x += gamma * sum_j c_j (v_j - self_v): one fused pass over x, written so that
       self_v may alias x (the mixing is memory-bound: passes are what it costs). The
       same pass checks the neighbours' vectors for NaN/Inf (a fp32 state is filed
       unread, by reference: this is its check) and measures the disagreement estimate
       sum_j w_ij ||x_i - v_j||^2 (Kong et al.'s proxy) from x before mixing. */
    double csum = 0.0;
    const float **vs = w->vs;
    float *cs = w->cs;
    double *ws = w->ws;
    size_t nv = 0, *at = w->at;
    for (size_t k = 0; k < c->nnbr; k++)
        if (coef[k] > 0) {
            csum += gamma * coef[k];
            at[nv] = k;
            vs[nv] = v[k];
            ws[nv] = gamma * coef[k];
            cs[nv++] = (float) (gamma * coef[k]);
        }
    bool *bad = w->bad;
    double *dist = w->dist;
    size_t nbad = 0;
    /* The distances cost a few operations per element: every mix when consensus control
       or the adaptive degree decide on them, else every 16th (the metrics read it a few
       times per epoch). */
    const bool measure = c->nmix++ % 16 == 0 || a->cfg.cc_target > 0 || a->cfg.ad_target > 0;
    if (nv && a->cfg.robust.kind != MDL_ROBUST_NONE) {
        /* --robust: its rules read the states more than once and need finite inputs, so
           a state holding NaN/Inf is left out whole (one pass to check each). */
        const float **rv = w->rv;
        double *rw = w->rw;
        size_t m = 0;
        for (size_t j = 0; j < nv; j++) {
            bad[j] = !mdl_vec_isfinite (vs[j], c->d);
            nbad += bad[j];
            if (bad[j])
                continue;
            if (measure) {
                const double e = mdl_robust_dist (vs[j], x, c->d);
                dist[j] = e * e;
            }
            rv[m] = vs[j];
            rw[m++] = ws[j];
        }
        if (m)
            mdl_worker_robust_mix (c, channel, gamma, self_v, x, rv, rw, m);
    }
    else if (nv && from) /* the same floats as the in-place mix of x = self_v below */
        nbad = mdl_vec_mix_from_checked (x, self_v, (float) (1.0 - csum), vs, cs, nv, c->d, bad, measure ? dist : NULL);
    else if (nv)
        nbad = mdl_vec_mix_checked (x, (float) (self_v == x ? 1.0 - csum : 1.0), self_v == x ? NULL : self_v,
                                    (float) -csum, vs, cs, nv, c->d, bad, measure ? dist : NULL);
    else if (from)
        mdl_vec_copy (x, self_v, c->d); /* no neighbour state to mix: x is the own value */
    double dis = nv && measure ? 0.0 : -1.0;
    for (size_t j = 0; j < nv && measure; j++)
        if (!bad[j])
            dis += c->w[at[j]] * dist[j];
    if (a->cfg.cc_target > 0 && nv) {
        /* Kong et al.'s estimate shared as a scalar: own and neighbours' values */
        double sum = dis;
        size_t cnt = 1;
        for (size_t j = 0; j < nv; j++)
            if (!bad[j] && isfinite (shared[at[j]]) && shared[at[j]] >= 0)
                sum += shared[at[j]], cnt++;
        c->cc_shared = sum / (double) cnt;
    }
    if (nbad) {
        mdl_agent_log (a, "%zu neighbour state(s) held NaN or Inf at round %llu: those parts were not mixed", nbad,
                       (unsigned long long) c->step);
        pthread_mutex_lock (&a->stats_lock);
        a->stats.rejected[MDL_REJECT_NONFINITE] += nbad; /* a refusal like the comm actor's */
        a->stats.updates_rejected += nbad;
        a->stats.updates_dropped += nbad;
        pthread_mutex_unlock (&a->stats_lock);
    }
    /* The fused round mixes each round once: in sync mode the neighbours' states
       of this round are not read again, and letting go of them now sends their buffers
       back to their pools two rounds earlier (fewer buffers in rotation, fewer bytes
       that fall out of the cache between their uses). */
    for (size_t k = 0; k < c->nnbr; k++)
        if (v[k] && fused && sync)
            mdl_mailroom_read_done (a->room, c->ids[c->nbr[k]], channel);
        else if (v[k])
            mdl_mailroom_read_end (a->room, c->ids[c->nbr[k]], channel);
    const size_t used = r.used - nbad;
    const uint64_t stale = r.stale, dropped = r.dropped + nbad;
    pthread_mutex_lock (&a->stats_lock);
    a->stats.updates_applied += used;
    a->stats.updates_stale += stale;
    a->stats.updates_dropped += dropped;
    for (size_t k = 0; k < c->nnbr; k++)
        if (coef[k] > 0)
            mdl_hist_observe (&a->stats.update_age, (double) stale_by[k]);
    if (used && dis >= 0)
        a->stats.disagreement = dis;
    a->stats.gossip_rounds++;
    pthread_mutex_unlock (&a->stats_lock);
    return (int) used;
}

int
mdl_ctx_mix (mdl_ctx_t *c, int channel, double gamma, const float *self_v, float *x)
{
    return s_mix (c, channel, gamma, self_v, x, false);
}

int
mdl_worker_mix_from (mdl_ctx_t *c, int channel, double gamma, const float *self_v, float *x)
{
    return s_mix (c, channel, gamma, self_v, x, true);
}

/* ---- outputs and explicit exchanges ---- */

size_t mdl_ctx_outputs_len (mdl_ctx_t *c) { return c->a->out_n; }

/* The sources or recipients of a round: its in- (in) or out-neighbours, or with all every
   live peer; into ids, returns how many. */
static size_t
s_peers_of_round (mdl_ctx_t *c, bool all, bool in, uint64_t *ids)
{
    size_t n = 0;
    if (all) {
        for (size_t i = 0; i < c->n; i++)
            if (c->ids[i] != c->a->cfg.id)
                ids[n++] = c->ids[i];
    } else if (in)
        for (size_t k = 0; k < c->nnbr; k++)
            ids[n++] = c->ids[c->nbr[k]];
    else
        for (size_t k = 0; k < c->nout; k++)
            ids[n++] = c->ids[c->out[k]];
    return n;
}

int
mdl_ctx_publish_outputs (mdl_ctx_t *c, int channel, const float *v, bool all)
{
    if (!c->ocodec || channel < 0 || channel >= MDL_AGENT_CHANNELS)
        return MDL_EINVAL;
    int rc = mdl_worker_round (c);
    if (rc)
        return rc;
    uint64_t to[MDL_AGENT_MAX_PEERS];
    const size_t nto = s_peers_of_round (c, all, false, to);
    mdl_blob_t *b = NULL;
    if ((rc = mdl_worker_encode (c, c->ocodec, v, &b)))
        return rc;
    mdl_outmsg_t m = { .kind = MDL_KIND_MAKE (MDL_KIND_OUTPUTS, channel), .step = c->step, .loss = c->last_loss };
    return mdl_worker_send (c, &m, to, nto, b);
}

typedef struct {
    mdl_ctx_t *c;
    int channel;
    const uint64_t *ids;
    size_t n;
} s_wait_ids_t;

/* Sync: every one of ids has something (a vector or a marker) for this round. */
static bool
s_ids_ready (void *arg)
{
    s_wait_ids_t *w = arg;
    mdl_ctx_t *c = w->c;
    if (s_wait_over (c))
        return true;
    for (size_t k = 0; k < w->n; k++) {
        mdl_slot_meta_t m;
        if (!mdl_mailroom_peek (c->a->room, w->ids[k], w->channel, &m) || m.step < c->step)
            return false;
    }
    return true;
}

int
mdl_ctx_gather_outputs (mdl_ctx_t *c, int channel, bool all, float *sum, uint64_t *round)
{
    mdl_agent_t *a = c->a;
    const size_t len = a->out_n;
    mdl_vec_zero (sum, len);
    *round = c->step;
    if (!len || mdl_worker_round (c))
        return 0;
    uint64_t ids[MDL_AGENT_MAX_PEERS];
    size_t n = s_peers_of_round (c, all, true, ids);
    const bool sync = a->cfg.mode == MDL_MODE_SYNC;
    if (sync && n) {
        s_wait_ids_t w = { c, channel, ids, n };
        double t0 = mdl_now ();
        mdl_mailroom_wait (a->room, s_ids_ready, &w, a->cfg.sync_timeout);
        pthread_mutex_lock (&a->stats_lock);
        a->stats.wait_s += mdl_now () - t0;
        pthread_mutex_unlock (&a->stats_lock);
        mdl_worker_round (c); /* who left meanwhile drops out */
        n = s_peers_of_round (c, all, true, ids);
    }
    /* The round to add up: this one (sync), or the one most neighbours' newest share. */
    uint64_t want = c->step;
    if (!sync) {
        uint64_t steps[MDL_AGENT_MAX_PEERS];
        size_t ns = 0, best = 0;
        for (size_t k = 0; k < n; k++) {
            mdl_slot_meta_t m;
            if (mdl_mailroom_peek (a->room, ids[k], channel, &m) && !m.lost
                && (m.step >= c->step || c->step - m.step <= (uint64_t) a->cfg.max_staleness))
                steps[ns++] = m.step;
        }
        want = UINT64_MAX;
        for (size_t i = 0; i < ns; i++) {
            size_t cnt = 0;
            for (size_t j = 0; j < ns; j++)
                cnt += steps[j] == steps[i];
            if (cnt > best || (cnt == best && steps[i] > want)) {
                best = cnt;
                want = steps[i];
            }
        }
        if (!ns) {
            pthread_mutex_lock (&a->stats_lock);
            a->stats.updates_dropped += n;
            pthread_mutex_unlock (&a->stats_lock);
            return 0;
        }
    }
    size_t used = 0;
    for (size_t k = 0; k < n; k++) {
        mdl_slot_meta_t m;
        const float *v = mdl_mailroom_read_begin (a->room, ids[k], channel, want, &m);
        if (!v)
            continue;
        mdl_vec_axpy (sum, 1.0f, v, len);
        mdl_mailroom_read_end (a->room, ids[k], channel);
        used++;
    }
    *round = want;
    pthread_mutex_lock (&a->stats_lock);
    a->stats.updates_applied += used;
    a->stats.updates_dropped += n - used;
    a->stats.gossip_rounds++;
    pthread_mutex_unlock (&a->stats_lock);
    return (int) used;
}

int
mdl_ctx_send (mdl_ctx_t *c, int channel, uint64_t step, const float *v, const uint64_t *to, size_t nto)
{
    if (channel < 0 || channel >= MDL_AGENT_CHANNELS)
        return MDL_EINVAL;
    const uint32_t type = v ? MDL_KIND_STATE : MDL_KIND_SKIP;
    return mdl_worker_send_aux (c, MDL_KIND_MAKE (type, channel), step, v, 0.0, to, nto);
}

const float *
mdl_ctx_read_begin (mdl_ctx_t *c, uint64_t peer, int channel, uint64_t step, mdl_slot_meta_t *meta)
{
    mdl_slot_meta_t m = { 0 };
    const float *v = mdl_mailroom_read_begin (c->a->room, peer, channel, step, &m);
    if (meta)
        *meta = m;
    return v;
}

void mdl_ctx_read_end (mdl_ctx_t *c, uint64_t peer, int channel) { mdl_mailroom_read_end (c->a->room, peer, channel); }

bool
mdl_ctx_peek (mdl_ctx_t *c, uint64_t peer, int channel, mdl_slot_meta_t *meta)
{
    return mdl_mailroom_peek (c->a->room, peer, channel, meta);
}

typedef struct {
    mdl_ctx_t *c;
    bool (*ready) (void *);
    void *arg;
} s_wait_fn_t;

static bool
s_fn_ready (void *arg)
{
    s_wait_fn_t *w = arg;
    return s_wait_over (w->c) || w->ready (w->arg);
}

bool
mdl_ctx_wait (mdl_ctx_t *c, bool (*ready) (void *arg), void *arg, double timeout)
{
    s_wait_fn_t w = { c, ready, arg };
    const double until = mdl_now () + timeout;
    for (;;) {
        double left = until - mdl_now ();
        bool ok = left > 0 && mdl_mailroom_wait (c->a->room, s_fn_ready, &w, left);
        if (atomic_load (&c->a->stop) || left <= 0)
            return ready (arg);
        if (ok && ready (arg))
            return true;
        /* woken by a membership change: refresh the snapshot so the caller's predicate
           sees the new view, and go on waiting */
        mdl_worker_round (c);
        if (ready (arg))
            return true;
    }
}
