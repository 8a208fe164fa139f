#include "common/envelope.h"
#include "common/error.h"
#include "common/hctime.h"
#include "common/uuid.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Kind names with their lengths (the encoder copies them without a strlen). */
/* clang-format off */
#define KIND(s) {s, sizeof s - 1}
/* clang-format on */
static const struct {
    const char *s;
    size_t len;
} kind_names[HC_KIND_COUNT] = {KIND("unknown"), KIND("order_line"), KIND("order_status"),
                               KIND("car_listing")};

static int kind_index(enum hc_kind kind)
{
    return (int)kind <= 0 || (int)kind >= HC_KIND_COUNT ? 0 : (int)kind;
}

const char *hc_kind_name(enum hc_kind kind)
{
    return kind_names[kind_index(kind)].s;
}

enum hc_kind hc_kind_parse(const char *s, size_t len)
{
    if (!s)
        return HC_KIND_UNKNOWN;
    if (len == (size_t)-1)
        len = strlen(s);
    for (int k = 1; k < HC_KIND_COUNT; k++)
        if (kind_names[k].len == len && !memcmp(kind_names[k].s, s, len))
            return (enum hc_kind)k;
    return HC_KIND_UNKNOWN;
}

/*
 * The envelope is these texts, in this order, with the values between them:
 *   ID event_id DEVICE device_id KIND kind SCHEMA schema TIME event_time DATA data END
 */
#define P_ID       "{\"event_id\":\""
#define P_DEVICE   "\",\"device_id\":"
#define P_KIND     ",\"kind\":\""
#define P_SCHEMA   "\",\"schema\":"
#define P_TIME     ",\"event_time\":\""
#define P_DATA     "\",\"data\":"
#define P_END      "}"
#define LIT_LEN(s) (sizeof s - 1)
/* The literals, the id and the time: every envelope has these bytes. */
#define FIXED_LEN                                                                                  \
    (LIT_LEN(P_ID) + 36 + LIT_LEN(P_DEVICE) + LIT_LEN(P_KIND) + LIT_LEN(P_SCHEMA) +                \
     LIT_LEN(P_TIME) + 24 + LIT_LEN(P_DATA) + LIT_LEN(P_END))

int hc_event_encoded_len(const struct hc_event *ev, size_t *len)
{
    size_t n;

    if (!ev->device_id_len || ev->device_id_len > HC_DEVICE_ID_MAX || ev->kind == HC_KIND_UNKNOWN ||
        !ev->data_len)
        return HC_E_INVAL;
    /*
     * A bound from before the length was computed exactly (about 150 fixed bytes and the device
     * id escaped at worst), kept so that what is refused does not change. Written so that no
     * data_len can overflow it; device_id_len * 6 is at most 768.
     */
    if (ev->data_len > HC_EVENT_MAX - 160 - ev->device_id_len * 6)
        return HC_E_TOOBIG;
    n = FIXED_LEN + hc_json_str_len(ev->device_id, ev->device_id_len) +
        kind_names[kind_index(ev->kind)].len + hc_i64_len(ev->schema) + ev->data_len;
    if (n > HC_EVENT_MAX)
        return HC_E_TOOBIG;
    *len = n;
    return 0;
}

/* n bytes of s at o; returns the end. */
static char *put(char *o, const void *s, size_t n)
{
    memcpy(o, s, n);
    return o + n;
}

size_t hc_event_encode_to(const struct hc_event *ev, char *dst)
{
    char id[HC_UUID_STRLEN], ts[HC_TIME_STRLEN];
    int k = kind_index(ev->kind);
    char *o = dst;

    hc_uuid_format(ev->id, id);
    hc_time_format(ev->event_time_ms, ts);
    o = put(o, P_ID, LIT_LEN(P_ID));
    o = put(o, id, 36);
    o = put(o, P_DEVICE, LIT_LEN(P_DEVICE));
    o = hc_json_str_put(o, ev->device_id, ev->device_id_len);
    o = put(o, P_KIND, LIT_LEN(P_KIND));
    o = put(o, kind_names[k].s, kind_names[k].len);
    o = put(o, P_SCHEMA, LIT_LEN(P_SCHEMA));
    o = hc_i64_put(o, ev->schema);
    o = put(o, P_TIME, LIT_LEN(P_TIME));
    o = put(o, ts, 24);
    o = put(o, P_DATA, LIT_LEN(P_DATA));
    o = put(o, ev->data, ev->data_len);
    o = put(o, P_END, LIT_LEN(P_END));
    return (size_t)(o - dst);
}

int hc_event_encode(const struct hc_event *ev, struct hc_buf *out)
{
    size_t n;
    int rc = hc_event_encoded_len(ev, &n);

    if (rc)
        return rc;
    if (hc_buf_reserve(out, n))
        return -ENOMEM;
    out->len += hc_event_encode_to(ev, out->p + out->len);
    out->p[out->len] = '\0';
    return 0;
}

int hc_event_decode(const char *json, size_t len, struct hc_event_doc *doc, const char **why)
{
    const char *r = NULL;
    cJSON *root, *it;
    char *data = NULL;
    int rc = 0;

    memset(doc, 0, sizeof *doc);
    if (len > HC_EVENT_MAX) {
        if (why)
            *why = "event larger than 256 KiB";
        return HC_E_TOOBIG;
    }
    if (!hc_utf8_valid(json, len)) {
        if (why)
            *why = "invalid UTF-8";
        return HC_E_UTF8;
    }
    root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        if (why)
            *why = "not a JSON object";
        cJSON_Delete(root);
        return HC_E_PARSE;
    }
    it = cJSON_GetObjectItemCaseSensitive(root, "event_id");
    if (it && !cJSON_IsNull(it) &&
        (!cJSON_IsString(it) ||
         hc_uuid_parse(it->valuestring, strlen(it->valuestring), doc->ev.id))) {
        rc = HC_E_INVAL;
        r = "event_id is not a UUID";
        goto out_free_json;
    }
    it = cJSON_GetObjectItemCaseSensitive(root, "kind");
    if (!cJSON_IsString(it)) {
        rc = HC_E_INVAL;
        r = "kind missing";
        goto out_free_json;
    }
    doc->ev.kind = hc_kind_parse(it->valuestring, (size_t)-1);
    if (doc->ev.kind == HC_KIND_UNKNOWN) {
        rc = HC_E_INVAL;
        r = "unknown kind";
        goto out_free_json;
    }
    it = cJSON_GetObjectItemCaseSensitive(root, "schema");
    doc->ev.schema = 1;
    if (it) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 1 || it->valuedouble > 65535 ||
            floor(it->valuedouble) != it->valuedouble) {
            rc = HC_E_INVAL;
            r = "schema is not a positive integer";
            goto out_free_json;
        }
        doc->ev.schema = it->valueint;
    }
    it = cJSON_GetObjectItemCaseSensitive(root, "event_time");
    if (!cJSON_IsString(it) || hc_time_parse(it->valuestring, -1, &doc->ev.event_time_ms)) {
        rc = HC_E_INVAL;
        r = "event_time missing or not a timestamp";
        goto out_free_json;
    }
    it = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!cJSON_IsObject(it)) {
        rc = HC_E_INVAL;
        r = "data is not an object";
        goto out_free_json;
    }
    data = cJSON_PrintUnformatted(it);
    if (!data) {
        rc = -ENOMEM;
        r = "out of memory";
        goto out_free_json;
    }
    it = cJSON_GetObjectItemCaseSensitive(root, "device_id");
    {
        size_t dlen = cJSON_IsString(it) ? strlen(it->valuestring) : 0;
        size_t blen = strlen(data);
        if (it && !cJSON_IsNull(it) && (!cJSON_IsString(it) || !dlen || dlen > HC_DEVICE_ID_MAX)) {
            rc = HC_E_INVAL;
            r = "device_id is not a string of 1 to 128 bytes";
            goto out_free_json;
        }
        doc->mem = malloc(dlen + blen + 2);
        if (!doc->mem) {
            rc = -ENOMEM;
            r = "out of memory";
            goto out_free_json;
        }
        if (dlen)
            memcpy(doc->mem, it->valuestring, dlen);
        doc->mem[dlen] = '\0';
        memcpy(doc->mem + dlen + 1, data, blen + 1);
        doc->ev.device_id = doc->mem;
        doc->ev.device_id_len = dlen;
        doc->ev.data = doc->mem + dlen + 1;
        doc->ev.data_len = blen;
    }
out_free_json:
    free(data);
    cJSON_Delete(root);
    if (rc && why)
        *why = r;
    return rc;
}

void hc_event_doc_free(struct hc_event_doc *doc)
{
    if (!doc)
        return;
    free(doc->mem);
    doc->mem = NULL;
}
