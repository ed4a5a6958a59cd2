/*  main.c: the meshdl command-line tool: one executable, subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commit.h" /* MDL_BUILD_COMMIT, generated (cmake/commit.cmake) */
#include "opts.h"

static const mdl_cli_cmd_t s_cmds[] = {
    { "train", mdl_cmd_train, "train one model on the whole training set (centralized baseline)" },
    { "agent", mdl_cmd_agent, "one agent in this process, finding peers by beacon or a static list" },
    { "keygen", mdl_cmd_keygen, "write a CURVE key pair (CZMQ zcert format) for --curve" },
    { "status", mdl_cmd_status, "is an agent healthy (has its peers, is stepping)? the Docker HEALTHCHECK" },
    { "sim", mdl_cmd_sim, "N agents as threads of one process, gossiping over inproc sockets" },
    { "top", mdl_cmd_top, "a live view of a running cluster (each agent's --http /status)" },
    { "plot", mdl_cmd_plot, "draw --metrics files (accuracy against time and bytes, consensus) with gnuplot" },
};

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: meshdl COMMAND [options]\n\n"
                  "meshdl: decentralized deep-learning training over ZeroMQ.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        fprintf (out, "  %-8s %s\n", s_cmds[i].name, s_cmds[i].help);
    fprintf (out, "\nRun 'meshdl COMMAND --help' for the options of a command; 'meshdl --man' writes the man\n"
                  "page, 'meshdl --completion bash' the bash completion (both installed by cmake --install).\n");
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        s_usage (stderr);
        return 2;
    }
    if (!strcmp (argv[1], "--help") || !strcmp (argv[1], "-h") || !strcmp (argv[1], "help")) {
        s_usage (stdout);
        return 0;
    }
    if (!strcmp (argv[1], "--version")) {
        printf ("meshdl %s (commit %s)\n", MESHDL_VERSION, MDL_BUILD_COMMIT);
        return 0;
    }
    /* generated at build time and installed: the man page and the bash completion */
    const size_t ncmds = sizeof s_cmds / sizeof s_cmds[0];
    if (!strcmp (argv[1], "--man"))
        return mdl_cli_manpage (stdout, s_cmds, ncmds);
    if (!strcmp (argv[1], "--completion") && argc > 2 && !strcmp (argv[2], "bash"))
        return mdl_cli_completion (stdout, s_cmds, ncmds);
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        if (!strcmp (argv[1], s_cmds[i].name))
            return s_cmds[i].run (argc - 2, argv + 2);
    const char *names[sizeof s_cmds / sizeof s_cmds[0]];
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        names[i] = s_cmds[i].name;
    char hint[96];
    fprintf (stderr, "meshdl: unknown command '%s'%s (see meshdl --help)\n", argv[1],
             mdl_did_you_mean (hint, sizeof hint, argv[1], names, sizeof names / sizeof names[0], ""));
    return 2;
}
