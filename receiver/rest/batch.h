/*
 * batch.h - the events of one send request, parsed from the Event Hubs REST body (pure: no I/O).
 *
 * A batch send (Content-Type application/vnd.microsoft.servicebus.json) is a JSON array of
 * objects, e.g. the agent's
 *
 *   [{"Body":"{\"event_id\":…}","UserProperties":{"event_id":"…","device_id":"pi-1","kind":
 *     "order_line","schema":1},"BrokerProperties":{"PartitionKey":"pi-1"}}]
 *
 * - Body: a string is the event body (its UTF-8 bytes, unescaped); null is a null body; any other
 *   JSON value is taken as its JSON text. An object without Body is refused.
 * - UserProperties: an object; strings become Avro strings, integers longs, other numbers
 *   doubles, true/false the strings "true"/"false", objects and arrays their JSON text; null
 *   properties are left out. At most RX_PROPS_MAX per event, names unique.
 * - BrokerProperties: an object; PartitionKey (a string of at most RX_PKEY_MAX bytes, or null) is
 *   used, the rest is checked for syntax and ignored.
 * Member names are matched case-insensitively; unknown members are checked and ignored. The whole
 * body must be UTF-8, strict JSON (RFC 8259), nested at most RX_JSON_DEPTH deep, with at least
 * one event.
 *
 * A single send (any other content type) is one event: the raw body, BrokerProperties from the
 * header of that name, user properties from custom headers (rx_batch_single).
 *
 * Properties are encoded by the core's typed encoder (core/props.h) into the Capture schema's
 * "Properties" map, so the capture writer copies them as they are.
 */
#ifndef RX_BATCH_H
#define RX_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "receiver/core/event.h"
#include "receiver/core/props.h"

#define RX_JSON_DEPTH 64

/* private: where an event's parts are in the arena while it may still move */
struct rx_batch_at {
    size_t body, pkey, props; /* (size_t)-1: none */
};

/* The events (core/event.h) of one request; their bytes live in the arena until rx_batch_free. */
struct rx_batch {
    struct rx_event *ev;
    size_t n, cap;
    struct hc_buf arena;
    struct rx_batch_at *at; /* private, parallel to ev */
    struct rx_props props;  /* private: the properties of the event being read */
    struct hc_buf keys;     /* private: member names */
    struct hc_buf str;      /* private: a property value being unescaped */
};

/* A user property from a header of a single send: name and value as received (C strings). */
struct rx_prop {
    const char *name;
    const char *value;
};

void rx_batch_init(struct rx_batch *b);
/* The bytes of memory b holds (its arrays and buffers, by capacity), for the in-flight budget. */
size_t rx_batch_bytes(const struct rx_batch *b);
/* Release everything; b may be reused after rx_batch_init. Accepts a zeroed struct. */
void rx_batch_free(struct rx_batch *b);

/*
 * Parse the body of a batch send, json[0..len), into b (which must be empty). Returns 0; or
 * HC_E_UTF8 (not UTF-8), HC_E_PARSE (not JSON, or not the batch form), HC_E_INVAL (a value out of
 * range: a partition key too long, too many properties, a duplicate property, no Body),
 * -ENOMEM; and sets *why to a static sentence. On failure b holds no events.
 */
int rx_batch_parse(struct rx_batch *b, const char *json, size_t len, const char **why);

/*
 * One event of a single send: body[0..len) as it is (check_utf8: refuse a body that is not
 * UTF-8), broker the BrokerProperties header (NULL when absent), props the user properties
 * (values typed as in Service Bus: a JSON number is a number, a JSON string is a string, anything
 * else is the text). Returns and sets *why as rx_batch_parse.
 */
int rx_batch_single(struct rx_batch *b, const void *body, size_t len, int check_utf8,
                    const char *broker, const struct rx_prop *props, size_t nprops,
                    const char **why);

#endif
