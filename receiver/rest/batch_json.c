/*
 * batch_json.c - the strict, single-pass JSON reader under the Event Hubs batch body (batch.c):
 * white space, strings (UTF-8 checked, unescaped with the shared scanner of common/json.h),
 * numbers, literals, any value checked to RX_JSON_DEPTH, and the walk over an object's members.
 */
#include "receiver/rest/batch_json.h"
#include "receiver/rest/batch.h" /* RX_JSON_DEPTH */

#include <errno.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/json.h"

/* Record the first failure; returns -1 so callers can `return rx_jp__bad(...)`. */
int rx_jp__bad(struct rx_jp *j, int rc, const char *why)
{
    if (!j->rc) {
        j->rc = rc;
        j->why = why;
    }
    return -1;
}

void rx_jp__ws(struct rx_jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* Expect the byte c (after white space). */
int rx_jp__expect(struct rx_jp *j, char c, const char *why)
{
    rx_jp__ws(j);
    if (j->p >= j->end || *j->p != c)
        return rx_jp__bad(j, HC_E_PARSE, why);
    j->p++;
    return 0;
}

/* One escape after the backslash at j->p (the shared scanner, common/json.h); its UTF-8 is
 * written at *o (*o NULL: check only). */
static int escape(struct rx_jp *j, char **o)
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
        return rx_jp__bad(j, rc <= HC_JSON_ESC_LONE_LOW ? HC_E_UTF8 : HC_E_PARSE, why[-rc]);
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
int rx_jp__string(struct rx_jp *j, struct hc_buf *out)
{
    char *o = NULL;
    if (j->p >= j->end || *j->p != '"')
        return rx_jp__bad(j, HC_E_PARSE, "expected a JSON string");
    j->p++;
    if (out) {
        if (hc_buf_reserve(out, raw_len(j->p, j->end)))
            return rx_jp__bad(j, -ENOMEM, "out of memory");
        o = out->p + out->len;
    }
    for (;;) {
        const char *run = j->p;
        unsigned high;
        j->p = hc_json_plain(run, j->end, &high);
        if (high && !hc_utf8_valid(run, (size_t)(j->p - run)))
            return rx_jp__bad(j, HC_E_UTF8, "a JSON string is not UTF-8");
        if (o) {
            memcpy(o, run, (size_t)(j->p - run));
            o += j->p - run;
        }
        if (j->p >= j->end)
            return rx_jp__bad(j, HC_E_PARSE, "unterminated JSON string");
        if (*j->p == '"')
            break;
        if (*j->p != '\\')
            return rx_jp__bad(j, HC_E_PARSE, "control character in a JSON string (escape it)");
        if (++j->p >= j->end)
            return rx_jp__bad(j, HC_E_PARSE, "unterminated JSON string");
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

static int digits(struct rx_jp *j)
{
    const char *s = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > s ? 0 : -1;
}

/* A JSON number; *integer is set when it has no fraction and no exponent. */
int rx_jp__number(struct rx_jp *j, int *integer)
{
    *integer = 1;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p < j->end && *j->p == '0')
        j->p++;
    else if (digits(j))
        return rx_jp__bad(j, HC_E_PARSE, "bad JSON number");
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        *integer = 0;
        if (digits(j))
            return rx_jp__bad(j, HC_E_PARSE, "bad JSON number");
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        *integer = 0;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (digits(j))
            return rx_jp__bad(j, HC_E_PARSE, "bad JSON number");
    }
    return 0;
}

int rx_jp__literal(struct rx_jp *j, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n))
        return rx_jp__bad(j, HC_E_PARSE, "not JSON (expected a value)");
    j->p += n;
    return 0;
}

/* The rest of an array or object after its opening bracket. */
static int container(struct rx_jp *j, int depth, int object)
{
    char close = object ? '}' : ']';
    rx_jp__ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return 0;
    }
    for (;;) {
        rx_jp__ws(j);
        if (object && (rx_jp__string(j, NULL) ||
                       rx_jp__expect(j, ':', "expected ':' after a JSON member name")))
            return -1;
        if (rx_jp__value(j, depth + 1))
            return -1;
        rx_jp__ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        return rx_jp__expect(j, close,
                             object ? "expected ',' or '}' in a JSON object"
                                    : "expected ',' or ']' in a JSON array");
    }
}

/* Check any JSON value (after white space). */
int rx_jp__value(struct rx_jp *j, int depth)
{
    int integer;
    rx_jp__ws(j);
    if (depth > RX_JSON_DEPTH)
        return rx_jp__bad(j, HC_E_PARSE, "JSON nested too deeply");
    if (j->p >= j->end)
        return rx_jp__bad(j, HC_E_PARSE, "JSON ends early");
    switch (*j->p) {
    case '{':
    case '[':
        return container(j, depth, *j->p++ == '{');
    case '"':
        return rx_jp__string(j, NULL);
    case 't':
        return rx_jp__literal(j, "true");
    case 'f':
        return rx_jp__literal(j, "false");
    case 'n':
        return rx_jp__literal(j, "null");
    default:
        if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
            return rx_jp__number(j, &integer);
        return rx_jp__bad(j, HC_E_PARSE, "not JSON (expected a value)");
    }
}

/* A member name unescaped into key (cap bytes, NUL-terminated; longer names come back ""). */
int rx_jp__member_name(struct rx_jp *j, char *key, size_t cap, struct hc_buf *tmp)
{
    hc_buf_reset(tmp);
    rx_jp__ws(j);
    if (rx_jp__string(j, tmp) || rx_jp__expect(j, ':', "expected ':' after a JSON member name"))
        return -1;
    if (tmp->len >= cap || memchr(tmp->p, '\0', tmp->len))
        key[0] = '\0';
    else
        memcpy(key, tmp->p, tmp->len + 1);
    return 0;
}

int rx_jp__members(struct rx_jp *j, struct hc_buf *tmp, rx_jp_member_fn fn, void *ctx,
                   const char *what)
{
    char key[64];
    if (rx_jp__expect(j, '{', what))
        return -1;
    rx_jp__ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        if (rx_jp__member_name(j, key, sizeof key, tmp))
            return -1;
        rx_jp__ws(j);
        if (fn(j, key, ctx))
            return -1;
        rx_jp__ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        return rx_jp__expect(j, '}', "expected ',' or '}' in a JSON object");
    }
}
