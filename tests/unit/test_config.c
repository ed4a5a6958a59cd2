/*  test_config.c: an agent's configuration by name (meshdl/config.h): defaults, values
    parsed strictly, refusals that leave the configuration as it was and say why, the
    algorithm's own defaults, the rules between settings. */
#include "testutil.h"

#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "err.h"
#include "meshdl.h"

static char s_buf[256];
static const char *s_get (const mdl_agent_cfg_t *c, const char *key);

/* 60 rows of 4 features in 3 classes, each class lifting its own feature. */
static mdl_dataset_t *
s_three_classes (void)
{
    int err = 0;
    mdl_dataset_t *ds = mdl_dataset_new (60, 4, 3, &err);
    assert_non_null (ds);
    float *x = mdl_dataset_x_mut (ds);
    int32_t *y = mdl_dataset_labels_mut (ds);
    for (size_t i = 0; i < 60; i++) {
        y[i] = (int32_t) (i % 3);
        for (int f = 0; f < 4; f++)
            x[i * 4 + (size_t) f] = (float) ((i * 13 + (size_t) f * 7) % 11) / 11.0f + (f == y[i] ? 1.0f : 0.0f);
    }
    return ds;
}

static int s_log_lines;
static char s_log_last[512];

static void
s_log_fn (void *arg, const char *line)
{
    *(int *) arg += 1;
    snprintf (s_log_last, sizeof s_log_last, "%s", line);
}

/* What `meshdl agent` takes from the public API: an agent alone (a configuration
   without peers), its evaluations' records, where it started, and its resume from a
   checkpoint image checked against a configuration first. */
static void
test_an_agent_without_peers_trains_alone_and_resumes_from_its_checkpoint_image (void **state)
{
    char why[512];
    assert_int_equal (mdl_agent_provision (2, 0, why, sizeof why), 0);
    /* after provisioning the heap keeps a freed 3 MB block's pages (for the next received
       message) until mdl_agent_heap_release gives them back (glibc's allocator only: a
       sanitizer's is not counted by mallinfo2) */
    struct mallinfo2 m0 = mallinfo2 ();
    const size_t big = (size_t) 3 << 20;
    char *blk = malloc (big);
    assert_non_null (blk);
    memset (blk, 1, big);
    if (mallinfo2 ().uordblks >= m0.uordblks + big) {
        free (blk);
        assert_true (mallinfo2 ().keepcost >= big);
        mdl_agent_heap_release ();
        assert_true (mallinfo2 ().keepcost < big);
    } else
        free (blk);
    mdl_dataset_t *ds = s_three_classes ();
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    const uint64_t id = mdl_agent_id_of ("alpha");
    assert_true (id != 0 && id == mdl_agent_id_of ("alpha") && id != mdl_agent_id_of ("beta"));
    char idv[32];
    snprintf (idv, sizeof idv, "%llu", (unsigned long long) id);
    assert_int_equal (mdl_agent_cfg_set (c, "id", idv), 0);
    assert_int_equal (mdl_agent_cfg_set_data (c, ds, ds), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "model", "mlp:4-8-3"), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "batch", "6"), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "epochs", "2"), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "evals-per-epoch", "1"), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "seed", "3"), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "data-seed", "9007199254740993"), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "injection-seed", "9"), 0);
    assert_string_equal (s_get (c, "data-seed"), "9007199254740993");
    assert_string_equal (s_get (c, "injection-seed"), "9");
    assert_string_equal (s_get (c, "seed"), "3");
    int err = 0;
    mdl_agent_t *a = mdl_agent_new (c, &err); /* no peers, no interface: alone */
    assert_non_null (a);
    char path[] = "/tmp/test_config-agent-XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    close (fd);
    assert_int_equal (mdl_agent_set_checkpoint (a, path, 0), 0);
    assert_int_equal (mdl_agent_start (a), 0);
    mdl_agent_join (a);
    double v = 0;
    assert_int_equal (mdl_agent_counter (a, "evals", &v), 0);
    assert_true (v == 2); /* one per epoch, the last the final one */
    double rec[256];
    size_t n = 0;
    assert_int_equal (mdl_agent_eval_counters (a, 1, rec, 256, &n), 0);
    assert_int_equal (n, mdl_agent_counters (a, NULL, 0));
    for (size_t i = 0; i < n; i++) {
        if (!strcmp (mdl_agent_counter_name (i), "eval_step"))
            assert_true (rec[i] == 10); /* the end of the first epoch */
        if (!strcmp (mdl_agent_counter_name (i), "eval_final"))
            assert_true (rec[i] == 0);
        if (!strcmp (mdl_agent_counter_name (i), "test_acc"))
            assert_true (rec[i] >= 0 && rec[i] <= 1);
    }
    assert_int_equal (mdl_agent_eval_counters (a, 3, rec, 256, &n), MDL_ENOENT);
    assert_int_equal (mdl_agent_counter (a, "checkpoints_replaced", &v), 0);
    char from[40], unresolved[64] = "x";
    assert_string_equal (mdl_agent_started_from (a, from, sizeof from), "init");
    assert_false (mdl_agent_unresolved (a, unresolved, sizeof unresolved));
    assert_string_equal (unresolved, "");
    mdl_agent_destroy (&a);

    mdl_ckpt_image_t *img = mdl_ckpt_image_load (path, &err);
    assert_non_null (img);
    assert_int_equal (mdl_agent_resume_check (c, img, why, sizeof why), 0);
    mdl_agent_cfg_t *other = mdl_agent_cfg_dup (c);
    assert_int_equal (mdl_agent_cfg_set (other, "model", "mlp:4-8-5"), 0);
    assert_int_equal (mdl_agent_resume_check (other, img, why, sizeof why), MDL_ECKPT_MODEL);
    assert_non_null (strstr (why, "mlp:4-8-3"));
    mdl_agent_cfg_destroy (&other);
    assert_int_equal (mdl_agent_cfg_set (c, "epochs", "3"), 0);
    mdl_agent_t *b = mdl_agent_new (c, &err);
    assert_non_null (b);
    assert_int_equal (mdl_agent_resume (b, &img, why, sizeof why), 0);
    assert_null (img); /* taken */
    assert_int_equal (mdl_agent_start (b), 0);
    mdl_agent_join (b);
    assert_string_equal (mdl_agent_started_from (b, from, sizeof from), "checkpoint");
    assert_int_equal (mdl_agent_counter (b, "start_step", &v), 0);
    assert_true (v == 20);
    assert_int_equal (mdl_agent_counter (b, "steps", &v), 0);
    assert_true (v == 30);
    mdl_agent_destroy (&b);
    mdl_ckpt_image_destroy (&img); /* safe on NULL */
    unlink (path);

    /* where an agent that cannot start says why: the function of the configuration */
    s_log_lines = 0;
    mdl_agent_cfg_set_log_fn (c, s_log_fn, &s_log_lines);
    assert_int_equal (mdl_agent_cfg_set (c, "overlap", "true"), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "gossip-steps", "2"), 0);
    assert_null (mdl_agent_new (c, &err));
    assert_int_equal (s_log_lines, 1);
    assert_non_null (strstr (s_log_last, "--overlap takes one gossip round"));
    mdl_agent_cfg_destroy (&c);
    mdl_dataset_destroy (&ds);
}

static const char *
s_get (const mdl_agent_cfg_t *c, const char *key)
{
    assert_int_equal (mdl_agent_cfg_get (c, key, s_buf, sizeof s_buf), 0);
    return s_buf;
}

static void
test_a_new_configuration_holds_the_command_line_defaults (void **state)
{
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    assert_non_null (c);
    assert_string_equal (s_get (c, "topology"), "ring");
    assert_string_equal (s_get (c, "algo"), "dpsgd");
    assert_string_equal (s_get (c, "codec"), "fp32");
    assert_string_equal (s_get (c, "model"), "mlp:784-256-128-10");
    assert_string_equal (s_get (c, "batch"), "64");
    assert_string_equal (s_get (c, "lr"), "0.0199999996"); /* 0.02 as a float */
    assert_string_equal (s_get (c, "staleness-decay"), "0.97999999999999998");
    assert_true (c->id != 0);
    mdl_agent_cfg_t *d = mdl_agent_cfg_new ();
    assert_true (d->id != c->id); /* two agents of one process never share a default id */
    mdl_agent_cfg_destroy (&d);
    mdl_agent_cfg_destroy (&c);
    assert_null (c);
    mdl_agent_cfg_destroy (&c); /* safe twice */
}

static void
test_values_are_parsed_whole_and_within_their_range (void **state)
{
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    assert_int_equal (mdl_agent_cfg_set (c, "gamma", "0.5"), 0);
    assert_true (c->gamma == 0.5);
    assert_int_equal (mdl_agent_cfg_set (c, "gamma", "1.5"), MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "--gamma 1.5 is out of range"));
    assert_int_equal (mdl_agent_cfg_set (c, "gamma", "0.5x"), MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "not a number"));
    assert_int_equal (mdl_agent_cfg_set (c, "batch", "32.5"), MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "whole number"));
    assert_int_equal (mdl_agent_cfg_set (c, "final-merge", "maybe"), MDL_EINVAL);
    assert_int_equal (mdl_agent_cfg_set (c, "final-merge", "yes"), 0);
    assert_true (c->final_merge);
    assert_int_equal (mdl_agent_cfg_set (c, "no-such-thing", "1"), MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "unknown setting 'no-such-thing'"));
    assert_true (c->gamma == 0.5); /* refusals left it as it was */
    /* ids and seeds take every 64-bit value (ids are drawn from all of them: one above
       1.8e19 was refused, agent_hood failed when an agent drew one), and nothing beyond */
    assert_int_equal (mdl_agent_cfg_set (c, "id", "18262117453365524887"), 0);
    assert_true (c->id == 18262117453365524887ull);
    assert_int_equal (mdl_agent_cfg_set (c, "id", "18446744073709551615"), 0);
    assert_true (c->id == UINT64_MAX);
    assert_int_equal (mdl_agent_cfg_set (c, "id", "18446744073709551616"), MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "out of range"));
    assert_int_equal (mdl_agent_cfg_set (c, "seed", "18446744073709551615"), 0);
    mdl_agent_cfg_destroy (&c);
}

/* The CLI's --hwm-mb goes through the setting: megabytes in, bytes kept. */
static void
test_a_queues_memory_is_set_in_megabytes_and_kept_in_bytes (void **state)
{
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    assert_true (c->hwm_bytes == MDL_AGENT_HWM_AUTO); /* by mode */
    assert_int_equal (mdl_agent_cfg_set (c, "hwm-mb", "8.5"), 0);
    assert_true (c->hwm_bytes == 8500000);
    char b[32];
    assert_int_equal (mdl_agent_cfg_get (c, "hwm-mb", b, sizeof b), 0);
    assert_string_equal (b, "8.5");
    assert_int_equal (mdl_agent_cfg_set (c, "hwm-mb", "-1"), MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "--hwm-mb '-1'"));
    assert_true (c->hwm_bytes == 8500000);
    mdl_agent_cfg_destroy (&c);
}

/* Unset, the queues' memory follows the mode: async agents mix only a neighbour's newest
   state, so their queues hold a few models (the 940 KB MLP: 8 MB, not 256); sync keeps
   256 MB (a dropped state costs a RESEND). A value given always wins, 0 included. */
static void
test_an_async_agent_queues_a_few_models_unless_told (void **state)
{
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    const size_t mlp = 940584, big = 80000000;
    assert_true (mdl_agent_hwm_bytes (c, mlp) == 256000000); /* sync, the default mode */
    assert_int_equal (mdl_agent_cfg_set (c, "mode", "async"), 0);
    assert_true (mdl_agent_hwm_bytes (c, mlp) == 8000000);
    assert_true (mdl_agent_hwm_bytes (c, big) == 4 * (int64_t) big);
    assert_int_equal (mdl_agent_cfg_set (c, "hwm-mb", "256"), 0);
    assert_true (mdl_agent_hwm_bytes (c, mlp) == 256000000);
    assert_int_equal (mdl_agent_cfg_set (c, "hwm-mb", "0"), 0);
    assert_true (mdl_agent_hwm_bytes (c, mlp) == 0);
    assert_int_equal (mdl_agent_cfg_set (c, "hwm-mb", "auto"), 0);
    assert_true (mdl_agent_hwm_bytes (c, mlp) == 8000000);
    mdl_agent_cfg_destroy (&c);
}

static void
test_a_refused_structured_value_leaves_every_field_as_it_was (void **state)
{
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    assert_int_equal (mdl_agent_cfg_set (c, "consensus-control", "lr:0.5,all"), 0);
    assert_true (c->cc_target == 0.5 && c->cc_relative && c->cc_all_phases && c->gossip_steps == 4);
    assert_int_equal (mdl_agent_cfg_set (c, "consensus-control", "0.1,some"), MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "the only suffix is ,all"));
    assert_true (c->cc_target == 0.5 && c->cc_relative && c->cc_all_phases);
    assert_string_equal (s_get (c, "consensus-control"), "lr:0.5,all");
    assert_int_equal (mdl_agent_cfg_set (c, "topology", "hexagon"), MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "--topology 'hexagon' is not valid"));
    assert_string_equal (c->topology, "ring");
    assert_int_equal (mdl_agent_cfg_set (c, "codec", "topk:lots"), MDL_EINVAL);
    assert_string_equal (c->codec, "fp32");
    assert_int_equal (mdl_agent_cfg_set (c, "dense-window", "2:0"), MDL_EINVAL);
    assert_true (c->dense_len == 0);
    mdl_agent_cfg_destroy (&c);
}

static void
test_setting_an_algorithm_brings_its_defaults_unless_given (void **state)
{
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    assert_int_equal (mdl_agent_cfg_set (c, "algo", "adpsgd"), 0);
    assert_string_equal (s_get (c, "mode"), "async");
    assert_int_equal (mdl_agent_cfg_set (c, "algo", "choco"), 0);
    assert_true (c->gamma == 0.1);
    assert_int_equal (mdl_agent_cfg_set (c, "gamma", "0.3"), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "lr", "0.5"), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "algo", "dsgt"), 0); /* sgd, lr 0.1, gamma 1 */
    assert_true (c->gamma == 0.3);                               /* given: kept */
    assert_true (c->learn.sched.lr0 == 0.5f);                    /* given: kept */
    assert_string_equal (s_get (c, "optimizer"), "sgd");         /* not given: dsgt's */
    assert_int_equal (mdl_agent_cfg_set (c, "algo", "gossip"), MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "is not one of: dpsgd, choco"));
    mdl_agent_cfg_destroy (&c);
}

static void
test_a_lossy_codec_brings_error_feedback_unless_set (void **state)
{
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    assert_false (c->error_feedback); /* fp32 loses nothing */
    assert_int_equal (mdl_agent_cfg_set (c, "codec", "topk:0.01"), 0);
    assert_true (c->error_feedback);
    assert_int_equal (mdl_agent_cfg_set (c, "codec", "fp32"), 0);
    assert_false (c->error_feedback);
    assert_int_equal (mdl_agent_cfg_set (c, "codec", "q8"), 0);
    assert_true (c->error_feedback);
    assert_int_equal (mdl_agent_cfg_set (c, "algo", "choco"), 0); /* replicas of its own */
    assert_false (c->error_feedback);
    assert_int_equal (mdl_agent_cfg_set (c, "algo", "dpsgd"), 0);
    assert_true (c->error_feedback);
    assert_int_equal (mdl_agent_cfg_set (c, "error-feedback", "false"), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "codec", "sign"), 0);
    assert_false (c->error_feedback); /* set: kept */
    assert_int_equal (mdl_agent_cfg_check (c), 0);
    mdl_agent_cfg_destroy (&c);
}

static void
test_a_copy_owns_its_strings (void **state)
{
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    char topo[16];
    strcpy (topo, "torus");
    assert_int_equal (mdl_agent_cfg_set (c, "topology", topo), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "consensus-scale", "lr:0.5"), 0);
    mdl_agent_cfg_t *d = mdl_agent_cfg_dup (c);
    strcpy (topo, "ring!");
    mdl_agent_cfg_destroy (&c);
    assert_string_equal (d->topology, "torus");
    assert_string_equal (s_get (d, "consensus-scale"), "lr:0.5");
    assert_int_equal (d->scale_kind, MDL_SCALE_LR);
    mdl_agent_cfg_destroy (&d);
}

static void
test_the_rules_between_settings_are_checked_with_a_reason (void **state)
{
    mdl_dataset_t *ds = mdl_dataset_new (8, 4, 2, NULL);
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    int err = 0;
    assert_null (mdl_agent_new (c, &err)); /* a model and no data */
    assert_int_equal (err, MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "needs a training set"));
    assert_int_equal (mdl_agent_cfg_set_data (c, ds, NULL), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "model", "mlp:4-2"), 0);
    assert_int_equal (mdl_agent_cfg_check (c), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "overlap", "true"), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "gossip-steps", "2"), 0);
    assert_int_equal (mdl_agent_cfg_check (c), MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "--overlap takes one gossip round per step"));
    assert_int_equal (mdl_agent_cfg_set (c, "overlap", "false"), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "algo", "dsgt"), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "mode", "async"), 0);
    assert_int_equal (mdl_agent_cfg_check (c), MDL_EALGO);
    assert_non_null (strstr (mdl_error_detail (), "--algo dsgt needs --mode sync"));
    mdl_agent_cfg_destroy (&c);
    mdl_dataset_destroy (&ds);
}

static void
test_trimmed_mixing_is_refused_where_an_agent_mixes_too_few_states (void **state)
{
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    assert_int_equal (mdl_agent_cfg_set (c, "robust", "trimmed:1"), 0);
    assert_int_equal (mdl_agent_cfg_check_agents (c, 4), 0); /* a ring: 3 states, B = 1 fits */
    assert_int_equal (mdl_agent_cfg_set (c, "robust", "trimmed:2"), 0);
    assert_int_equal (mdl_agent_cfg_check_agents (c, 4), MDL_EINVAL);
    assert_non_null (
        strstr (mdl_error_detail (), "as few as 3 states (its own and 2 neighbours'): B must be at most 1"));
    assert_int_equal (mdl_agent_cfg_set (c, "topology", "complete"), 0);
    assert_int_equal (mdl_agent_cfg_check_agents (c, 8), 0);          /* 8 states */
    assert_int_equal (mdl_agent_cfg_check_agents (c, 4), MDL_EINVAL); /* 4 states */
    assert_int_equal (mdl_agent_cfg_set (c, "robust", "median"), 0);
    assert_int_equal (mdl_agent_cfg_check_agents (c, 2), 0); /* only trimmed counts states */
    mdl_agent_cfg_destroy (&c);
}

static void
test_the_mixing_rules_read_back_in_their_canonical_form (void **state)
{
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    char b[64];
    assert_int_equal (mdl_agent_cfg_get (c, "robust", b, sizeof b), 0);
    assert_string_equal (b, "");
    assert_int_equal (mdl_agent_cfg_set (c, "robust", "clip:0.50"), 0);
    assert_int_equal (mdl_agent_cfg_get (c, "robust", b, sizeof b), 0);
    assert_string_equal (b, "clip:0.5"); /* as summaries write it */
    assert_int_equal (mdl_agent_cfg_set (c, "byzantine", "scale:-4.0"), 0);
    assert_int_equal (mdl_agent_cfg_get (c, "byzantine", b, sizeof b), 0);
    assert_string_equal (b, "scale:-4");
    assert_int_equal (mdl_agent_cfg_set (c, "robust", ""), 0);
    assert_int_equal (mdl_agent_cfg_get (c, "robust", b, sizeof b), 0);
    assert_string_equal (b, "");
    mdl_agent_cfg_destroy (&c);
}

static void
test_the_algorithms_and_their_own_defaults_are_listed_by_name (void **state)
{
    char b[64];
    size_t n = 0;
    bool choco = false;
    for (; mdl_algo_name (n); n++)
        choco |= !strcmp (mdl_algo_name (n), "choco");
    assert_true (n >= 10);
    assert_true (choco);
    assert_string_equal (mdl_algo_name (0), "dpsgd");
    static const char *const want[][3] = {
        { "choco", "replicas", "true" },
        { "choco", "gamma", "0.10000000000000001" },
        { "dpsgd", "replicas", "false" },
        { "dpsgd", "gamma", "" }, /* none of its own: the configuration's */
        { "mp-linreg", "model-parallel", "true" },
        { "dpsgd", "model-parallel", "false" },
        { "dmsgd", "optimizer", "momentum" },
        { "dmsgd", "momentum", "0.90000000000000002" },
        { "adpsgd", "modes", "async" },
        { "adpsgd", "mode", "async" },
        { "dpsgd", "codec", "true" },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal (mdl_algo_info (want[i][0], want[i][1], b, sizeof b), 0);
        assert_string_equal (b, want[i][2]);
    }
    assert_int_equal (mdl_algo_info ("dpsdg", "mode", b, sizeof b), MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "--algo 'dpsdg' is not one of: dpsgd, choco"));
    assert_int_equal (mdl_algo_info ("dpsgd", "speed", b, sizeof b), MDL_EINVAL);
}

static void
test_codecs_say_whether_they_lose_and_settings_list_their_forms (void **state)
{
    assert_int_equal (mdl_codec_lossless ("fp32"), 1);
    assert_int_equal (mdl_codec_lossless ("q8"), 0);
    assert_int_equal (mdl_codec_lossless ("topk:0.01+q8"), 0);
    assert_int_equal (mdl_codec_lossless ("q9"), MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "--codec 'q9' does not parse"));
    assert_non_null (strstr (mdl_agent_cfg_forms ("topology"), "one-peer-exp"));
    assert_non_null (strstr (mdl_agent_cfg_forms ("codec"), "qsgd"));
    assert_null (mdl_agent_cfg_forms ("lr"));
}

static void
test_a_vector_of_ones_own_refuses_what_needs_the_learner (void **state)
{
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    assert_int_equal (mdl_agent_cfg_set (c, "model", ""), 0);
    assert_int_equal (mdl_agent_cfg_check (c), MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "set model"));
    assert_int_equal (mdl_agent_cfg_set (c, "dim", "10"), 0);
    assert_int_equal (mdl_agent_cfg_check (c), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "algo", "qgm"), 0);
    assert_int_equal (mdl_agent_cfg_check (c), MDL_EALGO);
    assert_non_null (strstr (mdl_error_detail (),
                             "a vector of your own exchanges with dpsgd, choco, adagossip, dynavg, "
                             "localsgd, adpsgd"));
    assert_int_equal (mdl_agent_cfg_set (c, "algo", "dpsgd"), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "consensus-scale", "lr"), 0);
    assert_int_equal (mdl_agent_cfg_check (c), MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "--consensus-scale lr needs meshdl's learner"));
    assert_int_equal (mdl_agent_cfg_set (c, "consensus-scale", "0.5"), 0);
    assert_int_equal (mdl_agent_cfg_check (c), 0);
    mdl_agent_cfg_destroy (&c);
}

static void
test_every_setting_has_help_and_reads_back (void **state)
{
    const char *help = NULL, *name;
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    size_t n = 0;
    for (; (name = mdl_agent_cfg_key (n, &help)); n++) {
        assert_true (help && help[0]);
        assert_int_equal (mdl_agent_cfg_get (c, name, s_buf, sizeof s_buf), 0);
    }
    assert_true (n > 50);
    mdl_agent_cfg_destroy (&c);
}

/* Ids and seeds are drawn from 64 bits: a setting written in digits is read exactly,
   not through a double (which holds 53). */
static void
test_64_bit_settings_are_read_exactly (void **state)
{
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    assert_int_equal (mdl_agent_cfg_set (c, "id", "9007199254740993"), 0); /* 2^53 + 1 */
    assert_true (c->id == 9007199254740993ULL);
    assert_string_equal (s_get (c, "id"), "9007199254740993");
    assert_int_equal (mdl_agent_cfg_set (c, "seed", "17999999999999999999"), 0);
    assert_true (c->learn.seed == 17999999999999999999ULL && c->learn.data_seed == c->learn.seed);
    assert_int_equal (mdl_agent_cfg_set (c, "accum", "3"), 0);
    assert_int_equal (c->learn.opt.accum, 3);
    assert_int_equal (mdl_agent_cfg_set (c, "accum", "0"), MDL_EINVAL);
    assert_int_equal (c->learn.opt.accum, 3);
    mdl_agent_cfg_destroy (&c);
}

/* The setting peers is checked entry by entry with the reason, and a list with dns:
   entries is the DNS back-end's (it was given to the static one, which cannot resolve
   names again). */
static void
test_peers_are_checked_and_dns_entries_choose_the_dns_back_end (void **state)
{
    bool dns = true;
    assert_int_equal (mdl_agent_cfg_check_peers ("tcp://10.0.0.1:5555,tcp://[::1]:6000", &dns), 0);
    assert_false (dns);
    assert_int_equal (mdl_agent_cfg_check_peers ("tcp://10.0.0.1:5555,dns:agents.lab:5555", &dns), 0);
    assert_true (dns);
    assert_int_equal (mdl_agent_cfg_check_peers ("tcp://10.0.0.1", NULL), MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "--peers: "));
    assert_int_equal (mdl_agent_cfg_check_peers ("", NULL), MDL_EINVAL);
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    assert_int_equal (mdl_agent_cfg_set (c, "peers", "tcp://10.0.0.1:5555"), 0);
    assert_int_equal (c->disc.kind, MDL_DISC_STATIC);
    assert_int_equal (mdl_agent_cfg_set (c, "peers", "dns:agents.lab:5555"), 0);
    assert_int_equal (c->disc.kind, MDL_DISC_DNS);
    assert_int_equal (mdl_agent_cfg_set (c, "peers", "udp://x:1"), MDL_EINVAL);
    assert_string_equal (c->disc.peers, "dns:agents.lab:5555"); /* refused: unchanged */
    mdl_agent_cfg_destroy (&c);
}

/* meshdl/learner.h: a learner from a configuration's learning settings and data takes
   steps; its checkpoint brings a new learner to the same step and the same next steps;
   a configuration without data or without a model is refused with the reason. */
static void
test_a_learner_from_a_configuration_trains_and_resumes_from_its_checkpoint (void **state)
{
    int err = 0;
    mdl_dataset_t *ds = s_three_classes ();
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    assert_null (mdl_learner_create (c, &err));
    assert_int_equal (err, MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "training set"));
    assert_int_equal (mdl_agent_cfg_set_data (c, ds, NULL), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "model", "mlp:4-8-3"), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "batch", "6"), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "optimizer", "adam"), 0);
    mdl_learner_t *a = mdl_learner_create (c, &err), *b = mdl_learner_create (c, &err);
    assert_non_null (a);
    assert_non_null (b);
    assert_int_equal (mdl_learner_dim (a), 4 * 8 + 8 + 8 * 3 + 3);
    assert_int_equal (mdl_learner_steps_per_epoch (a), 10);
    float la;
    for (int i = 0; i < 13; i++)
        assert_int_equal (mdl_learner_step (a, &la), 0);
    char path[] = "/tmp/test_config-learner-XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    close (fd);
    assert_int_equal (mdl_learner_checkpoint (a, path, 1), 0);
    uint64_t epoch = 0;
    assert_int_equal (mdl_learner_resume (b, path, &epoch), 0);
    assert_int_equal (epoch, 1);
    assert_int_equal (mdl_learner_steps (b), 13);
    double loss, acc, loss_b, acc_b; /* the parameters came back exactly */
    assert_int_equal (mdl_learner_evaluate (a, NULL, ds, 0, &loss, &acc), 0);
    assert_int_equal (mdl_learner_evaluate (b, NULL, ds, 0, &loss_b, &acc_b), 0);
    assert_true (isfinite (loss) && acc >= 0 && acc <= 1);
    assert_true (loss == loss_b && acc == acc_b);
    assert_true (mdl_learner_lr (a) == mdl_learner_lr (b));
    mdl_learner_destroy (&b);
    assert_int_equal (mdl_agent_cfg_set (c, "model", "mlp:4-8-5"), 0); /* another model: refused, b unchanged */
    b = mdl_learner_create (c, &err);
    assert_int_equal (mdl_learner_resume (b, path, NULL), MDL_ECKPT_MODEL);
    assert_int_equal (mdl_learner_steps (b), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "model", ""), 0);
    assert_null (mdl_learner_create (c, &err));
    assert_non_null (strstr (mdl_error_detail (), "needs a model"));
    unlink (path);
    mdl_learner_destroy (&a);
    mdl_learner_destroy (&b);
    mdl_learner_destroy (&b); /* safe twice */
    mdl_agent_cfg_destroy (&c);
    mdl_dataset_destroy (&ds);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_a_new_configuration_holds_the_command_line_defaults),
        cmocka_unit_test (test_values_are_parsed_whole_and_within_their_range),
        cmocka_unit_test (test_a_queues_memory_is_set_in_megabytes_and_kept_in_bytes),
        cmocka_unit_test (test_an_async_agent_queues_a_few_models_unless_told),
        cmocka_unit_test (test_a_refused_structured_value_leaves_every_field_as_it_was),
        cmocka_unit_test (test_setting_an_algorithm_brings_its_defaults_unless_given),
        cmocka_unit_test (test_a_lossy_codec_brings_error_feedback_unless_set),
        cmocka_unit_test (test_a_copy_owns_its_strings),
        cmocka_unit_test (test_the_rules_between_settings_are_checked_with_a_reason),
        cmocka_unit_test (test_a_vector_of_ones_own_refuses_what_needs_the_learner),
        cmocka_unit_test (test_every_setting_has_help_and_reads_back),
        cmocka_unit_test (test_64_bit_settings_are_read_exactly),
        cmocka_unit_test (test_peers_are_checked_and_dns_entries_choose_the_dns_back_end),
        cmocka_unit_test (test_a_learner_from_a_configuration_trains_and_resumes_from_its_checkpoint),
        cmocka_unit_test (test_an_agent_without_peers_trains_alone_and_resumes_from_its_checkpoint_image),
        cmocka_unit_test (test_trimmed_mixing_is_refused_where_an_agent_mixes_too_few_states),
        cmocka_unit_test (test_the_mixing_rules_read_back_in_their_canonical_form),
        cmocka_unit_test (test_the_algorithms_and_their_own_defaults_are_listed_by_name),
        cmocka_unit_test (test_codecs_say_whether_they_lose_and_settings_list_their_forms),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
