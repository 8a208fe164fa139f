/*
 * fuzz_capture.c - reading a damaged capture file in memory (receiver/capture/scan.h), on the
 * bytes of a .avro: rx_avro_scan's complete blocks lie within the file, and walking them finds
 * as many records as they count; rx_avro_salvage's blocks do not overlap, and each decodes to
 * exactly its count, as it promises. fuzz_recover does the same bytes on disk.
 */
#include "common/error.h"
#include "receiver/capture/scan.h"
#include "tests/fuzz/fuzz.h"

struct count {
    int64_t n, max_seq;
};

static int count_record(void *ctx, const struct rx_record *r)
{
    struct count *c = ctx;
    c->n++;
    if (r->seq > c->max_seq)
        c->max_seq = r->seq;
    return 0;
}

struct walk {
    const uint8_t *p;
    size_t len, end;
    int64_t records, blocks;
    enum rx_codec codec;
    const struct rx_avro_salvage *sv; /* salvage: its codec, set before the first block */
};

static int check_block(void *ctx, const struct rx_avro_block *b)
{
    struct walk *w = ctx;
    FZ_CHECK(b->off >= w->end && b->len > 0 && b->off + b->len <= w->len);
    FZ_CHECK(b->data_off > b->off && b->data_off + b->data_len + 16 <= b->off + b->len);
    FZ_CHECK(b->count > 0);
    w->end = b->off + b->len;
    w->records += b->count;
    w->blocks++;
    if (w->sv) {
        struct count c = {0, -1};
        FZ_CHECK(w->sv->sync_found);
        FZ_CHECK(rx_avro_block_records(w->p, b, w->sv->codec, count_record, &c) == 0);
        FZ_CHECK(c.n == b->count);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data;
    size_t len = size;
    struct rx_avro_scan s;
    int rc = rx_avro_scan(p, len, &s);
    FZ_CHECK(rc == 0 || rc == HC_E_PARSE || rc == HC_E_VERSION);
    if (rc == 0) {
        FZ_CHECK(s.header_len <= s.good_len && s.good_len <= len);
        FZ_CHECK(s.blocks >= 0 && s.records >= 0);
        struct walk w = {p, s.good_len, s.header_len, 0, 0, s.codec, NULL};
        FZ_CHECK(rx_avro_scan_blocks(p, &s, check_block, &w) == 0);
        FZ_CHECK(w.records == s.records && w.end == s.good_len);
        struct count c = {0, -1};
        if (rx_avro_scan_records(p, &s, 0, count_record, &c) == 0)
            FZ_CHECK(c.n == s.records);
    }
    /* each block as salvage finds it (its codec is known before the first one) */
    struct rx_avro_salvage sv;
    struct walk w = {p, len, 0, 0, 0, 0, &sv};
    rc = rx_avro_salvage(p, len, 0, rc == 0 ? &s : NULL, &sv, check_block, &w);
    FZ_CHECK(rc == 0 || rc == -ENOMEM);
    if (rc == 0)
        FZ_CHECK(w.records == sv.records && w.blocks == sv.blocks && (sv.sync_found || !w.blocks));
    return 0;
}
