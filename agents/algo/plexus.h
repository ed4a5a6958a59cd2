/*  plexus.h: Plexus's sample of a round as a pure function (algo/plexus.c), so that the
    property the protocol rests on, every agent computing the same sample and aggregator
    from the same view, can be tested without agents. */
#ifndef MDL_PLEXUS_H
#define MDL_PLEXUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether agent id is offline in round (arg: the caller's); NULL: nobody is. */
typedef bool (mdl_plexus_offline_fn) (void *arg, uint64_t id, uint64_t round);

/* The sample of round: the members of view (n ids, in any order) sorted by
   mdl_rng_hash3 (seed, round, id), offline ones skipped, the first S of them, into out
   (S at most); returns how many (fewer when fewer are online). out[0] is the round's
   aggregator, out[1] the next in the order (who redoes the round when out[0] vanishes),
   and so on. The result depends on (seed, round, the set of ids, S, offline) only. */
size_t mdl_plexus_sample (uint64_t seed, uint64_t round, const uint64_t *view, size_t n, size_t S,
                          mdl_plexus_offline_fn *offline, void *arg, uint64_t *out);

#endif
