/*  test_peer.c: the hello announcement (beacon payload): round trip, and rejection of
    truncated, corrupted, foreign-cluster and otherwise malformed input. */
#include "testutil.h"

#include "err.h"
#include "peer.h"

#include <string.h>

#define S_KEY "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"

static mdl_peer_info_t
s_info (bool key)
{
    mdl_peer_info_t info;
    memset (&info, 0, sizeof info);
    info.id = 0x0123456789abcdefULL;
    info.incarnation = 0xfeedfacecafebeefULL;
    info.port = 41234;
    if (key)
        strcpy (info.pubkey, S_KEY);
    return info;
}

static void
test_hello_round_trips_with_and_without_key (void **state)
{
    uint64_t cluster = mdl_cluster_hash ("lab");
    for (int key = 0; key < 2; key++) {
        mdl_peer_info_t in = s_info (key), out;
        uint8_t buf[MDL_HELLO_SIZE];
        mdl_hello_pack (&in, cluster, buf);
        assert_memory_equal (buf, "MDLB", 4);
        assert_int_equal (mdl_hello_unpack (buf, sizeof buf, cluster, &out), 0);
        assert_true (out.id == in.id);
        assert_true (out.incarnation == in.incarnation);
        assert_int_equal (out.port, in.port);
        assert_string_equal (out.pubkey, key ? S_KEY : "");
        assert_string_equal (out.endpoint, "");
    }
}

static void
test_hello_layout_is_little_endian_and_fixed (void **state)
{
    mdl_peer_info_t in = s_info (false);
    uint8_t buf[MDL_HELLO_SIZE];
    mdl_hello_pack (&in, 0x1122334455667788ULL, buf);
    assert_int_equal (buf[4], MDL_HELLO_VERSION);
    assert_int_equal (buf[6], 41234 & 0xff);
    assert_int_equal (buf[7], 41234 >> 8);
    assert_int_equal (buf[8], 0x88);
    assert_int_equal (buf[15], 0x11);
    assert_int_equal (buf[16], 0xef);
    assert_int_equal (buf[23], 0x01);
}

static void
test_hello_from_another_cluster_is_told_apart (void **state)
{
    mdl_peer_info_t in = s_info (true), out;
    uint8_t buf[MDL_HELLO_SIZE];
    mdl_hello_pack (&in, mdl_cluster_hash ("a"), buf);
    assert_int_equal (mdl_hello_unpack (buf, sizeof buf, mdl_cluster_hash ("b"), &out),
                      MDL_EWIRE_CLUSTER);
}

static void
test_hello_rejects_truncated_and_oversized_input (void **state)
{
    uint64_t cluster = mdl_cluster_hash ("lab");
    mdl_peer_info_t in = s_info (true), out;
    uint8_t buf[MDL_HELLO_SIZE + 1];
    mdl_hello_pack (&in, cluster, buf);
    for (size_t len = 0; len < MDL_HELLO_SIZE; len++)
        assert_int_equal (mdl_hello_unpack (buf, len, cluster, &out), MDL_EBEACON);
    assert_int_equal (mdl_hello_unpack (buf, MDL_HELLO_SIZE + 1, cluster, &out), MDL_EBEACON);
    assert_int_equal (mdl_hello_unpack (NULL, MDL_HELLO_SIZE, cluster, &out), MDL_EBEACON);
}

static void
test_hello_rejects_each_corrupted_field (void **state)
{
    uint64_t cluster = mdl_cluster_hash ("lab");
    mdl_peer_info_t in = s_info (true), out;
    uint8_t good[MDL_HELLO_SIZE], buf[MDL_HELLO_SIZE];
    mdl_hello_pack (&in, cluster, good);
    struct { size_t off; uint8_t val; } cases[] = {
        { 0, 'X' },        /* magic */
        { 3, 'b' },        /* magic */
        { 4, 2 },          /* version */
        { 4, 0 },          /* version */
        { 5, 0x03 },       /* unknown flag */
        { 32, ' ' },       /* key not Z85 */
        { 71, 0 },         /* key truncated */
        { 71, '"' },       /* key not Z85 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy (buf, good, sizeof buf);
        buf[cases[i].off] = cases[i].val;
        assert_int_equal (mdl_hello_unpack (buf, sizeof buf, cluster, &out), MDL_EBEACON);
    }
    /* id 0 */
    memcpy (buf, good, sizeof buf);
    memset (buf + 16, 0, 8);
    assert_int_equal (mdl_hello_unpack (buf, sizeof buf, cluster, &out), MDL_EBEACON);
    /* no key flag but key bytes present */
    memcpy (buf, good, sizeof buf);
    buf[5] = 0;
    assert_int_equal (mdl_hello_unpack (buf, sizeof buf, cluster, &out), MDL_EBEACON);
}

static void
test_hello_parser_survives_every_single_byte_flip (void **state)
{
    uint64_t cluster = mdl_cluster_hash ("lab");
    mdl_peer_info_t in = s_info (true), out;
    uint8_t good[MDL_HELLO_SIZE], buf[MDL_HELLO_SIZE];
    mdl_hello_pack (&in, cluster, good);
    for (size_t off = 0; off < MDL_HELLO_SIZE; off++)
        for (int v = 0; v < 256; v++) {
            memcpy (buf, good, sizeof buf);
            buf[off] = (uint8_t) v;
            int rc = mdl_hello_unpack (buf, sizeof buf, cluster, &out);
            assert_true (rc == 0 || rc == MDL_EBEACON || rc == MDL_EWIRE_CLUSTER);
            if (rc == 0)
                assert_true (out.id != 0);
        }
}

static void
test_id_str_is_sixteen_hex_digits (void **state)
{
    char buf[17];
    assert_string_equal (mdl_id_str (0xabcULL, buf), "0000000000000abc");
    assert_string_equal (mdl_id_str (UINT64_MAX, buf), "ffffffffffffffff");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_hello_round_trips_with_and_without_key),
        cmocka_unit_test (test_hello_layout_is_little_endian_and_fixed),
        cmocka_unit_test (test_hello_from_another_cluster_is_told_apart),
        cmocka_unit_test (test_hello_rejects_truncated_and_oversized_input),
        cmocka_unit_test (test_hello_rejects_each_corrupted_field),
        cmocka_unit_test (test_hello_parser_survives_every_single_byte_flip),
        cmocka_unit_test (test_id_str_is_sixteen_hex_digits),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
