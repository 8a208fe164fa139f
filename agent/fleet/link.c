/* link.c - the https transport seen through a simulated device's link (fleet_int.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/fleet/fleet_int.h"
#include "common/error.h"
#include "common/rng.h"

#define LOST_ANSWER_P 0.02 /* share of a flapping link's accepted batches whose answer is lost */

struct link_ctx {
    struct fl_dev *dev;
    const struct ag_kv *conf; /* the shipper's, alive as long as it */
    size_t nconf;
    void *inner; /* the https context; NULL after a failed reconnect */
    struct hc_rng rng;
};

struct ag_transport fl__link;
_Thread_local struct fl_dev *fl__link_device;

static int link_open(const struct ag_kv *conf, size_t n, void **ctx, char *err, size_t errlen)
{
    struct link_ctx *c = calloc(1, sizeof *c);
    int rc;
    *ctx = NULL;
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rc = ag_transport_https.init(conf, n, &c->inner, err, errlen);
    if (rc) {
        free(c);
        return rc;
    }
    c->dev = fl__link_device;
    c->conf = conf;
    c->nconf = n;
    hc_rng_seed(&c->rng, c->dev ? c->dev->plan.seed : 1);
    *ctx = c;
    return 0;
}

static void link_close(void *ctx)
{
    struct link_ctx *c = ctx;
    if (!c)
        return;
    ag_transport_https.close(c->inner);
    free(c);
}

/* A fresh https context (a new connection at the next send), as after a real link loss. */
static int reconnect(struct link_ctx *c, struct ag_send_status *st)
{
    ag_transport_https.close(c->inner);
    c->inner = NULL;
    if (ag_transport_https.init(c->conf, c->nconf, &c->inner, st->error, sizeof st->error)) {
        st->result = AG_SEND_RETRY;
        st->why = AG_WHY_INTERNAL;
        st->http_status = 0;
        st->retry_after_ms = -1;
        return -1;
    }
    return 0;
}

static enum ag_send_result link_send(void *ctx, const char *body, size_t len,
                                     struct ag_send_status *st)
{
    struct link_ctx *c = ctx;
    if ((c->dev && c->dev->drop_conn) || !c->inner) {
        if (c->dev)
            c->dev->drop_conn = 0;
        if (reconnect(c, st))
            return st->result;
    }
    ag_transport_https.send(c->inner, body, len, st);
    if (st->result == AG_SEND_OK && c->dev && c->dev->plan.flaps &&
        hc_rng_chance(&c->rng, LOST_ANSWER_P)) {
        st->result = AG_SEND_RETRY;
        st->why = AG_WHY_NETWORK;
        st->http_status = 0;
        st->retry_after_ms = -1;
        snprintf(st->error, sizeof st->error,
                 "simulated: the hub's answer was lost on a flapping link (sent again)");
        c->dev->drop_conn = 1;
    }
    return st->result;
}

static int link_renew(void *ctx)
{
    struct link_ctx *c = ctx;
    if (!c->inner || !ag_transport_https.renew_auth)
        return HC_E_AUTH;
    return ag_transport_https.renew_auth(c->inner);
}

static void link_limits(void *ctx, struct ag_transport_limits *lim)
{
    struct link_ctx *c = ctx;
    ag_transport_https.limits(c->inner, lim);
}

void fl__link_init(void)
{
    fl__link = ag_transport_https;
    fl__link.name = "fleet-link";
    fl__link.init = link_open;
    fl__link.send = link_send;
    fl__link.close = link_close;
    fl__link.renew_auth = link_renew;
    fl__link.limits = link_limits;
}
