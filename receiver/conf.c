#include "receiver/conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hctime.h"
#include "common/ini.h"

#define RX_DEFAULT_WINDOW_MS    (5 * 60 * 1000)
#define RX_DEFAULT_WINDOW_BYTES (300u * 1024 * 1024)
#define RX_DEFAULT_PUBLICATION  (1024u * 1024)
#define RX_DEFAULT_INFLIGHT     (256u * 1024 * 1024)

static void conf_common(struct rx_conf *c)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    memset(c, 0, sizeof *c);
    strcpy(c->ns, RX_DEV_NAMESPACE);
    strcpy(c->listen_addr, "0.0.0.0");
    c->port = 8080;
    c->http_threads = ncpu > 0 && ncpu < 64 ? (int)ncpu : 2;
    c->max_publication = RX_DEFAULT_PUBLICATION;
    c->max_inflight = RX_DEFAULT_INFLIGHT;
    c->connection_limit = 4096;
    c->connection_timeout_ms = 30000;
    c->header_timeout_ms = 10000;
    c->body_timeout_ms = 60000;
    strcpy(c->log_level, "info");
    strcpy(c->capture_dir, "./capture");
    c->window_ms = RX_DEFAULT_WINDOW_MS;
    c->window_bytes = RX_DEFAULT_WINDOW_BYTES;
    c->skip_empty = 1;
    c->codec = RX_CODEC_DEFLATE;
    c->lake_interval_ms = 1000;
    strcpy(c->amqp.listen_addr, "0.0.0.0");
    strcpy(c->amqp.tls_addr, "0.0.0.0");
    c->amqp.port = -1; /* a config file without [amqp]: none */
    c->amqp.tls_port = -1;
    c->amqp.idle_timeout_ms = 60000;
    c->amqp.max_frame = 65536;
    c->amqp.connection_limit = 4096;
    c->amqp.threads = ncpu > 0 && ncpu < 2 ? (int)ncpu : 2;
}

void rx_conf_dev(struct rx_conf *c)
{
    const char *key = getenv(RX_DEV_KEY_ENV);
    conf_common(c);
    c->dev = 1;
    strcpy(c->listen_addr, "127.0.0.1");
    strcpy(c->hubs[0].name, RX_DEV_HUB);
    c->hubs[0].partitions = 4;
    c->nhubs = 1;
    strcpy(c->rules[0].name, RX_DEV_RULE);
    snprintf(c->rules[0].key, sizeof c->rules[0].key, "%s", key && *key ? key : RX_DEV_KEY);
    c->rules[0].rights = RX_RIGHT_SEND | RX_RIGHT_LISTEN | RX_RIGHT_MANAGE;
    c->nrules = 1;
    strcpy(c->amqp.listen_addr, "127.0.0.1");
    c->amqp.port = 5672;
    c->amqp.shared = 1; /* one port, one connection string (tools/bench/ingest.sh: no cost) */
}

const char *rx_codec_name(enum rx_codec codec)
{
    return codec == RX_CODEC_NULL ? "null" : "deflate";
}

int rx_conf_connstr(const struct rx_conf *c, int port, int with_key, char *out, size_t cap)
{
    const struct rx_rule_conf *rule = NULL;
    const char *host = c->host_name[0] ? c->host_name : c->listen_addr;
    int v6, n;
    for (int i = 0; i < c->nrules && !rule; i++)
        if ((c->rules[i].rights & RX_RIGHT_SEND) &&
            (!c->rules[i].hub[0] || !strcasecmp(c->rules[i].hub, c->hubs[0].name)))
            rule = &c->rules[i];
    if (!rule || !c->nhubs)
        return HC_E_NOTFOUND;
    if (!strcmp(host, "0.0.0.0"))
        host = "127.0.0.1";
    else if (!strcmp(host, "::"))
        host = "::1";
    v6 = strchr(host, ':') != NULL;
    n = snprintf(out, cap,
                 "Endpoint=sb://%s%s%s:%d/;SharedAccessKeyName=%s;SharedAccessKey=%s;"
                 "EntityPath=%s%s",
                 v6 ? "[" : "", host, v6 ? "]" : "", port, rule->name,
                 with_key ? rule->key : "<key>", c->hubs[0].name,
                 c->tls_cert[0] ? "" : ";UseDevelopmentEmulator=true");
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            out[0] = '\0';
        return HC_E_TOOBIG;
    }
    return n;
}

/* "ADDR:PORT", "[V6]:PORT" or "PORT" (with dflt as the address) into addr[64] and *port_out. */
static int parse_addr(const char *s, const char *dflt, char *out_addr, int *port_out)
{
    char addr[64];
    const char *colon;
    char *end;
    unsigned char tmp[16];
    long port;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof addr)
            return HC_E_PARSE;
        memcpy(addr, s + 1, (size_t)(rb - s - 1));
        addr[rb - s - 1] = '\0';
        colon = rb + 1;
        if (inet_pton(AF_INET6, addr, tmp) != 1)
            return HC_E_PARSE;
    } else if ((colon = strrchr(s, ':'))) {
        if ((size_t)(colon - s) >= sizeof addr || colon == s)
            return HC_E_PARSE;
        memcpy(addr, s, (size_t)(colon - s));
        addr[colon - s] = '\0';
        if (inet_pton(AF_INET, addr, tmp) != 1)
            return HC_E_PARSE;
    } else {
        strcpy(addr, dflt);
        colon = s - 1; /* a port alone */
    }
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || port < 0 || port > 65535)
        return HC_E_PARSE;
    strcpy(out_addr, addr);
    *port_out = (int)port;
    return 0;
}

int rx_conf_listen(struct rx_conf *c, const char *s)
{
    char addr[64];
    int port;
    if (parse_addr(s, c->listen_addr, addr, &port))
        return HC_E_PARSE;
    strcpy(c->listen_addr, addr);
    c->port = port;
    return 0;
}

int rx_conf_amqp_listen(struct rx_conf *c, const char *s, int tls)
{
    char addr[64];
    int port = -1;
    if (strcmp(s, "off") &&
        parse_addr(s, tls ? c->amqp.tls_addr : c->amqp.listen_addr, addr, &port))
        return HC_E_PARSE;
    if (port >= 0)
        strcpy(tls ? c->amqp.tls_addr : c->amqp.listen_addr, addr);
    if (tls) {
        c->amqp.tls_port = port;
        c->amqp.tls_set = 1;
    } else {
        c->amqp.port = port;
        c->amqp.port_given = 1;
    }
    return 0;
}

int rx_conf_is_loopback(const struct rx_conf *c)
{
    struct in_addr a4;
    if (inet_pton(AF_INET, c->listen_addr, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return strcmp(c->listen_addr, "::1") == 0;
}

int rx_conf_hub_index(const struct rx_conf *c, const char *name, size_t len)
{
    for (int i = 0; i < c->nhubs; i++)
        if (strlen(c->hubs[i].name) == len && strncasecmp(c->hubs[i].name, name, len) == 0)
            return i;
    return -1;
}

int rx_conf_group_index(const struct rx_hub_conf *h, const char *name, size_t len)
{
    if (len == 8 && !strncasecmp(name, "$Default", 8))
        return 0;
    for (int i = 0; i < h->ngroups; i++)
        if (strlen(h->groups[i]) == len && !strncasecmp(h->groups[i], name, len))
            return i + 1;
    return -1;
}

const char *rx_conf_group_name(const struct rx_hub_conf *h, int g)
{
    return g <= 0 || g > h->ngroups ? "$Default" : h->groups[g - 1];
}

/* ---- INI ------------------------------------------------------------------------------------ */

struct load {
    struct rx_conf *c;
    const char *path;
    int line;
};

/* Record the first error (with file and line) and stop inih. */
static int fail(struct load *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct load *l, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (l->c->err[0])
        return 0;
    n = snprintf(l->c->err, sizeof l->c->err, "%s:%d: ", l->path, l->line);
    if (n < 0 || (size_t)n >= sizeof l->c->err)
        return 0;
    va_start(ap, fmt);
    vsnprintf(l->c->err + n, sizeof l->c->err - (size_t)n, fmt, ap);
    va_end(ap);
    return 0;
}

static int copy(char *dst, size_t cap, const char *v)
{
    size_t n = strlen(v);
    if (n >= cap)
        return -1;
    memcpy(dst, v, n + 1);
    return 0;
}

static int boolean(const char *v, int *out)
{
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") || !strcmp(v, "1"))
        *out = 1;
    else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") ||
             !strcmp(v, "0"))
        *out = 0;
    else
        return -1;
    return 0;
}

static int whole(const char *v, long lo, long hi, int *out)
{
    char *end;
    long n;
    errno = 0;
    n = strtol(v, &end, 10);
    if (!*v || *end || errno || n < lo || n > hi)
        return -1;
    *out = (int)n;
    return 0;
}

/* v[0..n) is a name as Event Hubs allows them: letters, digits, '.', '-', '_', 1 to max - 1
 * bytes. 0 or -1. */
static int name_ok(const char *v, size_t n, size_t max)
{
    if (!n || n >= max)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char ch = v[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-' || ch == '_'))
            return -1;
    }
    return 0;
}

/* An entity name as Event Hubs allows: letters, digits, '.', '-', '_', 1..256 bytes. */
static int entity_name(const char *v)
{
    return name_ok(v, strlen(v), RX_NAME_MAX);
}

/*
 * A host name the printed connection string can carry and the agent's parser reads back: a DNS
 * name or IPv4 address (letters, digits, '.', '-', '_', not starting with '.' or '-'), or an IPv6
 * address (without brackets). 0 when it is one.
 */
static int host_name(const char *v)
{
    struct in6_addr a6;
    if (strchr(v, ':'))
        return inet_pton(AF_INET6, v, &a6) == 1 ? 0 : -1;
    if (!*v || *v == '.' || *v == '-')
        return -1;
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_')
            return -1;
    return 0;
}

static int receiver_net_key(struct load *l, const char *k, const char *v)
{
    struct rx_conf *c = l->c;
    if (!strcmp(k, "listen")) {
        if (rx_conf_listen(c, v))
            return fail(l, "listen '%s': give ADDR:PORT, e.g. 0.0.0.0:8080 or [::1]:8080", v);
    } else if (!strcmp(k, "host_name")) {
        if (copy(c->host_name, sizeof c->host_name, v))
            return fail(l, "host_name: at most 255 bytes");
        /* found by fuzz_receiver_conf: a control byte went into the connection string */
        if (host_name(v))
            return fail(l, "host_name: a DNS name or an IP address (letters, digits, '.', '-', "
                           "'_'; IPv6 without brackets)");
    } else if (!strcmp(k, "tls_cert")) {
        if (copy(c->tls_cert, sizeof c->tls_cert, v))
            return fail(l, "tls_cert: path too long");
    } else if (!strcmp(k, "tls_key")) {
        if (copy(c->tls_key, sizeof c->tls_key, v))
            return fail(l, "tls_key: path too long");
    } else if (!strcmp(k, "http_threads")) {
        if (whole(v, 1, 256, &c->http_threads))
            return fail(l, "http_threads '%s': a whole number from 1 to 256", v);
    } else if (!strcmp(k, "connection_limit")) {
        if (whole(v, 16, 1000000, &c->connection_limit))
            return fail(l, "connection_limit '%s': a whole number from 16 to 1000000", v);
    } else if (!strcmp(k, "connection_timeout")) {
        if (hc_duration_parse(v, &c->connection_timeout_ms) || c->connection_timeout_ms < 1000)
            return fail(l, "connection_timeout '%s': a duration of at least 1s, e.g. 30s", v);
    } else if (!strcmp(k, "header_timeout")) {
        if (hc_duration_parse(v, &c->header_timeout_ms) || c->header_timeout_ms < 1000)
            return fail(l, "header_timeout '%s': a duration of at least 1s, e.g. 10s", v);
    } else if (!strcmp(k, "body_timeout")) {
        if (hc_duration_parse(v, &c->body_timeout_ms) || c->body_timeout_ms < 1000)
            return fail(l, "body_timeout '%s': a duration of at least 1s, e.g. 60s", v);
    } else {
        return -1;
    }
    return 1;
}

static int receiver_key(struct load *l, const char *k, const char *v)
{
    struct rx_conf *c = l->c;
    int r = receiver_net_key(l, k, v);
    if (r >= 0)
        return r;
    if (!strcmp(k, "namespace")) {
        if (entity_name(v) || copy(c->ns, sizeof c->ns, v))
            return fail(l, "namespace '%s': 1 to 256 letters, digits, '.', '-' or '_'", v);
    } else if (!strcmp(k, "max_publication")) {
        if (hc_size_parse(v, &c->max_publication) || c->max_publication < 1024 ||
            c->max_publication > RX_PUBLICATION_MAX)
            return fail(l, "max_publication '%s': a size from 1K to 64M, e.g. 1M", v);
    } else if (!strcmp(k, "max_inflight")) {
        if (hc_size_parse(v, &c->max_inflight) || c->max_inflight < (1u << 20))
            return fail(l, "max_inflight '%s': a size of at least 1M, e.g. 256M", v);
    } else if (!strcmp(k, "log_level")) {
        if (strcmp(v, "debug") && strcmp(v, "info") && strcmp(v, "warn") && strcmp(v, "error"))
            return fail(l, "log_level '%s': use debug, info, warn or error", v);
        copy(c->log_level, sizeof c->log_level, v);
    } else {
        return fail(l, "unknown key '%s' in [receiver]", k);
    }
    return 1;
}

static int capture_key(struct load *l, const char *k, const char *v)
{
    struct rx_conf *c = l->c;
    if (!strcmp(k, "dir")) {
        if (!*v || copy(c->capture_dir, sizeof c->capture_dir, v))
            return fail(l, "dir: give the capture folder (at most %d bytes)", RX_PATH_MAX - 1);
    } else if (!strcmp(k, "index_dir")) {
        if (copy(c->index_dir, sizeof c->index_dir, v))
            return fail(l, "index_dir: a folder of at most %d bytes", RX_PATH_MAX - 1);
    } else if (!strcmp(k, "window")) {
        if (hc_duration_parse(v, &c->window_ms) || c->window_ms < 1000)
            return fail(l, "window '%s': a duration of at least 1s, e.g. 5m", v);
    } else if (!strcmp(k, "window_bytes")) {
        if (hc_size_parse(v, &c->window_bytes) || c->window_bytes < 1024)
            return fail(l, "window_bytes '%s': a size of at least 1K, e.g. 300M", v);
    } else if (!strcmp(k, "skip_empty")) {
        if (boolean(v, &c->skip_empty))
            return fail(l, "skip_empty '%s': use true or false", v);
    } else if (!strcmp(k, "codec")) {
        if (!strcmp(v, "deflate"))
            c->codec = RX_CODEC_DEFLATE;
        else if (!strcmp(v, "null"))
            c->codec = RX_CODEC_NULL;
        else
            return fail(l, "codec '%s': use deflate or null", v);
    } else {
        return fail(l, "unknown key '%s' in [capture]", k);
    }
    return 1;
}

/* A consumer group name as Event Hubs takes it: 1 to 50 letters, digits, '.', '-', '_'. */
static int group_name(const char *v, size_t n)
{
    return name_ok(v, n, RX_GROUP_MAX);
}

/* consumer_groups = a, b c: add each (a repeat, or $Default, is no new group). */
static int hub_groups(struct load *l, struct rx_hub_conf *h, const char *v)
{
    const char *p = v;
    for (;;) {
        size_t n;
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (!(n = strcspn(p, " ,\t")))
            return 1;
        if (rx_conf_group_index(h, p, n) < 0) {
            if (group_name(p, n))
                return fail(l, "consumer group '%.*s': 1 to %d letters, digits, '.', '-' or '_'",
                            (int)(n > 64 ? 64 : n), p, RX_GROUP_MAX - 1);
            if (h->ngroups == RX_MAX_GROUPS - 1)
                return fail(l, "[hub %s]: at most %d consumer groups besides $Default", h->name,
                            RX_MAX_GROUPS - 1);
            memcpy(h->groups[h->ngroups], p, n);
            h->groups[h->ngroups++][n] = 0;
        }
        p += n;
    }
}

static int hub_key(struct load *l, const char *name, const char *k, const char *v)
{
    struct rx_conf *c = l->c;
    int i = rx_conf_hub_index(c, name, strlen(name));
    if (i < 0) {
        if (entity_name(name))
            return fail(l, "[hub %s]: a hub name is 1 to 256 letters, digits, '.', '-' or '_'",
                        name);
        if (c->nhubs == RX_MAX_HUBS)
            return fail(l, "too many hubs (at most %d)", RX_MAX_HUBS);
        i = c->nhubs++;
        strcpy(c->hubs[i].name, name);
        c->hubs[i].partitions = 4;
    }
    if (!strcmp(k, "partitions")) {
        if (whole(v, 1, RX_MAX_PARTITIONS, &c->hubs[i].partitions))
            return fail(l, "partitions '%s': a whole number from 1 to %d", v, RX_MAX_PARTITIONS);
    } else if (!strcmp(k, "retention")) {
        if (hc_duration_parse(v, &c->hubs[i].retention_ms) || c->hubs[i].retention_ms < 0)
            return fail(l, "retention '%s': a duration (e.g. 7d, 12h) or 0 to keep everything", v);
    } else if (!strcmp(k, "consumer_groups")) {
        return hub_groups(l, &c->hubs[i], v);
    } else {
        return fail(l, "unknown key '%s' in [hub %s]", k, name);
    }
    return 1;
}

static int rights(const char *v, unsigned *out)
{
    unsigned r = 0;
    const char *p = v;
    while (*p) {
        size_t n;
        while (*p == ' ' || *p == ',' || *p == '|' || *p == '\t')
            p++;
        n = strcspn(p, " ,|\t");
        if (!n)
            break;
        if (n == 4 && !strncasecmp(p, "send", 4))
            r |= RX_RIGHT_SEND;
        else if (n == 6 && !strncasecmp(p, "listen", 6))
            r |= RX_RIGHT_LISTEN;
        else if (n == 6 && !strncasecmp(p, "manage", 6))
            r |= RX_RIGHT_MANAGE | RX_RIGHT_SEND | RX_RIGHT_LISTEN;
        else
            return -1;
        p += n;
    }
    *out = r;
    return 0;
}

static struct rx_rule_conf *rule_for(struct rx_conf *c, const char *name)
{
    for (int i = 0; i < c->nrules; i++)
        if (!strcmp(c->rules[i].name, name))
            return &c->rules[i];
    if (c->nrules == RX_MAX_RULES || entity_name(name))
        return NULL;
    struct rx_rule_conf *r = &c->rules[c->nrules++];
    memset(r, 0, sizeof *r);
    strcpy(r->name, name);
    return r;
}

/* A key a connection string carries as it is: no ';' (ends a pair), no space at its ends (the
 * parsers trim them). */
static int key_ok(const char *k)
{
    size_t n = strlen(k);
    return !strchr(k, ';') && n && !isspace((unsigned char)k[0]) &&
           !isspace((unsigned char)k[n - 1]);
}

static int rule_key(struct load *l, const char *name, const char *k, const char *v)
{
    struct rx_rule_conf *r = rule_for(l->c, name);
    if (!r)
        return fail(l, "[rule %s]: too many rules, or not a name (letters, digits, . - _)", name);
    if (!strcmp(k, "key")) {
        if (!*v || copy(r->key, sizeof r->key, v))
            return fail(l, "key: 1 to %d bytes", RX_KEY_MAX - 1);
        if (!key_ok(v))
            return fail(l, "key: no ';' and no space at its ends (connection strings carry it)");
    } else if (!strcmp(k, "key_env")) {
        const char *e = getenv(v);
        if (!e || !*e)
            return fail(l, "key_env: environment variable '%s' is not set", v);
        if (copy(r->key, sizeof r->key, e))
            return fail(l, "key_env: the key in '%s' is longer than %d bytes", v, RX_KEY_MAX - 1);
        if (!key_ok(e))
            return fail(l,
                        "key_env: the key in '%s' has a ';' or a space at its ends "
                        "(connection strings carry it)",
                        v);
    } else if (!strcmp(k, "rights")) {
        if (rights(v, &r->rights))
            return fail(l, "rights '%s': any of send, listen, manage", v);
    } else if (!strcmp(k, "hub")) {
        if (entity_name(v))
            return fail(l, "hub '%s': not a hub name", v);
        strcpy(r->hub, v);
    } else {
        return fail(l, "unknown key '%s' in [rule %s]", k, name);
    }
    return 1;
}

static int lake_key(struct load *l, const char *k, const char *v)
{
    struct rx_conf *c = l->c;
    c->lake = 1;
    if (!strcmp(k, "pg")) {
        if (copy(c->pg, sizeof c->pg, v))
            return fail(l, "pg: a libpq connection string of at most %d bytes",
                        (int)sizeof c->pg - 1);
    } else if (!strcmp(k, "interval")) {
        if (hc_duration_parse(v, &c->lake_interval_ms) || c->lake_interval_ms < 100)
            return fail(l, "interval '%s': a duration of at least 100ms, e.g. 1s", v);
    } else {
        return fail(l, "unknown key '%s' in [lake]", k);
    }
    return 1;
}

static int amqp_key(struct load *l, const char *k, const char *v)
{
    struct rx_amqp_conf *a = &l->c->amqp;
    uint64_t sz;
    if (!strcmp(k, "listen") || !strcmp(k, "listen_tls")) {
        if (rx_conf_amqp_listen(l->c, v, k[6] == '_'))
            return fail(l, "%s '%s': give ADDR:PORT, e.g. 0.0.0.0:5672, or off", k, v);
    } else if (!strcmp(k, "tls_cert")) {
        if (copy(a->tls_cert, sizeof a->tls_cert, v))
            return fail(l, "tls_cert: path too long");
    } else if (!strcmp(k, "tls_key")) {
        if (copy(a->tls_key, sizeof a->tls_key, v))
            return fail(l, "tls_key: path too long");
    } else if (!strcmp(k, "idle_timeout")) {
        if (hc_duration_parse(v, &a->idle_timeout_ms) || a->idle_timeout_ms < 1000)
            return fail(l, "idle_timeout '%s': a duration of at least 1s, e.g. 60s", v);
    } else if (!strcmp(k, "max_frame")) {
        if (hc_size_parse(v, &sz) || sz < 512 || sz > (1u << 20))
            return fail(l, "max_frame '%s': a size from 512 to 1M, e.g. 64K", v);
        a->max_frame = (uint32_t)sz;
    } else if (!strcmp(k, "connection_limit")) {
        if (whole(v, 1, 1000000, &a->connection_limit))
            return fail(l, "connection_limit '%s': a whole number from 1 to 1000000", v);
    } else if (!strcmp(k, "threads")) {
        if (whole(v, 1, 64, &a->threads))
            return fail(l, "threads '%s': a whole number from 1 to 64", v);
    } else if (!strcmp(k, "shared")) {
        if (boolean(v, &a->shared))
            return fail(l, "shared '%s': use true or false", v);
    } else {
        return fail(l, "unknown key '%s' in [amqp]", k);
    }
    return 1;
}

static int mqtt_key(struct load *l, const char *k, const char *v)
{
    char why[sizeof l->c->err];
    if (!rx_conf_mqtt_set(l->c, k, v))
        return 1;
    snprintf(why, sizeof why, "%s", l->c->err);
    l->c->err[0] = '\0';
    return fail(l, "[mqtt] %.40s: %.40s", k, why);
}

static int on_key(void *arg, const char *section, const char *k, const char *v)
{
    struct load *l = arg;
    if (l->c->err[0])
        return 0;
    if (!strcmp(section, "receiver"))
        return receiver_key(l, k, v);
    if (!strcmp(section, "capture"))
        return capture_key(l, k, v);
    if (!strcmp(section, "lake"))
        return lake_key(l, k, v);
    if (!strcmp(section, "amqp")) {
        l->c->amqp.section = 1; /* the section asks for AMQP (rx_conf_amqp_check) */
        return amqp_key(l, k, v);
    }
    if (!strncmp(section, "hub ", 4) && section[4])
        return hub_key(l, section + 4, k, v);
    if (!strncmp(section, "rule ", 5) && section[5])
        return rule_key(l, section + 5, k, v);
    if (!strcmp(section, "mqtt"))
        return mqtt_key(l, k, v);
    return fail(l,
                "unknown section [%s]: use [receiver], [capture], [lake], [amqp], [mqtt], "
                "[hub NAME] or [rule NAME]",
                section);
}

int rx_conf_mqtt_set(struct rx_conf *c, const char *key, const char *value)
{
    int i;
    if (strlen(key) >= sizeof c->mqtt[0].key || strlen(value) >= sizeof c->mqtt[0].value) {
        snprintf(c->err, sizeof c->err, "too long");
        return HC_E_TOOBIG;
    }
    for (i = 0; i < c->nmqtt && strcmp(c->mqtt[i].key, key); i++)
        ;
    if (i == RX_MQTT_KEYS) {
        snprintf(c->err, sizeof c->err, "too many settings");
        return HC_E_TOOBIG;
    }
    snprintf(c->mqtt[i].key, sizeof c->mqtt[i].key, "%s", key);
    snprintf(c->mqtt[i].value, sizeof c->mqtt[i].value, "%s", value);
    if (i == c->nmqtt)
        c->nmqtt++;
    return 0;
}

int rx_conf_load(struct rx_conf *c, const char *path)
{
    struct load l = {c, path, 0};
    int rc;
    conf_common(c);
    rc = hc_ini_load(path, on_key, &l, &l.line);
    if (rc < 0) {
        snprintf(c->err, sizeof c->err, "%s: %s", path, strerror(-rc));
        return rc;
    }
    if (c->err[0])
        return HC_E_PARSE;
    if (rc) {
        snprintf(c->err, sizeof c->err, "%s:%d: not INI syntax ([section] or key = value)", path,
                 rc);
        return HC_E_PARSE;
    }
    return rx_conf_check(c);
}

static int check_fail(struct rx_conf *c, const char *fmt, const char *a)
{
    snprintf(c->err, sizeof c->err, fmt, a);
    return HC_E_INVAL;
}

/* [amqp]: a certificate from [receiver] when it has none; TLS on 5671 when there is one. */
static int rx_conf_amqp_check(struct rx_conf *c)
{
    struct rx_amqp_conf *a = &c->amqp;
    if (!a->tls_cert[0] && !a->tls_key[0] && a->section && c->tls_cert[0]) {
        strcpy(a->tls_cert, c->tls_cert);
        strcpy(a->tls_key, c->tls_key);
    }
    if (!a->tls_cert[0] != !a->tls_key[0])
        return check_fail(c, "AMQP over TLS needs both tls_cert and tls_key in [amqp]%s", "");
    if (a->tls_port < 0 && a->tls_cert[0] && !a->tls_set)
        a->tls_port = 5671;
    /* plain AMQP on 5672 when the section says nothing of listeners; with TLS only if asked */
    if (a->section && !a->port_given && a->tls_port < 0)
        a->port = 5672;
    if (a->tls_port >= 0 && !a->tls_cert[0])
        return check_fail(c, "[amqp] listen_tls needs tls_cert and tls_key%s", "");
    if (a->shared && c->tls_cert[0])
        return check_fail(c,
                          "[amqp] shared needs a plain [receiver] listen (TLS hides the "
                          "protocol): use listen_tls for AMQP over TLS%s",
                          "");
    return 0;
}

int rx_conf_check(struct rx_conf *c)
{
    int send = 0;
    if (!c->nhubs)
        return check_fail(c, "no event hub: add a [hub NAME] section%s", "");
    for (int i = 0; i < c->nrules; i++) {
        struct rx_rule_conf *r = &c->rules[i];
        if (!r->key[0])
            return check_fail(c, "[rule %s] has no key (key = ... or key_env = VAR)", r->name);
        if (!r->rights)
            return check_fail(c, "[rule %s] has no rights (rights = send, listen or manage)",
                              r->name);
        if (r->hub[0] && rx_conf_hub_index(c, r->hub, strlen(r->hub)) < 0)
            return check_fail(c, "[rule] hub '%s' has no [hub] section", r->hub);
        send |= (r->rights & RX_RIGHT_SEND) != 0;
    }
    if (!send)
        return check_fail(c, "no [rule NAME] with rights = send: nobody could send%s", "");
    if (!c->tls_cert[0] != !c->tls_key[0])
        return check_fail(c, "TLS needs both tls_cert and tls_key in [receiver]%s", "");
    return rx_conf_amqp_check(c);
}
