/*  bench_mesh.c: the broker-free layer's costs (run it through bench/mesh.sh, which
    builds a network namespace for it: it broadcasts beacons, so never run `discover` on
    the machine's own interfaces).

      bench_mesh discover --n N --iface IF [--timeout S]
          N agents in this process (one thread each: beacon discovery + peer table +
          mesh), started together; prints the time until each sees all N-1 others
          (median and max).
      bench_mesh throughput [--host IP] [--seconds S] [--sizes B,...] [--rounds N]
                            [--wait MS] [--wait-long MS] [--sndhwm N]
          large-message goodput through two meshes (mdl_mesh_send/recv, PUB/SUB over
          tcp://IP) against raw libzmq PUSH/PULL of the same sizes, HWMs, zero-copy sends,
          ZeroMQ context and transport. Each round runs the three senders once, in an order
          that rotates from round to round; the ratio mesh / raw is taken within a round
          (so load from other jobs, which moves both, cancels) and its median and
          interquartile range over the rounds are printed, as a markdown table, with the
          same for the ratio of CPU time per byte (raw's / the mesh's), which is what the
          goodput ratio becomes when the machine is CPU-bound and moves less with load. The mesh runs twice: with
          send_wait_ms = --wait (10, what an agent uses) and --wait-long (1000: longer than
          ZeroMQ takes to report room at these sizes, i.e. back-pressure like PUSH's).

    Goodput is payload bytes at the receiver between its first and last message. The
    senders send in a tight loop, zero-copy from one buffer. PUSH blocks at its HWM. The
    mesh waits up to send_wait_ms at a full queue, then drops for that subscriber; ZeroMQ
    then skips it, silently, until its reader has drained half the HWM (50 messages: 200
    MB at 4 MB), and mdl_mesh_send returns at once meanwhile. So at large sizes and 10 ms
    the sender hands over millions of messages of which a few hundred arrive: the
    "delivered" column shows it, and the CPU column what the spinning costs. */

#include "discovery.h"
#include "err.h"
#include "mesh.h"
#include "peers.h"

#include <czmq.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static int s_wait_ms = 10; /* --wait: the mesh's send_wait_ms in the first mesh column */
static int s_sndhwm = 100;  /* --sndhwm: the mesh's PUB and raw PUSH high-water mark */

static double
s_now (void)
{
    return zclock_usecs () / 1e6;
}

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

/* ---- discover ---------------------------------------------------------------- */

typedef struct {
    int n;
    uint64_t id;
    const char *iface;
    double timeout;
    pthread_barrier_t *ready;
    double *t0;          /* shared start time, written by the main thread */
    double seen_all;     /* seconds after t0 when all n-1 were alive; < 0: never */
    atomic_int *done;    /* agents finished (all seen or gave up) */
    int rc;
} s_agent_t;

static void *
s_agent (void *arg)
{
    s_agent_t *a = arg;
    a->seen_all = -1;
    char host_ep[64];
    snprintf (host_ep, sizeof host_ep, "tcp://0.0.0.0:0");
    mdl_mesh_cfg_t mc = { .bind = host_ep, .self = a->id };
    int err = 0;
    mdl_mesh_t *mesh = mdl_mesh_new (&mc, &err);
    mdl_peers_t *peers = mdl_peers_new (a->id, 5.0, 1024, &err);
    mdl_peer_info_t me = { .id = a->id, .incarnation = 1 };
    if (mesh)
        me.port = mdl_mesh_port (mesh);
    pthread_barrier_wait (a->ready);
    mdl_discovery_t *disc = NULL;
    if (mesh && peers) {
        mdl_disc_cfg_t dc = { .kind = MDL_DISC_BEACON, .cluster = "bench", .iface = a->iface };
        disc = mdl_discovery_new (&dc, &me, &err);
    }
    if (!disc) {
        a->rc = err ? err : MDL_ESOCKET;
        atomic_fetch_add (a->done, 1);
        mdl_peers_destroy (&peers);
        mdl_mesh_destroy (&mesh);
        return NULL;
    }
    zpoller_t *poller = zpoller_new (mdl_discovery_socket (disc), NULL);
    bool counted = false;
    /* keep beaconing until every agent is done, so late ones still hear us */
    while (atomic_load (a->done) < a->n && s_now () - *a->t0 < a->timeout) {
        zpoller_wait (poller, 50);
        mdl_peer_info_t found[64];
        size_t k;
        do {
            mdl_discovery_recv (disc, found, 64, &k);
            for (size_t i = 0; i < k; i++) {
                mdl_peer_event_t ev;
                if (mdl_peers_seen (peers, &found[i], s_now (), &ev) == 0
                    && ev.kind == MDL_PEER_JOIN)
                    mdl_mesh_connect (mesh, &ev.info);
            }
        } while (k == 64);
        if (!counted && mdl_peers_alive (peers, NULL, 0) == (size_t) (a->n - 1)) {
            a->seen_all = s_now () - *a->t0;
            counted = true;
            atomic_fetch_add (a->done, 1);
        }
    }
    if (!counted)
        atomic_fetch_add (a->done, 1);
    zpoller_destroy (&poller);
    mdl_discovery_destroy (&disc);
    mdl_peers_destroy (&peers);
    mdl_mesh_destroy (&mesh);
    return NULL;
}

static int
s_discover (int n, const char *iface, double timeout)
{
    if (n < 2 || n > 256 || !iface) {
        fprintf (stderr, "bench_mesh discover: --n 2..256 and --iface IF are required\n");
        return 2;
    }
    zsys_init ();
    zsys_set_max_sockets (0); /* n agents: 3 sockets and 1 beacon each */
    pthread_t *th = calloc ((size_t) n, sizeof *th);
    s_agent_t *ag = calloc ((size_t) n, sizeof *ag);
    pthread_barrier_t ready;
    pthread_barrier_init (&ready, NULL, (unsigned) n + 1);
    atomic_int done = 0;
    double t0 = 0;
    for (int i = 0; i < n; i++) {
        ag[i] = (s_agent_t) { .n = n, .id = (uint64_t) i + 1, .iface = iface, .timeout = timeout,
                              .ready = &ready, .t0 = &t0, .done = &done };
        pthread_create (&th[i], NULL, s_agent, &ag[i]);
    }
    t0 = s_now (); /* published to the agents by the barrier */
    pthread_barrier_wait (&ready);
    for (int i = 0; i < n; i++)
        pthread_join (th[i], NULL);
    double *t = calloc ((size_t) n, sizeof *t);
    int complete = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        if (ag[i].rc)
            failed++;
        if (ag[i].seen_all >= 0)
            t[complete++] = ag[i].seen_all;
    }
    qsort (t, (size_t) complete, sizeof *t, s_cmp_double);
    if (complete == n)
        printf ("discover n=%d: all agents saw all %d others; median %.3f s, max %.3f s\n", n,
                n - 1, t[n / 2], t[n - 1]);
    else
        printf ("discover n=%d: only %d of %d agents saw all others within %.0f s (%d failed to start)\n",
                n, complete, n, timeout, failed);
    pthread_barrier_destroy (&ready);
    free (t);
    free (ag);
    free (th);
    return complete == n ? 0 : 1;
}

/* ---- throughput -------------------------------------------------------------- */

typedef struct {
    void *sock;              /* raw: PULL socket; mesh: NULL */
    mdl_mesh_t *mesh;
    atomic_int *sender_done;
    atomic_int *warm;        /* mesh: the subscription is up */
    uint64_t bytes, msgs;    /* payload bytes and messages received */
    double first, last;
} s_rx_t;

typedef struct {
    double rate;             /* payload MB/s at the receiver, between its first and last message */
    double cpu;              /* seconds of CPU (all threads of the process) during the trial */
    uint64_t offered;        /* messages the sender handed over */
    uint64_t delivered;      /* messages the receiver got */
    uint64_t overflows;      /* mesh: overflow episodes (send_dropped) */
    uint64_t bytes;          /* payload bytes delivered */
} s_trial_t;

static void *
s_receiver (void *arg)
{
    s_rx_t *r = arg;
    r->first = r->last = 0;
    double quiet_since = 0;
    while (true) {
        bool got = false;
        if (r->mesh) {
            const void *f[4];
            size_t len[4], n;
            if (mdl_mesh_recv (r->mesh, f, len, 4, &n) == 0) {
                if (len[0] == 1 && ((const char *) f[0])[0] == 'H') {
                    atomic_store (r->warm, 1);
                    continue;
                }
                got = true;
                r->bytes += n > 2 ? len[2] : 0;
            }
            else {
                zmq_pollitem_t it = { zsock_resolve (mdl_mesh_sub_socket (r->mesh)), 0, ZMQ_POLLIN, 0 };
                zmq_poll (&it, 1, 20);
            }
        }
        else {
            zmq_msg_t m;
            zmq_msg_init (&m);
            if (zmq_msg_recv (&m, r->sock, ZMQ_DONTWAIT) >= 0) {
                got = true;
                r->bytes += zmq_msg_size (&m);
                zmq_msg_close (&m);
            }
            else {
                zmq_msg_close (&m);
                zmq_pollitem_t it = { r->sock, 0, ZMQ_POLLIN, 0 };
                zmq_poll (&it, 1, 20);
            }
        }
        double now = s_now ();
        if (got) {
            if (r->msgs++ == 0)
                r->first = now;
            r->last = now;
            quiet_since = 0;
        }
        else if (atomic_load (r->sender_done)) {
            if (quiet_since == 0)
                quiet_since = now;
            else if (now - quiet_since > 0.3)
                break;
        }
    }
    return NULL;
}

static double
s_cpu (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void
s_finish (s_trial_t *t, const s_rx_t *rx, double cpu0)
{
    t->cpu = s_cpu () - cpu0;
    t->delivered = rx->msgs;
    t->bytes = rx->bytes;
    t->rate = rx->msgs > 1 && rx->last > rx->first ? rx->bytes / (rx->last - rx->first) / 1e6 : 0.0;
}

/* Two meshes in this process (A publishes, B subscribes to A), as two agents would use
   them; the sender sends as fast as mdl_mesh_send returns. */
static int
s_trial_mesh (const char *host, size_t size, double seconds, void *buf, int wait_ms, s_trial_t *t)
{
    char ep[64];
    snprintf (ep, sizeof ep, "tcp://%s:0", host);
    mdl_mesh_cfg_t ca = { .bind = ep, .self = 1, .send_wait_ms = wait_ms,
                                 .sndhwm = s_sndhwm },
                   cb = { .bind = ep, .self = 2 };
    mdl_mesh_t *a = mdl_mesh_new (&ca, NULL), *b = mdl_mesh_new (&cb, NULL);
    if (!a || !b) {
        mdl_mesh_destroy (&a);
        mdl_mesh_destroy (&b);
        return -1;
    }
    mdl_peer_info_t ia = { .id = 1, .incarnation = 1, .port = mdl_mesh_port (a) };
    snprintf (ia.endpoint, sizeof ia.endpoint, "tcp://%s:%u", host, ia.port);
    mdl_mesh_connect (b, &ia);
    atomic_int done = 0, warm = 0;
    s_rx_t rx = { .mesh = b, .sender_done = &done, .warm = &warm };
    double cpu0 = s_cpu ();
    pthread_t th;
    pthread_create (&th, NULL, s_receiver, &rx);
    double deadline = s_now () + 5;
    while (!atomic_load (&warm) && s_now () < deadline) {
        mdl_mesh_hello (a, &ia, 0);
        zclock_sleep (10);
    }
    double end = s_now () + seconds;
    uint64_t header = 0;
    while (s_now () < end) {
        header++;
        /* zero-copy from a buffer that outlives the sends: no free_fn */
        mdl_mesh_send (a, "U", 1, &header, sizeof header, buf, size, NULL, NULL);
    }
    atomic_store (&done, 1);
    pthread_join (th, NULL);
    s_finish (t, &rx, cpu0);
    mdl_mesh_stats_t st;
    mdl_mesh_stats (a, &st);
    t->offered = header;
    t->overflows = st.send_dropped;
    mdl_mesh_destroy (&a);
    mdl_mesh_destroy (&b);
    return 0;
}

/* PUSH/PULL in the same ZeroMQ context as the meshes (CZMQ's: same I/O thread), same
   HWMs as the mesh's defaults, one zero-copy frame; PUSH blocks at its HWM (up to
   100 ms per send). */
static int
s_trial_raw (const char *host, size_t size, double seconds, void *buf, s_trial_t *t)
{
    void *ctx = zsys_init ();
    void *push = zmq_socket (ctx, ZMQ_PUSH), *pull = zmq_socket (ctx, ZMQ_PULL);
    int sndhwm = s_sndhwm, rcvhwm = 1000, linger = 0, timeout = 100;
    zmq_setsockopt (push, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm);
    zmq_setsockopt (pull, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    zmq_setsockopt (push, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (pull, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (push, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    char ep[64];
    snprintf (ep, sizeof ep, "tcp://%s:0", host);
    size_t len = sizeof ep;
    if (zmq_bind (pull, ep) != 0 || zmq_getsockopt (pull, ZMQ_LAST_ENDPOINT, ep, &len) != 0
        || zmq_connect (push, ep) != 0) {
        zmq_close (push);
        zmq_close (pull);
        return -1;
    }
    atomic_int done = 0;
    s_rx_t rx = { .sock = pull, .sender_done = &done };
    double cpu0 = s_cpu ();
    pthread_t th;
    pthread_create (&th, NULL, s_receiver, &rx);
    double end = s_now () + seconds;
    uint64_t offered = 0;
    while (s_now () < end) {
        zmq_msg_t m;
        zmq_msg_init_data (&m, buf, size, NULL, NULL);
        offered++;
        if (zmq_msg_send (&m, push, 0) < 0)
            zmq_msg_close (&m);
    }
    atomic_store (&done, 1);
    pthread_join (th, NULL);
    s_finish (t, &rx, cpu0);
    t->offered = offered;
    t->overflows = 0;
    zmq_close (push);
    zmq_close (pull);
    return 0;
}

static double
s_median (double *v, int n)
{
    qsort (v, (size_t) n, sizeof *v, s_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define S_MAX_ROUNDS 31
#define S_KINDS 3 /* raw, mesh at --wait, mesh at --wait-long */

static int
s_throughput (const char *host, double seconds, const char *sizes, int rounds, int wait_long)
{
    size_t maxsize = 0;
    size_t list[16];
    int n = 0;
    for (const char *p = sizes; *p && n < 16;) {
        char *end;
        unsigned long long v = strtoull (p, &end, 10);
        if (end == p || v == 0 || v > (64u << 20)) {
            fprintf (stderr, "bench_mesh: bad --sizes\n");
            return 2;
        }
        list[n++] = (size_t) v;
        maxsize = v > maxsize ? v : maxsize;
        p = *end == ',' ? end + 1 : end;
    }
    if (rounds < 1 || rounds > S_MAX_ROUNDS) {
        fprintf (stderr, "bench_mesh: --rounds 1..%d\n", S_MAX_ROUNDS);
        return 2;
    }
    void *buf = calloc (1, maxsize);
    if (!buf)
        return 1;
    zsys_init ();
    printf ("%d rounds of %.1f s per size and sender; each round runs raw, mesh wait=%d and mesh "
            "wait=%d in a rotating order; MB/s = payload goodput at the receiver (median); "
            "ratio = mesh / raw goodput of the same round, median [interquartile range]; "
            "CPU ratio = raw's CPU s per GB / the mesh's, same round (the goodput ratio when "
            "CPU-bound: it moves less with other jobs' load); delivered = messages received / "
            "handed to the sender (all rounds); CPU s/GB = process CPU s (all threads) per GB "
            "delivered, median\n\n",
            rounds, seconds, s_wait_ms, wait_long);
    printf ("| size | raw PUSH/PULL MB/s | mesh wait=%d MB/s | ratio | CPU ratio | delivered | "
            "mesh wait=%d MB/s | ratio | CPU ratio | delivered | CPU s/GB raw / wait=%d / "
            "wait=%d |\n",
            s_wait_ms, wait_long, s_wait_ms, wait_long);
    printf ("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    int rc = 0;
    uint64_t over[16] = { 0 };
    for (int i = 0; i < n; i++) {
        double rate[S_KINDS][S_MAX_ROUNDS], cpu[S_KINDS][S_MAX_ROUNDS];
        double ratio[2][S_MAX_ROUNDS], cratio[2][S_MAX_ROUNDS];
        uint64_t offered[S_KINDS] = { 0 }, delivered[S_KINDS] = { 0 }, overflows = 0;
        for (int r = 0; r < rounds; r++) {
            /* the order rotates so that no sender always runs first or after another;
               load from other jobs then hits all three alike */
            for (int k = 0; k < S_KINDS; k++) {
                int kind = (k + r) % S_KINDS;
                s_trial_t t = { 0 };
                int e = kind == 0 ? s_trial_raw (host, list[i], seconds, buf, &t)
                                  : s_trial_mesh (host, list[i], seconds, buf,
                                                  kind == 1 ? s_wait_ms : wait_long, &t);
                if (e != 0 || t.rate <= 0)
                    rc = 1;
                rate[kind][r] = t.rate;
                cpu[kind][r] = t.bytes ? t.cpu / (t.bytes / 1e9) : 0;
                offered[kind] += t.offered;
                delivered[kind] += t.delivered;
                if (kind == 1)
                    overflows += t.overflows;
            }
            for (int m = 0; m < 2; m++) {
                ratio[m][r] = rate[0][r] > 0 ? rate[m + 1][r] / rate[0][r] : 0;
                cratio[m][r] = cpu[m + 1][r] > 0 ? cpu[0][r] / cpu[m + 1][r] : 0;
            }
        }
        char label[32];
        if (list[i] >= (1u << 20))
            snprintf (label, sizeof label, "%zu MB", list[i] >> 20);
        else if (list[i] >= 1024)
            snprintf (label, sizeof label, "%zu KB", list[i] >> 10);
        else
            snprintf (label, sizeof label, "%zu B", list[i]);
        double med[S_KINDS], cmed[S_KINDS];
        for (int k = 0; k < S_KINDS; k++) {
            med[k] = s_median (rate[k], rounds);
            cmed[k] = s_median (cpu[k], rounds);
        }
        printf ("| %s | %.0f |", label, med[0]);
        for (int m = 0; m < 2; m++) {
            /* s_median sorts: quartiles are then read off the array */
            double rmed = s_median (ratio[m], rounds), cmed_r = s_median (cratio[m], rounds);
            int q1 = rounds / 4, q3 = (3 * rounds) / 4;
            printf (" %.0f | **%.0f%%** [%.0f-%.0f%%] | %.0f%% [%.0f-%.0f%%] | %llu / %llu |",
                    med[m + 1], 100 * rmed, 100 * ratio[m][q1], 100 * ratio[m][q3], 100 * cmed_r,
                    100 * cratio[m][q1], 100 * cratio[m][q3],
                    (unsigned long long) delivered[m + 1], (unsigned long long) offered[m + 1]);
        }
        printf (" %.2f / %.2f / %.2f |\n", cmed[0], cmed[1], cmed[2]);
        over[i] = overflows;
    }
    printf ("\nmesh wait=%d, overflow episodes (send_dropped) over all rounds:", s_wait_ms);
    for (int i = 0; i < n; i++)
        printf (" %zu B: %llu%s", list[i], (unsigned long long) over[i], i + 1 < n ? "," : "\n");
    free (buf);
    return rc;
}

int
main (int argc, char **argv)
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf (stderr, "usage: bench_mesh discover --n N --iface IF [--timeout S]\n"
                         "       bench_mesh throughput [--host IP] [--seconds S] [--sizes B,...]\n"
                         "                             [--rounds N] [--wait MS] [--wait-long MS]\n");
        return 2;
    }
    int n = 0, rounds = 5, wait_long = 1000;
    const char *iface = NULL, *host = "127.0.0.1", *sizes = "1024,65536,1048576,4194304";
    double timeout = 30, seconds = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp (argv[i], "--n"))
            n = atoi (argv[i + 1]);
        else if (!strcmp (argv[i], "--iface"))
            iface = argv[i + 1];
        else if (!strcmp (argv[i], "--timeout"))
            timeout = atof (argv[i + 1]);
        else if (!strcmp (argv[i], "--host"))
            host = argv[i + 1];
        else if (!strcmp (argv[i], "--seconds"))
            seconds = atof (argv[i + 1]);
        else if (!strcmp (argv[i], "--rounds"))
            rounds = atoi (argv[i + 1]);
        else if (!strcmp (argv[i], "--wait"))
            s_wait_ms = atoi (argv[i + 1]);
        else if (!strcmp (argv[i], "--sndhwm"))
            s_sndhwm = atoi (argv[i + 1]);
        else if (!strcmp (argv[i], "--wait-long"))
            wait_long = atoi (argv[i + 1]);
        else if (!strcmp (argv[i], "--sizes"))
            sizes = argv[i + 1];
        else {
            fprintf (stderr, "bench_mesh: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!(timeout > 0 && timeout <= 120 && seconds > 0 && seconds <= 30 && s_wait_ms >= 0
          && wait_long >= 0)) {
        fprintf (stderr, "bench_mesh: --timeout 0..120, --seconds 0..30, --wait/--wait-long >= 0\n");
        return 2;
    }
    int rc;
    if (!strcmp (argv[1], "discover"))
        rc = s_discover (n, iface, timeout);
    else if (!strcmp (argv[1], "throughput"))
        rc = s_throughput (host, seconds, sizes, rounds, wait_long);
    else {
        fprintf (stderr, "bench_mesh: unknown mode '%s'\n", argv[1]);
        rc = 2;
    }
    zsys_shutdown ();
    return rc;
}
