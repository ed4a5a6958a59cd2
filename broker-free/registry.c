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
    mdl_registry_entry_t *gone;    /* withdrawn agents, sorted by info.id (id, incarnation,
                                      cluster and the stamp of the withdrawal only) */
    size_t ngone, capgone;
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
    free (self->gone);
    free (self);
    *pself = NULL;
}

/* Index of id in e[0..n), or of where it would be inserted (lock held). */
static size_t
s_find_in (const mdl_registry_entry_t *e, size_t n, uint64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e[mid].info.id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static size_t
s_find (const mdl_registry_t *self, uint64_t id)
{
    return s_find_in (self->entries, self->n, id);
}

/* Lock held: forgets that id left (it announced again). */
static void
s_unbury (mdl_registry_t *self, uint64_t id)
{
    size_t i = s_find_in (self->gone, self->ngone, id);
    if (i < self->ngone && self->gone[i].info.id == id) {
        memmove (self->gone + i, self->gone + i + 1, (self->ngone - i - 1) * sizeof *self->gone);
        self->ngone--;
    }
}

/* Lock held: remembers that e left (best effort: without memory it is only missed, and
   its peers notice the silence instead). */
static void
s_bury (mdl_registry_t *self, const mdl_registry_entry_t *e)
{
    if (self->ngone == self->capgone) {
        size_t cap = self->capgone ? self->capgone * 2 : 16;
        mdl_registry_entry_t *g = realloc (self->gone, cap * sizeof *g);
        if (!g)
            return;
        self->gone = g;
        self->capgone = cap;
    }
    size_t i = s_find_in (self->gone, self->ngone, e->info.id);
    memmove (self->gone + i + 1, self->gone + i, (self->ngone - i) * sizeof *self->gone);
    memset (&self->gone[i], 0, sizeof self->gone[i]);
    self->gone[i].info.id = e->info.id;
    self->gone[i].info.incarnation = e->info.incarnation;
    self->gone[i].cluster = e->cluster;
    self->gone[i].stamp = self->version;
    self->ngone++;
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
    s_unbury (self, info->id);
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
        mdl_registry_entry_t e = self->entries[i];
        memmove (self->entries + i, self->entries + i + 1,
                 (self->n - i - 1) * sizeof *self->entries);
        self->n--;
        self->version++;
        s_bury (self, &e);
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

/* Lock held: a page of e[0..n) with stamps above since and ids above *after. */
static bool
s_page (const mdl_registry_entry_t *e, size_t n, uint64_t since, uint64_t *after, mdl_registry_entry_t *out,
        size_t cap, size_t *got)
{
    size_t k = 0;
    size_t i = *after ? s_find_in (e, n, *after) : 0;
    if (*after && i < n && e[i].info.id == *after)
        i++;
    /* Entries are scanned, not indexed by stamp: a change pass costs O(n) compares, one
       per entry, under the lock. */
    for (; i < n && k < cap; i++)
        if (e[i].stamp > since)
            out[k++] = e[i];
    if (k)
        *after = out[k - 1].info.id;
    *got = k;
    return i < n;
}

bool
mdl_registry_read_gone (mdl_registry_t *self, uint64_t since, uint64_t *after, mdl_registry_entry_t *out,
                        size_t cap, size_t *n)
{
    pthread_mutex_lock (&self->lock);
    const bool more = s_page (self->gone, self->ngone, since, after, out, cap, n);
    pthread_mutex_unlock (&self->lock);
    return more;
}

bool
mdl_registry_read (mdl_registry_t *self, uint64_t since, uint64_t *after, mdl_registry_entry_t *out, size_t cap,
                   size_t *n)
{
    size_t k = 0;
    pthread_mutex_lock (&self->lock);
    const bool more = s_page (self->entries, self->n, since, after, out, cap, &k);
    pthread_mutex_unlock (&self->lock);
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
