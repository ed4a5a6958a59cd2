/*  test_registry.c: the in-process discovery registry. */
#include "testutil.h"

#include "err.h"
#include "registry.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define S_CLUSTER 0x5eedu

static mdl_peer_info_t
s_info (uint64_t id, uint64_t inc)
{
    mdl_peer_info_t info;
    memset (&info, 0, sizeof info);
    info.id = id;
    info.incarnation = inc;
    snprintf (info.endpoint, sizeof info.endpoint, "inproc://agent-%llu", (unsigned long long) id);
    return info;
}

static void
test_registry_keeps_entries_sorted_and_versions_changes (void **state)
{
    mdl_registry_t *reg = mdl_registry_new (NULL);
    assert_non_null (reg);
    mdl_registry_entry_t out[8];
    size_t n = 99;
    uint64_t v0 = mdl_registry_snapshot (reg, out, 8, &n);
    assert_int_equal (n, 0);
    uint64_t ids[] = { 5, 2, 9, 1 };
    for (int i = 0; i < 4; i++) {
        mdl_peer_info_t info = s_info (ids[i], 1);
        assert_int_equal (mdl_registry_announce (reg, &info, S_CLUSTER), 0);
    }
    uint64_t v1 = mdl_registry_snapshot (reg, out, 8, &n);
    assert_true (v1 > v0);
    assert_int_equal (n, 4);
    assert_true (out[0].info.id == 1 && out[1].info.id == 2 && out[2].info.id == 5
                 && out[3].info.id == 9);
    assert_true (out[0].cluster == S_CLUSTER);
    size_t count = 0;
    assert_true (mdl_registry_version (reg, &count) == v1);
    assert_int_equal (count, 4);
    assert_true (mdl_registry_snapshot (reg, out, 8, &n) == v1);
    assert_true (mdl_registry_snapshot (reg, out, 2, &n) == v1);
    assert_int_equal (n, 2);
    mdl_registry_destroy (&reg);
    assert_null (reg);
    mdl_registry_destroy (&reg);
}

static void
test_registry_replaces_a_restarted_agent_instead_of_duplicating_it (void **state)
{
    mdl_registry_t *reg = mdl_registry_new (NULL);
    mdl_peer_info_t a = s_info (7, 1), b = s_info (7, 2);
    mdl_registry_entry_t out[4];
    size_t n;
    assert_int_equal (mdl_registry_announce (reg, &a, S_CLUSTER), 0);
    /* restarted into another cluster: the entry's cluster is replaced too */
    assert_int_equal (mdl_registry_announce (reg, &b, S_CLUSTER + 1), 0);
    mdl_registry_snapshot (reg, out, 4, &n);
    assert_int_equal (n, 1);
    assert_true (out[0].info.incarnation == 2 && out[0].cluster == S_CLUSTER + 1);
    mdl_registry_destroy (&reg);
}

static void
test_registry_withdraw_removes_and_rejects_unknown_ids (void **state)
{
    mdl_registry_t *reg = mdl_registry_new (NULL);
    mdl_peer_info_t a = s_info (3, 1);
    mdl_registry_entry_t out[4];
    size_t n;
    assert_int_equal (mdl_registry_announce (reg, &a, S_CLUSTER), 0);
    assert_int_equal (mdl_registry_withdraw (reg, 4), MDL_EPEER);
    assert_int_equal (mdl_registry_withdraw (reg, 3), 0);
    assert_int_equal (mdl_registry_withdraw (reg, 3), MDL_EPEER);
    mdl_registry_snapshot (reg, out, 4, &n);
    assert_int_equal (n, 0);
    mdl_registry_destroy (&reg);
}

static void
test_registry_refuses_id_zero_and_empty_endpoint (void **state)
{
    mdl_registry_t *reg = mdl_registry_new (NULL);
    mdl_peer_info_t a = s_info (0, 1);
    assert_int_equal (mdl_registry_announce (reg, &a, S_CLUSTER), MDL_EINVAL);
    a = s_info (1, 1);
    a.endpoint[0] = 0;
    assert_int_equal (mdl_registry_announce (reg, &a, S_CLUSTER), MDL_EINVAL);
    mdl_registry_destroy (&reg);
}

static void *
s_announcer (void *arg)
{
    mdl_registry_t *reg = arg;
    static _Atomic uint64_t next = 1;
    uint64_t base = next++ * 1000;
    for (uint64_t i = 0; i < 200; i++) {
        mdl_peer_info_t info = s_info (base + i, 1);
        /* cmocka's asserts must not run off the main thread: report instead */
        if (mdl_registry_announce (reg, &info, S_CLUSTER) != 0)
            return (void *) 1;
        if (i % 2 && mdl_registry_withdraw (reg, base + i) != 0)
            return (void *) 1;
    }
    return NULL;
}

static void
test_registry_is_safe_under_concurrent_announcers (void **state)
{
    mdl_registry_t *reg = mdl_registry_new (NULL);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create (&t[i], NULL, s_announcer, reg);
    for (int i = 0; i < 4; i++) {
        void *fail = NULL;
        pthread_join (t[i], &fail);
        assert_null (fail);
    }
    static mdl_registry_entry_t out[1000];
    size_t n;
    mdl_registry_snapshot (reg, out, 1000, &n);
    assert_int_equal (n, 400);
    for (size_t i = 1; i < n; i++)
        assert_true (out[i - 1].info.id < out[i].info.id);
    mdl_registry_destroy (&reg);
}

static void
test_registry_pages_changes_and_remembers_who_left (void **state)
{
    mdl_registry_t *reg = mdl_registry_new (NULL);
    for (uint64_t id = 1; id <= 10; id++) {
        mdl_peer_info_t info = s_info (id, 1);
        assert_int_equal (mdl_registry_announce (reg, &info, S_CLUSTER), 0);
    }
    const uint64_t v = mdl_registry_version (reg, NULL);
    mdl_registry_entry_t out[4];
    size_t n, total = 0;
    uint64_t after = 0;
    /* everything, in pages of 4, in id order */
    bool more;
    do {
        more = mdl_registry_read (reg, 0, &after, out, 4, &n);
        for (size_t i = 0; i < n; i++)
            assert_int_equal (out[i].info.id, ++total);
    } while (more);
    assert_int_equal (total, 10);
    /* only what changed since v: a restart of 7 */
    mdl_peer_info_t seven = s_info (7, 2);
    mdl_registry_announce (reg, &seven, S_CLUSTER);
    after = 0;
    more = mdl_registry_read (reg, v, &after, out, 4, &n);
    assert_false (more);
    assert_int_equal (n, 1);
    assert_int_equal (out[0].info.incarnation, 2);
    /* 3 and 9 leave: remembered as gone (with the incarnation that left) */
    const uint64_t v2 = mdl_registry_version (reg, NULL);
    assert_int_equal (mdl_registry_withdraw (reg, 9), 0);
    assert_int_equal (mdl_registry_withdraw (reg, 3), 0);
    after = 0;
    mdl_registry_read_gone (reg, v2, &after, out, 4, &n);
    assert_int_equal (n, 2);
    assert_int_equal (out[0].info.id, 3);
    assert_int_equal (out[1].info.id, 9);
    assert_int_equal (out[0].cluster, S_CLUSTER);
    /* 3 comes back: no longer gone */
    mdl_peer_info_t three = s_info (3, 5);
    mdl_registry_announce (reg, &three, S_CLUSTER);
    after = 0;
    mdl_registry_read_gone (reg, 0, &after, out, 4, &n);
    assert_int_equal (n, 1);
    assert_int_equal (out[0].info.id, 9);
    mdl_registry_destroy (&reg);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_registry_keeps_entries_sorted_and_versions_changes),
        cmocka_unit_test (test_registry_replaces_a_restarted_agent_instead_of_duplicating_it),
        cmocka_unit_test (test_registry_withdraw_removes_and_rejects_unknown_ids),
        cmocka_unit_test (test_registry_refuses_id_zero_and_empty_endpoint),
        cmocka_unit_test (test_registry_is_safe_under_concurrent_announcers),
        cmocka_unit_test (test_registry_pages_changes_and_remembers_who_left),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
