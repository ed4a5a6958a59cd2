/*  test_ef.c: error feedback keeps what a codec drops. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "codec.h"
#include "ef.h"
#include "err.h"
#include "rng.h"

/* After T steps: sum(decoded) + e == sum(x) up to float rounding (checked in double
   against a tolerance that grows with T and the magnitudes). */
static void
s_check_invariant (const char *spec, size_t d, int steps)
{
    int err;
    mdl_codec_t *c = mdl_codec_new (spec, d, 5, &err);
    assert_non_null (c);
    mdl_ef_t *ef = mdl_ef_new (d, &err);
    assert_non_null (ef);
    float *x = malloc (d * sizeof *x), *y = malloc (d * sizeof *y);
    double *sx = calloc (d, sizeof *sx), *sy = calloc (d, sizeof *sy);
    uint8_t *p = malloc (mdl_codec_max_size (c) + 1);
    mdl_rng_t r;
    mdl_rng_seed (&r, 77, 1);
    double scale = 0;
    for (int t = 0; t < steps; t++) {
        for (size_t i = 0; i < d; i++) {
            x[i] = (float) mdl_rng_normal (&r);
            sx[i] += x[i];
        }
        size_t len;
        assert_int_equal (mdl_ef_compress (ef, c, x, p, mdl_codec_max_size (c), &len, &r), 0);
        assert_int_equal (mdl_codec_decode (c, p, len, y), 0);
        for (size_t i = 0; i < d; i++) {
            sy[i] += y[i];
            scale = fmax (scale, fabs (y[i]));
        }
    }
    const float *e = mdl_ef_residual (ef);
    double worst = 0;
    for (size_t i = 0; i < d; i++)
        worst = fmax (worst, fabs (sy[i] + e[i] - sx[i]));
    /* each step rounds v = x + e and v - C(v) once: a few ulps of the largest value */
    if (worst > steps * 4 * 0x1p-23 * (scale + 4))
        fail_msg ("%s: |sum sent + e - sum x| = %g", spec, worst);
    free (x);
    free (y);
    free (sx);
    free (sy);
    free (p);
    mdl_ef_destroy (&ef);
    assert_null (ef);
    mdl_ef_destroy (&ef);
    mdl_codec_destroy (&c);
}

static void
test_sent_plus_residual_equals_sum_of_inputs_for_every_codec (void **state)
{
    const char *specs[] = { "topk:0.01", "topk:3+q8", "sign", "q4", "q8:16", "qsgd:2",
                            "randk:10:unscaled", "randk:0.1+fp16", "fp16", "bf16",
                            "topk:0.05+sign:8" };
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++)
        s_check_invariant (specs[s], 997, 60);
}

static void
test_residual_stays_bounded_for_a_contractive_codec (void **state)
{
    /* top-k with EF: e stays bounded (it does not grow with the number of steps) */
    const size_t d = 1000;
    int err;
    mdl_codec_t *c = mdl_codec_new ("topk:0.05", d, 1, &err);
    mdl_ef_t *ef = mdl_ef_new (d, &err);
    float *x = malloc (d * sizeof *x);
    uint8_t *p = malloc (mdl_codec_max_size (c));
    mdl_rng_t r;
    mdl_rng_seed (&r, 3, 3);
    double n100 = 0, n400 = 0;
    for (int t = 1; t <= 400; t++) {
        for (size_t i = 0; i < d; i++)
            x[i] = (float) mdl_rng_normal (&r);
        size_t len;
        assert_int_equal (mdl_ef_compress (ef, c, x, p, mdl_codec_max_size (c), &len, NULL), 0);
        double n = 0;
        for (size_t i = 0; i < d; i++)
            n += (double) mdl_ef_residual (ef)[i] * mdl_ef_residual (ef)[i];
        if (t == 100)
            n100 = n;
        if (t == 400)
            n400 = n;
    }
    assert_true (n400 < 2 * n100);
    free (x);
    free (p);
    mdl_ef_destroy (&ef);
    mdl_codec_destroy (&c);
}

static void
test_a_lossless_codec_leaves_no_residual_and_reset_clears_it (void **state)
{
    const size_t d = 100;
    int err;
    mdl_codec_t *c = mdl_codec_new ("fp32", d, 1, &err), *s = mdl_codec_new ("sign", d, 1, &err);
    mdl_ef_t *ef = mdl_ef_new (d, &err);
    float x[100];
    uint8_t p[400];
    for (size_t i = 0; i < d; i++)
        x[i] = (float) i - 50.5f;
    size_t len;
    assert_int_equal (mdl_ef_compress (ef, c, x, p, sizeof p, &len, NULL), 0);
    for (size_t i = 0; i < d; i++)
        assert_true (mdl_ef_residual (ef)[i] == 0.0f);
    assert_int_equal (mdl_ef_compress (ef, s, x, p, sizeof p, &len, NULL), 0);
    double n = 0;
    for (size_t i = 0; i < d; i++)
        n += fabsf (mdl_ef_residual (ef)[i]);
    assert_true (n > 0);
    mdl_ef_reset (ef);
    for (size_t i = 0; i < d; i++)
        assert_true (mdl_ef_residual (ef)[i] == 0.0f);
    mdl_codec_destroy (&c);
    mdl_codec_destroy (&s);
    mdl_ef_destroy (&ef);
}

static void
test_compress_refuses_a_codec_of_another_size_and_nonfinite_input (void **state)
{
    int err;
    mdl_codec_t *c = mdl_codec_new ("fp32", 10, 1, &err);
    mdl_ef_t *ef = mdl_ef_new (11, &err);
    float x[11] = { 0 };
    uint8_t p[64];
    size_t len;
    assert_int_equal (mdl_ef_compress (ef, c, x, p, sizeof p, &len, NULL), MDL_EINVAL);
    mdl_ef_destroy (&ef);
    ef = mdl_ef_new (10, &err);
    assert_int_equal (mdl_ef_compress (ef, c, x, p, 39, &len, NULL), MDL_EINVAL);
    x[3] = NAN;
    assert_int_equal (mdl_ef_compress (ef, c, x, p, sizeof p, &len, NULL), MDL_EWIRE_NONFINITE);
    mdl_ef_destroy (&ef);
    mdl_codec_destroy (&c);
    ef = mdl_ef_new (0, &err);
    assert_non_null (ef);
    c = mdl_codec_new ("topk:0.1", 0, 1, &err);
    assert_int_equal (mdl_ef_compress (ef, c, x, p, sizeof p, &len, NULL), 0);
    mdl_ef_destroy (&ef);
    mdl_codec_destroy (&c);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_sent_plus_residual_equals_sum_of_inputs_for_every_codec),
        cmocka_unit_test (test_residual_stays_bounded_for_a_contractive_codec),
        cmocka_unit_test (test_a_lossless_codec_leaves_no_residual_and_reset_clears_it),
        cmocka_unit_test (test_compress_refuses_a_codec_of_another_size_and_nonfinite_input),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
