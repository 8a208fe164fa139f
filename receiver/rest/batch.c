/*
 * batch.c - a strict, single-pass JSON reader for the Event Hubs batch body. It allocates only in
 * the batch's arena (unescaped bodies, keys, encoded properties) and its events array; recursion
 * is bounded by RX_JSON_DEPTH, so no input can exhaust the stack.
 */
#include "receiver/rest/batch.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/json.h"

struct jp {
    const char *p, *end;
    const char *why;
    int rc;
};

/* Record the first failure; returns -1 so callers can `return bad(...)`. */
static int bad(struct jp *j, int rc, const char *why)
{
    if (!j->rc) {
        j->rc = rc;
        j->why = why;
    }
    return -1;
}

static void ws(struct jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* Expect the byte c (after white space). */
static int expect(struct jp *j, char c, const char *why)
{
    ws(j);
    if (j->p >= j->end || *j->p != c)
        return bad(j, HC_E_PARSE, why);
    j->p++;
    return 0;
}

/* One escape after the backslash at j->p (the shared scanner, common/json.h); its UTF-8 is
 * written at *o (*o NULL: check only). */
static int escape(struct jp *j, char **o)
{
    static const char *const why[] = {
        [-HC_JSON_ESC_BAD] = "bad escape in a JSON string",
        [-HC_JSON_ESC_HEX] = "bad \\u escape in a JSON string",
        [-HC_JSON_ESC_LONE_LOW] = "lone low surrogate (\\uDC00-\\uDFFF) in a JSON string",
        [-HC_JSON_ESC_LONE_HIGH] = "lone high surrogate (\\uD800-\\uDBFF) in a JSON string",
    };
    unsigned cp;
    enum hc_json_esc rc = hc_json_escape(&j->p, j->end, &cp);

    if (rc != HC_JSON_ESC_OK)
        return bad(j, rc <= HC_JSON_ESC_LONE_LOW ? HC_E_UTF8 : HC_E_PARSE, why[-rc]);
    if (*o)
        *o += hc_json_put_utf8(cp, *o);
    return 0;
}

/* Bytes from p to the closing quote of a string (escapes skipped), or to the end of input. */
static size_t raw_len(const char *p, const char *end)
{
    const char *q = p;
    while (q < end && *q != '"')
        q += *q == '\\' ? 2 : 1;
    return (size_t)((q < end ? q : end) - p);
}

/*
 * A JSON string at j->p (the opening quote), unescaped into out (NULL: check only). Unescaping
 * never makes a string longer, so reserving its escaped length is enough. Bytes above 0x7f may
 * only appear inside strings in JSON, so checking them here checks the whole body.
 */
static int string(struct jp *j, struct hc_buf *out)
{
    char *o = NULL;
    if (j->p >= j->end || *j->p != '"')
        return bad(j, HC_E_PARSE, "expected a JSON string");
    j->p++;
    if (out) {
        if (hc_buf_reserve(out, raw_len(j->p, j->end)))
            return bad(j, -ENOMEM, "out of memory");
        o = out->p + out->len;
    }
    for (;;) {
        const char *run = j->p;
        unsigned high;
        j->p = hc_json_plain(run, j->end, &high);
        if (high && !hc_utf8_valid(run, (size_t)(j->p - run)))
            return bad(j, HC_E_UTF8, "a JSON string is not UTF-8");
        if (o) {
            memcpy(o, run, (size_t)(j->p - run));
            o += j->p - run;
        }
        if (j->p >= j->end)
            return bad(j, HC_E_PARSE, "unterminated JSON string");
        if (*j->p == '"')
            break;
        if (*j->p != '\\')
            return bad(j, HC_E_PARSE, "control character in a JSON string (escape it)");
        if (++j->p >= j->end)
            return bad(j, HC_E_PARSE, "unterminated JSON string");
        if (escape(j, &o))
            return -1;
    }
    j->p++;
    if (out) {
        out->len = (size_t)(o - out->p);
        out->p[out->len] = '\0';
    }
    return 0;
}

static int digits(struct jp *j)
{
    const char *s = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > s ? 0 : -1;
}

/* A JSON number; *integer is set when it has no fraction and no exponent. */
static int number(struct jp *j, int *integer)
{
    *integer = 1;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p < j->end && *j->p == '0')
        j->p++;
    else if (digits(j))
        return bad(j, HC_E_PARSE, "bad JSON number");
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        *integer = 0;
        if (digits(j))
            return bad(j, HC_E_PARSE, "bad JSON number");
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        *integer = 0;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (digits(j))
            return bad(j, HC_E_PARSE, "bad JSON number");
    }
    return 0;
}

static int literal(struct jp *j, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n))
        return bad(j, HC_E_PARSE, "not JSON (expected a value)");
    j->p += n;
    return 0;
}

static int value(struct jp *j, int depth);

/* The rest of an array or object after its opening bracket. */
static int container(struct jp *j, int depth, int object)
{
    char close = object ? '}' : ']';
    ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return 0;
    }
    for (;;) {
        ws(j);
        if (object && (string(j, NULL) || expect(j, ':', "expected ':' after a JSON member name")))
            return -1;
        if (value(j, depth + 1))
            return -1;
        ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        return expect(j, close,
                      object ? "expected ',' or '}' in a JSON object"
                             : "expected ',' or ']' in a JSON array");
    }
}

/* Check any JSON value (after white space). */
static int value(struct jp *j, int depth)
{
    int integer;
    ws(j);
    if (depth > RX_JSON_DEPTH)
        return bad(j, HC_E_PARSE, "JSON nested too deeply");
    if (j->p >= j->end)
        return bad(j, HC_E_PARSE, "JSON ends early");
    switch (*j->p) {
    case '{':
    case '[':
        return container(j, depth, *j->p++ == '{');
    case '"':
        return string(j, NULL);
    case 't':
        return literal(j, "true");
    case 'f':
        return literal(j, "false");
    case 'n':
        return literal(j, "null");
    default:
        if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
            return number(j, &integer);
        return bad(j, HC_E_PARSE, "not JSON (expected a value)");
    }
}

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

/* A member name unescaped into key (cap bytes, NUL-terminated; longer names come back ""). */
static int member_name(struct jp *j, char *key, size_t cap, struct hc_buf *tmp)
{
    hc_buf_reset(tmp);
    ws(j);
    if (string(j, tmp) || expect(j, ':', "expected ':' after a JSON member name"))
        return -1;
    if (tmp->len >= cap || memchr(tmp->p, '\0', tmp->len))
        key[0] = '\0';
    else
        memcpy(key, tmp->p, tmp->len + 1);
    return 0;
}

/* Walk the members of an object: calls fn for each (j->p at the value), which must consume it. */
typedef int (*member_fn)(struct jp *j, const char *key, void *ctx);

static int members(struct jp *j, struct hc_buf *tmp, member_fn fn, void *ctx, const char *what)
{
    char key[64];
    if (expect(j, '{', what))
        return -1;
    ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        if (member_name(j, key, sizeof key, tmp))
            return -1;
        ws(j);
        if (fn(j, key, ctx))
            return -1;
        ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        return expect(j, '}', "expected ',' or '}' in a JSON object");
    }
}

/* The partition key member of BrokerProperties. */
struct broker {
    struct rx_batch *b;
    struct rx_event *ev;
    struct rx_batch_at *at;
};

static int broker_member(struct jp *j, const char *key, void *ctx)
{
    struct broker *br = ctx;
    struct hc_buf *a = &br->b->arena;
    size_t start = a->len;
    if (j->p >= j->end)
        return bad(j, HC_E_PARSE, "JSON ends early");
    if (strcasecmp(key, "PartitionKey"))
        return value(j, 2);
    if (j->p < j->end && *j->p == 'n')
        return literal(j, "null");
    if (br->at->pkey != (size_t)-1)
        return bad(j, HC_E_INVAL, "PartitionKey given twice");
    if (j->p >= j->end || *j->p != '"')
        return bad(j, HC_E_INVAL, "BrokerProperties.PartitionKey must be a string");
    if (string(j, a))
        return -1;
    if (a->len - start > RX_PKEY_MAX)
        return bad(j, HC_E_INVAL, "PartitionKey longer than 128 bytes");
    br->at->pkey = start;
    br->ev->pkey_len = a->len - start;
    return 0;
}

static int broker_object(struct jp *j, struct rx_batch *b, struct rx_event *ev,
                         struct rx_batch_at *at)
{
    struct broker br = {b, ev, at};
    return members(j, &b->keys, broker_member, &br, "BrokerProperties must be a JSON object");
}

/* ---- Properties (typed by core/props.h) ----------------------------------------------------- */

/* The result rc of an rx_props call (which set *why) as the parser's failure. */
static int props_rc(struct jp *j, int rc, const char *const *why)
{
    if (!rc)
        return 0;
    return bad(j, rc, rc == -ENOMEM ? "out of memory" : *why);
}

/* A number's text as a long when it is an integer that fits, else a double. */
static int props_number(struct jp *j, struct rx_props *pr, const char *name, size_t len,
                        const char *t, size_t n, int integer)
{
    char tmp[64], *end;
    const char *why = NULL;
    if (n >= sizeof tmp)
        return bad(j, HC_E_INVAL, "a numeric user property is longer than 63 characters");
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
        return bad(j, HC_E_INVAL, "a numeric user property is out of range");
    return props_rc(j, rx_props_double(pr, name, len, d, &why), &why);
}

static int props_text(struct jp *j, struct rx_props *pr, const char *name, size_t len,
                      const char *t, size_t n)
{
    const char *why = NULL;
    return props_rc(j, rx_props_string(pr, name, len, t, n, &why), &why);
}

/* One member of UserProperties named name[0..len): the value at j->p. */
static int props_value(struct jp *j, struct rx_batch *b, const char *name, size_t len)
{
    struct rx_props *pr = &b->props;
    const char *start = j->p;
    int integer;
    if (*j->p == '"') {
        hc_buf_reset(&b->str);
        if (string(j, &b->str))
            return -1;
        return props_text(j, pr, name, len, b->str.p ? b->str.p : "", b->str.len);
    }
    if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) {
        if (number(j, &integer))
            return -1;
        return props_number(j, pr, name, len, start, (size_t)(j->p - start), integer);
    }
    if (*j->p == 't' || *j->p == 'f')
        return literal(j, *j->p == 't' ? "true" : "false")
                   ? -1
                   : props_text(j, pr, name, len, start, (size_t)(j->p - start));
    if (value(j, 2))
        return -1;
    return props_text(j, pr, name, len, start, (size_t)(j->p - start));
}

/* UserProperties: an object whose members become the map's entries (nulls are skipped). */
static int user_props(struct jp *j, struct rx_batch *b)
{
    struct hc_buf *name = &b->keys;
    if (expect(j, '{', "UserProperties must be a JSON object"))
        return -1;
    ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        hc_buf_reset(name);
        ws(j);
        if (string(j, name) || expect(j, ':', "expected ':' after a JSON member name"))
            return -1;
        ws(j);
        if (j->p >= j->end)
            return bad(j, HC_E_PARSE, "JSON ends early");
        if (*j->p == 'n') {
            if (literal(j, "null"))
                return -1;
        } else if (props_value(j, b, name->p ? name->p : "", name->len)) {
            return -1;
        }
        ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        return expect(j, '}', "expected ',' or '}' in a JSON object");
    }
}

/* Store the encoded map of b->props in the arena for the event at. */
static int props_store(struct jp *j, struct rx_batch *b, struct rx_event *ev,
                       struct rx_batch_at *at)
{
    struct hc_buf *a = &b->arena;
    at->props = a->len;
    if (rx_props_finish(&b->props, a))
        return bad(j, -ENOMEM, "out of memory");
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

static int event_body(struct jp *j, struct event_ctx *e)
{
    struct hc_buf *a = &e->b->arena;
    const char *start = j->p;
    if (e->seen_body++)
        return bad(j, HC_E_INVAL, "Body given twice");
    if (*j->p == 'n')
        return literal(j, "null"); /* at->body stays (size_t)-1: a null body */
    e->at->body = a->len;
    if (*j->p == '"') {
        if (string(j, a))
            return -1;
    } else {
        if (value(j, 2))
            return -1;
        if (hc_buf_add(a, start, (size_t)(j->p - start)))
            return bad(j, -ENOMEM, "out of memory");
    }
    e->ev->body_len = a->len - e->at->body;
    return 0;
}

static int event_member(struct jp *j, const char *key, void *ctx)
{
    struct event_ctx *e = ctx;
    if (j->p >= j->end)
        return bad(j, HC_E_PARSE, "JSON ends early");
    if (!strcasecmp(key, "Body"))
        return event_body(j, e);
    if (!strcasecmp(key, "UserProperties")) {
        if (e->seen_user++)
            return bad(j, HC_E_INVAL, "UserProperties given twice");
        if (*j->p == 'n')
            return literal(j, "null");
        return user_props(j, e->b);
    }
    if (!strcasecmp(key, "BrokerProperties")) {
        if (e->seen_broker++)
            return bad(j, HC_E_INVAL, "BrokerProperties given twice");
        if (*j->p == 'n')
            return literal(j, "null");
        return broker_object(j, e->b, e->ev, e->at);
    }
    return value(j, 2);
}

static int event_object(struct jp *j, struct rx_batch *b)
{
    struct event_ctx e;
    int rc;
    memset(&e, 0, sizeof e);
    e.b = b;
    if (add_event(b, &e.ev, &e.at))
        return bad(j, -ENOMEM, "out of memory");
    rx_props_reset(&b->props);
    rc = members(j, &b->keys, event_member, &e, "each event of the batch must be a JSON object");
    if (rc)
        return -1;
    if (!e.seen_body)
        return bad(j, HC_E_INVAL, "an event of the batch has no Body");
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

static int finish(struct rx_batch *b, struct jp *j, const char **why)
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
    struct jp j = {json, json + len, NULL, 0};
    /* UTF-8 is checked inside strings (the only place JSON allows bytes above 0x7f); bodies
     * unescape to at most their escaped size; properties encode smaller than their JSON */
    if (hc_buf_reserve(&b->arena, len + 64)) {
        *why = "out of memory";
        return -ENOMEM;
    }
    if (expect(&j, '[', "a batch must be a JSON array of events")) {
        return finish(b, &j, why);
    }
    ws(&j);
    if (j.p < j.end && *j.p == ']')
        bad(&j, HC_E_INVAL, "the batch has no events");
    while (!j.rc) {
        if (event_object(&j, b))
            break;
        ws(&j);
        if (j.p < j.end && *j.p == ',') {
            j.p++;
            continue;
        }
        if (!expect(&j, ']', "expected ',' or ']' after an event")) {
            ws(&j);
            if (j.p != j.end)
                bad(&j, HC_E_PARSE, "text after the JSON array");
        }
        break;
    }
    return finish(b, &j, why);
}

/* ---- Single send ---------------------------------------------------------------------------- */

/* A header value typed as Service Bus does: JSON number, JSON string, else the text itself. */
static int header_prop(struct jp *j, struct rx_batch *b, const struct rx_prop *p)
{
    size_t n = strlen(p->value), len = strlen(p->name);
    struct jp v = {p->value, p->value + n, NULL, 0};
    int integer;
    if (!hc_utf8_valid(p->name, len) || !hc_utf8_valid(p->value, n))
        return bad(j, HC_E_UTF8, "a user property header is not UTF-8");
    if (n && (*p->value == '-' || (*p->value >= '0' && *p->value <= '9')) &&
        !number(&v, &integer) && v.p == v.end)
        return props_number(j, &b->props, p->name, len, p->value, n, integer);
    v = (struct jp){p->value, p->value + n, NULL, 0};
    hc_buf_reset(&b->str);
    if (n >= 2 && *p->value == '"' && !string(&v, &b->str) && v.p == v.end)
        return props_text(j, &b->props, p->name, len, b->str.p ? b->str.p : "", b->str.len);
    return props_text(j, &b->props, p->name, len, p->value, n);
}

int rx_batch_single(struct rx_batch *b, const void *body, size_t len, int check_utf8,
                    const char *broker, const struct rx_prop *props, size_t nprops,
                    const char **why)
{
    struct jp j = {NULL, NULL, NULL, 0};
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
        j = (struct jp){broker, broker + strlen(broker), NULL, 0};
        if (!hc_utf8_valid(broker, strlen(broker)))
            bad(&j, HC_E_UTF8, "the BrokerProperties header is not UTF-8");
        else if (!broker_object(&j, b, ev, at)) {
            ws(&j);
            if (j.p != j.end)
                bad(&j, HC_E_PARSE, "text after the BrokerProperties JSON object");
        }
    }
    rx_props_reset(&b->props);
    for (size_t i = 0; i < nprops && !j.rc; i++)
        header_prop(&j, b, &props[i]);
    if (!j.rc)
        props_store(&j, b, ev, at);
    return finish(b, &j, why);
}
