/*  hist.h: a histogram with fixed bucket bounds, for what an operator watches as a
    distribution (how old the neighbour states an agent mixes are, how long a sync round
    waits). No allocation: it lives inside a counters struct that is copied whole, and is
    exported in Prometheus's cumulative form (le="..." buckets, _sum, _count).

    Observations are not thread-safe: the owner serialises them (the agent does so under
    its counters' lock). */
#ifndef MDL_HIST_H
#define MDL_HIST_H

#include <stddef.h>
#include <stdint.h>

#define MDL_HIST_MAX 16 /* bucket bounds at most (plus the +Inf bucket) */

typedef struct {
    const double *le;                  /* upper bounds, ascending, static storage */
    size_t nle;                        /* how many (<= MDL_HIST_MAX) */
    uint64_t bucket[MDL_HIST_MAX + 1]; /* observations per bucket, not cumulative:
                                          bucket[i] holds le[i-1] < v <= le[i];
                                          bucket[nle] holds v > le[nle-1] (+Inf) */
    uint64_t count;
    double sum;
} mdl_hist_t;

/* Empties h and gives it the bounds le[0..nle) (ascending, nle <= MDL_HIST_MAX; more
   are a programming error). le must outlive h and its copies. */
void mdl_hist_init (mdl_hist_t *h, const double *le, size_t nle);

/* Counts one value. NaN is not counted (a sum with NaN would be NaN for ever). */
void mdl_hist_observe (mdl_hist_t *h, double v);

/* Observations <= le[i] (Prometheus's cumulative bucket i); i == nle gives count. */
uint64_t mdl_hist_cumulative (const mdl_hist_t *h, size_t i);

#endif
