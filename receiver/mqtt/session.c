/*
 * session.c - one subscriber connection of the MQTT front end (mqtt_int.h): TCP connect, the
 * TLS handshake for mqtts:// (tls.c), CONNECT (persistent session), SUBSCRIBE at QoS 1, then poll()
 * on the socket and the eventfd: PUBLISHes into batches (mqtt.c), PUBACKs out as their fsyncs
 * complete, PINGREQ at half the keep-alive. A failure (refused, EOF, a malformed packet, no
 * PINGRESP, a send not written) ends the connection (counted by kind: network, tls, refused); the
 * thread backs off (100 ms doubling to 5 s) and connects again. On stop it reads no more, waits for
 * the core's answers (drain), acknowledges, DISCONNECTs. Errors are logged here, once per event,
 * with the broker's address.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hctime.h"
#include "common/log.h"
#include "receiver/mqtt/mqtt_int.h"

/* ---- the connection ------------------------------------------------------------------------ */

/* A TCP connection to host:port within timeout_ms, non-blocking. Returns the fd or -errno. */
static int tcp_connect(const char *host, int port, int64_t timeout_ms)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
    char ps[16];
    int fd = -1, err = -ECONNREFUSED, one = 1;
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &res))
        return -EHOSTUNREACH;
    for (ai = res; ai; ai = ai->ai_next) {
        struct pollfd pfd;
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
            err = -errno;
            goto next;
        }
        pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
        if (poll(&pfd, 1, (int)timeout_ms) != 1) {
            err = -ETIMEDOUT;
            goto next;
        }
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (!soerr) {
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            freeaddrinfo(res);
            return fd;
        }
        err = -soerr;
    next:
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return err;
}

static int send_connect(struct mq_conn *c)
{
    const struct rx_mqtt_conf *m = &c->f->conf;
    struct rx_mq_connect k = {.version = m->version,
                              .client_id = c->client_id,
                              .username = m->username[0] ? m->username : NULL,
                              .password = m->password[0] ? m->password : NULL,
                              .keepalive_s = (unsigned)(m->keepalive_ms / 1000),
                              .clean = 0,
                              .session_expiry_s = 0xFFFFFFFFu,
                              .receive_maximum = 65535};
    return rx_mq_connect(&c->w, &k);
}

static int send_subscribe(struct mq_conn *c)
{
    const struct rx_mqtt_conf *m = &c->f->conf;
    char f[600];
    int n = m->connections > 1 ? snprintf(f, sizeof f, "$share/hubcap/%s", m->topic)
                               : snprintf(f, sizeof f, "%s", m->topic);
    c->sub_id = (uint16_t)(c->sub_id % 65535 + 1);
    return rx_mq_subscribe(&c->w, m->version, c->sub_id, f, (size_t)n);
}

/* A packet other than PUBLISH. Returns 0 or -1 (drop the connection). */
static int on_control(struct mq_conn *c, const struct rx_mq_packet *p)
{
    const struct rx_mqtt_conf *m = &c->f->conf;
    switch (p->type) {
    case RX_MQ_CONNACK:
        if (p->code) {
            atomic_fetch_add(&c->f->connect_errors[CE_REFUSED], 1);
            hc_error("mqtt: %s:%d refused %s: CONNACK %d%s", m->host, m->port, c->client_id,
                     p->code,
                     p->code == 4 || p->code == 5 || p->code == 0x86 || p->code == 0x87
                         ? " (check username and password)"
                         : "");
            return -1;
        }
        hc_info("mqtt: %s connected to %s:%d (%s session)", c->client_id, m->host, m->port,
                p->session_present ? "resumed" : "new");
        atomic_fetch_add(&c->f->connects, 1);
        atomic_fetch_add(&c->f->connected, 1);
        c->running = 1;
        return send_subscribe(c) ? -1 : 0;
    case RX_MQ_SUBACK:
        if (p->code >= 0x80) {
            atomic_fetch_add(&c->f->connect_errors[CE_REFUSED], 1);
            hc_error("mqtt: %s:%d refused the subscription to %s (code 0x%02x: the ACL?)", m->host,
                     m->port, m->topic, p->code);
            return -1;
        }
        return 0;
    case RX_MQ_PINGRESP:
        c->ping_at = 0;
        return 0;
    case RX_MQ_DISCONNECT:
        hc_warn("mqtt: %s:%d disconnected %s (reason 0x%02x)", m->host, m->port, c->client_id,
                p->code);
        return -1;
    default:
        return 0; /* PUBACK: we publish nothing */
    }
}

/* Parse and take what rb holds. Returns 0 or -1 (drop the connection). */
static int take_input(struct mq_conn *c)
{
    size_t off = 0;
    while (off < c->rlen) {
        struct rx_mq_packet p;
        size_t need = 0, have = c->rlen - off;
        int r;
        if (c->skip) {
            size_t k = c->skip < have ? c->skip : have;
            c->skip -= k;
            off += k;
            continue;
        }
        r = rx_mq_parse(c->rb + off, have, c->f->conf.version, c->f->max_packet, &p, &need);
        if (r == HC_E_TOOBIG) {
            if (p.qos && !p.code && have < MQ_TOPIC_MAX + 8)
                break; /* its packet id is not in yet */
            rx_mq__reject(c, REJ_TOO_LARGE, &p);
            if (p.qos && rx_mq__ring_push(c, p.packet_id, NULL))
                return -1;
            c->skip = p.len;
            continue;
        }
        if (r < 0) {
            hc_error("mqtt: %s: a malformed packet from the broker: reconnecting", c->client_id);
            return -1;
        }
        if (r == 0) {
            if (need > c->rsize) {
                uint8_t *nb = realloc(c->rb, need);
                if (!nb)
                    return -1;
                c->rb = nb;
                c->rsize = need;
            }
            break;
        }
        if (p.type == RX_MQ_PUBLISH ? rx_mq__on_publish(c, &p) : on_control(c, &p))
            return -1;
        off += (size_t)r;
    }
    memmove(c->rb, c->rb + off, c->rlen - off);
    c->rlen -= off;
    if (c->running && !c->fatal)
        rx_mq__ring_flush(c, 1); /* refused messages at the head: acknowledged now */
    return rx_mq__submit(c);
}

/* Read what the socket has. Returns 0, or -1 on EOF or an error. */
static int read_input(struct mq_conn *c)
{
    for (int rounds = 0; rounds < 8; rounds++) {
        ssize_t n;
        if (c->rlen == c->rsize) {
            size_t ns = c->rsize * 2;
            uint8_t *nb = realloc(c->rb, ns);
            if (!nb)
                return -1;
            c->rb = nb;
            c->rsize = ns;
        }
        n = rx_mq__io_read(c, c->rb + c->rlen, c->rsize - c->rlen);
        if (n == 0)
            return -1;
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        c->rlen += (size_t)n;
        if (take_input(c))
            return -1;
        if (c->held)
            return 0; /* over the budget: read on once sends finish */
    }
    return 0;
}

static int write_output(struct mq_conn *c)
{
    while (c->woff < c->w.len) {
        ssize_t n = rx_mq__io_write(c, c->w.p + c->woff, c->w.len - c->woff);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        c->woff += (size_t)n;
        c->last_tx = hc_mono_ns() / 1000000;
    }
    hc_buf_reset(&c->w);
    c->woff = 0;
    return 0;
}

/* Forget the connection: its queue unacknowledged, the batches not handed over dropped. */
static void conn_reset(struct mq_conn *c)
{
    struct mq_batch *keep[2] = {c->cur, c->held};
    rx_mq__tls_close(c, 0);
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
        if (c->running) {
            atomic_fetch_add(&c->f->disconnects, 1);
            atomic_fetch_sub(&c->f->connected, 1);
        }
    }
    c->running = c->fatal = 0;
    c->cur = c->held = NULL;
    for (int i = 0; i < 2; i++)
        if (keep[i])
            keep[i]->done = 1; /* never submitted */
    rx_mq__ring_flush(c, 0);
    for (int i = 0; i < 2; i++)
        if (keep[i] && !keep[i]->refs)
            rx_mq__batch_free(keep[i]);
    c->rlen = c->skip = 0;
    hc_buf_reset(&c->w);
    c->woff = 0;
    c->ping_at = 0;
}

/* Keep-alive: a PINGREQ when nothing went out for half of it; no answer in a whole: dead. */
static int keepalive(struct mq_conn *c, int64_t now)
{
    int64_t ka = c->f->conf.keepalive_ms;
    if (c->ping_at && now - c->ping_at > ka) {
        hc_warn("mqtt: %s: no PINGRESP in %llds: reconnecting", c->client_id,
                (long long)(ka / 1000));
        return -1;
    }
    if (!c->ping_at && now - c->last_tx >= ka / 2) {
        c->ping_at = now;
        return rx_mq_pingreq(&c->w) ? -1 : 0;
    }
    return 0;
}

/*
 * One connection from connect to its end: 0 when it ended by the stop (drained), -1 on a
 * failure (the caller backs off and connects again).
 */
static int session(struct mq_conn *c)
{
    const struct rx_mqtt_conf *m = &c->f->conf;
    int64_t start = hc_mono_ns() / 1000000, drain_end = 0;
    int fd = tcp_connect(m->host, m->port, MQ_HANDSHAKE_MS);
    if (fd < 0) {
        atomic_fetch_add(&c->f->connect_errors[CE_NETWORK], 1);
        hc_warn("mqtt: cannot connect to %s:%d: %s", m->host, m->port, strerror(-fd));
        return -1;
    }
    c->fd = fd;
    c->last_tx = start;
    if (c->f->ssl_ctx && rx_mq__tls_handshake(c, start + MQ_HANDSHAKE_MS))
        return -1;
    if (send_connect(c))
        return -1;
    for (;;) {
        int64_t now = hc_mono_ns() / 1000000;
        int stopping = atomic_load(&c->f->stop);
        struct pollfd pf[2] = {{.fd = c->fd}, {.fd = c->evfd, .events = POLLIN}};
        if (stopping && !drain_end)
            drain_end = now + c->f->drain_ms;
        if (stopping && ((!c->inflight && c->w.len == c->woff) || now > drain_end)) {
            rx_mq_disconnect(&c->w);
            write_output(c);
            rx_mq__tls_close(c, 1);
            return 0;
        }
        if (!c->running && now - start > MQ_HANDSHAKE_MS) {
            hc_warn("mqtt: %s:%d: no CONNACK in %ds", m->host, m->port, MQ_HANDSHAKE_MS / 1000);
            return -1;
        }
        if (c->fatal || (c->running && keepalive(c, now)) || (c->held && rx_mq__submit(c)))
            return -1;
        /* TLS: decrypted bytes already in the session are not the socket's to announce */
        int reading = !stopping && !c->held, pending = reading && rx_mq__io_pending(c);
        pf[0].events = (short)((reading ? POLLIN : 0) |
                               (c->w.len > c->woff || c->tls_want_write ? POLLOUT : 0));
        if (poll(pf, 2, pending ? 0 : c->held ? 10 : 100) < 0 && errno != EINTR)
            return -1;
        if (pf[1].revents & POLLIN)
            rx_mq__take_done(c);
        if (c->fatal)
            return -1;
        if ((pf[0].revents & (POLLERR | POLLHUP)) && !(pf[0].revents & POLLIN))
            return -1;
        if (reading &&
            (pending || (pf[0].revents & POLLIN) ||
             (c->tls_want_write && (pf[0].revents & POLLOUT))) &&
            read_input(c))
            return -1;
        if (c->w.len > c->woff && write_output(c))
            return -1;
    }
}

void *rx_mq__conn_main(void *arg)
{
    struct mq_conn *c = arg;
    int64_t backoff = 100;
    while (!atomic_load(&c->f->stop)) {
        int rc = session(c);
        if (c->running)
            backoff = 100;
        conn_reset(c);
        if (!rc)
            break;
        for (int64_t t = 0; t < backoff && !atomic_load(&c->f->stop); t += 20) {
            struct pollfd pf = {.fd = c->evfd, .events = POLLIN};
            if (poll(&pf, 1, 20) > 0)
                rx_mq__take_done(c);
        }
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    /* stopped while disconnected: wait for the core's answers, to free the batches */
    for (int64_t t = 0; c->inflight && t < c->f->drain_ms; t += 20) {
        struct pollfd pf = {.fd = c->evfd, .events = POLLIN};
        if (poll(&pf, 1, 20) > 0)
            rx_mq__take_done(c);
    }
    return NULL;
}
