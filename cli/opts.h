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
    const char *help;    /* without the default: --help appends it from dst */
    double min, max;     /* numeric range (inclusive) */
    const char *deflt;   /* --help's default when dst's value does not say it (NAN, NULL,
                            "0 = all", chosen later): shown as is; "" = show none */
    bool given;          /* set by the parser: the option was given (any source) */
    char shown[128];     /* set by the parser: the default as --help shows it */
} mdl_optdef_t;

/* Parses argv[0..argc) (argv[0] is the first option, not the program) into the table's
   destinations. Accepts "--name value" and "--name=value". First notes every option's
   default (its destination's value now, or .deflt) for --help. Returns 0, 1 when --help
   was asked (print it with mdl_opts_help), or MDL_EINVAL with a one-line message in err
   (an unknown option with the closest known one: "did you mean --epochs?"). */
int mdl_opts_parse (const char *cmd, mdl_optdef_t *defs, int argc, char **argv,
                    char *err, size_t errlen);

/* Applies MESHDL_<NAME> variables (name upper-cased, '-' -> '_') for options not given
   on the command line. Variables that are not this command's: those of another
   subcommand's options (mdl_cli_option_exists) and of the recipes and tools
   (MESHDL_IMAGE, MESHDL_STATUS as read by `meshdl status`, the tests' MESHDL_BIN, ...) are
   left alone; any other MESHDL_ variable is an error, since it is almost always a typo
   (with the closest option's variable). Call after mdl_opts_parse. Returns 0 or
   MDL_EINVAL + message. */
int mdl_opts_env (const char *cmd, mdl_optdef_t *defs, char *err, size_t errlen);

/* Applies the options of a CZMQ zconfig file (one "name = value" per option, names as
   on the command line without "--", at the top level) for options not given on the
   command line or in the environment. An unknown name or a bad value is an error, as is
   a file that does not exist or does not parse. *keep receives the loaded config, which
   string options point into: destroy it with mdl_opts_config_free when done. */
int mdl_opts_config (const char *cmd, mdl_optdef_t *defs, const char *path, void **keep,
                     char *err, size_t errlen);
void mdl_opts_config_free (void **keep);

/* Prints usage and the option table, each option's default in brackets (or hands them
   to the help hook, when one is set). */
void mdl_opts_help (FILE *out, const char *usage, const mdl_optdef_t *defs);

/* Where --help goes instead of the text: generators of the man page and the shell
   completion (manpage.c) read every command's table through it. NULL restores the text. */
typedef void (mdl_opts_help_fn) (FILE *out, const char *usage, const mdl_optdef_t *defs);
void mdl_opts_help_hook (mdl_opts_help_fn *fn);

/* Notes each option's default for --help (mdl_opts_parse does it first). */
void mdl_opts_note_defaults (mdl_optdef_t *defs);

/* The candidate closest to word (edit distance, a prefix counts as close), or NULL when
   none is close enough to be the one meant. */
const char *mdl_closest (const char *word, const char *const *cands, size_t n);

/* ", did you mean X?" (X = prefix + the closest candidate + suffix) into buf, or "" when
   none is close; returns buf. */
const char *mdl_did_you_mean (char *buf, size_t len, const char *word, const char *const *cands, size_t n,
                              const char *prefix);

/* The same over the names in list, a text such as "sync | async" or "ring, exp, base:K
   (...)": its words of letters, digits and '-' (each cut at ':'), compared with word's
   part before its first ':'. */
const char *mdl_did_you_mean_in (char *buf, size_t len, const char *word, const char *list);

/* Whether name (without "--") is an option of any meshdl subcommand (optnames.c). */
bool mdl_cli_option_exists (const char *name);

/* The definition of name in defs, or NULL (a command adjusting a shared one). */
mdl_optdef_t *mdl_opts_find (mdl_optdef_t *defs, const char *name);

/* What a subcommand says differently of an option it shares: the default's text and
   the help line of the option name (either NULL: kept). */
typedef struct {
    const char *name, *deflt, *help;
} mdl_optnote_t;

/* mdl_opts_note_defaults (defs), then defs: a command's table for --help and MESHDL_*. */
const mdl_optdef_t *mdl_opts_noted (mdl_optdef_t *defs);

/* Applies notes[0..n) to defs (an option not in defs is skipped). */
void mdl_opts_notes (mdl_optdef_t *defs, const mdl_optnote_t *notes, size_t n);

/* True when the option was set on the command line (or env/config). */
bool mdl_opts_given (const mdl_optdef_t *defs, const char *name);

#endif
