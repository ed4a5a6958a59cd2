/*  test_comm.c: the comm actor's receive path (agents/comm_recv.c), driven through a real
    agent's SUB socket by a hand-made peer: a mesh of its own (broker-free/mesh.h) that
    the agent finds in an in-process registry and that sends exactly the updates the test
    writes, sequence numbers included. The agent's worker is not started: what reaches
    its mailbox is what the receive path filed. */
#include "testutil.h"
#include "agentrun.h"

#include <czmq.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent_impl.h"
#include "clock.h"
#include "codec.h"
#include "err.h"
#include "mesh.h"
#include "registry.h"
#include "wire.h"

#define S_AGENT 1
#define S_PEER 2

typedef struct {
    mdl_registry_t *reg;
    mdl_dataset_t *data;
    mdl_agent_t *agent;
    mdl_mesh_t *peer;
    mdl_peer_info_t peer_info;
    uint64_t cluster;
    size_t d;
    mdl_codec_t *fp32, *fp16;
} s_rig_t;

/* The agent (fp16 with error feedback: the peer's updates are a replica stream, keyframes
   and deltas) and the peer, connected both ways, the agent hearing the peer's hellos. */
static void
s_rig_up (s_rig_t *r)
{
    memset (r, 0, sizeof *r);
    int err = 0;
    r->reg = mdl_registry_new (&err);
    assert_non_null (r->reg);
    r->data = agentrun_dataset (4);
    r->cluster = mdl_wire_cluster_id ("test");
    char ep[96];
    snprintf (ep, sizeof ep, "inproc://test-comm-peer-%d", (int) getpid ());
    mdl_mesh_cfg_t mc = { .bind = ep, .self = S_PEER };
    r->peer = mdl_mesh_new (&mc, &err);
    assert_non_null (r->peer);
    r->peer_info = (mdl_peer_info_t) { .id = S_PEER, .incarnation = 1 };
    snprintf (r->peer_info.endpoint, sizeof r->peer_info.endpoint, "%s", mdl_mesh_endpoint (r->peer));
    assert_int_equal (mdl_registry_announce (r->reg, &r->peer_info, r->cluster), 0);

    mdl_agent_cfg_t c;
    memset (&c, 0, sizeof c);
    char bind[96];
    snprintf (bind, sizeof bind, "inproc://test-comm-agent-%d", (int) getpid ());
    c.id = S_AGENT;
    c.cluster = "test";
    c.bind = bind;
    c.disc = (mdl_disc_cfg_t) { .kind = MDL_DISC_INPROC, .cluster = "test", .registry = r->reg };
    c.peer_timeout = 10;
    c.hello_interval = 0.05;
    c.learn.spec = "mlp:4-3-2";
    c.learn.seed = 1;
    c.learn.batch = 8;
    mdl_opt_defaults (&c.learn.opt, MDL_OPT_SGD);
    mdl_sched_parse ("constant", &c.learn.sched);
    c.learn.epochs = 1;
    c.train = r->data;
    c.epochs = 1;
    c.algo = "dpsgd";
    c.topology = "ring";
    c.weights = MDL_WEIGHTS_MH;
    c.mode = MDL_MODE_ASYNC;
    c.codec = "fp16";
    c.error_feedback = true;
    c.gamma = 1.0;
    c.gossip_steps = 1;
    c.local_steps = 1;
    c.staleness_decay = 1.0;
    c.max_staleness = 1000;
    c.sync_timeout = 5;
    c.merge_timeout = 5;
    c.seed = 7;
    r->agent = mdl_agent_new (&c, &err);
    if (!r->agent)
        fail_msg ("agent: %s", mdl_strerror (err));
    r->d = mdl_agent_dim (r->agent);
    assert_true (r->agent->replicas);
    r->fp32 = mdl_codec_new ("fp32", r->d, 0, &err);
    r->fp16 = mdl_codec_new ("fp16", r->d, 0, &err);
    assert_non_null (r->fp32);
    assert_non_null (r->fp16);
    assert_int_equal (mdl_agent_wait_peers (r->agent, 1, 10), 0);
    /* The peer listens to the agent (for its requests) ... */
    mdl_peer_info_t ai = { .id = S_AGENT, .incarnation = 1 };
    snprintf (ai.endpoint, sizeof ai.endpoint, "%s", mdl_agent_endpoint (r->agent));
    assert_int_equal (mdl_mesh_connect (r->peer, &ai), 0);
    /* ... and says hello until the agent's SUB has heard one: from then on everything it
       publishes arrives, in order. */
    const double until = mdl_now () + 10;
    mdl_agent_stats_t st;
    do {
        mdl_mesh_hello (r->peer, &r->peer_info, r->cluster);
        zclock_sleep (20);
        mdl_agent_stats (r->agent, &st);
    } while (st.msgs_received == 0 && mdl_now () < until);
    assert_true (st.msgs_received > 0);
}

static void
s_rig_down (s_rig_t *r)
{
    mdl_agent_destroy (&r->agent);
    mdl_mesh_destroy (&r->peer);
    mdl_codec_destroy (&r->fp32);
    mdl_codec_destroy (&r->fp16);
    mdl_dataset_destroy (&r->data);
    mdl_registry_destroy (&r->reg);
}

static void
s_free_payload (void *data, void *hint)
{
    (void) hint;
    free (data);
}

/* Sends v (a keyframe: fp32, exact) or a delta (fp16) as update seq of the peer. */
static void
s_send (s_rig_t *r, uint64_t seq, bool keyframe, const float *v)
{
    mdl_codec_t *codec = keyframe ? r->fp32 : r->fp16;
    mdl_wire_header_t h;
    mdl_wire_header_init (&h, r->cluster, S_PEER, codec);
    h.seq = seq;
    h.step = seq;
    h.kind = MDL_KIND_MAKE (keyframe ? MDL_KIND_STATE : MDL_KIND_DELTA, 0);
    h.keyframe = keyframe;
    h.timestamp_us = (uint64_t) (mdl_wallclock () * 1e6);
    const size_t cap = mdl_codec_max_size (codec);
    void *payload = malloc (cap);
    size_t len = 0;
    assert_int_equal (mdl_codec_encode (codec, v, payload, cap, &len, NULL), 0);
    h.payload_len = len;
    unsigned char hb[MDL_WIRE_HEADER_MAX];
    size_t hl = 0;
    assert_int_equal (mdl_wire_pack (&h, hb, sizeof hb, &hl), 0);
    char topic[MDL_WIRE_TOPIC_MAX + 1];
    const size_t tl = mdl_wire_topic (S_AGENT, topic);
    /* the payload is zero-copy: ZeroMQ frees it when the receiver is done (over inproc
       the receiver reads this very buffer, so freeing it after a sleep raced with it:
       a heap-use-after-free under ASan, byte mismatches in a loaded Release run) */
    assert_int_equal (mdl_mesh_send (r->peer, topic, tl, hb, hl, payload, len, s_free_payload, NULL), 0);
}

/* Waits until the peer's mailbox slot holds seq; copies the vector into out. */
static bool
s_wait_filed (s_rig_t *r, uint64_t seq, float *out, double timeout)
{
    const double until = mdl_now () + timeout;
    for (;;) {
        mdl_slot_meta_t m;
        if (mdl_mailroom_peek (r->agent->room, S_PEER, 0, &m) && m.seq == seq && !m.lost) {
            const float *v = mdl_mailroom_read_begin (r->agent->room, S_PEER, 0, UINT64_MAX, &m);
            assert_non_null (v);
            memcpy (out, v, r->d * sizeof (float));
            mdl_mailroom_read_end (r->agent->room, S_PEER, 0);
            return true;
        }
        if (mdl_now () >= until)
            return false;
        zclock_sleep (5);
    }
}

/* Whether the peer hears a RESYNC ("send me a keyframe") from the agent in time. */
static bool
s_peer_hears_resync (s_rig_t *r, double timeout)
{
    const double until = mdl_now () + timeout;
    zpoller_t *poller = zpoller_new (mdl_mesh_sub_socket (r->peer), NULL);
    bool heard = false;
    while (!heard && mdl_now () < until) {
        zpoller_wait (poller, 20);
        const void *f[4];
        size_t len[4], n;
        while (!heard && mdl_mesh_recv (r->peer, f, len, 4, &n) == 0) {
            mdl_wire_header_t h;
            heard = n == 3 && len[0] > 0 && ((const char *) f[0])[0] == 'T' && mdl_wire_unpack (f[1], len[1], &h) == 0
                    && MDL_KIND_TYPE (h.kind) == MDL_KIND_RESYNC && h.sender == S_AGENT;
        }
    }
    zpoller_destroy (&poller);
    return heard;
}

static void
test_a_sequence_gap_voids_the_replica_until_the_next_keyframe (void **state)
{
    s_rig_t r;
    s_rig_up (&r);
    const size_t d = r.d;
    float *key = calloc (d, sizeof (float)), *delta = calloc (d, sizeof (float)), *got = calloc (d, sizeof (float)),
          *want = calloc (d, sizeof (float));
    for (size_t k = 0; k < d; k++) {
        key[k] = (float) k;
        delta[k] = 0.5f; /* exact in fp16: the replica's sums are exact */
    }
    /* 1: a keyframe starts the replica; 2: a delta advances it */
    s_send (&r, 1, true, key);
    assert_true (s_wait_filed (&r, 1, got, 10));
    assert_memory_equal (got, key, d * sizeof (float));
    s_send (&r, 2, false, delta);
    assert_true (s_wait_filed (&r, 2, got, 10));
    for (size_t k = 0; k < d; k++)
        want[k] = key[k] + 0.5f;
    assert_memory_equal (got, want, d * sizeof (float));
    mdl_agent_stats_t st;
    mdl_agent_stats (r.agent, &st);
    assert_int_equal (st.resyncs, 0);
    /* 4 after 2: update 3 was lost. Its delta is not in the replica, so the next delta
       cannot be applied: the agent asks for a keyframe and files nothing. */
    s_send (&r, 4, false, delta);
    assert_true (s_peer_hears_resync (&r, 10));
    mdl_agent_stats (r.agent, &st);
    assert_int_equal (st.resyncs, 1);
    assert_true (st.updates_dropped >= 1);
    mdl_slot_meta_t m;
    assert_true (mdl_mailroom_peek (r.agent->room, S_PEER, 0, &m));
    assert_int_equal (m.seq, 2); /* still update 2's vector */
    /* 5, a delta again, still no replica; 6, the keyframe, restarts it; 7 advances it */
    s_send (&r, 5, false, delta);
    for (size_t k = 0; k < d; k++)
        key[k] = -(float) k;
    s_send (&r, 6, true, key);
    assert_true (s_wait_filed (&r, 6, got, 10));
    assert_memory_equal (got, key, d * sizeof (float));
    s_send (&r, 7, false, delta);
    assert_true (s_wait_filed (&r, 7, got, 10));
    for (size_t k = 0; k < d; k++)
        want[k] = key[k] + 0.5f;
    assert_memory_equal (got, want, d * sizeof (float));
    free (key);
    free (delta);
    free (got);
    free (want);
    s_rig_down (&r);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_a_sequence_gap_voids_the_replica_until_the_next_keyframe),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
