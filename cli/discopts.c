/*  discopts.c: see discopts.h. */
#include "discopts.h"

#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meshdl.h"

void
mdl_discopts_defaults (mdl_discopts_t *o)
{
    memset (o, 0, sizeof *o);
    o->beacon_port = 5670;
    o->dns_interval = 5.0;
}

void
mdl_discopts_defs (mdl_discopts_t *o, mdl_optdef_t *defs, size_t *n, size_t cap, const char *peers_help)
{
    const mdl_optdef_t add[] = {
        { .name = "interface", .type = MDL_OPTT_STR, .dst = &o->iface, .metavar = "IF",
          .help = "network interface for beacon discovery (or ZSYS_INTERFACE)" },
        { .name = "peers", .type = MDL_OPTT_LIST, .dst = &o->peers, .metavar = "EP,...", .help = peers_help },
        { .name = "beacon-port", .type = MDL_OPTT_INT, .dst = &o->beacon_port, .metavar = "P",
          .help = "UDP port of the beacons", .min = 1, .max = 65535 },
        { .name = "dns-interval", .type = MDL_OPTT_DOUBLE, .dst = &o->dns_interval, .metavar = "SEC",
          .help = "dns: peers: seconds between resolutions of each name (a failing one is retried every second)",
          .min = 0.1, .max = 3600 },
    };
    for (size_t i = 0; i < sizeof add / sizeof add[0] && *n + 1 < cap; i++)
        defs[(*n)++] = add[i];
    defs[*n] = (mdl_optdef_t) { 0 };
}

int
mdl_discopts_apply (mdl_discopts_t *o, const char *cmd, bool curve, char *err, size_t errlen)
{
    size_t at = 0;
    o->list[0] = '\0';
    for (int i = 0; i < o->peers.n; i++) {
        int w = snprintf (o->list + at, sizeof o->list - at, "%s%s", at ? "," : "", o->peers.v[i]);
        if (w < 0 || (size_t) w >= sizeof o->list - at) {
            snprintf (err, errlen, "meshdl %s: --peers: the list is longer than %zu characters", cmd, sizeof o->list - 1);
            return MDL_EINVAL;
        }
        at += (size_t) w;
    }
    if (!o->iface && !o->peers.n && !getenv ("ZSYS_INTERFACE")) {
        snprintf (err, errlen, "meshdl %s: say how to find peers: --interface IF (beacons), --peers tcp://HOST:PORT,... or --peers dns:NAME:PORT",
                  cmd);
        return MDL_EINVAL;
    }
    if (o->peers.n && mdl_agent_cfg_check_peers (o->list, &o->dns)) {
        snprintf (err, errlen, "meshdl %s: %s", cmd, mdl_error_detail ());
        return MDL_EINVAL;
    }
    if (curve && o->dns) {
        snprintf (err, errlen, "meshdl %s: --curve needs each peer's public key before it connects, and a dns: entry carries none: "
                  "use tcp://HOST:PORT#KEY entries or beacons (--interface)", cmd);
        return MDL_EINVAL;
    }
    /* the interface matters to beacons only: with --peers it is not used */
    const char *iface = o->peers.n ? NULL : o->iface ? o->iface : getenv ("ZSYS_INTERFACE");
    if (iface && iface[0] && if_nametoindex (iface) == 0) {
        char names[256] = "";
        struct if_nameindex *all = if_nameindex ();
        for (struct if_nameindex *i = all; i && i->if_index; i++)
            snprintf (names + strlen (names), sizeof names - strlen (names), "%s%s", names[0] ? ", " : "", i->if_name);
        if (all)
            if_freenameindex (all);
        snprintf (err, errlen, "meshdl %s: %s %s: no such network interface here (there are: %s)", cmd,
                  o->iface ? "--interface" : "ZSYS_INTERFACE", iface, names[0] ? names : "none");
        return MDL_EINVAL;
    }
    o->kind = !o->peers.n ? MDL_DISCOPTS_BEACON : o->dns ? MDL_DISCOPTS_DNS : MDL_DISCOPTS_STATIC;
    o->beacon_iface = o->iface;
    o->dns_interval_ms = (int) (o->dns_interval * 1000 + 0.5);
    return 0;
}
