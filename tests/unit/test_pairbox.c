/*  test_pairbox.c: AD-PSGD's queue of pair messages between a comm actor (writer) and its
    worker (reader): messages come out in order with their vectors, a full or closed box
    refuses puts, and a close waits for a put already begun, so that the reader's drain
    after the close sees it (a request filed after that drain was never answered, and
    its requester waited out --sync-timeout). */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "pairbox.h"

static void
test_messages_come_out_in_order_and_a_full_or_closed_box_refuses (void **state)
{
    (void) state;
    int err = 0;
    mdl_pairbox_t *b = mdl_pairbox_new (3, 2, &err);
    assert_non_null (b);
    for (uint64_t k = 1; k <= 2; k++) {
        float *v = mdl_pairbox_put_begin (b);
        assert_non_null (v);
        v[0] = v[1] = v[2] = (float) k;
        mdl_pairbox_put_end (b, 100 + k, k, MDL_PAIR_REQ);
    }
    assert_null (mdl_pairbox_put_begin (b)); /* full */
    mdl_pair_msg_t m;
    for (uint64_t k = 1; k <= 2; k++) {
        assert_true (mdl_pairbox_front (b, &m));
        assert_int_equal (m.peer, 100 + k);
        assert_int_equal (m.seq, k);
        assert_true (m.v && m.v[2] == (float) k);
        mdl_pairbox_pop (b);
    }
    assert_false (mdl_pairbox_front (b, &m));
    mdl_pairbox_close (b);
    assert_null (mdl_pairbox_put_begin (b)); /* closed */
    mdl_pairbox_destroy (&b);
}

typedef struct {
    mdl_pairbox_t *b;
    atomic_int begun;
} s_writer_t;

static void *
s_slow_writer (void *arg)
{
    s_writer_t *w = arg;
    float *v = mdl_pairbox_put_begin (w->b);
    atomic_store (&w->begun, v ? 1 : -1);
    if (!v)
        return NULL;
    struct timespec ts = { 0, 100 * 1000000 }; /* a decode that takes a while */
    nanosleep (&ts, NULL);
    v[0] = 7;
    mdl_pairbox_put_end (w->b, 42, 9, MDL_PAIR_REQ);
    return NULL;
}

static void
test_a_close_waits_for_a_put_begun_before_it (void **state)
{
    (void) state;
    int err = 0;
    s_writer_t w = { .b = mdl_pairbox_new (1, 4, &err) };
    assert_non_null (w.b);
    pthread_t t;
    assert_int_equal (pthread_create (&t, NULL, s_slow_writer, &w), 0);
    while (atomic_load (&w.begun) == 0)
        sched_yield ();
    assert_int_equal (atomic_load (&w.begun), 1);
    mdl_pairbox_close (w.b);
    /* the put begun before the close is in the box once the close returns */
    mdl_pair_msg_t m;
    assert_true (mdl_pairbox_front (w.b, &m));
    assert_int_equal (m.peer, 42);
    assert_int_equal (m.seq, 9);
    assert_true (m.v && m.v[0] == 7);
    pthread_join (t, NULL);
    mdl_pairbox_destroy (&w.b);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_messages_come_out_in_order_and_a_full_or_closed_box_refuses),
        cmocka_unit_test (test_a_close_waits_for_a_put_begun_before_it),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
