/*  registry.c: the in-process discovery registry: a sorted array under one mutex,
    held only for copies. */
#include "registry.h"

#include "err.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct mdl_registry_t {
    pthread_mutex_t lock;
    mdl_registry_entry_t *entries; /* sorted by info.id */
    size_t n, cap;
    uint64_t version;         /* bumped by every change */
};

mdl_registry_t *
mdl_registry_new (int *err)
{
    mdl_registry_t *self = calloc (1, sizeof *self);
    if (!self) {
        if (err)
            *err = MDL_ENOMEM;
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    if (err)
        *err = 0;
    return self;
}

void
mdl_registry_destroy (mdl_registry_t **pself)
{
    if (!pself || !*pself)
        return;
    mdl_registry_t *self = *pself;
    pthread_mutex_destroy (&self->lock);
    free (self->entries);
    free (self);
    *pself = NULL;
}

/* Index of id, or of where it would be inserted (lock held). */
static size_t
s_find (const mdl_registry_t *self, uint64_t id)
{
    size_t lo = 0, hi = self->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->entries[mid].info.id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int
mdl_registry_announce (mdl_registry_t *self, const mdl_peer_info_t *info, uint64_t cluster)
{
    if (!info || info->id == 0 || !info->endpoint[0])
        return MDL_EINVAL;
    mdl_registry_entry_t entry = { .info = *info, .cluster = cluster };
    int rc = 0;
    pthread_mutex_lock (&self->lock);
    entry.stamp = self->version + 1;
    size_t i = s_find (self, info->id);
    if (i < self->n && self->entries[i].info.id == info->id)
        self->entries[i] = entry;
    else {
        if (self->n == self->cap) {
            size_t cap = self->cap ? self->cap * 2 : 16;
            mdl_registry_entry_t *e = realloc (self->entries, cap * sizeof *e);
            if (!e) {
                rc = MDL_ENOMEM;
                goto out;
            }
            self->entries = e;
            self->cap = cap;
        }
        memmove (self->entries + i + 1, self->entries + i,
                 (self->n - i) * sizeof *self->entries);
        self->entries[i] = entry;
        self->n++;
    }
    self->version++;
out:
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
mdl_registry_withdraw (mdl_registry_t *self, uint64_t id)
{
    int rc = MDL_EPEER;
    pthread_mutex_lock (&self->lock);
    size_t i = s_find (self, id);
    if (i < self->n && self->entries[i].info.id == id) {
        memmove (self->entries + i, self->entries + i + 1,
                 (self->n - i - 1) * sizeof *self->entries);
        self->n--;
        self->version++;
        rc = 0;
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

uint64_t
mdl_registry_snapshot (mdl_registry_t *self, mdl_registry_entry_t *out, size_t cap, size_t *n)
{
    pthread_mutex_lock (&self->lock);
    size_t k = self->n < cap ? self->n : cap;
    if (k)
        memcpy (out, self->entries, k * sizeof *out);
    uint64_t version = self->version;
    pthread_mutex_unlock (&self->lock);
    *n = k;
    return version;
}

bool
mdl_registry_read (mdl_registry_t *self, uint64_t since, uint64_t *after, mdl_registry_entry_t *out, size_t cap,
                   size_t *n)
{
    size_t k = 0;
    pthread_mutex_lock (&self->lock);
    size_t i = *after ? s_find (self, *after) : 0;
    if (*after && i < self->n && self->entries[i].info.id == *after)
        i++;
    /* Entries are scanned, not indexed by stamp: a change pass costs O(n) compares, one
       per entry, under the lock. */
    for (; i < self->n && k < cap; i++)
        if (self->entries[i].stamp > since)
            out[k++] = self->entries[i];
    const bool more = i < self->n;
    pthread_mutex_unlock (&self->lock);
    if (k)
        *after = out[k - 1].info.id;
    *n = k;
    return more;
}

uint64_t
mdl_registry_version (mdl_registry_t *self, size_t *count)
{
    pthread_mutex_lock (&self->lock);
    uint64_t v = self->version;
    if (count)
        *count = self->n;
    pthread_mutex_unlock (&self->lock);
    return v;
}
