/*
 * The generator: deterministic output, valid and realistic events of the three kinds, the kind
 * mix, parcel and listing lifecycles, and what each fault knob does to the stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <math.h>

#include "agent/source/generator.h"
#include "common/envelope.h"
#include "common/error.h"
#include "common/hctime.h"
#include "common/uuid.h"

#define T0     1291191960000LL /* 2010-12-01T08:26:00Z, the first invoice of the data set */
#define DAY_MS 86400000LL

static struct ag_gen_opts base_opts(void)
{
    struct ag_gen_opts o;
    memset(&o, 0, sizeof o);
    o.seed = 20101201;
    o.device_id = "pi-test";
    o.start_ms = T0;
    return o;
}

static struct ag_gen *gen_with(const struct ag_gen_opts *o)
{
    struct ag_gen *g = ag_gen_new(o);
    assert_non_null(g);
    return g;
}

static cJSON *data_of(const struct hc_event *ev)
{
    cJSON *d = cJSON_ParseWithLength(ev->data, ev->data_len);
    assert_non_null(d);
    assert_true(cJSON_IsObject(d));
    return d;
}

/* --- a small string-keyed hash map for per-invoice / parcel / listing state --- */

struct ent {
    char key[48];
    int used;
    int rank, done, count, n_changes, n_cuts;
    int64_t t, t2;
    char s1[48], s2[48], s3[48];
    double x;
};

struct map {
    size_t cap, n;
    struct ent *e;
};

static void map_init(struct map *m, size_t cap)
{
    m->cap = cap;
    m->n = 0;
    m->e = calloc(cap, sizeof *m->e);
    assert_non_null(m->e);
}

static void map_free(struct map *m)
{
    free(m->e);
    m->e = NULL;
}

/* The entry for key; *fresh is 1 when it was just created (zeroed). */
static struct ent *map_get(struct map *m, const char *key, int *fresh)
{
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    assert_true(strlen(key) < sizeof m->e->key);
    for (i = h & (m->cap - 1); m->e[i].used; i = (i + 1) & (m->cap - 1))
        if (!strcmp(m->e[i].key, key)) {
            *fresh = 0;
            return &m->e[i];
        }
    assert_true(m->n < m->cap * 7 / 10);
    m->n++;
    m->e[i].used = 1;
    strcpy(m->e[i].key, key);
    *fresh = 1;
    return &m->e[i];
}

/* --- what silver would check: the kind's fields, with the right JSON types --- */

enum verdict {
    OK = 0,
    BAD_MISSING,
    BAD_TYPE,
    BAD_NEGATIVE,
    BAD_TIME,
    BAD_ENUM,
    BAD_VIN,
    N_VERDICT
};

static enum verdict want_str(const cJSON *d, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(d, key);
    if (!it)
        return BAD_MISSING;
    return cJSON_IsString(it) && it->valuestring[0] ? OK : BAD_TYPE;
}

static enum verdict want_int(const cJSON *d, const char *key, double lo, double hi)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(d, key);
    if (!it)
        return BAD_MISSING;
    if (!cJSON_IsNumber(it) || floor(it->valuedouble) != it->valuedouble || it->valuedouble < lo ||
        it->valuedouble > hi)
        return BAD_TYPE;
    return OK;
}

static enum verdict want_price(const cJSON *d, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(d, key);
    if (!it)
        return BAD_MISSING;
    if (!cJSON_IsNumber(it))
        return BAD_TYPE;
    return it->valuedouble < 0 ? BAD_NEGATIVE : OK;
}

static enum verdict want_time(const cJSON *d, const char *key, int nullable, int64_t *ms)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(d, key);
    *ms = 0;
    if (!it)
        return BAD_MISSING;
    if (nullable && cJSON_IsNull(it))
        return OK;
    if (!cJSON_IsString(it))
        return BAD_TYPE;
    return hc_time_parse(it->valuestring, -1, ms) ? BAD_TIME : OK;
}

static enum verdict want_enum(const cJSON *d, const char *key, const char *const *set)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(d, key);
    if (!it)
        return BAD_MISSING;
    if (!cJSON_IsString(it))
        return BAD_TYPE;
    for (; *set; set++)
        if (!strcmp(*set, it->valuestring))
            return OK;
    return BAD_ENUM;
}

static const char *const statuses[] = {"created",     "approved",  "invoiced", "processing",
                                       "shipped",     "delivered", "returned", "canceled",
                                       "unavailable", NULL};
static const char *const actions[] = {"listed", "price_changed", "sold", "removed", NULL};

static int vin_ok(const char *v)
{
    /* ISO 3779 transliteration of A-Z without I, O, Q, and the check digit in position 9. */
    static const char letters[] = "ABCDEFGHJKLMNPRSTUVWXYZ";
    static const int val[] = {1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9};
    static const int weight[17] = {8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2};
    int sum = 0;
    if (strlen(v) != 17)
        return 0;
    for (int i = 0; i < 17; i++) {
        const char *l = strchr(letters, v[i]);
        if (v[i] >= '0' && v[i] <= '9')
            sum += (v[i] - '0') * weight[i];
        else if (l)
            sum += val[l - letters] * weight[i];
        else
            return 0;
    }
    return v[8] == (sum % 11 == 10 ? 'X' : '0' + sum % 11);
}

enum ftype { F_STR, F_QTY, F_INT, F_PRICE, F_TIME, F_TIME_OR_NULL, F_CUSTOMER, F_STATUS, F_ACTION };

struct field {
    const char *key;
    enum ftype type;
};

static const struct field line_fields[] = {
    {"invoice_no", F_STR},       {"stock_code", F_STR},   {"description", F_STR},
    {"quantity", F_QTY},         {"unit_price", F_PRICE}, {"invoice_date", F_TIME},
    {"customer_id", F_CUSTOMER}, {"country", F_STR},      {NULL, F_STR},
};
static const struct field status_fields[] = {
    {"tracking_num", F_STR},
    {"order_id", F_STR},
    {"status", F_STATUS},
    {"status_time", F_TIME},
    {"estimated_delivery", F_TIME},
    {"carrier", F_STR},
    {NULL, F_STR},
};
static const struct field car_fields[] = {
    {"listing_id", F_STR}, {"vin", F_STR},          {"make", F_STR},
    {"model", F_STR},      {"year", F_INT},         {"mileage_km", F_INT},
    {"price", F_PRICE},    {"currency", F_STR},     {"dealer_id", F_STR},
    {"action", F_ACTION},  {"date_listed", F_TIME}, {"date_removed", F_TIME_OR_NULL},
    {NULL, F_STR},
};

static enum verdict check_field(const cJSON *d, const struct field *f)
{
    int64_t ms;
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(d, f->key);
    if (!it)
        return BAD_MISSING;
    switch (f->type) {
    case F_STR:
        return want_str(d, f->key);
    case F_QTY:
        return want_int(d, f->key, -1e6, 1e6) || it->valuedouble == 0 ? BAD_TYPE : OK;
    case F_INT:
        return want_int(d, f->key, 0, 2e6);
    case F_PRICE:
        return want_price(d, f->key);
    case F_TIME:
        return want_time(d, f->key, 0, &ms);
    case F_TIME_OR_NULL:
        return want_time(d, f->key, 1, &ms);
    case F_CUSTOMER:
        if (cJSON_IsNull(it))
            return OK;
        return cJSON_IsString(it) && strlen(it->valuestring) == 5 &&
                       atoi(it->valuestring) >= 12346 && atoi(it->valuestring) <= 18287
                   ? OK
                   : BAD_TYPE;
    case F_STATUS:
        return want_enum(d, f->key, statuses);
    default:
        return want_enum(d, f->key, actions);
    }
}

static enum verdict check_fields(const cJSON *d, const struct field *f)
{
    for (; f->key; f++) {
        enum verdict v = check_field(d, f);
        if (v != OK)
            return v;
    }
    return OK;
}

static enum verdict check_car_listing(const cJSON *d)
{
    enum verdict v = check_fields(d, car_fields);
    const char *action;
    int removed_null;
    if (v != OK)
        return v;
    if (!vin_ok(cJSON_GetObjectItemCaseSensitive(d, "vin")->valuestring))
        return BAD_VIN;
    if (cJSON_GetObjectItemCaseSensitive(d, "year")->valuedouble < 1980)
        return BAD_TYPE;
    if (strcmp(cJSON_GetObjectItemCaseSensitive(d, "currency")->valuestring, "EUR"))
        return BAD_TYPE;
    /* date_removed is null exactly until the car is sold or removed. */
    action = cJSON_GetObjectItemCaseSensitive(d, "action")->valuestring;
    removed_null = cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(d, "date_removed"));
    if (removed_null != (!strcmp(action, "listed") || !strcmp(action, "price_changed")))
        return BAD_TYPE;
    return OK;
}

static enum verdict check_data(enum hc_kind kind, const cJSON *d)
{
    switch (kind) {
    case HC_KIND_ORDER_LINE:
        return check_fields(d, line_fields);
    case HC_KIND_ORDER_STATUS:
        return check_fields(d, status_fields);
    case HC_KIND_CAR_LISTING:
        return check_car_listing(d);
    default:
        return BAD_TYPE;
    }
}

static const char *sget(const cJSON *d, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(d, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static double nget(const cJSON *d, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(d, key)->valuedouble;
}

static int64_t tget(const cJSON *d, const char *key)
{
    int64_t ms = 0;
    const char *s = sget(d, key);
    if (s)
        assert_int_equal(hc_time_parse(s, -1, &ms), 0);
    return ms;
}

/* The raw text of a number field as the generator printed it. */
static void raw_number(const struct hc_event *ev, const char *key, char *out, size_t cap)
{
    char pat[64];
    const char *p, *end = ev->data + ev->data_len;
    size_t n = 0;
    snprintf(pat, sizeof pat, "\"%s\":", key);
    p = strstr(ev->data, pat);
    assert_non_null(p);
    p += strlen(pat);
    while (p < end && *p != ',' && *p != '}' && n + 1 < cap)
        out[n++] = *p++;
    out[n] = '\0';
}

/* --- tests --- */

static void test_deterministic(void **state)
{
    enum { N = 10000 };
    struct ag_gen_opts o = base_opts();
    struct ag_gen *a, *b, *c;
    struct hc_buf ea = HC_BUF_INIT, eb = HC_BUF_INIT;
    struct hc_event ev;
    int differ = 0;
    (void)state;

    o.late = 0.05;
    o.out_of_order = 0.05;
    o.duplicate = 0.02;
    o.malformed = 0.02;
    a = gen_with(&o);
    b = gen_with(&o);
    o.seed++;
    c = gen_with(&o);
    for (int i = 0; i < N; i++) {
        hc_buf_reset(&ea);
        hc_buf_reset(&eb);
        assert_int_equal(ag_gen_next(a, &ev), 0);
        assert_int_equal(hc_event_encode(&ev, &ea), 0);
        assert_int_equal(ag_gen_next(b, &ev), 0);
        assert_int_equal(hc_event_encode(&ev, &eb), 0);
        assert_int_equal(ea.len, eb.len);
        assert_memory_equal(ea.p, eb.p, ea.len); /* ids included */
        hc_buf_reset(&eb);
        assert_int_equal(ag_gen_next(c, &ev), 0);
        assert_int_equal(hc_event_encode(&ev, &eb), 0);
        differ += ea.len != eb.len || memcmp(ea.p, eb.p, ea.len);
    }
    assert_true(differ > N * 99 / 100);
    ag_gen_free(a);
    ag_gen_free(b);
    ag_gen_free(c);
    hc_buf_free(&ea);
    hc_buf_free(&eb);
}

static void test_events_valid(void **state)
{
    enum { N = 30000 };
    struct ag_gen_opts o = base_opts();
    struct ag_gen *g = gen_with(&o);
    struct hc_buf enc = HC_BUF_INIT;
    struct hc_event ev;
    size_t total = 0, longest = 0;
    (void)state;

    for (int i = 0; i < N; i++) {
        struct hc_event_doc doc;
        const char *why = NULL;
        cJSON *d, *back;
        char num[32], again[32];

        assert_int_equal(ag_gen_next(g, &ev), 0);
        assert_int_equal(ev.schema, 1);
        assert_int_equal(ev.device_id_len, 7);
        assert_memory_equal(ev.device_id, "pi-test", 7);
        hc_buf_reset(&enc);
        assert_int_equal(hc_event_encode(&ev, &enc), 0);
        total += enc.len;
        if (enc.len > longest)
            longest = enc.len;
        assert_int_equal(hc_event_decode(enc.p, enc.len, &doc, &why), 0);
        assert_int_equal(doc.ev.kind, ev.kind);
        assert_int_equal(doc.ev.event_time_ms, ev.event_time_ms);
        assert_memory_equal(doc.ev.id, ev.id, 16);
        d = data_of(&ev);
        back = cJSON_ParseWithLength(doc.ev.data, doc.ev.data_len);
        assert_true(cJSON_Compare(d, back, 1));
        assert_int_equal(check_data(ev.kind, d), OK);

        /* event_time is the time the data itself carries; prices print with 2 decimals and
         * read back to the same cents. */
        switch (ev.kind) {
        case HC_KIND_ORDER_LINE:
            assert_int_equal(tget(d, "invoice_date"), ev.event_time_ms);
            raw_number(&ev, "unit_price", num, sizeof num);
            snprintf(again, sizeof again, "%.2f", strtod(num, NULL));
            assert_string_equal(num, again);
            break;
        case HC_KIND_ORDER_STATUS:
            assert_int_equal(tget(d, "status_time"), ev.event_time_ms);
            assert_true(tget(d, "estimated_delivery") > ev.event_time_ms);
            assert_int_equal(strlen(sget(d, "tracking_num")), 13);
            assert_memory_equal(sget(d, "tracking_num"), "BR", 2);
            break;
        default:
            assert_true(tget(d, "date_listed") < ev.event_time_ms);
            if (tget(d, "date_removed"))
                assert_int_equal(tget(d, "date_removed"), ev.event_time_ms);
            assert_string_equal(sget(d, "currency"), "EUR");
            raw_number(&ev, "price", num, sizeof num);
            snprintf(again, sizeof again, "%.2f", strtod(num, NULL));
            assert_string_equal(num, again);
            break;
        }
        cJSON_Delete(back);
        cJSON_Delete(d);
        hc_event_doc_free(&doc);
    }
    /* Typical envelopes are a few hundred bytes. */
    assert_true(total / N >= 250 && total / N <= 420);
    assert_true(longest < 700);
    ag_gen_free(g);
    hc_buf_free(&enc);
}

static void count_kinds(struct ag_gen *g, int n, int counts[HC_KIND_COUNT])
{
    struct hc_event ev;
    memset(counts, 0, sizeof(int) * HC_KIND_COUNT);
    for (int i = 0; i < n; i++) {
        assert_int_equal(ag_gen_next(g, &ev), 0);
        assert_true(ev.kind > HC_KIND_UNKNOWN && ev.kind < HC_KIND_COUNT);
        counts[ev.kind]++;
    }
}

static void test_mix(void **state)
{
    enum { N = 100000 };
    struct ag_gen_opts o = base_opts();
    struct ag_gen *g;
    int c[HC_KIND_COUNT];
    (void)state;

    g = gen_with(&o); /* all zero: 6:3:1 */
    count_kinds(g, N, c);
    assert_true(fabs(c[HC_KIND_ORDER_LINE] / (double)N - 0.6) < 0.01);
    assert_true(fabs(c[HC_KIND_ORDER_STATUS] / (double)N - 0.3) < 0.01);
    assert_true(fabs(c[HC_KIND_CAR_LISTING] / (double)N - 0.1) < 0.01);
    ag_gen_free(g);

    assert_int_equal(ag_gen_parse_mix("order_line=1,order_status=1,car_listing=2", o.mix), 0);
    g = gen_with(&o);
    count_kinds(g, N, c);
    assert_true(fabs(c[HC_KIND_ORDER_LINE] / (double)N - 0.25) < 0.01);
    assert_true(fabs(c[HC_KIND_ORDER_STATUS] / (double)N - 0.25) < 0.01);
    assert_true(fabs(c[HC_KIND_CAR_LISTING] / (double)N - 0.5) < 0.01);
    ag_gen_free(g);

    assert_int_equal(ag_gen_parse_mix("car_listing=3", o.mix), 0);
    g = gen_with(&o);
    count_kinds(g, 10000, c);
    assert_int_equal(c[HC_KIND_CAR_LISTING], 10000);
    ag_gen_free(g);
}

static void test_parse_mix(void **state)
{
    static const char *const bad[] = {
        "",
        "order_line",
        "order_line=",
        "order_line=-1",
        "order_line=x",
        "bogus=1",
        "order_line=1,order_line=2",
        "order_line=1;car_listing=2",
        "order_line=0",
        "order_line=0,car_listing=0",
        "order_line=1,",
        "order_line=nan",
        "order_line=inf",
        "order_line=1x",
        "unknown=1",
    };
    double mix[HC_KIND_COUNT] = {0, 9, 9, 9};
    (void)state;

    assert_int_equal(ag_gen_parse_mix("order_line=6,order_status=3,car_listing=1", mix), 0);
    assert_true(mix[0] == 0 && mix[1] == 6 && mix[2] == 3 && mix[3] == 1);
    assert_int_equal(ag_gen_parse_mix(" order_status = 2.5 , order_line=0.5", mix), 0);
    assert_true(mix[0] == 0 && mix[1] == 0.5 && mix[2] == 2.5 && mix[3] == 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double m[HC_KIND_COUNT] = {0, 7, 7, 7};
        assert_int_equal(ag_gen_parse_mix(bad[i], m), HC_E_PARSE);
        assert_true(m[1] == 7 && m[2] == 7 && m[3] == 7); /* untouched */
    }
    assert_int_equal(ag_gen_parse_mix(NULL, mix), HC_E_PARSE);
}

static void test_bad_options(void **state)
{
    struct ag_gen_opts o;
    (void)state;

    assert_null(ag_gen_new(NULL));
    o = base_opts();
    o.device_id = NULL;
    assert_null(ag_gen_new(&o));
    o.device_id = "";
    assert_null(ag_gen_new(&o));
    o = base_opts();
    o.late = -0.1;
    assert_null(ag_gen_new(&o));
    o = base_opts();
    o.duplicate = 1.5;
    assert_null(ag_gen_new(&o));
    o = base_opts();
    o.malformed = NAN;
    assert_null(ag_gen_new(&o));
    o = base_opts();
    o.mix[HC_KIND_ORDER_STATUS] = -1;
    assert_null(ag_gen_new(&o));
    o = base_opts();
    o.mix[HC_KIND_UNKNOWN] = 1;
    assert_null(ag_gen_new(&o));
    o = base_opts();
    o.step_ms = -10;
    assert_null(ag_gen_new(&o));
    ag_gen_free(NULL);
}

static void test_clock(void **state)
{
    struct ag_gen_opts o = base_opts();
    struct ag_gen *g;
    struct hc_event ev;
    int64_t before, after, prev = 0;
    (void)state;

    /* Simulated: one step per event, the first at start_ms. */
    assert_int_equal(ag_gen_parse_mix("order_status=1", o.mix), 0);
    o.step_ms = 1000;
    g = gen_with(&o);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(ag_gen_next(g, &ev), 0);
        assert_int_equal(ev.event_time_ms, T0 + i * 1000LL);
        assert_int_equal(hc_uuid7_ms(ev.id), ev.event_time_ms);
    }
    ag_gen_free(g);

    /* start_ms 0: the wall clock; seed 0: random. */
    o.start_ms = 0;
    o.seed = 0;
    g = gen_with(&o);
    before = hc_now_ms();
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(ag_gen_next(g, &ev), 0);
        assert_true(ev.event_time_ms >= prev);
        prev = ev.event_time_ms;
    }
    after = hc_now_ms();
    assert_true(prev >= before && prev <= after);
    ag_gen_free(g);
}

static void test_ids_increase(void **state)
{
    enum { N = 10000 };
    struct ag_gen_opts o = base_opts();
    struct hc_event ev;
    uint8_t last[16];
    (void)state;

    for (int round = 0; round < 2; round++) {
        struct ag_gen *g;
        if (round == 1) { /* late and out-of-order events get their id when they go out */
            o.late = 0.3;
            o.out_of_order = 0.2;
            o.malformed = 0.1;
        }
        g = gen_with(&o);
        memset(last, 0, 16);
        for (int i = 0; i < N; i++) {
            assert_int_equal(ag_gen_next(g, &ev), 0);
            assert_true(memcmp(last, ev.id, 16) < 0);
            memcpy(last, ev.id, 16);
        }
        ag_gen_free(g);
    }
}

static void test_order_lines(void **state)
{
    enum { N = 100000 };
    struct ag_gen_opts o = base_opts();
    struct ag_gen *g = gen_with(&o);
    struct map invoices, customers, products;
    struct hc_event ev;
    char cur[48] = "";
    int lines = 0, anon = 0, cancels = 0, returns = 0, uk = 0, nonproduct = 0, inv_lines = 0;
    int seen_special[5] = {0};
    static const char *const special[] = {"POST", "M", "D", "BANK CHARGES", "DOT"};
    struct ent *inv = NULL;
    (void)state;

    map_init(&invoices, 1 << 15);
    map_init(&customers, 1 << 14);
    map_init(&products, 1 << 8);
    for (int i = 0; i < N; i++) {
        cJSON *d;
        const char *no, *code, *cust;
        int fresh, is_special = 0;
        double qty;

        assert_int_equal(ag_gen_next(g, &ev), 0);
        if (ev.kind != HC_KIND_ORDER_LINE)
            continue;
        d = data_of(&ev);
        lines++;
        no = sget(d, "invoice_no");
        code = sget(d, "stock_code");
        cust = sget(d, "customer_id"); /* NULL for JSON null */
        qty = nget(d, "quantity");
        anon += !cust;
        uk += !strcmp(sget(d, "country"), "United Kingdom");
        for (int k = 0; k < 5; k++)
            if (!strcmp(code, special[k])) {
                seen_special[k]++;
                is_special = 1;
            }
        nonproduct += is_special;

        /* Lines of one invoice are consecutive and share customer, country and date. */
        if (strcmp(no, cur)) {
            if (inv)
                assert_true(inv_lines >= 1 && inv_lines <= 20);
            inv = map_get(&invoices, no, &fresh);
            assert_true(fresh); /* an invoice never comes back once another began */
            strcpy(cur, no);
            strcpy(inv->s1, cust ? cust : "null");
            strcpy(inv->s2, sget(d, "country"));
            inv->t = tget(d, "invoice_date");
            inv_lines = 0;
            if (cust) {
                struct ent *c = map_get(&customers, cust, &fresh);
                c->count++;
                if (fresh)
                    strcpy(c->s1, sget(d, "country"));
                else /* a customer lives in one country */
                    assert_string_equal(c->s1, sget(d, "country"));
            }
        } else {
            assert_string_equal(inv->s1, cust ? cust : "null");
            assert_string_equal(inv->s2, sget(d, "country"));
            assert_int_equal(inv->t, tget(d, "invoice_date"));
        }
        inv_lines++;

        if (no[0] == 'C') { /* a cancellation: negative quantity, a known customer */
            cancels++;
            assert_true(qty < 0);
            assert_non_null(cust);
        } else if (qty < 0) {
            returns++;
        }
        if (!is_special && qty > 0)
            map_get(&products, code, &fresh)->count++;
        cJSON_Delete(d);
    }
    assert_true(lines > N / 2);
    assert_true(fabs(anon / (double)lines - 0.2) < 0.04);
    assert_true(uk > lines * 8 / 10);
    assert_true(cancels > 50 && cancels < lines / 20);
    assert_true(returns > 50 && returns < lines / 30);
    for (int k = 0; k < 5; k++)
        assert_true(seen_special[k] > 0);
    assert_true(nonproduct < lines / 20);
    /* The best seller is the data set's best seller, and there are a few dozen products. */
    {
        const struct ent *best = NULL;
        for (size_t i = 0; i < products.cap; i++)
            if (products.e[i].used && (!best || products.e[i].count > best->count))
                best = &products.e[i];
        assert_string_equal(best->key, "85123A");
        assert_true(products.n >= 40);
    }
    /* Loyal customers: the busiest 400 of thousands place over a third of the invoices. */
    {
        int *counts = calloc(customers.n, sizeof *counts), n = 0, total = 0, top = 0;
        assert_non_null(counts);
        for (size_t i = 0; i < customers.cap; i++)
            if (customers.e[i].used) {
                int id = atoi(customers.e[i].key);
                assert_true(id >= 12346 && id <= 18287);
                counts[n++] = customers.e[i].count;
                total += customers.e[i].count;
            }
        assert_true(n > 2000);
        for (int k = 0; k < 400; k++) { /* partial selection of the largest */
            int best = k;
            for (int j = k + 1; j < n; j++)
                if (counts[j] > counts[best])
                    best = j;
            int t = counts[k];
            counts[k] = counts[best];
            counts[best] = t;
            top += counts[k];
        }
        assert_true(top > total / 3);
        free(counts);
    }
    map_free(&invoices);
    map_free(&customers);
    map_free(&products);
    ag_gen_free(g);
}

/* Cancellations cancel what the same customer bought earlier: same product and unit price. */
static void test_cancellations_refer_to_purchases(void **state)
{
    enum { N = 100000 };
    struct ag_gen_opts o = base_opts();
    struct ag_gen *g = gen_with(&o);
    struct map bought;
    struct hc_event ev;
    int checked = 0;
    (void)state;

    map_init(&bought, 1 << 17);
    for (int i = 0; i < N; i++) {
        char key[48];
        const char *cust, *code;
        cJSON *d;
        int fresh;
        struct ent *e;

        assert_int_equal(ag_gen_next(g, &ev), 0);
        if (ev.kind != HC_KIND_ORDER_LINE)
            continue;
        d = data_of(&ev);
        cust = sget(d, "customer_id");
        code = sget(d, "stock_code");
        if (!cust || !strcmp(code, "D") || !strcmp(code, "M") || !strcmp(code, "POST") ||
            !strcmp(code, "DOT") || !strcmp(code, "BANK CHARGES")) {
            cJSON_Delete(d);
            continue;
        }
        snprintf(key, sizeof key, "%s/%s/%.2f", cust, code, nget(d, "unit_price"));
        if (sget(d, "invoice_no")[0] == 'C') {
            e = map_get(&bought, key, &fresh);
            assert_false(fresh);
            assert_true(-nget(d, "quantity") <= e->x);
            checked++;
        } else if (nget(d, "quantity") > 0) {
            e = map_get(&bought, key, &fresh);
            if (nget(d, "quantity") > e->x)
                e->x = nget(d, "quantity");
        }
        cJSON_Delete(d);
    }
    assert_true(checked > 50);
    map_free(&bought);
    ag_gen_free(g);
}

static int status_rank(const char *s)
{
    /* Lifecycle order; canceled and unavailable end a parcel at any point before shipped. */
    static const char *const order[] = {"created", "approved",  "invoiced", "processing",
                                        "shipped", "delivered", "returned"};
    for (int i = 0; i < 7; i++)
        if (!strcmp(s, order[i]))
            return i;
    return 7;
}

/* Runs n events; checks each parcel's lifecycle; returns the number of status regressions
 * (a status arriving after a later one of its parcel) and the largest number of parcels in
 * flight at once through *max_open. */
static int run_parcels(struct ag_gen *g, int n, int strict, int *max_open, int seen[8])
{
    struct map parcels;
    struct hc_event ev;
    int regress = 0, open = 0;

    map_init(&parcels, 1 << 18);
    *max_open = 0;
    for (int i = 0; i < n; i++) {
        cJSON *d;
        struct ent *p;
        int fresh, rank;
        int64_t t;

        assert_int_equal(ag_gen_next(g, &ev), 0);
        if (ev.kind != HC_KIND_ORDER_STATUS)
            continue;
        d = data_of(&ev);
        rank = status_rank(sget(d, "status"));
        seen[rank]++;
        t = tget(d, "status_time");
        p = map_get(&parcels, sget(d, "tracking_num"), &fresh);
        if (fresh) {
            if (strict)
                assert_int_equal(rank, 0); /* every parcel starts created */
            strcpy(p->s1, sget(d, "order_id"));
            strcpy(p->s2, sget(d, "estimated_delivery"));
            strcpy(p->s3, sget(d, "carrier"));
            p->rank = -1;
            open++;
        } else {
            assert_string_equal(p->s1, sget(d, "order_id"));
            assert_string_equal(p->s2, sget(d, "estimated_delivery"));
            assert_string_equal(p->s3, sget(d, "carrier"));
        }
        if (strict) {
            assert_true(rank > p->rank);
            assert_true(t >= p->t);
            assert_false(p->done); /* nothing after the last status */
            if (rank == 6)
                assert_int_equal(p->rank, 5); /* returned only after delivered */
        } else if (rank < p->rank) {
            regress++;
        }
        if (rank > p->rank) {
            /* In flight: created but not yet delivered, returned, canceled or unavailable. */
            if (rank >= 5 && p->rank < 5)
                open--;
            p->rank = rank;
            p->t = t;
            p->done = rank >= 6;
        }
        if (open > *max_open)
            *max_open = open;
        cJSON_Delete(d);
    }
    map_free(&parcels);
    return regress;
}

static void test_parcel_lifecycle(void **state)
{
    struct ag_gen_opts o = base_opts();
    struct ag_gen *g;
    int max_open, seen[8] = {0};
    (void)state;

    assert_int_equal(ag_gen_parse_mix("order_line=1,order_status=3", o.mix), 0);
    g = gen_with(&o);
    assert_int_equal(run_parcels(g, 200000, 1, &max_open, seen), 0);
    for (int r = 0; r < 8; r++)
        assert_true(seen[r] > 0); /* every status occurs, canceled/unavailable as 7 */
    /* Memory is bounded: the generator keeps at most 4096 parcels alive. */
    assert_true(max_open > 1000 && max_open <= 4096);
    ag_gen_free(g);
}

/* A small target with history: a short run carries parcels to the end of their lifecycle and
 * sells cars, and the parcels of the past show up at later stages without a "created". */
static void test_history(void **state)
{
    enum { N = 2000 };
    struct ag_gen_opts o = base_opts();
    struct ag_gen *g;
    struct hc_event ev;
    int max_open, seen[8] = {0}, first_not_created = 0, sold = 0, cars = 0;
    (void)state;

    assert_int_equal(ag_gen_parse_mix("order_status=1", o.mix), 0);
    o.live_parcels = 100;
    o.history = 1;
    g = gen_with(&o);
    /* not strict: a parcel of the past starts where it stood */
    assert_int_equal(run_parcels(g, N, 0, &max_open, seen), 0);
    assert_true(max_open <= 100);
    assert_true(seen[5] > N / 20); /* delivered */
    assert_true(seen[4] > N / 20); /* shipped */
    assert_true(seen[6] > 0);      /* returned */
    ag_gen_free(g);

    /* The first event of 80 of the 85 parcels of the past is not "created". */
    g = gen_with(&o);
    for (int i = 0; i < 200; i++) {
        cJSON *d;
        assert_int_equal(ag_gen_next(g, &ev), 0);
        d = data_of(&ev);
        first_not_created += strcmp(sget(d, "status"), "created") != 0;
        cJSON_Delete(d);
    }
    assert_true(first_not_created > 100);
    ag_gen_free(g);

    assert_int_equal(ag_gen_parse_mix("car_listing=1", o.mix), 0);
    o.live_listings = 60;
    g = gen_with(&o);
    for (int i = 0; i < 300; i++) {
        cJSON *d;
        assert_int_equal(ag_gen_next(g, &ev), 0);
        d = data_of(&ev);
        cars++;
        if (!strcmp(sget(d, "action"), "sold")) {
            assert_true(tget(d, "date_removed") > tget(d, "date_listed"));
            sold++;
        }
        cJSON_Delete(d);
    }
    /* 300 events over 60 listings: most of those open at the start end in the run */
    assert_int_equal(cars, 300);
    assert_true(sold > 30);
    ag_gen_free(g);

    /* a target of 0 is the cap; more than the cap is the cap */
    o.live_parcels = 100000;
    g = gen_with(&o);
    ag_gen_free(g);
}

static void test_car_lifecycle(void **state)
{
    enum { N = 200000 };
    struct ag_gen_opts o = base_opts();
    struct ag_gen *g;
    struct map cars;
    struct hc_event ev;
    int changes = 0, cuts = 0, ended = 0, open = 0, max_open = 0;
    double turnover_days = 0;
    (void)state;

    assert_int_equal(ag_gen_parse_mix("order_line=1,car_listing=1", o.mix), 0);
    g = gen_with(&o);
    map_init(&cars, 1 << 18);
    for (int i = 0; i < N; i++) {
        cJSON *d;
        struct ent *c;
        const char *action;
        int fresh;
        int64_t listed, removed;

        assert_int_equal(ag_gen_next(g, &ev), 0);
        if (ev.kind != HC_KIND_CAR_LISTING)
            continue;
        d = data_of(&ev);
        action = sget(d, "action");
        listed = tget(d, "date_listed");
        removed = tget(d, "date_removed");
        c = map_get(&cars, sget(d, "listing_id"), &fresh);
        if (fresh) {
            assert_string_equal(action, "listed");
            strcpy(c->s1, sget(d, "vin"));
            snprintf(c->s2, sizeof c->s2, "%s %s", sget(d, "make"), sget(d, "model"));
            c->t = listed;
            c->x = nget(d, "price");
            assert_true(nget(d, "year") <= 2010 && nget(d, "year") >= 1995);
            open++;
            if (open > max_open)
                max_open = open;
        } else {
            char mm[48];
            assert_false(c->done);
            assert_string_not_equal(action, "listed");
            assert_string_equal(c->s1, sget(d, "vin"));
            snprintf(mm, sizeof mm, "%s %s", sget(d, "make"), sget(d, "model"));
            assert_string_equal(c->s2, mm);
            assert_int_equal(c->t, listed);
        }
        assert_true(listed < ev.event_time_ms);
        if (!strcmp(action, "price_changed")) {
            assert_true(++c->n_changes <= 3);
            changes++;
            cuts += nget(d, "price") < c->x;
            c->x = nget(d, "price");
        }
        if (!strcmp(action, "sold") || !strcmp(action, "removed")) {
            assert_true(removed >= listed);
            assert_int_equal(removed, ev.event_time_ms);
            turnover_days += (double)(removed - listed) / DAY_MS;
            ended++;
            open--;
            c->done = 1;
        } else {
            assert_int_equal(removed, 0); /* null until then */
        }
        cJSON_Delete(d);
    }
    assert_true(ended > 1000);
    assert_true(changes > 1000 && cuts > changes * 7 / 10);
    /* Turnover of days to weeks. */
    assert_true(turnover_days / ended > 7 && turnover_days / ended < 60);
    assert_true(max_open <= 4096);
    map_free(&cars);
    ag_gen_free(g);
}

static void test_duplicates(void **state)
{
    enum { N = 20000 };
    struct ag_gen_opts o = base_opts();
    struct map ids;
    struct hc_buf enc = HC_BUF_INIT;
    struct hc_event ev;
    (void)state;

    for (int round = 0; round < 2; round++) {
        struct ag_gen *g;
        int dups = 0;
        o.duplicate = round ? 0.05 : 0;
        g = gen_with(&o);
        map_init(&ids, 1 << 16);
        for (int i = 0; i < N; i++) {
            char id[HC_UUID_STRLEN];
            struct ent *e;
            int fresh;
            uint64_t h = 0;

            assert_int_equal(ag_gen_next(g, &ev), 0);
            hc_buf_reset(&enc);
            assert_int_equal(hc_event_encode(&ev, &enc), 0);
            for (size_t k = 0; k < enc.len; k++)
                h = h * 1099511628211ull + (unsigned char)enc.p[k];
            hc_uuid_format(ev.id, id);
            e = map_get(&ids, id, &fresh);
            if (fresh) {
                e->t = (int64_t)h;
                e->t2 = (int64_t)enc.len;
                e->count = i;
            } else { /* the same event again, byte for byte, not long after */
                dups++;
                assert_int_equal(e->t, (int64_t)h);
                assert_int_equal(e->t2, (int64_t)enc.len);
                assert_true(i - e->count <= 64);
            }
        }
        if (round)
            assert_true(fabs(dups / (double)N - 0.05) < 0.01);
        else
            assert_int_equal(dups, 0);
        map_free(&ids);
        ag_gen_free(g);
    }
    hc_buf_free(&enc);
}

static void test_malformed(void **state)
{
    enum { N = 50000 };
    struct ag_gen_opts o = base_opts();
    struct ag_gen *g;
    struct hc_buf enc = HC_BUF_INIT;
    struct hc_event ev;
    int by[N_VERDICT] = {0}, bad = 0;
    (void)state;

    o.malformed = 0.1;
    g = gen_with(&o);
    for (int i = 0; i < N; i++) {
        struct hc_event_doc doc;
        enum verdict v;
        cJSON *d;

        assert_int_equal(ag_gen_next(g, &ev), 0);
        hc_buf_reset(&enc);
        assert_int_equal(hc_event_encode(&ev, &enc), 0);
        /* The envelope stays valid; only the data breaks a rule. */
        assert_int_equal(hc_event_decode(enc.p, enc.len, &doc, NULL), 0);
        hc_event_doc_free(&doc);
        d = data_of(&ev);
        v = check_data(ev.kind, d);
        by[v]++;
        bad += v != OK;
        cJSON_Delete(d);
    }
    assert_true(fabs(bad / (double)N - 0.1) < 0.015);
    for (int v = BAD_MISSING; v < N_VERDICT; v++)
        assert_true(by[v] > 50); /* every way of breaking occurs */
    ag_gen_free(g);
    hc_buf_free(&enc);
}

static void test_late(void **state)
{
    enum { N = 50000 };
    struct ag_gen_opts o = base_opts();
    struct ag_gen *g;
    struct hc_event ev;
    int late = 0, very = 0;
    (void)state;

    o.late = 0.2;
    o.late_ms = 2 * 3600 * 1000;
    g = gen_with(&o);
    for (int i = 0; i < N; i++) {
        int64_t lag;
        cJSON *d;

        assert_int_equal(ag_gen_next(g, &ev), 0);
        /* The id carries the time the event went out; event_time when it happened. */
        lag = hc_uuid7_ms(ev.id) - ev.event_time_ms;
        assert_true(lag >= 0 && lag <= o.late_ms + 3 * DAY_MS + 60000);
        late += lag > 60000;
        very += lag > DAY_MS;
        d = data_of(&ev);
        if (ev.kind == HC_KIND_ORDER_LINE)
            assert_int_equal(tget(d, "invoice_date"), ev.event_time_ms);
        else if (ev.kind == HC_KIND_ORDER_STATUS)
            assert_int_equal(tget(d, "status_time"), ev.event_time_ms);
        cJSON_Delete(d);
    }
    assert_true(fabs(late / (double)N - 0.2) < 0.03);
    assert_true(fabs(very / (double)N - 0.02) < 0.008);
    ag_gen_free(g);
}

static void test_out_of_order(void **state)
{
    enum { N = 200000 };
    struct ag_gen_opts o = base_opts();
    struct ag_gen *g;
    struct hc_event ev;
    int64_t newest[HC_KIND_COUNT] = {0};
    int back = 0, timed = 0, max_open, seen[8] = {0};
    (void)state;

    o.out_of_order = 0.1;
    assert_int_equal(ag_gen_parse_mix("order_line=2,order_status=3,car_listing=1", o.mix), 0);
    g = gen_with(&o);
    /* Parcel and car events carry the clock, so only held-back ones go back in time. */
    for (int i = 0; i < N; i++) {
        assert_int_equal(ag_gen_next(g, &ev), 0);
        if (ev.kind == HC_KIND_ORDER_LINE)
            continue;
        timed++;
        if (ev.event_time_ms < newest[ev.kind])
            back++;
        else
            newest[ev.kind] = ev.event_time_ms;
    }
    assert_true(fabs(back / (double)timed - 0.1) < 0.02);
    ag_gen_free(g);

    /* A held status is overtaken by its parcel's next one: statuses arrive out of order. */
    g = gen_with(&o);
    assert_true(run_parcels(g, N, 0, &max_open, seen) > 1000);
    ag_gen_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_events_valid),
        cmocka_unit_test(test_mix),
        cmocka_unit_test(test_parse_mix),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_clock),
        cmocka_unit_test(test_ids_increase),
        cmocka_unit_test(test_order_lines),
        cmocka_unit_test(test_cancellations_refer_to_purchases),
        cmocka_unit_test(test_parcel_lifecycle),
        cmocka_unit_test(test_car_lifecycle),
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_late),
        cmocka_unit_test(test_out_of_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
