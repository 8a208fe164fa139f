#include "common/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hc_buf_reserve(struct hc_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1, cap;
    char *p;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    p = realloc(b->p, cap);
    if (!p)
        return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int hc_buf_add(struct hc_buf *b, const void *data, size_t len)
{
    if (hc_buf_reserve(b, len))
        return -ENOMEM;
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
    return 0;
}

int hc_buf_addc(struct hc_buf *b, char c)
{
    if (b->len + 2 > b->cap && hc_buf_reserve(b, 1))
        return -ENOMEM;
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
    return 0;
}

int hc_buf_adds(struct hc_buf *b, const char *s)
{
    return hc_buf_add(b, s, strlen(s));
}

int hc_buf_addf(struct hc_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || hc_buf_reserve(b, (size_t)n))
        return -ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

size_t hc_i64_len(int64_t v)
{
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    size_t n = v < 0 ? 2 : 1;
    while (u >= 10) {
        u /= 10;
        n++;
    }
    return n;
}

char *hc_i64_put(char *dst, int64_t v)
{
    char *end = dst + hc_i64_len(v), *p = end;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return end;
}

int hc_buf_add_be(struct hc_buf *b, uint64_t v, int n)
{
    char o[8];

    for (int i = n - 1; i >= 0; i--, v >>= 8)
        o[i] = (char)(v & 0xff);
    return hc_buf_add(b, o, (size_t)n);
}

int hc_buf_add_i64(struct hc_buf *b, int64_t v)
{
    char tmp[HC_I64_MAXLEN];
    return hc_buf_add(b, tmp, (size_t)(hc_i64_put(tmp, v) - tmp));
}

/*
 * What each byte becomes inside a JSON string literal: 0 for itself, else the character after
 * the backslash, 'u' meaning \u00XX. RFC 8259 requires '"', '\' and the bytes below 0x20 to be
 * escaped; the five of those with a short form get it. Everything else (UTF-8 included) is as is.
 */
/* clang-format off */
static const char json_esc[256] = {
    /* 0x00 */ 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    /* 0x10 */ 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    /* 0x20 */ 0,   0,   '"', 0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    /* 0x30 */ 0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    /* 0x40 */ 0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    /* 0x50 */ 0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   '\\', /* the rest 0 */
};
/* clang-format on */

size_t hc_json_str_len(const char *s, size_t len)
{
    size_t n = len + 2;
    for (size_t i = 0; i < len; i++) {
        char e = json_esc[(unsigned char)s[i]];
        if (e)
            n += e == 'u' ? 5 : 1;
    }
    return n;
}

char *hc_json_str_put(char *dst, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char *o = dst;
    *o++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char e = json_esc[c];
        if (!e) {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        *o++ = e;
        if (e == 'u') {
            o[0] = '0';
            o[1] = '0';
            o[2] = hex[c >> 4];
            o[3] = hex[c & 15];
            o += 4;
        }
    }
    *o++ = '"';
    return o;
}

int hc_buf_add_json_str(struct hc_buf *b, const char *s, size_t len)
{
    /* The worst case (every byte a \u00XX) rather than a first pass to count. */
    if (hc_buf_reserve(b, len * 6 + 2))
        return -ENOMEM;
    b->len = (size_t)(hc_json_str_put(b->p + b->len, s, len) - b->p);
    b->p[b->len] = '\0';
    return 0;
}

void hc_buf_reset(struct hc_buf *b)
{
    hc_buf_truncate(b, 0);
}

void hc_buf_truncate(struct hc_buf *b, size_t len)
{
    if (len > b->len)
        return;
    b->len = len;
    if (b->p)
        b->p[len] = '\0';
}

void hc_buf_free(struct hc_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

uint64_t hc_hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h ? h : 1;
}

int hc_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + len;
    while (s < end) {
        unsigned c = *s;
        uint64_t w;
        if (end - s >= 8 && (memcpy(&w, s, 8), !(w & 0x8080808080808080ULL))) {
            s += 8; /* eight ASCII bytes */
            continue;
        }
        if (c < 0x80) {
            s++;
            continue;
        }
        size_t n;
        unsigned cp;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if ((size_t)(end - s) <= n)
            return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        s += n + 1;
    }
    return 1;
}

int hc_hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
