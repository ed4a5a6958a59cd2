/*  discovery_ops.h: what a discovery back-end implements (internal to broker-free).
    One file per back-end, one table each; discovery.c holds the registry of tables and
    the checks shared by all back-ends. */
#ifndef MDL_DISCOVERY_OPS_H
#define MDL_DISCOVERY_OPS_H

#include "discovery.h"

typedef struct mdl_disc_ops_t mdl_disc_ops_t;

struct mdl_discovery_t {
    const mdl_disc_ops_t *ops;
    mdl_peer_info_t self;     /* what we announce */
    uint64_t cluster;         /* hash of the cluster name */
    int interval_ms;          /* announcement interval now (mdl_discovery_pace) */
    int base_ms;              /* ... as configured: the interval of a small cluster */
    double last_announce;     /* mdl_discovery_announce_now's rate limit (monotonic s) */
    char host[64];            /* beacon: our interface address */
    mdl_disc_stats_t stats;
    void *state;              /* the back-end's own */
};

struct mdl_disc_ops_t {
    const char *name;
    mdl_disc_kind_t kind;
    /* Sets self->state up and starts announcing. Returns 0 or an MDL_E code; on failure
       leaves nothing to stop. */
    int (*start) (mdl_discovery_t *self, const mdl_disc_cfg_t *cfg);
    /* Stops announcing and frees self->state. */
    void (*stop) (mdl_discovery_t *self);
    void *(*socket) (mdl_discovery_t *self);
    int (*recv) (mdl_discovery_t *self, mdl_peer_info_t *out, size_t cap, size_t *n);
    /* Optional (dns): see mdl_discovery_withdrawn, _note, _unresolved. */
    size_t (*withdrawn) (mdl_discovery_t *self, char (*out)[MDL_ENDPOINT_MAX], size_t cap);
    bool (*note) (mdl_discovery_t *self, char *buf, size_t len);
    void (*unresolved) (mdl_discovery_t *self, char *buf, size_t len);
    /* Optional: announce every self->interval_ms from now on, starting at once (the
       interval changed, or a newcomer should hear us now). */
    void (*announce) (mdl_discovery_t *self);
    /* Optional: peers known to have left since the last call (id and incarnation). */
    int (*gone) (mdl_discovery_t *self, mdl_peer_info_t *out, size_t cap, size_t *n);
};

extern const mdl_disc_ops_t mdl_disc_beacon_ops;
extern const mdl_disc_ops_t mdl_disc_static_ops;
extern const mdl_disc_ops_t mdl_disc_inproc_ops;
extern const mdl_disc_ops_t mdl_disc_dns_ops;

/* Calls each (p, len) of a comma-separated list, blanks around entries trimmed, until
   it returns non-zero (returned). An empty list is one empty entry. */
int mdl_disc_split (const char *list, int (*each) (void *arg, const char *p, size_t len), void *arg);

/* The number of entries of a comma-separated list (what mdl_disc_split calls). */
size_t mdl_disc_count (const char *list);

/* discovery_static.c: parses one static entry p[0..len): tcp://HOST:PORT, ipc://PATH or
   inproc://NAME, optionally followed by #<Z85 key>. Fills out's endpoint and pubkey (id
   0). Returns 0 or MDL_EINVAL. */
int mdl_disc_parse_static (const char *p, size_t len, mdl_peer_info_t *out);

/* discovery_dns.c: parses one dns:NAME:PORT entry p[0..len): NAME is 1..253 characters of
   letters, digits, '-', '_' and '.'; PORT 1..65535. Fills name (>= 254 bytes) and *port.
   Returns 0 or MDL_EINVAL. */
int mdl_disc_parse_dns (const char *p, size_t len, char *name, int *port);

/* Counts an incoming announcement and parses it. Returns 0 with *info filled (endpoint
   "") for a peer of our cluster other than ourselves; otherwise counts it as self,
   other_cluster or malformed and returns non-zero. */
int mdl_disc_accept (mdl_discovery_t *self, const void *buf, size_t len, mdl_peer_info_t *info);

/* Counts an announcement already parsed (inproc), of an agent of cluster (a hash):
   0 to keep; otherwise counts it as self or other_cluster and returns non-zero. */
int mdl_disc_accept_info (mdl_discovery_t *self, const mdl_peer_info_t *info, uint64_t cluster);

#endif
