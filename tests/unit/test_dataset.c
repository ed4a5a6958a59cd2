/*  test_dataset.c: IDX and CSV readers, stats/normalize, gather, truncate. */
#include "testutil.h"

#include "dataset.h"
#include "err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Three 2x3 images with every pixel distinct, including 0 and 255. */
enum { T_N = 3, T_ROWS = 2, T_COLS = 3 };
static const uint8_t t_pix[T_N * T_ROWS * T_COLS] = {
    0, 1, 2, 3, 4, 255, 10, 20, 30, 40, 50, 60, 128, 127, 126, 125, 124, 200,
};
static const uint8_t t_lab[T_N] = { 2, 0, 1 };

static void
s_put_be32 (uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}

/* Builds an IDX images file in buf (returns its length): header + npix pixel bytes. */
static size_t
s_idx_images (uint8_t *buf, uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols,
              const uint8_t *pix, size_t npix)
{
    s_put_be32 (buf, magic);
    s_put_be32 (buf + 4, n);
    s_put_be32 (buf + 8, rows);
    s_put_be32 (buf + 12, cols);
    if (npix)
        memcpy (buf + 16, pix, npix);
    return 16 + npix;
}

static size_t
s_idx_labels (uint8_t *buf, uint32_t magic, uint32_t n, const uint8_t *lab, size_t nlab)
{
    s_put_be32 (buf, magic);
    s_put_be32 (buf + 4, n);
    if (nlab)
        memcpy (buf + 8, lab, nlab);
    return 8 + nlab;
}

static void
s_write_gz (const char *path, const void *data, size_t len)
{
    gzFile f = gzopen (path, "wb");
    assert_non_null (f);
    assert_int_equal (gzwrite (f, data, (unsigned) len), (int) len);
    assert_int_equal (gzclose (f), Z_OK);
}

static uint8_t *
s_read_all (const char *path, size_t *len)
{
    FILE *f = fopen (path, "rb");
    assert_non_null (f);
    assert_int_equal (fseek (f, 0, SEEK_END), 0);
    long l = ftell (f);
    assert_true (l >= 0);
    rewind (f);
    uint8_t *buf = malloc ((size_t) l + 1);
    assert_non_null (buf);
    assert_int_equal (fread (buf, 1, (size_t) l, f), (size_t) l);
    fclose (f);
    *len = (size_t) l;
    return buf;
}

/* Writes the three test images and labels into dir as SPLIT-*-ubyte[.gz]. */
static void
s_write_pair (const char *dir, const char *split, int gz)
{
    uint8_t img[64], lab[16];
    char pi[512], pl[512];
    size_t li = s_idx_images (img, 0x803, T_N, T_ROWS, T_COLS, t_pix, sizeof t_pix);
    size_t ll = s_idx_labels (lab, 0x801, T_N, t_lab, sizeof t_lab);
    snprintf (pi, sizeof pi, "%s/%s-images-idx3-ubyte%s", dir, split, gz ? ".gz" : "");
    snprintf (pl, sizeof pl, "%s/%s-labels-idx1-ubyte%s", dir, split, gz ? ".gz" : "");
    if (gz) {
        s_write_gz (pi, img, li);
        s_write_gz (pl, lab, ll);
    } else {
        mdl_test_write_file (pi, img, li);
        mdl_test_write_file (pl, lab, ll);
    }
}

/* Feature j of row i, through the gather every reader uses (IDX data holds bytes). */
static float
s_feature (const mdl_dataset_t *ds, size_t i, size_t j)
{
    float row[4096];
    uint32_t idx = (uint32_t) i;
    assert_true (mdl_dataset_dim (ds) <= 4096);
    mdl_dataset_gather (ds, &idx, 1, row, NULL);
    return row[j];
}

static void
s_check_test_data (const mdl_dataset_t *ds)
{
    assert_non_null (ds);
    assert_int_equal (mdl_dataset_n (ds), T_N);
    assert_int_equal (mdl_dataset_dim (ds), T_ROWS * T_COLS);
    assert_int_equal (mdl_dataset_classes (ds), 3);
    const size_t dim = T_ROWS * T_COLS;
    assert_null (mdl_dataset_x (ds)); /* the pixels stay bytes */
    for (size_t i = 0; i < sizeof t_pix; i++)
        assert_true (s_feature (ds, i / dim, i % dim) == (float) t_pix[i] / 255.0f);
    assert_true (s_feature (ds, 0, 0) == 0.0f && s_feature (ds, 0, 5) == 1.0f);
    for (size_t i = 0; i < T_N; i++)
        assert_int_equal (mdl_dataset_labels (ds)[i], t_lab[i]);
}

static void
test_idx_plain_files_read_back_exactly (void **state)
{
    char dir[256], path[512];
    int err = 1;
    mdl_test_tmpdir (dir, sizeof dir);
    s_write_pair (dir, "train", 0);
    mdl_dataset_t *ds = mdl_dataset_load_dir (dir, "train", &err, path, sizeof path);
    assert_int_equal (err, MDL_OK);
    s_check_test_data (ds);
    mdl_dataset_destroy (&ds);
    assert_null (ds);
    mdl_dataset_destroy (&ds);
    mdl_test_rmtree (dir);
}

static void
test_idx_gzip_files_read_back_exactly (void **state)
{
    char dir[256], pi[512], pl[512];
    int err = 1;
    mdl_test_tmpdir (dir, sizeof dir);
    s_write_pair (dir, "t10k", 1);
    mdl_dataset_t *ds = mdl_dataset_load_dir (dir, "t10k", &err, NULL, 0);
    assert_int_equal (err, MDL_OK);
    s_check_test_data (ds);
    mdl_dataset_destroy (&ds);

    /* Detection is by content: a gzip file without .gz reads the same. */
    snprintf (pi, sizeof pi, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf (pl, sizeof pl, "%s/t10k-labels-idx1-ubyte.gz", dir);
    char pi2[600];
    snprintf (pi2, sizeof pi2, "%s/renamed-images", dir);
    assert_int_equal (rename (pi, pi2), 0);
    ds = mdl_dataset_load_idx (pi2, pl, &err);
    assert_int_equal (err, MDL_OK);
    s_check_test_data (ds);
    mdl_dataset_destroy (&ds);
    mdl_test_rmtree (dir);
}

static void
test_idx_truncated_plain_file_is_etrunc_at_every_length (void **state)
{
    char dir[256], pi[512], pl[512];
    uint8_t img[64], lab[16];
    int err;
    mdl_test_tmpdir (dir, sizeof dir);
    size_t li = s_idx_images (img, 0x803, T_N, T_ROWS, T_COLS, t_pix, sizeof t_pix);
    size_t ll = s_idx_labels (lab, 0x801, T_N, t_lab, sizeof t_lab);
    snprintf (pi, sizeof pi, "%s/img", dir);
    snprintf (pl, sizeof pl, "%s/lab", dir);
    mdl_test_write_file (pl, lab, ll);
    for (size_t cut = 0; cut < li; cut++) {
        mdl_test_write_file (pi, img, cut);
        mdl_dataset_t *ds = mdl_dataset_load_idx (pi, pl, &err);
        assert_null (ds);
        /* The first 4 bytes are the magic: cutting inside it cannot show a wrong one. */
        assert_int_equal (err, MDL_ETRUNC);
    }
    mdl_test_write_file (pi, img, li);
    for (size_t cut = 0; cut < ll; cut++) {
        mdl_test_write_file (pl, lab, cut);
        assert_null (mdl_dataset_load_idx (pi, pl, &err));
        assert_int_equal (err, MDL_ETRUNC);
    }
    mdl_test_rmtree (dir);
}

static void
test_idx_truncated_gzip_stream_is_etrunc_at_every_length (void **state)
{
    char dir[256], pi[512], pl[512];
    enum { N = 40, R = 8, C = 8 };
    static uint8_t pix[N * R * C], img[16 + N * R * C], lab[8 + N], labv[N];
    int err;
    /* Noisy pixels so that the deflate stream is long and has many cut points. */
    uint32_t s = 12345;
    for (size_t i = 0; i < sizeof pix; i++) {
        s = s * 1103515245u + 12345u;
        pix[i] = (uint8_t) (s >> 24);
    }
    for (size_t i = 0; i < N; i++)
        labv[i] = (uint8_t) (i % 10);
    mdl_test_tmpdir (dir, sizeof dir);
    size_t li = s_idx_images (img, 0x803, N, R, C, pix, sizeof pix);
    size_t ll = s_idx_labels (lab, 0x801, N, labv, N);
    snprintf (pi, sizeof pi, "%s/img.gz", dir);
    snprintf (pl, sizeof pl, "%s/lab.gz", dir);
    s_write_gz (pl, lab, ll);
    s_write_gz (pi, img, li);
    size_t glen;
    uint8_t *gz = s_read_all (pi, &glen);
    mdl_dataset_t *ds = mdl_dataset_load_idx (pi, pl, &err);
    assert_int_equal (err, MDL_OK);
    assert_int_equal (mdl_dataset_n (ds), N);
    assert_true (s_feature (ds, N - 1, R * C - 1) == (float) pix[N * R * C - 1] / 255.0f);
    mdl_dataset_destroy (&ds);
    /* Every cut, including inside the 8-byte CRC/length trailer, where all the pixels
       are present but the stream is not whole. */
    for (size_t cut = 0; cut < glen; cut++) {
        mdl_test_write_file (pi, gz, cut);
        ds = mdl_dataset_load_idx (pi, pl, &err);
        assert_null (ds);
        assert_int_equal (err, MDL_ETRUNC);
    }
    /* A flipped byte in the stream body: broken stream, reported the same way. */
    gz[glen / 2] ^= 0x55;
    mdl_test_write_file (pi, gz, glen);
    assert_null (mdl_dataset_load_idx (pi, pl, &err));
    assert_int_equal (err, MDL_ETRUNC);
    free (gz);
    mdl_test_rmtree (dir);
}

static void
test_idx_wrong_magic_is_emagic (void **state)
{
    char dir[256], pi[512], pl[512];
    uint8_t img[64], lab[16];
    int err;
    mdl_test_tmpdir (dir, sizeof dir);
    snprintf (pi, sizeof pi, "%s/img", dir);
    snprintf (pl, sizeof pl, "%s/lab", dir);
    size_t li = s_idx_images (img, 0x803, T_N, T_ROWS, T_COLS, t_pix, sizeof t_pix);
    size_t ll = s_idx_labels (lab, 0x801, T_N, t_lab, sizeof t_lab);
    mdl_test_write_file (pi, img, li);
    mdl_test_write_file (pl, lab, ll);
    /* Files swapped: each has the other's magic. */
    assert_null (mdl_dataset_load_idx (pl, pi, &err));
    assert_int_equal (err, MDL_EMAGIC);
    /* Float pixels (type byte 0x0D) are valid IDX but not what we read. */
    s_idx_images (img, 0x0D03, T_N, T_ROWS, T_COLS, t_pix, sizeof t_pix);
    mdl_test_write_file (pi, img, li);
    assert_null (mdl_dataset_load_idx (pi, pl, &err));
    assert_int_equal (err, MDL_EMAGIC);
    mdl_test_write_file (pi, "GIF89a-and-more-bytes", 21);
    assert_null (mdl_dataset_load_idx (pi, pl, &err));
    assert_int_equal (err, MDL_EMAGIC);
    mdl_test_rmtree (dir);
}

static void
test_idx_count_mismatch_is_emismatch (void **state)
{
    char dir[256], pi[512], pl[512];
    uint8_t img[64], lab[16];
    int err;
    mdl_test_tmpdir (dir, sizeof dir);
    snprintf (pi, sizeof pi, "%s/img", dir);
    snprintf (pl, sizeof pl, "%s/lab", dir);
    size_t li = s_idx_images (img, 0x803, T_N, T_ROWS, T_COLS, t_pix, sizeof t_pix);
    size_t ll = s_idx_labels (lab, 0x801, T_N - 1, t_lab, T_N - 1);
    mdl_test_write_file (pi, img, li);
    mdl_test_write_file (pl, lab, ll);
    assert_null (mdl_dataset_load_idx (pi, pl, &err));
    assert_int_equal (err, MDL_EMISMATCH);
    mdl_test_rmtree (dir);
}

static void
test_idx_absurd_dims_are_eformat_before_any_allocation (void **state)
{
    char dir[256], pi[512], pl[512];
    uint8_t img[64], lab[16];
    int err;
    mdl_test_tmpdir (dir, sizeof dir);
    snprintf (pi, sizeof pi, "%s/img", dir);
    snprintf (pl, sizeof pl, "%s/lab", dir);
    size_t ll = s_idx_labels (lab, 0x801, T_N, t_lab, sizeof t_lab);
    mdl_test_write_file (pl, lab, ll);
    const uint32_t dims[][3] = {
        { 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu }, /* product overflows 64 bits */
        { 1u << 20, 28, 28 },                      /* 8.2e8 ok ... */
        { 1u << 22, 28, 28 },                      /* 3.3e9 > 2^31 */
        { 3, 0, 3 },                               /* zero-sized image */
        { 0, 2, 3 },                               /* no images */
        { 1u << 31, 1, 2 },                        /* 2^32 */
    };
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        size_t li = s_idx_images (img, 0x803, dims[i][0], dims[i][1], dims[i][2], t_pix,
                                  sizeof t_pix);
        mdl_test_write_file (pi, img, li);
        assert_null (mdl_dataset_load_idx (pi, pl, &err));
        /* { 2^20, 28, 28 } is within bounds: it fails on the count mismatch, which is
           checked from the headers before any body is read or allocated. */
        assert_int_equal (err, i == 1 ? MDL_EMISMATCH : MDL_EFORMAT);
    }
    /* Labels file claiming 2^32 - 1 labels. */
    ll = s_idx_labels (lab, 0x801, 0xFFFFFFFFu, t_lab, sizeof t_lab);
    mdl_test_write_file (pl, lab, ll);
    size_t li = s_idx_images (img, 0x803, T_N, T_ROWS, T_COLS, t_pix, sizeof t_pix);
    mdl_test_write_file (pi, img, li);
    assert_null (mdl_dataset_load_idx (pi, pl, &err));
    assert_int_equal (err, MDL_EFORMAT);
    mdl_test_rmtree (dir);
}

static void
test_idx_header_claiming_2e9_pixels_in_a_tiny_file_is_etrunc (void **state)
{
    /* Within bounds (2^21 * 32 * 32 = 2^31) so it passes the dims check; the reader must
       then find the bytes missing rather than size anything from the claim. Under ASan
       a 2 GiB + 8 GiB allocation would be slow and show up in the run time. */
    char dir[256], pi[512], pl[512];
    uint8_t img[64], lab[16];
    int err;
    mdl_test_tmpdir (dir, sizeof dir);
    snprintf (pi, sizeof pi, "%s/img", dir);
    snprintf (pl, sizeof pl, "%s/lab", dir);
    size_t li = s_idx_images (img, 0x803, 1u << 21, 32, 32, t_pix, sizeof t_pix);
    size_t ll = s_idx_labels (lab, 0x801, 1u << 21, t_lab, sizeof t_lab);
    mdl_test_write_file (pi, img, li);
    mdl_test_write_file (pl, lab, ll);
    assert_null (mdl_dataset_load_idx (pi, pl, &err));
    assert_int_equal (err, MDL_ETRUNC);
    mdl_test_rmtree (dir);
}

static void
test_idx_bytes_after_the_data_are_eformat (void **state)
{
    char dir[256], pi[512], pl[512];
    uint8_t img[64], lab[16];
    int err;
    mdl_test_tmpdir (dir, sizeof dir);
    snprintf (pi, sizeof pi, "%s/img", dir);
    snprintf (pl, sizeof pl, "%s/lab", dir);
    size_t li = s_idx_images (img, 0x803, T_N, T_ROWS, T_COLS, t_pix, sizeof t_pix);
    size_t ll = s_idx_labels (lab, 0x801, T_N, t_lab, sizeof t_lab);
    /* Header says 3 images; 4 are there. */
    img[li] = 7;
    mdl_test_write_file (pi, img, li + 1);
    mdl_test_write_file (pl, lab, ll);
    assert_null (mdl_dataset_load_idx (pi, pl, &err));
    assert_int_equal (err, MDL_EFORMAT);
    mdl_test_rmtree (dir);
}

static void
test_load_dir_names_the_missing_directory_or_file (void **state)
{
    char dir[256], missing[512], path[1024], want[1024];
    int err = 0;
    mdl_test_tmpdir (dir, sizeof dir);
    snprintf (missing, sizeof missing, "%s/nope", dir);
    path[0] = '\0';
    assert_null (mdl_dataset_load_dir (missing, "train", &err, path, sizeof path));
    assert_int_equal (err, MDL_ENOENT);
    assert_string_equal (path, missing);

    /* Images there, labels missing: the labels file is named. */
    s_write_pair (dir, "train", 1);
    snprintf (want, sizeof want, "%s/train-labels-idx1-ubyte.gz", dir);
    assert_int_equal (remove (want), 0);
    assert_null (mdl_dataset_load_dir (dir, "train", &err, path, sizeof path));
    assert_int_equal (err, MDL_ENOENT);
    assert_string_equal (path, want);

    /* A split that is not there names its images file. */
    snprintf (want, sizeof want, "%s/t10k-images-idx3-ubyte.gz", dir);
    assert_null (mdl_dataset_load_dir (dir, "t10k", &err, path, sizeof path));
    assert_int_equal (err, MDL_ENOENT);
    assert_string_equal (path, want);

    /* A corrupt file is named too, with its own error. */
    s_write_pair (dir, "train", 0);
    snprintf (want, sizeof want, "%s/train-labels-idx1-ubyte", dir);
    mdl_test_write_file (want, "\0\0\x08\x01\0\0", 6);
    assert_null (mdl_dataset_load_dir (dir, "train", &err, path, sizeof path));
    assert_int_equal (err, MDL_ETRUNC);
    assert_string_equal (path, want);

    int e2 = 0;
    assert_null (mdl_dataset_load_idx (missing, missing, &e2));
    assert_int_equal (e2, MDL_ENOENT);
    mdl_test_rmtree (dir);
}

/* ---- CSV ---- */

static mdl_dataset_t *
s_csv (const char *text, int *err, size_t *line)
{
    char dir[256], p[512];
    mdl_test_tmpdir (dir, sizeof dir);
    snprintf (p, sizeof p, "%s/d.csv", dir);
    mdl_test_write_file (p, text, strlen (text));
    mdl_dataset_t *ds = mdl_dataset_load_csv (p, err, line);
    mdl_test_rmtree (dir);
    return ds;
}

static void
test_csv_good_file_reads_back_with_or_without_header_and_crlf (void **state)
{
    const char *texts[] = {
        "1,0.5,-2\n0,1e-3,3.25\n4,7,8\n",
        "label,a,b\n1,0.5,-2\n0,1e-3,3.25\n4,7,8\n",
        "label,a,b\r\n1, 0.5,-2\r\n0,1e-3 ,3.25\r\n4,7,8",
        "1,0.5,-2\n\n0,1e-3,3.25\n4,7,8\n\n",
    };
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        int err = 1;
        size_t line = 99;
        mdl_dataset_t *ds = s_csv (texts[t], &err, &line);
        assert_int_equal (err, MDL_OK);
        assert_non_null (ds);
        assert_int_equal (mdl_dataset_n (ds), 3);
        assert_int_equal (mdl_dataset_dim (ds), 2);
        assert_int_equal (mdl_dataset_classes (ds), 5);
        const float want[] = { 0.5f, -2.0f, 1e-3f, 3.25f, 7.0f, 8.0f };
        const int32_t wl[] = { 1, 0, 4 };
        for (size_t i = 0; i < 6; i++)
            assert_true (mdl_dataset_x (ds)[i] == want[i]);
        for (size_t i = 0; i < 3; i++)
            assert_int_equal (mdl_dataset_labels (ds)[i], wl[i]);
        mdl_dataset_destroy (&ds);
    }
}

static void
test_csv_ragged_row_is_eformat_with_its_line (void **state)
{
    int err;
    size_t line = 0;
    assert_null (s_csv ("h,a,b\n1,2,3\n0,1,2\n1,2\n0,1,1\n", &err, &line));
    assert_int_equal (err, MDL_EFORMAT);
    assert_int_equal (line, 4);
    assert_null (s_csv ("1,2,3\n0,1,2,5\n", &err, &line));
    assert_int_equal (err, MDL_EFORMAT);
    assert_int_equal (line, 2);
    /* A label alone has no features. */
    assert_null (s_csv ("1\n2\n", &err, &line));
    assert_int_equal (err, MDL_EFORMAT);
    assert_int_equal (line, 1);
}

static void
test_csv_bad_number_is_eformat_with_its_line (void **state)
{
    const struct {
        const char *text;
        size_t line;
    } cases[] = {
        { "1,2,3\n0,1,x\n", 2 },
        { "1,2,3\n0,1,2.5.1\n", 2 },
        { "1,2,3\n0,,2\n", 2 },
        { "1,2,3\n0,1,nan\n", 2 },
        { "1,2,3\n0,1,1e99\n", 2 },
        { "1,2,3\n-1,1,2\n", 2 },    /* negative label */
        { "1,2,3\n1.5,1,2\n", 2 },   /* fractional label */
        { "1,2,x\n0,1,2\n", 1 },     /* numeric first field: a bad row, not a header */
        { "h,a,b\n1,2,3\n\n0,1,2 3\n", 4 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int err = 0;
        size_t line = 0;
        assert_null (s_csv (cases[i].text, &err, &line));
        assert_int_equal (err, MDL_EFORMAT);
        assert_int_equal (line, cases[i].line);
    }
}

static void
test_csv_empty_or_header_only_file_is_eformat (void **state)
{
    int err;
    size_t line;
    assert_null (s_csv ("", &err, &line));
    assert_int_equal (err, MDL_EFORMAT);
    assert_int_equal (line, 1);
    assert_null (s_csv ("label,a,b\n", &err, &line));
    assert_int_equal (err, MDL_EFORMAT);
    assert_int_equal (line, 2);
    assert_null (s_csv ("\n\r\n", &err, NULL));
    assert_int_equal (err, MDL_EFORMAT);
    assert_null (mdl_dataset_load_csv ("/nonexistent/meshdl/d.csv", &err, &line));
    assert_int_equal (err, MDL_ENOENT);
}

/* ---- operations ---- */

static mdl_dataset_t *
s_ramp (size_t n, size_t dim)
{
    int err;
    mdl_dataset_t *ds = mdl_dataset_new (n, dim, 4, &err);
    assert_non_null (ds);
    float *x = mdl_dataset_x_mut (ds);
    int32_t *y = mdl_dataset_labels_mut (ds);
    for (size_t i = 0; i < n; i++) {
        y[i] = (int32_t) (i % 4);
        for (size_t j = 0; j < dim; j++)
            x[i * dim + j] = (float) (i * dim + j) * 0.01f + 3.0f;
    }
    return ds;
}

static void
test_new_makes_a_zeroed_dataset_and_rejects_zero_dim (void **state)
{
    int err = 1;
    mdl_dataset_t *ds = mdl_dataset_new (5, 3, 2, &err);
    assert_non_null (ds);
    assert_int_equal (err, MDL_OK);
    for (size_t i = 0; i < 15; i++)
        assert_true (mdl_dataset_x (ds)[i] == 0.0f);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal (mdl_dataset_labels (ds)[i], 0);
    mdl_dataset_destroy (&ds);
    assert_null (mdl_dataset_new (5, 0, 2, &err));
    assert_int_equal (err, MDL_EINVAL);
    assert_null (mdl_dataset_new ((size_t) -1 / 2, 8, 2, &err));
    assert_int_equal (err, MDL_ENOMEM);
}

static void
test_stats_then_normalize_give_mean_0_and_std_1 (void **state)
{
    mdl_dataset_t *ds = s_ramp (100, 7);
    float mean, std;
    mdl_dataset_stats (ds, &mean, &std);
    /* Ramp 3 + 0.01 k, k = 0..699: mean 3 + 3.495, std 0.01 * sqrt((700^2 - 1) / 12). */
    assert_true (fabsf (mean - 6.495f) < 1e-4f);
    assert_true (fabsf (std - 0.01f * sqrtf ((700.0f * 700.0f - 1.0f) / 12.0f)) < 1e-4f);
    mdl_dataset_normalize (ds, mean, std);
    mdl_dataset_stats (ds, &mean, &std);
    assert_true (fabsf (mean) < 1e-5f);
    assert_true (fabsf (std - 1.0f) < 1e-5f);
    mdl_dataset_destroy (&ds);
}

static void
test_gather_copies_the_requested_rows_and_labels (void **state)
{
    mdl_dataset_t *ds = s_ramp (10, 3);
    const uint32_t idx[] = { 7, 0, 7, 9 };
    float x[4 * 3];
    int32_t y[4];
    mdl_dataset_gather (ds, idx, 4, x, y);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal (y[i], (int32_t) (idx[i] % 4));
        for (size_t j = 0; j < 3; j++)
            assert_true (x[i * 3 + j] == mdl_dataset_x (ds)[idx[i] * 3 + j]);
    }
    /* Either output may be NULL. */
    int32_t y2[4] = { -1, -1, -1, -1 };
    mdl_dataset_gather (ds, idx, 4, NULL, y2);
    assert_memory_equal (y, y2, sizeof y);
    float x2[4 * 3] = { 0 };
    mdl_dataset_gather (ds, idx, 4, x2, NULL);
    assert_memory_equal (x, x2, sizeof x);
    mdl_dataset_destroy (&ds);
}

static void
test_truncate_keeps_the_first_rows_and_classes (void **state)
{
    mdl_dataset_t *ds = s_ramp (10, 3);
    mdl_dataset_truncate (ds, 2);
    assert_int_equal (mdl_dataset_n (ds), 2);
    assert_int_equal (mdl_dataset_classes (ds), 4);
    float mean, std;
    mdl_dataset_stats (ds, &mean, &std);
    /* Rows 0..1 only: 3 + 0.01 * (0..5). */
    assert_true (fabsf (mean - 3.025f) < 1e-5f);
    mdl_dataset_destroy (&ds);
}

static void
test_pixels_normalise_to_the_floats_of_the_float_formula (void **state)
{
    /* The same IDX pair as floats by hand: (v / 255 - mean) / std per element, with the
       stats of the float matrix; the byte dataset's gathers must give those floats. */
    char dir[256], pi[300], pl[300];
    mdl_test_tmpdir (dir, sizeof dir);
    uint8_t img[64], lab[16];
    snprintf (pi, sizeof pi, "%s/i", dir);
    snprintf (pl, sizeof pl, "%s/l", dir);
    mdl_test_write_file (pi, img, s_idx_images (img, 0x803, T_N, T_ROWS, T_COLS, t_pix, sizeof t_pix));
    mdl_test_write_file (pl, lab, s_idx_labels (lab, 0x801, T_N, t_lab, T_N));
    int err;
    mdl_dataset_t *ds = mdl_dataset_load_idx (pi, pl, &err);
    assert_non_null (ds);
    const size_t total = sizeof t_pix;
    double m = 0, v = 0;
    for (size_t i = 0; i < total; i++)
        m += (float) t_pix[i] / 255.0f;
    m /= (double) total;
    for (size_t i = 0; i < total; i++)
        v += ((float) t_pix[i] / 255.0f - m) * ((float) t_pix[i] / 255.0f - m);
    float mean, std;
    mdl_dataset_stats (ds, &mean, &std);
    assert_true (mean == (float) m);
    assert_true (std == (float) sqrt (v / (double) total));
    mdl_dataset_normalize (ds, mean, std);
    const size_t dim = T_ROWS * T_COLS;
    for (size_t i = 0; i < total; i++)
        assert_true (s_feature (ds, i / dim, i % dim) == ((float) t_pix[i] / 255.0f - mean) / std);
    mdl_dataset_destroy (&ds);
    mdl_test_rmtree (dir);
}

/* An MNIST-format directory of n images of 28x28 (pixel = (i * 7 + j) % 256). */
static void
s_make_mnist_dir (const char *dir, size_t n)
{
    const size_t dim = 784;
    uint8_t *pix = malloc (n * dim), *labv = malloc (n);
    uint8_t *img = malloc (16 + n * dim), *lab = malloc (8 + n);
    for (size_t i = 0; i < n; i++) {
        labv[i] = (uint8_t) (i % 10);
        for (size_t j = 0; j < dim; j++)
            pix[i * dim + j] = (uint8_t) ((i * 7 + j) % 256);
    }
    char p[512];
    snprintf (p, sizeof p, "%s/train-images-idx3-ubyte.gz", dir);
    s_write_gz (p, img, s_idx_images (img, 0x803, (uint32_t) n, 28, 28, pix, n * dim));
    snprintf (p, sizeof p, "%s/train-labels-idx1-ubyte.gz", dir);
    s_write_gz (p, lab, s_idx_labels (lab, 0x801, (uint32_t) n, labv, n));
    free (pix); free (labv); free (img); free (lab);
}

/* keep_rows on a mapped cache reads the kept rows from its file: rows next to each other
   in the shard and in the file land in one piece, long runs of rows not kept are read
   past in pieces, and reads are cut at the vector's limit (over 500 pieces here) */
static void
test_keeping_rows_of_a_mapped_cache_reads_each_row_whole (void **state)
{
    char dir[256], cache[300], path[512];
    mdl_test_tmpdir (dir, sizeof dir);
    snprintf (cache, sizeof cache, "%s/cache", dir);
    const size_t n = 2500;
    s_make_mnist_dir (dir, n);
    int err;
    mdl_cache_use_t use;
    mdl_dataset_t *plain = mdl_dataset_load_dir (dir, "train", &err, path, sizeof path);
    mdl_dataset_t *a = mdl_dataset_load_dir_cached (dir, "train", cache, &err, path, sizeof path, &use);
    mdl_dataset_destroy (&a);
    a = mdl_dataset_load_dir_cached (dir, "train", cache, &err, path, sizeof path, &use);
    assert_non_null (plain);
    assert_non_null (a);
    assert_int_equal (use, MDL_CACHE_HIT);
    uint32_t keep[1200];
    size_t k = 0;
    keep[k++] = 2499;                   /* the last row first */
    for (uint32_t r = 2000; r < 2100; r++) /* a run kept in file order */
        keep[k++] = r;
    for (uint32_t r = 0; r < 1500; r += 3) /* every third row: ~1000 pieces */
        keep[k++] = r;
    keep[k++] = 6; /* a repeat */
    keep[k++] = 1;
    assert_int_equal (mdl_dataset_keep_rows (a, keep, k), 0);
    float got[784], want[784];
    for (size_t i = 0; i < k; i++) {
        mdl_dataset_gather (a, &keep[i], 1, got, NULL);
        mdl_dataset_gather (plain, &keep[i], 1, want, NULL);
        if (memcmp (got, want, sizeof got))
            fail_msg ("row %u differs", keep[i]);
    }
    mdl_dataset_destroy (&a);
    mdl_dataset_destroy (&plain);
    mdl_test_rmtree (dir);
}

static void
test_cache_is_written_then_mapped_and_reads_the_same (void **state)
{
    char dir[256], cache[300], path[512];
    mdl_test_tmpdir (dir, sizeof dir);
    snprintf (cache, sizeof cache, "%s/cache/deeper", dir); /* made as needed */
    const size_t n = 2500; /* more than two histogram checkpoints (1024 rows) */
    s_make_mnist_dir (dir, n);
    int err;
    mdl_cache_use_t use;
    mdl_dataset_t *plain = mdl_dataset_load_dir (dir, "train", &err, path, sizeof path);
    mdl_dataset_t *a = mdl_dataset_load_dir_cached (dir, "train", cache, &err, path, sizeof path, &use);
    assert_non_null (a);
    assert_int_equal (use, MDL_CACHE_WRITTEN);
    mdl_dataset_t *b = mdl_dataset_load_dir_cached (dir, "train", cache, &err, path, sizeof path, &use);
    assert_non_null (b);
    assert_int_equal (use, MDL_CACHE_HIT);
    /* the same rows, labels and statistics, also over a prefix (checkpoints + rest) */
    for (size_t sub = 0; sub < 3; sub++) {
        const size_t rows = sub == 0 ? n : sub == 1 ? 1500 : 1024; /* shrinking: truncation cannot grow */
        mdl_dataset_truncate (plain, rows);
        mdl_dataset_truncate (b, rows);
        float m0, s0, m1, s1;
        mdl_dataset_stats (plain, &m0, &s0);
        mdl_dataset_stats (b, &m1, &s1);
        assert_true (m0 == m1 && s0 == s1);
    }
    for (size_t i = 0; i < 1024; i += 37) {
        assert_int_equal (mdl_dataset_labels (b)[i], mdl_dataset_labels (plain)[i]);
        for (size_t j = 0; j < 784; j += 13)
            assert_true (s_feature (b, i, j) == s_feature (plain, i, j));
    }
    mdl_dataset_destroy (&a);
    mdl_dataset_destroy (&b);
    /* a damaged cache (cut short) is not used: read again and rewritten */
    char cfile[600] = "";
    char cmd[700];
    snprintf (cmd, sizeof cmd, "ls %s/*.mdlc", cache);
    FILE *ls = popen (cmd, "r");
    assert_non_null (fgets (cfile, sizeof cfile, ls));
    pclose (ls);
    cfile[strcspn (cfile, "\n")] = 0;
    assert_int_equal (truncate (cfile, 1000), 0);
    a = mdl_dataset_load_dir_cached (dir, "train", cache, &err, path, sizeof path, &use);
    assert_non_null (a);
    assert_int_equal (use, MDL_CACHE_WRITTEN);
    mdl_dataset_destroy (&a);
    /* a changed source (its mtime) makes the copy stale */
    char src[512];
    snprintf (src, sizeof src, "%s/train-labels-idx1-ubyte.gz", dir);
    struct timespec t[2] = { { 0, UTIME_OMIT }, { 12345, 0 } };
    assert_int_equal (utimensat (AT_FDCWD, src, t, 0), 0);
    a = mdl_dataset_load_dir_cached (dir, "train", cache, &err, path, sizeof path, &use);
    assert_int_equal (use, MDL_CACHE_WRITTEN);
    /* keeping a shard: its rows read the same, the others are let go */
    uint32_t shard[] = { 2400, 3, 3, 1777, 0 };
    mdl_dataset_destroy (&plain); /* all its rows again: truncation does not grow back */
    assert_non_null (plain = mdl_dataset_load_dir (dir, "train", &err, path, sizeof path));
    assert_int_equal (mdl_dataset_keep_rows (a, shard, 5), 0);
    for (size_t k = 0; k < 5; k++)
        for (size_t j = 0; j < 784; j += 11)
            assert_true (s_feature (a, shard[k], j) == s_feature (plain, shard[k], j));
    mdl_dataset_destroy (&a);
    mdl_dataset_destroy (&plain);
    /* an unwritable cache directory only costs the copy */
    a = mdl_dataset_load_dir_cached (dir, "train", "/proc/no-such-cache", &err, path, sizeof path, &use);
    assert_non_null (a);
    assert_int_equal (use, MDL_CACHE_NONE);
    mdl_dataset_destroy (&a);
    mdl_test_rmtree (dir);
}

static void
test_real_fashion_mnist_loads_with_its_known_shape (void **state)
{
    const char *dir = mdl_test_fmnist_dir ();
    if (!dir)
        skip ();
    const struct {
        const char *split;
        size_t n;
    } splits[] = { { "train", 60000 }, { "t10k", 10000 } };
    for (size_t s = 0; s < 2; s++) {
        char path[1024];
        int err = 1;
        mdl_dataset_t *ds = mdl_dataset_load_dir (dir, splits[s].split, &err, path, sizeof path);
        assert_int_equal (err, MDL_OK);
        assert_non_null (ds);
        assert_int_equal (mdl_dataset_n (ds), splits[s].n);
        assert_int_equal (mdl_dataset_dim (ds), 784);
        assert_int_equal (mdl_dataset_classes (ds), 10);
        /* Fashion-MNIST is balanced: n / 10 of each class. */
        size_t hist[10] = { 0 };
        for (size_t i = 0; i < splits[s].n; i++)
            hist[mdl_dataset_labels (ds)[i]]++;
        for (size_t c = 0; c < 10; c++)
            assert_int_equal (hist[c], splits[s].n / 10);
        float mean, std;
        mdl_dataset_stats (ds, &mean, &std);
        assert_true (mean > 0.2f && mean < 0.4f);
        assert_true (std > 0.25f && std < 0.45f);
        mdl_dataset_destroy (&ds);
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_idx_plain_files_read_back_exactly),
        cmocka_unit_test (test_idx_gzip_files_read_back_exactly),
        cmocka_unit_test (test_idx_truncated_plain_file_is_etrunc_at_every_length),
        cmocka_unit_test (test_idx_truncated_gzip_stream_is_etrunc_at_every_length),
        cmocka_unit_test (test_idx_wrong_magic_is_emagic),
        cmocka_unit_test (test_idx_count_mismatch_is_emismatch),
        cmocka_unit_test (test_idx_absurd_dims_are_eformat_before_any_allocation),
        cmocka_unit_test (test_idx_header_claiming_2e9_pixels_in_a_tiny_file_is_etrunc),
        cmocka_unit_test (test_idx_bytes_after_the_data_are_eformat),
        cmocka_unit_test (test_load_dir_names_the_missing_directory_or_file),
        cmocka_unit_test (test_csv_good_file_reads_back_with_or_without_header_and_crlf),
        cmocka_unit_test (test_csv_ragged_row_is_eformat_with_its_line),
        cmocka_unit_test (test_csv_bad_number_is_eformat_with_its_line),
        cmocka_unit_test (test_csv_empty_or_header_only_file_is_eformat),
        cmocka_unit_test (test_new_makes_a_zeroed_dataset_and_rejects_zero_dim),
        cmocka_unit_test (test_stats_then_normalize_give_mean_0_and_std_1),
        cmocka_unit_test (test_gather_copies_the_requested_rows_and_labels),
        cmocka_unit_test (test_truncate_keeps_the_first_rows_and_classes),
        cmocka_unit_test (test_pixels_normalise_to_the_floats_of_the_float_formula),
        cmocka_unit_test (test_cache_is_written_then_mapped_and_reads_the_same),
        cmocka_unit_test (test_keeping_rows_of_a_mapped_cache_reads_each_row_whole),
        cmocka_unit_test (test_real_fashion_mnist_loads_with_its_known_shape),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
