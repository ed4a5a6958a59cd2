/*  node_mesh.c: one agent's networking, without training, for the LAN test
    (tests/lan/lan_mesh.sh): beacon discovery + peer table + mesh. It says hello, sends a
    small targeted message to every live peer and one broadcast, every --period ms, and
    logs what happens as plain lines on stdout (the test parses them):

      START id=ID inc=INC host=IP port=P curve=0|1 pid=PID
      JOIN ID ENDPOINT | REJOIN ID ENDPOINT old=INC new=INC | LEAVE ID
      GOT T|U ID            first targeted / broadcast message from ID (per incarnation)
      REFUSED ID            its key is not on our allow-list: we do not connect
      MUTE ID               announces but is silent on the mesh (dead port, refused key)
      AUTH_DENIED n=N       our PUB refused N handshakes (keys not allowed)
      AUTH_FAILED n=N       peers refused our key N times: we hear nothing
      BEACONS received=N self=N other_cluster=N malformed=N   (ignored ones; <= 1/s)
      EXIT ...              final counters

    --junk instead broadcasts, forever, three bad beacons: junk bytes, a hello of
    another cluster, and a hello advertising a port where nothing listens.
    --keygen PATH writes a key pair (as `meshdl keygen --out PATH`) and exits. */
#include "discovery.h"
#include "err.h"
#include "keys.h"
#include "mesh.h"
#include "peers.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_MAX_PEERS 256

typedef struct {
    uint64_t id, inc;
    bool got_t, got_u, refused;
} s_seen_t;

static s_seen_t s_seen[S_MAX_PEERS];
static size_t s_nseen;

static s_seen_t *
s_seen_get (uint64_t id)
{
    for (size_t i = 0; i < s_nseen; i++)
        if (s_seen[i].id == id)
            return &s_seen[i];
    if (s_nseen == S_MAX_PEERS)
        return NULL;
    s_seen[s_nseen] = (s_seen_t) { .id = id };
    return &s_seen[s_nseen++];
}

static void
s_usage (void)
{
    fprintf (stderr, "usage: node_mesh --id N --iface IF [--cluster NAME] [--duration S]\n"
                     "       [--interval MS] [--timeout S] [--period MS] [--beacon-port P]\n"
                     "       [--curve --cert SECRET_CERT --allow DIR]\n"
                     "       node_mesh --junk --iface IF [--cluster NAME] [--duration S]\n"
                     "       node_mesh --keygen PATH\n");
}

static const char *
s_hex (uint64_t id)
{
    static char buf[4][17];
    static int k;
    k = (k + 1) % 4;
    return mdl_id_str (id, buf[k]);
}

static zactor_t *
s_junk_beacon (int port, const void *data, size_t len, int interval)
{
    zactor_t *b = zactor_new (zbeacon, NULL);
    zsock_send (b, "si", "CONFIGURE", port);
    char *host = zstr_recv (b);
    if (!host || !host[0]) {
        zstr_free (&host);
        zactor_destroy (&b);
        return NULL;
    }
    zstr_free (&host);
    zsock_send (b, "sbi", "PUBLISH", data, len, interval);
    return b;
}

static int
s_run_junk (const char *cluster, int port, double duration)
{
    uint8_t other[MDL_HELLO_SIZE], dead[MDL_HELLO_SIZE];
    mdl_peer_info_t info = { .id = 0xbad1, .incarnation = 1, .port = 5999 };
    mdl_hello_pack (&info, mdl_cluster_hash ("some-other-cluster"), other);
    info.id = 0xdead;
    info.port = 1; /* nothing listens there */
    mdl_hello_pack (&info, mdl_cluster_hash (cluster), dead);
    zactor_t *b[3];
    b[0] = s_junk_beacon (port, "MDLB this is not a hello", 24, 200);
    b[1] = s_junk_beacon (port, other, sizeof other, 200);
    b[2] = s_junk_beacon (port, dead, sizeof dead, 200);
    if (!b[0] || !b[1] || !b[2]) {
        fprintf (stderr, "node_mesh: cannot start beacons on the interface\n");
        return 1;
    }
    printf ("JUNK started: junk bytes, other cluster, dead port (id %s)\n", s_hex (0xdead));
    int64_t end = zclock_mono () + (int64_t) (duration * 1000);
    while (!zsys_interrupted && zclock_mono () < end)
        zclock_sleep (100);
    for (int i = 0; i < 3; i++)
        zactor_destroy (&b[i]);
    printf ("EXIT junk\n");
    return 0;
}

static void
s_event (mdl_mesh_t *mesh, const mdl_peer_event_t *ev)
{
    const mdl_peer_info_t *p = &ev->info;
    if (ev->kind == MDL_PEER_JOIN || ev->kind == MDL_PEER_REJOIN) {
        if (ev->kind == MDL_PEER_JOIN)
            printf ("JOIN %s %s\n", s_hex (p->id), p->endpoint);
        else
            printf ("REJOIN %s %s old=%" PRIu64 " new=%" PRIu64 "\n", s_hex (p->id), p->endpoint,
                    ev->old_incarnation, p->incarnation);
        s_seen_t *s = s_seen_get (p->id);
        if (s && s->inc != p->incarnation) {
            s->inc = p->incarnation;
            s->got_t = s->got_u = s->refused = false;
        }
        if (p->endpoint[0]) {
            int rc = mdl_mesh_connect (mesh, p);
            if (rc == MDL_ESECURITY && s && !s->refused) {
                s->refused = true;
                printf ("REFUSED %s key not on the allow-list\n", s_hex (p->id));
            }
            else if (rc && rc != MDL_ESECURITY)
                printf ("CONNECT_FAILED %s %s\n", s_hex (p->id), mdl_errname (rc));
        }
    }
    else if (ev->kind == MDL_PEER_LEAVE) {
        printf ("LEAVE %s\n", s_hex (p->id));
        if (p->endpoint[0])
            mdl_mesh_disconnect (mesh, p->endpoint);
    }
}

int
main (int argc, char **argv)
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    uint64_t id = 0;
    const char *iface = NULL, *cluster = "lan-test", *cert = NULL, *allow = NULL;
    double duration = 60, timeout = 2.0;
    int interval = 250, period = 200, beacon_port = 5670;
    bool curve = false, junk = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp (a, "--keygen") && v)
            return mdl_keys_generate (v, "node") == 0 ? 0 : 1;
        else if (!strcmp (a, "--id") && v)
            id = strtoull (v, NULL, 0), i++;
        else if (!strcmp (a, "--iface") && v)
            iface = v, i++;
        else if (!strcmp (a, "--cluster") && v)
            cluster = v, i++;
        else if (!strcmp (a, "--duration") && v)
            duration = atof (v), i++;
        else if (!strcmp (a, "--timeout") && v)
            timeout = atof (v), i++;
        else if (!strcmp (a, "--interval") && v)
            interval = atoi (v), i++;
        else if (!strcmp (a, "--period") && v)
            period = atoi (v), i++;
        else if (!strcmp (a, "--beacon-port") && v)
            beacon_port = atoi (v), i++;
        else if (!strcmp (a, "--cert") && v)
            cert = v, i++;
        else if (!strcmp (a, "--allow") && v)
            allow = v, i++;
        else if (!strcmp (a, "--curve"))
            curve = true;
        else if (!strcmp (a, "--junk"))
            junk = true;
        else {
            s_usage ();
            return 2;
        }
    }
    /* never broadcast on an interface nobody chose */
    if (!iface || (!junk && id == 0) || !(timeout > 0) || interval <= 0 || period <= 0) {
        s_usage ();
        return 2;
    }
    zsys_set_interface (iface);
    if (junk)
        return s_run_junk (cluster, beacon_port, duration);

    int err = 0;
    mdl_mesh_cfg_t mc = { .bind = "tcp://0.0.0.0:0", .self = id, .curve = curve,
                          .cert = cert, .allow_dir = allow, .max_frame = 1 << 20 };
    mdl_mesh_t *mesh = mdl_mesh_new (&mc, &err);
    if (!mesh) {
        fprintf (stderr, "node_mesh: mesh: %s\n", mdl_strerror (err));
        return 1;
    }
    mdl_peer_info_t me = { .id = id, .port = mdl_mesh_port (mesh) };
    me.incarnation = ((uint64_t) zclock_time () << 20) ^ (uint64_t) getpid ();
    snprintf (me.pubkey, sizeof me.pubkey, "%s", mdl_mesh_pubkey (mesh));
    mdl_disc_cfg_t dc = { .kind = MDL_DISC_BEACON, .cluster = cluster, .iface = iface,
                          .beacon_port = beacon_port, .interval_ms = interval };
    mdl_discovery_t *disc = mdl_discovery_new (&dc, &me, &err);
    if (!disc) {
        fprintf (stderr, "node_mesh: discovery on %s: %s\n", iface, mdl_strerror (err));
        mdl_mesh_destroy (&mesh);
        return 1;
    }
    mdl_peers_t *peers = mdl_peers_new (id, timeout, S_MAX_PEERS, &err);
    if (!peers) {
        mdl_discovery_destroy (&disc);
        mdl_mesh_destroy (&mesh);
        return 1;
    }
    uint64_t chash = mdl_cluster_hash (cluster);
    printf ("START id=%s inc=%" PRIu64 " host=%s port=%u curve=%d pid=%d\n", s_hex (id),
            me.incarnation, mdl_discovery_host (disc), me.port, curve, (int) getpid ());

    zpoller_t *poller = zpoller_new (mdl_discovery_socket (disc), mdl_mesh_sub_socket (mesh), NULL);
    int64_t start = zclock_mono (), next = start, next_beacons_log = start;
    mdl_disc_stats_t last_ds = { 0 };
    uint64_t last_denied = 0, last_failed = 0, unknown = 0;
    uint8_t header[16];
    memcpy (header, &id, 8);
    memcpy (header + 8, &me.incarnation, 8);
    while (!zsys_interrupted && zclock_mono () - start < (int64_t) (duration * 1000)) {
        zpoller_wait (poller, 50);
        double now = zclock_mono () / 1000.0;
        mdl_peer_info_t found[32];
        size_t n = 0;
        mdl_peer_event_t ev;
        do {
            mdl_discovery_recv (disc, found, 32, &n);
            for (size_t i = 0; i < n; i++)
                if (mdl_peers_seen (peers, &found[i], now, &ev) == 0)
                    s_event (mesh, &ev);
        } while (n == 32);
        const void *f[4];
        size_t len[4], k;
        while (mdl_mesh_recv (mesh, f, len, 4, &k) == 0) {
            char type = len[0] ? ((const char *) f[0])[0] : 0;
            mdl_peer_info_t info;
            if (type == 'H' && k == 2
                && mdl_hello_unpack (f[1], len[1], chash, &info) == 0) {
                if (!mdl_peers_touch (peers, info.id, info.incarnation, now))
                    unknown++;
            }
            else if ((type == 'T' || type == 'U') && k == 3 && len[1] == 16) {
                uint64_t from, inc;
                memcpy (&from, f[1], 8);
                memcpy (&inc, (const uint8_t *) f[1] + 8, 8);
                if (!mdl_peers_touch (peers, from, inc, now)) {
                    unknown++;
                    continue;
                }
                s_seen_t *s = s_seen_get (from);
                if (s && type == 'T' && !s->got_t) {
                    s->got_t = true;
                    printf ("GOT T %s\n", s_hex (from));
                }
                if (s && type == 'U' && !s->got_u) {
                    s->got_u = true;
                    printf ("GOT U %s\n", s_hex (from));
                }
            }
        }
        if (zclock_mono () < next)
            continue;
        next += period;
        mdl_mesh_hello (mesh, &me, chash);
        uint64_t alive[S_MAX_PEERS];
        size_t na = mdl_peers_alive (peers, alive, S_MAX_PEERS);
        for (size_t i = 0; i < na && i < S_MAX_PEERS; i++) {
            char topic[18];
            mdl_mesh_topic (alive[i], topic);
            mdl_mesh_send (mesh, topic, 17, header, 16, NULL, 0, NULL, NULL);
        }
        mdl_mesh_send (mesh, "U", 1, header, 16, NULL, 0, NULL, NULL);
        mdl_peer_event_t evs[16];
        size_t ne = mdl_peers_expire (peers, now, evs, 16);
        for (size_t i = 0; i < ne; i++)
            s_event (mesh, &evs[i]);
        uint64_t mute[16];
        size_t nm = mdl_peers_mute (peers, now, mute, 16);
        for (size_t i = 0; i < nm; i++)
            printf ("MUTE %s\n", s_hex (mute[i]));
        mdl_mesh_check_auth (mesh);
        mdl_mesh_stats_t ms;
        mdl_mesh_stats (mesh, &ms);
        if (ms.auth_denied != last_denied)
            printf ("AUTH_DENIED n=%" PRIu64 "\n", last_denied = ms.auth_denied);
        if (ms.auth_failed != last_failed)
            printf ("AUTH_FAILED n=%" PRIu64 "\n", last_failed = ms.auth_failed);
        mdl_disc_stats_t ds;
        mdl_discovery_stats (disc, &ds);
        if ((ds.self != last_ds.self || ds.other_cluster != last_ds.other_cluster
             || ds.malformed != last_ds.malformed) && zclock_mono () >= next_beacons_log) {
            next_beacons_log = zclock_mono () + 1000; /* at most one line a second */
            printf ("BEACONS received=%" PRIu64 " self=%" PRIu64 " other_cluster=%" PRIu64
                    " malformed=%" PRIu64 "\n", ds.received, ds.self, ds.other_cluster,
                    ds.malformed);
            last_ds = ds;
        }
    }
    mdl_mesh_stats_t ms;
    mdl_mesh_stats (mesh, &ms);
    mdl_disc_stats_t ds;
    mdl_discovery_stats (disc, &ds);
    printf ("EXIT alive=%zu sent=%" PRIu64 " received=%" PRIu64 " dropped=%" PRIu64
            " refused=%" PRIu64 " unknown=%" PRIu64 " beacons=%" PRIu64 " malformed=%" PRIu64
            " other_cluster=%" PRIu64 "\n",
            mdl_peers_alive (peers, NULL, 0), ms.sent, ms.received, ms.send_dropped,
            ms.refused_keys, unknown, ds.received, ds.malformed, ds.other_cluster);
    zpoller_destroy (&poller);
    mdl_peers_destroy (&peers);
    mdl_discovery_destroy (&disc);
    mdl_mesh_destroy (&mesh);
    return 0;
}
