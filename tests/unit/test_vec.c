/*  test_vec.c: flat vector operations against naive double-precision references. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>

#include "rng.h"
#include "vec.h"

static void
test_mix_equals_the_sum_of_its_terms_in_one_pass (void **state)
{
    mdl_rng_t rng;
    mdl_rng_seed (&rng, 3, 0);
    const size_t d = 3001; /* not a multiple of the block */
    float *x = malloc (d * sizeof *x), *y = malloc (d * sizeof *y), *v0 = malloc (d * sizeof *v0),
          *v1 = malloc (d * sizeof *v1), *ref = malloc (d * sizeof *ref);
    for (size_t i = 0; i < d; i++) {
        x[i] = (float) mdl_rng_normal (&rng);
        y[i] = (float) mdl_rng_normal (&rng);
        v0[i] = (float) mdl_rng_normal (&rng);
        v1[i] = (float) mdl_rng_normal (&rng);
        ref[i] = 0.5f * x[i] - 0.25f * y[i];
        ref[i] += 0.125f * v0[i];
        ref[i] += 0.375f * v1[i];
    }
    const float *v[2] = { v0, v1 };
    const float c[2] = { 0.125f, 0.375f };
    mdl_vec_mix (x, 0.5f, y, -0.25f, v, c, 2, d);
    for (size_t i = 0; i < d; i++)
        assert_true (x[i] == ref[i]); /* same operations in the same order: bit-identical */
    /* without y, and with k = 0 */
    for (size_t i = 0; i < d; i++)
        x[i] = 2.0f;
    mdl_vec_mix (x, 0.25f, NULL, 0.0f, v, c, 0, d);
    for (size_t i = 0; i < d; i++)
        assert_true (x[i] == 0.5f);
    free (x); free (y); free (v0); free (v1); free (ref);
}

static void
test_norms_distances_and_finiteness (void **state)
{
    float a[5] = { 1, 2, 3, 4, 5 }, b[5] = { 1, 1, 1, 1, 1 };
    assert_true (mdl_vec_dot (a, b, 5) == 15.0);
    assert_true (mdl_vec_norm2 (a, 5) == 55.0);
    assert_true (mdl_vec_dist2 (a, b, 5) == 0 + 1 + 4 + 9 + 16);
    assert_true (mdl_vec_isfinite (a, 5));
    a[3] = NAN;
    assert_false (mdl_vec_isfinite (a, 5));
    a[3] = INFINITY;
    assert_false (mdl_vec_isfinite (a, 5));
    assert_true (mdl_vec_isfinite (a, 0));
    float s[3] = { 1, 2, 3 };
    mdl_vec_axpy (s, 2.0f, b, 3);
    assert_true (s[0] == 3 && s[1] == 4 && s[2] == 5);
    mdl_vec_scale (s, 0.5f, 3);
    assert_true (s[0] == 1.5f && s[2] == 2.5f);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_mix_equals_the_sum_of_its_terms_in_one_pass),
        cmocka_unit_test (test_norms_distances_and_finiteness),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
