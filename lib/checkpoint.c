/*  checkpoint.c: versioned, checksummed checkpoints of named sections (layout in
    checkpoint.h), in memory (images) and on disk (atomic files).

    Every field is packed byte by byte in little-endian order, never as a struct dump, so
    a file is the same on every host and has no padding. A built image keeps its head and
    its body (the payloads with their crcs) in two buffers; a loaded or adopted one points
    both into the one buffer it owns. Nothing read from a file or a peer sizes an
    allocation before the head's crc and the exact total size have been checked against
    the bytes actually there. */
#include "checkpoint.h"

#include "err.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

_Static_assert (sizeof (float) == 4, "checkpoints store floats as 32-bit words");

static const uint8_t s_magic[8] = { 'M', 'D', 'L', 'C', 'K', 'P', 'T', '1' };

typedef struct {
    char name[MDL_CKPT_MAX_NAME + 1];
    uint8_t kind;
    uint64_t count;
    uint64_t off;   /* offset of the payload in the body (its crc follows it) */
} s_sec_t;

struct mdl_ckpt_image_t {
    char spec[MDL_CKPT_MAX_SPEC + 1];
    char algo[MDL_CKPT_MAX_NAME + 1];
    uint64_t step, epoch;
    uint32_t version;          /* of the file it came from */
    s_sec_t sec[MDL_CKPT_MAX_SECTIONS];
    size_t nsec;
    bool sealed;
    uint8_t *head;             /* magic .. head crc, once sealed */
    size_t head_len;
    uint8_t *body;             /* payloads, each followed by its crc */
    size_t body_len, body_cap;
    uint8_t *owned;            /* loaded or adopted: the one buffer head and body point into */
};

static void
s_put_u32 (uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static void
s_put_u64 (uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static uint32_t
s_get_u32 (const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t) p[i] << (8 * i);
    return v;
}

static uint64_t
s_get_u64 (const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t) p[i] << (8 * i);
    return v;
}

/* crc32 of len bytes, in pieces small enough for zlib's uInt. */
static uint32_t
s_crc (const uint8_t *p, uint64_t len)
{
    uLong c = crc32 (0L, Z_NULL, 0);
    while (len) {
        uInt k = len > (1u << 30) ? (1u << 30) : (uInt) len;
        c = crc32 (c, p, k);
        p += k;
        len -= k;
    }
    return (uint32_t) c;
}

static bool
s_name_ok (const char *s, size_t len, bool empty_ok)
{
    if (len > MDL_CKPT_MAX_NAME || (len == 0 && !empty_ok))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_'
              || c == ':' || c == '-'))
            return false;
    }
    return true;
}

static const s_sec_t *
s_find (const mdl_ckpt_image_t *img, const char *name)
{
    for (size_t i = 0; i < img->nsec; i++)
        if (strcmp (img->sec[i].name, name) == 0)
            return &img->sec[i];
    return NULL;
}

/* Bytes of a section's payload; false when it does not fit in 64 bits. */
static bool
s_payload_bytes (uint8_t kind, uint64_t count, uint64_t *bytes)
{
    if (kind == MDL_CKPT_F32) {
        if (count > UINT64_MAX / 4)
            return false;
        *bytes = 4 * count;
    } else
        *bytes = count;
    return true;
}

mdl_ckpt_image_t *
mdl_ckpt_image_new (const char *spec, const char *algo, uint64_t step, uint64_t epoch, int *err)
{
    int rc = MDL_EINVAL;
    if (!algo)
        algo = "";
    if (!spec || strlen (spec) > MDL_CKPT_MAX_SPEC || !s_name_ok (algo, strlen (algo), true))
        goto fail;
    rc = MDL_ENOMEM;
    mdl_ckpt_image_t *img = calloc (1, sizeof *img);
    if (!img)
        goto fail;
    snprintf (img->spec, sizeof img->spec, "%s", spec);
    snprintf (img->algo, sizeof img->algo, "%s", algo);
    img->step = step;
    img->epoch = epoch;
    img->version = MDL_CKPT_VERSION;
    if (err)
        *err = 0;
    return img;
fail:
    if (err)
        *err = rc;
    return NULL;
}

void
mdl_ckpt_image_destroy (mdl_ckpt_image_t **pimg)
{
    if (!pimg || !*pimg)
        return;
    mdl_ckpt_image_t *img = *pimg;
    if (img->owned)
        free (img->owned);
    else {
        free (img->head);
        free (img->body);
    }
    free (img);
    *pimg = NULL;
}

int
mdl_ckpt_image_add (mdl_ckpt_image_t *img, const char *name, mdl_ckpt_kind_t kind, const void *data, size_t count)
{
    if (img->sealed || !name || !s_name_ok (name, strlen (name), false) || s_find (img, name)
        || img->nsec == MDL_CKPT_MAX_SECTIONS || (kind != MDL_CKPT_F32 && kind != MDL_CKPT_BYTES) || (count && !data))
        return MDL_EINVAL;
    uint64_t bytes;
    if (!s_payload_bytes ((uint8_t) kind, count, &bytes) || bytes > SIZE_MAX - 4 - img->body_len)
        return MDL_ENOMEM;
    size_t need = img->body_len + (size_t) bytes + 4;
    if (need > img->body_cap) {
        size_t cap = img->body_cap ? img->body_cap : 4096;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        uint8_t *b = realloc (img->body, cap);
        if (!b)
            return MDL_ENOMEM;
        img->body = b;
        img->body_cap = cap;
    }
    uint8_t *p = img->body + img->body_len;
    if (kind == MDL_CKPT_F32) {
        const float *x = data;
        for (size_t i = 0; i < count; i++) {
            uint32_t u;
            memcpy (&u, &x[i], 4);
            s_put_u32 (p + 4 * i, u);
        }
    } else if (count)
        memcpy (p, data, count);
    s_put_u32 (p + bytes, s_crc (p, bytes));
    s_sec_t *s = &img->sec[img->nsec++];
    snprintf (s->name, sizeof s->name, "%s", name);
    s->kind = (uint8_t) kind;
    s->count = count;
    s->off = img->body_len;
    img->body_len = need;
    return 0;
}

/* Builds the head of a built image. 0 or MDL_ENOMEM. */
static int
s_seal (mdl_ckpt_image_t *img)
{
    if (img->sealed)
        return 0;
    const size_t sl = strlen (img->spec), al = strlen (img->algo);
    size_t hl = 4 + sl + 4 + al + 8 + 8 + 4;
    for (size_t i = 0; i < img->nsec; i++)
        hl += 1 + 1 + strlen (img->sec[i].name) + 8;
    uint8_t *h = malloc (16 + hl + 4);
    if (!h)
        return MDL_ENOMEM;
    memcpy (h, s_magic, 8);
    s_put_u32 (h + 8, MDL_CKPT_VERSION);
    s_put_u32 (h + 12, (uint32_t) hl);
    uint8_t *p = h + 16;
    s_put_u32 (p, (uint32_t) sl);
    memcpy (p + 4, img->spec, sl);
    p += 4 + sl;
    s_put_u32 (p, (uint32_t) al);
    memcpy (p + 4, img->algo, al);
    p += 4 + al;
    s_put_u64 (p, img->step);
    s_put_u64 (p + 8, img->epoch);
    s_put_u32 (p + 16, (uint32_t) img->nsec);
    p += 20;
    for (size_t i = 0; i < img->nsec; i++) {
        const size_t nl = strlen (img->sec[i].name);
        p[0] = img->sec[i].kind;
        p[1] = (uint8_t) nl;
        memcpy (p + 2, img->sec[i].name, nl);
        s_put_u64 (p + 2 + nl, img->sec[i].count);
        p += 2 + nl + 8;
    }
    assert ((size_t) (p - h) == 16 + hl);
    s_put_u32 (p, s_crc (h, 16 + hl));
    img->head = h;
    img->head_len = 16 + hl + 4;
    img->sealed = true;
    return 0;
}

uint64_t
mdl_ckpt_image_size (mdl_ckpt_image_t *img)
{
    if (s_seal (img))
        return 0;
    return (uint64_t) img->head_len + img->body_len;
}

int
mdl_ckpt_image_read (mdl_ckpt_image_t *img, uint64_t off, void *buf, size_t len)
{
    if (s_seal (img))
        return MDL_ENOMEM;
    const uint64_t size = (uint64_t) img->head_len + img->body_len;
    if (off > size || len > size - off)
        return MDL_ERANGE;
    uint8_t *out = buf;
    if (off < img->head_len) {
        size_t k = img->head_len - (size_t) off < len ? img->head_len - (size_t) off : len;
        memcpy (out, img->head + off, k);
        out += k;
        len -= k;
        off += k;
    }
    if (len)
        memcpy (out, img->body + (off - img->head_len), len);
    return 0;
}

const char *mdl_ckpt_image_spec (const mdl_ckpt_image_t *img) { return img->spec; }
const char *mdl_ckpt_image_algo (const mdl_ckpt_image_t *img) { return img->algo; }
uint64_t mdl_ckpt_image_step (const mdl_ckpt_image_t *img) { return img->step; }
uint64_t mdl_ckpt_image_epoch (const mdl_ckpt_image_t *img) { return img->epoch; }
uint32_t mdl_ckpt_image_version (const mdl_ckpt_image_t *img) { return img->version; }

bool
mdl_ckpt_image_has (const mdl_ckpt_image_t *img, const char *name, mdl_ckpt_kind_t *kind, uint64_t *count)
{
    const s_sec_t *s = s_find (img, name);
    if (!s)
        return false;
    if (kind)
        *kind = (mdl_ckpt_kind_t) s->kind;
    if (count)
        *count = s->count;
    return true;
}

int
mdl_ckpt_image_get (const mdl_ckpt_image_t *img, const char *name, mdl_ckpt_kind_t kind, void *out, size_t count)
{
    const s_sec_t *s = s_find (img, name);
    if (!s || s->kind != kind || s->count != count)
        return MDL_ECKPT_MODEL;
    const uint8_t *p = img->body + s->off;
    if (kind == MDL_CKPT_F32) {
        float *x = out;
        for (size_t i = 0; i < count; i++) {
            uint32_t u = s_get_u32 (p + 4 * i);
            memcpy (&x[i], &u, 4);
        }
    } else if (count)
        memcpy (out, p, count);
    return 0;
}

/* ---- parsing ---- */

/* The magic check of a buffer of n bytes: a file shorter than the magic is a truncated
   checkpoint if what it has is a prefix of the magic, else it is not a checkpoint. */
static int
s_check_magic (const uint8_t *b, size_t n)
{
    if (memcmp (b, s_magic, n < 8 ? n : 8) != 0)
        return MDL_ECKPT_MAGIC;
    return n >= 8 ? MDL_OK : MDL_ECKPT_CORRUPT;
}

/* Version 1 (parameters and optimizer state): magic, u32 version, u32 spec length, spec,
   u64 d, u64 optimizer-state length, u64 step, u64 epoch, u32 crc32 of all that, the
   params, the state, u32 crc32 of both. Converted into a built image. */
static mdl_ckpt_image_t *
s_parse_v1 (const uint8_t *b, size_t len, int *err)
{
    int rc = MDL_ECKPT_CORRUPT;
    mdl_ckpt_image_t *img = NULL;
    float *buf = NULL;
    if (len < 16)
        goto fail;
    uint32_t sl = s_get_u32 (b + 12);
    if (sl > MDL_CKPT_MAX_SPEC || len < 16 + (size_t) sl + 36)
        goto fail;
    const uint8_t *p = b + 16 + sl;
    uint64_t d = s_get_u64 (p), no = s_get_u64 (p + 8);
    if (s_get_u32 (p + 32) != s_crc (b, 16 + (uint64_t) sl + 32))
        goto fail;
    const uint64_t head = 16 + (uint64_t) sl + 36;
    if (d > UINT64_MAX / 8 || no > UINT64_MAX / 8 || d + no > (UINT64_MAX - head - 4) / 4
        || (uint64_t) len != head + 4 * (d + no) + 4)
        goto fail;
    if (s_get_u32 (b + len - 4) != s_crc (b + head, 4 * (d + no)))
        goto fail;
    char spec[MDL_CKPT_MAX_SPEC + 1];
    memcpy (spec, b + 16, sl);
    spec[sl] = '\0';
    if (strlen (spec) != sl) /* a NUL inside: not a spec we wrote */
        goto fail;
    rc = MDL_ENOMEM;
    if (!(img = mdl_ckpt_image_new (spec, "", s_get_u64 (p + 16), s_get_u64 (p + 24), &rc)))
        goto fail;
    if (!(buf = malloc ((size_t) (d + no) * 4 + 4)))
        goto fail;
    for (uint64_t i = 0; i < d + no; i++) {
        uint32_t u = s_get_u32 (b + head + 4 * i);
        memcpy (&buf[i], &u, 4);
    }
    if ((rc = mdl_ckpt_image_add (img, "params", MDL_CKPT_F32, buf, (size_t) d))
        || (rc = mdl_ckpt_image_add (img, "optim", MDL_CKPT_F32, buf + d, (size_t) no)) || (rc = s_seal (img)))
        goto fail;
    free (buf);
    img->version = 1;
    return img;
fail:
    free (buf);
    mdl_ckpt_image_destroy (&img);
    *err = rc;
    return NULL;
}

/* Reads a u32 length and that many bytes of text (at most max, no NUL inside) at *p,
   before end, into out (max + 1 bytes). 0, or MDL_ECKPT_CORRUPT. */
static int
s_get_str (const uint8_t **p, const uint8_t *end, size_t max, char *out)
{
    if (end - *p < 4)
        return MDL_ECKPT_CORRUPT;
    uint32_t n = s_get_u32 (*p);
    if (n > max || (size_t) (end - *p - 4) < n)
        return MDL_ECKPT_CORRUPT;
    memcpy (out, *p + 4, n);
    out[n] = '\0';
    *p += 4 + n;
    return strlen (out) == n ? 0 : MDL_ECKPT_CORRUPT;
}

/* Verifies the whole of b (len bytes) as a version-2 checkpoint and fills img's fields
   (head and body point into b). Returns 0 or an MDL_ECKPT_* code. */
static int
s_parse_v2 (uint8_t *b, size_t len, mdl_ckpt_image_t *img)
{
    if (len < 16)
        return MDL_ECKPT_CORRUPT;
    const uint32_t hl = s_get_u32 (b + 12);
    if (hl > MDL_CKPT_MAX_HEAD || len < 16 + (size_t) hl + 4)
        return MDL_ECKPT_CORRUPT;
    if (s_get_u32 (b + 16 + hl) != s_crc (b, 16 + (uint64_t) hl))
        return MDL_ECKPT_CORRUPT;
    /* A bounded cursor over the head: every length is checked against what is left. */
    const uint8_t *p = b + 16, *end = b + 16 + hl;
#define NEED(n) \
    do { \
        if ((size_t) (end - p) < (size_t) (n)) \
            return MDL_ECKPT_CORRUPT; \
    } while (0)
    if (s_get_str (&p, end, MDL_CKPT_MAX_SPEC, img->spec) || s_get_str (&p, end, MDL_CKPT_MAX_NAME, img->algo)
        || !s_name_ok (img->algo, strlen (img->algo), true))
        return MDL_ECKPT_CORRUPT;
    NEED (20);
    img->step = s_get_u64 (p);
    img->epoch = s_get_u64 (p + 8);
    uint32_t ns = s_get_u32 (p + 16);
    p += 20;
    if (ns > MDL_CKPT_MAX_SECTIONS)
        return MDL_ECKPT_CORRUPT;
    uint64_t off = 0;
    const uint64_t body_len = len - (16 + (uint64_t) hl + 4);
    for (uint32_t i = 0; i < ns; i++) {
        NEED (2);
        uint8_t kind = p[0], nl = p[1];
        p += 2;
        if ((kind != MDL_CKPT_F32 && kind != MDL_CKPT_BYTES) || nl == 0 || nl > MDL_CKPT_MAX_NAME)
            return MDL_ECKPT_CORRUPT;
        NEED ((size_t) nl + 8);
        if (!s_name_ok ((const char *) p, nl, false))
            return MDL_ECKPT_CORRUPT;
        s_sec_t *s = &img->sec[i];
        memcpy (s->name, p, nl);
        s->name[nl] = '\0';
        for (uint32_t j = 0; j < i; j++)
            if (strcmp (img->sec[j].name, s->name) == 0)
                return MDL_ECKPT_CORRUPT;
        s->kind = kind;
        s->count = s_get_u64 (p + nl);
        p += nl + 8;
        uint64_t bytes;
        if (!s_payload_bytes (kind, s->count, &bytes) || bytes > body_len || off > body_len - bytes
            || body_len - bytes - off < 4)
            return MDL_ECKPT_CORRUPT;
        s->off = off;
        off += bytes + 4;
    }
#undef NEED
    if (p != end || off != body_len)
        return MDL_ECKPT_CORRUPT;
    img->nsec = ns;
    img->head = b;
    img->head_len = 16 + (size_t) hl + 4;
    img->body = b + img->head_len;
    img->body_len = (size_t) body_len;
    for (size_t i = 0; i < img->nsec; i++) {
        uint64_t bytes = 0;
        s_payload_bytes (img->sec[i].kind, img->sec[i].count, &bytes);
        const uint8_t *q = img->body + img->sec[i].off;
        if (s_get_u32 (q + bytes) != s_crc (q, bytes))
            return MDL_ECKPT_CORRUPT;
    }
    img->version = 2;
    img->sealed = true;
    return 0;
}

/* Verifies b and returns an image: version 2 points into b (takes it over when
   *owned), version 1 is converted (b stays the caller's). */
static mdl_ckpt_image_t *
s_parse (uint8_t *b, size_t len, bool *taken, int *err)
{
    *taken = false;
    int rc = s_check_magic (b, len);
    if (rc == 0 && len < 12)
        rc = MDL_ECKPT_CORRUPT;
    if (rc) {
        *err = rc;
        return NULL;
    }
    const uint32_t version = s_get_u32 (b + 8);
    if (version == 1)
        return s_parse_v1 (b, len, err);
    if (version != MDL_CKPT_VERSION) {
        *err = MDL_ECKPT_VERSION;
        return NULL;
    }
    mdl_ckpt_image_t *img = calloc (1, sizeof *img);
    if (!img) {
        *err = MDL_ENOMEM;
        return NULL;
    }
    if ((rc = s_parse_v2 (b, len, img))) {
        free (img);
        *err = rc;
        return NULL;
    }
    img->owned = b;
    *taken = true;
    return img;
}

mdl_ckpt_image_t *
mdl_ckpt_image_adopt (void **bytes, size_t len, int *err)
{
    int rc = MDL_EINVAL;
    bool taken = false;
    mdl_ckpt_image_t *img = bytes && *bytes ? s_parse (*bytes, len, &taken, &rc) : NULL;
    if (img) {
        if (taken)
            *bytes = NULL;
        else {
            free (*bytes);
            *bytes = NULL;
        }
        if (err)
            *err = 0;
    } else if (err)
        *err = rc;
    return img;
}

/* Reads exactly len bytes at the current position. 0, MDL_EIO or MDL_ECKPT_CORRUPT
   (the file ends first). */
static int
s_read (FILE *f, void *buf, size_t len)
{
    if (len && fread (buf, 1, len, f) != len)
        return ferror (f) ? MDL_EIO : MDL_ECKPT_CORRUPT;
    return MDL_OK;
}

mdl_ckpt_image_t *
mdl_ckpt_image_load (const char *path, int *err)
{
    int rc = MDL_EINVAL, dummy;
    if (!err)
        err = &dummy;
    if (!path) {
        *err = rc;
        return NULL;
    }
    FILE *f = fopen (path, "rb");
    if (!f) {
        *err = errno == ENOENT || errno == ENOTDIR ? MDL_ENOENT : MDL_EIO;
        return NULL;
    }
    uint8_t *b = NULL;
    mdl_ckpt_image_t *img = NULL;
    /* The first 16 bytes say what the file is (and a wrong file is refused before it is
       read); only then is the whole file read, at its real size. */
    uint8_t first[16];
    size_t n = fread (first, 1, sizeof first, f);
    if (n < sizeof first && ferror (f)) {
        rc = MDL_EIO;
        goto out;
    }
    if ((rc = s_check_magic (first, n)))
        goto out;
    rc = MDL_ECKPT_CORRUPT;
    if (n < 12)
        goto out;
    uint32_t version = s_get_u32 (first + 8);
    if (version != 1 && version != MDL_CKPT_VERSION) {
        rc = MDL_ECKPT_VERSION;
        goto out;
    }
    struct stat st;
    if (fstat (fileno (f), &st) != 0 || st.st_size < 0) {
        rc = MDL_EIO;
        goto out;
    }
    if ((uint64_t) st.st_size > SIZE_MAX) {
        rc = MDL_ENOMEM;
        goto out;
    }
    const size_t len = (size_t) st.st_size;
    rc = MDL_ENOMEM;
    if (!(b = malloc (len ? len : 1)))
        goto out;
    memcpy (b, first, n);
    if ((rc = s_read (f, b + n, len - n)))
        goto out;
    if (fgetc (f) != EOF) { /* it grew while we read it */
        rc = MDL_ECKPT_CORRUPT;
        goto out;
    }
    bool taken;
    img = s_parse (b, len, &taken, &rc);
    if (taken)
        b = NULL;
out:
    fclose (f);
    free (b);
    *err = img ? 0 : rc;
    return img;
}

/* ---- saving ---- */

/* Makes the rename of path durable by syncing its directory; buf has room for path.
   A file system that cannot fsync a directory (EINVAL) offers no stronger guarantee
   to ask for, so that is not an error. Returns 0 or MDL_EIO. */
static int
s_sync_dir (const char *path, char *buf)
{
    const char *slash = strrchr (path, '/');
    if (!slash)
        strcpy (buf, ".");
    else {
        size_t n = slash == path ? 1 : (size_t) (slash - path); /* "/x" -> "/" */
        memcpy (buf, path, n);
        buf[n] = '\0';
    }
    int fd = open (buf, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return MDL_EIO;
    int rc = fsync (fd) != 0 && errno != EINVAL ? MDL_EIO : MDL_OK;
    close (fd);
    return rc;
}

int
mdl_ckpt_image_save (mdl_ckpt_image_t *img, const char *path)
{
    if (!path || !*path)
        return MDL_EINVAL;
    if (s_seal (img))
        return MDL_ENOMEM;
    /* The temporary file sits next to path so that rename() stays within one file
       system and is atomic. mkstemp makes it 0600: checkpoints are private data. */
    size_t plen = strlen (path);
    char *tmp = malloc (plen + sizeof ".tmp.XXXXXX");
    if (!tmp)
        return MDL_ENOMEM;
    memcpy (tmp, path, plen);
    memcpy (tmp + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int rc = MDL_EIO;
    FILE *f = NULL;
    bool created = false;
    int fd = mkstemp (tmp);
    if (fd < 0)
        goto err;
    created = true;
    f = fdopen (fd, "wb");
    if (!f) {
        close (fd);
        goto err;
    }
    if (fwrite (img->head, 1, img->head_len, f) != img->head_len
        || (img->body_len && fwrite (img->body, 1, img->body_len, f) != img->body_len) || fflush (f) != 0
        || fsync (fileno (f)) != 0)
        goto err;
    int cl = fclose (f);
    f = NULL;
    if (cl != 0 || rename (tmp, path) != 0)
        goto err;
    /* From here the new file is in place; only its durability can still fail. */
    rc = s_sync_dir (path, tmp);
    free (tmp);
    return rc;
err:
    if (f)
        fclose (f);
    if (created)
        unlink (tmp);
    free (tmp);
    return rc;
}

int
mdl_ckpt_clean_temps (const char *path)
{
    if (!path || !*path)
        return 0;
    const char *slash = strrchr (path, '/');
    const char *base = slash ? slash + 1 : path;
    char dir[4096];
    if (!slash)
        snprintf (dir, sizeof dir, ".");
    else if ((size_t) (slash - path) >= sizeof dir)
        return 0;
    else {
        memcpy (dir, path, slash == path ? 1 : (size_t) (slash - path));
        dir[slash == path ? 1 : (size_t) (slash - path)] = '\0';
    }
    DIR *d = opendir (dir);
    if (!d)
        return 0;
    const size_t bl = strlen (base);
    int n = 0;
    for (struct dirent *e; (e = readdir (d));) {
        const char *nm = e->d_name;
        if (strncmp (nm, base, bl) != 0 || strncmp (nm + bl, ".tmp.", 5) != 0 || strlen (nm + bl + 5) != 6)
            continue;
        char full[8192];
        snprintf (full, sizeof full, "%s/%s", dir, nm);
        n += unlink (full) == 0;
    }
    closedir (d);
    return n;
}

/* ---- parameters and optimizer state ---- */

int
mdl_ckpt_save (const char *path, const mdl_ckpt_t *ck)
{
    assert (ck);
    if (!path || !*path || !ck->spec || (ck->d && !ck->params) || (ck->opt_len && !ck->opt_state))
        return MDL_EINVAL;
    int rc;
    mdl_ckpt_image_t *img = mdl_ckpt_image_new (ck->spec, "", ck->step, ck->epoch, &rc);
    if (!img)
        return rc;
    if (!(rc = mdl_ckpt_image_add (img, "params", MDL_CKPT_F32, ck->params, ck->d))
        && !(rc = mdl_ckpt_image_add (img, "optim", MDL_CKPT_F32, ck->opt_state, ck->opt_len)))
        rc = mdl_ckpt_image_save (img, path);
    mdl_ckpt_image_destroy (&img);
    return rc;
}

int
mdl_ckpt_load (const char *path, const char *spec, float *params, size_t d, float *opt_state, size_t opt_len,
               uint64_t *step, uint64_t *epoch)
{
    assert (spec);
    assert (d == 0 || params);
    assert (opt_len == 0 || opt_state);
    assert (path);
    int rc;
    mdl_ckpt_image_t *img = mdl_ckpt_image_load (path, &rc);
    if (!img)
        return rc;
    uint64_t nd = 0, no = 0;
    mdl_ckpt_kind_t kd = MDL_CKPT_F32, ko = MDL_CKPT_F32;
    rc = MDL_ECKPT_MODEL;
    if (strcmp (mdl_ckpt_image_spec (img), spec) == 0 && mdl_ckpt_image_has (img, "params", &kd, &nd)
        && kd == MDL_CKPT_F32 && nd == d && (mdl_ckpt_image_has (img, "optim", &ko, &no) || opt_len == 0)
        && ko == MDL_CKPT_F32 && no == opt_len) {
        mdl_ckpt_image_get (img, "params", MDL_CKPT_F32, params, d);
        if (opt_len)
            mdl_ckpt_image_get (img, "optim", MDL_CKPT_F32, opt_state, opt_len);
        if (step)
            *step = mdl_ckpt_image_step (img);
        if (epoch)
            *epoch = mdl_ckpt_image_epoch (img);
        rc = 0;
    }
    mdl_ckpt_image_destroy (&img);
    return rc;
}
