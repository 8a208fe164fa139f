#include "receiver/core/sas_rules.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/sas.h"

struct lookup {
    const struct rx_conf *c;
    const char *hub;
    const struct rx_rule_conf *found;
};

/* hc_sas_key_fn: the key of policy name, if it applies to the hub; remembers the policy. */
static int lookup_key(void *ctx, const char *name, const char **key, size_t *key_len)
{
    struct lookup *l = ctx;
    for (int i = 0; i < l->c->nrules; i++) {
        const struct rx_rule_conf *r = &l->c->rules[i];
        if (strcmp(r->name, name) || (r->hub[0] && strcasecmp(r->hub, l->hub)))
            continue;
        l->found = r;
        *key = r->key;
        *key_len = strlen(r->key);
        return 0;
    }
    return HC_E_NOTFOUND;
}

int rx_sas_check(const struct rx_conf *c, int hub, const char *token, const char *resource,
                 unsigned right, int64_t now_s, struct hc_sas_claims *claims, const char **why)
{
    struct lookup l = {c, c->hubs[hub].name, NULL};
    enum hc_sas_reason reason;
    int rc;
    if (!token || !*token) {
        *why = "no token: send a SharedAccessSignature token";
        return HC_E_AUTH;
    }
    if (strncasecmp(token, HC_SAS_PREFIX, strlen(HC_SAS_PREFIX))) {
        *why = "the token is not a SharedAccessSignature token";
        return HC_E_AUTH;
    }
    rc = hc_sas_verify(token, lookup_key, &l, resource, now_s, claims, &reason);
    if (rc) {
        *why = rc == -ENOMEM ? "out of memory" : hc_sas_reason_str(reason);
        return rc == -ENOMEM ? rc : HC_E_AUTH;
    }
    if (!l.found || !(l.found->rights & (right | RX_RIGHT_MANAGE))) {
        *why = right == RX_RIGHT_LISTEN ? "the token's policy has no Listen right"
                                        : "the token's policy has no Send right";
        return HC_E_AUTH;
    }
    *why = NULL;
    return 0;
}

static int host_ok(const char *h)
{
    if (!h || !*h || strlen(h) > 255)
        return 0;
    for (; *h; h++) {
        char ch = *h;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-' || ch == ':' || ch == '[' || ch == ']'))
            return 0;
    }
    return 1;
}

int rx_sas_resource(const struct rx_conf *c, const char *scheme, const char *host, const char *path,
                    char *out, size_t cap)
{
    const char *h = c->host_name[0] ? c->host_name : NULL;
    int n;
    if (!h && host_ok(host))
        h = host;
    if (h)
        n = snprintf(out, cap, "%s://%s%s", scheme, h, path);
    else if (strchr(c->listen_addr, ':'))
        n = snprintf(out, cap, "%s://[%s]%s", scheme, c->listen_addr, path);
    else
        n = snprintf(out, cap, "%s://%s%s", scheme, c->listen_addr, path);
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            out[0] = '\0';
        return HC_E_TOOBIG;
    }
    return n;
}
