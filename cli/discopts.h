/*  discopts.h: how a command finds agents: --interface (beacons), --peers (endpoints and
    dns: names, repeatable), --beacon-port, --dns-interval. Shared by `meshdl agent` (its
    peers) and `meshdl top` (the agents it watches); the discovery back-ends are in
    broker-free/discovery.h. */
#ifndef MDL_DISCOPTS_H
#define MDL_DISCOPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "discovery.h"
#include "opts.h"

typedef struct {
    const char *iface;
    mdl_strlist_t peers;    /* each a comma-separated list; all joined into list */
    int beacon_port;
    double dns_interval;    /* seconds */
    char list[16384];       /* the --peers entries, joined by commas */
    bool dns;               /* some entry is dns:NAME:PORT */
} mdl_discopts_t;

void mdl_discopts_defaults (mdl_discopts_t *o);

/* Appends the options to defs (at most cap, zero-terminated); peers_help describes what
   a --peers entry names for this command. */
void mdl_discopts_defs (mdl_discopts_t *o, mdl_optdef_t *defs, size_t *n, size_t cap, const char *peers_help);

/* Validates the options after parsing and fills cfg's discovery part (kind, iface,
   beacon port, peers, DNS interval; cluster and interval_ms are the caller's). With
   curve, dns: entries are refused (they carry no public key). Returns 0, or MDL_EINVAL
   with one line in err naming the bad entry and the form it should have. */
int mdl_discopts_apply (mdl_discopts_t *o, const char *cmd, bool curve, mdl_disc_cfg_t *cfg, char *err, size_t errlen);

#endif
