/*  meshdl/agent.h: one decentralized learning agent.

    An agent owns a comm actor (its sockets: a PUB it binds, a SUB connected to its peers,
    discovery) and publishes and mixes model states with its neighbours through the
    configured algorithm, codec, topology and mode (sync rounds or async with staleness
    discounts). There are two ways to drive one:

    1. meshdl's own models and data: the configuration names a model ("model") and the
       datasets (mdl_agent_cfg_set_data); mdl_agent_start runs the training on a worker
       thread of the agent (minibatch, gradient, optimizer step, gossip), as `meshdl agent`
       and `meshdl sim` do. Read progress with mdl_agent_counter, wait with mdl_agent_join.

    2. Bring your own model: the configuration sets "dim" (the length d of your parameter
       vector) and no data. Your program owns a flat float vector x of length d, takes its
       own gradient step, and calls mdl_agent_exchange (agent, x, d, step) after each one:
       the agent publishes x to its neighbours and mixes theirs into x, in place, with the
       same engine (the algorithm's publish and mix run on the calling thread). Any model
       in any language that can hand over a float buffer can gossip this way. Algorithms
       whose local step is the gossip itself (dpsgd, choco, adagossip, localsgd, dynavg,
       adpsgd) run this way; those that take the optimizer step themselves (dmsgd, qgm,
       decentlam, dsgt) need meshdl's models and are refused.

    Every agent of a cluster must use the same dimension, codec, cluster name and (sync
    mode) step sequence; docs/PROTOCOL.md describes what travels between them. */
#ifndef MESHDL_AGENT_H
#define MESHDL_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshdl/checkpoint.h"
#include "meshdl/config.h"
#include "meshdl/data.h"
#include "meshdl/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mdl_agent_t mdl_agent_t;

#define MDL_AGENT_MAX_PEERS                                                                                            \
    1024 /* live peers an agent tracks (its membership; all of them
                                    take part in a global average) */

/* Makes room in this process for `agents` agents, each talking to up to `peers` peers
   over TCP (0 for in-process agents): raises ZeroMQ's socket limit (only possible
   before the process's first socket: call it first), the soft limit of open files
   up to the hard one, and for 64 agents or more (Linux >= 6.16) the process's futex
   table to the threads' number: sized for the CPUs, it makes every wake-up of hundreds
   of agents' threads slow. It also keeps large blocks in glibc's heaps (mallopt:
   M_MMAP_THRESHOLD 32 MB; M_TRIM_THRESHOLD 4 MB, raised to 4 fp32 states of the largest
   model an agent is made with, at most 64 MB): ZeroMQ gives every received model a
   buffer of its own, and mapping each one afresh cost a quarter of the CPU of 4 ring
   agent processes. Returns 0, or MDL_ELIMIT with one sentence in why naming the
   limit and what to do (nothing is changed then). mdl_agent_new refuses an agent
   beyond what was provisioned (1024 sockets' worth by default) with MDL_ELIMIT, never
   an assertion. */
MDL_EXPORT int mdl_agent_provision (size_t agents, size_t peers, char *why, size_t whylen);

/* Builds the agent from cfg (which it copies): the learner (way 1), the mailboxes and
   the comm actor, which binds and starts discovery. Training starts with
   mdl_agent_start (way 1) or at the first mdl_agent_exchange (way 2). NULL + *err
   (MDL_EINVAL, MDL_EALGO, MDL_ETOPO, MDL_ECODEC, MDL_ESOCKET, MDL_ESECURITY, the
   learner's MDL_ESPEC / MDL_ESHAPE, MDL_ENOMEM), with the reason in mdl_error_detail().
   Caller owns the agent and destroys it. */
MDL_EXPORT mdl_agent_t *mdl_agent_new (const mdl_agent_cfg_t *cfg, int *err);

/* Stops both threads (if running), says goodbye to the peers, frees; *self = NULL. Safe
   on NULL. */
MDL_EXPORT void mdl_agent_destroy (mdl_agent_t **self);

/* Way 1: starts the training worker. Returns 0, MDL_ENOMEM, or MDL_ENOTSUP for an agent
   without a model of its own (it is driven by mdl_agent_exchange). */
MDL_EXPORT int mdl_agent_start (mdl_agent_t *self);
/* Way 1, optional: creates the worker's thread and its state now, and the worker waits:
   mdl_agent_start then only lets it go (and mdl_agent_stop ends it). The agent counts as
   started from here (no new shard, checkpoint or resume). Many agents of one process
   start together without each one's set-up in the way of the others' training. Returns
   what mdl_agent_start does. */
MDL_EXPORT int mdl_agent_prepare (mdl_agent_t *self);

/* Asks the worker (or a waiting mdl_agent_exchange) to stop soon; never blocks. */
MDL_EXPORT void mdl_agent_stop (mdl_agent_t *self);

/* Waits for the worker to end (training done or stopped). */
MDL_EXPORT void mdl_agent_join (mdl_agent_t *self);

MDL_EXPORT uint64_t mdl_agent_id (const mdl_agent_t *self);
/* Length d of the vector the agent exchanges (its model's parameters, or "dim"). */
MDL_EXPORT size_t mdl_agent_dim (const mdl_agent_t *self);
/* The PUB endpoint the agent bound (with the port chosen for tcp://HOST:0). */
MDL_EXPORT const char *mdl_agent_endpoint (const mdl_agent_t *self);

/* Waits until the agent sees at least k live peers (timeout seconds). Returns 0 or
   MDL_ETIMEOUT. */
MDL_EXPORT int mdl_agent_wait_peers (mdl_agent_t *self, int k, double timeout);

/* Copies the current membership (sorted ids of the live peers and of the agent itself)
   into ids (at most cap) and returns how many there are (which may exceed cap). */
MDL_EXPORT size_t mdl_agent_members (mdl_agent_t *self, uint64_t *ids, size_t cap);

/* Way 1, --shard auto: gives the agent another shard before mdl_agent_start: rebuilds
   its learner over rows[0..nrows) of the training set with minibatch order data_seed,
   from the same initial model. Returns 0, MDL_EINVAL once the worker has started (or
   for an agent without a model), or the learner's error; on error the agent keeps its
   previous shard. rows must outlive the agent. */
MDL_EXPORT int mdl_agent_set_shard (mdl_agent_t *self, const uint32_t *rows, size_t nrows, uint64_t data_seed);

/* Way 1, before mdl_agent_start: the agent writes its checkpoint (model, optimizer and
   algorithm state, step, data position; `meshdl agent --resume` reads it) to path at the
   end of training (also when stopped; not after an error) and, with every > 0, every
   `every` steps while training, atomically and off the worker thread. Returns 0,
   MDL_EINVAL (worker started, no path, or an agent without a model), MDL_ENOMEM, or the
   file's error, with the reason in mdl_error_detail(). The "checkpoints",
   "checkpoint_step" and "checkpoint_error" counters follow the writes. */
MDL_EXPORT int mdl_agent_set_checkpoint (mdl_agent_t *self, const char *path, uint64_t every);

/* Way 1, before mdl_agent_start: the agent resumes from *img (a checkpoint it or another
   agent of the same model and algorithm wrote, mdl_ckpt_image_load): parameters,
   optimizer state and data position now, the algorithm's state when the worker starts;
   it then trains from the image's step and rejoins (sync mode: at the cluster's round;
   the "start_from" counter says 1, mdl_agent_started_from "checkpoint"). Takes *img
   (NULL afterwards) on success. Returns 0, MDL_EINVAL (the worker has started), or
   MDL_ECKPT_MODEL with a sentence for the user in why (written for another model or
   algorithm); on error nothing changed and the caller keeps *img. Call it after
   mdl_agent_set_shard (a new shard rebuilds the learner). */
MDL_EXPORT int mdl_agent_resume (mdl_agent_t *self, mdl_ckpt_image_t **img, char *why, size_t len);

/* Whether img fits a run of cfg: its model spec, its algorithm, and the sizes of its
   parameters and optimizer state (checked on objects built from cfg, so that a spec
   written in another form compares as the model it makes). Returns 0, or
   MDL_ECKPT_MODEL with a sentence for the user in why. Cheap: to refuse a checkpoint
   before the data loads. */
MDL_EXPORT int mdl_agent_resume_check (const mdl_agent_cfg_t *cfg, const mdl_ckpt_image_t *img, char *why, size_t len);

/* Where the agent's model came from, into buf (>= 24 bytes): "init", "checkpoint"
   (mdl_agent_resume) or "peer:<16 hex digits>" (a live peer's snapshot, bootstrap
   peer). Returns buf. */
MDL_EXPORT const char *mdl_agent_started_from (mdl_agent_t *self, char *buf, size_t len);

/* Discovery by name (peers with dns: entries): the entries that never resolved so far,
   with the last reason, into buf (cap bytes, always terminated; "" when every name
   resolved). Returns true when there is such an entry. */
MDL_EXPORT bool mdl_agent_unresolved (mdl_agent_t *self, char *buf, size_t cap);

/* One of the agent's counters by name, into *value: "steps", "epoch", "loss",
   "bytes_sent", "bytes_received", "updates_applied", "updates_stale", "updates_dropped",
   "updates_rejected" and its reasons "rejected_replay", "rejected_step_ahead", ...,
   "peers_alive", "test_acc", "steps_skipped", "start_step", "readmissions", ..., and
   bytes_sent and msgs_sent by what the messages carry: "bytes_sent_state" (gossip states),
   "bytes_sent_global_state" (states of exact global averages and the final merge),
   "bytes_sent_snapshot", "bytes_sent_hello", "msgs_sent_resync", ...
   (mdl_agent_counter_name lists them). Safe at any time from any thread. Returns 0 or MDL_EINVAL (unknown name). */
MDL_EXPORT int mdl_agent_counter (mdl_agent_t *self, const char *name, double *value);

/* The i-th counter's name (i from 0), or NULL past the last. */
MDL_EXPORT const char *mdl_agent_counter_name (size_t i);

/* Every counter at once, from one snapshot (consistent with each other, unlike
   successive mdl_agent_counter calls): values[i] is the counter mdl_agent_counter_name (i)
   names, for i < cap. Returns the number of counters (which may exceed cap). */
MDL_EXPORT size_t mdl_agent_counters (mdl_agent_t *self, double *values, size_t cap);

/* The counters as they were at the agent's k-th evaluation while training (k from 1 to
   the "evals" counter; the final one has "eval_final" 1): steps ("eval_step"), epoch,
   "test_acc" and "test_loss" of the evaluated model, "eval_time" (wall clock), the
   traffic up to then; values as mdl_agent_counters (*n: how many there are, which may
   exceed cap). The last 16 are kept: read them as they come. Returns 0, or MDL_ENOENT for
   one not (or no longer) held. */
MDL_EXPORT int mdl_agent_eval_counters (mdl_agent_t *self, uint64_t k, double *values, size_t cap, size_t *n);

/* One of the agent's histograms by name: "update_age" (staleness in steps of each
   neighbour state mixed in) or "sync_wait" (seconds each sync round, or pairwise
   average, waited for its neighbours' states). Writes up to cap bucket upper bounds
   into le and the number of observations <= each into cumulative (either may be NULL
   with cap 0), the number of buckets into *n (which may exceed cap; 0 while the agent
   keeps none), and the observations' count and sum into *count and *sum (either may be
   NULL). Returns 0 or MDL_EINVAL (unknown name). */
MDL_EXPORT int mdl_agent_histogram (mdl_agent_t *self, const char *name, double *le, uint64_t *cumulative, size_t cap,
                                    size_t *n, uint64_t *count, double *sum);

/* Way 1: evaluates params (d floats; NULL: the agent's own model) on the first max_rows
   rows of ds (0: all): mean loss and accuracy into *loss and *acc. Only while the worker
   is not running (before mdl_agent_start or after mdl_agent_join). Returns 0, MDL_EINVAL
   (worker running, or an agent without a model), MDL_ESHAPE, MDL_ENOMEM. */
MDL_EXPORT int mdl_agent_evaluate (mdl_agent_t *self, const float *params, const mdl_dataset_t *ds, size_t max_rows,
                                   double *loss, double *acc);

/* Way 1: copies the model's parameters (d floats) into out, at the worker's next step
   boundary (at once when it is not running), waiting at most timeout seconds. Returns
   0, MDL_ETIMEOUT or MDL_EINVAL (an agent without a model). */
MDL_EXPORT int mdl_agent_params (mdl_agent_t *self, float *out, double timeout);

/* Way 2: one exchange after the caller's local step number step (0, 1, 2, ...): publishes
   x (d floats, the caller's parameters) to this round's neighbours and mixes theirs into
   x in place, gossip-steps rounds t = step * K + k. Sync mode waits (at most
   sync-timeout) for the neighbours' states of the same rounds, so every agent calls it
   with the same sequence of steps; async mode mixes the newest states heard, discounted
   by their staleness. The first call waits for min-peers peers (min-peers-timeout) and
   sets up the algorithm's state from x. Call it from one thread at a time.
   Returns the number of neighbour states mixed in this exchange (>= 0), or MDL_EINVAL
   (d is not the agent's dimension, x NULL, or the agent trains a model of its own),
   MDL_ETIMEOUT (min-peers not met; x unchanged), or the publish error (MDL_ESOCKET,
   MDL_ENOMEM), with the reason in mdl_error_detail(). */
MDL_EXPORT int mdl_agent_exchange (mdl_agent_t *self, float *x, size_t d, uint64_t step);

/* Way 2: the caller's training loss of its last step, sent with the next states and
   shown by the "loss" counter (a moving average). */
MDL_EXPORT void mdl_agent_set_loss (mdl_agent_t *self, double loss);

/* Way 2: after the last exchange: the algorithm's end (dynavg keeps joining its peers'
   synchronisations until every peer has finished), then, with final-merge, one exact
   average of x over every live peer (acknowledged, retried, at most merge-timeout).
   Later exchanges are refused. Returns 0, MDL_ETIMEOUT (the final merge did not complete:
   x holds what the gossip reached), or MDL_EINVAL as mdl_agent_exchange. */
MDL_EXPORT int mdl_agent_finish (mdl_agent_t *self, float *x, size_t d);

#ifdef __cplusplus
}
#endif

#endif
