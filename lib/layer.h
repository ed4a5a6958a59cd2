/*  layer.h: the internal layer interface of lib/ (not used above lib/).

    A layer is a table of operations plus its shapes and the offset of its parameters in
    the model's flat vector. Activations are per-sample contiguous rows: a batch of B
    inputs is (B, in_size), NCHW for images. Workspaces a layer needs (im2col columns,
    pooling arg-max) are sized once by reserve(); forward/backward never allocate. */
#ifndef MDL_LAYER_H
#define MDL_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

typedef struct mdl_layer_t mdl_layer_t;

typedef enum { MDL_INIT_NONE, MDL_INIT_HE, MDL_INIT_XAVIER } mdl_init_t;

typedef struct {
    /* out (B, out_size) from in (B, in_size) */
    void (*forward) (mdl_layer_t *l, const float *params, const float *in, float *out,
                     size_t B);
    /* Writes this layer's parameter gradients at grads (overwriting) and, when din is not
       NULL, d(loss)/d(in). in/out are the values of the forward pass. */
    void (*backward) (mdl_layer_t *l, const float *params, float *grads, const float *in,
                      const float *out, const float *dout, float *din, size_t B);
    /* Sizes per-batch workspaces for batches of up to B; 0 or MDL_ENOMEM. */
    int (*reserve) (mdl_layer_t *l, size_t B);
    /* Initialises this layer's parameters (at params) from rng. */
    void (*init) (mdl_layer_t *l, float *params, mdl_rng_t *rng);
    void (*destroy) (mdl_layer_t *l);
} mdl_layer_ops_t;

struct mdl_layer_t {
    const mdl_layer_ops_t *ops;
    char name[64];
    size_t in_size, out_size;  /* per sample */
    size_t poff, pcount;       /* parameters: [poff, poff + pcount) of the flat vector */
    int c, h, w;               /* input shape (images) */
    int oc, oh, ow;            /* output shape (images) */
    int k, pad;                /* conv kernel size and padding; pool window */
    int in_features, out_features; /* dense */
    mdl_init_t init_kind;      /* chosen by the model from the next activation */
    float *ws;                 /* workspace (im2col columns) */
    size_t ws_len;
    int32_t *argmax;           /* max-pool: index of the max within the input, per output */
    size_t argmax_len;
};

/* Constructors fill l (zeroed by the caller) and return 0 or MDL_ESPEC on bad shapes. */
int mdl_layer_dense (mdl_layer_t *l, int in, int out);
int mdl_layer_conv2d (mdl_layer_t *l, int c, int h, int w, int oc, int k, int pad);
int mdl_layer_maxpool (mdl_layer_t *l, int c, int h, int w, int k);
int mdl_layer_relu (mdl_layer_t *l, size_t size);
int mdl_layer_tanh (mdl_layer_t *l, size_t size);
int mdl_layer_flatten (mdl_layer_t *l, int c, int h, int w);

/* Losses on the last layer's outputs (B, C). Each returns the mean loss over the batch
   and, when dlogits is not NULL, writes d(mean loss)/d(logits). */
float mdl_loss_softmax_xent (const float *logits, const int32_t *labels, size_t B, size_t C,
                             float *dlogits, size_t *correct);
float mdl_loss_mse (const float *pred, const float *targets, size_t B, float *dpred);
/* Distillation: the mean over the B rows of KL(q_r || softmax(logits_r)), q a row of
   target probabilities (C each, >= 0); dlogits as above, probs (may be NULL) gets the
   softmax of the logits. */
float mdl_loss_softmax_kl (const float *logits, const float *q, size_t B, size_t C, float *dlogits, float *probs);

/* Naive references for the fast kernels, used by the tests. */
void mdl_ref_dense_forward (const float *W, const float *b, const float *x, float *y,
                            size_t B, size_t in, size_t out);
void mdl_ref_conv2d_forward (const float *W, const float *b, const float *x, float *y,
                             size_t B, int c, int h, int w, int oc, int k, int pad);

#endif
