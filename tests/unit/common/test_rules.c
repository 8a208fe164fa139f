/*
 * test_rules.c - silver's validation rules (common/rules.h): the rule each malformed body breaks,
 * in the documented order, the edges of every check (numbers at their column's limit, real dates,
 * offsets, escapes, repeated keys), and the exact COPY row a valid body becomes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/rules.h"

#define ENV(id, kind, et) "{\"event_id\":" id ",\"kind\":" kind ",\"event_time\":" et

/* An order line whose data members are `data`. */
static enum hc_rule line(const char *data)
{
    char body[1024];
    struct hc_body b;

    snprintf(body, sizeof body,
             ENV("\"e1\"", "\"order_line\"", "\"2026-11-22T10:00:00Z\"") ",\"data\":{%s}}", data);
    return hc_body_check(&b, body, strlen(body));
}

#define LINE_OK                                                                                    \
    "\"invoice_no\":\"536365\",\"stock_code\":\"85123A\",\"quantity\":6,"                          \
    "\"unit_price\":2.55,\"invoice_date\":\"2026-11-22T10:00:00Z\",\"country\":\"UK\""

#define CAR_DATA                                                                                   \
    "\"listing_id\":\"L1\",\"vin\":%s,\"make\":\"VW\",\"model\":\"Golf\",\"price\":%s,"            \
    "\"action\":%s,\"year\":%s,\"date_listed\":\"2026-11-01T00:00:00Z\""

static enum hc_rule car(const char *vin, const char *price, const char *action, const char *year)
{
    char body[1024];
    struct hc_body b;

    snprintf(body, sizeof body,
             ENV("\"e2\"", "\"car_listing\"", "\"2026-11-22T10:00:00Z\"") ",\"data\":{" CAR_DATA
                                                                          "}}",
             vin, price, action, year);
    return hc_body_check(&b, body, strlen(body));
}

#define STATUS_DATA                                                                                \
    "\"tracking_num\":\"T1\",\"order_id\":\"O1\",\"status\":%s,"                                   \
    "\"status_time\":\"2026-11-22T09:00:00Z\",\"estimated_delivery\":%s"

static enum hc_rule status(const char *st, const char *est)
{
    char body[1024];
    struct hc_body b;

    snprintf(body, sizeof body,
             ENV("\"e3\"", "\"order_status\"", "\"2026-11-22T10:00:00Z\"") ",\"data\":{" STATUS_DATA
                                                                           "}}",
             st, est);
    return hc_body_check(&b, body, strlen(body));
}

static enum hc_rule whole(const char *body)
{
    struct hc_body b;
    return hc_body_check(&b, body, body ? strlen(body) : 0);
}

static void test_valid_row(void **state)
{
    const char *body =
        ENV("\"0190-a\"", "\"order_line\"",
            "\"2026-11-22T11:00:00.5+01:00\"") ",\"device_id\":\"pi-1\",\"data\":{\"invoice_no\":"
                                               "\"C536\",\"stock_code\":\"85123A\","
                                               "\"description\":\"tab\\there \\\\ "
                                               "\\u00e9\",\"quantity\":-6,\"unit_price\":2.55,"
                                               "\"invoice_date\":\"2026-11-22T10:00:00Z\","
                                               "\"customer_id\":null,\"country\":\"UK\","
                                               "\"extra\":[1,2]}}";
    struct hc_body b;
    struct hc_buf out = HC_BUF_INIT;

    (void)state;
    assert_int_equal(hc_body_check(&b, body, strlen(body)), HC_RULE_NONE);
    assert_int_equal(b.kind, HC_KIND_ORDER_LINE);
    /* 2026-11-22T10:00:00.5Z */
    assert_int_equal(b.event_us, 1795341600500000LL);
    assert_int_equal(hc_body_copy_row(&b, 42, &out), 0);
    assert_string_equal(out.p, "0190-a\tpi-1\t2026-11-22T11:00:00.5+01:00\tC536\t85123A\t"
                               "tab\\there \\\\ \xc3\xa9\t-6\t2.55\t2026-11-22T10:00:00Z\t\\N\tUK"
                               "\t42\n");
    hc_buf_free(&out);
}

static void test_not_json(void **state)
{
    (void)state;
    assert_int_equal(whole(NULL), HC_RULE_NOT_JSON);
    assert_int_equal(whole(""), HC_RULE_NOT_JSON);
    assert_int_equal(whole("{\"event_id\":"), HC_RULE_NOT_JSON);
    assert_int_equal(whole("[1,2]"), HC_RULE_NOT_JSON);
    assert_int_equal(whole("\"a string\""), HC_RULE_NOT_JSON);
    assert_int_equal(whole("{\"a\":\"\xff\"}"), HC_RULE_NOT_JSON);
}

static void test_missing_field(void **state)
{
    (void)state;
    assert_int_equal(whole("{\"kind\":\"order_line\",\"event_time\":\"x\",\"data\":{}}"),
                     HC_RULE_MISSING_FIELD);
    assert_int_equal(whole(ENV("null", "\"order_line\"", "\"x\"") ",\"data\":{}}"),
                     HC_RULE_MISSING_FIELD);
    assert_int_equal(whole(ENV("\"e\"", "\"order_line\"", "\"x\"") ",\"data\":[]}"),
                     HC_RULE_MISSING_FIELD);
    assert_int_equal(line("\"stock_code\":\"1\",\"quantity\":1,\"unit_price\":1,"
                          "\"invoice_date\":\"2026-11-22T10:00:00Z\",\"country\":\"UK\""),
                     HC_RULE_MISSING_FIELD);
    assert_int_equal(line(LINE_OK ",\"country\":null"), HC_RULE_MISSING_FIELD);
    /* an event_id that is not a string: missing, but only after every other rule */
    assert_int_equal(
        whole(ENV("5", "\"order_line\"", "\"2026-11-22T10:00:00Z\"") ",\"data\":{" LINE_OK "}}"),
        HC_RULE_MISSING_FIELD);
    assert_int_equal(
        whole(ENV("5", "\"order_line\"", "\"2026-11-22T10:00:00Z\"") ",\"data\":{" LINE_OK
                                                                     ",\"quantity\":\"6 pcs\"}}"),
        HC_RULE_BAD_NUMBER);
}

static void test_unknown_kind(void **state)
{
    (void)state;
    assert_int_equal(whole(ENV("\"e\"", "\"order\"", "\"x\"") ",\"data\":{}}"),
                     HC_RULE_UNKNOWN_KIND);
    assert_int_equal(whole(ENV("\"e\"", "7", "\"x\"") ",\"data\":{}}"), HC_RULE_UNKNOWN_KIND);
    /* an escaped kind is its decoded text */
    assert_int_equal(whole(ENV("\"e\"", "\"order\\u005fline\"",
                               "\"2026-11-22T10:00:00Z\"") ",\"data\":{" LINE_OK "}}"),
                     HC_RULE_NONE);
}

static void test_numbers(void **state)
{
    (void)state;
    assert_int_equal(line(LINE_OK), HC_RULE_NONE);
    assert_int_equal(line(LINE_OK ",\"quantity\":\"6 pcs\""), HC_RULE_BAD_NUMBER);
    assert_int_equal(line(LINE_OK ",\"quantity\":6.0"), HC_RULE_BAD_NUMBER);
    assert_int_equal(line(LINE_OK ",\"quantity\":6e0"), HC_RULE_BAD_NUMBER);
    assert_int_equal(line(LINE_OK ",\"quantity\":1234567890"), HC_RULE_BAD_NUMBER);
    assert_int_equal(line(LINE_OK ",\"quantity\":-123456789"), HC_RULE_NONE);
    assert_int_equal(line(LINE_OK ",\"quantity\":true"), HC_RULE_BAD_NUMBER);
    assert_int_equal(line(LINE_OK ",\"unit_price\":\"2,55\""), HC_RULE_BAD_NUMBER);
    /* numeric(14,4): below 10^10 once rounded to 4 decimals */
    assert_int_equal(line(LINE_OK ",\"unit_price\":9999999999.99994999"), HC_RULE_NONE);
    assert_int_equal(line(LINE_OK ",\"unit_price\":9999999999.99995"), HC_RULE_BAD_NUMBER);
    assert_int_equal(line(LINE_OK ",\"unit_price\":1e10"), HC_RULE_BAD_NUMBER);
    assert_int_equal(line(LINE_OK ",\"unit_price\":0.99999999e10"), HC_RULE_NONE);
    assert_int_equal(line(LINE_OK ",\"unit_price\":5e-900"), HC_RULE_NONE);
    /* numeric(14,2) for a car's price; year an integer when present; mileage any number */
    assert_int_equal(car("\"WVWZZZ1KZ6W000001\"", "999999999999.994", "\"listed\"", "2019"),
                     HC_RULE_NONE);
    assert_int_equal(car("\"WVWZZZ1KZ6W000001\"", "999999999999.995", "\"listed\"", "2019"),
                     HC_RULE_BAD_NUMBER);
    assert_int_equal(car("\"WVWZZZ1KZ6W000001\"", "15000", "\"listed\"", "\"2019 model\""),
                     HC_RULE_BAD_NUMBER);
    assert_int_equal(car("\"WVWZZZ1KZ6W000001\"", "15000", "\"listed\"", "null"), HC_RULE_NONE);
}

static void test_negative(void **state)
{
    (void)state;
    assert_int_equal(line(LINE_OK ",\"unit_price\":-0.01"), HC_RULE_NEGATIVE_PRICE);
    assert_int_equal(line(LINE_OK ",\"unit_price\":-0.00001"), HC_RULE_NEGATIVE_PRICE);
    assert_int_equal(line(LINE_OK ",\"unit_price\":-0"), HC_RULE_NONE);
    assert_int_equal(line(LINE_OK ",\"unit_price\":-0.0e5"), HC_RULE_NONE);
    assert_int_equal(car("\"WVWZZZ1KZ6W000001\"", "-1", "\"listed\"", "2019"),
                     HC_RULE_NEGATIVE_PRICE);
    /* bad_number before negative_price */
    assert_int_equal(line(LINE_OK ",\"unit_price\":-1e10"), HC_RULE_BAD_NUMBER);
}

static void test_times(void **state)
{
    int64_t us;

    (void)state;
    assert_int_equal(line(LINE_OK ",\"invoice_date\":\"2026-02-29T00:00:00Z\""),
                     HC_RULE_BAD_TIMESTAMP);
    assert_int_equal(line(LINE_OK ",\"invoice_date\":\"2024-02-29T23:59:59.999999-15:59\""),
                     HC_RULE_NONE);
    assert_int_equal(line(LINE_OK ",\"invoice_date\":\"2000-02-29T00:00:00Z\""), HC_RULE_NONE);
    assert_int_equal(line(LINE_OK ",\"invoice_date\":\"1900-02-29T00:00:00Z\""),
                     HC_RULE_BAD_TIMESTAMP);
    assert_int_equal(line(LINE_OK ",\"invoice_date\":\"2026-04-31T00:00:00Z\""),
                     HC_RULE_BAD_TIMESTAMP);
    assert_int_equal(line(LINE_OK ",\"invoice_date\":\"2026-11-22T24:00:00Z\""),
                     HC_RULE_BAD_TIMESTAMP);
    assert_int_equal(line(LINE_OK ",\"invoice_date\":\"2026-11-22T10:60:00Z\""),
                     HC_RULE_BAD_TIMESTAMP);
    assert_int_equal(line(LINE_OK ",\"invoice_date\":\"2026-11-22T10:00:00+16:00\""),
                     HC_RULE_BAD_TIMESTAMP);
    assert_int_equal(line(LINE_OK ",\"invoice_date\":\"2026-11-22T10:00:00.1234567Z\""),
                     HC_RULE_BAD_TIMESTAMP);
    assert_int_equal(line(LINE_OK ",\"invoice_date\":\"2026-11-22T10:00:00.Z\""),
                     HC_RULE_BAD_TIMESTAMP);
    assert_int_equal(line(LINE_OK ",\"invoice_date\":\"2026-11-22t10:00:00z\""),
                     HC_RULE_BAD_TIMESTAMP);
    assert_int_equal(line(LINE_OK ",\"invoice_date\":\"2026-11-22 10:00:00Z\""),
                     HC_RULE_BAD_TIMESTAMP);
    assert_int_equal(line(LINE_OK ",\"invoice_date\":\"0000-01-01T00:00:00Z\""),
                     HC_RULE_BAD_TIMESTAMP);
    assert_int_equal(line(LINE_OK ",\"invoice_date\":\"22/11/2026\""), HC_RULE_BAD_TIMESTAMP);
    assert_int_equal(line(LINE_OK ",\"invoice_date\":20261122"), HC_RULE_BAD_TIMESTAMP);
    /* an optional time: absent or null is fine, present it must parse */
    assert_int_equal(status("\"shipped\"", "null"), HC_RULE_NONE);
    assert_int_equal(status("\"shipped\"", "\"soon\""), HC_RULE_BAD_TIMESTAMP);
    /* the event_time too, and escapes are decoded first */
    assert_int_equal(whole(ENV("\"e\"", "\"order_line\"",
                               "\"2026-11-22T10:00:00\\u005a\"") ",\"data\":{" LINE_OK "}}"),
                     HC_RULE_NONE);
    assert_int_equal(
        whole(ENV("\"e\"", "\"order_line\"", "\"2026-11-22\"") ",\"data\":{" LINE_OK "}}"),
        HC_RULE_BAD_TIMESTAMP);
    assert_int_equal(hc_ts_parse("1970-01-01T00:00:00Z", 20, &us), 0);
    assert_int_equal(us, 0);
    assert_int_equal(hc_ts_parse("1969-12-31T23:00:00-01:00", 25, &us), 0);
    assert_int_equal(us, 0);
    assert_int_equal(hc_ts_parse("0001-01-01T00:00:00.000001Z", 27, &us), 0);
    assert_int_equal(us, -62135596800000000LL + 1);
}

static void test_ts_format(void **state)
{
    char t[HC_TS_STRLEN];
    int64_t us;

    (void)state;
    hc_ts_format(0, t);
    assert_string_equal(t, "1970-01-01 00:00:00.000000+00");
    hc_ts_format(1795341600500000LL, t);
    assert_string_equal(t, "2026-11-22 10:00:00.500000+00");
    hc_ts_format(-1, t);
    assert_string_equal(t, "1969-12-31 23:59:59.999999+00");
    assert_int_equal(hc_ts_parse("2024-02-29T23:59:59.25Z", 23, &us), 0);
    hc_ts_format(us, t);
    assert_string_equal(t, "2024-02-29 23:59:59.250000+00");
}

static void test_enums_and_vin(void **state)
{
    (void)state;
    assert_int_equal(status("\"delivered\"", "null"), HC_RULE_NONE);
    assert_int_equal(status("\"lost\"", "null"), HC_RULE_UNKNOWN_STATUS);
    assert_int_equal(status("\"Delivered\"", "null"), HC_RULE_UNKNOWN_STATUS);
    assert_int_equal(car("\"WVWZZZ1KZ6W000001\"", "1", "\"auctioned\"", "2019"),
                     HC_RULE_UNKNOWN_ACTION);
    assert_int_equal(car("\"WVWZZZ1KZ6W00000\"", "1", "\"sold\"", "2019"), HC_RULE_BAD_VIN);
    assert_int_equal(car("\"WVWZZZ1KZ6W00000I\"", "1", "\"sold\"", "2019"), HC_RULE_BAD_VIN);
    assert_int_equal(car("\"WVWZZZ1KZ6W00000O\"", "1", "\"sold\"", "2019"), HC_RULE_BAD_VIN);
    assert_int_equal(car("\"wvwzzz1kz6w000001\"", "1", "\"sold\"", "2019"), HC_RULE_BAD_VIN);
    /* a number is its text: 17 digits are a VIN */
    assert_int_equal(car("12345678901234567", "1", "\"sold\"", "2019"), HC_RULE_NONE);
    /* unknown_action before bad_vin */
    assert_int_equal(car("\"X\"", "1", "\"gone\"", "2019"), HC_RULE_UNKNOWN_ACTION);
}

static void test_repeated_and_escaped_keys(void **state)
{
    (void)state;
    /* the last of a repeated key counts, as in jsonb */
    assert_int_equal(line(LINE_OK ",\"quantity\":\"x\",\"quantity\":3"), HC_RULE_NONE);
    assert_int_equal(line(LINE_OK ",\"quantity\":3,\"quantity\":\"x\""), HC_RULE_BAD_NUMBER);
    /* an escaped key is its decoded name */
    assert_int_equal(line(LINE_OK ",\"unit\\u005fprice\":-1"), HC_RULE_NEGATIVE_PRICE);
}

static void test_rule_names(void **state)
{
    (void)state;
    assert_null(hc_rule_name(HC_RULE_NONE));
    assert_string_equal(hc_rule_name(HC_RULE_NOT_JSON), "not_json");
    assert_string_equal(hc_rule_name(HC_RULE_TOO_LATE), "too_late");
    assert_null(hc_rule_name(HC_RULE_COUNT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_row),     cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_missing_field), cmocka_unit_test(test_unknown_kind),
        cmocka_unit_test(test_numbers),       cmocka_unit_test(test_negative),
        cmocka_unit_test(test_times),         cmocka_unit_test(test_ts_format),
        cmocka_unit_test(test_enums_and_vin), cmocka_unit_test(test_repeated_and_escaped_keys),
        cmocka_unit_test(test_rule_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
