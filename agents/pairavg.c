/*  pairavg.c: AD-PSGD's pairwise averages (Lian et al., ICML 2018) on the worker
    thread: request, accept or refuse through the pairbox the comm actor fills. */
#include "clock.h"
#include "mem.h"
#include "vec.h"
#include "worker_impl.h"

/* x <- (x + v) / 2 (ctx_robust.c: exact and symmetric, or clipped under --robust clip). */
static void
s_pair_mean (mdl_ctx_t *c, const float *v)
{
    mdl_worker_robust_pair (c, v);
}

static void
s_pair_count (mdl_agent_t *a, uint64_t averaged, uint64_t refused)
{
    pthread_mutex_lock (&a->stats_lock);
    a->stats.pair_averages += averaged;
    a->stats.pair_refused += refused;
    pthread_mutex_unlock (&a->stats_lock);
}

/* The answer to the request we gave up on (pair_sent_peer, pair_sent_seq), or to an
   older one. An accept: the partner averaged with what we sent, x_j <- (x_j + sent) / 2,
   and sent its x_j as it was, v; our half of that exchange is x_i <- x_i + (v - sent) / 2,
   whatever x_i became since, and the pair's sum (the network's mean) is what a settled
   exchange leaves. It waits in pair_late until no request of ours is out. A refusal
   just settles it. Under --robust clip (each side clips around its own x: no exact half
   to take), or without the memory to keep what was sent, an accept is dropped: the
   partner averaged, we did not (counted, logged). */
static void
s_pair_late (mdl_ctx_t *c, const mdl_pair_msg_t *m)
{
    mdl_agent_t *a = c->a;
    const bool ours = c->pair_sent_peer && m->peer == c->pair_sent_peer && m->seq == c->pair_sent_seq;
    if (ours)
        c->pair_sent_peer = 0; /* answered */
    if (m->kind != MDL_PAIR_ACK)
        return;
    if (ours && c->pair_sent && a->cfg.robust.kind != MDL_ROBUST_CLIP) {
        for (size_t k = 0; k < c->d; k++)
            c->pair_late[k] += 0.5f * (m->v[k] - c->pair_sent[k]);
        c->pair_late_due = true;
        s_pair_count (a, 1, 0);
        pthread_mutex_lock (&a->stats_lock);
        a->stats.pair_late++;
        pthread_mutex_unlock (&a->stats_lock);
        mdl_agent_log (a, "late pair accept from %016llx: our half applied", (unsigned long long) m->peer);
        return;
    }
    mdl_agent_log (a, "late pair accept from %016llx dropped", (unsigned long long) m->peer);
    pthread_mutex_lock (&a->stats_lock);
    a->stats.updates_dropped++;
    pthread_mutex_unlock (&a->stats_lock);
}

/* x takes the late accepts' halves (none of our requests is out). */
static void
s_pair_apply_late (mdl_ctx_t *c)
{
    if (!c->pair_late_due)
        return;
    for (size_t k = 0; k < c->d; k++) {
        c->x[k] += c->pair_late[k];
        c->pair_late[k] = 0.0f;
    }
    c->pair_late_due = false;
}

/* Keeps what the request numbered seq to partner promised (x, unchanged since it went
   out), for an answer that may still come. Without the memory for it, the answer is
   still awaited but an accept is dropped (s_pair_late), as before. */
static void
s_pair_gave_up (mdl_ctx_t *c, uint64_t partner, uint64_t seq)
{
    c->pair_sent_peer = partner;
    c->pair_sent_seq = seq;
    if (!c->pair_sent) {
        /* both or neither; pair_late is added to: zero, pair_sent is written first */
        c->pair_sent = malloc (c->d * sizeof (float));
        c->pair_late = mdl_mem_zeroed (c->d * sizeof (float));
        if (!c->pair_sent || !c->pair_late) {
            free (c->pair_sent);
            free (c->pair_late);
            c->pair_sent = c->pair_late = NULL;
            return;
        }
    }
    mdl_vec_copy (c->pair_sent, c->x, c->d);
}

/* Handles the queued pair messages. Requests are accepted (reply with x, then average)
   when the agent is free (partner 0), refused when its own request to partner is out,
   except partner's own crossing request when this agent's id is the lower one: accepting
   it completes the pair (partner, whose id is higher, refuses ours). An accept or a
   refusal of the request numbered seq from partner settles it: *settled = 1 averaged,
   2 refused. Anything else answers a request given up on (s_pair_late). */
static void
s_pair_handle (mdl_ctx_t *c, uint64_t partner, uint64_t seq, int *settled)
{
    mdl_agent_t *a = c->a;
    mdl_pair_msg_t m;
    while (mdl_pairbox_front (a->pairs, &m)) {
        const bool mine = partner && !*settled && m.peer == partner;
        if (m.kind == MDL_PAIR_REQ) {
            if (!partner || *settled || (mine && a->cfg.id < partner)) {
                mdl_worker_send_to (c, MDL_KIND_PAIR_ACK, m.seq, c->x, &m.peer, 1);
                s_pair_mean (c, m.v);
                s_pair_count (a, 1, 0);
                if (mine)
                    *settled = 1;
            } else
                mdl_worker_send_to (c, MDL_KIND_PAIR_NAK, m.seq, NULL, &m.peer, 1);
        } else if (mine && m.seq == seq) {
            if (m.kind == MDL_PAIR_ACK) {
                s_pair_mean (c, m.v);
                s_pair_count (a, 1, 0);
                *settled = 1;
            } else
                *settled = 2;
        } else /* an answer to a request we gave up on */
            s_pair_late (c, &m);
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
    s_pair_apply_late (c);
    if (mdl_worker_round (c) || c->nnbr == 0)
        return 0;
    /* One request given up on and not answered yet: no new one until it is (or its
       partner is gone), so that at most one exchange is in doubt and its answer can
       still take its half; meanwhile the agent trains without averaging. */
    if (c->pair_sent_peer && mdl_worker_alive (c, c->pair_sent_peer))
        return 0;
    c->pair_sent_peer = 0;
    const uint64_t partner = c->ids[c->nbr[mdl_rng_below (&c->prng, c->nnbr)]];
    const uint64_t seq = ++c->pair_seq;
    /* x is promised from here until the pair settles: it only changes by the average. */
    if (mdl_worker_send_to (c, MDL_KIND_PAIR_REQ, seq, c->x, &partner, 1))
        return 0;
    const double t0 = mdl_now (), until = t0 + a->cfg.sync_timeout;
    while (!settled && !atomic_load (&a->stop)) {
        s_pair_handle (c, partner, seq, &settled);
        if (settled)
            break;
        mdl_worker_round (c);
        const double now = mdl_now ();
        if (now >= until || !mdl_worker_alive (c, partner))
            break;
        mdl_pairbox_wait (a->pairs, until - now < 0.05 ? until - now : 0.05);
    }
    if (!settled)
        s_pair_gave_up (c, partner, seq);
    s_pair_apply_late (c); /* what came in while ours was out */
    const double waited = mdl_now () - t0;
    pthread_mutex_lock (&a->stats_lock);
    a->stats.wait_s += waited;
    mdl_hist_observe (&a->stats.sync_wait, waited);
    a->stats.pair_refused += settled != 1;
    pthread_mutex_unlock (&a->stats_lock);
    return settled == 1;
}

/* Refuses the queued requests (this worker averages no more) and takes the answers to
   the one given up on. */
static void
s_pair_drain (mdl_ctx_t *c)
{
    mdl_pair_msg_t m;
    while (mdl_pairbox_front (c->a->pairs, &m)) {
        if (m.kind == MDL_PAIR_REQ)
            mdl_worker_send_to (c, MDL_KIND_PAIR_NAK, m.seq, NULL, &m.peer, 1);
        else
            s_pair_late (c, &m);
        mdl_pairbox_pop (c->a->pairs);
    }
}

/* The worker stops averaging: later requests are refused by the comm actor, queued ones
   here. A request given up on and not answered yet is still waited for (its partner
   answers before it leaves: an accept it sent comes before its goodbye), a second at
   most: an accept after the close would leave the partner averaged and this agent not. */
void
mdl_worker_pair_close (mdl_ctx_t *c)
{
    mdl_agent_t *a = c->a;
    if (!a->pairs)
        return;
    /* a second, whatever --sync-timeout: the request's own wait may have been a short
       one (CI's load: 0.5 ms lost the answers of five, and the mean moved by 0.16) */
    const double until = mdl_now () + 1.0;
    for (;;) {
        s_pair_drain (c);
        const double now = mdl_now ();
        if (!c->pair_sent_peer || !mdl_worker_alive (c, c->pair_sent_peer) || now >= until || atomic_load (&a->stop))
            break;
        mdl_worker_round (c);
        mdl_pairbox_wait (a->pairs, until - now < 0.05 ? until - now : 0.05);
    }
    mdl_pairbox_close (a->pairs);
    s_pair_drain (c);
    s_pair_apply_late (c);
}
