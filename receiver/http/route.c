#include "receiver/http/route.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* The next path segment of *p (after a '/'), as s[0..n); 0 when there is none. */
static int segment(const char **p, const char **s, size_t *n)
{
    if (**p != '/')
        return 0;
    (*p)++;
    *s = *p;
    *n = strcspn(*p, "/");
    *p += *n;
    return *n > 0;
}

static int seg_is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && !strncmp(s, word, n);
}

static int partition_id(const char *s, size_t n)
{
    int v = 0;
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

static enum rx_route_kind route_send(const char *p, struct rx_route *r)
{
    const char *s, *id;
    size_t n, idn;
    if (!segment(&p, &s, &n))
        return RX_ROUTE_NONE;
    if (seg_is(s, n, "messages"))
        goto out_send;
    if (seg_is(s, n, "partitions")) {
        if (!segment(&p, &id, &idn) || (r->partition = partition_id(id, idn)) < 0)
            return RX_ROUTE_NONE;
    } else if (seg_is(s, n, "publishers")) {
        if (!segment(&p, &id, &idn) || idn > RX_PUBLISHER_MAX || !printable(id, idn))
            return RX_ROUTE_NONE;
        r->publisher = id;
        r->publisher_len = idn;
    } else {
        return RX_ROUTE_NONE;
    }
    if (!segment(&p, &s, &n) || !seg_is(s, n, "messages"))
        return RX_ROUTE_NONE;
out_send:
    if (*p == '/')
        p++;
    return *p ? RX_ROUTE_NONE : RX_ROUTE_SEND;
}

enum rx_route_kind rx_route_parse(const char *path, struct rx_route *r)
{
    const char *p = path;
    memset(r, 0, sizeof *r);
    r->partition = -1;
    if (!strcmp(path, "/healthz") || !strcmp(path, "/healthz/"))
        return r->kind = RX_ROUTE_HEALTH;
    if (!strcmp(path, "/metrics") || !strcmp(path, "/metrics/"))
        return r->kind = RX_ROUTE_METRICS;
    if (!strcmp(path, "/") || !strcmp(path, "/index.html"))
        return r->kind = RX_ROUTE_WEB;
    if (segment(&p, &r->hub, &r->hub_len) && route_send(p, r) == RX_ROUTE_SEND)
        return r->kind = RX_ROUTE_SEND; /* a hub named "api" or "static" still gets its sends */
    memset(r, 0, sizeof *r);
    r->partition = -1;
    if (!strncmp(path, "/api/v1/", 8) || !strcmp(path, "/api/v1"))
        return r->kind = RX_ROUTE_API;
    if (!strncmp(path, "/static/", 8))
        return r->kind = RX_ROUTE_WEB;
    return r->kind = RX_ROUTE_NONE;
}

/* The value of parameter name in the parameters after the media type, or NULL (into buf). */
static const char *param(const char *params, const char *name, char *buf, size_t cap)
{
    const char *p = params;
    size_t nlen = strlen(name);
    while ((p = strchr(p, ';'))) {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!strncasecmp(p, name, nlen) && p[nlen] == '=') {
            const char *v = p + nlen + 1;
            size_t n;
            if (*v == '"')
                v++;
            n = strcspn(v, "\";, \t");
            if (n >= cap)
                n = cap - 1;
            memcpy(buf, v, n);
            buf[n] = '\0';
            return buf;
        }
    }
    return NULL;
}

static int type_is(const char *t, size_t n, const char *want)
{
    return strlen(want) == n && !strncasecmp(t, want, n);
}

enum rx_ctype rx_content_type(const char *value)
{
    char cs[32];
    const char *t, *charset;
    size_t n;
    if (!value)
        return RX_CT_BINARY;
    t = value;
    while (*t == ' ' || *t == '\t')
        t++;
    n = strcspn(t, "; \t");
    if (!n)
        return RX_CT_BINARY;
    if (!memchr(t, '/', n))
        return RX_CT_BAD;
    charset = param(t + n, "charset", cs, sizeof cs);
    if (type_is(t, n, "application/vnd.microsoft.servicebus.json"))
        return !charset || !strcasecmp(charset, "utf-8") ? RX_CT_BATCH : RX_CT_BAD;
    if (!strncasecmp(t, "multipart/", 10) || type_is(t, n, "application/x-www-form-urlencoded"))
        return RX_CT_BAD;
    if (type_is(t, n, "application/octet-stream"))
        return RX_CT_BINARY;
    if (charset && strcasecmp(charset, "utf-8") && strcasecmp(charset, "us-ascii"))
        return RX_CT_BINARY; /* bytes in another character set: kept as they are */
    if (charset || !strncasecmp(t, "text/", 5) || type_is(t, n, "application/json") ||
        type_is(t, n, "application/atom+xml") || type_is(t, n, "application/xml"))
        return RX_CT_TEXT;
    return RX_CT_BINARY;
}
