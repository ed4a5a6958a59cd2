/*  test_mailroom.c: the per-peer double-buffered mailboxes shared by comm and worker. */
#include "testutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "mailroom.h"

static void
s_put (mdl_mailroom_t *r, uint64_t peer, uint64_t step, float v, bool parity)
{
    float *slot = mdl_mailroom_write_begin (r, peer, 0, step, parity);
    assert_non_null (slot);
    for (int i = 0; i < 4; i++)
        slot[i] = v;
    mdl_slot_meta_t m = { .step = step, .seq = step };
    mdl_mailroom_write_end (r, peer, 0, &m);
}

static void
test_newest_state_is_read_and_unknown_peers_give_nothing (void **state)
{
    int err;
    mdl_mailroom_t *r = mdl_mailroom_new (4, 1, 8, &err);
    assert_non_null (r);
    assert_null (mdl_mailroom_write_begin (r, 7, 0, 1, false));
    assert_int_equal (mdl_mailroom_add (r, 7), 0);
    assert_int_equal (mdl_mailroom_add (r, 7), 0); /* idempotent */
    mdl_slot_meta_t m;
    assert_null (mdl_mailroom_read_begin (r, 7, 0, UINT64_MAX, &m));
    s_put (r, 7, 1, 1.0f, false);
    s_put (r, 7, 2, 2.0f, false);
    s_put (r, 7, 3, 3.0f, false);
    const float *v = mdl_mailroom_read_begin (r, 7, 0, UINT64_MAX, &m);
    assert_non_null (v);
    assert_int_equal (m.step, 3);
    assert_true (v[0] == 3.0f);
    mdl_mailroom_read_end (r, 7, 0);
    assert_null (mdl_mailroom_read_begin (r, 7, 1, UINT64_MAX, &m)); /* channel out of range */
    mdl_mailroom_destroy (&r);
    assert_null (r);
}

static void
test_writer_never_overwrites_the_slot_being_read (void **state)
{
    int err;
    mdl_mailroom_t *r = mdl_mailroom_new (4, 1, 8, &err);
    mdl_mailroom_add (r, 1);
    s_put (r, 1, 10, 10.0f, false);
    mdl_slot_meta_t m;
    const float *v = mdl_mailroom_read_begin (r, 1, 0, UINT64_MAX, &m);
    assert_true (v[0] == 10.0f);
    /* while reading: two more writes land in the other slot */
    s_put (r, 1, 11, 11.0f, false);
    s_put (r, 1, 12, 12.0f, false);
    assert_true (v[0] == 10.0f);
    mdl_mailroom_read_end (r, 1, 0);
    v = mdl_mailroom_read_begin (r, 1, 0, UINT64_MAX, &m);
    assert_int_equal (m.step, 12);
    mdl_mailroom_read_end (r, 1, 0);
    mdl_mailroom_destroy (&r);
}

static void
test_sync_rounds_keep_round_t_while_round_t_plus_1_arrives (void **state)
{
    int err;
    mdl_mailroom_t *r = mdl_mailroom_new (4, 1, 8, &err);
    mdl_mailroom_add (r, 2);
    s_put (r, 2, 4, 4.0f, true);
    s_put (r, 2, 5, 5.0f, true); /* the neighbour is one round ahead */
    mdl_slot_meta_t m;
    const float *v = mdl_mailroom_read_begin (r, 2, 0, 4, &m);
    assert_non_null (v);
    assert_true (v[0] == 4.0f);
    mdl_mailroom_read_end (r, 2, 0);
    assert_null (mdl_mailroom_read_begin (r, 2, 0, 3, &m)); /* round 3 is gone */
    mdl_mailroom_clear (r, 2);
    assert_null (mdl_mailroom_read_begin (r, 2, 0, UINT64_MAX, &m));
    mdl_mailroom_destroy (&r);
}

static void
s_count_release (void *hint)
{
    (*(int *) hint)++;
}

/* read_done: a state held by reference goes back to its owner when the round's read
   ends, not two rounds later when its slot is rewritten; the slot's step stays known. */
static void
test_read_done_releases_a_reference_at_once_and_keeps_the_step (void **state)
{
    int err, released = 0;
    mdl_mailroom_t *r = mdl_mailroom_new (4, 1, 8, &err);
    mdl_mailroom_add (r, 3);
    const float ext[4] = { 7.0f, 7.0f, 7.0f, 7.0f };
    mdl_slot_meta_t m = { .step = 6, .seq = 6 };
    assert_int_equal (mdl_mailroom_file_ref (r, 3, 0, true, ext, s_count_release, &released, &m), 0);
    s_put (r, 3, 7, 8.0f, true); /* round 7 (own storage) in the other slot */
    const float *v = mdl_mailroom_read_begin (r, 3, 0, 6, &m);
    assert_ptr_equal (v, ext);
    mdl_mailroom_read_done (r, 3, 0);
    assert_int_equal (released, 1);
    assert_null (mdl_mailroom_read_begin (r, 3, 0, 6, &m)); /* read: nothing left to mix */
    v = mdl_mailroom_read_begin (r, 3, 0, 7, &m); /* a vector of its own is kept */
    assert_non_null (v);
    assert_true (v[0] == 8.0f);
    mdl_mailroom_read_done (r, 3, 0);
    assert_non_null (mdl_mailroom_read_begin (r, 3, 0, 7, &m));
    mdl_mailroom_read_end (r, 3, 0);
    s_put (r, 3, 8, 9.0f, true); /* rewrites round 6's slot: no second release */
    assert_true (mdl_mailroom_peek (r, 3, 0, &m));
    assert_int_equal (m.step, 8);
    mdl_mailroom_destroy (&r);
    assert_int_equal (released, 1);
}

/* release_ref: the writer takes its buffer back from the slot that holds it by reference
   (replica.h), never from under a reader, never another vector; the slot then reads as
   empty and is filed again as usual. */
static void
test_release_ref_gives_a_buffer_back_unless_it_is_being_read (void **state)
{
    int err, released = 0;
    mdl_mailroom_t *r = mdl_mailroom_new (4, 1, 8, &err);
    mdl_mailroom_add (r, 3);
    const float ext[4] = { 7.0f, 7.0f, 7.0f, 7.0f }, other[4] = { 1.0f, 1.0f, 1.0f, 1.0f };
    mdl_slot_meta_t m = { .step = 6, .seq = 6 };
    assert_int_equal (mdl_mailroom_file_ref (r, 3, 0, false, ext, s_count_release, &released, &m), 0);
    assert_false (mdl_mailroom_release_ref (r, 3, 0, other)); /* not held there */
    assert_false (mdl_mailroom_release_ref (r, 4, 0, ext));   /* unknown peer */
    assert_false (mdl_mailroom_release_ref (r, 3, 0, NULL));
    assert_ptr_equal (mdl_mailroom_read_begin (r, 3, 0, UINT64_MAX, &m), ext);
    assert_false (mdl_mailroom_release_ref (r, 3, 0, ext)); /* being read */
    assert_int_equal (released, 0);
    mdl_mailroom_read_end (r, 3, 0);
    assert_true (mdl_mailroom_release_ref (r, 3, 0, ext));
    assert_int_equal (released, 1);
    assert_null (mdl_mailroom_read_begin (r, 3, 0, UINT64_MAX, &m));
    assert_false (mdl_mailroom_release_ref (r, 3, 0, ext)); /* once */
    m = (mdl_slot_meta_t) { .step = 7, .seq = 7 };
    assert_int_equal (mdl_mailroom_file_ref (r, 3, 0, false, other, s_count_release, &released, &m), 0);
    assert_ptr_equal (mdl_mailroom_read_begin (r, 3, 0, UINT64_MAX, &m), other);
    mdl_mailroom_read_end (r, 3, 0);
    assert_int_equal (released, 1);
    mdl_mailroom_destroy (&r);
    assert_int_equal (released, 2);
}

static void
test_capacity_is_enforced (void **state)
{
    int err;
    mdl_mailroom_t *r = mdl_mailroom_new (4, 2, 2, &err);
    assert_int_equal (mdl_mailroom_add (r, 1), 0);
    assert_int_equal (mdl_mailroom_add (r, 2), 0);
    assert_int_equal (mdl_mailroom_add (r, 3), MDL_ERANGE);
    mdl_mailroom_destroy (&r);
    assert_null (mdl_mailroom_new (4, 0, 2, &err));
}

typedef struct {
    mdl_mailroom_t *r;
} s_arg_t;

static void *
s_writer (void *arg)
{
    s_arg_t *a = arg;
    usleep (50000);
    s_put (a->r, 9, 1, 1.0f, true);
    return NULL;
}

static bool
s_has_round_1 (void *arg)
{
    mdl_slot_meta_t m;
    return mdl_mailroom_peek (arg, 9, 0, &m) && m.step == 1;
}

/* A reader waits (at most 10 s) for peer 9's round 1, which writer writes in a thread;
   then r is destroyed. */
static void
s_wait_for_writer (mdl_mailroom_t *r, void *(*writer) (void *))
{
    s_arg_t a = { r };
    pthread_t t;
    pthread_create (&t, NULL, writer, &a);
    assert_true (mdl_mailroom_wait (r, s_has_round_1, r, 10.0));
    pthread_join (t, NULL);
    mdl_mailroom_destroy (&r);
}

static void
test_wait_wakes_when_the_round_arrives_and_times_out_otherwise (void **state)
{
    int err;
    mdl_mailroom_t *r = mdl_mailroom_new (4, 1, 8, &err);
    mdl_mailroom_add (r, 9);
    assert_false (mdl_mailroom_wait (r, s_has_round_1, r, 0.05));
    s_wait_for_writer (r, s_writer);
}

static void *
s_batch_writer (void *arg)
{
    s_arg_t *a = arg;
    mdl_mailroom_batch_begin (a->r);
    s_put (a->r, 9, 1, 1.0f, true);
    usleep (50000); /* (the reader may look meanwhile: it sees the write) */
    mdl_mailroom_batch_end (a->r);
    return NULL;
}

static void
test_a_batch_of_writes_wakes_the_reader_once_at_its_end (void **state)
{
    int err;
    mdl_mailroom_t *r = mdl_mailroom_new (4, 1, 16, &err);
    for (uint64_t p = 1; p <= 10; p++)
        mdl_mailroom_add (r, p);
    s_put (r, 1, 0, 1.0f, true);
    const uint64_t w0 = mdl_mailroom_wakeups (r);
    assert_int_equal (w0, 1); /* a write on its own wakes the reader */
    /* the states of a round from 10 in-neighbours, and a marker: seen at once, one wake-up */
    mdl_mailroom_batch_begin (r);
    for (uint64_t p = 1; p <= 10; p++)
        s_put (r, p, 1, (float) p, true);
    mdl_slot_meta_t lost = { .step = 2, .lost = true };
    assert_true (mdl_mailroom_mark (r, 3, 0, true, &lost));
    mdl_slot_meta_t m;
    assert_true (mdl_mailroom_peek (r, 10, 0, &m));
    assert_int_equal (m.step, 1);
    assert_int_equal (mdl_mailroom_wakeups (r), w0);
    mdl_mailroom_batch_end (r);
    assert_int_equal (mdl_mailroom_wakeups (r), w0 + 1);
    mdl_mailroom_batch_begin (r); /* nothing written: nobody woken */
    mdl_mailroom_batch_end (r);
    assert_int_equal (mdl_mailroom_wakeups (r), w0 + 1);
    mdl_mailroom_destroy (&r);
    /* a reader asleep while the batch is written wakes at its end */
    r = mdl_mailroom_new (4, 1, 8, &err);
    mdl_mailroom_add (r, 9);
    s_wait_for_writer (r, s_batch_writer);
}

/* Peers with a mailbox now (a box removed while read is not one). */
static size_t
s_boxes (mdl_mailroom_t *r)
{
    size_t n = 0;
    mdl_mailroom_usage (r, &n, NULL);
    return n;
}

static void
test_a_removed_peer_frees_its_mailboxes_once_no_longer_read (void **state)
{
    int err;
    mdl_mailroom_t *r = mdl_mailroom_new (4, 2, 8, &err);
    assert_int_equal (mdl_mailroom_add (r, 7), 0);
    assert_int_equal (mdl_mailroom_add (r, 8), 0);
    assert_int_equal (s_boxes (r), 2);
    s_put (r, 7, 1, 1.0f, false);
    mdl_mailroom_remove (r, 8);
    assert_int_equal (s_boxes (r), 1); /* idle: freed at once */
    /* 7 is being read when it leaves: its vector stays valid until the read ends */
    mdl_slot_meta_t m;
    const float *v = mdl_mailroom_read_begin (r, 7, 0, UINT64_MAX, &m);
    assert_non_null (v);
    mdl_mailroom_remove (r, 7);
    assert_null (mdl_mailroom_read_begin (r, 7, 0, UINT64_MAX, &m)); /* gone for new reads */
    assert_null (mdl_mailroom_write_begin (r, 7, 0, 2, false));
    assert_int_equal (s_boxes (r), 0);
    assert_true (v[0] == 1.0f); /* still readable (ASan would see a use after free) */
    /* it comes back before the read ends: a fresh box, and the old one goes at read_end */
    assert_int_equal (mdl_mailroom_add (r, 7), 0);
    assert_int_equal (s_boxes (r), 1);
    mdl_mailroom_read_end (r, 7, 0);
    assert_int_equal (s_boxes (r), 1);
    s_put (r, 7, 3, 3.0f, false);
    v = mdl_mailroom_read_begin (r, 7, 0, UINT64_MAX, &m);
    assert_true (v && v[0] == 3.0f && m.step == 3);
    mdl_mailroom_read_end (r, 7, 0);
    /* peers that come and go never take more than the live ones' boxes */
    for (uint64_t id = 100; id < 1100; id++) {
        assert_int_equal (mdl_mailroom_add (r, id), 0);
        mdl_mailroom_remove (r, id);
    }
    assert_int_equal (s_boxes (r), 1);
    mdl_mailroom_destroy (&r);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_newest_state_is_read_and_unknown_peers_give_nothing),
        cmocka_unit_test (test_writer_never_overwrites_the_slot_being_read),
        cmocka_unit_test (test_sync_rounds_keep_round_t_while_round_t_plus_1_arrives),
        cmocka_unit_test (test_read_done_releases_a_reference_at_once_and_keeps_the_step),
        cmocka_unit_test (test_release_ref_gives_a_buffer_back_unless_it_is_being_read),
        cmocka_unit_test (test_capacity_is_enforced),
        cmocka_unit_test (test_a_removed_peer_frees_its_mailboxes_once_no_longer_read),
        cmocka_unit_test (test_wait_wakes_when_the_round_arrives_and_times_out_otherwise),
        cmocka_unit_test (test_a_batch_of_writes_wakes_the_reader_once_at_its_end),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
