/*
 * colmap.c - the column mapping (colmap.h): the fields of each kind, a source's columns bound to
 * them, and a row's values converted into the event's data (numbers: colmap_num.c).
 */
#include "agent/source/colmap.h"
#include "agent/source/colmap_int.h"
#include "common/error.h"
#include "common/hctime.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const status_words[] = {"created",  "approved",  "invoiced", "processing",
                                           "shipped",  "delivered", "canceled", "unavailable",
                                           "returned", NULL};
static const char *const action_words[] = {"listed", "price_changed", "sold", "removed", NULL};

static const struct ag_field order_line_fields[] = {
    {"invoice_no", "InvoiceNo", AG_T_STR, 0, NULL},
    {"stock_code", "StockCode", AG_T_STR, 0, NULL},
    {"description", "Description", AG_T_STR, AG_F_EMPTY_OK, NULL},
    {"quantity", "Quantity", AG_T_INT, 0, NULL},
    {"unit_price", "UnitPrice", AG_T_NUM, 0, NULL},
    {"invoice_date", "InvoiceDate", AG_T_TIME, 0, NULL},
    {"customer_id", "CustomerID", AG_T_ID, AG_F_NULLABLE, NULL},
    {"country", "Country", AG_T_STR, 0, NULL},
};
enum { OL_INVOICE_DATE = 5 };

static const struct ag_field order_status_fields[] = {
    {"tracking_num", NULL, AG_T_STR, 0, NULL},
    {"order_id", NULL, AG_T_ID, 0, NULL},
    {"status", NULL, AG_T_ENUM, 0, status_words},
    {"status_time", NULL, AG_T_TIME, 0, NULL},
    {"estimated_delivery", NULL, AG_T_TIME, AG_F_NULLABLE, NULL},
    {"carrier", NULL, AG_T_STR, AG_F_EMPTY_OK, NULL},
};
enum { OS_STATUS_TIME = 3 };

static const struct ag_field car_listing_fields[] = {
    {"listing_id", NULL, AG_T_ID, 0, NULL},
    {"vin", NULL, AG_T_STR, AG_F_EMPTY_OK, NULL},
    {"make", NULL, AG_T_STR, 0, NULL},
    {"model", NULL, AG_T_STR, 0, NULL},
    {"year", NULL, AG_T_INT, 0, NULL},
    {"mileage_km", NULL, AG_T_INT, 0, NULL},
    {"price", NULL, AG_T_NUM, 0, NULL},
    {"currency", NULL, AG_T_STR, 0, NULL},
    {"dealer_id", NULL, AG_T_ID, 0, NULL},
    {"action", NULL, AG_T_ENUM, 0, action_words},
    {"date_listed", NULL, AG_T_TIME, 0, NULL},
    {"date_removed", NULL, AG_T_TIME, AG_F_NULLABLE, NULL},
};
enum { CL_ACTION = 9, CL_DATE_LISTED = 10, CL_DATE_REMOVED = 11 };
enum { ACTION_SOLD = 2, ACTION_REMOVED = 3 };

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const struct ag_field *ag_kind_fields(enum hc_kind kind, size_t *n)
{
    switch (kind) {
    case HC_KIND_ORDER_LINE:
        *n = COUNT(order_line_fields);
        return order_line_fields;
    case HC_KIND_ORDER_STATUS:
        *n = COUNT(order_status_fields);
        return order_status_fields;
    case HC_KIND_CAR_LISTING:
        *n = COUNT(car_listing_fields);
        return car_listing_fields;
    default:
        *n = 0;
        return NULL;
    }
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *len)
{
    while (*len && is_blank(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len && is_blank((*s)[*len - 1]))
        (*len)--;
}

/* name[0..len) equals the C string word, ignoring ASCII case. */
static int name_eq(const char *name, size_t len, const char *word)
{
    return word && strlen(word) == len && !strncasecmp(name, word, len);
}

/* ---- mapping ------------------------------------------------------------------------------ */

static int parse_map_item(struct ag_colmap *m, const char *item, size_t len, char *why,
                          size_t why_size)
{
    const char *eq = memchr(item, '=', len), *col;
    size_t flen, clen;
    int f = -1;

    if (!eq) {
        snprintf(why, why_size, "map: '%.*s' is not field=Column", (int)len, item);
        return HC_E_INVAL;
    }
    flen = (size_t)(eq - item);
    col = eq + 1;
    clen = len - flen - 1;
    trim(&item, &flen);
    trim(&col, &clen);
    for (size_t i = 0; i < m->nfields; i++)
        if (name_eq(item, flen, m->fields[i].name))
            f = (int)i;
    if (f < 0 || !clen) {
        snprintf(why, why_size, "map: %s '%.*s' for %s", f < 0 ? "no field" : "no column for",
                 (int)flen, item, hc_kind_name(m->kind));
        return HC_E_INVAL;
    }
    if (m->over[f]) {
        snprintf(why, why_size, "map: field %s given twice", m->fields[f].name);
        return HC_E_INVAL;
    }
    m->over[f] = strndup(col, clen);
    return m->over[f] ? 0 : -ENOMEM;
}

int ag_colmap_init(struct ag_colmap *m, enum hc_kind kind, const char *map, char *why,
                   size_t why_size)
{
    int rc;

    memset(m, 0, sizeof *m);
    if (kind == HC_KIND_UNKNOWN)
        kind = HC_KIND_ORDER_LINE;
    m->kind = kind;
    m->fields = ag_kind_fields(kind, &m->nfields);
    if (!m->fields) {
        snprintf(why, why_size, "unknown kind %d", (int)kind);
        return HC_E_INVAL;
    }
    for (size_t i = 0; i < AG_FIELDS_MAX; i++)
        m->col[i] = -1;
    for (size_t i = 0; i < m->nfields; i++)
        m->name_len[i] = strlen(m->fields[i].name);
    while (map && *map) {
        const char *end = strchr(map, ',');
        size_t len = end ? (size_t)(end - map) : strlen(map), blank = len;
        const char *item = map;
        trim(&item, &blank);
        rc = blank ? parse_map_item(m, map, len, why, why_size) : 0; /* "a=A,,b=B" is fine */
        if (rc) {
            ag_colmap_free(m);
            return rc;
        }
        map = end ? end + 1 : NULL;
    }
    return 0;
}

void ag_colmap_free(struct ag_colmap *m)
{
    for (size_t i = 0; i < AG_FIELDS_MAX; i++) {
        free(m->over[i]);
        free(m->colname[i]);
        m->over[i] = m->colname[i] = NULL;
        m->col[i] = -1;
    }
}

int ag_colmap_field(const struct ag_colmap *m, const char *name, size_t len)
{
    trim(&name, &len);
    for (size_t i = 0; i < m->nfields; i++)
        if (m->over[i] && name_eq(name, len, m->over[i]))
            return (int)i;
    for (size_t i = 0; i < m->nfields; i++)
        if (!m->over[i] &&
            (name_eq(name, len, m->fields[i].name) || name_eq(name, len, m->fields[i].alias)))
            return (int)i;
    return -1;
}

/* Column name a field expects, for messages. */
static const char *expected_column(const struct ag_colmap *m, size_t f)
{
    if (m->over[f])
        return m->over[f];
    return m->fields[f].alias ? m->fields[f].alias : m->fields[f].name;
}

static int report_missing(const struct ag_colmap *m, char *why, size_t why_size)
{
    char list[400];
    size_t used = 0;
    int missing = 0;

    for (size_t f = 0; f < m->nfields; f++) {
        if (m->col[f] >= 0 || m->fields[f].flags & AG_F_NULLABLE)
            continue;
        int n = snprintf(list + used, sizeof list - used, "%s%s", missing ? ", " : "",
                         expected_column(m, f));
        if (n < 0 || (size_t)n >= sizeof list - used)
            break;
        used += (size_t)n;
        missing++;
    }
    if (!missing)
        return 0;
    snprintf(why, why_size, "header lacks column%s for %s: %s", missing > 1 ? "s" : "",
             hc_kind_name(m->kind), list);
    return HC_E_PARSE;
}

int ag_colmap_bind(struct ag_colmap *m, const char *const *names, const size_t *lens, size_t n,
                   char *why, size_t why_size)
{
    for (size_t i = 0; i < AG_FIELDS_MAX; i++) {
        free(m->colname[i]);
        m->colname[i] = NULL;
        m->col[i] = -1;
    }
    for (size_t i = 0; i < n; i++) {
        int f = ag_colmap_field(m, names[i], lens[i]);
        if (f < 0)
            continue;
        if (m->col[f] >= 0) {
            snprintf(why, why_size, "header: columns '%s' and '%.*s' both map to field %s",
                     m->colname[f], (int)lens[i], names[i], m->fields[f].name);
            return HC_E_PARSE;
        }
        const char *name = names[i];
        size_t len = lens[i];
        trim(&name, &len);
        m->col[f] = (int)i;
        m->colname[f] = strndup(name, len);
        if (!m->colname[f])
            return -ENOMEM;
    }
    return report_missing(m, why, why_size);
}

/* ---- conversion --------------------------------------------------------------------------- */

#define SNIPPET_MAX 60

/*
 * A value as quoted in a reason: at most SNIPPET_MAX bytes (cut on a UTF-8 boundary, "..."
 * added) and control characters shown as '?', so a reason stays one printable line.
 */
static const char *snippet(const char *s, size_t len, char out[SNIPPET_MAX + 4])
{
    size_t n = len;
    if (n > SNIPPET_MAX) {
        n = SNIPPET_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    strcpy(out + n, n < len ? "..." : "");
    return out;
}

/* Append "what src: msg" and, with show_value, ": 'value'" to why. 0 or -ENOMEM. */
static int reason(struct hc_buf *why, const char *what, const struct ag_val *v,
                  const struct ag_field *f, const char *msg, int show_value)
{
    const char *src = v->src ? v->src : f->name;
    char cut[SNIPPET_MAX + 4];

    if (!show_value)
        return hc_buf_addf(why, "%s %s: %s", what, src, msg);
    return hc_buf_addf(why, "%s %s: %s: '%s'", what, src, msg, snippet(v->s, v->len, cut));
}

/* When s is digits, '.' and zeros only ("17850.0"), *len drops the tail. */
static void strip_zero_fraction(const char *s, size_t *len)
{
    size_t i = 0, n = *len;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    if (!i || i + 1 >= n || s[i] != '.')
        return;
    for (size_t j = i + 1; j < n; j++)
        if (s[j] != '0')
            return;
    *len = i;
}

static int enum_value(const struct ag_field *f, const char *s, size_t len, int *idx)
{
    for (int i = 0; f->words[i]; i++) {
        if (name_eq(s, len, f->words[i])) {
            *idx = i;
            return 0;
        }
    }
    return HC_E_INVAL;
}

/* Per-field results the event time needs. */
struct conv_out {
    int64_t time[AG_FIELDS_MAX];
    int set[AG_FIELDS_MAX];
    int word[AG_FIELDS_MAX];
};

/* Append the reason and return HC_E_INVAL (or -ENOMEM when the reason does not fit). */
static int reject(struct hc_buf *why, const char *what, const struct ag_val *v,
                  const struct ag_field *f, const char *msg)
{
    return reason(why, what, v, f, msg, 1) ? -ENOMEM : HC_E_INVAL;
}

static int put_time(const struct ag_field *f, size_t i, const struct ag_val *v, const char *s,
                    size_t len, const char *what, struct hc_buf *data, struct conv_out *co,
                    struct hc_buf *why)
{
    char ts[HC_TIME_STRLEN + 2];

    if (hc_time_parse(s, (long)len, &co->time[i]))
        return reject(why, what, v, f, "not a timestamp");
    co->set[i] = 1;
    ts[0] = '"';
    hc_time_format(co->time[i], ts + 1);
    ts[25] = '"';
    return hc_buf_add(data, ts, 26);
}

static int put_enum(const struct ag_field *f, size_t i, const struct ag_val *v, const char *s,
                    size_t len, const char *what, struct hc_buf *data, struct conv_out *co,
                    struct hc_buf *why)
{
    char cut[SNIPPET_MAX + 4];
    const char *word;
    int rc;

    if (!enum_value(f, s, len, &co->word[i])) {
        word = f->words[co->word[i]];
        return hc_buf_add_json_str(data, word, strlen(word));
    }
    rc = reason(why, what, v, f, "not one of ", 0);
    for (int w = 0; !rc && f->words[w]; w++)
        rc = hc_buf_addf(why, "%s%s", w ? ", " : "", f->words[w]);
    if (!rc)
        rc = hc_buf_addf(why, ": '%s'", snippet(s, len, cut));
    return rc ? -ENOMEM : HC_E_INVAL;
}

/* The value of field i (known non-empty) into data. */
static int put_value(const struct ag_field *f, size_t i, const struct ag_val *v, const char *what,
                     struct hc_buf *data, struct conv_out *co, struct hc_buf *why)
{
    const char *s = v->s, *msg = NULL;
    size_t len = v->len;
    char num[AG_NUM_STRLEN];
    int64_t iv;

    if (f->type != AG_T_STR)
        trim(&s, &len);
    switch (f->type) {
    case AG_T_STR:
        return hc_buf_add_json_str(data, s, len);
    case AG_T_ID:
        strip_zero_fraction(s, &len);
        return hc_buf_add_json_str(data, s, len);
    case AG_T_INT:
        if (ag_colmap__integer_value(s, len, &iv, &msg))
            return reject(why, what, v, f, msg);
        return hc_buf_add_i64(data, iv);
    case AG_T_NUM:
        if (ag_colmap__number_text(s, len, num, &msg))
            return reject(why, what, v, f, msg);
        return hc_buf_adds(data, num);
    case AG_T_TIME:
        return put_time(f, i, v, s, len, what, data, co, why);
    case AG_T_ENUM:
        return put_enum(f, i, v, s, len, what, data, co, why);
    }
    return HC_E_INVAL;
}

static int put_field(const struct ag_colmap *m, size_t i, const struct ag_val *v, const char *what,
                     struct hc_buf *data, struct conv_out *co, struct hc_buf *why)
{
    const struct ag_field *f = &m->fields[i];
    size_t nlen = m->name_len[i], len = v->len;
    const char *s = v->s;
    int rc;

    if (hc_buf_reserve(data, nlen + 4))
        return -ENOMEM;
    if (i)
        data->p[data->len++] = ',';
    data->p[data->len++] = '"';
    memcpy(data->p + data->len, f->name, nlen);
    data->len += nlen;
    data->p[data->len++] = '"';
    data->p[data->len++] = ':';
    data->p[data->len] = '\0';
    if (!v->null && f->type != AG_T_STR)
        trim(&s, &len);
    if (v->null || !len) {
        if (f->flags & AG_F_NULLABLE)
            return hc_buf_add(data, "null", 4);
        if (f->flags & AG_F_EMPTY_OK)
            return hc_buf_add(data, "\"\"", 2);
        rc = reason(why, what, v, f, v->src ? "empty" : "missing", 0);
        return rc ? -ENOMEM : HC_E_INVAL;
    }
    return put_value(f, i, v, what, data, co, why);
}

static int64_t event_time(const struct ag_colmap *m, const struct conv_out *co)
{
    switch (m->kind) {
    case HC_KIND_ORDER_STATUS:
        return co->time[OS_STATUS_TIME];
    case HC_KIND_CAR_LISTING:
        if ((co->word[CL_ACTION] == ACTION_SOLD || co->word[CL_ACTION] == ACTION_REMOVED) &&
            co->set[CL_DATE_REMOVED])
            return co->time[CL_DATE_REMOVED];
        return co->time[CL_DATE_LISTED];
    default:
        return co->time[OL_INVOICE_DATE];
    }
}

int ag_colmap_convert(const struct ag_colmap *m, const struct ag_val *vals, const char *what,
                      struct hc_buf *data, int64_t *time_ms, struct hc_buf *why)
{
    struct conv_out co;
    size_t start = data->len;
    int rc = hc_buf_addc(data, '{');

    memset(&co, 0, sizeof co);
    for (size_t i = 0; !rc && i < m->nfields; i++)
        rc = put_field(m, i, &vals[i], what, data, &co, why);
    if (!rc)
        rc = hc_buf_addc(data, '}');
    if (rc) {
        data->len = start;
        if (data->p)
            data->p[start] = '\0';
        return rc;
    }
    *time_ms = event_time(m, &co);
    return 0;
}
