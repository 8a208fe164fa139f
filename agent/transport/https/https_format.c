/* https_format.c - the pure parts of the REST transport (https_conf.h): body, status, Retry-After.
 */
#include "agent/transport/https/https_conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hctime.h"
#include "common/uuid.h"

#define F_BODY   "{\"Body\":"
#define F_ID     ",\"UserProperties\":{\"event_id\":\""
#define F_DEVICE "\",\"device_id\":"
#define F_KIND   ",\"kind\":\""
#define F_SCHEMA "\",\"schema\":"
#define F_PKEY   "},\"BrokerProperties\":{\"PartitionKey\":"
#define F_END    "}}"
#define F_LEN(s) (sizeof(s) - 1)

static size_t https_int_len(int v)
{
    size_t n = v < 0 ? 2 : 1;
    unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;
    while (u >= 10) {
        u /= 10;
        n++;
    }
    return n;
}

size_t ag_https_record_size(const struct ag_record *rec)
{
    const struct hc_event *ev = &rec->ev;
    size_t dev = hc_json_str_len(ev->device_id, ev->device_id ? ev->device_id_len : 0);
    return 1 + F_LEN(F_BODY) + hc_json_str_len(rec->json, rec->json_len) + F_LEN(F_ID) +
           (HC_UUID_STRLEN - 1) + F_LEN(F_DEVICE) + dev + F_LEN(F_KIND) +
           strlen(hc_kind_name(ev->kind)) + F_LEN(F_SCHEMA) + https_int_len(ev->schema) +
           F_LEN(F_PKEY) + dev + F_LEN(F_END);
}

int ag_https_format_one(const struct ag_record *rec, char sep, struct hc_buf *out)
{
    const struct hc_event *ev = &rec->ev;
    const char *dev = ev->device_id ? ev->device_id : "";
    size_t dev_len = ev->device_id ? ev->device_id_len : 0;
    char id[HC_UUID_STRLEN];
    hc_uuid_format(ev->id, id);
    if (hc_buf_addc(out, sep) || hc_buf_add(out, F_BODY, F_LEN(F_BODY)) ||
        hc_buf_add_json_str(out, rec->json, rec->json_len) || hc_buf_add(out, F_ID, F_LEN(F_ID)) ||
        hc_buf_add(out, id, HC_UUID_STRLEN - 1) || hc_buf_add(out, F_DEVICE, F_LEN(F_DEVICE)) ||
        hc_buf_add_json_str(out, dev, dev_len) || hc_buf_add(out, F_KIND, F_LEN(F_KIND)) ||
        hc_buf_adds(out, hc_kind_name(ev->kind)) || hc_buf_add(out, F_SCHEMA, F_LEN(F_SCHEMA)) ||
        hc_buf_add_i64(out, ev->schema) || hc_buf_add(out, F_PKEY, F_LEN(F_PKEY)) ||
        hc_buf_add_json_str(out, dev, dev_len) || hc_buf_add(out, F_END, F_LEN(F_END)))
        return -ENOMEM;
    return 0;
}

int ag_https_format(const struct ag_record *const *recs, size_t n, struct hc_buf *out)
{
    size_t start = out->len, total = AG_HTTPS_BATCH_OVERHEAD;
    for (size_t i = 0; i < n; i++)
        total += ag_https_record_size(recs[i]);
    if (!n)
        total = 2;
    if (hc_buf_reserve(out, total))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (ag_https_format_one(recs[i], i ? ',' : '[', out))
            goto out_undo;
    }
    if ((!n && hc_buf_addc(out, '[')) || hc_buf_addc(out, ']'))
        goto out_undo;
    return 0;
out_undo:
    out->len = start;
    out->p[start] = '\0';
    return -ENOMEM;
}

/* ---- answers ------------------------------------------------------------------------------ */

enum ag_send_result ag_https_status_result(int status, enum ag_send_why *why)
{
    if (status == 200 || status == 201) {
        *why = AG_WHY_NONE;
        return AG_SEND_OK;
    }
    if (status == 401 || status == 403) {
        *why = AG_WHY_AUTH;
        return AG_SEND_RETRY;
    }
    if (status == 400 || status == 413) {
        *why = AG_WHY_SIZE;
        return AG_SEND_REJECT;
    }
    if (status == 429 || status == 503) {
        *why = AG_WHY_THROTTLED;
        return AG_SEND_RETRY;
    }
    if (status >= 400 && status < 500 && status != 408 && status != 410) {
        *why = AG_WHY_REFUSED;
        return AG_SEND_REJECT;
    }
    *why = AG_WHY_SERVER;
    return AG_SEND_RETRY;
}

static int https_month(const char *name)
{
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (strlen(name) != 3)
        return 0;
    for (int i = 0; i < 12; i++)
        if (strncasecmp(name, names + 3 * i, 3) == 0)
            return i + 1;
    return 0;
}

/* An HTTP-date (RFC 9110 5.6.7: IMF-fixdate, RFC 850, asctime) as ms since the epoch, or -1. */
static int64_t https_http_date(const char *v)
{
    char wd[16], mon[4];
    int d = 0, y = 0, hh = 0, mm = 0, ss = 0, m, n = 0;
    int imf = sscanf(v, "%15[A-Za-z], %2d %3s %4d %2d:%2d:%2d GMT%n", wd, &d, mon, &y, &hh, &mm,
                     &ss, &n) == 7 &&
              n;
    if (!imf) {
        n = 0;
        if (sscanf(v, "%15[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", wd, &d, mon, &y, &hh,
                   &mm, &ss, &n) == 7 &&
            n)
            y += y < 70 ? 2000 : 1900; /* RFC 850 */
        else if (sscanf(v, "%3s %3s %2d %2d:%2d:%2d %4d%n", wd, mon, &d, &hh, &mm, &ss, &y, &n) !=
                     7 ||
                 !n)
            return -1; /* not asctime either */
    }
    m = https_month(mon);
    if (!m || d < 1 || d > 31 || y < 1970 || hh > 23 || mm > 59 || ss > 60 || hh < 0 || mm < 0 ||
        ss < 0)
        return -1;
    return ((hc_days_from_civil(y, m, d) * 24 + hh) * 60 + mm) * 60000LL + ss * 1000LL;
}

int64_t ag_https_retry_after_ms(const char *value, int64_t now_ms)
{
    const char *p = value;
    int64_t secs = 0, at;
    if (!value)
        return -1;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p >= '0' && *p <= '9') {
        for (; *p >= '0' && *p <= '9'; p++) {
            if (secs > 100000000)
                return -1;
            secs = secs * 10 + (*p - '0');
        }
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        return *p ? -1 : secs * 1000;
    }
    at = https_http_date(p);
    if (at < 0)
        return -1;
    return at > now_ms ? at - now_ms : 0;
}

/* Copy a header's value (trimmed) when the line is "name: value". */
static int https_header_is(const char *line, size_t len, const char *name, char *out)
{
    size_t nl = strlen(name), vl;
    const char *v, *end = line + len;
    if (len <= nl || strncasecmp(line, name, nl) || line[nl] != ':')
        return 0;
    for (v = line + nl + 1; v < end && (*v == ' ' || *v == '\t'); v++)
        ;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    vl = (size_t)(end - v) < AG_HTTPS_HDR_MAX - 1 ? (size_t)(end - v) : AG_HTTPS_HDR_MAX - 1;
    memcpy(out, v, vl);
    out[vl] = '\0';
    return 1;
}

int ag_https_header_line(struct ag_https_wish *w, const char *line, size_t len)
{
    if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
        memset(w, 0, sizeof *w);
        return 1;
    }
    if (!https_header_is(line, len, "Retry-After", w->retry_after) &&
        !https_header_is(line, len, "retry-after-ms", w->retry_after_ms))
        https_header_is(line, len, "x-ms-retry-after-ms", w->retry_after_ms);
    return 0;
}

/* A whole number of milliseconds from a retry-after-ms header, or -1. */
static int64_t https_ms_value(const char *v)
{
    char *end;
    long long ms;
    errno = 0;
    ms = strtoll(v, &end, 10);
    if (errno || end == v || *end || ms < 0)
        return -1;
    return (int64_t)ms;
}

int64_t ag_https_wish_ms(const struct ag_https_wish *w, int64_t now_ms)
{
    int64_t ms = w->retry_after_ms[0] ? https_ms_value(w->retry_after_ms) : -1;
    if (ms < 0 && w->retry_after[0])
        ms = ag_https_retry_after_ms(w->retry_after, now_ms);
    return ms;
}
