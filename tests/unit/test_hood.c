/*  test_hood.c: an agent's neighbourhood (hood.h), and what real agents hold because of
    it: on 64 in-process agents (comm actors, inproc PUB/SUB, registry discovery), the
    connections, links and mailboxes of each follow its degree on the graph, not the
    cluster; a global average opens transient connections to everyone and gives them
    back; the message buffers a sync agent keeps in flight (its last state per round of a
    time-varying graph, for a resend) are made when the neighbourhood forms, not by the
    worker's sends mid-round. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "err.h"
#include "hood.h"
#include "registry.h"
#include "topo.h"

typedef struct {
    uint32_t in[1100], talk[1100];
    size_t nin, ntalk;
} s_hood_t;

static void
s_compute (const char *spec, uint32_t n, uint32_t me, uint64_t round, s_hood_t *h)
{
    int err;
    mdl_topo_t *t = mdl_topo_new (spec, 42, &err);
    assert_non_null (t);
    uint8_t mark[1100];
    const mdl_topo_t *g[1] = { t };
    assert_int_equal (mdl_hood_compute (g, 1, n, me, round, h->in, &h->nin, h->talk, &h->ntalk, mark), 0);
    mdl_topo_destroy (&t);
}

static bool
s_has (const uint32_t *v, size_t n, uint32_t x)
{
    for (size_t k = 0; k < n; k++)
        if (v[k] == x)
            return true;
    return false;
}

static void
test_ring_exp_and_one_peer_exp_neighbourhoods_follow_the_degree (void **state)
{
    s_hood_t h;
    s_compute ("ring", 64, 10, 0, &h);
    assert_int_equal (h.nin, 2);
    assert_int_equal (h.ntalk, 2);
    assert_true (h.in[0] == 9 && h.in[1] == 11);
    /* exp on 64: hears i - 1, 2, 4, ..., 32 (6), is heard by i + the same (6); +32 = -32 */
    s_compute ("exp", 64, 0, 0, &h);
    assert_int_equal (h.nin, 6);
    assert_int_equal (h.ntalk, 11);
    /* one-peer-exp: one in-neighbour per round, log2 n over its period */
    s_compute ("one-peer-exp", 64, 5, 3, &h);
    assert_int_equal (h.nin, 6);
    assert_int_equal (h.ntalk, 11);
    s_compute ("one-peer-exp", 1024, 5, 0, &h);
    assert_int_equal (h.nin, 10);
    assert_int_equal (h.ntalk, 19);
    s_compute ("complete", 17, 3, 0, &h);
    assert_int_equal (h.ntalk, 16);
}

static void
test_talk_is_symmetric_and_covers_every_round_of_the_window (void **state)
{
    /* j talks with i exactly when i talks with j (so both open the link), and every
       in-neighbour of every round the window covers is an in-neighbour of the hood. */
    const char *specs[] = { "ring", "torus", "exp", "one-peer-exp", "base:1", "base:3", "random:3" };
    const uint32_t n = 37;
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        int err;
        mdl_topo_t *t = mdl_topo_new (specs[s], 42, &err);
        assert_non_null (t);
        const int p = mdl_topo_period (t, n);
        for (uint64_t round = 0; round < 40; round += 13) {
            s_hood_t *all = calloc (n, sizeof *all);
            for (uint32_t i = 0; i < n; i++)
                s_compute (specs[s], n, i, round, &all[i]);
            for (uint32_t i = 0; i < n; i++) {
                for (size_t k = 0; k < all[i].ntalk; k++)
                    assert_true (s_has (all[all[i].talk[k]].talk, all[all[i].talk[k]].ntalk, i));
                for (size_t k = 0; k < all[i].nin; k++)
                    assert_true (s_has (all[i].talk, all[i].ntalk, all[i].in[k]));
                /* the rounds from this one to the end of the current window */
                const uint64_t end = p > 0 ? round + (uint64_t) p : (round / MDL_HOOD_WINDOW + 1) * MDL_HOOD_WINDOW;
                for (uint64_t r = round; r < end; r++) {
                    uint32_t nb[64];
                    size_t cnt;
                    assert_int_equal (mdl_topo_neighbors (t, n, i, r, nb, 64, &cnt), 0);
                    for (size_t k = 0; k < cnt; k++)
                        assert_true (s_has (all[i].in, all[i].nin, nb[k]));
                }
            }
            free (all);
        }
        mdl_topo_destroy (&t);
    }
}

static void
test_random_graph_neighbourhood_is_a_window_of_draws (void **state)
{
    /* random:4 on 512 agents: the draws of two windows of rounds, not the cluster */
    s_hood_t h;
    s_compute ("random:4", 512, 7, 100, &h);
    assert_true (h.ntalk <= 4 * 2 * MDL_HOOD_WINDOW);
    assert_true (h.ntalk >= 4);
    int err;
    mdl_topo_t *t = mdl_topo_new ("random:4", 42, &err);
    const mdl_topo_t *g[1] = { t };
    assert_true (mdl_hood_window (g, 1, 512, 100) == mdl_hood_window (g, 1, 512, 103));
    assert_true (mdl_hood_window (g, 1, 512, 100) != mdl_hood_window (g, 1, 512, 104));
    mdl_topo_destroy (&t);
}

/* ---- real agents ---- */

typedef struct {
    const char *topology;
    const char *algo;
    bool final_merge;
} s_cluster_opts_t;

static int s_runs;

typedef struct {
    mdl_agent_t **agents;
    int n;
    mdl_registry_t *reg;
    mdl_dataset_t *ds;
} s_cluster_t;

static void
s_cluster_destroy (s_cluster_t *cl)
{
    for (int i = 0; i < cl->n; i++)
        mdl_agent_destroy (&cl->agents[i]);
    free (cl->agents);
    mdl_registry_destroy (&cl->reg);
    mdl_dataset_destroy (&cl->ds);
}

/* n agents, 2 epochs of 8 steps each; stats gets each agent's counters once every
   agent finished and its comm actor has counted (one tick). The caller destroys cl. */
static void
s_cluster (const s_cluster_opts_t *o, int n, mdl_agent_stats_t *stats, s_cluster_t *cl)
{
    int err = 0;
    mdl_dataset_t *ds = mdl_dataset_new (64, 4, 2, &err);
    assert_non_null (ds);
    float *x = mdl_dataset_x_mut (ds);
    int32_t *y = mdl_dataset_labels_mut (ds);
    for (int i = 0; i < 64 * 4; i++)
        x[i] = (float) ((i * 37) % 11) / 11.0f;
    for (int i = 0; i < 64; i++)
        y[i] = i % 2;
    mdl_registry_t *reg = mdl_registry_new (&err);
    mdl_agent_t **agents = calloc ((size_t) n, sizeof *agents);
    char (*binds)[64] = calloc ((size_t) n, 64);
    s_runs++;
    for (int i = 0; i < n; i++) {
        mdl_agent_cfg_t c;
        memset (&c, 0, sizeof c);
        c.id = (uint64_t) (i + 1) * 7;
        c.cluster = "hood";
        snprintf (binds[i], 64, "inproc://hood-%d-%d-%d", (int) getpid (), s_runs, i);
        c.bind = binds[i];
        c.disc = (mdl_disc_cfg_t) { .kind = MDL_DISC_INPROC, .cluster = "hood", .registry = reg };
        c.peer_timeout = 10;
        c.hello_interval = 0.05;
        c.learn.spec = "mlp:4-3-2";
        c.learn.seed = (uint64_t) i + 1;
        c.learn.batch = 8;
        mdl_opt_defaults (&c.learn.opt, MDL_OPT_SGD);
        mdl_sched_parse ("constant", &c.learn.sched);
        c.learn.sched.lr0 = 0.01f;
        c.learn.epochs = 2;
        c.train = ds;
        c.epochs = 2;
        c.algo = o->algo;
        c.topology = o->topology;
        c.final_merge = o->final_merge;
        c.merge_timeout = 30;
        c.mode = MDL_MODE_SYNC;
        c.codec = "fp32";
        c.gamma = 1.0;
        c.gossip_steps = 1;
        c.staleness_decay = 1.0;
        c.max_staleness = 1000;
        c.sync_timeout = 30;
        c.seed = 7;
        agents[i] = mdl_agent_new (&c, &err);
        if (!agents[i])
            fail_msg ("agent %d: %s", i, mdl_strerror (err));
    }
    for (int i = 0; i < n; i++)
        assert_int_equal (mdl_agent_wait_peers (agents[i], n - 1, 30), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal (mdl_agent_start (agents[i]), 0);
    for (int i = 0; i < n; i++)
        mdl_agent_join (agents[i]);
    struct timespec tick = { 0, 100 * 1000000 }; /* the comm actors count every 20 ms */
    nanosleep (&tick, NULL);
    for (int i = 0; i < n; i++) {
        mdl_agent_stats (agents[i], &stats[i]);
        assert_int_equal (stats[i].error, 0);
        assert_int_equal (stats[i].steps, 16);
        assert_int_equal (stats[i].peers_alive, n - 1);
    }
    free (binds);
    *cl = (s_cluster_t) { .agents = agents, .n = n, .reg = reg, .ds = ds };
}

static void
test_64_agents_on_a_ring_hold_two_connections_and_two_mailboxes_each (void **state)
{
    mdl_agent_stats_t st[64];
    s_cluster_t cl;
    s_cluster (&(s_cluster_opts_t) { .topology = "ring", .algo = "dpsgd" }, 64, st, &cl);
    s_cluster_destroy (&cl);
    for (int i = 0; i < 64; i++) {
        assert_int_equal (st[i].neighbours, 2);
        assert_int_equal (st[i].connections, 2);
        assert_int_equal (st[i].links, 2);
        assert_int_equal (st[i].mailboxes, 2);
        assert_int_equal (st[i].updates_applied, 2 * 16);
        /* two slots of one channel per neighbour at most (mlp:4-3-2: 23 parameters) */
        assert_true (st[i].mailbox_bytes <= 2 * 2 * 23 * sizeof (float));
    }
}

static void
test_64_agents_on_exp_hold_their_eleven_neighbours_and_six_mailboxes (void **state)
{
    mdl_agent_stats_t st[64];
    s_cluster_t cl;
    s_cluster (&(s_cluster_opts_t) { .topology = "exp", .algo = "dpsgd" }, 64, st, &cl);
    s_cluster_destroy (&cl);
    for (int i = 0; i < 64; i++) {
        assert_int_equal (st[i].neighbours, 11);
        assert_int_equal (st[i].connections, 11);
        assert_int_equal (st[i].mailboxes, 6); /* in-neighbours only: states come from them */
        assert_int_equal (st[i].updates_applied, 6 * 16);
    }
}

static void
test_64_agents_on_one_peer_exp_make_their_buffers_before_the_rounds (void **state)
{
    /* one-peer-exp of 64: period 6, a state kept per round of it: 3 + 6 + 1 buffers made
       as the neighbourhood forms (before, 4 at the start and the other 6 by sends on the
       worker mid-round) */
    mdl_agent_stats_t st[64];
    s_cluster_t cl;
    s_cluster (&(s_cluster_opts_t) { .topology = "one-peer-exp", .algo = "dpsgd" }, 64, st, &cl);
    s_cluster_destroy (&cl);
    for (int i = 0; i < 64; i++) {
        assert_true (st[i].buffers >= 10);
        assert_true (st[i].buffers <= 12); /* the neighbourhood's, not the cluster's */
        /* at most 2 made by a send mid-round: CI's load once held one more state in
           flight than the pool's steady state (3 on demand would pass the total above
           only at its edge) */
        assert_true (st[i].buffers_on_demand <= 2);
    }
}

static void
test_a_final_merge_opens_everyone_and_gives_it_back (void **state)
{
    /* The final merge needs every live peer: transient connections to all 63, an exact
       average (every agent merged with 63), then back to the ring's two within the
       linger (2 s). */
    mdl_agent_stats_t st[64];
    s_cluster_t cl;
    s_cluster (&(s_cluster_opts_t) { .topology = "ring", .algo = "dpsgd", .final_merge = true }, 64, st, &cl);
    for (int i = 0; i < 64; i++) {
        assert_true (st[i].merged);
        assert_int_equal (st[i].merge_peers, 63);
    }
    bool back = false;
    for (int k = 0; k < 100 && !back; k++) {
        struct timespec t = { 0, 100 * 1000000 };
        nanosleep (&t, NULL);
        back = true;
        for (int i = 0; i < 64; i++) {
            mdl_agent_stats (cl.agents[i], &st[i]);
            back &= st[i].connections == 2 && st[i].links == 2 && st[i].mailboxes == 2;
        }
    }
    assert_true (back);
    s_cluster_destroy (&cl);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_ring_exp_and_one_peer_exp_neighbourhoods_follow_the_degree),
        cmocka_unit_test (test_talk_is_symmetric_and_covers_every_round_of_the_window),
        cmocka_unit_test (test_random_graph_neighbourhood_is_a_window_of_draws),
        cmocka_unit_test (test_64_agents_on_a_ring_hold_two_connections_and_two_mailboxes_each),
        cmocka_unit_test (test_64_agents_on_exp_hold_their_eleven_neighbours_and_six_mailboxes),
        cmocka_unit_test (test_64_agents_on_one_peer_exp_make_their_buffers_before_the_rounds),
        cmocka_unit_test (test_a_final_merge_opens_everyone_and_gives_it_back),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
