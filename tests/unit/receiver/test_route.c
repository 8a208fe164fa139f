/* test_route.c - the REST paths and Content-Types the receiver understands, and what it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "receiver/http/route.h"

static void test_routes(void **state)
{
    struct rx_route r;
    (void)state;
    assert_int_equal(rx_route_parse("/healthz", &r), RX_ROUTE_HEALTH);
    assert_int_equal(rx_route_parse("/metrics", &r), RX_ROUTE_METRICS);
    assert_int_equal(rx_route_parse("/events/messages", &r), RX_ROUTE_SEND);
    assert_int_equal(r.hub_len, 6);
    assert_memory_equal(r.hub, "events", 6);
    assert_int_equal(r.partition, -1);
    assert_null(r.publisher);
    assert_int_equal(rx_route_parse("/events/messages/", &r), RX_ROUTE_SEND);
    assert_int_equal(rx_route_parse("/events/partitions/3/messages", &r), RX_ROUTE_SEND);
    assert_int_equal(r.partition, 3);
    assert_int_equal(rx_route_parse("/events/publishers/dev-7/messages", &r), RX_ROUTE_SEND);
    assert_int_equal(r.publisher_len, 5);
    assert_memory_equal(r.publisher, "dev-7", 5);
    assert_int_equal(r.partition, -1);
    assert_int_equal(rx_route_parse("/", &r), RX_ROUTE_WEB);
    assert_int_equal(rx_route_parse("/static/app.js", &r), RX_ROUTE_WEB);
    assert_int_equal(rx_route_parse("/api/v1/sales", &r), RX_ROUTE_API);
    assert_int_equal(rx_route_parse("/api/v1/customers/17850/orders", &r), RX_ROUTE_API);
    /* hubs named like the API or the dashboard's folder still get their sends */
    assert_int_equal(rx_route_parse("/api/messages", &r), RX_ROUTE_SEND);
    assert_int_equal(rx_route_parse("/static/partitions/1/messages", &r), RX_ROUTE_SEND);
    assert_int_equal(r.partition, 1);
}

static void test_not_routes(void **state)
{
    static const char *bad[] = {
        "",
        "/api",
        "/api/v2/sales",
        "//messages",
        "/events",
        "/events/",
        "/events/message",
        "/events/messages/x",
        "/events/partitions/messages",
        "/events/partitions/-1/messages",
        "/events/partitions/01/messages",
        "/events/partitions/100000/messages",
        "/events/partitions/1x/messages",
        "/events/publishers//messages",
        "/events/publishers/a b/messages",
        "/events/publishers/x/y/messages",
        "/a/b/c/d/e",
        "/healthz/x",
        "events/messages",
    };
    struct rx_route r;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (rx_route_parse(bad[i], &r) != RX_ROUTE_NONE)
            fail_msg("'%s' was routed", bad[i]);
        assert_null(r.publisher);
        assert_int_equal(r.partition, -1);
    }
}

static void test_content_types(void **state)
{
    (void)state;
    assert_int_equal(rx_content_type("application/vnd.microsoft.servicebus.json"), RX_CT_BATCH);
    assert_int_equal(rx_content_type("Application/VND.Microsoft.ServiceBus.JSON; charset=UTF-8"),
                     RX_CT_BATCH);
    assert_int_equal(rx_content_type("application/vnd.microsoft.servicebus.json;charset=latin1"),
                     RX_CT_BAD);
    assert_int_equal(rx_content_type("application/atom+xml;type=entry;charset=utf-8"), RX_CT_TEXT);
    assert_int_equal(rx_content_type("application/json"), RX_CT_TEXT);
    assert_int_equal(rx_content_type("text/plain"), RX_CT_TEXT);
    assert_int_equal(rx_content_type("text/plain; charset=iso-8859-1"), RX_CT_BINARY);
    assert_int_equal(rx_content_type("application/octet-stream"), RX_CT_BINARY);
    assert_int_equal(rx_content_type(NULL), RX_CT_BINARY);
    assert_int_equal(rx_content_type(""), RX_CT_BINARY);
    assert_int_equal(rx_content_type("application/x-www-form-urlencoded"), RX_CT_BAD);
    assert_int_equal(rx_content_type("multipart/form-data; boundary=x"), RX_CT_BAD);
    assert_int_equal(rx_content_type("garbage"), RX_CT_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_not_routes),
        cmocka_unit_test(test_content_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
