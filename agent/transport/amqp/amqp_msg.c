/*
 * amqp_msg.c - the pure parts of the AMQP transport (amqp_conf.h): one event as the bytes of an
 * AMQP message, error conditions as results, outcomes as the shipper's contiguous prefix.
 */
#include <errno.h>
#include <proton/codec.h>
#include <proton/message.h>
#include <stdio.h>
#include <string.h>

#include "agent/transport/amqp/amqp_conf.h"
#include "common/error.h"
#include "common/uuid.h"

/* ---- encoding ------------------------------------------------------------------------------ */

#define T_DESCRIBED  0x00
#define T_SMALLULONG 0x53
#define T_VBIN8      0xa0
#define T_STR8       0xa1
#define T_SYM8       0xa3
#define T_VBIN32     0xb0
#define T_STR32      0xb1
#define T_SYM32      0xb3
#define T_MAP8       0xc1
#define T_MAP32      0xd1
#define T_SMALLLONG  0x55
#define T_LONG       0x81

#define S_MESSAGE_ANNOTATIONS 0x72
#define S_APPLICATION_PROPS   0x74
#define S_DATA                0x75

#define PARTITION_KEY "x-opt-partition-key"
#define K_EVENT_ID    "event_id"
#define K_DEVICE_ID   "device_id"
#define K_KIND        "kind"
#define K_SCHEMA      "schema"
#define LIT(s)        (sizeof(s) - 1)

/* A string, symbol or binary of len bytes: constructor, length, bytes. */
static size_t var_size(size_t len)
{
    return len < 256 ? 2 + len : 5 + len;
}

static size_t long_size(int64_t v)
{
    return v >= -128 && v <= 127 ? 2 : 9;
}

/* A map whose elements take el bytes. */
static size_t map_size(size_t el, size_t count)
{
    return el + 1 <= 255 && count <= 255 ? 3 + el : 9 + el;
}

static void put_be32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

/* Constructor (short or long form), length, bytes. */
static char *put_var(char *p, unsigned char small, unsigned char big, const char *s, size_t len)
{
    if (len < 256) {
        *p++ = (char)small;
        *p++ = (char)len;
    } else {
        *p++ = (char)big;
        put_be32(p, (uint32_t)len);
        p += 4;
    }
    memcpy(p, s, len);
    return p + len;
}

static char *put_str(char *p, const char *s, size_t len)
{
    return put_var(p, T_STR8, T_STR32, s, len);
}

static char *put_long(char *p, int64_t v)
{
    if (v >= -128 && v <= 127) {
        *p++ = (char)T_SMALLLONG;
        *p++ = (char)(int8_t)v;
        return p;
    }
    *p++ = (char)T_LONG;
    for (int i = 7; i >= 0; i--)
        *p++ = (char)((uint64_t)v >> (8 * i));
    return p;
}

/* A described section header and the head of a map of el bytes, count elements. */
static char *put_map_section(char *p, unsigned char code, size_t el, size_t count)
{
    *p++ = T_DESCRIBED;
    *p++ = (char)T_SMALLULONG;
    *p++ = (char)code;
    if (el + 1 <= 255 && count <= 255) {
        *p++ = (char)T_MAP8;
        *p++ = (char)(el + 1);
        *p++ = (char)count;
    } else {
        *p++ = (char)T_MAP32;
        put_be32(p, (uint32_t)(el + 4));
        put_be32(p + 4, (uint32_t)count);
        p += 8;
    }
    return p;
}

static size_t dev_len(const struct ag_record *rec)
{
    return rec->ev.device_id ? rec->ev.device_id_len : 0;
}

static size_t annotations_el(const struct ag_record *rec)
{
    return var_size(LIT(PARTITION_KEY)) + var_size(dev_len(rec));
}

static size_t props_el(const struct ag_record *rec)
{
    return var_size(LIT(K_EVENT_ID)) + var_size(HC_UUID_STRLEN - 1) + var_size(LIT(K_DEVICE_ID)) +
           var_size(dev_len(rec)) + var_size(LIT(K_KIND)) +
           var_size(strlen(hc_kind_name(rec->ev.kind))) + var_size(LIT(K_SCHEMA)) +
           long_size(rec->ev.schema);
}

size_t ag_amqp_message_size(const struct ag_record *rec)
{
    return 3 + map_size(annotations_el(rec), 2) + 3 + map_size(props_el(rec), 8) + 3 +
           var_size(rec->json_len);
}

int ag_amqp_message_encode(const struct ag_record *rec, struct hc_buf *out)
{
    const char *dev = rec->ev.device_id ? rec->ev.device_id : "";
    const char *kind = hc_kind_name(rec->ev.kind);
    size_t need = ag_amqp_message_size(rec);
    char id[HC_UUID_STRLEN], *p;
    if (hc_buf_reserve(out, need))
        return -ENOMEM;
    hc_uuid_format(rec->ev.id, id);
    p = out->p + out->len;
    p = put_map_section(p, S_MESSAGE_ANNOTATIONS, annotations_el(rec), 2);
    p = put_var(p, T_SYM8, T_SYM32, PARTITION_KEY, LIT(PARTITION_KEY));
    p = put_str(p, dev, dev_len(rec));
    p = put_map_section(p, S_APPLICATION_PROPS, props_el(rec), 8);
    p = put_str(p, K_EVENT_ID, LIT(K_EVENT_ID));
    p = put_str(p, id, HC_UUID_STRLEN - 1);
    p = put_str(p, K_DEVICE_ID, LIT(K_DEVICE_ID));
    p = put_str(p, dev, dev_len(rec));
    p = put_str(p, K_KIND, LIT(K_KIND));
    p = put_str(p, kind, strlen(kind));
    p = put_str(p, K_SCHEMA, LIT(K_SCHEMA));
    p = put_long(p, rec->ev.schema);
    *p++ = T_DESCRIBED;
    *p++ = (char)T_SMALLULONG;
    *p++ = (char)S_DATA;
    p = put_var(p, T_VBIN8, T_VBIN32, rec->json, rec->json_len);
    out->len += need;
    out->p[out->len] = '\0';
    return p == out->p + out->len ? 0 : -EINVAL;
}

/* ---- outcomes ------------------------------------------------------------------------------ */

static const struct {
    const char *condition;
    enum ag_send_result result;
    enum ag_send_why why;
} conditions[] = {
    {"com.microsoft:server-busy", AG_SEND_RETRY, AG_WHY_THROTTLED},
    {"com.microsoft:timeout", AG_SEND_RETRY, AG_WHY_SERVER},
    {"amqp:internal-error", AG_SEND_RETRY, AG_WHY_SERVER},
    {"amqp:link:detach-forced", AG_SEND_RETRY, AG_WHY_SERVER},
    {"amqp:connection:forced", AG_SEND_RETRY, AG_WHY_SERVER},
    {"amqp:unauthorized-access", AG_SEND_RETRY, AG_WHY_AUTH},
    {"amqp:link:message-size-exceeded", AG_SEND_REJECT, AG_WHY_SIZE},
    {"amqp:not-found", AG_SEND_REJECT, AG_WHY_REFUSED},
    {"amqp:not-allowed", AG_SEND_REJECT, AG_WHY_REFUSED},
    {"amqp:link:stolen", AG_SEND_REJECT, AG_WHY_REFUSED},
    {"amqp:resource-limit-exceeded", AG_SEND_REJECT, AG_WHY_REFUSED},
    {"com.microsoft:argument-error", AG_SEND_REJECT, AG_WHY_REFUSED},
    {"amqp:decode-error", AG_SEND_REJECT, AG_WHY_REFUSED},
    {"amqp:invalid-field", AG_SEND_REJECT, AG_WHY_REFUSED},
};

enum ag_send_result ag_amqp_condition_result(const char *condition, int of_delivery,
                                             enum ag_send_why *why)
{
    for (size_t i = 0; condition && i < sizeof conditions / sizeof conditions[0]; i++) {
        if (strcmp(condition, conditions[i].condition))
            continue;
        *why = conditions[i].why;
        if (conditions[i].result == AG_SEND_REJECT && of_delivery)
            *why = AG_WHY_SIZE; /* the hub refused this event: dead-letter it */
        return conditions[i].result;
    }
    *why = AG_WHY_SERVER;
    return AG_SEND_RETRY;
}

enum ag_send_result ag_amqp_summarize(const uint8_t *outcomes, size_t n, struct ag_send_status *st)
{
    size_t k = 0;
    while (k < n && outcomes[k] == AG_AMQP_ACCEPTED)
        k++;
    st->acked = k;
    st->one = 0;
    st->acked_after = 0;
    if (k == n) {
        st->why = AG_WHY_NONE;
        return st->result = AG_SEND_OK;
    }
    if (outcomes[k] != AG_AMQP_REFUSED)
        return st->result = AG_SEND_RETRY;
    st->one = 1;
    for (size_t j = k + 1; j < n && outcomes[j] == AG_AMQP_ACCEPTED; j++)
        st->acked_after++;
    st->why = AG_WHY_SIZE;
    return st->result = AG_SEND_REJECT;
}

/* ---- the CBS reply --------------------------------------------------------------------------- */

static int64_t data_int(pn_data_t *d)
{
    switch (pn_data_type(d)) {
    case PN_INT:
        return pn_data_get_int(d);
    case PN_LONG:
        return pn_data_get_long(d);
    case PN_UINT:
        return pn_data_get_uint(d);
    case PN_ULONG:
        return (int64_t)pn_data_get_ulong(d);
    case PN_SHORT:
        return pn_data_get_short(d);
    case PN_USHORT:
        return pn_data_get_ushort(d);
    default:
        return 0;
    }
}

/* status-code and status-description from the application properties of a reply. */
static void cbs_status(pn_message_t *m, int *status, char *desc, size_t cap)
{
    pn_data_t *ap = pn_message_properties(m);
    pn_data_rewind(ap);
    if (!pn_data_next(ap) || pn_data_type(ap) != PN_MAP)
        return;
    pn_data_enter(ap);
    while (pn_data_next(ap)) {
        pn_bytes_t key = pn_data_type(ap) == PN_STRING   ? pn_data_get_string(ap)
                         : pn_data_type(ap) == PN_SYMBOL ? pn_data_get_symbol(ap)
                                                         : pn_bytes(0, NULL);
        if (!pn_data_next(ap))
            break;
        if (key.size == 11 && !memcmp(key.start, "status-code", 11))
            *status = (int)data_int(ap);
        else if (key.size == 18 && !memcmp(key.start, "status-description", 18) &&
                 pn_data_type(ap) == PN_STRING) {
            pn_bytes_t v = pn_data_get_string(ap);
            snprintf(desc, cap, "%.*s", (int)v.size, v.start);
        }
    }
    pn_data_exit(ap);
}

int ag_amqp_cbs_reply(const char *msg, size_t len, uint64_t id, int *status, char *desc, size_t cap)
{
    pn_message_t *m;
    int rc = 0;
    if (!len) /* proton asserts on an empty message: the peer would end the process */
        return HC_E_PARSE;
    if (!(m = pn_message()))
        return -ENOMEM;
    if (pn_message_decode(m, msg, len) != 0) {
        rc = HC_E_PARSE;
    } else {
        pn_atom_t cid = pn_message_get_correlation_id(m);
        if (cid.type == PN_ULONG && cid.u.as_ulong == id) {
            *status = 0;
            if (cap)
                desc[0] = '\0';
            cbs_status(m, status, desc, cap);
            if (!*status)
                *status = -1; /* a reply without a status-code */
            rc = 1;
        }
    }
    pn_message_free(m);
    return rc;
}
