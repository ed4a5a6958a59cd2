/*  meshdl/checkpoint.h: a checkpoint file read into memory (an image): what an agent
    resumes from (mdl_agent_resume), checked against a configuration before anything is
    built (mdl_agent_resume_check). The file format is in docs/PROTOCOL.md's snapshot
    transfer: the same bytes travel between agents. */
#ifndef MESHDL_CHECKPOINT_H
#define MESHDL_CHECKPOINT_H

#include "meshdl/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mdl_ckpt_image_t mdl_ckpt_image_t;

/* Reads and verifies the checkpoint at path (every crc, the exact size). NULL + *err:
   MDL_ENOENT, MDL_EIO, MDL_ECKPT_MAGIC, MDL_ECKPT_VERSION, MDL_ECKPT_CORRUPT, MDL_ENOMEM.
   Caller owns the image and destroys it (or hands it to mdl_agent_resume). */
MDL_EXPORT mdl_ckpt_image_t *mdl_ckpt_image_load (const char *path, int *err);

/* Frees *img and sets it to NULL; safe on NULL and twice. */
MDL_EXPORT void mdl_ckpt_image_destroy (mdl_ckpt_image_t **img);

#ifdef __cplusplus
}
#endif

#endif
