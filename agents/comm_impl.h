/*  comm_impl.h: the comm actor's state, shared by its three files only:
      comm.c        the actor: sockets, the worker's sends, delay injection, the tick
      comm_peers.c  membership: hellos, goodbyes, silences, links, the view
      comm_recv.c   the receive path of updates: validate, park, control, file, replicas
    Everything here runs on the comm actor's thread. */
#ifndef MDL_COMM_IMPL_H
#define MDL_COMM_IMPL_H

#include <czmq.h>

#include "agent_impl.h"
#include "codec.h"
#include "discovery.h"
#include "mesh.h"
#include "peers.h"
#include "rng.h"
#include "wire.h"

#define MDL_TICK_MS 20 /* the timer of a process with few agents (comm.c) */

struct mdl_delayed;

/* Per-peer link state. */
typedef struct {
    uint64_t id;
    uint64_t seq_to;           /* last sequence number sent to this peer */
    uint64_t seq_from;         /* last sequence number received from it */
    bool connected;            /* we SUB-connected its endpoint (by id, not static) */
    double connected_at;       /* when (mdl_now): a peer is only "mute" after that */
    char endpoint[MDL_ENDPOINT_MAX];
    float *replica[MDL_AGENT_CHANNELS];/* its public copy, when it publishes deltas */
    bool valid[MDL_AGENT_CHANNELS];
    double resync_at;          /* last resync request (rate limit) */
    struct mdl_delayed *parked;  /* sync mode: messages for rounds the worker cannot take yet */
    size_t nparked;
} mdl_link_t;

/* A message held back: by the delay injection, or parked (sync mode) until the
   worker reaches its round. */
typedef struct mdl_delayed {
    double due;
    uint64_t step;
    size_t n;
    size_t lens[3];
    unsigned char *buf;        /* frames back to back */
    struct mdl_delayed *next;
} mdl_delayed_t;

/* A transient purpose (agent_impl.h): peers beyond the neighbourhood, for a while. */
typedef struct {
    bool open;
    bool all;                  /* every live peer */
    uint64_t *ids;             /* or these (sorted) */
    size_t n, cap;
    double until;              /* closed: released at this time (a short linger, so that
                                  back-to-back global averages do not reconnect) */
} mdl_transient_set_t;

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
    mdl_link_t links[MDL_AGENT_MAX_PEERS]; /* the talk set and transient peers (hood.h) */
    size_t nlinks;
    /* membership and neighbourhood: the view (sorted live ids and self), and the ids of
       the talk set and of the in-neighbours (hood.h), computed from it */
    uint64_t *view, *talk, *in;
    uint32_t *idx_in, *idx_talk;
    uint8_t *mark;
    size_t nview, ntalk, nin, caphood;
    uint64_t hood_window;      /* mdl_hood_window of the last computation */
    size_t hood_graphs;        /* how many graphs (mdl_agent_graphs) it covered */
    uint64_t hood_round;       /* the training round it was computed at */
    mdl_transient_set_t transient[MDL_TRANSIENT_PURPOSES];
    double next_expire;        /* silences are checked at this pace (mdl_peers_expire) */
    double next_mute;          /* ... and mute peers at this one */
    double tick_s;             /* the timer's period now */
    double hello_scale;        /* hellos this many times less often (a large cluster) */
    bool view_dirty;           /* the peer table changed: publish the view */
    bool connected;            /* a SUB connection was made since the last wait */
    bool from_mesh;            /* the message being dispatched is the mesh's last received
                                  (its frames can be held), not a copy (delayed, parked) */
    mdl_rng_t rng;             /* drop injection */
    mdl_delayed_t *delayed;      /* sorted by due */
    double next_hello;
    uint64_t seen_total;
    bool stopping;
    bool bye;                  /* the LEAVE being handled is a goodbye, not a silence */
} mdl_comm_t;

/* comm.c */
/* The link of peer id; created when create and there is room, else NULL. */
mdl_link_t *mdl_comm_link (mdl_comm_t *self, uint64_t id, bool create);
/* Adds n to one of the agent's counters (under its lock). */
void mdl_comm_count (mdl_comm_t *self, uint64_t *field, uint64_t n);
void mdl_comm_drop_parked (mdl_link_t *l);
/* Sends a control message (no payload) of kind for round step to peer. */
void mdl_comm_send_control (mdl_comm_t *self, uint64_t peer, uint32_t kind, uint64_t step);
/* A copy of up to three frames (NULL when out of memory); mdl_comm_frames points
   frames[] into it. */
mdl_delayed_t *mdl_comm_copy_msg (const void **frames, const size_t *lens, size_t n);
void mdl_comm_frames (mdl_delayed_t *m, const void **frames);

/* comm_peers.c */
/* A peer table event (join, rejoin, leave): links, mailboxes, mesh connections, view. */
void mdl_comm_on_event (mdl_comm_t *self, const mdl_peer_event_t *ev);
/* A peer announced itself (beacon, hello). */
void mdl_comm_seen (mdl_comm_t *self, const mdl_peer_info_t *info);
void mdl_comm_on_hello (mdl_comm_t *self, const void **frames, const size_t *lens, size_t n);
void mdl_comm_on_bye (mdl_comm_t *self, const void **frames, const size_t *lens, size_t n);
/* Publishes the live peers (and self) as the worker's membership view, after opening
   what the new neighbourhood needs and releasing what it no longer does. */
void mdl_comm_publish_view (mdl_comm_t *self);
/* Re-derives the neighbourhood when the round moved it (aperiodic graphs, a coming
   --dense-window) or a transient purpose changed; cheap when nothing did. */
void mdl_comm_follow (mdl_comm_t *self, bool force);
/* Opens purpose for the given peers (ids NULL: every live peer, now and joining);
   reopening replaces the set. Returns 0 or MDL_ENOMEM. */
int mdl_comm_transient_open (mdl_comm_t *self, mdl_transient_t purpose, const uint64_t *ids, size_t n);
/* Closes purpose: with MDL_TRANSIENT_MERGE the merge channel's vectors of rounds below
   `below` are given back at once; the links and connections after a short linger. */
void mdl_comm_transient_close (mdl_comm_t *self, mdl_transient_t purpose, uint64_t below);
/* Releases the transient peers whose linger ended (comm.c's tick). */
void mdl_comm_transient_tick (mdl_comm_t *self, double now);
/* Whether id is in the talk set or open for a transient purpose. */
bool mdl_comm_wanted (const mdl_comm_t *self, uint64_t id);

/* comm_recv.c */
/* One message from the SUB socket (hello, goodbye or update). */
void mdl_comm_dispatch (mdl_comm_t *self, const void **frames, const size_t *lens, size_t n);
/* Files parked messages whose round the worker has reached. */
void mdl_comm_unpark (mdl_comm_t *self);

#endif
