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

/* Field i of a COPY binary tuple: its length (-1: NULL), *p its bytes. */
static int32_t field(const struct hc_buf *row, int i, const unsigned char **p)
{
    const unsigned char *q = (const unsigned char *)row->p + 2;
    int32_t len = 0;

    for (int k = 0; k <= i; k++) {
        len = (int32_t)((uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3]);
        *p = q + 4;
        q += 4 + (len > 0 ? len : 0);
    }
    return len;
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
    /* 2026-11-22T10:00:00.5Z and 10:00:00Z in microseconds since 2000-01-01 */
    static const unsigned char et[8] = {0x00, 0x03, 0x03, 0xD9, 0x4F, 0x21, 0x49, 0x20};
    static const unsigned char id[8] = {0x00, 0x03, 0x03, 0xD9, 0x4F, 0x19, 0xA8, 0x00};
    static const unsigned char qty[4] = {0xFF, 0xFF, 0xFF, 0xFA};
    /* 2.55: 2 digits, weight 0, positive, scale 2: 0002 5500 */
    static const unsigned char price[12] = {0, 2, 0, 0, 0, 0, 0, 2, 0, 2, 0x15, 0x7C};
    static const unsigned char fid[8] = {0, 0, 0, 0, 0, 0, 0, 42};
    struct hc_body b;
    struct hc_buf out = HC_BUF_INIT;
    const unsigned char *p;

    (void)state;
    assert_int_equal(hc_body_check(&b, body, strlen(body)), HC_RULE_NONE);
    assert_int_equal(b.kind, HC_KIND_ORDER_LINE);
    assert_int_equal(b.event_us, 1795341600500000LL);
    assert_int_equal(hc_body_copy_binary(&b, 42, &out), 0);
    assert_int_equal(out.p[0], 0);
    assert_int_equal(out.p[1], 12); /* silver.order_line's 12 columns */
    assert_int_equal(field(&out, 0, &p), 6);
    assert_memory_equal(p, "0190-a", 6);
    assert_int_equal(field(&out, 1, &p), 4);
    assert_memory_equal(p, "pi-1", 4);
    assert_int_equal(field(&out, 2, &p), 8);
    assert_memory_equal(p, et, 8);
    assert_int_equal(field(&out, 5, &p), 13); /* escapes decoded, nothing escaped */
    assert_memory_equal(p, "tab\there \\ \xc3\xa9", 13);
    assert_int_equal(field(&out, 6, &p), 4);
    assert_memory_equal(p, qty, 4);
    assert_int_equal(field(&out, 7, &p), 12);
    assert_memory_equal(p, price, 12);
    assert_int_equal(field(&out, 8, &p), 8);
    assert_memory_equal(p, id, 8);
    assert_int_equal(field(&out, 9, &p), -1); /* customer_id null */
    assert_int_equal(field(&out, 10, &p), 2);
    assert_int_equal(field(&out, 11, &p), 8);
    assert_memory_equal(p, fid, 8);
    assert_int_equal((size_t)(p + 8 - (const unsigned char *)out.p), out.len);
    hc_buf_free(&out);
}

/* A numeric column left out is NULL (found by fuzz_rules: UBSan, arithmetic on its NULL text). */
static void test_absent_numeric(void **state)
{
    char body[1024];
    struct hc_body b;
    struct hc_buf out = HC_BUF_INIT;
    const unsigned char *p;

    (void)state;
    snprintf(body, sizeof body,
             ENV("\"e2\"", "\"car_listing\"", "\"2026-11-22T10:00:00Z\"") ",\"data\":{" CAR_DATA
                                                                          "}}",
             "\"WVWZZZ1KZAW000001\"", "12999.5", "\"listed\"", "2019");
    assert_int_equal(hc_body_check(&b, body, strlen(body)), HC_RULE_NONE);
    assert_int_equal(hc_body_copy_binary(&b, 1, &out), 0);
    assert_int_equal(field(&out, 3 + 5, &p), -1); /* mileage_km */
    assert_true(field(&out, 3 + 6, &p) > 0);      /* price */
    hc_buf_free(&out);
}

/* unit_price as COPY's binary numeric: ndigits, weight, sign, dscale, base-10000 digits. */
static void numeric_is(const char *lit, const uint16_t *want, int n)
{
    char body[512];
    struct hc_body b;
    struct hc_buf out = HC_BUF_INIT;
    const unsigned char *p;

    snprintf(body, sizeof body,
             ENV("\"e\"", "\"order_line\"", "\"2026-11-22T10:00:00Z\"") ",\"data\":{" LINE_OK
                                                                        ",\"unit_price\":%s}}",
             lit);
    assert_int_equal(hc_body_check(&b, body, strlen(body)), HC_RULE_NONE);
    assert_int_equal(hc_body_copy_binary(&b, 1, &out), 0);
    assert_int_equal(field(&out, 7, &p), 2 * n);
    for (int i = 0; i < n; i++)
        assert_int_equal(p[2 * i] << 8 | p[2 * i + 1], want[i]);
    hc_buf_free(&out);
}

static void test_numeric(void **state)
{
    (void)state;
    numeric_is("2.55", (const uint16_t[]){2, 0, 0, 2, 2, 5500}, 6);
    numeric_is("0.05", (const uint16_t[]){1, 0xFFFF, 0, 2, 500}, 5);
    numeric_is("1.5e3", (const uint16_t[]){1, 0, 0, 0, 1500}, 5);
    numeric_is("15E-1", (const uint16_t[]){2, 0, 0, 1, 1, 5000}, 6);
    numeric_is("123456.7", (const uint16_t[]){3, 1, 0, 1, 12, 3456, 7000}, 7);
    numeric_is("10000", (const uint16_t[]){1, 1, 0, 0, 1}, 5);
    numeric_is("0", (const uint16_t[]){0, 0, 0, 0}, 4);
    numeric_is("-0.0", (const uint16_t[]){0, 0, 0, 1}, 4);
    numeric_is("0.00001", (const uint16_t[]){1, 0xFFFE, 0, 5, 1000}, 5);
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

    /* invoice_date values (JSON), and whether the rules take them */
    static const struct {
        const char *v;
        int ok;
    } cases[] = {
        {"\"2026-02-29T00:00:00Z\"", 0}, /* 2026 is not a leap year */
        {"\"2024-02-29T23:59:59.999999-15:59\"", 1},
        {"\"2000-02-29T00:00:00Z\"", 1},
        {"\"1900-02-29T00:00:00Z\"", 0},
        {"\"2026-04-31T00:00:00Z\"", 0},
        {"\"2026-11-22T24:00:00Z\"", 0},
        {"\"2026-11-22T10:60:00Z\"", 0},
        {"\"2026-11-22T10:00:00+16:00\"", 0},
        {"\"2026-11-22T10:00:00.1234567Z\"", 0},
        {"\"2026-11-22T10:00:00.Z\"", 0},
        {"\"2026-11-22t10:00:00z\"", 0},
        {"\"2026-11-22 10:00:00Z\"", 0},
        {"\"0000-01-01T00:00:00Z\"", 0},
        {"\"22/11/2026\"", 0},
        {"20261122", 0},
    };
    char data[256];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(data, sizeof data, LINE_OK ",\"invoice_date\":%s", cases[i].v);
        assert_int_equal(line(data), cases[i].ok ? HC_RULE_NONE : HC_RULE_BAD_TIMESTAMP);
    }
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
        cmocka_unit_test(test_valid_row),     cmocka_unit_test(test_absent_numeric),
        cmocka_unit_test(test_numeric),       cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_missing_field), cmocka_unit_test(test_unknown_kind),
        cmocka_unit_test(test_numbers),       cmocka_unit_test(test_negative),
        cmocka_unit_test(test_times),         cmocka_unit_test(test_ts_format),
        cmocka_unit_test(test_enums_and_vin), cmocka_unit_test(test_repeated_and_escaped_keys),
        cmocka_unit_test(test_rule_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
