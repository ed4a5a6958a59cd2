/*  mailroom.h: the per-peer mailboxes shared by an agent's comm actor (writer) and its
    compute worker (reader). The threads also share the agent's peer view (under its own
    lock), the pairbox of AD-PSGD and a few atomics in agent_impl.h; this is the bulk of it.

    Each (peer, channel) has two slots, each a d-float vector plus its metadata (sender
    step, sequence number, arrival time, loss). The writer fills the slot the reader is
    not using, the older one (or, for synchronous rounds, the one of the round's parity:
    a neighbour can be at most one round ahead, so rounds t and t+1 never collide). The
    lock is held only to pick or publish a slot, never during a copy or a decode.
    Channels let an algorithm exchange several vectors (gradient tracking sends x and y).

    A writer or reader signals/waits on one condition per agent, so a synchronous worker
    sleeps until its neighbours' round arrives instead of spinning. */
#ifndef MDL_MAILROOM_H
#define MDL_MAILROOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t step;     /* sender's step when it produced the vector */
    uint64_t seq;      /* sender's sequence number (per link) */
    double arrival;    /* receiver's monotonic clock, seconds */
    double loss;       /* sender's training loss */
    double aux;        /* algorithm-defined scalar */
    bool keyframe;
    bool lost;         /* a tombstone: the round's vector is known to be lost (not readable) */
} mdl_slot_meta_t;

typedef struct mdl_mailroom_t mdl_mailroom_t;

/* Mailboxes for vectors of d floats, channels per peer, at most max_peers peers.
   NULL + *err. Caller owns and destroys it (after both threads stopped using it). */
mdl_mailroom_t *mdl_mailroom_new (size_t d, int channels, size_t max_peers, int *err);
void mdl_mailroom_destroy (mdl_mailroom_t **self);

/* Makes mailboxes for peer (idempotent). Allocates: call on a join, not per message.
   Returns 0, MDL_ENOMEM or MDL_ERANGE (max_peers reached). */
int mdl_mailroom_add (mdl_mailroom_t *self, uint64_t peer);

/* Forgets peer's vectors (a leave or a rejoin: stale state must not be mixed). */
void mdl_mailroom_clear (mdl_mailroom_t *self, uint64_t peer);

/* Frees peer's mailboxes (a peer that left: its memory must not stay taken, or peers
   that come and go, real or forged, would grow it without bound). A box being read or
   written goes when that ends. A later mdl_mailroom_add makes new ones. */
void mdl_mailroom_remove (mdl_mailroom_t *self, uint64_t peer);

/* Vectors allocated now (2 per channel per peer), for tests of the memory bound. */
size_t mdl_mailroom_vectors (mdl_mailroom_t *self);

/* Writer: the slot to fill for a vector of sender step `step`. by_parity picks slot
   step % 2 (synchronous rounds), else the older slot not being read. Returns NULL if
   peer is unknown or channel out of range. Finish with write_end (publishes the slot
   with meta and wakes the reader) or write_abort (slot stays invalid). */
float *mdl_mailroom_write_begin (mdl_mailroom_t *self, uint64_t peer, int channel,
                                 uint64_t step, bool by_parity);
void mdl_mailroom_write_end (mdl_mailroom_t *self, uint64_t peer, int channel,
                             const mdl_slot_meta_t *meta);
void mdl_mailroom_write_abort (mdl_mailroom_t *self, uint64_t peer, int channel);

/* Reader: the newest valid vector of (peer, channel) (step == UINT64_MAX), or the one
   with exactly that step; NULL if none. The vector stays stable until read_end. */
const float *mdl_mailroom_read_begin (mdl_mailroom_t *self, uint64_t peer, int channel,
                                      uint64_t step, mdl_slot_meta_t *meta);
void mdl_mailroom_read_end (mdl_mailroom_t *self, uint64_t peer, int channel);

/* Metadata of the newest valid vector, without reading it; false if none. */
bool mdl_mailroom_peek (mdl_mailroom_t *self, uint64_t peer, int channel, mdl_slot_meta_t *meta);

/* Reader: waits until `changed` returns true or `timeout` seconds pass; `changed` is
   re-evaluated after every write (and on wake-up), with the lock NOT held. Returns true
   if it became true. */
bool mdl_mailroom_wait (mdl_mailroom_t *self, bool (*changed) (void *arg), void *arg,
                        double timeout);

/* Wakes every waiter (used on stop). */
void mdl_mailroom_wake (mdl_mailroom_t *self);

#endif
