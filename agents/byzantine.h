/*  byzantine.h: what a lying agent publishes (--byzantine), to test the defences
    against. A Byzantine agent trains and mixes like any other (its own model stays
    honest); only what it sends is forged:

      scale:K    K x                            (K = -10: a sign flip that also inflates)
      noise:S    a Gaussian vector, N(0, S^2) in every coordinate
      zero       the zero vector
      stale:S    its own published state of S rounds ago, stamped as fresh
      alie:Z     "a little is enough" (Baruch et al., 2019): per coordinate, the mean
                 minus Z times the standard deviation of the neighbour states it hears
                 (the newest of each), inside the spread of honest values so that
                 outlier filters let it through
      future:K   its honest state, stamped K rounds ahead of its real round

    Exact global averages and pairwise averages carry the forged content too (not the
    forged step: their rounds are protocol, not training time). */
#ifndef MDL_BYZANTINE_H
#define MDL_BYZANTINE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    MDL_BYZ_NONE = 0,
    MDL_BYZ_SCALE,
    MDL_BYZ_NOISE,
    MDL_BYZ_ZERO,
    MDL_BYZ_STALE,
    MDL_BYZ_ALIE,
    MDL_BYZ_FUTURE,
} mdl_byz_kind_t;

typedef struct {
    mdl_byz_kind_t kind;
    double arg;          /* K, SIGMA, S or Z */
} mdl_byz_cfg_t;

#define MDL_BYZ_CHANNELS 8  /* forged streams kept apart (the stale rings) */
#define MDL_BYZ_MAX_STALE 10000

/* Parses "scale:K", "noise:SIGMA", "zero", "stale:S", "alie:Z", "future:K". Returns 0,
   or MDL_EINVAL with a one-line reason naming the valid forms in err. */
int mdl_byz_parse (const char *spec, mdl_byz_cfg_t *cfg, char *err, size_t errlen);

/* "scale:-10", "zero", ... */
const char *mdl_byz_str (const mdl_byz_cfg_t *cfg, char *buf, size_t len);

typedef struct mdl_byz_t mdl_byz_t;

/* The forger of one agent (d floats per vector; seed for noise). stale:S keeps S + 1
   vectors per stream, allocated on the stream's first use. NULL + *err (MDL_ENOMEM, or
   MDL_EINVAL for an unset cfg). Caller owns and destroys it. */
mdl_byz_t *mdl_byz_new (const mdl_byz_cfg_t *cfg, size_t d, uint64_t seed, int *err);
void mdl_byz_destroy (mdl_byz_t **self);

/* The vector to publish instead of the honest v on stream ch (< MDL_BYZ_CHANNELS),
   given the neighbour vectors heard (alie; may be 0 of them: then v itself). *step
   (may be NULL) is moved forward by future:K. Returns a buffer owned by the forger,
   valid until the next call, or v itself when the content is honest (future), or NULL
   when out of memory (stale: its ring). */
const float *mdl_byz_forge (mdl_byz_t *self, int ch, const float *v, const float *const *heard, size_t nheard,
                            uint64_t *step);

#endif
