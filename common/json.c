#include "common/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

/* A cursor over the text; fail is set at the first error and everything after is a no-op. */
struct jc {
    const unsigned char *p, *end;
    int fail;
};

static int jc_value(struct jc *j, int depth);

static void jc_ws(struct jc *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* The next byte, or -1 at the end. */
static int jc_peek(const struct jc *j)
{
    return j->p < j->end ? *j->p : -1;
}

size_t hc_json_put_utf8(unsigned cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string; the cursor is on the opening quote. \u0000 is refused (PostgreSQL text). */
static void jc_string(struct jc *j)
{
    const char *p = (const char *)j->p + 1, *end = (const char *)j->end;
    unsigned high, cp;

    for (;;) {
        p = hc_json_plain(p, end, &high);
        if (p >= end || (unsigned char)*p < 0x20)
            break;
        if (*p++ == '"') {
            j->p = (const unsigned char *)p;
            return;
        }
        if (hc_json_escape(&p, end, &cp) != HC_JSON_ESC_OK || cp == 0)
            break;
    }
    j->p = (const unsigned char *)p;
    j->fail = 1;
}

/* Digits at the cursor; returns how many. */
static long jc_digits(struct jc *j)
{
    const unsigned char *s = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return (long)(j->p - s);
}

static void jc_number(struct jc *j)
{
    const unsigned char *s = j->p, *e;
    long n, exp;

    if (jc_peek(j) == '-')
        j->p++;
    if (jc_peek(j) == '0')
        j->p++;
    else if (jc_digits(j) == 0)
        goto out_fail;
    if (jc_peek(j) == '.') {
        j->p++;
        if (jc_digits(j) == 0)
            goto out_fail;
    }
    if (jc_peek(j) == 'e' || jc_peek(j) == 'E') {
        j->p++;
        if (jc_peek(j) == '+' || jc_peek(j) == '-')
            j->p++;
        e = j->p;
        if ((n = jc_digits(j)) == 0 || n > 4)
            goto out_fail;
        /* the digits end the text when the number does: read them here, not with strtol */
        for (exp = 0; e < j->p; e++)
            exp = exp * 10 + (*e - '0');
        if (exp > HC_JSON_EXP_MAX)
            goto out_fail;
    }
    if (j->p - s <= HC_JSON_NUM_MAX)
        return;
out_fail:
    j->fail = 1;
}

/* A literal word (true, false, null). */
static void jc_word(struct jc *j, const char *w)
{
    while (*w && j->p < j->end && *j->p == (unsigned char)*w) {
        j->p++;
        w++;
    }
    if (*w)
        j->fail = 1;
}

/* The members of an array (close ']') or an object (close '}'); the cursor is on the opener. */
static void jc_members(struct jc *j, int close, int depth)
{
    j->p++;
    jc_ws(j);
    if (jc_peek(j) == close) {
        j->p++;
        return;
    }
    for (;;) {
        if (close == '}') {
            if (jc_peek(j) != '"')
                break;
            jc_string(j);
            jc_ws(j);
            if (j->fail || jc_peek(j) != ':')
                break;
            j->p++;
            jc_ws(j);
        }
        if (jc_value(j, depth + 1))
            return;
        jc_ws(j);
        if (jc_peek(j) == close) {
            j->p++;
            return;
        }
        if (jc_peek(j) != ',')
            break;
        j->p++;
        jc_ws(j);
    }
    j->fail = 1;
}

/* One value at the cursor (white space before it skipped). Returns j->fail. */
static int jc_value(struct jc *j, int depth)
{
    int c = jc_peek(j);

    if (depth > HC_JSON_DEPTH_MAX)
        j->fail = 1;
    else if (c == '{' || c == '[')
        jc_members(j, c == '{' ? '}' : ']', depth);
    else if (c == '"')
        jc_string(j);
    else if (c == '-' || (c >= '0' && c <= '9'))
        jc_number(j);
    else if (c == 't')
        jc_word(j, "true");
    else if (c == 'f')
        jc_word(j, "false");
    else if (c == 'n')
        jc_word(j, "null");
    else
        j->fail = 1;
    return j->fail;
}

int hc_json_ok(const char *s, size_t len)
{
    struct jc j = {(const unsigned char *)s, (const unsigned char *)s + len, 0};

    if (!s || !hc_utf8_valid(s, len))
        return 0;
    jc_ws(&j);
    if (jc_value(&j, 1))
        return 0;
    jc_ws(&j);
    return j.p == j.end;
}

static enum hc_json_type jc_type(int c)
{
    switch (c) {
    case '{':
        return HC_JSON_OBJECT;
    case '[':
        return HC_JSON_ARRAY;
    case '"':
        return HC_JSON_STRING;
    case 'n':
        return HC_JSON_NULL;
    case 't':
    case 'f':
        return HC_JSON_BOOL;
    default:
        return HC_JSON_NUMBER;
    }
}

/* Past the string at the cursor (on its opening quote) of a checked text. */
static void jc_skip_string(struct jc *j)
{
    for (j->p++; j->p < j->end; j->p++) {
        if (*j->p == '\\')
            j->p++;
        else if (*j->p == '"') {
            j->p++;
            return;
        }
    }
}

/* Past the value at the cursor of a text hc_json_ok accepted: no check, one pass. */
static void jc_skip(struct jc *j)
{
    int depth = 0;

    do {
        int c = jc_peek(j);
        if (c == '"')
            jc_skip_string(j);
        else if (c == '{' || c == '[')
            depth++, j->p++;
        else if (c == '}' || c == ']')
            depth--, j->p++;
        else if (depth) /* separators, white space, scalars inside a container */
            j->p++;
        else /* a scalar at the top: up to what ends it */
            while (j->p < j->end && *j->p != ',' && *j->p != '}' && *j->p != ']' && *j->p != ' ' &&
                   *j->p != '\t' && *j->p != '\r' && *j->p != '\n')
                j->p++;
    } while (depth > 0 && j->p < j->end);
}

/* The value at the cursor of a checked text into *v. */
static int jc_take(struct jc *j, struct hc_json_val *v)
{
    const unsigned char *s = j->p;

    if (j->p >= j->end)
        return -1;
    jc_skip(j);
    v->p = (const char *)s;
    v->len = (size_t)(j->p - s);
    v->type = jc_type(*s);
    return 0;
}

int hc_json_parse(const char *s, size_t len, struct hc_json_val *v)
{
    struct jc j = {(const unsigned char *)s, (const unsigned char *)s + len, 0};

    memset(v, 0, sizeof *v);
    if (!hc_json_ok(s, len))
        return 0;
    /* one value between white space: trim it */
    jc_ws(&j);
    while (j.end > j.p &&
           (j.end[-1] == ' ' || j.end[-1] == '\t' || j.end[-1] == '\n' || j.end[-1] == '\r'))
        j.end--;
    v->p = (const char *)j.p;
    v->len = (size_t)(j.end - j.p);
    v->type = jc_type(*j.p);
    return 1;
}

void hc_json_obj_begin(struct hc_json_obj *it, const struct hc_json_val *obj)
{
    /* inside the braces */
    it->p = obj->p + 1;
    it->end = obj->p + obj->len - 1;
}

int hc_json_obj_next(struct hc_json_obj *it, struct hc_json_val *key, struct hc_json_val *val)
{
    struct jc j = {(const unsigned char *)it->p, (const unsigned char *)it->end, 0};

    jc_ws(&j);
    if (jc_peek(&j) == ',') {
        j.p++;
        jc_ws(&j);
    }
    if (jc_peek(&j) != '"' || jc_take(&j, key))
        return 0;
    jc_ws(&j);
    if (jc_peek(&j) != ':')
        return 0;
    j.p++;
    jc_ws(&j);
    if (jc_take(&j, val))
        return 0;
    it->p = (const char *)j.p;
    return 1;
}

size_t hc_json_unescape(const struct hc_json_val *v, char *out)
{
    const char *p = v->p + 1, *end = v->p + v->len - 1;
    size_t n = 0;
    unsigned cp;

    while (p < end) {
        const char *s = p;
        while (p < end && *p != '\\')
            p++;
        memcpy(out + n, s, (size_t)(p - s));
        n += (size_t)(p - s);
        if (p >= end)
            break;
        p++;
        if (hc_json_escape(&p, end, &cp) != HC_JSON_ESC_OK)
            return n; /* not a checked text */
        n += hc_json_put_utf8(cp, out + n);
    }
    return n;
}
