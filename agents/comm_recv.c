/*  comm_recv.c: the receive path of one update: validate it against this agent's
    model and membership, park it (sync mode) until the worker's round comes, handle
    control messages, and file the state into the sender's mailbox, through its replica
    when the sender publishes deltas. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "comm_impl.h"
#include "err.h"
#include "vec.h"

/* Asks sender for a keyframe (at most every 0.5 s per peer). */
static void
s_request_resync (mdl_comm_t *self, mdl_link_t *l)
{
    double now = mdl_now ();
    if (now - l->resync_at < 0.5)
        return;
    l->resync_at = now;
    mdl_comm_send_control (self, l->id, MDL_KIND_RESYNC, 0);
    mdl_comm_count (self, &self->a->stats.resyncs, 1);
}

/* AD-PSGD: files a pair message (request, accept, refusal) for the worker. A request
   that cannot be queued (no pairwise algorithm here, the worker stopped averaging, or
   the box is full) is refused at once, so the requester never waits for nothing. Pair
   messages are not subject to --drop: a lost accept would leave one side averaged and
   the other not (a real loss, at the high-water mark, would; see worker.c). */
static void
s_on_pair (mdl_comm_t *self, const mdl_wire_header_t *h, const void *payload, size_t len)
{
    mdl_agent_t *a = self->a;
    const int type = (int) (MDL_KIND_TYPE (h->kind));
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
        mdl_comm_send_control (self, h->sender, MDL_KIND_PAIR_NAK, h->step);
    else
        mdl_comm_count (self, &a->stats.updates_dropped, 1);
}

/* Sync mode keeps two rounds per peer (mailroom.h). On a directed graph a neighbour can
   run more than one round ahead of us (it does not wait for us), so a state for round
   >= ours + 2 is parked, in arrival order, until the worker gets there; once a peer has
   parked messages, its later ones queue behind them to keep its sequence in order. */
#define MDL_MAX_PARKED 16

static bool
s_must_park (mdl_comm_t *self, mdl_link_t *l, const mdl_wire_header_t *h)
{
    const uint32_t type = MDL_KIND_TYPE (h->kind);
    if (self->a->cfg.mode != MDL_MODE_SYNC || type == MDL_KIND_RESYNC || type == MDL_KIND_MERGED || type == MDL_KIND_FIN
        || (type >= MDL_KIND_PAIR_REQ && type <= MDL_KIND_PAIR_NAK))
        return false;
    return l->nparked > 0 || h->step > atomic_load (&self->a->round) + 1;
}

static void s_on_update_checked (mdl_comm_t *self, const void **frames, const size_t *lens, size_t n, bool unparking);

/* An update from sender for round step will not reach the mailbox (lost, or unusable
   until a keyframe). In sync mode a tombstone tells the worker so, as a receiver learns
   from the next sequence number, instead of letting it wait out --sync-timeout. */
/* Files a marker without a vector for (sender, ch) at round step, in the slot of the
   round's parity: the round is over for that sender with nothing to mix (a lost update,
   a skipped round) or, one above the merge round, "merged". */
static void
s_tombstone (mdl_agent_t *a, uint64_t sender, int ch, uint64_t step, uint64_t seq)
{
    if (ch < 0 || ch >= MDL_AGENT_CHANNELS)
        return;
    mdl_slot_meta_t tomb = { .step = step, .seq = seq, .arrival = mdl_now (), .lost = true };
    if (mdl_mailroom_has (a->room, sender) || mdl_mailroom_add (a->room, sender) == 0)
        mdl_mailroom_mark (a->room, sender, ch, true, &tomb);
}

static void
s_lost (mdl_comm_t *self, uint64_t sender, int ch, uint64_t step)
{
    mdl_agent_t *a = self->a;
    mdl_comm_count (self, &a->stats.updates_dropped, 1);
    if (a->cfg.mode == MDL_MODE_SYNC)
        s_tombstone (a, sender, ch, step, 0);
}

static bool
s_is_control (uint32_t type)
{
    return type == MDL_KIND_RESYNC || type == MDL_KIND_MERGED || type == MDL_KIND_SKIP || type == MDL_KIND_PAIR_NAK
           || type == MDL_KIND_FIN;
}

/* Phase 1: frames, header and payload length against this agent's expectations. Returns
   0 with *h filled, or the MDL_EWIRE_* reason (counted and logged here). */
static int
s_validate (mdl_comm_t *self, const void **frames, const size_t *lens, size_t n, mdl_wire_header_t *h)
{
    mdl_agent_t *a = self->a;
    mdl_wire_frame_t fr[4];
    for (size_t i = 0; i < n && i < 4; i++)
        fr[i] = (mdl_wire_frame_t) { frames[i], lens[i] };
    int rc = n >= 2 ? mdl_wire_unpack (frames[1], lens[1], h) : MDL_EWIRE_FRAMES;
    if (rc == 0 && s_is_control (MDL_KIND_TYPE (h->kind))) {
        /* A control message carries no payload: check frames and identity only. */
        rc = n != 3 ? MDL_EWIRE_FRAMES
             : h->cluster != self->exp.cluster ? MDL_EWIRE_CLUSTER
             : lens[2] != 0 ? MDL_EWIRE_LENGTH
             : mdl_wire_check_topic (frames[0], lens[0], a->cfg.id);
    } else if (rc == 0)
        rc = mdl_wire_check (fr, n > 4 ? 4 : n, h->keyframe ? &self->kexp : &self->exp,
                             h->keyframe ? self->kcodec : self->codec, h);
    if (rc == 0 && h->sender == a->cfg.id)
        rc = MDL_EWIRE_HEADER; /* our own message looped back: never mix with ourselves */
    mdl_wire_stats_count (&self->wstats, rc);
    if (rc) {
        mdl_comm_count (self, &a->stats.updates_rejected, 1);
        mdl_comm_count (self, &a->stats.updates_dropped, 1);
        uint64_t rej = mdl_wire_stats_get (&self->wstats, rc);
        if ((rej & (rej - 1)) == 0) /* log the 1st, 2nd, 4th, 8th... of each kind */
            mdl_agent_log (a, "rejected an update: %s (%s, %llu so far)", mdl_strerror (rc), mdl_errname (rc),
                           (unsigned long long) rej);
    }
    return rc;
}

/* Phase 2 (sync mode): a state for a round the worker cannot take yet waits on its link.
   True when the message was parked (or dropped because the link's queue is full). */
static bool
s_park (mdl_comm_t *self, mdl_link_t *l, const mdl_wire_header_t *h, const void **frames, const size_t *lens,
        size_t n)
{
    if (!s_must_park (self, l, h))
        return false;
    mdl_delayed_t *m = l->nparked < MDL_MAX_PARKED ? mdl_comm_copy_msg (frames, lens, n) : NULL;
    if (!m) {
        mdl_comm_count (self, &self->a->stats.updates_dropped, 1);
        return true;
    }
    m->step = h->step;
    mdl_delayed_t **p = &l->parked;
    while (*p)
        p = &(*p)->next;
    *p = m;
    l->nparked++;
    return true;
}

/* Phase 3: a control message (no payload) from a live, in-sequence peer. */
static void
s_on_control (mdl_comm_t *self, const mdl_wire_header_t *h)
{
    mdl_agent_t *a = self->a;
    switch (MDL_KIND_TYPE (h->kind)) {
    case MDL_KIND_SKIP:
        /* The sender sits this round out (consensus control): nothing to wait for. */
        if (a->cfg.mode == MDL_MODE_SYNC)
            s_tombstone (a, h->sender, 0, h->step, h->seq);
        break;
    case MDL_KIND_MERGED:
        /* A peer finished an exact average: a marker one round above that merge round, in
           the slot of the merge channel that the merge state does not use. */
        if (h->step >= MDL_MERGE_ROUND && h->step < UINT64_MAX)
            s_tombstone (a, h->sender, (int) MDL_KIND_CHANNEL (h->kind), h->step + 1, h->seq);
        break;
    case MDL_KIND_FIN:
        mdl_agent_peer_fin (a, h->sender);
        break;
    default: /* MDL_KIND_RESYNC */
        mdl_agent_want_resync (a, h->sender);
        break;
    }
}

/* Phase 4a: a plain state, decoded straight into the sender's mailbox slot. */
static void
s_file_state (mdl_comm_t *self, const mdl_wire_header_t *h, const mdl_slot_meta_t *meta, bool parity,
              const void *payload, size_t len)
{
    mdl_agent_t *a = self->a;
    const int ch = (int) MDL_KIND_CHANNEL (h->kind);
    /* fp32 on the wire is the vector: the mailbox keeps the received frame itself (for
       inproc, the sender's buffer) instead of a copy, and mixing reads it there, checking
       it for NaN/Inf as it goes (mdl_vec_mix_checked): the only pass over it. */
    if (self->from_mesh && mdl_codec_view (self->codec, payload, len)) {
        const void *data = NULL;
        void *ref = mdl_mesh_hold (self->mesh, 2, &data);
        const float *v = ref ? mdl_codec_view (self->codec, data, len) : NULL;
        if (v && mdl_mailroom_file_ref (a->room, h->sender, ch, parity, v, mdl_mesh_release, ref, meta) == 0)
            return;
        mdl_mesh_release (ref);
        if (v) { /* the slot is being read (a peer two rounds ahead) */
            s_lost (self, h->sender, ch, h->step);
            return;
        }
    }
    float *slot = mdl_mailroom_write_begin (a->room, h->sender, ch, h->step, parity);
    if (!slot || mdl_codec_decode (self->codec, payload, len, slot)) {
        if (slot)
            mdl_mailroom_write_abort (a->room, h->sender, ch);
        s_lost (self, h->sender, ch, h->step);
        return;
    }
    mdl_mailroom_write_end (a->room, h->sender, ch, meta);
}

/* Phase 4b: a replica stream: keyframes reset the sender's public copy, deltas advance it
   in order (a gap invalidates it until the next keyframe); the copy is then filed. */
static void
s_file_replica (mdl_comm_t *self, mdl_link_t *l, const mdl_wire_header_t *h, const mdl_slot_meta_t *meta, bool parity,
                bool gap, const void *payload, size_t len)
{
    mdl_agent_t *a = self->a;
    const int ch = (int) MDL_KIND_CHANNEL (h->kind);
    const uint32_t type = MDL_KIND_TYPE (h->kind);
    mdl_codec_t *codec = h->keyframe ? self->kcodec : self->codec;
    if (!l->replica[ch] && !(l->replica[ch] = calloc (a->d ? a->d : 1, sizeof (float)))) {
        mdl_comm_count (self, &a->stats.updates_dropped, 1);
        return;
    }
    if (h->keyframe && type == MDL_KIND_STATE) {
        if (mdl_codec_decode (codec, payload, len, l->replica[ch])) {
            l->valid[ch] = false;
            s_lost (self, h->sender, ch, h->step);
            return;
        }
        l->valid[ch] = true;
    } else if (type == MDL_KIND_DELTA) {
        if (gap)
            l->valid[ch] = false;
        if (!l->valid[ch]) {
            s_request_resync (self, l);
            s_lost (self, h->sender, ch, h->step);
            return;
        }
        if (mdl_codec_apply (codec, payload, len, 1.0f, l->replica[ch])) {
            l->valid[ch] = false;
            s_request_resync (self, l);
            s_lost (self, h->sender, ch, h->step);
            return;
        }
    } else {
        mdl_comm_count (self, &a->stats.updates_dropped, 1);
        return;
    }
    if (a->cfg.verify_replicas) {
        /* The sender's digest of its copy after this update: ours must match bit for bit. */
        if (mdl_vec_digest (l->replica[ch], a->d) != h->aux) {
            mdl_comm_count (self, &a->stats.replica_mismatches, 1);
            l->valid[ch] = false;
            s_request_resync (self, l);
            s_lost (self, h->sender, ch, h->step);
            return;
        }
        mdl_comm_count (self, &a->stats.replicas_verified, 1);
    }
    float *slot = mdl_mailroom_write_begin (a->room, h->sender, ch, h->step, parity);
    if (!slot) {
        mdl_comm_count (self, &a->stats.updates_dropped, 1);
        return;
    }
    mdl_vec_copy (slot, l->replica[ch], a->d);
    mdl_mailroom_write_end (a->room, h->sender, ch, meta);
}

/* Validates and files one update (topic, header, payload). */
static void
s_on_update (mdl_comm_t *self, const void **frames, const size_t *lens, size_t n)
{
    s_on_update_checked (self, frames, lens, n, false);
}

/* The phases of one update: validate; the sender must be a live peer; a global average
   it started is noted; park (sync); sequence (a gap voids the link's replicas); pair
   messages and control messages go their way; the drop injection; file. */
static void
s_on_update_checked (mdl_comm_t *self, const void **frames, const size_t *lens, size_t n, bool unparking)
{
    mdl_agent_t *a = self->a;
    mdl_wire_header_t h;
    if (s_validate (self, frames, lens, n, &h))
        return;
    const uint32_t type = MDL_KIND_TYPE (h.kind);
    const bool control = s_is_control (type);
    const mdl_peer_info_t *pi = mdl_peers_get (self->peers, h.sender);
    if (!pi || !mdl_peers_touch (self->peers, h.sender, 0, mdl_now ())) {
        mdl_comm_count (self, &a->stats.updates_dropped, 1); /* not (yet) a live peer */
        return;
    }
    mdl_link_t *l = mdl_comm_link (self, h.sender, true);
    if (!l)
        return;
    /* A peer started a global average (dynamic averaging's synchronisation): the worker
       must join it even while that state waits here, parked, for the worker's round. */
    if (!control && h.step >= MDL_SYNC_BASE && h.step < MDL_FINAL_MERGE_ROUND) {
        uint64_t w = atomic_load (&a->sync_wanted);
        while (h.step > w && !atomic_compare_exchange_weak (&a->sync_wanted, &w, h.step))
            ;
    }
    if (!unparking && s_park (self, l, &h, frames, lens, n))
        return;
    const bool gap = l->seq_from && h.seq != l->seq_from + 1;
    l->seq_from = h.seq;
    /* A gap means a lost message, whichever kind this one is: a lost delta followed by a
       control message would otherwise go unnoticed by the next delta (found by
       --verify-replicas under --drop). Every replica of the link waits for a keyframe. */
    if (gap)
        for (int k = 0; k < MDL_AGENT_CHANNELS; k++)
            l->valid[k] = false;
    if (type >= MDL_KIND_PAIR_REQ && type <= MDL_KIND_PAIR_NAK) {
        s_on_pair (self, &h, frames[2], lens[2]);
        return;
    }
    if (control) {
        s_on_control (self, &h);
        return;
    }
    const int ch = (int) MDL_KIND_CHANNEL (h.kind);
    if (self->a->cfg.drop > 0 && mdl_rng_double (&self->rng) < self->a->cfg.drop) {
        /* Injected loss happens after sequencing, so it looks exactly like a lost message. */
        l->seq_from = h.seq - 1;
        s_lost (self, h.sender, ch, h.step);
        return;
    }
    if (ch >= MDL_AGENT_CHANNELS) {
        mdl_comm_count (self, &a->stats.updates_dropped, 1);
        return;
    }
    /* A state from a live peer outside the neighbourhood (views that differ for a moment,
       a global average it started before ours): a box on demand, released by the next
       change of the neighbourhood unless the peer is wanted by then. */
    if (!mdl_mailroom_has (a->room, h.sender) && mdl_mailroom_add (a->room, h.sender)) {
        mdl_comm_count (self, &a->stats.updates_dropped, 1);
        return;
    }
    /* global averages keep their round apart from the "done" marker in async mode too */
    const bool parity = a->cfg.mode == MDL_MODE_SYNC || h.step >= MDL_MERGE_ROUND;
    mdl_slot_meta_t meta = { .step = h.step, .seq = h.seq, .arrival = mdl_now (), .loss = h.loss,
                             .aux = h.aux, .keyframe = h.keyframe };
    if (type == MDL_KIND_STATE && !h.keyframe)
        s_file_state (self, &h, &meta, parity, frames[2], lens[2]);
    else
        s_file_replica (self, l, &h, &meta, parity, gap, frames[2], lens[2]);
}

void
mdl_comm_dispatch (mdl_comm_t *self, const void **frames, const size_t *lens, size_t n)
{
    if (n >= 1 && lens[0] >= 1 && ((const char *) frames[0])[0] == 'H')
        mdl_comm_on_hello (self, frames, lens, n);
    else if (n >= 1 && lens[0] >= 1 && ((const char *) frames[0])[0] == 'B')
        mdl_comm_on_bye (self, frames, lens, n);
    else
        s_on_update (self, frames, lens, n);
}

/* Files parked messages whose round the worker has reached. */
void
mdl_comm_unpark (mdl_comm_t *self)
{
    const uint64_t round = atomic_load (&self->a->round);
    for (size_t i = 0; i < self->nlinks; i++) {
        mdl_link_t *l = &self->links[i];
        while (l->parked && l->parked->step <= round + 1) {
            mdl_delayed_t *m = l->parked;
            l->parked = m->next;
            l->nparked--;
            const void *frames[3];
            mdl_comm_frames (m, frames);
            s_on_update_checked (self, frames, m->lens, m->n, true);
            free (m->buf);
            free (m);
        }
    }
}
