/*
 * test_amqp_consumer.c - what consumer.c reads of an attach before proton does (amqp_int.h,
 * rx_amqp__consumer_attach_seen, called by the wire checker): the name of a link whose attach
 * asks for com.microsoft:enable-receiver-runtime-metric is noted on the connection (list8 or
 * list32, str8 or str32 names); an attach without it, one whose name is not a string, or one cut
 * short is not; the list stays bounded when attaches pile up unhandled.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "receiver/amqp/amqp_int.h"

#define CAP "com.microsoft:enable-receiver-runtime-metric"

static struct rx_amqp_conn conn;

/* An attach's fields: a list8 (or list32) of the name (str8 or str32), handle, role, then a
 * desired-capabilities array of one symbol (cap, or none). */
static size_t attach(uint8_t *out, const char *name, int list32, int str32, const char *cap)
{
    uint8_t body[512];
    size_t n = 0, nl = strlen(name);
    if (str32) {
        body[n++] = 0xb1;
        body[n++] = 0, body[n++] = 0, body[n++] = 0, body[n++] = (uint8_t)nl;
    } else {
        body[n++] = 0xa1;
        body[n++] = (uint8_t)nl;
    }
    memcpy(body + n, name, nl);
    n += nl;
    body[n++] = 0x43; /* handle 0 */
    body[n++] = 0x41; /* role receiver */
    if (cap) {
        size_t cl = strlen(cap);
        body[n++] = 0xe0; /* array8: size, count, constructor sym8 */
        body[n++] = (uint8_t)(cl + 4);
        body[n++] = 1;
        body[n++] = 0xa3;
        body[n++] = (uint8_t)cl;
        memcpy(body + n, cap, cl);
        n += cl;
    }
    if (list32) {
        out[0] = 0xd0;
        out[1] = 0, out[2] = 0, out[3] = 0, out[4] = (uint8_t)(n + 4);
        out[5] = 0, out[6] = 0, out[7] = 0, out[8] = cap ? 4 : 3;
        memcpy(out + 9, body, n);
        return n + 9;
    }
    out[0] = 0xc0;
    out[1] = (uint8_t)(n + 1);
    out[2] = cap ? 4 : 3;
    memcpy(out + 3, body, n);
    return n + 3;
}

static int noted(const char *name)
{
    const char *p = conn.rt_links.p, *end = p ? p + conn.rt_links.len : NULL;
    for (; p && p < end; p += strlen(p) + 1)
        if (!strcmp(p, name))
            return 1;
    return 0;
}

static void test_noted(void **state)
{
    uint8_t f[600];
    size_t n;
    (void)state;
    n = attach(f, "events/ConsumerGroups/$Default/Partitions/0-a", 0, 0, CAP);
    rx_amqp__consumer_attach_seen(&conn, f, n);
    n = attach(f, "p1-b", 1, 1, CAP);
    rx_amqp__consumer_attach_seen(&conn, f, n);
    n = attach(f, "p2-none", 0, 0, NULL);
    rx_amqp__consumer_attach_seen(&conn, f, n);
    n = attach(f, "p3-other", 0, 0, "com.microsoft:geo-replication");
    rx_amqp__consumer_attach_seen(&conn, f, n);
    assert_true(noted("events/ConsumerGroups/$Default/Partitions/0-a"));
    assert_true(noted("p1-b"));
    assert_false(noted("p2-none"));
    assert_false(noted("p3-other"));
    hc_buf_free(&conn.rt_links);
}

static void test_bad(void **state)
{
    uint8_t f[600];
    size_t n;
    (void)state;
    n = attach(f, "cut", 0, 0, CAP);
    f[4] = 200; /* the name's length past the fields: not a name */
    rx_amqp__consumer_attach_seen(&conn, f, n);
    n = attach(f, "sym", 0, 0, CAP);
    f[3] = 0xa3; /* a symbol, not a string */
    rx_amqp__consumer_attach_seen(&conn, f, n);
    rx_amqp__consumer_attach_seen(&conn, f, 2); /* shorter than a list header */
    n = attach(f, "zero", 0, 0, CAP);
    f[5] = 0; /* a NUL inside the name */
    rx_amqp__consumer_attach_seen(&conn, f, n);
    assert_int_equal(conn.rt_links.len, 0);
    hc_buf_free(&conn.rt_links);
}

static void test_bounded(void **state)
{
    uint8_t f[600];
    char name[64];
    (void)state;
    for (int i = 0; i < 5000; i++) {
        size_t n;
        snprintf(name, sizeof name, "a-link-that-is-never-attached-%d", i);
        n = attach(f, name, 0, 0, CAP);
        rx_amqp__consumer_attach_seen(&conn, f, n);
        assert_true(conn.rt_links.len <= 65536 + sizeof name);
    }
    assert_true(noted(name)); /* the newest is still there */
    hc_buf_free(&conn.rt_links);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_noted),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
