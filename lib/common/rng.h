/* rng: a deterministic random number generator (xoshiro256**, seeded by
 * splitmix64). The same seed and stream give the same numbers on every
 * machine; tools derive one stream per sample or per worker from the user's
 * --seed so results do not depend on thread timing. */
#ifndef TGS_RNG_H
#define TGS_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} tgs_rng;

/* Seed from a user seed and a stream number (sample index, epoch, ...). */
void tgs_rng_seed(tgs_rng *r, uint64_t seed, uint64_t stream);
uint64_t tgs_rng_u64(tgs_rng *r);
uint32_t tgs_rng_u32(tgs_rng *r);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint32_t tgs_rng_below(tgs_rng *r, uint32_t n);
/* Uniform float in [0, 1) with 24 random bits. */
float tgs_rng_uniform(tgs_rng *r);
/* Standard normal (Box-Muller; uses two uniforms per call, no cached state). */
float tgs_rng_normal(tgs_rng *r);

#endif
