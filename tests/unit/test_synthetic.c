/*  test_synthetic.c: the synthetic least-squares generator and the learner on it. */
#include "testutil.h"

#include "dataset.h"
#include "err.h"
#include "learner.h"
#include "synthetic.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void
test_parse_reads_n_d_noise_and_optional_het (void **state)
{
    (void) state;
    mdl_synth_spec_t s;
    char err[256];
    assert_int_equal (mdl_synthetic_parse ("synthetic:linreg:1000:20:0.5", &s, err, sizeof err), 0);
    assert_int_equal (s.n, 1000);
    assert_int_equal (s.dim, 20);
    assert_true (s.noise == 0.5 && s.het == 0.0);
    assert_int_equal (mdl_synthetic_parse ("synthetic:linreg:10:1:0:2.5", &s, err, sizeof err), 0);
    assert_true (s.n == 10 && s.dim == 1 && s.noise == 0.0 && s.het == 2.5);
}

static void
test_parse_refuses_malformed_specs_with_a_message (void **state)
{
    (void) state;
    static const char *bad[] = {
        "synthetic:",                        "synthetic:linreg",
        "synthetic:linreg:",                 "synthetic:linreg:100:5",
        "synthetic:logreg:100:5:0.1",        "synthetic:linreg:abc:5:0.1",
        "synthetic:linreg:-100:5:0.1",       "synthetic:linreg:9:5:0.1",
        "synthetic:linreg:100:0:0.1",        "synthetic:linreg:100:5:-1",
        "synthetic:linreg:100:5:0.1x",       "synthetic:linreg:100:5:nan",
        "synthetic:linreg:100:5:0.1:inf",    "synthetic:linreg:100:5:0.1:-1",
        "synthetic:linreg:100:5:0.1:1:2",    "synthetic:linreg:100::0.1",
        "synthetic:linreg:100:5:0.1:",       "synthetic:linreg:4000000000:4000:0.1",
        "synthetic:linreg:99999999999999999999999:5:0.1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mdl_synth_spec_t s;
        char err[256] = "";
        if (mdl_synthetic_parse (bad[i], &s, err, sizeof err) != MDL_EINVAL)
            fail_msg ("accepted '%s'", bad[i]);
        assert_true (strlen (err) > 10);
    }
}

static void
test_same_seed_same_bits_other_seed_other_data (void **state)
{
    (void) state;
    mdl_synth_spec_t s = { .n = 200, .dim = 7, .noise = 0.3, .het = 1.0 };
    mdl_dataset_t *a, *at, *b, *bt, *c, *ct;
    assert_int_equal (mdl_synthetic_make (&s, 5, &a, &at), 0);
    assert_int_equal (mdl_synthetic_make (&s, 5, &b, &bt), 0);
    assert_int_equal (mdl_synthetic_make (&s, 6, &c, &ct), 0);
    assert_int_equal (mdl_dataset_n (a), 200);
    assert_int_equal (mdl_dataset_n (at), 40);
    assert_memory_equal (mdl_dataset_x (a), mdl_dataset_x (b), 200 * 7 * sizeof (float));
    assert_memory_equal (mdl_dataset_targets (a), mdl_dataset_targets (b), 200 * sizeof (float));
    assert_memory_equal (mdl_dataset_targets (at), mdl_dataset_targets (bt), 40 * sizeof (float));
    assert_memory_not_equal (mdl_dataset_x (a), mdl_dataset_x (c), 200 * 7 * sizeof (float));
    /* the test split is drawn apart from the training rows */
    assert_memory_not_equal (mdl_dataset_x (a), mdl_dataset_x (at), 40 * 7 * sizeof (float));
    mdl_dataset_t *all[] = { a, at, b, bt, c, ct };
    for (int i = 0; i < 6; i++)
        mdl_dataset_destroy (&all[i]);
}

/* The public generator (meshdl/data.h) makes what the spec says, and a spec that does
   not parse is refused with its reason, leaving no dataset behind. */
static void
test_public_generator_makes_the_spec_and_says_why_a_spec_is_refused (void **state)
{
    (void) state;
    assert_true (mdl_dataset_is_synthetic ("synthetic:linreg:100:3:0"));
    assert_false (mdl_dataset_is_synthetic ("/usr/share/datasets/fashion-mnist"));
    assert_false (mdl_dataset_is_synthetic (NULL));
    mdl_dataset_t *tr = NULL, *te = NULL, *a = NULL, *at = NULL;
    assert_int_equal (mdl_dataset_synthetic ("synthetic:linreg:100:3:0.5", 9, &tr, &te), 0);
    assert_int_equal (mdl_dataset_n (tr), 100);
    assert_int_equal (mdl_dataset_dim (tr), 3);
    assert_non_null (mdl_dataset_targets (tr));
    mdl_synth_spec_t s = { .n = 100, .dim = 3, .noise = 0.5 };
    assert_int_equal (mdl_synthetic_make (&s, 9, &a, &at), 0);
    assert_memory_equal (mdl_dataset_targets (tr), mdl_dataset_targets (a), 100 * sizeof (float));
    mdl_dataset_t *all[] = { tr, te, a, at };
    for (int i = 0; i < 4; i++)
        mdl_dataset_destroy (&all[i]);
    tr = te = (mdl_dataset_t *) 1;
    assert_int_equal (mdl_dataset_synthetic ("synthetic:linreg:100:5", 1, &tr, &te), MDL_EINVAL);
    assert_null (tr);
    assert_null (te);
    assert_non_null (strstr (mdl_error_detail (), "too few fields"));
}

/* Without noise every target is exactly the row's group model applied to its features;
   groups differ by HET u_g, and not at all when HET = 0. */
static void
test_noiseless_targets_are_the_group_models_and_het_shifts_them (void **state)
{
    (void) state;
    enum { N = 100, D = 6, G = MDL_SYNTH_GROUPS };
    mdl_synth_spec_t s = { .n = N, .dim = D, .noise = 0.0, .het = 2.0 };
    mdl_dataset_t *tr, *te;
    assert_int_equal (mdl_synthetic_make (&s, 11, &tr, &te), 0);
    assert_int_equal (mdl_dataset_classes (tr), G);
    float w[G][D];
    for (int g = 0; g < G; g++)
        mdl_synthetic_truth (&s, 11, g, w[g]);
    const float *x = mdl_dataset_x (tr), *y = mdl_dataset_targets (tr);
    const int32_t *lab = mdl_dataset_labels (tr);
    double meanx = 0, varx = 0;
    for (size_t i = 0; i < N; i++) {
        assert_int_equal (lab[i], (int32_t) (i % G));
        double t = 0;
        for (int k = 0; k < D; k++) {
            t += (double) w[lab[i]][k] * x[i * D + k];
            meanx += x[i * D + k];
            varx += (double) x[i * D + k] * x[i * D + k];
        }
        assert_float_equal (y[i], t, 1e-5);
    }
    meanx /= N * D;
    varx /= N * D;
    assert_true (fabs (meanx) < 0.2 && fabs (varx - 1.0) < 0.3);
    double diff = 0;
    for (int k = 0; k < D; k++)
        diff += fabs (w[0][k] - w[1][k]);
    assert_true (diff > 0.5);
    s.het = 0.0;
    float w0[D], w1[D];
    mdl_synthetic_truth (&s, 11, 0, w0);
    mdl_synthetic_truth (&s, 11, 7, w1);
    assert_memory_equal (w0, w1, sizeof w0);
    mdl_dataset_destroy (&tr);
    mdl_dataset_destroy (&te);
}

/* The learner feeds the float targets to linreg's MSE: SGD recovers w* to about the
   noise level; a classifier is refused on regression data and linreg on class data. */
static void
test_linreg_learns_the_synthetic_truth_and_mismatched_models_are_refused (void **state)
{
    (void) state;
    enum { D = 5 };
    mdl_synth_spec_t s = { .n = 2000, .dim = D, .noise = 0.01, .het = 0.0 };
    mdl_dataset_t *tr, *te;
    assert_int_equal (mdl_synthetic_make (&s, 3, &tr, &te), 0);
    mdl_learner_cfg_t cfg = { .spec = "linreg:5", .seed = 1, .data_seed = 1, .batch = 20, .epochs = 5 };
    mdl_opt_defaults (&cfg.opt, MDL_OPT_SGD);
    cfg.sched.lr0 = 0.1f;
    int rc;
    mdl_learner_t *l = mdl_learner_new (&cfg, tr, NULL, 0, &rc);
    assert_non_null (l);
    double loss0, loss, acc;
    assert_int_equal (mdl_learner_evaluate (l, NULL, te, 0, &loss0, &acc), 0);
    for (int i = 0; i < 500; i++)
        assert_int_equal (mdl_learner_step (l, NULL), 0);
    assert_int_equal (mdl_learner_evaluate (l, NULL, te, 0, &loss, &acc), 0);
    assert_true (loss0 > 0.1);
    assert_true (loss < 1e-3); /* 0.5 noise^2 = 5e-5 at the optimum */
    float w[D];
    mdl_synthetic_truth (&s, 3, 0, w);
    const float *p = mdl_model_params (mdl_learner_model (l));
    for (int k = 0; k < D; k++)
        assert_float_equal (p[k], w[k], 0.02);
    mdl_learner_destroy (&l);
    cfg.spec = "mlp:5-10";
    assert_null (mdl_learner_new (&cfg, tr, NULL, 0, &rc));
    assert_int_equal (rc, MDL_ESHAPE);
    mdl_dataset_t *cls = mdl_dataset_new (10, D, 2, &rc);
    cfg.spec = "linreg:5";
    assert_null (mdl_learner_new (&cfg, cls, NULL, 0, &rc));
    assert_int_equal (rc, MDL_ESHAPE);
    mdl_dataset_destroy (&cls);
    mdl_dataset_destroy (&tr);
    mdl_dataset_destroy (&te);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_parse_reads_n_d_noise_and_optional_het),
        cmocka_unit_test (test_parse_refuses_malformed_specs_with_a_message),
        cmocka_unit_test (test_same_seed_same_bits_other_seed_other_data),
        cmocka_unit_test (test_public_generator_makes_the_spec_and_says_why_a_spec_is_refused),
        cmocka_unit_test (test_noiseless_targets_are_the_group_models_and_het_shifts_them),
        cmocka_unit_test (test_linreg_learns_the_synthetic_truth_and_mismatched_models_are_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
