/*  opts.c: table-driven option parsing (see opts.h). */
#include "opts.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <czmq.h>

#include "err.h"

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
            snprintf (err, errlen, "meshdl %s: unknown option '--%.*s' (see meshdl %s --help)", cmd,
                      (int) len, name, cmd);
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
        if (!strcmp (name, "bin") || !strcmp (name, "source-dir") || !strcmp (name, "data-dir"))
            continue;
        mdl_optdef_t *d = s_find (defs, name, len);
        if (!d) {
            snprintf (err, errlen, "meshdl %s: unknown environment variable %.*s (no option --%s)",
                      cmd, (int) (eq - *e), *e, name);
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
        fprintf (out, "  %-26s %s\n", left, defs[i].help);
    }
    fprintf (out, "  %-26s %s\n", "--help", "show this help");
}

int
mdl_opts_config (const char *cmd, mdl_optdef_t *defs, const char *path, void **keep, char *err,
                 size_t errlen)
{
    *keep = NULL;
    if (access (path, R_OK) != 0) {
        snprintf (err, errlen, "meshdl %s: --config %s: no such file (or not readable)", cmd, path);
        return MDL_EINVAL;
    }
    zconfig_t *root = zconfig_load (path);
    if (!root) {
        snprintf (err, errlen, "meshdl %s: --config %s does not parse as a zconfig file (name = value lines)", cmd, path);
        return MDL_EINVAL;
    }
    for (zconfig_t *c = zconfig_child (root); c; c = zconfig_next (c)) {
        const char *name = zconfig_name (c), *value = zconfig_value (c);
        mdl_optdef_t *d = s_find (defs, name, strlen (name));
        if (!d || !strcmp (name, "config")) {
            snprintf (err, errlen, "meshdl %s: --config %s: unknown option '%s' (see meshdl %s --help)", cmd, path, name, cmd);
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
