#include "receiver/amqp/wire.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "receiver/amqp/codec.h"

#define WIRE_DEPTH 32
#define WIRE_HEAD  32 /* bytes of a frame body held first: descriptor and list header fit */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- Well-formed values --------------------------------------------------------------------- */

static int valid(const struct rx_amqp_val *v, int depth);

static int valid_array(const struct rx_amqp_val *v, int depth)
{
    struct rx_amqp_rd rd = {v->bytes, v->bytes + v->len};
    struct rx_amqp_val e;
    uint8_t ctor;
    if (v->len < 1)
        return HC_E_PARSE;
    if (v->count > v->len && v->count > 4096) /* zero-width elements: no endless loop */
        return HC_E_PARSE;
    ctor = *rd.p++;
    if (ctor == 0x00) { /* a described element constructor: its descriptor, then the code */
        if (rx_amqp_read(&rd, &e) || valid(&e, depth + 1) || rd.p >= rd.end)
            return HC_E_PARSE;
        ctor = *rd.p++;
    }
    for (uint32_t i = 0; i < v->count; i++)
        if (rx_amqp_array_next(&rd, ctor, &e) || valid(&e, depth + 1))
            return HC_E_PARSE;
    return rd.p == rd.end ? 0 : HC_E_PARSE;
}

static int valid(const struct rx_amqp_val *v, int depth)
{
    struct rx_amqp_rd items;
    struct rx_amqp_val it, inner;
    uint64_t code;
    if (depth > WIRE_DEPTH)
        return HC_E_PARSE;
    switch (v->kind) {
    case RX_AK_LIST:
    case RX_AK_MAP:
        if (rx_amqp_enter(v, &items))
            return HC_E_PARSE;
        for (uint32_t i = 0; i < v->count; i++)
            if (rx_amqp_read(&items, &it) || valid(&it, depth + 1))
                return HC_E_PARSE;
        return items.p == items.end ? 0 : HC_E_PARSE;
    case RX_AK_ARRAY:
        return valid_array(v, depth);
    case RX_AK_DESCRIBED:
        if (rx_amqp_described(v, &code, NULL, &inner))
            return HC_E_PARSE;
        return valid(&inner, depth + 1);
    default:
        return 0;
    }
}

int rx_amqp_wire_value_ok(const uint8_t *p, size_t n)
{
    struct rx_amqp_rd r = {p, p + n};
    struct rx_amqp_val v;
    if (rx_amqp_read(&r, &v) || r.p != r.end)
        return HC_E_PARSE;
    return valid(&v, 0);
}

/* ---- In: what a client sends ---------------------------------------------------------------- */

void rx_amqp_wire_in_init(struct rx_amqp_wire_in *w, uint32_t max_frame)
{
    memset(w, 0, sizeof *w);
    w->max_frame = max_frame;
}

void rx_amqp_wire_in_free(struct rx_amqp_wire_in *w)
{
    hc_buf_free(&w->h);
}

static const char *const perf_names[] = {"open",        "begin",  "attach", "flow", "transfer",
                                         "disposition", "detach", "end",    "close"};
static const char *const sasl_names[] = {"sasl-mechanisms", "sasl-init", "sasl-challenge",
                                         "sasl-response", "sasl-outcome"};

static int bad(struct rx_amqp_wire_in *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int bad(struct rx_amqp_wire_in *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->why, sizeof w->why, fmt, ap);
    va_end(ap);
    w->bad = 1;
    return -1;
}

static void unit_done(struct rx_amqp_wire_in *w)
{
    hc_buf_reset(&w->h);
    w->want = 0;
    w->size = 0;
}

/* The frame header in h (8 bytes) is complete: check it and say what to hold next. */
static int frame_header(struct rx_amqp_wire_in *w)
{
    const uint8_t *f = (const uint8_t *)w->h.p;
    uint32_t size = be32(f), doff = f[4], type = f[5];
    w->framing = 1; /* until the header is found good */
    if (size < 8)
        return bad(w, "a frame size of %u (under 8)", size);
    if (size > w->max_frame)
        return bad(w, "a frame of %u bytes (over max-frame-size %u)", size, w->max_frame);
    if (doff < 2 || doff * 4 > size)
        return bad(w, "a data offset of %u in a frame of %u bytes", doff, size);
    if (type > 1)
        return bad(w, "frame type %u (neither AMQP nor SASL)", type);
    w->framing = 0;
    w->size = size;
    if (size == doff * 4) { /* an empty frame (a heartbeat), maybe with an extended header */
        w->skip = size - 8;
        unit_done(w);
        return 0;
    }
    w->want = 8 + (doff * 4 - 8) + (size - doff * 4 < WIRE_HEAD ? size - doff * 4 : WIRE_HEAD);
    return 0;
}

/* h holds a frame's head (want bytes): check its performative, or ask for more of it. */
static int frame_body(struct rx_amqp_wire_in *w)
{
    const uint8_t *f = (const uint8_t *)w->h.p;
    uint32_t type = f[5], room = w->size - f[4] * 4u;
    const uint8_t *q = f + f[4] * 4u;
    size_t have = w->h.len - f[4] * 4u, off, plen;
    const char *name;
    uint64_t code;
    if (q[0] != 0x00 || have < 2)
        return bad(w, "a frame body that is not a described performative");
    if (q[1] == 0x53 && have >= 3) {
        code = q[2];
        off = 3;
    } else if (q[1] == 0x80 && have >= 10) {
        code = (uint64_t)be32(q + 2) << 32 | be32(q + 6);
        off = 10;
    } else {
        return bad(w, "a performative whose descriptor is not a ulong");
    }
    if (type == 0 ? code < 0x10 || code > 0x18 : code < 0x40 || code > 0x44)
        return bad(w, "an unknown %s performative 0x%llx", type ? "SASL" : "AMQP",
                   (unsigned long long)code);
    name = type ? sasl_names[code - 0x40] : perf_names[code - 0x10];
    if (have <= off)
        return bad(w, "%s without its fields", name);
    if (q[off] == 0x45) {
        plen = off + 1;
    } else if (q[off] == 0xc0 && have >= off + 2) {
        plen = off + 2 + q[off + 1];
    } else if (q[off] == 0xd0 && have >= off + 5) {
        plen = off + 5 + (size_t)be32(q + off + 1);
    } else {
        return bad(w, "%s fields that are not a list", name);
    }
    if (plen > room)
        return bad(w, "%s longer than its frame", name);
    if (have < plen) { /* the whole performative, then */
        w->want = f[4] * 4u + plen;
        return 0;
    }
    if (rx_amqp_wire_value_ok(q + off, plen - off))
        return bad(w, "a malformed %s (its fields are not valid AMQP values)", name);
    if (type == 0 && code == 0x12 && w->on_attach)
        w->on_attach(w->on_attach_ctx, q + off, plen - off);
    w->skip = w->size - w->h.len; /* a transfer's payload, or bytes after the performative */
    unit_done(w);
    return 0;
}

/* h holds want bytes: go on with the unit. */
static int step(struct rx_amqp_wire_in *w)
{
    const uint8_t *f = (const uint8_t *)w->h.p;
    if (!w->size) {
        if (!memcmp(f, "AMQP", 4)) { /* a protocol header (proton checks the version) */
            unit_done(w);
            return 0;
        }
        return frame_header(w);
    }
    return frame_body(w);
}

size_t rx_amqp_wire_check(struct rx_amqp_wire_in *w, const uint8_t *p, size_t n, const char **why)
{
    size_t good = 0, ustart = 0;
    while (good < n && !w->bad) {
        size_t take;
        if (w->skip) {
            take = w->skip < n - good ? (size_t)w->skip : n - good;
            w->skip -= take;
            good += take;
            continue;
        }
        if (!w->want)
            w->want = 8;
        if (!w->h.len)
            ustart = good;
        take = w->want - w->h.len < n - good ? w->want - w->h.len : n - good;
        if (hc_buf_add(&w->h, p + good, take)) {
            bad(w, "out of memory");
            break;
        }
        good += take;
        if (w->h.len < w->want)
            break;
        if (step(w))
            break;
    }
    if (w->bad) {
        *why = w->why;
        return ustart < good ? ustart : good;
    }
    return good;
}

/* ---- Out: what proton writes ---------------------------------------------------------------- */

/* A field's default encoding (len bytes). */
struct deflt {
    uint8_t len, b[5];
};

#define NUL                                                                                        \
    {                                                                                              \
        1,                                                                                         \
        {                                                                                          \
            0x40                                                                                   \
        }                                                                                          \
    }
#define F                                                                                          \
    {                                                                                              \
        1,                                                                                         \
        {                                                                                          \
            0x42                                                                                   \
        }                                                                                          \
    }
#define U0                                                                                         \
    {                                                                                              \
        1,                                                                                         \
        {                                                                                          \
            0x43                                                                                   \
        }                                                                                          \
    }

static const struct deflt d_open[] = {{2, {0xa1, 0}},
                                      NUL,
                                      {5, {0x70, 0xff, 0xff, 0xff, 0xff}},
                                      {3, {0x60, 0xff, 0xff}},
                                      NUL,
                                      NUL,
                                      NUL,
                                      NUL,
                                      NUL,
                                      NUL};
static const struct deflt d_begin[] = {NUL, U0,  U0, U0, {5, {0x70, 0xff, 0xff, 0xff, 0xff}},
                                       NUL, NUL, NUL};
static const struct deflt d_attach[] = {
    {2, {0xa1, 0}},   U0, F, {2, {0x50, 2}}, {2, {0x50, 0}}, NUL, NUL, NUL, F, NUL, NUL, NUL, NUL,
    {3, {0xc1, 1, 0}}};
static const struct deflt d_flow[] = {NUL, U0, U0, U0, NUL, NUL, NUL, NUL, F, F, NUL};
static const struct deflt d_transfer[] = {U0, NUL, NUL, NUL, NUL, F, NUL, NUL, F, F, F};
static const struct deflt d_disposition[] = {F, U0, NUL, F, NUL, F};
static const struct deflt d_detach[] = {U0, F, NUL};
static const struct deflt d_error[] = {NUL};

static const struct {
    const struct deflt *d;
    uint32_t n;
} fields[9] = {{d_open, 10},       {d_begin, 8},  {d_attach, 14}, {d_flow, 11}, {d_transfer, 11},
               {d_disposition, 6}, {d_detach, 3}, {d_error, 1},   {d_error, 1}};

/*
 * One whole frame f (len bytes, len >= 8) to out, its performative padded when short (and
 * begin's handle-max or attach's properties given their default when written as null).
 */
static int pad_frame(const uint8_t *f, size_t len, uint32_t max_frame, struct hc_buf *out)
{
    size_t hdr = f[4] * 4u, flen, padlen = 0, plen, size;
    const uint8_t *q = f + hdr, *fl, *end = f + len;
    uint32_t cnt, want, nf;
    const struct deflt *fill = NULL;
    size_t hole = 0;
    uint8_t *o;
    if (f[5] != 0 || hdr < 8 || len < hdr + 4 || q[0] != 0x00 || q[1] != 0x53 || q[2] < 0x10 ||
        q[2] > 0x18)
        return hc_buf_add(out, f, len);
    want = fields[q[2] - 0x10].n;
    if (q[3] == 0x45) {
        cnt = 0;
        fl = q + 4;
        flen = 0;
    } else if (q[3] == 0xc0 && len >= hdr + 6 && q[4] >= 1) {
        cnt = q[5];
        fl = q + 6;
        flen = q[4] - 1u;
    } else if (q[3] == 0xd0 && len >= hdr + 12 && be32(q + 4) >= 4) {
        cnt = be32(q + 8);
        fl = q + 12;
        flen = be32(q + 4) - 4u;
    } else {
        return hc_buf_add(out, f, len);
    }
    if (flen > (size_t)(end - fl))
        return hc_buf_add(out, f, len);
    /* a null where an index reader needs a value: begin's handle-max, attach's properties */
    nf = q[2] == 0x11 ? 4 : q[2] == 0x12 ? 13 : UINT32_MAX;
    if (nf < cnt) {
        struct rx_amqp_rd r = {fl, fl + flen};
        struct rx_amqp_val v;
        for (uint32_t i = 0; i <= nf; i++)
            if (rx_amqp_read(&r, &v))
                return hc_buf_add(out, f, len);
        if (v.code == 0x40) {
            hole = (size_t)(v.raw - fl);
            fill = &fields[q[2] - 0x10].d[nf];
        }
    }
    if (cnt >= want && !fill)
        return hc_buf_add(out, f, len);
    for (uint32_t i = cnt; i < want; i++)
        padlen += fields[q[2] - 0x10].d[i].len;
    if (fill)
        padlen += fill->len - 1u;
    if (want < cnt)
        want = cnt;
    plen = (size_t)(end - (fl + flen));
    size = hdr + 3 + 9 + flen + padlen + plen;
    if (size > UINT32_MAX || (max_frame && size > max_frame))
        return hc_buf_add(out, f, len);
    if (hc_buf_reserve(out, size))
        return -ENOMEM;
    o = (uint8_t *)out->p + out->len;
    put32(o, (uint32_t)size);
    memcpy(o + 4, f + 4, hdr - 4);
    o += hdr;
    memcpy(o, q, 3);
    o[3] = 0xd0;
    put32(o + 4, (uint32_t)(4 + flen + padlen));
    put32(o + 8, want);
    o += 12;
    if (fill) {
        memcpy(o, fl, hole);
        memcpy(o + hole, fill->b, fill->len);
        memcpy(o + hole + fill->len, fl + hole + 1, flen - hole - 1);
        o += flen - 1 + fill->len;
    } else {
        memcpy(o, fl, flen);
        o += flen;
    }
    for (uint32_t i = cnt; i < want; i++) {
        const struct deflt *d = &fields[q[2] - 0x10].d[i];
        memcpy(o, d->b, d->len);
        o += d->len;
    }
    memcpy(o, fl + flen, plen);
    out->len += size;
    return 0;
}

/* The length of the unit starting with these 8 bytes; 0 when it cannot be read. */
static size_t unit_len(const uint8_t *p)
{
    uint32_t size;
    if (!memcmp(p, "AMQP", 4))
        return 8;
    size = be32(p);
    return size >= 8 ? size : 0;
}

static int unit_out(const struct rx_amqp_wire_out *w, const uint8_t *p, size_t len,
                    struct hc_buf *out)
{
    return len == 8 && !memcmp(p, "AMQP", 4) ? hc_buf_add(out, p, len)
                                             : pad_frame(p, len, w->max_frame, out);
}

int rx_amqp_wire_pad(struct rx_amqp_wire_out *w, const uint8_t *p, size_t n, struct hc_buf *out)
{
    size_t ulen;
    int rc;
    if (w->raw)
        return hc_buf_add(out, p, n);
    if (w->h.len) { /* the rest of the held unit first */
        size_t take = w->h.len < 8 ? 8 - w->h.len : 0;
        take = take < n ? take : n;
        if (hc_buf_add(&w->h, p, take))
            return -ENOMEM;
        p += take;
        n -= take;
        if (w->h.len < 8)
            return 0;
        if (!(ulen = unit_len((const uint8_t *)w->h.p))) {
            w->raw = 1;
            rc = hc_buf_add(out, w->h.p, w->h.len);
            hc_buf_reset(&w->h);
            return rc ? rc : hc_buf_add(out, p, n);
        }
        take = ulen - w->h.len < n ? ulen - w->h.len : n;
        if (hc_buf_add(&w->h, p, take))
            return -ENOMEM;
        p += take;
        n -= take;
        if (w->h.len < ulen)
            return 0;
        rc = unit_out(w, (const uint8_t *)w->h.p, w->h.len, out);
        hc_buf_reset(&w->h);
        if (rc)
            return rc;
    }
    while (n) {
        if (n < 8 || (ulen = unit_len(p)) > n)
            return hc_buf_add(&w->h, p, n);
        if (!ulen) {
            w->raw = 1;
            return hc_buf_add(out, p, n);
        }
        if ((rc = unit_out(w, p, ulen, out)))
            return rc;
        p += ulen;
        n -= ulen;
    }
    return 0;
}

void rx_amqp_wire_out_free(struct rx_amqp_wire_out *w)
{
    hc_buf_free(&w->h);
}
