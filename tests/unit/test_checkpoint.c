/*  test_checkpoint.c: round trip, byte layout, and every kind of damaged file. */
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

static void
test_file_layout_is_the_documented_little_endian_packing (void **state)
{
    fix_t *fx = *state;
    mdl_ckpt_t ck = s_ck ();
    assert_int_equal (mdl_ckpt_save (fx->path, &ck), MDL_OK);
    size_t len;
    uint8_t *b = s_slurp (fx->path, &len);
    const size_t L = strlen (SPEC);
    const size_t h = 8 + 4 + 4 + L + 8 * 4 + 4;
    assert_int_equal (len, h + 4 * (D + OPT) + 4);
    assert_memory_equal (b, "MDLCKPT1", 8);
    assert_int_equal (s_le32 (b + 8), MDL_CKPT_VERSION);
    assert_int_equal (s_le32 (b + 12), L);
    assert_memory_equal (b + 16, SPEC, L);
    assert_int_equal (s_le64 (b + 16 + L), D);
    assert_int_equal (s_le64 (b + 24 + L), OPT);
    assert_int_equal (s_le64 (b + 32 + L), 123456789012ULL);
    assert_int_equal (s_le64 (b + 40 + L), 7);
    assert_int_equal (s_le32 (b + 48 + L), crc32 (0, b, (uInt) (48 + L)));
    /* 1.0f is 0x3f800000: bytes 00 00 80 3f. */
    const uint8_t one[4] = { 0x00, 0x00, 0x80, 0x3f };
    assert_memory_equal (b + h, one, 4);
    assert_int_equal (s_le32 (b + len - 4), crc32 (0, b + h, (uInt) (4 * (D + OPT))));
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
    b[16 + strlen (SPEC) + 16] ^= 0x01; /* lowest byte of step */
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
        for (int bit = 0; bit < 8; bit += 7) { /* low and high bit of each byte */
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
    /* Version 2 with a valid header crc, as a future writer would make it. */
    b[8] = 2;
    size_t hc = 48 + strlen (SPEC);
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
    const rlim_t limits[] = { 65536, 16 + strlen (SPEC) + 36 + 4 * big + 4 - 1 };
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
    memset (b + 12, 0xff, 4);
    mdl_test_write_file (fx->path, b, len);
    assert_int_equal (s_load (fx->path), MDL_ECKPT_CORRUPT);
    free (b);
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
    };
#undef T
    return cmocka_run_group_tests (tests, NULL, NULL);
}
