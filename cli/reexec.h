/*  reexec.h: starting the program again with a glibc tunable (GLIBC_TUNABLES), which the
    C library reads only at a program's start. */
#ifndef MDL_CLI_REEXEC_H
#define MDL_CLI_REEXEC_H

#include <stdbool.h>
#include <stddef.h>

/* Runs this program again, with the same arguments and environment plus name=value in
   GLIBC_TUNABLES, unless GLIBC_TUNABLES already names name (set by the user, or by this
   call before the exec: never twice). Call it before anything that cannot happen twice
   (no output, no files written, no sockets). Returns only when nothing was done (0, the
   tunable already named) or the exec failed (-1: the environment is as it was, the
   program goes on without the tunable; why says so, whylen bytes). */
int mdl_cli_reexec_with_tunable (const char *name, const char *value, char *why, size_t whylen);

/* True when this program started with setting ("name=value") among its GLIBC_TUNABLES.
   (Read through getenv: glibc cuts the copy that /proc/PID/environ shows at its first
   ':' when it parses it.) */
bool mdl_cli_tunable_set (const char *setting);

#endif
