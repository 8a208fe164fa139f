/*
 * mqtt_int.h - what the MQTT transport's I/O files share (mqtt_conf.h): mqtt_conn.c (paho's
 * callbacks, the connection and the IoT Hub token) and mqtt.c (batches, the interface). Not for
 * other modules. The threading and ownership rules are mqtt.c's header's.
 */
#ifndef AG_MQTT_INT_H
#define AG_MQTT_INT_H

#include <MQTTAsync.h>
#include <pthread.h>

#include "agent/transport/mqtt/mqtt_conf.h"

#define MQTT_PIPE 2 /* batches in flight (begin/end) */

enum { R_PENDING = 0, R_OK, R_FAIL };

struct mqtt_ctx;

struct mqtt_slot {
    struct mqtt_ctx *c;
    struct mqtt_batch *b;
    size_t i, k; /* records i..i+k of b (k > 1: the packed form) */
};

struct mqtt_batch {
    const struct ag_record *const *recs;
    size_t asked, n, answered; /* records asked for, handed to paho, answered */
    uint8_t *out;              /* R_* by record */
    int *code;                 /* the reason code of a failed one (-1: paho's own failure) */
    struct mqtt_slot *slots;
    int begun_fail;             /* sending stopped at record `n` (a local failure): ... */
    struct ag_send_status fail; /* ... the answer for the records from n on */
    int64_t deadline;
};

struct mqtt_ctx {
    struct ag_mqtt_conf conf;
    pthread_mutex_t mu;
    pthread_cond_t cv;

    MQTTAsync h;
    int up;         /* connected and not lost */
    int connecting; /* a connect is out */
    int connect_rc; /* its answer: 0 ok, else the CONNACK code or -1 */
    char connect_msg[128];
    int lost;            /* the connection was lost (connectionLost) */
    struct hc_buf token; /* IoT Hub: the password */
    int64_t token_expiry_s;

    struct mqtt_batch bt[MQTT_PIPE];
    size_t nb, head;

    struct hc_buf topic, user, pack; /* pack: a packed message's payload */
    struct ag_transport_counters ctr;
};

/* Monotonic milliseconds. */
int64_t ag_mqtt__now_ms(void);
/* Fill st's result, why, code and error (printf-style). */
void ag_mqtt__status(struct ag_send_status *st, enum ag_send_result r, enum ag_send_why why,
                     const char *code, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* paho's answers to one publish; context is its struct mqtt_slot. */
void ag_mqtt__on_pub_ok(void *context, MQTTAsync_successData *d);
void ag_mqtt__on_pub_fail(void *context, MQTTAsync_failureData *d);
void ag_mqtt__on_pub_ok5(void *context, MQTTAsync_successData5 *d);
void ag_mqtt__on_pub_fail5(void *context, MQTTAsync_failureData5 *d);
/* Destroy the client: no callback runs after this returns. No client: nothing. */
void ag_mqtt__teardown(struct mqtt_ctx *c);
/* IoT Hub with a key: a fresh token when less than token_renew is left. 0 or an error. */
int ag_mqtt__ensure_token(struct mqtt_ctx *c);
/* Connect when not connected. 0, or -1 with st filled (RETRY: network, TLS, auth, server). */
int ag_mqtt__ensure_up(struct mqtt_ctx *c, struct ag_send_status *st);

#endif
