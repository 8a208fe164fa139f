/* answer.c - the HTTP server's answers (http/server.h): counted, with Event Hubs' XML errors. */
#include "receiver/http/server.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/hctime.h"
#include "common/log.h"
#include "receiver/http/conn.h"

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
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

static void count(struct MHD_Connection *conn, int status)
{
    struct rx_conn *c = rx_http__conn(conn);
    if (c)
        rx_metrics_status(c->h->m, status);
}

enum MHD_Result rx_http_answer_response(struct MHD_Connection *conn, int status,
                                        struct MHD_Response *resp)
{
    count(conn, status);
    return MHD_queue_response(conn, (unsigned)status, resp);
}

enum MHD_Result rx_http_answer(struct MHD_Connection *conn, int status, const char *ctype,
                               const char *text, size_t len)
{
    struct rx_conn *c = rx_http__conn(conn);
    struct MHD_Response *resp;
    enum MHD_Result ret;
    resp = MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (status == 503)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (c && c->close)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (status == 405)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
                                c && c->kind == RX_ROUTE_SEND ? "POST" : "GET, HEAD");
    ret = rx_http_answer_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/*
 * A 5xx is worth a warning, but a full disk or a busy receiver answers thousands per second (all
 * counted in /metrics): one line a second at most, saying how many were not logged.
 */
static void warn_5xx(int status, const char *why)
{
    static atomic_llong last_s, quiet;
    long long now = (long long)(hc_now_ms() / 1000), prev = atomic_load(&last_s);
    if (now == prev || !atomic_compare_exchange_strong(&last_s, &prev, now)) {
        atomic_fetch_add(&quiet, 1);
        return;
    }
    long long n = atomic_exchange(&quiet, 0);
    if (n)
        hc_warn("%d: %s (and %lld more 5xx answers in the last seconds, see /metrics)", status, why,
                n);
    else
        hc_warn("%d: %s", status, why);
}

enum MHD_Result rx_http_answer_error(struct MHD_Connection *conn, int status, const char *why)
{
    char xml[512];
    int n = snprintf(xml, sizeof xml, "<Error><Code>%d</Code><Detail>%s: %s</Detail></Error>\n",
                     status, status_text(status), why ? why : "");
    if (n < 0 || (size_t)n >= sizeof xml)
        n = (int)strlen(xml);
    if (status >= 500)
        warn_5xx(status, why ? why : "");
    else
        hc_debug("%d: %s", status, why ? why : "");
    return rx_http_answer(conn, status, "application/xml; charset=utf-8", xml, (size_t)n);
}
