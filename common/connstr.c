#include "common/connstr.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"

/* One "Key=Value" pair, both trimmed, pointing into the caller's string. */
struct cs_span {
    const char *p;
    size_t len;
};

/* What the pairs say, before validation. A span with p == NULL was not given. */
struct cs_parts {
    struct cs_span endpoint, key_name, key, token, entity, emulator;
};

static void cs_trim(struct cs_span *s)
{
    while (s->len && isspace((unsigned char)s->p[0])) {
        s->p++;
        s->len--;
    }
    while (s->len && isspace((unsigned char)s->p[s->len - 1]))
        s->len--;
}

static int cs_span_is(struct cs_span s, const char *word)
{
    return s.len == strlen(word) && strncasecmp(s.p, word, s.len) == 0;
}

/* Copy span s into dst (cap bytes, NUL-terminated). HC_E_TOOBIG when it does not fit. */
static int cs_copy(char *dst, size_t cap, struct cs_span s)
{
    if (s.len >= cap)
        return HC_E_TOOBIG;
    memcpy(dst, s.p, s.len);
    dst[s.len] = '\0';
    return 0;
}

/* The keys we read, where they go, and what to say when one is given twice or empty. */
static const struct {
    const char *name;
    size_t off;
    const char *twice, *empty;
} cs_keys[] = {
    {"Endpoint", offsetof(struct cs_parts, endpoint), "connection string gives Endpoint twice",
     "connection string has an empty Endpoint"},
    {"SharedAccessKeyName", offsetof(struct cs_parts, key_name),
     "connection string gives SharedAccessKeyName twice",
     "connection string has an empty SharedAccessKeyName"},
    {"SharedAccessKey", offsetof(struct cs_parts, key),
     "connection string gives SharedAccessKey twice",
     "connection string has an empty SharedAccessKey"},
    {"SharedAccessSignature", offsetof(struct cs_parts, token),
     "connection string gives SharedAccessSignature twice",
     "connection string has an empty SharedAccessSignature"},
    {"EntityPath", offsetof(struct cs_parts, entity), "connection string gives EntityPath twice",
     "connection string has an empty EntityPath"},
    {"UseDevelopmentEmulator", offsetof(struct cs_parts, emulator),
     "connection string gives UseDevelopmentEmulator twice",
     "connection string has an empty UseDevelopmentEmulator"},
};

/* Store the pair k=v in parts; unknown keys are ignored. */
static int cs_store(struct cs_parts *parts, struct cs_span k, struct cs_span v, const char **why)
{
    for (size_t i = 0; i < sizeof cs_keys / sizeof cs_keys[0]; i++) {
        if (!cs_span_is(k, cs_keys[i].name))
            continue;
        struct cs_span *slot = (struct cs_span *)((char *)parts + cs_keys[i].off);
        if (slot->p) {
            *why = cs_keys[i].twice;
            return HC_E_PARSE;
        }
        if (!v.len) {
            *why = cs_keys[i].empty;
            return HC_E_INVAL;
        }
        *slot = v;
        return 0;
    }
    return 0;
}

/* Split s into its pairs. Each known key may appear once, with a non-empty value. */
static int cs_split(const char *s, struct cs_parts *parts, const char **why)
{
    memset(parts, 0, sizeof *parts);
    while (*s) {
        const char *end = strchr(s, ';');
        struct cs_span pair = {s, end ? (size_t)(end - s) : strlen(s)}, k, v;
        const char *eq;
        int rc;
        s = end ? end + 1 : s + pair.len;
        cs_trim(&pair);
        if (!pair.len)
            continue;
        eq = memchr(pair.p, '=', pair.len);
        if (!eq) {
            *why = "connection string: a part has no '=' (expected Key=Value pairs separated "
                   "by ';')";
            return HC_E_PARSE;
        }
        k = (struct cs_span){pair.p, (size_t)(eq - pair.p)};
        v = (struct cs_span){eq + 1, pair.len - k.len - 1};
        cs_trim(&k);
        cs_trim(&v);
        if ((rc = cs_store(parts, k, v, why)))
            return rc;
    }
    return 0;
}

/* Host characters we accept: a DNS name or an IPv4 address. */
static int cs_host_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

/* Parse the digits of a port in [1, 65535]. */
static int cs_port(const char *p, size_t len, int *port)
{
    long v = 0;
    if (!len || len > 5)
        return HC_E_PARSE;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)p[i]))
            return HC_E_PARSE;
        v = v * 10 + (p[i] - '0');
    }
    if (v < 1 || v > 65535)
        return HC_E_PARSE;
    *port = (int)v;
    return 0;
}

/* Split "host[:port]" (IPv6 as "[addr][:port]") into cs->host and cs->port. */
static int cs_authority(const char *p, size_t len, struct hc_connstr *cs, const char **why)
{
    size_t hlen;
    const char *colon;
    if (len && p[0] == '[') {
        const char *rb = memchr(p, ']', len);
        if (!rb || rb - p < 3)
            goto bad_host;
        for (const char *q = p + 1; q < rb; q++)
            if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.')
                goto bad_host;
        hlen = (size_t)(rb - p) + 1;
        colon = hlen < len ? p + hlen : NULL;
        if (colon && *colon != ':')
            goto bad_host;
    } else {
        colon = memchr(p, ':', len);
        hlen = colon ? (size_t)(colon - p) : len;
        if (!hlen || p[0] == '.' || p[0] == '-')
            goto bad_host;
        for (size_t i = 0; i < hlen; i++)
            if (!cs_host_char(p[i]))
                goto bad_host;
    }
    if (hlen >= sizeof cs->host) {
        *why = "connection string: the Endpoint host name is too long";
        return HC_E_TOOBIG;
    }
    for (size_t i = 0; i < hlen; i++)
        cs->host[i] = (char)tolower((unsigned char)p[i]);
    cs->host[hlen] = '\0';
    cs->port = 0;
    if (colon && cs_port(colon + 1, (size_t)(p + len - colon - 1), &cs->port)) {
        *why = "connection string: the Endpoint port is not a number from 1 to 65535";
        return HC_E_PARSE;
    }
    return 0;
bad_host:
    *why = "connection string: the Endpoint has no valid host (expected sb://NAMESPACE."
           "servicebus.windows.net/)";
    return HC_E_PARSE;
}

/* Parse the Endpoint: scheme, authority, and nothing after the host but an optional '/'. */
static int cs_endpoint(struct cs_span ep, struct hc_connstr *cs, const char **why)
{
    static const struct {
        const char *prefix;
        enum hc_scheme scheme;
    } schemes[] = {
        {"sb://", HC_SCHEME_HTTPS}, {"https://", HC_SCHEME_HTTPS}, {"http://", HC_SCHEME_HTTP}};
    size_t i, plen = 0;
    for (i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        plen = strlen(schemes[i].prefix);
        if (ep.len >= plen && strncasecmp(ep.p, schemes[i].prefix, plen) == 0)
            break;
    }
    if (i == sizeof schemes / sizeof schemes[0]) {
        *why = "connection string: the Endpoint must start with sb://, https:// or http://";
        return HC_E_PARSE;
    }
    cs->scheme = schemes[i].scheme;
    cs->sb = i == 0;
    const char *host = ep.p + plen, *end = ep.p + ep.len;
    const char *slash = memchr(host, '/', (size_t)(end - host));
    if (slash && slash + 1 != end) {
        *why = "connection string: the Endpoint must not have a path: give the hub as "
               "EntityPath";
        return HC_E_PARSE;
    }
    return cs_authority(host, (size_t)((slash ? slash : end) - host), cs, why);
}

/* Event Hubs names: letters, digits, '.', '-', '_'. */
static int cs_hub_valid(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '-' && *s != '_')
            return 0;
    return 1;
}

/* The hub: EntityPath and the separate name must agree; one of them is needed. */
static int cs_hub(struct cs_span entity, const char *hub, struct hc_connstr *cs, const char **why)
{
    int has_hub = hub && *hub;
    if (entity.p && has_hub &&
        (strlen(hub) != entity.len || strncasecmp(hub, entity.p, entity.len) != 0)) {
        *why = "the connection string's EntityPath names another event hub than the one "
               "given: drop one of them";
        return HC_E_INVAL;
    }
    if (!entity.p && !has_hub) {
        *why = "no EntityPath: pass the event hub name";
        return HC_E_INVAL;
    }
    if (entity.p ? cs_copy(cs->hub, sizeof cs->hub, entity)
                 : cs_copy(cs->hub, sizeof cs->hub, (struct cs_span){hub, strlen(hub)})) {
        *why = "the event hub name is longer than 256 characters";
        return HC_E_TOOBIG;
    }
    if (!cs_hub_valid(cs->hub)) {
        *why = "the event hub name may hold only letters, digits, '.', '-' and '_'";
        return HC_E_INVAL;
    }
    return 0;
}

/* Either SharedAccessKeyName with SharedAccessKey, or SharedAccessSignature. */
static int cs_auth(const struct cs_parts *parts, struct hc_connstr *cs, const char **why)
{
    if (parts->token.p) {
        if (parts->key.p || parts->key_name.p) {
            *why = "connection string has both SharedAccessSignature and SharedAccessKey"
                   "(Name): keep one";
            return HC_E_INVAL;
        }
        if (cs_copy(cs->token, sizeof cs->token, parts->token)) {
            *why = "connection string: SharedAccessSignature is too long";
            return HC_E_TOOBIG;
        }
        return 0;
    }
    if (!parts->key_name.p && !parts->key.p) {
        *why = "connection string has no SharedAccessKeyName and SharedAccessKey (or "
               "SharedAccessSignature)";
        return HC_E_INVAL;
    }
    if (!parts->key_name.p) {
        *why = "connection string has no SharedAccessKeyName";
        return HC_E_INVAL;
    }
    if (!parts->key.p) {
        *why = "connection string has no SharedAccessKey";
        return HC_E_INVAL;
    }
    if (cs_copy(cs->key_name, sizeof cs->key_name, parts->key_name) ||
        cs_copy(cs->key, sizeof cs->key, parts->key)) {
        *why = "connection string: SharedAccessKeyName or SharedAccessKey is too long";
        return HC_E_TOOBIG;
    }
    return 0;
}

/* The namespace: the first DNS label, or the whole host for an address or a one-label name. */
static void cs_namespace(struct hc_connstr *cs)
{
    const char *h = cs->host, *dot = strchr(h, '.');
    int numeric = h[0] == '[' || strspn(h, "0123456789.") == strlen(h);
    size_t n = (dot && !numeric) ? (size_t)(dot - h) : strlen(h);
    memcpy(cs->ns, h, n);
    cs->ns[n] = '\0';
}

static int cs_emulator(struct cs_span v, struct hc_connstr *cs, const char **why)
{
    if (!v.p || cs_span_is(v, "false"))
        return 0;
    if (!cs_span_is(v, "true")) {
        *why = "connection string: UseDevelopmentEmulator must be true or false";
        return HC_E_PARSE;
    }
    cs->emulator = 1;
    cs->scheme = HC_SCHEME_HTTP;
    return 0;
}

int hc_connstr_parse(const char *s, const char *hub, struct hc_connstr *out, const char **why)
{
    const char *dummy;
    struct cs_parts parts;
    int rc;
    if (!why)
        why = &dummy;
    memset(out, 0, sizeof *out);
    if (!s || !*s) {
        *why = "the connection string is empty";
        return HC_E_PARSE;
    }
    rc = cs_split(s, &parts, why);
    if (rc)
        goto out_wipe;
    if (!parts.endpoint.p) {
        *why = "connection string has no Endpoint (expected Endpoint=sb://NAMESPACE."
               "servicebus.windows.net/;...)";
        rc = HC_E_INVAL;
        goto out_wipe;
    }
    if ((rc = cs_endpoint(parts.endpoint, out, why)) ||
        (rc = cs_emulator(parts.emulator, out, why)) || (rc = cs_auth(&parts, out, why)) ||
        (rc = cs_hub(parts.entity, hub, out, why)))
        goto out_wipe;
    cs_namespace(out);
    return 0;
out_wipe:
    hc_connstr_wipe(out);
    memset(out, 0, sizeof *out);
    return rc;
}

int hc_connstr_port(const struct hc_connstr *cs)
{
    if (cs->port)
        return cs->port;
    return cs->scheme == HC_SCHEME_HTTP ? 80 : 443;
}

int hc_connstr_audience(const struct hc_connstr *cs, const char *scheme, char *out, size_t cap)
{
    int n;
    if (!scheme)
        scheme = cs->scheme == HC_SCHEME_HTTP ? "http" : "https";
    n = snprintf(out, cap, "%s://%s/%s", scheme, cs->host, cs->hub);
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            out[0] = '\0';
        return HC_E_TOOBIG;
    }
    for (int i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)out[i]);
    return n;
}

void hc_connstr_wipe(struct hc_connstr *cs)
{
    volatile char *p;
    if (!cs)
        return;
    p = cs->key;
    for (size_t i = 0; i < sizeof cs->key; i++)
        p[i] = 0;
    p = cs->token;
    for (size_t i = 0; i < sizeof cs->token; i++)
        p[i] = 0;
}
