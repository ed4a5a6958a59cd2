/*  topo_base.c: the Base-(k+1) graph, time-varying with exact finite-time averaging.

    Takezawa, Sato, Bao, Niwa, Yamada, "Beyond Exponential Graph: Communication-
    Efficient Topologies for Decentralized Learning via Finite-time Convergence",
    NeurIPS 2023 (arXiv:2305.11420). Our own formulation of the construction; b = k+1.
    Every W(t) is symmetric and doubly stochastic, gives each agent at most k
    neighbours, and W(p-1)...W(1)W(0) = 11^T / n for every n. Three pieces:

    1. Clique rounds ("k-peer hyper-hypercube", for N whose prime factors are all
       <= b). Write N = f_0 f_1 ... f_{q-1} with every f_j <= b and give each node its
       mixed-radix digits. Round j averages every node with the f_j - 1 nodes that
       differ from it only in digit j (a clique of f_j, weights 1/f_j). After round j
       every node holds the mean over digits 0..j, so after q rounds the global mean.

    2. Simple Base-(k+1) graph, any N. Write N in base b, N = sum_l a_l b^{p_l} with
       p_0 > p_1 > ... > p_{L-1} >= 0 and 1 <= a_l <= k, and cut the nodes (in index
       order) into groups V_l of n_l = a_l b^{p_l}, each made of a_l subgroups of b^{p_l}.
       Let s_l = n_l + n_{l+1} + ... + n_{L-1} (the tail from l on).
       a) Clique rounds inside every V_l at once (radices b,...,b,a_l): p_0 + [a_0>1]
          rounds; V_l then holds its mean.
       b) Merge step m = 0 .. L-2, one round each: every node of the tail T = V_{m+1}
          .. V_{L-1} (position q in T) pairs with the q-th node of each of the a_m
          subgroups of V_m; q < s_{m+1} <= b^{p_m} - 1, so partners are distinct. The
          T node keeps s_{m+1}/s_m and takes b^{p_m}/s_m from each partner; a partner
          keeps 1 - b^{p_m}/s_m. Symmetric, doubly stochastic, degree a_m <= k.
          Induction: before step m all of V_m holds one value, each group of T holds
          one value, and V_m..V_{L-1} together hold s_m mu (mu = global mean). After
          it, T holds s_{m+1} mu (each of its groups still uniform) and so V_m holds
          n_m mu; every subgroup of V_m received the same values, so all subgroups
          have the same sum, n_m mu / a_m.
       c) Right after step m, the p_m clique rounds of radix b inside every subgroup
          of V_m bring all of V_m to mu. They overlap later merges (which touch only
          T), so V_m finishes at step m + p_m, and the last group gets mu from the
          final merge directly.
       Length: p_0 + [a_0>1] + max(L-1, max_{m<L-1} m+1+p_m) = p_0 + [a_0>1] + 1 + p_0
       (L >= 2) <= 2 floor(log_b N) + 2, the same schedule length as the authors' code
       (github.com/yukiTakezawa/BaseGraph). Their code also averages the unmatched
       nodes of V_m in small cliques during merge m ("inner edges"); we leave them
       idle, which changes neither exactness nor length.

    3. Base-(k+1) graph: n = A R with A the part of n made of primes <= b. Averaging
       the A blocks of R consecutive nodes (simple graph on R, in parallel), then the
       R columns {c, c+R, ...} of A nodes (clique rounds) is exact as well, and often
       shorter. As in the paper, whichever of this and the simple graph on n is
       shorter is used (ties go to the product form).

    Everything is computed in closed form for one (node, round): O(log n) per row,
    no allocation, no state. */
#include "topo_ops.h"

#define S_MAXDIG 34       /* base-b digits of a uint32, b >= 2, plus room */

typedef struct {
    uint64_t b;
    uint32_t L;                  /* number of non-zero digits */
    uint64_t a[S_MAXDIG];        /* digit a_l, 1..b-1 */
    uint32_t p[S_MAXDIG];        /* its power, decreasing */
    uint64_t bp[S_MAXDIG];       /* b^p_l: subgroup size */
    uint64_t st[S_MAXDIG];       /* first node of V_l */
    uint64_t nl[S_MAXDIG];       /* |V_l| = a_l b^p_l */
    uint64_t s[S_MAXDIG];        /* |V_l| + ... + |V_{L-1}| */
    uint32_t phase1;             /* clique rounds of step a) */
    uint32_t len;                /* total rounds, 0 when N = 1 */
} s_simple_t;

typedef struct {
    uint64_t n, A, R;
    uint32_t q;                  /* number of factors of A */
    uint64_t f[S_MAXDIG];        /* A = f_0 ... f_{q-1}, each <= b */
    bool product;                /* blocks of R then columns of A, else simple on n */
    s_simple_t simple;           /* on R when product, else on n */
    uint32_t len;                /* period, >= 1 */
} s_plan_t;

static void
s_simple_init (s_simple_t *g, uint64_t N, uint64_t b)
{
    g->b = b;
    uint64_t pw = 1;
    uint32_t top = 0;
    while (pw <= N / b) {
        pw *= b;
        top++;
    }
    g->L = 0;
    uint64_t rest = N, start = 0;
    for (uint32_t e = top + 1; e-- > 0; pw /= b) {
        uint64_t d = rest / pw;
        rest -= d * pw;
        if (d == 0)
            continue;
        uint32_t l = g->L++;
        g->a[l] = d;
        g->p[l] = e;
        g->bp[l] = pw;
        g->st[l] = start;
        g->nl[l] = d * pw;
        start += d * pw;
    }
    g->s[g->L - 1] = g->nl[g->L - 1];
    for (uint32_t l = g->L - 1; l-- > 0;)
        g->s[l] = g->s[l + 1] + g->nl[l];
    g->phase1 = g->p[0] + (g->a[0] > 1);
    uint32_t tail = g->L - 1;
    for (uint32_t m = 0; m + 1 < g->L; m++)
        if (m + 1 + g->p[m] > tail)
            tail = m + 1 + g->p[m];
    g->len = g->phase1 + tail;
}

/* The nodes in x's clique of radix `radix` at digit stride `stride`, mapped to global
   indices off + local * scale; weights 1/radix. */
static void
s_clique (uint64_t x, uint64_t stride, uint64_t radix, uint64_t off, uint64_t scale,
          mdl_topo_row_t *row)
{
    uint64_t digit = (x / stride) % radix, base = x - digit * stride;
    double w = 1.0 / (double) radix;
    for (uint64_t c = 0; c < radix; c++)
        if (c != digit)
            mdl_topo_row_push (row, (uint32_t) (off + (base + c * stride) * scale), w);
    row->self = w;
}

/* Row of local node x at round r of the simple graph g. */
static void
s_simple_row (const s_simple_t *g, uint64_t x, uint32_t r, uint64_t off, uint64_t scale,
              mdl_topo_row_t *row)
{
    uint32_t l = 0;
    while (l + 1 < g->L && x >= g->st[l + 1])
        l++;
    uint64_t u = x - g->st[l], b = g->b;
    if (r < g->phase1) {                              /* a) inside V_l */
        if (r < g->p[l]) {
            uint64_t stride = 1;
            for (uint32_t e = 0; e < r; e++)
                stride *= b;
            s_clique (u, stride, b, off + g->st[l] * scale, scale, row);
        } else if (r == g->p[l] && g->a[l] > 1)
            s_clique (u, g->bp[l], g->a[l], off + g->st[l] * scale, scale, row);
        return;
    }
    uint32_t m = r - g->phase1;
    if (m + 1 < g->L && l >= m) {                     /* b) merge step m */
        double beta = (double) g->bp[m] / (double) g->s[m];
        if (l > m) {
            uint64_t q = x - g->st[m + 1];
            for (uint64_t c = 0; c < g->a[m]; c++)
                mdl_topo_row_push (row, (uint32_t) (off + (g->st[m] + c * g->bp[m] + q) * scale),
                                   beta);
            row->self = (double) g->s[m + 1] / (double) g->s[m];
        } else {
            uint64_t q = u % g->bp[m];
            if (q < g->s[m + 1]) {
                mdl_topo_row_push (row, (uint32_t) (off + (g->st[m + 1] + q) * scale), beta);
                row->self = 1.0 - beta;
            }
        }
        return;
    }
    if (l < m && l + 1 < g->L && m - l - 1 < g->p[l]) {   /* c) re-average V_l */
        uint32_t e = m - l - 1;
        uint64_t stride = 1;
        for (uint32_t k = 0; k < e; k++)
            stride *= b;
        uint64_t v = u % g->bp[l];
        s_clique (v, stride, b, off + (g->st[l] + u - v) * scale, scale, row);
    }
}

static void
s_plan (s_plan_t *pl, uint64_t n, uint64_t b)
{
    pl->n = n;
    uint64_t rest = n, A = 1;
    for (uint64_t f = 2; f <= b && f <= rest; f++)   /* composite f never divides */
        while (rest % f == 0) {
            rest /= f;
            A *= f;
        }
    pl->A = A;
    pl->R = rest;
    /* Greedy: the largest factor <= b first. Any factorisation averages exactly; the
       greedy one is minimal in all cases we met, and never longer than the bound. */
    pl->q = 0;
    for (uint64_t left = A; left > 1;)
        for (uint64_t f = b < left ? b : left; f >= 2; f--)
            if (left % f == 0) {
                pl->f[pl->q++] = f;
                left /= f;
                break;
            }
    s_simple_t whole;
    s_simple_init (&whole, n, b);
    s_simple_init (&pl->simple, rest, b);
    uint32_t len_product = pl->simple.len + pl->q;
    pl->product = len_product <= whole.len;
    if (!pl->product)
        pl->simple = whole;
    pl->len = pl->product ? len_product : whole.len;
    if (pl->len == 0)
        pl->len = 1;
}

static uint32_t
s_period (const mdl_topo_t *self, uint32_t n)
{
    s_plan_t pl;
    s_plan (&pl, n, (uint64_t) self->arg + 1);
    return pl.len;
}

static void
s_row (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t, bool out,
       mdl_topo_row_t *row)
{
    s_plan_t pl;
    s_plan (&pl, n, (uint64_t) self->arg + 1);
    uint32_t r = (uint32_t) (t % pl.len);
    if (!pl.product) {
        s_simple_row (&pl.simple, i, r, 0, 1, row);
        return;
    }
    uint64_t R = pl.R;
    if (r < pl.simple.len) {
        s_simple_row (&pl.simple, i % R, r, (i / R) * R, 1, row);
        return;
    }
    uint32_t j = r - pl.simple.len;
    if (j >= pl.q)                                   /* n = 1: the one idle round */
        return;
    uint64_t stride = 1;
    for (uint32_t k = 0; k < j; k++)
        stride *= pl.f[k];
    s_clique (i / R, stride, pl.f[j], i % R, R, row);
}

const mdl_topo_ops_t mdl_topo_base_ops = {
    .name = "base",
    .has_arg = true,
    .arg_min = 1,
    .arg_max = 1024,
    .time_varying = true,
    .fixed_weights = true,
    .period = s_period,
    .row = s_row,
};
