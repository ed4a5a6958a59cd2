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

#include "checkpoint.h"
#include "byzantine.h"
#include "dataset.h"
#include "discovery.h"
#include "hist.h"
#include "learner.h"
#include "meshdl/agent.h"
#include "meshdl/config.h"
#include "robust.h"
#include "weights.h"

typedef enum { MDL_MODE_SYNC = 0, MDL_MODE_ASYNC = 1 } mdl_mode_t;

/* --consensus-scale: the consensus step gamma times nothing, a constant, or a factor on
   lr_t / lr_0. */
typedef enum { MDL_SCALE_NONE = 0, MDL_SCALE_CONSTANT = 1, MDL_SCALE_LR = 2 } mdl_scale_t;

/* --bootstrap: a fresh agent (no --resume) joining a cluster that is already training
   starts from a snapshot of the live peer with the highest step (agents/snapshot.h), or
   from its own initial model. */
typedef enum { MDL_BOOT_NONE = 0, MDL_BOOT_PEER = 1 } mdl_boot_t;

/* Where the agent's model came from (summaries: "init", "checkpoint", "peer:<id>"). */
typedef enum { MDL_START_INIT = 0, MDL_START_CHECKPOINT = 1, MDL_START_PEER = 2 } mdl_start_t;

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
                                  (0: ZeroMQ's counts of 100 / 1000 messages;
                                  MDL_AGENT_HWM_AUTO: by mode, mdl_agent_hwm_bytes) */
    bool curve;                /* CURVE security */
    const char *cert;          /* curve: own secret certificate */
    const char *allow_dir;     /* curve: allowed public certificates */
    double join_rate;          /* new peers (joins and rejoins) per second at most, after a
                                  burst of join_burst (0: 16/s after 64) */
    int join_burst;
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
    size_t public_rows;        /* codistill: the first N training rows are the public pool */
    double distill_weight;     /* codistill: lambda, the weight of the KL term */
    bool distill_weight_given; /* ... set by the user (other algorithms refuse it) */
    int local_epochs;          /* localsgd: > 0: no gossip, an exact global average weighted
                                  by shard size every E epochs */
    int sample;                /* plexus: agents per round */
    const uint32_t *blocks;    /* mp-linreg: unknowns of each agent, in id order (nblocks) */
    int nblocks;
    bool overlap;              /* Decent-DP: mix the neighbours' states of the step before,
                                  x^{t+1} = W x^t - lr Opt(g(x^t)), sending while computing */
    bool unfused;              /* never write D-PSGD's optimizer step into the outgoing
                                  message (fused.c): the tests' reference, same floats */
    double dense_start, dense_len; /* epochs [start, start + len): complete graph (len 0 = off) */
    double ad_target;          /* --adaptive-degree: the exponential graph while the
                                  disagreement estimate exceeds this (0 = off) */
    bool ad_relative;          /* ... the target is ad_target * lr_t */
    double merge_timeout;      /* seconds the final merge may take */
    double staleness_decay;    /* lambda: a state s steps old weighs lambda^s */
    int max_staleness;         /* older states are not used */
    double sync_timeout;       /* sync mode: seconds to wait for a round */
    mdl_boot_t bootstrap;      /* a fresh agent's start: a peer's snapshot, or its own init */
    double bootstrap_timeout;  /* seconds a snapshot transfer may take (0: 60) */
    double linger;             /* after training: seconds at most to stay in the mesh for
                                  peers still training or coming back (0: leave at once) */
    mdl_robust_cfg_t robust;   /* --robust: how neighbour states are aggregated */
    int max_lead;              /* a state stamped more than this many rounds ahead of the
                                  receiver's round is refused (0: the default, max(8,
                                  2 log2 N) SGD steps of rounds in sync mode for N agents,
                                  --max-staleness in async) */
    /* fault injection (sim) */
    double slow_factor;        /* >= 1: compute this many times slower */
    double pace_s;             /* > 0: a step takes at least pace_s * slow_factor seconds
                                  (emulates one machine per agent on a shared CPU) */
    double delay_ms;           /* added to every incoming message */
    double drop;               /* probability of dropping an incoming update */
    double offline;            /* probability that an agent is offline in a round, drawn from
                                  (learn.seed, id, round): a trace every agent knows */
    uint64_t seed;             /* injections' random stream */
    mdl_byz_cfg_t byzantine;   /* this agent forges what it publishes (tests, experiments) */
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

/* Why a message was refused: each reason is one counter of updates_rejected
   (mdl_agent_stats_t.rejected), named by mdl_reject_name in summaries and metrics
   ("rejected_by_reason"). The first twelve mirror the MDL_EWIRE_* codes of the wire
   and codec checks. */
typedef enum {
    MDL_REJECT_FRAMES = 0,  /* wrong frame count */
    MDL_REJECT_HEADER,      /* header not our MessagePack schema */
    MDL_REJECT_MAGIC,
    MDL_REJECT_VERSION,
    MDL_REJECT_CLUSTER,     /* another cluster */
    MDL_REJECT_DIM,         /* d differs */
    MDL_REJECT_CODEC,       /* codec parameters differ */
    MDL_REJECT_LENGTH,      /* payload length (empty, short, or not the header's) */
    MDL_REJECT_INDEX,       /* sparse index out of range or not increasing */
    MDL_REJECT_NONFINITE,   /* NaN or Inf in header or payload */
    MDL_REJECT_TOPIC,
    MDL_REJECT_PAYLOAD,     /* payload structure */
    MDL_REJECT_SELF,        /* our own id as sender (a loop, or a forgery) */
    MDL_REJECT_SENDER_ZERO, /* sender id 0 */
    MDL_REJECT_UNKNOWN,     /* sender is not a live peer */
    MDL_REJECT_KIND,        /* unknown message type or channel */
    MDL_REJECT_REPLAY,      /* sequence number not above the link's last: a replay */
    MDL_REJECT_BACKWARDS,   /* step behind the link's last by more than the window */
    MDL_REJECT_AHEAD,       /* step ahead of the receiver by more than --max-lead */
    MDL_REJECT_HELLO,       /* malformed hello or goodbye (a goodbye of another incarnation is ignored, uncounted) */
    MDL_REJECT_JOIN_RATE,   /* a new peer over the join budget (flood of fresh ids) */
    MDL_REJECT_PEERS_FULL,  /* a new peer while the peer table is full */
    MDL_REJECT_REJOIN,      /* a rejoin within the peer's back-off (it churns) */
    MDL_REJECT_KEY,         /* CURVE: an announcement of a key not on the allow-list */
    MDL_REJECT_COUNT
} mdl_reject_t;

/* A short stable name ("replay", "step_ahead", ...); "other" out of range. */
const char *mdl_reject_name (int reason);

/* The reason for an MDL_EWIRE_* code of the wire or codec checks (MDL_REJECT_PAYLOAD for
   other codes). */
mdl_reject_t mdl_reject_from_wire (int rc);

/* What the bytes an agent publishes carry (mdl_sent_kind_name): one slot per wire type
   (MDL_KIND_STATE .. MDL_KIND_OUTPUTS, compress/wire.h: states of the gossip channels,
   resent ones included), then states on the merge channel (the final merge, --global-every,
   dynavg's synchronisations), snapshot transfers to newcomers, and announcements (hellos
   and goodbyes: what the mesh sent that none of the others counts). */
enum {
    MDL_SENT_GLOBAL = 11, /* == MDL_KIND_LAST + 1 (checked in reject.c) */
    MDL_SENT_SNAPSHOT,
    MDL_SENT_HELLO,
    MDL_SENT_KINDS
};

/* A short stable name ("state", "global_state", "snapshot", "hello", ...); "other" out of
   range. */
const char *mdl_sent_kind_name (int kind);

/* Counters of one agent (read at any time; updated by its threads). */
typedef struct {
    uint64_t steps;
    double epoch;
    double loss;               /* training loss (EMA over steps); NAN before the first step */
    uint64_t bytes_sent, bytes_received, msgs_sent, msgs_received;
    uint64_t sent_bytes[MDL_SENT_KINDS]; /* bytes_sent by what they carry (all frames) */
    uint64_t sent_msgs[MDL_SENT_KINDS];  /* msgs_sent likewise */
    uint64_t updates_applied;  /* neighbour states mixed in */
    uint64_t updates_stale;    /* ... mixed in with a staleness discount */
    uint64_t updates_dropped;  /* not used: too stale, dropped by injection, late, or rejected */
    uint64_t updates_rejected; /* messages refused by a check (subset of dropped): the sum
                                  of rejected[] */
    uint64_t rejected[MDL_REJECT_COUNT]; /* ... by reason */
    uint64_t robust_clipped;   /* --robust clip: neighbour states clipped */
    uint64_t robust_short;     /* --robust trimmed: rounds with too few inputs (not mixed) */
    double robust_tau;         /* --robust clip: the last clipping radius */
    uint64_t peers_alive, peers_seen;
    /* seconds since the worker's and the comm actor's last heartbeat (NAN: not running):
       a thread that is stuck shows here, and in `meshdl status` */
    double worker_beat_age, comm_beat_age;
    /* what the agent holds for its peers (hood.h): the peers of its neighbourhood, its
       links (neighbours and transient peers), SUB connections, mailboxes, and the bytes
       of the vectors in them and in replicas */
    uint64_t neighbours, links, connections, mailboxes, mailbox_bytes;
    /* message buffers made (the pool's), and how many of them a send had to make on the
       spot, the pool being empty (a malloc and page faults on the worker, mid-round) */
    uint64_t buffers, buffers_on_demand;
    uint64_t keyframes_sent, resyncs;
    uint64_t replicas_verified, replica_mismatches; /* --verify-replicas */
    uint64_t gossip_rounds;    /* rounds this agent took part in (consensus control adds) */
    uint64_t dense_rounds;     /* --adaptive-degree: rounds on the exponential graph */
    double disagreement;       /* local estimate: sum_j w_ij ||x_i - x_j||^2 at last mix */
    double wait_s;             /* time the worker spent waiting for neighbours (sync) */
    mdl_hist_t update_age;     /* staleness in steps of each neighbour state mixed in
                                  (bounds mdl_agent_age_le) */
    mdl_hist_t sync_wait;      /* seconds of each wait for a round's states or a pairwise
                                  partner (bounds mdl_agent_wait_le) */
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
    uint64_t pair_late;        /* adpsgd: accepts of timed-out requests, our half taken then */
    char disc_unresolved[256]; /* --peers dns: entries that never resolved so far, with
                                  the last reason ("" = none) */
    uint64_t model_round;      /* sampled algorithms (plexus): rounds in the aggregate this
                                  agent's model holds (+1; 0: the initial model) */
    uint64_t rounds_offline;   /* --offline: rounds this agent sat out */
    double residual_mse;       /* mp-linreg: mean squared training residual of the assembled
                                  model, from the shared residual (NAN before the first) */
    double train_start;        /* mdl_now when the first step began (its --min-peers met);
                                  NAN before */
    double train_end;          /* mdl_now when the last step ended (before the final
                                  evaluation and merge); NAN before */
    double wire_busy_s;        /* seconds during which ZeroMQ held at least one of this
                                  agent's payloads (states, snapshots): queued or being
                                  written (mdl_blobpool_wire_busy) */
    bool finished;
    int error;                 /* nonzero when the worker stopped on an error */
    /* where training started, and what keeps it going (issue 15) */
    mdl_start_t start_from;
    uint64_t start_peer;       /* MDL_START_PEER: whose snapshot */
    uint64_t start_step;       /* the step it started from (0 from init) */
    uint64_t steps_skipped;    /* sync mode: steps jumped to catch up with the cluster's round */
    uint64_t checkpoints;      /* checkpoints written (periodic and final) */
    uint64_t checkpoints_replaced; /* posted, then dropped for a newer one before the writer got to it */
    uint64_t checkpoint_step;  /* step of the newest one on disk */
    int checkpoint_error;      /* 0, or why the newest one could not be written */
    uint64_t snapshots_served; /* snapshot transfers this agent served to newcomers */
    uint64_t readmissions;     /* peers declared gone that came back */
    bool lingering;            /* training ended; staying for peers (--linger) */
    double linger_s;           /* seconds it stayed after training (--linger) */
} mdl_agent_stats_t;

/* The bucket bounds of the two histograms above (what /metrics exports as le="..."):
   ages 0, 1, 2, 4, ... 512 steps; waits 1 ms to 10 s. */
extern const double mdl_agent_age_le[];
extern const size_t mdl_agent_age_nle;
extern const double mdl_agent_wait_le[];
extern const size_t mdl_agent_wait_nle;

/* The largest block mdl_agent_provision has glibc serve from its heaps (M_MMAP_THRESHOLD;
   glibc's own largest): a larger state arrives in a mapping of its own (config.c's
   mdl_agent_cfg_wants_huge_pages). */
#define MDL_AGENT_HEAP_BLOCK_MAX ((size_t) 32 << 20)

/* Gives the free pages the heaps keep for received messages after mdl_agent_provision
   (agent.c) back to the system: before a phase whose own buffers would add to them (the
   final merge). Nothing without provisioning. */
void mdl_agent_heap_release (void);

/* What one agent costs the process, for mdl_agent_provision (meshdl/agent.h, with
   MDL_AGENT_MAX_PEERS): ZeroMQ sockets (PUB, SUB, CURVE monitors, the beacon's actor,
   with room to spare) and threads (worker, comm actor, beacon). */
#define MDL_AGENT_SOCKETS 16
#define MDL_AGENT_THREADS 3

/* Builds n agents, cfgs[i] for out[i], a few at a time in parallel: each mdl_agent_new
   waits for its comm actor to start, and with hundreds of agents in a process those
   waits, not the work, take the time. Returns 0, or the first error (*failed = its
   index): every agent built is destroyed then and out is all NULL. */
int mdl_agent_new_many (const mdl_agent_cfg_t *cfgs, size_t n, mdl_agent_t **out, size_t *failed);

/* Copies the counters (programs read them by name: mdl_agent_counter). */
void mdl_agent_stats (mdl_agent_t *self, mdl_agent_stats_t *stats);

/* The counters of st as mdl_agent_counters gives them (values[i] is the counter
   mdl_agent_counter_name (i) names, for i < cap): a record taken earlier (an
   evaluation's, a cluster's sum) in the public API's form. Returns how many it wrote
   (at most cap). */
size_t mdl_agent_stats_values (const mdl_agent_stats_t *st, double *values, size_t cap);

/* The worker's wait for mdl_agent_start when it was prepared (mdl_agent_prepare), or
   for mdl_agent_stop; returns at once otherwise. */
void mdl_agent_gate_wait (mdl_agent_t *self);

/* The learner (its model holds x). Only safe to read while the worker is not running,
   or through mdl_agent_snapshot. */
mdl_learner_t *mdl_agent_learner (mdl_agent_t *self);

/* Until the worker has finished (or was never started), at most timeout seconds:
   0 or MDL_ETIMEOUT. The worker's end wakes it at once. */
int mdl_agent_wait_finished (mdl_agent_t *self, double timeout);

/* Asks for a copy of x at the worker's next step boundary (a finished worker answers
   at once). mdl_agent_snapshot then waits up to timeout seconds for it: copies x into
   out (d floats; NULL: no copy, read it with mdl_agent_snap_held) and its step into
   *step. Returns 0 or MDL_ETIMEOUT. */
void mdl_agent_request_snapshot (mdl_agent_t *self, uint64_t generation);
int mdl_agent_snapshot (mdl_agent_t *self, uint64_t generation, float *out, uint64_t *step,
                        double timeout);
/* The agent's copy of x of its last snapshot (d floats): what mdl_agent_snapshot copies
   out. It stays as it is until the next snapshot request of the agent is answered
   (mdl_agent_request_snapshot, mdl_agent_params): the cluster reads its snapshots here
   instead of keeping a second copy of every model. */
const float *mdl_agent_snap_held (const mdl_agent_t *self);

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

/* hwm_bytes "auto" (the default): decided by the mode once the message size is known. */
#define MDL_AGENT_HWM_AUTO ((int64_t) -1)
/* The bytes a queue of the mesh may hold for messages of msg_bytes: hwm_bytes as set, or
   for auto 256 MB in sync mode and in async mode 4 messages, at least 8 MB. */
int64_t mdl_agent_hwm_bytes (const mdl_agent_cfg_t *cfg, size_t msg_bytes);

/* Parsers of the settings with a structure of their own, for the command line too: each
   fills its fields of cfg from text and returns 0, or MDL_EINVAL with a sentence naming
   the option and its forms in mdl_error_detail(). */
int mdl_agent_cfg_consensus_control (mdl_agent_cfg_t *cfg, const char *spec); /* T | lr:T [,all] */
int mdl_agent_cfg_consensus_scale (mdl_agent_cfg_t *cfg, const char *spec);   /* A | lr | lr:A */
int mdl_agent_cfg_degree_target (mdl_agent_cfg_t *cfg, const char *spec);     /* T | lr:T */
int mdl_agent_cfg_dense_window (mdl_agent_cfg_t *cfg, const char *spec);      /* START:LEN */
int mdl_agent_cfg_robust (mdl_agent_cfg_t *cfg, const char *spec);            /* clip[:TAU] | trimmed:B | median;
                                                                                 NULL: none */
/* --blocks P1,...,PK into out (at most cap): returns K, or MDL_EINVAL with the reason. */
int mdl_agent_cfg_parse_blocks (const char *spec, uint32_t *out, int cap);

/* Copies the strings cfg points to into one allocation (*arena, caller frees) and points
   cfg at the copies; cfg->extra becomes NULL. So an agent keeps nothing of the caller's
   configuration object. Returns 0 or MDL_ENOMEM (cfg unchanged). */
int mdl_agent_cfg_adopt_strings (mdl_agent_cfg_t *cfg, char **arena);

/* mdl_agent_resume, mdl_agent_resume_check, mdl_agent_set_checkpoint: meshdl/agent.h */

/* "init", "checkpoint" or "peer:<16 hex digits>" for stats->start_from, in buf (>= 24). */
const char *mdl_agent_start_name (const mdl_agent_stats_t *stats, char *buf, size_t len);

#endif
