#include "common/uuid.h"
#include "common/buf.h"
#include "common/error.h"

#include <string.h>

void hc_uuid7_init(struct hc_uuid7 *g, uint64_t seed)
{
    g->last_ms = 0;
    g->counter = 0;
    if (seed)
        hc_rng_seed(&g->rng, seed);
    else
        hc_rng_seed_random(&g->rng);
}

void hc_uuid7_next(struct hc_uuid7 *g, int64_t ms, uint8_t out[16])
{
    uint64_t rnd = hc_rng_next(&g->rng);

    if (ms > g->last_ms) {
        g->last_ms = ms;
        /* Start low in the 12-bit space so a busy millisecond has room to count. */
        g->counter = (uint32_t)(rnd >> 54) & 0x1ff;
        rnd = hc_rng_next(&g->rng);
    } else if (++g->counter > 0xfff) {
        g->last_ms++;
        g->counter = 0;
    }
    ms = g->last_ms;
    for (int i = 0; i < 6; i++)
        out[i] = (uint8_t)((uint64_t)ms >> (40 - 8 * i));
    out[6] = (uint8_t)(0x70 | (g->counter >> 8));
    out[7] = (uint8_t)g->counter;
    out[8] = (uint8_t)(0x80 | ((rnd >> 56) & 0x3f));
    for (int i = 9; i < 16; i++)
        out[i] = (uint8_t)(rnd >> (8 * (15 - i)));
}

int64_t hc_uuid7_ms(const uint8_t id[16])
{
    uint64_t ms = 0;
    for (int i = 0; i < 6; i++)
        ms = ms << 8 | id[i];
    return (int64_t)ms;
}

/* Two lower-case hex digits for each byte value. */
static const char hex2[513] = "000102030405060708090a0b0c0d0e0f"
                              "101112131415161718191a1b1c1d1e1f"
                              "202122232425262728292a2b2c2d2e2f"
                              "303132333435363738393a3b3c3d3e3f"
                              "404142434445464748494a4b4c4d4e4f"
                              "505152535455565758595a5b5c5d5e5f"
                              "606162636465666768696a6b6c6d6e6f"
                              "707172737475767778797a7b7c7d7e7f"
                              "808182838485868788898a8b8c8d8e8f"
                              "909192939495969798999a9b9c9d9e9f"
                              "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
                              "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
                              "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
                              "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
                              "e0e1e2e3e4e5e6e7e8e9eaebecedeeef"
                              "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

/* The two hex digits of b at o. */
static void put_hex(char *o, uint8_t b)
{
    memcpy(o, hex2 + 2 * b, 2);
}

void hc_uuid_format(const uint8_t id[16], char out[HC_UUID_STRLEN])
{
    /* Written out rather than a loop: fixed offsets, no index arithmetic, no branches. */
    put_hex(out, id[0]);
    put_hex(out + 2, id[1]);
    put_hex(out + 4, id[2]);
    put_hex(out + 6, id[3]);
    out[8] = '-';
    put_hex(out + 9, id[4]);
    put_hex(out + 11, id[5]);
    out[13] = '-';
    put_hex(out + 14, id[6]);
    put_hex(out + 16, id[7]);
    out[18] = '-';
    put_hex(out + 19, id[8]);
    put_hex(out + 21, id[9]);
    out[23] = '-';
    put_hex(out + 24, id[10]);
    put_hex(out + 26, id[11]);
    put_hex(out + 28, id[12]);
    put_hex(out + 30, id[13]);
    put_hex(out + 32, id[14]);
    put_hex(out + 34, id[15]);
    out[36] = '\0';
}

int hc_uuid_parse(const char *s, size_t len, uint8_t out[16])
{
    uint8_t id[16];
    size_t j = 0;
    if (len != 36)
        return HC_E_PARSE;
    for (size_t i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i++] != '-')
                return HC_E_PARSE;
            continue;
        }
        int hi = hc_hex_val(s[i]), lo = hc_hex_val(s[i + 1]);
        if (hi < 0 || lo < 0)
            return HC_E_PARSE;
        id[j++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    memcpy(out, id, 16);
    return 0;
}

int hc_uuid_is_nil(const uint8_t id[16])
{
    for (int i = 0; i < 16; i++)
        if (id[i])
            return 0;
    return 1;
}
