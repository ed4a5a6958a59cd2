/*  meshdl/cluster.h: N agents in one process, on in-process sockets found through one
    in-process registry: what `meshdl sim` runs, for experiments on one machine. The
    agents are the real ones (comm actor, worker, mailboxes); only the discovery back-end
    and the endpoints (inproc://) differ from agents on a LAN.

    The cluster also does what no single agent can: it snapshots every agent's model at
    the same generation, averages them and measures the exact consensus distance
    (1/n) sum_i ||x_i - xbar||^2.

        mdl_cluster_t *cl = mdl_cluster_create (cfg, 4, part, MDL_CLUSTER_EQUAL_ROUNDS, &err);
        mdl_cluster_start (cl);
        mdl_cluster_join (cl);
        mdl_cluster_snapshot (cl, 10.0, NULL);      // mdl_cluster_mean: the average model
        mdl_cluster_destroy (&cl); */
#ifndef MESHDL_CLUSTER_H
#define MESHDL_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "meshdl/agent.h"
#include "meshdl/config.h"
#include "meshdl/data.h"
#include "meshdl/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mdl_cluster_t mdl_cluster_t;

/* mdl_cluster_create's flags */
enum {
    MDL_CLUSTER_EQUAL_ROUNDS = 1u << 0, /* with a partition: every agent runs the mean shard
                                           size / batch steps per epoch (sync mode needs
                                           equal round counts) */
    MDL_CLUSTER_ISOLATED = 1u << 1      /* every agent alone (no gossip): a baseline */
};

/* Builds n agents (not started) from base, agent i with id i + 1, bound to
   inproc://mdl-cluster-PID-RUN-I, waiting for the n - 1 others before its first step, on
   shard i of part (NULL: base's own rows for every agent). Agents of way 2 ("dim" set)
   are driven by mdl_agent_exchange on mdl_cluster_agent (i), one thread each. Returns
   NULL with *err (MDL_EINVAL for n < 1 or a partition of another size, MDL_ENOMEM, or
   the first agent's error) and the reason in mdl_error_detail(). Caller owns the cluster
   and destroys it. */
MDL_EXPORT mdl_cluster_t *mdl_cluster_create (const mdl_agent_cfg_t *base, int n, const mdl_partition_t *part,
                                              unsigned flags, int *err);

/* Per-agent settings for mdl_cluster_create_each: called for agent i (0..n-1, in turn,
   on the calling thread) with a configuration of that agent's own, a copy of base with
   the cluster's part set (id, endpoint, discovery, shard, min-peers), before the agent is
   built. Set what differs between the agents with mdl_agent_cfg_set (e.g. "data-seed",
   "injection-seed", "slow-factor", "byzantine"); the configuration is freed afterwards.
   Return 0, or an error code (with the reason through mdl_error_detail) that makes
   mdl_cluster_create_each fail with it. */
typedef int (mdl_cluster_each_fn) (mdl_agent_cfg_t *cfg, int i, void *arg);

/* mdl_cluster_create with each (may be NULL) called for every agent first. Errors as
   mdl_cluster_create, or each's code with "agent I: " before its reason. */
MDL_EXPORT mdl_cluster_t *mdl_cluster_create_each (const mdl_agent_cfg_t *base, int n, const mdl_partition_t *part,
                                                   unsigned flags, mdl_cluster_each_fn *each, void *arg, int *err);

/* The compute time of one step to emulate (setting "pace") when n agents of base share
   this machine's cores: one uncontended step of base's model on its training set (shard
   sizes from part, may be NULL) plus the copies and mixing of a gossip round with the
   topology's degree, measured now, times the agents each core carries, with 1.5x headroom
   for the comm threads and the evaluations. Without pacing n agents on fewer cores are
   slowed alike by contention, and one with a "slow-factor" is no straggler relative to
   the others as it would be on a machine of its own. Takes a few dozen steps. Returns 0,
   MDL_EINVAL (n < 1, a configuration without a model), or the learner's error. */
MDL_EXPORT int mdl_cluster_pace (const mdl_agent_cfg_t *base, int n, const mdl_partition_t *part, double *seconds);

/* Stops and joins every agent that runs, destroys them all; *self = NULL. Safe twice. */
MDL_EXPORT void mdl_cluster_destroy (mdl_cluster_t **self);

MDL_EXPORT int mdl_cluster_size (const mdl_cluster_t *self);
MDL_EXPORT mdl_agent_t *mdl_cluster_agent (mdl_cluster_t *self, int i);
MDL_EXPORT size_t mdl_cluster_dim (const mdl_cluster_t *self);
/* Steps per epoch of the agents: with MDL_CLUSTER_EQUAL_ROUNDS and a partition, the mean
   shard size over the batch (at least 1), the same for all; otherwise agent 0's own
   (every agent trains on the same rows); 0 for agents without a model of their own. */
MDL_EXPORT uint64_t mdl_cluster_steps_per_epoch (const mdl_cluster_t *self);

/* Waits until every agent sees the n - 1 others (no-op when isolated). Returns 0, or
   MDL_ETIMEOUT with the first agent that did not in *which (may be NULL). */
MDL_EXPORT int mdl_cluster_wait_peers (mdl_cluster_t *self, double timeout, int *which);

/* Optional, before mdl_cluster_start: every worker's thread and state made now
   (mdl_agent_prepare), so that the start only lets them go: hundreds of agents that
   start one by one otherwise train beside the creation of the others' threads, which
   then waits for the cores. Returns 0 or the first error. */
MDL_EXPORT int mdl_cluster_prepare (mdl_cluster_t *self);
/* Starts every worker. Returns 0 or the first error. */
MDL_EXPORT int mdl_cluster_start (mdl_cluster_t *self);
/* Asks every worker to stop after its current step (non-blocking). */
MDL_EXPORT void mdl_cluster_stop (mdl_cluster_t *self);
/* Waits for every worker to end. */
MDL_EXPORT void mdl_cluster_join (mdl_cluster_t *self);
/* Waits until every worker has ended, at most timeout seconds: 0, or MDL_ETIMEOUT while
   one still runs. An agent's end wakes it at once, so a caller that shows progress
   between waits notices the end when it comes, not at its next poll. */
MDL_EXPORT int mdl_cluster_wait_end (mdl_cluster_t *self, double timeout);

/* Copies every agent's model at one generation (each at its next step boundary) into the
   cluster's snapshot buffers, and computes their mean. *mean_step (may be NULL) gets
   the agents' mean step. Returns 0 or MDL_ETIMEOUT (an agent did not answer). */
MDL_EXPORT int mdl_cluster_snapshot (mdl_cluster_t *self, double timeout, double *mean_step);
/* The last snapshot of agent i (d floats) and their mean; valid until the next one (the
   agent holds its snapshot: an mdl_agent_params of that agent replaces it too). */
MDL_EXPORT const float *mdl_cluster_snap (const mdl_cluster_t *self, int i);
MDL_EXPORT const float *mdl_cluster_mean (const mdl_cluster_t *self);
/* The exact consensus distance of the last snapshot, (1/n) sum_i ||x_i - xbar||^2; with
   dist (n doubles, may be NULL) each ||x_i - xbar||^2. */
MDL_EXPORT double mdl_cluster_consensus (const mdl_cluster_t *self, double *dist);

/* A counter of every agent (mdl_agent_counter's names) combined: counts added up;
   epoch, loss and test figures averaged; peers_seen the minimum. Returns 0 or MDL_EINVAL
   (unknown name). */
MDL_EXPORT int mdl_cluster_counter (mdl_cluster_t *self, const char *name, double *value);

/* Every combined counter at once, from one reading of each agent: values[i] is the one
   mdl_agent_counter_name (i) names, combined as mdl_cluster_counter does, for i < cap
   (finished and merged: whether every agent is; error: the first agent's nonzero one).
   Returns the number of counters (which may exceed cap). */
MDL_EXPORT size_t mdl_cluster_counters (mdl_cluster_t *self, double *values, size_t cap);

/* Agent i's counters as they were when it copied its last snapshot (the step of the
   model the snapshot holds, the traffic up to then), as mdl_agent_counters orders them,
   into values (*n: how many there are, which may exceed cap). Returns 0, or MDL_EINVAL
   before the first snapshot or for i out of range. */
MDL_EXPORT int mdl_cluster_snap_counters (const mdl_cluster_t *self, int i, double *values, size_t cap, size_t *n);

/* The model the run has reached, from the last snapshot (mdl_cluster_dim floats, valid
   until the next snapshot): the agents' mean; for a model-parallel algorithm
   (mdl_algo_info "model-parallel") their sum, each agent holding its block and zeros
   elsewhere; for sampled rounds ("sampled") the snapshot of the agent whose model holds
   the newest aggregate (the highest "model_round" now). NULL before any snapshot or
   when out of memory. */
MDL_EXPORT const float *mdl_cluster_model (mdl_cluster_t *self);

/* Evaluates the last snapshot on the first max_rows rows of ds (0: all), with a model
   of meshdl's built like the agents': the model of the run (mdl_cluster_model) into *loss
   and *acc (accuracy 0 for regression), each agent's own into agent_loss[i] and
   agent_acc[i] (n doubles each; both may be NULL). With the setting "drift-at", the
   labels are rotated as the agents' are once the snapshot's mean step has passed it (and
   stay so). The agents go on training meanwhile; call it from one thread (it evaluates on
   that one). Returns 0, MDL_EINVAL (no snapshot yet, agents without a model of their
   own), MDL_ESHAPE (ds does not fit the model) or MDL_ENOMEM, with the reason in
   mdl_error_detail(). */
MDL_EXPORT int mdl_cluster_evaluate (mdl_cluster_t *self, const mdl_dataset_t *ds, size_t max_rows, double *loss,
                                     double *acc, double *agent_loss, double *agent_acc);
/* mdl_cluster_evaluate of the model of the run and of some agents' only, on threads
   threads: the k agents which[0..k) (NULL: agents 0..k-1; k = 0: none) into
   agent_loss[which[j]] and agent_acc[which[j]] (the other entries are left as they
   are). threads 0 means one per core online: for when the agents are not training (they
   share those cores). Each model is evaluated whole on one thread, so the results are
   those of mdl_cluster_evaluate whatever threads is. Returns what mdl_cluster_evaluate
   does, and MDL_EINVAL for an agent index out of range. */
MDL_EXPORT int mdl_cluster_evaluate_some (mdl_cluster_t *self, const mdl_dataset_t *ds, size_t max_rows,
                                          const int *which, int k, int threads, double *loss, double *acc,
                                          double *agent_loss, double *agent_acc);

/* Before mdl_cluster_start: every agent starts from the model checkpoint at path (what
   mdl_cluster_checkpoint or mdl_learner_checkpoint wrote, for the same model and
   optimizer): parameters, optimizer state and step, which goes to *step (may be NULL);
   the run then ends where "epochs" says. Returns 0, MDL_EINVAL (agents without a model of
   their own), or the file's error (MDL_ENOENT, MDL_ECKPT_MODEL: written for another model
   or optimizer, MDL_ECKPT_CORRUPT, ...), with the reason in mdl_error_detail(); agents
   loaded before a failure keep what they loaded. */
MDL_EXPORT int mdl_cluster_resume (mdl_cluster_t *self, const char *path, uint64_t *step);

/* Writes the agents' mean model of the last snapshot (mdl_cluster_mean) with their mean
   optimizer state, at step and epoch, to path atomically (a temporary file renamed over
   it): what mdl_cluster_resume, mdl_learner_resume and `meshdl train --resume` read. Call
   it once the agents have stopped (their optimizer states are read as they are). Returns
   0, MDL_EINVAL (no snapshot yet, agents without a model of their own), MDL_ENOMEM or
   MDL_EIO, with the reason in mdl_error_detail(). */
MDL_EXPORT int mdl_cluster_checkpoint (mdl_cluster_t *self, const char *path, uint64_t step, uint64_t epoch);

#ifdef __cplusplus
}
#endif

#endif
