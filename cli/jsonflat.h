/*  jsonflat.h: a reader for the JSON lines meshdl writes (metrics, summaries, status):
    one object per line whose values are numbers, strings, true/false/null or objects
    of the same (a summary's {"summary": {...}} is read as its inner keys). Arrays are
    skipped. What `meshdl plot` and `meshdl top` read; not a general JSON library. */
#ifndef MDL_JSONFLAT_H
#define MDL_JSONFLAT_H

#include <stdbool.h>
#include <stddef.h>

#define MDL_JSONFLAT_MAX 96 /* keys kept per line (more are skipped) */

typedef struct {
    char key[48];
    bool is_num;       /* a number (true/false read as 1/0) */
    bool is_null;
    double num;
    char str[96];      /* a string value (cut to fit), or "" */
} mdl_jsonflat_kv_t;

typedef struct {
    mdl_jsonflat_kv_t kv[MDL_JSONFLAT_MAX];
    size_t n;
} mdl_jsonflat_t;

/* Parses one line. Returns 0, or MDL_EFORMAT when it is not a JSON object (o is then
   empty). Keys of nested objects are lifted to the top level. */
int mdl_jsonflat_parse (const char *line, mdl_jsonflat_t *o);

/* The value of key, or NULL. */
const mdl_jsonflat_kv_t *mdl_jsonflat_get (const mdl_jsonflat_t *o, const char *key);

/* The number at key: true with *v set when key is there and numeric. */
bool mdl_jsonflat_num (const mdl_jsonflat_t *o, const char *key, double *v);

#endif
