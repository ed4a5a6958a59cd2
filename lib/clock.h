/*  clock.h: time and process measurements every layer may need (the engine stamps
    messages and liveness with mdl_now; the command line reports wall time and memory). */
#ifndef MDL_CLOCK_H
#define MDL_CLOCK_H

/* Seconds since an arbitrary fixed point (monotonic clock). Cannot fail. */
double mdl_now (void);

/* Wall-clock time as seconds since the epoch (for metrics' "time"). Cannot fail. */
double mdl_wallclock (void);

/* Seconds since this process was started (exec), from the kernel's start time of the
   process (10 ms resolution); NAN if the kernel does not say. */
double mdl_process_age (void);

/* Peak resident memory of this process in MiB, or NAN if the kernel does not say. */
double mdl_peak_rss_mb (void);

#endif
