/*  bench_stream.c: what this machine's memory moves per second, for the bytes a gossip
    step touches (README, "What decentralization costs"). One thread:

      copy   memcpy of an array far larger than the caches (read + written bytes / s).
      mix    mdl_vec_mix_checked, the one pass of D-PSGD's mixing, with k neighbours:
             reads x and k vectors, writes x ((k + 2) d floats per pass), at d floats
             (the benchmark MLP's 235 146 by default) and with enough distinct vector
             sets that they do not stay in cache between passes, as in `meshdl sim`
             where every agent mixes its own.

    Best of R repetitions (wall time of a pass; the fastest is the one least disturbed by
    other jobs on a shared machine).

    usage: bench_stream [--mb MB] [--d D] [--k K] [--sets S] [--reps R]
    defaults: --mb 256 --d 235146 --k 2 --sets 16 --reps 10
    Output: one "stream: k=v ..." line. Exit status 0, 2 on bad options. */
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
    for (long i = 0; i < sets * (k + 1); i++)
        free (vs[i]);
    free (vs);
    free (src);
    free (dst);
    return 0;
}
