/*
 * https.c - Event Hubs REST transport: POST {url}/{hub}/messages with a batch JSON body,
 * authorised with a SAS token, over one keep-alive connection (http_client.h: plain TCP or TLS
 * with mbedTLS).
 */
#include "agent/transport/https/https_conf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agent/transport/https/http_client.h"
#include "common/error.h"
#include "common/hctime.h"
#include "common/sas.h"
#include "common/uuid.h"

/* ---- Body format (pure) --------------------------------------------------------------------- */

#define F_BODY   "{\"Body\":"
#define F_ID     ",\"UserProperties\":{\"event_id\":\""
#define F_DEVICE "\",\"device_id\":"
#define F_KIND   ",\"kind\":\""
#define F_SCHEMA "\",\"schema\":"
#define F_PKEY   "},\"BrokerProperties\":{\"PartitionKey\":"
#define F_END    "}}"
#define F_LEN(s) (sizeof(s) - 1)

static size_t https_int_len(int v)
{
    size_t n = v < 0 ? 2 : 1;
    unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;
    while (u >= 10) {
        u /= 10;
        n++;
    }
    return n;
}

size_t ag_https_record_size(const struct ag_record *rec)
{
    const struct hc_event *ev = &rec->ev;
    size_t dev = hc_json_str_len(ev->device_id, ev->device_id ? ev->device_id_len : 0);
    return 1 + F_LEN(F_BODY) + hc_json_str_len(rec->json, rec->json_len) + F_LEN(F_ID) +
           (HC_UUID_STRLEN - 1) + F_LEN(F_DEVICE) + dev + F_LEN(F_KIND) +
           strlen(hc_kind_name(ev->kind)) + F_LEN(F_SCHEMA) + https_int_len(ev->schema) +
           F_LEN(F_PKEY) + dev + F_LEN(F_END);
}

/* Append one record's object, preceded by sep. */
static int https_format_one(const struct ag_record *rec, char sep, struct hc_buf *out)
{
    const struct hc_event *ev = &rec->ev;
    const char *dev = ev->device_id ? ev->device_id : "";
    size_t dev_len = ev->device_id ? ev->device_id_len : 0;
    char id[HC_UUID_STRLEN];
    hc_uuid_format(ev->id, id);
    if (hc_buf_addc(out, sep) || hc_buf_add(out, F_BODY, F_LEN(F_BODY)) ||
        hc_buf_add_json_str(out, rec->json, rec->json_len) || hc_buf_add(out, F_ID, F_LEN(F_ID)) ||
        hc_buf_add(out, id, HC_UUID_STRLEN - 1) || hc_buf_add(out, F_DEVICE, F_LEN(F_DEVICE)) ||
        hc_buf_add_json_str(out, dev, dev_len) || hc_buf_add(out, F_KIND, F_LEN(F_KIND)) ||
        hc_buf_adds(out, hc_kind_name(ev->kind)) || hc_buf_add(out, F_SCHEMA, F_LEN(F_SCHEMA)) ||
        hc_buf_add_i64(out, ev->schema) || hc_buf_add(out, F_PKEY, F_LEN(F_PKEY)) ||
        hc_buf_add_json_str(out, dev, dev_len) || hc_buf_add(out, F_END, F_LEN(F_END)))
        return -ENOMEM;
    return 0;
}

int ag_https_format(const struct ag_record *const *recs, size_t n, struct hc_buf *out)
{
    size_t start = out->len, total = AG_HTTPS_BATCH_OVERHEAD;
    for (size_t i = 0; i < n; i++)
        total += ag_https_record_size(recs[i]);
    if (!n)
        total = 2;
    if (hc_buf_reserve(out, total))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (https_format_one(recs[i], i ? ',' : '[', out))
            goto out_undo;
    }
    if ((!n && hc_buf_addc(out, '[')) || hc_buf_addc(out, ']'))
        goto out_undo;
    return 0;
out_undo:
    out->len = start;
    out->p[start] = '\0';
    return -ENOMEM;
}

/* ---- Answers (pure) ------------------------------------------------------------------------- */

enum ag_send_result ag_https_status_result(int status, enum ag_send_why *why)
{
    if (status == 200 || status == 201) {
        *why = AG_WHY_NONE;
        return AG_SEND_OK;
    }
    if (status == 401 || status == 403) {
        *why = AG_WHY_AUTH;
        return AG_SEND_RETRY;
    }
    if (status == 400 || status == 413) {
        *why = AG_WHY_SIZE;
        return AG_SEND_REJECT;
    }
    if (status == 429 || status == 503) {
        *why = AG_WHY_THROTTLED;
        return AG_SEND_RETRY;
    }
    if (status >= 400 && status < 500 && status != 408 && status != 410) {
        *why = AG_WHY_REFUSED;
        return AG_SEND_REJECT;
    }
    *why = AG_WHY_SERVER;
    return AG_SEND_RETRY;
}

/* Days from 1970-01-01 to the civil date y-m-d (proleptic Gregorian). */
static int64_t https_days(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int https_month(const char *name)
{
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (strlen(name) != 3)
        return 0;
    for (int i = 0; i < 12; i++)
        if (strncasecmp(name, names + 3 * i, 3) == 0)
            return i + 1;
    return 0;
}

/* An HTTP-date (RFC 9110 5.6.7: IMF-fixdate, RFC 850, asctime) as ms since the epoch, or -1. */
static int64_t https_http_date(const char *v)
{
    char wd[16], mon[4];
    int d = 0, y = 0, hh = 0, mm = 0, ss = 0, m, n = 0;
    int imf = sscanf(v, "%15[A-Za-z], %2d %3s %4d %2d:%2d:%2d GMT%n", wd, &d, mon, &y, &hh, &mm,
                     &ss, &n) == 7 &&
              n;
    if (!imf) {
        n = 0;
        if (sscanf(v, "%15[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", wd, &d, mon, &y, &hh,
                   &mm, &ss, &n) == 7 &&
            n)
            y += y < 70 ? 2000 : 1900; /* RFC 850 */
        else if (sscanf(v, "%3s %3s %2d %2d:%2d:%2d %4d%n", wd, mon, &d, &hh, &mm, &ss, &y, &n) !=
                     7 ||
                 !n)
            return -1; /* not asctime either */
    }
    m = https_month(mon);
    if (!m || d < 1 || d > 31 || y < 1970 || hh > 23 || mm > 59 || ss > 60 || hh < 0 || mm < 0 ||
        ss < 0)
        return -1;
    return ((https_days(y, m, d) * 24 + hh) * 60 + mm) * 60000LL + ss * 1000LL;
}

int64_t ag_https_retry_after_ms(const char *value, int64_t now_ms)
{
    const char *p = value;
    int64_t secs = 0, at;
    if (!value)
        return -1;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p >= '0' && *p <= '9') {
        for (; *p >= '0' && *p <= '9'; p++) {
            if (secs > 100000000)
                return -1;
            secs = secs * 10 + (*p - '0');
        }
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        return *p ? -1 : secs * 1000;
    }
    at = https_http_date(p);
    if (at < 0)
        return -1;
    return at > now_ms ? at - now_ms : 0;
}

/* ---- I/O ------------------------------------------------------------------------------------ */

#define HTTPS_USER_AGENT "hubcap-agent/0.1"

struct https_ctx {
    struct ag_https_conf conf;
    struct ag_http *http;
    struct hc_buf headers; /* the header lines of every request: Content-Type, Authorization, … */
    struct hc_buf token;   /* current SAS token */
    int64_t token_expiry_s;
    int token_fixed;              /* a prebuilt SharedAccessSignature: never renewed */
    struct ag_http_response resp; /* the answer to the current request */
};

/* Overwrite and free a buffer that held a secret. */
static void https_wipe(struct hc_buf *b)
{
    if (b->p)
        memset(b->p, 0, b->len);
    hc_buf_free(b);
}

/* Rebuild the header lines around the current token. */
static int https_headers(struct https_ctx *c)
{
    struct hc_buf h = HC_BUF_INIT;
    if (hc_buf_adds(&h, "Content-Type: " AG_HTTPS_CONTENT_TYPE "\r\nAuthorization: ") ||
        hc_buf_add(&h, c->token.p, c->token.len) ||
        hc_buf_adds(&h, "\r\nUser-Agent: " HTTPS_USER_AGENT "\r\n")) {
        https_wipe(&h);
        return -ENOMEM;
    }
    https_wipe(&c->headers);
    c->headers = h;
    return 0;
}

/* Make a new token valid for token_ttl from now and put it in the headers. */
static int https_token_new(struct https_ctx *c)
{
    struct hc_buf tok = HC_BUF_INIT;
    int64_t expiry = hc_now_ms() / 1000 + c->conf.token_ttl_ms / 1000;
    int rc = hc_sas_token(c->conf.audience, c->conf.cs.key_name, c->conf.cs.key, expiry, &tok);
    if (rc) {
        hc_buf_free(&tok);
        return rc;
    }
    https_wipe(&c->token);
    c->token = tok;
    c->token_expiry_s = expiry;
    rc = https_headers(c);
    if (rc)
        c->token_expiry_s = 0; /* the headers still hold the old token: try again next send */
    return rc;
}

/* Renew the token when less than token_renew is left. */
static int https_token_fresh(struct https_ctx *c)
{
    if (c->token_fixed)
        return 0;
    if (c->token.len && c->token_expiry_s - hc_now_ms() / 1000 > c->conf.token_renew_ms / 1000)
        return 0;
    return https_token_new(c);
}

static int https_renew_auth(void *ctx)
{
    struct https_ctx *c = ctx;
    if (c->token_fixed)
        return HC_E_AUTH;
    return https_token_new(c);
}

/* A whole number of milliseconds from a retry-after-ms header, or -1. */
static int64_t https_ms_value(const char *v)
{
    char *end;
    long long ms;
    errno = 0;
    ms = strtoll(v, &end, 10);
    while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
        end++;
    if (errno || end == v || *end || ms < 0)
        return -1;
    return (int64_t)ms;
}

/* The server's wish, from the answer's headers: retry-after-ms first, else Retry-After; -1. */
static int64_t https_retry_after(const struct ag_http_response *r)
{
    int64_t ms = r->retry_after_ms[0] ? https_ms_value(r->retry_after_ms) : -1;
    if (ms < 0 && r->retry_after[0])
        ms = ag_https_retry_after_ms(r->retry_after, hc_now_ms());
    return ms;
}

static void https_close(void *ctx)
{
    struct https_ctx *c = ctx;
    if (!c)
        return;
    ag_http_free(c->http);
    https_wipe(&c->headers);
    https_wipe(&c->token);
    ag_https_conf_free(&c->conf);
    free(c);
}

/* Settings into c->conf; on failure a message in err. */
static int https_configure(struct https_ctx *c, const struct ag_kv *conf, size_t n, char *err,
                           size_t errlen)
{
    const char *why = NULL;
    int rc;
    ag_https_conf_default(&c->conf);
    for (size_t i = 0; i < n; i++) {
        rc = ag_https_conf_set(&c->conf, conf[i].key, conf[i].value, &why);
        if (rc) {
            snprintf(err, errlen, "%s: %s", conf[i].key ? conf[i].key : "(null)", why);
            return rc;
        }
    }
    rc = ag_https_conf_finish(&c->conf, &why);
    if (rc) {
        snprintf(err, errlen, "%s", why);
        return rc;
    }
    if (c->conf.ca_file && access(c->conf.ca_file, R_OK) != 0) {
        rc = -errno;
        snprintf(err, errlen, "ca_file %s: %s", c->conf.ca_file, strerror(errno));
        return rc;
    }
    return 0;
}

/* The connection handle for c->conf (no connection is made yet). */
static int https_connection(struct https_ctx *c)
{
    const struct ag_https_conf *k = &c->conf;
    struct ag_http_opts o = {
        .host = k->cs.host,
        .port = hc_connstr_port(&k->cs),
        .tls = k->cs.scheme == HC_SCHEME_HTTPS,
        .ca_file = k->ca_file,
        .connect_timeout_ms = k->connect_timeout_ms,
        .timeout_ms = k->timeout_ms,
    };
    c->http = ag_http_new(&o);
    return c->http ? 0 : -ENOMEM;
}

static int https_init(const struct ag_kv *conf, size_t n, void **out, char *err, size_t errlen)
{
    struct https_ctx *c;
    int rc;
    *out = NULL;
    if (errlen)
        err[0] = '\0';
    if (!(c = calloc(1, sizeof *c))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rc = https_configure(c, conf, n, err, errlen);
    if (rc)
        goto out_close;
    if ((rc = https_connection(c))) {
        snprintf(err, errlen, "out of memory");
        goto out_close;
    }
    if (c->conf.cs.token[0]) {
        c->token_fixed = 1;
        rc = hc_buf_adds(&c->token, c->conf.cs.token) ? -ENOMEM : https_headers(c);
        if (!rc && hc_sas_expiry(c->token.p, &c->token_expiry_s))
            c->token_expiry_s = 0;
    } else {
        rc = https_token_new(c);
    }
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
static void https_detail(const struct ag_http_response *resp, char *out, size_t cap)
{
    const char *s = resp->body, *b = strstr(s, "<Detail>"), *e;
    size_t n, i;
    if (b && (e = strstr(b, "</Detail>"))) {
        b += strlen("<Detail>");
        n = (size_t)(e - b);
    } else {
        b = s;
        n = resp->body_len;
    }
    if (n >= cap)
        n = cap - 1;
    for (i = 0; i < n; i++)
        out[i] = (unsigned char)b[i] < 0x20 ? ' ' : b[i];
    out[n] = '\0';
}

/* The message for an HTTP answer that is not a success. */
static void https_http_error(struct https_ctx *c, int status, struct ag_send_status *st)
{
    char detail[160];
    const struct ag_https_conf *k = &c->conf;
    https_detail(&c->resp, detail, sizeof detail);
    const char *sep = detail[0] ? ": " : "";
    if (status == 401)
        https_msg(st->error, sizeof st->error,
                  "hub %s refused the SAS token (401) for %s: check %s%s%s", k->host_port,
                  k->cs.hub,
                  c->token_fixed ? "the SharedAccessSignature (expired?)"
                                 : "SharedAccessKeyName, SharedAccessKey and the clock",
                  sep, detail);
    else if (status == 403)
        https_msg(st->error, sizeof st->error,
                  "hub %s forbade the send to %s (403): does policy %s have Send rights? (or a "
                  "quota is exceeded)%s%s",
                  k->host_port, k->cs.hub, k->cs.key_name[0] ? k->cs.key_name : "(token)", sep,
                  detail);
    else if (status == 413)
        https_msg(st->error, sizeof st->error,
                  "hub %s refused the batch as too large (413): lower max_batch_bytes%s%s",
                  k->host_port, sep, detail);
    else if (status == 400)
        https_msg(st->error, sizeof st->error,
                  "hub %s refused the batch as malformed or too large (400)%s%s", k->host_port, sep,
                  detail);
    else if (status == 404)
        https_msg(st->error, sizeof st->error,
                  "hub %s has no event hub %s (404): check EntityPath or the hub name%s%s",
                  k->host_port, k->cs.hub, sep, detail);
    else if (status == 503)
        https_msg(st->error, sizeof st->error, "hub %s is busy (503)%s%s", k->host_port, sep,
                  detail);
    else if (status == 429)
        https_msg(st->error, sizeof st->error, "hub %s is throttling (429)%s%s", k->host_port, sep,
                  detail);
    else
        https_msg(st->error, sizeof st->error, "hub %s answered HTTP %d%s%s", k->host_port, status,
                  sep, detail);
}

/* The message and why for a request that got no HTTP answer (rc from ag_http_request). */
static enum ag_send_why https_net_error(struct https_ctx *c, int rc, char *msg, size_t cap)
{
    const struct ag_https_conf *k = &c->conf;
    const char *hp = k->host_port, *d = c->resp.detail[0] ? c->resp.detail : ag_http_strerror(rc);
    switch (rc) {
    case AG_HTTP_E_RESOLVE:
        https_msg(msg, cap,
                  "cannot resolve host %s: check the Endpoint of the connection string "
                  "(and DNS)",
                  k->cs.host);
        return AG_WHY_NETWORK;
    case AG_HTTP_E_REFUSED:
        https_msg(msg, cap, "connection refused by %s: is the hub running?", hp);
        return AG_WHY_NETWORK;
    case AG_HTTP_E_CONNECT:
        https_msg(msg, cap, "cannot connect to %s: %s: check the network and the Endpoint", hp, d);
        return AG_WHY_NETWORK;
    case AG_HTTP_E_TIMEOUT:
        https_msg(msg, cap,
                  "timeout talking to %s (%s): is the hub reachable? (connect_timeout, "
                  "timeout)",
                  hp, d);
        return AG_WHY_NETWORK;
    case AG_HTTP_E_TLS_VERIFY:
        https_msg(msg, cap, "TLS: certificate verify failed for host %s: check ca_file (%s): %s",
                  k->cs.host, k->ca_file ? k->ca_file : "system CA bundle", d);
        return AG_WHY_TLS;
    case AG_HTTP_E_TLS_CA:
        https_msg(msg, cap, "TLS: cannot load the CA bundle %s: check ca_file: %s",
                  k->ca_file ? k->ca_file : "(system)", d);
        return AG_WHY_TLS;
    case AG_HTTP_E_TLS:
        https_msg(msg, cap,
                  "TLS handshake with %s failed: %s: is it a TLS endpoint? (plain HTTP: "
                  "use http:// or UseDevelopmentEmulator=true)",
                  hp, d);
        return AG_WHY_TLS;
    case AG_HTTP_E_DROPPED:
        https_msg(msg, cap, "connection to %s dropped before an answer (%s)", hp, d);
        return AG_WHY_NETWORK;
    case AG_HTTP_E_NOMEM:
        https_msg(msg, cap, "out of memory sending to %s", hp);
        return AG_WHY_INTERNAL;
    default: /* AG_HTTP_E_PROTOCOL */
        https_msg(msg, cap, "sending to %s failed: %s", hp, d);
        return AG_WHY_NETWORK;
    }
}

static void https_status_reset(struct ag_send_status *st)
{
    st->result = AG_SEND_RETRY;
    st->why = AG_WHY_INTERNAL;
    st->http_status = 0;
    st->retry_after_ms = -1;
    st->error[0] = '\0';
}

static enum ag_send_result https_send(void *ctx, const char *body, size_t len,
                                      struct ag_send_status *st)
{
    struct https_ctx *c = ctx;
    struct ag_http_request rq = {
        .method = "POST",
        .target = c->conf.path,
        .body = body,
        .body_len = len,
    };
    int rc;
    https_status_reset(st);
    if (https_token_fresh(c)) {
        snprintf(st->error, sizeof st->error, "cannot renew the SAS token: out of memory");
        return st->result;
    }
    rq.headers = c->headers.p;
    rq.headers_len = c->headers.len;
    rc = ag_http_request(c->http, &rq, &c->resp);
    if (rc) {
        st->why = https_net_error(c, rc, st->error, sizeof st->error);
        return st->result = AG_SEND_RETRY;
    }
    st->http_status = c->resp.status;
    st->retry_after_ms = https_retry_after(&c->resp);
    st->result = ag_https_status_result(c->resp.status, &st->why);
    if (st->result != AG_SEND_OK)
        https_http_error(c, c->resp.status, st);
    return st->result;
}

static void https_limits(void *ctx, struct ag_transport_limits *lim)
{
    const struct https_ctx *c = ctx;
    lim->max_batch_bytes = (size_t)c->conf.max_batch_bytes;
}

const struct ag_transport ag_transport_https = {
    .name = "https",
    .init = https_init,
    .send = https_send,
    .close = https_close,
    .format = ag_https_format,
    .record_size = ag_https_record_size,
    .batch_overhead = AG_HTTPS_BATCH_OVERHEAD,
    .renew_auth = https_renew_auth,
    .limits = https_limits,
};
