/*  model.h: a neural network whose parameters are ONE flat float vector.

    A model is built from a short spec string; its layers hold offsets into the parameter
    vector (and the same offsets into the gradient vector). Everything above lib/ sees
    only mdl_model_params()/mdl_model_grads() and their length d.

    Specs:
      mlp:IN-H1-...-OUT     dense layers with ReLU between them (e.g. mlp:784-256-128-10);
                            mlp:IN-OUT is multinomial logistic regression
      cnn                   LeNet-style for 28x28x1: cnn:16-32-128
      cnn:C1-C2-H           conv5x5(C1,pad 2)-ReLU-maxpool2-conv5x5(C2,pad 2)-ReLU-maxpool2
                            -dense(H)-ReLU-dense(10)
      ...,act=tanh          suffix: tanh instead of ReLU between layers
      linreg:D              least squares: one dense D->1 layer, mean-squared-error loss
    Classification models end in softmax cross-entropy. */
#ifndef MDL_MODEL_H
#define MDL_MODEL_H

#include <stddef.h>
#include <stdint.h>

typedef struct mdl_model_t mdl_model_t;

/* Builds the model for spec and initialises its parameters from seed (He init before
   ReLU, Xavier before tanh/softmax; biases zero). NULL + *err (MDL_ESPEC, MDL_ENOMEM).
   Caller owns the return value and must destroy it. */
mdl_model_t *mdl_model_new (const char *spec, uint64_t seed, int *err);

/* Checks spec without building the model: 0 and *d (its number of parameters, when d is
   not NULL), or MDL_ESPEC / MDL_ENOMEM as mdl_model_new would fail. No parameter vector
   is allocated or initialised (an option check of a 20 M-parameter model cost a second of
   CPU and 160 MB of page faults before). */
int mdl_model_check (const char *spec, size_t *d);

/* Destroys m and sets *m to NULL; safe on NULL. */
void mdl_model_destroy (mdl_model_t **m);

/* Re-initialises all parameters from seed (same rule as mdl_model_new). */
void mdl_model_init (mdl_model_t *m, uint64_t seed);

const char *mdl_model_spec (const mdl_model_t *m);
size_t mdl_model_nparams (const mdl_model_t *m);
size_t mdl_model_in_dim (const mdl_model_t *m);
/* number of outputs: classes, or 1 for regression */
size_t mdl_model_out_dim (const mdl_model_t *m);
/* 1 when the loss is mean-squared error on a scalar target (linreg) */
int mdl_model_is_regression (const mdl_model_t *m);
float *mdl_model_params (mdl_model_t *m); /* (d) */
float *mdl_model_grads (mdl_model_t *m);  /* (d), same layout */
/* The parameters live in p (d floats of the caller's, which must stay valid while the
   model uses them) from now on; p == NULL: in the model's own array again
   (mdl_model_own_params). Nothing is copied: the caller moves the values. For a worker
   whose parameters are the buffer of its outgoing message (agents/fused.c). */
void mdl_model_use_params (mdl_model_t *m, float *p);
float *mdl_model_own_params (mdl_model_t *m);
/* The gradient of the next backward pass goes to g (d floats of the caller's; NULL: the
   model's own array again). A backward pass writes every element (no accumulation), so g
   needs no zeroing. For a worker that lends the buffer its next x will be mixed into
   (agents/fused.c). */
void mdl_model_use_grads (mdl_model_t *m, float *g);
/* number of layers and a short description of layer i ("dense 784->256", ...) */
size_t mdl_model_nlayers (const mdl_model_t *m);
const char *mdl_model_layer_name (const mdl_model_t *m, size_t i);

/* Sizes the activation workspaces for minibatches of up to batch rows. Called once
   before training; forward/backward never allocate. Returns 0 or MDL_ENOMEM. */
int mdl_model_reserve (mdl_model_t *m, size_t batch);

/* Forward pass on x (batch, in_dim); batch must be <= the reserved size.
   Returns a pointer to the outputs (batch, out_dim), valid until the next call. */
const float *mdl_model_forward (mdl_model_t *m, const float *x, size_t batch);

/* After mdl_model_forward on the same batch: computes the mean loss over the batch
   (softmax cross-entropy with integer labels, or MSE with float targets passed as
   labels == NULL and targets != NULL), then back-propagates, OVERWRITING the gradient
   vector with d(mean loss)/d(params). Returns the loss (may be NaN/Inf: callers check). */
float mdl_model_backward (mdl_model_t *m, const int32_t *labels, const float *targets,
                          size_t batch);

/* Output probabilities on x (batch, in_dim): the softmax of the outputs, (batch,
   out_dim) into probs (regression: the predictions, batch floats). Runs a forward pass. */
void mdl_model_predict (mdl_model_t *m, const float *x, size_t batch, float *probs);

/* Distillation toward target probabilities q (batch, out_dim; rows >= 0 summing to 1):
   forward on x, then the mean over rows of KL(q_r || softmax(out_r)), back-propagated,
   OVERWRITING the gradient vector with its gradient (d/d logits = (p - q) / batch).
   probs (may be NULL) gets the model's own probabilities. Returns the loss, or NaN for a
   regression model (nothing is computed). */
float mdl_model_distill (mdl_model_t *m, const float *x, const float *q, size_t batch, float *probs);

/* Mean loss of the last forward pass without back-propagation; *correct gets the number
   of rows whose arg-max equals the label (classification only, may be NULL). */
float mdl_model_loss (mdl_model_t *m, const int32_t *labels, const float *targets,
                      size_t batch, size_t *correct);

#endif
