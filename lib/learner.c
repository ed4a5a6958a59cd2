/*  learner.c: minibatch SGD over one shard (see learner.h). */
#include "learner.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "rng.h"
#include "vec.h"

struct mdl_learner_t {
    mdl_model_t *model;
    mdl_model_t *eval;          /* lazily made twin for evaluating foreign params */
    mdl_optim_t *optim;
    mdl_sched_t sched;
    const mdl_dataset_t *data;
    uint32_t *rows;             /* (nrows) this shard, visited in a shuffled order */
    size_t nrows;
    size_t cursor;              /* next position in rows */
    uint64_t epochs_started;
    size_t batch;
    float *xb;                  /* (batch, dim) gathered minibatch */
    int32_t *yb;                /* (batch) */
    const int32_t *label_map;   /* concept drift: y -> label_map[y] (NULL: none) */
    float *tb;                  /* (batch) regression targets, NULL for classification */
    mdl_rng_t rng;              /* minibatch order */
    uint64_t steps;
};

mdl_learner_t *
mdl_learner_new (const mdl_learner_cfg_t *cfg, const mdl_dataset_t *train,
                 const uint32_t *rows, size_t nrows, int *err)
{
    int rc = MDL_ENOMEM;
    mdl_learner_t *l = calloc (1, sizeof *l);
    if (!l)
        goto err;
    const size_t n = mdl_dataset_n (train);
    if (!rows)
        nrows = n;
    rc = MDL_EINVAL;
    if (cfg->batch == 0 || nrows == 0 || nrows > UINT32_MAX)
        goto err;
    if (!(l->model = mdl_model_new (cfg->spec, cfg->seed, &rc)))
        goto err;
    rc = MDL_ESHAPE;
    if (mdl_model_in_dim (l->model) != mdl_dataset_dim (train))
        goto err;
    /* A regression model needs targets; a classifier on regression data would learn
       the group ids, which is never what was meant. */
    if (mdl_model_is_regression (l->model) != (mdl_dataset_targets (train) != NULL))
        goto err;
    if (!mdl_model_is_regression (l->model)
        && (int) mdl_model_out_dim (l->model) < mdl_dataset_classes (train))
        goto err;
    if (!(l->optim = mdl_optim_new (&cfg->opt, mdl_model_nparams (l->model), &rc)))
        goto err;
    rc = MDL_ENOMEM;
    l->data = train;
    l->nrows = nrows;
    /* A batch larger than the shard is clamped: a step never sees a row twice. */
    l->batch = cfg->batch < nrows ? cfg->batch : nrows;
    if (!(l->rows = malloc (nrows * sizeof *l->rows)))
        goto err;
    for (size_t i = 0; i < nrows; i++) {
        l->rows[i] = rows ? rows[i] : (uint32_t) i;
        if (l->rows[i] >= n) {
            rc = MDL_EINVAL;
            goto err;
        }
    }
    l->xb = malloc (l->batch * mdl_dataset_dim (train) * sizeof *l->xb);
    l->yb = malloc (l->batch * sizeof *l->yb);
    if (mdl_model_is_regression (l->model) && !(l->tb = malloc (l->batch * sizeof *l->tb)))
        goto err;
    if (!l->xb || !l->yb || mdl_model_reserve (l->model, l->batch))
        goto err;
    l->sched = cfg->sched;
    if (l->sched.steps_per_epoch == 0)
        l->sched.steps_per_epoch = nrows / l->batch; /* the short tail is skipped */
    if (l->sched.total_steps == 0)
        l->sched.total_steps = l->sched.steps_per_epoch * (uint64_t) (cfg->epochs > 0 ? cfg->epochs : 1);
    mdl_rng_seed (&l->rng, cfg->data_seed, 0xda7a);
    l->cursor = nrows; /* first step shuffles */
    return l;
err:
    if (err)
        *err = rc;
    mdl_learner_destroy (&l);
    return NULL;
}

void
mdl_learner_destroy (mdl_learner_t **pl)
{
    if (!pl || !*pl)
        return;
    mdl_learner_t *l = *pl;
    mdl_model_destroy (&l->model);
    mdl_model_destroy (&l->eval);
    mdl_optim_destroy (&l->optim);
    free (l->rows);
    free (l->xb);
    free (l->yb);
    free (l->tb);
    free (l);
    *pl = NULL;
}

mdl_model_t *mdl_learner_model (mdl_learner_t *l) { return l->model; }
mdl_optim_t *mdl_learner_optim (mdl_learner_t *l) { return l->optim; }
const mdl_sched_t *mdl_learner_sched (const mdl_learner_t *l) { return &l->sched; }
uint64_t mdl_learner_steps (const mdl_learner_t *l) { return l->steps; }
void mdl_learner_set_steps (mdl_learner_t *l, uint64_t s) { l->steps = s; }
size_t mdl_learner_rows (const mdl_learner_t *l) { return l->nrows; }
uint64_t mdl_learner_steps_per_epoch (const mdl_learner_t *l) { return l->sched.steps_per_epoch; }

float
mdl_learner_lr (const mdl_learner_t *l)
{
    return mdl_sched_lr (&l->sched, l->steps);
}

double
mdl_learner_epoch (const mdl_learner_t *l)
{
    return (double) l->steps / (double) l->sched.steps_per_epoch;
}

static void
s_map_labels (const int32_t *map, int32_t *y, size_t n)
{
    if (map)
        for (size_t i = 0; i < n; i++)
            y[i] = map[y[i]];
}

void
mdl_learner_set_label_map (mdl_learner_t *l, const int32_t *map)
{
    l->label_map = map;
}

void
mdl_label_map_rotate (int32_t *map, int classes)
{
    for (int c = 0; c < classes; c++)
        map[c] = (c + 1) % classes;
}

int
mdl_learner_grad (mdl_learner_t *l, float *loss)
{
    /* Sampling without replacement within an epoch: reshuffle when the shard is used up;
       a short tail is skipped, not wrapped, so every batch has the full size. */
    if (l->cursor + l->batch > l->nrows) {
        mdl_rng_shuffle (&l->rng, l->rows, l->nrows);
        l->cursor = 0;
        l->epochs_started++;
    }
    mdl_dataset_gather (l->data, l->rows + l->cursor, l->batch, l->xb, l->yb);
    s_map_labels (l->label_map, l->yb, l->batch);
    if (l->tb)
        mdl_dataset_gather_targets (l->data, l->rows + l->cursor, l->batch, l->tb);
    l->cursor += l->batch;
    mdl_model_forward (l->model, l->xb, l->batch);
    float f = mdl_model_backward (l->model, l->yb, l->tb, l->batch);
    if (loss)
        *loss = f;
    return isfinite (f) ? 0 : MDL_ENONFINITE;
}

void
mdl_learner_apply (mdl_learner_t *l)
{
    mdl_optim_step (l->optim, mdl_model_params (l->model), mdl_model_grads (l->model),
                    mdl_learner_lr (l));
    l->steps++;
}

int
mdl_learner_step (mdl_learner_t *l, float *loss)
{
    int rc = mdl_learner_grad (l, loss);
    if (rc == 0)
        mdl_learner_apply (l);
    return rc;
}

int
mdl_learner_evaluate (mdl_learner_t *l, const float *params, const mdl_dataset_t *ds,
                      size_t max_rows, double *loss, double *acc)
{
    mdl_model_t *m = l->model;
    if (params) {
        if (!l->eval) {
            int rc;
            if (!(l->eval = mdl_model_new (mdl_model_spec (l->model), 0, &rc)))
                return rc;
        }
        m = l->eval;
        mdl_vec_copy (mdl_model_params (m), params, mdl_model_nparams (m));
    }
    const size_t chunk = 256, dim = mdl_dataset_dim (ds);
    size_t n = mdl_dataset_n (ds);
    if (max_rows && max_rows < n)
        n = max_rows;
    if (mdl_model_reserve (m, chunk))
        return MDL_ENOMEM;
    /* Evaluation runs once per epoch, so its buffer is allocated here, not in the
       learner: it would double the learner's resident memory for nothing. */
    float *xb = malloc (chunk * dim * sizeof *xb);
    int32_t *yb = malloc (chunk * sizeof *yb);
    uint32_t *idx = malloc (chunk * sizeof *idx);
    const int regression = mdl_model_is_regression (m);
    if (regression && !mdl_dataset_targets (ds)) {
        free (xb); free (yb); free (idx);
        return MDL_ESHAPE;
    }
    float *tb = regression ? malloc (chunk * sizeof *tb) : NULL;
    if (!xb || !yb || !idx || (regression && !tb)) {
        free (xb); free (yb); free (idx); free (tb);
        return MDL_ENOMEM;
    }
    double total = 0.0;
    size_t correct = 0;
    for (size_t at = 0; at < n; at += chunk) {
        size_t b = n - at < chunk ? n - at : chunk;
        for (size_t i = 0; i < b; i++)
            idx[i] = (uint32_t) (at + i);
        mdl_dataset_gather (ds, idx, b, xb, yb);
        s_map_labels (l->label_map, yb, b);
        if (tb)
            mdl_dataset_gather_targets (ds, idx, b, tb);
        mdl_model_forward (m, xb, b);
        size_t ok = 0;
        total += (double) mdl_model_loss (m, yb, tb, b, &ok) * (double) b;
        correct += ok;
    }
    free (xb); free (yb); free (idx); free (tb);
    *loss = n ? total / (double) n : 0.0;
    *acc = n ? (double) correct / (double) n : 0.0;
    return 0;
}
