/*  cli.h: the subcommands of the meshdl executable. Each takes the arguments after its
    name and returns the process exit code (0 ok, 2 bad input, others documented in its
    --help). */
#ifndef MDL_CLI_H
#define MDL_CLI_H

int mdl_cmd_train (int argc, char **argv);
int mdl_cmd_sim (int argc, char **argv);
int mdl_cmd_agent (int argc, char **argv);
int mdl_cmd_keygen (int argc, char **argv);
int mdl_cmd_status (int argc, char **argv);

/* The option tables of the subcommands that have one, with their defaults noted (static
   storage, built on first use): what MESHDL_* variables may name and what --help lists. */
#include "opts.h"
const mdl_optdef_t *mdl_cmd_train_options (void);
const mdl_optdef_t *mdl_cmd_sim_options (void);
const mdl_optdef_t *mdl_cmd_agent_options (void);

#endif
