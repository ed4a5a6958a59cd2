/*  cmd_top.c: `meshdl top`: a live view of a running cluster. It finds the agents as
    they find each other (discovery.h: beacons heard without announcing anything, a list
    of addresses, dns: names re-resolved) and reads each agent's GET /status (http.h:
    the agent runs with --http) once per --interval: id, state, step, epoch, loss, test
    accuracy, traffic per second, peers, the mean age of the states it mixes, and how
    long its sync rounds waited.

    On a terminal the table is redrawn in place and 'q' (or Ctrl-C) quits; otherwise
    (a pipe, a log) every refresh prints plain lines, one per agent, prefixed by the
    time. --once prints one table and exits: 0 when some agent answered, 1 when none.

    The HTTP client is a minimal HTTP/1.0 GET over non-blocking sockets polled all
    together, each request bounded by a deadline: it talks only to meshdl's own /status
    (libmicrohttpd, Content-Length, no redirects, no TLS), so a dead or slow agent costs
    one timeout per refresh, never a stall of the view. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "discopts.h"
#include "jsonflat.h"
#include "meshdl.h"
#include "report.h"
#include "signals.h"

#define S_AGENTS 256

static const char *s_usage =
    "usage: meshdl top (--peers HOST:PORT,... | --peers dns:NAME:PORT | --interface IF --http-port P)\n"
    "                  [--interval SEC] [--once | --count N]\n\n"
    "A live view of a running cluster: every --interval seconds, each agent's GET /status\n"
    "(agents run with --http ADDR:PORT): id, state, step, epoch, training loss, test\n"
    "accuracy, MB/s sent and received, live peers, the mean age in steps of the neighbour\n"
    "states it mixes (AGE), the time its sync rounds waited so far (WAIT) and the messages\n"
    "it refused (REFUSED: by reason in /metrics' meshdl_messages_rejected_total). Agents are\n"
    "found from --peers (their --http addresses HOST:PORT or http://HOST:PORT, and names\n"
    "dns:NAME:PORT whose every address is an agent, re-resolved every --dns-interval), or\n"
    "by listening to their beacons on --interface IF (each at its beacon's address and\n"
    "--http-port P; top itself announces nothing). On a terminal the table is redrawn in\n"
    "place and q quits; otherwise every refresh prints one line per agent. --once: one\n"
    "table, exit 0 when some agent answered, 1 when none. Bad options: one line, exit 2.";

typedef struct {
    char url[MDL_ENDPOINT_MAX];  /* http://ADDR:PORT, what is shown when it does not answer */
    struct sockaddr_storage sa;
    socklen_t salen;
    bool gone;                   /* withdrawn by its name */
    /* the request in flight */
    int fd;
    int phase;                   /* 0 idle, 1 connecting, 2 sending, 3 reading */
    char buf[8192];
    size_t len, sent;
    /* the last answer */
    bool ok;
    char err[96];
    mdl_jsonflat_t st;
    double t, bytes_out, bytes_in; /* for the rates */
    double rate_out, rate_in;
    bool have_rate;
} s_agent_t;

typedef struct {
    s_agent_t *a[S_AGENTS];
    int n;
    int http_port;               /* beacons: the agents' --http port */
    bool tty;
    struct termios saved;
    bool raw;
} s_top_t;

/* "tcp://ADDR:PORT" or "tcp://[ADDR]:PORT" (what discovery gives) into a socket address;
   ADDR may be a name (resolved here, once). port_override > 0 replaces PORT. */
static int
s_addr (const char *ep, int port_override, struct sockaddr_storage *sa, socklen_t *salen, char *url, size_t urllen)
{
    if (strncmp (ep, "tcp://", 6))
        return MDL_EINVAL;
    const char *h = ep + 6, *colon = strrchr (h, ':');
    if (!colon)
        return MDL_EINVAL;
    char host[256];
    size_t hl = (size_t) (colon - h);
    if (hl && h[0] == '[' && h[hl - 1] == ']')
        h++, hl -= 2;
    if (hl == 0 || hl >= sizeof host)
        return MDL_EINVAL;
    memcpy (host, h, hl);
    host[hl] = '\0';
    int port = port_override > 0 ? port_override : atoi (colon + 1);
    char ps[8];
    snprintf (ps, sizeof ps, "%d", port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
    struct addrinfo *res = NULL;
    if (getaddrinfo (host, ps, &hints, &res) || !res)
        return MDL_EINVAL;
    memcpy (sa, res->ai_addr, res->ai_addrlen);
    *salen = res->ai_addrlen;
    freeaddrinfo (res);
    snprintf (url, urllen, strchr (host, ':') ? "http://[%s]:%d" : "http://%s:%d", host, port);
    return 0;
}

static s_agent_t *
s_find (s_top_t *t, const char *url)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp (t->a[i]->url, url))
            return t->a[i];
    return NULL;
}

/* An endpoint from discovery: a new agent to watch (or one that came back). Returns
   MDL_EINVAL when its host does not resolve (a --peers entry naming no host). */
static int
s_add (s_top_t *t, const char *endpoint, bool beacon)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    char url[MDL_ENDPOINT_MAX];
    if (s_addr (endpoint, beacon ? t->http_port : 0, &sa, &salen, url, sizeof url))
        return MDL_EINVAL;
    s_agent_t *a = s_find (t, url);
    if (a) {
        a->gone = false;
        return 0;
    }
    if (t->n == S_AGENTS || !(a = calloc (1, sizeof *a)))
        return 0;
    snprintf (a->url, sizeof a->url, "%s", url);
    a->sa = sa;
    a->salen = salen;
    a->fd = -1;
    snprintf (a->err, sizeof a->err, "not asked yet");
    t->a[t->n++] = a;
    return 0;
}

static void
s_close (s_agent_t *a)
{
    if (a->fd >= 0)
        close (a->fd);
    a->fd = -1;
    a->phase = 0;
}

static void
s_fail (s_agent_t *a, const char *why)
{
    a->ok = false;
    snprintf (a->err, sizeof a->err, "%s", why);
    s_close (a);
}

static void
s_begin (s_agent_t *a)
{
    s_close (a);
    a->len = a->sent = 0;
    a->fd = socket (a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (a->fd < 0) {
        s_fail (a, strerror (errno));
        return;
    }
    if (connect (a->fd, (struct sockaddr *) &a->sa, a->salen) && errno != EINPROGRESS) {
        s_fail (a, strerror (errno));
        return;
    }
    a->phase = 1;
}

/* The body of a complete HTTP/1.0 answer in a->buf, parsed into a->st. */
static void
s_finish (s_agent_t *a, double now)
{
    a->buf[a->len < sizeof a->buf ? a->len : sizeof a->buf - 1] = '\0';
    int code = 0;
    const char *body = strstr (a->buf, "\r\n\r\n");
    if (sscanf (a->buf, "HTTP/%*d.%*d %d", &code) != 1 || !body) {
        s_fail (a, "not an HTTP answer");
        return;
    }
    if (code != 200) {
        char why[64];
        snprintf (why, sizeof why, "HTTP %d (is this an agent's --http?)", code);
        s_fail (a, why);
        return;
    }
    mdl_jsonflat_t st;
    if (mdl_jsonflat_parse (body + 4, &st)) {
        s_fail (a, "its /status is not JSON");
        return;
    }
    double out = 0, in = 0;
    mdl_jsonflat_num (&st, "bytes_sent", &out);
    mdl_jsonflat_num (&st, "bytes_received", &in);
    if (a->ok && now > a->t) {
        a->rate_out = (out - a->bytes_out) / (now - a->t);
        a->rate_in = (in - a->bytes_in) / (now - a->t);
        a->have_rate = true;
    }
    a->t = now;
    a->bytes_out = out;
    a->bytes_in = in;
    a->st = st;
    a->ok = true;
    s_close (a);
}

/* Advances a's request on the poll events ev. */
static void
s_step (s_agent_t *a, short ev, double now)
{
    if (a->phase == 1) {
        int e = 0;
        socklen_t l = sizeof e;
        getsockopt (a->fd, SOL_SOCKET, SO_ERROR, &e, &l);
        if (e) {
            s_fail (a, strerror (e));
            return;
        }
        a->phase = 2;
    }
    if (a->phase == 2) {
        static const char req[] = "GET /status HTTP/1.0\r\nAccept: application/json\r\n\r\n";
        ssize_t w = send (a->fd, req + a->sent, sizeof req - 1 - a->sent, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) {
            s_fail (a, strerror (errno));
            return;
        }
        a->sent += w > 0 ? (size_t) w : 0;
        if (a->sent == sizeof req - 1)
            a->phase = 3;
        return;
    }
    if (a->phase == 3 && (ev & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t r = recv (a->fd, a->buf + a->len, sizeof a->buf - 1 - a->len, 0);
        if (r < 0 && errno != EAGAIN) {
            s_fail (a, strerror (errno));
            return;
        }
        if (r > 0)
            a->len += (size_t) r;
        if (r == 0 || a->len == sizeof a->buf - 1)
            s_finish (a, now);
    }
}

/* Terminal: raw keys (q), restored at exit. */
static void
s_raw (s_top_t *t, bool on)
{
    if (on && !t->raw && tcgetattr (STDIN_FILENO, &t->saved) == 0) {
        struct termios r = t->saved;
        r.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
        r.c_cc[VMIN] = 0;
        r.c_cc[VTIME] = 0;
        t->raw = tcsetattr (STDIN_FILENO, TCSANOW, &r) == 0;
    } else if (!on && t->raw) {
        tcsetattr (STDIN_FILENO, TCSANOW, &t->saved);
        t->raw = false;
    }
}

/* Polls every request in flight (and the keyboard) until all are done or until. Returns
   true when q was pressed. */
static bool
s_wait (s_top_t *t, double until)
{
    for (;;) {
        struct pollfd p[S_AGENTS + 1];
        s_agent_t *who[S_AGENTS];
        int n = 0;
        for (int i = 0; i < t->n; i++) {
            s_agent_t *a = t->a[i];
            if (a->fd < 0)
                continue;
            p[n] = (struct pollfd) { .fd = a->fd, .events = a->phase == 3 ? POLLIN : POLLOUT };
            who[n++] = a;
        }
        const int nreq = n;
        if (t->raw)
            p[n++] = (struct pollfd) { .fd = STDIN_FILENO, .events = POLLIN };
        double left = until - mdl_cli_now ();
        if (left <= 0 || mdl_signals_stop ())
            break;
        if (n == 0) { /* nothing to watch: sleep out the interval (a signal cuts it short) */
            struct timespec ts = { (time_t) left, (long) ((left - (double) (time_t) left) * 1e9) };
            nanosleep (&ts, NULL);
            break;
        }
        int r = poll (p, (nfds_t) n, (int) (left * 1000) + 1);
        if (r < 0 && errno != EINTR)
            break;
        const double now = mdl_cli_now ();
        for (int i = 0; i < nreq; i++)
            if (p[i].revents)
                s_step (who[i], p[i].revents, now);
        if (t->raw && (p[nreq].revents & POLLIN)) {
            char c[16];
            ssize_t k = read (STDIN_FILENO, c, sizeof c);
            for (ssize_t i = 0; i < k; i++)
                if (c[i] == 'q' || c[i] == 'Q')
                    return true;
        }
    }
    for (int i = 0; i < t->n; i++)
        if (t->a[i]->fd >= 0)
            s_fail (t->a[i], "no answer in time");
    return false;
}

static const char *
s_str (const s_agent_t *a, const char *key, const char *dflt)
{
    const mdl_jsonflat_kv_t *kv = mdl_jsonflat_get (&a->st, key);
    return kv && !kv->is_num && !kv->is_null ? kv->str : dflt;
}

static double
s_num (const s_agent_t *a, const char *key)
{
    double v;
    return mdl_jsonflat_num (&a->st, key, &v) ? v : NAN;
}

/* One agent's row (no newline). */
static void
s_row (const s_agent_t *a, char *out, size_t len)
{
    if (!a->ok) {
        snprintf (out, len, "%-16.16s  %-9s %s: %s", "?", "no answer", a->url, a->err);
        return;
    }
    char acc[16], age[16], rate[32];
    double v = s_num (a, "test_acc");
    snprintf (acc, sizeof acc, isnan (v) ? "-" : "%.4f", v);
    v = s_num (a, "update_age_mean");
    snprintf (age, sizeof age, isnan (v) ? "-" : "%.1f", v);
    if (a->have_rate)
        snprintf (rate, sizeof rate, "%7.2f %7.2f", a->rate_out / 1e6, a->rate_in / 1e6);
    else
        snprintf (rate, sizeof rate, "%7s %7s", "-", "-");
    /* refusals (adversaries, misconfigured peers): the total, its reasons in the summary,
       /status and /metrics; "-" from an agent too old to count them */
    char rej[16];
    v = s_num (a, "updates_rejected");
    snprintf (rej, sizeof rej, isnan (v) ? "-" : "%.0f", v);
    snprintf (out, len, "%-16.16s  %-9.9s %8.0f %7.2f %8.4f %7s %s %5.0f/%-3.0f %6s %7.1f %7s", s_str (a, "agent", "?"),
              s_str (a, "state", "?"), s_num (a, "step"), s_num (a, "epoch"), s_num (a, "loss"), acc, rate,
              s_num (a, "peers"), s_num (a, "min_peers"), age, s_num (a, "sync_wait_s"), rej);
}

static int
s_cmp (const void *x, const void *y)
{
    const s_agent_t *a = *(s_agent_t *const *) x, *b = *(s_agent_t *const *) y;
    if (a->ok != b->ok)
        return a->ok ? -1 : 1;
    int c = strcmp (s_str (a, "agent", ""), s_str (b, "agent", ""));
    return c ? c : strcmp (a->url, b->url);
}

static const char *s_header = "AGENT             STATE         STEP   EPOCH     LOSS     ACC   MB/s\xe2\x86\x91   MB/s\xe2\x86\x93 PEERS/MIN    AGE    WAIT REFUSED";

static int
s_show (s_top_t *t, const char *source, double interval, const char *unresolved)
{
    s_agent_t *v[S_AGENTS];
    int n = 0, up = 0;
    for (int i = 0; i < t->n; i++)
        if (!t->a[i]->gone)
            v[n++] = t->a[i], up += t->a[i]->ok;
    qsort (v, (size_t) n, sizeof v[0], s_cmp);
    char row[512];
    if (t->tty) {
        printf ("\033[H\033[2J");
        printf ("meshdl top: %d agent%s (%d answering) from %s, every %g s; q quits\n\n%s\n", n, n == 1 ? "" : "s", up, source,
                interval, s_header);
        for (int i = 0; i < n; i++) {
            s_row (v[i], row, sizeof row);
            printf ("%s\n", row);
        }
        if (!n)
            printf ("(no agent found yet)\n");
        if (unresolved[0])
            printf ("not resolved (yet): %s\n", unresolved);
    } else {
        char ts[32];
        time_t now = time (NULL);
        strftime (ts, sizeof ts, "%H:%M:%S", localtime (&now));
        printf ("%s  %s\n", ts, s_header);
        for (int i = 0; i < n; i++) {
            s_row (v[i], row, sizeof row);
            printf ("%s  %s\n", ts, row);
        }
        if (!n)
            printf ("%s  (no agent found yet from %s)\n", ts, source);
        if (unresolved[0])
            printf ("%s  not resolved (yet): %s\n", ts, unresolved);
    }
    fflush (stdout);
    return up;
}

/* --peers of top name the agents' HTTP addresses (HOST:PORT, http://HOST:PORT,
   dns:NAME:PORT): written as tcp:// endpoints, the discovery back-ends read them like
   any other. Rewrites o->peers in place. 0, or MDL_EINVAL with err. */
static int
s_peers_as_tcp (mdl_discopts_t *o, char *err, size_t errlen)
{
    static char conv[MDL_STRLIST_MAX][1024];
    for (int i = 0; i < o->peers.n; i++) {
        size_t at = 0;
        const char *p = o->peers.v[i];
        for (;;) {
            const char *end = strchr (p, ',');
            size_t len = end ? (size_t) (end - p) : strlen (p);
            while (len && *p == ' ')
                p++, len--;
            while (len && p[len - 1] == ' ')
                len--;
            const char *entry = p, *pre = "tcp://";
            const size_t elen = len;
            if (len >= 4 && !strncmp (p, "dns:", 4))
                pre = "";
            else if (len >= 7 && !strncmp (p, "http://", 7))
                p += 7, len -= 7;
            char one[300];
            snprintf (one, sizeof one, "%s%.*s", pre, (int) (len < 280 ? len : 280), p);
            int w = snprintf (conv[i] + at, sizeof conv[i] - at, "%s%s", at ? "," : "", one);
            if (len > 280 || strchr (one, '#') || mdl_agent_cfg_check_peers (one, NULL) || w < 0
                || (size_t) w >= sizeof conv[i] - at) {
                snprintf (err, errlen, "meshdl top: --peers: '%.*s' is not HOST:PORT, http://HOST:PORT or dns:NAME:PORT (PORT 1-65535: an agent's --http)",
                          (int) (elen < 300 ? elen : 300), entry);
                return MDL_EINVAL;
            }
            at += (size_t) w;
            if (!end)
                break;
            p = end + 1;
        }
        o->peers.v[i] = conv[i];
    }
    return 0;
}

/* Takes what discovery found since the last call: new agents to watch, and agents
   withdrawn (DNS names that stopped listing them). Returns 0, or 2 when a --peers entry
   does not resolve (bad input). */
static int
s_poll (s_top_t *t, mdl_watch_t *w, int kind)
{
    int exit_code = 0;
    char got[64][MDL_ENDPOINT_MAX];
    size_t ng;
    do {
        ng = mdl_watch_found (w, got, 64);
        for (size_t i = 0; i < ng; i++)
            if (s_add (t, got[i], kind == MDL_DISCOPTS_BEACON) && kind != MDL_DISCOPTS_BEACON) {
                fprintf (stderr, "meshdl top: --peers: %s does not resolve to an address\n", got[i] + 6);
                exit_code = 2;
            }
    } while (ng == 64);
    if (exit_code)
        return exit_code;
    char gone[16][MDL_ENDPOINT_MAX];
    size_t nw;
    while ((nw = mdl_watch_withdrawn (w, gone, 16)) > 0)
        for (size_t i = 0; i < nw; i++) {
            struct sockaddr_storage sa;
            socklen_t sl;
            char url[MDL_ENDPOINT_MAX];
            s_agent_t *a = s_addr (gone[i], 0, &sa, &sl, url, sizeof url) ? NULL : s_find (t, url);
            if (a)
                a->gone = true;
        }
    return 0;
}

/* The refresh loop: discovery, then every agent asked for its status, then the table,
   every interval seconds, until q, a signal, --once or --count. Returns the exit status
   (--once: 1 when no agent answered). */
static int
s_watch (s_top_t *t, mdl_watch_t *w, int kind, const char *source, double interval, bool once,
         int count)
{
    int exit_code = 0, refreshes = 0;
    bool first = true;
    const double t_start = mdl_cli_now ();
    for (;;) {
        if ((exit_code = s_poll (t, w, kind)))
            break;
        const double start = mdl_cli_now ();
        for (int i = 0; i < t->n; i++)
            if (!t->a[i]->gone)
                s_begin (t->a[i]);
        /* answers within most of the interval (at most 2 s): the view never waits longer */
        bool quit = s_wait (t, start + (interval * 0.8 < 2 ? interval * 0.8 : 2));
        /* names and beacons: the first answers take a moment, and a first view without
           them says little: up to 5 s for every name to answer once (or an agent to be
           heard by beacon) */
        char unresolved[256];
        mdl_watch_unresolved (w, unresolved, sizeof unresolved);
        if (first && !quit && mdl_cli_now () - t_start < 5
            && (kind == MDL_DISCOPTS_DNS ? unresolved[0] != '\0' : kind == MDL_DISCOPTS_BEACON && t->n == 0))
            continue;
        if (first && t->n == 0 && kind == MDL_DISCOPTS_DNS && !quit) {
            first = false; /* the names answered, the agents not asked yet: one more round */
            continue;
        }
        first = false;
        const int up = s_show (t, source, interval, unresolved);
        refreshes++;
        if (quit || mdl_signals_stop () || (once && (exit_code = up ? 0 : 1, true)) || (count && refreshes >= count))
            break;
        if (s_wait (t, start + interval) || mdl_signals_stop ())
            break;
    }
    return exit_code;
}

/* The watch of the agents named by the options (mdl_discopts_apply'd): beacons on the
   interface, or the --peers list, of cluster. NULL + *rc, the reason in
   mdl_error_detail() where there is one. */
static mdl_watch_t *
s_watch_new (const mdl_discopts_t *o, const char *cluster, int *rc)
{
    mdl_agent_cfg_t *cfg = mdl_agent_cfg_new ();
    char port[16], interval[32];
    snprintf (port, sizeof port, "%d", o->beacon_port);
    snprintf (interval, sizeof interval, "%.3f", o->dns_interval_ms / 1000.0);
    mdl_watch_t *w = NULL;
    if (!cfg)
        *rc = MDL_ENOMEM;
    else if (!(*rc = mdl_agent_cfg_set (cfg, "cluster", cluster))
             && !(*rc = o->kind == MDL_DISCOPTS_BEACON ? mdl_agent_cfg_set (cfg, "interface", o->iface ? o->iface : "")
                                                       : mdl_agent_cfg_set (cfg, "peers", o->list))
             && !(*rc = mdl_agent_cfg_set (cfg, "beacon-port", port))
             && !(*rc = mdl_agent_cfg_set (cfg, "dns-interval", interval)))
        w = mdl_watch_new (cfg, rc);
    mdl_agent_cfg_destroy (&cfg);
    return w;
}

int
mdl_cmd_top (int argc, char **argv)
{
    mdl_discopts_t dopt;
    mdl_discopts_defaults (&dopt);
    int http_port = 0, count = 0;
    double interval = 1.0;
    bool once = false;
    const char *cluster = "meshdl";
    mdl_optdef_t defs[16];
    size_t n = 0;
    mdl_discopts_defs (&dopt, defs, &n, 16,
                       "the agents' --http addresses HOST:PORT (or http://HOST:PORT) and names dns:NAME:PORT (every "
                       "address of NAME an agent serving on PORT), comma-separated, repeatable");
    defs[n++] = (mdl_optdef_t) { .name = "http-port", .type = MDL_OPTT_INT, .dst = &http_port, .metavar = "P",
                                 .help = "with --interface: the port of the agents' --http", .min = 1, .max = 65535,
                                 .deflt = "" };
    defs[n++] = (mdl_optdef_t) { .name = "interval", .type = MDL_OPTT_DOUBLE, .dst = &interval, .metavar = "SEC",
                                 .help = "seconds between refreshes", .min = 0.1, .max = 3600 };
    defs[n++] = (mdl_optdef_t) { .name = "once", .type = MDL_OPTT_FLAG, .dst = &once, .help = "one table, then exit" };
    defs[n++] = (mdl_optdef_t) { .name = "count", .type = MDL_OPTT_INT, .dst = &count, .metavar = "N",
                                 .help = "exit after N refreshes", .min = 0, .max = 1e9,
                                 .deflt = "0: until q or Ctrl-C" };
    defs[n++] = (mdl_optdef_t) { .name = "cluster", .type = MDL_OPTT_STR, .dst = &cluster, .metavar = "NAME",
                                 .help = "with --interface: the agents' --cluster" };
    defs[n] = (mdl_optdef_t) { 0 };
    char err[1024] = "";
    int rc = mdl_opts_parse ("top", defs, argc, argv, err, sizeof err);
    if (rc == 1) {
        mdl_opts_help (stdout, s_usage, defs);
        return 0;
    }
    /* No MESHDL_* environment here: those are an agent's options (MESHDL_PEERS names its
       PUB endpoints, not the HTTP addresses top reads), and top often runs beside one
       (docker compose run ... agent top). */
    /* HOST:PORT and http://HOST:PORT entries are the agents' HTTP addresses: as tcp://
       endpoints, the discovery back-ends read them like any other. */
    if (rc == 0)
        rc = s_peers_as_tcp (&dopt, err, sizeof err);
    if (rc == 0 && (rc = mdl_discopts_apply (&dopt, "top", false, err, sizeof err)) == 0
        && dopt.kind == MDL_DISCOPTS_BEACON && !http_port) {
        snprintf (err, sizeof err, "meshdl top: with --interface, say which port the agents serve --http on: --http-port P");
        rc = MDL_EINVAL;
    }
    if (rc) {
        fprintf (stderr, "%s\n", err);
        return 2;
    }
    mdl_watch_t *w = NULL;
    if (!(w = s_watch_new (&dopt, cluster, &rc))) {
        fprintf (stderr, "meshdl top: cannot start %s: %s\n",
                 dopt.kind == MDL_DISCOPTS_BEACON ? "listening to beacons (is --interface right?)" : "discovery",
                 mdl_error_detail ()[0] ? mdl_error_detail () : mdl_strerror (rc));
        return 2;
    }
    /* a static entry whose host does not resolve is bad input, said now */
    char source[256];
    snprintf (source, sizeof source, "%.200s", dopt.kind == MDL_DISCOPTS_BEACON ? "beacons" : dopt.list);
    if (dopt.kind == MDL_DISCOPTS_BEACON)
        snprintf (source, sizeof source, "beacons on %.64s", dopt.iface ? dopt.iface : getenv ("ZSYS_INTERFACE"));
    else {
        char *s = source, *q;
        while ((q = strstr (s, "tcp://")))
            memmove (q, q + 6, strlen (q + 6) + 1), s = q;
    }
    mdl_signals_install ();
    s_top_t *t = calloc (1, sizeof *t);
    if (!t) {
        mdl_watch_destroy (&w);
        return 2;
    }
    t->http_port = http_port;
    t->tty = isatty (STDOUT_FILENO) && !once;
    if (t->tty && isatty (STDIN_FILENO))
        s_raw (t, true);
    const int exit_code = s_watch (t, w, dopt.kind, source, interval, once, count);
    s_raw (t, false);
    for (int i = 0; i < t->n; i++) {
        s_close (t->a[i]);
        free (t->a[i]);
    }
    free (t);
    mdl_watch_destroy (&w);
    return exit_code;
}
