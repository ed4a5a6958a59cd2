/*  topo_random.c: a random D-regular graph, re-drawn every round from (seed, t).

    The draw must be the same on every agent without talking, cheap for one row (an
    agent needs only its own neighbours), and exactly D-regular so that uniform and
    Metropolis-Hastings weights are both symmetric and doubly stochastic. So instead of
    the configuration model (retries, multi-edges, O(n) state) we take a random Cayley
    graph of Z_n under a random relabelling:

      S   = D/2 distinct offsets drawn from {1 .. floor((n-1)/2)} (Floyd's sampling),
            plus n/2 when D is odd (n is then even);
      pi  = a pseudo-random permutation of {0 .. n-1}: a 4-round Feistel network on
            the smallest even number of bits covering n-1, cycle-walked into [0, n);
      i ~ j  iff  pi^-1(i) - pi^-1(j) = +-s (mod n) for some s in S.

    Offsets s and n-s never both occur and s != n/2 except the odd-D one, so the graph
    is simple and exactly D-regular. A row costs O(D^2 + D) hash evaluations and no
    allocation. It is not the uniform distribution over D-regular graphs (Cayley graphs
    are vertex-transitive), but with fresh offsets and labels every round it is an
    expander-like random graph, which is what gossip wants.

    D is capped at n-1 (then the graph is complete); when n and D are both odd no
    D-regular graph exists, and D+1 (<= n-1) is used. */
#include "topo_ops.h"

#include "rng.h"

#define S_DMAX 256

typedef struct {
    uint32_t n;
    unsigned half;       /* bits per Feistel half */
    uint64_t mask;       /* (1 << half) - 1 */
    uint64_t key[4];
} s_perm_t;

/* splitmix64's finaliser: a good 64-bit mixing function. */
static uint64_t
s_mix (uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C (0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C (0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t
s_feistel (const s_perm_t *p, uint64_t x)
{
    uint64_t l = x >> p->half, r = x & p->mask;
    for (int k = 0; k < 4; k++) {
        uint64_t nl = r;
        r = l ^ (s_mix (r ^ p->key[k]) & p->mask);
        l = nl;
    }
    return (l << p->half) | r;
}

static uint64_t
s_feistel_inv (const s_perm_t *p, uint64_t x)
{
    uint64_t l = x >> p->half, r = x & p->mask;
    for (int k = 3; k >= 0; k--) {
        uint64_t pr = l;
        l = r ^ (s_mix (pr ^ p->key[k]) & p->mask);
        r = pr;
    }
    return (l << p->half) | r;
}

/* Cycle-walking keeps a permutation of [0, 4^half) a permutation of [0, n). */
static uint32_t
s_perm (const s_perm_t *p, uint32_t x)
{
    uint64_t y = s_feistel (p, x);
    while (y >= p->n)
        y = s_feistel (p, y);
    return (uint32_t) y;
}

static uint32_t
s_perm_inv (const s_perm_t *p, uint32_t y)
{
    uint64_t x = s_feistel_inv (p, y);
    while (x >= p->n)
        x = s_feistel_inv (p, x);
    return (uint32_t) x;
}

static uint32_t
s_effective_degree (uint32_t d, uint32_t n)
{
    if (d > n - 1)
        d = n - 1;
    if ((d & 1) && (n & 1))
        d++;
    return d;
}

/* The draw of round t: offsets[0..*k) and the relabelling. */
static void
s_draw (const mdl_topo_t *self, uint32_t n, uint64_t t, uint32_t *offsets,
        uint32_t *k, s_perm_t *perm)
{
    mdl_rng_t rng;
    mdl_rng_seed (&rng, self->seed, t);
    uint32_t d = s_effective_degree (self->arg, n);
    uint32_t m = (n - 1) / 2, want = d / 2;
    /* Floyd: want distinct values of {1..m} with want + 1 draws at most. */
    *k = 0;
    for (uint32_t j = m - want + 1; j <= m && want > 0; j++) {
        uint32_t v = 1 + (uint32_t) mdl_rng_below (&rng, j);
        for (uint32_t a = 0; a < *k; a++)
            if (offsets[a] == v) {
                v = j;
                break;
            }
        offsets[(*k)++] = v;
    }
    unsigned bits = 0;
    while (bits < 32 && (UINT64_C (1) << bits) < n)
        bits++;
    perm->n = n;
    perm->half = (bits + 1) / 2;
    perm->mask = (UINT64_C (1) << perm->half) - 1;
    for (int r = 0; r < 4; r++)
        perm->key[r] = mdl_rng_u64 (&rng);
}

static uint32_t
s_period (const mdl_topo_t *self, uint32_t n)
{
    return n <= 2 ? 1 : 0;
}

static void
s_row (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t, bool out,
       mdl_topo_row_t *row)
{
    if (n == 1)
        return;
    if (n == 2) {
        mdl_topo_row_push (row, 1 - i, 0.0);
        return;
    }
    uint32_t offsets[S_DMAX / 2], k;
    s_perm_t perm;
    s_draw (self, n, t, offsets, &k, &perm);
    uint64_t pos = s_perm_inv (&perm, i);
    for (uint32_t a = 0; a < k; a++) {
        mdl_topo_row_push (row, s_perm (&perm, (uint32_t) ((pos + offsets[a]) % n)), 0.0);
        mdl_topo_row_push (row, s_perm (&perm, (uint32_t) ((pos + n - offsets[a]) % n)), 0.0);
    }
    if (s_effective_degree (self->arg, n) & 1)
        mdl_topo_row_push (row, s_perm (&perm, (uint32_t) ((pos + n / 2) % n)), 0.0);
}

static size_t
s_degree (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t)
{
    return s_effective_degree (self->arg, n);
}

const mdl_topo_ops_t mdl_topo_random_ops = {
    .name = "random",
    .has_arg = true,
    .arg_min = 1,
    .arg_max = S_DMAX,
    .time_varying = true,
    .period = s_period,
    .row = s_row,
    .degree = s_degree,
};
