/*  opts.h: command-line options from a table, shared by every subcommand.

    Each option names its destination and its type; values are parsed strictly (the whole
    string must be a number in range) and a bad one gets one line naming the option, the
    value and what it should be. The same table prints --help, reads a CZMQ zconfig file
    (--config) and the MESHDL_<OPTION> environment, so every option has one definition.
    Precedence: command line > environment > config file > default. */
#ifndef MDL_OPTS_H
#define MDL_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    MDL_OPTT_INT,    /* int, within [min, max] */
    MDL_OPTT_U64,    /* uint64_t, within [min, max] */
    MDL_OPTT_DOUBLE, /* double, finite, within [min, max] */
    MDL_OPTT_STR,    /* const char * (points into argv/env/config: not copied) */
    MDL_OPTT_FLAG,   /* bool, takes no value ("true"/"false"/"1"/"0" in env/config) */
    MDL_OPTT_LIST,   /* repeatable: appends to a mdl_strlist_t */
} mdl_opt_type_t;

#define MDL_STRLIST_MAX 64
typedef struct {
    const char *v[MDL_STRLIST_MAX];
    int n;
} mdl_strlist_t;

typedef struct {
    const char *name;    /* without the leading "--" */
    mdl_opt_type_t type;
    void *dst;
    const char *metavar; /* e.g. "N", "SPEC"; NULL for flags */
    const char *help;
    double min, max;     /* numeric range (inclusive) */
    bool given;          /* set by the parser: the option was given (any source) */
} mdl_optdef_t;

/* Parses argv[0..argc) (argv[0] is the first option, not the program) into the table's
   destinations. Accepts "--name value" and "--name=value". Returns 0, 1 when --help was
   asked (help printed to stdout), or MDL_EINVAL with a one-line message in err. */
int mdl_opts_parse (const char *cmd, mdl_optdef_t *defs, int argc, char **argv,
                    char *err, size_t errlen);

/* Applies MESHDL_<NAME> variables (name upper-cased, '-' -> '_') for options not given
   on the command line; an unknown MESHDL_ variable is an error, since it is almost
   always a typo. Call after mdl_opts_parse. Returns 0 or MDL_EINVAL + message. */
int mdl_opts_env (const char *cmd, mdl_optdef_t *defs, char *err, size_t errlen);

/* Applies the options of a CZMQ zconfig file (one "name = value" per option, names as
   on the command line without "--", at the top level) for options not given on the
   command line or in the environment. An unknown name or a bad value is an error, as is
   a file that does not exist or does not parse. *keep receives the loaded config, which
   string options point into: destroy it with mdl_opts_config_free when done. */
int mdl_opts_config (const char *cmd, mdl_optdef_t *defs, const char *path, void **keep,
                     char *err, size_t errlen);
void mdl_opts_config_free (void **keep);

/* Prints usage and the option table (or hands them to the help hook, when one is set). */
void mdl_opts_help (FILE *out, const char *usage, const mdl_optdef_t *defs);

/* Where --help goes instead of the text: generators of the man page and the shell
   completion (manpage.c) read every command's table through it. NULL restores the text. */
typedef void (mdl_opts_help_fn) (FILE *out, const char *usage, const mdl_optdef_t *defs);
void mdl_opts_help_hook (mdl_opts_help_fn *fn);

/* True when the option was set on the command line (or env/config). */
bool mdl_opts_given (const mdl_optdef_t *defs, const char *name);

#endif
