#include "receiver/http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/hctime.h"
#include "common/log.h"
#include "receiver/http/conn.h"
#include "receiver/web/web.h"

/* ---- The server's own routes ---------------------------------------------------------------- */

static enum MHD_Result answer_metrics(struct rx_http *h, struct MHD_Connection *conn)
{
    struct hc_buf out = HC_BUF_INIT;
    enum MHD_Result ret;
    if (rx_metrics_render(h->m, &out))
        ret = rx_http_answer_error(conn, 500, "out of memory");
    else
        ret = rx_http_answer(conn, 200, "text/plain; version=0.0.4; charset=utf-8", out.p, out.len);
    hc_buf_free(&out);
    return ret;
}

static const char *query_arg(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result answer_api(struct rx_http *h, struct MHD_Connection *conn,
                                  const char *method, const char *url)
{
    static const char no_lake[] = "{\"error\": \"the lake is not configured: start "
                                  "'hubcap-receiver serve' with --pg CONNINFO\"}\n";
    struct hc_buf out = HC_BUF_INIT;
    enum MHD_Result ret;
    int status = 500;
    if (!h->api)
        return rx_http_answer(conn, 503, "application/json", no_lake, sizeof no_lake - 1);
    rx_api_handle(h->api, method, url, query_arg, conn, &status, &out);
    ret = rx_http_answer(conn, status, "application/json", out.p ? out.p : "", out.len);
    hc_buf_free(&out);
    return ret;
}

static enum MHD_Result answer_web(struct MHD_Connection *conn, const char *url)
{
    const struct rx_web_file *f = rx_web_find(url);
    struct MHD_Response *resp;
    enum MHD_Result ret;
    if (!f)
        return rx_http_answer_error(conn, 404, "no such page");
    resp = MHD_create_response_from_buffer(f->len, (void *)f->data, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, f->type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    ret = rx_http_answer_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int is_get(const char *method)
{
    return !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
}

/* A request on one of the server's own routes (not a send), its body (if any) read. */
static enum MHD_Result answer_route(struct rx_http *h, struct rx_conn *c,
                                    struct MHD_Connection *conn, const char *url,
                                    const char *method)
{
    c->status = -1;
    if (c->kind == RX_ROUTE_NONE)
        return rx_http_answer_error(conn, 404, "no such resource");
    if (c->kind == RX_ROUTE_API)
        return answer_api(h, conn, method, url); /* its own errors, 405 included, in JSON */
    if (!is_get(method))
        return rx_http_answer_error(conn, 405, "use GET");
    switch (c->kind) {
    case RX_ROUTE_HEALTH:
        return rx_http_answer(conn, 200, "text/plain; charset=utf-8", "ok\n", 3);
    case RX_ROUTE_METRICS:
        return answer_metrics(h, conn);
    default:
        return answer_web(conn, url);
    }
}

/* ---- Framing: what the headers say of the body ---------------------------------------------- */

struct framing {
    const char *host;
    const char *clen; /* the first Content-Length */
    int clen_differ;  /* another Content-Length with a different value */
    const char *te;
    int expect; /* Expect: 100-continue */
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct framing *f = cls;
    (void)kind;
    if (!key || !value)
        return MHD_YES;
    if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
        if (!f->clen)
            f->clen = value;
        else if (strcmp(f->clen, value))
            f->clen_differ = 1;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
        f->te = value;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_HOST)) {
        f->host = value;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_EXPECT)) {
        f->expect = !strcasecmp(value, "100-continue");
    }
    return MHD_YES;
}

/*
 * Read the framing headers into f and b. Returns 0; or a status with *why when the body cannot
 * be delimited (the connection must then close) and sets *fatal, or when the request is
 * malformed otherwise.
 */
static int framing(struct MHD_Connection *conn, const char *version, struct framing *f,
                   struct rx_http_body *b, int *fatal, const char **why)
{
    memset(f, 0, sizeof *f);
    memset(b, 0, sizeof *b);
    *fatal = 0;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_header, f);
    if (f->te) {
        *fatal = 1;
        if (strcasecmp(f->te, "chunked")) {
            *why = "Transfer-Encoding other than chunked is not implemented: send the body "
                   "with Content-Length or chunked";
            return 501;
        }
        if (f->clen) {
            *why = "both Content-Length and Transfer-Encoding";
            return 400;
        }
        *fatal = 0;
        b->chunked = 1;
    } else if (f->clen) {
        if (f->clen_differ) {
            *fatal = 1;
            *why = "two different Content-Length headers";
            return 400;
        }
        b->length = strtoull(f->clen, NULL, 10); /* libmicrohttpd checked its digits */
    }
    if (!f->host && !strcmp(version, MHD_HTTP_VERSION_1_1)) {
        *why = "an HTTP/1.1 request needs a Host header";
        return 400;
    }
    return 0;
}

/*
 * Whether the answer to a request can wait for its body: 1 when it can (no body, or one we read
 * and drop), -1 when it must go at once (a body bigger than we drain, or one the client holds
 * back until 100 Continue) and the connection then closes lingeringly. libmicrohttpd closes
 * every connection whose answer was queued from the headers (the first call), so an answer that
 * can wait is queued by req_end.
 */
static int answer_after_body(const struct rx_conn *c, const struct framing *f,
                             const struct rx_http_body *b)
{
    if (!b->chunked && !b->length)
        return 1;
    if (f->expect)
        return -1;
    return b->chunked || b->length <= c->drain_max ? 1 : -1;
}

/* Refuse the request: at once, or once its body is read (answer_after_body). */
static enum MHD_Result refuse(struct rx_conn *c, struct MHD_Connection *conn,
                              const struct framing *f, const struct rx_http_body *b, int status,
                              const char *why)
{
    if (answer_after_body(c, f, b) > 0) {
        c->status = status;
        c->why = why;
        return MHD_YES; /* answered by req_end */
    }
    c->linger = 1;
    c->status = -1;
    return rx_http_answer_error(conn, status, why);
}

/* ---- Requests ------------------------------------------------------------------------------- */

/* The first call: the headers are in. */
static enum MHD_Result req_begin(struct rx_http *h, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, void **con_cls)
{
    struct rx_conn *c = rx_http__conn(conn);
    struct framing f;
    struct rx_http_body b;
    struct rx_route rt;
    const char *why = NULL;
    int fatal, status;
    if (!c)
        return MHD_NO; /* no memory for the connection's context: close it */
    *con_cls = c;
    c->kind = rx_route_parse(url, &rt);
    c->status = 0;
    c->received = 0;
    c->drain_max = (uint64_t)RX_HTTP_DRAIN_X * h->c->max_publication;
    status = framing(conn, version, &f, &b, &fatal, &why);
    rx_http__deadline(c, b.chunked || b.length ? RX_PHASE_BODY : RX_PHASE_NONE,
                      h->c->body_timeout_ms);
    if (status && fatal) {
        c->linger = c->close = 1;
        c->status = -1;
        return rx_http_answer_error(conn, status, why);
    }
    if (status)
        return refuse(c, conn, &f, &b, status, why);
    if (!c->pool && c->kind != RX_ROUTE_HEALTH && c->kind != RX_ROUTE_METRICS) {
        if (rx_core_charge(h->core, RX_HTTP_POOL))
            return refuse(c, conn, &f, &b, 503, "the receiver holds too many request bytes");
        c->pool = RX_HTTP_POOL;
    }
    if (c->kind != RX_ROUTE_SEND) {
        if (answer_after_body(c, &f, &b) > 0)
            return MHD_YES; /* answered by req_end (after the body, if any, is dropped) */
        c->linger = 1;
        return answer_route(h, c, conn, url, method);
    }
    if (!h->send)
        return refuse(c, conn, &f, &b, 404, "no such resource");
    status = h->send->begin(h->send_ctx, conn, url, method, &rt, &b, &c->req, &why);
    if (status)
        return refuse(c, conn, &f, &b, status, why);
    return MHD_YES;
}

static enum MHD_Result req_body(struct rx_http *h, struct rx_conn *c, const char *data, size_t len)
{
    atomic_fetch_add_explicit(&h->m->request_bytes, len, memory_order_relaxed);
    c->received += len;
    if (c->status || c->kind != RX_ROUTE_SEND || !c->req)
        return c->received > c->drain_max ? MHD_NO : MHD_YES; /* dropped */
    c->status = h->send->body(c->req, data, len, &c->why);
    return MHD_YES;
}

/* The final call: the body is in (or the handler resumed the connection). */
static enum MHD_Result req_end(struct rx_http *h, struct rx_conn *c, struct MHD_Connection *conn,
                               const char *url, const char *method)
{
    rx_http__deadline(c, RX_PHASE_NONE, 0);
    if (c->status < 0)
        return MHD_YES; /* answered already */
    if (c->status) {
        int status = c->status;
        c->status = -1;
        return rx_http_answer_error(conn, status, c->why);
    }
    if (c->kind != RX_ROUTE_SEND)
        return answer_route(h, c, conn, url, method);
    return h->send->end(c->req, conn);
}

/* ---- libmicrohttpd callbacks ---------------------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct rx_http *h = cls;
    struct rx_conn *c = *con_cls;
    if (!c)
        return req_begin(h, conn, url, method, version, con_cls);
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return req_body(h, c, upload_data, n);
    }
    return req_end(h, c, conn, url, method);
}

/* The request line is in: its headers have header_timeout from now (or less, if already less). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct rx_http *h = cls;
    struct rx_conn *c = rx_http__conn(conn);
    (void)uri;
    if (c && atomic_load_explicit(&c->deadline, memory_order_relaxed) >
                 (int64_t)(hc_mono_ns() / 1000000) + h->c->header_timeout_ms)
        rx_http__deadline(c, RX_PHASE_HEADERS, h->c->header_timeout_ms);
    return NULL; /* *con_cls of the first call */
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct rx_http *h = cls;
    struct rx_conn *c = *con_cls;
    (void)conn;
    (void)toe;
    if (!c)
        return;
    *con_cls = NULL;
    if (c->req)
        h->send->done(c->req);
    c->req = NULL;
    c->status = 0;
    c->why = NULL;
    c->received = 0;
    /*
     * The next request line may come as late as an idle connection may stay (libmicrohttpd's
     * idle timeout closes one that sends nothing first); one trickling bytes is closed here.
     */
    rx_http__deadline(c, RX_PHASE_HEADERS, h->c->connection_timeout_ms + h->c->header_timeout_ms);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct rx_http *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = rx_http__conn_open(h, conn);
        atomic_fetch_add(&h->m->connections, 1);
    } else {
        rx_http__conn_close(h, *socket_context);
        *socket_context = NULL;
        atomic_fetch_sub(&h->m->connections, 1);
        if (h->flags & RX_HTTP_NO_LISTEN)
            atomic_fetch_sub(&h->admitted, 1);
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;
    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    hc_debug("libmicrohttpd: %s", msg);
}

/* ---- Start and stop ------------------------------------------------------------------------- */

static char *read_pem(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct hc_buf b = HC_BUF_INIT;
    char chunk[4096];
    size_t n;
    if (!f)
        return NULL;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (hc_buf_add(&b, chunk, n) || b.len > (1u << 20)) {
            hc_buf_free(&b);
            break;
        }
    fclose(f);
    return b.p;
}

union rx_sockaddr {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
};

static int listen_addr(const struct rx_conf *c, union rx_sockaddr *a, unsigned *flags)
{
    memset(a, 0, sizeof *a);
    if (inet_pton(AF_INET, c->listen_addr, &a->in4.sin_addr) == 1) {
        a->in4.sin_family = AF_INET;
        a->in4.sin_port = htons((uint16_t)c->port);
        return 0;
    }
    if (inet_pton(AF_INET6, c->listen_addr, &a->in6.sin6_addr) == 1) {
        a->in6.sin6_family = AF_INET6;
        a->in6.sin6_port = htons((uint16_t)c->port);
        *flags |= MHD_USE_IPv6;
        return 0;
    }
    return HC_E_INVAL;
}

static int start_daemon(struct rx_http *h, const char **why)
{
    const struct rx_conf *c = h->c;
    union rx_sockaddr addr;
    unsigned flags =
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO | MHD_USE_ITC;
    struct MHD_OptionItem opts[18];
    int n = 0;
    if (h->flags & RX_HTTP_NO_LISTEN) {
        flags |= MHD_USE_NO_LISTEN_SOCKET;
    } else {
        if (listen_addr(c, &addr, &flags)) {
            *why = "the listen address is not a numeric IPv4 or IPv6 address";
            return HC_E_INVAL;
        }
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &addr.sa};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL};
    }
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, c->http_threads, NULL};
    /* without a listener, rx_http_adopt keeps to connection_limit (see there) */
    opts[n++] = (struct MHD_OptionItem){
        MHD_OPTION_CONNECTION_LIMIT,
        (intptr_t)c->connection_limit * (h->flags & RX_HTTP_NO_LISTEN ? c->http_threads : 1), NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                        (intptr_t)(c->connection_timeout_ms / 1000), NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, RX_HTTP_POOL, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, h};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, h};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, h};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, h};
    if (c->tls_cert[0]) {
        if (!(h->tls_cert = read_pem(c->tls_cert)) || !(h->tls_key = read_pem(c->tls_key))) {
            *why = "cannot read tls_cert or tls_key";
            return -EIO;
        }
        flags |= MHD_USE_TLS;
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert};
    }
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    h->d = MHD_start_daemon(flags, h->flags & RX_HTTP_NO_LISTEN ? 0 : (uint16_t)c->port, NULL, NULL,
                            on_request, h, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!h->d) {
        *why = "libmicrohttpd could not start (address in use? bad TLS files?)";
        return -EADDRINUSE;
    }
    return 0;
}

static void http_free(struct rx_http *h)
{
    free(h->tls_cert);
    free(h->tls_key);
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->adopt_mu);
    free(h);
}

int rx_http_start(const struct rx_frontend_env *env, const struct rx_http_handler *send, void *ctx,
                  unsigned flags, struct rx_http **out, const char **why)
{
    struct rx_http *h = calloc(1, sizeof *h);
    int rc;
    if (!h) {
        *why = "out of memory";
        return -ENOMEM;
    }
    h->c = env->c;
    h->core = env->core;
    h->m = env->m;
    h->api = env->api;
    h->send = send;
    h->send_ctx = ctx;
    h->flags = flags;
    atomic_init(&h->closing, 0);
    atomic_init(&h->admitted, 0);
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->adopt_mu, NULL);
    if ((rc = rx_http__keeper_start(h))) {
        *why = "cannot start a thread";
        goto out_free;
    }
    if ((rc = start_daemon(h, why)))
        goto out_keeper;
    *out = h;
    return 0;
out_keeper:
    rx_http__keeper_stop(h);
out_free:
    http_free(h);
    return rc;
}

/*
 * libmicrohttpd 0.9.75 leaves a mutex locked when a connection handed to it (MHD_add_connection)
 * finds its worker thread full, and that worker then hangs: so the server counts what it was
 * handed itself, refuses past connection_limit, and lets libmicrohttpd hold more per thread
 * than that (start_daemon), so that its own check can never refuse.
 */
int rx_http_adopt(struct rx_http *h, int fd, const struct sockaddr *sa, socklen_t salen)
{
    int rc = 0;
    if (!(h->flags & RX_HTTP_NO_LISTEN)) {
        close(fd);
        return -EINVAL;
    }
    pthread_mutex_lock(&h->adopt_mu);
    if (atomic_load(&h->closing)) {
        close(fd);
        rc = -ESHUTDOWN;
    } else if (atomic_load(&h->admitted) >= h->c->connection_limit) {
        close(fd);
        rc = -ENFILE;
    } else {
        atomic_fetch_add(&h->admitted, 1); /* back at its NOTIFY_CONNECTION CLOSED */
        errno = 0;
        if (MHD_add_connection(h->d, fd, sa, salen) != MHD_YES) {
            rc = errno ? -errno : -EIO; /* libmicrohttpd closed fd */
            atomic_fetch_sub(&h->admitted, 1);
        }
    }
    pthread_mutex_unlock(&h->adopt_mu);
    return rc;
}

int rx_http_port(const struct rx_http *h)
{
    const union MHD_DaemonInfo *i;
    if (h->flags & RX_HTTP_NO_LISTEN)
        return 0;
    i = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : h->c->port;
}

int rx_http_stop(struct rx_http *h, int64_t drain_ms)
{
    int64_t until;
    int listen_fd, pending = 0;
    if (!h)
        return 0;
    pthread_mutex_lock(&h->adopt_mu); /* no rx_http_adopt inside libmicrohttpd from here on */
    atomic_store(&h->closing, 1);
    pthread_mutex_unlock(&h->adopt_mu);
    listen_fd = MHD_quiesce_daemon(h->d);
    until = hc_now_ms() + drain_ms;
    while (h->send && (pending = h->send->drain(h->send_ctx)) > 0 && hc_now_ms() < until)
        hc_sleep_ms(5, NULL);
    hc_sleep_ms(20, NULL); /* let resumed connections send their answers */
    MHD_stop_daemon(h->d);
    if (listen_fd >= 0)
        close(listen_fd);
    rx_http__keeper_stop(h);
    if (h->send && (pending = h->send->drain(h->send_ctx)) > 0) {
        /* the partitions still hold requests that point at the handler: leave it to them */
        hc_warn("http: %d sends still being written after %lld ms", pending, (long long)drain_ms);
        return pending;
    }
    http_free(h);
    return 0;
}
