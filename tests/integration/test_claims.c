/*  test_claims.c: one real agent (comm actor, worker, inproc sockets, registry
    discovery) and one hand-driven peer (tests/rawpeer.c) that sends well-framed lies.
    The agent's learning rate is 0, so its model moves only by mixing: the peer sees the
    model in the states the agent publishes to it, and every claim check is shown both
    ways: what is refused never changes the model, what is honest does.

      - a state stamped 10^6 rounds ahead is refused (async: before the check it was
        mixed at full weight for the rest of the run);
      - async: a faster neighbour's states, each a little further ahead, are mixed however
        far ahead it runs (before: refused past --max-staleness of the agent's round),
        and a lone one that started far ahead is mixed from its second state on;
      - in sync mode the same lie no longer parks the peer's later states behind it
        (before: every round waited out --sync-timeout and the peer was never mixed);
      - a RESEND for a round the agent is past gets its last state again (its round says
        the asked one will not come);
      - a replayed message and a step that goes back on the link are refused;
      - every malformed message is refused under its own reason: NaN payload, short and
        empty payloads, sender 0, an unknown sender, an unknown kind or channel, a
        malformed hello, our own id as sender;
      - a round waiting for the peer, or for a second identity that only said hello on
        its connection, ends when that connection is suspended. */
#include "testutil.h"

#include <math.h>
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
#define S_PEER 200
#define S_DIM 4

typedef struct {
    mdl_dataset_t *ds;
    mdl_registry_t *reg;
    mdl_agent_t *agent;
    mdl_rawpeer_t *peer;
    size_t d;
    uint64_t seq;          /* the peer's sequence numbers */
    float *x, *v;          /* what the agent published last; a scratch vector */
    mdl_wire_header_t h;   /* ... and its header */
} s_rig_t;

static int s_runs;
static double s_sync_timeout = 0.3; /* --sync-timeout of the next rig */
static bool s_tcp;                  /* the next rig on loopback TCP (a connection of its own
                                       per peer, which the agent can suspend), not inproc */

static s_rig_t *
s_rig_new (mdl_mode_t mode)
{
    s_rig_t *r = calloc (1, sizeof *r);
    int err = 0;
    r->ds = mdl_dataset_new (64, S_DIM, 2, &err);
    float *x = mdl_dataset_x_mut (r->ds);
    int32_t *y = mdl_dataset_labels_mut (r->ds);
    for (int i = 0; i < 64 * S_DIM; i++)
        x[i] = (float) ((i * 37) % 11) / 11.0f;
    for (int i = 0; i < 64; i++)
        y[i] = i % 2;
    r->reg = mdl_registry_new (&err);
    char bind[96], pbind[96];
    s_runs++;
    snprintf (bind, sizeof bind, "inproc://claims-agent-%d-%d", (int) getpid (), s_runs);
    snprintf (pbind, sizeof pbind, "inproc://claims-peer-%d-%d", (int) getpid (), s_runs);
    if (s_tcp) { /* loopback only, the ports the kernel picks */
        snprintf (bind, sizeof bind, "tcp://127.0.0.1:0");
        snprintf (pbind, sizeof pbind, "tcp://127.0.0.1:0");
    }
    mdl_agent_cfg_t c;
    memset (&c, 0, sizeof c);
    c.id = S_AGENT;
    c.cluster = "claims";
    c.bind = bind;
    c.disc = (mdl_disc_cfg_t) { .kind = MDL_DISC_INPROC, .cluster = "claims", .registry = r->reg, .interval_ms = 50 };
    c.peer_timeout = 5;
    c.hello_interval = 0.05;
    c.min_peers = 1;
    c.min_peers_timeout = 20;
    c.learn.spec = "mlp:4-2";
    c.learn.seed = 3;
    c.learn.batch = 8;
    mdl_opt_defaults (&c.learn.opt, MDL_OPT_SGD);
    mdl_sched_parse ("constant", &c.learn.sched);
    c.learn.sched.lr0 = 0.0f; /* the model moves by mixing only */
    c.learn.epochs = 100000;
    c.train = r->ds;
    c.epochs = 100000;
    c.algo = "dpsgd";
    c.topology = "complete";
    c.weights = MDL_WEIGHTS_MH;
    c.mode = mode;
    c.codec = "fp32";
    c.gamma = 1.0;
    c.gossip_steps = 1;
    c.staleness_decay = 1.0;
    c.max_staleness = 500;
    c.sync_timeout = s_sync_timeout;
    c.pace_s = mode == MDL_MODE_ASYNC ? 0.02 : 0; /* async: 50 rounds a second */
    c.slow_factor = 1.0;
    c.seed = 7;
    c.merge_timeout = 5;
    r->agent = mdl_agent_new (&c, &err);
    if (!r->agent)
        fail_msg ("agent: %s", mdl_strerror (err));
    r->d = mdl_agent_dim (r->agent);
    r->x = calloc (r->d, sizeof (float));
    r->v = calloc (r->d, sizeof (float));
    assert_non_null (r->peer = mdl_rawpeer_new (pbind, "claims", r->d));
    assert_int_equal (mdl_rawpeer_listen (r->peer, mdl_agent_endpoint (r->agent), S_PEER), 0);
    mdl_peer_info_t info;
    memset (&info, 0, sizeof info);
    info.id = S_PEER;
    info.incarnation = 1;
    snprintf (info.endpoint, sizeof info.endpoint, "%s", mdl_rawpeer_endpoint (r->peer));
    assert_int_equal (mdl_registry_announce (r->reg, &info, mdl_cluster_hash ("claims")), 0);
    assert_int_equal (mdl_agent_wait_peers (r->agent, 1, 20), 0);
    assert_int_equal (mdl_agent_start (r->agent), 0);
    return r;
}

static void
s_rig_destroy (s_rig_t *r)
{
    mdl_agent_destroy (&r->agent);
    mdl_rawpeer_destroy (&r->peer);
    mdl_registry_destroy (&r->reg);
    mdl_dataset_destroy (&r->ds);
    free (r->x);
    free (r->v);
    free (r);
}

/* The next state the agent publishes (into r->x, r->h). */
static void
s_next (s_rig_t *r)
{
    assert_int_equal (mdl_rawpeer_recv_state (r->peer, r->x, &r->h, 20), 0);
}

/* The peer's state for round step with content v, on its own sequence. */
static void
s_send (s_rig_t *r, uint64_t step, const float *v)
{
    mdl_wire_header_t h;
    mdl_rawpeer_header (r->peer, S_PEER, ++r->seq, step, &h);
    assert_int_equal (mdl_rawpeer_send_state (r->peer, S_AGENT, &h, v), 0);
}

static uint64_t
s_rejected (s_rig_t *r, mdl_reject_t why)
{
    mdl_agent_stats_t st;
    mdl_agent_stats (r->agent, &st);
    return st.rejected[why];
}

/* Waits (at most 10 s) until the agent counted n refusals for why. */
static void
s_wait_rejected (s_rig_t *r, mdl_reject_t why, uint64_t n)
{
    const double until = mdl_now () + 10;
    while (s_rejected (r, why) < n && mdl_now () < until)
        usleep (2000);
    assert_int_equal (s_rejected (r, why), n);
}

static bool
s_same (const float *a, const float *b, size_t d)
{
    return memcmp (a, b, d * sizeof (float)) == 0;
}

/* The agent's next n states are all x0: nothing it received was mixed. */
static void
s_assert_unchanged (s_rig_t *r, const float *x0, int n)
{
    for (int k = 0; k < n; k++) {
        s_next (r);
        assert_true (s_same (r->x, x0, r->d));
    }
}

/* Within its next 50 states the agent's model leaves x0: what it received was mixed. */
static void
s_assert_moves (s_rig_t *r, const float *x0)
{
    bool moved = false;
    for (int k = 0; k < 50 && !moved; k++) {
        s_next (r);
        moved = !s_same (r->x, x0, r->d);
    }
    assert_true (moved);
}

static void
test_a_state_stamped_far_ahead_is_refused_and_never_mixed_in_async_mode (void **state)
{
    s_rig_t *r = s_rig_new (MDL_MODE_ASYNC);
    s_next (r);
    float *x0 = malloc (r->d * sizeof (float));
    memcpy (x0, r->x, r->d * sizeof (float));
    /* zeros stamped 10^6 rounds ahead: mixed, they would halve x at once and for good */
    s_send (r, r->h.step + 1000000, r->v);
    s_wait_rejected (r, MDL_REJECT_AHEAD, 1);
    s_assert_unchanged (r, x0, 20);
    /* the same state stamped with the agent's round is mixed: the rig can see a change */
    s_send (r, r->h.step, r->v);
    s_assert_moves (r, x0);
    assert_int_equal (s_rejected (r, MDL_REJECT_AHEAD), 1);
    free (x0);
    s_rig_destroy (r);
}

/* Async mode: a neighbour that is simply faster runs ahead without limit (nobody
   waits). Its states come one after the other, each a little further on: the lead is
   measured from what the link already showed, so they are mixed however far ahead the
   neighbour got; a jump past the lead is still a lie. Before, every state more than
   --max-staleness (here 500) rounds ahead of the agent's own round was refused and the
   straggler mixed nothing from its faster neighbour. */
static void
test_a_neighbour_that_runs_ahead_step_by_step_is_mixed_in_async_mode (void **state)
{
    s_rig_t *r = s_rig_new (MDL_MODE_ASYNC);
    s_next (r);
    float *x0 = malloc (r->d * sizeof (float));
    memcpy (x0, r->x, r->d * sizeof (float));
    const uint64_t base = r->h.step;
    for (uint64_t k = 1; k <= 13; k++) /* the agent's own state, 50 rounds further each time */
        s_send (r, base + 50 * k, x0);
    /* zeros 10^6 rounds past the last: a lie, refused, never mixed */
    s_send (r, base + 1000000, r->v);
    s_wait_rejected (r, MDL_REJECT_AHEAD, 1);
    s_assert_unchanged (r, x0, 20);
    /* zeros 700 rounds past the agent's round at the start, 50 past the link's last: mixed */
    s_send (r, base + 700, r->v);
    s_assert_moves (r, x0);
    assert_int_equal (s_rejected (r, MDL_REJECT_AHEAD), 1);
    free (x0);
    s_rig_destroy (r);
}

/* Async mode, two agents: the other one started (or stalled) far ahead. Its first
   state is a jump and refused; the next ones, a stream from there, are mixed. Before, a
   pair that started more than --max-staleness apart never mixed at all. */
static void
test_a_lone_neighbour_far_ahead_from_the_start_is_mixed_from_its_second_state_in_async_mode (void **state)
{
    s_rig_t *r = s_rig_new (MDL_MODE_ASYNC);
    s_next (r);
    float *x0 = malloc (r->d * sizeof (float));
    memcpy (x0, r->x, r->d * sizeof (float));
    const uint64_t base = r->h.step + 5000;
    s_send (r, base, r->v); /* zeros: the jump, refused */
    s_wait_rejected (r, MDL_REJECT_AHEAD, 1);
    s_assert_unchanged (r, x0, 10);
    s_send (r, base + 1, x0);
    s_send (r, base + 2, r->v); /* zeros, in the stream: mixed */
    s_assert_moves (r, x0);
    assert_int_equal (s_rejected (r, MDL_REJECT_AHEAD), 1);
    free (x0);
    s_rig_destroy (r);
}

static void
test_a_state_stamped_far_ahead_does_not_hold_back_the_later_ones_in_sync_mode (void **state)
{
    s_rig_t *r = s_rig_new (MDL_MODE_SYNC);
    /* a few rounds in lockstep, the peer echoing the agent's x (x stays x) */
    for (int k = 0; k < 3; k++) {
        s_next (r);
        s_send (r, r->h.step, r->x);
    }
    s_next (r);
    s_send (r, r->h.step + 1000000, r->v); /* the lie, then the honest round */
    s_send (r, r->h.step, r->x);
    s_wait_rejected (r, MDL_REJECT_AHEAD, 1);
    /* next round the peer sends zeros: x must halve (with the lie parked in front of it,
       this state waited behind it and the round timed out without the peer) */
    s_next (r);
    float *x0 = malloc (r->d * sizeof (float));
    memcpy (x0, r->x, r->d * sizeof (float));
    s_send (r, r->h.step, r->v);
    s_next (r);
    for (size_t k = 0; k < r->d; k++)
        assert_true (r->x[k] == 0.5f * x0[k]);
    mdl_agent_stats_t st;
    mdl_agent_stats (r->agent, &st);
    assert_true (st.wait_s < 5 * 0.3); /* no round waited out --sync-timeout */
    free (x0);
    s_rig_destroy (r);
}

static void
test_one_state_stamped_a_few_rounds_ahead_does_not_make_the_agent_skip_rounds (void **state)
{
    s_rig_t *r = s_rig_new (MDL_MODE_SYNC);
    for (int k = 0; k < 3; k++) {
        s_next (r);
        s_send (r, r->h.step, r->x);
    }
    s_next (r);
    /* within --max-lead (8 rounds) and beyond the catch-up gap: accepted and parked, a
       claim of the only in-neighbour; then the honest state of the round */
    s_send (r, r->h.step + 5, r->x);
    s_send (r, r->h.step, r->x);
    for (int k = 0; k < 3; k++) {
        s_next (r);
        s_send (r, r->h.step, r->x);
    }
    mdl_agent_stats_t st;
    mdl_agent_stats (r->agent, &st);
    assert_int_equal (st.steps_skipped, 0);
    s_rig_destroy (r);
}

/* A neighbour that asks for a round we are past (it started from a snapshot behind us,
   or our state of that round never reached it) gets our last state again: its round says
   ours will not come. Before, nothing came, and where our first state had been refused as
   too far ahead the neighbour waited a whole --sync-timeout for it (16 processes started
   together: 1 run in 8 took 11 s). The same round asked for again still gets it. */
static void
test_a_resend_of_a_round_we_are_past_gets_our_last_state (void **state)
{
    s_sync_timeout = 5; /* the agent waits for the peer's round 2 meanwhile */
    s_rig_t *r = s_rig_new (MDL_MODE_SYNC);
    s_sync_timeout = 0.3;
    for (int k = 0; k < 2; k++) {
        s_next (r);
        s_send (r, r->h.step, r->x);
    }
    s_next (r);
    const uint64_t last = r->h.step;
    assert_true (last >= 2);
    float *x0 = malloc (r->d * sizeof (float));
    memcpy (x0, r->x, r->d * sizeof (float));
    mdl_wire_header_t h;
    mdl_rawpeer_header (r->peer, S_PEER, ++r->seq, 0, &h); /* round 0: we are past it */
    h.kind = MDL_KIND_MAKE (MDL_KIND_RESEND, 0);
    h.payload_len = 0;
    assert_int_equal (mdl_rawpeer_send (r->peer, S_AGENT, &h, "", 0), 0);
    assert_int_equal (mdl_rawpeer_recv_state (r->peer, r->x, &r->h, 2), 0);
    assert_int_equal (r->h.step, last);
    assert_true (s_same (r->x, x0, r->d));
    /* a round the agent has not reached: nothing (it has no such state) */
    mdl_rawpeer_header (r->peer, S_PEER, ++r->seq, last + 3, &h);
    h.kind = MDL_KIND_MAKE (MDL_KIND_RESEND, 0);
    h.payload_len = 0;
    assert_int_equal (mdl_rawpeer_send (r->peer, S_AGENT, &h, "", 0), 0);
    assert_int_equal (mdl_rawpeer_recv_state (r->peer, r->x, &r->h, 0.5), MDL_ETIMEOUT);
    s_send (r, last, x0); /* the round goes on */
    s_next (r);
    assert_int_equal (r->h.step, last + 1);
    free (x0);
    s_rig_destroy (r);
}

static void
test_a_replayed_message_and_a_step_going_back_are_refused (void **state)
{
    s_rig_t *r = s_rig_new (MDL_MODE_SYNC);
    for (int k = 0; k < 12; k++) { /* rounds enough to go 10 back */
        s_next (r);
        s_send (r, r->h.step, r->x);
    }
    s_next (r);
    const uint64_t round = r->h.step;
    float *x0 = malloc (r->d * sizeof (float));
    memcpy (x0, r->x, r->d * sizeof (float));
    /* zeros for this round, then the very same message again (same seq) */
    mdl_wire_header_t h;
    mdl_rawpeer_header (r->peer, S_PEER, ++r->seq, round, &h);
    assert_int_equal (mdl_rawpeer_send_state (r->peer, S_AGENT, &h, x0), 0);
    s_next (r);
    assert_true (s_same (r->x, x0, r->d));
    mdl_wire_header_t old = h;
    memset (r->v, 0, r->d * sizeof (float));
    old.step = r->h.step; /* a replayed sequence number claiming this round, with zeros */
    assert_int_equal (mdl_rawpeer_send_state (r->peer, S_AGENT, &old, r->v), 0);
    s_wait_rejected (r, MDL_REJECT_REPLAY, 1);
    /* a step 10 rounds back, with zeros, on a fresh sequence number */
    s_send (r, r->h.step - 10, r->v);
    s_wait_rejected (r, MDL_REJECT_BACKWARDS, 1);
    s_send (r, r->h.step, r->x); /* the honest state of the round */
    s_next (r);
    assert_true (s_same (r->x, x0, r->d)); /* neither lie was mixed */
    free (x0);
    s_rig_destroy (r);
}

/* A sync rig on loopback TCP that waits (--sync-timeout 30 s) until a peer is dead. */
static s_rig_t *
s_patient_tcp_rig_new (void)
{
    s_sync_timeout = 30;
    s_tcp = true;
    s_rig_t *r = s_rig_new (MDL_MODE_SYNC);
    s_sync_timeout = 0.3;
    s_tcp = false;
    return r;
}

/* The peer's state of the agent's round, sent again (fresh sequence numbers) until the
   agent publishes its next round, into r->x, r->h: over TCP the first ones can be lost
   while the agent's subscription to the peer is on its way (PUB/SUB drops what comes
   before it), and the rig does not answer the agent's requests to resend. */
static void
s_send_until_next (s_rig_t *r)
{
    const uint64_t step = r->h.step;
    for (int k = 0; k < 200; k++) {
        s_send (r, step, r->x);
        if (mdl_rawpeer_recv_state (r->peer, r->x, &r->h, 0.1) == 0 && r->h.step > step)
            return;
    }
    fail_msg ("the agent never took the peer's state of round %llu", (unsigned long long) step);
}

/* 40 malformed messages on the peer's connection (blamed: 32 within a second suspend
   it), then the next state the agent publishes: it must come at once, not once the
   round waiting for the peer's identities gave up on them (--peer-timeout 5 s). */
static void
s_suspend_and_next (s_rig_t *r)
{
    char topic[MDL_WIRE_TOPIC_MAX + 1];
    unsigned char junk[256];
    memset (junk, 0xa5, sizeof junk);
    const void *frames[3] = { topic, junk, junk };
    const size_t lens[3] = { mdl_wire_topic (S_AGENT, topic), 64, sizeof junk };
    const double t0 = mdl_now ();
    for (int k = 0; k < 40; k++)
        assert_int_equal (mdl_rawpeer_frames (r->peer, frames, lens, 3), 0);
    s_next (r); /* the round after: published once the waiting one ended */
    const double took = mdl_now () - t0;
    mdl_agent_stats_t st;
    mdl_agent_stats (r->agent, &st);
    print_message ("next round %.3f s after the burst; %llu refused as header; waited %.3f s in all\n", took,
                   (unsigned long long) st.rejected[MDL_REJECT_HEADER], st.wait_s);
    assert_true (st.rejected[MDL_REJECT_HEADER] >= 32);
    assert_true (took < 2.5);
    assert_true (st.wait_s < 2.5);
}

/* A connection suspended in the middle of a round ends that round for the peers that
   spoke on it (sync mode). The peer takes part in a round (so the agent knows its
   connection), then, while the agent waits for its next state, sends 40 malformed
   messages: blamed on that connection, they suspend it. The tombstones for a suspended
   peer came at each round's start only, so the round under way waited for the peer
   until it went dead (--peer-timeout 5 s here; --sync-timeout 30 s): in bench/flood.sh
   one round of the flooded agent (and of its partner) waited 2.5-5 s. */
static void
test_a_round_waiting_for_a_peer_ends_when_its_connection_is_suspended (void **state)
{
    s_rig_t *r = s_patient_tcp_rig_new ();
    s_next (r);
    s_send_until_next (r); /* the next round: the agent now waits for the peer's state */
    usleep (200000);
    s_suspend_and_next (r);
    s_rig_destroy (r);
}

/* The same for a second identity that only announced itself on the peer's connection
   (the flood tool's churning identity): a member the round waits for, which never sent
   a message the agent could know its connection by, until hellos count too. */
static void
test_a_round_waiting_for_an_identity_that_only_said_hello_ends_when_its_connection_is_suspended (void **state)
{
    s_rig_t *r = s_patient_tcp_rig_new ();
    s_next (r);
    s_send_until_next (r); /* the connection is up: the hello below is not lost */
    assert_int_equal (mdl_rawpeer_hello (r->peer, S_PEER + 1, 1), 0);
    assert_int_equal (mdl_agent_wait_peers (r->agent, 2, 10), 0);
    /* The round under way may have started before the second identity joined: the next
       one did not, and waits for it once the peer's state is in. */
    s_send (r, r->h.step, r->x);
    if (mdl_rawpeer_recv_state (r->peer, r->x, &r->h, 0.5) == 0)
        s_send (r, r->h.step, r->x);
    usleep (200000); /* the round waits for the second identity only */
    s_suspend_and_next (r);
    s_rig_destroy (r);
}

static void
test_every_malformed_message_is_refused_under_its_own_reason (void **state)
{
    s_rig_t *r = s_rig_new (MDL_MODE_ASYNC);
    s_next (r);
    mdl_wire_header_t h;
    const uint64_t step = r->h.step;
    /* NaN in the payload */
    for (size_t k = 0; k < r->d; k++)
        r->v[k] = k == 1 ? NAN : 1.0f;
    mdl_rawpeer_header (r->peer, S_PEER, ++r->seq, step, &h);
    assert_int_equal (mdl_rawpeer_send_state (r->peer, S_AGENT, &h, r->v), 0);
    /* a payload shorter than the codec needs, and an empty one (lengths as the header says) */
    float half[2] = { 1, 2 };
    mdl_rawpeer_header (r->peer, S_PEER, ++r->seq, step, &h);
    h.payload_len = sizeof half;
    assert_int_equal (mdl_rawpeer_send (r->peer, S_AGENT, &h, half, sizeof half), 0);
    mdl_rawpeer_header (r->peer, S_PEER, ++r->seq, step, &h);
    h.payload_len = 0;
    assert_int_equal (mdl_rawpeer_send (r->peer, S_AGENT, &h, NULL, 0), 0);
    memset (r->v, 0, r->d * sizeof (float));
    /* sender 0, a sender nobody knows, our own id */
    mdl_rawpeer_header (r->peer, 0, 1, step, &h);
    assert_int_equal (mdl_rawpeer_send_state (r->peer, S_AGENT, &h, r->v), 0);
    mdl_rawpeer_header (r->peer, 4242, 1, step, &h);
    assert_int_equal (mdl_rawpeer_send_state (r->peer, S_AGENT, &h, r->v), 0);
    mdl_rawpeer_header (r->peer, S_AGENT, 1, step, &h);
    assert_int_equal (mdl_rawpeer_send_state (r->peer, S_AGENT, &h, r->v), 0);
    /* an unknown type, and a channel beyond the agent's */
    mdl_rawpeer_header (r->peer, S_PEER, ++r->seq, step, &h);
    h.kind = MDL_KIND_MAKE (12, 0);
    assert_int_equal (mdl_rawpeer_send_state (r->peer, S_AGENT, &h, r->v), 0);
    mdl_rawpeer_header (r->peer, S_PEER, ++r->seq, step, &h);
    h.kind = MDL_KIND_MAKE (MDL_KIND_STATE, 9);
    assert_int_equal (mdl_rawpeer_send_state (r->peer, S_AGENT, &h, r->v), 0);
    /* a hello of the wrong size */
    const void *frames[2] = { "H", "MDLB-short" };
    const size_t lens[2] = { 1, 10 };
    assert_int_equal (mdl_rawpeer_frames (r->peer, frames, lens, 2), 0);
    s_wait_rejected (r, MDL_REJECT_HELLO, 1);
    const mdl_reject_t want[] = { MDL_REJECT_NONFINITE, MDL_REJECT_LENGTH, MDL_REJECT_SENDER_ZERO, MDL_REJECT_UNKNOWN,
                                  MDL_REJECT_SELF, MDL_REJECT_KIND };
    const uint64_t count[] = { 1, 2, 1, 1, 1, 2 };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        s_wait_rejected (r, want[i], count[i]);
    }
    mdl_agent_stats_t st;
    mdl_agent_stats (r->agent, &st);
    uint64_t sum = 0;
    for (int k = 0; k < MDL_REJECT_COUNT; k++)
        sum += st.rejected[k];
    assert_int_equal (st.updates_rejected, sum);
    assert_int_equal (sum, 9);
    assert_true (st.updates_dropped >= st.updates_rejected);
    /* none of it was mixed */
    float *x0 = malloc (r->d * sizeof (float));
    memcpy (x0, r->x, r->d * sizeof (float));
    for (int k = 0; k < 5; k++) {
        s_next (r);
        assert_true (s_same (r->x, x0, r->d));
    }
    free (x0);
    s_rig_destroy (r);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_a_state_stamped_far_ahead_is_refused_and_never_mixed_in_async_mode),
        cmocka_unit_test (test_a_neighbour_that_runs_ahead_step_by_step_is_mixed_in_async_mode),
        cmocka_unit_test (test_a_lone_neighbour_far_ahead_from_the_start_is_mixed_from_its_second_state_in_async_mode),
        cmocka_unit_test (test_a_state_stamped_far_ahead_does_not_hold_back_the_later_ones_in_sync_mode),
        cmocka_unit_test (test_one_state_stamped_a_few_rounds_ahead_does_not_make_the_agent_skip_rounds),
        cmocka_unit_test (test_a_resend_of_a_round_we_are_past_gets_our_last_state),
        cmocka_unit_test (test_a_replayed_message_and_a_step_going_back_are_refused),
        cmocka_unit_test (test_every_malformed_message_is_refused_under_its_own_reason),
        cmocka_unit_test (test_a_round_waiting_for_a_peer_ends_when_its_connection_is_suspended),
        cmocka_unit_test (test_a_round_waiting_for_an_identity_that_only_said_hello_ends_when_its_connection_is_suspended),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
