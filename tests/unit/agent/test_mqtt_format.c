/*
 * test_mqtt_format.c - the MQTT transport without a network: the IoT Hub username, the device
 * SAS token (against the value Microsoft's documented Python sample, generate_sas_token, gives
 * for the same key, resource and expiry), the topic with IoT Hub's property bag and its
 * percent-encoding, the PUBLISH packet and its exact size, the settings and the reason codes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/transport/mqtt/mqtt_conf.h"
#include "common/error.h"

static struct ag_record rec(const char *dev, enum hc_kind kind, int schema, const char *json)
{
    struct ag_record r;
    memset(&r, 0, sizeof r);
    r.ev.id[0] = 0x01;
    r.ev.id[6] = 0x70;
    r.ev.id[15] = 0x2a;
    r.ev.device_id = dev;
    r.ev.device_id_len = strlen(dev);
    r.ev.kind = kind;
    r.ev.schema = schema;
    r.json = json;
    r.json_len = strlen(json);
    return r;
}

static void test_username(void **state)
{
    struct hc_buf b = HC_BUF_INIT;
    (void)state;
    assert_int_equal(ag_mqtt_iothub_username("myhub.azure-devices.net", "pi-0007", &b), 0);
    assert_int_equal(hc_buf_addc(&b, 0), 0);
    assert_string_equal(b.p, "myhub.azure-devices.net/pi-0007/?api-version=2021-04-12");
    hc_buf_free(&b);
}

static void test_sas(void **state)
{
    struct hc_buf b = HC_BUF_INIT;
    (void)state;
    /* key: base64 of "0123456789abcdef0123456789abcdef"; expected from Microsoft's sample */
    assert_int_equal(ag_mqtt_iothub_sas("MyHub.azure-devices.net", "pi-0007",
                                        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", 1767225600,
                                        &b),
                     0);
    assert_int_equal(hc_buf_addc(&b, 0), 0);
    assert_string_equal(b.p, "SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fpi-0007"
                             "&sig=lY6Q69PBNWSKfNGtyJqNimDLPFLklRXiPG7cjadhjhM%3D&se=1767225600");
    hc_buf_reset(&b);
    assert_int_equal(ag_mqtt_iothub_sas("h", "d", "not base64!", 1, &b), HC_E_INVAL);
    assert_int_equal(ag_mqtt_iothub_sas("h", "d", "", 1, &b), HC_E_INVAL);
    assert_int_equal(b.len, 0);
    hc_buf_free(&b);
}

static void test_topic(void **state)
{
    struct ag_record r = rec("pi 7/ü#+", HC_KIND_ORDER_STATUS, 2, "{\"a\":1}");
    struct hc_buf b = HC_BUF_INIT;
    (void)state;
    assert_int_equal(ag_mqtt_topic(&r, "dev-1", &b), 0);
    assert_int_equal(hc_buf_addc(&b, 0), 0);
    assert_string_equal(b.p, "devices/dev-1/messages/events/$.ct=application%2Fjson&$.ce=utf-8"
                             "&event_id=01000000-0000-7000-0000-00000000002a"
                             "&device_id=pi%207%2F%C3%BC%23%2B&kind=order_status&schema=2");
    hc_buf_reset(&b);
    assert_int_equal(ag_mqtt_topic(&r, NULL, &b), 0); /* the event's own device in the topic */
    assert_int_equal(hc_buf_addc(&b, 0), 0);
    assert_memory_equal(b.p, "devices/pi%207%2F%C3%BC%23%2B/messages/events/", 45);
    hc_buf_free(&b);
}

static void test_packed(void **state)
{
    struct ag_record r = rec("pi \"7\"", HC_KIND_ORDER_LINE, 1, "{\"a\":\"x\\y\"}");
    struct hc_buf b = HC_BUF_INIT;
    (void)state;
    assert_int_equal(ag_mqtt_packed_topic("pi 7", 4, &b), 0);
    assert_int_equal(hc_buf_addc(&b, 0), 0);
    assert_string_equal(b.p, "devices/pi%207/messages/events/"
                             "$.ct=application%2Fvnd.microsoft.servicebus.json&$.ce=utf-8");
    hc_buf_reset(&b);
    assert_int_equal(ag_mqtt_packed_item(&r, '[', &b), 0);
    assert_int_equal(ag_mqtt_packed_item(&r, ',', &b), 0);
    assert_int_equal(hc_buf_addc(&b, ']'), 0);
    assert_int_equal(hc_buf_addc(&b, 0), 0);
#define ITEM                                                                                       \
    "{\"Body\":\"{\\\"a\\\":\\\"x\\\\y\\\"}\",\"UserProperties\":{\"event_id\":"                   \
    "\"01000000-0000-7000-0000-00000000002a\",\"device_id\":\"pi \\\"7\\\"\",\"kind\":"            \
    "\"order_line\",\"schema\":\"1\"}}"
    assert_string_equal(b.p, "[" ITEM "," ITEM "]");
#undef ITEM
    hc_buf_free(&b);
}

static void test_publish_packet(void **state)
{
    static char big[20000];
    struct hc_buf b = HC_BUF_INIT;
    (void)state;
    memset(big, 'x', sizeof big - 1);
    const char *bodies[] = {"{}", big};
    for (int k = 0; k < 2; k++) {
        struct ag_record r = rec("pi-1", HC_KIND_ORDER_LINE, 1, bodies[k]);
        size_t rem = 0, i = 1, mul = 1, tl;
        hc_buf_reset(&b);
        assert_int_equal(hc_buf_adds(&b, "z"), 0); /* appends */
        assert_int_equal(ag_mqtt_publish_packet(&r, NULL, &b), 0);
        assert_int_equal(b.len - 1, ag_mqtt_publish_size(&r, NULL));
        assert_int_equal((unsigned char)b.p[1], 0x32); /* PUBLISH, QoS 1 */
        do {
            rem += (size_t)(b.p[1 + i] & 127) * mul;
            mul *= 128;
        } while (b.p[1 + i++] & 128);
        assert_int_equal(1 + i - 1 + rem, b.len - 1);
        tl = (size_t)(unsigned char)b.p[1 + i] << 8 | (unsigned char)b.p[2 + i];
        assert_memory_equal(b.p + 3 + i, "devices/pi-1/messages/events/", 29);
        assert_memory_equal(b.p + 3 + i + tl + 2, r.json, r.json_len); /* after the packet id */
    }
    hc_buf_free(&b);
}

static int finish(struct ag_mqtt_conf *c, const char *cs, const char **why)
{
    ag_mqtt_conf_default(c);
    assert_int_equal(ag_mqtt_conf_set(c, "connection_string", cs, why), 0);
    return ag_mqtt_conf_finish(c, why);
}

static void test_conf(void **state)
{
    struct ag_mqtt_conf c;
    const char *why = NULL;
    (void)state;
    assert_int_equal(
        finish(&c, "HostName=MyHub.azure-devices.net;DeviceId=pi-7;SharedAccessKey=a2V5", &why), 0);
    assert_true(c.iothub && c.tls);
    assert_int_equal(c.port, 8883);
    assert_int_equal(c.version, AG_MQTT_VERSION_311);
    assert_string_equal(c.uri, "ssl://myhub.azure-devices.net:8883");
    assert_string_equal(c.client_id, "pi-7");
    assert_string_equal(c.device_id, "pi-7");
    ag_mqtt_conf_free(&c);

    assert_int_equal(finish(&c, "mqtt://u:p%w@[::1]:1884", &why), 0);
    assert_false(c.iothub || c.tls);
    assert_string_equal(c.uri, "tcp://[::1]:1884");
    assert_string_equal(c.username, "u");
    assert_string_equal(c.password, "p%w");
    assert_int_equal(c.version, AG_MQTT_VERSION_5);
    assert_memory_equal(c.client_id, "hubcap-", 7);
    ag_mqtt_conf_free(&c);

    assert_int_equal(finish(&c, "mqtts://broker", &why), 0);
    assert_string_equal(c.uri, "ssl://broker:8883");
    ag_mqtt_conf_free(&c);

    assert_int_equal(finish(&c, "HostName=h;SharedAccessKey=a2V5", &why), HC_E_INVAL);
    assert_non_null(strstr(why, "DeviceId"));
    ag_mqtt_conf_free(&c);
    assert_int_equal(finish(&c, "Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=b", &why),
                     HC_E_PARSE);
    ag_mqtt_conf_free(&c);
    assert_int_equal(finish(&c, "mqtt://h:99999", &why), HC_E_PARSE);
    ag_mqtt_conf_free(&c);

    ag_mqtt_conf_default(&c);
    assert_int_equal(ag_mqtt_conf_set(&c, "mqtt_version", "5", &why), 0);
    assert_int_equal(ag_mqtt_conf_set(&c, "connection_string",
                                      "HostName=h;DeviceId=d;"
                                      "SharedAccessKey=a2V5",
                                      &why),
                     0);
    assert_int_equal(ag_mqtt_conf_finish(&c, &why), HC_E_INVAL); /* IoT Hub has no MQTT 5 */
    assert_int_equal(ag_mqtt_conf_set(&c, "max_inflight", "0", &why), HC_E_INVAL);
    assert_int_equal(ag_mqtt_conf_set(&c, "events_per_message", "0", &why), HC_E_INVAL);
    assert_int_equal(ag_mqtt_conf_set(&c, "events_per_message", "1001", &why), HC_E_INVAL);
    assert_int_equal(ag_mqtt_conf_set(&c, "mqtt_version", "3.1.1", &why), 0);
    assert_int_equal(ag_mqtt_conf_set(&c, "events_per_message", "100", &why), 0);
    assert_int_equal(ag_mqtt_conf_finish(&c, &why), HC_E_INVAL); /* not for IoT Hub */
    assert_non_null(strstr(why, "events_per_message is for a broker"));
    assert_int_equal(ag_mqtt_conf_set(&c, "bogus", "1", &why), HC_E_NOTFOUND);
    assert_int_equal(ag_mqtt_conf_set(&c, "hub", "events", &why), 0); /* the [hub] keys */
    ag_mqtt_conf_free(&c);
}

static void test_reasons(void **state)
{
    enum ag_send_why why;
    (void)state;
    assert_int_equal(ag_mqtt_reason_result(0x00, &why), AG_SEND_OK);
    assert_int_equal(ag_mqtt_reason_result(0x10, &why), AG_SEND_OK); /* no subscribers */
    assert_int_equal(ag_mqtt_reason_result(0x95, &why), AG_SEND_REJECT);
    assert_int_equal(why, AG_WHY_SIZE);
    assert_int_equal(ag_mqtt_reason_result(0x87, &why), AG_SEND_RETRY);
    assert_int_equal(why, AG_WHY_AUTH);
    assert_int_equal(ag_mqtt_reason_result(0x97, &why), AG_SEND_RETRY);
    assert_int_equal(why, AG_WHY_THROTTLED);
    assert_int_equal(ag_mqtt_reason_result(0x80, &why), AG_SEND_RETRY);
    assert_int_equal(why, AG_WHY_SERVER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_username),       cmocka_unit_test(test_sas),
        cmocka_unit_test(test_topic),          cmocka_unit_test(test_packed),
        cmocka_unit_test(test_publish_packet), cmocka_unit_test(test_conf),
        cmocka_unit_test(test_reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
