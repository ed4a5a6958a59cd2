/*  worker_impl.h: the compute worker's state, shared by its files only:
      worker.c      the thread: the training loop, gossip rounds, --overlap, finish
      ctx.c         what algorithms call (algo.h): rounds, publish, mix, helpers
      globalavg.c   exact global averages (final merge, --global-every, dynavg), FIN
      pairavg.c     AD-PSGD's pairwise averages
      workerckpt.c  the worker's state as a checkpoint image (checkpoints, snapshots)
      linger.c      after training: staying a member for peers still training (--linger)
    Everything here runs on the worker thread. */
#ifndef MDL_WORKER_IMPL_H
#define MDL_WORKER_IMPL_H

#include "agent_impl.h"
#include "byzantine.h"
#include "codec.h"
#include "rng.h"
#include "robust.h"

/* s_mix's per-neighbour arrays (ctx.c), in one block grown to the largest round seen:
   on the worker's stack, arrays for MDL_AGENT_MAX_PEERS neighbours took 87 KB, and every
   page of them a round touched stayed resident for the thread's life. */
typedef struct {
    size_t cap;
    void *block;
    const float **v, **vs, **rv;
    uint64_t *stale_by;
    double *coef, *shared, *ws, *dist, *rw;
    size_t *at;
    float *cs;
    bool *bad;
} mdl_mixws_t;

struct mdl_ctx_t {
    mdl_agent_t *a;
    mdl_codec_t *codec;        /* --codec */
    mdl_codec_t *kcodec;       /* keyframes: fp32 */
    mdl_codec_t *ocodec;       /* outputs: fp32 of a->out_n (NULL: none) */
    float *gsave;              /* mdl_ctx_sgd_step_with: the minibatch gradient (d) */
    mdl_rng_t rng;             /* codecs' randomness */
    float *x;
    size_t d;
    uint64_t step;
    /* membership snapshot */
    uint64_t ids[MDL_AGENT_MAX_PEERS + 1];
    size_t n;
    uint32_t me;
    uint64_t view_version;
    /* round cache */
    uint64_t round_t;
    bool round_valid;
    uint32_t nbr[MDL_AGENT_MAX_PEERS];
    double w[MDL_AGENT_MAX_PEERS];
    size_t nnbr;
    double w_self;
    uint32_t out[MDL_AGENT_MAX_PEERS];
    size_t nout;
    /* replicas: own public copies, and the recipients that hold them */
    float *pub[MDL_AGENT_CHANNELS];
    uint64_t sends[MDL_AGENT_CHANNELS];
    uint64_t known[MDL_AGENT_MAX_PEERS];
    size_t nknown;
    float *scratch[4];         /* the algorithms' workspaces (mdl_ctx_scratch); the worker
                                  never writes them */
    float *delta;              /* replicas: v - pub of mdl_ctx_publish (NULL without replicas) */
    float *merge_x;            /* exact averages: this agent's state of the round (NULL
                                  without a merge channel) */
    char err[256];
    const mdl_algo_ops_t *algo;
    void *state;
    /* --adaptive-degree: the graph of the current period and the vote being spread */
    bool ad_dense;
    uint64_t ad_period;        /* index of the period the vote belongs to */
    double ad_vote;            /* 1: someone's disagreement was above the target */
    /* --consensus-control: the disagreement estimate shared with the neighbours (aux of
       the states): the mean of this agent's own and its neighbours' shared values */
    double cc_shared;
    double loss_ema;
    float last_loss;
    int32_t *label_map;        /* --drift-at: the rotated labels */
    uint64_t nmix;             /* mdl_ctx_mix calls (paces the disagreement estimate) */
    double wait_hi;            /* sync: the longest recent wait that ended with the states in (decays) */
    mdl_rng_t prng;            /* pairwise algorithms: the partner of each exchange */
    uint64_t pair_seq;         /* ... the number of this agent's last request */
    /* ... the last request given up on (timed out, or its partner looked gone), whose
       accept may still come: x as it went out (the partner averages with that), to whom,
       its number; and the halves (v - sent) / 2 of late accepts, applied to x once no
       request of ours is out (x is promised while one is). d floats each, made at the
       first request given up on (pairavg.c). */
    float *pair_sent, *pair_late;
    uint64_t pair_sent_peer, pair_sent_seq;
    bool pair_late_due;
    uint64_t ckpt_last;        /* step of the last periodic checkpoint posted */
    mdl_robust_hist_t rhist[MDL_AGENT_CHANNELS]; /* --robust clip: distances seen per channel */
    mdl_byz_t *byz;            /* --byzantine: what this agent forges (NULL: honest) */
    bool fin_open;             /* MDL_TRANSIENT_FIN is open (closed when the worker ends) */
    bool idle;                 /* the step just taken computed nothing (mdl_ctx_step_idle): not paced */
    /* the talk set (hood.h) the replica holders are pruned to, and what it was derived from */
    uint64_t *talk;
    size_t ntalk;
    uint64_t talk_version, talk_window;
    size_t talk_graphs;
    mdl_blob_t *fused;         /* fused.c: round 0's state, written by the optimizer */
    mdl_blob_t *xblob;         /* fused.c: the pooled buffer x lives in (NULL: the model's own array) */
    mdl_blob_t *gblob;         /* fused.c: the pooled buffer that held the step's gradient and takes the next x */
    mdl_mixws_t mix;
};

/* worker.c: the pieces of the worker's loop that mdl_agent_exchange (exchange.c) runs
   on the caller's thread too. */
/* A worker context over the vector x (the learner's parameters, or the caller's).
   NULL + *err (the algorithm's init refusal is logged and in mdl_error_detail()). */
mdl_ctx_t *mdl_worker_ctx_new (mdl_agent_t *a, float *x, int *err);
void mdl_worker_ctx_free (mdl_ctx_t *c);
/* --min-peers before the first step: 0 or MDL_ETIMEOUT. */
int mdl_worker_wait_min_peers (mdl_ctx_t *c);
/* Answers a pending parameter snapshot request (mdl_agent_snapshot: the sim's and the
   cluster's views of every model) with x, taken after steps steps. Not to be confused with
   mdl_worker_snapshot_point, the checkpoint image a newcomer bootstraps from. */
void mdl_worker_params_point (mdl_ctx_t *c, uint64_t steps);
/* The K gossip rounds of step s (publish, mix), then the --global-every average
   (total: the run's steps, UINT64_MAX when unknown). 0 or the publish error. */
int mdl_worker_gossip (mdl_ctx_t *c, uint64_t s, uint64_t K, uint64_t total);
/* After the last step (rc: how the loop ended): the algorithm's finish, the final
   merge, no more pairwise averages (the caller then answers the last snapshot, after
   a final evaluation). Returns rc or finish's error. */
int mdl_worker_wind_up (mdl_ctx_t *c, int rc, uint64_t steps);
/* Marks the agent finished (error: nonzero when it stopped on one). */
void mdl_worker_finish (mdl_agent_t *a, int error);

/* Brings the agent's counters up to date before it reports finished: asks the comm
   actor through the hand-over queue, behind every message c handed over, to copy the mesh's
   counts now (it does so on its tick otherwise, so counters read right after the end
   would lag the last rounds), and waits for it, 2 s at most (an actor that ended
   copied them at its end). Cannot fail: on a timeout the counters stay a tick behind. */
void mdl_worker_flush_counters (mdl_ctx_t *c);
/* fused.c */
/* The step's local computation (the algorithm's local step, or the learner's SGD step),
   with D-PSGD's optimizer step taken in x where x is a pooled message buffer (c->fused),
   where that is exact and round 0 has neighbours. 0 or the learner's error. */
int mdl_worker_local_step (mdl_ctx_t *c);
/* Round 0 of a fused step: publishes c->fused (x) and mixes from it into a fresh buffer,
   which becomes x. 0 or the publish error (x then holds the step's result, as unfused). */
int mdl_worker_fused_round (mdl_ctx_t *c);
/* x back in the model's own array (the worker ends: others may read the model then). */
void mdl_worker_fused_end (mdl_ctx_t *c);

/* ctx.c */
/* Refreshes the membership snapshot and this round's neighbours and weights. Returns 0
   or the topology's error. */
int mdl_worker_round (mdl_ctx_t *c);
/* The talk set (hood.h: the peers linked with this one both ways, whatever the round's
   graph) of round's window, ids into out (c->n entries); how many (0 when it cannot be
   computed). c's membership is the last mdl_worker_round's. */
size_t mdl_worker_talk_ids (mdl_ctx_t *c, uint64_t round, uint64_t *out);
/* Hands one encoded payload to the comm actor for the given recipients. Takes the blob
   reference. */
int mdl_worker_send (mdl_ctx_t *c, const mdl_outmsg_t *m, const uint64_t *to, size_t nto, mdl_blob_t *blob);
/* Publishes an fp32 state already in a pooled blob (what mdl_ctx_publish sends without
   replicas) to this round's out-neighbours as round step of channel. Takes the blob
   reference. advance: the message also tells the comm actor that the worker moved to
   this round (the 'A' command, worker.c), when there is a recipient. */
int mdl_worker_publish_blob (mdl_ctx_t *c, int channel, uint64_t step, mdl_blob_t *b, bool advance);
/* mdl_ctx_mix into x from self_v, which lives elsewhere: x <- self_v + gamma sum_j c_j
   (v_j - self_v), x's old contents not read (x = self_v when nothing is mixed). */
int mdl_worker_mix_from (mdl_ctx_t *c, int channel, double gamma, const float *self_v, float *x);
/* Encodes v with codec into a pooled blob (*out, caller's reference). */
int mdl_worker_encode (mdl_ctx_t *c, mdl_codec_t *codec, const float *v, mdl_blob_t **out);
/* Whether id is in the current membership snapshot. */
bool mdl_worker_alive (const mdl_ctx_t *c, uint64_t id);
/* --adaptive-degree: rounds per voting period. */
uint64_t mdl_worker_ad_len (const mdl_ctx_t *c);
/* --offline: whether agent id sits round step out (the shared availability trace). */
bool mdl_worker_offline (const mdl_ctx_t *c, uint64_t id, uint64_t step);

/* globalavg.c */
/* Sends v (fp32, exact) with aux or, with v NULL, a control message of kind for round
   step to the given peers. */
int mdl_worker_send_aux (mdl_ctx_t *c, uint32_t kind, uint64_t step, const float *v, double aux,
                         const uint64_t *to, size_t nto);
int mdl_worker_send_to (mdl_ctx_t *c, uint32_t kind, uint64_t step, const float *v, const uint64_t *to, size_t nto);
/* Sync mode: how long a round's wait lasts before the missing states are asked for again
   (RESEND): twice wait_hi, the longest recent wait that ended with the states in, and at
   least 0.5 s; at most a eighth of --sync-timeout. */
double mdl_worker_resend_slice (double sync_timeout, double wait_hi);
/* Asks the comm actor to open (open) or close a transient purpose (agent_impl.h) for
   ids[0..n) (NULL: every live peer); a close of MDL_TRANSIENT_MERGE gives back the
   merge channel's vectors of rounds below `below`. Returns 0 or MDL_ESOCKET. */
int mdl_worker_transient (mdl_ctx_t *c, mdl_transient_t purpose, bool open, const uint64_t *ids, size_t n, uint64_t below);
/* The live peers of the current view (refreshed), self excluded, into out. */
size_t mdl_worker_live_peers (mdl_ctx_t *c, uint64_t *out);
/* FIN (step: the round, or MDL_FIN_DONE) to every live peer, those done included;
   whether every live peer of the view has said FIN. */
bool mdl_worker_fin (mdl_ctx_t *c, uint64_t step);
/* One exact average over every live peer in round R (see globalavg.c); weighted: aux is
   each agent's weight in the mean, not a value to compare. */
bool mdl_worker_global_average (mdl_ctx_t *c, uint64_t R, double aux, bool weighted, uint64_t *merged_with,
                                size_t *mismatched);
/* --global-every P: the exact average after every P-th step. */
void mdl_worker_periodic_average (mdl_ctx_t *c, uint64_t done, uint64_t total);

/* workerckpt.c */
/* An image of the worker's state at a step boundary (learner, then the algorithm's
   sections), sealed; NULL + *err. Caller owns it. */
mdl_ckpt_image_t *mdl_worker_image (mdl_ctx_t *c, int *err);
/* Restores the algorithm's state from a->resume (--resume, a peer's snapshot) after init,
   and frees the image. 0, or the hook's error (logged). */
int mdl_worker_restore_algo (mdl_ctx_t *c);
/* At the step boundary after `done` steps: a periodic checkpoint when due (posted to the
   writer, never waited for), and the writer's counters into the stats. */
void mdl_worker_checkpoint_point (mdl_ctx_t *c, uint64_t done);
/* After the last step (or a stop): the final checkpoint, written before this returns. */
void mdl_worker_checkpoint_final (mdl_ctx_t *c);

/* linger.c: after training (--linger), FIN to every live peer and stay a member while
   peers still train or one that vanished may come back; snapshots are served meanwhile. */
void mdl_worker_linger (mdl_ctx_t *c, uint64_t steps);

/* At a step boundary: an image for newcomers, when the comm asked for one. */
void mdl_worker_snapshot_point (mdl_ctx_t *c);
/* A fresh agent (--bootstrap peer): fetches the snapshot of the live peer with the highest
   step through the comm and starts from it (learner and algorithm state, start_from
   peer); without one it keeps its initial model. Waits at most --bootstrap-timeout. */
void mdl_worker_bootstrap (mdl_ctx_t *c);
/* ctx_robust.c: --robust and --byzantine on the worker's side */
/* The consensus step x += sum_j w[j] (v[j] - self_v) (w: gamma times the renormalised
   weights) under --robust: clipped, or a coordinate-wise rule (unweighted). Counts what
   it clipped or could not mix. */
void mdl_worker_robust_mix (mdl_ctx_t *c, int channel, double gamma, const float *self_v, float *x,
                            const float *const *v, const double *w, size_t n);
/* A global average's x from the states v[0..n) (self included, ascending ids) under
   --robust, the same floats on every agent: the coordinate-wise rule (trimmed:B with too
   few states: the median), or for clip, centred clipping around the coordinate-wise
   median with the median distance to it as radius. */
void mdl_worker_robust_average (mdl_ctx_t *c, float *x, const float *const *v, size_t n);
/* A pairwise average x <- x + (v - x) / 2, clipped under --robust clip. */
void mdl_worker_robust_pair (mdl_ctx_t *c, const float *v);
/* --byzantine: what to send instead of v on stream ch; *step (may be NULL) may move.
   Returns v itself for an honest agent, NULL when out of memory. */
const float *mdl_worker_forge (mdl_ctx_t *c, int ch, const float *v, uint64_t *step);

/* pairavg.c */
/* The worker stops averaging: queued requests are refused. */
void mdl_worker_pair_close (mdl_ctx_t *c);

#endif
