/*  discovery_inproc.c: the in-process registry as a discovery back-end (simulation).
    Announcing = being in the registry; every interval (or at once when the registry
    changed) the whole registry is handed out again, as beacons would be, so liveness
    above works the same way as on a LAN. */
#include "discovery_ops.h"

#include "err.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    mdl_registry_t *registry;
    uint64_t version;   /* of the last snapshot handed out */
    double last;        /* when, seconds (monotonic) */
    mdl_peer_info_t *buf;
    size_t cap;
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
    int rc = mdl_registry_announce (st->registry, &self->self);
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

static int
s_recv (mdl_discovery_t *self, mdl_peer_info_t *out, size_t cap, size_t *n)
{
    s_state_t *st = self->state;
    double now = s_now ();
    size_t got = 0;
    if (st->cap < cap + 1) { /* +1: ourselves */
        mdl_peer_info_t *b = realloc (st->buf, (cap + 1) * sizeof *b);
        if (!b)
            return MDL_ENOMEM;
        st->buf = b;
        st->cap = cap + 1;
    }
    uint64_t version = mdl_registry_snapshot (st->registry, st->buf, cap + 1, &got);
    if (version == st->version && (now - st->last) * 1000.0 < self->interval_ms)
        return 0;
    st->version = version;
    st->last = now;
    size_t k = 0;
    for (size_t i = 0; i < got && k < cap; i++)
        if (mdl_disc_accept_info (self, &st->buf[i]) == 0)
            out[k++] = st->buf[i];
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
