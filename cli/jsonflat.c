/*  jsonflat.c: see jsonflat.h. A recursive-descent reader over one line; every read is
    bounded by the line's NUL, so a truncated or corrupted line fails, never overruns. */
#include "jsonflat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meshdl.h"

typedef struct {
    const char *p;
    mdl_jsonflat_t *o;
    int depth;
} s_rd_t;

static void
s_ws (s_rd_t *r)
{
    while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')
        r->p++;
}

/* A string into out (cut to len - 1; escapes: \" \\ \/ \b \f \n \r \t, \uXXXX as '?'). */
static int
s_string (s_rd_t *r, char *out, size_t len)
{
    if (*r->p != '"')
        return -1;
    r->p++;
    size_t n = 0;
    while (*r->p && *r->p != '"') {
        char c = *r->p++;
        if (c == '\\') {
            char e = *r->p++;
            switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u':
                for (int i = 0; i < 4; i++)
                    if (!*r->p++)
                        return -1;
                c = '?';
                break;
            case '"': case '\\': case '/': c = e; break;
            default: return -1;
            }
        }
        if (n + 1 < len)
            out[n++] = c;
    }
    if (*r->p != '"')
        return -1;
    r->p++;
    out[n] = '\0';
    return 0;
}

static int s_object (s_rd_t *r);

static int
s_skip_array (s_rd_t *r)
{
    int depth = 0;
    do {
        if (*r->p == '"') {
            char junk[2];
            if (s_string (r, junk, sizeof junk))
                return -1;
            continue;
        }
        if (!*r->p)
            return -1;
        depth += *r->p == '[' || *r->p == '{';
        depth -= *r->p == ']' || *r->p == '}';
        r->p++;
    } while (depth > 0);
    return 0;
}

static int
s_value (s_rd_t *r, const char *key)
{
    s_ws (r);
    mdl_jsonflat_kv_t kv;
    memset (&kv, 0, sizeof kv);
    snprintf (kv.key, sizeof kv.key, "%s", key);
    if (*r->p == '{')
        return s_object (r);
    if (*r->p == '[')
        return s_skip_array (r);
    if (*r->p == '"') {
        if (s_string (r, kv.str, sizeof kv.str))
            return -1;
    } else if (!strncmp (r->p, "null", 4)) {
        kv.is_null = true;
        r->p += 4;
    } else if (!strncmp (r->p, "true", 4) || !strncmp (r->p, "false", 5)) {
        kv.is_num = true;
        kv.num = r->p[0] == 't';
        r->p += r->p[0] == 't' ? 4 : 5;
    } else {
        char *end;
        kv.num = strtod (r->p, &end);
        if (end == r->p)
            return -1;
        kv.is_num = true;
        r->p = end;
    }
    if (r->o->n < MDL_JSONFLAT_MAX)
        r->o->kv[r->o->n++] = kv;
    return 0;
}

static int
s_object (s_rd_t *r)
{
    if (*r->p != '{' || ++r->depth > 8)
        return -1;
    r->p++;
    s_ws (r);
    if (*r->p == '}') {
        r->p++;
        r->depth--;
        return 0;
    }
    for (;;) {
        char key[48];
        s_ws (r);
        if (s_string (r, key, sizeof key))
            return -1;
        s_ws (r);
        if (*r->p++ != ':')
            return -1;
        if (s_value (r, key))
            return -1;
        s_ws (r);
        if (*r->p == ',') {
            r->p++;
            continue;
        }
        if (*r->p == '}') {
            r->p++;
            r->depth--;
            return 0;
        }
        return -1;
    }
}

int
mdl_jsonflat_parse (const char *line, mdl_jsonflat_t *o)
{
    o->n = 0;
    s_rd_t r = { line, o, 0 };
    s_ws (&r);
    if (s_object (&r)) {
        o->n = 0;
        return MDL_EFORMAT;
    }
    s_ws (&r);
    if (*r.p) {
        o->n = 0;
        return MDL_EFORMAT;
    }
    return 0;
}

const mdl_jsonflat_kv_t *
mdl_jsonflat_get (const mdl_jsonflat_t *o, const char *key)
{
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp (o->kv[i].key, key))
            return &o->kv[i];
    return NULL;
}

bool
mdl_jsonflat_num (const mdl_jsonflat_t *o, const char *key, double *v)
{
    const mdl_jsonflat_kv_t *kv = mdl_jsonflat_get (o, key);
    if (!kv || !kv->is_num)
        return false;
    *v = kv->num;
    return true;
}
