#include "agent/transport/https/https_conf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"

void ag_https_conf_default(struct ag_https_conf *c)
{
    memset(c, 0, sizeof *c);
    ag_hub_conf_default(&c->hub);
}

/* Replace *slot with a copy of value. */
static int conf_str(char **slot, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return -ENOMEM;
    free(*slot);
    *slot = copy;
    return 0;
}

static int conf_proxy(struct ag_https_conf *c, const char *value, const char **why)
{
    if (!strcasecmp(value, "none") || !*value)
        value = "";
    else if (strncasecmp(value, "http://", 7) && strncasecmp(value, "https://", 8) &&
             strstr(value, "://")) {
        *why = "proxy must be an HTTP proxy (http://host:port) or none";
        return HC_E_INVAL;
    }
    if (conf_str(&c->proxy, value)) {
        *why = "out of memory";
        return -ENOMEM;
    }
    return 0;
}

int ag_https_conf_set(struct ag_https_conf *c, const char *key, const char *value, const char **why)
{
    const char *dummy;
    int rc;
    if (!why)
        why = &dummy;
    if (key && value && strcasecmp(key, "proxy") == 0)
        return conf_proxy(c, value, why);
    if (key && value && strcasecmp(key, "no_proxy") == 0) {
        if ((rc = conf_str(&c->no_proxy, value)))
            *why = "out of memory";
        return rc;
    }
    rc = ag_hub_conf_set(&c->hub, key, value, why);
    if (rc == HC_E_NOTFOUND)
        *why = "https: unknown setting (known: " AG_HUB_CONF_KEYS ", proxy, no_proxy)";
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

int ag_https_conf_finish(struct ag_https_conf *c, const char **why)
{
    const struct hc_connstr *cs = &c->hub.cs;
    char audience[HC_CONNSTR_HOST_MAX + HC_CONNSTR_NAME_MAX + 16], port[16] = "";
    const char *dummy;
    int rc;
    if (!why)
        why = &dummy;
    rc = ag_hub_conf_finish(&c->hub, 443, 80, why);
    if (rc)
        return rc;
    if (cs->port)
        snprintf(port, sizeof port, ":%d", cs->port);
    if (hc_connstr_audience(cs, NULL, audience, sizeof audience) < 0) {
        *why = "https: the hub address is too long";
        return HC_E_TOOBIG;
    }
    if (conf_printf(&c->url, "%s://%s%s/%s/messages" AG_HTTPS_QUERY,
                    cs->scheme == HC_SCHEME_HTTP ? "http" : "https", cs->host, port, cs->hub) ||
        conf_printf(&c->audience, "%s", audience)) {
        *why = "out of memory";
        return -ENOMEM;
    }
    return 0;
}

void ag_https_conf_free(struct ag_https_conf *c)
{
    if (!c)
        return;
    ag_hub_conf_free(&c->hub);
    free(c->proxy);
    free(c->no_proxy);
    free(c->url);
    free(c->audience);
    c->proxy = c->no_proxy = c->url = c->audience = NULL;
}
