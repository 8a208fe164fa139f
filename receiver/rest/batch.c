/*
 * batch.c - the Event Hubs batch body, read in one pass on the strict JSON reader of
 * batch_json.c: events, their BrokerProperties and typed UserProperties, and the single send. It
 * allocates only in the batch's arena (unescaped bodies, keys, encoded properties) and its events
 * array; recursion is bounded by RX_JSON_DEPTH, so no input can exhaust the stack.
 */
#include "receiver/rest/batch.h"
#include "receiver/rest/batch_json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/json.h"

/* ---- Events ----------------------------------------------------------------------------- */

static int add_event(struct rx_batch *b, struct rx_event **ev, struct rx_batch_at **at)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        struct rx_event *e = realloc(b->ev, cap * sizeof *e);
        if (e)
            b->ev = e;
        struct rx_batch_at *a = e ? realloc(b->at, cap * sizeof *a) : NULL;
        if (!a)
            return -ENOMEM;
        b->at = a;
        b->cap = cap;
    }
    *ev = &b->ev[b->n];
    *at = &b->at[b->n++];
    memset(*ev, 0, sizeof **ev);
    (*at)->body = (*at)->pkey = (*at)->props = (size_t)-1;
    return 0;
}

/* The partition key member of BrokerProperties. */
struct broker {
    struct rx_batch *b;
    struct rx_event *ev;
    struct rx_batch_at *at;
};

static int broker_member(struct rx_jp *j, const char *key, void *ctx)
{
    struct broker *br = ctx;
    struct hc_buf *a = &br->b->arena;
    size_t start = a->len;
    if (j->p >= j->end)
        return rx_jp__bad(j, HC_E_PARSE, "JSON ends early");
    if (strcasecmp(key, "PartitionKey"))
        return rx_jp__value(j, 2);
    if (j->p < j->end && *j->p == 'n')
        return rx_jp__literal(j, "null");
    if (br->at->pkey != (size_t)-1)
        return rx_jp__bad(j, HC_E_INVAL, "PartitionKey given twice");
    if (j->p >= j->end || *j->p != '"')
        return rx_jp__bad(j, HC_E_INVAL, "BrokerProperties.PartitionKey must be a string");
    if (rx_jp__string(j, a))
        return -1;
    if (a->len - start > RX_PKEY_MAX)
        return rx_jp__bad(j, HC_E_INVAL, "PartitionKey longer than 128 bytes");
    br->at->pkey = start;
    br->ev->pkey_len = a->len - start;
    return 0;
}

static int broker_object(struct rx_jp *j, struct rx_batch *b, struct rx_event *ev,
                         struct rx_batch_at *at)
{
    struct broker br = {b, ev, at};
    return rx_jp__members(j, &b->keys, broker_member, &br,
                          "BrokerProperties must be a JSON object");
}

/* ---- Properties (typed by core/props.h) ----------------------------------------------------- */

/* The result rc of an rx_props call (which set *why) as the parser's failure. */
static int props_rc(struct rx_jp *j, int rc, const char *const *why)
{
    if (!rc)
        return 0;
    return rx_jp__bad(j, rc, rc == -ENOMEM ? "out of memory" : *why);
}

/* A number's text as a long when it is an integer that fits, else a double. */
static int props_number(struct rx_jp *j, struct rx_props *pr, const char *name, size_t len,
                        const char *t, size_t n, int integer)
{
    char tmp[64], *end;
    const char *why = NULL;
    if (n >= sizeof tmp)
        return rx_jp__bad(j, HC_E_INVAL, "a numeric user property is longer than 63 characters");
    memcpy(tmp, t, n);
    tmp[n] = '\0';
    if (integer) {
        errno = 0;
        long long v = strtoll(tmp, &end, 10);
        if (!errno && !*end)
            return props_rc(j, rx_props_long(pr, name, len, v, &why), &why);
    }
    double d = strtod(tmp, &end);
    if (*end || !isfinite(d))
        return rx_jp__bad(j, HC_E_INVAL, "a numeric user property is out of range");
    return props_rc(j, rx_props_double(pr, name, len, d, &why), &why);
}

static int props_text(struct rx_jp *j, struct rx_props *pr, const char *name, size_t len,
                      const char *t, size_t n)
{
    const char *why = NULL;
    return props_rc(j, rx_props_string(pr, name, len, t, n, &why), &why);
}

/* One member of UserProperties named name[0..len): the value at j->p. */
static int props_value(struct rx_jp *j, struct rx_batch *b, const char *name, size_t len)
{
    struct rx_props *pr = &b->props;
    const char *start = j->p;
    int integer;
    if (*j->p == '"') {
        hc_buf_reset(&b->str);
        if (rx_jp__string(j, &b->str))
            return -1;
        return props_text(j, pr, name, len, b->str.p ? b->str.p : "", b->str.len);
    }
    if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) {
        if (rx_jp__number(j, &integer))
            return -1;
        return props_number(j, pr, name, len, start, (size_t)(j->p - start), integer);
    }
    if (*j->p == 't' || *j->p == 'f')
        return rx_jp__literal(j, *j->p == 't' ? "true" : "false")
                   ? -1
                   : props_text(j, pr, name, len, start, (size_t)(j->p - start));
    if (rx_jp__value(j, 2))
        return -1;
    return props_text(j, pr, name, len, start, (size_t)(j->p - start));
}

/* UserProperties: an object whose members become the map's entries (nulls are skipped). */
static int user_props(struct rx_jp *j, struct rx_batch *b)
{
    struct hc_buf *name = &b->keys;
    if (rx_jp__expect(j, '{', "UserProperties must be a JSON object"))
        return -1;
    rx_jp__ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        hc_buf_reset(name);
        rx_jp__ws(j);
        if (rx_jp__string(j, name) ||
            rx_jp__expect(j, ':', "expected ':' after a JSON member name"))
            return -1;
        rx_jp__ws(j);
        if (j->p >= j->end)
            return rx_jp__bad(j, HC_E_PARSE, "JSON ends early");
        if (*j->p == 'n') {
            if (rx_jp__literal(j, "null"))
                return -1;
        } else if (props_value(j, b, name->p ? name->p : "", name->len)) {
            return -1;
        }
        rx_jp__ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        return rx_jp__expect(j, '}', "expected ',' or '}' in a JSON object");
    }
}

/* Store the encoded map of b->props in the arena for the event at. */
static int props_store(struct rx_jp *j, struct rx_batch *b, struct rx_event *ev,
                       struct rx_batch_at *at)
{
    struct hc_buf *a = &b->arena;
    at->props = a->len;
    if (rx_props_finish(&b->props, a))
        return rx_jp__bad(j, -ENOMEM, "out of memory");
    ev->props_len = a->len - at->props;
    return 0;
}

/* ---- One event object ----------------------------------------------------------------------- */

struct event_ctx {
    struct rx_batch *b;
    struct rx_event *ev;
    struct rx_batch_at *at;
    int seen_body, seen_user, seen_broker;
};

static int event_body(struct rx_jp *j, struct event_ctx *e)
{
    struct hc_buf *a = &e->b->arena;
    const char *start = j->p;
    if (e->seen_body++)
        return rx_jp__bad(j, HC_E_INVAL, "Body given twice");
    if (*j->p == 'n')
        return rx_jp__literal(j, "null"); /* at->body stays (size_t)-1: a null body */
    e->at->body = a->len;
    if (*j->p == '"') {
        if (rx_jp__string(j, a))
            return -1;
    } else {
        if (rx_jp__value(j, 2))
            return -1;
        if (hc_buf_add(a, start, (size_t)(j->p - start)))
            return rx_jp__bad(j, -ENOMEM, "out of memory");
    }
    e->ev->body_len = a->len - e->at->body;
    return 0;
}

static int event_member(struct rx_jp *j, const char *key, void *ctx)
{
    struct event_ctx *e = ctx;
    if (j->p >= j->end)
        return rx_jp__bad(j, HC_E_PARSE, "JSON ends early");
    if (!strcasecmp(key, "Body"))
        return event_body(j, e);
    if (!strcasecmp(key, "UserProperties")) {
        if (e->seen_user++)
            return rx_jp__bad(j, HC_E_INVAL, "UserProperties given twice");
        if (*j->p == 'n')
            return rx_jp__literal(j, "null");
        return user_props(j, e->b);
    }
    if (!strcasecmp(key, "BrokerProperties")) {
        if (e->seen_broker++)
            return rx_jp__bad(j, HC_E_INVAL, "BrokerProperties given twice");
        if (*j->p == 'n')
            return rx_jp__literal(j, "null");
        return broker_object(j, e->b, e->ev, e->at);
    }
    return rx_jp__value(j, 2);
}

static int event_object(struct rx_jp *j, struct rx_batch *b)
{
    struct event_ctx e;
    int rc;
    memset(&e, 0, sizeof e);
    e.b = b;
    if (add_event(b, &e.ev, &e.at))
        return rx_jp__bad(j, -ENOMEM, "out of memory");
    rx_props_reset(&b->props);
    rc = rx_jp__members(j, &b->keys, event_member, &e,
                        "each event of the batch must be a JSON object");
    if (rc)
        return -1;
    if (!e.seen_body)
        return rx_jp__bad(j, HC_E_INVAL, "an event of the batch has no Body");
    return props_store(j, b, e.ev, e.at);
}

/* Turn arena offsets into pointers, now that the arena no longer moves. */
static void seal(struct rx_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        struct rx_event *ev = &b->ev[i];
        const struct rx_batch_at *at = &b->at[i];
        ev->body = at->body == (size_t)-1 ? NULL : (const uint8_t *)b->arena.p + at->body;
        ev->pkey = at->pkey == (size_t)-1 ? NULL : b->arena.p + at->pkey;
        ev->props = (const uint8_t *)b->arena.p + at->props;
    }
}

void rx_batch_init(struct rx_batch *b)
{
    memset(b, 0, sizeof *b);
}

size_t rx_batch_bytes(const struct rx_batch *b)
{
    return b->cap * (sizeof *b->ev + sizeof *b->at) + b->arena.cap + b->props.enc.cap +
           b->keys.cap + b->str.cap;
}

void rx_batch_free(struct rx_batch *b)
{
    free(b->ev);
    free(b->at);
    hc_buf_free(&b->arena);
    rx_props_free(&b->props);
    hc_buf_free(&b->keys);
    hc_buf_free(&b->str);
    memset(b, 0, sizeof *b);
}

static int finish(struct rx_batch *b, struct rx_jp *j, const char **why)
{
    if (j->rc) {
        b->n = 0;
        *why = j->why;
        return j->rc;
    }
    seal(b);
    *why = NULL;
    return 0;
}

int rx_batch_parse(struct rx_batch *b, const char *json, size_t len, const char **why)
{
    struct rx_jp j = {json, json + len, NULL, 0};
    /* UTF-8 is checked inside strings (the only place JSON allows bytes above 0x7f); bodies
     * unescape to at most their escaped size; properties encode smaller than their JSON */
    if (hc_buf_reserve(&b->arena, len + 64)) {
        *why = "out of memory";
        return -ENOMEM;
    }
    if (rx_jp__expect(&j, '[', "a batch must be a JSON array of events")) {
        return finish(b, &j, why);
    }
    rx_jp__ws(&j);
    if (j.p < j.end && *j.p == ']')
        rx_jp__bad(&j, HC_E_INVAL, "the batch has no events");
    while (!j.rc) {
        if (event_object(&j, b))
            break;
        rx_jp__ws(&j);
        if (j.p < j.end && *j.p == ',') {
            j.p++;
            continue;
        }
        if (!rx_jp__expect(&j, ']', "expected ',' or ']' after an event")) {
            rx_jp__ws(&j);
            if (j.p != j.end)
                rx_jp__bad(&j, HC_E_PARSE, "text after the JSON array");
        }
        break;
    }
    return finish(b, &j, why);
}

/* ---- Single send ---------------------------------------------------------------------------- */

/* A header value typed as Service Bus does: JSON number, JSON string, else the text itself. */
static int header_prop(struct rx_jp *j, struct rx_batch *b, const struct rx_prop *p)
{
    size_t n = strlen(p->value), len = strlen(p->name);
    struct rx_jp v = {p->value, p->value + n, NULL, 0};
    int integer;
    if (!hc_utf8_valid(p->name, len) || !hc_utf8_valid(p->value, n))
        return rx_jp__bad(j, HC_E_UTF8, "a user property header is not UTF-8");
    if (n && (*p->value == '-' || (*p->value >= '0' && *p->value <= '9')) &&
        !rx_jp__number(&v, &integer) && v.p == v.end)
        return props_number(j, &b->props, p->name, len, p->value, n, integer);
    v = (struct rx_jp){p->value, p->value + n, NULL, 0};
    hc_buf_reset(&b->str);
    if (n >= 2 && *p->value == '"' && !rx_jp__string(&v, &b->str) && v.p == v.end)
        return props_text(j, &b->props, p->name, len, b->str.p ? b->str.p : "", b->str.len);
    return props_text(j, &b->props, p->name, len, p->value, n);
}

int rx_batch_single(struct rx_batch *b, const void *body, size_t len, int check_utf8,
                    const char *broker, const struct rx_prop *props, size_t nprops,
                    const char **why)
{
    struct rx_jp j = {NULL, NULL, NULL, 0};
    struct rx_event *ev;
    struct rx_batch_at *at;
    if (check_utf8 && !hc_utf8_valid(body, len)) {
        *why = "the body is not UTF-8";
        return HC_E_UTF8;
    }
    if (add_event(b, &ev, &at) || hc_buf_reserve(&b->arena, len + 64)) {
        *why = "out of memory";
        return -ENOMEM;
    }
    at->body = 0;
    ev->body_len = len;
    hc_buf_add(&b->arena, body, len);
    if (broker) {
        j = (struct rx_jp){broker, broker + strlen(broker), NULL, 0};
        if (!hc_utf8_valid(broker, strlen(broker)))
            rx_jp__bad(&j, HC_E_UTF8, "the BrokerProperties header is not UTF-8");
        else if (!broker_object(&j, b, ev, at)) {
            rx_jp__ws(&j);
            if (j.p != j.end)
                rx_jp__bad(&j, HC_E_PARSE, "text after the BrokerProperties JSON object");
        }
    }
    rx_props_reset(&b->props);
    for (size_t i = 0; i < nprops && !j.rc; i++)
        header_prop(&j, b, &props[i]);
    if (!j.rc)
        props_store(&j, b, ev, at);
    return finish(b, &j, why);
}
