/*  signals.h: SIGINT/SIGTERM turned into a flag the main loops poll, so a run ends
    cleanly (checkpoint, summary) instead of dying mid-write. A process-global flag, as a
    signal handler can set nothing else safely; it belongs to the command line, never to
    the engine (agents/ also keeps a process-wide log lock, agent.c's s_log_lock). */
#ifndef MDL_SIGNALS_H
#define MDL_SIGNALS_H

#include <stdbool.h>

/* Installs the handlers (idempotent). A second signal restores the default action, so
   a user can still kill a stuck run with a second Ctrl-C. */
void mdl_signals_install (void);

/* True once SIGINT or SIGTERM has arrived. */
bool mdl_signals_stop (void);

/* The signal that arrived (0 if none). */
int mdl_signals_which (void);

#endif
