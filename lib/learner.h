/*  learner.h: one model learning from one shard of a dataset.

    The local half of every agent and the whole of `meshdl train`: it owns the model, the
    optimizer and the minibatch buffers, walks its shard in a fresh random order each
    epoch, and takes steps. The gradient and the optimizer step are separate calls, so a
    decentralized algorithm can act between them (gradient tracking uses the raw
    gradient; D-PSGD mixes after the step). Nothing here knows about the network. The
    public part (stepping, evaluating, checkpoints; mdl_learner_create from an agent
    configuration, in agents/config.c) is meshdl/learner.h. */
#ifndef MDL_LEARNER_H
#define MDL_LEARNER_H

#include <stddef.h>
#include <stdint.h>

#include <stdbool.h>

#include "checkpoint.h"
#include "meshdl/learner.h"
#include "dataset.h"
#include "model.h"
#include "optim.h"
#include "sched.h"

typedef struct {
    const char *spec;   /* model spec */
    uint64_t seed;      /* initialisation seed */
    uint64_t data_seed; /* seed of the minibatch order (agents differ here) */
    size_t batch;       /* rows per step, >= 1 */
    mdl_opt_cfg_t opt;
    mdl_sched_t sched;  /* steps_per_epoch is filled in by mdl_learner_new when 0, and
                           total_steps (cosine horizon) as epochs * steps_per_epoch */
    int epochs;         /* planned passes over the shard, for the schedule's horizon */
} mdl_learner_cfg_t;

/* Makes a learner over rows[0..nrows) of train (rows NULL = every row). The dataset must
   outlive the learner. NULL + *err: MDL_ESPEC (model), MDL_ESHAPE (model input size is
   not the data's dim, fewer outputs than classes, or a regression model on data without
   targets or a classifier on data with them), MDL_EINVAL (batch 0, no rows),
   MDL_ERANGE (optimizer settings), MDL_ENOMEM. */
mdl_learner_t *mdl_learner_new (const mdl_learner_cfg_t *cfg, const mdl_dataset_t *train,
                                const uint32_t *rows, size_t nrows, int *err);

mdl_model_t *mdl_learner_model (mdl_learner_t *l);
mdl_optim_t *mdl_learner_optim (mdl_learner_t *l);
const mdl_sched_t *mdl_learner_sched (const mdl_learner_t *l);

/* Forward/backward on the next minibatch: the model's gradient vector holds the gradient
   of the mean loss, *loss the loss. Returns 0, or MDL_ENONFINITE when the loss is NaN/Inf
   (the gradient is then not to be used). */
int mdl_learner_grad (mdl_learner_t *l, float *loss);

/* Optimizer step with the scheduled rate of the current step, on the model's gradient;
   then advances the step counter. */
void mdl_learner_apply (mdl_learner_t *l);

/* mdl_learner_apply with the new parameters written to out (the model's own are left as
   they were; see mdl_optim_step_to): the caller puts them back, e.g. by mixing into them. */
void mdl_learner_apply_to (mdl_learner_t *l, float *out);

/* mdl_learner_step (grad + apply), mdl_learner_steps, mdl_learner_lr, mdl_learner_epoch,
   mdl_learner_steps_per_epoch and mdl_learner_evaluate (in chunks of the reserved
   batch) are meshdl/learner.h's. */
void mdl_learner_set_steps (mdl_learner_t *l, uint64_t steps);

/* mdl_learner_evaluate of k parameter vectors (params[j]; NULL: the learner's own model)
   at once, into loss[j] and acc[j]: the rows are read once for all of them, and each
   result is the one mdl_learner_evaluate of that vector alone gives (the same sums in
   the same order). Returns 0, MDL_ESHAPE or MDL_ENOMEM. */
int mdl_learner_evaluate_many (mdl_learner_t *l, const float *const *params, size_t k, const mdl_dataset_t *ds,
                               size_t max_rows, double *loss, double *acc);
/* Rows in the shard. */
size_t mdl_learner_rows (const mdl_learner_t *l);

/* From now on every label y is read as map[y], in training and evaluation (concept
   drift experiments); NULL = as stored. map has one entry per class and must outlive
   its use; it is not copied. */
void mdl_learner_set_label_map (mdl_learner_t *l, const int32_t *map);

/* Adds the learner's state to a checkpoint image: "params" (the model's d floats),
   "optim" (the optimizer's state vector), "learner" (a byte record: steps taken, the
   optimizer's step count, and the position in the data: epochs started, the cursor in
   the shard, the minibatch order's random stream, the shard's size and a digest of its
   rows) and "learner.order" (the shard's current shuffled order, u32 row numbers). With
   them a resumed learner draws exactly the minibatches the saved one would have drawn.
   Returns 0 or the image's error (MDL_EINVAL once sealed, MDL_ENOMEM). */
int mdl_learner_save (const mdl_learner_t *l, mdl_ckpt_image_t *img);

/* Restores what mdl_learner_save added: parameters, optimizer state, step counts and,
   when the image was taken on the same shard (same rows), the data position, then
   *position is true; on another shard (a different --shard or data) the learner keeps
   its own order and *position is false. The caller checks the image's model spec.
   Returns 0, or MDL_ECKPT_MODEL (a section missing or sized for another model or
   optimizer), and then nothing was changed. */
int mdl_learner_restore (mdl_learner_t *l, const mdl_ckpt_image_t *img, bool *position);

/* Fills map (classes entries) with the drift permutation y -> (y + 1) mod classes:
   every class changes its label. */
void mdl_label_map_rotate (int32_t *map, int classes);

#endif
