#include "agent/transport/https/https_conf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/hctime.h"

void ag_https_conf_default(struct ag_https_conf *c)
{
    memset(c, 0, sizeof *c);
    c->connect_timeout_ms = 10 * 1000;
    c->timeout_ms = 70 * 1000;
    c->token_ttl_ms = 60 * 60 * 1000;
    c->token_renew_ms = 5 * 60 * 1000;
}

/* Replace *slot with a copy of value ("" clears it). */
static int conf_str(char **slot, const char *value)
{
    char *copy = NULL;
    if (*value && !(copy = strdup(value)))
        return -ENOMEM;
    free(*slot);
    *slot = copy;
    return 0;
}

/* A duration in [min_ms, max_ms]. */
static int conf_duration(int64_t *slot, const char *value, int64_t min_ms, int64_t max_ms,
                         const char *bad, const char **why)
{
    int64_t ms;
    if (hc_duration_parse(value, &ms) || ms < min_ms || ms > max_ms) {
        *why = bad;
        return HC_E_INVAL;
    }
    *slot = ms;
    return 0;
}

static int conf_tier(struct ag_https_conf *c, const char *value, const char **why)
{
    if (strcasecmp(value, "basic") == 0) {
        c->basic_tier = 1;
    } else if (strcasecmp(value, "standard") == 0 || strcasecmp(value, "premium") == 0 ||
               strcasecmp(value, "dedicated") == 0) {
        c->basic_tier = 0;
    } else {
        *why = "https: tier must be basic, standard, premium or dedicated";
        return HC_E_INVAL;
    }
    return 0;
}

static int conf_batch(struct ag_https_conf *c, const char *value, const char **why)
{
    uint64_t bytes;
    if (hc_size_parse(value, &bytes) || bytes < AG_HTTPS_BATCH_MIN || bytes > AG_HTTPS_BATCH_MAX) {
        *why = "https: max_batch_bytes must be a size from 1K to 64M (e.g. 1M; 256K for Basic)";
        return HC_E_INVAL;
    }
    c->max_batch_bytes = bytes;
    return 0;
}

int ag_https_conf_set(struct ag_https_conf *c, const char *key, const char *value, const char **why)
{
    const char *dummy;
    int rc;
    if (!why)
        why = &dummy;
    if (!key || !value) {
        *why = "https: a setting without a name or value";
        return HC_E_INVAL;
    }
    if (strcasecmp(key, "connection_string") == 0)
        rc = conf_str(&c->connection_string, value);
    else if (strcasecmp(key, "hub") == 0)
        rc = conf_str(&c->hub, value);
    else if (strcasecmp(key, "ca_file") == 0)
        rc = conf_str(&c->ca_file, value);
    else if (strcasecmp(key, "connect_timeout") == 0)
        return conf_duration(&c->connect_timeout_ms, value, 100, 10 * 60 * 1000,
                             "https: connect_timeout must be a duration from 100ms to 10m", why);
    else if (strcasecmp(key, "timeout") == 0)
        return conf_duration(&c->timeout_ms, value, 1000, 60 * 60 * 1000,
                             "https: timeout must be a duration from 1s to 1h", why);
    else if (strcasecmp(key, "token_ttl") == 0)
        return conf_duration(&c->token_ttl_ms, value, 60 * 1000, 365LL * 24 * 3600 * 1000,
                             "https: token_ttl must be a duration from 1m to 365d", why);
    else if (strcasecmp(key, "token_renew") == 0)
        return conf_duration(&c->token_renew_ms, value, 1000, 365LL * 24 * 3600 * 1000,
                             "https: token_renew must be a duration from 1s to 365d", why);
    else if (strcasecmp(key, "tier") == 0)
        return conf_tier(c, value, why);
    else if (strcasecmp(key, "max_batch_bytes") == 0)
        return conf_batch(c, value, why);
    else {
        *why = "https: unknown setting (known: connection_string, hub, ca_file, connect_timeout, "
               "timeout, token_ttl, token_renew, tier, max_batch_bytes)";
        return HC_E_NOTFOUND;
    }
    if (rc)
        *why = "out of memory";
    return rc;
}

/* Format a new string into *slot. */
static int conf_printf(char **slot, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int conf_printf(char **slot, const char *fmt, ...)
{
    struct hc_buf b = HC_BUF_INIT;
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || hc_buf_reserve(&b, (size_t)n))
        return -ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b.p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    free(*slot);
    *slot = b.p;
    return 0;
}

/* url, audience and host_port from cs. */
static int conf_derive(struct ag_https_conf *c)
{
    const struct hc_connstr *cs = &c->cs;
    const char *scheme = cs->scheme == HC_SCHEME_HTTP ? "http" : "https";
    char audience[HC_CONNSTR_HOST_MAX + HC_CONNSTR_NAME_MAX + 16];
    char port[16] = "";
    if (cs->port)
        snprintf(port, sizeof port, ":%d", cs->port);
    if (hc_connstr_audience(cs, NULL, audience, sizeof audience) < 0)
        return HC_E_TOOBIG;
    if (conf_printf(&c->url, "%s://%s%s/%s/messages" AG_HTTPS_QUERY, scheme, cs->host, port,
                    cs->hub) ||
        conf_printf(&c->path, "/%s/messages" AG_HTTPS_QUERY, cs->hub) ||
        conf_printf(&c->audience, "%s", audience) ||
        conf_printf(&c->host_port, "%s:%d", cs->host, hc_connstr_port(cs)))
        return -ENOMEM;
    return 0;
}

int ag_https_conf_finish(struct ag_https_conf *c, const char **why)
{
    const char *dummy;
    int rc;
    if (!why)
        why = &dummy;
    if (!c->connection_string) {
        *why = "no connection string: pass --connection-string or set HUBCAP_CONNECTION_STRING";
        return HC_E_INVAL;
    }
    if (c->token_renew_ms >= c->token_ttl_ms) {
        *why = "https: token_renew must be shorter than token_ttl";
        return HC_E_INVAL;
    }
    rc = hc_connstr_parse(c->connection_string, c->hub, &c->cs, why);
    if (rc)
        return rc;
    if (!c->max_batch_bytes)
        c->max_batch_bytes = c->basic_tier ? AG_HTTPS_BATCH_BASIC : AG_HTTPS_BATCH_STANDARD;
    rc = conf_derive(c);
    if (rc)
        *why = rc == -ENOMEM ? "out of memory" : "https: the hub address is too long";
    return rc;
}

void ag_https_conf_free(struct ag_https_conf *c)
{
    if (!c)
        return;
    if (c->connection_string) {
        volatile char *p = c->connection_string;
        for (size_t i = 0; p[i]; i++)
            p[i] = 0;
    }
    hc_connstr_wipe(&c->cs);
    free(c->connection_string);
    free(c->hub);
    free(c->ca_file);
    free(c->url);
    free(c->path);
    free(c->audience);
    free(c->host_port);
    c->connection_string = c->hub = c->ca_file = c->url = c->path = c->audience = c->host_port =
        NULL;
}
