/*  weights.c: Metropolis-Hastings and uniform weights, renormalised over the heard. */
#include "weights.h"

#include "err.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

int
mdl_weights_parse (const char *name, mdl_weights_t *kind)
{
    if (name && strcmp (name, "mh") == 0)
        *kind = MDL_WEIGHTS_MH;
    else if (name && strcmp (name, "uniform") == 0)
        *kind = MDL_WEIGHTS_UNIFORM;
    else
        return MDL_EWEIGHTS;
    return 0;
}

const char *
mdl_weights_name (mdl_weights_t kind)
{
    return kind == MDL_WEIGHTS_MH ? "mh" : "uniform";
}

int
mdl_weights_row (mdl_weights_t kind, const mdl_topo_t *topo, uint32_t n, uint32_t i,
                 uint64_t t, const uint8_t *heard, uint32_t *nbr, double *w,
                 size_t cap, size_t *count, double *w_self)
{
    assert (nbr && w && count && w_self);
    int rc = mdl_topo_row (topo, n, i, t, nbr, w, cap, count, w_self);
    if (rc != 0)
        return rc;
    if (kind == MDL_WEIGHTS_MH && !mdl_topo_fixed_weights (topo)) {
        size_t di = *count;
        double sum = 0.0;
        for (size_t k = 0; k < *count; k++) {
            size_t dj = 0;
            mdl_topo_degree (topo, n, nbr[k], t, &dj);
            w[k] = 1.0 / (double) (1 + (di > dj ? di : dj));
            sum += w[k];
        }
        *w_self = 1.0 - sum;
    }
    if (heard) {
        double z = *w_self;
        for (size_t k = 0; k < *count; k++)
            if (heard[k])
                z += w[k];
        /* z >= w_self > 0 for every topology we ship; guard anyway. */
        if (!(z > 0.0)) {
            for (size_t k = 0; k < *count; k++)
                w[k] = 0.0;
            *w_self = 1.0;
            return 0;
        }
        for (size_t k = 0; k < *count; k++)
            w[k] = heard[k] ? w[k] / z : 0.0;
        *w_self /= z;
    }
    return 0;
}

int
mdl_weights_matrix (mdl_weights_t kind, const mdl_topo_t *topo, uint32_t n, uint64_t t,
                    double *W)
{
    if (n == 0)
        return MDL_EINVAL;
    if ((size_t) n > SIZE_MAX / sizeof (double) / n)
        return MDL_ENOMEM;
    int rc = MDL_ENOMEM;
    uint32_t *nbr = malloc ((size_t) n * sizeof *nbr);
    double *w = malloc ((size_t) n * sizeof *w);
    if (!nbr || !w)
        goto done;
    memset (W, 0, (size_t) n * n * sizeof *W);
    for (uint32_t i = 0; i < n; i++) {
        size_t count;
        double self;
        rc = mdl_weights_row (kind, topo, n, i, t, NULL, nbr, w, n, &count, &self);
        if (rc != 0)
            goto done;
        double *row = W + (size_t) i * n;
        row[i] = self;
        for (size_t k = 0; k < count; k++)
            row[nbr[k]] = w[k];
    }
    rc = 0;
done:
    free (nbr);
    free (w);
    return rc;
}
