/*  test_status.c: the health status an agent keeps (cli/status.h) and what `meshdl status`
    makes of it: a training agent whose worker or comm thread stopped beating is unhealthy
    and the line names the thread, while the main thread still rewrites the file (a stuck
    thread does not make the status stale); fresh heartbeats are healthy; a status without
    heartbeats (an older agent) is judged as before. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "status.h"

static char s_path[64];

static int
s_setup (void **state)
{
    (void) state;
    snprintf (s_path, sizeof s_path, "/tmp/test_status_reliability.%d.json", (int) getpid ());
    return 0;
}

static int
s_teardown (void **state)
{
    (void) state;
    unlink (s_path);
    return 0;
}

static mdl_status_t
s_training (double worker_s, double comm_s)
{
    return (mdl_status_t) { .agent = "00000000000000aa", .state = "training", .peers = 2, .min_peers = 1, .step = 120,
                            .epoch = 1.5, .shard = 0, .shards = 3, .first_step_time = NAN, .worker_s = worker_s,
                            .comm_s = comm_s };
}

static int
s_check (const mdl_status_t *st, char *line, size_t len)
{
    assert_int_equal (mdl_status_write (s_path, st), 0);
    return mdl_status_check (s_path, 30, false, line, len);
}

static void
test_fresh_heartbeats_are_healthy (void **state)
{
    (void) state;
    char line[512];
    mdl_status_t st = s_training (0.2, 0.02);
    assert_int_equal (s_check (&st, line, sizeof line), 0);
    assert_non_null (strstr (line, "healthy: agent 00000000000000aa training"));
}

static void
test_a_stuck_worker_is_unhealthy_and_named (void **state)
{
    (void) state;
    char line[512];
    mdl_status_t st = s_training (95, 0.02);
    assert_int_equal (s_check (&st, line, sizeof line), 1);
    assert_non_null (strstr (line, "its worker thread has shown no sign of life for 95 s"));
}

static void
test_a_stuck_comm_thread_is_unhealthy_and_named (void **state)
{
    (void) state;
    char line[512];
    mdl_status_t st = s_training (0.1, 41);
    assert_int_equal (s_check (&st, line, sizeof line), 1);
    assert_non_null (strstr (line, "its comm thread has shown no sign of life for 41 s"));
}

static void
test_a_status_without_heartbeats_is_judged_as_before (void **state)
{
    (void) state;
    char line[512];
    mdl_status_t st = s_training (NAN, NAN);
    assert_int_equal (s_check (&st, line, sizeof line), 0);
    st.state = "done"; /* a finished agent's threads ended: not stuck */
    st.worker_s = 500;
    assert_int_equal (s_check (&st, line, sizeof line), 0);
    assert_non_null (strstr (line, "finished"));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_fresh_heartbeats_are_healthy, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_a_stuck_worker_is_unhealthy_and_named, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_a_stuck_comm_thread_is_unhealthy_and_named, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_a_status_without_heartbeats_is_judged_as_before, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
