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

/* The "learner" record: u32 layout version, then u64 steps, optimizer steps, epochs
   started, cursor, shard rows, rows digest, and the four words of the order's rng. */
#define S_REC_VERSION 1
#define S_REC_LEN (4 + 8 * 6 + 8 * 4)

/* A digest of the shard's set of rows, independent of their order: the sum of a 64-bit
   mix of each row number. */
static uint64_t
s_rows_digest (const uint32_t *rows, size_t n)
{
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t z = (uint64_t) rows[i] + 0x9e3779b97f4a7c15ULL;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        h += z ^ (z >> 31);
    }
    return h;
}

static void
s_put64 (uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static uint64_t
s_get64 (const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t) p[i] << (8 * i);
    return v;
}

int
mdl_learner_save (const mdl_learner_t *l, mdl_ckpt_image_t *img)
{
    size_t olen = 0;
    const float *ost = mdl_optim_state (l->optim, &olen);
    uint8_t rec[S_REC_LEN];
    rec[0] = S_REC_VERSION;
    rec[1] = rec[2] = rec[3] = 0;
    const uint64_t f[10] = { l->steps, mdl_optim_steps (l->optim), l->epochs_started, l->cursor, l->nrows,
                             s_rows_digest (l->rows, l->nrows), l->rng.s[0], l->rng.s[1], l->rng.s[2], l->rng.s[3] };
    for (int i = 0; i < 10; i++)
        s_put64 (rec + 4 + 8 * i, f[i]);
    int rc = mdl_ckpt_image_add (img, "params", MDL_CKPT_F32, mdl_model_params (l->model), mdl_model_nparams (l->model));
    if (!rc)
        rc = mdl_ckpt_image_add (img, "optim", MDL_CKPT_F32, ost, olen);
    if (!rc)
        rc = mdl_ckpt_image_add (img, "learner", MDL_CKPT_BYTES, rec, sizeof rec);
    if (!rc) {
        /* little-endian u32s, as every field of a checkpoint */
        uint8_t *order = malloc (l->nrows * 4);
        if (!order)
            return MDL_ENOMEM;
        for (size_t i = 0; i < l->nrows; i++)
            for (int k = 0; k < 4; k++)
                order[4 * i + k] = (uint8_t) (l->rows[i] >> (8 * k));
        rc = mdl_ckpt_image_add (img, "learner.order", MDL_CKPT_BYTES, order, l->nrows * 4);
        free (order);
    }
    return rc;
}

int
mdl_learner_restore (mdl_learner_t *l, const mdl_ckpt_image_t *img, bool *position)
{
    const size_t d = mdl_model_nparams (l->model);
    size_t olen = 0;
    float *ost = mdl_optim_state (l->optim, &olen);
    uint8_t rec[S_REC_LEN];
    mdl_ckpt_kind_t kind;
    uint64_t n = 0;
    /* Check everything before changing anything. */
    if (!mdl_ckpt_image_has (img, "params", &kind, &n) || kind != MDL_CKPT_F32 || n != d
        || !mdl_ckpt_image_has (img, "optim", &kind, &n) || kind != MDL_CKPT_F32 || n != olen
        || mdl_ckpt_image_get (img, "learner", MDL_CKPT_BYTES, rec, sizeof rec) || rec[0] != S_REC_VERSION)
        return MDL_ECKPT_MODEL;
    uint64_t f[10];
    for (int i = 0; i < 10; i++)
        f[i] = s_get64 (rec + 4 + 8 * i);
    uint32_t *order = NULL;
    bool same = f[4] == l->nrows && f[5] == s_rows_digest (l->rows, l->nrows) && f[3] <= l->nrows;
    if (same) {
        uint8_t *raw = malloc (l->nrows * 4); /* nrows >= 1: mdl_learner_new refuses an empty shard */
        order = malloc (l->nrows * sizeof *order);
        if (!raw || !order || mdl_ckpt_image_get (img, "learner.order", MDL_CKPT_BYTES, raw, l->nrows * 4)) {
            free (raw);
            free (order);
            return MDL_ECKPT_MODEL;
        }
        for (size_t i = 0; i < l->nrows; i++)
            order[i] = (uint32_t) raw[4 * i] | (uint32_t) raw[4 * i + 1] << 8 | (uint32_t) raw[4 * i + 2] << 16
                       | (uint32_t) raw[4 * i + 3] << 24;
        free (raw);
        /* the saved order must be a permutation of this shard's rows */
        if (s_rows_digest (order, l->nrows) != f[5]) {
            free (order);
            same = false;
        }
    }
    mdl_ckpt_image_get (img, "params", MDL_CKPT_F32, mdl_model_params (l->model), d);
    if (olen)
        mdl_ckpt_image_get (img, "optim", MDL_CKPT_F32, ost, olen);
    l->steps = f[0];
    mdl_optim_set_steps (l->optim, f[1]);
    if (same) {
        memcpy (l->rows, order, l->nrows * sizeof *order);
        l->epochs_started = f[2];
        l->cursor = (size_t) f[3];
        for (int i = 0; i < 4; i++)
            l->rng.s[i] = f[6 + i];
        free (order);
    }
    if (position)
        *position = same;
    return 0;
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
    mdl_learner_apply_to (l, mdl_model_params (l->model));
}

void
mdl_learner_apply_to (mdl_learner_t *l, float *out)
{
    mdl_optim_step_to (l->optim, mdl_model_params (l->model), mdl_model_grads (l->model), mdl_learner_lr (l), out);
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

/* The rows an evaluation gathers at once: whole chunks, about 8 MB of inputs. Each model
   evaluated takes its parameters once per block, not once per chunk. */
static size_t
s_eval_block (size_t chunk, size_t dim, size_t n)
{
    size_t chunks = ((size_t) 8 << 20) / (chunk * (dim ? dim : 1) * sizeof (float));
    chunks = chunks ? chunks : 1;
    const size_t rows = chunks * chunk;
    return rows < n ? rows : n;
}

int
mdl_learner_evaluate_many (mdl_learner_t *l, const float *const *params, size_t k, const mdl_dataset_t *ds,
                           size_t max_rows, double *loss, double *acc)
{
    bool foreign = false, own = false;
    for (size_t j = 0; j < k; j++)
        foreign |= params[j] != NULL, own |= params[j] == NULL;
    if (foreign && !l->eval) {
        int rc;
        if (!(l->eval = mdl_model_new (mdl_model_spec (l->model), 0, &rc)))
            return rc;
    }
    const size_t chunk = 256, dim = mdl_dataset_dim (ds);
    size_t n = mdl_dataset_n (ds);
    if (max_rows && max_rows < n)
        n = max_rows;
    if ((own && mdl_model_reserve (l->model, chunk)) || (foreign && mdl_model_reserve (l->eval, chunk)))
        return MDL_ENOMEM;
    const int regression = mdl_model_is_regression (l->model);
    if (regression && !mdl_dataset_targets (ds))
        return MDL_ESHAPE;
    /* Evaluation runs once per epoch, so its buffers are allocated here, not in the
       learner: they would double the learner's resident memory for nothing. */
    const size_t block = s_eval_block (chunk, dim, n), cap = block ? block : 1;
    float *xb = malloc (cap * dim * sizeof *xb);
    int32_t *yb = malloc (cap * sizeof *yb);
    uint32_t *idx = malloc (cap * sizeof *idx);
    float *tb = regression ? malloc (cap * sizeof *tb) : NULL;
    double *total = calloc (k ? k : 1, sizeof *total);
    size_t *correct = calloc (k ? k : 1, sizeof *correct);
    int rc = xb && yb && idx && total && correct && (!regression || tb) ? 0 : MDL_ENOMEM;
    /* Each model's sums run over the chunks in order, whatever the block size: the
       results are those of evaluating the models one at a time. */
    for (size_t at = 0; rc == 0 && at < n; at += block) {
        const size_t rows = n - at < block ? n - at : block;
        for (size_t i = 0; i < rows; i++)
            idx[i] = (uint32_t) (at + i);
        mdl_dataset_gather (ds, idx, rows, xb, yb);
        s_map_labels (l->label_map, yb, rows);
        if (tb)
            mdl_dataset_gather_targets (ds, idx, rows, tb);
        for (size_t j = 0; j < k; j++) {
            mdl_model_t *m = params[j] ? l->eval : l->model;
            if (params[j])
                mdl_vec_copy (mdl_model_params (m), params[j], mdl_model_nparams (m));
            for (size_t c = 0; c < rows; c += chunk) {
                const size_t b = rows - c < chunk ? rows - c : chunk;
                mdl_model_forward (m, xb + c * dim, b);
                size_t ok = 0;
                total[j] += (double) mdl_model_loss (m, yb + c, tb ? tb + c : NULL, b, &ok) * (double) b;
                correct[j] += ok;
            }
        }
    }
    for (size_t j = 0; rc == 0 && j < k; j++) {
        loss[j] = n ? total[j] / (double) n : 0.0;
        acc[j] = n ? (double) correct[j] / (double) n : 0.0;
    }
    free (xb);
    free (yb);
    free (idx);
    free (tb);
    free (total);
    free (correct);
    return rc;
}

int
mdl_learner_evaluate (mdl_learner_t *l, const float *params, const mdl_dataset_t *ds, size_t max_rows, double *loss,
                      double *acc)
{
    const float *const one[1] = { params };
    return mdl_learner_evaluate_many (l, one, 1, ds, max_rows, loss, acc);
}

size_t
mdl_learner_dim (const mdl_learner_t *l)
{
    return mdl_model_nparams (l->model);
}

int
mdl_learner_checkpoint (mdl_learner_t *l, const char *path, uint64_t epoch)
{
    size_t slen = 0;
    float *state = mdl_optim_state (l->optim, &slen);
    mdl_ckpt_t ck = { .spec = mdl_model_spec (l->model), .params = mdl_model_params (l->model),
                      .d = mdl_model_nparams (l->model), .opt_state = state, .opt_len = slen,
                      .step = l->steps, .epoch = epoch };
    return mdl_ckpt_save (path, &ck);
}

int
mdl_learner_resume (mdl_learner_t *l, const char *path, uint64_t *epoch)
{
    size_t slen = 0;
    float *state = mdl_optim_state (l->optim, &slen);
    uint64_t step = 0;
    int rc = mdl_ckpt_load (path, mdl_model_spec (l->model), mdl_model_params (l->model), mdl_model_nparams (l->model),
                            state, slen, &step, epoch);
    if (rc)
        return rc;
    mdl_learner_set_steps (l, step);
    mdl_optim_set_steps (l->optim, step);
    return 0;
}
