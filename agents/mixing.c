/*  mixing.c: see mixing.h. */
#include "mixing.h"

#include <math.h>

void
mdl_mix_coefs (double w_self, const double *w, const uint64_t *s, size_t k, double lambda,
               uint64_t max_s, double *c, mdl_mix_result_t *r)
{
    r->used = r->stale = r->dropped = 0;
    double z = w_self;
    for (size_t j = 0; j < k; j++) {
        c[j] = 0.0;
        if (s[j] == MDL_MIX_MISSING)
            continue;
        if (s[j] > max_s) {
            r->dropped++;
            continue;
        }
        double f = s[j] ? pow (lambda, (double) s[j]) : 1.0;
        c[j] = w[j] * f;
        if (c[j] <= 0.0)
            continue;
        r->used++;
        r->stale += s[j] > 0 && f < 1.0;
        z += c[j];
    }
    /* z >= w_self > 0 for every row our weights produce; guard a degenerate row anyway. */
    if (!(z > 0.0)) {
        r->self = 1.0;
        for (size_t j = 0; j < k; j++)
            c[j] = 0.0;
        r->used = 0;
        return;
    }
    for (size_t j = 0; j < k; j++)
        c[j] /= z;
    r->self = w_self / z;
}
