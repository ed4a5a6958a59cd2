/*  hist.c: see hist.h. */
#include "hist.h"

#include <assert.h>
#include <math.h>
#include <string.h>

void
mdl_hist_init (mdl_hist_t *h, const double *le, size_t nle)
{
    assert (nle <= MDL_HIST_MAX);
    memset (h, 0, sizeof *h);
    h->le = le;
    h->nle = nle;
}

void
mdl_hist_observe (mdl_hist_t *h, double v)
{
    if (isnan (v))
        return;
    /* linear search: at most 16 bounds, and most values fall in the first few */
    size_t i = 0;
    while (i < h->nle && v > h->le[i])
        i++;
    h->bucket[i]++;
    h->count++;
    h->sum += v;
}

uint64_t
mdl_hist_cumulative (const mdl_hist_t *h, size_t i)
{
    if (i >= h->nle)
        return h->count;
    uint64_t c = 0;
    for (size_t k = 0; k <= i; k++)
        c += h->bucket[k];
    return c;
}
