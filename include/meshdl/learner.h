/*  meshdl/learner.h: one of meshdl's models learning alone from a dataset, without any
    gossip: what `meshdl train` runs, the centralized baseline that decentralized runs
    are compared with, and the local half of every agent.

    A learner is built from an agent configuration (meshdl/config.h: its settings
    "model", "optimizer", "lr", "schedule", "batch", "epochs", "seed", ... and the data of
    mdl_agent_cfg_set_data / mdl_agent_cfg_set_shard), walks its rows in a fresh random
    order each epoch and takes one optimizer step per minibatch:

        mdl_learner_t *l = mdl_learner_create (cfg, &err);
        while (mdl_learner_steps (l) < 5 * mdl_learner_steps_per_epoch (l))
            if (mdl_learner_step (l, &loss)) break;           // diverged
        mdl_learner_evaluate (l, NULL, test, 0, &test_loss, &test_acc);
        mdl_learner_destroy (&l); */
#ifndef MESHDL_LEARNER_H
#define MESHDL_LEARNER_H

#include <stddef.h>
#include <stdint.h>

#include "meshdl/config.h"
#include "meshdl/data.h"
#include "meshdl/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mdl_learner_t mdl_learner_t;

/* Builds the model (initialised from "seed"), its optimizer and schedule (horizon
   "epochs" passes over the rows) over the training set and shard of cfg, which must
   outlive the learner; cfg itself may be destroyed. NULL + *err: MDL_EINVAL (no
   training set, no model: "dim" configurations have none, batch 0), MDL_ESPEC (model),
   MDL_ESHAPE (the model's input is not the data's width, fewer outputs than classes, a
   regression model on data without targets or a classifier on data with them),
   MDL_ERANGE (optimizer settings), MDL_ENOMEM; mdl_error_detail() names a missing
   training set or model. Caller owns the learner and destroys it. */
MDL_EXPORT mdl_learner_t *mdl_learner_create (const mdl_agent_cfg_t *cfg, int *err);

/* Frees the learner and sets *l to NULL; safe on NULL and twice. */
MDL_EXPORT void mdl_learner_destroy (mdl_learner_t **l);

/* One step: forward and backward on the next minibatch, then the optimizer step at the
   scheduled rate; *loss gets the minibatch's mean loss. Returns 0, or MDL_ENONFINITE when
   the loss is NaN or Inf (nothing was applied: the model is as before the call). */
MDL_EXPORT int mdl_learner_step (mdl_learner_t *l, float *loss);

/* Steps taken; steps in one pass over the rows; passes so far (fractional); the
   scheduled learning rate at the current step; the number of the model's parameters. */
MDL_EXPORT uint64_t mdl_learner_steps (const mdl_learner_t *l);
MDL_EXPORT uint64_t mdl_learner_steps_per_epoch (const mdl_learner_t *l);
MDL_EXPORT double mdl_learner_epoch (const mdl_learner_t *l);
MDL_EXPORT float mdl_learner_lr (const mdl_learner_t *l);
MDL_EXPORT size_t mdl_learner_dim (const mdl_learner_t *l);

/* Evaluates params (mdl_learner_dim floats; NULL: the learner's own model) on the first
   max_rows rows of ds (0: all): the mean loss into *loss, the accuracy (0 for
   regression) into *acc. Returns 0, MDL_ESHAPE (a regression model and ds without
   targets) or MDL_ENOMEM. */
MDL_EXPORT int mdl_learner_evaluate (mdl_learner_t *l, const float *params, const mdl_dataset_t *ds, size_t max_rows,
                                     double *loss, double *acc);

/* Writes the model's parameters, the optimizer's state, the step and epoch to path,
   atomically (a temporary file renamed over it: a crash leaves the previous checkpoint
   whole). Returns 0, MDL_EIO or MDL_ENOMEM. */
MDL_EXPORT int mdl_learner_checkpoint (mdl_learner_t *l, const char *path, uint64_t epoch);

/* Loads what mdl_learner_checkpoint wrote: parameters, optimizer state and step count;
   the epoch into *epoch (may be NULL). Returns 0, or MDL_ENOENT, MDL_ECKPT_MAGIC,
   MDL_ECKPT_VERSION, MDL_ECKPT_CORRUPT, MDL_ECKPT_MODEL (written for another model or
   optimizer), MDL_EIO; on error the learner is unchanged. */
MDL_EXPORT int mdl_learner_resume (mdl_learner_t *l, const char *path, uint64_t *epoch);

#ifdef __cplusplus
}
#endif

#endif
