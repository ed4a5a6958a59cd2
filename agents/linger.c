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

#define S_TICK_S 0.02      /* a snapshot request is answered within this */
#define S_FIRST_TICK_S 0.002 /* ... and while the peers' FINs of a clean end come in */
#define S_FIRST_S 0.05      /* how long that is */
#define S_FIN_EVERY_S 0.25  /* FIN again: it may be lost, and a newcomer must hear it too */
#define S_LOG_AFTER_S 0.2   /* a clean run's peers have all said FIN by then: say it stays */

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
    double next_fin = t0;
    while (!atomic_load (&a->stop)) {
        const double now = mdl_now ();
        mdl_agent_beat (&a->beat_worker);
        mdl_worker_params_point (c, steps); /* mdl_agent_snapshot: the final model */
        mdl_worker_snapshot_point (c);      /* a newcomer's image */
        if (now >= next_fin) {
            mdl_worker_fin (c, MDL_FIN_DONE);
            next_fin = now + S_FIN_EVERY_S;
        }
        /* every live peer said FIN, read after the vanished peers: a peer back where one
           vanished is in the view before that one stops counting (comm_peers.c) */
        const bool vanished = mdl_agent_vanished_recently (a, S);
        all_fin = mdl_agent_all_fin (a);
        const bool waited_out = now - t0 >= S;
        if (waited_out || (all_fin && !vanished))
            break;
        if (!logged && now - t0 >= S_LOG_AFTER_S) {
            mdl_agent_log (a, "finished training: staying up to %.0f s (--linger) while %s", S,
                           vanished ? "a peer that vanished may come back" : "peers still train");
            logged = true;
        }
        const double tick = now - t0 < S_FIRST_S ? S_FIRST_TICK_S : S_TICK_S;
        struct timespec ts = { 0, (long) (tick * 1e9) };
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
