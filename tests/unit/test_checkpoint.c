/*  test_checkpoint.c: round trip, byte layout, every kind of damaged file (every
    truncation, every flipped bit), images of named sections, version 1 files, and a
    writer killed at random instants. */
#include "testutil.h"

#include "checkpoint.h"
#include "err.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define SPEC "mlp:784-256-10"
#define D 5
#define OPT 4

typedef struct {
    char dir[256];
    char path[320];
} fix_t;

/* Values whose bits must survive exactly: signed zero, a subnormal, infinities, a NaN
   with a payload. */
static float s_params[D];
static float s_opt[OPT];

static int
s_setup (void **state)
{
    fix_t *fx = calloc (1, sizeof *fx);
    if (!fx)
        return -1;
    mdl_test_tmpdir (fx->dir, sizeof fx->dir);
    snprintf (fx->path, sizeof fx->path, "%s/ck.bin", fx->dir);
    uint32_t nan_bits = 0x7fc12345u;
    float nanp;
    memcpy (&nanp, &nan_bits, sizeof nanp);
    const float p[D] = { 1.0f, -0.0f, 1e-40f, INFINITY, nanp };
    const float o[OPT] = { -2.5f, 3.25e10f, -INFINITY, 0.125f };
    memcpy (s_params, p, sizeof p);
    memcpy (s_opt, o, sizeof o);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fix_t *fx = *state;
    mdl_test_rmtree (fx->dir);
    free (fx);
    return 0;
}

static mdl_ckpt_t
s_ck (void)
{
    return (mdl_ckpt_t){ .spec = SPEC, .params = s_params, .d = D, .opt_state = s_opt,
                         .opt_len = OPT, .step = 123456789012ULL, .epoch = 7 };
}

static int
s_load (const char *path)
{
    float p[D], o[OPT];
    uint64_t step = 0, epoch = 0;
    return mdl_ckpt_load (path, SPEC, p, D, o, OPT, &step, &epoch);
}

/* Reads a whole file; caller frees. */
static uint8_t *
s_slurp (const char *path, size_t *len)
{
    FILE *f = fopen (path, "rb");
    assert_non_null (f);
    assert_int_equal (fseek (f, 0, SEEK_END), 0);
    long n = ftell (f);
    assert_true (n >= 0);
    rewind (f);
    uint8_t *buf = malloc ((size_t) n + 1);
    assert_non_null (buf);
    assert_int_equal (fread (buf, 1, (size_t) n, f), (size_t) n);
    fclose (f);
    *len = (size_t) n;
    return buf;
}

/* Entries of dir other than . and .., and the name of the last one seen. */
static int
s_entries (const char *dir, char *name, size_t len)
{
    DIR *dp = opendir (dir);
    assert_non_null (dp);
    int n = 0;
    struct dirent *e;
    while ((e = readdir (dp))) {
        if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
            continue;
        n++;
        if (name)
            snprintf (name, len, "%s", e->d_name);
    }
    closedir (dp);
    return n;
}

static uint32_t
s_le32 (const uint8_t *p)
{
    return p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint64_t
s_le64 (const uint8_t *p)
{
    return s_le32 (p) | (uint64_t) s_le32 (p + 4) << 32;
}

static void
test_round_trip_restores_params_state_step_and_epoch_bit_exactly (void **state)
{
    fix_t *fx = *state;
    mdl_ckpt_t ck = s_ck ();
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_OK);
    float p[D], o[OPT];
    uint64_t step = 0, epoch = 0;
    assert_int_equal (mdl_ckpt_load (fx->path, SPEC, p, D, o, OPT, &step, &epoch), MDL_OK);
    assert_memory_equal (p, s_params, sizeof p);
    assert_memory_equal (o, s_opt, sizeof o);
    assert_int_equal (step, 123456789012ULL);
    assert_int_equal (epoch, 7);
}

static void
test_round_trip_without_optimizer_state (void **state)
{
    fix_t *fx = *state;
    mdl_ckpt_t ck = s_ck ();
    ck.opt_state = NULL;
    ck.opt_len = 0;
    ck.spec = "";
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_OK);
    float p[D];
    assert_int_equal (mdl_ckpt_load (fx->path, "", p, D, NULL, 0, NULL, NULL), MDL_OK);
    assert_memory_equal (p, s_params, sizeof p);
}

/* The head of the file of s_ck (): magic, version, head length, then the head. */
static size_t
s_head_len (void)
{
    return 4 + strlen (SPEC) + 4 + 0 + 8 + 8 + 4 + (2 + 6 + 8) + (2 + 5 + 8);
}

static void
test_file_layout_is_the_documented_little_endian_packing (void **state)
{
    fix_t *fx = *state;
    mdl_ckpt_t ck = s_ck ();
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_OK);
    size_t len;
    uint8_t *b = s_slurp (fx->path, &len);
    const size_t L = strlen (SPEC), H = s_head_len (), body = 16 + H + 4;
    assert_int_equal (len, body + 4 * D + 4 + 4 * OPT + 4);
    assert_memory_equal (b, "MDLCKPT1", 8);
    assert_int_equal (s_le32 (b + 8), MDL_CKPT_VERSION);
    assert_int_equal (s_le32 (b + 12), H);
    assert_int_equal (s_le32 (b + 16), L);
    assert_memory_equal (b + 20, SPEC, L);
    const uint8_t *p = b + 20 + L;
    assert_int_equal (s_le32 (p), 0); /* no algorithm */
    assert_int_equal (s_le64 (p + 4), 123456789012ULL);
    assert_int_equal (s_le64 (p + 12), 7);
    assert_int_equal (s_le32 (p + 20), 2);
    p += 24;
    assert_int_equal (p[0], MDL_CKPT_F32);
    assert_int_equal (p[1], 6);
    assert_memory_equal (p + 2, "params", 6);
    assert_int_equal (s_le64 (p + 8), D);
    p += 16;
    assert_int_equal (p[0], MDL_CKPT_F32);
    assert_int_equal (p[1], 5);
    assert_memory_equal (p + 2, "optim", 5);
    assert_int_equal (s_le64 (p + 7), OPT);
    assert_int_equal (s_le32 (b + 16 + H), crc32 (0, b, (uInt) (16 + H)));
    /* 1.0f is 0x3f800000: bytes 00 00 80 3f. */
    const uint8_t one[4] = { 0x00, 0x00, 0x80, 0x3f };
    assert_memory_equal (b + body, one, 4);
    assert_int_equal (s_le32 (b + body + 4 * D), crc32 (0, b + body, 4 * D));
    assert_int_equal (s_le32 (b + len - 4), crc32 (0, b + body + 4 * D + 4, 4 * OPT));
    free (b);
}

static void
test_corrupt_header_byte_is_reported_as_corrupt (void **state)
{
    fix_t *fx = *state;
    mdl_ckpt_t ck = s_ck ();
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_OK);
    size_t len;
    uint8_t *b = s_slurp (fx->path, &len);
    b[20 + strlen (SPEC) + 4] ^= 0x01; /* lowest byte of step */
    mdl_test_write_file (fx->path, b, len);
    assert_int_equal (s_load (fx->path), MDL_ECKPT_CORRUPT);
    free (b);
}

static void
test_corrupt_payload_byte_is_reported_as_corrupt (void **state)
{
    fix_t *fx = *state;
    mdl_ckpt_t ck = s_ck ();
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_OK);
    size_t len;
    uint8_t *b = s_slurp (fx->path, &len);
    b[len - 10] ^= 0x40; /* inside the optimizer state */
    mdl_test_write_file (fx->path, b, len);
    assert_int_equal (s_load (fx->path), MDL_ECKPT_CORRUPT);
    free (b);
}

static void
test_every_flipped_byte_is_caught_with_the_code_for_its_field (void **state)
{
    fix_t *fx = *state;
    mdl_ckpt_t ck = s_ck ();
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_OK);
    size_t len;
    uint8_t *b = s_slurp (fx->path, &len);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (uint8_t) (1u << bit);
            mdl_test_write_file (fx->path, b, len);
            int want = i < 8 ? MDL_ECKPT_MAGIC : i < 12 ? MDL_ECKPT_VERSION : MDL_ECKPT_CORRUPT;
            int rc = s_load (fx->path);
            if (rc != want)
                fail_msg ("byte %zu bit %d: got %s, want %s", i, bit, mdl_errname (rc),
                          mdl_errname (want));
            b[i] ^= (uint8_t) (1u << bit);
        }
    }
    free (b);
}

static void
test_truncation_at_any_length_is_reported_as_corrupt (void **state)
{
    fix_t *fx = *state;
    mdl_ckpt_t ck = s_ck ();
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_OK);
    size_t len;
    uint8_t *b = s_slurp (fx->path, &len);
    for (size_t n = 0; n < len; n++) {
        mdl_test_write_file (fx->path, b, n);
        int rc = s_load (fx->path);
        if (rc != MDL_ECKPT_CORRUPT)
            fail_msg ("truncated to %zu bytes: got %s", n, mdl_errname (rc));
    }
    free (b);
}

static void
test_trailing_garbage_is_reported_as_corrupt (void **state)
{
    fix_t *fx = *state;
    mdl_ckpt_t ck = s_ck ();
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_OK);
    size_t len;
    uint8_t *b = s_slurp (fx->path, &len);
    b = realloc (b, len + 1);
    assert_non_null (b);
    b[len] = 0;
    mdl_test_write_file (fx->path, b, len + 1);
    assert_int_equal (s_load (fx->path), MDL_ECKPT_CORRUPT);
    free (b);
}

static void
test_other_file_is_reported_as_wrong_magic (void **state)
{
    fix_t *fx = *state;
    mdl_ckpt_t ck = s_ck ();
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_OK);
    size_t len;
    uint8_t *b = s_slurp (fx->path, &len);
    memcpy (b, "NOTACKPT", 8);
    mdl_test_write_file (fx->path, b, len);
    assert_int_equal (s_load (fx->path), MDL_ECKPT_MAGIC);
    mdl_test_write_file (fx->path, "hi\n", 3); /* shorter than the magic */
    assert_int_equal (s_load (fx->path), MDL_ECKPT_MAGIC);
    free (b);
}

static void
test_other_format_version_is_reported_as_wrong_version (void **state)
{
    fix_t *fx = *state;
    mdl_ckpt_t ck = s_ck ();
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_OK);
    size_t len;
    uint8_t *b = s_slurp (fx->path, &len);
    /* Version 3 with a valid head crc, as a future writer would make it. */
    b[8] = 3;
    size_t hc = 16 + s_head_len ();
    uint32_t crc = (uint32_t) crc32 (0, b, (uInt) hc);
    for (int i = 0; i < 4; i++)
        b[hc + i] = (uint8_t) (crc >> (8 * i));
    mdl_test_write_file (fx->path, b, len);
    assert_int_equal (s_load (fx->path), MDL_ECKPT_VERSION);
    free (b);
}

static void
test_other_spec_d_or_state_length_is_reported_as_another_model (void **state)
{
    fix_t *fx = *state;
    mdl_ckpt_t ck = s_ck ();
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_OK);
    float p[D + 1], o[OPT + 1];
    uint64_t step = 42, epoch = 43;
    assert_int_equal (mdl_ckpt_load (fx->path, "mlp:784-256-11", p, D, o, OPT, &step, &epoch),
                      MDL_ECKPT_MODEL);
    assert_int_equal (mdl_ckpt_load (fx->path, "mlp:784-256-1", p, D, o, OPT, &step, &epoch),
                      MDL_ECKPT_MODEL);
    assert_int_equal (mdl_ckpt_load (fx->path, SPEC "0", p, D, o, OPT, &step, &epoch),
                      MDL_ECKPT_MODEL);
    assert_int_equal (mdl_ckpt_load (fx->path, SPEC, p, D + 1, o, OPT, &step, &epoch),
                      MDL_ECKPT_MODEL);
    assert_int_equal (mdl_ckpt_load (fx->path, SPEC, p, D - 1, o, OPT, &step, &epoch),
                      MDL_ECKPT_MODEL);
    assert_int_equal (mdl_ckpt_load (fx->path, SPEC, p, D, o, OPT + 1, &step, &epoch),
                      MDL_ECKPT_MODEL);
    assert_int_equal (mdl_ckpt_load (fx->path, SPEC, p, D, NULL, 0, &step, &epoch),
                      MDL_ECKPT_MODEL);
    /* step and epoch are set only on success */
    assert_int_equal (step, 42);
    assert_int_equal (epoch, 43);
}

static void
test_missing_file_is_reported_as_not_found (void **state)
{
    fix_t *fx = *state;
    char path[400];
    assert_int_equal (s_load (fx->path), MDL_ENOENT);
    snprintf (path, sizeof path, "%s/nodir/ck.bin", fx->dir);
    assert_int_equal (s_load (path), MDL_ENOENT);
}

static void
test_save_into_missing_directory_fails_and_creates_nothing (void **state)
{
    fix_t *fx = *state;
    char path[400];
    snprintf (path, sizeof path, "%s/nodir/ck.bin", fx->dir);
    mdl_ckpt_t ck = s_ck ();
    assert_int_equal (mdl_ckpt_save (path, &ck), MDL_EIO);
    assert_int_equal (s_entries (fx->dir, NULL, 0), 0);
}

static void
test_overwrite_replaces_the_file_and_leaves_no_temporary (void **state)
{
    fix_t *fx = *state;
    mdl_ckpt_t ck = s_ck ();
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_OK);
    float p2[D] = { 9, 8, 7, 6, 5 };
    ck.params = p2;
    ck.step = 2;
    ck.epoch = 1;
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_OK);
    char name[256] = "";
    assert_int_equal (s_entries (fx->dir, name, sizeof name), 1);
    assert_string_equal (name, "ck.bin");
    float p[D], o[OPT];
    uint64_t step, epoch;
    assert_int_equal (mdl_ckpt_load (fx->path, SPEC, p, D, o, OPT, &step, &epoch), MDL_OK);
    assert_memory_equal (p, p2, sizeof p);
    assert_int_equal (step, 2);
    assert_int_equal (epoch, 1);
}

static void
test_failed_write_keeps_the_old_checkpoint_and_removes_the_temporary (void **state)
{
    fix_t *fx = *state;
    mdl_ckpt_t ck = s_ck ();
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_OK);
    size_t len0;
    uint8_t *before = s_slurp (fx->path, &len0);

    /* A file-size limit makes the write of a 400 KB checkpoint fail with EFBIG, as a
       full disk would: once part-way, once on its very last byte. */
    size_t big = 100000;
    float *x = calloc (big, sizeof *x);
    assert_non_null (x);
    mdl_ckpt_t ck2 = { .spec = SPEC, .params = x, .d = big };
    const rlim_t limits[] = { 65536, 16 + 4 + strlen (SPEC) + 4 + 20 + 16 + 15 + 4 + 4 * big + 4 + 4 - 1 };
    for (int i = 0; i < 2; i++) {
        struct rlimit old, lim;
        assert_int_equal (getrlimit (RLIMIT_FSIZE, &old), 0);
        lim = old;
        lim.rlim_cur = limits[i];
        void (*prev) (int) = signal (SIGXFSZ, SIG_IGN);
        assert_int_equal (setrlimit (RLIMIT_FSIZE, &lim), 0);
        int rc = mdl_ckpt_save (fx->path, &ck2);
        assert_int_equal (setrlimit (RLIMIT_FSIZE, &old), 0);
        signal (SIGXFSZ, prev);
        assert_int_equal (rc, MDL_EIO);

        char name[256] = "";
        assert_int_equal (s_entries (fx->dir, name, sizeof name), 1);
        assert_string_equal (name, "ck.bin");
        size_t len1;
        uint8_t *after = s_slurp (fx->path, &len1);
        assert_int_equal (len1, len0);
        assert_memory_equal (after, before, len0);
        free (after);
        assert_int_equal (s_load (fx->path), MDL_OK);
    }
    /* Without the limit the same save succeeds: the limit was the only obstacle. */
    assert_int_equal (mdl_ckpt_save (fx->path, &ck2), MDL_OK);
    free (x);
    free (before);
}

static void
test_failed_rename_removes_the_temporary (void **state)
{
    /* The target is a non-empty directory: rename() must fail. */
    fix_t *fx = *state;
    char sub[400];
    snprintf (sub, sizeof sub, "%s/ck.bin/x", fx->dir);
    assert_int_equal (mkdir (fx->path, 0700), 0);
    mdl_test_write_file (sub, "x", 1);
    mdl_ckpt_t ck = s_ck ();
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_EIO);
    char name[256] = "";
    assert_int_equal (s_entries (fx->dir, name, sizeof name), 1);
    assert_string_equal (name, "ck.bin");
    assert_int_equal (s_entries (fx->path, NULL, 0), 1);
}

static void
test_save_rejects_bad_arguments_without_touching_the_file (void **state)
{
    fix_t *fx = *state;
    mdl_ckpt_t ck = s_ck ();
    ck.spec = NULL;
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_EINVAL);
    ck = s_ck ();
    ck.params = NULL;
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_EINVAL);
    ck = s_ck ();
    ck.opt_state = NULL;
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_EINVAL);
    ck = s_ck ();
    assert_int_equal (mdl_ckpt_save ("", &ck), MDL_EINVAL);
    assert_int_equal (mdl_ckpt_save (NULL, &ck), MDL_EINVAL);

    char *spec = malloc (MDL_CKPT_MAX_SPEC + 2);
    assert_non_null (spec);
    memset (spec, 'a', MDL_CKPT_MAX_SPEC + 1);
    spec[MDL_CKPT_MAX_SPEC + 1] = '\0';
    ck.spec = spec;
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_EINVAL);
    assert_int_equal (s_entries (fx->dir, NULL, 0), 0);

    /* The longest spec allowed round-trips. */
    spec[MDL_CKPT_MAX_SPEC] = '\0';
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_OK);
    float p[D], o[OPT];
    assert_int_equal (mdl_ckpt_load (fx->path, spec, p, D, o, OPT, NULL, NULL), MDL_OK);
    free (spec);
}

static void
test_huge_spec_length_in_file_is_corrupt_not_a_huge_read (void **state)
{
    fix_t *fx = *state;
    mdl_ckpt_t ck = s_ck ();
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_OK);
    size_t len;
    uint8_t *b = s_slurp (fx->path, &len);
    memset (b + 12, 0xff, 4); /* head length */
    mdl_test_write_file (fx->path, b, len);
    assert_int_equal (s_load (fx->path), MDL_ECKPT_CORRUPT);
    free (b);
    b = s_slurp (fx->path, &len);
    memset (b + 12, 0x00, 4);
    memcpy (b + 12, (uint8_t[]) { (uint8_t) s_head_len (), 0, 0, 0 }, 4);
    memset (b + 16, 0xff, 4); /* spec length, with a head crc that matches */
    uint32_t crc = (uint32_t) crc32 (0, b, (uInt) (16 + s_head_len ()));
    for (int i = 0; i < 4; i++)
        b[16 + s_head_len () + i] = (uint8_t) (crc >> (8 * i));
    mdl_test_write_file (fx->path, b, len);
    assert_int_equal (s_load (fx->path), MDL_ECKPT_CORRUPT);
    free (b);
}

/* A section count of 2^60 floats with a head crc that matches: the size check refuses it
   before anything is allocated or read for it. */
static void
test_huge_section_count_with_a_valid_crc_is_corrupt_not_a_huge_read (void **state)
{
    fix_t *fx = *state;
    mdl_ckpt_t ck = s_ck ();
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_OK);
    size_t len;
    uint8_t *b = s_slurp (fx->path, &len);
    const size_t H = s_head_len (), at = 20 + strlen (SPEC) + 24 + 8; /* count of "params" */
    b[at + 7] = 0x10;
    uint32_t crc = (uint32_t) crc32 (0, b, (uInt) (16 + H));
    for (int i = 0; i < 4; i++)
        b[16 + H + i] = (uint8_t) (crc >> (8 * i));
    mdl_test_write_file (fx->path, b, len);
    assert_int_equal (s_load (fx->path), MDL_ECKPT_CORRUPT);
    free (b);
}

/* ---- images: named sections, in memory ---- */

static mdl_ckpt_image_t *
s_image (uint64_t step)
{
    int rc;
    mdl_ckpt_image_t *img = mdl_ckpt_image_new (SPEC, "qgm", step, 3, &rc);
    assert_non_null (img);
    assert_int_equal (mdl_ckpt_image_add (img, "params", MDL_CKPT_F32, s_params, D), 0);
    assert_int_equal (mdl_ckpt_image_add (img, "optim", MDL_CKPT_F32, s_opt, OPT), 0);
    assert_int_equal (mdl_ckpt_image_add (img, "algo.m", MDL_CKPT_F32, s_params, D), 0);
    const char rec[] = "position\0record";
    assert_int_equal (mdl_ckpt_image_add (img, "learner", MDL_CKPT_BYTES, rec, sizeof rec), 0);
    assert_int_equal (mdl_ckpt_image_add (img, "empty", MDL_CKPT_BYTES, NULL, 0), 0);
    return img;
}

static void
test_image_sections_round_trip_through_a_file (void **state)
{
    fix_t *fx = *state;
    mdl_ckpt_image_t *img = s_image (99);
    assert_int_equal (mdl_ckpt_image_save (img, fx->path), 0);
    mdl_ckpt_image_destroy (&img);
    assert_null (img);
    int rc;
    mdl_ckpt_image_t *in = mdl_ckpt_image_load (fx->path, &rc);
    assert_non_null (in);
    assert_string_equal (mdl_ckpt_image_spec (in), SPEC);
    assert_string_equal (mdl_ckpt_image_algo (in), "qgm");
    assert_int_equal (mdl_ckpt_image_step (in), 99);
    assert_int_equal (mdl_ckpt_image_epoch (in), 3);
    assert_int_equal (mdl_ckpt_image_version (in), MDL_CKPT_VERSION);
    float m[D];
    char rec[16];
    assert_int_equal (mdl_ckpt_image_get (in, "algo.m", MDL_CKPT_F32, m, D), 0);
    assert_memory_equal (m, s_params, sizeof m);
    assert_int_equal (mdl_ckpt_image_get (in, "learner", MDL_CKPT_BYTES, rec, sizeof rec), 0);
    assert_memory_equal (rec, "position\0record", sizeof rec);
    assert_int_equal (mdl_ckpt_image_get (in, "empty", MDL_CKPT_BYTES, NULL, 0), 0);
    /* what the reader asks for must be exactly what is there */
    assert_int_equal (mdl_ckpt_image_get (in, "algo.v", MDL_CKPT_F32, m, D), MDL_ECKPT_MODEL);
    assert_int_equal (mdl_ckpt_image_get (in, "algo.m", MDL_CKPT_F32, m, D - 1), MDL_ECKPT_MODEL);
    assert_int_equal (mdl_ckpt_image_get (in, "algo.m", MDL_CKPT_BYTES, m, 4 * D), MDL_ECKPT_MODEL);
    mdl_ckpt_kind_t kind;
    uint64_t count;
    assert_true (mdl_ckpt_image_has (in, "learner", &kind, &count));
    assert_int_equal (kind, MDL_CKPT_BYTES);
    assert_int_equal (count, sizeof rec);
    assert_false (mdl_ckpt_image_has (in, "nothing", NULL, NULL));
    mdl_ckpt_image_destroy (&in);
    mdl_ckpt_image_destroy (&in); /* safe twice */
}

static void
test_image_refuses_bad_names_duplicates_and_additions_after_sealing (void **state)
{
    int rc;
    assert_null (mdl_ckpt_image_new (SPEC, "a b", 0, 0, &rc));
    assert_int_equal (rc, MDL_EINVAL);
    assert_null (mdl_ckpt_image_new (NULL, "", 0, 0, &rc));
    mdl_ckpt_image_t *img = mdl_ckpt_image_new (SPEC, NULL, 0, 0, &rc);
    assert_non_null (img);
    float x = 1;
    assert_int_equal (mdl_ckpt_image_add (img, "", MDL_CKPT_F32, &x, 1), MDL_EINVAL);
    assert_int_equal (mdl_ckpt_image_add (img, "a/b", MDL_CKPT_F32, &x, 1), MDL_EINVAL);
    assert_int_equal (mdl_ckpt_image_add (img, "x", 7, &x, 1), MDL_EINVAL);
    assert_int_equal (mdl_ckpt_image_add (img, "x", MDL_CKPT_F32, NULL, 1), MDL_EINVAL);
    assert_int_equal (mdl_ckpt_image_add (img, "x", MDL_CKPT_F32, &x, 1), 0);
    assert_int_equal (mdl_ckpt_image_add (img, "x", MDL_CKPT_F32, &x, 1), MDL_EINVAL);
    assert_true (mdl_ckpt_image_size (img) > 0);
    assert_int_equal (mdl_ckpt_image_add (img, "y", MDL_CKPT_F32, &x, 1), MDL_EINVAL);
    uint8_t buf[8];
    assert_int_equal (mdl_ckpt_image_read (img, mdl_ckpt_image_size (img) - 4, buf, 8), MDL_ERANGE);
    mdl_ckpt_image_destroy (&img);
}

/* The bytes of an image are the file it saves as; a copy of them, as a peer would
   receive it, is adopted as the same image. */
static void
test_image_bytes_are_the_file_and_adopt_back (void **state)
{
    fix_t *fx = *state;
    mdl_ckpt_image_t *img = s_image (5);
    size_t n = (size_t) mdl_ckpt_image_size (img);
    uint8_t *bytes = malloc (n);
    assert_non_null (bytes);
    /* read in uneven pieces, as chunks of a transfer */
    for (size_t at = 0; at < n; at += 7)
        assert_int_equal (mdl_ckpt_image_read (img, at, bytes + at, n - at < 7 ? n - at : 7), 0);
    assert_int_equal (mdl_ckpt_image_save (img, fx->path), 0);
    size_t len;
    uint8_t *file = s_slurp (fx->path, &len);
    assert_int_equal (len, n);
    assert_memory_equal (file, bytes, n);
    free (file);
    int rc;
    void *p = bytes;
    mdl_ckpt_image_t *in = mdl_ckpt_image_adopt (&p, n, &rc);
    assert_non_null (in);
    assert_null (p);
    float m[D];
    assert_int_equal (mdl_ckpt_image_get (in, "params", MDL_CKPT_F32, m, D), 0);
    assert_memory_equal (m, s_params, sizeof m);
    mdl_ckpt_image_destroy (&in);
    mdl_ckpt_image_destroy (&img);
}

/* What a peer sends is refused in memory exactly as a damaged file is: every truncation
   and every single flipped bit. */
static void
test_adopt_refuses_every_truncation_and_every_flipped_bit (void **state)
{
    mdl_ckpt_image_t *img = s_image (5);
    size_t n = (size_t) mdl_ckpt_image_size (img);
    uint8_t *good = malloc (n);
    assert_non_null (good);
    assert_int_equal (mdl_ckpt_image_read (img, 0, good, n), 0);
    mdl_ckpt_image_destroy (&img);
    for (size_t k = 0; k < n; k++) {
        void *p = malloc (k ? k : 1);
        assert_non_null (p);
        memcpy (p, good, k);
        int rc = 0;
        mdl_ckpt_image_t *in = mdl_ckpt_image_adopt (&p, k, &rc);
        if (in || rc != MDL_ECKPT_CORRUPT)
            fail_msg ("truncated to %zu of %zu bytes: got %s", k, n, mdl_errname (rc));
        assert_non_null (p); /* the caller keeps what was refused */
        free (p);
    }
    for (size_t i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            uint8_t *p = malloc (n);
            assert_non_null (p);
            memcpy (p, good, n);
            p[i] ^= (uint8_t) (1u << bit);
            int rc = 0;
            void *pp = p;
            mdl_ckpt_image_t *in = mdl_ckpt_image_adopt (&pp, n, &rc);
            int want = i < 8 ? MDL_ECKPT_MAGIC : i < 12 ? MDL_ECKPT_VERSION : MDL_ECKPT_CORRUPT;
            if (in || rc != want)
                fail_msg ("byte %zu bit %d: got %s, want %s", i, bit, mdl_errname (rc), mdl_errname (want));
            free (pp);
        }
    free (good);
}

/* A version-1 file, as meshdl wrote before sections existed, still loads. */
static void
test_version_1_file_still_loads (void **state)
{
    fix_t *fx = *state;
    const size_t L = strlen (SPEC), h = 8 + 4 + 4 + L + 8 * 4 + 4, len = h + 4 * (D + OPT) + 4;
    uint8_t *b = calloc (1, len);
    assert_non_null (b);
    memcpy (b, "MDLCKPT1", 8);
    b[8] = 1;
    b[12] = (uint8_t) L;
    memcpy (b + 16, SPEC, L);
    b[16 + L] = D;
    b[24 + L] = OPT;
    b[32 + L] = 42;
    b[40 + L] = 2;
    uint32_t crc = (uint32_t) crc32 (0, b, (uInt) (48 + L));
    for (int i = 0; i < 4; i++)
        b[48 + L + i] = (uint8_t) (crc >> (8 * i));
    memcpy (b + h, s_params, 4 * D);
    memcpy (b + h + 4 * D, s_opt, 4 * OPT);
    crc = (uint32_t) crc32 (0, b + h, 4 * (D + OPT));
    for (int i = 0; i < 4; i++)
        b[len - 4 + i] = (uint8_t) (crc >> (8 * i));
    mdl_test_write_file (fx->path, b, len);
    float p[D], o[OPT];
    uint64_t step = 0, epoch = 0;
    assert_int_equal (mdl_ckpt_load (fx->path, SPEC, p, D, o, OPT, &step, &epoch), MDL_OK);
    assert_memory_equal (p, s_params, sizeof p);
    assert_memory_equal (o, s_opt, sizeof o);
    assert_int_equal (step, 42);
    assert_int_equal (epoch, 2);
    int rc;
    mdl_ckpt_image_t *img = mdl_ckpt_image_load (fx->path, &rc);
    assert_non_null (img);
    assert_int_equal (mdl_ckpt_image_version (img), 1);
    assert_string_equal (mdl_ckpt_image_algo (img), "");
    mdl_ckpt_image_destroy (&img);
    b[len - 1] ^= 1;
    mdl_test_write_file (fx->path, b, len);
    assert_int_equal (s_load (fx->path), MDL_ECKPT_CORRUPT);
    free (b);
}

/* Kill the writer at 100 random instants: the file on disk always loads, as the old
   checkpoint or the new one, never half of one. A child saves two alternating 1 MB
   images in a loop; the parent SIGKILLs it after a random delay and loads the file.
   What a killed save leaves is a temporary file, which mdl_ckpt_clean_temps removes. */
static void
test_killing_the_writer_at_random_instants_never_leaves_half_a_file (void **state)
{
    fix_t *fx = *state;
    enum { N = 1 << 18 };
    float *x = malloc (N * sizeof *x);
    assert_non_null (x);
    int rc;
    mdl_ckpt_image_t *img[2];
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < N; i++)
            x[i] = (float) (k + 1);
        img[k] = mdl_ckpt_image_new (SPEC, "dpsgd", (uint64_t) k + 1, 0, &rc);
        assert_non_null (img[k]);
        assert_int_equal (mdl_ckpt_image_add (img[k], "params", MDL_CKPT_F32, x, N), 0);
        (void) mdl_ckpt_image_size (img[k]);
    }
    assert_int_equal (mdl_ckpt_image_save (img[0], fx->path), 0);
    unsigned seed = 12345;
    int newer = 0;
    for (int trial = 0; trial < 100; trial++) {
        pid_t pid = fork ();
        assert_true (pid >= 0);
        if (pid == 0) {
            for (int k = 1;; k ^= 1)
                mdl_ckpt_image_save (img[k], fx->path);
        }
        struct timespec ts = { 0, (long) (rand_r (&seed) % 10000) * 1000 }; /* 0-10 ms */
        nanosleep (&ts, NULL);
        kill (pid, SIGKILL);
        int status;
        waitpid (pid, &status, 0);
        mdl_ckpt_image_t *in = mdl_ckpt_image_load (fx->path, &rc);
        if (!in)
            fail_msg ("trial %d: the checkpoint does not load: %s", trial, mdl_errname (rc));
        uint64_t step = mdl_ckpt_image_step (in);
        assert_true (step == 1 || step == 2);
        assert_int_equal (mdl_ckpt_image_get (in, "params", MDL_CKPT_F32, x, N), 0);
        assert_true (x[0] == (float) step && x[N - 1] == (float) step);
        newer += step == 2;
        mdl_ckpt_image_destroy (&in);
    }
    /* the kills landed both before and after renames */
    print_message ("# 100 kills: %d left image 2, %d image 1 (as alternately saved); %d temporaries removed\n", newer, 100 - newer,
                   mdl_ckpt_clean_temps (fx->path));
    char name[256];
    assert_int_equal (s_entries (fx->dir, name, sizeof name), 1);
    assert_string_equal (name, "ck.bin");
    for (int k = 0; k < 2; k++)
        mdl_ckpt_image_destroy (&img[k]);
    free (x);
}

int
main (void)
{
#define T(f) cmocka_unit_test_setup_teardown (f, s_setup, s_teardown)
    const struct CMUnitTest tests[] = {
        T (test_round_trip_restores_params_state_step_and_epoch_bit_exactly),
        T (test_round_trip_without_optimizer_state),
        T (test_file_layout_is_the_documented_little_endian_packing),
        T (test_corrupt_header_byte_is_reported_as_corrupt),
        T (test_corrupt_payload_byte_is_reported_as_corrupt),
        T (test_every_flipped_byte_is_caught_with_the_code_for_its_field),
        T (test_truncation_at_any_length_is_reported_as_corrupt),
        T (test_trailing_garbage_is_reported_as_corrupt),
        T (test_other_file_is_reported_as_wrong_magic),
        T (test_other_format_version_is_reported_as_wrong_version),
        T (test_other_spec_d_or_state_length_is_reported_as_another_model),
        T (test_missing_file_is_reported_as_not_found),
        T (test_save_into_missing_directory_fails_and_creates_nothing),
        T (test_overwrite_replaces_the_file_and_leaves_no_temporary),
        T (test_failed_write_keeps_the_old_checkpoint_and_removes_the_temporary),
        T (test_failed_rename_removes_the_temporary),
        T (test_save_rejects_bad_arguments_without_touching_the_file),
        T (test_huge_spec_length_in_file_is_corrupt_not_a_huge_read),
        T (test_huge_section_count_with_a_valid_crc_is_corrupt_not_a_huge_read),
        T (test_image_sections_round_trip_through_a_file),
        T (test_image_refuses_bad_names_duplicates_and_additions_after_sealing),
        T (test_image_bytes_are_the_file_and_adopt_back),
        T (test_adopt_refuses_every_truncation_and_every_flipped_bit),
        T (test_version_1_file_still_loads),
        T (test_killing_the_writer_at_random_instants_never_leaves_half_a_file),
    };
#undef T
    return cmocka_run_group_tests (tests, NULL, NULL);
}
