/*  synthetic.h: generated datasets with a known answer.

    "synthetic:linreg:N:D:NOISE[:HET]" is least squares: N training rows (and N/5, at
    least 1, test rows) of D standard Gaussian features, targets
        y = <w* + HET u_g, x> + NOISE e,      e ~ N(0, 1)
    with w* and u_g drawn N(0, I/D) (so <w*, x> has variance about 1). Each row belongs to
    one of MDL_SYNTH_GROUPS groups g (row i is in group i mod G) and its label is g, so the
    label partitioners make agents differ: --partition dirichlet:ALPHA or shards:K hand an
    agent mostly a few groups, each with its own regression vector when HET > 0 (concept
    shift: the agents' local least-squares solutions differ, the heterogeneity that
    D-PSGD's fixed point is biased by and gradient tracking removes). HET = 0 (the
    default) makes every group the same problem. Everything is drawn from --seed. */
#ifndef MDL_SYNTHETIC_H
#define MDL_SYNTHETIC_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"

#define MDL_SYNTH_GROUPS 10

typedef struct {
    size_t n;       /* training rows, >= MDL_SYNTH_GROUPS */
    size_t dim;     /* features, >= 1 */
    double noise;   /* standard deviation of the target noise, >= 0 */
    double het;     /* scale of the per-group shift of the regression vector, >= 0 */
} mdl_synth_spec_t;

/* True when spec starts with "synthetic:" (it is then a generator, not a path). */
int mdl_synthetic_is (const char *spec);

/* Parses "synthetic:linreg:N:D:NOISE[:HET]". Returns 0, or MDL_EINVAL with a sentence
   saying what is wrong written to err (errlen bytes); *out is then unspecified. */
int mdl_synthetic_parse (const char *spec, mdl_synth_spec_t *out, char *err, size_t errlen);

/* Generates the training and test sets of s from seed (same seed, same bits). The
   labels are the group ids, the regression targets mdl_dataset_targets. Returns 0, or
   MDL_ENOMEM with *train and *test NULL. Caller owns both and must destroy them. */
int mdl_synthetic_make (const mdl_synth_spec_t *s, uint64_t seed, mdl_dataset_t **train,
                        mdl_dataset_t **test);

/* The regression vector of group g (dim floats) and the bias (always 0) used by
   mdl_synthetic_make for (s, seed): for tests and reports. */
void mdl_synthetic_truth (const mdl_synth_spec_t *s, uint64_t seed, int g, float *w);

#endif
