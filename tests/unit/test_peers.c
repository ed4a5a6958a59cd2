/*  test_peers.c: the peer table with fake time: join, keep-alive, expiry, rejoin after
    death and after a restart (new incarnation), mute peers, capacity. */
#include "testutil.h"

#include "err.h"
#include "peers.h"

#include <string.h>
#include <stdio.h>

static mdl_peer_info_t
s_info (uint64_t id, uint64_t inc)
{
    mdl_peer_info_t info;
    memset (&info, 0, sizeof info);
    info.id = id;
    info.incarnation = inc;
    info.port = (uint16_t) (5000 + id);
    snprintf (info.endpoint, sizeof info.endpoint, "tcp://10.0.0.%llu:%u",
              (unsigned long long) id, info.port);
    return info;
}

static void
test_first_announcement_joins_and_repeats_change_nothing (void **state)
{
    mdl_peers_t *p = mdl_peers_new (1, 2.0, 8, NULL);
    assert_non_null (p);
    mdl_peer_event_t ev;
    mdl_peer_info_t a = s_info (2, 10);
    assert_int_equal (mdl_peers_seen (p, &a, 0.0, &ev), 0);
    assert_int_equal (ev.kind, MDL_PEER_JOIN);
    assert_string_equal (ev.info.endpoint, a.endpoint);
    assert_int_equal (mdl_peers_seen (p, &a, 0.5, &ev), 0);
    assert_int_equal (ev.kind, MDL_PEER_NONE);
    assert_true (mdl_peers_is_alive (p, 2));
    assert_non_null (mdl_peers_get (p, 2));
    assert_null (mdl_peers_get (p, 3));
    mdl_peers_destroy (&p);
    assert_null (p);
    mdl_peers_destroy (&p);
}

static void
test_self_and_id_zero_are_ignored (void **state)
{
    mdl_peers_t *p = mdl_peers_new (1, 2.0, 8, NULL);
    mdl_peer_event_t ev;
    mdl_peer_info_t me = s_info (1, 1), zero = s_info (0, 1);
    assert_int_equal (mdl_peers_seen (p, &me, 0.0, &ev), 0);
    assert_int_equal (ev.kind, MDL_PEER_NONE);
    assert_int_equal (mdl_peers_seen (p, &zero, 0.0, &ev), 0);
    assert_int_equal (ev.kind, MDL_PEER_NONE);
    assert_int_equal (mdl_peers_alive (p, NULL, 0), 0);
    mdl_peers_destroy (&p);
}

static void
test_silent_peer_leaves_after_timeout_and_not_before (void **state)
{
    mdl_peers_t *p = mdl_peers_new (1, 2.0, 8, NULL);
    mdl_peer_event_t ev, out[4];
    mdl_peer_info_t a = s_info (2, 1), b = s_info (3, 1);
    mdl_peers_seen (p, &a, 0.0, &ev);
    mdl_peers_seen (p, &b, 0.0, &ev);
    mdl_peers_seen (p, &b, 1.5, &ev);
    assert_int_equal (mdl_peers_expire (p, 2.0, out, 4), 0);
    assert_int_equal (mdl_peers_expire (p, 2.01, out, 4), 1);
    assert_int_equal (out[0].kind, MDL_PEER_LEAVE);
    assert_true (out[0].info.id == 2);
    assert_string_equal (out[0].info.endpoint, a.endpoint);
    assert_false (mdl_peers_is_alive (p, 2));
    assert_int_equal (mdl_peers_expire (p, 3.0, out, 4), 0); /* reported once */
    uint64_t ids[4];
    assert_int_equal (mdl_peers_alive (p, ids, 4), 1);
    assert_true (ids[0] == 3);
    mdl_peers_destroy (&p);
}

static void
test_messages_keep_a_live_peer_alive_but_do_not_join_unknown_ones (void **state)
{
    mdl_peers_t *p = mdl_peers_new (1, 2.0, 8, NULL);
    mdl_peer_event_t ev, out[4];
    mdl_peer_info_t a = s_info (2, 7);
    mdl_peers_seen (p, &a, 0.0, &ev);
    assert_true (mdl_peers_touch (p, 2, 7, 1.9));
    assert_true (mdl_peers_touch (p, 2, 0, 3.5)); /* 0: any incarnation */
    assert_int_equal (mdl_peers_expire (p, 5.0, out, 4), 0);
    assert_false (mdl_peers_touch (p, 2, 8, 5.0)); /* another incarnation */
    assert_false (mdl_peers_touch (p, 9, 1, 5.0)); /* unknown */
    assert_false (mdl_peers_is_alive (p, 9));
    assert_int_equal (mdl_peers_expire (p, 6.0, out, 4), 1);
    assert_false (mdl_peers_touch (p, 2, 7, 6.1)); /* dead */
    assert_false (mdl_peers_is_alive (p, 2));
    mdl_peers_destroy (&p);
}

static void
test_dead_peer_announcing_again_rejoins (void **state)
{
    mdl_peers_t *p = mdl_peers_new (1, 2.0, 8, NULL);
    mdl_peer_event_t ev, out[4];
    mdl_peer_info_t a = s_info (2, 7);
    mdl_peers_seen (p, &a, 0.0, &ev);
    assert_int_equal (mdl_peers_expire (p, 3.0, out, 4), 1);
    assert_int_equal (mdl_peers_seen (p, &a, 4.0, &ev), 0);
    assert_int_equal (ev.kind, MDL_PEER_REJOIN);
    assert_true (ev.old_incarnation == 7);
    assert_true (mdl_peers_is_alive (p, 2));
    mdl_peers_destroy (&p);
}

static void
test_restart_with_new_incarnation_is_a_rejoin_not_a_duplicate (void **state)
{
    mdl_peers_t *p = mdl_peers_new (1, 2.0, 8, NULL);
    mdl_peer_event_t ev;
    mdl_peer_info_t a = s_info (2, 7), b = s_info (2, 8);
    b.port = 6000;
    snprintf (b.endpoint, sizeof b.endpoint, "tcp://10.0.0.2:6000");
    mdl_peers_seen (p, &a, 0.0, &ev);
    assert_int_equal (mdl_peers_seen (p, &b, 0.5, &ev), 0);
    assert_int_equal (ev.kind, MDL_PEER_REJOIN);
    assert_true (ev.old_incarnation == 7);
    assert_true (ev.info.incarnation == 8);
    assert_string_equal (ev.info.endpoint, "tcp://10.0.0.2:6000");
    uint64_t ids[4];
    assert_int_equal (mdl_peers_alive (p, ids, 4), 1);
    mdl_peers_destroy (&p);
}

static void
test_hello_without_endpoint_keeps_the_known_endpoint (void **state)
{
    mdl_peers_t *p = mdl_peers_new (1, 2.0, 8, NULL);
    mdl_peer_event_t ev;
    mdl_peer_info_t a = s_info (2, 7), h = s_info (2, 7);
    h.endpoint[0] = 0;
    mdl_peers_seen (p, &a, 0.0, &ev);
    mdl_peers_seen (p, &h, 0.1, &ev);
    assert_string_equal (mdl_peers_get (p, 2)->endpoint, a.endpoint);
    mdl_peers_destroy (&p);
}

static void
test_announcing_peer_never_heard_on_the_mesh_is_reported_mute_once (void **state)
{
    mdl_peers_t *p = mdl_peers_new (1, 2.0, 8, NULL);
    mdl_peer_event_t ev;
    mdl_peer_info_t a = s_info (2, 7), b = s_info (3, 7);
    mdl_peers_seen (p, &a, 0.0, &ev);
    mdl_peers_seen (p, &b, 0.0, &ev);
    uint64_t ids[4];
    for (double t = 0.25; t < 5.0; t += 0.25) {
        mdl_peers_seen (p, &a, t, &ev);
        mdl_peers_seen (p, &b, t, &ev);
        mdl_peers_touch (p, 3, 7, t);
        size_t k = mdl_peers_mute (p, t, ids, 4);
        if (t <= 2.0)
            assert_int_equal (k, 0);
        else if (t == 2.25) {
            assert_int_equal (k, 1);
            assert_true (ids[0] == 2);
        }
        else
            assert_int_equal (k, 0);
    }
    assert_true (mdl_peers_is_alive (p, 2)); /* mute, not dead */
    assert_true (mdl_peers_touch (p, 2, 7, 5.0));
    assert_int_equal (mdl_peers_mute (p, 7.5, ids, 4), 2);
    mdl_peers_destroy (&p);
}

static void
test_full_table_refuses_new_peers_but_keeps_old_ones (void **state)
{
    mdl_peers_t *p = mdl_peers_new (1, 2.0, 2, NULL);
    mdl_peer_event_t ev;
    mdl_peer_info_t a = s_info (2, 1), b = s_info (3, 1), c = s_info (4, 1);
    assert_int_equal (mdl_peers_seen (p, &a, 0.0, &ev), 0);
    assert_int_equal (mdl_peers_seen (p, &b, 0.0, &ev), 0);
    assert_int_equal (mdl_peers_seen (p, &c, 0.0, &ev), MDL_ENOMEM);
    assert_int_equal (ev.kind, MDL_PEER_NONE);
    assert_int_equal (mdl_peers_seen (p, &a, 0.1, &ev), 0);
    mdl_peers_destroy (&p);
}

static void
test_expire_reports_at_most_cap_and_the_rest_next_time (void **state)
{
    mdl_peers_t *p = mdl_peers_new (1, 1.0, 16, NULL);
    mdl_peer_event_t ev, out[3];
    for (uint64_t id = 2; id < 12; id++) {
        mdl_peer_info_t a = s_info (id, 1);
        mdl_peers_seen (p, &a, 0.0, &ev);
    }
    size_t total = 0, k;
    while ((k = mdl_peers_expire (p, 5.0, out, 3)) > 0)
        total += k;
    assert_int_equal (total, 10);
    assert_int_equal (mdl_peers_alive (p, NULL, 0), 0);
    mdl_peers_destroy (&p);
}

static void
test_remove_marks_dead_once (void **state)
{
    mdl_peers_t *p = mdl_peers_new (1, 1.0, 4, NULL);
    mdl_peer_event_t ev;
    mdl_peer_info_t a = s_info (2, 1);
    mdl_peers_seen (p, &a, 0.0, &ev);
    assert_true (mdl_peers_remove (p, 2, &ev));
    assert_int_equal (ev.kind, MDL_PEER_LEAVE);
    assert_false (mdl_peers_remove (p, 2, &ev));
    assert_false (mdl_peers_remove (p, 5, NULL));
    /* a hello it sent before its goodbye, heard after it: stale, no rejoin */
    assert_int_equal (mdl_peers_seen (p, &a, 0.5, &ev), 0);
    assert_int_equal (ev.kind, MDL_PEER_NONE);
    assert_false (mdl_peers_is_alive (p, 2));
    /* a restart (a new incarnation) is readmitted */
    a.incarnation++;
    assert_int_equal (mdl_peers_seen (p, &a, 0.6, &ev), 0);
    assert_int_equal (ev.kind, MDL_PEER_REJOIN);
    assert_true (mdl_peers_is_alive (p, 2));
    mdl_peers_destroy (&p);
}

/* A peer dropped as not live (mute, or a key we refuse) is not a goodbye: its next
   announcement, same incarnation, rejoins it. Listening to it anew restarts the time it
   has to be heard before it counts as mute. */
static void
test_drop_marks_dead_and_the_same_incarnation_rejoins (void **state)
{
    mdl_peers_t *p = mdl_peers_new (1, 2.0, 4, NULL);
    mdl_peer_event_t ev;
    mdl_peer_info_t a = s_info (2, 1);
    uint64_t ids[4];
    mdl_peers_seen (p, &a, 0.0, &ev);
    assert_true (mdl_peers_drop (p, 2, &ev));
    assert_int_equal (ev.kind, MDL_PEER_LEAVE);
    assert_false (mdl_peers_drop (p, 2, &ev));
    assert_false (mdl_peers_is_alive (p, 2));
    assert_int_equal (mdl_peers_seen (p, &a, 0.5, &ev), 0);
    assert_int_equal (ev.kind, MDL_PEER_REJOIN);
    assert_true (mdl_peers_is_alive (p, 2));
    mdl_peers_listening (p, 2, 2.0); /* connected at 2.0: mute only after 4.0 */
    mdl_peers_seen (p, &a, 3.0, &ev);
    assert_int_equal (mdl_peers_mute (p, 3.9, ids, 4), 0);
    assert_int_equal (mdl_peers_mute (p, 4.1, ids, 4), 1);
    mdl_peers_destroy (&p);
}

static void
test_bad_arguments_are_refused (void **state)
{
    int err = 0;
    assert_null (mdl_peers_new (1, 0.0, 4, &err));
    assert_int_equal (err, MDL_EINVAL);
    assert_null (mdl_peers_new (1, 1.0, 0, &err));
    assert_int_equal (err, MDL_EINVAL);
}

static void
test_a_new_id_joins_only_when_announced_again_after_the_probation (void **state)
{
    mdl_peers_t *p = mdl_peers_new (1, 2.0, 8, NULL);
    mdl_peers_limits (p, 0.1, 64, 0);
    mdl_peer_event_t ev;
    mdl_peer_info_t a = s_info (2, 10);
    assert_int_equal (mdl_peers_seen (p, &a, 0.0, &ev), 0);
    assert_int_equal (ev.kind, MDL_PEER_NONE); /* on probation */
    assert_int_equal (mdl_peers_seen (p, &a, 0.05, &ev), 0);
    assert_int_equal (ev.kind, MDL_PEER_NONE); /* too soon */
    assert_int_equal (mdl_peers_alive (p, NULL, 0), 0);
    assert_int_equal (mdl_peers_seen (p, &a, 0.12, &ev), 0);
    assert_int_equal (ev.kind, MDL_PEER_JOIN);
    assert_int_equal (mdl_peers_alive (p, NULL, 0), 1);
    mdl_peers_destroy (&p);
}

static void
test_fresh_ids_announced_once_never_join_and_take_no_room (void **state)
{
    mdl_peers_t *p = mdl_peers_new (1, 2.0, 8, NULL);
    mdl_peers_limits (p, 0.1, 64, 0);
    mdl_peer_event_t ev;
    /* 10000 fresh ids, each announced once: none joins, and a real peer announced
       among them still joins (the probation list keeps the newest ids) */
    mdl_peer_info_t real = s_info (3, 1);
    assert_int_equal (mdl_peers_seen (p, &real, 0.0, &ev), 0);
    for (uint64_t k = 0; k < 10000; k++) {
        mdl_peer_info_t junk = s_info (1000 + k, 1);
        assert_int_equal (mdl_peers_seen (p, &junk, 0.01, &ev), 0);
        assert_int_equal (ev.kind, MDL_PEER_NONE);
    }
    assert_int_equal (mdl_peers_alive (p, NULL, 0), 0);
    /* evicted by the flood: its next announcement starts the probation again */
    assert_int_equal (mdl_peers_seen (p, &real, 0.3, &ev), 0);
    assert_int_equal (ev.kind, MDL_PEER_NONE);
    assert_int_equal (mdl_peers_seen (p, &real, 0.5, &ev), 0);
    assert_int_equal (ev.kind, MDL_PEER_JOIN);
    mdl_peers_destroy (&p);
}

static void
test_joins_beyond_the_budget_are_refused_until_it_refills (void **state)
{
    mdl_peers_t *p = mdl_peers_new (1, 100.0, 64, NULL);
    mdl_peers_limits (p, 0, 3, 2.0); /* a burst of 3, then 2 per second */
    mdl_peer_event_t ev;
    for (uint64_t id = 2; id <= 4; id++) {
        mdl_peer_info_t a = s_info (id, 1);
        assert_int_equal (mdl_peers_seen (p, &a, 0.0, &ev), 0);
        assert_int_equal (ev.kind, MDL_PEER_JOIN);
    }
    mdl_peer_info_t e = s_info (5, 1);
    assert_int_equal (mdl_peers_seen (p, &e, 0.1, &ev), MDL_ERATE);
    assert_null (mdl_peers_get (p, 5)); /* nothing recorded */
    assert_int_equal (mdl_peers_seen (p, &e, 0.6, &ev), 0); /* a token after 0.5 s */
    assert_int_equal (ev.kind, MDL_PEER_JOIN);
    /* a rejoin (new incarnation) spends a token too */
    mdl_peer_info_t again = s_info (2, 2);
    assert_int_equal (mdl_peers_seen (p, &again, 0.6, &ev), MDL_ERATE);
    assert_int_equal (mdl_peers_seen (p, &again, 1.2, &ev), 0);
    assert_int_equal (ev.kind, MDL_PEER_REJOIN);
    mdl_peers_destroy (&p);
}

static void
test_a_churning_peer_waits_longer_each_time_and_a_rare_restart_not_at_all (void **state)
{
    mdl_peers_t *p = mdl_peers_new (1, 100.0, 8, NULL);
    mdl_peers_backoff (p, 4.0);
    mdl_peer_event_t ev;
    mdl_peer_info_t a = s_info (2, 1);
    assert_int_equal (mdl_peers_seen (p, &a, 0.0, &ev), 0);
    assert_int_equal (ev.kind, MDL_PEER_JOIN);
    /* goodbye and back with a new incarnation, as fast as it likes: the first rejoin
       is at once, then it waits 0.5, 1, 2, 4, 4 s (the ceiling) after each */
    const double allowed[] = { 0.1, 0.6, 1.6, 3.6, 7.6, 11.6 };
    for (size_t k = 0; k < sizeof allowed / sizeof *allowed; k++) {
        assert_true (mdl_peers_remove (p, 2, &ev));
        a.incarnation++;
        if (k > 0) { /* just before its time: refused, and it stays dead */
            assert_int_equal (mdl_peers_seen (p, &a, allowed[k] - 0.01, &ev), MDL_EBACKOFF);
            assert_int_equal (ev.kind, MDL_PEER_NONE);
            assert_false (mdl_peers_is_alive (p, 2));
        }
        assert_int_equal (mdl_peers_seen (p, &a, allowed[k], &ev), 0);
        assert_int_equal (ev.kind, MDL_PEER_REJOIN);
    }
    /* quiet for longer than 2 * 4 + 4 s: a restart then rejoins at once, twice */
    assert_true (mdl_peers_remove (p, 2, &ev));
    a.incarnation++;
    assert_int_equal (mdl_peers_seen (p, &a, 30.0, &ev), 0);
    assert_int_equal (ev.kind, MDL_PEER_REJOIN);
    assert_true (mdl_peers_remove (p, 2, &ev));
    a.incarnation++;
    assert_int_equal (mdl_peers_seen (p, &a, 30.5, &ev), 0);
    assert_int_equal (ev.kind, MDL_PEER_REJOIN);
    /* another id is not held back by this one's churn */
    mdl_peer_info_t b = s_info (3, 1);
    assert_int_equal (mdl_peers_seen (p, &b, 30.5, &ev), 0);
    assert_int_equal (ev.kind, MDL_PEER_JOIN);
    mdl_peers_destroy (&p);
}

static void
test_a_full_table_evicts_its_longest_dead_record (void **state)
{
    mdl_peers_t *p = mdl_peers_new (1, 1.0, 3, NULL);
    mdl_peer_event_t ev, out[4];
    for (uint64_t id = 2; id <= 4; id++) {
        mdl_peer_info_t a = s_info (id, 1);
        assert_int_equal (mdl_peers_seen (p, &a, (double) id, &ev), 0);
    }
    mdl_peer_info_t e = s_info (9, 1);
    assert_int_equal (mdl_peers_seen (p, &e, 4.5, &ev), MDL_ENOMEM); /* all alive */
    /* 2 (seen at 2) and 3 (seen at 3) die; 9 takes the place of 2, the longest dead */
    assert_int_equal (mdl_peers_expire (p, 4.5, out, 4), 2);
    assert_int_equal (mdl_peers_seen (p, &e, 4.6, &ev), 0);
    assert_int_equal (ev.kind, MDL_PEER_JOIN);
    assert_null (mdl_peers_get (p, 2));
    assert_non_null (mdl_peers_get (p, 3));
    assert_true (mdl_peers_is_alive (p, 4) && mdl_peers_is_alive (p, 9));
    mdl_peers_destroy (&p);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_a_new_id_joins_only_when_announced_again_after_the_probation),
        cmocka_unit_test (test_fresh_ids_announced_once_never_join_and_take_no_room),
        cmocka_unit_test (test_joins_beyond_the_budget_are_refused_until_it_refills),
        cmocka_unit_test (test_a_full_table_evicts_its_longest_dead_record),
        cmocka_unit_test (test_a_churning_peer_waits_longer_each_time_and_a_rare_restart_not_at_all),
        cmocka_unit_test (test_first_announcement_joins_and_repeats_change_nothing),
        cmocka_unit_test (test_self_and_id_zero_are_ignored),
        cmocka_unit_test (test_silent_peer_leaves_after_timeout_and_not_before),
        cmocka_unit_test (test_messages_keep_a_live_peer_alive_but_do_not_join_unknown_ones),
        cmocka_unit_test (test_dead_peer_announcing_again_rejoins),
        cmocka_unit_test (test_restart_with_new_incarnation_is_a_rejoin_not_a_duplicate),
        cmocka_unit_test (test_hello_without_endpoint_keeps_the_known_endpoint),
        cmocka_unit_test (test_announcing_peer_never_heard_on_the_mesh_is_reported_mute_once),
        cmocka_unit_test (test_full_table_refuses_new_peers_but_keeps_old_ones),
        cmocka_unit_test (test_expire_reports_at_most_cap_and_the_rest_next_time),
        cmocka_unit_test (test_remove_marks_dead_once),
        cmocka_unit_test (test_drop_marks_dead_and_the_same_incarnation_rejoins),
        cmocka_unit_test (test_bad_arguments_are_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
