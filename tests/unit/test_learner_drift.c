/*  test_learner_drift.c: the learner's label map (concept drift, --drift-at). A model
    that learned a separable two-feature problem scores ~100% on its labels and ~0% once
    the labels are rotated; training on through the drift relearns the rotated labels. */
#include "testutil.h"

#include "dataset.h"
#include "err.h"
#include "learner.h"

#include <string.h>

/* 3 classes, class c centred at feature c (one-hot-ish points with small offsets). */
static mdl_dataset_t *
s_data (size_t n)
{
    int err = 0;
    mdl_dataset_t *ds = mdl_dataset_new (n, 3, 3, &err);
    assert_non_null (ds);
    float *x = mdl_dataset_x_mut (ds);
    int32_t *y = mdl_dataset_labels_mut (ds);
    for (size_t i = 0; i < n; i++) {
        y[i] = (int32_t) (i % 3);
        for (int f = 0; f < 3; f++)
            x[i * 3 + (size_t) f] = (f == y[i] ? 2.0f : 0.0f) + 0.1f * (float) ((i * 7 + (size_t) f) % 5) / 5.0f;
    }
    return ds;
}

static double
s_acc (mdl_learner_t *l, const mdl_dataset_t *ds)
{
    double loss, acc;
    assert_int_equal (mdl_learner_evaluate (l, NULL, ds, 0, &loss, &acc), 0);
    return acc;
}

static void
test_rotated_labels_flip_accuracy_and_are_relearned (void **state)
{
    (void) state;
    mdl_dataset_t *ds = s_data (96);
    mdl_learner_cfg_t cfg;
    memset (&cfg, 0, sizeof cfg);
    cfg.spec = "mlp:3-3";
    cfg.seed = 1;
    cfg.batch = 12;
    cfg.epochs = 1;
    mdl_opt_defaults (&cfg.opt, MDL_OPT_SGD);
    assert_int_equal (mdl_sched_parse ("constant", &cfg.sched), 0);
    cfg.sched.lr0 = 0.5f;
    int err = 0;
    mdl_learner_t *l = mdl_learner_new (&cfg, ds, NULL, 0, &err);
    assert_non_null (l);
    float loss;
    for (int k = 0; k < 200; k++)
        assert_int_equal (mdl_learner_step (l, &loss), 0);
    assert_true (s_acc (l, ds) > 0.99);

    int32_t map[3];
    mdl_label_map_rotate (map, 3);
    for (int c = 0; c < 3; c++)
        assert_int_not_equal (map[c], c); /* every class changes its label */
    mdl_learner_set_label_map (l, map);
    assert_true (s_acc (l, ds) < 0.01); /* the old concept is now always wrong */
    for (int k = 0; k < 400; k++)
        assert_int_equal (mdl_learner_step (l, &loss), 0);
    assert_true (s_acc (l, ds) > 0.99); /* ... and the new one is learned */
    mdl_learner_set_label_map (l, NULL);
    assert_true (s_acc (l, ds) < 0.01);
    mdl_learner_destroy (&l);
    mdl_dataset_destroy (&ds);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_rotated_labels_flip_accuracy_and_are_relearned),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
