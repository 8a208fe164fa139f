/*
 * test_props.c - the typed property encoder gives exactly the Capture schema's Avro map (read
 * back with rx_record_map_get, the reader capture uses), refuses twins and a 65th property, and
 * is left as it was by a refusal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "receiver/capture/avro_enc.h"
#include "receiver/capture/record.h"
#include "receiver/core/props.h"

static void test_types_round_trip(void **state)
{
    struct rx_props p;
    struct hc_buf out = HC_BUF_INIT;
    const uint8_t *v, *q;
    size_t len;
    int64_t l;
    double d;
    (void)state;
    rx_props_init(&p);
    assert_int_equal(rx_props_long(&p, "schema", 6, -42, NULL), 0);
    assert_int_equal(rx_props_double(&p, "price", 5, 12.5, NULL), 0);
    assert_int_equal(rx_props_string(&p, "kind", 4, "order_line", 10, NULL), 0);
    assert_int_equal(rx_props_bytes(&p, "raw", 3, "\0\1\2", 3, NULL), 0);
    assert_int_equal(rx_props_finish(&p, &out), 0);

    const uint8_t *m = (const uint8_t *)out.p;
    assert_int_equal(rx_record_map_get(m, out.len, "schema", &v, &len), RX_AVRO_LONG);
    q = v;
    assert_int_equal(rx_avro_get_long(&q, v + len, &l), 0);
    assert_int_equal(l, -42);
    assert_int_equal(rx_record_map_get(m, out.len, "price", &v, &len), RX_AVRO_DOUBLE);
    q = v;
    assert_int_equal(rx_avro_get_double(&q, v + len, &d), 0);
    assert_true(d == 12.5);
    assert_int_equal(rx_record_map_get(m, out.len, "kind", &v, &len), RX_AVRO_STRING);
    assert_int_equal(len, 10);
    assert_memory_equal(v, "order_line", 10);
    assert_int_equal(rx_record_map_get(m, out.len, "raw", &v, &len), RX_AVRO_BYTES);
    assert_int_equal(len, 3);
    assert_memory_equal(v, "\0\1\2", 3);
    assert_int_equal(rx_record_map_get(m, out.len, "absent", &v, &len), -1);

    /* reset: the next event starts empty, and an empty map is the one byte 0 */
    rx_props_reset(&p);
    hc_buf_reset(&out);
    assert_int_equal(rx_props_finish(&p, &out), 0);
    assert_int_equal(out.len, sizeof rx_props_empty);
    assert_memory_equal(out.p, rx_props_empty, sizeof rx_props_empty);
    hc_buf_free(&out);
    rx_props_free(&p);
}

static void test_refusals_change_nothing(void **state)
{
    struct rx_props p;
    struct hc_buf a = HC_BUF_INIT, b = HC_BUF_INIT;
    const char *why = NULL;
    char name[8];
    (void)state;
    rx_props_init(&p);
    assert_int_equal(rx_props_string(&p, "k", 1, "v", 1, &why), 0);
    assert_int_equal(rx_props_finish(&p, &a), 0);
    assert_int_equal(rx_props_long(&p, "k", 1, 1, &why), HC_E_INVAL);
    assert_string_equal(why, "a user property is given twice");
    assert_int_equal(rx_props_finish(&p, &b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.p, b.p, a.len);

    /* names are bytes: "k" and "K" are two properties */
    assert_int_equal(rx_props_long(&p, "K", 1, 1, &why), 0);
    for (int i = 2; i < RX_PROPS_MAX; i++) {
        snprintf(name, sizeof name, "p%d", i);
        assert_int_equal(rx_props_long(&p, name, strlen(name), i, NULL), 0);
    }
    assert_int_equal(p.count, RX_PROPS_MAX);
    why = NULL;
    assert_int_equal(rx_props_long(&p, "one-more", 8, 0, &why), HC_E_INVAL);
    assert_string_equal(why, "more than 64 user properties on one event");
    assert_int_equal(p.count, RX_PROPS_MAX);
    hc_buf_free(&a);
    hc_buf_free(&b);
    rx_props_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_round_trip),
        cmocka_unit_test(test_refusals_change_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
