/*  test_linalg.c: the pseudo-inverse and minimum-norm solves against hand-computed
    answers and the Penrose conditions. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>

#include "err.h"
#include "linalg.h"
#include "rng.h"

static void
test_minnorm_solves_tiny_systems_as_computed_by_hand (void **state)
{
    /* x1 + x2 = 2: the solutions are (t, 2 - t); the shortest is (1, 1). */
    const double a1[2] = { 1, 1 }, y1[1] = { 2 };
    double x[3];
    assert_int_equal (mdl_linalg_minnorm (a1, 1, 2, y1, x), 0);
    assert_float_equal (x[0], 1.0, 1e-12);
    assert_float_equal (x[1], 1.0, 1e-12);
    /* x1 = 1, x2 + x3 = 2: (1, 1, 1). */
    const double a2[6] = { 1, 0, 0, 0, 1, 1 }, y2[2] = { 1, 2 };
    assert_int_equal (mdl_linalg_minnorm (a2, 2, 3, y2, x), 0);
    for (int i = 0; i < 3; i++)
        assert_float_equal (x[i], 1.0, 1e-12);
    /* Overdetermined x = 1, x = 3: least squares 2. */
    const double a3[2] = { 1, 1 }, y3[2] = { 1, 3 };
    assert_int_equal (mdl_linalg_minnorm (a3, 2, 1, y3, x), 0);
    assert_float_equal (x[0], 2.0, 1e-12);
    /* Rank-deficient [[1 1], [1 1]] x = (2, 4): least squares on x1 + x2 = 3, shortest (1.5, 1.5). */
    const double a4[4] = { 1, 1, 1, 1 }, y4[2] = { 2, 4 };
    size_t rank = 0;
    double ap[4];
    assert_int_equal (mdl_linalg_pinv (a4, 2, 2, 0, ap, &rank), 0);
    assert_int_equal (rank, 1);
    for (int i = 0; i < 4; i++)
        assert_float_equal (ap[i], 0.25, 1e-12); /* [[1 1],[1 1]]^+ = [[1 1],[1 1]] / 4 */
    assert_int_equal (mdl_linalg_minnorm (a4, 2, 2, y4, x), 0);
    assert_float_equal (x[0], 1.5, 1e-12);
    assert_float_equal (x[1], 1.5, 1e-12);
    /* 2x2 invertible: the inverse. [[2 1], [1 1]]^-1 = [[1 -1], [-1 2]]. */
    const double a5[4] = { 2, 1, 1, 1 };
    assert_int_equal (mdl_linalg_pinv (a5, 2, 2, 0, ap, &rank), 0);
    assert_int_equal (rank, 2);
    const double inv[4] = { 1, -1, -1, 2 };
    for (int i = 0; i < 4; i++)
        assert_float_equal (ap[i], inv[i], 1e-12);
}

/* C (r, c) = X (r, k) Y (k, c) */
static void
s_matmul (const double *X, const double *Y, double *C, size_t r, size_t k, size_t c)
{
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < c; j++) {
            double v = 0;
            for (size_t l = 0; l < k; l++)
                v += X[i * k + l] * Y[l * c + j];
            C[i * c + j] = v;
        }
}

/* Penrose: A A+ A = A, A+ A A+ = A+, and A A+, A+ A symmetric. */
static void
s_penrose (size_t m, size_t n, uint64_t seed)
{
    mdl_rng_t rng;
    mdl_rng_seed (&rng, seed, 0);
    double *A = malloc (m * n * sizeof *A), *P = malloc (n * m * sizeof *P);
    double *AP = malloc (m * m * sizeof *AP), *PA = malloc (n * n * sizeof *PA);
    for (size_t i = 0; i < m * n; i++)
        A[i] = mdl_rng_normal (&rng);
    size_t rank = 0;
    assert_int_equal (mdl_linalg_pinv (A, m, n, 0, P, &rank), 0);
    assert_int_equal (rank, m < n ? m : n);
    s_matmul (A, P, AP, m, n, m);
    s_matmul (P, A, PA, n, m, n);
    double *APA = malloc (m * n * sizeof *APA), *PAP = malloc (n * m * sizeof *PAP);
    s_matmul (AP, A, APA, m, m, n);
    s_matmul (PA, P, PAP, n, n, m);
    for (size_t i = 0; i < m * n; i++) {
        assert_float_equal (APA[i], A[i], 1e-9);
        assert_float_equal (PAP[i], P[i], 1e-9);
    }
    free (APA); free (PAP);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < i; j++)
            assert_float_equal (AP[i * m + j], AP[j * m + i], 1e-9);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            assert_float_equal (PA[i * n + j], PA[j * n + i], 1e-9);
    free (A); free (P); free (AP); free (PA);
}

static void
test_pinv_meets_the_penrose_conditions_on_wide_tall_and_square_matrices (void **state)
{
    s_penrose (7, 19, 1);
    s_penrose (19, 7, 2);
    s_penrose (12, 12, 3);
}

static void
test_pinv_refuses_empty_and_non_finite_matrices (void **state)
{
    double a[2] = { 1, NAN }, p[2];
    assert_int_equal (mdl_linalg_pinv (a, 0, 2, 0, p, NULL), MDL_EINVAL);
    assert_int_equal (mdl_linalg_pinv (a, 1, 2, 0, p, NULL), MDL_ERANGE);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_minnorm_solves_tiny_systems_as_computed_by_hand),
        cmocka_unit_test (test_pinv_meets_the_penrose_conditions_on_wide_tall_and_square_matrices),
        cmocka_unit_test (test_pinv_refuses_empty_and_non_finite_matrices),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
