/*  workerckpt.c: the worker's state as a checkpoint image, built at a step boundary (the
    only moment when the learner, the optimizer and the algorithm agree): periodic and
    final checkpoints, and (snapshot.h) what a newcomer receives; and the algorithm's
    state restored from a resumed or received image when the worker starts. */
#include <math.h>
#include <string.h>

#include "err.h"
#include "worker_impl.h"

mdl_ckpt_image_t *
mdl_worker_image (mdl_ctx_t *c, int *err)
{
    mdl_agent_t *a = c->a;
    mdl_learner_t *l = a->learner;
    mdl_ckpt_image_t *img = mdl_ckpt_image_new (mdl_model_spec (mdl_learner_model (l)), a->algo->name,
                                                mdl_learner_steps (l), (uint64_t) floor (mdl_learner_epoch (l)), err);
    if (!img)
        return NULL;
    int rc = mdl_learner_save (l, img);
    if (rc == 0 && a->algo->save)
        rc = a->algo->save (c->state, c, img);
    if (rc == 0)
        (void) mdl_ckpt_image_size (img); /* seal it here, on the worker: readers only read */
    if (rc) {
        mdl_ckpt_image_destroy (&img);
        *err = rc;
    }
    return img;
}

int
mdl_worker_restore_algo (mdl_ctx_t *c)
{
    mdl_agent_t *a = c->a;
    if (!a->resume)
        return 0;
    int rc = a->algo->restore ? a->algo->restore (c->state, c, a->resume) : 0;
    if (rc)
        mdl_agent_log (a, "cannot restore the state of --algo %s from the checkpoint: %s", a->algo->name,
                       mdl_strerror (rc));
    mdl_ckpt_image_destroy (&a->resume);
    return rc;
}

/* Posts an image of the current state to the writer; counts what was written. */
static void
s_post (mdl_ctx_t *c)
{
    mdl_agent_t *a = c->a;
    int rc = 0;
    mdl_ckpt_image_t *img = mdl_worker_image (c, &rc);
    if (!img) {
        mdl_agent_log (a, "cannot build a checkpoint at step %llu: %s", (unsigned long long) mdl_learner_steps (a->learner),
                       mdl_strerror (rc));
        return;
    }
    mdl_ckptwriter_post (a->ckpt, &img);
}

static void
s_count (mdl_agent_t *a)
{
    mdl_ckptwriter_stats_t ws;
    mdl_ckptwriter_stats (a->ckpt, &ws);
    pthread_mutex_lock (&a->stats_lock);
    a->stats.checkpoints = ws.written;
    a->stats.checkpoint_step = ws.last_step;
    a->stats.checkpoint_error = ws.last_error;
    pthread_mutex_unlock (&a->stats_lock);
}

void
mdl_worker_checkpoint_point (mdl_ctx_t *c, uint64_t done)
{
    mdl_agent_t *a = c->a;
    if (!a->ckpt)
        return;
    s_count (a);
    if (a->ckpt_every && done > c->ckpt_last && done % a->ckpt_every == 0) {
        c->ckpt_last = done;
        s_post (c);
    }
}

void
mdl_worker_checkpoint_final (mdl_ctx_t *c)
{
    mdl_agent_t *a = c->a;
    if (!a->ckpt)
        return;
    s_post (c);
    int rc = mdl_ckptwriter_flush (a->ckpt);
    s_count (a);
    if (rc)
        mdl_agent_log (a, "cannot write checkpoint %s: %s", mdl_ckptwriter_path (a->ckpt), mdl_strerror (rc));
}
