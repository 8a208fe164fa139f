#include "receiver/capture/record.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/hctime.h"
#include "receiver/capture/avro_enc.h"

static const char capture_schema[] =
    "{\"type\":\"record\",\"name\":\"EventData\",\"namespace\":\"Microsoft.ServiceBus.Messaging\","
    "\"fields\":[{\"name\":\"SequenceNumber\",\"type\":\"long\"},"
    "{\"name\":\"Offset\",\"type\":\"string\"},"
    "{\"name\":\"EnqueuedTimeUtc\",\"type\":\"string\"},"
    "{\"name\":\"SystemProperties\",\"type\":{\"type\":\"map\",\"values\":"
    "[\"long\",\"double\",\"string\",\"bytes\"]}},"
    "{\"name\":\"Properties\",\"type\":{\"type\":\"map\",\"values\":"
    "[\"long\",\"double\",\"string\",\"bytes\"]}},"
    "{\"name\":\"Body\",\"type\":[\"null\",\"bytes\"]}]}";

const char *rx_capture_schema_json(void)
{
    return capture_schema;
}

size_t rx_record_time_text(int64_t ms, char out[RX_ENQ_TEXT_MAX])
{
    struct tm tm;
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int h12, n;
    gmtime_r(&t, &tm);
    h12 = tm.tm_hour % 12 ? tm.tm_hour % 12 : 12;
    n = snprintf(out, RX_ENQ_TEXT_MAX, "%d/%d/%d %d:%02d:%02d %s", tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_year + 1900, h12, tm.tm_min, tm.tm_sec, tm.tm_hour < 12 ? "AM" : "PM");
    return n > 0 && n < RX_ENQ_TEXT_MAX ? (size_t)n : 0;
}

/* ---- reading it back (the lander: the receiver's files and Azure's) ---- */

/* Read 1..max decimal digits at s[*i]; returns the value or -1. */
static int time_digits(const char *s, size_t len, size_t *i, int min, int max)
{
    int v = 0, n = 0;
    while (*i < len && n < max && s[*i] >= '0' && s[*i] <= '9') {
        v = v * 10 + (s[*i] - '0');
        (*i)++;
        n++;
    }
    return n >= min ? v : -1;
}

static int expect(const char *s, size_t len, size_t *i, char c)
{
    if (*i >= len || s[*i] != c)
        return -1;
    (*i)++;
    return 0;
}

/* The fraction after the seconds, to the millisecond; -1 when malformed. */
static int fraction_ms(const char *s, size_t len, size_t *i)
{
    int ms = 0, n = 0;
    if (*i >= len || s[*i] != '.')
        return 0;
    (*i)++;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        if (n < 3)
            ms = ms * 10 + (s[*i] - '0');
        n++;
        (*i)++;
    }
    if (n == 0)
        return -1;
    for (; n < 3; n++)
        ms *= 10;
    return ms;
}

int rx_record_time_parse(const char *s, size_t len, int64_t *ms)
{
    size_t i = 0;
    int mo, d, y, h, mi, sec, frac, pm;

    mo = time_digits(s, len, &i, 1, 2);
    if (mo < 1 || mo > 12 || expect(s, len, &i, '/'))
        return HC_E_PARSE;
    d = time_digits(s, len, &i, 1, 2);
    if (d < 1 || expect(s, len, &i, '/'))
        return HC_E_PARSE;
    y = time_digits(s, len, &i, 4, 4);
    if (y < 1 || !hc_date_valid(y, mo, d) || expect(s, len, &i, ' '))
        return HC_E_PARSE;
    h = time_digits(s, len, &i, 1, 2);
    if (h < 1 || h > 12 || expect(s, len, &i, ':'))
        return HC_E_PARSE;
    mi = time_digits(s, len, &i, 2, 2);
    if (mi < 0 || mi > 59 || expect(s, len, &i, ':'))
        return HC_E_PARSE;
    sec = time_digits(s, len, &i, 2, 2);
    if (sec < 0 || sec > 59)
        return HC_E_PARSE;
    frac = fraction_ms(s, len, &i);
    if (frac < 0 || expect(s, len, &i, ' ') || len - i != 2 || s[i + 1] != 'M')
        return HC_E_PARSE;
    if (s[i] != 'A' && s[i] != 'P')
        return HC_E_PARSE;
    pm = s[i] == 'P';
    h = h % 12 + (pm ? 12 : 0);
    *ms = ((hc_days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + (int64_t)sec * 1000 + frac;
    return 0;
}

static int put_str_entry(struct hc_buf *out, const char *key, const void *v, size_t len)
{
    return rx_avro_put_bytes(out, key, strlen(key)) || rx_avro_put_long(out, RX_AVRO_STRING) ||
           rx_avro_put_bytes(out, v, len);
}

static int put_sysprops(struct hc_buf *out, const struct rx_record_meta *m,
                        const struct rx_event *ev)
{
    int64_t n = 1 + (ev->pkey != NULL) + (m->publisher != NULL);
    if (rx_avro_put_long(out, n) || rx_avro_put_bytes(out, "x-opt-enqueued-time", 19) ||
        rx_avro_put_long(out, RX_AVRO_LONG) || rx_avro_put_long(out, m->enq_ms))
        return -ENOMEM;
    if (ev->pkey && put_str_entry(out, "x-opt-partition-key", ev->pkey, ev->pkey_len))
        return -ENOMEM;
    if (m->publisher && put_str_entry(out, "x-opt-publisher", m->publisher, m->publisher_len))
        return -ENOMEM;
    return rx_avro_put_long(out, 0);
}

int rx_record_encode(struct hc_buf *out, const struct rx_record_meta *m, const struct rx_event *ev)
{
    size_t start = out->len;
    char off[24];
    int offn = snprintf(off, sizeof off, "%lld", (long long)m->offset);
    /* one reservation for the common case: no reallocation in the middle */
    if (hc_buf_reserve(out, 96 + m->enq_text_len + (ev->pkey ? ev->pkey_len : 0) +
                                m->publisher_len + ev->props_len + ev->body_len))
        return -ENOMEM;
    if (rx_avro_put_long(out, m->seq) || rx_avro_put_bytes(out, off, (size_t)offn) ||
        rx_avro_put_bytes(out, m->enq_text, m->enq_text_len) || put_sysprops(out, m, ev) ||
        hc_buf_add(out, ev->props, ev->props_len))
        goto out_undo;
    if (ev->body ? rx_avro_put_long(out, 1) || rx_avro_put_bytes(out, ev->body, ev->body_len)
                 : rx_avro_put_long(out, 0))
        goto out_undo;
    return 0;
out_undo:
    hc_buf_truncate(out, start);
    return -ENOMEM;
}

/*
 * Read one value of the union [long, double, string, bytes]: *branch, and *v/len its bytes (a
 * long or double: its encoding; a string or bytes: the content).
 */
static int union_value(const uint8_t **p, const uint8_t *end, int64_t *branch, const uint8_t **v,
                       size_t *len)
{
    const uint8_t *start;
    int64_t l;
    double d;
    int rc;
    if (rx_avro_get_long(p, end, branch))
        return HC_E_PARSE;
    start = *p;
    switch (*branch) {
    case RX_AVRO_LONG:
        rc = rx_avro_get_long(p, end, &l);
        break;
    case RX_AVRO_DOUBLE:
        rc = rx_avro_get_double(p, end, &d);
        break;
    case RX_AVRO_STRING:
    case RX_AVRO_BYTES:
        return rx_avro_get_bytes(p, end, v, len);
    default:
        return HC_E_PARSE;
    }
    *v = start;
    *len = (size_t)(*p - start);
    return rc;
}

/*
 * Walk an encoded map of the union (blocks may carry a negative count and a byte size) to its
 * end; when key is not NULL, stop at that key: return its branch and set *v/len. Returns 0 at the
 * end of the map (key not found), the branch + 1 (found), or HC_E_PARSE.
 */
static int walk_map(const uint8_t **p, const uint8_t *end, const char *key, const uint8_t **v,
                    size_t *len)
{
    size_t klen = key ? strlen(key) : 0;
    int64_t left = 0;
    int rc;
    while ((rc = rx_avro_map_next(p, end, &left)) > 0) {
        const uint8_t *k, *val;
        size_t kn, vn;
        int64_t branch;
        if (rx_avro_get_bytes(p, end, &k, &kn) || union_value(p, end, &branch, &val, &vn))
            return HC_E_PARSE;
        if (key && kn == klen && !memcmp(k, key, klen)) {
            *v = val;
            *len = vn;
            return (int)branch + 1;
        }
    }
    return rc;
}

int rx_record_decode(const uint8_t **p, const uint8_t *end, struct rx_record *r)
{
    const uint8_t *q = *p, *m;
    int64_t branch;
    memset(r, 0, sizeof *r);
    if (rx_avro_get_long(&q, end, &r->seq) ||
        rx_avro_get_bytes(&q, end, &r->offset, &r->offset_len) ||
        rx_avro_get_bytes(&q, end, &r->enq, &r->enq_len))
        return HC_E_PARSE;
    m = q;
    if (walk_map(&q, end, NULL, NULL, NULL))
        return HC_E_PARSE;
    r->sysprops = m;
    r->sysprops_len = (size_t)(q - m);
    m = q;
    if (walk_map(&q, end, NULL, NULL, NULL))
        return HC_E_PARSE;
    r->props = m;
    r->props_len = (size_t)(q - m);
    if (rx_avro_get_long(&q, end, &branch) || (branch != 0 && branch != 1))
        return HC_E_PARSE;
    r->has_body = branch == 1;
    if (r->has_body && rx_avro_get_bytes(&q, end, &r->body, &r->body_len))
        return HC_E_PARSE;
    *p = q;
    return 0;
}

int rx_record_map_get(const uint8_t *map, size_t map_len, const char *key, const uint8_t **v,
                      size_t *len)
{
    const uint8_t *p = map;
    int rc = walk_map(&p, map + map_len, key, v, len);
    return rc > 0 ? rc - 1 : -1;
}
