/*
 * test_http.c - the HTTP server without a listening socket of its own, fed by an acceptor as
 * the AMQP front end runs one on a shared port: the acceptor accepts, peeks at the first bytes,
 * keeps "AMQP" connections for itself and hands the others over with rx_http_adopt. Over the
 * adopted connections a real Event Hubs send gets its 201 with the event in its partition, and
 * /healthz answers twice on one kept connection; the AMQP connection still gets its own answer.
 * Past connection_limit an adopted fd is refused (-ENFILE) and closed by the server.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/sas.h"
#include "receiver/conf.h"
#include "receiver/core/core.h"
#include "receiver/http/server.h"
#include "receiver/partition/partition.h"
#include "receiver/rest/rest.h"
#include "tests/unit/testutil.h"

static const char amqp_header[8] = {'A', 'M', 'Q', 'P', 0, 1, 0, 0};
static const char health[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

static char root[512];
static struct rx_conf conf;
static struct rx_metrics metrics;
static struct rx_core *core;
static struct rx_rest *rest;

/* ---- The acceptor, as a front end sharing its port with HTTP would run it ------------------- */

struct acceptor {
    int lfd;
    int port;
    pthread_t t;
    atomic_int adopted, amqp, refused; /* counts */
    atomic_int last;                   /* what rx_http_adopt returned last */
};

static void *accept_loop(void *arg)
{
    struct acceptor *a = arg;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        char first[4];
        int fd = accept(a->lfd, (struct sockaddr *)&ss, &sl);
        if (fd < 0)
            return NULL; /* the listening socket was shut down: the test is over */
        if (recv(fd, first, sizeof first, MSG_PEEK | MSG_WAITALL) == 4 &&
            !memcmp(first, "AMQP", 4)) {
            char hdr[8];
            if (recv(fd, hdr, sizeof hdr, MSG_WAITALL) == 8)
                send(fd, amqp_header, sizeof amqp_header, MSG_NOSIGNAL);
            close(fd);
            a->amqp++;
            continue;
        }
        a->last = rx_http_adopt(rx_rest_http(rest), fd, (struct sockaddr *)&ss, sl);
        if (a->last == 0)
            a->adopted++;
        else
            a->refused++; /* the fd was closed by the server */
    }
}

static void acceptor_start(struct acceptor *a)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sin;
    memset(a, 0, sizeof *a);
    a->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(a->lfd >= 0);
    assert_int_equal(bind(a->lfd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(a->lfd, 16), 0);
    assert_int_equal(getsockname(a->lfd, (struct sockaddr *)&sin, &sl), 0);
    a->port = ntohs(sin.sin_port);
    assert_int_equal(pthread_create(&a->t, NULL, accept_loop, a), 0);
}

static void acceptor_stop(struct acceptor *a)
{
    shutdown(a->lfd, SHUT_RDWR);
    pthread_join(a->t, NULL);
    close(a->lfd);
}

/* ---- A client ------------------------------------------------------------------------------- */

static int dial(int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 10};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void put(int fd, const char *s, size_t n)
{
    assert_int_equal(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* The status of one HTTP answer read from fd (its body read too), or -1. */
static int answer(int fd)
{
    char buf[8192];
    size_t len = 0;
    char *end = NULL, *cl;
    long body;
    while (!(end = len ? strstr(buf, "\r\n\r\n") : NULL)) {
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
    }
    cl = strstr(buf, "Content-Length: ");
    body = cl && cl < end ? strtol(cl + 16, NULL, 10) : 0;
    for (long have = (long)(buf + len - (end + 4)); have < body;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            return -1;
        have += n;
    }
    return atoi(buf + 9); /* "HTTP/1.1 201 ..." */
}

/* ---- Tests ---------------------------------------------------------------------------------- */

static int start(int connection_limit)
{
    struct rx_frontend_env env;
    const char *why = NULL;
    char err[256];
    if (!tu_mkdtemp(root, sizeof root, "rx_http_XXXXXX"))
        return -1;
    rx_conf_dev(&conf);
    snprintf(conf.capture_dir, sizeof conf.capture_dir, "%s", root);
    conf.http_threads = 2;
    conf.connection_limit = connection_limit;
    rx_metrics_init(&metrics);
    if (rx_core_open(&conf, &metrics, NULL, NULL, &core, err, sizeof err))
        return -1;
    env = (struct rx_frontend_env){.c = &conf, .core = core, .m = &metrics, .api = NULL};
    return rx_rest_start(&env, RX_HTTP_NO_LISTEN, &rest, &why);
}

static int setup(void **state)
{
    (void)state;
    return start(4096);
}

static int setup_two(void **state)
{
    (void)state;
    return start(2); /* one connection for each of the two threads */
}

static int teardown(void **state)
{
    (void)state;
    rx_rest_stop(rest, 5000);
    rx_core_close(core);
    return tu_rm_tree(root);
}

static void adopted_connections_are_served(void **state)
{
    struct acceptor a;
    struct hc_buf tok = HC_BUF_INIT, req = HC_BUF_INIT;
    const char body[] = "[{\"Body\":\"ADOPTED\"}]";
    char hdr[8];
    int fd;
    (void)state;
    assert_int_equal(rx_http_port(rx_rest_http(rest)), 0); /* no socket of its own */
    acceptor_start(&a);

    assert_int_equal(hc_sas_token("http://127.0.0.1/events", conf.rules[0].name, conf.rules[0].key,
                                  4102444800, &tok),
                     0);
    assert_int_equal(
        hc_buf_addf(&req,
                    "POST /events/partitions/1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Authorization: %s\r\nContent-Type: application/vnd.microsoft.servicebus.json"
                    "\r\nContent-Length: %zu\r\n\r\n%s",
                    tok.p, sizeof body - 1, body),
        0);
    fd = dial(a.port);
    put(fd, req.p, req.len);
    assert_int_equal(answer(fd), 201);
    close(fd);
    assert_int_equal(rx_partition_next_seq(rx_core_partition(core, 0, 1)), 1);

    fd = dial(a.port); /* one kept connection, two requests */
    put(fd, health, sizeof health - 1);
    assert_int_equal(answer(fd), 200);
    put(fd, health, sizeof health - 1);
    assert_int_equal(answer(fd), 200);
    close(fd);

    fd = dial(a.port); /* the acceptor's own protocol */
    put(fd, amqp_header, sizeof amqp_header);
    assert_int_equal(recv(fd, hdr, sizeof hdr, MSG_WAITALL), 8);
    assert_memory_equal(hdr, amqp_header, 8);
    close(fd);

    acceptor_stop(&a);
    assert_int_equal(a.adopted, 2);
    assert_int_equal(a.amqp, 1);
    assert_int_equal(a.refused, 0);
    hc_buf_free(&tok);
    hc_buf_free(&req);
}

/* Past connection_limit the server refuses the fd, and closes it: the client sees the end. */
static void a_refused_fd_is_closed(void **state)
{
    struct acceptor a;
    char c;
    int held[2], fd;
    (void)state;
    acceptor_start(&a);
    for (int i = 0; i < 2; i++) { /* connections that send something, then wait */
        held[i] = dial(a.port);
        put(held[i], "GET ", 4);
    }
    for (int i = 0; i < 200 && a.adopted < 2; i++)
        usleep(10000);
    assert_int_equal(a.adopted, 2);
    fd = dial(a.port);
    put(fd, health, sizeof health - 1);
    errno = 0;
    assert_true(recv(fd, &c, 1, 0) <= 0); /* closed (an end or a reset), not left open */
    assert_true(errno != EAGAIN && errno != EWOULDBLOCK);
    close(fd);
    for (int i = 0; i < 200 && a.refused < 1; i++) /* the fd is closed before adopt returns */
        usleep(10000);
    assert_int_equal(a.refused, 1);
    assert_int_equal(a.last, -ENFILE);
    close(held[0]);
    close(held[1]);
    acceptor_stop(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(adopted_connections_are_served, setup, teardown),
        cmocka_unit_test_setup_teardown(a_refused_fd_is_closed, setup_two, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
