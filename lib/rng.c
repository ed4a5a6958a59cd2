/*  rng.c: xoshiro256** (Blackman & Vigna 2018) with splitmix64 seeding. */
#include "rng.h"

#include <math.h>

static uint64_t
s_splitmix64 (uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t
s_rotl (uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t
mdl_rng_hash3 (uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t x = a;
    uint64_t h = s_splitmix64 (&x);
    x = h ^ b;
    h = s_splitmix64 (&x);
    x = h ^ c;
    return s_splitmix64 (&x);
}

void
mdl_rng_seed (mdl_rng_t *rng, uint64_t seed, uint64_t stream)
{
    /* Mixing the stream through splitmix first keeps (seed, stream) pairs with nearby
       values far apart in state space. */
    uint64_t x = seed ^ s_splitmix64 (&(uint64_t){ stream * 0x632be59bd9b4e019ULL + 1 });
    for (int i = 0; i < 4; i++)
        rng->s[i] = s_splitmix64 (&x);
}

uint64_t
mdl_rng_u64 (mdl_rng_t *rng)
{
    uint64_t *s = rng->s;
    const uint64_t result = s_rotl (s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s_rotl (s[3], 45);
    return result;
}

uint64_t
mdl_rng_below (mdl_rng_t *rng, uint64_t n)
{
    /* Lemire's nearly-divisionless method with 128-bit multiply. */
    uint64_t x = mdl_rng_u64 (rng);
    unsigned __int128 m = (unsigned __int128) x * n;
    uint64_t l = (uint64_t) m;
    if (l < n) {
        uint64_t t = -n % n;
        while (l < t) {
            x = mdl_rng_u64 (rng);
            m = (unsigned __int128) x * n;
            l = (uint64_t) m;
        }
    }
    return (uint64_t) (m >> 64);
}

float
mdl_rng_uniform (mdl_rng_t *rng)
{
    return (float) (mdl_rng_u64 (rng) >> 40) * 0x1.0p-24f;
}

double
mdl_rng_double (mdl_rng_t *rng)
{
    return (double) (mdl_rng_u64 (rng) >> 11) * 0x1.0p-53;
}

double
mdl_rng_normal (mdl_rng_t *rng)
{
    double u, v, s;
    do {
        u = 2.0 * mdl_rng_double (rng) - 1.0;
        v = 2.0 * mdl_rng_double (rng) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    return u * sqrt (-2.0 * log (s) / s);
}

void
mdl_rng_normal_fill (mdl_rng_t *rng, float *out, size_t n, double sd)
{
    /* in float: the values are stored as floats; logf and sqrtf are the cost here */
    const float sdf = (float) sd;
    size_t i = 0;
    while (i < n) {
        const uint64_t r = mdl_rng_u64 (rng);
        /* 24 bits each, centred on their grid: u, v in (-1, 1), never 0 or +-1 */
        const float u = ((float) (uint32_t) (r >> 40) + 0.5f) * 0x1.0p-23f - 1.0f;
        const float v = ((float) (uint32_t) ((r >> 8) & 0xffffffu) + 0.5f) * 0x1.0p-23f - 1.0f;
        const float s = u * u + v * v;
        if (s >= 1.0f)
            continue;
        const float f = sdf * sqrtf (-2.0f * logf (s) / s);
        out[i++] = u * f;
        if (i < n)
            out[i++] = v * f;
    }
}

double
mdl_rng_gamma (mdl_rng_t *rng, double shape)
{
    if (shape < 1.0) {
        /* Gamma(a) = Gamma(a + 1) * U^(1/a) */
        double u;
        do
            u = mdl_rng_double (rng);
        while (u == 0.0);
        return mdl_rng_gamma (rng, shape + 1.0) * pow (u, 1.0 / shape);
    }
    const double d = shape - 1.0 / 3.0, c = 1.0 / sqrt (9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = mdl_rng_normal (rng);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        double u = mdl_rng_double (rng);
        if (u < 1.0 - 0.0331 * x * x * x * x)
            return d * v;
        if (u > 0.0 && log (u) < 0.5 * x * x + d * (1.0 - v + log (v)))
            return d * v;
    }
}

void
mdl_rng_shuffle (mdl_rng_t *rng, uint32_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t) mdl_rng_below (rng, i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
