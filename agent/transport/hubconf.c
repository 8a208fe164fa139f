#include "agent/transport/hubconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hctime.h"
#include "common/sas.h"
#include "agent/transport/transport.h"

#define TOKEN_RENEW_DEFAULT_MS (5 * 60 * 1000)

void ag_hub_conf_default(struct ag_hub_conf *c)
{
    memset(c, 0, sizeof *c);
    c->connect_timeout_ms = 10 * 1000;
    c->timeout_ms = 70 * 1000;
    c->token_ttl_ms = 60 * 60 * 1000;
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

static int conf_tier(struct ag_hub_conf *c, const char *value, const char **why)
{
    if (strcasecmp(value, "basic") == 0) {
        c->basic_tier = 1;
    } else if (strcasecmp(value, "standard") == 0 || strcasecmp(value, "premium") == 0 ||
               strcasecmp(value, "dedicated") == 0) {
        c->basic_tier = 0;
    } else {
        *why = "tier must be basic, standard, premium or dedicated";
        return HC_E_INVAL;
    }
    return 0;
}

static int conf_batch(struct ag_hub_conf *c, const char *value, const char **why)
{
    uint64_t bytes;
    if (hc_size_parse(value, &bytes) || bytes < AG_HUB_BATCH_MIN || bytes > AG_HUB_BATCH_MAX) {
        *why = "max_batch_bytes must be a size from 1K to 64M (e.g. 1M; 256K for Basic)";
        return HC_E_INVAL;
    }
    c->max_batch_bytes = bytes;
    return 0;
}

int ag_hub_conf_set(struct ag_hub_conf *c, const char *key, const char *value, const char **why)
{
    const char *dummy;
    int rc;
    if (!why)
        why = &dummy;
    if (!key || !value) {
        *why = "a setting without a name or value";
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
                             "connect_timeout must be a duration from 100ms to 10m", why);
    else if (strcasecmp(key, "timeout") == 0)
        return conf_duration(&c->timeout_ms, value, 1000, 60 * 60 * 1000,
                             "timeout must be a duration from 1s to 1h", why);
    else if (strcasecmp(key, "token_ttl") == 0)
        return conf_duration(&c->token_ttl_ms, value, 2000, 365LL * 24 * 3600 * 1000,
                             "token_ttl must be a duration from 2s to 365d", why);
    else if (strcasecmp(key, "token_renew") == 0)
        return conf_duration(&c->token_renew_ms, value, 1000, 365LL * 24 * 3600 * 1000,
                             "token_renew must be a duration from 1s to 365d", why);
    else if (strcasecmp(key, "tier") == 0)
        return conf_tier(c, value, why);
    else if (strcasecmp(key, "max_batch_bytes") == 0)
        return conf_batch(c, value, why);
    else {
        *why = "unknown setting";
        return HC_E_NOTFOUND;
    }
    if (rc)
        *why = "out of memory";
    return rc;
}

int ag_hub_conf_finish(struct ag_hub_conf *c, int tls_port, int plain_port, const char **why)
{
    const struct hc_connstr *cs = &c->cs;
    char hp[HC_CONNSTR_HOST_MAX + 16];
    const char *dummy;
    int rc;
    if (!why)
        why = &dummy;
    if (!c->connection_string) {
        *why = "no connection string: pass --connection-string or set HUBCAP_CONNECTION_STRING";
        return HC_E_INVAL;
    }
    if (!c->token_renew_ms)
        c->token_renew_ms = c->token_ttl_ms < 3 * TOKEN_RENEW_DEFAULT_MS ? c->token_ttl_ms / 3
                                                                         : TOKEN_RENEW_DEFAULT_MS;
    if (c->token_renew_ms >= c->token_ttl_ms) {
        *why = "token_renew must be shorter than token_ttl";
        return HC_E_INVAL;
    }
    rc = hc_connstr_parse(c->connection_string, c->hub, &c->cs, why);
    if (rc)
        return rc;
    if (!c->max_batch_bytes)
        c->max_batch_bytes = c->basic_tier ? AG_HUB_BATCH_BASIC : AG_HUB_BATCH_STANDARD;
    snprintf(hp, sizeof hp, "%s:%d", cs->host,
             cs->port                       ? cs->port
             : cs->scheme == HC_SCHEME_HTTP ? plain_port
                                            : tls_port);
    free(c->host_port);
    if (!(c->host_port = strdup(hp))) {
        *why = "out of memory";
        return -ENOMEM;
    }
    return 0;
}

void ag_hub_conf_free(struct ag_hub_conf *c)
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
    free(c->host_port);
    c->connection_string = c->hub = c->ca_file = c->host_port = NULL;
}

/* ---- the SAS token ------------------------------------------------------------------------- */

/* Overwrite and free a buffer that held a secret. */
static void token_wipe(struct hc_buf *b)
{
    if (b->p) {
        volatile char *p = b->p;
        for (size_t i = 0; i < b->len; i++)
            p[i] = 0;
    }
    hc_buf_free(b);
}

int ag_hub_token_init(struct ag_hub_token *t, const struct ag_hub_conf *c, const char *audience)
{
    memset(t, 0, sizeof *t);
    t->audience = audience;
    if (!c->cs.token[0])
        return ag_hub_token_renew(t, c);
    t->fixed = 1;
    if (hc_buf_adds(&t->text, c->cs.token))
        return -ENOMEM;
    if (hc_sas_expiry(t->text.p, &t->expiry_s))
        t->expiry_s = 0;
    t->made = 1;
    return 0;
}

int ag_hub_token_renew(struct ag_hub_token *t, const struct ag_hub_conf *c)
{
    struct hc_buf tok = HC_BUF_INIT;
    int64_t expiry = hc_now_ms() / 1000 + c->token_ttl_ms / 1000;
    int rc;
    if (t->fixed)
        return HC_E_AUTH;
    rc = hc_sas_token(t->audience, c->cs.key_name, c->cs.key, expiry, &tok);
    if (rc) {
        hc_buf_free(&tok);
        return rc;
    }
    token_wipe(&t->text);
    t->text = tok;
    t->expiry_s = expiry;
    t->made++;
    return 0;
}

int ag_hub_token_due(const struct ag_hub_token *t, const struct ag_hub_conf *c, int64_t now_ms)
{
    if (t->fixed)
        return 0;
    return !t->text.len || t->expiry_s * 1000 - now_ms <= c->token_renew_ms;
}

void ag_hub_token_free(struct ag_hub_token *t)
{
    if (!t)
        return;
    token_wipe(&t->text);
    t->expiry_s = 0;
}

int ag_hub_conf_apply(void *tc, const struct ag_hub_conf *hub,
                      int (*set)(void *tc, const char *key, const char *value, const char **why),
                      int (*finish)(void *tc, const char **why), const struct ag_kv *conf, size_t n,
                      char *err, size_t errlen)
{
    const char *why = NULL;
    int rc;

    for (size_t i = 0; i < n; i++) {
        rc = set(tc, conf[i].key, conf[i].value, &why);
        if (rc) {
            snprintf(err, errlen, "%s: %s", conf[i].key ? conf[i].key : "(null)", why);
            return rc;
        }
    }
    rc = finish(tc, &why);
    if (rc) {
        snprintf(err, errlen, "%s", why);
        return rc;
    }
    if (hub->ca_file && access(hub->ca_file, R_OK) != 0) {
        rc = -errno;
        snprintf(err, errlen, "ca_file %s: %s", hub->ca_file, strerror(errno));
        return rc;
    }
    return 0;
}
