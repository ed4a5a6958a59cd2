/*  weights.h: mixing weights W(t) over a topology (topo.h).

    --weights mh       Metropolis-Hastings: w_ij = 1 / (1 + max(deg_i, deg_j)) for each
                       in-neighbour j, w_ii = 1 - sum_j w_ij. Symmetric and doubly
                       stochastic on any undirected graph.
    --weights uniform  w_ij = w_ii = 1 / (1 + deg_i): doubly stochastic on regular
                       graphs, which every topology of topo.h is.
    On the regular graphs we ship the two coincide; they differ on irregular ones.
    base:K carries its own weights (the exact-averaging construction) and ignores the
    choice. Degrees are in-degrees from the topology, not counts of peers heard from.

    Silent neighbours: when the caller says which neighbours it heard from this round,
    the row is renormalised over self + heard neighbours, keeping their proportions:
    w'_ii = w_ii / Z, w'_ij = w_ij / Z (heard) or 0 (silent), Z = w_ii + sum_heard w_ij.
    A row stays stochastic (sums to 1); the matrix is then no longer doubly stochastic,
    which is the price of not waiting for the slowest peer. */
#ifndef MDL_WEIGHTS_H
#define MDL_WEIGHTS_H

#include "topo.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    MDL_WEIGHTS_MH = 0,      /* Metropolis-Hastings */
    MDL_WEIGHTS_UNIFORM = 1, /* 1 / (1 + degree) */
} mdl_weights_t;

/* Parses "mh" or "uniform" into *kind. Returns 0, or MDL_EWEIGHTS (kind untouched). */
int mdl_weights_parse (const char *name, mdl_weights_t *kind);

/* "mh" or "uniform". */
const char *mdl_weights_name (mdl_weights_t kind);

/* Row i of W(t) for n agents: the in-neighbours of i in nbr[0..count) (ascending, as
   mdl_topo_neighbors gives them), their weights in w[0..count) and the self-weight in
   *w_self. heard, when not NULL, has one byte per neighbour in that same order (0 =
   silent this round) and the row is renormalised over self + heard (see above);
   NULL means all heard. Returns MDL_EINVAL for n == 0 or i >= n, MDL_ERANGE (with
   *count set to the size needed) when cap is too small; nbr/w are then garbage. */
int mdl_weights_row (mdl_weights_t kind, const mdl_topo_t *topo, uint32_t n, uint32_t i,
                     uint64_t t, const uint8_t *heard, uint32_t *nbr, double *w,
                     size_t cap, size_t *count, double *w_self);

/* The full W(t) (everyone heard), n x n row-major into W[i * n + j]; for tests and
   simulation (O(n^2) memory). Returns MDL_EINVAL for n == 0, MDL_ENOMEM when n * n
   overflows or a workspace cannot be allocated (W is then unspecified). */
int mdl_weights_matrix (mdl_weights_t kind, const mdl_topo_t *topo, uint32_t n, uint64_t t,
                        double *W);

#endif
