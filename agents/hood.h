/*  hood.h: an agent's neighbourhood, the peers it exchanges states with.

    An agent's resources (connections, mailboxes, replicas, parked queues) follow its
    neighbourhood, not the cluster: ring 2 peers, exp and one-peer-exp about 2 log2 n,
    base:K the partners of one period, random:D the draws of a window of rounds. It is a
    pure function of the graphs that may be used, the membership (n agents indexed by
    sorted id, this agent at me) and the round, so the comm actor (which opens what a
    neighbour needs before the worker sees the membership) and the worker (which prunes
    what it sends replica deltas to) derive the same sets without a message.

    Over which rounds: a periodic graph (static, one-peer-exp, base:K) repeats after its
    period p, so the union over rounds [0, p) covers every round and does not change
    while the membership holds. An aperiodic one (random:D) is taken over the window
    [w L, (w + 2) L) with w = round / L, L = MDL_HOOD_WINDOW: the current window and the
    next, so the neighbours of the next rounds are connected before their states come.

    Two sets: the in-neighbours (whose states this agent mixes: mailboxes, replicas,
    parked queues) and the talk set, in- and out-neighbours (every peer a message goes
    to or comes from, keyframe requests and skips travelling against the graph's
    direction too: SUB connections). Both are symmetric relations over the cluster:
    j talks with i exactly when i talks with j. */
#ifndef MDL_HOOD_H
#define MDL_HOOD_H

#include <stddef.h>
#include <stdint.h>

#include "topo.h"

#define MDL_HOOD_WINDOW 8   /* rounds per window of an aperiodic graph */

/* The window of round for graphs (0 for periodic ones): the neighbourhood changes only
   when this does (or the membership). */
uint64_t mdl_hood_window (const mdl_topo_t *const *graphs, size_t ngraphs, uint32_t n, uint64_t round);

/* Agent me's neighbourhood among n agents (indices of the sorted membership) over the
   union of graphs[0..ngraphs) at round's window: in-neighbours into in[0..*nin) and
   in- and out-neighbours into talk[0..*ntalk), both ascending, never me. in and talk
   must hold n entries each; mark is a workspace of n bytes. Returns 0, or the
   topology's error (MDL_EINVAL for n == 0 or me >= n). */
int mdl_hood_compute (const mdl_topo_t *const *graphs, size_t ngraphs, uint32_t n, uint32_t me, uint64_t round,
                      uint32_t *in, size_t *nin, uint32_t *talk, size_t *ntalk, uint8_t *mark);

#endif
