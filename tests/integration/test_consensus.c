/*  test_consensus.c: average consensus through the real agents (comm actors, inproc
    PUB/SUB sockets, registry discovery): with the learning rate at 0, gossip alone must
    bring every agent to the exact mean of the initial vectors in synchronous mode, and
    to a common vector in asynchronous mode. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "err.h"
#include "model.h"
#include "registry.h"
#include "vec.h"


static int s_runs; /* runs so far in this process */

typedef struct {
    double max_rel_to_mean; /* max_i ||x_i - mean0|| / ||mean0|| */
    double max_rel_spread;  /* max_i ||x_i - xbar|| / ||xbar|| */
} s_result_t;

static s_result_t
s_run_k (const char *topology, mdl_mode_t mode, int n, int epochs, const char *codec, bool ef, const char *spec,
         int dim, int gossip_steps)
{
    int err = 0;
    mdl_dataset_t *ds = mdl_dataset_new (64, (size_t) dim, 2, &err);
    assert_non_null (ds);
    float *x = mdl_dataset_x_mut (ds);
    int32_t *y = mdl_dataset_labels_mut (ds);
    for (int i = 0; i < 64 * dim; i++)
        x[i] = (float) ((i * 37) % 11) / 11.0f;
    for (int i = 0; i < 64; i++)
        y[i] = i % 2;
    mdl_registry_t *reg = mdl_registry_new (&err);
    mdl_agent_t **agents = calloc ((size_t) n, sizeof *agents);
    char (*binds)[64] = calloc ((size_t) n, 64);
    s_runs++;
    size_t d = 0;
    double *mean0 = NULL;
    for (int i = 0; i < n; i++) {
        mdl_agent_cfg_t c;
        memset (&c, 0, sizeof c);
        c.id = (uint64_t) (i + 1) * 1000;
        c.cluster = "test";
        /* A fresh name per run: a closed PUB may linger (to deliver its goodbye) while the
           next run binds. */
        snprintf (binds[i], 64, "inproc://consensus-%d-%d-%s-%d", (int) getpid (), s_runs, topology, i);
        c.bind = binds[i];
        c.disc = (mdl_disc_cfg_t) { .kind = MDL_DISC_INPROC, .cluster = "test", .registry = reg };
        c.peer_timeout = 5;
        c.hello_interval = 0.05;
        c.min_peers = n - 1;
        c.min_peers_timeout = 20;
        c.learn.spec = spec;
        c.learn.seed = (uint64_t) i + 1; /* different initial vectors */
        c.learn.data_seed = (uint64_t) i;
        c.learn.batch = 8;
        mdl_opt_defaults (&c.learn.opt, MDL_OPT_SGD);
        mdl_sched_parse ("constant", &c.learn.sched);
        c.learn.sched.lr0 = 0.0f;
        c.learn.epochs = epochs;
        c.train = ds;
        c.epochs = epochs;
        c.algo = "dpsgd";
        c.topology = topology;
        c.weights = MDL_WEIGHTS_MH;
        c.mode = mode;
        c.codec = codec;
        c.error_feedback = ef;
        c.keyframe_every = 0;
        c.gamma = 1.0;
        c.gossip_steps = gossip_steps;
        c.staleness_decay = 1.0;
        c.max_staleness = 1000000;
        c.sync_timeout = 20;
        c.seed = 7;
        agents[i] = mdl_agent_new (&c, &err);
        if (!agents[i])
            fail_msg ("agent %d: %s", i, mdl_strerror (err));
        d = mdl_agent_dim (agents[i]);
        if (!mean0)
            mean0 = calloc (d, sizeof *mean0);
        const float *p = mdl_model_params (mdl_learner_model (mdl_agent_learner (agents[i])));
        for (size_t k = 0; k < d; k++)
            mean0[k] += p[k] / n;
    }
    for (int i = 0; i < n; i++)
        assert_int_equal (mdl_agent_wait_peers (agents[i], n - 1, 20), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal (mdl_agent_start (agents[i]), 0);
    for (int i = 0; i < n; i++)
        mdl_agent_join (agents[i]);
    s_result_t r = { 0, 0 };
    float *snap = malloc (d * sizeof *snap);
    double *xbar = calloc (d, sizeof *xbar), nm = 0, nb = 0;
    float **all = calloc ((size_t) n, sizeof *all);
    for (int i = 0; i < n; i++) {
        mdl_agent_stats_t st;
        mdl_agent_stats (agents[i], &st);
        assert_int_equal (st.error, 0);
        all[i] = malloc (d * sizeof (float));
        assert_int_equal (mdl_agent_snapshot (agents[i], 1, all[i], NULL, 10), 0);
        for (size_t k = 0; k < d; k++)
            xbar[k] += all[i][k] / n;
    }
    for (size_t k = 0; k < d; k++) {
        nm += mean0[k] * mean0[k];
        nb += xbar[k] * xbar[k];
    }
    for (int i = 0; i < n; i++) {
        double e0 = 0, e1 = 0;
        for (size_t k = 0; k < d; k++) {
            e0 += (all[i][k] - mean0[k]) * (all[i][k] - mean0[k]);
            e1 += (all[i][k] - xbar[k]) * (all[i][k] - xbar[k]);
        }
        r.max_rel_to_mean = fmax (r.max_rel_to_mean, sqrt (e0 / nm));
        r.max_rel_spread = fmax (r.max_rel_spread, sqrt (e1 / nb));
        free (all[i]);
    }
    for (int i = 0; i < n; i++)
        mdl_agent_destroy (&agents[i]);
    free (all);
    free (snap);
    free (xbar);
    free (mean0);
    free (agents);
    free (binds);
    mdl_registry_destroy (&reg);
    mdl_dataset_destroy (&ds);
    return r;
}

static s_result_t
s_run (const char *topology, mdl_mode_t mode, int n, int epochs, const char *codec, bool ef, const char *spec,
       int dim)
{
    return s_run_k (topology, mode, n, epochs, codec, ef, spec, dim, 1);
}

static void
test_gossip_steps_k_do_k_rounds_of_averaging_per_step (void **state)
{
    /* 8 steps x 2 gossip rounds and 16 steps x 1 round are the same 16 rounds of W: with
       the learning rate at 0 the agents end bit for bit where they do. Few enough rounds
       that the mean is not reached yet, so the distance tells the two apart from 8 rounds. */
    s_result_t k2 = s_run_k ("ring", MDL_MODE_SYNC, 8, 1, "fp32", false, "mlp:4-3-2", 4, 2);
    s_result_t k1 = s_run_k ("ring", MDL_MODE_SYNC, 8, 2, "fp32", false, "mlp:4-3-2", 4, 1);
    s_result_t r8 = s_run_k ("ring", MDL_MODE_SYNC, 8, 1, "fp32", false, "mlp:4-3-2", 4, 1);
    print_message ("16 rounds as 8x2: %.6g, as 16x1: %.6g; 8 rounds: %.6g\n", k2.max_rel_to_mean, k1.max_rel_to_mean,
                   r8.max_rel_to_mean);
    assert_true (k2.max_rel_to_mean == k1.max_rel_to_mean);
    assert_true (k2.max_rel_to_mean > 1e-4);
    assert_true (r8.max_rel_to_mean > 2 * k2.max_rel_to_mean);
}

static void
test_sync_gossip_reaches_the_exact_mean_on_ring_torus_and_exp (void **state)
{
    const char *topos[] = { "ring", "torus", "exp" };
    for (int t = 0; t < 3; t++) {
        s_result_t r = s_run (topos[t], MDL_MODE_SYNC, 8, 40, "fp32", false, "mlp:4-3-2", 4); /* 320 rounds */
        print_message ("%s: max relative distance to the initial mean %.3g\n", topos[t], r.max_rel_to_mean);
        if (!(r.max_rel_to_mean < 1e-5))
            fail_msg ("%s: agents ended %.3g (relative) from the initial mean", topos[t], r.max_rel_to_mean);
    }
}

static void
test_async_gossip_converges_to_a_common_vector (void **state)
{
    /* A model large enough that a step takes longer than a message takes to arrive, as
       in real training; with a toy model async agents would finish before hearing. */
    s_result_t r = s_run ("ring", MDL_MODE_ASYNC, 6, 40, "fp32", false, "mlp:64-256-256-2", 64);
    print_message ("async ring: max relative spread %.3g, distance to initial mean %.3g\n", r.max_rel_spread,
                   r.max_rel_to_mean);
    assert_true (r.max_rel_spread < 1e-4);
}

static void
test_replica_gossip_with_a_lossy_codec_still_agrees (void **state)
{
    /* q8 deltas with error feedback: replicas converge to the states, so agents agree. */
    s_result_t r = s_run ("ring", MDL_MODE_SYNC, 4, 40, "q8", true, "mlp:4-3-2", 4);
    print_message ("q8+EF ring: spread %.3g, distance to initial mean %.3g\n", r.max_rel_spread, r.max_rel_to_mean);
    assert_true (r.max_rel_spread < 1e-3);
    assert_true (r.max_rel_to_mean < 5e-2);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_sync_gossip_reaches_the_exact_mean_on_ring_torus_and_exp),
        cmocka_unit_test (test_async_gossip_converges_to_a_common_vector),
        cmocka_unit_test (test_gossip_steps_k_do_k_rounds_of_averaging_per_step),
        cmocka_unit_test (test_replica_gossip_with_a_lossy_codec_still_agrees),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
