/*  pairavg.c: AD-PSGD's pairwise averages (Lian et al., ICML 2018) on the worker
    thread: request, accept or refuse through the pairbox the comm actor fills. */
#include "clock.h"
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
    if (mdl_worker_round (c) || c->nnbr == 0)
        return 0;
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
    const double waited = mdl_now () - t0;
    pthread_mutex_lock (&a->stats_lock);
    a->stats.wait_s += waited;
    mdl_hist_observe (&a->stats.sync_wait, waited);
    a->stats.pair_refused += settled != 1;
    pthread_mutex_unlock (&a->stats_lock);
    return settled == 1;
}

/* The worker stops averaging: later requests are refused by the comm actor, queued ones
   here. */
void
mdl_worker_pair_close (mdl_ctx_t *c)
{
    if (!c->a->pairs)
        return;
    mdl_pairbox_close (c->a->pairs);
    mdl_pair_msg_t m;
    while (mdl_pairbox_front (c->a->pairs, &m)) {
        if (m.kind == MDL_PAIR_REQ)
            mdl_worker_send_to (c, MDL_KIND_PAIR_NAK, m.seq, NULL, &m.peer, 1);
        mdl_pairbox_pop (c->a->pairs);
    }
}
