/*
 * envelope_write.c - the envelope JSON of an event, written straight into the record's LMDB page.
 *
 * The output is byte for byte what hc_event_encode() (common/envelope.c) makes, which stays the
 * definition of the envelope: debug builds compare every put with it (queue.c), and
 * tests/unit/agent/test_queue.c compares thousands of random events. This copy exists for speed
 * alone: hc_event_encode() appends to an hc_buf piece by piece and formats the time and id with
 * general code, which cost more than LMDB's own part of a put (bench-enqueue). Here the exact
 * length is computed first (so the record can be reserved with MDB_RESERVE), the id is formatted
 * from a table, and the date part of the time is hc_time_format()'s own output, kept per day.
 * If the envelope ever changes in common/, change it here too (the tests will say so).
 */
#include "agent/buffer/queue_int.h"
#include "common/error.h"
#include "common/hctime.h"

#include <string.h>

#define MS_PER_DAY 86400000ll

/* Bytes of s as a JSON string literal, quotes included (hc_buf_add_json_str's escapes). */
static size_t json_str_len(const char *s, size_t n)
{
    size_t len = n + 2;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        len +=
            c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f'
                ? 1
                : 5;
    }
    return len;
}

static char *json_str(char *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *o++ = (char)c;
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o++ = '"';
    return o;
}

/* Decimal digits of v, with its sign. */
static size_t i64_len(int64_t v)
{
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    size_t n = v < 0 ? 2 : 1;
    while (u >= 10) {
        u /= 10;
        n++;
    }
    return n;
}

static char *i64_put(char *o, int64_t v, size_t len)
{
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    char *p = o + len;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return o + len;
}

/* 8-4-4-4-12 lower-case hex, as hc_uuid_format. */
static char *uuid_put(char *o, const uint8_t id[16])
{
    static const char hex[] = "0123456789abcdef";
    static const uint8_t pos[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
    for (int i = 0; i < 16; i++) {
        o[pos[i]] = hex[id[i] >> 4];
        o[pos[i] + 1] = hex[id[i] & 15];
    }
    o[8] = o[13] = o[18] = o[23] = '-';
    return o + 36;
}

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

/* hc_time_format(ms): the date from hc_time_format itself (once per day), the time here. */
static char *time_put(char *o, int64_t ms, struct ag_day_cache *dc)
{
    int64_t days = ms >= 0 ? ms / MS_PER_DAY : -((-ms + MS_PER_DAY - 1) / MS_PER_DAY);
    int rem = (int)(ms - days * MS_PER_DAY);
    if (!dc->valid || dc->days != days) {
        char full[HC_TIME_STRLEN];
        hc_time_format(days * MS_PER_DAY, full);
        memcpy(dc->ymd, full, sizeof dc->ymd);
        dc->days = days;
        dc->valid = 1;
    }
    memcpy(o, dc->ymd, sizeof dc->ymd); /* "YYYY-MM-DDT" */
    put2(o + 11, rem / 3600000);
    o[13] = ':';
    put2(o + 14, rem / 60000 % 60);
    o[16] = ':';
    put2(o + 17, rem / 1000 % 60);
    o[19] = '.';
    o[20] = (char)('0' + rem % 1000 / 100);
    o[21] = (char)('0' + rem % 100 / 10);
    o[22] = (char)('0' + rem % 10);
    o[23] = 'Z';
    return o + 24;
}

#define LIT(o, s) (memcpy((o), (s), sizeof(s) - 1), (o) + sizeof(s) - 1)

int ag_queue__env_len(const struct hc_event *ev, size_t *len)
{
    size_t n;
    /* hc_event_encode's checks, in its order. */
    if (!ev->device_id_len || ev->device_id_len > HC_DEVICE_ID_MAX || ev->kind == HC_KIND_UNKNOWN ||
        !ev->data_len)
        return HC_E_INVAL;
    if (ev->data_len + 160 + ev->device_id_len * 6 > HC_EVENT_MAX)
        return HC_E_TOOBIG;
    n = sizeof "{\"event_id\":\"" - 1 + 36 + sizeof "\",\"device_id\":" - 1 +
        json_str_len(ev->device_id, ev->device_id_len) + sizeof ",\"kind\":\"" - 1 +
        strlen(hc_kind_name(ev->kind)) + sizeof "\",\"schema\":" - 1 + i64_len(ev->schema) +
        sizeof ",\"event_time\":\"" - 1 + 24 + sizeof "\",\"data\":" - 1 + ev->data_len + 1;
    if (n > HC_EVENT_MAX)
        return HC_E_TOOBIG;
    *len = n;
    return 0;
}

void ag_queue__env_write(char *o, const struct hc_event *ev, struct ag_day_cache *dc)
{
    const char *kind = hc_kind_name(ev->kind);
    o = LIT(o, "{\"event_id\":\"");
    o = uuid_put(o, ev->id);
    o = LIT(o, "\",\"device_id\":");
    o = json_str(o, ev->device_id, ev->device_id_len);
    o = LIT(o, ",\"kind\":\"");
    memcpy(o, kind, strlen(kind));
    o += strlen(kind);
    o = LIT(o, "\",\"schema\":");
    o = i64_put(o, ev->schema, i64_len(ev->schema));
    o = LIT(o, ",\"event_time\":\"");
    o = time_put(o, ev->event_time_ms, dc);
    o = LIT(o, "\",\"data\":");
    memcpy(o, ev->data, ev->data_len);
    o[ev->data_len] = '}';
}
