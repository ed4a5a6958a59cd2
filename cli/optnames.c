/*  optnames.c: every option name of every subcommand, so that a MESHDL_* variable meant
    for another command (a shell that exported MESHDL_PEERS for agents also runs sim) is
    not taken for a typo (opts.h). */
#include <string.h>

#include "cli.h"
#include "opts.h"

bool
mdl_cli_option_exists (const char *name)
{
    const mdl_optdef_t *tables[] = { mdl_cmd_train_options (), mdl_cmd_sim_options (), mdl_cmd_agent_options () };
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (int i = 0; tables[t] && tables[t][i].name; i++)
            if (!strcmp (tables[t][i].name, name))
                return true;
    return false;
}
