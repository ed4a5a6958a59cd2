/*  comm_peers.c: the comm actor's membership and neighbourhood. A peer that announces
    itself (beacon, static list, hello) joins, one that says goodbye or falls silent
    leaves: the peer table (a small record per peer, cluster-wide) and the view the
    worker reads follow every event. What costs memory and sockets follows only the
    neighbourhood (hood.h): links, SUB connections, mailboxes, replicas and parked
    queues exist for the peers this agent talks with over the topology's period, plus
    those a transient purpose opened (global averages, FIN, a bootstrap), released after
    use. Each change of the view re-derives the neighbourhood before the worker sees the
    view, so a neighbour's mailbox is there before its first state. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "comm_impl.h"
#include "err.h"
#include "hood.h"

/* After its purpose closes, a transient peer stays open this long: back-to-back global
   averages (--global-every, dynavg) would otherwise reconnect to everyone each time. */
#define S_TRANSIENT_LINGER 2.0

static bool
s_in_sorted (const uint64_t *ids, size_t n, uint64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ids[lo] == id;
}

static int
s_cmp_u64 (const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *) x, b = *(const uint64_t *) y;
    return a < b ? -1 : a > b;
}

/* Whether id is a live peer out of the view for its FIN (comm thread: it alone writes
   view_fin, so it reads it without the lock). */
static bool
s_finished (const mdl_comm_t *self, uint64_t id)
{
    return s_in_sorted (self->a->view_fin, self->a->view_fin_n, id);
}

/* Whether a transient purpose holds id now (open, or lingering). */
static bool
s_transient_has (const mdl_comm_t *self, uint64_t id, double now)
{
    for (int p = 0; p < MDL_TRANSIENT_PURPOSES; p++) {
        const mdl_transient_set_t *t = &self->transient[p];
        if (!t->open && !(t->until > now))
            continue;
        if (t->all ? s_in_sorted (self->view, self->nview, id) || s_finished (self, id) : s_in_sorted (t->ids, t->n, id))
            return true;
    }
    return false;
}

bool
mdl_comm_wanted (const mdl_comm_t *self, uint64_t id)
{
    return id != self->a->cfg.id
           && (s_in_sorted (self->talk, self->ntalk, id) || s_transient_has (self, id, mdl_now ()));
}

/* Gives back everything held for a link's peer and forgets the link (swap-remove: link
   pointers are not kept across calls). */
static void
s_release (mdl_comm_t *self, mdl_link_t *l)
{
    if (l->connected)
        mdl_mesh_disconnect (self->mesh, l->endpoint);
    for (int k = 0; k < MDL_AGENT_CHANNELS; k++)
        mdl_replica_destroy (&l->replica[k]);
    mdl_comm_drop_sent (l);
    mdl_comm_drop_parked (self, l);
    mdl_mailroom_remove (self->a->room, l->id);
    *l = self->links[--self->nlinks];
}

/* Opens what peer id needs: its link, its SUB connection (when we know where it
   publishes), and a mailbox when box. */
static void
s_open (mdl_comm_t *self, uint64_t id, bool box)
{
    mdl_agent_t *a = self->a;
    mdl_link_t *l = mdl_comm_link (self, id, true);
    if (!l) {
        char b[17];
        mdl_agent_log (a, "cannot talk with peer %s: %d links open (the most an agent keeps)", mdl_id_str (id, b),
                       MDL_AGENT_MAX_PEERS);
        return;
    }
    if (box && mdl_mailroom_add (a->room, id)) {
        char b[17];
        mdl_agent_log (a, "cannot keep a mailbox for peer %s", mdl_id_str (id, b));
    }
    const mdl_peer_info_t *info = mdl_peers_get (self->peers, id);
    if (l->connected || !info || !info->endpoint[0])
        return; /* a static peer is connected by endpoint already (comm.c's tick) */
    int rc = mdl_mesh_connect (self->mesh, info);
    char b[17];
    if (rc == MDL_ESECURITY)
        mdl_comm_drop (self, id, "its key is not on the allow-list: not listening to it");
    else if (rc)
        mdl_agent_log (a, "peer %s: cannot connect to %s: %s", mdl_id_str (id, b), info->endpoint, mdl_strerror (rc));
    else {
        l->connected = true;
        l->connected_at = mdl_now ();
        self->connected = true;
        snprintf (l->endpoint, sizeof l->endpoint, "%s", info->endpoint);
        mdl_peers_listening (self->peers, id, l->connected_at);
    }
}

/* The hold-off slot of id: its own if it has one, else the one that expires first. */
static size_t
s_key_hold_slot (const mdl_comm_t *self, uint64_t id)
{
    size_t slot = 0;
    for (size_t k = 0; k < MDL_KEY_HOLD_SLOTS; k++) {
        if (self->key_hold[k].id == id)
            return k;
        if (self->key_hold[k].until < self->key_hold[slot].until)
            slot = k;
    }
    return slot;
}

void
mdl_comm_refused (mdl_comm_t *self)
{
    char eps[MDL_MESH_REFUSED_MAX][MDL_ENDPOINT_MAX];
    const size_t n = mdl_mesh_refused (self->mesh, eps, MDL_MESH_REFUSED_MAX);
    const double now = mdl_now ();
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < self->nlinks; j++) {
            const mdl_link_t *l = &self->links[j];
            if (!l->connected || strcmp (l->endpoint, eps[i]) != 0)
                continue;
            const uint64_t id = l->id; /* the drop releases the link */
            const size_t slot = s_key_hold_slot (self, id);
            self->key_hold[slot].id = id;
            self->key_hold[slot].until = now + MDL_KEY_HOLD_S;
            mdl_comm_drop (self, id, "it refuses our CURVE key: is this agent's public certificate in its --allow directory?");
            break;
        }
}

void
mdl_comm_drop (mdl_comm_t *self, uint64_t id, const char *why)
{
    mdl_peer_event_t ev;
    if (!mdl_peers_drop (self->peers, id, &ev))
        return;
    self->leave_why = why;
    mdl_comm_on_event (self, &ev);
    self->leave_why = NULL;
}

/* Makes links, connections and mailboxes match the talk set, the in-neighbours and the
   transient purposes. */
static void
s_reconcile (mdl_comm_t *self)
{
    const double now = mdl_now ();
    const uint64_t round = atomic_load (&self->a->round);
    for (size_t i = self->nlinks; i-- > 0;)
        if (!mdl_comm_wanted (self, self->links[i].id) && !(self->links[i].keep_below > round))
            s_release (self, &self->links[i]);
    for (size_t k = 0; k < self->ntalk; k++) {
        const uint64_t id = self->talk[k];
        const bool box = s_in_sorted (self->in, self->nin, id) || s_transient_has (self, id, now);
        s_open (self, id, box);
        if (!box) /* an out-neighbour only (it was an in-neighbour in a smaller view) */
            mdl_mailroom_remove (self->a->room, id);
    }
    for (int p = 0; p < MDL_TRANSIENT_PURPOSES; p++) {
        const mdl_transient_set_t *t = &self->transient[p];
        if (!t->open && !(t->until > now))
            continue;
        const uint64_t *ids = t->all ? self->view : t->ids;
        const size_t n = t->all ? self->nview : t->n;
        for (size_t k = 0; k < n; k++)
            if (ids[k] != self->a->cfg.id && s_in_sorted (self->view, self->nview, ids[k]))
                s_open (self, ids[k], true);
    }
}

/* *p grown to cap elements of size each; false (and *p unchanged) when out of memory. */
static bool
s_grow (void **p, size_t cap, size_t size)
{
    void *v = realloc (*p, cap * size);
    if (v)
        *p = v;
    return v != NULL;
}

bool
mdl_comm_is_in (const mdl_comm_t *self, uint64_t id)
{
    return s_in_sorted (self->in, self->nin, id);
}

/* Room for the neighbourhood of n agents. */
static int
s_reserve (mdl_comm_t *self, size_t n)
{
    if (n <= self->caphood)
        return 0;
    size_t cap = self->caphood ? self->caphood : 16;
    while (cap < n)
        cap *= 2;
    bool ok = s_grow ((void **) &self->view, cap, sizeof (uint64_t));
    ok &= s_grow ((void **) &self->talk, cap, sizeof (uint64_t));
    ok &= s_grow ((void **) &self->in, cap, sizeof (uint64_t));
    ok &= s_grow ((void **) &self->votes, cap, sizeof (uint64_t));
    ok &= s_grow ((void **) &self->idx_in, cap, sizeof (uint32_t));
    ok &= s_grow ((void **) &self->idx_talk, cap, sizeof (uint32_t));
    ok &= s_grow ((void **) &self->mark, cap, 1);
    if (!ok)
        return MDL_ENOMEM;
    self->caphood = cap;
    return 0;
}

void
mdl_comm_follow (mdl_comm_t *self, bool force)
{
    mdl_agent_t *a = self->a;
    uint64_t round = atomic_load (&a->round);
    if (round >= MDL_MERGE_ROUND)
        round = self->hood_round; /* a global average uses no graph: keep the gossip's */
    const mdl_topo_t *graphs[3];
    const size_t ng = mdl_agent_graphs (a, round, graphs);
    const uint32_t n = (uint32_t) self->nview;
    const uint64_t w = mdl_hood_window (graphs, ng, n, round);
    if (!force && w == self->hood_window && ng == self->hood_graphs)
        return;
    self->hood_round = round;
    self->hood_window = w;
    self->hood_graphs = ng;
    uint32_t me = 0;
    while (me < n && self->view[me] != a->cfg.id)
        me++;
    size_t nin = 0, ntalk = 0;
    if (me < n && mdl_hood_compute (graphs, ng, n, me, round, self->idx_in, &nin, self->idx_talk, &ntalk, self->mark) == 0) {
        for (size_t k = 0; k < nin; k++)
            self->in[k] = self->view[self->idx_in[k]];
        for (size_t k = 0; k < ntalk; k++)
            self->talk[k] = self->view[self->idx_talk[k]];
    }
    self->nin = nin;
    self->ntalk = ntalk;
    s_reconcile (self);
    /* the period of the graphs in use: 1 static, 0 aperiodic (any), else the longest */
    int period = 1;
    for (size_t g = 0; g < ng && n > 0; g++) {
        const int p = mdl_topo_period (graphs[g], n);
        period = p == 0 || period == 0 ? 0 : p > period ? p : period;
    }
    mdl_agent_reserve_buffers (a, nin, period); /* before the rounds that keep them */
    pthread_mutex_lock (&a->stats_lock);
    a->stats.neighbours = ntalk;
    pthread_mutex_unlock (&a->stats_lock);
}

void
mdl_comm_publish_view (mdl_comm_t *self)
{
    mdl_agent_t *a = self->a;
    size_t n = mdl_peers_alive (self->peers, NULL, 0);
    if (n > MDL_AGENT_MAX_PEERS)
        n = MDL_AGENT_MAX_PEERS;
    if (s_reserve (self, n + 1)) {
        mdl_agent_log (a, "out of memory for a membership of %zu peers", n);
        return;
    }
    n = mdl_peers_alive (self->peers, self->view, n);
    /* A peer done with the run (its FIN said so): it stays a member (it may linger to
       serve snapshots, and --min-peers counts it) but no round waits for it or mixes it. */
    size_t alive = n, live = 0, fin = 0;
    pthread_mutex_lock (&a->view_lock);
    for (size_t i = 0; i < n; i++)
        if (!mdl_agent_is_done (a, self->view[i]))
            self->view[live++] = self->view[i];
        else
            a->view_fin[fin++] = self->view[i];
    a->view_fin_n = fin;
    pthread_mutex_unlock (&a->view_lock);
    n = live;
    /* insert self, keep ascending */
    size_t at = 0;
    while (at < n && self->view[at] < a->cfg.id)
        at++;
    memmove (self->view + at + 1, self->view + at, (n - at) * sizeof self->view[0]);
    self->view[at] = a->cfg.id;
    self->nview = n + 1;
    self->view_dirty = false;
    mdl_comm_follow (self, true);
    mdl_agent_view_set (a, self->view, self->nview);
    /* only now: --linger must not see a vanished peer back before it sees it in the view */
    for (size_t i = 0; i < self->nback; i++)
        mdl_agent_vanished (a, self->back[i], false);
    self->nback = 0;
    pthread_mutex_lock (&a->stats_lock);
    a->stats.peers_alive = alive;
    pthread_mutex_unlock (&a->stats_lock);
}

int
mdl_comm_transient_open (mdl_comm_t *self, mdl_transient_t purpose, const uint64_t *ids, size_t n)
{
    if ((int) purpose < 0 || purpose >= MDL_TRANSIENT_PURPOSES)
        return MDL_EINVAL;
    mdl_transient_set_t *t = &self->transient[purpose];
    if (ids && n > t->cap) {
        uint64_t *v = realloc (t->ids, n * sizeof *v);
        if (!v)
            return MDL_ENOMEM;
        t->ids = v;
        t->cap = n;
    }
    t->all = ids == NULL;
    t->n = ids ? n : 0;
    if (ids && n) {
        memcpy (t->ids, ids, n * sizeof *ids);
        qsort (t->ids, n, sizeof *ids, s_cmp_u64);
    }
    t->open = true;
    t->until = 0;
    s_reconcile (self);
    return 0;
}

void
mdl_comm_transient_close (mdl_comm_t *self, mdl_transient_t purpose, uint64_t below)
{
    if ((int) purpose < 0 || purpose >= MDL_TRANSIENT_PURPOSES)
        return;
    mdl_transient_set_t *t = &self->transient[purpose];
    if (!t->open)
        return;
    t->open = false;
    t->until = mdl_now () + S_TRANSIENT_LINGER;
    /* The states of a finished average are d floats per peer: given back now; what is
       left of a later round (a peer that started the next one) stays. */
    if (purpose == MDL_TRANSIENT_MERGE && self->a->merge_ch >= 0)
        for (size_t i = 0; i < self->nlinks; i++)
            mdl_mailroom_drop (self->a->room, self->links[i].id, self->a->merge_ch, below);
}

/* The worker moved to its next round: links kept for a departed peer's last state
   (mdl_comm_on_event) whose round has passed are released. */
void
mdl_comm_kept_tick (mdl_comm_t *self)
{
    const uint64_t round = atomic_load (&self->a->round);
    bool due = false;
    for (size_t i = 0; i < self->nlinks; i++)
        if (self->links[i].keep_below && round >= self->links[i].keep_below) {
            self->links[i].keep_below = 0;
            due = true;
        }
    if (due)
        s_reconcile (self);
}

/* comm.c's tick: transient peers whose linger ended are released. */
void
mdl_comm_transient_tick (mdl_comm_t *self, double now)
{
    bool due = false;
    for (int p = 0; p < MDL_TRANSIENT_PURPOSES; p++) {
        mdl_transient_set_t *t = &self->transient[p];
        if (!t->open && t->until > 0 && now >= t->until) {
            t->until = 0;
            due = true;
        }
    }
    if (due)
        s_reconcile (self);
}

void
mdl_comm_back (mdl_comm_t *self, const char *endpoint)
{
    const uint64_t h = mdl_cluster_hash (endpoint);
    for (size_t i = 0; i < self->nback; i++)
        if (self->back[i] == h)
            return;
    if (self->nback == sizeof self->back / sizeof self->back[0])
        memmove (self->back, self->back + 1, --self->nback * sizeof self->back[0]);
    self->back[self->nback++] = h;
    self->view_dirty = true;
}

/* The endpoint a leaving peer was known at: the connection it spoke on (a static
   endpoint is only that), else the one it announced, else its link's. */
static const char *
s_endpoint_of (const mdl_peer_event_t *ev, const mdl_link_t *l)
{
    if (l && l->via[0])
        return l->via;
    if (ev->info.endpoint[0])
        return ev->info.endpoint;
    return l ? l->endpoint : "";
}

void
mdl_comm_on_event (mdl_comm_t *self, const mdl_peer_event_t *ev)
{
    mdl_agent_t *a = self->a;
    char idb[17];
    const char *ids = mdl_id_str (ev->info.id, idb);
    mdl_link_t *l = mdl_comm_link (self, ev->info.id, false);
    if (ev->kind == MDL_PEER_JOIN || ev->kind == MDL_PEER_REJOIN || ev->kind == MDL_PEER_LEAVE)
        mdl_agent_peer_unfin (a, ev->info.id); /* back (a new life with a stable --name), or gone */
    if ((ev->kind == MDL_PEER_JOIN || ev->kind == MDL_PEER_REJOIN) && ev->info.endpoint[0])
        mdl_comm_back (self, ev->info.endpoint);
    switch (ev->kind) {
    case MDL_PEER_JOIN:
    case MDL_PEER_REJOIN:
        if (ev->kind == MDL_PEER_JOIN) {
            mdl_comm_count (self, &a->stats.peers_seen, 1);
            /* A newcomer hears everyone at their grown interval: announcing now (rate
               limited) lets it see the cluster within one base interval. */
            if (self->disc)
                mdl_discovery_announce_now (self->disc);
        }
        if (ev->kind == MDL_PEER_REJOIN)
            mdl_comm_count (self, &a->stats.readmissions, 1);
        if (l) {
            /* A restart: what we held of its previous life must not be mixed. */
            mdl_mailroom_clear (a->room, ev->info.id);
            for (int k = 0; k < MDL_AGENT_CHANNELS; k++)
                l->valid[k] = false;
            mdl_comm_drop_sent (l);
            mdl_comm_drop_parked (self, l);
            l->seq_from = 0;
            l->seq_valid = l->step_valid = false; /* a restart counts afresh */
            l->refused_run = l->claim_run = 0;
            l->claim = 0;
            l->keep_below = 0;
            l->seq_to = mdl_comm_seq_base ();
            if (l->connected && ev->info.endpoint[0] && strcmp (l->endpoint, ev->info.endpoint)) {
                mdl_mesh_disconnect (self->mesh, l->endpoint);
                l->connected = false; /* reconnected to the new endpoint below, if wanted */
            }
        }
        mdl_agent_log (a, "%s %s%s%s", ev->kind == MDL_PEER_JOIN ? "join" : "rejoin", ids,
                       ev->info.endpoint[0] ? " at " : "", ev->info.endpoint);
        break;
    case MDL_PEER_LEAVE:
        /* Its link, connection and mailbox go with the new view (it is no longer wanted),
           except, in sync mode, while a state it sent before its goodbye waits for the
           worker's round: the last round of an agent that finished first is still ours
           to mix (the view without it takes effect for the next rounds). */
        mdl_comm_boot_peer_gone (self, ev->info.id);
        if (l && self->bye)
            mdl_comm_keep_last_round (self, l);
        if (self->bye)
            mdl_agent_log (a, "leave %s (said goodbye)", ids);
        else if (self->leave_why)
            mdl_agent_log (a, "leave %s (%s)", ids, self->leave_why);
        else {
            mdl_agent_log (a, "leave %s (silent for %.1f s)", ids, a->cfg.peer_timeout);
            /* killed, frozen or cut off: it may come back (--linger) */
            mdl_agent_vanished (a, mdl_cluster_hash (s_endpoint_of (ev, l)), true);
        }
        break;
    default:
        return;
    }
    /* Published once the actor has handled what woke it: a burst of joins (a cluster
       starting, a discovery pass) costs one new view, not one per peer. */
    self->view_dirty = true;
}

void
mdl_comm_keep_last_round (mdl_comm_t *self, mdl_link_t *l)
{
    mdl_agent_t *a = self->a;
    if (a->cfg.mode != MDL_MODE_SYNC)
        return;
    const uint64_t round = atomic_load (&a->round);
    for (int ch = 0; ch < a->algo->channels && ch < MDL_AGENT_CHANNELS; ch++) {
        mdl_slot_meta_t m;
        if (mdl_mailroom_peek (a->room, l->id, ch, &m) && !m.lost && m.step >= round && m.step < MDL_MERGE_ROUND
            && m.step + 1 > l->keep_below)
            l->keep_below = m.step + 1;
    }
}

bool
mdl_comm_seen (mdl_comm_t *self, const mdl_peer_info_t *info)
{
    mdl_peer_event_t ev;
    /* CURVE: a peer whose key is not on the allow-list never joins. Admitted on its
       beacon, it would be dropped at the connect (we do not listen to it) and rejoin on
       the next beacon, again and again: a member for a moment each time, a neighbour a
       sync round may wait for, one more peer seen. A hello over the mesh comes through an
       authenticated connection, so this refuses beacons (and DNS or static entries) only. */
    if (self->a->cfg.curve && !mdl_mesh_allowed (self->mesh, info->pubkey)) {
        mdl_comm_reject (self, info->id, MDL_REJECT_KEY, "its key is not on the allow-list (--allow): not admitted");
        return false;
    }
    const double now = mdl_now ();
    if (self->a->cfg.curve) { /* only CURVE holds peers off (mdl_comm_refused) */
        const size_t k = s_key_hold_slot (self, info->id);
        if (self->key_hold[k].id == info->id && now < self->key_hold[k].until) {
            mdl_comm_reject (self, info->id, MDL_REJECT_KEY,
                             "it refuses our CURVE key (is this agent's public certificate in its --allow directory?)");
            return false;
        }
    }
    int rc = mdl_peers_seen (self->peers, info, now, &ev);
    /* a new id on probation, or one that joined: it needs our hellos to confirm us (never
       0 or our own id, which the table never holds: they would look new every time) */
    const bool other = info->id != 0 && info->id != self->a->cfg.id;
    if (rc == 0 && other
        && (ev.kind == MDL_PEER_JOIN || ev.kind == MDL_PEER_REJOIN || !mdl_peers_get (self->peers, info->id)))
        mdl_comm_settling (self, now, MDL_SETTLE_EVENT);
    if (rc == 0 && ev.kind != MDL_PEER_NONE) {
        mdl_comm_on_event (self, &ev);
        return ev.kind == MDL_PEER_JOIN || ev.kind == MDL_PEER_REJOIN;
    }
    else if (rc == MDL_ERATE)
        mdl_comm_reject (self, info->id, MDL_REJECT_JOIN_RATE, "more new peers than the join budget allows");
    else if (rc == MDL_EBACKOFF)
        mdl_comm_reject (self, info->id, MDL_REJECT_REJOIN, "it left and rejoined too often; back soon");
    else if (rc)
        mdl_comm_reject (self, info->id, MDL_REJECT_PEERS_FULL, "the peer table is full of live peers");
    return false;
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
    const bool joined = mdl_comm_seen (self, &info);
    mdl_peers_touch (self->peers, info.id, info.incarnation, mdl_now ());
    /* The connection its hellos come on is one it speaks on: a member that only announces
       itself (no state yet, or never: the flood tool's second identity) is known by it
       too, so that a suspension of that connection ends the rounds waiting for it
       (s_peer_suspended, comm_recv.c) instead of holding them until it goes dead. A link
       is made for a peer that just joined (the next reconcile releases it if it is not
       a neighbour); a hello that admits nobody (fresh ids on probation) makes none. */
    const char *via = self->from_mesh ? mdl_mesh_last_endpoint (self->mesh) : NULL;
    mdl_link_t *l = via ? mdl_comm_link (self, info.id, joined) : NULL;
    if (l && strcmp (via, l->via))
        snprintf (l->via, sizeof l->via, "%s", via);
    if (joined && via)
        mdl_comm_back (self, via); /* a restart where one vanished: it is back */
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
