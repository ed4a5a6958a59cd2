/*  clock.h: the engine's clocks (it stamps messages and liveness with mdl_now, headers
    and evaluations with mdl_wallclock). The command line has its own (cli/report.h). */
#ifndef MDL_CLOCK_H
#define MDL_CLOCK_H

/* Seconds since an arbitrary fixed point (monotonic clock). Cannot fail. */
double mdl_now (void);

/* Wall-clock time as seconds since the epoch (for metrics' "time"). Cannot fail. */
double mdl_wallclock (void);

#endif
