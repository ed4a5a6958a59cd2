/*  cluster.h: N agents in one process, on inproc:// sockets found through one in-process
    registry: the set-up `meshdl sim`, bench_sim and the integration tests share. The
    agents are the real ones (comm actor, worker, mailboxes); only the discovery back-end
    and the endpoints differ from `meshdl agent` on a LAN.

    The cluster also does what no single agent can: it snapshots every agent's model at
    the same generation, averages them and measures the exact consensus distance
    (1/n) sum_i ||x_i - xbar||^2. */
#ifndef MDL_CLUSTER_H
#define MDL_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "partition.h"

typedef struct mdl_cluster_t mdl_cluster_t;

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
} mdl_cluster_cfg_t;

/* The steps per epoch of equal_rounds: the mean shard size of part's n shards over
   batch (at least 1). */
uint64_t mdl_cluster_equal_steps (const mdl_partition_t *part, int n, size_t batch);

/* Builds n agents (not started): ids i + 1 unless tweaked, min_peers n - 1 (0 when
   isolated), log prefix "agent I". Returns NULL with *err (MDL_EINVAL for n < 1,
   MDL_ENOMEM, or the first agent's error, whose index goes to *failed when not NULL).
   Caller owns the cluster and destroys it. */
mdl_cluster_t *mdl_cluster_new (const mdl_cluster_cfg_t *cfg, int *err, int *failed);

/* Stops and joins every agent that runs, destroys them all; *self = NULL. Safe twice. */
void mdl_cluster_destroy (mdl_cluster_t **self);

int mdl_cluster_size (const mdl_cluster_t *self);
mdl_agent_t *mdl_cluster_agent (mdl_cluster_t *self, int i);
size_t mdl_cluster_dim (const mdl_cluster_t *self);
/* Steps per epoch every agent runs (equal_rounds), or 0 when each runs its own. */
uint64_t mdl_cluster_steps_per_epoch (const mdl_cluster_t *self);

/* Waits until every agent sees the n - 1 others (no-op when isolated). Returns 0, or
   MDL_ETIMEOUT with the first agent that did not in *which (may be NULL). */
int mdl_cluster_wait_peers (mdl_cluster_t *self, double timeout, int *which);

/* Starts every worker. Returns 0 or the first error. */
int mdl_cluster_start (mdl_cluster_t *self);
/* Asks every worker to stop after its current step (non-blocking). */
void mdl_cluster_stop (mdl_cluster_t *self);
/* Waits for every worker to end. */
void mdl_cluster_join (mdl_cluster_t *self);

/* Copies every agent's model at one generation (each at its next step boundary) into the
   cluster's snapshot buffers, and computes their mean. *mean_step (may be NULL) gets
   the agents' mean step. Returns 0 or MDL_ETIMEOUT (an agent did not answer). */
int mdl_cluster_snapshot (mdl_cluster_t *self, double timeout, double *mean_step);
/* The last snapshot of agent i (d floats) and their mean; valid until the next one. */
const float *mdl_cluster_snap (const mdl_cluster_t *self, int i);
const float *mdl_cluster_mean (const mdl_cluster_t *self);
/* Agent i's counters as they were at its last snapshot (the step its snapshot holds,
   the traffic up to then). Returns 0, or MDL_EINVAL before any snapshot. */
int mdl_cluster_snap_stats (const mdl_cluster_t *self, int i, mdl_agent_stats_t *st);
/* The exact consensus distance of the last snapshot, (1/n) sum_i ||x_i - xbar||^2; with
   dist (n doubles, may be NULL) each ||x_i - xbar||^2. */
double mdl_cluster_consensus (const mdl_cluster_t *self, double *dist);

/* The agents' counters added up (steps, bytes, updates, rounds, averages, ...); epoch
   and test figures are means; loss the mean over the agents that have stepped (NAN
   before any has); peers_seen the minimum. */
void mdl_cluster_stats_sum (mdl_cluster_t *self, mdl_agent_stats_t *sum);

#endif
