/*  discovery.c: the back-end registry and the shared announcement checks. */
#include "discovery.h"
#include "discovery_ops.h"

#include "err.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const mdl_disc_ops_t *const s_backends[] = {
    &mdl_disc_beacon_ops,
    &mdl_disc_static_ops,
    &mdl_disc_inproc_ops,
};

mdl_discovery_t *
mdl_discovery_new (const mdl_disc_cfg_t *cfg, const mdl_peer_info_t *info, int *err)
{
    int rc = MDL_EINVAL;
    mdl_discovery_t *self = NULL;
    const mdl_disc_ops_t *ops = NULL;
    if (!cfg || !info || info->id == 0)
        goto err;
    for (size_t i = 0; i < sizeof s_backends / sizeof s_backends[0]; i++)
        if (s_backends[i]->kind == cfg->kind)
            ops = s_backends[i];
    if (!ops || cfg->interval_ms < 0)
        goto err;
    rc = MDL_ENOMEM;
    self = calloc (1, sizeof *self);
    if (!self)
        goto err;
    self->self = *info;
    self->cluster = mdl_cluster_hash (cfg->cluster ? cfg->cluster : "");
    self->interval_ms = self->base_ms = cfg->interval_ms > 0 ? cfg->interval_ms : 250;
    rc = ops->start (self, cfg);
    if (rc)
        goto err;
    self->ops = ops; /* only a started back-end gets stopped */
    if (err)
        *err = 0;
    return self;
err:
    free (self);
    if (err)
        *err = rc;
    return NULL;
}

void
mdl_discovery_destroy (mdl_discovery_t **pself)
{
    if (!pself || !*pself)
        return;
    mdl_discovery_t *self = *pself;
    if (self->ops)
        self->ops->stop (self);
    free (self);
    *pself = NULL;
}

void *
mdl_discovery_socket (mdl_discovery_t *self)
{
    return self->ops->socket ? self->ops->socket (self) : NULL;
}

int
mdl_discovery_recv (mdl_discovery_t *self, mdl_peer_info_t *out, size_t cap, size_t *n)
{
    *n = 0;
    if (cap == 0)
        return 0;
    return self->ops->recv (self, out, cap, n);
}

int
mdl_discovery_gone (mdl_discovery_t *self, mdl_peer_info_t *out, size_t cap, size_t *n)
{
    *n = 0;
    return self->ops->gone && cap ? self->ops->gone (self, out, cap, n) : 0;
}

void
mdl_discovery_stats (const mdl_discovery_t *self, mdl_disc_stats_t *stats)
{
    *stats = self->stats;
}

static double
s_mono (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

double
mdl_discovery_pace (mdl_discovery_t *self, size_t live_peers)
{
    double want = (double) self->base_ms * (live_peers > MDL_DISC_FANIN ? (double) live_peers / MDL_DISC_FANIN : 1.0);
    if (want > 600000.0)
        want = 600000.0;
    const double now = (double) self->interval_ms;
    if (want > now * 1.2 || want < now / 1.2 || (want == self->base_ms && now != self->base_ms)) {
        self->interval_ms = (int) want;
        if (self->ops->announce)
            self->ops->announce (self);
    }
    return self->interval_ms / 1000.0;
}

void
mdl_discovery_announce_now (mdl_discovery_t *self)
{
    const double now = s_mono ();
    if (!self->ops->announce || now - self->last_announce < self->base_ms / 1000.0)
        return;
    self->last_announce = now;
    self->ops->announce (self);
}

const char *
mdl_discovery_host (const mdl_discovery_t *self)
{
    return self->host;
}

const char *
mdl_discovery_name (const mdl_discovery_t *self)
{
    return self->ops->name;
}

int
mdl_disc_accept (mdl_discovery_t *self, const void *buf, size_t len, mdl_peer_info_t *info)
{
    self->stats.received++;
    int rc = mdl_hello_unpack (buf, len, self->cluster, info);
    if (rc == MDL_EWIRE_CLUSTER) {
        self->stats.other_cluster++;
        return rc;
    }
    if (rc) {
        self->stats.malformed++;
        return rc;
    }
    if (info->id == self->self.id) {
        self->stats.self++;
        return MDL_EPEER;
    }
    return 0;
}

int
mdl_disc_accept_info (mdl_discovery_t *self, const mdl_peer_info_t *info, uint64_t cluster)
{
    self->stats.received++;
    if (cluster != self->cluster) {
        self->stats.other_cluster++;
        return MDL_EWIRE_CLUSTER;
    }
    if (info->id == self->self.id) {
        self->stats.self++;
        return MDL_EPEER;
    }
    return 0;
}
