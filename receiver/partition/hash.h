/*
 * hash.h - which partition a partition key goes to, as Event Hubs decides it.
 *
 * Event Hubs hashes the UTF-8 bytes of the key with Bob Jenkins' lookup3 (hashlittle2, both seeds
 * 0), folds the two 32-bit results into a 16-bit signed value (short)(h1 ^ h2), and takes
 * abs(hash % count) with C's truncating remainder. The Azure SDKs' buffered producers port the
 * same code ("a direct port of the Event Hubs service code"), so a key lands in the same
 * partition number here as on Azure, given the same partition count.
 */
#ifndef RX_HASH_H
#define RX_HASH_H

#include <stddef.h>
#include <stdint.h>

/* lookup3 hashlittle2 over data[0..len): *h1 is "c", *h2 is "b" (seeds in and out as lookup3). */
void rx_lookup3(const void *data, size_t len, uint32_t seed1, uint32_t seed2, uint32_t *h1,
                uint32_t *h2);

/* The 16-bit Event Hubs hash code of a partition key. */
int16_t rx_partition_hash(const char *key, size_t len);

/* The partition (0..count-1) of key; count must be > 0. */
int rx_partition_for_key(const char *key, size_t len, int count);

#endif
