/*  ckptwriter.h: writes an agent's checkpoints off its worker thread. The worker builds an
    image at a step boundary (a copy: building it costs memory bandwidth, not I/O) and posts
    it; a thread of the writer saves it atomically (mdl_ckpt_image_save: temporary file,
    fsync, rename), so a slow disk never holds up a training step. A post while the
    previous image is still being written replaces any image still waiting: only the newest
    is worth writing. */
#ifndef MDL_CKPTWRITER_H
#define MDL_CKPTWRITER_H

#include <stdint.h>

#include "checkpoint.h"

typedef struct mdl_ckptwriter_t mdl_ckptwriter_t;

typedef struct {
    uint64_t written;     /* checkpoints saved */
    uint64_t replaced;    /* posted images dropped for a newer one before being written */
    uint64_t last_step;   /* step of the newest checkpoint on disk (0: none yet) */
    int last_error;       /* 0, or the error of the newest failed save */
    double last_s;        /* seconds the newest save took (build excluded) */
} mdl_ckptwriter_stats_t;

/* A writer of path; removes the temporaries a killed writer of path left behind
   (mdl_ckpt_clean_temps) and starts its thread. NULL + *err (MDL_EINVAL for an empty
   path, MDL_ENOMEM). Caller owns it and destroys it. */
mdl_ckptwriter_t *mdl_ckptwriter_new (const char *path, int *err);

/* Writes what is pending, then stops the thread and frees; *self = NULL. */
void mdl_ckptwriter_destroy (mdl_ckptwriter_t **self);

/* Hands *img over to be saved (*img = NULL afterwards). Never blocks on I/O. */
void mdl_ckptwriter_post (mdl_ckptwriter_t *self, mdl_ckpt_image_t **img);

/* Waits until every posted image is saved or replaced; returns the error of the last save
   (0 when it succeeded or nothing was posted). */
int mdl_ckptwriter_flush (mdl_ckptwriter_t *self);

void mdl_ckptwriter_stats (mdl_ckptwriter_t *self, mdl_ckptwriter_stats_t *stats);

const char *mdl_ckptwriter_path (const mdl_ckptwriter_t *self);

#endif
