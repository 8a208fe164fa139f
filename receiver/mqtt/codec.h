/*
 * codec.h - the MQTT 3.1.1 and 5 packets a subscriber needs, and IoT Hub's topic form (pure:
 * no I/O, no allocation but the caller's buffers; fuzzed by tests/fuzz/fuzz_mqtt.c).
 *
 * Encoders append a whole packet to an hc_buf (0 or -ENOMEM; the buffer as it was on failure):
 * CONNECT, SUBSCRIBE, PUBACK, PINGREQ, DISCONNECT. rx_mq_parse reads one packet from the front
 * of received bytes into struct rx_mq_packet, whose pointers point into those bytes.
 *
 * Topic form (what the agent's mqtt transport and IoT Hub devices publish):
 *   devices/{device_id}/messages/events/{property bag}
 * the property bag "name=value&name=value" with both percent-encoded; names starting with "$."
 * are IoT Hub's system properties ($.ct content type, $.ce encoding, $.mid, ...).
 */
#ifndef RX_MQ_CODEC_H
#define RX_MQ_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "receiver/core/props.h"

#define RX_MQ_V311 4 /* CONNECT protocol level */
#define RX_MQ_V5   5

enum rx_mq_type {
    RX_MQ_CONNACK = 2,
    RX_MQ_PUBLISH = 3,
    RX_MQ_PUBACK = 4,
    RX_MQ_SUBACK = 9,
    RX_MQ_PINGRESP = 13,
    RX_MQ_DISCONNECT = 14,
};

/* What rx_mq_connect sends. Strings are C strings, NULL when absent. */
struct rx_mq_connect {
    int version; /* RX_MQ_V311 or RX_MQ_V5 */
    const char *client_id, *username, *password;
    unsigned keepalive_s;
    int clean;                 /* clean session (3.1.1) / clean start (5) */
    uint32_t session_expiry_s; /* 5: Session Expiry Interval (0xFFFFFFFF: never) */
    uint16_t receive_maximum;  /* 5: QoS 1 messages in flight to us at most (0: not sent) */
};

int rx_mq_connect(struct hc_buf *out, const struct rx_mq_connect *c);
/* SUBSCRIBE packet_id to filter[0..len) at QoS 1. */
int rx_mq_subscribe(struct hc_buf *out, int version, uint16_t packet_id, const char *filter,
                    size_t len);
int rx_mq_puback(struct hc_buf *out, uint16_t packet_id);
int rx_mq_pingreq(struct hc_buf *out);
int rx_mq_disconnect(struct hc_buf *out);

/* One received packet; pointers into the parsed bytes. */
struct rx_mq_packet {
    int type;   /* enum rx_mq_type, or another type number (to be refused) */
    size_t len; /* the whole packet's bytes (header included) */
    /* CONNACK */
    int session_present;
    int code; /* CONNACK return / reason code; SUBACK's first granted QoS or failure;
                 DISCONNECT's reason (0 when none) */
    /* PUBLISH */
    int qos, dup;
    uint16_t packet_id; /* PUBLISH (QoS > 0), PUBACK, SUBACK */
    const uint8_t *topic;
    size_t topic_len;
    const uint8_t *props; /* 5: the property bytes (without their length) */
    size_t props_len;
    const uint8_t *payload;
    size_t payload_len;
};

/*
 * Parse the packet at buf[0..n) (version: the connection's). Returns:
 *   > 0  the packet is complete: its length, *p filled
 *   0    more bytes are needed (*need, when not NULL: the whole packet's length once the fixed
 *        header is in, else 0)
 *   HC_E_TOOBIG  a PUBLISH whose packet is longer than max: p->len, qos, packet_id and the
 *        topic (when within buf) are filled as far as buf holds them (packet_id once its bytes
 *        are in: p->code is 1 then, else 0); the caller skips p->len bytes
 *   HC_E_PARSE   malformed (a bad remaining length, a topic or property length past the end,
 *        QoS 3, a packet type a client never receives): drop the connection
 */
int rx_mq_parse(const uint8_t *buf, size_t n, int version, size_t max, struct rx_mq_packet *p,
                size_t *need);

/*
 * Call fn for each User Property (name, value) of an MQTT 5 property block. Returns 0, or
 * HC_E_PARSE for a malformed block (fn may have been called for the properties before it).
 */
int rx_mq_user_props(const uint8_t *props, size_t len,
                     void (*fn)(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v,
                                size_t vl),
                     void *ctx);

/* 1 when topic[0..tl) matches filter[0..fl) ('+' one level, '#' the rest), else 0. A filter
 * starting "$share/GROUP/" is matched by what follows. */
int rx_mq_topic_match(const char *filter, size_t fl, const uint8_t *topic, size_t tl);

/*
 * Split an IoT Hub events topic: the device id (still percent-encoded) and the property bag.
 * Returns 0, or HC_E_PARSE when topic is not devices/{id}/messages/events/[bag].
 */
int rx_mq_topic_events(const uint8_t *topic, size_t tl, const uint8_t **dev, size_t *dev_len,
                       const uint8_t **bag, size_t *bag_len);

/*
 * Percent-decode s[0..n) into out (at least n bytes); *out_len its length. Returns 0, or
 * HC_E_PARSE for a bad %XX, HC_E_UTF8 when the result is not UTF-8.
 */
int rx_mq_unescape(const uint8_t *s, size_t n, char *out, size_t *out_len);

/*
 * Decode the property bag bag[0..n) into p as string properties (system "$." names skipped).
 * scratch must hold n bytes. Returns 0, or HC_E_PARSE / HC_E_UTF8 (a bad escape, an empty
 * name, not UTF-8), HC_E_INVAL (a twin name, too many), -ENOMEM; *why a static sentence.
 */
int rx_mq_bag_decode(const uint8_t *bag, size_t n, struct rx_props *p, char *scratch,
                     const char **why);

/* The bag's content type of the packed form (the agent's events_per_message: an Event Hubs
 * REST batch as the payload), as it is in the topic. */
#define RX_MQ_PACKED_CT "$.ct=application%2Fvnd.microsoft.servicebus.json"

/* 1 when the bag bag[0..n) holds RX_MQ_PACKED_CT as one of its pairs (case-insensitive), else 0. */
int rx_mq_bag_packed(const uint8_t *bag, size_t n);

#endif
