/*  algo.h: the consensus-engine interface: how an algorithm plugs into the worker.

    Every step the worker calls, in order: local_step (default: minibatch gradient and
    optimizer step), publish (what this agent sends for round t), mix (the consensus
    step with what the mailboxes hold). on_control runs when a neighbour's control
    message arrives. An algorithm is one file with one table of operations and one line
    in the registry (algo.c); it reaches the agent only through the mdl_ctx_* helpers
    below, which implement the shared machinery: rounds of the topology, publishing
    states or replica deltas (with keyframes), sync/async gathering with staleness
    discounts and renormalised weights. */
#ifndef MDL_ALGO_H
#define MDL_ALGO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "checkpoint.h"
#include "learner.h"
#include "mailroom.h"

typedef struct mdl_ctx_t mdl_ctx_t;

/* The largest membership view an algorithm sees (peers and itself). */
#define MDL_ALGO_MAX_MEMBERS 1025

/* Exact global averages run in rounds far above any training round, on a mailbox channel
   of their own, so that gossip of the next steps never overwrites a state a slower peer
   still needs: the average after step s of --global-every is round MDL_MERGE_ROUND + 2 s,
   synchronisation k of an algorithm (dynavg) MDL_SYNC_BASE + 2 k, the final merge
   MDL_FINAL_MERGE_ROUND (the same for every agent whatever its step count); round R + 1
   is R's "done" marker (MERGED), in the other slot of the pair. */
#define MDL_MERGE_ROUND ((uint64_t) 1 << 62)
#define MDL_SYNC_BASE (MDL_MERGE_ROUND + ((uint64_t) 1 << 60))
#define MDL_FINAL_MERGE_ROUND (MDL_MERGE_ROUND + ((uint64_t) 1 << 61))
/* The step of a FIN that says its sender is done with the run, final merge included: out
   of every round and average from then on (a FIN of a training round, dynavg's, still
   joins exact averages). */
#define MDL_FIN_DONE (MDL_FINAL_MERGE_ROUND + 2)

/* Options beyond the common ones that an algorithm declares it takes (the .takes mask);
   mdl_algo_validate refuses the others. */
enum {
    MDL_ALGO_TAKES_CODEC = 1u << 0,        /* a --codec other than fp32, --error-feedback */
    MDL_ALGO_TAKES_GOSSIP_STEPS = 1u << 1, /* --gossip-steps > 1, --consensus-control */
    MDL_ALGO_TAKES_LOCAL_STEPS = 1u << 2,  /* --local-steps */
    MDL_ALGO_TAKES_GLOBAL_EVERY = 1u << 3, /* --global-every */
    MDL_ALGO_TAKES_OVERLAP = 1u << 4,      /* --overlap */
    MDL_ALGO_TAKES_GRAPH = 1u << 5,        /* a gossip graph to choose: --adaptive-degree,
                                              --dense-window */
    MDL_ALGO_TAKES_DISTILL = 1u << 6,      /* --public-rows, --distill-weight */
    MDL_ALGO_TAKES_LOCAL_EPOCHS = 1u << 7, /* --local-epochs */
    MDL_ALGO_TAKES_SAMPLE = 1u << 8,       /* --sample */
    MDL_ALGO_TAKES_BLOCKS = 1u << 9,       /* --blocks */
    MDL_ALGO_TAKES_OFFLINE = 1u << 10      /* --offline (sim): rounds sat out, by a trace */
};

/* What an algorithm exchanges instead of model vectors (MDL_KIND_OUTPUTS messages, sized
   by the agent from its configuration and model). */
typedef enum {
    MDL_ALGO_OUTPUTS_NONE = 0,
    MDL_ALGO_OUTPUTS_PROBS = 1,       /* output probabilities on a public batch: --batch rows
                                         of classes floats, each row a distribution */
    MDL_ALGO_OUTPUTS_PREDICTIONS = 2  /* predictions on every training row of the agent:
                                         rows x outputs floats */
} mdl_algo_outputs_t;

typedef struct {
    const char *name;
    const char *about;                /* what it does, one line (--help, refusals) */
    /* Rules, checked in one place (mdl_algo_validate) before anything starts. */
    unsigned takes;                   /* MDL_ALGO_TAKES_* */
    bool async_only;                  /* refuses --mode sync (and defaults to async) */
    double gamma;                     /* default --gamma (0: 1) */
    int channels;                     /* vectors exchanged per round (mailbox channels) */
    bool replicas;                    /* always publish replica deltas (CHOCO-style), not
                                         only for lossy codecs with --error-feedback */
    size_t state_size;                /* bytes of algorithm state, zeroed before init */
    /* Defaults for --optimizer, --lr, --momentum when the user gave none of that option
       (NULL / 0: the common defaults of trainopts). */
    const char *optimizer;
    double lr, momentum;
    /* Refuses a configuration the algorithm cannot run (optimizer, codec, mode, ...):
       0, or MDL_EALGO with a sentence for the user in err. NULL accepts everything.
       Called by the CLI before anything starts, and by mdl_agent_new. */
    int (*check) (const mdl_agent_cfg_t *cfg, char *err, size_t errlen);
    bool pairwise;                    /* averages with one peer at a time through
                                         mdl_ctx_pair_average (AD-PSGD) */
    bool global_averages;             /* calls mdl_ctx_global_average (needs the merge
                                         channel) */
    mdl_algo_outputs_t outputs;       /* exchanges model outputs (mdl_ctx_publish_outputs) */
    bool model_parallel;              /* agents own disjoint parts of x and see every
                                         training row: the model is the sum of the agents'
                                         vectors, not their mean */
    bool sampled;                     /* rounds of a sample of the agents (Plexus): the
                                         current model is the newest aggregate, held by the
                                         agent with the highest stats.model_round */
    /* Checks the configuration and sets up state. 0 or MDL_EALGO (+ message in ctx). */
    int (*init) (void *state, mdl_ctx_t *ctx);
    /* Local computation of step t; NULL = mdl_ctx_sgd_step. 0, or MDL_ENONFINITE. */
    int (*local_step) (void *state, mdl_ctx_t *ctx);
    /* Sends this agent's contribution to round t. */
    int (*publish) (void *state, mdl_ctx_t *ctx);
    /* The consensus step of round t. */
    int (*mix) (void *state, mdl_ctx_t *ctx);
    /* After the last step, before --final-merge; NULL = nothing. 0 or an error. */
    int (*finish) (void *state, mdl_ctx_t *ctx);
    /* Frees what init allocated (state itself is freed by the worker). */
    void (*destroy) (void *state);
    /* Checkpoints and snapshots for a newcomer (agents/snapshot.h), at a step boundary:
       save adds the algorithm's state (momentum buffers, trackers, references, counters)
       to img through mdl_algo_put_vec / mdl_algo_put_scalars; restore reads it back after
       init, through the matching getters, and returns 0 or MDL_ECKPT_MODEL (a section
       missing or of another size). NULL: no state beyond the model and its optimizer.
       Public copies of replicas are not state: a restarted agent's first publish is a
       keyframe, which rebuilds them (and zeroes what error feedback owed). */
    int (*save) (void *state, mdl_ctx_t *ctx, mdl_ckpt_image_t *img);
    int (*restore) (void *state, mdl_ctx_t *ctx, const mdl_ckpt_image_t *img);
} mdl_algo_ops_t;

/* The registered algorithm called name, or NULL. */
const mdl_algo_ops_t *mdl_algo_find (const char *name);

/* The registered algorithms, in registration order: *n of them. */
const mdl_algo_ops_t *const *mdl_algo_all (size_t *n);

/* Names of the registered algorithms joined by sep (", " or " | "), into buf (cap bytes;
   truncated to fit, always terminated). Returns buf. */
const char *mdl_algo_names (char *buf, size_t cap, const char *sep);

/* The mode an algorithm runs in when --mode is not given. */
mdl_mode_t mdl_algo_default_mode (const mdl_algo_ops_t *ops);

/* The algorithm's rules against cfg: its mode, the options it takes (.takes), then its
   own check. 0, or MDL_EALGO with a sentence for the user in err (naming the option and
   what the algorithm does instead). Called by the command line before anything starts and
   by mdl_agent_new. */
int mdl_algo_validate (const mdl_algo_ops_t *ops, const mdl_agent_cfg_t *cfg, char *err, size_t errlen);

/* ---- building blocks shared by algorithms ---- */

/* D-PSGD's round (dpsgd.c): publish x on channel 0; mix x with the neighbours'
   channel 0 (its own term exact). For algorithms whose gossip is D-PSGD's. */
int mdl_algo_publish_x (void *state, mdl_ctx_t *ctx);
int mdl_algo_mix_x (void *state, mdl_ctx_t *ctx);

/* For check hooks: the optimizer of cfg must be one of optimizers (a mask of
   1u << MDL_OPT_...); with exact, the mixing must be exact as well: --mode sync and a
   lossless codec. 0, or MDL_EALGO with the reason in err. */
int mdl_algo_require (const mdl_agent_cfg_t *cfg, unsigned optimizers, bool exact, char *err, size_t errlen);

/* For save/restore hooks (state.c): a vector of d floats, or n scalars (doubles, kept bit
   for bit), as section "algo.<name>" of a checkpoint image. put: 0 or the image's error;
   get: 0 or MDL_ECKPT_MODEL (missing, or another size), and then out is untouched. */
int mdl_algo_put_vec (mdl_ckpt_image_t *img, const char *name, const float *v, size_t d);
int mdl_algo_get_vec (const mdl_ckpt_image_t *img, const char *name, float *v, size_t d);
int mdl_algo_put_scalars (mdl_ckpt_image_t *img, const char *name, const double *x, size_t n);
int mdl_algo_get_scalars (const mdl_ckpt_image_t *img, const char *name, double *x, size_t n);
/* The usual shape of a state: nv vectors of d floats named names[i], and ns scalars as
   section "algo.scalars". restore checks every section before it writes any, so on
   MDL_ECKPT_MODEL the state is untouched. */
int mdl_algo_save_state (mdl_ckpt_image_t *img, size_t d, const char *const *names, float *const *vecs, size_t nv,
                         const double *scalars, size_t ns);
int mdl_algo_restore_state (const mdl_ckpt_image_t *img, size_t d, const char *const *names, float *const *vecs,
                            size_t nv, double *scalars, size_t ns);

/* ---- helpers for algorithms (worker thread only) ---- */

mdl_learner_t *mdl_ctx_learner (mdl_ctx_t *ctx);
const mdl_agent_cfg_t *mdl_ctx_cfg (mdl_ctx_t *ctx);
float *mdl_ctx_x (mdl_ctx_t *ctx);          /* the model parameters (d) */
size_t mdl_ctx_dim (mdl_ctx_t *ctx);
uint64_t mdl_ctx_step (mdl_ctx_t *ctx);     /* round t (gossip_steps rounds per SGD step) */
/* The consensus step of this round: --gamma times the --consensus-scale factor alpha_t
   (Wang & Johansson's adaptive consensus: constant, or lr_t / lr_0 times a factor). */
double mdl_ctx_gamma (mdl_ctx_t *ctx);
/* The agent's id, and the membership view: the sorted ids of the live peers and of the
   agent itself, refreshed (valid until the next mdl_ctx_* call). Returns n. */
uint64_t mdl_ctx_id (mdl_ctx_t *ctx);
size_t mdl_ctx_members (mdl_ctx_t *ctx, const uint64_t **ids);
/* A workspace vector (d floats) owned by the worker, k in [0, 4). */
float *mdl_ctx_scratch (mdl_ctx_t *ctx, int k);
/* Writes a one-line reason for a refused configuration (shown to the user). */
void mdl_ctx_error (mdl_ctx_t *ctx, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

/* A line in the agent's event log. */
void mdl_ctx_log (mdl_ctx_t *ctx, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

/* Default local step: gradient on the next minibatch, then the optimizer step. */
int mdl_ctx_sgd_step (mdl_ctx_t *ctx);

/* The default local step with a term of the algorithm's own: gradient of the minibatch
   loss, then extra (state, ctx, g) may add to the gradient g (d floats, the model's
   gradient vector; the model may be used for other passes meanwhile: g is restored
   from a copy when extra returns), then the learner's optimizer step on g. 0, or
   MDL_ENONFINITE (the minibatch loss, or extra's return). */
int mdl_ctx_sgd_step_with (mdl_ctx_t *ctx, int (*extra) (void *state, mdl_ctx_t *ctx, float *g), void *state);

/* The training set and the rows of this agent's shard (NULL: every row), and the
   steps of the whole run. */
const mdl_dataset_t *mdl_ctx_train (mdl_ctx_t *ctx, const uint32_t **rows, size_t *nrows);
uint64_t mdl_ctx_total_steps (mdl_ctx_t *ctx);

/* For algorithms that update x themselves: the gradient of the mean loss on the next
   minibatch at x, plus --weight-decay times x, in *g (d floats, the model's gradient
   vector: valid until the next call). Returns 0, or MDL_ENONFINITE (loss NaN/Inf). The
   step is not counted: call mdl_ctx_step_done once the local step is over. */
int mdl_ctx_grad (mdl_ctx_t *ctx, float **g);

/* The scheduled learning rate of the current local step. */
float mdl_ctx_lr (mdl_ctx_t *ctx);

/* Counts the local step taken without the learner's optimizer (see mdl_ctx_grad). */
void mdl_ctx_step_done (mdl_ctx_t *ctx);

/* Counts a local step in which this agent computed nothing (Plexus outside its round's
   sample): the round clock moves, and neither --step-ms nor --slow pace it, since both
   emulate computation. An idle agent paced like a working one would fall a little behind
   the rounds at every idle step (a straggler 4x slower by 75 ms per 25 ms round). */
void mdl_ctx_step_idle (mdl_ctx_t *ctx);

/* Counters an algorithm keeps: the round of the aggregate its model holds (sampled
   algorithms, stats.model_round), a round it sat out (--offline), and the training
   residual of a model-parallel fit (stats.residual_mse). */
void mdl_ctx_model_round (mdl_ctx_t *ctx, uint64_t round);
void mdl_ctx_count_offline (mdl_ctx_t *ctx);
void mdl_ctx_residual (mdl_ctx_t *ctx, double mse);

/* Sends v as channel's state to this round's out-neighbours, encoded with the codec of
   --codec. With replicas (lossy codec and --error-feedback), sends instead the codec of
   v minus this agent's public copy of the channel, adds exactly what was sent to that
   copy, and sends keyframes (the public copy in fp32) to new or resyncing peers and
   every --keyframe-every sends; receivers keep the same copy bit for bit. */
int mdl_ctx_publish (mdl_ctx_t *ctx, int channel, const float *v);

/* True when channel is published as replica deltas (see mdl_ctx_publish). */
bool mdl_ctx_replicas (mdl_ctx_t *ctx);

/* This agent's public copy of channel: what its neighbours hold of it (the state itself
   without replicas: pass the vector you published). */
const float *mdl_ctx_public (mdl_ctx_t *ctx, int channel);

/* The consensus step on x for channel of round t:
     x += gamma * sum_j w'_j (v_j - self_v)
   over this round's in-neighbours j, with v_j their newest (async) or round-t (sync,
   waiting up to --sync-timeout) vector, w'_j the mixing weight times lambda^staleness,
   renormalised over self and the usable neighbours; too-stale or missing neighbours
   drop out. Updates the applied/stale/dropped counters and the disagreement estimate.
   Returns the number of neighbours mixed in. */
int mdl_ctx_mix (mdl_ctx_t *ctx, int channel, double gamma, const float *self_v, float *x);

/* One exact average of x over every live peer, acknowledged and retried over lossy
   PUB/SUB, as round R (MDL_SYNC_BASE + 2k for an algorithm's k-th synchronisation).
   aux travels with this agent's state;
   peers whose aux differs are counted in *mismatched (may be NULL). Returns 0 with x
   replaced by the average and *peers = how many peers it covered, or MDL_ETIMEOUT (after
   --merge-timeout, or on stop) with x unchanged. */
int mdl_ctx_global_average (mdl_ctx_t *ctx, uint64_t round, double aux, size_t *peers, size_t *mismatched);

/* mdl_ctx_global_average with a weighted mean: x <- sum_i w_i x_i / sum_i w_i over self
   and every live peer, w_i > 0 each agent's weight (e.g. its shard size), which travels
   as its state's aux. Peers whose weight is not a finite positive number count for
   nothing (and in *bad, may be NULL). Same rounds and returns as mdl_ctx_global_average. */
int mdl_ctx_global_average_weighted (mdl_ctx_t *ctx, uint64_t round, double weight, size_t *peers, size_t *bad);

/* ---- outputs (algorithms with .outputs): MDL_KIND_OUTPUTS messages ---- */

/* Floats of one outputs message (rows x classes or rows x outputs; 0 without .outputs). */
size_t mdl_ctx_outputs_len (mdl_ctx_t *ctx);

/* Sends v (mdl_ctx_outputs_len floats, fp32, exact) as this round's outputs on channel,
   to the round's out-neighbours, or with all to every live peer. 0 or an error. */
int mdl_ctx_publish_outputs (mdl_ctx_t *ctx, int channel, const float *v, bool all);

/* Adds up the outputs of the round's in-neighbours (with all: of every live peer) on
   channel into sum (mdl_ctx_outputs_len floats, zeroed first). Sync mode: those of this
   round, waiting for them up to --sync-timeout (a peer that left or whose message was
   lost drops out); async: each one's newest, from the round most of them share (ties:
   the newest), no older than --max-staleness rounds. *round gets that round. Returns how
   many were added (0: sum is zero). Counts them as applied, the others as dropped. */
int mdl_ctx_gather_outputs (mdl_ctx_t *ctx, int channel, bool all, float *sum, uint64_t *round);

/* ---- protocols of an algorithm's own (Plexus): explicit sends and reads ---- */

/* Sends v (fp32, exact) as channel's state of round step to the given peers; with v
   NULL a marker without payload (SKIP on that channel: "round step holds nothing for
   you"). 0 or an error. */
int mdl_ctx_send (mdl_ctx_t *ctx, int channel, uint64_t step, const float *v, const uint64_t *to, size_t nto);

/* The vector of (peer, channel) of exactly round step, stable until mdl_ctx_read_end
   (NULL: none, or a marker; *meta tells which when not NULL). */
const float *mdl_ctx_read_begin (mdl_ctx_t *ctx, uint64_t peer, int channel, uint64_t step, mdl_slot_meta_t *meta);
void mdl_ctx_read_end (mdl_ctx_t *ctx, uint64_t peer, int channel);
/* Metadata of the newest vector or marker of (peer, channel); false if none. */
bool mdl_ctx_peek (mdl_ctx_t *ctx, uint64_t peer, int channel, mdl_slot_meta_t *meta);
/* Waits until ready (arg) holds (re-evaluated on every arrival and membership change),
   the agent stops, or timeout seconds pass. True when ready. */
bool mdl_ctx_wait (mdl_ctx_t *ctx, bool (*ready) (void *arg), void *arg, double timeout);
/* Whether agent id is offline in round step under --offline (the availability trace every
   agent knows, as a membership service would report it); always false without it. */
bool mdl_ctx_offline (mdl_ctx_t *ctx, uint64_t id, uint64_t step);

/* The highest global-average round a peer has started (0 = none): a peer that sees one
   above its own must join it. */
uint64_t mdl_ctx_sync_wanted (mdl_ctx_t *ctx);

/* Tells every live peer this agent finished training (FIN); true when every live peer
   has said the same. */
bool mdl_ctx_fin (mdl_ctx_t *ctx);

/* True once the agent was asked to stop. */
bool mdl_ctx_stopping (mdl_ctx_t *ctx);

/* Pairwise algorithms: answers the pending requests of peers (each an atomic average,
   below), then averages x with one neighbour of this round picked at random, atomically
   on both sides: both end with (x_i + x_j) / 2 of the same two vectors. While its own
   request is out the agent refuses other requests (its x is promised), except its
   partner's own crossing request when its id is the lower one, which then completes the
   pair. Waits at most --sync-timeout (or until the partner leaves). Returns 1 when x was
   averaged with the partner, 0 when refused or timed out. */
int mdl_ctx_pair_average (mdl_ctx_t *ctx);

#endif
