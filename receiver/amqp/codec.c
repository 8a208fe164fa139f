#include "receiver/amqp/codec.h"

#include <string.h>

#include "common/error.h"

#define RX_AMQP_DEPTH 32

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static int64_t sign(uint64_t v, int n)
{
    if (n < 8 && (v >> (n * 8 - 1)) & 1)
        v |= ~(uint64_t)0 << (n * 8);
    return (int64_t)v;
}

/* The width of a fixed-width value of format code c, or -1 when c is not one. */
static int fixed_width(uint8_t c)
{
    switch (c >> 4) {
    case 0x4:
        return c <= 0x45 ? 0 : -1;
    case 0x5:
        return c <= 0x56 ? 1 : -1;
    case 0x6:
        return c <= 0x61 ? 2 : -1;
    case 0x7:
        return c <= 0x74 ? 4 : -1;
    case 0x8:
        return c <= 0x84 ? 8 : -1;
    case 0x9:
        return c == 0x94 || c == 0x98 ? 16 : -1;
    default:
        return -1;
    }
}

static void fixed_value(uint8_t c, const uint8_t *p, int w, struct rx_amqp_val *v)
{
    uint64_t x = w ? be(p, w) : 0;
    v->bytes = p;
    v->len = (size_t)w;
    switch (c) {
    case 0x40:
        v->kind = RX_AK_NULL;
        break;
    case 0x41:
    case 0x42:
        v->kind = RX_AK_BOOL;
        v->u = c == 0x41;
        break;
    case 0x56:
        v->kind = RX_AK_BOOL;
        v->u = x != 0;
        break;
    case 0x43:
    case 0x44:
    case 0x50:
    case 0x52:
    case 0x53:
    case 0x60:
    case 0x70:
    case 0x80:
        v->kind = RX_AK_UINT;
        v->u = x;
        break;
    case 0x51:
    case 0x54:
    case 0x55:
    case 0x61:
    case 0x71:
    case 0x81:
        v->kind = RX_AK_INT;
        v->i = sign(x, w);
        break;
    case 0x72: {
        uint32_t b = (uint32_t)x;
        float f;
        memcpy(&f, &b, 4);
        v->kind = RX_AK_FLOAT;
        v->d = f;
        break;
    }
    case 0x82:
        v->kind = RX_AK_FLOAT;
        memcpy(&v->d, &x, 8);
        break;
    case 0x73:
        v->kind = RX_AK_CHAR;
        v->u = x;
        break;
    case 0x83:
        v->kind = RX_AK_TIME;
        v->i = (int64_t)x;
        break;
    case 0x98:
        v->kind = RX_AK_UUID;
        break;
    default: /* 0x74, 0x84, 0x94 */
        v->kind = RX_AK_DECIMAL;
        break;
    }
}

/* Variable-width and compound values: c's size (and count) field widths. */
static int var_value(uint8_t c, const uint8_t *p, const uint8_t *end, struct rx_amqp_val *v,
                     const uint8_t **next)
{
    int w = (c & 0xf0) == 0xa0 || (c & 0xf0) == 0xc0 || (c & 0xf0) == 0xe0 ? 1 : 4;
    uint64_t size;
    int compound = (c & 0xf0) >= 0xc0;
    if (end - p < w)
        return HC_E_PARSE;
    size = be(p, w);
    p += w;
    if (size > (uint64_t)(end - p) || (compound && size < (uint64_t)w))
        return HC_E_PARSE;
    *next = p + size;
    if (!compound) {
        static const enum rx_amqp_kind k[4] = {RX_AK_BINARY, RX_AK_STRING, RX_AK_NULL,
                                               RX_AK_SYMBOL};
        if ((c & 0x0f) > 3 || (c & 0x0f) == 2)
            return HC_E_PARSE;
        v->kind = k[c & 0x0f];
        v->bytes = p;
        v->len = (size_t)size;
        return 0;
    }
    if ((c & 0x0f) > ((c & 0xf0) >= 0xe0 ? 0 : 1))
        return HC_E_PARSE;
    v->count = (uint32_t)be(p, w);
    v->bytes = p + w;
    v->len = (size_t)size - (size_t)w;
    v->kind = (c & 0xf0) == 0xe0 || (c & 0xf0) == 0xf0 ? RX_AK_ARRAY
              : (c & 0x0f) == 0                        ? RX_AK_LIST
                                                       : RX_AK_MAP;
    if (v->kind == RX_AK_MAP && v->count % 2)
        return HC_E_PARSE;
    if (v->kind != RX_AK_ARRAY && v->count > v->len) /* every item takes a byte at least */
        return HC_E_PARSE;
    return 0;
}

static int read_at(struct rx_amqp_rd *r, struct rx_amqp_val *v, int depth)
{
    const uint8_t *p = r->p, *next;
    uint8_t c;
    int w;
    if (p >= r->end || depth > RX_AMQP_DEPTH)
        return HC_E_PARSE;
    memset(v, 0, sizeof *v);
    c = *p++;
    v->code = c;
    if (c == 0x00) {
        struct rx_amqp_rd in = {p, r->end};
        struct rx_amqp_val d;
        if (read_at(&in, &d, depth + 1) || read_at(&in, &d, depth + 1))
            return HC_E_PARSE;
        v->kind = RX_AK_DESCRIBED;
        v->bytes = p;
        v->len = (size_t)(in.p - p);
        next = in.p;
    } else if (c == 0x45) {
        v->kind = RX_AK_LIST;
        v->bytes = p;
        next = p;
    } else if ((w = fixed_width(c)) >= 0) {
        if (r->end - p < w)
            return HC_E_PARSE;
        fixed_value(c, p, w, v);
        next = p + w;
    } else if (c >= 0xa0 && var_value(c, p, r->end, v, &next) == 0) {
        /* done */
    } else {
        return HC_E_PARSE;
    }
    v->raw = r->p;
    v->raw_len = (size_t)(next - r->p);
    r->p = next;
    return 0;
}

int rx_amqp_read(struct rx_amqp_rd *r, struct rx_amqp_val *v)
{
    return read_at(r, v, 0);
}

int rx_amqp_enter(const struct rx_amqp_val *v, struct rx_amqp_rd *items)
{
    if (v->kind != RX_AK_LIST && v->kind != RX_AK_MAP)
        return HC_E_PARSE;
    items->p = v->bytes;
    items->end = v->bytes + v->len;
    return 0;
}

int rx_amqp_described(const struct rx_amqp_val *v, uint64_t *code, struct rx_amqp_val *sym,
                      struct rx_amqp_val *inner)
{
    struct rx_amqp_rd r;
    struct rx_amqp_val d;
    if (v->kind != RX_AK_DESCRIBED)
        return HC_E_PARSE;
    r.p = v->bytes;
    r.end = v->bytes + v->len;
    if (rx_amqp_read(&r, &d) || rx_amqp_read(&r, inner))
        return HC_E_PARSE;
    if (d.kind == RX_AK_UINT)
        *code = d.u;
    else if (d.kind == RX_AK_SYMBOL)
        *code = 0;
    else
        return HC_E_PARSE;
    if (sym)
        *sym = d;
    return 0;
}

int rx_amqp_array_begin(const struct rx_amqp_val *v, struct rx_amqp_rd *rd, uint8_t *ctor)
{
    if (v->kind != RX_AK_ARRAY || v->len < 1)
        return HC_E_PARSE;
    *ctor = v->bytes[0];
    if (*ctor == 0x00) /* described element constructors are not read */
        return HC_E_PARSE;
    rd->p = v->bytes + 1;
    rd->end = v->bytes + v->len;
    return 0;
}

int rx_amqp_array_next(struct rx_amqp_rd *rd, uint8_t ctor, struct rx_amqp_val *out)
{
    /* an element is its constructor's value without the constructor byte */
    const uint8_t *next;
    int w = fixed_width(ctor);
    memset(out, 0, sizeof *out);
    out->code = ctor;
    if (w >= 0) {
        if (rd->end - rd->p < w)
            return HC_E_PARSE;
        fixed_value(ctor, rd->p, w, out);
        rd->p += w;
        return 0;
    }
    if (ctor < 0xa0)
        return HC_E_PARSE;
    if (var_value(ctor, rd->p, rd->end, out, &next))
        return HC_E_PARSE;
    rd->p = next;
    return 0;
}

int rx_amqp_is(const struct rx_amqp_val *v, const char *s)
{
    size_t n = strlen(s);
    return (v->kind == RX_AK_STRING || v->kind == RX_AK_SYMBOL) && v->len == n &&
           memcmp(v->bytes, s, n) == 0;
}

int rx_amqp_int(const struct rx_amqp_val *v, int64_t *out)
{
    if (v->kind == RX_AK_INT)
        *out = v->i;
    else if (v->kind == RX_AK_UINT && v->u <= INT64_MAX)
        *out = (int64_t)v->u;
    else
        return HC_E_INVAL;
    return 0;
}
