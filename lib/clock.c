/*  clock.c: see clock.h. */
#include "clock.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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
mdl_process_age (void)
{
    /* field 22 of /proc/self/stat: start time in clock ticks after boot; the command
       (field 2) may hold spaces and parentheses, so parse after its last ')' */
    FILE *f = fopen ("/proc/self/stat", "r");
    if (!f)
        return NAN;
    char buf[1024];
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    buf[n] = 0;
    char *p = strrchr (buf, ')');
    unsigned long long start = 0;
    int field = 2;
    for (char *tok = p ? strtok (p + 1, " ") : NULL; tok; tok = strtok (NULL, " "))
        if (++field == 22) {
            start = strtoull (tok, NULL, 10);
            break;
        }
    long hz = sysconf (_SC_CLK_TCK);
    struct timespec ts;
    if (field != 22 || hz <= 0 || clock_gettime (CLOCK_BOOTTIME, &ts) != 0)
        return NAN;
    return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec - (double) start / (double) hz;
}

double
mdl_peak_rss_mb (void)
{
    struct rusage ru;
    if (getrusage (RUSAGE_SELF, &ru) != 0)
        return NAN;
    return (double) ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}
