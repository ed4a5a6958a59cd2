/*  vec.h: operations on flat float vectors of length d.

    Everything above lib/ (optimizers, codecs, gossip, checkpoints) sees a model only as
    such a vector. Plain loops the compiler vectorises; no allocation. Sums are
    accumulated in double so that norms of 10^7-element vectors stay accurate. */
#ifndef MDL_VEC_H
#define MDL_VEC_H

#include <stdbool.h>
#include <stddef.h>

void mdl_vec_zero (float *x, size_t d);
void mdl_vec_copy (float *dst, const float *src, size_t d);
/* y += a * x */
void mdl_vec_axpy (float *y, float a, const float *x, size_t d);
/* x *= a */
void mdl_vec_scale (float *x, float a, size_t d);
/* dst = a - b */
void mdl_vec_sub (float *dst, const float *a, const float *b, size_t d);
double mdl_vec_dot (const float *x, const float *y, size_t d);
/* ||x||^2 */
double mdl_vec_norm2 (const float *x, size_t d);
/* ||x - y||^2 */
double mdl_vec_dist2 (const float *x, const float *y, size_t d);

/* A 52-bit digest of the bits of x (exact in a double, so it can travel in a message
   header's aux field): equal vectors, bit for bit, give equal digests. Word-wise
   multiply-xorshift, about one pass of memory bandwidth. */
double mdl_vec_digest (const float *x, size_t d);
/* x <- a * x + b * y + sum_k c[k] * v[k], in one blocked pass over x (y may be NULL).
   The gossip mixing step: memory-bound, so one pass instead of one per neighbour. */
void mdl_vec_mix (float *x, float a, const float *y, float b, const float *const *v,
                  const float *c, size_t k, size_t d);

/* mdl_vec_mix for vectors received from peers (k <= MDL_VEC_MIX_MAX): each v[j] is
   checked for NaN/Inf block by block (1024 elements) as the mix reads it, so the check
   costs no pass over memory of its own. A block of v[j] holding one is replaced by the
   agent's own value there (y, or x as it was): its weight c[j] goes to that term, so
   every element stays a combination of finite values; bad[j] (k entries) is set.
   dist2 (k entries, or NULL) receives ||x - v[j]||^2 over v[j]'s finite blocks, x as it
   was before the mix (summed in float lanes per block: an estimate, to ~1e-6). With every v[j] finite, x ends bit for bit as mdl_vec_mix leaves
   it. Returns how many v[j] had a non-finite block. */
#define MDL_VEC_MIX_MAX 1024
size_t mdl_vec_mix_checked (float *x, float a, const float *y, float b, const float *const *v, const float *c,
                            size_t k, size_t d, bool *bad, double *dist2);

/* mdl_vec_mix_checked writing into x what y mixes to: x <- b * y + sum_k c[k] * v[k],
   x's old contents not read (x and y must not overlap). The own value of a replaced
   block, and the origin of dist2, is y. Bit for bit what mdl_vec_mix_checked (x, b, NULL,
   0, v, c, k, d, ...) leaves in x when x held y: the mix of a vector that lives elsewhere
   (an outgoing message) straight into its destination, without copying it there first. */
size_t mdl_vec_mix_from_checked (float *x, const float *y, float b, const float *const *v, const float *c, size_t k,
                                 size_t d, bool *bad, double *dist2);

/* true when every element is finite (no NaN, no Inf) */
bool mdl_vec_isfinite (const float *x, size_t d);

#endif
