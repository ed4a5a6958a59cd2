/*  hood.c: see hood.h. */
#include "hood.h"

#include <string.h>

#include "err.h"

/* The rounds to cover: [*from, *from + *len). Periodic graphs: one period from 0 (a
   static graph's period is 1); an aperiodic one makes the whole union aperiodic. */
static void
s_span (const mdl_topo_t *const *graphs, size_t ngraphs, uint32_t n, uint64_t round, uint64_t *from, uint64_t *len)
{
    uint64_t span = 1;
    bool aperiodic = false;
    for (size_t g = 0; g < ngraphs; g++) {
        int p = mdl_topo_period (graphs[g], n);
        if (p <= 0)
            aperiodic = true;
        else if ((uint64_t) p > span)
            span = (uint64_t) p;
    }
    if (aperiodic) {
        *from = round / MDL_HOOD_WINDOW * MDL_HOOD_WINDOW;
        *len = 2 * MDL_HOOD_WINDOW;
    } else {
        /* The periods of several graphs (the graph and its --adaptive-degree partner)
           need not divide each other: each graph's own period is covered by the
           longest, since each repeats after its own. */
        *from = 0;
        *len = span;
    }
}

uint64_t
mdl_hood_window (const mdl_topo_t *const *graphs, size_t ngraphs, uint32_t n, uint64_t round)
{
    uint64_t from = 0, len = 1;
    if (n > 0)
        s_span (graphs, ngraphs, n, round, &from, &len);
    return from / MDL_HOOD_WINDOW;
}

int
mdl_hood_compute (const mdl_topo_t *const *graphs, size_t ngraphs, uint32_t n, uint32_t me, uint64_t round,
                  uint32_t *in, size_t *nin, uint32_t *talk, size_t *ntalk, uint8_t *mark)
{
    *nin = *ntalk = 0;
    if (n == 0 || me >= n)
        return MDL_EINVAL;
    memset (mark, 0, n);
    uint64_t from, len;
    s_span (graphs, ngraphs, n, round, &from, &len);
    /* talk[] is the row buffer until the end (a row has at most n - 1 entries). */
    for (size_t g = 0; g < ngraphs; g++) {
        /* a graph whose period is shorter repeats inside the span: its own period is enough */
        int p = mdl_topo_period (graphs[g], n);
        const uint64_t glen = p > 0 && (uint64_t) p < len ? (uint64_t) p : len;
        for (uint64_t t = from; t < from + glen; t++) {
            size_t cnt = 0;
            int rc = mdl_topo_neighbors (graphs[g], n, me, t, talk, n, &cnt);
            if (rc)
                return rc;
            for (size_t k = 0; k < cnt; k++)
                mark[talk[k]] |= 1;
            if (!mdl_topo_directed (graphs[g]))
                continue; /* out-neighbours are the in-neighbours */
            if ((rc = mdl_topo_out_neighbors (graphs[g], n, me, t, talk, n, &cnt)))
                return rc;
            for (size_t k = 0; k < cnt; k++)
                mark[talk[k]] |= 2;
        }
    }
    for (uint32_t j = 0; j < n; j++) {
        if (j == me || !mark[j])
            continue;
        if (mark[j] & 1)
            in[(*nin)++] = j;
        talk[(*ntalk)++] = j;
    }
    return 0;
}
