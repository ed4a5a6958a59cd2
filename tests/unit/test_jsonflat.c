/*  test_jsonflat.c: the reader of meshdl's JSON lines (cli/jsonflat.c): metrics lines,
    a summary's nested keys lifted, strings with escapes, arrays skipped, and every
    truncation or corruption of a line refused without reading past its end. */
#include "testutil.h"

#include "err.h"
#include "jsonflat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *s_metrics
    = "{\"time\": 1796475553.5994, \"agent\": 3, \"run\": \"r-7\", \"step\": 68, \"test_acc\": 0.78, "
      "\"consensus_distance\": 1.5e-3, \"avg_test_acc\": null, \"ok\": true, \"list\": [1, [2, \"]\"], {\"a\": 1}], "
      "\"note\": \"a \\\"quoted\\\" \\\\ word\\n\\u00e9\"}";

static void
test_jsonflat_reads_a_metrics_line (void **state)
{
    mdl_jsonflat_t o;
    assert_int_equal (mdl_jsonflat_parse (s_metrics, &o), 0);
    double v;
    assert_true (mdl_jsonflat_num (&o, "time", &v) && v == 1796475553.5994);
    assert_true (mdl_jsonflat_num (&o, "agent", &v) && v == 3);
    assert_true (mdl_jsonflat_num (&o, "consensus_distance", &v) && v == 1.5e-3);
    assert_true (mdl_jsonflat_num (&o, "ok", &v) && v == 1);
    assert_false (mdl_jsonflat_num (&o, "avg_test_acc", &v)); /* null */
    assert_true (mdl_jsonflat_get (&o, "avg_test_acc")->is_null);
    assert_string_equal (mdl_jsonflat_get (&o, "run")->str, "r-7");
    assert_string_equal (mdl_jsonflat_get (&o, "note")->str, "a \"quoted\" \\ word\n?");
    assert_null (mdl_jsonflat_get (&o, "list")); /* arrays are skipped */
    assert_null (mdl_jsonflat_get (&o, "missing"));
}

static void
test_jsonflat_lifts_the_keys_of_a_summary (void **state)
{
    mdl_jsonflat_t o;
    assert_int_equal (mdl_jsonflat_parse ("{\"summary\": {\"test_acc\": 0.85, \"codec\": \"topk:0.01\"}}\n", &o), 0);
    double v;
    assert_true (mdl_jsonflat_num (&o, "test_acc", &v) && v == 0.85);
    assert_string_equal (mdl_jsonflat_get (&o, "codec")->str, "topk:0.01");
    assert_int_equal (mdl_jsonflat_parse ("  {}  ", &o), 0);
    assert_int_equal (o.n, 0);
}

static void
test_jsonflat_refuses_every_truncation_and_junk (void **state)
{
    mdl_jsonflat_t o;
    const size_t len = strlen (s_metrics);
    char *buf = malloc (len + 1);
    for (size_t cut = 0; cut < len; cut++) { /* every prefix is incomplete */
        memcpy (buf, s_metrics, cut);
        buf[cut] = '\0';
        assert_int_equal (mdl_jsonflat_parse (buf, &o), MDL_EFORMAT);
        assert_int_equal (o.n, 0);
    }
    free (buf);
    const char *bad[] = { "", "[1, 2]", "{\"a\" 1}", "{\"a\": }", "{\"a\": 1,}", "{\"a\": 1} x", "{a: 1}",
                          "{\"a\": \"\\q\"}", "{\"a\": tru}", "not json" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal (mdl_jsonflat_parse (bad[i], &o), MDL_EFORMAT);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_jsonflat_reads_a_metrics_line),
        cmocka_unit_test (test_jsonflat_lifts_the_keys_of_a_summary),
        cmocka_unit_test (test_jsonflat_refuses_every_truncation_and_junk),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
