/* test_api.c - the API's paths and the checks of its parameters (receiver/api/params.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "receiver/api/params.h"

static void test_routes(void **state)
{
    static const struct {
        const char *path;
        enum rx_api_res res;
        const char *id;
    } ok[] = {
        {"/api/v1/sales", RX_API_SALES, NULL},
        {"/api/v1/top-products", RX_API_TOP_PRODUCTS, NULL},
        {"/api/v1/customers/17850", RX_API_CUSTOMER, "17850"},
        {"/api/v1/customers/17850/orders", RX_API_CUSTOMER_ORDERS, "17850"},
        {"/api/v1/customers/17850/returns", RX_API_CUSTOMER_RETURNS, "17850"},
        {"/api/v1/tracking/BR12345678901", RX_API_PARCEL, "BR12345678901"},
        {"/api/v1/tracking", RX_API_TRACKING, NULL},
        {"/api/v1/cars/turnover", RX_API_CARS, NULL},
        {"/api/v1/cancellations", RX_API_CANCELLATIONS, NULL},
        {"/api/v1/pipeline", RX_API_PIPELINE, NULL},
        /* the id's validity is checked later (400, not 404) */
        {"/api/v1/customers/a b", RX_API_CUSTOMER, "a b"},
    };
    struct rx_api_route r;
    (void)state;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (rx_api_route(ok[i].path, &r) != ok[i].res || r.res != ok[i].res)
            fail_msg("'%s' routed to %d", ok[i].path, (int)r.res);
        if (!ok[i].id) {
            assert_null(r.id);
            continue;
        }
        assert_int_equal(r.id_len, strlen(ok[i].id));
        assert_memory_equal(r.id, ok[i].id, r.id_len);
    }
}

static void test_not_routes(void **state)
{
    static const char *bad[] = {
        "",
        "/",
        "/api",
        "/api/v1",
        "/api/v1/",
        "/api/v2/sales",
        "/api/v1/sales/",
        "/api/v1/salesx",
        "/api/v1/customers",
        "/api/v1/customers/",
        "/api/v1/customers//orders",
        "/api/v1/customers/1/orders/",
        "/api/v1/customers/1/order",
        "/api/v1/customers/1/orders/x",
        "/api/v1/customers/1/2",
        "/api/v1/tracking/",
        "/api/v1/tracking/BR1/orders",
        "/api/v1/cars",
        "/api/v1/cars/turnover/x",
        "api/v1/sales",
        "/healthz",
    };
    struct rx_api_route r;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (rx_api_route(bad[i], &r) != RX_API_NONE)
            fail_msg("'%s' was routed", bad[i]);
        assert_int_equal(r.res, RX_API_NONE);
        assert_null(r.id);
    }
    assert_int_equal(rx_api_route(NULL, &r), RX_API_NONE);
}

static void test_ids(void **state)
{
    char err[256], id[RX_API_ID_MAX + 2];
    (void)state;
    assert_int_equal(rx_api_check_id("customer id", "17850", 5, err, sizeof err), 0);
    assert_int_equal(rx_api_check_id("customer id", "a-b_c.d~!", 9, err, sizeof err), 0);
    memset(id, 'x', sizeof id);
    assert_int_equal(rx_api_check_id("customer id", id, RX_API_ID_MAX, err, sizeof err), 0);
    assert_int_equal(rx_api_check_id("customer id", id, RX_API_ID_MAX + 1, err, sizeof err),
                     HC_E_INVAL);
    assert_non_null(strstr(err, "customer id"));
    assert_non_null(strstr(err, "64"));
    assert_int_equal(rx_api_check_id("tracking number", "", 0, err, sizeof err), HC_E_INVAL);
    assert_non_null(strstr(err, "tracking number"));
    assert_int_equal(rx_api_check_id("customer id", "a b", 3, err, sizeof err), HC_E_INVAL);
    assert_int_equal(rx_api_check_id("customer id", "a\tb", 3, err, sizeof err), HC_E_INVAL);
    assert_int_equal(rx_api_check_id("customer id", "\xc3\xa9", 2, err, sizeof err), HC_E_INVAL);
    assert_int_equal(rx_api_check_id("customer id", "a\x7f", 2, err, sizeof err), HC_E_INVAL);
}

static void test_grain(void **state)
{
    const char *g = NULL;
    char err[256];
    (void)state;
    assert_int_equal(rx_api_parse_grain(NULL, &g, err, sizeof err), 0);
    assert_string_equal(g, "hour");
    assert_int_equal(rx_api_parse_grain("minute", &g, err, sizeof err), 0);
    assert_string_equal(g, "minute");
    assert_int_equal(rx_api_parse_grain("day", &g, err, sizeof err), 0);
    assert_string_equal(g, "day");
    assert_int_equal(rx_api_parse_grain("week", &g, err, sizeof err), HC_E_INVAL);
    assert_string_equal(err, "grain must be minute, hour or day");
    assert_int_equal(rx_api_parse_grain("", &g, err, sizeof err), HC_E_INVAL);
    assert_int_equal(rx_api_parse_grain("Hour", &g, err, sizeof err), HC_E_INVAL);
}

static void test_time(void **state)
{
    int64_t ms = -1;
    int given = -1;
    char err[256];
    (void)state;
    assert_int_equal(rx_api_parse_time("from", NULL, &ms, &given, err, sizeof err), 0);
    assert_int_equal(given, 0);
    assert_int_equal(ms, -1);
    assert_int_equal(
        rx_api_parse_time("from", "2026-11-22T10:00:00Z", &ms, &given, err, sizeof err), 0);
    assert_int_equal(given, 1);
    assert_int_equal(ms, 1795341600000LL);
    assert_int_equal(
        rx_api_parse_time("to", "2026-11-22T11:00:00.5+01:00", &ms, &given, err, sizeof err), 0);
    assert_int_equal(ms, 1795341600500LL);
    assert_int_equal(rx_api_parse_time("to", "2026-11-22", &ms, &given, err, sizeof err), 0);
    assert_int_equal(ms, 1795305600000LL);
    static const char *bad[] = {"",
                                "yesterday",
                                "@1795341600",
                                "11/22/2026 10:00",
                                "2026-13-01T00:00:00Z",
                                "2026-11-22T25:00:00Z",
                                "2026-11-22T10:00:00Zjunk"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (rx_api_parse_time("from", bad[i], &ms, &given, err, sizeof err) != HC_E_INVAL)
            fail_msg("'%s' was accepted as a time", bad[i]);
        assert_int_equal(given, 0);
        assert_non_null(strstr(err, "from must be an RFC 3339 time"));
    }
}

static void test_int(void **state)
{
    int64_t n = -1;
    char err[256];
    (void)state;
    assert_int_equal(rx_api_parse_int("limit", NULL, 1, 1000, 100, &n, err, sizeof err), 0);
    assert_int_equal(n, 100);
    assert_int_equal(rx_api_parse_int("limit", "1", 1, 1000, 100, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rx_api_parse_int("limit", "1000", 1, 1000, 100, &n, err, sizeof err), 0);
    assert_int_equal(n, 1000);
    assert_int_equal(rx_api_parse_int("offset", "0", 0, 1000000, 0, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    static const char *bad[] = {
        "0", "1001", "", "-1", "+5", "1x", "x1", " 1", "1.0", "1e3", "99999999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = 7;
        if (rx_api_parse_int("limit", bad[i], 1, 1000, 100, &n, err, sizeof err) != HC_E_INVAL)
            fail_msg("'%s' was accepted as a limit", bad[i]);
        assert_int_equal(n, 7);
        assert_string_equal(err, "limit must be an integer from 1 to 1000");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes), cmocka_unit_test(test_not_routes),
        cmocka_unit_test(test_ids),    cmocka_unit_test(test_grain),
        cmocka_unit_test(test_time),   cmocka_unit_test(test_int),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
