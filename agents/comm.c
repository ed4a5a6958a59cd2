/*  comm.c: the comm actor (a CZMQ zactor) of one agent. It owns every socket (the
    mesh's PUB and SUB, the discovery back-end, the worker's inproc PULL) and the peer
    table. It decodes each arriving update into that peer's mailbox, keeps replicas of
    neighbours that publish deltas (resynchronising on a gap by asking for a keyframe),
    sends what the worker hands it to each recipient on its own topic, and turns peer
    events into membership changes and log lines. */
#include <czmq.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agent_impl.h"
#include "codec.h"
#include "discovery.h"
#include "err.h"
#include "mesh.h"
#include "peers.h"
#include "clock.h"
#include "vec.h"
#include "wire.h"

#define MDL_TICK_MS 20
#define MDL_MAX_CH 4

struct s_delayed;

/* Per-peer link state. */
typedef struct {
    uint64_t id;
    uint64_t seq_to;           /* last sequence number sent to this peer */
    uint64_t seq_from;         /* last sequence number received from it */
    bool connected;            /* we SUB-connected its endpoint (by id, not static) */
    char endpoint[MDL_ENDPOINT_MAX];
    float *replica[MDL_MAX_CH];/* its public copy, when it publishes deltas */
    bool valid[MDL_MAX_CH];
    double resync_at;          /* last resync request (rate limit) */
    struct s_delayed *parked;  /* sync mode: messages for rounds the worker cannot take yet */
    size_t nparked;
} s_link_t;

/* A message held back: by the delay injection, or parked (sync mode) until the
   worker reaches its round. */
typedef struct s_delayed {
    double due;
    uint64_t step;
    size_t n;
    size_t lens[3];
    unsigned char *buf;        /* frames back to back */
    struct s_delayed *next;
} s_delayed_t;

typedef struct {
    mdl_agent_t *a;
    zsock_t *pipe;
    zsock_t *pull;
    mdl_mesh_t *mesh;
    mdl_discovery_t *disc;
    mdl_peers_t *peers;
    mdl_codec_t *codec, *kcodec;
    mdl_wire_expect_t exp, kexp;
    mdl_wire_stats_t wstats;
    mdl_peer_info_t me;
    s_link_t links[MDL_AGENT_MAX_PEERS];
    size_t nlinks;
    mdl_rng_t rng;             /* drop injection */
    s_delayed_t *delayed;      /* sorted by due */
    double next_hello;
    uint64_t seen_total;
    bool stopping;
    bool bye;                  /* the LEAVE being handled is a goodbye, not a silence */
} self_t;

static s_link_t *
s_link (self_t *self, uint64_t id, bool create)
{
    for (size_t i = 0; i < self->nlinks; i++)
        if (self->links[i].id == id)
            return &self->links[i];
    if (!create || self->nlinks == MDL_AGENT_MAX_PEERS)
        return NULL;
    s_link_t *l = &self->links[self->nlinks++];
    memset (l, 0, sizeof *l);
    l->id = id;
    return l;
}

static void
s_stat_add (self_t *self, uint64_t *field, uint64_t n)
{
    pthread_mutex_lock (&self->a->stats_lock);
    *field += n;
    pthread_mutex_unlock (&self->a->stats_lock);
}

static void
s_drop_parked (s_link_t *l)
{
    while (l->parked) {
        struct s_delayed *m = l->parked;
        l->parked = m->next;
        free (m->buf);
        free (m);
    }
    l->nparked = 0;
}

static void
s_publish_view (self_t *self)
{
    uint64_t ids[MDL_AGENT_MAX_PEERS + 1];
    size_t n = mdl_peers_alive (self->peers, ids, MDL_AGENT_MAX_PEERS);
    if (n > MDL_AGENT_MAX_PEERS)
        n = MDL_AGENT_MAX_PEERS;
    /* insert self, keep ascending */
    size_t at = 0;
    while (at < n && ids[at] < self->a->cfg.id)
        at++;
    memmove (ids + at + 1, ids + at, (n - at) * sizeof ids[0]);
    ids[at] = self->a->cfg.id;
    mdl_agent_view_set (self->a, ids, n + 1);
    pthread_mutex_lock (&self->a->stats_lock);
    self->a->stats.peers_alive = n;
    pthread_mutex_unlock (&self->a->stats_lock);
}

static void
s_on_event (self_t *self, const mdl_peer_event_t *ev)
{
    mdl_agent_t *a = self->a;
    char idb[17];
    const char *ids = mdl_id_str (ev->info.id, idb);
    s_link_t *l = s_link (self, ev->info.id, ev->kind != MDL_PEER_LEAVE);
    if (!l)
        return;
    switch (ev->kind) {
    case MDL_PEER_JOIN:
    case MDL_PEER_REJOIN:
        if (ev->kind == MDL_PEER_JOIN)
            s_stat_add (self, &a->stats.peers_seen, 1);
        if (mdl_mailroom_add (a->room, ev->info.id)) {
            mdl_agent_log (a, "cannot track peer %s: too many peers", ids);
            return;
        }
        mdl_mailroom_clear (a->room, ev->info.id);
        for (int k = 0; k < MDL_MAX_CH; k++)
            l->valid[k] = false;
        s_drop_parked (l);
        l->seq_from = 0;
        l->seq_to = 0;
        if (ev->info.endpoint[0] && (!l->connected || strcmp (l->endpoint, ev->info.endpoint))) {
            if (l->connected && strcmp (l->endpoint, ev->info.endpoint))
                mdl_mesh_disconnect (self->mesh, l->endpoint);
            int rc = mdl_mesh_connect (self->mesh, &ev->info);
            if (rc == MDL_ESECURITY)
                mdl_agent_log (a, "peer %s at %s: its key is not on the allow-list; not listening to it", ids,
                               ev->info.endpoint);
            else if (rc)
                mdl_agent_log (a, "peer %s: cannot connect to %s: %s", ids, ev->info.endpoint, mdl_strerror (rc));
            else {
                l->connected = true;
                snprintf (l->endpoint, sizeof l->endpoint, "%s", ev->info.endpoint);
            }
        }
        mdl_agent_log (a, "%s %s%s%s", ev->kind == MDL_PEER_JOIN ? "join" : "rejoin", ids,
                       ev->info.endpoint[0] ? " at " : "", ev->info.endpoint);
        break;
    case MDL_PEER_LEAVE:
        if (l->connected) {
            mdl_mesh_disconnect (self->mesh, l->endpoint);
            l->connected = false;
        }
        mdl_mailroom_clear (a->room, ev->info.id);
        for (int k = 0; k < MDL_MAX_CH; k++)
            l->valid[k] = false;
        s_drop_parked (l);
        if (self->bye)
            mdl_agent_log (a, "leave %s (said goodbye)", ids);
        else
            mdl_agent_log (a, "leave %s (silent for %.1f s)", ids, a->cfg.peer_timeout);
        break;
    default:
        return;
    }
    s_publish_view (self);
}

static void
s_seen (self_t *self, const mdl_peer_info_t *info)
{
    mdl_peer_event_t ev;
    if (mdl_peers_seen (self->peers, info, mdl_now (), &ev) == 0 && ev.kind != MDL_PEER_NONE)
        s_on_event (self, &ev);
}

/* Sends a control message (no payload) of kind for round step to peer. */
static void
s_send_control (self_t *self, uint64_t peer, uint32_t kind, uint64_t step)
{
    s_link_t *l = s_link (self, peer, true);
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

/* Asks sender for a keyframe (at most every 0.5 s per peer). */
static void
s_request_resync (self_t *self, s_link_t *l)
{
    double now = mdl_now ();
    if (now - l->resync_at < 0.5)
        return;
    l->resync_at = now;
    s_send_control (self, l->id, MDL_KIND_RESYNC, 0);
    s_stat_add (self, &self->a->stats.resyncs, 1);
}

/* AD-PSGD: files a pair message (request, accept, refusal) for the worker. A request
   that cannot be queued (no pairwise algorithm here, the worker stopped averaging, or
   the box is full) is refused at once, so the requester never waits for nothing. Pair
   messages are not subject to --drop: a lost accept would leave one side averaged and
   the other not (a real loss, at the high-water mark, would; see worker.c). */
static void
s_on_pair (self_t *self, const mdl_wire_header_t *h, const void *payload, size_t len)
{
    mdl_agent_t *a = self->a;
    const int type = (int) (h->kind & 15);
    const mdl_pair_kind_t kind = type == MDL_KIND_PAIR_REQ ? MDL_PAIR_REQ
                                 : type == MDL_KIND_PAIR_ACK ? MDL_PAIR_ACK
                                                             : MDL_PAIR_NAK;
    float *v = a->pairs ? mdl_pairbox_put_begin (a->pairs) : NULL;
    if (v && kind != MDL_PAIR_NAK && mdl_codec_decode (self->kcodec, payload, len, v)) {
        mdl_pairbox_put_abort (a->pairs);
        v = NULL;
    }
    if (v) {
        mdl_pairbox_put_end (a->pairs, h->sender, h->step, kind);
        return;
    }
    if (kind == MDL_PAIR_REQ)
        s_send_control (self, h->sender, MDL_KIND_PAIR_NAK, h->step);
    else
        s_stat_add (self, &a->stats.updates_dropped, 1);
}

static struct s_delayed *s_copy_msg (const void **frames, const size_t *lens, size_t n);

/* Sync mode keeps two rounds per peer (mailroom.h). On a directed graph a neighbour can
   run more than one round ahead of us (it does not wait for us), so a state for round
   >= ours + 2 is parked, in arrival order, until the worker gets there; once a peer has
   parked messages, its later ones queue behind them to keep its sequence in order. */
#define MDL_MAX_PARKED 16

static bool
s_must_park (self_t *self, s_link_t *l, const mdl_wire_header_t *h)
{
    const uint32_t type = h->kind & 15;
    if (self->a->cfg.mode != MDL_MODE_SYNC || type == MDL_KIND_RESYNC || type == MDL_KIND_MERGED || type == MDL_KIND_FIN
        || (type >= MDL_KIND_PAIR_REQ && type <= MDL_KIND_PAIR_NAK))
        return false;
    return l->nparked > 0 || h->step > atomic_load (&self->a->round) + 1;
}

static void s_on_update_checked (self_t *self, const void **frames, const size_t *lens, size_t n, bool unparking);

/* An update from sender for round step will not reach the mailbox (lost, or unusable
   until a keyframe). In sync mode a tombstone tells the worker so, as a receiver learns
   from the next sequence number, instead of letting it wait out --sync-timeout. */
/* Files a marker without a vector for (sender, ch) at round step, in the slot of the
   round's parity: the round is over for that sender with nothing to mix (a lost update,
   a skipped round) or, one above the merge round, "merged". */
static void
s_tombstone (mdl_agent_t *a, uint64_t sender, int ch, uint64_t step, uint64_t seq)
{
    if (ch < 0 || ch >= MDL_MAX_CH || !mdl_mailroom_write_begin (a->room, sender, ch, step, true))
        return;
    mdl_slot_meta_t tomb = { .step = step, .seq = seq, .arrival = mdl_now (), .lost = true };
    mdl_mailroom_write_end (a->room, sender, ch, &tomb);
}

static void
s_lost (self_t *self, uint64_t sender, int ch, uint64_t step)
{
    mdl_agent_t *a = self->a;
    s_stat_add (self, &a->stats.updates_dropped, 1);
    if (a->cfg.mode == MDL_MODE_SYNC)
        s_tombstone (a, sender, ch, step, 0);
}

/* Validates and files one update (topic, header, payload). */
static void
s_on_update (self_t *self, const void **frames, const size_t *lens, size_t n)
{
    s_on_update_checked (self, frames, lens, n, false);
}

static void
s_on_update_checked (self_t *self, const void **frames, const size_t *lens, size_t n, bool unparking)
{
    mdl_agent_t *a = self->a;
    mdl_wire_header_t h;
    mdl_wire_frame_t fr[4];
    for (size_t i = 0; i < n && i < 4; i++)
        fr[i] = (mdl_wire_frame_t) { frames[i], lens[i] };
    int rc = n >= 2 ? mdl_wire_unpack (frames[1], lens[1], &h) : MDL_EWIRE_FRAMES;
    const bool control = rc == 0
                         && ((h.kind & 15) == MDL_KIND_RESYNC || (h.kind & 15) == MDL_KIND_MERGED
                             || (h.kind & 15) == MDL_KIND_SKIP || (h.kind & 15) == MDL_KIND_PAIR_NAK
                             || (h.kind & 15) == MDL_KIND_FIN);
    mdl_codec_t *codec = rc == 0 && (h.keyframe || control) ? self->kcodec : self->codec;
    if (rc == 0 && control) {
        /* A control message carries no payload: check frames and identity only. */
        rc = n != 3 ? MDL_EWIRE_FRAMES
             : h.cluster != self->exp.cluster ? MDL_EWIRE_CLUSTER
             : lens[2] != 0 ? MDL_EWIRE_LENGTH
             : mdl_wire_check_topic (frames[0], lens[0], a->cfg.id);
    } else if (rc == 0)
        rc = mdl_wire_check (fr, n > 4 ? 4 : n, h.keyframe ? &self->kexp : &self->exp, codec, &h);
    if (rc == 0 && h.sender == a->cfg.id)
        rc = MDL_EWIRE_HEADER; /* our own message looped back: never mix with ourselves */
    mdl_wire_stats_count (&self->wstats, rc);
    if (rc) {
        s_stat_add (self, &a->stats.updates_rejected, 1);
        s_stat_add (self, &a->stats.updates_dropped, 1);
        uint64_t rej = mdl_wire_stats_get (&self->wstats, rc);
        if ((rej & (rej - 1)) == 0) /* log the 1st, 2nd, 4th, 8th... of each kind */
            mdl_agent_log (a, "rejected an update: %s (%s, %llu so far)", mdl_strerror (rc), mdl_errname (rc),
                           (unsigned long long) rej);
        return;
    }
    const mdl_peer_info_t *pi = mdl_peers_get (self->peers, h.sender);
    if (!pi || !mdl_peers_touch (self->peers, h.sender, 0, mdl_now ())) {
        s_stat_add (self, &a->stats.updates_dropped, 1); /* not (yet) a live peer */
        return;
    }
    s_link_t *l = s_link (self, h.sender, true);
    if (!l)
        return;
    /* A peer started a global average (dynamic averaging's synchronisation): the worker
       must join it even while that state waits here, parked, for the worker's round. */
    if (!control && h.step >= MDL_SYNC_BASE && h.step < MDL_FINAL_MERGE_ROUND) {
        uint64_t w = atomic_load (&a->sync_wanted);
        while (h.step > w && !atomic_compare_exchange_weak (&a->sync_wanted, &w, h.step))
            ;
    }
    if (!unparking && s_must_park (self, l, &h)) {
        struct s_delayed *m = l->nparked < MDL_MAX_PARKED ? s_copy_msg (frames, lens, n) : NULL;
        if (!m) {
            s_stat_add (self, &a->stats.updates_dropped, 1);
            return;
        }
        m->step = h.step;
        struct s_delayed **p = &l->parked;
        while (*p)
            p = &(*p)->next;
        *p = m;
        l->nparked++;
        return;
    }
    const bool gap = l->seq_from && h.seq != l->seq_from + 1;
    l->seq_from = h.seq;
    /* A gap means a lost message, whichever kind this one is: a lost delta followed by a
       control message would otherwise go unnoticed by the next delta (found by
       --verify-replicas under --drop). Every replica of the link waits for a keyframe. */
    if (gap)
        for (int k = 0; k < MDL_MAX_CH; k++)
            l->valid[k] = false;
    if ((h.kind & 15) >= MDL_KIND_PAIR_REQ && (h.kind & 15) <= MDL_KIND_PAIR_NAK) {
        s_on_pair (self, &h, frames[2], lens[2]);
        return;
    }
    if (control && (h.kind & 15) == MDL_KIND_SKIP) {
        /* The sender sits this round out (consensus control): nothing to wait for. */
        if (a->cfg.mode == MDL_MODE_SYNC)
            s_tombstone (a, h.sender, 0, h.step, h.seq);
        return;
    }
    if (control && (h.kind & 15) == MDL_KIND_MERGED) {
        /* A peer finished an exact average: a marker one round above that merge round, in
           the slot of the merge channel that the merge state does not use. */
        if (h.step >= MDL_MERGE_ROUND && h.step < UINT64_MAX)
            s_tombstone (a, h.sender, (int) (h.kind >> 4), h.step + 1, h.seq);
        return;
    }
    if (control && (h.kind & 15) == MDL_KIND_FIN) {
        mdl_agent_peer_fin (a, h.sender);
        return;
    }
    if (control) {
        mdl_agent_want_resync (a, h.sender);
        return;
    }
    const int ch = (int) (h.kind >> 4), type = (int) (h.kind & 15);
    if (self->a->cfg.drop > 0 && mdl_rng_double (&self->rng) < self->a->cfg.drop) {
        /* Injected loss happens after sequencing, so it looks exactly like a lost message. */
        l->seq_from = h.seq - 1;
        s_lost (self, h.sender, ch, h.step);
        return;
    }
    if (ch >= MDL_MAX_CH) {
        s_stat_add (self, &a->stats.updates_dropped, 1);
        return;
    }
    /* global averages keep their round apart from the "done" marker in async mode too */
    const bool parity = a->cfg.mode == MDL_MODE_SYNC || h.step >= MDL_MERGE_ROUND;
    mdl_slot_meta_t meta = { .step = h.step, .seq = h.seq, .arrival = mdl_now (), .loss = h.loss,
                             .aux = h.aux, .keyframe = h.keyframe };
    if (type == MDL_KIND_STATE && !h.keyframe) {
        float *slot = mdl_mailroom_write_begin (a->room, h.sender, ch, h.step, parity);
        if (!slot || mdl_codec_decode (codec, frames[2], lens[2], slot)) {
            if (slot)
                mdl_mailroom_write_abort (a->room, h.sender, ch);
            s_lost (self, h.sender, ch, h.step);
            return;
        }
        mdl_mailroom_write_end (a->room, h.sender, ch, &meta);
        return;
    }
    /* Replica stream: keyframes reset the copy, deltas advance it in order. */
    if (!l->replica[ch] && !(l->replica[ch] = calloc (a->d ? a->d : 1, sizeof (float)))) {
        s_stat_add (self, &a->stats.updates_dropped, 1);
        return;
    }
    if (h.keyframe && type == MDL_KIND_STATE) {
        if (mdl_codec_decode (codec, frames[2], lens[2], l->replica[ch])) {
            l->valid[ch] = false;
            s_lost (self, h.sender, ch, h.step);
            return;
        }
        l->valid[ch] = true;
    } else if (type == MDL_KIND_DELTA) {
        if (gap)
            l->valid[ch] = false;
        if (!l->valid[ch]) {
            s_request_resync (self, l);
            s_lost (self, h.sender, ch, h.step);
            return;
        }
        if (mdl_codec_apply (codec, frames[2], lens[2], 1.0f, l->replica[ch])) {
            l->valid[ch] = false;
            s_request_resync (self, l);
            s_lost (self, h.sender, ch, h.step);
            return;
        }
    } else {
        s_stat_add (self, &a->stats.updates_dropped, 1);
        return;
    }
    if (a->cfg.verify_replicas) {
        /* The sender's digest of its copy after this update: ours must match bit for bit. */
        if (mdl_vec_digest (l->replica[ch], a->d) != h.aux) {
            s_stat_add (self, &a->stats.replica_mismatches, 1);
            l->valid[ch] = false;
            s_request_resync (self, l);
            s_lost (self, h.sender, ch, h.step);
            return;
        }
        s_stat_add (self, &a->stats.replicas_verified, 1);
    }
    float *slot = mdl_mailroom_write_begin (a->room, h.sender, ch, h.step, parity);
    if (!slot) {
        s_stat_add (self, &a->stats.updates_dropped, 1);
        return;
    }
    mdl_vec_copy (slot, l->replica[ch], a->d);
    mdl_mailroom_write_end (a->room, h.sender, ch, &meta);
}

static void
s_on_hello (self_t *self, const void **frames, const size_t *lens, size_t n)
{
    mdl_peer_info_t info;
    if (n != 2 || mdl_hello_unpack (frames[1], lens[1], self->a->cluster, &info) != 0) {
        s_stat_add (self, &self->a->stats.updates_rejected, 1);
        return;
    }
    if (info.id == self->a->cfg.id)
        return;
    s_seen (self, &info);
    mdl_peers_touch (self->peers, info.id, info.incarnation, mdl_now ());
}

static void
s_on_bye (self_t *self, const void **frames, const size_t *lens, size_t n)
{
    mdl_peer_info_t info;
    mdl_peer_event_t ev;
    if (n != 2 || mdl_hello_unpack (frames[1], lens[1], self->a->cluster, &info) != 0)
        return;
    const mdl_peer_info_t *known = mdl_peers_get (self->peers, info.id);
    /* Only the incarnation that is alive can say goodbye for itself. */
    if (known && known->incarnation == info.incarnation && mdl_peers_remove (self->peers, info.id, &ev)) {
        self->bye = true;
        s_on_event (self, &ev);
        self->bye = false;
    }
}

static void
s_dispatch (self_t *self, const void **frames, const size_t *lens, size_t n)
{
    if (n >= 1 && lens[0] >= 1 && ((const char *) frames[0])[0] == 'H')
        s_on_hello (self, frames, lens, n);
    else if (n >= 1 && lens[0] >= 1 && ((const char *) frames[0])[0] == 'B')
        s_on_bye (self, frames, lens, n);
    else
        s_on_update (self, frames, lens, n);
}

/* Holds a message back by the injected delay (a copy: the mesh's frames are only valid
   until its next receive). */
static s_delayed_t *
s_copy_msg (const void **frames, const size_t *lens, size_t n)
{
    if (n > 3)
        n = 3;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += lens[i];
    s_delayed_t *m = calloc (1, sizeof *m);
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

static void
s_frames (s_delayed_t *m, const void **frames)
{
    size_t at = 0;
    for (size_t i = 0; i < m->n; i++) {
        frames[i] = m->buf + at;
        at += m->lens[i];
    }
}

/* Files parked messages whose round the worker has reached. */
static void
s_unpark (self_t *self)
{
    const uint64_t round = atomic_load (&self->a->round);
    for (size_t i = 0; i < self->nlinks; i++) {
        s_link_t *l = &self->links[i];
        while (l->parked && l->parked->step <= round + 1) {
            s_delayed_t *m = l->parked;
            l->parked = m->next;
            l->nparked--;
            const void *frames[3];
            s_frames (m, frames);
            s_on_update_checked (self, frames, m->lens, m->n, true);
            free (m->buf);
            free (m);
        }
    }
}

static void
s_delay (self_t *self, const void **frames, const size_t *lens, size_t n)
{
    s_delayed_t *m = s_copy_msg (frames, lens, n);
    if (!m)
        return;
    m->due = mdl_now () + self->a->cfg.delay_ms / 1000.0;
    /* constant delay: arrival order is due order, so append */
    s_delayed_t **p = &self->delayed;
    while (*p)
        p = &(*p)->next;
    *p = m;
}

static void
s_release_delayed (self_t *self)
{
    double now = mdl_now ();
    while (self->delayed && self->delayed->due <= now) {
        s_delayed_t *m = self->delayed;
        self->delayed = m->next;
        const void *frames[3];
        s_frames (m, frames);
        s_dispatch (self, frames, m->lens, m->n);
        free (m->buf);
        free (m);
    }
}

static void
s_drain_sub (self_t *self)
{
    const void *frames[4];
    size_t lens[4], n;
    /* Bounded per wake-up so the pipe and the worker's sends are never starved. */
    for (int k = 0; k < 256 && mdl_mesh_recv (self->mesh, frames, lens, 4, &n) == 0; k++) {
        bool hello = n >= 1 && lens[0] >= 1 && (((const char *) frames[0])[0] == 'H' || ((const char *) frames[0])[0] == 'B');
        if (self->a->cfg.delay_ms > 0 && !hello)
            s_delay (self, frames, lens, n);
        else
            s_dispatch (self, frames, lens, n);
    }
}

/* Sends what the worker handed over: one payload, to each recipient with its own
   topic and per-link sequence number. */
static void
s_drain_pull (self_t *self)
{
    mdl_agent_t *a = self->a;
    while (zsock_events (self->pull) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv (self->pull);
        if (!msg)
            return;
        if (zmsg_size (msg) == 1) {
            /* the worker moved to its next round: parked states may be due */
            zmsg_destroy (&msg);
            s_unpark (self);
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
        mdl_codec_t *codec = m.keyframe ? self->kcodec : self->codec;
        mdl_wire_header_t h;
        mdl_wire_header_init (&h, a->cluster, a->cfg.id, codec);
        h.step = m.step;
        h.kind = m.kind;
        h.keyframe = m.keyframe;
        h.loss = isfinite (m.loss) ? m.loss : 0.0;
        h.aux = isfinite (m.aux) ? m.aux : 0.0;
        h.d = a->d;
        h.payload_len = mdl_blob_len (blob);
        h.timestamp_us = (uint64_t) (mdl_wallclock () * 1e6);
        mdl_blob_ref (blob, (int) nto);
        for (size_t k = 0; k < nto; k++) {
            s_link_t *l = s_link (self, to[k], true);
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
s_discard_pull (self_t *self)
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
s_tick (self_t *self)
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
                    s_seen (self, &got[i]);
            }
        } while (n == 64);
    }
    mdl_peer_event_t ev[16];
    size_t ne;
    while ((ne = mdl_peers_expire (self->peers, now, ev, 16)) > 0)
        for (size_t i = 0; i < ne; i++)
            s_on_event (self, &ev[i]);
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
s_self_destroy (self_t **pself)
{
    self_t *self = *pself;
    if (!self)
        return;
    while (self->delayed) {
        s_delayed_t *m = self->delayed;
        self->delayed = m->next;
        free (m->buf);
        free (m);
    }
    for (size_t i = 0; i < self->nlinks; i++) {
        for (int k = 0; k < MDL_MAX_CH; k++)
            free (self->links[i].replica[k]);
        s_drop_parked (&self->links[i]);
    }
    mdl_discovery_destroy (&self->disc);
    mdl_mesh_destroy (&self->mesh);
    s_discard_pull (self);
    zsock_destroy (&self->pull);
    mdl_peers_destroy (&self->peers);
    mdl_codec_destroy (&self->codec);
    mdl_codec_destroy (&self->kcodec);
    free (self);
    *pself = NULL;
}

static self_t *
s_self_new (mdl_agent_t *a, zsock_t *pipe, int *err)
{
    int rc = MDL_ENOMEM;
    self_t *self = calloc (1, sizeof *self);
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
    s_publish_view (self);
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
    self_t *self = s_self_new (a, pipe, &st->err);
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
