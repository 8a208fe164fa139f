#include "receiver/rest/send.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/hctime.h"
#include "receiver/core/sas_rules.h"
#include "receiver/http/route.h"
#include "receiver/rest/batch.h"

#define RX_RESOURCE_MAX 2048

static const char busy[] = "the receiver holds too many request bytes";

struct rx_send_api {
    const struct rx_conf *c;
    struct rx_core *core;
    struct rx_metrics *m;
    struct MHD_Response *created; /* the empty 201, shared */
    atomic_int closing;
    atomic_int waiting; /* sends handed to partitions, not answered yet */
    pthread_mutex_t mu; /* orders a request's completion against its connection's end */
};

enum req_state { REQ_BODY, REQ_WAIT };

struct rx_req {
    struct rx_send_api *a;
    struct MHD_Connection *conn;
    enum req_state state;
    int hub;
    int partition;
    char publisher[RX_PUBLISHER_MAX + 1];
    size_t publisher_len;
    enum rx_ctype ctype;
    struct hc_buf body;
    uint64_t received;
    int64_t charged; /* bytes counted against max_inflight (rx_core_charge) */
    struct rx_batch batch;
    struct rx_send send;
    int finished; /* a->mu: every partition is done with the request */
    int failed;   /* a->mu: 0, or why the events could not be written */
    int gone;     /* a->mu: the connection ended while the partitions had the request */
};

/* ---- The in-flight budget ------------------------------------------------------------------- */

/* Charge bytes more for r (nothing when it would pass max_inflight: HC_E_RETRY). */
static int hold(struct rx_req *r, int64_t bytes)
{
    if (bytes > 0 && rx_core_charge(r->a->core, bytes))
        return HC_E_RETRY;
    r->charged += bytes;
    return 0;
}

static void release(struct rx_req *r, int64_t bytes)
{
    rx_core_uncharge(r->a->core, bytes);
    r->charged -= bytes;
}

static void drop_body(struct rx_req *r)
{
    release(r, (int64_t)r->body.cap);
    hc_buf_free(&r->body);
}

/* ---- The headers ---------------------------------------------------------------------------- */

static int refuse(const char **why, const char *text, int status)
{
    *why = text;
    return status;
}

/* Check a send's headers; 0, or the status to answer with *why. */
static int check_send(struct rx_send_api *a, struct MHD_Connection *conn, const char *url,
                      const struct rx_route *rt, const struct rx_http_body *body, int *hub,
                      const char **why)
{
    char resource[RX_RESOURCE_MAX];
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    *hub = rx_core_hub(a->core, rt->hub, rt->hub_len);
    if (*hub < 0)
        return refuse(why, "no such event hub", 404);
    if (rt->partition >= a->c->hubs[*hub].partitions)
        return refuse(why, "no such partition", 404);
    if (rx_sas_resource(a->c, a->c->tls_cert[0] ? "https" : "http", host, url, resource,
                        sizeof resource) < 0)
        return refuse(why, "request path too long", 400);
    if (!auth)
        return refuse(why, "no Authorization header: send a SharedAccessSignature token", 401);
    if (rx_sas_check(a->c, *hub, auth, resource, RX_RIGHT_SEND, hc_now_ms() / 1000, NULL, why))
        return 401;
    if (rx_content_type(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_CONTENT_TYPE)) == RX_CT_BAD)
        return refuse(why,
                      "unsupported Content-Type: use application/vnd.microsoft.servicebus.json "
                      "for a batch, or a text or binary type for one event",
                      400);
    if (body->length > a->c->max_publication)
        return refuse(why, "the publication is over the size limit", 413);
    if (atomic_load(&a->closing))
        return refuse(why, "the receiver is stopping", 503);
    return 0;
}

/* A body of known length gets exactly its bytes (and a NUL), charged first. */
static int body_alloc(struct rx_req *r, const struct rx_http_body *body)
{
    size_t cap = (size_t)body->length + 1;
    if (body->chunked)
        return 0;
    if (hold(r, (int64_t)cap))
        return HC_E_RETRY;
    if (!(r->body.p = malloc(cap))) {
        release(r, (int64_t)cap);
        return -ENOMEM;
    }
    r->body.cap = cap;
    r->body.p[0] = '\0';
    return 0;
}

static int send_begin(void *ctx, struct MHD_Connection *conn, const char *url, const char *method,
                      const struct rx_route *rt, const struct rx_http_body *body, void **req,
                      const char **why)
{
    struct rx_send_api *a = ctx;
    struct rx_req *r;
    int hub = -1, status, rc;
    if (strcmp(method, MHD_HTTP_METHOD_POST))
        return refuse(why, "send events with POST", 405);
    if ((status = check_send(a, conn, url, rt, body, &hub, why)))
        return status;
    if (!(r = calloc(1, sizeof *r)))
        return refuse(why, "out of memory", 503);
    r->a = a;
    r->conn = conn;
    if ((rc = body_alloc(r, body))) {
        free(r);
        return refuse(why, rc == HC_E_RETRY ? busy : "out of memory", 503);
    }
    r->hub = hub;
    r->partition = rt->partition;
    if (rt->publisher) {
        memcpy(r->publisher, rt->publisher, rt->publisher_len);
        r->publisher_len = rt->publisher_len;
    }
    r->ctype = rx_content_type(
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE));
    rx_batch_init(&r->batch);
    *req = r;
    return 0;
}

/* ---- The body ------------------------------------------------------------------------------- */

static int send_body(void *req, const char *data, size_t len, const char **why)
{
    struct rx_req *r = req;
    size_t cap = r->body.cap;
    r->received += len;
    if (r->received > r->a->c->max_publication) {
        drop_body(r);
        return refuse(why, "the publication is over the size limit", 413);
    }
    if (hc_buf_reserve(&r->body, len)) {
        drop_body(r);
        return refuse(why, "out of memory", 503);
    }
    if (r->body.cap > cap && hold(r, (int64_t)(r->body.cap - cap))) { /* chunked: it grew */
        release(r, (int64_t)cap); /* what was charged before it grew */
        hc_buf_free(&r->body);
        return refuse(why, busy, 503);
    }
    memcpy(r->body.p + r->body.len, data, len);
    r->body.len += len;
    r->body.p[r->body.len] = '\0';
    return 0;
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

/*
 * Let go of everything the request holds but itself (body, events, the core's part of the
 * send) and give its bytes back to the budget: before its answer is queued, so that a client
 * sending its next request as soon as it reads the answer finds them free.
 */
static void req_settle(struct rx_req *r)
{
    rx_send_release(&r->send);
    rx_batch_free(&r->batch);
    hc_buf_free(&r->body);
    rx_core_uncharge(r->a->core, r->charged);
    r->charged = 0;
}

static void req_free(struct rx_req *r)
{
    req_settle(r);
    free(r);
}

/* Answer status (201: the shared empty answer) after settling r. */
static enum MHD_Result req_answer(struct rx_req *r, int status, const char *why)
{
    req_settle(r);
    if (status == 201)
        return rx_http_answer_response(r->conn, 201, r->a->created);
    return rx_http_answer_error(r->conn, status, why);
}

/*
 * rx_send.done, on the partition thread that finished last: resume the connection to answer, or,
 * when it has already ended (libmicrohttpd can end a suspended connection whose client left),
 * free the request. a->mu keeps the connection alive while it is resumed.
 */
static void req_resume(struct rx_send *s, int status)
{
    struct rx_req *r = s->ctx;
    struct rx_send_api *a = r->a;
    pthread_mutex_lock(&a->mu);
    r->failed = status;
    r->finished = 1;
    if (r->gone) {
        pthread_mutex_unlock(&a->mu);
        atomic_fetch_sub(&a->waiting, 1);
        req_free(r);
        return;
    }
    MHD_resume_connection(r->conn);
    pthread_mutex_unlock(&a->mu);
}

/*
 * Parse the body into events, charging the batch before the body is let go: its arena is
 * about the body's size (charged before parsing), then what it really holds. Returns 0 or the
 * status to answer with *why.
 */
static int make_events(struct rx_req *r, const char **why)
{
    int64_t est = (int64_t)r->body.len + 64, real;
    int rc;
    if (hold(r, est))
        return refuse(why, busy, 503);
    if ((rc = parse(r, why)))
        return rc == -ENOMEM ? refuse(why, "out of memory", 503) : 400;
    real = (int64_t)(rx_batch_bytes(&r->batch) + r->batch.n * sizeof(struct rx_event *));
    if (real > est && hold(r, real - est))
        return refuse(why, busy, 503);
    if (real < est)
        release(r, est - real);
    drop_body(r); /* the events live in the batch's arena now */
    return 0;
}

static enum MHD_Result req_submit(struct rx_req *r)
{
    struct rx_send_api *a = r->a;
    const char *why = NULL;
    int status = make_events(r, &why);
    if (status)
        return req_answer(r, status, why);
    r->send = (struct rx_send){.hub = r->hub,
                               .partition = r->partition,
                               .publisher = r->publisher_len ? r->publisher : NULL,
                               .publisher_len = r->publisher_len,
                               .ev = r->batch.ev,
                               .n = r->batch.n,
                               .done = req_resume,
                               .ctx = r};
    r->state = REQ_WAIT;
    atomic_fetch_add(&a->waiting, 1);
    MHD_suspend_connection(r->conn); /* before the partitions can resume it */
    if (rx_core_submit(a->core, &r->send)) {
        /* nothing was queued: answer now, from the connection's thread once resumed */
        r->state = REQ_BODY;
        r->failed = -ENOMEM;
        atomic_fetch_sub(&a->waiting, 1);
        MHD_resume_connection(r->conn);
    }
    return MHD_YES;
}

static enum MHD_Result send_end(void *req, struct MHD_Connection *conn)
{
    struct rx_req *r = req;
    struct rx_send_api *a = r->a;
    (void)conn;
    if (r->state == REQ_WAIT) { /* resumed: every partition is done */
        int failed;
        pthread_mutex_lock(&a->mu);
        failed = r->failed;
        pthread_mutex_unlock(&a->mu);
        atomic_fetch_sub(&a->waiting, 1);
        r->state = REQ_BODY;
        if (failed)
            return req_answer(r, 503, "the events could not be written; retry");
        return req_answer(r, 201, NULL);
    }
    if (r->failed) /* rx_core_submit could not queue it */
        return req_answer(r, 503, "out of memory");
    if (atomic_load(&a->closing))
        return req_answer(r, 503, "the receiver is stopping");
    return req_submit(r);
}

static void send_done(void *req)
{
    struct rx_req *r = req;
    struct rx_send_api *a = r->a;
    if (r->state == REQ_WAIT) {
        pthread_mutex_lock(&a->mu);
        if (!r->finished) { /* the partitions still have it: req_resume frees it */
            r->gone = 1;
            pthread_mutex_unlock(&a->mu);
            return;
        }
        pthread_mutex_unlock(&a->mu);
        atomic_fetch_sub(&a->waiting, 1); /* resumed, but the client left before the answer */
    }
    req_free(r);
}

static int send_drain(void *ctx)
{
    struct rx_send_api *a = ctx;
    atomic_store(&a->closing, 1);
    return atomic_load(&a->waiting);
}

const struct rx_http_handler rx_send_handler = {
    .begin = send_begin,
    .body = send_body,
    .end = send_end,
    .done = send_done,
    .drain = send_drain,
};

/* ---- Life cycle ----------------------------------------------------------------------------- */

struct rx_send_api *rx_send_api_new(const struct rx_conf *c, struct rx_core *core,
                                    struct rx_metrics *m)
{
    struct rx_send_api *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->c = c;
    a->core = core;
    a->m = m;
    atomic_init(&a->closing, 0);
    atomic_init(&a->waiting, 0);
    pthread_mutex_init(&a->mu, NULL);
    a->created = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!a->created) {
        pthread_mutex_destroy(&a->mu);
        free(a);
        return NULL;
    }
    return a;
}

void rx_send_api_free(struct rx_send_api *a)
{
    if (!a || atomic_load(&a->waiting) > 0)
        return;
    MHD_destroy_response(a->created);
    pthread_mutex_destroy(&a->mu);
    free(a);
}
