/*
 * event.h - the event as the hub core takes it from every front end (REST, AMQP, MQTT).
 *
 * A front end parses its protocol into these and hands them to rx_core_submit (core/core.h); the
 * partitions number them and write them to capture (capture/record.h). The core never looks
 * inside a body.
 */
#ifndef RX_EVENT_H
#define RX_EVENT_H

#include <stddef.h>
#include <stdint.h>

#define RX_PKEY_MAX  128 /* Event Hubs' partition key limit */
#define RX_PROPS_MAX 64  /* user properties per event */

/*
 * One event. The bytes belong to the front end that made it and must stay valid until its send
 * is done (rx_send.done has run).
 */
struct rx_event {
    const uint8_t *body; /* NULL when the body is null (Avro Body = null) */
    size_t body_len;
    const char *pkey; /* partition key, NULL when none */
    size_t pkey_len;
    const uint8_t *props; /* the Avro "Properties" map (core/props.h), never NULL */
    size_t props_len;
    int partition; /* set by rx_core_submit: the partition it goes to */
};

#endif
