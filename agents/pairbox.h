/*  pairbox.h: AD-PSGD's pairwise-averaging messages, from an agent's comm actor (the one
    writer) to its worker (the one reader), in arrival order: requests (carrying the
    requester's model), accepts (carrying the responder's model) and refusals.

    A fixed ring of slots; a slot's d-vector is allocated the first time the slot is used
    and reused after. The lock is held only to reserve, publish or release a slot, never
    during a decode or a copy. Once closed (the worker stopped averaging), puts fail and
    the comm actor refuses requests itself. */
#ifndef MDL_PAIRBOX_H
#define MDL_PAIRBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { MDL_PAIR_REQ = 0, MDL_PAIR_ACK = 1, MDL_PAIR_NAK = 2 } mdl_pair_kind_t;

typedef struct {
    uint64_t peer;        /* sender */
    uint64_t seq;         /* the requester's exchange number */
    mdl_pair_kind_t kind;
    const float *v;       /* REQ, ACK: the sender's model (d); NULL for NAK */
} mdl_pair_msg_t;

typedef struct mdl_pairbox_t mdl_pairbox_t;

/* A box for vectors of d floats, at most cap messages queued. NULL + *err (MDL_EINVAL,
   MDL_ENOMEM). Caller owns and destroys it (after both threads stopped using it). */
mdl_pairbox_t *mdl_pairbox_new (size_t d, size_t cap, int *err);
void mdl_pairbox_destroy (mdl_pairbox_t **self);

/* Writer: the vector of the next slot to fill, or NULL when the box is full or closed
   (or out of memory); finish with put_end (publishes and wakes the reader) or put_abort.
   For a NAK, put_end may follow a put_begin whose vector is left untouched. */
float *mdl_pairbox_put_begin (mdl_pairbox_t *self);
void mdl_pairbox_put_end (mdl_pairbox_t *self, uint64_t peer, uint64_t seq, mdl_pair_kind_t kind);
void mdl_pairbox_put_abort (mdl_pairbox_t *self);

/* Reader: the oldest message into *msg (its vector stays valid until pop); false if the
   box is empty. pop releases it. */
bool mdl_pairbox_front (mdl_pairbox_t *self, mdl_pair_msg_t *msg);
void mdl_pairbox_pop (mdl_pairbox_t *self);

/* Reader: waits up to timeout seconds for a message; true if one is queued. */
bool mdl_pairbox_wait (mdl_pairbox_t *self, double timeout);

/* Refuses every later put (idempotent) and waits for one in progress: what the reader
   takes after this is everything that was filed. Messages queued stay readable. */
void mdl_pairbox_close (mdl_pairbox_t *self);

#endif
