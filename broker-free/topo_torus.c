/*  topo_torus.c: the 2-D torus on the most square r x c rectangle with r * c = n.

    r is the largest divisor of n with r * r <= n, so r <= c; agent i sits at row
    i / c, column i % c and hears its 4 grid neighbours with wrap-around. Smaller
    cases are the same rule with duplicates removed: r = 2 (up = down) gives 3
    neighbours, r = 1 (n prime, or n <= 3) is the ring. Every case is regular, so
    uniform weights are doubly stochastic. With r, c >= 3 and weights 1/5 the
    eigenvalues are (1 + 2 cos(2 pi a / r) + 2 cos(2 pi b / c)) / 5. */
#include "topo_ops.h"

static uint32_t
s_period (const mdl_topo_t *self, uint32_t n)
{
    return 1;
}

/* Largest divisor of n not above sqrt(n). O(sqrt n). */
static uint32_t
s_rows (uint32_t n)
{
    uint32_t r = 1;
    for (uint64_t d = 1; d * d <= n; d++)
        if (n % d == 0)
            r = (uint32_t) d;
    return r;
}

/* The distinct neighbours of i, into nb[0..4); returns how many. */
static size_t
s_neighbours (uint32_t n, uint32_t i, uint32_t nb[4])
{
    uint32_t r = s_rows (n), c = n / r;
    uint32_t y = i / c, x = i % c;
    uint32_t cand[4] = {
        y * c + (x + c - 1) % c,
        y * c + (x + 1) % c,
        ((y + r - 1) % r) * c + x,
        ((y + 1) % r) * c + x,
    };
    size_t cnt = 0;
    for (size_t a = 0; a < 4; a++) {
        bool dup = cand[a] == i;
        for (size_t b = 0; b < cnt; b++)
            dup = dup || nb[b] == cand[a];
        if (!dup)
            nb[cnt++] = cand[a];
    }
    return cnt;
}

static void
s_row (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t, bool out,
       mdl_topo_row_t *row)
{
    uint32_t nb[4];
    size_t cnt = s_neighbours (n, i, nb);
    for (size_t a = 0; a < cnt; a++)
        mdl_topo_row_push (row, nb[a], 0.0);
}

const mdl_topo_ops_t mdl_topo_torus_ops = {
    .name = "torus",
    .period = s_period,
    .row = s_row,
};
