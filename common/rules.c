#include "common/rules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hctime.h"

/* What a data field holds. */
enum fld_type { F_TEXT, F_INT, F_NUM, F_PRICE4, F_PRICE2, F_TIME, F_STATUS, F_ACTION, F_VIN };

struct fld {
    const char *name;
    size_t len; /* strlen(name) */
    enum fld_type type;
    int required;
};
#define FLD(name, type, required)                                                                  \
    {                                                                                              \
        name, sizeof name - 1, type, required                                                      \
    }
#define FLD_END                                                                                    \
    {                                                                                              \
        NULL, 0, F_TEXT, 0                                                                         \
    }

/* Each kind's data fields in the order of its silver table's columns. */
static const struct fld order_line_f[] = {
    FLD("invoice_no", F_TEXT, 1),  FLD("stock_code", F_TEXT, 1),   FLD("description", F_TEXT, 0),
    FLD("quantity", F_INT, 1),     FLD("unit_price", F_PRICE4, 1), FLD("invoice_date", F_TIME, 1),
    FLD("customer_id", F_TEXT, 0), FLD("country", F_TEXT, 1),      FLD_END};
static const struct fld order_status_f[] = {FLD("tracking_num", F_TEXT, 1),
                                            FLD("order_id", F_TEXT, 1),
                                            FLD("status", F_STATUS, 1),
                                            FLD("status_time", F_TIME, 1),
                                            FLD("estimated_delivery", F_TIME, 0),
                                            FLD("carrier", F_TEXT, 0),
                                            FLD_END};
static const struct fld car_listing_f[] = {FLD("listing_id", F_TEXT, 1),
                                           FLD("vin", F_VIN, 1),
                                           FLD("make", F_TEXT, 1),
                                           FLD("model", F_TEXT, 1),
                                           FLD("year", F_INT, 0),
                                           FLD("mileage_km", F_NUM, 0),
                                           FLD("price", F_PRICE2, 1),
                                           FLD("currency", F_TEXT, 0),
                                           FLD("dealer_id", F_TEXT, 0),
                                           FLD("action", F_ACTION, 1),
                                           FLD("date_listed", F_TIME, 1),
                                           FLD("date_removed", F_TIME, 0),
                                           FLD_END};

static const struct fld *const kind_fields[] = {NULL, order_line_f, order_status_f, car_listing_f};

static const char *const statuses[] = {"created",  "approved",  "invoiced", "processing",
                                       "shipped",  "delivered", "canceled", "unavailable",
                                       "returned", NULL};
static const char *const actions[] = {"listed", "price_changed", "sold", "removed", NULL};

static const char *const rule_names[HC_RULE_COUNT] = {NULL,
                                                      "not_json",
                                                      "missing_field",
                                                      "unknown_kind",
                                                      "bad_number",
                                                      "bad_timestamp",
                                                      "negative_price",
                                                      "unknown_status",
                                                      "unknown_action",
                                                      "bad_vin",
                                                      "too_late"};

const char *hc_rule_name(enum hc_rule r)
{
    return r > HC_RULE_NONE && r < HC_RULE_COUNT ? rule_names[r] : NULL;
}

const char *hc_json_text(const struct hc_json_val *v, char *buf, size_t cap, size_t *n)
{
    if (v->type == HC_JSON_ABSENT || v->type == HC_JSON_NULL)
        return NULL;
    if (v->type != HC_JSON_STRING) {
        *n = v->len;
        return v->p;
    }
    if (!memchr(v->p + 1, '\\', v->len - 2)) {
        *n = v->len - 2;
        return v->p + 1;
    }
    if (v->len > cap)
        return NULL;
    *n = hc_json_unescape(v, buf);
    return buf;
}

/* Is v's text one of the words in set? */
static int text_in(const struct hc_json_val *v, const char *const *set)
{
    char buf[32];
    size_t n;
    const char *t = hc_json_text(v, buf, sizeof buf, &n);

    for (; t && *set; set++)
        if (strlen(*set) == n && !memcmp(*set, t, n))
            return 1;
    return 0;
}

static int absent(const struct hc_json_val *v)
{
    return v->type == HC_JSON_ABSENT || v->type == HC_JSON_NULL;
}

/* ---- numbers -------------------------------------------------------------------------------- */

/* An integer literal of at most 9 digits (-?[0-9]{1,9}). */
static int int_ok(const struct hc_json_val *v)
{
    size_t i = v->type == HC_JSON_NUMBER && v->len && v->p[0] == '-';
    size_t digits = v->len - i;

    if (v->type != HC_JSON_NUMBER || digits < 1 || digits > 9)
        return 0;
    for (; i < v->len; i++)
        if (v->p[i] < '0' || v->p[i] > '9')
            return 0;
    return 1;
}

/* A number literal split: its significant digits (leading zeros dropped) and how many of them
 * stand before the decimal point (may be <= 0, or more than there are digits). */
struct num {
    char d[2 * 256];
    size_t n;
    long point;
    int neg;
};

static void num_split(const struct hc_json_val *v, struct num *x)
{
    const char *p = v->p, *end = v->p + v->len;
    long ints = 0;

    x->n = 0;
    x->neg = *p == '-';
    p += x->neg;
    for (; p < end && *p >= '0' && *p <= '9'; p++, ints++) {
        if (x->n || *p != '0')
            x->d[x->n++] = *p;
        else
            ints--; /* a leading zero does not count */
    }
    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
            if (x->n || *p != '0')
                x->d[x->n++] = *p;
            else
                ints--;
        }
    }
    x->point = ints;
    if (p < end && (*p == 'e' || *p == 'E'))
        x->point += strtol(p + 1, NULL, 10);
    while (x->n && x->d[x->n - 1] == '0') /* trailing zeros change nothing */
        x->n--;
}

/*
 * Does the number v, rounded half away from zero to scale decimals, stay below 10^ints in
 * magnitude (what numeric(ints + scale, scale) holds)? It does exactly when |v| is below
 * 9...9.9...95 (ints nines, scale nines, a 5).
 */
static int num_fits(const struct hc_json_val *v, int ints, int scale)
{
    struct num x;
    size_t lim = (size_t)ints + (size_t)scale + 1;

    if (v->type != HC_JSON_NUMBER)
        return 0;
    num_split(v, &x);
    if (x.n == 0 || x.point < ints)
        return 1;
    if (x.point > ints)
        return 0;
    for (size_t i = 0; i < lim; i++) {
        char want = i + 1 == lim ? '5' : '9', got = i < x.n ? x.d[i] : '0';
        if (got != want)
            return got < want;
    }
    return 0; /* equal: rounds up to 10^ints */
}

/* Below zero (a negative zero is not). */
static int num_negative(const struct hc_json_val *v)
{
    struct num x;

    num_split(v, &x);
    return x.neg && x.n > 0;
}

/* ---- times ---------------------------------------------------------------------------------- */

static int dig(const char *t, size_t at, size_t k, int *out)
{
    int v = 0;

    for (size_t i = at; i < at + k; i++) {
        if (t[i] < '0' || t[i] > '9')
            return -1;
        v = v * 10 + (t[i] - '0');
    }
    *out = v;
    return 0;
}

int hc_ts_parse(const char *t, size_t n, int64_t *us)
{
    int y, mo, d, h, mi, s, oh = 0, om = 0, frac = 0, sign = 0;
    size_t i = 19, k;

    if (n < 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':' ||
        dig(t, 0, 4, &y) || dig(t, 5, 2, &mo) || dig(t, 8, 2, &d) || dig(t, 11, 2, &h) ||
        dig(t, 14, 2, &mi) || dig(t, 17, 2, &s))
        return -1;
    if (t[i] == '.') {
        for (k = ++i; i < n && i < k + 6 && t[i] >= '0' && t[i] <= '9'; i++)
            frac = frac * 10 + (t[i] - '0');
        if (i == k)
            return -1;
        for (size_t z = i - k; z < 6; z++)
            frac *= 10;
    }
    if (i + 1 == n && t[i] == 'Z')
        sign = 0;
    else if (i + 6 == n && (t[i] == '+' || t[i] == '-') && t[i + 3] == ':' &&
             !dig(t, i + 1, 2, &oh) && !dig(t, i + 4, 2, &om) && oh <= 15 && om <= 59)
        sign = t[i] == '+' ? 1 : -1;
    else
        return -1;
    if (y == 0 || !hc_date_valid(y, mo, d) || h > 23 || mi > 59 || s > 59)
        return -1;
    *us = ((hc_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s -
            (int64_t)sign * (oh * 3600 + om * 60)) *
           1000000) +
          frac;
    return 0;
}

int hc_ts_format(int64_t us, char *out)
{
    int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    int64_t rem = us - secs * 1000000;
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t sod = secs - days * 86400;
    int y, m, d;

    hc_civil_from_days(days, &y, &m, &d);
    return snprintf(out, HC_TS_STRLEN, "%04d-%02d-%02d %02lld:%02lld:%02lld.%06lld+00", y, m, d,
                    (long long)(sod / 3600), (long long)(sod / 60 % 60), (long long)(sod % 60),
                    (long long)rem);
}

/* A present time must parse (us may be NULL). */
static int time_ok(const struct hc_json_val *v, int64_t *us)
{
    char buf[64];
    size_t n;
    int64_t ignored;
    const char *t;

    if (absent(v))
        return 1;
    t = hc_json_text(v, buf, sizeof buf, &n);
    return t && !hc_ts_parse(t, n, us ? us : &ignored);
}

/* [A-HJ-NPR-Z0-9]{17} */
static int vin_ok(const struct hc_json_val *v)
{
    char buf[64];
    size_t n;
    const char *t = hc_json_text(v, buf, sizeof buf, &n);

    if (!t || n != 17)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')) || c == 'I' || c == 'O' || c == 'Q')
            return 0;
    }
    return 1;
}

/* ---- reading a body ------------------------------------------------------------------------- */

/* Is the key t[0..n) the name nm[0..len)? */
static int key_is(const char *t, size_t n, const char *nm, size_t len)
{
    return n == len && !memcmp(nm, t, n);
}
#define KEY_IS(t, n, lit) key_is(t, n, lit, sizeof lit - 1)

/* The data members of the kind into e->f (the last of a repeated key wins). */
static void read_data(struct hc_body *e, const struct hc_json_val *data)
{
    const struct fld *fl = kind_fields[e->kind];
    struct hc_json_obj it;
    struct hc_json_val k, v;

    hc_json_obj_begin(&it, data);
    while (hc_json_obj_next(&it, &k, &v)) {
        char buf[64];
        size_t n;
        const char *t = hc_json_text(&k, buf, sizeof buf, &n);
        for (int i = 0; t && fl[i].name; i++)
            if (key_is(t, n, fl[i].name, fl[i].len)) {
                e->f[i] = v;
                break;
            }
    }
}

/* The rules of the kind's fields, in the order of rules.h. */
static enum hc_rule check_fields(struct hc_body *e)
{
    const struct fld *fl = kind_fields[e->kind];
    int i;

    for (i = 0; fl[i].name; i++)
        if (fl[i].required && absent(&e->f[i]))
            return HC_RULE_MISSING_FIELD;
    for (i = 0; fl[i].name; i++) {
        const struct hc_json_val *v = &e->f[i];
        if ((fl[i].type == F_INT && !absent(v) && !int_ok(v)) ||
            (fl[i].type == F_NUM && !absent(v) && v->type != HC_JSON_NUMBER) ||
            (fl[i].type == F_PRICE4 && !num_fits(v, 10, 4)) ||
            (fl[i].type == F_PRICE2 && !num_fits(v, 12, 2)))
            return HC_RULE_BAD_NUMBER;
    }
    if (!time_ok(&e->event_time, &e->event_us))
        return HC_RULE_BAD_TIMESTAMP;
    for (i = 0; fl[i].name; i++)
        if (fl[i].type == F_TIME && !time_ok(&e->f[i], &e->us[i]))
            return HC_RULE_BAD_TIMESTAMP;
    for (i = 0; fl[i].name; i++)
        if ((fl[i].type == F_PRICE4 || fl[i].type == F_PRICE2) && num_negative(&e->f[i]))
            return HC_RULE_NEGATIVE_PRICE;
    for (i = 0; fl[i].name; i++) {
        if (fl[i].type == F_STATUS && !text_in(&e->f[i], statuses))
            return HC_RULE_UNKNOWN_STATUS;
        if (fl[i].type == F_ACTION && !text_in(&e->f[i], actions))
            return HC_RULE_UNKNOWN_ACTION;
    }
    for (i = 0; fl[i].name; i++)
        if (fl[i].type == F_VIN && !vin_ok(&e->f[i]))
            return HC_RULE_BAD_VIN;
    return e->event_id.type == HC_JSON_STRING ? HC_RULE_NONE : HC_RULE_MISSING_FIELD;
}

static enum hc_rule check(struct hc_body *e, const char *body, size_t len)
{
    struct hc_json_val root, k, v, data = {NULL, 0, HC_JSON_ABSENT};
    struct hc_json_obj it;

    if (!body || !hc_json_parse(body, len, &root) || root.type != HC_JSON_OBJECT)
        return HC_RULE_NOT_JSON;
    hc_json_obj_begin(&it, &root);
    while (hc_json_obj_next(&it, &k, &v)) {
        char buf[64];
        size_t n;
        const char *t = hc_json_text(&k, buf, sizeof buf, &n);
        if (!t)
            continue;
        if (KEY_IS(t, n, "event_id"))
            e->event_id = v;
        else if (KEY_IS(t, n, "kind"))
            e->kind_v = v;
        else if (KEY_IS(t, n, "event_time"))
            e->event_time = v;
        else if (KEY_IS(t, n, "device_id"))
            e->device_id = v;
        else if (KEY_IS(t, n, "data"))
            data = v;
    }
    if (absent(&e->event_id) || absent(&e->kind_v) || absent(&e->event_time) ||
        data.type != HC_JSON_OBJECT)
        return HC_RULE_MISSING_FIELD;
    if (e->kind_v.type == HC_JSON_STRING) {
        char buf[32];
        size_t n;
        const char *t = hc_json_text(&e->kind_v, buf, sizeof buf, &n);
        e->kind = t ? hc_kind_parse(t, n) : HC_KIND_UNKNOWN;
    }
    if (e->kind == HC_KIND_UNKNOWN)
        return HC_RULE_UNKNOWN_KIND;
    read_data(e, &data);
    return check_fields(e);
}

enum hc_rule hc_body_check(struct hc_body *e, const char *body, size_t len)
{
    memset(e, 0, sizeof *e);
    e->rule = check(e, body, len);
    return e->rule;
}

/* ---- COPY text ------------------------------------------------------------------------------ */

int hc_copy_escape(struct hc_buf *out, const char *s, size_t n)
{
    char *w;

    if (hc_buf_reserve(out, 2 * n))
        return -ENOMEM;
    w = out->p + out->len;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' || c == '\n' || c == '\r' || c == '\t') {
            *w++ = '\\';
            c = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : '\\';
        }
        *w++ = c;
    }
    out->len = (size_t)(w - out->p);
    out->p[out->len] = '\0';
    return 0;
}

int hc_copy_text(struct hc_buf *out, const struct hc_json_val *v)
{
    char small[256], *big;
    size_t n;
    int rc;

    if (absent(v))
        return hc_buf_add(out, "\\N", 2);
    if (v->type == HC_JSON_STRING && !memchr(v->p + 1, '\\', v->len - 2))
        return hc_buf_add(out, v->p + 1, v->len - 2); /* nothing to decode or escape */
    if (v->type != HC_JSON_STRING)
        return hc_copy_escape(out, v->p, v->len);
    if (v->len <= sizeof small) {
        n = hc_json_unescape(v, small);
        return hc_copy_escape(out, small, n);
    }
    if (!(big = malloc(v->len)))
        return -ENOMEM;
    n = hc_json_unescape(v, big);
    rc = hc_copy_escape(out, big, n);
    free(big);
    return rc;
}

/* ---- COPY binary ---------------------------------------------------------------------------- */

#define PG_EPOCH_US INT64_C(946684800000000) /* 2000-01-01 UTC: PostgreSQL's time zero */

static int bin_null(struct hc_buf *b)
{
    return hc_buf_add_be(b, UINT32_MAX, 4);
}

/* A field's bytes: a text's (a string decoded, anything else as written). */
static int bin_text(struct hc_buf *b, const struct hc_json_val *v)
{
    size_t at;

    if (absent(v))
        return bin_null(b);
    if (v->type != HC_JSON_STRING)
        return hc_buf_add_be(b, v->len, 4) || hc_buf_add(b, v->p, v->len) ? -ENOMEM : 0;
    if (hc_buf_reserve(b, 4 + v->len))
        return -ENOMEM;
    at = b->len;
    b->len += 4;
    b->len += hc_json_unescape(v, b->p + b->len); /* at most v->len bytes */
    for (int i = 0; i < 4; i++)
        b->p[at + (size_t)i] = (char)((b->len - at - 4) >> (24 - 8 * i));
    b->p[b->len] = '\0';
    return 0;
}

static int bin_time(struct hc_buf *b, const struct hc_json_val *v, int64_t us)
{
    if (absent(v))
        return bin_null(b);
    return hc_buf_add_be(b, 8, 4) || hc_buf_add_be(b, (uint64_t)(us - PG_EPOCH_US), 8) ? -ENOMEM
                                                                                       : 0;
}

/* An integer literal of at most 9 digits (int_ok) as int4. */
static int bin_int4(struct hc_buf *b, const struct hc_json_val *v)
{
    int64_t x = 0;

    if (absent(v))
        return bin_null(b);
    for (size_t i = v->p[0] == '-'; i < v->len; i++)
        x = x * 10 + (v->p[i] - '0');
    if (v->p[0] == '-')
        x = -x;
    return hc_buf_add_be(b, 4, 4) || hc_buf_add_be(b, (uint64_t)x, 4) ? -ENOMEM : 0;
}

/*
 * A number literal as numeric's binary form: base-10000 digits aligned on the decimal point,
 * the weight of the first, a sign, and the display scale numeric's text input would give it
 * (fraction digits minus the exponent, at least 0; the column's typmod rounds it).
 */
static int bin_numeric(struct hc_buf *b, const struct hc_json_val *v)
{
    char d[2 * HC_JSON_NUM_MAX + 8];
    uint16_t g[HC_JSON_NUM_MAX / 2 + 8];
    const char *p, *end;
    long point = 0, frac = 0, exp = 0, lead;
    size_t n = 0, ng = 0, i;
    int neg, dscale;

    if (absent(v)) /* p is NULL: no arithmetic on it */
        return bin_null(b);
    p = v->p;
    end = v->p + v->len;
    neg = *p == '-';
    p += neg;
    for (; p < end && *p >= '0' && *p <= '9'; p++, point++)
        d[n++] = *p;
    if (p < end && *p == '.')
        for (p++; p < end && *p >= '0' && *p <= '9'; p++, frac++)
            d[n++] = *p;
    if (p < end && (*p == 'e' || *p == 'E'))
        exp = strtol(p + 1, NULL, 10);
    dscale = frac - exp > 0 ? (int)(frac - exp) : 0;
    point += exp;
    for (i = 0; i < n && d[i] == '0'; i++) /* leading zeros */
        point--;
    memmove(d, d + i, n - i);
    n -= i;
    while (n && d[n - 1] == '0')
        n--;
    if (n) {
        /* pad on the left so that the point falls between groups of four */
        lead = ((4 - point % 4) % 4 + 4) % 4;
        memmove(d + lead, d, n);
        memset(d, '0', (size_t)lead);
        n += (size_t)lead;
        point += lead;
        for (i = 0; i < n; i += 4) {
            unsigned x = 0;
            for (size_t k = i; k < i + 4; k++)
                x = x * 10 + (unsigned)(k < n ? d[k] - '0' : 0);
            g[ng++] = (uint16_t)x;
        }
    }
    if (hc_buf_add_be(b, 8 + 2 * ng, 4) || hc_buf_add_be(b, ng, 2) ||
        hc_buf_add_be(b, (uint64_t)(n ? point / 4 - 1 : 0), 2) ||
        hc_buf_add_be(b, neg && n ? 0x4000 : 0, 2) || hc_buf_add_be(b, (uint64_t)dscale, 2))
        return -ENOMEM;
    for (i = 0; i < ng; i++)
        if (hc_buf_add_be(b, g[i], 2))
            return -ENOMEM;
    return 0;
}

int hc_body_copy_binary(const struct hc_body *e, int64_t file_id, struct hc_buf *out)
{
    const struct fld *fl = kind_fields[e->kind];
    int nf = 0, rc;

    while (fl[nf].name)
        nf++;
    if (hc_buf_add_be(out, (uint64_t)(nf + 4), 2) || bin_text(out, &e->event_id) ||
        bin_text(out, &e->device_id) || bin_time(out, &e->event_time, e->event_us))
        return -ENOMEM;
    for (int i = 0; i < nf; i++) {
        const struct hc_json_val *v = &e->f[i];
        switch (fl[i].type) {
        case F_INT:
            rc = bin_int4(out, v);
            break;
        case F_NUM:
        case F_PRICE4:
        case F_PRICE2:
            rc = bin_numeric(out, v);
            break;
        case F_TIME:
            rc = bin_time(out, v, e->us[i]);
            break;
        default:
            rc = bin_text(out, v);
            break;
        }
        if (rc)
            return -ENOMEM;
    }
    return hc_buf_add_be(out, 8, 4) || hc_buf_add_be(out, (uint64_t)file_id, 8) ? -ENOMEM : 0;
}
