/*  worker.c: the compute worker: minibatch, forward, backward, optimizer step, then the
    algorithm's publish and consensus step with whatever the mailboxes hold. It never
    touches a network socket: what it publishes goes to the comm actor over an inproc
    PUSH socket (a pointer to a pooled, reference-counted payload; no copy). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_impl.h"
#include "codec.h"
#include "err.h"
#include "mixing.h"
#include "clock.h"
#include "vec.h"
#include "weights.h"

#define MDL_MAX_CHANNELS 4

struct mdl_ctx_t {
    mdl_agent_t *a;
    zsock_t *push;
    mdl_codec_t *codec;        /* --codec */
    mdl_codec_t *kcodec;       /* keyframes: fp32 */
    mdl_rng_t rng;             /* codecs' randomness */
    float *x;
    size_t d;
    uint64_t step;
    /* membership snapshot */
    uint64_t ids[MDL_AGENT_MAX_PEERS + 1];
    size_t n;
    uint32_t me;
    uint64_t view_version;
    /* round cache */
    uint64_t round_t;
    bool round_valid;
    uint32_t nbr[MDL_AGENT_MAX_PEERS];
    double w[MDL_AGENT_MAX_PEERS];
    size_t nnbr;
    double w_self;
    uint32_t out[MDL_AGENT_MAX_PEERS];
    size_t nout;
    /* replicas: own public copies, and the recipients that hold them */
    float *pub[MDL_MAX_CHANNELS];
    uint64_t sends[MDL_MAX_CHANNELS];
    uint64_t known[MDL_AGENT_MAX_PEERS];
    size_t nknown;
    float *scratch[4];
    char err[256];
    const mdl_algo_ops_t *algo;
    void *state;
    /* --adaptive-degree: the graph of the current period and the vote being spread */
    bool ad_dense;
    uint64_t ad_period;        /* index of the period the vote belongs to */
    double ad_vote;            /* 1: someone's disagreement was above the target */
    /* --consensus-control: the disagreement estimate shared with the neighbours (aux of
       the states): the mean of this agent's own and its neighbours' shared values */
    double cc_shared;
    double loss_ema;
    float last_loss;
    int32_t *label_map;        /* --drift-at: the rotated labels */
    uint64_t nmix;             /* mdl_ctx_mix calls (paces the disagreement estimate) */
    mdl_rng_t prng;            /* pairwise algorithms: the partner of each exchange */
    uint64_t pair_seq;         /* ... the number of this agent's last request */
};

static int s_send_to (mdl_ctx_t *c, uint32_t kind, uint64_t step, const float *v, const uint64_t *to, size_t nto);

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
    if (cfg->scale_kind == 1)
        alpha = cfg->scale_value;
    else if (cfg->scale_kind == 2) {
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

float mdl_ctx_lr (mdl_ctx_t *c) { return mdl_learner_lr (c->a->learner); }

void
mdl_ctx_step_done (mdl_ctx_t *c)
{
    mdl_learner_set_steps (c->a->learner, mdl_learner_steps (c->a->learner) + 1);
}

const float *
mdl_ctx_public (mdl_ctx_t *c, int channel)
{
    return c->a->replicas && channel >= 0 && channel < MDL_MAX_CHANNELS ? c->pub[channel] : NULL;
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
static uint64_t
s_ad_len (const mdl_ctx_t *c)
{
    return c->n > 8 ? c->n : 8;
}

static void
s_ad_period (mdl_ctx_t *c)
{
    const uint64_t p = c->step / s_ad_len (c);
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

/* Refreshes the membership snapshot and this round's neighbours and weights. */
static int
s_round (mdl_ctx_t *c)
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
    c->round_t = c->step;
    c->round_valid = true;
    return 0;
}

/* Hands one encoded payload to the comm actor for the given recipients. Takes the blob
   reference. */
static int
s_send (mdl_ctx_t *c, const mdl_outmsg_t *m, const uint64_t *to, size_t nto, mdl_blob_t *blob)
{
    if (nto == 0) {
        mdl_blob_unref (blob);
        return 0;
    }
    return zsock_send (c->push, "bbp", m, sizeof *m, to, nto * sizeof *to, blob) == 0 ? 0 : MDL_ESOCKET;
}

static int
s_encode (mdl_ctx_t *c, mdl_codec_t *codec, const float *v, mdl_blob_t **out)
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

static bool
s_alive (const mdl_ctx_t *c, uint64_t id)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->ids[i] == id)
            return true;
    return false;
}

int
mdl_ctx_publish (mdl_ctx_t *c, int channel, const float *v)
{
    if (channel < 0 || channel >= MDL_MAX_CHANNELS)
        return MDL_EINVAL;
    int rc = s_round (c);
    if (rc)
        return rc;
    mdl_agent_t *a = c->a;
    mdl_outmsg_t m = { .kind = (uint32_t) channel << 4, .step = c->step, .loss = c->last_loss,
                       .aux = a->cfg.cc_target > 0 ? c->cc_shared : c->ad_vote };
    uint64_t to[MDL_AGENT_MAX_PEERS];
    size_t nto = 0;
    mdl_blob_t *b = NULL;
    if (!a->replicas) {
        m.kind |= MDL_KIND_STATE;
        for (size_t k = 0; k < c->nout; k++)
            to[nto++] = c->ids[c->out[k]];
        if ((rc = s_encode (c, c->codec, v, &b)))
            return rc;
        return s_send (c, &m, to, nto, b);
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
            if (s_alive (c, c->known[k]))
                to[nto++] = c->known[keep++] = c->known[k];
        c->nknown = keep;
        uint64_t dropped_asks[64];
        mdl_agent_take_resync (a, dropped_asks); /* everyone gets this keyframe */
        if ((rc = s_encode (c, c->kcodec, c->pub[channel], &b)))
            return rc;
        m.kind |= MDL_KIND_STATE;
        m.keyframe = true;
        if (a->cfg.verify_replicas)
            m.aux = mdl_vec_digest (c->pub[channel], c->d);
        pthread_mutex_lock (&a->stats_lock);
        a->stats.keyframes_sent += nto;
        pthread_mutex_unlock (&a->stats_lock);
        return s_send (c, &m, to, nto, b);
    }
    /* Replica stream: q = C(v - pub); pub += decode(q), exactly as receivers do. */
    float *diff = c->scratch[3];
    mdl_vec_sub (diff, v, c->pub[channel], c->d);
    if ((rc = s_encode (c, c->codec, diff, &b)))
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
    uint64_t asked[64];
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
        if (!s_alive (c, id))
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
    if ((rc = s_send (c, &m, to, nto, b)))
        return rc;
    if (nkf == 0)
        return 0;
    if ((rc = s_encode (c, c->kcodec, c->pub[channel], &b)))
        return rc;
    m.kind = ((uint32_t) channel << 4) | MDL_KIND_STATE;
    m.keyframe = true;
    pthread_mutex_lock (&a->stats_lock);
    a->stats.keyframes_sent += nkf;
    pthread_mutex_unlock (&a->stats_lock);
    return s_send (c, &m, kf, nkf, b);
}

typedef struct {
    mdl_ctx_t *c;
    int channel;
} s_wait_t;

/* Sync round complete: every live in-neighbour's round-t vector is in. */
static bool
s_round_ready (void *arg)
{
    s_wait_t *w = arg;
    mdl_ctx_t *c = w->c;
    if (atomic_load (&c->a->stop))
        return true;
    /* Membership changed (a neighbour left or joined): stop waiting; the mix renormalises
       over whoever is there, and the next round uses the new graph. */
    pthread_mutex_lock (&c->a->view_lock);
    bool changed = c->a->view_version != c->view_version;
    pthread_mutex_unlock (&c->a->view_lock);
    if (changed)
        return true;
    for (size_t k = 0; k < c->nnbr; k++) {
        mdl_slot_meta_t m;
        uint64_t id = c->ids[c->nbr[k]];
        if (!mdl_mailroom_peek (c->a->room, id, w->channel, &m) || m.step < c->step)
            return false;
    }
    return true;
}

int
mdl_ctx_mix (mdl_ctx_t *c, int channel, double gamma, const float *self_v, float *x)
{
    mdl_agent_t *a = c->a;
    if (s_round (c))
        return 0;
    const bool sync = a->cfg.mode == MDL_MODE_SYNC;
    if (sync && c->nnbr) {
        s_wait_t w = { c, channel };
        double t0 = mdl_now ();
        mdl_mailroom_wait (a->room, s_round_ready, &w, a->cfg.sync_timeout);
        pthread_mutex_lock (&a->stats_lock);
        a->stats.wait_s += mdl_now () - t0;
        pthread_mutex_unlock (&a->stats_lock);
    }
    /* Read every neighbour's vector (held stable until read_end), then weigh them. */
    const float *v[MDL_AGENT_MAX_PEERS];
    uint64_t stale_by[MDL_AGENT_MAX_PEERS];
    double coef[MDL_AGENT_MAX_PEERS], shared[MDL_AGENT_MAX_PEERS];
    for (size_t k = 0; k < c->nnbr; k++) {
        mdl_slot_meta_t m = { .aux = 0 };
        v[k] = mdl_mailroom_read_begin (a->room, c->ids[c->nbr[k]], channel, sync ? c->step : UINT64_MAX, &m);
        stale_by[k] = !v[k] ? MDL_MIX_MISSING : c->step > m.step ? c->step - m.step : 0;
        if (v[k] && a->cfg.ad_target > 0 && m.step / s_ad_len (c) == c->ad_period && m.aux > c->ad_vote)
            c->ad_vote = m.aux; /* max-consensus of this period's vote */
        shared[k] = m.aux;
    }
    mdl_mix_result_t r;
    mdl_mix_coefs (c->w_self, c->w, stale_by, c->nnbr, a->cfg.staleness_decay, (uint64_t) a->cfg.max_staleness,
                   coef, &r);
    /* Disagreement estimate sum_j w_ij ||x_i - v_j||^2 (Kong et al.'s proxy), before
       mixing. It costs a pass over x per neighbour, so it is refreshed every 16 mixes
       (the metrics read it a few times per epoch). */
    double dis = -1.0;
    if (c->nmix++ % 16 == 0 || a->cfg.cc_target > 0 || a->cfg.ad_target > 0) {
        dis = 0.0;
        for (size_t k = 0; k < c->nnbr; k++)
            if (coef[k] > 0)
                dis += c->w[k] * mdl_vec_dist2 (x, v[k], c->d);
        if (a->cfg.cc_target > 0) {
            /* Kong et al.'s estimate shared as a scalar: own and neighbours' values */
            double sum = dis;
            size_t cnt = 1;
            for (size_t k = 0; k < c->nnbr; k++)
                if (coef[k] > 0 && isfinite (shared[k]) && shared[k] >= 0)
                    sum += shared[k], cnt++;
            c->cc_shared = sum / (double) cnt;
        }
    }
    /* x += gamma * sum_j c_j (v_j - self_v): one fused pass over x, written so that
       self_v may alias x (the mixing is memory-bound: passes are what it costs). */
    double csum = 0.0;
    const float *vs[MDL_AGENT_MAX_PEERS];
    float cs[MDL_AGENT_MAX_PEERS];
    size_t nv = 0;
    for (size_t k = 0; k < c->nnbr; k++)
        if (coef[k] > 0) {
            csum += gamma * coef[k];
            vs[nv] = v[k];
            cs[nv++] = (float) (gamma * coef[k]);
        }
    if (nv)
        mdl_vec_mix (x, (float) (self_v == x ? 1.0 - csum : 1.0), self_v == x ? NULL : self_v, (float) -csum,
                     vs, cs, nv, c->d);
    for (size_t k = 0; k < c->nnbr; k++)
        if (v[k])
            mdl_mailroom_read_end (a->room, c->ids[c->nbr[k]], channel);
    const size_t used = r.used;
    const uint64_t stale = r.stale, dropped = r.dropped;
    pthread_mutex_lock (&a->stats_lock);
    a->stats.updates_applied += used;
    a->stats.updates_stale += stale;
    a->stats.updates_dropped += dropped;
    if (used && dis >= 0)
        a->stats.disagreement = dis;
    a->stats.gossip_rounds++;
    pthread_mutex_unlock (&a->stats_lock);
    return (int) used;
}

/* ---- AD-PSGD's pairwise averages (Lian et al., ICML 2018) ---- */

/* x <- (x + v) / 2. Both sides of a pair compute it from the same two vectors, and
   float addition commutes, so they end bit for bit equal and the pair's sum (the
   network's mean) is kept up to one rounding. */
static void
s_pair_mean (float *x, const float *v, size_t d)
{
    for (size_t k = 0; k < d; k++)
        x[k] = 0.5f * (x[k] + v[k]);
}

static void
s_pair_count (mdl_agent_t *a, uint64_t averaged, uint64_t refused)
{
    pthread_mutex_lock (&a->stats_lock);
    a->stats.pair_averages += averaged;
    a->stats.pair_refused += refused;
    pthread_mutex_unlock (&a->stats_lock);
}

/* Handles the queued pair messages. Requests are accepted (reply with x, then average)
   when the agent is free (partner 0), refused when its own request to partner is out,
   except partner's own crossing request when this agent's id is the lower one: accepting
   it completes the pair (partner, whose id is higher, refuses ours). An accept or a
   refusal of the request numbered seq from partner settles it: *settled = 1 averaged,
   2 refused. Anything else is the answer to an abandoned request, and dropped. */
static void
s_pair_handle (mdl_ctx_t *c, uint64_t partner, uint64_t seq, int *settled)
{
    mdl_agent_t *a = c->a;
    mdl_pair_msg_t m;
    while (mdl_pairbox_front (a->pairs, &m)) {
        const bool mine = partner && !*settled && m.peer == partner;
        if (m.kind == MDL_PAIR_REQ) {
            if (!partner || *settled || (mine && a->cfg.id < partner)) {
                s_send_to (c, MDL_KIND_PAIR_ACK, m.seq, c->x, &m.peer, 1);
                s_pair_mean (c->x, m.v, c->d);
                s_pair_count (a, 1, 0);
                if (mine)
                    *settled = 1;
            } else
                s_send_to (c, MDL_KIND_PAIR_NAK, m.seq, NULL, &m.peer, 1);
        } else if (mine && m.seq == seq) {
            if (m.kind == MDL_PAIR_ACK) {
                s_pair_mean (c->x, m.v, c->d);
                s_pair_count (a, 1, 0);
                *settled = 1;
            } else
                *settled = 2;
        } else if (m.kind == MDL_PAIR_ACK) {
            /* An accept after we gave up: the partner averaged, we did not. */
            mdl_agent_log (a, "late pair accept from %016llx dropped", (unsigned long long) m.peer);
            pthread_mutex_lock (&a->stats_lock);
            a->stats.updates_dropped++;
            pthread_mutex_unlock (&a->stats_lock);
        }
        mdl_pairbox_pop (a->pairs);
    }
}

int
mdl_ctx_pair_average (mdl_ctx_t *c)
{
    mdl_agent_t *a = c->a;
    int settled = 0;
    if (!a->pairs)
        return 0;
    s_pair_handle (c, 0, 0, &settled); /* serve first: our x is free until we ask */
    if (s_round (c) || c->nnbr == 0)
        return 0;
    const uint64_t partner = c->ids[c->nbr[mdl_rng_below (&c->prng, c->nnbr)]];
    const uint64_t seq = ++c->pair_seq;
    /* x is promised from here until the pair settles: it only changes by the average. */
    if (s_send_to (c, MDL_KIND_PAIR_REQ, seq, c->x, &partner, 1))
        return 0;
    const double t0 = mdl_now (), until = t0 + a->cfg.sync_timeout;
    while (!settled && !atomic_load (&a->stop)) {
        s_pair_handle (c, partner, seq, &settled);
        if (settled)
            break;
        s_round (c);
        const double now = mdl_now ();
        if (now >= until || !s_alive (c, partner))
            break;
        mdl_pairbox_wait (a->pairs, until - now < 0.05 ? until - now : 0.05);
    }
    pthread_mutex_lock (&a->stats_lock);
    a->stats.wait_s += mdl_now () - t0;
    a->stats.pair_refused += settled != 1;
    pthread_mutex_unlock (&a->stats_lock);
    return settled == 1;
}

/* The worker stops averaging: later requests are refused by the comm actor, queued ones
   here. */
static void
s_pair_close (mdl_ctx_t *c)
{
    if (!c->a->pairs)
        return;
    mdl_pairbox_close (c->a->pairs);
    mdl_pair_msg_t m;
    while (mdl_pairbox_front (c->a->pairs, &m)) {
        if (m.kind == MDL_PAIR_REQ)
            s_send_to (c, MDL_KIND_PAIR_NAK, m.seq, NULL, &m.peer, 1);
        mdl_pairbox_pop (c->a->pairs);
    }
}

/* ---- the worker thread ---- */

static void
s_sleep (double seconds)
{
    if (seconds <= 0)
        return;
    struct timespec ts = { (time_t) seconds, (long) ((seconds - (double) (time_t) seconds) * 1e9) };
    nanosleep (&ts, NULL);
}

static void
s_snapshot_point (mdl_ctx_t *c)
{
    mdl_agent_t *a = c->a;
    pthread_mutex_lock (&a->snap_lock);
    if (a->snap_req != a->snap_done) {
        mdl_vec_copy (a->snap, c->x, c->d);
        a->snap_step = mdl_learner_steps (a->learner);
        a->snap_done = a->snap_req;
        pthread_cond_broadcast (&a->snap_cond);
    }
    pthread_mutex_unlock (&a->snap_lock);
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

/* ---- exact global averages: the final merge, --global-every, dynavg's synchronisations ---- */

/* Sends v (fp32, exact) with aux or, with v NULL, a control message of kind for round
   step to the given peers. */
static int
s_send_aux (mdl_ctx_t *c, uint32_t kind, uint64_t step, const float *v, double aux, const uint64_t *to, size_t nto)
{
    mdl_outmsg_t m = { .kind = kind, .step = step, .keyframe = true, .aux = aux };
    mdl_blob_t *b = NULL;
    int rc;
    if (v) {
        if ((rc = s_encode (c, c->kcodec, v, &b)))
            return rc;
    } else {
        if (!(b = mdl_blob_take (c->a->pool)))
            return MDL_ENOMEM;
        mdl_blob_set_len (b, 0);
    }
    return s_send (c, &m, to, nto, b);
}

static int
s_send_to (mdl_ctx_t *c, uint32_t kind, uint64_t step, const float *v, const uint64_t *to, size_t nto)
{
    return s_send_aux (c, kind, step, v, 0.0, to, nto);
}

/* The live peers of the current view (refreshed), self excluded, into out. */
static size_t
s_live_peers (mdl_ctx_t *c, uint64_t *out)
{
    s_round (c);
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->ids[i] != c->a->cfg.id)
            out[n++] = c->ids[i];
    return n;
}

/* x <- the mean of the round-R states of self (xf) and every live peer, summed in
   ascending id order so that every agent computes the same floats. False (x unchanged)
   when a state is missing. Counts in *bad the states whose aux differs from ours. */
static bool
s_average_states (mdl_ctx_t *c, uint64_t R, const float *xf, double aux, size_t *n_out, size_t *bad)
{
    mdl_agent_t *a = c->a;
    const float *v[MDL_AGENT_MAX_PEERS + 1];
    size_t n = 0;
    bool ok = true;
    *bad = 0;
    for (size_t i = 0; i < c->n; i++) {
        uint64_t id = c->ids[i];
        mdl_slot_meta_t m = { .aux = aux };
        v[i] = id == a->cfg.id ? xf : mdl_mailroom_read_begin (a->room, id, a->merge_ch, R, &m);
        ok &= v[i] != NULL;
        *bad += v[i] && m.aux != aux;
    }
    if (ok) {
        mdl_vec_zero (c->x, c->d);
        for (size_t i = 0; i < c->n; i++, n++)
            mdl_vec_axpy (c->x, 1.0f, v[i], c->d);
        mdl_vec_scale (c->x, 1.0f / (float) n, c->d);
    }
    for (size_t i = 0; i < c->n; i++)
        if (v[i] && c->ids[i] != a->cfg.id)
            mdl_mailroom_read_end (a->room, c->ids[i], a->merge_ch);
    *n_out = n;
    return ok;
}

/* One exact average over every live peer in round R (>= MDL_MERGE_ROUND): Zhu et al.'s
   single global merge at the end, and Gossip-PGA's periodic average (--global-every).
   Reliable over lossy PUB/SUB: every agent sends its state (fp32) to all live peers on
   the merge channel; a state that does not arrive is asked for again (RESYNC) until it
   does; an agent that has everyone's state averages them at once, says so (MERGED, the
   marker R + 1), and keeps answering requests with its pre-merge state until every peer
   said the same (or moved on to a later round), or --merge-timeout passes. Peers that
   die meanwhile drop out of the average. On success x holds the average and *merged_with
   the number of peers in it; on failure x is unchanged. c->step is restored. */
static bool
s_global_average (mdl_ctx_t *c, uint64_t R, double aux, uint64_t *merged_with, size_t *mismatched)
{
    mdl_agent_t *a = c->a;
    const uint32_t ch = (uint32_t) a->merge_ch << 4;
    float *xf = c->scratch[2];
    mdl_vec_copy (xf, c->x, c->d);
    const uint64_t step = c->step;
    c->step = R;
    atomic_store (&a->round, R);
    zstr_send (c->push, "A"); /* sync: merge states parked until we got here may be filed */
    uint64_t all[MDL_AGENT_MAX_PEERS];
    size_t nall = s_live_peers (c, all);
    s_send_aux (c, ch | MDL_KIND_STATE, R, xf, aux, all, nall);
    const double t0 = mdl_now (), until = t0 + a->cfg.merge_timeout;
    double next_ask = t0 + 0.25;
    bool have_all = false;
    while (mdl_now () < until && !atomic_load (&a->stop)) {
        s_round (c); /* membership may change: dead peers drop out */
        uint64_t missing[MDL_AGENT_MAX_PEERS];
        size_t nmiss = 0, ndone = 0, npeers = 0;
        for (size_t i = 0; i < c->n; i++) {
            uint64_t id = c->ids[i];
            if (id == a->cfg.id)
                continue;
            npeers++;
            mdl_slot_meta_t m;
            const float *v = mdl_mailroom_read_begin (a->room, id, a->merge_ch, R, &m);
            if (v)
                mdl_mailroom_read_end (a->room, id, a->merge_ch);
            else
                missing[nmiss++] = id;
            /* done: its marker R + 1, or a later round (it finished R and moved on) */
            if (mdl_mailroom_peek (a->room, id, a->merge_ch, &m) && m.step > R)
                ndone++;
        }
        /* Answer the peers that asked for our state. */
        uint64_t asked[64];
        size_t nasked = mdl_agent_take_resync (a, asked);
        if (nasked)
            s_send_aux (c, ch | MDL_KIND_STATE, R, xf, aux, asked, nasked);
        if (!have_all && nmiss == 0) {
            size_t n = 0;
            size_t bad = 0;
            if ((have_all = s_average_states (c, R, xf, aux, &n, &bad))) {
                if (mismatched)
                    *mismatched = bad;
                *merged_with = n - 1;
                s_send_to (c, ch | MDL_KIND_MERGED, R, NULL, all, nall);
            }
        }
        if (have_all && ndone == npeers)
            break;
        if (mdl_now () >= next_ask) {
            if (!have_all && nmiss)
                s_send_to (c, ch | MDL_KIND_RESYNC, R, NULL, missing, nmiss);
            if (have_all) /* our MERGED may have been lost too */
                s_send_to (c, ch | MDL_KIND_MERGED, R, NULL, all, nall);
            next_ask = mdl_now () + 0.25;
        }
        struct timespec ts = { 0, 2 * 1000000 };
        nanosleep (&ts, NULL);
    }
    c->step = step;
    return have_all;
}

int
mdl_ctx_global_average (mdl_ctx_t *c, uint64_t R, double aux, size_t *peers, size_t *mismatched)
{
    uint64_t with = 0;
    size_t bad = 0;
    if (c->a->merge_ch < 0)
        return MDL_EINVAL; /* the algorithm did not declare global_averages */
    if (!s_global_average (c, R, aux, &with, &bad))
        return MDL_ETIMEOUT;
    *peers = (size_t) with;
    if (mismatched)
        *mismatched = bad;
    pthread_mutex_lock (&c->a->stats_lock);
    c->a->stats.global_averages++;
    pthread_mutex_unlock (&c->a->stats_lock);
    return 0;
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
    uint64_t all[MDL_AGENT_MAX_PEERS];
    size_t nall = s_live_peers (c, all);
    s_send_to (c, MDL_KIND_FIN, c->step, NULL, all, nall);
    return mdl_agent_all_fin (c->a);
}

/* --global-every P: the exact average after every P-th step (not after the last one
   when the final merge follows). */
static void
s_periodic_average (mdl_ctx_t *c, uint64_t done, uint64_t total)
{
    mdl_agent_t *a = c->a;
    const uint64_t P = (uint64_t) a->cfg.global_every;
    if (P == 0 || done % P || (done == total && a->cfg.final_merge) || atomic_load (&a->stop))
        return;
    uint64_t with = 0;
    bool ok = s_global_average (c, MDL_MERGE_ROUND + 2 * done, 0, &with, NULL);
    pthread_mutex_lock (&a->stats_lock);
    a->stats.global_averages += ok;
    pthread_mutex_unlock (&a->stats_lock);
    if (!ok)
        mdl_agent_log (a, "global average after step %llu incomplete after %.0f s: continuing without it",
                       (unsigned long long) done, a->cfg.merge_timeout);
}

static void
s_ctx_free (mdl_ctx_t *c)
{
    if (c->algo && c->algo->destroy && c->state)
        c->algo->destroy (c->state);
    free (c->state);
    zsock_destroy (&c->push);
    mdl_codec_destroy (&c->codec);
    mdl_codec_destroy (&c->kcodec);
    for (int k = 0; k < MDL_MAX_CHANNELS; k++)
        free (c->pub[k]);
    for (int k = 0; k < 4; k++)
        free (c->scratch[k]);
    free (c->label_map);
    free (c);
}

static mdl_ctx_t *
s_ctx_new (mdl_agent_t *a, int *err)
{
    int rc = MDL_ENOMEM;
    mdl_ctx_t *c = calloc (1, sizeof *c);
    if (!c)
        goto fail;
    c->a = a;
    c->d = a->d;
    c->x = mdl_model_params (mdl_learner_model (a->learner));
    c->view_version = UINT64_MAX;
    c->loss_ema = NAN;
    c->ad_period = UINT64_MAX;
    mdl_rng_seed (&c->rng, a->cfg.seed ^ a->cfg.id, 0xc0dec);
    mdl_rng_seed (&c->prng, a->cfg.seed ^ a->cfg.id, 0x9a12);
    if (!(c->codec = mdl_codec_new (a->cfg.codec, c->d, a->cfg.seed ^ a->cfg.id, &rc))
        || !(c->kcodec = mdl_codec_new ("fp32", c->d, 0, &rc)))
        goto fail;
    rc = MDL_ENOMEM;
    for (int k = 0; k < 4; k++)
        if (!(c->scratch[k] = calloc (c->d, sizeof (float))))
            goto fail;
    if (a->replicas)
        for (int k = 0; k < a->algo->channels && k < MDL_MAX_CHANNELS; k++)
            if (!(c->pub[k] = calloc (c->d, sizeof (float))))
                goto fail;
    if (a->cfg.drift_epoch > 0) {
        const int classes = mdl_dataset_classes (a->cfg.train);
        if (!(c->label_map = malloc ((size_t) (classes > 0 ? classes : 1) * sizeof (int32_t))))
            goto fail;
        mdl_label_map_rotate (c->label_map, classes);
    }
    c->push = zsock_new_push (a->out_endpoint);
    rc = MDL_ESOCKET;
    if (!c->push)
        goto fail;
    c->algo = a->algo;
    rc = MDL_ENOMEM;
    if (!(c->state = calloc (1, c->algo->state_size ? c->algo->state_size : 1)))
        goto fail;
    if (c->algo->init && (rc = c->algo->init (c->state, c)) != 0)
        goto fail;
    return c;
fail:
    if (c && c->err[0])
        mdl_agent_log (a, "%s", c->err);
    if (c)
        s_ctx_free (c);
    *err = rc;
    return NULL;
}

static void
s_finish (mdl_agent_t *a, int error)
{
    pthread_mutex_lock (&a->stats_lock);
    a->stats.finished = true;
    a->stats.error = error;
    pthread_mutex_unlock (&a->stats_lock);
    pthread_mutex_lock (&a->snap_lock);
    pthread_cond_broadcast (&a->snap_cond);
    pthread_mutex_unlock (&a->snap_lock);
}

/* The K gossip rounds of the step just taken (Kong et al.'s extra consensus steps):
   round t = step * K + k, which is what neighbours match in sync mode and what a
   time-varying topology advances on; then the periodic exact average, if due. */
static int
s_gossip_rounds (mdl_ctx_t *c, uint64_t K, uint64_t total)
{
    mdl_agent_t *a = c->a;
    mdl_learner_t *l = a->learner;
    int rc = 0;
    for (uint64_t k = 0; k < K && rc == 0; k++) {
        c->step = mdl_learner_steps (l) * K + k - K; /* the step was taken: steps() is t+1 */
        atomic_store (&a->round, c->step);
        if (a->cfg.mode == MDL_MODE_SYNC)
            zstr_send (c->push, "A"); /* parked states of this round may now be filed */
        if (k > 0 && !s_cc_more (c)) {
            /* Consensus control: close enough, sit the round out and say so. */
            s_round (c);
            uint64_t to[MDL_AGENT_MAX_PEERS];
            for (size_t j = 0; j < c->nout; j++)
                to[j] = c->ids[c->out[j]];
            s_send_to (c, MDL_KIND_SKIP, c->step, NULL, to, c->nout);
            continue;
        }
        if ((rc = c->algo->publish (c->state, c)) != 0)
            mdl_agent_log (a, "publish failed at round %llu: %s", (unsigned long long) c->step, mdl_strerror (rc));
        else
            c->algo->mix (c->state, c);
    }
    if (rc == 0)
        s_periodic_average (c, mdl_learner_steps (l), total);
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
        zstr_send (c->push, "A");
    c->algo->mix (c->state, c);
    mdl_learner_apply (l);
    s_periodic_average (c, mdl_learner_steps (l), total);
    c->step = mdl_learner_steps (l); /* t + 1 */
    int rc = c->algo->publish (c->state, c);
    if (rc)
        mdl_agent_log (a, "publish failed at round %llu: %s", (unsigned long long) c->step, mdl_strerror (rc));
    return rc;
}

void *
mdl_worker_main (void *arg)
{
    mdl_agent_t *a = arg;
    int rc = 0;
    mdl_ctx_t *c = s_ctx_new (a, &rc);
    if (!c) {
        mdl_agent_log (a, "worker could not start: %s", mdl_strerror (rc));
        s_finish (a, rc);
        return NULL;
    }
    if (a->cfg.min_peers > 0) {
        if (mdl_agent_wait_peers (a, a->cfg.min_peers, a->cfg.min_peers_timeout) != 0) {
            if (!atomic_load (&a->stop))
                mdl_agent_log (a, "only %zu of the %d peers required (--min-peers) appeared within %.0f s",
                               a->view_n ? a->view_n - 1 : 0, a->cfg.min_peers, a->cfg.min_peers_timeout);
            s_ctx_free (c);
            s_finish (a, atomic_load (&a->stop) ? 0 : MDL_ETIMEOUT);
            return NULL;
        }
    }
    mdl_learner_t *l = a->learner;
    const uint64_t spe = mdl_learner_steps_per_epoch (l);
    const uint64_t total = spe * (uint64_t) a->cfg.epochs;
    const uint64_t eval_every = a->cfg.evals_per_epoch > 0 && a->cfg.test
                                    ? (spe / (uint64_t) a->cfg.evals_per_epoch ? spe / (uint64_t) a->cfg.evals_per_epoch : 1)
                                    : 0;
    const uint64_t K = a->cfg.gossip_steps > 1 ? (uint64_t) a->cfg.gossip_steps : 1;
    const bool overlap = a->cfg.overlap;
    if (overlap) {
        /* Decent-DP: the exchange of x^t is launched at the end of step t - 1; x^0 now. */
        c->step = mdl_learner_steps (l);
        if ((rc = c->algo->publish (c->state, c)) != 0)
            mdl_agent_log (a, "publish failed at round %llu: %s", (unsigned long long) c->step, mdl_strerror (rc));
    }
    while (rc == 0 && mdl_learner_steps (l) < total && !atomic_load (&a->stop)) {
        c->step = mdl_learner_steps (l) * K;
        s_snapshot_point (c);
        if (c->label_map && (double) mdl_learner_steps (l) >= a->cfg.drift_epoch * (double) spe)
            mdl_learner_set_label_map (l, c->label_map); /* the concept drifts */
        double t0 = mdl_now ();
        if (overlap)
            rc = mdl_learner_grad (l, &c->last_loss); /* g(x^t), applied after the mix */
        else
            rc = c->algo->local_step ? c->algo->local_step (c->state, c) : mdl_ctx_sgd_step (c);
        if (rc) {
            mdl_agent_log (a, "training diverged at step %llu (loss %g): stopping this agent",
                           (unsigned long long) c->step, (double) c->last_loss);
            break;
        }
        double compute = mdl_now () - t0;
        if (a->cfg.pace_s > 0)
            s_sleep (a->cfg.pace_s * a->cfg.slow_factor - compute);
        else if (a->cfg.slow_factor > 1.0)
            s_sleep ((a->cfg.slow_factor - 1.0) * compute);
        if (overlap)
            rc = s_overlapped_round (c, total);
        else
            rc = s_gossip_rounds (c, K, total);
        if (rc)
            break;
        c->loss_ema = isnan (c->loss_ema) ? c->last_loss : 0.98 * c->loss_ema + 0.02 * c->last_loss;
        double test_loss = NAN, test_acc = NAN;
        uint64_t done = mdl_learner_steps (l);
        bool eval = eval_every && (done % eval_every == 0 || done == total);
        if (eval)
            mdl_learner_evaluate (l, NULL, a->cfg.test, a->cfg.test_rows, &test_loss, &test_acc);
        pthread_mutex_lock (&a->stats_lock);
        a->stats.steps = done;
        a->stats.epoch = (double) done / (double) spe;
        a->stats.loss = c->loss_ema;
        if (eval) {
            a->stats.test_loss = test_loss;
            a->stats.test_acc = test_acc;
            a->stats.evals++;
        }
        pthread_mutex_unlock (&a->stats_lock);
    }
    if (rc == 0 && c->algo->finish && !atomic_load (&a->stop))
        rc = c->algo->finish (c->state, c);
    if (rc == 0 && a->cfg.final_merge && !atomic_load (&a->stop)) {
        uint64_t with = 0;
        bool ok = s_global_average (c, MDL_FINAL_MERGE_ROUND, 0, &with, NULL);
        pthread_mutex_lock (&a->stats_lock);
        a->stats.merged = ok;
        a->stats.merge_peers = with;
        pthread_mutex_unlock (&a->stats_lock);
        mdl_agent_log (a, ok ? "final merge: exact average with %llu peers" : "final merge incomplete after %llu peers",
                       (unsigned long long) with);
    }
    s_pair_close (c);
    c->step = mdl_learner_steps (l) * K;
    s_snapshot_point (c);
    s_ctx_free (c);
    s_finish (a, rc);
    return NULL;
}
