/*  byzantine.c: see byzantine.h. */
#include "byzantine.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "rng.h"

struct mdl_byz_t {
    mdl_byz_cfg_t cfg;
    size_t d;
    mdl_rng_t rng;
    float *out;                         /* (d) the forged vector */
    float *ring[MDL_BYZ_CHANNELS];      /* stale: (S + 1, d) past vectors per stream */
    uint64_t sent[MDL_BYZ_CHANNELS];    /* vectors recorded per stream */
};

static const char *s_forms = "scale:K, noise:SIGMA (> 0), zero, stale:S (1..10000), alie:Z, future:K (K >= 1)";

int
mdl_byz_parse (const char *spec, mdl_byz_cfg_t *cfg, char *err, size_t errlen)
{
    memset (cfg, 0, sizeof *cfg);
    if (!spec || !*spec) {
        snprintf (err, errlen, "--byzantine needs a mode: %s", s_forms);
        return MDL_EINVAL;
    }
    static const struct {
        const char *name;
        mdl_byz_kind_t kind;
        int arg; /* 0 none, 1 real, 2 integer >= 1 */
    } modes[] = {
        { "scale", MDL_BYZ_SCALE, 1 }, { "noise", MDL_BYZ_NOISE, 1 }, { "zero", MDL_BYZ_ZERO, 0 },
        { "stale", MDL_BYZ_STALE, 2 }, { "alie", MDL_BYZ_ALIE, 1 },   { "future", MDL_BYZ_FUTURE, 2 },
    };
    const char *colon = strchr (spec, ':');
    const size_t nlen = colon ? (size_t) (colon - spec) : strlen (spec);
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (strlen (modes[i].name) != nlen || strncmp (spec, modes[i].name, nlen))
            continue;
        if (modes[i].arg == 0) {
            if (colon)
                break;
            cfg->kind = modes[i].kind;
            return 0;
        }
        char *end = NULL;
        double v = colon ? strtod (colon + 1, &end) : NAN;
        bool ok = colon && end != colon + 1 && !*end && isfinite (v);
        if (ok && modes[i].kind == MDL_BYZ_NOISE)
            ok = v > 0;
        if (ok && modes[i].arg == 2)
            ok = v >= 1 && v == floor (v) && (modes[i].kind != MDL_BYZ_STALE || v <= MDL_BYZ_MAX_STALE) && v < 1e15;
        if (!ok)
            break;
        cfg->kind = modes[i].kind;
        cfg->arg = v;
        return 0;
    }
    snprintf (err, errlen, "--byzantine '%s' is not one of: %s", spec, s_forms);
    return MDL_EINVAL;
}

const char *
mdl_byz_str (const mdl_byz_cfg_t *cfg, char *buf, size_t len)
{
    static const char *names[] = { "none", "scale", "noise", "zero", "stale", "alie", "future" };
    if (cfg->kind == MDL_BYZ_ZERO || cfg->kind == MDL_BYZ_NONE)
        snprintf (buf, len, "%s", names[cfg->kind]);
    else
        snprintf (buf, len, "%s:%g", names[cfg->kind], cfg->arg);
    return buf;
}

mdl_byz_t *
mdl_byz_new (const mdl_byz_cfg_t *cfg, size_t d, uint64_t seed, int *err)
{
    if (cfg->kind == MDL_BYZ_NONE) {
        *err = MDL_EINVAL;
        return NULL;
    }
    mdl_byz_t *self = calloc (1, sizeof *self);
    if (!self || !(self->out = calloc (d ? d : 1, sizeof (float)))) {
        free (self);
        *err = MDL_ENOMEM;
        return NULL;
    }
    self->cfg = *cfg;
    self->d = d;
    mdl_rng_seed (&self->rng, seed, 0xb12a);
    return self;
}

void
mdl_byz_destroy (mdl_byz_t **pself)
{
    if (!pself || !*pself)
        return;
    mdl_byz_t *self = *pself;
    for (int k = 0; k < MDL_BYZ_CHANNELS; k++)
        free (self->ring[k]);
    free (self->out);
    free (self);
    *pself = NULL;
}

/* stale:S: records v and returns the vector recorded S sends ago (the oldest there is
   while fewer than S + 1 were recorded). */
static const float *
s_stale (mdl_byz_t *self, int ch, const float *v)
{
    const size_t S = (size_t) self->cfg.arg, d = self->d;
    if (!self->ring[ch]) {
        if (d && S + 1 > SIZE_MAX / sizeof (float) / d)
            return NULL;
        if (!(self->ring[ch] = malloc ((S + 1) * d * sizeof (float))))
            return NULL;
    }
    const uint64_t t = self->sent[ch]++;
    memcpy (self->ring[ch] + (t % (S + 1)) * d, v, d * sizeof (float));
    const uint64_t back = t >= S ? t - S : 0;
    memcpy (self->out, self->ring[ch] + (back % (S + 1)) * d, d * sizeof (float));
    return self->out;
}

/* alie:Z: per coordinate mean - Z std of the heard vectors (population std). */
static const float *
s_alie (mdl_byz_t *self, const float *v, const float *const *heard, size_t n)
{
    if (n == 0)
        return v; /* nothing heard yet: nothing to hide behind */
    const double z = self->cfg.arg;
    for (size_t i = 0; i < self->d; i++) {
        double s = 0.0, s2 = 0.0;
        for (size_t j = 0; j < n; j++) {
            const double t = heard[j][i];
            s += t;
            s2 += t * t;
        }
        const double mean = s / (double) n;
        double var = s2 / (double) n - mean * mean;
        self->out[i] = (float) (mean - z * sqrt (var > 0 ? var : 0));
    }
    return self->out;
}

const float *
mdl_byz_forge (mdl_byz_t *self, int ch, const float *v, const float *const *heard, size_t nheard, uint64_t *step)
{
    const size_t d = self->d;
    if (ch < 0 || ch >= MDL_BYZ_CHANNELS)
        ch = MDL_BYZ_CHANNELS - 1;
    switch (self->cfg.kind) {
    case MDL_BYZ_SCALE: {
        const float k = (float) self->cfg.arg;
        for (size_t i = 0; i < d; i++)
            self->out[i] = k * v[i];
        return self->out;
    }
    case MDL_BYZ_NOISE:
        for (size_t i = 0; i < d; i++)
            self->out[i] = (float) (self->cfg.arg * mdl_rng_normal (&self->rng));
        return self->out;
    case MDL_BYZ_ZERO:
        memset (self->out, 0, d * sizeof (float));
        return self->out;
    case MDL_BYZ_STALE:
        return s_stale (self, ch, v);
    case MDL_BYZ_ALIE:
        return s_alie (self, v, heard, nheard);
    case MDL_BYZ_FUTURE:
        if (step)
            *step += (uint64_t) self->cfg.arg;
        return v;
    default:
        return v;
    }
}
