/*
 * bench_sink - a tiny HTTP/1.1 keep-alive sink for the shipping benchmark (tools/bench/ship.sh):
 * it reads each request (the headers, then a Content-Length or chunked body), answers
 * "HTTP/1.1 201 Created" with an empty body at once, and counts. It checks nothing else (no
 * token, no JSON): it measures the client.
 *
 *   bench-sink [--host ADDR] [--port N] [--port-file FILE]
 *
 * Listens on ADDR (default 127.0.0.1, IPv4), port N (default 0: a free one). The port goes to
 * FILE (written under a temporary name, then renamed, once listening) or, without --port-file, as
 * the first line of standard output. On SIGTERM or SIGINT it prints one JSON line of totals and
 * exits 0:
 *   {"requests":…,"bytes_in":…,"body_bytes":…,"connections":…,"bad_requests":…,
 *    "seconds":…,"active_seconds":…}
 * active_seconds runs from the first request's start to the last request's end.
 *
 * One thread, epoll (level-triggered), non-blocking sockets; pipelined requests are answered in
 * order; "Expect: 100-continue" gets its interim answer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX  16384  /* longest request head (request line and headers) */
#define READ_SIZE 262144 /* bytes read at once */

static const char resp_201[] = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
static const char resp_100[] = "HTTP/1.1 100 Continue\r\n\r\n";
static const char resp_400[] =
    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

enum sink_state {
    ST_HEAD,       /* reading the request line and headers */
    ST_BODY,       /* left bytes of a Content-Length body */
    ST_CHUNK_SIZE, /* reading a chunk-size line */
    ST_CHUNK_DATA, /* left bytes of a chunk */
    ST_CHUNK_END,  /* the CRLF after a chunk's data */
    ST_TRAILER,    /* trailer lines up to an empty one */
};

struct conn {
    int fd;
    enum sink_state st;
    char line[HEAD_MAX]; /* the head (ST_HEAD) or the current line (chunked states) */
    size_t line_len;
    uint64_t left;
    int close_after; /* close once the answers are written */
    int want_out;    /* EPOLLOUT is on */
    char *out;       /* answers not written yet */
    size_t out_len, out_cap;
    struct conn *prev, *next;
};

struct sink {
    int ep, lfd;
    struct conn *conns;
    uint64_t requests, bytes_in, body_bytes, connections, bad;
    int64_t start_ns, first_ns, last_ns;
    int in_request_seen; /* first_ns is set */
};

static volatile sig_atomic_t sink_stop;
static char rbuf[READ_SIZE];

static void on_signal(int sig)
{
    (void)sig;
    sink_stop = 1;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Queue n bytes of s to be written to c. 0 or -1 (out of memory). */
static int out_add(struct conn *c, const char *s, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap * 2 : 256;
        while (cap < c->out_len + n)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p)
            return -1;
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
    return 0;
}

static void conn_close(struct sink *k, struct conn *c)
{
    epoll_ctl(k->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        k->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->out);
    free(c);
}

/* The value of header name in head (NUL-terminated, CRLF lines), or NULL. */
static const char *header(const char *head, const char *name)
{
    size_t nl = strlen(name);
    const char *p = strchr(head, '\n');
    while (p && p[1]) {
        p++;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            p += nl + 1;
            while (*p == ' ' || *p == '\t')
                p++;
            return p;
        }
        p = strchr(p, '\n');
    }
    return NULL;
}

/* 1 when the header's value (up to the end of its line) contains word, case-insensitively. */
static int header_has(const char *head, const char *name, const char *word)
{
    const char *v = header(head, name);
    size_t wl = strlen(word);
    for (; v && *v && *v != '\r' && *v != '\n'; v++)
        if (strncasecmp(v, word, wl) == 0)
            return 1;
    return 0;
}

static void request_done(struct sink *k, struct conn *c)
{
    k->requests++;
    k->last_ns = now_ns();
    c->st = ST_HEAD;
    c->line_len = 0;
    if (out_add(c, resp_201, sizeof resp_201 - 1))
        c->close_after = 1;
}

/* A bad request: answer 400 and close. */
static void request_bad(struct sink *k, struct conn *c)
{
    k->bad++;
    out_add(c, resp_400, sizeof resp_400 - 1);
    c->close_after = 1;
}

/* The head is complete in c->line: decide how the body comes. */
static void head_done(struct sink *k, struct conn *c)
{
    const char *cl;
    char *end;
    c->line[c->line_len] = '\0';
    if (!k->in_request_seen) {
        k->first_ns = now_ns();
        k->in_request_seen = 1;
    }
    if (strstr(c->line, "HTTP/1.0\r\n") && !header_has(c->line, "Connection", "keep-alive"))
        c->close_after = 1;
    if (header_has(c->line, "Connection", "close"))
        c->close_after = 1;
    if (header_has(c->line, "Expect", "100-continue"))
        out_add(c, resp_100, sizeof resp_100 - 1);
    if (header_has(c->line, "Transfer-Encoding", "chunked")) {
        c->st = ST_CHUNK_SIZE;
        c->line_len = 0;
        return;
    }
    cl = header(c->line, "Content-Length");
    c->left = 0;
    if (cl) {
        errno = 0;
        c->left = strtoull(cl, &end, 10);
        if (errno || end == cl) {
            request_bad(k, c);
            return;
        }
    }
    if (c->left) {
        c->st = ST_BODY;
        c->line_len = 0;
    } else {
        request_done(k, c);
    }
}

/* Append one byte to c->line; 1 when it ended a line (or, in ST_HEAD, the head). */
static int line_byte(struct sink *k, struct conn *c, char ch)
{
    if (c->line_len + 1 >= sizeof c->line) {
        request_bad(k, c);
        return 0;
    }
    c->line[c->line_len++] = ch;
    if (ch != '\n')
        return 0;
    if (c->st != ST_HEAD)
        return 1;
    if (c->line_len == 2 && c->line[0] == '\r') { /* a CRLF between requests */
        c->line_len = 0;
        return 0;
    }
    return c->line_len >= 4 && memcmp(c->line + c->line_len - 4, "\r\n\r\n", 4) == 0;
}

/* A chunk-size line is complete in c->line. */
static void chunk_size_done(struct sink *k, struct conn *c)
{
    char *end;
    c->line[c->line_len] = '\0';
    errno = 0;
    c->left = strtoull(c->line, &end, 16);
    if (errno || end == c->line) {
        request_bad(k, c);
        return;
    }
    c->line_len = 0;
    c->st = c->left ? ST_CHUNK_DATA : ST_TRAILER;
}

/* Run n bytes through c's request parser. */
static void feed(struct sink *k, struct conn *c, const char *p, size_t n)
{
    while (n && !(c->close_after && c->st == ST_HEAD && c->out_len)) {
        if (c->st == ST_BODY || c->st == ST_CHUNK_DATA) {
            size_t take = c->left < n ? (size_t)c->left : n;
            c->left -= take;
            k->body_bytes += take;
            p += take;
            n -= take;
            if (!c->left) {
                if (c->st == ST_BODY)
                    request_done(k, c);
                else
                    c->st = ST_CHUNK_END;
                c->line_len = 0;
            }
            continue;
        }
        char ch = *p++;
        n--;
        if (!line_byte(k, c, ch)) {
            if (c->close_after && c->out_len)
                return; /* a bad request */
            continue;
        }
        switch (c->st) {
        case ST_HEAD:
            head_done(k, c);
            break;
        case ST_CHUNK_SIZE:
            chunk_size_done(k, c);
            break;
        case ST_CHUNK_END:
            c->line_len = 0;
            c->st = ST_CHUNK_SIZE;
            break;
        case ST_TRAILER:
            if (c->line_len <= 2)
                request_done(k, c);
            c->line_len = 0;
            break;
        default:
            break;
        }
    }
}

/* Write what c owes; watch for EPOLLOUT while some is left. -1: close c. */
static int flush_out(struct sink *k, struct conn *c)
{
    size_t off = 0;
    while (off < c->out_len) {
        ssize_t w = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    if (off && off < c->out_len)
        memmove(c->out, c->out + off, c->out_len - off);
    c->out_len -= off;
    int want = c->out_len > 0;
    if (want != c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
        epoll_ctl(k->ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = want;
    }
    return !c->out_len && c->close_after ? -1 : 0;
}

static void on_readable(struct sink *k, struct conn *c)
{
    ssize_t r = recv(c->fd, rbuf, sizeof rbuf, 0);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (r <= 0) {
        conn_close(k, c);
        return;
    }
    k->bytes_in += (uint64_t)r;
    if (!c->close_after)
        feed(k, c, rbuf, (size_t)r);
    if (flush_out(k, c))
        conn_close(k, c);
}

static void on_accept(struct sink *k)
{
    for (;;) {
        int fd = accept4(k->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
        if (fd < 0)
            return; /* EAGAIN, or a connection that went away */
        struct conn *c = calloc(1, sizeof *c);
        struct epoll_event ev = {.events = EPOLLIN};
        if (!c) {
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        ev.data.ptr = c;
        if (epoll_ctl(k->ep, EPOLL_CTL_ADD, fd, &ev)) {
            close(fd);
            free(c);
            continue;
        }
        c->next = k->conns;
        if (k->conns)
            k->conns->prev = c;
        k->conns = c;
        k->connections++;
    }
}

/* Listen on host:port; the chosen port into *bound. Returns the socket or -1 (errno set). */
static int listen_on(const char *host, int port, int *bound)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    socklen_t len = sizeof a;
    int fd, one = 1;
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        errno = EINVAL;
        return -1;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 128) ||
        getsockname(fd, (struct sockaddr *)&a, &len)) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    *bound = ntohs(a.sin_port);
    return fd;
}

/* Write the port to path (temp name, then rename). */
static int write_port(const char *path, int port)
{
    size_t n = strlen(path) + 8;
    char *tmp = malloc(n);
    FILE *f;
    int bad;
    if (!tmp)
        return -1;
    snprintf(tmp, n, "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f) {
        free(tmp);
        return -1;
    }
    bad = fprintf(f, "%d\n", port) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path)) {
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

static void print_totals(const struct sink *k)
{
    int64_t end = now_ns();
    double active = k->in_request_seen ? (double)(k->last_ns - k->first_ns) / 1e9 : 0;
    if (active < 0)
        active = 0;
    printf("{\"requests\":%" PRIu64 ",\"bytes_in\":%" PRIu64 ",\"body_bytes\":%" PRIu64
           ",\"connections\":%" PRIu64 ",\"bad_requests\":%" PRIu64
           ",\"seconds\":%.3f,\"active_seconds\":%.3f}\n",
           k->requests, k->bytes_in, k->body_bytes, k->connections, k->bad,
           (double)(end - k->start_ns) / 1e9, active);
    fflush(stdout);
}

static int usage(FILE *f, int rc)
{
    fputs("usage: bench-sink [--host ADDR] [--port N] [--port-file FILE]\n"
          "HTTP/1.1 keep-alive sink: answers every request 201 at once; prints one JSON line of\n"
          "totals on SIGTERM. The port goes to FILE, or to the first line of stdout.\n",
          f);
    return rc;
}

/* The event loop: until SIGTERM/SIGINT. */
static int serve(struct sink *k, const sigset_t *waitmask)
{
    struct epoll_event evs[64];
    while (!sink_stop) {
        int n = epoll_pwait(k->ep, evs, 64, -1, waitmask);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("bench-sink: epoll_pwait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                on_accept(k);
            } else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                on_readable(k, c);
            } else if (evs[i].events & EPOLLOUT) {
                if (flush_out(k, c))
                    conn_close(k, c);
            }
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"port-file", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *host = "127.0.0.1", *port_file = NULL;
    struct sink k = {.ep = -1, .lfd = -1};
    struct sigaction sa = {.sa_handler = on_signal};
    sigset_t block, waitmask;
    int c, port = 0, rc;
    char *end;

    while ((c = getopt_long(argc, argv, "H:p:f:h", opts, NULL)) != -1) {
        if (c == 'H') {
            host = optarg;
        } else if (c == 'p') {
            long v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > 65535)
                return usage(stderr, 2);
            port = (int)v;
        } else if (c == 'f') {
            port_file = optarg;
        } else {
            return usage(c == 'h' ? stdout : stderr, c == 'h' ? 0 : 2);
        }
    }
    if (optind < argc)
        return usage(stderr, 2);

    /* SIGTERM/SIGINT are blocked except inside epoll_pwait: no lost wake-up. */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &waitmask);
    sigdelset(&waitmask, SIGTERM);
    sigdelset(&waitmask, SIGINT);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    k.start_ns = now_ns();
    k.lfd = listen_on(host, port, &port);
    if (k.lfd < 0) {
        fprintf(stderr, "bench-sink: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
        return 1;
    }
    k.ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (k.ep < 0 || epoll_ctl(k.ep, EPOLL_CTL_ADD, k.lfd, &ev)) {
        perror("bench-sink: epoll");
        return 1;
    }
    if (port_file) {
        if (write_port(port_file, port)) {
            fprintf(stderr, "bench-sink: cannot write %s: %s\n", port_file, strerror(errno));
            return 1;
        }
    } else {
        printf("%d\n", port);
        fflush(stdout);
    }
    rc = serve(&k, &waitmask);
    print_totals(&k);
    while (k.conns)
        conn_close(&k, k.conns);
    close(k.lfd);
    close(k.ep);
    return rc;
}
