/*  topo_complete.c: the complete graph; W = 11^T / n, spectral gap 1. */
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
    for (uint32_t j = 0; j < n; j++)
        if (j != i)
            mdl_topo_row_push (row, j, 0.0);
}

static size_t
s_degree (const mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t)
{
    return n - 1;
}

const mdl_topo_ops_t mdl_topo_complete_ops = {
    .name = "complete",
    .period = s_period,
    .row = s_row,
    .degree = s_degree,
};
