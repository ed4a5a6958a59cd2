/*  peers.c: the peer table: a sorted array of records, never shrunk (a dead peer keeps
    its record, so a return is recognised as a REJOIN). Linear scans for expire/alive are
    O(capacity), fine for the few hundred agents meshdl targets. */
#include "peers.h"

#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A peer's record: mdl_peer_info_t's fields with the endpoint out of line, a copy of its
   own length (an agent of a large cluster keeps one record per member: 256 bytes of
   endpoint each would be most of them). */
typedef struct {
    uint64_t id, incarnation;
    char *endpoint;     /* NULL: not known */
    uint16_t port;
    char pubkey[MDL_PUBKEY_LEN + 1];
    bool alive;
    bool mute_reported; /* reported by mdl_peers_mute since it was last heard */
    bool bye;           /* this incarnation said goodbye: it never comes back (a restart
                           has a new one); its hellos still in flight are stale */
    double last_seen;   /* announcement or message */
    double since;       /* joined, or last heard over the mesh */
    double rejoined;    /* last join or rejoin (mdl_peers_backoff) */
    double hold;        /* ... and how long the next rejoin must wait after it */
} s_rec_t;

struct mdl_peers_t {
    uint64_t self;
    double timeout;
    s_rec_t *recs; /* sorted by id */
    size_t n, cap;
    /* flood limits (mdl_peers_limits) */
    double confirm;
    struct { uint64_t id; double first; } pending[MDL_PEERS_PENDING];
    size_t npending;
    double burst, rate, tokens, refilled;
    double hold_max;
    mdl_peer_info_t got; /* mdl_peers_get's answer */
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
    for (size_t i = 0; (*pself)->recs && i < (*pself)->n; i++)
        free ((*pself)->recs[i].endpoint);
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
        if (self->recs[mid].id < id)
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
    return i < self->n && self->recs[i].id == id ? &self->recs[i] : NULL;
}

/* Takes info's fields; the endpoint *ep when not NULL (taken: *ep becomes NULL), else
   the known one stays. */
static void
s_update (s_rec_t *r, const mdl_peer_info_t *info, char **ep)
{
    r->id = info->id;
    r->incarnation = info->incarnation;
    r->port = info->port;
    memcpy (r->pubkey, info->pubkey, MDL_PUBKEY_LEN);
    r->pubkey[MDL_PUBKEY_LEN] = 0;
    if (*ep) {
        free (r->endpoint);
        r->endpoint = *ep;
        *ep = NULL;
    }
}

/* r as an mdl_peer_info_t. */
static void
s_info (const s_rec_t *r, mdl_peer_info_t *out)
{
    memset (out, 0, sizeof *out);
    out->id = r->id;
    out->incarnation = r->incarnation;
    out->port = r->port;
    if (r->endpoint)
        snprintf (out->endpoint, sizeof out->endpoint, "%s", r->endpoint);
    memcpy (out->pubkey, r->pubkey, sizeof out->pubkey);
}

void
mdl_peers_limits (mdl_peers_t *self, double confirm, double burst, double rate)
{
    self->confirm = confirm > 0 ? confirm : 0;
    self->burst = burst > 1 ? burst : 1;
    self->rate = rate > 0 ? rate : 0;
    self->tokens = self->burst;
    self->refilled = -1;
}

void
mdl_peers_backoff (mdl_peers_t *self, double max)
{
    self->hold_max = max > 0 ? max : 0;
}

/* The rejoin back-off of r at now (peers.h): false while it must still wait; else
   true, and the wait after this rejoin is set (doubled when the last rejoin is recent,
   forgiven after a long quiet). */
static bool
s_rejoin_allowed (mdl_peers_t *self, s_rec_t *r, double now)
{
    if (self->hold_max <= 0)
        return true;
    if (now < r->rejoined + r->hold)
        return false;
    if (now - r->rejoined < 2 * r->hold + self->hold_max) {
        r->hold = r->hold * 2 < MDL_PEERS_HOLD_MIN ? MDL_PEERS_HOLD_MIN : r->hold * 2;
        if (r->hold > self->hold_max)
            r->hold = self->hold_max;
    }
    else
        r->hold = 0;
    return true;
}

/* Probation of a new id: true once it was announced confirm seconds ago or more (it then
   leaves the list); else records its first announcement. */
static bool
s_confirmed (mdl_peers_t *self, uint64_t id, double now)
{
    if (self->confirm <= 0)
        return true;
    size_t oldest = 0;
    for (size_t k = 0; k < self->npending; k++) {
        if (self->pending[k].id == id) {
            if (now - self->pending[k].first < self->confirm)
                return false;
            self->pending[k] = self->pending[--self->npending];
            return true;
        }
        if (self->pending[k].first < self->pending[oldest].first)
            oldest = k;
    }
    const size_t at = self->npending < MDL_PEERS_PENDING ? self->npending++ : oldest;
    self->pending[at].id = id;
    self->pending[at].first = now;
    return false;
}

/* The join budget: takes a token if there is one. */
static bool
s_token (mdl_peers_t *self, double now)
{
    if (self->rate <= 0)
        return true;
    if (self->refilled >= 0 && now > self->refilled) {
        self->tokens += (now - self->refilled) * self->rate;
        if (self->tokens > self->burst)
            self->tokens = self->burst;
    }
    self->refilled = now;
    if (self->tokens < 1)
        return false;
    self->tokens -= 1;
    return true;
}

/* Room for one more record: the longest-dead one goes when the table is full. */
static bool
s_make_room (mdl_peers_t *self)
{
    if (self->n < self->cap)
        return true;
    size_t victim = self->n;
    for (size_t k = 0; k < self->n; k++)
        if (!self->recs[k].alive && (victim == self->n || self->recs[k].last_seen < self->recs[victim].last_seen))
            victim = k;
    if (victim == self->n)
        return false;
    free (self->recs[victim].endpoint);
    memmove (self->recs + victim, self->recs + victim + 1, (self->n - victim - 1) * sizeof *self->recs);
    self->n--;
    return true;
}

/* mdl_peers_seen with a copy of a new endpoint in *ep (NULL: none), taken when stored. */
static int
s_seen (mdl_peers_t *self, const mdl_peer_info_t *info, double now, mdl_peer_event_t *ev, char **ep)
{
    size_t i = s_find (self, info->id);
    s_rec_t *r = i < self->n && self->recs[i].id == info->id ? &self->recs[i] : NULL;
    if (!r) {
        if (!s_confirmed (self, info->id, now))
            return 0;
        if (!s_make_room (self))
            return MDL_ENOMEM;
        if (!s_token (self, now))
            return MDL_ERATE;
        i = s_find (self, info->id); /* a record may have gone */
        memmove (self->recs + i + 1, self->recs + i, (self->n - i) * sizeof *self->recs);
        self->n++;
        r = &self->recs[i];
        memset (r, 0, sizeof *r);
        r->rejoined = now;
        ev->kind = MDL_PEER_JOIN;
    }
    else if (!r->alive && r->bye && r->incarnation == info->incarnation)
        return 0; /* a hello sent before its goodbye, arriving after it */
    else if (!r->alive || r->incarnation != info->incarnation) {
        const double rejoined = r->rejoined, hold = r->hold;
        if (!s_rejoin_allowed (self, r, now))
            return MDL_EBACKOFF;
        if (!s_token (self, now)) {
            r->rejoined = rejoined; /* not a rejoin after all: no back-off spent */
            r->hold = hold;
            return MDL_ERATE;
        }
        r->rejoined = now;
        ev->kind = MDL_PEER_REJOIN;
        ev->old_incarnation = r->incarnation;
    }
    if (ev->kind != MDL_PEER_NONE) {
        r->alive = true;
        r->bye = false;
        r->since = now;
        r->mute_reported = false;
    }
    s_update (r, info, ep);
    r->last_seen = now;
    s_info (r, &ev->info);
    return 0;
}

int
mdl_peers_seen (mdl_peers_t *self, const mdl_peer_info_t *info, double now, mdl_peer_event_t *ev)
{
    memset (ev, 0, sizeof *ev);
    ev->kind = MDL_PEER_NONE;
    if (info->id == 0 || info->id == self->self)
        return 0;
    /* A new endpoint's copy is made first: when it cannot be, nothing has changed. */
    const s_rec_t *known = s_get (self, info->id);
    char *ep = NULL;
    if (info->endpoint[0] && !(known && known->endpoint && !strncmp (known->endpoint, info->endpoint, MDL_ENDPOINT_MAX - 1))
        && !(ep = strndup (info->endpoint, MDL_ENDPOINT_MAX - 1)))
        return MDL_ENOMEM;
    const int rc = s_seen (self, info, now, ev, &ep);
    free (ep); /* not taken */
    return rc;
}

bool
mdl_peers_touch (mdl_peers_t *self, uint64_t id, uint64_t incarnation, double now)
{
    s_rec_t *r = s_get (self, id);
    if (!r || !r->alive || (incarnation && incarnation != r->incarnation))
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
            s_info (r, &ev[k].info);
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
            ids[k++] = r->id;
        }
    }
    return k;
}

/* Marks a live record dead, bye for a goodbye (then its incarnation never returns). */
static bool
s_kill (s_rec_t *r, bool bye, mdl_peer_event_t *ev)
{
    if (!r || !r->alive)
        return false;
    r->alive = false;
    r->bye = bye;
    if (ev) {
        memset (ev, 0, sizeof *ev);
        ev->kind = MDL_PEER_LEAVE;
        s_info (r, &ev->info);
    }
    return true;
}

bool
mdl_peers_remove (mdl_peers_t *self, uint64_t id, mdl_peer_event_t *ev)
{
    return s_kill (s_get (self, id), true, ev);
}

bool
mdl_peers_drop (mdl_peers_t *self, uint64_t id, mdl_peer_event_t *ev)
{
    return s_kill (s_get (self, id), false, ev);
}

void
mdl_peers_listening (mdl_peers_t *self, uint64_t id, double now)
{
    s_rec_t *r = s_get (self, id);
    if (r && r->alive) {
        r->since = now;
        r->mute_reported = false;
    }
}

size_t
mdl_peers_alive (const mdl_peers_t *self, uint64_t *ids, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < self->n; i++)
        if (self->recs[i].alive) {
            if (k < cap)
                ids[k] = self->recs[i].id;
            k++;
        }
    return k;
}

const mdl_peer_info_t *
mdl_peers_get (mdl_peers_t *self, uint64_t id)
{
    const s_rec_t *r = s_get (self, id);
    if (!r)
        return NULL;
    s_info (r, &self->got);
    return &self->got;
}

bool
mdl_peers_is_alive (const mdl_peers_t *self, uint64_t id)
{
    s_rec_t *r = s_get (self, id);
    return r && r->alive;
}
