/*
 * test_mqtt_codec.c - the receiver's MQTT packets and IoT Hub topics without a network:
 * CONNECT/SUBSCRIBE/PUBACK bytes as MQTT 3.1.1 and 5 lay them out, PUBLISH parsed whole, in
 * pieces, too large and malformed; topic filters; the property bag decoded, and refused when
 * badly escaped, not UTF-8 or twice named; the [mqtt] settings (mqtt:// and mqtts:// urls,
 * the TLS files and what they need).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "receiver/conf.h"
#include "receiver/mqtt/codec.h"
#include "receiver/mqtt/mqtt.h"

static void test_connect(void **state)
{
    struct hc_buf b = HC_BUF_INIT;
    struct rx_mq_connect c = {.version = RX_MQ_V311,
                              .client_id = "rx",
                              .username = "u",
                              .password = "p",
                              .keepalive_s = 30};
    static const uint8_t want311[] = {0x10, 20, 0, 4,   'M', 'Q', 'T', 'T', 4, 0xc0, 0,
                                      30,   0,  2, 'r', 'x', 0,   1,   'u', 0, 1,    'p'};
    static const uint8_t want5[] = {0x10, 21,   0,    4,    'M',  'Q',  'T',  'T',
                                    5,    0x00, 0,    30,   8,    0x11, 0xff, 0xff,
                                    0xff, 0xff, 0x21, 0xff, 0xff, 0,    0};
    (void)state;
    assert_int_equal(rx_mq_connect(&b, &c), 0);
    assert_int_equal(b.len, sizeof want311);
    assert_memory_equal(b.p, want311, sizeof want311);
    hc_buf_reset(&b);
    c = (struct rx_mq_connect){.version = RX_MQ_V5,
                               .keepalive_s = 30,
                               .session_expiry_s = 0xffffffff,
                               .receive_maximum = 65535};
    assert_int_equal(rx_mq_connect(&b, &c), 0);
    assert_int_equal(b.len, sizeof want5);
    assert_memory_equal(b.p, want5, sizeof want5);
    hc_buf_reset(&b);
    assert_int_equal(rx_mq_subscribe(&b, RX_MQ_V5, 7, "a/#", 3), 0);
    assert_memory_equal(b.p,
                        "\x82\x09\x00\x07\x00\x00\x03"
                        "a/#\x01",
                        11);
    hc_buf_reset(&b);
    assert_int_equal(rx_mq_puback(&b, 0x1234), 0);
    assert_memory_equal(b.p, "\x40\x02\x12\x34", 4);
    hc_buf_free(&b);
}

/* A PUBLISH at QoS 1 (5: with an empty property block, or user property k=v). */
static size_t publish(uint8_t *out, int v5, const char *topic, const char *payload, int props)
{
    size_t tl = strlen(topic), pl = strlen(payload), n = 0, rem;
    uint8_t pr[] = {0x26, 0, 1, 'k', 0, 1, 'v'};
    size_t prl = props ? sizeof pr : 0;
    rem = 2 + tl + 2 + (v5 ? 1 + prl : 0) + pl;
    out[n++] = 0x32;
    out[n++] = (uint8_t)rem; /* < 128 in these tests */
    out[n++] = 0;
    out[n++] = (uint8_t)tl;
    memcpy(out + n, topic, tl);
    n += tl;
    out[n++] = 0x01;
    out[n++] = 0x02;
    if (v5) {
        out[n++] = (uint8_t)prl;
        memcpy(out + n, pr, prl);
        n += prl;
    }
    memcpy(out + n, payload, pl);
    return n + pl;
}

static void seen(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    char *out = ctx;
    snprintf(out, 32, "%.*s=%.*s", (int)kl, (const char *)k, (int)vl, (const char *)v);
}

static void test_parse(void **state)
{
    uint8_t b[256];
    struct rx_mq_packet p;
    size_t need, n = publish(b, 1, "devices/d/messages/events/a=1", "{\"x\":1}", 1);
    char kv[32] = "";
    (void)state;
    for (size_t k = 0; k < n; k++) /* every prefix is "more, please" */
        assert_int_equal(rx_mq_parse(b, k, RX_MQ_V5, 1024, &p, &need), 0);
    assert_int_equal(rx_mq_parse(b, n, RX_MQ_V5, 1024, &p, &need), (int)n);
    assert_int_equal(p.type, RX_MQ_PUBLISH);
    assert_int_equal(p.qos, 1);
    assert_int_equal(p.packet_id, 0x0102);
    assert_int_equal(p.topic_len, 29);
    assert_int_equal(p.payload_len, 7);
    assert_memory_equal(p.payload, "{\"x\":1}", 7);
    assert_int_equal(rx_mq_user_props(p.props, p.props_len, seen, kv), 0);
    assert_string_equal(kv, "k=v");
    /* too large: the packet id is known, the caller skips p.len */
    assert_int_equal(rx_mq_parse(b, 20, RX_MQ_V5, 10, &p, &need), HC_E_TOOBIG);
    assert_int_equal(p.len, n);
    /* 3.1.1 */
    n = publish(b, 0, "t", "xy", 0);
    assert_int_equal(rx_mq_parse(b, n, RX_MQ_V311, 1024, &p, &need), (int)n);
    assert_int_equal(p.payload_len, 2);
    /* malformed: QoS 3, a topic past the end, a 5-byte remaining length, a SUBSCRIBE */
    b[0] = 0x36;
    assert_int_equal(rx_mq_parse(b, n, RX_MQ_V311, 1024, &p, &need), HC_E_PARSE);
    assert_int_equal(
        rx_mq_parse((const uint8_t *)"\x30\x03\x00\x09x", 5, RX_MQ_V311, 1024, &p, &need),
        HC_E_PARSE);
    assert_int_equal(
        rx_mq_parse((const uint8_t *)"\x30\xff\xff\xff\xff\x01", 6, RX_MQ_V311, 1024, &p, &need),
        HC_E_PARSE);
    assert_int_equal(rx_mq_parse((const uint8_t *)"\x82\x00", 2, RX_MQ_V311, 1024, &p, &need),
                     HC_E_PARSE);
    /* CONNACK with session present, SUBACK refused (5: with its property length) */
    assert_int_equal(rx_mq_parse((const uint8_t *)"\x20\x02\x01\x00", 4, RX_MQ_V311, 9, &p, &need),
                     4);
    assert_int_equal(p.session_present, 1);
    assert_int_equal(
        rx_mq_parse((const uint8_t *)"\x90\x04\x00\x01\x00\x87", 6, RX_MQ_V5, 9, &p, &need), 6);
    assert_int_equal(p.code, 0x87);
}

static void test_topics(void **state)
{
    const uint8_t *dev, *bag;
    size_t dl, bl;
#define T(s) (const uint8_t *)(s), strlen(s)
#define F(s) (s), strlen(s)
    (void)state;
    assert_true(
        rx_mq_topic_match(F("devices/+/messages/events/#"), T("devices/d/messages/events/")));
    assert_true(
        rx_mq_topic_match(F("devices/+/messages/events/#"), T("devices/d/messages/events")));
    assert_true(rx_mq_topic_match(F("$share/g/a/+"), T("a/b")));
    assert_false(rx_mq_topic_match(F("devices/+/messages/events/#"), T("devices/d/other")));
    assert_false(rx_mq_topic_match(F("a/+"), T("a/b/c")));
    assert_int_equal(
        rx_mq_topic_events(T("devices/pi%2F1/messages/events/a=1&b=2"), &dev, &dl, &bag, &bl), 0);
    assert_memory_equal(dev, "pi%2F1", dl);
    assert_memory_equal(bag, "a=1&b=2", bl);
    assert_int_equal(rx_mq_topic_events(T("devices/d/messages/events"), &dev, &dl, &bag, &bl), 0);
    assert_int_equal(bl, 0);
    assert_int_equal(rx_mq_topic_events(T("devices//messages/events/"), &dev, &dl, &bag, &bl),
                     HC_E_PARSE);
    assert_int_equal(rx_mq_topic_events(T("devices/d/messages/eventsX"), &dev, &dl, &bag, &bl),
                     HC_E_PARSE);
}

static void test_bag(void **state)
{
    struct rx_props p;
    char scratch[256];
    const char *why = NULL;
    (void)state;
    rx_props_init(&p);
    assert_int_equal(
        rx_mq_bag_decode(T("$.ct=application%2Fjson&a=%C3%BC&&b=&c"), &p, scratch, &why), 0);
    assert_int_equal(p.count, 3); /* a, b, c; $.ct is a system property */
    rx_props_reset(&p);
    assert_int_equal(rx_mq_bag_decode(T("a=%G1"), &p, scratch, &why), HC_E_PARSE);
    assert_int_equal(rx_mq_bag_decode(T("a=%4"), &p, scratch, &why), HC_E_PARSE);
    assert_int_equal(rx_mq_bag_decode(T("a=%FF"), &p, scratch, &why), HC_E_UTF8);
    rx_props_reset(&p);
    assert_int_equal(rx_mq_bag_decode(T("a=1&a=2"), &p, scratch, &why), HC_E_INVAL);
    rx_props_reset(&p);
    assert_int_equal(rx_mq_bag_decode(T("=1"), &p, scratch, &why), HC_E_PARSE);
    rx_props_free(&p);
    assert_int_equal(
        rx_mq_bag_packed(T("$.ct=application%2Fvnd.microsoft.servicebus.json&$.ce=utf-8")), 1);
    assert_int_equal(rx_mq_bag_packed(T("a=1&$.CT=Application%2fVnd.Microsoft.ServiceBus.Json")),
                     1);
    assert_int_equal(rx_mq_bag_packed(T("$.ct=application%2Fjson&$.ce=utf-8")), 0);
    assert_int_equal(rx_mq_bag_packed(T("x$.ct=application%2Fvnd.microsoft.servicebus.json")), 0);
    assert_int_equal(rx_mq_bag_packed(T("")), 0);
}

/* rx_mqtt_conf of the development settings plus the pairs in kv (NULL-terminated). */
static int conf_of(const char *const *kv, struct rx_mqtt_conf *m, char *why, size_t cap)
{
    static struct rx_conf c;
    rx_conf_dev(&c);
    for (; *kv; kv += 2)
        assert_int_equal(rx_conf_mqtt_set(&c, kv[0], kv[1]), 0);
    return rx_mqtt_conf(&c, m, why, cap);
}

static void test_conf(void **state)
{
    static struct rx_mqtt_conf m;
    char why[256];
    (void)state;
    assert_int_equal(conf_of((const char *const[]){NULL}, &m, why, sizeof why), 1); /* no url */
    assert_int_equal(
        conf_of((const char *const[]){"url", "mqtt://broker", NULL}, &m, why, sizeof why), 0);
    assert_string_equal(m.host, "broker");
    assert_int_equal(m.port, 1883);
    assert_int_equal(m.tls, 0);
    assert_int_equal(
        conf_of((const char *const[]){"url", "MQTTS://broker", NULL}, &m, why, sizeof why), 0);
    assert_int_equal(m.port, 8883);
    assert_int_equal(m.tls, 1);
    assert_string_equal(m.ca_file, ""); /* the system's CAs */
    assert_int_equal(
        conf_of((const char *const[]){"url", "mqtts://[::1]:18883/", "ca_file", "/ca.pem",
                                      "cert_file", "/c.pem", "key_file", "/c.key", NULL},
                &m, why, sizeof why),
        0);
    assert_string_equal(m.host, "::1");
    assert_int_equal(m.port, 18883);
    assert_string_equal(m.ca_file, "/ca.pem");
    assert_string_equal(m.cert_file, "/c.pem");
    assert_string_equal(m.key_file, "/c.key");
    assert_int_equal(conf_of((const char *const[]){"url", "mqtts://b", "cert_file", "/c.pem", NULL},
                             &m, why, sizeof why),
                     HC_E_INVAL);
    assert_non_null(strstr(why, "cert_file and key_file go together"));
    assert_int_equal(conf_of((const char *const[]){"url", "mqtt://b", "ca_file", "/ca.pem", NULL},
                             &m, why, sizeof why),
                     HC_E_INVAL);
    assert_non_null(strstr(why, "[mqtt] ca_file: TLS files need an mqtts:// url"));
    assert_int_equal(conf_of((const char *const[]){"url", "ssl://b", NULL}, &m, why, sizeof why),
                     HC_E_INVAL);
    assert_non_null(strstr(why, "mqtts://host[:port]"));
    assert_int_equal(
        conf_of((const char *const[]){"url", "mqtts://b:0", NULL}, &m, why, sizeof why),
        HC_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect), cmocka_unit_test(test_parse), cmocka_unit_test(test_topics),
        cmocka_unit_test(test_bag),     cmocka_unit_test(test_conf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
