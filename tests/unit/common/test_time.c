/* Timestamps, durations and sizes: the forms users type and the data sets carry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/hctime.h"

static int64_t parse(const char *s)
{
    int64_t ms = -1;
    assert_int_equal(hc_time_parse(s, -1, &ms), 0);
    return ms;
}

static void test_format(void **state)
{
    char out[HC_TIME_STRLEN];
    (void)state;
    hc_time_format(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    hc_time_format(1763780400123, out);
    assert_string_equal(out, "2025-11-22T03:00:00.123Z");
    hc_time_format(951782400000, out); /* leap day 2000 */
    assert_string_equal(out, "2000-02-29T00:00:00.000Z");
    hc_time_format(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
}

static void test_parse_forms(void **state)
{
    (void)state;
    assert_int_equal(parse("2025-11-22T03:00:00.123Z"), 1763780400123);
    assert_int_equal(parse("2025-11-22T03:00:00Z"), 1763780400000);
    assert_int_equal(parse("2025-11-22 03:00:00"), 1763780400000);
    assert_int_equal(parse("2025-11-22T04:00:00+01:00"), 1763780400000);
    assert_int_equal(parse("2025-11-22T02:30:00-0030"), 1763780400000);
    assert_int_equal(parse("2025-11-22T03:00:00.1234567Z"), 1763780400123);
    assert_int_equal(parse("2025-11-22"), 1763769600000);
    /* UCI Online Retail: month/day/year hour:minute */
    assert_int_equal(parse("12/1/2010 8:26"), 1291191960000);
    assert_int_equal(parse("12/01/2010 08:26:00"), 1291191960000);
    assert_int_equal(parse("@1763780400"), 1763780400000);
    assert_int_equal(parse(" 2025-11-22T03:00:00Z "), 1763780400000);
}

static void test_parse_rejects(void **state)
{
    static const char *const bad[] = {
        "",
        "2025-13-01",
        "2025-02-30T00:00:00Z",
        "2023-02-29",
        "2025-11-22T24:00:00Z",
        "2025-11-22T03:00:00X",
        "13/1/2010 8:26",
        "not a date",
        "2025-11-22T03:00:00.Z",
        "@",
        "@12x",
        "2025-11-22T03",
    };
    int64_t ms;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(hc_time_parse(bad[i], -1, &ms), HC_E_PARSE);
    /* seconds whose milliseconds do not fit in 64 bits (found by fuzz_time: signed overflow) */
    assert_int_equal(hc_time_parse("@300000010030000000", -1, &ms), HC_E_PARSE);
    assert_int_equal(hc_time_parse("@-9223372036854776", -1, &ms), HC_E_PARSE);
    assert_int_equal(hc_time_parse("@9223372036854775", -1, &ms), 0);
    assert_int_equal(ms, 9223372036854775000);
    /* len bounds the input: the tail is not read */
    assert_int_equal(hc_time_parse("2025-11-22garbage", 10, &ms), 0);
    assert_int_equal(ms, 1763769600000);
}

static void test_round_trip(void **state)
{
    char out[HC_TIME_STRLEN];
    (void)state;
    for (int64_t ms = -86400000LL * 400; ms < 86400000LL * 366 * 60; ms += 86400000LL * 7 + 12345) {
        int64_t back;
        hc_time_format(ms, out);
        assert_int_equal(hc_time_parse(out, -1, &back), 0);
        assert_int_equal(back, ms);
    }
}

static void test_durations_and_sizes(void **state)
{
    int64_t ms;
    uint64_t b;
    (void)state;
    assert_int_equal(hc_duration_parse("90", &ms), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(hc_duration_parse("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(hc_duration_parse("15m", &ms), 0);
    assert_int_equal(ms, 900000);
    assert_int_equal(hc_duration_parse("24h", &ms), 0);
    assert_int_equal(ms, 86400000);
    assert_int_equal(hc_duration_parse("7d", &ms), 0);
    assert_int_equal(ms, 604800000);
    assert_int_equal(hc_duration_parse("5 parsecs", &ms), HC_E_PARSE);
    assert_int_equal(hc_duration_parse("-5s", &ms), HC_E_PARSE);
    assert_int_equal(hc_size_parse("256M", &b), 0);
    assert_int_equal(b, 256ull << 20);
    assert_int_equal(hc_size_parse("1GiB", &b), 0);
    assert_int_equal(b, 1ull << 30);
    assert_int_equal(hc_size_parse("4096", &b), 0);
    assert_int_equal(b, 4096);
    assert_int_equal(hc_size_parse("10kb", &b), 0);
    assert_int_equal(b, 10240);
    assert_int_equal(hc_size_parse("12X", &b), HC_E_PARSE);
    assert_int_equal(hc_size_parse("99999999999999T", &b), HC_E_PARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_durations_and_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
