/*  bench_topo.c: cost of one mixing row per topology (what an agent pays per round),
    and the Base-(k+1) period against the exponential graphs'.

    usage: bench_topo [n ...]   (default: 16 64 256 1024) */
#include "topo.h"
#include "weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

int
main (int argc, char **argv)
{
    static const char *names[] = { "complete", "ring", "torus", "exp", "one-peer-exp",
                                   "base:1", "base:3", "random:4" };
    uint32_t ns[16] = { 16, 64, 256, 1024 };
    int nn = 4;
    if (argc > 1) {
        nn = 0;
        for (int a = 1; a < argc && nn < 16; a++)
            ns[nn++] = (uint32_t) strtoul (argv[a], NULL, 10);
    }
    printf ("%-14s %8s %8s %12s\n", "topology", "n", "period", "ns/row(mh)");
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        int err;
        mdl_topo_t *topo = mdl_topo_new (names[k], 1, &err);
        if (!topo)
            return 1;
        for (int a = 0; a < nn; a++) {
            uint32_t n = ns[a];
            if (n == 0)
                continue;
            uint32_t *nbr = malloc (n * sizeof *nbr);
            double *w = malloc (n * sizeof *w), self, sink = 0.0;
            if (!nbr || !w)
                return 1;
            size_t cnt, calls = 0;
            double t0 = s_now (), t1;
            do {
                for (uint32_t i = 0; i < n && i < 256; i++, calls++) {
                    mdl_weights_row (MDL_WEIGHTS_MH, topo, n, i, calls, NULL, nbr, w, n, &cnt,
                                     &self);
                    sink += self;
                }
                t1 = s_now ();
            } while (t1 - t0 < 0.2);
            printf ("%-14s %8u %8d %12.0f%s\n", names[k], (unsigned) n,
                    mdl_topo_period (topo, n), 1e9 * (t1 - t0) / (double) calls,
                    sink < 0 ? "?" : "");
            free (nbr);
            free (w);
        }
        mdl_topo_destroy (&topo);
    }
    printf ("\nBase-(k+1) period by n (k = 1, 2, 3) vs one-peer-exp ceil(log2 n):\n");
    int err;
    mdl_topo_t *b1 = mdl_topo_new ("base:1", 0, &err), *b2 = mdl_topo_new ("base:2", 0, &err),
               *b3 = mdl_topo_new ("base:3", 0, &err), *op = mdl_topo_new ("one-peer-exp", 0, &err);
    for (uint32_t n = 2; n <= 64; n++)
        printf ("n=%2u: %2d %2d %2d | %d%s", (unsigned) n, mdl_topo_period (b1, n),
                mdl_topo_period (b2, n), mdl_topo_period (b3, n), mdl_topo_period (op, n),
                n % 4 == 1 ? "\n" : "    ");
    printf ("\n");
    mdl_topo_destroy (&b1);
    mdl_topo_destroy (&b2);
    mdl_topo_destroy (&b3);
    mdl_topo_destroy (&op);
    return 0;
}
