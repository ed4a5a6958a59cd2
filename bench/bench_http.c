/*  bench_http.c: what the agent's HTTP endpoint (--http, cli/http.c) costs per scrape.

      render   CPU time of rendering /metrics from a snapshot (the server thread's work
               beyond libmicrohttpd's own), per call, thread CPU clock
      scrape   process CPU time of whole GET /metrics exchanges over loopback TCP (the
               server thread's work and this client's: an upper bound of what a scrape
               costs the agent), per scrape

    A Prometheus scraping every second costs the agent one scrape per second of
    training: the fraction of its CPU is scrape / 1 s (bench/http.sh also measures it end
    to end on real agents). Prints one "http:" line of key=value pairs.

    usage: bench_http [--scrapes N] [--renders N] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent.h" /* the bounds of the agents' histograms */
#include "http.h"

static double
s_cpu (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double
s_thread_cpu (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
s_wall (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One GET /metrics over a new connection; returns the bytes received (0 on failure). */
static size_t
s_scrape (int port, char *buf, size_t cap)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    size_t len = 0;
    static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
    if (fd >= 0 && connect (fd, (struct sockaddr *) &a, sizeof a) == 0 && write (fd, req, sizeof req - 1) > 0) {
        ssize_t n;
        while ((n = read (fd, buf + len, cap - len)) > 0)
            len += (size_t) n;
    }
    if (fd >= 0)
        close (fd);
    return len;
}

int
main (int argc, char **argv)
{
    int scrapes = 2000, renders = 20000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--scrapes") && i + 1 < argc)
            scrapes = atoi (argv[++i]);
        else if (!strcmp (argv[i], "--renders") && i + 1 < argc)
            renders = atoi (argv[++i]);
        else {
            fprintf (stderr, "usage: bench_http [--scrapes N] [--renders N]\n");
            return 2;
        }
    }
    /* a snapshot like a running agent's: counters in the millions, every refusal reason,
       histograms filled */
    static mdl_http_stats_t st;
    st.steps = 123456;
    st.epoch = 12.345;
    st.loss = 0.3456;
    st.test_acc = 0.8812;
    st.evals = 24;
    st.bytes_sent = st.bytes_received = 123456789012.0;
    st.updates_applied = 987654;
    st.peers_alive = 7;
    for (size_t i = 0; mdl_agent_counter_name (i) && st.nreasons < MDL_HTTP_REASONS; i++)
        if (!strncmp (mdl_agent_counter_name (i), "rejected_", 9))
            st.reason[st.nreasons++] = mdl_agent_counter_name (i) + 9;
    mdl_http_hist_t *age = &st.update_age, *wait = &st.sync_wait;
    age->n = mdl_agent_age_nle;
    wait->n = mdl_agent_wait_nle;
    memcpy (age->le, mdl_agent_age_le, age->n * sizeof age->le[0]);
    memcpy (wait->le, mdl_agent_wait_le, wait->n * sizeof wait->le[0]);
    for (int i = 0; i < 100000; i++) {
        const double a = i % 7, w = (i % 100) * 1e-4;
        for (size_t b = 0; b < age->n; b++)
            age->cumulative[b] += a <= age->le[b];
        for (size_t b = 0; b < wait->n; b++)
            wait->cumulative[b] += w <= wait->le[b];
        age->count++, age->sum += a;
        wait->count++, wait->sum += w;
    }
    const mdl_status_t hs = { .agent = "0123456789abcdef", .state = "training", .peers = 7, .min_peers = 7,
                              .step = 123456, .epoch = 12.345, .shard = 3, .shards = 8 };
    const mdl_http_info_t info = { .agent = "0123456789abcdef", .cluster = "meshdl", .algo = "dpsgd", .mode = "sync",
                                   .codec = "fp32", .topology = "ring", .model = "mlp:784-256-128-10" };
    size_t len = 0;
    double t0 = s_thread_cpu ();
    for (int i = 0; i < renders; i++)
        free (mdl_http_render_metrics (&info, &st, &hs, 1.7e9, &len));
    const double render_us = (s_thread_cpu () - t0) / renders * 1e6;

    int err;
    char msg[256];
    mdl_http_t *h = mdl_http_new ("127.0.0.1:0", &info, &err, msg, sizeof msg);
    if (!h) {
        fprintf (stderr, "bench_http: %s\n", msg);
        return 1;
    }
    mdl_http_publish (h, &st, &hs);
    const int port = atoi (strrchr (mdl_http_url (h), ':') + 1);
    static char buf[1 << 20];
    size_t got = s_scrape (port, buf, sizeof buf); /* warm up */
    const double c0 = s_cpu (), w0 = s_wall ();
    int failed = 0;
    for (int i = 0; i < scrapes; i++)
        failed += s_scrape (port, buf, sizeof buf) == 0;
    const double cpu = s_cpu () - c0, wall = s_wall () - w0;
    mdl_http_destroy (&h);
    printf ("http: render_us=%.1f scrape_cpu_us=%.1f scrape_wall_us=%.1f metrics_bytes=%zu response_bytes=%zu "
            "scrapes=%d failed=%d overhead_at_1hz=%.5f%%\n",
            render_us, cpu / scrapes * 1e6, wall / scrapes * 1e6, len, got, scrapes, failed, cpu / scrapes * 100.0);
    return failed ? 1 : 0;
}
