/*  sched.c: learning-rate schedules as pure functions of the step (see sched.h).

    Epoch quantities (milestones, warm-up) become steps through steps_per_epoch on every
    call: at most MDL_SCHED_MAX_MILESTONES multiplications, cheaper than keeping a cache
    that would make the schedule a stateful object. */
#include "sched.h"

#include "err.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double s_pi = 3.14159265358979323846;

/* First step at which epoch e has begun: ceil(e * steps_per_epoch); 0 for e <= 0 or
   NaN. A product that is an integer in exact arithmetic can land one ulp above it in
   double (0.07 * 100 = 7.000000000000001), which ceil would push to the next step; so
   a product within 1e-9 (relative) of an integer counts as that integer. */
static uint64_t
s_epoch_step (double e, uint64_t steps_per_epoch)
{
    if (!(e > 0.0))
        return 0;
    double x = e * (double) steps_per_epoch;
    double r = nearbyint (x);
    if (fabs (x - r) <= 1e-9 * fmax (1.0, x))
        x = r;
    if (x >= 18446744073709551616.0) /* 2^64 */
        return UINT64_MAX;
    return (uint64_t) ceil (x);
}

static uint64_t
s_warmup_steps (const mdl_sched_t *s)
{
    return s_epoch_step (s->warmup_epochs, s->steps_per_epoch);
}

/* Milestones whose step is <= step. */
static int
s_milestones_passed (const mdl_sched_t *s, uint64_t step)
{
    int k = 0;
    int n = s->n_milestones < MDL_SCHED_MAX_MILESTONES ? s->n_milestones
                                                       : MDL_SCHED_MAX_MILESTONES;
    for (int i = 0; i < n; i++)
        if (s_epoch_step (s->milestones[i], s->steps_per_epoch) <= step)
            k++;
    return k;
}

/* The cosine runs from the end of warm-up W to total_steps: T = total_steps - W steps,
   so total_steps is the length of the whole run, warm-up included (the convention of
   Goyal et al. 2017 and of most libraries). */
static uint64_t
s_cosine_span (const mdl_sched_t *s, uint64_t warmup)
{
    return s->total_steps > warmup ? s->total_steps - warmup : 0;
}

float
mdl_sched_lr (const mdl_sched_t *s, uint64_t step)
{
    assert (s);
    const double lr0 = s->lr0;
    const uint64_t w = s_warmup_steps (s);
    double lr = lr0;
    switch (s->kind) {
    case MDL_SCHED_CONSTANT:
        break;
    case MDL_SCHED_STEP:
        for (int k = s_milestones_passed (s, step); k > 0; k--)
            lr *= s->gamma;
        break;
    case MDL_SCHED_COSINE: {
        if (step < w)
            break; /* the cosine starts at lr0 once warm-up ends */
        uint64_t span = s_cosine_span (s, w);
        uint64_t t = step - w;
        if (t >= span)
            lr = s->lr_min;
        else
            lr = s->lr_min + (lr0 - s->lr_min) * 0.5
                                 * (1.0 + cos (s_pi * (double) t / (double) span));
        break;
    }
    case MDL_SCHED_CLR: {
        /* A cycle of T >= 2 steps (a one-step cycle would never leave lr_min). */
        uint64_t T = s_epoch_step (s->clr_period, s->steps_per_epoch);
        if (T < 2)
            T = 2;
        const double u = (double) (step % T) / (double) T;
        lr = s->lr_min + (lr0 - s->lr_min) * (1.0 - fabs (2.0 * u - 1.0));
        break;
    }
    }
    /* Linear warm-up multiplies whatever the schedule gives: (step + 1) / W, so step 0
       runs at 1/W of it and step W - 1, the last warm-up step, at the full rate. */
    if (step < w)
        lr *= (double) (step + 1) / (double) w;
    return (float) lr;
}

int
mdl_sched_phase (const mdl_sched_t *s, uint64_t step)
{
    assert (s);
    switch (s->kind) {
    case MDL_SCHED_CONSTANT:
    case MDL_SCHED_CLR:
        return 0;
    case MDL_SCHED_STEP:
        return s_milestones_passed (s, step);
    case MDL_SCHED_COSINE: {
        uint64_t w = s_warmup_steps (s);
        if (step < w)
            return 0;
        /* Phase 1 from the midpoint of the cosine on, where lr is halfway down. */
        uint64_t span = s_cosine_span (s, w);
        uint64_t t = step - w;
        return t >= span - span / 2 ? 1 : 0; /* ceil(span / 2) */
    }
    }
    return 0;
}

/* Parses a finite double that must start at *p (no leading blanks, which strtod would
   skip) and stop at one of the characters in stops (or end of string when '\0' is in
   it). Returns 0 and advances *p, or MDL_EINVAL. */
static int
s_parse_double (const char **p, const char *stops, double *out)
{
    const char *q = *p;
    if (*q == '\0' || strchr (" \t\n\v\f\r", *q))
        return MDL_EINVAL;
    char *end;
    errno = 0;
    double v = strtod (q, &end);
    if (end == q || errno == ERANGE || !isfinite (v))
        return MDL_EINVAL;
    if (!strchr (stops, *end)) /* strchr finds '\0' too: end of string always stops */
        return MDL_EINVAL;
    *out = v;
    *p = end;
    return MDL_OK;
}

int
mdl_sched_parse (const char *spec, mdl_sched_t *s)
{
    assert (s);
    if (!spec)
        return MDL_EINVAL;
    if (strcmp (spec, "constant") == 0) {
        s->kind = MDL_SCHED_CONSTANT;
        return MDL_OK;
    }
    if (strcmp (spec, "cosine") == 0) {
        s->kind = MDL_SCHED_COSINE;
        return MDL_OK;
    }
    if (strncmp (spec, "clr:", 4) == 0) {
        const char *p = spec + 4;
        double lo, hi, period;
        if (s_parse_double (&p, ":", &lo) || *p++ != ':' || s_parse_double (&p, ":", &hi) || *p++ != ':'
            || s_parse_double (&p, "", &period))
            return MDL_EINVAL;
        /* stored as floats: the bounds must stay ordered after rounding */
        if (!(lo >= 0.0 && (float) lo < (float) hi && hi <= 1e3 && period > 0.0 && period <= 1e6))
            return MDL_EINVAL;
        s->kind = MDL_SCHED_CLR;
        s->lr_min = (float) lo;
        s->lr0 = (float) hi;
        s->clr_period = period;
        return MDL_OK;
    }
    if (strncmp (spec, "step:", 5) != 0)
        return MDL_EINVAL;

    /* Parse into locals so that s is untouched on failure. */
    const char *p = spec + 5;
    double gamma;
    if (s_parse_double (&p, ":", &gamma) || *p != ':')
        return MDL_EINVAL;
    if (!((float) gamma > 0.0f && gamma <= 1.0)) /* stored as float: 1e-50 would be 0 */
        return MDL_EINVAL;
    p++;
    double ms[MDL_SCHED_MAX_MILESTONES];
    int n = 0;
    for (;;) {
        double e;
        if (n == MDL_SCHED_MAX_MILESTONES || s_parse_double (&p, ",", &e))
            return MDL_EINVAL;
        if (!(e > 0.0) || (n > 0 && !(e > ms[n - 1])))
            return MDL_EINVAL;
        ms[n++] = e;
        if (*p == '\0')
            break;
        p++; /* ',' */
    }
    s->kind = MDL_SCHED_STEP;
    s->gamma = (float) gamma;
    s->n_milestones = n;
    memcpy (s->milestones, ms, (size_t) n * sizeof ms[0]);
    return MDL_OK;
}
