/*  bench_stream.c: what this machine's memory moves per second, for the bytes a gossip
    step touches (README, "What decentralization costs"). One thread:

      copy   memcpy of an array far larger than the caches (read + written bytes / s).
      mix    mdl_vec_mix_checked, the one pass of D-PSGD's mixing, with k neighbours:
             reads x and k vectors, writes x ((k + 2) d floats per pass), at d floats
             (the benchmark MLP's 235 146 by default) and with enough distinct vector
             sets that they do not stay in cache between passes, as in `meshdl sim`
             where every agent mixes its own.
      pair   the step of two agents of a ring without the messaging: each thread (an
             agent) takes an optimizer pass over its own state (momentum SGD, in place:
             x, m, g read, x and m written), both meet at a barrier (the state is
             "published"), then each mixes its own state with the other's into the next
             of three buffers in rotation (fused.c's scheme: the states are read where
             they were written, and every buffer is read by the neighbour before it is
             written again). Run with the two threads on one CPU, then on two: the
             difference is what handing a state from one CPU to another costs on this
             machine (its caches, or a VM's vCPUs that share none). Means over R x 20
             rounds per agent.

    Best of R repetitions (wall time of a pass; the fastest is the one least disturbed by
    other jobs on a shared machine).

    usage: bench_stream [--mb MB] [--d D] [--k K] [--sets S] [--reps R]
    defaults: --mb 256 --d 235146 --k 2 --sets 16 --reps 10
    Output: one "stream: k=v ..." line. Exit status 0, 2 on bad options. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "vec.h"

static int
s_arg (int argc, char **argv, const char *name, long dflt, long *out)
{
    *out = dflt;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp (argv[i], name) == 0) {
            char *end;
            *out = strtol (argv[i + 1], &end, 10);
            if (*end || *out <= 0) {
                fprintf (stderr, "bench_stream: %s wants a positive integer, not '%s'\n", name, argv[i + 1]);
                return 2;
            }
        }
    return 0;
}

typedef struct {
    pthread_barrier_t *bar;
    float *(*bufs)[3]; /* both agents' buffers: bufs[agent][k] */
    int me, cpu;
    long d, rounds;
    double opt_us, mix_us; /* means per round */
    int err;
} s_agent_t;

/* momentum SGD in place (restrict: the loop vectorises at -O2 without alias checks) */
static void
s_momentum (float *restrict x, float *restrict m, const float *restrict g, size_t d)
{
    for (size_t j = 0; j < d; j++) {
        m[j] = 0.9f * m[j] + g[j];
        x[j] -= 0.01f * m[j];
    }
}

static void *
s_pair_agent (void *arg)
{
    s_agent_t *p = arg;
    cpu_set_t set;
    CPU_ZERO (&set);
    CPU_SET (p->cpu, &set);
    if (pthread_setaffinity_np (pthread_self (), sizeof set, &set) != 0) {
        p->err = 1;
        return NULL;
    }
    const size_t d = (size_t) p->d;
    float *m = calloc (d, sizeof *m), *g = malloc (d * sizeof *g);
    if (!m || !g) {
        p->err = 1;
        free (m);
        free (g);
        return NULL; /* the barrier's other party is stopped by main (err) before it waits */
    }
    for (size_t j = 0; j < d; j++)
        g[j] = 0.001f * (float) (j % 7);
    const float c[1] = { 0.5f };
    bool bad[1];
    double opt = 0, mix = 0;
    int cur = 0;
    for (long r = 0; r < p->rounds; r++) {
        float *x = p->bufs[p->me][cur];
        double t0 = mdl_now ();
        s_momentum (x, m, g, d);
        opt += mdl_now () - t0;
        pthread_barrier_wait (p->bar); /* both states published */
        const int next = (cur + 1) % 3;
        const float *v[1] = { p->bufs[1 - p->me][cur] };
        t0 = mdl_now ();
        mdl_vec_mix_from_checked (p->bufs[p->me][next], x, 0.5f, v, c, 1, d, bad, NULL);
        mix += mdl_now () - t0;
        pthread_barrier_wait (p->bar); /* both mixed: the states of this round are free */
        cur = next;
    }
    p->opt_us = opt / (double) p->rounds * 1e6;
    p->mix_us = mix / (double) p->rounds * 1e6;
    free (m);
    free (g);
    return NULL;
}

/* Two agents on cpu0 and cpu1: the means (over both) of their optimizer and mix passes
   per round. 0, or 1 when a thread or buffer could not be had. */
static int
s_pair (long d, long rounds, int cpu0, int cpu1, double *opt_us, double *mix_us)
{
    float *bufs[2][3] = { { NULL } };
    int rc = 0;
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++) {
            if (!(bufs[i][k] = malloc ((size_t) d * sizeof (float))))
                rc = 1;
            for (long j = 0; !rc && j < d; j++)
                bufs[i][k][j] = 0.01f * (float) (j % 13);
        }
    pthread_barrier_t bar;
    pthread_barrier_init (&bar, NULL, 2);
    s_agent_t ag[2] = { { .bar = &bar, .bufs = bufs, .me = 0, .cpu = cpu0, .d = d, .rounds = rounds },
                        { .bar = &bar, .bufs = bufs, .me = 1, .cpu = cpu1, .d = d, .rounds = rounds } };
    pthread_t t[2];
    int started = 0;
    while (!rc && started < 2 && pthread_create (&t[started], NULL, s_pair_agent, &ag[started]) == 0)
        started++;
    if (!rc && started < 2)
        rc = 1; /* a lone agent waits at the barrier forever: not reached with 2 threads */
    for (int i = 0; i < started; i++)
        pthread_join (t[i], NULL);
    pthread_barrier_destroy (&bar);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++)
            free (bufs[i][k]);
    if (rc || ag[0].err || ag[1].err)
        return 1;
    *opt_us = (ag[0].opt_us + ag[1].opt_us) / 2;
    *mix_us = (ag[0].mix_us + ag[1].mix_us) / 2;
    return 0;
}

int
main (int argc, char **argv)
{
    long mb, d, k, sets, reps;
    if (s_arg (argc, argv, "--mb", 256, &mb) || s_arg (argc, argv, "--d", 235146, &d) || s_arg (argc, argv, "--k", 2, &k)
        || s_arg (argc, argv, "--sets", 16, &sets) || s_arg (argc, argv, "--reps", 10, &reps))
        return 2;
    if (k > MDL_VEC_MIX_MAX) {
        fprintf (stderr, "bench_stream: --k at most %d\n", MDL_VEC_MIX_MAX);
        return 2;
    }
    const size_t n = (size_t) mb << 20;
    char *src = malloc (n), *dst = malloc (n);
    float **vs = calloc ((size_t) sets * (size_t) (k + 1), sizeof *vs);
    if (!src || !dst || !vs) {
        fprintf (stderr, "bench_stream: out of memory\n");
        return 1;
    }
    memset (src, 1, n);
    memset (dst, 2, n);
    double best_copy = 1e30;
    for (long r = 0; r < reps; r++) {
        const double t0 = mdl_now ();
        memcpy (dst, src, n);
        const double t = mdl_now () - t0;
        best_copy = t < best_copy ? t : best_copy;
    }
    for (long i = 0; i < sets * (k + 1); i++) {
        if (!(vs[i] = malloc ((size_t) d * sizeof (float)))) {
            fprintf (stderr, "bench_stream: out of memory\n");
            return 1;
        }
        for (long j = 0; j < d; j++)
            vs[i][j] = (float) (j % 97) * 0.01f + (float) i;
    }
    float c[MDL_VEC_MIX_MAX];
    bool bad[MDL_VEC_MIX_MAX];
    for (long j = 0; j < k; j++)
        c[j] = 1.0f / (float) (k + 1);
    double best_mix = 1e30;
    for (long r = 0; r < reps; r++) {
        const double t0 = mdl_now ();
        for (long s = 0; s < sets; s++) {
            float *x = vs[s * (k + 1)];
            const float *const *v = (const float *const *) &vs[s * (k + 1) + 1];
            mdl_vec_mix_checked (x, 1.0f - (float) k / (float) (k + 1), NULL, 0.0f, v, c, (size_t) k, (size_t) d, bad,
                                 NULL);
        }
        const double t = (mdl_now () - t0) / (double) sets;
        best_mix = t < best_mix ? t : best_mix;
    }
    const double mix_bytes = (double) (k + 2) * (double) d * sizeof (float);
    printf ("stream: copy_mb=%ld copy_gb_s=%.2f mix_d=%ld mix_k=%ld mix_bytes=%.0f mix_us=%.1f mix_gb_s=%.2f\n", mb,
            2.0 * (double) n / best_copy / 1e9, d, k, mix_bytes, best_mix * 1e6, mix_bytes / best_mix / 1e9);
    /* the pair: both agents on the first CPU the process may use, then on two */
    cpu_set_t mine;
    int cpus[2] = { 0, 0 }, ncpu = 0;
    if (sched_getaffinity (0, sizeof mine, &mine) == 0)
        for (int i = 0; i < CPU_SETSIZE && ncpu < 2; i++)
            if (CPU_ISSET (i, &mine))
                cpus[ncpu++] = i;
    double o1 = -1, m1 = -1, o2 = -1, m2 = -1;
    if (s_pair (d, reps * 20, cpus[0], cpus[0], &o1, &m1)
        || (ncpu == 2 && s_pair (d, reps * 20, cpus[0], cpus[1], &o2, &m2))) {
        fprintf (stderr, "bench_stream: could not run the pair (threads, affinity or memory)\n");
        return 1;
    }
    const double ob = 5.0 * (double) d * sizeof (float), mb2 = 3.0 * (double) d * sizeof (float);
    printf ("pair: d=%ld opt_bytes=%.0f mix_bytes=%.0f one_cpu_opt_us=%.1f one_cpu_mix_us=%.1f one_cpu_gb_s=%.2f "
            "two_cpus_opt_us=%.1f two_cpus_mix_us=%.1f two_cpus_gb_s=%.2f cpus=%d,%d\n",
            d, ob, mb2, o1, m1, (ob + mb2) / (o1 + m1) / 1e3, o2, m2,
            ncpu == 2 ? (ob + mb2) / (o2 + m2) / 1e3 : -1.0, cpus[0], cpus[1]);
    for (long i = 0; i < sets * (k + 1); i++)
        free (vs[i]);
    free (vs);
    free (src);
    free (dst);
    return 0;
}
