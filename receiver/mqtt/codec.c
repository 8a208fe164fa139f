/* codec.c - MQTT packets and IoT Hub topics (codec.h). Pure. */
#include "receiver/mqtt/codec.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"

#define P_SESSION_EXPIRY  0x11
#define P_RECEIVE_MAXIMUM 0x21
#define P_USER_PROPERTY   0x26

/* ---- encoding ------------------------------------------------------------------------------ */

static int add_varint(struct hc_buf *b, size_t v)
{
    do {
        unsigned char ch = (unsigned char)(v & 127);
        v >>= 7;
        if (v)
            ch |= 128;
        if (hc_buf_addc(b, (char)ch))
            return -ENOMEM;
    } while (v);
    return 0;
}

static int add_u16(struct hc_buf *b, unsigned v)
{
    char two[2] = {(char)(v >> 8), (char)v};
    return hc_buf_add(b, two, 2);
}

static int add_str(struct hc_buf *b, const char *s, size_t n)
{
    return add_u16(b, (unsigned)n) || hc_buf_add(b, s, n) ? -ENOMEM : 0;
}

/* The fixed header (type and flags byte, remaining length) and body, appended. */
static int packet(struct hc_buf *out, unsigned char first, const struct hc_buf *body)
{
    size_t start = out->len;
    if (hc_buf_addc(out, (char)first) || add_varint(out, body->len) ||
        hc_buf_add(out, body->p ? body->p : "", body->len)) {
        hc_buf_truncate(out, start);
        return -ENOMEM;
    }
    return 0;
}

int rx_mq_connect(struct hc_buf *out, const struct rx_mq_connect *c)
{
    struct hc_buf b = HC_BUF_INIT, pr = HC_BUF_INIT;
    unsigned char flags = c->clean ? 0x02 : 0;
    const char *cid = c->client_id ? c->client_id : "";
    int rc = -ENOMEM;
    if (c->username)
        flags |= 0x80;
    if (c->password)
        flags |= 0x40;
    if (add_str(&b, "MQTT", 4) || hc_buf_addc(&b, (char)c->version) ||
        hc_buf_addc(&b, (char)flags) ||
        add_u16(&b, c->keepalive_s > 65535 ? 65535 : c->keepalive_s))
        goto out_free;
    if (c->version == RX_MQ_V5) {
        if (c->session_expiry_s &&
            (hc_buf_addc(&pr, P_SESSION_EXPIRY) || hc_buf_add_be(&pr, c->session_expiry_s, 4)))
            goto out_free;
        if (c->receive_maximum &&
            (hc_buf_addc(&pr, P_RECEIVE_MAXIMUM) || add_u16(&pr, c->receive_maximum)))
            goto out_free;
        if (add_varint(&b, pr.len) || hc_buf_add(&b, pr.p ? pr.p : "", pr.len))
            goto out_free;
    }
    if (add_str(&b, cid, strlen(cid)) ||
        (c->username && add_str(&b, c->username, strlen(c->username))) ||
        (c->password && add_str(&b, c->password, strlen(c->password))))
        goto out_free;
    rc = packet(out, 0x10, &b);
out_free:
    if (b.p)
        memset(b.p, 0, b.len); /* it held the password */
    hc_buf_free(&b);
    hc_buf_free(&pr);
    return rc;
}

int rx_mq_subscribe(struct hc_buf *out, int version, uint16_t packet_id, const char *filter,
                    size_t len)
{
    struct hc_buf b = HC_BUF_INIT;
    int rc = -ENOMEM;
    if (add_u16(&b, packet_id) || (version == RX_MQ_V5 && hc_buf_addc(&b, 0)) ||
        add_str(&b, filter, len) || hc_buf_addc(&b, 1 /* QoS 1 */))
        goto out_free;
    rc = packet(out, 0x82, &b);
out_free:
    hc_buf_free(&b);
    return rc;
}

int rx_mq_puback(struct hc_buf *out, uint16_t packet_id)
{
    char p[4] = {0x40, 2, (char)(packet_id >> 8), (char)packet_id};
    return hc_buf_add(out, p, 4);
}

int rx_mq_pingreq(struct hc_buf *out)
{
    return hc_buf_add(out, "\xc0\x00", 2);
}

int rx_mq_disconnect(struct hc_buf *out)
{
    return hc_buf_add(out, "\xe0\x00", 2);
}

/* ---- parsing ------------------------------------------------------------------------------- */

/* A variable byte integer at b[*i..n): 1 read, 0 more bytes needed, -1 malformed. */
static int get_varint(const uint8_t *b, size_t n, size_t *i, size_t *v)
{
    size_t r = 0;
    for (int k = 0; k < 4; k++) {
        if (*i >= n)
            return 0;
        r |= (size_t)(b[*i] & 127) << (7 * k);
        if (!(b[(*i)++] & 128)) {
            *v = r;
            return 1;
        }
    }
    return -1;
}

/* The variable header of a PUBLISH at b[i..end): topic, packet id, properties; the rest is the
 * payload. Returns 0, 1 when it runs past end (truncated: only for a packet that is too big),
 * or HC_E_PARSE. */
static int publish_header(const uint8_t *b, size_t i, size_t end, int version,
                          struct rx_mq_packet *p)
{
    size_t tl, pl;
    if (i + 2 > end)
        return 1;
    tl = (size_t)b[i] << 8 | b[i + 1];
    i += 2;
    if (i + tl > end)
        return 1;
    p->topic = b + i;
    p->topic_len = tl;
    i += tl;
    if (p->qos) {
        if (i + 2 > end)
            return 1;
        p->packet_id = (uint16_t)(b[i] << 8 | b[i + 1]);
        p->code = 1;
        i += 2;
    }
    if (version == RX_MQ_V5) {
        int r = get_varint(b, end, &i, &pl);
        if (r <= 0)
            return r < 0 ? HC_E_PARSE : 1;
        if (i + pl > end)
            return 1;
        p->props = b + i;
        p->props_len = pl;
        i += pl;
    }
    p->payload = b + i;
    p->payload_len = end - i;
    return 0;
}

static int parse_body(const uint8_t *b, size_t i, size_t end, int version, struct rx_mq_packet *p)
{
    size_t rem = end - i;
    switch (p->type) {
    case RX_MQ_CONNACK:
        if (rem < 2)
            return HC_E_PARSE;
        p->session_present = b[i] & 1;
        p->code = b[i + 1];
        return 0;
    case RX_MQ_SUBACK:
    case RX_MQ_PUBACK: {
        size_t pl = 0, j = i + 2;
        if (rem < 3 - (p->type == RX_MQ_PUBACK))
            return HC_E_PARSE;
        p->packet_id = (uint16_t)(b[i] << 8 | b[i + 1]);
        if (p->type == RX_MQ_SUBACK && version == RX_MQ_V5 &&
            (get_varint(b, end, &j, &pl) != 1 || j + pl >= end))
            return HC_E_PARSE;
        if (p->type == RX_MQ_SUBACK)
            p->code = b[j + pl];
        return 0;
    }
    case RX_MQ_PINGRESP:
        return 0;
    case RX_MQ_DISCONNECT:
        p->code = rem ? b[i] : 0;
        return 0;
    case RX_MQ_PUBLISH:
        return publish_header(b, i, end, version, p) ? HC_E_PARSE : 0;
    default:
        return HC_E_PARSE; /* CONNECT, SUBSCRIBE, PUBREC, ...: never sent to a QoS 1 client */
    }
}

int rx_mq_parse(const uint8_t *buf, size_t n, int version, size_t max, struct rx_mq_packet *p,
                size_t *need)
{
    size_t i = 1, rem = 0;
    int r;
    memset(p, 0, sizeof *p);
    if (need)
        *need = 0;
    if (n < 2)
        return 0;
    r = get_varint(buf, n, &i, &rem);
    if (r < 0)
        return HC_E_PARSE;
    if (r == 0)
        return 0;
    p->type = buf[0] >> 4;
    p->len = i + rem;
    if (p->type == RX_MQ_PUBLISH) {
        p->qos = (buf[0] >> 1) & 3;
        p->dup = (buf[0] >> 3) & 1;
        if (p->qos == 3)
            return HC_E_PARSE;
    }
    if (p->type == RX_MQ_PUBLISH && p->len > max) {
        int h = publish_header(buf, i, n < p->len ? n : p->len, version, p);
        if (h < 0)
            return h;
        return HC_E_TOOBIG;
    }
    if (need)
        *need = p->len;
    if (n < p->len)
        return 0;
    r = parse_body(buf, i, p->len, version, p);
    return r ? r : (int)(p->len > 0x7fffffff ? HC_E_PARSE : (int)p->len);
}

int rx_mq_user_props(const uint8_t *b, size_t n,
                     void (*fn)(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v,
                                size_t vl),
                     void *ctx)
{
    size_t i = 0, l1, l2, skip;
    while (i < n) {
        uint8_t id = b[i++];
        switch (id) {
        case P_USER_PROPERTY:
            if (i + 2 > n || i + 2 + (l1 = (size_t)b[i] << 8 | b[i + 1]) + 2 > n)
                return HC_E_PARSE;
            i += 2;
            l2 = (size_t)b[i + l1] << 8 | b[i + l1 + 1];
            if (i + l1 + 2 + l2 > n)
                return HC_E_PARSE;
            fn(ctx, b + i, l1, b + i + l1 + 2, l2);
            i += l1 + 2 + l2;
            continue;
        case 0x01: /* payload format indicator */
            skip = 1;
            break;
        case 0x02: /* message expiry interval */
            skip = 4;
            break;
        case 0x23: /* topic alias */
            skip = 2;
            break;
        case 0x03: /* content type */
        case 0x08: /* response topic */
        case 0x09: /* correlation data */
            if (i + 2 > n)
                return HC_E_PARSE;
            skip = 2 + ((size_t)b[i] << 8 | b[i + 1]);
            break;
        case 0x0b: { /* subscription identifier */
            size_t v;
            if (get_varint(b, n, &i, &v) != 1)
                return HC_E_PARSE;
            skip = 0;
            break;
        }
        default:
            return HC_E_PARSE;
        }
        if (i + skip > n)
            return HC_E_PARSE;
        i += skip;
    }
    return 0;
}

/* ---- topics -------------------------------------------------------------------------------- */

int rx_mq_topic_match(const char *f, size_t fl, const uint8_t *t, size_t tl)
{
    size_t i = 0, j = 0;
    if (fl > 7 && !memcmp(f, "$share/", 7)) {
        const char *slash = memchr(f + 7, '/', fl - 7);
        if (!slash)
            return 0;
        fl -= (size_t)(slash + 1 - f);
        f = slash + 1;
    }
    while (i < fl) {
        if (f[i] == '#')
            return i + 1 == fl && (i == 0 || f[i - 1] == '/');
        if (f[i] == '+') {
            while (j < tl && t[j] != '/')
                j++;
            i++;
            continue;
        }
        if (j >= tl || f[i] != (char)t[j]) {
            /* "a/#" matches "a" too */
            return j == tl && i + 2 == fl && f[i] == '/' && f[i + 1] == '#';
        }
        i++;
        j++;
    }
    return j == tl;
}

int rx_mq_topic_events(const uint8_t *t, size_t tl, const uint8_t **dev, size_t *dev_len,
                       const uint8_t **bag, size_t *bag_len)
{
    static const char pre[] = "devices/", mid[] = "/messages/events";
    const uint8_t *d, *slash;
    size_t rest;
    if (tl <= sizeof pre - 1 || memcmp(t, pre, sizeof pre - 1))
        return HC_E_PARSE;
    d = t + sizeof pre - 1;
    rest = tl - (sizeof pre - 1);
    slash = memchr(d, '/', rest);
    if (!slash || slash == d)
        return HC_E_PARSE;
    *dev = d;
    *dev_len = (size_t)(slash - d);
    rest -= *dev_len;
    if (rest < sizeof mid - 1 || memcmp(slash, mid, sizeof mid - 1))
        return HC_E_PARSE;
    rest -= sizeof mid - 1;
    *bag = slash + sizeof mid - 1;
    *bag_len = 0;
    if (!rest)
        return 0;
    if (**bag != '/')
        return HC_E_PARSE;
    (*bag)++;
    *bag_len = rest - 1;
    return 0;
}

int rx_mq_unescape(const uint8_t *s, size_t n, char *out, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= n || (hi = hc_hex_val((char)s[i + 1])) < 0 ||
                (lo = hc_hex_val((char)s[i + 2])) < 0)
                return HC_E_PARSE;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = (char)s[i];
        }
    }
    *out_len = o;
    return hc_utf8_valid(out, o) ? 0 : HC_E_UTF8;
}

int rx_mq_bag_decode(const uint8_t *bag, size_t n, struct rx_props *p, char *scratch,
                     const char **why)
{
    size_t i = 0;
    while (i < n) {
        const uint8_t *pair = bag + i, *eq;
        size_t pl = 0, kl, vl;
        int rc;
        while (i + pl < n && bag[i + pl] != '&')
            pl++;
        i += pl + 1;
        if (!pl)
            continue; /* "a=1&&b=2": an empty pair, as connection strings allow */
        eq = memchr(pair, '=', pl);
        if ((rc = rx_mq_unescape(pair, eq ? (size_t)(eq - pair) : pl, scratch, &kl)) || !kl) {
            *why = "a property name is empty, badly escaped or not UTF-8";
            return rc ? rc : HC_E_PARSE;
        }
        if (kl >= 2 && scratch[0] == '$' && scratch[1] == '.')
            continue; /* IoT Hub system properties ($.ct, $.ce, $.mid, ...) */
        vl = 0;
        if (eq && (rc = rx_mq_unescape(eq + 1, pl - (size_t)(eq + 1 - pair), scratch + kl, &vl))) {
            *why = "a property value is badly escaped or not UTF-8";
            return rc;
        }
        if ((rc = rx_props_string(p, scratch, kl, scratch + kl, vl, why)))
            return rc;
    }
    return 0;
}

int rx_mq_bag_packed(const uint8_t *bag, size_t n)
{
    static const char want[] = RX_MQ_PACKED_CT;
    size_t i = 0, wl = sizeof want - 1;
    while (i < n) {
        size_t pl = 0;
        while (i + pl < n && bag[i + pl] != '&')
            pl++;
        if (pl == wl && !strncasecmp((const char *)bag + i, want, wl))
            return 1;
        i += pl + 1;
    }
    return 0;
}
