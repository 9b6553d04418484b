#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void tgs_rng_seed(tgs_rng *r, uint64_t seed, uint64_t stream) {
    /* mix the stream through splitmix first so seeds s and streams t do not
     * alias (seed 1 stream 0 vs seed 0 stream 1) */
    uint64_t x = stream;
    uint64_t k = splitmix64(&x);
    x = seed ^ k;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t tgs_rng_u64(tgs_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint32_t tgs_rng_u32(tgs_rng *r) { return (uint32_t)(tgs_rng_u64(r) >> 32); }

uint32_t tgs_rng_below(tgs_rng *r, uint32_t n) {
    /* Lemire's multiply-and-reject */
    uint64_t m = (uint64_t)tgs_rng_u32(r) * n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (lo < threshold) {
            m = (uint64_t)tgs_rng_u32(r) * n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

float tgs_rng_uniform(tgs_rng *r) { return (float)(tgs_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

float tgs_rng_normal(tgs_rng *r) {
    /* 1 - u is in (0, 1], so the log is finite */
    double u1 = 1.0 - (double)(tgs_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    double u2 = (double)(tgs_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
