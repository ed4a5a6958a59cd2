/*  test_exchange.c: bring your own model. Agents built with "dim" and no model, each
    driven by a thread of the test through mdl_agent_exchange, gossip through the real
    engine (in-process cluster: comm actors, inproc sockets, codecs, sync rounds):
    consensus on the mean, decentralized least squares reaching the global optimum, the
    final merge making every vector the same, and the refusals. */
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "cluster.h"
#include "err.h"
#include "meshdl.h"

#define S_N 4
#define S_D 32

typedef struct {
    mdl_agent_t *agent;
    int i;
    int steps;
    float lr;      /* > 0: a gradient step on 0.5 ||x - b_i||^2 before each exchange */
    bool finish;   /* mdl_agent_finish after the last step */
    long pause_ns; /* between steps (async: lets states travel, as compute would) */
    long late_ns;  /* before mdl_agent_finish (a straggler that enters the merge last) */
    float x[S_D];
    float b[S_D];
    int rc;    /* first error */
    int mixed; /* states mixed in over the run */
} s_worker_t;

static void *
s_run (void *arg)
{
    s_worker_t *w = arg;
    for (int t = 0; t < w->steps && !w->rc; t++) {
        for (int k = 0; k < S_D && w->lr > 0; k++)
            w->x[k] -= w->lr * (w->x[k] - w->b[k]);
        if (w->pause_ns) {
            struct timespec ts = { 0, w->pause_ns };
            nanosleep (&ts, NULL);
        }
        int r = mdl_agent_exchange (w->agent, w->x, S_D, (uint64_t) t);
        if (r < 0)
            w->rc = r;
        else
            w->mixed += r;
    }
    if (w->late_ns) {
        struct timespec ts = { w->late_ns / 1000000000L, w->late_ns % 1000000000L };
        nanosleep (&ts, NULL);
    }
    if (!w->rc && w->finish)
        w->rc = mdl_agent_finish (w->agent, w->x, S_D);
    return NULL;
}

static mdl_agent_cfg_t *
s_cfg (const char *algo, const char *mode, const char *codec)
{
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    assert_int_equal (mdl_agent_cfg_set (c, "model", ""), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "dim", "32"), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "cluster", "test-exchange"), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "algo", algo), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "mode", mode), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "codec", codec), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "hello-interval", "0.05"), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "sync-timeout", "20"), 0);
    return c;
}

/* Every counter at once (mdl_agent_counters) in mdl_agent_counter_name's order, and the
   histogram of the states mixed in (mdl_agent_histogram): one observation per state,
   cumulative buckets. */
static void
s_check_counters (mdl_agent_t *a, int steps, int mixed)
{
    double all[256];
    const size_t n = mdl_agent_counters (a, all, 256);
    assert_true (n > 20 && n <= 256);
    assert_non_null (mdl_agent_counter_name (n - 1));
    assert_null (mdl_agent_counter_name (n));
    for (size_t i = 0; i < n; i++)
        if (!strcmp (mdl_agent_counter_name (i), "steps"))
            assert_true (all[i] == (double) steps);
    double le[16], sum;
    uint64_t cum[16], count;
    size_t nb = 0;
    assert_int_equal (mdl_agent_histogram (a, "update_age", le, cum, 16, &nb, &count, &sum), 0);
    assert_true (nb > 0 && nb <= 16);
    for (size_t b = 1; b < nb; b++)
        assert_true (le[b] > le[b - 1] && cum[b] >= cum[b - 1]);
    assert_true (cum[nb - 1] <= count);
    assert_int_equal (count, (uint64_t) mixed);
    assert_int_equal (mdl_agent_histogram (a, "sync_wait", NULL, NULL, 0, &nb, NULL, NULL), 0);
    assert_int_equal (mdl_agent_histogram (a, "no-such", NULL, NULL, 0, &nb, NULL, NULL), MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "unknown histogram"));
}

/* Starts S_N agents of cfg and runs steps exchanges on each, x_i starting at i (every
   coordinate), b_i = 10 i + k; agent 0 finishes late0_ns after the others. Returns the
   cluster (the caller destroys it) once every worker ended without an error. */
static mdl_cluster_t *
s_cluster_go (const mdl_agent_cfg_t *cfg, int steps, float lr, bool finish, long pause_ns, long late0_ns, s_worker_t *w)
{
    int err = 0;
    mdl_cluster_t *cl = mdl_cluster_create (cfg, S_N, NULL, 0, &err);
    if (!cl)
        fail_msg ("cluster: %s (%s)", mdl_strerror (err), mdl_error_detail ());
    assert_int_equal (mdl_cluster_wait_peers (cl, 20, NULL), 0);
    pthread_t th[S_N];
    for (int i = 0; i < S_N; i++) {
        w[i] = (s_worker_t){ .agent = mdl_cluster_agent (cl, i),
                             .i = i,
                             .steps = steps,
                             .lr = lr,
                             .finish = finish,
                             .pause_ns = pause_ns,
                             .late_ns = i == 0 ? late0_ns : 0 };
        for (int k = 0; k < S_D; k++) {
            w[i].x[k] = (float) i;
            w[i].b[k] = 10.0f * (float) i + (float) k;
        }
        assert_int_equal (pthread_create (&th[i], NULL, s_run, &w[i]), 0);
    }
    for (int i = 0; i < S_N; i++)
        pthread_join (th[i], NULL);
    for (int i = 0; i < S_N; i++)
        if (w[i].rc)
            fail_msg ("agent %d: %s (%s)", i, mdl_strerror (w[i].rc), mdl_error_detail ());
    return cl;
}

/* s_cluster_go, then the counters' checks. */
static void
s_cluster_run (const mdl_agent_cfg_t *cfg, int steps, float lr, bool finish, long pause_ns, s_worker_t *w)
{
    mdl_cluster_t *cl = s_cluster_go (cfg, steps, lr, finish, pause_ns, 0, w);
    double v;
    assert_int_equal (mdl_cluster_counter (cl, "steps", &v), 0);
    assert_true (v == (double) S_N * steps);
    s_check_counters (mdl_cluster_agent (cl, 0), steps, w[0].mixed);
    mdl_cluster_destroy (&cl);
}

static void
test_sync_gossip_of_own_vectors_agrees_on_their_mean (void **state)
{
    mdl_agent_cfg_t *c = s_cfg ("dpsgd", "sync", "fp32");
    s_worker_t w[S_N];
    s_cluster_run (c, 40, 0, false, 0, w);
    for (int i = 0; i < S_N; i++) {
        assert_int_equal (w[i].mixed, 2 * 40); /* a ring: both neighbours, every round */
        for (int k = 0; k < S_D; k++)
            assert_float_equal (w[i].x[k], 1.5f, 1e-4f); /* the mean of 0, 1, 2, 3 */
    }
    mdl_agent_cfg_destroy (&c);
}

static void
test_local_gradient_steps_and_exchanges_reach_the_global_least_squares_optimum (void **state)
{
    /* f(x) = sum_i 0.5 ||x - b_i||^2 is minimised at the mean of the b_i (15 + k); an
       agent alone would stay at its own b_i, 15 away. D-PSGD with a constant step ends
       within O(lr) of the optimum. */
    mdl_agent_cfg_t *c = s_cfg ("dpsgd", "sync", "fp32");
    assert_int_equal (mdl_agent_cfg_set (c, "topology", "complete"), 0);
    s_worker_t w[S_N];
    s_cluster_run (c, 200, 0.05f, false, 0, w);
    for (int i = 0; i < S_N; i++)
        for (int k = 0; k < S_D; k++)
            assert_float_equal (w[i].x[k], 15.0f + (float) k, 0.5f);
    mdl_agent_cfg_destroy (&c);
}

static void
test_compressed_async_gossip_of_own_vectors_contracts_their_spread (void **state)
{
    mdl_agent_cfg_t *c = s_cfg ("choco", "async", "q8");
    assert_int_equal (mdl_agent_cfg_set (c, "gamma", "0.5"), 0);
    s_worker_t w[S_N];
    s_cluster_run (c, 300, 0, false, 2000000, w);
    /* Started at 0, 1, 2, 3 (a spread of 3). Asynchronous mixing is not symmetric (an
       agent mixes a neighbour's state of some earlier round), so the mean drifts by how
       the rounds interleave: 1.71 under CI's load, ~1.5 on a quiet machine. What holds is
       the contraction: every vector stays in the hull of the starting ones, and the
       spread falls twenty-fold. */
    for (int k = 0; k < S_D; k++) {
        float lo = w[0].x[k], hi = w[0].x[k];
        for (int i = 1; i < S_N; i++) {
            lo = w[i].x[k] < lo ? w[i].x[k] : lo;
            hi = w[i].x[k] > hi ? w[i].x[k] : hi;
        }
        assert_true (lo >= -0.05f && hi <= 3.05f); /* (q8's rounding: a step of 3/255) */
        assert_true (hi - lo <= 0.15f);
    }
    mdl_agent_cfg_destroy (&c);
}

static void
test_finish_with_final_merge_leaves_every_agent_the_same_vector (void **state)
{
    mdl_agent_cfg_t *c = s_cfg ("dpsgd", "sync", "fp32");
    assert_int_equal (mdl_agent_cfg_set (c, "final-merge", "true"), 0);
    s_worker_t w[S_N];
    s_cluster_run (c, 3, 0.5f, true, 0, w); /* 3 steps of gossip: far from agreement */
    for (int i = 1; i < S_N; i++)
        for (int k = 0; k < S_D; k++)
            assert_float_equal (w[i].x[k], w[0].x[k], 1e-5f);
    mdl_agent_cfg_destroy (&c);
}

/* agent a's counter name (a test failure when it is unknown) */
static double
s_counter (mdl_agent_t *a, const char *name)
{
    double v = -1;
    assert_int_equal (mdl_agent_counter (a, name, &v), 0);
    return v;
}

/* mdl_agent_finish leaves every counter current, read at once, with no wait for the comm
   actor's next tick (which copies the mesh's counts, 20 ms apart): the bytes of every
   state the agent sent and of every state it mixed in. */
static void
test_traffic_counters_read_right_after_finish_hold_every_state_sent_and_mixed (void **state)
{
    mdl_agent_cfg_t *c = s_cfg ("dpsgd", "sync", "fp32");
    s_worker_t w[S_N];
    const int steps = 30;
    mdl_cluster_t *cl = s_cluster_go (c, steps, 0, true, 0, 0, w);
    const double state_bytes = S_D * sizeof (float); /* one fp32 state's payload */
    for (int i = 0; i < S_N; i++) {
        mdl_agent_t *a = mdl_cluster_agent (cl, i);
        const double applied = s_counter (a, "updates_applied"), received = s_counter (a, "bytes_received");
        const double sent = s_counter (a, "bytes_sent_state"), msgs = s_counter (a, "msgs_sent_state");
        assert_true (applied == w[i].mixed && applied == 2 * steps); /* a ring: both neighbours, every round */
        if (received < applied * state_bytes || sent < 2 * steps * state_bytes || msgs < 2 * steps)
            fail_msg ("agent %d after finish: %.0f bytes received for %.0f states mixed, %.0f bytes in %.0f states "
                      "sent of %d",
                      i, received, applied, sent, msgs, 2 * steps);
    }
    mdl_cluster_destroy (&cl);
    mdl_agent_cfg_destroy (&c);
}

/* The counter name of agent a, waiting (5 s at most) until it is at least atleast: the
   comm actor copies its counts into the agent's on its tick. */
static double
s_counter_at_least (mdl_agent_t *a, const char *name, double atleast)
{
    double v = 0;
    for (int t = 0; t < 500; t++) {
        assert_int_equal (mdl_agent_counter (a, name, &v), 0);
        if (v >= atleast)
            break;
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep (&ts, NULL);
    }
    return v;
}

/* Agent 0 enters the final merge 0.4 s after the others, who ask it for its state
   meanwhile: each agent's merge state goes out S_N - 1 times, once to each peer, not once
   more per ask, and none is lost for want of a connection. */
static void
s_merge_sends_each_state_once (const char *topology)
{
    mdl_agent_cfg_t *c = s_cfg ("dpsgd", "sync", "fp32");
    assert_int_equal (mdl_agent_cfg_set (c, "final-merge", "true"), 0);
    assert_int_equal (mdl_agent_cfg_set (c, "topology", topology), 0);
    s_worker_t w[S_N];
    mdl_cluster_t *cl = s_cluster_go (c, 3, 0.0f, true, 0, 400 * 1000000L, w);
    for (int i = 0; i < S_N; i++)
        s_counter_at_least (mdl_cluster_agent (cl, i), "msgs_sent_global_state", S_N - 1);
    struct timespec ts = { 0, 200 * 1000000L }; /* answers handed over last go out too */
    nanosleep (&ts, NULL);
    for (int i = 0; i < S_N; i++) {
        mdl_agent_t *a = mdl_cluster_agent (cl, i);
        double states, asks, total = 0, kinds = 0;
        assert_int_equal (mdl_agent_counter (a, "msgs_sent_global_state", &states), 0);
        assert_int_equal (mdl_agent_counter (a, "msgs_sent_resync", &asks), 0);
        if (states != S_N - 1)
            fail_msg ("%s: agent %d sent its merge state %.0f times to %d peers (%.0f asks of its own)", topology, i,
                      states, S_N - 1, asks);
        /* the kinds add up to all that was sent (one snapshot of every counter) */
        double all[256];
        const size_t n = mdl_agent_counters (a, all, 256);
        for (size_t k = 0; k < n && k < 256; k++)
            if (!strcmp (mdl_agent_counter_name (k), "bytes_sent"))
                total = all[k];
            else if (!strncmp (mdl_agent_counter_name (k), "bytes_sent_", 11))
                kinds += all[k];
        assert_true (total > 0);
        assert_true (kinds == total);
    }
    for (int k = 0; k < S_D; k++)
        assert_float_equal (w[1].x[k], w[0].x[k], 1e-5f);
    mdl_cluster_destroy (&cl);
    mdl_agent_cfg_destroy (&c);
}

static void
test_a_final_merge_sends_each_state_once_to_each_peer_when_one_agent_enters_it_late (void **state)
{
    (void) state;
    /* Everyone a neighbour: agent 0's state goes once to each (it was sending it to
       everyone anyway). */
    s_merge_sends_each_state_once ("complete");
    /* A ring of 4: agent 2 is linked with agent 0 only while the merge runs, each
       connecting to the other on entering it. A state sent to 0 before 0 listened was
       lost and went again when 0 asked, half a second later (the quiet time for asks):
       now it goes once 0 was heard from (its ask, or its state). */
    s_merge_sends_each_state_once ("ring");
}

static void
test_exchange_refuses_what_does_not_fit_with_a_reason (void **state)
{
    /* an algorithm that takes the optimizer step itself */
    mdl_agent_cfg_t *c = s_cfg ("qgm", "sync", "fp32");
    int err = 0;
    assert_null (mdl_cluster_create (c, 2, NULL, 0, &err));
    assert_int_equal (err, MDL_EALGO);
    assert_non_null (strstr (mdl_error_detail (), "--algo qgm takes the optimizer step itself"));
    mdl_agent_cfg_destroy (&c);
    /* a vector of the wrong length, and an exchange after finish */
    c = s_cfg ("dpsgd", "async", "fp32");
    mdl_cluster_t *cl = mdl_cluster_create (c, 1, NULL, 0, &err);
    assert_non_null (cl);
    mdl_agent_t *a = mdl_cluster_agent (cl, 0);
    float x[S_D + 1] = { 0 };
    assert_int_equal (mdl_agent_exchange (a, x, S_D + 1, 0), MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "wrong length (the agent's dim is 32)"));
    assert_int_equal (mdl_agent_start (a), MDL_ENOTSUP);
    assert_int_equal (mdl_agent_exchange (a, x, S_D, 0), 0); /* alone: nothing to mix */
    assert_int_equal (mdl_agent_finish (a, x, S_D), 0);
    assert_int_equal (mdl_agent_exchange (a, x, S_D, 1), MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "has finished"));
    mdl_cluster_destroy (&cl);
    mdl_agent_cfg_destroy (&c);
    /* an agent that trains a model of its own */
    mdl_dataset_t *ds = mdl_dataset_new (16, 4, 2, &err);
    c = mdl_agent_cfg_new ();
    assert_int_equal (mdl_agent_cfg_set (c, "model", "mlp:4-2"), 0);
    assert_int_equal (mdl_agent_cfg_set_data (c, ds, NULL), 0);
    cl = mdl_cluster_create (c, 1, NULL, 0, &err);
    assert_non_null (cl);
    assert_int_equal (mdl_agent_exchange (mdl_cluster_agent (cl, 0), x, 10, 0), MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "trains a model of its own"));
    mdl_cluster_destroy (&cl);
    mdl_agent_cfg_destroy (&c);
    mdl_dataset_destroy (&ds);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_sync_gossip_of_own_vectors_agrees_on_their_mean),
        cmocka_unit_test (test_local_gradient_steps_and_exchanges_reach_the_global_least_squares_optimum),
        cmocka_unit_test (test_compressed_async_gossip_of_own_vectors_contracts_their_spread),
        cmocka_unit_test (test_finish_with_final_merge_leaves_every_agent_the_same_vector),
        cmocka_unit_test (test_a_final_merge_sends_each_state_once_to_each_peer_when_one_agent_enters_it_late),
        cmocka_unit_test (test_exchange_refuses_what_does_not_fit_with_a_reason),
        cmocka_unit_test (test_traffic_counters_read_right_after_finish_hold_every_state_sent_and_mixed),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
