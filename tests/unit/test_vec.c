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

/* Every neighbour count the fused kernel has a loop for (the own terms with 0, 1 or 2
   neighbours, then pairs, then an odd one), with and without y: bit for bit the naive
   sequence a*x + b*y, then + c_j v_j for j = 0, 1, ..., plain and checked. */
static void
test_mix_is_the_sequential_sum_for_any_number_of_neighbours (void **state)
{
    mdl_rng_t rng;
    mdl_rng_seed (&rng, 7, 0);
    enum { K = 7 };
    const size_t d = 2500; /* two full blocks and a short one */
    float *x = malloc (d * sizeof *x), *x2 = malloc (d * sizeof *x2), *y = malloc (d * sizeof *y),
          *ref = malloc (d * sizeof *ref), *vv[K];
    const float *v[K];
    float c[K];
    for (int j = 0; j < K; j++) {
        v[j] = vv[j] = malloc (d * sizeof (float));
        c[j] = 0.05f + 0.1f * (float) j;
        for (size_t i = 0; i < d; i++)
            vv[j][i] = (float) mdl_rng_normal (&rng);
    }
    for (size_t i = 0; i < d; i++)
        y[i] = (float) mdl_rng_normal (&rng);
    for (size_t k = 0; k <= K; k++)
        for (int with_y = 0; with_y < 2; with_y++) {
            const float *yy = with_y ? y : NULL;
            for (size_t i = 0; i < d; i++) {
                x[i] = x2[i] = (float) mdl_rng_normal (&rng);
                ref[i] = yy ? 0.3f * x[i] + -0.7f * yy[i] : 0.3f * x[i];
                for (size_t j = 0; j < k; j++)
                    ref[i] += c[j] * v[j][i];
            }
            bool bad[K];
            mdl_vec_mix (x, 0.3f, yy, -0.7f, v, c, k, d);
            assert_int_equal (mdl_vec_mix_checked (x2, 0.3f, yy, -0.7f, v, c, k, d, bad, NULL), 0);
            for (size_t i = 0; i < d; i++)
                assert_true (x[i] == ref[i] && x2[i] == ref[i]);
            if (!yy)
                continue;
            /* mixing from y: x's old contents (NaN here) are not read */
            for (size_t i = 0; i < d; i++) {
                x[i] = NAN;
                ref[i] = 0.3f * y[i];
                for (size_t j = 0; j < k; j++)
                    ref[i] += c[j] * v[j][i];
            }
            assert_int_equal (mdl_vec_mix_from_checked (x, y, 0.3f, v, c, k, d, bad, NULL), 0);
            for (size_t i = 0; i < d; i++)
                assert_true (x[i] == ref[i]);
        }
    for (int j = 0; j < K; j++)
        free (vv[j]);
    free (x); free (x2); free (y); free (ref);
}

/* The naive reference of mdl_vec_mix_checked: per element, a*x + b*y, then each v_j
   whose 1024-block is finite, then the weights of the others times the own value. */
static void
s_mix_checked_ref (float *x, float a, const float *y, float b, const float *const *v, const float *c, size_t k,
                   size_t d, double *dist2)
{
    for (size_t j = 0; j < k; j++)
        dist2[j] = 0.0;
    for (size_t i = 0; i < d; i++) {
        const size_t b0 = i / 1024 * 1024, b1 = b0 + 1024 < d ? b0 + 1024 : d;
        const float own = y ? y[i] : x[i];
        float r = y ? a * x[i] + b * y[i] : a * x[i], moved = 0.0f;
        for (size_t j = 0; j < k; j++) {
            bool ok = true;
            for (size_t t = b0; t < b1; t++)
                ok &= isfinite (v[j][t]);
            if (ok) {
                r += c[j] * v[j][i];
                dist2[j] += ((double) x[i] - v[j][i]) * ((double) x[i] - v[j][i]);
            } else
                moved += c[j];
        }
        x[i] = moved != 0.0f ? r + moved * own : r;
    }
}

static void
test_checked_mix_equals_the_plain_one_and_keeps_nan_blocks_out (void **state)
{
    mdl_rng_t rng;
    mdl_rng_seed (&rng, 5, 0);
    const size_t d = 5000;
    float *x = malloc (d * sizeof *x), *x2 = malloc (d * sizeof *x2), *ref = malloc (d * sizeof *ref),
          *y = malloc (d * sizeof *y), *v0 = malloc (d * sizeof *v0), *v1 = malloc (d * sizeof *v1);
    for (size_t i = 0; i < d; i++) {
        x[i] = x2[i] = ref[i] = (float) mdl_rng_normal (&rng);
        y[i] = (float) mdl_rng_normal (&rng);
        v0[i] = (float) mdl_rng_normal (&rng);
        v1[i] = (float) mdl_rng_normal (&rng);
    }
    const float *v[2] = { v0, v1 };
    const float c[2] = { 0.3f, 0.2f };
    bool bad[2];
    double dist[2], rdist[2];
    /* all finite: the plain mix, bit for bit; the distances are the reference's */
    assert_int_equal (mdl_vec_mix_checked (x, 0.5f, NULL, 0.0f, v, c, 2, d, bad, dist), 0);
    mdl_vec_mix (x2, 0.5f, NULL, 0.0f, v, c, 2, d);
    s_mix_checked_ref (ref, 0.5f, NULL, 0.0f, v, c, 2, d, rdist);
    for (size_t i = 0; i < d; i++)
        assert_true (x[i] == x2[i] && x[i] == ref[i]);
    assert_false (bad[0] || bad[1]);
    for (int j = 0; j < 2; j++)
        assert_true (fabs (dist[j] - rdist[j]) <= 1e-5 * rdist[j]);
    /* a NaN in v0's third block and an Inf in v1's last: those blocks count as the own
       value, the rest is mixed; with and without y */
    v0[2048 + 17] = NAN;
    v1[d - 1] = INFINITY;
    for (int with_y = 0; with_y < 2; with_y++) {
        for (size_t i = 0; i < d; i++)
            x[i] = ref[i] = (float) (i % 7) - 3.0f;
        const float *yy = with_y ? y : NULL;
        assert_int_equal (mdl_vec_mix_checked (x, 1.0f - 0.5f * with_y, yy, -0.5f * with_y, v, c, 2, d, bad, dist), 2);
        s_mix_checked_ref (ref, 1.0f - 0.5f * with_y, yy, -0.5f * with_y, v, c, 2, d, rdist);
        assert_true (bad[0] && bad[1]);
        for (size_t i = 0; i < d; i++) {
            assert_true (isfinite (x[i]));
            assert_true (x[i] == ref[i]);
        }
        for (int j = 0; j < 2; j++)
            assert_true (fabs (dist[j] - rdist[j]) <= 1e-5 * rdist[j]);
    }
    /* the same from y into an x that is not read: the in-place mix of y, distances too */
    for (size_t i = 0; i < d; i++) {
        x[i] = NAN;
        x2[i] = y[i];
    }
    double dist2[2];
    assert_int_equal (mdl_vec_mix_from_checked (x, y, 0.5f, v, c, 2, d, bad, dist), 2);
    assert_int_equal (mdl_vec_mix_checked (x2, 0.5f, NULL, 0.0f, v, c, 2, d, bad, dist2), 2);
    for (size_t i = 0; i < d; i++)
        assert_true (x[i] == x2[i]);
    assert_true (dist[0] == dist2[0] && dist[1] == dist2[1]);
    free (x); free (x2); free (ref); free (y); free (v0); free (v1);
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
        cmocka_unit_test (test_checked_mix_equals_the_plain_one_and_keeps_nan_blocks_out),
        cmocka_unit_test (test_mix_is_the_sequential_sum_for_any_number_of_neighbours),
        cmocka_unit_test (test_norms_distances_and_finiteness),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
