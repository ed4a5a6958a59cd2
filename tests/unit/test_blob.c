/*  test_blob.c: pooled payload buffers, their references and their messages in flight. */
#include "testutil.h"

#include <stdlib.h>
#include <time.h>

#include "blob.h"
#include "clock.h"

static void
s_sleep_ms (long ms)
{
    nanosleep (&(struct timespec) { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L }, NULL);
}

/* A state is "on the wire" from each send's hold until that message's release, whatever
   order the releases come in; a resend (comm.c) is skipped meanwhile. */
static void
test_a_blob_is_on_the_wire_until_every_send_of_it_is_released (void **state)
{
    int err = 0;
    mdl_blobpool_t *pool = mdl_blobpool_new (64, &err);
    assert_non_null (pool);
    mdl_blob_t *b = mdl_blob_take (pool);
    assert_non_null (b);
    assert_false (mdl_blob_on_wire (b));
    mdl_blob_ref (b, 2);
    mdl_blob_wire_hold (b);
    mdl_blob_wire_hold (b);
    assert_true (mdl_blob_on_wire (b));
    mdl_blob_free_fn (mdl_blob_data (b), b);
    assert_true (mdl_blob_on_wire (b));
    mdl_blob_free_fn (mdl_blob_data (b), b);
    assert_false (mdl_blob_on_wire (b));
    mdl_blob_unref (b); /* the taker's reference: back to the pool */
    mdl_blobpool_destroy (&pool);
}

/* A buffer taken again from the pool starts with nothing in flight. */
static void
test_a_recycled_blob_starts_off_the_wire (void **state)
{
    int err = 0;
    mdl_blobpool_t *pool = mdl_blobpool_new (64, &err);
    assert_non_null (pool);
    mdl_blob_t *b = mdl_blob_take (pool);
    mdl_blob_ref (b, 1);
    mdl_blob_wire_hold (b);
    mdl_blob_unref (b);
    mdl_blob_free_fn (mdl_blob_data (b), b); /* the last reference: returned */
    mdl_blob_t *c = mdl_blob_take (pool);
    assert_ptr_equal (c, b);
    assert_false (mdl_blob_on_wire (c));
    mdl_blob_unref (c);
    mdl_blobpool_destroy (&pool);
}

/* The pool's busy time is the union of its messages' times on the wire: it grows while
   one is held (two overlapping holds count once) and stands still while none is. */
static void
test_the_pools_wire_time_is_the_union_of_its_messages_times_on_the_wire (void **state)
{
    int err = 0;
    mdl_blobpool_t *pool = mdl_blobpool_new (64, &err);
    assert_non_null (pool);
    assert_true (mdl_blobpool_wire_busy (pool) == 0.0);
    mdl_blob_t *a = mdl_blob_take (pool), *b = mdl_blob_take (pool);
    mdl_blob_ref (a, 1);
    mdl_blob_ref (b, 1);
    const double t0 = mdl_now ();
    mdl_blob_wire_hold (a);
    s_sleep_ms (60);
    mdl_blob_wire_hold (b); /* overlaps a's */
    s_sleep_ms (60);
    mdl_blob_free_fn (mdl_blob_data (a), a);
    s_sleep_ms (60);
    double held = mdl_blobpool_wire_busy (pool); /* b still held: counted up to now */
    assert_true (held >= 0.18);
    mdl_blob_free_fn (mdl_blob_data (b), b);
    const double t1 = mdl_now ();
    double busy = mdl_blobpool_wire_busy (pool);
    /* the overlap (>= 60 ms) counted once: a's time plus b's would exceed t1 - t0 */
    assert_true (busy >= 0.18 && busy <= t1 - t0);
    s_sleep_ms (100);
    assert_true (mdl_blobpool_wire_busy (pool) == busy); /* nothing held: it stands */
    mdl_blob_unref (a);
    mdl_blob_unref (b);
    mdl_blobpool_destroy (&pool);
}

/* reserve makes buffers up to a total (those out count), never fewer than made; a take
   from an empty pool makes one and says so (on_demand). */
static void
test_reserve_fills_up_to_a_total_and_takes_from_an_empty_pool_are_counted (void **state)
{
    int err = 0;
    mdl_blobpool_t *pool = mdl_blobpool_new (64, &err);
    assert_non_null (pool);
    size_t made, demand;
    assert_int_equal (mdl_blobpool_reserve (pool, 3), 0);
    mdl_blobpool_counts (pool, &made, &demand);
    assert_int_equal (made, 3);
    assert_int_equal (demand, 0);
    mdl_blob_t *b[5];
    for (int i = 0; i < 3; i++)
        assert_non_null (b[i] = mdl_blob_take (pool));
    mdl_blobpool_counts (pool, &made, &demand);
    assert_int_equal (made, 3); /* the three reserved */
    assert_int_equal (demand, 0);
    assert_non_null (b[3] = mdl_blob_take (pool)); /* empty: made on the spot */
    mdl_blobpool_counts (pool, &made, &demand);
    assert_int_equal (made, 4);
    assert_int_equal (demand, 1);
    assert_int_equal (mdl_blobpool_reserve (pool, 4), 0); /* 4 made, 4 out: nothing to add */
    assert_int_equal (mdl_blobpool_reserve (pool, 2), 0); /* fewer than made: nothing */
    mdl_blobpool_counts (pool, &made, &demand);
    assert_int_equal (made, 4);
    assert_int_equal (mdl_blobpool_reserve (pool, 5), 0); /* one more, free, while 4 are out */
    assert_non_null (b[4] = mdl_blob_take (pool));
    mdl_blobpool_counts (pool, &made, &demand);
    assert_int_equal (made, 5);
    assert_int_equal (demand, 1);
    for (int i = 0; i < 5; i++)
        mdl_blob_unref (b[i]);
    mdl_blobpool_destroy (&pool);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_a_blob_is_on_the_wire_until_every_send_of_it_is_released),
        cmocka_unit_test (test_a_recycled_blob_starts_off_the_wire),
        cmocka_unit_test (test_the_pools_wire_time_is_the_union_of_its_messages_times_on_the_wire),
        cmocka_unit_test (test_reserve_fills_up_to_a_total_and_takes_from_an_empty_pool_are_counted),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
