/*  test_catchup.c: sync catch-up is a vote of the in-neighbours. One real agent (comm
    actor, worker, inproc sockets, registry discovery, complete graph) and three
    hand-driven peers (tests/rawpeer.c) that echo the agent's model every round, so the
    model stays what it is unless a lie gets in. The learning rate is 0: the model moves by
    mixing only.

      - one peer of three stamping a state 50 rounds ahead (refused as too far ahead)
        neither moves the agent's round nor its model: the next round it publishes is
        the one after, steps_skipped stays 0 (before the vote, one claim was enough and the
        agent jumped 50 steps, skipping their training);
      - two peers of three (a majority) claiming 40 and 60 rounds ahead make the agent
        catch up, to the round the majority reaches (40 ahead: two in-neighbours are at
        least there), as a frozen or cut-off agent must;
      - a lone in-neighbour (two agents) is believed once it claims the future twice in a
        row: one lie followed by its honest state moves nothing (tests/integration/
        test_claims.c), two states 30 rounds ahead make the agent catch up;
      - a state asked again (RESEND: a neighbour's subscription came after it) comes again
        on the link's next sequence number, the same round and model: a repeated number is
        a replay that the neighbour refuses;
      - a state two rounds ahead, parked until the agent gets there, is not refused as a
        replay of a control message (RESEND) that the peer sent after it: sequence numbers
        are checked on arrival (checked on unparking, the state was refused and the round
        waited out --sync-timeout without it);
      - that parked state is kept as it came, not copied: the peer's buffer (sent
        zero-copy) is let go of only once the agent mixed it, in its round (before, a
        copy was made on arrival and decoded into a mailbox vector when unparked: two
        allocations and passes over a model per parked state);
      - an in-neighbour a few rounds ahead (parked, too few to be refused, and alone: no
        majority to catch up with) does not hold the agent's rounds: its state of a round
        it has passed will never come, so the agent goes on with the other neighbour and
        mixes the parked state when it gets to its round (before, each round waited out
        --sync-timeout, and the ahead neighbour waited for the agent's rounds likewise:
        one round per timeout, the faults acceptance's stalled ring);
      - a neighbour that sends its state of the round the agent waits in and then says
        goodbye (it finished first) is still mixed in that round: its mailbox outlives
        the leave until the worker's round passes (before, the new view released it with
        the state inside, and the round ended without it);
      - an in-neighbour far ahead (a healed partition: its one state refused as beyond
        --max-lead, then silence while it waits for us) holds none of the agent's later
        rounds: a link's rounds only go up, so its claim says our rounds will not come from
        it (before, only the round of the refusal ended without it; every later one waited
        out --sync-timeout, as the far side waited for ours);
      - RESENDs from a majority of in-neighbours far ahead (all a neighbour that waits
        for a newcomer sends) make the agent catch up, as their states would;
      - an in-neighbour announced but never heard over the mesh (nothing at its port, or
        a failed CURVE handshake) is dropped as not live after --peer-timeout, and the
        rounds go on without waiting --sync-timeout for it;
      - an in-neighbour whose states always come 0.6 s after the agent's (a slow peer, a
        delayed link, a large cluster on few cores) is asked to send again once or twice,
        not every round: the resend slice follows the waits that ended with the state in
        (with a fixed 0.5 s slice, each of the 5 slow rounds sent a RESEND for a state the
        peer had not computed yet). */
#include "testutil.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "clock.h"
#include "err.h"
#include "rawpeer.h"
#include "registry.h"

#define S_AGENT 100
#define S_MAXPEERS 3
#define S_DIM 4

/* --sync-timeout of the next rig: longer than s_next_round's 20 s where a round must end
   on states alone. */
static double s_sync_timeout = 10;
/* --peer-timeout of the next rig */
static double s_peer_timeout = 60;

typedef struct {
    mdl_dataset_t *ds;
    mdl_registry_t *reg;
    mdl_agent_t *agent;
    int npeers;
    mdl_rawpeer_t *peer[S_MAXPEERS];
    uint64_t seq[S_MAXPEERS];
    size_t d;
    float *x;              /* what the agent published last (to peer 0) */
    uint64_t round;        /* ... its round */
    float *scratch;
} s_vote_rig_t;

static uint64_t
s_peer_id (int k)
{
    return 200 + (uint64_t) k;
}

static s_vote_rig_t *
s_vote_rig_new (int npeers)
{
    static int runs;
    s_vote_rig_t *r = calloc (1, sizeof *r);
    r->npeers = npeers;
    int err = 0;
    r->ds = mdl_dataset_new (64, S_DIM, 2, &err);
    float *x = mdl_dataset_x_mut (r->ds);
    int32_t *y = mdl_dataset_labels_mut (r->ds);
    for (int i = 0; i < 64 * S_DIM; i++)
        x[i] = (float) ((i * 29) % 13) / 13.0f;
    for (int i = 0; i < 64; i++)
        y[i] = (i / 3) % 2;
    r->reg = mdl_registry_new (&err);
    runs++;
    char bind[96];
    snprintf (bind, sizeof bind, "inproc://catchup-agent-%d-%d", (int) getpid (), runs);
    mdl_agent_cfg_t c;
    memset (&c, 0, sizeof c);
    c.id = S_AGENT;
    c.cluster = "catchup";
    c.bind = bind;
    c.disc = (mdl_disc_cfg_t) { .kind = MDL_DISC_INPROC, .cluster = "catchup", .registry = r->reg, .interval_ms = 50 };
    c.peer_timeout = s_peer_timeout; /* 60: no peer leaves here, a loaded machine must not make one look gone */
    c.hello_interval = 0.05;
    c.min_peers = npeers;
    c.min_peers_timeout = 20;
    c.learn.spec = "mlp:4-2";
    c.learn.seed = 5;
    c.learn.batch = 8;
    mdl_opt_defaults (&c.learn.opt, MDL_OPT_SGD);
    mdl_sched_parse ("constant", &c.learn.sched);
    c.learn.sched.lr0 = 0.0f;
    c.learn.epochs = 100000;
    c.train = r->ds;
    c.epochs = 100000;
    c.algo = "dpsgd";
    c.topology = "complete";
    c.weights = MDL_WEIGHTS_MH;
    c.mode = MDL_MODE_SYNC;
    c.codec = "fp32";
    c.gamma = 1.0;
    c.gossip_steps = 1;
    c.staleness_decay = 1.0;
    c.max_staleness = 500;
    c.sync_timeout = s_sync_timeout; /* longer than any wait here: rounds end on states, not on time */
    c.slow_factor = 1.0;
    c.seed = 9;
    c.merge_timeout = 5;
    if (!(r->agent = mdl_agent_new (&c, &err)))
        fail_msg ("agent: %s", mdl_strerror (err));
    r->d = mdl_agent_dim (r->agent);
    r->x = calloc (r->d, sizeof (float));
    r->scratch = calloc (r->d, sizeof (float));
    for (int k = 0; k < r->npeers; k++) {
        char pbind[96];
        snprintf (pbind, sizeof pbind, "inproc://catchup-peer%d-%d-%d", k, (int) getpid (), runs);
        assert_non_null (r->peer[k] = mdl_rawpeer_new (pbind, "catchup", r->d));
        assert_int_equal (mdl_rawpeer_listen (r->peer[k], mdl_agent_endpoint (r->agent), s_peer_id (k)), 0);
        mdl_peer_info_t info;
        memset (&info, 0, sizeof info);
        info.id = s_peer_id (k);
        info.incarnation = 1;
        snprintf (info.endpoint, sizeof info.endpoint, "%s", mdl_rawpeer_endpoint (r->peer[k]));
        assert_int_equal (mdl_registry_announce (r->reg, &info, mdl_cluster_hash ("catchup")), 0);
    }
    assert_int_equal (mdl_agent_wait_peers (r->agent, npeers, 20), 0);
    assert_int_equal (mdl_agent_start (r->agent), 0);
    return r;
}

static void
s_vote_rig_destroy (s_vote_rig_t *r)
{
    mdl_agent_destroy (&r->agent);
    for (int k = 0; k < r->npeers; k++)
        mdl_rawpeer_destroy (&r->peer[k]);
    mdl_registry_destroy (&r->reg);
    mdl_dataset_destroy (&r->ds);
    free (r->x);
    free (r->scratch);
    free (r);
}

/* A rig whose rounds can end only on states: its --sync-timeout (60 s) is longer than
   s_next_round's 20 s, so a round that waited it out fails the test. */
static s_vote_rig_t *
s_patient_rig_new (int npeers)
{
    s_sync_timeout = 60;
    s_vote_rig_t *r = s_vote_rig_new (npeers);
    s_sync_timeout = 10;
    return r;
}

/* The agent's next state, as each peer receives it: the same round and model for all. */
static void
s_next_round (s_vote_rig_t *r)
{
    for (int k = 0; k < r->npeers; k++) {
        mdl_wire_header_t h;
        float *out = k == 0 ? r->x : r->scratch;
        assert_int_equal (mdl_rawpeer_recv_state (r->peer[k], out, &h, 20), 0);
        if (k == 0)
            r->round = h.step;
        else
            assert_int_equal (h.step, r->round);
    }
}

/* Peer k's state v stamped with round step. */
static void
s_send_v (s_vote_rig_t *r, int k, uint64_t step, const float *v)
{
    mdl_wire_header_t h;
    mdl_rawpeer_header (r->peer[k], s_peer_id (k), ++r->seq[k], step, &h);
    assert_int_equal (mdl_rawpeer_send_state (r->peer[k], S_AGENT, &h, v), 0);
}

/* ... the agent's own model (an echo). */
static void
s_send (s_vote_rig_t *r, int k, uint64_t step)
{
    s_send_v (r, k, step, r->x);
}

/* Peer k asks the agent for its state of round step again (a control message, no payload). */
static void
s_ask_resend (s_vote_rig_t *r, int k, uint64_t step)
{
    mdl_wire_header_t h;
    mdl_rawpeer_header (r->peer[k], s_peer_id (k), ++r->seq[k], step, &h);
    h.kind = MDL_KIND_MAKE (MDL_KIND_RESEND, 0);
    h.payload_len = 0;
    assert_int_equal (mdl_rawpeer_send (r->peer[k], S_AGENT, &h, NULL, 0), 0);
}

static void
s_echo_all (s_vote_rig_t *r)
{
    for (int k = 0; k < r->npeers; k++)
        s_send (r, k, r->round);
}

/* A few rounds in lockstep, then the agent's next state: returns its round. */
static uint64_t
s_lockstep (s_vote_rig_t *r)
{
    for (int k = 0; k < 3; k++) {
        s_next_round (r);
        s_echo_all (r);
    }
    s_next_round (r);
    return r->round;
}

static mdl_agent_stats_t
s_stats (s_vote_rig_t *r)
{
    mdl_agent_stats_t st;
    mdl_agent_stats (r->agent, &st);
    return st;
}

/* Waits (at most 10 s) until the agent refused n states as too far ahead. */
static void
s_wait_refused_ahead (s_vote_rig_t *r, uint64_t n)
{
    const double until = mdl_now () + 10;
    while (s_stats (r).rejected[MDL_REJECT_AHEAD] < n && mdl_now () < until)
        usleep (2000);
    assert_int_equal (s_stats (r).rejected[MDL_REJECT_AHEAD], n);
}

static bool
s_close (const float *a, const float *b, size_t d)
{
    for (size_t k = 0; k < d; k++)
        if (fabsf (a[k] - b[k]) > 1e-5f * (1.0f + fabsf (b[k])))
            return false;
    return true;
}

static void
test_one_in_neighbour_of_three_claiming_the_future_makes_the_agent_skip_nothing (void **state)
{
    s_vote_rig_t *r = s_vote_rig_new (3);
    s_lockstep (r);
    float *x0 = malloc (r->d * sizeof (float));
    memcpy (x0, r->x, r->d * sizeof (float));
    const uint64_t at = r->round;
    s_send (r, 0, at + 50); /* the lie, refused as too far ahead: a vote all the same */
    s_wait_refused_ahead (r, 1);
    s_echo_all (r); /* then every peer's honest state of the round */
    for (int k = 1; k <= 5; k++) {
        s_next_round (r);
        assert_int_equal (r->round, at + (uint64_t) k); /* round after round, none skipped */
        assert_true (s_close (r->x, x0, r->d));
        s_echo_all (r);
    }
    const mdl_agent_stats_t st = s_stats (r);
    assert_int_equal (st.steps_skipped, 0);
    assert_int_equal (st.rejected[MDL_REJECT_AHEAD], 1);
    free (x0);
    s_vote_rig_destroy (r);
}

static void
test_a_majority_of_in_neighbours_ahead_makes_the_agent_catch_up_to_their_round (void **state)
{
    s_vote_rig_t *r = s_vote_rig_new (3);
    const uint64_t at = s_lockstep (r);
    s_send (r, 0, at + 60);
    s_send (r, 1, at + 40); /* two of three: a majority, the lower of them is where both are */
    /* (the second claim may be refused, or accepted if the worker caught up first) */
    s_send (r, 2, at);
    s_next_round (r);
    assert_true (r->round >= at + 40);
    assert_true (r->round < at + 60);
    const mdl_agent_stats_t st = s_stats (r);
    assert_true (st.steps_skipped >= 39);
    assert_true (st.steps_skipped < 59);
    s_vote_rig_destroy (r);
}

static void
test_a_lone_in_neighbour_ahead_twice_in_a_row_makes_the_agent_catch_up (void **state)
{
    s_vote_rig_t *r = s_vote_rig_new (1);
    const uint64_t at = s_lockstep (r);
    s_send (r, 0, at + 30);
    s_send (r, 0, at + 31);
    /* the first refusal ends round `at` without the peer (a tombstone): the agent may
       publish a round or two more before the second claim makes it jump */
    for (int k = 0; k < 3 && r->round < at + 30; k++)
        s_next_round (r);
    assert_true (r->round >= at + 30);
    assert_true (s_stats (r).steps_skipped >= 29);
    s_vote_rig_destroy (r);
}

static void
test_a_state_asked_again_comes_on_the_next_sequence_number (void **state)
{
    s_vote_rig_t *r = s_vote_rig_new (3);
    s_next_round (r);
    s_echo_all (r);
    mdl_wire_header_t first, again;
    assert_int_equal (mdl_rawpeer_recv_state (r->peer[0], r->x, &first, 20), 0);
    for (int k = 1; k < r->npeers; k++)
        assert_int_equal (mdl_rawpeer_recv_state (r->peer[k], r->scratch, &again, 20), 0);
    s_ask_resend (r, 0, first.step);
    assert_int_equal (mdl_rawpeer_recv_state (r->peer[0], r->scratch, &again, 20), 0);
    assert_int_equal (again.step, first.step);
    assert_true (again.seq > first.seq);
    assert_memory_equal (r->scratch, r->x, r->d * sizeof (float));
    s_vote_rig_destroy (r);
}

static void
test_a_state_parked_for_a_later_round_survives_a_control_message_that_overtakes_it (void **state)
{
    s_vote_rig_t *r = s_vote_rig_new (2);
    const uint64_t at = s_lockstep (r);
    float *x0 = malloc (r->d * sizeof (float)), *zeros = calloc (r->d, sizeof (float));
    memcpy (x0, r->x, r->d * sizeof (float));
    /* peer 0 runs ahead, in order: rounds at and at + 1 are filed, at + 2 is parked while
       the agent waits at round at for peer 1; then a control message (RESEND) with a
       later sequence number is handled at once */
    s_send (r, 0, at);
    s_send (r, 0, at + 1);
    s_send_v (r, 0, at + 2, zeros);
    s_ask_resend (r, 0, at + 2);
    usleep (100000); /* (so that peer 0's messages come before peer 1's: not needed to pass) */
    for (uint64_t t = at; t < at + 3; t++) {
        s_send (r, 1, t);
        s_next_round (r);
        assert_int_equal (r->round, t + 1);
    }
    /* round at + 2 mixed the parked zeros: x is 2/3 of itself (3 agents, weights 1/3) */
    for (size_t k = 0; k < r->d; k++)
        zeros[k] = (2.0f / 3.0f) * x0[k]; /* (the buffer reused for what x must be) */
    assert_true (s_close (r->x, zeros, r->d));
    assert_int_equal (s_stats (r).rejected[MDL_REJECT_REPLAY], 0);
    free (x0);
    free (zeros);
    s_vote_rig_destroy (r);
}

static atomic_int s_released;

static void
s_count_release (void *data, void *hint)
{
    atomic_fetch_add (&s_released, 1);
}

static void
test_a_parked_state_is_held_as_it_came_until_its_round_mixed_it (void **state)
{
    s_vote_rig_t *r = s_vote_rig_new (2);
    const uint64_t at = s_lockstep (r);
    float *zeros = calloc (r->d, sizeof (float));
    atomic_store (&s_released, 0);
    /* peer 0 two rounds ahead: its state of at + 2 is parked while the agent waits at
       round at for peer 1 */
    s_send (r, 0, at);
    s_send (r, 0, at + 1);
    mdl_wire_header_t h;
    mdl_rawpeer_header (r->peer[0], s_peer_id (0), ++r->seq[0], at + 2, &h);
    assert_int_equal (mdl_rawpeer_send_state_zc (r->peer[0], S_AGENT, &h, zeros, s_count_release, NULL), 0);
    for (uint64_t t = at; t < at + 2; t++) {
        s_send (r, 1, t);
        s_next_round (r);
    }
    /* the agent published round at + 2 and waits for peer 1's state of it: peer 0's is
       in its mailbox, still the buffer it was sent in */
    assert_int_equal (r->round, at + 2);
    assert_int_equal (atomic_load (&s_released), 0);
    s_send (r, 1, at + 2);
    s_next_round (r);
    assert_int_equal (r->round, at + 3);
    const double until = mdl_now () + 10; /* let go of by the worker after its mix */
    while (atomic_load (&s_released) == 0 && mdl_now () < until)
        usleep (1000);
    assert_int_equal (atomic_load (&s_released), 1); /* (what it mixed: the test above) */
    free (zeros);
    s_vote_rig_destroy (r);
}

static void
test_an_in_neighbour_a_few_rounds_ahead_does_not_hold_the_agents_rounds (void **state)
{
    s_vote_rig_t *r = s_patient_rig_new (2);
    const uint64_t at = s_lockstep (r);
    float *x0 = malloc (r->d * sizeof (float)), *zeros = calloc (r->d, sizeof (float));
    memcpy (x0, r->x, r->d * sizeof (float));
    s_send_v (r, 0, at + 3, zeros); /* 3 ahead: within --max-lead (8), parked; one vote of two */
    for (uint64_t t = at; t < at + 4; t++) {
        s_send (r, 1, t); /* peer 1 keeps step with the agent */
        s_next_round (r);
        assert_int_equal (r->round, t + 1);
        if (t < at + 3) /* rounds at .. at + 2 went on without peer 0: x unchanged */
            assert_true (s_close (r->x, x0, r->d));
    }
    for (size_t k = 0; k < r->d; k++)
        zeros[k] = (2.0f / 3.0f) * x0[k]; /* round at + 3 mixed peer 0's parked state */
    assert_true (s_close (r->x, zeros, r->d));
    const mdl_agent_stats_t st = s_stats (r);
    assert_int_equal (st.steps_skipped, 0);
    assert_int_equal (st.rejected[MDL_REJECT_AHEAD], 0);
    free (x0);
    free (zeros);
    s_vote_rig_destroy (r);
}

/* A neighbour across a healed partition: its one state, far beyond --max-lead, is refused
   and nothing more comes (it waits --sync-timeout for our rounds): the agent's rounds go
   on with the other neighbour at once, not one per --sync-timeout. */
static void
test_an_in_neighbour_far_ahead_holds_none_of_the_agents_later_rounds (void **state)
{
    s_vote_rig_t *r = s_patient_rig_new (2);
    const uint64_t at = s_lockstep (r);
    float *x0 = malloc (r->d * sizeof (float));
    memcpy (x0, r->x, r->d * sizeof (float));
    s_send (r, 0, at + 1000); /* refused as too far ahead; one vote of two: no catch-up */
    s_ask_resend (r, 0, at + 1000); /* it waits in that round (a second claim, believed) */
    s_wait_refused_ahead (r, 2);
    for (uint64_t t = at; t < at + 5; t++) {
        s_send (r, 1, t);
        s_next_round (r);
        assert_int_equal (r->round, t + 1);
        assert_true (s_close (r->x, x0, r->d));
    }
    const mdl_agent_stats_t st = s_stats (r);
    assert_int_equal (st.steps_skipped, 0);
    assert_int_equal (st.rejected[MDL_REJECT_AHEAD], 2);
    free (x0);
    s_vote_rig_destroy (r);
}

/* A newcomer far behind two neighbours that wait for it: they send no state (each waits
   --sync-timeout for its round), only RESENDs naming the round they wait in. Those are
   claims: the agent catches up at once, not after a state per --sync-timeout. */
static void
test_resends_from_a_majority_far_ahead_make_the_agent_catch_up (void **state)
{
    s_vote_rig_t *r = s_patient_rig_new (2);
    const uint64_t at = s_lockstep (r);
    s_ask_resend (r, 0, at + 100);
    s_ask_resend (r, 1, at + 100);
    s_next_round (r);
    assert_true (r->round >= at + 100);
    const mdl_agent_stats_t st = s_stats (r);
    assert_true (st.steps_skipped >= 99);
    s_vote_rig_destroy (r);
}

/* An in-neighbour that is announced (the registry: beacons, for a real agent) but from
   which nothing ever arrives over the mesh (nothing listens at its port, or a CURVE
   handshake with it fails): it is dropped as not live once it has been silent for
   --peer-timeout, and the rounds go on with the other neighbour instead of each waiting
   out --sync-timeout for it. Announced again, it may come back (the rejoin back-off
   spaces its returns), and is dropped again. */
static void
test_an_in_neighbour_announced_but_never_heard_is_not_waited_for (void **state)
{
    s_peer_timeout = 3;
    s_vote_rig_t *r = s_patient_rig_new (2); /* peer 1 stays silent from here on */
    s_peer_timeout = 60;
    for (int t = 0; t < 6; t++) {
        /* peer 0 says hello every 0.25 s while it waits, as an agent does: it is heard
           even while the agent waits for peer 1 */
        mdl_wire_header_t h;
        int rc = MDL_ETIMEOUT;
        for (double until = mdl_now () + 20; rc == MDL_ETIMEOUT && mdl_now () < until;) {
            mdl_rawpeer_hello (r->peer[0], s_peer_id (0), 1);
            rc = mdl_rawpeer_recv_state (r->peer[0], r->x, &h, 0.25);
        }
        assert_int_equal (rc, 0);
        s_send (r, 0, h.step);
    }
    const mdl_agent_stats_t st = s_stats (r);
    assert_true (st.steps >= 5);
    assert_true (st.wait_s < 5 * 20); /* no round waited out the 60 s timeout */
    s_vote_rig_destroy (r);
}

static void
test_a_state_sent_before_a_goodbye_is_mixed_in_its_round (void **state)
{
    s_vote_rig_t *r = s_vote_rig_new (2);
    const uint64_t at = s_lockstep (r);
    float *x0 = malloc (r->d * sizeof (float)), *zeros = calloc (r->d, sizeof (float));
    memcpy (x0, r->x, r->d * sizeof (float));
    s_send_v (r, 0, at, zeros); /* peer 0's last state, then its goodbye */
    assert_int_equal (mdl_rawpeer_bye (r->peer[0], s_peer_id (0), 1), 0);
    /* the agent has handled the goodbye (peer 0 left its view) while it still waits in
       round at for peer 1 */
    uint64_t ids[4];
    const double until = mdl_now () + 10;
    while (mdl_agent_members (r->agent, ids, 4) != 2 && mdl_now () < until)
        usleep (2000);
    assert_int_equal (mdl_agent_members (r->agent, ids, 4), 2);
    s_send (r, 1, at);
    mdl_wire_header_t h;
    assert_int_equal (mdl_rawpeer_recv_state (r->peer[1], r->x, &h, 20), 0);
    assert_int_equal (h.step, at + 1);
    for (size_t k = 0; k < r->d; k++)
        zeros[k] = (2.0f / 3.0f) * x0[k]; /* round at mixed x, peer 0's zeros and x, 1/3 each */
    assert_true (s_close (r->x, zeros, r->d));
    free (x0);
    free (zeros);
    s_vote_rig_destroy (r);
}

static void
test_a_neighbour_slower_than_the_resend_slice_is_not_asked_again_every_round (void **state)
{
    s_vote_rig_t *r = s_vote_rig_new (1);
    s_lockstep (r);
    s_echo_all (r);
    for (int k = 0; k < 5; k++) {
        s_next_round (r);
        usleep (600 * 1000); /* the peer's state comes 0.6 s after the agent's */
        s_echo_all (r);
    }
    s_next_round (r); /* the last slow round ended with the state */
    usleep (300 * 1000); /* the comm copies its counters on its timer */
    const uint64_t asked = s_stats (r).sent_msgs[MDL_KIND_RESEND];
    /* the first slow round waits past 0.5 s and asks; after it the slice is 1.2 s */
    assert_true (asked >= 1);
    assert_true (asked <= 2);
    s_vote_rig_destroy (r);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_one_in_neighbour_of_three_claiming_the_future_makes_the_agent_skip_nothing),
        cmocka_unit_test (test_a_majority_of_in_neighbours_ahead_makes_the_agent_catch_up_to_their_round),
        cmocka_unit_test (test_a_lone_in_neighbour_ahead_twice_in_a_row_makes_the_agent_catch_up),
        cmocka_unit_test (test_a_state_asked_again_comes_on_the_next_sequence_number),
        cmocka_unit_test (test_a_state_parked_for_a_later_round_survives_a_control_message_that_overtakes_it),
        cmocka_unit_test (test_a_parked_state_is_held_as_it_came_until_its_round_mixed_it),
        cmocka_unit_test (test_an_in_neighbour_a_few_rounds_ahead_does_not_hold_the_agents_rounds),
        cmocka_unit_test (test_an_in_neighbour_far_ahead_holds_none_of_the_agents_later_rounds),
        cmocka_unit_test (test_resends_from_a_majority_far_ahead_make_the_agent_catch_up),
        cmocka_unit_test (test_an_in_neighbour_announced_but_never_heard_is_not_waited_for),
        cmocka_unit_test (test_a_state_sent_before_a_goodbye_is_mixed_in_its_round),
        cmocka_unit_test (test_a_neighbour_slower_than_the_resend_slice_is_not_asked_again_every_round),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
