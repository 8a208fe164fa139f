/*
 * mqtt_conn.c - the MQTT transport's connection (mqtt_int.h): paho's callbacks (on paho's
 * threads with its global mutex held: they take only our mutex, and we never call paho while
 * holding it), connect and teardown, the IoT Hub SAS token.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/transport/mqtt/mqtt_int.h"
#include "common/error.h"
#include "common/hctime.h"

int64_t ag_mqtt__now_ms(void)
{
    return hc_mono_ns() / 1000000;
}

void ag_mqtt__status(struct ag_send_status *st, enum ag_send_result r, enum ag_send_why why,
                     const char *code, const char *fmt, ...)
{
    va_list ap;
    st->result = r;
    st->why = why;
    snprintf(st->code, sizeof st->code, "%s", code);
    va_start(ap, fmt);
    vsnprintf(st->error, sizeof st->error, fmt, ap);
    va_end(ap);
}

/* ---- paho's callbacks (paho's threads, its mutex held) --------------------------------------- */

static void answer(struct mqtt_slot *s, int ok, int code)
{
    struct mqtt_ctx *c = s->c;
    pthread_mutex_lock(&c->mu);
    if (s->b->out[s->i] == R_PENDING) {
        for (size_t j = s->i; j < s->i + s->k; j++) {
            s->b->out[j] = ok ? R_OK : R_FAIL;
            s->b->code[j] = code;
        }
        s->b->answered += s->k;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

void ag_mqtt__on_pub_ok(void *context, MQTTAsync_successData *d)
{
    (void)d;
    answer(context, 1, 0);
}

void ag_mqtt__on_pub_fail(void *context, MQTTAsync_failureData *d)
{
    answer(context, 0, d ? -1 : -1);
}

void ag_mqtt__on_pub_ok5(void *context, MQTTAsync_successData5 *d)
{
    (void)d;
    answer(context, 1, 0);
}

void ag_mqtt__on_pub_fail5(void *context, MQTTAsync_failureData5 *d)
{
    answer(context, 0, d && d->reasonCode >= 0x80 ? (int)d->reasonCode : -1);
}

static void on_lost(void *context, char *cause)
{
    struct mqtt_ctx *c = context;
    (void)cause;
    pthread_mutex_lock(&c->mu);
    c->lost = 1;
    c->up = 0;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* A device receives nothing here: take and drop. */
static int on_message(void *context, char *topic, int tlen, MQTTAsync_message *m)
{
    (void)context;
    (void)tlen;
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void connected(struct mqtt_ctx *c, int rc, const char *msg)
{
    pthread_mutex_lock(&c->mu);
    c->connecting = 0;
    c->connect_rc = rc;
    c->up = rc == 0;
    snprintf(c->connect_msg, sizeof c->connect_msg, "%s", msg ? msg : "");
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void on_conn_ok(void *context, MQTTAsync_successData *d)
{
    (void)d;
    connected(context, 0, NULL);
}

static void on_conn_fail(void *context, MQTTAsync_failureData *d)
{
    connected(context, d && d->code > 0 ? d->code : -1, d ? d->message : NULL);
}

static void on_conn_ok5(void *context, MQTTAsync_successData5 *d)
{
    (void)d;
    connected(context, 0, NULL);
}

static void on_conn_fail5(void *context, MQTTAsync_failureData5 *d)
{
    connected(context,
              d && d->reasonCode ? (int)d->reasonCode
              : d && d->code > 0 ? d->code
                                 : -1,
              d ? d->message : NULL);
}

/* ---- the connection -------------------------------------------------------------------------- */

/* Destroy the client (no callback runs after this); every batch's slots are then free. */
void ag_mqtt__teardown(struct mqtt_ctx *c)
{
    if (!c->h)
        return;
    if (c->up) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        d.timeout = 0;
        MQTTAsync_disconnect(c->h, &d);
    }
    MQTTAsync_destroy(&c->h);
    c->h = NULL;
    c->up = c->lost = 0;
    c->ctr.v[AG_TPC_DISCONNECTS]++; /* every client here was connected (ag_mqtt__ensure_up) */
}

/* The token for this connection (IoT Hub with a key): a fresh one when less than renew is left. */
int ag_mqtt__ensure_token(struct mqtt_ctx *c)
{
    int64_t now = hc_now_ms();
    struct hc_buf t = HC_BUF_INIT;
    int rc;
    if (!c->conf.iothub)
        return 0;
    if (c->conf.token) {
        if (c->token.len)
            return 0;
        return hc_buf_adds(&c->token, c->conf.token);
    }
    if (c->token.len && c->token_expiry_s * 1000 - now > c->conf.token_renew_ms)
        return 0;
    int64_t exp = now / 1000 + c->conf.token_ttl_ms / 1000;
    if ((rc = ag_mqtt_iothub_sas(c->conf.hub_host, c->conf.device_id, c->conf.key, exp, &t)))
        return rc;
    if (c->token.len)
        c->ctr.v[AG_TPC_TOKENS]++;
    memset(c->token.p, 0, c->token.len);
    hc_buf_free(&c->token);
    c->token = t;
    c->token_expiry_s = exp;
    return 0;
}

static void connect_options(struct mqtt_ctx *c, MQTTAsync_connectOptions *o,
                            MQTTAsync_SSLOptions *ssl)
{
    const struct ag_mqtt_conf *f = &c->conf;
    o->keepAliveInterval = (int)(f->keepalive_ms / 1000);
    o->maxInflight = (int)f->max_inflight;
    o->connectTimeout = (int)((f->connect_timeout_ms + 999) / 1000);
    o->context = c;
    if (f->version == AG_MQTT_VERSION_5) {
        o->cleanstart = 1;
        o->onSuccess5 = on_conn_ok5;
        o->onFailure5 = on_conn_fail5;
    } else {
        o->cleansession = 1;
        o->onSuccess = on_conn_ok;
        o->onFailure = on_conn_fail;
    }
    o->username = f->iothub ? c->user.p : f->username;
    o->password = f->iothub ? c->token.p : f->password;
    if (f->tls) {
        ssl->trustStore = f->ca_file;
        ssl->keyStore = f->cert_file;
        ssl->privateKey = f->key_file;
        ssl->enableServerCertAuth = 1;
        ssl->verify = 1;
        ssl->sslVersion = MQTT_SSL_VERSION_TLS_1_2;
        o->ssl = ssl;
    }
}

/* The failure of a connect attempt into st. */
static void connect_failed(struct mqtt_ctx *c, int rc, struct ag_send_status *st)
{
    const char *target = c->conf.uri;
    char code[AG_SEND_CODE_MAX];
    if (rc > 0) {
        int auth = rc == 4 || rc == 5 || rc == 0x86 || rc == 0x87;
        snprintf(code, sizeof code, "CONNACK %d", rc);
        if (auth)
            c->ctr.v[AG_TPC_AUTH_REFUSED]++;
        ag_mqtt__status(st, AG_SEND_RETRY, auth ? AG_WHY_AUTH : AG_WHY_SERVER, code,
                        "%s refused the connection: %s%s", target, ag_mqtt_connack_text(rc),
                        auth ? (c->conf.iothub ? " (check DeviceId, SharedAccessKey and the clock)"
                                               : " (check username, password and the broker's ACL)")
                        : rc == 0x84 || rc == 1 ? " (set mqtt_version = 3.1.1)"
                                                : "");
        return;
    }
    ag_mqtt__status(st, AG_SEND_RETRY, c->conf.tls ? AG_WHY_TLS : AG_WHY_NETWORK, "",
                    "cannot connect to %s: %s", target,
                    c->connect_msg[0] ? c->connect_msg : "no answer within connect_timeout");
    if (!c->conf.tls || strstr(c->connect_msg, "TCP"))
        st->why = AG_WHY_NETWORK;
}

/* Make a connection when there is none. Returns 0, or fills st (RETRY) and returns -1. */
int ag_mqtt__ensure_up(struct mqtt_ctx *c, struct ag_send_status *st)
{
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    MQTTAsync_connectOptions o5 = MQTTAsync_connectOptions_initializer5;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    int v5 = c->conf.version == AG_MQTT_VERSION_5, rc;
    int64_t deadline;
    if (c->h && c->up && !c->lost)
        return 0;
    ag_mqtt__teardown(c);
    if (ag_mqtt__ensure_token(c)) {
        ag_mqtt__status(st, AG_SEND_RETRY, AG_WHY_INTERNAL, "",
                        "cannot make the IoT Hub SAS token");
        return -1;
    }
    co.MQTTVersion = v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
    co.maxBufferedMessages = 1 << 20; /* publishes queued beyond max_inflight (two batches) */
    if (MQTTAsync_createWithOptions(&c->h, c->conf.uri, c->conf.client_id,
                                    MQTTCLIENT_PERSISTENCE_NONE, NULL, &co) != MQTTASYNC_SUCCESS) {
        c->h = NULL;
        ag_mqtt__status(st, AG_SEND_RETRY, AG_WHY_INTERNAL, "", "cannot create an MQTT client");
        return -1;
    }
    MQTTAsync_setCallbacks(c->h, c, on_lost, on_message, NULL);
    if (v5)
        o = o5;
    else
        o.MQTTVersion = MQTTVERSION_3_1_1;
    connect_options(c, &o, &ssl);
    c->connecting = 1;
    c->connect_msg[0] = '\0';
    if ((rc = MQTTAsync_connect(c->h, &o)) != MQTTASYNC_SUCCESS) {
        c->connecting = 0;
        MQTTAsync_destroy(&c->h);
        c->h = NULL;
        ag_mqtt__status(st, AG_SEND_RETRY, AG_WHY_INTERNAL, "", "cannot connect to %s: %s",
                        c->conf.uri, MQTTAsync_strerror(rc));
        return -1;
    }
    deadline = ag_mqtt__now_ms() + c->conf.connect_timeout_ms + 1000;
    pthread_mutex_lock(&c->mu);
    while (c->connecting && ag_mqtt__now_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    rc = c->connecting ? -1 : c->connect_rc;
    pthread_mutex_unlock(&c->mu);
    if (rc) {
        connect_failed(c, rc, st);
        c->up = 0;
        MQTTAsync_destroy(&c->h);
        c->h = NULL;
        return -1;
    }
    c->ctr.v[AG_TPC_CONNECTS]++;
    return 0;
}
