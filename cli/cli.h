/*  cli.h: the subcommands of the meshdl executable. Each takes the arguments after its
    name and returns the process exit code (0 ok, 2 bad input, others documented in its
    --help). */
#ifndef MDL_CLI_H
#define MDL_CLI_H

#include <stddef.h>
#include <stdio.h>

int mdl_cmd_train (int argc, char **argv);
int mdl_cmd_sim (int argc, char **argv);
int mdl_cmd_agent (int argc, char **argv);
int mdl_cmd_keygen (int argc, char **argv);
int mdl_cmd_status (int argc, char **argv);
int mdl_cmd_plot (int argc, char **argv);
int mdl_cmd_top (int argc, char **argv);

/* The subcommands, as main.c lists them. */
typedef struct {
    const char *name;
    int (*run) (int argc, char **argv);
    const char *help;
} mdl_cli_cmd_t;

/* manpage.c: writes the man page of meshdl (roff) or its bash completion script to out,
   from every command's option table (each command's --help, read through the help hook).
   Returns 0, or 2 when a command's options could not be read. */
int mdl_cli_manpage (FILE *out, const mdl_cli_cmd_t *cmds, size_t n);
int mdl_cli_completion (FILE *out, const mdl_cli_cmd_t *cmds, size_t n);

/* The option tables of the subcommands that have one, with their defaults noted (static
   storage, built on first use): what MESHDL_* variables may name and what --help lists. */
#include "opts.h"
const mdl_optdef_t *mdl_cmd_train_options (void);
const mdl_optdef_t *mdl_cmd_sim_options (void);
const mdl_optdef_t *mdl_cmd_agent_options (void);

#endif
