/*
 * test_batch.c - the Event Hubs REST body: the agent's batch format, single sends, the typing of
 * user properties, and hostile bodies (every prefix of a valid body, broken JSON, bad UTF-8,
 * deep nesting, random corruption), which must all be refused cleanly with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/error.h"
#include "receiver/capture/avro_enc.h"
#include "receiver/capture/record.h"
#include "receiver/rest/batch.h"

static const char agent_batch[] =
    "[{\"Body\":\"{\\\"event_id\\\":\\\"0190f3c2-0000-7000-8000-000000000001\\\",\\\"device_id\\\":"
    "\\\"pi-1\\\",\\\"kind\\\":\\\"order_line\\\",\\\"schema\\\":1,\\\"data\\\":{}}\","
    "\"UserProperties\":{\"event_id\":\"0190f3c2-0000-7000-8000-000000000001\",\"device_id\":"
    "\"pi-1\",\"kind\":\"order_line\",\"schema\":1},\"BrokerProperties\":{\"PartitionKey\":"
    "\"pi-1\"}},"
    "{\"Body\":\"second\",\"UserProperties\":{\"event_id\":\"0190f3c2-0000-7000-8000-"
    "000000000002\",\"device_id\":\"pi-2\",\"kind\":\"order_status\",\"schema\":1},"
    "\"BrokerProperties\":{\"PartitionKey\":\"pi-2\"}}]";

static int parse(struct rx_batch *b, const char *json, const char **why)
{
    rx_batch_init(b);
    return rx_batch_parse(b, json, strlen(json), why);
}

/* The string property name of ev, as a C string in out (cap bytes); 0 or -1 when absent. */
static int prop_str(const struct rx_event *ev, const char *name, char *out, size_t cap)
{
    const uint8_t *v;
    size_t len;
    if (rx_record_map_get(ev->props, ev->props_len, name, &v, &len) != RX_AVRO_STRING || len >= cap)
        return -1;
    memcpy(out, v, len);
    out[len] = '\0';
    return 0;
}

static int64_t prop_long(const struct rx_event *ev, const char *name)
{
    const uint8_t *v;
    size_t len;
    int64_t x;
    assert_int_equal(rx_record_map_get(ev->props, ev->props_len, name, &v, &len), RX_AVRO_LONG);
    assert_int_equal(rx_avro_get_long(&v, v + len, &x), 0);
    return x;
}

static double prop_double(const struct rx_event *ev, const char *name)
{
    const uint8_t *v;
    size_t len;
    double x;
    assert_int_equal(rx_record_map_get(ev->props, ev->props_len, name, &v, &len), RX_AVRO_DOUBLE);
    assert_int_equal(rx_avro_get_double(&v, v + len, &x), 0);
    return x;
}

static void test_agent_batch(void **state)
{
    struct rx_batch b;
    const char *why = "unset";
    char s[128];
    (void)state;
    assert_int_equal(parse(&b, agent_batch, &why), 0);
    assert_null(why);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.ev[0].body_len, strlen("{\"event_id\":\"0190f3c2-0000-7000-8000-"
                                              "000000000001\",\"device_id\":\"pi-1\",\"kind\":"
                                              "\"order_line\",\"schema\":1,\"data\":{}}"));
    assert_memory_equal(b.ev[0].body, "{\"event_id\":\"0190f3c2", 21);
    assert_memory_equal(b.ev[0].pkey, "pi-1", 4);
    assert_int_equal(b.ev[0].pkey_len, 4);
    assert_int_equal(prop_str(&b.ev[0], "event_id", s, sizeof s), 0);
    assert_string_equal(s, "0190f3c2-0000-7000-8000-000000000001");
    assert_int_equal(prop_str(&b.ev[0], "kind", s, sizeof s), 0);
    assert_string_equal(s, "order_line");
    assert_int_equal(prop_long(&b.ev[0], "schema"), 1);
    assert_int_equal(b.ev[1].body_len, 6);
    assert_memory_equal(b.ev[1].body, "second", 6);
    assert_int_equal(prop_str(&b.ev[1], "device_id", s, sizeof s), 0);
    assert_string_equal(s, "pi-2");
    rx_batch_free(&b);
}

static void test_bodies_and_escapes(void **state)
{
    struct rx_batch b;
    const char *why;
    (void)state;
    assert_int_equal(
        parse(&b,
              " [ {\"Body\":\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"},"
              "{\"body\":null},{\"BODY\":{\"x\":[1,2,{\"y\":null}]}},{\"Body\":-1.5e3},"
              "{\"Body\":\"\"}] \n",
              &why),
        0);
    assert_int_equal(b.n, 5);
    assert_int_equal(b.ev[0].body_len, strlen("a\"b\\c/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80"));
    assert_memory_equal(b.ev[0].body, "a\"b\\c/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80",
                        b.ev[0].body_len);
    assert_null(b.ev[1].body); /* null body */
    assert_int_equal(b.ev[2].body_len, strlen("{\"x\":[1,2,{\"y\":null}]}"));
    assert_memory_equal(b.ev[2].body, "{\"x\":[1,2,{\"y\":null}]}", b.ev[2].body_len);
    assert_memory_equal(b.ev[3].body, "-1.5e3", 6);
    assert_non_null(b.ev[4].body);
    assert_int_equal(b.ev[4].body_len, 0);
    for (size_t i = 0; i < b.n; i++) {
        assert_null(b.ev[i].pkey);
        assert_int_equal(b.ev[i].props_len, 1); /* the empty map: a single 0 */
    }
    rx_batch_free(&b);
}

static void test_property_types(void **state)
{
    struct rx_batch b;
    const char *why;
    char s[128];
    (void)state;
    assert_int_equal(parse(&b,
                           "[{\"Body\":\"x\",\"UserProperties\":{\"i\":42,\"neg\":-7,\"big\":"
                           "123456789012345678901234,\"f\":2.5,\"t\":true,\"no\":false,\"nil\":"
                           "null,\"obj\":{\"a\":[1]},\"s\":\"caf\\u00e9\",\"max\":"
                           "9223372036854775807},\"BrokerProperties\":{\"PartitionKey\":null,"
                           "\"Label\":\"ignored\",\"TimeToLive\":60}}]",
                           &why),
                     0);
    assert_int_equal(prop_long(&b.ev[0], "i"), 42);
    assert_int_equal(prop_long(&b.ev[0], "neg"), -7);
    assert_int_equal(prop_long(&b.ev[0], "max"), INT64_MAX);
    assert_true(prop_double(&b.ev[0], "big") > 1.2e23);
    assert_true(prop_double(&b.ev[0], "f") == 2.5);
    assert_int_equal(prop_str(&b.ev[0], "t", s, sizeof s), 0);
    assert_string_equal(s, "true");
    assert_int_equal(prop_str(&b.ev[0], "no", s, sizeof s), 0);
    assert_string_equal(s, "false");
    assert_int_equal(prop_str(&b.ev[0], "obj", s, sizeof s), 0);
    assert_string_equal(s, "{\"a\":[1]}");
    assert_int_equal(prop_str(&b.ev[0], "s", s, sizeof s), 0);
    assert_string_equal(s, "caf\xc3\xa9");
    assert_int_equal(prop_str(&b.ev[0], "nil", s, sizeof s), -1); /* null: left out */
    assert_null(b.ev[0].pkey);
    rx_batch_free(&b);
}

/* Each refused body with the error class it must get. */
static const struct {
    const char *json;
    int rc;
} refused[] = {
    {"", HC_E_PARSE},
    {"   ", HC_E_PARSE},
    {"[]", HC_E_INVAL},
    {"{\"Body\":\"x\"}", HC_E_PARSE},
    {"[\"x\"]", HC_E_PARSE},
    {"[1]", HC_E_PARSE},
    {"[{}]", HC_E_INVAL},
    {"[{\"UserProperties\":{}}]", HC_E_INVAL},
    {"[{\"Body\":\"a\",\"Body\":\"b\"}]", HC_E_INVAL},
    {"[{\"Body\":\"a\",\"UserProperties\":{\"k\":1,\"k\":2}}]", HC_E_INVAL},
    {"[{\"Body\":\"a\",\"UserProperties\":[1]}]", HC_E_PARSE},
    {"[{\"Body\":\"a\",\"BrokerProperties\":{\"PartitionKey\":5}}]", HC_E_INVAL},
    {"[{\"Body\":\"a\",\"BrokerProperties\":\"pk\"}]", HC_E_PARSE},
    {"[{\"Body\":\"a\",\"UserProperties\":{\"f\":1e999}}]", HC_E_INVAL},
    {"[{\"Body\":\"a\"}] x", HC_E_PARSE},
    {"[{\"Body\":\"a\"},]", HC_E_PARSE},
    {"[{\"Body\":\"a\"}", HC_E_PARSE},
    {"[{\"Body\":\"a\",}]", HC_E_PARSE},
    {"[{\"Body\":'a'}]", HC_E_PARSE},
    {"[{\"Body\":\"tab\there\"}]", HC_E_PARSE},
    {"[{\"Body\":\"\\x41\"}]", HC_E_PARSE},
    {"[{\"Body\":\"\\u12G4\"}]", HC_E_PARSE},
    {"[{\"Body\":\"\\ud800\"}]", HC_E_UTF8},
    {"[{\"Body\":\"\\udc00\\ud800\"}]", HC_E_UTF8},
    {"[{\"Body\":\"\\ud800\\u0041\"}]", HC_E_UTF8},
    {"[{\"Body\":01}]", HC_E_PARSE},
    {"[{\"Body\":1.}]", HC_E_PARSE},
    {"[{\"Body\":-}]", HC_E_PARSE},
    {"[{\"Body\":1e}]", HC_E_PARSE},
    {"[{\"Body\":tru}]", HC_E_PARSE},
    {"[{\"Body\":nul}]", HC_E_PARSE},
    {"[{\"Body\" \"a\"}]", HC_E_PARSE},
    {"[{Body:\"a\"}]", HC_E_PARSE},
    {"[{\"Body\":\"\xff\"}]", HC_E_UTF8},
    {"[{\"Body\":\"\xc0\xaf\"}]", HC_E_UTF8},     /* overlong '/' */
    {"[{\"Body\":\"\xed\xa0\x80\"}]", HC_E_UTF8}, /* a surrogate in UTF-8 */
    {"[{\"Body\":\"\xe2\x82\"}]", HC_E_UTF8},     /* cut short */
};

static void test_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        struct rx_batch b;
        const char *why = NULL;
        int rc = parse(&b, refused[i].json, &why);
        if (rc != refused[i].rc)
            fail_msg("body %zu '%s': got %d (%s), want %d", i, refused[i].json, rc, why ? why : "-",
                     refused[i].rc);
        assert_non_null(why);
        assert_int_equal(b.n, 0);
        rx_batch_free(&b);
    }
}

static void test_limits(void **state)
{
    struct rx_batch b;
    struct hc_buf j = HC_BUF_INIT;
    const char *why;
    (void)state;
    /* partition key: 128 bytes fit, 129 do not */
    hc_buf_adds(&j, "[{\"Body\":\"a\",\"BrokerProperties\":{\"PartitionKey\":\"");
    for (int i = 0; i < 128; i++)
        hc_buf_addc(&j, 'k');
    hc_buf_adds(&j, "\"}}]");
    assert_int_equal(parse(&b, j.p, &why), 0);
    assert_int_equal(b.ev[0].pkey_len, 128);
    rx_batch_free(&b);
    hc_buf_reset(&j);
    hc_buf_adds(&j, "[{\"Body\":\"a\",\"BrokerProperties\":{\"PartitionKey\":\"");
    for (int i = 0; i < 129; i++)
        hc_buf_addc(&j, 'k');
    hc_buf_adds(&j, "\"}}]");
    assert_int_equal(parse(&b, j.p, &why), HC_E_INVAL);
    rx_batch_free(&b);
    /* 64 properties fit, 65 do not */
    for (int n = 64; n <= 65; n++) {
        hc_buf_reset(&j);
        hc_buf_adds(&j, "[{\"Body\":\"a\",\"UserProperties\":{");
        for (int i = 0; i < n; i++)
            hc_buf_addf(&j, "%s\"p%d\":%d", i ? "," : "", i, i);
        hc_buf_adds(&j, "}}]");
        assert_int_equal(parse(&b, j.p, &why), n == 64 ? 0 : HC_E_INVAL);
        if (n == 64)
            assert_int_equal(prop_long(&b.ev[0], "p63"), 63);
        rx_batch_free(&b);
    }
    /* nesting: 60 levels inside an ignored member are fine, 100 are not */
    for (int depth = 60; depth <= 100; depth += 40) {
        hc_buf_reset(&j);
        hc_buf_adds(&j, "[{\"Body\":\"a\",\"Deep\":");
        for (int i = 0; i < depth; i++)
            hc_buf_addc(&j, '[');
        for (int i = 0; i < depth; i++)
            hc_buf_addc(&j, ']');
        hc_buf_adds(&j, "}]");
        assert_int_equal(parse(&b, j.p, &why), depth == 60 ? 0 : HC_E_PARSE);
        rx_batch_free(&b);
    }
    /* a million unclosed brackets: refused, no stack overflow */
    hc_buf_reset(&j);
    hc_buf_adds(&j, "[{\"Body\":");
    for (int i = 0; i < 1000000; i++)
        hc_buf_addc(&j, '{');
    assert_int_equal(parse(&b, j.p, &why), HC_E_PARSE);
    rx_batch_free(&b);
    hc_buf_free(&j);
}

/* Every proper prefix of a valid batch is refused; the whole is accepted. */
static void test_every_prefix(void **state)
{
    size_t n = strlen(agent_batch);
    (void)state;
    for (size_t len = 0; len < n; len++) {
        struct rx_batch b;
        const char *why = NULL;
        rx_batch_init(&b);
        assert_int_not_equal(rx_batch_parse(&b, agent_batch, len, &why), 0);
        assert_non_null(why);
        rx_batch_free(&b);
    }
}

/* Random corruption never crashes (ASan/UBSan build) and always gives an answer. */
static void test_random_corruption(void **state)
{
    size_t n = strlen(agent_batch);
    char *buf = malloc(n);
    uint64_t x = 88172645463325252ull;
    int ok = 0, refused_n = 0;
    (void)state;
    for (int round = 0; round < 20000; round++) {
        struct rx_batch b;
        const char *why = NULL;
        memcpy(buf, agent_batch, n);
        for (int k = 0; k < 1 + round % 4; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[x % n] = (char)(x >> 32);
        }
        rx_batch_init(&b);
        if (rx_batch_parse(&b, buf, n - (x >> 40) % 3, &why) == 0) {
            ok++;
            assert_true(b.n >= 1);
        } else {
            refused_n++;
            assert_non_null(why);
            assert_int_equal(b.n, 0);
        }
        rx_batch_free(&b);
    }
    assert_true(refused_n > 0);
    free(buf);
    (void)ok;
}

static void test_single(void **state)
{
    struct rx_batch b;
    const char *why;
    char s[64];
    struct rx_prop props[] = {
        {"Priority-Level", "3"}, {"Ratio", "0.5"},      {"Customer", "\"Contoso\""},
        {"Raw", "plain text"},   {"Quoted-Bad", "\"x"},
    };
    (void)state;
    rx_batch_init(&b);
    assert_int_equal(
        rx_batch_single(&b, "\x00\x01\xff", 3, 0, "{\"PartitionKey\":\"dev-1\"}", props, 5, &why),
        0);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.ev[0].body_len, 3);
    assert_memory_equal(b.ev[0].body, "\x00\x01\xff", 3);
    assert_memory_equal(b.ev[0].pkey, "dev-1", 5);
    assert_int_equal(prop_long(&b.ev[0], "Priority-Level"), 3);
    assert_true(prop_double(&b.ev[0], "Ratio") == 0.5);
    assert_int_equal(prop_str(&b.ev[0], "Customer", s, sizeof s), 0);
    assert_string_equal(s, "Contoso");
    assert_int_equal(prop_str(&b.ev[0], "Raw", s, sizeof s), 0);
    assert_string_equal(s, "plain text");
    assert_int_equal(prop_str(&b.ev[0], "Quoted-Bad", s, sizeof s), 0);
    assert_string_equal(s, "\"x");
    rx_batch_free(&b);

    /* an empty body is an event with an empty body */
    rx_batch_init(&b);
    assert_int_equal(rx_batch_single(&b, "", 0, 1, NULL, NULL, 0, &why), 0);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.ev[0].body_len, 0);
    rx_batch_free(&b);

    /* text that is not UTF-8; a broken BrokerProperties header */
    rx_batch_init(&b);
    assert_int_equal(rx_batch_single(&b, "\xff", 1, 1, NULL, NULL, 0, &why), HC_E_UTF8);
    rx_batch_free(&b);
    rx_batch_init(&b);
    assert_int_equal(rx_batch_single(&b, "x", 1, 1, "{\"PartitionKey\":", NULL, 0, &why),
                     HC_E_PARSE);
    assert_int_equal(b.n, 0);
    rx_batch_free(&b);
    rx_batch_init(&b);
    assert_int_equal(rx_batch_single(&b, "x", 1, 1, "{} trailing", NULL, 0, &why), HC_E_PARSE);
    rx_batch_free(&b);
    rx_batch_init(&b);
    assert_int_equal(rx_batch_single(&b, "x", 1, 1, "{\"PartitionKey\":\"\xff\"}", NULL, 0, &why),
                     HC_E_UTF8);
    rx_batch_free(&b);
}

/* The bytes a batch holds, for the in-flight budget: at least its arena and its events. */
static void test_bytes(void **state)
{
    struct rx_batch b;
    const char *why;
    char *json = malloc(200000);
    size_t n = 0;
    (void)state;
    assert_non_null(json);
    json[n++] = '[';
    for (int i = 0; i < 10000; i++)
        n += (size_t)sprintf(json + n, "%s{\"Body\":\"%d\"}", i ? "," : "", i);
    json[n++] = ']';
    json[n] = '\0';
    assert_int_equal(parse(&b, json, &why), 0);
    assert_int_equal(b.n, 10000);
    /* tiny events: their array outweighs the body (a body of 14 bytes an event) */
    assert_true(rx_batch_bytes(&b) >= b.arena.cap + b.n * sizeof(struct rx_event));
    assert_true(rx_batch_bytes(&b) > 5 * n);
    rx_batch_free(&b);
    assert_int_equal(rx_batch_bytes(&b), 0);
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_batch),
        cmocka_unit_test(test_bodies_and_escapes),
        cmocka_unit_test(test_property_types),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_random_corruption),
        cmocka_unit_test(test_single),
        cmocka_unit_test(test_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
