/*  test_byzantine.c: what each --byzantine mode forges, against hand-computed vectors,
    and the parser's forms and errors. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "byzantine.h"
#include "err.h"

static mdl_byz_t *
s_forger (const char *spec, size_t d)
{
    mdl_byz_cfg_t cfg;
    char err[256];
    int rc;
    assert_int_equal (mdl_byz_parse (spec, &cfg, err, sizeof err), 0);
    mdl_byz_t *b = mdl_byz_new (&cfg, d, 7, &rc);
    assert_non_null (b);
    return b;
}

static void
test_scale_publishes_k_times_the_state (void **state)
{
    mdl_byz_t *b = s_forger ("scale:-10", 3);
    const float v[3] = { 1, -2, 0.5f };
    uint64_t step = 5;
    const float *out = mdl_byz_forge (b, 0, v, NULL, 0, &step);
    assert_true (out[0] == -10.0f && out[1] == 20.0f && out[2] == -5.0f);
    assert_int_equal (step, 5);
    mdl_byz_destroy (&b);
    assert_null (b);
}

static void
test_zero_publishes_the_zero_vector (void **state)
{
    mdl_byz_t *b = s_forger ("zero", 2);
    const float v[2] = { 3, 4 };
    const float *out = mdl_byz_forge (b, 0, v, NULL, 0, NULL);
    assert_true (out[0] == 0.0f && out[1] == 0.0f);
    mdl_byz_destroy (&b);
}

static void
test_noise_is_gaussian_with_the_given_sigma_and_ignores_the_state (void **state)
{
    const size_t d = 20000;
    mdl_byz_t *b = s_forger ("noise:3", d);
    float *v = calloc (d, sizeof (float));
    for (size_t i = 0; i < d; i++)
        v[i] = 1000.0f;
    const float *out = mdl_byz_forge (b, 0, v, NULL, 0, NULL);
    double s = 0, s2 = 0;
    for (size_t i = 0; i < d; i++)
        s += out[i], s2 += (double) out[i] * out[i];
    const double mean = s / d, sd = sqrt (s2 / d - mean * mean);
    /* 20000 draws: the mean is within 4 standard errors (4 * 3 / 141) of 0 */
    assert_true (fabs (mean) < 0.09);
    assert_true (fabs (sd - 3.0) < 0.1);
    free (v);
    mdl_byz_destroy (&b);
}

static void
test_stale_replays_the_state_of_s_sends_ago_per_stream (void **state)
{
    mdl_byz_t *b = s_forger ("stale:2", 1);
    float seen[6];
    for (int t = 0; t < 6; t++) {
        const float v = (float) (t + 1); /* states 1, 2, 3, ... */
        seen[t] = mdl_byz_forge (b, 0, &v, NULL, 0, NULL)[0];
    }
    /* before 2 sends have passed, the oldest there is (the first) */
    const float want[6] = { 1, 1, 1, 2, 3, 4 };
    for (int t = 0; t < 6; t++)
        assert_true (seen[t] == want[t]);
    /* another stream has its own history */
    const float w = 50;
    assert_true (mdl_byz_forge (b, 1, &w, NULL, 0, NULL)[0] == 50.0f);
    mdl_byz_destroy (&b);
}

static void
test_alie_is_mean_minus_z_std_of_what_it_hears (void **state)
{
    mdl_byz_t *b = s_forger ("alie:1.5", 2);
    const float own[2] = { 100, 100 };
    const float h0[2] = { 1, 4 }, h1[2] = { 3, 4 };
    const float *heard[2] = { h0, h1 };
    const float *out = mdl_byz_forge (b, 0, own, heard, 2, NULL);
    /* coordinate 0: mean 2, std 1 -> 0.5; coordinate 1: mean 4, std 0 -> 4 */
    assert_true (fabsf (out[0] - 0.5f) < 1e-6f && out[1] == 4.0f);
    /* nothing heard yet: its own state */
    assert_true (mdl_byz_forge (b, 0, own, NULL, 0, NULL) == own);
    mdl_byz_destroy (&b);
}

static void
test_future_stamps_the_honest_state_k_rounds_ahead (void **state)
{
    mdl_byz_t *b = s_forger ("future:1000000", 2);
    const float v[2] = { 1, 2 };
    uint64_t step = 40;
    assert_true (mdl_byz_forge (b, 0, v, NULL, 0, &step) == v);
    assert_int_equal (step, 1000040);
    assert_true (mdl_byz_forge (b, 0, v, NULL, 0, NULL) == v); /* no step to move */
    mdl_byz_destroy (&b);
}

static void
test_parse_accepts_the_documented_forms_and_refuses_others (void **state)
{
    mdl_byz_cfg_t c;
    char err[256], buf[32];
    assert_int_equal (mdl_byz_parse ("scale:-10", &c, err, sizeof err), 0);
    assert_true (c.kind == MDL_BYZ_SCALE && c.arg == -10);
    assert_string_equal (mdl_byz_str (&c, buf, sizeof buf), "scale:-10");
    assert_int_equal (mdl_byz_parse ("alie:-0.5", &c, err, sizeof err), 0);
    assert_true (c.kind == MDL_BYZ_ALIE && c.arg == -0.5);
    assert_int_equal (mdl_byz_parse ("stale:10000", &c, err, sizeof err), 0);
    assert_int_equal (mdl_byz_parse ("zero", &c, err, sizeof err), 0);
    assert_string_equal (mdl_byz_str (&c, buf, sizeof buf), "zero");
    const char *bad[] = { "", "zero:1", "scale", "scale:x", "noise:0", "noise:-1", "stale:0", "stale:2.5",
                          "stale:10001", "future:0", "future:1.5", "lie:1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal (mdl_byz_parse (bad[i], &c, err, sizeof err), MDL_EINVAL);
        assert_non_null (strstr (err, "future:K"));
        assert_true (c.kind == MDL_BYZ_NONE);
    }
    int rc = 0;
    mdl_byz_cfg_t none = { .kind = MDL_BYZ_NONE };
    assert_null (mdl_byz_new (&none, 4, 1, &rc));
    assert_int_equal (rc, MDL_EINVAL);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_scale_publishes_k_times_the_state),
        cmocka_unit_test (test_zero_publishes_the_zero_vector),
        cmocka_unit_test (test_noise_is_gaussian_with_the_given_sigma_and_ignores_the_state),
        cmocka_unit_test (test_stale_replays_the_state_of_s_sends_ago_per_stream),
        cmocka_unit_test (test_alie_is_mean_minus_z_std_of_what_it_hears),
        cmocka_unit_test (test_future_stamps_the_honest_state_k_rounds_ahead),
        cmocka_unit_test (test_parse_accepts_the_documented_forms_and_refuses_others),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
