/*  test_partition.c: IID, Dirichlet and label-shard partitions; spec parsing. */
#include "testutil.h"

#include "err.h"
#include "partition.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { CLASSES = 10 };

/* n labels drawn uniformly from CLASSES classes (fixed seed). */
static int32_t *
s_random_labels (size_t n)
{
    int32_t *y = malloc (n * sizeof *y);
    assert_non_null (y);
    mdl_rng_t rng;
    mdl_rng_seed (&rng, 42, 7);
    for (size_t i = 0; i < n; i++)
        y[i] = (int32_t) mdl_rng_below (&rng, CLASSES);
    return y;
}

static mdl_part_spec_t
s_spec (const char *s)
{
    mdl_part_spec_t spec;
    assert_int_equal (mdl_part_parse (s, &spec), MDL_OK);
    return spec;
}

static mdl_partition_t *
s_part (const char *s, const int32_t *y, size_t n, uint32_t agents, uint64_t seed)
{
    mdl_part_spec_t spec = s_spec (s);
    int err = 1;
    mdl_partition_t *p = mdl_partition_new (&spec, y, n, CLASSES, agents, seed, &err);
    assert_int_equal (err, MDL_OK);
    assert_non_null (p);
    assert_int_equal (mdl_partition_agents (p), agents);
    return p;
}

/* Every row in exactly one shard, every shard non-empty and strictly ascending. */
static void
s_check_cover (const mdl_partition_t *p, size_t n)
{
    unsigned char *seen = calloc (n, 1);
    assert_non_null (seen);
    size_t total = 0;
    for (uint32_t a = 0; a < mdl_partition_agents (p); a++) {
        size_t c;
        const uint32_t *rows = mdl_partition_shard (p, a, &c);
        assert_true (c >= 1);
        for (size_t j = 0; j < c; j++) {
            assert_true (rows[j] < n);
            assert_int_equal (seen[rows[j]], 0);
            seen[rows[j]] = 1;
            if (j)
                assert_true (rows[j - 1] < rows[j]);
        }
        total += c;
    }
    assert_int_equal (total, n);
    free (seen);
}

static int
s_same (const mdl_partition_t *a, const mdl_partition_t *b)
{
    if (mdl_partition_agents (a) != mdl_partition_agents (b))
        return 0;
    for (uint32_t i = 0; i < mdl_partition_agents (a); i++) {
        size_t ca, cb;
        const uint32_t *ra = mdl_partition_shard (a, i, &ca);
        const uint32_t *rb = mdl_partition_shard (b, i, &cb);
        if (ca != cb || memcmp (ra, rb, ca * sizeof *ra) != 0)
            return 0;
    }
    return 1;
}

/* Label histogram of agent a's shard into h[CLASSES]; returns the shard size. */
static size_t
s_hist (const mdl_partition_t *p, uint32_t a, const int32_t *y, size_t *h)
{
    size_t c;
    const uint32_t *rows = mdl_partition_shard (p, a, &c);
    memset (h, 0, CLASSES * sizeof *h);
    for (size_t j = 0; j < c; j++)
        h[y[rows[j]]]++;
    return c;
}

/* Mean over agents of the largest class fraction of their shard: 0.1 for perfectly
   mixed shards of 10 classes, 1 when every agent holds a single class. */
static double
s_mean_max_fraction (const mdl_partition_t *p, const int32_t *y)
{
    double sum = 0.0;
    uint32_t agents = mdl_partition_agents (p);
    for (uint32_t a = 0; a < agents; a++) {
        size_t h[CLASSES], mx = 0;
        size_t c = s_hist (p, a, y, h);
        for (int k = 0; k < CLASSES; k++)
            if (h[k] > mx)
                mx = h[k];
        sum += (double) mx / (double) c;
    }
    return sum / agents;
}

static void
test_every_kind_covers_each_row_exactly_once (void **state)
{
    const char *specs[] = { "iid", "dirichlet:0.5", "dirichlet:0.05", "shards:2", "shards:1" };
    const size_t ns[] = { 1000, 6007, 60000 };
    const uint32_t agents[] = { 1, 7, 10, 100 };
    for (size_t ni = 0; ni < 3; ni++) {
        int32_t *y = s_random_labels (ns[ni]);
        for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++)
            for (size_t ai = 0; ai < 4; ai++) {
                mdl_partition_t *p = s_part (specs[s], y, ns[ni], agents[ai], 1);
                s_check_cover (p, ns[ni]);
                mdl_partition_destroy (&p);
                assert_null (p);
                mdl_partition_destroy (&p);
            }
        free (y);
    }
}

static void
test_same_seed_gives_the_same_partition_and_another_seed_another (void **state)
{
    const char *specs[] = { "iid", "dirichlet:0.5", "shards:2" };
    const size_t n = 5000;
    int32_t *y = s_random_labels (n);
    for (size_t s = 0; s < 3; s++) {
        mdl_partition_t *a = s_part (specs[s], y, n, 10, 1234);
        mdl_partition_t *b = s_part (specs[s], y, n, 10, 1234);
        mdl_partition_t *c = s_part (specs[s], y, n, 10, 1235);
        assert_true (s_same (a, b));
        assert_false (s_same (a, c));
        mdl_partition_destroy (&a);
        mdl_partition_destroy (&b);
        mdl_partition_destroy (&c);
    }
    free (y);
}

static void
test_iid_sizes_differ_by_at_most_one_and_labels_are_mixed (void **state)
{
    const size_t n = 60000;
    int32_t *y = s_random_labels (n);
    /* 60000 / 7 is not whole: sizes 8571 and 8572. */
    mdl_partition_t *p = s_part ("iid", y, n, 7, 9);
    size_t lo = n, hi = 0;
    for (uint32_t a = 0; a < 7; a++) {
        size_t h[CLASSES], c = s_hist (p, a, y, h);
        lo = c < lo ? c : lo;
        hi = c > hi ? c : hi;
        /* Each class is ~857 +- 28 (binomial sd): far inside +-20%. */
        for (int k = 0; k < CLASSES; k++)
            assert_true (fabs ((double) h[k] / (double) c - 0.1) < 0.02);
    }
    assert_true (hi - lo <= 1);
    assert_int_equal (lo, n / 7);
    mdl_partition_destroy (&p);

    /* Rows with labels in order: a split without the shuffle would give pure shards. */
    for (size_t i = 0; i < n; i++)
        y[i] = (int32_t) (i * CLASSES / n);
    p = s_part ("iid", y, n, 10, 9);
    assert_true (s_mean_max_fraction (p, y) < 0.13);
    mdl_partition_destroy (&p);
    free (y);
}

static void
test_dirichlet_skew_grows_as_alpha_shrinks (void **state)
{
    const size_t n = 20000;
    int32_t *y = s_random_labels (n);
    double f[3];
    const char *specs[] = { "dirichlet:10", "dirichlet:1", "dirichlet:0.1" };
    for (size_t s = 0; s < 3; s++) {
        /* Averaged over seeds so one lucky draw cannot decide the order. */
        f[s] = 0.0;
        for (uint64_t seed = 1; seed <= 5; seed++) {
            mdl_partition_t *p = s_part (specs[s], y, n, 20, seed);
            f[s] += s_mean_max_fraction (p, y) / 5.0;
            mdl_partition_destroy (&p);
        }
    }
    /* alpha = 10 is close to IID (~0.15); alpha = 0.1 leaves most agents with one or
       two dominant classes (~0.6). */
    assert_true (f[0] < 0.25);
    assert_true (f[0] < f[1]);
    assert_true (f[1] < f[2]);
    assert_true (f[2] > 0.45);
    assert_true (f[2] - f[0] > 0.3);
    free (y);
}

/* A golden partition: dirichlet:0.5 of 200 labels among 4 agents, seed 3, row by row
   (coverage, determinism and skew alone let a boundary shifted by one row pass). The rows
   were taken from this implementation; a change of the draw or of the cuts must show here
   and be deliberate (it changes every non-IID experiment's shards). */
static void
test_dirichlet_gives_each_agent_exactly_its_golden_rows (void **state)
{
    static const uint32_t a0[] = {
        0, 4, 5, 7, 11, 14, 15, 29, 37, 53, 58, 71, 78, 81, 82, 90, 105, 107, 120, 128, 129, 135,
        138, 145, 148, 161, 165, 175, 182, 186, 187, 189, 197
    };
    static const uint32_t a1[] = {
        3, 13, 17, 20, 22, 27, 28, 30, 33, 34, 46, 50, 51, 57, 60, 62, 63, 64, 70, 79, 94, 98, 102,
        103, 104, 119, 121, 130, 143, 144, 152, 153, 155, 156, 162, 163, 174, 191, 193, 195, 198
    };
    static const uint32_t a2[] = {
        1, 8, 9, 10, 16, 18, 19, 21, 25, 35, 41, 42, 45, 47, 49, 61, 65, 66, 68, 69, 73, 75, 80,
        89, 91, 92, 93, 97, 99, 101, 106, 110, 111, 112, 113, 115, 118, 122, 123, 125, 126, 132,
        133, 136, 139, 140, 142, 146, 147, 150, 151, 154, 157, 160, 171, 172, 173, 178, 181, 184,
        185, 188, 190, 196, 199
    };
    static const uint32_t a3[] = {
        2, 6, 12, 23, 24, 26, 31, 32, 36, 38, 39, 40, 43, 44, 48, 52, 54, 55, 56, 59, 67, 72, 74,
        76, 77, 83, 84, 85, 86, 87, 88, 95, 96, 100, 108, 109, 114, 116, 117, 124, 127, 131, 134,
        137, 141, 149, 158, 159, 164, 166, 167, 168, 169, 170, 176, 177, 179, 180, 183, 192, 194
    };
    const uint32_t *want[4] = { a0, a1, a2, a3 };
    const size_t lens[4] = { sizeof a0 / sizeof a0[0], sizeof a1 / sizeof a1[0], sizeof a2 / sizeof a2[0],
                             sizeof a3 / sizeof a3[0] };
    int32_t *y = s_random_labels (200);
    mdl_partition_t *p = s_part ("dirichlet:0.5", y, 200, 4, 3);
    for (uint32_t a = 0; a < 4; a++) {
        size_t c;
        const uint32_t *rows = mdl_partition_shard (p, a, &c);
        assert_int_equal (c, lens[a]);
        for (size_t j = 0; j < c; j++)
            assert_int_equal (rows[j], want[a][j]);
    }
    mdl_partition_destroy (&p);
    free (y);
}

static void
test_dirichlet_never_leaves_an_agent_empty (void **state)
{
    /* 200 agents, 10 classes, alpha 0.01: nearly every class lands on one agent, so
       almost all agents would be empty without the fix-up. agents == n forces exactly
       one row each. */
    const size_t n = 1000;
    int32_t *y = s_random_labels (n);
    const uint32_t agents[] = { 200, 999, 1000 };
    for (size_t i = 0; i < 3; i++) {
        mdl_partition_t *p = s_part ("dirichlet:0.01", y, n, agents[i], 3);
        s_check_cover (p, n);
        mdl_partition_destroy (&p);
    }
    /* alpha so small that every Gamma draw underflows to zero. */
    mdl_partition_t *p = s_part ("dirichlet:1e-300", y, n, 10, 3);
    s_check_cover (p, n);
    mdl_partition_destroy (&p);
    free (y);
}

static void
test_shards_2_gives_each_agent_two_labels_on_sorted_data (void **state)
{
    const size_t n = 60000;
    int32_t *y = malloc (n * sizeof *y);
    assert_non_null (y);
    for (size_t i = 0; i < n; i++)
        y[i] = (int32_t) (i * CLASSES / n);
    mdl_partition_t *p = s_part ("shards:2", y, n, 100, 5);
    size_t several = 0;
    for (uint32_t a = 0; a < 100; a++) {
        size_t h[CLASSES], distinct = 0, c = s_hist (p, a, y, h);
        assert_int_equal (c, 600);
        for (int k = 0; k < CLASSES; k++)
            distinct += h[k] > 0;
        /* 200 shards of 300 rows tile the 6000-row classes exactly: one label each. */
        assert_true (distinct >= 1 && distinct <= 2);
        several += distinct == 2;
    }
    /* The shard ids are shuffled, so most agents get two different labels. */
    assert_true (several > 50);
    mdl_partition_destroy (&p);

    /* Unsorted, uneven labels: the partitioner sorts; a shard may straddle two labels. */
    free (y);
    y = s_random_labels (n);
    p = s_part ("shards:2", y, n, 100, 5);
    double mean = 0.0;
    for (uint32_t a = 0; a < 100; a++) {
        size_t h[CLASSES], distinct = 0;
        s_hist (p, a, y, h);
        for (int k = 0; k < CLASSES; k++)
            distinct += h[k] > 0;
        assert_true (distinct <= 4);
        mean += distinct / 100.0;
    }
    assert_true (mean <= 2.5);
    mdl_partition_destroy (&p);
    free (y);
}

static void
test_parse_accepts_the_documented_specs (void **state)
{
    mdl_part_spec_t s;
    assert_int_equal (mdl_part_parse ("iid", &s), MDL_OK);
    assert_int_equal (s.kind, MDL_PART_IID);
    assert_int_equal (mdl_part_parse ("dirichlet:0.5", &s), MDL_OK);
    assert_int_equal (s.kind, MDL_PART_DIRICHLET);
    assert_true (s.alpha == 0.5);
    assert_int_equal (mdl_part_parse ("dirichlet:1e-3", &s), MDL_OK);
    assert_true (s.alpha == 1e-3);
    assert_int_equal (mdl_part_parse ("dirichlet:100", &s), MDL_OK);
    assert_true (s.alpha == 100.0);
    assert_int_equal (mdl_part_parse ("dirichlet:.25", &s), MDL_OK);
    assert_true (s.alpha == 0.25);
    assert_int_equal (mdl_part_parse ("shards:2", &s), MDL_OK);
    assert_int_equal (s.kind, MDL_PART_SHARDS);
    assert_int_equal (s.k, 2);
    assert_int_equal (mdl_part_parse ("shards:1", &s), MDL_OK);
    assert_int_equal (s.k, 1);
}

static void
test_parse_rejects_everything_else (void **state)
{
    const char *bad[] = {
        "", "IID", "iid ", " iid", "iid:1", "dirichlet", "dirichlet:", "dirichlet:0",
        "dirichlet:-1", "dirichlet:+1", "dirichlet: 1", "dirichlet:nan", "dirichlet:inf",
        "dirichlet:1e999", "dirichlet:0.5x", "dirichlet:0.5 ", "shards", "shards:",
        "shards:0", "shards:-2", "shards:+2", "shards:2.5", "shards:2x", "shards:0x10",
        "shards:99999999999999999999", "shards:3000000000", "random", "dirichlet0.5",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mdl_part_spec_t s = { .kind = MDL_PART_SHARDS, .alpha = 7.0, .k = 7 };
        assert_int_equal (mdl_part_parse (bad[i], &s), MDL_EINVAL);
        /* Left untouched on failure. */
        assert_int_equal (s.k, 7);
    }
    mdl_part_spec_t s;
    assert_int_equal (mdl_part_parse (NULL, &s), MDL_EINVAL);
}

static void
test_new_rejects_zero_agents_more_agents_than_rows_and_bad_specs (void **state)
{
    const size_t n = 100;
    int32_t *y = s_random_labels (n);
    int err = 0;
    mdl_part_spec_t iid = s_spec ("iid"), sh = s_spec ("shards:3");
    assert_null (mdl_partition_new (&iid, y, n, CLASSES, 0, 1, &err));
    assert_int_equal (err, MDL_EINVAL);
    assert_null (mdl_partition_new (&iid, y, n, CLASSES, 101, 1, &err));
    assert_int_equal (err, MDL_EINVAL);
    assert_null (mdl_partition_new (&iid, y, 0, CLASSES, 1, 1, &err));
    assert_int_equal (err, MDL_EINVAL);
    /* 34 agents * 3 shards > 100 rows: some shard would be empty. */
    assert_null (mdl_partition_new (&sh, y, n, CLASSES, 34, 1, &err));
    assert_int_equal (err, MDL_EINVAL);
    mdl_partition_t *p = mdl_partition_new (&sh, y, n, CLASSES, 33, 1, &err);
    assert_non_null (p);
    s_check_cover (p, n);
    mdl_partition_destroy (&p);
    /* A label outside [0, classes) or a hand-made bad spec. */
    y[17] = CLASSES;
    assert_null (mdl_partition_new (&sh, y, n, CLASSES, 2, 1, &err));
    assert_int_equal (err, MDL_EINVAL);
    y[17] = -1;
    assert_null (mdl_partition_new (&sh, y, n, CLASSES, 2, 1, &err));
    assert_int_equal (err, MDL_EINVAL);
    mdl_part_spec_t d = { .kind = MDL_PART_DIRICHLET, .alpha = 0.0 };
    y[17] = 0;
    assert_null (mdl_partition_new (&d, y, n, CLASSES, 2, 1, &err));
    assert_int_equal (err, MDL_EINVAL);
    d.alpha = NAN;
    assert_null (mdl_partition_new (&d, y, n, CLASSES, 2, 1, &err));
    assert_int_equal (err, MDL_EINVAL);
    /* IID needs no labels. */
    p = mdl_partition_new (&iid, NULL, n, 0, 100, 1, &err);
    assert_non_null (p);
    s_check_cover (p, n);
    mdl_partition_destroy (&p);
    free (y);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_every_kind_covers_each_row_exactly_once),
        cmocka_unit_test (test_same_seed_gives_the_same_partition_and_another_seed_another),
        cmocka_unit_test (test_iid_sizes_differ_by_at_most_one_and_labels_are_mixed),
        cmocka_unit_test (test_dirichlet_skew_grows_as_alpha_shrinks),
        cmocka_unit_test (test_dirichlet_gives_each_agent_exactly_its_golden_rows),
        cmocka_unit_test (test_dirichlet_never_leaves_an_agent_empty),
        cmocka_unit_test (test_shards_2_gives_each_agent_two_labels_on_sorted_data),
        cmocka_unit_test (test_parse_accepts_the_documented_specs),
        cmocka_unit_test (test_parse_rejects_everything_else),
        cmocka_unit_test (test_new_rejects_zero_agents_more_agents_than_rows_and_bad_specs),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
