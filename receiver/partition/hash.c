#include "receiver/partition/hash.h"

#include <string.h>

#define ROT(x, k) (((x) << (k)) | ((x) >> (32 - (k))))

static void mix(uint32_t *a, uint32_t *b, uint32_t *c)
{
    *a -= *c;
    *a ^= ROT(*c, 4);
    *c += *b;
    *b -= *a;
    *b ^= ROT(*a, 6);
    *a += *c;
    *c -= *b;
    *c ^= ROT(*b, 8);
    *b += *a;
    *a -= *c;
    *a ^= ROT(*c, 16);
    *c += *b;
    *b -= *a;
    *b ^= ROT(*a, 19);
    *a += *c;
    *c -= *b;
    *c ^= ROT(*b, 4);
    *b += *a;
}

static void final(uint32_t *a, uint32_t *b, uint32_t *c)
{
    *c ^= *b;
    *c -= ROT(*b, 14);
    *a ^= *c;
    *a -= ROT(*c, 11);
    *b ^= *a;
    *b -= ROT(*a, 25);
    *c ^= *b;
    *c -= ROT(*b, 16);
    *a ^= *c;
    *a -= ROT(*c, 4);
    *b ^= *a;
    *b -= ROT(*a, 14);
    *c ^= *b;
    *c -= ROT(*b, 24);
}

/* Little-endian 32-bit word from up to 4 bytes (the tail of the key reads fewer). */
static uint32_t word(const unsigned char *p, size_t n)
{
    uint32_t w = 0;
    for (size_t i = 0; i < n && i < 4; i++)
        w |= (uint32_t)p[i] << (8 * i);
    return w;
}

void rx_lookup3(const void *data, size_t len, uint32_t seed1, uint32_t seed2, uint32_t *h1,
                uint32_t *h2)
{
    const unsigned char *k = data;
    uint32_t a, b, c;
    a = b = c = 0xdeadbeefu + (uint32_t)len + seed1;
    c += seed2;
    while (len > 12) {
        a += word(k, 4);
        b += word(k + 4, 4);
        c += word(k + 8, 4);
        mix(&a, &b, &c);
        len -= 12;
        k += 12;
    }
    if (len == 0) {
        *h1 = c;
        *h2 = b;
        return;
    }
    a += word(k, len);
    if (len > 4)
        b += word(k + 4, len - 4);
    if (len > 8)
        c += word(k + 8, len - 8);
    final(&a, &b, &c);
    *h1 = c;
    *h2 = b;
}

int16_t rx_partition_hash(const char *key, size_t len)
{
    uint32_t h1, h2;
    rx_lookup3(key, len, 0, 0, &h1, &h2);
    return (int16_t)(uint16_t)((h1 ^ h2) & 0xffffu);
}

int rx_partition_for_key(const char *key, size_t len, int count)
{
    int r = rx_partition_hash(key, len) % count;
    return r < 0 ? -r : r;
}
