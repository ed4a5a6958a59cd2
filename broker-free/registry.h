/*  registry.h: the in-process discovery registry, for many agents in one process
    (meshdl sim). Agents announce their inproc PUB endpoints here instead of beaconing;
    everything above discovery is the same code as on a LAN. Each entry carries its
    agent's cluster, as a beacon does, so agents of several clusters can share one
    registry (the inproc back-end ignores the others). Thread-safe. */
#ifndef MDL_REGISTRY_H
#define MDL_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peer.h"

typedef struct mdl_registry_t mdl_registry_t;

typedef struct {
    mdl_peer_info_t info;
    uint64_t cluster; /* mdl_cluster_hash of the agent's cluster name */
    uint64_t stamp;   /* the registry's version when it was announced */
} mdl_registry_entry_t;

/* NULL + *err (MDL_ENOMEM). Caller owns it; it must outlive every agent using it. */
mdl_registry_t *mdl_registry_new (int *err);
void mdl_registry_destroy (mdl_registry_t **self);

/* Adds info of an agent of cluster (its mdl_cluster_hash), or replaces the entry of the
   same id (a restart: new incarnation). Returns 0, MDL_EINVAL (id 0 or empty endpoint)
   or MDL_ENOMEM; on error the registry is unchanged. */
int mdl_registry_announce (mdl_registry_t *self, const mdl_peer_info_t *info, uint64_t cluster);

/* Removes id (an agent leaving). Returns 0 or MDL_EPEER if absent. The registry
   remembers that it left (see mdl_registry_read_gone) until it announces again. */
int mdl_registry_withdraw (mdl_registry_t *self, uint64_t id);

/* Pages through the agents that withdrew after version `since`, as mdl_registry_read
   does through the present ones (info has id and incarnation; cluster and stamp set). */
bool mdl_registry_read_gone (mdl_registry_t *self, uint64_t since, uint64_t *after, mdl_registry_entry_t *out,
                             size_t cap, size_t *n);

/* Copies up to cap entries into out (sorted by id), sets *n to the number copied, and
   returns the registry's version (incremented by every change), so a poller can skip
   unchanged snapshots. */
uint64_t mdl_registry_snapshot (mdl_registry_t *self, mdl_registry_entry_t *out, size_t cap,
                                size_t *n);

/* Pages through the entries announced after version `since` (0: all of them), in id
   order: copies up to cap of those with an id above *after into out, sets *n and *after
   (the last id copied), and returns true while more may follow. A reader that keeps no
   copy of the registry: each call holds the lock for cap entries at most. */
bool mdl_registry_read (mdl_registry_t *self, uint64_t since, uint64_t *after, mdl_registry_entry_t *out,
                        size_t cap, size_t *n);

/* The version now (see mdl_registry_snapshot); the number of entries into *count when
   count is not NULL. */
uint64_t mdl_registry_version (mdl_registry_t *self, size_t *count);

#endif
