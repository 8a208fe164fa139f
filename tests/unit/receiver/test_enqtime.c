/*
 * test_enqtime.c - the lander reads Azure Capture's EnqueuedTimeUtc text ("6/12/2020 6:32:34 PM")
 * back into milliseconds, for real Azure files and the receiver's own, and refuses anything else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "receiver/capture/record.h"
#include "receiver/capture/record.h"

static int64_t parse(const char *s)
{
    int64_t ms = -42;
    int rc = rx_record_time_parse(s, strlen(s), &ms);
    return rc ? rc : ms;
}

static void test_azure_text(void **state)
{
    (void)state;
    assert_int_equal(parse("6/12/2020 6:32:34 PM"), 1591986754000LL);
    assert_int_equal(parse("1/1/1970 12:00:00 AM"), 0);
    assert_int_equal(parse("1/1/1970 12:00:01 PM"), 43201000LL);
    assert_int_equal(parse("2/29/2024 11:59:59 PM"), 1709251199000LL);
    assert_int_equal(parse("11/22/2026 3:04:05 AM"), 1795316645000LL);
    assert_int_equal(parse("11/22/2026 3:04:05.1234567 AM"), 1795316645123LL);
}

static void test_refused(void **state)
{
    static const char *const bad[] = {
        "",
        "2/30/2024 1:00:00 PM",
        "13/1/2024 1:00:00 PM",
        "1/1/2024 13:00:00 PM",
        "1/1/2024 0:00:00 AM",
        "1/1/2024 1:00:00",
        "1/1/2024 1:00:00 XM",
        "1/1/2024 1:0:00 AM",
        "2024-01-01T00:00:00Z",
        "1/1/2024 1:00:00 AM ",
        "1/1/2024 1:00:00. AM",
    };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(parse(bad[i]), HC_E_PARSE);
}

/* Every text the capture writer produces reads back to its second. */
static void test_round_trip(void **state)
{
    char text[RX_ENQ_TEXT_MAX];
    int64_t ms;
    (void)state;
    for (ms = 0; ms < 4102444800000LL; ms += 7777777777LL + 123) {
        size_t n = rx_record_time_text(ms, text);
        assert_true(n > 0);
        assert_int_equal(parse(text), ms / 1000 * 1000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_azure_text),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
