/*  bench_robust.c: what --robust costs per mix, beside plain mixing.

    One gossip mix of an agent with n neighbours over d floats, as the worker does it
    (agents/ctx.c, ctx_robust.c): plain is mdl_vec_mix_checked (one pass over the inputs,
    NaN/Inf found on the way); the robust rules first check each state for NaN/Inf
    (mdl_vec_isfinite), then clip takes the distance to each neighbour, the adaptive
    radius and the clipped step (mdl_robust_clip_mix), trimmed:1 and median the
    coordinate-wise rule over self and neighbours (mdl_robust_coord_mix). The four run in
    turn, round after round, so that they share the machine's load; each time is the
    median of the rounds, in thread CPU time (CLOCK_THREAD_CPUTIME_ID: what the mix costs
    the agent's worker, not what the other processes take). Single-threaded.
    Usage: bench_robust [D [ROUNDS]]   (D = 235146, mlp:784-256-128-10; ROUNDS = 15) */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "robust.h"
#include "rng.h"
#include "vec.h"

#define S_RULES 4
#define S_MAXN 8

static const char *s_names[S_RULES] = { "plain", "clip", "trimmed:1", "median" };

static double
s_cpu (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

static int
s_cmp (const void *a, const void *b)
{
    const double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/* One mix of rule r: x (the agent's model, also its own state) with v[0..n). */
static void
s_mix (int r, float *x, const float *const *v, size_t n, size_t d, mdl_robust_hist_t *h)
{
    const double gamma = 1.0, c = 1.0 / (double) (n + 1);
    if (r == 0) {
        float cs[S_MAXN];
        bool bad[S_MAXN];
        for (size_t j = 0; j < n; j++)
            cs[j] = (float) c;
        mdl_vec_mix_checked (x, (float) (1.0 - c * (double) n), NULL, (float) -(c * (double) n), v, cs, n, d, bad,
                             NULL);
        return;
    }
    size_t ok = 0;
    for (size_t j = 0; j < n; j++)
        ok += mdl_vec_isfinite (v[j], d);
    if (ok != n)
        abort ();
    if (r == 1) {
        double dist[S_MAXN], f[S_MAXN], w[S_MAXN];
        for (size_t j = 0; j < n; j++)
            dist[j] = mdl_robust_dist (v[j], x, d);
        const double tau = mdl_robust_tau (h, dist, n);
        mdl_robust_clip_factors (dist, n, tau, f);
        for (size_t j = 0; j < n; j++)
            w[j] = gamma * c * f[j];
        mdl_robust_clip_mix (x, x, v, w, n, d);
        return;
    }
    const mdl_robust_cfg_t cfg = { .kind = r == 2 ? MDL_ROBUST_TRIMMED : MDL_ROBUST_MEDIAN, .trim = 1 };
    if (mdl_robust_coord_mix (&cfg, x, x, v, n, d, gamma))
        abort ();
}

int
main (int argc, char **argv)
{
    const size_t d = argc > 1 ? (size_t) strtoull (argv[1], NULL, 10) : 235146;
    const int rounds = argc > 2 ? atoi (argv[2]) : 15;
    if (d == 0 || rounds < 1) {
        fprintf (stderr, "usage: bench_robust [D [ROUNDS]]\n");
        return 2;
    }
    mdl_rng_t rng;
    mdl_rng_seed (&rng, 1, 0);
    float *v[S_MAXN], *x0 = malloc (d * sizeof (float)), *x = malloc (d * sizeof (float));
    for (size_t j = 0; j < S_MAXN; j++) {
        v[j] = malloc (d * sizeof (float));
        for (size_t k = 0; k < d; k++)
            v[j][k] = (float) (0.1 * mdl_rng_normal (&rng));
    }
    for (size_t k = 0; k < d; k++)
        x0[k] = (float) (0.1 * mdl_rng_normal (&rng));
    const size_t degrees[] = { 2, 4, 8 };
    printf ("d = %zu floats, %d rounds, thread CPU time per mix (median)\n\n", d, rounds);
    printf ("| neighbours | plain ms | clip ms (x plain) | trimmed:1 ms (x plain) | median ms (x plain) |\n");
    printf ("|---:|---:|---:|---:|---:|\n");
    double *t = malloc ((size_t) rounds * S_RULES * sizeof (double));
    for (size_t g = 0; g < sizeof degrees / sizeof degrees[0]; g++) {
        const size_t n = degrees[g];
        mdl_robust_hist_t h = { .n = 0 };
        for (int i = 0; i < rounds; i++)
            for (int r = 0; r < S_RULES; r++) {
                memcpy (x, x0, d * sizeof (float));
                const double t0 = s_cpu ();
                s_mix (r, x, (const float *const *) v, n, d, &h);
                t[r * rounds + i] = s_cpu () - t0;
            }
        double med[S_RULES];
        for (int r = 0; r < S_RULES; r++) {
            qsort (t + r * rounds, (size_t) rounds, sizeof *t, s_cmp);
            med[r] = t[r * rounds + rounds / 2];
        }
        printf ("| %zu | %.2f |", n, 1e3 * med[0]);
        for (int r = 1; r < S_RULES; r++)
            printf (" %.2f (%.1f) |", 1e3 * med[r], med[r] / med[0]);
        printf ("\n");
    }
    printf ("\nrules: %s, %s, %s, %s\n", s_names[0], s_names[1], s_names[2], s_names[3]);
    for (size_t j = 0; j < S_MAXN; j++)
        free (v[j]);
    free (x0), free (x), free (t);
    return 0;
}
