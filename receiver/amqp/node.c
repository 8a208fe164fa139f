/*
 * node.c - the $cbs and $management nodes: a request (request.h) is settled `accepted` first
 * (uAMQP fails a request whose send was not confirmed), then answered on the client's reply
 * link with correlation-id = the request's message-id in its own AMQP type and status-code an
 * AMQP int, as AMQP.md says every client needs.
 */
#include <errno.h>
#include <proton/codec.h>
#include <proton/delivery.h>
#include <proton/link.h>
#include <proton/message.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hctime.h"
#include "common/log.h"
#include "receiver/amqp/address.h"
#include "receiver/amqp/amqp_int.h"
#include "receiver/amqp/request.h"
#include "receiver/core/sas_rules.h"
#include "receiver/log/log.h"

/* What a reply's body holds: a management answer, or nothing. */
struct body {
    struct rx_amqp_conn *c;
    int hub, partition; /* partition -1: the event hub */
};

static void put_str(pn_data_t *d, const char *s)
{
    pn_data_put_string(d, pn_bytes(strlen(s), s));
}

static pn_atom_t correlation(const struct rx_amqp_val *id)
{
    pn_atom_t a = {.type = PN_NULL};
    switch (id->kind) {
    case RX_AK_UINT:
        if (id->code == 0x70 || id->code == 0x52 || id->code == 0x43) {
            a.type = PN_UINT;
            a.u.as_uint = (uint32_t)id->u;
        } else {
            a.type = PN_ULONG;
            a.u.as_ulong = id->u;
        }
        break;
    case RX_AK_UUID:
        a.type = PN_UUID;
        memcpy(a.u.as_uuid.bytes, id->bytes, 16);
        break;
    case RX_AK_BINARY:
    case RX_AK_STRING:
        a.type = id->kind == RX_AK_BINARY ? PN_BINARY : PN_STRING;
        a.u.as_bytes = pn_bytes(id->len, (const char *)id->bytes);
        break;
    default:
        break;
    }
    return a;
}

static void body_eventhub(pn_data_t *d, const struct body *b)
{
    struct rx_amqp *a = b->c->l->a;
    int n = rx_core_partitions(a->core, b->hub);
    char id[16];
    pn_data_put_map(d);
    pn_data_enter(d);
    put_str(d, "name");
    put_str(d, a->c->hubs[b->hub].name);
    put_str(d, "type");
    put_str(d, "com.microsoft:eventhub");
    put_str(d, "created_at");
    pn_data_put_timestamp(d, a->m->started_ms);
    put_str(d, "partition_count");
    pn_data_put_int(d, n);
    put_str(d, "partition_ids");
    pn_data_put_array(d, false, PN_STRING);
    pn_data_enter(d);
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "%d", i);
        put_str(d, id);
    }
    pn_data_exit(d);
    pn_data_exit(d);
}

static void body_partition(pn_data_t *d, const struct body *b)
{
    struct rx_amqp *a = b->c->l->a;
    struct rx_partition *p = rx_core_partition(a->core, b->hub, b->partition);
    struct rx_log *log = rx_core_log(a->core, b->hub, b->partition);
    int64_t next = rx_partition_next_seq(p), begin = 0, last = next - 1, off, enq;
    int empty = next == 0;
    char text[32];
    rx_partition_last(p, &off, &enq); /* what this process made durable */
    if (log) { /* the log's, read back from disk at start: right after a restart too */
        struct rx_log_info li;
        rx_log_info(log, &li);
        begin = li.begin_seq;
        empty = li.begin_seq >= li.end_seq;
        if (li.last_seq >= last) {
            last = li.last_seq;
            off = li.last_offset;
            enq = li.last_enq_ms;
        }
    }
    pn_data_put_map(d);
    pn_data_enter(d);
    put_str(d, "name");
    put_str(d, a->c->hubs[b->hub].name);
    put_str(d, "type");
    put_str(d, "com.microsoft:partition");
    put_str(d, "partition");
    snprintf(text, sizeof text, "%d", b->partition);
    put_str(d, text);
    put_str(d, "begin_sequence_number");
    pn_data_put_long(d, begin);
    put_str(d, "last_enqueued_sequence_number");
    pn_data_put_long(d, last);
    put_str(d, "last_enqueued_offset");
    snprintf(text, sizeof text, "%lld", (long long)off);
    put_str(d, text);
    put_str(d, "last_enqueued_time_utc");
    pn_data_put_timestamp(d, enq);
    put_str(d, "is_partition_empty");
    pn_data_put_bool(d, empty);
    pn_data_exit(d);
}

/* Encode m and send it pre-settled on l. Returns 0 or -ENOMEM. */
static int send_message(struct rx_amqp_conn *c, pn_link_t *l, pn_message_t *m)
{
    size_t cap = 4096;
    char *buf = NULL;
    for (;;) {
        char *nb = realloc(buf, cap);
        size_t got = cap;
        int rc;
        if (!nb) {
            free(buf);
            return -ENOMEM;
        }
        buf = nb;
        rc = pn_message_encode(m, buf, &got);
        if (rc == PN_OVERFLOW && cap < (1u << 20)) {
            cap *= 2;
            continue;
        }
        if (!rc) {
            uint64_t tag = ++c->tag;
            pn_delivery_t *dl = pn_delivery(l, pn_dtag((const char *)&tag, sizeof tag));
            pn_link_send(l, buf, got);
            pn_link_advance(l);
            pn_delivery_settle(dl);
        }
        free(buf);
        return rc ? -ENOMEM : 0;
    }
}

/* Answer request r (on link req) with status and desc (and b's body when not NULL). */
static void reply(struct rx_amqp_conn *c, pn_link_t *req, const struct rx_amqp_request *r, int mgmt,
                  int status, const char *desc, const struct body *b)
{
    pn_link_t *out = rx_amqp__conn_reply_link(c, req, r->reply_to.s, r->reply_to.len, mgmt);
    pn_message_t *m;
    pn_data_t *ap;
    if (!out) {
        hc_debug("amqp: a %s request with no link to reply on", mgmt ? "$management" : "$cbs");
        return;
    }
    if (!(m = pn_message()))
        return;
    pn_message_set_correlation_id(m, correlation(&r->message_id));
    if (r->reply_to.s) {
        char to[512];
        snprintf(to, sizeof to, "%.*s", (int)r->reply_to.len, r->reply_to.s);
        pn_message_set_address(m, to);
    }
    ap = pn_message_properties(m);
    pn_data_put_map(ap);
    pn_data_enter(ap);
    put_str(ap, "status-code");
    pn_data_put_int(ap, status);
    put_str(ap, "status-description");
    put_str(ap, desc);
    pn_data_exit(ap);
    if (b && b->partition < 0)
        body_eventhub(pn_message_body(m), b);
    else if (b)
        body_partition(pn_message_body(m), b);
    if (send_message(c, out, m))
        hc_warn("amqp: out of memory for a %s reply", mgmt ? "$management" : "$cbs");
    pn_message_free(m);
}

/* "{scheme}://{host}/{path}" for audience a (its host, else the connection's). */
static int resource(struct rx_amqp_conn *c, const struct rx_amqp_addr *a, char *out, size_t cap)
{
    char host[256], path[1024];
    snprintf(host, sizeof host, "%.*s", a->host ? (int)a->host_len : 0, a->host ? a->host : "");
    snprintf(path, sizeof path, "%s%.*s", a->path_len && a->path[0] == '/' ? "" : "/",
             (int)a->path_len, a->path);
    return rx_sas_resource(c->l->a->c, "sb", host[0] ? host : c->host, path, out, cap);
}

/* Check token for a (hub, or every hub for a namespace audience). 0 with *expiry, or 401. */
static int verify(struct rx_amqp_conn *c, const struct rx_amqp_addr *a, int hub, const char *token,
                  int64_t *expiry, const char **why)
{
    const struct rx_conf *cf = c->l->a->c;
    unsigned right = a->node == RX_AN_CONSUMER ? RX_RIGHT_LISTEN
                     : a->node == RX_AN_HUB    ? RX_RIGHT_SEND
                                               : RX_RIGHT_SEND | RX_RIGHT_LISTEN;
    struct hc_sas_claims claims;
    char res[1200];
    int64_t now = hc_now_ms() / 1000;
    *why = "the audience is too long";
    if (resource(c, a, res, sizeof res) < 0)
        return 401;
    for (int h = hub < 0 ? 0 : hub; h < (hub < 0 ? cf->nhubs : hub + 1); h++)
        for (unsigned r = RX_RIGHT_SEND; r <= RX_RIGHT_LISTEN; r <<= 1)
            if ((right & r) && !rx_sas_check(cf, h, token, res, r, now, &claims, why)) {
                *expiry = claims.expiry_s;
                return 0;
            }
    return 401;
}

/* The hub (and partition) an audience names: 0, or 404 with desc. */
static int audience_hub(struct rx_amqp_conn *c, const struct rx_amqp_addr *a, int *hub, char *desc,
                        size_t cap)
{
    struct rx_amqp *fe = c->l->a;
    *hub = -1;
    if (!a->hub)
        return 0;
    *hub = rx_core_hub(fe->core, a->hub, a->hub_len);
    if (*hub < 0 || a->partition >= rx_core_partitions(fe->core, *hub)) {
        snprintf(desc, cap, "no event hub %.*s%s in namespace %s", (int)a->hub_len, a->hub,
                 *hub < 0 ? "" : " partition", fe->c->ns);
        return 404;
    }
    return 0;
}

static void put_token(struct rx_amqp_conn *c, pn_link_t *l, const struct rx_amqp_request *r)
{
    struct rx_amqp *fe = c->l->a;
    struct rx_amqp_addr a;
    char desc[512], token[4096];
    const char *why = NULL;
    int64_t expiry = 0;
    int hub, status;
    if (!rx_amqp_str_is(&r->operation, "put-token") || !r->name.s || !r->token.s ||
        r->token.len >= sizeof token || rx_amqp_addr_parse(r->name.s, r->name.len, &a)) {
        rx_amqp__count(fe, RX_AC_CBS_400);
        reply(c, l, r, 0, 400, "put-token needs name (an audience) and a string token", NULL);
        return;
    }
    if ((status = audience_hub(c, &a, &hub, desc, sizeof desc))) {
        rx_amqp__count(fe, RX_AC_CBS_404);
        reply(c, l, r, 0, status, desc, NULL);
        return;
    }
    snprintf(token, sizeof token, "%.*s", (int)r->token.len, r->token.s);
    if (verify(c, &a, hub, token, &expiry, &why)) {
        rx_amqp__count(fe, RX_AC_CBS_401);
        reply(c, l, r, 0, 401, why ? why : "the token was refused", NULL);
        return;
    }
    if (rx_amqp__conn_put_token(c, r->name.s, r->name.len, token, strlen(token), expiry)) {
        reply(c, l, r, 0, 500, "out of memory", NULL);
        return;
    }
    /* a renewal: the links it covers live on */
    for (struct rx_amqp_link *lk = c->links; lk; lk = lk->next)
        if (lk->kind == RX_LK_EVENTS) {
            int64_t e = rx_amqp__conn_authorized(c, lk->hub, lk->partition, RX_RIGHT_SEND);
            if (e > lk->expiry_s)
                lk->expiry_s = e;
        }
    rx_amqp__count(fe, RX_AC_CBS_200);
    reply(c, l, r, 0, 200, "OK", NULL);
}

/* May the request read hub? Its security_token, else a put-token of the connection. */
static int mgmt_authorized(struct rx_amqp_conn *c, const struct rx_amqp_request *r, int hub)
{
    const struct rx_conf *cf = c->l->a->c;
    if (r->security_token.s && r->security_token.len < 4096) {
        char token[4096], path[RX_NAME_MAX + 2], res[1200];
        struct hc_sas_claims claims;
        const char *why;
        int64_t now = hc_now_ms() / 1000;
        snprintf(token, sizeof token, "%.*s", (int)r->security_token.len, r->security_token.s);
        snprintf(path, sizeof path, "/%s", cf->hubs[hub].name);
        if (rx_sas_resource(cf, "sb", c->host, path, res, sizeof res) >= 0 &&
            (!rx_sas_check(cf, hub, token, res, RX_RIGHT_SEND, now, &claims, &why) ||
             !rx_sas_check(cf, hub, token, res, RX_RIGHT_LISTEN, now, &claims, &why)))
            return 1;
    }
    return rx_amqp__conn_authorized(c, hub, -1, RX_RIGHT_SEND | RX_RIGHT_LISTEN) > 0;
}

static void mgmt_status(struct rx_amqp *fe, struct rx_amqp_conn *c, pn_link_t *l,
                        const struct rx_amqp_request *r, int status, const char *desc)
{
    rx_amqp__count(fe, status == 404   ? RX_AC_MGMT_404
                       : status == 401 ? RX_AC_MGMT_401
                                       : RX_AC_MGMT_400);
    reply(c, l, r, 1, status, desc, NULL);
}

static void management(struct rx_amqp_conn *c, pn_link_t *l, const struct rx_amqp_request *r)
{
    struct rx_amqp *fe = c->l->a;
    struct body b = {.c = c, .partition = -1};
    char desc[512];
    int part = rx_amqp_str_is(&r->type, "com.microsoft:partition");
    if (!rx_amqp_str_is(&r->operation, "READ") || !r->name.s ||
        (!part && !rx_amqp_str_is(&r->type, "com.microsoft:eventhub"))) {
        mgmt_status(fe, c, l, r, 400,
                    "operation READ of type com.microsoft:eventhub or com.microsoft:partition");
        return;
    }
    if ((b.hub = rx_core_hub(fe->core, r->name.s, r->name.len)) < 0) {
        snprintf(desc, sizeof desc, "no event hub %.*s in namespace %s", (int)r->name.len,
                 r->name.s, fe->c->ns);
        mgmt_status(fe, c, l, r, 404, desc);
        return;
    }
    if (!mgmt_authorized(c, r, b.hub)) {
        mgmt_status(fe, c, l, r, 401,
                    "no valid token for the event hub (security_token or put-token)");
        return;
    }
    if (part) {
        char id[8] = "";
        char *end;
        long v = -1;
        if (r->partition.s && r->partition.len < sizeof id) {
            memcpy(id, r->partition.s, r->partition.len);
            id[r->partition.len] = '\0';
            v = strtol(id, &end, 10);
            if (!id[0] || *end)
                v = -1;
        }
        if (v < 0 || v >= rx_core_partitions(fe->core, b.hub)) {
            mgmt_status(fe, c, l, r, 404, "no such partition");
            return;
        }
        b.partition = (int)v;
    }
    rx_amqp__count(fe, RX_AC_MGMT_200);
    reply(c, l, r, 1, 200, "OK", &b);
}

void rx_amqp__node_request(struct rx_amqp_conn *c, pn_link_t *l, pn_delivery_t *dl,
                           const struct hc_buf *raw, int mgmt)
{
    struct rx_amqp_request r;
    const char *why = "an empty request";
    if (!raw->len || rx_amqp_request_parse((const uint8_t *)raw->p, raw->len, &r, &why)) {
        rx_amqp__count(c->l->a, mgmt ? RX_AC_MGMT_400 : RX_AC_CBS_400);
        rx_amqp__reject(dl, "amqp:decode-error", why);
        return;
    }
    pn_delivery_update(dl, PN_ACCEPTED);
    pn_delivery_settle(dl);
    if (mgmt)
        management(c, l, &r);
    else
        put_token(c, l, &r);
}
