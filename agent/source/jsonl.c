#include "agent/source/colmap.h"
#include "common/error.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <string.h>

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *type_name(const cJSON *it)
{
    if (cJSON_IsBool(it))
        return "boolean";
    if (cJSON_IsArray(it))
        return "array";
    return "object";
}

/* One member of a bare object into vals. num holds formatted numbers. 0 or HC_E_INVAL. */
static int take_member(const struct ag_colmap *m, const cJSON *it, struct ag_val *vals,
                       char (*num)[AG_NUM_STRLEN], struct hc_buf *why)
{
    int f = ag_colmap_field(m, it->string, strlen(it->string));
    struct ag_val *v;

    if (f < 0)
        return 0; /* not a field of the kind: ignored, as extra CSV columns are */
    v = &vals[f];
    if (v->src)
        return hc_buf_addf(why, "keys '%s' and '%s' both map to field %s", v->src, it->string,
                           m->fields[f].name)
                   ? -ENOMEM
                   : HC_E_INVAL;
    v->src = it->string;
    v->null = 0;
    if (cJSON_IsString(it)) {
        v->s = it->valuestring;
        v->len = strlen(it->valuestring);
    } else if (cJSON_IsNumber(it)) {
        if (!isfinite(it->valuedouble))
            return hc_buf_addf(why, "field %s: number out of range", it->string) ? -ENOMEM
                                                                                 : HC_E_INVAL;
        v->s = num[f];
        v->len = ag_fmt_double(it->valuedouble, num[f]);
    } else if (cJSON_IsNull(it)) {
        v->s = "";
        v->null = 1;
    } else {
        return hc_buf_addf(why, "field %s: %s where a string or number belongs", it->string,
                           type_name(it))
                   ? -ENOMEM
                   : HC_E_INVAL;
    }
    return 0;
}

static int bare_object(const struct ag_colmap *m, const cJSON *root, const char *device_id,
                       struct hc_buf *data, struct hc_buf *why, struct hc_event *ev)
{
    struct ag_val vals[AG_FIELDS_MAX];
    char num[AG_FIELDS_MAX][AG_NUM_STRLEN];
    const cJSON *it;
    int rc;

    memset(vals, 0, sizeof vals);
    for (size_t i = 0; i < AG_FIELDS_MAX; i++) {
        vals[i].s = "";
        vals[i].null = 1;
    }
    cJSON_ArrayForEach(it, root)
    {
        rc = take_member(m, it, vals, num, why);
        if (rc)
            return rc;
    }
    rc = ag_colmap_convert(m, vals, "field", data, &ev->event_time_ms, why);
    if (rc)
        return rc;
    memset(ev->id, 0, sizeof ev->id);
    ev->device_id = device_id;
    ev->device_id_len = strlen(device_id);
    ev->kind = m->kind;
    ev->schema = 1;
    ev->data = data->p;
    ev->data_len = data->len;
    return 0;
}

static int envelope(const char *line, size_t len, const char *device_id, struct hc_event_doc *doc,
                    int *doc_used, struct hc_buf *why, struct hc_event *ev)
{
    const char *r = NULL;
    int rc = hc_event_decode(line, len, doc, &r);

    if (rc)
        return hc_buf_addf(why, "envelope: %s", r ? r : hc_strerror(rc)) ? -ENOMEM : rc;
    *doc_used = 1;
    *ev = doc->ev;
    if (!ev->device_id_len) {
        ev->device_id = device_id;
        ev->device_id_len = strlen(device_id);
    }
    return 0;
}

int ag_jsonl_event(const struct ag_colmap *m, const char *line, size_t len, const char *device_id,
                   struct hc_event_doc *doc, int *doc_used, struct hc_buf *data, struct hc_buf *why,
                   struct hc_event *ev)
{
    const char *end = NULL;
    cJSON *root;
    size_t i;
    int rc;

    *doc_used = 0;
    for (i = 0; i < len && is_ws(line[i]); i++)
        ;
    if (i == len)
        return HC_E_DONE;
    root = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (!root) {
        size_t at = end && end >= line && end <= line + len ? (size_t)(end - line) : 0;
        return hc_buf_addf(why, "invalid JSON near byte %zu", at + 1) ? -ENOMEM : HC_E_PARSE;
    }
    for (i = (size_t)(end - line); i < len && is_ws(line[i]); i++)
        ;
    if (i < len) {
        rc =
            hc_buf_addf(why, "text after the JSON value at byte %zu", i + 1) ? -ENOMEM : HC_E_PARSE;
    } else if (!cJSON_IsObject(root)) {
        rc = hc_buf_adds(why, "not a JSON object") ? -ENOMEM : HC_E_PARSE;
    } else if (cJSON_GetObjectItemCaseSensitive(root, "kind") &&
               cJSON_GetObjectItemCaseSensitive(root, "data")) {
        rc = envelope(line, len, device_id, doc, doc_used, why, ev);
    } else {
        rc = bare_object(m, root, device_id, data, why, ev);
    }
    cJSON_Delete(root);
    return rc;
}
