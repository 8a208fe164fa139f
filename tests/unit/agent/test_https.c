/*
 * test_https.c - the REST transport (libcurl) against real servers on 127.0.0.1: a scripted
 * plain server forked by the test (it answers each request with the text the test gives,
 * closes, drops or hangs when told to, and logs every request with its body's length and hash),
 * `openssl s_server` with a throwaway CA for TLS, and tests/lib/connect_proxy.py, a CONNECT
 * proxy, for the proxy settings and environment (skipped without openssl / python3).
 *
 * What a sender relies on: the request is what the hub expects (the URL, Host, Content-Length,
 * the SAS token, no Expect) and its body is byte for byte what format() makes; the answer's
 * status, Retry-After headers and <Detail> come back as results and sentences; the connection
 * is reused and made again when the server closed it; a request goes a second time only when a
 * reused connection failed before any answer; failures come back as the right result and why
 * (refused, timeout, malformed, certificate, proxy).
 */
#include <errno.h>
#include <fcntl.h>
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/transport/https/https_conf.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/sas.h"
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
    char log[32768];
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

/* Child: read one request, log its head and its body's length and hash. 1, 0 at a clean end
 * of the connection, -1 on trouble. */
static int srv_request(int fd, int logfd, int conn, int nreq)
{
    static char buf[16384];
    static char body[16 << 20];
    char *end, *cl;
    size_t len = 0, head, have, want = 0;
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
    memcpy(body, buf + head, have);
    while (have < want && have < sizeof body) {
        ssize_t k;
        if (!wait_in(fd, 10000) || (k = recv(fd, body + have, sizeof body - have, 0)) <= 0)
            return -1;
        have += (size_t)k;
    }
    dprintf(logfd, "=== c%d r%d body=%zu hash=%016llx [%.*s]\n%.*s", conn, nreq, have,
            (unsigned long long)hc_hash_bytes(body, have), (int)(have < 40 ? have : 40), body,
            (int)head, buf);
    return 1;
}

static void srv_write(int fd, const char *s, int dribble)
{
    int one = 1;
    if (dribble)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (size_t n = strlen(s); n;) {
        ssize_t k = send(fd, s, dribble ? 1 : n, MSG_NOSIGNAL);
        if (k <= 0)
            return;
        s += k;
        n -= (size_t)k;
        if (dribble)
            usleep(300);
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
                srv_write(fd, s->text, 0);
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
        if (s->text)
            srv_write(fd, s->text, s->op == DRIBBLE);
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
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves nothing running */
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

/* Wait for the child (killed when kill_it is set), then read its log into sv->log. */
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

/* ---- records and the transport ------------------------------------------------------------- */

#define KEY "test-k3y="

static char json[3][256];
static struct ag_record recs[3];
static const struct ag_record *ptrs[3] = {&recs[0], &recs[1], &recs[2]};

static void make_records(void)
{
    for (int i = 0; i < 3; i++) {
        struct ag_record *r = &recs[i];
        memset(r, 0, sizeof *r);
        r->seq = (uint64_t)i + 1;
        r->ev.id[0] = 0x01;
        r->ev.id[6] = 0x70;
        r->ev.id[15] = (uint8_t)(i + 1);
        r->ev.device_id = "pi-0007";
        r->ev.device_id_len = 7;
        r->ev.kind = HC_KIND_ORDER_LINE;
        r->ev.schema = 1;
        snprintf(json[i], sizeof json[i],
                 "{\"event_id\":\"x\",\"device_id\":\"pi-0007\",\"kind\":\"order_line\","
                 "\"schema\":1,\"data\":{\"n\":%d,\"note\":\"a \\\"quote\\\"\"}}",
                 i);
        r->json = json[i];
        r->json_len = strlen(json[i]);
    }
}

/* The log line the server writes for a body format() makes of recs[0..n). */
static void body_line(const struct ag_record *const *rs, size_t n, char *out, size_t cap)
{
    struct hc_buf b = HC_BUF_INIT;
    assert_int_equal(ag_https_format(rs, n, &b), 0);
    snprintf(out, cap, "body=%zu hash=%016llx", b.len,
             (unsigned long long)hc_hash_bytes(b.p, b.len));
    hc_buf_free(&b);
}

struct tp {
    void *ctx;
    struct ag_send_status st;
};

/* init with a connection string to endpoint (e.g. "http://127.0.0.1:PORT") and more settings. */
static void tp_open(struct tp *t, const char *endpoint, const char *timeout, ...)
{
    char cs[512], err[512];
    struct ag_kv kv[8];
    size_t n = 0;
    va_list ap;
    snprintf(cs, sizeof cs,
             "Endpoint=%s/;SharedAccessKeyName=send;SharedAccessKey=" KEY ";EntityPath=hub",
             endpoint);
    kv[n++] = (struct ag_kv){"connection_string", cs};
    kv[n++] = (struct ag_kv){"connect_timeout", "2s"};
    kv[n++] = (struct ag_kv){"timeout", timeout};
    va_start(ap, timeout);
    for (const char *k; (k = va_arg(ap, const char *));)
        kv[n++] = (struct ag_kv){k, va_arg(ap, const char *)};
    va_end(ap);
    memset(t, 0, sizeof *t);
    if (ag_transport_https.init(kv, n, NULL, &t->ctx, err, sizeof err))
        fail_msg("init: %s", err);
}

static enum ag_send_result tp_send(struct tp *t, size_t n)
{
    return ag_transport_https.send(t->ctx, ptrs, n, &t->st);
}

static uint64_t tp_counter(struct tp *t, enum ag_tp_counter c)
{
    struct ag_transport_counters k;
    ag_transport_https.counters(t->ctx, &k);
    return k.v[c];
}

static void tp_close(struct tp *t)
{
    ag_transport_https.close(t->ctx);
    t->ctx = NULL;
}

static void url(char *out, size_t cap, const char *scheme, const char *host, int port)
{
    snprintf(out, cap, "%s://%s:%d", scheme, host, port);
}

#define CREATED "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"

/* ---- plain HTTP ----------------------------------------------------------------------------- */

/* Two 201s on one connection; the request is what the hub expects, the body what format makes. */
static void test_keepalive_201(void **state)
{
    static const struct step script[] = {
        {ACCEPT, NULL}, {REPLY, CREATED}, {REPLY, CREATED}, {END, NULL}};
    struct server sv;
    struct tp t;
    char ep[64], want[256], *auth;
    (void)state;
    server_start(&sv, script);
    url(ep, sizeof ep, "http", "127.0.0.1", sv.port);
    tp_open(&t, ep, "5s", NULL);
    assert_int_equal(tp_send(&t, 3), AG_SEND_OK);
    assert_int_equal(t.st.acked, 3);
    assert_string_equal(t.st.code, "");
    assert_int_equal(tp_send(&t, 1), AG_SEND_OK);
    assert_int_equal(t.st.acked, 1);
    assert_int_equal(tp_counter(&t, AG_TPC_CONNECTS), 1);
    assert_int_equal(tp_counter(&t, AG_TPC_REQUESTS), 2);
    assert_int_equal(tp_counter(&t, AG_TPC_ACCEPTED), 4);
    tp_close(&t);
    server_finish(&sv, 0);
    assert_int_equal(log_requests(&sv), 2);
    assert_null(strstr(sv.log, "!!"));
    assert_non_null(
        strstr(sv.log, "POST /hub/messages?timeout=60&api-version=2014-01 HTTP/1.1\r\n"));
    snprintf(want, sizeof want, "\r\nHost: 127.0.0.1:%d\r\n", sv.port);
    assert_non_null(strstr(sv.log, want));
    body_line(ptrs, 3, want, sizeof want);
    assert_non_null(strstr(sv.log, want));
    body_line(ptrs, 1, want, sizeof want);
    assert_non_null(strstr(sv.log, want));
    assert_non_null(strstr(sv.log, "=== c1 r2 "));
    assert_non_null(strstr(sv.log, "\r\nContent-Type: " AG_HTTPS_CONTENT_TYPE "\r\n"));
    auth = strstr(sv.log,
                  "\r\nAuthorization: SharedAccessSignature sr=http%3A%2F%2F127.0.0.1%2Fhub&sig=");
    assert_non_null(auth);
    assert_non_null(strstr(auth, "&skn=send\r\n"));
    assert_null(strcasestr(sv.log, "Expect:"));
    assert_null(strcasestr(sv.log, "Transfer-Encoding"));
}

/* A chunked error body: its <Detail> is in the sentence, the code is neutral; 400 on one event
 * is about that event (one); the connection stays usable. */
static void test_chunked_error_detail(void **state)
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
        {REPLY, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 0\r\n\r\n"},
        {REPLY, CREATED},
        {END, NULL}};
    struct server sv;
    struct tp t;
    char ep[64];
    (void)state;
    server_start(&sv, script);
    url(ep, sizeof ep, "http", "127.0.0.1", sv.port);
    tp_open(&t, ep, "5s", NULL);
    assert_int_equal(tp_send(&t, 3), AG_SEND_REJECT);
    assert_int_equal(t.st.why, AG_WHY_SIZE);
    assert_int_equal(t.st.acked, 0);
    assert_int_equal(t.st.one, 0);
    assert_string_equal(t.st.code, "HTTP 400");
    assert_non_null(strstr(t.st.error, "malformed or too large: SubCode=40000. Bad body"));
    assert_int_equal(tp_send(&t, 1), AG_SEND_REJECT);
    assert_string_equal(t.st.code, "HTTP 413");
    assert_int_equal(t.st.one, 1);
    assert_non_null(strstr(t.st.error, "lower max_batch_bytes"));
    assert_int_equal(tp_send(&t, 2), AG_SEND_OK);
    assert_int_equal(tp_counter(&t, AG_TPC_CONNECTS), 1);
    assert_int_equal(tp_counter(&t, AG_TPC_REJECTED), 1);
    tp_close(&t);
    server_finish(&sv, 0);
    assert_null(strstr(sv.log, "!!"));
}

/* Retry-After and the millisecond headers: the milliseconds win; a date counts from now; 401
 * and 403 are auth, 404 refuses the request as a whole, 500 is the server's. */
static void test_retry_after_and_mapping(void **state)
{
    static const struct step script[] = {
        {ACCEPT, NULL},
        {REPLY, "HTTP/1.1 429 Too Many Requests\r\nretry-AFTER:  7 \r\n"
                "X-Ms-Retry-After-Ms: 1500\r\nContent-Length: 4\r\n\r\nslow"},
        {REPLY, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\n"
                "Content-Length: 0\r\n\r\n"},
        {REPLY, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"},
        {REPLY, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"},
        {REPLY, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"},
        {REPLY, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"},
        {END, NULL}};
    struct server sv;
    struct tp t;
    char ep[64];
    (void)state;
    server_start(&sv, script);
    url(ep, sizeof ep, "http", "127.0.0.1", sv.port);
    tp_open(&t, ep, "5s", NULL);
    assert_int_equal(tp_send(&t, 1), AG_SEND_RETRY);
    assert_int_equal(t.st.why, AG_WHY_THROTTLED);
    assert_int_equal(t.st.retry_after_ms, 1500);
    assert_string_equal(t.st.code, "HTTP 429");
    assert_non_null(strstr(t.st.error, "throttling: slow"));
    assert_int_equal(tp_send(&t, 1), AG_SEND_RETRY);
    assert_int_equal(t.st.retry_after_ms, 3000);
    assert_int_equal(tp_send(&t, 1), AG_SEND_RETRY);
    assert_int_equal(t.st.why, AG_WHY_AUTH);
    assert_non_null(strstr(t.st.error, "SharedAccessKey"));
    assert_int_equal(t.st.retry_after_ms, -1);
    assert_int_equal(tp_send(&t, 1), AG_SEND_RETRY);
    assert_int_equal(t.st.why, AG_WHY_AUTH);
    assert_non_null(strstr(t.st.error, "Send rights"));
    assert_int_equal(tp_send(&t, 1), AG_SEND_REJECT);
    assert_int_equal(t.st.why, AG_WHY_REFUSED);
    assert_non_null(strstr(t.st.error, "no event hub hub"));
    assert_int_equal(tp_send(&t, 1), AG_SEND_RETRY);
    assert_int_equal(t.st.why, AG_WHY_SERVER);
    assert_string_equal(t.st.code, "HTTP 500");
    assert_int_equal(tp_counter(&t, AG_TPC_AUTH_REFUSED), 2);
    tp_close(&t);
    server_finish(&sv, 0);
    assert_null(strstr(sv.log, "!!"));
}

/* "Connection: close", and an idle connection the server closed: the next request goes on a
 * new connection, once. */
static void test_connection_closed(void **state)
{
    static const struct step script[] = {
        {ACCEPT, NULL},
        {REPLY_CLOSE, "HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"},
        {ACCEPT, NULL},
        {REPLY, CREATED},
        {CLOSE, NULL},
        {ACCEPT, NULL},
        {REPLY, CREATED},
        {END, NULL}};
    struct server sv;
    struct tp t;
    char ep[64];
    (void)state;
    server_start(&sv, script);
    url(ep, sizeof ep, "http", "127.0.0.1", sv.port);
    tp_open(&t, ep, "5s", NULL);
    assert_int_equal(tp_send(&t, 1), AG_SEND_OK);
    assert_int_equal(tp_send(&t, 1), AG_SEND_OK);
    usleep(200 * 1000); /* the server's FIN arrives */
    assert_int_equal(tp_send(&t, 1), AG_SEND_OK);
    assert_int_equal(tp_counter(&t, AG_TPC_CONNECTS), 3);
    tp_close(&t);
    server_finish(&sv, 0);
    assert_int_equal(log_requests(&sv), 3);
    assert_null(strstr(sv.log, "!!"));
}

/* The server closes the reused connection as the request arrives, before answering: the
 * request is sent once more on a new connection, whole. */
static void test_reused_dropped_is_resent(void **state)
{
    static const struct step script[] = {{ACCEPT, NULL}, {REPLY, CREATED}, {DROP, NULL},
                                         {ACCEPT, NULL}, {REPLY, CREATED}, {END, NULL}};
    struct server sv;
    struct tp t;
    char ep[64], want[128], line[64];
    (void)state;
    server_start(&sv, script);
    url(ep, sizeof ep, "http", "127.0.0.1", sv.port);
    tp_open(&t, ep, "5s", NULL);
    assert_int_equal(tp_send(&t, 1), AG_SEND_OK);
    assert_int_equal(tp_send(&t, 3), AG_SEND_OK);
    tp_close(&t);
    server_finish(&sv, 0);
    body_line(ptrs, 3, line, sizeof line);
    snprintf(want, sizeof want, "=== c1 r2 %s", line);
    assert_non_null(strstr(sv.log, want));
    snprintf(want, sizeof want, "=== c2 r1 %s", line);
    assert_non_null(strstr(sv.log, want));
    assert_null(strstr(sv.log, "!!"));
}

/* A reused connection that dies before a whole status line came back: curl sends the request
 * once more on a fresh connection (a duplicate at most, never a loss). A fresh connection that
 * dies: reported, never sent twice. */
static void test_resend_rules(void **state)
{
    static const struct step partial[] = {
        {ACCEPT, NULL}, {REPLY, CREATED}, {REPLY_CLOSE, "HTTP/1.1 20"},
        {ACCEPT, NULL}, {REPLY, CREATED}, {END, NULL}};
    static const struct step fresh[] = {{ACCEPT, NULL}, {DROP, NULL}, {END, NULL}};
    struct server sv;
    struct tp t;
    char ep[64];
    (void)state;
    server_start(&sv, partial);
    url(ep, sizeof ep, "http", "127.0.0.1", sv.port);
    tp_open(&t, ep, "5s", NULL);
    assert_int_equal(tp_send(&t, 1), AG_SEND_OK);
    assert_int_equal(tp_send(&t, 2), AG_SEND_OK);
    assert_int_equal(t.st.acked, 2);
    tp_close(&t);
    server_finish(&sv, 0);
    assert_int_equal(log_requests(&sv), 3);
    assert_non_null(strstr(sv.log, "=== c2 r1 "));
    assert_null(strstr(sv.log, "!!"));

    server_start(&sv, fresh);
    url(ep, sizeof ep, "http", "127.0.0.1", sv.port);
    tp_open(&t, ep, "5s", NULL);
    assert_int_equal(tp_send(&t, 1), AG_SEND_RETRY);
    assert_non_null(strstr(t.st.error, "dropped before an answer"));
    tp_close(&t);
    server_finish(&sv, 0);
    if (log_requests(&sv) != 1 || strstr(sv.log, "!!"))
        fail_msg("%s", sv.log);
}

/* A body larger than the socket buffers goes out whole, streamed record by record: 20000
 * records (about 4 MB), byte for byte what format makes. */
static void test_large_body_streamed(void **state)
{
    static const struct step script[] = {{ACCEPT, NULL}, {REPLY, CREATED}, {END, NULL}};
    enum { N = 20000 };
    static struct ag_record big[N];
    static const struct ag_record *bp[N];
    struct server sv;
    struct ag_send_status st;
    char ep[64], want[128];
    void *ctx;
    struct tp t;
    (void)state;
    for (size_t i = 0; i < N; i++) {
        big[i] = recs[i % 3];
        bp[i] = &big[i];
    }
    server_start(&sv, script);
    url(ep, sizeof ep, "http", "127.0.0.1", sv.port);
    tp_open(&t, ep, "10s", "max_batch_bytes", "64M", NULL);
    ctx = t.ctx;
    assert_int_equal(ag_transport_https.send(ctx, bp, N, &st), AG_SEND_OK);
    assert_int_equal(st.acked, N);
    tp_close(&t);
    server_finish(&sv, 0);
    body_line(bp, N, want, sizeof want);
    assert_non_null(strstr(sv.log, want));
}

/* Malformed answers are refused cleanly (RETRY, a sentence), and the next request starts
 * afresh; an answer a byte at a time is read whole. */
static void test_malformed_and_dribbled(void **state)
{
    static const char *const bad[] = {
        "HTTP/1.1 2x1 OK\r\n\r\n",
        "garbage\r\n\r\n",
        "HTTP/1.1 201 Created\r\nContent-Length: 12abc\r\n\r\n",
        "HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    };
    enum { N = sizeof bad / sizeof bad[0] };
    struct step script[2 * N + 3];
    struct server sv;
    struct tp t;
    char ep[64];
    (void)state;
    for (size_t i = 0; i < N; i++) {
        script[2 * i] = (struct step){ACCEPT, NULL};
        script[2 * i + 1] = (struct step){REPLY_CLOSE, bad[i]};
    }
    script[2 * N] = (struct step){ACCEPT, NULL};
    script[2 * N + 1] = (struct step){DRIBBLE, "HTTP/1.1 413 Too Large\r\nTransfer-Encoding: "
                                               "chunked\r\nRetry-After: 3\r\n\r\n4\r\nabcd\r\n"
                                               "3;x=y\r\nefg\r\n0\r\n\r\n"};
    script[2 * N + 2] = (struct step){END, NULL};
    server_start(&sv, script);
    url(ep, sizeof ep, "http", "127.0.0.1", sv.port);
    tp_open(&t, ep, "5s", NULL);
    for (size_t i = 0; i < N; i++) {
        enum ag_send_result r = tp_send(&t, 1);
        if (r != AG_SEND_RETRY || t.st.acked || !t.st.error[0])
            fail_msg("answer %zu: %s (%s: %s)", i, ag_send_result_name(r), t.st.code, t.st.error);
    }
    assert_int_equal(tp_send(&t, 1), AG_SEND_REJECT);
    assert_string_equal(t.st.code, "HTTP 413");
    assert_non_null(strstr(t.st.error, "abcdefg"));
    assert_int_equal(tp_counter(&t, AG_TPC_CONNECTS), N + 1);
    tp_close(&t);
    server_finish(&sv, 0);
    assert_null(strstr(sv.log, "!!"));
}

static double since(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

/* A server that never answers: a timeout within reason of the setting; nobody listening:
 * refused, with a sentence a user can act on. */
static void test_timeout_and_refused(void **state)
{
    static const struct step script[] = {{ACCEPT, NULL}, {HANG, NULL}};
    struct server sv;
    struct timespec a;
    struct tp t;
    char ep[64];
    double secs;
    (void)state;
    server_start(&sv, script);
    url(ep, sizeof ep, "http", "127.0.0.1", sv.port);
    tp_open(&t, ep, "1s", NULL);
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(tp_send(&t, 1), AG_SEND_RETRY);
    secs = since(&a);
    assert_int_equal(t.st.why, AG_WHY_NETWORK);
    assert_non_null(strstr(t.st.error, "timeout talking to 127.0.0.1:"));
    assert_true(secs >= 0.9 && secs < 5.0);
    tp_close(&t);
    server_finish(&sv, 1);

    url(ep, sizeof ep, "http", "127.0.0.1", free_port());
    tp_open(&t, ep, "5s", NULL);
    assert_int_equal(tp_send(&t, 1), AG_SEND_RETRY);
    assert_int_equal(t.st.why, AG_WHY_NETWORK);
    assert_string_equal(t.st.code, "");
    assert_non_null(strstr(t.st.error, "connection refused by 127.0.0.1:"));
    assert_int_equal(tp_counter(&t, AG_TPC_DISCONNECTS), 1);
    tp_close(&t);
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
    make_records();
    if (access("/usr/bin/openssl", X_OK) != 0)
        return 0;
    if (!tu_mkdtemp(tls_dir, sizeof tls_dir, "test_https.XXXXXX"))
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
           "-out dns.pem -days 2 -extfile dns.ext && "
           "printf 'HTTP/1.1 201 Created\\r\\nContent-Length: 0\\r\\n\\r\\n' > "
           "answer.http) >/dev/null 2>&1",
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

/* Is a socket listening on 127.0.0.1:port? (/proc/net/tcp: local address, state 0A) */
static int listening(int port)
{
    char line[256], want[32];
    FILE *f = fopen("/proc/net/tcp", "r");
    int found = 0;
    if (!f)
        return 0;
    snprintf(want, sizeof want, "0100007F:%04X 00000000:0000 0A", port);
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, want) != NULL;
    fclose(f);
    return found;
}

/*
 * openssl s_server on 127.0.0.1 with cert (a file in tls_dir) for one connection, waiting until
 * it listens. What it writes to the connection comes from its stdin: a canned 201 (s_server has
 * no HTTP of its own for a POST), sent as soon as the TLS session is up.
 */
static pid_t s_server_start(const char *cert, int *port)
{
    char accept_at[64], certp[600], keyp[600], ans[600];
    pid_t pid;
    *port = free_port();
    snprintf(accept_at, sizeof accept_at, "127.0.0.1:%d", *port);
    snprintf(certp, sizeof certp, "%s/%s", tls_dir, cert);
    snprintf(keyp, sizeof keyp, "%s/srv.key", tls_dir);
    snprintf(ans, sizeof ans, "%s/answer.http", tls_dir);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR), in = open(ans, O_RDONLY);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(in, 0);
        dup2(null, 1);
        dup2(null, 2);
        execl("/usr/bin/openssl", "openssl", "s_server", "-accept", accept_at, "-cert", certp,
              "-key", keyp, "-quiet", "-naccept", "1", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        if (listening(*port)) /* a probe would take the one connection */
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

/* The right CA: a verified session by name and by address (subjectAltName iPAddress). */
static void test_tls_verified(void **state)
{
    struct tp t;
    char ca[600], ep[64];
    int port;
    pid_t pid;
    (void)state;
    if (!have_openssl)
        skip();
    tls_path(ca, sizeof ca, "ca.pem");
    pid = s_server_start("srv.pem", &port);
    url(ep, sizeof ep, "https", "localhost", port);
    tp_open(&t, ep, "5s", "ca_file", ca, NULL);
    if (tp_send(&t, 1) != AG_SEND_OK)
        fail_msg("localhost: %s: %s", t.st.code, t.st.error);
    tp_close(&t);
    s_server_stop(pid);
    pid = s_server_start("srv.pem", &port);
    url(ep, sizeof ep, "https", "127.0.0.1", port);
    tp_open(&t, ep, "5s", "ca_file", ca, NULL);
    if (tp_send(&t, 1) != AG_SEND_OK)
        fail_msg("127.0.0.1: %s: %s", t.st.code, t.st.error);
    tp_close(&t);
    s_server_stop(pid);
}

/* Another CA, the system's bundle, or an address the certificate does not name: certificate
 * verify failed, nothing sent. */
static void test_tls_verify_failed(void **state)
{
    struct tp t;
    char ca[600], other[600], ep[64];
    int port;
    pid_t pid;
    (void)state;
    if (!have_openssl)
        skip();
    tls_path(ca, sizeof ca, "ca.pem");
    tls_path(other, sizeof other, "other.pem");
    pid = s_server_start("srv.pem", &port);
    url(ep, sizeof ep, "https", "localhost", port);
    tp_open(&t, ep, "5s", "ca_file", other, NULL);
    assert_int_equal(tp_send(&t, 1), AG_SEND_RETRY);
    assert_int_equal(t.st.why, AG_WHY_TLS);
    assert_non_null(strstr(t.st.error, "certificate verify failed for host localhost"));
    assert_non_null(strstr(t.st.error, other));
    tp_close(&t);
    s_server_stop(pid);
    pid = s_server_start("srv.pem", &port);
    url(ep, sizeof ep, "https", "localhost", port);
    tp_open(&t, ep, "5s", NULL);
    assert_int_equal(tp_send(&t, 1), AG_SEND_RETRY);
    assert_int_equal(t.st.why, AG_WHY_TLS);
    assert_non_null(strstr(t.st.error, "system CA bundle"));
    tp_close(&t);
    s_server_stop(pid);

    pid = s_server_start("dns.pem", &port);
    url(ep, sizeof ep, "https", "127.0.0.1", port);
    tp_open(&t, ep, "5s", "ca_file", ca, NULL);
    assert_int_equal(tp_send(&t, 1), AG_SEND_RETRY);
    assert_int_equal(t.st.why, AG_WHY_TLS);
    tp_close(&t);
    s_server_stop(pid);
    pid = s_server_start("dns.pem", &port);
    url(ep, sizeof ep, "https", "localhost", port); /* the name it does carry */
    tp_open(&t, ep, "5s", "ca_file", ca, NULL);
    assert_int_equal(tp_send(&t, 1), AG_SEND_OK);
    tp_close(&t);
    s_server_stop(pid);
}

/* TLS to a plain HTTP server: the handshake fails with a hint; a CA file that is not one. */
static void test_tls_misconfigured(void **state)
{
    static const struct step script[] = {
        {ACCEPT, NULL}, {GREET, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"}};
    struct server sv;
    struct tp t;
    char ca[600], notca[600], ep[64];
    int port;
    pid_t pid;
    (void)state;
    if (!have_openssl)
        skip();
    tls_path(ca, sizeof ca, "ca.pem");
    tls_path(notca, sizeof notca, "ip.ext");
    server_start(&sv, script);
    url(ep, sizeof ep, "https", "127.0.0.1", sv.port);
    tp_open(&t, ep, "5s", "ca_file", ca, NULL);
    assert_int_equal(tp_send(&t, 1), AG_SEND_RETRY);
    assert_int_equal(t.st.why, AG_WHY_TLS);
    assert_non_null(strstr(t.st.error, "is it a TLS endpoint?"));
    tp_close(&t);
    server_finish(&sv, 1);

    pid = s_server_start("srv.pem", &port);
    url(ep, sizeof ep, "https", "localhost", port);
    tp_open(&t, ep, "5s", "ca_file", notca, NULL);
    assert_int_equal(tp_send(&t, 1), AG_SEND_RETRY);
    assert_int_equal(t.st.why, AG_WHY_TLS);
    assert_non_null(strstr(t.st.error, "ip.ext"));
    tp_close(&t);
    s_server_stop(pid);
}

/* ---- a CONNECT proxy (tests/lib/connect_proxy.py) ------------------------------------------ */

static char px_dir[512];

struct proxy {
    pid_t pid;
    int port;
    char log[600];
};

static void proxy_start(struct proxy *p, const char *extra)
{
    char script[600], portf[600];
    snprintf(script, sizeof script, "%s/tests/lib/connect_proxy.py", HC_SRC_DIR);
    snprintf(portf, sizeof portf, "%s/px.port", px_dir);
    snprintf(p->log, sizeof p->log, "%s/px.log", px_dir);
    unlink(portf);
    unlink(p->log);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl("/usr/bin/python3", "python3", script, "--port-file", portf, "--log", p->log, extra,
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        FILE *f = fopen(portf, "r");
        if (f) {
            int ok = fscanf(f, "%d", &p->port) == 1;
            fclose(f);
            if (ok)
                return;
        }
        usleep(50 * 1000);
    }
    kill(p->pid, SIGKILL);
    fail_msg("connect_proxy.py did not start");
}

/* The proxy's log (after the tunnels closed), into out. */
static void proxy_stop(struct proxy *p, char *out, size_t cap)
{
    FILE *f;
    size_t n = 0;
    usleep(200 * 1000);
    kill(p->pid, SIGTERM);
    waitpid(p->pid, NULL, 0);
    out[0] = '\0';
    if ((f = fopen(p->log, "r"))) {
        n = fread(out, 1, cap - 1, f);
        fclose(f);
    }
    out[n] = '\0';
}

static int px_setup(void **state)
{
    int rc = tls_setup(state);
    if (rc || access("/usr/bin/python3", X_OK) != 0)
        return rc;
    return tu_mkdtemp(px_dir, sizeof px_dir, "test_https_px.XXXXXX") ? 0 : -1;
}

static int px_teardown(void **state)
{
    if (px_dir[0])
        tu_rm_tree(px_dir);
    return tls_teardown(state);
}

static int count_of(const char *s, const char *what)
{
    int n = 0;
    for (; (s = strstr(s, what)); s++)
        n++;
    return n;
}

/* proxy = URL: the hub is reached through a CONNECT tunnel (kept alive); NO_PROXY / no_proxy
 * bypass it; proxy = none ignores the environment. */
static void test_proxy_setting_and_no_proxy(void **state)
{
    static const struct step script[] = {{ACCEPT, NULL},   {REPLY, CREATED}, {REPLY, CREATED},
                                         {ACCEPT, NULL},   {REPLY, CREATED}, {ACCEPT, NULL},
                                         {REPLY, CREATED}, {END, NULL}};
    struct server sv;
    struct proxy p;
    struct tp t;
    char ep[64], px[64], want[128], log[8192];
    (void)state;
    if (!px_dir[0])
        skip();
    server_start(&sv, script);
    proxy_start(&p, "--port=0");
    url(ep, sizeof ep, "http", "127.0.0.1", sv.port);
    url(px, sizeof px, "http", "127.0.0.1", p.port);
    tp_open(&t, ep, "5s", "proxy", px, NULL);
    assert_int_equal(tp_send(&t, 3), AG_SEND_OK);
    assert_int_equal(tp_send(&t, 1), AG_SEND_OK);
    tp_close(&t);
    tp_open(&t, ep, "5s", "proxy", px, "no_proxy", "127.0.0.1", NULL); /* bypassed */
    assert_int_equal(tp_send(&t, 1), AG_SEND_OK);
    tp_close(&t);
    setenv("http_proxy", px, 1);
    tp_open(&t, ep, "5s", "proxy", "none", NULL); /* the environment is ignored */
    assert_int_equal(tp_send(&t, 1), AG_SEND_OK);
    tp_close(&t);
    unsetenv("http_proxy");
    proxy_stop(&p, log, sizeof log);
    server_finish(&sv, 0);
    assert_null(strstr(sv.log, "!!"));
    assert_int_equal(log_requests(&sv), 4);
    snprintf(want, sizeof want, "\"target\": \"127.0.0.1:%d\", \"status\": 200", sv.port);
    assert_int_equal(count_of(log, want), 1); /* one tunnel for the two requests */
    assert_int_equal(count_of(log, "\"closed\": true"), 1);
    assert_int_equal(count_of(log, "\"method\": \"CONNECT\""), 2);
}

/* HTTPS_PROXY from the environment, TLS through the tunnel with the peer verified; NO_PROXY
 * from the environment bypasses it. */
static void test_proxy_environment_tls(void **state)
{
    struct proxy p;
    struct tp t;
    char ca[600], ep[64], px[64], want[128], log[8192];
    int port, first;
    pid_t pid;
    (void)state;
    if (!px_dir[0] || !have_openssl)
        skip();
    tls_path(ca, sizeof ca, "ca.pem");
    pid = s_server_start("srv.pem", &port);
    proxy_start(&p, "--port=0");
    url(ep, sizeof ep, "https", "localhost", port);
    url(px, sizeof px, "http", "127.0.0.1", p.port);
    setenv("HTTPS_PROXY", px, 1);
    tp_open(&t, ep, "5s", "ca_file", ca, NULL);
    if (tp_send(&t, 1) != AG_SEND_OK)
        fail_msg("through the proxy: %s: %s", t.st.code, t.st.error);
    tp_close(&t);
    s_server_stop(pid);
    first = port;
    pid = s_server_start("srv.pem", &port);
    url(ep, sizeof ep, "https", "localhost", port);
    setenv("NO_PROXY", "localhost", 1);
    tp_open(&t, ep, "5s", "ca_file", ca, NULL);
    if (tp_send(&t, 1) != AG_SEND_OK)
        fail_msg("bypassing the proxy: %s: %s", t.st.code, t.st.error);
    tp_close(&t);
    unsetenv("NO_PROXY");
    unsetenv("HTTPS_PROXY");
    proxy_stop(&p, log, sizeof log);
    s_server_stop(pid);
    snprintf(want, sizeof want, "\"target\": \"localhost:%d\", \"status\": 200", first);
    assert_int_equal(count_of(log, want), 1);
    assert_int_equal(count_of(log, "\"method\": \"CONNECT\""), 2); /* open and close, once */
}

/* A proxy that refuses the tunnel (403), or wants credentials (407), or is not there: a
 * sentence that names the proxy, nothing sent to the hub. */
static void test_proxy_refusals(void **state)
{
    struct proxy p;
    struct tp t;
    char ep[64], px[64], log[8192];
    (void)state;
    if (!px_dir[0])
        skip();
    url(ep, sizeof ep, "http", "127.0.0.1", free_port());
    proxy_start(&p, "--refuse");
    url(px, sizeof px, "http", "127.0.0.1", p.port);
    tp_open(&t, ep, "5s", "proxy", px, NULL);
    assert_int_equal(tp_send(&t, 1), AG_SEND_RETRY);
    assert_string_equal(t.st.code, "proxy HTTP 403");
    assert_non_null(strstr(t.st.error, "the proxy refused the tunnel"));
    tp_close(&t);
    proxy_stop(&p, log, sizeof log);
    assert_int_equal(count_of(log, "\"status\": 403"), 1);

    proxy_start(&p, "--auth=u:p");
    url(px, sizeof px, "http", "127.0.0.1", p.port);
    tp_open(&t, ep, "5s", "proxy", px, NULL);
    assert_int_equal(tp_send(&t, 1), AG_SEND_RETRY);
    assert_string_equal(t.st.code, "proxy HTTP 407");
    assert_int_equal(t.st.why, AG_WHY_AUTH);
    tp_close(&t);
    proxy_stop(&p, log, sizeof log);

    url(px, sizeof px, "http", "127.0.0.1", free_port());
    tp_open(&t, ep, "5s", "proxy", px, NULL);
    assert_int_equal(tp_send(&t, 1), AG_SEND_RETRY);
    assert_non_null(strstr(t.st.error, "connection refused"));
    tp_close(&t);
}

int main(void)
{
    const struct CMUnitTest plain[] = {
        cmocka_unit_test(test_keepalive_201),
        cmocka_unit_test(test_chunked_error_detail),
        cmocka_unit_test(test_retry_after_and_mapping),
        cmocka_unit_test(test_connection_closed),
        cmocka_unit_test(test_reused_dropped_is_resent),
        cmocka_unit_test(test_resend_rules),
        cmocka_unit_test(test_large_body_streamed),
        cmocka_unit_test(test_malformed_and_dribbled),
        cmocka_unit_test(test_timeout_and_refused),
    };
    const struct CMUnitTest tls[] = {
        cmocka_unit_test(test_tls_verified),
        cmocka_unit_test(test_tls_verify_failed),
        cmocka_unit_test(test_tls_misconfigured),
    };
    const struct CMUnitTest proxy[] = {
        cmocka_unit_test(test_proxy_setting_and_no_proxy),
        cmocka_unit_test(test_proxy_environment_tls),
        cmocka_unit_test(test_proxy_refusals),
    };
    int rc;
    signal(SIGPIPE, SIG_IGN);
    unsetenv("HTTPS_PROXY"), unsetenv("https_proxy"), unsetenv("http_proxy");
    unsetenv("NO_PROXY"), unsetenv("no_proxy"), unsetenv("ALL_PROXY"), unsetenv("all_proxy");
    make_records();
    rc = cmocka_run_group_tests_name("https", plain, NULL, NULL);
    rc |= cmocka_run_group_tests_name("https_tls", tls, tls_setup, tls_teardown);
    return rc | cmocka_run_group_tests_name("https_proxy", proxy, px_setup, px_teardown);
}
