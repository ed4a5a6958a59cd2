/*  report.h: what a run tells its user: the progress line on stderr, JSON lines for
    metrics and the final {"summary": ...} line on stdout. */
#ifndef MDL_REPORT_H
#define MDL_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clock.h" /* mdl_now, mdl_wallclock, mdl_peak_rss_mb (lib/) */

/* A JSON object written incrementally into a fixed buffer (no allocation). Keys and
   strings are escaped. Non-finite numbers are written as null, since JSON has no NaN. */
typedef struct {
    char buf[4096];
    size_t len;
    bool first;
    bool overflow;
} mdl_json_t;

void mdl_json_begin (mdl_json_t *j);
void mdl_json_num (mdl_json_t *j, const char *key, double v);
void mdl_json_int (mdl_json_t *j, const char *key, long long v);
void mdl_json_str (mdl_json_t *j, const char *key, const char *v);
void mdl_json_null (mdl_json_t *j, const char *key);
/* Opens a nested object under key; close it with mdl_json_close. */
void mdl_json_open (mdl_json_t *j, const char *key);
void mdl_json_close (mdl_json_t *j);
/* Closes the object and writes it with a newline to out; returns 0 or MDL_EIO. */
int mdl_json_end (mdl_json_t *j, FILE *out);
/* Closes the object, leaving its text in j->buf (j->len bytes, NUL-terminated) for a
   writer other than a FILE. Returns 0, or MDL_EIO when it did not fit. */
int mdl_json_finish (mdl_json_t *j);

/* The progress line: redrawn in place on a terminal, a plain line at most every
   `interval` seconds otherwise (logs, docker compose). prefix starts each line. */
typedef struct {
    FILE *out;
    bool tty;
    double interval, last;
    char prefix[64];
    size_t drawn; /* characters on the current terminal line */
} mdl_progress_t;

void mdl_progress_init (mdl_progress_t *p, FILE *out, const char *prefix, double interval);
/* Shows the formatted text (now, or later if not a terminal and too soon, unless force). */
void mdl_progress_show (mdl_progress_t *p, bool force, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
/* Ends the current terminal line so normal output can follow. */
void mdl_progress_end (mdl_progress_t *p);

#endif
