/*  registry.h: the in-process discovery registry, for many agents in one process
    (meshdl sim). Agents announce their inproc PUB endpoints here instead of beaconing;
    everything above discovery is the same code as on a LAN. Thread-safe. */
#ifndef MDL_REGISTRY_H
#define MDL_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "peer.h"

typedef struct mdl_registry_t mdl_registry_t;

/* NULL + *err (MDL_ENOMEM). Caller owns it; it must outlive every agent using it. */
mdl_registry_t *mdl_registry_new (int *err);
void mdl_registry_destroy (mdl_registry_t **self);

/* Adds info, or replaces the entry of the same id (a restart: new incarnation).
   Returns 0, MDL_EINVAL (id 0 or empty endpoint) or MDL_ENOMEM. */
int mdl_registry_announce (mdl_registry_t *self, const mdl_peer_info_t *info);

/* Removes id (an agent leaving). Returns 0 or MDL_EPEER if absent. */
int mdl_registry_withdraw (mdl_registry_t *self, uint64_t id);

/* Copies up to cap entries into out (sorted by id), sets *n to the number copied, and
   returns the registry's version (incremented by every change), so a poller can skip
   unchanged snapshots. */
uint64_t mdl_registry_snapshot (mdl_registry_t *self, mdl_peer_info_t *out, size_t cap,
                                size_t *n);

#endif
