#include "receiver/capture/avro_enc.h"

#include <errno.h>
#include <string.h>

#include "common/error.h"

size_t rx_avro_long_enc(int64_t v, uint8_t *out)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (z >= 0x80) {
        out[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    out[n++] = (uint8_t)z;
    return n;
}

int rx_avro_put_long(struct hc_buf *out, int64_t v)
{
    uint8_t tmp[RX_AVRO_LONG_MAX];
    return hc_buf_add(out, tmp, rx_avro_long_enc(v, tmp));
}

int rx_avro_put_bytes(struct hc_buf *out, const void *p, size_t len)
{
    uint8_t tmp[RX_AVRO_LONG_MAX];
    size_t n = rx_avro_long_enc((int64_t)len, tmp);
    if (hc_buf_reserve(out, n + len))
        return -ENOMEM;
    hc_buf_add(out, tmp, n);
    return hc_buf_add(out, p, len);
}

int rx_avro_put_double(struct hc_buf *out, double v)
{
    uint64_t u;
    uint8_t b[8];
    memcpy(&u, &v, sizeof u);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(u >> (8 * i));
    return hc_buf_add(out, b, sizeof b);
}

int rx_avro_get_long(const uint8_t **p, const uint8_t *end, int64_t *v)
{
    uint64_t z = 0;
    const uint8_t *q = *p;
    for (int shift = 0; shift < 64; shift += 7) {
        if (q >= end)
            return HC_E_PARSE;
        uint8_t b = *q++;
        z |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
            *p = q;
            return 0;
        }
    }
    return HC_E_PARSE;
}

int rx_avro_get_bytes(const uint8_t **p, const uint8_t *end, const uint8_t **s, size_t *len)
{
    const uint8_t *q = *p;
    int64_t n;
    if (rx_avro_get_long(&q, end, &n) || n < 0 || n > end - q)
        return HC_E_PARSE;
    *s = q;
    *len = (size_t)n;
    *p = q + n;
    return 0;
}

int rx_avro_get_double(const uint8_t **p, const uint8_t *end, double *v)
{
    uint64_t u = 0;
    if (end - *p < 8)
        return HC_E_PARSE;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)(*p)[i] << (8 * i);
    memcpy(v, &u, sizeof *v);
    *p += 8;
    return 0;
}

int rx_avro_map_next(const uint8_t **p, const uint8_t *end, int64_t *left)
{
    if (*left == 0) {
        int64_t count, size;
        if (rx_avro_get_long(p, end, &count) || count == INT64_MIN)
            return HC_E_PARSE;
        if (count == 0)
            return 0;
        if (count < 0 && rx_avro_get_long(p, end, &size))
            return HC_E_PARSE;
        *left = count < 0 ? -count : count;
    }
    (*left)--;
    return 1;
}
