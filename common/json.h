/*
 * json.h - JSON as event bodies need it: a check, and reading a checked text without allocating.
 *
 * hc_json_ok: is a text JSON that PostgreSQL takes as it is? RFC 8259 JSON in UTF-8, made stricter
 * where PostgreSQL would refuse what it holds (a refused value would fail a whole COPY into
 * silver): no \u0000 (text cannot hold NUL), no unpaired UTF-16 surrogate escape, number literals
 * of at most HC_JSON_NUM_MAX characters with an exponent within +-HC_JSON_EXP_MAX (numeric and
 * jsonb take them), at most HC_JSON_DEPTH_MAX nested arrays and objects. An event body that fails
 * it is quarantined as not_json.
 *
 * The validation rules (common/rules.h) read a checked body with hc_json_parse,
 * hc_json_obj_next and hc_json_unescape: spans into the caller's text, no allocation.
 */
#ifndef HC_JSON_H
#define HC_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HC_JSON_DEPTH_MAX 256
#define HC_JSON_NUM_MAX   256
#define HC_JSON_EXP_MAX   900

/* 1 when s[0..len) is one JSON value (surrounded by JSON white space at most), else 0. */
int hc_json_ok(const char *s, size_t len);

enum hc_json_type {
    HC_JSON_ABSENT = 0, /* no such member (p NULL, len 0) */
    HC_JSON_NULL,
    HC_JSON_BOOL,
    HC_JSON_NUMBER,
    HC_JSON_STRING,
    HC_JSON_ARRAY,
    HC_JSON_OBJECT
};

/* One value: p[0..len) is its whole text (a string with its quotes). Points into the caller's
 * text and lives as long as it. */
struct hc_json_val {
    const char *p;
    size_t len;
    enum hc_json_type type;
};

/* A cursor over an object's members. */
struct hc_json_obj {
    const char *p, *end;
};

/* When s[0..len) passes hc_json_ok, set *v to the value (white space around it left out) and
 * return 1; else return 0 (*v is ABSENT). */
int hc_json_parse(const char *s, size_t len, struct hc_json_val *v);

/* Start iterating the members of obj, an OBJECT value from hc_json_parse or hc_json_obj_next. */
void hc_json_obj_begin(struct hc_json_obj *it, const struct hc_json_val *obj);

/* The next member: 1 with *key (a STRING) and *val set, or 0 after the last one. Members come in
 * text order; a key may repeat (a reader that keeps the last one reads as jsonb does). */
int hc_json_obj_next(struct hc_json_obj *it, struct hc_json_val *key, struct hc_json_val *val);

/* Write the text of the STRING v, escapes decoded (UTF-8), into out, which has room for v->len
 * bytes (always enough). Returns the number of bytes written. */
size_t hc_json_unescape(const struct hc_json_val *v, char *out);

/*
 * The string scanner of both strict JSON readers (this file's, and the Event Hubs batch reader,
 * receiver/rest/batch.c, which needs its own walk to build events): the plain runs, the
 * escapes (hex, surrogate pairs joined) and the UTF-8 they decode to, in one place. Pure; no
 * allocation.
 */
enum hc_json_esc {
    HC_JSON_ESC_OK = 0,
    HC_JSON_ESC_BAD = -1,       /* not one of \" \\ \/ \b \f \n \r \t \u (or the text ends) */
    HC_JSON_ESC_HEX = -2,       /* \u not followed by four hex digits */
    HC_JSON_ESC_LONE_LOW = -3,  /* \uDC00-\uDFFF without a high surrogate before it */
    HC_JSON_ESC_LONE_HIGH = -4, /* \uD800-\uDBFF not followed by a \u low surrogate */
};

/* One escape: *p is just after the backslash, end the end of the text. The character into *cp
 * (a surrogate pair joined into one code point; \u0000 is 0: refusing it is the caller's
 * business) and *p past the escape; or an error above (*p then somewhere inside it). */
static inline enum hc_json_esc hc_json_escape(const char **p, const char *end, unsigned *cp);

/* The first byte at or after p (before end) that ends a string's plain run: '"', '\\' or a
 * control character (below 0x20); end when none does. *high gets 0x80 when the run holds a byte
 * of 0x80 or more (its UTF-8 is then the caller's to check), else 0. Eight bytes at a time. */
static inline const char *hc_json_plain(const char *p, const char *end, unsigned *high);

/* The code point cp (at most 0x10FFFF) as UTF-8 at out (room for 4 bytes); returns the bytes. */
size_t hc_json_put_utf8(unsigned cp, char *out);

/* ---- the scanner's hot parts, inline for both readers' loops (not API: hc_json__*) ---- */

static inline int hc_json__hexval(unsigned char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Four hex digits at *p (before end) into *cp, *p past them. Returns 0 or -1. */
static inline int hc_json__hex4(const unsigned char **p, const unsigned char *end, unsigned *cp)
{
    unsigned v = 0;
    int d;

    if (end - *p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        if ((d = hc_json__hexval((*p)[i])) < 0)
            return -1;
        v = v << 4 | (unsigned)d;
    }
    *p += 4;
    *cp = v;
    return 0;
}

static inline enum hc_json_esc hc_json_escape(const char **pp, const char *end_, unsigned *cp)
{
    const unsigned char *p = (const unsigned char *)*pp, *end = (const unsigned char *)end_;
    enum hc_json_esc rc = HC_JSON_ESC_OK;
    unsigned lo;

    if (p >= end)
        return HC_JSON_ESC_BAD;
    switch (*p++) {
    case '"':
    case '\\':
    case '/':
        *cp = p[-1];
        break;
    case 'b':
        *cp = '\b';
        break;
    case 'f':
        *cp = '\f';
        break;
    case 'n':
        *cp = '\n';
        break;
    case 'r':
        *cp = '\r';
        break;
    case 't':
        *cp = '\t';
        break;
    case 'u':
        if (hc_json__hex4(&p, end, cp))
            rc = HC_JSON_ESC_HEX;
        else if (*cp >= 0xDC00 && *cp <= 0xDFFF)
            rc = HC_JSON_ESC_LONE_LOW;
        else if (*cp >= 0xD800 && *cp <= 0xDBFF) { /* a high surrogate: a low one must follow */
            if (end - p < 2 || p[0] != '\\' || p[1] != 'u')
                rc = HC_JSON_ESC_LONE_HIGH;
            else if (p += 2, hc_json__hex4(&p, end, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                rc = HC_JSON_ESC_LONE_HIGH;
            else
                *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        break;
    default:
        rc = HC_JSON_ESC_BAD;
    }
    *pp = (const char *)p;
    return rc;
}

/* Eight bytes (a word) that are none of '"', '\\' and the control characters (below 0x20): a
 * string's plain run, tested a word at a time (bytes of 0x80 and up are plain here; UTF-8 is
 * checked on its own). */
static inline int hc_json__plain8(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');

    /* a byte below n in x: (x - n) & ~x & high, for n <= 128 */
    return ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b)) & high) == 0;
}

static inline const char *hc_json_plain(const char *s, const char *end_, unsigned *high)
{
    const unsigned char *p = (const unsigned char *)s, *end = (const unsigned char *)end_;
    uint64_t w, acc = 0;
    unsigned h;

    for (; end - p >= 8; p += 8) {
        memcpy(&w, p, 8);
        if (!hc_json__plain8(w))
            break;
        acc |= w;
    }
    h = acc & 0x8080808080808080ULL ? 0x80 : 0;
    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20)
        h |= *p++;
    *high = h & 0x80;
    return (const char *)p;
}

#endif
