/*  watch.c: meshdl/watch.h: discovery without an agent (listen only), configured by the
    discovery part of an agent's configuration. */
#include <stdio.h>
#include <stdlib.h>

#include "agent.h"
#include "discovery.h"
#include "err.h"

struct mdl_watch_t {
    mdl_discovery_t *disc;
};

mdl_watch_t *
mdl_watch_new (const mdl_agent_cfg_t *cfg, int *err)
{
    int rc = MDL_ENOMEM;
    mdl_watch_t *w = NULL;
    mdl_error_clear ();
    if (!cfg || cfg->disc.kind == MDL_DISC_INPROC || (cfg->disc.kind != MDL_DISC_BEACON && !cfg->disc.peers))
        rc = mdl_error_set (MDL_EINVAL, "say how to find the agents: the setting interface (beacons) or peers");
    else if ((w = calloc (1, sizeof *w))) {
        mdl_disc_cfg_t dc = cfg->disc;
        dc.cluster = cfg->cluster;
        dc.listen_only = true;
        const mdl_peer_info_t me = { .id = cfg->id };
        if (!(w->disc = mdl_discovery_new (&dc, &me, &rc)))
            free (w), w = NULL;
    }
    if (err)
        *err = w ? 0 : rc;
    return w;
}

void
mdl_watch_destroy (mdl_watch_t **w)
{
    if (!w || !*w)
        return;
    mdl_discovery_destroy (&(*w)->disc);
    free (*w);
    *w = NULL;
}

size_t
mdl_watch_found (mdl_watch_t *w, char (*out)[MDL_ENDPOINT_MAX], size_t cap)
{
    mdl_peer_info_t got[64];
    size_t n = 0;
    mdl_discovery_recv (w->disc, got, cap < 64 ? cap : 64, &n);
    for (size_t i = 0; i < n; i++)
        snprintf (out[i], MDL_ENDPOINT_MAX, "%s", got[i].endpoint);
    return n;
}

size_t
mdl_watch_withdrawn (mdl_watch_t *w, char (*out)[MDL_ENDPOINT_MAX], size_t cap)
{
    return mdl_discovery_withdrawn (w->disc, out, cap);
}

void
mdl_watch_unresolved (mdl_watch_t *w, char *buf, size_t len)
{
    mdl_discovery_unresolved (w->disc, buf, len);
}
