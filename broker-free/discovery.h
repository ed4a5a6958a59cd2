/*  discovery.h: finding peers, behind one interface with four back-ends.

      beacon   CZMQ zbeacon: UDP broadcast of the hello announcement (peer.h) on one
               network interface, every interval; hears the others' announcements.
      static   a fixed list of PUB endpoints (--peers tcp://host:port,...), for networks
               without broadcast. Announces each endpoint once with id 0: who is there
               is learned from the hellos that arrive over the mesh. With CURVE, an
               entry carries the server's public key: tcp://host:port#<Z85 key> (the
               key in the peer's public certificate; it must also be on our
               allow-list); an entry without a key is then refused by the mesh.
      dns      the static list whose entries may also be dns:NAME:PORT, for networks
               without broadcast whose members a name server lists (a Compose service
               name, Docker Swarm's tasks.SERVICE, a Kubernetes headless Service). A
               thread of its own resolves every NAME's A/AAAA records every interval;
               each address becomes the endpoint tcp://ADDR:PORT (IPv6:
               tcp://[ADDR]:PORT), announced with id 0 as a static one when it appears
               and withdrawn (mdl_discovery_withdrawn) when an answer no longer holds
               it. An address of this host at our own port is ourselves and skipped. A
               failed resolution changes nothing (the last answer stands) and is retried
               every second until it succeeds.
      inproc   the in-process registry (registry.h), for simulation.

    Each back-end is a table of operations in its own file (discovery_beacon.c,
    discovery_static.c, discovery_dns.c, discovery_inproc.c). The caller polls
    mdl_discovery_socket (when not NULL) or calls mdl_discovery_recv on a timer. */
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
    MDL_DISC_DNS = 3,
} mdl_disc_kind_t;

#define MDL_ADDR_MAX 64 /* a numeric IPv4 or IPv6 address as text, with its NUL */

/* dns: a resolver. Writes the numeric addresses (IPv4 or IPv6 text) of name into
   out[0..cap) and returns how many there are (>= 0; more than cap are cut), or -1 with
   one sentence in why. Called on the resolver thread, and may block there; since
   mdl_discovery_destroy never waits for a resolution in progress, a call may still be
   running (and return) after it: resolve_arg must outlive that. NULL in the
   configuration means the system's (getaddrinfo: /etc/hosts, DNS); tests give a stub. */
typedef int (*mdl_disc_resolve_fn) (void *arg, const char *name, char (*out)[MDL_ADDR_MAX], int cap, char *why,
                                    size_t whylen);

typedef struct {
    mdl_disc_kind_t kind;
    const char *cluster;      /* cluster name; agents of other clusters are ignored */
    const char *iface;        /* beacon: network interface (NULL: ZSYS_INTERFACE or CZMQ's choice) */
    int beacon_port;          /* beacon: UDP port (default 5670) */
    int interval_ms;          /* beacon, inproc: announcement interval (default 250) */
    bool listen_only;         /* beacon: hear the others, announce nothing (an observer,
                                 such as meshdl top, that is no agent) */
    const char *peers;        /* static, dns: comma-separated PUB endpoints, each optionally
                                 followed by #<40-character Z85 public key>; dns also
                                 takes dns:NAME:PORT entries */
    int dns_interval_ms;      /* dns: seconds between resolutions, in ms (default 5000) */
    mdl_disc_resolve_fn resolve; /* dns: NULL = the system's resolver */
    void *resolve_arg;
    mdl_registry_t *registry; /* inproc */
} mdl_disc_cfg_t;

typedef struct {
    uint64_t received;       /* announcements received */
    uint64_t self;           /* ... from ourselves (ignored) */
    uint64_t other_cluster;  /* ... from another cluster (ignored) */
    uint64_t malformed;      /* ... that did not parse (ignored) */
    uint64_t resolutions;    /* dns: answers received (one per name per round) */
    uint64_t resolve_failures; /* dns: resolutions that failed */
    uint64_t withdrawn;      /* dns: endpoints that left the answers */
} mdl_disc_stats_t;

/* Whether cfg is a static list with at least one endpoint: every agent then stays
   connected to every endpoint it lists (the hellos are its membership), whatever the
   topology. */
bool mdl_disc_static_list (const mdl_disc_cfg_t *cfg);

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
   a peer is silent only after several of these (the caller's timeout follows).
   dilation (>= 1) stretches it further for an agent whose time runs that many times
   slower than on a machine of its own: many agents sharing a process's CPUs (`sim`),
   where a pace set per second of wall time would cost each agent more per step as the
   process holds more of them. 1 for an agent with a process of its own. */
double mdl_discovery_pace (mdl_discovery_t *self, size_t live_peers, double dilation);

/* Announces now, at most once per base interval (the fast path for a newcomer: it
   hears everyone within one base interval, not one grown interval). */
void mdl_discovery_announce_now (mdl_discovery_t *self);

/* beacon: the IPv4 address of the interface the beacon runs on (what peers will
   connect to); "" for the other back-ends. */
const char *mdl_discovery_host (const mdl_discovery_t *self);

/* The back-end's name: "beacon", "static", "dns" or "inproc". */
const char *mdl_discovery_name (const mdl_discovery_t *self);

/* Checks a --peers list without starting anything: every comma-separated entry is
   tcp://HOST:PORT[#KEY], ipc://PATH, inproc://NAME or dns:NAME:PORT (PORT 1..65535).
   Returns 0, or MDL_EINVAL with one sentence in why naming the first bad entry and the
   form it should have. *has_dns (may be NULL) is set when any entry is dns:. */
int mdl_discovery_check_peers (const char *list, bool *has_dns, char *why, size_t len);

/* Drains the endpoints announced earlier that the back-end no longer lists (dns: an
   answer without that address) into out[0..cap); returns how many. The caller
   disconnects them; if they come back, they are announced again. 0 for the other
   back-ends. */
size_t mdl_discovery_withdrawn (mdl_discovery_t *self, char (*out)[MDL_ENDPOINT_MAX], size_t cap);

/* Takes the next line worth logging (dns: "dns:NAME:PORT: cannot resolve ...;
   retrying", "... resolves again to 3 addresses") into buf; false when there is none.
   Each failure is said once, when it starts, not on every retry. */
bool mdl_discovery_note (mdl_discovery_t *self, char *buf, size_t len);

/* The dns: entries that have never resolved so far, with the last reason, e.g.
   "dns:agents:7000 (Name or service not known)"; "" when every one has (and for the
   other back-ends). */
void mdl_discovery_unresolved (mdl_discovery_t *self, char *buf, size_t len);

#endif
