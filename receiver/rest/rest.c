#include "receiver/rest/rest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "receiver/rest/send.h"

struct rx_rest {
    const struct rx_conf *c;
    struct rx_send_api *api;
    struct rx_http *http;
    int listening; /* its own socket (not RX_HTTP_NO_LISTEN) */
    int lake;      /* /api/v1 and the dashboard answer */
};

int rx_rest_start(const struct rx_frontend_env *env, unsigned flags, struct rx_rest **out,
                  const char **why)
{
    struct rx_rest *r = calloc(1, sizeof *r);
    int rc = -ENOMEM;
    *why = "out of memory";
    if (!r || !(r->api = rx_send_api_new(env->c, env->core, env->m)))
        goto out_free;
    if ((rc = rx_http_start(env, &rx_send_handler, r->api, flags, &r->http, why)))
        goto out_free;
    r->c = env->c;
    r->listening = !(flags & RX_HTTP_NO_LISTEN);
    r->lake = env->api != NULL;
    *out = r;
    return 0;
out_free:
    if (r)
        rx_send_api_free(r->api);
    free(r);
    return rc;
}

struct rx_http *rx_rest_http(const struct rx_rest *r)
{
    return r->http;
}

void rx_rest_stop(struct rx_rest *r, int64_t drain_ms)
{
    if (!r)
        return;
    if (rx_http_stop(r->http, drain_ms))
        return; /* partitions still hold sends that point at r->api: leave it to them */
    rx_send_api_free(r->api);
    free(r);
}

/* ---- The front end serve starts ------------------------------------------------------------- */

static int rest_start(const struct rx_frontend_env *env, void **ctx, const char **why)
{
#ifdef HUBCAP_WITH_AMQP
    if (env->c->amqp.shared)
        return 1; /* the AMQP front end owns the port and starts REST behind it (amqp/shared.c) */
#endif
    return rx_rest_start(env, 0, (struct rx_rest **)ctx, why);
}

static void rest_banner(void *ctx, FILE *out)
{
    struct rx_rest *r = ctx;
    const struct rx_conf *c = r->c;
    char cs[2048];
    int port = rx_http_port(r->http), v6 = strchr(c->listen_addr, ':') != NULL;
    if (!r->listening) {
        fprintf(out, "rest: on connections handed over by a shared listener\n");
        return;
    }
    fprintf(out, "rest: %s://%s%s%s:%d (Event Hubs REST send API, /metrics, /healthz%s)\n",
            c->tls_cert[0] ? "https" : "http", v6 ? "[" : "", c->listen_addr, v6 ? "]" : "", port,
            r->lake ? ", /api/v1, dashboard at /" : "");
    if (rx_conf_connstr(c, port, c->dev, cs, sizeof cs) > 0)
        fprintf(out, "connection string for the agent:\n%s\n", cs);
}

static void rest_stop(void *ctx, int64_t drain_ms)
{
    rx_rest_stop(ctx, drain_ms);
}

const struct rx_frontend rx_frontend_rest = {
    .name = "rest",
    .start = rest_start,
    .banner = rest_banner,
    .stop = rest_stop,
};
