/*
 * record.h - one Event Hubs Capture record (Avro binary) and the Capture schema (pure).
 *
 * The schema is Azure's, field for field (record EventData, namespace
 * Microsoft.ServiceBus.Messaging):
 *   SequenceNumber long       per-partition, from 0, contiguous
 *   Offset string             the event's byte position in the partition (the sum of the body
 *                             lengths before it, a null or empty body counting as one byte, so
 *                             offsets strictly increase), in decimal, as Azure's are
 *   EnqueuedTimeUtc string    "M/d/yyyy h:mm:ss AM|PM" (UTC), the text Azure Capture writes
 *   SystemProperties map      x-opt-enqueued-time (long, ms since the epoch: the same instant
 *                             with the milliseconds), x-opt-partition-key (string, when the
 *                             event had one), x-opt-publisher (string, for a publisher send)
 *   Properties map            the user properties (rx_event.props, already encoded)
 *   Body [null, bytes]
 */
#ifndef RX_RECORD_H
#define RX_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "receiver/core/event.h"

#define RX_ENQ_TEXT_MAX 32

/*
 * How far an event of body_len bytes advances the partition's Offset: its length, at least 1 (a
 * null or empty body too), so that no two events of a partition share an offset.
 */
static inline int64_t rx_record_offset_step(size_t body_len)
{
    return body_len ? (int64_t)body_len : 1;
}

/* The exact schema JSON of Azure Event Hubs Capture files. Static. */
const char *rx_capture_schema_json(void);

/*
 * Capture's EnqueuedTimeUtc text, "M/d/yyyy h:mm:ss AM|PM" (UTC, no leading zeros on month, day
 * and hour; 12-hour clock): the one home of the format, written and read (pure).
 * rx_record_time_text: ms since the epoch (UTC) into out; returns the length.
 * rx_record_time_parse: s[0..len) as real Capture files and the receiver's own write it; one or
 * two digits for month, day, hour, an optional fraction of a second (".fffffff", as some Azure
 * tools print) read to the millisecond. Returns 0 and sets *ms, or HC_E_PARSE (*ms unchanged)
 * for anything else, including an impossible date (2/30).
 */
size_t rx_record_time_text(int64_t ms, char out[RX_ENQ_TEXT_MAX]);
int rx_record_time_parse(const char *s, size_t len, int64_t *ms);

/* What the partition assigns to an event when it is enqueued. */
struct rx_record_meta {
    int64_t seq;
    int64_t offset;
    int64_t enq_ms;
    const char *enq_text; /* rx_record_time_text(enq_ms) */
    size_t enq_text_len;
    const char *publisher; /* NULL unless sent to /publishers/{name} */
    size_t publisher_len;
};

/* Append the record of ev to out. Returns 0 or -ENOMEM (out unchanged). */
int rx_record_encode(struct hc_buf *out, const struct rx_record_meta *m, const struct rx_event *ev);

/* A decoded record: the pointers refer to the input. */
struct rx_record {
    int64_t seq;
    const uint8_t *offset, *enq, *sysprops, *props, *body;
    size_t offset_len, enq_len, sysprops_len, props_len, body_len;
    int has_body;
};

/*
 * Decode one record at *p (advanced past it) up to end. Maps are checked and returned as their
 * encoded bytes. Returns 0 or HC_E_PARSE.
 */
int rx_record_decode(const uint8_t **p, const uint8_t *end, struct rx_record *r);

/*
 * Look up key in an encoded map (sysprops or props of a decoded record). Returns the union branch
 * (enum rx_avro_branch) and sets *v and *len to the value's bytes (a long or double: its encoding;
 * string or bytes: the content), or -1 when the key is absent or the map malformed.
 */
int rx_record_map_get(const uint8_t *map, size_t map_len, const char *key, const uint8_t **v,
                      size_t *len);

#endif
