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
    const uint8_t *q, *end, *codec = NULL;
    size_t codec_len = 0;
    if (!p || len < 4 || memcmp(p, "Obj\x01", 4)) /* an empty file maps to NULL */
        return HC_E_PARSE;
    q = p + 4;
    end = p + len;
    if (scan_meta(&q, end, s, &codec, &codec_len) || !s->schema || end - q < SYNC_LEN)
        return HC_E_PARSE;
    s->codec_name = codec;
    s->codec_name_len = codec_len;
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

int rx_avro_scan_header(const uint8_t *p, size_t len, struct rx_avro_scan *s)
{
    int rc;
    memset(s, 0, sizeof *s);
    if ((rc = scan_header(p, len, s)))
        return rc;
    s->good_len = s->header_len;
    return 0;
}

int rx_avro_scan_blocks(const uint8_t *p, const struct rx_avro_scan *s, rx_avro_block_fn fn,
                        void *ctx)
{
    size_t off = s->header_len;
    for (int64_t b = 0; b < s->blocks; b++) {
        struct rx_avro_block blk;
        const uint8_t *data;
        size_t at = off, size;
        int64_t count;
        int rc;
        if (next_block(p, s->good_len, s, &off, &count, &data, &size))
            return HC_E_PARSE;
        blk = (struct rx_avro_block){at, off - at, count, (size_t)(data - p), size};
        if ((rc = fn(ctx, &blk)))
            return rc;
    }
    return 0;
}

int rx_avro_scan(const uint8_t *p, size_t len, struct rx_avro_scan *s)
{
    size_t off;
    int rc;
    if ((rc = rx_avro_scan_header(p, len, s)))
        return rc;
    off = s->header_len;
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

/*
 * A raw deflate stream and its output buffer, kept for the blocks of one call: inflateReset
 * between blocks, not inflateInit2/inflateEnd, and the buffer reused (a salvage tries a candidate
 * at many offsets; a file has many blocks).
 */
struct inflater {
    z_stream z;
    int live; /* z initialised */
    struct hc_buf raw;
};

#define INFLATER_INIT                                                                              \
    {                                                                                              \
        .live = 0, .raw = HC_BUF_INIT                                                              \
    }

static void inflater_free(struct inflater *in)
{
    if (in->live)
        inflateEnd(&in->z);
    in->live = 0;
    hc_buf_free(&in->raw);
}

/*
 * Inflate a raw deflate block into in->raw, up to RX_BLOCK_RAW_MAX bytes (a block that inflates
 * to more is not one this receiver could have written, and may be a deflate bomb).
 */
static int inflate_block(struct inflater *in, const uint8_t *data, size_t size)
{
    struct hc_buf *out = &in->raw;
    z_stream *z = &in->z;
    int zr;
    if (!in->live) {
        memset(z, 0, sizeof *z);
        if (inflateInit2(z, -15) != Z_OK)
            return -ENOMEM;
        in->live = 1;
    } else if (inflateReset(z) != Z_OK) {
        return -ENOMEM;
    }
    hc_buf_reset(out);
    z->next_in = (Bytef *)data;
    z->avail_in = (uInt)size;
    do {
        /* a first guess from the size; the buffer doubles when the data need more */
        size_t want = size * 4 + 4096;
        if (out->len >= RX_BLOCK_RAW_MAX) {
            zr = Z_DATA_ERROR;
            break;
        }
        if (want > RX_BLOCK_RAW_MAX - out->len)
            want = RX_BLOCK_RAW_MAX - out->len;
        if (hc_buf_reserve(out, want))
            return -ENOMEM;
        z->next_out = (Bytef *)out->p + out->len;
        z->avail_out = (uInt)(out->cap - out->len - 1);
        zr = inflate(z, Z_NO_FLUSH);
        out->len = out->cap - 1 - z->avail_out;
    } while (zr == Z_OK);
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
    struct inflater in = INFLATER_INIT;
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
            if ((rc = inflate_block(&in, data, size)))
                break;
            data = (const uint8_t *)in.raw.p;
            size = in.raw.len;
        }
        rc = block_records(data, size, count, fn, ctx);
    }
    inflater_free(&in);
    return rc;
}

/* ---- Salvage -------------------------------------------------------------------------------- */

/*
 * The search gives up once candidate blocks that failed to decode have cost this many bytes (read
 * and inflated), plus 4 per byte of the file: a damaged file of ours fails a few candidates per
 * damaged stretch, hostile bytes cannot make the search much slower than reading them.
 */
#define SALVAGE_BUDGET ((size_t)64 << 20)

struct salvage {
    const uint8_t *p;
    size_t len;
    struct rx_avro_salvage *out;
    struct inflater in;
    size_t spent, budget; /* bytes the failed candidates cost, and the limit */
};

/* A record as a Capture writer makes it: a sequence number >= 0 and a decimal offset. */
static int plausible(void *arg, const struct rx_record *r)
{
    (void)arg;
    if (r->seq < 0 || r->offset_len == 0 || r->offset_len > 19)
        return HC_E_PARSE;
    for (size_t i = 0; i < r->offset_len; i++)
        if (r->offset[i] < '0' || r->offset[i] > '9')
            return HC_E_PARSE;
    return 0;
}

/* 0 when data[0..size) holds exactly count plausible records of codec; counts a failed try. */
static int decodes(struct salvage *sv, const uint8_t *data, size_t size, int64_t count,
                   enum rx_codec codec)
{
    size_t cost = 64 + size;
    int rc = 0;
    if (codec == RX_CODEC_DEFLATE) {
        rc = inflate_block(&sv->in, data, size);
        data = (const uint8_t *)sv->in.raw.p;
        size = sv->in.raw.len;
        cost += size;
    }
    if (!rc)
        rc = block_records(data, size, count, plausible, NULL);
    if (rc && rc != -ENOMEM)
        sv->spent += cost;
    return rc;
}

/* Without a header: 0 and out->codec set when either codec decodes the block. */
static int decodes_any(struct salvage *sv, const uint8_t *data, size_t size, int64_t count)
{
    static const enum rx_codec codecs[] = {RX_CODEC_DEFLATE, RX_CODEC_NULL};
    int rc = HC_E_PARSE;
    for (size_t c = 0; c < sizeof codecs / sizeof *codecs && rc && rc != -ENOMEM; c++)
        if (!(rc = decodes(sv, data, size, count, codecs[c])))
            sv->out->codec = codecs[c];
    return rc;
}

/*
 * 0 when the long at q cannot be a block count (> 0): zigzag puts the sign in the first byte's
 * low bit, and a first byte 0 is the value 0. The searches below test it at every offset before
 * decoding anything there.
 */
static int may_be_count(const uint8_t *q)
{
    return *q && !(*q & 1);
}

/* The frame of a block at b whose sync marker sits exactly at k: 0, or -1 when it is not one. */
static int frame_at(const uint8_t *p, size_t b, size_t k, int64_t *count, const uint8_t **data,
                    size_t *size)
{
    const uint8_t *q = p + b, *end = p + k;
    int64_t sz;
    if (!may_be_count(q) || rx_avro_get_long(&q, end, count) || *count <= 0 ||
        rx_avro_get_long(&q, end, &sz) || sz < 0 || sz != end - q)
        return -1;
    *data = q;
    *size = (size_t)sz;
    return 0;
}

/*
 * The sync marker of a file whose header is lost: the 16 bytes before a block that are repeated
 * right after it, or else the last 16 bytes of the file when a block ends there. 1 when found.
 */
static int find_sync(struct salvage *sv, size_t from)
{
    const uint8_t *p = sv->p, *end = p + sv->len, *data;
    int64_t count, sz;
    size_t size;
    for (size_t i = from; sv->len >= 2 * SYNC_LEN + 2 && i <= sv->len - 2 * SYNC_LEN - 2; i++) {
        const uint8_t *q = p + i + SYNC_LEN;
        if (sv->spent > sv->budget)
            return 0;
        if (!may_be_count(q) || rx_avro_get_long(&q, end, &count) || count <= 0 ||
            rx_avro_get_long(&q, end, &sz) || sz < 0 || sz > end - q - SYNC_LEN ||
            memcmp(q + sz, p + i, SYNC_LEN))
            continue;
        if (!decodes_any(sv, q, (size_t)sz, count)) {
            memcpy(sv->out->sync, p + i, SYNC_LEN);
            return 1;
        }
    }
    for (size_t b = from, k = sv->len - SYNC_LEN; sv->len >= SYNC_LEN + 2 && b + 2 <= k; b++) {
        if (sv->spent > sv->budget)
            return 0;
        if (!frame_at(p, b, k, &count, &data, &size) && !decodes_any(sv, data, size, count)) {
            memcpy(sv->out->sync, p + k, SYNC_LEN);
            return 1;
        }
    }
    return 0;
}

/* Give fn the block at b: count records, its data, ending at end (its sync marker after). */
static int found(struct salvage *sv, size_t b, size_t end, int64_t count, const uint8_t *data,
                 size_t size, rx_avro_block_fn fn, void *ctx)
{
    struct rx_avro_block blk = {b, end + SYNC_LEN - b, count, (size_t)(data - sv->p), size};
    sv->out->blocks++;
    sv->out->records += count;
    return fn ? fn(ctx, &blk) : 0;
}

/*
 * The block that starts at pos by its own count and size, and decodes, whatever the 16 bytes after
 * it hold (a damaged sync marker). 1 with *end set, 0 when there is none, or -ENOMEM.
 */
static int block_here(struct salvage *sv, size_t pos, int64_t *count, const uint8_t **data,
                      size_t *size, size_t *end)
{
    const uint8_t *q = sv->p + pos, *lim = sv->p + sv->len;
    int64_t sz;
    int rc;
    if (rx_avro_get_long(&q, lim, count) || *count <= 0 || rx_avro_get_long(&q, lim, &sz) ||
        sz < 0 || sz > lim - q - SYNC_LEN)
        return 0;
    if ((rc = decodes(sv, q, (size_t)sz, *count, sv->out->codec)))
        return rc == -ENOMEM ? rc : 0;
    *data = q;
    *size = (size_t)sz;
    *end = (size_t)(q + sz - sv->p);
    return 1;
}

/*
 * Every block from `from` on: the one that starts right there (by its own frame: its sync marker
 * may be damaged), else the one that ends at the next copy of the sync marker (the bytes before
 * it, or stray bytes then a block: the first start that frames and decodes).
 */
static int walk_sync(struct salvage *sv, size_t from, rx_avro_block_fn fn, void *ctx)
{
    const uint8_t *p = sv->p, *data;
    size_t pos = from, size, end;
    int64_t count;
    int rc;
    while (pos < sv->len && sv->spent <= sv->budget) {
        const uint8_t *m;
        size_t at;
        if ((rc = block_here(sv, pos, &count, &data, &size, &end)) < 0)
            return rc;
        if (rc) {
            if ((rc = found(sv, pos, end, count, data, size, fn, ctx)))
                return rc;
            pos = end + SYNC_LEN;
            continue;
        }
        if (!(m = memmem(p + pos, sv->len - pos, sv->out->sync, SYNC_LEN)))
            break;
        at = (size_t)(m - p);
        for (size_t b = pos + 1; b + 2 <= at && sv->spent <= sv->budget; b++) {
            if (frame_at(p, b, at, &count, &data, &size))
                continue;
            if ((rc = decodes(sv, data, size, count, sv->out->codec)) == -ENOMEM)
                return rc;
            if (rc)
                continue;
            if ((rc = found(sv, b, at, count, data, size, fn, ctx)))
                return rc;
            break;
        }
        pos = at + SYNC_LEN;
    }
    return 0;
}

int rx_avro_salvage(const uint8_t *p, size_t len, size_t from, const struct rx_avro_scan *hdr,
                    struct rx_avro_salvage *out, rx_avro_block_fn fn, void *ctx)
{
    struct salvage sv = {p, len, out, INFLATER_INIT, 0, SALVAGE_BUDGET + 4 * len};
    int rc = 0;
    memset(out, 0, sizeof *out);
    if (hdr) {
        out->codec = hdr->codec;
        memcpy(out->sync, hdr->sync, SYNC_LEN);
        out->sync_found = 1;
    } else {
        out->sync_found = from < len && find_sync(&sv, from);
    }
    if (out->sync_found)
        rc = walk_sync(&sv, from, fn, ctx);
    inflater_free(&sv.in);
    return rc;
}

int rx_avro_block_records(const uint8_t *p, const struct rx_avro_block *b, enum rx_codec codec,
                          rx_avro_record_fn fn, void *ctx)
{
    struct inflater in = INFLATER_INIT;
    const uint8_t *data = p + b->data_off;
    size_t size = b->data_len;
    int rc = 0;
    if (codec == RX_CODEC_DEFLATE) {
        rc = inflate_block(&in, data, size);
        data = (const uint8_t *)in.raw.p;
        size = in.raw.len;
    }
    if (!rc)
        rc = block_records(data, size, b->count, fn, ctx);
    inflater_free(&in);
    return rc;
}
