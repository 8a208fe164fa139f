#include "common/uuid.h"
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

void hc_uuid_format(const uint8_t id[16], char out[HC_UUID_STRLEN])
{
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[id[i] >> 4];
        *p++ = hex[id[i] & 15];
    }
    *p = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
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
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
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
