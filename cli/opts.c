/*  opts.c: table-driven option parsing (see opts.h). */
#include "opts.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <czmq.h>

#include "meshdl.h"

/* The index of the option called name[0..len), or -1. */
static int
s_index (const mdl_optdef_t *defs, const char *name, size_t len)
{
    for (int i = 0; defs[i].name; i++)
        if (strlen (defs[i].name) == len && strncmp (defs[i].name, name, len) == 0)
            return i;
    return -1;
}

static mdl_optdef_t *
s_find (mdl_optdef_t *defs, const char *name, size_t len)
{
    int i = s_index (defs, name, len);
    return i < 0 ? NULL : &defs[i];
}

/* Edit distance (insertions, deletions, substitutions, and a swap of two neighbours
   counted as one), capped at 64 characters a side. */
static size_t
s_distance (const char *a, const char *b)
{
    size_t la = strlen (a), lb = strlen (b);
    if (la > 64 || lb > 64)
        return 64;
    size_t d[65][65];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

const char *
mdl_closest (const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX, wl = strlen (word);
    if (wl == 0)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!cands[i] || !cands[i][0])
            continue;
        size_t dist = s_distance (word, cands[i]);
        /* a word the candidate starts with (--epoch for --epochs) is as good as one typo */
        if (wl >= 3 && !strncmp (cands[i], word, wl) && dist > 1)
            dist = 1;
        if (dist < best_d) {
            best_d = dist;
            best = cands[i];
        }
    }
    /* one typo in a short word, two in a longer one, a third of a long one */
    const size_t allowed = wl <= 5 ? 1 : wl <= 9 ? 2 : wl / 3;
    return best_d <= allowed ? best : NULL;
}

const char *
mdl_did_you_mean (char *buf, size_t len, const char *word, const char *const *cands, size_t n, const char *prefix)
{
    const char *c = mdl_closest (word, cands, n);
    if (c)
        snprintf (buf, len, ", did you mean %s%s?", prefix ? prefix : "", c);
    else if (len)
        buf[0] = '\0';
    return buf;
}

const char *
mdl_did_you_mean_in (char *buf, size_t len, const char *word, const char *list)
{
    char names[64][32], head[64];
    const char *cands[64];
    size_t n = 0;
    snprintf (head, sizeof head, "%.*s", (int) strcspn (word, ":"), word);
    for (const char *p = list; *p && n < 64;) {
        size_t k = strspn (p, "abcdefghijklmnopqrstuvwxyz0123456789-");
        if (k > 0 && k < sizeof names[0] && isalpha ((unsigned char) *p) && (p == list || !isalnum ((unsigned char) p[-1]))) {
            snprintf (names[n], sizeof names[n], "%.*s", (int) k, p);
            cands[n] = names[n];
            n++;
        }
        if (k == 0)
            p++;
        else
            p += k + strcspn (p + k, " ,|("); /* the rest of an entry (":K") is not a name */
    }
    return mdl_did_you_mean (buf, len, head, cands, n, "");
}

/* ", did you mean --NAME?" for an unknown option name among defs. */
static const char *
s_suggest_option (char *buf, size_t len, const mdl_optdef_t *defs, const char *name, const char *prefix)
{
    const char *names[256];
    size_t n = 0;
    for (int i = 0; defs[i].name && n < 256; i++)
        names[n++] = defs[i].name;
    return mdl_did_you_mean (buf, len, name, names, n, prefix);
}

void
mdl_opts_note_defaults (mdl_optdef_t *defs)
{
    for (int i = 0; defs[i].name; i++) {
        mdl_optdef_t *d = &defs[i];
        char *b = d->shown;
        const size_t len = sizeof d->shown;
        b[0] = '\0';
        if (d->deflt) {
            snprintf (b, len, "%s", d->deflt);
            continue;
        }
        switch (d->type) {
        case MDL_OPTT_INT: snprintf (b, len, "%d", *(const int *) d->dst); break;
        case MDL_OPTT_U64: snprintf (b, len, "%llu", (unsigned long long) *(const uint64_t *) d->dst); break;
        case MDL_OPTT_DOUBLE:
            if (isfinite (*(const double *) d->dst))
                snprintf (b, len, "%g", *(const double *) d->dst);
            break;
        case MDL_OPTT_STR:
            if (*(const char *const *) d->dst)
                snprintf (b, len, "%s", *(const char *const *) d->dst);
            break;
        case MDL_OPTT_FLAG:
            if (*(const bool *) d->dst)
                snprintf (b, len, "on");
            break;
        case MDL_OPTT_LIST: break;
        }
    }
}

static const char *
s_type_text (const mdl_optdef_t *d)
{
    switch (d->type) {
    case MDL_OPTT_INT:
    case MDL_OPTT_U64: return "an integer";
    case MDL_OPTT_DOUBLE: return "a number";
    default: return "a value";
    }
}

static void
s_range_text (const mdl_optdef_t *d, char *buf, size_t len)
{
    if (d->min == -INFINITY && d->max == INFINITY)
        buf[0] = '\0';
    else if (d->max == INFINITY)
        snprintf (buf, len, " >= %g", d->min);
    else
        snprintf (buf, len, " in [%g, %g]", d->min, d->max);
}

/* Stores value into d's destination; 0 or MDL_EINVAL with message. */
static int
s_store (const char *cmd, const mdl_optdef_t *d, const char *value, const char *origin,
         char *err, size_t errlen)
{
    char range[64];
    s_range_text (d, range, sizeof range);
    char *end = NULL;
    errno = 0;
    switch (d->type) {
    case MDL_OPTT_INT:
    case MDL_OPTT_U64: {
        if (!*value || isspace ((unsigned char) *value))
            goto bad;
        double v;
        if (d->type == MDL_OPTT_INT) {
            long x = strtol (value, &end, 10);
            v = (double) x;
            if (*end || errno || v < d->min || v > d->max)
                goto bad;
            *(int *) d->dst = (int) x;
        } else {
            if (*value == '-')
                goto bad;
            unsigned long long x = strtoull (value, &end, 10);
            v = (double) x;
            if (*end || errno || v < d->min || v > d->max)
                goto bad;
            *(uint64_t *) d->dst = (uint64_t) x;
        }
        return 0;
    }
    case MDL_OPTT_DOUBLE: {
        if (!*value || isspace ((unsigned char) *value))
            goto bad;
        double v = strtod (value, &end);
        if (*end || errno || !isfinite (v) || v < d->min || v > d->max)
            goto bad;
        *(double *) d->dst = v;
        return 0;
    }
    case MDL_OPTT_STR:
        if (!*value) {
            snprintf (err, errlen, "meshdl %s: --%s needs a %s%s", cmd, d->name,
                      d->metavar ? d->metavar : "value", origin);
            return MDL_EINVAL;
        }
        *(const char **) d->dst = value;
        return 0;
    case MDL_OPTT_FLAG:
        if (!strcmp (value, "1") || !strcmp (value, "true") || !strcmp (value, "yes"))
            *(bool *) d->dst = true;
        else if (!strcmp (value, "0") || !strcmp (value, "false") || !strcmp (value, "no"))
            *(bool *) d->dst = false;
        else {
            snprintf (err, errlen, "meshdl %s: --%s is a flag: use true or false (got '%s'%s)",
                      cmd, d->name, value, origin);
            return MDL_EINVAL;
        }
        return 0;
    case MDL_OPTT_LIST: {
        mdl_strlist_t *l = d->dst;
        if (l->n == MDL_STRLIST_MAX) {
            snprintf (err, errlen, "meshdl %s: --%s given more than %d times", cmd, d->name,
                      MDL_STRLIST_MAX);
            return MDL_EINVAL;
        }
        l->v[l->n++] = value;
        return 0;
    }
    }
bad:
    snprintf (err, errlen, "meshdl %s: --%s must be %s%s (got '%s'%s)", cmd, d->name,
              s_type_text (d), range, value, origin);
    return MDL_EINVAL;
}

int
mdl_opts_parse (const char *cmd, mdl_optdef_t *defs, int argc, char **argv, char *err,
                size_t errlen)
{
    mdl_opts_note_defaults (defs);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp (a, "--help") || !strcmp (a, "-h"))
            return 1;
        if (strncmp (a, "--", 2) != 0) {
            snprintf (err, errlen, "meshdl %s: unexpected argument '%s' (options start with --; see meshdl %s --help)",
                      cmd, a, cmd);
            return MDL_EINVAL;
        }
        const char *name = a + 2, *eq = strchr (name, '=');
        size_t len = eq ? (size_t) (eq - name) : strlen (name);
        mdl_optdef_t *d = s_find (defs, name, len);
        if (!d) {
            char word[128], hint[160];
            snprintf (word, sizeof word, "%.*s", (int) (len < sizeof word ? len : sizeof word - 1), name);
            s_suggest_option (hint, sizeof hint, defs, word, "--");
            snprintf (err, errlen, "meshdl %s: unknown option '--%s'%s (see meshdl %s --help)", cmd, word,
                      hint[0] ? hint : "", cmd);
            return MDL_EINVAL;
        }
        const char *value;
        if (d->type == MDL_OPTT_FLAG && !eq)
            value = "true";
        else if (eq)
            value = eq + 1;
        else if (i + 1 < argc)
            value = argv[++i];
        else {
            snprintf (err, errlen, "meshdl %s: --%s needs a value (%s)", cmd, d->name,
                      d->metavar ? d->metavar : "see --help");
            return MDL_EINVAL;
        }
        int rc = s_store (cmd, d, value, "", err, errlen);
        if (rc)
            return rc;
        d->given = true;
    }
    return 0;
}

/* MESHDL_ variables that are not options of any subcommand and belong to someone else:
   `meshdl status` (STATUS, also the agent's --status), the Compose recipe (IMAGE), the
   test harness (BIN, SOURCE_DIR, DATA_DIR), the library (COMM_THREADS, agents/commloop.c:
   checked by s_comm_threads_ok). */
static bool
s_foreign (const char *name)
{
    static const char *const names[] = { "status", "image", "bin", "source-dir", "data-dir", "comm-threads" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp (name, names[i]))
            return true;
    return false;
}

/* MESHDL_COMM_THREADS, the comm threads of a process (agents/commloop.c), which reads it
   and falls back to the CPUs' count on a value it cannot use: here a bad one is refused. */
static bool
s_comm_threads_ok (const char *value)
{
    char *end;
    const long n = strtol (value, &end, 10);
    return *value && !*end && n >= 1 && n <= 1024;
}

int
mdl_opts_env (const char *cmd, mdl_optdef_t *defs, char *err, size_t errlen)
{
    extern char **environ;
    for (char **e = environ; *e; e++) {
        if (strncmp (*e, "MESHDL_", 7) != 0)
            continue;
        const char *eq = strchr (*e, '=');
        if (!eq)
            continue;
        /* MESHDL_ variables that are not options (the test harness's own) are skipped. */
        char name[64];
        size_t len = (size_t) (eq - (*e + 7));
        if (len == 0 || len >= sizeof name)
            continue;
        for (size_t k = 0; k < len; k++) {
            char c = (*e)[7 + k];
            name[k] = c == '_' ? '-' : (char) tolower ((unsigned char) c);
        }
        name[len] = '\0';
        if (!strcmp (name, "comm-threads") && !s_comm_threads_ok (eq + 1)) {
            snprintf (err, errlen,
                      "meshdl %s: MESHDL_COMM_THREADS is '%s': the comm threads of the process, an integer from 1 to 1024",
                      cmd, eq + 1);
            return MDL_EINVAL;
        }
        mdl_optdef_t *d = s_find (defs, name, len);
        if (!d && (s_foreign (name) || mdl_cli_option_exists (name)))
            continue; /* another command's, a recipe's or a tool's: not a typo */
        if (!d) {
            char hint[160] = "";
            const char *names[256];
            char vars[256][64];
            size_t nn = 0;
            for (int i = 0; defs[i].name && nn < 256; i++, nn++) {
                snprintf (vars[nn], sizeof vars[nn], "%s", defs[i].name);
                for (char *c = vars[nn]; *c; c++)
                    *c = *c == '-' ? '_' : (char) toupper ((unsigned char) *c);
                names[nn] = vars[nn];
            }
            char upper[64];
            snprintf (upper, sizeof upper, "%.*s", (int) len, *e + 7);
            mdl_did_you_mean (hint, sizeof hint, upper, names, nn, "MESHDL_");
            snprintf (err, errlen, "meshdl %s: unknown environment variable %.*s%s (no option --%s of any meshdl command)",
                      cmd, (int) (eq - *e), *e, hint, name);
            return MDL_EINVAL;
        }
        if (d->given)
            continue; /* the command line wins */
        char origin[96];
        snprintf (origin, sizeof origin, ", from %.*s", (int) (eq - *e), *e);
        int rc = s_store (cmd, d, eq + 1, origin, err, errlen);
        if (rc)
            return rc;
        d->given = true;
    }
    return 0;
}

mdl_optdef_t *
mdl_opts_find (mdl_optdef_t *defs, const char *name)
{
    return s_find (defs, name, strlen (name));
}

const mdl_optdef_t *
mdl_opts_noted (mdl_optdef_t *defs)
{
    mdl_opts_note_defaults (defs);
    return defs;
}

void
mdl_opts_notes (mdl_optdef_t *defs, const mdl_optnote_t *notes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mdl_optdef_t *d = mdl_opts_find (defs, notes[i].name);
        if (d && notes[i].deflt)
            d->deflt = notes[i].deflt;
        if (d && notes[i].help)
            d->help = notes[i].help;
    }
}

bool
mdl_opts_given (const mdl_optdef_t *defs, const char *name)
{
    const int i = s_index (defs, name, strlen (name));
    const mdl_optdef_t *d = i < 0 ? NULL : &defs[i];
    return d && d->given;
}

static mdl_opts_help_fn *s_help_hook;

void
mdl_opts_help_hook (mdl_opts_help_fn *fn)
{
    s_help_hook = fn;
}

void
mdl_opts_help (FILE *out, const char *usage, const mdl_optdef_t *defs)
{
    if (s_help_hook) {
        s_help_hook (out, usage, defs);
        return;
    }
    fprintf (out, "%s\n\nOptions:\n", usage);
    for (int i = 0; defs[i].name; i++) {
        char left[64];
        snprintf (left, sizeof left, "--%s%s%s", defs[i].name, defs[i].metavar ? " " : "",
                  defs[i].metavar ? defs[i].metavar : "");
        if (defs[i].shown[0])
            fprintf (out, "  %-26s %s [%s]\n", left, defs[i].help, defs[i].shown);
        else
            fprintf (out, "  %-26s %s\n", left, defs[i].help);
    }
    fprintf (out, "  %-26s %s\n", "--help", "show this help");
}

#define S_CONFIG_MAX ((size_t) 1 << 20)

int
mdl_opts_config (const char *cmd, mdl_optdef_t *defs, const char *path, void **keep, char *err,
                 size_t errlen)
{
    *keep = NULL;
    if (access (path, R_OK) != 0) {
        snprintf (err, errlen, "meshdl %s: --config %s: no such file (or not readable)", cmd, path);
        return MDL_EINVAL;
    }
    /* Read here, parsed from memory: CZMQ's zconfig_load leaks its file object when the
       text does not parse (found by tests/fuzz/fuzz_config.c), and a config file has no
       business being large. */
    FILE *f = fopen (path, "rb");
    char *text = malloc (S_CONFIG_MAX + 1);
    size_t len = f && text ? fread (text, 1, S_CONFIG_MAX + 1, f) : 0;
    const bool bad_read = !f || !text || ferror (f);
    if (f)
        fclose (f);
    if (bad_read || len > S_CONFIG_MAX) {
        free (text);
        snprintf (err, errlen, "meshdl %s: --config %s: %s", cmd, path,
                  bad_read ? "cannot be read" : "larger than 1 MiB: not a config file");
        return MDL_EINVAL;
    }
    text[len] = '\0';
    zconfig_t *root = memchr (text, '\0', len) ? NULL : zconfig_str_load (text);
    free (text);
    if (!root) {
        snprintf (err, errlen, "meshdl %s: --config %s does not parse as a zconfig file (name = value lines)", cmd, path);
        return MDL_EINVAL;
    }
    for (zconfig_t *c = zconfig_child (root); c; c = zconfig_next (c)) {
        const char *name = zconfig_name (c), *value = zconfig_value (c);
        mdl_optdef_t *d = s_find (defs, name, strlen (name));
        if (!d || !strcmp (name, "config")) {
            char hint[160] = "";
            if (!d)
                s_suggest_option (hint, sizeof hint, defs, name, "");
            snprintf (err, errlen, "meshdl %s: --config %s: unknown option '%s'%s (see meshdl %s --help)", cmd, path, name,
                      hint, cmd);
            zconfig_destroy (&root);
            return MDL_EINVAL;
        }
        if (d->given)
            continue; /* command line and environment win */
        char origin[300];
        snprintf (origin, sizeof origin, ", from %s", path);
        int rc = s_store (cmd, d, value ? value : "", origin, err, errlen);
        if (rc) {
            zconfig_destroy (&root);
            return rc;
        }
        d->given = true;
    }
    *keep = root;
    return 0;
}

void
mdl_opts_config_free (void **keep)
{
    zconfig_t *root = *keep;
    zconfig_destroy (&root);
    *keep = NULL;
}
