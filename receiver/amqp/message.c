#include "receiver/amqp/message.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

static int bad(const char **why, const char *text)
{
    *why = text;
    return HC_E_PARSE;
}

/* One section: its descriptor code and value. */
static int section(struct rx_amqp_rd *rd, uint64_t *code, struct rx_amqp_val *v)
{
    struct rx_amqp_val s;
    if (rx_amqp_read(rd, &s) || rx_amqp_described(&s, code, NULL, v))
        return HC_E_PARSE;
    return 0;
}

static int once(struct rx_amqp_val *slot, const struct rx_amqp_val *v, enum rx_amqp_kind want)
{
    if (slot->kind != RX_AK_NULL || (v->kind != want && v->kind != RX_AK_NULL))
        return HC_E_PARSE;
    *slot = *v;
    return 0;
}

static int take_section(struct rx_amqp_msg *m, uint64_t code, const struct rx_amqp_val *v)
{
    switch (code) {
    case RX_AS_HEADER:
    case RX_AS_DELIVERY_ANN:
    case RX_AS_FOOTER:
        return 0;
    case RX_AS_MESSAGE_ANN:
        return once(&m->annotations, v, RX_AK_MAP);
    case RX_AS_PROPERTIES:
        return once(&m->properties, v, RX_AK_LIST);
    case RX_AS_APP_PROPS:
        return once(&m->app, v, RX_AK_MAP);
    case RX_AS_DATA:
        if (v->kind != RX_AK_BINARY || m->value.kind != RX_AK_NULL || m->nseq)
            return HC_E_PARSE;
        if (!m->ndata++)
            m->data0 = *v;
        m->data_bytes += v->len;
        return 0;
    case RX_AS_SEQUENCE:
        if (v->kind != RX_AK_LIST || m->ndata || m->value.kind != RX_AK_NULL)
            return HC_E_PARSE;
        m->nseq++;
        return 0;
    case RX_AS_VALUE:
        if (m->ndata || m->nseq || m->value.code)
            return HC_E_PARSE;
        m->value = *v; /* may be null: code 0x40 tells it was there */
        return 0;
    default:
        return HC_E_PARSE;
    }
}

int rx_amqp_msg_parse(const uint8_t *p, size_t n, struct rx_amqp_msg *m, const char **why)
{
    struct rx_amqp_rd rd = {p, p + n};
    memset(m, 0, sizeof *m);
    m->p = p;
    m->end = p + n;
    if (!n)
        return bad(why, "an empty message");
    while (rd.p < rd.end) {
        uint64_t code;
        struct rx_amqp_val v;
        if (section(&rd, &code, &v))
            return bad(why, "the message is not a sequence of AMQP message sections");
        if (take_section(m, code, &v))
            return bad(why,
                       "a message section is repeated, of the wrong type or of two body kinds");
    }
    return 0;
}

int rx_amqp_msg_next_data(struct rx_amqp_rd *rd, struct rx_amqp_val *data)
{
    while (rd->p < rd->end) {
        uint64_t code;
        if (section(rd, &code, data))
            return 0;
        if (code == RX_AS_DATA)
            return 1;
    }
    return 0;
}

int rx_amqp_msg_annotation(const struct rx_amqp_msg *m, const char *key, struct rx_amqp_val *out)
{
    struct rx_amqp_rd rd;
    struct rx_amqp_val k;
    if (rx_amqp_enter(&m->annotations, &rd))
        return 0;
    while (rd.p < rd.end) {
        if (rx_amqp_read(&rd, &k) || rx_amqp_read(&rd, out))
            return 0;
        if (rx_amqp_is(&k, key))
            return out->kind == RX_AK_STRING;
    }
    return 0;
}

/* ---- Events --------------------------------------------------------------------------------- */

void rx_amqp_events_init(struct rx_amqp_events *e)
{
    memset(e, 0, sizeof *e);
    rx_props_init(&e->props);
}

void rx_amqp_events_free(struct rx_amqp_events *e)
{
    if (!e)
        return;
    free(e->ev);
    hc_buf_free(&e->arena);
    hc_buf_free(&e->offs);
    rx_props_free(&e->props);
    memset(e, 0, sizeof *e);
}

size_t rx_amqp_events_bytes(const struct rx_amqp_events *e)
{
    return e->cap * sizeof *e->ev + e->arena.cap + e->offs.cap;
}

static const char *const prop_refused = "an application property was refused";

/* One application property: name[0..len) = v, typed as the header says. */
static int prop(struct rx_props *pr, const struct rx_amqp_val *k, const struct rx_amqp_val *v,
                const char **why)
{
    const char *name = (const char *)k->bytes;
    size_t len = k->len;
    char text[40];
    switch (v->kind) {
    case RX_AK_NULL:
        return 0;
    case RX_AK_INT:
    case RX_AK_TIME:
        return rx_props_long(pr, name, len, v->i, why);
    case RX_AK_UINT:
        if (v->u > INT64_MAX)
            return rx_props_string(pr, name, len, text,
                                   (size_t)snprintf(text, sizeof text, "%" PRIu64, v->u), why);
        return rx_props_long(pr, name, len, (int64_t)v->u, why);
    case RX_AK_FLOAT:
        return rx_props_double(pr, name, len, v->d, why);
    case RX_AK_BOOL:
        return rx_props_string(pr, name, len, v->u ? "true" : "false", v->u ? 4 : 5, why);
    case RX_AK_STRING:
    case RX_AK_SYMBOL:
        return rx_props_string(pr, name, len, v->bytes, v->len, why);
    case RX_AK_BINARY:
        return rx_props_bytes(pr, name, len, v->bytes, v->len, why);
    case RX_AK_UUID: {
        const uint8_t *u = v->bytes;
        int n = snprintf(text, sizeof text,
                         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                         u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
                         u[12], u[13], u[14], u[15]);
        return rx_props_string(pr, name, len, text, (size_t)n, why);
    }
    case RX_AK_CHAR: {
        uint32_t c = (uint32_t)v->u;
        size_t n = 0;
        if (c < 0x80) {
            text[n++] = (char)c;
        } else if (c < 0x800) {
            text[n++] = (char)(0xc0 | c >> 6);
            text[n++] = (char)(0x80 | (c & 0x3f));
        } else if (c < 0x10000) {
            text[n++] = (char)(0xe0 | c >> 12);
            text[n++] = (char)(0x80 | ((c >> 6) & 0x3f));
            text[n++] = (char)(0x80 | (c & 0x3f));
        } else {
            text[n++] = (char)(0xf0 | ((c >> 18) & 0x07));
            text[n++] = (char)(0x80 | ((c >> 12) & 0x3f));
            text[n++] = (char)(0x80 | ((c >> 6) & 0x3f));
            text[n++] = (char)(0x80 | (c & 0x3f));
        }
        return rx_props_string(pr, name, len, text, n, why);
    }
    default:
        return rx_props_bytes(pr, name, len, v->raw, v->raw_len, why);
    }
}

static int props_of(struct rx_amqp_events *e, const struct rx_amqp_msg *m, const char **why)
{
    struct rx_amqp_rd rd;
    rx_props_reset(&e->props);
    if (m->app.kind == RX_AK_NULL)
        return 0;
    rx_amqp_enter(&m->app, &rd);
    while (rd.p < rd.end) {
        struct rx_amqp_val k, v;
        int rc;
        if (rx_amqp_read(&rd, &k) || rx_amqp_read(&rd, &v))
            return bad(why, "malformed application-properties");
        if (k.kind != RX_AK_STRING && k.kind != RX_AK_SYMBOL)
            return bad(why, "an application property's name is not a string");
        if ((rc = prop(&e->props, &k, &v, why))) {
            if (!*why)
                *why = prop_refused;
            return rc;
        }
    }
    return 0;
}

static struct rx_event *event_add(struct rx_amqp_events *e)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        struct rx_event *ev = realloc(e->ev, cap * sizeof *ev);
        if (!ev)
            return NULL;
        e->ev = ev;
        e->cap = cap;
    }
    memset(&e->ev[e->n], 0, sizeof e->ev[0]);
    return &e->ev[e->n++];
}

/* The body of one message; bytes copied to the arena are noted at ev->body_len's offset. */
static int body_of(struct rx_amqp_events *e, const struct rx_amqp_msg *m, struct rx_event *ev,
                   size_t *arena_at)
{
    *arena_at = SIZE_MAX;
    if (m->ndata == 1) {
        ev->body = m->data0.bytes;
        ev->body_len = m->data0.len;
    } else if (m->ndata > 1) { /* concatenated in the arena */
        struct rx_amqp_rd rd = {m->p, m->end};
        struct rx_amqp_val d;
        *arena_at = e->arena.len;
        while (rx_amqp_msg_next_data(&rd, &d))
            if (hc_buf_add(&e->arena, d.bytes, d.len))
                return -ENOMEM;
        ev->body_len = e->arena.len - *arena_at;
    } else if (m->value.code && m->value.kind != RX_AK_NULL) {
        int plain = m->value.kind == RX_AK_BINARY || m->value.kind == RX_AK_STRING;
        ev->body = plain ? m->value.bytes : m->value.raw;
        ev->body_len = plain ? m->value.len : m->value.raw_len;
    } else if (m->nseq) { /* the sections as they came: the sequences' encodings */
        ev->body = m->p;
        ev->body_len = (size_t)(m->end - m->p);
    }
    return 0;
}

/* One event from message m (env: the batch envelope for its partition key, or NULL). */
static int event_of(struct rx_amqp_events *e, const struct rx_amqp_msg *m,
                    const struct rx_amqp_msg *env, const char **why)
{
    struct rx_amqp_val pk;
    struct rx_event *ev;
    size_t at[2];
    int rc;
    if ((rc = props_of(e, m, why)))
        return rc;
    if (!(ev = event_add(e)))
        return -ENOMEM;
    if (rx_amqp_msg_annotation(m, "x-opt-partition-key", &pk) ||
        (env && rx_amqp_msg_annotation(env, "x-opt-partition-key", &pk))) {
        if (pk.len > RX_PKEY_MAX) {
            *why = "the partition key is longer than 128 bytes";
            return HC_E_INVAL;
        }
        ev->pkey = (const char *)pk.bytes;
        ev->pkey_len = pk.len;
    }
    if (body_of(e, m, ev, &at[0]))
        return -ENOMEM;
    at[1] = e->arena.len;
    if (rx_props_finish(&e->props, &e->arena))
        return -ENOMEM;
    ev->props_len = e->arena.len - at[1];
    return hc_buf_add(&e->offs, at, sizeof at) ? -ENOMEM : 0;
}

/* 1 when every data section of m is itself a message with a body: a batch. */
static int is_batch(const struct rx_amqp_msg *m)
{
    struct rx_amqp_rd rd = {m->p, m->end};
    struct rx_amqp_val d;
    const char *why;
    if (!m->ndata)
        return 0;
    while (rx_amqp_msg_next_data(&rd, &d)) {
        struct rx_amqp_msg in;
        if (rx_amqp_msg_parse(d.bytes, d.len, &in, &why) || !(in.ndata || in.nseq || in.value.code))
            return 0;
    }
    return 1;
}

/* Point the events at the arena, now that it no longer moves. */
static void fix_pointers(struct rx_amqp_events *e)
{
    const size_t *at = (const size_t *)(const void *)e->offs.p;
    for (size_t i = 0; i < e->n; i++) {
        if (at[2 * i] != SIZE_MAX)
            e->ev[i].body = (const uint8_t *)e->arena.p + at[2 * i];
        e->ev[i].props = (const uint8_t *)e->arena.p + at[2 * i + 1];
    }
}

int rx_amqp_events_decode(struct rx_amqp_events *e, const uint8_t *p, size_t n, const char **why)
{
    struct rx_amqp_msg m;
    int rc;
    e->n = 0;
    e->batch = 0;
    hc_buf_reset(&e->arena);
    hc_buf_reset(&e->offs);
    *why = NULL;
    if ((rc = rx_amqp_msg_parse(p, n, &m, why)))
        return rc;
    if (is_batch(&m)) {
        struct rx_amqp_rd rd = {m.p, m.end};
        struct rx_amqp_val d;
        e->batch = 1;
        while (rx_amqp_msg_next_data(&rd, &d)) {
            struct rx_amqp_msg in;
            if ((rc = rx_amqp_msg_parse(d.bytes, d.len, &in, why)) ||
                (rc = event_of(e, &in, &m, why)))
                return rc;
        }
    } else if ((rc = event_of(e, &m, NULL, why))) {
        return rc;
    }
    fix_pointers(e);
    return 0;
}
