/*  topo_ops.h: the plug-in contract of a topology (internal to broker-free/).

    One topology = one topo_<name>.c defining a const mdl_topo_ops_t, plus one line in
    the registry of topo.c (and its name in the help string there). The generic layer
    (topo.c) checks arguments, sorts rows and fills uniform weights; an implementation
    only lists the in-neighbours of one agent for one round. */
#ifndef MDL_TOPO_OPS_H
#define MDL_TOPO_OPS_H

#include "topo.h"

/* One row of W(t) being written: entries past cap are counted, not stored. */
typedef struct {
    uint32_t *nbr;   /* (cap) in-neighbour indices */
    double *w;       /* (cap) their weights, or NULL */
    size_t cap;
    size_t count;    /* entries pushed so far (may exceed cap) */
    double self;     /* the self-weight; only fixed-weight topologies set it */
} mdl_topo_row_t;

struct mdl_topo_t;

typedef struct {
    const char *name;      /* spec name, before the optional ":ARG" */
    bool has_arg;          /* spec is name:ARG with arg_min <= ARG <= arg_max */
    uint32_t arg_min, arg_max;
    bool directed;         /* W(t) may be non-symmetric */
    bool time_varying;     /* W(t) depends on t */
    bool fixed_weights;    /* row() sets w and self itself */
    /* Period for n >= 1 agents (>= 1), or 0 when aperiodic. */
    uint32_t (*period) (const struct mdl_topo_t *self, uint32_t n);
    /* Pushes the distinct in-neighbours of i (or out-neighbours when out) at round t,
       never i; any order. n >= 1 and i < n are checked by the caller. */
    void (*row) (const struct mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t,
                 bool out, mdl_topo_row_t *row);
    /* Optional fast in-degree; NULL means "count a row". */
    size_t (*degree) (const struct mdl_topo_t *self, uint32_t n, uint32_t i, uint64_t t);
} mdl_topo_ops_t;

struct mdl_topo_t {
    const mdl_topo_ops_t *ops;
    uint32_t arg;          /* K of base:K, D of random:D, else 0 */
    uint64_t seed;         /* cluster seed (random:D) */
    char name[32];         /* canonical spec */
};

/* Appends (j, w) to row; stores it only while there is room. */
static inline void
mdl_topo_row_push (mdl_topo_row_t *row, uint32_t j, double w)
{
    if (row->count < row->cap) {
        row->nbr[row->count] = j;
        if (row->w)
            row->w[row->count] = w;
    }
    row->count++;
}

extern const mdl_topo_ops_t mdl_topo_complete_ops;
extern const mdl_topo_ops_t mdl_topo_ring_ops;
extern const mdl_topo_ops_t mdl_topo_torus_ops;
extern const mdl_topo_ops_t mdl_topo_exp_ops;
extern const mdl_topo_ops_t mdl_topo_one_peer_exp_ops;
extern const mdl_topo_ops_t mdl_topo_base_ops;
extern const mdl_topo_ops_t mdl_topo_random_ops;

#endif
