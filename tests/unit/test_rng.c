/*  test_rng.c: the normal fill that initialises parameters has N(0, sd^2)'s moments and
    tails, fills every slot of an odd length, and repeats for a repeated seed. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

/* 10^6 draws: mean and variance within a few standard errors, the tail beyond 2 sd near
   4.55% and beyond 3 sd near 0.27% (each a loose bound: a broken fill misses by far). */
static void
test_the_normal_fill_has_the_moments_and_tails_of_a_normal (void **state)
{
    const size_t n = 1000001; /* odd: the last pair keeps one of its two */
    const double sd = 0.05;
    float *x = malloc ((n + 1) * sizeof *x);
    assert_non_null (x);
    x[n] = 12345.0f; /* a guard past the end */
    mdl_rng_t rng;
    mdl_rng_seed (&rng, 7, 0x1417);
    mdl_rng_normal_fill (&rng, x, n, sd);
    assert_true (x[n] == 12345.0f);
    double m = 0, m2 = 0, m4 = 0;
    size_t t2 = 0, t3 = 0;
    for (size_t i = 0; i < n; i++) {
        const double z = x[i] / sd;
        assert_true (isfinite (z));
        m += z;
        m2 += z * z;
        m4 += z * z * z * z;
        t2 += fabs (z) > 2.0;
        t3 += fabs (z) > 3.0;
    }
    m /= (double) n;
    m2 /= (double) n;
    m4 /= (double) n;
    assert_true (fabs (m) < 0.005);          /* se 0.001 */
    assert_true (fabs (m2 - 1.0) < 0.01);    /* se 0.0014 */
    assert_true (fabs (m4 - 3.0) < 0.06);    /* kurtosis of a normal; se ~0.01 */
    assert_true (fabs ((double) t2 / (double) n - 0.0455) < 0.002);
    assert_true (fabs ((double) t3 / (double) n - 0.0027) < 0.0005);
    /* consecutive values are not correlated (the two of a pair come from one draw) */
    double c = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        c += (double) x[i] * x[i + 1] / (sd * sd);
    assert_true (fabs (c / (double) (n / 2)) < 0.01);
    free (x);
}

static void
test_the_normal_fill_repeats_for_a_repeated_seed (void **state)
{
    float a[999], b[999];
    mdl_rng_t r1, r2;
    mdl_rng_seed (&r1, 3, 1);
    mdl_rng_seed (&r2, 3, 1);
    mdl_rng_normal_fill (&r1, a, 999, 1.0);
    mdl_rng_normal_fill (&r2, b, 999, 1.0);
    assert_memory_equal (a, b, sizeof a);
    mdl_rng_seed (&r2, 4, 1);
    mdl_rng_normal_fill (&r2, b, 999, 1.0);
    assert_memory_not_equal (a, b, sizeof a);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_the_normal_fill_has_the_moments_and_tails_of_a_normal),
        cmocka_unit_test (test_the_normal_fill_repeats_for_a_repeated_seed),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
