/*  agent.h: one decentralized learning agent: a compute worker thread and a comm actor
    (zactor) around one model, one data shard and one peer table. The public part (the
    functions programs call) is meshdl/agent.h and meshdl/config.h; here the
    configuration's fields and counters, which the engine, the CLI and the tests use
    directly.

    The same object runs alone in `meshdl agent` (beacon or static discovery over TCP)
    and N times in one process in `meshdl sim` (in-process registry over inproc://):
    only the discovery back-end and the endpoints differ. */
#ifndef MDL_AGENT_H
#define MDL_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dataset.h"
#include "discovery.h"
#include "learner.h"
#include "meshdl/agent.h"
#include "meshdl/config.h"
#include "weights.h"

typedef enum { MDL_MODE_SYNC = 0, MDL_MODE_ASYNC = 1 } mdl_mode_t;

/* --consensus-scale: the consensus step gamma times nothing, a constant, or a factor on
   lr_t / lr_0. */
typedef enum { MDL_SCALE_NONE = 0, MDL_SCALE_CONSTANT = 1, MDL_SCALE_LR = 2 } mdl_scale_t;

/* The configuration (opaque to programs: meshdl/config.h sets it by name). Fields are
   read by mdl_agent_new, which copies the struct and the strings it points to. */
struct mdl_agent_cfg {
    /* identity and network */
    uint64_t id;               /* agent id, never 0 */
    const char *cluster;       /* cluster name */
    const char *bind;          /* PUB endpoint to bind (tcp://HOST:0, inproc://NAME) */
    mdl_disc_cfg_t disc;       /* discovery back-end */
    double peer_timeout;       /* seconds of silence before a peer is dead */
    double hello_interval;     /* seconds between hellos on the mesh */
    int64_t hwm_bytes;         /* bytes a send or receive queue of the mesh may hold
                                  (0: ZeroMQ's counts of 100 / 1000 messages) */
    bool curve;                /* CURVE security */
    const char *cert;          /* curve: own secret certificate */
    const char *allow_dir;     /* curve: allowed public certificates */
    int min_peers;             /* peers to wait for before the first step */
    double min_peers_timeout;  /* seconds to wait for them */
    /* learning */
    mdl_learner_cfg_t learn;
    const mdl_dataset_t *train;
    const uint32_t *rows;      /* the agent's shard (NULL: all rows) */
    size_t nrows;
    const mdl_dataset_t *test; /* for the agent's own evaluations (may be NULL) */
    size_t test_rows;          /* rows of the final evaluation, 0 = all */
    size_t eval_rows;          /* rows of the evaluations while training, 0 = test_rows */
    int epochs;                /* passes over the shard */
    int evals_per_epoch;       /* evaluations while training per epoch, at the steps where
                                  step * N / steps_per_epoch reaches a new integer; one
                                  more, the final, when training ends */
    double drift_epoch;        /* > 0: concept drift, labels rotated from this epoch on */
    /* consensus */
    const char *algo;          /* "dpsgd" */
    const char *topology;      /* topo.h name */
    mdl_weights_t weights;
    mdl_mode_t mode;
    const char *codec;         /* codec spec of what is published */
    bool error_feedback;       /* lossy codecs: send EF-compressed deltas against replicas */
    bool verify_replicas;      /* replica updates carry the sender's digest; receivers check */
    int keyframe_every;        /* delta streams: a full keyframe every K sends (0 = on demand only) */
    double gamma;              /* consensus step size in (0, 1] */
    double gamma_max;          /* adagossip: cap of the per-coordinate step, in (0, 1] */
    int gossip_steps;          /* gossip rounds per SGD step (Kong et al.'s Q), >= 1 */
    mdl_scale_t scale_kind;    /* --consensus-scale */
    double scale_value;        /* constant alpha, or the factor on lr_t / lr_0 */
    double cc_target;          /* consensus control: extra rounds while the disagreement
                                  estimate exceeds this (0 = off) */
    bool cc_relative;          /* ... the target is cc_target * lr_t */
    bool cc_all_phases;        /* ... also after the first learning-rate decay */
    bool final_merge;          /* one exact average over all live peers at the end */
    double dyn_delta;          /* dynavg: synchronise when ||x - r||^2 exceeds this */
    int check_every;           /* dynavg: steps between checks of that condition */
    int global_every;          /* > 0: an exact average over all live peers every P steps
                                  (Gossip-PGA; FedAvg with localsgd on the complete graph) */
    int local_steps;           /* localsgd: gossip every H steps (>= 1) */
    bool overlap;              /* Decent-DP: mix the neighbours' states of the step before,
                                  x^{t+1} = W x^t - lr Opt(g(x^t)), sending while computing */
    double dense_start, dense_len; /* epochs [start, start + len): complete graph (len 0 = off) */
    double ad_target;          /* --adaptive-degree: the exponential graph while the
                                  disagreement estimate exceeds this (0 = off) */
    bool ad_relative;          /* ... the target is ad_target * lr_t */
    double merge_timeout;      /* seconds the final merge may take */
    double staleness_decay;    /* lambda: a state s steps old weighs lambda^s */
    int max_staleness;         /* older states are not used */
    double sync_timeout;       /* sync mode: seconds to wait for a round */
    /* fault injection (sim) */
    double slow_factor;        /* >= 1: compute this many times slower */
    double pace_s;             /* > 0: a step takes at least pace_s * slow_factor seconds
                                  (emulates one machine per agent on a shared CPU) */
    double delay_ms;           /* added to every incoming message */
    double drop;               /* probability of dropping an incoming update */
    uint64_t seed;             /* injections' random stream */
    /* output */
    FILE *log;                 /* event log lines (join/leave/...), NULL = none */
    const char *log_prefix;    /* e.g. "agent 3" */
    /* When set, each event line ("PREFIX: text", no newline) goes to log_fn instead of
       log, from whichever of the agent's threads logs it: a terminal's progress line
       can then be cleared around it. Lines of all agents of a process are serialised. */
    void (*log_fn) (void *arg, const char *line);
    void *log_arg;
    /* bring your own model (mdl_agent_exchange) */
    size_t dim;                /* > 0 without learn.spec: the caller's vector length; no
                                  learner, no worker thread */
    /* what mdl_agent_cfg_set owns (its copies of strings, which keys were set); NULL
       for a configuration filled field by field. Copies of the struct share it; only
       mdl_agent_cfg_destroy frees it. */
    struct mdl_cfg_extra *extra;
};

/* Counters of one agent (read at any time; updated by its threads). */
typedef struct {
    uint64_t steps;
    double epoch;
    double loss;               /* training loss (EMA over steps); NAN before the first step */
    uint64_t bytes_sent, bytes_received, msgs_sent, msgs_received;
    uint64_t updates_applied;  /* neighbour states mixed in */
    uint64_t updates_stale;    /* ... mixed in with a staleness discount */
    uint64_t updates_dropped;  /* not used: too stale, undecodable, dropped by injection, late */
    uint64_t updates_rejected; /* failed validation (subset of dropped) */
    uint64_t peers_alive, peers_seen;
    /* what the agent holds for its peers (hood.h): the peers of its neighbourhood, its
       links (neighbours and transient peers), SUB connections, mailboxes, and the bytes
       of the vectors in them and in replicas */
    uint64_t neighbours, links, connections, mailboxes, mailbox_bytes;
    uint64_t keyframes_sent, resyncs;
    uint64_t replicas_verified, replica_mismatches; /* --verify-replicas */
    uint64_t gossip_rounds;    /* rounds this agent took part in (consensus control adds) */
    uint64_t dense_rounds;     /* --adaptive-degree: rounds on the exponential graph */
    double disagreement;       /* local estimate: sum_j w_ij ||x_i - x_j||^2 at last mix */
    double wait_s;             /* time the worker spent waiting for neighbours (sync) */
    double test_acc, test_loss;/* the agent's own last evaluation (NAN before one) */
    uint64_t evals;            /* evaluations done (metrics lines to write) */
    uint64_t eval_step;        /* the step the last evaluation was made at */
    uint64_t eval_rows;        /* ... the test rows it used */
    double eval_time;          /* ... the wall clock when it was made */
    bool eval_final;           /* ... it was the final one, after training ended */
    bool merged;               /* the final merge completed (exact over merge_peers + 1) */
    uint64_t merge_peers;
    uint64_t global_averages;  /* exact global averages completed before the final merge
                                  (--global-every, dynavg's synchronisations) */
    uint64_t pair_averages;    /* adpsgd: pairwise averages this agent took part in */
    uint64_t pair_refused;     /* adpsgd: own requests refused (busy peer) or timed out */
    double train_start;        /* mdl_now when the first step began (its --min-peers met);
                                  NAN before */
    bool finished;
    int error;                 /* nonzero when the worker stopped on an error */
} mdl_agent_stats_t;

/* What one agent costs the process, for mdl_agent_provision: ZeroMQ sockets (actor
   pipe, worker and comm inproc pair, PUB, SUB, CURVE monitors, the beacon's actor) and
   threads (worker, comm actor, beacon). */
#define MDL_AGENT_SOCKETS 16
#define MDL_AGENT_MAX_PEERS 1024 /* live peers an agent tracks (its membership; all of them
                                    take part in a global average) */
#define MDL_AGENT_THREADS 3

/* Makes room in this process for `agents` agents, each talking to up to `peers` peers
   over TCP (0 for in-process agents): raises ZeroMQ's socket limit (only possible
   before the process's first socket: call it first) and the soft limit of open files
   up to the hard one. Returns 0, or MDL_ELIMIT with one sentence in why naming the
   limit and what to do (nothing is changed then). mdl_agent_new refuses an agent
   beyond what was provisioned (1024 sockets' worth by default) with MDL_ELIMIT, never
   an assertion. */
int mdl_agent_provision (size_t agents, size_t peers, char *why, size_t whylen);

/* Builds n agents, cfgs[i] for out[i], a few at a time in parallel: each mdl_agent_new
   waits for its comm actor to start, and with hundreds of agents in a process those
   waits, not the work, take the time. Returns 0, or the first error (*failed = its
   index): every agent built is destroyed then and out is all NULL. */
int mdl_agent_new_many (const mdl_agent_cfg_t *cfgs, size_t n, mdl_agent_t **out, size_t *failed);

/* Copies the counters (programs read them by name: mdl_agent_counter). */
void mdl_agent_stats (mdl_agent_t *self, mdl_agent_stats_t *stats);

/* The learner (its model holds x). Only safe to read while the worker is not running,
   or through mdl_agent_snapshot. */
mdl_learner_t *mdl_agent_learner (mdl_agent_t *self);

/* Asks for a copy of x at the worker's next step boundary (a finished worker answers
   at once). mdl_agent_snapshot then waits up to timeout seconds for it: copies x into
   out (d floats) and its step into *step. Returns 0 or MDL_ETIMEOUT. */
void mdl_agent_request_snapshot (mdl_agent_t *self, uint64_t generation);
int mdl_agent_snapshot (mdl_agent_t *self, uint64_t generation, float *out, uint64_t *step,
                        double timeout);

/* The counters as they were when the agent's last snapshot was taken (steps, epoch and
   loss of the copied x; traffic up to then). */
void mdl_agent_snapshot_stats (mdl_agent_t *self, mdl_agent_stats_t *stats);

/* The counters as they were at the agent's k-th evaluation (k >= 1): steps and epoch of
   the evaluated model, its test_acc/test_loss, the traffic up to then. The last
   MDL_AGENT_EVALS_KEPT are kept. Returns 0, or MDL_ENOENT for one not (or no longer)
   held. */
#define MDL_AGENT_EVALS_KEPT 16
int mdl_agent_eval_stats (mdl_agent_t *self, uint64_t k, mdl_agent_stats_t *stats);

/* ---- the configuration (config.c) ---- */

/* Fills cfg with the defaults of mdl_agent_cfg_new (every field; extra NULL). */
void mdl_agent_cfg_defaults (mdl_agent_cfg_t *cfg);

/* Frees what mdl_agent_cfg_set allocated for a configuration on the stack (its copies
   of strings); the struct itself stays. Safe twice. */
void mdl_agent_cfg_clear (mdl_agent_cfg_t *cfg);

/* Fills the settings left to the algorithm or the codec (NAN): gamma, gamma-max. */
void mdl_agent_cfg_resolve (mdl_agent_cfg_t *cfg);

/* Parsers of the settings with a structure of their own, for the command line too: each
   fills its fields of cfg from text and returns 0, or MDL_EINVAL with a sentence naming
   the option and its forms in mdl_error_detail(). */
int mdl_agent_cfg_consensus_control (mdl_agent_cfg_t *cfg, const char *spec); /* T | lr:T [,all] */
int mdl_agent_cfg_consensus_scale (mdl_agent_cfg_t *cfg, const char *spec);   /* A | lr | lr:A */
int mdl_agent_cfg_degree_target (mdl_agent_cfg_t *cfg, const char *spec);     /* T | lr:T */
int mdl_agent_cfg_dense_window (mdl_agent_cfg_t *cfg, const char *spec);      /* START:LEN */

/* Copies the strings cfg points to into one allocation (*arena, caller frees) and points
   cfg at the copies; cfg->extra becomes NULL. So an agent keeps nothing of the caller's
   configuration object. Returns 0 or MDL_ENOMEM (cfg unchanged). */
int mdl_agent_cfg_adopt_strings (mdl_agent_cfg_t *cfg, char **arena);

#endif
