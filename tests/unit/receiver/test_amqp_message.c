/*
 * test_amqp_message.c - the AMQP front end's parsers of outside bytes, fed by proton's own
 * encoder (what the clients' libraries write): single messages and batches (format 0x80013700:
 * one data section per event, each a whole message) into events with body, properties and
 * partition key; every prefix of a valid batch and random corruption refused without reading
 * past the input (ASan); CBS and $management requests with each client's message-id type and
 * with or without reply-to; addresses in every client's form; the SASL mechanism choice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <proton/codec.h>
#include <proton/message.h>

#include "common/error.h"
#include "receiver/amqp/address.h"
#include "receiver/amqp/message.h"
#include "receiver/amqp/request.h"
#include "receiver/amqp/sasl.h"
#include "receiver/capture/avro_enc.h"
#include "receiver/capture/record.h"

/* ---- Encoding with proton ------------------------------------------------------------------- */

static size_t encode(pn_message_t *m, char *buf, size_t cap)
{
    size_t n = cap;
    assert_int_equal(pn_message_encode(m, buf, &n), 0);
    return n;
}

/* An event as JS writes it inside a batch: data body, application properties, partition key. */
static size_t event_msg(char *buf, size_t cap, const char *body, const char *pkey, int64_t n)
{
    pn_message_t *m = pn_message();
    pn_data_t *ap = pn_message_properties(m), *b = pn_message_body(m);
    pn_data_put_map(ap);
    pn_data_enter(ap);
    pn_data_put_string(ap, pn_bytes(1, "n"));
    pn_data_put_long(ap, n);
    pn_data_put_string(ap, pn_bytes(4, "kind"));
    pn_data_put_string(ap, pn_bytes(5, "order"));
    pn_data_put_string(ap, pn_bytes(2, "ok"));
    pn_data_put_bool(ap, true);
    pn_data_exit(ap);
    if (pkey) {
        pn_data_t *ma = pn_message_annotations(m);
        pn_data_put_map(ma);
        pn_data_enter(ma);
        pn_data_put_symbol(ma, pn_bytes(19, "x-opt-partition-key"));
        pn_data_put_string(ma, pn_bytes(strlen(pkey), pkey));
        pn_data_exit(ma);
    }
    pn_data_put_binary(b, pn_bytes(strlen(body), body));
    pn_message_set_inferred(m, true);
    size_t len = encode(m, buf, cap);
    pn_message_free(m);
    return len;
}

/* Append one described section (code, value put by the caller into d) to out. */
static size_t put_section(pn_data_t *d, char *out, size_t cap)
{
    ssize_t n = pn_data_encode(d, out, cap);
    assert_true(n > 0);
    pn_data_clear(d);
    return (size_t)n;
}

/* A batch envelope: message annotations with pkey, then one data section per inner message. */
static size_t batch(char *out, size_t cap, int n, const char *pkey)
{
    pn_data_t *d = pn_data(16);
    char inner[512];
    size_t len = 0;
    if (pkey) {
        pn_data_put_described(d);
        pn_data_enter(d);
        pn_data_put_ulong(d, RX_AS_MESSAGE_ANN);
        pn_data_put_map(d);
        pn_data_enter(d);
        pn_data_put_symbol(d, pn_bytes(19, "x-opt-partition-key"));
        pn_data_put_string(d, pn_bytes(strlen(pkey), pkey));
        pn_data_exit(d);
        pn_data_exit(d);
        len += put_section(d, out + len, cap - len);
    }
    for (int i = 0; i < n; i++) {
        char body[32];
        snprintf(body, sizeof body, "{\"i\":%d}", i);
        size_t k = event_msg(inner, sizeof inner, body, NULL, i);
        pn_data_put_described(d);
        pn_data_enter(d);
        pn_data_put_ulong(d, RX_AS_DATA);
        pn_data_put_binary(d, pn_bytes(k, inner));
        pn_data_exit(d);
        len += put_section(d, out + len, cap - len);
    }
    pn_data_free(d);
    return len;
}

/* ---- Events --------------------------------------------------------------------------------- */

static void check_props(const struct rx_event *ev, int64_t n)
{
    const uint8_t *v, *q;
    size_t len;
    int64_t l;
    assert_int_equal(rx_record_map_get(ev->props, ev->props_len, "n", &v, &len), RX_AVRO_LONG);
    q = v;
    assert_int_equal(rx_avro_get_long(&q, v + len, &l), 0);
    assert_int_equal(l, n);
    assert_int_equal(rx_record_map_get(ev->props, ev->props_len, "kind", &v, &len), RX_AVRO_STRING);
    assert_int_equal(rx_record_map_get(ev->props, ev->props_len, "ok", &v, &len), RX_AVRO_STRING);
}

static void test_single_message(void **state)
{
    char buf[1024];
    struct rx_amqp_events e;
    const char *why;
    size_t n = event_msg(buf, sizeof buf, "{\"temp\":21}", "dev-7", 3);
    (void)state;
    rx_amqp_events_init(&e);
    assert_int_equal(rx_amqp_events_decode(&e, (const uint8_t *)buf, n, &why), 0);
    assert_int_equal(e.n, 1);
    assert_false(e.batch);
    assert_int_equal(e.ev[0].body_len, 11);
    assert_memory_equal(e.ev[0].body, "{\"temp\":21}", 11);
    assert_int_equal(e.ev[0].pkey_len, 5);
    assert_memory_equal(e.ev[0].pkey, "dev-7", 5);
    check_props(&e.ev[0], 3);
    rx_amqp_events_free(&e);
}

static void test_batch(void **state)
{
    static char buf[16384];
    struct rx_amqp_events e;
    const char *why;
    size_t n = batch(buf, sizeof buf, 5, "key-1");
    (void)state;
    rx_amqp_events_init(&e);
    assert_int_equal(rx_amqp_events_decode(&e, (const uint8_t *)buf, n, &why), 0);
    assert_true(e.batch);
    assert_int_equal(e.n, 5);
    for (int i = 0; i < 5; i++) {
        char body[32];
        snprintf(body, sizeof body, "{\"i\":%d}", i);
        assert_int_equal(e.ev[i].body_len, strlen(body));
        assert_memory_equal(e.ev[i].body, body, strlen(body));
        assert_int_equal(e.ev[i].pkey_len, 5); /* the envelope's */
        check_props(&e.ev[i], i);
    }
    rx_amqp_events_free(&e);
}

/* A body of one data section that is not a message is one event, not a batch. */
static void test_plain_data_is_not_batch(void **state)
{
    pn_message_t *m = pn_message();
    char buf[256];
    struct rx_amqp_events e;
    const char *why;
    (void)state;
    pn_data_put_binary(pn_message_body(m), pn_bytes(3, "\x00\x53\x75"));
    pn_message_set_inferred(m, true);
    size_t n = encode(m, buf, sizeof buf);
    pn_message_free(m);
    rx_amqp_events_init(&e);
    assert_int_equal(rx_amqp_events_decode(&e, (const uint8_t *)buf, n, &why), 0);
    assert_int_equal(e.n, 1);
    assert_false(e.batch);
    assert_int_equal(e.ev[0].body_len, 3);
    rx_amqp_events_free(&e);
}

/* Every prefix of a batch is refused or decodes, never reads past its end (ASan). */
static void test_prefixes_and_corruption(void **state)
{
    static char buf[16384];
    struct rx_amqp_events e;
    const char *why;
    size_t n = batch(buf, sizeof buf, 3, "k");
    (void)state;
    rx_amqp_events_init(&e);
    size_t decoded = 0;
    for (size_t k = 0; k < n; k++) {
        uint8_t *copy = malloc(k ? k : 1);
        memcpy(copy, buf, k);
        if (rx_amqp_events_decode(&e, copy, k, &why) == 0) {
            /* a prefix that ends between sections is a smaller batch: its bodies lie inside */
            decoded++;
            assert_true(e.n < 3);
            for (size_t i = 0; i < e.n; i++)
                assert_true(!e.ev[i].body ||
                            (e.ev[i].body >= copy && e.ev[i].body + e.ev[i].body_len <= copy + k));
        }
        free(copy);
    }
    assert_int_equal(decoded, 3); /* after the annotations, after the 1st and 2nd event */
    srand(7);
    for (int round = 0; round < 3000; round++) {
        uint8_t *copy = malloc(n);
        memcpy(copy, buf, n);
        for (int f = 0; f < 1 + round % 4; f++)
            copy[(size_t)rand() % n] = (uint8_t)rand();
        (void)rx_amqp_events_decode(&e, copy, n, &why);
        free(copy);
    }
    rx_amqp_events_free(&e);
}

/* ---- Requests ------------------------------------------------------------------------------- */

static size_t put_token_msg(char *buf, size_t cap, pn_atom_t id, const char *reply_to)
{
    pn_message_t *m = pn_message();
    pn_data_t *ap = pn_message_properties(m);
    pn_message_set_id(m, id);
    if (reply_to)
        pn_message_set_reply_to(m, reply_to);
    pn_data_put_map(ap);
    pn_data_enter(ap);
    pn_data_put_string(ap, pn_bytes(9, "operation"));
    pn_data_put_string(ap, pn_bytes(9, "put-token"));
    pn_data_put_string(ap, pn_bytes(4, "type"));
    pn_data_put_string(ap, pn_bytes(31, "servicebus.windows.net:sastoken"));
    pn_data_put_string(ap, pn_bytes(4, "name"));
    pn_data_put_string(ap, pn_bytes(22, "sb://127.0.0.1/events/"));
    pn_data_put_string(ap, pn_bytes(10, "expiration"));
    pn_data_put_timestamp(ap, 1700000000000);
    pn_data_exit(ap);
    pn_data_put_string(pn_message_body(m), pn_bytes(26, "SharedAccessSignature sr=x"));
    size_t n = encode(m, buf, cap);
    pn_message_free(m);
    return n;
}

static void test_cbs_ulong_id_no_reply_to(void **state)
{
    char buf[1024];
    struct rx_amqp_request r;
    const char *why;
    size_t n = put_token_msg(buf, sizeof buf, (pn_atom_t){.type = PN_ULONG, .u.as_ulong = 7},
                             NULL); /* Python */
    (void)state;
    assert_int_equal(rx_amqp_request_parse((const uint8_t *)buf, n, &r, &why), 0);
    assert_int_equal(r.message_id.kind, RX_AK_UINT);
    assert_int_equal(r.message_id.u, 7);
    assert_null(r.reply_to.s);
    assert_true(rx_amqp_str_is(&r.operation, "put-token"));
    assert_true(rx_amqp_str_is(&r.name, "sb://127.0.0.1/events/"));
    assert_true(rx_amqp_str_is(&r.token, "SharedAccessSignature sr=x"));
}

static void test_cbs_uuid_and_string_ids(void **state)
{
    char buf[1024];
    struct rx_amqp_request r;
    const char *why;
    pn_atom_t uuid = {.type = PN_UUID};
    (void)state;
    memcpy(uuid.u.as_uuid.bytes, "0123456789abcdef", 16);
    size_t n = put_token_msg(buf, sizeof buf, uuid, "cbs-reply");
    assert_int_equal(rx_amqp_request_parse((const uint8_t *)buf, n, &r, &why), 0);
    assert_int_equal(r.message_id.kind, RX_AK_UUID);
    assert_memory_equal(r.message_id.bytes, "0123456789abcdef", 16);
    assert_true(rx_amqp_str_is(&r.reply_to, "cbs-reply"));
    n = put_token_msg(buf, sizeof buf,
                      (pn_atom_t){.type = PN_STRING, .u.as_bytes = pn_bytes(3, "abc")}, "x");
    assert_int_equal(rx_amqp_request_parse((const uint8_t *)buf, n, &r, &why), 0);
    assert_int_equal(r.message_id.kind, RX_AK_STRING);
    assert_int_equal(r.message_id.len, 3);
}

static void test_cbs_without_operation(void **state)
{
    pn_message_t *m = pn_message();
    char buf[256];
    struct rx_amqp_request r;
    const char *why;
    (void)state;
    pn_data_put_string(pn_message_body(m), pn_bytes(3, "tok"));
    size_t n = encode(m, buf, sizeof buf);
    pn_message_free(m);
    assert_int_equal(rx_amqp_request_parse((const uint8_t *)buf, n, &r, &why), HC_E_PARSE);
    for (size_t k = 0; k < n; k++)
        assert_int_not_equal(rx_amqp_request_parse((const uint8_t *)buf, k, &r, &why), 0);
}

/* ---- Addresses and SASL --------------------------------------------------------------------- */

static void addr(const char *s, enum rx_amqp_node node, const char *hub, int partition)
{
    struct rx_amqp_addr a;
    assert_int_equal(rx_amqp_addr_parse(s, strlen(s), &a), 0);
    assert_int_equal(a.node, node);
    if (hub) {
        assert_int_equal(a.hub_len, strlen(hub));
        assert_memory_equal(a.hub, hub, a.hub_len);
    } else {
        assert_null(a.hub);
    }
    assert_int_equal(a.partition, partition);
}

static void test_addresses(void **state)
{
    struct rx_amqp_addr a;
    (void)state;
    addr("events", RX_AN_HUB, "events", -1);                                   /* JS */
    addr("events/Partitions/2", RX_AN_HUB, "events", 2);                       /* JS */
    addr("/events/partitions/3", RX_AN_HUB, "events", 3);                      /* .NET */
    addr("amqps://ns.servicebus.windows.net/events", RX_AN_HUB, "events", -1); /* Python */
    addr("amqps://localhost:5671/events/Partitions/0", RX_AN_HUB, "events", 0);
    addr("sb://127.0.0.1:5672/events", RX_AN_HUB, "events", -1);
    addr("sb://127.0.0.1/", RX_AN_NAMESPACE, NULL, -1);
    addr("$cbs", RX_AN_CBS, NULL, -1);
    addr("$management", RX_AN_MANAGEMENT, NULL, -1);
    addr("events/$management", RX_AN_MANAGEMENT, "events", -1);
    addr("sb://h/events/ConsumerGroups/$Default/Partitions/1", RX_AN_CONSUMER, "events", 1);
    assert_int_equal(rx_amqp_addr_parse("", 0, &a), HC_E_PARSE);
    assert_int_equal(rx_amqp_addr_parse("http://h/events", 15, &a), HC_E_PARSE);
    assert_int_equal(rx_amqp_addr_parse("events/Partitions/x", 19, &a), HC_E_PARSE);
    assert_int_equal(rx_amqp_addr_parse("events/Partitions/01", 20, &a), HC_E_PARSE);
    assert_int_equal(rx_amqp_addr_parse("events/Partitions/1/x", 21, &a), HC_E_PARSE);
    assert_int_equal(rx_amqp_addr_parse("events/Other/1", 14, &a), HC_E_PARSE);
}

static void test_sasl_mechanisms(void **state)
{
    (void)state;
    assert_true(rx_amqp_sasl_accepts("MSSBCBS"));   /* .NET, uAMQP-C */
    assert_true(rx_amqp_sasl_accepts("ANONYMOUS")); /* JS, Python */
    assert_true(rx_amqp_sasl_accepts("PLAIN"));
    assert_false(rx_amqp_sasl_accepts("EXTERNAL"));
    assert_false(rx_amqp_sasl_accepts("anonymous"));
    assert_false(rx_amqp_sasl_accepts(NULL));
    assert_non_null(strstr(RX_AMQP_SASL_MECHS, "MSSBCBS"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_message),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_plain_data_is_not_batch),
        cmocka_unit_test(test_prefixes_and_corruption),
        cmocka_unit_test(test_cbs_ulong_id_no_reply_to),
        cmocka_unit_test(test_cbs_uuid_and_string_ids),
        cmocka_unit_test(test_cbs_without_operation),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_sasl_mechanisms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
