/*
 * shared.c - AMQP and HTTP on one port: a connection accepted on the shared listener waits (in
 * its loop's epoll) for its first bytes; "AMQP" makes it an AMQP connection of this loop, anything
 * else goes to the REST front end's HTTP server (rx_http_adopt; the bytes were only peeked, so
 * libmicrohttpd reads them). A connection silent for header_timeout is closed. Plain TCP only:
 * TLS hides which protocol is inside (the TLS listeners stay separate).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/hctime.h"
#include "common/log.h"
#include "receiver/amqp/amqp_int.h"
#include "receiver/rest/rest.h"

struct rx_amqp_sniff {
    struct rx_amqp_fd fdh; /* first: epoll's data.ptr */
    struct rx_amqp_sniff *next, *prev;
    struct rx_amqp_loop *l;
    int fd;
    int paused; /* part of "AMQP" came: polled on ticks instead of epoll */
    struct sockaddr_storage sa;
    socklen_t salen;
    int64_t deadline_ms;
};

static void sniff_unlink(struct rx_amqp_sniff *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        s->l->sniffs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (!s->paused)
        epoll_ctl(s->l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
    atomic_fetch_sub(&s->l->a->nsniff, 1);
}

static void sniff_close(struct rx_amqp_sniff *s)
{
    sniff_unlink(s);
    close(s->fd);
    free(s);
}

void rx_amqp__sniff_new(struct rx_amqp_loop *l, int fd, const struct sockaddr *sa, socklen_t salen)
{
    struct rx_amqp_sniff *s;
    struct epoll_event ev = {.events = EPOLLIN};
    if (atomic_load(&l->a->nsniff) >= l->a->c->connection_limit) {
        rx_amqp__count(l->a, RX_AC_CONN_LIMIT);
        close(fd);
        return;
    }
    s = calloc(1, sizeof *s);
    if (!s || salen > sizeof s->sa) {
        free(s);
        close(fd);
        return;
    }
    s->fdh.kind = RX_FD_SNIFF;
    s->l = l;
    s->fd = fd;
    memcpy(&s->sa, sa, salen);
    s->salen = salen;
    s->deadline_ms = hc_now_ms() + l->a->c->header_timeout_ms;
    ev.data.ptr = s;
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev)) {
        free(s);
        close(fd);
        return;
    }
    s->next = l->sniffs;
    if (l->sniffs)
        l->sniffs->prev = s;
    l->sniffs = s;
    atomic_fetch_add(&l->a->nsniff, 1);
}

/* Hand the socket to HTTP (which owns it from then on, whatever it answers). */
static void to_http(struct rx_amqp_sniff *s)
{
    struct rx_http *h = rx_rest_http(s->l->a->rest);
    int rc;
    sniff_unlink(s);
    rc = rx_http_adopt(h, s->fd, (const struct sockaddr *)&s->sa, s->salen);
    if (rc && rc != -ENFILE && rc != -ESHUTDOWN)
        hc_debug("amqp: shared port: the HTTP server refused a connection: %s", strerror(-rc));
    free(s);
}

static void to_amqp(struct rx_amqp_sniff *s)
{
    struct rx_amqp_loop *l = s->l;
    struct rx_amqp *a = l->a;
    int fd = s->fd;
    sniff_unlink(s);
    free(s);
    if (atomic_load(&a->nconns) >= a->c->amqp.connection_limit || atomic_load(&a->stopping)) {
        rx_amqp__conn_refuse(l, fd, 0);
        return;
    }
    if (!rx_amqp__conn_new(l, fd, 0))
        close(fd);
}

void rx_amqp__sniff_io(struct rx_amqp_sniff *s)
{
    static const char magic[4] = {'A', 'M', 'Q', 'P'};
    char head[4];
    ssize_t n = recv(s->fd, head, sizeof head, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        sniff_close(s);
        return;
    }
    if (memcmp(head, magic, (size_t)n)) {
        to_http(s);
    } else if (n == 4) {
        to_amqp(s);
    } else if (!s->paused) { /* "AM": the rest is on its way; look again at the next tick */
        epoll_ctl(s->l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
        s->paused = 1;
    }
}

void rx_amqp__sniff_tick(struct rx_amqp_loop *l, int64_t now_ms)
{
    struct rx_amqp_sniff *s = l->sniffs;
    while (s) {
        struct rx_amqp_sniff *next = s->next;
        if (now_ms >= s->deadline_ms)
            sniff_close(s);
        else if (s->paused)
            rx_amqp__sniff_io(s);
        s = next;
    }
}

void rx_amqp__sniff_close_all(struct rx_amqp_loop *l)
{
    while (l->sniffs)
        sniff_close(l->sniffs);
}
