/*  bench_exchange.c: what mdl_agent_exchange costs the program that brings its own model.
    N agents with "dim" D (no model) in one process, one thread each, call the exchange
    R times on their own vector (no training in between, so nothing but the exchange is
    timed): publish, the comm actors' sends and receives, decode, mix. Written against
    the public API only (meshdl.h), as a user's program would be.

    Beside it, the same threads time the floor any exchange of D floats with `degree`
    neighbours pays in memory traffic: one copy out (the encode of fp32), one copy in per
    neighbour (the decode) and the mixing pass over them, done with plain buffers. The
    ratio of the two is the engine's overhead over moving the bytes.

    usage: bench_exchange [--agents N] [--dim D] [--rounds R] [--codec SPEC] [--topology T]
                          [--mode sync|async] [--error-feedback]
    Output: one "exchange: k=v ..." line:
      cpu_us_per_exchange   process CPU time (all threads: callers, comm actors, ZeroMQ I/O)
                            / (agents * rounds)
      wall_us_per_round     wall time / rounds (every agent's exchange of one round)
      floor_cpu_us          CPU time of the plain copy-and-mix per exchange
      bytes_per_exchange    bytes sent / (agents * rounds)
    Exit status 0, 1 when an exchange failed, 2 on bad options. */
#include <math.h>
#include <meshdl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef struct {
    mdl_agent_t *agent;
    float *x;
    size_t d;
    int rounds, rc;
} s_worker_t;

static double
s_cpu (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double) ru.ru_stime.tv_sec
           + ru.ru_stime.tv_usec * 1e-6;
}

static double
s_wall (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *
s_run (void *arg)
{
    s_worker_t *w = arg;
    for (int t = 0; t < w->rounds && !w->rc; t++) {
        int r = mdl_agent_exchange (w->agent, w->x, w->d, (uint64_t) t);
        w->rc = r < 0 ? r : 0;
    }
    return NULL;
}

/* The floor: per exchange, copy x out, copy each neighbour's vector in, mix them. */
static double
s_floor_cpu_us (size_t d, int degree, int reps)
{
    float *x = calloc (d, sizeof *x), *out = calloc (d, sizeof *out);
    float *in = calloc (d * (size_t) (degree > 0 ? degree : 1), sizeof *in);
    if (!x || !out || !in)
        return NAN;
    for (size_t k = 0; k < d; k++)
        x[k] = (float) k * 1e-6f;
    const double t0 = s_cpu ();
    for (int r = 0; r < reps; r++) {
        memcpy (out, x, d * sizeof *x);
        for (int j = 0; j < degree; j++)
            memcpy (in + d * (size_t) j, out, d * sizeof *x);
        const float w = 1.0f / (float) (degree + 1);
        for (size_t k = 0; k < d; k++) {
            float s = x[k];
            for (int j = 0; j < degree; j++)
                s += in[d * (size_t) j + k];
            x[k] = s * w;
        }
    }
    const double us = (s_cpu () - t0) / reps * 1e6;
    volatile float sink = x[d / 2];
    (void) sink;
    free (x);
    free (out);
    free (in);
    return us;
}

static int
s_set (mdl_agent_cfg_t *cfg, const char *key, const char *value)
{
    if (mdl_agent_cfg_set (cfg, key, value)) {
        fprintf (stderr, "bench_exchange: %s\n", mdl_error_detail ());
        return 2;
    }
    return 0;
}

int
main (int argc, char **argv)
{
    int n = 4, rounds = 200;
    const char *dim = "235146", *codec = "fp32", *topology = "ring", *mode = "sync";
    bool ef = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp (a, "--error-feedback"))
            ef = true;
        else if (v && !strcmp (a, "--agents"))
            n = atoi (v), i++;
        else if (v && !strcmp (a, "--rounds"))
            rounds = atoi (v), i++;
        else if (v && !strcmp (a, "--dim"))
            dim = v, i++;
        else if (v && !strcmp (a, "--codec"))
            codec = v, i++;
        else if (v && !strcmp (a, "--topology"))
            topology = v, i++;
        else if (v && !strcmp (a, "--mode"))
            mode = v, i++;
        else {
            fprintf (stderr, "usage: bench_exchange [--agents N] [--dim D] [--rounds R] [--codec SPEC] "
                             "[--topology T] [--mode sync|async] [--error-feedback]\n");
            return 2;
        }
    }
    if (n < 1 || n > 64 || rounds < 1) {
        fprintf (stderr, "bench_exchange: --agents 1..64 and --rounds >= 1\n");
        return 2;
    }
    mdl_agent_cfg_t *cfg = mdl_agent_cfg_new ();
    if (!cfg || s_set (cfg, "model", "") || s_set (cfg, "dim", dim) || s_set (cfg, "codec", codec)
        || s_set (cfg, "topology", topology) || s_set (cfg, "mode", mode)
        || s_set (cfg, "error-feedback", ef ? "true" : "false") || s_set (cfg, "hello-interval", "0.05"))
        return 2;
    int err = 0;
    mdl_cluster_t *cl = mdl_cluster_create (cfg, n, NULL, 0, &err);
    if (!cl) {
        fprintf (stderr, "bench_exchange: %s\n", mdl_error_detail ());
        return 2;
    }
    const size_t d = mdl_cluster_dim (cl);
    mdl_cluster_wait_peers (cl, 30, NULL);
    s_worker_t *w = calloc ((size_t) n, sizeof *w);
    pthread_t *th = calloc ((size_t) n, sizeof *th);
    for (int i = 0; i < n; i++) {
        w[i] = (s_worker_t) { .agent = mdl_cluster_agent (cl, i), .d = d, .rounds = rounds };
        w[i].x = calloc (d, sizeof (float));
        for (size_t k = 0; w[i].x && k < d; k++)
            w[i].x[k] = (float) i + (float) k * 1e-6f;
    }
    const double c0 = s_cpu (), t0 = s_wall ();
    for (int i = 0; i < n; i++)
        pthread_create (&th[i], NULL, s_run, &w[i]);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        pthread_join (th[i], NULL);
        if (w[i].rc) {
            fprintf (stderr, "bench_exchange: agent %d: %s\n", i, mdl_strerror (w[i].rc));
            rc = 1;
        }
    }
    const double cpu = s_cpu () - c0, wall = s_wall () - t0;
    double sent = 0, applied = 0;
    mdl_cluster_counter (cl, "bytes_sent", &sent);
    mdl_cluster_counter (cl, "updates_applied", &applied);
    const int degree = n > 1 ? (int) lround (applied / ((double) n * rounds)) : 0;
    /* the floor's best of 5: on a shared machine the least disturbed run is the closest
       to its cost */
    double floor_us = INFINITY;
    for (int k = 0; k < 5; k++)
        floor_us = fmin (floor_us, s_floor_cpu_us (d, degree, 20));
    const double per = (double) n * rounds;
    printf ("exchange: agents=%d dim=%zu codec=%s%s topology=%s mode=%s rounds=%d degree=%d cpu_us_per_exchange=%.1f "
            "wall_us_per_round=%.1f floor_cpu_us=%.1f overhead=%.2f bytes_per_exchange=%.0f\n",
            n, d, codec, ef ? "+ef" : "", topology, mode, rounds, degree, cpu / per * 1e6, wall / rounds * 1e6, floor_us,
            cpu / per * 1e6 / floor_us, sent / per);
    mdl_cluster_destroy (&cl);
    for (int i = 0; i < n; i++)
        free (w[i].x);
    free (w);
    free (th);
    mdl_agent_cfg_destroy (&cfg);
    return rc;
}
