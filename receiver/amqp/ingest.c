/*
 * ingest.c - a producer's delivery to the core and its disposition back: decoded (message.h),
 * charged against max_inflight, submitted; settled `accepted` on the connection's loop once the
 * core says its events are on disk, or rejected with the condition a client acts on.
 */
#include <errno.h>
#include <proton/condition.h>
#include <proton/delivery.h>
#include <proton/disposition.h>
#include <proton/connection.h>
#include <proton/link.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "receiver/amqp/amqp_int.h"

static const char busy[] = "the receiver holds too many bytes in flight; retry";

void rx_amqp__reject(pn_delivery_t *dl, const char *condition, const char *desc)
{
    pn_condition_t *c = pn_disposition_condition(pn_delivery_local(dl));
    pn_condition_set_name(c, condition);
    pn_condition_set_description(c, desc);
    pn_delivery_update(dl, PN_REJECTED);
    pn_delivery_settle(dl);
}

void rx_amqp__dlv_free(struct rx_amqp *a, struct rx_amqp_dlv *d)
{
    if (!d)
        return;
    rx_send_release(&d->send);
    rx_amqp_events_free(&d->ev);
    hc_buf_free(&d->raw);
    if (d->charged)
        rx_core_uncharge(a->core, d->charged);
    free(d);
}

/* Reject dl, counting it, and give the link its credit back. */
static void refuse(struct rx_amqp *a, pn_delivery_t *dl, const char *cond, const char *desc,
                   enum rx_amqp_ctr k)
{
    pn_link_t *l = pn_delivery_link(dl);
    rx_amqp__reject(dl, cond, desc);
    rx_amqp__count(a, k);
    if (pn_link_state(l) & PN_LOCAL_ACTIVE)
        pn_link_flow(l, 1);
}

/* Decode and charge d; 0, or the delivery was refused. */
static int prepare(struct rx_amqp *a, struct rx_amqp_dlv *d, pn_delivery_t *dl)
{
    const char *why = NULL;
    int rc;
    int64_t bytes = (int64_t)d->raw.cap;
    if (rx_core_charge(a->core, bytes)) {
        refuse(a, dl, "com.microsoft:server-busy", busy, RX_AC_DLV_BUSY);
        return -1;
    }
    d->charged = bytes;
    rx_amqp_events_init(&d->ev);
    rc = rx_amqp_events_decode(&d->ev, (const uint8_t *)d->raw.p, d->raw.len, &why);
    if (rc == -ENOMEM) {
        refuse(a, dl, "com.microsoft:server-busy", "out of memory; retry", RX_AC_DLV_BUSY);
        return -1;
    }
    if (rc) {
        refuse(a, dl, "amqp:decode-error", why ? why : "a malformed message", RX_AC_DLV_DECODE);
        return -1;
    }
    bytes = (int64_t)rx_amqp_events_bytes(&d->ev);
    if (rx_core_charge(a->core, bytes)) {
        refuse(a, dl, "com.microsoft:server-busy", busy, RX_AC_DLV_BUSY);
        return -1;
    }
    d->charged += bytes;
    return 0;
}

void rx_amqp__ingest(struct rx_amqp_conn *c, pn_delivery_t *dl, struct hc_buf *raw, int hub,
                     int partition, int too_big)
{
    struct rx_amqp *a = c->l->a;
    struct rx_amqp_dlv *d;
    if (too_big) {
        refuse(a, dl, "amqp:link:message-size-exceeded",
               "the message is over max-message-size (max_publication)", RX_AC_DLV_TOOBIG);
        return;
    }
    if (atomic_load(&a->stopping)) {
        refuse(a, dl, "com.microsoft:server-busy", "the receiver is stopping; retry",
               RX_AC_DLV_BUSY);
        return;
    }
    if (!(d = calloc(1, sizeof *d))) {
        refuse(a, dl, "com.microsoft:server-busy", "out of memory; retry", RX_AC_DLV_BUSY);
        return;
    }
    d->raw = *raw; /* the bytes are the delivery's now */
    memset(raw, 0, sizeof *raw);
    if (prepare(a, d, dl)) {
        rx_amqp__dlv_free(a, d);
        return;
    }
    d->dl = dl;
    d->send = (struct rx_send){.hub = hub,
                               .partition = partition,
                               .ev = d->ev.ev,
                               .n = d->ev.n,
                               .done = rx_amqp__done,
                               .ctx = d};
    rx_amqp__conn_pend(c, d);
    if (rx_core_submit(a->core, &d->send)) {
        rx_amqp__conn_unpend(c, d, 0);
        d->dl = NULL;
        refuse(a, dl, "com.microsoft:server-busy", "the events could not be queued; retry",
               RX_AC_DLV_BUSY);
        rx_amqp__dlv_free(a, d);
    }
}

void rx_amqp__settle(struct rx_amqp_dlv *d)
{
    struct rx_amqp_conn *c = d->conn;
    struct rx_amqp *a = c->l->a;
    pn_delivery_t *dl = d->dl;
    if (!dl) {
        rx_amqp__count(a, RX_AC_DLV_LOST);
    } else if (d->status) {
        refuse(a, dl, "com.microsoft:server-busy", "the events could not be written to disk; retry",
               RX_AC_DLV_BUSY);
    } else {
        pn_link_t *l = pn_delivery_link(dl);
        pn_delivery_update(dl, PN_ACCEPTED);
        pn_delivery_settle(dl);
        rx_amqp__count(a, RX_AC_DLV_ACCEPTED);
        atomic_fetch_add_explicit(&a->ctr[RX_AC_EVENTS], d->ev.n, memory_order_relaxed);
        if (pn_link_state(l) & PN_LOCAL_ACTIVE)
            pn_link_flow(l, 1);
    }
    c->dirty = !c->gone;
    rx_amqp__conn_unpend(c, d, 0);
    rx_amqp__dlv_free(a, d);
}
