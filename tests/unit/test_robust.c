/*  test_robust.c: the Byzantine-robust rules of --robust against hand-computed values:
    medians and trimmed means (odd and even counts, ties, B of half the inputs or more
    refused), clipping factors, the clipped gossip step, the adaptive radius and its
    history, and finite outputs for inputs at the float range's ends. */
#include "testutil.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "err.h"
#include "robust.h"

/* One coordinate per input vector: in[j] = &vals[j]. */
static void
s_column (const float *vals, size_t m, const float **in)
{
    for (size_t j = 0; j < m; j++)
        in[j] = &vals[j];
}

static void
test_median_of_an_odd_count_is_the_middle_value (void **state)
{
    const float vals[] = { 1, 5, 3 };
    const float *in[3];
    s_column (vals, 3, in);
    float out = -1;
    assert_int_equal (mdl_robust_median (&out, in, 3, 1), 0);
    assert_true (out == 3.0f);
}

static void
test_median_of_an_even_count_is_the_mean_of_the_middle_two (void **state)
{
    const float vals[] = { 10, 1, 3, 2 };
    const float *in[4];
    s_column (vals, 4, in);
    float out = -1;
    assert_int_equal (mdl_robust_median (&out, in, 4, 1), 0);
    assert_true (out == 2.5f);
}

static void
test_median_with_ties_takes_the_tied_value (void **state)
{
    const float a[] = { 2, 9, 2, 2 }, b[] = { 1, 5, 1, 5 };
    const float *in[4];
    float out = -1;
    s_column (a, 4, in);
    assert_int_equal (mdl_robust_median (&out, in, 4, 1), 0);
    assert_true (out == 2.0f);
    s_column (b, 4, in);
    assert_int_equal (mdl_robust_median (&out, in, 4, 1), 0);
    assert_true (out == 3.0f); /* 1 1 | 5 5: the middle two differ */
}

static void
test_median_works_per_coordinate (void **state)
{
    /* three vectors of two coordinates: medians (2, -1) */
    const float v0[] = { 1, -1 }, v1[] = { 2, 7 }, v2[] = { 100, -5 };
    const float *in[3] = { v0, v1, v2 };
    float out[2];
    assert_int_equal (mdl_robust_median (out, in, 3, 2), 0);
    assert_true (out[0] == 2.0f && out[1] == -1.0f);
}

static void
test_trimmed_mean_drops_b_values_at_each_end (void **state)
{
    const float vals[] = { 100, 1, 4, 2, 3 };
    const float *in[5];
    s_column (vals, 5, in);
    float out = -1;
    assert_int_equal (mdl_robust_trimmed (&out, in, 5, 1, 1), 0);
    assert_true (out == 3.0f); /* (2 + 3 + 4) / 3 */
    assert_int_equal (mdl_robust_trimmed (&out, in, 5, 1, 2), 0);
    assert_true (out == 3.0f); /* only the middle one */
}

static void
test_trimmed_mean_with_ties_drops_copies_of_the_tied_value (void **state)
{
    const float a[] = { 5, 5, 1, 5, 5 }, b[] = { 9, 1, 1, 9, 1 };
    const float *in[5];
    float out = -1;
    s_column (a, 5, in);
    assert_int_equal (mdl_robust_trimmed (&out, in, 5, 1, 1), 0);
    assert_true (out == 5.0f); /* 1 5 5 5 5 -> 5 5 5 */
    s_column (b, 5, in);
    assert_int_equal (mdl_robust_trimmed (&out, in, 5, 1, 2), 0);
    assert_true (out == 1.0f); /* 1 1 1 9 9 -> 1 */
}

static void
test_trimmed_refuses_b_of_half_the_inputs_or_more (void **state)
{
    const float vals[] = { 1, 2, 3, 4 };
    const float *in[4];
    s_column (vals, 4, in);
    float out = 42;
    assert_int_equal (mdl_robust_trimmed (&out, in, 4, 1, 2), MDL_EINVAL);
    assert_true (out == 42.0f); /* untouched */
    assert_int_equal (mdl_robust_trimmed (&out, in, 3, 1, 2), MDL_EINVAL);
    assert_int_equal (mdl_robust_trimmed (&out, in, 4, 1, 1), 0);
    assert_true (out == 2.5f);
    /* the consensus step refuses too, with x untouched */
    mdl_robust_cfg_t cfg = { .kind = MDL_ROBUST_TRIMMED, .trim = 2 };
    float x = 7, s = 7;
    const float *v[3] = { &vals[0], &vals[1], &vals[2] };
    assert_int_equal (mdl_robust_coord_mix (&cfg, &x, &s, v, 3, 1, 1.0), MDL_EINVAL); /* 4 inputs, 2B = 4 */
    assert_true (x == 7.0f);
    assert_int_equal (mdl_robust_min_inputs (&cfg), 5);
}

static void
test_coordinate_wise_step_moves_x_toward_the_aggregate_by_gamma (void **state)
{
    /* own value 0, neighbours 4, 10, 2: median of {0, 2, 4, 10} = 3; gamma 0.5 -> 1.5 */
    const float n0 = 4, n1 = 10, n2 = 2;
    const float *v[3] = { &n0, &n1, &n2 };
    float x = 0;
    mdl_robust_cfg_t med = { .kind = MDL_ROBUST_MEDIAN };
    assert_int_equal (mdl_robust_coord_mix (&med, &x, &x, v, 3, 1, 0.5), 0);
    assert_true (x == 1.5f);
    /* trimmed:1 over {0, 2, 4, 10, 1000}: (2 + 4 + 10) / 3; s differs from x (CHOCO's
       public copy): x <- x + (a - s) */
    const float n3 = 1000;
    const float *w[4] = { &n0, &n1, &n2, &n3 };
    float y = 100, s = 0;
    mdl_robust_cfg_t tr = { .kind = MDL_ROBUST_TRIMMED, .trim = 1 };
    assert_int_equal (mdl_robust_coord_mix (&tr, &y, &s, w, 4, 1, 1.0), 0);
    assert_true (fabsf (y - (100.0f + 16.0f / 3.0f)) < 1e-4f);
}

static void
test_clip_factors_shrink_only_the_neighbours_beyond_tau (void **state)
{
    const double dist[] = { 1.0, 4.0, 0.0, 2.0 };
    double f[4];
    assert_int_equal (mdl_robust_clip_factors (dist, 4, 2.0, f), 1);
    assert_true (f[0] == 1.0 && f[1] == 0.5 && f[2] == 1.0 && f[3] == 1.0);
}

static void
test_clipped_step_moves_x_at_most_w_tau_toward_a_far_neighbour (void **state)
{
    /* x = (0, 0), a neighbour at (3, 4) (distance 5), weight 0.25, tau 1: the step is
       0.25 * (3, 4) / 5 = (0.15, 0.2); unclipped it would be (0.75, 1.0). */
    float x[2] = { 0, 0 };
    const float far[2] = { 3, 4 };
    const float *v[1] = { far };
    double dist = mdl_robust_dist (far, x, 2), f, w;
    assert_true (fabs (dist - 5.0) < 1e-12);
    mdl_robust_clip_factors (&dist, 1, 1.0, &f);
    w = 0.25 * f;
    mdl_robust_clip_mix (x, x, v, &w, 1, 2);
    assert_true (fabsf (x[0] - 0.15f) < 1e-6f && fabsf (x[1] - 0.2f) < 1e-6f);
}

static void
test_clipped_step_around_another_centre_uses_differences_to_it (void **state)
{
    /* s = 1 (the public copy), x = 10: x += 0.5 * (3 - 1) + 0.5 * (-1 - 1) = 10 */
    float x = 10;
    const float s = 1, a = 3, b = -1;
    const float *v[2] = { &a, &b };
    const double w[2] = { 0.5, 0.5 };
    mdl_robust_clip_mix (&x, &s, v, w, 2, 1);
    assert_true (x == 10.0f);
}

static void
test_adaptive_radius_is_half_the_median_of_the_round_and_the_history (void **state)
{
    mdl_robust_hist_t h = { .n = 0 };
    const double r1[] = { 1.0, 100.0, 3.0 };
    assert_true (mdl_robust_tau (&h, r1, 3) == 0.5 * 3.0); /* median of {1, 3, 100} */
    assert_int_equal (h.n, 3);
    const double r2[] = { 2.0 };
    /* {1, 3, 100} seen, 2 now: median (2 + 3) / 2 */
    assert_true (mdl_robust_tau (&h, r2, 1) == 0.5 * 2.5);
    /* the history keeps the last MDL_ROBUST_HISTORY distances: after 40 distances of 7,
       the 100 is gone and the radius is 3.5 */
    double sevens[40];
    for (int i = 0; i < 40; i++)
        sevens[i] = 7.0;
    mdl_robust_tau (&h, sevens, 40);
    assert_int_equal (h.n, MDL_ROBUST_HISTORY);
    for (size_t i = 0; i < h.n; i++)
        assert_true (h.d[i] == 7.0);
    assert_true (mdl_robust_tau (&h, NULL, 0) == 3.5);
    mdl_robust_hist_t empty = { .n = 0 };
    assert_true (mdl_robust_tau (&empty, NULL, 0) == 0.0);
}

static void
test_one_liar_among_three_neighbours_does_not_set_the_radius (void **state)
{
    /* honest neighbours at distance 1 and 2, a liar at 10^30: the radius stays honest,
       and the liar's pull is cut to w tau */
    mdl_robust_hist_t h = { .n = 0 };
    const double dist[] = { 1.0, 1e30, 2.0 };
    const double tau = mdl_robust_tau (&h, dist, 3);
    assert_true (tau == 1.0);
    double f[3];
    assert_int_equal (mdl_robust_clip_factors (dist, 3, tau, f), 2);
    assert_true (fabs (f[1] * dist[1] - tau) < 1e-12);
}

static void
test_outputs_stay_finite_for_inputs_at_the_ends_of_the_float_range (void **state)
{
    const float big[] = { FLT_MAX, -FLT_MAX }, neg[] = { -FLT_MAX, FLT_MAX }, zero[] = { 0, 0 };
    const float *in[3] = { big, neg, zero };
    float out[2];
    assert_int_equal (mdl_robust_median (out, in, 3, 2), 0);
    assert_true (isfinite (out[0]) && isfinite (out[1]));
    assert_int_equal (mdl_robust_median (out, in, 2, 2), 0); /* FLT_MAX and -FLT_MAX: 0 */
    assert_true (out[0] == 0.0f && out[1] == 0.0f);
    assert_int_equal (mdl_robust_trimmed (out, in, 3, 2, 1), 0);
    assert_true (out[0] == 0.0f && isfinite (out[1]));
    assert_int_equal (mdl_robust_trimmed (out, (const float *const[]) { big, big, big }, 3, 2, 1), 0);
    assert_true (out[0] == FLT_MAX); /* the mean of values at FLT_MAX does not overflow */
    /* a neighbour at FLT_MAX from a centre at -FLT_MAX: the distance is finite in double,
       and the clipped step too */
    float x[2] = { -FLT_MAX, FLT_MAX };
    double dist = mdl_robust_dist (big, x, 2), f, w;
    assert_true (isfinite (dist) && dist > 0);
    mdl_robust_clip_factors (&dist, 1, 1.0, &f);
    w = 0.5 * f;
    const float *v[1] = { big };
    mdl_robust_clip_mix (x, x, v, &w, 1, 2);
    assert_true (isfinite (x[0]) && isfinite (x[1]));
    /* the coordinate-wise step of a median at the range's ends */
    float y[2] = { 0, 0 };
    mdl_robust_cfg_t med = { .kind = MDL_ROBUST_MEDIAN };
    assert_int_equal (mdl_robust_coord_mix (&med, y, y, in, 2, 2, 1.0), 0);
    assert_true (isfinite (y[0]) && isfinite (y[1]));
}

static void
test_parse_accepts_the_documented_forms_and_names_them_on_error (void **state)
{
    mdl_robust_cfg_t c;
    char err[256], b[32];
    assert_int_equal (mdl_robust_parse ("clip", &c, err, sizeof err), 0);
    assert_true (c.kind == MDL_ROBUST_CLIP && c.tau == 0);
    assert_int_equal (mdl_robust_parse ("clip:0.5", &c, err, sizeof err), 0);
    assert_true (c.kind == MDL_ROBUST_CLIP && c.tau == 0.5);
    assert_string_equal (mdl_robust_str (&c, b, sizeof b), "clip:0.5");
    assert_int_equal (mdl_robust_parse ("trimmed:2", &c, err, sizeof err), 0);
    assert_true (c.kind == MDL_ROBUST_TRIMMED && c.trim == 2);
    assert_string_equal (mdl_robust_str (&c, b, sizeof b), "trimmed:2");
    assert_int_equal (mdl_robust_parse ("median", &c, err, sizeof err), 0);
    assert_true (c.kind == MDL_ROBUST_MEDIAN);
    assert_int_equal (mdl_robust_parse (NULL, &c, err, sizeof err), 0);
    assert_true (c.kind == MDL_ROBUST_NONE);
    const char *bad[] = { "clip:0", "clip:-1", "clip:x", "trimmed", "trimmed:0", "trimmed:1.5", "mean", "median:1", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal (mdl_robust_parse (bad[i], &c, err, sizeof err), MDL_EINVAL);
        assert_non_null (strstr (err, "trimmed:B"));
        assert_true (c.kind == MDL_ROBUST_NONE);
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_median_of_an_odd_count_is_the_middle_value),
        cmocka_unit_test (test_median_of_an_even_count_is_the_mean_of_the_middle_two),
        cmocka_unit_test (test_median_with_ties_takes_the_tied_value),
        cmocka_unit_test (test_median_works_per_coordinate),
        cmocka_unit_test (test_trimmed_mean_drops_b_values_at_each_end),
        cmocka_unit_test (test_trimmed_mean_with_ties_drops_copies_of_the_tied_value),
        cmocka_unit_test (test_trimmed_refuses_b_of_half_the_inputs_or_more),
        cmocka_unit_test (test_coordinate_wise_step_moves_x_toward_the_aggregate_by_gamma),
        cmocka_unit_test (test_clip_factors_shrink_only_the_neighbours_beyond_tau),
        cmocka_unit_test (test_clipped_step_moves_x_at_most_w_tau_toward_a_far_neighbour),
        cmocka_unit_test (test_clipped_step_around_another_centre_uses_differences_to_it),
        cmocka_unit_test (test_adaptive_radius_is_half_the_median_of_the_round_and_the_history),
        cmocka_unit_test (test_one_liar_among_three_neighbours_does_not_set_the_radius),
        cmocka_unit_test (test_outputs_stay_finite_for_inputs_at_the_ends_of_the_float_range),
        cmocka_unit_test (test_parse_accepts_the_documented_forms_and_names_them_on_error),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
