/*  blob.c: see blob.h. */
#include "blob.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "err.h"

struct mdl_blob_t {
    atomic_int refs;
    atomic_int wire; /* messages ZeroMQ holds (mdl_blob_wire_hold) */
    size_t len;
    mdl_blobpool_t *pool;
    mdl_blob_t *next;       /* free list */
    _Alignas (16) unsigned char data[];
};

/* The pool outlives its destroy call while blobs are out: ZeroMQ's I/O threads may
   release the last references after the sockets (and the agent) are gone, so the
   last release frees a pool that was asked to die. */
struct mdl_blobpool_t {
    size_t cap;
    pthread_mutex_t lock;
    mdl_blob_t *free;
    size_t out;     /* blobs taken and not yet returned */
    size_t made;    /* blobs made (by fill, reserve or take) */
    size_t on_demand; /* ... of them by take, the pool being empty */
    bool dying;     /* destroy was called */
    size_t wire;    /* messages of its blobs ZeroMQ holds (mdl_blobpool_wire_busy) */
    double wire_since; /* mdl_now when wire last became nonzero */
    double wire_busy;  /* seconds of the intervals with wire > 0 that ended */
};

static void
s_pool_free (mdl_blobpool_t *p)
{
    while (p->free) {
        mdl_blob_t *b = p->free;
        p->free = b->next;
        free (b);
    }
    pthread_mutex_destroy (&p->lock);
    free (p);
}

mdl_blobpool_t *
mdl_blobpool_new (size_t cap, int *err)
{
    mdl_blobpool_t *p = calloc (1, sizeof *p);
    if (!p) {
        if (err)
            *err = MDL_ENOMEM;
        return NULL;
    }
    p->cap = cap;
    pthread_mutex_init (&p->lock, NULL);
    return p;
}

void
mdl_blobpool_destroy (mdl_blobpool_t **pp)
{
    if (!pp || !*pp)
        return;
    mdl_blobpool_t *p = *pp;
    pthread_mutex_lock (&p->lock);
    p->dying = true;
    bool last = p->out == 0;
    pthread_mutex_unlock (&p->lock);
    if (last)
        s_pool_free (p);
    *pp = NULL;
}

int
mdl_blobpool_fill (mdl_blobpool_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mdl_blob_t *b = p->cap > ((size_t) 1 << 40) ? NULL : malloc (sizeof *b + p->cap);
        if (!b)
            return MDL_ENOMEM;
        memset (b->data, 0, p->cap);
        b->pool = p;
        pthread_mutex_lock (&p->lock);
        b->next = p->free;
        p->free = b;
        p->made++;
        pthread_mutex_unlock (&p->lock);
    }
    return 0;
}

int
mdl_blobpool_reserve (mdl_blobpool_t *p, size_t n)
{
    pthread_mutex_lock (&p->lock);
    const size_t made = p->made;
    pthread_mutex_unlock (&p->lock);
    /* Only the caller adds by fill here; a take that makes one meanwhile only means one
       more than asked. */
    return made < n ? mdl_blobpool_fill (p, n - made) : 0;
}

void
mdl_blobpool_counts (mdl_blobpool_t *p, size_t *made, size_t *on_demand)
{
    pthread_mutex_lock (&p->lock);
    *made = p->made;
    *on_demand = p->on_demand;
    pthread_mutex_unlock (&p->lock);
}

mdl_blob_t *
mdl_blob_take (mdl_blobpool_t *p)
{
    pthread_mutex_lock (&p->lock);
    mdl_blob_t *b = p->free;
    if (b)
        p->free = b->next;
    p->out++;
    pthread_mutex_unlock (&p->lock);
    if (!b) {
        if (p->cap > ((size_t) 1 << 40) || !(b = malloc (sizeof *b + p->cap))) {
            pthread_mutex_lock (&p->lock);
            p->out--;
            pthread_mutex_unlock (&p->lock);
            return NULL;
        }
        b->pool = p;
        pthread_mutex_lock (&p->lock);
        p->made++;
        p->on_demand++;
        pthread_mutex_unlock (&p->lock);
    }
    atomic_init (&b->refs, 1);
    atomic_init (&b->wire, 0);
    b->len = 0;
    b->next = NULL;
    return b;
}

void *mdl_blob_data (mdl_blob_t *b) { return b->data; }
size_t mdl_blob_cap (const mdl_blob_t *b) { return b->pool->cap; }
void mdl_blob_set_len (mdl_blob_t *b, size_t len) { b->len = len; }
size_t mdl_blob_len (const mdl_blob_t *b) { return b->len; }

void
mdl_blob_ref (mdl_blob_t *b, int n)
{
    atomic_fetch_add (&b->refs, n);
}

bool
mdl_blob_sole (const mdl_blob_t *b)
{
    return atomic_load (&b->refs) == 1;
}

void
mdl_blob_unref (mdl_blob_t *b)
{
    if (atomic_fetch_sub (&b->refs, 1) != 1)
        return;
    mdl_blobpool_t *p = b->pool;
    pthread_mutex_lock (&p->lock);
    b->next = p->free;
    p->free = b;
    bool last = --p->out == 0 && p->dying;
    pthread_mutex_unlock (&p->lock);
    if (last)
        s_pool_free (p);
}

void
mdl_blob_wire_hold (mdl_blob_t *b)
{
    atomic_fetch_add (&b->wire, 1);
    mdl_blobpool_t *p = b->pool;
    pthread_mutex_lock (&p->lock);
    if (p->wire++ == 0)
        p->wire_since = mdl_now ();
    pthread_mutex_unlock (&p->lock);
}

double
mdl_blobpool_wire_busy (mdl_blobpool_t *p)
{
    pthread_mutex_lock (&p->lock);
    double busy = p->wire_busy + (p->wire ? mdl_now () - p->wire_since : 0.0);
    pthread_mutex_unlock (&p->lock);
    return busy;
}

bool
mdl_blob_on_wire (const mdl_blob_t *b)
{
    return atomic_load (&b->wire) > 0;
}

void
mdl_blob_free_fn (void *data, void *hint)
{
    (void) data;
    mdl_blob_t *b = hint;
    atomic_fetch_sub (&b->wire, 1);
    /* the blob's reference (dropped below) keeps the pool alive until here */
    mdl_blobpool_t *p = b->pool;
    pthread_mutex_lock (&p->lock);
    if (p->wire && --p->wire == 0)
        p->wire_busy += mdl_now () - p->wire_since;
    pthread_mutex_unlock (&p->lock);
    mdl_blob_unref (b);
}
