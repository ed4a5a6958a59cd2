/*  mixing.h: the delay-tolerant mixing rule, as a pure function (tested on hand-built
    rows). Given one row of the mixing matrix and how stale each neighbour's state is,
    it gives each neighbour's coefficient in
        x <- x + gamma * sum_j c_j (v_j - v_self)
    A neighbour state s steps old is weighted w_j * lambda^s; one older than max_s, or
    missing, drops out; the row is renormalised over the agent itself and the
    neighbours left: c_j = w_j lambda^s_j / (w_self + sum_k w_k lambda^s_k). */
#ifndef MDL_MIXING_H
#define MDL_MIXING_H

#include <stddef.h>
#include <stdint.h>

#define MDL_MIX_MISSING UINT64_MAX /* staleness of a neighbour with no usable state */

typedef struct {
    size_t used;    /* neighbours with c_j > 0 */
    size_t stale;   /* ... of which discounted (s > 0 and lambda < 1) */
    size_t dropped; /* present but older than max_s */
    double self;    /* w_self / Z: the agent's own share of the mixed vector */
} mdl_mix_result_t;

/* Writes c[0..k) for neighbours with base weights w[0..k) and staleness s[0..k)
   (MDL_MIX_MISSING for none). */
void mdl_mix_coefs (double w_self, const double *w, const uint64_t *s, size_t k, double lambda,
                    uint64_t max_s, double *c, mdl_mix_result_t *r);

#endif
