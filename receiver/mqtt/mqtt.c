/*
 * mqtt.c - the MQTT front end (mqtt.h): its start and stop, /metrics, and what its connections
 * (session.c, one thread each) do with a PUBLISH: events in batches for the core, and the ack
 * queue the partitions' writer threads release (on_done signals the connection's eventfd).
 *
 * Ownership: a batch (struct mq_batch: the events of one read, their bytes in its arena) is
 * the connection's; the core holds it from rx_core_submit until done. Each QoS 1 PUBLISH takes
 * a place in the connection's ack queue (arrival order) pointing at its batch, or at none when
 * it was refused (ready at once). The head of the queue is acknowledged while it is ready; a
 * batch is freed once it is done and no queue place points at it. A lost connection empties the
 * queue unacknowledged (the broker sends those again); batches the core still writes are freed
 * when their done comes.
 */
#include "receiver/mqtt/mqtt.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hctime.h"
#include "common/log.h"
#include "receiver/capture/avro_enc.h"
#include "receiver/core/props.h"
#include "receiver/mqtt/codec.h"
#include "receiver/mqtt/mqtt_int.h"

const char *const rx_mq__rej_name[REJ_COUNT] = {"too_large", "topic", "properties", "batch"};
const char *const rx_mq__ce_name[CE_COUNT] = {"network", "tls", "refused"};

/* ---- batches and the ack queue --------------------------------------------------------------- */

void rx_mq__batch_free(struct mq_batch *b)
{
    if (!b)
        return;
    hc_buf_free(&b->arena);
    free(b->items);
    free(b->ev);
    free(b);
}

int rx_mq__ring_push(struct mq_conn *c, uint16_t id, struct mq_batch *b)
{
    if (c->rcount == c->rcap) {
        size_t ncap = c->rcap ? c->rcap * 2 : 1024;
        struct mq_ack *nr = malloc(ncap * sizeof *nr);
        if (!nr)
            return -ENOMEM;
        for (size_t i = 0; i < c->rcount; i++)
            nr[i] = c->ring[(c->rhead + i) % c->rcap];
        free(c->ring);
        c->ring = nr;
        c->rcap = ncap;
        c->rhead = 0;
    }
    c->ring[(c->rhead + c->rcount++) % c->rcap] = (struct mq_ack){.id = id, .b = b};
    if (b)
        b->refs++;
    return 0;
}

static void unref(struct mq_batch *b)
{
    if (b && --b->refs == 0 && b->done)
        rx_mq__batch_free(b);
}

/* PUBACK the ready head of the queue. With ack 0 (the connection is gone) only forget. */
void rx_mq__ring_flush(struct mq_conn *c, int ack)
{
    while (c->rcount) {
        struct mq_ack *a = &c->ring[c->rhead];
        if (ack && a->b && !a->b->done)
            break;
        if (ack && (rx_mq_puback(&c->w, a->id) == 0))
            atomic_fetch_add(&c->f->acked, 1);
        unref(a->b);
        c->rhead = (c->rhead + 1) % c->rcap;
        c->rcount--;
    }
}

/* The partitions' writer thread: the send is on disk (or failed). */
static void on_done(struct rx_send *s, int status)
{
    struct mq_batch *b = s->ctx;
    struct mq_conn *c = b->conn;
    uint64_t one = 1;
    pthread_mutex_lock(&c->mu);
    b->status = status;
    b->next = c->done_list;
    c->done_list = b;
    pthread_mutex_unlock(&c->mu);
    if (write(c->evfd, &one, sizeof one) < 0)
        hc_warn("mqtt: cannot signal the subscriber thread: %s", strerror(errno));
}

/* Take the batches the core finished: mark them, release their budget, PUBACK what is ready. */
void rx_mq__take_done(struct mq_conn *c)
{
    struct mq_batch *b, *next;
    uint64_t v;
    if (read(c->evfd, &v, sizeof v) < 0 && errno != EAGAIN)
        hc_warn("mqtt: eventfd: %s", strerror(errno));
    pthread_mutex_lock(&c->mu);
    b = c->done_list;
    c->done_list = NULL;
    pthread_mutex_unlock(&c->mu);
    for (; b; b = next) {
        next = b->next;
        c->inflight--;
        rx_send_release(&b->send);
        rx_core_uncharge(c->f->core, b->charged);
        if (b->status) {
            /* not on disk: never acknowledged; a new connection makes the broker resend */
            hc_warn("mqtt: %s: %zu events not written (%s): reconnecting so the broker sends "
                    "them again",
                    c->client_id, b->n, hc_strerror(b->status));
            c->fatal = 1;
        } else {
            atomic_fetch_add(&c->f->captured, b->n);
        }
        b->done = 1;
        if (!b->refs)
            rx_mq__batch_free(b);
    }
    if (!c->fatal)
        rx_mq__ring_flush(c, c->fd >= 0 && c->running);
}

/* ---- one PUBLISH --------------------------------------------------------------------------- */

static struct mq_batch *cur_batch(struct mq_conn *c)
{
    if (!c->cur) {
        if (!(c->cur = calloc(1, sizeof *c->cur)))
            return NULL;
        c->cur->conn = c;
    }
    if (c->cur->n == c->cur->cap) {
        size_t ncap = c->cur->cap ? c->cur->cap * 2 : 64;
        struct mq_item *ni = realloc(c->cur->items, ncap * sizeof *ni);
        if (!ni)
            return NULL;
        c->cur->items = ni;
        c->cur->cap = ncap;
    }
    return c->cur;
}

static void user_prop(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    struct mq_conn *c = ctx;
    if (hc_utf8_valid((const char *)k, kl) && hc_utf8_valid((const char *)v, vl))
        (void)rx_props_string(&c->props, (const char *)k, kl, v, vl, NULL); /* twins: the bag's */
}

/* One event into the current batch: key pk, body, c->props. 0 or -ENOMEM. */
static int add_event(struct mq_conn *c, const char *pk, size_t pk_len, const uint8_t *body,
                     size_t body_len)
{
    struct mq_batch *b = cur_batch(c);
    struct mq_item *it;
    if (!b)
        return -ENOMEM;
    it = &b->items[b->n];
    it->pkey = b->arena.len;
    it->pkey_len = pk_len;
    if (hc_buf_add(&b->arena, pk, pk_len))
        return -ENOMEM;
    it->body = b->arena.len;
    it->body_len = body_len;
    if (hc_buf_add(&b->arena, body_len ? (const char *)body : "", body_len))
        return -ENOMEM;
    it->props = b->arena.len;
    if (rx_props_finish(&c->props, &b->arena))
        return -ENOMEM;
    it->props_len = b->arena.len - it->props;
    b->n++;
    return 0;
}

/* The encoded properties map p[0..n) (core/props.h) added to dst entry by entry. 0, or
 * HC_E_PARSE / HC_E_INVAL (a twin, too many) / -ENOMEM. */
static int copy_props(struct rx_props *dst, const uint8_t *p, size_t n)
{
    const uint8_t *q = p, *end = p + n, *k, *s;
    size_t kl, sl;
    int64_t left = 0, br, v;
    double d;
    int r;
    while ((r = rx_avro_map_next(&q, end, &left)) == 1) {
        const char *name;
        if (rx_avro_get_bytes(&q, end, &k, &kl) || rx_avro_get_long(&q, end, &br))
            return HC_E_PARSE;
        name = (const char *)k;
        if (br == RX_AVRO_LONG)
            r = rx_avro_get_long(&q, end, &v) ? HC_E_PARSE : rx_props_long(dst, name, kl, v, NULL);
        else if (br == RX_AVRO_DOUBLE)
            r = rx_avro_get_double(&q, end, &d) ? HC_E_PARSE
                                                : rx_props_double(dst, name, kl, d, NULL);
        else if (br == RX_AVRO_STRING || br == RX_AVRO_BYTES)
            r = rx_avro_get_bytes(&q, end, &s, &sl) ? HC_E_PARSE
                : br == RX_AVRO_STRING              ? rx_props_string(dst, name, kl, s, sl, NULL)
                                                    : rx_props_bytes(dst, name, kl, s, sl, NULL);
        else
            r = HC_E_PARSE;
        if (r)
            return r;
    }
    return r;
}

/*
 * The packed form (the payload an Event Hubs REST batch, rest/batch.h): each of its events into
 * the current batch with key pk, its UserProperties and iothub-connection-device-id. All or
 * nothing. Returns 0, 1 + REJ_BATCH (not a batch, a twin of the device id property), -ENOMEM.
 */
static int take_packed(struct mq_conn *c, const struct rx_mq_packet *p, const char *pk,
                       size_t pk_len)
{
    struct mq_batch *b = cur_batch(c);
    const char *why = NULL;
    size_t n0, a0;
    int rc;
    if (!b)
        return -ENOMEM;
    n0 = b->n;
    a0 = b->arena.len;
    rx_batch_free(&c->packed);
    rx_batch_init(&c->packed);
    if ((rc = rx_batch_parse(&c->packed, (const char *)p->payload, p->payload_len, &why)))
        return rc == -ENOMEM ? rc : 1 + REJ_BATCH;
    for (size_t i = 0; i < c->packed.n; i++) {
        const struct rx_event *e = &c->packed.ev[i];
        rx_props_reset(&c->props);
        if ((rc = copy_props(&c->props, e->props, e->props_len)) ||
            (rc =
                 rx_props_string(&c->props, "iothub-connection-device-id", 27, pk, pk_len, NULL)) ||
            (rc = add_event(c, pk, pk_len, e->body, e->body_len))) {
            b->n = n0;
            hc_buf_truncate(&b->arena, a0);
            return rc == -ENOMEM ? rc : 1 + REJ_BATCH;
        }
    }
    return 0;
}

/* Decode a PUBLISH into the current batch. Returns 0, a REJ_ reason (+1), or -ENOMEM. */
static int take_publish(struct mq_conn *c, const struct rx_mq_packet *p)
{
    const struct rx_mqtt_conf *m = &c->f->conf;
    const uint8_t *dev, *bag;
    size_t dl, bl, pk_len;
    const char *why = NULL;
    if (p->payload_len > c->f->max_body)
        return 1 + REJ_TOO_LARGE;
    if (!rx_mq_topic_match(m->topic, strlen(m->topic), p->topic, p->topic_len) ||
        rx_mq_topic_events(p->topic, p->topic_len, &dev, &dl, &bag, &bl) ||
        rx_mq_unescape(dev, dl, c->scratch, &pk_len) || !pk_len || pk_len > RX_PKEY_MAX)
        return 1 + REJ_TOPIC;
    rx_props_reset(&c->props);
    if (rx_mq_bag_decode(bag, bl, &c->props, c->scratch + pk_len, &why))
        return 1 + REJ_PROPS;
    if (rx_mq_bag_packed(bag, bl))
        return take_packed(c, p, c->scratch, pk_len);
    if (rx_props_string(&c->props, "iothub-connection-device-id", 27, c->scratch, pk_len, &why))
        return 1 + REJ_PROPS;
    if (p->props_len && rx_mq_user_props(p->props, p->props_len, user_prop, c))
        return 1 + REJ_PROPS;
    return add_event(c, c->scratch, pk_len, p->payload, p->payload_len);
}

void rx_mq__reject(struct mq_conn *c, int reason, const struct rx_mq_packet *p)
{
    uint_fast64_t n = atomic_fetch_add(&c->f->rejected[reason], 1);
    if (n < 10 || !(n & (n - 1)))
        hc_warn("mqtt: %s: refused a message on %.*s (%s), #%llu", c->client_id,
                (int)(p->topic_len > 120 ? 120 : p->topic_len), (const char *)p->topic,
                rx_mq__rej_name[reason], (unsigned long long)n + 1);
}

/* The current batch as a send of the core's (events pointing into its arena). */
static int prepare(struct mq_conn *c, struct mq_batch *b)
{
    b->charged = (int64_t)b->arena.len;
    if (!(b->ev = calloc(b->n, sizeof *b->ev)))
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        struct mq_item *it = &b->items[i];
        b->ev[i] = (struct rx_event){.body = (const uint8_t *)b->arena.p + it->body,
                                     .body_len = it->body_len,
                                     .pkey = b->arena.p + it->pkey,
                                     .pkey_len = it->pkey_len,
                                     .props = (const uint8_t *)b->arena.p + it->props,
                                     .props_len = it->props_len};
    }
    b->send = (struct rx_send){
        .hub = c->f->conf.hub, .partition = -1, .ev = b->ev, .n = b->n, .done = on_done, .ctx = b};
    return 0;
}

/*
 * Hand the held batch, then the current one, to the core while the budget allows (a batch
 * over max_inflight stays held and the socket is not read until sends finish). Returns 0 or -1
 * (fatal: out of memory, the core refused).
 */
int rx_mq__submit(struct mq_conn *c)
{
    for (;;) {
        struct mq_batch *b = c->held;
        if (!b) {
            if (!c->cur || !c->cur->n)
                return 0;
            b = c->held = c->cur;
            c->cur = NULL;
            if (prepare(c, b))
                return -1;
        }
        if (rx_core_charge(c->f->core, b->charged))
            return 0;
        c->held = NULL;
        if (rx_core_submit(c->f->core, &b->send)) {
            rx_core_uncharge(c->f->core, b->charged);
            return -1;
        }
        c->inflight++;
    }
}

/* A PUBLISH: into the batch, or refused; its place in the ack queue. Returns 0 or -1. */
int rx_mq__on_publish(struct mq_conn *c, const struct rx_mq_packet *p)
{
    int r = take_publish(c, p);
    if (r < 0)
        return -1;
    if (r > 0)
        rx_mq__reject(c, r - 1, p);
    if (p->qos && rx_mq__ring_push(c, p->packet_id, r ? NULL : c->cur))
        return -1;
    if (!r && c->cur->n >= MQ_BATCH_EVENTS)
        return rx_mq__submit(c);
    return 0;
}

/* ---- the front end ------------------------------------------------------------------------- */

static int mq_render(void *ctx, struct hc_buf *out)
{
    struct mq_front *f = ctx;
    int rc = hc_buf_addf(
        out,
        "# TYPE hubcap_receiver_mqtt_messages_total counter\n"
        "hubcap_receiver_mqtt_messages_total{outcome=\"captured\"} %llu\n"
        "hubcap_receiver_mqtt_messages_total{outcome=\"acknowledged\"} %llu\n"
        "# TYPE hubcap_receiver_mqtt_connects_total counter\n"
        "hubcap_receiver_mqtt_connects_total %llu\n"
        "# TYPE hubcap_receiver_mqtt_disconnects_total counter\n"
        "hubcap_receiver_mqtt_disconnects_total %llu\n"
        "# TYPE hubcap_receiver_mqtt_connected gauge\n"
        "hubcap_receiver_mqtt_connected %d\n"
        "# TYPE hubcap_receiver_mqtt_rejected_total counter\n",
        (unsigned long long)atomic_load(&f->captured), (unsigned long long)atomic_load(&f->acked),
        (unsigned long long)atomic_load(&f->connects),
        (unsigned long long)atomic_load(&f->disconnects), atomic_load(&f->connected));
    for (int i = 0; i < REJ_COUNT && !rc; i++)
        rc = hc_buf_addf(out, "hubcap_receiver_mqtt_rejected_total{reason=\"%s\"} %llu\n",
                         rx_mq__rej_name[i], (unsigned long long)atomic_load(&f->rejected[i]));
    if (!rc)
        rc = hc_buf_adds(out, "# TYPE hubcap_receiver_mqtt_connect_errors_total counter\n");
    for (int i = 0; i < CE_COUNT && !rc; i++)
        rc = hc_buf_addf(out, "hubcap_receiver_mqtt_connect_errors_total{reason=\"%s\"} %llu\n",
                         rx_mq__ce_name[i], (unsigned long long)atomic_load(&f->connect_errors[i]));
    return rc;
}

static void conn_free(struct mq_conn *c)
{
    if (c->evfd >= 0)
        close(c->evfd);
    free(c->ring);
    free(c->rb);
    free(c->scratch);
    hc_buf_free(&c->w);
    rx_props_free(&c->props);
    rx_batch_free(&c->packed);
    pthread_mutex_destroy(&c->mu);
}

static int conn_init(struct mq_front *f, int i)
{
    struct mq_conn *c = &f->conns[i];
    c->f = f;
    c->idx = i;
    c->fd = -1;
    pthread_mutex_init(&c->mu, NULL);
    rx_props_init(&c->props);
    rx_batch_init(&c->packed);
    if (i)
        snprintf(c->client_id, sizeof c->client_id, "%s-%d", f->conf.client_id, i);
    else
        snprintf(c->client_id, sizeof c->client_id, "%s", f->conf.client_id);
    c->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    c->rsize = MQ_READ_CHUNK;
    c->rb = malloc(c->rsize);
    c->scratch = malloc(MQ_TOPIC_MAX * 2);
    return c->evfd < 0 || !c->rb || !c->scratch ? -ENOMEM : 0;
}

/* Stopped after the REST front end (serve.c starts this one first), so no /metrics request
 * renders f once it is freed. */
static void mq_stop(void *ctx, int64_t drain_ms)
{
    struct mq_front *f = ctx;
    if (!f)
        return;
    f->drain_ms = drain_ms;
    atomic_store(&f->stop, 1);
    int busy = 0;
    for (int i = 0; i < f->n; i++)
        pthread_join(f->conns[i].th, NULL);
    for (int i = 0; i < f->n; i++)
        busy |= f->conns[i].inflight > 0;
    if (busy)
        return; /* a thread gave up draining: the core still calls back into f, keep it */
    for (int i = 0; i < f->n; i++)
        conn_free(&f->conns[i]);
    rx_mq__tls_free(f);
    free(f);
}

static int mq_start(const struct rx_frontend_env *env, void **ctx, const char **why)
{
    static char msg[600];
    struct mq_front *f = calloc(1, sizeof *f);
    int rc;
    *ctx = NULL;
    *why = "out of memory";
    if (!f)
        return -ENOMEM;
    if ((rc = rx_mqtt_conf(env->c, &f->conf, msg, sizeof msg))) {
        free(f);
        *why = msg;
        return rc;
    }
    if (rx_mq__tls_init(f, msg, sizeof msg)) {
        rx_mq__tls_free(f);
        free(f);
        *why = msg;
        return HC_E_INVAL;
    }
    f->c = env->c;
    f->core = env->core;
    f->max_body = env->c->max_publication;
    f->max_packet = f->max_body + MQ_TOPIC_MAX + 1024;
    f->drain_ms = 15000;
    for (f->n = 0; f->n < f->conf.connections; f->n++) {
        if (conn_init(f, f->n) ||
            pthread_create(&f->conns[f->n].th, NULL, rx_mq__conn_main, &f->conns[f->n])) {
            conn_free(&f->conns[f->n]);
            mq_stop(f, 0);
            return -ENOMEM;
        }
    }
    rx_metrics_add_source(env->m, mq_render, f);
    *ctx = f;
    return 0;
}

static void mq_banner(void *ctx, FILE *out)
{
    struct mq_front *f = ctx;
    fprintf(out, "mqtt: subscribed to %s on %s://%s:%d as %s (%d connection%s, MQTT %s, hub %s)\n",
            f->conf.topic, f->conf.tls ? "mqtts" : "mqtt", f->conf.host, f->conf.port,
            f->conf.client_id, f->conf.connections, f->conf.connections > 1 ? "s" : "",
            f->conf.version == 5 ? "5" : "3.1.1", f->c->hubs[f->conf.hub].name);
}

const struct rx_frontend rx_frontend_mqtt = {
    .name = "mqtt",
    .start = mq_start,
    .banner = mq_banner,
    .stop = mq_stop,
};
