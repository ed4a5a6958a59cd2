/*  clustereval.c: many parameter vectors evaluated on several threads (see cluster.h):
    what `meshdl sim`'s final evaluation of every agent runs once the agents are idle.
    Each vector is evaluated whole by one thread, in groups that read the rows once, so
    the results do not depend on the threads: each is mdl_learner_evaluate's. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "cluster.h"
#include "err.h"
#include "learner.h"

/* Vectors per grab, at most: a group reads the test rows once for all of its vectors;
   about four groups per thread keep the threads busy to the end. */
#define S_GROUP_MAX 16
#define S_THREADS_MAX 64

typedef struct {
    const float *const *params;
    size_t m;
    const mdl_dataset_t *ds;
    size_t max_rows;
    size_t group;       /* vectors per grab */
    double *loss, *acc;
    atomic_size_t next; /* the first vector not taken yet */
    atomic_int rc;      /* the first error */
} s_work_t;

typedef struct {
    s_work_t *w;
    mdl_learner_t *l;
} s_thread_t;

static void *
s_run (void *arg)
{
    s_thread_t *t = arg;
    s_work_t *w = t->w;
    while (atomic_load (&w->rc) == 0) {
        const size_t at = atomic_fetch_add (&w->next, w->group);
        if (at >= w->m)
            break;
        const size_t k = w->m - at < w->group ? w->m - at : w->group;
        int rc = mdl_learner_evaluate_many (t->l, w->params + at, k, w->ds, w->max_rows, w->loss + at, w->acc + at);
        int none = 0;
        if (rc)
            atomic_compare_exchange_strong (&w->rc, &none, rc);
    }
    return NULL;
}

int
mdl_eval_threads (int threads, size_t m)
{
    if (threads <= 0) {
        const long online = sysconf (_SC_NPROCESSORS_ONLN);
        threads = online > 0 ? (int) (online < S_THREADS_MAX ? online : S_THREADS_MAX) : 1;
    }
    if ((size_t) threads > m)
        threads = m ? (int) m : 1;
    return threads < S_THREADS_MAX ? threads : S_THREADS_MAX;
}

int
mdl_eval_parallel (mdl_learner_t *const *evals, int threads, const float *const *params, size_t m,
                   const mdl_dataset_t *ds, size_t max_rows, double *loss, double *acc)
{
    s_work_t w = { .params = params, .m = m, .ds = ds, .max_rows = max_rows, .loss = loss, .acc = acc };
    atomic_init (&w.next, 0);
    atomic_init (&w.rc, 0);
    threads = threads < 1 ? 1 : threads > S_THREADS_MAX ? S_THREADS_MAX : threads;
    w.group = m / ((size_t) threads * 4);
    w.group = w.group < 1 ? 1 : w.group > S_GROUP_MAX ? S_GROUP_MAX : w.group;
    s_thread_t t[S_THREADS_MAX];
    pthread_t tid[S_THREADS_MAX];
    int started = 0;
    /* The caller's thread is one of them; a helper that cannot start leaves its share
       to the others. */
    for (int i = 1; i < threads; i++) {
        t[i] = (s_thread_t) { &w, evals[i] };
        if (pthread_create (&tid[started + 1], NULL, s_run, &t[i]) != 0)
            break;
        started++;
    }
    t[0] = (s_thread_t) { &w, evals[0] };
    s_run (&t[0]);
    for (int i = 1; i <= started; i++)
        pthread_join (tid[i], NULL);
    return atomic_load (&w.rc);
}
