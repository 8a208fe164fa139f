/* test_reader.c - CSV and JSON Lines files into events (agent/source/reader.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/source/colmap.h"
#include "agent/source/reader.h"
#include "common/error.h"
#include "common/uuid.h"
#include "tests/unit/testutil.h"

#define UCI_HEADER                                                                                 \
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
#define UCI_ROW1                                                                                   \
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United "         \
    "Kingdom\n"
#define UCI_ROW2 "C536379,D,Discount,-1,12/1/2010 9:41,27.5,14527,United Kingdom\n"
#define UCI_ROW3 "536414,22139,,56,12/1/2010 11:52,0,,United Kingdom\n"
#define UCI_ROW4                                                                                   \
    "536370,22728,\"ALARM CLOCK BAKELIKE \"\"PINK\"\", RED\",24,12/1/2010 "                        \
    "8:45,3.75,12583.0,France\n"

#define DATA1                                                                                      \
    "{\"invoice_no\":\"536365\",\"stock_code\":\"85123A\",\"description\":\"WHITE HANGING "        \
    "HEART T-LIGHT HOLDER\",\"quantity\":6,\"unit_price\":2.55,\"invoice_date\":\"2010-12-01T08:"  \
    "26:00.000Z\",\"customer_id\":\"17850\",\"country\":\"United Kingdom\"}"
#define DATA2                                                                                      \
    "{\"invoice_no\":\"C536379\",\"stock_code\":\"D\",\"description\":\"Discount\",\"quantity\":-" \
    "1,\"unit_price\":27.5,\"invoice_date\":\"2010-12-01T09:41:00.000Z\",\"customer_id\":"         \
    "\"14527\""                                                                                    \
    ",\"country\":\"United Kingdom\"}"
#define DATA3                                                                                      \
    "{\"invoice_no\":\"536414\",\"stock_code\":\"22139\",\"description\":\"\",\"quantity\":56,"    \
    "\"unit_price\":0,\"invoice_date\":\"2010-12-01T11:52:00.000Z\",\"customer_id\":null,"         \
    "\"country\":\"United Kingdom\"}"
#define DATA4                                                                                      \
    "{\"invoice_no\":\"536370\",\"stock_code\":\"22728\",\"description\":\"ALARM CLOCK BAKELIKE "  \
    "\\\"PINK\\\", RED\",\"quantity\":24,\"unit_price\":3.75,\"invoice_date\":\"2010-12-01T08:45:" \
    "00.000Z\",\"customer_id\":\"12583\",\"country\":\"France\"}"

/* Write content to a temp file named name; returns its path (static, until the next call). */
static const char *write_tmp(const char *name, const char *content, size_t len)
{
    return tu_write_tmp("test_reader", name, content, len);
}

#define WRITE(name, s) write_tmp((name), (s), sizeof(s) - 1)

/* An item copied out of the reader. */
struct got {
    int rejected;
    uint64_t line, next_offset, next_line;
    char *reason;
    char *data;
    char *device;
    enum hc_kind kind;
    int schema;
    int64_t time_ms;
    uint8_t id[16];
};

struct gots {
    struct got *v;
    size_t n;
};

static void gots_free(struct gots *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->v[i].reason);
        free(g->v[i].data);
        free(g->v[i].device);
    }
    free(g->v);
    g->v = NULL;
    g->n = 0;
}

static struct ag_reader_opts opts_of(enum hc_kind kind, const char *map)
{
    struct ag_reader_opts o = {AG_FMT_AUTO, kind, map, "pi-0007", 0};
    return o;
}

static struct ag_reader *open_ok(const char *path, const struct ag_reader_opts *o, uint64_t offset,
                                 uint64_t line)
{
    int err = 0;
    const char *why = NULL;
    struct ag_reader *r = ag_reader_open(path, o, offset, line, &err, &why);
    if (!r)
        print_error("open %s: %s (%s)\n", path, hc_strerror(err), why ? why : "-");
    assert_non_null(r);
    return r;
}

/* Every item of r, to the end of the file. */
static struct gots read_all(struct ag_reader *r)
{
    struct gots g = {NULL, 0};
    struct ag_reader_item it;
    int rc;

    while ((rc = ag_reader_next(r, &it)) == 0) {
        struct got *x;
        g.v = realloc(g.v, (g.n + 1) * sizeof *g.v);
        assert_non_null(g.v);
        x = &g.v[g.n++];
        memset(x, 0, sizeof *x);
        x->rejected = it.rejected;
        x->line = it.line;
        x->next_offset = it.next_offset;
        x->next_line = it.next_line;
        if (it.rejected) {
            assert_non_null(it.reason);
            x->reason = strdup(it.reason);
        } else {
            x->data = strndup(it.ev.data, it.ev.data_len);
            x->device = strndup(it.ev.device_id, it.ev.device_id_len);
            x->kind = it.ev.kind;
            x->schema = it.ev.schema;
            x->time_ms = it.ev.event_time_ms;
            memcpy(x->id, it.ev.id, 16);
        }
    }
    assert_int_equal(rc, HC_E_DONE);
    return g;
}

static struct gots read_file(const char *path, const struct ag_reader_opts *o)
{
    struct ag_reader *r = open_ok(path, o, 0, 1);
    struct gots g = read_all(r);
    ag_reader_close(r);
    return g;
}

static void assert_event(const struct got *x, uint64_t line, const char *data)
{
    if (x->rejected)
        print_error("line %llu rejected: %s\n", (unsigned long long)x->line, x->reason);
    assert_false(x->rejected);
    assert_int_equal(x->line, line);
    assert_string_equal(x->data, data);
}

static void assert_reject(const struct got *x, uint64_t line, const char *reason)
{
    if (!x->rejected)
        print_error("line %llu not rejected: %s\n", (unsigned long long)x->line, x->data);
    assert_true(x->rejected);
    assert_int_equal(x->line, line);
    if (!strstr(x->reason, reason))
        print_error("reason '%s' lacks '%s'\n", x->reason, reason);
    assert_non_null(strstr(x->reason, reason));
}

/* ---- CSV ------------------------------------------------------------------------------------ */

static void test_uci_sample(void **state)
{
    (void)state;
    const char *p = WRITE("uci.csv", "\xef\xbb\xbf" UCI_HEADER UCI_ROW1 UCI_ROW2 UCI_ROW3 UCI_ROW4);
    struct ag_reader_opts o = opts_of(HC_KIND_UNKNOWN, NULL);
    struct gots g = read_file(p, &o);

    assert_int_equal(g.n, 4);
    assert_event(&g.v[0], 2, DATA1);
    assert_event(&g.v[1], 3, DATA2);
    assert_event(&g.v[2], 4, DATA3);
    assert_event(&g.v[3], 5, DATA4);
    assert_int_equal(g.v[0].time_ms, 1291191960000LL); /* 2010-12-01T08:26:00Z */
    assert_int_equal(g.v[1].time_ms, 1291196460000LL); /* 09:41 */
    for (size_t i = 0; i < g.n; i++) {
        assert_int_equal(g.v[i].kind, HC_KIND_ORDER_LINE);
        assert_int_equal(g.v[i].schema, 1);
        assert_string_equal(g.v[i].device, "pi-0007");
        assert_true(hc_uuid_is_nil(g.v[i].id)); /* the buffer assigns it */
    }
    assert_int_equal(g.v[3].next_line, 6);
    gots_free(&g);
}

static void test_csv_rejects_with_line_numbers(void **state)
{
    (void)state;
    const char *p =
        WRITE("rej.csv", UCI_HEADER
              "536371,22086,PAPER CHAIN KIT,abc,12/1/2010 9:00,2.55,13047,United Kingdom\n"
              "536372,22632,HAND WARMER,6,12/1/2010\n"
              "\n"
              "536373,22633,\"HAND\nWARMER\",6,12/1/2010 9:02,1.85,17850,United Kingdom,extra\n"
              "536374,21258,RABBIT,x,2010-13-01,2.55,17850,United Kingdom\n"
              "536375,21258,RABBIT,1,31/12/2010 9:00,2.55,17850,United Kingdom\n"
              "536376,21258,RABBIT,1,12/1/2010 9:00,2.5.5,17850,United Kingdom\n"
              ",21258,RABBIT,1,12/1/2010 9:00,2.55,17850,United Kingdom\n"
              "536377,21258,BAD \xc3\x28 UTF8,1,12/1/2010 9:00,2.55,17850,United Kingdom\n"
              "536378,21258,RABBIT,99999999999999999999,12/1/2010 9:00,1,1,UK\n" UCI_ROW1
              "536379,21258,\"OPEN QUOTE,1,12/1/2010 9:00,2.55,17850,UK\n");
    struct ag_reader_opts o = opts_of(HC_KIND_ORDER_LINE, NULL);
    struct gots g = read_file(p, &o);

    assert_int_equal(g.n, 11);
    assert_reject(&g.v[0], 2, "column Quantity: not an integer: 'abc'");
    assert_reject(&g.v[1], 3, "row has 5 fields, header has 8");
    assert_reject(&g.v[2], 5, "row has 9 fields, header has 8");
    assert_reject(&g.v[3], 7, "column Quantity: not an integer: 'x'"); /* first bad column */
    assert_reject(&g.v[4], 8, "column InvoiceDate: not a timestamp: '31/12/2010 9:00'");
    assert_reject(&g.v[5], 9, "column UnitPrice: not a number: '2.5.5'");
    assert_reject(&g.v[6], 10, "column InvoiceNo: empty");
    assert_reject(&g.v[7], 11, "column Description: invalid UTF-8");
    assert_reject(&g.v[8], 12, "column Quantity: integer out of range");
    assert_event(&g.v[9], 13, DATA1);
    assert_reject(&g.v[10], 14, "unterminated quoted field");
    gots_free(&g);
}

static void test_reason_is_one_printable_line(void **state)
{
    (void)state;
    const char *p =
        WRITE("oneline.csv", UCI_HEADER
              "1,A,B,\"1\n2\",12/1/2010 8:26,1,1,UK\n"
              "1,A,B,1,12/1/2010 8:26,"
              "12345678901234567890123456789012345678901234567890123456789\xc3\xa9x,1,UK\n");
    struct ag_reader_opts o = opts_of(HC_KIND_ORDER_LINE, NULL);
    struct gots g = read_file(p, &o);

    assert_int_equal(g.n, 2);
    assert_reject(&g.v[0], 2, "column Quantity: not an integer: '1?2'");
    assert_int_equal(g.v[0].next_line, 4);
    /* Cut at 60 bytes but not inside the two-byte character that straddles the cut. */
    assert_reject(&g.v[1], 4,
                  "column UnitPrice: not a number: "
                  "'12345678901234567890123456789012345678901234567890123456789...'");
    gots_free(&g);
}

static void test_csv_header_mapping(void **state)
{
    (void)state;
    /* snake_case and odd case, columns in another order, an extra column, no customer id. */
    const char *p =
        WRITE("snake.csv", "country, QUANTITY ,invoice_no,stock_code,description,"
                           "invoicedate,unit_price,note\r\n"
                           "France,3,536999,POST,POSTAGE,2010-12-01T10:00:00+01:00,18,x\r\n");
    struct ag_reader_opts o = opts_of(HC_KIND_ORDER_LINE, NULL);
    struct gots g = read_file(p, &o);

    assert_int_equal(g.n, 1);
    assert_event(&g.v[0], 2,
                 "{\"invoice_no\":\"536999\",\"stock_code\":\"POST\",\"description\":\"POSTAGE\","
                 "\"quantity\":3,\"unit_price\":18,\"invoice_date\":\"2010-12-01T09:00:00.000Z\","
                 "\"customer_id\":null,\"country\":\"France\"}");
    gots_free(&g);

    /* A map names the columns of a foreign file. */
    p = WRITE("mapped.csv",
              "Inv,Code,Desc,Qty,When,Price,Cust,Land\n"
              "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,"
              "17850,United Kingdom\n");
    o = opts_of(HC_KIND_ORDER_LINE,
                "invoice_no=Inv, stock_code=Code,description=Desc,quantity=Qty,"
                "invoice_date=When,unit_price=Price,customer_id=Cust,country=Land");
    g = read_file(p, &o);
    assert_int_equal(g.n, 1);
    assert_event(&g.v[0], 2, DATA1);
    gots_free(&g);
}

static void test_csv_open_errors(void **state)
{
    (void)state;
    struct ag_reader_opts o = opts_of(HC_KIND_ORDER_LINE, NULL);
    const char *why = NULL, *p;
    int err = 0;

    p = WRITE("missing.csv", "InvoiceNo,StockCode,Description,InvoiceDate,CustomerID,Country\n");
    assert_null(ag_reader_open(p, &o, 0, 1, &err, &why));
    assert_int_equal(err, HC_E_PARSE);
    assert_non_null(why);
    assert_non_null(strstr(why, "Quantity"));
    assert_non_null(strstr(why, "UnitPrice"));
    assert_null(strstr(why, "CustomerID")); /* nullable: may be absent */

    p = WRITE("dup.csv", "InvoiceNo,invoice_no,StockCode\n");
    assert_null(ag_reader_open(p, &o, 0, 1, &err, &why));
    assert_int_equal(err, HC_E_PARSE);
    assert_non_null(strstr(why, "both map to field invoice_no"));

    p = WRITE("empty.csv", "");
    assert_null(ag_reader_open(p, &o, 0, 1, &err, &why));
    assert_int_equal(err, HC_E_PARSE);

    assert_null(ag_reader_open("/nonexistent/x.csv", &o, 0, 1, &err, &why));
    assert_int_equal(err, -ENOENT);

    p = WRITE("ok.csv", UCI_HEADER UCI_ROW1);
    o.map = "quantity";
    assert_null(ag_reader_open(p, &o, 0, 1, &err, &why));
    assert_int_equal(err, HC_E_INVAL);
    o.map = "color=Colour";
    assert_null(ag_reader_open(p, &o, 0, 1, &err, &why));
    assert_int_equal(err, HC_E_INVAL);
    assert_non_null(strstr(why, "color"));
    o.map = NULL;
    o.device_id = NULL;
    assert_null(ag_reader_open(p, &o, 0, 1, &err, &why));
    assert_int_equal(err, HC_E_INVAL);
    o.device_id = "pi-0007";
    assert_null(ag_reader_open(p, &o, 10, 1, &err, &why)); /* inside the header */
    assert_int_equal(err, HC_E_INVAL);
}

static void test_numbers_round_trip(void **state)
{
    (void)state;
    static const char *const in[][2] = {
        {"2.55", "2.55"},     {"2.50", "2.5"},
        {" 007.5 ", "7.5"},   {"-11062.06", "-11062.06"},
        {"1e3", "1000"},      {"0.1", "0.1"},
        {"1.5e-7", "1.5e-7"}, {"0.000001", "0.000001"},
        {"-0", "0"},          {"+4", "4"},
        {".5", "0.5"},        {"12345678901234567890", "12345678901234567000"},
        {"1e21", "1e+21"},    {"0.30000000000000004", "0.30000000000000004"},
        {"165.00", "165"},    {"1234567.891", "1234567.891"},
    };
    char csv[4096], jsonl[4096], want[256];
    size_t n = sizeof in / sizeof in[0], used = 0, jused = 0;
    struct ag_reader_opts o = opts_of(HC_KIND_ORDER_LINE, NULL);
    struct gots g, j;

    used += (size_t)snprintf(csv + used, sizeof csv - used, "%s", UCI_HEADER);
    for (size_t i = 0; i < n; i++) {
        used += (size_t)snprintf(csv + used, sizeof csv - used, "1,A,B,1,12/1/2010 8:26,%s,1,UK\n",
                                 in[i][0]);
        /* The same value as a JSON number gives the same text. */
        if (in[i][0][0] != ' ' && in[i][0][0] != '+' && in[i][0][0] != '.')
            jused += (size_t)snprintf(jsonl + jused, sizeof jsonl - jused,
                                      "{\"InvoiceNo\":\"1\",\"StockCode\":\"A\",\"Description\":"
                                      "\"B\",\"Quantity\":1,\"InvoiceDate\":\"12/1/2010 8:26\","
                                      "\"UnitPrice\":%s,\"CustomerID\":1,\"Country\":\"UK\"}\n",
                                      in[i][0]);
    }
    g = read_file(write_tmp("num.csv", csv, used), &o);
    j = read_file(write_tmp("num.jsonl", jsonl, jused), &o);
    assert_int_equal(g.n, n);
    assert_int_equal(j.n, n - 3); /* " 007.5 ", "+4" and ".5" are not JSON numbers */
    for (size_t i = 0, k = 0; i < n; i++) {
        snprintf(want, sizeof want,
                 "{\"invoice_no\":\"1\",\"stock_code\":\"A\",\"description\":\"B\",\"quantity\":1,"
                 "\"unit_price\":%s,\"invoice_date\":\"2010-12-01T08:26:00.000Z\",\"customer_id\":"
                 "\"1\",\"country\":\"UK\"}",
                 in[i][1]);
        assert_event(&g.v[i], i + 2, want);
        if (in[i][0][0] != ' ' && in[i][0][0] != '+' && in[i][0][0] != '.') {
            assert_event(&j.v[k], k + 1, want);
            k++;
        }
    }
    gots_free(&g);
    gots_free(&j);

    const char *bad = UCI_HEADER "1,A,B,1,12/1/2010 8:26,0x10,1,UK\n"
                                 "1,A,B,1,12/1/2010 8:26,inf,1,UK\n"
                                 "1,A,B,1,12/1/2010 8:26,1e999,1,UK\n"
                                 "1,A,B,1.5,12/1/2010 8:26,1,1,UK\n"
                                 "1,A,B,7.000,12/1/2010 8:26,1,1,UK\n";
    g = read_file(write_tmp("badnum.csv", bad, strlen(bad)), &o);
    assert_int_equal(g.n, 5);
    assert_reject(&g.v[0], 2, "column UnitPrice: not a number: '0x10'");
    assert_reject(&g.v[1], 3, "column UnitPrice: not a number: 'inf'");
    assert_reject(&g.v[2], 4, "column UnitPrice: number out of range");
    assert_reject(&g.v[3], 5, "column Quantity: not an integer: '1.5'");
    assert_false(g.v[4].rejected); /* "7.000" is an integer exported through a float column */
    assert_non_null(strstr(g.v[4].data, "\"quantity\":7,"));
    gots_free(&g);
}

/* Significant digits of the shortest %.Ng that reads back as v (the reference). */
static int shortest_digits(double v)
{
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, v);
        if (strtod(buf, NULL) == v)
            return prec;
    }
    return 17;
}

static int digits_of(const char *s)
{
    int n = 0, lead = 1, zeros = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9')
            continue;
        if (lead && *s == '0')
            continue;
        lead = 0;
        zeros = *s == '0' ? zeros + 1 : 0;
        n++;
    }
    return n - zeros;
}

static void test_fmt_double_shortest(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252ull;
    char out[AG_NUM_STRLEN];

    for (int i = 0; i < 40000; i++) {
        double v;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        switch (i % 4) {
        case 0: /* prices: cents */
            v = (double)(x % 10000000) / 100;
            break;
        case 1: /* any finite double */
            memcpy(&v, &x, sizeof v);
            if (!isfinite(v))
                continue;
            break;
        case 2: /* decimals of 1 to 17 digits at many scales */
            v = (double)(x % 100000000000000000ull) / pow(10, (double)(x >> 58));
            break;
        default: /* integers, and subnormals of a few digits */
            v = (double)(int64_t)(x >> 8) * ((x & 1) ? -1 : 1);
            if (x & 2)
                v = (double)(x % 1000) * 4.9406564584124654e-324;
        }
        size_t n = ag_fmt_double(v, out);
        assert_int_equal(n, strlen(out));
        assert_true(n < AG_NUM_STRLEN);
        if (strtod(out, NULL) != v || (v != 0 && digits_of(out) != shortest_digits(v)))
            print_error("%.17g printed as %s\n", v, out);
        assert_true(strtod(out, NULL) == v);
        if (v != 0)
            assert_int_equal(digits_of(out), shortest_digits(v));
    }
    assert_int_equal(ag_fmt_double(2.55, out), 4);
    assert_string_equal(out, "2.55");
    ag_fmt_double(-0.0, out);
    assert_string_equal(out, "0");
    ag_fmt_double(1e-7, out);
    assert_string_equal(out, "1e-7");
    ag_fmt_double(123e20, out);
    assert_string_equal(out, "1.23e+22");
    ag_fmt_double(5e-324, out);
    assert_string_equal(out, "5e-324");
}

static void test_order_status_and_car_listing(void **state)
{
    (void)state;
    const char *p =
        WRITE("status.csv", "tracking_num,order_id,status,status_time,estimated_delivery,carrier\n"
                            "TRK1,ord-1,Shipped,2018-01-02 10:00:00,2018-01-09,DHL\n"
                            "TRK1,ord-1,delivered,2018-01-08T15:30:00Z,,\n"
                            "TRK2,ord-2,lost,2018-01-08T15:30:00Z,,UPS\n");
    struct ag_reader_opts o = opts_of(HC_KIND_ORDER_STATUS, NULL);
    struct gots g = read_file(p, &o);

    assert_int_equal(g.n, 3);
    assert_event(&g.v[0], 2,
                 "{\"tracking_num\":\"TRK1\",\"order_id\":\"ord-1\",\"status\":\"shipped\","
                 "\"status_time\":\"2018-01-02T10:00:00.000Z\",\"estimated_delivery\":\"2018-01-09T"
                 "00:00:00.000Z\",\"carrier\":\"DHL\"}");
    assert_int_equal(g.v[0].kind, HC_KIND_ORDER_STATUS);
    assert_int_equal(g.v[0].time_ms, 1514887200000LL);
    assert_event(&g.v[1], 3,
                 "{\"tracking_num\":\"TRK1\",\"order_id\":\"ord-1\",\"status\":\"delivered\","
                 "\"status_time\":\"2018-01-08T15:30:00.000Z\",\"estimated_delivery\":null,"
                 "\"carrier\":\"\"}");
    assert_reject(&g.v[2], 4, "column status: not one of created, approved");
    assert_non_null(strstr(g.v[2].reason, "'lost'"));
    gots_free(&g);

    p = WRITE("cars.csv",
              "listing_id,vin,make,model,year,mileage_km,price,currency,dealer_id,"
              "action,date_listed,date_removed\n"
              "L1,WVWZZZ1JZXW000001,Volkswagen,Golf,2015,88000,12500.00,EUR,D7.0,listed,"
              "2024-03-01T09:00:00Z,\n"
              "L1,WVWZZZ1JZXW000001,Volkswagen,Golf,2015,88000,11990,EUR,D7,sold,"
              "2024-03-01T09:00:00Z,2024-04-15T12:00:00Z\n"
              "L2,,Fiat,Panda,2019.0,12000,7000,EUR,12.0,price_changed,2024-03-05,\n"
              "L3,,Fiat,Panda,2019,12000,7000,EUR,12,bought,2024-03-05,\n");
    o = opts_of(HC_KIND_CAR_LISTING, NULL);
    g = read_file(p, &o);
    assert_int_equal(g.n, 4);
    assert_event(
        &g.v[0], 2,
        "{\"listing_id\":\"L1\",\"vin\":\"WVWZZZ1JZXW000001\",\"make\":\"Volkswagen\","
        "\"model\":\"Golf\",\"year\":2015,\"mileage_km\":88000,\"price\":12500,"
        "\"currency\":\"EUR\",\"dealer_id\":\"D7.0\",\"action\":\"listed\",\"date_listed\":"
        "\"2024-03-01T09:00:00.000Z\",\"date_removed\":null}");
    assert_int_equal(g.v[0].time_ms, 1709283600000LL); /* date_listed */
    assert_false(g.v[1].rejected);
    assert_int_equal(g.v[1].time_ms, 1713182400000LL); /* sold: date_removed */
    assert_event(&g.v[2], 4,
                 "{\"listing_id\":\"L2\",\"vin\":\"\",\"make\":\"Fiat\",\"model\":\"Panda\","
                 "\"year\":2019,\"mileage_km\":12000,\"price\":7000,\"currency\":\"EUR\","
                 "\"dealer_id\":\"12\",\"action\":\"price_changed\",\"date_listed\":"
                 "\"2024-03-05T00:00:00.000Z\",\"date_removed\":null}");
    assert_reject(&g.v[3], 5, "column action: not one of listed, price_changed, sold, removed");
    gots_free(&g);
}

static void test_event_too_big(void **state)
{
    (void)state;
    size_t big = 300 * 1024, used = 0;
    char *s = malloc(big + 1024);
    struct ag_reader_opts o = opts_of(HC_KIND_ORDER_LINE, NULL);
    struct gots g;

    assert_non_null(s);
    used += (size_t)sprintf(s, "%s1,A,", UCI_HEADER);
    memset(s + used, 'x', big);
    used += big;
    used += (size_t)sprintf(s + used, ",1,12/1/2010 8:26,1,1,UK\n%s", UCI_ROW1);
    g = read_file(write_tmp("big.csv", s, used), &o);
    assert_int_equal(g.n, 2);
    assert_reject(&g.v[0], 2, "larger than 256 KiB");
    assert_event(&g.v[1], 3, DATA1);
    gots_free(&g);

    /* The same row with max_row below its size: rejected by length, the rest still read. */
    o.max_row = 1000;
    g = read_file(write_tmp("big.csv", s, used), &o);
    assert_int_equal(g.n, 2);
    assert_reject(&g.v[0], 2, "row longer than 1000 bytes");
    assert_event(&g.v[1], 3, DATA1);
    gots_free(&g);
    free(s);
}

/* ---- JSON Lines ----------------------------------------------------------------------------- */

/* A NUL byte in a CSV value is a rejected row naming the column, not an event with \u0000 in it
 * (found by fuzz_reader: the envelope read back without it, silver would refuse it). */
static void test_csv_nul_rejected(void **state)
{
    (void)state;
    static const char text[] =
        UCI_HEADER "5364\0\0"
                   "1,22139,,56,12/1/2010 11:52,0,,United Kingdom\n" UCI_ROW1;
    const char *p = write_tmp("nul.csv", text, sizeof text - 1);
    struct ag_reader_opts o = opts_of(HC_KIND_ORDER_LINE, NULL);
    struct gots g = read_file(p, &o);

    assert_int_equal(g.n, 2);
    assert_reject(&g.v[0], 2, "column InvoiceNo: contains a NUL byte");
    assert_event(&g.v[1], 3, DATA1);
    gots_free(&g);
}

static void test_jsonl_envelope_and_bare(void **state)
{
    (void)state;
    const char *p = WRITE(
        "mixed.jsonl",
        "{\"event_id\":\"0190f3c2-1234-7abc-8def-0123456789ab\",\"device_id\":\"pi-0042\","
        "\"kind\":\"order_status\",\"schema\":1,\"event_time\":\"2026-11-22T03:00:00.123Z\","
        "\"data\":{\"tracking_num\":\"T1\",\"status\":\"shipped\"}}\n"
        "\n"
        "  \t\n"
        "{\"kind\":\"car_listing\",\"event_time\":\"2026-11-22T03:00:00Z\",\"data\":{\"a\":1}}\r\n"
        "{\"InvoiceNo\":\"536365\",\"StockCode\":\"85123A\",\"Description\":\"WHITE HANGING HEART "
        "T-LIGHT HOLDER\",\"Quantity\":6,\"InvoiceDate\":\"12/1/2010 8:26\",\"UnitPrice\":2.55,"
        "\"CustomerID\":17850.0,\"Country\":\"United Kingdom\"}\n"
        "{\"invoice_no\":\"C536379\",\"stock_code\":\"D\",\"description\":\"Discount\","
        "\"quantity\":\"-1\",\"unit_price\":\"27.5\",\"invoice_date\":\"2010-12-01T09:41:00Z\","
        "\"customer_id\":\"14527\",\"country\":\"United Kingdom\",\"extra\":[1,2]}\n"
        "{\"invoice_no\":\"536414\",\"stock_code\":\"22139\",\"description\":null,\"quantity\":56,"
        "\"unit_price\":0,\"invoice_date\":\"2010-12-01T11:52:00Z\",\"country\":\"United "
        "Kingdom\"}\n");
    struct ag_reader_opts o = opts_of(HC_KIND_UNKNOWN, NULL);
    struct gots g = read_file(p, &o);
    char id[HC_UUID_STRLEN];

    assert_int_equal(g.n, 5);
    /* A full envelope: its id, device, kind and time are kept, data verbatim. */
    assert_event(&g.v[0], 1, "{\"tracking_num\":\"T1\",\"status\":\"shipped\"}");
    hc_uuid_format(g.v[0].id, id);
    assert_string_equal(id, "0190f3c2-1234-7abc-8def-0123456789ab");
    assert_string_equal(g.v[0].device, "pi-0042");
    assert_int_equal(g.v[0].kind, HC_KIND_ORDER_STATUS);
    assert_int_equal(g.v[0].time_ms, 1795316400123LL);
    /* Blank lines skipped; an envelope without event_id and device_id gets the default device. */
    assert_false(g.v[1].rejected);
    assert_int_equal(g.v[1].line, 4);
    assert_true(hc_uuid_is_nil(g.v[1].id));
    assert_string_equal(g.v[1].device, "pi-0007");
    assert_int_equal(g.v[1].kind, HC_KIND_CAR_LISTING);
    /* Bare objects: typed exactly as the CSV rows are. */
    assert_event(&g.v[2], 5, DATA1);
    assert_int_equal(g.v[2].kind, HC_KIND_ORDER_LINE);
    assert_int_equal(g.v[2].time_ms, 1291191960000LL);
    assert_true(hc_uuid_is_nil(g.v[2].id));
    assert_string_equal(g.v[2].device, "pi-0007");
    assert_event(&g.v[3], 6, DATA2);
    assert_event(&g.v[4], 7, DATA3);
    gots_free(&g);
}

static void test_jsonl_rejects(void **state)
{
    (void)state;
    const char *p = WRITE(
        "bad.ndjson",
        "{\"InvoiceNo\":\"1\",\"StockCode\":\"A\",\"Description\":\"B\",\"Quantity\":true,"
        "\"InvoiceDate\":\"12/1/2010 8:26\",\"UnitPrice\":1,\"Country\":\"UK\"}\n"
        "{\"InvoiceNo\":\"1\",\"StockCode\":\"A\",\n"
        "[1,2,3]\n"
        "{\"InvoiceNo\":\"1\",\"StockCode\":\"A\",\"Description\":\"caf\xe9\",\"Quantity\":1,"
        "\"InvoiceDate\":\"12/1/2010 8:26\",\"UnitPrice\":1,\"Country\":\"UK\"}\n"
        "{\"InvoiceNo\":\"1\",\"StockCode\":\"A\",\"Description\":\"B\",\"Quantity\":1,"
        "\"UnitPrice\":1,\"Country\":\"UK\"}\n"
        "{\"InvoiceNo\":\"1\",\"StockCode\":\"A\",\"Description\":\"B\",\"Quantity\":6.5,"
        "\"InvoiceDate\":\"12/1/2010 8:26\",\"UnitPrice\":1,\"Country\":\"UK\"} x\n"
        "{\"kind\":\"order_line\",\"event_time\":\"yesterday\",\"data\":{}}\n"
        "{\"InvoiceNo\":\"1\",\"StockCode\":\"A\",\"Description\":\"B\",\"Quantity\":6.5,"
        "\"InvoiceDate\":\"12/1/2010 8:26\",\"UnitPrice\":1,\"Country\":\"UK\"}\n"
        "{\"InvoiceNo\":\"1\",\"StockCode\":\"A\",\"Description\":\"B\",\"Quantity\":1,"
        "\"InvoiceDate\":\"12/1/2010 8:26\",\"UnitPrice\":{\"v\":1},\"Country\":\"UK\"}\n"
        "{\"InvoiceNo\":\"536365\",\"StockCode\":\"85123A\",\"Description\":\"WHITE HANGING HEART "
        "T-LIGHT HOLDER\",\"Quantity\":6,\"InvoiceDate\":\"12/1/2010 8:26\",\"UnitPrice\":2.55,"
        "\"CustomerID\":\"17850\",\"Country\":\"United Kingdom\"}");
    struct ag_reader_opts o = opts_of(HC_KIND_ORDER_LINE, NULL);
    struct gots g = read_file(p, &o);

    assert_int_equal(g.n, 10);
    assert_reject(&g.v[0], 1, "field Quantity: boolean where a string or number belongs");
    assert_reject(&g.v[1], 2, "invalid JSON");
    assert_reject(&g.v[2], 3, "not a JSON object");
    assert_reject(&g.v[3], 4, "invalid UTF-8");
    assert_reject(&g.v[4], 5, "field invoice_date: missing");
    assert_reject(&g.v[5], 6, "text after the JSON value");
    assert_reject(&g.v[6], 7, "envelope: event_time missing or not a timestamp");
    assert_reject(&g.v[7], 8, "field Quantity: not an integer: '6.5'");
    assert_reject(&g.v[8], 9, "field UnitPrice: object where a string or number belongs");
    assert_event(&g.v[9], 10, DATA1); /* no final newline */
    assert_int_equal(g.v[9].next_line, 10);
    gots_free(&g);

    /* Lines over max_row are rejected and the next line still read. */
    o.max_row = 64;
    p = WRITE("long.jsonl", "{\"InvoiceNo\":\"1\",\"StockCode\":\"A\",\"Description\":\"a long "
                            "description that does not fit\"}\n"
                            "{\"kind\":\"order_line\",\"data\":{}}\n");
    g = read_file(p, &o);
    assert_int_equal(g.n, 2);
    assert_reject(&g.v[0], 1, "row longer than 64 bytes");
    assert_reject(&g.v[1], 2, "envelope");
    gots_free(&g);
}

static void test_format_detection(void **state)
{
    (void)state;
    struct ag_reader_opts o = opts_of(HC_KIND_ORDER_LINE, NULL);
    struct ag_reader *r;
    static const char json[] = "\xef\xbb\xbf\n  {\"a\":1}\n";
    static const char csv[] = UCI_HEADER UCI_ROW1;
    static const struct {
        const char *name, *content;
        enum ag_format want;
    } cases[] = {
        {"a.csv", csv, AG_FMT_CSV},      {"a.CSV", csv, AG_FMT_CSV},
        {"a.jsonl", json, AG_FMT_JSONL}, {"a.ndjson", json, AG_FMT_JSONL},
        {"a.json", json, AG_FMT_JSONL},  {"a.txt", json, AG_FMT_JSONL},
        {"noext", csv, AG_FMT_CSV},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = write_tmp(cases[i].name, cases[i].content, strlen(cases[i].content));
        r = open_ok(p, &o, 0, 1);
        assert_int_equal(ag_reader_format(r), cases[i].want);
        ag_reader_close(r);
    }
    /* An explicit format wins over the extension. */
    o.format = AG_FMT_JSONL;
    r = open_ok(write_tmp("b.csv", json, sizeof json - 1), &o, 0, 1);
    assert_int_equal(ag_reader_format(r), AG_FMT_JSONL);
    ag_reader_close(r);
    ag_reader_close(NULL);
}

/* ---- checkpoint / resume -------------------------------------------------------------------- */

static void assert_same(const struct got *a, const struct got *b)
{
    assert_int_equal(a->rejected, b->rejected);
    assert_int_equal(a->line, b->line);
    assert_int_equal(a->next_offset, b->next_offset);
    assert_int_equal(a->next_line, b->next_line);
    if (a->rejected) {
        assert_string_equal(a->reason, b->reason);
    } else {
        assert_string_equal(a->data, b->data);
        assert_int_equal(a->time_ms, b->time_ms);
    }
}

/* For every item i, reopening at its next_offset/next_line yields exactly the items after it. */
static void check_resume(const char *path, const struct ag_reader_opts *o, size_t min_items)
{
    struct gots all = read_file(path, o);

    assert_true(all.n >= min_items);
    for (size_t i = 0; i < all.n; i++) {
        struct ag_reader *r = open_ok(path, o, all.v[i].next_offset, all.v[i].next_line);
        struct gots rest = read_all(r);
        ag_reader_close(r);
        assert_int_equal(rest.n, all.n - i - 1);
        for (size_t k = 0; k < rest.n; k++)
            assert_same(&rest.v[k], &all.v[i + 1 + k]);
        gots_free(&rest);
    }
    gots_free(&all);
}

static void test_resume_every_item(void **state)
{
    (void)state;
    struct ag_reader_opts o = opts_of(HC_KIND_ORDER_LINE, NULL);
    const char *p =
        WRITE("resume.csv", "\xef\xbb\xbf" UCI_HEADER UCI_ROW1 "\r\n"
                            "536366,22633,\"HAND\r\nWARMER\nUNION JACK\",6,12/1/2010 8:28,1.85,"
                            "17850,United Kingdom\r\n"
                            "bad,row\n\n\n" UCI_ROW2 "536367,84879,ASSORTED,32,12/1/2010 8:34,1.69,"
                            "13047,United Kingdom\n" UCI_ROW3 "x,y,z,1,bad date,1,1,UK\n" UCI_ROW4);

    check_resume(p, &o, 8);
    p = WRITE("resume.jsonl",
              "{\"InvoiceNo\":\"536365\",\"StockCode\":\"85123A\",\"Description\":\"x\","
              "\"Quantity\":6,\"InvoiceDate\":\"12/1/2010 8:26\",\"UnitPrice\":2.55,"
              "\"CustomerID\":\"17850\",\"Country\":\"UK\"}\r\n\n"
              "not json\n"
              "{\"kind\":\"order_line\",\"event_time\":\"2026-01-01T00:00:00Z\",\"data\":{}}\n"
              "   \n"
              "{\"InvoiceNo\":\"536366\",\"StockCode\":\"1\",\"Description\":\"y\","
              "\"Quantity\":-6,\"InvoiceDate\":\"2010-12-01T08:26:00Z\",\"UnitPrice\":1,"
              "\"Country\":\"UK\"}");
    check_resume(p, &o, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uci_sample),
        cmocka_unit_test(test_csv_rejects_with_line_numbers),
        cmocka_unit_test(test_reason_is_one_printable_line),
        cmocka_unit_test(test_csv_header_mapping),
        cmocka_unit_test(test_csv_open_errors),
        cmocka_unit_test(test_numbers_round_trip),
        cmocka_unit_test(test_fmt_double_shortest),
        cmocka_unit_test(test_order_status_and_car_listing),
        cmocka_unit_test(test_event_too_big),
        cmocka_unit_test(test_csv_nul_rejected),
        cmocka_unit_test(test_jsonl_envelope_and_bare),
        cmocka_unit_test(test_jsonl_rejects),
        cmocka_unit_test(test_format_detection),
        cmocka_unit_test(test_resume_every_item),
    };
    return cmocka_run_group_tests(tests, NULL, tu_remove_tmp_files);
}
