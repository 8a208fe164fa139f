#include "common/envelope.h"
#include "common/error.h"
#include "common/hctime.h"
#include "common/uuid.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[HC_KIND_COUNT] = {"unknown", "order_line", "order_status",
                                                      "car_listing"};

const char *hc_kind_name(enum hc_kind kind)
{
    if ((int)kind <= 0 || (int)kind >= HC_KIND_COUNT)
        return kind_names[0];
    return kind_names[kind];
}

enum hc_kind hc_kind_parse(const char *s, size_t len)
{
    if (!s)
        return HC_KIND_UNKNOWN;
    if (len == (size_t)-1)
        len = strlen(s);
    for (int k = 1; k < HC_KIND_COUNT; k++)
        if (strlen(kind_names[k]) == len && !memcmp(kind_names[k], s, len))
            return (enum hc_kind)k;
    return HC_KIND_UNKNOWN;
}

int hc_event_encode(const struct hc_event *ev, struct hc_buf *out)
{
    char id[HC_UUID_STRLEN], ts[HC_TIME_STRLEN];
    size_t start = out->len;
    int rc = 0;

    if (!ev->device_id_len || ev->device_id_len > HC_DEVICE_ID_MAX || ev->kind == HC_KIND_UNKNOWN ||
        !ev->data_len)
        return HC_E_INVAL;
    /* Fixed part is about 150 bytes plus the escaped device id. */
    if (ev->data_len + 160 + ev->device_id_len * 6 > HC_EVENT_MAX)
        return HC_E_TOOBIG;
    hc_uuid_format(ev->id, id);
    hc_time_format(ev->event_time_ms, ts);
    rc |= hc_buf_add(out, "{\"event_id\":\"", 13);
    rc |= hc_buf_add(out, id, 36);
    rc |= hc_buf_add(out, "\",\"device_id\":", 14);
    rc |= hc_buf_add_json_str(out, ev->device_id, ev->device_id_len);
    rc |= hc_buf_add(out, ",\"kind\":\"", 9);
    rc |= hc_buf_adds(out, hc_kind_name(ev->kind));
    rc |= hc_buf_add(out, "\",\"schema\":", 11);
    rc |= hc_buf_add_i64(out, ev->schema);
    rc |= hc_buf_add(out, ",\"event_time\":\"", 15);
    rc |= hc_buf_add(out, ts, 24);
    rc |= hc_buf_add(out, "\",\"data\":", 9);
    rc |= hc_buf_add(out, ev->data, ev->data_len);
    rc |= hc_buf_addc(out, '}');
    if (rc) {
        out->len = start;
        return -ENOMEM;
    }
    if (out->len - start > HC_EVENT_MAX) {
        out->len = start;
        out->p[start] = '\0';
        return HC_E_TOOBIG;
    }
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
