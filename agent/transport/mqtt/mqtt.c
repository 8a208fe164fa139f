/*
 * mqtt.c - events over MQTT at QoS 1 (mqtt_conf.h) on paho.mqtt.c's MQTTAsync, to Azure IoT
 * Hub or a broker.
 *
 * A connection is one MQTTAsync client, made when a send finds none: created, connected (clean
 * session: what was not acknowledged is the shipper's to send again), waited for within
 * connect_timeout. Every record is one MQTTAsync_sendMessage at QoS 1 (with events_per_message
 * > 1, a run of records is one, its slot answering for all of them); paho keeps up to
 * max_inflight of them awaiting their PUBACK (maxInflight) and queues the rest. A record counts
 * as stored only when its PUBACK came (the publish's onSuccess, or onSuccess5 on MQTT 5: a
 * PUBACK reason code >= 0x80 comes as onFailure5 and is mapped by ag_mqtt_reason_result).
 * begin/end keep two batches in flight; end waits until every record of the oldest has its
 * answer, the connection is lost, or timeout passes, and reports the contiguous run of PUBACKs.
 *
 * paho calls back on its own threads with its global mutex held, so this module never holds
 * its own lock while it calls paho. A publish's callback context is a slot (ctx, batch, index)
 * of the batch; slots are freed only when every one of them was answered, or after the client
 * was destroyed (MQTTAsync_destroy takes paho's mutex, so no callback runs after it): every end
 * that is not a whole OK, abort, and a connection loss tear the client down. The next send
 * connects anew, after the shipper's back-off.
 *
 * IoT Hub's SAS token is made at connect time for token_ttl; once it has less than token_renew
 * left, the connection is closed between batches (in idle or before a begin) and made again
 * with a fresh token, as IoT Hub's SDKs do.
 */
#include "agent/transport/mqtt/mqtt_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/hctime.h"
#include "common/uuid.h"

/* ---- batches --------------------------------------------------------------------------------- */

static void batch_free(struct mqtt_batch *b)
{
    free(b->out);
    free(b->code);
    free(b->slots);
    memset(b, 0, sizeof *b);
}

/* Forget every batch: the client goes first when a publish may still be answered. */
static void drop_all(struct mqtt_ctx *c)
{
    int open = 0;
    for (size_t k = 0; k < MQTT_PIPE; k++)
        if (c->bt[k].slots && c->bt[k].answered < c->bt[k].n)
            open = 1;
    if (open)
        ag_mqtt__teardown(c);
    for (size_t k = 0; k < MQTT_PIPE; k++)
        batch_free(&c->bt[k]);
    c->nb = c->head = 0;
}

/* Put the MQTT 5 user properties (and content type) of rec into p. */
static void user_props(const struct ag_record *rec, MQTTProperties *p, char *id, char *sch)
{
    const char *kind = hc_kind_name(rec->ev.kind);
    const char *names[] = {"event_id", "device_id", "kind", "schema"};
    const char *vals[] = {id, rec->ev.device_id, kind, sch};
    size_t lens[] = {strlen(id), rec->ev.device_id_len, strlen(kind), strlen(sch)};
    MQTTProperty ct = {.identifier = MQTTPROPERTY_CODE_CONTENT_TYPE};
    ct.value.data.data = "application/json";
    ct.value.data.len = 16;
    MQTTProperties_add(p, &ct);
    for (int i = 0; i < 4; i++) {
        MQTTProperty u = {.identifier = MQTTPROPERTY_CODE_USER_PROPERTY};
        u.value.data.data = (char *)names[i];
        u.value.data.len = (int)strlen(names[i]);
        u.value.value.data = (char *)vals[i];
        u.value.value.len = (int)lens[i];
        MQTTProperties_add(p, &u);
    }
}

/* The device of rec's topic: the device_id setting, else the event's own. */
static const char *topic_device(const struct mqtt_ctx *c, const struct ag_record *rec, size_t *len)
{
    if (c->conf.device_id) {
        *len = strlen(c->conf.device_id);
        return c->conf.device_id;
    }
    *len = rec->ev.device_id_len;
    return rec->ev.device_id ? rec->ev.device_id : "";
}

/*
 * The packed form (mqtt_conf.h): records i.. of b, as many as events_per_message, the same
 * topic device and AG_MQTT_MAX_MESSAGE allow, in one PUBLISH. *k: how many. Returns 0, or a
 * paho code; a run of one record is left to publish (*k 1, returns 1).
 */
static int publish_packed(struct mqtt_ctx *c, struct mqtt_batch *b, size_t i, size_t *k)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    MQTTAsync_message m = MQTTAsync_message_initializer;
    size_t dl, dl2, n = 0, end;
    const char *dev = topic_device(c, b->recs[i], &dl);
    int rc;
    hc_buf_reset(&c->pack);
    for (end = i; end < b->n && end - i < c->conf.events_per_message; end++) {
        const char *d2 = topic_device(c, b->recs[end], &dl2);
        size_t before = c->pack.len;
        if (dl2 != dl || memcmp(d2, dev, dl))
            break;
        if (ag_mqtt_packed_item(b->recs[end], end == i ? '[' : ',', &c->pack))
            return MQTTASYNC_FAILURE;
        if (c->pack.len + 1 > AG_MQTT_MAX_MESSAGE - 1024) { /* room for the topic */
            hc_buf_truncate(&c->pack, before);
            break;
        }
        n++;
    }
    *k = n ? n : 1;
    if (n < 2)
        return 1;
    if (hc_buf_addc(&c->pack, ']'))
        return MQTTASYNC_FAILURE;
    hc_buf_reset(&c->topic);
    if (ag_mqtt_packed_topic(dev, dl, &c->topic) || hc_buf_addc(&c->topic, '\0'))
        return MQTTASYNC_FAILURE;
    b->slots[i] = (struct mqtt_slot){.c = c, .b = b, .i = i, .k = n};
    ro.context = &b->slots[i];
    m.payload = c->pack.p;
    m.payloadlen = (int)c->pack.len;
    m.qos = 1;
    if (c->conf.version == AG_MQTT_VERSION_5) {
        MQTTProperty ct = {.identifier = MQTTPROPERTY_CODE_CONTENT_TYPE};
        ct.value.data.data = AG_MQTT_PACKED_TYPE;
        ct.value.data.len = (int)strlen(AG_MQTT_PACKED_TYPE);
        MQTTProperties_add(&m.properties, &ct);
        ro.onSuccess5 = ag_mqtt__on_pub_ok5;
        ro.onFailure5 = ag_mqtt__on_pub_fail5;
    } else {
        ro.onSuccess = ag_mqtt__on_pub_ok;
        ro.onFailure = ag_mqtt__on_pub_fail;
    }
    rc = MQTTAsync_sendMessage(c->h, c->topic.p, &m, &ro);
    MQTTProperties_free(&m.properties);
    if (rc == MQTTASYNC_SUCCESS) {
        c->ctr.v[AG_TPC_REQUESTS]++;
        c->ctr.v[AG_TPC_BYTES] += c->pack.len;
    }
    return rc;
}

/* Hand record i of b to paho. Returns 0, or a paho code. */
static int publish(struct mqtt_ctx *c, struct mqtt_batch *b, size_t i)
{
    const struct ag_record *rec = b->recs[i];
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    MQTTAsync_message m = MQTTAsync_message_initializer;
    char id[HC_UUID_STRLEN], sch[16];
    int rc, v5 = c->conf.version == AG_MQTT_VERSION_5;
    hc_buf_reset(&c->topic);
    if (ag_mqtt_topic(rec, c->conf.device_id, &c->topic) || hc_buf_addc(&c->topic, '\0'))
        return MQTTASYNC_FAILURE;
    b->slots[i] = (struct mqtt_slot){.c = c, .b = b, .i = i, .k = 1};
    ro.context = &b->slots[i];
    m.payload = (void *)rec->json;
    m.payloadlen = (int)rec->json_len;
    m.qos = 1;
    if (v5) {
        hc_uuid_format(rec->ev.id, id);
        snprintf(sch, sizeof sch, "%d", rec->ev.schema);
        user_props(rec, &m.properties, id, sch);
        ro.onSuccess5 = ag_mqtt__on_pub_ok5;
        ro.onFailure5 = ag_mqtt__on_pub_fail5;
    } else {
        ro.onSuccess = ag_mqtt__on_pub_ok;
        ro.onFailure = ag_mqtt__on_pub_fail;
    }
    rc = MQTTAsync_sendMessage(c->h, c->topic.p, &m, &ro);
    if (v5)
        MQTTProperties_free(&m.properties);
    if (rc == MQTTASYNC_SUCCESS) {
        c->ctr.v[AG_TPC_REQUESTS]++;
        c->ctr.v[AG_TPC_BYTES] += rec->json_len;
    }
    return rc;
}

static void mqtt_begin(void *ctx, const struct ag_record *const *recs, size_t n)
{
    struct mqtt_ctx *c = ctx;
    struct mqtt_batch *b = &c->bt[(c->head + c->nb) % MQTT_PIPE];
    size_t i, k;
    int rc = MQTTASYNC_SUCCESS;
    b->recs = recs;
    b->asked = b->n = n;
    b->answered = 0;
    b->begun_fail = 0;
    b->deadline = ag_mqtt__now_ms() + c->conf.timeout_ms;
    c->nb++;
    b->out = calloc(n, 1);
    b->code = calloc(n, sizeof *b->code);
    b->slots = calloc(n, sizeof *b->slots);
    if (!b->out || !b->code || !b->slots) {
        b->begun_fail = 1;
        b->n = 0;
        ag_mqtt__status(&b->fail, AG_SEND_RETRY, AG_WHY_INTERNAL, "", "out of memory");
        return;
    }
    if (c->nb == 1 && c->conf.iothub && !c->conf.token && c->up &&
        c->token_expiry_s * 1000 - hc_now_ms() <= c->conf.token_renew_ms)
        ag_mqtt__teardown(c); /* a fresh token: reconnect between batches */
    if (c->nb > 1 && (!c->h || !c->up || c->lost)) {
        /* the earlier batch still waits on the lost connection: it answers first */
        ag_mqtt__status(&b->fail, AG_SEND_RETRY, AG_WHY_NETWORK, "", "%s: the connection was lost",
                        c->conf.uri);
        b->begun_fail = 1;
        b->n = 0;
        return;
    }
    if (ag_mqtt__ensure_up(c, &b->fail)) {
        b->begun_fail = 1;
        b->n = 0;
        return;
    }
    for (i = 0; i < n; i += k) {
        k = 1;
        if (c->conf.events_per_message > 1 && (rc = publish_packed(c, b, i, &k)) != 1) {
            if (rc != MQTTASYNC_SUCCESS)
                break;
            continue;
        }
        if ((rc = publish(c, b, i)) != MQTTASYNC_SUCCESS)
            break;
    }
    if (i < n) {
        /* the later records were never handed over: the batch ends at i */
        ag_mqtt__status(&b->fail, AG_SEND_RETRY, AG_WHY_NETWORK, "", "%s: cannot publish: %s",
                        c->conf.uri, MQTTAsync_strerror(rc));
        b->begun_fail = 1;
        pthread_mutex_lock(&c->mu);
        b->n = i;
        pthread_mutex_unlock(&c->mu);
    }
}

/* Wait until b is answered, the connection is lost or its deadline passes. */
static void wait_batch(struct mqtt_ctx *c, struct mqtt_batch *b)
{
    pthread_mutex_lock(&c->mu);
    while (b->answered < b->n && c->h && !c->lost && ag_mqtt__now_ms() < b->deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
}

/* The answer of the batch b (all its records' outcomes in, or the wait over) into st. */
static void summarize(struct mqtt_ctx *c, struct mqtt_batch *b, struct ag_send_status *st)
{
    size_t want = b->asked;
    size_t i = 0;
    pthread_mutex_lock(&c->mu);
    while (i < b->n && b->out[i] == R_OK)
        i++;
    st->acked = i;
    c->ctr.v[AG_TPC_ACCEPTED] += i;
    if (i == want) {
        st->result = AG_SEND_OK;
    } else if (i < b->n && b->out[i] == R_FAIL && b->code[i] > 0) {
        enum ag_send_why why;
        enum ag_send_result r = ag_mqtt_reason_result(b->code[i], &why);
        char code[AG_SEND_CODE_MAX];
        snprintf(code, sizeof code, "PUBACK 0x%02x", b->code[i]);
        ag_mqtt__status(st, r, why, code, "%s answered the event with %s", c->conf.uri,
                        ag_mqtt_connack_text(b->code[i]));
        if (r == AG_SEND_REJECT) {
            st->one = 1;
            while (i + 1 + st->acked_after < b->n && b->out[i + 1 + st->acked_after] == R_OK)
                st->acked_after++;
            c->ctr.v[AG_TPC_REJECTED]++;
        }
    } else if (b->begun_fail && i == b->n) {
        *st = b->fail; /* every record handed over is stored: begin's failure is the answer */
    } else if (c->lost || (i < b->n && b->out[i] == R_FAIL)) {
        ag_mqtt__status(st, AG_SEND_RETRY, AG_WHY_NETWORK, "", "%s: the connection was lost",
                        c->conf.uri);
    } else {
        ag_mqtt__status(st, AG_SEND_RETRY, AG_WHY_NETWORK, "", "%s: no PUBACK within timeout",
                        c->conf.uri);
    }
    st->acked = i;
    if (st->result != AG_SEND_OK)
        c->ctr.v[AG_TPC_RETRIED] += want - i - (st->one ? 1 + st->acked_after : 0);
    pthread_mutex_unlock(&c->mu);
}

static enum ag_send_result mqtt_end(void *ctx, struct ag_send_status *st)
{
    struct mqtt_ctx *c = ctx;
    struct mqtt_batch *b = &c->bt[c->head];
    ag_send_status_reset(st);
    if (!c->nb) {
        ag_mqtt__status(st, AG_SEND_RETRY, AG_WHY_INTERNAL, "", "mqtt: end without begin");
        return st->result;
    }
    wait_batch(c, b);
    summarize(c, b, st);
    if (st->result == AG_SEND_OK) {
        batch_free(b);
        c->head = (c->head + 1) % MQTT_PIPE;
        c->nb--;
        return st->result;
    }
    drop_all(c); /* the shipper aborts the others anyway */
    return st->result;
}

static void mqtt_abort(void *ctx)
{
    struct mqtt_ctx *c = ctx;
    drop_all(c);
}

static enum ag_send_result mqtt_send(void *ctx, const struct ag_record *const *recs, size_t n,
                                     struct ag_send_status *st)
{
    mqtt_begin(ctx, recs, n);
    return mqtt_end(ctx, st);
}

/* ---- the rest of the interface --------------------------------------------------------------- */

static int mqtt_init(const struct ag_kv *conf, size_t n, void *arg, void **out, char *err,
                     size_t errlen)
{
    struct mqtt_ctx *c = calloc(1, sizeof *c);
    const char *why = "out of memory";
    int rc = -ENOMEM;
    (void)arg;
    *out = NULL;
    if (!c)
        goto out_err;
    ag_mqtt_conf_default(&c->conf);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    for (size_t i = 0; i < n; i++)
        if ((rc = ag_mqtt_conf_set(&c->conf, conf[i].key, conf[i].value, &why))) {
            snprintf(err, errlen, "mqtt: %s: %s", conf[i].key, why);
            goto out_free;
        }
    if ((rc = ag_mqtt_conf_finish(&c->conf, &why)))
        goto out_err;
    if (c->conf.iothub &&
        (rc = ag_mqtt_iothub_username(c->conf.hub_host, c->conf.device_id, &c->user))) {
        why = "out of memory";
        goto out_err;
    }
    if (c->conf.iothub && (rc = ag_mqtt__ensure_token(c))) {
        why = "the SharedAccessKey is not base64 (copy the device's primary key)";
        goto out_err;
    }
    *out = c;
    return 0;
out_err:
    snprintf(err, errlen, "%s", why);
out_free:
    if (c) {
        ag_mqtt_conf_free(&c->conf);
        hc_buf_free(&c->user);
        hc_buf_free(&c->token);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
    }
    free(c);
    return rc;
}

static void mqtt_close(void *ctx)
{
    struct mqtt_ctx *c = ctx;
    if (!c)
        return;
    ag_mqtt__teardown(c);
    drop_all(c);
    ag_mqtt_conf_free(&c->conf);
    if (c->token.p)
        memset(c->token.p, 0, c->token.len);
    hc_buf_free(&c->token);
    hc_buf_free(&c->user);
    hc_buf_free(&c->topic);
    hc_buf_free(&c->pack);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

static int mqtt_format(void *ctx, const struct ag_record *const *recs, size_t n, struct hc_buf *out)
{
    struct mqtt_ctx *c = ctx;
    size_t start = out->len;
    for (size_t i = 0; i < n; i++)
        if (ag_mqtt_publish_packet(recs[i], c->conf.device_id, out)) {
            hc_buf_truncate(out, start);
            return -ENOMEM;
        }
    return 0;
}

static size_t mqtt_record_size(void *ctx, const struct ag_record *rec)
{
    struct mqtt_ctx *c = ctx;
    return ag_mqtt_publish_size(rec, c->conf.device_id);
}

static void mqtt_limits(void *ctx, struct ag_transport_limits *lim)
{
    struct mqtt_ctx *c = ctx;
    memset(lim, 0, sizeof *lim);
    lim->max_batch_bytes = c->conf.max_batch_bytes;
    lim->max_event_bytes = AG_MQTT_MAX_MESSAGE;
    /* deeper queues cost paho O(n) scans: max_inflight messages, of events_per_message each */
    lim->max_batch_events = (size_t)c->conf.max_inflight * c->conf.events_per_message;
    lim->max_in_flight = MQTT_PIPE;
}

static void mqtt_idle(void *ctx)
{
    struct mqtt_ctx *c = ctx;
    if (!c->nb && c->h && c->conf.iothub && !c->conf.token &&
        c->token_expiry_s * 1000 - hc_now_ms() <= c->conf.token_renew_ms) {
        struct ag_send_status st;
        ag_mqtt__teardown(c);
        ag_mqtt__ensure_up(c, &st); /* a failure is the next send's to report */
    }
    if (c->h && c->lost && !c->nb)
        ag_mqtt__teardown(c);
}

static int mqtt_renew(void *ctx)
{
    struct mqtt_ctx *c = ctx;
    if (!c->conf.iothub)
        return HC_E_AUTH;
    if (c->conf.token)
        return HC_E_AUTH;
    c->token_expiry_s = 0; /* the next connect makes a new one */
    ag_mqtt__teardown(c);
    return 0;
}

static void mqtt_counters(void *ctx, struct ag_transport_counters *out)
{
    *out = ((struct mqtt_ctx *)ctx)->ctr;
}

const struct ag_transport ag_transport_mqtt = {
    .name = "mqtt",
    .init = mqtt_init,
    .send = mqtt_send,
    .close = mqtt_close,
    .format = mqtt_format,
    .record_size = mqtt_record_size,
    .renew_auth = mqtt_renew,
    .limits = mqtt_limits,
    .idle = mqtt_idle,
    .counters = mqtt_counters,
    .begin = mqtt_begin,
    .end = mqtt_end,
    .abort = mqtt_abort,
};
