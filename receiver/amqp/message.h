/*
 * message.h - an AMQP delivery's bytes as the hub core's events (pure, but for the memory it
 * allocates), and the sections of one message.
 *
 * A delivery holds one bare message (header, annotations, properties, application-properties,
 * a body of data sections, one amqp-value or amqp-sequence sections, footer; in any order:
 * Python writes delivery annotations after the footer) or a batch (message-format 0x80013700):
 * its body is one data section per event, each a complete encoded message. Proton 0.37 tells
 * neither the format nor more than the last data section, so the raw bytes are read here: a body
 * of data sections that each decode as a message with a body is a batch.
 *
 * An event gets, as the REST front end makes it (the same Avro fields in capture):
 *   Body        the data section's bytes (several: concatenated); an amqp-value's binary or
 *               string bytes, null for null, else the value's AMQP encoding; an amqp-sequence's
 *               encoding; no body section: null
 *   Properties  application-properties: integers → long, float and double → double, string,
 *               symbol, uuid (text) and char → string, binary → bytes, bool → "true"/"false"
 *               (as REST takes JSON true), timestamp → long (ms), null skipped, other types →
 *               bytes (their AMQP encoding); keys must be strings
 *   partition key  message annotation x-opt-partition-key (its own, else the batch envelope's)
 */
#ifndef RX_AMQP_MESSAGE_H
#define RX_AMQP_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "receiver/amqp/codec.h"
#include "receiver/core/event.h"
#include "receiver/core/props.h"

/* Section descriptors (AMQP 1.0 part 3). */
enum {
    RX_AS_HEADER = 0x70,
    RX_AS_DELIVERY_ANN = 0x71,
    RX_AS_MESSAGE_ANN = 0x72,
    RX_AS_PROPERTIES = 0x73,
    RX_AS_APP_PROPS = 0x74,
    RX_AS_DATA = 0x75,
    RX_AS_SEQUENCE = 0x76,
    RX_AS_VALUE = 0x77,
    RX_AS_FOOTER = 0x78,
};

/* The sections of one message; values point into its bytes. */
struct rx_amqp_msg {
    struct rx_amqp_val annotations; /* message-annotations map, kind NULL when none */
    struct rx_amqp_val properties;  /* the properties list, kind NULL when none */
    struct rx_amqp_val app;         /* application-properties map, kind NULL when none */
    struct rx_amqp_val value;       /* the amqp-value, kind NULL when none */
    size_t ndata, nseq;             /* data and amqp-sequence sections */
    struct rx_amqp_val data0;       /* the first data section's binary */
    size_t data_bytes;              /* of all data sections */
    const uint8_t *p, *end;         /* the message, to walk its sections again */
};

/*
 * Read the sections of the message in p[0..n). Returns 0, or HC_E_PARSE (not a sequence of
 * message sections, a section twice, a body of two kinds) with *why a static sentence.
 */
int rx_amqp_msg_parse(const uint8_t *p, size_t n, struct rx_amqp_msg *m, const char **why);

/* The next data section's binary from *rd (start with rd = {m->p, m->end}): 1, or 0 at the end. */
int rx_amqp_msg_next_data(struct rx_amqp_rd *rd, struct rx_amqp_val *data);

/* The string value of message annotation key (a symbol) of m, or 0 when none. */
int rx_amqp_msg_annotation(const struct rx_amqp_msg *m, const char *key, struct rx_amqp_val *out);

/* The events of a delivery. The caller owns the struct; rx_amqp_events_free releases it. */
struct rx_amqp_events {
    struct rx_event *ev;
    size_t n, cap;
    int batch;             /* it was a batch */
    struct hc_buf arena;   /* encoded properties, concatenated bodies */
    struct hc_buf offs;    /* private: arena offsets while decoding */
    struct rx_props props; /* private */
};

void rx_amqp_events_init(struct rx_amqp_events *e);
void rx_amqp_events_free(struct rx_amqp_events *e);

/*
 * Decode the delivery p[0..n) into e (emptied first). The events point into p and e->arena:
 * p must outlive them. Returns 0; HC_E_PARSE or HC_E_INVAL (a malformed message, a property
 * the encoder refuses, a partition key over RX_PKEY_MAX) with *why a static sentence; -ENOMEM.
 */
int rx_amqp_events_decode(struct rx_amqp_events *e, const uint8_t *p, size_t n, const char **why);

/* Bytes e holds besides the delivery (for the in-flight budget). */
size_t rx_amqp_events_bytes(const struct rx_amqp_events *e);

#endif
