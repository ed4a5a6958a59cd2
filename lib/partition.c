/*  partition.c: deterministic IID, Dirichlet and label-shard partitions (see partition.h).

    Every method first decides an owner agent for each row; one counting pass then lays
    the rows out agent by agent in row order, which makes each shard ascending and the
    shards disjoint and covering by construction. All randomness comes from one rng
    seeded with (seed, S_STREAM), so every agent computes the same partition. */
#include "partition.h"

#include "err.h"
#include "rng.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct mdl_partition_t {
    uint32_t agents;
    uint32_t *rows; /* (n) row indices, agent 0's shard first, each shard ascending */
    size_t *off;    /* (agents + 1) agent i owns rows[off[i] .. off[i + 1]) */
};

/* rng stream reserved for partitioning ("PART"), apart from init/sampling streams. */
#define S_STREAM 0x50415254u

/* Dirichlet draws that leave an agent without rows are redrawn this many times before
   rows are moved (see s_fill_empty). Small: with many agents and a small alpha, empty
   agents are the rule and redrawing would rarely help. */
#define S_REDRAWS 16

static void
s_set_err (int *err, int code)
{
    if (err)
        *err = code;
}

int
mdl_part_parse (const char *s, mdl_part_spec_t *out)
{
    mdl_part_spec_t spec = { .kind = MDL_PART_IID, .alpha = 0.0, .k = 0 };
    if (!s || !out)
        return MDL_EINVAL;
    if (strcmp (s, "iid") == 0) {
        *out = spec;
        return MDL_OK;
    }
    if (strncmp (s, "dirichlet:", 10) == 0) {
        const char *v = s + 10;
        char *end;
        /* strtod would skip leading blanks and a sign; the option takes a bare number. */
        if (!((*v >= '0' && *v <= '9') || *v == '.'))
            return MDL_EINVAL;
        errno = 0;
        double a = strtod (v, &end);
        if (*end != '\0' || errno == ERANGE || !isfinite (a) || !(a > 0.0))
            return MDL_EINVAL;
        spec.kind = MDL_PART_DIRICHLET;
        spec.alpha = a;
        *out = spec;
        return MDL_OK;
    }
    if (strncmp (s, "shards:", 7) == 0) {
        const char *v = s + 7;
        char *end;
        if (!(*v >= '0' && *v <= '9'))
            return MDL_EINVAL;
        errno = 0;
        long k = strtol (v, &end, 10);
        if (*end != '\0' || errno == ERANGE || k < 1 || k > INT_MAX)
            return MDL_EINVAL;
        spec.kind = MDL_PART_SHARDS;
        spec.k = (int) k;
        *out = spec;
        return MDL_OK;
    }
    return MDL_EINVAL;
}

static int
s_cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

/* Fills order[0..n) with 0..n-1 sorted by (label, index): a stable sort by label that
   is the same on every machine whatever qsort's algorithm. Sorting (label << 32 | index)
   keys needs no class-sized table (classes comes from the data and may be large) and
   no comparator state, so threads may partition at once. Labels are >= 0 (checked).
   Returns 0 or MDL_ENOMEM. */
static int
s_sort_by_label (uint32_t *order, const int32_t *labels, size_t n)
{
    uint64_t *key = malloc (n * sizeof *key);
    if (!key)
        return MDL_ENOMEM;
    for (size_t i = 0; i < n; i++)
        key[i] = (uint64_t) (uint32_t) labels[i] << 32 | (uint64_t) i;
    qsort (key, n, sizeof *key, s_cmp_u64);
    for (size_t i = 0; i < n; i++)
        order[i] = (uint32_t) key[i];
    free (key);
    return MDL_OK;
}

/* IID: shuffle, then cut into equal contiguous pieces; piece a is
   [a * n / agents, (a + 1) * n / agents), so sizes differ by at most one. */
static void
s_owner_iid (mdl_rng_t *rng, uint32_t *owner, uint32_t *perm, size_t n, uint32_t agents)
{
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t) i;
    mdl_rng_shuffle (rng, perm, n);
    for (uint32_t a = 0; a < agents; a++) {
        size_t lo = (size_t) a * n / agents, hi = (size_t) (a + 1) * n / agents;
        for (size_t j = lo; j < hi; j++)
            owner[perm[j]] = a;
    }
}

/* shards:K: rows sorted by label are cut into agents * K equal contiguous shards; a
   shuffled list of shard ids gives shards perm[a*K .. a*K+K) to agent a (McMahan et al.
   2017's pathological non-IID split). order holds rows sorted by label; needs
   agents * K <= n (checked by the caller). */
static void
s_owner_shards (mdl_rng_t *rng, uint32_t *owner, const uint32_t *order, uint32_t *perm,
                size_t n, uint32_t agents, size_t k)
{
    const size_t nshards = (size_t) agents * k;
    for (size_t s = 0; s < nshards; s++)
        perm[s] = (uint32_t) s;
    mdl_rng_shuffle (rng, perm, nshards);
    for (size_t j = 0; j < nshards; j++) {
        const size_t s = perm[j];
        const uint32_t a = (uint32_t) (j / k);
        const size_t lo = s * n / nshards, hi = (s + 1) * n / nshards;
        for (size_t r = lo; r < hi; r++)
            owner[order[r]] = a;
    }
}

/* Dirichlet(alpha), as in FedML / Hsu et al. 2019: for each class c, draw proportions
   p_c ~ Dir(alpha) over the agents (normalised Gamma(alpha, 1) draws), shuffle that
   class's rows and give agent a the slice [floor(m * P_{a-1}), floor(m * P_a)) where P
   is the running sum of p_c and m the class size. order holds rows sorted by label;
   p is scratch of length agents. */
static void
s_owner_dirichlet (mdl_rng_t *rng, uint32_t *owner, uint32_t *order, double *p,
                   size_t n, const int32_t *labels, uint32_t agents, double alpha)
{
    size_t lo = 0;
    while (lo < n) {
        size_t hi = lo + 1;
        while (hi < n && labels[order[hi]] == labels[order[lo]])
            hi++;
        const size_t m = hi - lo;
        double sum = 0.0;
        for (uint32_t a = 0; a < agents; a++)
            sum += p[a] = mdl_rng_gamma (rng, alpha);
        mdl_rng_shuffle (rng, order + lo, m);
        if (!(sum > 0.0) || !isfinite (sum)) {
            /* For alpha near 0 every Gamma draw can underflow to 0. Dir(alpha) tends to
               a vertex chosen uniformly as alpha -> 0, so the class goes to one agent. */
            const uint32_t a = (uint32_t) mdl_rng_below (rng, agents);
            for (size_t r = lo; r < hi; r++)
                owner[order[r]] = a;
        } else {
            double cum = 0.0;
            size_t start = lo;
            for (uint32_t a = 0; a < agents; a++) {
                cum += p[a] / sum;
                /* The last agent takes the remainder, so rounding never drops a row. */
                size_t end = a + 1 == agents ? hi : lo + (size_t) ((double) m * cum);
                if (end > hi)
                    end = hi;
                for (size_t r = start; r < end; r++)
                    owner[order[r]] = a;
                if (end > start)
                    start = end;
            }
        }
        lo = hi;
    }
}

/* Counts rows per agent into count[0..agents); returns the number of empty agents. */
static size_t
s_count (const uint32_t *owner, size_t n, size_t *count, uint32_t agents)
{
    memset (count, 0, agents * sizeof *count);
    for (size_t i = 0; i < n; i++)
        count[owner[i]]++;
    size_t empty = 0;
    for (uint32_t a = 0; a < agents; a++)
        empty += count[a] == 0;
    return empty;
}

/* Gives every empty agent one row: rows are visited in a random order and a row whose
   owner has two or more is handed to the next empty agent. Enough such rows exist since
   n >= agents: the surplus sum(count - 1 over non-empty) = n - non-empty >= empty. The
   donors are thus drawn in proportion to their surplus, and each loses at most what
   keeps it non-empty. perm is scratch of length n. */
static void
s_fill_empty (mdl_rng_t *rng, uint32_t *owner, size_t *count, uint32_t *perm, size_t n,
              uint32_t agents)
{
    uint32_t next = 0;
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t) i;
    mdl_rng_shuffle (rng, perm, n);
    for (size_t j = 0; j < n; j++) {
        while (next < agents && count[next] > 0)
            next++;
        if (next == agents)
            return;
        const uint32_t r = perm[j];
        if (count[owner[r]] >= 2) {
            count[owner[r]]--;
            owner[r] = next;
            count[next]++;
        }
    }
    assert (0 && "n >= agents guarantees enough donor rows");
}

mdl_partition_t *
mdl_partition_new (const mdl_part_spec_t *spec, const int32_t *labels, size_t n,
                   int classes, uint32_t agents, uint64_t seed, int *err)
{
    mdl_partition_t *self = NULL;
    uint32_t *owner = NULL, *order = NULL, *perm = NULL;
    size_t *count = NULL;
    double *p = NULL;
    int rc = MDL_EINVAL;

    /* Row indices are uint32 and every agent needs at least one row. */
    if (!spec || agents == 0 || n > UINT32_MAX || agents > n)
        goto err;
    /* Only a 32-bit size_t can fail this; the scratch arrays below are n * 8 bytes. */
    if (n > SIZE_MAX / sizeof (uint64_t)) {
        rc = MDL_ENOMEM;
        goto err;
    }
    switch (spec->kind) {
    case MDL_PART_IID:
        break;
    case MDL_PART_DIRICHLET:
        if (!isfinite (spec->alpha) || !(spec->alpha > 0.0))
            goto err;
        break;
    case MDL_PART_SHARDS:
        /* Every shard needs a row: agents * K <= n (n < 2^32, so no overflow in size_t
           once K is bounded by n). */
        if (spec->k < 1 || (size_t) spec->k > n || (size_t) agents * (size_t) spec->k > n)
            goto err;
        break;
    default:
        goto err;
    }
    if (spec->kind != MDL_PART_IID) {
        if (!labels || classes < 1)
            goto err;
        for (size_t i = 0; i < n; i++)
            if (labels[i] < 0 || labels[i] >= classes)
                goto err;
    }

    rc = MDL_ENOMEM;
    self = calloc (1, sizeof *self);
    if (!self)
        goto err;
    self->agents = agents;
    self->rows = malloc (n * sizeof *self->rows);
    self->off = malloc (((size_t) agents + 1) * sizeof *self->off);
    owner = malloc (n * sizeof *owner);
    order = malloc (n * sizeof *order);
    perm = malloc (n * sizeof *perm);
    count = malloc ((size_t) agents * sizeof *count);
    if (!self->rows || !self->off || !owner || !order || !perm || !count)
        goto err;

    mdl_rng_t rng;
    mdl_rng_seed (&rng, seed, S_STREAM);
    switch (spec->kind) {
    case MDL_PART_IID:
        s_owner_iid (&rng, owner, perm, n, agents);
        s_count (owner, n, count, agents);
        break;
    case MDL_PART_SHARDS:
        if (s_sort_by_label (order, labels, n))
            goto err;
        s_owner_shards (&rng, owner, order, perm, n, agents, (size_t) spec->k);
        s_count (owner, n, count, agents);
        break;
    case MDL_PART_DIRICHLET:
        p = malloc ((size_t) agents * sizeof *p);
        if (!p)
            goto err;
        /* Rows sorted once; each draw reshuffles within classes, which only permutes
           rows of one label among themselves. Redraws continue the same rng stream,
           so the result stays a function of the seed. */
        if (s_sort_by_label (order, labels, n))
            goto err;
        for (int t = 0;; t++) {
            s_owner_dirichlet (&rng, owner, order, p, n, labels, agents, spec->alpha);
            if (s_count (owner, n, count, agents) == 0)
                break;
            if (t + 1 == S_REDRAWS) {
                s_fill_empty (&rng, owner, count, perm, n, agents);
                break;
            }
        }
        break;
    }

    /* Lay rows out agent by agent; visiting rows in order keeps each shard ascending. */
    self->off[0] = 0;
    for (uint32_t a = 0; a < agents; a++)
        self->off[a + 1] = self->off[a] + count[a];
    memcpy (count, self->off, (size_t) agents * sizeof *count);
    for (size_t i = 0; i < n; i++)
        self->rows[count[owner[i]]++] = (uint32_t) i;

    free (owner);
    free (order);
    free (perm);
    free (count);
    free (p);
    s_set_err (err, MDL_OK);
    return self;
err:
    free (owner);
    free (order);
    free (perm);
    free (count);
    free (p);
    mdl_partition_destroy (&self);
    s_set_err (err, rc);
    return NULL;
}

void
mdl_partition_destroy (mdl_partition_t **p)
{
    if (!p || !*p)
        return;
    free ((*p)->rows);
    free ((*p)->off);
    free (*p);
    *p = NULL;
}

uint32_t
mdl_partition_agents (const mdl_partition_t *p)
{
    return p->agents;
}

const uint32_t *
mdl_partition_shard (const mdl_partition_t *p, uint32_t i, size_t *count)
{
    assert (i < p->agents);
    if (count)
        *count = p->off[i + 1] - p->off[i];
    return p->rows + p->off[i];
}
