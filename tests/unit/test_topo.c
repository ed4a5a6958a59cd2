/*  test_topo.c: topologies: parsing, graph shape, symmetry, double stochasticity,
    spectral gaps against closed forms, and exact finite-time averaging of the
    time-varying graphs (one-peer exponential, Base-(k+1)). */
#include "testutil.h"

#include "err.h"
#include "rng.h"
#include "topo.h"
#include "weights.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_TOL 1e-12

static const char *s_all_names[] = {
    "complete", "ring", "torus", "exp", "one-peer-exp",
    "base:1", "base:2", "base:3", "random:1", "random:3", "random:4",
};
#define S_NNAMES (sizeof s_all_names / sizeof s_all_names[0])

static mdl_topo_t *
s_topo (const char *name)
{
    int err = -1;
    mdl_topo_t *t = mdl_topo_new (name, 42, &err);
    assert_non_null (t);
    assert_int_equal (err, 0);
    return t;
}

/* W(t) with uniform weights; caller frees. */
static double *
s_matrix (const mdl_topo_t *topo, mdl_weights_t kind, uint32_t n, uint64_t t)
{
    double *W = malloc ((size_t) n * n * sizeof *W);
    assert_non_null (W);
    assert_int_equal (mdl_weights_matrix (kind, topo, n, t, W), 0);
    return W;
}

static void
s_assert_doubly_stochastic (const double *W, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        double rs = 0.0, cs = 0.0;
        for (uint32_t j = 0; j < n; j++) {
            assert_true (W[i * n + j] >= 0.0);
            rs += W[i * n + j];
            cs += W[j * n + i];
        }
        assert_true (fabs (rs - 1.0) < S_TOL);
        assert_true (fabs (cs - 1.0) < S_TOL);
    }
}

static bool
s_symmetric (const double *W, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < i; j++)
            if (fabs (W[i * n + j] - W[j * n + i]) > S_TOL)
                return false;
    return true;
}

/* C = A B, n x n. */
static void
s_matmul (const double *A, const double *B, double *C, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < n; j++) {
            double s = 0.0;
            for (uint32_t k = 0; k < n; k++)
                s += A[i * n + k] * B[k * n + j];
            C[i * n + j] = s;
        }
}

/* max |P - 11^T/n| for P = W(p-1) ... W(1) W(0), p = the period. */
static double
s_period_product_error (const mdl_topo_t *topo, uint32_t n, int period)
{
    double *P = calloc ((size_t) n * n, sizeof *P), *tmp = malloc ((size_t) n * n * sizeof *tmp);
    assert_non_null (P);
    assert_non_null (tmp);
    for (uint32_t i = 0; i < n; i++)
        P[i * n + i] = 1.0;
    for (int t = 0; t < period; t++) {
        double *W = s_matrix (topo, MDL_WEIGHTS_UNIFORM, n, (uint64_t) t);
        s_matmul (W, P, tmp, n);
        memcpy (P, tmp, (size_t) n * n * sizeof *P);
        free (W);
    }
    double err = 0.0;
    for (size_t k = 0; k < (size_t) n * n; k++)
        err = fmax (err, fabs (P[k] - 1.0 / n));
    free (P);
    free (tmp);
    return err;
}

/* Eigenvalues of the symmetric n x n matrix S (cyclic Jacobi), descending. */
static void
s_eigenvalues (const double *S, uint32_t n, double *ev)
{
    double *a = malloc ((size_t) n * n * sizeof *a);
    assert_non_null (a);
    memcpy (a, S, (size_t) n * n * sizeof *a);
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0.0;
        for (uint32_t p = 0; p < n; p++)
            for (uint32_t q = p + 1; q < n; q++)
                off += a[p * n + q] * a[p * n + q];
        if (off < 1e-26)
            break;
        for (uint32_t p = 0; p < n; p++)
            for (uint32_t q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (fabs (apq) < 1e-300)
                    continue;
                double theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs (theta) + sqrt (theta * theta + 1.0));
                double c = 1.0 / sqrt (t * t + 1.0), s = t * c;
                for (uint32_t k = 0; k < n; k++) {
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for (uint32_t k = 0; k < n; k++) {
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
            }
    }
    for (uint32_t i = 0; i < n; i++)
        ev[i] = a[i * n + i];
    free (a);
    for (uint32_t i = 1; i < n; i++)             /* insertion sort, descending */
        for (uint32_t j = i; j > 0 && ev[j - 1] < ev[j]; j--) {
            double x = ev[j];
            ev[j] = ev[j - 1];
            ev[j - 1] = x;
        }
}

/* 1 - max(|lambda_2|, |lambda_n|) for eigenvalues sorted descending, lambda_1 = 1. */
static double
s_gap (const double *ev, uint32_t n)
{
    return n < 2 ? 1.0 : 1.0 - fmax (fabs (ev[1]), fabs (ev[n - 1]));
}

static int
s_cmp_desc (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x < y) - (x > y);
}

/* Checks the computed spectrum of W against expected[] (any order) and the gap. */
static void
s_assert_spectrum (const double *W, uint32_t n, double *expected)
{
    double *ev = malloc (n * sizeof *ev);
    assert_non_null (ev);
    s_eigenvalues (W, n, ev);
    qsort (expected, n, sizeof *expected, s_cmp_desc);
    for (uint32_t k = 0; k < n; k++)
        assert_true (fabs (ev[k] - expected[k]) < 1e-9);
    assert_true (fabs (s_gap (ev, n) - s_gap (expected, n)) < 1e-9);
    free (ev);
}

static void
test_new_rejects_unknown_and_malformed_names (void **state)
{
    const char *bad[] = {
        "", "rings", "Ring", "ring:3", "ring ", "exp:2", "base", "base:", "base:0",
        "base:-1", "base:+1", "base:1x", "base: 1", "base:1025", "base:99999999999999999999",
        "random", "random:0", "random:257", "random:3:4", "one-peer", ":", "torus:2",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int err = 0;
        assert_null (mdl_topo_new (bad[k], 1, &err));
        assert_int_equal (err, MDL_ETOPO);
    }
    int err = 0;
    assert_null (mdl_topo_new (NULL, 1, &err));
    assert_int_equal (err, MDL_ETOPO);
    assert_null (mdl_topo_new ("nope", 1, NULL));       /* err is optional */
    assert_non_null (strstr (mdl_topo_help (), "one-peer-exp"));
    assert_non_null (strstr (mdl_topo_help (), "base:K"));
    assert_non_null (strstr (mdl_topo_help (), "random:D"));
}

static void
test_new_accepts_every_documented_name_and_canonicalises_it (void **state)
{
    const char *in[] = { "complete", "ring", "torus", "exp", "one-peer-exp", "base:007",
                         "base:1024", "random:1", "random:256" };
    const char *out[] = { "complete", "ring", "torus", "exp", "one-peer-exp", "base:7",
                          "base:1024", "random:1", "random:256" };
    for (size_t k = 0; k < sizeof in / sizeof in[0]; k++) {
        mdl_topo_t *t = s_topo (in[k]);
        assert_string_equal (mdl_topo_name (t), out[k]);
        mdl_topo_destroy (&t);
    }
    mdl_topo_t *t = s_topo ("exp");
    assert_true (mdl_topo_directed (t));
    assert_false (mdl_topo_time_varying (t));
    mdl_topo_destroy (&t);
    t = s_topo ("base:2");
    assert_false (mdl_topo_directed (t));
    assert_true (mdl_topo_time_varying (t));
    assert_true (mdl_topo_fixed_weights (t));
    mdl_topo_destroy (&t);
}

static void
test_destroy_is_idempotent_and_nulls_the_pointer (void **state)
{
    mdl_topo_t *t = s_topo ("ring");
    mdl_topo_destroy (&t);
    assert_null (t);
    mdl_topo_destroy (&t);
    mdl_topo_destroy (NULL);
}

static void
test_neighbor_lists_are_sorted_distinct_without_self_and_match_the_matrix (void **state)
{
    uint32_t nbr[64], out[64];
    for (size_t k = 0; k < S_NNAMES; k++) {
        mdl_topo_t *topo = s_topo (s_all_names[k]);
        for (uint32_t n = 1; n <= 40; n++)
            for (uint64_t t = 0; t < 6; t++) {
                double *W = s_matrix (topo, MDL_WEIGHTS_UNIFORM, n, t);
                for (uint32_t i = 0; i < n; i++) {
                    size_t cnt, deg, ocnt;
                    assert_int_equal (mdl_topo_neighbors (topo, n, i, t, nbr, 64, &cnt), 0);
                    assert_int_equal (mdl_topo_degree (topo, n, i, t, &deg), 0);
                    assert_int_equal (deg, cnt);
                    size_t support = 0;
                    for (uint32_t j = 0; j < n; j++)
                        support += j != i && W[i * n + j] > 0.0;
                    assert_int_equal (support, cnt);
                    for (size_t a = 0; a < cnt; a++) {
                        assert_true (nbr[a] < n);
                        assert_true (nbr[a] != i);
                        assert_true (a == 0 || nbr[a - 1] < nbr[a]);
                        assert_true (W[i * n + nbr[a]] > 0.0);
                    }
                    /* out-neighbours of i = the agents whose row has i */
                    assert_int_equal (mdl_topo_out_neighbors (topo, n, i, t, out, 64, &ocnt), 0);
                    size_t ocol = 0;
                    for (uint32_t j = 0; j < n; j++)
                        ocol += j != i && W[j * n + i] > 0.0;
                    assert_int_equal (ocol, ocnt);
                    for (size_t a = 0; a < ocnt; a++)
                        assert_true (W[out[a] * n + i] > 0.0);
                }
                free (W);
            }
        mdl_topo_destroy (&topo);
    }
}

static void
test_every_w_is_doubly_stochastic_and_undirected_ones_are_symmetric (void **state)
{
    for (size_t k = 0; k < S_NNAMES; k++) {
        mdl_topo_t *topo = s_topo (s_all_names[k]);
        for (uint32_t n = 1; n <= 40; n++)
            for (uint64_t t = 0; t < 4; t++)
                for (int kind = 0; kind < 2; kind++) {
                    double *W = s_matrix (topo, (mdl_weights_t) kind, n, t);
                    s_assert_doubly_stochastic (W, n);
                    if (!mdl_topo_directed (topo))
                        assert_true (s_symmetric (W, n));
                    free (W);
                }
        mdl_topo_destroy (&topo);
    }
}

static void
test_one_agent_is_the_identity_and_two_agents_average_in_one_round (void **state)
{
    for (size_t k = 0; k < S_NNAMES; k++) {
        mdl_topo_t *topo = s_topo (s_all_names[k]);
        assert_int_equal (mdl_topo_period (topo, 1), 1);
        double *W = s_matrix (topo, MDL_WEIGHTS_MH, 1, 0);
        assert_true (W[0] == 1.0);
        free (W);
        W = s_matrix (topo, MDL_WEIGHTS_MH, 2, 0);
        for (int e = 0; e < 4; e++)
            assert_true (fabs (W[e] - 0.5) < S_TOL);
        free (W);
        mdl_topo_destroy (&topo);
    }
}

static void
test_exp_graph_hears_powers_of_two_and_is_directed (void **state)
{
    mdl_topo_t *topo = s_topo ("exp");
    uint32_t nbr[16];
    size_t cnt;
    assert_int_equal (mdl_topo_neighbors (topo, 12, 1, 0, nbr, 16, &cnt), 0);
    /* 1 - {1, 2, 4, 8} mod 12 = {0, 11, 9, 5} */
    assert_int_equal (cnt, 4);
    assert_int_equal (nbr[0], 0);
    assert_int_equal (nbr[1], 5);
    assert_int_equal (nbr[2], 9);
    assert_int_equal (nbr[3], 11);
    assert_int_equal (mdl_topo_out_neighbors (topo, 12, 1, 0, nbr, 16, &cnt), 0);
    assert_int_equal (cnt, 4);                  /* 1 + {1, 2, 4, 8} = {2, 3, 5, 9} */
    assert_int_equal (nbr[0], 2);
    assert_int_equal (nbr[3], 9);
    double *W = s_matrix (topo, MDL_WEIGHTS_UNIFORM, 12, 0);
    assert_false (s_symmetric (W, 12));
    assert_true (fabs (W[1 * 12 + 5] - 0.2) < S_TOL);
    free (W);
    assert_int_equal (mdl_topo_period (topo, 12), 1);
    mdl_topo_destroy (&topo);
}

static void
test_ring_spectral_gap_matches_the_closed_form (void **state)
{
    mdl_topo_t *topo = s_topo ("ring");
    for (uint32_t n = 3; n <= 30; n++) {
        double *W = s_matrix (topo, MDL_WEIGHTS_UNIFORM, n, 0);
        double expected[30];
        for (uint32_t k = 0; k < n; k++)
            expected[k] = (1.0 + 2.0 * cos (2.0 * M_PI * k / n)) / 3.0;
        s_assert_spectrum (W, n, expected);
        free (W);
    }
    mdl_topo_destroy (&topo);
}

static void
test_complete_graph_spectral_gap_is_one (void **state)
{
    mdl_topo_t *topo = s_topo ("complete");
    for (uint32_t n = 2; n <= 16; n++) {
        double *W = s_matrix (topo, MDL_WEIGHTS_MH, n, 0);
        double expected[16] = { 1.0 };          /* 1 once, then zeros */
        s_assert_spectrum (W, n, expected);
        free (W);
    }
    mdl_topo_destroy (&topo);
}

static void
test_torus_is_the_most_square_rectangle_and_its_gap_matches_the_closed_form (void **state)
{
    mdl_topo_t *topo = s_topo ("torus");
    const uint32_t rc[][2] = { { 3, 3 }, { 3, 4 }, { 3, 5 }, { 4, 4 }, { 4, 5 }, { 5, 5 },
                               { 5, 6 }, { 6, 6 }, { 3, 7 }, { 6, 7 } };
    for (size_t k = 0; k < sizeof rc / sizeof rc[0]; k++) {
        uint32_t r = rc[k][0], c = rc[k][1], n = r * c;
        double *W = s_matrix (topo, MDL_WEIGHTS_UNIFORM, n, 0);
        double expected[64];
        for (uint32_t a = 0; a < r; a++)
            for (uint32_t b = 0; b < c; b++)
                expected[a * c + b] = (1.0 + 2.0 * cos (2.0 * M_PI * a / r)
                                       + 2.0 * cos (2.0 * M_PI * b / c)) / 5.0;
        s_assert_spectrum (W, n, expected);
        free (W);
    }
    uint32_t nbr[8];
    size_t cnt;
    assert_int_equal (mdl_topo_neighbors (topo, 12, 5, 0, nbr, 8, &cnt), 0);
    assert_int_equal (cnt, 4);                  /* 3 x 4: (1,1) -> 1, 4, 6, 9 */
    assert_int_equal (nbr[0], 1);
    assert_int_equal (nbr[1], 4);
    assert_int_equal (nbr[2], 6);
    assert_int_equal (nbr[3], 9);
    assert_int_equal (mdl_topo_neighbors (topo, 14, 0, 0, nbr, 8, &cnt), 0);
    assert_int_equal (cnt, 3);                  /* 2 x 7: up = down */
    mdl_topo_t *ring = s_topo ("ring");         /* prime n: the ring */
    double *W = s_matrix (topo, MDL_WEIGHTS_UNIFORM, 13, 0);
    double *R = s_matrix (ring, MDL_WEIGHTS_UNIFORM, 13, 0);
    assert_memory_equal (W, R, 13 * 13 * sizeof *W);
    free (W);
    free (R);
    mdl_topo_destroy (&ring);
    mdl_topo_destroy (&topo);
}

static void
test_one_peer_exp_averages_exactly_over_a_period_iff_n_is_a_power_of_two (void **state)
{
    mdl_topo_t *topo = s_topo ("one-peer-exp");
    for (uint32_t n = 2; n <= 64; n++) {
        int period = mdl_topo_period (topo, n);
        int tau = 0;
        while ((1u << tau) < n)
            tau++;
        assert_int_equal (period, tau);
        bool pow2 = (n & (n - 1)) == 0;
        double err = s_period_product_error (topo, n, period);
        if (pow2)
            assert_true (err < 1e-12);
        else
            assert_true (err > 1e-3);
        /* a single peer each round, cycling through the distances 2^k */
        uint32_t nbr[4];
        size_t cnt;
        assert_int_equal (mdl_topo_neighbors (topo, n, 0, 1, nbr, 4, &cnt), 0);
        assert_int_equal (cnt, 1);
        assert_int_equal (nbr[0], (n - (period > 1 ? 2 : 1)) % n);
    }
    mdl_topo_destroy (&topo);
}

static void
test_base_graph_averages_exactly_for_every_n_from_2_to_64 (void **state)
{
    char name[16];
    uint32_t nbr[8];
    for (uint32_t k = 1; k <= 4; k++) {
        snprintf (name, sizeof name, "base:%u", k);
        mdl_topo_t *topo = s_topo (name);
        for (uint32_t n = 1; n <= 64; n++) {
            int period = mdl_topo_period (topo, n);
            /* the paper's bound: at most 2 log_{k+1}(n) + 2 rounds */
            int lg = 0;
            for (uint64_t p = k + 1; p <= n; p *= k + 1)
                lg++;
            assert_true (period >= 1 && period <= 2 * lg + 2);
            for (int t = 0; t < period; t++) {
                for (uint32_t i = 0; i < n; i++) {
                    size_t cnt;
                    assert_int_equal (mdl_topo_neighbors (topo, n, i, (uint64_t) t, nbr, 8, &cnt), 0);
                    assert_true (cnt <= k);
                }
                double *W = s_matrix (topo, MDL_WEIGHTS_UNIFORM, n, (uint64_t) t);
                s_assert_doubly_stochastic (W, n);
                assert_true (s_symmetric (W, n));
                free (W);
            }
            assert_true (s_period_product_error (topo, n, period) < 1e-9);
            /* the next period starts again at W(0) */
            double *W0 = s_matrix (topo, MDL_WEIGHTS_UNIFORM, n, 0);
            double *Wp = s_matrix (topo, MDL_WEIGHTS_UNIFORM, n, (uint64_t) period);
            assert_memory_equal (W0, Wp, (size_t) n * n * sizeof *W0);
            free (W0);
            free (Wp);
        }
        mdl_topo_destroy (&topo);
    }
}

/* Runs one period of mixing on a vector through the sparse rows; returns the max
   deviation from the initial mean. O(period * n * k): fine for large n. */
static double
s_mix_one_period (const mdl_topo_t *topo, uint32_t n, uint64_t t0)
{
    double *x = malloc (n * sizeof *x), *y = malloc (n * sizeof *y), w[64];
    uint32_t nbr[64];
    assert_non_null (x);
    assert_non_null (y);
    mdl_rng_t rng;
    mdl_rng_seed (&rng, n, 7);
    double mean = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        x[i] = mdl_rng_normal (&rng) * 10.0;
        mean += x[i] / n;
    }
    int period = mdl_topo_period (topo, n);
    for (int t = 0; t < period; t++) {
        for (uint32_t i = 0; i < n; i++) {
            size_t cnt;
            double self;
            assert_int_equal (mdl_weights_row (MDL_WEIGHTS_MH, topo, n, i, t0 + (uint64_t) t, NULL,
                                               nbr, w, 64, &cnt, &self), 0);
            y[i] = self * x[i];
            for (size_t a = 0; a < cnt; a++)
                y[i] += w[a] * x[nbr[a]];
        }
        memcpy (x, y, n * sizeof *x);
    }
    double err = 0.0;
    for (uint32_t i = 0; i < n; i++)
        err = fmax (err, fabs (x[i] - mean));
    free (x);
    free (y);
    return err;
}

static void
test_base_graph_averages_exactly_for_large_and_awkward_n (void **state)
{
    const uint32_t ns[] = { 65, 97, 100, 127, 128, 243, 255, 500, 1000, 1023, 4099 };
    char name[16];
    for (uint32_t k = 1; k <= 7; k++) {
        snprintf (name, sizeof name, "base:%u", k);
        mdl_topo_t *topo = s_topo (name);
        for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
            assert_true (s_mix_one_period (topo, ns[a], 0) < 1e-9);
            /* from any multiple of the period */
            uint64_t p = (uint64_t) mdl_topo_period (topo, ns[a]);
            assert_true (s_mix_one_period (topo, ns[a], 5 * p) < 1e-9);
        }
        mdl_topo_destroy (&topo);
    }
    mdl_topo_t *topo = s_topo ("base:1024");       /* k >= n - 1: one clique */
    assert_int_equal (mdl_topo_period (topo, 30), 1);
    assert_true (s_mix_one_period (topo, 30, 0) < 1e-12);
    mdl_topo_destroy (&topo);
}

static void
test_random_graph_is_regular_and_redrawn_each_round_from_the_seed (void **state)
{
    uint32_t D[] = { 1, 2, 3, 4, 5, 8 };
    for (size_t a = 0; a < sizeof D / sizeof D[0]; a++) {
        char name[16];
        snprintf (name, sizeof name, "random:%u", D[a]);
        mdl_topo_t *topo = s_topo (name);
        int err;
        mdl_topo_t *same = mdl_topo_new (name, 42, &err);
        mdl_topo_t *other = mdl_topo_new (name, 43, &err);
        for (uint32_t n = 1; n <= 40; n++) {
            uint32_t d = D[a] > n - 1 ? n - 1 : D[a];
            if ((d & 1) && (n & 1))
                d++;
            assert_int_equal (mdl_topo_period (topo, n), n <= 2 ? 1 : 0);
            int differ_t = 0, differ_seed = 0;
            for (uint64_t t = 0; t < 8; t++) {
                double *W = s_matrix (topo, MDL_WEIGHTS_MH, n, t);
                double *S = s_matrix (same, MDL_WEIGHTS_MH, n, t);
                double *O = s_matrix (other, MDL_WEIGHTS_MH, n, t);
                double *N = s_matrix (topo, MDL_WEIGHTS_MH, n, t + 1);
                assert_memory_equal (W, S, (size_t) n * n * sizeof *W);
                differ_seed += memcmp (W, O, (size_t) n * n * sizeof *W) != 0;
                differ_t += memcmp (W, N, (size_t) n * n * sizeof *W) != 0;
                assert_true (s_symmetric (W, n));
                for (uint32_t i = 0; i < n; i++) {
                    size_t cnt;
                    uint32_t nbr[64];
                    assert_int_equal (mdl_topo_neighbors (topo, n, i, t, nbr, 64, &cnt), 0);
                    assert_int_equal (cnt, d);
                    assert_true (fabs (W[i * n + i] - 1.0 / (d + 1)) < S_TOL);
                }
                free (W);
                free (S);
                free (O);
                free (N);
            }
            /* a non-complete graph has many draws: 8 rounds cannot all repeat */
            if (d < n - 1 && n >= 8) {
                assert_true (differ_t > 0);
                assert_true (differ_seed > 0);
            }
        }
        mdl_topo_destroy (&topo);
        mdl_topo_destroy (&same);
        mdl_topo_destroy (&other);
    }
}

static void
test_random_graph_is_connected_on_average_and_mixes (void **state)
{
    /* Gossip over fresh random 4-regular graphs must contract the spread fast. */
    mdl_topo_t *topo = s_topo ("random:4");
    const uint32_t n = 200;
    double x[200], y[200], w[8];
    uint32_t nbr[8];
    for (uint32_t i = 0; i < n; i++)
        x[i] = (double) i;
    double mean = (n - 1) / 2.0;
    for (uint64_t t = 0; t < 60; t++) {
        for (uint32_t i = 0; i < n; i++) {
            size_t cnt;
            double self;
            assert_int_equal (mdl_weights_row (MDL_WEIGHTS_MH, topo, n, i, t, NULL, nbr, w, 8,
                                               &cnt, &self), 0);
            y[i] = self * x[i];
            for (size_t a = 0; a < cnt; a++)
                y[i] += w[a] * x[nbr[a]];
        }
        memcpy (x, y, sizeof x);
    }
    for (uint32_t i = 0; i < n; i++)
        assert_true (fabs (x[i] - mean) < 1e-3 * mean);
    mdl_topo_destroy (&topo);
}

static void
test_rows_report_range_and_invalid_arguments (void **state)
{
    mdl_topo_t *topo = s_topo ("complete");
    uint32_t nbr[4];
    size_t cnt = 0;
    assert_int_equal (mdl_topo_neighbors (topo, 10, 3, 0, nbr, 4, &cnt), MDL_ERANGE);
    assert_int_equal (cnt, 9);
    assert_int_equal (mdl_topo_neighbors (topo, 10, 10, 0, nbr, 4, &cnt), MDL_EINVAL);
    assert_int_equal (mdl_topo_neighbors (topo, 0, 0, 0, nbr, 4, &cnt), MDL_EINVAL);
    assert_int_equal (mdl_topo_period (topo, 0), MDL_EINVAL);
    size_t deg;
    assert_int_equal (mdl_topo_degree (topo, 3, 3, 0, &deg), MDL_EINVAL);
    assert_int_equal (mdl_topo_neighbors (topo, 5, 0, 0, nbr, 4, &cnt), 0);
    assert_int_equal (cnt, 4);
    mdl_topo_destroy (&topo);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_new_rejects_unknown_and_malformed_names),
        cmocka_unit_test (test_new_accepts_every_documented_name_and_canonicalises_it),
        cmocka_unit_test (test_destroy_is_idempotent_and_nulls_the_pointer),
        cmocka_unit_test (test_neighbor_lists_are_sorted_distinct_without_self_and_match_the_matrix),
        cmocka_unit_test (test_every_w_is_doubly_stochastic_and_undirected_ones_are_symmetric),
        cmocka_unit_test (test_one_agent_is_the_identity_and_two_agents_average_in_one_round),
        cmocka_unit_test (test_exp_graph_hears_powers_of_two_and_is_directed),
        cmocka_unit_test (test_ring_spectral_gap_matches_the_closed_form),
        cmocka_unit_test (test_complete_graph_spectral_gap_is_one),
        cmocka_unit_test (test_torus_is_the_most_square_rectangle_and_its_gap_matches_the_closed_form),
        cmocka_unit_test (test_one_peer_exp_averages_exactly_over_a_period_iff_n_is_a_power_of_two),
        cmocka_unit_test (test_base_graph_averages_exactly_for_every_n_from_2_to_64),
        cmocka_unit_test (test_base_graph_averages_exactly_for_large_and_awkward_n),
        cmocka_unit_test (test_random_graph_is_regular_and_redrawn_each_round_from_the_seed),
        cmocka_unit_test (test_random_graph_is_connected_on_average_and_mixes),
        cmocka_unit_test (test_rows_report_range_and_invalid_arguments),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
