/*  flood.c: a hostile peer, for measuring what a flood costs an honest agent (issue 16).
    Loopback only and bounded: it binds a PUB on 127.0.0.1 (nothing else is accepted),
    stops after --seconds (at most 600) or --count messages (at most 10^8), whichever
    comes first, and sends at most --rate messages a second (0 = as fast as it can).

    An honest `meshdl agent --peers tcp://127.0.0.1:PORT,...` that lists the flooder
    subscribes to it. The flooder then announces a real-looking peer (--id, with hellos
    every 0.1 s, so that it is a live peer whose lies go through every check) and cycles
    through what --modes names (all by default):

      fresh     hellos with fresh random ids, each once (fills nothing: probation)
      churn     a second identity (--id + 1) says goodbye and comes back with a new
                incarnation, again and again (a leave and a rejoin each time, if the
                agent let it: it backs off)
      oversize  a frame larger than any model, once, in the last half second (ZeroMQ
                drops the connection before buffering it, and does not reconnect after
                such a protocol error: the flooder is cut off for good, so it comes last)
      topics    messages on random topics (the SUB filters what is not ours)
      garbage   three frames of random bytes on the target's topic (refused: header)
      future    well-formed states of --id stamped far ahead (refused: step_ahead)
      replay    the same well-formed state again and again (refused: replay)

    Not in the default set (--modes sybil): hellos for 64 fixed fake ids, repeated. They
    join (at the join budget) and stay members, as any identity an insider claims does
    without CURVE (SECURITY.md): in sync mode every round then waits for them.

    The first second (at most a fifth of --seconds) only announces the flooder, so that
    the agent's subscriber, which retries its connects every 0.1 s, is connected before
    the flood starts (a PUB drops what it sends before that).

    Prints one JSON line at the end: messages sent per mode, seconds, its own CPU seconds. */
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "clock.h"
#include "err.h"
#include "rawpeer.h"
#include "rng.h"

enum { M_FRESH, M_SYBIL, M_CHURN, M_OVERSIZE, M_TOPICS, M_GARBAGE, M_FUTURE, M_REPLAY, M_N };
static const char *s_modes[M_N] = { "fresh", "sybil", "churn", "oversize", "topics", "garbage", "future", "replay" };

static void
s_usage (void)
{
    fprintf (stderr, "usage: flood --port P --to ID --d D [--id ID] [--cluster NAME] [--seconds S] [--count N] [--rate R]\n"
                     "             [--modes fresh,churn,oversize,topics,garbage,future,replay,sybil]\n"
                     "Binds tcp://127.0.0.1:P and floods the agent ID (model of D parameters) that subscribes to it.\n");
}

int
main (int argc, char **argv)
{
    int port = 0;
    uint64_t to = 0, id = 0xf100d, count = 1000000;
    size_t d = 0;
    double seconds = 10, rate = 0;
    const char *cluster = "meshdl", *modes = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp (k, "--port"))
            port = atoi (v);
        else if (!strcmp (k, "--to"))
            to = strtoull (v, NULL, 0);
        else if (!strcmp (k, "--id"))
            id = strtoull (v, NULL, 0);
        else if (!strcmp (k, "--d"))
            d = strtoull (v, NULL, 0);
        else if (!strcmp (k, "--cluster"))
            cluster = v;
        else if (!strcmp (k, "--seconds"))
            seconds = atof (v);
        else if (!strcmp (k, "--count"))
            count = strtoull (v, NULL, 0);
        else if (!strcmp (k, "--rate"))
            rate = atof (v);
        else if (!strcmp (k, "--modes"))
            modes = v;
        else {
            s_usage ();
            return 2;
        }
    }
    if (argc % 2 == 0 || port <= 0 || port > 65535 || !to || !d || d > 100000000 || !(seconds > 0 && seconds <= 600)
        || count == 0 || count > 100000000 || rate < 0) {
        s_usage ();
        fprintf (stderr, "flood: --port, --to and --d are needed; --seconds in (0, 600], --count in [1, 10^8]\n");
        return 2;
    }
    bool on[M_N];
    for (int m = 0; m < M_N; m++)
        on[m] = modes ? strstr (modes, s_modes[m]) != NULL : m != M_SYBIL;
    char bind[64];
    snprintf (bind, sizeof bind, "tcp://127.0.0.1:%d", port); /* loopback, never anything else */
    mdl_rawpeer_t *p = mdl_rawpeer_new (bind, cluster, d);
    if (!p) {
        fprintf (stderr, "flood: cannot bind %s\n", bind);
        return 2;
    }
    zsys_handler_set (NULL); /* SIGINT/SIGTERM end it the default way */
    mdl_rng_t rng;
    mdl_rng_seed (&rng, (uint64_t) getpid (), 0xf1);
    float *v = calloc (d, sizeof (float));
    const size_t big = d * sizeof (float) + (1u << 20);
    unsigned char *junk = malloc (big);
    for (size_t i = 0; i < big; i++)
        junk[i] = (unsigned char) mdl_rng_u64 (&rng);
    uint64_t sent[M_N] = { 0 }, total = 0, seq = (uint64_t) (mdl_wallclock () * 1e6), fake_inc = 1, own_inc = 1, churn_inc = 1, round = 1;
    const double t0 = mdl_now (), until = t0 + seconds;
    const double warmup = t0 + (seconds / 5 < 1 ? seconds / 5 : 1);
    double next_hello = 0;
    bool oversize_sent = false;
    mdl_wire_header_t h, replayed;
    mdl_rawpeer_header (p, id, ++seq, 1, &replayed);
    /* the state's payload, encoded once: the flood's cost is the bytes, not our encoder */
    size_t enc_len = 0;
    void *enc = malloc (d * sizeof (float) + 4096);
    if (!enc || mdl_rawpeer_encode (p, v, enc, d * sizeof (float) + 4096, &enc_len) != 0) {
        fprintf (stderr, "flood: cannot encode a state of %zu parameters\n", d);
        return 2;
    }
    replayed.payload_len = enc_len;
    int m = 0;
    while (total < count && mdl_now () < until) {
        const double now = mdl_now ();
        if (now >= next_hello) { /* the flooder itself stays a live peer */
            mdl_rawpeer_hello (p, id, own_inc);
            next_hello = now + 0.1;
        }
        if (now < warmup) {
            zclock_sleep (10);
            continue;
        }
        for (int k = 0; k < M_N && !on[m]; k++)
            m = (m + 1) % M_N;
        if (!on[m])
            break;
        switch (m) {
        case M_FRESH:
            mdl_rawpeer_hello (p, mdl_rng_u64 (&rng) | 1, 1);
            break;
        case M_SYBIL:
            mdl_rawpeer_hello (p, 0x5b10000 + mdl_rng_below (&rng, 64), fake_inc);
            break;
        case M_CHURN:
            mdl_rawpeer_bye (p, id + 1, churn_inc);
            mdl_rawpeer_hello (p, id + 1, ++churn_inc);
            break;
        case M_OVERSIZE: {
            if (oversize_sent || now < until - 0.5) { /* it costs the flooder its connection */
                m = (m + 1) % M_N;
                continue;
            }
            oversize_sent = true;
            char topic[MDL_WIRE_TOPIC_MAX + 1];
            size_t tl = mdl_wire_topic (to, topic);
            const void *fr[3] = { topic, junk, junk };
            const size_t ln[3] = { tl, 64, big };
            mdl_rawpeer_frames (p, fr, ln, 3);
            break;
        }
        case M_TOPICS: {
            char topic[24];
            snprintf (topic, sizeof topic, "%c%016llx", "TUXH"[mdl_rng_below (&rng, 4)],
                      (unsigned long long) mdl_rng_u64 (&rng));
            const void *fr[3] = { topic, junk, junk + 64 };
            const size_t ln[3] = { strlen (topic), 64, 256 };
            mdl_rawpeer_frames (p, fr, ln, 3);
            break;
        }
        case M_GARBAGE: {
            char topic[MDL_WIRE_TOPIC_MAX + 1];
            size_t tl = mdl_wire_topic (to, topic);
            const size_t at = (size_t) mdl_rng_below (&rng, big - 4096);
            const void *fr[3] = { topic, junk + at, junk + at + 200 };
            const size_t ln[3] = { tl, 1 + (size_t) mdl_rng_below (&rng, 200), (size_t) mdl_rng_below (&rng, 4096) };
            mdl_rawpeer_frames (p, fr, ln, 3);
            break;
        }
        case M_FUTURE:
            mdl_rawpeer_header (p, id, ++seq, (round += 1000003), &h);
            h.payload_len = enc_len;
            mdl_rawpeer_send (p, to, &h, enc, enc_len);
            break;
        case M_REPLAY:
            mdl_rawpeer_send (p, to, &replayed, enc, enc_len);
            break;
        }
        sent[m]++;
        total++;
        m = (m + 1) % M_N;
        if (rate > 0) {
            const double due = t0 + (double) total / rate;
            while (mdl_now () < due)
                zclock_sleep (1);
        }
    }
    const double took = mdl_now () - t0;
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru); /* the flooder's own CPU: it shares the machine with its target */
    const double cpu = (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double) ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    printf ("{\"flood\": {\"seconds\": %.2f, \"cpu_s\": %.2f, \"messages\": %llu", took, cpu, (unsigned long long) total);
    for (int k = 0; k < M_N; k++)
        printf (", \"%s\": %llu", s_modes[k], (unsigned long long) sent[k]);
    printf ("}}\n");
    free (v);
    free (enc);
    free (junk);
    mdl_rawpeer_destroy (&p);
    return 0;
}
