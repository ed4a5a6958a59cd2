/*  sched.h: learning-rate schedules, as a pure function of the step.

    A schedule is a small value type: lr(step) depends on nothing else, so every agent
    computes the same rate at the same step and checkpoints need only the step. */
#ifndef MDL_SCHED_H
#define MDL_SCHED_H

#include <stddef.h>
#include <stdint.h>

#define MDL_SCHED_MAX_MILESTONES 16

typedef enum {
    MDL_SCHED_CONSTANT = 0,
    MDL_SCHED_STEP = 1,   /* lr0 * gamma^(number of milestones passed) */
    MDL_SCHED_COSINE = 2, /* lr_min + (lr0 - lr_min)(1 + cos(pi t/T))/2 after warm-up:
                             t = step - W, T = total_steps - W (W warm-up steps), so
                             lr reaches lr_min at total_steps and stays there */
} mdl_sched_kind_t;

typedef struct {
    mdl_sched_kind_t kind;
    float lr0;                 /* base rate */
    float lr_min;              /* COSINE floor */
    float gamma;               /* STEP factor in (0, 1] */
    int n_milestones;          /* STEP */
    double milestones[MDL_SCHED_MAX_MILESTONES]; /* STEP: epochs, ascending; epoch e
                                  takes effect at step ceil(e * steps_per_epoch) */
    double warmup_epochs;      /* linear warm-up over W = ceil(warmup_epochs *
                                  steps_per_epoch) steps, any kind: lr(step) is the
                                  schedule's rate times (step + 1)/W for step < W, so
                                  it starts at lr0/W and reaches lr0 at step W - 1;
                                  0 = none */
    uint64_t steps_per_epoch;  /* > 0 */
    uint64_t total_steps;      /* COSINE horizon: the whole run, warm-up included */
} mdl_sched_t;

/* Parses "constant", "cosine", "step:GAMMA:E1,E2,..." (decay by GAMMA at each epoch
   milestone) into s (other fields untouched). GAMMA must be in (0, 1]; the milestones
   positive, finite, strictly ascending, 1 to MDL_SCHED_MAX_MILESTONES of them; no
   blanks anywhere. Returns 0 or MDL_EINVAL; on failure s is untouched. */
int mdl_sched_parse (const char *spec, mdl_sched_t *s);

/* Learning rate at step (0-based). */
float mdl_sched_lr (const mdl_sched_t *s, uint64_t step);

/* Number of step decays passed at step (0 before the first decay; always 0 for
   CONSTANT, and for COSINE 0 during warm-up and the first half of its horizon, 1 from
   step W + ceil(T/2) on). Warm-up does not change the phase of STEP. Consensus control
   uses it to know the "phase" of training. */
int mdl_sched_phase (const mdl_sched_t *s, uint64_t step);

#endif
