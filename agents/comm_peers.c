/*  comm_peers.c: the comm actor's membership: a peer that announces itself (beacon,
    static list, hello) joins, one that says goodbye or falls silent leaves; each event
    opens or closes its link, mailboxes and mesh connection and republishes the view the
    worker reads (comm_impl.h). */
#include <string.h>

#include "clock.h"
#include "comm_impl.h"
#include "err.h"

void
mdl_comm_publish_view (mdl_comm_t *self)
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

void
mdl_comm_on_event (mdl_comm_t *self, const mdl_peer_event_t *ev)
{
    mdl_agent_t *a = self->a;
    char idb[17];
    const char *ids = mdl_id_str (ev->info.id, idb);
    mdl_link_t *l = mdl_comm_link (self, ev->info.id, ev->kind != MDL_PEER_LEAVE);
    if (!l)
        return;
    switch (ev->kind) {
    case MDL_PEER_JOIN:
    case MDL_PEER_REJOIN:
        if (ev->kind == MDL_PEER_JOIN)
            mdl_comm_count (self, &a->stats.peers_seen, 1);
        if (mdl_mailroom_add (a->room, ev->info.id)) {
            mdl_agent_log (a, "cannot track peer %s: too many peers", ids);
            return;
        }
        mdl_mailroom_clear (a->room, ev->info.id);
        for (int k = 0; k < MDL_AGENT_CHANNELS; k++)
            l->valid[k] = false;
        mdl_comm_drop_parked (self, l);
        l->seq_from = 0;
        l->seq_valid = l->step_valid = false; /* a restart counts afresh */
        l->refused_run = 0;
        l->seq_to = mdl_comm_seq_base ();
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
        /* Its mailboxes, replicas and parked messages go: a rejoin starts afresh anyway,
           and peers that come and go (real or forged) must not grow our memory. */
        mdl_mailroom_remove (a->room, ev->info.id);
        mdl_comm_unlink (self, ev->info.id);
        l = NULL;
        if (self->bye)
            mdl_agent_log (a, "leave %s (said goodbye)", ids);
        else
            mdl_agent_log (a, "leave %s (silent for %.1f s)", ids, a->cfg.peer_timeout);
        break;
    default:
        return;
    }
    mdl_comm_publish_view (self);
}

void
mdl_comm_seen (mdl_comm_t *self, const mdl_peer_info_t *info)
{
    mdl_peer_event_t ev;
    int rc = mdl_peers_seen (self->peers, info, mdl_now (), &ev);
    if (rc == 0 && ev.kind != MDL_PEER_NONE)
        mdl_comm_on_event (self, &ev);
    else if (rc == MDL_ELIMIT)
        mdl_comm_reject (self, info->id, MDL_REJECT_JOIN_RATE, "more new peers than the join budget allows");
    else if (rc == MDL_EBACKOFF)
        mdl_comm_reject (self, info->id, MDL_REJECT_REJOIN, "it left and rejoined too often; back soon");
    else if (rc)
        mdl_comm_reject (self, info->id, MDL_REJECT_PEERS_FULL, "the peer table is full of live peers");
}

void
mdl_comm_on_hello (mdl_comm_t *self, const void **frames, const size_t *lens, size_t n)
{
    mdl_peer_info_t info;
    int rc = n != 2 ? MDL_EWIRE_FRAMES : mdl_hello_unpack (frames[1], lens[1], self->a->cluster, &info);
    if (rc) {
        mdl_comm_reject (self, 0, rc == MDL_EWIRE_CLUSTER ? MDL_REJECT_CLUSTER : MDL_REJECT_HELLO,
                         n != 2 ? "a hello of the wrong frame count" : mdl_strerror (rc));
        return;
    }
    if (info.id == self->a->cfg.id)
        return;
    mdl_comm_seen (self, &info);
    mdl_peers_touch (self->peers, info.id, info.incarnation, mdl_now ());
}

void
mdl_comm_on_bye (mdl_comm_t *self, const void **frames, const size_t *lens, size_t n)
{
    mdl_peer_info_t info;
    mdl_peer_event_t ev;
    int rc = n != 2 ? MDL_EWIRE_FRAMES : mdl_hello_unpack (frames[1], lens[1], self->a->cluster, &info);
    if (rc) {
        mdl_comm_reject (self, 0, rc == MDL_EWIRE_CLUSTER ? MDL_REJECT_CLUSTER : MDL_REJECT_HELLO,
                         n != 2 ? "a goodbye of the wrong frame count" : mdl_strerror (rc));
        return;
    }
    const mdl_peer_info_t *known = mdl_peers_get (self->peers, info.id);
    /* Only the incarnation that is alive can say goodbye for itself. */
    if (known && known->incarnation == info.incarnation && mdl_peers_remove (self->peers, info.id, &ev)) {
        self->bye = true;
        mdl_comm_on_event (self, &ev);
        self->bye = false;
    }
}
