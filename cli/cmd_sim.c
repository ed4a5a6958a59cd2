/*  cmd_sim.c: `meshdl sim`: N agents as threads of one process, over inproc:// sockets
    and the in-process registry: the same agent code as on a LAN. The coordinator (this
    thread) sees what no agent can: it snapshots every agent's model at the same moments,
    computes the exact consensus distance (1/n) sum_i ||x_i - xbar||^2 and evaluates the
    averaged model xbar, besides each agent's own. It can inject stragglers (--slow),
    link delay (--delay-ms) and message loss (--drop), all from the seed. A client of the
    public API (meshdl/cluster.h) only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentopts.h"
#include "cli.h"
#include "http.h"
#include "meshdl.h"
#include "report.h"
#include "signals.h"
#include "trainopts.h"


static const char *s_usage =
    "usage: meshdl sim --agents N [options]\n\n"
    "Runs N agents as threads of one process, each training on its own shard and gossiping\n"
    "over inproc:// PUB/SUB sockets found through an in-process registry (the same code as\n"
    "`meshdl agent` on a LAN). Reports the averaged model's test accuracy, each agent's, and\n"
    "the exact consensus distance. --epochs is passes over an agent's own shard, --batch the\n"
    "per-agent batch. The last stdout line is {\"summary\": {...}}.\n"
    "Options may also come from MESHDL_<OPTION> environment variables (command line wins).\n"
    "Exit codes: 0 done, 2 bad input, 3 an agent failed (diverged, or did not answer),\n"
    "130/143 stopped by SIGINT/SIGTERM after the final evaluation, checkpoint and summary.";

typedef struct {
    int agents;
    mdl_strlist_t slow;
    mdl_strlist_t byzantine;
    double delay_ms;
    double drop;
    double step_ms;
    double offline;
    int eval_agents;
} s_simopts_t;


/* An agent's (or the cluster's) counters, all at once: mdl_agent_counter_name's order. */
typedef struct {
    double v[MDL_HTTP_COUNTERS];
    size_t n;
} s_ctrs_t;

static double
s_ctr (const s_ctrs_t *c, const char *name)
{
    return mdl_agentopts_counter (c->v, c->n, name);
}

/* The counter at index i (mdl_agentopts_counter_index; -1: absent), 0 when absent. */
static double
s_at (const s_ctrs_t *c, long i)
{
    return i >= 0 && (size_t) i < c->n ? c->v[i] : 0;
}

static void
s_agent_ctrs (mdl_cluster_t *cl, int i, s_ctrs_t *c)
{
    c->n = mdl_agent_counters (mdl_cluster_agent (cl, i), c->v, MDL_HTTP_COUNTERS);
    c->n = c->n < MDL_HTTP_COUNTERS ? c->n : MDL_HTTP_COUNTERS;
}

static void
s_cluster_ctrs (mdl_cluster_t *cl, s_ctrs_t *c)
{
    c->n = mdl_cluster_counters (cl, c->v, MDL_HTTP_COUNTERS);
    c->n = c->n < MDL_HTTP_COUNTERS ? c->n : MDL_HTTP_COUNTERS;
}

/* Whether the algorithm declares the flag key (mdl_algo_info: "model-parallel",
   "sampled", "pairwise"). */
static bool
s_algo_is (const char *algo, const char *key)
{
    char b[16];
    return mdl_algo_info (algo, key, b, sizeof b) == 0 && !strcmp (b, "true");
}

/* --slow I:FACTOR */
static int
s_parse_slow (const char *s, int n, int *who, double *factor)
{
    char *end;
    long i = strtol (s, &end, 10);
    if (end == s || *end != ':' || i < 0 || i >= n)
        return MDL_EINVAL;
    double f = strtod (end + 1, &end);
    if (*end || !(f >= 1.0) || f > 1000)
        return MDL_EINVAL;
    *who = (int) i;
    *factor = f;
    return 0;
}

typedef struct {
    double acc_avg, loss_avg;   /* averaged model */
    double acc_mean, acc_min;   /* agents' own */
    double consensus;           /* (1/n) sum ||x_i - xbar||^2 */
    double t_snap, wall_snap;   /* monotonic and wall-clock time when the snapshots were complete */
    double mean_step;           /* the agents' mean step in the snapshots */
    size_t rows;                /* test rows evaluated */
    int agents;                 /* agents whose own models were evaluated (acc_mean, acc_min) */
    bool final;                 /* after training ended */
    double *acc, *loss;         /* per agent (n) */
    double *dist;               /* per agent: ||x_i - xbar||^2 */
} s_eval_t;

/* Snapshots every agent, then evaluates the model of the run and the own models of the
   k agents which[0..k) (NULL: all) on the first rows test rows, on threads threads
   (mdl_cluster_evaluate_some). Returns 0, MDL_ETIMEOUT (an agent did not answer), or the
   evaluation's error (the reason in mdl_error_detail). */
static int
s_evaluate (mdl_cluster_t *cl, const mdl_dataset_t *test, s_eval_t *e, size_t rows, const int *which, int k,
            int threads)
{
    if (mdl_cluster_snapshot (cl, 120.0, &e->mean_step))
        return MDL_ETIMEOUT;
    /* The figures below describe the models as of now; evaluating them takes a while
       (the agents keep training meanwhile), and that time must not count as theirs. */
    e->t_snap = mdl_cli_now ();
    e->wall_snap = mdl_cli_wallclock ();
    e->rows = rows;
    e->consensus = mdl_cluster_consensus (cl, e->dist);
    int rc = mdl_cluster_evaluate_some (cl, test, rows, which, k, threads, &e->loss_avg, &e->acc_avg, e->loss, e->acc);
    if (rc)
        return rc;
    e->agents = k;
    e->acc_mean = 0;
    e->acc_min = INFINITY;
    for (int j = 0; j < k; j++) {
        const double a = e->acc[which ? which[j] : j];
        e->acc_mean += a / k;
        if (a < e->acc_min)
            e->acc_min = a;
    }
    return 0;
}

/* --byzantine I:MODE[:ARG], repeatable: byz[I] = MODE[:ARG] (pointing into l), each
   checked as the setting "byzantine" on a copy of base. 0 or MDL_EINVAL + message. */
static int
s_parse_byzantine (const mdl_strlist_t *l, int n, const mdl_agent_cfg_t *base, const char **byz, char *err,
                   size_t errlen)
{
    mdl_agent_cfg_t *probe = mdl_agent_cfg_dup (base);
    int rc = probe ? 0 : MDL_ENOMEM;
    for (int k = 0; rc == 0 && k < l->n; k++) {
        const char *s = l->v[k];
        char *end;
        long i = strtol (s, &end, 10);
        if (end == s || *end != ':' || i < 0 || i >= n) {
            snprintf (err, errlen, "meshdl sim: --byzantine '%s' must be I:MODE[:ARG] with 0 <= I < %d", s, n);
            rc = MDL_EINVAL;
        } else if (mdl_agent_cfg_set (probe, "byzantine", end + 1)) {
            snprintf (err, errlen, "meshdl sim: %s (in --byzantine '%s')", mdl_error_detail (), s);
            rc = MDL_EINVAL;
        } else
            byz[i] = end + 1;
    }
    mdl_agent_cfg_destroy (&probe);
    return rc;
}

/* Everything a sim run holds; s_sim_free releases what was set. */
typedef struct {
    mdl_trainopts_t to;
    mdl_agentopts_t ao;
    s_simopts_t so;
    mdl_optdef_t defs[96];
    void *cfgkeep;           /* --config strings */
    mdl_agent_cfg_t *base;   /* mdl_agent_cfg_new */
    mdl_part_spec_t pspec;
    double *slow;            /* per agent */
    const char **byz;        /* per agent: its --byzantine mode, NULL for an honest one */
    int nbyz;                /* agents named by --byzantine */
    bool model_parallel;     /* the algorithm's agents split the unknowns (mp-linreg) */
    double pace;             /* seconds per step of a normal agent (0: no pacing) */
    mdl_dataset_t *train, *test;
    mdl_partition_t *part;
    FILE *metrics, *log;
    mdl_cluster_t *cl;
    size_t d;                /* parameters of a model */
    s_eval_t ev;
    uint64_t spe, total;     /* steps per epoch, in all */
    uint64_t start_step;     /* --resume: the step the agents start from */
    size_t eval_rows;        /* test rows of the evaluations while training */
    int eval_agents;         /* ... the agents they cover (mdl_agentopts_eval_agents) */
    int *eval_which;         /* ... which (eval_agents of them) */
    const char *run;         /* run id */
    double t0;               /* when the agents started */
    mdl_progress_t prog;     /* the progress line; --log - lines go above it */
    double t_target;         /* time the averaged model reached --target-acc (NAN: not) */
    double startup_s;        /* exec to ready: data loaded, agents built and bound */
    double discovery_s;      /* ready to started: until every agent saw the others */
} s_sim_t;

static void
s_sim_free (s_sim_t *r)
{
    mdl_cluster_destroy (&r->cl);
    free (r->ev.acc);
    free (r->ev.loss);
    free (r->ev.dist);
    free (r->eval_which);
    free (r->slow);
    free (r->byz);
    mdl_partition_destroy (&r->part);
    if (r->metrics)
        fclose (r->metrics);
    if (r->log && r->log != stderr)
        fclose (r->log);
    mdl_dataset_destroy (&r->train);
    mdl_dataset_destroy (&r->test);
    mdl_opts_config_free (&r->cfgkeep);
    mdl_agent_cfg_destroy (&r->base);
}

/* The number of blocks of the setting "blocks" (P1,...,PK), 0 when not set. */
static int
s_nblocks (const mdl_agent_cfg_t *cfg)
{
    char b[8192];
    if (mdl_agent_cfg_get (cfg, "blocks", b, sizeof b) || !b[0])
        return 0;
    int k = 1;
    for (const char *p = b; *p; p++)
        k += *p == ',';
    return k;
}

/* The rules of the sim's own options against the algorithm: --offline (in the table's
   .takes), --blocks one per agent. 0 or MDL_EINVAL with the message in err. */
static int
s_sim_rules (s_sim_t *r, char *err, size_t errlen)
{
    const char *algo = r->ao.algo;
    if (mdl_trainopts_set (r->base, "sim", "offline", err, errlen, "%.17g", r->so.offline))
        return MDL_EINVAL;
    if (mdl_agent_cfg_check (r->base)) {
        snprintf (err, errlen, "meshdl sim: %s", mdl_error_detail ());
        return MDL_EINVAL;
    }
    if (r->so.offline > 0 && (r->ao.overlap || r->ao.isolated)) {
        snprintf (err, errlen, "meshdl sim: --offline does not combine with %s", r->ao.overlap ? "--overlap" : "--isolated");
        return MDL_EINVAL;
    }
    r->model_parallel = s_algo_is (algo, "model-parallel");
    const int nblocks = s_nblocks (r->base);
    if (r->model_parallel && nblocks != r->so.agents) {
        snprintf (err, errlen, "meshdl sim: --algo %s: --blocks gives %d blocks for %d agents (one block per agent)",
                  algo, nblocks, r->so.agents);
        return MDL_EINVAL;
    }
    if (r->model_parallel && r->ao.isolated) {
        snprintf (err, errlen, "meshdl sim: --algo %s needs every block's prediction: not --isolated", algo);
        return MDL_EINVAL;
    }
    return 0;
}

/* What sim says differently of the options it shares with agent and train. */
static const mdl_optnote_t s_notes[] = {
    { "step-ms", "0; calibrated with --slow", NULL },
    { "threads", NULL, "BLAS threads of the process (0 = OpenBLAS default)" },
    { "checkpoint", NULL, "at the end (also on SIGINT/SIGTERM) write the averaged model with the agents' mean "
                          "optimizer state, atomically: for sim --resume or train --resume" },
    { "resume", NULL, "start every agent from this checkpoint (of sim or train, same --model and --optimizer), at "
                      "its step: the run ends where --epochs says" },
};

/* The option table of sim: its own options, then the training and decentralized ones,
   with the defaults and texts that are sim's. */
static void
s_sim_defs (s_sim_t *r)
{
    mdl_trainopts_defaults (&r->to);
    mdl_agentopts_defaults (&r->ao);
    r->so.agents = 8;
    r->to.batch = 8;
    r->to.threads = 1; /* N agents share the cores: one BLAS thread each */
    mdl_optdef_t *defs = r->defs;
    const size_t cap = sizeof r->defs / sizeof r->defs[0];
    size_t n = 0;
#define S(nm, ty, ptr, mv, hl, lo, hi) \
    defs[n++] = (mdl_optdef_t) { .name = nm, .type = ty, .dst = ptr, .metavar = mv, .help = hl, .min = lo, .max = hi }
    S ("agents", MDL_OPTT_INT, &r->so.agents, "N", "number of agents", 1, MDL_AGENT_MAX_PEERS);
    S ("slow", MDL_OPTT_LIST, &r->so.slow, "I:FACTOR", "agent I computes FACTOR times slower (repeatable)", 0, 0);
    S ("delay-ms", MDL_OPTT_DOUBLE, &r->so.delay_ms, "MS", "delay added to every message on every link", 0, 60000);
    S ("drop", MDL_OPTT_DOUBLE, &r->so.drop, "P", "probability that an update is lost", 0, 1);
    S ("byzantine", MDL_OPTT_LIST, &r->so.byzantine, "I:MODE", "agent I lies, to test defences (repeatable): I:scale:K | I:noise:SIGMA | I:zero | I:stale:S | I:alie:Z | I:future:K; summaries add test_acc_honest_mean/min", 0, 0);
    S ("step-ms", MDL_OPTT_DOUBLE, &r->so.step_ms, "MS", "emulated compute time of one step of a normal agent; --slow agents take FACTOR times as long. Default with --slow: calibrated so that the CPU keeps up; 0 = no pacing", 0, 60000);
    r->so.eval_agents = -1;
    defs[n++] = (mdl_optdef_t) { .name = "eval-agents", .type = MDL_OPTT_INT, .dst = &r->so.eval_agents, .metavar = "N",
                                 .help = "agents whose own models the evaluations while training cover (0 = all; the "
                                         "final one covers all), evenly spread; the progress line says how many",
                                 .min = 0, .max = MDL_AGENT_MAX_PEERS,
                                 .deflt = "auto: all, or within a quarter of the training between two, at least 1; all with "
                                         "--eval-rows or --target-acc" };
    S ("offline", MDL_OPTT_DOUBLE, &r->so.offline, "P", "each agent is offline in each round with probability P: an availability trace from --seed that every agent knows, as a membership service would report it; offline agents neither compute nor communicate (dpsgd, localsgd, plexus)", 0, 0.99);
#undef S
    mdl_agentopts_table (&r->to, &r->ao, defs, &n, cap);
    mdl_opts_notes (defs, s_notes, sizeof s_notes / sizeof s_notes[0]);
}


/* --slow and --byzantine into r->slow and r->byz (one entry per agent). 0, or an error
   code with the message in err. */
static int
s_sim_injections (s_sim_t *r, char *err, size_t errlen)
{
    const int n = r->so.agents;
    if (!(r->slow = calloc ((size_t) n, sizeof *r->slow)) || !(r->byz = calloc ((size_t) n, sizeof *r->byz)))
        return MDL_ENOMEM;
    for (int i = 0; i < n; i++)
        r->slow[i] = 1.0;
    for (int k = 0; k < r->so.slow.n; k++) {
        int who;
        double f;
        if (s_parse_slow (r->so.slow.v[k], n, &who, &f)) {
            snprintf (err, errlen, "meshdl sim: --slow '%s' must be I:FACTOR with 0 <= I < %d and FACTOR >= 1",
                      r->so.slow.v[k], n);
            return MDL_EINVAL;
        }
        r->slow[who] = f;
    }
    int rc = s_parse_byzantine (&r->so.byzantine, n, r->base, r->byz, err, errlen);
    for (int i = 0; rc == 0 && i < n; i++)
        r->nbyz += r->byz[i] != NULL;
    return rc;
}

/* Options: returns 0, 1 (--help printed) or 2 with the message printed. */
static int
s_sim_options (s_sim_t *r, int argc, char **argv)
{
    s_sim_defs (r);
    char err[1024] = "";
    if (!(r->base = mdl_agent_cfg_new ())) {
        fprintf (stderr, "meshdl sim: out of memory\n");
        return 2;
    }
    int rc = mdl_agentopts_setup ("sim", s_usage, r->defs, &r->to, &r->ao, r->base, &r->pspec, argc, argv, &r->cfgkeep,
                                  err, sizeof err);
    if (rc == 1)
        return 1;
    if (rc == 0)
        rc = s_sim_rules (r, err, sizeof err);
    if (rc == 0)
        rc = s_sim_injections (r, err, sizeof err);
    if (rc == 0 && mdl_agent_cfg_check_agents (r->base, (uint32_t) r->so.agents)) {
        snprintf (err, sizeof err, "meshdl sim: %s", mdl_error_detail ());
        rc = MDL_EINVAL;
    }
    if (rc) {
        fprintf (stderr, "%s\n", err[0] ? err : mdl_strerror (rc));
        return 2;
    }
    /* Sockets, files and threads for all the agents, before any socket exists (and
       before the data is read: a refusal comes at once). */
    if (mdl_agent_provision ((size_t) r->so.agents, 0, err, sizeof err)) {
        fprintf (stderr, "meshdl sim: %s\n", err);
        return 2;
    }
    r->run = r->to.run ? r->to.run : mdl_run_id ();
    return 0;
}

/* Per-agent settings of the cluster (mdl_cluster_each_fn): the injections and the seeds. */
static int
s_sim_each (mdl_agent_cfg_t *cfg, int i, void *arg)
{
    const s_sim_t *r = arg;
    int rc = mdl_agentopts_seed_agent (cfg, r->to.seed, i);
    if (!rc)
        rc = mdl_trainopts_set (cfg, "sim", "slow-factor", NULL, 0, "%.17g", r->slow[i]);
    if (!rc && r->byz[i])
        rc = mdl_trainopts_set (cfg, "sim", "byzantine", NULL, 0, "%s", r->byz[i]);
    return rc; /* everyone joins at once: the cluster sets --join-burst (cluster.c) */
}

/* --resume: every agent starts from the checkpoint's parameters, optimizer state and
   step (sim's own, which is per agent; or train's). Returns 0 or 2 with the message. */
static int
s_sim_resume (s_sim_t *r)
{
    int rc = mdl_cluster_resume (r->cl, r->to.resume, &r->start_step);
    if (rc) {
        fprintf (stderr, "meshdl sim: cannot resume from %s: %s%s\n", r->to.resume, mdl_strerror (rc),
                 rc == MDL_ECKPT_MODEL ? " (use the --model and --optimizer of the run that wrote it)" : "");
        return 2;
    }
    if (!r->to.quiet)
        fprintf (stderr, "meshdl sim: resuming from %s at step %llu of %llu (epoch %.2f)\n", r->to.resume,
                 (unsigned long long) r->start_step, (unsigned long long) r->total,
                 (double) r->start_step / (double) r->spe);
    return 0;
}

/* --checkpoint: the averaged model of the last snapshot (every agent has stopped), with
   the agents' mean optimizer state, at their mean step. Returns 0 or 2 (message printed). */
static int
s_sim_checkpoint (s_sim_t *r)
{
    const uint64_t step = (uint64_t) llround (r->ev.mean_step);
    int rc = mdl_cluster_checkpoint (r->cl, r->to.checkpoint, step, step / r->spe);
    if (rc) {
        fprintf (stderr, "meshdl sim: cannot write checkpoint %s: %s\n", r->to.checkpoint, mdl_strerror (rc));
        return 2;
    }
    return 0;
}

/* Data, shards and output files. Returns 0 or 2 with the message printed. */
static int
s_sim_inputs (s_sim_t *r)
{
    char err[1024] = "";
    int rc;
    const int n = r->so.agents;
    mdl_blas_threads (r->to.threads);
    if (mdl_trainopts_data (&r->to, "sim", &r->train, &r->test, err, sizeof err)) {
        fprintf (stderr, "%s\n", err);
        return 2;
    }
    if ((size_t) n > mdl_dataset_n (r->train)) {
        fprintf (stderr, "meshdl sim: %d agents but only %zu training rows\n", n, mdl_dataset_n (r->train));
        return 2;
    }
    if (!(r->part = mdl_partition_new (&r->pspec, mdl_dataset_labels (r->train), mdl_dataset_n (r->train),
                                       mdl_dataset_classes (r->train), (uint32_t) n, r->to.seed, &rc))) {
        fprintf (stderr, "meshdl sim: cannot partition %zu rows among %d agents with %s: %s\n", mdl_dataset_n (r->train), n,
                 r->ao.partition, mdl_strerror (rc));
        return 2;
    }
    if (r->ao.log && !(r->log = strcmp (r->ao.log, "-") ? fopen (r->ao.log, "w") : stderr)) {
        fprintf (stderr, "meshdl sim: cannot open log file %s\n", r->ao.log);
        return 2;
    }
    if (r->to.metrics && !(r->metrics = fopen (r->to.metrics, "a"))) {
        fprintf (stderr, "meshdl sim: cannot open metrics file %s for appending\n", r->to.metrics);
        return 2;
    }
    return 0;
}

/* What every agent shares beyond the options: the data (the coordinator evaluates, not
   the agents), the log, the injections of links and pacing. 0 or 2 (message printed). */
static int
s_sim_base (s_sim_t *r)
{
    char err[1024] = "";
    mdl_agent_cfg_t *b = r->base;
    mdl_progress_init (&r->prog, stderr, "", r->to.progress);
    mdl_agent_cfg_set_log (b, r->log, NULL);
    if (r->log == stderr)
        mdl_agent_cfg_set_log_fn (b, mdl_progress_log_fn, &r->prog);
    int rc = mdl_agent_cfg_set_data (b, r->train, NULL);
    if (!rc)
        rc = mdl_trainopts_set (b, "sim", "epochs", err, sizeof err, "%d", r->to.epochs);
    if (!rc)
        rc = mdl_trainopts_set (b, "sim", "min-peers-timeout", err, sizeof err, "60");
    if (!rc)
        rc = mdl_trainopts_set (b, "sim", "delay-ms", err, sizeof err, "%.17g", r->so.delay_ms);
    if (!rc)
        rc = mdl_trainopts_set (b, "sim", "drop", err, sizeof err, "%.17g", r->so.drop);
    /* Pacing (mdl_cluster_pace): on by default when stragglers are injected. */
    r->pace = r->so.step_ms / 1000.0;
    if (!rc && r->so.slow.n > 0 && !mdl_opts_given (r->defs, "step-ms") && mdl_cluster_pace (b, r->so.agents, r->part, &r->pace))
        r->pace = 0;
    if (!rc)
        rc = mdl_trainopts_set (b, "sim", "pace", err, sizeof err, "%.17g", r->pace);
    if (rc) {
        fprintf (stderr, "%s\n", err[0] ? err : mdl_strerror (rc));
        return 2;
    }
    return 0;
}

/* Data, shards, output files and the agents. Returns 0 or 2 with the message printed. */
static int
s_sim_build (s_sim_t *r)
{
    int rc;
    const int n = r->so.agents;
    if (s_sim_inputs (r) || s_sim_base (r))
        return 2;
    /* Model-parallel algorithms split the unknowns, not the rows: every agent sees all. */
    const unsigned flags = MDL_CLUSTER_EQUAL_ROUNDS | (r->ao.isolated ? MDL_CLUSTER_ISOLATED : 0);
    if (!(r->cl = mdl_cluster_create_each (r->base, n, r->model_parallel ? NULL : r->part, flags, s_sim_each, r, &rc))) {
        if (mdl_error_detail ()[0])
            fprintf (stderr, "meshdl sim: %s\n", mdl_error_detail ());
        else
            fprintf (stderr, "meshdl sim: cannot build %d agents: %s\n", n, mdl_strerror (rc));
        return 2;
    }
    r->spe = mdl_cluster_steps_per_epoch (r->cl);
    r->total = r->spe * (uint64_t) r->to.epochs;
    r->d = mdl_cluster_dim (r->cl);
    r->ev.acc = calloc ((size_t) n, sizeof (double));
    r->ev.loss = calloc ((size_t) n, sizeof (double));
    r->ev.dist = calloc ((size_t) n, sizeof (double));
    if (!r->ev.acc || !r->ev.loss || !r->ev.dist) {
        fprintf (stderr, "meshdl sim: out of memory\n");
        return 2;
    }
    /* Evaluations while training: the averaged model and every agent's, between two of
       them n agents x batch x steps samples trained. */
    const double between = (double) n * (double) r->to.batch * (double) r->spe / (double) r->ao.evals_per_epoch;
    r->eval_rows = mdl_agentopts_eval_rows (&r->ao, &r->to, between, n + 1, mdl_dataset_n (r->test));
    const int given = mdl_opts_given (r->defs, "eval-agents") ? r->so.eval_agents : -1;
    r->eval_agents = mdl_agentopts_eval_agents (&r->ao, &r->to, given, between, r->eval_rows, n);
    if (!(r->eval_which = malloc ((size_t) r->eval_agents * sizeof *r->eval_which))) {
        fprintf (stderr, "meshdl sim: out of memory\n");
        return 2;
    }
    mdl_agentopts_eval_sample (r->eval_agents, n, r->eval_which);
    if (r->to.resume && s_sim_resume (r))
        return 2;
    /* The workers' threads and state now, in the set-up (startup_s): the start only lets
       them go, instead of creating 512 threads beside the agents already training. */
    if ((rc = mdl_cluster_prepare (r->cl))) {
        fprintf (stderr, "meshdl sim: cannot start the agents' workers: %s\n", mdl_strerror (rc));
        return 2;
    }
    return 0;
}

/* One metrics line per agent for the evaluation just made: each at the step, epoch, loss
   and traffic of the snapshot that was evaluated. */
static void
s_sim_metrics (s_sim_t *r)
{
    const double now = r->ev.t_snap - r->t0;
    const bool all = r->ev.agents == r->so.agents;
    for (int k = 0; r->metrics && k < r->ev.agents; k++) {
        const int i = all ? k : r->eval_which[k];
        s_ctrs_t c;
        if (mdl_cluster_snap_counters (r->cl, i, c.v, MDL_HTTP_COUNTERS, &c.n))
            continue;
        c.n = c.n < MDL_HTTP_COUNTERS ? c.n : MDL_HTTP_COUNTERS;
        const double steps = s_ctr (&c, "steps");
        mdl_json_t j;
        mdl_json_begin (&j);
        mdl_json_num (&j, "time", r->ev.wall_snap);
        mdl_json_num (&j, "elapsed_s", now);
        mdl_json_str (&j, "run", r->run);
        mdl_json_int (&j, "agent", i);
        if (r->byz[i])
            mdl_json_int (&j, "byzantine", 1);
        mdl_json_int (&j, "step", (long long) steps);
        mdl_json_num (&j, "epoch", steps / (double) r->spe);
        mdl_json_num (&j, "train_loss", s_ctr (&c, "loss"));
        mdl_json_num (&j, "test_acc", r->ev.acc[i]);
        mdl_json_num (&j, "test_loss", r->ev.loss[i]);
        mdl_json_num (&j, "avg_test_acc", r->ev.acc_avg);
        mdl_json_num (&j, "avg_test_loss", r->ev.loss_avg);
        mdl_json_num (&j, "consensus_distance", r->ev.consensus);
        mdl_json_num (&j, "distance_to_mean", r->ev.dist[i]);
        mdl_json_num (&j, "disagreement", s_ctr (&c, "disagreement"));
        mdl_agentopts_json_counters (&j, c.v, c.n);
        mdl_json_int (&j, "global_averages", (long long) s_ctr (&c, "global_averages"));
        mdl_json_int (&j, "live_peers", (long long) s_ctr (&c, "peers_alive"));
        mdl_json_int (&j, "eval_rows", (long long) r->ev.rows);
        mdl_json_int (&j, "agents_evaluated", r->ev.agents);
        mdl_json_bool (&j, "final", r->ev.final);
        mdl_json_end (&j, r->metrics);
    }
}

/* The progress line of an evaluation (the one the metrics lines just written describe). */
static void
s_sim_show_eval (s_sim_t *r, mdl_progress_t *prog)
{
    if (r->to.quiet)
        return;
    char of[48] = ""; /* a sample of the agents (--eval-agents) */
    if (r->ev.agents < r->so.agents)
        snprintf (of, sizeof of, " (%d of %d)", r->ev.agents, r->so.agents);
    mdl_progress_show (prog, true, "epoch %.2f  avg-model acc %.4f  agents mean %.4f min %.4f%s  consensus dist %.3g  %.1fs%s",
                       r->ev.mean_step / (double) r->spe, r->ev.acc_avg, r->ev.acc_mean, r->ev.acc_min, of,
                       r->ev.consensus, r->ev.t_snap - r->t0, r->ev.final ? "  (final)" : "");
    mdl_progress_end (prog);
}

/* The step of the k-th evaluation while training (k >= 1): k/N of an epoch, rounded up
   to a step, as an agent's own (worker.c). */
static uint64_t
s_eval_step (uint64_t k, uint64_t spe, int per_epoch)
{
    return (k * spe + (uint64_t) per_epoch - 1) / (uint64_t) per_epoch;
}

/* An evaluation (while training or the final one), with its progress and metrics lines
   and --target-acc. Returns 0, or 3 with the message printed. */
static int
s_sim_eval (s_sim_t *r, size_t rows, bool final)
{
    /* While training: the agents' sample on this thread (the agents have the cores); at
       the end: every agent, on every core (the agents are idle). */
    const int n = r->so.agents;
    int rc = final ? s_evaluate (r->cl, r->test, &r->ev, rows, NULL, n, 0)
                   : s_evaluate (r->cl, r->test, &r->ev, rows, r->eval_agents < n ? r->eval_which : NULL, r->eval_agents, 1);
    if (rc) {
        mdl_progress_end (&r->prog);
        if (rc == MDL_ETIMEOUT)
            fprintf (stderr, "meshdl sim: %s\n", final ? "final snapshot failed" : "an agent did not answer a snapshot request");
        else
            fprintf (stderr, "meshdl sim: cannot evaluate: %s\n", mdl_error_detail ()[0] ? mdl_error_detail () : mdl_strerror (rc));
        return 3;
    }
    r->ev.final = final;
    if (r->to.target_acc > 0 && isnan (r->t_target) && r->ev.acc_avg >= r->to.target_acc)
        r->t_target = r->ev.t_snap - r->t0;
    s_sim_show_eval (r, &r->prog);
    s_sim_metrics (r);
    return 0;
}

/* The agents' ends so far: how many finished, how many of those on an error, and the
   first of those (index, error, step) in *first (-1: none). */
typedef struct {
    int finished, failed, first, first_err;
    uint64_t first_step;
} s_ends_t;

static void
s_sim_ends (s_sim_t *r, s_ends_t *e)
{
    memset (e, 0, sizeof *e);
    e->first = -1;
    /* the three counters' places once, not a search by name per agent (512 agents: a
       quarter of a million string compares per look) */
    const long fin = mdl_agentopts_counter_index ("finished"), error = mdl_agentopts_counter_index ("error"),
               steps = mdl_agentopts_counter_index ("steps");
    for (int i = 0; i < r->so.agents; i++) {
        s_ctrs_t c;
        s_agent_ctrs (r->cl, i, &c);
        const bool finished = s_at (&c, fin) != 0;
        const int err = (int) s_at (&c, error);
        e->finished += finished;
        e->failed += finished && err;
        if (finished && err && e->first < 0) {
            e->first = i;
            e->first_err = err;
            e->first_step = (uint64_t) s_at (&c, steps);
        }
    }
}

/* Until every agent is ready, then starts them. */
static void
s_sim_start (s_sim_t *r)
{
    const int n = r->so.agents;
    mdl_signals_install ();
    r->startup_s = mdl_process_age ();
    const double t_ready = mdl_cli_now ();
    /* All agents start together once each sees the others (or the wait times out, which
       each worker reports itself). */
    int which = -1;
    if (mdl_cluster_wait_peers (r->cl, 30.0, &which))
        fprintf (stderr, "meshdl sim: agent %d did not see all %d peers within 30 s\n", which, n - 1);
    if (r->pace > 0 && !r->to.quiet)
        fprintf (stderr, "meshdl sim: pacing: a step of a normal agent takes %.2f ms (--step-ms)\n", r->pace * 1e3);
    if (!r->to.quiet)
        fprintf (stderr, "meshdl sim: %d agents, %s, %s %s, codec %s%s, %s, %zu parameters, %llu steps/epoch, batch %d\n",
                 n, r->ao.topology, r->ao.algo, r->ao.mode, r->ao.codec, r->ao.error_feedback ? " +EF" : "", r->to.model,
                 r->d, (unsigned long long) r->spe, r->to.batch);
    r->t0 = mdl_cli_now ();
    r->discovery_s = r->t0 - t_ready;
    r->t_target = NAN;
    mdl_cluster_start (r->cl);
}

/* The progress line while training, from the agents' counters combined. */
static void
s_sim_progress (s_sim_t *r, const s_ctrs_t *sum)
{
    if (r->to.quiet)
        return;
    const double mean_steps = s_ctr (sum, "steps") / r->so.agents, l = s_ctr (sum, "loss");
    char loss[32] = "-";
    if (isfinite (l))
        snprintf (loss, sizeof loss, "%.4f", l);
    mdl_progress_show (&r->prog, false, "step %.0f/%llu  epoch %.2f  loss %s  sent %.1f MB  %.1fs", mean_steps,
                       (unsigned long long) r->total, mean_steps / r->spe, loss, s_ctr (sum, "bytes_sent") / 1e6,
                       mdl_cli_now () - r->t0);
}

/* Runs the agents to the end (or a signal, an error, --stop-at-target) with the
   progress line and the periodic evaluations of the averaged model. Returns the exit
   code so far: 0, 3 (an agent failed) or 128 + signal. */
static int
s_sim_monitor (s_sim_t *r)
{
    const int n = r->so.agents;
    s_sim_start (r);
    const uint64_t spe = r->spe, total = r->total;
    const int per_epoch = r->ao.evals_per_epoch;
    uint64_t k = 1; /* the next evaluation while training */
    while (s_eval_step (k, spe, per_epoch) <= r->start_step)
        k++;
    bool stopped = false;
    int exit_code = 0;
    /* Every look reads each agent's counters twice (milliseconds for 512 agents): 20 ms
       apart up to 64 agents, then longer in proportion (a round of n agents on the cores
       takes longer too), at most 200 ms. Between looks it waits for the agents' end,
       which wakes it: the run ends when they do, not up to a poll later (160 ms at 512
       agents, 10% of the scale acceptance's run). */
    const double poll_s = 0.02 * (n > 64 ? (n < 640 ? n / 64.0 : 10.0) : 1.0);
    for (;;) {
        s_ctrs_t sum;
        s_cluster_ctrs (r->cl, &sum);
        const double mean_steps = s_ctr (&sum, "steps") / n;
        s_ends_t e;
        s_sim_ends (r, &e);
        s_sim_progress (r, &sum);
        /* Under --byzantine an agent that diverged is what the attack did, not a failure
           of the run: the others go on, and the summary counts it (diverged_agents). */
        if (e.failed && !r->nbyz) {
            mdl_progress_end (&r->prog);
            /* --quiet hides the agents' own lines: say the first one's reason here too */
            fprintf (stderr, "meshdl sim: %d agent(s) stopped on an error (agent %d at step %llu: %s)%s\n", e.failed,
                     e.first, (unsigned long long) e.first_step, mdl_strerror (e.first_err), r->to.quiet ? "" : "; see above");
            exit_code = 3;
            break;
        }
        if (mdl_signals_stop () && !stopped) {
            mdl_cluster_stop (r->cl);
            stopped = true;
            exit_code = 128 + mdl_signals_which ();
        }
        const uint64_t due = s_eval_step (k, spe, per_epoch);
        if (!stopped && e.finished < n && due < total && mean_steps >= (double) due) {
            if (s_sim_eval (r, r->eval_rows, false)) {
                exit_code = 3;
                break;
            }
            while (s_eval_step (k, spe, per_epoch) <= (uint64_t) r->ev.mean_step)
                k++;
            if (r->to.stop_at_target && !isnan (r->t_target)) {
                mdl_cluster_stop (r->cl);
                stopped = true;
            }
        }
        if (e.finished == n || stopped)
            break;
        (void) mdl_cluster_wait_end (r->cl, poll_s);
    }
    mdl_cluster_join (r->cl);
    mdl_progress_end (&r->prog);
    /* The final evaluation, once: the models as they ended, on every test row. */
    if (exit_code != 3) {
        if (s_sim_eval (r, mdl_dataset_n (r->test), true))
            exit_code = 3;
        else if (r->to.checkpoint && s_sim_checkpoint (r))
            exit_code = 2;
    }
    return exit_code;
}

/* Mean squared error of the linear model w (dim weights, no bias) on ds. */
static double
s_mse (const mdl_dataset_t *ds, const double *w)
{
    const size_t n = mdl_dataset_n (ds), dim = mdl_dataset_dim (ds);
    const float *X = mdl_dataset_x (ds), *y = mdl_dataset_targets (ds);
    double sse = 0;
    for (size_t i = 0; i < n; i++) {
        double p = 0;
        for (size_t j = 0; j < dim; j++)
            p += w[j] * X[i * dim + j];
        sse += (p - y[i]) * (p - y[i]);
    }
    return n ? sse / (double) n : NAN;
}

/* ||w|| of dim doubles. */
static double
s_norm (const double *w, size_t dim)
{
    double nn = 0;
    for (size_t k = 0; k < dim; k++)
        nn += w[k] * w[k];
    return sqrt (nn);
}

/* Model-parallel least squares: the training and test MSE of the assembled model (the
   sum of the agents' blocks), the mean of y^2 (the MSE of w = 0), and those of the
   centralized minimum-norm solution A^+ y that the distributed one is compared with. */
static void
s_sim_regression (s_sim_t *r, mdl_json_t *j)
{
    const size_t n = mdl_dataset_n (r->train), dim = mdl_dataset_dim (r->train);
    const float *whole = mdl_cluster_model (r->cl);
    double *w = malloc (dim * sizeof *w);
    if (!w || !whole) {
        free (w);
        return;
    }
    const float *t = mdl_dataset_targets (r->train);
    double y2 = 0;
    for (size_t i = 0; i < n; i++)
        y2 += (double) t[i] * t[i] / (double) n;
    for (size_t k = 0; k < dim; k++)
        w[k] = whole[k];
    mdl_json_num (j, "train_mse", s_mse (r->train, w));
    mdl_json_num (j, "test_mse", s_mse (r->test, w));
    mdl_json_num (j, "y2_mean", y2);
    mdl_json_num (j, "x_norm", s_norm (w, dim));
    if (mdl_dataset_minnorm (r->train, w) == 0) {
        mdl_json_num (j, "minnorm_train_mse", s_mse (r->train, w));
        mdl_json_num (j, "minnorm_test_mse", s_mse (r->test, w));
        mdl_json_num (j, "minnorm_x_norm", s_norm (w, dim));
    }
    free (w);
}

/* The honest agents' part of the summary (under --byzantine): their accuracy, how many
   agents diverged, and what the honest ones refused (a liar refuses too: the honest ones
   do not wait for it, so they run more than --max-lead ahead of it). */
static void
s_sim_summary_honest (s_sim_t *r, mdl_json_t *j, uint64_t skipped_honest)
{
    const int n = r->so.agents;
    const s_eval_t *ev = &r->ev;
    double hmean = 0, hmin = INFINITY;
    int diverged = 0;
    s_ctrs_t hrej;
    memset (&hrej, 0, sizeof hrej);
    for (int i = 0; i < n; i++) {
        s_ctrs_t c;
        s_agent_ctrs (r->cl, i, &c);
        diverged += s_ctr (&c, "error") != 0;
        if (r->byz[i])
            continue;
        hmean += ev->acc[i] / (n - r->nbyz);
        hmin = ev->acc[i] < hmin ? ev->acc[i] : hmin;
        for (size_t k = 0; k < c.n; k++)
            hrej.v[k] += c.v[k];
        hrej.n = c.n;
    }
    mdl_json_num (j, "test_acc_honest_mean", r->nbyz < n ? hmean : NAN);
    mdl_json_num (j, "test_acc_honest_min", r->nbyz < n ? hmin : NAN);
    mdl_json_int (j, "byzantine_agents", r->nbyz);
    mdl_json_int (j, "diverged_agents", diverged);
    mdl_json_int (j, "steps_skipped_honest", (long long) skipped_honest); /* catching up */
    mdl_json_open (j, "rejected_by_honest");
    for (size_t k = 0; k < hrej.n; k++) {
        const char *name = mdl_agent_counter_name (k);
        if (name && !strncmp (name, "rejected_", 9) && hrej.v[k] > 0)
            mdl_json_int (j, name + 9, (long long) hrej.v[k]);
    }
    mdl_json_close (j);
}

/* The summary's figures of each agent: the slowest one's steps, the rounds skipped,
   what the agents hold for their peers at the end (O(degree), not O(agents)), how many
   took part in the final merge of all. */
typedef struct {
    uint64_t steps_min, skipped, skipped_honest;
    uint64_t conns, conns_max, boxes, boxes_max;
    int merged;
} s_per_agent_t;

static void
s_sim_per_agent (s_sim_t *r, s_per_agent_t *p)
{
    const int n = r->so.agents;
    memset (p, 0, sizeof *p);
    p->steps_min = UINT64_MAX;
    for (int i = 0; i < n; i++) {
        s_ctrs_t c;
        s_agent_ctrs (r->cl, i, &c);
        const uint64_t steps = (uint64_t) s_ctr (&c, "steps"), skipped = (uint64_t) s_ctr (&c, "steps_skipped");
        const uint64_t conns = (uint64_t) s_ctr (&c, "connections"), boxes = (uint64_t) s_ctr (&c, "mailboxes");
        p->steps_min = steps < p->steps_min ? steps : p->steps_min;
        p->skipped += skipped;
        if (!r->byz[i])
            p->skipped_honest += skipped;
        p->conns += conns;
        p->conns_max = conns > p->conns_max ? conns : p->conns_max;
        p->boxes += boxes;
        p->boxes_max = boxes > p->boxes_max ? boxes : p->boxes_max;
        p->merged += s_ctr (&c, "merged") != 0 && s_ctr (&c, "merge_peers") == (double) (n - 1);
    }
}

/* The summary's traffic and gossip figures, from the agents' counters combined. */
static void
s_sim_summary_gossip (s_sim_t *r, mdl_json_t *j, const s_ctrs_t *sum)
{
    mdl_agentopts_json_counters (j, sum->v, sum->n);
    mdl_agentopts_json_robust (j, r->base, sum->v, sum->n);
    mdl_json_int (j, "keyframes_sent", (long long) s_ctr (sum, "keyframes_sent"));
    mdl_json_int (j, "resyncs", (long long) s_ctr (sum, "resyncs"));
    if (r->ao.verify_replicas) {
        mdl_json_int (j, "replicas_verified", (long long) s_ctr (sum, "replicas_verified"));
        mdl_json_int (j, "replica_mismatches", (long long) s_ctr (sum, "replica_mismatches"));
    }
    const double steps = s_ctr (sum, "steps"), rounds = s_ctr (sum, "gossip_rounds");
    mdl_json_num (j, "gossip_rounds_per_step", steps > 0 ? rounds / steps : 0.0);
    if (r->ao.adaptive_degree)
        mdl_json_num (j, "dense_round_fraction", rounds > 0 ? s_ctr (sum, "dense_rounds") / rounds : 0.0);
    const double seen = s_ctr (sum, "peers_seen");
    mdl_json_int (j, "peers_seen", (long long) (seen >= (double) UINT64_MAX ? 0 : seen));
}

/* The summary's figures of the agents' work: steps, waits, resources, averages. */
static void
s_sim_summary_work (s_sim_t *r, mdl_json_t *j, const s_ctrs_t *sum, const s_per_agent_t *p)
{
    const int n = r->so.agents;
    mdl_json_int (j, "steps", (long long) ((uint64_t) s_ctr (sum, "steps") / (uint64_t) n));
    mdl_json_int (j, "steps_min", (long long) p->steps_min);
    mdl_json_int (j, "steps_skipped", (long long) p->skipped); /* sync: rounds jumped to catch up */
    mdl_json_num (j, "sync_wait_s", s_ctr (sum, "wait_s"));
    mdl_json_num (j, "connections_per_agent", (double) p->conns / n);
    mdl_json_int (j, "connections_max", (long long) p->conns_max);
    mdl_json_num (j, "mailboxes_per_agent", (double) p->boxes / n);
    mdl_json_int (j, "mailboxes_max", (long long) p->boxes_max);
    if (r->ao.final_merge)
        mdl_json_int (j, "merged_agents", p->merged);
    /* every agent counts each global average it took part in: the mean per agent */
    mdl_json_int (j, "global_averages", (long long) ((uint64_t) s_ctr (sum, "global_averages") / (uint64_t) n));
    if (s_algo_is (r->ao.algo, "pairwise")) { /* each average counted by both sides */
        mdl_json_int (j, "pair_averages", (long long) ((uint64_t) s_ctr (sum, "pair_averages") / 2));
        mdl_json_int (j, "pair_requests_refused", (long long) s_ctr (sum, "pair_refused"));
        mdl_json_int (j, "pair_late_accepts", (long long) s_ctr (sum, "pair_late"));
    }
    if (r->so.offline > 0)
        mdl_json_num (j, "rounds_offline_per_agent", s_ctr (sum, "rounds_offline") / n);
}

/* The summary's end: the run's resources, target, checkpoints and status. */
static void
s_sim_summary_run (s_sim_t *r, mdl_json_t *j, double wall, int exit_code)
{
    mdl_json_num (j, "wall_s", wall);
    mdl_json_num (j, "startup_s", r->startup_s);
    mdl_json_num (j, "discovery_s", r->discovery_s);
    mdl_json_int (j, "params", (long long) r->d);
    mdl_json_str (j, "model", r->to.model);
    mdl_json_num (j, "peak_rss_mb", mdl_peak_rss_mb ());
    if (r->to.target_acc > 0) {
        mdl_json_num (j, "target_acc", r->to.target_acc);
        if (isnan (r->t_target))
            mdl_json_null (j, "time_to_target_s");
        else
            mdl_json_num (j, "time_to_target_s", r->t_target);
    }
    if (r->to.resume) {
        mdl_json_str (j, "resumed_from", r->to.resume);
        mdl_json_int (j, "resumed_step", (long long) r->start_step);
    }
    if (r->to.checkpoint)
        mdl_json_str (j, "checkpoint", r->to.checkpoint);
    mdl_json_str (j, "status", exit_code == 0 ? "done" : exit_code == 3 ? "failed" : exit_code == 2 ? "checkpoint failed" : "interrupted");
}

/* The {"summary": ...} line. */
static void
s_sim_summary (s_sim_t *r, int exit_code)
{
    const double wall = mdl_cli_now () - r->t0;
    s_ctrs_t sum;
    s_cluster_ctrs (r->cl, &sum);
    s_per_agent_t p;
    s_sim_per_agent (r, &p);
    const s_eval_t *ev = &r->ev;
    mdl_json_t j;
    mdl_json_begin (&j);
    mdl_json_open (&j, "summary");
    mdl_json_num (&j, "test_acc", ev->acc_avg);
    mdl_json_num (&j, "test_loss", ev->loss_avg);
    mdl_json_num (&j, "test_acc_mean", ev->acc_mean);
    mdl_json_num (&j, "test_acc_min", ev->acc_min);
    if (r->nbyz)
        s_sim_summary_honest (r, &j, p.skipped_honest);
    mdl_json_num (&j, "consensus_distance", ev->consensus);
    mdl_json_int (&j, "agents", r->so.agents);
    mdl_agentopts_json_settings (&j, &r->ao, &r->to);
    mdl_json_str (&j, "run", r->run);
    s_sim_summary_gossip (r, &j, &sum);
    s_sim_summary_work (r, &j, &sum, &p);
    if (r->model_parallel && mdl_dataset_targets (r->train))
        s_sim_regression (r, &j);
    s_sim_summary_run (r, &j, wall, exit_code);
    mdl_json_close (&j);
    mdl_json_end (&j, stdout);
}

/* The table with its defaults noted, for MESHDL_* and --help (cli.h). */
const mdl_optdef_t *
mdl_cmd_sim_options (void)
{
    static s_sim_t probe;
    s_sim_defs (&probe);
    return mdl_opts_noted (probe.defs);
}

int
mdl_cmd_sim (int argc, char **argv)
{
    s_sim_t r;
    memset (&r, 0, sizeof r);
    int rc = s_sim_options (&r, argc, argv);
    if (rc == 0)
        rc = s_sim_build (&r);
    if (rc == 0) {
        rc = s_sim_monitor (&r);
        s_sim_summary (&r, rc);
    }
    s_sim_free (&r);
    return rc == 1 ? 0 : rc;
}
