/*  peers.h: the peer table: who is alive, as seen by one agent.

    A peer joins on its first announcement (or hello, or update), stays alive while
    announcements or messages keep arriving, and is declared dead after timeout seconds
    of silence. A known id with a new incarnation is a restart: a REJOIN, not a second
    peer. Pure bookkeeping (no sockets, no clock of its own: callers pass now), so it is
    tested deterministically. */
#ifndef MDL_PEERS_H
#define MDL_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peer.h"

typedef enum {
    MDL_PEER_NONE = 0,   /* nothing changed (already alive) */
    MDL_PEER_JOIN = 1,   /* new peer */
    MDL_PEER_REJOIN = 2, /* known id, dead or new incarnation: back */
    MDL_PEER_LEAVE = 3,  /* silent past the timeout */
} mdl_peer_event_kind_t;

typedef struct {
    mdl_peer_event_kind_t kind;
    mdl_peer_info_t info;
    uint64_t old_incarnation; /* REJOIN: the incarnation before */
} mdl_peer_event_t;

typedef struct mdl_peers_t mdl_peers_t;

/* A table for agent self with the given silence timeout (seconds, > 0) and capacity.
   NULL + *err. Caller owns and destroys it. */
mdl_peers_t *mdl_peers_new (uint64_t self, double timeout, size_t capacity, int *err);
void mdl_peers_destroy (mdl_peers_t **self);

/* Limits against a flood of identities (all off after mdl_peers_new):
   - confirm > 0: an id never seen before joins only when it is announced again at least
     confirm seconds after its first announcement; until then it waits in a small
     probation list (MDL_PEERS_PENDING ids; a newer one evicts the oldest), so a stream
     of fresh ids, each announced once, never joins and costs no memory;
   - rate > 0: joins and rejoins spend from a bucket of burst tokens refilled at rate
     per second; without a token the announcement is refused (MDL_ERATE).
   A full table evicts its longest-dead record (dead records are only kept to recognise
   a rejoin); only a table full of live peers refuses (MDL_ENOMEM). */
#define MDL_PEERS_PENDING 64
void mdl_peers_limits (mdl_peers_t *self, double confirm, double burst, double rate);

/* Rejoin back-off against one identity's churn (a peer that says goodbye and comes back
   with a new incarnation, again and again; off after mdl_peers_new): a known id may
   rejoin at once after a quiet time, but a rejoin that follows the last join or rejoin
   within 2 * wait + max seconds makes the next one wait: MDL_PEERS_HOLD_MIN seconds,
   doubling with each such rejoin, at most max. Until then its announcements are
   refused (MDL_EBACKOFF) and it stays as it was. So a churning peer costs at most one
   rejoin (and one log line) per max seconds, and leaves the join budget to others. */
#define MDL_PEERS_HOLD_MIN 0.5
void mdl_peers_backoff (mdl_peers_t *self, double max);
/* Sets the silence timeout (seconds, > 0): discovery that announces less often in a
   large cluster (mdl_discovery_pace) needs a longer one. */
void mdl_peers_set_timeout (mdl_peers_t *self, double timeout);

/* Records an announcement from info->id at time now. Returns the event (JOIN, REJOIN or
   NONE) in *ev; ignores self and id 0 (NONE). Returns 0 (NONE while the id is on
   probation), MDL_ERATE (over the join budget: nothing recorded), MDL_EBACKOFF (a
   rejoin within its back-off: nothing recorded) or MDL_ENOMEM (table full of live
   peers). An announcement without an endpoint (a hello heard over the
   mesh) does not erase a known endpoint; a REJOIN's ev->info.endpoint is the new one
   (the mesh disconnects the old endpoint of the same id by itself, see
   mdl_mesh_connect). */
int mdl_peers_seen (mdl_peers_t *self, const mdl_peer_info_t *info, double now,
                    mdl_peer_event_t *ev);

/* A message from id (with its incarnation; 0 matches any) arrived at now over the
   mesh: keeps a live peer alive and marks it heard (see mdl_peers_mute). An unknown or
   dead id, or another incarnation, is not joined here (no endpoint to connect to);
   returns false then, so the caller can count it. A hello heard over the mesh goes to
   mdl_peers_seen and then here. */
bool mdl_peers_touch (mdl_peers_t *self, uint64_t id, uint64_t incarnation, double now);

/* Declares peers silent for longer than the timeout dead: writes up to cap LEAVE
   events and returns how many. */
size_t mdl_peers_expire (mdl_peers_t *self, double now, mdl_peer_event_t *ev, size_t cap);

/* Live peers that keep announcing but from which nothing has arrived over the mesh
   (mdl_peers_touch) for longer than the timeout since they joined or were last heard:
   nothing listens at the advertised port, or their PUB refuses our key. Each such peer
   is reported once per silence: writes up to cap ids and returns how many. They stay
   alive (the caller logs and counts them; whether to average with them is its choice). */
size_t mdl_peers_mute (mdl_peers_t *self, double now, uint64_t *ids, size_t cap);

/* Marks id dead now because it said goodbye; returns true if it was alive. Hellos of
   the same incarnation that arrive later (sent before the goodbye) do not readmit it;
   only a new incarnation (a restart) does. */
bool mdl_peers_remove (mdl_peers_t *self, uint64_t id, mdl_peer_event_t *ev);

/* Marks id dead now although it keeps announcing itself: we cannot hear it over the mesh
   (mdl_peers_mute: nothing listens at its port, or a CURVE handshake with it fails) or
   may not listen to it (its key is not on our allow-list). Unlike a goodbye, its next
   announcement rejoins it, within the rejoin back-off (mdl_peers_backoff), so a peer
   that stays unreachable comes and goes at a falling rate. Returns true if it was alive. */
bool mdl_peers_drop (mdl_peers_t *self, uint64_t id, mdl_peer_event_t *ev);

/* We started listening to id over the mesh now (its connection is new): the time it has
   to be heard before mdl_peers_mute reports it starts now. */
void mdl_peers_listening (mdl_peers_t *self, uint64_t id, double now);

/* Ids of live peers, ascending (at most cap); returns how many are alive (which may
   exceed cap). */
size_t mdl_peers_alive (const mdl_peers_t *self, uint64_t *ids, size_t cap);

/* The record of id (alive or dead), or NULL. Valid until the next call on self. */
const mdl_peer_info_t *mdl_peers_get (mdl_peers_t *self, uint64_t id);
bool mdl_peers_is_alive (const mdl_peers_t *self, uint64_t id);

#endif
