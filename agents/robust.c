/*  robust.c: see robust.h. */
#include "robust.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

int
mdl_robust_parse (const char *spec, mdl_robust_cfg_t *cfg, char *err, size_t errlen)
{
    static const char *forms = "clip, clip:TAU (TAU > 0), trimmed:B (B >= 1) or median";
    memset (cfg, 0, sizeof *cfg);
    if (!spec || !strcmp (spec, "none"))
        return 0;
    char *end = NULL;
    if (!strcmp (spec, "clip")) {
        cfg->kind = MDL_ROBUST_CLIP;
        return 0;
    }
    if (!strncmp (spec, "clip:", 5)) {
        double tau = strtod (spec + 5, &end);
        if (end != spec + 5 && !*end && tau > 0 && isfinite (tau)) {
            cfg->kind = MDL_ROBUST_CLIP;
            cfg->tau = tau;
            return 0;
        }
        snprintf (err, errlen, "--robust '%s': the clipping radius TAU must be a number > 0 (or leave it out: adaptive); the "
                  "forms are %s", spec, forms);
        return MDL_EINVAL;
    }
    if (!strncmp (spec, "trimmed:", 8)) {
        long b = strtol (spec + 8, &end, 10);
        if (end != spec + 8 && !*end && b >= 1 && b <= 512) {
            cfg->kind = MDL_ROBUST_TRIMMED;
            cfg->trim = (int) b;
            return 0;
        }
        snprintf (err, errlen, "--robust '%s': B must be an integer from 1 to 512 (the values dropped at each end of "
                  "every coordinate); the forms are %s", spec, forms);
        return MDL_EINVAL;
    }
    if (!strcmp (spec, "median")) {
        cfg->kind = MDL_ROBUST_MEDIAN;
        return 0;
    }
    snprintf (err, errlen, "--robust '%s' is not one of: %s", spec, forms);
    return MDL_EINVAL;
}

const char *
mdl_robust_str (const mdl_robust_cfg_t *cfg, char *buf, size_t len)
{
    switch (cfg->kind) {
    case MDL_ROBUST_CLIP:
        if (cfg->tau > 0)
            snprintf (buf, len, "clip:%g", cfg->tau);
        else
            snprintf (buf, len, "clip");
        break;
    case MDL_ROBUST_TRIMMED:
        snprintf (buf, len, "trimmed:%d", cfg->trim);
        break;
    case MDL_ROBUST_MEDIAN:
        snprintf (buf, len, "median");
        break;
    default:
        snprintf (buf, len, "none");
    }
    return buf;
}

size_t
mdl_robust_min_inputs (const mdl_robust_cfg_t *cfg)
{
    return cfg->kind == MDL_ROBUST_TRIMMED ? 2 * (size_t) cfg->trim + 1 : 1;
}

double
mdl_robust_dist (const float *v, const float *s, size_t d)
{
    double acc = 0.0;
    for (size_t i = 0; i < d; i++) {
        const double t = (double) v[i] - (double) s[i];
        acc += t * t;
    }
    return sqrt (acc);
}

/* Ascending insertion sort: the values of one coordinate are few (a node's degree + 1),
   and so are the distances of one round and its history. */
static void
s_sort_doubles (double *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        double v = a[i];
        size_t j = i;
        while (j > 0 && a[j - 1] > v) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

double
mdl_robust_tau (mdl_robust_hist_t *h, const double *dist, size_t n)
{
    double all[MDL_ROBUST_HISTORY + 64];
    size_t m = 0;
    for (size_t i = 0; i < h->n; i++)
        all[m++] = h->d[i];
    /* A round with more than 64 neighbours contributes its first 64 to the median: the
       history then dominates no more than a round of that size would. */
    for (size_t i = 0; i < n && i < 64; i++)
        all[m++] = dist[i];
    for (size_t i = 0; i < n; i++) {
        h->d[h->at] = dist[i];
        h->at = (h->at + 1) % MDL_ROBUST_HISTORY;
        if (h->n < MDL_ROBUST_HISTORY)
            h->n++;
    }
    if (m == 0)
        return 0.0;
    s_sort_doubles (all, m);
    const double median = m % 2 ? all[m / 2] : 0.5 * (all[m / 2 - 1] + all[m / 2]);
    return MDL_ROBUST_TAU_FRACTION * median;
}

size_t
mdl_robust_clip_factors (const double *dist, size_t n, double tau, double *f)
{
    size_t clipped = 0;
    for (size_t j = 0; j < n; j++) {
        f[j] = dist[j] > tau && dist[j] > 0 ? tau / dist[j] : 1.0;
        clipped += f[j] < 1.0;
    }
    return clipped;
}

void
mdl_robust_clip_mix (float *x, const float *s, const float *const *v, const double *w, size_t n, size_t d)
{
    /* Blocks keep the n input streams in cache while a block of x is combined. */
    for (size_t at = 0; at < d; at += 1024) {
        const size_t len = d - at < 1024 ? d - at : 1024;
        double acc[1024];
        for (size_t i = 0; i < len; i++)
            acc[i] = 0.0;
        for (size_t j = 0; j < n; j++) {
            const float *vb = v[j] + at, *sb = s + at;
            const double wj = w[j];
            for (size_t i = 0; i < len; i++)
                acc[i] += wj * ((double) vb[i] - (double) sb[i]);
        }
        float *xb = x + at;
        for (size_t i = 0; i < len; i++)
            xb[i] = (float) ((double) xb[i] + acc[i]);
    }
}

static int
s_cmp_double (const void *pa, const void *pb)
{
    const double a = *(const double *) pa, b = *(const double *) pb;
    return (a > b) - (a < b);
}

/* The aggregate of one coordinate's m values (sorted in place): the mean of the middle
   m - 2b, or the median. */
static double
s_coord (double *vals, size_t m, size_t b, bool median)
{
    if (m <= 32)
        s_sort_doubles (vals, m);
    else
        qsort (vals, m, sizeof vals[0], s_cmp_double);
    if (median)
        return m % 2 ? vals[m / 2] : 0.5 * (vals[m / 2 - 1] + vals[m / 2]);
    double sum = 0.0;
    for (size_t k = b; k < m - b; k++)
        sum += vals[k];
    return sum / (double) (m - 2 * b);
}

/* Shared loop of the coordinate-wise rules: inputs s (may be NULL) and in[0..n); writes
   out[i] = agg, or, with mix, x[i] += gamma (agg - s[i]). */
static int
s_coordwise (float *out, const float *s, const float *const *in, size_t n, size_t d, size_t b, bool median, double gamma)
{
    const size_t m = n + (s != NULL);
    if (m == 0 || (!median && 2 * b >= m))
        return MDL_EINVAL;
    double stackbuf[64];
    double *vals = m <= 64 ? stackbuf : malloc (m * sizeof (double));
    if (!vals)
        return MDL_ENOMEM;
    for (size_t i = 0; i < d; i++) {
        size_t k = 0;
        if (s)
            vals[k++] = s[i];
        for (size_t j = 0; j < n; j++)
            vals[k++] = in[j][i];
        const double agg = s_coord (vals, m, b, median);
        if (s)
            out[i] = (float) ((double) out[i] + gamma * (agg - (double) s[i]));
        else
            out[i] = (float) agg;
    }
    if (vals != stackbuf)
        free (vals);
    return 0;
}

int
mdl_robust_trimmed (float *out, const float *const *in, size_t m, size_t d, size_t b)
{
    return s_coordwise (out, NULL, in, m, d, b, false, 1.0);
}

int
mdl_robust_median (float *out, const float *const *in, size_t m, size_t d)
{
    return s_coordwise (out, NULL, in, m, d, 0, true, 1.0);
}

int
mdl_robust_coord_mix (const mdl_robust_cfg_t *cfg, float *x, const float *s, const float *const *v, size_t n, size_t d,
                      double gamma)
{
    if (cfg->kind == MDL_ROBUST_TRIMMED)
        return s_coordwise (x, s, v, n, d, (size_t) cfg->trim, false, gamma);
    if (cfg->kind == MDL_ROBUST_MEDIAN)
        return s_coordwise (x, s, v, n, d, 0, true, gamma);
    return MDL_EINVAL;
}
