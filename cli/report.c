/*  report.c: JSON lines, progress line and process measurements (see report.h). */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "meshdl.h"

/* The command line keeps its own clocks: they time what it reports, never anything the
   engine compares with. */
static double
s_clock (clockid_t which)
{
    struct timespec ts;
    clock_gettime (which, &ts);
    return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

double
mdl_cli_now (void)
{
    return s_clock (CLOCK_MONOTONIC);
}

double
mdl_cli_wallclock (void)
{
    return s_clock (CLOCK_REALTIME);
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
mdl_process_cpu_s (void)
{
    struct timespec ts;
    if (clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return NAN;
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

const char *
mdl_cli_id_str (uint64_t id, char *buf)
{
    snprintf (buf, 17, "%016llx", (unsigned long long) id);
    return buf;
}

const char *
mdl_run_id (void)
{
    static char id[17];
    if (!id[0]) {
        uint64_t r = 0;
        FILE *f = fopen ("/dev/urandom", "rb");
        if (!f || fread (&r, sizeof r, 1, f) != 1)
            r = ((uint64_t) getpid () << 32) ^ (uint64_t) (mdl_cli_wallclock () * 1e6);
        if (f)
            fclose (f);
        snprintf (id, sizeof id, "%016llx", (unsigned long long) r);
    }
    return id;
}

static void
s_put (mdl_json_t *j, const char *fmt, ...)
{
    if (j->overflow)
        return;
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (j->buf + j->len, sizeof j->buf - j->len, fmt, ap);
    va_end (ap);
    if (n < 0 || (size_t) n >= sizeof j->buf - j->len)
        j->overflow = true;
    else
        j->len += (size_t) n;
}

static void
s_string (mdl_json_t *j, const char *s)
{
    s_put (j, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        if (c == '"' || c == '\\')
            s_put (j, "\\%c", c);
        else if (c < 0x20)
            s_put (j, "\\u%04x", c);
        else
            s_put (j, "%c", c);
    }
    s_put (j, "\"");
}

static void
s_key (mdl_json_t *j, const char *key)
{
    if (!j->first)
        s_put (j, ", ");
    j->first = false;
    s_string (j, key);
    s_put (j, ": ");
}

void
mdl_json_begin (mdl_json_t *j)
{
    j->len = 0;
    j->buf[0] = '\0';
    j->overflow = false;
    j->first = true;
    s_put (j, "{");
}

void
mdl_json_num (mdl_json_t *j, const char *key, double v)
{
    s_key (j, key);
    /* 15 significant digits: exact for counts and accuracies, and a wall-clock time in
       seconds since 1970 keeps its milliseconds (%.6g would round it by hours). */
    if (isfinite (v))
        s_put (j, "%.15g", v);
    else
        s_put (j, "null");
}

void
mdl_json_int (mdl_json_t *j, const char *key, long long v)
{
    s_key (j, key);
    s_put (j, "%lld", v);
}

void
mdl_json_str (mdl_json_t *j, const char *key, const char *v)
{
    s_key (j, key);
    s_string (j, v ? v : "");
}

void
mdl_json_null (mdl_json_t *j, const char *key)
{
    s_key (j, key);
    s_put (j, "null");
}

void
mdl_json_bool (mdl_json_t *j, const char *key, bool v)
{
    s_key (j, key);
    s_put (j, v ? "true" : "false");
}

void
mdl_json_open (mdl_json_t *j, const char *key)
{
    s_key (j, key);
    s_put (j, "{");
    j->first = true;
}

void
mdl_json_close (mdl_json_t *j)
{
    s_put (j, "}");
    j->first = false;
}

int
mdl_json_finish (mdl_json_t *j)
{
    s_put (j, "}");
    return j->overflow ? MDL_EIO : 0;
}

int
mdl_json_end (mdl_json_t *j, FILE *out)
{
    if (mdl_json_finish (j) || !out)
        return MDL_EIO;
    if (fprintf (out, "%s\n", j->buf) < 0 || fflush (out) != 0)
        return MDL_EIO;
    return 0;
}

/* One terminal per process: one lock for every progress line and the lines above it. */
static pthread_mutex_t s_term_lock = PTHREAD_MUTEX_INITIALIZER;

void
mdl_progress_init (mdl_progress_t *p, FILE *out, const char *prefix, double interval)
{
    memset (p, 0, sizeof *p);
    p->out = out;
    const int fd = fileno (out);
    /* Redraw only in the terminal's foreground process group: a background job (agents
       started with & from an interactive shell) shares the screen with others. */
    p->tty = isatty (fd) == 1 && tcgetpgrp (fd) == getpgrp ();
    p->interval = interval;
    p->last = -1e9;
    snprintf (p->prefix, sizeof p->prefix, "%s", prefix ? prefix : "");
}

/* Draws p->text in place (lock held). */
static void
s_draw (mdl_progress_t *p)
{
    int n = fprintf (p->out, "\r%s%s", p->prefix, p->text);
    /* Blank out what is left of a longer previous line. */
    if (n > 0 && (size_t) n < p->drawn + 1)
        fprintf (p->out, "%*s", (int) (p->drawn + 1 - (size_t) n), "");
    p->drawn = n > 0 ? (size_t) n - 1 : 0;
}

void
mdl_progress_show (mdl_progress_t *p, bool force, const char *fmt, ...)
{
    double now = mdl_cli_now ();
    /* A terminal is redrawn at most 10 times a second; logs get a line per interval. */
    double gap = p->tty ? 0.1 : p->interval;
    if (!force && now - p->last < gap)
        return;
    p->last = now;
    pthread_mutex_lock (&s_term_lock);
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (p->text, sizeof p->text, fmt, ap);
    va_end (ap);
    if (p->tty)
        s_draw (p);
    else
        fprintf (p->out, "%s%s\n", p->prefix, p->text);
    fflush (p->out);
    pthread_mutex_unlock (&s_term_lock);
}

void
mdl_progress_end (mdl_progress_t *p)
{
    pthread_mutex_lock (&s_term_lock);
    if (p->tty && p->drawn) {
        fputc ('\n', p->out);
        fflush (p->out);
    }
    p->drawn = 0;
    p->text[0] = '\0';
    pthread_mutex_unlock (&s_term_lock);
}

void
mdl_progress_line (mdl_progress_t *p, const char *text)
{
    pthread_mutex_lock (&s_term_lock);
    if (p->tty && p->drawn)
        fprintf (p->out, "\r%*s\r", (int) p->drawn, ""); /* clear the drawn line */
    fprintf (p->out, "%s\n", text);
    if (p->tty && p->drawn) {
        p->drawn = 0;
        s_draw (p);
    }
    fflush (p->out);
    pthread_mutex_unlock (&s_term_lock);
}

void
mdl_progress_log_fn (void *arg, const char *line)
{
    mdl_progress_line (arg, line);
}
