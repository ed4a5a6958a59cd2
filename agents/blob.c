/*  blob.c: see blob.h. */
#include "blob.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "err.h"

struct mdl_blob_t {
    atomic_int refs;
    size_t len;
    mdl_blobpool_t *pool;
    mdl_blob_t *next;       /* free list */
    _Alignas (16) unsigned char data[];
};

struct mdl_blobpool_t {
    size_t cap;
    pthread_mutex_t lock;
    mdl_blob_t *free;
};

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
    while (p->free) {
        mdl_blob_t *b = p->free;
        p->free = b->next;
        free (b);
    }
    pthread_mutex_destroy (&p->lock);
    free (p);
    *pp = NULL;
}

mdl_blob_t *
mdl_blob_take (mdl_blobpool_t *p)
{
    pthread_mutex_lock (&p->lock);
    mdl_blob_t *b = p->free;
    if (b)
        p->free = b->next;
    pthread_mutex_unlock (&p->lock);
    if (!b) {
        if (p->cap > ((size_t) 1 << 40))
            return NULL;
        b = malloc (sizeof *b + p->cap);
        if (!b)
            return NULL;
        b->pool = p;
    }
    atomic_init (&b->refs, 1);
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

void
mdl_blob_unref (mdl_blob_t *b)
{
    if (atomic_fetch_sub (&b->refs, 1) != 1)
        return;
    mdl_blobpool_t *p = b->pool;
    pthread_mutex_lock (&p->lock);
    b->next = p->free;
    p->free = b;
    pthread_mutex_unlock (&p->lock);
}

void
mdl_blob_free_fn (void *data, void *hint)
{
    (void) data;
    mdl_blob_unref (hint);
}
