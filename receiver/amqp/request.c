#include "receiver/amqp/request.h"

#include <string.h>

#include "common/error.h"
#include "receiver/amqp/message.h"

static void view(struct rx_amqp_str *dst, const struct rx_amqp_val *v)
{
    if (v->kind == RX_AK_STRING || v->kind == RX_AK_SYMBOL) {
        dst->s = (const char *)v->bytes;
        dst->len = v->len;
    }
}

/* message-id (0) and reply-to (4) of the properties list. */
static int properties(const struct rx_amqp_val *list, struct rx_amqp_request *r)
{
    struct rx_amqp_rd rd;
    struct rx_amqp_val v;
    if (list->kind != RX_AK_LIST)
        return 0;
    rx_amqp_enter(list, &rd);
    for (int i = 0; i <= 4 && rd.p < rd.end; i++) {
        if (rx_amqp_read(&rd, &v))
            return HC_E_PARSE;
        if (i == 0 && (v.kind == RX_AK_UINT || v.kind == RX_AK_UUID || v.kind == RX_AK_BINARY ||
                       v.kind == RX_AK_STRING))
            r->message_id = v;
        else if (i == 4)
            view(&r->reply_to, &v);
    }
    return 0;
}

static int app_properties(const struct rx_amqp_val *map, struct rx_amqp_request *r)
{
    static const struct {
        const char *key;
        size_t off;
    } keys[] = {
        {"operation", offsetof(struct rx_amqp_request, operation)},
        {"type", offsetof(struct rx_amqp_request, type)},
        {"name", offsetof(struct rx_amqp_request, name)},
        {"partition", offsetof(struct rx_amqp_request, partition)},
        {"security_token", offsetof(struct rx_amqp_request, security_token)},
    };
    struct rx_amqp_rd rd;
    if (rx_amqp_enter(map, &rd))
        return HC_E_PARSE;
    while (rd.p < rd.end) {
        struct rx_amqp_val k, v;
        if (rx_amqp_read(&rd, &k) || rx_amqp_read(&rd, &v))
            return HC_E_PARSE;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (rx_amqp_is(&k, keys[i].key))
                view((struct rx_amqp_str *)(void *)((char *)r + keys[i].off), &v);
    }
    return 0;
}

int rx_amqp_request_parse(const uint8_t *p, size_t n, struct rx_amqp_request *r, const char **why)
{
    struct rx_amqp_msg m;
    memset(r, 0, sizeof *r);
    if (rx_amqp_msg_parse(p, n, &m, why))
        return HC_E_PARSE;
    if (properties(&m.properties, r)) {
        *why = "malformed message properties";
        return HC_E_PARSE;
    }
    if (m.app.kind != RX_AK_MAP || app_properties(&m.app, r) || !r->operation.s) {
        *why = "a request needs application-properties with an operation";
        return HC_E_PARSE;
    }
    if (m.value.kind == RX_AK_STRING) {
        r->token.s = (const char *)m.value.bytes;
        r->token.len = m.value.len;
    }
    return 0;
}

int rx_amqp_str_is(const struct rx_amqp_str *v, const char *s)
{
    size_t n = strlen(s);
    return v->s && v->len == n && memcmp(v->s, s, n) == 0;
}
