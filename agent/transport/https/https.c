/*
 * https.c - Event Hubs REST transport: POST {url}/{hub}/messages with a batch JSON body,
 * authorised with a SAS token, over one kept-alive libcurl easy handle: TLS >= 1.2 with the peer
 * always verified (ca_file or the system's bundle), an HTTP proxy through a CONNECT tunnel
 * (`proxy`, else HTTPS_PROXY / NO_PROXY as curl reads them), connect and total timeouts.
 *
 * The body is not built in memory: curl reads it from a callback that formats one record at a
 * time, so a 1 MB batch costs one record's worth of buffer, and its length (the record_size sum,
 * exact by contract) is sent as Content-Length before the first byte. curl sends a request a
 * second time only when a reused connection died before a whole status line came back (the
 * server closed an idle connection as the request left); it rewinds the body through the seek
 * callback. Every other failure is reported, and never resent here.
 */
#include "agent/transport/https/https_conf.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hctime.h"

#define HTTPS_USER_AGENT "hubcap-agent/0.1"
#define HTTPS_BODY_KEEP  512 /* answer bytes kept for messages */

/* What came back for the current request. */
struct https_answer {
    struct ag_https_wish wish; /* Retry-After and retry-after-ms as sent */
    size_t body_len;
    char body[HTTPS_BODY_KEEP + 1];
};

/* Where the read callback stands in the body of the current request. */
struct https_body {
    const struct ag_record *const *recs;
    size_t n, next;     /* records; the next one to format */
    struct hc_buf part; /* the formatted text not yet handed to curl */
    size_t off;         /* how much of part was handed */
    int closed;         /* the closing ']' went out */
};

struct https_ctx {
    struct ag_https_conf conf;
    CURL *curl;
    struct curl_slist *headers; /* Content-Type, Authorization, Expect: (none) */
    struct ag_hub_token token;
    struct https_body body;
    struct https_answer ans;
    char errbuf[CURL_ERROR_SIZE];
    struct ag_transport_counters ctr;
};

/* ---- libcurl once per process --------------------------------------------------------------- */

static pthread_once_t https_once = PTHREAD_ONCE_INIT;
static CURLcode https_global_rc = CURLE_FAILED_INIT;

static void https_global(void)
{
    https_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- the body callback -------------------------------------------------------------------- */

static size_t https_read(char *dst, size_t size, size_t nitems, void *arg)
{
    struct https_body *b = arg;
    size_t cap = size * nitems, out = 0;
    while (out < cap) {
        if (b->off == b->part.len) {
            hc_buf_reset(&b->part);
            b->off = 0;
            if (b->next < b->n) {
                if (ag_https_format_one(b->recs[b->next], b->next ? ',' : '[', &b->part))
                    return CURL_READFUNC_ABORT;
                b->next++;
            } else if (!b->closed) {
                b->closed = 1;
                if (hc_buf_addc(&b->part, ']'))
                    return CURL_READFUNC_ABORT;
            } else {
                break;
            }
        }
        size_t k = b->part.len - b->off;
        if (k > cap - out)
            k = cap - out;
        memcpy(dst + out, b->part.p + b->off, k);
        b->off += k;
        out += k;
    }
    return out;
}

/* curl rewinds the body to send it again on a fresh connection (only to the start). */
static int https_seek(void *arg, curl_off_t offset, int origin)
{
    struct https_body *b = arg;
    if (offset != 0 || origin != SEEK_SET)
        return CURL_SEEKFUNC_CANTSEEK;
    b->next = 0;
    b->off = 0;
    b->closed = 0;
    hc_buf_reset(&b->part);
    return CURL_SEEKFUNC_OK;
}

/* ---- the answer callbacks ------------------------------------------------------------------ */

static size_t https_header(char *line, size_t size, size_t nitems, void *arg)
{
    struct https_answer *a = arg;
    size_t len = size * nitems;
    if (ag_https_header_line(&a->wish, line, len)) /* a new answer (after a 100 or a CONNECT) */
        memset(a, 0, sizeof *a);
    return len;
}

static size_t https_write(char *p, size_t size, size_t nmemb, void *arg)
{
    struct https_answer *a = arg;
    size_t len = size * nmemb, k = HTTPS_BODY_KEEP - a->body_len;
    if (k > len)
        k = len;
    memcpy(a->body + a->body_len, p, k);
    a->body_len += k;
    a->body[a->body_len] = '\0';
    return len;
}

/* ---- the token and the headers ------------------------------------------------------------- */

/* Overwrite and free a header list that held a secret. */
static void https_headers_free(struct curl_slist *h)
{
    for (struct curl_slist *i = h; i; i = i->next) {
        volatile char *p = i->data;
        for (size_t k = 0; p[k]; k++)
            p[k] = 0;
    }
    curl_slist_free_all(h);
}

/* Rebuild the header lines around the current token. */
static int https_headers(struct https_ctx *c)
{
    struct hc_buf auth = HC_BUF_INIT;
    struct curl_slist *h = NULL, *t;
    int rc = -ENOMEM;
    if (hc_buf_adds(&auth, "Authorization: ") ||
        hc_buf_add(&auth, c->token.text.p, c->token.text.len))
        goto out;
    if (!(t = curl_slist_append(h, "Content-Type: " AG_HTTPS_CONTENT_TYPE)))
        goto out;
    h = t;
    if (!(t = curl_slist_append(h, auth.p)))
        goto out;
    h = t;
    if (!(t = curl_slist_append(h, "Expect:"))) /* no 100-continue round trip */
        goto out;
    h = t;
    https_headers_free(c->headers);
    c->headers = h;
    h = NULL;
    rc = curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers) == CURLE_OK ? 0 : -ENOMEM;
out:
    https_headers_free(h);
    if (auth.p)
        memset(auth.p, 0, auth.len);
    hc_buf_free(&auth);
    return rc;
}

static int https_renew_auth(void *ctx)
{
    struct https_ctx *c = ctx;
    int rc = ag_hub_token_renew(&c->token, &c->conf.hub);
    if (!rc) {
        c->ctr.v[AG_TPC_TOKENS]++;
        rc = https_headers(c);
        if (rc)
            c->token.expiry_s = 0; /* the headers hold the old token: try again next send */
    }
    return rc;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static void https_close(void *ctx)
{
    struct https_ctx *c = ctx;
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    https_headers_free(c->headers);
    ag_hub_token_free(&c->token);
    hc_buf_free(&c->body.part);
    ag_https_conf_free(&c->conf);
    free(c);
}

/* ag_hub_conf_apply's view of c->conf. */
static int https_conf_set_kv(void *k, const char *key, const char *value, const char **why)
{
    return ag_https_conf_set(k, key, value, why);
}

static int https_conf_finish_kv(void *k, const char **why)
{
    return ag_https_conf_finish(k, why);
}

/* Settings into c->conf; on failure a message in err. */
static int https_configure(struct https_ctx *c, const struct ag_kv *conf, size_t n, char *err,
                           size_t errlen)
{
    ag_https_conf_default(&c->conf);
    return ag_hub_conf_apply(&c->conf, &c->conf.hub, https_conf_set_kv, https_conf_finish_kv, conf,
                             n, err, errlen);
}

/* The options every request of c shares. */
static int https_setup(struct https_ctx *c)
{
    const struct ag_https_conf *k = &c->conf;
    CURL *h = c->curl;
    int bad = 0;
    bad |= curl_easy_setopt(h, CURLOPT_URL, k->url) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_POST, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_USERAGENT, HTTPS_USER_AGENT) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 8192L) != CURLE_OK;
    bad |=
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)k->hub.connect_timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)k->hub.timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
    if (k->hub.ca_file) {
        bad |= curl_easy_setopt(h, CURLOPT_CAINFO, k->hub.ca_file) != CURLE_OK;
        bad |= curl_easy_setopt(h, CURLOPT_CAPATH, NULL) != CURLE_OK;
    }
    if (k->proxy)
        bad |= curl_easy_setopt(h, CURLOPT_PROXY, k->proxy) != CURLE_OK;
    if (k->no_proxy)
        bad |= curl_easy_setopt(h, CURLOPT_NOPROXY, k->no_proxy) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_HTTPPROXYTUNNEL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_READFUNCTION, https_read) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_READDATA, &c->body) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, https_seek) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_SEEKDATA, &c->body) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, https_header) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_HEADERDATA, &c->ans) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, https_write) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_WRITEDATA, &c->ans) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf) != CURLE_OK;
    return bad ? -ENOMEM : 0;
}

static int https_init(const struct ag_kv *conf, size_t n, void *arg, void **out, char *err,
                      size_t errlen)
{
    struct https_ctx *c;
    int rc;
    (void)arg;
    *out = NULL;
    if (errlen)
        err[0] = '\0';
    pthread_once(&https_once, https_global);
    if (https_global_rc != CURLE_OK) {
        snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(https_global_rc));
        return HC_E_INVAL;
    }
    if (!(c = calloc(1, sizeof *c))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rc = https_configure(c, conf, n, err, errlen);
    if (rc)
        goto out_close;
    rc = -ENOMEM;
    if (!(c->curl = curl_easy_init()) || https_setup(c)) {
        snprintf(err, errlen, "libcurl: cannot set up a handle (out of memory?)");
        goto out_close;
    }
    rc = ag_hub_token_init(&c->token, &c->conf.hub, c->conf.audience);
    if (!rc)
        rc = https_headers(c);
    if (rc) {
        snprintf(err, errlen, "cannot make the SAS token: %s", hc_strerror(rc));
        goto out_close;
    }
    *out = c;
    return 0;
out_close:
    https_close(c);
    return rc;
}

/* ---- messages ------------------------------------------------------------------------------ */

/* snprintf into a message field; a message longer than the field is cut (on purpose). */
static void https_msg(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void https_msg(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, cap, fmt, ap);
    va_end(ap);
}

/* The <Detail> of an Event Hubs error answer, else its start, as one line of at most cap-1. */
static void https_detail(const struct https_answer *a, char *out, size_t cap)
{
    const char *s = a->body, *b = strstr(s, "<Detail>"), *e;
    size_t n, i;
    if (b && (e = strstr(b, "</Detail>"))) {
        b += strlen("<Detail>");
        n = (size_t)(e - b);
    } else {
        b = s;
        n = a->body_len;
    }
    if (n >= cap)
        n = cap - 1;
    for (i = 0; i < n; i++)
        out[i] = (unsigned char)b[i] < 0x20 ? ' ' : b[i];
    out[n] = '\0';
}

/* The sentence for an HTTP answer that is not a success. */
static void https_http_error(struct https_ctx *c, int status, struct ag_send_status *st)
{
    const struct ag_hub_conf *k = &c->conf.hub;
    char detail[160];
    https_detail(&c->ans, detail, sizeof detail);
    const char *sep = detail[0] ? ": " : "";
    snprintf(st->code, sizeof st->code, "HTTP %d", status);
    if (status == 401)
        https_msg(st->error, sizeof st->error, "hub %s refused the SAS token for %s: check %s%s%s",
                  k->host_port, k->cs.hub,
                  c->token.fixed ? "the SharedAccessSignature (expired?)"
                                 : "SharedAccessKeyName, SharedAccessKey and the clock",
                  sep, detail);
    else if (status == 403)
        https_msg(st->error, sizeof st->error,
                  "hub %s forbade the send to %s: does policy %s have Send rights? (or a quota "
                  "is exceeded)%s%s",
                  k->host_port, k->cs.hub, k->cs.key_name[0] ? k->cs.key_name : "(token)", sep,
                  detail);
    else if (status == 413)
        https_msg(st->error, sizeof st->error,
                  "hub %s refused the batch as too large: lower max_batch_bytes%s%s", k->host_port,
                  sep, detail);
    else if (status == 400)
        https_msg(st->error, sizeof st->error,
                  "hub %s refused the batch as malformed or too large%s%s", k->host_port, sep,
                  detail);
    else if (status == 404)
        https_msg(st->error, sizeof st->error,
                  "hub %s has no event hub %s: check EntityPath or the hub name%s%s", k->host_port,
                  k->cs.hub, sep, detail);
    else if (status == 503)
        https_msg(st->error, sizeof st->error, "hub %s is busy%s%s", k->host_port, sep, detail);
    else if (status == 429)
        https_msg(st->error, sizeof st->error, "hub %s is throttling%s%s", k->host_port, sep,
                  detail);
    else
        https_msg(st->error, sizeof st->error, "hub %s answered HTTP %d%s%s", k->host_port, status,
                  sep, detail);
}

/* The sentence and why for a request that got no HTTP answer (rc from curl_easy_perform). */
static enum ag_send_why https_net_error(struct https_ctx *c, CURLcode rc, struct ag_send_status *st)
{
    const struct ag_hub_conf *k = &c->conf.hub;
    const char *hp = k->host_port, *d = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
    char *msg = st->error;
    size_t cap = sizeof st->error;
    long os_errno = 0, connect_code = 0;
    curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
    curl_easy_getinfo(c->curl, CURLINFO_HTTP_CONNECTCODE, &connect_code);
    if (connect_code >= 300) {
        snprintf(st->code, sizeof st->code, "proxy HTTP %ld", connect_code);
        https_msg(msg, cap,
                  "the proxy refused the tunnel to %s: check proxy (or HTTPS_PROXY) and its "
                  "credentials, or NO_PROXY: %s",
                  hp, d);
        return connect_code == 407 ? AG_WHY_AUTH : AG_WHY_NETWORK;
    }
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
        https_msg(msg, cap,
                  "cannot resolve host %s: check the Endpoint of the connection string "
                  "(and DNS)",
                  k->cs.host);
        return AG_WHY_NETWORK;
    case CURLE_COULDNT_RESOLVE_PROXY:
        https_msg(msg, cap, "cannot resolve the proxy: check proxy (or HTTPS_PROXY): %s", d);
        return AG_WHY_NETWORK;
    case CURLE_COULDNT_CONNECT:
        if (os_errno == ECONNREFUSED)
            https_msg(msg, cap, "connection refused by %s: is the hub (or the proxy) running? (%s)",
                      hp, d);
        else
            https_msg(msg, cap, "cannot connect to %s: %s: check the network and the Endpoint", hp,
                      d);
        return AG_WHY_NETWORK;
    case CURLE_OPERATION_TIMEDOUT:
        https_msg(msg, cap,
                  "timeout talking to %s (%s): is the hub reachable? (connect_timeout, timeout)",
                  hp, d);
        return AG_WHY_NETWORK;
    case CURLE_PEER_FAILED_VERIFICATION:
        https_msg(msg, cap, "TLS: certificate verify failed for host %s: check ca_file (%s): %s",
                  k->cs.host, k->ca_file ? k->ca_file : "system CA bundle", d);
        return AG_WHY_TLS;
    case CURLE_SSL_CACERT_BADFILE:
        https_msg(msg, cap, "TLS: cannot load the CA bundle %s: check ca_file: %s",
                  k->ca_file ? k->ca_file : "(system)", d);
        return AG_WHY_TLS;
    case CURLE_SSL_CONNECT_ERROR:
        https_msg(msg, cap,
                  "TLS handshake with %s failed: %s: is it a TLS endpoint? (plain HTTP: use "
                  "http:// or UseDevelopmentEmulator=true)",
                  hp, d);
        return AG_WHY_TLS;
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
        https_msg(msg, cap, "connection to %s dropped before an answer (%s)", hp, d);
        return AG_WHY_NETWORK;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_WEIRD_SERVER_REPLY:
        https_msg(msg, cap,
                  "%s did not answer in HTTP (%s): is it the hub's REST port? (an AMQP port, such "
                  "as 5672 or 5671: --transport amqp)",
                  hp, d);
        return AG_WHY_NETWORK;
    case CURLE_OUT_OF_MEMORY:
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_READ_ERROR:
        https_msg(msg, cap, "out of memory sending to %s", hp);
        return AG_WHY_INTERNAL;
    default:
        https_msg(msg, cap, "sending to %s failed: %s", hp, d);
        return AG_WHY_NETWORK;
    }
}

/* The server's wish, from the answer's headers: retry-after-ms first, else Retry-After; -1. */
static int64_t https_retry_after(const struct https_answer *a)
{
    return ag_https_wish_ms(&a->wish, hc_now_ms());
}

/* ---- sending ------------------------------------------------------------------------------- */

static void https_count(struct https_ctx *c, const struct ag_send_status *st, size_t n,
                        uint64_t bytes)
{
    long connects = 0;
    curl_easy_getinfo(c->curl, CURLINFO_NUM_CONNECTS, &connects);
    c->ctr.v[AG_TPC_CONNECTS] += (uint64_t)connects;
    c->ctr.v[AG_TPC_REQUESTS]++;
    c->ctr.v[AG_TPC_BYTES] += bytes;
    if (st->result == AG_SEND_OK)
        c->ctr.v[AG_TPC_ACCEPTED] += n;
    else if (st->result == AG_SEND_RETRY)
        c->ctr.v[AG_TPC_RETRIED] += n;
    else if (n == 1 && st->why == AG_WHY_SIZE)
        c->ctr.v[AG_TPC_REJECTED]++;
    if (st->why == AG_WHY_AUTH)
        c->ctr.v[AG_TPC_AUTH_REFUSED]++;
    if (st->why == AG_WHY_NETWORK || st->why == AG_WHY_TLS)
        c->ctr.v[AG_TPC_DISCONNECTS]++;
}

static enum ag_send_result https_send(void *ctx, const struct ag_record *const *recs, size_t n,
                                      struct ag_send_status *st)
{
    struct https_ctx *c = ctx;
    curl_off_t len = AG_HTTPS_BATCH_OVERHEAD;
    long status = 0;
    CURLcode rc;

    ag_send_status_reset(st);
    if (ag_hub_token_due(&c->token, &c->conf.hub, hc_now_ms()) && https_renew_auth(c)) {
        snprintf(st->error, sizeof st->error, "cannot renew the SAS token: out of memory");
        return st->result;
    }
    for (size_t i = 0; i < n; i++)
        len += (curl_off_t)ag_https_record_size(recs[i]);
    c->body.recs = recs;
    c->body.n = n;
    https_seek(&c->body, 0, SEEK_SET);
    memset(&c->ans, 0, sizeof c->ans);
    c->errbuf[0] = '\0';
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, len);
    rc = curl_easy_perform(c->curl);
    c->body.recs = NULL;
    if (rc != CURLE_OK) {
        st->why = https_net_error(c, rc, st);
        st->result = AG_SEND_RETRY;
        https_count(c, st, n, 0);
        return st->result;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    st->retry_after_ms = https_retry_after(&c->ans);
    st->result = ag_https_status_result((int)status, &st->why);
    if (st->result == AG_SEND_OK) {
        st->acked = n;
        st->why = AG_WHY_NONE;
    } else {
        st->one = n == 1;
        https_http_error(c, (int)status, st);
    }
    https_count(c, st, n, (uint64_t)len);
    return st->result;
}

static int https_format(void *ctx, const struct ag_record *const *recs, size_t n,
                        struct hc_buf *out)
{
    (void)ctx;
    return ag_https_format(recs, n, out);
}

static size_t https_record_size(void *ctx, const struct ag_record *rec)
{
    (void)ctx;
    return ag_https_record_size(rec);
}

static void https_limits(void *ctx, struct ag_transport_limits *lim)
{
    const struct https_ctx *c = ctx;
    lim->batch_overhead = AG_HTTPS_BATCH_OVERHEAD;
    lim->max_batch_bytes = (size_t)c->conf.hub.max_batch_bytes;
    lim->max_event_bytes = 0;
    lim->max_batch_events = 0;
    lim->max_in_flight = 1; /* one request at a time on the kept connection */
}

static void https_counters(void *ctx, struct ag_transport_counters *out)
{
    const struct https_ctx *c = ctx;
    *out = c->ctr;
}

const struct ag_transport ag_transport_https = {
    .name = "https",
    .init = https_init,
    .send = https_send,
    .close = https_close,
    .format = https_format,
    .record_size = https_record_size,
    .renew_auth = https_renew_auth,
    .limits = https_limits,
    .counters = https_counters,
};
