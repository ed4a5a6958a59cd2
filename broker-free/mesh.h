/*  mesh.h: one agent's sockets: a PUB it binds, a SUB it connects to each live peer.

    Frames are opaque bytes here (the update format lives in compress/, above which
    broker-free does not reach). Topics, by their first byte:
      "B"        goodbye: the same announcement, sent once by an agent that leaves
      "H"        hello: the MDL_HELLO_SIZE announcement of peer.h, published every
                 heartbeat, so peers found by static lists or whose beacons are lost
                 still learn who is behind an endpoint and that it is alive
      "U"        broadcast update
      "T<hex16>" update for one recipient: SUB subscribes to its own "T<self>" only, so
                 filtering happens at the publisher (ZeroMQ >= 3 filters PUB-side)
    High-water marks are set on both sockets (cfg): a slow or dead subscriber makes the
    publisher drop, never grow its memory without bound.

    Security (cfg.curve): the PUB is a CURVE server authenticated by zauth against an
    allow-list directory of public certificates; the SUB is a CURVE client using the
    agent's own certificate and, per peer, the peer's public key from its announcement.
    A peer whose key is not on the allow-list is neither connected to (we do not hear it)
    nor admitted by zauth (it does not hear us); both are logged by the caller. */
#ifndef MDL_MESH_H
#define MDL_MESH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peer.h"

typedef struct {
    const char *bind;      /* PUB endpoint: "tcp://0.0.0.0:0" (all interfaces, ephemeral
                              port), "tcp://10.0.0.2:5680", "inproc://name" */
    int sndhwm, rcvhwm;    /* messages; 0 = defaults (100 / 1000), or from hwm_bytes */
    int64_t hwm_bytes;     /* bytes one queue may hold (a subscriber's queue in the PUB, the
                              SUB's): with msg_bytes, the HWMs become
                              mdl_mesh_hwm (hwm_bytes, msg_bytes, default) messages. ZeroMQ
                              counts messages, and 100 queued 80 MB models are 8 GB. 0 = off */
    int64_t msg_bytes;     /* the largest message this mesh carries (a model's fp32 frame) */
    int send_wait_ms;      /* at a subscriber's full queue, wait up to this long for room
                              before dropping for it (0: drop at once, never block).
                              Bounded back-pressure: a slow reader gets a grace period,
                              one that never reads costs one wait per overflow.
                              ZeroMQ reports room in steps of half the sndhwm (50
                              messages: 200 MB of 4 MB messages, ~100 ms at 2 GB/s),
                              so with large messages a short wait drops for a reader
                              that reads at full speed, and until that reader has
                              drained those 50 messages, sends skip it and return at
                              once: a sender in a tight loop then spins (see
                              bench/README.md). A wait longer than one step gives
                              PUSH-like back-pressure and raw ZeroMQ's throughput */
    int64_t max_frame;     /* largest frame the SUB accepts, bytes (ZMQ_MAXMSGSIZE: a peer
                              sending more is disconnected); 0 = no limit */
    uint64_t self;         /* own id: subscribes to "T<self>" */
    bool ipv6;             /* IPv6 too: tcp://HOST:P with HOST "*" binds both families (where the host has
                              IPv6), and tcp://[ADDR]:P endpoints can be connected */
    bool curve;            /* CURVE security on */
    const char *cert;      /* curve: path of the agent's secret certificate (zcert format,
                              written by meshdl keygen) */
    const char *allow_dir; /* curve: directory of allowed public certificates */
    bool per_link;         /* without curve: each connection gets its own SUB (up to 32 a
                              mesh, 256 a process; the rest share one), so that what comes
                              in is known by connection and mdl_mesh_blame can suspend
                              one; poll mdl_mesh_fd then, not mdl_mesh_sub_socket */
} mdl_mesh_cfg_t;

typedef struct {
    uint64_t sent, received;            /* messages */
    uint64_t bytes_sent, bytes_received;/* all frames */
    uint64_t send_dropped;              /* overflows: times a subscriber's queue hit the HWM
                                           (it then misses messages, silently, until it
                                           catches up: per-message loss is seen by the
                                           receiver as sequence gaps) */
    uint64_t refused_keys;              /* connects refused: key not allowed */
    uint64_t auth_denied;               /* CURVE: handshakes our PUB refused (zauth) */
    uint64_t auth_failed;               /* CURVE: handshakes of our SUB a peer refused */
    uint64_t recv_truncated;            /* messages with more frames than asked for */
    uint64_t connections;               /* SUB connections open now (peers and static
                                           endpoints) */
    uint64_t suspensions;               /* connections suspended by mdl_mesh_blame */
    uint64_t suspended;                 /* ... of which suspended now */
} mdl_mesh_stats_t;

typedef struct mdl_mesh_t mdl_mesh_t;

/* Binds the PUB and creates the SUB (subscribed to "H", "U", "T<self>"). NULL + *err:
   MDL_ESOCKET (bind failed), MDL_ESECURITY (certificate or allow-list unreadable),
   MDL_ENOMEM. Must be used by one thread only (the comm actor). */
mdl_mesh_t *mdl_mesh_new (const mdl_mesh_cfg_t *cfg, int *err);
void mdl_mesh_destroy (mdl_mesh_t **self);

/* A high-water mark in messages for a byte budget: budget / msg_bytes messages, at
   least 2 (one being read, one queued: a smaller queue stalls every send on the reader)
   and at most dflt (small messages keep the message-count defaults). budget or msg_bytes
   <= 0: dflt. */
int mdl_mesh_hwm (int64_t budget, int64_t msg_bytes, int dflt);

/* The bound PUB endpoint with its resolved port (e.g. "tcp://0.0.0.0:41234"), the
   port (0 for non-TCP), and the Z85 public key ("" without CURVE). */
const char *mdl_mesh_endpoint (const mdl_mesh_t *self);
uint16_t mdl_mesh_port (const mdl_mesh_t *self);
const char *mdl_mesh_pubkey (const mdl_mesh_t *self);

/* True when security is off, or pubkey is on the allow-list. */
bool mdl_mesh_allowed (const mdl_mesh_t *self, const char *pubkey);

/* SUB-connects to peer->endpoint (with CURVE: to peer->pubkey as server key). Returns 0,
   MDL_ESECURITY (key not allowed: not connected, counted), MDL_ESOCKET. Connecting an
   endpoint twice is a no-op. */
int mdl_mesh_connect (mdl_mesh_t *self, const mdl_peer_info_t *peer);

/* SUB-disconnects from endpoint (no-op when not connected). */
int mdl_mesh_disconnect (mdl_mesh_t *self, const char *endpoint);

/* The SUB socket, to poll (a zsock_t *). */
void *mdl_mesh_sub_socket (mdl_mesh_t *self);
/* A file descriptor to poll(2) for POLLIN: readable when a SUB may have something to
   receive (ZeroMQ's ZMQ_FD semantics: receive until mdl_mesh_recv says nothing is
   waiting before sleeping on it again). With cfg.per_link an epoll set of every SUB. */
int mdl_mesh_fd (mdl_mesh_t *self);
/* The message last received is one no honest peer sends (the caller's judgement: one
   whose own bytes are wrong, not one refused for what others said before it): blames
   the connection it came from, when that connection has its own SUB (cfg.per_link).
   32 blames within a second suspend the connection: disconnected (what it sends is no
   longer read, nor its bytes received), dialled again after 5 s, then 10, 20, 40, 80 s
   for a connection suspended again (the back-off is forgiven after 300 s). Endpoints
   are our own connects, so another connection's lies cannot be blamed on this one.
   Returns the endpoint just suspended (*seconds: for how long), else NULL. */
const char *mdl_mesh_blame (mdl_mesh_t *self, double *seconds);
/* The endpoint of the connection the last received message came on, or NULL (the
   shared SUB: not known). */
const char *mdl_mesh_last_endpoint (const mdl_mesh_t *self);
/* True while the connection to endpoint is suspended (mdl_mesh_blame). */
bool mdl_mesh_suspended (const mdl_mesh_t *self, const char *endpoint);

/* Publishes a hello, two frames ["H", announcement of info for cluster]. Never blocks.
   Call it every heartbeat: it is what keeps a peer alive on the mesh (mdl_peers_touch). */
int mdl_mesh_hello (mdl_mesh_t *self, const mdl_peer_info_t *info, uint64_t cluster);

/* How many subscribers connected to our PUB since the last call (each one's own topic
   "T<id>" subscribed). Every send takes in the subscribers connected so far (so that a
   message reaches each one that connected before it was sent) and counts them for this
   call. Call it from the thread that uses the mesh, now and then (the comm actor: every
   tick). */
size_t mdl_mesh_new_subscribers (mdl_mesh_t *self);

/* Publishes a goodbye, ["B", announcement]: peers mark this agent dead at once instead
   of after their silence timeout. Call it once before destroying the mesh, which then
   lingers up to 200 ms to deliver it. */
int mdl_mesh_bye (mdl_mesh_t *self, const mdl_peer_info_t *info, uint64_t cluster);

/* Publishes one message of three frames [topic, header, payload]: topic and header are
   copied; the payload is zero-copy (ownership passes to ZeroMQ, which calls
   free_fn (payload, hint) when done, possibly from its I/O thread; free_fn may be NULL
   for memory the caller keeps alive; on error free_fn is called before return). Never
   blocks longer than cfg.send_wait_ms: a subscriber whose queue is still at the HWM then
   misses this message (the others still get it); when that starts, it is counted in
   send_dropped and MDL_ETIMEOUT returned (not an error: nothing to resend). A subscriber
   whose connection reached our PUB before the call gets the message (inproc: one that
   connected before; tcp: once its handshake is done). Returns 0, MDL_ETIMEOUT, MDL_EINVAL
   (empty topic) or MDL_ESOCKET. */
int mdl_mesh_send (mdl_mesh_t *self, const void *topic, size_t topic_len, const void *header,
                   size_t header_len, void *payload, size_t payload_len,
                   void (*free_fn) (void *data, void *hint), void *hint);

/* Receives one message if one is waiting (non-blocking; with cfg.per_link from each SUB
   in turn, so a connection that floods gets its share, not the others'): frames[i]/lens[i] point into a
   message held by the mesh until the next recv; *n is the frame count (up to cap; extra
   frames are counted in *n but not returned). Returns 0, or MDL_ETIMEOUT when nothing
   is waiting. */
int mdl_mesh_recv (mdl_mesh_t *self, const void **frames, size_t *lens, size_t cap, size_t *n);

/* Keeps frame i of the message last received (zero-copy: the frame's buffer, which for
   inproc is the sender's own) past the next recv: returns a reference to give back
   with mdl_mesh_release, from any thread, and the frame's bytes, which may have moved,
   in *data. NULL when i is not a frame of that message or out of memory. */
void *mdl_mesh_hold (mdl_mesh_t *self, size_t i, const void **data);

/* Gives back a reference of mdl_mesh_hold (NULL is a no-op). Thread-safe. */
void mdl_mesh_release (void *ref);

void mdl_mesh_stats (const mdl_mesh_t *self, mdl_mesh_stats_t *stats);

/* Writes the targeted topic of recipient, "T" + 16 hex digits, into buf (>= 18 bytes)
   and returns its length (17). */
size_t mdl_mesh_topic (uint64_t recipient, char *buf);

/* CURVE: drains the sockets' monitor events into stats.auth_denied (a key not on our
   allow-list tried to subscribe to us) and stats.auth_failed (a peer refused our key:
   we hear nothing from it). Call it on the heartbeat timer and log when the counters
   grow. Returns the number of new events (0 without CURVE). */
size_t mdl_mesh_check_auth (mdl_mesh_t *self);

/* The endpoints whose CURVE servers refused our key (our SUB's failed handshakes), as
   drained by mdl_mesh_check_auth since the last call: copies up to cap of them (at most
   MDL_MESH_REFUSED_MAX are kept between calls) and forgets them. The caller stops
   counting on those peers: nothing will arrive from them. */
#define MDL_MESH_REFUSED_MAX 16
size_t mdl_mesh_refused (mdl_mesh_t *self, char (*endpoints)[MDL_ENDPOINT_MAX], size_t cap);

#endif
