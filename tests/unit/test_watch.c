/*  test_watch.c: the agents of a cluster found without joining it (meshdl/watch.h): a
    --peers list is handed out once per endpoint, a configuration that names no way to
    find agents is refused with the reason, destroy is safe twice. */
#include "testutil.h"

#include <string.h>
#include <time.h>

#include "meshdl.h"

static void
test_a_watch_hands_out_each_listed_endpoint_once (void **state)
{
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    assert_int_equal (mdl_agent_cfg_set (c, "peers", "tcp://127.0.0.1:5555,tcp://127.0.0.1:5556"), 0);
    int err = 0;
    mdl_watch_t *w = mdl_watch_new (c, &err);
    assert_non_null (w);
    mdl_agent_cfg_destroy (&c); /* the watch keeps what it needs */
    char got[8][MDL_ENDPOINT_MAX];
    size_t n = 0;
    for (int tries = 0; tries < 200 && n < 2; tries++) { /* the back-end may announce on its next tick */
        n += mdl_watch_found (w, got + n, 8 - n);
        if (n < 2)
            nanosleep (&(struct timespec) { 0, 10000000 }, NULL);
    }
    assert_int_equal (n, 2);
    assert_true ((!strcmp (got[0], "tcp://127.0.0.1:5555") && !strcmp (got[1], "tcp://127.0.0.1:5556"))
                 || (!strcmp (got[1], "tcp://127.0.0.1:5555") && !strcmp (got[0], "tcp://127.0.0.1:5556")));
    assert_int_equal (mdl_watch_found (w, got, 8), 0); /* once */
    assert_int_equal (mdl_watch_withdrawn (w, got, 8), 0);
    char unresolved[64] = "x";
    mdl_watch_unresolved (w, unresolved, sizeof unresolved);
    assert_string_equal (unresolved, "");
    mdl_watch_destroy (&w);
    assert_null (w);
    mdl_watch_destroy (&w);
}

static void
test_a_watch_without_peers_or_interface_is_refused_with_the_reason (void **state)
{
    mdl_agent_cfg_t *c = mdl_agent_cfg_new ();
    int err = 0;
    assert_null (mdl_watch_new (c, &err));
    assert_int_equal (err, MDL_EINVAL);
    assert_non_null (strstr (mdl_error_detail (), "interface"));
    mdl_agent_cfg_destroy (&c);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_a_watch_hands_out_each_listed_endpoint_once),
        cmocka_unit_test (test_a_watch_without_peers_or_interface_is_refused_with_the_reason),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
