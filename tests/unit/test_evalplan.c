/*  test_evalplan.c: what the evaluations while training of `meshdl sim` cover
    (cli/agentopts.c). By default an evaluation costs about a quarter of the training
    between two, over all the models it evaluates: with 512 agents on short epochs the
    floor of 200 rows per model would overdraw that budget five times over if every
    agent's model were evaluated, so a spread sample of the agents is; 16 agents fit in
    it whole. --eval-agents, --eval-rows and --target-acc take what they ask for. */
#include "testutil.h"

#include <string.h>

#include "agentopts.h"
#include "trainopts.h"

typedef struct {
    mdl_agentopts_t ao;
    mdl_trainopts_t to;
} s_opts_t;

static void
s_defaults (s_opts_t *o)
{
    memset (o, 0, sizeof *o);
    mdl_trainopts_defaults (&o->to);
    mdl_agentopts_defaults (&o->ao);
}

/* Training samples between two evaluations: n agents x batch x steps per epoch / evals
   per epoch, as cmd_sim.c computes them. */
static double
s_between (int n, int batch, int spe, int per_epoch)
{
    return (double) n * batch * spe / per_epoch;
}

/* The automatic plan of n agents with spe steps per epoch (batch 8, 2 evaluations per
   epoch) and test_rows test rows: the rows into *rows, the agents returned; the training
   samples between two evaluations into *between. */
static int
s_plan (int n, int spe, size_t test_rows, size_t *rows, double *between)
{
    s_opts_t o;
    s_defaults (&o);
    *between = s_between (n, 8, spe, 2);
    *rows = mdl_agentopts_eval_rows (&o.ao, &o.to, *between, n + 1, test_rows);
    return mdl_agentopts_eval_agents (&o.ao, &o.to, -1, *between, *rows, n);
}

static void
test_many_agents_on_short_epochs_are_sampled_within_the_budget (void **state)
{
    /* the scale check: 512 agents, 60000 rows, batch 8 (14 steps per epoch), 500 test rows */
    size_t rows;
    double between;
    const int k = s_plan (512, 14, 500, &rows, &between);
    assert_int_equal (rows, 200); /* the floor */
    assert_int_equal (k, 106);
    /* the averaged model and k agents' within a quarter of the training (a forward pass
       a third of a training sample's work) */
    assert_true ((double) (k + 1) * (double) rows <= 0.25 * 3.0 * between);
    assert_true ((double) (k + 2) * (double) rows > 0.25 * 3.0 * between);
}

static void
test_few_agents_are_all_evaluated (void **state)
{
    size_t rows;
    double between;
    assert_int_equal (s_plan (16, 200, 500, &rows, &between), 16);
    assert_int_equal (rows, 500);
    /* a budget too small for even one agent still evaluates one */
    s_opts_t o;
    s_defaults (&o);
    assert_int_equal (mdl_agentopts_eval_agents (&o.ao, &o.to, -1, 10.0, 200, 16), 1);
}

static void
test_what_is_asked_for_is_what_is_evaluated (void **state)
{
    s_opts_t o;
    s_defaults (&o);
    const double between = s_between (512, 8, 14, 2);
    assert_int_equal (mdl_agentopts_eval_agents (&o.ao, &o.to, 0, between, 200, 512), 512);   /* 0 = all */
    assert_int_equal (mdl_agentopts_eval_agents (&o.ao, &o.to, 300, between, 200, 512), 300);
    assert_int_equal (mdl_agentopts_eval_agents (&o.ao, &o.to, 900, between, 200, 512), 512);
    o.ao.eval_rows_given = true; /* --eval-rows: every agent on those rows */
    assert_int_equal (mdl_agentopts_eval_agents (&o.ao, &o.to, -1, between, 200, 512), 512);
    o.ao.eval_rows_given = false;
    o.to.target_acc = 0.8; /* --target-acc: nothing sampled */
    assert_int_equal (mdl_agentopts_eval_agents (&o.ao, &o.to, -1, between, 500, 512), 512);
}

static void
test_the_sample_is_spread_and_the_same_every_time (void **state)
{
    int a[106], b[106];
    mdl_agentopts_eval_sample (106, 512, a);
    mdl_agentopts_eval_sample (106, 512, b);
    assert_memory_equal (a, b, sizeof a);
    for (int j = 0; j < 106; j++) {
        assert_true (a[j] >= 0 && a[j] < 512);
        if (j > 0) /* spans of 512 / 106 = 4.8 agents: 4 or 5 apart */
            assert_true (a[j] - a[j - 1] >= 4 && a[j] - a[j - 1] <= 5);
    }
    int all[16];
    mdl_agentopts_eval_sample (16, 16, all);
    for (int j = 0; j < 16; j++)
        assert_int_equal (all[j], j);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_many_agents_on_short_epochs_are_sampled_within_the_budget),
        cmocka_unit_test (test_few_agents_are_all_evaluated),
        cmocka_unit_test (test_what_is_asked_for_is_what_is_evaluated),
        cmocka_unit_test (test_the_sample_is_spread_and_the_same_every_time),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
