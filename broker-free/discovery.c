/*  discovery.c: the back-end registry and the shared announcement checks. */
#include "discovery.h"
#include "discovery_ops.h"

#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const mdl_disc_ops_t *const s_backends[] = {
    &mdl_disc_beacon_ops,
    &mdl_disc_static_ops,
    &mdl_disc_inproc_ops,
    &mdl_disc_dns_ops,
};

bool
mdl_disc_static_list (const mdl_disc_cfg_t *cfg)
{
    return cfg->kind == MDL_DISC_STATIC && cfg->peers && cfg->peers[0];
}

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
mdl_discovery_pace (mdl_discovery_t *self, size_t live_peers, double dilation)
{
    double want = (double) self->base_ms * (live_peers > MDL_DISC_FANIN ? (double) live_peers / MDL_DISC_FANIN : 1.0);
    if (dilation > 1)
        want *= dilation;
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

int
mdl_disc_split (const char *list, int (*each) (void *arg, const char *p, size_t len), void *arg)
{
    const char *p = list;
    for (;;) {
        const char *end = strchr (p, ',');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        const char *q = p;
        while (len && (*q == ' ' || *q == '\t'))
            q++, len--;
        while (len && (q[len - 1] == ' ' || q[len - 1] == '\t'))
            len--;
        int rc = each (arg, q, len);
        if (rc || !end)
            return rc;
        p = end + 1;
    }
}

static int
s_count (void *arg, const char *p, size_t len)
{
    (*(size_t *) arg)++;
    return 0;
}

size_t
mdl_disc_count (const char *list)
{
    size_t n = 0;
    mdl_disc_split (list, s_count, &n);
    return n;
}

typedef struct {
    bool dns;
    char *why;
    size_t len;
} s_check_t;

static int
s_check_entry (void *arg, const char *p, size_t len)
{
    s_check_t *c = arg;
    mdl_peer_info_t info;
    char name[256];
    int port;
    if (len >= 4 && !strncmp (p, "dns:", 4)) {
        c->dns = true;
        if (mdl_disc_parse_dns (p, len, name, &port) == 0)
            return 0;
        snprintf (c->why, c->len, "'%.*s' is not dns:NAME:PORT (a host or service name, PORT 1-65535, e.g. dns:tasks.agent:7000)",
                  (int) (len > 300 ? 300 : len), p);
        return MDL_EINVAL;
    }
    if (mdl_disc_parse_static (p, len, &info) == 0)
        return 0;
    const int shown = (int) (len > 300 ? 300 : len);
    if (len == 0)
        snprintf (c->why, c->len, "an empty entry (two commas, or a comma at an end)");
    else if (!memmem (p, len, "://", 3))
        snprintf (c->why, c->len, "'%.*s' is not an endpoint: write tcp://%.*s (entries are tcp://HOST:PORT or dns:NAME:PORT, comma-separated)",
                  shown, p, shown, p);
    else
        snprintf (c->why, c->len, "'%.*s' is not tcp://HOST:PORT[#KEY] (PORT 1-65535, KEY a 40-character Z85 public key) or dns:NAME:PORT",
                  (int) (len > 300 ? 300 : len), p);
    return MDL_EINVAL;
}

int
mdl_discovery_check_peers (const char *list, bool *has_dns, char *why, size_t len)
{
    s_check_t c = { false, why, len };
    if (len)
        why[0] = '\0';
    int rc = list ? mdl_disc_split (list, s_check_entry, &c) : MDL_EINVAL;
    if (has_dns)
        *has_dns = c.dns;
    return rc;
}

size_t
mdl_discovery_withdrawn (mdl_discovery_t *self, char (*out)[MDL_ENDPOINT_MAX], size_t cap)
{
    return self->ops->withdrawn ? self->ops->withdrawn (self, out, cap) : 0;
}

bool
mdl_discovery_note (mdl_discovery_t *self, char *buf, size_t len)
{
    return self->ops->note ? self->ops->note (self, buf, len) : false;
}

void
mdl_discovery_unresolved (mdl_discovery_t *self, char *buf, size_t len)
{
    if (len)
        buf[0] = '\0';
    if (self->ops->unresolved)
        self->ops->unresolved (self, buf, len);
}
