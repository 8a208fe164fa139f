/*
 * test_json.c - common/json.h: every text that passes the check must be one PostgreSQL takes (a
 * refused value would fail a whole COPY), the bodies silver quarantines as not_json (not UTF-8,
 * not JSON) must fail; and a checked text read back: members in order with repeated keys, every
 * value's type and span, escapes decoded to UTF-8.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/json.h"

static int ok(const char *s)
{
    return hc_json_ok(s, strlen(s));
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
    assert_false(hc_json_ok("\xff\xfe{}", 4)); /* not UTF-8 */
    assert_false(hc_json_ok("{}\0", 3));
    assert_false(hc_json_ok(NULL, 0));
}

/* What PostgreSQL's jsonb input would refuse, although it is JSON. */
static void test_postgres_refuses(void **state)
{
    char deep[2 * HC_JSON_DEPTH_MAX + 8], longnum[HC_JSON_NUM_MAX + 8];
    int i;

    (void)state;
    assert_false(ok("\"\\u0000\""));
    assert_false(ok("\"\\ud83d\""));        /* a high surrogate alone */
    assert_false(ok("\"\\ude00\""));        /* a low surrogate alone */
    assert_false(ok("\"\\ud83d\\u0041\"")); /* a high one, then no low one */
    assert_false(ok("1e1000"));
    assert_false(ok("1e-99999"));
    assert_true(ok("1e900"));
    for (i = 0; i < HC_JSON_DEPTH_MAX + 1; i++)
        deep[i] = '[';
    for (; i < 2 * HC_JSON_DEPTH_MAX + 2; i++)
        deep[i] = ']';
    deep[i] = '\0';
    assert_false(ok(deep)); /* one level too deep */
    deep[2 * HC_JSON_DEPTH_MAX + 1] = '\0';
    assert_true(ok(deep + 1)); /* HC_JSON_DEPTH_MAX levels */
    memset(longnum, '7', sizeof longnum - 1);
    longnum[sizeof longnum - 1] = '\0';
    assert_false(ok(longnum));
    /* An exponent that ends the text is read within len (found by fuzz_json: strtol read past
     * the end); the digits after len are not part of it. */
    assert_true(hc_json_ok("1e9999", 3));
    assert_true(hc_json_ok("0e93", 3));
    assert_true(hc_json_ok("20E900", 5));
    assert_false(hc_json_ok("20E901", 6));
}

/* Strings and UTF-8 are scanned eight bytes at a time: a quote, backslash, control character or
 * bad UTF-8 byte is found wherever it falls in the word, and near the end of the text. */
static void test_every_position(void **state)
{
    char t[64];

    (void)state;
    for (size_t len = 1; len <= 40; len++) {
        for (size_t at = 0; at < len; at++) {
            size_t n = len + 2;
            memset(t, 'a', sizeof t);
            t[0] = '"';
            t[len + 1] = '"';
            assert_true(hc_json_ok(t, n));
            t[1 + at] = '\x01'; /* a raw control character */
            assert_false(hc_json_ok(t, n));
            t[1 + at] = '\x7f'; /* DEL is not one */
            assert_true(hc_json_ok(t, n));
            t[1 + at] = '"'; /* the string ends early: text after it */
            assert_false(hc_json_ok(t, n));
            t[1 + at] = '\\'; /* an escape: "\\a" is none, and the last one takes the quote */
            assert_false(hc_json_ok(t, n));
            if (at + 1 < len) {
                t[2 + at] = 'n';
                assert_true(hc_json_ok(t, n));
                t[2 + at] = 'a';
            }
            t[1 + at] = (char)0xff; /* never UTF-8 */
            assert_false(hc_json_ok(t, n));
            t[1 + at] = (char)0xc3; /* a lead byte: valid with a continuation after it */
            assert_false(hc_json_ok(t, n));
            if (at + 1 < len) {
                t[2 + at] = (char)0xa9;
                assert_true(hc_json_ok(t, n));
            }
        }
    }
}

static void test_read(void **state)
{
    const char *s = " {\"a\" : [1, {\"b\":2}] ,\"k\\u00e9y\":\"x\\ty\\ud83d\\ude00\\u00e9\\/\","
                    "\"n\":-1.5e3,\"t\":true,\"z\":null,\"a\":{}} ";
    struct hc_json_val root, k, v;
    struct hc_json_obj it;
    char out[64];
    size_t n;

    (void)state;
    assert_true(hc_json_parse(s, strlen(s), &root));
    assert_int_equal(root.type, HC_JSON_OBJECT);
    assert_int_equal(root.p - s, 1);
    assert_int_equal(root.len, strlen(s) - 2);
    hc_json_obj_begin(&it, &root);
    assert_true(hc_json_obj_next(&it, &k, &v));
    assert_int_equal(v.type, HC_JSON_ARRAY);
    assert_int_equal(v.len, strlen("[1, {\"b\":2}]"));
    assert_true(hc_json_obj_next(&it, &k, &v));
    n = hc_json_unescape(&k, out);
    assert_memory_equal(out, "k\xc3\xa9y", n);
    assert_int_equal(v.type, HC_JSON_STRING);
    n = hc_json_unescape(&v, out);
    assert_int_equal(n, 10);
    assert_memory_equal(out, "x\ty\xf0\x9f\x98\x80\xc3\xa9/", n);
    assert_true(hc_json_obj_next(&it, &k, &v));
    assert_int_equal(v.type, HC_JSON_NUMBER);
    assert_memory_equal(v.p, "-1.5e3", v.len);
    assert_true(hc_json_obj_next(&it, &k, &v));
    assert_int_equal(v.type, HC_JSON_BOOL);
    assert_true(hc_json_obj_next(&it, &k, &v));
    assert_int_equal(v.type, HC_JSON_NULL);
    assert_true(hc_json_obj_next(&it, &k, &v)); /* the repeated key comes again */
    assert_memory_equal(k.p, "\"a\"", 3);
    assert_int_equal(v.type, HC_JSON_OBJECT);
    assert_false(hc_json_obj_next(&it, &k, &v));
    assert_false(hc_json_parse("{\"a\":}", 7, &root));
    assert_int_equal(root.type, HC_JSON_ABSENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_postgres_refuses),
        cmocka_unit_test(test_every_position),
        cmocka_unit_test(test_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
