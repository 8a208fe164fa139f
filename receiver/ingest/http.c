#include "receiver/ingest/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "common/error.h"
#include "common/hctime.h"
#include "common/log.h"
#include "receiver/ingest/batch.h"
#include "receiver/ingest/route.h"
#include "receiver/web/web.h"
#include "receiver/core/core.h"
#include "receiver/core/sas_rules.h"

#define RX_RESOURCE_MAX 2048
#define RX_DISCARD_X    4 /* a chunked body over the limit is read (and dropped) up to 4x */

struct rx_http {
    const struct rx_conf *c;
    struct rx_core *core;
    struct rx_metrics *m;
    struct rx_api *api; /* NULL: no lake */
    struct MHD_Daemon *d;
    struct MHD_Response *created; /* the empty 201, shared */
    char *tls_key, *tls_cert;
    atomic_int closing;
    atomic_int waiting; /* sends handed to partitions, not answered yet */
    pthread_mutex_t mu; /* orders a request's completion against its connection's end */
};

enum req_state { REQ_BODY, REQ_WAIT };

struct rx_req {
    struct rx_http *h;
    struct MHD_Connection *conn;
    enum req_state state;
    int status;      /* an answer decided while the body came in (413, 503) */
    const char *why; /* static */
    int hub;
    int partition;
    char publisher[RX_PUBLISHER_MAX + 1];
    size_t publisher_len;
    enum rx_ctype ctype;
    struct hc_buf body;
    uint64_t received;
    int64_t charged; /* bytes counted in m->inflight_bytes */
    struct rx_batch batch;
    struct rx_send send;
    int finished; /* h->mu: every partition is done with the request */
    int failed;   /* h->mu: 0, or why the events could not be written */
    int gone;     /* h->mu: the connection ended while the partitions had the request */
};

/* ---- Answers -------------------------------------------------------------------------------- */

static const char *status_text(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Request Entity Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

/* Queue an answer with body text (copied) and content type. */
static enum MHD_Result answer(struct rx_http *h, struct MHD_Connection *conn, int status,
                              const char *ctype, const char *text, size_t len)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    rx_metrics_status(h->m, status);
    if (status == 201)
        return MHD_queue_response(conn, 201, h->created);
    resp = MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (status == 503)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == 405)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "POST");
    ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* An error answer: <Error><Code>…</Code><Detail>…</Detail></Error> (why is static text). */
static enum MHD_Result answer_error(struct rx_http *h, struct MHD_Connection *conn, int status,
                                    const char *why)
{
    char xml[512];
    int n = snprintf(xml, sizeof xml, "<Error><Code>%d</Code><Detail>%s: %s</Detail></Error>\n",
                     status, status_text(status), why ? why : "");
    if (n < 0 || (size_t)n >= sizeof xml)
        n = (int)strlen(xml);
    if (status >= 500)
        hc_warn("%d: %s", status, why ? why : "");
    else
        hc_debug("%d: %s", status, why ? why : "");
    return answer(h, conn, status, "application/xml; charset=utf-8", xml, (size_t)n);
}

static enum MHD_Result answer_metrics(struct rx_http *h, struct MHD_Connection *conn)
{
    struct hc_buf out = HC_BUF_INIT;
    enum MHD_Result ret;
    if (rx_metrics_render(h->m, &out))
        ret = answer_error(h, conn, 500, "out of memory");
    else
        ret = answer(h, conn, 200, "text/plain; version=0.0.4; charset=utf-8", out.p, out.len);
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
        return answer(h, conn, 503, "application/json", no_lake, sizeof no_lake - 1);
    rx_api_handle(h->api, method, url, query_arg, conn, &status, &out);
    ret = answer(h, conn, status, "application/json", out.p ? out.p : "", out.len);
    hc_buf_free(&out);
    return ret;
}

static enum MHD_Result answer_web(struct rx_http *h, struct MHD_Connection *conn, const char *url)
{
    const struct rx_web_file *f = rx_web_find(url);
    struct MHD_Response *resp;
    enum MHD_Result ret;
    if (!f)
        return answer_error(h, conn, 404, "no such page");
    rx_metrics_status(h->m, 200);
    resp = MHD_create_response_from_buffer(f->len, (void *)f->data, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, f->type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    ret = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- The first call: headers only ----------------------------------------------------------- */

static int content_length(struct MHD_Connection *conn, uint64_t *len)
{
    const char *v =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    char *end;
    if (!v)
        return 0;
    errno = 0;
    *len = strtoull(v, &end, 10);
    return (*v >= '0' && *v <= '9' && !*end && !errno) ? 1 : -1;
}

static int refuse(const char **why, const char *text, int status)
{
    *why = text;
    return status;
}

/* Check a send's headers; 0, or the status to answer with *why. */
static int check_send(struct rx_http *h, struct MHD_Connection *conn, const char *url,
                      const struct rx_route *rt, int *hub, uint64_t *clen, const char **why)
{
    char resource[RX_RESOURCE_MAX];
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    int has_len;
    *hub = rx_core_hub(h->core, rt->hub, rt->hub_len);
    if (*hub < 0)
        return refuse(why, "no such event hub", 404);
    if (rt->partition >= h->c->hubs[*hub].partitions)
        return refuse(why, "no such partition", 404);
    if (rx_sas_resource(h->c, h->c->tls_cert[0] ? "https" : "http", host, url, resource,
                        sizeof resource) < 0)
        return refuse(why, "request path too long", 400);
    if (!auth)
        return refuse(why, "no Authorization header: send a SharedAccessSignature token", 401);
    if (rx_sas_check(h->c, *hub, auth, resource, RX_RIGHT_SEND, hc_now_ms() / 1000, NULL, why))
        return 401;
    if (rx_content_type(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_CONTENT_TYPE)) == RX_CT_BAD)
        return refuse(why,
                      "unsupported Content-Type: use application/vnd.microsoft.servicebus.json "
                      "for a batch, or a text or binary type for one event",
                      400);
    has_len = content_length(conn, clen);
    if (has_len < 0)
        return refuse(why, "bad Content-Length", 400);
    if (has_len && *clen > h->c->max_publication)
        return refuse(why, "the publication is over the size limit", 413);
    if (atomic_load(&h->closing))
        return refuse(why, "the receiver is stopping", 503);
    return 0;
}

static enum MHD_Result req_begin(struct rx_http *h, struct MHD_Connection *conn, const char *url,
                                 const char *method, void **con_cls)
{
    struct rx_route rt;
    struct rx_req *r;
    uint64_t clen = 0;
    const char *why = NULL;
    int hub = -1, status;
    enum rx_route_kind kind = rx_route_parse(url, &rt);
    int get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
    if (kind == RX_ROUTE_NONE)
        return answer_error(h, conn, 404, "no such resource");
    if (kind == RX_ROUTE_HEALTH)
        return get ? answer(h, conn, 200, "text/plain; charset=utf-8", "ok\n", 3)
                   : answer_error(h, conn, 405, "use GET");
    if (kind == RX_ROUTE_METRICS)
        return get ? answer_metrics(h, conn) : answer_error(h, conn, 405, "use GET");
    if (kind == RX_ROUTE_API)
        return answer_api(h, conn, method, url);
    if (kind == RX_ROUTE_WEB)
        return get ? answer_web(h, conn, url) : answer_error(h, conn, 405, "use GET");
    if (strcmp(method, MHD_HTTP_METHOD_POST))
        return answer_error(h, conn, 405, "send events with POST");
    if ((status = check_send(h, conn, url, &rt, &hub, &clen, &why)))
        return answer_error(h, conn, status, why);
    if (rx_core_charge(h->core, (int64_t)clen))
        return answer_error(h, conn, 503, "the receiver holds too many request bytes");
    r = calloc(1, sizeof *r);
    if (!r || hc_buf_reserve(&r->body, clen)) {
        rx_core_uncharge(h->core, (int64_t)clen);
        if (r)
            free(r);
        return answer_error(h, conn, 503, "out of memory");
    }
    r->h = h;
    r->conn = conn;
    r->charged = (int64_t)clen;
    r->hub = hub;
    r->partition = rt.partition;
    if (rt.publisher) {
        memcpy(r->publisher, rt.publisher, rt.publisher_len);
        r->publisher_len = rt.publisher_len;
    }
    r->ctype = rx_content_type(
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE));
    rx_batch_init(&r->batch);
    *con_cls = r;
    return MHD_YES;
}

/* ---- The body ------------------------------------------------------------------------------- */

static enum MHD_Result req_body(struct rx_req *r, const char *data, size_t len)
{
    struct rx_http *h = r->h;
    uint64_t limit = h->c->max_publication;
    atomic_fetch_add_explicit(&h->m->request_bytes, len, memory_order_relaxed);
    r->received += len;
    if (r->status)
        return r->received > limit * RX_DISCARD_X ? MHD_NO : MHD_YES;
    if (r->received > limit) {
        r->status = 413;
        r->why = "the publication is over the size limit";
        hc_buf_free(&r->body); /* the rest is read and dropped */
        return MHD_YES;
    }
    if ((int64_t)r->received > r->charged) { /* chunked: charge as it comes */
        int64_t more = (int64_t)r->received - r->charged;
        if (rx_core_charge(h->core, more)) {
            r->status = 503;
            r->why = "the receiver holds too many request bytes";
            hc_buf_free(&r->body);
            return MHD_YES;
        }
        r->charged += more;
    }
    if (hc_buf_add(&r->body, data, len)) {
        r->status = 503;
        r->why = "out of memory";
    }
    return MHD_YES;
}

/* ---- Parse, spread over partitions, submit -------------------------------------------------- */

/* Custom headers of a single send become user properties. */
static int is_standard_header(const char *k)
{
    static const char *const std[] = {
        "Host",
        "Authorization",
        "Content-Type",
        "Content-Length",
        "Transfer-Encoding",
        "Connection",
        "Keep-Alive",
        "Expect",
        "User-Agent",
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Accept-Charset",
        "Cache-Control",
        "Pragma",
        "BrokerProperties",
        "TE",
        "Trailer",
        "Upgrade",
        "Via",
        "Date",
        "Origin",
        "Referer",
        "Cookie",
        "Content-Encoding",
        "Content-MD5",
        "Range",
        "Proxy-Connection",
        "Proxy-Authorization",
        "Forwarded",
        "Priority",
    };
    for (size_t i = 0; i < sizeof std / sizeof std[0]; i++)
        if (!strcasecmp(k, std[i]))
            return 1;
    return !strncasecmp(k, "x-ms-", 5) || !strncasecmp(k, "x-forwarded-", 12) ||
           !strncasecmp(k, "if-", 3) || !strncasecmp(k, "sec-", 4);
}

struct header_props {
    struct rx_prop p[RX_PROPS_MAX + 1];
    size_t n;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct header_props *hp = cls;
    (void)kind;
    if (!key || !value || is_standard_header(key))
        return MHD_YES;
    if (hp->n == RX_PROPS_MAX + 1)
        return MHD_NO; /* one more than allowed: rx_batch_single refuses it */
    hp->p[hp->n].name = key;
    hp->p[hp->n].value = value;
    hp->n++;
    return MHD_YES;
}

static int parse(struct rx_req *r, const char **why)
{
    struct header_props hp;
    const char *broker;
    if (r->ctype == RX_CT_BATCH)
        return rx_batch_parse(&r->batch, r->body.p ? r->body.p : "", r->body.len, why);
    hp.n = 0;
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, collect_header, &hp);
    broker = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "BrokerProperties");
    return rx_batch_single(&r->batch, r->body.p ? r->body.p : "", r->body.len,
                           r->ctype == RX_CT_TEXT, broker, hp.p, hp.n, why);
}

static void req_free(struct rx_req *r)
{
    rx_core_uncharge(r->h->core, r->charged);
    rx_send_release(&r->send);
    rx_batch_free(&r->batch);
    hc_buf_free(&r->body);
    free(r);
}

/*
 * rx_send.done, on the partition thread that finished last: resume the connection to answer, or,
 * when it has already ended (libmicrohttpd can end a suspended connection whose client left),
 * free the request. h->mu keeps the connection alive while it is resumed.
 */
static void req_resume(struct rx_send *s, int status)
{
    struct rx_req *r = s->ctx;
    struct rx_http *h = r->h;
    pthread_mutex_lock(&h->mu);
    r->failed = status;
    r->finished = 1;
    if (r->gone) {
        pthread_mutex_unlock(&h->mu);
        atomic_fetch_sub(&h->waiting, 1);
        req_free(r);
        return;
    }
    MHD_resume_connection(r->conn);
    pthread_mutex_unlock(&h->mu);
}

static enum MHD_Result req_submit(struct rx_req *r)
{
    struct rx_http *h = r->h;
    const char *why = NULL;
    int rc = parse(r, &why);
    if (rc == -ENOMEM)
        return answer_error(h, r->conn, 503, "out of memory");
    if (rc)
        return answer_error(h, r->conn, 400, why);
    hc_buf_free(&r->body); /* the events live in the batch's arena now */
    r->send = (struct rx_send){.hub = r->hub,
                               .partition = r->partition,
                               .publisher = r->publisher_len ? r->publisher : NULL,
                               .publisher_len = r->publisher_len,
                               .ev = r->batch.ev,
                               .n = r->batch.n,
                               .done = req_resume,
                               .ctx = r};
    r->state = REQ_WAIT;
    atomic_fetch_add(&h->waiting, 1);
    MHD_suspend_connection(r->conn); /* before the partitions can resume it */
    if ((rc = rx_core_submit(h->core, &r->send))) {
        /* nothing was queued: answer 503 when libmicrohttpd calls again */
        r->state = REQ_BODY;
        r->status = 503;
        r->why = "out of memory";
        atomic_fetch_sub(&h->waiting, 1);
        MHD_resume_connection(r->conn);
    }
    return MHD_YES;
}

static enum MHD_Result req_end(struct rx_req *r)
{
    struct rx_http *h = r->h;
    if (r->state == REQ_WAIT) { /* resumed: every partition is done */
        int failed;
        pthread_mutex_lock(&h->mu);
        failed = r->failed;
        pthread_mutex_unlock(&h->mu);
        atomic_fetch_sub(&h->waiting, 1);
        r->state = REQ_BODY;
        r->status = -1; /* answered */
        if (failed)
            return answer_error(h, r->conn, 503, "the events could not be written; retry");
        return answer(h, r->conn, 201, NULL, NULL, 0);
    }
    if (r->status)
        return r->status < 0 ? MHD_YES : answer_error(h, r->conn, r->status, r->why);
    if (atomic_load(&h->closing))
        return answer_error(h, r->conn, 503, "the receiver is stopping");
    return req_submit(r);
}

/* ---- libmicrohttpd callbacks ---------------------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct rx_req *r = *con_cls;
    (void)version;
    if (!r)
        return req_begin(cls, conn, url, method, con_cls);
    if (*upload_data_size) {
        enum MHD_Result ret = req_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return ret;
    }
    return req_end(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct rx_http *h = cls;
    struct rx_req *r = *con_cls;
    (void)conn;
    (void)toe;
    if (!r)
        return;
    *con_cls = NULL;
    if (r->state == REQ_WAIT) {
        pthread_mutex_lock(&h->mu);
        if (!r->finished) { /* the partitions still have it: req_resume frees it */
            r->gone = 1;
            pthread_mutex_unlock(&h->mu);
            return;
        }
        pthread_mutex_unlock(&h->mu);
        atomic_fetch_sub(&h->waiting, 1); /* resumed, but the client left before the answer */
    }
    req_free(r);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct rx_http *h = cls;
    (void)conn;
    (void)socket_context;
    atomic_fetch_add(&h->m->connections, toe == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
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
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
    struct MHD_OptionItem opts[16];
    int n = 0;
    if (listen_addr(c, &addr, &flags)) {
        *why = "the listen address is not a numeric IPv4 or IPv6 address";
        return HC_E_INVAL;
    }
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &addr.sa};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, c->http_threads, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, c->connection_limit, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                        (intptr_t)(c->connection_timeout_ms / 1000), NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, 128 * 1024, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, h};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, h};
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
    h->d = MHD_start_daemon(flags, (uint16_t)c->port, NULL, NULL, on_request, h, MHD_OPTION_ARRAY,
                            opts, MHD_OPTION_END);
    if (!h->d) {
        *why = "libmicrohttpd could not start (address in use? bad TLS files?)";
        return -EADDRINUSE;
    }
    return 0;
}

int rx_http_start(const struct rx_conf *c, struct rx_core *core, struct rx_metrics *m,
                  struct rx_api *api, struct rx_http **out, const char **why)
{
    struct rx_http *h = calloc(1, sizeof *h);
    int rc;
    if (!h) {
        *why = "out of memory";
        return -ENOMEM;
    }
    h->c = c;
    h->core = core;
    h->m = m;
    h->api = api;
    atomic_init(&h->closing, 0);
    atomic_init(&h->waiting, 0);
    pthread_mutex_init(&h->mu, NULL);
    h->created = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!h->created) {
        rc = -ENOMEM;
        *why = "out of memory";
        goto out_free;
    }
    if ((rc = start_daemon(h, why)))
        goto out_free;
    *out = h;
    return 0;
out_free:
    if (h->created)
        MHD_destroy_response(h->created);
    free(h->tls_cert);
    free(h->tls_key);
    pthread_mutex_destroy(&h->mu);
    free(h);
    return rc;
}

int rx_http_port(const struct rx_http *h)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : h->c->port;
}

void rx_http_stop(struct rx_http *h, int64_t drain_ms)
{
    int64_t until;
    if (!h)
        return;
    atomic_store(&h->closing, 1);
    MHD_quiesce_daemon(h->d);
    until = hc_now_ms() + drain_ms;
    while (atomic_load(&h->waiting) > 0 && hc_now_ms() < until)
        hc_sleep_ms(5, NULL);
    hc_sleep_ms(20, NULL); /* let resumed connections send their answers */
    MHD_stop_daemon(h->d);
    if (atomic_load(&h->waiting) > 0) {
        /* partitions still hold requests that point here: leave h for them (we exit anyway) */
        hc_warn("http: %d sends still being written after %lld ms", atomic_load(&h->waiting),
                (long long)drain_ms);
        return;
    }
    MHD_destroy_response(h->created);
    free(h->tls_cert);
    free(h->tls_key);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* ---- The front end -------------------------------------------------------------------------- */

static int rest_start(const struct rx_frontend_env *env, void **ctx, const char **why)
{
    return rx_http_start(env->c, env->core, env->m, env->api, (struct rx_http **)ctx, why);
}

static void rest_banner(void *ctx, FILE *out)
{
    struct rx_http *h = ctx;
    const struct rx_conf *c = h->c;
    char cs[2048];
    int port = rx_http_port(h), v6 = strchr(c->listen_addr, ':') != NULL;
    fprintf(out, "rest: %s://%s%s%s:%d (Event Hubs REST send API, /metrics, /healthz%s)\n",
            c->tls_cert[0] ? "https" : "http", v6 ? "[" : "", c->listen_addr, v6 ? "]" : "", port,
            h->api ? ", /api/v1, dashboard at /" : "");
    if (rx_conf_connstr(c, port, c->dev, cs, sizeof cs) > 0)
        fprintf(out, "connection string for the agent:\n%s\n", cs);
}

static void rest_stop(void *ctx, int64_t drain_ms)
{
    rx_http_stop(ctx, drain_ms);
}

const struct rx_frontend rx_frontend_rest = {
    .name = "rest",
    .start = rest_start,
    .banner = rest_banner,
    .stop = rest_stop,
};
