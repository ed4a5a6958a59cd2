/*  ctx_robust.c: the worker's side of --robust (how neighbour states are combined:
    gossip rounds, exact global averages, pairwise averages) and of --byzantine (what a
    lying agent publishes). The rules themselves are the pure functions of robust.c and
    byzantine.c; this file feeds them the mailboxes' vectors and counts. */
#include "clock.h"
#include "err.h"
#include "vec.h"
#include "worker_impl.h"

static void
s_count_robust (mdl_agent_t *a, uint64_t clipped, uint64_t short_rounds, double tau)
{
    pthread_mutex_lock (&a->stats_lock);
    a->stats.robust_clipped += clipped;
    a->stats.robust_short += short_rounds;
    if (tau >= 0)
        a->stats.robust_tau = tau;
    const uint64_t shorts = a->stats.robust_short;
    pthread_mutex_unlock (&a->stats_lock);
    if (short_rounds && (shorts & (shorts - 1)) == 0) { /* the 1st, 2nd, 4th, ... */
        char b[32];
        mdl_agent_log (a, "--robust %s: a round with too few states to trim (%llu such rounds so far): not mixed",
                       mdl_robust_str (&a->cfg.robust, b, sizeof b), (unsigned long long) shorts);
    }
}

void
mdl_worker_robust_mix (mdl_ctx_t *c, int channel, double gamma, const float *self_v, float *x, const float *const *v,
                       const double *w, size_t n)
{
    mdl_agent_t *a = c->a;
    const mdl_robust_cfg_t *rc = &a->cfg.robust;
    if (rc->kind == MDL_ROBUST_CLIP) {
        double dist[MDL_AGENT_MAX_PEERS], f[MDL_AGENT_MAX_PEERS], wf[MDL_AGENT_MAX_PEERS];
        for (size_t j = 0; j < n; j++)
            dist[j] = mdl_robust_dist (v[j], self_v, c->d);
        const int h = channel >= 0 && channel < MDL_AGENT_CHANNELS ? channel : 0;
        const double tau = rc->tau > 0 ? rc->tau : mdl_robust_tau (&c->rhist[h], dist, n);
        const size_t clipped = mdl_robust_clip_factors (dist, n, tau, f);
        for (size_t j = 0; j < n; j++)
            wf[j] = w[j] * f[j];
        mdl_robust_clip_mix (x, self_v, v, wf, n, c->d);
        s_count_robust (a, clipped, 0, tau);
        return;
    }
    if (mdl_robust_coord_mix (rc, x, self_v, v, n, c->d, gamma))
        s_count_robust (a, 0, 1, -1);
}

void
mdl_worker_robust_average (mdl_ctx_t *c, float *x, const float *const *v, size_t n)
{
    const mdl_robust_cfg_t *rc = &c->a->cfg.robust;
    const size_t d = c->d;
    if (rc->kind == MDL_ROBUST_TRIMMED && 2 * (size_t) rc->trim < n) {
        mdl_robust_trimmed (x, v, n, d, (size_t) rc->trim);
        return;
    }
    mdl_robust_median (x, v, n, d);
    if (rc->kind != MDL_ROBUST_CLIP || n < 2)
        return;
    /* Centred clipping (Karimireddy, He & Jaggi 2021) around the coordinate-wise median:
       x = m + (1/n) sum_j clip(v_j - m, tau), tau the median distance to m (or TAU). Every
       agent has the same states and computes the same floats. */
    double dist[MDL_AGENT_MAX_PEERS + 1], f[MDL_AGENT_MAX_PEERS + 1];
    for (size_t j = 0; j < n; j++)
        dist[j] = mdl_robust_dist (v[j], x, d);
    mdl_robust_hist_t fresh = { .n = 0 };
    const double tau = rc->tau > 0 ? rc->tau : mdl_robust_tau (&fresh, dist, n);
    const size_t clipped = mdl_robust_clip_factors (dist, n, tau, f);
    for (size_t j = 0; j < n; j++)
        f[j] /= (double) n;
    mdl_robust_clip_mix (x, x, v, f, n, d);
    s_count_robust (c->a, clipped, 0, tau);
}

void
mdl_worker_robust_pair (mdl_ctx_t *c, const float *v)
{
    const mdl_robust_cfg_t *rc = &c->a->cfg.robust;
    float *x = c->x;
    if (rc->kind != MDL_ROBUST_CLIP) {
        /* Both sides of a pair compute it from the same two vectors, and float addition
           commutes, so they end bit for bit equal and the pair's sum (the network's
           mean) is kept up to one rounding. */
        for (size_t k = 0; k < c->d; k++)
            x[k] = 0.5f * (x[k] + v[k]);
        return;
    }
    /* Clipped, each side around its own x: the pair no longer ends equal when the radius
       bites, which is the point when the partner lies. One distance per exchange: the
       radius is the median of this one and the last ones seen. */
    double dist = mdl_robust_dist (v, x, c->d), f = 1.0, w;
    const double tau = rc->tau > 0 ? rc->tau : mdl_robust_tau (&c->rhist[0], &dist, 1);
    const size_t clipped = mdl_robust_clip_factors (&dist, 1, tau, &f);
    w = 0.5 * f;
    mdl_robust_clip_mix (x, x, &v, &w, 1, c->d);
    s_count_robust (c->a, clipped, 0, tau);
}

const float *
mdl_worker_forge (mdl_ctx_t *c, int ch, const float *v, uint64_t *step)
{
    if (!c->byz)
        return v;
    mdl_agent_t *a = c->a;
    const float *heard[MDL_AGENT_MAX_PEERS] = { 0 };
    uint64_t from[MDL_AGENT_MAX_PEERS];
    size_t nh = 0;
    /* alie hides inside the spread of what it hears: the newest state of each of this
       round's in-neighbours on the same channel. */
    if (a->cfg.byzantine.kind == MDL_BYZ_ALIE && ch >= 0 && ch < a->algo->channels)
        for (size_t k = 0; k < c->nnbr; k++) {
            const uint64_t id = c->ids[c->nbr[k]];
            const float *p = mdl_mailroom_read_begin (a->room, id, ch, UINT64_MAX, NULL);
            if (p) {
                heard[nh] = p;
                from[nh++] = id;
            }
        }
    const float *out = mdl_byz_forge (c->byz, ch, v, heard, nh, step);
    for (size_t k = 0; k < nh; k++)
        mdl_mailroom_read_end (a->room, from[k], ch);
    return out;
}
