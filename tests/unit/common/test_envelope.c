/* Envelope encode/decode, JSON string escaping and UTF-8 validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/envelope.h"
#include "common/error.h"
#include "common/uuid.h"

static const char data[] = "{\"invoice_no\":\"536365\",\"quantity\":6,\"unit_price\":2.55}";

static struct hc_event sample(void)
{
    struct hc_event ev;
    memset(&ev, 0, sizeof ev);
    hc_uuid_parse("0190f3c2-7b1a-7000-8000-0123456789ab", 36, ev.id);
    ev.device_id = "pi-0007";
    ev.device_id_len = 7;
    ev.kind = HC_KIND_ORDER_LINE;
    ev.schema = 1;
    ev.event_time_ms = 1763780400123;
    ev.data = data;
    ev.data_len = strlen(data);
    return ev;
}

static void test_encode_exact(void **state)
{
    struct hc_buf b = HC_BUF_INIT;
    struct hc_event ev = sample();
    (void)state;
    assert_int_equal(hc_event_encode(&ev, &b), 0);
    assert_string_equal(b.p, "{\"event_id\":\"0190f3c2-7b1a-7000-8000-0123456789ab\","
                             "\"device_id\":\"pi-0007\",\"kind\":\"order_line\",\"schema\":1,"
                             "\"event_time\":\"2025-11-22T03:00:00.123Z\",\"data\":{\"invoice_no\":"
                             "\"536365\",\"quantity\":6,\"unit_price\":2.55}}");
    hc_buf_free(&b);
}

static void test_round_trip(void **state)
{
    struct hc_buf b = HC_BUF_INIT;
    struct hc_event ev = sample();
    struct hc_event_doc doc;
    const char *why = NULL;
    (void)state;
    ev.device_id = "dev \"quoted\"\n\xc3\xa9";
    ev.device_id_len = strlen(ev.device_id);
    assert_int_equal(hc_event_encode(&ev, &b), 0);
    assert_int_equal(hc_event_decode(b.p, b.len, &doc, &why), 0);
    assert_memory_equal(doc.ev.id, ev.id, 16);
    assert_int_equal(doc.ev.device_id_len, ev.device_id_len);
    assert_memory_equal(doc.ev.device_id, ev.device_id, ev.device_id_len);
    assert_int_equal(doc.ev.kind, HC_KIND_ORDER_LINE);
    assert_int_equal(doc.ev.schema, 1);
    assert_int_equal(doc.ev.event_time_ms, ev.event_time_ms);
    assert_string_equal(doc.ev.data, data);
    hc_event_doc_free(&doc);
    hc_buf_free(&b);
}

static void test_decode_rejects(void **state)
{
    static const struct {
        const char *json;
        int rc;
        const char *why;
    } cases[] = {
        {"not json", HC_E_PARSE, "not a JSON object"},
        {"[1,2]", HC_E_PARSE, "not a JSON object"},
        {"{\"kind\":\"order_line\",\"event_time\":\"2025-11-22T03:00:00Z\"}", HC_E_INVAL,
         "data is not an object"},
        {"{\"kind\":\"boat\",\"event_time\":\"2025-11-22T03:00:00Z\",\"data\":{}}", HC_E_INVAL,
         "unknown kind"},
        {"{\"kind\":\"order_line\",\"event_time\":\"yesterday\",\"data\":{}}", HC_E_INVAL,
         "event_time missing or not a timestamp"},
        {"{\"event_id\":\"nope\",\"kind\":\"order_line\",\"event_time\":\"2025-11-22\","
         "\"data\":{}}",
         HC_E_INVAL, "event_id is not a UUID"},
        {"{\"kind\":\"order_line\",\"schema\":0,\"event_time\":\"2025-11-22\",\"data\":{}}",
         HC_E_INVAL, "schema is not a positive integer"},
        {"{\"kind\":\"order_line\",\"device_id\":7,\"event_time\":\"2025-11-22\",\"data\":{}}",
         HC_E_INVAL, "device_id is not a string of 1 to 128 bytes"},
        {"{\"kind\":\"order_line\",\"event_time\":\"2025-11-22\",\"data\":{\"x\":\"\xff\"}}",
         HC_E_UTF8, "invalid UTF-8"},
    };
    struct hc_event_doc doc;
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *why = NULL;
        assert_int_equal(hc_event_decode(cases[i].json, strlen(cases[i].json), &doc, &why),
                         cases[i].rc);
        assert_string_equal(why, cases[i].why);
    }
}

static void test_decode_defaults(void **state)
{
    const char *j = "{ \"data\" : {\"a\":1}, \"kind\":\"car_listing\", "
                    "\"event_time\":\"2025-11-22T03:00:00Z\" }";
    struct hc_event_doc doc;
    (void)state;
    assert_int_equal(hc_event_decode(j, strlen(j), &doc, NULL), 0);
    assert_true(hc_uuid_is_nil(doc.ev.id));
    assert_int_equal(doc.ev.device_id_len, 0);
    assert_int_equal(doc.ev.schema, 1);
    assert_int_equal(doc.ev.kind, HC_KIND_CAR_LISTING);
    hc_event_doc_free(&doc);
}

static void test_size_limit(void **state)
{
    struct hc_buf b = HC_BUF_INIT;
    struct hc_event ev = sample();
    char *big = malloc(HC_EVENT_MAX);
    (void)state;
    assert_non_null(big);
    /* {"p":"xxxx…"} sized so the whole envelope lands just over and just under the limit */
    memset(big, 'x', HC_EVENT_MAX);
    memcpy(big, "{\"p\":\"", 6);
    ev.data = big;
    ev.data_len = HC_EVENT_MAX - 100;
    memcpy(big + ev.data_len - 2, "\"}", 2);
    assert_int_equal(hc_event_encode(&ev, &b), HC_E_TOOBIG);
    assert_int_equal(b.len, 0);
    ev.data_len = HC_EVENT_MAX - 400;
    memcpy(big + ev.data_len - 2, "\"}", 2);
    assert_int_equal(hc_event_encode(&ev, &b), 0);
    assert_true(b.len <= HC_EVENT_MAX);
    free(big);
    hc_buf_free(&b);
}

static void test_json_escape(void **state)
{
    struct hc_buf b = HC_BUF_INIT;
    (void)state;
    hc_buf_add_json_str(&b, "a\"b\\c\n\t\x01\xc3\xa9", 10);
    assert_string_equal(b.p, "\"a\\\"b\\\\c\\n\\t\\u0001\xc3\xa9\"");
    hc_buf_free(&b);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(hc_utf8_valid("plain", 5));
    assert_true(hc_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x9a\x97", 9));
    assert_false(hc_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    assert_false(hc_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(hc_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(hc_utf8_valid("\xe2\x82", 2));         /* truncated */
    assert_false(hc_utf8_valid("\xff", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_exact),   cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_decode_rejects), cmocka_unit_test(test_decode_defaults),
        cmocka_unit_test(test_size_limit),     cmocka_unit_test(test_json_escape),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
