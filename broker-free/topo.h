/*  topo.h: communication topologies over the current membership.

    A topology is a pure function of (name, seed, n, i, t): agents are indexed
    0..n-1 by sorting the membership view by agent id, so every agent holding the same
    view derives the same graph, with no message exchanged. t is the round (the
    gossip step); static graphs ignore it, time-varying ones use t mod period.

    Names (--topology), all valid for every n >= 1:
      complete      every agent hears every other; W = 11^T / n.
      ring          i hears i-1 and i+1 (mod n); n = 2 gives one neighbour.
      torus         2-D torus r x c with r the largest divisor of n not above sqrt(n)
                    (the most square rectangle), i = row*c + col, 4 neighbours.
                    r = 2 has 3 neighbours (up = down); a prime n gives r = 1, which
                    is the ring: we fall back rather than refuse, so a membership
                    change never makes the topology invalid.
      exp           static exponential graph (Ying et al., NeurIPS 2021): i hears
                    i - 2^k (mod n) for every 2^k < n. DIRECTED: W is doubly
                    stochastic but not symmetric (except small n).
      one-peer-exp  one-peer exponential graph: at round t, i hears only
                    i - 2^(t mod tau) (mod n), tau = ceil(log2 n), weights 1/2, 1/2.
                    Directed. Averages exactly after tau rounds iff n is a power of 2.
      base:K        Base-(K+1) graph (Takezawa et al., NeurIPS 2023), 1 <= K <= 1024:
                    time-varying, symmetric, at most K neighbours per round, and the
                    product of the W(t) over one period is exactly 11^T / n for EVERY
                    n, within 2 floor(log_{K+1} n) + 2 rounds. Its weights are part of
                    the construction: the --weights choice does not apply to it.
      random:D      random D-regular graph re-drawn every round from (seed, t), 1 <= D
                    <= 256: a random Cayley graph of Z_n (D/2 random offsets +-s, plus
                    n/2 when D is odd) under a random relabelling of the agents.
                    Exactly regular and symmetric. D is capped at n-1 (complete);
                    when n*D is odd no D-regular graph exists and D+1 is used.

    Matrix convention everywhere: x_i(t+1) = sum_j W(t)[i][j] x_j(t); "i hears j"
    means W[i][j] > 0 (j is an in-neighbour of i). A topology object is immutable
    after mdl_topo_new, so one object may be used by several threads at once. */
#ifndef MDL_TOPO_H
#define MDL_TOPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mdl_topo_t mdl_topo_t;

/* Parses spec (one of the names above) and returns a new topology; seed is only
   used by random:D and must be the same on every agent (the cluster seed).
   Returns NULL with *err = MDL_ETOPO when spec does not parse (mdl_topo_help() lists
   the valid names), or MDL_ENOMEM. Caller owns the result: mdl_topo_destroy it. */
mdl_topo_t *mdl_topo_new (const char *spec, uint64_t seed, int *err);

/* Destroys *self_p and sets it to NULL; safe on NULL and twice. */
void mdl_topo_destroy (mdl_topo_t **self_p);

/* A static one-line list of the valid --topology names, for error messages. */
const char *mdl_topo_help (void);

/* The canonical spec of self (e.g. "base:2"); owned by self. */
const char *mdl_topo_name (const mdl_topo_t *self);

/* True when W(t) may be non-symmetric (exp, one-peer-exp). */
bool mdl_topo_directed (const mdl_topo_t *self);

/* True when W(t) depends on t (one-peer-exp, base:K, random:D). */
bool mdl_topo_time_varying (const mdl_topo_t *self);

/* True when the topology fixes its own weights (base:K): mdl_weights_row then
   ignores the mh/uniform choice. */
bool mdl_topo_fixed_weights (const mdl_topo_t *self);

/* Period of W(t) for n agents: 1 for static graphs, tau = ceil(log2 n) for
   one-peer-exp, the schedule length for base:K, 0 for random:D (aperiodic).
   W(t) = W(t mod period). For one-peer-exp (n a power of 2) and base:K, the product
   W(p-1)...W(1)W(0) over rounds 0..p-1 of each period averages exactly (a cyclic
   shift of the window need not, for base:K). Returns MDL_EINVAL when n == 0. */
int mdl_topo_period (const mdl_topo_t *self, uint32_t n);

/* Writes the in-neighbours of agent i (0 <= i < n) at round t into out[0..count),
   ascending, distinct, never i itself. *count is always set to the true number;
   returns MDL_ERANGE (out holds nothing useful) when it exceeds cap, MDL_EINVAL
   when n == 0 or i >= n. The degree never exceeds n-1, so cap = n always suffices. */
int mdl_topo_neighbors (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t,
                        uint32_t *out, size_t cap, size_t *count);

/* As mdl_topo_neighbors, for the out-neighbours (the agents that hear i at round t):
   the recipients of i's targeted sends. Equal to the in-neighbours unless directed. */
int mdl_topo_out_neighbors (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t,
                            uint32_t *out, size_t cap, size_t *count);

/* As mdl_topo_neighbors, also giving the topology's own weights: w[k] for out[k]
   and *w_self, summing to 1. These are uniform 1/(1+degree) except for base:K,
   whose construction sets them. w may be NULL. Mixing code should normally call
   mdl_weights_row (weights.h), which applies --weights and silent neighbours. */
int mdl_topo_row (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t,
                  uint32_t *out, double *w, size_t cap, size_t *count, double *w_self);

/* Number of in-neighbours of i at round t (the in-degree, self excluded).
   Returns MDL_EINVAL when n == 0 or i >= n. */
int mdl_topo_degree (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t,
                     size_t *degree);

#endif
