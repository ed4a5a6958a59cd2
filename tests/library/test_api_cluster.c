/*  test_api_cluster.c: agents and in-process clusters through the public API alone
    (<meshdl.h>, libmeshdl.so), in the order a program calls them: mdl_agent_provision
    before the first agent (and its refusals), then a cluster built with per-agent
    settings (mdl_cluster_create_each), its counters combined and at a snapshot, the
    evaluation of the snapshot (of all agents, of some, on several threads), the model
    checkpoint and a resume from it, and the pacing measurement: what `meshdl sim` uses. The tests share one process: they run in order. */
#include <meshdl.h>

#include <malloc.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cmocka.h>

static void
test_provision_refuses_what_the_system_cannot_give_with_the_limit_named (void **state)
{
    char why[512] = "";
    /* far beyond ZeroMQ's socket limit per process */
    assert_int_equal (mdl_agent_provision ((size_t) 1 << 24, 0, why, sizeof why), MDL_ELIMIT);
    assert_non_null (strstr (why, "ZeroMQ sockets"));
    assert_non_null (strstr (why, "fewer agents"));
    /* open files: 2 agents each talking to a million peers over TCP */
    why[0] = '\0';
    int rc = mdl_agent_provision (2, (size_t) 1 << 20, why, sizeof why);
    assert_int_equal (rc, MDL_ELIMIT);
    assert_non_null (strstr (why, "open files"));
}

/* What the cluster tests share: a least-squares set and a configuration training its
   model on it. */
typedef struct {
    mdl_dataset_t *train, *test;
    mdl_agent_cfg_t *cfg;
} s_fix_t;

static int
s_setup (void **state)
{
    s_fix_t *f = calloc (1, sizeof *f);
    assert_non_null (f);
    assert_int_equal (mdl_dataset_synthetic ("synthetic:linreg:400:8:0.01", 5, &f->train, &f->test), 0);
    assert_non_null (f->cfg = mdl_agent_cfg_new ());
    const char *kv[][2] = { { "model", "linreg:8" }, { "optimizer", "sgd" }, { "lr", "0.1" }, { "schedule", "constant" },
                            { "batch", "20" }, { "epochs", "8" }, { "cluster", "api-cluster" }, { "hello-interval", "0.05" } };
    for (size_t k = 0; k < sizeof kv / sizeof kv[0]; k++)
        if (mdl_agent_cfg_set (f->cfg, kv[k][0], kv[k][1]))
            fail_msg ("%s=%s: %s", kv[k][0], kv[k][1], mdl_error_detail ());
    assert_int_equal (mdl_agent_cfg_set_data (f->cfg, f->train, NULL), 0);
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    s_fix_t *f = *state;
    mdl_agent_cfg_destroy (&f->cfg);
    mdl_dataset_destroy (&f->train);
    mdl_dataset_destroy (&f->test);
    free (f);
    return 0;
}

/* Per-agent settings: agent i computes 1 + i times slower; agent `bad` gets a value
   out of range. */
typedef struct {
    int calls, bad;
} s_each_t;

static int
s_each (mdl_agent_cfg_t *cfg, int i, void *arg)
{
    s_each_t *e = arg;
    e->calls++;
    char v[32];
    snprintf (v, sizeof v, "%d", i == e->bad ? 0 : 1 + i);
    return mdl_agent_cfg_set (cfg, "slow-factor", v);
}

static void
test_per_agent_settings_are_applied_and_a_refused_one_names_its_agent (void **state)
{
    s_fix_t *f = *state;
    s_each_t e = { .bad = 1 };
    int err = 0;
    mdl_cluster_t *cl = mdl_cluster_create_each (f->cfg, 3, NULL, 0, s_each, &e, &err);
    assert_null (cl);
    assert_int_equal (err, MDL_EINVAL);
    assert_int_equal (e.calls, 2); /* stopped at the refusal */
    assert_non_null (strstr (mdl_error_detail (), "agent 1"));
    assert_non_null (strstr (mdl_error_detail (), "slow-factor"));
    /* the base configuration is the caller's, untouched by what each agent was given */
    char v[32];
    assert_int_equal (mdl_agent_cfg_get (f->cfg, "slow-factor", v, sizeof v), 0);
    assert_float_equal (atof (v), 1.0, 0);
}

/* Combined counter name of values (mdl_agent_counter_name's order). */
static double
s_value (const double *values, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp (mdl_agent_counter_name (i), name))
            return values[i];
    fail_msg ("no counter %s", name);
    return NAN;
}

static void
test_a_cluster_trains_and_its_snapshot_is_counted_evaluated_and_checkpointed (void **state)
{
    s_fix_t *f = *state;
    char why[512] = "";
    assert_int_equal (mdl_agent_provision (200, 0, why, sizeof why), 0); /* before the first agent */
    /* Linux >= 6.16 gives a process a futex table of its own sized for its CPUs (16
       buckets here): 200 agents' sleeping workers would crowd it. Older kernels refuse
       the call (one shared table, nothing to size). */
    const int slots = prctl (78 /* PR_FUTEX_HASH */, 2 /* GET_SLOTS */, 0, 0, 0);
    if (slots > 0)
        assert_true (slots >= 4 * 200);
    /* Received messages' buffers stay in the heap (meshdl/agent.h): a 3 MB block is not
       mapped on its own, and once freed its pages stay for the next one (the heap keeps
       4 MB). glibc's own thresholds (128 KB, or adapted up to the largest block freed so
       far) map it and give it back. */
    const size_t big_n = (size_t) 3 << 20;
    struct mallinfo2 m0 = mallinfo2 ();
    char *big = malloc (big_n);
    assert_non_null (big);
    memset (big, 1, big_n);
    const struct mallinfo2 m1 = mallinfo2 ();
    if (m1.uordblks + m1.hblkhd >= m0.uordblks + m0.hblkhd + big_n) { /* glibc's (a sanitizer's: not counted) */
        assert_int_equal (m1.hblks, m0.hblks);
        free (big);
        assert_true (mallinfo2 ().keepcost >= big_n);
    } else
        free (big);
    s_each_t e = { .bad = -1 };
    int err = 0;
    mdl_part_spec_t iid;
    assert_int_equal (mdl_part_parse ("iid", &iid), 0);
    mdl_partition_t *part = mdl_partition_new (&iid, mdl_dataset_labels (f->train), mdl_dataset_n (f->train),
                                               mdl_dataset_classes (f->train), 2, 1, &err);
    assert_non_null (part);
    mdl_cluster_t *cl = mdl_cluster_create_each (f->cfg, 2, part, MDL_CLUSTER_EQUAL_ROUNDS, s_each, &e, &err);
    if (!cl)
        fail_msg ("cluster: %s", mdl_error_detail ());
    assert_int_equal (e.calls, 2);
    /* an agent exists now: ZeroMQ's socket table can no longer grow */
    assert_int_equal (mdl_agent_provision (1000, 0, why, sizeof why), MDL_ELIMIT);
    assert_non_null (strstr (why, "before the process's first agent"));
    const uint64_t spe = mdl_cluster_steps_per_epoch (cl);
    assert_int_equal (spe, 200 / 20); /* 200 rows per shard, batch 20 */
    /* no snapshot yet */
    double loss, acc, v[256];
    size_t n = 0;
    assert_null (mdl_cluster_model (cl));
    assert_int_equal (mdl_cluster_evaluate (cl, f->test, 0, &loss, &acc, NULL, NULL), MDL_EINVAL);
    assert_int_equal (mdl_cluster_snap_counters (cl, 0, v, 256, &n), MDL_EINVAL);
    assert_int_equal (mdl_cluster_wait_peers (cl, 20, NULL), 0);
    assert_int_equal (mdl_cluster_start (cl), 0);
    /* the wait for the end returns with every agent done, before the join */
    assert_int_equal (mdl_cluster_wait_end (cl, 120), 0);
    size_t nc = mdl_cluster_counters (cl, v, 256);
    assert_float_equal (s_value (v, nc, "finished"), 1, 0);
    assert_float_equal (s_value (v, nc, "steps"), 2 * 8.0 * (double) spe, 0);
    mdl_cluster_join (cl);
    double mean_step = 0;
    assert_int_equal (mdl_cluster_snapshot (cl, 20, &mean_step), 0);
    assert_float_equal (mean_step, 8.0 * (double) spe, 0);
    /* combined: steps added up, the agents finished without an error */
    nc = mdl_cluster_counters (cl, v, 256);
    assert_true (nc > 20 && nc <= 256);
    assert_float_equal (s_value (v, nc, "steps"), 2 * 8.0 * (double) spe, 0);
    assert_float_equal (s_value (v, nc, "finished"), 1, 0);
    assert_float_equal (s_value (v, nc, "error"), 0, 0);
    assert_true (s_value (v, nc, "updates_applied") > 0);
    /* each agent at its snapshot, with its own setting */
    assert_int_equal (mdl_cluster_snap_counters (cl, 1, v, 256, &n), 0);
    assert_int_equal (n, nc);
    assert_float_equal (s_value (v, n, "steps"), 8.0 * (double) spe, 0);
    assert_int_equal (mdl_cluster_snap_counters (cl, 2, v, 256, &n), MDL_EINVAL);
    /* dpsgd: the model of the run is the agents' mean */
    const float *model = mdl_cluster_model (cl), *mean = mdl_cluster_mean (cl);
    assert_non_null (model);
    assert_memory_equal (model, mean, mdl_cluster_dim (cl) * sizeof (float));
    double al[2], aa[2], l0, a0;
    assert_int_equal (mdl_cluster_evaluate (cl, f->test, 0, &loss, &acc, al, aa), 0);
    assert_true (isfinite (loss) && isfinite (al[0]) && isfinite (al[1]));
    /* on 2 threads, of the agents or some: each model's figures are the same, bit for bit;
       an agent not asked for is left as it was */
    double sl[2] = { -1, -1 }, sa[2] = { -1, -1 }, loss2, acc2;
    assert_int_equal (mdl_cluster_evaluate_some (cl, f->test, 0, NULL, 2, 2, &loss2, &acc2, sl, sa), 0);
    assert_true (loss2 == loss && acc2 == acc && sl[0] == al[0] && sl[1] == al[1] && sa[0] == aa[0] && sa[1] == aa[1]);
    const int second[1] = { 1 };
    sl[0] = sl[1] = -1;
    assert_int_equal (mdl_cluster_evaluate_some (cl, f->test, 0, second, 1, 0, &loss2, &acc2, sl, NULL), 0);
    assert_true (sl[0] == -1 && sl[1] == al[1] && loss2 == loss);
    const int nobody[1] = { 2 };
    assert_int_equal (mdl_cluster_evaluate_some (cl, f->test, 0, nobody, 1, 1, &loss2, &acc2, sl, sa), MDL_EINVAL);
    assert_int_equal (mdl_cluster_evaluate_some (cl, f->test, 0, NULL, 3, 1, &loss2, &acc2, sl, sa), MDL_EINVAL);
    /* eight epochs of least squares with noise 0.01: far below the loss of w = 0 */
    float *zero = calloc (mdl_cluster_dim (cl), sizeof (float));
    mdl_learner_t *l = mdl_learner_create (f->cfg, &err);
    assert_non_null (l);
    assert_int_equal (mdl_learner_evaluate (l, zero, f->test, 0, &l0, &a0), 0);
    if (!(loss < 0.05 * l0))
        fail_msg ("test loss %g of the mean model, %g of w = 0", loss, l0);
    /* the checkpoint holds the mean model; a new cluster resumed from it starts there */
    char path[] = "/tmp/mdl-api-ckpt.XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    close (fd);
    assert_int_equal (mdl_cluster_checkpoint (cl, path, 8 * spe, 8), 0);
    assert_int_equal (mdl_learner_resume (l, path, NULL), 0);
    double lr, ar;
    assert_int_equal (mdl_learner_evaluate (l, NULL, f->test, 0, &lr, &ar), 0);
    assert_float_equal (lr, loss, 1e-9);
    mdl_cluster_t *again = mdl_cluster_create (f->cfg, 2, part, MDL_CLUSTER_EQUAL_ROUNDS, &err);
    assert_non_null (again);
    uint64_t step = 0;
    assert_int_equal (mdl_cluster_resume (again, path, &step), 0);
    assert_int_equal (step, 8 * spe);
    assert_int_equal (mdl_cluster_resume (again, "/nonexistent/ckpt", &step), MDL_ENOENT);
    assert_non_null (strstr (mdl_error_detail (), "/nonexistent/ckpt"));
    mdl_cluster_destroy (&again);
    unlink (path);
    free (zero);
    mdl_learner_destroy (&l);
    mdl_cluster_destroy (&cl);
    assert_null (cl);
    mdl_partition_destroy (&part);
}

static void
test_pace_measures_a_step_and_refuses_a_configuration_without_a_model (void **state)
{
    s_fix_t *f = *state;
    double s = -1;
    assert_int_equal (mdl_cluster_pace (f->cfg, 4, NULL, &s), 0);
    assert_true (s > 0 && s < 1.0); /* a step of linreg:8 on 20 rows: microseconds */
    mdl_agent_cfg_t *own = mdl_agent_cfg_new ();
    assert_int_equal (mdl_agent_cfg_set (own, "model", ""), 0);
    assert_int_equal (mdl_agent_cfg_set (own, "dim", "8"), 0);
    assert_int_equal (mdl_cluster_pace (own, 4, NULL, &s), MDL_EINVAL);
    assert_int_equal (mdl_cluster_pace (f->cfg, 0, NULL, &s), MDL_EINVAL);
    mdl_agent_cfg_destroy (&own);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_provision_refuses_what_the_system_cannot_give_with_the_limit_named),
        cmocka_unit_test (test_per_agent_settings_are_applied_and_a_refused_one_names_its_agent),
        cmocka_unit_test (test_a_cluster_trains_and_its_snapshot_is_counted_evaluated_and_checkpointed),
        cmocka_unit_test (test_pace_measures_a_step_and_refuses_a_configuration_without_a_model),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
