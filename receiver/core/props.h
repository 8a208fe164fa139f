/*
 * props.h - the typed encoder of an event's user properties (pure).
 *
 * Every front end turns its protocol's properties (REST UserProperties or headers, AMQP
 * application-properties, MQTT topic segments and user properties) into the Capture schema's
 * "Properties" map: an Avro map of union [long, double, string, bytes]. Names are unique (a twin
 * is refused) and at most RX_PROPS_MAX per event.
 *
 *   struct rx_props p;
 *   rx_props_init(&p);
 *   rx_props_string(&p, "kind", 4, "order_line", 10);    ... per event: rx_props_reset(&p)
 *   rx_props_finish(&p, &arena);                         the encoded map, appended
 *   rx_props_free(&p);
 */
#ifndef RX_PROPS_H
#define RX_PROPS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "receiver/core/event.h"

/* A map being built. The caller owns the struct; rx_props_free releases its memory. */
struct rx_props {
    struct hc_buf enc; /* the entries so far (name, branch, value) */
    size_t count;
    size_t name_off[RX_PROPS_MAX], name_len[RX_PROPS_MAX]; /* into enc, to refuse twins */
};

void rx_props_init(struct rx_props *p);
/* Forget the entries (keeps the memory for the next event). */
void rx_props_reset(struct rx_props *p);
/* Release the memory. Accepts a zeroed struct. */
void rx_props_free(struct rx_props *p);

/*
 * Add an entry name[0..len) with a value of the branch the function names. Each returns 0;
 * HC_E_INVAL when the name is already there or the map already holds RX_PROPS_MAX entries
 * (why, when not NULL, gets a static sentence); -ENOMEM. On failure p is as it was.
 * Names and strings are bytes as given: UTF-8 is the front end's to check.
 */
int rx_props_long(struct rx_props *p, const char *name, size_t len, int64_t v, const char **why);
int rx_props_double(struct rx_props *p, const char *name, size_t len, double v, const char **why);
int rx_props_string(struct rx_props *p, const char *name, size_t len, const void *s, size_t n,
                    const char **why);
int rx_props_bytes(struct rx_props *p, const char *name, size_t len, const void *s, size_t n,
                   const char **why);

/*
 * Append the whole map (block count, entries, end marker) to out: what rx_event.props holds.
 * Returns 0 or -ENOMEM (out as it was).
 */
int rx_props_finish(const struct rx_props *p, struct hc_buf *out);

/* The encoding of an empty map (one byte, 0): for an event without properties. Static. */
extern const uint8_t rx_props_empty[1];

#endif
