/*  discovery_dns.c: peers from a name server (--peers dns:NAME:PORT, mixable with
    tcp:// entries). Where nothing broadcasts (Docker Swarm overlays, Kubernetes pod
    networks, clouds), the orchestrator's DNS is what knows the members: Swarm's
    tasks.SERVICE and a Kubernetes headless Service answer with one A record per live
    replica, a Compose service name with one per container.

    A resolution may block for seconds (a name server that does not answer), and the
    comm actor must never block, so a thread of its own resolves every name, every
    interval, and leaves the newest answer of each name in a slot under a mutex; the
    comm actor takes the answers on its timer (mdl_discovery_recv), compares each with
    the previous one and announces the new addresses (id 0, like a static entry: who is
    behind one is learned from its hellos) and withdraws those that left. The thread is
    detached and shares its state by reference count: stopping the back-end never waits
    for a resolution in progress; the thread frees what is left when it returns.

    Choices:
    - A failed resolution changes nothing: the last answer stands (a name server that
      hiccups must not make an agent drop its peers). The failure is noted once, when
      it starts, and the name is retried every second until it resolves again.
    - A name that has IPv4 addresses is used by its IPv4 addresses only: a dual-stack
      replica listed under both families would otherwise be connected twice and every
      message of it received twice. IPv6 answers are used for IPv6-only names.
    - An address of one of this host's interfaces at our own PUB port is this agent (a
      Swarm or Kubernetes name lists every replica, the asking one too), and skipped. */
#include "discovery_ops.h"

#include "err.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define S_MAX_ADDRS 256   /* addresses kept per name (a larger answer is cut) */
#define S_RETRY_MS 1000   /* a failing name is retried this often */
#define S_NOTES 16        /* log lines waiting to be taken */

typedef char s_addr_t[MDL_ADDR_MAX];

/* One name's newest answer, written by the resolver thread, taken by the comm actor. */
typedef struct {
    char name[256];
    int port;
    bool fresh;               /* an answer not taken yet */
    int got;                  /* addresses in addrs, or -1: the resolution failed */
    s_addr_t *addrs;          /* S_MAX_ADDRS */
    char why[160];
} s_slot_t;

/* Shared by the back-end and its resolver thread, freed by the last of the two. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int refs;
    bool stop;
    int interval_ms;
    mdl_disc_resolve_fn resolve;
    void *arg;
    size_t n;
    s_slot_t *slots;
} s_shared_t;

/* What the comm actor knows of one name. */
typedef struct {
    s_addr_t *cur;            /* the addresses announced (self excluded) */
    size_t ncur;
    bool ever;                /* resolved at least once */
    bool failing;             /* the last resolution failed (and was noted) */
    char why[160];            /* the last failure */
} s_view_t;

typedef struct {
    s_shared_t *sh;
    s_view_t *views;          /* sh->n */
    s_addr_t *scratch;        /* S_MAX_ADDRS: an answer taken out of its slot */
    mdl_peer_info_t *fixed;   /* the tcp:// entries, announced once */
    size_t nfixed, next_fixed;
    mdl_peer_info_t *ann;     /* endpoints to announce */
    size_t nann, capann;
    char (*gone)[MDL_ENDPOINT_MAX]; /* endpoints withdrawn, not yet taken */
    size_t ngone, capgone;
    char notes[S_NOTES][320];
    size_t note_head, nnotes;
} s_state_t;

int
mdl_disc_parse_dns (const char *p, size_t len, char *name, int *port)
{
    if (len < 4 || strncmp (p, "dns:", 4))
        return MDL_EINVAL;
    p += 4;
    len -= 4;
    const char *colon = memchr (p, ':', len);
    if (!colon || colon == p || (size_t) (colon - p) > 253)
        return MDL_EINVAL;
    const size_t nl = (size_t) (colon - p);
    for (size_t i = 0; i < nl; i++) {
        const char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'
              || c == '.'))
            return MDL_EINVAL;
    }
    const char *ps = colon + 1, *end = p + len;
    if (ps == end || end - ps > 5)
        return MDL_EINVAL;
    long v = 0;
    for (const char *q = ps; q < end; q++) {
        if (*q < '0' || *q > '9')
            return MDL_EINVAL;
        v = v * 10 + (*q - '0');
    }
    if (v < 1 || v > 65535)
        return MDL_EINVAL;
    memcpy (name, p, nl);
    name[nl] = '\0';
    *port = (int) v;
    return 0;
}

/* The system's resolver: A and AAAA records (and /etc/hosts) through getaddrinfo. */
static int
s_getaddrinfo (void *arg, const char *name, s_addr_t *out, int cap, char *why, size_t whylen)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    int rc = getaddrinfo (name, NULL, &hints, &res);
    if (rc) {
        snprintf (why, whylen, "%s", gai_strerror (rc));
        return -1;
    }
    int n = 0;
    for (struct addrinfo *a = res; a && n < cap; a = a->ai_next) {
        const void *src = a->ai_family == AF_INET ? (const void *) &((struct sockaddr_in *) a->ai_addr)->sin_addr
                          : a->ai_family == AF_INET6 ? (const void *) &((struct sockaddr_in6 *) a->ai_addr)->sin6_addr
                                                     : NULL;
        if (src && inet_ntop (a->ai_family, src, out[n], MDL_ADDR_MAX))
            n++;
    }
    freeaddrinfo (res);
    return n;
}

static void
s_shared_release (s_shared_t *sh)
{
    pthread_mutex_lock (&sh->lock);
    const bool last = --sh->refs == 0;
    sh->stop = true;
    pthread_cond_signal (&sh->wake);
    pthread_mutex_unlock (&sh->lock);
    if (!last)
        return;
    for (size_t i = 0; i < sh->n; i++)
        free (sh->slots[i].addrs);
    free (sh->slots);
    pthread_cond_destroy (&sh->wake);
    pthread_mutex_destroy (&sh->lock);
    free (sh);
}

static void *
s_resolver (void *arg)
{
    s_shared_t *sh = arg;
    s_addr_t *buf = malloc (S_MAX_ADDRS * sizeof *buf);
    char why[160];
    pthread_mutex_lock (&sh->lock);
    while (!sh->stop && buf) {
        bool failed = false;
        for (size_t i = 0; i < sh->n && !sh->stop; i++) {
            s_slot_t *s = &sh->slots[i];
            pthread_mutex_unlock (&sh->lock); /* name and port never change */
            why[0] = '\0';
            int got = sh->resolve (sh->arg, s->name, buf, S_MAX_ADDRS, why, sizeof why);
            pthread_mutex_lock (&sh->lock);
            if (got > S_MAX_ADDRS)
                got = S_MAX_ADDRS;
            s->got = got < 0 ? -1 : got;
            if (got > 0)
                memcpy (s->addrs, buf, (size_t) got * sizeof *buf);
            snprintf (s->why, sizeof s->why, "%s", got < 0 ? (why[0] ? why : "resolution failed") : "");
            s->fresh = true;
            failed |= got < 0;
        }
        const int ms = failed && sh->interval_ms > S_RETRY_MS ? S_RETRY_MS : sh->interval_ms;
        struct timespec until;
        clock_gettime (CLOCK_REALTIME, &until);
        until.tv_sec += ms / 1000;
        until.tv_nsec += (long) (ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!sh->stop && pthread_cond_timedwait (&sh->wake, &sh->lock, &until) == 0)
            ; /* woken early: only stop ends the wait */
    }
    pthread_mutex_unlock (&sh->lock);
    free (buf);
    s_shared_release (sh);
    return NULL;
}

static void __attribute__ ((format (printf, 2, 3)))
s_note (s_state_t *st, const char *fmt, ...)
{
    if (st->nnotes == S_NOTES) /* the oldest goes: the comm actor takes them every tick */
        st->note_head = (st->note_head + 1) % S_NOTES, st->nnotes--;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (st->notes[(st->note_head + st->nnotes) % S_NOTES], sizeof st->notes[0], fmt, ap);
    va_end (ap);
    st->nnotes++;
}

/* Builds the names (slots and views) and the tcp:// entries of the list. */
static int
s_build_entry (void *arg, const char *p, size_t len)
{
    s_state_t *st = arg;
    s_shared_t *sh = st->sh;
    char name[256];
    int port;
    if (len >= 4 && !strncmp (p, "dns:", 4)) {
        if (mdl_disc_parse_dns (p, len, name, &port))
            return MDL_EINVAL;
        for (size_t i = 0; i < sh->n; i++)
            if (!strcmp (sh->slots[i].name, name) && sh->slots[i].port == port)
                return 0; /* listed twice */
        s_slot_t *s = &sh->slots[sh->n];
        s_view_t *v = &st->views[sh->n];
        s->addrs = malloc (S_MAX_ADDRS * sizeof *s->addrs);
        v->cur = malloc (S_MAX_ADDRS * sizeof *v->cur);
        if (!s->addrs || !v->cur) {
            free (s->addrs), s->addrs = NULL;
            free (v->cur), v->cur = NULL;
            return MDL_ENOMEM;
        }
        memcpy (s->name, name, sizeof s->name);
        s->port = port;
        sh->n++;
        return 0;
    }
    mdl_peer_info_t e;
    if (mdl_disc_parse_static (p, len, &e))
        return MDL_EINVAL;
    for (size_t i = 0; i < st->nfixed; i++)
        if (!strcmp (st->fixed[i].endpoint, e.endpoint))
            return 0;
    st->fixed[st->nfixed++] = e;
    return 0;
}

/* Frees the comm actor's side (the views of the first n names). */
static void
s_state_free (s_state_t *st, size_t n)
{
    if (!st)
        return;
    for (size_t i = 0; st->views && i < n; i++)
        free (st->views[i].cur);
    free (st->views);
    free (st->scratch);
    free (st->fixed);
    free (st->ann);
    free (st->gone);
    free (st);
}

static int
s_start (mdl_discovery_t *self, const mdl_disc_cfg_t *cfg)
{
    if (!cfg->peers || !cfg->peers[0] || cfg->dns_interval_ms < 0)
        return MDL_EINVAL;
    const size_t count = mdl_disc_count (cfg->peers);
    int rc = MDL_ENOMEM;
    s_state_t *st = calloc (1, sizeof *st);
    s_shared_t *sh = calloc (1, sizeof *sh);
    if (!st || !sh || !(sh->slots = calloc (count, sizeof *sh->slots))
        || !(st->views = calloc (count, sizeof *st->views)) || !(st->fixed = calloc (count, sizeof *st->fixed))
        || !(st->scratch = malloc (S_MAX_ADDRS * sizeof *st->scratch)))
        goto err;
    st->sh = sh;
    if ((rc = mdl_disc_split (cfg->peers, s_build_entry, st)))
        goto err;
    sh->interval_ms = cfg->dns_interval_ms > 0 ? cfg->dns_interval_ms : 5000;
    sh->resolve = cfg->resolve ? cfg->resolve : s_getaddrinfo;
    sh->arg = cfg->resolve_arg;
    pthread_mutex_init (&sh->lock, NULL);
    pthread_cond_init (&sh->wake, NULL);
    /* a list of tcp:// entries only needs no thread */
    sh->refs = sh->n ? 2 : 1;
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init (&attr);
    pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
    const bool started = !sh->n || pthread_create (&t, &attr, s_resolver, sh) == 0;
    pthread_attr_destroy (&attr);
    if (!started) {
        pthread_cond_destroy (&sh->wake);
        pthread_mutex_destroy (&sh->lock);
        rc = MDL_ENOMEM;
        goto err;
    }
    self->state = st;
    return 0;
err:
    for (size_t i = 0; sh && sh->slots && i < sh->n; i++)
        free (sh->slots[i].addrs);
    s_state_free (st, sh ? sh->n : 0);
    if (sh)
        free (sh->slots);
    free (sh);
    return rc;
}

static void
s_stop (mdl_discovery_t *self)
{
    s_state_t *st = self->state;
    s_shared_t *sh = st->sh;
    s_state_free (st, sh->n);
    s_shared_release (sh); /* the thread, if still resolving, frees it when it returns */
}

/* The addresses of this host's interfaces, as text, into out (cap): what "ourselves"
   is when a name lists every replica. */
static size_t
s_local_addrs (s_addr_t *out, size_t cap)
{
    struct ifaddrs *ifs = NULL;
    if (getifaddrs (&ifs) != 0)
        return 0;
    size_t n = 0;
    for (struct ifaddrs *i = ifs; i && n < cap; i = i->ifa_next) {
        if (!i->ifa_addr)
            continue;
        const int f = i->ifa_addr->sa_family;
        const void *src = f == AF_INET ? (const void *) &((struct sockaddr_in *) i->ifa_addr)->sin_addr
                          : f == AF_INET6 ? (const void *) &((struct sockaddr_in6 *) i->ifa_addr)->sin6_addr
                                          : NULL;
        if (src && inet_ntop (f, src, out[n], MDL_ADDR_MAX))
            n++;
    }
    freeifaddrs (ifs);
    return n;
}

static bool
s_in (const s_addr_t *set, size_t n, const char *a)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp (set[i], a))
            return true;
    return false;
}

static void
s_endpoint (char *out, const char *addr, int port)
{
    if (strchr (addr, ':'))
        snprintf (out, MDL_ENDPOINT_MAX, "tcp://[%s]:%d", addr, port);
    else
        snprintf (out, MDL_ENDPOINT_MAX, "tcp://%s:%d", addr, port);
}

static int
s_grow (void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    while (c < need)
        c *= 2;
    void *q = realloc (*p, c * size);
    if (!q)
        return MDL_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* One successful answer of name k, got addresses in st->scratch. */
static void
s_take_answer (mdl_discovery_t *self, s_state_t *st, size_t k, int got, s_addr_t *local, size_t nlocal)
{
    const s_slot_t *s = &st->sh->slots[k];
    s_view_t *v = &st->views[k];
    s_addr_t *a = st->scratch;
    /* IPv4 only when there is any (see the top of the file) */
    bool v4 = false;
    for (int i = 0; i < got; i++)
        v4 |= strchr (a[i], ':') == NULL;
    size_t n = 0, self_seen = 0;
    for (int i = 0; i < got; i++) {
        if (v4 && strchr (a[i], ':'))
            continue;
        if (s->port == self->self.port && s_in ((const s_addr_t *) local, nlocal, a[i])) {
            self_seen++;
            continue;
        }
        if (!s_in ((const s_addr_t *) a, n, a[i]))
            memmove (a[n++], a[i], MDL_ADDR_MAX);
    }
    size_t added = 0, removed = 0;
    for (size_t i = 0; i < n; i++)
        if (!s_in ((const s_addr_t *) v->cur, v->ncur, a[i])
            && s_grow ((void **) &st->ann, &st->capann, st->nann + 1, sizeof *st->ann) == 0) {
            mdl_peer_info_t *e = &st->ann[st->nann++];
            memset (e, 0, sizeof *e);
            s_endpoint (e->endpoint, a[i], s->port);
            added++;
        }
    for (size_t i = 0; i < v->ncur; i++)
        if (!s_in ((const s_addr_t *) a, n, v->cur[i])
            && s_grow ((void **) &st->gone, &st->capgone, st->ngone + 1, sizeof *st->gone) == 0) {
            s_endpoint (st->gone[st->ngone++], v->cur[i], s->port);
            self->stats.withdrawn++;
            removed++;
        }
    memcpy (v->cur, a, n * sizeof *a);
    v->ncur = n;
    if (!v->ever)
        s_note (st, "dns:%s:%d resolves to %zu address%s%s", s->name, s->port, n, n == 1 ? "" : "es",
                self_seen ? " besides this agent's own" : "");
    else if (v->failing)
        s_note (st, "dns:%s:%d resolves again, to %zu address%s", s->name, s->port, n, n == 1 ? "" : "es");
    else if (added || removed)
        s_note (st, "dns:%s:%d now lists %zu address%s (%zu new, %zu gone)", s->name, s->port, n, n == 1 ? "" : "es",
                added, removed);
    v->ever = true;
    v->failing = false;
}

static int
s_recv (mdl_discovery_t *self, mdl_peer_info_t *out, size_t cap, size_t *n)
{
    s_state_t *st = self->state;
    s_shared_t *sh = st->sh;
    s_addr_t local[64];
    size_t nlocal = 0;
    bool have_local = false;
    for (size_t k = 0; k < sh->n; k++) {
        pthread_mutex_lock (&sh->lock);
        s_slot_t *s = &sh->slots[k];
        const bool fresh = s->fresh;
        const int got = s->got;
        char why[160];
        if (fresh) {
            s->fresh = false;
            if (got > 0)
                memcpy (st->scratch, s->addrs, (size_t) got * sizeof *st->scratch);
            memcpy (why, s->why, sizeof why);
        }
        pthread_mutex_unlock (&sh->lock);
        if (!fresh)
            continue;
        self->stats.resolutions++;
        s_view_t *v = &st->views[k];
        if (got < 0) {
            self->stats.resolve_failures++;
            snprintf (v->why, sizeof v->why, "%s", why);
            if (!v->failing)
                s_note (st, "dns:%s:%d: cannot resolve (%s); %s, retrying every %d s", s->name, s->port, why,
                        v->ever ? "keeping the addresses it had" : "no peers from it yet", S_RETRY_MS / 1000);
            v->failing = true;
            continue;
        }
        if (!have_local) {
            nlocal = s_local_addrs (local, 64);
            have_local = true;
        }
        s_take_answer (self, st, k, got, local, nlocal);
    }
    size_t k = 0;
    for (; st->next_fixed < st->nfixed && k < cap; st->next_fixed++, k++) {
        out[k] = st->fixed[st->next_fixed];
        self->stats.received++;
    }
    size_t take = st->nann < cap - k ? st->nann : cap - k;
    for (size_t i = 0; i < take; i++, k++) {
        out[k] = st->ann[i];
        self->stats.received++;
    }
    if (take) /* (ann is NULL until something was announced) */
        memmove (st->ann, st->ann + take, (st->nann - take) * sizeof *st->ann);
    st->nann -= take;
    *n = k;
    return 0;
}

static size_t
s_withdrawn (mdl_discovery_t *self, char (*out)[MDL_ENDPOINT_MAX], size_t cap)
{
    s_state_t *st = self->state;
    size_t take = st->ngone < cap ? st->ngone : cap;
    if (!take)
        return 0;
    memcpy (out, st->gone, take * sizeof *out);
    memmove (st->gone, st->gone + take, (st->ngone - take) * sizeof *st->gone);
    st->ngone -= take;
    return take;
}

static bool
s_take_note (mdl_discovery_t *self, char *buf, size_t len)
{
    s_state_t *st = self->state;
    if (!st->nnotes)
        return false;
    snprintf (buf, len, "%s", st->notes[st->note_head]);
    st->note_head = (st->note_head + 1) % S_NOTES;
    st->nnotes--;
    return true;
}

static void
s_unresolved (mdl_discovery_t *self, char *buf, size_t len)
{
    s_state_t *st = self->state;
    size_t at = 0;
    for (size_t k = 0; k < st->sh->n && at + 1 < len; k++) {
        const s_view_t *v = &st->views[k];
        if (v->ever)
            continue;
        int w = snprintf (buf + at, len - at, "%sdns:%s:%d%s%s%s", at ? ", " : "", st->sh->slots[k].name,
                          st->sh->slots[k].port, v->why[0] ? " (" : "", v->why, v->why[0] ? ")" : "");
        if (w < 0)
            break;
        at += (size_t) w < len - at ? (size_t) w : len - at - 1;
    }
}

const mdl_disc_ops_t mdl_disc_dns_ops = {
    .name = "dns",
    .kind = MDL_DISC_DNS,
    .start = s_start,
    .stop = s_stop,
    .socket = NULL,
    .recv = s_recv,
    .withdrawn = s_withdrawn,
    .note = s_take_note,
    .unresolved = s_unresolved,
};
