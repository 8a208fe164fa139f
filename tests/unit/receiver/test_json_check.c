/*
 * test_json_check.c - the lander's JSON check: every event body that passes must be one that
 * PostgreSQL's jsonb input takes (a refused one would fail its whole file's COPY), and the
 * bodies silver quarantines as not_json (not UTF-8, not JSON) must fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "receiver/lake/json_check.h"

static int ok(const char *s)
{
    return rx_json_ok(s, strlen(s));
}

static void test_valid(void **state)
{
    (void)state;
    assert_true(ok("{\"event_id\":\"0190\",\"kind\":\"order_line\",\"data\":{\"quantity\":-6,"
                   "\"unit_price\":2.55,\"x\":[true,false,null,1e5,-0.5E-3]}}"));
    assert_true(ok(" \t\r\n{ } \n"));
    assert_true(ok("[]"));
    assert_true(ok("\"caf\xc3\xa9 \\u00e9 \\ud83d\\ude00 \\\" \\\\ \\/ \\b\\f\\n\\r\\t\""));
    assert_true(ok("0"));
    assert_true(ok("{\"a\":{\"a\":{\"a\":[[[]]]}}}"));
}

static void test_not_json(void **state)
{
    (void)state;
    assert_false(ok(""));
    assert_false(ok("   "));
    assert_false(ok("{not json"));
    assert_false(ok("{\"a\":1,}"));
    assert_false(ok("[1 2]"));
    assert_false(ok("{\"a\" 1}"));
    assert_false(ok("{1:2}"));
    assert_false(ok("truex"));
    assert_false(ok("nul"));
    assert_false(ok("01"));
    assert_false(ok("1."));
    assert_false(ok(".5"));
    assert_false(ok("-"));
    assert_false(ok("1e"));
    assert_false(ok("{} {}"));
    assert_false(ok("\"unterminated"));
    assert_false(ok("\"tab\tinside\""));
    assert_false(ok("\"\\x\""));
    assert_false(ok("\xef\xbb\xbf{}"));        /* a BOM: PostgreSQL refuses it */
    assert_false(rx_json_ok("\xff\xfe{}", 4)); /* not UTF-8 */
    assert_false(rx_json_ok("{}\0", 3));
    assert_false(rx_json_ok(NULL, 0));
}

/* What PostgreSQL's jsonb input would refuse, although it is JSON. */
static void test_postgres_refuses(void **state)
{
    char deep[2 * RX_JSON_DEPTH_MAX + 8], longnum[RX_JSON_NUM_MAX + 8];
    int i;

    (void)state;
    assert_false(ok("\"\\u0000\""));
    assert_false(ok("\"\\ud83d\""));        /* a high surrogate alone */
    assert_false(ok("\"\\ude00\""));        /* a low surrogate alone */
    assert_false(ok("\"\\ud83d\\u0041\"")); /* a high one, then no low one */
    assert_false(ok("1e1000"));
    assert_false(ok("1e-99999"));
    assert_true(ok("1e900"));
    for (i = 0; i < RX_JSON_DEPTH_MAX + 1; i++)
        deep[i] = '[';
    for (; i < 2 * RX_JSON_DEPTH_MAX + 2; i++)
        deep[i] = ']';
    deep[i] = '\0';
    assert_false(ok(deep)); /* one level too deep */
    deep[2 * RX_JSON_DEPTH_MAX + 1] = '\0';
    assert_true(ok(deep + 1)); /* RX_JSON_DEPTH_MAX levels */
    memset(longnum, '7', sizeof longnum - 1);
    longnum[sizeof longnum - 1] = '\0';
    assert_false(ok(longnum));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_postgres_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
