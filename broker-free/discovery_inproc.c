/*  discovery_inproc.c: the in-process registry as a discovery back-end (simulation).
    Announcing = being in the registry; every interval (or at once when the registry
    changed) the whole registry is handed out again, as beacons would be, so liveness
    above works the same way as on a LAN. Entries of other clusters are counted and
    ignored, as their beacons would be. */
#include "discovery_ops.h"

#include "err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    mdl_registry_t *registry;
    uint64_t version;   /* of the snapshot being handed out */
    double last;        /* when it was taken, seconds (monotonic) */
    mdl_registry_entry_t *buf; /* the snapshot: the whole registry */
    size_t cap, got;
    size_t next;        /* entries of buf handed out so far */
} s_state_t;

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
s_start (mdl_discovery_t *self, const mdl_disc_cfg_t *cfg)
{
    if (!cfg->registry || !self->self.endpoint[0])
        return MDL_EINVAL;
    s_state_t *st = calloc (1, sizeof *st);
    if (!st)
        return MDL_ENOMEM;
    st->registry = cfg->registry;
    int rc = mdl_registry_announce (st->registry, &self->self, self->cluster);
    if (rc) {
        free (st);
        return rc;
    }
    st->last = -1e9;
    self->state = st;
    return 0;
}

static void
s_stop (mdl_discovery_t *self)
{
    s_state_t *st = self->state;
    mdl_registry_withdraw (st->registry, self->self.id);
    free (st->buf);
    free (st);
}

/* Takes a snapshot of the whole registry into st->buf. Returns 0 or MDL_ENOMEM (the
   previous snapshot is then kept). */
static int
s_snapshot (s_state_t *st)
{
    while (true) {
        uint64_t version = mdl_registry_snapshot (st->registry, st->buf, st->cap, &st->got);
        size_t count = 0;
        mdl_registry_version (st->registry, &count);
        if (st->got == count || count <= st->cap) {
            st->version = version;
            st->next = 0;
            return 0;
        }
        /* the registry grew: room for all of it, then again */
        if (count > SIZE_MAX / 2 / sizeof *st->buf)
            return MDL_ENOMEM;
        size_t cap = count * 2;
        mdl_registry_entry_t *b = realloc (st->buf, cap * sizeof *b);
        if (!b)
            return MDL_ENOMEM;
        st->buf = b;
        st->cap = cap;
    }
}

static int
s_recv (mdl_discovery_t *self, mdl_peer_info_t *out, size_t cap, size_t *n)
{
    s_state_t *st = self->state;
    if (st->next == st->got) {
        /* all handed out: again at the next interval, or at once on a change */
        double now = s_now ();
        if (mdl_registry_version (st->registry, NULL) == st->version
            && (now - st->last) * 1000.0 < self->interval_ms)
            return 0;
        int rc = s_snapshot (st);
        if (rc)
            return rc;
        st->last = now;
    }
    /* a caller with less room than the registry gets the rest on its next call */
    size_t k = 0;
    for (; st->next < st->got && k < cap; st->next++) {
        const mdl_registry_entry_t *e = &st->buf[st->next];
        if (mdl_disc_accept_info (self, &e->info, e->cluster) == 0)
            out[k++] = e->info;
    }
    *n = k;
    return 0;
}

const mdl_disc_ops_t mdl_disc_inproc_ops = {
    .name = "inproc",
    .kind = MDL_DISC_INPROC,
    .start = s_start,
    .stop = s_stop,
    .socket = NULL,
    .recv = s_recv,
};
