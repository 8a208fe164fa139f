#include "agent/transport/amqp/amqp_conf.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/hctime.h"

void ag_amqp_conf_default(struct ag_amqp_conf *c)
{
    memset(c, 0, sizeof *c);
    ag_hub_conf_default(&c->hub);
    c->idle_timeout_ms = 60 * 1000;
}

int ag_amqp_conf_set(struct ag_amqp_conf *c, const char *key, const char *value, const char **why)
{
    const char *dummy;
    int64_t ms;
    int rc;
    if (!why)
        why = &dummy;
    if (key && value && strcasecmp(key, "idle_timeout") == 0) {
        if (hc_duration_parse(value, &ms) || ms < 0 || (ms && ms < 1000) || ms > 60 * 60 * 1000) {
            *why = "idle_timeout must be 0 (none) or a duration from 1s to 1h";
            return HC_E_INVAL;
        }
        c->idle_timeout_ms = ms;
        return 0;
    }
    rc = ag_hub_conf_set(&c->hub, key, value, why);
    if (rc == HC_E_NOTFOUND)
        *why = "amqp: unknown setting (known: " AG_HUB_CONF_KEYS ", idle_timeout)";
    return rc;
}

int ag_amqp_conf_finish(struct ag_amqp_conf *c, const char **why)
{
    const struct hc_connstr *cs = &c->hub.cs;
    const char *dummy, *h;
    size_t n;
    int rc;
    if (!why)
        why = &dummy;
    rc = ag_hub_conf_finish(&c->hub, AG_AMQP_PORT_TLS, AG_AMQP_PORT_PLAIN, why);
    if (rc)
        return rc;
    if (cs->scheme == HC_SCHEME_HTTP && !cs->emulator) {
        *why = "amqp: an http:// Endpoint: AMQP in plain TCP needs an sb:// Endpoint with "
               "UseDevelopmentEmulator=true (or use --transport https)";
        return HC_E_INVAL;
    }
    c->tls = !cs->emulator;
    c->port = cs->port ? cs->port : c->tls ? AG_AMQP_PORT_TLS : AG_AMQP_PORT_PLAIN;
    h = cs->host;
    n = strlen(h);
    if (h[0] == '[' && n > 2 && h[n - 1] == ']') { /* [::1] */
        h++;
        n -= 2;
    }
    memcpy(c->host, h, n);
    c->host[n] = '\0';
    if (hc_connstr_audience(cs, "sb", c->audience, sizeof c->audience) < 0) {
        *why = "amqp: the hub address is too long";
        return HC_E_TOOBIG;
    }
    return 0;
}

void ag_amqp_conf_free(struct ag_amqp_conf *c)
{
    if (!c)
        return;
    ag_hub_conf_free(&c->hub);
}
