/*  optim.h: optimizers over a flat parameter vector.

    The state (momentum buffer, Adam moments) is one flat float vector with the layout of
    the parameters, so the step is one loop and a checkpoint saves it as a vector. */
#ifndef MDL_OPTIM_H
#define MDL_OPTIM_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    MDL_OPT_SGD = 0,
    MDL_OPT_MOMENTUM = 1, /* heavy-ball: m = mu*m + g; x -= lr*m */
    MDL_OPT_NESTEROV = 2, /* m = mu*m + g; x -= lr*(g + mu*m) */
    MDL_OPT_ADAM = 3,     /* Kingma & Ba, bias-corrected; weight decay added to g */
    MDL_OPT_ADAMW = 4,    /* Adam with decoupled weight decay: x -= lr*wd*x */
    MDL_OPT_ACCUMADAM = 5,/* Wang et al.'s AccumAdam (Decent-DP): Adam whose moments advance
                             once per `accum` steps, on the mean gradient of those steps */
} mdl_opt_kind_t;

typedef struct {
    mdl_opt_kind_t kind;
    float momentum;     /* mu in [0, 1) for MOMENTUM/NESTEROV */
    float beta1, beta2; /* Adam, in [0, 1) */
    float eps;          /* Adam, > 0 */
    float weight_decay; /* >= 0; L2 coupled into g except for ADAMW */
    uint32_t accum;     /* ACCUMADAM: steps per moment update, >= 1 (others ignore it) */
} mdl_opt_cfg_t;

typedef struct mdl_optim_t mdl_optim_t;

/* Fills cfg with the defaults for kind (momentum 0.9, betas 0.9/0.999, eps 1e-8, wd 0,
   accum 4 as in Decent-DP). */
void mdl_opt_defaults (mdl_opt_cfg_t *cfg, mdl_opt_kind_t kind);

/* Parses "sgd", "momentum", "nesterov", "adam", "adamw", "accumadam". Returns 0 or
   MDL_EINVAL. */
int mdl_opt_parse (const char *name, mdl_opt_kind_t *kind);

/* Name of kind, e.g. "adam". */
const char *mdl_opt_name (mdl_opt_kind_t kind);

/* Checks cfg's ranges: a known kind, momentum, beta1, beta2 in [0, 1), eps > 0 and
   finite, weight_decay >= 0 and finite, accum in [1, 2^20]. Every field is checked whatever the kind (the
   defaults are all valid). Returns 0 or MDL_ERANGE. */
int mdl_opt_check (const mdl_opt_cfg_t *cfg);

/* Makes an optimizer for d parameters, state zeroed. NULL + *err on failure
   (MDL_ERANGE for a bad cfg, MDL_ENOMEM). Caller owns and destroys it. */
mdl_optim_t *mdl_optim_new (const mdl_opt_cfg_t *cfg, size_t d, int *err);
void mdl_optim_destroy (mdl_optim_t **o);

/* One step: x <- x - lr * update(g). g is not modified. No allocation. */
void mdl_optim_step (mdl_optim_t *o, float *x, const float *g, float lr);

/* The same step written to out instead of x (x is not modified): out <- x - lr *
   update(g), the state advanced as by mdl_optim_step, bit for bit. out may be x. It
   lets the step write where its result is needed (an outgoing message) without a copy
   of x: for SGD, momentum and Nesterov one pass; the Adam family copies x first. */
void mdl_optim_step_to (mdl_optim_t *o, const float *x, const float *g, float lr, float *out);

/* The flat state vector (for checkpoints and for algorithms that read momentum) and its
   length: 0 for SGD (and NULL is returned), d for momentum and Nesterov, 2d for Adam and
   AdamW (m then v), 3d for AccumAdam (m, v, then the gradient sum of the open window). The optimizer owns it. */
float *mdl_optim_state (mdl_optim_t *o, size_t *len);

/* Steps taken (Adam's bias correction uses it); settable when restoring a checkpoint. */
uint64_t mdl_optim_steps (const mdl_optim_t *o);
void mdl_optim_set_steps (mdl_optim_t *o, uint64_t t);

/* Zeroes the state and the step count. */
void mdl_optim_reset (mdl_optim_t *o);

#endif
