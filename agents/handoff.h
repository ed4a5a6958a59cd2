/*  handoff.h: what a worker hands its comm actor, in order: payloads to send (a blob and
    its recipients) and commands ('A' the round moved, 'O'/'C' open or close transient
    connections, 'L' leave, 'F' flush).

    This was an inproc PUSH/PULL pair of ZeroMQ sockets. Each hand-over then cost the
    worker a signal (getpid + write) and the comm a wake-up read, a receive that found
    the pipe empty (poll + getpid) and a zmsg of three frames to allocate and free on
    each side: 8 system calls and some ten mallocs per agent-step, on a VM where a system
    call costs about a microsecond, and two more ZeroMQ sockets per agent whose cold
    state every step touched (1024 agents in one process). Here a hand-over is a lock, a
    node from a free list, and an eventfd write only when the queue goes from empty to
    not empty; the comm reads the eventfd when it fired and takes the whole queue at once.

    One writer (the worker), one reader (the comm). Bounded like the socket it replaces
    (cap items; a worker that runs that far ahead waits). Once closed (the comm is
    ending), posts are refused and their blobs given back. */
#ifndef MDL_HANDOFF_H
#define MDL_HANDOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blob.h"

/* What the worker asks the comm actor to send: this descriptor, the recipient ids and
   the blob. */
typedef struct {
    uint32_t kind; /* wire kind: MDL_KIND_MAKE (type, channel) */
    uint64_t step;
    bool keyframe; /* payload is the fp32 keyframe codec */
    double loss;
    double aux;
    bool advance; /* sync: the worker moved to round step first (as the 'A' command) */
} mdl_outmsg_t;

/* 'O' and 'C': open or close the connections of a transient purpose. */
typedef struct {
    uint32_t purpose; /* mdl_transient_t */
    uint64_t below;   /* close MDL_TRANSIENT_MERGE: the merge channel's vectors of rounds
                         below this are given back */
} mdl_transient_msg_t;

typedef struct mdl_handoff_item {
    char cmd;               /* 0: a payload; else the command's letter */
    mdl_outmsg_t m;         /* cmd 0 */
    mdl_blob_t *blob;       /* cmd 0: one reference, the reader's once taken */
    mdl_transient_msg_t tm; /* 'O', 'C' */
    uint64_t *ids;          /* cmd 0: recipients; 'O': peers (none: every live one) */
    size_t nids;
    /* the queue's own */
    size_t cap;
    struct mdl_handoff_item *next;
} mdl_handoff_item_t;

typedef struct mdl_handoff mdl_handoff_t;

/* A queue of at most cap items. NULL + *err (MDL_EINVAL, MDL_ENOMEM, MDL_ESOCKET: no
   eventfd). Caller owns it and destroys it after both threads stopped using it; items
   still queued give their blob references back. */
mdl_handoff_t *mdl_handoff_new (size_t cap, int *err);
void mdl_handoff_destroy (mdl_handoff_t **self);

/* The eventfd that becomes readable when the queue was empty and an item came (for the
   reader's epoll set, level-triggered). */
int mdl_handoff_fd (const mdl_handoff_t *self);

/* Writer: hands over a payload (takes the blob reference, also on failure) for nids
   recipients, or a command (blob NULL; tm for 'O'/'C', ids for 'O'). Waits while the
   queue is full. 0, MDL_ENOMEM, or MDL_ESOCKET once the reader closed it (as the
   socket this replaces answered). */
int mdl_handoff_send (mdl_handoff_t *self, const mdl_outmsg_t *m, const uint64_t *ids, size_t nids, mdl_blob_t *blob);
int mdl_handoff_command (mdl_handoff_t *self, char cmd, const mdl_transient_msg_t *tm, const uint64_t *ids,
                         size_t nids);

/* Reader: resets the eventfd (call when it fired), then takes every queued item, oldest
   first (NULL: none). Cheap when nothing is queued: no lock, no system call. Give the
   list back with mdl_handoff_recycle once read (blob references taken or given back). */
void mdl_handoff_clear_signal (mdl_handoff_t *self);
mdl_handoff_item_t *mdl_handoff_take (mdl_handoff_t *self);
void mdl_handoff_recycle (mdl_handoff_t *self, mdl_handoff_item_t *list);

/* Reader: refuses later posts, wakes a waiting writer, gives back the blob references of
   what is still queued. Idempotent. */
void mdl_handoff_close (mdl_handoff_t *self);

#endif
