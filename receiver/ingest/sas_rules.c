#include "receiver/ingest/sas_rules.h"

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

int rx_sas_check_send(const struct rx_conf *c, int hub, const char *auth, const char *resource,
                      int64_t now_s, const char **why)
{
    struct lookup l = {c, c->hubs[hub].name, NULL};
    enum hc_sas_reason reason;
    int rc;
    if (!auth || !*auth) {
        *why = "no Authorization header: send a SharedAccessSignature token";
        return HC_E_AUTH;
    }
    if (strncasecmp(auth, HC_SAS_PREFIX, strlen(HC_SAS_PREFIX))) {
        *why = "the Authorization header is not a SharedAccessSignature token";
        return HC_E_AUTH;
    }
    rc = hc_sas_verify(auth, lookup_key, &l, resource, now_s, NULL, &reason);
    if (rc) {
        *why = hc_sas_reason_str(reason);
        return HC_E_AUTH;
    }
    if (!l.found || !(l.found->rights & RX_RIGHT_SEND)) {
        *why = "the token's policy has no Send right";
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

int rx_sas_resource(const struct rx_conf *c, const char *host_header, const char *path, char *out,
                    size_t cap)
{
    const char *host = c->host_name[0] ? c->host_name : NULL;
    int n;
    if (!host && host_ok(host_header))
        host = host_header;
    if (host)
        n = snprintf(out, cap, "http://%s%s", host, path);
    else if (strchr(c->listen_addr, ':'))
        n = snprintf(out, cap, "http://[%s]%s", c->listen_addr, path);
    else
        n = snprintf(out, cap, "http://%s%s", c->listen_addr, path);
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            out[0] = '\0';
        return HC_E_TOOBIG;
    }
    return n;
}
