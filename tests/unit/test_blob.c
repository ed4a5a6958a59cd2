/*  test_blob.c: pooled payload buffers, their references and their messages in flight. */
#include "testutil.h"

#include <stdlib.h>

#include "blob.h"

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

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_a_blob_is_on_the_wire_until_every_send_of_it_is_released),
        cmocka_unit_test (test_a_recycled_blob_starts_off_the_wire),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
