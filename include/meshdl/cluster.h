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

/* Stops and joins every agent that runs, destroys them all; *self = NULL. Safe twice. */
MDL_EXPORT void mdl_cluster_destroy (mdl_cluster_t **self);

MDL_EXPORT int mdl_cluster_size (const mdl_cluster_t *self);
MDL_EXPORT mdl_agent_t *mdl_cluster_agent (mdl_cluster_t *self, int i);
MDL_EXPORT size_t mdl_cluster_dim (const mdl_cluster_t *self);

/* Waits until every agent sees the n - 1 others (no-op when isolated). Returns 0, or
   MDL_ETIMEOUT with the first agent that did not in *which (may be NULL). */
MDL_EXPORT int mdl_cluster_wait_peers (mdl_cluster_t *self, double timeout, int *which);

/* Starts every worker. Returns 0 or the first error. */
MDL_EXPORT int mdl_cluster_start (mdl_cluster_t *self);
/* Asks every worker to stop after its current step (non-blocking). */
MDL_EXPORT void mdl_cluster_stop (mdl_cluster_t *self);
/* Waits for every worker to end. */
MDL_EXPORT void mdl_cluster_join (mdl_cluster_t *self);

/* Copies every agent's model at one generation (each at its next step boundary) into the
   cluster's snapshot buffers, and computes their mean. *mean_step (may be NULL) gets
   the agents' mean step. Returns 0 or MDL_ETIMEOUT (an agent did not answer). */
MDL_EXPORT int mdl_cluster_snapshot (mdl_cluster_t *self, double timeout, double *mean_step);
/* The last snapshot of agent i (d floats) and their mean; valid until the next one. */
MDL_EXPORT const float *mdl_cluster_snap (const mdl_cluster_t *self, int i);
MDL_EXPORT const float *mdl_cluster_mean (const mdl_cluster_t *self);
/* The exact consensus distance of the last snapshot, (1/n) sum_i ||x_i - xbar||^2; with
   dist (n doubles, may be NULL) each ||x_i - xbar||^2. */
MDL_EXPORT double mdl_cluster_consensus (const mdl_cluster_t *self, double *dist);

/* A counter of every agent (mdl_agent_counter's names) combined: counts added up;
   epoch, loss and test figures averaged; peers_seen the minimum. Returns 0 or MDL_EINVAL
   (unknown name). */
MDL_EXPORT int mdl_cluster_counter (mdl_cluster_t *self, const char *name, double *value);

#ifdef __cplusplus
}
#endif

#endif
