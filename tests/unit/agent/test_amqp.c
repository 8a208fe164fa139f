/*
 * test_amqp.c - the AMQP transport against a scripted AMQP 1.0 peer on 127.0.0.1, forked by the
 * test and built on qpid-proton's server side (as the receiver's endpoint is): it takes SASL
 * ANONYMOUS, verifies the CBS put-token with the project's own SAS check (common/sas.h), attaches
 * the sender link only after a good token (as Event Hubs does), advertises credit and a
 * max-message-size, decodes every transfer with proton's decoder and answers it as the test's
 * script says: accepted, rejected with a condition, released, held, in reverse order, or the
 * connection cut. It can detach the link when the token runs out, and serve TLS with a test
 * CA's certificate. Every event it sees is logged.
 *
 * What a sender relies on: every event reaches the hub as one message with its partition key
 * and properties; many are in flight within the credit; the cursor is told only of the
 * contiguous run of accepted events; a refused event is named alone; every failure becomes the
 * right result with a sentence; the token is renewed on the live connection, never by a new
 * link; TLS verifies the peer.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/connection_driver.h>
#include <proton/delivery.h>
#include <proton/link.h>
#include <proton/message.h>
#include <proton/sasl.h>
#include <proton/session.h>
#include <proton/ssl.h>
#include <proton/terminus.h>
#include <proton/transport.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/transport/amqp/amqp_conf.h"
#include "common/error.h"
#include "common/hctime.h"
#include "common/sas.h"
#include "common/uuid.h"
#include "tests/unit/testutil.h"

#define KEY "amqp-t3st-key="

/* ---- the peer's script --------------------------------------------------------------------- */

struct peer_script {
    int credit;        /* link credit kept up (default 10) */
    uint64_t max_msg;  /* max-message-size on the attach (0: none) */
    int cbs_status;    /* force this put-token status (0: by the token's verification) */
    int refuse_attach; /* refuse the hub link with amqp:not-found */
    long reject_at;    /* the message with this index (0-based, per connection) is rejected */
    const char *reject_cond;
    long release_at;    /* ... released */
    long cut_after;     /* after accepting this many, close the socket (-1: never) */
    int cut_conns;      /* only on the first cut_conns connections (0: every) */
    int hold;           /* never answer a transfer */
    int reverse;        /* answer in reverse order, every `reverse` messages */
    int hold_until;     /* answer nothing until this many came, then all of them */
    int enforce_expiry; /* detach with unauthorized-access when the token expires */
    int idle_close_ms;  /* close a connection idle this long (0: never) */
    int tls;            /* serve TLS with tls_dir/srv.pem */
};

static char tls_dir[512];

static struct peer_script default_script(void)
{
    return (struct peer_script){
        .credit = 10, .max_msg = 1048576, .reject_at = -1, .release_at = -1, .cut_after = -1};
}

/* ---- the peer ----------------------------------------------------------------------------- */

struct peer_conn {
    pn_connection_driver_t d;
    pn_link_t *hub, *cbs_in, *cbs_out;
    int authorized;
    int64_t token_expiry_s;
    long msgs;     /* messages received on the hub link */
    long answered; /* dispositions sent */
    pn_delivery_t *held[4096];
    int nheld;
    int64_t last_io_ms;
};

static int peer_key(void *ctx, const char *name, const char **key, size_t *len)
{
    (void)ctx;
    if (strcmp(name, "send"))
        return HC_E_NOTFOUND;
    *key = KEY;
    *len = strlen(KEY);
    return 0;
}

static void put_str(pn_data_t *d, const char *s)
{
    pn_data_put_string(d, pn_bytes(strlen(s), s));
}

/* The string value of key in the map of d (application properties / annotations), in out. */
static int map_get(pn_data_t *d, const char *key, char *out, size_t cap)
{
    int found = 0;
    pn_data_rewind(d);
    if (!pn_data_next(d) || pn_data_type(d) != PN_MAP)
        return 0;
    pn_data_enter(d);
    while (!found && pn_data_next(d)) {
        pn_bytes_t k = pn_data_type(d) == PN_SYMBOL ? pn_data_get_symbol(d) : pn_data_get_string(d);
        int match = k.size == strlen(key) && !memcmp(k.start, key, k.size);
        if (!pn_data_next(d))
            break;
        if (!match)
            continue;
        found = 1;
        if (pn_data_type(d) == PN_STRING) {
            pn_bytes_t v = pn_data_get_string(d);
            snprintf(out, cap, "%.*s", (int)v.size, v.start);
        } else if (pn_data_type(d) == PN_LONG) {
            snprintf(out, cap, "long:%lld", (long long)pn_data_get_long(d));
        } else {
            snprintf(out, cap, "type:%d", (int)pn_data_type(d));
        }
    }
    pn_data_exit(d);
    return found;
}

/* Read a whole message of a delivery into a new pn_message (NULL when not whole yet). */
static pn_message_t *peer_read(pn_delivery_t *dl, char **raw, size_t *rawlen)
{
    size_t len = pn_delivery_pending(dl);
    char *buf;
    pn_message_t *m;
    if (!pn_delivery_readable(dl) || pn_delivery_partial(dl))
        return NULL;
    buf = malloc(len + 1);
    m = pn_message();
    if (pn_link_recv(pn_delivery_link(dl), buf, len) != (ssize_t)len ||
        pn_message_decode(m, buf, len)) {
        pn_message_free(m);
        m = NULL;
    }
    pn_link_advance(pn_delivery_link(dl));
    if (raw) {
        *raw = buf;
        *rawlen = len;
    } else {
        free(buf);
    }
    return m;
}

static void peer_cbs(struct peer_conn *pc, const struct peer_script *ps, pn_delivery_t *dl,
                     int logfd)
{
    pn_message_t *m = peer_read(dl, NULL, NULL), *r;
    char op[64] = "", type[128] = "", name[256] = "", buf[1024];
    struct hc_sas_claims claims;
    enum hc_sas_reason why = HC_SAS_OK;
    int status;
    size_t len = sizeof buf;
    pn_data_t *body, *ap;
    if (!m)
        return;
    map_get(pn_message_properties(m), "operation", op, sizeof op);
    map_get(pn_message_properties(m), "type", type, sizeof type);
    map_get(pn_message_properties(m), "name", name, sizeof name);
    body = pn_message_body(m);
    pn_data_rewind(body);
    pn_data_next(body);
    if (pn_data_type(body) == PN_STRING) {
        pn_bytes_t tok = pn_data_get_string(body);
        char *t = strndup(tok.start, tok.size);
        status = hc_sas_verify(t, peer_key, NULL, "sb://localhost/events", hc_now_ms() / 1000,
                               &claims, &why)
                     ? 401
                     : 200;
        free(t);
    } else {
        status = 400;
    }
    if (ps->cbs_status)
        status = ps->cbs_status;
    if (status == 200) {
        pc->authorized = 1;
        pc->token_expiry_s = claims.expiry_s;
    }
    dprintf(logfd, "cbs op=%s type=%s name=%s status=%d why=%s reply_to=%s\n", op, type, name,
            status, hc_sas_reason_str(why), pn_message_get_reply_to(m));
    pn_delivery_update(dl, PN_ACCEPTED);
    pn_delivery_settle(dl);
    r = pn_message();
    pn_message_set_correlation_id(r, pn_message_get_id(m));
    ap = pn_message_properties(r);
    pn_data_put_map(ap);
    pn_data_enter(ap);
    put_str(ap, "status-code");
    pn_data_put_int(ap, status);
    put_str(ap, "status-description");
    put_str(ap, status == 200 ? "OK" : "token refused");
    pn_data_exit(ap);
    if (pn_message_encode(r, buf, &len) == 0 && pc->cbs_out) {
        pn_delivery(pc->cbs_out, pn_dtag("r", 1));
        pn_link_send(pc->cbs_out, buf, len);
        pn_link_advance(pc->cbs_out);
    }
    pn_message_free(r);
    pn_message_free(m);
    pn_link_flow(pc->cbs_in, 1);
}

static void peer_answer(pn_delivery_t *dl, uint64_t state, const char *cond)
{
    if (cond)
        pn_condition_set_name(pn_disposition_condition(pn_delivery_local(dl)), cond);
    pn_delivery_update(dl, state);
    pn_delivery_settle(dl);
}

/* A transfer on the hub link: log it, answer as the script says. 1: cut the connection now. */
static int peer_event(struct peer_conn *pc, const struct peer_script *ps, pn_delivery_t *dl,
                      int logfd, int conn)
{
    char *raw = NULL, pkey[256] = "", id[64] = "", dev[256] = "", kind[64] = "", schema[32] = "";
    size_t rawlen = 0;
    pn_message_t *m = peer_read(dl, &raw, &rawlen);
    long i = pc->msgs++;
    pn_data_t *body;
    pn_bytes_t b = {0, NULL};
    if (!m) {
        free(raw);
        return 0;
    }
    map_get(pn_message_annotations(m), "x-opt-partition-key", pkey, sizeof pkey);
    map_get(pn_message_properties(m), "event_id", id, sizeof id);
    map_get(pn_message_properties(m), "device_id", dev, sizeof dev);
    map_get(pn_message_properties(m), "kind", kind, sizeof kind);
    map_get(pn_message_properties(m), "schema", schema, sizeof schema);
    body = pn_message_body(m);
    pn_data_rewind(body);
    if (pn_data_next(body) && pn_data_type(body) == PN_BINARY)
        b = pn_data_get_binary(body);
    dprintf(logfd, "msg c%d i%ld id=%s key=%s dev=%s kind=%s schema=%s bytes=%zu body=%zu\n", conn,
            i, id, pkey, dev, kind, schema, rawlen, b.size);
    pn_message_free(m);
    free(raw);
    pn_link_flow(pc->hub, 1);
    if (ps->hold)
        return 0;
    if (ps->reverse) {
        pc->held[pc->nheld++] = dl;
        if (pc->nheld == ps->reverse) {
            while (pc->nheld)
                peer_answer(pc->held[--pc->nheld], PN_ACCEPTED, NULL);
        }
        return 0;
    }
    if (ps->hold_until && pc->msgs <= ps->hold_until) {
        pc->held[pc->nheld++] = dl;
        if (pc->msgs == ps->hold_until)
            for (int k = 0; k < pc->nheld; k++)
                peer_answer(pc->held[k], PN_ACCEPTED, NULL);
        return 0;
    }
    if (i == ps->reject_at)
        peer_answer(dl, PN_REJECTED, ps->reject_cond);
    else if (i == ps->release_at)
        peer_answer(dl, PN_RELEASED, NULL);
    else if (ps->cut_after >= 0 && i >= ps->cut_after && (!ps->cut_conns || conn <= ps->cut_conns))
        return 1;
    else
        peer_answer(dl, PN_ACCEPTED, NULL);
    return 0;
}

static void peer_link_open(struct peer_conn *pc, const struct peer_script *ps, pn_link_t *l,
                           int logfd)
{
    const char *tgt = pn_terminus_get_address(pn_link_remote_target(l));
    const char *src = pn_terminus_get_address(pn_link_remote_source(l));
    pn_terminus_copy(pn_link_source(l), pn_link_remote_source(l));
    pn_terminus_copy(pn_link_target(l), pn_link_remote_target(l));
    if (pn_link_is_sender(l)) { /* the client's receiver: CBS replies */
        pc->cbs_out = l;
        dprintf(logfd, "attach cbs-reply name=%s source=%s target=%s\n", pn_link_name(l),
                src ? src : "", tgt ? tgt : "");
        pn_link_open(l);
        return;
    }
    if (tgt && !strcmp(tgt, "$cbs")) {
        pc->cbs_in = l;
        pn_link_open(l);
        pn_link_flow(l, 10);
        return;
    }
    dprintf(logfd, "attach hub target=%s authorized=%d\n", tgt ? tgt : "", pc->authorized);
    if (ps->refuse_attach || !pc->authorized) {
        pn_terminus_set_address(pn_link_target(l), NULL);
        pn_terminus_set_type(pn_link_target(l), PN_UNSPECIFIED);
        pn_link_open(l);
        pn_condition_set_name(pn_link_condition(l),
                              pc->authorized ? "amqp:not-found" : "amqp:unauthorized-access");
        pn_condition_set_description(pn_link_condition(l), "The messaging entity could not be "
                                                           "found (test)");
        pn_link_close(l);
        return;
    }
    pc->hub = l;
    if (ps->max_msg)
        pn_link_set_max_message_size(l, ps->max_msg);
    pn_link_open(l);
    pn_link_flow(l, ps->credit);
}

/* Proton's events of one connection. 1: cut the connection now. */
static int peer_events(struct peer_conn *pc, const struct peer_script *ps, int logfd, int conn)
{
    pn_event_t *e;
    int cut = 0;
    while ((e = pn_connection_driver_next_event(&pc->d))) {
        pn_link_t *l = pn_event_link(e);
        switch (pn_event_type(e)) {
        case PN_CONNECTION_REMOTE_OPEN:
            dprintf(logfd, "open c%d hostname=%s container=%s\n", conn,
                    pn_connection_remote_hostname(pn_event_connection(e)),
                    pn_connection_remote_container(pn_event_connection(e)));
            pn_connection_open(pn_event_connection(e));
            break;
        case PN_SESSION_REMOTE_OPEN:
            pn_session_open(pn_event_session(e));
            break;
        case PN_LINK_REMOTE_OPEN:
            peer_link_open(pc, ps, l, logfd);
            break;
        case PN_LINK_REMOTE_CLOSE:
            pn_link_close(l);
            break;
        case PN_CONNECTION_REMOTE_CLOSE:
            dprintf(logfd, "close c%d\n", conn);
            pn_connection_close(pn_event_connection(e));
            break;
        case PN_DELIVERY: {
            pn_delivery_t *dl = pn_event_delivery(e);
            if (pn_delivery_link(dl) == pc->cbs_in)
                peer_cbs(pc, ps, dl, logfd);
            else if (pn_delivery_link(dl) == pc->hub)
                cut |= peer_event(pc, ps, dl, logfd, conn);
            else if (pn_delivery_remote_state(dl))
                pn_delivery_settle(dl);
            break;
        }
        default:
            break;
        }
    }
    return cut;
}

static void peer_serve(int fd, const struct peer_script *ps, int logfd, int conn)
{
    struct peer_conn pc;
    memset(&pc, 0, sizeof pc);
    pn_connection_driver_init(&pc.d, NULL, NULL);
    pn_transport_set_server(pc.d.transport);
    pn_sasl_allowed_mechs(pn_sasl(pc.d.transport), "ANONYMOUS");
    pn_transport_require_auth(pc.d.transport, false);
    if (ps->tls) {
        char cert[600], key[600];
        pn_ssl_domain_t *dom = pn_ssl_domain(PN_SSL_MODE_SERVER);
        snprintf(cert, sizeof cert, "%s/srv.pem", tls_dir);
        snprintf(key, sizeof key, "%s/srv.key", tls_dir);
        pn_ssl_domain_set_credentials(dom, cert, key, NULL);
        pn_ssl_init(pn_ssl(pc.d.transport), dom, NULL);
        pn_ssl_domain_free(dom);
    }
    pc.last_io_ms = hc_mono_ns() / 1000000;
    while (!pn_connection_driver_finished(&pc.d)) {
        pn_rwbytes_t rb = pn_connection_driver_read_buffer(&pc.d);
        pn_bytes_t wb = pn_connection_driver_write_buffer(&pc.d);
        struct pollfd p = {.fd = fd,
                           .events = (short)((rb.size ? POLLIN : 0) | (wb.size ? POLLOUT : 0))};
        int64_t now = hc_mono_ns() / 1000000;
        if (peer_events(&pc, ps, logfd, conn)) {
            dprintf(logfd, "cut c%d after %ld\n", conn, pc.msgs);
            break;
        }
        if (ps->enforce_expiry && pc.hub && pc.token_expiry_s &&
            hc_now_ms() / 1000 >= pc.token_expiry_s) {
            dprintf(logfd, "expired c%d\n", conn);
            pn_condition_set_name(pn_link_condition(pc.hub), "amqp:unauthorized-access");
            pn_link_close(pc.hub);
            pc.hub = NULL;
        }
        if (ps->idle_close_ms && now - pc.last_io_ms > ps->idle_close_ms) {
            dprintf(logfd, "idle-close c%d\n", conn);
            break;
        }
        wb = pn_connection_driver_write_buffer(&pc.d);
        p.events |= wb.size ? POLLOUT : 0;
        if (poll(&p, 1, 50) <= 0)
            continue;
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t k = recv(fd, rb.start, rb.size, 0);
            if (k > 0) {
                pn_connection_driver_read_done(&pc.d, (size_t)k);
                pc.last_io_ms = now;
            } else {
                pn_connection_driver_read_close(&pc.d);
            }
        }
        if (p.revents & POLLOUT) {
            wb = pn_connection_driver_write_buffer(&pc.d);
            ssize_t k = send(fd, wb.start, wb.size, MSG_NOSIGNAL);
            if (k > 0)
                pn_connection_driver_write_done(&pc.d, (size_t)k);
            else
                pn_connection_driver_write_close(&pc.d);
        }
        pn_transport_tick(pc.d.transport, now);
    }
    pn_connection_driver_destroy(&pc.d);
    close(fd);
}

struct peer {
    pid_t pid;
    int port;
    int log_fd;
    char log[1 << 20];
};

static void peer_start(struct peer *pr, const struct peer_script *ps)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int one = 1, p[2], lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 8), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
    pr->port = ntohs(a.sin_port);
    assert_int_equal(pipe(p), 0);
    pr->pid = fork();
    assert_true(pr->pid >= 0);
    if (pr->pid == 0) {
        int conn = 0;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(p[0]);
        alarm(60);
        for (;;) { /* one connection at a time, as many as come */
            int fd = accept(lfd, NULL, NULL);
            if (fd < 0)
                _exit(2);
            fcntl(fd, F_SETFL, O_NONBLOCK);
            peer_serve(fd, ps, p[1], ++conn);
        }
    }
    close(lfd);
    close(p[1]);
    pr->log_fd = p[0];
}

static void peer_stop(struct peer *pr)
{
    size_t len = 0;
    ssize_t k;
    usleep(100 * 1000);
    kill(pr->pid, SIGTERM);
    waitpid(pr->pid, NULL, 0);
    while ((k = read(pr->log_fd, pr->log + len, sizeof pr->log - 1 - len)) > 0)
        len += (size_t)k;
    pr->log[len] = '\0';
    close(pr->log_fd);
}

static int count_of(const char *s, const char *what)
{
    int n = 0;
    for (; (s = strstr(s, what)); s++)
        n++;
    return n;
}

/* ---- records and the transport ------------------------------------------------------------- */

enum { NREC = 400 };
static struct ag_record recs[NREC];
static const struct ag_record *ptrs[NREC];
static char jsons[NREC][200];

static void make_records(void)
{
    for (int i = 0; i < NREC; i++) {
        struct ag_record *r = &recs[i];
        memset(r, 0, sizeof *r);
        r->seq = (uint64_t)i + 1;
        r->ev.id[0] = 0x01;
        r->ev.id[6] = 0x70;
        r->ev.id[14] = (uint8_t)(i >> 8);
        r->ev.id[15] = (uint8_t)i;
        r->ev.device_id = "pi-0042";
        r->ev.device_id_len = 7;
        r->ev.kind = HC_KIND_CAR_LISTING;
        r->ev.schema = 3;
        snprintf(jsons[i], sizeof jsons[i], "{\"event_id\":\"x\",\"data\":{\"n\":%d}}", i);
        r->json = jsons[i];
        r->json_len = strlen(jsons[i]);
        ptrs[i] = r;
    }
}

static char *event_id(int i, char *out)
{
    hc_uuid_format(recs[i].ev.id, out);
    return out;
}

struct tp {
    void *ctx;
    struct ag_send_status st;
};

static void tp_open(struct tp *t, const char *host, int port, int tls, const char *timeout, ...)
{
    char cs[512], err[512], portbuf[16] = "";
    struct ag_kv kv[10];
    size_t n = 0;
    va_list ap;
    if (port)
        snprintf(portbuf, sizeof portbuf, ":%d", port);
    snprintf(cs, sizeof cs,
             "Endpoint=sb://%s%s/;SharedAccessKeyName=send;SharedAccessKey=" KEY
             ";EntityPath=events%s",
             host, portbuf, tls ? "" : ";UseDevelopmentEmulator=true");
    kv[n++] = (struct ag_kv){"connection_string", cs};
    kv[n++] = (struct ag_kv){"connect_timeout", "3s"};
    kv[n++] = (struct ag_kv){"timeout", timeout};
    va_start(ap, timeout);
    for (const char *k; (k = va_arg(ap, const char *));)
        kv[n++] = (struct ag_kv){k, va_arg(ap, const char *)};
    va_end(ap);
    memset(t, 0, sizeof *t);
    if (ag_transport_amqp.init(kv, n, NULL, &t->ctx, err, sizeof err))
        fail_msg("init: %s", err);
}

static enum ag_send_result tp_send(struct tp *t, size_t from, size_t n)
{
    return ag_transport_amqp.send(t->ctx, ptrs + from, n, &t->st);
}

static uint64_t tp_counter(struct tp *t, enum ag_tp_counter c)
{
    struct ag_transport_counters k;
    ag_transport_amqp.counters(t->ctx, &k);
    return k.v[c];
}

static void tp_close(struct tp *t)
{
    ag_transport_amqp.close(t->ctx);
    t->ctx = NULL;
}

/* ---- tests --------------------------------------------------------------------------------- */

/* Every event once, in order, with its partition key and properties, within a credit of 10;
 * the attach's max-message-size becomes the limit; CBS put-token for sb://localhost/events. */
static void test_ships_in_order_within_credit(void **state)
{
    struct peer_script ps = default_script();
    struct ag_transport_limits lim;
    struct peer pr;
    struct tp t;
    char want[256], id[HC_UUID_STRLEN];
    (void)state;
    ps.max_msg = 4096;
    peer_start(&pr, &ps);
    tp_open(&t, "localhost", pr.port, 0, "10s", NULL);
    ag_transport_amqp.limits(t.ctx, &lim);
    assert_int_equal(lim.max_event_bytes, 1048576);
    assert_int_equal(tp_send(&t, 0, 250), AG_SEND_OK);
    assert_int_equal(t.st.acked, 250);
    ag_transport_amqp.limits(t.ctx, &lim);
    assert_int_equal(lim.max_event_bytes, 4096);
    assert_int_equal(tp_send(&t, 250, 150), AG_SEND_OK);
    assert_int_equal(tp_counter(&t, AG_TPC_CONNECTS), 1);
    assert_int_equal(tp_counter(&t, AG_TPC_REQUESTS), 400);
    assert_int_equal(tp_counter(&t, AG_TPC_ACCEPTED), 400);
    tp_close(&t);
    peer_stop(&pr);
    assert_int_equal(count_of(pr.log, "cbs op=put-token type=servicebus.windows.net:sastoken "
                                      "name=sb://localhost/events status=200"),
                     1);
    assert_non_null(strstr(pr.log, "attach hub target=events authorized=1"));
    assert_non_null(strstr(pr.log, "open c1 hostname=localhost"));
    assert_int_equal(count_of(pr.log, "msg c1 "), 400);
    for (int i = 0; i < NREC; i++) {
        snprintf(want, sizeof want,
                 "msg c1 i%d id=%s key=pi-0042 dev=pi-0042 kind=car_listing schema=long:3 "
                 "bytes=%zu body=%zu\n",
                 i, event_id(i, id), ag_amqp_message_size(&recs[i]), recs[i].json_len);
        if (!strstr(pr.log, want))
            fail_msg("not in the peer's log: %s", want);
    }
    assert_non_null(strstr(pr.log, "close c1"));
}

/* Dispositions in reverse order: all accepted, all acknowledged. */
static void test_out_of_order_dispositions(void **state)
{
    struct peer_script ps = default_script();
    struct peer pr;
    struct tp t;
    (void)state;
    ps.reverse = 10;
    peer_start(&pr, &ps);
    tp_open(&t, "localhost", pr.port, 0, "10s", NULL);
    assert_int_equal(tp_send(&t, 0, 100), AG_SEND_OK);
    assert_int_equal(t.st.acked, 100);
    tp_close(&t);
    peer_stop(&pr);
}

/* One event rejected (message-size-exceeded): named alone, the prefix before it acked, the run
 * after it acked too; another condition on a delivery (decode-error) is a refusal of that
 * event; server-busy is a retry. */
static void test_rejected_event_named_alone(void **state)
{
    struct peer_script ps = default_script();
    struct peer pr;
    struct tp t;
    (void)state;
    ps.reject_at = 37;
    ps.reject_cond = "amqp:link:message-size-exceeded";
    peer_start(&pr, &ps);
    tp_open(&t, "localhost", pr.port, 0, "10s", NULL);
    assert_int_equal(tp_send(&t, 0, 100), AG_SEND_REJECT);
    assert_int_equal(t.st.why, AG_WHY_SIZE);
    assert_int_equal(t.st.acked, 37);
    assert_int_equal(t.st.one, 1);
    assert_int_equal(t.st.acked_after, 62);
    assert_string_equal(t.st.code, "amqp:link:message-size-exceeded");
    assert_non_null(strstr(t.st.error, "larger than its limit"));
    assert_int_equal(tp_send(&t, 100, 10), AG_SEND_OK); /* the link is still up */
    assert_int_equal(tp_counter(&t, AG_TPC_CONNECTS), 1);
    assert_int_equal(tp_counter(&t, AG_TPC_REJECTED), 1);
    tp_close(&t);
    peer_stop(&pr);

    ps.reject_at = 0;
    ps.reject_cond = "com.microsoft:server-busy";
    peer_start(&pr, &ps);
    tp_open(&t, "localhost", pr.port, 0, "10s", NULL);
    assert_int_equal(tp_send(&t, 0, 5), AG_SEND_RETRY);
    assert_int_equal(t.st.why, AG_WHY_THROTTLED);
    assert_int_equal(t.st.acked, 0);
    assert_string_equal(t.st.code, "com.microsoft:server-busy");
    tp_close(&t);
    peer_stop(&pr);

    ps = default_script();
    ps.release_at = 3;
    peer_start(&pr, &ps);
    tp_open(&t, "localhost", pr.port, 0, "10s", NULL);
    assert_int_equal(tp_send(&t, 0, 5), AG_SEND_RETRY);
    assert_int_equal(t.st.acked, 3);
    assert_string_equal(t.st.code, "amqp:released");
    tp_close(&t);
    peer_stop(&pr);
}

/* The connection cut after 25 accepted or more: RETRY, acked = the contiguous run the agent
 * heard of, and the next send connects again and ships the rest, from the cursor on. */
static void test_cut_connection_acks_the_prefix(void **state)
{
    struct peer_script ps = default_script();
    char want[128], id[HC_UUID_STRLEN];
    struct peer pr;
    struct tp t;
    (void)state;
    ps.cut_after = 25;
    ps.cut_conns = 1;
    peer_start(&pr, &ps);
    tp_open(&t, "localhost", pr.port, 0, "10s", NULL);
    assert_int_equal(tp_send(&t, 0, 100), AG_SEND_RETRY);
    assert_int_equal(t.st.why, AG_WHY_NETWORK);
    /* the peer cuts once it has seen the 26th (in a read of up to the credit, 10): at least 25
     * accepted; dispositions in flight at the cut may be lost */
    assert_true(t.st.acked >= 10 && t.st.acked <= 30);
    assert_non_null(strstr(t.st.error, "localhost:"));
    size_t from = t.st.acked;
    assert_int_equal(tp_send(&t, from, 100 - from), AG_SEND_OK);
    assert_int_equal(tp_counter(&t, AG_TPC_CONNECTS), 2);
    assert_int_equal(tp_counter(&t, AG_TPC_DISCONNECTS), 1);
    tp_close(&t);
    peer_stop(&pr);
    assert_non_null(strstr(pr.log, "cut c1 after "));
    snprintf(want, sizeof want, "msg c2 i0 id=%s ", event_id((int)from, id)); /* the cursor */
    assert_non_null(strstr(pr.log, want));
}

/* Two batches in flight (begin, begin, end, end): the hub answers nothing until it has 150
 * events, more than the first batch holds: only a sender that keeps sending while it waits for
 * the first batch's answers gets any. In order; then a cut with two in flight: the first's
 * answers count, the second's prefix, and abort forgets the rest. */
static void test_two_batches_in_flight(void **state)
{
    struct peer_script ps = default_script();
    struct ag_send_status st2;
    struct peer pr;
    struct tp t;
    char want[128], id[HC_UUID_STRLEN];
    (void)state;
    ps.hold_until = 150;
    peer_start(&pr, &ps);
    tp_open(&t, "localhost", pr.port, 0, "5s", NULL);
    ag_transport_amqp.begin(t.ctx, ptrs, 100);
    ag_transport_amqp.begin(t.ctx, ptrs + 100, 100);
    assert_int_equal(ag_transport_amqp.end(t.ctx, &t.st), AG_SEND_OK);
    assert_int_equal(t.st.acked, 100);
    assert_int_equal(ag_transport_amqp.end(t.ctx, &st2), AG_SEND_OK);
    assert_int_equal(st2.acked, 100);
    tp_close(&t);
    peer_stop(&pr);
    for (int i = 0; i < 200; i++) {
        snprintf(want, sizeof want, "msg c1 i%d id=%s ", i, event_id(i, id));
        assert_non_null(strstr(pr.log, want));
    }

    ps = default_script();
    ps.cut_after = 150;
    ps.cut_conns = 1;
    peer_start(&pr, &ps);
    tp_open(&t, "localhost", pr.port, 0, "5s", NULL);
    ag_transport_amqp.begin(t.ctx, ptrs, 100);
    ag_transport_amqp.begin(t.ctx, ptrs + 100, 100);
    assert_int_equal(ag_transport_amqp.end(t.ctx, &t.st), AG_SEND_OK);
    assert_int_equal(ag_transport_amqp.end(t.ctx, &st2), AG_SEND_RETRY);
    assert_true(st2.acked <= 50);
    ag_transport_amqp.abort(t.ctx); /* nothing left in flight: a no-op */
    assert_int_equal(tp_send(&t, 100 + st2.acked, 100 - st2.acked), AG_SEND_OK);
    assert_int_equal(tp_counter(&t, AG_TPC_CONNECTS), 2);
    tp_close(&t);
    peer_stop(&pr);
}

/* A hub that never answers: RETRY at the timeout, nothing acked. */
static void test_no_answer_times_out(void **state)
{
    struct peer_script ps = default_script();
    struct peer pr;
    struct tp t;
    struct timespec a, b;
    (void)state;
    ps.hold = 1;
    peer_start(&pr, &ps);
    tp_open(&t, "localhost", pr.port, 0, "1s", NULL);
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(tp_send(&t, 0, 5), AG_SEND_RETRY);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_int_equal(t.st.acked, 0);
    assert_non_null(strstr(t.st.error, "timeout"));
    assert_true(b.tv_sec - a.tv_sec <= 4);
    tp_close(&t);
    peer_stop(&pr);
}

/* A wrong key: the put-token is refused (401): AUTH, no attach; an unknown hub: the attach is
 * refused with amqp:not-found: REJECT/REFUSED. */
static void test_refusals(void **state)
{
    struct peer_script ps = default_script();
    struct peer pr;
    struct tp t;
    char cs[256], err[256];
    struct ag_kv kv[2];
    (void)state;
    peer_start(&pr, &ps);
    snprintf(cs, sizeof cs,
             "Endpoint=sb://localhost:%d/;SharedAccessKeyName=send;SharedAccessKey=wrong;"
             "EntityPath=events;UseDevelopmentEmulator=true",
             pr.port);
    kv[0] = (struct ag_kv){"connection_string", cs};
    kv[1] = (struct ag_kv){"timeout", "5s"};
    memset(&t, 0, sizeof t);
    assert_int_equal(ag_transport_amqp.init(kv, 2, NULL, &t.ctx, err, sizeof err), 0);
    assert_int_equal(tp_send(&t, 0, 3), AG_SEND_RETRY);
    assert_int_equal(t.st.why, AG_WHY_AUTH);
    assert_string_equal(t.st.code, "amqp:unauthorized-access");
    assert_non_null(strstr(t.st.error, "SharedAccessKey"));
    assert_int_equal(tp_counter(&t, AG_TPC_AUTH_REFUSED), 1);
    tp_close(&t);
    peer_stop(&pr);
    assert_non_null(strstr(pr.log, "status=401 why=token signature does not match the key"));
    assert_null(strstr(pr.log, "attach hub"));

    ps.refuse_attach = 1;
    peer_start(&pr, &ps);
    tp_open(&t, "localhost", pr.port, 0, "5s", NULL);
    assert_int_equal(tp_send(&t, 0, 3), AG_SEND_REJECT);
    assert_int_equal(t.st.why, AG_WHY_REFUSED);
    assert_string_equal(t.st.code, "amqp:not-found");
    assert_non_null(strstr(t.st.error, "no event hub events"));
    tp_close(&t);
    peer_stop(&pr);
}

/* A token of 3 s renewed 2 s before it ends, on the live connection: over 7 s of sends and idle
 * the hub gets several put-tokens on one connection and one attach, and never has to detach
 * (it does, when a token runs out). */
static void test_token_renewed_on_the_live_link(void **state)
{
    struct peer_script ps = default_script();
    struct peer pr;
    struct tp t;
    (void)state;
    ps.enforce_expiry = 1;
    peer_start(&pr, &ps);
    tp_open(&t, "localhost", pr.port, 0, "5s", "token_ttl", "3s", "token_renew", "2s", NULL);
    for (int i = 0; i < 14; i++) {
        if (tp_send(&t, (size_t)i, 1) != AG_SEND_OK)
            fail_msg("send %d: %s: %s", i, t.st.code, t.st.error);
        for (int k = 0; k < 10; k++) { /* half a second of idle */
            ag_transport_amqp.idle(t.ctx);
            usleep(50 * 1000);
        }
    }
    assert_int_equal(tp_counter(&t, AG_TPC_CONNECTS), 1);
    assert_true(tp_counter(&t, AG_TPC_TOKENS) >= 3);
    tp_close(&t);
    peer_stop(&pr);
    assert_true(count_of(pr.log, "cbs op=put-token") >= 4);
    assert_int_equal(count_of(pr.log, "status=200"), count_of(pr.log, "cbs op=put-token"));
    assert_int_equal(count_of(pr.log, "attach hub"), 1);
    assert_int_equal(count_of(pr.log, "open c"), 1);
    assert_null(strstr(pr.log, "expired"));
}

/* The hub closes an idle connection: the next send connects again at once, nothing lost. */
static void test_idle_connection_closed_by_the_hub(void **state)
{
    struct peer_script ps = default_script();
    struct peer pr;
    struct tp t;
    (void)state;
    ps.idle_close_ms = 300;
    peer_start(&pr, &ps);
    tp_open(&t, "localhost", pr.port, 0, "5s", NULL);
    assert_int_equal(tp_send(&t, 0, 10), AG_SEND_OK);
    usleep(800 * 1000);
    assert_int_equal(tp_send(&t, 10, 10), AG_SEND_OK);
    assert_int_equal(t.st.acked, 10);
    assert_int_equal(tp_counter(&t, AG_TPC_CONNECTS), 2);
    tp_close(&t);
    peer_stop(&pr);
    assert_non_null(strstr(pr.log, "idle-close c1"));
    assert_int_equal(count_of(pr.log, "msg c"), 20);
}

/* Nobody listening: refused, a sentence naming the AMQP ports. */
static void test_refused(void **state)
{
    struct peer_script ps = default_script();
    struct peer pr;
    struct tp t;
    int port;
    (void)state;
    peer_start(&pr, &ps); /* for a port nobody listens on after it stops */
    port = pr.port;
    peer_stop(&pr);
    tp_open(&t, "127.0.0.1", port, 0, "5s", NULL);
    assert_int_equal(tp_send(&t, 0, 1), AG_SEND_RETRY);
    assert_int_equal(t.st.why, AG_WHY_NETWORK);
    assert_non_null(strstr(t.st.error, "connection refused by 127.0.0.1:"));
    assert_non_null(strstr(t.st.error, "5672"));
    tp_close(&t);
}

/* A port that takes the connection and never speaks AMQP (a REST endpoint waiting for its
 * request): the sentence says which transport fits. */
static void test_not_an_amqp_port(void **state)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct tp t;
    (void)state;
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 4), 0); /* the kernel completes the handshake; nobody reads */
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
    tp_open(&t, "localhost", ntohs(a.sin_port), 0, "5s", NULL);
    assert_int_equal(tp_send(&t, 0, 1), AG_SEND_RETRY);
    assert_int_equal(t.st.why, AG_WHY_NETWORK);
    assert_non_null(strstr(t.st.error, "no AMQP answer from localhost:"));
    assert_non_null(strstr(t.st.error, "--transport https"));
    tp_close(&t);
    close(lfd);
}

/* ---- TLS --------------------------------------------------------------------------------- */

static int have_openssl;

static int tls_setup(void **state)
{
    char cmd[2048];
    (void)state;
    if (access("/usr/bin/openssl", X_OK) != 0)
        return 0;
    if (!tu_mkdtemp(tls_dir, sizeof tls_dir, "test_amqp.XXXXXX"))
        return -1;
    snprintf(cmd, sizeof cmd,
             "(cd %s && K='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes' && "
             "openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 -subj /CN=hubcap-test-ca && "
             "openssl req -x509 $K -keyout other.key -out other.pem -days 2 -subj /CN=other-ca && "
             "openssl req $K -keyout srv.key -out srv.csr -subj /CN=localhost && "
             "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext && "
             "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out srv.pem -days 2 -extfile ext) >/dev/null 2>&1",
             tls_dir);
    have_openssl = system(cmd) == 0;
    return have_openssl ? 0 : -1;
}

static int tls_teardown(void **state)
{
    (void)state;
    if (tls_dir[0])
        tu_rm_tree(tls_dir);
    return 0;
}

/* TLS with the right CA ships; another CA, or the system's store: certificate verify failed,
 * the hub saw no AMQP open. */
static void test_tls_right_and_wrong_ca(void **state)
{
    struct peer_script ps = default_script();
    struct peer pr;
    struct tp t;
    char ca[600], other[600];
    (void)state;
    if (!have_openssl)
        skip();
    snprintf(ca, sizeof ca, "%s/ca.pem", tls_dir);
    snprintf(other, sizeof other, "%s/other.pem", tls_dir);
    ps.tls = 1;
    peer_start(&pr, &ps);
    /* 30 s: both ends' handshakes take seconds under qemu-user (a board build's ctest) */
    tp_open(&t, "localhost", pr.port, 1, "30s", "ca_file", ca, NULL);
    if (tp_send(&t, 0, 20) != AG_SEND_OK)
        fail_msg("right CA: %s: %s", t.st.code, t.st.error);
    tp_close(&t);
    tp_open(&t, "localhost", pr.port, 1, "30s", "ca_file", other, NULL);
    assert_int_equal(tp_send(&t, 0, 1), AG_SEND_RETRY);
    assert_int_equal(t.st.why, AG_WHY_TLS);
    assert_non_null(strstr(t.st.error, "certificate verify failed for host localhost"));
    tp_close(&t);
    tp_open(&t, "localhost", pr.port, 1, "30s", NULL);
    assert_int_equal(tp_send(&t, 0, 1), AG_SEND_RETRY);
    assert_int_equal(t.st.why, AG_WHY_TLS);
    tp_close(&t);
    peer_stop(&pr);
    assert_int_equal(count_of(pr.log, "open c"), 1);
    assert_int_equal(count_of(pr.log, "msg c1 "), 20);

    ps.tls = 0; /* a plain AMQP peer where TLS is expected */
    peer_start(&pr, &ps);
    tp_open(&t, "localhost", pr.port, 1, "30s", "ca_file", ca, NULL);
    assert_int_equal(tp_send(&t, 0, 1), AG_SEND_RETRY);
    assert_int_equal(t.st.why, AG_WHY_TLS);
    tp_close(&t);
    peer_stop(&pr);
}

int main(void)
{
    const struct CMUnitTest plain[] = {
        cmocka_unit_test(test_ships_in_order_within_credit),
        cmocka_unit_test(test_out_of_order_dispositions),
        cmocka_unit_test(test_two_batches_in_flight),
        cmocka_unit_test(test_rejected_event_named_alone),
        cmocka_unit_test(test_cut_connection_acks_the_prefix),
        cmocka_unit_test(test_no_answer_times_out),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_token_renewed_on_the_live_link),
        cmocka_unit_test(test_idle_connection_closed_by_the_hub),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_not_an_amqp_port),
    };
    const struct CMUnitTest tls[] = {
        cmocka_unit_test(test_tls_right_and_wrong_ca),
    };
    int rc;
    signal(SIGPIPE, SIG_IGN);
    make_records();
    rc = cmocka_run_group_tests_name("amqp", plain, NULL, NULL);
    return rc | cmocka_run_group_tests_name("amqp_tls", tls, tls_setup, tls_teardown);
}
