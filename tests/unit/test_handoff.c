/*  test_handoff.c: the worker -> comm queue: order, one signal per empty queue, nodes
    reused, a full queue that holds its writer, and a close that gives references back. */
#include "testutil.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "handoff.h"

static bool
s_readable (int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll (&p, 1, 0) == 1;
}

/* Payloads and commands come out in the order they went in, with what they carried. */
static void
test_items_come_out_in_order_with_their_contents (void **state)
{
    int err = 0;
    mdl_handoff_t *q = mdl_handoff_new (16, &err);
    assert_non_null (q);
    mdl_blobpool_t *pool = mdl_blobpool_new (32, &err);
    mdl_blob_t *b = mdl_blob_take (pool);
    const uint64_t to[3] = { 7, 9, 11 }, peers[2] = { 5, 6 };
    const mdl_outmsg_t m = { .kind = 3, .step = 42, .loss = 0.5, .advance = true };
    const mdl_transient_msg_t tm = { .purpose = 2, .below = 17 };
    assert_int_equal (mdl_handoff_command (q, 'A', NULL, NULL, 0), 0);
    assert_int_equal (mdl_handoff_send (q, &m, to, 3, b), 0);
    assert_int_equal (mdl_handoff_command (q, 'O', &tm, peers, 2), 0);
    assert_int_equal (mdl_handoff_command (q, 'C', &tm, NULL, 0), 0);
    mdl_handoff_item_t *list = mdl_handoff_take (q), *it = list;
    assert_non_null (it);
    assert_int_equal (it->cmd, 'A');
    assert_int_equal (it->nids, 0);
    it = it->next;
    assert_int_equal (it->cmd, 0);
    assert_ptr_equal (it->blob, b);
    assert_int_equal (it->m.step, 42);
    assert_true (it->m.advance);
    assert_int_equal (it->nids, 3);
    assert_memory_equal (it->ids, to, sizeof to);
    mdl_blob_unref (it->blob); /* the reader's reference */
    it = it->next;
    assert_int_equal (it->cmd, 'O');
    assert_int_equal (it->tm.purpose, 2);
    assert_int_equal (it->nids, 2);
    assert_memory_equal (it->ids, peers, sizeof peers);
    it = it->next;
    assert_int_equal (it->cmd, 'C');
    assert_int_equal (it->tm.below, 17);
    assert_null (it->next);
    mdl_handoff_recycle (q, list);
    assert_null (mdl_handoff_take (q));
    mdl_handoff_destroy (&q);
    assert_null (q);
    mdl_blobpool_destroy (&pool);
}

/* The eventfd is written once when the queue goes from empty to not empty, not per item:
   the reader that has not yet taken the queue is due to look anyway. */
static void
test_the_signal_comes_once_per_empty_queue (void **state)
{
    int err = 0;
    mdl_handoff_t *q = mdl_handoff_new (16, &err);
    const int fd = mdl_handoff_fd (q);
    assert_false (s_readable (fd));
    for (int i = 0; i < 3; i++)
        assert_int_equal (mdl_handoff_command (q, 'A', NULL, NULL, 0), 0);
    assert_true (s_readable (fd));
    uint64_t v = 0;
    assert_int_equal (read (fd, &v, sizeof v), (ssize_t) sizeof v);
    assert_int_equal (v, 1); /* three posts, one write */
    mdl_handoff_recycle (q, mdl_handoff_take (q));
    assert_false (s_readable (fd));
    assert_int_equal (mdl_handoff_command (q, 'A', NULL, NULL, 0), 0); /* empty again: signals */
    assert_true (s_readable (fd));
    mdl_handoff_clear_signal (q);
    assert_false (s_readable (fd));
    mdl_handoff_recycle (q, mdl_handoff_take (q));
    mdl_handoff_destroy (&q);
}

/* Steady hand-overs allocate nothing: a node given back is the next one used, its id
   array kept. */
static void
test_nodes_given_back_are_reused (void **state)
{
    int err = 0;
    mdl_handoff_t *q = mdl_handoff_new (16, &err);
    const uint64_t ids[4] = { 1, 2, 3, 4 };
    assert_int_equal (mdl_handoff_command (q, 'O', NULL, ids, 4), 0);
    mdl_handoff_item_t *first = mdl_handoff_take (q);
    const uint64_t *arr = first->ids;
    mdl_handoff_recycle (q, first);
    assert_int_equal (mdl_handoff_command (q, 'O', NULL, ids, 2), 0);
    mdl_handoff_item_t *again = mdl_handoff_take (q);
    assert_ptr_equal (again, first);
    assert_ptr_equal (again->ids, arr);
    assert_int_equal (again->nids, 2);
    mdl_handoff_recycle (q, again);
    mdl_handoff_destroy (&q);
}

typedef struct {
    mdl_handoff_t *q;
    int n;
    atomic_int posted;
    int rc;
} s_writer_t;

static void *
s_writer (void *arg)
{
    s_writer_t *w = arg;
    for (int i = 0; i < w->n; i++) {
        w->rc = mdl_handoff_command (w->q, 'A', NULL, NULL, 0);
        if (w->rc)
            break;
        atomic_fetch_add (&w->posted, 1);
    }
    return NULL;
}

static void
s_sleep_ms (long ms)
{
    nanosleep (&(struct timespec){ .tv_sec = 0, .tv_nsec = ms * 1000000L }, NULL);
}

/* Like the socket it replaced (a queue of 1000 messages), a writer that runs cap items
   ahead of its reader waits until the reader takes the queue. */
static void
test_a_full_queue_holds_its_writer_until_the_reader_takes_it (void **state)
{
    int err = 0;
    s_writer_t w = { .q = mdl_handoff_new (2, &err), .n = 3 };
    atomic_init (&w.posted, 0);
    pthread_t t;
    assert_int_equal (pthread_create (&t, NULL, s_writer, &w), 0);
    while (atomic_load (&w.posted) < 2)
        s_sleep_ms (1);
    s_sleep_ms (50); /* time for a third post, had it not waited */
    assert_int_equal (atomic_load (&w.posted), 2);
    mdl_handoff_item_t *list = mdl_handoff_take (w.q);
    assert_non_null (list->next);
    mdl_handoff_recycle (w.q, list);
    pthread_join (t, NULL);
    assert_int_equal (w.rc, 0);
    assert_int_equal (atomic_load (&w.posted), 3);
    list = mdl_handoff_take (w.q);
    assert_non_null (list);
    assert_null (list->next);
    mdl_handoff_recycle (w.q, list);
    mdl_handoff_destroy (&w.q);
}

/* Closing (the comm ends) gives back the blob references still queued, refuses later
   posts (their blob given back too) and frees a writer waiting on a full queue. */
static void
test_close_gives_references_back_and_refuses_posts (void **state)
{
    int err = 0;
    mdl_blobpool_t *pool = mdl_blobpool_new (32, &err);
    assert_int_equal (mdl_blobpool_reserve (pool, 1), 0);
    s_writer_t w = { .q = mdl_handoff_new (2, &err), .n = 5 };
    atomic_init (&w.posted, 0);
    const uint64_t to = 3;
    const mdl_outmsg_t m = { .step = 1 };
    assert_int_equal (mdl_handoff_send (w.q, &m, &to, 1, mdl_blob_take (pool)), 0);
    pthread_t t;
    assert_int_equal (pthread_create (&t, NULL, s_writer, &w), 0);
    while (atomic_load (&w.posted) < 1) /* the queue is full: the writer waits */
        s_sleep_ms (1);
    mdl_handoff_close (w.q);
    pthread_join (t, NULL);
    assert_int_equal (w.rc, MDL_ESOCKET);
    assert_int_equal (atomic_load (&w.posted), 1);
    size_t made, demand;
    mdl_blob_t *b = mdl_blob_take (pool); /* the queued blob is back: no new one made */
    mdl_blobpool_counts (pool, &made, &demand);
    assert_int_equal (made, 1);
    assert_int_equal (demand, 0);
    assert_int_equal (mdl_handoff_send (w.q, &m, &to, 1, b), MDL_ESOCKET);
    b = mdl_blob_take (pool); /* and the refused one */
    mdl_blobpool_counts (pool, &made, &demand);
    assert_int_equal (made, 1);
    mdl_blob_unref (b);
    assert_null (mdl_handoff_take (w.q));
    mdl_handoff_destroy (&w.q);
    mdl_blobpool_destroy (&pool);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_items_come_out_in_order_with_their_contents),
        cmocka_unit_test (test_the_signal_comes_once_per_empty_queue),
        cmocka_unit_test (test_nodes_given_back_are_reused),
        cmocka_unit_test (test_a_full_queue_holds_its_writer_until_the_reader_takes_it),
        cmocka_unit_test (test_close_gives_references_back_and_refuses_posts),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
