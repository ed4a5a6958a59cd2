/*  topo.c: parsing, the registry of topologies, and the generic row layer. */
#include "topo.h"
#include "topo_ops.h"

#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const mdl_topo_ops_t *const s_registry[] = {
    &mdl_topo_complete_ops,
    &mdl_topo_ring_ops,
    &mdl_topo_torus_ops,
    &mdl_topo_exp_ops,
    &mdl_topo_one_peer_exp_ops,
    &mdl_topo_base_ops,
    &mdl_topo_random_ops,
};

const char *
mdl_topo_help (void)
{
    return "complete, ring, torus, exp, one-peer-exp, base:K (Base-(K+1) graph, "
           "1 <= K <= 1024), random:D (random D-regular, 1 <= D <= 256)";
}

/* Parses a decimal in [lo, hi] made of digits only (no sign, space or junk).
   Returns 0 or MDL_ETOPO. */
static int
s_parse_arg (const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return MDL_ETOPO;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return MDL_ETOPO;
        v = v * 10 + (uint64_t) (*s - '0');
        if (v > hi)
            return MDL_ETOPO;
    }
    if (v < lo)
        return MDL_ETOPO;
    *out = (uint32_t) v;
    return 0;
}

mdl_topo_t *
mdl_topo_new (const char *spec, uint64_t seed, int *err)
{
    int rc = MDL_ETOPO;
    mdl_topo_t *self = NULL;
    if (!spec)
        goto err;
    const char *colon = strchr (spec, ':');
    size_t namelen = colon ? (size_t) (colon - spec) : strlen (spec);
    const mdl_topo_ops_t *ops = NULL;
    for (size_t k = 0; k < sizeof s_registry / sizeof s_registry[0]; k++)
        if (strlen (s_registry[k]->name) == namelen
            && memcmp (s_registry[k]->name, spec, namelen) == 0)
            ops = s_registry[k];
    if (!ops || ops->has_arg != (colon != NULL))
        goto err;
    uint32_t arg = 0;
    if (colon && s_parse_arg (colon + 1, ops->arg_min, ops->arg_max, &arg) != 0)
        goto err;
    rc = MDL_ENOMEM;
    self = calloc (1, sizeof *self);
    if (!self)
        goto err;
    self->ops = ops;
    self->arg = arg;
    self->seed = seed;
    if (ops->has_arg)
        snprintf (self->name, sizeof self->name, "%s:%u", ops->name, (unsigned) arg);
    else
        snprintf (self->name, sizeof self->name, "%s", ops->name);
    if (err)
        *err = 0;
    return self;
err:
    free (self);
    if (err)
        *err = rc;
    return NULL;
}

void
mdl_topo_destroy (mdl_topo_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

const char *
mdl_topo_name (const mdl_topo_t *self)
{
    return self->name;
}

bool
mdl_topo_directed (const mdl_topo_t *self)
{
    return self->ops->directed;
}

bool
mdl_topo_time_varying (const mdl_topo_t *self)
{
    return self->ops->time_varying;
}

bool
mdl_topo_fixed_weights (const mdl_topo_t *self)
{
    return self->ops->fixed_weights;
}

int
mdl_topo_period (const mdl_topo_t *self, uint32_t n)
{
    if (n == 0)
        return MDL_EINVAL;
    return (int) self->ops->period (self, n);
}

/* Sorts row entries by index (insertion sort: rows are short or already sorted). */
static void
s_sort_row (uint32_t *nbr, double *w, size_t count)
{
    for (size_t a = 1; a < count; a++) {
        uint32_t j = nbr[a];
        double wj = w ? w[a] : 0.0;
        size_t b = a;
        for (; b > 0 && nbr[b - 1] > j; b--) {
            nbr[b] = nbr[b - 1];
            if (w)
                w[b] = w[b - 1];
        }
        nbr[b] = j;
        if (w)
            w[b] = wj;
    }
}

static int
s_row (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t, bool out,
       uint32_t *nbr, double *w, size_t cap, size_t *count, double *w_self)
{
    if (n == 0 || i >= n)
        return MDL_EINVAL;
    mdl_topo_row_t row = { .nbr = nbr, .w = w, .cap = cap, .count = 0, .self = 1.0 };
    self->ops->row (self, n, i, t, out, &row);
    *count = row.count;
    if (row.count > cap)
        return MDL_ERANGE;
    if (!self->ops->fixed_weights) {
        row.self = 1.0 / (double) (row.count + 1);
        if (w)
            for (size_t k = 0; k < row.count; k++)
                w[k] = row.self;
    }
    s_sort_row (nbr, w, row.count);
    if (w_self)
        *w_self = row.self;
    return 0;
}

int
mdl_topo_neighbors (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t,
                    uint32_t *out, size_t cap, size_t *count)
{
    return s_row (self, n, i, t, false, out, NULL, cap, count, NULL);
}

int
mdl_topo_out_neighbors (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t,
                        uint32_t *out, size_t cap, size_t *count)
{
    return s_row (self, n, i, t, self->ops->directed, out, NULL, cap, count, NULL);
}

int
mdl_topo_row (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t,
              uint32_t *out, double *w, size_t cap, size_t *count, double *w_self)
{
    return s_row (self, n, i, t, false, out, w, cap, count, w_self);
}

int
mdl_topo_degree (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t,
                 size_t *degree)
{
    if (n == 0 || i >= n)
        return MDL_EINVAL;
    if (self->ops->degree) {
        *degree = self->ops->degree (self, n, i, t);
        return 0;
    }
    mdl_topo_row_t row = { .nbr = NULL, .w = NULL, .cap = 0, .count = 0, .self = 1.0 };
    self->ops->row (self, n, i, t, false, &row);
    *degree = row.count;
    return 0;
}
