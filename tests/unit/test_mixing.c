/*  test_mixing.c: the staleness rule and renormalisation, on hand-built rows and on
    hand-built mailboxes. */
#include "testutil.h"

#include <math.h>

#include "mailroom.h"
#include "mixing.h"

static void
test_fresh_states_keep_the_row_as_it_is (void **state)
{
    double w[2] = { 1.0 / 3, 1.0 / 3 }, c[2];
    uint64_t s[2] = { 0, 0 };
    mdl_mix_result_t r;
    mdl_mix_coefs (1.0 / 3, w, s, 2, 0.5, 10, c, &r);
    assert_true (fabs (c[0] - 1.0 / 3) < 1e-12 && fabs (c[1] - 1.0 / 3) < 1e-12);
    assert_true (fabs (r.self - 1.0 / 3) < 1e-12);
    assert_int_equal (r.used, 2);
    assert_int_equal (r.stale, 0);
}

static void
test_stale_states_are_discounted_by_lambda_to_the_staleness_and_renormalised (void **state)
{
    /* w_self 0.5, neighbours 0.25 and 0.25; one is 2 steps old with lambda 0.5:
       raw 0.25, 0.0625; Z = 0.8125 */
    double w[2] = { 0.25, 0.25 }, c[2];
    uint64_t s[2] = { 0, 2 };
    mdl_mix_result_t r;
    mdl_mix_coefs (0.5, w, s, 2, 0.5, 10, c, &r);
    assert_true (fabs (c[0] - 0.25 / 0.8125) < 1e-12);
    assert_true (fabs (c[1] - 0.0625 / 0.8125) < 1e-12);
    assert_true (fabs (r.self - 0.5 / 0.8125) < 1e-12);
    assert_true (fabs (r.self + c[0] + c[1] - 1.0) < 1e-12);
    assert_int_equal (r.stale, 1);
}

static void
test_too_stale_and_missing_neighbours_drop_out_and_the_rest_renormalises (void **state)
{
    double w[3] = { 0.25, 0.25, 0.25 }, c[3];
    uint64_t s[3] = { 0, 11, MDL_MIX_MISSING };
    mdl_mix_result_t r;
    mdl_mix_coefs (0.25, w, s, 3, 0.9, 10, c, &r);
    assert_true (c[1] == 0.0 && c[2] == 0.0);
    assert_true (fabs (c[0] - 0.5) < 1e-12 && fabs (r.self - 0.5) < 1e-12);
    assert_int_equal (r.used, 1);
    assert_int_equal (r.dropped, 1);
    /* nobody usable: the agent keeps its own state */
    uint64_t none[3] = { MDL_MIX_MISSING, 99, MDL_MIX_MISSING };
    mdl_mix_coefs (0.25, w, none, 3, 0.9, 10, c, &r);
    assert_true (r.self == 1.0 && r.used == 0);
}

static void
test_mailbox_steps_give_the_staleness_used_for_mixing (void **state)
{
    /* An agent at step 10 with two neighbours whose newest states are from steps 9 and
       4: staleness 1 and 6; with max 5 the second drops out. */
    int err;
    mdl_mailroom_t *room = mdl_mailroom_new (2, 1, 4, &err);
    uint64_t ids[2] = { 5, 6 }, steps[2] = { 9, 4 };
    for (int k = 0; k < 2; k++) {
        mdl_mailroom_add (room, ids[k]);
        float *v = mdl_mailroom_write_begin (room, ids[k], 0, steps[k], false);
        v[0] = v[1] = (float) k;
        mdl_slot_meta_t m = { .step = steps[k] };
        mdl_mailroom_write_end (room, ids[k], 0, &m);
    }
    uint64_t s[2];
    for (int k = 0; k < 2; k++) {
        mdl_slot_meta_t m;
        assert_true (mdl_mailroom_peek (room, ids[k], 0, &m));
        s[k] = 10 - m.step;
    }
    double w[2] = { 1.0 / 3, 1.0 / 3 }, c[2];
    mdl_mix_result_t r;
    mdl_mix_coefs (1.0 / 3, w, s, 2, 0.5, 5, c, &r);
    assert_true (fabs (c[0] - (1.0 / 6) / (1.0 / 3 + 1.0 / 6)) < 1e-12);
    assert_true (c[1] == 0.0);
    assert_int_equal (r.dropped, 1);
    mdl_mailroom_destroy (&room);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_fresh_states_keep_the_row_as_it_is),
        cmocka_unit_test (test_stale_states_are_discounted_by_lambda_to_the_staleness_and_renormalised),
        cmocka_unit_test (test_too_stale_and_missing_neighbours_drop_out_and_the_rest_renormalises),
        cmocka_unit_test (test_mailbox_steps_give_the_staleness_used_for_mixing),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
