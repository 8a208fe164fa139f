/*
 * scan.h - read an Avro object container file as it lies in memory (pure): its header, which
 * blocks are complete, and the records of a block. For crash recovery (where does the last
 * complete block end? what are the last sequence number and offset?) and for tests; it does not
 * depend on libavro, so it also checks what libavro wrote.
 *
 * A block is complete when its count, size, all its bytes and the file's 16-byte sync marker are
 * there. Codecs: null and deflate (raw RFC 1951, as the Avro specification says).
 */
#ifndef RX_SCAN_H
#define RX_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "receiver/capture/record.h"
#include "receiver/conf.h"

struct rx_avro_scan {
    size_t header_len; /* bytes of the header, sync marker included */
    size_t good_len;   /* end of the last complete block (header_len when there is none) */
    int64_t blocks;    /* complete blocks */
    int64_t records;   /* records in them (the sum of the block counts) */
    size_t last_block; /* offset of the last complete block, 0 when none */
    enum rx_codec codec;
    uint8_t sync[16];
    const uint8_t *schema; /* the avro.schema text, in the scanned memory */
    size_t schema_len;
};

/*
 * Scan p[0..len). Returns 0 (the file may be cut short: good_len says how much of it is sound);
 * HC_E_PARSE when the header is incomplete or not an Avro container (bad magic, no schema);
 * HC_E_VERSION when the codec is neither null nor deflate.
 */
int rx_avro_scan(const uint8_t *p, size_t len, struct rx_avro_scan *s);

typedef int (*rx_avro_record_fn)(void *ctx, const struct rx_record *r);

/*
 * Decode the records of the complete blocks from block index `from` (0-based; s->blocks - 1 for
 * the last one only), calling fn with each (the record's pointers are valid during the call).
 * A non-zero return of fn stops and is returned. Returns 0, HC_E_PARSE (a block that does not
 * decode, or whose count does not match), or -ENOMEM.
 */
int rx_avro_scan_records(const uint8_t *p, const struct rx_avro_scan *s, int64_t from,
                         rx_avro_record_fn fn, void *ctx);

#endif
