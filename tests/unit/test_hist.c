/*  test_hist.c: the fixed-bucket histogram behind /metrics' histograms: which bucket a
    value lands in (bounds are inclusive, as Prometheus's le), the cumulative counts, the
    sum, and NaN left out. */
#include "testutil.h"

#include "hist.h"

#include <math.h>

static const double s_le[] = { 0, 1, 2, 4 };

static void
test_hist_bounds_are_inclusive_upper_limits (void **state)
{
    mdl_hist_t h;
    mdl_hist_init (&h, s_le, 4);
    const double v[] = { 0, 1, 1.5, 2, 4, 4.0001, 100 };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        mdl_hist_observe (&h, v[i]);
    assert_int_equal (h.bucket[0], 1); /* 0 */
    assert_int_equal (h.bucket[1], 1); /* 1 */
    assert_int_equal (h.bucket[2], 2); /* 1.5, 2 */
    assert_int_equal (h.bucket[3], 1); /* 4 */
    assert_int_equal (h.bucket[4], 2); /* above 4: +Inf */
    assert_int_equal (h.count, 7);
    assert_true (fabs (h.sum - (0 + 1 + 1.5 + 2 + 4 + 4.0001 + 100)) < 1e-9);
}

static void
test_hist_cumulative_counts_end_at_the_total (void **state)
{
    mdl_hist_t h;
    mdl_hist_init (&h, s_le, 4);
    for (int i = 0; i < 10; i++)
        mdl_hist_observe (&h, (double) i);
    assert_int_equal (mdl_hist_cumulative (&h, 0), 1);  /* 0 */
    assert_int_equal (mdl_hist_cumulative (&h, 1), 2);  /* 0, 1 */
    assert_int_equal (mdl_hist_cumulative (&h, 2), 3);  /* ... 2 */
    assert_int_equal (mdl_hist_cumulative (&h, 3), 5);  /* ... 3, 4 */
    assert_int_equal (mdl_hist_cumulative (&h, 4), 10); /* +Inf: everything */
    for (size_t i = 1; i <= 4; i++)
        assert_true (mdl_hist_cumulative (&h, i) >= mdl_hist_cumulative (&h, i - 1));
}

static void
test_hist_leaves_nan_out_and_keeps_its_sum_finite (void **state)
{
    mdl_hist_t h;
    mdl_hist_init (&h, s_le, 4);
    mdl_hist_observe (&h, NAN);
    mdl_hist_observe (&h, 3);
    assert_int_equal (h.count, 1);
    assert_true (h.sum == 3);
    mdl_hist_observe (&h, INFINITY); /* counted, in the +Inf bucket */
    assert_int_equal (h.bucket[4], 1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_hist_bounds_are_inclusive_upper_limits),
        cmocka_unit_test (test_hist_cumulative_counts_end_at_the_total),
        cmocka_unit_test (test_hist_leaves_nan_out_and_keeps_its_sum_finite),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
