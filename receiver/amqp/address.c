#include "receiver/amqp/address.h"

#include <string.h>
#include <strings.h>

#include "common/error.h"

/* The next '/'-separated segment of [*p, end): sets *seg and *len, moves *p past it. */
static int segment(const char **p, const char *end, const char **seg, size_t *len)
{
    const char *s = *p, *slash;
    if (s >= end)
        return 0;
    slash = memchr(s, '/', (size_t)(end - s));
    *seg = s;
    *len = (size_t)((slash ? slash : end) - s);
    *p = slash ? slash + 1 : end;
    return 1;
}

static int word(const char *seg, size_t len, const char *w)
{
    return strlen(w) == len && strncasecmp(seg, w, len) == 0;
}

static int number(const char *s, size_t len, int *out)
{
    int v = 0;
    if (!len || len > 4 || (len > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > 1023)
        return -1;
    *out = v;
    return 0;
}

/* Strip "scheme://host" into a->host; returns where the path starts, or NULL. */
static const char *uri_host(const char *s, const char *end, struct rx_amqp_addr *a)
{
    const char *sep = NULL, *h, *slash;
    for (const char *q = s; q + 2 < end; q++)
        if (q[0] == ':' && q[1] == '/' && q[2] == '/') {
            sep = q;
            break;
        }
    if (!sep)
        return s;
    if (!word(s, (size_t)(sep - s), "amqps") && !word(s, (size_t)(sep - s), "amqp") &&
        !word(s, (size_t)(sep - s), "sb"))
        return NULL;
    h = sep + 3;
    slash = memchr(h, '/', (size_t)(end - h));
    a->host = h;
    a->host_len = (size_t)((slash ? slash : end) - h);
    if (!a->host_len)
        return NULL;
    return slash ? slash : end;
}

static int hub_path(const char *p, const char *end, struct rx_amqp_addr *a)
{
    const char *seg;
    size_t len;
    if (!segment(&p, end, &a->hub, &a->hub_len) || !a->hub_len)
        return HC_E_PARSE;
    if (!segment(&p, end, &seg, &len))
        return 0;
    if (word(seg, len, "$management") && p >= end) {
        a->node = RX_AN_MANAGEMENT;
        return 0;
    }
    if (word(seg, len, "ConsumerGroups")) {
        if (!segment(&p, end, &a->cg, &a->cg_len) || !a->cg_len)
            return HC_E_PARSE;
        a->node = RX_AN_CONSUMER;
        if (!segment(&p, end, &seg, &len))
            return 0;
    }
    if (!word(seg, len, "Partitions") || !segment(&p, end, &seg, &len) ||
        number(seg, len, &a->partition) || p < end)
        return HC_E_PARSE;
    return 0;
}

int rx_amqp_addr_parse(const char *s, size_t n, struct rx_amqp_addr *a)
{
    const char *end = s + n, *p;
    memset(a, 0, sizeof *a);
    a->partition = -1;
    a->node = RX_AN_HUB;
    if (!n || !(p = uri_host(s, end, a)))
        return HC_E_PARSE;
    a->path = p;
    a->path_len = (size_t)(end - p);
    if (p < end && *p == '/')
        p++;
    if (end > p && end[-1] == '/') /* "sb://host/" and "events/" */
        end--;
    if (p >= end) {
        if (!a->host)
            return HC_E_PARSE;
        a->node = RX_AN_NAMESPACE;
        return 0;
    }
    if (word(p, (size_t)(end - p), "$cbs")) {
        a->node = RX_AN_CBS;
        return 0;
    }
    if (word(p, (size_t)(end - p), "$management")) {
        a->node = RX_AN_MANAGEMENT;
        return 0;
    }
    if (memchr(p, ':', (size_t)(end - p)))
        return HC_E_PARSE;
    return hub_path(p, end, a);
}
