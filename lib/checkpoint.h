/*  checkpoint.h: checkpoints. A model's parameters, its optimizer state and whatever else
    a run needs to go on exactly where it stopped (the position in the data, an
    algorithm's momentum buffers or trackers) as named sections of one versioned,
    checksummed file. The same bytes held in memory are an "image": what a newcomer
    receives, chunk by chunk, from a peer that is already training (agents/snapshot.h).

    File layout, version 2 (little-endian, packed byte by byte, no padding):
      0   "MDLCKPT1"        magic: names the file type (the version says its layout)
      8   u32 version       MDL_CKPT_VERSION
      12  u32 head_len      bytes of the head, at most MDL_CKPT_MAX_HEAD
      16  head              u32 spec_len, spec, u32 algo_len, algo, u64 step, u64 epoch,
                            u32 nsections, then for each section: u8 kind (1 = f32,
                            2 = bytes), u8 name_len, name, u64 count (floats or bytes)
      16 + head_len         u32 crc32 of every byte before it
      then each section's payload in the order of the head (4 count bytes of
      little-endian floats, or count bytes), each followed by the u32 crc32 of that
      payload; the file ends right after the last one.
    A reader checks the magic, then the version (before anything whose layout the
    version defines), then the head's crc before it trusts any length, then the file's
    exact size against the head, then each payload's crc: a flipped bit or a truncation
    anywhere is MDL_ECKPT_CORRUPT (or MAGIC/VERSION in those fields), never a crash, a
    wrong model, or a read sized by the file. Version 1 files (parameters and optimizer
    state only) still load, as sections "params" and "optim" of algorithm "".

    Written atomically: a temporary file in the same directory, fsync, rename, fsync of
    the directory. A reader never sees half a file, whenever the writer is killed. */
#ifndef MDL_CHECKPOINT_H
#define MDL_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "meshdl/checkpoint.h"

#define MDL_CKPT_VERSION 2
/* Longest model spec a checkpoint holds, in bytes. A loader never trusts a longer
   length read from a file, so this bounds what a corrupt file can make it read. */
#define MDL_CKPT_MAX_SPEC 4096
#define MDL_CKPT_MAX_NAME 64      /* section and algorithm names: [A-Za-z0-9._:-], 1..64 */
#define MDL_CKPT_MAX_SECTIONS 64
#define MDL_CKPT_MAX_HEAD (16 + MDL_CKPT_MAX_SPEC + MDL_CKPT_MAX_NAME + 24 \
                           + MDL_CKPT_MAX_SECTIONS * (10 + MDL_CKPT_MAX_NAME))

typedef enum { MDL_CKPT_F32 = 1, MDL_CKPT_BYTES = 2 } mdl_ckpt_kind_t;

/* ---- images: a checkpoint as bytes in memory ---- */

/* mdl_ckpt_image_t, mdl_ckpt_image_load and mdl_ckpt_image_destroy: meshdl/checkpoint.h */

/* An empty image for model spec and algorithm algo ("" for none) at step/epoch, to which
   sections are added. NULL + *err: MDL_EINVAL (NULL spec, a spec longer than
   MDL_CKPT_MAX_SPEC, an algorithm name that is not a valid name), MDL_ENOMEM. Caller owns
   the image and destroys it. */
mdl_ckpt_image_t *mdl_ckpt_image_new (const char *spec, const char *algo, uint64_t step, uint64_t epoch, int *err);

/* Appends a section: count floats (MDL_CKPT_F32, stored bit for bit) or count bytes,
   copied now. Returns 0, MDL_EINVAL (a bad or duplicate name, NULL data with count > 0,
   too many sections, the image already sealed) or MDL_ENOMEM; on error the image is
   unchanged. */
int mdl_ckpt_image_add (mdl_ckpt_image_t *img, const char *name, mdl_ckpt_kind_t kind, const void *data, size_t count);

/* Seals the image (no more sections) and returns its size in bytes: the size of the file
   it saves as. Sealing is implicit in mdl_ckpt_image_read and mdl_ckpt_image_save. */
uint64_t mdl_ckpt_image_size (mdl_ckpt_image_t *img);

/* Copies bytes [off, off + len) of the sealed image into buf. Returns 0, or MDL_ERANGE
   when the range is not inside the image. */
int mdl_ckpt_image_read (mdl_ckpt_image_t *img, uint64_t off, void *buf, size_t len);

/* Writes the image to path atomically, through a temporary file path.tmp.XXXXXX (mode
   0600) in the same directory. Returns 0, MDL_EINVAL (NULL or empty path), MDL_ENOMEM
   or MDL_EIO (the directory does not exist or is not writable, a write, fsync or rename
   failed); on failure the file at path (if any) is unchanged and no temporary file is
   left behind. One exception: MDL_EIO from the final fsync of the directory means the
   new file is already in place but may not survive a crash. */
int mdl_ckpt_image_save (mdl_ckpt_image_t *img, const char *path);

/* Removes the temporary files a writer of path killed mid-save left behind
   (path.tmp.XXXXXX, six characters as mkstemp makes them). Call it once before the first
   save of a run, never while another process may be saving to path. Returns how many it
   removed. */
int mdl_ckpt_clean_temps (const char *path);


/* Verifies len bytes received from elsewhere (a peer) as a checkpoint and takes them
   over: on success the image owns *bytes (a malloc'd buffer) and *bytes is set to NULL;
   on failure (NULL + *err as mdl_ckpt_image_load) the caller keeps it. */
mdl_ckpt_image_t *mdl_ckpt_image_adopt (void **bytes, size_t len, int *err);


const char *mdl_ckpt_image_spec (const mdl_ckpt_image_t *img);
const char *mdl_ckpt_image_algo (const mdl_ckpt_image_t *img);
uint64_t mdl_ckpt_image_step (const mdl_ckpt_image_t *img);
uint64_t mdl_ckpt_image_epoch (const mdl_ckpt_image_t *img);
/* File format version the image was read from (MDL_CKPT_VERSION for built images). */
uint32_t mdl_ckpt_image_version (const mdl_ckpt_image_t *img);

/* Copies section name into out: exactly count floats or bytes of the given kind. Returns
   0, or MDL_ECKPT_MODEL when the image has no such section or it holds another kind or
   count (the checkpoint was written for something else). */
int mdl_ckpt_image_get (const mdl_ckpt_image_t *img, const char *name, mdl_ckpt_kind_t kind, void *out, size_t count);

/* The element count of section name (and its kind in *kind, may be NULL); false when
   there is none. */
bool mdl_ckpt_image_has (const mdl_ckpt_image_t *img, const char *name, mdl_ckpt_kind_t *kind, uint64_t *count);

/* ---- a parameter vector and an optimizer state (meshdl train) ---- */

typedef struct {
    const char *spec;       /* model spec string */
    const float *params;    /* d */
    size_t d;
    const float *opt_state; /* opt_len, may be NULL when opt_len == 0 */
    size_t opt_len;
    uint64_t step;
    uint64_t epoch;
} mdl_ckpt_t;

/* Writes ck as sections "params" and "optim" (algorithm "") to path atomically, as
   mdl_ckpt_image_save. Returns 0, MDL_EINVAL (NULL or empty path, NULL spec, a spec
   longer than MDL_CKPT_MAX_SPEC, NULL vector with a nonzero length), MDL_ENOMEM or
   MDL_EIO, with the guarantees of mdl_ckpt_image_save. */
int mdl_ckpt_save (const char *path, const mdl_ckpt_t *ck);

/* Reads path into caller buffers: params (d floats) and opt_state (opt_len floats), which
   must match the file's d and opt_len exactly, and spec must equal the file's. Returns 0,
   MDL_ENOENT, MDL_ECKPT_MAGIC, MDL_ECKPT_VERSION, MDL_ECKPT_MODEL (spec, d or opt_len
   differ), MDL_ECKPT_CORRUPT (truncated, trailing bytes, checksum mismatch, a length over
   its limit), MDL_EIO (a read error), MDL_ENOMEM. On failure the buffers are untouched;
   step/epoch (either may be NULL) are set only on success. */
int mdl_ckpt_load (const char *path, const char *spec, float *params, size_t d,
                   float *opt_state, size_t opt_len, uint64_t *step, uint64_t *epoch);

#endif
