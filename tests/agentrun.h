/*  agentrun.h: the integration tests' runner of N real agents in one process (an
    mdl_cluster_t: comm actors, inproc PUB/SUB sockets, registry discovery) on a small
    model, from a description of the run; it reports how far the agents ended from the
    mean of their initial vectors and from each other. */
#ifndef MDL_AGENTRUN_H
#define MDL_AGENTRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "dataset.h"
#include "optim.h"

typedef struct {
    double max_rel_to_mean; /* max_i ||x_i - mean0|| / ||mean0|| */
    double max_rel_spread;  /* max_i ||x_i - xbar|| / ||xbar|| */
    double max_abs_diff;    /* max_i,k |x_i[k] - x_0[k]|: 0 when all are bit for bit equal */
    double rel_mean_moved;  /* ||xbar - mean0|| / ||mean0||: how far the agents' mean moved */
} agentrun_result_t;

/* One run. Unset fields take the defaults in brackets. Agent i has id (i + 1) * 1000,
   initial vector from seed i + 1 (all different) and minibatch order i. */
typedef struct {
    const char *topology;
    mdl_mode_t mode;
    int n, epochs;
    const char *codec;             /* ["fp32"] */
    bool ef;
    const char *spec;              /* model spec */
    int dim;                       /* inputs of the dummy dataset (data NULL) */
    int gossip_steps;              /* [1] */
    const char *algo;              /* ["dpsgd"] */
    size_t batch;                  /* [8] */
    /* optimisation runs (data NULL: lr 0 on a 64-row dummy dataset of dim inputs) */
    const mdl_dataset_t *data;
    uint32_t *const *rows;         /* each agent's shard (NULL: all rows) */
    size_t nrows;
    float lr, momentum;
    mdl_opt_kind_t opt;            /* [sgd] */
    int local_steps, global_every; /* [1], [0] */
    bool overlap;
    double drop;
    double merge_timeout;          /* [30] */
    void (*tweak) (mdl_agent_cfg_t *c); /* optional: further settings */
    /* out (optional) */
    float **final;                 /* each agent's final x (n vectors, caller frees) */
    mdl_agent_stats_t *stats;      /* each agent's counters (n) */
} agentrun_cfg_t;

/* Runs o to the end (cmocka assertions on every failure). */
agentrun_result_t agentrun (const agentrun_cfg_t *o);

/* The learner configuration of agent i of o (tests rebuild it for their references). */
void agentrun_learn_cfg (const agentrun_cfg_t *o, int i, mdl_learner_cfg_t *l);

/* The dummy dataset: 64 rows of dim inputs, 2 classes (caller destroys). */
mdl_dataset_t *agentrun_dataset (int dim);

#endif
