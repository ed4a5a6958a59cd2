/*  cmd_sim.c: `meshdl sim`: N agents as threads of one process, over inproc:// sockets
    and the in-process registry: the same agent code as on a LAN. The coordinator (this
    thread) sees what no agent can: it snapshots every agent's model at the same moments,
    computes the exact consensus distance (1/n) sum_i ||x_i - xbar||^2 and evaluates the
    averaged model xbar, besides each agent's own. It can inject stragglers (--slow),
    link delay (--delay-ms) and message loss (--drop), all from the seed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "agentopts.h"
#include "algo.h"
#include "checkpoint.h"
#include "cluster.h"
#include "cli.h"
#include "err.h"
#include "http.h"
#include "linalg.h"
#include "partition.h"
#include "report.h"
#include "signals.h"
#include "topo.h"
#include "trainopts.h"
#include "vec.h"

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
} s_simopts_t;

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
    mdl_cluster_t *cl;
    int n;
    size_t d;
    mdl_learner_t *eval; /* evaluates foreign parameter vectors */
    const mdl_dataset_t *test;
    size_t test_rows;
    const mdl_algo_ops_t *ops;
    float *whole;        /* model-parallel: the sum of the agents' vectors (d) */
    int32_t *drift_map;  /* --drift-at: evaluate with the rotated labels ... */
    double drift_step;   /* ... once the agents' mean step is past this */
} s_coord_t;

typedef struct {
    double acc_avg, loss_avg;   /* averaged model */
    double acc_mean, acc_min;   /* agents' own */
    double consensus;           /* (1/n) sum ||x_i - xbar||^2 */
    double t_snap, wall_snap;   /* monotonic and wall-clock time when the snapshots were complete */
    double mean_step;           /* the agents' mean step in the snapshots */
    size_t rows;                /* test rows evaluated */
    bool final;                 /* after training ended */
    double *acc, *loss;         /* per agent (n) */
    double *dist;               /* per agent: ||x_i - xbar||^2 */
} s_eval_t;

/* The model the run has reached, from the last snapshots: the agents' mean (gossip);
   their sum (model-parallel: each holds its block, zeros elsewhere); the model of the
   agent holding the newest aggregate (sampled rounds: the others hold older ones). */
static const float *
s_model_of_run (s_coord_t *c)
{
    if (c->ops->model_parallel) {
        mdl_vec_copy (c->whole, mdl_cluster_mean (c->cl), c->d);
        mdl_vec_scale (c->whole, (float) c->n, c->d);
        return c->whole;
    }
    if (c->ops->sampled) {
        int best = 0;
        uint64_t newest = 0;
        for (int i = 0; i < c->n; i++) {
            mdl_agent_stats_t st;
            mdl_agent_stats (mdl_cluster_agent (c->cl, i), &st);
            if (st.model_round > newest)
                newest = st.model_round, best = i;
        }
        return mdl_cluster_snap (c->cl, best);
    }
    return mdl_cluster_mean (c->cl);
}

/* Snapshots every agent, then evaluates the model of the run and each agent's on the
   first rows test rows. Returns 0 or MDL_ETIMEOUT. */
static int
s_evaluate (s_coord_t *c, s_eval_t *e, size_t rows)
{
    if (mdl_cluster_snapshot (c->cl, 120.0, &e->mean_step))
        return MDL_ETIMEOUT;
    if (c->drift_map && e->mean_step >= c->drift_step)
        mdl_learner_set_label_map (c->eval, c->drift_map);
    /* The figures below describe the models as of now; evaluating them takes a while
       (the agents keep training meanwhile), and that time must not count as theirs. */
    e->t_snap = mdl_cli_now ();
    e->wall_snap = mdl_cli_wallclock ();
    e->rows = rows;
    e->consensus = mdl_cluster_consensus (c->cl, e->dist);
    mdl_learner_evaluate (c->eval, s_model_of_run (c), c->test, rows, &e->loss_avg, &e->acc_avg);
    e->acc_mean = 0;
    e->acc_min = INFINITY;
    for (int i = 0; i < c->n; i++) {
        mdl_learner_evaluate (c->eval, mdl_cluster_snap (c->cl, i), c->test, rows, &e->loss[i], &e->acc[i]);
        e->acc_mean += e->acc[i] / c->n;
        if (e->acc[i] < e->acc_min)
            e->acc_min = e->acc[i];
    }
    return 0;
}

/* The step time to emulate when agents share the CPU: one uncontended local step,
   times the agents each core must carry, with headroom for gossip. Without pacing, N
   agents on fewer cores are all slowed alike by contention and a --slow agent is not a
   straggler relative to the others as it would be on its own machine. */
static double
s_calibrate (const mdl_learner_cfg_t *cfg, const mdl_dataset_t *train, int agents, int degree)
{
    int rc;
    mdl_learner_t *l = mdl_learner_new (cfg, train, NULL, 0, &rc);
    if (!l)
        return 0;
    float loss;
    for (int i = 0; i < 5; i++)
        mdl_learner_step (l, &loss);
    const int k = 30;
    double t0 = mdl_cli_now ();
    for (int i = 0; i < k; i++)
        mdl_learner_step (l, &loss);
    double step = (mdl_cli_now () - t0) / k;
    /* The gossip of a step, done with plain buffers: one encode copy, a decode copy per
       neighbour, the mixing pass over them. */
    const size_t d = mdl_model_nparams (mdl_learner_model (l));
    float *x = mdl_model_params (mdl_learner_model (l));
    float *buf = calloc (d * (size_t) (degree + 1), sizeof (float));
    if (buf && degree > 0 && degree <= 64) {
        const float *v[64];
        float cf[64];
        for (int j = 0; j < degree; j++) {
            v[j] = buf + d * (size_t) (j + 1);
            cf[j] = 0.0f;
        }
        t0 = mdl_cli_now ();
        for (int i = 0; i < k; i++) {
            memcpy (buf, x, d * sizeof (float));
            for (int j = 0; j < degree; j++)
                memcpy (buf + d * (size_t) (j + 1), buf, d * sizeof (float)); /* v[j] */
            mdl_vec_mix (x, 1.0f, NULL, 0.0f, v, cf, (size_t) degree, d);
        }
        step += (mdl_cli_now () - t0) / k;
    }
    free (buf);
    mdl_learner_destroy (&l);
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        cores = 1;
    /* x1.5: the comm threads, the coordinator's evaluations and memory bandwidth shared
       by all cores. */
    return step * 1.5 * ((double) agents / (double) cores);
}

/* --byzantine I:MODE[:ARG], repeatable: fills byz[I]. 0 or MDL_EINVAL + message. */
static int
s_parse_byzantine (const mdl_strlist_t *l, int n, mdl_byz_cfg_t *byz, char *err, size_t errlen)
{
    for (int k = 0; k < l->n; k++) {
        const char *s = l->v[k];
        char *end;
        long i = strtol (s, &end, 10);
        if (end == s || *end != ':' || i < 0 || i >= n) {
            snprintf (err, errlen, "meshdl sim: --byzantine '%s' must be I:MODE[:ARG] with 0 <= I < %d", s, n);
            return MDL_EINVAL;
        }
        char why[256];
        if (mdl_byz_parse (end + 1, &byz[i], why, sizeof why)) {
            snprintf (err, errlen, "meshdl sim: %s (in --byzantine '%s')", why, s);
            return MDL_EINVAL;
        }
    }
    return 0;
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
    mdl_byz_cfg_t *byz;      /* per agent: --byzantine */
    int nbyz;                /* agents named by --byzantine */
    double pace;             /* seconds per step of a normal agent (0: no pacing) */
    mdl_dataset_t *train, *test;
    mdl_partition_t *part;
    FILE *metrics, *log;
    s_coord_t co;
    s_eval_t ev;
    uint64_t spe, total;     /* steps per epoch, in all */
    uint64_t start_step;     /* --resume: the step the agents start from */
    size_t eval_rows;        /* test rows of the evaluations while training */
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
    mdl_cluster_destroy (&r->co.cl);
    free (r->co.drift_map);
    free (r->co.whole);
    mdl_learner_destroy (&r->co.eval);
    free (r->ev.acc);
    free (r->ev.loss);
    free (r->ev.dist);
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

/* The rules of the sim's own options against the algorithm: --offline (in the table's
   .takes), --blocks one per agent. 0 or MDL_EINVAL with the message in err. */
static int
s_sim_rules (s_sim_t *r, char *err, size_t errlen)
{
    const mdl_algo_ops_t *ops = mdl_algo_find (r->ao.algo);
    r->base->offline = r->so.offline;
    char why[384];
    if (mdl_algo_validate (ops, r->base, why, sizeof why)) {
        snprintf (err, errlen, "meshdl sim: %s", why);
        return MDL_EINVAL;
    }
    if (r->so.offline > 0 && (r->ao.overlap || r->ao.isolated)) {
        snprintf (err, errlen, "meshdl sim: --offline does not combine with %s", r->ao.overlap ? "--overlap" : "--isolated");
        return MDL_EINVAL;
    }
    if (ops->model_parallel && r->base->nblocks != r->so.agents) {
        snprintf (err, errlen, "meshdl sim: --algo %s: --blocks gives %d blocks for %d agents (one block per agent)",
                  ops->name, r->base->nblocks, r->so.agents);
        return MDL_EINVAL;
    }
    if (ops->model_parallel && r->ao.isolated) {
        snprintf (err, errlen, "meshdl sim: --algo %s needs every block's prediction: not --isolated", ops->name);
        return MDL_EINVAL;
    }
    return 0;
}

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
    S ("offline", MDL_OPTT_DOUBLE, &r->so.offline, "P", "each agent is offline in each round with probability P: an availability trace from --seed that every agent knows, as a membership service would report it; offline agents neither compute nor communicate (dpsgd, localsgd, plexus)", 0, 0.99);
#undef S
    mdl_agentopts_table (&r->to, &r->ao, defs, &n, cap);
    mdl_optdef_t *d;
    if ((d = mdl_opts_find (defs, "step-ms")))
        d->deflt = "0; calibrated with --slow";
    if ((d = mdl_opts_find (defs, "threads")))
        d->help = "BLAS threads of the process (0 = OpenBLAS default)";
    if ((d = mdl_opts_find (defs, "checkpoint")))
        d->help = "at the end (also on SIGINT/SIGTERM) write the averaged model with the agents' mean optimizer "
                  "state, atomically: for sim --resume or train --resume";
    if ((d = mdl_opts_find (defs, "resume")))
        d->help = "start every agent from this checkpoint (of sim or train, same --model and --optimizer), at its "
                  "step: the run ends where --epochs says";
}

const mdl_optdef_t *
mdl_cmd_sim_options (void)
{
    static s_sim_t probe;
    s_sim_defs (&probe);
    mdl_opts_note_defaults (probe.defs);
    return probe.defs;
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
    if (rc == 0 && !(r->slow = calloc ((size_t) r->so.agents, sizeof *r->slow)))
        rc = MDL_ENOMEM;
    for (int i = 0; rc == 0 && i < r->so.agents; i++)
        r->slow[i] = 1.0;
    for (int k = 0; rc == 0 && k < r->so.slow.n; k++) {
        int who;
        double f;
        if (s_parse_slow (r->so.slow.v[k], r->so.agents, &who, &f)) {
            snprintf (err, sizeof err, "meshdl sim: --slow '%s' must be I:FACTOR with 0 <= I < %d and FACTOR >= 1",
                      r->so.slow.v[k], r->so.agents);
            rc = MDL_EINVAL;
        } else
            r->slow[who] = f;
    }
    if (rc == 0 && !(r->byz = calloc ((size_t) r->so.agents, sizeof *r->byz)))
        rc = MDL_ENOMEM;
    if (rc == 0)
        rc = s_parse_byzantine (&r->so.byzantine, r->so.agents, r->byz, err, sizeof err);
    if (rc == 0 && mdl_agent_cfg_check_agents (r->base, (uint32_t) r->so.agents)) {
        snprintf (err, sizeof err, "meshdl sim: %s", mdl_error_detail ());
        rc = MDL_EINVAL;
    }
    for (int i = 0; rc == 0 && i < r->so.agents; i++)
        r->nbyz += r->byz[i].kind != MDL_BYZ_NONE;
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

/* Per-agent settings of the cluster: the injections and the seeds. */
static void
s_sim_tweak (mdl_agent_cfg_t *cfg, int i, void *arg)
{
    const s_sim_t *r = arg;
    cfg->learn.data_seed = r->to.seed * 1000003ULL + (uint64_t) i;
    cfg->slow_factor = r->slow[i];
    cfg->seed = r->to.seed + (uint64_t) i * 7919;
    cfg->byzantine = r->byz[i];
    cfg->join_burst = r->so.agents + 16; /* everyone joins at once */
}

/* --resume: every agent starts from the checkpoint's parameters, optimizer state and
   step (sim's own, which is per agent; or train's). Returns 0 or 2 with the message. */
static int
s_sim_resume (s_sim_t *r)
{
    uint64_t step = 0, epoch = 0;
    for (int i = 0; i < r->so.agents; i++) {
        mdl_learner_t *l = mdl_agent_learner (mdl_cluster_agent (r->co.cl, i));
        mdl_model_t *m = mdl_learner_model (l);
        size_t slen = 0;
        float *state = mdl_optim_state (mdl_learner_optim (l), &slen);
        int rc = mdl_ckpt_load (r->to.resume, mdl_model_spec (m), mdl_model_params (m), mdl_model_nparams (m), state,
                                slen, &step, &epoch);
        if (rc) {
            fprintf (stderr, "meshdl sim: cannot resume from %s: %s%s\n", r->to.resume, mdl_strerror (rc),
                     rc == MDL_ECKPT_MODEL ? " (use the --model and --optimizer of the run that wrote it)" : "");
            return 2;
        }
        mdl_learner_set_steps (l, step);
        mdl_optim_set_steps (mdl_learner_optim (l), step);
    }
    r->start_step = step;
    if (!r->to.quiet)
        fprintf (stderr, "meshdl sim: resuming from %s at step %llu of %llu (epoch %.2f)\n", r->to.resume,
                 (unsigned long long) step, (unsigned long long) r->total, (double) step / (double) r->spe);
    return 0;
}

/* --checkpoint: the averaged model of the last snapshot (every agent has stopped), with
   the agents' mean optimizer state, at their mean step. Returns 0 or 2 (message printed). */
static int
s_sim_checkpoint (s_sim_t *r)
{
    const int n = r->so.agents;
    mdl_learner_t *l0 = mdl_agent_learner (mdl_cluster_agent (r->co.cl, 0));
    size_t slen = 0;
    mdl_optim_state (mdl_learner_optim (l0), &slen);
    float *state = slen ? calloc (slen, sizeof (float)) : NULL;
    if (slen && !state) {
        fprintf (stderr, "meshdl sim: out of memory writing checkpoint %s\n", r->to.checkpoint);
        return 2;
    }
    for (int i = 0; i < n; i++) {
        size_t len = 0;
        const float *si = mdl_optim_state (mdl_learner_optim (mdl_agent_learner (mdl_cluster_agent (r->co.cl, i))), &len);
        if (len == slen && si)
            mdl_vec_axpy (state, 1.0f / (float) n, si, slen);
    }
    const uint64_t step = (uint64_t) llround (r->ev.mean_step);
    mdl_ckpt_t ck = { .spec = mdl_model_spec (mdl_learner_model (l0)), .params = mdl_cluster_mean (r->co.cl),
                      .d = r->co.d, .opt_state = state, .opt_len = slen, .step = step, .epoch = step / r->spe };
    int rc = mdl_ckpt_save (r->to.checkpoint, &ck);
    free (state);
    if (rc) {
        fprintf (stderr, "meshdl sim: cannot write checkpoint %s: %s\n", r->to.checkpoint, mdl_strerror (rc));
        return 2;
    }
    return 0;
}

/* Data, shards, output files and the agents. Returns 0 or 2 with the message printed. */
static int
s_sim_build (s_sim_t *r)
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
    mdl_agent_cfg_t *b = r->base;
    mdl_progress_init (&r->prog, stderr, "", r->to.progress);
    b->log = r->log;
    if (r->log == stderr) {
        b->log_fn = mdl_progress_log_fn;
        b->log_arg = &r->prog;
    }
    b->train = r->train;
    b->test = NULL; /* the coordinator evaluates */
    b->epochs = r->to.epochs;
    b->min_peers_timeout = 60.0;
    b->delay_ms = r->so.delay_ms;
    b->drop = r->so.drop;
    /* Pacing (see s_calibrate): on by default when stragglers are injected. */
    r->pace = r->so.step_ms / 1000.0;
    if (r->so.slow.n > 0 && !mdl_opts_given (r->defs, "step-ms")) {
        mdl_topo_t *t = mdl_topo_new (r->ao.topology, 0, &rc);
        size_t deg = 2;
        if (t) {
            mdl_topo_degree (t, (uint32_t) n, 0, 0, &deg);
            mdl_topo_destroy (&t);
        }
        mdl_learner_cfg_t lc = b->learn;
        lc.sched.steps_per_epoch = mdl_cluster_equal_steps (r->part, n, lc.batch);
        lc.sched.total_steps = lc.sched.steps_per_epoch * (uint64_t) r->to.epochs;
        r->pace = s_calibrate (&lc, r->train, n, (int) deg);
    }
    b->pace_s = r->pace;
    /* Model-parallel algorithms split the unknowns, not the rows: every agent sees all. */
    const mdl_algo_ops_t *ops = mdl_algo_find (r->ao.algo);
    mdl_cluster_cfg_t cc = { .n = n, .base = b, .part = ops->model_parallel ? NULL : r->part, .equal_rounds = true,
                             .isolated = r->ao.isolated, .name = "mdl-sim", .tweak = s_sim_tweak, .tweak_arg = r };
    int failed = -1;
    if (!(r->co.cl = mdl_cluster_new (&cc, &rc, &failed))) {
        if (failed >= 0)
            fprintf (stderr, "meshdl sim: agent %d: %s\n", failed, mdl_strerror (rc));
        else
            fprintf (stderr, "meshdl sim: cannot build %d agents: %s\n", n, mdl_strerror (rc));
        return 2;
    }
    r->spe = mdl_cluster_steps_per_epoch (r->co.cl);
    if (!r->spe) /* each agent runs its own: here all the same (every row) */
        r->spe = mdl_learner_steps_per_epoch (mdl_agent_learner (mdl_cluster_agent (r->co.cl, 0)));
    r->total = r->spe * (uint64_t) r->to.epochs;
    r->co.n = n;
    r->co.d = mdl_cluster_dim (r->co.cl);
    r->co.test = r->test;
    r->co.ops = ops;
    if (ops->model_parallel && !(r->co.whole = malloc (r->co.d * sizeof (float)))) {
        fprintf (stderr, "meshdl sim: out of memory\n");
        return 2;
    }
    r->ev.acc = calloc ((size_t) n, sizeof (double));
    r->ev.loss = calloc ((size_t) n, sizeof (double));
    r->ev.dist = calloc ((size_t) n, sizeof (double));
    mdl_learner_cfg_t lc = b->learn;
    lc.sched.steps_per_epoch = r->spe;
    lc.sched.total_steps = r->total;
    if (!r->ev.acc || !r->ev.loss || !r->ev.dist || !(r->co.eval = mdl_learner_new (&lc, r->train, NULL, 0, &rc))) {
        fprintf (stderr, "meshdl sim: out of memory\n");
        return 2;
    }
    /* Evaluations while training: the averaged model and every agent's, between two of
       them n agents x batch x steps samples trained. */
    const double between = (double) n * (double) r->to.batch * (double) r->spe / (double) r->ao.evals_per_epoch;
    r->eval_rows = mdl_agentopts_eval_rows (&r->ao, &r->to, between, n + 1, mdl_dataset_n (r->test));
    if (r->to.resume && s_sim_resume (r))
        return 2;
    if (r->ao.drift_at > 0) {
        const int classes = mdl_dataset_classes (r->train);
        if (!(r->co.drift_map = malloc ((size_t) (classes > 0 ? classes : 1) * sizeof (int32_t)))) {
            fprintf (stderr, "meshdl sim: out of memory\n");
            return 2;
        }
        mdl_label_map_rotate (r->co.drift_map, classes);
        r->co.drift_step = r->ao.drift_at * (double) r->spe;
    }
    return 0;
}

/* One metrics line per agent for the evaluation just made: each at the step, epoch, loss
   and traffic of the snapshot that was evaluated. */
static void
s_sim_metrics (s_sim_t *r)
{
    const double now = r->ev.t_snap - r->t0;
    for (int i = 0; r->metrics && i < r->so.agents; i++) {
        mdl_agent_stats_t st;
        if (mdl_cluster_snap_stats (r->co.cl, i, &st))
            continue;
        mdl_json_t j;
        mdl_json_begin (&j);
        mdl_json_num (&j, "time", r->ev.wall_snap);
        mdl_json_num (&j, "elapsed_s", now);
        mdl_json_str (&j, "run", r->run);
        mdl_json_int (&j, "agent", i);
        if (r->byz[i].kind != MDL_BYZ_NONE)
            mdl_json_int (&j, "byzantine", 1);
        mdl_json_int (&j, "step", (long long) st.steps);
        mdl_json_num (&j, "epoch", (double) st.steps / (double) r->spe);
        mdl_json_num (&j, "train_loss", st.loss);
        mdl_json_num (&j, "test_acc", r->ev.acc[i]);
        mdl_json_num (&j, "test_loss", r->ev.loss[i]);
        mdl_json_num (&j, "avg_test_acc", r->ev.acc_avg);
        mdl_json_num (&j, "avg_test_loss", r->ev.loss_avg);
        mdl_json_num (&j, "consensus_distance", r->ev.consensus);
        mdl_json_num (&j, "distance_to_mean", r->ev.dist[i]);
        mdl_json_num (&j, "disagreement", st.disagreement);
        double v[MDL_HTTP_COUNTERS];
        const size_t nv = mdl_agent_stats_values (&st, v, MDL_HTTP_COUNTERS);
        mdl_agentopts_json_counters (&j, v, nv);
        mdl_json_int (&j, "global_averages", (long long) st.global_averages);
        mdl_json_int (&j, "live_peers", (long long) st.peers_alive);
        mdl_json_int (&j, "eval_rows", (long long) r->ev.rows);
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
    mdl_progress_show (prog, true, "epoch %.2f  avg-model acc %.4f  agents mean %.4f min %.4f  consensus dist %.3g  %.1fs%s",
                       r->ev.mean_step / (double) r->spe, r->ev.acc_avg, r->ev.acc_mean, r->ev.acc_min, r->ev.consensus,
                       r->ev.t_snap - r->t0, r->ev.final ? "  (final)" : "");
    mdl_progress_end (prog);
}

/* The step of the k-th evaluation while training (k >= 1): k/N of an epoch, rounded up
   to a step, as an agent's own (worker.c). */
static uint64_t
s_eval_step (uint64_t k, uint64_t spe, int per_epoch)
{
    return (k * spe + (uint64_t) per_epoch - 1) / (uint64_t) per_epoch;
}

/* Runs the agents to the end (or a signal, an error, --stop-at-target) with the
   progress line and the periodic evaluations of the averaged model. Returns the exit
   code so far: 0, 3 (an agent failed) or 128 + signal. */
static int
s_sim_monitor (s_sim_t *r)
{
    const int n = r->so.agents;
    mdl_signals_install ();
    r->startup_s = mdl_process_age ();
    const double t_ready = mdl_cli_now ();
    mdl_progress_t *prog = &r->prog;
    /* All agents start together once each sees the others (or the wait times out, which
       each worker reports itself). */
    int which = -1;
    if (mdl_cluster_wait_peers (r->co.cl, 30.0, &which))
        fprintf (stderr, "meshdl sim: agent %d did not see all %d peers within 30 s\n", which, n - 1);
    if (r->pace > 0 && !r->to.quiet)
        fprintf (stderr, "meshdl sim: pacing: a step of a normal agent takes %.2f ms (--step-ms)\n", r->pace * 1e3);
    if (!r->to.quiet)
        fprintf (stderr, "meshdl sim: %d agents, %s, %s %s, codec %s%s, %s, %zu parameters, %llu steps/epoch, batch %d\n",
                 n, r->ao.topology, r->ao.algo, r->ao.mode, r->ao.codec, r->ao.error_feedback ? " +EF" : "", r->to.model,
                 r->co.d, (unsigned long long) r->spe, r->to.batch);
    r->t0 = mdl_cli_now ();
    r->discovery_s = r->t0 - t_ready;
    r->t_target = NAN;
    mdl_cluster_start (r->co.cl);
    const uint64_t spe = r->spe, total = r->total;
    const int per_epoch = r->ao.evals_per_epoch;
    uint64_t k = 1; /* the next evaluation while training */
    while (s_eval_step (k, spe, per_epoch) <= r->start_step)
        k++;
    bool stopped = false;
    int exit_code = 0;
    for (;;) {
        mdl_agent_stats_t sum;
        mdl_cluster_stats_sum (r->co.cl, &sum);
        const double mean_steps = (double) sum.steps / n;
        int finished = 0, failed = 0, first = -1, first_err = 0;
        uint64_t first_step = 0;
        for (int i = 0; i < n; i++) {
            mdl_agent_stats_t st;
            mdl_agent_stats (mdl_cluster_agent (r->co.cl, i), &st);
            finished += st.finished;
            failed += st.finished && st.error;
            if (st.finished && st.error && first < 0) {
                first = i;
                first_err = st.error;
                first_step = st.steps;
            }
        }
        if (!r->to.quiet) {
            char loss[32] = "-";
            if (isfinite (sum.loss))
                snprintf (loss, sizeof loss, "%.4f", sum.loss);
            mdl_progress_show (prog, false, "step %.0f/%llu  epoch %.2f  loss %s  sent %.1f MB  %.1fs", mean_steps,
                               (unsigned long long) total, mean_steps / spe, loss, (double) sum.bytes_sent / 1e6,
                               mdl_cli_now () - r->t0);
        }
        /* Under --byzantine an agent that diverged is what the attack did, not a failure
           of the run: the others go on, and the summary counts it (diverged_agents). */
        if (failed && !r->nbyz) {
            mdl_progress_end (prog);
            /* --quiet hides the agents' own lines: say the first one's reason here too */
            fprintf (stderr, "meshdl sim: %d agent(s) stopped on an error (agent %d at step %llu: %s)%s\n", failed, first,
                     (unsigned long long) first_step, mdl_strerror (first_err), r->to.quiet ? "" : "; see above");
            exit_code = 3;
            break;
        }
        if (mdl_signals_stop () && !stopped) {
            mdl_cluster_stop (r->co.cl);
            stopped = true;
            exit_code = 128 + mdl_signals_which ();
        }
        const uint64_t due = s_eval_step (k, spe, per_epoch);
        if (!stopped && finished < n && due < total && mean_steps >= (double) due) {
            if (s_evaluate (&r->co, &r->ev, r->eval_rows)) {
                mdl_progress_end (prog);
                fprintf (stderr, "meshdl sim: an agent did not answer a snapshot request\n");
                exit_code = 3;
                break;
            }
            r->ev.final = false;
            while (s_eval_step (k, spe, per_epoch) <= (uint64_t) r->ev.mean_step)
                k++;
            if (r->to.target_acc > 0 && isnan (r->t_target) && r->ev.acc_avg >= r->to.target_acc)
                r->t_target = r->ev.t_snap - r->t0;
            s_sim_show_eval (r, prog);
            s_sim_metrics (r);
            if (r->to.stop_at_target && !isnan (r->t_target)) {
                mdl_cluster_stop (r->co.cl);
                stopped = true;
            }
        }
        if (finished == n || stopped)
            break;
        usleep (20000);
    }
    mdl_cluster_join (r->co.cl);
    mdl_progress_end (prog);
    /* The final evaluation, once: the models as they ended, on every test row. */
    if (exit_code != 3) {
        if (s_evaluate (&r->co, &r->ev, mdl_dataset_n (r->test))) {
            fprintf (stderr, "meshdl sim: final snapshot failed\n");
            exit_code = 3;
        } else {
            r->ev.final = true;
            if (r->to.target_acc > 0 && isnan (r->t_target) && r->ev.acc_avg >= r->to.target_acc)
                r->t_target = r->ev.t_snap - r->t0;
            s_sim_show_eval (r, prog);
            s_sim_metrics (r);
            if (r->to.checkpoint && s_sim_checkpoint (r))
                exit_code = 2;
        }
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

/* Model-parallel least squares: the training and test MSE of the assembled model (the
   sum of the agents' blocks), the mean of y^2 (the MSE of w = 0), and those of the
   centralized minimum-norm solution A^+ y that the distributed one is compared with. */
static void
s_sim_regression (s_sim_t *r, mdl_json_t *j)
{
    const size_t n = mdl_dataset_n (r->train), dim = mdl_dataset_dim (r->train);
    double *A = malloc (n * dim * sizeof *A), *y = malloc (n * sizeof *y), *w = malloc (dim * sizeof *w);
    if (!A || !y || !w) {
        free (A), free (y), free (w);
        return;
    }
    const float *X = mdl_dataset_x (r->train), *t = mdl_dataset_targets (r->train);
    double y2 = 0;
    for (size_t i = 0; i < n; i++) {
        y[i] = t[i];
        y2 += y[i] * y[i] / (double) n;
        for (size_t k = 0; k < dim; k++)
            A[i * dim + k] = X[i * dim + k];
    }
    const float *whole = s_model_of_run (&r->co);
    for (size_t k = 0; k < dim; k++)
        w[k] = whole[k];
    mdl_json_num (j, "train_mse", s_mse (r->train, w));
    mdl_json_num (j, "test_mse", s_mse (r->test, w));
    mdl_json_num (j, "y2_mean", y2);
    mdl_json_num (j, "x_norm", sqrt (mdl_vec_norm2 (whole, dim)));
    if (mdl_linalg_minnorm (A, n, dim, y, w) == 0) {
        mdl_json_num (j, "minnorm_train_mse", s_mse (r->train, w));
        mdl_json_num (j, "minnorm_test_mse", s_mse (r->test, w));
        double nn = 0;
        for (size_t k = 0; k < dim; k++)
            nn += w[k] * w[k];
        mdl_json_num (j, "minnorm_x_norm", sqrt (nn));
    }
    free (A), free (y), free (w);
}

/* The {"summary": ...} line. */
static void
s_sim_summary (s_sim_t *r, int exit_code)
{
    const double wall = mdl_cli_now () - r->t0;
    const int n = r->so.agents;
    mdl_agent_stats_t sum;
    mdl_cluster_stats_sum (r->co.cl, &sum);
    uint64_t steps_min = UINT64_MAX, skipped = 0, skipped_honest = 0;
    int merged = 0;
    /* what the agents hold for their peers at the end: O(degree), not O(agents) */
    uint64_t conns = 0, conns_max = 0, boxes = 0, boxes_max = 0;
    for (int i = 0; i < n; i++) {
        mdl_agent_stats_t st;
        mdl_agent_stats (mdl_cluster_agent (r->co.cl, i), &st);
        steps_min = st.steps < steps_min ? st.steps : steps_min;
        skipped += st.steps_skipped;
        if (!r->byz || r->byz[i].kind == MDL_BYZ_NONE)
            skipped_honest += st.steps_skipped;
        conns += st.connections;
        conns_max = st.connections > conns_max ? st.connections : conns_max;
        boxes += st.mailboxes;
        boxes_max = st.mailboxes > boxes_max ? st.mailboxes : boxes_max;
        merged += st.merged && st.merge_peers == (uint64_t) n - 1;
    }
    const s_eval_t *ev = &r->ev;
    mdl_json_t j;
    mdl_json_begin (&j);
    mdl_json_open (&j, "summary");
    mdl_json_num (&j, "test_acc", ev->acc_avg);
    mdl_json_num (&j, "test_loss", ev->loss_avg);
    mdl_json_num (&j, "test_acc_mean", ev->acc_mean);
    mdl_json_num (&j, "test_acc_min", ev->acc_min);
    if (r->nbyz) {
        /* the agents not named by --byzantine */
        double hmean = 0, hmin = INFINITY;
        int diverged = 0;
        /* what the honest agents refused: a liar refuses too (the honest ones do not
           wait for it, so they run more than --max-lead ahead of it) */
        uint64_t hrej[MDL_REJECT_COUNT] = {0};
        for (int i = 0; i < n; i++) {
            mdl_agent_stats_t st;
            mdl_agent_stats (mdl_cluster_agent (r->co.cl, i), &st);
            diverged += st.error != 0;
            if (r->byz[i].kind == MDL_BYZ_NONE) {
                hmean += ev->acc[i] / (n - r->nbyz);
                hmin = ev->acc[i] < hmin ? ev->acc[i] : hmin;
                for (int k = 0; k < MDL_REJECT_COUNT; k++)
                    hrej[k] += st.rejected[k];
            }
        }
        mdl_json_num (&j, "test_acc_honest_mean", r->nbyz < n ? hmean : NAN);
        mdl_json_num (&j, "test_acc_honest_min", r->nbyz < n ? hmin : NAN);
        mdl_json_int (&j, "byzantine_agents", r->nbyz);
        mdl_json_int (&j, "diverged_agents", diverged);
        mdl_json_int (&j, "steps_skipped_honest", (long long) skipped_honest); /* catching up */
        mdl_json_open (&j, "rejected_by_honest");
        for (int k = 0; k < MDL_REJECT_COUNT; k++)
            if (hrej[k])
                mdl_json_int (&j, mdl_reject_name (k), (long long) hrej[k]);
        mdl_json_close (&j);
    }
    mdl_json_num (&j, "consensus_distance", ev->consensus);
    mdl_json_int (&j, "agents", n);
    mdl_json_str (&j, "topology", r->ao.topology);
    mdl_json_str (&j, "algo", r->ao.algo);
    mdl_json_str (&j, "mode", r->ao.mode);
    mdl_json_str (&j, "codec", r->ao.codec);
    mdl_json_bool (&j, "error_feedback", r->ao.error_feedback);
    mdl_json_int (&j, "batch", r->to.batch);
    mdl_json_str (&j, "run", r->run);
    double v[MDL_HTTP_COUNTERS];
    const size_t nv = mdl_agent_stats_values (&sum, v, MDL_HTTP_COUNTERS);
    mdl_agentopts_json_counters (&j, v, nv);
    mdl_agentopts_json_robust (&j, r->base, v, nv);
    mdl_json_int (&j, "keyframes_sent", (long long) sum.keyframes_sent);
    mdl_json_int (&j, "resyncs", (long long) sum.resyncs);
    if (r->ao.verify_replicas) {
        mdl_json_int (&j, "replicas_verified", (long long) sum.replicas_verified);
        mdl_json_int (&j, "replica_mismatches", (long long) sum.replica_mismatches);
    }
    mdl_json_num (&j, "gossip_rounds_per_step", sum.steps ? (double) sum.gossip_rounds / (double) sum.steps : 0.0);
    if (r->ao.adaptive_degree)
        mdl_json_num (&j, "dense_round_fraction", sum.gossip_rounds ? (double) sum.dense_rounds / (double) sum.gossip_rounds : 0.0);
    mdl_json_int (&j, "peers_seen", (long long) (sum.peers_seen == UINT64_MAX ? 0 : sum.peers_seen));
    mdl_json_int (&j, "steps", (long long) (sum.steps / (uint64_t) n));
    mdl_json_int (&j, "steps_min", (long long) steps_min);
    mdl_json_int (&j, "steps_skipped", (long long) skipped); /* sync: rounds jumped to catch up */
    mdl_json_num (&j, "sync_wait_s", sum.wait_s);
    mdl_json_num (&j, "connections_per_agent", (double) conns / n);
    mdl_json_int (&j, "connections_max", (long long) conns_max);
    mdl_json_num (&j, "mailboxes_per_agent", (double) boxes / n);
    mdl_json_int (&j, "mailboxes_max", (long long) boxes_max);
    if (r->ao.final_merge)
        mdl_json_int (&j, "merged_agents", merged);
    /* every agent counts each global average it took part in: the mean per agent */
    mdl_json_int (&j, "global_averages", (long long) (sum.global_averages / (uint64_t) n));
    if (mdl_algo_find (r->ao.algo)->pairwise) { /* each average counted by both sides */
        mdl_json_int (&j, "pair_averages", (long long) (sum.pair_averages / 2));
        mdl_json_int (&j, "pair_requests_refused", (long long) sum.pair_refused);
    }
    if (r->so.offline > 0)
        mdl_json_num (&j, "rounds_offline_per_agent", (double) sum.rounds_offline / n);
    if (r->co.ops->model_parallel && mdl_dataset_targets (r->train))
        s_sim_regression (r, &j);
    mdl_json_num (&j, "wall_s", wall);
    mdl_json_num (&j, "startup_s", r->startup_s);
    mdl_json_num (&j, "discovery_s", r->discovery_s);
    mdl_json_int (&j, "params", (long long) r->co.d);
    mdl_json_str (&j, "model", r->to.model);
    mdl_json_num (&j, "peak_rss_mb", mdl_peak_rss_mb ());
    if (r->to.target_acc > 0) {
        mdl_json_num (&j, "target_acc", r->to.target_acc);
        if (isnan (r->t_target))
            mdl_json_null (&j, "time_to_target_s");
        else
            mdl_json_num (&j, "time_to_target_s", r->t_target);
    }
    if (r->to.resume) {
        mdl_json_str (&j, "resumed_from", r->to.resume);
        mdl_json_int (&j, "resumed_step", (long long) r->start_step);
    }
    if (r->to.checkpoint)
        mdl_json_str (&j, "checkpoint", r->to.checkpoint);
    mdl_json_str (&j, "status", exit_code == 0 ? "done" : exit_code == 3 ? "failed" : exit_code == 2 ? "checkpoint failed" : "interrupted");
    mdl_json_close (&j);
    mdl_json_end (&j, stdout);
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
