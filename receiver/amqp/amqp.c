#include "receiver/amqp/amqp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hctime.h"
#include "common/log.h"
#include "receiver/amqp/amqp_int.h"
#include "receiver/rest/rest.h"

void rx_amqp__count(struct rx_amqp *a, enum rx_amqp_ctr k)
{
    atomic_fetch_add_explicit(&a->ctr[k], 1, memory_order_relaxed);
}

/* ---- Listeners ------------------------------------------------------------------------------ */

/* A listening socket on addr:port; returns it, or -errno. *bound gets the port. */
static int listen_on(const char *addr, int port, int *bound)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    int fd, one = 1, v6 = strchr(addr, ':') != NULL;
    if (v6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
            return -EINVAL;
        len = sizeof *s6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
            return -EINVAL;
        len = sizeof *s4;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 512)) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                            : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* Accept what listener i has; each connection is this loop's. */
static void loop_accept(struct rx_amqp_loop *l, int i)
{
    struct rx_amqp *a = l->a;
    for (int k = 0; k < 64; k++) {
        int one = 1;
        struct sockaddr_storage sa;
        socklen_t salen = sizeof sa;
        int fd = accept4(a->lfd[i], (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN (another loop took it), EMFILE...: the next wake-up tries again */
        if (a->lkind[i] == RX_L_SHARED) {
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            rx_amqp__sniff_new(l, fd, (struct sockaddr *)&sa, salen);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (atomic_load(&a->nconns) >= a->c->amqp.connection_limit || atomic_load(&a->stopping)) {
            rx_amqp__conn_refuse(l, fd, a->lkind[i] == RX_L_TLS);
            continue;
        }
        if (!rx_amqp__conn_new(l, fd, a->lkind[i] == RX_L_TLS))
            close(fd);
    }
}

/* ---- Loops ---------------------------------------------------------------------------------- */

void rx_amqp__loop_wake(struct rx_amqp_loop *l)
{
    uint64_t one = 1;
    ssize_t rc = write(l->efd, &one, sizeof one);
    (void)rc; /* the counter is full only when a wake-up is pending anyway */
}

/* Settle what the core finished. */
static void loop_settle(struct rx_amqp_loop *l)
{
    struct rx_amqp_dlv *d, *next;
    uint64_t n;
    if (read(l->efd, &n, sizeof n) < 0 && errno != EAGAIN)
        hc_warn("amqp: eventfd: %s", strerror(errno));
    pthread_mutex_lock(&l->mu);
    d = l->done;
    l->done = NULL;
    pthread_mutex_unlock(&l->mu);
    /* the list is newest first: settle in the order they finished */
    struct rx_amqp_dlv *rev = NULL;
    for (; d; d = next) {
        next = d->next;
        d->next = rev;
        rev = d;
    }
    for (d = rev; d; d = next) {
        next = d->next;
        rx_amqp__settle(d);
    }
    for (struct rx_amqp_conn *c = l->conns; c;) {
        struct rx_amqp_conn *cn = c->next;
        if (c->reread) { /* TLS records read but not decrypted yet: the socket will not say */
            c->reread = 0;
            rx_amqp__conn_io(c, EPOLLIN);
            if (c->gone) {
                c = cn;
                continue;
            }
        }
        if (rx_amqp__consumers(c) || c->dirty) {
            c->dirty = 0;
            rx_amqp__conn_flush(c);
        }
        c = cn;
    }
}

static void loop_unlisten(struct rx_amqp_loop *l)
{
    if (!l->listening)
        return;
    for (int i = 0; i < l->a->nl; i++)
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->a->lfd[i], NULL);
    l->listening = 0;
}

static void loop_tick(struct rx_amqp_loop *l, int64_t now)
{
    struct rx_amqp_conn *c = l->conns;
    while (c) {
        struct rx_amqp_conn *next = c->next;
        rx_amqp__conn_tick(c, now);
        c = next;
    }
}

static void loop_stop_conns(struct rx_amqp_loop *l, int force)
{
    struct rx_amqp_conn *c = l->conns;
    while (c) {
        struct rx_amqp_conn *next = c->next;
        rx_amqp__conn_stop(c, force);
        c = next;
    }
}

static void *loop_main(void *arg)
{
    struct rx_amqp_loop *l = arg;
    struct rx_amqp *a = l->a;
    struct epoll_event ev[64];
    int64_t next_tick = hc_now_ms() + RX_AMQP_TICK_MS, stop_at = 0;
    for (;;) {
        int64_t now = hc_now_ms();
        int n = epoll_wait(l->epfd, ev, 64, (int)(next_tick > now ? next_tick - now : 0));
        for (int i = 0; i < n; i++) {
            struct rx_amqp_fd *f = ev[i].data.ptr;
            if (f->kind == RX_FD_LISTEN)
                loop_accept(l, f->idx);
            else if (f->kind == RX_FD_WAKE)
                loop_settle(l);
            else if (f->kind == RX_FD_SNIFF)
                rx_amqp__sniff_io((struct rx_amqp_sniff *)f);
            else
                rx_amqp__conn_io((struct rx_amqp_conn *)f, ev[i].events);
        }
        rx_amqp__conn_bury(l);
        now = hc_now_ms();
        if (now >= next_tick) {
            loop_tick(l, now);
            rx_amqp__sniff_tick(l, now);
            next_tick = now + RX_AMQP_TICK_MS;
        }
        if (atomic_load(&a->stopping)) {
            if (!stop_at) {
                stop_at = now + atomic_load(&a->stopping);
                loop_unlisten(l);
            }
            loop_stop_conns(l, now >= stop_at);
            if (!l->conns || now >= stop_at + 1000)
                break;
        }
    }
    while (l->conns)
        rx_amqp__conn_abandon(l->conns);
    rx_amqp__sniff_close_all(l);
    rx_amqp__conn_bury(l);
    pthread_mutex_lock(&l->mu);
    l->dead = 1;
    pthread_mutex_unlock(&l->mu);
    loop_settle(l); /* what came before dead was set: released, the connections are gone */
    rx_amqp__conn_bury(l);
    return NULL;
}

static int loop_init(struct rx_amqp *a, struct rx_amqp_loop *l)
{
    struct epoll_event ev = {.events = EPOLLIN};
    l->a = a;
    l->wake_fd.kind = RX_FD_WAKE;
    pthread_mutex_init(&l->mu, NULL);
    if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        (l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
        return -errno;
    ev.data.ptr = &l->wake_fd;
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->efd, &ev))
        return -errno;
    for (int i = 0; i < a->nl; i++) {
        struct epoll_event lev = {.events = EPOLLIN | EPOLLEXCLUSIVE};
        l->listen_fd[i].kind = RX_FD_LISTEN;
        l->listen_fd[i].idx = i;
        lev.data.ptr = &l->listen_fd[i];
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, a->lfd[i], &lev))
            return -errno;
    }
    l->listening = 1;
    return 0;
}

/* ---- Metrics -------------------------------------------------------------------------------- */

#define CTR(a, k) ((unsigned long long)atomic_load_explicit(&(a)->ctr[k], memory_order_relaxed))

static int render(void *ctx, struct hc_buf *o)
{
    struct rx_amqp *a = ctx;
    return hc_buf_addf(
        o,
        "# HELP hubcap_receiver_amqp_connections_total AMQP connections accepted, or refused "
        "at once (connection_limit: closed with amqp:resource-limit-exceeded; stopping).\n# TYPE "
        "hubcap_receiver_amqp_connections_total "
        "counter\nhubcap_receiver_amqp_connections_total{result=\"accepted\"} %llu\n"
        "hubcap_receiver_amqp_connections_total{result=\"refused\"} %llu\n"
        "# TYPE hubcap_receiver_amqp_connections_open gauge\n"
        "hubcap_receiver_amqp_connections_open %d\n"
        "# TYPE hubcap_receiver_amqp_links_open gauge\nhubcap_receiver_amqp_links_open %d\n"
        "# HELP hubcap_receiver_amqp_links_expired_total Sender links detached because their "
        "CBS token expired.\n# TYPE hubcap_receiver_amqp_links_expired_total counter\n"
        "hubcap_receiver_amqp_links_expired_total %llu\n"
        "# TYPE hubcap_receiver_amqp_links_refused_total counter\n"
        "hubcap_receiver_amqp_links_refused_total{condition=\"amqp:unauthorized-access\"} %llu\n"
        "hubcap_receiver_amqp_links_refused_total{condition=\"amqp:not-found\"} %llu\n"
        "hubcap_receiver_amqp_links_refused_total{condition=\"other\"} %llu\n"
        "# HELP hubcap_receiver_amqp_deliveries_total Deliveries of sender links by outcome.\n"
        "# TYPE hubcap_receiver_amqp_deliveries_total counter\n"
        "hubcap_receiver_amqp_deliveries_total{outcome=\"accepted\"} %llu\n"
        "hubcap_receiver_amqp_deliveries_total{outcome=\"server-busy\"} %llu\n"
        "hubcap_receiver_amqp_deliveries_total{outcome=\"message-size-exceeded\"} %llu\n"
        "hubcap_receiver_amqp_deliveries_total{outcome=\"decode-error\"} %llu\n"
        "hubcap_receiver_amqp_deliveries_total{outcome=\"lost\"} %llu\n"
        "# TYPE hubcap_receiver_amqp_events_total counter\nhubcap_receiver_amqp_events_total "
        "%llu\n# HELP hubcap_receiver_amqp_cbs_total CBS put-token requests by status.\n"
        "# TYPE hubcap_receiver_amqp_cbs_total counter\n"
        "hubcap_receiver_amqp_cbs_total{status=\"200\"} %llu\n"
        "hubcap_receiver_amqp_cbs_total{status=\"401\"} %llu\n"
        "hubcap_receiver_amqp_cbs_total{status=\"404\"} %llu\n"
        "hubcap_receiver_amqp_cbs_total{status=\"400\"} %llu\n"
        "# TYPE hubcap_receiver_amqp_management_total counter\n"
        "hubcap_receiver_amqp_management_total{status=\"200\"} %llu\n"
        "hubcap_receiver_amqp_management_total{status=\"401\"} %llu\n"
        "hubcap_receiver_amqp_management_total{status=\"404\"} %llu\n"
        "hubcap_receiver_amqp_management_total{status=\"400\"} %llu\n"
        "# HELP hubcap_receiver_amqp_decode_errors_total Connections closed for a malformed "
        "frame.\n# TYPE hubcap_receiver_amqp_decode_errors_total counter\n"
        "hubcap_receiver_amqp_decode_errors_total %llu\n"
        "# HELP hubcap_receiver_amqp_idle_closed_total Connections closed: silent for "
        "idle_timeout.\n# TYPE hubcap_receiver_amqp_idle_closed_total counter\n"
        "hubcap_receiver_amqp_idle_closed_total %llu\n"
        "# HELP hubcap_receiver_amqp_consumer_events_total Events delivered to consumers.\n"
        "# TYPE hubcap_receiver_amqp_consumer_events_total counter\n"
        "hubcap_receiver_amqp_consumer_events_total %llu\n"
        "# HELP hubcap_receiver_amqp_consumer_bytes_total Body bytes delivered to consumers.\n"
        "# TYPE hubcap_receiver_amqp_consumer_bytes_total counter\n"
        "hubcap_receiver_amqp_consumer_bytes_total %llu\n",
        CTR(a, RX_AC_CONN_ACCEPTED), CTR(a, RX_AC_CONN_LIMIT), atomic_load(&a->nconns),
        atomic_load(&a->nlinks), CTR(a, RX_AC_LINK_EXPIRED), CTR(a, RX_AC_LINK_UNAUTH),
        CTR(a, RX_AC_LINK_NOTFOUND), CTR(a, RX_AC_LINK_OTHER), CTR(a, RX_AC_DLV_ACCEPTED),
        CTR(a, RX_AC_DLV_BUSY), CTR(a, RX_AC_DLV_TOOBIG), CTR(a, RX_AC_DLV_DECODE),
        CTR(a, RX_AC_DLV_LOST), CTR(a, RX_AC_EVENTS), CTR(a, RX_AC_CBS_200), CTR(a, RX_AC_CBS_401),
        CTR(a, RX_AC_CBS_404), CTR(a, RX_AC_CBS_400), CTR(a, RX_AC_MGMT_200),
        CTR(a, RX_AC_MGMT_401), CTR(a, RX_AC_MGMT_404), CTR(a, RX_AC_MGMT_400),
        CTR(a, RX_AC_DECODE_ERRORS), CTR(a, RX_AC_IDLE_CLOSED), CTR(a, RX_AC_EVENTS_OUT),
        CTR(a, RX_AC_BYTES_OUT));
}

/* ---- Start and stop ------------------------------------------------------------------------- */

static void fe_free(struct rx_amqp *a)
{
    if (!a)
        return;
    for (int i = 0; a->loops && i < a->nloops; i++) {
        struct rx_amqp_loop *l = &a->loops[i];
        if (l->epfd > 0)
            close(l->epfd);
        if (l->efd > 0)
            close(l->efd);
        pthread_mutex_destroy(&l->mu);
    }
    for (int i = 0; i < a->nl; i++)
        close(a->lfd[i]);
    rx_rest_stop(a->rest, 0);
    if (a->ssl)
        SSL_CTX_free(a->ssl);
    free(a->loops);
    rx_amqp__consumer_fini(a);
    pthread_mutex_destroy(&a->cmu);
    free(a);
}

static int open_listeners(struct rx_amqp *a, const char **why)
{
    const struct rx_amqp_conf *ac = &a->c->amqp;
    int fd;
    if (ac->shared) {
        if ((fd = listen_on(a->c->listen_addr, a->c->port, &a->lport[a->nl])) < 0) {
            *why = "cannot listen on the [receiver] listen address (taken?)";
            return fd;
        }
        a->lkind[a->nl] = RX_L_SHARED;
        a->lfd[a->nl++] = fd;
    }
    if (ac->port >= 0) {
        if ((fd = listen_on(ac->listen_addr, ac->port, &a->lport[a->nl])) < 0) {
            if (fd == -EADDRINUSE && !ac->port_given && a->c->dev) {
                hc_warn("amqp: %s:%d is taken: no plain AMQP listener (--amqp ADDR:PORT)",
                        ac->listen_addr, ac->port);
            } else {
                *why = "cannot listen on the [amqp] listen address (taken? --amqp ADDR:PORT)";
                return fd;
            }
        } else {
            a->lkind[a->nl] = RX_L_PLAIN;
            a->lfd[a->nl++] = fd;
        }
    }
    if (ac->tls_port >= 0) {
        if ((fd = listen_on(ac->tls_addr, ac->tls_port, &a->lport[a->nl])) < 0) {
            *why = "cannot listen on the [amqp] listen_tls address";
            return fd;
        }
        a->lkind[a->nl] = RX_L_TLS;
        a->lfd[a->nl++] = fd;
    }
    return 0;
}

static int tls_domain(struct rx_amqp *a, const char **why)
{
    const struct rx_amqp_conf *ac = &a->c->amqp;
    if (ac->tls_port < 0)
        return 0;
    /* our own TLS, not proton's: the wire checks and padding (wire.h) need the plain bytes */
    if (!(a->ssl = SSL_CTX_new(TLS_server_method())) ||
        SSL_CTX_set_min_proto_version(a->ssl, TLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate_chain_file(a->ssl, ac->tls_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(a->ssl, ac->tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(a->ssl) != 1) {
        hc_warn("amqp: TLS: %s", ERR_reason_error_string(ERR_get_error()));
        *why = "cannot load the [amqp] tls_cert and tls_key";
        return HC_E_INVAL;
    }
    SSL_CTX_set_options(a->ssl, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(a->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                 SSL_MODE_RELEASE_BUFFERS);
    return 0;
}

static int amqp_start(const struct rx_frontend_env *env, void **ctx, const char **why)
{
    struct rx_amqp *a;
    int rc;
    if (env->c->amqp.port < 0 && env->c->amqp.tls_port < 0 && !env->c->amqp.shared)
        return 1;
    if (!(a = calloc(1, sizeof *a))) {
        *why = "out of memory";
        return -ENOMEM;
    }
    a->c = env->c;
    a->core = env->core;
    a->m = env->m;
    pthread_mutex_init(&a->cmu, NULL);
    if ((rc = open_listeners(a, why)) || (rc = tls_domain(a, why)))
        goto out_free;
    if ((rc = rx_amqp__consumer_init(a))) {
        *why = "out of memory";
        goto out_free;
    }
    if (!a->nl) {
        fe_free(a);
        return 1;
    }
    if (a->c->amqp.shared && (rc = rx_rest_start(env, RX_HTTP_NO_LISTEN, &a->rest, why)))
        goto out_free;
    a->lake = env->api != NULL;
    a->nloops = a->c->amqp.threads;
    rc = -ENOMEM;
    *why = "out of memory";
    if (!(a->loops = calloc((size_t)a->nloops, sizeof *a->loops)))
        goto out_free;
    for (int i = 0; i < a->nloops; i++)
        if ((rc = loop_init(a, &a->loops[i]))) {
            *why = "cannot set up the AMQP event loops";
            goto out_free;
        }
    rx_metrics_add_source(a->m, render, a);
    rx_metrics_add_source(a->m, rx_amqp__consumer_render, a);
    for (int i = 0; i < a->nloops; i++)
        if (!pthread_create(&a->loops[i].th, NULL, loop_main, &a->loops[i]))
            a->loops[i].started = 1;
    *ctx = a;
    return 0;
out_free:
    fe_free(a);
    return rc;
}

/* The shared port's lines: where, and the one connection string (REST and AMQP clients). */
static void banner_shared(struct rx_amqp *a, int i, FILE *out)
{
    const struct rx_conf *c = a->c;
    const char *addr = c->listen_addr;
    char cs[2048];
    int v6 = strchr(addr, ':') != NULL;
    fprintf(out, "rest: http://%s%s%s:%d (Event Hubs REST send API, /metrics, /healthz%s)\n",
            v6 ? "[" : "", addr, v6 ? "]" : "", a->lport[i],
            a->lake ? ", /api/v1, dashboard at /" : "");
    fprintf(out, "amqp: amqp://%s%s%s:%d (Event Hubs AMQP 1.0, on the same port as HTTP)\n",
            v6 ? "[" : "", addr, v6 ? "]" : "", a->lport[i]);
    if (rx_conf_connstr(c, a->lport[i], c->dev, cs, sizeof cs) > 0)
        fprintf(out, "connection string for the agent (and AMQP clients):\n%s\n", cs);
}

static void amqp_banner(void *ctx, FILE *out)
{
    struct rx_amqp *a = ctx;
    const struct rx_conf *c = a->c;
    char cs[2048];
    for (int i = 0; i < a->nl; i++) {
        int tls = a->lkind[i] == RX_L_TLS;
        const char *addr = tls ? c->amqp.tls_addr : c->amqp.listen_addr;
        int v6 = strchr(addr, ':') != NULL;
        if (a->lkind[i] == RX_L_SHARED) {
            banner_shared(a, i, out);
            continue;
        }
        fprintf(out, "amqp: %s://%s%s%s:%d (Event Hubs AMQP 1.0%s)\n", tls ? "amqps" : "amqp",
                v6 ? "[" : "", addr, v6 ? "]" : "", a->lport[i],
                tls ? ", TLS" : ": SASL ANONYMOUS/PLAIN/MSSBCBS, CBS, $management");
        if (!tls && rx_conf_connstr(c, a->lport[i], c->dev, cs, sizeof cs) > 0)
            fprintf(out, "amqp connection string: %s%s\n", cs,
                    c->tls_cert[0] ? ";UseDevelopmentEmulator=true" : "");
    }
}

static void amqp_stop(void *ctx, int64_t drain_ms)
{
    struct rx_amqp *a = ctx;
    if (!a)
        return;
    atomic_store(&a->stopping, (int)(drain_ms > 0 ? drain_ms : 1));
    for (int i = 0; i < a->nloops; i++)
        if (a->loops[i].started)
            rx_amqp__loop_wake(&a->loops[i]);
    for (int i = 0; i < a->nloops; i++)
        if (a->loops[i].started)
            pthread_join(a->loops[i].th, NULL);
    if (a->rest) {
        rx_rest_stop(a->rest, drain_ms); /* after the loops: nothing is handed to it any more */
        a->rest = NULL;
    }
    if (atomic_load(&a->pending) > 0)
        return; /* the core still holds deliveries that point here: the process is ending */
    fe_free(a);
}

const struct rx_frontend rx_frontend_amqp = {
    .name = "amqp",
    .start = amqp_start,
    .banner = amqp_banner,
    .stop = amqp_stop,
};

void rx_amqp__done(struct rx_send *s, int status)
{
    struct rx_amqp_dlv *d = s->ctx;
    struct rx_amqp_loop *l = d->conn->l;
    d->status = status;
    pthread_mutex_lock(&l->mu);
    if (l->dead) {
        struct rx_amqp_conn *c = d->conn;
        struct rx_amqp *a = l->a;
        d->dl = NULL;
        rx_amqp__conn_unpend(c, d, 1);
        rx_amqp__dlv_free(a, d);
        pthread_mutex_unlock(&l->mu);
        return;
    }
    d->next = l->done;
    l->done = d;
    pthread_mutex_unlock(&l->mu);
    rx_amqp__loop_wake(l);
}
