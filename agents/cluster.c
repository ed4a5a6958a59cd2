/*  cluster.c: see cluster.h. */
#include "cluster.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "algo.h"
#include "clock.h"
#include "err.h"
#include "learner.h"
#include "registry.h"
#include "vec.h"

#define S_NAME_MAX 96

struct mdl_cluster_t {
    int n;
    bool isolated;
    mdl_registry_t **regs;   /* one shared, or one per agent (isolated) */
    int nregs;
    mdl_agent_t **agents;
    char (*binds)[S_NAME_MAX];
    char (*prefixes)[32];
    size_t d;
    uint64_t spe;            /* equal_rounds: steps per epoch; else 0 */
    uint64_t gen;            /* snapshot generation */
    double snap_step;        /* the agents' mean step in the last snapshot */
    const float **snaps;     /* (n) each agent's last snapshot: its own copy (mdl_agent_snap_held) */
    mdl_agent_stats_t *snap_stats; /* (n) each agent's counters at its snapshot */
    float *mean;             /* (d) */
    /* mdl_cluster_model and mdl_cluster_evaluate: */
    mdl_agent_cfg_t *base;   /* what the agents share (its datasets are the caller's) */
    float *model;            /* (d) model-parallel: the agents' sum */
    mdl_learner_t **evals;   /* (nevals) evaluate foreign parameter vectors, one per thread,
                                made at first use */
    int nevals;
    int32_t *drift_map;      /* "drift-at": the rotated labels, once in use */
};

/* A fresh endpoint name per cluster: a closed PUB may linger (to deliver its goodbye)
   while the next cluster of the same process binds. */
static atomic_uint s_runs;

void
mdl_cluster_destroy (mdl_cluster_t **pself)
{
    mdl_cluster_t *self = *pself;
    if (!self)
        return;
    for (int i = 0; self->agents && i < self->n; i++)
        if (self->agents[i])
            mdl_agent_stop (self->agents[i]);
    for (int i = 0; self->agents && i < self->n; i++)
        mdl_agent_destroy (&self->agents[i]);
    for (int r = 0; self->regs && r < self->nregs; r++)
        mdl_registry_destroy (&self->regs[r]);
    free (self->regs);
    free (self->snaps);
    free (self->snap_stats);
    free (self->mean);
    free (self->model);
    free (self->drift_map);
    for (int t = 0; t < self->nevals; t++)
        mdl_learner_destroy (&self->evals[t]);
    free (self->evals);
    mdl_agent_cfg_destroy (&self->base);
    free (self->agents);
    free (self->binds);
    free (self->prefixes);
    free (self);
    *pself = NULL;
}

/* The public per-agent call (mdl_cluster_each_fn) on a configuration of agent i's own
   (a copy of c with strings of its own, so that a setting it changes frees nothing of
   the caller's base), into *out, which keeps that copy's strings (s_cfgs_free frees
   them). Returns 0, MDL_ENOMEM, or each's code. */
static int
s_each (const mdl_cluster_cfg_t *cfg, const mdl_agent_cfg_t *c, int i, mdl_agent_cfg_t *out)
{
    mdl_agent_cfg_t *own = mdl_agent_cfg_dup (c);
    if (!own)
        return mdl_error_set (MDL_ENOMEM, "out of memory");
    int rc = cfg->each (own, i, cfg->each_arg);
    if (rc == 0)
        *out = *own; /* the strings stay with out->extra */
    else
        mdl_agent_cfg_clear (own);
    free (own);
    return rc;
}

/* Frees the per-agent configurations of s_each (the others share base's strings). */
static void
s_cfgs_free (const mdl_cluster_cfg_t *cfg, mdl_agent_cfg_t *cfgs, size_t n)
{
    for (size_t i = 0; cfgs && cfg->each && i < n; i++)
        mdl_agent_cfg_clear (&cfgs[i]);
    free (cfgs);
}

mdl_cluster_t *
mdl_cluster_new (const mdl_cluster_cfg_t *cfg, int *err, int *failed)
{
    int rc = MDL_EINVAL;
    mdl_cluster_t *self = NULL;
    mdl_agent_cfg_t *cfgs = NULL;
    if (failed)
        *failed = -1;
    if (!cfg || !cfg->base || cfg->n < 1)
        goto fail;
    rc = MDL_ENOMEM;
    if (!(self = calloc (1, sizeof *self)))
        goto fail;
    self->n = cfg->n;
    self->isolated = cfg->isolated;
    self->nregs = cfg->isolated ? cfg->n : 1;
    const size_t n = (size_t) cfg->n;
    if (!(self->regs = calloc ((size_t) self->nregs, sizeof *self->regs)) || !(self->agents = calloc (n, sizeof *self->agents))
        || !(self->binds = calloc (n, sizeof *self->binds)) || !(self->prefixes = calloc (n, sizeof *self->prefixes)))
        goto fail;
    for (int r = 0; r < self->nregs; r++)
        if (!(self->regs[r] = mdl_registry_new (&rc)))
            goto fail;
    mdl_agent_cfg_t base = *cfg->base;
    if (cfg->part && cfg->equal_rounds) {
        self->spe = mdl_cluster_equal_steps (cfg->part, cfg->n, base.learn.batch);
        base.learn.sched.steps_per_epoch = self->spe;
        base.learn.sched.total_steps = self->spe * (uint64_t) (base.epochs > 0 ? base.epochs : 1);
    }
    if (!(self->base = mdl_agent_cfg_dup (&base)))
        goto fail;
    const unsigned run = atomic_fetch_add (&s_runs, 1);
    if (!(cfgs = calloc (n, sizeof *cfgs)))
        goto fail;
    for (int i = 0; i < cfg->n; i++) {
        mdl_agent_cfg_t c = base;
        if (cfg->part) {
            size_t cnt;
            c.rows = mdl_partition_shard (cfg->part, (uint32_t) i, &cnt);
            c.nrows = cnt;
        }
        c.id = (uint64_t) i + 1;
        snprintf (self->binds[i], S_NAME_MAX, "inproc://%s-%d-%u-%d", cfg->name ? cfg->name : "mdl-cluster",
                  (int) getpid (), run, i);
        snprintf (self->prefixes[i], sizeof self->prefixes[i], "agent %d", i);
        c.bind = self->binds[i];
        c.log_prefix = self->prefixes[i];
        c.disc = (mdl_disc_cfg_t) { .kind = MDL_DISC_INPROC, .cluster = base.cluster,
                                    .registry = self->regs[cfg->isolated ? i : 0] };
        c.min_peers = cfg->isolated ? 0 : cfg->n - 1;
        /* Everyone joins at once: the flood guard's token bucket (comm.c, 64 joins then 16
           a second) would admit 1024 peers in a minute. */
        if (c.join_burst <= 0)
            c.join_burst = cfg->n + 16;
        if (c.min_peers_timeout <= 0)
            c.min_peers_timeout = 60.0;
        if (cfg->tweak)
            cfg->tweak (&c, i, cfg->tweak_arg);
        if (cfg->each && (rc = s_each (cfg, &c, i, &cfgs[i]))) {
            if (failed)
                *failed = i;
            goto fail;
        }
        if (!cfg->each)
            cfgs[i] = c;
    }
    /* Built in parallel: hundreds of agents otherwise wait for their actors in turn. */
    size_t which = 0;
    if ((rc = mdl_agent_new_many (cfgs, n, self->agents, &which))) {
        if (failed)
            *failed = (int) which;
        goto fail;
    }
    s_cfgs_free (cfg, cfgs, n);
    self->d = mdl_agent_dim (self->agents[0]);
    return self;
fail:
    if (err)
        *err = rc;
    s_cfgs_free (cfg, cfgs, n);
    mdl_cluster_destroy (&self);
    return NULL;
}

uint64_t
mdl_cluster_equal_steps (const mdl_partition_t *part, int n, size_t batch)
{
    /* Every agent runs the same number of rounds: an "epoch" is the mean shard size over
       the batch. */
    size_t rows_total = 0;
    for (int i = 0; i < n; i++) {
        size_t cnt;
        mdl_partition_shard (part, (uint32_t) i, &cnt);
        rows_total += cnt;
    }
    const uint64_t spe = n > 0 && batch ? rows_total / (size_t) n / batch : 0;
    return spe ? spe : 1;
}

int mdl_cluster_size (const mdl_cluster_t *self) { return self->n; }
mdl_agent_t *mdl_cluster_agent (mdl_cluster_t *self, int i) { return i >= 0 && i < self->n ? self->agents[i] : NULL; }
size_t mdl_cluster_dim (const mdl_cluster_t *self) { return self->d; }

uint64_t
mdl_cluster_steps_per_epoch (const mdl_cluster_t *self)
{
    if (self->spe)
        return self->spe;
    const mdl_learner_t *l = mdl_agent_learner (self->agents[0]);
    return l ? mdl_learner_steps_per_epoch (l) : 0;
}

int
mdl_cluster_wait_peers (mdl_cluster_t *self, double timeout, int *which)
{
    for (int i = 0; !self->isolated && i < self->n; i++)
        if (mdl_agent_wait_peers (self->agents[i], self->n - 1, timeout)) {
            if (which)
                *which = i;
            return MDL_ETIMEOUT;
        }
    return 0;
}

/* fn on every agent in turn; the first error stops it. */
static int
s_each_agent (mdl_cluster_t *self, int (*fn) (mdl_agent_t *))
{
    for (int i = 0; i < self->n; i++) {
        int rc = fn (self->agents[i]);
        if (rc)
            return rc;
    }
    return 0;
}

int mdl_cluster_prepare (mdl_cluster_t *self) { return s_each_agent (self, mdl_agent_prepare); }
int mdl_cluster_start (mdl_cluster_t *self) { return s_each_agent (self, mdl_agent_start); }

void
mdl_cluster_stop (mdl_cluster_t *self)
{
    for (int i = 0; i < self->n; i++)
        mdl_agent_stop (self->agents[i]);
}

void
mdl_cluster_join (mdl_cluster_t *self)
{
    for (int i = 0; i < self->n; i++)
        mdl_agent_join (self->agents[i]);
}

int
mdl_cluster_wait_end (mdl_cluster_t *self, double timeout)
{
    /* one deadline for all: the agents in turn, each for what is left of it */
    const double until = mdl_now () + timeout;
    for (int i = 0; i < self->n; i++) {
        const double left = until - mdl_now ();
        if (mdl_agent_wait_finished (self->agents[i], left > 0 ? left : 0))
            return MDL_ETIMEOUT;
    }
    return 0;
}

int
mdl_cluster_snapshot (mdl_cluster_t *self, double timeout, double *mean_step)
{
    if (!self->snaps) {
        if (!(self->snaps = calloc ((size_t) self->n, sizeof *self->snaps)) || !(self->mean = malloc (self->d * sizeof (float)))
            || !(self->snap_stats = calloc ((size_t) self->n, sizeof *self->snap_stats)))
            return MDL_ENOMEM;
    }
    /* Ask all first, then collect: every agent copies its model at its own next step
       boundary, so the snapshots are as close in time as the agents' steps allow. */
    self->gen++;
    for (int i = 0; i < self->n; i++)
        mdl_agent_request_snapshot (self->agents[i], self->gen);
    double steps = 0;
    for (int i = 0; i < self->n; i++) {
        uint64_t step = 0;
        /* no copy of our own: the agent keeps its snapshot until the next request */
        if (mdl_agent_snapshot (self->agents[i], self->gen, NULL, &step, timeout)) {
            if (!self->snaps[self->n - 1]) { /* the first one: still no snapshot */
                free (self->snaps);
                self->snaps = NULL;
            }
            return MDL_ETIMEOUT;
        }
        self->snaps[i] = mdl_agent_snap_held (self->agents[i]);
        mdl_agent_snapshot_stats (self->agents[i], &self->snap_stats[i]);
        steps += (double) step / self->n;
    }
    mdl_vec_zero (self->mean, self->d);
    for (int i = 0; i < self->n; i++)
        mdl_vec_axpy (self->mean, 1.0f / (float) self->n, self->snaps[i], self->d);
    self->snap_step = steps;
    if (mean_step)
        *mean_step = steps;
    return 0;
}

const float *mdl_cluster_snap (const mdl_cluster_t *self, int i) { return self->snaps && i >= 0 && i < self->n ? self->snaps[i] : NULL; }
const float *mdl_cluster_mean (const mdl_cluster_t *self) { return self->mean; }

int
mdl_cluster_snap_stats (const mdl_cluster_t *self, int i, mdl_agent_stats_t *st)
{
    if (!self->snap_stats || i < 0 || i >= self->n)
        return MDL_EINVAL;
    *st = self->snap_stats[i];
    return 0;
}

double
mdl_cluster_consensus (const mdl_cluster_t *self, double *dist)
{
    if (!self->snaps)
        return NAN;
    double xi = 0;
    for (int i = 0; i < self->n; i++) {
        const double di = mdl_vec_dist2 (self->snaps[i], self->mean, self->d);
        if (dist)
            dist[i] = di;
        xi += di;
    }
    return xi / self->n;
}

void
mdl_cluster_stats_sum (mdl_cluster_t *self, mdl_agent_stats_t *sum)
{
    memset (sum, 0, sizeof *sum);
    sum->peers_alive = sum->peers_seen = sum->merge_peers = UINT64_MAX;
    sum->merged = sum->finished = true;
    const double w = 1.0 / self->n;
    int stepped = 0;
    for (int i = 0; i < self->n; i++) {
        mdl_agent_stats_t st;
        mdl_agent_stats (self->agents[i], &st);
        if (st.steps > 0) { /* the loss of an agent that has not stepped is no loss */
            sum->loss += st.loss;
            stepped++;
        }
        sum->steps += st.steps;
        sum->bytes_sent += st.bytes_sent;
        sum->bytes_received += st.bytes_received;
        sum->msgs_sent += st.msgs_sent;
        sum->msgs_received += st.msgs_received;
        for (int k = 0; k < MDL_SENT_KINDS; k++) {
            sum->sent_bytes[k] += st.sent_bytes[k];
            sum->sent_msgs[k] += st.sent_msgs[k];
        }
        sum->updates_applied += st.updates_applied;
        sum->updates_stale += st.updates_stale;
        sum->updates_dropped += st.updates_dropped;
        sum->updates_rejected += st.updates_rejected;
        for (int r = 0; r < MDL_REJECT_COUNT; r++)
            sum->rejected[r] += st.rejected[r];
        sum->robust_clipped += st.robust_clipped;
        sum->robust_short += st.robust_short;
        sum->robust_tau += st.robust_tau / (double) self->n;
        sum->keyframes_sent += st.keyframes_sent;
        sum->resyncs += st.resyncs;
        sum->replicas_verified += st.replicas_verified;
        sum->replica_mismatches += st.replica_mismatches;
        sum->gossip_rounds += st.gossip_rounds;
        sum->dense_rounds += st.dense_rounds;
        sum->evals += st.evals;
        sum->global_averages += st.global_averages;
        sum->pair_averages += st.pair_averages;
        sum->pair_refused += st.pair_refused;
        sum->pair_late += st.pair_late;
        sum->rounds_offline += st.rounds_offline;
        sum->model_round = st.model_round > sum->model_round ? st.model_round : sum->model_round;
        sum->epoch += w * st.epoch;
        sum->disagreement += w * st.disagreement;
        sum->wait_s += w * st.wait_s;
        sum->test_acc += w * st.test_acc;
        sum->test_loss += w * st.test_loss;
        sum->peers_alive = st.peers_alive < sum->peers_alive ? st.peers_alive : sum->peers_alive;
        sum->peers_seen = st.peers_seen < sum->peers_seen ? st.peers_seen : sum->peers_seen;
        sum->merge_peers = st.merge_peers < sum->merge_peers ? st.merge_peers : sum->merge_peers;
        sum->merged &= st.merged;
        sum->finished &= st.finished;
        if (!sum->error)
            sum->error = st.error;
    }
    sum->loss = stepped ? sum->loss / stepped : NAN;
}

const float *
mdl_cluster_model (mdl_cluster_t *self)
{
    if (!self->snaps)
        return NULL;
    const mdl_algo_ops_t *ops = mdl_algo_find (self->base->algo);
    if (ops && ops->model_parallel) {
        if (!self->model && !(self->model = malloc (self->d * sizeof (float))))
            return NULL;
        mdl_vec_copy (self->model, self->mean, self->d);
        mdl_vec_scale (self->model, (float) self->n, self->d);
        return self->model;
    }
    if (ops && ops->sampled) {
        int best = 0;
        uint64_t newest = 0;
        for (int i = 0; i < self->n; i++) {
            mdl_agent_stats_t st;
            mdl_agent_stats (self->agents[i], &st);
            if (st.model_round > newest)
                newest = st.model_round, best = i;
        }
        return self->snaps[best];
    }
    return self->mean;
}

/* The learners that evaluate the snapshots, threads of them: base's model over its
   training set, with the labels rotated once the agents' mean step is past "drift-at"
   epochs. Returns 0, MDL_EINVAL (no model), or the learner's error. */
static int
s_evaluators (mdl_cluster_t *self, double mean_step, int threads)
{
    int rc = 0;
    if (!mdl_agent_learner (self->agents[0]))
        return mdl_error_set (MDL_EINVAL, "mdl_cluster_evaluate: the agents have no model of their own (\"dim\")");
    if (self->nevals < threads) {
        mdl_learner_t **more = realloc (self->evals, (size_t) threads * sizeof *more);
        if (!more)
            return mdl_error_set (MDL_ENOMEM, "out of memory");
        self->evals = more;
        mdl_learner_cfg_t lc = self->base->learn;
        lc.sched.steps_per_epoch = mdl_cluster_steps_per_epoch (self);
        lc.sched.total_steps = lc.sched.steps_per_epoch * (uint64_t) (self->base->epochs > 0 ? self->base->epochs : 1);
        for (; self->nevals < threads; self->nevals++) {
            if (!(self->evals[self->nevals] = mdl_learner_new (&lc, self->base->train, NULL, 0, &rc)))
                return mdl_error_set (rc, "mdl_cluster_evaluate: cannot build the evaluating model: %s", mdl_strerror (rc));
            if (self->drift_map)
                mdl_learner_set_label_map (self->evals[self->nevals], self->drift_map);
        }
    }
    const double drift_step = self->base->drift_epoch * (double) mdl_cluster_steps_per_epoch (self);
    if (self->base->drift_epoch > 0 && !self->drift_map && mean_step >= drift_step) {
        const int classes = mdl_dataset_classes (self->base->train);
        if (!(self->drift_map = malloc ((size_t) (classes > 0 ? classes : 1) * sizeof (int32_t))))
            return mdl_error_set (MDL_ENOMEM, "out of memory");
        mdl_label_map_rotate (self->drift_map, classes);
        for (int t = 0; t < self->nevals; t++)
            mdl_learner_set_label_map (self->evals[t], self->drift_map);
    }
    return 0;
}

int
mdl_cluster_evaluate (mdl_cluster_t *self, const mdl_dataset_t *ds, size_t max_rows, double *loss, double *acc,
                      double *agent_loss, double *agent_acc)
{
    return mdl_cluster_evaluate_some (self, ds, max_rows, NULL, agent_loss || agent_acc ? self->n : 0, 1, loss, acc,
                                      agent_loss, agent_acc);
}

int
mdl_cluster_evaluate_some (mdl_cluster_t *self, const mdl_dataset_t *ds, size_t max_rows, const int *which, int k,
                           int threads, double *loss, double *acc, double *agent_loss, double *agent_acc)
{
    mdl_error_clear ();
    if (!self->snaps || !ds)
        return mdl_error_set (MDL_EINVAL, "mdl_cluster_evaluate: %s", !ds ? "no dataset" : "no snapshot yet");
    if (k < 0 || k > self->n)
        return mdl_error_set (MDL_EINVAL, "mdl_cluster_evaluate_some: %d agents of %d", k, self->n);
    for (int j = 0; which && j < k; j++)
        if (which[j] < 0 || which[j] >= self->n)
            return mdl_error_set (MDL_EINVAL, "mdl_cluster_evaluate_some: no agent %d", which[j]);
    const size_t m = (size_t) k + 1; /* the run's model, then the agents' */
    threads = mdl_eval_threads (threads, m);
    int rc = s_evaluators (self, self->snap_step, threads);
    const float *model = rc ? NULL : mdl_cluster_model (self);
    if (!rc && !model)
        rc = mdl_error_set (MDL_ENOMEM, "out of memory");
    const float **params = rc ? NULL : malloc (m * sizeof *params);
    double *l = rc ? NULL : malloc (2 * m * sizeof *l);
    if (!rc && (!params || !l))
        rc = mdl_error_set (MDL_ENOMEM, "out of memory");
    if (!rc) {
        params[0] = model;
        for (int j = 0; j < k; j++)
            params[j + 1] = self->snaps[which ? which[j] : j];
        if ((rc = mdl_eval_parallel (self->evals, threads, params, m, ds, max_rows, l, l + m)))
            mdl_error_set (rc, "mdl_cluster_evaluate: %s", mdl_strerror (rc));
    }
    if (!rc) {
        *loss = l[0];
        *acc = l[m];
        for (int j = 0; j < k; j++) {
            const int i = which ? which[j] : j;
            if (agent_loss)
                agent_loss[i] = l[j + 1];
            if (agent_acc)
                agent_acc[i] = l[m + j + 1];
        }
    }
    free (params);
    free (l);
    return rc;
}

mdl_cluster_t *
mdl_cluster_create (const mdl_agent_cfg_t *base, int n, const mdl_partition_t *part, unsigned flags, int *err)
{
    return mdl_cluster_create_each (base, n, part, flags, NULL, NULL, err);
}

mdl_cluster_t *
mdl_cluster_create_each (const mdl_agent_cfg_t *base, int n, const mdl_partition_t *part, unsigned flags,
                         mdl_cluster_each_fn *each, void *arg, int *err)
{
    mdl_error_clear ();
    if (!base || n < 1 || (part && mdl_partition_agents (part) != (uint32_t) n)) {
        if (err)
            *err = MDL_EINVAL;
        if (!base || n < 1)
            mdl_error_set (MDL_EINVAL, "mdl_cluster_create: %s", !base ? "no configuration" : "n must be >= 1");
        else
            mdl_error_set (MDL_EINVAL, "mdl_cluster_create: the partition has %u shards for %d agents",
                           mdl_partition_agents (part), n);
        return NULL;
    }
    if (mdl_agent_cfg_check_agents (base, (uint32_t) n)) { /* the reason is set */
        if (err)
            *err = MDL_EINVAL;
        return NULL;
    }
    mdl_cluster_cfg_t cc = { .n = n, .base = base, .part = part, .equal_rounds = (flags & MDL_CLUSTER_EQUAL_ROUNDS) != 0,
                             .isolated = (flags & MDL_CLUSTER_ISOLATED) != 0, .each = each, .each_arg = arg };
    int failed = -1, rc = 0;
    mdl_cluster_t *cl = mdl_cluster_new (&cc, &rc, &failed);
    if (!cl) {
        if (err)
            *err = rc;
        if (failed >= 0) {
            char why[512];
            snprintf (why, sizeof why, "%s", mdl_error_detail ());
            mdl_error_set (rc, "agent %d: %s", failed, why[0] ? why : mdl_strerror (rc));
        }
    }
    return cl;
}
