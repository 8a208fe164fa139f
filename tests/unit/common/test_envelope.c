/* Envelope encode/decode, JSON string escaping and UTF-8 validation. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/envelope.h"
#include "common/error.h"
#include "common/rng.h"
#include "common/uuid.h"

static const char data[] = "{\"invoice_no\":\"536365\",\"quantity\":6,\"unit_price\":2.55}";

static struct hc_event sample(void)
{
    struct hc_event ev;
    memset(&ev, 0, sizeof ev);
    hc_uuid_parse("0190f3c2-7b1a-7000-8000-0123456789ab", 36, ev.id);
    ev.device_id = "pi-0007";
    ev.device_id_len = 7;
    ev.kind = HC_KIND_ORDER_LINE;
    ev.schema = 1;
    ev.event_time_ms = 1763780400123;
    ev.data = data;
    ev.data_len = strlen(data);
    return ev;
}

static void test_encode_exact(void **state)
{
    struct hc_buf b = HC_BUF_INIT;
    struct hc_event ev = sample();
    (void)state;
    assert_int_equal(hc_event_encode(&ev, &b), 0);
    assert_string_equal(b.p, "{\"event_id\":\"0190f3c2-7b1a-7000-8000-0123456789ab\","
                             "\"device_id\":\"pi-0007\",\"kind\":\"order_line\",\"schema\":1,"
                             "\"event_time\":\"2025-11-22T03:00:00.123Z\",\"data\":{\"invoice_no\":"
                             "\"536365\",\"quantity\":6,\"unit_price\":2.55}}");
    hc_buf_free(&b);
}

static void test_round_trip(void **state)
{
    struct hc_buf b = HC_BUF_INIT;
    struct hc_event ev = sample();
    struct hc_event_doc doc;
    const char *why = NULL;
    (void)state;
    ev.device_id = "dev \"quoted\"\n\xc3\xa9";
    ev.device_id_len = strlen(ev.device_id);
    assert_int_equal(hc_event_encode(&ev, &b), 0);
    assert_int_equal(hc_event_decode(b.p, b.len, &doc, &why), 0);
    assert_memory_equal(doc.ev.id, ev.id, 16);
    assert_int_equal(doc.ev.device_id_len, ev.device_id_len);
    assert_memory_equal(doc.ev.device_id, ev.device_id, ev.device_id_len);
    assert_int_equal(doc.ev.kind, HC_KIND_ORDER_LINE);
    assert_int_equal(doc.ev.schema, 1);
    assert_int_equal(doc.ev.event_time_ms, ev.event_time_ms);
    assert_string_equal(doc.ev.data, data);
    hc_event_doc_free(&doc);
    hc_buf_free(&b);
}

static void test_decode_rejects(void **state)
{
    static const struct {
        const char *json;
        int rc;
        const char *why;
    } cases[] = {
        {"not json", HC_E_PARSE, "not a JSON object"},
        {"[1,2]", HC_E_PARSE, "not a JSON object"},
        {"{\"kind\":\"order_line\",\"event_time\":\"2025-11-22T03:00:00Z\"}", HC_E_INVAL,
         "data is not an object"},
        {"{\"kind\":\"boat\",\"event_time\":\"2025-11-22T03:00:00Z\",\"data\":{}}", HC_E_INVAL,
         "unknown kind"},
        {"{\"kind\":\"order_line\",\"event_time\":\"yesterday\",\"data\":{}}", HC_E_INVAL,
         "event_time missing or not a timestamp"},
        {"{\"event_id\":\"nope\",\"kind\":\"order_line\",\"event_time\":\"2025-11-22\","
         "\"data\":{}}",
         HC_E_INVAL, "event_id is not a UUID"},
        {"{\"kind\":\"order_line\",\"schema\":0,\"event_time\":\"2025-11-22\",\"data\":{}}",
         HC_E_INVAL, "schema is not a positive integer"},
        {"{\"kind\":\"order_line\",\"device_id\":7,\"event_time\":\"2025-11-22\",\"data\":{}}",
         HC_E_INVAL, "device_id is not a string of 1 to 128 bytes"},
        {"{\"kind\":\"order_line\",\"event_time\":\"2025-11-22\",\"data\":{\"x\":\"\xff\"}}",
         HC_E_UTF8, "invalid UTF-8"},
    };
    struct hc_event_doc doc;
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *why = NULL;
        assert_int_equal(hc_event_decode(cases[i].json, strlen(cases[i].json), &doc, &why),
                         cases[i].rc);
        assert_string_equal(why, cases[i].why);
    }
}

static void test_decode_defaults(void **state)
{
    const char *j = "{ \"data\" : {\"a\":1}, \"kind\":\"car_listing\", "
                    "\"event_time\":\"2025-11-22T03:00:00Z\" }";
    struct hc_event_doc doc;
    (void)state;
    assert_int_equal(hc_event_decode(j, strlen(j), &doc, NULL), 0);
    assert_true(hc_uuid_is_nil(doc.ev.id));
    assert_int_equal(doc.ev.device_id_len, 0);
    assert_int_equal(doc.ev.schema, 1);
    assert_int_equal(doc.ev.kind, HC_KIND_CAR_LISTING);
    hc_event_doc_free(&doc);
}

static void test_size_limit(void **state)
{
    struct hc_buf b = HC_BUF_INIT;
    struct hc_event ev = sample();
    char *big = malloc(HC_EVENT_MAX);
    (void)state;
    assert_non_null(big);
    /* {"p":"xxxx…"} sized so the whole envelope lands just over and just under the limit */
    memset(big, 'x', HC_EVENT_MAX);
    memcpy(big, "{\"p\":\"", 6);
    ev.data = big;
    ev.data_len = HC_EVENT_MAX - 100;
    memcpy(big + ev.data_len - 2, "\"}", 2);
    assert_int_equal(hc_event_encode(&ev, &b), HC_E_TOOBIG);
    assert_int_equal(b.len, 0);
    ev.data_len = HC_EVENT_MAX - 400;
    memcpy(big + ev.data_len - 2, "\"}", 2);
    assert_int_equal(hc_event_encode(&ev, &b), 0);
    assert_true(b.len <= HC_EVENT_MAX);
    free(big);
    hc_buf_free(&b);
}

/*
 * The envelope of ev made the plain way (snprintf, gmtime_r, a switch for the escapes), for the
 * encoder to be compared with. Returns its length; out has room for HC_EVENT_MAX + 1 bytes.
 */
static int leap_year(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/*
 * The civil date of a day number (0: 1970-01-01) by counting: whole 400-year cycles (146097 days
 * each), then years, then months. For the times a 32-bit time_t (armhf) cannot hold; checked
 * against gmtime_r wherever time_t holds the time.
 */
static void plain_civil(int64_t days, int *year, int *mon, int *mday)
{
    static const int mlen[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t cyc = days / 146097 - (days % 146097 < 0), y;
    int m = 0;

    days -= cyc * 146097;
    y = 1970 + 400 * cyc;
    while (days >= 365 + leap_year(y))
        days -= 365 + leap_year(y++);
    while (days >= mlen[m] + (m == 1 && leap_year(y))) {
        days -= mlen[m] + (m == 1 && leap_year(y));
        m++;
    }
    *year = (int)y;
    *mon = m;
    *mday = (int)days + 1;
}

static size_t reference_encode(const struct hc_event *ev, char *out)
{
    int64_t days = ev->event_time_ms / 86400000, rem = ev->event_time_ms % 86400000;
    int64_t secs64;
    time_t secs;
    struct tm tm;
    char *o = out;
    int year;

    if (rem < 0) {
        days--;
        rem += 86400000;
    }
    secs64 = days * 86400 + rem / 1000;
    secs = (time_t)secs64;
    memset(&tm, 0, sizeof tm);
    plain_civil(days, &year, &tm.tm_mon, &tm.tm_mday);
    tm.tm_hour = (int)(rem / 3600000);
    tm.tm_min = (int)(rem / 60000 % 60);
    tm.tm_sec = (int)(rem / 1000 % 60);
    if ((int64_t)secs == secs64) { /* time_t holds it: libc says the same */
        struct tm g;
        assert_non_null(gmtime_r(&secs, &g));
        assert_int_equal(g.tm_year + 1900, year);
        assert_int_equal(g.tm_mon, tm.tm_mon);
        assert_int_equal(g.tm_mday, tm.tm_mday);
        assert_int_equal(g.tm_hour, tm.tm_hour);
        assert_int_equal(g.tm_min, tm.tm_min);
        assert_int_equal(g.tm_sec, tm.tm_sec);
    }
    year = year < 0 ? 0 : year > 9999 ? 9999 : year;
    o += sprintf(o, "{\"event_id\":\"");
    for (int i = 0; i < 16; i++)
        o += sprintf(o, "%s%02x", i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "", ev->id[i]);
    o += sprintf(o, "\",\"device_id\":\"");
    for (size_t i = 0; i < ev->device_id_len; i++) {
        unsigned char c = (unsigned char)ev->device_id[i];
        switch (c) {
        case '"':
            o += sprintf(o, "\\\"");
            break;
        case '\\':
            o += sprintf(o, "\\\\");
            break;
        case '\b':
            o += sprintf(o, "\\b");
            break;
        case '\f':
            o += sprintf(o, "\\f");
            break;
        case '\n':
            o += sprintf(o, "\\n");
            break;
        case '\r':
            o += sprintf(o, "\\r");
            break;
        case '\t':
            o += sprintf(o, "\\t");
            break;
        default:
            o += c < 0x20 ? sprintf(o, "\\u%04x", c) : sprintf(o, "%c", c);
        }
    }
    o += sprintf(o, "\",\"kind\":\"%s\",\"schema\":%d,", hc_kind_name(ev->kind), ev->schema);
    o += sprintf(o, "\"event_time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"data\":", year,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(rem % 1000));
    memcpy(o, ev->data, ev->data_len);
    o += ev->data_len;
    *o++ = '}';
    return (size_t)(o - out);
}

/* A random event: device ids full of bytes that need escapes, any schema, times far apart. */
static void random_event(struct hc_rng *rng, int i, struct hc_event *e, char *dev, char *data)
{
    static const int64_t times[] = {0,
                                    -1,
                                    1,
                                    86399999,
                                    86400000,
                                    -86400000,
                                    -86400001,
                                    253402300799999,
                                    253402300800000,
                                    -62167219200001,
                                    -62167219200000,
                                    1795000000123};
    static const int schemas[] = {0, 1, -1, 9, 10, 65535, INT_MAX, INT_MIN};
    size_t dlen = (size_t)hc_rng_range(rng, 1, HC_DEVICE_ID_MAX);
    size_t n = (size_t)hc_rng_range(rng, 0, 3000);

    memset(e, 0, sizeof *e);
    for (size_t k = 0; k < dlen; k++) /* any byte; escapes, control bytes and UTF-8 often */
        dev[k] = (char)(hc_rng_chance(rng, 0.4) ? "\"\\\n\r\t\b\f\x01\x0b\x1f\x7f\xc3\xa9/"[k % 14]
                                                : hc_rng_range(rng, 0, 255));
    memcpy(data, "{\"v\":\"", 6);
    memset(data + 6, 'a' + i % 26, n);
    memcpy(data + 6 + n, "\"}", 2);
    e->device_id = dev;
    e->device_id_len = dlen;
    e->kind = (enum hc_kind)hc_rng_range(rng, 1, HC_KIND_COUNT - 1);
    e->schema = i % 3 ? (int)hc_rng_range(rng, INT_MIN, INT_MAX) : schemas[i / 3 % 8];
    if (i % 4 == 0)
        e->event_time_ms = times[i / 4 % 12];
    else if (i % 4 == 1) /* runs within one day */
        e->event_time_ms = 1795000000000 + hc_rng_range(rng, 0, 3600000);
    else /* years -29700 to 33600 */
        e->event_time_ms = hc_rng_range(rng, -1000000000000000, 1000000000000000);
    for (int k = 0; k < 16; k++)
        e->id[k] = (uint8_t)hc_rng_range(rng, 0, 255);
    e->data = data;
    e->data_len = n + 8;
}

/*
 * hc_event_encoded_len is exact, hc_event_encode_to writes that many bytes and not one more, and
 * both make what hc_event_encode appends and what the plain reference makes.
 */
static void test_encoded_len_exact(void **state)
{
    enum { N = 20000, GUARD = 64 };
    struct hc_buf b = HC_BUF_INIT;
    struct hc_rng rng;
    char dev[HC_DEVICE_ID_MAX], *data = malloc(3100);
    char *dst = malloc(HC_EVENT_MAX + GUARD), *want = malloc(HC_EVENT_MAX + 1);
    (void)state;

    assert_non_null(data);
    assert_non_null(dst);
    assert_non_null(want);
    hc_rng_seed(&rng, 20261122);
    for (int i = 0; i < N; i++) {
        struct hc_event e;
        size_t len = 0, wlen, pre;
        random_event(&rng, i, &e, dev, data);
        wlen = reference_encode(&e, want);
        assert_int_equal(hc_event_encoded_len(&e, &len), 0);
        assert_int_equal(len, wlen);

        memset(dst, 0xa5, len + GUARD);
        assert_int_equal(hc_event_encode_to(&e, dst), len);
        if (memcmp(dst, want, len))
            fail_msg("event %d:\n  encode_to: %.*s\n  reference: %.*s", i, (int)len, dst, (int)wlen,
                     want);
        for (size_t k = len; k < len + GUARD; k++)
            assert_int_equal((unsigned char)dst[k], 0xa5);

        /* hc_event_encode appends the same bytes after what the buffer holds. */
        hc_buf_reset(&b);
        assert_int_equal(hc_buf_add(&b, "x", (size_t)(i % 2)), 0);
        pre = b.len;
        assert_int_equal(hc_event_encode(&e, &b), 0);
        assert_int_equal(b.len - pre, len);
        assert_memory_equal(b.p + pre, want, len);
        assert_int_equal(b.p[b.len], '\0');
    }
    free(data);
    free(dst);
    free(want);
    hc_buf_free(&b);
}

/*
 * hc_event_encoded_len refuses what hc_event_encode refuses, with its code, and leaves *len; at
 * the size bound (device ids escaped at worst included) the length is still exact.
 */
static void test_encoded_len_refuses(void **state)
{
    enum { C = 9 };
    static const int want[C] = {HC_E_INVAL,  HC_E_INVAL,  HC_E_INVAL, HC_E_INVAL, 0,
                                HC_E_TOOBIG, HC_E_TOOBIG, 0,          HC_E_TOOBIG};
    struct hc_buf b = HC_BUF_INIT;
    char ctl[HC_DEVICE_ID_MAX], *big = malloc(HC_EVENT_MAX);
    (void)state;

    assert_non_null(big);
    memset(ctl, '\x01', sizeof ctl); /* \u0001 each: six bytes */
    for (int c = 0; c < C; c++) {
        struct hc_event e = sample();
        size_t len = 12345;
        memset(big, ' ', HC_EVENT_MAX);
        big[0] = '{';
        if (c == 0)
            e.device_id_len = 0;
        if (c == 1)
            e.device_id_len = HC_DEVICE_ID_MAX + 1;
        if (c == 2)
            e.kind = HC_KIND_UNKNOWN;
        if (c == 3)
            e.data_len = 0;
        if (c >= 7) {
            e.device_id = ctl;
            e.device_id_len = sizeof ctl;
        }
        if (c == 4 || c == 5 || c == 7 || c == 8) /* at the bound, and one past it */
            e.data_len = HC_EVENT_MAX - 160 - e.device_id_len * 6 + (size_t)(c == 5 || c == 8);
        if (c == 6)
            e.data_len = (size_t)-1; /* refused, not wrapped round */
        if (c >= 4) {
            e.data = big;
            if (e.data_len <= HC_EVENT_MAX)
                big[e.data_len - 1] = '}';
        }
        assert_int_equal(hc_event_encoded_len(&e, &len), want[c]);
        hc_buf_reset(&b);
        assert_int_equal(hc_event_encode(&e, &b), want[c]);
        if (want[c]) {
            assert_int_equal(len, 12345);
            assert_int_equal(b.len, 0);
        } else {
            assert_int_equal(len, b.len);
            assert_true(len <= HC_EVENT_MAX);
        }
    }
    free(big);
    hc_buf_free(&b);
}

/* encode_to writes no NUL: the byte after the envelope is the caller's. */
static void test_encode_to_exact(void **state)
{
    struct hc_event ev = sample();
    char out[512];
    size_t len;
    static const char want[] =
        "{\"event_id\":\"0190f3c2-7b1a-7000-8000-0123456789ab\",\"device_id\":\"pi-0007\","
        "\"kind\":\"order_line\",\"schema\":1,\"event_time\":\"2025-11-22T03:00:00.123Z\","
        "\"data\":{\"invoice_no\":\"536365\",\"quantity\":6,\"unit_price\":2.55}}";
    (void)state;
    memset(out, '#', sizeof out);
    assert_int_equal(hc_event_encoded_len(&ev, &len), 0);
    assert_int_equal(len, sizeof want - 1);
    assert_int_equal(hc_event_encode_to(&ev, out), len);
    assert_memory_equal(out, want, len);
    assert_int_equal(out[len], '#');
}

static void test_json_escape(void **state)
{
    struct hc_buf b = HC_BUF_INIT;
    (void)state;
    hc_buf_add_json_str(&b, "a\"b\\c\n\t\x01\xc3\xa9", 10);
    assert_string_equal(b.p, "\"a\\\"b\\\\c\\n\\t\\u0001\xc3\xa9\"");
    hc_buf_free(&b);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(hc_utf8_valid("plain", 5));
    assert_true(hc_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x9a\x97", 9));
    assert_false(hc_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    assert_false(hc_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(hc_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(hc_utf8_valid("\xe2\x82", 2));         /* truncated */
    assert_false(hc_utf8_valid("\xff", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_exact),        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_decode_rejects),      cmocka_unit_test(test_decode_defaults),
        cmocka_unit_test(test_size_limit),          cmocka_unit_test(test_encoded_len_exact),
        cmocka_unit_test(test_encoded_len_refuses), cmocka_unit_test(test_encode_to_exact),
        cmocka_unit_test(test_json_escape),         cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
