/*  commloop.c: the threads that run the agents' comm actors (comm.c).

    A thread per comm actor made two threads per agent (the worker and its comm): 16 for
    8 agents of `meshdl sim` on 2 cores, 2048 for 1024, and a context switch whenever a
    state went from one agent to the next (the sender's comm woken to send it, the
    receiver's to file it, each on its own thread). Here a process runs its agents' comms
    on a few threads, as many as it has CPUs unless MESHDL_COMM_THREADS says otherwise
    (a process with one agent, `meshdl agent`, has one). Each thread waits on one epoll
    set holding every source of its comms (comm_impl.h: the worker's hand-over queue,
    the mesh's SUBs, the discovery back-end) and, after a wait, gives a turn to each comm whose
    sources fired, that asked for another look, or whose timer is due: what arrives for
    several agents at once is handled in one wake-up, and a state sent to an agent of the
    same thread is filed without one. A comm is only touched by its thread, as before.

    Joining and leaving are requests the thread serves between two waits (the comm's
    sockets are made and closed on the thread that uses them); the caller waits for the
    answer. A thread whose last comm left ends. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "comm_impl.h"
#include "err.h"

#define S_LOOPS_MAX 1024
#define S_EVENTS 64
#define S_WAIT_MAX_MS 250 /* the longest wait, whatever the timers say */

typedef struct s_req {
    enum { S_JOIN, S_LEAVE } op;
    mdl_agent_t *a;        /* S_JOIN */
    mdl_comm_t *comm;      /* S_JOIN: the new comm (NULL: failed); S_LEAVE: the one to close */
    int err;
    char detail[512];      /* S_JOIN failed: why (mdl_error_detail is per thread) */
    bool done;
    struct s_req *next;
} s_req_t;

typedef struct {
    pthread_t thread;
    int epfd;
    int wake;              /* eventfd: a request is pending, or the thread should end */
    pthread_mutex_t lock;  /* reqs, quit, the requests' done flags */
    pthread_cond_t answered;
    s_req_t *reqs;
    bool quit;
    size_t members;        /* comms joined or joining (under s_lock) */
    /* the thread's own */
    mdl_comm_t **comms;
    size_t ncomms, cap;
} s_loop_t;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static s_loop_t *s_loops[S_LOOPS_MAX];
static size_t s_nloops;
static mdl_comm_tag_t s_wake_tag; /* what the eventfd's registration points at */

/* How many comm threads a process may have: MESHDL_COMM_THREADS, else its CPUs. */
static size_t
s_loops_max (void)
{
    const char *env = getenv ("MESHDL_COMM_THREADS");
    long n = 0;
    if (env && *env) {
        char *end;
        n = strtol (env, &end, 10);
        if (*end || n < 1)
            n = 0;
    }
    if (n <= 0)
        n = sysconf (_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n > S_LOOPS_MAX ? S_LOOPS_MAX : (size_t) n;
}

static int
s_add (s_loop_t *L, mdl_comm_t *c)
{
    if (L->ncomms == L->cap) {
        size_t cap = L->cap ? 2 * L->cap : 8;
        mdl_comm_t **p = realloc (L->comms, cap * sizeof *p);
        if (!p)
            return MDL_ENOMEM;
        L->comms = p;
        L->cap = cap;
    }
    c->slot = L->ncomms;
    c->loop = L;
    L->comms[L->ncomms++] = c;
    return 0;
}

static void
s_remove (s_loop_t *L, mdl_comm_t *c)
{
    const size_t i = c->slot;
    if (i >= L->ncomms || L->comms[i] != c)
        return;
    L->comms[i] = L->comms[--L->ncomms];
    L->comms[i]->slot = i;
}

/* Serves the pending requests; true when the thread should end. */
static bool
s_serve (s_loop_t *L)
{
    pthread_mutex_lock (&L->lock);
    s_req_t *r = L->reqs;
    L->reqs = NULL;
    const bool quit = L->quit;
    pthread_mutex_unlock (&L->lock);
    s_req_t *done = NULL;
    while (r) {
        s_req_t *next = r->next;
        if (r->op == S_JOIN) {
            mdl_error_clear ();
            r->comm = mdl_comm_open (r->a, L->epfd, &r->err);
            if (r->comm && (r->err = s_add (L, r->comm)) != 0)
                mdl_comm_close (&r->comm);
            if (!r->comm)
                snprintf (r->detail, sizeof r->detail, "%s", mdl_error_detail ());
        }
        else {
            s_remove (L, r->comm);
            mdl_comm_close (&r->comm);
        }
        r->next = done;
        done = r;
        r = next;
    }
    if (done) {
        /* once done is set the request (on its caller's stack) may be gone */
        pthread_mutex_lock (&L->lock);
        for (r = done; r;) {
            s_req_t *next = r->next;
            r->done = true;
            r = next;
        }
        pthread_cond_broadcast (&L->answered);
        pthread_mutex_unlock (&L->lock);
    }
    return quit && L->ncomms == 0;
}

static void *
s_run (void *arg)
{
    s_loop_t *L = arg;
    pthread_setname_np (pthread_self (), "mdl-comm"); /* top -H, perf --sort comm */
    struct epoll_event ev[S_EVENTS];
    for (;;) {
        if (s_serve (L))
            break;
        /* The wait: none when a comm asked for another look, else until the first timer. */
        double now = mdl_now ();
        double wait = S_WAIT_MAX_MS;
        for (size_t i = 0; i < L->ncomms && wait > 0; i++) {
            const mdl_comm_t *c = L->comms[i];
            const double w = c->more || c->fired ? 0 : (mdl_comm_due (c) - now) * 1000.0;
            if (w < wait)
                wait = w < 0 ? 0 : w;
        }
        /* rounded up: a timer less than a millisecond away would otherwise spin */
        int n = epoll_wait (L->epfd, ev, S_EVENTS, (int) ceil (wait));
        for (int k = 0; k < n; k++) {
            mdl_comm_tag_t *t = ev[k].data.ptr;
            if (t == &s_wake_tag) {
                uint64_t v;
                if (read (L->wake, &v, sizeof v) < 0 && errno != EAGAIN)
                    continue;
            }
            else
                t->comm->fired |= 1u << t->src;
        }
        /* Timers up to MDL_COMM_EARLY_S ahead run now: the wait above ends at one, and the
           others that are almost due ride on its wake-up. */
        now = mdl_now () + MDL_COMM_EARLY_S;
        for (size_t i = 0; i < L->ncomms; i++) {
            mdl_comm_t *c = L->comms[i];
            if (c->fired || c->more || now >= mdl_comm_due (c)) {
                const unsigned fired = c->fired;
                c->fired = 0;
                mdl_comm_turn (c, fired);
            }
        }
    }
    return NULL;
}

static void
s_loop_free (s_loop_t *L)
{
    if (L->epfd >= 0)
        close (L->epfd);
    if (L->wake >= 0)
        close (L->wake);
    pthread_mutex_destroy (&L->lock);
    pthread_cond_destroy (&L->answered);
    free (L->comms);
    free (L);
}

static s_loop_t *
s_loop_new (void)
{
    s_loop_t *L = calloc (1, sizeof *L);
    if (!L)
        return NULL;
    pthread_mutex_init (&L->lock, NULL);
    pthread_cond_init (&L->answered, NULL);
    L->epfd = epoll_create1 (EPOLL_CLOEXEC);
    L->wake = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &s_wake_tag };
    if (L->epfd < 0 || L->wake < 0 || epoll_ctl (L->epfd, EPOLL_CTL_ADD, L->wake, &ev) != 0
        || pthread_create (&L->thread, NULL, s_run, L) != 0) {
        s_loop_free (L);
        return NULL;
    }
    return L;
}

/* Hands r to L's thread and waits for the answer. */
static void
s_ask (s_loop_t *L, s_req_t *r)
{
    pthread_mutex_lock (&L->lock);
    r->next = L->reqs;
    L->reqs = r;
    pthread_mutex_unlock (&L->lock);
    const uint64_t one = 1;
    if (write (L->wake, &one, sizeof one) < 0) {
        /* the counter is full (never at these rates): the thread is awake anyway */
    }
    pthread_mutex_lock (&L->lock);
    while (!r->done)
        pthread_cond_wait (&L->answered, &L->lock);
    pthread_mutex_unlock (&L->lock);
}

/* One member fewer; the last one out ends the thread. */
static void
s_release (s_loop_t *L)
{
    pthread_mutex_lock (&s_lock);
    bool last = --L->members == 0;
    if (last)
        for (size_t i = 0; i < s_nloops; i++)
            if (s_loops[i] == L) {
                s_loops[i] = s_loops[--s_nloops];
                break;
            }
    pthread_mutex_unlock (&s_lock);
    if (!last)
        return;
    pthread_mutex_lock (&L->lock);
    L->quit = true;
    pthread_mutex_unlock (&L->lock);
    const uint64_t one = 1;
    if (write (L->wake, &one, sizeof one) < 0) {
        /* see s_ask */
    }
    pthread_join (L->thread, NULL);
    s_loop_free (L);
}

mdl_comm_t *
mdl_comm_start (mdl_agent_t *a, int *err)
{
    /* A new thread while there are fewer than the limit, else the one with fewest comms. */
    pthread_mutex_lock (&s_lock);
    s_loop_t *L = NULL;
    if (s_nloops < s_loops_max ()) {
        if ((L = s_loop_new ()))
            s_loops[s_nloops++] = L;
    }
    if (!L)
        for (size_t i = 0; i < s_nloops; i++)
            if (!L || s_loops[i]->members < L->members)
                L = s_loops[i];
    if (L)
        L->members++;
    pthread_mutex_unlock (&s_lock);
    if (!L) {
        *err = mdl_error_set (MDL_ENOMEM, "cannot start a comm thread: %s", strerror (errno));
        return NULL;
    }
    s_req_t r = { .op = S_JOIN, .a = a };
    s_ask (L, &r);
    if (!r.comm) {
        s_release (L);
        *err = r.err ? r.err : MDL_ESOCKET;
        if (r.detail[0])
            mdl_error_set (*err, "%s", r.detail);
        return NULL;
    }
    return r.comm;
}

void
mdl_comm_stop (mdl_comm_t **pcomm)
{
    if (!pcomm || !*pcomm)
        return;
    s_loop_t *L = (*pcomm)->loop;
    s_req_t r = { .op = S_LEAVE, .comm = *pcomm };
    s_ask (L, &r);
    *pcomm = NULL;
    s_release (L);
}
