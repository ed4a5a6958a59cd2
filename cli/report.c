/*  report.c: JSON lines, progress line and process measurements (see report.h). */
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

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

void
mdl_progress_init (mdl_progress_t *p, FILE *out, const char *prefix, double interval)
{
    memset (p, 0, sizeof *p);
    p->out = out;
    p->tty = isatty (fileno (out)) == 1;
    p->interval = interval;
    p->last = -1e9;
    snprintf (p->prefix, sizeof p->prefix, "%s", prefix ? prefix : "");
}

void
mdl_progress_show (mdl_progress_t *p, bool force, const char *fmt, ...)
{
    double now = mdl_now ();
    /* A terminal is redrawn at most 10 times a second; logs get a line per interval. */
    double gap = p->tty ? 0.1 : p->interval;
    if (!force && now - p->last < gap)
        return;
    p->last = now;
    char line[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (line, sizeof line, fmt, ap);
    va_end (ap);
    if (p->tty) {
        int n = fprintf (p->out, "\r%s%s", p->prefix, line);
        /* Blank out what is left of a longer previous line. */
        if (n > 0 && (size_t) n < p->drawn + 1)
            fprintf (p->out, "%*s", (int) (p->drawn + 1 - (size_t) n), "");
        p->drawn = n > 0 ? (size_t) n - 1 : 0;
    } else
        fprintf (p->out, "%s%s\n", p->prefix, line);
    fflush (p->out);
}

void
mdl_progress_end (mdl_progress_t *p)
{
    if (p->tty && p->drawn) {
        fputc ('\n', p->out);
        fflush (p->out);
    }
    p->drawn = 0;
}
