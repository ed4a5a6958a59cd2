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
#include "cli.h"
#include "err.h"
#include "partition.h"
#include "registry.h"
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
    "Options may also come from MESHDL_<OPTION> environment variables (command line wins).";

typedef struct {
    int agents;
    mdl_strlist_t slow;
    double delay_ms;
    double drop;
    double step_ms;
    mdl_strlist_t byzantine;
} s_simopts_t;

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
    mdl_agent_t **agents;
    int n;
    size_t d;
    float **snaps;       /* (n, d) */
    float *mean;         /* (d) */
    uint64_t gen;
    mdl_learner_t *eval; /* evaluates foreign parameter vectors */
    const mdl_dataset_t *test;
    size_t test_rows;
    int32_t *drift_map;  /* --drift-at: evaluate with the rotated labels ... */
    double drift_step;   /* ... once the agents' mean step is past this */
} s_coord_t;

typedef struct {
    double acc_avg, loss_avg;   /* averaged model */
    double acc_mean, acc_min;   /* agents' own */
    double consensus;           /* (1/n) sum ||x_i - xbar||^2 */
    double t_snap;              /* monotonic time when the snapshots were complete */
    double *acc, *loss;         /* per agent (n) */
    double *dist;               /* per agent: ||x_i - xbar||^2 */
} s_eval_t;

/* Snapshots every agent, then evaluates. Returns 0 or MDL_ETIMEOUT. */
static int
s_evaluate (s_coord_t *c, s_eval_t *e, bool per_agent)
{
    c->gen++;
    for (int i = 0; i < c->n; i++)
        mdl_agent_request_snapshot (c->agents[i], c->gen);
    double mean_step = 0;
    for (int i = 0; i < c->n; i++) {
        uint64_t step = 0;
        if (mdl_agent_snapshot (c->agents[i], c->gen, c->snaps[i], &step, 120.0))
            return MDL_ETIMEOUT;
        mean_step += (double) step / c->n;
    }
    if (c->drift_map && mean_step >= c->drift_step)
        mdl_learner_set_label_map (c->eval, c->drift_map);
    /* The figures below describe the models as of now; evaluating them takes a while
       (the agents keep training meanwhile), and that time must not count as theirs. */
    e->t_snap = mdl_now ();
    mdl_vec_zero (c->mean, c->d);
    for (int i = 0; i < c->n; i++)
        mdl_vec_axpy (c->mean, 1.0f / (float) c->n, c->snaps[i], c->d);
    double xi = 0;
    for (int i = 0; i < c->n; i++)
        xi += e->dist[i] = mdl_vec_dist2 (c->snaps[i], c->mean, c->d);
    e->consensus = xi / c->n;
    mdl_learner_evaluate (c->eval, c->mean, c->test, c->test_rows, &e->loss_avg, &e->acc_avg);
    if (per_agent) {
        e->acc_mean = 0;
        e->acc_min = INFINITY;
        for (int i = 0; i < c->n; i++) {
            mdl_learner_evaluate (c->eval, c->snaps[i], c->test, c->test_rows, &e->loss[i], &e->acc[i]);
            e->acc_mean += e->acc[i] / c->n;
            if (e->acc[i] < e->acc_min)
                e->acc_min = e->acc[i];
        }
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
    double t0 = mdl_now ();
    for (int i = 0; i < k; i++)
        mdl_learner_step (l, &loss);
    double step = (mdl_now () - t0) / k;
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
        t0 = mdl_now ();
        for (int i = 0; i < k; i++) {
            memcpy (buf, x, d * sizeof (float));
            for (int j = 0; j < degree; j++)
                memcpy ((float *) v[j], buf, d * sizeof (float));
            mdl_vec_mix (x, 1.0f, NULL, 0.0f, v, cf, (size_t) degree, d);
        }
        step += (mdl_now () - t0) / k;
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

int
mdl_cmd_sim (int argc, char **argv)
{
    mdl_trainopts_t to;
    mdl_agentopts_t ao;
    s_simopts_t so = { .agents = 8 };
    mdl_trainopts_defaults (&to);
    mdl_agentopts_defaults (&ao);
    to.batch = 8;
    mdl_optdef_t defs[96];
    size_t n = 0;
    defs[n++] = (mdl_optdef_t) { .name = "agents", .type = MDL_OPTT_INT, .dst = &so.agents, .metavar = "N",
                                 .help = "number of agents [8]", .min = 1, .max = 1024 };
    defs[n++] = (mdl_optdef_t) { .name = "slow", .type = MDL_OPTT_LIST, .dst = &so.slow, .metavar = "I:FACTOR",
                                 .help = "agent I computes FACTOR times slower (repeatable)" };
    defs[n++] = (mdl_optdef_t) { .name = "delay-ms", .type = MDL_OPTT_DOUBLE, .dst = &so.delay_ms, .metavar = "MS",
                                 .help = "delay added to every message on every link [0]", .min = 0, .max = 60000 };
    defs[n++] = (mdl_optdef_t) { .name = "drop", .type = MDL_OPTT_DOUBLE, .dst = &so.drop, .metavar = "P",
                                 .help = "probability that an update is lost [0]", .min = 0, .max = 1 };
    defs[n++] = (mdl_optdef_t) { .name = "step-ms", .type = MDL_OPTT_DOUBLE, .dst = &so.step_ms, .metavar = "MS",
                                 .help = "emulated compute time of one step of a normal agent; --slow agents take FACTOR times "
                                         "as long. Default with --slow: calibrated so that the CPU keeps up; 0 = no pacing",
                                 .min = 0, .max = 60000 };
    defs[n++] = (mdl_optdef_t) { .name = "byzantine", .type = MDL_OPTT_LIST, .dst = &so.byzantine, .metavar = "I:MODE",
                                 .help = "agent I lies, to test defences (repeatable): I:scale:K | I:noise:SIGMA | I:zero | "
                                         "I:stale:S | I:alie:Z | I:future:K; summaries add test_acc_honest_mean/min" };
    char err[1024] = "";
    void *cfgkeep = NULL; /* --config strings, freed at the end */
    mdl_agent_cfg_t base;
    mdl_part_spec_t pspec;
    int rc = mdl_agentopts_setup ("sim", s_usage, defs, n, 96, &to, &ao, &base, &pspec, argc, argv, &cfgkeep, err,
                                  sizeof err);
    if (rc == 1)
        return 0;
    double *slow = calloc ((size_t) so.agents, sizeof *slow);
    for (int i = 0; rc == 0 && i < so.agents; i++)
        slow[i] = 1.0;
    for (int k = 0; rc == 0 && k < so.slow.n; k++) {
        int who;
        double f;
        if (s_parse_slow (so.slow.v[k], so.agents, &who, &f)) {
            snprintf (err, sizeof err, "meshdl sim: --slow '%s' must be I:FACTOR with 0 <= I < %d and FACTOR >= 1",
                      so.slow.v[k], so.agents);
            rc = MDL_EINVAL;
        } else
            slow[who] = f;
    }
    mdl_byz_cfg_t *byz = calloc ((size_t) so.agents, sizeof *byz);
    if (rc == 0 && !byz)
        rc = MDL_ENOMEM;
    if (rc == 0)
        rc = s_parse_byzantine (&so.byzantine, so.agents, byz, err, sizeof err);
    if (rc == 0)
        rc = mdl_agentopts_check_robust (&base, (uint32_t) so.agents, "sim", err, sizeof err);
    if (rc) {
        fprintf (stderr, "%s\n", err);
        free (slow);
        free (byz);
        return 2;
    }
    int nbyz = 0;
    for (int i = 0; i < so.agents; i++)
        nbyz += byz[i].kind != MDL_BYZ_NONE;
    mdl_blas_threads (to.threads > 0 ? to.threads : 1);

    mdl_dataset_t *train = NULL, *test = NULL;
    if (mdl_trainopts_data (&to, "sim", &train, &test, err, sizeof err)) {
        fprintf (stderr, "%s\n", err);
        free (slow);
        free (byz);
        return 2;
    }
    int exit_code = 2;
    FILE *metrics = NULL, *log = NULL;
    mdl_registry_t *reg = NULL;
    mdl_partition_t *part = NULL;
    mdl_agent_t **agents = calloc ((size_t) so.agents, sizeof *agents);
    s_coord_t co = { .agents = agents, .n = so.agents, .test = test };
    s_eval_t ev = { 0 };
    ev.acc = calloc ((size_t) so.agents, sizeof (double));
    ev.loss = calloc ((size_t) so.agents, sizeof (double));
    ev.dist = calloc ((size_t) so.agents, sizeof (double));
    co.snaps = calloc ((size_t) so.agents, sizeof (float *));
    if (!agents || !ev.acc || !ev.loss || !ev.dist || !co.snaps)
        goto done;
    if ((size_t) so.agents > mdl_dataset_n (train)) {
        fprintf (stderr, "meshdl sim: %d agents but only %zu training rows\n", so.agents, mdl_dataset_n (train));
        goto done;
    }
    if (!(part = mdl_partition_new (&pspec, mdl_dataset_labels (train), mdl_dataset_n (train),
                                    mdl_dataset_classes (train), (uint32_t) so.agents, to.seed, &rc))) {
        fprintf (stderr, "meshdl sim: cannot partition %zu rows among %d agents with %s: %s\n", mdl_dataset_n (train),
                 so.agents, ao.partition, mdl_strerror (rc));
        goto done;
    }
    if (!(reg = mdl_registry_new (&rc)))
        goto done;
    if (ao.log && !(log = strcmp (ao.log, "-") ? fopen (ao.log, "w") : stderr)) {
        fprintf (stderr, "meshdl sim: cannot open log file %s\n", ao.log);
        goto done;
    }
    if (to.metrics && !(metrics = fopen (to.metrics, "a"))) {
        fprintf (stderr, "meshdl sim: cannot open metrics file %s for appending\n", to.metrics);
        goto done;
    }
    /* Every agent runs the same number of rounds (needed by sync mode, fair in async):
       an "epoch" is the mean shard size over the batch. */
    size_t rows_total = 0;
    for (int i = 0; i < so.agents; i++) {
        size_t cnt;
        mdl_partition_shard (part, (uint32_t) i, &cnt);
        rows_total += cnt;
    }
    uint64_t spe = rows_total / (size_t) so.agents / (size_t) to.batch;
    if (spe == 0)
        spe = 1;
    base.learn.sched.steps_per_epoch = spe;
    base.learn.sched.total_steps = spe * (uint64_t) to.epochs;
    /* Pacing (see s_calibrate): on by default when stragglers are injected. */
    double pace = so.step_ms / 1000.0;
    if (so.slow.n > 0 && !mdl_opts_given (defs, "step-ms")) {
        mdl_topo_t *t = mdl_topo_new (ao.topology, 0, &rc);
        size_t deg = 2;
        if (t) {
            mdl_topo_degree (t, (uint32_t) so.agents, 0, 0, &deg);
            mdl_topo_destroy (&t);
        }
        pace = s_calibrate (&base.learn, train, so.agents, (int) deg);
    }
    const pid_t pid = getpid ();
    char binds[1024][64];
    char prefixes[1024][32];
    for (int i = 0; i < so.agents; i++) {
        mdl_agent_cfg_t cfg = base;
        size_t cnt;
        cfg.rows = mdl_partition_shard (part, (uint32_t) i, &cnt);
        cfg.nrows = cnt;
        cfg.id = (uint64_t) i + 1;
        snprintf (binds[i], sizeof binds[i], "inproc://mdl-sim-%d-%d", (int) pid, i);
        snprintf (prefixes[i], sizeof prefixes[i], "agent %d", i);
        cfg.bind = binds[i];
        cfg.log_prefix = prefixes[i];
        cfg.log = log;
        cfg.disc = (mdl_disc_cfg_t) { .kind = MDL_DISC_INPROC, .cluster = ao.cluster, .registry = reg };
        cfg.train = train;
        cfg.test = NULL; /* the coordinator evaluates */
        cfg.epochs = to.epochs;
        cfg.learn.data_seed = to.seed * 1000003ULL + (uint64_t) i;
        cfg.min_peers = so.agents - 1;
        cfg.min_peers_timeout = 60.0;
        cfg.slow_factor = slow[i];
        cfg.pace_s = pace;
        cfg.delay_ms = so.delay_ms;
        cfg.drop = so.drop;
        cfg.seed = to.seed + (uint64_t) i * 7919;
        cfg.byzantine = byz[i];
        cfg.join_burst = so.agents + 16; /* everyone joins at once */
        if (!(agents[i] = mdl_agent_new (&cfg, &rc))) {
            fprintf (stderr, "meshdl sim: agent %d: %s\n", i, mdl_strerror (rc));
            goto done;
        }
    }
    co.d = mdl_agent_dim (agents[0]);
    if (pace > 0 && !to.quiet)
        fprintf (stderr, "meshdl sim: pacing: a step of a normal agent takes %.2f ms (--step-ms)\n", pace * 1e3);
    for (int i = 0; i < so.agents; i++)
        if (!(co.snaps[i] = malloc (co.d * sizeof (float))))
            goto done;
    if (!(co.mean = malloc (co.d * sizeof (float))))
        goto done;
    if (!(co.eval = mdl_learner_new (&base.learn, train, NULL, 0, &rc)))
        goto done;
    if (ao.drift_at > 0) {
        const int classes = mdl_dataset_classes (train);
        if (!(co.drift_map = malloc ((size_t) (classes > 0 ? classes : 1) * sizeof (int32_t))))
            goto done;
        mdl_label_map_rotate (co.drift_map, classes);
        co.drift_step = ao.drift_at * (double) spe;
    }
    mdl_signals_install ();
    /* All agents start together once each sees the others (or the wait times out, which
       each worker reports itself). */
    for (int i = 0; i < so.agents; i++)
        if (mdl_agent_wait_peers (agents[i], so.agents - 1, 30.0))
            fprintf (stderr, "meshdl sim: agent %d did not see all %d peers within 30 s\n", i, so.agents - 1);
    if (!to.quiet)
        fprintf (stderr, "meshdl sim: %d agents, %s, %s %s, codec %s%s, %s, %zu parameters, %llu steps/epoch, batch %d\n",
                 so.agents, ao.topology, ao.algo, ao.mode, ao.codec, ao.error_feedback ? " +EF" : "", to.model, co.d,
                 (unsigned long long) spe, to.batch);
    const double t0 = mdl_now ();
    for (int i = 0; i < so.agents; i++)
        mdl_agent_start (agents[i]);
    mdl_progress_t prog;
    mdl_progress_init (&prog, stderr, "", to.progress);
    const uint64_t total = spe * (uint64_t) to.epochs;
    const uint64_t eval_every = spe / (uint64_t) ao.evals_per_epoch ? spe / (uint64_t) ao.evals_per_epoch : 1;
    uint64_t next_eval = eval_every;
    double t_target = NAN;
    bool stopped = false;
    exit_code = 0;
    for (;;) {
        mdl_agent_stats_t st;
        double mean_steps = 0, loss = 0, bytes = 0;
        uint64_t min_steps = UINT64_MAX;
        int finished = 0, failed = 0;
        for (int i = 0; i < so.agents; i++) {
            mdl_agent_stats (agents[i], &st);
            mean_steps += (double) st.steps / so.agents;
            loss += st.loss / so.agents;
            bytes += (double) st.bytes_sent;
            min_steps = st.steps < min_steps ? st.steps : min_steps;
            finished += st.finished;
            failed += st.finished && st.error;
        }
        if (!to.quiet)
            mdl_progress_show (&prog, false, "step %.0f/%llu  epoch %.2f  loss %.4f  sent %.1f MB  %.1fs", mean_steps,
                               (unsigned long long) total, mean_steps / spe, loss, bytes / 1e6, mdl_now () - t0);
        bool all_done = finished == so.agents;
        if (failed && !nbyz) {
            fprintf (stderr, "\nmeshdl sim: %d agent(s) stopped on an error (see above)\n", failed);
            exit_code = 3;
            break;
        }
        /* Under --byzantine an agent that diverged is what the attack did, not a failure
           of the run: the others go on, and the summary counts it (diverged_agents). */
        if (mdl_signals_stop () && !stopped) {
            for (int i = 0; i < so.agents; i++)
                mdl_agent_stop (agents[i]);
            stopped = true;
            exit_code = 128 + mdl_signals_which ();
        }
        if ((mean_steps >= (double) next_eval || all_done) && !stopped) {
            uint64_t at = next_eval;
            while (next_eval <= (uint64_t) mean_steps)
                next_eval += eval_every;
            if (s_evaluate (&co, &ev, true)) {
                fprintf (stderr, "\nmeshdl sim: an agent did not answer a snapshot request\n");
                exit_code = 3;
                break;
            }
            double now = ev.t_snap - t0;
            if (to.target_acc > 0 && isnan (t_target) && ev.acc_avg >= to.target_acc)
                t_target = now;
            if (!to.quiet) {
                mdl_progress_show (&prog, true, "epoch %.2f  avg-model acc %.4f  agents mean %.4f min %.4f  consensus dist %.3g  %.1fs",
                                   (double) (all_done ? total : at) / spe, ev.acc_avg, ev.acc_mean, ev.acc_min, ev.consensus, now);
                mdl_progress_end (&prog);
            }
            for (int i = 0; metrics && i < so.agents; i++) {
                mdl_agent_stats (agents[i], &st);
                mdl_json_t j;
                mdl_json_begin (&j);
                mdl_json_num (&j, "time", mdl_wallclock ());
                mdl_json_num (&j, "elapsed_s", now);
                mdl_json_int (&j, "agent", i);
                mdl_json_int (&j, "step", (long long) st.steps);
                mdl_json_num (&j, "epoch", st.epoch);
                mdl_json_num (&j, "train_loss", st.loss);
                mdl_json_num (&j, "test_acc", ev.acc[i]);
                mdl_json_num (&j, "test_loss", ev.loss[i]);
                mdl_json_num (&j, "avg_test_acc", ev.acc_avg);
                mdl_json_num (&j, "consensus_distance", ev.consensus);
                mdl_json_num (&j, "distance_to_mean", ev.dist[i]);
                mdl_json_num (&j, "disagreement", st.disagreement);
                mdl_agentopts_json_counters (&j, &st);
                mdl_json_int (&j, "global_averages", (long long) st.global_averages);
                mdl_json_int (&j, "live_peers", (long long) st.peers_alive);
                if (byz[i].kind != MDL_BYZ_NONE)
                    mdl_json_int (&j, "byzantine", 1);
                mdl_json_end (&j, metrics);
            }
            if (to.stop_at_target && !isnan (t_target)) {
                for (int i = 0; i < so.agents; i++)
                    mdl_agent_stop (agents[i]);
                stopped = true;
            }
        }
        if (all_done || stopped)
            break;
        usleep (20000);
    }
    for (int i = 0; i < so.agents; i++)
        mdl_agent_join (agents[i]);
    if (!to.quiet)
        mdl_progress_end (&prog);
    /* Final figures from the models as they ended. */
    if (exit_code != 3 && s_evaluate (&co, &ev, true)) {
        fprintf (stderr, "meshdl sim: final snapshot failed\n");
        exit_code = 3;
    }
    const double wall = mdl_now () - t0;
    mdl_agent_stats_t sum = { 0 }, st;
    uint64_t peers_seen_min = UINT64_MAX, steps_min = UINT64_MAX;
    int diverged = 0;
    double wait_s = 0;
    for (int i = 0; i < so.agents; i++) {
        mdl_agent_stats (agents[i], &st);
        sum.bytes_sent += st.bytes_sent;
        sum.bytes_received += st.bytes_received;
        sum.updates_applied += st.updates_applied;
        sum.updates_stale += st.updates_stale;
        sum.updates_dropped += st.updates_dropped;
        sum.updates_rejected += st.updates_rejected;
        for (int r = 0; r < MDL_REJECT_COUNT; r++)
            sum.rejected[r] += st.rejected[r];
        sum.robust_clipped += st.robust_clipped;
        sum.robust_short += st.robust_short;
        sum.robust_tau += st.robust_tau / so.agents;
        diverged += st.error != 0;
        sum.keyframes_sent += st.keyframes_sent;
        sum.replicas_verified += st.replicas_verified;
        sum.replica_mismatches += st.replica_mismatches;
        sum.resyncs += st.resyncs;
        sum.gossip_rounds += st.gossip_rounds;
        sum.dense_rounds += st.dense_rounds;
        sum.steps += st.steps;
        sum.global_averages += st.global_averages;
        sum.pair_averages += st.pair_averages;
        sum.pair_refused += st.pair_refused;
        wait_s += st.wait_s / so.agents;
        peers_seen_min = st.peers_seen < peers_seen_min ? st.peers_seen : peers_seen_min;
        steps_min = st.steps < steps_min ? st.steps : steps_min;
    }
    mdl_json_t j;
    mdl_json_begin (&j);
    mdl_json_open (&j, "summary");
    mdl_json_num (&j, "test_acc", ev.acc_avg);
    mdl_json_num (&j, "test_loss", ev.loss_avg);
    mdl_json_num (&j, "test_acc_mean", ev.acc_mean);
    mdl_json_num (&j, "test_acc_min", ev.acc_min);
    if (nbyz) {
        /* the agents not named by --byzantine */
        double hmean = 0, hmin = INFINITY;
        for (int i = 0; i < so.agents; i++)
            if (byz[i].kind == MDL_BYZ_NONE) {
                hmean += ev.acc[i] / (so.agents - nbyz);
                hmin = ev.acc[i] < hmin ? ev.acc[i] : hmin;
            }
        mdl_json_num (&j, "test_acc_honest_mean", nbyz < so.agents ? hmean : NAN);
        mdl_json_num (&j, "test_acc_honest_min", nbyz < so.agents ? hmin : NAN);
        mdl_json_int (&j, "byzantine_agents", nbyz);
        mdl_json_int (&j, "diverged_agents", diverged);
    }
    mdl_json_num (&j, "consensus_distance", ev.consensus);
    mdl_json_int (&j, "agents", so.agents);
    mdl_json_str (&j, "topology", ao.topology);
    mdl_json_str (&j, "algo", ao.algo);
    mdl_json_str (&j, "mode", ao.mode);
    mdl_json_str (&j, "codec", ao.codec);
    mdl_agentopts_json_counters (&j, &sum);
    mdl_agentopts_json_robust (&j, &base, &sum);
    mdl_json_int (&j, "keyframes_sent", (long long) sum.keyframes_sent);
    mdl_json_int (&j, "resyncs", (long long) sum.resyncs);
    if (ao.verify_replicas) {
        mdl_json_int (&j, "replicas_verified", (long long) sum.replicas_verified);
        mdl_json_int (&j, "replica_mismatches", (long long) sum.replica_mismatches);
    }
    mdl_json_num (&j, "gossip_rounds_per_step", sum.steps ? (double) sum.gossip_rounds / (double) sum.steps : 0.0);
    if (ao.adaptive_degree)
        mdl_json_num (&j, "dense_round_fraction", sum.gossip_rounds ? (double) sum.dense_rounds / (double) sum.gossip_rounds : 0.0);
    mdl_json_int (&j, "peers_seen", (long long) (peers_seen_min == UINT64_MAX ? 0 : peers_seen_min));
    mdl_json_int (&j, "steps", (long long) (sum.steps / (uint64_t) so.agents));
    mdl_json_int (&j, "steps_min", (long long) steps_min);
    mdl_json_num (&j, "sync_wait_s", wait_s);
    if (ao.final_merge) {
        int merged = 0;
        for (int i = 0; i < so.agents; i++) {
            mdl_agent_stats (agents[i], &st);
            merged += st.merged && st.merge_peers == (uint64_t) so.agents - 1;
        }
        mdl_json_int (&j, "merged_agents", merged);
    }
    /* every agent counts each global average it took part in: the mean per agent */
    mdl_json_int (&j, "global_averages", (long long) (sum.global_averages / (uint64_t) so.agents));
    if (!strcmp (ao.algo, "adpsgd")) { /* each average counted by both sides */
        mdl_json_int (&j, "pair_averages", (long long) (sum.pair_averages / 2));
        mdl_json_int (&j, "pair_requests_refused", (long long) sum.pair_refused);
    }
    mdl_json_num (&j, "wall_s", wall);
    mdl_json_int (&j, "params", (long long) co.d);
    mdl_json_str (&j, "model", to.model);
    mdl_json_num (&j, "peak_rss_mb", mdl_peak_rss_mb ());
    if (to.target_acc > 0) {
        mdl_json_num (&j, "target_acc", to.target_acc);
        if (isnan (t_target))
            mdl_json_null (&j, "time_to_target_s");
        else
            mdl_json_num (&j, "time_to_target_s", t_target);
    }
    mdl_json_str (&j, "status", exit_code == 0 ? "done" : exit_code == 3 ? "failed" : "interrupted");
    mdl_json_close (&j);
    mdl_json_end (&j, stdout);
done:
    for (int i = 0; agents && i < so.agents; i++)
        mdl_agent_destroy (&agents[i]);
    for (int i = 0; co.snaps && i < so.agents; i++)
        free (co.snaps[i]);
    free (co.snaps);
    free (co.mean);
    free (co.drift_map);
    mdl_learner_destroy (&co.eval);
    free (agents);
    free (ev.acc);
    free (ev.loss);
    free (ev.dist);
    free (slow);
    free (byz);
    mdl_partition_destroy (&part);
    mdl_registry_destroy (&reg);
    if (metrics)
        fclose (metrics);
    if (log && log != stderr)
        fclose (log);
    mdl_dataset_destroy (&train);
    mdl_dataset_destroy (&test);
    mdl_opts_config_free (&cfgkeep);
    return exit_code;
}
