/*  discopts.h: how a command finds agents: --interface (beacons), --peers (endpoints and
    dns: names, repeatable), --beacon-port, --dns-interval. Shared by `meshdl agent` (its
    peers) and `meshdl top` (the agents it watches); the discovery back-ends are in
    broker-free/discovery.h. */
#ifndef MDL_DISCOPTS_H
#define MDL_DISCOPTS_H

#include <stdbool.h>
#include <stddef.h>

#include <stdbool.h>

#include "opts.h"

typedef struct {
    const char *iface;
    mdl_strlist_t peers;    /* each a comma-separated list; all joined into list */
    int beacon_port;
    double dns_interval;    /* seconds */
    char list[16384];       /* the --peers entries, joined by commas */
    bool dns;               /* some entry is dns:NAME:PORT */
    /* set by mdl_discopts_apply: how the peers are found */
    enum { MDL_DISCOPTS_BEACON, MDL_DISCOPTS_STATIC, MDL_DISCOPTS_DNS } kind;
    const char *beacon_iface; /* beacons: --interface, or NULL (ZSYS_INTERFACE) */
    int dns_interval_ms;
} mdl_discopts_t;

void mdl_discopts_defaults (mdl_discopts_t *o);

/* Appends the options to defs (at most cap, zero-terminated); peers_help describes what
   a --peers entry names for this command. */
void mdl_discopts_defs (mdl_discopts_t *o, mdl_optdef_t *defs, size_t *n, size_t cap, const char *peers_help);

/* Validates the options after parsing and sets o's kind, beacon_iface, list (the
   --peers entries joined) and dns_interval_ms, which the caller hands to the discovery
   it starts. With curve, dns: entries are refused (they carry no public key). Returns
   0, or MDL_EINVAL with one line in err naming the bad entry and the form it should
   have. */
int mdl_discopts_apply (mdl_discopts_t *o, const char *cmd, bool curve, char *err, size_t errlen);

#endif
