/*  worker_impl.h: the compute worker's state, shared by its files only:
      worker.c      the thread: the training loop, gossip rounds, --overlap, finish
      ctx.c         what algorithms call (algo.h): rounds, publish, mix, helpers
      globalavg.c   exact global averages (final merge, --global-every, dynavg), FIN
      pairavg.c     AD-PSGD's pairwise averages
    Everything here runs on the worker thread. */
#ifndef MDL_WORKER_IMPL_H
#define MDL_WORKER_IMPL_H

#include "agent_impl.h"
#include "codec.h"
#include "rng.h"

struct mdl_ctx_t {
    mdl_agent_t *a;
    zsock_t *push;
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
    float *scratch[4];
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
    mdl_rng_t prng;            /* pairwise algorithms: the partner of each exchange */
    uint64_t pair_seq;         /* ... the number of this agent's last request */
    bool fin_open;             /* MDL_TRANSIENT_FIN is open (closed when the worker ends) */
    /* the talk set (hood.h) the replica holders are pruned to, and what it was derived from */
    uint64_t *talk;
    size_t ntalk;
    uint64_t talk_version, talk_window;
    size_t talk_graphs;
};

/* ctx.c */
/* Refreshes the membership snapshot and this round's neighbours and weights. Returns 0
   or the topology's error. */
int mdl_worker_round (mdl_ctx_t *c);
/* Hands one encoded payload to the comm actor for the given recipients. Takes the blob
   reference. */
int mdl_worker_send (mdl_ctx_t *c, const mdl_outmsg_t *m, const uint64_t *to, size_t nto, mdl_blob_t *blob);
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
/* Asks the comm actor to open (open) or close a transient purpose (agent_impl.h) for
   ids[0..n) (NULL: every live peer); a close of MDL_TRANSIENT_MERGE gives back the
   merge channel's vectors of rounds below `below`. Returns 0 or MDL_ESOCKET. */
int mdl_worker_transient (mdl_ctx_t *c, mdl_transient_t purpose, bool open, const uint64_t *ids, size_t n, uint64_t below);
/* The live peers of the current view (refreshed), self excluded, into out. */
size_t mdl_worker_live_peers (mdl_ctx_t *c, uint64_t *out);
/* One exact average over every live peer in round R (see globalavg.c); weighted: aux is
   each agent's weight in the mean, not a value to compare. */
bool mdl_worker_global_average (mdl_ctx_t *c, uint64_t R, double aux, bool weighted, uint64_t *merged_with,
                                size_t *mismatched);
/* --global-every P: the exact average after every P-th step. */
void mdl_worker_periodic_average (mdl_ctx_t *c, uint64_t done, uint64_t total);

/* pairavg.c */
/* The worker stops averaging: queued requests are refused. */
void mdl_worker_pair_close (mdl_ctx_t *c);

#endif
