/*  test_codec.c: every codec through the table, then each codec's own properties. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "codec.h"
#include "codec_impl.h"
#include "err.h"
#include "rng.h"

static const char *s_specs[] = {
    "fp32",       "fp16",           "bf16",          "qsgd:1",         "qsgd:2:7",
    "qsgd:4",     "qsgd:8:100",     "q8",            "q8:5",           "q4",
    "q4:3",       "sign",           "sign:9",        "topk:0.1",       "topk:3",
    "randk:0.25", "randk:3",        "topk:0.1+q8",   "topk:5+fp16",    "randk:0.5+qsgd:4",
    "topk:1.0",   "randk:2:unscaled", "topk:0.2+sign:4", "topk:0.3+bf16", "identity",
};
#define NSPECS (sizeof s_specs / sizeof s_specs[0])
static const size_t s_dims[] = { 0, 1, 2, 7, 64, 1000, 4099 };
#define NDIMS (sizeof s_dims / sizeof s_dims[0])

static float *
s_randvec (size_t d, uint64_t seed)
{
    float *x = malloc ((d ? d : 1) * sizeof *x);
    assert_non_null (x);
    mdl_rng_t r;
    mdl_rng_seed (&r, seed, 1);
    for (size_t i = 0; i < d; i++)
        x[i] = (float) mdl_rng_normal (&r);
    return x;
}

static uint8_t *
s_encode (mdl_codec_t *c, const float *x, size_t *len)
{
    size_t cap = mdl_codec_max_size (c);
    uint8_t *p = malloc (cap ? cap : 1);
    assert_non_null (p);
    assert_int_equal (mdl_codec_encode (c, x, p, cap, len, NULL), 0);
    assert_true (*len <= cap);
    return p;
}

static mdl_codec_t *
s_new (const char *spec, size_t d)
{
    int err = -999;
    mdl_codec_t *c = mdl_codec_new (spec, d, 42, &err);
    if (!c)
        fprintf (stderr, "spec %s d %zu: %s\n", spec, d, mdl_strerror (err));
    assert_non_null (c);
    assert_int_equal (err, 0);
    return c;
}

/* ---- every codec, every size ------------------------------------------------------ */

static void
test_every_codec_decodes_what_it_encodes_and_apply_agrees (void **state)
{
    for (size_t s = 0; s < NSPECS; s++)
        for (size_t di = 0; di < NDIMS; di++) {
            const size_t d = s_dims[di];
            mdl_codec_t *c = s_new (s_specs[s], d);
            assert_int_equal (mdl_codec_dim (c), d);
            float *x = s_randvec (d, 7 + d);
            size_t len;
            uint8_t *p = s_encode (c, x, &len);
            if (!mdl_codec_is_sparse (c))
                assert_int_equal (len, mdl_codec_max_size (c));
            float *y = calloc (d + 1, sizeof *y), *z = calloc (d + 1, sizeof *z);
            assert_int_equal (mdl_codec_decode (c, p, len, y), 0);
            for (size_t i = 0; i < d; i++)
                assert_true (isfinite (y[i]));
            /* apply into zeros with alpha 1 equals decode; alpha -2 scales */
            assert_int_equal (mdl_codec_apply (c, p, len, 1.0f, z), 0);
            for (size_t i = 0; i < d; i++)
                assert_true (y[i] == z[i]); /* -0 + 0 = +0: compare values, not bits */
            assert_int_equal (mdl_codec_apply (c, p, len, -2.0f, z), 0);
            for (size_t i = 0; i < d; i++)
                assert_float_equal (z[i], -y[i], 1e-6 * (1 + fabsf (y[i])));
            /* relative error is below 1 for every codec on a Gaussian vector */
            if (d >= 64) {
                double e = 0, n = 0;
                for (size_t i = 0; i < d; i++) {
                    e += (x[i] - y[i]) * (double) (x[i] - y[i]);
                    n += x[i] * (double) x[i];
                }
                if (strncmp (s_specs[s], "randk", 5) != 0 && strncmp (s_specs[s], "qsgd", 4) != 0)
                    assert_true (e < n);
            }
            /* a payload one byte short or long is refused, y untouched */
            if (len > 0) {
                memcpy (z, y, d * sizeof *y);
                assert_int_not_equal (mdl_codec_decode (c, p, len - 1, z), 0);
                assert_memory_equal (y, z, d * sizeof *y);
            }
            uint8_t *q = calloc (len + 1, 1);
            memcpy (q, p, len);
            assert_int_equal (mdl_codec_check (c, q, len + 1), MDL_EWIRE_LENGTH);
            free (q);
            if (mdl_codec_is_lossless (c))
                assert_memory_equal (x, y, d * sizeof *x);
            free (x);
            free (y);
            free (z);
            free (p);
            mdl_codec_destroy (&c);
            assert_null (c);
            mdl_codec_destroy (&c);
        }
}

static void
test_spec_parser_accepts_valid_forms_and_rejects_others_with_help (void **state)
{
    for (size_t s = 0; s < NSPECS; s++)
        assert_int_equal (mdl_codec_check_spec (s_specs[s]), 0);
    static const char *bad[] = {
        "",        "fp",       "fp32:1",      "qsgd",     "qsgd:0",   "qsgd:9",
        "qsgd:4:0", "q8:",     "q8:-1",       "q8:1:2",   "topk",     "topk:0",
        "topk:1.5", "topk:-3", "topk:0.0",    "topk:abc", "topk:1+",  "topk:1+topk:2",
        "q8+fp16",  "randk:3:scaled", "sign:x", "topk:0.01+q8+fp16", "TOPK:1", "topk: 5",
        "topk:1e", "fp16 ", "randk:nan", "topk:inf",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int err = 0;
        if (mdl_codec_check_spec (bad[i]) != MDL_ECODEC)
            fail_msg ("accepted bad spec '%s'", bad[i]);
        assert_null (mdl_codec_new (bad[i], 10, 1, &err));
        assert_int_equal (err, MDL_ECODEC);
    }
    assert_int_equal (mdl_codec_check_spec (NULL), MDL_ECODEC);
    const char *h = mdl_codec_help ();
    static const char *forms[] = { "fp32", "fp16", "bf16", "qsgd:Q", "q8", "q4", "sign",
                                   "topk:K", "randk:K", "topk:0.01+q8" };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        assert_non_null (strstr (h, forms[i]));
}

static void
test_names_and_params_are_resolved_for_d (void **state)
{
    mdl_codec_t *c = s_new ("topk:0.01+q8", 10000000);
    assert_string_equal (mdl_codec_name (c), "topk:100000+q8:256");
    mdl_codec_params_t p;
    mdl_codec_params (c, &p);
    assert_int_equal (p.id, MDL_CODEC_TOPK);
    assert_int_equal (p.k, 100000);
    assert_int_equal (p.vid, MDL_CODEC_Q8);
    assert_int_equal (p.vblock, 256);
    mdl_codec_destroy (&c);
    c = s_new ("qsgd:4", 10);
    assert_string_equal (mdl_codec_name (c), "qsgd:4:256");
    mdl_codec_destroy (&c);
    c = s_new ("randk:1000:unscaled", 10);
    assert_string_equal (mdl_codec_name (c), "randk:10:unscaled"); /* k >= d: all */
    mdl_codec_destroy (&c);
    c = s_new ("topk:0.5", 3);
    assert_string_equal (mdl_codec_name (c), "topk:2");
    mdl_codec_destroy (&c);
    int err;
    assert_null (mdl_codec_new ("fp32", (size_t) UINT32_MAX + 1, 1, &err));
    assert_int_equal (err, MDL_ERANGE);
}

static void
test_encode_refuses_a_buffer_smaller_than_max_size (void **state)
{
    mdl_codec_t *c = s_new ("q8", 100);
    float x[100] = { 0 };
    uint8_t buf[512];
    size_t len;
    assert_int_equal (mdl_codec_encode (c, x, buf, mdl_codec_max_size (c) - 1, &len, NULL),
                      MDL_EINVAL);
    mdl_codec_destroy (&c);
}

/* ---- fp32, fp16, bf16 ------------------------------------------------------------- */

static void
test_fp32_round_trips_denormals_and_signed_zero_exactly (void **state)
{
    float x[6] = { FLT_TRUE_MIN, -FLT_TRUE_MIN, FLT_MIN / 3, -0.0f, FLT_MAX, -FLT_MAX };
    mdl_codec_t *c = s_new ("fp32", 6);
    size_t len;
    uint8_t *p = s_encode (c, x, &len);
    float y[6];
    assert_int_equal (mdl_codec_decode (c, p, len, y), 0);
    assert_memory_equal (x, y, sizeof x);
    free (p);
    mdl_codec_destroy (&c);
}

static void
test_fp16_matches_the_compiler_conversion_and_saturates (void **state)
{
    enum { N = 65536 + 4000 };
    float *x = malloc (N * sizeof *x), *y = malloc (N * sizeof *y);
    mdl_rng_t r;
    mdl_rng_seed (&r, 3, 3);
    /* every finite half value, then random floats over the whole fp16 range, incl.
       subnormals, halfway cases and values beyond 65504 */
    size_t n = 0;
    for (uint32_t h = 0; h < 65536; h++)
        if ((h & 0x7c00u) != 0x7c00u) {
            uint16_t hh = (uint16_t) h;
#ifdef __FLT16_MAX__
            _Float16 f;
            memcpy (&f, &hh, 2);
            x[n++] = (float) f;
#else
            (void) hh;
#endif
        }
    for (int i = 0; i < 4000; i++)
        x[n++] = (float) ((mdl_rng_double (&r) * 2 - 1) * ldexp (1.0, (int) mdl_rng_below (&r, 44) - 27));
    mdl_codec_t *c = s_new ("fp16", n);
    size_t len;
    uint8_t *p = s_encode (c, x, &len);
    assert_int_equal (mdl_codec_decode (c, p, len, y), 0);
    for (size_t i = 0; i < n; i++) {
#ifdef __FLT16_MAX__
        float ref = (float) (_Float16) x[i];
        if (isinf (ref))
            ref = copysignf (65504.0f, x[i]);
        if (mdl_fbits (ref) != mdl_fbits (y[i]))
            fail_msg ("fp16 of %a: got %a, want %a", x[i], y[i], ref);
#else
        if (fabsf (x[i]) <= 65504.0f)
            assert_true (fabsf (x[i] - y[i]) <= fmaxf (fabsf (x[i]) * 0x1p-11f, 0x1p-25f));
#endif
    }
    free (p);
    mdl_codec_destroy (&c);
    /* the receiver refuses Inf and NaN halves */
    c = s_new ("fp16", 2);
    uint8_t bad[4] = { 0, 0, 0x00, 0x7c };
    assert_int_equal (mdl_codec_check (c, bad, 4), MDL_EWIRE_NONFINITE);
    bad[3] = 0xfe;
    assert_int_equal (mdl_codec_check (c, bad, 4), MDL_EWIRE_NONFINITE);
    mdl_codec_destroy (&c);
    free (x);
    free (y);
}

static void
test_bf16_is_within_half_an_ulp_and_saturates (void **state)
{
    const size_t d = 5000;
    float *x = s_randvec (d, 5), y[5000];
    x[0] = FLT_MAX;
    x[1] = -FLT_MAX;
    x[2] = FLT_TRUE_MIN;
    x[3] = 1.0f + 0x1p-8f; /* exactly halfway: ties to even, 1.0 */
    x[4] = 1.0f + 3 * 0x1p-8f; /* halfway: ties to even, 1 + 2^-6 */
    mdl_codec_t *c = s_new ("bf16", d);
    size_t len;
    uint8_t *p = s_encode (c, x, &len);
    assert_int_equal (mdl_codec_decode (c, p, len, y), 0);
    assert_true (y[0] == mdl_bitsf (0x7f7f0000u));
    assert_true (y[1] == -mdl_bitsf (0x7f7f0000u));
    assert_true (y[3] == 1.0f);
    assert_true (y[4] == 1.0f + 0x1p-6f);
    for (size_t i = 2; i < d; i++)
        assert_true (fabsf (x[i] - y[i]) <= fabsf (x[i]) * 0x1p-8f + 0x1p-134f);
    free (p);
    free (x);
    mdl_codec_destroy (&c);
}

/* ---- q8, q4, sign, qsgd ----------------------------------------------------------- */

static void
test_minmax_error_is_within_half_a_step_and_constant_blocks_are_exact (void **state)
{
    const char *specs[] = { "q8", "q4", "q8:7", "q4:33" };
    const size_t d = 3001;
    for (int s = 0; s < 4; s++) {
        float *x = s_randvec (d, 11), *y = malloc (d * sizeof *y);
        for (size_t i = 0; i < 300; i++)
            x[i] = 0.25f; /* constant block(s) */
        x[500] = FLT_TRUE_MIN;
        mdl_codec_t *c = s_new (specs[s], d);
        const size_t B = c->p.block;
        const float L = c->p.id == MDL_CODEC_Q8 ? 255.f : 15.f;
        size_t len;
        uint8_t *p = s_encode (c, x, &len);
        assert_int_equal (mdl_codec_decode (c, p, len, y), 0);
        for (size_t b = 0; b * B < d; b++) {
            float mn = INFINITY, mx = -INFINITY;
            for (size_t i = b * B; i < d && i < (b + 1) * B; i++) {
                mn = fminf (mn, x[i]);
                mx = fmaxf (mx, x[i]);
            }
            const float h = (mx - mn) / L;
            for (size_t i = b * B; i < d && i < (b + 1) * B; i++) {
                if (mx == mn)
                    assert_true (y[i] == x[i]);
                else if (fabsf (x[i] - y[i]) > 0.5f * h * (1 + 1e-5f) + 1e-6f * fabsf (x[i]))
                    fail_msg ("%s: |%g - %g| > h/2 = %g", specs[s], x[i], y[i], h / 2);
            }
        }
        free (p);
        free (x);
        free (y);
        mdl_codec_destroy (&c);
    }
}

static void
test_q8_fast_path_matches_the_scalar_reference (void **state)
{
    /* reference: code = clamp (trunc ((x - mn) * inv + 0.5), 0, 255) per block */
    const size_t d = 1000, B = 256;
    float *x = s_randvec (d, 12);
    mdl_codec_t *c = s_new ("q8", d);
    size_t len;
    uint8_t *p = s_encode (c, x, &len);
    for (size_t b = 0; b * B < d; b++) {
        float mn = x[b * B], mx = x[b * B];
        for (size_t i = b * B; i < d && i < (b + 1) * B; i++) {
            mn = x[i] < mn ? x[i] : mn;
            mx = x[i] > mx ? x[i] : mx;
        }
        const double range = (double) mx - mn;
        const float inv = (float) (255.0 / range);
        assert_true (mdl_ldf (p + 8 * b) == mn);
        assert_true (mdl_ldf (p + 8 * b + 4) == (float) (range / 255.0));
        const uint8_t *codes = p + 8 * ((d + B - 1) / B);
        for (size_t i = b * B; i < d && i < (b + 1) * B; i++) {
            float t = (x[i] - mn) * inv + 0.5f;
            t = t < 0 ? 0 : t > 255 ? 255 : t;
            assert_int_equal (codes[i], (uint8_t) t);
        }
    }
    free (p);
    free (x);
    mdl_codec_destroy (&c);
}

static void
test_sign_error_is_the_l1_formula_so_it_contracts (void **state)
{
    const size_t d = 1003, B = 100;
    float *x = s_randvec (d, 13), *y = malloc (d * sizeof *y);
    x[0] = 0.0f;
    mdl_codec_t *c = s_new ("sign:100", d);
    size_t len;
    uint8_t *p = s_encode (c, x, &len);
    assert_int_equal (len, 4 * 11 + (d + 7) / 8);
    assert_int_equal (mdl_codec_decode (c, p, len, y), 0);
    for (size_t b = 0; b * B < d; b++) {
        double n2 = 0, n1 = 0, e = 0;
        size_t n = 0;
        for (size_t i = b * B; i < d && i < (b + 1) * B; i++, n++) {
            n2 += (double) x[i] * x[i];
            n1 += fabs (x[i]);
            e += ((double) x[i] - y[i]) * ((double) x[i] - y[i]);
            assert_true ((x[i] < 0) == (y[i] < 0));
        }
        assert_float_equal (e, n2 - n1 * n1 / (double) n, 1e-4 * n2);
        assert_true (e <= (1.0 - 1.0 / (double) n) * n2 * (1 + 1e-6));
    }
    free (p);
    free (x);
    free (y);
    mdl_codec_destroy (&c);
}

static void
test_qsgd_is_within_one_step_and_unbiased (void **state)
{
    const size_t d = 300, N = 4000;
    for (unsigned q = 1; q <= 8; q++) {
        char spec[32];
        snprintf (spec, sizeof spec, "qsgd:%u:64", q);
        float *x = s_randvec (d, 14), *y = malloc (d * sizeof *y);
        x[5] = 0.0f;
        x[6] = FLT_TRUE_MIN;
        double *sum = calloc (d, sizeof *sum);
        mdl_codec_t *c = s_new (spec, d);
        mdl_rng_t r;
        mdl_rng_seed (&r, q, 9);
        const double s = q == 1 ? 0.5 : (double) ((1u << (q - 1)) - 1);
        uint8_t *p = malloc (mdl_codec_max_size (c));
        for (size_t t = 0; t < N; t++) {
            size_t len;
            assert_int_equal (mdl_codec_encode (c, x, p, mdl_codec_max_size (c), &len, &r), 0);
            assert_int_equal (mdl_codec_decode (c, p, len, y), 0);
            for (size_t i = 0; i < d; i++) {
                const float m = mdl_ldf (p + 4 * (i / 64));
                /* one grid step m/s (for Q = 1 the grid is {-m, m}: step 2m) */
                assert_true (fabs ((double) x[i] - y[i]) <= m / s * (1 + 1e-5));
                sum[i] += y[i];
            }
        }
        /* the mean of N encodings converges to x: within 5 standard errors, each
           encoding having variance <= (step/2)^2 */
        for (size_t i = 0; i < d; i++) {
            const float m = mdl_ldf (p + 4 * (i / 64));
            const double se = (m / s) / 2 / sqrt ((double) N);
            if (fabs (sum[i] / N - x[i]) > 5 * se + 1e-7)
                fail_msg ("qsgd:%u biased at %zu: mean %g vs %g", q, i, sum[i] / N, x[i]);
        }
        free (p);
        free (sum);
        free (x);
        free (y);
        mdl_codec_destroy (&c);
    }
}

/* ---- top-k ------------------------------------------------------------------------ */

static const float *s_ref_x;

static int
s_by_mag (const void *a, const void *b)
{
    const uint32_t i = *(const uint32_t *) a, j = *(const uint32_t *) b;
    const float u = fabsf (s_ref_x[i]), v = fabsf (s_ref_x[j]);
    if (u != v)
        return u > v ? -1 : 1;
    return i < j ? -1 : i > j;
}

static int
s_by_idx (const void *a, const void *b)
{
    const uint32_t i = *(const uint32_t *) a, j = *(const uint32_t *) b;
    return i < j ? -1 : i > j;
}

/* naive reference: full sort by (|x| desc, index asc), first k, sorted by index */
static void
s_check_topk (const char *spec, const float *x, size_t d)
{
    mdl_codec_t *c = s_new (spec, d);
    const size_t k = c->k;
    size_t len;
    uint8_t *p = s_encode (c, x, &len);
    const uint32_t *idx;
    const float *val;
    size_t nnz;
    assert_int_equal (mdl_codec_decode_sparse (c, p, len, &idx, &val, &nnz), 0);
    assert_int_equal (nnz, k);
    uint32_t *ref = malloc ((d + 1) * sizeof *ref);
    for (size_t i = 0; i < d; i++)
        ref[i] = (uint32_t) i;
    s_ref_x = x;
    qsort (ref, d, sizeof *ref, s_by_mag);
    qsort (ref, k, sizeof *ref, s_by_idx);
    for (size_t j = 0; j < k; j++) {
        if (idx[j] != ref[j])
            fail_msg ("%s d=%zu: entry %zu is %u, want %u", spec, d, j, idx[j], ref[j]);
        assert_true (val[j] == x[idx[j]]);
    }
    free (ref);
    free (p);
    mdl_codec_destroy (&c);
}

static void
test_topk_selects_exactly_what_a_full_sort_selects (void **state)
{
    const size_t dims[] = { 1, 2, 5, 100, 1001, 70001, 200000 };
    const char *specs[] = { "topk:1", "topk:3", "topk:0.01", "topk:0.1", "topk:0.5", "topk:1.0" };
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        float *x = s_randvec (dims[di], dims[di]);
        for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++)
            s_check_topk (specs[s], x, dims[di]);
        free (x);
    }
}

static void
test_topk_takes_ties_by_lowest_index_also_when_all_values_are_equal (void **state)
{
    const size_t d = 100000;
    float *x = malloc (d * sizeof *x);
    for (size_t i = 0; i < d; i++)
        x[i] = (i % 2) ? -1.5f : 1.5f; /* all |x| equal: the sample cannot help */
    s_check_topk ("topk:0.01", x, d);
    s_check_topk ("topk:7", x, d);
    for (size_t i = 0; i < d; i++)
        x[i] = (float) (i % 5) * FLT_TRUE_MIN; /* denormals, heavy ties, zeros */
    s_check_topk ("topk:0.01", x, d);
    s_check_topk ("topk:0.5", x, d);
    /* a few large spikes in a sea of ties: candidates >= the threshold overflow */
    for (size_t i = 0; i < d; i++)
        x[i] = (i % 1000 == 3) ? 10.0f : 1.0f;
    s_check_topk ("topk:0.01", x, d);
    free (x);
}

static void
test_topk_residual_contracts_by_one_minus_k_over_d (void **state)
{
    const size_t d = 5000;
    for (int t = 0; t < 20; t++) {
        float *x = s_randvec (d, 100 + t), *y = malloc (d * sizeof *y);
        const size_t ks[] = { 1, 50, 1000, 4999 };
        for (int j = 0; j < 4; j++) {
            char spec[32];
            snprintf (spec, sizeof spec, "topk:%zu", ks[j]);
            mdl_codec_t *c = s_new (spec, d);
            size_t len;
            uint8_t *p = s_encode (c, x, &len);
            assert_int_equal (mdl_codec_decode (c, p, len, y), 0);
            double e = 0, n = 0;
            for (size_t i = 0; i < d; i++) {
                e += ((double) x[i] - y[i]) * ((double) x[i] - y[i]);
                n += (double) x[i] * x[i];
            }
            assert_true (e <= (1.0 - (double) ks[j] / d) * n);
            free (p);
            mdl_codec_destroy (&c);
        }
        free (x);
        free (y);
    }
}

static void
test_index_encoding_takes_the_smaller_of_varint_and_bitmap (void **state)
{
    const size_t d = 10000;
    float *x = s_randvec (d, 21);
    mdl_codec_t *c = s_new ("topk:100", d);
    size_t len;
    uint8_t *p = s_encode (c, x, &len);
    assert_int_equal (p[0], 0); /* 100 gaps of ~100: 100-200 bytes < 1250 */
    assert_true (mdl_ld32 (p + 4) <= 200);
    free (p);
    mdl_codec_destroy (&c);
    c = s_new ("topk:0.5", d);
    p = s_encode (c, x, &len);
    assert_int_equal (p[0], 1); /* 5000 varints >= 5000 bytes > 1250 */
    assert_int_equal (mdl_ld32 (p + 4), 1250);
    assert_int_equal (len, 8 + 1252 + 4 * 5000);
    free (p);
    mdl_codec_destroy (&c);
    free (x);
}

static void
test_sparse_apply_touches_only_the_k_entries (void **state)
{
    const size_t d = 1000;
    float *x = s_randvec (d, 22), *y = malloc (d * sizeof *y);
    const char *specs[] = { "topk:10", "randk:10", "topk:10+q4" };
    for (int s = 0; s < 3; s++) {
        mdl_codec_t *c = s_new (specs[s], d);
        size_t len;
        uint8_t *p = s_encode (c, x, &len);
        for (size_t i = 0; i < d; i++)
            y[i] = 7.0f;
        assert_int_equal (mdl_codec_apply (c, p, len, 0.5f, y), 0);
        const uint32_t *idx;
        const float *val;
        size_t nnz, changed = 0;
        assert_int_equal (mdl_codec_decode_sparse (c, p, len, &idx, &val, &nnz), 0);
        for (size_t i = 0; i < d; i++)
            changed += y[i] != 7.0f;
        assert_true (changed <= 10);
        for (size_t j = 0; j < nnz; j++)
            assert_true (y[idx[j]] == 7.0f + 0.5f * val[j]);
        free (p);
        mdl_codec_destroy (&c);
    }
    mdl_codec_t *c = s_new ("q8", 10);
    const uint32_t *idx;
    const float *val;
    size_t nnz;
    assert_int_equal (mdl_codec_decode_sparse (c, "", 0, &idx, &val, &nnz), MDL_ENOTSUP);
    mdl_codec_destroy (&c);
    free (x);
    free (y);
}

static void
test_topk_with_q8_values_is_within_the_value_step (void **state)
{
    const size_t d = 20000;
    float *x = s_randvec (d, 23), *y = malloc (d * sizeof *y);
    mdl_codec_t *c = s_new ("topk:0.05+q8", d), *ref = s_new ("topk:0.05", d);
    size_t len, rlen;
    uint8_t *p = s_encode (c, x, &len), *rp = s_encode (ref, x, &rlen);
    assert_true (len < rlen / 2);
    assert_int_equal (mdl_codec_decode (c, p, len, y), 0);
    const uint32_t *idx;
    const float *val;
    size_t nnz;
    assert_int_equal (mdl_codec_decode_sparse (ref, rp, rlen, &idx, &val, &nnz), 0);
    double maxabs = 0;
    for (size_t j = 0; j < nnz; j++)
        maxabs = fmax (maxabs, fabs (val[j]));
    for (size_t j = 0; j < nnz; j++)
        assert_true (fabs ((double) y[idx[j]] - val[j]) <= 2 * maxabs / 255 / 2 * 1.001);
    free (p);
    free (rp);
    free (x);
    free (y);
    mdl_codec_destroy (&c);
    mdl_codec_destroy (&ref);
}

/* ---- random-k --------------------------------------------------------------------- */

static void
test_randk_indices_are_rebuilt_from_the_seed_and_scaled_randk_is_unbiased (void **state)
{
    const size_t d = 50, N = 20000;
    float *x = s_randvec (d, 24), *y = malloc (d * sizeof *y);
    double *sum = calloc (d, sizeof *sum);
    mdl_codec_t *tx = s_new ("randk:5", d), *rx = s_new ("randk:5", d);
    mdl_rng_t r;
    mdl_rng_seed (&r, 1, 2);
    uint8_t p[8 + 4 * 5];
    for (size_t t = 0; t < N; t++) {
        size_t len;
        assert_int_equal (mdl_codec_encode (tx, x, p, sizeof p, &len, &r), 0);
        assert_int_equal (len, 8 + 4 * 5); /* seed + values, no indices */
        assert_int_equal (mdl_codec_decode (rx, p, len, y), 0);
        size_t nz = 0;
        for (size_t i = 0; i < d; i++) {
            if (y[i] != 0.0f) {
                nz++;
                assert_float_equal (y[i], x[i] * 10.0f, 1e-5);
            }
            sum[i] += y[i];
        }
        assert_int_equal (nz, 5);
    }
    for (size_t i = 0; i < d; i++) {
        /* var of one encoding = x^2 (d/k - 1) */
        const double se = fabs (x[i]) * 3.0 / sqrt ((double) N);
        assert_true (fabs (sum[i] / N - x[i]) <= 5 * se + 1e-6);
    }
    free (x);
    free (y);
    free (sum);
    mdl_codec_destroy (&tx);
    mdl_codec_destroy (&rx);
}

/* ---- untrusted payloads ----------------------------------------------------------- */

static void
test_decoders_reject_nonfinite_values_and_bad_scales (void **state)
{
    float x[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, y[10];
    mdl_codec_t *c = s_new ("fp32", 10);
    uint8_t p[40];
    memcpy (p, x, 40);
    mdl_stf (p + 12, NAN);
    assert_int_equal (mdl_codec_decode (c, p, 40, y), MDL_EWIRE_NONFINITE);
    mdl_stf (p + 12, -INFINITY);
    assert_int_equal (mdl_codec_apply (c, p, 40, 1.0f, y), MDL_EWIRE_NONFINITE);
    mdl_codec_destroy (&c);

    const char *scaled[] = { "qsgd:4:4", "sign:4", "q8:4", "q4:4", "bf16" };
    for (int s = 0; s < 5; s++) {
        c = s_new (scaled[s], 10);
        size_t len;
        uint8_t *q = s_encode (c, x, &len);
        assert_int_equal (mdl_codec_check (c, q, len), 0);
        mdl_st32 (q + 4, 0x7fc00000u); /* second scale (or bf16 pair) = NaN */
        assert_int_equal (mdl_codec_check (c, q, len), MDL_EWIRE_NONFINITE);
        if (s < 4) {
            mdl_stf (q + 4, -1.0f); /* negative scale / step (q8: second block's min ok) */
            assert_int_equal (mdl_codec_check (c, q, len), MDL_EWIRE_PAYLOAD);
        }
        free (q);
        mdl_codec_destroy (&c);
    }
    /* q8 whose decoded values would overflow */
    c = s_new ("q8:10", 10);
    size_t len;
    uint8_t *q = s_encode (c, x, &len);
    mdl_stf (q, 3e38f);
    mdl_stf (q + 4, 1e37f);
    assert_int_equal (mdl_codec_check (c, q, len), MDL_EWIRE_NONFINITE);
    free (q);
    mdl_codec_destroy (&c);
    /* and the encoder refuses a block it cannot represent */
    c = s_new ("q8", 2);
    float big[2] = { -3e38f, 3e38f };
    uint8_t out[16];
    assert_int_equal (mdl_codec_encode (c, big, out, sizeof out, &len, NULL), MDL_ERANGE);
    mdl_codec_destroy (&c);
}

static void
test_decoders_reject_nonzero_padding_bits (void **state)
{
    float x[9] = { 1, -2, 3, -4, 5, -6, 7, -8, 9 };
    const char *specs[] = { "sign", "q4", "qsgd:3" };
    for (int s = 0; s < 3; s++) {
        mdl_codec_t *c = s_new (specs[s], 9);
        size_t len;
        uint8_t *p = s_encode (c, x, &len);
        assert_int_equal (mdl_codec_check (c, p, len), 0);
        p[len - 1] |= 0x80;
        assert_int_equal (mdl_codec_check (c, p, len), MDL_EWIRE_PAYLOAD);
        free (p);
        mdl_codec_destroy (&c);
    }
}

static void
test_sparse_decoder_rejects_bad_indices (void **state)
{
    float y[20];
    mdl_codec_t *c = s_new ("topk:3", 20);
    /* hand-made varint payloads: header, gaps, padding, 3 fp32 values */
    uint8_t p[8 + 4 + 12];
    memset (p, 0, sizeof p);
    mdl_st32 (p + 4, 3);
    const uint8_t good[3] = { 1, 4, 10 }; /* indices 0, 4, 14 */
    memcpy (p + 8, good, 3);
    for (int j = 0; j < 3; j++)
        mdl_stf (p + 12 + 4 * j, 1.0f);
    assert_int_equal (mdl_codec_decode (c, p, sizeof p, y), 0);
    assert_true (y[0] == 1 && y[4] == 1 && y[14] == 1 && y[1] == 0);
    p[8 + 2] = 16; /* index 4 + 16 = 20 >= d */
    assert_int_equal (mdl_codec_decode (c, p, sizeof p, y), MDL_EWIRE_INDEX);
    p[8 + 2] = 0; /* repeated index: not strictly increasing */
    assert_int_equal (mdl_codec_decode (c, p, sizeof p, y), MDL_EWIRE_INDEX);
    p[8 + 2] = 10;
    p[8 + 3] = 7; /* padding byte */
    assert_int_equal (mdl_codec_decode (c, p, sizeof p, y), MDL_EWIRE_PAYLOAD);
    p[8 + 3] = 0;
    p[0] = 2; /* unknown index format */
    assert_int_equal (mdl_codec_decode (c, p, sizeof p, y), MDL_EWIRE_PAYLOAD);
    p[0] = 0;
    mdl_st32 (p + 4, 2); /* index bytes end before 3 indices */
    p[8 + 2] = 0;
    assert_int_equal (mdl_codec_decode (c, p, sizeof p, y), MDL_EWIRE_LENGTH);
    p[8 + 2] = 10;
    mdl_st32 (p + 4, 0xfffffff0u); /* index length beyond the payload */
    assert_int_equal (mdl_codec_decode (c, p, sizeof p, y), MDL_EWIRE_LENGTH);
    mdl_st32 (p + 4, 4); /* one byte left over after 3 indices */
    p[8 + 3] = 1;
    assert_int_equal (mdl_codec_decode (c, p, sizeof p, y), MDL_EWIRE_LENGTH);
    mdl_st32 (p + 4, 3);
    p[8 + 3] = 0;
    p[8] = 0x81; /* a varint running on past 5 bytes */
    p[9] = 0x80;
    p[10] = 0x80;
    mdl_st32 (p + 4, 4);
    p[11] = 0x80;
    assert_int_not_equal (mdl_codec_decode (c, p, sizeof p, y), 0);
    memcpy (p + 8, good, 3);
    p[11] = 0;
    mdl_st32 (p + 4, 3);
    mdl_stf (p + 16, INFINITY);
    assert_int_equal (mdl_codec_decode (c, p, sizeof p, y), MDL_EWIRE_NONFINITE);
    mdl_codec_destroy (&c);

    /* bitmap: 20 bits = 3 bytes */
    c = s_new ("topk:3", 20);
    uint8_t b[8 + 4 + 12];
    memset (b, 0, sizeof b);
    b[0] = 1;
    mdl_st32 (b + 4, 3);
    b[8] = 0x11;
    b[10] = 0x04; /* indices 0, 4, 18 */
    assert_int_equal (mdl_codec_decode (c, b, sizeof b, y), 0);
    assert_true (y[18] == 0.0f && y[0] == 0.0f);
    b[10] = 0x14; /* index 20: beyond d */
    assert_int_equal (mdl_codec_decode (c, b, sizeof b, y), MDL_EWIRE_INDEX);
    b[10] = 0x0c; /* four bits set, k = 3 */
    assert_int_equal (mdl_codec_decode (c, b, sizeof b, y), MDL_EWIRE_INDEX);
    b[10] = 0x00; /* two bits set */
    assert_int_equal (mdl_codec_decode (c, b, sizeof b, y), MDL_EWIRE_INDEX);
    mdl_st32 (b + 4, 2); /* bitmap of the wrong length */
    assert_int_equal (mdl_codec_decode (c, b, sizeof b, y), MDL_EWIRE_LENGTH);
    mdl_codec_destroy (&c);

    c = s_new ("randk:3", 20);
    assert_int_equal (mdl_codec_decode (c, b, 7, y), MDL_EWIRE_LENGTH);
    mdl_codec_destroy (&c);
}

static void
test_every_truncation_of_every_payload_is_refused (void **state)
{
    const size_t d = 77;
    float *x = s_randvec (d, 25), *y = malloc (d * sizeof *y);
    for (size_t s = 0; s < NSPECS; s++) {
        mdl_codec_t *c = s_new (s_specs[s], d);
        size_t len;
        uint8_t *p = s_encode (c, x, &len);
        for (size_t n = 0; n < len; n++) {
            uint8_t *q = malloc (n ? n : 1); /* exact size so ASan sees overreads */
            memcpy (q, p, n);
            if (mdl_codec_decode (c, q, n, y) == 0)
                fail_msg ("%s accepted %zu of %zu bytes", s_specs[s], n, len);
            free (q);
        }
        free (p);
        mdl_codec_destroy (&c);
    }
    free (x);
    free (y);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_every_codec_decodes_what_it_encodes_and_apply_agrees),
        cmocka_unit_test (test_spec_parser_accepts_valid_forms_and_rejects_others_with_help),
        cmocka_unit_test (test_names_and_params_are_resolved_for_d),
        cmocka_unit_test (test_encode_refuses_a_buffer_smaller_than_max_size),
        cmocka_unit_test (test_fp32_round_trips_denormals_and_signed_zero_exactly),
        cmocka_unit_test (test_fp16_matches_the_compiler_conversion_and_saturates),
        cmocka_unit_test (test_bf16_is_within_half_an_ulp_and_saturates),
        cmocka_unit_test (test_minmax_error_is_within_half_a_step_and_constant_blocks_are_exact),
        cmocka_unit_test (test_q8_fast_path_matches_the_scalar_reference),
        cmocka_unit_test (test_sign_error_is_the_l1_formula_so_it_contracts),
        cmocka_unit_test (test_qsgd_is_within_one_step_and_unbiased),
        cmocka_unit_test (test_topk_selects_exactly_what_a_full_sort_selects),
        cmocka_unit_test (test_topk_takes_ties_by_lowest_index_also_when_all_values_are_equal),
        cmocka_unit_test (test_topk_residual_contracts_by_one_minus_k_over_d),
        cmocka_unit_test (test_index_encoding_takes_the_smaller_of_varint_and_bitmap),
        cmocka_unit_test (test_sparse_apply_touches_only_the_k_entries),
        cmocka_unit_test (test_topk_with_q8_values_is_within_the_value_step),
        cmocka_unit_test (test_randk_indices_are_rebuilt_from_the_seed_and_scaled_randk_is_unbiased),
        cmocka_unit_test (test_decoders_reject_nonfinite_values_and_bad_scales),
        cmocka_unit_test (test_decoders_reject_nonzero_padding_bits),
        cmocka_unit_test (test_sparse_decoder_rejects_bad_indices),
        cmocka_unit_test (test_every_truncation_of_every_payload_is_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
