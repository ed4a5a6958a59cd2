/*  discovery.h: finding peers, behind one interface with three back-ends.

      beacon   CZMQ zbeacon: UDP broadcast of the hello announcement (peer.h) on one
               network interface, every interval; hears the others' announcements.
      static   a fixed list of PUB endpoints (--peers tcp://host:port,...), for networks
               without broadcast. Announces each endpoint once with id 0: who is there
               is learned from the hellos that arrive over the mesh. With CURVE, an
               entry carries the server's public key: tcp://host:port#<Z85 key> (the
               key in the peer's public certificate; it must also be on our
               allow-list); an entry without a key is then refused by the mesh.
      inproc   the in-process registry (registry.h), for simulation.

    Each back-end is a table of operations in its own file (discovery_beacon.c,
    discovery_static.c, discovery_inproc.c). The caller polls mdl_discovery_socket (when
    not NULL) or calls mdl_discovery_recv on a timer. */
#ifndef MDL_DISCOVERY_H
#define MDL_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peer.h"
#include "registry.h"

typedef enum {
    MDL_DISC_BEACON = 0,
    MDL_DISC_STATIC = 1,
    MDL_DISC_INPROC = 2,
} mdl_disc_kind_t;

typedef struct {
    mdl_disc_kind_t kind;
    const char *cluster;      /* cluster name; agents of other clusters are ignored */
    const char *iface;        /* beacon: network interface (NULL: ZSYS_INTERFACE or CZMQ's choice) */
    int beacon_port;          /* beacon: UDP port (default 5670) */
    int interval_ms;          /* beacon, inproc: announcement interval (default 250) */
    const char *peers;        /* static: comma-separated PUB endpoints, each optionally
                                 followed by #<40-character Z85 public key> */
    mdl_registry_t *registry; /* inproc */
} mdl_disc_cfg_t;

typedef struct {
    uint64_t received;       /* announcements received */
    uint64_t self;           /* ... from ourselves (ignored) */
    uint64_t other_cluster;  /* ... from another cluster (ignored) */
    uint64_t malformed;      /* ... that did not parse (ignored) */
} mdl_disc_stats_t;

typedef struct mdl_discovery_t mdl_discovery_t;

/* Starts discovery announcing self (its id, incarnation, port, pubkey). NULL + *err:
   MDL_EINVAL (bad cfg, e.g. a static endpoint that does not parse), MDL_ESOCKET (the
   beacon could not start on the interface), MDL_ENOMEM. Caller owns and destroys it. */
mdl_discovery_t *mdl_discovery_new (const mdl_disc_cfg_t *cfg, const mdl_peer_info_t *self,
                                    int *err);

/* Stops announcing (beacon: silence; inproc: withdraw) and frees; *self set to NULL. */
void mdl_discovery_destroy (mdl_discovery_t **self);

/* The socket to poll for announcements (a zsock_t *), or NULL for back-ends that are
   polled on a timer. */
void *mdl_discovery_socket (mdl_discovery_t *self);

/* Drains the announcements pending now, without blocking: fills out[0..*n) (cap at
   most). Entries have endpoint set; id is 0 for static endpoints not yet heard from
   (their pubkey is the entry's key, or "").
   Ignored announcements are only counted. Returns 0. */
int mdl_discovery_recv (mdl_discovery_t *self, mdl_peer_info_t *out, size_t cap, size_t *n);

/* Peers that left since the last call, when the back-end knows (inproc: the registry
   says so at once; beacons and static lists do not: silence tells). Fills out[0..*n)
   (id and incarnation) up to cap; call again while it fills cap. Returns 0. */
int mdl_discovery_gone (mdl_discovery_t *self, mdl_peer_info_t *out, size_t cap, size_t *n);

void mdl_discovery_stats (const mdl_discovery_t *self, mdl_disc_stats_t *stats);

/* Announcements a peer should hear per base interval at most, whatever the cluster's
   size: with N live peers the interval grows to base * N / MDL_DISC_FANIN, so an agent
   hears about 4 * MDL_DISC_FANIN announcements a second (at a 250 ms base), not 4 N. */
#define MDL_DISC_FANIN 16

/* Sets the announcement interval for a cluster of live_peers peers (see
   MDL_DISC_FANIN; changes of less than a fifth are ignored) and returns it in seconds:
   a peer is silent only after several of these (the caller's timeout follows). */
double mdl_discovery_pace (mdl_discovery_t *self, size_t live_peers);

/* Announces now, at most once per base interval (the fast path for a newcomer: it
   hears everyone within one base interval, not one grown interval). */
void mdl_discovery_announce_now (mdl_discovery_t *self);

/* static: checks a --peers list (comma-separated tcp://HOST:PORT[#KEY], ipc://PATH,
   inproc://NAME) as the back-end will read it. Returns 0, or MDL_EINVAL with the first
   bad entry copied into bad ("" for an empty list). */
int mdl_disc_static_check (const char *peers, char *bad, size_t badlen);

/* beacon: the IPv4 address of the interface the beacon runs on (what peers will
   connect to); "" for the other back-ends. */
const char *mdl_discovery_host (const mdl_discovery_t *self);

/* The back-end's name: "beacon", "static" or "inproc". */
const char *mdl_discovery_name (const mdl_discovery_t *self);

#endif
