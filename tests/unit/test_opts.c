/*  test_opts.c: the option tables of the command line: --help's defaults come from the
    destinations the tables set (no default written into a help text, where it could
    drift), unknown names get the closest known one, and MESHDL_* variables of other
    commands and of the recipes are left alone while a typo is refused. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "opts.h"

typedef struct {
    int n;
    double x;
    const char *name;
    bool flag;
    double nan_default;
} s_vals_t;

static void
s_table (s_vals_t *v, mdl_optdef_t *defs)
{
    *v = (s_vals_t) { .n = 3, .x = 0.25, .name = "ring", .flag = false, .nan_default = NAN };
    mdl_optdef_t t[] = {
        { .name = "n", .type = MDL_OPTT_INT, .dst = &v->n, .metavar = "N", .help = "a count", .min = 0, .max = 100 },
        { .name = "x", .type = MDL_OPTT_DOUBLE, .dst = &v->x, .metavar = "X", .help = "a number", .min = 0, .max = 1 },
        { .name = "topology", .type = MDL_OPTT_STR, .dst = &v->name, .metavar = "T", .help = "a name" },
        { .name = "flag", .type = MDL_OPTT_FLAG, .dst = &v->flag, .help = "a flag" },
        { .name = "gamma", .type = MDL_OPTT_DOUBLE, .dst = &v->nan_default, .metavar = "G", .help = "chosen later",
          .min = 0, .max = 1, .deflt = "the algorithm's" },
        { 0 },
    };
    memcpy (defs, t, sizeof t);
}

static char *
s_help (const mdl_optdef_t *defs)
{
    static char buf[4096];
    FILE *f = fmemopen (buf, sizeof buf, "w");
    assert_non_null (f);
    mdl_opts_help (f, "usage", defs);
    fclose (f);
    return buf;
}

static void
test_help_shows_the_defaults_the_table_set_before_parsing (void **state)
{
    s_vals_t v;
    mdl_optdef_t defs[8];
    s_table (&v, defs);
    char err[256];
    char *argv[] = { "--n", "7", "--topology=exp", "--help" };
    assert_int_equal (mdl_opts_parse ("t", defs, 4, argv, err, sizeof err), 1);
    assert_int_equal (v.n, 7); /* parsed before --help ... */
    const char *h = s_help (defs);
    assert_non_null (strstr (h, "a count [3]\n"));   /* ... but the default is what was set */
    assert_non_null (strstr (h, "a number [0.25]\n"));
    assert_non_null (strstr (h, "a name [ring]\n"));
    assert_non_null (strstr (h, "a flag\n"));        /* a flag off by default: no brackets */
    assert_non_null (strstr (h, "chosen later [the algorithm's]\n"));
}

static void
test_help_texts_of_every_command_hold_no_default_of_their_own (void **state)
{
    /* A "[...]" at the end of a help text would be a second default, written by hand. */
    const mdl_optdef_t *tables[] = { mdl_cmd_train_options (), mdl_cmd_sim_options (), mdl_cmd_agent_options () };
    for (size_t t = 0; t < 3; t++)
        for (int i = 0; tables[t][i].name; i++) {
            const char *h = tables[t][i].help, *open = strrchr (h, '[');
            const size_t len = strlen (h);
            if (len && h[len - 1] == ']' && open && open > h && open[-1] == ' ') /* not "(0, 1]" */
                fail_msg ("--%s: help ends with its own default: %s", tables[t][i].name, h);
        }
    /* the per-agent batch differs by command, and each --help says its own */
    const char *want[3] = { "64", "8", "16" };
    for (size_t t = 0; t < 3; t++)
        for (int i = 0; tables[t][i].name; i++)
            if (!strcmp (tables[t][i].name, "batch"))
                assert_string_equal (tables[t][i].shown, want[t]);
}

static void
test_unknown_names_get_the_closest_known_one (void **state)
{
    const char *opts[] = { "epochs", "topology", "error-feedback", "batch", "lr" };
    assert_string_equal (mdl_closest ("epoch", opts, 5), "epochs");
    assert_string_equal (mdl_closest ("topolgy", opts, 5), "topology");
    assert_string_equal (mdl_closest ("error-feedbak", opts, 5), "error-feedback");
    assert_string_equal (mdl_closest ("bacth", opts, 5), "batch");
    assert_null (mdl_closest ("bogus", opts, 5));
    assert_null (mdl_closest ("", opts, 5));
    char hint[96];
    assert_string_equal (mdl_did_you_mean_in (hint, sizeof hint, "rign", "complete, ring, base:K (Base-(K+1) graph)"),
                         ", did you mean ring?");
    assert_string_equal (mdl_did_you_mean_in (hint, sizeof hint, "bsae:2", "complete, ring, base:K (Base-(K+1) graph)"),
                         ", did you mean base?");
    assert_string_equal (mdl_did_you_mean_in (hint, sizeof hint, "asnyc", "sync | async"), ", did you mean async?");
    assert_string_equal (mdl_did_you_mean_in (hint, sizeof hint, "zzz", "sync | async"), "");
    s_vals_t v;
    mdl_optdef_t defs[8];
    s_table (&v, defs);
    char err[256];
    char *argv[] = { "--topolgy", "exp" };
    assert_int_equal (mdl_opts_parse ("t", defs, 2, argv, err, sizeof err), MDL_EINVAL);
    assert_non_null (strstr (err, "unknown option '--topolgy', did you mean --topology?"));
}

static void
test_environment_of_other_commands_and_recipes_is_left_alone_and_typos_refused (void **state)
{
    s_vals_t v;
    mdl_optdef_t defs[8];
    s_table (&v, defs);
    char err[256] = "";
    /* a recipe's, meshdl status's, and another command's option (sim --agents) */
    setenv ("MESHDL_IMAGE", "meshdl:test", 1);
    setenv ("MESHDL_STATUS", "/tmp/none.json", 1);
    setenv ("MESHDL_AGENTS", "4", 1);
    setenv ("MESHDL_N", "9", 1);
    assert_int_equal (mdl_opts_env ("t", defs, err, sizeof err), 0);
    assert_int_equal (v.n, 9);
    /* a typo of an option: refused, with the variable meant */
    setenv ("MESHDL_TOPOLGY", "exp", 1);
    assert_int_equal (mdl_opts_env ("t", defs, err, sizeof err), MDL_EINVAL);
    assert_non_null (strstr (err, "MESHDL_TOPOLGY, did you mean MESHDL_TOPOLOGY?"));
    unsetenv ("MESHDL_TOPOLGY");
    unsetenv ("MESHDL_IMAGE");
    unsetenv ("MESHDL_STATUS");
    unsetenv ("MESHDL_AGENTS");
    unsetenv ("MESHDL_N");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_help_shows_the_defaults_the_table_set_before_parsing),
        cmocka_unit_test (test_help_texts_of_every_command_hold_no_default_of_their_own),
        cmocka_unit_test (test_unknown_names_get_the_closest_known_one),
        cmocka_unit_test (test_environment_of_other_commands_and_recipes_is_left_alone_and_typos_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
