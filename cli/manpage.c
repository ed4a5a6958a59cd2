/*  manpage.c: the man page of meshdl and its bash completion, generated from the option
    tables themselves (the mdl_optdef_t arrays every command builds), so neither can drift
    from the options: `meshdl --man` and `meshdl --completion bash`, run at build time and
    installed by cmake --install.

    Each command's table is read by running the command with --help in a child process
    whose help hook (opts.h) writes the table in a plain form instead of the text: the
    usage, a record separator, then one line per option, fields separated by 0x1f (name,
    metavar, help, the default --help shows). A command without a table (status) prints its usage only. A child
    keeps the commands' own state (their option structs, defaults built from the
    algorithm registry) out of the generator's process. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "opts.h"

#define S_RS "\n\x1e\n" /* between the usage and the options */
#define S_US '\x1f'     /* between an option's fields */

static void
s_dump (FILE *out, const char *usage, const mdl_optdef_t *defs)
{
    fprintf (out, "%s" S_RS, usage);
    for (int i = 0; defs[i].name; i++)
        fprintf (out, "%s%c%s%c%s%c%s\n", defs[i].name, S_US, defs[i].metavar ? defs[i].metavar : "", S_US,
                 defs[i].help ? defs[i].help : "", S_US, defs[i].shown);
}

/* The --help output of one command in the dump form (a malloc'd string), or NULL. */
static char *
s_read_command (const mdl_cli_cmd_t *cmd)
{
    int fd[2];
    if (pipe (fd) != 0)
        return NULL;
    fflush (stdout);
    pid_t pid = fork ();
    if (pid < 0) {
        close (fd[0]);
        close (fd[1]);
        return NULL;
    }
    if (pid == 0) {
        close (fd[0]);
        dup2 (fd[1], STDOUT_FILENO);
        if (!freopen ("/dev/null", "w", stderr))
            _exit (3);
        mdl_opts_help_hook (s_dump);
        char help[] = "--help", *argv[] = { help, NULL };
        int rc = cmd->run (1, argv);
        fflush (stdout);
        _exit (rc);
    }
    close (fd[1]);
    size_t len = 0, cap = 4096;
    char *buf = malloc (cap);
    ssize_t got;
    while (buf && (got = read (fd[0], buf + len, cap - len - 1)) > 0) {
        len += (size_t) got;
        if (cap - len < 1024) {
            char *b = realloc (buf, cap *= 2);
            if (!b)
                free (buf);
            buf = b;
        }
    }
    close (fd[0]);
    int status = 0;
    waitpid (pid, &status, 0);
    if (!buf || !WIFEXITED (status) || WEXITSTATUS (status) != 0 || len == 0) {
        free (buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

/* Splits a dump into its usage and its option lines (options NULL: no table). */
static void
s_split (char *dump, char **usage, char **options)
{
    char *rs = strstr (dump, S_RS);
    *usage = dump;
    *options = NULL;
    if (rs) {
        *rs = '\0';
        *options = rs + strlen (S_RS);
    }
    size_t n = strlen (*usage);
    while (n && (*usage)[n - 1] == '\n')
        (*usage)[--n] = '\0';
}

/* Writes text for roff: backslashes escaped, lines starting with . or ' protected. */
static void
s_roff (FILE *out, const char *text)
{
    bool bol = true;
    for (const char *p = text; *p; p++) {
        if (bol && (*p == '.' || *p == '\''))
            fputs ("\\&", out);
        if (*p == '\\')
            fputs ("\\e", out);
        else if (*p == '-')
            fputs ("\\-", out);
        else
            fputc (*p, out);
        bol = *p == '\n';
    }
}

/* The options of one command as a roff list. */
static void
s_roff_options (FILE *out, char *options)
{
    for (char *line = strtok (options, "\n"); line; line = strtok (NULL, "\n")) {
        char *metavar = strchr (line, S_US), *help = metavar ? strchr (metavar + 1, S_US) : NULL;
        char *deflt = help ? strchr (help + 1, S_US) : NULL;
        if (!deflt)
            continue;
        *metavar++ = '\0';
        *help++ = '\0';
        *deflt++ = '\0';
        fputs (".TP\n\\fB\\-\\-", out);
        s_roff (out, line);
        fputs ("\\fR", out);
        if (metavar[0]) {
            fputs (" \\fI", out);
            s_roff (out, metavar);
            fputs ("\\fR", out);
        }
        fputc ('\n', out);
        s_roff (out, help);
        if (deflt[0]) { /* as --help shows it */
            fputs (" [", out);
            s_roff (out, deflt);
            fputc (']', out);
        }
        fputc ('\n', out);
    }
}

int
mdl_cli_manpage (FILE *out, const mdl_cli_cmd_t *cmds, size_t n)
{
    fprintf (out, ".TH MESHDL 1 \"\" \"meshdl %s\" \"User Commands\"\n", MESHDL_VERSION);
    fputs (".SH NAME\nmeshdl \\- decentralized deep\\-learning training over ZeroMQ (no server, no broker)\n"
           ".SH SYNOPSIS\n\\fBmeshdl\\fR \\fICOMMAND\\fR [\\fIoptions\\fR]\n"
           ".SH DESCRIPTION\nEvery agent holds its own copy of the model and a shard of the data, takes SGD steps "
           "on it, publishes (compressed) updates on a ZeroMQ PUB socket and averages with its neighbours' "
           "(gossip), so that all copies reach consensus on one model. The commands:\n",
           out);
    for (size_t i = 0; i < n; i++) {
        fprintf (out, ".TP\n\\fB%s\\fR\n", cmds[i].name);
        s_roff (out, cmds[i].help);
        fputc ('\n', out);
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char *dump = s_read_command (&cmds[i]), *usage, *options;
        if (!dump) {
            fprintf (stderr, "meshdl --man: cannot read the options of meshdl %s\n", cmds[i].name);
            rc = 2;
            continue;
        }
        s_split (dump, &usage, &options);
        fprintf (out, ".SH \"MESHDL %s\"\n.nf\n", cmds[i].name);
        s_roff (out, usage);
        fputs ("\n.fi\n", out);
        if (options) {
            fputs (".SS Options\n", out);
            s_roff_options (out, options);
            fputs (".TP\n\\fB\\-\\-help\\fR\nshow the command's help\n", out);
        }
        free (dump);
    }
    fputs (".SH ENVIRONMENT\nEvery option of train, sim and agent can also be given as \\fBMESHDL_\\fIOPTION\\fR "
           "(upper case, '\\-' as '_', e.g. MESHDL_TOPOLOGY=ring); the command line wins over the environment, "
           "which wins over \\fB\\-\\-config\\fR \\fIFILE\\fR. An unknown MESHDL_ variable is an error. "
           "\\fBMESHDL_COMM_THREADS\\fR=\\fIN\\fR (1 to 1024) runs the comm actors of a process's agents on at "
           "most N threads (default: one per CPU; sim's agents share them).\n"
           ".SH \"EXIT STATUS\"\n0 success; 2 bad input (one line on stderr, nothing written); 3 the run failed "
           "(diverged, peers never met); status: 1 unhealthy.\n"
           ".SH \"SEE ALSO\"\nThe library: meshdl.h (pkg\\-config meshdl). The wire protocol: docs/PROTOCOL.md.\n",
           out);
    return rc;
}

/* The option names of a dump, space-separated, into a malloc'd string; those whose value
   is a file or directory (FILE, DIR, ...) into *files too, separated by |. */
static char *
s_option_words (char *options, char **files)
{
    size_t cap = strlen (options) + 16;
    char *w = calloc (1, cap), *f = calloc (1, cap);
    if (!w || !f) {
        free (w);
        free (f);
        *files = NULL;
        return NULL;
    }
    strcat (w, "--help");
    for (char *line = strtok (options, "\n"); line; line = strtok (NULL, "\n")) {
        char *metavar = strchr (line, S_US);
        if (!metavar)
            continue;
        *metavar++ = '\0';
        char *end = strchr (metavar, S_US);
        if (end)
            *end = '\0';
        strcat (w, " --");
        strcat (w, line);
        if (strstr (metavar, "FILE") || strstr (metavar, "DIR") || strstr (metavar, "PATH")) {
            strcat (f, f[0] ? "|--" : "--");
            strcat (f, line);
        }
    }
    *files = f;
    return w;
}

int
mdl_cli_completion (FILE *out, const mdl_cli_cmd_t *cmds, size_t n)
{
    fputs ("# bash completion of meshdl, generated from its option tables (meshdl --completion bash)\n"
           "_meshdl ()\n{\n    local cur prev cmd opts files\n"
           "    cur=${COMP_WORDS[COMP_CWORD]}\n    prev=${COMP_WORDS[COMP_CWORD-1]}\n"
           "    if [ \"$COMP_CWORD\" -eq 1 ]; then\n        COMPREPLY=($(compgen -W \"",
           out);
    for (size_t i = 0; i < n; i++)
        fprintf (out, "%s ", cmds[i].name);
    fputs ("--help --version --man --completion\" -- \"$cur\"))\n        return\n    fi\n"
           "    cmd=${COMP_WORDS[1]}\n    case $cmd in\n",
           out);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char *dump = s_read_command (&cmds[i]), *usage, *options, *files = NULL;
        if (!dump) {
            fprintf (stderr, "meshdl --completion: cannot read the options of meshdl %s\n", cmds[i].name);
            rc = 2;
            continue;
        }
        s_split (dump, &usage, &options);
        char *words = options ? s_option_words (options, &files) : NULL;
        fprintf (out, "    %s) opts=\"%s\"; files=\"%s\" ;;\n", cmds[i].name, words ? words : "--help",
                 files ? files : "");
        free (words);
        free (files);
        free (dump);
    }
    fputs ("    *) return ;;\n    esac\n"
           "    if [ -n \"$files\" ] && [[ \"|$files|\" == *\"|$prev|\"* ]]; then\n"
           "        COMPREPLY=($(compgen -f -- \"$cur\"))\n        return\n    fi\n"
           "    COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n}\ncomplete -F _meshdl meshdl\n",
           out);
    return rc;
}
