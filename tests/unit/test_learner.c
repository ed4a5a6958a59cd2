/*  test_learner.c: the learner's checkpoint sections (mdl_learner_save/restore). A learner
    restored from an image taken mid-epoch draws exactly the minibatches the saved one
    would have drawn: the two end bit for bit equal. On another shard only the data
    position is not restored; an image of another model or optimizer changes nothing.
    mdl_learner_evaluate_many gives each vector what evaluating it alone, chunk by chunk,
    gives: the same sums in the same order, over several blocks of rows. */
#include "testutil.h"

#include "dataset.h"
#include "err.h"
#include "learner.h"
#include "model.h"
#include "rng.h"

#include <stdlib.h>
#include <string.h>

static mdl_dataset_t *
s_data (size_t n)
{
    int err = 0;
    mdl_dataset_t *ds = mdl_dataset_new (n, 4, 3, &err);
    assert_non_null (ds);
    float *x = mdl_dataset_x_mut (ds);
    int32_t *y = mdl_dataset_labels_mut (ds);
    for (size_t i = 0; i < n; i++) {
        y[i] = (int32_t) (i % 3);
        for (int f = 0; f < 4; f++)
            x[i * 4 + (size_t) f] = (float) ((i * 13 + (size_t) f * 7) % 11) / 11.0f + (f == y[i] ? 1.0f : 0.0f);
    }
    return ds;
}

static mdl_learner_t *
s_learner (const mdl_dataset_t *ds, const uint32_t *rows, size_t n, const char *spec, mdl_opt_kind_t opt)
{
    mdl_learner_cfg_t cfg;
    memset (&cfg, 0, sizeof cfg);
    cfg.spec = spec;
    cfg.seed = 3;
    cfg.data_seed = 77;
    cfg.batch = 5;
    cfg.epochs = 4;
    mdl_opt_defaults (&cfg.opt, opt);
    assert_int_equal (mdl_sched_parse ("cosine", &cfg.sched), 0);
    cfg.sched.lr0 = 0.1f;
    int err = 0;
    mdl_learner_t *l = mdl_learner_new (&cfg, ds, rows, n, &err);
    assert_non_null (l);
    return l;
}

static void
s_steps (mdl_learner_t *l, int k)
{
    float loss;
    for (int i = 0; i < k; i++)
        assert_int_equal (mdl_learner_step (l, &loss), 0);
}

static mdl_ckpt_image_t *
s_save (const mdl_learner_t *l)
{
    int rc;
    mdl_ckpt_image_t *img = mdl_ckpt_image_new ("mlp:4-6-3", "", 0, 0, &rc);
    assert_non_null (img);
    assert_int_equal (mdl_learner_save (l, img), 0);
    return img;
}

static void
test_restored_learner_takes_the_same_steps_bit_for_bit (void **state)
{
    mdl_dataset_t *ds = s_data (60);
    mdl_learner_t *a = s_learner (ds, NULL, 0, "mlp:4-6-3", MDL_OPT_ADAM);
    s_steps (a, 17); /* 12 steps per epoch: mid-way through the second */
    mdl_ckpt_image_t *img = s_save (a);
    mdl_learner_t *b = s_learner (ds, NULL, 0, "mlp:4-6-3", MDL_OPT_ADAM);
    bool position = false;
    assert_int_equal (mdl_learner_restore (b, img, &position), 0);
    assert_true (position);
    assert_int_equal (mdl_learner_steps (b), 17);
    s_steps (a, 20);
    s_steps (b, 20);
    const size_t d = mdl_model_nparams (mdl_learner_model (a));
    assert_memory_equal (mdl_model_params (mdl_learner_model (a)), mdl_model_params (mdl_learner_model (b)), d * 4);
    size_t n1, n2;
    float *s1 = mdl_optim_state (mdl_learner_optim (a), &n1), *s2 = mdl_optim_state (mdl_learner_optim (b), &n2);
    assert_int_equal (n1, n2);
    assert_memory_equal (s1, s2, n1 * 4);
    mdl_ckpt_image_destroy (&img);
    mdl_learner_destroy (&a);
    mdl_learner_destroy (&b);
    mdl_dataset_destroy (&ds);
}

static void
test_other_shard_restores_the_model_but_not_the_data_position (void **state)
{
    mdl_dataset_t *ds = s_data (60);
    uint32_t r1[30], r2[30];
    for (uint32_t i = 0; i < 30; i++)
        r1[i] = i, r2[i] = 30 + i;
    mdl_learner_t *a = s_learner (ds, r1, 30, "mlp:4-6-3", MDL_OPT_MOMENTUM);
    s_steps (a, 8);
    mdl_ckpt_image_t *img = s_save (a);
    mdl_learner_t *b = s_learner (ds, r2, 30, "mlp:4-6-3", MDL_OPT_MOMENTUM);
    bool position = true;
    assert_int_equal (mdl_learner_restore (b, img, &position), 0);
    assert_false (position);
    assert_int_equal (mdl_learner_steps (b), 8);
    const size_t d = mdl_model_nparams (mdl_learner_model (a));
    assert_memory_equal (mdl_model_params (mdl_learner_model (a)), mdl_model_params (mdl_learner_model (b)), d * 4);
    mdl_ckpt_image_destroy (&img);
    mdl_learner_destroy (&a);
    mdl_learner_destroy (&b);
    mdl_dataset_destroy (&ds);
}

static void
test_image_of_another_model_or_optimizer_changes_nothing (void **state)
{
    mdl_dataset_t *ds = s_data (60);
    mdl_learner_t *a = s_learner (ds, NULL, 0, "mlp:4-6-3", MDL_OPT_ADAM);
    s_steps (a, 3);
    mdl_ckpt_image_t *img = s_save (a);
    const char *specs[] = { "mlp:4-7-3", "mlp:4-6-3" };
    const mdl_opt_kind_t opts[] = { MDL_OPT_ADAM, MDL_OPT_MOMENTUM };
    for (int k = 0; k < 2; k++) {
        mdl_learner_t *b = s_learner (ds, NULL, 0, specs[k], opts[k]);
        const size_t d = mdl_model_nparams (mdl_learner_model (b));
        float *before = malloc (d * 4);
        assert_non_null (before);
        memcpy (before, mdl_model_params (mdl_learner_model (b)), d * 4);
        assert_int_equal (mdl_learner_restore (b, img, NULL), MDL_ECKPT_MODEL);
        assert_memory_equal (before, mdl_model_params (mdl_learner_model (b)), d * 4);
        assert_int_equal (mdl_learner_steps (b), 0);
        free (before);
        mdl_learner_destroy (&b);
    }
    mdl_ckpt_image_destroy (&img);
    mdl_learner_destroy (&a);
    mdl_dataset_destroy (&ds);
}

/* The evaluation of params on the first n rows, chunk by chunk, as mdl_learner_evaluate
   did before it read the rows in blocks for many vectors at once. */
static void
s_reference (mdl_learner_t *l, const float *params, const mdl_dataset_t *ds, size_t n, double *loss, double *acc)
{
    int err = 0;
    mdl_model_t *m = mdl_model_new (mdl_model_spec (mdl_learner_model (l)), 0, &err);
    assert_non_null (m);
    memcpy (mdl_model_params (m), params ? params : mdl_model_params (mdl_learner_model (l)),
            mdl_model_nparams (m) * sizeof (float));
    const size_t dim = mdl_dataset_dim (ds), chunk = 256;
    assert_int_equal (mdl_model_reserve (m, chunk), 0);
    float *xb = malloc (chunk * dim * sizeof *xb);
    int32_t yb[256];
    uint32_t idx[256];
    assert_non_null (xb);
    double total = 0;
    size_t correct = 0;
    for (size_t at = 0; at < n; at += chunk) {
        const size_t b = n - at < chunk ? n - at : chunk;
        for (size_t i = 0; i < b; i++)
            idx[i] = (uint32_t) (at + i);
        mdl_dataset_gather (ds, idx, b, xb, yb);
        mdl_model_forward (m, xb, b);
        size_t ok = 0;
        total += (double) mdl_model_loss (m, yb, NULL, b, &ok) * (double) b;
        correct += ok;
    }
    *loss = total / (double) n;
    *acc = (double) correct / (double) n;
    free (xb);
    mdl_model_destroy (&m);
}

static void
test_many_vectors_evaluated_at_once_as_each_alone (void **state)
{
    /* 4096 inputs: a block of rows is 2 chunks (8 MB), so 1300 rows are 3 blocks */
    const size_t n = 1300, dim = 4096;
    int err = 0;
    mdl_dataset_t *ds = mdl_dataset_new (n, dim, 3, &err);
    assert_non_null (ds);
    mdl_rng_t rng;
    mdl_rng_seed (&rng, 5, 1);
    float *x = mdl_dataset_x_mut (ds);
    int32_t *y = mdl_dataset_labels_mut (ds);
    for (size_t i = 0; i < n; i++) {
        y[i] = (int32_t) (i % 3);
        for (size_t f = 0; f < dim; f++)
            x[i * dim + f] = (float) mdl_rng_normal (&rng) + (f % 3 == (size_t) y[i] ? 0.05f : 0.0f);
    }
    mdl_learner_t *l = s_learner (ds, NULL, 0, "mlp:4096-8-3", MDL_OPT_SGD);
    const size_t d = mdl_learner_dim (l);
    float *p1 = malloc (d * sizeof *p1), *p2 = malloc (d * sizeof *p2);
    assert_true (p1 && p2);
    for (size_t k = 0; k < d; k++) {
        p1[k] = 0.02f * (float) mdl_rng_normal (&rng);
        p2[k] = 0.05f * (float) mdl_rng_normal (&rng);
    }
    const float *const params[3] = { p1, NULL, p2 };
    const size_t rows[2] = { 0, 1000 }; /* all 1300 (3 blocks), and a part of the last block */
    for (int r = 0; r < 2; r++) {
        double loss[3], acc[3];
        assert_int_equal (mdl_learner_evaluate_many (l, params, 3, ds, rows[r], loss, acc), 0);
        for (int j = 0; j < 3; j++) {
            double rl, ra, ol, oa;
            s_reference (l, params[j], ds, rows[r] ? rows[r] : n, &rl, &ra);
            assert_int_equal (mdl_learner_evaluate (l, params[j], ds, rows[r], &ol, &oa), 0);
            if (loss[j] != rl || acc[j] != ra || ol != rl || oa != ra)
                fail_msg ("vector %d, %zu rows: loss %.17g/%.17g alone %.17g, reference %.17g; acc %g/%g, reference %g", j,
                          rows[r], loss[j], ol, ol, rl, acc[j], oa, ra);
        }
        assert_true (loss[0] != loss[2]); /* different vectors, different figures */
    }
    free (p1);
    free (p2);
    mdl_learner_destroy (&l);
    mdl_dataset_destroy (&ds);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_restored_learner_takes_the_same_steps_bit_for_bit),
        cmocka_unit_test (test_other_shard_restores_the_model_but_not_the_data_position),
        cmocka_unit_test (test_image_of_another_model_or_optimizer_changes_nothing),
        cmocka_unit_test (test_many_vectors_evaluated_at_once_as_each_alone),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
