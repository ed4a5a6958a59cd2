/*  topo_ring.c: the ring (cycle) i -- i+1 (mod n).

    With uniform weights 1/3 (n >= 3) W is circulant with eigenvalues
    (1 + 2 cos(2 pi k / n)) / 3, so the spectral gap shrinks as 1/n^2. */
#include "topo_ops.h"

static uint32_t
s_period (const mdl_topo_t *self, uint32_t n)
{
    return 1;
}

static void
s_row (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t, bool out,
       mdl_topo_row_t *row)
{
    if (n == 1)
        return;
    uint32_t prev = (i + n - 1) % n, next = (i + 1) % n;
    mdl_topo_row_push (row, prev, 0.0);
    if (next != prev)                       /* n = 2: one neighbour, not two */
        mdl_topo_row_push (row, next, 0.0);
}

static size_t
s_degree (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t)
{
    return n >= 3 ? 2 : n - 1;
}

const mdl_topo_ops_t mdl_topo_ring_ops = {
    .name = "ring",
    .period = s_period,
    .row = s_row,
    .degree = s_degree,
};
