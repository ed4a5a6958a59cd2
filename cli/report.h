/*  report.h: what a run tells its user: the progress line on stderr, JSON lines for
    metrics and the final {"summary": ...} line on stdout. */
#ifndef MDL_REPORT_H
#define MDL_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Seconds since an arbitrary fixed point (monotonic clock). Cannot fail. */
double mdl_cli_now (void);

/* Wall-clock time as seconds since the epoch (metrics' "time"). Cannot fail. */
double mdl_cli_wallclock (void);

/* Seconds since this process was started (exec), from the kernel's start time of the
   process (10 ms resolution); NAN if the kernel does not say. */
double mdl_process_age (void);
/* CPU seconds this process has used so far, all its threads (NAN when unknown): with
   mdl_process_age, whether a slow start-up worked or waited for a CPU. */
double mdl_process_cpu_s (void);

/* Peak resident memory of this process in MiB, or NAN if the kernel does not say. */
double mdl_peak_rss_mb (void);

/* This process's run id: 16 hex digits drawn once (the "run" of metrics and
   summaries, unless --run names it). */
const char *mdl_run_id (void);

/* An agent id as the CLI writes it (summaries, prefixes, status): 16 hex digits into
   buf (>= 17 bytes). Returns buf. */
const char *mdl_cli_id_str (uint64_t id, char *buf);

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
void mdl_json_bool (mdl_json_t *j, const char *key, bool v);
/* Opens a nested object under key; close it with mdl_json_close. */
void mdl_json_open (mdl_json_t *j, const char *key);
void mdl_json_close (mdl_json_t *j);
/* Closes the object and writes it with a newline to out; returns 0 or MDL_EIO. */
int mdl_json_end (mdl_json_t *j, FILE *out);
/* Closes the object, leaving its text in j->buf (j->len bytes, NUL-terminated) for a
   writer other than a FILE. Returns 0, or MDL_EIO when it did not fit. */
int mdl_json_finish (mdl_json_t *j);

/* The progress line: redrawn in place on a terminal that this process has in the
   foreground, a plain line at most every `interval` seconds otherwise (logs, docker
   compose, and several agents started with & on one terminal, which would overwrite
   each other's line). prefix starts each line. Other lines (events, notes) go through
   mdl_progress_line, from any thread, so they are never glued onto a redrawn line. */
typedef struct {
    FILE *out;
    bool tty;          /* redraw in place */
    double interval, last;
    char prefix[64];
    char text[512];    /* what is drawn now (redrawn after an event line) */
    size_t drawn;      /* characters on the current terminal line */
} mdl_progress_t;

void mdl_progress_init (mdl_progress_t *p, FILE *out, const char *prefix, double interval);
/* Shows the formatted text (now, or later if not a terminal and too soon, unless force). */
void mdl_progress_show (mdl_progress_t *p, bool force, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
/* Ends the current terminal line so normal output can follow. */
void mdl_progress_end (mdl_progress_t *p);
/* Writes one whole line (no newline in text) above the progress line: on a terminal the
   drawn line is cleared first and drawn again after it. Thread-safe. */
void mdl_progress_line (mdl_progress_t *p, const char *text);
/* A log_fn for mdl_agent_cfg_t: arg is an mdl_progress_t. */
void mdl_progress_log_fn (void *arg, const char *line);

#endif
