/*  clock.c: see clock.h. */
#include "clock.h"

#include <math.h>
#include <sys/resource.h>
#include <time.h>

double
mdl_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

double
mdl_wallclock (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

double
mdl_peak_rss_mb (void)
{
    struct rusage ru;
    if (getrusage (RUSAGE_SELF, &ru) != 0)
        return NAN;
    return (double) ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}
