/*  discovery_beacon.c: UDP broadcast discovery with CZMQ's zbeacon on one interface.
    The beacon is the hello announcement (peer.h); its sender's address, as zbeacon
    reports it, and the advertised port make the PUB endpoint we connect to. */
#include "discovery_ops.h"

#include "err.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

static int
s_start (mdl_discovery_t *self, const mdl_disc_cfg_t *cfg)
{
    if (self->self.port == 0 && !cfg->listen_only)
        return MDL_EINVAL; /* peers could not connect to us */
    int port = cfg->beacon_port > 0 ? cfg->beacon_port : 5670;
    if (port > 65535)
        return MDL_EINVAL;
    /* zbeacon reads the interface from the process-wide setting when configured */
    if (cfg->iface && cfg->iface[0])
        zsys_set_interface (cfg->iface);
    zactor_t *beacon = zactor_new (zbeacon, NULL);
    if (!beacon)
        return MDL_ESOCKET;
    zsock_send (beacon, "si", "CONFIGURE", port);
    char *host = zstr_recv (beacon);
    if (!host || !host[0]) {
        zstr_free (&host);
        zactor_destroy (&beacon);
        return MDL_ESOCKET; /* no such interface, or it cannot broadcast */
    }
    snprintf (self->host, sizeof self->host, "%s", host);
    zstr_free (&host);
    if (!cfg->listen_only) {
        uint8_t hello[MDL_HELLO_SIZE];
        mdl_hello_pack (&self->self, self->cluster, hello);
        zsock_send (beacon, "sbi", "PUBLISH", hello, sizeof hello, self->interval_ms);
    }
    /* no prefix filter: junk is parsed, rejected and counted by us */
    zsock_send (beacon, "sb", "SUBSCRIBE", "", (size_t) 0);
    self->state = beacon;
    return 0;
}

/* zbeacon broadcasts at once on PUBLISH, then every interval. */
static void
s_announce (mdl_discovery_t *self)
{
    uint8_t hello[MDL_HELLO_SIZE];
    mdl_hello_pack (&self->self, self->cluster, hello);
    zsock_send ((zactor_t *) self->state, "sbi", "PUBLISH", hello, sizeof hello, self->interval_ms);
}

static void
s_stop (mdl_discovery_t *self)
{
    zactor_t *beacon = self->state;
    zstr_sendx (beacon, "SILENCE", NULL); /* harmless when it never published */
    zactor_destroy (&beacon);
}

static void *
s_socket (mdl_discovery_t *self)
{
    return zactor_sock ((zactor_t *) self->state);
}

static int
s_recv (mdl_discovery_t *self, mdl_peer_info_t *out, size_t cap, size_t *n)
{
    zsock_t *sock = zactor_sock ((zactor_t *) self->state);
    size_t k = 0;
    while (k < cap && (zsock_events (sock) & ZMQ_POLLIN)) {
        zmsg_t *msg = zmsg_recv (sock);
        if (!msg)
            break;
        char *ip = zmsg_popstr (msg);
        zframe_t *data = zmsg_pop (msg);
        mdl_peer_info_t info;
        if (!ip || !data || zmsg_size (msg) != 0) {
            self->stats.received++;
            self->stats.malformed++;
        }
        else if (mdl_disc_accept (self, zframe_data (data), zframe_size (data), &info) == 0) {
            if (info.port == 0 || strlen (ip) > 64)
                self->stats.malformed++; /* nothing we could connect to */
            else {
                snprintf (info.endpoint, sizeof info.endpoint, "tcp://%s:%u", ip, info.port);
                out[k++] = info;
            }
        }
        zstr_free (&ip);
        zframe_destroy (&data);
        zmsg_destroy (&msg);
    }
    *n = k;
    return 0;
}

const mdl_disc_ops_t mdl_disc_beacon_ops = {
    .name = "beacon",
    .kind = MDL_DISC_BEACON,
    .start = s_start,
    .stop = s_stop,
    .socket = s_socket,
    .recv = s_recv,
    .announce = s_announce,
};
