#include "receiver/capture/scan.h"

#include <errno.h>
#include <string.h>
#include <zlib.h>

#include "common/error.h"
#include "receiver/capture/avro_enc.h"

#define SYNC_LEN 16

/* The header's metadata map: remember avro.codec and avro.schema. */
static int scan_meta(const uint8_t **p, const uint8_t *end, struct rx_avro_scan *s,
                     const uint8_t **codec, size_t *codec_len)
{
    int64_t left = 0;
    int rc;
    while ((rc = rx_avro_map_next(p, end, &left)) > 0) {
        const uint8_t *k, *v;
        size_t kn, vn;
        if (rx_avro_get_bytes(p, end, &k, &kn) || rx_avro_get_bytes(p, end, &v, &vn))
            return HC_E_PARSE;
        if (kn == 10 && !memcmp(k, "avro.codec", 10)) {
            *codec = v;
            *codec_len = vn;
        } else if (kn == 11 && !memcmp(k, "avro.schema", 11)) {
            s->schema = v;
            s->schema_len = vn;
        }
    }
    return rc;
}

static int scan_header(const uint8_t *p, size_t len, struct rx_avro_scan *s)
{
    const uint8_t *q = p + 4, *end = p + len, *codec = NULL;
    size_t codec_len = 0;
    if (len < 4 || memcmp(p, "Obj\x01", 4))
        return HC_E_PARSE;
    if (scan_meta(&q, end, s, &codec, &codec_len) || !s->schema || end - q < SYNC_LEN)
        return HC_E_PARSE;
    if (!codec || (codec_len == 4 && !memcmp(codec, "null", 4)))
        s->codec = RX_CODEC_NULL;
    else if (codec_len == 7 && !memcmp(codec, "deflate", 7))
        s->codec = RX_CODEC_DEFLATE;
    else
        return HC_E_VERSION;
    memcpy(s->sync, q, SYNC_LEN);
    s->header_len = (size_t)(q + SYNC_LEN - p);
    return 0;
}

/* The block at *off: its count and data; advances *off past it. 0, or -1 when incomplete. */
static int next_block(const uint8_t *p, size_t len, const struct rx_avro_scan *s, size_t *off,
                      int64_t *count, const uint8_t **data, size_t *size)
{
    const uint8_t *q = p + *off, *end = p + len;
    int64_t sz;
    if (rx_avro_get_long(&q, end, count) || *count <= 0 || rx_avro_get_long(&q, end, &sz) ||
        sz < 0 || sz > end - q || end - q - sz < SYNC_LEN || memcmp(q + sz, s->sync, SYNC_LEN))
        return -1;
    *data = q;
    *size = (size_t)sz;
    *off = (size_t)(q + sz + SYNC_LEN - p);
    return 0;
}

int rx_avro_scan(const uint8_t *p, size_t len, struct rx_avro_scan *s)
{
    size_t off;
    int rc;
    memset(s, 0, sizeof *s);
    if ((rc = scan_header(p, len, s)))
        return rc;
    off = s->good_len = s->header_len;
    for (;;) {
        int64_t count;
        const uint8_t *data;
        size_t size, at = off;
        if (next_block(p, len, s, &off, &count, &data, &size))
            return 0;
        s->blocks++;
        s->records += count;
        s->last_block = at;
        s->good_len = off;
    }
}

/* Inflate a raw deflate block into out. */
static int inflate_block(const uint8_t *data, size_t size, struct hc_buf *out)
{
    z_stream z;
    int zr;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -15) != Z_OK)
        return -ENOMEM;
    hc_buf_reset(out);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)size;
    do {
        if (hc_buf_reserve(out, size * 4 + 65536)) {
            inflateEnd(&z);
            return -ENOMEM;
        }
        z.next_out = (Bytef *)out->p + out->len;
        z.avail_out = (uInt)(out->cap - out->len - 1);
        zr = inflate(&z, Z_NO_FLUSH);
        out->len = out->cap - 1 - z.avail_out;
    } while (zr == Z_OK);
    inflateEnd(&z);
    return zr == Z_STREAM_END ? 0 : HC_E_PARSE;
}

static int block_records(const uint8_t *data, size_t size, int64_t count, rx_avro_record_fn fn,
                         void *ctx)
{
    const uint8_t *q = data, *end = data + size;
    for (int64_t i = 0; i < count; i++) {
        struct rx_record r;
        int rc;
        if (rx_record_decode(&q, end, &r))
            return HC_E_PARSE;
        if ((rc = fn(ctx, &r)))
            return rc;
    }
    return q == end ? 0 : HC_E_PARSE;
}

int rx_avro_scan_records(const uint8_t *p, const struct rx_avro_scan *s, int64_t from,
                         rx_avro_record_fn fn, void *ctx)
{
    struct hc_buf raw = HC_BUF_INIT;
    size_t off = s->header_len;
    int rc = 0;
    for (int64_t b = 0; b < s->blocks && !rc; b++) {
        int64_t count;
        const uint8_t *data;
        size_t size;
        if (next_block(p, s->good_len, s, &off, &count, &data, &size)) {
            rc = HC_E_PARSE;
            break;
        }
        if (b < from)
            continue;
        if (s->codec == RX_CODEC_DEFLATE) {
            if ((rc = inflate_block(data, size, &raw)))
                break;
            data = (const uint8_t *)raw.p;
            size = raw.len;
        }
        rc = block_records(data, size, count, fn, ctx);
    }
    hc_buf_free(&raw);
    return rc;
}
