/*  ckptwriter.c: see ckptwriter.h. One thread, one pending slot, one mutex held only to
    swap the slot and the counters (never across a save). */
#include "ckptwriter.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "err.h"

struct mdl_ckptwriter_t {
    char *path;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;       /* signals a post, a finished save, or stop */
    mdl_ckpt_image_t *pending; /* posted, not yet being written */
    bool busy;                 /* the thread is saving an image */
    bool stop;
    mdl_ckptwriter_stats_t stats;
};

static void *
s_main (void *arg)
{
    mdl_ckptwriter_t *self = arg;
    pthread_mutex_lock (&self->lock);
    for (;;) {
        while (!self->pending && !self->stop)
            pthread_cond_wait (&self->cond, &self->lock);
        if (!self->pending)
            break; /* stop, and nothing left to write */
        mdl_ckpt_image_t *img = self->pending;
        self->pending = NULL;
        self->busy = true;
        pthread_mutex_unlock (&self->lock);
        const double t0 = mdl_now ();
        int rc = mdl_ckpt_image_save (img, self->path);
        const double took = mdl_now () - t0;
        const uint64_t step = mdl_ckpt_image_step (img);
        mdl_ckpt_image_destroy (&img);
        pthread_mutex_lock (&self->lock);
        self->busy = false;
        self->stats.last_error = rc;
        self->stats.last_s = took;
        if (rc == 0) {
            self->stats.written++;
            self->stats.last_step = step;
        }
        pthread_cond_broadcast (&self->cond);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

mdl_ckptwriter_t *
mdl_ckptwriter_new (const char *path, int *err)
{
    int rc = MDL_EINVAL;
    mdl_ckptwriter_t *self = NULL;
    if (!path || !*path)
        goto fail;
    rc = MDL_ENOMEM;
    if (!(self = calloc (1, sizeof *self)) || !(self->path = strdup (path)))
        goto fail;
    mdl_ckpt_clean_temps (path);
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->cond, NULL);
    if (pthread_create (&self->thread, NULL, s_main, self) != 0) {
        pthread_mutex_destroy (&self->lock);
        pthread_cond_destroy (&self->cond);
        goto fail;
    }
    if (err)
        *err = 0;
    return self;
fail:
    if (self)
        free (self->path);
    free (self);
    if (err)
        *err = rc;
    return NULL;
}

void
mdl_ckptwriter_destroy (mdl_ckptwriter_t **pself)
{
    if (!pself || !*pself)
        return;
    mdl_ckptwriter_t *self = *pself;
    pthread_mutex_lock (&self->lock);
    self->stop = true;
    pthread_cond_broadcast (&self->cond);
    pthread_mutex_unlock (&self->lock);
    pthread_join (self->thread, NULL);
    mdl_ckpt_image_destroy (&self->pending);
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->cond);
    free (self->path);
    free (self);
    *pself = NULL;
}

void
mdl_ckptwriter_post (mdl_ckptwriter_t *self, mdl_ckpt_image_t **img)
{
    if (!img || !*img)
        return;
    pthread_mutex_lock (&self->lock);
    if (self->pending) {
        mdl_ckpt_image_destroy (&self->pending);
        self->stats.replaced++;
    }
    self->pending = *img;
    *img = NULL;
    pthread_cond_broadcast (&self->cond);
    pthread_mutex_unlock (&self->lock);
}

int
mdl_ckptwriter_flush (mdl_ckptwriter_t *self)
{
    pthread_mutex_lock (&self->lock);
    while (self->pending || self->busy)
        pthread_cond_wait (&self->cond, &self->lock);
    int rc = self->stats.last_error;
    pthread_mutex_unlock (&self->lock);
    return rc;
}

void
mdl_ckptwriter_stats (mdl_ckptwriter_t *self, mdl_ckptwriter_stats_t *stats)
{
    pthread_mutex_lock (&self->lock);
    *stats = self->stats;
    pthread_mutex_unlock (&self->lock);
}

const char *
mdl_ckptwriter_path (const mdl_ckptwriter_t *self)
{
    return self->path;
}
