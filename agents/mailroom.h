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
    sleeps until its neighbours' round arrives instead of spinning.

    Memory follows use: a peer's box is a small record; the d-float vector of a slot is
    allocated when a vector is first written there (a tombstone needs none, a slot that
    holds a received message by reference needs none), and mdl_mailroom_drop and
    mdl_mailroom_remove give it back (a peer that left the neighbourhood, the merge
    channel after a global average). So an agent holds vectors only for the peers and
    channels that actually send to it. */
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

/* Mailboxes for vectors of d floats, channels per peer, at most max_peers peers (the
   table grows as peers are added). NULL + *err. Caller owns and destroys it (after both
   threads stopped using it). */
mdl_mailroom_t *mdl_mailroom_new (size_t d, int channels, size_t max_peers, int *err);
void mdl_mailroom_destroy (mdl_mailroom_t **self);

/* Makes mailboxes for peer (idempotent). Allocates: call on a join, not per message.
   Returns 0, MDL_ENOMEM or MDL_ERANGE (max_peers reached). */
int mdl_mailroom_add (mdl_mailroom_t *self, uint64_t peer);

/* Forgets peer's vectors (a leave or a rejoin: stale state must not be mixed). */
void mdl_mailroom_clear (mdl_mailroom_t *self, uint64_t peer);

/* Forgets peer altogether and gives back its vectors (it left this agent's
   neighbourhood). A vector the reader holds is freed at its read_end. No-op for an
   unknown peer. Writer thread. */
void mdl_mailroom_remove (mdl_mailroom_t *self, uint64_t peer);

/* Gives back the vectors of (peer, channel) that hold nothing, or a step below `below`
   (a finished global average's states), except one being read or written. Writer
   thread. */
void mdl_mailroom_drop (mdl_mailroom_t *self, uint64_t peer, int channel, uint64_t below);

/* Peers with a box (into *n), and the bytes of vectors held by all boxes, own and by
   reference (into *bytes); either may be NULL. */
void mdl_mailroom_usage (mdl_mailroom_t *self, size_t *n, size_t *bytes);

/* Whether peer has a box. */
bool mdl_mailroom_has (mdl_mailroom_t *self, uint64_t peer);

/* Writer: the slot to fill for a vector of sender step `step`. by_parity picks slot
   step % 2 (synchronous rounds), else the older slot not being read. Returns NULL if
   peer is unknown or channel out of range. Finish with write_end (publishes the slot
   with meta and wakes the reader) or write_abort (slot stays invalid). */
float *mdl_mailroom_write_begin (mdl_mailroom_t *self, uint64_t peer, int channel,
                                 uint64_t step, bool by_parity);
void mdl_mailroom_write_end (mdl_mailroom_t *self, uint64_t peer, int channel,
                             const mdl_slot_meta_t *meta);
void mdl_mailroom_write_abort (mdl_mailroom_t *self, uint64_t peer, int channel);

/* Writer: files a vector without a vector: a tombstone (meta->lost) or a marker, in the
   slot write_begin would pick. Returns false when peer is unknown, the channel out of
   range or the slot is being read. */
bool mdl_mailroom_mark (mdl_mailroom_t *self, uint64_t peer, int channel, bool by_parity,
                        const mdl_slot_meta_t *meta);

/* Writer: files a vector held elsewhere (a received message's payload, zero-copy): the
   slot write_begin would pick then reads v (d floats, which must stay valid) until the
   mailroom calls release (hint) when the slot is rewritten, dropped or removed, or the
   mailroom destroyed; from the reader's thread if it was reading then. Returns 0, or
   MDL_EPEER (unknown peer, channel out of range, slot being read): release is not
   called then, the caller keeps v. */
int mdl_mailroom_file_ref (mdl_mailroom_t *self, uint64_t peer, int channel, bool by_parity,
                           const float *v, void (*release) (void *hint), void *hint,
                           const mdl_slot_meta_t *meta);

/* Writer: a slot of (peer, channel) that holds v by reference and is not being read lets
   go of it now (its release called before this returns); the slot then reads as empty, as
   after read_done. For a writer that wants its buffer back to write the next vector
   into (replica.h): the slot would give it up at the next filing anyway. Returns whether
   a slot let go of v. */
bool mdl_mailroom_release_ref (mdl_mailroom_t *self, uint64_t peer, int channel, const float *v);

/* Reader: the newest valid vector of (peer, channel) (step == UINT64_MAX), or the one
   with exactly that step; NULL if none. The vector stays stable until read_end. */
const float *mdl_mailroom_read_begin (mdl_mailroom_t *self, uint64_t peer, int channel,
                                      uint64_t step, mdl_slot_meta_t *meta);
void mdl_mailroom_read_end (mdl_mailroom_t *self, uint64_t peer, int channel);

/* Reader: read_end, and a vector held by reference that was being read is let go at once
   (its release called from this thread) instead of when its slot is rewritten: the slot
   keeps its meta (peek sees the step) but reads of it find nothing, as a marker's. For a
   round that is over for the reader (synchronous rounds, one mix per round): with slots
   by parity the sender's buffer would otherwise stay out for two more rounds. */
void mdl_mailroom_read_done (mdl_mailroom_t *self, uint64_t peer, int channel);

/* Metadata of the newest valid vector, without reading it; false if none. */
bool mdl_mailroom_peek (mdl_mailroom_t *self, uint64_t peer, int channel, mdl_slot_meta_t *meta);

/* Reader: waits until `changed` returns true or `timeout` seconds pass; `changed` is
   re-evaluated after every write (and on wake-up), with the lock NOT held. Returns true
   if it became true. */
bool mdl_mailroom_wait (mdl_mailroom_t *self, bool (*changed) (void *arg), void *arg,
                        double timeout);

/* Wakes every waiter (used on stop). */
void mdl_mailroom_wake (mdl_mailroom_t *self);

/* Writer: a batch of writes. Until mdl_mailroom_batch_end, each write is seen by a reader
   that looks (mdl_mailroom_wait re-checks after any write), but a sleeping reader is woken
   once, at the end of the batch, not once per write. Not nested. */
void mdl_mailroom_batch_begin (mdl_mailroom_t *self);
void mdl_mailroom_batch_end (mdl_mailroom_t *self);

/* How many times the writer woke the reader so far (writes and batches). */
uint64_t mdl_mailroom_wakeups (mdl_mailroom_t *self);

#endif
