/*  test_keys.c: CURVE key pairs: generate, read back, file modes, refusal to overwrite. */
#include "testutil.h"

#include "err.h"
#include "keys.h"
#include "peer.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void
test_generated_pair_reads_back_the_same_public_key (void **state)
{
    char dir[256], base[512], secret[600];
    mdl_test_tmpdir (dir, sizeof dir);
    snprintf (base, sizeof base, "%s/agent1", dir);
    snprintf (secret, sizeof secret, "%s_secret", base);
    assert_int_equal (mdl_keys_generate (base, "agent1"), 0);
    char pub1[MDL_PUBKEY_LEN + 1], pub2[MDL_PUBKEY_LEN + 1], sec[MDL_PUBKEY_LEN + 1];
    assert_int_equal (mdl_keys_public (base, pub1), 0);
    assert_int_equal (mdl_keys_public (secret, pub2), 0);
    assert_int_equal (strlen (pub1), MDL_PUBKEY_LEN);
    assert_string_equal (pub1, pub2);
    /* zcert can load it, with the secret key, and the metadata holds the name */
    zcert_t *cert = zcert_load (secret);
    assert_non_null (cert);
    assert_string_equal (zcert_public_txt (cert), pub1);
    assert_string_not_equal (zcert_secret_txt (cert), "0000000000000000000000000000000000000000");
    assert_string_equal (zcert_meta (cert, "name"), "agent1");
    zcert_destroy (&cert);
    struct stat st;
    assert_int_equal (stat (secret, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    assert_int_equal (stat (base, &st), 0);
    assert_int_equal (st.st_mode & 0700, 0600);
    assert_int_equal (mdl_keys_load (secret, pub2, sec), 0);
    assert_string_equal (pub1, pub2);
    assert_int_equal (mdl_keys_load (base, pub2, sec), MDL_ESECURITY); /* public only */
    mdl_test_rmtree (dir);
}

static void
test_two_pairs_differ (void **state)
{
    char dir[256], a[512], b[512];
    mdl_test_tmpdir (dir, sizeof dir);
    snprintf (a, sizeof a, "%s/a", dir);
    snprintf (b, sizeof b, "%s/b", dir);
    assert_int_equal (mdl_keys_generate (a, NULL), 0);
    assert_int_equal (mdl_keys_generate (b, NULL), 0);
    char ka[MDL_PUBKEY_LEN + 1], kb[MDL_PUBKEY_LEN + 1];
    assert_int_equal (mdl_keys_public (a, ka), 0);
    assert_int_equal (mdl_keys_public (b, kb), 0);
    assert_string_not_equal (ka, kb);
    mdl_test_rmtree (dir);
}

static void
test_generate_refuses_to_overwrite_either_file (void **state)
{
    char dir[256], base[512], secret[600], key[MDL_PUBKEY_LEN + 1], again[MDL_PUBKEY_LEN + 1];
    mdl_test_tmpdir (dir, sizeof dir);
    snprintf (base, sizeof base, "%s/k", dir);
    snprintf (secret, sizeof secret, "%s_secret", base);
    assert_int_equal (mdl_keys_generate (base, "k"), 0);
    assert_int_equal (mdl_keys_public (base, key), 0);
    assert_int_equal (mdl_keys_generate (base, "k"), MDL_EEXIST);
    assert_int_equal (mdl_keys_public (base, again), 0);
    assert_string_equal (key, again);
    /* only the secret half exists */
    char other[512];
    snprintf (other, sizeof other, "%s/only_secret", dir);
    char other_secret[600];
    snprintf (other_secret, sizeof other_secret, "%s_secret", other);
    mdl_test_write_file (other_secret, "x", 1);
    assert_int_equal (mdl_keys_generate (other, NULL), MDL_EEXIST);
    mdl_test_rmtree (dir);
}

static void
test_generate_into_missing_directory_fails_cleanly (void **state)
{
    assert_int_equal (mdl_keys_generate ("/nonexistent-meshdl-dir/k", NULL), MDL_ENOENT);
    assert_int_equal (mdl_keys_generate ("", NULL), MDL_EINVAL);
    assert_int_equal (mdl_keys_generate (NULL, NULL), MDL_EINVAL);
}

static void
test_public_key_of_missing_or_garbage_file_is_a_security_error (void **state)
{
    char dir[256], path[512], key[MDL_PUBKEY_LEN + 1];
    mdl_test_tmpdir (dir, sizeof dir);
    snprintf (path, sizeof path, "%s/garbage", dir);
    mdl_test_write_file (path, "not a certificate\n", 18);
    assert_int_equal (mdl_keys_public (path, key), MDL_ESECURITY);
    assert_int_equal (mdl_keys_public ("/nonexistent-meshdl-cert", key), MDL_ESECURITY);
    /* a truncated key, a key with a character outside Z85, an all-zero key */
    const char *bad[] = {
        "curve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf\"\n",
        "curve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]y~7\"\n",
        "curve\n    public-key = \"0000000000000000000000000000000000000000\"\n",
        "public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mdl_test_write_file (path, bad[i], strlen (bad[i]));
        assert_int_equal (mdl_keys_public (path, key), MDL_ESECURITY);
    }
    const char *good = "curve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n";
    mdl_test_write_file (path, good, strlen (good));
    assert_int_equal (mdl_keys_public (path, key), 0);
    assert_string_equal (key, "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
    mdl_test_rmtree (dir);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_generated_pair_reads_back_the_same_public_key),
        cmocka_unit_test (test_two_pairs_differ),
        cmocka_unit_test (test_generate_refuses_to_overwrite_either_file),
        cmocka_unit_test (test_generate_into_missing_directory_fails_cleanly),
        cmocka_unit_test (test_public_key_of_missing_or_garbage_file_is_a_security_error),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
