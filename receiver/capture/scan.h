/*
 * scan.h - read an Avro object container file as it lies in memory (pure): its header, which
 * blocks are complete, and the records of a block. For crash recovery (where does the last
 * complete block end? what are the last sequence number and offset?), for the lander's header
 * check and for tests; it shares no code with the writer (avro_writer.c) nor with libavro (the
 * lander's reader), so it checks both.
 *
 * A block is complete when its count, size, all its bytes and the file's 16-byte sync marker are
 * there. Codecs: null and deflate (raw RFC 1951, as the Avro specification says). A deflate block
 * that inflates to more than RX_BLOCK_RAW_MAX bytes does not decode.
 *
 * rx_avro_salvage goes further for a damaged file: it finds the complete blocks that lie after
 * bytes that belong to no block (a write that was lost), and in a file whose header is lost it
 * finds the sync marker and the codec from the blocks themselves.
 */
#ifndef RX_SCAN_H
#define RX_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "receiver/capture/record.h"
#include "receiver/conf.h"

/* The most a block may inflate to: the largest publication (one record) and room around it. */
#define RX_BLOCK_RAW_MAX ((size_t)RX_PUBLICATION_MAX + (16u << 20))

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
    const uint8_t *codec_name; /* the avro.codec text (NULL: none, null), also for HC_E_VERSION */
    size_t codec_name_len;
};

/*
 * Scan p[0..len). Returns 0 (the file may be cut short: good_len says how much of it is sound);
 * HC_E_PARSE when the header is incomplete or not an Avro container (bad magic, no schema);
 * HC_E_VERSION when the codec is neither null nor deflate.
 */
int rx_avro_scan(const uint8_t *p, size_t len, struct rx_avro_scan *s);

/* The header alone (as rx_avro_scan, with no block walked: good_len = header_len, blocks 0). */
int rx_avro_scan_header(const uint8_t *p, size_t len, struct rx_avro_scan *s);

typedef int (*rx_avro_record_fn)(void *ctx, const struct rx_record *r);

/*
 * Decode the records of the complete blocks from block index `from` (0-based; s->blocks - 1 for
 * the last one only), calling fn with each (the record's pointers are valid during the call).
 * A non-zero return of fn stops and is returned. Returns 0, HC_E_PARSE (a block that does not
 * decode, or whose count does not match), or -ENOMEM.
 */
int rx_avro_scan_records(const uint8_t *p, const struct rx_avro_scan *s, int64_t from,
                         rx_avro_record_fn fn, void *ctx);

/* A complete block found by rx_avro_salvage, as offsets into the scanned memory. */
struct rx_avro_block {
    size_t off;      /* its first byte (the count) */
    size_t len;      /* count, size, data and the 16 bytes of the sync marker (maybe damaged) */
    int64_t count;   /* records */
    size_t data_off; /* its data (compressed for deflate) */
    size_t data_len;
};

struct rx_avro_salvage {
    int sync_found;      /* 0: no block could be found (then nothing below is set) */
    uint8_t sync[16];    /* the header's, or the one found */
    enum rx_codec codec; /* the header's, or the one the blocks decode with */
    int64_t blocks;      /* blocks found */
    int64_t records;     /* records in them */
};

typedef int (*rx_avro_block_fn)(void *ctx, const struct rx_avro_block *b);

/*
 * Call fn with each complete block rx_avro_scan found in p (s from it), in order, without
 * decoding them. A non-zero return of fn stops and is returned; 0 otherwise.
 */
int rx_avro_scan_blocks(const uint8_t *p, const struct rx_avro_scan *s, rx_avro_block_fn fn,
                        void *ctx);

/*
 * Find the complete blocks of a damaged file p[0..len) from offset `from` on (a block boundary,
 * or 0): the block that starts where the last one ended (by its own count and size, even when its
 * sync marker is damaged), else the stretch up to the next copy of the sync marker, a block or
 * stray bytes then a block. A block counts only when its data decode as exactly its count of
 * Capture records.
 * hdr: the file's header (rx_avro_scan returned 0: its sync marker and codec are used), or NULL
 * when the header cannot be read: the sync marker is then taken from a block that has a copy of
 * it on both sides (or that ends the file), and the codec is the one its records decode with.
 * fn (may be NULL) gets each block in file order. The search is bounded: it stops once the
 * candidates that failed to decode cost 64 MiB plus 4 bytes per byte of the file (read and
 * inflated). Returns 0 with *out filled (out->blocks may be 0), -ENOMEM, or the non-zero return
 * of fn.
 */
int rx_avro_salvage(const uint8_t *p, size_t len, size_t from, const struct rx_avro_scan *hdr,
                    struct rx_avro_salvage *out, rx_avro_block_fn fn, void *ctx);

/*
 * Decode the records of one block found by rx_avro_salvage in p (codec: out->codec), calling fn
 * with each; as rx_avro_scan_records.
 */
int rx_avro_block_records(const uint8_t *p, const struct rx_avro_block *b, enum rx_codec codec,
                          rx_avro_record_fn fn, void *ctx);

#endif
