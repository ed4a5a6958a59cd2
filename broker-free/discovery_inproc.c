/*  discovery_inproc.c: the in-process registry as a discovery back-end (simulation).
    Announcing = being in the registry. What changed since the last look is handed out
    at once (a newcomer is seen within a tick); the whole registry is handed out again
    every interval, as beacons would repeat, so liveness above works the same way as on
    a LAN. The interval grows with the cluster (mdl_discovery_pace): each agent reads a
    bounded number of entries per second, not 4 N. Nothing is copied but the page being
    handed out. Entries of other clusters are counted and ignored, as their beacons
    would be. */
#include "discovery_ops.h"

#include "err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Entries read from the registry at a time: a page lives on the comm thread's stack,
   where every page it ever spans stays resident (16 entries: 5 KB). */
#define S_PAGE 16

typedef struct {
    mdl_registry_t *registry;
    uint64_t seen;        /* every change up to this version was handed out */
    double last_full;     /* when the last full pass started (monotonic seconds) */
    bool in_pass;         /* a pass is being handed out, page by page */
    uint64_t since;       /* ... of the entries announced after this version (0: all) */
    uint64_t target;      /* ... the version when it started */
    uint64_t after;       /* ... the last id handed out */
    bool more;            /* ... entries may follow */
    uint64_t gone_seen;   /* every withdrawal up to this version was handed out */
    uint64_t gone_after;  /* ... the last id of a pass in progress */
    uint64_t gone_target; /* ... the version it started at (0: none in progress) */
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
    st->last_full = -1e9;
    self->state = st;
    return 0;
}

static void
s_stop (mdl_discovery_t *self)
{
    s_state_t *st = self->state;
    mdl_registry_withdraw (st->registry, self->self.id);
    free (st);
}

static int
s_recv (mdl_discovery_t *self, mdl_peer_info_t *out, size_t cap, size_t *n)
{
    s_state_t *st = self->state;
    if (!st->in_pass) {
        const uint64_t v = mdl_registry_version (st->registry, NULL);
        const double now = s_now ();
        /* The full pass first when it is due: it hands out the changes too, and while
           agents keep joining (a large cluster starting) the registry changes at every
           look, so a pass that waited for a quiet moment would never come. The peers
           it refreshes would fall silent for the comm actor (peer timeout), leave and
           rejoin, and a rejoin clears what was filed from them (comm_peers.c). */
        if ((now - st->last_full) * 1000.0 >= self->interval_ms) {
            st->since = 0; /* everyone again */
            st->last_full = now;
        } else if (v != st->seen)
            st->since = st->seen; /* the changes */
        else
            return 0;
        st->in_pass = true;
        st->target = v;
        st->after = 0;
        st->more = true;
    }
    /* Pages until out is full or the pass ends (the caller calls again on a full one). */
    mdl_registry_entry_t page[S_PAGE];
    size_t k = 0;
    while (st->in_pass && k < cap) {
        size_t got = 0;
        const size_t want = cap - k < S_PAGE ? cap - k : S_PAGE;
        st->more = mdl_registry_read (st->registry, st->since, &st->after, page, want, &got);
        for (size_t i = 0; i < got; i++)
            if (mdl_disc_accept_info (self, &page[i].info, page[i].cluster) == 0)
                out[k++] = page[i].info;
        if (!st->more) {
            st->in_pass = false;
            if (st->target > st->seen)
                st->seen = st->target;
        }
    }
    *n = k;
    return 0;
}

static int
s_gone (mdl_discovery_t *self, mdl_peer_info_t *out, size_t cap, size_t *n)
{
    s_state_t *st = self->state;
    if (!st->gone_target) {
        const uint64_t v = mdl_registry_version (st->registry, NULL);
        if (v == st->gone_seen)
            return 0;
        st->gone_target = v;
        st->gone_after = 0;
    }
    mdl_registry_entry_t page[S_PAGE];
    size_t k = 0;
    while (st->gone_target && k < cap) {
        size_t got = 0;
        const size_t want = cap - k < S_PAGE ? cap - k : S_PAGE;
        bool more = mdl_registry_read_gone (st->registry, st->gone_seen, &st->gone_after, page, want, &got);
        for (size_t i = 0; i < got; i++)
            if (page[i].cluster == self->cluster && page[i].info.id != self->self.id)
                out[k++] = page[i].info;
        if (!more) {
            st->gone_seen = st->gone_target;
            st->gone_target = 0;
        }
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
    .gone = s_gone,
};
