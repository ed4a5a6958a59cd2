/*  mesh.c: one agent's PUB and SUB sockets (see mesh.h).

    Overflows are counted at the publisher with ZMQ_XPUB_NODROP: with it set, a send
    returns EAGAIN when a matching subscriber's queue is at the HWM (a plain PUB drops
    silently and we could not count). We then clear the option and send again, so the
    subscribers with room still get the message and only the full one misses it; the
    option is set back after the message. ZeroMQ then deactivates the full pipe until
    its reader catches up, skipping it silently meanwhile, so what is counted is one
    overflow per episode, not each missed message (the receiver sees those as sequence
    gaps). Cost: nothing on the normal path, two setsockopts per overflow.

    CURVE: zauth is a ZAP handler for the whole ZeroMQ context (all sockets of the
    process), so one zauth actor is shared, reference-counted, by every mesh of the
    process; they must all use the same allow-list directory (one process = one agent
    on a LAN, or one simulated cluster). */
#include "mesh.h"

#include "err.h"
#include "keys.h"

#include <czmq.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <poll.h>
#include <unistd.h>

#define S_SNDHWM 100
#define S_RCVHWM 1000
#define S_MAX_FRAMES 8 /* frames of a received message the mesh holds */

/* cfg.per_link: a SUB per connection, so that a message is known by the connection it
   came from. Bounded: ZeroMQ's default is 1024 sockets a process, and `sim` runs many
   agents in one. */
#define S_LINK_SUBS 32
#define S_LINK_SUBS_ALL 256
/* mdl_mesh_blame: S_STRIKES blames within S_STRIKE_S seconds suspend a connection for
   S_SUSPEND_S seconds, doubled at each suspension up to S_SUSPEND_MAX_S, forgiven after
   S_FORGIVE_S seconds without one. The first suspension outlasts the default peer
   timeout (3 s): the liar's hellos stop with its bytes, it goes dead, and rounds stop
   waiting for it. The table remembers S_PENALTIES endpoints (the oldest goes). */
#define S_STRIKES 32
#define S_STRIKE_S 1.0
#define S_SUSPEND_S 5.0
#define S_SUSPEND_MAX_S 80.0
#define S_FORGIVE_S 300.0
#define S_PENALTIES 32

static atomic_int s_link_subs; /* own SUBs of every mesh of the process */

typedef struct {
    char endpoint[MDL_ENDPOINT_MAX];
    uint64_t id;      /* 0: static endpoint, owner unknown */
    zsock_t *sub;     /* its own SUB (cfg.per_link), or NULL: the shared one */
    bool suspended;   /* disconnected by mdl_mesh_blame until resume_at */
    double resume_at;
} s_conn_t;

/* What an endpoint did, kept across disconnects (a peer that goes dead is disconnected
   and connected again when it comes back: the back-off must survive that). */
typedef struct {
    char endpoint[MDL_ENDPOINT_MAX]; /* "": free */
    unsigned strikes, suspensions;
    double window, until; /* strikes counted since window; suspended until */
} s_penalty_t;

struct mdl_mesh_t {
    zsock_t *pub, *sub;
    zsock_t *mon_pub, *mon_sub; /* CURVE: monitor pipes of pub and sub */
    char refused[MDL_MESH_REFUSED_MAX][MDL_ENDPOINT_MAX]; /* endpoints that refused our key */
    size_t nrefused;
    zcert_t *cert;
    zcertstore_t *allow;
    bool curve;
    bool auth_ref;              /* holds a reference on the shared zauth */
    bool nodrop;                /* ZMQ_XPUB_NODROP currently set on pub */
    int send_wait_ms;
    uint64_t self;
    char endpoint[MDL_ENDPOINT_MAX];
    uint16_t port;
    char pubkey[MDL_PUBKEY_LEN + 1];
    s_conn_t *conns;
    size_t nconns, capconns;
    zmq_msg_t held[S_MAX_FRAMES]; /* the last received message */
    size_t nheld;
    mdl_mesh_stats_t stats;
    /* cfg.per_link */
    bool per_link;
    int epfd;            /* epoll set of every SUB's ZMQ_FD, or -1 */
    int rcvhwm, max_frame;
    bool ipv6;
    size_t nlink;        /* own SUBs */
    long last;           /* the connection of the last received message, -1: the shared SUB */
    size_t rr;           /* where the next receive starts looking (round robin) */
    size_t nsuspended;
    size_t new_subs;     /* subscribers taken in since mdl_mesh_new_subscribers (s_attach) */
    s_penalty_t pen[S_PENALTIES];
};

static double
s_now (void)
{
    return (double) zclock_usecs () / 1e6;
}

static pthread_mutex_t s_auth_lock = PTHREAD_MUTEX_INITIALIZER;
static zactor_t *s_auth;
static int s_auth_refs;
static char s_auth_dir[PATH_MAX];

/* Takes a reference on the process's zauth, starting it on first use. Returns 0 or
   MDL_ESECURITY (another mesh of this process uses another allow-list). */
static int
s_auth_acquire (const char *dir)
{
    int rc = 0;
    pthread_mutex_lock (&s_auth_lock);
    if (s_auth_refs == 0) {
        s_auth = zactor_new (zauth, NULL);
        if (!s_auth) {
            rc = MDL_ESECURITY;
            goto out;
        }
        zstr_sendx (s_auth, "CURVE", dir, NULL);
        zsock_wait (s_auth);
        snprintf (s_auth_dir, sizeof s_auth_dir, "%s", dir);
    }
    else if (strcmp (s_auth_dir, dir) != 0) {
        rc = MDL_ESECURITY;
        goto out;
    }
    s_auth_refs++;
out:
    pthread_mutex_unlock (&s_auth_lock);
    return rc;
}

static void
s_auth_release (void)
{
    pthread_mutex_lock (&s_auth_lock);
    if (--s_auth_refs == 0)
        zactor_destroy (&s_auth);
    pthread_mutex_unlock (&s_auth_lock);
}

/* Starts a monitor of sock's CURVE handshake failures; returns the PAIR to read. */
static zsock_t *
s_monitor (mdl_mesh_t *self, zsock_t *sock, const char *what)
{
    char ep[128];
    snprintf (ep, sizeof ep, "inproc://mdl-mon-%s-%p", what, (void *) self);
    if (zmq_socket_monitor (zsock_resolve (sock), ep, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0)
        return NULL;
    zsock_t *pair = zsock_new (ZMQ_PAIR);
    if (pair && zsock_connect (pair, "%s", ep) != 0)
        zsock_destroy (&pair);
    return pair;
}

static void
s_set_nodrop (mdl_mesh_t *self, bool on)
{
    int v = on ? 1 : 0;
    zmq_setsockopt (zsock_resolve (self->pub), ZMQ_XPUB_NODROP, &v, sizeof v);
    self->nodrop = on;
}

/* Connections that die without a word (a partition, a vanished host) are dropped by the
   kernel and dialled again, instead of lingering for TCP's timeouts of many minutes: TCP
   keepalive probes a connection idle for S_KEEPALIVE_S, every S_KEEPALIVE_S, and
   TCP_USER_TIMEOUT (ZMQ_TCP_MAXRT) drops it when probes or data stay unanswered for the
   dead time, S_DEAD_MS (a receiver that is alive but slow answers with a zero window and is
   kept). The publisher then frees what it queued for that subscriber, and the subscriber
   dials again. A dial gives up after S_CONNECT_MS and is retried (every
   S_RECONNECT_MAX_MS), so a link that heals carries traffic again within about
   S_CONNECT_MS. A frozen process keeps its connections (its kernel answers for it): what
   is sent to it waits in its queue, bounded by the HWMs in bytes, and it reads on when it
   resumes; the peer table declares it gone meanwhile and admits it again when it speaks.
   Not ZMTP heartbeats (ZMQ_HEARTBEAT_IVL), which this mesh used before: libzmq 4.3.4 aborts
   the process (stream_engine_base.cpp:331, "!_io_error"; zeromq/libzmq#4364) when the ping
   timer fires on a connection whose peer hung up while its input was stopped. Input stops
   on every connection of a socket being closed or disconnected that still has messages
   arriving, and on one whose receive queue is full; the peer closing its end and the next
   ping drawing a reset mark the connection broken without closing it, and the ping after
   that asserts. 64 processes leaving together lost one of them that way in about every
   other run (bench/scale.sh), with the pings on the SUBs and, less often, on the PUB.
   A refused dial (the peer's PUB not bound yet: processes started together) is retried
   after S_RECONNECT_MS, doubling up to S_RECONNECT_MAX_MS: ZeroMQ's default, 100 ms plus
   up to 100 ms of jitter from the first retry on, made a cluster started together meet
   0.1-0.2 s later than its last process was up (bench/proc4.sh). The first retries come
   within 10, 30, 70 and 150 ms; after that a peer that is not there is dialled every
   200-210 ms, a little less often than before (100-200 ms): 64 processes started
   together with static lists dial 63 endpoints each while they come up. */
#define S_KEEPALIVE_S 1
#define S_DEAD_MS 5000
#define S_CONNECT_MS 2000
#define S_RECONNECT_MS 10
#define S_RECONNECT_MAX_MS 200

static void
s_set_liveness (zsock_t *sock, bool sub)
{
    void *s = zsock_resolve (sock);
    const int on = 1, idle = S_KEEPALIVE_S, dead = S_DEAD_MS, probes = S_DEAD_MS / 1000 / S_KEEPALIVE_S;
    zmq_setsockopt (s, ZMQ_TCP_KEEPALIVE, &on, sizeof on);
    zmq_setsockopt (s, ZMQ_TCP_KEEPALIVE_IDLE, &idle, sizeof idle);
    zmq_setsockopt (s, ZMQ_TCP_KEEPALIVE_INTVL, &idle, sizeof idle);
    zmq_setsockopt (s, ZMQ_TCP_KEEPALIVE_CNT, &probes, sizeof probes);
    zmq_setsockopt (s, ZMQ_TCP_MAXRT, &dead, sizeof dead);
    if (sub) {
        const int dial = S_CONNECT_MS, retry = S_RECONNECT_MS, retry_max = S_RECONNECT_MAX_MS;
        zmq_setsockopt (s, ZMQ_CONNECT_TIMEOUT, &dial, sizeof dial);
        zmq_setsockopt (s, ZMQ_RECONNECT_IVL, &retry, sizeof retry);
        zmq_setsockopt (s, ZMQ_RECONNECT_IVL_MAX, &retry_max, sizeof retry_max);
    }
}

/* A SUB with the mesh's options and subscriptions ("H", "B", "U", "T<self>"). */
static zsock_t *
s_sub_new (mdl_mesh_t *self)
{
    zsock_t *sub = zsock_new (ZMQ_SUB);
    if (!sub)
        return NULL;
    zsock_set_rcvhwm (sub, self->rcvhwm);
    if (self->max_frame > 0)
        zsock_set_maxmsgsize (sub, self->max_frame);
    s_set_liveness (sub, true);
    if (self->ipv6)
        zsock_set_ipv6 (sub, 1);
    char topic[18];
    zsock_set_subscribe (sub, "H");
    zsock_set_subscribe (sub, "B");
    zsock_set_subscribe (sub, "U");
    mdl_mesh_topic (self->self, topic);
    zsock_set_subscribe (sub, topic);
    return sub;
}

static bool
s_dir_exists (const char *path)
{
    struct stat st;
    return path && stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

mdl_mesh_t *
mdl_mesh_new (const mdl_mesh_cfg_t *cfg, int *err)
{
    int rc = MDL_EINVAL;
    mdl_mesh_t *self = NULL;
    if (!cfg || !cfg->bind || !cfg->bind[0])
        goto err;
    rc = MDL_ENOMEM;
    self = calloc (1, sizeof *self);
    if (!self)
        goto err;
    self->self = cfg->self;
    self->curve = cfg->curve;
    self->send_wait_ms = cfg->send_wait_ms > 0 ? cfg->send_wait_ms : 0;
    self->epfd = -1;
    self->last = -1;
    self->rcvhwm = mdl_mesh_hwm (cfg->hwm_bytes, cfg->msg_bytes, cfg->rcvhwm > 0 ? cfg->rcvhwm : S_RCVHWM);
    self->max_frame = cfg->max_frame > 0 ? (int) (cfg->max_frame > INT_MAX ? INT_MAX : cfg->max_frame) : 0;
    self->ipv6 = cfg->ipv6;
    /* CURVE keeps one SUB: its handshake failures are watched on that socket's monitor,
       and an outsider without a key cannot connect anyway */
    self->per_link = cfg->per_link && !cfg->curve;

    if (self->curve) {
        rc = MDL_ESECURITY;
        if (!cfg->cert || !s_dir_exists (cfg->allow_dir))
            goto err;
        /* our own strict reader: a public certificate (no secret key) is refused */
        char secret[MDL_PUBKEY_LEN + 1];
        uint8_t pub_bin[32], sec_bin[32];
        if (mdl_keys_load (cfg->cert, self->pubkey, secret) != 0)
            goto err;
        zmq_z85_decode (pub_bin, self->pubkey);
        zmq_z85_decode (sec_bin, secret);
        self->cert = zcert_new_from (pub_bin, sec_bin);
        memset (secret, 0, sizeof secret);
        memset (sec_bin, 0, sizeof sec_bin);
        if (!self->cert)
            goto err;
        self->allow = zcertstore_new (cfg->allow_dir);
        if (!self->allow)
            goto err;
        if (s_auth_acquire (cfg->allow_dir) != 0)
            goto err;
        self->auth_ref = true;
    }

    rc = MDL_ESOCKET;
    /* XPUB, which sends as PUB does, so that a new subscriber is seen
       (mdl_mesh_new_subscribers) and greeted with a hello at once */
    self->pub = zsock_new (ZMQ_XPUB);
    self->sub = s_sub_new (self);
    if (!self->pub || !self->sub)
        goto err;
    zsock_set_sndhwm (self->pub, mdl_mesh_hwm (cfg->hwm_bytes, cfg->msg_bytes, cfg->sndhwm > 0 ? cfg->sndhwm : S_SNDHWM));
    s_set_nodrop (self, true);
    s_set_liveness (self->pub, false);
    if (cfg->ipv6)
        zsock_set_ipv6 (self->pub, 1);
    if (self->per_link) {
        self->epfd = epoll_create1 (EPOLL_CLOEXEC);
        struct epoll_event ev = { .events = EPOLLIN };
        if (self->epfd < 0 || epoll_ctl (self->epfd, EPOLL_CTL_ADD, zsock_fd (self->sub), &ev) != 0)
            goto err;
    }
    if (self->curve) {
        zcert_apply (self->cert, self->pub);
        zsock_set_curve_server (self->pub, 1);
        zsock_set_zap_domain (self->pub, "meshdl");
        zcert_apply (self->cert, self->sub);
        self->mon_pub = s_monitor (self, self->pub, "pub");
        self->mon_sub = s_monitor (self, self->sub, "sub");
        if (!self->mon_pub || !self->mon_sub)
            goto err;
    }
    if (zsock_bind (self->pub, "%s", cfg->bind) < 0)
        goto err;
    size_t len = sizeof self->endpoint;
    if (zmq_getsockopt (zsock_resolve (self->pub), ZMQ_LAST_ENDPOINT, self->endpoint, &len) != 0)
        goto err;
    if (strncmp (self->endpoint, "tcp://", 6) == 0) {
        const char *colon = strrchr (self->endpoint, ':');
        self->port = colon ? (uint16_t) atoi (colon + 1) : 0;
    }

    if (err)
        *err = 0;
    return self;
err:
    mdl_mesh_destroy (&self);
    if (err)
        *err = rc;
    return NULL;
}

void
mdl_mesh_destroy (mdl_mesh_t **pself)
{
    if (!pself || !*pself)
        return;
    mdl_mesh_t *self = *pself;
    for (size_t i = 0; i < self->nheld; i++)
        zmq_msg_close (&self->held[i]);
    while (self->nconns)
        mdl_mesh_disconnect (self, self->conns[self->nconns - 1].endpoint);
    if (self->epfd >= 0)
        close (self->epfd);
    if (self->mon_pub)
        zmq_socket_monitor (zsock_resolve (self->pub), NULL, 0);
    if (self->mon_sub)
        zmq_socket_monitor (zsock_resolve (self->sub), NULL, 0);
    zsock_destroy (&self->mon_pub);
    zsock_destroy (&self->mon_sub);
    zsock_destroy (&self->pub);
    zsock_destroy (&self->sub);
    zcert_destroy (&self->cert);
    zcertstore_destroy (&self->allow);
    if (self->auth_ref)
        s_auth_release ();
    free (self->conns);
    free (self);
    *pself = NULL;
}

const char *
mdl_mesh_endpoint (const mdl_mesh_t *self)
{
    return self->endpoint;
}

uint16_t
mdl_mesh_port (const mdl_mesh_t *self)
{
    return self->port;
}

const char *
mdl_mesh_pubkey (const mdl_mesh_t *self)
{
    return self->pubkey;
}

bool
mdl_mesh_allowed (const mdl_mesh_t *self, const char *pubkey)
{
    if (!self->curve)
        return true;
    if (!pubkey || strlen (pubkey) != MDL_PUBKEY_LEN)
        return false;
    /* zcertstore_lookup reloads the directory when it changed */
    return zcertstore_lookup (self->allow, pubkey) != NULL;
}

static s_penalty_t *
s_penalty (mdl_mesh_t *self, const char *endpoint, bool make)
{
    s_penalty_t *old = NULL;
    for (size_t i = 0; i < S_PENALTIES; i++) {
        s_penalty_t *p = &self->pen[i];
        if (strcmp (p->endpoint, endpoint) == 0)
            return p;
        const double t = p->window > p->until ? p->window : p->until;
        if (!old || (old->endpoint[0] && (!p->endpoint[0] || t < (old->window > old->until ? old->window : old->until))))
            old = p;
    }
    if (!make)
        return NULL;
    *old = (s_penalty_t) { 0 };
    snprintf (old->endpoint, sizeof old->endpoint, "%s", endpoint);
    return old;
}

static s_conn_t *
s_conn_find (const mdl_mesh_t *self, const char *endpoint)
{
    for (size_t i = 0; i < self->nconns; i++)
        if (strcmp (self->conns[i].endpoint, endpoint) == 0)
            return &self->conns[i];
    return NULL;
}

int
mdl_mesh_connect (mdl_mesh_t *self, const mdl_peer_info_t *peer)
{
    if (!peer || !peer->endpoint[0] || strlen (peer->endpoint) >= MDL_ENDPOINT_MAX)
        return MDL_EINVAL;
    if (s_conn_find (self, peer->endpoint))
        return 0;
    if (self->curve && !mdl_mesh_allowed (self, peer->pubkey)) {
        self->stats.refused_keys++;
        return MDL_ESECURITY;
    }
    /* the same agent at a new endpoint (restarted on another port): drop the old one */
    if (peer->id)
        for (size_t i = 0; i < self->nconns; i++)
            if (self->conns[i].id == peer->id) {
                char old[MDL_ENDPOINT_MAX];
                memcpy (old, self->conns[i].endpoint, sizeof old);
                mdl_mesh_disconnect (self, old);
                break;
            }
    if (self->nconns == self->capconns) {
        size_t cap = self->capconns ? self->capconns * 2 : 16;
        s_conn_t *c = realloc (self->conns, cap * sizeof *c);
        if (!c)
            return MDL_ENOMEM;
        self->conns = c;
        self->capconns = cap;
    }
    zsock_t *own = NULL;
    if (self->per_link && self->nlink < S_LINK_SUBS && strncmp (peer->endpoint, "tcp://", 6) == 0) {
        if (atomic_fetch_add (&s_link_subs, 1) < S_LINK_SUBS_ALL)
            own = s_sub_new (self);
        struct epoll_event ev = { .events = EPOLLIN };
        if (own && epoll_ctl (self->epfd, EPOLL_CTL_ADD, zsock_fd (own), &ev) != 0)
            zsock_destroy (&own);
        if (!own)
            atomic_fetch_sub (&s_link_subs, 1);
    }
    void *sub = zsock_resolve (own ? own : self->sub);
    /* options apply to the connects that follow: one server key per connect */
    if (self->curve
        && zmq_setsockopt (sub, ZMQ_CURVE_SERVERKEY, peer->pubkey, MDL_PUBKEY_LEN) != 0)
        return MDL_ESECURITY;
    /* an endpoint still suspended (it went dead meanwhile and is back) waits it out */
    const s_penalty_t *p = own ? s_penalty (self, peer->endpoint, false) : NULL;
    const bool held = p && p->until > s_now ();
    if (!held && zmq_connect (sub, peer->endpoint) != 0) {
        if (own) {
            epoll_ctl (self->epfd, EPOLL_CTL_DEL, zsock_fd (own), NULL);
            zsock_destroy (&own);
            atomic_fetch_sub (&s_link_subs, 1);
        }
        return MDL_ESOCKET;
    }
    s_conn_t *c = &self->conns[self->nconns++];
    *c = (s_conn_t) { .id = peer->id, .sub = own, .suspended = held, .resume_at = held ? p->until : 0 };
    snprintf (c->endpoint, sizeof c->endpoint, "%s", peer->endpoint);
    self->nlink += own != NULL;
    self->nsuspended += held;
    return 0;
}

int
mdl_mesh_disconnect (mdl_mesh_t *self, const char *endpoint)
{
    s_conn_t *c = endpoint ? s_conn_find (self, endpoint) : NULL;
    if (!c)
        return 0;
    if (c->sub) {
        epoll_ctl (self->epfd, EPOLL_CTL_DEL, zsock_fd (c->sub), NULL);
        zsock_destroy (&c->sub); /* what it queued goes with it */
        atomic_fetch_sub (&s_link_subs, 1);
        self->nlink--;
    } else
        zmq_disconnect (zsock_resolve (self->sub), c->endpoint);
    self->nsuspended -= c->suspended;
    const long i = (long) (c - self->conns), moved = (long) self->nconns - 1;
    *c = self->conns[--self->nconns];
    if (self->last == i)
        self->last = -1;
    else if (self->last == moved)
        self->last = i;
    return 0;
}

int
mdl_mesh_fd (mdl_mesh_t *self)
{
    return self->epfd >= 0 ? self->epfd : zsock_fd (self->sub);
}

const char *
mdl_mesh_blame (mdl_mesh_t *self, double *seconds)
{
    if (self->last < 0 || (size_t) self->last >= self->nconns)
        return NULL;
    s_conn_t *c = &self->conns[self->last];
    if (!c->sub || c->suspended)
        return NULL;
    const double now = s_now ();
    s_penalty_t *p = s_penalty (self, c->endpoint, true);
    if (now - p->window > S_STRIKE_S) {
        p->window = now;
        p->strikes = 0;
    }
    if (++p->strikes < S_STRIKES)
        return NULL;
    if (p->until > 0 && now - p->until > S_FORGIVE_S)
        p->suspensions = 0;
    double t = S_SUSPEND_S * (double) (1u << (p->suspensions < 8 ? p->suspensions : 8));
    t = t < S_SUSPEND_MAX_S ? t : S_SUSPEND_MAX_S;
    p->suspensions++;
    p->strikes = 0;
    p->until = now + t;
    zmq_disconnect (zsock_resolve (c->sub), c->endpoint);
    c->suspended = true;
    c->resume_at = p->until;
    self->nsuspended++;
    self->stats.suspensions++;
    if (seconds)
        *seconds = t;
    return c->endpoint;
}

const char *
mdl_mesh_last_endpoint (const mdl_mesh_t *self)
{
    return self->last >= 0 && (size_t) self->last < self->nconns ? self->conns[self->last].endpoint : NULL;
}

bool
mdl_mesh_suspended (const mdl_mesh_t *self, const char *endpoint)
{
    if (!self->nsuspended)
        return false;
    for (size_t i = 0; i < self->nconns; i++)
        if (self->conns[i].suspended && strcmp (self->conns[i].endpoint, endpoint) == 0)
            return true;
    return false;
}

/* Dials again the suspended connections whose time is up. */
static void
s_resume (mdl_mesh_t *self)
{
    const double now = s_now ();
    for (size_t i = 0; i < self->nconns; i++) {
        s_conn_t *c = &self->conns[i];
        if (c->suspended && c->resume_at <= now && zmq_connect (zsock_resolve (c->sub), c->endpoint) == 0) {
            c->suspended = false;
            self->nsuspended--;
        }
    }
}

void *
mdl_mesh_sub_socket (mdl_mesh_t *self)
{
    return self->sub;
}

size_t
mdl_mesh_topic (uint64_t recipient, char *buf)
{
    buf[0] = 'T';
    mdl_id_str (recipient, buf + 1);
    return 17;
}

int
mdl_mesh_hwm (int64_t budget, int64_t msg_bytes, int dflt)
{
    if (budget <= 0 || msg_bytes <= 0)
        return dflt;
    const int64_t n = budget / msg_bytes;
    return n < 2 ? 2 : n > dflt ? dflt : (int) n;
}

/* Sends one frame without blocking; at the HWM of some subscriber falls back to lossy
   sending for the rest of this message (see the top of the file). */
static int
s_send_frame (mdl_mesh_t *self, zmq_msg_t *m, int more, bool *dropped)
{
    void *pub = zsock_resolve (self->pub);
    int64_t deadline = 0;
    bool refreshed = false;
    while (true) {
        if (zmq_msg_send (m, pub, (more ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) >= 0)
            return 0;
        int e = zmq_errno ();
        if (e == EINTR)
            continue;
        if (e != EAGAIN || !self->nodrop)
            return MDL_ESOCKET;
        /* The socket learns that a reader made room through commands from the I/O
           thread, which a non-blocking send processes at most every millisecond or so;
           reading ZMQ_EVENTS processes them now. Only then is the queue really full. */
        int events;
        size_t elen = sizeof events;
        if (!refreshed) {
            zmq_getsockopt (pub, ZMQ_EVENTS, &events, &elen);
            refreshed = true;
            continue;
        }
        /* A full queue: a grace period (send_wait_ms), then drop for that subscriber.
           PUB sockets never signal POLLOUT, but the socket's ZMQ_FD becomes readable
           when a command (such as "room again") arrives: wait on that. */
        if (self->send_wait_ms > 0) {
            int64_t now = zclock_mono ();
            if (!deadline)
                deadline = now + self->send_wait_ms;
            if (now < deadline) {
                int fd;
                size_t flen = sizeof fd;
                if (zmq_getsockopt (pub, ZMQ_FD, &fd, &flen) == 0) {
                    struct pollfd p = { .fd = fd, .events = POLLIN };
                    poll (&p, 1, (int) (deadline - now));
                }
                zmq_getsockopt (pub, ZMQ_EVENTS, &events, &elen);
                continue;
            }
        }
        *dropped = true;
        s_set_nodrop (self, false);
    }
}

/* Takes in every subscriber that connected to our PUB so far, counting the new ones
   (mdl_mesh_new_subscribers). ZeroMQ attaches a subscriber's pipe when the socket
   processes its commands, which a send does at most once per max_command_delay (about
   a millisecond of TSC ticks, libzmq's throttle); a subscriber that connected since is
   not attached yet, and what is sent meanwhile misses it without a trace. A hello sent
   just before a connection, then a round's first state within that millisecond after
   it, lost the state: the settling hellos (comm.c) go out at each join, which is when
   a cluster's view becomes whole and its workers start, so test_consensus lost a
   first state in 2-3 of its 13 cases (a round that then timed out, or mixed without
   it when the neighbour's next state came). A non-blocking receive on the XPUB
   processes the commands without the throttle; it also reads the subscription
   messages, which would otherwise queue in the socket for good. One system call per
   message sent (poll of the socket's mailbox). */
static void
s_attach (mdl_mesh_t *self)
{
    /* XPUB hands up a topic's first subscription (0x01 + topic) and its last
       unsubscription (0x00 + topic). Every subscriber subscribes to "T<its id>", a topic
       of its own (s_sub_new), so each new subscriber shows once. */
    void *pub = zsock_resolve (self->pub);
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init (&m);
        if (zmq_msg_recv (&m, pub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&m);
            return;
        }
        const uint8_t *b = zmq_msg_data (&m);
        if (zmq_msg_size (&m) >= 2 && b[0] == 1 && b[1] == 'T')
            self->new_subs++;
        zmq_msg_close (&m);
    }
}

/* Sends frames[0..n) as one message, closing them all in every case. */
static int
s_send_msg (mdl_mesh_t *self, zmq_msg_t *frames, size_t n, size_t bytes)
{
    bool dropped = false;
    int rc = 0;
    size_t i = 0;
    s_attach (self); /* a subscriber that connected before this call gets the message */
    for (; i < n && rc == 0; i++)
        rc = s_send_frame (self, &frames[i], i + 1 < n, &dropped);
    for (size_t j = rc ? i - 1 : n; j < n; j++)
        zmq_msg_close (&frames[j]);
    if (!self->nodrop)
        s_set_nodrop (self, true);
    if (rc)
        return rc;
    self->stats.sent++;
    self->stats.bytes_sent += bytes;
    if (dropped) {
        self->stats.send_dropped++;
        return MDL_ETIMEOUT;
    }
    return 0;
}

static int
s_announce (mdl_mesh_t *self, const char *topic, const mdl_peer_info_t *info, uint64_t cluster)
{
    zmq_msg_t f[2];
    zmq_msg_init_size (&f[0], 1);
    memcpy (zmq_msg_data (&f[0]), topic, 1);
    if (zmq_msg_init_size (&f[1], MDL_HELLO_SIZE) != 0) {
        zmq_msg_close (&f[0]);
        return MDL_ENOMEM;
    }
    mdl_hello_pack (info, cluster, zmq_msg_data (&f[1]));
    return s_send_msg (self, f, 2, 1 + MDL_HELLO_SIZE);
}

int
mdl_mesh_hello (mdl_mesh_t *self, const mdl_peer_info_t *info, uint64_t cluster)
{
    return s_announce (self, "H", info, cluster);
}

size_t
mdl_mesh_new_subscribers (mdl_mesh_t *self)
{
    s_attach (self);
    const size_t n = self->new_subs;
    self->new_subs = 0;
    return n;
}

int
mdl_mesh_bye (mdl_mesh_t *self, const mdl_peer_info_t *info, uint64_t cluster)
{
    int rc = s_announce (self, "B", info, cluster);
    /* Give the goodbye up to 200 ms to leave when the socket closes (linger is 0
       otherwise, and the message would die in the queue). */
    zsock_set_linger (self->pub, 200);
    return rc;
}

int
mdl_mesh_send (mdl_mesh_t *self, const void *topic, size_t topic_len, const void *header,
               size_t header_len, void *payload, size_t payload_len,
               void (*free_fn) (void *data, void *hint), void *hint)
{
    zmq_msg_t f[3];
    int rc = MDL_EINVAL;
    if (!topic || topic_len == 0)
        goto fail;
    rc = MDL_ENOMEM;
    if (zmq_msg_init_size (&f[0], topic_len) != 0)
        goto fail;
    memcpy (zmq_msg_data (&f[0]), topic, topic_len);
    if (zmq_msg_init_size (&f[1], header_len) != 0) {
        zmq_msg_close (&f[0]);
        goto fail;
    }
    if (header_len)
        memcpy (zmq_msg_data (&f[1]), header, header_len);
    if (payload && payload_len) {
        /* zmq_msg_init_data takes ownership only on success */
        if (zmq_msg_init_data (&f[2], payload, payload_len, free_fn, hint) != 0) {
            zmq_msg_close (&f[0]);
            zmq_msg_close (&f[1]);
            goto fail;
        }
    }
    else {
        zmq_msg_init (&f[2]);
        if (payload && free_fn)
            free_fn (payload, hint);
    }
    return s_send_msg (self, f, 3, topic_len + header_len + payload_len);
fail:
    if (payload && free_fn)
        free_fn (payload, hint);
    return rc;
}

/* One message from sub, if one is waiting. */
static int
s_recv_from (mdl_mesh_t *self, void *sub, const void **frames, size_t *lens, size_t cap, size_t *n)
{
    size_t keep = cap < S_MAX_FRAMES ? cap : S_MAX_FRAMES;
    size_t count = 0, bytes = 0;
    zmq_msg_t scratch;
    zmq_msg_init (&scratch);
    while (true) {
        zmq_msg_t *m = count < keep ? &self->held[count] : &scratch;
        if (count < keep)
            zmq_msg_init (m);
        /* frames after the first are already here: ZeroMQ delivers whole messages */
        if (zmq_msg_recv (m, sub, ZMQ_DONTWAIT) < 0) {
            if (count < keep)
                zmq_msg_close (m);
            if (zmq_errno () == EINTR && count == 0)
                continue;
            if (count == 0) {
                zmq_msg_close (&scratch);
                return MDL_ETIMEOUT;
            }
            break; /* cannot happen short of ETERM */
        }
        bytes += zmq_msg_size (m);
        if (count < keep) {
            frames[count] = zmq_msg_data (m);
            lens[count] = zmq_msg_size (m);
            self->nheld++;
        }
        count++;
        if (!zmq_msg_more (m))
            break;
    }
    zmq_msg_close (&scratch);
    if (count > keep)
        self->stats.recv_truncated++;
    self->stats.received++;
    self->stats.bytes_received += bytes;
    *n = count;
    return 0;
}

int
mdl_mesh_recv (mdl_mesh_t *self, const void **frames, size_t *lens, size_t cap, size_t *n)
{
    for (size_t i = 0; i < self->nheld; i++)
        zmq_msg_close (&self->held[i]);
    self->nheld = 0;
    *n = 0;
    self->last = -1;
    if (!self->nlink)
        return s_recv_from (self, zsock_resolve (self->sub), frames, lens, cap, n);
    if (self->nsuspended)
        s_resume (self);
    /* Every SUB in turn, one message each, starting after the one that gave the last:
       a connection that floods gets its share, not the others'. The slot after the
       connections is the shared SUB. A suspended connection's SUB is tried too: its
       commands (the disconnect's) must be read or its FD stays readable. */
    const size_t slots = self->nconns + 1;
    for (size_t k = 0; k < slots; k++) {
        const size_t i = (self->rr + k) % slots;
        zsock_t *s = i == self->nconns ? self->sub : self->conns[i].sub;
        if (s && s_recv_from (self, zsock_resolve (s), frames, lens, cap, n) == 0) {
            self->last = i == self->nconns ? -1 : (long) i;
            self->rr = i + 1;
            return 0;
        }
    }
    return MDL_ETIMEOUT;
}

void *
mdl_mesh_hold (mdl_mesh_t *self, size_t i, const void **data)
{
    if (i >= self->nheld)
        return NULL;
    zmq_msg_t *m = malloc (sizeof *m);
    if (!m)
        return NULL;
    /* The frame's content is reference-counted (atomically): moving it costs nothing,
       and the last close, in whichever thread, frees it or calls the sender's free
       function. A frame small enough to live inside zmq_msg_t moves with it. */
    zmq_msg_init (m);
    zmq_msg_move (m, &self->held[i]);
    *data = zmq_msg_data (m);
    return m;
}

void
mdl_mesh_release (void *ref)
{
    if (!ref)
        return;
    zmq_msg_close (ref);
    free (ref);
}

void
mdl_mesh_stats (const mdl_mesh_t *self, mdl_mesh_stats_t *stats)
{
    *stats = self->stats;
    stats->connections = self->nconns;
    stats->suspended = self->nsuspended;
}

/* Counts mon's handshake failures; with self, also keeps the endpoints they name (the
   monitor's second frame) for mdl_mesh_refused. */
static size_t
s_drain (zsock_t *mon, uint64_t *counter, mdl_mesh_t *self)
{
    size_t k = 0;
    while (mon && (zsock_events (mon) & ZMQ_POLLIN)) {
        zmsg_t *msg = zmsg_recv (mon);
        if (!msg)
            break;
        zframe_t *f = zmsg_first (msg);
        if (f && zframe_size (f) >= 2) {
            uint16_t event;
            memcpy (&event, zframe_data (f), 2);
            if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
                (*counter)++;
                k++;
                zframe_t *ep = zmsg_next (msg);
                if (self && ep && zframe_size (ep) < MDL_ENDPOINT_MAX && self->nrefused < MDL_MESH_REFUSED_MAX) {
                    memcpy (self->refused[self->nrefused], zframe_data (ep), zframe_size (ep));
                    self->refused[self->nrefused++][zframe_size (ep)] = 0;
                }
            }
        }
        zmsg_destroy (&msg);
    }
    return k;
}

size_t
mdl_mesh_check_auth (mdl_mesh_t *self)
{
    return s_drain (self->mon_pub, &self->stats.auth_denied, NULL)
           + s_drain (self->mon_sub, &self->stats.auth_failed, self);
}

size_t
mdl_mesh_refused (mdl_mesh_t *self, char (*endpoints)[MDL_ENDPOINT_MAX], size_t cap)
{
    size_t n = self->nrefused < cap ? self->nrefused : cap;
    memcpy (endpoints, self->refused, n * sizeof *endpoints);
    self->nrefused = 0;
    return n;
}
