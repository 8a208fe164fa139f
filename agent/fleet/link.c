/*
 * link.c - a simulated device's link as a decorator over any transport (fleet_int.h): the
 * inner transport does the work; the link drops the connection when the device's link went
 * down, and on a flapping link reports some stored sends as lost. No globals: the inner
 * transport and the device come in the shipper's tp_arg.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/fleet/fleet_int.h"
#include "common/error.h"
#include "common/rng.h"

#define LOST_ANSWER_P 0.02 /* share of a flapping link's stored sends whose answer is lost */

struct link_ctx {
    const struct ag_transport *tp; /* the inner transport */
    void *inner;                   /* its context; NULL after a failed reconnect */
    struct fl_dev *dev;
    const struct ag_kv *conf; /* the shipper's, alive as long as it */
    size_t nconf;
    struct hc_rng rng;
};

static int link_open(const struct ag_kv *conf, size_t n, void *arg, void **ctx, char *err,
                     size_t errlen)
{
    const struct fl_link_arg *a = arg;
    struct link_ctx *c;
    int rc;
    *ctx = NULL;
    if (!a || !a->inner) {
        snprintf(err, errlen, "the link needs an inner transport");
        return HC_E_INVAL;
    }
    if (!(c = calloc(1, sizeof *c))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rc = a->inner->init(conf, n, NULL, &c->inner, err, errlen);
    if (rc) {
        free(c);
        return rc;
    }
    c->tp = a->inner;
    c->dev = a->dev;
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
    c->tp->close(c->inner);
    free(c);
}

/* A fresh inner context (a new connection at the next send), as after a real link loss. */
static int reconnect(struct link_ctx *c, struct ag_send_status *st)
{
    c->tp->close(c->inner);
    c->inner = NULL;
    if (c->tp->init(c->conf, c->nconf, NULL, &c->inner, st->error, sizeof st->error)) {
        st->result = AG_SEND_RETRY;
        st->why = AG_WHY_INTERNAL;
        return -1;
    }
    return 0;
}

static enum ag_send_result link_send(void *ctx, const struct ag_record *const *recs, size_t n,
                                     struct ag_send_status *st)
{
    struct link_ctx *c = ctx;
    ag_send_status_reset(st);
    if ((c->dev && c->dev->drop_conn) || !c->inner) {
        if (c->dev)
            c->dev->drop_conn = 0;
        if (reconnect(c, st))
            return st->result;
    }
    c->tp->send(c->inner, recs, n, st);
    if (st->acked && c->dev && c->dev->plan.flaps && hc_rng_chance(&c->rng, LOST_ANSWER_P)) {
        ag_send_status_reset(st);
        st->why = AG_WHY_NETWORK;
        snprintf(st->error, sizeof st->error,
                 "simulated: the hub's answer was lost on a flapping link (sent again)");
        c->dev->drop_conn = 1;
    }
    return st->result;
}

static int link_format(void *ctx, const struct ag_record *const *recs, size_t n, struct hc_buf *out)
{
    struct link_ctx *c = ctx;
    return c->tp->format(c->inner, recs, n, out);
}

static size_t link_record_size(void *ctx, const struct ag_record *rec)
{
    struct link_ctx *c = ctx;
    return c->tp->record_size(c->inner, rec);
}

static int link_renew(void *ctx)
{
    struct link_ctx *c = ctx;
    if (!c->inner || !c->tp->renew_auth)
        return HC_E_AUTH;
    return c->tp->renew_auth(c->inner);
}

static void link_limits(void *ctx, struct ag_transport_limits *lim)
{
    struct link_ctx *c = ctx;
    c->tp->limits(c->inner, lim);
}

static void link_idle(void *ctx)
{
    struct link_ctx *c = ctx;
    if (c->inner && c->tp->idle)
        c->tp->idle(c->inner);
}

static void link_counters(void *ctx, struct ag_transport_counters *out)
{
    struct link_ctx *c = ctx;
    memset(out, 0, sizeof *out);
    if (c->inner && c->tp->counters)
        c->tp->counters(c->inner, out);
}

const struct ag_transport fl_link = {
    .name = "fleet-link",
    .init = link_open,
    .send = link_send,
    .close = link_close,
    .format = link_format,
    .record_size = link_record_size,
    .renew_auth = link_renew,
    .limits = link_limits,
    .idle = link_idle,
    .counters = link_counters,
};
