/*
 * conn.c - one AMQP connection on its loop: the socket, proton's connection driver, the links
 * (what each one is for, from its address), the CBS tokens it holds and the timers.
 */
#include <errno.h>
#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/delivery.h>
#include <proton/link.h>
#include <proton/session.h>
#include <proton/terminus.h>
#include <proton/transport.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hctime.h"
#include "common/log.h"
#include "receiver/amqp/address.h"
#include "receiver/amqp/amqp_int.h"
#include "receiver/amqp/sasl.h"
#include "receiver/core/sas_rules.h"

#define RX_AMQP_REQUEST_MAX (64u * 1024) /* a CBS or management request */
#define RX_AMQP_NODE_CREDIT 16

/* ---- Set-up and teardown -------------------------------------------------------------------- */

static void arm(struct rx_amqp_conn *c, uint32_t want)
{
    struct epoll_event ev = {.events = want, .data.ptr = c};
    if (want == c->armed)
        return;
    if (epoll_ctl(c->l->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->armed = want;
}

static struct rx_amqp_conn *conn_make(struct rx_amqp_loop *l, int fd, int tls, int refusing)
{
    struct rx_amqp *a = l->a;
    struct rx_amqp_conn *c = calloc(1, sizeof *c);
    pn_transport_t *t;
    struct epoll_event ev = {.events = EPOLLIN};
    if (!c || !(t = pn_transport()))
        goto out_free;
    c->fdh.kind = RX_FD_CONN;
    c->l = l;
    c->fd = fd;
    c->tls = tls;
    pn_transport_set_server(t);
    pn_transport_set_max_frame(t, a->c->amqp.max_frame);
    pn_transport_set_idle_timeout(t, (pn_millis_t)a->c->amqp.idle_timeout_ms);
    rx_amqp_sasl_setup(t);
    if (tls && (!(c->ssl = SSL_new(a->ssl)) || SSL_set_fd(c->ssl, fd) != 1)) {
        pn_transport_free(t);
        goto out_free;
    }
    if (c->ssl)
        SSL_set_accept_state(c->ssl);
    if (pn_connection_driver_init(&c->d, NULL, t)) {
        pn_transport_free(t);
        goto out_free;
    }
    ev.data.ptr = c;
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev)) {
        pn_connection_driver_destroy(&c->d);
        goto out_free;
    }
    c->armed = EPOLLIN;
    rx_amqp_wire_in_init(&c->win, a->c->amqp.max_frame);
    c->win.on_attach = rx_amqp__consumer_attach_seen;
    c->win.on_attach_ctx = c;
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    if (refusing) {
        pn_condition_t *cond = pn_connection_condition(c->d.connection);
        char desc[128];
        snprintf(desc, sizeof desc,
                 "the receiver serves at most %d AMQP connections ([amqp] connection_limit)",
                 a->c->amqp.connection_limit);
        pn_condition_set_name(cond, atomic_load(&a->stopping) ? "amqp:connection:forced"
                                                              : "amqp:resource-limit-exceeded");
        pn_condition_set_description(cond,
                                     atomic_load(&a->stopping) ? "the receiver is stopping" : desc);
        c->refusing = 1; /* the open and close go out when the client's open came (on_event) */
        c->stopping = 1;
        c->refuse_until_ms = hc_now_ms() + RX_AMQP_REFUSE_MS;
        atomic_fetch_add(&a->nrefusing, 1);
        return c;
    }
    atomic_fetch_add(&a->nconns, 1);
    rx_amqp__count(a, RX_AC_CONN_ACCEPTED);
    return c;
out_free:
    if (c && c->ssl)
        SSL_free(c->ssl);
    free(c);
    return NULL;
}

struct rx_amqp_conn *rx_amqp__conn_new(struct rx_amqp_loop *l, int fd, int tls)
{
    return conn_make(l, fd, tls, 0);
}

void rx_amqp__conn_refuse(struct rx_amqp_loop *l, int fd, int tls)
{
    rx_amqp__count(l->a, RX_AC_CONN_LIMIT);
    if (atomic_load(&l->a->nrefusing) >= RX_AMQP_REFUSING || !conn_make(l, fd, tls, 1))
        close(fd);
}

static void links_free(struct rx_amqp_conn *c)
{
    while (c->links) {
        struct rx_amqp_link *lk = c->links;
        c->links = lk->next;
        if (lk->kind == RX_LK_EVENTS)
            atomic_fetch_sub(&c->l->a->nlinks, 1);
        rx_amqp__consumer_close(lk);
        hc_buf_free(&lk->buf);
        free(lk);
    }
    while (c->tokens) {
        struct rx_amqp_token *tk = c->tokens;
        c->tokens = tk->next;
        free(tk->name);
        free(tk->token);
        free(tk);
    }
}

/* The connection is over: close the socket, free proton; c itself waits for its deliveries. */
static void conn_end(struct rx_amqp_conn *c)
{
    struct rx_amqp_loop *l = c->l;
    if (c->gone)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->ssl) {
        if (!c->eof)
            SSL_shutdown(c->ssl); /* our close_notify, if the socket takes it; no waiting */
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    close(c->fd);
    c->fd = -1;
    for (struct rx_amqp_dlv *d = c->pending; d; d = d->cnext)
        d->dl = NULL; /* freed with the connection below: no disposition can go any more */
    pn_connection_driver_destroy(&c->d);
    links_free(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->gone = 1;
    rx_amqp_wire_in_free(&c->win);
    rx_amqp_wire_out_free(&c->wout);
    hc_buf_free(&c->rt_links);
    hc_buf_free(&c->ob);
    atomic_fetch_sub(c->refusing ? &l->a->nrefusing : &l->a->nconns, 1);
    if (!c->npending) {
        c->next = l->grave;
        l->grave = c;
    }
}

void rx_amqp__conn_bury(struct rx_amqp_loop *l)
{
    while (l->grave) {
        struct rx_amqp_conn *c = l->grave;
        l->grave = c->next;
        free(c);
    }
}

int rx_amqp__conn_backed_up(const struct rx_amqp_conn *c)
{
    return c->ob_off < c->ob.len;
}

void rx_amqp__conn_pend(struct rx_amqp_conn *c, struct rx_amqp_dlv *d)
{
    d->conn = c;
    d->cprev = NULL;
    d->cnext = c->pending;
    if (c->pending)
        c->pending->cprev = d;
    c->pending = d;
    c->npending++;
    atomic_fetch_add(&c->l->a->pending, 1);
}

void rx_amqp__conn_unpend(struct rx_amqp_conn *c, struct rx_amqp_dlv *d, int inline_free)
{
    if (d->cprev)
        d->cprev->cnext = d->cnext;
    else
        c->pending = d->cnext;
    if (d->cnext)
        d->cnext->cprev = d->cprev;
    c->npending--;
    atomic_fetch_sub(&c->l->a->pending, 1);
    if (c->gone && !c->npending) {
        if (inline_free) {
            free(c);
        } else {
            c->next = c->l->grave;
            c->l->grave = c;
        }
    }
}

void rx_amqp__conn_abandon(struct rx_amqp_conn *c)
{
    conn_end(c);
}

/* ---- Tokens --------------------------------------------------------------------------------- */

int rx_amqp__conn_put_token(struct rx_amqp_conn *c, const char *name, size_t name_len,
                            const char *token, size_t token_len, int64_t expiry_s)
{
    struct rx_amqp_token *tk;
    for (tk = c->tokens; tk; tk = tk->next)
        if (tk->name_len == name_len && !strncasecmp(tk->name, name, name_len))
            break;
    if (!tk) {
        if (!(tk = calloc(1, sizeof *tk)) || !(tk->name = strndup(name, name_len))) {
            free(tk);
            return -ENOMEM;
        }
        tk->name_len = name_len;
        tk->next = c->tokens;
        c->tokens = tk;
    }
    free(tk->token);
    if (!(tk->token = strndup(token, token_len))) {
        tk->token_len = 0;
        tk->expiry_s = 0;
        return -ENOMEM;
    }
    tk->token_len = token_len;
    tk->expiry_s = expiry_s;
    return 0;
}

/* Does the audience a cover hub (partition)? */
static int covers(const struct rx_amqp_conn *c, const struct rx_amqp_addr *a, int hub,
                  int partition)
{
    const struct rx_conf *cf = c->l->a->c;
    if (a->node == RX_AN_NAMESPACE)
        return 1;
    if (!a->hub || rx_conf_hub_index(cf, a->hub, a->hub_len) != hub)
        return 0;
    return a->node == RX_AN_MANAGEMENT || a->partition < 0 || a->partition == partition;
}

static int64_t token_check(struct rx_amqp_conn *c, const struct rx_amqp_token *tk, int hub,
                           int partition, unsigned right)
{
    const struct rx_conf *cf = c->l->a->c;
    struct rx_amqp_addr a;
    struct hc_sas_claims claims;
    char host[256], path[RX_NAME_MAX + 32], res[1024];
    const char *why;
    int64_t now = hc_now_ms() / 1000;
    if (rx_amqp_addr_parse(tk->name, tk->name_len, &a) || !covers(c, &a, hub, partition))
        return 0;
    snprintf(host, sizeof host, "%.*s", a.host ? (int)a.host_len : 0, a.host ? a.host : "");
    if (a.node == RX_AN_CONSUMER && a.path && a.path_len < sizeof path - 1)
        snprintf(path, sizeof path, "%s%.*s", a.path[0] == '/' ? "" : "/", (int)a.path_len,
                 a.path); /* a consumer's token is signed for its own source */
    else if (partition >= 0)
        snprintf(path, sizeof path, "/%s/Partitions/%d", cf->hubs[hub].name, partition);
    else
        snprintf(path, sizeof path, "/%s", cf->hubs[hub].name);
    if (rx_sas_resource(cf, "sb", host[0] ? host : c->host, path, res, sizeof res) < 0)
        return 0;
    for (unsigned r = RX_RIGHT_SEND; r <= RX_RIGHT_LISTEN; r <<= 1)
        if ((right & r) && !rx_sas_check(cf, hub, tk->token, res, r, now, &claims, &why))
            return claims.expiry_s;
    return 0;
}

int64_t rx_amqp__conn_authorized(struct rx_amqp_conn *c, int hub, int partition, unsigned right)
{
    int64_t best = 0;
    for (const struct rx_amqp_token *tk = c->tokens; tk; tk = tk->next) {
        int64_t e = token_check(c, tk, hub, partition, right);
        if (e > best)
            best = e;
    }
    return best;
}

/* ---- Links ---------------------------------------------------------------------------------- */

static struct rx_amqp_link *link_of(pn_link_t *l)
{
    return pn_link_get_context(l);
}

/* Attach without a terminus and detach with condition: the way to refuse a link. */
static void link_refuse(struct rx_amqp_conn *c, struct rx_amqp_link *lk, const char *cond,
                        const char *desc, enum rx_amqp_ctr k)
{
    pn_condition_t *pc = pn_link_condition(lk->l);
    pn_condition_set_name(pc, cond);
    pn_condition_set_description(pc, desc);
    lk->kind = RX_LK_REFUSED;
    if (!(pn_link_state(lk->l) & PN_LOCAL_ACTIVE))
        pn_link_open(lk->l);
    pn_link_close(lk->l);
    rx_amqp__count(c->l->a, k);
}

void rx_amqp__link_refuse(struct rx_amqp_conn *c, struct rx_amqp_link *lk, const char *cond,
                          const char *desc, enum rx_amqp_ctr k)
{
    link_refuse(c, lk, cond, desc, k);
}

static void link_accept(struct rx_amqp_link *lk)
{
    pn_terminus_copy(pn_link_source(lk->l), pn_link_remote_source(lk->l));
    pn_terminus_copy(pn_link_target(lk->l), pn_link_remote_target(lk->l));
    pn_link_open(lk->l);
}

/* A producer's link to hub (partition). */
static void link_events(struct rx_amqp_conn *c, struct rx_amqp_link *lk,
                        const struct rx_amqp_addr *ad)
{
    struct rx_amqp *a = c->l->a;
    char desc[512];
    int hub = rx_core_hub(a->core, ad->hub, ad->hub_len);
    if (hub < 0 || ad->partition >= rx_core_partitions(a->core, hub)) {
        snprintf(desc, sizeof desc, "no event hub %.*s%s in namespace %s", (int)ad->hub_len,
                 ad->hub, hub < 0 ? "" : " partition (out of range)", a->c->ns);
        link_refuse(c, lk, "amqp:not-found", desc, RX_AC_LINK_NOTFOUND);
        return;
    }
    lk->hub = hub;
    lk->partition = ad->partition;
    lk->expiry_s = rx_amqp__conn_authorized(c, hub, ad->partition, RX_RIGHT_SEND);
    if (!lk->expiry_s) {
        snprintf(desc, sizeof desc,
                 "no valid CBS token with Send for %s: put-token on $cbs before attaching",
                 a->c->hubs[hub].name);
        link_refuse(c, lk, "amqp:unauthorized-access", desc, RX_AC_LINK_UNAUTH);
        return;
    }
    lk->kind = RX_LK_EVENTS;
    atomic_fetch_add(&a->nlinks, 1);
    pn_link_set_max_message_size(lk->l, a->c->max_publication);
    link_accept(lk);
    pn_link_flow(lk->l, RX_AMQP_CREDIT);
}

/* A link the client sends on: to $cbs, $management or a hub. */
static void link_incoming(struct rx_amqp_conn *c, struct rx_amqp_link *lk)
{
    const char *addr = pn_terminus_get_address(pn_link_remote_target(lk->l));
    struct rx_amqp_addr ad;
    if (!addr || rx_amqp_addr_parse(addr, strlen(addr), &ad) ||
        (ad.node != RX_AN_HUB && ad.node != RX_AN_CBS && ad.node != RX_AN_MANAGEMENT)) {
        link_refuse(c, lk, "amqp:not-found",
                    "send to an event hub (hub or hub/Partitions/N), $cbs or $management",
                    RX_AC_LINK_OTHER);
        return;
    }
    if (ad.node == RX_AN_HUB) {
        link_events(c, lk, &ad);
        return;
    }
    lk->kind = ad.node == RX_AN_CBS ? RX_LK_CBS : RX_LK_MGMT;
    link_accept(lk);
    pn_link_flow(lk->l, RX_AMQP_NODE_CREDIT);
}

/* A link the client receives on: replies of $cbs or $management; events are not served. */
static void link_outgoing(struct rx_amqp_conn *c, struct rx_amqp_link *lk)
{
    const char *addr = pn_terminus_get_address(pn_link_remote_source(lk->l));
    struct rx_amqp_addr ad;
    if (addr && !rx_amqp_addr_parse(addr, strlen(addr), &ad) &&
        (ad.node == RX_AN_CBS || ad.node == RX_AN_MANAGEMENT)) {
        lk->kind = RX_LK_REPLY;
        lk->node_mgmt = ad.node == RX_AN_MANAGEMENT;
        link_accept(lk);
        return;
    }
    if (addr && !rx_amqp_addr_parse(addr, strlen(addr), &ad) && ad.node == RX_AN_CONSUMER) {
        rx_amqp__consumer_open(c, lk, &ad);
        return;
    }
    link_refuse(c, lk, "amqp:not-found", "receive from $cbs or $management", RX_AC_LINK_OTHER);
}

static void link_open(struct rx_amqp_conn *c, pn_link_t *l)
{
    struct rx_amqp_link *lk;
    if (link_of(l))
        return;
    if (!(lk = calloc(1, sizeof *lk))) {
        pn_condition_set_name(pn_link_condition(l), "amqp:resource-limit-exceeded");
        pn_link_open(l);
        pn_link_close(l);
        return;
    }
    lk->l = l;
    lk->partition = -1;
    lk->kind = RX_LK_REFUSED;
    lk->next = c->links;
    c->links = lk;
    pn_link_set_context(l, lk);
    if (pn_link_is_receiver(l))
        link_incoming(c, lk);
    else
        link_outgoing(c, lk);
}

static void link_closed(struct rx_amqp_conn *c, pn_link_t *l)
{
    struct rx_amqp_link *lk = link_of(l);
    if (lk && lk->kind == RX_LK_EVENTS)
        atomic_fetch_sub(&c->l->a->nlinks, 1);
    if (lk) {
        lk->kind = RX_LK_REFUSED;
        rx_amqp__consumer_close(lk);
        hc_buf_free(&lk->buf);
    }
    if (pn_link_state(l) & PN_LOCAL_ACTIVE)
        pn_link_close(l);
}

pn_link_t *rx_amqp__conn_reply_link(struct rx_amqp_conn *c, pn_link_t *req, const char *reply_to,
                                    size_t reply_len, int mgmt)
{
    pn_link_t *same_session = NULL;
    for (struct rx_amqp_link *lk = c->links; lk; lk = lk->next) {
        const char *name, *target;
        if (lk->kind != RX_LK_REPLY || !(pn_link_state(lk->l) & PN_LOCAL_ACTIVE))
            continue;
        name = pn_link_name(lk->l);
        target = pn_terminus_get_address(pn_link_remote_target(lk->l));
        if (reply_to &&
            ((name && strlen(name) == reply_len && !memcmp(name, reply_to, reply_len)) ||
             (target && strlen(target) == reply_len && !memcmp(target, reply_to, reply_len))))
            return lk->l;
        if (lk->node_mgmt == mgmt && pn_link_session(lk->l) == pn_link_session(req) &&
            !same_session)
            same_session = lk->l;
    }
    return same_session;
}

/* ---- Deliveries ----------------------------------------------------------------------------- */

/* Bytes of dl into lk->buf (or dropped past limit). */
static void delivery_read(struct rx_amqp_link *lk, pn_delivery_t *dl, size_t limit)
{
    size_t pend = pn_delivery_pending(dl);
    char drop[16384];
    if (!lk->too_big && lk->buf.len + pend > limit) {
        lk->too_big = 1;
        hc_buf_free(&lk->buf);
    }
    if (!lk->too_big && pend && hc_buf_reserve(&lk->buf, pend) == 0) {
        ssize_t n = pn_link_recv(lk->l, lk->buf.p + lk->buf.len, pend);
        if (n > 0)
            lk->buf.len += (size_t)n;
        return;
    }
    if (!lk->too_big && pend) { /* out of memory: as too big, the client hears it */
        lk->too_big = 1;
        hc_buf_free(&lk->buf);
    }
    while (pn_link_recv(lk->l, drop, sizeof drop) > 0)
        ;
}

static void delivery(struct rx_amqp_conn *c, pn_delivery_t *dl)
{
    pn_link_t *l = pn_delivery_link(dl);
    struct rx_amqp_link *lk = link_of(l);
    struct rx_amqp *a = c->l->a;
    if (pn_link_is_sender(l)) { /* a reply's disposition */
        if (pn_delivery_remote_state(dl) || pn_delivery_settled(dl))
            pn_delivery_settle(dl);
        return;
    }
    if (!lk || dl != pn_link_current(l) || !pn_delivery_readable(dl))
        return;
    delivery_read(lk, dl, lk->kind == RX_LK_EVENTS ? a->c->max_publication : RX_AMQP_REQUEST_MAX);
    if (pn_delivery_partial(dl))
        return;
    pn_link_advance(l);
    if (pn_delivery_aborted(dl) || lk->kind == RX_LK_REFUSED) {
        pn_delivery_settle(dl);
    } else if (lk->kind == RX_LK_EVENTS) {
        rx_amqp__ingest(c, dl, &lk->buf, lk->hub, lk->partition, lk->too_big);
    } else {
        if (lk->too_big)
            rx_amqp__reject(dl, "amqp:link:message-size-exceeded", "a request over 64 KiB");
        else
            rx_amqp__node_request(c, l, dl, &lk->buf, lk->kind == RX_LK_MGMT);
        pn_link_flow(l, 1);
    }
    hc_buf_free(&lk->buf);
    lk->too_big = 0;
}

/* ---- Events and I/O ------------------------------------------------------------------------- */

static void transport_error(struct rx_amqp_conn *c, pn_transport_t *t)
{
    pn_condition_t *cond = pn_transport_condition(t);
    const char *name = pn_condition_get_name(cond);
    if (c->bad || c->refusing || c->eof || !name)
        return; /* counted already (the closed input's error comes after ours), or the client
                   went away without a close: not a malformed frame */
    if (!strcmp(name, "amqp:decode-error") || !strcmp(name, "amqp:connection:framing-error")) {
        rx_amqp__count(c->l->a, RX_AC_DECODE_ERRORS);
        hc_debug("amqp: connection closed: %s: %s", name, pn_condition_get_description(cond));
    } else if (!strcmp(name, "amqp:resource-limit-exceeded")) {
        rx_amqp__count(c->l->a, RX_AC_IDLE_CLOSED);
    }
}

/*
 * The client sent a malformed frame (wire.h): close with amqp:connection:framing-error (its
 * header) or amqp:decode-error (its performative), read no more.
 */
static void malformed(struct rx_amqp_conn *c, const char *why)
{
    pn_condition_t *cond = pn_connection_condition(c->d.connection);
    const char *name = c->win.framing ? "amqp:connection:framing-error" : "amqp:decode-error";
    c->bad = 1;
    rx_amqp__count(c->l->a, RX_AC_DECODE_ERRORS);
    hc_debug("amqp: connection closed: %s: %s", name, why);
    pn_condition_set_name(cond, name);
    pn_condition_set_description(cond, why);
    if (!(pn_connection_state(c->d.connection) & PN_LOCAL_ACTIVE))
        pn_connection_open(c->d.connection);
    if (!(pn_connection_state(c->d.connection) & PN_LOCAL_CLOSED))
        pn_connection_close(c->d.connection);
    c->stopping = 1;
}

static void on_event(struct rx_amqp_conn *c, pn_event_t *e)
{
    pn_connection_t *pc = pn_event_connection(e);
    switch (pn_event_type(e)) {
    case PN_CONNECTION_REMOTE_OPEN: {
        const char *h = pn_connection_remote_hostname(pc);
        c->wout.max_frame = pn_transport_get_remote_max_frame(c->d.transport);
        if (c->refusing) {
            pn_connection_set_container(pc, "hubcap-receiver");
            pn_connection_open(pc);
            pn_connection_close(pc);
            break;
        }
        snprintf(c->host, sizeof c->host, "%s", h ? h : "");
        pn_connection_set_container(pc, "hubcap-receiver");
        if (!(pn_connection_state(pc) & PN_LOCAL_ACTIVE))
            pn_connection_open(pc);
        break;
    }
    case PN_SESSION_REMOTE_OPEN: {
        pn_session_t *s = pn_event_session(e);
        if (pn_session_state(s) & PN_LOCAL_UNINIT) {
            pn_session_set_incoming_capacity(s, RX_AMQP_CAPACITY);
            pn_session_open(s);
        }
        break;
    }
    case PN_LINK_REMOTE_OPEN:
        link_open(c, pn_event_link(e));
        break;
    case PN_DELIVERY:
        delivery(c, pn_event_delivery(e));
        break;
    case PN_LINK_FLOW:
        rx_amqp__consumer_flow(c, pn_event_link(e));
        break;
    case PN_LINK_REMOTE_DETACH:
    case PN_LINK_REMOTE_CLOSE:
        link_closed(c, pn_event_link(e));
        break;
    case PN_SESSION_REMOTE_CLOSE:
        if (pn_session_state(pn_event_session(e)) & PN_LOCAL_ACTIVE)
            pn_session_close(pn_event_session(e));
        break;
    case PN_CONNECTION_REMOTE_CLOSE:
        if (pn_connection_state(pc) & PN_LOCAL_ACTIVE)
            pn_connection_close(pc);
        break;
    case PN_TRANSPORT_ERROR:
        transport_error(c, pn_event_transport(e));
        break;
    default:
        break;
    }
}

static void conn_events(struct rx_amqp_conn *c)
{
    pn_event_t *e;
    while ((e = pn_connection_driver_next_event(&c->d)))
        on_event(c, e);
}

/* TLS trouble worth a line: a failed handshake (an unrelated CA, a plain client), a bad record. */
static void tls_failed(struct rx_amqp_conn *c, const char *op)
{
    unsigned long e = ERR_get_error();
    if (e)
        hc_debug("amqp: TLS %s: %s", op, ERR_reason_error_string(e));
    ERR_clear_error();
    (void)c;
}

/* Bytes from the socket (through TLS): >0, 0 when none yet, -1 when the input ended. */
static ssize_t io_in(struct rx_amqp_conn *c, void *buf, size_t cap)
{
    for (;;) {
        ssize_t n;
        if (c->ssl) {
            int k = SSL_read(c->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
            if (k > 0)
                return k;
            switch (SSL_get_error(c->ssl, k)) {
            case SSL_ERROR_WANT_READ:
                return 0;
            case SSL_ERROR_WANT_WRITE:
                c->ssl_wants_write = 1;
                return 0;
            case SSL_ERROR_ZERO_RETURN:
                return -1;
            default:
                tls_failed(c, "read");
                return -1;
            }
        }
        n = recv(c->fd, buf, cap, 0);
        if (n > 0)
            return n;
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && errno == EAGAIN ? 0 : -1;
    }
}

/* Bytes to the socket (through TLS): >0 taken, 0 when it takes none now, -1 when it failed. */
static ssize_t io_out(struct rx_amqp_conn *c, const void *buf, size_t len)
{
    for (;;) {
        ssize_t n;
        if (c->ssl) {
            int k = SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
            if (k > 0)
                return k;
            switch (SSL_get_error(c->ssl, k)) {
            case SSL_ERROR_WANT_READ: /* the handshake is not done: the next read goes on */
            case SSL_ERROR_WANT_WRITE:
                return 0;
            default:
                tls_failed(c, "write");
                return -1;
            }
        }
        n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n > 0)
            return n;
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && errno == EAGAIN ? 0 : -1;
    }
}

/* After a malformed frame: what the client still sends is dropped; its end ends us. */
static void conn_drain(struct rx_amqp_conn *c)
{
    char junk[16384];
    for (int i = 0; i < RX_AMQP_READS; i++) {
        ssize_t n = io_in(c, junk, sizeof junk);
        if (n > 0)
            continue;
        if (n < 0) {
            c->eof = 1;
            conn_end(c);
        }
        return;
    }
}

static void conn_read(struct rx_amqp_conn *c)
{
    c->ssl_wants_write = 0;
    if (c->bad) {
        conn_drain(c);
        return;
    }
    for (int i = 0; i < RX_AMQP_READS; i++) {
        pn_rwbytes_t rb = pn_connection_driver_read_buffer(&c->d);
        const char *why = NULL;
        size_t ok;
        ssize_t n;
        if (!rb.size || c->bad)
            return; /* bad: the rest waits for conn_drain */
        if ((n = io_in(c, rb.start, rb.size)) == 0)
            return;
        if (n < 0) {
            c->eof = 1;
            pn_connection_driver_read_close(&c->d);
            return;
        }
        ok = rx_amqp_wire_check(&c->win, (const uint8_t *)rb.start, (size_t)n, &why);
        if (ok)
            pn_connection_driver_read_done(&c->d, ok);
        if (why)
            malformed(c, why);
        conn_events(c);
    }
}

/*
 * What proton wrote goes through the padding (wire.h) into c->ob, then to the socket. Proton's
 * bytes are taken only when c->ob is sent: a slow reader holds at most one chunk of them here.
 */
static void conn_write(struct rx_amqp_conn *c)
{
    for (;;) {
        ssize_t n;
        if (c->ob_off == c->ob.len) {
            pn_bytes_t wb = pn_connection_driver_write_buffer(&c->d);
            hc_buf_reset(&c->ob);
            c->ob_off = 0;
            if (!wb.size)
                return;
            if (rx_amqp_wire_pad(&c->wout, (const uint8_t *)wb.start, wb.size, &c->ob)) {
                hc_warn("amqp: out of memory for a connection's output: closed");
                hc_buf_reset(&c->ob);
                pn_connection_driver_write_close(&c->d);
                return;
            }
            pn_connection_driver_write_done(&c->d, wb.size);
            continue;
        }
        if ((n = io_out(c, c->ob.p + c->ob_off, c->ob.len - c->ob_off)) > 0) {
            c->ob_off += (size_t)n;
            continue;
        }
        if (n == 0)
            return;
        hc_buf_reset(&c->ob);
        c->ob_off = 0;
        pn_connection_driver_write_close(&c->d);
        return;
    }
}

void rx_amqp__conn_flush(struct rx_amqp_conn *c)
{
    uint32_t want = 0;
    if (c->gone)
        return;
    conn_events(c);
    conn_write(c);
    if (c->bad && !c->tail_closed) { /* our close is out of proton: its input ends here */
        c->tail_closed = 1;
        pn_connection_driver_read_close(&c->d);
        conn_events(c);
        conn_write(c);
    }
    conn_events(c);
    if (pn_connection_driver_finished(&c->d) && c->ob_off == c->ob.len) {
        conn_end(c);
        return;
    }
    if (c->bad || pn_connection_driver_read_buffer(&c->d).size)
        want |= EPOLLIN; /* bad: its bytes are dropped until it goes */
    if (c->ob_off < c->ob.len || c->ssl_wants_write ||
        pn_connection_driver_write_buffer(&c->d).size)
        want |= EPOLLOUT;
    arm(c, want);
    if (c->ssl && !c->bad && !c->reread && SSL_has_pending(c->ssl) && (want & EPOLLIN)) {
        c->reread = 1; /* decrypted bytes wait inside TLS: epoll will not say */
        rx_amqp__loop_wake(c->l);
    }
}

void rx_amqp__conn_io(struct rx_amqp_conn *c, uint32_t events)
{
    int backed_up = rx_amqp__conn_backed_up(c);
    if (c->gone)
        return;
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) || (c->ssl_wants_write && (events & EPOLLOUT)))
        conn_read(c);
    rx_amqp__conn_flush(c);
    if (backed_up && !c->gone && !rx_amqp__conn_backed_up(c) && rx_amqp__consumers(c))
        rx_amqp__conn_flush(c); /* the socket took it all: consumers go on at once */
}

/* Detach the sender links whose token ran out. */
static void expire_links(struct rx_amqp_conn *c, int64_t now_s)
{
    for (struct rx_amqp_link *lk = c->links; lk; lk = lk->next) {
        char desc[384]; /* a hub name (at most 256) and the text */
        if (lk->kind != RX_LK_EVENTS || now_s <= lk->expiry_s)
            continue;
        lk->expiry_s = rx_amqp__conn_authorized(c, lk->hub, lk->partition, RX_RIGHT_SEND);
        if (lk->expiry_s && now_s <= lk->expiry_s)
            continue;
        snprintf(desc, sizeof desc,
                 "the CBS token for %s expired: put a new token on $cbs before it expires",
                 c->l->a->c->hubs[lk->hub].name);
        atomic_fetch_sub(&c->l->a->nlinks, 1);
        link_refuse(c, lk, "amqp:unauthorized-access", desc, RX_AC_LINK_EXPIRED);
    }
}

void rx_amqp__conn_tick(struct rx_amqp_conn *c, int64_t now_ms)
{
    if (c->gone)
        return;
    if (c->refusing && now_ms >= c->refuse_until_ms) {
        conn_end(c);
        return;
    }
    pn_transport_tick(c->d.transport, now_ms);
    expire_links(c, now_ms / 1000);
    rx_amqp__consumers(c);
    rx_amqp__conn_flush(c);
}

void rx_amqp__conn_stop(struct rx_amqp_conn *c, int force)
{
    pn_condition_t *cond;
    if (c->gone)
        return;
    if (force && c->stopping) {
        conn_end(c); /* the close went out a while ago (or could not) */
        return;
    }
    if (c->stopping || (c->npending && !force))
        return;
    cond = pn_connection_condition(c->d.connection);
    pn_condition_set_name(cond, "amqp:connection:forced");
    pn_condition_set_description(cond, "the receiver is stopping");
    if (!(pn_connection_state(c->d.connection) & PN_LOCAL_ACTIVE))
        pn_connection_open(c->d.connection);
    pn_connection_close(c->d.connection);
    c->stopping = 1;
    rx_amqp__conn_flush(c);
}
