#include "receiver/lake/capture_read.h"

#include <avro.h>
#include <errno.h>
#include <mbedtls/base64.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "receiver/capture/scan.h"

#define CAPTURE_HEADER_MAX 65536 /* a Capture file's header (schema, codec, sync) fits */

/* The reader's working state for one file. */
struct capture_cursor {
    avro_value_t value;
    struct hc_buf sys, props, b64;
};

static int add_b64(struct hc_buf *out, struct hc_buf *tmp, const void *p, size_t len)
{
    size_t olen = 0;
    hc_buf_reset(tmp);
    if (hc_buf_reserve(tmp, len / 3 * 4 + 8))
        return -ENOMEM;
    if (mbedtls_base64_encode((unsigned char *)tmp->p, tmp->cap, &olen, p, len))
        return -ENOMEM;
    return hc_buf_adds(out, "{\"$bytes\":\"") || hc_buf_add(out, tmp->p, olen) ||
                   hc_buf_adds(out, "\"}")
               ? -ENOMEM
               : 0;
}

/* Append one map value (a [long, double, string, bytes] union, or a bare type) as JSON. */
static int add_map_value(struct hc_buf *out, struct hc_buf *tmp, avro_value_t *v)
{
    avro_value_t branch;
    int64_t l;
    double d;
    const char *s;
    const void *p;
    size_t len;

    if (avro_value_get_type(v) == AVRO_UNION) {
        if (avro_value_get_current_branch(v, &branch))
            return HC_E_PARSE;
        v = &branch;
    }
    switch (avro_value_get_type(v)) {
    case AVRO_INT64:
        return avro_value_get_long(v, &l) ? HC_E_PARSE : hc_buf_add_i64(out, l);
    case AVRO_INT32: {
        int32_t i;
        return avro_value_get_int(v, &i) ? HC_E_PARSE : hc_buf_add_i64(out, i);
    }
    case AVRO_DOUBLE:
        if (avro_value_get_double(v, &d))
            return HC_E_PARSE;
        return d == d && d - d == 0 ? hc_buf_addf(out, "%.17g", d) : hc_buf_adds(out, "null");
    case AVRO_STRING:
        if (avro_value_get_string(v, &s, &len))
            return HC_E_PARSE;
        len = len ? len - 1 : 0; /* libavro counts the NUL */
        /* jsonb takes neither invalid UTF-8 nor \u0000: such a string goes as bytes */
        return hc_utf8_valid(s, len) && !memchr(s, 0, len) ? hc_buf_add_json_str(out, s, len)
                                                           : add_b64(out, tmp, s, len);
    case AVRO_BYTES:
        if (avro_value_get_bytes(v, &p, &len))
            return HC_E_PARSE;
        return add_b64(out, tmp, p, len);
    default:
        return hc_buf_adds(out, "null");
    }
}

/* The map field name of the record as a JSON object into out. */
static int map_json(avro_value_t *rec, const char *name, struct hc_buf *out, struct hc_buf *tmp)
{
    avro_value_t map, v;
    size_t n, i, klen;
    const char *key;
    int rc;

    hc_buf_reset(out);
    if (avro_value_get_by_name(rec, name, &map, NULL) || avro_value_get_type(&map) != AVRO_MAP ||
        avro_value_get_size(&map, &n))
        return HC_E_PARSE;
    if (hc_buf_addc(out, '{'))
        return -ENOMEM;
    for (i = 0; i < n; i++) {
        if (avro_value_get_by_index(&map, i, &v, &key))
            return HC_E_PARSE;
        klen = strlen(key);
        if ((i && hc_buf_addc(out, ',')) ||
            (hc_utf8_valid(key, klen) ? hc_buf_add_json_str(out, key, klen)
                                      : hc_buf_add_json_str(out, "?", 1)) ||
            hc_buf_addc(out, ':'))
            return -ENOMEM;
        if ((rc = add_map_value(out, tmp, &v)))
            return rc;
    }
    return hc_buf_addc(out, '}') ? -ENOMEM : 0;
}

/* The long value of a map entry (a union of [long, ...] or a bare long) into *ms; 0 when it is one.
 */
static int map_long(avro_value_t *v, int64_t *ms)
{
    avro_value_t b;
    if (avro_value_get_type(v) == AVRO_UNION) {
        if (avro_value_get_current_branch(v, &b))
            return -1;
        v = &b;
    }
    if (avro_value_get_type(v) == AVRO_DOUBLE) { /* some writers pick the double branch */
        double d;
        if (avro_value_get_double(v, &d) || !(d > -9e15 && d < 9e15))
            return -1;
        *ms = (int64_t)d;
        return 0;
    }
    return avro_value_get_type(v) == AVRO_INT64 && !avro_value_get_long(v, ms) ? 0 : -1;
}

/* The enqueued time: x-opt-enqueued-time (ms), else the EnqueuedTimeUtc text. */
static void enq_time(avro_value_t *rec, struct rx_land_rec *r)
{
    avro_value_t map, v;
    size_t n, i;
    const char *key;
    int64_t ms;

    r->enq_ok = 0;
    if (!avro_value_get_by_name(rec, "SystemProperties", &map, NULL) &&
        !avro_value_get_size(&map, &n)) {
        for (i = 0; i < n; i++) {
            if (!avro_value_get_by_index(&map, i, &v, &key) &&
                !strcmp(key, "x-opt-enqueued-time") && !map_long(&v, &ms)) {
                r->enq_ms = ms;
                r->enq_ok = 1;
                return;
            }
        }
    }
    if (r->enq_text && !rx_record_time_parse(r->enq_text, strlen(r->enq_text), &ms)) {
        r->enq_ms = ms;
        r->enq_ok = 1;
    }
}

/* Fill r from the current record. Returns 0, HC_E_PARSE or -ENOMEM. */
static int decode(struct capture_cursor *c, struct rx_land_rec *r)
{
    avro_value_t f, b;
    size_t len;
    int disc, rc;

    memset(r, 0, sizeof *r);
    if (avro_value_get_by_name(&c->value, "SequenceNumber", &f, NULL) ||
        avro_value_get_long(&f, &r->seq))
        return HC_E_PARSE;
    if (avro_value_get_by_name(&c->value, "Offset", &f, NULL) ||
        avro_value_get_string(&f, &r->offset, &len))
        return HC_E_PARSE;
    if (avro_value_get_by_name(&c->value, "EnqueuedTimeUtc", &f, NULL) ||
        avro_value_get_string(&f, &r->enq_text, &len))
        return HC_E_PARSE;
    if ((rc = map_json(&c->value, "SystemProperties", &c->sys, &c->b64)) ||
        (rc = map_json(&c->value, "Properties", &c->props, &c->b64)))
        return rc;
    r->sysprops = c->sys.p;
    r->props = c->props.p;
    enq_time(&c->value, r);
    if (avro_value_get_by_name(&c->value, "Body", &f, NULL))
        return HC_E_PARSE;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        if (avro_value_get_discriminant(&f, &disc) || avro_value_get_current_branch(&f, &b))
            return HC_E_PARSE;
        f = b;
    }
    if (avro_value_get_type(&f) == AVRO_BYTES)
        return avro_value_get_bytes(&f, &r->body, &r->body_len) ? HC_E_PARSE : 0;
    return 0; /* a null body */
}

/*
 * Check the container header (magic, metadata, codec) with the receiver's own scanner before
 * libavro opens the file: libavro leaks what it allocated when a header is damaged, and says
 * less about why. Returns 0, -errno, HC_E_PARSE or HC_E_VERSION (codec not null or deflate).
 */
static int check_header(const char *path, const char **why)
{
    static _Thread_local uint8_t head[CAPTURE_HEADER_MAX];
    struct rx_avro_scan scan;
    size_t n;
    int rc;
    FILE *f = fopen(path, "rb");

    if (!f) {
        *why = "cannot open the file";
        return -errno;
    }
    n = fread(head, 1, sizeof head, f);
    rc = ferror(f) ? -EIO : 0;
    fclose(f);
    if (rc) {
        *why = "cannot read the file";
        return rc;
    }
    rc = rx_avro_scan(head, n, &scan);
    if (rc == HC_E_VERSION)
        *why = "an Avro codec other than null or deflate";
    else if (rc)
        *why = "not an Avro object container file (bad or incomplete header)";
    return rc;
}

int rx_land_read_capture(const char *path, rx_land_rec_fn fn, void *ctx, const char **why)
{
    struct capture_cursor c = {.sys = HC_BUF_INIT, .props = HC_BUF_INIT, .b64 = HC_BUF_INIT};
    avro_file_reader_t reader;
    avro_schema_t schema;
    avro_value_iface_t *iface;
    struct rx_land_rec r;
    int rc;
    const char *dummy;

    if (!why)
        why = &dummy;
    *why = "";
    if ((rc = check_header(path, why)))
        return rc;
    if (avro_file_reader(path, &reader)) {
        *why = avro_strerror();
        return errno ? -errno : HC_E_PARSE;
    }
    schema = avro_file_reader_get_writer_schema(reader); /* a reference of ours */
    iface = avro_generic_class_from_schema(schema);
    if (!iface || avro_generic_value_new(iface, &c.value)) {
        rc = -ENOMEM;
        goto out_iface;
    }
    while ((rc = avro_file_reader_read_value(reader, &c.value)) == 0) {
        if ((rc = decode(&c, &r))) {
            *why = "a record that is not an Event Hubs Capture EventData";
            goto out_value;
        }
        if ((rc = fn(ctx, &r)))
            goto out_value;
    }
    if (rc == EOF) {
        rc = 0;
    } else {
        *why = avro_strerror();
        rc = HC_E_PARSE;
    }
out_value:
    avro_value_decref(&c.value);
out_iface:
    if (iface)
        avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    avro_file_reader_close(reader);
    hc_buf_free(&c.sys);
    hc_buf_free(&c.props);
    hc_buf_free(&c.b64);
    return rc;
}
