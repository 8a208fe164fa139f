/*
 * rng.h - xoshiro256** pseudo-random numbers: fast, seedable, not for secrets.
 *
 * A struct hc_rng is owned by its caller and used by one thread at a time.
 */
#ifndef HC_RNG_H
#define HC_RNG_H

#include <stdint.h>

struct hc_rng {
    uint64_t s[4];
};

/* Seed deterministically from one 64-bit value (expanded with splitmix64). */
void hc_rng_seed(struct hc_rng *r, uint64_t seed);
/* Seed from the kernel's entropy (getrandom); falls back to time and pid. */
void hc_rng_seed_random(struct hc_rng *r);
uint64_t hc_rng_next(struct hc_rng *r);
/* Uniform in [0, 1). */
double hc_rng_double(struct hc_rng *r);
/* Uniform integer in [lo, hi] (inclusive); lo <= hi. */
int64_t hc_rng_range(struct hc_rng *r, int64_t lo, int64_t hi);
/* 1 with probability p. */
int hc_rng_chance(struct hc_rng *r, double p);

#endif
