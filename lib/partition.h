/*  partition.h: splitting a dataset's rows among N agents, deterministically from a seed.

    Every agent computes the whole partition from the same (spec, labels, N, seed) and
    takes its own shard, so no coordination is needed. Shards are disjoint; IID and
    shards:K cover every row; Dirichlet covers every row as well (each row goes to one
    agent drawn from that class's Dirichlet proportions). */
#ifndef MDL_PARTITION_H
#define MDL_PARTITION_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    MDL_PART_IID = 0,       /* shuffled, equal-size shards */
    MDL_PART_DIRICHLET = 1, /* per-class proportions p_c ~ Dir(alpha) over agents */
    MDL_PART_SHARDS = 2,    /* rows sorted by label cut in N*K shards, K per agent */
} mdl_part_kind_t;

typedef struct {
    mdl_part_kind_t kind;
    double alpha; /* DIRICHLET: concentration > 0; smaller = more skewed */
    int k;        /* SHARDS: label shards per agent >= 1 */
} mdl_part_spec_t;

typedef struct mdl_partition_t mdl_partition_t;

/* Parses "iid", "dirichlet:ALPHA" or "shards:K". Returns 0 or MDL_EINVAL. */
int mdl_part_parse (const char *s, mdl_part_spec_t *out);

/* Partitions n rows with labels (in [0, classes)) among agents, from seed.
   Every agent gets at least one row: a Dirichlet draw that leaves an agent empty is
   redrawn (up to 16 times), then single rows are moved to the empty agents from agents
   holding two or more. labels may be NULL for IID only. NULL + *err on failure
   (MDL_EINVAL: agents == 0, agents > n, n >= 2^32, agents * K > n for shards:K,
   a label outside [0, classes), bad spec; MDL_ENOMEM).
   Caller owns the return value and must destroy it. */
mdl_partition_t *mdl_partition_new (const mdl_part_spec_t *spec, const int32_t *labels,
                                    size_t n, int classes, uint32_t agents, uint64_t seed,
                                    int *err);

/* Destroys p and sets *p to NULL; safe on NULL. */
void mdl_partition_destroy (mdl_partition_t **p);

uint32_t mdl_partition_agents (const mdl_partition_t *p);

/* Row indices of agent i's shard (ascending), count in *count. Valid until destroy. */
const uint32_t *mdl_partition_shard (const mdl_partition_t *p, uint32_t i, size_t *count);

#endif
