/*  reexec.c: starting the program again with a glibc tunable (reexec.h).

    The arguments are read back from /proc/self/cmdline, not taken from main: a
    subcommand sees only its own, and the exec must repeat the whole command line. The
    program is /proc/self/exe: the same binary even if the path it was started by has
    changed since. */
#include "reexec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The command line as the kernel holds it: a malloc'd block of NUL-ended strings and a
   malloc'd NULL-ended vector into it. 0, or -1 (nothing to free then). */
static int
s_cmdline (char **block, char ***argv)
{
    int fd = open ("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t cap = 4096, len = 0;
    char *b = malloc (cap + 1);
    for (;;) {
        if (!b)
            break;
        if (len == cap) { /* the kernel gives at most the argument space (ARG_MAX) */
            char *nb = cap < ((size_t) 16 << 20) ? realloc (b, 2 * cap + 1) : NULL;
            if (!nb) {
                free (b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
        ssize_t got = read (fd, b + len, cap - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            free (b);
            b = NULL;
            break;
        }
        if (got == 0)
            break;
        len += (size_t) got;
    }
    close (fd);
    if (!b || len == 0) {
        free (b);
        return -1;
    }
    b[len] = '\0'; /* the last argument's own NUL is there already; this one guards */
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += b[i] == '\0';
    char **v = calloc (n + 1, sizeof *v);
    if (!v) {
        free (b);
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < len && k < n; i += strlen (b + i) + 1)
        v[k++] = b + i;
    *block = b;
    *argv = v;
    return 0;
}

int
mdl_cli_reexec_with_tunable (const char *name, const char *value, char *why, size_t whylen)
{
    const char *old = getenv ("GLIBC_TUNABLES");
    if (old && strstr (old, name))
        return 0;
    char *keep = old ? strdup (old) : NULL;
    size_t need = (old ? strlen (old) + 1 : 0) + strlen (name) + 1 + strlen (value) + 1;
    char *tun = malloc (need);
    char *block = NULL, **argv = NULL;
    const char *failed = NULL;
    if (!tun || (old && !keep))
        failed = "out of memory";
    else if (s_cmdline (&block, &argv))
        failed = "could not read /proc/self/cmdline";
    else {
        snprintf (tun, need, "%s%s%s=%s", old ? old : "", old ? ":" : "", name, value);
        if (setenv ("GLIBC_TUNABLES", tun, 1) != 0)
            failed = "could not set GLIBC_TUNABLES";
        else {
            fflush (NULL);
            execv ("/proc/self/exe", argv);
            failed = strerror (errno); /* only on failure */
            if (keep)
                setenv ("GLIBC_TUNABLES", keep, 1);
            else
                unsetenv ("GLIBC_TUNABLES");
        }
    }
    snprintf (why, whylen, "%s", failed);
    free (argv);
    free (block);
    free (tun);
    free (keep);
    return -1;
}

bool
mdl_cli_tunable_set (const char *setting)
{
    const char *t = getenv ("GLIBC_TUNABLES");
    const size_t n = strlen (setting);
    for (; t && *t; t = strchr (t, ':') ? strchr (t, ':') + 1 : NULL)
        if (!strncmp (t, setting, n) && (t[n] == ':' || t[n] == '\0'))
            return true;
    return false;
}
