#include "receiver/http/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/hctime.h"
#include "receiver/core/core.h"

#define RX_KEEPER_TICK_MS 100
#define RX_LINGER_READS   64 /* reads of one lingering socket per round (of 16 KiB) */

/* ---- Connections ---------------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
    return hc_mono_ns() / 1000000;
}

struct rx_conn *rx_http__conn(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i ? i->socket_context : NULL;
}

void rx_http__deadline(struct rx_conn *c, enum rx_phase phase, int64_t ms)
{
    if (atomic_load_explicit(&c->deadline, memory_order_relaxed) < 0)
        return; /* shut down by the keeper: ending */
    atomic_store_explicit(&c->phase, (int)phase, memory_order_relaxed);
    atomic_store_explicit(&c->deadline, phase == RX_PHASE_NONE ? 0 : mono_ms() + ms,
                          memory_order_relaxed);
}

struct rx_conn *rx_http__conn_open(struct rx_http *h, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct rx_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->h = h;
    c->fd = i ? i->connect_fd : -1;
    rx_http__deadline(c, RX_PHASE_HEADERS, h->c->header_timeout_ms);
    pthread_mutex_lock(&h->mu);
    c->next = h->conns;
    if (h->conns)
        h->conns->prev = c;
    h->conns = c;
    pthread_mutex_unlock(&h->mu);
    return c;
}

static int unread_bytes(int fd)
{
    int n = 0;
    return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

/*
 * Keep the socket of fd open after libmicrohttpd closes fd: shut its write side (the answer
 * already written goes out, then FIN) and let the keeper read what the client still sends.
 * h->mu held. When there is no room, nothing is kept: the close may reset the connection.
 */
static void linger(struct rx_http *h, int fd)
{
    int dup;
    if (h->nlinger == RX_HTTP_LINGER_MAX || (dup = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
        return;
    shutdown(dup, SHUT_WR);
    h->linger[h->nlinger++] = (struct rx_linger){dup, mono_ms() + RX_HTTP_LINGER_MS};
    atomic_fetch_add_explicit(&h->m->http_lingering, 1, memory_order_relaxed);
}

void rx_http__conn_close(struct rx_http *h, struct rx_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&h->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    /* a connection the keeper shut down has nothing left to say (its deadline is -1) */
    if (c->fd >= 0 && atomic_load(&c->deadline) >= 0 && (c->linger || unread_bytes(c->fd)))
        linger(h, c->fd);
    pthread_mutex_unlock(&h->mu);
    if (c->pool)
        rx_core_uncharge(h->core, c->pool);
    free(c);
}

/* ---- The keeper ----------------------------------------------------------------------------- */

/* Read and drop what a lingering socket has. 1 when it is over (end, error), else 0. */
static int drain(int fd, char *buf, size_t cap)
{
    for (int i = 0; i < RX_LINGER_READS; i++) {
        ssize_t n = read(fd, buf, cap);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        return 1;
    }
    return 0;
}

/* h->mu held */
static void drain_lingering(struct rx_http *h, int64_t now, char *buf, size_t cap)
{
    for (int i = 0; i < h->nlinger;) {
        if (drain(h->linger[i].fd, buf, cap) || now >= h->linger[i].until) {
            close(h->linger[i].fd);
            h->linger[i] = h->linger[--h->nlinger];
        } else {
            i++;
        }
    }
}

/* h->mu held: shut down the connections whose deadline passed (libmicrohttpd then closes them) */
static void enforce_deadlines(struct rx_http *h, int64_t now)
{
    for (struct rx_conn *c = h->conns; c; c = c->next) {
        int64_t d = atomic_load_explicit(&c->deadline, memory_order_relaxed);
        int phase = atomic_load_explicit(&c->phase, memory_order_relaxed);
        if (d <= 0 || now < d || c->fd < 0)
            continue;
        atomic_store(&c->deadline, -1);
        shutdown(c->fd, SHUT_RDWR);
        atomic_fetch_add_explicit(&h->m->http_deadline_closed[phase == RX_PHASE_BODY], 1,
                                  memory_order_relaxed);
    }
}

static void *keeper(void *arg)
{
    struct rx_http *h = arg;
    struct pollfd pfd[RX_HTTP_LINGER_MAX];
    char buf[16384];
    while (!atomic_load(&h->keeper_stop)) {
        int n;
        pthread_mutex_lock(&h->mu);
        n = h->nlinger;
        for (int i = 0; i < n; i++)
            pfd[i] = (struct pollfd){.fd = h->linger[i].fd, .events = POLLIN};
        pthread_mutex_unlock(&h->mu);
        if (n)
            poll(pfd, (nfds_t)n, RX_KEEPER_TICK_MS);
        else
            hc_sleep_ms(RX_KEEPER_TICK_MS, NULL);
        pthread_mutex_lock(&h->mu);
        drain_lingering(h, mono_ms(), buf, sizeof buf);
        enforce_deadlines(h, mono_ms());
        pthread_mutex_unlock(&h->mu);
    }
    return NULL;
}

int rx_http__keeper_start(struct rx_http *h)
{
    int rc;
    atomic_init(&h->keeper_stop, 0);
    if ((rc = pthread_create(&h->keeper, NULL, keeper, h)))
        return -rc;
    h->keeper_running = 1;
    return 0;
}

void rx_http__keeper_stop(struct rx_http *h)
{
    if (h->keeper_running) {
        atomic_store(&h->keeper_stop, 1);
        pthread_join(h->keeper, NULL);
        h->keeper_running = 0;
    }
    pthread_mutex_lock(&h->mu);
    while (h->nlinger > 0)
        close(h->linger[--h->nlinger].fd);
    pthread_mutex_unlock(&h->mu);
}
