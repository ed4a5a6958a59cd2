/*  handoff.c: the worker -> comm queue (handoff.h). */
#include "handoff.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "err.h"

struct mdl_handoff {
    pthread_mutex_t lock;
    pthread_cond_t room; /* a full queue was taken: the writer may go on */
    mdl_handoff_item_t *head, *tail;
    mdl_handoff_item_t *free; /* nodes given back by the reader, kept for reuse */
    size_t count, cap;
    atomic_bool posted; /* head != NULL, readable without the lock */
    bool closed;
    bool full_wait; /* the writer waits for room */
    int fd;         /* eventfd */
};

mdl_handoff_t *
mdl_handoff_new (size_t cap, int *err)
{
    if (cap == 0) {
        *err = MDL_EINVAL;
        return NULL;
    }
    mdl_handoff_t *self = calloc (1, sizeof *self);
    if (!self) {
        *err = MDL_ENOMEM;
        return NULL;
    }
    self->fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (self->fd < 0) {
        *err = mdl_error_set (MDL_ESOCKET, "cannot make the worker's hand-over eventfd: %s", strerror (errno));
        free (self);
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->room, NULL);
    self->cap = cap;
    atomic_init (&self->posted, false);
    return self;
}

static void
s_free_list (mdl_handoff_item_t *it)
{
    while (it) {
        mdl_handoff_item_t *next = it->next;
        if (it->blob)
            mdl_blob_unref (it->blob);
        free (it->ids);
        free (it);
        it = next;
    }
}

void
mdl_handoff_destroy (mdl_handoff_t **pself)
{
    mdl_handoff_t *self = *pself;
    if (!self)
        return;
    s_free_list (self->head);
    s_free_list (self->free);
    close (self->fd);
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->room);
    free (self);
    *pself = NULL;
}

int
mdl_handoff_fd (const mdl_handoff_t *self)
{
    return self->fd;
}

/* Lock held: a node with room for nids ids, from the free list when it has one. Nodes
   and their id arrays are kept, so a worker's steady rounds allocate nothing. */
static mdl_handoff_item_t *
s_node (mdl_handoff_t *self, size_t nids)
{
    mdl_handoff_item_t *it = self->free;
    if (it)
        self->free = it->next;
    else if (!(it = calloc (1, sizeof *it)))
        return NULL;
    if (nids > it->cap) {
        uint64_t *p = nids <= SIZE_MAX / sizeof *p ? realloc (it->ids, nids * sizeof *p) : NULL;
        if (!p) {
            it->next = self->free;
            self->free = it;
            return NULL;
        }
        it->ids = p;
        it->cap = nids;
    }
    it->next = NULL;
    return it;
}

static int
s_post (mdl_handoff_t *self, char cmd, const mdl_outmsg_t *m, const mdl_transient_msg_t *tm, const uint64_t *ids,
        size_t nids, mdl_blob_t *blob)
{
    pthread_mutex_lock (&self->lock);
    while (self->count >= self->cap && !self->closed) {
        self->full_wait = true;
        pthread_cond_wait (&self->room, &self->lock);
    }
    mdl_handoff_item_t *it = self->closed ? NULL : s_node (self, nids);
    if (!it) {
        const int rc = self->closed ? MDL_ESOCKET : MDL_ENOMEM;
        pthread_mutex_unlock (&self->lock);
        if (blob)
            mdl_blob_unref (blob);
        return rc;
    }
    it->cmd = cmd;
    it->m = m ? *m : (mdl_outmsg_t){ 0 };
    it->tm = tm ? *tm : (mdl_transient_msg_t){ 0 };
    it->blob = blob;
    it->nids = nids;
    if (nids)
        memcpy (it->ids, ids, nids * sizeof *ids);
    if (self->tail)
        self->tail->next = it;
    else
        self->head = it;
    self->tail = it;
    self->count++;
    const bool was_empty = !atomic_load_explicit (&self->posted, memory_order_relaxed);
    atomic_store_explicit (&self->posted, true, memory_order_release);
    pthread_mutex_unlock (&self->lock);
    /* Only the first item since the reader last took the queue signals: the others find
       the reader already due to look. */
    if (was_empty) {
        const uint64_t one = 1;
        if (write (self->fd, &one, sizeof one) < 0) {
            /* EAGAIN: the counter is full, so it is readable anyway */
        }
    }
    return 0;
}

int
mdl_handoff_send (mdl_handoff_t *self, const mdl_outmsg_t *m, const uint64_t *ids, size_t nids, mdl_blob_t *blob)
{
    return s_post (self, 0, m, NULL, ids, nids, blob);
}

int
mdl_handoff_command (mdl_handoff_t *self, char cmd, const mdl_transient_msg_t *tm, const uint64_t *ids, size_t nids)
{
    return s_post (self, cmd, NULL, tm, ids, nids, NULL);
}

void
mdl_handoff_clear_signal (mdl_handoff_t *self)
{
    uint64_t v;
    if (read (self->fd, &v, sizeof v) < 0) {
        /* EAGAIN: nothing to clear */
    }
}

mdl_handoff_item_t *
mdl_handoff_take (mdl_handoff_t *self)
{
    if (!atomic_load_explicit (&self->posted, memory_order_acquire))
        return NULL;
    pthread_mutex_lock (&self->lock);
    mdl_handoff_item_t *list = self->head;
    self->head = self->tail = NULL;
    self->count = 0;
    atomic_store_explicit (&self->posted, false, memory_order_relaxed);
    if (self->full_wait) {
        self->full_wait = false;
        pthread_cond_signal (&self->room);
    }
    pthread_mutex_unlock (&self->lock);
    return list;
}

void
mdl_handoff_recycle (mdl_handoff_t *self, mdl_handoff_item_t *list)
{
    if (!list)
        return;
    mdl_handoff_item_t *last = list;
    for (;; last = last->next) {
        last->blob = NULL; /* the reader took or gave back each reference */
        if (!last->next)
            break;
    }
    pthread_mutex_lock (&self->lock);
    last->next = self->free;
    self->free = list;
    pthread_mutex_unlock (&self->lock);
}

void
mdl_handoff_close (mdl_handoff_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->closed = true;
    mdl_handoff_item_t *list = self->head;
    self->head = self->tail = NULL;
    self->count = 0;
    atomic_store_explicit (&self->posted, false, memory_order_relaxed);
    pthread_cond_broadcast (&self->room);
    pthread_mutex_unlock (&self->lock);
    for (mdl_handoff_item_t *it = list; it; it = it->next)
        if (it->blob)
            mdl_blob_unref (it->blob);
    mdl_handoff_recycle (self, list); /* which clears the blob pointers */
}
