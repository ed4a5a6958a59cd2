/*  cmd_agent.c: `meshdl agent`: one agent in one process, finding its peers on a LAN by
    beacon (--interface), from a static list or from names (--peers), training on its shard and
    gossiping over TCP. What runs on each machine of a cluster and in each container. */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agentopts.h"
#include "cli.h"
#include "discopts.h"
#include "http.h"
#include "meshdl.h"
#include "reexec.h"
#include "report.h"
#include "signals.h"
#include "status.h"
#include "trainopts.h"

static const char *s_usage =
    "usage: meshdl agent (--interface IF | --peers tcp://HOST:PORT,... | --peers dns:NAME:PORT) [--shard I/N|auto] [options]\n\n"
    "One agent: trains on shard I of N of the training set (without --shard: on all of it, in\n"
    "an order of its own), finds its peers by UDP beacon on\n"
    "network interface IF (or from a list of their PUB endpoints, or from the addresses a name\n"
    "server gives for a name: a Swarm or Kubernetes service; a name that never resolves within\n"
    "--min-peers-timeout ends the run with exit 3), publishes its\n"
    "updates on a PUB socket and averages with its neighbours. SIGINT/SIGTERM end it cleanly:\n"
    "it stops, writes its checkpoint and its summary (last stdout line) and exits 0.\n"
    "--shard auto (identical replicas, e.g. docker compose --scale): once --min-peers K is\n"
    "met, the agent ranks the members (itself included) by agent id and trains on shard\n"
    "RANK of K+1; the choice is final for the run. --results DIR: metrics, checkpoint,\n"
    "summary and status go to DIR/<agent id>/; `meshdl status` reads the status.\n"
    "Every option can also be given as an environment variable MESHDL_<OPTION> (upper case,\n"
    "'-' as '_', e.g. MESHDL_TOPOLOGY=ring, MESHDL_CODEC=topk:0.01); the command line wins.";

typedef struct {
    int port;
    const char *shard;
    int min_peers;
    double min_peers_timeout;
    uint64_t id;
    const char *name;
    bool curve;
    const char *cert;
    const char *allow;
    const char *results; /* DIR: everything goes to DIR/<id>/ */
    const char *status;  /* health status file (meshdl status) */
    uint64_t checkpoint_every; /* > 0: a checkpoint every this many steps while training */
    const char *bootstrap;     /* peer | none */
    double linger;             /* seconds a finished agent may stay for its peers */
    const char *byzantine; /* --byzantine MODE[:ARG] */
    const char *http;    /* ADDR:PORT of /metrics and /status */
    double http_final;   /* seconds the server may stay for a scrape of the final counters */
} s_agentopts_t;

/* --http: the server every status written below also goes to (one agent per process). */
static mdl_http_t *s_http;

static int
s_parse_shard (const char *s, uint32_t *i, uint32_t *n)
{
    char *end;
    unsigned long a = strtoul (s, &end, 10);
    if (end == s || *end != '/')
        return MDL_EINVAL;
    const char *b = end + 1;
    unsigned long c = strtoul (b, &end, 10);
    if (end == b || *end || c == 0 || c > 65536 || a >= c)
        return MDL_EINVAL;
    *i = (uint32_t) a;
    *n = (uint32_t) c;
    return 0;
}

static uint64_t
s_default_id (const char *name)
{
    /* A name (hostname by default) hashed, mixed with the pid so two agents on one host
       differ; --id or --name make it stable across restarts. */
    char host[256] = "";
    if (!name) {
        gethostname (host, sizeof host - 1);
        uint64_t h = mdl_agent_id_of (host) ^ (uint64_t) getpid () * 0x9e3779b97f4a7c15ULL;
        return h ? h : 1;
    }
    return mdl_agent_id_of (name);
}

/* An agent's counters at one moment (mdl_agent_counters, or an evaluation's record),
   read by name. */
typedef struct {
    double v[MDL_HTTP_COUNTERS];
    size_t n;
} s_counters_t;

static void
s_counters_read (mdl_agent_t *agent, s_counters_t *c)
{
    c->n = mdl_agent_counters (agent, c->v, MDL_HTTP_COUNTERS);
    if (c->n > MDL_HTTP_COUNTERS)
        c->n = MDL_HTTP_COUNTERS;
}

static double
s_c (const s_counters_t *c, const char *name)
{
    return mdl_agentopts_counter (c->v, c->n, name);
}

static long long
s_ci (const s_counters_t *c, const char *name)
{
    return (long long) s_c (c, name);
}

/* Writes the health status to each path given (--status FILE, DIR/<id>/status.json).
   A status that cannot be written is not worth stopping training for: the health check
   then reports the agent unhealthy, which is the truth. */
static void
s_status_write (const char *const paths[2], const mdl_status_t *st)
{
    for (int k = 0; k < 2; k++)
        if (paths[k])
            mdl_status_write (paths[k], st);
    if (s_http)
        mdl_http_publish (s_http, NULL, st);
}

/* Hands --http's server the agent's counters, read through the public API. */
static void
s_http_publish (mdl_agent_t *agent)
{
    if (!s_http)
        return;
    static mdl_http_stats_t hst; /* large; the main thread's only */
    mdl_http_stats_read (agent, &hst);
    mdl_http_publish (s_http, &hst, NULL);
}

/* Writes the JSON line of j to path atomically (path.tmp, then rename). 0 or MDL_EIO. */
static int
s_json_save (const char *path, mdl_json_t *j)
{
    char tmp[4300];
    snprintf (tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen (tmp, "w");
    if (!f)
        return MDL_EIO;
    bool ok = fwrite (j->buf, 1, j->len, f) == j->len && fputc ('\n', f) != EOF;
    if (fclose (f) != 0 || !ok || rename (tmp, path) != 0) {
        unlink (tmp);
        return MDL_EIO;
    }
    return 0;
}

/* Where the agent's evaluations go: metrics lines, the progress line, --target-acc. */
typedef struct {
    FILE *metrics;
    const char *run;
    const char *agent;     /* id, 16 hex digits */
    mdl_progress_t *prog;
    bool quiet;
    double target_acc;
} s_evout_t;

/* Writes the evaluations the agent made since the seen-th (its records: each at the step
   it evaluated, with the counters of then), and notes when --target-acc was first met
   (seconds after t0_wall, into *t_target). Returns the number seen now. */
static uint64_t
s_agent_evals (mdl_agent_t *agent, const s_evout_t *o, uint64_t seen, double t0_wall, double *t_target)
{
    static s_counters_t e; /* large; the main thread's only */
    s_counters_read (agent, &e);
    const uint64_t upto = (uint64_t) s_c (&e, "evals");
    char from[40];
    mdl_agent_started_from (agent, from, sizeof from);
    for (uint64_t k = seen + 1; k <= upto; k++) {
        if (mdl_agent_eval_counters (agent, k, e.v, MDL_HTTP_COUNTERS, &e.n))
            continue; /* overwritten: more than 16 since the last look */
        e.n = e.n < MDL_HTTP_COUNTERS ? e.n : MDL_HTTP_COUNTERS;
        const double at = s_c (&e, "eval_time") - t0_wall, acc = s_c (&e, "test_acc");
        const bool final = s_c (&e, "eval_final") != 0;
        if (o->target_acc > 0 && isnan (*t_target) && acc >= o->target_acc)
            *t_target = at;
        if (o->metrics) {
            mdl_json_t j;
            mdl_json_begin (&j);
            mdl_json_num (&j, "time", s_c (&e, "eval_time"));
            mdl_json_num (&j, "elapsed_s", at);
            mdl_json_str (&j, "run", o->run);
            mdl_json_str (&j, "agent", o->agent);
            mdl_json_int (&j, "step", s_ci (&e, "eval_step"));
            mdl_json_num (&j, "epoch", s_c (&e, "epoch"));
            mdl_json_num (&j, "train_loss", s_c (&e, "loss"));
            mdl_json_num (&j, "test_acc", acc);
            mdl_json_num (&j, "test_loss", s_c (&e, "test_loss"));
            mdl_json_num (&j, "disagreement", s_c (&e, "disagreement"));
            mdl_agentopts_json_counters (&j, e.v, e.n);
            mdl_json_int (&j, "global_averages", s_ci (&e, "global_averages"));
            mdl_json_int (&j, "live_peers", s_ci (&e, "peers_alive"));
            mdl_json_int (&j, "eval_rows", s_ci (&e, "eval_rows"));
            mdl_json_bool (&j, "final", final);
            mdl_json_str (&j, "start_from", from);
            mdl_json_int (&j, "start_step", s_ci (&e, "start_step"));
            mdl_json_end (&j, o->metrics);
        }
        if (!o->quiet) {
            mdl_progress_show (o->prog, true, "epoch %.2f  test acc %.4f  loss %.4f  peers %llu%s", s_c (&e, "epoch"), acc,
                               s_c (&e, "test_loss"), (unsigned long long) s_c (&e, "peers_alive"),
                               final ? "  (final)" : "");
            mdl_progress_end (o->prog);
        }
    }
    return upto;
}

/* --shard auto: waits (polling signals, keeping the status) until k peers are here,
   ranks the members by id and gives the agent shard RANK of k+1. The choice is final:
   a member that leaves later leaves its shard untrained, and one that joins later ranks
   among more than k+1 members and shares a shard (RANK mod k+1). Returns true when the
   agent may start; false when it gave up (msg says why) or a signal came. */
static bool
s_shard_auto (mdl_agent_t *agent, uint64_t id, const mdl_partition_t *part, int k, double timeout, uint64_t seed,
              mdl_status_t *hs, const char *const paths[2], char *msg, size_t len)
{
    const double until = mdl_cli_now () + timeout;
    double last = -1;
    char idb[17];
    mdl_cli_id_str (id, idb);
    hs->state = "waiting";
    while (mdl_agent_wait_peers (agent, k, 0.25) != 0) {
        uint64_t ids[1];
        size_t n = mdl_agent_members (agent, ids, 0);
        hs->peers = n ? n - 1 : 0;
        if (mdl_signals_stop ())
            return false;
        if (mdl_cli_now () >= until) {
            char unresolved[256];
            if (mdl_agent_unresolved (agent, unresolved, sizeof unresolved))
                snprintf (msg, len, "only %llu of the %d peers required (--min-peers %d) appeared within %.0f s; never resolved: %s",
                          (unsigned long long) hs->peers, k, k, timeout, unresolved);
            else
                snprintf (msg, len, "only %llu of the %d peers required (--min-peers %d) appeared within %.0f s: "
                          "with N agents, --min-peers must be at most N-1",
                          (unsigned long long) hs->peers, k, k, timeout);
            fprintf (stderr, "agent %s: %s\n", idb, msg);
            return false;
        }
        if (mdl_cli_now () - last >= 1.0) {
            last = mdl_cli_now ();
            s_status_write (paths, hs);
        }
    }
    uint64_t ids[1025];
    size_t n = mdl_agent_members (agent, ids, sizeof ids / sizeof ids[0]);
    if (n > sizeof ids / sizeof ids[0])
        n = sizeof ids / sizeof ids[0];
    size_t rank = 0;
    while (rank < n && ids[rank] != id)
        rank++;
    const uint32_t shards = (uint32_t) k + 1, i = (uint32_t) (rank % shards);
    size_t cnt = 0;
    const uint32_t *rows = mdl_partition_shard (part, i, &cnt);
    int rc = mdl_agent_set_shard (agent, rows, cnt, seed * 1000003ULL + i);
    if (rc) {
        snprintf (msg, len, "--shard auto: cannot train on shard %u/%u: %s", i, shards, mdl_strerror (rc));
        fprintf (stderr, "agent %s: %s\n", idb, msg);
        return false;
    }
    hs->shard = i;
    hs->peers = n - 1;
    fprintf (stderr, "agent %s: --shard auto: rank %zu of %zu members by id: shard %u/%u (%zu rows)%s\n", idb, rank, n, i,
             shards, cnt, n > shards ? "; more members than --min-peers + 1, so some share a shard" : "");
    return true;
}

/* Whether TCP port is taken on this host: a listening socket holds it (what the PUB's
   bind would run into). */
static bool
s_port_in_use (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    int one = 1;
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* as ZeroMQ does */
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port), .sin_addr.s_addr = htonl (INADDR_ANY) };
    bool used = bind (fd, (struct sockaddr *) &sa, sizeof sa) != 0 && errno == EADDRINUSE;
    close (fd);
    return used;
}

/* The network options, before the data loads: the port (--peers entries and the
   interface: mdl_discopts_apply). 0 or MDL_EINVAL with a line naming what to change. */
static int
s_check_network (const s_agentopts_t *so, char *err, size_t errlen)
{
    if (so->port > 0 && s_port_in_use (so->port)) {
        snprintf (err, errlen, "meshdl agent: --port %d: cannot bind tcp://*:%d: address in use (another agent on this port? "
                               "choose another --port, or 0 for any free port)", so->port, so->port);
        return MDL_EINVAL;
    }
    return 0;
}


/* One run of `meshdl agent`: its options, what it built, what it reports. The steps of
   mdl_cmd_agent below each take it: options, build, train (monitor), report, clean up. */
typedef struct {
    mdl_trainopts_t to;
    mdl_agentopts_t ao;
    s_agentopts_t so;
    mdl_discopts_t dopt;
    mdl_optdef_t defs[128];
    void *cfgkeep;           /* --config strings, freed at the end */
    mdl_agent_cfg_t *cfg;    /* mdl_agent_cfg_new */
    mdl_part_spec_t pspec;
    bool model_parallel;     /* the algorithm splits the unknowns, not the rows */
    uint64_t id;
    mdl_ckpt_image_t *resume; /* --resume, read and checked before anything starts */
    uint32_t shard_i, shard_n;
    bool shard_auto;
    mdl_dataset_t *train, *test;
    mdl_partition_t *part;
    mdl_agent_t *agent;
    FILE *logf, *metrics;
    size_t rows;             /* the shard's */
    const uint32_t *shard_rows; /* ... (NULL: all of them) */
    size_t eval_rows;        /* test rows of the evaluations while training */
    char bind[128], prefix[64], idb[17], rdir[4096];
    char ckpt_path[4200], metrics_path[4200], status_path[4200], summary_path[4200];
    const char *status_paths[2];
    mdl_status_t hs;         /* the health status */
    char hs_msg[512];
    bool started;
    bool dns_failed;         /* a --peers dns:NAME never resolved within --min-peers-timeout */
    double t0, t0_wall, t_target;
    double startup_s;        /* exec to ready: data loaded, sockets bound */
    double startup_cpu_s;    /* ... the CPU seconds of it (all threads) */
    char cache_dir[4200];    /* --results DIR: DIR/.data-cache */
    mdl_progress_t prog;     /* the progress line; event lines are printed above it */
    s_evout_t ev;            /* where evaluations go */
    s_counters_t st;         /* the agent's counters, last read */
    int error;               /* why the agent stopped (its "error" counter), or the run's */
} s_run_t;

/* The option table of `meshdl agent`: its own options, then the training and
   decentralized ones, with their defaults. */
/* What this command says differently of the options it shares. */
static const mdl_optnote_t s_notes[] = {
    { "shard", "all rows, in an order of the agent's own", NULL },
    { "checkpoint", NULL, "write the agent's model and optimizer state at the end (also on SIGINT/SIGTERM), atomically" },
    { "resume", NULL, "restart from a checkpoint of this agent (parameters, optimizer and algorithm state, step, data position), then rejoin" },
};

static void
s_agent_defs (s_run_t *t)
{
    mdl_trainopts_defaults (&t->to);
    mdl_agentopts_defaults (&t->ao);
    t->so = (s_agentopts_t) { .port = 0, .min_peers = 0, .min_peers_timeout = 60, .bootstrap = "peer", .linger = 10, .http_final = 2 };
    mdl_discopts_defaults (&t->dopt);
    t->to.batch = 16;
    s_agentopts_t *so = &t->so;
    mdl_optdef_t *defs = t->defs;
    size_t n = 0;
#define A(nm, ty, ptr, mv, hl, lo, hi) \
    defs[n++] = (mdl_optdef_t) { .name = nm, .type = ty, .dst = ptr, .metavar = mv, .help = hl, .min = lo, .max = hi }
    mdl_discopts_defs (&t->dopt, defs, &n, sizeof t->defs / sizeof t->defs[0],
                       "peers without beacons, comma-separated, repeatable: PUB endpoints tcp://HOST:PORT (with --curve: "
                       "tcp://HOST:PORT#KEY, the peer's Z85 public key) and names dns:NAME:PORT (every A/AAAA address of "
                       "NAME, e.g. dns:tasks.agent:7000, re-resolved every --dns-interval; this agent's own is skipped)");
    A ("port", MDL_OPTT_INT, &so->port, "P", "TCP port of this agent's PUB socket (0 = any free port)", 0, 65535);
    A ("shard", MDL_OPTT_STR, &so->shard, "I/N|auto", "train on shard I of N (0 <= I < N) of the training set; auto: rank by id among the K+1 members once --min-peers K is met", 0, 0);
    A ("min-peers", MDL_OPTT_INT, &so->min_peers, "K", "wait for K peers before the first step", 0, 1024);
    A ("min-peers-timeout", MDL_OPTT_DOUBLE, &so->min_peers_timeout, "SEC", "how long to wait for them", 0.1, 86400);
    A ("id", MDL_OPTT_U64, &so->id, "N", "agent id (default: from --name, else host name and pid)", 1, 18446744073709551615.0);
    A ("name", MDL_OPTT_STR, &so->name, "NAME", "stable agent name; its hash is the id", 0, 0);
    A ("curve", MDL_OPTT_FLAG, &so->curve, NULL, "CURVE security: encrypt and authenticate (needs --cert and --allow)", 0, 0);
    A ("cert", MDL_OPTT_STR, &so->cert, "FILE", "this agent's secret certificate (meshdl keygen)", 0, 0);
    A ("allow", MDL_OPTT_STR, &so->allow, "DIR", "directory of the public certificates allowed in the cluster", 0, 0);
    A ("results", MDL_OPTT_STR, &so->results, "DIR", "write metrics.jsonl, checkpoint.ckpt, summary.json and status.json to DIR/<agent id>/ (DIR must exist)", 0, 0);
    A ("status", MDL_OPTT_STR, &so->status, "FILE", "keep a health status in FILE, rewritten every second (read by meshdl status)", 0, 0);
    A ("checkpoint-every", MDL_OPTT_U64, &so->checkpoint_every, "N", "also write the checkpoint every N steps while training, atomically (to --checkpoint FILE, or DIR/<agent id>/checkpoint.ckpt with --results; 0: only at the end)", 0, 1e12);
    A ("bootstrap", MDL_OPTT_STR, &so->bootstrap, "peer|none", "a fresh agent (no --resume) joining a cluster that trains already starts from a snapshot of the live peer with the highest step (peer), or from its own initial model (none)", 0, 0);
    A ("linger", MDL_OPTT_DOUBLE, &so->linger, "SEC", "after its last step, stay a member (out of everyone's rounds, serving snapshots) while live peers still train or one that vanished without a goodbye in the last SEC seconds may come back, SEC seconds at most (0: leave at once)", 0, 86400);
    A ("byzantine", MDL_OPTT_STR, &so->byzantine, "MODE", "this agent lies, to test defences: scale:K | noise:SIGMA | zero | stale:S | alie:Z | future:K (see SECURITY.md)", 0, 0);
    A ("http", MDL_OPTT_STR, &so->http, "ADDR:PORT", "serve GET /metrics (Prometheus) and /status (JSON) on ADDR:PORT, e.g. 0.0.0.0:9100, 127.0.0.1:0 (any free port), [::]:9100", 0, 0);
    A ("http-final", MDL_OPTT_DOUBLE, &so->http_final, "SEC", "with --http: at the end, keep serving until a GET /metrics has read the final counters (status done or failed) and requests stopped for 0.5 s, SEC seconds at most (0: exit at once; a short run can end between two scrapes)", 0, 3600);
#undef A
    mdl_agentopts_table (&t->to, &t->ao, defs, &n, sizeof t->defs / sizeof t->defs[0]);
    mdl_opts_notes (defs, s_notes, sizeof s_notes / sizeof s_notes[0]);
}


/* The table with its defaults noted, for MESHDL_* and --help (cli.h). */
const mdl_optdef_t *
mdl_cmd_agent_options (void)
{
    static s_run_t probe;
    s_agent_defs (&probe);
    return mdl_opts_noted (probe.defs);
}

/* The agent-only options' rules: the shard, the results directory, CURVE's files. 0 or
   MDL_EINVAL with the message in err. */
static int
s_check_agent_opts (s_run_t *r, char *err, size_t errlen)
{
    const s_agentopts_t *so = &r->so;
    struct stat sb;
    r->shard_auto = so->shard && !strcmp (so->shard, "auto");
    if (r->shard_auto)
        r->shard_n = (uint32_t) so->min_peers + 1;
    if (r->shard_auto && so->min_peers < 1)
        snprintf (err, errlen, "meshdl agent: --shard auto needs --min-peers K >= 1 (the agents split the data in K+1 shards)");
    else if (so->shard && !r->shard_auto && s_parse_shard (so->shard, &r->shard_i, &r->shard_n))
        snprintf (err, errlen, "meshdl agent: --shard '%s' must be I/N with 0 <= I < N, or auto", so->shard);
    else if (so->results && (stat (so->results, &sb) != 0 || !S_ISDIR (sb.st_mode) || access (so->results, W_OK | X_OK)))
        snprintf (err, errlen, "meshdl agent: --results %s is not a writable directory (create it, or mount a volume there)",
                  so->results);
    else if (so->curve && (!so->cert || !so->allow))
        snprintf (err, errlen, "meshdl agent: --curve needs --cert FILE (from meshdl keygen) and --allow DIR");
    else if (so->curve && (access (so->allow, R_OK | X_OK) || access (so->cert, R_OK))) {
        const bool allow = access (so->allow, R_OK | X_OK) != 0;
        snprintf (err, errlen, "meshdl agent: --curve: %s %s is missing or unreadable", allow ? "--allow" : "--cert",
                  allow ? so->allow : so->cert);
    } else
        return 0;
    return MDL_EINVAL;
}

/* What the agent is and how it joins: --byzantine, --isolated, a model-parallel
   algorithm's rows, --http's address, discovery (mdl_discopts_apply: --interface,
   --peers), --bootstrap, --checkpoint-every. 0 or MDL_EINVAL with the message in err. */
static int
s_check_roles (s_run_t *r, char *err, size_t errlen)
{
    const s_agentopts_t *so = &r->so;
    const mdl_agentopts_t *ao = &r->ao;
    char mp[16], hhost[256];
    int hport;
    /* known: mdl_agentopts_apply refused an unknown algorithm */
    r->model_parallel = mdl_algo_info (ao->algo, "model-parallel", mp, sizeof mp) == 0 && !strcmp (mp, "true");
    if (so->byzantine && mdl_agent_cfg_set (r->cfg, "byzantine", so->byzantine))
        snprintf (err, errlen, "meshdl agent: %s", mdl_error_detail ());
    else if (ao->isolated && (r->dopt.iface || r->dopt.peers.n || so->min_peers || r->shard_auto))
        snprintf (err, errlen, "meshdl agent: --isolated trains alone: no --interface, --peers, --min-peers or --shard auto");
    else if (r->model_parallel && so->shard)
        snprintf (err, errlen, "meshdl agent: --algo %s splits the unknowns, not the rows: every agent trains on all of "
                  "them (no --shard)", ao->algo);
    else if (!so->http && mdl_opts_given (r->defs, "http-final"))
        snprintf (err, errlen, "meshdl agent: --http-final needs --http ADDR:PORT (it keeps that server up at the end)");
    else if (so->http && mdl_http_parse_addr (so->http, hhost, sizeof hhost, &hport))
        snprintf (err, errlen, "meshdl agent: --http '%s' must be ADDR:PORT with PORT 0-65535 (e.g. 0.0.0.0:9100, "
                  "127.0.0.1:0, [::1]:9100, :9100)", so->http);
    else if (!ao->isolated && mdl_discopts_apply (&r->dopt, "agent", so->curve, err, errlen))
        return MDL_EINVAL;
    else if (strcmp (so->bootstrap, "peer") && strcmp (so->bootstrap, "none"))
        snprintf (err, errlen, "meshdl agent: --bootstrap '%s' must be peer or none", so->bootstrap);
    else if (so->checkpoint_every && !r->to.checkpoint && !so->results)
        snprintf (err, errlen, "meshdl agent: --checkpoint-every needs a place for the checkpoint: --results DIR or "
                  "--checkpoint FILE");
    else
        return 0;
    return MDL_EINVAL;
}

/* --resume: the file is read and checked before anything starts (its model and
   algorithm once the agent exists, s_build); a bad one is one line and exit 2. */
static int
s_load_resume (s_run_t *r, char *err, size_t errlen)
{
    int rc = 0;
    char why[512];
    if (!r->to.resume)
        return 0;
    if (!(r->resume = mdl_ckpt_image_load (r->to.resume, &rc)))
        snprintf (err, errlen, "meshdl agent: --resume %s: %s", r->to.resume, mdl_strerror (rc));
    else if ((rc = mdl_agent_resume_check (r->cfg, r->resume, why, sizeof why)))
        snprintf (err, errlen, "meshdl agent: --resume %s: %s", r->to.resume, why);
    return rc;
}

/* Parses and checks every option. Returns 0, 1 (--help printed) or an error code with a
   one-line message in err. */
static int
s_options (s_run_t *r, int argc, char **argv, char *err, size_t errlen)
{
    s_agent_defs (r);
    r->shard_i = 0;
    r->shard_n = 1;
    if (!(r->cfg = mdl_agent_cfg_new ())) {
        snprintf (err, errlen, "meshdl agent: out of memory");
        return MDL_ENOMEM;
    }
    int rc = mdl_agentopts_setup ("agent", s_usage, r->defs, &r->to, &r->ao, r->cfg, &r->pspec, argc, argv,
                                  &r->cfgkeep, err, errlen);
    if (rc == 1)
        return 1;
    /* States above 32 MB arrive in fresh mappings: started again with glibc's 2 MB pages
       for them (mdl_agent_cfg_wants_huge_pages), before anything that cannot happen
       twice. GLIBC_TUNABLES naming glibc.malloc.hugetlb (=0 too) leaves it to the user. */
    char why[256];
    if (rc == 0 && mdl_agent_cfg_wants_huge_pages (r->cfg)
        && mdl_cli_reexec_with_tunable ("glibc.malloc.hugetlb", "1", why, sizeof why))
        fprintf (stderr, "meshdl agent: running without huge pages for the received states: %s\n", why);
    /* Early, so that a SIGTERM while the data loads (to PID 1 in a container, which has
       no default action) still ends the run cleanly. */
    mdl_signals_install ();
    if (rc == 0)
        rc = s_check_agent_opts (r, err, errlen);
    if (rc == 0)
        rc = s_check_roles (r, err, errlen);
    if (rc == 0)
        rc = s_check_network (&r->so, err, errlen);
    return rc ? rc : s_load_resume (r, err, errlen);
}

/* Sets key to the formatted value of the agent's configuration. Returns false (said on
   stderr) when the setting refuses it. */
static bool s_set (s_run_t *r, const char *key, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

static bool
s_set (s_run_t *r, const char *key, const char *fmt, ...)
{
    char v[16384 + 64];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (v, sizeof v, fmt, ap);
    va_end (ap);
    if (mdl_agent_cfg_set (r->cfg, key, v) == 0)
        return true;
    fprintf (stderr, "meshdl agent: %s\n", mdl_error_detail ());
    return false;
}

/* How the agent finds its peers (mdl_discopts_apply'd options): beacons on --interface,
   or the --peers list (dns: entries choose the DNS back-end). --isolated keeps the
   configuration's default: a static list of no peers, which finds nobody. */
static bool
s_set_discovery (s_run_t *r)
{
    const mdl_discopts_t *d = &r->dopt;
    if (r->ao.isolated)
        return true;
    return (d->kind == MDL_DISCOPTS_BEACON ? s_set (r, "interface", "%s", d->iface ? d->iface : "")
                                           : s_set (r, "peers", "%s", d->list))
           && s_set (r, "beacon-port", "%d", d->beacon_port)
           && s_set (r, "dns-interval", "%.17g", d->dns_interval_ms / 1000.0);
}

/* The agent's configuration beyond the options' (shard, id, endpoints, discovery, data),
   after the data is loaded and split. Returns false (said on stderr) when a setting
   refuses its value. */
static bool
s_fill_cfg (s_run_t *r)
{
    mdl_agent_cfg_t *cfg = r->cfg;
    const s_agentopts_t *so = &r->so;
    size_t cnt;
    const uint32_t *rows = mdl_partition_shard (r->part, r->shard_i, &cnt);
    if (r->model_parallel) { /* every agent trains on every row */
        rows = NULL;
        cnt = mdl_dataset_n (r->train);
    }
    r->shard_rows = rows;
    r->rows = cnt;
    mdl_agent_cfg_set_shard (cfg, rows, cnt);
    snprintf (r->bind, sizeof r->bind, "tcp://*:%d", so->port);
    mdl_agent_cfg_set_log (cfg, r->logf ? r->logf : stderr, r->prefix);
    if (!r->logf) /* event lines above the progress line, never glued onto it */
        mdl_agent_cfg_set_log_fn (cfg, mdl_progress_log_fn, &r->prog);
    mdl_agent_cfg_set_data (cfg, r->train, r->test);
    /* evaluations while training: between two, the agent trains on its shard's rows over
       --evals-per-epoch */
    r->eval_rows = mdl_agentopts_eval_rows (&r->ao, &r->to, (double) cnt / r->ao.evals_per_epoch, 1,
                                            mdl_dataset_n (r->test));
    /* Without --shard every agent trains on the full set, in an order of its own. */
    const uint64_t data_seed = r->to.seed * 1000003ULL + (so->shard ? r->shard_i : r->id);
    return s_set (r, "id", "%llu", (unsigned long long) r->id) && s_set (r, "bind", "%s", r->bind)
           && s_set_discovery (r) && s_set (r, "curve", "%s", so->curve ? "true" : "false")
           && (!so->cert || s_set (r, "cert", "%s", so->cert)) && (!so->allow || s_set (r, "allow", "%s", so->allow))
           && s_set (r, "test-rows", "0") && s_set (r, "eval-rows", "%zu", r->eval_rows)
           && s_set (r, "epochs", "%d", r->to.epochs) && s_set (r, "data-seed", "%llu", (unsigned long long) data_seed)
           && s_set (r, "min-peers", "%d", so->min_peers)
           && s_set (r, "min-peers-timeout", "%.17g", so->min_peers_timeout)
           && s_set (r, "injection-seed", "%llu", (unsigned long long) (r->to.seed ^ r->id))
           && s_set (r, "bootstrap", "%s", so->bootstrap) && s_set (r, "linger", "%.17g", so->linger);
}

/* --results DIR: DIR/<id>/ and the files in it. Only once the data is loaded, the keys
   read and the sockets bound: bad input leaves nothing behind in the results directory.
   Returns false (said on stderr) when the directory cannot be made. */
static bool
s_results_dir (s_run_t *r)
{
    struct stat sb;
    snprintf (r->rdir, sizeof r->rdir, "%s/%s", r->so.results, r->idb);
    if (mkdir (r->rdir, 0755) != 0 && (stat (r->rdir, &sb) != 0 || !S_ISDIR (sb.st_mode))) {
        fprintf (stderr, "meshdl agent: cannot create %s\n", r->rdir);
        return false;
    }
    snprintf (r->ckpt_path, sizeof r->ckpt_path, "%s/checkpoint.ckpt", r->rdir);
    snprintf (r->metrics_path, sizeof r->metrics_path, "%s/metrics.jsonl", r->rdir);
    snprintf (r->status_path, sizeof r->status_path, "%s/status.json", r->rdir);
    snprintf (r->summary_path, sizeof r->summary_path, "%s/summary.json", r->rdir);
    if (!r->to.checkpoint)
        r->to.checkpoint = r->ckpt_path;
    if (!r->to.metrics)
        r->to.metrics = r->metrics_path;
    r->status_paths[1] = r->status_path;
    return true;
}

/* Why the agent could not be built, in a line naming what to change. */
static void
s_start_error (const s_run_t *r, int rc)
{
    const s_agentopts_t *so = &r->so;
    if (rc == MDL_ESOCKET && so->port > 0 && s_port_in_use (so->port))
        fprintf (stderr, "meshdl agent: --port %d: cannot bind %s: address in use (another agent on this port? "
                         "choose another --port, or 0 for any free port)\n",
                 so->port, r->bind);
    else if (rc == MDL_ESOCKET)
        fprintf (stderr, "meshdl agent: cannot start: %s (PUB at %s%s%s)\n", mdl_strerror (rc), r->bind,
                 r->dopt.iface ? ", beacons on " : "", r->dopt.iface ? r->dopt.iface : "");
    else
        fprintf (stderr, "meshdl agent: cannot start: %s\n", mdl_strerror (rc));
}

/* --http: the server every status goes to, started before the data and the agent's
   sockets: a port in use stops here, before anything is written (the data cache goes to
   --results) and before any peer hears of us; and /metrics says "starting" while the
   data loads. Returns false (said on stderr) when it cannot serve. */
static bool
s_http_start (s_run_t *r)
{
    const mdl_agentopts_t *ao = &r->ao;
    mdl_http_info_t hi = { .agent = r->idb, .cluster = ao->cluster, .algo = ao->algo, .mode = ao->mode,
                           .codec = ao->codec, .topology = ao->topology, .model = r->to.model };
    char hmsg[256];
    int rc = 0;
    if (!(s_http = mdl_http_new (r->so.http, &hi, &rc, hmsg, sizeof hmsg))) {
        fprintf (stderr, "meshdl agent: --http %s: %s\n", r->so.http, hmsg);
        return false;
    }
    fprintf (stderr, "%s: serving /metrics and /status on %s\n", r->prefix, mdl_http_url (s_http));
    return true;
}

/* Hands the --resume image to the agent (its model and algorithm checked against the
   agent's). Returns false (said on stderr) when it does not fit. */
static bool
s_resume (s_run_t *r)
{
    char why[512];
    if (mdl_agent_resume (r->agent, &r->resume, why, sizeof why) == 0)
        return true;
    fprintf (stderr, "meshdl agent: --resume %s: %s\n", r->to.resume, why);
    return false;
}

/* Loads the data, splits it, builds the agent (binding its socket) and opens its files.
   Returns false (said on stderr) on any failure; what was built is freed by s_cleanup. */
static bool
s_build (s_run_t *r)
{
    char err[1024];
    int rc;
    char why[512]; /* a TCP connection to every peer while a global average runs */
    if (mdl_agent_provision (1, MDL_AGENT_MAX_PEERS, why, sizeof why)) {
        fprintf (stderr, "meshdl agent: %s\n", why);
        return false;
    }
    mdl_blas_threads (r->to.threads);
    r->id = r->so.id ? r->so.id : s_default_id (r->so.name);
    snprintf (r->prefix, sizeof r->prefix, "agent %s", mdl_cli_id_str (r->id, r->idb));
    if (r->so.http && !s_http_start (r))
        return false;
    /* the decompressed data next to the results: shared by every agent that writes there */
    if (r->so.results && !r->to.data_cache
        && snprintf (r->cache_dir, sizeof r->cache_dir, "%s/.data-cache", r->so.results) < (int) sizeof r->cache_dir)
        r->to.data_cache = r->cache_dir;
    if (mdl_trainopts_data (&r->to, "agent", &r->train, &r->test, err, sizeof err)) {
        fprintf (stderr, "%s\n", err);
        return false;
    }
    if (!(r->part = mdl_partition_new (&r->pspec, mdl_dataset_labels (r->train), mdl_dataset_n (r->train),
                                       mdl_dataset_classes (r->train), r->shard_n, r->to.seed, &rc))) {
        fprintf (stderr, "meshdl agent: cannot split %zu rows in %u shards with %s: %s\n", mdl_dataset_n (r->train),
                 r->shard_n, r->ao.partition, mdl_strerror (rc));
        return false;
    }
    if (r->ao.log && strcmp (r->ao.log, "-") && !(r->logf = fopen (r->ao.log, "a"))) {
        fprintf (stderr, "meshdl agent: cannot open log file %s\n", r->ao.log);
        return false;
    }
    r->status_paths[0] = r->so.status;
    mdl_progress_init (&r->prog, stderr, "", r->to.progress);
    if (!s_fill_cfg (r))
        return false;
    if (!(r->agent = mdl_agent_new (r->cfg, &rc))) {
        s_start_error (r, rc);
        return false;
    }
    /* --shard auto: the resumed state goes into the learner once the shard is chosen */
    if (r->resume && !r->shard_auto && !s_resume (r))
        return false;
    /* Again: the agent's first socket started CZMQ, which installs its own handlers. */
    mdl_signals_install ();
    if (r->so.results && !s_results_dir (r))
        return false;
    if (r->to.metrics && !(r->metrics = fopen (r->to.metrics, "a"))) {
        fprintf (stderr, "meshdl agent: cannot open metrics file %s for appending\n", r->to.metrics);
        return false;
    }
    if (r->to.checkpoint && (rc = mdl_agent_set_checkpoint (r->agent, r->to.checkpoint, r->so.checkpoint_every))) {
        fprintf (stderr, "meshdl agent: cannot write checkpoints to %s: %s\n", r->to.checkpoint, mdl_strerror (rc));
        return false;
    }
    if (r->shard_auto)
        fprintf (stderr, "%s: PUB at %s, shard auto (of %u, once %d peers are here), %s %s on %s, codec %s\n", r->prefix,
                 mdl_agent_endpoint (r->agent), r->shard_n, r->so.min_peers, r->ao.algo, r->ao.mode, r->ao.topology,
                 r->ao.codec);
    else
        fprintf (stderr, "%s: PUB at %s, shard %u/%u (%zu rows), %s %s on %s, codec %s\n", r->prefix,
                 mdl_agent_endpoint (r->agent), r->shard_i, r->shard_n, r->rows, r->ao.algo, r->ao.mode,
                 r->ao.topology, r->ao.codec);
    return true;
}

/* The health status from the counters just read: to --http's server at every look
   (its counters are that fresh: a state a second older than the steps beside it said
   "waiting" with 400 steps done), to the files at most once a second. */
static void
s_status_tick (s_run_t *r, double *last)
{
    const s_counters_t *st = &r->st;
    r->hs.peers = (uint64_t) s_c (st, "peers_alive");
    r->hs.step = (uint64_t) s_c (st, "steps");
    r->hs.worker_s = s_c (st, "worker_beat_age");
    r->hs.comm_s = s_c (st, "comm_beat_age");
    r->hs.epoch = s_c (st, "epoch");
    r->hs.state = s_c (st, "lingering")     ? "lingering"
                  : r->hs.step > 0           ? "training"
                  : (int) r->hs.peers < r->so.min_peers ? "waiting"
                                                        : "starting";
    if (mdl_cli_now () - *last < 1.0) {
        if (s_http)
            mdl_http_publish (s_http, NULL, &r->hs);
        return;
    }
    *last = mdl_cli_now ();
    s_status_write (r->status_paths, &r->hs);
}

/* --peers dns:NAME that never resolved: after --min-peers-timeout, a wrong name (or a
   service that is not there), not a slow start: the agent stops. (While the worker itself
   waits for --min-peers, its wait ends first and says so.) */
static void
s_dns_check (s_run_t *r)
{
    char unresolved[256];
    if (r->dns_failed || !(s_c (&r->st, "steps") > 0 || r->so.min_peers == 0)
        || mdl_cli_now () - r->t0 < r->so.min_peers_timeout
        || !mdl_agent_unresolved (r->agent, unresolved, sizeof unresolved))
        return;
    snprintf (r->hs_msg, sizeof r->hs_msg, "never resolved within %.0f s: %s", r->so.min_peers_timeout, unresolved);
    fprintf (stderr, "%s: %s\n", r->prefix, r->hs_msg);
    r->dns_failed = true;
    mdl_agent_stop (r->agent);
}

/* Starts the agent (after --shard auto found its shard, and gave it the --resume image)
   and follows it until it ends or a signal stops it: status, progress line, metrics
   lines, --stop-at-target, names that never resolve. Returns false (said on stderr) when
   the resumed image does not fit the chosen shard's learner. */
static bool
s_train (s_run_t *r)
{
    r->t0 = mdl_cli_now ();
    r->t0_wall = mdl_cli_wallclock ();
    r->startup_s = mdl_process_age ();
    r->startup_cpu_s = mdl_process_cpu_s ();
    r->t_target = NAN;
    r->hs = (mdl_status_t) { .agent = r->idb, .state = "starting", .min_peers = r->so.min_peers,
                             .shard = r->shard_auto ? -1L : (long) r->shard_i, .shards = r->shard_n,
                             .first_step_time = NAN, .worker_s = NAN, .comm_s = NAN };
    r->started = true;
    if (r->shard_auto) {
        r->started = s_shard_auto (r->agent, r->id, r->part, r->so.min_peers, r->so.min_peers_timeout, r->to.seed,
                                   &r->hs, r->status_paths, r->hs_msg, sizeof r->hs_msg);
        r->shard_i = (uint32_t) (r->hs.shard < 0 ? 0 : r->hs.shard);
        /* the shard is chosen: only now can the resumed state go into its learner */
        if (r->started && r->resume && !s_resume (r))
            return false;
    }
    if (r->started && !r->to.resume && !strcmp (r->so.bootstrap, "none"))
        fprintf (stderr, "%s: --bootstrap none: starting from the initial model\n", r->prefix);
    if (r->started) {
        /* The shard is final: this process holds its rows, not the training set. */
        size_t kept = r->rows;
        const uint32_t *keep = r->shard_auto ? mdl_partition_shard (r->part, r->shard_i, &kept) : r->shard_rows;
        if (keep && mdl_dataset_keep_rows (r->train, keep, kept))
            fprintf (stderr, "%s: out of memory keeping the shard's rows: reading them from the whole set\n", r->prefix);
        mdl_agent_start (r->agent);
    }
    snprintf (r->prog.prefix, sizeof r->prog.prefix, "%.60s: ", r->prefix);
    r->ev = (s_evout_t) { .metrics = r->metrics, .run = r->to.run ? r->to.run : mdl_run_id (), .agent = r->idb,
                          .prog = &r->prog, .quiet = r->to.quiet, .target_acc = r->to.target_acc };
    uint64_t evals_seen = 0;
    double hs_last = -1;
    r->st.n = 0;
    for (; r->started;) {
        s_counters_read (r->agent, &r->st);
        const s_counters_t *st = &r->st;
        const double steps = s_c (st, "steps"), loss_now = s_c (st, "loss");
        s_http_publish (r->agent);
        if (steps > 0 && isnan (r->hs.first_step_time))
            r->hs.first_step_time = mdl_cli_wallclock ();
        s_status_tick (r, &hs_last);
        if (!r->to.quiet) {
            char loss[32] = "-";
            if (steps > 0 && isfinite (loss_now))
                snprintf (loss, sizeof loss, "%.4f", loss_now);
            mdl_progress_show (&r->prog, false, "step %llu  epoch %.2f  loss %s  peers %llu  sent %.1f MB",
                               (unsigned long long) steps, s_c (st, "epoch"), loss,
                               (unsigned long long) s_c (st, "peers_alive"), s_c (st, "bytes_sent") / 1e6);
        }
        evals_seen = s_agent_evals (r->agent, &r->ev, evals_seen, r->t0_wall, &r->t_target);
        if (r->to.stop_at_target && !isnan (r->t_target))
            mdl_agent_stop (r->agent);
        if (s_c (st, "finished"))
            break;
        if (mdl_signals_stop ())
            mdl_agent_stop (r->agent);
        s_dns_check (r);
        struct timespec ts = { 0, 50 * 1000000 };
        nanosleep (&ts, NULL);
    }
    mdl_agent_join (r->agent);
    if (r->started) {
        s_counters_read (r->agent, &r->st);
        r->error = (int) s_c (&r->st, "error");
        s_agent_evals (r->agent, &r->ev, evals_seen, r->t0_wall, &r->t_target);
    } else if (!mdl_signals_stop ())
        r->error = MDL_ETIMEOUT; /* --shard auto: --min-peers never met (hs_msg says so) */
    mdl_progress_end (&r->prog);
    return true;
}

/* The worker wrote the final checkpoint (not after an error: a diverged agent keeps its
   last good one). Returns false when it could not be written. */
static bool
s_checkpoint (const s_run_t *r)
{
    const int ckerr = (int) s_c (&r->st, "checkpoint_error");
    if (!r->to.checkpoint || r->error || !ckerr)
        return true;
    fprintf (stderr, "%s: cannot write checkpoint %s: %s\n", r->prefix, r->to.checkpoint, mdl_strerror (ckerr));
    return false;
}

/* The summary: the last stdout line, and DIR/<id>/summary.json. Returns false when the
   file could not be written. */
static bool
s_summary (s_run_t *r, double test_loss, double test_acc)
{
    const s_counters_t *st = &r->st;
    mdl_json_t j;
    mdl_json_begin (&j);
    mdl_json_open (&j, "summary");
    mdl_json_str (&j, "agent", r->idb);
    mdl_json_str (&j, "run", r->ev.run);
    mdl_json_num (&j, "test_acc", test_acc);
    mdl_json_num (&j, "test_loss", test_loss);
    mdl_json_str (&j, "model", r->to.model);
    mdl_agentopts_json_settings (&j, &r->ao, &r->to);
    mdl_json_int (&j, "eval_rows", (long long) r->eval_rows);
    mdl_json_bool (&j, "huge_pages", mdl_cli_tunable_set ("glibc.malloc.hugetlb=1"));
    mdl_json_int (&j, "shard", r->shard_i);
    mdl_json_int (&j, "shards", r->shard_n);
    mdl_json_int (&j, "steps", s_ci (st, "steps"));
    char from[40];
    mdl_json_str (&j, "start_from", mdl_agent_started_from (r->agent, from, sizeof from));
    mdl_json_int (&j, "start_step", s_ci (st, "start_step"));
    mdl_json_int (&j, "steps_skipped", s_ci (st, "steps_skipped"));
    mdl_json_int (&j, "checkpoints", s_ci (st, "checkpoints"));
    mdl_json_int (&j, "checkpoints_replaced", s_ci (st, "checkpoints_replaced"));
    mdl_json_int (&j, "readmissions", s_ci (st, "readmissions"));
    mdl_json_int (&j, "snapshots_served", s_ci (st, "snapshots_served"));
    mdl_agentopts_json_counters (&j, st->v, st->n);
    mdl_json_int (&j, "global_averages", s_ci (st, "global_averages"));
    mdl_json_int (&j, "peers_seen", s_ci (st, "peers_seen"));
    mdl_json_num (&j, "disagreement", s_c (st, "disagreement"));
    mdl_json_num (&j, "sync_wait_s", s_c (st, "wait_s")); /* as in sim's summary: rounds waiting for states */
    mdl_agentopts_json_robust (&j, r->cfg, st->v, st->n);
    if (r->model_parallel) /* the agent knows the shared residual, not the other blocks */
        mdl_json_num (&j, "train_mse", s_c (st, "residual_mse"));
    mdl_json_int (&j, "connections", s_ci (st, "connections")); /* to its neighbourhood, at the end */
    mdl_json_int (&j, "mailboxes", s_ci (st, "mailboxes"));
    mdl_json_num (&j, "wall_s", mdl_cli_now () - r->t0);
    mdl_json_num (&j, "startup_s", r->startup_s);
    mdl_json_num (&j, "startup_cpu_s", r->startup_cpu_s);
    mdl_json_num (&j, "discovery_s", s_c (st, "train_start") - r->t0); /* ready to the first step (NaN: never) */
    /* the first step began to the last ended (NaN: no step); the transport's busy time */
    mdl_json_num (&j, "train_s", s_c (st, "train_end") - s_c (st, "train_start"));
    mdl_json_num (&j, "wire_busy_s", s_c (st, "wire_busy_s"));
    mdl_json_num (&j, "linger_s", s_c (st, "linger_s")); /* after train_s: staying for peers (--linger) */
    mdl_json_int (&j, "params", (long long) mdl_agent_dim (r->agent));
    mdl_json_num (&j, "peak_rss_mb", mdl_peak_rss_mb ());
    if (r->to.target_acc > 0) {
        if (isnan (r->t_target))
            mdl_json_null (&j, "time_to_target_s");
        else
            mdl_json_num (&j, "time_to_target_s", r->t_target);
    }
    mdl_json_num (&j, "first_step_time", r->hs.first_step_time);
    /* the wall clock of the first step's start (train_s after it, the last one's end) */
    mdl_json_num (&j, "train_start_time", r->t0_wall + s_c (st, "train_start") - r->t0);
    mdl_json_str (&j, "status", r->error ? mdl_errname (r->error) : mdl_signals_stop () ? "interrupted" : "done");
    mdl_json_close (&j);
    mdl_json_end (&j, stdout);
    fflush (stdout);
    if (r->rdir[0] && s_json_save (r->summary_path, &j)) {
        fprintf (stderr, "%s: cannot write %s\n", r->prefix, r->summary_path);
        return false;
    }
    return true;
}

/* --http-final: the final counters are published; a scraper that comes every few
   seconds would miss them if the process left now. Stays until one scrape read them
   and the requests stopped for half a second, --http-final seconds at most, or a
   signal. */
static void
s_http_final (s_run_t *r)
{
    if (!s_http || !(r->so.http_final > 0))
        return;
    const uint64_t seen = mdl_http_scrapes (s_http);
    const double until = mdl_cli_now () + r->so.http_final;
    for (double left; (left = until - mdl_cli_now ()) > 0 && !mdl_signals_stop ();)
        if (mdl_http_wait_scrape (s_http, seen, 0.5, left < 0.1 ? left : 0.1) == 0)
            return;
}

/* After training: evaluation, checkpoint, summary, the last status. Returns the exit
   code: 0, 3 (the agent stopped on an error), 2 (a file could not be written). */
static int
s_report (s_run_t *r)
{
    const s_counters_t *st = &r->st;
    double test_loss = s_c (st, "test_loss"), test_acc = s_c (st, "test_acc");
    if (!(r->started && s_c (st, "evals") > 0 && s_c (st, "eval_final"))) /* the worker did not reach its final evaluation */
        mdl_agent_evaluate (r->agent, NULL, r->test, 0, &test_loss, &test_acc);
    if (r->dns_failed && !r->error)
        r->error = MDL_ETIMEOUT;
    int exit_code = r->error ? 3 : 0;
    if (!s_checkpoint (r))
        exit_code = 2;
    if (mdl_signals_stop ())
        fprintf (stderr, "%s: stopped by signal %d; %ssummary written\n", r->prefix, mdl_signals_which (),
                 r->to.checkpoint ? "checkpoint and " : "");
    if (!s_summary (r, test_loss, test_acc))
        exit_code = 2;
    r->hs.peers = (uint64_t) s_c (st, "peers_alive");
    r->hs.step = (uint64_t) s_c (st, "steps");
    r->hs.epoch = s_c (st, "epoch");
    r->hs.shard = r->started ? (long) r->shard_i : -1;
    if (r->error == MDL_ETIMEOUT && !r->hs_msg[0])
        snprintf (r->hs_msg, sizeof r->hs_msg, "only %llu of the %d peers required (--min-peers) appeared within %.0f s",
                  (unsigned long long) r->hs.peers, r->so.min_peers, r->so.min_peers_timeout);
    r->hs.message = r->hs_msg;
    r->hs.state = r->error ? "failed" : mdl_signals_stop () ? "stopped" : "done";
    s_http_publish (r->agent);
    s_status_write (r->status_paths, &r->hs);
    s_http_final (r);
    return exit_code;
}

static void
s_cleanup (s_run_t *r)
{
    mdl_ckpt_image_destroy (&r->resume);
    mdl_http_destroy (&s_http);
    mdl_agent_destroy (&r->agent);
    if (r->logf)
        fclose (r->logf);
    mdl_partition_destroy (&r->part);
    if (r->metrics)
        fclose (r->metrics);
    mdl_dataset_destroy (&r->train);
    mdl_dataset_destroy (&r->test);
    mdl_opts_config_free (&r->cfgkeep);
    mdl_agent_cfg_destroy (&r->cfg);
}

int
mdl_cmd_agent (int argc, char **argv)
{
    s_run_t *r = calloc (1, sizeof *r);
    if (!r) {
        fprintf (stderr, "meshdl agent: out of memory\n");
        return 2;
    }
    char err[1024] = "";
    int rc = s_options (r, argc, argv, err, sizeof err), exit_code = 2;
    if (rc == 1)
        exit_code = 0;
    else if (rc)
        fprintf (stderr, "%s\n", err);
    else if (s_build (r) && s_train (r))
        exit_code = s_report (r);
    s_cleanup (r);
    free (r);
    return exit_code;
}
