/*
 * uuid.h - UUIDv7 (RFC 9562): 48-bit Unix ms, version 7, 12-bit counter, variant, 62 random bits.
 *
 * Ids from one generator are strictly increasing (as bytes and as text) even when the clock
 * stands still or steps back: within one millisecond the 12-bit counter counts up, and when it
 * runs out the generator borrows the next millisecond.
 */
#ifndef HC_UUID_H
#define HC_UUID_H

#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"

#define HC_UUID_STRLEN 37 /* 36 characters + NUL */

struct hc_uuid7 {
    int64_t last_ms;
    uint32_t counter;
    struct hc_rng rng;
};

/* Set up a generator; seed 0 seeds from the kernel, anything else is deterministic. */
void hc_uuid7_init(struct hc_uuid7 *g, uint64_t seed);
/* Next id for time ms (normally hc_now_ms()). Not thread-safe: one generator per thread. */
void hc_uuid7_next(struct hc_uuid7 *g, int64_t ms, uint8_t out[16]);
/* Milliseconds stored in a v7 id. */
int64_t hc_uuid7_ms(const uint8_t id[16]);
/* Lower-case 8-4-4-4-12 text into out (HC_UUID_STRLEN bytes). */
void hc_uuid_format(const uint8_t id[16], char out[HC_UUID_STRLEN]);
/* Parse 8-4-4-4-12 hex (either case). Returns 0 or HC_E_PARSE. */
int hc_uuid_parse(const char *s, size_t len, uint8_t out[16]);
/* 1 when all 16 bytes are zero (no id assigned yet). */
int hc_uuid_is_nil(const uint8_t id[16]);

#endif
