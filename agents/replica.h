/*  replica.h: a peer's public copy (its replica), as the comm actor keeps it for a peer
    that publishes error-feedback or CHOCO deltas: keyframes reset it, deltas advance it.

    The newest version is filed into the peer's mailbox by reference (no copy): the
    mailbox reads it where it is until the next version replaces it. Two pooled buffers
    take turns: the newest, and the one before it, kept one delta behind along with that
    delta. The next delta brings the older buffer forward by both deltas (two sparse
    additions) instead of copying the newest into it, once the mailbox has let go of it;
    the floats are the same as one buffer advanced delta by delta, bit for bit (the same
    additions in the same order). While the mailbox still holds the older buffer (its
    reader is on it) a fresh buffer gets a copy of the newest instead. Only the comm
    actor's thread calls these. */
#ifndef MDL_REPLICA_H
#define MDL_REPLICA_H

#include <stddef.h>
#include <stdint.h>

#include "blob.h"
#include "codec.h"

typedef struct mdl_replica_t mdl_replica_t;

/* A replica of d floats, holding no version yet. NULL + *err (MDL_ENOMEM, MDL_EINVAL). */
mdl_replica_t *mdl_replica_new (size_t d, int *err);
/* Drops its references: a buffer filed elsewhere lives until that reference goes. */
void mdl_replica_destroy (mdl_replica_t **self);

/* A keyframe: the newest version becomes the decoded payload (codec's full decode).
   0, or the codec's error (the replica then holds no version). */
int mdl_replica_reset (mdl_replica_t *self, mdl_codec_t *codec, const void *payload, size_t len);

/* A delta: newest += decoded payload (mdl_codec_apply, scale 1). 0, MDL_EINVAL when
   there is no version to advance, MDL_ENOMEM, or the codec's error (the replica then
   holds no version: a keyframe must come). */
int mdl_replica_advance (mdl_replica_t *self, mdl_codec_t *codec, const void *payload, size_t len);

/* The newest version (NULL: none), and its buffer, for filing it by reference (the
   caller adds the reference it hands over). */
const float *mdl_replica_newest (const mdl_replica_t *self);
mdl_blob_t *mdl_replica_blob (mdl_replica_t *self);

/* The older buffer, which the next advance would rather bring forward than replace: a
   mailbox that still holds it should let go of it first (NULL: none). */
const float *mdl_replica_spare (const mdl_replica_t *self);

/* Bytes of the buffers that only the replica holds (the one filed is the mailbox's). */
size_t mdl_replica_bytes (const mdl_replica_t *self);

/* Advances that copied the newest version (the older buffer was still held), and all
   advances. */
void mdl_replica_counts (const mdl_replica_t *self, uint64_t *copied, uint64_t *advanced);

#endif
