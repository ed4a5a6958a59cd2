/*  test_api_data.c: datasets through the public API alone (<meshdl.h>, libmeshdl.so):
    what a program built against the installed package calls must be exported and work.
    mdl_dataset_keep_rows on IDX data (a shard kept, the rest let go), and the
    minimum-norm least-squares solution of a regression set (mdl_dataset_minnorm). */
#include <meshdl.h>

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define S_ROWS 6
#define S_SIDE 3 /* S_SIDE x S_SIDE pixels */

/* Writes a big-endian u32. */
static void
s_be32 (FILE *f, uint32_t v)
{
    const unsigned char b[4] = { (unsigned char) (v >> 24), (unsigned char) (v >> 16), (unsigned char) (v >> 8),
                                 (unsigned char) v };
    assert_int_equal (fwrite (b, 1, 4, f), 4);
}

/* An IDX pair of S_ROWS images (pixel k of row i: 40 i + k) and labels (i % 3) in dir. */
static void
s_write_idx (const char *dir, char *images, char *labels, size_t len)
{
    snprintf (images, len, "%s/images-idx3-ubyte", dir);
    snprintf (labels, len, "%s/labels-idx1-ubyte", dir);
    FILE *f = fopen (images, "wb");
    assert_non_null (f);
    s_be32 (f, 0x00000803);
    s_be32 (f, S_ROWS);
    s_be32 (f, S_SIDE);
    s_be32 (f, S_SIDE);
    for (int i = 0; i < S_ROWS; i++)
        for (int k = 0; k < S_SIDE * S_SIDE; k++)
            fputc (40 * i + k, f);
    assert_int_equal (fclose (f), 0);
    assert_non_null (f = fopen (labels, "wb"));
    s_be32 (f, 0x00000801);
    s_be32 (f, S_ROWS);
    for (int i = 0; i < S_ROWS; i++)
        fputc (i % 3, f);
    assert_int_equal (fclose (f), 0);
}

static void
test_keep_rows_keeps_the_pixels_of_the_shard_and_every_label (void **state)
{
    char dir[] = "/tmp/mdl-api-data.XXXXXX", images[128], labels[128];
    assert_non_null (mkdtemp (dir));
    s_write_idx (dir, images, labels, sizeof images);
    int err = 0;
    mdl_dataset_t *ds = mdl_dataset_load_idx (images, labels, &err);
    assert_non_null (ds);
    assert_int_equal (mdl_dataset_n (ds), S_ROWS);
    assert_int_equal (mdl_dataset_dim (ds), S_SIDE * S_SIDE);
    float mean, sd;
    mdl_dataset_stats (ds, &mean, &sd);
    mdl_dataset_normalize (ds, mean, sd);
    const uint32_t shard[] = { 4, 1, 4 }; /* any order, repeats allowed */
    float before[3][S_SIDE * S_SIDE], after[3][S_SIDE * S_SIDE];
    int32_t yb[3], ya[3];
    mdl_dataset_gather (ds, shard, 3, &before[0][0], yb);
    assert_int_equal (mdl_dataset_keep_rows (ds, shard, 3), 0);
    /* row indices stay those of the full set, the kept rows read as before */
    assert_int_equal (mdl_dataset_n (ds), S_ROWS);
    memset (after, 0, sizeof after);
    mdl_dataset_gather (ds, shard, 3, &after[0][0], ya);
    assert_memory_equal (before, after, sizeof before);
    assert_memory_equal (yb, ya, sizeof yb);
    /* pixels normalised as loaded: row 1's first pixel is byte 40, scaled to [0, 1] */
    assert_float_equal (after[1][0], (40.0f / 255.0f - mean) / sd, 1e-5f);
    /* the labels of every row stay: the partitioners need them all */
    const int32_t *y = mdl_dataset_labels (ds);
    for (int i = 0; i < S_ROWS; i++)
        assert_int_equal (y[i], i % 3);
    mdl_dataset_destroy (&ds);
    assert_null (ds);
    unlink (images);
    unlink (labels);
    rmdir (dir);
}

static void
test_keep_rows_of_float_data_changes_nothing (void **state)
{
    int err = 0;
    mdl_dataset_t *ds = mdl_dataset_new (4, 2, 2, &err);
    assert_non_null (ds);
    float *x = mdl_dataset_x_mut (ds);
    for (int k = 0; k < 8; k++)
        x[k] = (float) k;
    const uint32_t rows[] = { 2 };
    assert_int_equal (mdl_dataset_keep_rows (ds, rows, 1), 0);
    const uint32_t all[] = { 0, 1, 2, 3 };
    float back[8];
    mdl_dataset_gather (ds, all, 4, back, NULL);
    for (int k = 0; k < 8; k++)
        assert_float_equal (back[k], (float) k, 0);
    mdl_dataset_destroy (&ds);
}

/* The largest |<w, x_i> - y_i| over ds's rows (float features, targets). */
static double
s_worst_residual (const mdl_dataset_t *ds, const double *w)
{
    const size_t dim = mdl_dataset_dim (ds);
    const float *X = mdl_dataset_x (ds), *y = mdl_dataset_targets (ds);
    double worst = 0;
    for (size_t i = 0; i < mdl_dataset_n (ds); i++) {
        double r = -y[i];
        for (size_t k = 0; k < dim; k++)
            r += w[k] * X[i * dim + k];
        worst = fabs (r) > worst ? fabs (r) : worst;
    }
    return worst;
}

static void
test_minnorm_solves_noise_free_least_squares_and_refuses_classification_data (void **state)
{
    mdl_dataset_t *train = NULL, *test = NULL;
    assert_int_equal (mdl_dataset_synthetic ("synthetic:linreg:200:8:0", 3, &train, &test), 0);
    double w[8], w0[8] = { 0 };
    assert_int_equal (mdl_dataset_minnorm (train, w), 0);
    /* no noise and more rows than unknowns: the solution fits every row, unseen ones too */
    assert_true (s_worst_residual (train, w) < 1e-4 * s_worst_residual (train, w0));
    assert_true (s_worst_residual (test, w) < 1e-4 * s_worst_residual (test, w0));
    int err = 0;
    mdl_dataset_t *cls = mdl_dataset_new (4, 2, 2, &err);
    assert_int_equal (mdl_dataset_minnorm (cls, w), MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "targets"));
    mdl_dataset_destroy (&cls);
    mdl_dataset_destroy (&train);
    mdl_dataset_destroy (&test);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_keep_rows_keeps_the_pixels_of_the_shard_and_every_label),
        cmocka_unit_test (test_keep_rows_of_float_data_changes_nothing),
        cmocka_unit_test (test_minnorm_solves_noise_free_least_squares_and_refuses_classification_data),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
