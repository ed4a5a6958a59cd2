/*  synthetic.c: generated datasets (see synthetic.h). */
#include "synthetic.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "rng.h"

/* The same bound as an IDX file: every count fits an int32, the matrix 8 GiB. */
#define S_MAX_ELEMS ((uint64_t) 1 << 31)

/* rng streams of one seed: truth (w*, u_g), training rows, test rows */
enum { S_STREAM_TRUTH = 0x5717, S_STREAM_TRAIN, S_STREAM_TEST };

int
mdl_synthetic_is (const char *spec)
{
    return spec && strncmp (spec, "synthetic:", 10) == 0;
}

/* Parses one field of a spec: [s, e) must be a whole number (integer) or a finite
   double; 0 or -1. */
static int
s_field_u64 (const char *s, const char *e, uint64_t *out)
{
    if (s == e || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull (s, &end, 10);
    if (errno || end != e)
        return -1;
    *out = v;
    return 0;
}

static int
s_field_double (const char *s, const char *e, double *out)
{
    if (s == e)
        return -1;
    char *end;
    errno = 0;
    double v = strtod (s, &end);
    if (errno || end != e || !isfinite (v))
        return -1;
    *out = v;
    return 0;
}

int
mdl_synthetic_parse (const char *spec, mdl_synth_spec_t *out, char *err, size_t errlen)
{
    static const char *form = "use synthetic:linreg:N:D:NOISE[:HET], e.g. synthetic:linreg:10000:20:0.1:1";
    if (!mdl_synthetic_is (spec) || strncmp (spec + 10, "linreg:", 7) != 0) {
        snprintf (err, errlen, "unknown synthetic dataset '%s': %s", spec ? spec : "", form);
        return MDL_EINVAL;
    }
    /* fields N, D, NOISE and optional HET, separated by ':' */
    const char *f[4] = { 0 }, *end[4] = { 0 };
    int nf = 0;
    for (const char *p = spec + 17;; nf++) {
        const char *c = strchr (p, ':');
        if (nf == 4) {
            nf = 5;
            break;
        }
        f[nf] = p;
        end[nf] = c ? c : p + strlen (p);
        if (!c) {
            nf++;
            break;
        }
        p = c + 1;
    }
    if (nf < 3 || nf > 4) {
        snprintf (err, errlen, "'%s' has too %s fields: %s", spec, nf < 3 ? "few" : "many", form);
        return MDL_EINVAL;
    }
    uint64_t n, d;
    double noise, het = 0.0;
    if (s_field_u64 (f[0], end[0], &n) || n < MDL_SYNTH_GROUPS) {
        snprintf (err, errlen, "'%s': N must be a whole number >= %d: %s", spec, MDL_SYNTH_GROUPS, form);
        return MDL_EINVAL;
    }
    if (s_field_u64 (f[1], end[1], &d) || d < 1) {
        snprintf (err, errlen, "'%s': D must be a whole number >= 1: %s", spec, form);
        return MDL_EINVAL;
    }
    if ((n + n / 5) > S_MAX_ELEMS / d) {
        snprintf (err, errlen, "'%s': N x D is too large (at most 2^31 values)", spec);
        return MDL_EINVAL;
    }
    if (s_field_double (f[2], end[2], &noise) || noise < 0) {
        snprintf (err, errlen, "'%s': NOISE must be a finite number >= 0: %s", spec, form);
        return MDL_EINVAL;
    }
    if (nf == 4 && (s_field_double (f[3], end[3], &het) || het < 0)) {
        snprintf (err, errlen, "'%s': HET must be a finite number >= 0: %s", spec, form);
        return MDL_EINVAL;
    }
    out->n = (size_t) n;
    out->dim = (size_t) d;
    out->noise = noise;
    out->het = het;
    return 0;
}

void
mdl_synthetic_truth (const mdl_synth_spec_t *s, uint64_t seed, int g, float *w)
{
    /* w* first, then u_0, u_1, ...: drawn in one stream so that every group's vector
       is the same whatever N is. */
    mdl_rng_t r;
    mdl_rng_seed (&r, seed, S_STREAM_TRUTH);
    const double sc = 1.0 / sqrt ((double) s->dim);
    for (size_t k = 0; k < s->dim; k++)
        w[k] = (float) (mdl_rng_normal (&r) * sc);
    for (int h = 0; h <= g; h++)
        for (size_t k = 0; k < s->dim; k++) {
            double u = mdl_rng_normal (&r) * sc;
            if (h == g)
                w[k] = (float) (w[k] + s->het * u);
        }
}

/* Fills ds with rows drawn from stream, targets from the group vectors W (G x dim). */
static void
s_fill (mdl_dataset_t *ds, const mdl_synth_spec_t *s, const float *W, uint64_t seed, uint64_t stream)
{
    mdl_rng_t r;
    mdl_rng_seed (&r, seed, stream);
    const size_t n = mdl_dataset_n (ds), dim = s->dim;
    float *x = mdl_dataset_x_mut (ds), *y = mdl_dataset_targets_mut (ds);
    int32_t *lab = mdl_dataset_labels_mut (ds);
    for (size_t i = 0; i < n; i++) {
        const int g = (int) (i % MDL_SYNTH_GROUPS);
        const float *w = W + (size_t) g * dim;
        float *xi = x + i * dim;
        double t = 0.0;
        for (size_t k = 0; k < dim; k++) {
            xi[k] = (float) mdl_rng_normal (&r);
            t += (double) w[k] * xi[k];
        }
        y[i] = (float) (t + s->noise * mdl_rng_normal (&r));
        lab[i] = g;
    }
}

int
mdl_synthetic_make (const mdl_synth_spec_t *s, uint64_t seed, mdl_dataset_t **train,
                    mdl_dataset_t **test)
{
    int rc = MDL_ENOMEM;
    *train = *test = NULL;
    float *W = malloc ((size_t) MDL_SYNTH_GROUPS * s->dim * sizeof *W);
    if (!W)
        goto err;
    for (int g = 0; g < MDL_SYNTH_GROUPS; g++)
        mdl_synthetic_truth (s, seed, g, W + (size_t) g * s->dim);
    const size_t ntest = s->n / 5 ? s->n / 5 : 1;
    if (!(*train = mdl_dataset_new (s->n, s->dim, MDL_SYNTH_GROUPS, &rc))
        || !(*test = mdl_dataset_new (ntest, s->dim, MDL_SYNTH_GROUPS, &rc)))
        goto err;
    rc = MDL_ENOMEM;
    if (mdl_dataset_add_targets (*train) || mdl_dataset_add_targets (*test))
        goto err;
    s_fill (*train, s, W, seed, S_STREAM_TRAIN);
    s_fill (*test, s, W, seed, S_STREAM_TEST);
    free (W);
    return 0;
err:
    free (W);
    mdl_dataset_destroy (train);
    mdl_dataset_destroy (test);
    return rc;
}

bool
mdl_dataset_is_synthetic (const char *spec)
{
    return mdl_synthetic_is (spec);
}

int
mdl_dataset_synthetic (const char *spec, uint64_t seed, mdl_dataset_t **train, mdl_dataset_t **test)
{
    *train = *test = NULL;
    mdl_synth_spec_t sp;
    char why[512];
    if (mdl_synthetic_parse (spec, &sp, why, sizeof why))
        return mdl_error_set (MDL_EINVAL, "%s", why);
    return mdl_synthetic_make (&sp, seed, train, test);
}
