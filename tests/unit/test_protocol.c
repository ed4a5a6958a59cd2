/*  test_protocol.c: the worked examples of docs/PROTOCOL.md, decoded (and, where meshdl
    writes them, re-encoded byte for byte) by the code, so the document cannot drift from
    what agents send. A byte string changed here must change in §12 of the document. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "codec.h"
#include "err.h"
#include "peer.h"
#include "rng.h"
#include "snapshot.h"
#include "vec.h"
#include "wire.h"

#define CLUSTER 0x995603ed17ceccecULL

static void
test_the_cluster_id_is_fnv1a_of_the_name_without_its_nul (void **state)
{
    assert_true (mdl_wire_cluster_id ("meshdl") == CLUSTER);
    assert_true (mdl_cluster_hash ("meshdl") == CLUSTER);
}

static const uint8_t s_hello[72] = {
    0x4d, 0x44, 0x4c, 0x42, 0x01, 0x00, 0xb3, 0x15, 0xec, 0xcc, 0xce, 0x17, 0xed, 0x03, 0x56, 0x99,
    0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
};

static void
test_the_announcement_example_decodes_and_encodes (void **state)
{
    mdl_peer_info_t info;
    assert_int_equal (mdl_hello_unpack (s_hello, sizeof s_hello, CLUSTER, &info), 0);
    assert_true (info.id == 0x0123456789abcdefULL);
    assert_true (info.incarnation == 0x1122334455667788ULL);
    assert_int_equal (info.port, 5555);
    assert_string_equal (info.pubkey, "");
    uint8_t out[MDL_HELLO_SIZE];
    mdl_hello_pack (&info, CLUSTER, out);
    assert_memory_equal (out, s_hello, sizeof out);
    assert_int_equal (mdl_hello_unpack (s_hello, sizeof s_hello, CLUSTER + 1, &info), MDL_EWIRE_CLUSTER);
}

static void
test_the_topic_example_is_t_and_sixteen_lowercase_hex_digits (void **state)
{
    char t[MDL_WIRE_TOPIC_MAX];
    assert_int_equal (mdl_wire_topic (2, t), 17);
    assert_memory_equal (t, "T0000000000000002", 17);
    assert_int_equal (mdl_wire_check_topic ("T0000000000000002", 17, 2), 0);
    assert_int_equal (mdl_wire_check_topic ("T2", 2, 2), MDL_EWIRE_TOPIC);
    assert_int_equal (mdl_wire_check_topic ("U", 1, 2), 0);
}

static const uint8_t s_state[] = {
    0x9e, 0xa3, 0x4d, 0x44, 0x4c, 0x01, 0xcf, 0x99, 0x56, 0x03, 0xed, 0x17, 0xce, 0xcc, 0xec,
    0x02, 0x01, 0x07, 0xcf, 0x00, 0x06, 0x0a, 0x24, 0x18, 0x1e, 0x40, 0x00, 0x00, 0x98, 0x05,
    0x00, 0xcd, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xc2, 0xcb, 0x3f, 0xe0, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0xcb, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b,
};

static const uint8_t s_resync[] = {
    0x9e, 0xa3, 0x4d, 0x44, 0x4c, 0x01, 0xcf, 0x99, 0x56, 0x03, 0xed, 0x17, 0xce, 0xcc, 0xec,
    0x02, 0x02, 0x00, 0xcf, 0x00, 0x06, 0x0a, 0x24, 0x18, 0x1e, 0x40, 0x00, 0x02, 0x98, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xc3, 0xcb, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0xcb, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* Unpacks hex, checks it re-packs to the same bytes. */
static void
s_roundtrip (const uint8_t *bytes, size_t n, mdl_wire_header_t *h)
{
    assert_int_equal (mdl_wire_unpack (bytes, n, h), 0);
    uint8_t out[MDL_WIRE_HEADER_MAX];
    size_t len = 0;
    assert_int_equal (mdl_wire_pack (h, out, sizeof out, &len), 0);
    assert_int_equal (len, n);
    assert_memory_equal (out, bytes, n);
}

static void
test_the_header_examples_decode_field_by_field_and_encode_back (void **state)
{
    mdl_wire_header_t h;
    s_roundtrip (s_state, sizeof s_state, &h);
    assert_int_equal (h.version, 1);
    assert_true (h.cluster == CLUSTER && h.sender == 2 && h.seq == 1 && h.step == 7);
    assert_true (h.timestamp_us == 1700000000000000ULL);
    assert_int_equal (MDL_KIND_TYPE (h.kind), MDL_KIND_STATE);
    assert_int_equal (MDL_KIND_CHANNEL (h.kind), 0);
    assert_int_equal (h.codec.id, MDL_CODEC_Q8);
    assert_int_equal (h.codec.block, 256);
    assert_int_equal (h.codec.vid, 0); /* dense codecs: vid 0 */
    assert_true (h.d == 3 && !h.keyframe && h.loss == 0.5 && h.aux == 0 && h.payload_len == 11);
    s_roundtrip (s_resync, sizeof s_resync, &h);
    assert_int_equal (h.kind, MDL_KIND_RESYNC);
    assert_true (h.keyframe && h.codec.id == MDL_CODEC_FP32 && h.payload_len == 0 && h.seq == 2);
    /* keyframe is a MessagePack boolean: the integer 1 in its place is refused */
    uint8_t bad[sizeof s_resync];
    memcpy (bad, s_resync, sizeof bad);
    assert_int_equal (bad[38], 0xc3);
    bad[38] = 0x01;
    assert_int_equal (mdl_wire_unpack (bad, sizeof bad, &h), MDL_EWIRE_HEADER);
    /* the q8 example's header is what a receiver with q8 over d = 3 expects */
    int err;
    mdl_codec_t *q8 = mdl_codec_new ("q8", 3, 0, &err);
    mdl_wire_expect_t exp;
    mdl_wire_expect_init (&exp, CLUSTER, 5, q8);
    uint8_t payload[11] = { 0 };
    const mdl_wire_frame_t frames[3] = { { "T0000000000000005", 17 }, { s_state, sizeof s_state }, { payload, 11 } };
    assert_int_equal (mdl_wire_check (frames, 3, &exp, q8, &h), 0);
    mdl_codec_destroy (&q8);
}

/* Every field of a header against the document's values. */
static void
s_expect_header (const mdl_wire_header_t *h, uint64_t seq, uint32_t kind, uint32_t codec_id, uint64_t d, bool keyframe,
                 double loss, uint64_t payload_len)
{
    assert_int_equal (h->version, 1);
    assert_true (h->cluster == CLUSTER && h->sender == 2 && h->seq == seq && h->step == 7);
    assert_true (h->timestamp_us == 1700000000000000ULL);
    assert_int_equal (h->kind, kind);
    const mdl_codec_params_t *c = &h->codec;
    assert_true (c->id == codec_id && c->bits == 0 && c->block == 0 && c->k == 0 && c->vid == 0 && c->vbits == 0
                 && c->vblock == 0 && c->flags == 0);
    assert_true (h->d == d && h->keyframe == keyframe && h->loss == loss && h->aux == 0);
    assert_true (h->payload_len == payload_len);
}

static const uint8_t s_resend[] = {
    0x9e, 0xa3, 0x4d, 0x44, 0x4c, 0x01, 0xcf, 0x99, 0x56, 0x03, 0xed, 0x17, 0xce, 0xcc, 0xec,
    0x02, 0x03, 0x07, 0xcf, 0x00, 0x06, 0x0a, 0x24, 0x18, 0x1e, 0x40, 0x00, 0x09, 0x98, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xc3, 0xcb, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0xcb, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static void
test_the_resend_example_asks_for_round_seven_on_channel_zero (void **state)
{
    mdl_wire_header_t h;
    s_roundtrip (s_resend, sizeof s_resend, &h);
    s_expect_header (&h, 3, MDL_KIND_RESEND, MDL_CODEC_FP32, 3, true, 0, 0);
    assert_int_equal (MDL_KIND_TYPE (h.kind), 9);
    assert_int_equal (MDL_KIND_CHANNEL (h.kind), 0);
    /* the kind byte of RESEND on the merge channel 2, and the first type left unassigned */
    assert_int_equal (MDL_KIND_MAKE (MDL_KIND_RESEND, 2), 0x29);
    assert_int_equal (MDL_KIND_LAST, 10);
}

static const uint8_t s_outputs[] = {
    0x9e, 0xa3, 0x4d, 0x44, 0x4c, 0x01, 0xcf, 0x99, 0x56, 0x03, 0xed, 0x17, 0xce, 0xcc, 0xec,
    0x02, 0x04, 0x07, 0xcf, 0x00, 0x06, 0x0a, 0x24, 0x18, 0x1e, 0x40, 0x00, 0x0a, 0x98, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0xc2, 0xcb, 0x3f, 0xe0, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0xcb, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x18,
};

static const uint8_t s_outputs_payload[24] = {
    0x00, 0x00, 0x80, 0x3e, 0x00, 0x00, 0x80, 0x3e, 0x00, 0x00, 0x00, 0x3f,
    0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static void
test_the_outputs_example_is_two_rows_of_three_probabilities_in_fp32 (void **state)
{
    mdl_wire_header_t h;
    s_roundtrip (s_outputs, sizeof s_outputs, &h);
    s_expect_header (&h, 4, MDL_KIND_OUTPUTS, MDL_CODEC_FP32, 6, false, 0.5, 24);
    /* what a codistilling receiver of batch 2 and 3 classes expects: fp32 of d = 6 */
    int err;
    mdl_codec_t *o = mdl_codec_new ("fp32", 6, 0, &err);
    mdl_wire_expect_t exp;
    mdl_wire_expect_init (&exp, CLUSTER, 5, o);
    const mdl_wire_frame_t frames[3] = { { "T0000000000000005", 17 },
                                         { s_outputs, sizeof s_outputs },
                                         { s_outputs_payload, sizeof s_outputs_payload } };
    assert_int_equal (mdl_wire_check (frames, 3, &exp, o, &h), 0);
    float p[6];
    assert_int_equal (mdl_codec_decode (o, s_outputs_payload, sizeof s_outputs_payload, p), 0);
    const float want[6] = { 0.25f, 0.25f, 0.5f, 1, 0, 0 };
    assert_memory_equal (p, want, sizeof want);
    assert_int_equal (mdl_wire_check_probs (p, 6, 3), 0);
    p[2] = 0.4f; /* a row summing to 0.9 */
    assert_int_equal (mdl_wire_check_probs (p, 6, 3), MDL_EWIRE_PAYLOAD);
    mdl_codec_destroy (&o);
}

static const uint8_t s_snap_want[] = {
    0x9a, 0xa4, 0x4d, 0x44, 0x4c, 0x53, 0x01, 0xcf, 0x99, 0x56, 0x03, 0xed,
    0x17, 0xce, 0xcc, 0xec, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static const uint8_t s_snap_meta[] = {
    0x9a, 0xa4, 0x4d, 0x44, 0x4c, 0x53, 0x01, 0xcf, 0x99, 0x56, 0x03, 0xed, 0x17,
    0xce, 0xcc, 0xec, 0x07, 0x04, 0x01, 0xce, 0x00, 0x04, 0x93, 0xe0, 0xcf, 0x01,
    0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xce, 0x00, 0x04, 0x00, 0x00, 0x78,
};

static const uint8_t s_snap_get[] = {
    0x9a, 0xa4, 0x4d, 0x44, 0x4c, 0x53, 0x01, 0xcf, 0x99, 0x56, 0x03, 0xed,
    0x17, 0xce, 0xcc, 0xec, 0x02, 0x05, 0x01, 0x01, 0x00, 0x00, 0x00,
};

/* Unpacks a snapshot header, checks every field and that it packs back to the same bytes. */
static void
s_snap_roundtrip (const uint8_t *bytes, size_t n, const mdl_snap_msg_t *want)
{
    mdl_snap_msg_t m;
    assert_int_equal (mdl_snap_unpack (bytes, n, &m), 0);
    assert_true (m.version == want->version && m.cluster == want->cluster && m.sender == want->sender);
    assert_true (m.type == want->type && m.gen == want->gen && m.a == want->a && m.b == want->b);
    assert_true (m.c == want->c && m.d == want->d);
    uint8_t out[MDL_SNAP_HEADER_MAX];
    size_t len = 0;
    assert_int_equal (mdl_snap_pack (&m, out, sizeof out, &len), 0);
    assert_int_equal (len, n);
    assert_memory_equal (out, bytes, n);
}

static void
test_the_snapshot_examples_decode_field_by_field_and_encode_back (void **state)
{
    s_snap_roundtrip (s_snap_want, sizeof s_snap_want,
                      &(mdl_snap_msg_t){ .version = 1, .cluster = CLUSTER, .sender = 2, .type = MDL_SNAP_WANT });
    s_snap_roundtrip (s_snap_meta, sizeof s_snap_meta,
                      &(mdl_snap_msg_t){ .version = 1,
                                         .cluster = CLUSTER,
                                         .sender = 7,
                                         .type = MDL_SNAP_META,
                                         .gen = 1,
                                         .a = 300000,
                                         .b = 0x0123456789abcdefULL,
                                         .c = 262144,
                                         .d = 120 });
    s_snap_roundtrip (
        s_snap_get, sizeof s_snap_get,
        &(mdl_snap_msg_t){ .version = 1, .cluster = CLUSTER, .sender = 2, .type = MDL_SNAP_GET, .gen = 1, .a = 1 });
    /* the topic of recipient 7, and what the reader refuses */
    char t[MDL_SNAP_TOPIC_LEN + 1];
    assert_int_equal (mdl_snap_topic (7, t), 18);
    assert_memory_equal (t, "T0000000000000007S", 18);
    assert_true (mdl_snap_is_topic ("T0000000000000007S", 18, 7));
    assert_false (mdl_snap_is_topic ("T0000000000000007", 17, 7));
    mdl_snap_msg_t m;
    uint8_t bad[sizeof s_snap_want];
    memcpy (bad, s_snap_want, sizeof bad);
    bad[17] = 8; /* type 8: none */
    assert_int_equal (mdl_snap_unpack (bad, sizeof bad, &m), MDL_EWIRE_HEADER);
    memcpy (bad, s_snap_want, sizeof bad);
    bad[6] = 2; /* version 2 */
    assert_int_equal (mdl_snap_unpack (bad, sizeof bad, &m), MDL_EWIRE_VERSION);
    memcpy (bad, s_snap_want, sizeof bad);
    bad[17] = 0xd0; /* a signed integer: not in the snapshot header's subset */
    assert_int_equal (mdl_snap_unpack (bad, sizeof bad, &m), MDL_EWIRE_HEADER);
    assert_int_equal (MDL_SNAP_CHUNK_MAX, 1u << 20);
}

typedef struct {
    const char *spec;
    uint8_t bytes[64];
    size_t len;
    float decoded[10];
    bool deterministic; /* the encoder writes exactly these bytes */
} s_payload_t;

static const float s_x[3] = { -1.0f, 0.5f, 2.0f };
static const float s_sparse[10] = { 0, 3, 0, 0, -5, 0, 0, 0, 1, 0 };

static const s_payload_t s_dense[] = {
    { "fp32", { 0x00, 0x00, 0x80, 0xbf, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x00, 0x40 }, 12, { -1, 0.5f, 2 }, true },
    { "fp16", { 0x00, 0xbc, 0x00, 0x38, 0x00, 0x40 }, 6, { -1, 0.5f, 2 }, true },
    { "bf16", { 0x80, 0xbf, 0x00, 0x3f, 0x00, 0x40 }, 6, { -1, 0.5f, 2 }, true },
    { "q8", { 0x00, 0x00, 0x80, 0xbf, 0xc1, 0xc0, 0x40, 0x3c, 0x00, 0x80, 0xff }, 11, { -1, 0.505882382f, 2 }, true },
    { "q4", { 0x00, 0x00, 0x80, 0xbf, 0xcd, 0xcc, 0x4c, 0x3e, 0x80, 0x0f }, 10, { -1, 0.600000024f, 2 }, true },
    { "sign", { 0x55, 0x55, 0x95, 0x3f, 0x01 }, 5, { -1.16666663f, 1.16666663f, 1.16666663f }, true },
    { "qsgd:4", { 0x00, 0x00, 0x00, 0x40, 0x2c, 0x07 }, 6, { -8.0f / 7, 4.0f / 7, 2 }, false },
};

static const s_payload_t s_sparse_ex[] = {
    { "topk:2",
      { 0, 0, 0, 0, 2, 0, 0, 0, 0x02, 0x03, 0, 0, 0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0xa0, 0xc0 },
      20,
      { 0, 3, 0, 0, -5, 0, 0, 0, 0, 0 },
      true },
    { "topk:2+q8",
      { 0, 0, 0, 0, 2, 0, 0, 0, 0x02, 0x03, 0, 0, 0x00, 0x00, 0xa0, 0xc0, 0x81, 0x80, 0x00, 0x3d, 0xff, 0x00 },
      22,
      { 0, 3, 0, 0, -5, 0, 0, 0, 0, 0 },
      true },
    { "topk:10",
      { 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0xff, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x40, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa0, 0xc0, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x00 },
      52,
      { 0, 3, 0, 0, -5, 0, 0, 0, 1, 0 },
      true },
    { "randk:3",
      { 0xdf, 0xdc, 0x6d, 0x3e, 0xa5, 0x70, 0x48, 0x58, 0, 0, 0, 0, 0, 0, 0x20, 0x41, 0, 0, 0, 0 },
      20,
      { 0, 10, 0, 0, 0, 0, 0, 0, 0, 0 },
      false },
};

static void
s_check_payloads (const s_payload_t *ex, size_t n, const float *x, size_t d)
{
    for (size_t i = 0; i < n; i++) {
        int err;
        mdl_codec_t *c = mdl_codec_new (ex[i].spec, d, 0, &err);
        assert_non_null (c);
        assert_int_equal (mdl_codec_max_size (c) >= ex[i].len, 1);
        float y[10];
        if (mdl_codec_decode (c, ex[i].bytes, ex[i].len, y))
            fail_msg ("%s: the document's payload does not decode", ex[i].spec);
        for (size_t k = 0; k < d; k++)
            if (y[k] != ex[i].decoded[k])
                fail_msg ("%s: element %zu decodes to %.9g, the document says %.9g", ex[i].spec, k, y[k],
                          ex[i].decoded[k]);
        if (ex[i].deterministic) {
            uint8_t out[64];
            size_t len = 0;
            assert_int_equal (mdl_codec_encode (c, x, out, sizeof out, &len, NULL), 0);
            assert_int_equal (len, ex[i].len);
            assert_memory_equal (out, ex[i].bytes, len);
        }
        mdl_codec_destroy (&c);
    }
}

static void
test_the_dense_payload_examples_decode_and_the_deterministic_ones_encode (void **state)
{
    s_check_payloads (s_dense, sizeof s_dense / sizeof s_dense[0], s_x, 3);
}

static void
test_the_sparse_payload_examples_decode_and_the_deterministic_ones_encode (void **state)
{
    s_check_payloads (s_sparse_ex, sizeof s_sparse_ex / sizeof s_sparse_ex[0], s_sparse, 10);
    /* randk: the seed in the payload gives these indices (§8, §8.1) */
    int err;
    mdl_codec_t *c = mdl_codec_new ("randk:3", 10, 0, &err);
    const uint32_t *idx;
    const float *val;
    size_t nnz;
    assert_int_equal (mdl_codec_decode_sparse (c, s_sparse_ex[3].bytes, s_sparse_ex[3].len, &idx, &val, &nnz), 0);
    assert_int_equal (nnz, 3);
    assert_int_equal (idx[0], 0);
    assert_int_equal (idx[1], 1);
    assert_int_equal (idx[2], 9);
    mdl_codec_destroy (&c);
}

static void
test_the_codec_parameter_table_holds_for_every_codec (void **state)
{
    struct {
        const char *spec;
        mdl_codec_params_t p;
        size_t size; /* for d = 1000 */
    } rows[] = {
        { "fp32", { 1, 0, 0, 0, 0, 0, 0, 0 }, 4000 },
        { "fp16", { 2, 0, 0, 0, 0, 0, 0, 0 }, 2000 },
        { "bf16", { 3, 0, 0, 0, 0, 0, 0, 0 }, 2000 },
        { "qsgd:3", { 4, 3, 256, 0, 0, 0, 0, 0 }, 4 * 4 + 375 },
        { "q8", { 5, 0, 256, 0, 0, 0, 0, 0 }, 8 * 4 + 1000 },
        { "q4:100", { 6, 0, 100, 0, 0, 0, 0, 0 }, 8 * 10 + 500 },
        { "sign", { 7, 0, 256, 0, 0, 0, 0, 0 }, 4 * 4 + 125 },
        { "topk:0.01", { 8, 0, 0, 10, 1, 0, 0, 0 }, 0 },
        { "topk:0.01+qsgd:4:64", { 8, 0, 0, 10, 4, 4, 64, 0 }, 0 },
        { "randk:7:unscaled", { 9, 0, 0, 7, 1, 0, 0, 1 }, 8 + 28 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int err;
        mdl_codec_t *c = mdl_codec_new (rows[i].spec, 1000, 0, &err);
        mdl_codec_params_t p;
        mdl_codec_params (c, &p);
        if (memcmp (&p, &rows[i].p, sizeof p))
            fail_msg ("%s: parameters [%u %u %u %llu %u %u %u %u]", rows[i].spec, p.id, p.bits, p.block,
                      (unsigned long long) p.k, p.vid, p.vbits, p.vblock, p.flags);
        if (rows[i].size)
            assert_int_equal (mdl_codec_max_size (c), rows[i].size);
        mdl_codec_destroy (&c);
    }
}

static void
test_the_digest_and_generator_examples_hold (void **state)
{
    const float x[3] = { -1.0f, 0.5f, 2.0f };
    assert_true (mdl_vec_digest (x, 3) == 2431927240042179.0);
    mdl_rng_t r;
    mdl_rng_seed (&r, 1, 0x72616e646bULL);
    assert_true (mdl_rng_u64 (&r) == 0x5020399c6e22f3c2ULL);
    assert_true (mdl_rng_u64 (&r) == 0xe8f865f6c28a280cULL);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_the_cluster_id_is_fnv1a_of_the_name_without_its_nul),
        cmocka_unit_test (test_the_announcement_example_decodes_and_encodes),
        cmocka_unit_test (test_the_topic_example_is_t_and_sixteen_lowercase_hex_digits),
        cmocka_unit_test (test_the_header_examples_decode_field_by_field_and_encode_back),
        cmocka_unit_test (test_the_resend_example_asks_for_round_seven_on_channel_zero),
        cmocka_unit_test (test_the_outputs_example_is_two_rows_of_three_probabilities_in_fp32),
        cmocka_unit_test (test_the_snapshot_examples_decode_field_by_field_and_encode_back),
        cmocka_unit_test (test_the_dense_payload_examples_decode_and_the_deterministic_ones_encode),
        cmocka_unit_test (test_the_sparse_payload_examples_decode_and_the_deterministic_ones_encode),
        cmocka_unit_test (test_the_codec_parameter_table_holds_for_every_codec),
        cmocka_unit_test (test_the_digest_and_generator_examples_hold),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
