/*
 * mqtt_int.h - what the MQTT front end's files share (receiver/mqtt/mqtt.h): mqtt.c (the front
 * end, batches, the ack queue, one PUBLISH into events), session.c (a subscriber
 * connection: connect, subscribe, read, write, keep-alive, reconnect) and tls.c (mqtts://: the
 * OpenSSL context, handshake, reads and writes). Not for other modules.
 *
 * Ownership is mqtt.c's header's: a connection (struct mq_conn) belongs to its thread from
 * start to stop; its batches are its own except while the core holds them (submit to done).
 */
#ifndef RX_MQTT_INT_H
#define RX_MQTT_INT_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "receiver/core/core.h"
#include "receiver/core/props.h"
#include "receiver/mqtt/codec.h"
#include "receiver/mqtt/mqtt.h"
#include "receiver/rest/batch.h"

#define MQ_READ_CHUNK   (256 * 1024)
#define MQ_BATCH_EVENTS 4096
#define MQ_HANDSHAKE_MS 10000
#define MQ_TOPIC_MAX    65536

enum { REJ_TOO_LARGE, REJ_TOPIC, REJ_PROPS, REJ_BATCH, REJ_COUNT };
extern const char *const rx_mq__rej_name[REJ_COUNT]; /* "too_large", ... */
enum { CE_NETWORK, CE_TLS, CE_REFUSED, CE_COUNT };
extern const char *const rx_mq__ce_name[CE_COUNT]; /* "network", "tls", "refused" */

struct mq_front;
struct mq_conn;

struct mq_item {
    size_t body, body_len, pkey, pkey_len, props, props_len; /* offsets into arena */
};

struct mq_batch {
    struct rx_send send;
    struct mq_conn *conn;
    struct hc_buf arena;
    struct mq_item *items;
    struct rx_event *ev;
    size_t n, cap, refs;
    int64_t charged;
    int done, status;
    struct mq_batch *next; /* on the done list */
};

struct mq_ack {
    uint16_t id;
    struct mq_batch *b; /* NULL: ready */
};

struct mq_conn {
    struct mq_front *f;
    int idx;
    pthread_t th;
    int fd, evfd;
    SSL *ssl;           /* mqtts: the TLS session on fd, else NULL */
    int tls_want_write; /* a TLS read needs the socket writable first */
    char client_id[300];
    pthread_mutex_t mu;
    struct mq_batch *done_list; /* under mu */

    struct mq_ack *ring;
    size_t rcap, rhead, rcount;
    uint8_t *rb;
    size_t rlen, rsize, skip;
    struct hc_buf w;
    size_t woff;
    struct mq_batch *cur, *held; /* being filled; waiting for budget */
    size_t inflight;             /* batches the core holds */
    int running, fatal;
    uint16_t sub_id;
    int64_t last_tx, ping_at;
    struct rx_props props;
    struct rx_batch packed; /* the packed form's events, while one PUBLISH is taken */
    char *scratch;
};

struct mq_front {
    struct rx_mqtt_conf conf;
    const struct rx_conf *c;
    struct rx_core *core;
    size_t max_body, max_packet;
    int64_t drain_ms;
    atomic_int stop;
    SSL_CTX *ssl_ctx; /* mqtts: made at start, else NULL */
    atomic_uint_fast64_t captured, acked, rejected[REJ_COUNT], connects, disconnects;
    atomic_uint_fast64_t connect_errors[CE_COUNT];
    atomic_int connected;
    int n;
    struct mq_conn conns[RX_MQTT_MAX_CONNS];
};

/* Free a batch (NULL ok). */
void rx_mq__batch_free(struct mq_batch *b);
/* Queue the PUBACK of packet id behind those before it; b: the batch it waits for (NULL: ready
 * now). Returns 0 or -ENOMEM. */
int rx_mq__ring_push(struct mq_conn *c, uint16_t id, struct mq_batch *b);
/* PUBACK the ready head of the ack queue into c->w; ack 0: forget them all (connection lost). */
void rx_mq__ring_flush(struct mq_conn *c, int ack);
/* Take the batches the core finished (the eventfd fired): PUBACK what is ready, or set fatal. */
void rx_mq__take_done(struct mq_conn *c);
/* Count and log a refused message. */
void rx_mq__reject(struct mq_conn *c, int reason, const struct rx_mq_packet *p);
/* Hand held and current batches to the core while the budget allows. 0, or -1 (fatal). */
int rx_mq__submit(struct mq_conn *c);
/* One PUBLISH: into the current batch or refused, its place in the ack queue. 0 or -1. */
int rx_mq__on_publish(struct mq_conn *c, const struct rx_mq_packet *p);
/* mqtts: the TLS context of f->conf (CA, client certificate); no TLS: nothing. 0, or -1 with
 * why (cap bytes) naming the file and OpenSSL's reason. */
int rx_mq__tls_init(struct mq_front *f, char *why, size_t cap);
void rx_mq__tls_free(struct mq_front *f);
/* The TLS handshake on c->fd (non-blocking) until deadline_ms (monotonic): 0, or -1 (logged
 * with the reason, counted as a "tls" connect error). */
int rx_mq__tls_handshake(struct mq_conn *c, int64_t deadline_ms);
/* Read or write on the connection, TLS or not: bytes moved (> 0), 0 at the peer's end (read),
 * or -1 with errno (EAGAIN: try again when the socket is ready; else logged when TLS). */
ssize_t rx_mq__io_read(struct mq_conn *c, void *p, size_t n);
ssize_t rx_mq__io_write(struct mq_conn *c, const void *p, size_t n);
/* Decrypted bytes waiting in the TLS session (a poll of the socket would not see them). */
int rx_mq__io_pending(const struct mq_conn *c);
/* End the TLS session (a close_notify when it can go at once) and free it. No TLS: nothing. */
void rx_mq__tls_close(struct mq_conn *c, int notify);
/* A connection's thread (session.c): connect, serve, reconnect with back-off until the stop. */
void *rx_mq__conn_main(void *arg);

#endif
