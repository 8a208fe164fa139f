/*
 * test_http_client.c - the transport's HTTP/1.1 client against real servers on 127.0.0.1:
 * a scripted plain server forked by the test (it answers each request with the text the test
 * gives, closes, drops or hangs when told to, and logs every request it gets), and, for TLS,
 * `openssl s_server` with a throwaway CA made by the openssl command (skipped without it).
 *
 * What a sender relies on: the request is what the hub expects (Host, Content-Length, no
 * Expect), the answer's status, Retry-After headers and body start come back whatever the body
 * framing, the connection is reused and made again when the server closed it, a request is sent
 * a second time only when a reused connection failed before any answer, and failures come back
 * as the right code (refused, timeout, malformed, certificate).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#ifdef HUBCAP_WITH_HTTPS

#include "agent/transport/https/http_client.h"
#include "agent/transport/https/http_parse.h"
#include "tests/unit/testutil.h"

/* ---- a scripted server ------------------------------------------------------------------- */

enum op {
    ACCEPT,      /* take the next connection */
    REPLY,       /* read a request, write text */
    REPLY_CLOSE, /* read a request, write text, close the connection */
    DROP,        /* read a request, close without a word */
    GREET,       /* write text at once (whatever the client sends), close the connection */
    DRIBBLE,     /* read a request, write text one byte at a time */
    CLOSE,       /* close the idle connection */
    HANG,        /* read a request, never answer */
    END,         /* wait for the client to leave; log anything more it does */
};

struct step {
    enum op op;
    const char *text;
};

struct server {
    pid_t pid;
    int port;
    int log_fd; /* the read end of the child's log */
    char log[16384];
};

/* A listening socket on 127.0.0.1 and a free port; backlog as asked. */
static int listen_local(int *port, int backlog)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, backlog), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A port nothing listens on (bound, then closed). */
static int free_port(void)
{
    int port, fd = listen_local(&port, 1);
    close(fd);
    return port;
}

static int wait_in(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) > 0;
}

/* Child: read one request, log it. 1, 0 at a clean end of the connection, -1 on trouble. */
static int srv_request(int fd, int logfd, int conn, int nreq)
{
    static char buf[16384];
    char first[65] = "", tmp[65536], *end, *cl;
    size_t len = 0, head, have, want = 0, nfirst = 0;
    while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
        ssize_t k;
        if (len == sizeof buf - 1 || !wait_in(fd, 10000))
            return -1;
        if ((k = recv(fd, buf + len, sizeof buf - 1 - len, 0)) <= 0)
            return len ? -1 : 0;
        len += (size_t)k;
    }
    head = (size_t)(end + 4 - buf);
    buf[len] = '\0';
    if ((cl = strcasestr(buf, "\r\nContent-Length:")) && cl < end)
        want = strtoul(cl + 17, NULL, 10);
    have = len - head;
    nfirst = have < 64 ? have : 64;
    memcpy(first, buf + head, nfirst);
    while (have < want) {
        ssize_t k;
        if (!wait_in(fd, 10000) || (k = recv(fd, tmp, sizeof tmp, 0)) <= 0)
            return -1;
        if (nfirst < 64) {
            size_t c = (size_t)k < 64 - nfirst ? (size_t)k : 64 - nfirst;
            memcpy(first + nfirst, tmp, c);
            nfirst += c;
        }
        have += (size_t)k;
    }
    first[nfirst] = '\0';
    dprintf(logfd, "=== c%d r%d body=%zu [%s]\n%.*s", conn, nreq, have, first, (int)head, buf);
    return 1;
}

static void srv_dribble(int fd, const char *s)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (; *s; s++) {
        if (send(fd, s, 1, MSG_NOSIGNAL) != 1)
            return;
        usleep(300);
    }
}

static void srv_write(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        if (k <= 0)
            return;
        s += k;
        n -= (size_t)k;
    }
}

/* Child: the end of the script. */
static void srv_end(int lfd, int fd, int logfd, int conn, int nreq)
{
    if (fd >= 0 && wait_in(fd, 3000) && srv_request(fd, logfd, conn, nreq + 1) > 0)
        dprintf(logfd, "!! unexpected request\n");
    if (wait_in(lfd, 300))
        dprintf(logfd, "!! unexpected connection\n");
}

static void srv_run(int lfd, int logfd, const struct step *s)
{
    int fd = -1, conn = 0, nreq = 0, r;
    for (;; s++) {
        if (s->op == ACCEPT) {
            if (fd >= 0)
                close(fd);
            if (!wait_in(lfd, 10000))
                _exit(2);
            fd = accept(lfd, NULL, NULL);
            conn++;
            nreq = 0;
            continue;
        }
        if (s->op == END) {
            srv_end(lfd, fd, logfd, conn, nreq);
            _exit(0);
        }
        if (s->op == CLOSE || s->op == GREET) {
            if (s->text)
                srv_write(fd, s->text);
            close(fd);
            fd = -1;
            continue;
        }
        if ((r = srv_request(fd, logfd, conn, ++nreq)) <= 0) {
            dprintf(logfd, "!! no request (%d)\n", r);
            _exit(3);
        }
        if (s->op == HANG)
            pause();
        if (s->text && s->op == DRIBBLE)
            srv_dribble(fd, s->text);
        else if (s->text)
            srv_write(fd, s->text);
        if (s->op == REPLY_CLOSE || s->op == DROP) {
            close(fd);
            fd = -1;
        }
    }
}

static void server_start(struct server *sv, const struct step *script)
{
    int p[2], lfd = listen_local(&sv->port, 8);
    assert_int_equal(pipe(p), 0);
    sv->pid = fork();
    assert_true(sv->pid >= 0);
    if (sv->pid == 0) {
        close(p[0]);
        alarm(30);
        srv_run(lfd, p[1], script);
        _exit(0);
    }
    close(lfd);
    close(p[1]);
    sv->log_fd = p[0];
    sv->log[0] = '\0';
}

/* Wait for the child (killed when kill is set), then read its log into sv->log. */
static void server_finish(struct server *sv, int kill_it)
{
    size_t len = 0;
    ssize_t k;
    if (kill_it)
        kill(sv->pid, SIGKILL);
    waitpid(sv->pid, NULL, 0);
    while ((k = read(sv->log_fd, sv->log + len, sizeof sv->log - 1 - len)) > 0)
        len += (size_t)k;
    sv->log[len] = '\0';
    close(sv->log_fd);
}

/* How many requests the server logged. */
static int log_requests(const struct server *sv)
{
    int n = 0;
    for (const char *p = sv->log; (p = strstr(p, "=== ")); p++)
        n++;
    return n;
}

/* ---- the client side ----------------------------------------------------------------------- */

static const char hdrs[] = "Content-Type: text/plain\r\nAuthorization: SharedAccessSignature "
                           "sr=x&sig=y\r\n";

static struct ag_http *client(const char *host, int port, int tls, const char *ca,
                              int64_t timeout_ms)
{
    struct ag_http_opts o = {.host = host,
                             .port = port,
                             .tls = tls,
                             .ca_file = ca,
                             .connect_timeout_ms = 2000,
                             .timeout_ms = timeout_ms};
    struct ag_http *h = ag_http_new(&o);
    assert_non_null(h);
    return h;
}

static int send_body(struct ag_http *h, const char *method, const void *body, size_t len,
                     struct ag_http_response *rs)
{
    struct ag_http_request rq = {.method = method,
                                 .target = "/hub/messages?timeout=60",
                                 .headers = hdrs,
                                 .headers_len = sizeof hdrs - 1,
                                 .body = body,
                                 .body_len = len};
    return ag_http_request(h, &rq, rs);
}

static int post(struct ag_http *h, const char *body, struct ag_http_response *rs)
{
    return send_body(h, "POST", body, strlen(body), rs);
}

#define CREATED "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"

/* ---- plain HTTP ----------------------------------------------------------------------------- */

/* Two 201s on one connection; the request is what the hub expects. */
static void test_keepalive_201(void **state)
{
    static const struct step script[] = {
        {ACCEPT, NULL}, {REPLY, CREATED}, {REPLY, CREATED}, {END, NULL}};
    struct server sv;
    struct ag_http_response rs;
    struct ag_http *h;
    char want[128];
    (void)state;
    server_start(&sv, script);
    h = client("127.0.0.1", sv.port, 0, NULL, 5000);
    assert_int_equal(post(h, "hello", &rs), 0);
    assert_int_equal(rs.status, 201);
    assert_int_equal(rs.conn_close, 0);
    assert_int_equal(rs.body_total, 0);
    assert_string_equal(rs.retry_after, "");
    assert_int_equal(post(h, "[{\"Body\":\"x\"}]", &rs), 0);
    assert_int_equal(rs.status, 201);
    assert_int_equal(ag_http_connects(h), 1);
    ag_http_free(h);
    server_finish(&sv, 0);
    assert_int_equal(log_requests(&sv), 2);
    assert_null(strstr(sv.log, "!!"));
    snprintf(want, sizeof want, "POST /hub/messages?timeout=60 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n",
             sv.port);
    assert_non_null(strstr(sv.log, want));
    assert_non_null(strstr(sv.log, "=== c1 r1 body=5 [hello]"));
    assert_non_null(strstr(sv.log, "\r\nContent-Length: 5\r\n"));
    assert_non_null(strstr(sv.log, "\r\nAuthorization: SharedAccessSignature sr=x&sig=y\r\n"));
    assert_non_null(strstr(sv.log, "=== c1 r2 body=14 [[{\"Body\":\"x\"}]]"));
    assert_null(strcasestr(sv.log, "Expect:"));
}

/* A chunked error body (extensions, a trailer) is read exactly: the connection stays usable. */
static void test_chunked_error(void **state)
{
    static const struct step script[] = {
        {ACCEPT, NULL},
        {REPLY, "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n"
                "Content-Type: application/xml; charset=utf-8\r\n\r\n"
                "7;name=value\r\n<Error>\r\n"
                "1f\r\n<Detail>SubCode=40000. Bad body"
                "\r\n"
                "9\r\n</Detail>\r\n"
                "0\r\nX-Trailer: yes\r\n\r\n"},
        {REPLY, CREATED},
        {END, NULL}};
    struct server sv;
    struct ag_http_response rs;
    struct ag_http *h;
    (void)state;
    server_start(&sv, script);
    h = client("127.0.0.1", sv.port, 0, NULL, 5000);
    assert_int_equal(post(h, "x", &rs), 0);
    assert_int_equal(rs.status, 400);
    assert_string_equal(rs.body, "<Error><Detail>SubCode=40000. Bad body</Detail>");
    assert_int_equal(rs.body_len, strlen(rs.body));
    assert_int_equal(rs.conn_close, 0);
    assert_int_equal(post(h, "y", &rs), 0);
    assert_int_equal(rs.status, 201);
    assert_int_equal(ag_http_connects(h), 1);
    ag_http_free(h);
    server_finish(&sv, 0);
    assert_null(strstr(sv.log, "!!"));
}

/* Retry-After and the millisecond headers come back as sent (names in any case). */
static void test_retry_after(void **state)
{
    static const struct step script[] = {
        {ACCEPT, NULL},
        {REPLY, "HTTP/1.1 429 Too Many Requests\r\nretry-AFTER:  7 \r\n"
                "X-Ms-Retry-After-Ms: 1500\r\nContent-Length: 4\r\n\r\nslow"},
        {REPLY, "HTTP/1.1 503 Service Unavailable\r\n"
                "Retry-After: Sun, 06 Nov 1994 08:49:37 GMT\r\nretry-after-ms: 250\r\n"
                "Content-Length: 0\r\n\r\n"},
        {END, NULL}};
    struct server sv;
    struct ag_http_response rs;
    struct ag_http *h;
    (void)state;
    server_start(&sv, script);
    h = client("127.0.0.1", sv.port, 0, NULL, 5000);
    assert_int_equal(post(h, "x", &rs), 0);
    assert_int_equal(rs.status, 429);
    assert_string_equal(rs.retry_after, "7");
    assert_string_equal(rs.retry_after_ms, "1500");
    assert_string_equal(rs.body, "slow");
    assert_int_equal(post(h, "x", &rs), 0);
    assert_int_equal(rs.status, 503);
    assert_string_equal(rs.retry_after, "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_string_equal(rs.retry_after_ms, "250");
    ag_http_free(h);
    server_finish(&sv, 0);
    assert_null(strstr(sv.log, "!!"));
}

/* "Connection: close": the answer counts, and the next request makes a new connection. */
static void test_connection_close(void **state)
{
    static const struct step script[] = {
        {ACCEPT, NULL},
        {REPLY_CLOSE, "HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"},
        {ACCEPT, NULL},
        {REPLY, CREATED},
        {END, NULL}};
    struct server sv;
    struct ag_http_response rs;
    struct ag_http *h;
    (void)state;
    server_start(&sv, script);
    h = client("127.0.0.1", sv.port, 0, NULL, 5000);
    assert_int_equal(post(h, "a", &rs), 0);
    assert_int_equal(rs.status, 201);
    assert_int_equal(rs.conn_close, 1);
    assert_int_equal(post(h, "b", &rs), 0);
    assert_int_equal(rs.status, 201);
    assert_int_equal(ag_http_connects(h), 2);
    ag_http_free(h);
    server_finish(&sv, 0);
    assert_int_equal(log_requests(&sv), 2);
    assert_non_null(strstr(sv.log, "=== c2 r1 body=1 [b]"));
    assert_null(strstr(sv.log, "!!"));
}

/* The server closes the idle keep-alive connection: the next request goes on a new one, and
 * is sent once. */
static void test_idle_closed(void **state)
{
    static const struct step script[] = {{ACCEPT, NULL}, {REPLY, CREATED}, {CLOSE, NULL},
                                         {ACCEPT, NULL}, {REPLY, CREATED}, {END, NULL}};
    struct server sv;
    struct ag_http_response rs;
    struct ag_http *h;
    (void)state;
    server_start(&sv, script);
    h = client("127.0.0.1", sv.port, 0, NULL, 5000);
    assert_int_equal(post(h, "a", &rs), 0);
    usleep(200 * 1000); /* the server's FIN arrives */
    assert_int_equal(post(h, "b", &rs), 0);
    assert_int_equal(rs.status, 201);
    assert_int_equal(ag_http_connects(h), 2);
    ag_http_free(h);
    server_finish(&sv, 0);
    assert_int_equal(log_requests(&sv), 2);
    assert_null(strstr(sv.log, "!!"));
}

/* The server closes the reused connection as the request arrives, before answering: the
 * request is sent once more on a new connection. */
static void test_reused_dropped_is_resent(void **state)
{
    static const struct step script[] = {{ACCEPT, NULL}, {REPLY, CREATED}, {DROP, NULL},
                                         {ACCEPT, NULL}, {REPLY, CREATED}, {END, NULL}};
    struct server sv;
    struct ag_http_response rs;
    struct ag_http *h;
    (void)state;
    server_start(&sv, script);
    h = client("127.0.0.1", sv.port, 0, NULL, 5000);
    assert_int_equal(post(h, "a", &rs), 0);
    assert_int_equal(post(h, "b", &rs), 0);
    assert_int_equal(rs.status, 201);
    assert_int_equal(ag_http_connects(h), 2);
    ag_http_free(h);
    server_finish(&sv, 0);
    assert_non_null(strstr(sv.log, "=== c1 r2 body=1 [b]"));
    assert_non_null(strstr(sv.log, "=== c2 r1 body=1 [b]"));
    assert_null(strstr(sv.log, "!!"));
}

/* Never sent twice: part of an answer arrived, or the connection was new. */
static void test_no_resend(void **state)
{
    static const struct step partial[] = {
        {ACCEPT, NULL}, {REPLY, CREATED}, {REPLY_CLOSE, "HTTP/1.1 20"}, {END, NULL}};
    static const struct step fresh[] = {{ACCEPT, NULL}, {DROP, NULL}, {END, NULL}};
    struct server sv;
    struct ag_http_response rs;
    struct ag_http *h;
    (void)state;
    server_start(&sv, partial);
    h = client("127.0.0.1", sv.port, 0, NULL, 5000);
    assert_int_equal(post(h, "a", &rs), 0);
    assert_int_equal(post(h, "b", &rs), AG_HTTP_E_DROPPED);
    assert_int_equal(rs.status, 0);
    assert_string_equal(rs.detail, "closed in the middle of the answer");
    ag_http_free(h);
    server_finish(&sv, 0);
    assert_int_equal(log_requests(&sv), 2);
    assert_null(strstr(sv.log, "!!"));

    server_start(&sv, fresh);
    h = client("127.0.0.1", sv.port, 0, NULL, 5000);
    assert_int_equal(post(h, "a", &rs), AG_HTTP_E_DROPPED);
    assert_string_equal(rs.detail, "closed by the server");
    assert_int_equal(ag_http_connects(h), 1);
    ag_http_free(h);
    server_finish(&sv, 0);
    assert_int_equal(log_requests(&sv), 1);
    assert_null(strstr(sv.log, "!!"));
}

/* A body until the end of the connection (HTTP/1.0), interim 100s, a long body cut to KEEP. */
static void test_framings(void **state)
{
    static char big[200 * 1024];
    static const struct step script[] = {
        {ACCEPT, NULL},
        {REPLY, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"},
        {REPLY, big},
        {REPLY, "HTTP/1.1 204 No Content\r\n\r\n"},
        {REPLY_CLOSE, "HTTP/1.0 503 Service Unavailable\r\n\r\nbusy now"},
        {END, NULL}};
    struct server sv;
    struct ag_http_response rs;
    struct ag_http *h;
    int n = snprintf(big, sizeof big, "HTTP/1.1 500 Oops\r\nContent-Length: 100000\r\n\r\n");
    (void)state;
    memset(big + n, 'x', 100000);
    big[n + 100000] = '\0';
    server_start(&sv, script);
    h = client("127.0.0.1", sv.port, 0, NULL, 5000);
    assert_int_equal(post(h, "a", &rs), 0);
    assert_int_equal(rs.status, 201);
    assert_string_equal(rs.body, "ok");
    assert_int_equal(post(h, "b", &rs), 0);
    assert_int_equal(rs.status, 500);
    assert_int_equal(rs.body_total, 100000);
    assert_int_equal(rs.body_len, AG_HTTP_BODY_KEEP);
    assert_int_equal(strlen(rs.body), AG_HTTP_BODY_KEEP);
    assert_int_equal(post(h, "c", &rs), 0);
    assert_int_equal(rs.status, 204);
    assert_int_equal(post(h, "d", &rs), 0);
    assert_int_equal(rs.status, 503);
    assert_string_equal(rs.body, "busy now");
    assert_int_equal(rs.conn_close, 1);
    assert_int_equal(ag_http_connects(h), 1);
    ag_http_free(h);
    server_finish(&sv, 0);
    assert_int_equal(log_requests(&sv), 4);
    assert_null(strstr(sv.log, "!!"));
}

/* A body larger than the socket buffers goes out whole (short writes, EAGAIN). */
static void test_large_body(void **state)
{
    static const struct step script[] = {{ACCEPT, NULL}, {REPLY, CREATED}, {END, NULL}};
    size_t len = 8u << 20;
    char *body = malloc(len);
    struct server sv;
    struct ag_http_response rs;
    struct ag_http *h;
    char want[64];
    (void)state;
    assert_non_null(body);
    memset(body, 'b', len);
    server_start(&sv, script);
    h = client("127.0.0.1", sv.port, 0, NULL, 10000);
    assert_int_equal(send_body(h, "POST", body, len, &rs), 0);
    assert_int_equal(rs.status, 201);
    ag_http_free(h);
    server_finish(&sv, 0);
    snprintf(want, sizeof want, "=== c1 r1 body=%zu [bbbb", len);
    assert_non_null(strstr(sv.log, want));
    free(body);
}

/* Malformed answers are refused cleanly, and the next request starts afresh. */
static void test_malformed(void **state)
{
    static const char *const bad[] = {
        "HTTP/1.1 2x1 OK\r\n\r\n",
        "garbage\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 201 Created\r\nContent-Length: 12abc\r\n\r\n",
        "HTTP/1.1 201 Created\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "HTTP/1.1 201 Created\r\nno colon here\r\n\r\n",
        "HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n",
    };
    enum { N = sizeof bad / sizeof bad[0] };
    struct step script[2 * N + 1];
    struct server sv;
    struct ag_http_response rs;
    struct ag_http *h;
    (void)state;
    for (size_t i = 0; i < N; i++) {
        script[2 * i] = (struct step){ACCEPT, NULL};
        script[2 * i + 1] = (struct step){REPLY_CLOSE, bad[i]};
    }
    script[2 * N] = (struct step){END, NULL};
    server_start(&sv, script);
    h = client("127.0.0.1", sv.port, 0, NULL, 5000);
    for (size_t i = 0; i < N; i++) {
        int rc = post(h, "x", &rs);
        if (rc != AG_HTTP_E_PROTOCOL)
            fail_msg("answer %zu: rc %d (%s), status %d", i, rc, rs.detail, rs.status);
        assert_int_equal(rs.status, 0);
        assert_non_null(strstr(rs.detail, "malformed answer: "));
    }
    assert_int_equal(ag_http_connects(h), N);
    ag_http_free(h);
    server_finish(&sv, 0);
    assert_null(strstr(sv.log, "!!"));
}

/* A server that never answers: a timeout, within reason of the setting. */
static void test_timeout(void **state)
{
    static const struct step script[] = {{ACCEPT, NULL}, {HANG, NULL}};
    struct server sv;
    struct ag_http_response rs;
    struct ag_http *h;
    struct timespec a, b;
    double secs;
    (void)state;
    server_start(&sv, script);
    h = client("127.0.0.1", sv.port, 0, NULL, 500);
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(post(h, "x", &rs), AG_HTTP_E_TIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &b);
    secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    assert_true(secs >= 0.45 && secs < 3.0);
    assert_string_equal(rs.detail, "no answer within 0.5 s");
    ag_http_free(h);
    server_finish(&sv, 1);
}

/* Refused, and a connect that cannot finish (the listener's queue is full). */
static void test_refused_and_connect_timeout(void **state)
{
    struct ag_http_response rs;
    struct ag_http *h;
    struct ag_http_opts o = {.host = "127.0.0.1", .connect_timeout_ms = 300, .timeout_ms = 5000};
    int port, lfd, fill[4];
    (void)state;
    h = client("127.0.0.1", free_port(), 0, NULL, 5000);
    assert_int_equal(post(h, "x", &rs), AG_HTTP_E_REFUSED);
    assert_string_equal(rs.detail, strerror(ECONNREFUSED));
    ag_http_free(h);

    /* backlog 0: the queue holds one; the others' SYNs are dropped and their connect waits */
    lfd = listen_local(&port, 0);
    for (int i = 0; i < 4; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill[i], (struct sockaddr *)&a, sizeof a);
    }
    usleep(100 * 1000);
    o.port = port;
    assert_non_null(h = ag_http_new(&o));
    assert_int_equal(post(h, "x", &rs), AG_HTTP_E_TIMEOUT);
    assert_string_equal(rs.detail, "no connection within 0.3 s");
    ag_http_free(h);
    for (int i = 0; i < 4; i++)
        close(fill[i]);
    close(lfd);
}

static void test_new_rejects(void **state)
{
    struct ag_http_opts o = {
        .host = "127.0.0.1", .port = 0, .connect_timeout_ms = 1, .timeout_ms = 1};
    (void)state;
    assert_null(ag_http_new(&o));
    o.port = 70000;
    assert_null(ag_http_new(&o));
    o.port = 80;
    o.timeout_ms = 0;
    assert_null(ag_http_new(&o));
    assert_null(ag_http_new(NULL));
    ag_http_free(NULL);
    ag_http_disconnect(NULL);
    assert_string_equal(ag_http_strerror(AG_HTTP_E_REFUSED), "connection refused");
}

/* An answer that arrives a byte at a time: the head and the chunks are read across reads. */
static void test_dribbled(void **state)
{
    static const struct step script[] = {
        {ACCEPT, NULL},
        {DRIBBLE, "HTTP/1.1 413 Request Entity Too Large\r\nTransfer-Encoding: chunked\r\n"
                  "Retry-After: 3\r\n\r\n4\r\nabcd\r\n3;x=y\r\nefg\r\n0\r\n\r\n"},
        {DRIBBLE, "HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nxyz"},
        {END, NULL}};
    struct server sv;
    struct ag_http_response rs;
    struct ag_http *h;
    (void)state;
    server_start(&sv, script);
    h = client("127.0.0.1", sv.port, 0, NULL, 5000);
    assert_int_equal(post(h, "a", &rs), 0);
    assert_int_equal(rs.status, 413);
    assert_string_equal(rs.body, "abcdefg");
    assert_string_equal(rs.retry_after, "3");
    assert_int_equal(post(h, "b", &rs), 0);
    assert_int_equal(rs.status, 201);
    assert_string_equal(rs.body, "xyz");
    assert_int_equal(ag_http_connects(h), 1);
    ag_http_free(h);
    server_finish(&sv, 0);
    assert_null(strstr(sv.log, "!!"));
}

/* The parser alone: a chunked body cut in two at every place reads the same, and stops at its
 * end (what follows is not body). */
static void test_parse_every_split(void **state)
{
    static const char head[] = "HTTP/1.1 400 Bad\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
    static const char body[] = "5\r\nhello\r\n1;a=b\r\n \r\nA\r\n0123456789\r\n0\r\n"
                               "T: 1\r\n\r\nNEXT";
    size_t blen = sizeof body - 1, hl;
    (void)state;
    hl = ag_http__head_end(head, sizeof head - 1);
    assert_int_equal(hl, sizeof head - 1);
    for (size_t cut = 0; cut <= blen; cut++) {
        struct ag_http_response rs = {0};
        struct ag_http__body b;
        size_t used1 = 0, used2 = 0;
        int r;
        assert_int_equal(ag_http__head_parse(head, hl, &rs, &b), 0);
        assert_int_equal(b.framing, AG_HTTP__CHUNKED);
        r = ag_http__body_feed(&b, body, cut, &used1, &rs);
        if (r == 0)
            r = ag_http__body_feed(&b, body + used1, blen - used1, &used2, &rs);
        assert_int_equal(r, 1);
        assert_int_equal(used1 + used2, blen - 4); /* all but "NEXT" */
        assert_string_equal(rs.body, "hello 0123456789");
        assert_int_equal(rs.body_total, 16);
    }
    assert_int_equal(ag_http__head_end("HTTP/1.1 200 OK\r\nA: b\r\n", 23), 0);
    assert_int_equal(ag_http__head_end("HTTP/1.1 200 OK\n\nrest", 21), 17);
}

/* ---- TLS: openssl s_server with a throwaway CA --------------------------------------------- */

static char tls_dir[512];
static int have_openssl;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* A CA and two server certificates (localhost + 127.0.0.1; localhost only), and another CA. */
static int tls_setup(void **state)
{
    (void)state;
    if (access("/usr/bin/openssl", X_OK) != 0)
        return 0;
    if (!tu_mkdtemp(tls_dir, sizeof tls_dir, "test_http_client.XXXXXX"))
        return -1;
    if (sh("(cd %s && K='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes' && "
           "openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 -subj /CN=hubcap-test-ca && "
           "openssl req -x509 $K -keyout other.key -out other.pem -days 2 -subj /CN=other-ca && "
           "openssl req $K -keyout srv.key -out srv.csr -subj /CN=localhost && "
           "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ip.ext && "
           "printf 'subjectAltName=DNS:localhost\\n' > dns.ext && "
           "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
           "-out srv.pem -days 2 -extfile ip.ext && "
           "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
           "-out dns.pem -days 2 -extfile dns.ext) >/dev/null 2>&1",
           tls_dir) == 0)
        have_openssl = 1;
    return have_openssl ? 0 : -1;
}

static int tls_teardown(void **state)
{
    (void)state;
    if (tls_dir[0])
        tu_rm_tree(tls_dir);
    return 0;
}

/* openssl s_server -www on 127.0.0.1 with cert (a file in tls_dir); waits until it listens. */
static pid_t s_server_start(const char *cert, int *port)
{
    char accept_at[64], certp[600], keyp[600];
    pid_t pid;
    *port = free_port();
    snprintf(accept_at, sizeof accept_at, "127.0.0.1:%d", *port);
    snprintf(certp, sizeof certp, "%s/%s", tls_dir, cert);
    snprintf(keyp, sizeof keyp, "%s/srv.key", tls_dir);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execl("/usr/bin/openssl", "openssl", "s_server", "-accept", accept_at, "-cert", certp,
              "-key", keyp, "-www", "-quiet", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)*port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd = socket(AF_INET, SOCK_STREAM, 0), ok = connect(fd, (void *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return pid;
        usleep(50 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("openssl s_server did not start");
    return -1;
}

static void s_server_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

static void tls_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tls_dir, name);
}

/* The right CA: a verified session by name (localhost: ::1 refused, then 127.0.0.1) and by
 * address (subjectAltName iPAddress). */
static void test_tls_verified(void **state)
{
    struct ag_http_response rs;
    struct ag_http *h;
    char ca[600];
    int port;
    pid_t pid;
    (void)state;
    if (!have_openssl)
        skip();
    tls_path(ca, sizeof ca, "ca.pem");
    pid = s_server_start("srv.pem", &port);
    h = client("localhost", port, 1, ca, 5000);
    if (send_body(h, "GET", NULL, 0, &rs) != 0)
        fail_msg("localhost: %s", rs.detail);
    assert_int_equal(rs.status, 200);
    assert_true(rs.body_total > 0);
    assert_int_equal(rs.conn_close, 1); /* s_server -www answers HTTP/1.0 and closes */
    /* again, on a new connection with the same TLS context */
    if (send_body(h, "GET", NULL, 0, &rs) != 0)
        fail_msg("localhost again: %s", rs.detail);
    assert_int_equal(rs.status, 200);
    ag_http_free(h);
    h = client("127.0.0.1", port, 1, ca, 5000);
    if (send_body(h, "GET", NULL, 0, &rs) != 0)
        fail_msg("127.0.0.1: %s", rs.detail);
    assert_int_equal(rs.status, 200);
    ag_http_free(h);
    s_server_stop(pid);
}

/* Another CA, or an address the certificate does not name: certificate verify failed. */
static void test_tls_verify_failed(void **state)
{
    struct ag_http_response rs;
    struct ag_http *h;
    char ca[600], other[600];
    int port;
    pid_t pid;
    (void)state;
    if (!have_openssl)
        skip();
    tls_path(ca, sizeof ca, "ca.pem");
    tls_path(other, sizeof other, "other.pem");
    pid = s_server_start("srv.pem", &port);
    h = client("localhost", port, 1, other, 5000);
    assert_int_equal(send_body(h, "GET", NULL, 0, &rs), AG_HTTP_E_TLS_VERIFY);
    assert_non_null(strstr(rs.detail, "not correctly signed by the trusted CA"));
    ag_http_free(h);
    s_server_stop(pid);

    pid = s_server_start("dns.pem", &port);
    h = client("127.0.0.1", port, 1, ca, 5000);
    assert_int_equal(send_body(h, "GET", NULL, 0, &rs), AG_HTTP_E_TLS_VERIFY);
    assert_non_null(strstr(rs.detail, "Common Name (CN) does not match"));
    ag_http_free(h);
    h = client("localhost", port, 1, ca, 5000); /* the name it does carry */
    assert_int_equal(send_body(h, "GET", NULL, 0, &rs), 0);
    ag_http_free(h);
    s_server_stop(pid);
}

/* TLS to a plain HTTP server: the handshake fails; a CA file that is not one: TLS_CA. */
static void test_tls_misconfigured(void **state)
{
    static const struct step script[] = {
        {ACCEPT, NULL}, {GREET, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"}};
    static const struct step quiet[] = {{ACCEPT, NULL}, {END, NULL}};
    struct server sv;
    struct ag_http_response rs;
    struct ag_http *h;
    char ca[600], notca[600];
    (void)state;
    if (!have_openssl)
        skip();
    tls_path(ca, sizeof ca, "ca.pem");
    tls_path(notca, sizeof notca, "ip.ext");
    server_start(&sv, script);
    /* a plain server answers a ClientHello with a 400 */
    h = client("127.0.0.1", sv.port, 1, ca, 5000);
    assert_int_equal(send_body(h, "GET", NULL, 0, &rs), AG_HTTP_E_TLS);
    assert_true(rs.detail[0] != '\0');
    ag_http_free(h);
    server_finish(&sv, 1);

    server_start(&sv, quiet);
    h = client("127.0.0.1", sv.port, 1, notca, 5000);
    assert_int_equal(send_body(h, "GET", NULL, 0, &rs), AG_HTTP_E_TLS_CA);
    assert_true(rs.detail[0] != '\0');
    ag_http_free(h);
    server_finish(&sv, 0);
    assert_null(strstr(sv.log, "!!"));
}

int main(void)
{
    const struct CMUnitTest plain[] = {
        cmocka_unit_test(test_keepalive_201),
        cmocka_unit_test(test_chunked_error),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_connection_close),
        cmocka_unit_test(test_idle_closed),
        cmocka_unit_test(test_reused_dropped_is_resent),
        cmocka_unit_test(test_no_resend),
        cmocka_unit_test(test_framings),
        cmocka_unit_test(test_large_body),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_refused_and_connect_timeout),
        cmocka_unit_test(test_new_rejects),
        cmocka_unit_test(test_dribbled),
        cmocka_unit_test(test_parse_every_split),
    };
    const struct CMUnitTest tls[] = {
        cmocka_unit_test(test_tls_verified),
        cmocka_unit_test(test_tls_verify_failed),
        cmocka_unit_test(test_tls_misconfigured),
    };
    signal(SIGPIPE, SIG_IGN);
    int rc = cmocka_run_group_tests_name("http_client", plain, NULL, NULL);
    return rc | cmocka_run_group_tests_name("http_client_tls", tls, tls_setup, tls_teardown);
}

#else /* built without the https transport */

int main(void)
{
    return 0;
}

#endif
