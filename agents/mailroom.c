/*  mailroom.c: see mailroom.h. */
#include "mailroom.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"

typedef struct {
    float *vec;          /* (d) */
    mdl_slot_meta_t meta;
    bool valid;
    bool reading;
    bool writing;
} s_slot_t;

typedef struct {
    uint64_t peer;
    s_slot_t *slots;     /* (channels * 2) */
    bool removed;        /* freed once no slot is being read or written */
} s_box_t;

struct mdl_mailroom_t {
    size_t d;
    int channels;
    size_t max_peers;
    s_box_t *boxes;      /* (max_peers), first nboxes used, sorted by insertion */
    size_t nboxes;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t version;    /* bumped by every write_end, so waiters notice */
};

mdl_mailroom_t *
mdl_mailroom_new (size_t d, int channels, size_t max_peers, int *err)
{
    mdl_mailroom_t *self = calloc (1, sizeof *self);
    if (!self || channels < 1 || max_peers < 1) {
        if (err)
            *err = self ? MDL_EINVAL : MDL_ENOMEM;
        free (self);
        return NULL;
    }
    self->d = d;
    self->channels = channels;
    self->max_peers = max_peers;
    self->boxes = calloc (max_peers, sizeof *self->boxes);
    if (!self->boxes) {
        free (self);
        if (err)
            *err = MDL_ENOMEM;
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init (&ca);
    pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
    pthread_cond_init (&self->cond, &ca);
    pthread_condattr_destroy (&ca);
    return self;
}

void
mdl_mailroom_destroy (mdl_mailroom_t **pself)
{
    if (!pself || !*pself)
        return;
    mdl_mailroom_t *self = *pself;
    for (size_t i = 0; i < self->nboxes; i++) {
        for (int k = 0; k < 2 * self->channels; k++)
            free (self->boxes[i].slots[k].vec);
        free (self->boxes[i].slots);
    }
    free (self->boxes);
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->cond);
    free (self);
    *pself = NULL;
}

/* Lock held. Linear search: an agent has tens of peers, and this runs once per message.
   A removed box still being read is not found (its peer left). */
static s_box_t *
s_find (mdl_mailroom_t *self, uint64_t peer)
{
    for (size_t i = 0; i < self->nboxes; i++)
        if (self->boxes[i].peer == peer && !self->boxes[i].removed)
            return &self->boxes[i];
    return NULL;
}

/* Lock held: frees box i when it is removed and no slot is being read (the last box
   moves into its place). Writes never straddle a removal: the comm actor writes and
   removes, each write within one of its handlers. */
static void
s_reap (mdl_mailroom_t *self, size_t i)
{
    s_box_t *b = &self->boxes[i];
    if (!b->removed)
        return;
    for (int k = 0; k < 2 * self->channels; k++)
        if (b->slots[k].reading || b->slots[k].writing)
            return;
    for (int k = 0; k < 2 * self->channels; k++)
        free (b->slots[k].vec);
    free (b->slots);
    self->boxes[i] = self->boxes[--self->nboxes];
}

void
mdl_mailroom_remove (mdl_mailroom_t *self, uint64_t peer)
{
    pthread_mutex_lock (&self->lock);
    for (size_t i = 0; i < self->nboxes; i++)
        if (self->boxes[i].peer == peer && !self->boxes[i].removed) {
            self->boxes[i].removed = true;
            for (int k = 0; k < 2 * self->channels; k++)
                self->boxes[i].slots[k].valid = false;
            s_reap (self, i);
            break;
        }
    pthread_mutex_unlock (&self->lock);
}

size_t
mdl_mailroom_vectors (mdl_mailroom_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t n = self->nboxes * 2 * (size_t) self->channels;
    pthread_mutex_unlock (&self->lock);
    return n;
}

int
mdl_mailroom_add (mdl_mailroom_t *self, uint64_t peer)
{
    pthread_mutex_lock (&self->lock);
    int rc = 0;
    if (s_find (self, peer))
        goto done;
    if (self->nboxes == self->max_peers) {
        rc = MDL_ERANGE;
        goto done;
    }
    /* Allocate outside nothing else: joins are rare, and the reader never holds pointers
       into boxes[] across calls. */
    s_slot_t *slots = calloc ((size_t) self->channels * 2, sizeof *slots);
    if (!slots) {
        rc = MDL_ENOMEM;
        goto done;
    }
    for (int k = 0; k < 2 * self->channels; k++)
        if (!(slots[k].vec = calloc (self->d ? self->d : 1, sizeof (float)))) {
            for (int j = 0; j < k; j++)
                free (slots[j].vec);
            free (slots);
            rc = MDL_ENOMEM;
            goto done;
        }
    self->boxes[self->nboxes].peer = peer;
    self->boxes[self->nboxes].slots = slots;
    self->boxes[self->nboxes].removed = false;
    self->nboxes++;
done:
    pthread_mutex_unlock (&self->lock);
    return rc;
}

void
mdl_mailroom_clear (mdl_mailroom_t *self, uint64_t peer)
{
    pthread_mutex_lock (&self->lock);
    s_box_t *b = s_find (self, peer);
    if (b)
        for (int k = 0; k < 2 * self->channels; k++)
            b->slots[k].valid = false;
    pthread_mutex_unlock (&self->lock);
}

static s_slot_t *
s_pair (mdl_mailroom_t *self, uint64_t peer, int channel)
{
    if (channel < 0 || channel >= self->channels)
        return NULL;
    s_box_t *b = s_find (self, peer);
    return b ? &b->slots[2 * channel] : NULL;
}

float *
mdl_mailroom_write_begin (mdl_mailroom_t *self, uint64_t peer, int channel, uint64_t step,
                          bool by_parity)
{
    pthread_mutex_lock (&self->lock);
    s_slot_t *p = s_pair (self, peer, channel), *s = NULL;
    if (p) {
        if (by_parity)
            s = &p[step % 2];
        else if (p[0].reading)
            s = &p[1];
        else if (p[1].reading)
            s = &p[0];
        else if (!p[0].valid)
            s = &p[0];
        else if (!p[1].valid)
            s = &p[1];
        else
            s = p[0].meta.step <= p[1].meta.step ? &p[0] : &p[1];
        /* Never write under a reader. With parity this can only happen if a peer ran two
           rounds ahead (a protocol violation): the update is dropped. */
        if (s->reading)
            s = NULL;
        else {
            s->writing = true;
            s->valid = false;
        }
    }
    pthread_mutex_unlock (&self->lock);
    return s ? s->vec : NULL;
}

static s_slot_t *
s_writing (mdl_mailroom_t *self, uint64_t peer, int channel)
{
    s_slot_t *p = s_pair (self, peer, channel);
    if (!p)
        return NULL;
    return p[0].writing ? &p[0] : p[1].writing ? &p[1] : NULL;
}

void
mdl_mailroom_write_end (mdl_mailroom_t *self, uint64_t peer, int channel,
                        const mdl_slot_meta_t *meta)
{
    pthread_mutex_lock (&self->lock);
    s_slot_t *s = s_writing (self, peer, channel);
    if (s) {
        s->writing = false;
        s->valid = true;
        s->meta = *meta;
        self->version++;
        pthread_cond_broadcast (&self->cond);
    }
    pthread_mutex_unlock (&self->lock);
}

void
mdl_mailroom_write_abort (mdl_mailroom_t *self, uint64_t peer, int channel)
{
    pthread_mutex_lock (&self->lock);
    s_slot_t *s = s_writing (self, peer, channel);
    if (s)
        s->writing = false;
    pthread_mutex_unlock (&self->lock);
}

/* Lock held: the slot of (peer, channel) to read for step (UINT64_MAX: newest). */
static s_slot_t *
s_pick (mdl_mailroom_t *self, uint64_t peer, int channel, uint64_t step)
{
    s_slot_t *p = s_pair (self, peer, channel);
    if (!p)
        return NULL;
    s_slot_t *best = NULL;
    for (int k = 0; k < 2; k++) {
        if (!p[k].valid)
            continue;
        if (step != UINT64_MAX) {
            if (p[k].meta.step == step)
                return &p[k];
        } else if (!best || p[k].meta.step > best->meta.step
                   || (p[k].meta.step == best->meta.step && p[k].meta.seq > best->meta.seq))
            best = &p[k];
    }
    return best;
}

const float *
mdl_mailroom_read_begin (mdl_mailroom_t *self, uint64_t peer, int channel, uint64_t step,
                         mdl_slot_meta_t *meta)
{
    pthread_mutex_lock (&self->lock);
    s_slot_t *s = s_pick (self, peer, channel, step);
    if (s && s->meta.lost)
        s = NULL; /* a tombstone says the round is over for this peer, with nothing to mix */
    if (s) {
        s->reading = true;
        if (meta)
            *meta = s->meta;
    }
    pthread_mutex_unlock (&self->lock);
    return s ? s->vec : NULL;
}

void
mdl_mailroom_read_end (mdl_mailroom_t *self, uint64_t peer, int channel)
{
    pthread_mutex_lock (&self->lock);
    /* The peer may have left (and even come back) while its vector was read: the read
       ends on every box of that peer, and a removed one is freed now. */
    for (size_t i = self->nboxes; channel >= 0 && channel < self->channels && i-- > 0;)
        if (self->boxes[i].peer == peer) {
            s_slot_t *p = &self->boxes[i].slots[2 * channel];
            p[0].reading = p[1].reading = false;
            s_reap (self, i);
        }
    pthread_mutex_unlock (&self->lock);
}

bool
mdl_mailroom_peek (mdl_mailroom_t *self, uint64_t peer, int channel, mdl_slot_meta_t *meta)
{
    pthread_mutex_lock (&self->lock);
    s_slot_t *s = s_pick (self, peer, channel, UINT64_MAX);
    if (s && meta)
        *meta = s->meta;
    pthread_mutex_unlock (&self->lock);
    return s != NULL;
}

bool
mdl_mailroom_wait (mdl_mailroom_t *self, bool (*changed) (void *arg), void *arg, double timeout)
{
    struct timespec now, until;
    clock_gettime (CLOCK_MONOTONIC, &now);
    double t = (double) now.tv_sec + 1e-9 * now.tv_nsec + (timeout > 0 ? timeout : 0);
    until.tv_sec = (time_t) t;
    until.tv_nsec = (long) ((t - (double) until.tv_sec) * 1e9);
    for (;;) {
        /* Take the version before evaluating changed(): a write that lands between the
           check and the wait then shows as a version change, not a lost wake-up. */
        pthread_mutex_lock (&self->lock);
        uint64_t seen = self->version;
        pthread_mutex_unlock (&self->lock);
        if (changed (arg))
            return true;
        pthread_mutex_lock (&self->lock);
        int rc = 0;
        while (self->version == seen && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait (&self->cond, &self->lock, &until);
        pthread_mutex_unlock (&self->lock);
        if (rc == ETIMEDOUT)
            return changed (arg);
    }
}

void
mdl_mailroom_wake (mdl_mailroom_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->version++;
    pthread_cond_broadcast (&self->cond);
    pthread_mutex_unlock (&self->lock);
}
