/*  test_replica.c: a peer's public copy in two buffers (agents/replica.h): the same floats
    as one copy advanced delta by delta, brought forward in place when nobody else holds
    the older buffer, copied when somebody does, reset by keyframes, void after an error. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "err.h"
#include "replica.h"
#include "rng.h"

#define D 5000

typedef struct {
    mdl_codec_t *codec, *key;
    uint8_t *msg;
    size_t cap;
    float x[D];
    mdl_rng_t rng;
} s_fix_t;

static void
s_fix_init (s_fix_t *f, const char *spec)
{
    int err = 0;
    f->codec = mdl_codec_new (spec, D, 3, &err);
    f->key = mdl_codec_new ("fp32", D, 3, &err);
    assert_non_null (f->codec);
    assert_non_null (f->key);
    f->cap = mdl_codec_max_size (f->codec) > mdl_codec_max_size (f->key) ? mdl_codec_max_size (f->codec)
                                                                         : mdl_codec_max_size (f->key);
    f->msg = malloc (f->cap);
    assert_non_null (f->msg);
    mdl_rng_seed (&f->rng, 11, 0);
}

static void
s_fix_fini (s_fix_t *f)
{
    mdl_codec_destroy (&f->codec);
    mdl_codec_destroy (&f->key);
    free (f->msg);
}

/* A fresh random delta, encoded into f->msg; its length. */
static size_t
s_delta (s_fix_t *f)
{
    for (size_t i = 0; i < D; i++)
        f->x[i] = (float) (mdl_rng_uniform (&f->rng) - 0.5) * 0.37f;
    size_t len = 0;
    assert_int_equal (mdl_codec_encode (f->codec, f->x, f->msg, f->cap, &len, NULL), 0);
    return len;
}

/* 40 deltas after a keyframe, for sparse and dense codecs the replicas serve: every version is
   the reference's bit for bit, and with the mailbox letting go of the older buffer in
   time (nobody else holds it here) only the first delta after the keyframe copies. */
static void
test_two_buffers_give_the_floats_of_one_advanced_delta_by_delta (void **state)
{
    const char *specs[] = { "topk:0.01", "topk:0.05+q8", "randk:0.02", "q8", "sign" };
    for (size_t s = 0; s < sizeof specs / sizeof *specs; s++) {
        s_fix_t f;
        s_fix_init (&f, specs[s]);
        int err = 0;
        mdl_replica_t *r = mdl_replica_new (D, &err);
        assert_non_null (r);
        assert_null (mdl_replica_newest (r));
        float *ref = malloc (D * sizeof *ref);
        assert_non_null (ref);
        for (size_t i = 0; i < D; i++)
            f.x[i] = (float) i * 1e-3f - 2.0f;
        size_t len = 0;
        assert_int_equal (mdl_codec_encode (f.key, f.x, f.msg, f.cap, &len, NULL), 0);
        assert_int_equal (mdl_replica_reset (r, f.key, f.msg, len), 0);
        assert_int_equal (mdl_codec_decode (f.key, f.msg, len, ref), 0);
        assert_memory_equal (mdl_replica_newest (r), ref, D * sizeof *ref);
        for (int t = 0; t < 40; t++) {
            len = s_delta (&f);
            assert_int_equal (mdl_replica_advance (r, f.codec, f.msg, len), 0);
            assert_int_equal (mdl_codec_apply (f.codec, f.msg, len, 1.0f, ref), 0);
            if (memcmp (mdl_replica_newest (r), ref, D * sizeof *ref) != 0)
                fail_msg ("%s: version %d differs from one copy advanced delta by delta", specs[s], t + 1);
            assert_ptr_equal (mdl_blob_data (mdl_replica_blob (r)), mdl_replica_newest (r));
        }
        uint64_t copied, advanced;
        mdl_replica_counts (r, &copied, &advanced);
        assert_int_equal (advanced, 40);
        assert_int_equal (copied, 1); /* after the keyframe: nothing related the two yet */
        free (ref);
        mdl_replica_destroy (&r);
        assert_null (r);
        s_fix_fini (&f);
    }
}

/* A mailbox still holding the older buffer (its reader on it): the advance leaves that
   buffer as it was and copies the newest into a fresh one; the versions stay exact. The
   held buffer outlives the replica until its holder lets go. */
static void
test_a_held_buffer_is_not_written_and_the_newest_is_copied (void **state)
{
    s_fix_t f;
    s_fix_init (&f, "topk:0.02");
    int err = 0;
    mdl_replica_t *r = mdl_replica_new (D, &err);
    assert_non_null (r);
    float *ref = calloc (D, sizeof *ref);
    assert_non_null (ref);
    size_t len = 0;
    assert_int_equal (mdl_codec_encode (f.key, ref, f.msg, f.cap, &len, NULL), 0);
    assert_int_equal (mdl_replica_reset (r, f.key, f.msg, len), 0);
    mdl_blob_t *held = NULL;
    float *seen = malloc (D * sizeof *seen);
    assert_non_null (seen);
    for (int t = 0; t < 12; t++) {
        len = s_delta (&f);
        if (t % 3 == 1) { /* a reader takes the newest and keeps it over the next advance */
            held = mdl_replica_blob (r);
            mdl_blob_ref (held, 1);
            memcpy (seen, mdl_blob_data (held), D * sizeof *seen);
            assert_non_null (mdl_replica_spare (r));
        }
        assert_int_equal (mdl_replica_advance (r, f.codec, f.msg, len), 0);
        assert_int_equal (mdl_codec_apply (f.codec, f.msg, len, 1.0f, ref), 0);
        assert_memory_equal (mdl_replica_newest (r), ref, D * sizeof *ref);
        if (held && t % 3 == 2) { /* two advances later: what it read never moved */
            assert_memory_equal (mdl_blob_data (held), seen, D * sizeof *seen);
            assert_true (mdl_replica_newest (r) != (const float *) mdl_blob_data (held));
            mdl_blob_unref (held);
            held = NULL;
        }
    }
    uint64_t copied, advanced;
    mdl_replica_counts (r, &copied, &advanced);
    assert_int_equal (advanced, 12);
    assert_int_equal (copied, 1 + 4); /* the first, and each advance onto a held buffer */
    /* held across the replica's end: still readable, freed at the holder's release */
    held = mdl_replica_blob (r);
    mdl_blob_ref (held, 1);
    memcpy (seen, mdl_blob_data (held), D * sizeof *seen);
    mdl_replica_destroy (&r);
    assert_memory_equal (mdl_blob_data (held), seen, D * sizeof *seen);
    mdl_blob_unref (held);
    free (seen);
    free (ref);
    s_fix_fini (&f);
}

/* A delta with no version to advance is refused; a bad payload voids the replica until a
   keyframe; a keyframe after deltas starts over (its next delta copies once). */
static void
test_errors_void_the_replica_until_a_keyframe (void **state)
{
    s_fix_t f;
    s_fix_init (&f, "topk:0.01");
    int err = 0;
    mdl_replica_t *r = mdl_replica_new (D, &err);
    assert_non_null (r);
    assert_null (mdl_replica_new (0, &err));
    assert_int_equal (err, MDL_EINVAL);
    size_t len = s_delta (&f);
    assert_int_equal (mdl_replica_advance (r, f.codec, f.msg, len), MDL_EINVAL);
    float *ref = calloc (D, sizeof *ref);
    assert_non_null (ref);
    size_t klen = 0;
    uint8_t *key = malloc (f.cap);
    assert_non_null (key);
    assert_int_equal (mdl_codec_encode (f.key, ref, key, f.cap, &klen, NULL), 0);
    assert_int_equal (mdl_replica_reset (r, f.key, key, klen), 0);
    assert_int_equal (mdl_replica_advance (r, f.codec, f.msg, len), 0);
    assert_int_not_equal (mdl_replica_advance (r, f.codec, f.msg, len / 2), 0); /* truncated */
    assert_null (mdl_replica_newest (r));
    assert_null (mdl_replica_blob (r));
    assert_int_equal (mdl_replica_advance (r, f.codec, f.msg, len), MDL_EINVAL);
    assert_int_not_equal (mdl_replica_reset (r, f.key, key, klen - 4), 0);
    assert_null (mdl_replica_newest (r));
    assert_int_equal (mdl_replica_reset (r, f.key, key, klen), 0);
    assert_memory_equal (mdl_replica_newest (r), ref, D * sizeof *ref);
    for (int t = 0; t < 3; t++) {
        len = s_delta (&f);
        assert_int_equal (mdl_replica_advance (r, f.codec, f.msg, len), 0);
        assert_int_equal (mdl_codec_apply (f.codec, f.msg, len, 1.0f, ref), 0);
        assert_memory_equal (mdl_replica_newest (r), ref, D * sizeof *ref);
    }
    uint64_t copied, advanced;
    mdl_replica_counts (r, &copied, &advanced);
    assert_int_equal (advanced, 4);
    assert_int_equal (copied, 2); /* after each keyframe */
    free (key);
    free (ref);
    mdl_replica_destroy (&r);
    s_fix_fini (&f);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_two_buffers_give_the_floats_of_one_advanced_delta_by_delta),
        cmocka_unit_test (test_a_held_buffer_is_not_written_and_the_newest_is_copied),
        cmocka_unit_test (test_errors_void_the_replica_until_a_keyframe),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
