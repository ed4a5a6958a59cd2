/*  test_weights.c: Metropolis-Hastings and uniform mixing weights, renormalisation
    over the neighbours heard from, and the full matrix. */
#include "testutil.h"

#include "err.h"
#include "topo.h"
#include "topo_ops.h"
#include "weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define S_TOL 1e-12

static mdl_topo_t *
s_topo (const char *name)
{
    int err = -1;
    mdl_topo_t *t = mdl_topo_new (name, 7, &err);
    assert_non_null (t);
    return t;
}

static void
test_parse_accepts_mh_and_uniform_and_rejects_the_rest (void **state)
{
    mdl_weights_t kind = MDL_WEIGHTS_UNIFORM;
    assert_int_equal (mdl_weights_parse ("mh", &kind), 0);
    assert_int_equal (kind, MDL_WEIGHTS_MH);
    assert_string_equal (mdl_weights_name (kind), "mh");
    assert_int_equal (mdl_weights_parse ("uniform", &kind), 0);
    assert_int_equal (kind, MDL_WEIGHTS_UNIFORM);
    assert_string_equal (mdl_weights_name (kind), "uniform");
    const char *bad[] = { "", "MH", "mh ", "metropolis", "unif", "uniform:1" };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_int_equal (mdl_weights_parse (bad[k], &kind), MDL_EWEIGHTS);
        assert_int_equal (kind, MDL_WEIGHTS_UNIFORM);     /* untouched */
    }
    assert_int_equal (mdl_weights_parse (NULL, &kind), MDL_EWEIGHTS);
    assert_non_null (strstr (mdl_strerror (MDL_EWEIGHTS), "uniform"));
    assert_string_equal (mdl_errname (MDL_EWEIGHTS), "EWEIGHTS");
}

static void
test_uniform_row_gives_everyone_one_over_degree_plus_one (void **state)
{
    mdl_topo_t *topo = s_topo ("exp");
    uint32_t nbr[8];
    double w[8], self;
    size_t cnt;
    assert_int_equal (mdl_weights_row (MDL_WEIGHTS_UNIFORM, topo, 9, 4, 0, NULL, nbr, w, 8,
                                       &cnt, &self), 0);
    assert_int_equal (cnt, 4);                  /* 4 - {1,2,4,8} mod 9 */
    assert_true (fabs (self - 0.2) < S_TOL);
    for (size_t k = 0; k < cnt; k++)
        assert_true (fabs (w[k] - 0.2) < S_TOL);
    mdl_topo_destroy (&topo);
}

static void
test_mh_row_is_one_over_one_plus_the_larger_degree (void **state)
{
    /* Every shipped graph is regular, so MH gives 1/(1+d) everywhere and equals
       uniform; check the values and the equality over all of them. */
    const char *names[] = { "complete", "ring", "torus", "exp", "random:3", "random:6" };
    for (size_t a = 0; a < sizeof names / sizeof names[0]; a++) {
        mdl_topo_t *topo = s_topo (names[a]);
        for (uint32_t n = 1; n <= 30; n++)
            for (uint32_t i = 0; i < n; i++) {
                uint32_t nbr[32], nbr2[32];
                double w[32], w2[32], self, self2;
                size_t cnt, cnt2;
                assert_int_equal (mdl_weights_row (MDL_WEIGHTS_MH, topo, n, i, 3, NULL, nbr, w,
                                                   32, &cnt, &self), 0);
                assert_int_equal (mdl_weights_row (MDL_WEIGHTS_UNIFORM, topo, n, i, 3, NULL,
                                                   nbr2, w2, 32, &cnt2, &self2), 0);
                assert_int_equal (cnt, cnt2);
                double sum = self;
                for (size_t k = 0; k < cnt; k++) {
                    size_t dj;
                    assert_int_equal (mdl_topo_degree (topo, n, nbr[k], 3, &dj), 0);
                    size_t mx = dj > cnt ? dj : cnt;
                    assert_true (fabs (w[k] - 1.0 / (1.0 + (double) mx)) < S_TOL);
                    assert_true (fabs (w[k] - w2[k]) < S_TOL);
                    sum += w[k];
                }
                assert_true (fabs (sum - 1.0) < S_TOL);
                assert_true (fabs (self - self2) < S_TOL);
            }
        mdl_topo_destroy (&topo);
    }
}

/* Irregular graphs, which no shipped topology is (a membership change makes one): a
   star (agent 0 in the middle) and a path 0 - 1 - ... - n-1. */
static void
s_star_row (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t, bool out, mdl_topo_row_t *row)
{
    if (i == 0)
        for (uint32_t j = 1; j < n; j++)
            mdl_topo_row_push (row, j, 0);
    else
        mdl_topo_row_push (row, 0, 0);
}

static void
s_path_row (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t, bool out, mdl_topo_row_t *row)
{
    if (i > 0)
        mdl_topo_row_push (row, i - 1, 0);
    if (i + 1 < n)
        mdl_topo_row_push (row, i + 1, 0);
}

static const mdl_topo_ops_t s_star_ops = { .name = "star", .row = s_star_row };
static const mdl_topo_ops_t s_path_ops = { .name = "path", .row = s_path_row };

static void
test_mh_on_irregular_graphs_gives_each_agent_one_minus_its_neighbours_weights (void **state)
{
    /* Star of 5: w_0j = 1/(1 + max(4, 1)) = 1/5 for every leaf j; the centre keeps
       1 - 4/5 = 1/5 and each leaf 1 - 1/5 = 4/5 (not 1/(1 + d_i) = 1/2). */
    mdl_topo_t star = { .ops = &s_star_ops, .name = "star" };
    double W[25];
    assert_int_equal (mdl_weights_matrix (MDL_WEIGHTS_MH, &star, 5, 0, W), 0);
    const double want_star[25] = { 0.2, 0.2, 0.2, 0.2, 0.2,
                                   0.2, 0.8, 0.0, 0.0, 0.0,
                                   0.2, 0.0, 0.8, 0.0, 0.0,
                                   0.2, 0.0, 0.0, 0.8, 0.0,
                                   0.2, 0.0, 0.0, 0.0, 0.8 };
    for (int k = 0; k < 25; k++)
        assert_true (fabs (W[k] - want_star[k]) < S_TOL);
    /* Path of 4: the ends have degree 1, the middle 2, so every edge weighs 1/3; the ends
       keep 2/3, the middle agents 1/3. Symmetric, so doubly stochastic. */
    mdl_topo_t path = { .ops = &s_path_ops, .name = "path" };
    double P[16];
    assert_int_equal (mdl_weights_matrix (MDL_WEIGHTS_MH, &path, 4, 0, P), 0);
    const double t = 1.0 / 3.0;
    const double want_path[16] = { 2 * t, t, 0, 0,
                                   t, t, t, 0,
                                   0, t, t, t,
                                   0, 0, t, 2 * t };
    for (int k = 0; k < 16; k++)
        assert_true (fabs (P[k] - want_path[k]) < S_TOL);
    for (int i = 0; i < 4; i++) {
        double row = 0, col = 0;
        for (int j = 0; j < 4; j++)
            row += P[i * 4 + j], col += P[j * 4 + i];
        assert_true (fabs (row - 1.0) < S_TOL && fabs (col - 1.0) < S_TOL);
    }
    /* uniform is not doubly stochastic there: a leaf of the star gives itself 1/2 */
    assert_int_equal (mdl_weights_matrix (MDL_WEIGHTS_UNIFORM, &star, 5, 0, W), 0);
    assert_true (fabs (W[6] - 0.5) < S_TOL);
}

static void
test_silent_neighbours_are_dropped_and_the_row_renormalised (void **state)
{
    mdl_topo_t *topo = s_topo ("ring");
    uint32_t nbr[4];
    double w[4], self;
    size_t cnt;
    const uint8_t heard[2] = { 1, 0 };
    assert_int_equal (mdl_weights_row (MDL_WEIGHTS_MH, topo, 5, 2, 0, heard, nbr, w, 4, &cnt,
                                       &self), 0);
    assert_int_equal (cnt, 2);
    assert_int_equal (nbr[0], 1);
    assert_int_equal (nbr[1], 3);
    assert_true (fabs (self - 0.5) < S_TOL);    /* (1/3) / (2/3) */
    assert_true (fabs (w[0] - 0.5) < S_TOL);
    assert_true (w[1] == 0.0);
    mdl_topo_destroy (&topo);

    /* proportions are kept with unequal weights (base graph merge rounds) */
    topo = s_topo ("base:2");
    uint32_t n = 23;
    int period = mdl_topo_period (topo, n);
    int checked = 0;
    for (int t = 0; t < period; t++)
        for (uint32_t i = 0; i < n; i++) {
            double w0[4], s0;
            uint8_t h[4] = { 0, 1, 1, 1 };
            assert_int_equal (mdl_weights_row (MDL_WEIGHTS_MH, topo, n, i, t, NULL, nbr, w0, 4,
                                               &cnt, &s0), 0);
            if (cnt < 2)
                continue;
            assert_int_equal (mdl_weights_row (MDL_WEIGHTS_MH, topo, n, i, t, h, nbr, w, 4,
                                               &cnt, &self), 0);
            double z = s0;
            for (size_t k = 1; k < cnt; k++)
                z += w0[k];
            assert_true (w[0] == 0.0);
            assert_true (fabs (self - s0 / z) < S_TOL);
            double sum = self;
            for (size_t k = 1; k < cnt; k++) {
                assert_true (fabs (w[k] / self - w0[k] / s0) < 1e-9);
                sum += w[k];
            }
            assert_true (fabs (sum - 1.0) < S_TOL);
            checked++;
        }
    assert_true (checked > 0);
    mdl_topo_destroy (&topo);
}

static void
test_an_agent_that_hears_nobody_keeps_its_own_state (void **state)
{
    mdl_topo_t *topo = s_topo ("complete");
    uint32_t nbr[8];
    double w[8], self;
    size_t cnt;
    const uint8_t heard[7] = { 0 };
    assert_int_equal (mdl_weights_row (MDL_WEIGHTS_UNIFORM, topo, 8, 0, 0, heard, nbr, w, 8,
                                       &cnt, &self), 0);
    assert_int_equal (cnt, 7);
    assert_true (self == 1.0);
    for (size_t k = 0; k < cnt; k++)
        assert_true (w[k] == 0.0);
    mdl_topo_destroy (&topo);
}

static void
test_base_graph_keeps_its_own_weights_whatever_the_kind (void **state)
{
    mdl_topo_t *topo = s_topo ("base:1");
    uint32_t n = 6;                              /* 6 = 4 + 2: a merge round exists */
    int period = mdl_topo_period (topo, n);
    double *A = malloc (n * n * sizeof *A), *B = malloc (n * n * sizeof *B);
    assert_non_null (A);
    assert_non_null (B);
    bool non_uniform = false;
    for (int t = 0; t < period; t++) {
        assert_int_equal (mdl_weights_matrix (MDL_WEIGHTS_MH, topo, n, t, A), 0);
        assert_int_equal (mdl_weights_matrix (MDL_WEIGHTS_UNIFORM, topo, n, t, B), 0);
        assert_memory_equal (A, B, n * n * sizeof *A);
        for (uint32_t i = 0; i < n; i++)
            for (uint32_t j = 0; j < n; j++)
                if (i != j && A[i * n + j] > 0.0 && fabs (A[i * n + j] - 0.5) > 1e-9)
                    non_uniform = true;
    }
    assert_true (non_uniform);
    free (A);
    free (B);
    mdl_topo_destroy (&topo);
}

static void
test_matrix_rows_equal_the_rows_an_agent_computes (void **state)
{
    const char *names[] = { "torus", "exp", "one-peer-exp", "base:3", "random:5" };
    for (size_t a = 0; a < sizeof names / sizeof names[0]; a++) {
        mdl_topo_t *topo = s_topo (names[a]);
        uint32_t n = 17;
        double W[17 * 17];
        for (uint64_t t = 0; t < 5; t++) {
            assert_int_equal (mdl_weights_matrix (MDL_WEIGHTS_MH, topo, n, t, W), 0);
            for (uint32_t i = 0; i < n; i++) {
                uint32_t nbr[17];
                double w[17], self, row[17] = { 0 };
                size_t cnt;
                assert_int_equal (mdl_weights_row (MDL_WEIGHTS_MH, topo, n, i, t, NULL, nbr, w,
                                                   17, &cnt, &self), 0);
                row[i] = self;
                for (size_t k = 0; k < cnt; k++)
                    row[nbr[k]] = w[k];
                assert_memory_equal (row, W + i * n, sizeof row);
            }
        }
        mdl_topo_destroy (&topo);
    }
}

static void
test_rows_and_matrices_report_bad_arguments (void **state)
{
    mdl_topo_t *topo = s_topo ("complete");
    uint32_t nbr[2];
    double w[2], self, W[4];
    size_t cnt = 0;
    assert_int_equal (mdl_weights_row (MDL_WEIGHTS_MH, topo, 6, 0, 0, NULL, nbr, w, 2, &cnt,
                                       &self), MDL_ERANGE);
    assert_int_equal (cnt, 5);
    assert_int_equal (mdl_weights_row (MDL_WEIGHTS_MH, topo, 6, 6, 0, NULL, nbr, w, 2, &cnt,
                                       &self), MDL_EINVAL);
    assert_int_equal (mdl_weights_matrix (MDL_WEIGHTS_MH, topo, 0, 0, W), MDL_EINVAL);
    assert_int_equal (mdl_weights_matrix (MDL_WEIGHTS_MH, topo, UINT32_MAX, 0, W), MDL_ENOMEM);
    mdl_topo_destroy (&topo);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_parse_accepts_mh_and_uniform_and_rejects_the_rest),
        cmocka_unit_test (test_uniform_row_gives_everyone_one_over_degree_plus_one),
        cmocka_unit_test (test_mh_row_is_one_over_one_plus_the_larger_degree),
        cmocka_unit_test (test_mh_on_irregular_graphs_gives_each_agent_one_minus_its_neighbours_weights),
        cmocka_unit_test (test_silent_neighbours_are_dropped_and_the_row_renormalised),
        cmocka_unit_test (test_an_agent_that_hears_nobody_keeps_its_own_state),
        cmocka_unit_test (test_base_graph_keeps_its_own_weights_whatever_the_kind),
        cmocka_unit_test (test_matrix_rows_equal_the_rows_an_agent_computes),
        cmocka_unit_test (test_rows_and_matrices_report_bad_arguments),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
