/*  blob.h: reference-counted payload buffers from a pool.

    An update's payload is encoded once by the worker and sent zero-copy to every
    recipient: each ZeroMQ message holds a reference and releases it through its free
    function (zmq_free_fn's signature), possibly from a ZeroMQ I/O thread. The last
    release returns the buffer to its pool, so steady-state publishing allocates
    nothing. */
#ifndef MDL_BLOB_H
#define MDL_BLOB_H

#include <stdbool.h>
#include <stddef.h>

typedef struct mdl_blob_t mdl_blob_t;
typedef struct mdl_blobpool_t mdl_blobpool_t;

/* A pool of buffers of cap bytes each. NULL + *err. Destroying it while blobs are still
   referenced (by messages ZeroMQ has not released yet) is safe: the last release frees
   the pool. */
mdl_blobpool_t *mdl_blobpool_new (size_t cap, int *err);
void mdl_blobpool_destroy (mdl_blobpool_t **self);

/* Puts n buffers in the pool now, written once (so the first sends do not fault their
   pages in). Returns 0 or MDL_ENOMEM (the pool keeps what it made). */
int mdl_blobpool_fill (mdl_blobpool_t *self, size_t n);

/* Fills the pool up to n buffers made in all (those out included): what the caller knows
   it will have in flight, made before they are needed (an empty pool's take allocates
   and faults a buffer in on the sending thread, mid-round). Returns 0 or MDL_ENOMEM. */
int mdl_blobpool_reserve (mdl_blobpool_t *self, size_t n);

/* The buffers made so far, and how many of them a take made (the pool was empty). */
void mdl_blobpool_counts (mdl_blobpool_t *self, size_t *made, size_t *on_demand);

/* Takes a buffer with one reference (NULL when out of memory). */
mdl_blob_t *mdl_blob_take (mdl_blobpool_t *pool);
void *mdl_blob_data (mdl_blob_t *b);
size_t mdl_blob_cap (const mdl_blob_t *b);
void mdl_blob_set_len (mdl_blob_t *b, size_t len);
size_t mdl_blob_len (const mdl_blob_t *b);

/* Adds n references (one per extra send). */
void mdl_blob_ref (mdl_blob_t *b, int n);

/* Drops one reference; the last returns the buffer to the pool. Thread-safe. */
void mdl_blob_unref (mdl_blob_t *b);

/* True when the caller's reference is the only one: no other holder can read the buffer
   while the caller writes it (another thread can only drop its references, never add
   one the caller did not hand out, so the answer cannot turn false behind its back). */
bool mdl_blob_sole (const mdl_blob_t *b);

/* Sending: mdl_blob_wire_hold counts one more message handed to ZeroMQ with this blob as
   its payload, and mdl_blob_free_fn (zmq_free_fn-compatible: data is ignored, hint is the
   blob) is that message's release: it ends the count and drops a reference. */
void mdl_blob_wire_hold (mdl_blob_t *b);
void mdl_blob_free_fn (void *data, void *hint);

/* True while some message of this blob is still held by ZeroMQ: queued, being written to
   a connection, or (inproc) held by its receiver. A resend of it then would only queue
   behind it (comm.c's mdl_comm_resend). */
bool mdl_blob_on_wire (const mdl_blob_t *b);

/* Seconds (mdl_now) during which at least one message of the pool's blobs was held by
   ZeroMQ: the union of the intervals from mdl_blob_wire_hold to the matching release,
   the current one included. Over TCP a message is released once its last byte is in
   the kernel, so this is the time the transport was busy with our payloads (queueing
   behind earlier ones included), whatever the worker did meanwhile. */
double mdl_blobpool_wire_busy (mdl_blobpool_t *pool);

#endif
