/*  cluster.h: N agents in one process (the public part is meshdl/cluster.h): here the
    full set-up that `meshdl sim`, bench_sim and the integration tests share, with
    per-agent tweaks, and the counters as a struct. */
#ifndef MDL_CLUSTER_H
#define MDL_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "meshdl/cluster.h"
#include "partition.h"

/* Per-agent settings, called for agent i (0..n-1) after the cluster filled its part of
   cfg (id, bind, discovery, shard, min_peers, log prefix) and before the agent is built. */
typedef void (mdl_cluster_tweak_fn) (mdl_agent_cfg_t *cfg, int i, void *arg);

typedef struct {
    int n;                        /* agents, >= 1 */
    const mdl_agent_cfg_t *base;  /* what every agent shares; copied per agent */
    const mdl_partition_t *part;  /* each agent's shard (NULL: base->rows for all) */
    bool equal_rounds;            /* with part: every agent runs the mean shard size /
                                     batch steps per epoch (sync mode needs equal round
                                     counts; it is fair in async) */
    bool isolated;                /* every agent alone in a registry of its own (no gossip) */
    const char *name;             /* endpoint names inproc://NAME-PID-RUN-I ["mdl-cluster"] */
    mdl_cluster_tweak_fn *tweak;  /* optional */
    void *tweak_arg;
    mdl_cluster_each_fn *each;    /* optional, after tweak: the public API's per-agent
                                     settings, on a configuration of the agent's own */
    void *each_arg;
} mdl_cluster_cfg_t;

/* The steps per epoch of equal_rounds: the mean shard size of part's n shards over
   batch (at least 1). */
uint64_t mdl_cluster_equal_steps (const mdl_partition_t *part, int n, size_t batch);

/* Builds n agents (not started): ids i + 1 unless tweaked, min_peers n - 1 (0 when
   isolated), log prefix "agent I". Returns NULL with *err (MDL_EINVAL for n < 1,
   MDL_ENOMEM, or the first agent's error, whose index goes to *failed when not NULL).
   Caller owns the cluster and destroys it. */
mdl_cluster_t *mdl_cluster_new (const mdl_cluster_cfg_t *cfg, int *err, int *failed);

/* Agent i's counters as they were at its last snapshot (the step its snapshot holds,
   the traffic up to then). Returns 0, or MDL_EINVAL before any snapshot. */
int mdl_cluster_snap_stats (const mdl_cluster_t *self, int i, mdl_agent_stats_t *st);

/* The agents' counters added up (steps, bytes, updates, rounds, averages, ...); epoch
   and test figures are means; loss the mean over the agents that have stepped (NAN
   before any has); peers_seen the minimum. */
void mdl_cluster_stats_sum (mdl_cluster_t *self, mdl_agent_stats_t *sum);

/* clustereval.c: the threads an evaluation of m vectors uses when asked for threads
   (0: one per core online), at most one per vector and 64. */
int mdl_eval_threads (int threads, size_t m);
/* Evaluates the m parameter vectors params[j] (none NULL) on the first max_rows rows of ds (0: all) into loss[j] and acc[j], on threads
   threads, the t-th with the learner evals[t] (threads of them, alike). Each vector is
   evaluated by one thread, so the results are mdl_learner_evaluate's whatever the
   threads. Returns 0 or the first error (MDL_ESHAPE, MDL_ENOMEM). */
int mdl_eval_parallel (mdl_learner_t *const *evals, int threads, const float *const *params, size_t m,
                       const mdl_dataset_t *ds, size_t max_rows, double *loss, double *acc);

#endif
