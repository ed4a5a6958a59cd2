/*  meshdl/watch.h: the agents of a cluster, found as they would find each other but
    without joining it: what `meshdl top` does to know whom to ask for its status. A
    watch hears the beacons of the configuration's "interface" (announcing nothing), or
    follows its "peers" list (dns: names resolved again every "dns-interval" seconds),
    and hands out the PUB endpoints it finds and, for dns: names, those that went away.

        mdl_agent_cfg_set (cfg, "peers", "dns:agents.lab:5555");
        mdl_watch_t *w = mdl_watch_new (cfg, &err);
        char found[16][MDL_ENDPOINT_MAX];
        size_t n = mdl_watch_found (w, found, 16);    // poll now and then
        mdl_watch_destroy (&w); */
#ifndef MESHDL_WATCH_H
#define MESHDL_WATCH_H

#include <stddef.h>

#include "meshdl/config.h"
#include "meshdl/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Room for one endpoint as text ("tcp://HOST:PORT", with its NUL). */
#define MDL_ENDPOINT_MAX 256

typedef struct mdl_watch_t mdl_watch_t;

/* Starts watching with the discovery settings of cfg ("interface" and "beacon-port", or
   "peers" and "dns-interval"; "cluster": agents of other clusters are left out). NULL +
   *err: MDL_EINVAL (cfg names no way to find agents: no peers and no interface),
   MDL_ESOCKET (the beacon socket or interface), MDL_ENOMEM, with the reason in
   mdl_error_detail() where there is one. Caller owns the watch and destroys it. */
MDL_EXPORT mdl_watch_t *mdl_watch_new (const mdl_agent_cfg_t *cfg, int *err);

/* Stops watching and frees; *w = NULL. Safe on NULL and twice. */
MDL_EXPORT void mdl_watch_destroy (mdl_watch_t **w);

/* Endpoints found since the last call (each once, again after it was withdrawn), at
   most cap (no more than 64) into out; returns how many. Never blocks. */
MDL_EXPORT size_t mdl_watch_found (mdl_watch_t *w, char (*out)[MDL_ENDPOINT_MAX], size_t cap);

/* Endpoints found before that a dns: name no longer lists, at most cap into out;
   returns how many (0 for beacons and tcp:// entries). Never blocks. */
MDL_EXPORT size_t mdl_watch_withdrawn (mdl_watch_t *w, char (*out)[MDL_ENDPOINT_MAX], size_t cap);

/* The dns: names that have not resolved yet (comma-separated) into buf, "" when none. */
MDL_EXPORT void mdl_watch_unresolved (mdl_watch_t *w, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
