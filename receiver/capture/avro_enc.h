/*
 * avro_enc.h - Avro binary encoding of the primitive types the Capture schema uses (pure).
 *
 * long: zig-zag, then a little-endian base-128 varint; string and bytes: a long length, then the
 * bytes; double: 8 bytes IEEE 754 little-endian; a union value: the branch index as a long, then
 * the value. The decoders read from *p (advanced past what they read) up to end.
 */
#ifndef RX_AVRO_ENC_H
#define RX_AVRO_ENC_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* The branches of the Capture maps' value union [long, double, string, bytes]. */
enum rx_avro_branch {
    RX_AVRO_LONG = 0,
    RX_AVRO_DOUBLE = 1,
    RX_AVRO_STRING = 2,
    RX_AVRO_BYTES = 3,
};

#define RX_AVRO_LONG_MAX 10 /* bytes of the longest encoded long */

/* Encode v into out (at least RX_AVRO_LONG_MAX bytes); returns the bytes written. */
size_t rx_avro_long_enc(int64_t v, uint8_t *out);

/* Append to out. Each returns 0 or -ENOMEM (out unchanged on failure). */
int rx_avro_put_long(struct hc_buf *out, int64_t v);
int rx_avro_put_bytes(struct hc_buf *out, const void *p, size_t len);
int rx_avro_put_double(struct hc_buf *out, double v);

/* Decode. Each returns 0, or HC_E_PARSE when the input ends early or is not valid. */
int rx_avro_get_long(const uint8_t **p, const uint8_t *end, int64_t *v);
/* A string or bytes: *s points into the input, *len its length. */
int rx_avro_get_bytes(const uint8_t **p, const uint8_t *end, const uint8_t **s, size_t *len);
int rx_avro_get_double(const uint8_t **p, const uint8_t *end, double *v);

/*
 * Step through a map (or array): blocks of a long count, then that many entries, ended by a count
 * of 0; a negative count is followed by the block's size in bytes, which is read and ignored.
 * Start with *left = 0 and call before each entry; the caller then reads the entry's key and
 * value. Returns 1 with *p at the next entry, 0 with *p past the map's end, or HC_E_PARSE.
 */
int rx_avro_map_next(const uint8_t **p, const uint8_t *end, int64_t *left);

#endif
