/*  bench_codec.c: throughput, wire size and error of every codec, beside memcpy.

    For d = 10^4, 10^6, 10^7 (or the sizes given as arguments) and a Gaussian vector:
    encode and decode throughput (elements/s, median of repeated runs), bytes per
    element on the wire (payload plus a packed header), the relative error
    ||x - decode(encode(x))|| / ||x||, and encode time over the time of one memcpy of
    the vector (the memory-bandwidth limit). Lines starting with RESULT are for
    bench/codec.sh. Single-threaded. Usage: bench_codec [d ...] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "rng.h"
#include "wire.h"

static const char *s_specs[] = {
    "fp32", "fp16",      "bf16",        "q8",          "q4",          "qsgd:8",
    "qsgd:4", "qsgd:2",  "sign",        "topk:0.01",   "topk:0.001",  "topk:0.01+q8",
    "randk:0.01",        "randk:0.01+q8",
};

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

static int
s_cmp (const void *a, const void *b)
{
    const double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/* Repetitions for a vector of d floats: ~0.5 s of work for the fast kernels, >= 5. */
static int
s_reps (size_t d)
{
    long r = (long) (2e8 / (double) (d + 1000));
    return r < 5 ? 5 : r > 2001 ? 2001 : (int) r;
}

static volatile float s_sink;

#define S_TIME(med, reps, stmt)                                                          \
    do {                                                                                 \
        double *t_ = malloc ((size_t) (reps) * sizeof *t_);                              \
        for (int r_ = 0; r_ < (reps); r_++) {                                            \
            double t0_ = s_now ();                                                       \
            stmt;                                                                        \
            t_[r_] = s_now () - t0_;                                                     \
        }                                                                                \
        qsort (t_, (size_t) (reps), sizeof *t_, s_cmp);                                  \
        (med) = t_[(reps) / 2];                                                          \
        free (t_);                                                                       \
    } while (0)

int
main (int argc, char **argv)
{
    size_t dims[8] = { 10000, 1000000, 10000000 };
    int ndims = 3;
    if (argc > 1) {
        ndims = 0;
        for (int a = 1; a < argc && ndims < 8; a++)
            dims[ndims++] = (size_t) strtod (argv[a], NULL);
    }
    printf ("%-16s %9s %12s %12s %9s %10s %9s\n", "codec", "d", "enc Melem/s", "dec Melem/s",
            "B/elem", "rel.err", "enc/memcpy");
    for (int di = 0; di < ndims; di++) {
        const size_t d = dims[di];
        float *x = malloc (d * sizeof *x), *y = malloc (d * sizeof *y),
              *z = malloc (d * sizeof *z);
        mdl_rng_t r;
        mdl_rng_seed (&r, 2024, 1);
        for (size_t i = 0; i < d; i++)
            x[i] = (float) mdl_rng_normal (&r);
        memset (y, 0, d * sizeof *y);
        memset (z, 0, d * sizeof *z);
        const int reps = s_reps (d);
        double t_memcpy;
        S_TIME (t_memcpy, reps, memcpy (y, x, d * sizeof *x); s_sink = y[d / 2]);
        printf ("%-16s %9zu %12.1f %12s %9.3f %10s %9.2f\n", "memcpy", d,
                (double) d / t_memcpy / 1e6, "", 4.0, "0", 1.0);
        printf ("RESULT memcpy %zu %.9f\n", d, t_memcpy);
        double n2 = 0;
        for (size_t i = 0; i < d; i++)
            n2 += (double) x[i] * x[i];
        for (size_t s = 0; s < sizeof s_specs / sizeof s_specs[0]; s++) {
            int err;
            mdl_codec_t *c = mdl_codec_new (s_specs[s], d, 7, &err);
            if (!c) {
                fprintf (stderr, "bench_codec: %s: error %d\n", s_specs[s], err);
                return 1;
            }
            const size_t cap = mdl_codec_max_size (c);
            void *p = mdl_wire_payload_alloc (cap);
            memset (p, 0, cap);
            size_t len = 0;
            int rc = 0;
            double t_enc, t_dec;
            S_TIME (t_enc, reps, rc |= mdl_codec_encode (c, x, p, cap, &len, NULL));
            S_TIME (t_dec, reps, rc |= mdl_codec_decode (c, p, len, z));
            if (rc) {
                fprintf (stderr, "bench_codec: %s failed\n", s_specs[s]);
                return 1;
            }
            double e2 = 0;
            for (size_t i = 0; i < d; i++)
                e2 += ((double) x[i] - z[i]) * ((double) x[i] - z[i]);
            mdl_wire_header_t h;
            mdl_wire_header_init (&h, 1, 1, c);
            h.payload_len = len;
            uint8_t head[MDL_WIRE_HEADER_MAX];
            size_t hlen;
            mdl_wire_pack (&h, head, sizeof head, &hlen);
            const double bpe = (double) (len + hlen + 1) / (double) d;
            printf ("%-16s %9zu %12.1f %12.1f %9.4f %10.4f %9.2f\n", s_specs[s], d,
                    (double) d / t_enc / 1e6, (double) d / t_dec / 1e6, bpe,
                    sqrt (e2 / n2), t_enc / t_memcpy);
            printf ("RESULT %s %zu %.9f %.9f %.6f %.6f\n", s_specs[s], d, t_enc, t_dec, bpe,
                    sqrt (e2 / n2));
            mdl_wire_payload_free (p, NULL);
            mdl_codec_destroy (&c);
        }
        free (x);
        free (y);
        free (z);
    }
    return 0;
}
