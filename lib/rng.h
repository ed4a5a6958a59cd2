/*  rng.h: a fast, seedable random number generator (xoshiro256**, seeded by splitmix64).

    A value type on purpose: it sits in hot loops (dropout-free init, sampling,
    stochastic quantization) and is copied to give independent streams. Two rngs seeded
    with the same (seed, stream) produce the same numbers on every machine. */
#ifndef MDL_RNG_H
#define MDL_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} mdl_rng_t;

/* Seeds rng from (seed, stream): different streams of one seed are independent
   sequences (used for per-agent and per-purpose streams). */
void mdl_rng_seed (mdl_rng_t *rng, uint64_t seed, uint64_t stream);

/* Next 64 random bits. */
uint64_t mdl_rng_u64 (mdl_rng_t *rng);

/* Uniform integer in [0, n), unbiased (Lemire's method); n must be > 0. */
uint64_t mdl_rng_below (mdl_rng_t *rng, uint64_t n);

/* Uniform float in [0, 1) with 24 random bits. */
float mdl_rng_uniform (mdl_rng_t *rng);

/* Uniform double in [0, 1) with 53 random bits. */
double mdl_rng_double (mdl_rng_t *rng);

/* Standard normal N(0, 1) (Marsaglia polar method). */
double mdl_rng_normal (mdl_rng_t *rng);

/* out[0..n) = sd * N(0, 1), for initialising large parameter vectors: the polar method
   with both of each pair's normals kept, each pair's two uniforms drawn from one 64-bit
   output (24 bits each) and float arithmetic, about 4x faster than n calls of
   mdl_rng_normal (a 20 M
   parameter model's initialisation was most of an agent's start-up CPU). A different
   stream from mdl_rng_normal's for the same state; the same for the same state. */
void mdl_rng_normal_fill (mdl_rng_t *rng, float *out, size_t n, double sd);

/* Gamma(shape, 1) for shape > 0 (Marsaglia-Tsang; boosted for shape < 1). */
double mdl_rng_gamma (mdl_rng_t *rng, double shape);

/* 64 bits that depend on (a, b, c) alone, well mixed (splitmix64 rounds): a draw every
   machine can compute without sharing a stream, e.g. a trace indexed by (seed, id, round). */
uint64_t mdl_rng_hash3 (uint64_t a, uint64_t b, uint64_t c);

/* Shuffles idx[0..n) in place (Fisher-Yates). */
void mdl_rng_shuffle (mdl_rng_t *rng, uint32_t *idx, size_t n);

#endif
