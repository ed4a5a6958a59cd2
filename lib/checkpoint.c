/*  checkpoint.c: atomic, checksummed checkpoints of a parameter vector and optimizer
    state (layout in checkpoint.h).

    Every field is packed byte by byte in little-endian order, never as a struct dump,
    so a file is the same on every host and has no padding. The float vectors stream
    through a fixed stack buffer; the only allocation is the temporary file's name, and
    nothing read from a file ever sizes a buffer or a read. */
#include "checkpoint.h"

#include "err.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

_Static_assert (sizeof (float) == 4, "checkpoints store floats as 32-bit words");

static const char s_magic[8] = { 'M', 'D', 'L', 'C', 'K', 'P', 'T', '1' };

/* magic, version, spec length | spec | d, opt_len, step, epoch, header crc */
#define S_HEAD_PRE (8 + 4 + 4)
#define S_HEAD_POST (8 + 8 + 8 + 8 + 4)
#define S_CHUNK 4096 /* floats converted per pass */

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

static uint32_t
s_f2u (float f)
{
    uint32_t u;
    memcpy (&u, &f, sizeof u);
    return u;
}

static float
s_u2f (uint32_t u)
{
    float f;
    memcpy (&f, &u, sizeof f);
    return f;
}

/* Writes n floats little-endian and folds their bytes into *crc. Returns 0 or
   MDL_EIO. */
static int
s_write_floats (FILE *f, const float *x, size_t n, uLong *crc)
{
    uint8_t buf[S_CHUNK * 4];
    while (n) {
        size_t k = n < S_CHUNK ? n : S_CHUNK;
        for (size_t i = 0; i < k; i++)
            s_put_u32 (buf + 4 * i, s_f2u (x[i]));
        *crc = crc32 (*crc, buf, (uInt) (4 * k));
        if (fwrite (buf, 4, k, f) != k)
            return MDL_EIO;
        x += k;
        n -= k;
    }
    return MDL_OK;
}

/* Reads exactly len bytes. Returns 0, MDL_EIO on a read error, or MDL_ECKPT_CORRUPT
   when the file ends first. */
static int
s_read (FILE *f, void *buf, size_t len)
{
    if (len && fread (buf, 1, len, f) != len)
        return ferror (f) ? MDL_EIO : MDL_ECKPT_CORRUPT;
    return MDL_OK;
}

static int
s_read_floats (FILE *f, float *x, size_t n, uLong *crc)
{
    uint8_t buf[S_CHUNK * 4];
    while (n) {
        size_t k = n < S_CHUNK ? n : S_CHUNK;
        int rc = s_read (f, buf, 4 * k);
        if (rc)
            return rc;
        *crc = crc32 (*crc, buf, (uInt) (4 * k));
        for (size_t i = 0; i < k; i++)
            x[i] = s_u2f (s_get_u32 (buf + 4 * i));
        x += k;
        n -= k;
    }
    return MDL_OK;
}

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
mdl_ckpt_save (const char *path, const mdl_ckpt_t *ck)
{
    assert (ck);
    if (!path || !*path || !ck->spec || (ck->d && !ck->params)
        || (ck->opt_len && !ck->opt_state))
        return MDL_EINVAL;
    size_t spec_len = strlen (ck->spec);
    if (spec_len > MDL_CKPT_MAX_SPEC)
        return MDL_EINVAL;

    uint8_t head[S_HEAD_PRE + MDL_CKPT_MAX_SPEC + S_HEAD_POST];
    uint8_t *p = head;
    memcpy (p, s_magic, 8);
    s_put_u32 (p + 8, MDL_CKPT_VERSION);
    s_put_u32 (p + 12, (uint32_t) spec_len);
    p += S_HEAD_PRE;
    memcpy (p, ck->spec, spec_len);
    p += spec_len;
    s_put_u64 (p, ck->d);
    s_put_u64 (p + 8, ck->opt_len);
    s_put_u64 (p + 16, ck->step);
    s_put_u64 (p + 24, ck->epoch);
    p += 32;
    s_put_u32 (p, (uint32_t) crc32 (crc32 (0L, Z_NULL, 0), head, (uInt) (p - head)));
    p += 4;

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
    if (fwrite (head, 1, (size_t) (p - head), f) != (size_t) (p - head))
        goto err;
    uLong crc = crc32 (0L, Z_NULL, 0);
    if (s_write_floats (f, ck->params, ck->d, &crc)
        || s_write_floats (f, ck->opt_state, ck->opt_len, &crc))
        goto err;
    uint8_t tail[4];
    s_put_u32 (tail, (uint32_t) crc);
    if (fwrite (tail, 1, 4, f) != 4 || fflush (f) != 0 || fsync (fileno (f)) != 0)
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

/* A file shorter than the magic is a truncated checkpoint if what it has is a prefix
   of the magic, else it is not a checkpoint at all. */
static int
s_check_magic (FILE *f)
{
    uint8_t m[8];
    size_t n = fread (m, 1, sizeof m, f);
    if (n < sizeof m && ferror (f))
        return MDL_EIO;
    if (memcmp (m, s_magic, n) != 0)
        return MDL_ECKPT_MAGIC;
    return n == sizeof m ? MDL_OK : MDL_ECKPT_CORRUPT;
}

/* The order of the checks makes each error code mean one thing: the version is read
   before anything whose layout it defines; the header crc is verified before d and
   the spec are trusted, so a flipped bit reads as corrupt, not as another model; the
   file length is checked against the header before the payload is read. */
static int
s_load (FILE *f, const char *spec, float *params, size_t d, float *opt_state,
        size_t opt_len, uint64_t *step, uint64_t *epoch)
{
    int rc = s_check_magic (f);
    if (rc)
        return rc;
    uint8_t head[S_HEAD_PRE + MDL_CKPT_MAX_SPEC + S_HEAD_POST];
    memcpy (head, s_magic, 8);
    if ((rc = s_read (f, head + 8, 8)))
        return rc;
    if (s_get_u32 (head + 8) != MDL_CKPT_VERSION)
        return MDL_ECKPT_VERSION;
    uint32_t spec_len = s_get_u32 (head + 12);
    /* We never write a longer spec, so a longer one is damage, and it must not size a
       read. */
    if (spec_len > MDL_CKPT_MAX_SPEC)
        return MDL_ECKPT_CORRUPT;
    uint8_t *p = head + S_HEAD_PRE;
    if ((rc = s_read (f, p, spec_len + S_HEAD_POST)))
        return rc;
    p += spec_len;
    uint64_t fd_ = s_get_u64 (p), fopt = s_get_u64 (p + 8);
    uint64_t fstep = s_get_u64 (p + 16), fepoch = s_get_u64 (p + 24);
    uint32_t hcrc = s_get_u32 (p + 32);
    if (hcrc != (uint32_t) crc32 (crc32 (0L, Z_NULL, 0), head, (uInt) (p + 32 - head)))
        return MDL_ECKPT_CORRUPT;
    if (spec_len != strlen (spec) || memcmp (head + S_HEAD_PRE, spec, spec_len) != 0
        || fd_ != (uint64_t) d || fopt != (uint64_t) opt_len)
        return MDL_ECKPT_MODEL;

    struct stat st;
    if (fstat (fileno (f), &st) != 0)
        return MDL_EIO;
    uint64_t n = (uint64_t) d + opt_len;
    uint64_t head_len = S_HEAD_PRE + spec_len + S_HEAD_POST;
    /* A length that overflows cannot be the file's, whatever the caller's buffers. */
    if (n < d || n > (UINT64_MAX - head_len - 4) / 4)
        return MDL_ECKPT_CORRUPT;
    if (st.st_size < 0 || (uint64_t) st.st_size != head_len + 4 * n + 4)
        return MDL_ECKPT_CORRUPT;

    uLong crc = crc32 (0L, Z_NULL, 0);
    if ((rc = s_read_floats (f, params, d, &crc))
        || (rc = s_read_floats (f, opt_state, opt_len, &crc)))
        return rc;
    uint8_t tail[4];
    if ((rc = s_read (f, tail, 4)))
        return rc;
    if (s_get_u32 (tail) != (uint32_t) crc)
        return MDL_ECKPT_CORRUPT;
    if (step)
        *step = fstep;
    if (epoch)
        *epoch = fepoch;
    return MDL_OK;
}

int
mdl_ckpt_load (const char *path, const char *spec, float *params, size_t d,
               float *opt_state, size_t opt_len, uint64_t *step, uint64_t *epoch)
{
    assert (spec);
    assert (d == 0 || params);
    assert (opt_len == 0 || opt_state);
    assert (path);
    FILE *f = fopen (path, "rb");
    if (!f)
        return errno == ENOENT || errno == ENOTDIR ? MDL_ENOENT : MDL_EIO;
    int rc = s_load (f, spec, params, d, opt_state, opt_len, step, epoch);
    fclose (f);
    return rc;
}
