/*  dataset.h: labelled datasets in memory. The public part (loading, shape, rows,
    normalisation) is in meshdl/data.h; here the cache, the shard's rows and what
    regression data adds. CSV and generated data hold floats; IDX data holds its pixel
    bytes as they come (a quarter of the memory) and a gather turns each into v / 255,
    standardised once mdl_dataset_normalize ran: the same floats the float matrix would
    hold. */
#ifndef MDL_DATASET_H
#define MDL_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "meshdl/data.h"

/* Gives ds a regression target per row (all zero; fill through mdl_dataset_targets_mut).
   Labels stay: on regression data they are group ids that the partitioners split by.
   Returns 0, or MDL_ENOMEM with ds unchanged. */
int mdl_dataset_add_targets (mdl_dataset_t *ds);
float *mdl_dataset_targets_mut (mdl_dataset_t *ds);
/* Copies the targets of rows idx[0..n) into t; ds must have targets. */
void mdl_dataset_gather_targets (const mdl_dataset_t *ds, const uint32_t *idx, size_t n, float *t);

/* mdl_dataset_keep_rows: meshdl/data.h */

#endif
