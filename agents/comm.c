/*  comm.c: the comm actor (a CZMQ zactor) of one agent. It owns every socket (the
    mesh's PUB and SUB, the discovery back-end, the worker's inproc PULL) and the peer
    table. It sends what the worker hands it to each recipient on its own topic, holds
    back messages for the delay injection, and runs the tick (discovery, silences,
    hellos, counters). What arrives is handled in comm_recv.c (updates) and
    comm_peers.c (membership). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "comm_impl.h"
#include "err.h"

mdl_link_t *
mdl_comm_link (mdl_comm_t *self, uint64_t id, bool create)
{
    for (size_t i = 0; i < self->nlinks; i++)
        if (self->links[i].id == id)
            return &self->links[i];
    if (!create || self->nlinks == MDL_AGENT_MAX_PEERS)
        return NULL;
    mdl_link_t *l = &self->links[self->nlinks++];
    memset (l, 0, sizeof *l);
    l->id = id;
    return l;
}

void
mdl_comm_count (mdl_comm_t *self, uint64_t *field, uint64_t n)
{
    pthread_mutex_lock (&self->a->stats_lock);
    *field += n;
    pthread_mutex_unlock (&self->a->stats_lock);
}

void
mdl_comm_drop_parked (mdl_link_t *l)
{
    while (l->parked) {
        struct mdl_delayed *m = l->parked;
        l->parked = m->next;
        free (m->buf);
        free (m);
    }
    l->nparked = 0;
}

/* Sends a control message (no payload) of kind for round step to peer. */
void
mdl_comm_send_control (mdl_comm_t *self, uint64_t peer, uint32_t kind, uint64_t step)
{
    mdl_link_t *l = mdl_comm_link (self, peer, true);
    mdl_wire_header_t h;
    mdl_wire_header_init (&h, self->a->cluster, self->a->cfg.id, self->kcodec);
    h.seq = l ? ++l->seq_to : 0;
    h.kind = kind;
    h.step = step;
    h.timestamp_us = (uint64_t) (mdl_wallclock () * 1e6);
    h.d = self->a->d;
    h.payload_len = 0;
    unsigned char hb[MDL_WIRE_HEADER_MAX];
    size_t hl;
    char topic[MDL_WIRE_TOPIC_MAX + 1];
    size_t tl = mdl_wire_topic (peer, topic);
    if (mdl_wire_pack (&h, hb, sizeof hb, &hl) == 0)
        mdl_mesh_send (self->mesh, topic, tl, hb, hl, (void *) "", 0, NULL, NULL);
}

/* Holds a message back by the injected delay (a copy: the mesh's frames are only valid
   until its next receive). */
mdl_delayed_t *
mdl_comm_copy_msg (const void **frames, const size_t *lens, size_t n)
{
    if (n > 3)
        n = 3;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += lens[i];
    mdl_delayed_t *m = calloc (1, sizeof *m);
    if (!m || !(m->buf = malloc (total ? total : 1))) {
        free (m);
        return NULL;
    }
    m->n = n;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy (m->buf + at, frames[i], lens[i]);
        m->lens[i] = lens[i];
        at += lens[i];
    }
    return m;
}

void
mdl_comm_frames (mdl_delayed_t *m, const void **frames)
{
    size_t at = 0;
    for (size_t i = 0; i < m->n; i++) {
        frames[i] = m->buf + at;
        at += m->lens[i];
    }
}

static void
s_delay (mdl_comm_t *self, const void **frames, const size_t *lens, size_t n)
{
    mdl_delayed_t *m = mdl_comm_copy_msg (frames, lens, n);
    if (!m)
        return;
    m->due = mdl_now () + self->a->cfg.delay_ms / 1000.0;
    /* constant delay: arrival order is due order, so append */
    mdl_delayed_t **p = &self->delayed;
    while (*p)
        p = &(*p)->next;
    *p = m;
}

static void
s_release_delayed (mdl_comm_t *self)
{
    double now = mdl_now ();
    while (self->delayed && self->delayed->due <= now) {
        mdl_delayed_t *m = self->delayed;
        self->delayed = m->next;
        const void *frames[3];
        mdl_comm_frames (m, frames);
        mdl_comm_dispatch (self, frames, m->lens, m->n);
        free (m->buf);
        free (m);
    }
}

static void
s_drain_sub (mdl_comm_t *self)
{
    const void *frames[4];
    size_t lens[4], n;
    /* Bounded per wake-up so the pipe and the worker's sends are never starved. */
    for (int k = 0; k < 256 && mdl_mesh_recv (self->mesh, frames, lens, 4, &n) == 0; k++) {
        bool hello = n >= 1 && lens[0] >= 1 && (((const char *) frames[0])[0] == 'H' || ((const char *) frames[0])[0] == 'B');
        if (self->a->cfg.delay_ms > 0 && !hello)
            s_delay (self, frames, lens, n);
        else
            mdl_comm_dispatch (self, frames, lens, n);
    }
}

/* Sends what the worker handed over: one payload, to each recipient with its own
   topic and per-link sequence number. */
static void
s_drain_pull (mdl_comm_t *self)
{
    mdl_agent_t *a = self->a;
    while (zsock_events (self->pull) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv (self->pull);
        if (!msg)
            return;
        if (zmsg_size (msg) == 1) {
            /* the worker moved to its next round: parked states may be due */
            zmsg_destroy (&msg);
            mdl_comm_unpark (self);
            continue;
        }
        zframe_t *fd = zmsg_first (msg), *fi = zmsg_next (msg), *fp = zmsg_next (msg);
        if (!fd || !fi || !fp || zframe_size (fd) != sizeof (mdl_outmsg_t) || zframe_size (fp) != sizeof (void *)
            || zframe_size (fi) % sizeof (uint64_t)) {
            zmsg_destroy (&msg);
            continue;
        }
        mdl_outmsg_t m;
        memcpy (&m, zframe_data (fd), sizeof m);
        mdl_blob_t *blob;
        memcpy (&blob, zframe_data (fp), sizeof blob);
        size_t nto = zframe_size (fi) / sizeof (uint64_t);
        const uint64_t *to = (const uint64_t *) zframe_data (fi);
        mdl_codec_t *codec = MDL_KIND_TYPE (m.kind) == MDL_KIND_OUTPUTS ? self->ocodec : m.keyframe ? self->kcodec : self->codec;
        if (!codec) { /* outputs from an agent sized for none: the worker never sends them */
            mdl_blob_unref (blob);
            zmsg_destroy (&msg);
            continue;
        }
        mdl_wire_header_t h;
        mdl_wire_header_init (&h, a->cluster, a->cfg.id, codec);
        h.step = m.step;
        h.kind = m.kind;
        h.keyframe = m.keyframe;
        h.loss = isfinite (m.loss) ? m.loss : 0.0;
        h.aux = isfinite (m.aux) ? m.aux : 0.0;
        h.d = mdl_codec_dim (codec);
        h.payload_len = mdl_blob_len (blob);
        h.timestamp_us = (uint64_t) (mdl_wallclock () * 1e6);
        mdl_blob_ref (blob, (int) nto);
        for (size_t k = 0; k < nto; k++) {
            mdl_link_t *l = mdl_comm_link (self, to[k], true);
            h.seq = l ? ++l->seq_to : 0;
            unsigned char hb[MDL_WIRE_HEADER_MAX];
            size_t hl = 0;
            char topic[MDL_WIRE_TOPIC_MAX + 1];
            size_t tl = mdl_wire_topic (to[k], topic);
            if (mdl_wire_pack (&h, hb, sizeof hb, &hl)) {
                mdl_blob_unref (blob);
                continue;
            }
            mdl_mesh_send (self->mesh, topic, tl, hb, hl, mdl_blob_data (blob), mdl_blob_len (blob),
                           mdl_blob_free_fn, blob);
        }
        mdl_blob_unref (blob); /* the worker's reference */
        zmsg_destroy (&msg);
    }
}

/* At shutdown: what the worker handed over but was not sent still holds a blob
   reference (the frame carries only the pointer); give it back, or the blob and its pool
   would outlive the agent. */
static void
s_discard_pull (mdl_comm_t *self)
{
    while (self->pull && (zsock_events (self->pull) & ZMQ_POLLIN)) {
        zmsg_t *msg = zmsg_recv (self->pull);
        if (!msg)
            return;
        zframe_t *fd = zmsg_first (msg), *fi = zmsg_next (msg), *fp = zmsg_next (msg);
        if (fd && fi && fp && zframe_size (fp) == sizeof (void *)) {
            mdl_blob_t *blob;
            memcpy (&blob, zframe_data (fp), sizeof blob);
            mdl_blob_unref (blob);
        }
        zmsg_destroy (&msg);
    }
}

static void
s_tick (mdl_comm_t *self)
{
    mdl_agent_t *a = self->a;
    double now = mdl_now ();
    if (self->disc) {
        mdl_peer_info_t got[64];
        size_t n = 0;
        do {
            n = 0;
            mdl_discovery_recv (self->disc, got, 64, &n);
            for (size_t i = 0; i < n; i++) {
                if (got[i].id == 0) {
                    /* static endpoint: connect now, learn who it is from its hellos */
                    if (mdl_mesh_connect (self->mesh, &got[i]) == 0)
                        mdl_agent_log (a, "listening to static peer %s", got[i].endpoint);
                } else
                    mdl_comm_seen (self, &got[i]);
            }
        } while (n == 64);
    }
    mdl_peer_event_t ev[16];
    size_t ne;
    while ((ne = mdl_peers_expire (self->peers, now, ev, 16)) > 0)
        for (size_t i = 0; i < ne; i++)
            mdl_comm_on_event (self, &ev[i]);
    if (now >= self->next_hello) {
        mdl_mesh_hello (self->mesh, &self->me, a->cluster);
        self->next_hello = now + a->cfg.hello_interval;
        uint64_t mute[16];
        size_t nm = mdl_peers_mute (self->peers, now, mute, 16);
        for (size_t i = 0; i < nm; i++) {
            char b[17];
            mdl_agent_log (a, "peer %s announces itself but nothing arrives from it (nothing listening, or it refuses our key)",
                           mdl_id_str (mute[i], b));
        }
        if (mdl_mesh_check_auth (self->mesh)) {
            mdl_mesh_stats_t ms;
            mdl_mesh_stats (self->mesh, &ms);
            mdl_agent_log (a, "CURVE: %llu subscriptions refused (key not allowed), %llu of our handshakes refused",
                           (unsigned long long) ms.auth_denied, (unsigned long long) ms.auth_failed);
        }
        mdl_disc_stats_t ds;
        if (self->disc) {
            mdl_discovery_stats (self->disc, &ds);
            uint64_t ign = ds.other_cluster + ds.malformed;
            if (ign > self->seen_total) {
                mdl_agent_log (a, "ignored %llu beacons so far (%llu other cluster, %llu malformed)",
                               (unsigned long long) ign, (unsigned long long) ds.other_cluster,
                               (unsigned long long) ds.malformed);
                self->seen_total = ign;
            }
        }
    }
    mdl_mesh_stats_t ms;
    mdl_mesh_stats (self->mesh, &ms);
    pthread_mutex_lock (&a->stats_lock);
    a->stats.bytes_sent = ms.bytes_sent;
    a->stats.bytes_received = ms.bytes_received;
    a->stats.msgs_sent = ms.sent;
    a->stats.msgs_received = ms.received;
    pthread_mutex_unlock (&a->stats_lock);
}

static void
s_self_destroy (mdl_comm_t **pself)
{
    mdl_comm_t *self = *pself;
    if (!self)
        return;
    while (self->delayed) {
        mdl_delayed_t *m = self->delayed;
        self->delayed = m->next;
        free (m->buf);
        free (m);
    }
    for (size_t i = 0; i < self->nlinks; i++) {
        for (int k = 0; k < MDL_AGENT_CHANNELS; k++)
            free (self->links[i].replica[k]);
        mdl_comm_drop_parked (&self->links[i]);
    }
    mdl_discovery_destroy (&self->disc);
    mdl_mesh_destroy (&self->mesh);
    s_discard_pull (self);
    zsock_destroy (&self->pull);
    mdl_peers_destroy (&self->peers);
    mdl_codec_destroy (&self->codec);
    mdl_codec_destroy (&self->kcodec);
    mdl_codec_destroy (&self->ocodec);
    free (self);
    *pself = NULL;
}

static mdl_comm_t *
s_self_new (mdl_agent_t *a, zsock_t *pipe, int *err)
{
    int rc = MDL_ENOMEM;
    mdl_comm_t *self = calloc (1, sizeof *self);
    if (!self)
        goto fail;
    self->a = a;
    self->pipe = pipe;
    mdl_rng_seed (&self->rng, a->cfg.seed ^ a->cfg.id, 0xd409);
    if (!(self->codec = mdl_codec_new (a->cfg.codec, a->d, 0, &rc))
        || !(self->kcodec = mdl_codec_new ("fp32", a->d, 0, &rc)))
        goto fail;
    mdl_wire_expect_init (&self->exp, a->cluster, a->cfg.id, self->codec);
    mdl_wire_expect_init (&self->kexp, a->cluster, a->cfg.id, self->kcodec);
    if (a->out_n) {
        if (!(self->ocodec = mdl_codec_new ("fp32", a->out_n, 0, &rc)))
            goto fail;
        mdl_wire_expect_init (&self->oexp, a->cluster, a->cfg.id, self->ocodec);
    }
    if (!(self->peers = mdl_peers_new (a->cfg.id, a->cfg.peer_timeout, MDL_AGENT_MAX_PEERS, &rc)))
        goto fail;
    /* 10 ms of grace at a full subscriber queue before dropping for it: bounded
       back-pressure, what bench/mesh.sh measures against raw PUSH/PULL. */
    mdl_mesh_cfg_t mc = { .bind = a->cfg.bind, .self = a->cfg.id, .curve = a->cfg.curve, .cert = a->cfg.cert,
                          .allow_dir = a->cfg.allow_dir, .send_wait_ms = 10 };
    if (!(self->mesh = mdl_mesh_new (&mc, &rc)))
        goto fail;
    rc = MDL_ESOCKET;
    if (!(self->pull = zsock_new_pull (a->out_endpoint)))
        goto fail;
    snprintf (a->endpoint, sizeof a->endpoint, "%s", mdl_mesh_endpoint (self->mesh));
    self->me.id = a->cfg.id;
    self->me.incarnation = a->incarnation;
    self->me.port = mdl_mesh_port (self->mesh);
    snprintf (self->me.endpoint, sizeof self->me.endpoint, "%s", a->endpoint);
    snprintf (self->me.pubkey, sizeof self->me.pubkey, "%s", mdl_mesh_pubkey (self->mesh));
    if (!(self->disc = mdl_discovery_new (&a->cfg.disc, &self->me, &rc)))
        goto fail;
    mdl_comm_publish_view (self);
    return self;
fail:
    *err = rc;
    s_self_destroy (&self);
    return NULL;
}

typedef struct {
    mdl_agent_t *a;
    int err;
} s_start_t;

static void
s_actor (zsock_t *pipe, void *arg)
{
    s_start_t *st = arg;
    mdl_agent_t *a = st->a;
    mdl_comm_t *self = s_self_new (a, pipe, &st->err);
    zsock_signal (pipe, 0);
    if (!self)
        return;
    zpoller_t *poller = zpoller_new (pipe, self->pull, mdl_mesh_sub_socket (self->mesh), NULL);
    void *ds = mdl_discovery_socket (self->disc);
    if (ds)
        zpoller_add (poller, ds);
    double next_tick = 0;
    while (!self->stopping) {
        int timeout = MDL_TICK_MS;
        if (self->delayed) {
            double wait = (self->delayed->due - mdl_now ()) * 1000.0;
            if (wait < timeout)
                timeout = wait < 0 ? 0 : (int) wait;
        }
        void *which = zpoller_wait (poller, timeout);
        if (which == pipe) {
            zmsg_t *msg = zmsg_recv (pipe);
            char *cmd = msg ? zmsg_popstr (msg) : NULL;
            if (!cmd || streq (cmd, "$TERM"))
                self->stopping = true;
            zstr_free (&cmd);
            zmsg_destroy (&msg);
            continue;
        }
        if (zpoller_terminated (poller))
            break;
        /* Drain every source on each wake-up: zpoller reports one socket at a time. */
        s_drain_pull (self);
        s_drain_sub (self);
        s_release_delayed (self);
        double now = mdl_now ();
        if (now >= next_tick) {
            s_tick (self);
            next_tick = now + MDL_TICK_MS / 1000.0;
        }
    }
    zpoller_destroy (&poller);
    mdl_mesh_bye (self->mesh, &self->me, a->cluster);
    s_tick (self); /* final counters */
    s_self_destroy (&self);
}

zactor_t *
mdl_comm_start (mdl_agent_t *a, int *err)
{
    s_start_t st = { a, 0 };
    zactor_t *actor = zactor_new (s_actor, &st);
    if (!actor) {
        *err = MDL_ESOCKET;
        return NULL;
    }
    if (st.err) {
        *err = st.err;
        zactor_destroy (&actor);
        return NULL;
    }
    return actor;
}
