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
    MDL_SCHED_CLR = 3,    /* triangular cyclical rate (Smith, WACV 2017): with T =
                             ceil(clr_period * steps_per_epoch) steps per cycle and
                             u = (step mod T) / T, lr_min + (lr0 - lr_min)(1 - |2u - 1|):
                             lr_min at the start of every cycle, lr0 (the maximum) half
                             way, back down to lr_min at its end */
} mdl_sched_kind_t;

typedef struct {
    mdl_sched_kind_t kind;
    float lr0;                 /* base rate (CLR: the maximum) */
    float lr_min;              /* COSINE floor, CLR minimum */
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
    double clr_period;         /* CLR: epochs per cycle, > 0 */
} mdl_sched_t;

/* Parses "constant", "cosine", "step:GAMMA:E1,E2,..." (decay by GAMMA at each epoch
   milestone) or "clr:MIN:MAX:PERIOD" (triangular cyclical rate between MIN and MAX,
   PERIOD epochs per cycle; sets lr_min = MIN and lr0 = MAX, which the spec then owns)
   into s (other fields untouched). GAMMA must be in (0, 1]; the milestones positive,
   finite, strictly ascending, 1 to MDL_SCHED_MAX_MILESTONES of them; CLR needs
   0 <= MIN < MAX and PERIOD > 0; no blanks anywhere. Returns 0 or MDL_EINVAL; on
   failure s is untouched. */
int mdl_sched_parse (const char *spec, mdl_sched_t *s);

/* Learning rate at step (0-based). */
float mdl_sched_lr (const mdl_sched_t *s, uint64_t step);

/* Number of step decays passed at step (0 before the first decay; always 0 for
   CONSTANT and CLR, and for COSINE 0 during warm-up and the first half of its horizon, 1 from
   step W + ceil(T/2) on). Warm-up does not change the phase of STEP. Consensus control
   uses it to know the "phase" of training. */
int mdl_sched_phase (const mdl_sched_t *s, uint64_t step);

#endif
