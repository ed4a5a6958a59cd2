/*  checkpoint.h: saving and restoring a model's parameter vector and optimizer state.

    File layout (little-endian): magic "MDLCKPT1", u32 format version, u32 spec length,
    the model spec bytes, u64 d, u64 optimizer-state length, u64 step, u64 epoch,
    u32 crc32 of everything before it, then the params (d floats), the state, and a
    u32 crc32 of the payload. Written atomically: a temporary file in the same
    directory, fsync, rename, fsync of the directory; a reader never sees half a file. */
#ifndef MDL_CHECKPOINT_H
#define MDL_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#define MDL_CKPT_VERSION 1
/* Longest model spec a checkpoint holds, in bytes. A loader never trusts a longer
   length read from a file, so this bounds what a corrupt file can make it read. */
#define MDL_CKPT_MAX_SPEC 4096

typedef struct {
    const char *spec;       /* model spec string */
    const float *params;    /* d */
    size_t d;
    const float *opt_state; /* opt_len, may be NULL when opt_len == 0 */
    size_t opt_len;
    uint64_t step;
    uint64_t epoch;
} mdl_ckpt_t;

/* Writes ck to path atomically, through a temporary file path.tmp.XXXXXX (mode 0600)
   in the same directory. Returns 0, MDL_EINVAL (NULL or empty path, NULL spec, a spec
   longer than MDL_CKPT_MAX_SPEC, NULL vector with a nonzero length), MDL_ENOMEM, or
   MDL_EIO (the directory does not exist or is not writable, a write, fsync or rename
   failed); on failure the file at path (if any) is unchanged and no temporary file is
   left behind. One exception: MDL_EIO from the final fsync of the directory means the
   new file is already in place but may not survive a crash. */
int mdl_ckpt_save (const char *path, const mdl_ckpt_t *ck);

/* Reads path into caller buffers: params (d floats) and opt_state (opt_len floats), which
   must match the file's d and opt_len exactly, and spec must equal the file's. Returns 0,
   MDL_ENOENT, MDL_ECKPT_MAGIC, MDL_ECKPT_VERSION, MDL_ECKPT_MODEL (spec, d or opt_len
   differ), MDL_ECKPT_CORRUPT (truncated, trailing bytes, checksum mismatch, a spec
   length over MDL_CKPT_MAX_SPEC), MDL_EIO (a read error). On failure the buffers may
   be partially written; step/epoch (either may be NULL) are set only on success. */
int mdl_ckpt_load (const char *path, const char *spec, float *params, size_t d,
                   float *opt_state, size_t opt_len, uint64_t *step, uint64_t *epoch);

#endif
