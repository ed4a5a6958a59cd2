/*  signals.c: see signals.h. */
#include "signals.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t s_stop;

static void
s_handler (int sig)
{
    s_stop = sig;
    signal (sig, SIG_DFL);
}

void
mdl_signals_install (void)
{
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_handler;
    sigemptyset (&sa.sa_mask);
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);
}

bool
mdl_signals_stop (void)
{
    return s_stop != 0;
}

int
mdl_signals_which (void)
{
    return (int) s_stop;
}
