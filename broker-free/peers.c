/*  peers.c: the peer table: a sorted array of records, never shrunk (a dead peer keeps
    its record, so a return is recognised as a REJOIN). Linear scans for expire/alive are
    O(capacity), fine for the few hundred agents meshdl targets. */
#include "peers.h"

#include "err.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    mdl_peer_info_t info;
    bool alive;
    bool mute_reported; /* reported by mdl_peers_mute since it was last heard */
    double last_seen;   /* announcement or message */
    double since;       /* joined, or last heard over the mesh */
} s_rec_t;

struct mdl_peers_t {
    uint64_t self;
    double timeout;
    s_rec_t *recs; /* sorted by id */
    size_t n, cap;
};

mdl_peers_t *
mdl_peers_new (uint64_t self_id, double timeout, size_t capacity, int *err)
{
    mdl_peers_t *self = NULL;
    int rc = MDL_EINVAL;
    if (!(timeout > 0.0) || capacity == 0)
        goto err;
    rc = MDL_ENOMEM;
    self = calloc (1, sizeof *self);
    if (!self)
        goto err;
    self->recs = calloc (capacity, sizeof *self->recs);
    if (!self->recs)
        goto err;
    self->self = self_id;
    self->timeout = timeout;
    self->cap = capacity;
    if (err)
        *err = 0;
    return self;
err:
    mdl_peers_destroy (&self);
    if (err)
        *err = rc;
    return NULL;
}

void
mdl_peers_destroy (mdl_peers_t **pself)
{
    if (!pself || !*pself)
        return;
    free ((*pself)->recs);
    free (*pself);
    *pself = NULL;
}

void
mdl_peers_set_timeout (mdl_peers_t *self, double timeout)
{
    if (timeout > 0.0)
        self->timeout = timeout;
}

static size_t
s_find (const mdl_peers_t *self, uint64_t id)
{
    size_t lo = 0, hi = self->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->recs[mid].info.id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static s_rec_t *
s_get (const mdl_peers_t *self, uint64_t id)
{
    size_t i = s_find (self, id);
    return i < self->n && self->recs[i].info.id == id ? &self->recs[i] : NULL;
}

/* Takes info's fields, keeping the known endpoint when info has none. */
static void
s_update (s_rec_t *r, const mdl_peer_info_t *info)
{
    char endpoint[MDL_ENDPOINT_MAX];
    memcpy (endpoint, r->info.endpoint, sizeof endpoint);
    r->info = *info;
    r->info.endpoint[MDL_ENDPOINT_MAX - 1] = 0;
    r->info.pubkey[MDL_PUBKEY_LEN] = 0;
    if (!info->endpoint[0])
        memcpy (r->info.endpoint, endpoint, sizeof endpoint);
}

int
mdl_peers_seen (mdl_peers_t *self, const mdl_peer_info_t *info, double now,
                mdl_peer_event_t *ev)
{
    memset (ev, 0, sizeof *ev);
    ev->kind = MDL_PEER_NONE;
    if (info->id == 0 || info->id == self->self)
        return 0;
    size_t i = s_find (self, info->id);
    s_rec_t *r = i < self->n && self->recs[i].info.id == info->id ? &self->recs[i] : NULL;
    if (!r) {
        if (self->n == self->cap)
            return MDL_ENOMEM;
        memmove (self->recs + i + 1, self->recs + i, (self->n - i) * sizeof *self->recs);
        self->n++;
        r = &self->recs[i];
        memset (r, 0, sizeof *r);
        ev->kind = MDL_PEER_JOIN;
    }
    else if (!r->alive || r->info.incarnation != info->incarnation) {
        ev->kind = MDL_PEER_REJOIN;
        ev->old_incarnation = r->info.incarnation;
    }
    if (ev->kind != MDL_PEER_NONE) {
        r->alive = true;
        r->since = now;
        r->mute_reported = false;
    }
    s_update (r, info);
    r->last_seen = now;
    ev->info = r->info;
    return 0;
}

bool
mdl_peers_touch (mdl_peers_t *self, uint64_t id, uint64_t incarnation, double now)
{
    s_rec_t *r = s_get (self, id);
    if (!r || !r->alive || (incarnation && incarnation != r->info.incarnation))
        return false;
    r->last_seen = now;
    r->since = now;
    r->mute_reported = false;
    return true;
}

size_t
mdl_peers_expire (mdl_peers_t *self, double now, mdl_peer_event_t *ev, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < self->n && k < cap; i++) {
        s_rec_t *r = &self->recs[i];
        if (r->alive && now - r->last_seen > self->timeout) {
            r->alive = false;
            memset (&ev[k], 0, sizeof ev[k]);
            ev[k].kind = MDL_PEER_LEAVE;
            ev[k].info = r->info;
            k++;
        }
    }
    return k;
}

size_t
mdl_peers_mute (mdl_peers_t *self, double now, uint64_t *ids, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < self->n && k < cap; i++) {
        s_rec_t *r = &self->recs[i];
        if (r->alive && !r->mute_reported && now - r->since > self->timeout) {
            r->mute_reported = true;
            ids[k++] = r->info.id;
        }
    }
    return k;
}

bool
mdl_peers_remove (mdl_peers_t *self, uint64_t id, mdl_peer_event_t *ev)
{
    s_rec_t *r = s_get (self, id);
    if (!r || !r->alive)
        return false;
    r->alive = false;
    if (ev) {
        memset (ev, 0, sizeof *ev);
        ev->kind = MDL_PEER_LEAVE;
        ev->info = r->info;
    }
    return true;
}

size_t
mdl_peers_alive (const mdl_peers_t *self, uint64_t *ids, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < self->n; i++)
        if (self->recs[i].alive) {
            if (k < cap)
                ids[k] = self->recs[i].info.id;
            k++;
        }
    return k;
}

const mdl_peer_info_t *
mdl_peers_get (const mdl_peers_t *self, uint64_t id)
{
    s_rec_t *r = s_get (self, id);
    return r ? &r->info : NULL;
}

bool
mdl_peers_is_alive (const mdl_peers_t *self, uint64_t id)
{
    s_rec_t *r = s_get (self, id);
    return r && r->alive;
}
