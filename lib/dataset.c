/*  dataset.c: labelled datasets in memory; IDX (gzip or plain) and CSV readers.

    Readers trust nothing in a file: every dimension is bounded before it is
    multiplied, and no buffer is sized from a header alone. IDX bodies are read in
    geometrically growing chunks, so a 16-byte file whose header claims 2^31 pixels costs
    at most one small chunk before MDL_ETRUNC, never a multi-gigabyte allocation. */
#include "dataset.h"

#include "err.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

struct mdl_dataset_t {
    size_t n;       /* rows */
    size_t dim;     /* features per row */
    int classes;    /* max label + 1; 0 for regression */
    float *x;       /* (n, dim) row-major */
    int32_t *labels; /* (n) */
    float *targets; /* (n) regression targets, or NULL for classification data */
};

/* The most elements an IDX file may declare. Fashion-MNIST train is 47e6; 2^31 leaves
   room for far larger sets while keeping every count inside an int32 and the float
   matrix inside 8 GiB. */
#define S_IDX_MAX_ELEMS ((uint64_t) 1 << 31)

/* First chunk of an IDX body; doubled until the header's size is reached. */
#define S_IDX_CHUNK ((size_t) 1 << 20)

static void
s_set_err (int *err, int code)
{
    if (err)
        *err = code;
}

mdl_dataset_t *
mdl_dataset_new (size_t n, size_t dim, int classes, int *err)
{
    mdl_dataset_t *self = NULL;
    if (dim == 0 || classes < 0) {
        s_set_err (err, MDL_EINVAL);
        return NULL;
    }
    if (n > SIZE_MAX / dim || n * dim > SIZE_MAX / sizeof (float)) {
        s_set_err (err, MDL_ENOMEM);
        return NULL;
    }
    self = calloc (1, sizeof *self);
    if (!self)
        goto err;
    self->n = n;
    self->dim = dim;
    self->classes = classes;
    /* At least one element so that an empty dataset still has non-NULL arrays
       (calloc (0) may return NULL, which would read as a failure). */
    self->x = calloc (n ? n * dim : 1, sizeof *self->x);
    self->labels = calloc (n ? n : 1, sizeof *self->labels);
    if (!self->x || !self->labels)
        goto err;
    s_set_err (err, MDL_OK);
    return self;
err:
    mdl_dataset_destroy (&self);
    s_set_err (err, MDL_ENOMEM);
    return NULL;
}

void
mdl_dataset_destroy (mdl_dataset_t **ds)
{
    if (!ds || !*ds)
        return;
    free ((*ds)->x);
    free ((*ds)->labels);
    free ((*ds)->targets);
    free (*ds);
    *ds = NULL;
}

/* ---- IDX ---------------------------------------------------------------------- */

/* Maps the state of a gz stream after a short or failed read to an error code. A broken
   or cut gzip stream (Z_BUF_ERROR "unexpected end of file", Z_DATA_ERROR bad data or
   CRC) and a plain file that simply ends are both "shorter than the header says". */
static int
s_gz_error (gzFile f)
{
    int zerr = Z_OK;
    gzerror (f, &zerr);
    if (zerr == Z_ERRNO)
        return MDL_EIO;
    if (zerr == Z_MEM_ERROR)
        return MDL_ENOMEM;
    return MDL_ETRUNC;
}

/* Opens path for reading through zlib, which passes plain files through unchanged
   (gzip is detected by content, not by name). Returns 0 or MDL_ENOENT/ENOMEM/EIO. */
static int
s_gz_open (const char *path, gzFile *out)
{
    errno = 0;
    *out = gzopen (path, "rb");
    if (!*out) {
        if (errno == ENOENT || errno == ENOTDIR)
            return MDL_ENOENT;
        return errno == ENOMEM || errno == 0 ? MDL_ENOMEM : MDL_EIO;
    }
    /* Larger than the 8 KiB default: Fashion-MNIST train decompresses 47 MB. */
    gzbuffer (*out, 128 * 1024);
    return MDL_OK;
}

/* Reads exactly len bytes (len small: headers only). 0, MDL_ETRUNC or MDL_EIO. */
static int
s_gz_read_exact (gzFile f, void *buf, unsigned len)
{
    int r = gzread (f, buf, len);
    if (r < 0 || (unsigned) r != len)
        return s_gz_error (f);
    return MDL_OK;
}

static uint32_t
s_be32 (const unsigned char *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* Reads an IDX header with the given magic (0x00000800 | ndims for u8 data) into
   dims[0..ndims) and checks the element count: MDL_EMAGIC, MDL_ETRUNC, MDL_EIO or
   MDL_EFORMAT (a zero dimension, or more than S_IDX_MAX_ELEMS elements, checked one
   factor at a time so that the product cannot overflow). *elems gets the product. */
static int
s_idx_header (gzFile f, uint32_t magic, int ndims, uint32_t *dims, size_t *elems)
{
    unsigned char hdr[4 + 4 * 3];
    assert (ndims >= 1 && ndims <= 3);
    int rc = s_gz_read_exact (f, hdr, 4);
    if (rc)
        return rc;
    if (s_be32 (hdr) != magic)
        return MDL_EMAGIC;
    rc = s_gz_read_exact (f, hdr + 4, (unsigned) (4 * ndims));
    if (rc)
        return rc;
    uint64_t total = 1;
    for (int i = 0; i < ndims; i++) {
        dims[i] = s_be32 (hdr + 4 + 4 * i);
        if (dims[i] == 0 || dims[i] > S_IDX_MAX_ELEMS / total)
            return MDL_EFORMAT;
        total *= dims[i];
    }
    *elems = (size_t) total;
    return MDL_OK;
}

/* Reads the body of an IDX file: exactly need bytes, then expects the end of the file.
   The buffer grows by doubling from S_IDX_CHUNK, so memory follows the bytes actually
   present rather than the header's claim. On success *out (caller frees) holds need
   bytes. Errors: MDL_ETRUNC (short, or broken gzip stream, including a cut trailer),
   MDL_EFORMAT (bytes after the data), MDL_ENOMEM, MDL_EIO; *out is NULL then. */
static int
s_idx_body (gzFile f, size_t need, unsigned char **out)
{
    int rc = MDL_ENOMEM;
    size_t cap = need < S_IDX_CHUNK ? need : S_IDX_CHUNK;
    size_t have = 0;
    unsigned char *buf = malloc (cap);
    *out = NULL;
    if (!buf)
        goto err;
    while (have < need) {
        if (have == cap) {
            size_t ncap = cap > need / 2 ? need : cap * 2;
            unsigned char *nbuf = realloc (buf, ncap);
            if (!nbuf) {
                rc = MDL_ENOMEM;
                goto err;
            }
            buf = nbuf;
            cap = ncap;
        }
        /* gzread takes an unsigned and returns an int: stay well inside both. */
        size_t want = cap - have;
        if (want > (size_t) 1 << 30)
            want = (size_t) 1 << 30;
        int r = gzread (f, buf + have, (unsigned) want);
        if (r <= 0) {
            rc = s_gz_error (f);
            goto err;
        }
        have += (size_t) r;
    }
    /* One more read settles the end: it makes zlib check the gzip trailer (CRC and
       length), which a read that stopped exactly at the data's end has not yet done. */
    unsigned char extra;
    int r = gzread (f, &extra, 1);
    if (r > 0) {
        rc = MDL_EFORMAT;
        goto err;
    }
    int zerr = Z_OK;
    gzerror (f, &zerr);
    if (r < 0 || (zerr != Z_OK && zerr != Z_STREAM_END)) {
        rc = s_gz_error (f);
        goto err;
    }
    *out = buf;
    return MDL_OK;
err:
    free (buf);
    return rc;
}

/* Loads an images/labels pair; on failure *bad (when non-NULL) names the file at fault. */
static mdl_dataset_t *
s_load_idx (const char *images, const char *labels, int *err, const char **bad)
{
    gzFile fi = NULL, fl = NULL;
    unsigned char *pix = NULL, *lab = NULL;
    mdl_dataset_t *self = NULL;
    uint32_t idims[3], ldims[1];
    size_t ielems = 0, lelems = 0;
    const char *at = images;

    int rc = s_gz_open (images, &fi);
    if (rc)
        goto err;
    rc = s_idx_header (fi, 0x00000803u, 3, idims, &ielems);
    if (rc)
        goto err;
    at = labels;
    rc = s_gz_open (labels, &fl);
    if (rc)
        goto err;
    rc = s_idx_header (fl, 0x00000801u, 1, ldims, &lelems);
    if (rc)
        goto err;
    /* Both headers before any body: a mismatched pair fails without reading 47 MB. */
    if (ldims[0] != idims[0]) {
        rc = MDL_EMISMATCH;
        goto err;
    }
    at = images;
    rc = s_idx_body (fi, ielems, &pix);
    if (rc)
        goto err;
    at = labels;
    rc = s_idx_body (fl, lelems, &lab);
    if (rc)
        goto err;

    size_t n = idims[0], dim = (size_t) idims[1] * idims[2];
    int32_t maxl = 0;
    for (size_t i = 0; i < n; i++)
        if (lab[i] > maxl)
            maxl = lab[i];
    self = mdl_dataset_new (n, dim, (int) maxl + 1, &rc);
    if (!self)
        goto err;
    for (size_t i = 0; i < ielems; i++)
        self->x[i] = (float) pix[i] / 255.0f;
    for (size_t i = 0; i < n; i++)
        self->labels[i] = lab[i];

    free (pix);
    free (lab);
    gzclose (fi);
    gzclose (fl);
    s_set_err (err, MDL_OK);
    return self;
err:
    free (pix);
    free (lab);
    if (fi)
        gzclose (fi);
    if (fl)
        gzclose (fl);
    if (bad)
        *bad = at;
    s_set_err (err, rc);
    return NULL;
}

mdl_dataset_t *
mdl_dataset_load_idx (const char *images, const char *labels, int *err)
{
    if (!images || !labels) {
        s_set_err (err, MDL_EINVAL);
        return NULL;
    }
    return s_load_idx (images, labels, err, NULL);
}

static void
s_copy_path (char *path, size_t pathlen, const char *src)
{
    if (path && pathlen)
        snprintf (path, pathlen, "%s", src);
}

/* Picks DIR/SPLIT-KIND.gz, else DIR/SPLIT-KIND. 0, MDL_ENOENT (buf holds the .gz name,
   the one a user is told to provide) or MDL_EINVAL (name too long). */
static int
s_find_file (const char *dir, const char *split, const char *kind, char *buf, size_t len)
{
    int w = snprintf (buf, len, "%s/%s-%s.gz", dir, split, kind);
    if (w < 0 || (size_t) w >= len)
        return MDL_EINVAL;
    struct stat st;
    if (stat (buf, &st) == 0)
        return MDL_OK;
    buf[w - 3] = '\0';
    if (stat (buf, &st) == 0)
        return MDL_OK;
    buf[w - 3] = '.';
    return MDL_ENOENT;
}

mdl_dataset_t *
mdl_dataset_load_dir (const char *dir, const char *split, int *err, char *path,
                      size_t pathlen)
{
    char images[4096], labels[4096];
    const char *bad = NULL;
    struct stat st;
    int rc;

    if (!dir || !split) {
        s_set_err (err, MDL_EINVAL);
        return NULL;
    }
    /* A missing directory is the common mistake: name it rather than a file inside. */
    if (stat (dir, &st) != 0 || !S_ISDIR (st.st_mode)) {
        s_copy_path (path, pathlen, dir);
        s_set_err (err, MDL_ENOENT);
        return NULL;
    }
    rc = s_find_file (dir, split, "images-idx3-ubyte", images, sizeof images);
    if (rc) {
        s_copy_path (path, pathlen, rc == MDL_ENOENT ? images : dir);
        s_set_err (err, rc);
        return NULL;
    }
    rc = s_find_file (dir, split, "labels-idx1-ubyte", labels, sizeof labels);
    if (rc) {
        s_copy_path (path, pathlen, rc == MDL_ENOENT ? labels : dir);
        s_set_err (err, rc);
        return NULL;
    }
    mdl_dataset_t *self = s_load_idx (images, labels, &rc, &bad);
    if (!self && bad)
        s_copy_path (path, pathlen, bad);
    s_set_err (err, rc);
    return self;
}

/* ---- CSV ---------------------------------------------------------------------- */

static int
s_is_blank (int c)
{
    return c == ' ' || c == '\t';
}

/* Field [s, e) as a float: the whole field must be one finite number, blanks around it
   allowed. s[e - s] is writable (it held the separator or the line's end). */
static int
s_parse_float (char *s, char *e, float *out)
{
    *e = '\0';
    while (s < e && s_is_blank (*s))
        s++;
    while (e > s && s_is_blank (e[-1]))
        *--e = '\0';
    if (s == e)
        return -1;
    char *end;
    float v = strtof (s, &end);
    /* end != e also catches an embedded NUL byte; strtof's ERANGE on underflow is fine
       (a tiny value), its overflow shows up as a non-finite result. */
    if (end != e || !isfinite (v))
        return -1;
    *out = v;
    return 0;
}

/* Field [s, e) as a label: a decimal integer in [0, INT32_MAX), so max + 1 fits an int. */
static int
s_parse_label (char *s, char *e, int32_t *out)
{
    *e = '\0';
    while (s < e && s_is_blank (*s))
        s++;
    while (e > s && s_is_blank (e[-1]))
        *--e = '\0';
    if (s == e || *s == '-' || *s == '+')
        return -1;
    char *end;
    errno = 0;
    long v = strtol (s, &end, 10);
    if (end != e || errno || v < 0 || v >= INT32_MAX)
        return -1;
    *out = (int32_t) v;
    return 0;
}

/* Grows *p (elements of size sz, capacity *cap) to hold at least need; 0 or MDL_ENOMEM. */
static int
s_grow (void **p, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return MDL_OK;
    size_t ncap = *cap ? *cap : 1024;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return MDL_ENOMEM;
        ncap *= 2;
    }
    if (ncap > SIZE_MAX / sz)
        return MDL_ENOMEM;
    void *np = realloc (*p, ncap * sz);
    if (!np)
        return MDL_ENOMEM;
    *p = np;
    *cap = ncap;
    return MDL_OK;
}

mdl_dataset_t *
mdl_dataset_load_csv (const char *path, int *err, size_t *line)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t bufcap = 0;
    float *x = NULL;
    int32_t *y = NULL;
    size_t xcap = 0, ycap = 0, n = 0, dim = 0, lineno = 0;
    int32_t maxl = 0;
    int rc = MDL_OK;
    int seen_first = 0;
    mdl_dataset_t *self = NULL;

    if (line)
        *line = 0;
    if (!path) {
        s_set_err (err, MDL_EINVAL);
        return NULL;
    }
    f = fopen (path, "rb");
    if (!f) {
        rc = errno == ENOENT || errno == ENOTDIR ? MDL_ENOENT : MDL_EIO;
        goto err;
    }
    for (;;) {
        errno = 0;
        ssize_t len = getline (&buf, &bufcap, f);
        if (len < 0) {
            if (ferror (f)) {
                rc = errno == ENOMEM ? MDL_ENOMEM : MDL_EIO;
                goto err;
            }
            break;
        }
        lineno++;
        /* Strip "\n" or "\r\n" (files written on Windows), then skip lines with
           nothing on them, such as a blank last line. */
        size_t l = (size_t) len;
        if (l && buf[l - 1] == '\n')
            l--;
        if (l && buf[l - 1] == '\r')
            l--;
        buf[l] = '\0';
        size_t k = 0;
        while (k < l && s_is_blank (buf[k]))
            k++;
        if (k == l)
            continue;

        /* Count fields first so that a ragged row is reported as such, not as a
           bad number somewhere in it. */
        size_t fields = 1;
        for (size_t i = 0; i < l; i++)
            fields += buf[i] == ',';

        char *s = buf, *end = buf + l;
        char *e = memchr (s, ',', l);
        if (!e)
            e = end;
        int32_t lab = 0;
        int lab_ok = s_parse_label (s, e, &lab) == 0;
        if (!seen_first) {
            seen_first = 1;
            /* Only the first line may be a header, and only when its first field is
               not a number at all ("label,pixel1,..."); a first row with a bad number
               further along is still reported. */
            char *endp;
            strtod (s, &endp);
            if (!lab_ok && endp == s)
                continue;
        }
        if (!dim) {
            if (fields < 2) {
                rc = MDL_EFORMAT;
                goto bad_line;
            }
            dim = fields - 1;
        }
        if (fields != dim + 1 || !lab_ok) {
            rc = MDL_EFORMAT;
            goto bad_line;
        }
        if (n + 1 > SIZE_MAX / dim) {
            rc = MDL_ENOMEM;
            goto err;
        }
        rc = s_grow ((void **) &x, &xcap, (n + 1) * dim, sizeof *x);
        if (!rc)
            rc = s_grow ((void **) &y, &ycap, n + 1, sizeof *y);
        if (rc)
            goto err;
        float *row = x + n * dim;
        for (size_t j = 0; j < dim; j++) {
            s = e + 1;
            e = j + 1 < dim ? memchr (s, ',', (size_t) (end - s)) : end;
            if (s_parse_float (s, e, &row[j])) {
                rc = MDL_EFORMAT;
                goto bad_line;
            }
        }
        y[n++] = lab;
        if (lab > maxl)
            maxl = lab;
    }
    if (n == 0) {
        /* Empty, blank or header-only: the data should have started on the next line. */
        rc = MDL_EFORMAT;
        lineno++;
        goto bad_line;
    }
    /* The growing arrays become the dataset's own, so a large CSV is never held twice. */
    self = calloc (1, sizeof *self);
    if (!self) {
        rc = MDL_ENOMEM;
        goto err;
    }
    self->n = n;
    self->dim = dim;
    self->classes = (int) maxl + 1;
    self->x = x;
    self->labels = y;
    free (buf);
    fclose (f);
    s_set_err (err, MDL_OK);
    return self;
bad_line:
    if (line)
        *line = lineno;
err:
    free (x);
    free (y);
    free (buf);
    if (f)
        fclose (f);
    s_set_err (err, rc);
    return NULL;
}

/* ---- accessors and whole-dataset operations ------------------------------------ */

size_t
mdl_dataset_n (const mdl_dataset_t *ds)
{
    return ds->n;
}

size_t
mdl_dataset_dim (const mdl_dataset_t *ds)
{
    return ds->dim;
}

int
mdl_dataset_classes (const mdl_dataset_t *ds)
{
    return ds->classes;
}

const float *
mdl_dataset_x (const mdl_dataset_t *ds)
{
    return ds->x;
}

const int32_t *
mdl_dataset_labels (const mdl_dataset_t *ds)
{
    return ds->labels;
}

float *
mdl_dataset_x_mut (mdl_dataset_t *ds)
{
    return ds->x;
}

int32_t *
mdl_dataset_labels_mut (mdl_dataset_t *ds)
{
    return ds->labels;
}

int
mdl_dataset_add_targets (mdl_dataset_t *ds)
{
    if (ds->targets)
        return 0;
    /* n was bounded by mdl_dataset_new (n * dim floats fit), so n floats fit too */
    ds->targets = calloc (ds->n ? ds->n : 1, sizeof *ds->targets);
    return ds->targets ? 0 : MDL_ENOMEM;
}

const float *
mdl_dataset_targets (const mdl_dataset_t *ds)
{
    return ds->targets;
}

float *
mdl_dataset_targets_mut (mdl_dataset_t *ds)
{
    return ds->targets;
}

void
mdl_dataset_gather_targets (const mdl_dataset_t *ds, const uint32_t *idx, size_t n, float *t)
{
    assert (ds->targets);
    for (size_t i = 0; i < n; i++) {
        assert (idx[i] < ds->n);
        t[i] = ds->targets[idx[i]];
    }
}

void
mdl_dataset_stats (const mdl_dataset_t *ds, float *mean, float *std)
{
    /* Two passes in double: a one-pass sum of squares loses the variance of 47e6
       values near 0.3 to cancellation. Population std (divide by N). */
    size_t total = ds->n * ds->dim;
    double m = 0.0, v = 0.0;
    if (total) {
        for (size_t i = 0; i < total; i++)
            m += ds->x[i];
        m /= (double) total;
        for (size_t i = 0; i < total; i++) {
            double d = ds->x[i] - m;
            v += d * d;
        }
        v /= (double) total;
    }
    if (mean)
        *mean = (float) m;
    if (std)
        *std = (float) sqrt (v);
}

void
mdl_dataset_normalize (mdl_dataset_t *ds, float mean, float std)
{
    assert (std > 0.0f);
    size_t total = ds->n * ds->dim;
    for (size_t i = 0; i < total; i++)
        ds->x[i] = (ds->x[i] - mean) / std;
}

void
mdl_dataset_gather (const mdl_dataset_t *ds, const uint32_t *idx, size_t n, float *x,
                    int32_t *y)
{
    const size_t dim = ds->dim;
    for (size_t i = 0; i < n; i++) {
        assert (idx[i] < ds->n);
        if (x)
            memcpy (x + i * dim, ds->x + (size_t) idx[i] * dim, dim * sizeof *x);
        if (y)
            y[i] = ds->labels[idx[i]];
    }
}

void
mdl_dataset_truncate (mdl_dataset_t *ds, size_t n)
{
    /* The arrays keep their size: truncation is for short runs, and classes is kept
       so that the model's output layer still matches the full dataset. */
    assert (n <= ds->n);
    ds->n = n;
}
