/*  test_discovery.c: the static and in-process back-ends end to end with the peer table
    and the mesh (over TCP loopback and inproc), the announcement checks shared by all
    back-ends, and the dns back-end against a scripted resolver stub (answers that
    change, fail, list this agent, mix IPv4 and IPv6, or hang). The beacon back-end is exercised only inside network namespaces
    (tests/lan/lan_mesh.sh, bench/mesh.sh): a unit test must never broadcast on the
    machine's interfaces. */
#include "testutil.h"

#include "discovery.h"
#include "discovery_ops.h"
#include "err.h"
#include "mesh.h"
#include "peers.h"

#include <czmq.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define S_CLUSTER "unit"

typedef struct {
    uint64_t id;
    mdl_mesh_t *mesh;
    mdl_discovery_t *disc;
    mdl_peers_t *peers;
    mdl_peer_info_t info;
    int joins, rejoins, leaves;
} s_agent_t;

static double
s_now (void)
{
    return zclock_mono () / 1000.0;
}

static void
s_agent_bind (s_agent_t *a, uint64_t id, const char *bind)
{
    memset (a, 0, sizeof *a);
    a->id = id;
    mdl_mesh_cfg_t mc = { .bind = bind, .self = id };
    a->mesh = mdl_mesh_new (&mc, NULL);
    assert_non_null (a->mesh);
}

static void
s_agent_discover (s_agent_t *a, const mdl_disc_cfg_t *cfg, uint64_t incarnation, double timeout)
{
    uint64_t id = a->id;
    a->info.id = id;
    a->info.incarnation = incarnation;
    a->info.port = mdl_mesh_port (a->mesh);
    snprintf (a->info.endpoint, sizeof a->info.endpoint, "%s", mdl_mesh_endpoint (a->mesh));
    int err = -1;
    a->disc = mdl_discovery_new (cfg, &a->info, &err);
    assert_int_equal (err, 0);
    assert_non_null (a->disc);
    a->peers = mdl_peers_new (id, timeout, 64, NULL);
    assert_non_null (a->peers);
}

static void
s_agent_start (s_agent_t *a, uint64_t id, const char *bind, const mdl_disc_cfg_t *cfg,
               uint64_t incarnation, double timeout)
{
    s_agent_bind (a, id, bind);
    s_agent_discover (a, cfg, incarnation, timeout);
}

static void
s_agent_stop (s_agent_t *a)
{
    mdl_discovery_destroy (&a->disc);
    mdl_mesh_destroy (&a->mesh);
    mdl_peers_destroy (&a->peers);
}

static void
s_event (s_agent_t *a, const mdl_peer_event_t *ev)
{
    if (ev->kind == MDL_PEER_JOIN || ev->kind == MDL_PEER_REJOIN) {
        a->joins += ev->kind == MDL_PEER_JOIN;
        a->rejoins += ev->kind == MDL_PEER_REJOIN;
        if (ev->info.endpoint[0])
            mdl_mesh_connect (a->mesh, &ev->info);
    }
    else if (ev->kind == MDL_PEER_LEAVE) {
        a->leaves++;
        mdl_mesh_disconnect (a->mesh, ev->info.endpoint);
    }
}

/* One turn of what the comm actor does: announcements, hellos, mesh messages, expiry. */
static void
s_agent_step (s_agent_t *a)
{
    double now = s_now ();
    mdl_peer_info_t found[16];
    size_t n = 0;
    mdl_peer_event_t ev;
    mdl_discovery_recv (a->disc, found, 16, &n);
    for (size_t i = 0; i < n; i++) {
        if (found[i].id == 0) /* static: connect; who it is comes with its hellos */
            mdl_mesh_connect (a->mesh, &found[i]);
        else if (mdl_peers_seen (a->peers, &found[i], now, &ev) == 0)
            s_event (a, &ev);
    }
    mdl_mesh_hello (a->mesh, &a->info, mdl_cluster_hash (S_CLUSTER));
    const void *f[4];
    size_t len[4], k;
    while (mdl_mesh_recv (a->mesh, f, len, 4, &k) == 0) {
        mdl_peer_info_t info;
        if (k == 2 && ((const char *) f[0])[0] == 'H'
            && mdl_hello_unpack (f[1], len[1], mdl_cluster_hash (S_CLUSTER), &info) == 0) {
            if (mdl_peers_seen (a->peers, &info, now, &ev) == 0)
                s_event (a, &ev);
            mdl_peers_touch (a->peers, info.id, info.incarnation, now);
        }
    }
    mdl_peer_event_t out[8];
    size_t m = mdl_peers_expire (a->peers, now, out, 8);
    for (size_t i = 0; i < m; i++)
        s_event (a, &out[i]);
}

static bool
s_all_see_all (s_agent_t *agents, size_t n, size_t want)
{
    for (size_t i = 0; i < n; i++)
        if (mdl_peers_alive (agents[i].peers, NULL, 0) != want)
            return false;
    return true;
}

/* Runs every agent's step until cond holds or the deadline passes. */
static bool
s_run_until (s_agent_t *agents, size_t n, size_t want, int ms)
{
    int64_t deadline = zclock_mono () + ms;
    while (zclock_mono () < deadline) {
        for (size_t i = 0; i < n; i++)
            s_agent_step (&agents[i]);
        if (s_all_see_all (agents, n, want))
            return true;
        zclock_sleep (10); /* the agents' event-loop tick */
    }
    return false;
}

static void
test_static_list_over_tcp_loopback_finds_everyone_by_their_hellos (void **state)
{
    /* each agent's list holds all three endpoints, its own included */
    s_agent_t ag[3];
    char list[1024] = "";
    for (int i = 0; i < 3; i++) {
        s_agent_bind (&ag[i], (uint64_t) i + 1, "tcp://127.0.0.1:0");
        char ep[128];
        snprintf (ep, sizeof ep, "%stcp://127.0.0.1:%u", i ? " , " : "", mdl_mesh_port (ag[i].mesh));
        strcat (list, ep);
    }
    mdl_disc_cfg_t cfg = { .kind = MDL_DISC_STATIC, .cluster = S_CLUSTER, .peers = list };
    for (int i = 0; i < 3; i++) {
        s_agent_discover (&ag[i], &cfg, 1, 2.0);
        assert_string_equal (mdl_discovery_name (ag[i].disc), "static");
        assert_null (mdl_discovery_socket (ag[i].disc));
    }
    assert_true (s_run_until (ag, 3, 2, 5000));
    for (int i = 0; i < 3; i++) {
        assert_int_equal (ag[i].joins, 2);
        mdl_disc_stats_t st;
        mdl_discovery_stats (ag[i].disc, &st);
        assert_int_equal (st.received, 3);
    }
    for (int i = 0; i < 3; i++)
        s_agent_stop (&ag[i]);
}

static void
test_static_list_rejects_malformed_endpoints (void **state)
{
    const char *bad[] = { "", "tcp://", "tcp://host", "tcp://host:", "tcp://host:0",
                          "tcp://host:65536", "tcp://host:12a", "udp://host:1",
                          "tcp://a:1,,tcp://b:2", "tcp://a:1,", "tcp://:5",
                          /* keys: 39 characters, a non-Z85 one, '#' in the endpoint */
                          "tcp://a:1#rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf",
                          "tcp://a:1#rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]y~7",
                          "tcp://a#b:1", "tcp://a:1#" };
    mdl_peer_info_t me = { .id = 1, .port = 1 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mdl_disc_cfg_t cfg = { .kind = MDL_DISC_STATIC, .cluster = "x", .peers = bad[i] };
        int err = 0;
        assert_null (mdl_discovery_new (&cfg, &me, &err));
        assert_int_equal (err, MDL_EINVAL);
    }
    mdl_disc_cfg_t cfg = { .kind = MDL_DISC_STATIC, .cluster = "x",
                           .peers = "tcp://a:1,ipc:///tmp/x,inproc://y,tcp://a:1" };
    mdl_discovery_t *d = mdl_discovery_new (&cfg, &me, NULL);
    assert_non_null (d);
    mdl_peer_info_t out[2];
    size_t n;
    assert_int_equal (mdl_discovery_recv (d, out, 2, &n), 0); /* a duplicate is dropped */
    assert_int_equal (n, 2);
    assert_int_equal (mdl_discovery_recv (d, out, 2, &n), 0);
    assert_int_equal (n, 1);
    assert_string_equal (out[0].endpoint, "inproc://y");
    assert_int_equal (mdl_discovery_recv (d, out, 2, &n), 0);
    assert_int_equal (n, 0);
    mdl_discovery_destroy (&d);
    assert_null (d);
    mdl_discovery_destroy (&d);

    /* an entry may end in #<Z85 public key> (for CURVE); '#' is a Z85 character too */
    cfg.peers = "tcp://a:1#rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]y#7, tcp://b:2";
    d = mdl_discovery_new (&cfg, &me, NULL);
    assert_non_null (d);
    assert_int_equal (mdl_discovery_recv (d, out, 2, &n), 0);
    assert_int_equal (n, 2);
    assert_string_equal (out[0].endpoint, "tcp://a:1");
    assert_string_equal (out[0].pubkey, "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]y#7");
    assert_string_equal (out[1].endpoint, "tcp://b:2");
    assert_string_equal (out[1].pubkey, "");
    mdl_discovery_destroy (&d);
}

static void
test_inproc_registry_finds_everyone_and_a_leaver_expires_and_a_restart_rejoins (void **state)
{
    mdl_registry_t *reg = mdl_registry_new (NULL);
    mdl_disc_cfg_t cfg = { .kind = MDL_DISC_INPROC, .cluster = S_CLUSTER, .registry = reg,
                           .interval_ms = 50 };
    s_agent_t ag[4];
    for (int i = 0; i < 4; i++) {
        char bind[64];
        snprintf (bind, sizeof bind, "inproc://test-agent-%d", i + 1);
        s_agent_start (&ag[i], (uint64_t) i + 1, bind, &cfg, 1, 0.5);
        assert_int_equal (mdl_mesh_port (ag[i].mesh), 0);
    }
    assert_true (s_run_until (ag, 4, 3, 5000));
    for (int i = 0; i < 4; i++)
        assert_int_equal (ag[i].joins, 3);

    /* agent 4 goes away without a word; the others declare it dead after the timeout */
    s_agent_stop (&ag[3]);
    int64_t t0 = zclock_mono ();
    assert_true (s_run_until (ag, 3, 2, 5000));
    int64_t took = zclock_mono () - t0;
    print_message ("silent agent declared dead after %lld ms (timeout 500)\n", (long long) took);
    assert_true (took >= 400);
    for (int i = 0; i < 3; i++)
        assert_int_equal (ag[i].leaves, 1);

    /* it comes back with a new incarnation: a rejoin, not a fourth peer */
    s_agent_start (&ag[3], 4, "inproc://test-agent-4b", &cfg, 2, 0.5);
    assert_true (s_run_until (ag, 4, 3, 5000));
    for (int i = 0; i < 3; i++) {
        assert_int_equal (ag[i].rejoins, 1);
        assert_int_equal (ag[i].joins, 3);
        assert_string_equal (mdl_peers_get (ag[i].peers, 4)->endpoint, "inproc://test-agent-4b");
    }
    mdl_disc_stats_t st;
    mdl_discovery_stats (ag[0].disc, &st);
    assert_true (st.self > 0);
    for (int i = 0; i < 4; i++)
        s_agent_stop (&ag[i]);
    mdl_registry_destroy (&reg);
}

static void
test_inproc_ignores_and_counts_agents_of_another_cluster_in_the_same_registry (void **state)
{
    /* two clusters in one process, one registry: each agent finds its own cluster only */
    mdl_registry_t *reg = mdl_registry_new (NULL);
    const char *cluster[] = { "red", "blue", "red", "blue", "blue" };
    mdl_discovery_t *d[5];
    for (int i = 0; i < 5; i++) {
        mdl_peer_info_t me = { .id = (uint64_t) i + 1, .incarnation = 1 };
        snprintf (me.endpoint, sizeof me.endpoint, "inproc://two-clusters-%d", i + 1);
        mdl_disc_cfg_t cfg = { .kind = MDL_DISC_INPROC, .cluster = cluster[i], .registry = reg };
        int err = -1;
        d[i] = mdl_discovery_new (&cfg, &me, &err);
        assert_int_equal (err, 0);
    }
    for (int i = 0; i < 5; i++) {
        mdl_peer_info_t out[8];
        size_t n = 0;
        assert_int_equal (mdl_discovery_recv (d[i], out, 8, &n), 0);
        size_t same = 0;
        for (int j = 0; j < 5; j++)
            same += j != i && strcmp (cluster[j], cluster[i]) == 0;
        assert_int_equal (n, same);
        for (size_t k = 0; k < n; k++)
            assert_string_equal (cluster[out[k].id - 1], cluster[i]);
        mdl_disc_stats_t st;
        mdl_discovery_stats (d[i], &st);
        assert_int_equal (st.received, 5);
        assert_int_equal (st.self, 1);
        assert_int_equal (st.other_cluster, 5 - 1 - same);
        assert_int_equal (st.malformed, 0);
    }
    for (int i = 0; i < 5; i++)
        mdl_discovery_destroy (&d[i]);
    mdl_registry_destroy (&reg);
}

static void
test_inproc_hands_out_a_registry_larger_than_the_callers_buffer_over_several_calls (void **state)
{
    /* comm.c asks for 64 at a time and asks again while it gets 64 */
    enum { N = 150 };
    mdl_registry_t *reg = mdl_registry_new (NULL);
    mdl_disc_cfg_t cfg = { .kind = MDL_DISC_INPROC, .cluster = S_CLUSTER, .registry = reg };
    static mdl_discovery_t *d[N];
    for (int i = 0; i < N; i++) {
        mdl_peer_info_t me = { .id = (uint64_t) i + 1, .incarnation = 1 };
        snprintf (me.endpoint, sizeof me.endpoint, "inproc://many-%d", i + 1);
        d[i] = mdl_discovery_new (&cfg, &me, NULL);
        assert_non_null (d[i]);
    }
    bool seen[N + 1] = { false };
    mdl_peer_info_t out[64];
    size_t n, total = 0;
    do {
        assert_int_equal (mdl_discovery_recv (d[0], out, 64, &n), 0);
        for (size_t k = 0; k < n; k++) {
            assert_true (out[k].id >= 2 && out[k].id <= N && !seen[out[k].id]);
            seen[out[k].id] = true;
        }
        total += n;
    } while (n == 64);
    assert_int_equal (total, N - 1);
    for (int i = 0; i < N; i++)
        mdl_discovery_destroy (&d[i]);
    mdl_registry_destroy (&reg);
}

/* The announcement interval grows with the cluster (N / MDL_DISC_FANIN base intervals)
   and, for an agent whose time runs slower (many agents sharing a process's CPUs), by
   that dilation too; a dilation below 1 changes nothing. */
static void
test_the_pace_grows_with_the_cluster_and_with_the_dilation_of_time (void **state)
{
    mdl_registry_t *reg = mdl_registry_new (NULL);
    mdl_disc_cfg_t cfg = { .kind = MDL_DISC_INPROC, .cluster = S_CLUSTER, .registry = reg };
    mdl_peer_info_t me = { .id = 1, .incarnation = 1 };
    snprintf (me.endpoint, sizeof me.endpoint, "inproc://pace-1");
    mdl_discovery_t *d = mdl_discovery_new (&cfg, &me, NULL);
    assert_non_null (d);
    assert_float_equal (mdl_discovery_pace (d, 8, 1), 0.25, 1e-9);
    assert_float_equal (mdl_discovery_pace (d, 1024, 1), 0.25 * 1024 / MDL_DISC_FANIN, 1e-9);
    assert_float_equal (mdl_discovery_pace (d, 1024, 16), 16 * 0.25 * 1024 / MDL_DISC_FANIN, 1e-9);
    assert_float_equal (mdl_discovery_pace (d, 8, 0.5), 0.25, 1e-9);
    mdl_discovery_destroy (&d);
    mdl_registry_destroy (&reg);
}

static void
test_inproc_needs_a_registry_and_an_endpoint (void **state)
{
    mdl_registry_t *reg = mdl_registry_new (NULL);
    mdl_peer_info_t me = { .id = 1 };
    int err = 0;
    mdl_disc_cfg_t cfg = { .kind = MDL_DISC_INPROC, .registry = NULL };
    assert_null (mdl_discovery_new (&cfg, &me, &err));
    assert_int_equal (err, MDL_EINVAL);
    cfg.registry = reg;
    assert_null (mdl_discovery_new (&cfg, &me, &err)); /* no endpoint */
    assert_int_equal (err, MDL_EINVAL);
    me.id = 0;
    strcpy (me.endpoint, "inproc://x");
    assert_null (mdl_discovery_new (&cfg, &me, &err));
    assert_int_equal (err, MDL_EINVAL);
    cfg.kind = (mdl_disc_kind_t) 42;
    me.id = 1;
    assert_null (mdl_discovery_new (&cfg, &me, &err));
    assert_int_equal (err, MDL_EINVAL);
    mdl_registry_destroy (&reg);
}

static void
test_announcements_from_self_other_clusters_and_junk_are_ignored_and_counted (void **state)
{
    mdl_registry_t *reg = mdl_registry_new (NULL);
    mdl_peer_info_t me = { .id = 1, .incarnation = 5 };
    strcpy (me.endpoint, "inproc://me");
    mdl_disc_cfg_t cfg = { .kind = MDL_DISC_INPROC, .cluster = "mine", .registry = reg };
    mdl_discovery_t *d = mdl_discovery_new (&cfg, &me, NULL);
    assert_non_null (d);
    uint8_t buf[MDL_HELLO_SIZE];
    mdl_peer_info_t other = { .id = 2, .port = 9 }, got;
    mdl_hello_pack (&other, mdl_cluster_hash ("mine"), buf);
    assert_int_equal (mdl_disc_accept (d, buf, sizeof buf, &got), 0);
    assert_true (got.id == 2);
    mdl_hello_pack (&me, mdl_cluster_hash ("mine"), buf);
    assert_int_not_equal (mdl_disc_accept (d, buf, sizeof buf, &got), 0);
    mdl_hello_pack (&other, mdl_cluster_hash ("theirs"), buf);
    assert_int_not_equal (mdl_disc_accept (d, buf, sizeof buf, &got), 0);
    assert_int_not_equal (mdl_disc_accept (d, "junk", 4, &got), 0);
    assert_int_not_equal (mdl_disc_accept (d, buf, 10, &got), 0);
    mdl_disc_stats_t st;
    mdl_discovery_stats (d, &st);
    assert_int_equal (st.received, 5);
    assert_int_equal (st.self, 1);
    assert_int_equal (st.other_cluster, 1);
    assert_int_equal (st.malformed, 2);
    mdl_discovery_destroy (&d);
    mdl_registry_destroy (&reg);
}

static void
test_beacon_refuses_an_agent_without_a_tcp_port (void **state)
{
    /* checked before any socket exists: nothing is broadcast */
    mdl_peer_info_t me = { .id = 1, .port = 0 };
    mdl_disc_cfg_t cfg = { .kind = MDL_DISC_BEACON, .cluster = "x", .iface = "lo" };
    int err = 0;
    assert_null (mdl_discovery_new (&cfg, &me, &err));
    assert_int_equal (err, MDL_EINVAL);
}


/* --- dns: a scripted resolver stub ------------------------------------------------------ */

/* What the stub answers: the current list (or a failure), changed by the test between
   rounds; calls counts the resolutions; block makes it wait until released. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    const char *answer[8];
    int n;                  /* -1: fail */
    int calls;
    bool block, blocked, released, returned;
} s_stub_t;

static int
s_stub_resolve (void *arg, const char *name, char (*out)[MDL_ADDR_MAX], int cap, char *why, size_t whylen)
{
    s_stub_t *st = arg;
    pthread_mutex_lock (&st->lock);
    st->calls++;
    if (st->block) {
        st->blocked = true;
        pthread_cond_broadcast (&st->cond);
        while (!st->released)
            pthread_cond_wait (&st->cond, &st->lock);
    }
    int n = st->n;
    if (n < 0)
        snprintf (why, whylen, "stub says no");
    for (int i = 0; i < n && i < cap; i++)
        snprintf (out[i], MDL_ADDR_MAX, "%s", st->answer[i]);
    st->returned = st->block;
    pthread_cond_broadcast (&st->cond);
    pthread_mutex_unlock (&st->lock);
    return n;
}

static void
s_stub_set (s_stub_t *st, int n, const char **addrs)
{
    pthread_mutex_lock (&st->lock);
    st->n = n;
    for (int i = 0; i < n; i++)
        st->answer[i] = addrs[i];
    st->calls = 0;
    pthread_mutex_unlock (&st->lock);
}

static void
s_stub_init (s_stub_t *st, int n, const char **addrs)
{
    memset (st, 0, sizeof *st);
    pthread_mutex_init (&st->lock, NULL);
    pthread_cond_init (&st->cond, NULL);
    s_stub_set (st, n, addrs);
}

/* Polls d until its resolver answered at least twice since the last s_stub_set (so the
   newest answer was taken) or 5 s passed; collects what was announced into out. */
static size_t
s_dns_round (mdl_discovery_t *d, s_stub_t *st, mdl_peer_info_t *out, size_t cap)
{
    size_t total = 0;
    const double until = s_now () + 5;
    for (;;) {
        pthread_mutex_lock (&st->lock);
        int calls = st->calls;
        pthread_mutex_unlock (&st->lock);
        size_t n = 0;
        mdl_discovery_recv (d, out + total, cap - total, &n);
        total += n;
        if (calls >= 2 || s_now () > until) {
            mdl_discovery_recv (d, out + total, cap - total, &n); /* the answer of the last call */
            return total + n;
        }
        zclock_sleep (5);
    }
}

/* A dns back-end over the stub for an agent at port 7000, resolving every 20 ms. */
static mdl_discovery_t *
s_dns_new (s_stub_t *st, const char *peers)
{
    mdl_peer_info_t me = { .id = 1, .port = 7000 };
    mdl_disc_cfg_t cfg = { .kind = MDL_DISC_DNS, .cluster = "x", .peers = peers, .dns_interval_ms = 20,
                           .resolve = s_stub_resolve, .resolve_arg = st };
    mdl_discovery_t *d = mdl_discovery_new (&cfg, &me, NULL);
    assert_non_null (d);
    return d;
}

static bool
s_has (const mdl_peer_info_t *v, size_t n, const char *ep)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp (v[i].endpoint, ep) && v[i].id == 0)
            return true;
    return false;
}

static void
test_dns_peers_list_accepts_names_and_endpoints_and_refuses_bad_ports (void **state)
{
    char why[512];
    bool dns = false;
    assert_int_equal (mdl_discovery_check_peers ("dns:tasks.agent:7000, tcp://10.0.0.1:5, dns:a-b_c.svc.cluster.local:1", &dns, why, sizeof why), 0);
    assert_true (dns);
    assert_int_equal (mdl_discovery_check_peers ("tcp://10.0.0.1:5", &dns, why, sizeof why), 0);
    assert_false (dns);
    const char *bad[] = { "dns:agent", "dns:agent:", "dns:agent:0", "dns:agent:65536", "dns::7000", "dns:a gent:1",
                          "dns:agent:7x", "dns:agent:123456", "dns:a/b:1", "tcp://a:1,,dns:b:1", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal (mdl_discovery_check_peers (bad[i], NULL, why, sizeof why), MDL_EINVAL);
        assert_true (strlen (why) > 10); /* names the entry and the form */
        mdl_peer_info_t me = { .id = 1, .port = 1 };
        mdl_disc_cfg_t cfg = { .kind = MDL_DISC_DNS, .cluster = "x", .peers = bad[i] };
        int err = 0;
        assert_null (mdl_discovery_new (&cfg, &me, &err));
        assert_int_equal (err, MDL_EINVAL);
    }
    assert_non_null (strstr (why, "empty entry"));
}

static void
test_dns_announces_new_addresses_and_withdraws_those_that_leave (void **state)
{
    static s_stub_t st; /* static: a resolution may still run after destroy returns */
    const char *a1[] = { "10.0.0.1", "10.0.0.2", "10.0.0.2" };
    s_stub_init (&st, 3, a1);
    mdl_discovery_t *d = s_dns_new (&st, "dns:agents:7001, tcp://10.9.9.9:5");
    assert_string_equal (mdl_discovery_name (d), "dns");
    assert_null (mdl_discovery_socket (d)); /* polled on the comm actor's timer */
    mdl_peer_info_t got[16];
    size_t n = s_dns_round (d, &st, got, 16);
    assert_int_equal (n, 3); /* the static entry, then two addresses (one listed twice) */
    assert_true (s_has (got, n, "tcp://10.9.9.9:5"));
    assert_true (s_has (got, n, "tcp://10.0.0.1:7001"));
    assert_true (s_has (got, n, "tcp://10.0.0.2:7001"));
    char note[320];
    assert_true (mdl_discovery_note (d, note, sizeof note));
    assert_non_null (strstr (note, "dns:agents:7001 resolves to 2 addresses"));
    char gone[4][MDL_ENDPOINT_MAX];
    assert_int_equal (mdl_discovery_withdrawn (d, gone, 4), 0);

    const char *a2[] = { "10.0.0.2", "10.0.0.3" }; /* .1 left, .3 came */
    s_stub_set (&st, 2, a2);
    n = s_dns_round (d, &st, got, 16);
    assert_int_equal (n, 1);
    assert_string_equal (got[0].endpoint, "tcp://10.0.0.3:7001");
    assert_int_equal (mdl_discovery_withdrawn (d, gone, 4), 1);
    assert_string_equal (gone[0], "tcp://10.0.0.1:7001");
    assert_true (mdl_discovery_note (d, note, sizeof note));
    assert_non_null (strstr (note, "now lists 2 addresses (1 new, 1 gone)"));
    assert_false (mdl_discovery_note (d, note, sizeof note));

    /* the same answer again: nothing new, nothing gone, nothing to say */
    s_stub_set (&st, 2, a2);
    assert_int_equal (s_dns_round (d, &st, got, 16), 0);
    assert_int_equal (mdl_discovery_withdrawn (d, gone, 4), 0);
    assert_false (mdl_discovery_note (d, note, sizeof note));
    mdl_disc_stats_t ds;
    mdl_discovery_stats (d, &ds);
    assert_int_equal (ds.withdrawn, 1);
    assert_true (ds.resolutions >= 3); /* at least the newest answer of each round */
    mdl_discovery_destroy (&d);
    assert_null (d);
}

static void
test_dns_failures_keep_the_last_answer_and_are_said_once (void **state)
{
    static s_stub_t st; /* static: a resolution may still run after destroy returns */
    const char *a[] = { "10.0.0.1", "10.0.0.2" };
    s_stub_init (&st, 2, a);
    mdl_discovery_t *d = s_dns_new (&st, "dns:agents:7000");
    mdl_peer_info_t got[16];
    assert_int_equal (s_dns_round (d, &st, got, 16), 2);
    char note[320], gone[4][MDL_ENDPOINT_MAX];
    while (mdl_discovery_note (d, note, sizeof note))
        ;
    for (int round = 0; round < 3; round++) { /* three failing rounds */
        s_stub_set (&st, -1, NULL);
        assert_int_equal (s_dns_round (d, &st, got, 16), 0);
    }
    assert_int_equal (mdl_discovery_withdrawn (d, gone, 4), 0); /* the last answer stands */
    assert_true (mdl_discovery_note (d, note, sizeof note));
    assert_non_null (strstr (note, "cannot resolve (stub says no); keeping the addresses it had"));
    assert_false (mdl_discovery_note (d, note, sizeof note)); /* said once, not per retry */
    char un[256];
    mdl_discovery_unresolved (d, un, sizeof un);
    assert_string_equal (un, ""); /* it did resolve once */
    s_stub_set (&st, 2, a);
    assert_int_equal (s_dns_round (d, &st, got, 16), 0); /* the same two: nothing new */
    assert_true (mdl_discovery_note (d, note, sizeof note));
    assert_non_null (strstr (note, "resolves again, to 2 addresses"));
    mdl_disc_stats_t ds;
    mdl_discovery_stats (d, &ds);
    assert_true (ds.resolve_failures >= 3);
    mdl_discovery_destroy (&d);
}

static void
test_dns_names_that_never_resolved_are_listed_with_the_reason (void **state)
{
    static s_stub_t st; /* static: a resolution may still run after destroy returns */
    s_stub_init (&st, -1, NULL);
    mdl_discovery_t *d = s_dns_new (&st, "dns:nowhere:7000");
    char un[256];
    mdl_discovery_unresolved (d, un, sizeof un);
    assert_string_equal (un, "dns:nowhere:7000"); /* not asked yet: no reason */
    mdl_peer_info_t got[4];
    assert_int_equal (s_dns_round (d, &st, got, 4), 0);
    mdl_discovery_unresolved (d, un, sizeof un);
    assert_string_equal (un, "dns:nowhere:7000 (stub says no)");
    const char *a[] = { "10.0.0.7" };
    s_stub_set (&st, 1, a);
    assert_int_equal (s_dns_round (d, &st, got, 4), 1);
    mdl_discovery_unresolved (d, un, sizeof un);
    assert_string_equal (un, "");
    mdl_discovery_destroy (&d);
}

static void
test_dns_skips_this_agent_and_prefers_ipv4 (void **state)
{
    static s_stub_t st; /* static: a resolution may still run after destroy returns */
    /* 127.0.0.1 is an address of this host: at our own port it is us */
    const char *a[] = { "127.0.0.1", "10.0.0.9", "fd00::9" };
    s_stub_init (&st, 3, a);
    mdl_discovery_t *d = s_dns_new (&st, "dns:agents:7000,dns:other:7001");
    mdl_peer_info_t got[16];
    size_t n = s_dns_round (d, &st, got, 16);
    /* agents:7000 -> 10.0.0.9 only (self skipped, IPv6 dropped beside IPv4);
       other:7001 -> 127.0.0.1 (another port: another agent on this host) and 10.0.0.9 */
    assert_int_equal (n, 3);
    assert_true (s_has (got, n, "tcp://10.0.0.9:7000"));
    assert_true (s_has (got, n, "tcp://127.0.0.1:7001"));
    assert_true (s_has (got, n, "tcp://10.0.0.9:7001"));
    char note[320];
    assert_true (mdl_discovery_note (d, note, sizeof note));
    assert_non_null (strstr (note, "dns:agents:7000 resolves to 1 address besides this agent's own"));
    /* an IPv6-only name is used, in brackets */
    const char *v6[] = { "fd00::9", "fd00::a" };
    s_stub_set (&st, 2, v6);
    n = s_dns_round (d, &st, got, 16);
    assert_true (s_has (got, n, "tcp://[fd00::9]:7000"));
    assert_true (s_has (got, n, "tcp://[fd00::a]:7001"));
    mdl_discovery_destroy (&d);
}

static void
test_dns_stopping_never_waits_for_a_resolution_in_progress (void **state)
{
    static s_stub_t st; /* static: a resolution may still run after destroy returns */
    const char *a[] = { "10.0.0.1" };
    s_stub_init (&st, 1, a);
    st.block = true;
    mdl_peer_info_t me = { .id = 1, .port = 7000 };
    mdl_disc_cfg_t cfg = { .kind = MDL_DISC_DNS, .cluster = "x", .peers = "dns:slow:7000",
                           .resolve = s_stub_resolve, .resolve_arg = &st };
    mdl_discovery_t *d = mdl_discovery_new (&cfg, &me, NULL);
    assert_non_null (d);
    pthread_mutex_lock (&st.lock);
    while (!st.blocked)
        pthread_cond_wait (&st.cond, &st.lock);
    pthread_mutex_unlock (&st.lock);
    /* the resolver is stuck in the name server: destroy must return anyway (if it
       waited, this test would never get to release the stub) */
    mdl_discovery_destroy (&d);
    assert_null (d);
    pthread_mutex_lock (&st.lock);
    st.released = true;
    pthread_cond_broadcast (&st.cond);
    while (!st.returned)
        pthread_cond_wait (&st.cond, &st.lock);
    pthread_mutex_unlock (&st.lock);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_static_list_over_tcp_loopback_finds_everyone_by_their_hellos),
        cmocka_unit_test (test_static_list_rejects_malformed_endpoints),
        cmocka_unit_test (test_inproc_registry_finds_everyone_and_a_leaver_expires_and_a_restart_rejoins),
        cmocka_unit_test (test_inproc_ignores_and_counts_agents_of_another_cluster_in_the_same_registry),
        cmocka_unit_test (test_inproc_hands_out_a_registry_larger_than_the_callers_buffer_over_several_calls),
        cmocka_unit_test (test_the_pace_grows_with_the_cluster_and_with_the_dilation_of_time),
        cmocka_unit_test (test_inproc_needs_a_registry_and_an_endpoint),
        cmocka_unit_test (test_announcements_from_self_other_clusters_and_junk_are_ignored_and_counted),
        cmocka_unit_test (test_beacon_refuses_an_agent_without_a_tcp_port),
        cmocka_unit_test (test_dns_peers_list_accepts_names_and_endpoints_and_refuses_bad_ports),
        cmocka_unit_test (test_dns_announces_new_addresses_and_withdraws_those_that_leave),
        cmocka_unit_test (test_dns_failures_keep_the_last_answer_and_are_said_once),
        cmocka_unit_test (test_dns_names_that_never_resolved_are_listed_with_the_reason),
        cmocka_unit_test (test_dns_skips_this_agent_and_prefers_ipv4),
        cmocka_unit_test (test_dns_stopping_never_waits_for_a_resolution_in_progress),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
