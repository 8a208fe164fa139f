/*
 * amqp.c - Event Hubs over AMQP 1.0 (amqp_conf.h): qpid-proton's connection driver over the
 * agent's own socket, driven by poll() in the calling thread (no proactor threads: the shipper
 * calls send and waits anyway, and one thread per connection would cost the board a stack and
 * locks for nothing).
 *
 * A connection: TCP (non-blocking connect within connect_timeout), TLS with proton's SSL layer
 * (SNI and peer verification always; TLS 1.2 or later) unless UseDevelopmentEmulator=true, SASL
 * ANONYMOUS, the AMQP open (container-id a random UUID, hostname the Endpoint's host), one
 * session; then CBS: a sender to $cbs and a receiver for its replies, a put-token with the SAS
 * token for sb://host/hub; once the hub answered 200/202, one sender link to the hub (target
 * "{hub}", unsettled: every transfer gets a disposition). The token is renewed by a new put-token
 * on the same live links before it expires (token_renew before), during a send or while idle.
 *
 * A send: one transfer per record (proton 0.37 cannot write the batch format), as many in
 * flight as the link credit allows, each settled when its disposition comes. With begin/end two
 * batches may be in flight: the later one's transfers go, in order, as credit comes, while the
 * earlier one's answers are awaited; a delivery's context names its batch and index. end
 * returns when every record of the oldest batch has its outcome, or at the first failure (a
 * detach, a close, a transport error, the timeout); after a failure the connection is dropped
 * once no batch is in flight any more (abort drops it at once), so no late disposition can be
 * taken for a later send. The shipper hears of the contiguous run of accepted records from the
 * first (amqp_msg.c: ag_amqp_summarize); a record after an unanswered one is sent again even
 * when it was accepted.
 */
#include "agent/transport/amqp/amqp_conf.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/connection_driver.h>
#include <proton/delivery.h>
#include <proton/disposition.h>
#include <proton/link.h>
#include <proton/logger.h>
#include <proton/message.h>
#include <proton/sasl.h>
#include <proton/session.h>
#include <proton/ssl.h>
#include <proton/terminus.h>
#include <proton/transport.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hctime.h"
#include "common/rng.h"
#include "common/uuid.h"

#define AMQP_IDLE_EVERY_MS 250 /* idle(): at most this often */
#define AMQP_CBS_CREDIT    4
#define AMQP_PIPE          2  /* batches in flight (begin/end) */
#define AMQP_ID_BITS       11 /* a delivery's context: the batch id's low bits, the index + 1 */
#define AMQP_INDEX_BITS    20

enum amqp_state {
    A_DOWN = 0,    /* no connection */
    A_AUTHORIZING, /* connected, the put-token is out */
    A_ATTACHING,   /* the token was taken, the sender link is opening */
    A_READY,       /* the sender link is attached */
};

/* The first failure on a connection: what the send reports. */
struct amqp_fail {
    int set;
    enum ag_send_result result;
    enum ag_send_why why;
    char code[AG_SEND_CODE_MAX];
    char error[AG_SEND_ERROR_MAX];
};

struct amqp_ctx {
    struct ag_amqp_conf conf;
    struct ag_hub_token token;
    pn_ssl_domain_t *ssl_domain;
    char container[HC_UUID_STRLEN];
    char sender_name[64], reply_name[64];

    /* the connection */
    enum amqp_state state;
    int fd;
    int bound; /* d is initialised */
    pn_connection_driver_t d;
    pn_session_t *ssn;
    pn_link_t *snd, *cbs_snd, *cbs_rcv;
    int snd_attached;
    uint64_t rx_bytes; /* received on this connection */
    int64_t tick_ms, idle_at_ms;
    uint64_t tag;
    size_t remote_max; /* the attach's max-message-size, 0 = none said */
    struct amqp_fail fail;

    /* CBS */
    uint64_t cbs_id; /* message-id of the put-token out; its reply is awaited while cbs_wait */
    int cbs_wait;
    int cbs_status;
    char cbs_desc[160];

    /* the batches in flight, the oldest at bt[head] */
    struct amqp_batch {
        const struct ag_record *const *recs;
        uint8_t *out; /* enum ag_amqp_outcome by record */
        size_t cap, n, next, answered;
        size_t why_at;           /* the record whose reason is in why_of (the lowest so far) */
        struct amqp_fail why_of; /* the reason of a refused or released record */
        uint64_t id;
        int64_t deadline;
    } bt[AMQP_PIPE];
    size_t nb, head;
    uint64_t batch_ids;
    struct hc_buf enc;

    struct ag_transport_counters ctr;
};

/* ---- small helpers ------------------------------------------------------------------------- */

static void amqp_vfail(struct amqp_fail *f, enum ag_send_result r, enum ag_send_why why,
                       const char *code, const char *fmt, va_list ap)
{
    if (f->set)
        return;
    f->set = 1;
    f->result = r;
    f->why = why;
    snprintf(f->code, sizeof f->code, "%s", code ? code : "");
    vsnprintf(f->error, sizeof f->error, fmt, ap);
}

static void amqp_fail(struct amqp_ctx *c, enum ag_send_result r, enum ag_send_why why,
                      const char *code, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void amqp_fail(struct amqp_ctx *c, enum ag_send_result r, enum ag_send_why why,
                      const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    amqp_vfail(&c->fail, r, why, code, fmt, ap);
    va_end(ap);
}

static int64_t now_ms(void)
{
    return hc_mono_ns() / 1000000;
}

static const char *cond_name(pn_condition_t *cond)
{
    const char *n = cond && pn_condition_is_set(cond) ? pn_condition_get_name(cond) : NULL;
    return n ? n : "";
}

static const char *cond_desc(pn_condition_t *cond)
{
    const char *d = cond && pn_condition_is_set(cond) ? pn_condition_get_description(cond) : NULL;
    return d ? d : "";
}

/*
 * A sentence for an error condition the hub sent, about what (a phrase: "detached the sender
 * link"), into f with its result; of_delivery: it rejected one event.
 */
static void amqp_condition(struct amqp_ctx *c, struct amqp_fail *f, pn_condition_t *cond,
                           int of_delivery, const char *what)
{
    const char *name = cond_name(cond), *desc = cond_desc(cond), *hp = c->conf.hub.host_port;
    const char *hub = c->conf.hub.cs.hub, *sep = *desc ? ": " : "";
    enum ag_send_why why;
    enum ag_send_result r = ag_amqp_condition_result(name, of_delivery, &why);

    struct amqp_fail tmp = {0};
    if (!strcmp(name, "amqp:unauthorized-access"))
        c->ctr.v[AG_TPC_AUTH_REFUSED]++;
#define FAILF(...) snprintf(tmp.error, sizeof tmp.error, __VA_ARGS__)
    if (!strcmp(name, "amqp:unauthorized-access"))
        FAILF("hub %s refused the SAS token for %.200s (%s): check %s%s%s", hp, c->conf.audience,
              what,
              c->token.fixed ? "the SharedAccessSignature (expired?)"
                             : "SharedAccessKeyName, SharedAccessKey and the clock",
              sep, desc);
    else if (!strcmp(name, "amqp:not-found"))
        FAILF("hub %s has no event hub %s (%s): check EntityPath or the hub name%s%s", hp, hub,
              what, sep, desc);
    else if (!strcmp(name, "amqp:link:message-size-exceeded"))
        FAILF("hub %s refused the event as larger than its limit (%s): lower max_batch_bytes%s%s",
              hp, what, sep, desc);
    else if (!strcmp(name, "com.microsoft:server-busy"))
        FAILF("hub %s is busy (%s)%s%s", hp, what, sep, desc);
    else if (!*name)
        FAILF("hub %s %s%s%s", hp, what, sep, desc);
    else
        FAILF("hub %s %s: %s%s%s", hp, what, name, sep, desc);
#undef FAILF
    if (f->set)
        return;
    *f = tmp;
    f->set = 1;
    f->result = r;
    f->why = why;
    snprintf(f->code, sizeof f->code, "%s", *name ? name : "amqp:error");
}

/* ---- the connection: setup and teardown ------------------------------------------------------ */

static pthread_mutex_t amqp_ssl_lock = PTHREAD_MUTEX_INITIALIZER;

/* proton initialises OpenSSL in its first domain, without a lock: one at a time here. */
static pn_ssl_domain_t *amqp_ssl_domain(const struct ag_amqp_conf *k, char *err, size_t errlen)
{
    pn_ssl_domain_t *dom;
    pthread_mutex_lock(&amqp_ssl_lock);
    dom = pn_ssl_domain(PN_SSL_MODE_CLIENT);
    pthread_mutex_unlock(&amqp_ssl_lock);
    if (!dom) {
        snprintf(err, errlen, "amqp: proton has no TLS (OpenSSL) support");
        return NULL;
    }
    if (k->hub.ca_file && pn_ssl_domain_set_trusted_ca_db(dom, k->hub.ca_file)) {
        snprintf(err, errlen, "TLS: cannot load the CA bundle %s: check ca_file (PEM)",
                 k->hub.ca_file);
        goto out_free;
    }
    if (pn_ssl_domain_set_peer_authentication(dom, PN_SSL_VERIFY_PEER_NAME, NULL) ||
        pn_ssl_domain_set_protocols(dom, "TLSv1.2 TLSv1.3")) {
        snprintf(err, errlen, "TLS: cannot require TLS 1.2 with a verified peer");
        goto out_free;
    }
    return dom;
out_free:
    pn_ssl_domain_free(dom);
    return NULL;
}

/* Forget the connection (nothing is sent: for a failed one, or after a clean close). */
static void amqp_drop(struct amqp_ctx *c)
{
    if (c->bound) {
        pn_connection_driver_destroy(&c->d);
        c->bound = 0;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    if (c->state != A_DOWN && c->fail.set)
        c->ctr.v[AG_TPC_DISCONNECTS]++;
    c->state = A_DOWN;
    c->ssn = NULL;
    c->snd = c->cbs_snd = c->cbs_rcv = NULL;
    c->snd_attached = 0;
    c->rx_bytes = 0;
    c->cbs_wait = 0;
    c->remote_max = 0;
}

/* A TCP connection to host:port within ms; the socket, or -1 with c->fail set. */
static int amqp_tcp(struct amqp_ctx *c, int64_t deadline)
{
    const struct ag_amqp_conf *k = &c->conf;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG}, *res, *a;
    char port[16];
    int rc, fd = -1, last = ECONNREFUSED;
    snprintf(port, sizeof port, "%d", k->port);
    rc = getaddrinfo(k->host, port, &hints, &res);
    if (rc) {
        amqp_fail(c, AG_SEND_RETRY, AG_WHY_NETWORK, "",
                  "cannot resolve host %s: %s: check the Endpoint of the connection string (and "
                  "DNS)",
                  k->host, gai_strerror(rc));
        return -1;
    }
    for (a = res; a; a = a->ai_next) {
        struct pollfd p;
        int one = 1, soerr = 0;
        socklen_t sl = sizeof soerr;
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            last = ETIMEDOUT;
            break;
        }
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        if (errno != EINPROGRESS) {
            last = errno;
            close(fd);
            fd = -1;
            continue;
        }
        p = (struct pollfd){.fd = fd, .events = POLLOUT};
        rc = poll(&p, 1, (int)left);
        if (rc == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && !soerr)
            break;
        last = rc == 0 ? ETIMEDOUT : soerr ? soerr : errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0)
        return fd;
    if (last == ECONNREFUSED)
        amqp_fail(c, AG_SEND_RETRY, AG_WHY_NETWORK, "",
                  "connection refused by %s: is the hub running, and is it the AMQP port? (%d "
                  "TLS, %d plain with UseDevelopmentEmulator=true)",
                  k->hub.host_port, AG_AMQP_PORT_TLS, AG_AMQP_PORT_PLAIN);
    else if (last == ETIMEDOUT)
        amqp_fail(c, AG_SEND_RETRY, AG_WHY_NETWORK, "",
                  "timeout connecting to %s: is the hub reachable? (connect_timeout)",
                  k->hub.host_port);
    else
        amqp_fail(c, AG_SEND_RETRY, AG_WHY_NETWORK, "",
                  "cannot connect to %s: %s: check the network and the Endpoint", k->hub.host_port,
                  strerror(last));
    return -1;
}

/* The driver, the transport's layers (TLS, SASL), the open, the session and the CBS links. */
static int amqp_bind(struct amqp_ctx *c)
{
    const struct ag_amqp_conf *k = &c->conf;
    pn_transport_t *t = pn_transport();
    pn_connection_t *conn = pn_connection();
    if (!t || !conn) {
        pn_transport_free(t);
        pn_connection_free(conn);
        return -ENOMEM;
    }
    pn_logger_set_mask(pn_transport_logger(t), PN_SUBSYSTEM_ALL, PN_LEVEL_NONE);
    if (k->idle_timeout_ms)
        pn_transport_set_idle_timeout(t, (pn_millis_t)k->idle_timeout_ms);
    pn_sasl_allowed_mechs(pn_sasl(t), "ANONYMOUS");
    if (k->tls) {
        pn_ssl_t *ssl = pn_ssl(t);
        if (!ssl || pn_ssl_init(ssl, c->ssl_domain, NULL) ||
            pn_ssl_set_peer_hostname(ssl, k->host)) {
            pn_transport_free(t);
            pn_connection_free(conn);
            return -ENOMEM;
        }
    }
    pn_connection_set_container(conn, c->container);
    pn_connection_set_hostname(conn, k->host);
    if (pn_connection_driver_init(&c->d, conn, t))
        return -ENOMEM;
    c->bound = 1;
    pn_connection_open(conn);
    c->ssn = pn_session(conn);
    pn_session_open(c->ssn);
    c->cbs_snd = pn_sender(c->ssn, "cbs-sender");
    pn_terminus_set_address(pn_link_target(c->cbs_snd), "$cbs");
    pn_terminus_set_address(pn_link_source(c->cbs_snd), c->reply_name);
    pn_link_set_snd_settle_mode(c->cbs_snd, PN_SND_UNSETTLED);
    pn_link_open(c->cbs_snd);
    c->cbs_rcv = pn_receiver(c->ssn, c->reply_name);
    pn_terminus_set_address(pn_link_source(c->cbs_rcv), "$cbs");
    pn_terminus_set_address(pn_link_target(c->cbs_rcv), c->reply_name);
    pn_link_open(c->cbs_rcv);
    pn_link_flow(c->cbs_rcv, AMQP_CBS_CREDIT);
    c->tick_ms = 0;
    return 0;
}

/* ---- CBS ---------------------------------------------------------------------------------------
 */

static void put_str(pn_data_t *d, const char *s)
{
    pn_data_put_string(d, pn_bytes(strlen(s), s));
}

/* Send a put-token with the current token on the CBS link (its reply: amqp_cbs_reply). */
static int amqp_put_token(struct amqp_ctx *c)
{
    pn_message_t *m = pn_message();
    pn_data_t *ap;
    size_t size = 1024;
    char *buf = NULL;
    uint64_t tag = ++c->tag;
    int rc;
    if (!m)
        return -ENOMEM;
    pn_message_set_id(m, (pn_atom_t){.type = PN_ULONG, .u.as_ulong = ++c->cbs_id});
    pn_message_set_reply_to(m, c->reply_name);
    ap = pn_message_properties(m);
    pn_data_put_map(ap);
    pn_data_enter(ap);
    put_str(ap, "operation");
    put_str(ap, "put-token");
    put_str(ap, "type");
    put_str(ap, "servicebus.windows.net:sastoken");
    put_str(ap, "name");
    put_str(ap, c->conf.audience);
    pn_data_exit(ap);
    pn_data_put_string(pn_message_body(m), pn_bytes(c->token.text.len, c->token.text.p));
    for (;;) {
        char *nb = realloc(buf, size);
        size_t got = size;
        if (!nb) {
            rc = -ENOMEM;
            break;
        }
        buf = nb;
        rc = pn_message_encode(m, buf, &got);
        if (rc == PN_OVERFLOW) {
            size *= 2;
            continue;
        }
        if (!rc) {
            pn_delivery(c->cbs_snd, pn_dtag((const char *)&tag, sizeof tag));
            pn_link_send(c->cbs_snd, buf, got);
            pn_link_advance(c->cbs_snd);
            memset(buf, 0, got); /* it held the token */
        }
        break;
    }
    free(buf);
    pn_message_free(m);
    c->cbs_wait = rc == 0;
    c->cbs_status = 0;
    c->cbs_desc[0] = '\0';
    return rc ? -ENOMEM : 0;
}

/* An integer from the current node of d, or 0. */
/* A message on the CBS receiver: the reply to our put-token when its correlation-id says so. */
static void amqp_cbs_reply(struct amqp_ctx *c, pn_delivery_t *dl)
{
    pn_link_t *l = pn_delivery_link(dl);
    size_t len = pn_delivery_pending(dl);
    char *buf;
    if (!pn_delivery_readable(dl) || pn_delivery_partial(dl))
        return;
    buf = malloc(len ? len : 1);
    if (buf && pn_link_recv(l, buf, len) == (ssize_t)len && c->cbs_wait &&
        ag_amqp_cbs_reply(buf, len, c->cbs_id, &c->cbs_status, c->cbs_desc, sizeof c->cbs_desc) ==
            1)
        c->cbs_wait = 0;
    free(buf);
    pn_link_advance(l);
    pn_delivery_update(dl, PN_ACCEPTED);
    pn_delivery_settle(dl);
    pn_link_flow(l, 1);
}

/* The put-token's status as a failure, or 0 when the hub took the token. */
static int amqp_cbs_result(struct amqp_ctx *c)
{
    const char *hp = c->conf.hub.host_port, *d = c->cbs_desc, *sep = *d ? ": " : "";
    int s = c->cbs_status;
    if (s == 200 || s == 202)
        return 0;
    if (s == 401 || s == 403) {
        c->ctr.v[AG_TPC_AUTH_REFUSED]++;
        amqp_fail(c, AG_SEND_RETRY, AG_WHY_AUTH, "amqp:unauthorized-access",
                  "hub %s refused the SAS token for %s (put-token status %d): check %s%s%s", hp,
                  c->conf.audience, s,
                  c->token.fixed ? "the SharedAccessSignature (expired?)"
                                 : "SharedAccessKeyName, SharedAccessKey and the clock",
                  sep, d);
    } else if (s == 404) {
        amqp_fail(c, AG_SEND_REJECT, AG_WHY_REFUSED, "amqp:not-found",
                  "hub %s has no event hub %s (put-token status 404): check EntityPath or the "
                  "hub name%s%s",
                  hp, c->conf.hub.cs.hub, sep, d);
    } else {
        amqp_fail(c, AG_SEND_RETRY, AG_WHY_SERVER, "amqp:internal-error",
                  "hub %s answered the put-token with status %d%s%s", hp, s, sep, d);
    }
    return -1;
}

/* ---- events ------------------------------------------------------------------------------- */

/* A disposition for one of the send's transfers. */
static void amqp_outcome(struct amqp_ctx *c, pn_delivery_t *dl)
{
    uint64_t state = pn_delivery_remote_state(dl);
    uintptr_t ctx = (uintptr_t)pn_delivery_get_context(dl);
    size_t i = (size_t)(ctx & ((1u << AMQP_INDEX_BITS) - 1));
    struct amqp_batch *b = NULL;
    uint8_t o;
    struct amqp_fail f = {0};
    if (!state || !pn_delivery_updated(dl))
        return;
    for (size_t k = 0; k < c->nb && !b; k++) {
        struct amqp_batch *x = &c->bt[(c->head + k) % AMQP_PIPE];
        if ((x->id & ((1u << AMQP_ID_BITS) - 1)) == ctx >> AMQP_INDEX_BITS)
            b = x;
    }
    if (!b || !i || i > b->n || b->out[i - 1] != AG_AMQP_PENDING) {
        pn_delivery_settle(dl); /* not of a batch in flight (cannot be: a failure drops them) */
        return;
    }
    i--;
    if (state == PN_ACCEPTED) {
        o = AG_AMQP_ACCEPTED;
        c->ctr.v[AG_TPC_ACCEPTED]++;
    } else if (state == PN_REJECTED) {
        amqp_condition(c, &f, pn_disposition_condition(pn_delivery_remote(dl)), 1,
                       "rejected the event");
        o = f.result == AG_SEND_REJECT ? AG_AMQP_REFUSED : AG_AMQP_RETRY;
        if (o == AG_AMQP_REFUSED)
            c->ctr.v[AG_TPC_REJECTED]++;
    } else {
        f.set = 1;
        f.result = AG_SEND_RETRY;
        f.why = AG_WHY_SERVER;
        snprintf(f.code, sizeof f.code, "%s",
                 state == PN_RELEASED ? "amqp:released" : "amqp:modified");
        snprintf(f.error, sizeof f.error, "hub %s %s the event without storing it (sent again)",
                 c->conf.hub.host_port, state == PN_RELEASED ? "released" : "modified");
        o = AG_AMQP_RETRY;
    }
    pn_delivery_settle(dl);
    b->out[i] = o;
    b->answered++;
    if (o != AG_AMQP_ACCEPTED && i < b->why_at) {
        b->why_at = i;
        b->why_of = f;
    }
}

/* The transport failed or closed: TLS, SASL or the connection itself. */
static void amqp_transport_error(struct amqp_ctx *c, pn_condition_t *cond)
{
    const char *desc = cond_desc(cond), *hp = c->conf.hub.host_port;
    if (strstr(desc, "SSL Failure")) {
        if (strstr(desc, "certificate verify failed") || strstr(desc, "no name matching"))
            amqp_fail(c, AG_SEND_RETRY, AG_WHY_TLS, "",
                      "TLS: certificate verify failed for host %s: check ca_file (%s) and the "
                      "host name: %s",
                      c->conf.host, c->conf.hub.ca_file ? c->conf.hub.ca_file : "system CAs", desc);
        else
            amqp_fail(c, AG_SEND_RETRY, AG_WHY_TLS, "",
                      "TLS handshake with %s failed: %s: is it a TLS endpoint? (plain AMQP: "
                      "UseDevelopmentEmulator=true)",
                      hp, desc);
    } else if (!strcmp(cond_name(cond), "amqp:unauthorized-access")) {
        amqp_fail(c, AG_SEND_RETRY, AG_WHY_AUTH, "amqp:unauthorized-access",
                  "SASL with %s failed: %s: the hub must offer ANONYMOUS", hp, desc);
    } else if (strstr(desc, "header mismatch")) {
        amqp_fail(c, AG_SEND_RETRY, AG_WHY_NETWORK, "",
                  "%s did not answer in AMQP (%s): is it the hub's AMQP port? (a REST endpoint: "
                  "--transport https)",
                  hp, desc);
    } else if (*desc) {
        amqp_fail(c, AG_SEND_RETRY, AG_WHY_NETWORK, "", "connection to %s lost: %s (%s)", hp, desc,
                  cond_name(cond));
    } else {
        amqp_fail(c, AG_SEND_RETRY, AG_WHY_NETWORK, "", "connection to %s closed", hp);
    }
}

static void amqp_event(struct amqp_ctx *c, pn_event_t *e)
{
    pn_link_t *l = pn_event_link(e);
    switch (pn_event_type(e)) {
    case PN_CONNECTION_REMOTE_OPEN:
        c->ctr.v[AG_TPC_CONNECTS]++;
        break;
    case PN_LINK_REMOTE_OPEN:
        if (l == c->snd && pn_terminus_get_address(pn_link_remote_target(l)))
            c->snd_attached = 1; /* a refused attach comes with no target, then a detach */
        break;
    case PN_DELIVERY: {
        pn_delivery_t *dl = pn_event_delivery(e);
        if (pn_delivery_link(dl) == c->cbs_rcv)
            amqp_cbs_reply(c, dl);
        else if (pn_delivery_link(dl) == c->snd)
            amqp_outcome(c, dl);
        else if (pn_delivery_remote_state(dl)) { /* our put-token's disposition */
            if (pn_delivery_remote_state(dl) == PN_REJECTED && c->cbs_wait) {
                amqp_condition(c, &c->fail, pn_disposition_condition(pn_delivery_remote(dl)), 0,
                               "rejected the put-token");
                c->cbs_wait = 0;
            }
            pn_delivery_settle(dl);
        }
        break;
    }
    case PN_LINK_REMOTE_CLOSE:
    case PN_LINK_REMOTE_DETACH:
        amqp_condition(c, &c->fail, pn_link_remote_condition(l), 0,
                       l == c->snd ? "detached the sender link" : "closed the CBS link");
        break;
    case PN_SESSION_REMOTE_CLOSE:
        amqp_condition(c, &c->fail, pn_session_remote_condition(pn_event_session(e)), 0,
                       "ended the session");
        break;
    case PN_CONNECTION_REMOTE_CLOSE:
        amqp_condition(c, &c->fail, pn_connection_remote_condition(pn_event_connection(e)), 0,
                       "closed the connection");
        break;
    case PN_TRANSPORT_ERROR:
    case PN_TRANSPORT_CLOSED:
        amqp_transport_error(c, pn_transport_condition(pn_event_transport(e)));
        break;
    default:
        break;
    }
}

/* Handle what proton has for us. */
static void amqp_events(struct amqp_ctx *c)
{
    pn_event_t *e;
    while (c->bound && (e = pn_connection_driver_next_event(&c->d)))
        amqp_event(c, e);
}

/* ---- I/O ------------------------------------------------------------------------------------ */

/* Write what proton has to send, as far as the socket takes it. */
static void amqp_write(struct amqp_ctx *c)
{
    for (;;) {
        pn_bytes_t wb = pn_connection_driver_write_buffer(&c->d);
        ssize_t k;
        if (!wb.size)
            return;
        k = send(c->fd, wb.start, wb.size, MSG_NOSIGNAL);
        if (k > 0) {
            pn_connection_driver_write_done(&c->d, (size_t)k);
            continue;
        }
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        amqp_fail(c, AG_SEND_RETRY, AG_WHY_NETWORK, "", "connection to %s lost: %s",
                  c->conf.hub.host_port, k < 0 ? strerror(errno) : "closed");
        pn_connection_driver_write_close(&c->d);
        return;
    }
}

/* Read what the socket has (until it would block). */
static void amqp_read(struct amqp_ctx *c)
{
    for (int i = 0; i < 64; i++) {
        pn_rwbytes_t rb = pn_connection_driver_read_buffer(&c->d);
        ssize_t k;
        if (!rb.size)
            return;
        k = recv(c->fd, rb.start, rb.size, 0);
        if (k > 0) {
            pn_connection_driver_read_done(&c->d, (size_t)k);
            c->rx_bytes += (uint64_t)k;
            continue;
        }
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (k < 0)
            amqp_fail(c, AG_SEND_RETRY, AG_WHY_NETWORK, "", "connection to %s lost: %s",
                      c->conf.hub.host_port, strerror(errno));
        pn_connection_driver_read_close(&c->d);
        return;
    }
}

/*
 * One round of I/O: hand proton's output to the socket, wait for the socket at most until
 * deadline (not at all when deadline <= now), read, tick (heartbeats, idle timeouts), and handle
 * the events. Returns 0, or -1 when the connection is over (c->fail set).
 */
static int amqp_pump(struct amqp_ctx *c, int64_t deadline)
{
    struct pollfd p = {.fd = c->fd};
    int64_t now = now_ms(), wait;
    amqp_events(c);
    if (pn_connection_driver_finished(&c->d))
        goto out_over;
    amqp_write(c);
    wait = deadline - now;
    if (c->tick_ms && c->tick_ms - now < wait)
        wait = c->tick_ms - now;
    if (wait < 0)
        wait = 0;
    p.events = (short)((pn_connection_driver_read_buffer(&c->d).size ? POLLIN : 0) |
                       (pn_connection_driver_write_buffer(&c->d).size ? POLLOUT : 0));
    if (poll(&p, 1, (int)wait) > 0) {
        if (p.revents & (POLLIN | POLLHUP | POLLERR))
            amqp_read(c);
        if (p.revents & POLLOUT)
            amqp_write(c);
    }
    now = now_ms();
    c->tick_ms = pn_transport_tick(c->d.transport, now);
    amqp_events(c);
    amqp_write(c);
    if (!pn_connection_driver_finished(&c->d))
        return 0;
out_over:
    if (!c->fail.set)
        amqp_fail(c, AG_SEND_RETRY, AG_WHY_NETWORK, "", "connection to %s closed",
                  c->conf.hub.host_port);
    return -1;
}

/* Pump until done(c) or a failure or the deadline (a timeout failure, about what). */
static int amqp_wait(struct amqp_ctx *c, int64_t deadline, int (*done)(struct amqp_ctx *),
                     const char *what)
{
    while (!done(c)) {
        if (c->fail.set || amqp_pump(c, deadline))
            return -1;
        if (!done(c) && now_ms() >= deadline) {
            if (!c->rx_bytes)
                amqp_fail(c, AG_SEND_RETRY, AG_WHY_NETWORK, "",
                          "no AMQP answer from %s (%s): is it the hub's AMQP port? (a REST "
                          "endpoint: --transport https)",
                          c->conf.hub.host_port, what);
            else
                amqp_fail(c, AG_SEND_RETRY, AG_WHY_NETWORK, "",
                          "timeout talking to %s (%s): is the hub reachable? (connect_timeout, "
                          "timeout)",
                          c->conf.hub.host_port, what);
            return -1;
        }
    }
    return c->fail.set ? -1 : 0;
}

static int cbs_answered(struct amqp_ctx *c)
{
    return !c->cbs_wait;
}

static int snd_attached(struct amqp_ctx *c)
{
    return c->snd_attached;
}

/* Renew the token on the live CBS link: a put-token and its reply, within deadline. */
static int amqp_renew_live(struct amqp_ctx *c, int64_t deadline)
{
    int rc = ag_hub_token_renew(&c->token, &c->conf.hub);
    if (rc) {
        amqp_fail(c, AG_SEND_RETRY, AG_WHY_INTERNAL, "", "cannot renew the SAS token: %s",
                  hc_strerror(rc));
        return -1;
    }
    c->ctr.v[AG_TPC_TOKENS]++;
    if (amqp_put_token(c) || amqp_wait(c, deadline, cbs_answered, "renewing the token"))
        return -1;
    return amqp_cbs_result(c);
}

/* Connect, authorize (CBS) and attach the sender, within deadline. */
static int amqp_connect(struct amqp_ctx *c, int64_t deadline)
{
    memset(&c->fail, 0, sizeof c->fail);
    c->fd = amqp_tcp(c, deadline);
    if (c->fd < 0)
        return -1;
    if (amqp_bind(c)) {
        amqp_fail(c, AG_SEND_RETRY, AG_WHY_INTERNAL, "", "out of memory connecting to %s",
                  c->conf.hub.host_port);
        return -1;
    }
    c->state = A_AUTHORIZING;
    if (amqp_put_token(c) || amqp_wait(c, deadline, cbs_answered, "authorizing with CBS") ||
        amqp_cbs_result(c))
        return -1;
    c->state = A_ATTACHING;
    c->snd = pn_sender(c->ssn, c->sender_name);
    pn_terminus_set_address(pn_link_target(c->snd), c->conf.hub.cs.hub);
    pn_terminus_set_address(pn_link_source(c->snd), c->sender_name);
    pn_link_set_snd_settle_mode(c->snd, PN_SND_UNSETTLED);
    pn_link_set_rcv_settle_mode(c->snd, PN_RCV_FIRST);
    pn_link_open(c->snd);
    if (amqp_wait(c, deadline, snd_attached, "attaching the sender link"))
        return -1;
    c->remote_max = (size_t)pn_link_remote_max_message_size(c->snd);
    c->state = A_READY;
    return 0;
}

/* ---- the transport -------------------------------------------------------------------------- */

static void amqp_close(void *ctx)
{
    struct amqp_ctx *c = ctx;
    if (!c)
        return;
    if (c->state != A_DOWN && !c->fail.set) {
        /* a clean close: the hub sees the links and the connection end */
        pn_connection_close(c->d.connection);
        for (int64_t end = now_ms() + 200;
             !pn_connection_driver_finished(&c->d) && now_ms() < end && !amqp_pump(c, end);)
            ;
    }
    amqp_drop(c);
    if (c->ssl_domain)
        pn_ssl_domain_free(c->ssl_domain);
    ag_hub_token_free(&c->token);
    hc_buf_free(&c->enc);
    for (int i = 0; i < AMQP_PIPE; i++)
        free(c->bt[i].out);
    ag_amqp_conf_free(&c->conf);
    free(c);
}

/* ag_hub_conf_apply's view of c->conf. */
static int amqp_conf_set_kv(void *k, const char *key, const char *value, const char **why)
{
    return ag_amqp_conf_set(k, key, value, why);
}

static int amqp_conf_finish_kv(void *k, const char **why)
{
    return ag_amqp_conf_finish(k, why);
}

/* Settings into c->conf; on failure a message in err. */
static int amqp_configure(struct amqp_ctx *c, const struct ag_kv *conf, size_t n, char *err,
                          size_t errlen)
{
    ag_amqp_conf_default(&c->conf);
    return ag_hub_conf_apply(&c->conf, &c->conf.hub, amqp_conf_set_kv, amqp_conf_finish_kv, conf, n,
                             err, errlen);
}

static int amqp_init(const struct ag_kv *conf, size_t n, void *arg, void **out, char *err,
                     size_t errlen)
{
    struct amqp_ctx *c;
    struct hc_rng rng;
    uint8_t id[16];
    int rc;
    (void)arg;
    *out = NULL;
    if (errlen)
        err[0] = '\0';
    if (!(c = calloc(1, sizeof *c))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    c->fd = -1;
    rc = amqp_configure(c, conf, n, err, errlen);
    if (rc)
        goto out_close;
    if (c->conf.tls && !(c->ssl_domain = amqp_ssl_domain(&c->conf, err, errlen))) {
        rc = HC_E_INVAL;
        goto out_close;
    }
    hc_rng_seed_random(&rng);
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t)hc_rng_next(&rng);
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x40); /* a version 4 UUID */
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
    hc_uuid_format(id, c->container);
    snprintf(c->sender_name, sizeof c->sender_name, "hubcap-sender-%.8s", c->container);
    snprintf(c->reply_name, sizeof c->reply_name, "cbs-reply-%.8s", c->container);
    rc = ag_hub_token_init(&c->token, &c->conf.hub, c->conf.audience);
    if (rc) {
        snprintf(err, errlen, "cannot make the SAS token: %s", hc_strerror(rc));
        goto out_close;
    }
    *out = c;
    return 0;
out_close:
    amqp_close(c);
    return rc;
}

static size_t amqp_max_event(const struct amqp_ctx *c)
{
    size_t cap = (size_t)c->conf.hub.max_batch_bytes;
    return c->remote_max && c->remote_max < cap ? c->remote_max : cap;
}

/* Refuse record i of b here: as an AMQP message it is over the hub's max-message-size. */
static void amqp_too_big(struct amqp_ctx *c, struct amqp_batch *b, size_t i, size_t len)
{
    b->out[i] = AG_AMQP_REFUSED;
    b->answered++;
    c->ctr.v[AG_TPC_REJECTED]++;
    if (i > b->why_at)
        return;
    b->why_at = i;
    memset(&b->why_of, 0, sizeof b->why_of);
    snprintf(b->why_of.code, sizeof b->why_of.code, "amqp:link:message-size-exceeded");
    snprintf(b->why_of.error, sizeof b->why_of.error,
             "the event is %zu bytes as an AMQP message, over the hub's limit of %zu "
             "(max-message-size)",
             len, amqp_max_event(c));
}

/* Transfer the records not sent yet, oldest batch first, while the link has credit. */
static void amqp_transfer(struct amqp_ctx *c)
{
    for (size_t k = 0; k < c->nb && c->state == A_READY && !c->fail.set; k++) {
        struct amqp_batch *b = &c->bt[(c->head + k) % AMQP_PIPE];
        while (b->next < b->n && pn_link_credit(c->snd) > 0) {
            size_t i = b->next++;
            uint64_t tag = ++c->tag;
            uintptr_t ctx =
                (uintptr_t)(((b->id & ((1u << AMQP_ID_BITS) - 1)) << AMQP_INDEX_BITS) | (i + 1));
            pn_delivery_t *dl;
            hc_buf_reset(&c->enc);
            if (ag_amqp_message_encode(b->recs[i], &c->enc)) {
                amqp_fail(c, AG_SEND_RETRY, AG_WHY_INTERNAL, "", "out of memory encoding an event");
                return;
            }
            if (c->enc.len > amqp_max_event(c)) { /* the hub would refuse it */
                amqp_too_big(c, b, i, c->enc.len);
                continue;
            }
            dl = pn_delivery(c->snd, pn_dtag((const char *)&tag, sizeof tag));
            pn_delivery_set_context(dl, (void *)ctx);
            pn_link_send(c->snd, c->enc.p, c->enc.len);
            pn_link_advance(c->snd);
            c->ctr.v[AG_TPC_REQUESTS]++;
            c->ctr.v[AG_TPC_BYTES] += c->enc.len;
        }
        if (b->next < b->n)
            return; /* no credit: the later batches wait their turn */
    }
}

/* Fill st from the outcomes of b (and the connection's failure, when it failed). */
static void amqp_report(struct amqp_ctx *c, struct amqp_batch *b, struct ag_send_status *st)
{
    const struct amqp_fail *f;
    if (ag_amqp_summarize(b->out, b->n, st) == AG_SEND_OK)
        return;
    /* the first record not accepted: its own reason, or the connection's */
    f = b->why_at == st->acked ? &b->why_of : &c->fail;
    if (!f->set && !f->code[0] && !f->error[0])
        f = &c->fail;
    if (st->result == AG_SEND_RETRY) {
        st->why = f->set ? f->why : AG_WHY_NETWORK;
        if (f->set && f->result == AG_SEND_REJECT) /* a refusal of the whole: the hub's word */
            st->result = AG_SEND_REJECT, st->why = f->why;
    }
    snprintf(st->code, sizeof st->code, "%s", f->code);
    snprintf(st->error, sizeof st->error, "%s",
             f->error[0] ? f->error : "no answer from the hub (sent again)");
    for (size_t i = st->acked; i < b->n; i++)
        if (b->out[i] != AG_AMQP_REFUSED)
            c->ctr.v[AG_TPC_RETRIED]++;
}

/* The connection for the first batch in flight: found dead (closed by the hub while idle: nothing
 * was sent on it) it is made again; a token near its end is renewed first. */
static void amqp_ready(struct amqp_ctx *c, int64_t deadline)
{
    int64_t connect_by = now_ms() + c->conf.hub.connect_timeout_ms;
    if (connect_by > deadline)
        connect_by = deadline;
    if (c->state == A_READY && (amqp_pump(c, 0) || c->fail.set)) {
        amqp_drop(c);
        memset(&c->fail, 0, sizeof c->fail);
    }
    if (c->state == A_READY && ag_hub_token_due(&c->token, &c->conf.hub, hc_now_ms()))
        amqp_renew_live(c, connect_by);
    if (c->state != A_READY && !c->fail.set)
        amqp_connect(c, connect_by);
}

static void amqp_begin(void *ctx, const struct ag_record *const *recs, size_t n)
{
    struct amqp_ctx *c = ctx;
    struct amqp_batch *b = &c->bt[(c->head + c->nb) % AMQP_PIPE];
    if (c->nb == AMQP_PIPE) { /* the shipper keeps to max_in_flight: cannot be */
        amqp_fail(c, AG_SEND_RETRY, AG_WHY_INTERNAL, "", "amqp: over %d batches in flight",
                  AMQP_PIPE);
        return;
    }
    if (n > b->cap) {
        uint8_t *o = realloc(b->out, n);
        if (!o) {
            amqp_fail(c, AG_SEND_RETRY, AG_WHY_INTERNAL, "", "out of memory for %zu events", n);
            n = 0;
        } else {
            b->out = o;
            b->cap = n;
        }
    }
    if (n)
        memset(b->out, 0, n);
    b->recs = recs;
    b->n = n;
    b->next = b->answered = 0;
    b->why_at = (size_t)-1;
    memset(&b->why_of, 0, sizeof b->why_of);
    b->id = ++c->batch_ids;
    b->deadline = now_ms() + c->conf.hub.timeout_ms;
    c->nb++;
    if (c->nb == 1 && !c->fail.set)
        amqp_ready(c, b->deadline);
    amqp_transfer(c);
    if (c->state == A_READY && !c->fail.set)
        amqp_write(c); /* on the wire now; the answers are read by end */
}

static int oldest_answered(struct amqp_ctx *c)
{
    const struct amqp_batch *b = &c->bt[c->head];
    return b->answered == b->n;
}

static enum ag_send_result amqp_end(void *ctx, struct ag_send_status *st)
{
    struct amqp_ctx *c = ctx;
    struct amqp_batch *b = &c->bt[c->head];
    ag_send_status_reset(st);
    if (!c->nb) {
        snprintf(st->error, sizeof st->error, "amqp: no batch in flight");
        return st->result;
    }
    if (!b->n && !c->fail.set)
        amqp_fail(c, AG_SEND_RETRY, AG_WHY_INTERNAL, "", "amqp: an empty batch");
    while (!c->fail.set && !oldest_answered(c)) {
        amqp_transfer(c);
        if (oldest_answered(c) || c->fail.set || amqp_pump(c, b->deadline))
            break;
        if (now_ms() >= b->deadline && !oldest_answered(c))
            amqp_fail(c, AG_SEND_RETRY, AG_WHY_NETWORK, "",
                      "timeout: the hub %s answered %zu of %zu events in %llds (timeout)",
                      c->conf.hub.host_port, b->answered, b->n,
                      (long long)(c->conf.hub.timeout_ms / 1000));
    }
    amqp_report(c, b, st);
    c->head = (c->head + 1) % AMQP_PIPE;
    c->nb--;
    if (c->fail.set && !c->nb) { /* the later batches hear of the failure in their turn */
        amqp_drop(c);
        memset(&c->fail, 0, sizeof c->fail);
    }
    return st->result;
}

static void amqp_abort(void *ctx)
{
    struct amqp_ctx *c = ctx;
    if (c->nb) /* their transfers are on the link: only a new connection forgets them */
        c->fail.set = 1;
    c->nb = 0;
    if (c->fail.set)
        amqp_drop(c);
    memset(&c->fail, 0, sizeof c->fail);
}

static enum ag_send_result amqp_send(void *ctx, const struct ag_record *const *recs, size_t n,
                                     struct ag_send_status *st)
{
    amqp_begin(ctx, recs, n);
    return amqp_end(ctx, st);
}

static int amqp_renew_auth(void *ctx)
{
    struct amqp_ctx *c = ctx;
    int64_t deadline = now_ms() + c->conf.hub.connect_timeout_ms;
    if (c->token.fixed)
        return HC_E_AUTH;
    if (c->state != A_READY || c->nb) {
        int rc = ag_hub_token_renew(&c->token, &c->conf.hub);
        if (!rc)
            c->ctr.v[AG_TPC_TOKENS]++;
        return rc;
    }
    if (amqp_renew_live(c, deadline))
        amqp_drop(c); /* the next send connects with the new token */
    memset(&c->fail, 0, sizeof c->fail);
    return 0;
}

static void amqp_idle(void *ctx)
{
    struct amqp_ctx *c = ctx;
    int64_t now = now_ms();
    if (c->state != A_READY || c->nb || now - c->idle_at_ms < AMQP_IDLE_EVERY_MS)
        return;
    c->idle_at_ms = now;
    if (!amqp_pump(c, 0) && !c->fail.set && ag_hub_token_due(&c->token, &c->conf.hub, hc_now_ms()))
        amqp_renew_live(c, now + c->conf.hub.connect_timeout_ms);
    if (c->fail.set)
        amqp_drop(c);
    memset(&c->fail, 0, sizeof c->fail);
}

static int amqp_format(void *ctx, const struct ag_record *const *recs, size_t n, struct hc_buf *out)
{
    size_t start = out->len;
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        if (ag_amqp_message_encode(recs[i], out)) {
            out->len = start;
            if (out->p)
                out->p[start] = '\0';
            return -ENOMEM;
        }
    }
    return 0;
}

static size_t amqp_record_size(void *ctx, const struct ag_record *rec)
{
    (void)ctx;
    return ag_amqp_message_size(rec);
}

static void amqp_limits(void *ctx, struct ag_transport_limits *lim)
{
    const struct amqp_ctx *c = ctx;
    lim->batch_overhead = 0;
    lim->max_batch_bytes = (size_t)c->conf.hub.max_batch_bytes;
    lim->max_event_bytes = amqp_max_event(c);
    lim->max_batch_events = 0;
    lim->max_in_flight = AMQP_PIPE;
}

static void amqp_counters(void *ctx, struct ag_transport_counters *out)
{
    const struct amqp_ctx *c = ctx;
    *out = c->ctr;
}

const struct ag_transport ag_transport_amqp = {
    .name = "amqp",
    .init = amqp_init,
    .send = amqp_send,
    .close = amqp_close,
    .format = amqp_format,
    .record_size = amqp_record_size,
    .renew_auth = amqp_renew_auth,
    .limits = amqp_limits,
    .idle = amqp_idle,
    .counters = amqp_counters,
    .begin = amqp_begin,
    .end = amqp_end,
    .abort = amqp_abort,
};
