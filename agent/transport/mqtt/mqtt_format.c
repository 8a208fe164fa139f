/*
 * mqtt_format.c - the pure parts of the MQTT transport (mqtt_conf.h): topics with IoT Hub's
 * property bag, the packed form's topic and items, the IoT Hub username and device SAS token,
 * the PUBLISH packet, reason codes.
 */
#include <ctype.h>
#include <errno.h>
#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <stdio.h>
#include <string.h>

#include "agent/transport/mqtt/mqtt_conf.h"
#include "common/error.h"
#include "common/uuid.h"

#define LIT(s) (sizeof(s) - 1)

static int unreserved(unsigned char ch)
{
    return isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

int ag_mqtt_encode(struct hc_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        int rc = unreserved(ch) ? hc_buf_addc(out, (char)ch)
                                : hc_buf_addf(out, "%%%c%c", hex[ch >> 4], hex[ch & 15]);
        if (rc)
            return rc;
    }
    return 0;
}

static size_t encoded_len(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += unreserved((unsigned char)s[i]) ? 1 : 3;
    return n;
}

int ag_mqtt_iothub_username(const char *host, const char *device, struct hc_buf *out)
{
    return hc_buf_addf(out, "%s/%s/?api-version=" AG_MQTT_API_VERSION, host, device);
}

int ag_mqtt_iothub_sas(const char *host, const char *device, const char *key, int64_t expiry_s,
                       struct hc_buf *out)
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    struct hc_buf res = HC_BUF_INIT, sr = HC_BUF_INIT, text = HC_BUF_INIT;
    unsigned char k[128], mac[32], b64[64];
    size_t klen = 0, blen = 0, start = out->len;
    int rc = -ENOMEM;
    if (!*key || expiry_s < 0 ||
        mbedtls_base64_decode(k, sizeof k, &klen, (const unsigned char *)key, strlen(key)) ||
        !klen || !md)
        return HC_E_INVAL;
    if (hc_buf_addf(&res, "%s/devices/%s", host, device))
        goto out_free;
    for (size_t i = 0; i < res.len; i++)
        res.p[i] = (char)tolower((unsigned char)res.p[i]);
    if (ag_mqtt_encode(&sr, res.p, res.len) || hc_buf_add(&text, sr.p, sr.len) ||
        hc_buf_addf(&text, "\n%lld", (long long)expiry_s))
        goto out_free;
    rc = HC_E_INVAL;
    if (mbedtls_md_hmac(md, k, klen, (const unsigned char *)text.p, text.len, mac) ||
        mbedtls_base64_encode(b64, sizeof b64, &blen, mac, sizeof mac))
        goto out_free;
    rc = -ENOMEM;
    if (hc_buf_adds(out, "SharedAccessSignature sr=") || hc_buf_add(out, sr.p, sr.len) ||
        hc_buf_adds(out, "&sig=") || ag_mqtt_encode(out, (const char *)b64, blen) ||
        hc_buf_addf(out, "&se=%lld", (long long)expiry_s)) {
        hc_buf_truncate(out, start);
        goto out_free;
    }
    rc = 0;
out_free:
    memset(k, 0, sizeof k);
    hc_buf_free(&res);
    hc_buf_free(&sr);
    hc_buf_free(&text);
    return rc;
}

/* The property bag's fixed start (system properties: content type and encoding). */
#define BAG_SYSTEM "$.ct=application%2Fjson&$.ce=utf-8"

int ag_mqtt_topic(const struct ag_record *rec, const char *device, struct hc_buf *out)
{
    char id[HC_UUID_STRLEN];
    const char *dev = device ? device : rec->ev.device_id;
    size_t dev_len = device ? strlen(device) : rec->ev.device_id_len;
    const char *kind = hc_kind_name(rec->ev.kind);
    size_t start = out->len;
    hc_uuid_format(rec->ev.id, id);
    if (hc_buf_adds(out, AG_MQTT_TOPIC_PREFIX) || ag_mqtt_encode(out, dev, dev_len) ||
        hc_buf_adds(out, AG_MQTT_TOPIC_EVENTS BAG_SYSTEM "&event_id=") || hc_buf_adds(out, id) ||
        hc_buf_adds(out, "&device_id=") ||
        ag_mqtt_encode(out, rec->ev.device_id, rec->ev.device_id_len) ||
        hc_buf_adds(out, "&kind=") || ag_mqtt_encode(out, kind, strlen(kind)) ||
        hc_buf_addf(out, "&schema=%d", rec->ev.schema)) {
        hc_buf_truncate(out, start);
        return -ENOMEM;
    }
    return 0;
}

int ag_mqtt_packed_topic(const char *device, size_t device_len, struct hc_buf *out)
{
    size_t start = out->len;
    if (hc_buf_adds(out, AG_MQTT_TOPIC_PREFIX) || ag_mqtt_encode(out, device, device_len) ||
        hc_buf_adds(out, AG_MQTT_TOPIC_EVENTS AG_MQTT_PACKED_BAG)) {
        hc_buf_truncate(out, start);
        return -ENOMEM;
    }
    return 0;
}

int ag_mqtt_packed_item(const struct ag_record *rec, char sep, struct hc_buf *out)
{
    const struct hc_event *ev = &rec->ev;
    char id[HC_UUID_STRLEN];
    size_t start = out->len;
    hc_uuid_format(ev->id, id);
    if (hc_buf_addc(out, sep) || hc_buf_adds(out, "{\"Body\":") ||
        hc_buf_add_json_str(out, rec->json, rec->json_len) ||
        hc_buf_adds(out, ",\"UserProperties\":{\"event_id\":\"") || hc_buf_adds(out, id) ||
        hc_buf_adds(out, "\",\"device_id\":") ||
        hc_buf_add_json_str(out, ev->device_id ? ev->device_id : "",
                            ev->device_id ? ev->device_id_len : 0) ||
        hc_buf_adds(out, ",\"kind\":\"") || hc_buf_adds(out, hc_kind_name(ev->kind)) ||
        hc_buf_addf(out, "\",\"schema\":\"%d\"}}", ev->schema)) {
        hc_buf_truncate(out, start);
        return -ENOMEM;
    }
    return 0;
}

static size_t topic_len(const struct ag_record *rec, const char *device)
{
    char sch[16];
    const char *kind = hc_kind_name(rec->ev.kind);
    size_t n = LIT(AG_MQTT_TOPIC_PREFIX) + LIT(AG_MQTT_TOPIC_EVENTS BAG_SYSTEM "&event_id=") +
               HC_UUID_STRLEN - 1 + LIT("&device_id=") + LIT("&kind=");
    n += device ? encoded_len(device, strlen(device))
                : encoded_len(rec->ev.device_id, rec->ev.device_id_len);
    n += encoded_len(rec->ev.device_id, rec->ev.device_id_len) + encoded_len(kind, strlen(kind));
    return n + (size_t)snprintf(sch, sizeof sch, "&schema=%d", rec->ev.schema);
}

/* Bytes of MQTT's variable-length "remaining length" for n. */
static size_t varint_len(size_t n)
{
    return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4;
}

size_t ag_mqtt_publish_size(const struct ag_record *rec, const char *device)
{
    size_t rem = 2 + topic_len(rec, device) + 2 + rec->json_len;
    return 1 + varint_len(rem) + rem;
}

int ag_mqtt_publish_packet(const struct ag_record *rec, const char *device, struct hc_buf *out)
{
    size_t start = out->len, tl = topic_len(rec, device), rem = 2 + tl + 2 + rec->json_len, r;
    unsigned char hdr[8];
    size_t h = 0;
    hdr[h++] = 0x32; /* PUBLISH, QoS 1 */
    for (r = rem; r >= 128; r >>= 7)
        hdr[h++] = (unsigned char)((r & 127) | 128);
    hdr[h++] = (unsigned char)r;
    hdr[h++] = (unsigned char)(tl >> 8);
    hdr[h++] = (unsigned char)tl;
    if (hc_buf_add(out, hdr, h) || ag_mqtt_topic(rec, device, out) || hc_buf_add(out, "\0\0", 2) ||
        hc_buf_add(out, rec->json, rec->json_len)) {
        hc_buf_truncate(out, start);
        return -ENOMEM;
    }
    return 0;
}

enum ag_send_result ag_mqtt_reason_result(int code, enum ag_send_why *why)
{
    *why = AG_WHY_NONE;
    if (code >= 0 && code < 0x80)
        return AG_SEND_OK;
    switch (code) {
    case 0x90: /* topic name invalid */
    case 0x95: /* packet too large */
    case 0x99: /* payload format invalid */
        *why = AG_WHY_SIZE;
        return AG_SEND_REJECT;
    case 0x86: /* bad user name or password */
    case 0x87: /* not authorized */
        *why = AG_WHY_AUTH;
        return AG_SEND_RETRY;
    case 0x97: /* quota exceeded */
    case 0x89: /* server busy */
        *why = AG_WHY_THROTTLED;
        return AG_SEND_RETRY;
    default:
        *why = AG_WHY_SERVER;
        return AG_SEND_RETRY;
    }
}

const char *ag_mqtt_connack_text(int code)
{
    switch (code) {
    case 1:
    case 0x84:
        return "unsupported protocol version";
    case 2:
    case 0x85:
        return "client identifier not valid";
    case 3:
    case 0x88:
        return "server unavailable";
    case 4:
    case 0x86:
        return "bad user name or password";
    case 5:
    case 0x87:
        return "not authorized";
    case 0x89:
        return "server busy";
    case 0x8a:
        return "banned";
    case 0x95:
        return "packet too large";
    case 0x97:
        return "quota exceeded";
    default:
        return "refused";
    }
}
