/*  counters.c: an agent's counters by name (mdl_agent_counter, mdl_cluster_counter), so
    that programs read them without depending on the layout of mdl_agent_stats_t, which
    grows. A counter added to the struct is readable by name once it has its row here.
    The refusals by reason (mdl_reject_t) follow the table as "rejected_<reason>"
    ("rejected_replay", "rejected_step_ahead", ...: mdl_reject_name's names), then the
    bytes and messages sent by what they carry as "bytes_sent_<kind>" and "msgs_sent_<kind>"
    (mdl_sent_kind_name's names: "bytes_sent_state", "bytes_sent_global_state", ...). */
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "cluster.h"
#include "err.h"

typedef enum { C_U64, C_DBL, C_BOOL, C_INT } s_ctype_t;

typedef struct {
    const char *name;
    s_ctype_t type;
    size_t off;
} s_counter_t;

#define C(name, type)                                                                                                  \
    {                                                                                                                  \
#name, type, offsetof(mdl_agent_stats_t, name)                                                                 \
    }

static const s_counter_t s_counters[] = {
    C (steps, C_U64),
    C (epoch, C_DBL),
    C (loss, C_DBL),
    C (bytes_sent, C_U64),
    C (bytes_received, C_U64),
    C (msgs_sent, C_U64),
    C (msgs_received, C_U64),
    C (updates_applied, C_U64),
    C (updates_stale, C_U64),
    C (updates_dropped, C_U64),
    C (updates_rejected, C_U64),
    C (peers_alive, C_U64),
    C (peers_seen, C_U64),
    C (keyframes_sent, C_U64),
    C (resyncs, C_U64),
    C (replicas_verified, C_U64),
    C (replica_mismatches, C_U64),
    C (gossip_rounds, C_U64),
    C (dense_rounds, C_U64),
    C (disagreement, C_DBL),
    C (wait_s, C_DBL),
    C (test_acc, C_DBL),
    C (test_loss, C_DBL),
    C (evals, C_U64),
    C (eval_step, C_U64),
    C (eval_rows, C_U64),
    C (eval_time, C_DBL),
    C (eval_final, C_BOOL),
    C (merged, C_BOOL),
    C (merge_peers, C_U64),
    C (global_averages, C_U64),
    C (pair_averages, C_U64),
    C (pair_refused, C_U64),
    C (finished, C_BOOL),
    C (error, C_INT),
    /* defences (issue 16) */
    C (robust_clipped, C_U64),
    C (robust_short, C_U64),
    C (robust_tau, C_DBL),
    /* resources and health */
    C (worker_beat_age, C_DBL),
    C (comm_beat_age, C_DBL),
    C (neighbours, C_U64),
    C (links, C_U64),
    C (connections, C_U64),
    C (mailboxes, C_U64),
    C (mailbox_bytes, C_U64),
    /* algorithms (issue 18) */
    C (model_round, C_U64),
    C (rounds_offline, C_U64),
    C (residual_mse, C_DBL),
    /* where training started and what keeps it going (issue 15); start_from: 0 init,
       1 checkpoint, 2 a peer's snapshot (start_peer) */
    C (train_start, C_DBL),
    C (train_end, C_DBL),
    C (wire_busy_s, C_DBL),
    C (start_from, C_INT),
    C (start_peer, C_U64),
    C (start_step, C_U64),
    C (steps_skipped, C_U64),
    C (checkpoints, C_U64),
    C (checkpoints_replaced, C_U64),
    C (checkpoint_step, C_U64),
    C (checkpoint_error, C_INT),
    C (snapshots_served, C_U64),
    C (readmissions, C_U64),
    C (lingering, C_BOOL),
    C (linger_s, C_DBL),
    C (pair_late, C_U64),
};
_Static_assert(sizeof (mdl_start_t) == sizeof (int), "start_from is read as an int");

#define S_N (sizeof s_counters / sizeof s_counters[0])

/* "rejected_" + mdl_reject_name (r), "bytes_sent_" and "msgs_sent_" + mdl_sent_kind_name
   (k), made once. */
static char s_reject_names[MDL_REJECT_COUNT][48];
static char s_sent_names[2][MDL_SENT_KINDS][48];
static pthread_once_t s_reject_once = PTHREAD_ONCE_INIT;

static void
s_reject_names_make (void)
{
    for (int r = 0; r < MDL_REJECT_COUNT; r++)
        snprintf (s_reject_names[r], sizeof s_reject_names[r], "rejected_%s", mdl_reject_name (r));
    for (int k = 0; k < MDL_SENT_KINDS; k++) {
        snprintf (s_sent_names[0][k], sizeof s_sent_names[0][k], "bytes_sent_%s", mdl_sent_kind_name (k));
        snprintf (s_sent_names[1][k], sizeof s_sent_names[1][k], "msgs_sent_%s", mdl_sent_kind_name (k));
    }
}

static int
s_read (const mdl_agent_stats_t *st, const char *name, double *value)
{
    pthread_once (&s_reject_once, s_reject_names_make);
    for (int r = 0; name && r < MDL_REJECT_COUNT; r++)
        if (!strcmp (s_reject_names[r], name)) {
            *value = (double) st->rejected[r];
            return 0;
        }
    for (int k = 0; name && k < MDL_SENT_KINDS; k++)
        if (!strcmp (s_sent_names[0][k], name) || !strcmp (s_sent_names[1][k], name)) {
            *value = (double) (name[0] == 'b' ? st->sent_bytes[k] : st->sent_msgs[k]);
            return 0;
        }
    for (size_t i = 0; name && i < S_N; i++)
        if (!strcmp (s_counters[i].name, name)) {
            const char *p = (const char *) st + s_counters[i].off;
            switch (s_counters[i].type) {
            case C_U64: *value = (double) *(const uint64_t *) p; break;
            case C_DBL: *value = *(const double *) p; break;
            case C_BOOL: *value = *(const bool *) p; break;
            default: *value = *(const int *) p; break;
            }
            return 0;
        }
    return mdl_error_set (MDL_EINVAL, "unknown counter '%s' (mdl_agent_counter_name lists them)",
                          name ? name : "(null)");
}

const char *
mdl_agent_counter_name (size_t i)
{
    if (i < S_N)
        return s_counters[i].name;
    pthread_once (&s_reject_once, s_reject_names_make);
    i -= S_N;
    if (i < MDL_REJECT_COUNT)
        return s_reject_names[i];
    i -= MDL_REJECT_COUNT;
    return i < 2 * MDL_SENT_KINDS ? s_sent_names[i / MDL_SENT_KINDS][i % MDL_SENT_KINDS] : NULL;
}

/* Every counter of st into values[0..cap); returns how many there are. */
static size_t
s_values (const mdl_agent_stats_t *st, double *values, size_t cap)
{
    size_t i = 0;
    for (const char *name; (name = mdl_agent_counter_name (i)); i++)
        if (i < cap)
            s_read (st, name, &values[i]);
    return i;
}

size_t
mdl_agent_stats_values (const mdl_agent_stats_t *st, double *values, size_t cap)
{
    const size_t n = s_values (st, values, cap);
    return n < cap ? n : cap;
}

size_t
mdl_agent_counters (mdl_agent_t *a, double *values, size_t cap)
{
    mdl_agent_stats_t st;
    mdl_agent_stats (a, &st);
    return s_values (&st, values, cap);
}

/* s_values of a record read by rc's call (0: st holds it), with the count into *n. */
static int
s_values_of (int rc, const mdl_agent_stats_t *st, double *values, size_t cap, size_t *n)
{
    if (rc)
        return rc;
    const size_t all = s_values (st, values, cap);
    if (n)
        *n = all;
    return 0;
}

int
mdl_agent_eval_counters (mdl_agent_t *a, uint64_t k, double *values, size_t cap, size_t *n)
{
    mdl_agent_stats_t st;
    return s_values_of (mdl_agent_eval_stats (a, k, &st), &st, values, cap, n);
}

const char *
mdl_agent_started_from (mdl_agent_t *a, char *buf, size_t len)
{
    mdl_agent_stats_t st;
    mdl_agent_stats (a, &st);
    return mdl_agent_start_name (&st, buf, len);
}

bool
mdl_agent_unresolved (mdl_agent_t *a, char *buf, size_t cap)
{
    mdl_agent_stats_t st;
    mdl_agent_stats (a, &st);
    if (buf && cap)
        snprintf (buf, cap, "%s", st.disc_unresolved);
    return st.disc_unresolved[0] != '\0';
}

int
mdl_agent_histogram (mdl_agent_t *a, const char *name, double *le, uint64_t *cumulative, size_t cap, size_t *n,
                     uint64_t *count, double *sum)
{
    mdl_agent_stats_t st;
    const bool age = name && !strcmp (name, "update_age"), wait = name && !strcmp (name, "sync_wait");
    if (!age && !wait)
        return mdl_error_set (MDL_EINVAL, "unknown histogram '%s' (update_age or sync_wait)", name ? name : "(null)");
    mdl_agent_stats (a, &st);
    const mdl_hist_t *h = age ? &st.update_age : &st.sync_wait;
    const size_t nle = h->le ? h->nle : 0;
    for (size_t i = 0; i < nle && i < cap; i++) {
        if (le)
            le[i] = h->le[i];
        if (cumulative)
            cumulative[i] = mdl_hist_cumulative (h, i);
    }
    if (n)
        *n = nle;
    if (count)
        *count = h->count;
    if (sum)
        *sum = h->sum;
    return 0;
}

int
mdl_agent_counter (mdl_agent_t *a, const char *name, double *value)
{
    mdl_agent_stats_t st;
    mdl_agent_stats (a, &st);
    return s_read (&st, name, value);
}

int
mdl_cluster_counter (mdl_cluster_t *cl, const char *name, double *value)
{
    mdl_agent_stats_t st;
    mdl_cluster_stats_sum (cl, &st);
    return s_read (&st, name, value);
}

size_t
mdl_cluster_counters (mdl_cluster_t *cl, double *values, size_t cap)
{
    mdl_agent_stats_t st;
    mdl_cluster_stats_sum (cl, &st);
    return s_values (&st, values, cap);
}

int
mdl_cluster_snap_counters (const mdl_cluster_t *cl, int i, double *values, size_t cap, size_t *n)
{
    mdl_agent_stats_t st;
    int rc = mdl_cluster_snap_stats (cl, i, &st);
    if (rc)
        mdl_error_set (rc, "mdl_cluster_snap_counters: %s",
                       i < 0 || i >= mdl_cluster_size (cl) ? "no such agent" : "no snapshot yet");
    return s_values_of (rc, &st, values, cap, n);
}
