/*
 * test_orders.c - a batch's order lines summed for gold (receiver/lake/orders.h): rows made from
 * real bodies by common/rules.h, grouped per file, minute, invoice and customer (lake_oi) and per
 * product (lake_op), with exact sums (unit_price rounded half away from zero to 4 decimals, as
 * numeric(14,4) stores it), returns, cancellations left out of products, descriptions compared
 * byte by byte, NULLs kept; and a tuple of another shape refused. And the latest row of each
 * parcel or listing (rx_latest_rows).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/rules.h"
#include "receiver/lake/orders.h"

/* Append the silver row of an order line to rows: event_time et, and the data members. */
static void line(struct hc_buf *rows, int64_t file, const char *id, const char *et,
                 const char *data)
{
    char body[1024];
    struct hc_body b;

    snprintf(body, sizeof body,
             "{\"event_id\":\"%s\",\"kind\":\"order_line\",\"event_time\":\"%s\",\"data\":{%s,"
             "\"country\":\"UK\"}}",
             id, et, data);
    assert_int_equal(hc_body_check(&b, body, strlen(body)), HC_RULE_NONE);
    assert_int_equal(hc_body_copy_binary(&b, file, rows), 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* out's lines, sorted (the grouping's order is a hash's), joined by '|'. */
static char *sorted(const struct hc_buf *out)
{
    char *copy = strndup(out->p ? out->p : "", out->len), *lines[64], *s, *save = NULL;
    char *joined = calloc(1, out->len + 64);
    size_t n = 0;

    for (s = strtok_r(copy, "\n", &save); s && n < 64; s = strtok_r(NULL, "\n", &save))
        lines[n++] = s;
    qsort(lines, n, sizeof *lines, cmp_str);
    for (size_t i = 0; i < n; i++) {
        strcat(joined, lines[i]);
        if (i + 1 < n)
            strcat(joined, "|");
    }
    free(copy);
    return joined;
}

#define INV(no, code, desc, qty, price, date, cust)                                                \
    "\"invoice_no\":\"" no "\",\"stock_code\":\"" code "\"," desc "\"quantity\":" qty              \
    ",\"unit_price\":" price ",\"invoice_date\":\"" date "\"" cust

static void test_groups_and_sums(void **state)
{
    struct hc_buf rows = HC_BUF_INIT, oi = HC_BUF_INIT, op = HC_BUF_INIT;
    char *a, *b;

    (void)state;
    /* two lines of one invoice in one minute: one group; 2.55 * 6 + 1.00005 (1.0001) * -2 */
    line(&rows, 7, "e1", "2026-11-22T10:00:05Z",
         INV("536365", "85123A", "\"description\":\"WHITE\",", "6", "2.55", "2026-11-22T10:00:00Z",
             ",\"customer_id\":\"17850\""));
    line(&rows, 7, "e2", "2026-11-22T10:00:59.999999Z",
         INV("536365", "71053", "\"description\":\"LANTERN\",", "-2", "1.00005",
             "2026-11-22T09:59:00Z", ",\"customer_id\":\"17850\""));
    /* the next minute; no customer; a price that rounds down; a later description for 85123A */
    line(&rows, 7, "e3", "2026-11-22T10:01:00Z",
         INV("536366", "85123A", "\"description\":\"WHITE HANGING\",", "3", "0.33334",
             "2026-11-22T10:01:00Z", ""));
    /* a cancellation: summed in its invoice, not a product's sale */
    line(&rows, 8, "e4", "2026-11-22T10:01:30Z",
         INV("C536379", "D", "", "-1", "27.5", "2026-11-22T10:01:00Z",
             ",\"customer_id\":\"14527\""));
    /* no description at all, in another file; a time before the minute's start is its own */
    line(&rows, 8, "e5", "2026-11-22T10:01:30Z",
         INV("536367", "POST", "", "1", "1e1", "2026-11-22T10:01:00Z",
             ",\"customer_id\":\"14527\""));
    assert_int_equal(rx_orders_sum(rows.p, rows.len, &oi, &op), 0);
    a = sorted(&oi);
    assert_string_equal(
        a, "7\t2026-11-22 10:00:00.000000+00\t536365\t17850\t13.2998\t2\t1\t-2.0002\t"
           "2026-11-22 09:59:00.000000+00\t2026-11-22 10:00:00.000000+00|"
           "7\t2026-11-22 10:01:00.000000+00\t536366\t\\N\t0.9999\t1\t0\t\\N\t"
           "2026-11-22 10:01:00.000000+00\t2026-11-22 10:01:00.000000+00|"
           "8\t2026-11-22 10:01:00.000000+00\t536367\t14527\t10.0000\t1\t0\t\\N\t"
           "2026-11-22 10:01:00.000000+00\t2026-11-22 10:01:00.000000+00|"
           "8\t2026-11-22 10:01:00.000000+00\tC536379\t14527\t-27.5000\t1\t1\t-27.5000\t"
           "2026-11-22 10:01:00.000000+00\t2026-11-22 10:01:00.000000+00");
    b = sorted(&op);
    assert_string_equal(b, "71053\tLANTERN\t-2\t-2.0002|"
                           "85123A\tWHITE HANGING\t9\t16.2999|"
                           "POST\t\\N\t1\t10.0000");
    free(a);
    free(b);
    hc_buf_free(&rows);
    hc_buf_free(&oi);
    hc_buf_free(&op);
}

/* Half away from zero at the 4th decimal, on either side of zero; large values stay exact. */
static void test_rounding_and_range(void **state)
{
    struct hc_buf rows = HC_BUF_INIT, oi = HC_BUF_INIT, op = HC_BUF_INIT;
    char *b;

    (void)state;
    line(&rows, 1, "r1", "2026-11-22T10:00:00Z",
         INV("1", "A", "", "1", "0.00005", "2026-11-22T10:00:00Z", ""));
    line(&rows, 1, "r2", "2026-11-22T10:00:00Z",
         INV("1", "B", "", "-1", "0.00004999", "2026-11-22T10:00:00Z", ""));
    line(&rows, 1, "r3", "2026-11-22T10:00:00Z",
         INV("1", "C", "", "999999999", "9999999999.9999", "2026-11-22T10:00:00Z", ""));
    line(&rows, 1, "r4", "2026-11-22T10:00:00Z",
         INV("1", "C", "", "999999999", "9999999999.9999", "2026-11-22T10:00:00Z", ""));
    line(&rows, 1, "r5", "2026-11-22T10:00:00Z",
         INV("1", "D", "", "-3", "0.12345", "2026-11-22T10:00:00Z", ""));
    assert_int_equal(rx_orders_sum(rows.p, rows.len, &oi, &op), 0);
    b = sorted(&op);
    assert_string_equal(b, "A\t\\N\t1\t0.0001|"
                           "B\t\\N\t-1\t0.0000|"
                           "C\t\\N\t1999999998\t19999999979999800000.0002|"
                           "D\t\\N\t-3\t-0.3705");
    free(b);
    hc_buf_free(&rows);
    hc_buf_free(&oi);
    hc_buf_free(&op);
}

static void test_refuses_other_tuples(void **state)
{
    struct hc_buf rows = HC_BUF_INIT, oi = HC_BUF_INIT, op = HC_BUF_INIT;
    char body[] = "{\"event_id\":\"s\",\"kind\":\"order_status\",\"event_time\":"
                  "\"2026-11-22T10:00:00Z\",\"data\":{\"tracking_num\":\"T\",\"order_id\":\"O\","
                  "\"status\":\"created\",\"status_time\":\"2026-11-22T10:00:00Z\"}}";
    struct hc_body b;

    (void)state;
    assert_int_equal(hc_body_check(&b, body, strlen(body)), HC_RULE_NONE);
    assert_int_equal(hc_body_copy_binary(&b, 1, &rows), 0);
    assert_int_equal(rx_orders_sum(rows.p, rows.len, &oi, &op), HC_E_PARSE);
    hc_buf_reset(&rows);
    line(&rows, 1, "t1", "2026-11-22T10:00:00Z",
         INV("1", "A", "", "1", "1", "2026-11-22T10:00:00Z", ""));
    assert_int_equal(rx_orders_sum(rows.p, rows.len - 1, &oi, &op), HC_E_PARSE); /* cut short */
    assert_int_equal(rx_orders_sum(rows.p, 0, &oi, &op), 0);
    hc_buf_free(&rows);
    hc_buf_free(&oi);
    hc_buf_free(&op);
}

/* Append the silver row of an order status: parcel tn, status_time st. */
static void status(struct hc_buf *rows, const char *id, const char *tn, const char *st)
{
    char body[512];
    struct hc_body b;

    snprintf(body, sizeof body,
             "{\"event_id\":\"%s\",\"kind\":\"order_status\",\"event_time\":"
             "\"2026-11-22T12:00:00Z\",\"data\":{\"tracking_num\":\"%s\",\"order_id\":\"O\","
             "\"status\":\"shipped\",\"status_time\":\"%s\"}}",
             id, tn, st);
    assert_int_equal(hc_body_check(&b, body, strlen(body)), HC_RULE_NONE);
    assert_int_equal(hc_body_copy_binary(&b, 1, rows), 0);
}

/* The event_ids of the tuples in out (column 0), sorted and joined by '|'. */
static char *ids_of(const struct hc_buf *out)
{
    struct hc_buf t = HC_BUF_INIT;
    const unsigned char *p = (const unsigned char *)out->p, *end = p + out->len;
    char *s;

    while (p < end) {
        int nf = p[0] << 8 | p[1];
        const unsigned char *q = p + 2;
        for (int i = 0; i < nf; i++) {
            uint32_t l = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
            if (i == 0) {
                hc_buf_add(&t, q + 4, l);
                hc_buf_addc(&t, '\n');
            }
            q += 4 + (l == 0xFFFFFFFFu ? 0 : l);
        }
        p = q;
    }
    s = sorted(&t);
    hc_buf_free(&t);
    return s;
}

/* The latest row per key: the newest time, then the greatest event_id (bytes); one row per key. */
static void test_latest_rows(void **state)
{
    struct hc_buf rows = HC_BUF_INIT, out = HC_BUF_INIT;
    char *ids;

    (void)state;
    status(&rows, "s1", "T1", "2026-11-22T10:00:00Z");
    status(&rows, "s2", "T1", "2026-11-22T11:00:00Z");
    status(&rows, "s4", "T1", "2026-11-22T11:00:00Z"); /* a tie: the greater event_id */
    status(&rows, "s3", "T1", "2026-11-22T11:00:00Z");
    status(&rows, "s5", "T1", "2026-11-22T09:00:00Z"); /* older, arriving later */
    status(&rows, "s6", "T2", "2026-11-22T08:00:00Z");
    status(&rows, "s7", "T10", "2026-11-22T07:00:00Z");
    assert_int_equal(rx_latest_rows(rows.p, rows.len, 3, 6, &out), 0);
    ids = ids_of(&out);
    assert_string_equal(ids, "s4|s6|s7");
    free(ids);
    hc_buf_reset(&out);
    assert_int_equal(rx_latest_rows(rows.p, rows.len - 1, 3, 6, &out), HC_E_PARSE);
    hc_buf_reset(&out);
    assert_int_equal(rx_latest_rows(rows.p, rows.len, 3, 4, &out), HC_E_PARSE); /* not a time */
    hc_buf_reset(&out);
    assert_int_equal(rx_latest_rows(rows.p, 0, 3, 6, &out), 0);
    assert_int_equal(out.len, 0);
    hc_buf_free(&rows);
    hc_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_groups_and_sums),
        cmocka_unit_test(test_rounding_and_range),
        cmocka_unit_test(test_refuses_other_tuples),
        cmocka_unit_test(test_latest_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
