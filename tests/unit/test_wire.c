/*  test_wire.c: the header round trip and every way a received update is refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "testutil.h"

#include "codec.h"
#include "err.h"
#include "wire.h"

#define D 1000
#define SELF 0x1234abcdULL

typedef struct {
    mdl_codec_t *tx, *rx;
    mdl_wire_header_t h;
    mdl_wire_expect_t exp;
    char topic[MDL_WIRE_TOPIC_MAX];
    size_t topic_len;
    uint8_t head[MDL_WIRE_HEADER_MAX];
    size_t head_len;
    uint8_t *payload;
    size_t payload_len;
    mdl_wire_frame_t f[4];
    float x[D], y[D];
} s_msg_t;

/* A valid update from sender 7 to SELF, top-k 10 of D floats. */
static s_msg_t *
s_msg_new (const char *spec)
{
    s_msg_t *m = calloc (1, sizeof *m);
    int err;
    m->tx = mdl_codec_new (spec, D, 1, &err);
    m->rx = mdl_codec_new (spec, D, 2, &err);
    assert_non_null (m->tx);
    for (size_t i = 0; i < D; i++)
        m->x[i] = sinf ((float) i);
    const uint64_t cluster = mdl_wire_cluster_id ("lab");
    mdl_wire_header_init (&m->h, cluster, 7, m->tx);
    m->h.seq = 42;
    m->h.step = 1000;
    m->h.timestamp_us = 1700000000000000ULL;
    m->h.kind = MDL_KIND_DELTA;
    m->h.keyframe = true;
    m->h.loss = 0.25;
    m->h.aux = 0.5;
    m->payload = mdl_wire_payload_alloc (mdl_codec_max_size (m->tx));
    assert_int_equal (mdl_codec_encode (m->tx, m->x, m->payload, mdl_codec_max_size (m->tx),
                                        &m->payload_len, NULL),
                      0);
    m->h.payload_len = m->payload_len;
    assert_int_equal (mdl_wire_pack (&m->h, m->head, sizeof m->head, &m->head_len), 0);
    m->topic_len = mdl_wire_topic (SELF, m->topic);
    mdl_wire_expect_init (&m->exp, cluster, SELF, m->rx);
    m->f[0] = (mdl_wire_frame_t) { m->topic, m->topic_len };
    m->f[1] = (mdl_wire_frame_t) { m->head, m->head_len };
    m->f[2] = (mdl_wire_frame_t) { m->payload, m->payload_len };
    m->f[3] = (mdl_wire_frame_t) { "x", 1 };
    return m;
}

static void
s_msg_destroy (s_msg_t *m)
{
    mdl_codec_destroy (&m->tx);
    mdl_codec_destroy (&m->rx);
    mdl_wire_payload_free (m->payload, NULL);
    free (m);
}

/* repacks the header after a change to m->h */
static void
s_repack (s_msg_t *m)
{
    assert_int_equal (mdl_wire_pack (&m->h, m->head, sizeof m->head, &m->head_len), 0);
    m->f[1].len = m->head_len;
}

static int
s_decode (s_msg_t *m, size_t nframes)
{
    mdl_wire_header_t h;
    return mdl_wire_decode (m->f, nframes, &m->exp, m->rx, &h, m->y);
}

static void
test_header_round_trips_every_field_and_is_standard_msgpack (void **state)
{
    s_msg_t *m = s_msg_new ("topk:10+q8");
    mdl_wire_header_t h;
    assert_int_equal (mdl_wire_unpack (m->head, m->head_len, &h), 0);
    assert_int_equal (h.version, MDL_WIRE_VERSION);
    assert_true (h.cluster == m->h.cluster && h.sender == 7 && h.seq == 42 && h.step == 1000);
    assert_true (h.timestamp_us == m->h.timestamp_us && h.kind == MDL_KIND_DELTA);
    assert_true (h.keyframe && h.loss == 0.25 && h.aux == 0.5 && h.d == D);
    assert_true (h.payload_len == m->payload_len);
    assert_memory_equal (&h.codec, &m->h.codec, sizeof h.codec);
    assert_int_equal (h.codec.id, MDL_CODEC_TOPK);
    assert_int_equal (h.codec.vid, MDL_CODEC_Q8);

    /* msgpack-c reads it as an array of 14 whose first element is "MDL" */
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    size_t off = 0;
    assert_int_equal (msgpack_unpack_next (&u, (const char *) m->head, m->head_len, &off),
                      MSGPACK_UNPACK_SUCCESS);
    assert_int_equal (u.data.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal (u.data.via.array.size, 14);
    assert_int_equal (u.data.via.array.ptr[0].via.str.size, 3);
    assert_memory_equal (u.data.via.array.ptr[0].via.str.ptr, "MDL", 3);
    msgpack_unpacked_destroy (&u);

    /* the largest header fits MDL_WIRE_HEADER_MAX */
    memset (&h, 0xff, sizeof h);
    h.version = 1;
    h.keyframe = true;
    size_t len;
    uint8_t buf[MDL_WIRE_HEADER_MAX];
    assert_int_equal (mdl_wire_pack (&h, buf, sizeof buf, &len), 0);
    assert_true (len <= 180);
    assert_int_equal (mdl_wire_pack (&h, buf, len - 1, &len), MDL_EINVAL);
    s_msg_destroy (m);
}

static void
test_a_valid_update_decodes_to_what_the_sender_encoded (void **state)
{
    const char *specs[] = { "topk:10", "q8", "randk:0.1+fp16", "fp32" };
    for (int s = 0; s < 4; s++) {
        s_msg_t *m = s_msg_new (specs[s]);
        float ref[D];
        assert_int_equal (mdl_codec_decode (m->tx, m->payload, m->payload_len, ref), 0);
        assert_int_equal (s_decode (m, 3), 0);
        assert_memory_equal (ref, m->y, sizeof ref);
        /* broadcast topic too */
        m->f[0] = (mdl_wire_frame_t) { "U", 1 };
        assert_int_equal (s_decode (m, 3), 0);
        s_msg_destroy (m);
    }
}

static void
test_wrong_frame_counts_are_refused (void **state)
{
    s_msg_t *m = s_msg_new ("topk:10");
    assert_int_equal (s_decode (m, 2), MDL_EWIRE_FRAMES);
    assert_int_equal (s_decode (m, 4), MDL_EWIRE_FRAMES);
    assert_int_equal (s_decode (m, 0), MDL_EWIRE_FRAMES);
    s_msg_destroy (m);
}

static void
test_topics_are_broadcast_or_addressed_to_self_only (void **state)
{
    /* the cluster id is the 64-bit FNV-1a of the name (beacons use the same) */
    assert_true (mdl_wire_cluster_id ("lab") == 0x126596191dc1ebb4ULL);
    char t[MDL_WIRE_TOPIC_MAX];
    assert_int_equal (mdl_wire_topic (MDL_WIRE_BROADCAST, t), 1);
    assert_int_equal (t[0], 'U');
    assert_int_equal (mdl_wire_topic (0x1aULL, t), 17);
    assert_memory_equal (t, "T000000000000001a", 17);
    assert_int_equal (mdl_wire_check_topic (t, 17, 0x1a), 0);
    assert_int_equal (mdl_wire_check_topic (t, 17, 0x1b), MDL_EWIRE_TOPIC);
    assert_int_equal (mdl_wire_check_topic (t, 16, 0x1a), MDL_EWIRE_TOPIC);
    assert_int_equal (mdl_wire_check_topic ("UU", 2, 0x1a), MDL_EWIRE_TOPIC);
    assert_int_equal (mdl_wire_check_topic ("", 0, 0x1a), MDL_EWIRE_TOPIC);
    s_msg_t *m = s_msg_new ("topk:10");
    m->f[0] = (mdl_wire_frame_t) { "T000000000000001A", 17 };
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_TOPIC);
    s_msg_destroy (m);
}

static void
test_wrong_magic_version_cluster_dimension_or_codec_are_refused (void **state)
{
    s_msg_t *m = s_msg_new ("topk:10");
    m->head[2] = 'X'; /* "MDL" -> "MXL" */
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_MAGIC);
    s_repack (m);
    assert_int_equal (s_decode (m, 3), 0);

    m->h.version = 2;
    s_repack (m);
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_VERSION);
    m->h.version = 1;

    m->h.cluster ^= 1;
    s_repack (m);
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_CLUSTER);
    m->h.cluster ^= 1;

    m->h.d = D + 1;
    s_repack (m);
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_DIM);
    m->h.d = D;

    const mdl_codec_params_t good = m->h.codec;
    m->h.codec.k = 11;
    s_repack (m);
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_CODEC);
    m->h.codec = good;
    m->h.codec.vid = MDL_CODEC_Q8;
    s_repack (m);
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_CODEC);
    m->h.codec = good;

    m->h.loss = NAN;
    s_repack (m);
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_NONFINITE);
    m->h.loss = 1;
    m->h.aux = -INFINITY;
    s_repack (m);
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_NONFINITE);
    m->h.aux = 0;

    m->h.kind = 256;
    s_repack (m);
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_HEADER);
    m->h.kind = 0;
    s_repack (m);
    assert_int_equal (s_decode (m, 3), 0);
    s_msg_destroy (m);
}

static void
test_truncated_oversized_and_malformed_headers_are_refused (void **state)
{
    s_msg_t *m = s_msg_new ("topk:10");
    uint8_t saved[MDL_WIRE_HEADER_MAX + 8];
    memcpy (saved, m->head, m->head_len);
    const size_t len = m->head_len;
    for (size_t n = 0; n < len; n++) {
        uint8_t *h = malloc (n ? n : 1); /* exact size: ASan sees any overread */
        memcpy (h, saved, n);
        m->f[1] = (mdl_wire_frame_t) { h, n };
        const int rc = s_decode (m, 3);
        assert_true (rc == MDL_EWIRE_HEADER || rc == MDL_EWIRE_MAGIC);
        free (h);
    }
    /* one trailing byte */
    saved[len] = 0xc0;
    m->f[1] = (mdl_wire_frame_t) { saved, len + 1 };
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_HEADER);
    /* oversized: refused before parsing */
    uint8_t big[MDL_WIRE_HEADER_MAX + 1];
    memcpy (big, saved, len);
    memset (big + len, 0xc0, sizeof big - len);
    m->f[1] = (mdl_wire_frame_t) { big, sizeof big };
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_HEADER);
    /* an array that claims 2^32 - 1 elements, a string that claims 4 GB: no
       allocation, just a refusal */
    m->f[1] = (mdl_wire_frame_t) { "\xdd\xff\xff\xff\xff\xa3MDL\x01", 10 };
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_HEADER);
    m->f[1] = (mdl_wire_frame_t) { "\x9e\xdb\xff\xff\xff\xffMDL", 10 };
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_MAGIC);
    /* a map instead of an array, a string where a number belongs */
    m->f[1] = (mdl_wire_frame_t) { "\x81\xa3MDL\x01", 6 };
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_HEADER);
    m->f[1] = (mdl_wire_frame_t) { "\x9e\xa3MDL\xa1" "1", 7 };
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_HEADER);
    /* a negative integer where an unsigned one belongs */
    memcpy (saved, m->head, len);
    s_repack (m);
    m->head[5] = 0xff; /* version byte (fixint 1) -> negative fixint -1 */
    assert_int_not_equal (s_decode (m, 3), 0);
    s_msg_destroy (m);
}

static void
test_payload_length_and_content_are_checked (void **state)
{
    s_msg_t *m = s_msg_new ("topk:10");
    /* header says one more byte than the frame has */
    m->h.payload_len++;
    s_repack (m);
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_LENGTH);
    /* both agree but the payload is short */
    m->h.payload_len -= 2;
    s_repack (m);
    m->f[2].len--;
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_LENGTH);
    m->f[2].len++;
    m->h.payload_len++;
    s_repack (m);
    /* an oversized payload: beyond the codec's bound, refused without reading it */
    m->h.payload_len = 1u << 30;
    s_repack (m);
    m->f[2].len = 1u << 30;
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_LENGTH);
    m->f[2].len = m->payload_len;
    m->h.payload_len = m->payload_len;
    s_repack (m);
    /* a NaN value; an index past d */
    float nan = NAN;
    const size_t vals = m->payload_len - 40;
    float keep;
    memcpy (&keep, m->payload + vals, 4);
    memcpy (m->payload + vals, &nan, 4);
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_NONFINITE);
    memcpy (m->payload + vals, &keep, 4);
    assert_int_equal (s_decode (m, 3), 0);
    assert_int_equal (m->payload[0], 0); /* varint indices */
    m->payload[8] = 0x7f;                /* first gap 127 */
    m->payload[9] = 0x7f;
    m->payload[10] = 0x7f;
    m->payload[11] = 0x7f;
    m->payload[12] = 0x7f;
    m->payload[13] = 0x7f;
    m->payload[14] = 0x7f;
    m->payload[15] = 0x7f;
    m->payload[16] = 0x7f; /* 9 x 127 > 1000 */
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_INDEX);
    m->payload[8] = 0x00; /* gap 0: index -1 repeated/unsorted */
    assert_int_equal (s_decode (m, 3), MDL_EWIRE_INDEX);
    s_msg_destroy (m);
}

static void
test_probability_outputs_must_be_rows_of_distributions (void **state)
{
    const float good[6] = { 0.25f, 0.75f, 0.0f, 1.0f, 0.5f, 0.5f };
    assert_int_equal (mdl_wire_check_probs (good, 6, 2), 0);
    assert_int_equal (mdl_wire_check_probs (good, 6, 3), MDL_EWIRE_PAYLOAD); /* rows of 3 sum to 1 and 2 */
    assert_int_equal (mdl_wire_check_probs (good, 5, 2), MDL_EWIRE_PAYLOAD); /* not whole rows */
    assert_int_equal (mdl_wire_check_probs (good, 6, 0), MDL_EWIRE_PAYLOAD);
    float bad[4] = { 0.5f, 0.5f, 0.5f, 0.5f };
    const float cases[][2] = { { 1.2f, -0.2f }, { 0.6f, 0.6f }, { 0.5f, 0.498f }, { NAN, 0.5f } };
    for (size_t k = 0; k < 4; k++) {
        bad[2] = cases[k][0], bad[3] = cases[k][1];
        assert_int_equal (mdl_wire_check_probs (bad, 4, 2), MDL_EWIRE_PAYLOAD);
    }
    bad[2] = 0.5f, bad[3] = 0.4995f; /* within 1e-3 */
    assert_int_equal (mdl_wire_check_probs (bad, 4, 2), 0);
}

static void
test_stats_count_each_code_apart (void **state)
{
    mdl_wire_stats_t s;
    memset (&s, 0, sizeof s);
    const int codes[] = { MDL_EWIRE_FRAMES, MDL_EWIRE_HEADER, MDL_EWIRE_MAGIC,
                          MDL_EWIRE_VERSION, MDL_EWIRE_CLUSTER, MDL_EWIRE_DIM,
                          MDL_EWIRE_CODEC, MDL_EWIRE_LENGTH, MDL_EWIRE_INDEX,
                          MDL_EWIRE_NONFINITE, MDL_EWIRE_TOPIC, MDL_EWIRE_PAYLOAD };
    for (int i = 0; i < 12; i++)
        for (int j = 0; j <= i; j++)
            mdl_wire_stats_count (&s, codes[i]);
    mdl_wire_stats_count (&s, 0);
    mdl_wire_stats_count (&s, MDL_ENOMEM);
    for (int i = 0; i < 12; i++) {
        assert_int_equal (mdl_wire_stats_get (&s, codes[i]), i + 1);
        assert_string_not_equal (mdl_errname (codes[i]), "EUNKNOWN");
    }
    assert_int_equal (s.ok, 1);
    assert_int_equal (s.rejected, 78 + 1);
    assert_int_equal (mdl_wire_stats_get (&s, MDL_ENOMEM), 1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_header_round_trips_every_field_and_is_standard_msgpack),
        cmocka_unit_test (test_a_valid_update_decodes_to_what_the_sender_encoded),
        cmocka_unit_test (test_wrong_frame_counts_are_refused),
        cmocka_unit_test (test_topics_are_broadcast_or_addressed_to_self_only),
        cmocka_unit_test (test_wrong_magic_version_cluster_dimension_or_codec_are_refused),
        cmocka_unit_test (test_truncated_oversized_and_malformed_headers_are_refused),
        cmocka_unit_test (test_payload_length_and_content_are_checked),
        cmocka_unit_test (test_probability_outputs_must_be_rows_of_distributions),
        cmocka_unit_test (test_stats_count_each_code_apart),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
