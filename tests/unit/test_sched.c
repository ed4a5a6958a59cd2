/*  test_sched.c: learning-rate schedules against hand-computed rates. */
#include "testutil.h"

#include "err.h"
#include "sched.h"

#include <stdio.h>
#include <string.h>

#define TOL 1e-7f

static mdl_sched_t
s_sched (mdl_sched_kind_t kind, float lr0, uint64_t spe)
{
    mdl_sched_t s;
    memset (&s, 0, sizeof s);
    s.kind = kind;
    s.lr0 = lr0;
    s.gamma = 1.0f;
    s.steps_per_epoch = spe;
    return s;
}

static void
test_constant_rate_never_changes (void **state)
{
    mdl_sched_t s = s_sched (MDL_SCHED_CONSTANT, 0.1f, 10);
    assert_float_equal (mdl_sched_lr (&s, 0), 0.1f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 12345), 0.1f, TOL);
    assert_float_equal (mdl_sched_lr (&s, UINT64_MAX), 0.1f, TOL);
    assert_int_equal (mdl_sched_phase (&s, 0), 0);
    assert_int_equal (mdl_sched_phase (&s, 1000000), 0);
}

static void
test_warmup_rises_linearly_from_lr0_over_w_to_lr0 (void **state)
{
    /* 0.5 epochs of 10 steps: W = 5, rates 0.1 * (1..5)/5. */
    mdl_sched_t s = s_sched (MDL_SCHED_CONSTANT, 0.1f, 10);
    s.warmup_epochs = 0.5;
    assert_float_equal (mdl_sched_lr (&s, 0), 0.02f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 1), 0.04f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 3), 0.08f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 4), 0.1f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 5), 0.1f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 100), 0.1f, TOL);
    assert_int_equal (mdl_sched_phase (&s, 2), 0);
}

static void
test_step_decays_by_gamma_at_each_epoch_milestone (void **state)
{
    mdl_sched_t s = s_sched (MDL_SCHED_CONSTANT, 0.1f, 100);
    assert_int_equal (mdl_sched_parse ("step:0.1:30,60", &s), MDL_OK);
    /* Milestones at steps 3000 and 6000. */
    assert_float_equal (mdl_sched_lr (&s, 0), 0.1f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 2999), 0.1f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 3000), 0.01f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 5999), 0.01f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 6000), 0.001f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 1000000), 0.001f, TOL);
    assert_int_equal (mdl_sched_phase (&s, 0), 0);
    assert_int_equal (mdl_sched_phase (&s, 2999), 0);
    assert_int_equal (mdl_sched_phase (&s, 3000), 1);
    assert_int_equal (mdl_sched_phase (&s, 5999), 1);
    assert_int_equal (mdl_sched_phase (&s, 6000), 2);
    assert_int_equal (mdl_sched_phase (&s, 1000000), 2);
}

static void
test_fractional_milestone_takes_effect_at_the_ceiling_step (void **state)
{
    /* 3 steps per epoch: epoch 1.5 -> ceil(4.5) = step 5, epoch 2 -> step 6. */
    mdl_sched_t s = s_sched (MDL_SCHED_CONSTANT, 0.2f, 3);
    assert_int_equal (mdl_sched_parse ("step:0.5:1.5,2", &s), MDL_OK);
    assert_float_equal (mdl_sched_lr (&s, 4), 0.2f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 5), 0.1f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 6), 0.05f, TOL);
    /* 0.07 * 100 is 7.000000000000001 in double; the milestone is step 7, not 8. */
    s.steps_per_epoch = 100;
    assert_int_equal (mdl_sched_parse ("step:0.5:0.07", &s), MDL_OK);
    assert_float_equal (mdl_sched_lr (&s, 6), 0.2f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 7), 0.1f, TOL);
    assert_int_equal (mdl_sched_phase (&s, 7), 1);
}

static void
test_step_with_warmup_keeps_milestones_in_absolute_epochs (void **state)
{
    /* W = 10 steps; the milestone at epoch 2 is step 20, not 30. */
    mdl_sched_t s = s_sched (MDL_SCHED_CONSTANT, 0.1f, 10);
    s.warmup_epochs = 1.0;
    assert_int_equal (mdl_sched_parse ("step:0.1:2", &s), MDL_OK);
    assert_float_equal (mdl_sched_lr (&s, 0), 0.01f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 4), 0.05f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 9), 0.1f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 19), 0.1f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 20), 0.01f, TOL);
    assert_int_equal (mdl_sched_phase (&s, 9), 0);
    assert_int_equal (mdl_sched_phase (&s, 20), 1);
}

static void
test_cosine_falls_from_lr0_to_lr_min_over_total_steps (void **state)
{
    /* lr = 0.05 (1 + cos(pi t / 100)): cos(pi/4) = 0.70710678. */
    mdl_sched_t s = s_sched (MDL_SCHED_COSINE, 0.1f, 10);
    s.total_steps = 100;
    assert_float_equal (mdl_sched_lr (&s, 0), 0.1f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 25), 0.08535534f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 50), 0.05f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 75), 0.01464466f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 100), 0.0f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 500), 0.0f, TOL);
    /* With a floor of 0.01: 0.01 + 0.09 * (1 + cos)/2. */
    s.lr_min = 0.01f;
    assert_float_equal (mdl_sched_lr (&s, 0), 0.1f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 50), 0.055f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 100), 0.01f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 1000), 0.01f, TOL);
}

static void
test_cosine_starts_after_warmup_and_ends_at_total_steps (void **state)
{
    /* W = 10, total 110: the cosine spans steps 10..110 (T = 100). */
    mdl_sched_t s = s_sched (MDL_SCHED_COSINE, 0.1f, 10);
    s.warmup_epochs = 1.0;
    s.total_steps = 110;
    assert_float_equal (mdl_sched_lr (&s, 0), 0.01f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 4), 0.05f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 9), 0.1f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 10), 0.1f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 35), 0.08535534f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 60), 0.05f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 110), 0.0f, TOL);
    /* Phase 1 from the midpoint of the cosine. */
    assert_int_equal (mdl_sched_phase (&s, 5), 0);
    assert_int_equal (mdl_sched_phase (&s, 59), 0);
    assert_int_equal (mdl_sched_phase (&s, 60), 1);
    assert_int_equal (mdl_sched_phase (&s, 100000), 1);
}

static void
test_cosine_phase_turns_at_the_first_step_below_the_midpoint (void **state)
{
    /* T = 11: lr(5) = 0.05 (1 + cos(5 pi/11)) = 0.05711574 is above 0.05,
       lr(6) = 0.04288426 below, so phase 1 starts at step 6. */
    mdl_sched_t s = s_sched (MDL_SCHED_COSINE, 0.1f, 10);
    s.total_steps = 11;
    assert_float_equal (mdl_sched_lr (&s, 5), 0.05711574f, TOL);
    assert_float_equal (mdl_sched_lr (&s, 6), 0.04288426f, TOL);
    assert_int_equal (mdl_sched_phase (&s, 5), 0);
    assert_int_equal (mdl_sched_phase (&s, 6), 1);
}

static void
test_clr_rises_from_min_to_max_half_way_and_falls_back_each_period (void **state)
{
    /* clr:0.01:0.05:1 over 10 steps per epoch: T = 10, lr = 0.01 + 0.04 (1 - |2u - 1|)
       with u = (step mod 10) / 10: 0.01, 0.018, 0.026, 0.034, 0.042, 0.05, 0.042, ...,
       0.018, then 0.01 again at step 10 (the next cycle). */
    mdl_sched_t s = s_sched (MDL_SCHED_CONSTANT, 0.3f, 10);
    assert_int_equal (mdl_sched_parse ("clr:0.01:0.05:1", &s), MDL_OK);
    const float want[] = { 0.01f, 0.018f, 0.026f, 0.034f, 0.042f, 0.05f, 0.042f, 0.034f, 0.026f, 0.018f };
    for (uint64_t t = 0; t < 30; t++)
        assert_float_equal (mdl_sched_lr (&s, t), want[t % 10], 1e-7f);
    assert_int_equal (mdl_sched_phase (&s, 5), 0);
    assert_int_equal (mdl_sched_phase (&s, 1000), 0);
    /* A period of 2.5 epochs of 4 steps: T = 10 again; of 0.1 epochs: T = 1 -> 2. */
    s.steps_per_epoch = 4;
    s.clr_period = 2.5;
    assert_float_equal (mdl_sched_lr (&s, 5), 0.05f, 1e-7f);
    assert_float_equal (mdl_sched_lr (&s, 13), 0.034f, 1e-7f);
    s.clr_period = 0.1;
    assert_float_equal (mdl_sched_lr (&s, 0), 0.01f, 1e-7f);
    assert_float_equal (mdl_sched_lr (&s, 1), 0.05f, 1e-7f);
    assert_float_equal (mdl_sched_lr (&s, 2), 0.01f, 1e-7f);
}

static void
test_clr_with_warmup_scales_the_cycle_during_warmup (void **state)
{
    /* W = 4 steps: step 2 runs at (3/4) of the cycle's 0.026. */
    mdl_sched_t s = s_sched (MDL_SCHED_CONSTANT, 0.3f, 10);
    assert_int_equal (mdl_sched_parse ("clr:0.01:0.05:1", &s), MDL_OK);
    s.warmup_epochs = 0.4;
    assert_float_equal (mdl_sched_lr (&s, 2), 0.75f * 0.026f, 1e-7f);
    assert_float_equal (mdl_sched_lr (&s, 4), 0.042f, 1e-7f);
}

static void
test_parse_reads_clr_bounds_and_period (void **state)
{
    mdl_sched_t s = s_sched (MDL_SCHED_STEP, 0.3f, 7);
    s.total_steps = 99;
    assert_int_equal (mdl_sched_parse ("clr:0:0.1:2.5", &s), MDL_OK);
    assert_int_equal (s.kind, MDL_SCHED_CLR);
    assert_float_equal (s.lr_min, 0.0f, 0.0f);
    assert_float_equal (s.lr0, 0.1f, 0.0f);
    assert_true (s.clr_period == 2.5);
    assert_int_equal (s.steps_per_epoch, 7);
    assert_int_equal (s.total_steps, 99);
}

static void
test_parse_reads_kind_gamma_and_milestones_and_nothing_else (void **state)
{
    mdl_sched_t s = s_sched (MDL_SCHED_STEP, 0.3f, 7);
    s.lr_min = 0.001f;
    s.total_steps = 99;
    s.warmup_epochs = 2.0;
    assert_int_equal (mdl_sched_parse ("cosine", &s), MDL_OK);
    assert_int_equal (s.kind, MDL_SCHED_COSINE);
    assert_int_equal (mdl_sched_parse ("constant", &s), MDL_OK);
    assert_int_equal (s.kind, MDL_SCHED_CONSTANT);
    assert_int_equal (mdl_sched_parse ("step:0.25:0.5,30,60.5", &s), MDL_OK);
    assert_int_equal (s.kind, MDL_SCHED_STEP);
    assert_float_equal (s.gamma, 0.25f, 0.0f);
    assert_int_equal (s.n_milestones, 3);
    assert_true (s.milestones[0] == 0.5 && s.milestones[1] == 30.0 && s.milestones[2] == 60.5);
    assert_int_equal (mdl_sched_parse ("step:1:5", &s), MDL_OK);
    assert_float_equal (s.gamma, 1.0f, 0.0f);
    assert_int_equal (s.n_milestones, 1);
    /* untouched */
    assert_float_equal (s.lr0, 0.3f, 0.0f);
    assert_float_equal (s.lr_min, 0.001f, 0.0f);
    assert_int_equal (s.steps_per_epoch, 7);
    assert_int_equal (s.total_steps, 99);
    assert_true (s.warmup_epochs == 2.0);

    /* Exactly MDL_SCHED_MAX_MILESTONES is allowed. */
    char spec[256] = "step:0.5:";
    for (int i = 1; i <= MDL_SCHED_MAX_MILESTONES; i++) {
        char item[16];
        snprintf (item, sizeof item, i == 1 ? "%d" : ",%d", i);
        strcat (spec, item);
    }
    assert_int_equal (mdl_sched_parse (spec, &s), MDL_OK);
    assert_int_equal (s.n_milestones, MDL_SCHED_MAX_MILESTONES);
    assert_true (s.milestones[MDL_SCHED_MAX_MILESTONES - 1] == MDL_SCHED_MAX_MILESTONES);
}

static void
test_parse_rejects_malformed_specs_and_leaves_the_schedule_untouched (void **state)
{
    char too_many[256] = "step:0.5:";
    for (int i = 1; i <= MDL_SCHED_MAX_MILESTONES + 1; i++) {
        char item[16];
        snprintf (item, sizeof item, i == 1 ? "%d" : ",%d", i);
        strcat (too_many, item);
    }
    const char *bad[] = {
        "", "const", "Constant", "constant ", " cosine", "cosine:", "linear", "step",
        "step:", "step:0.1", "step:0.1:", "step::30", "step:0:30", "step:1.5:30",
        "step:-0.1:30", "step:nan:30", "step:inf:30", "step:1e-50:30", "step:0.1x:30",
        "step: 0.1:30", "step:0.1:30,", "step:0.1:,30", "step:0.1:30,,60", "step:0.1:60,30",
        "step:0.1:30,30", "step:0.1:0", "step:0.1:-5", "step:0.1:inf", "step:0.1:nan",
        "step:0.1:1e999", "step:0.1:30x", "step:0.1: 30", "step:0.1:30 ", "step:0.1:30;60",
        "step:0.1:30:60", "clr", "clr:", "clr:0.1", "clr:0.1:0.2", "clr:0.1:0.2:", "clr:0.2:0.1:1",
        "clr:0.1:0.1:1", "clr:-0.1:0.1:1", "clr:0.1:0.2:0", "clr:0.1:0.2:-1", "clr:0.1:0.2:nan",
        "clr:0.1:inf:1", "clr:0.1:0.2:1:2", "clr:0.1:0.2:1x", "clr: 0.1:0.2:1", "clr:0.1:0.2:1 ",
        "clr::0.2:1", too_many,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mdl_sched_t s, before;
        memset (&s, 0x5a, sizeof s);
        s.kind = MDL_SCHED_CONSTANT;
        memcpy (&before, &s, sizeof s);
        int rc = mdl_sched_parse (bad[i], &s);
        if (rc != MDL_EINVAL)
            fail_msg ("\"%s\" parsed (rc %d)", bad[i], rc);
        assert_memory_equal (&s, &before, sizeof s);
    }
    mdl_sched_t s;
    assert_int_equal (mdl_sched_parse (NULL, &s), MDL_EINVAL);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_constant_rate_never_changes),
        cmocka_unit_test (test_warmup_rises_linearly_from_lr0_over_w_to_lr0),
        cmocka_unit_test (test_step_decays_by_gamma_at_each_epoch_milestone),
        cmocka_unit_test (test_fractional_milestone_takes_effect_at_the_ceiling_step),
        cmocka_unit_test (test_step_with_warmup_keeps_milestones_in_absolute_epochs),
        cmocka_unit_test (test_cosine_falls_from_lr0_to_lr_min_over_total_steps),
        cmocka_unit_test (test_cosine_starts_after_warmup_and_ends_at_total_steps),
        cmocka_unit_test (test_cosine_phase_turns_at_the_first_step_below_the_midpoint),
        cmocka_unit_test (test_clr_rises_from_min_to_max_half_way_and_falls_back_each_period),
        cmocka_unit_test (test_clr_with_warmup_scales_the_cycle_during_warmup),
        cmocka_unit_test (test_parse_reads_clr_bounds_and_period),
        cmocka_unit_test (test_parse_reads_kind_gamma_and_milestones_and_nothing_else),
        cmocka_unit_test (test_parse_rejects_malformed_specs_and_leaves_the_schedule_untouched),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
