/*  linger.c: what a finished agent does before it leaves (--linger). Its last step taken,
    evaluated and checkpointed, it says FIN to every live peer, which takes it out of their
    rounds (comm_peers.c), and stays a member for a while: a newcomer or a restarted agent
    still finds peers (--min-peers counts it) and a snapshot of the finished model to start
    from, and a peer that was cut off or frozen finds the cluster it left. It stays while a
    live peer is still training, or while a peer that vanished without a goodbye less than
    --linger seconds ago may come back (a peer that joins at its endpoint is it, back);
    --linger seconds after its last step at most.
    Runs on the worker thread, which keeps answering the comm's snapshot requests. */
#include "worker_impl.h"

#include <time.h>

#define S_TICK_NS (20 * 1000000L) /* a snapshot request is answered within this */
#define S_FIN_EVERY 12            /* FIN every 12 ticks (0.25 s): it may be lost, and a
                                     newcomer must hear it too */
#define S_LOG_AFTER 10            /* ticks (0.2 s) before it says that it stays */

void
mdl_worker_linger (mdl_ctx_t *c, uint64_t steps)
{
    mdl_agent_t *a = c->a;
    const double S = a->cfg.linger;
    if (!(S > 0) || atomic_load (&a->stop))
        return;
    const double t0 = mdl_now ();
    pthread_mutex_lock (&a->stats_lock);
    a->stats.lingering = true;
    pthread_mutex_unlock (&a->stats_lock);
    bool logged = false, all_fin = false;
    for (unsigned k = 0; !atomic_load (&a->stop); k++) {
        mdl_agent_beat (&a->beat_worker);
        mdl_worker_params_point (c, steps); /* mdl_agent_snapshot: the final model */
        mdl_worker_snapshot_point (c);      /* a newcomer's image */
        if (k % S_FIN_EVERY == 0)
            mdl_worker_fin (c, MDL_FIN_DONE);
        /* every live peer said FIN, read after the vanished peers: a peer back where one
           vanished is in the view before that one stops counting (comm_peers.c) */
        const bool vanished = mdl_agent_vanished_recently (a, S);
        all_fin = mdl_agent_all_fin (a);
        const bool waited_out = mdl_now () - t0 >= S;
        if (waited_out || (all_fin && !vanished))
            break;
        if (!logged && k == S_LOG_AFTER) { /* a clean run's peers have all said FIN by now */
            mdl_agent_log (a, "finished training: staying up to %.0f s (--linger) while %s", S,
                           vanished ? "a peer that vanished may come back" : "peers still train");
            logged = true;
        }
        struct timespec ts = { 0, S_TICK_NS };
        nanosleep (&ts, NULL);
    }
    const double stayed = mdl_now () - t0;
    if (logged)
        mdl_agent_log (a, "leaving after %.1f s (--linger): %s", stayed,
                       atomic_load (&a->stop) ? "asked to stop"
                       : stayed >= S          ? "waited the whole --linger"
                                              : "every live peer finished");
    if (c->fin_open)
        mdl_worker_transient (c, MDL_TRANSIENT_FIN, false, NULL, 0, 0);
    pthread_mutex_lock (&a->stats_lock);
    a->stats.lingering = false;
    a->stats.linger_s = stayed;
    pthread_mutex_unlock (&a->stats_lock);
}
