/*
 * api.c - the read-only JSON API (see api.h): routing, parameter checks and the status of the
 * answer here; the statements and their JSON in queries.c; the connections in pool.c.
 */
#include "receiver/api/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hctime.h"
#include "common/log.h"
#include "receiver/api/params.h"
#include "receiver/api/pool.h"
#include "receiver/api/queries.h"

#define ERR_MAX 512

struct rx_api {
    struct rx_api_pool *pool;
    struct rx_lake_loop *loop;
};

/* One request being answered. */
struct req {
    struct rx_api *a;
    const struct rx_api_route *r;
    rx_api_arg_fn arg;
    void *ctx;
    struct hc_buf *out;
    char err[ERR_MAX]; /* the sentence of a status other than 200 */
};

int rx_api_open(const char *conninfo, int pool_size, struct rx_lake_loop *loop, struct rx_api **out)
{
    struct rx_api *a = calloc(1, sizeof *a);

    *out = NULL;
    if (!a)
        return -ENOMEM;
    a->pool = rx_api_pool_new(conninfo, pool_size);
    if (!a->pool) {
        free(a);
        return -ENOMEM;
    }
    a->loop = loop;
    *out = a;
    return 0;
}

void rx_api_close(struct rx_api *a)
{
    if (!a)
        return;
    rx_api_pool_free(a->pool);
    free(a);
}

/*
 * Run a statement whose last column is the answer's JSON and append that to q->out. A missing
 * row or a NULL answer is 404 with sentence missing. When first is not NULL it gets the first
 * column of the row as an integer. Returns the HTTP status (q->err set when not 200).
 */
static int run_json(struct req *q, const char *sql, int n, const char *const *params,
                    const char *missing, long long *first)
{
    PGresult *res;
    int status = 200, last;

    switch (rx_api_pool_query(q->a->pool, sql, n, params, &res, q->err, sizeof q->err)) {
    case RX_API_Q_OK:
        break;
    case RX_API_Q_DOWN:
        return 503;
    default:
        return 500;
    }
    last = PQnfields(res) - 1;
    if (PQntuples(res) < 1 || last < 0 || PQgetisnull(res, 0, last)) {
        snprintf(q->err, sizeof q->err, "%s", missing);
        status = 404;
        goto out_clear;
    }
    if (first)
        *first = atoll(PQgetvalue(res, 0, 0));
    if (hc_buf_add(q->out, PQgetvalue(res, 0, last), (size_t)PQgetlength(res, 0, last))) {
        snprintf(q->err, sizeof q->err, "out of memory");
        status = 500;
    }
out_clear:
    PQclear(res);
    return status;
}

/* Copy the route's id into buf (RX_API_ID_MAX + 1 bytes) after checking it. 0 or 400. */
static int take_id(struct req *q, const char *what, char *buf)
{
    if (rx_api_check_id(what, q->r->id, q->r->id_len, q->err, sizeof q->err))
        return 400;
    memcpy(buf, q->r->id, q->r->id_len);
    buf[q->r->id_len] = '\0';
    return 0;
}

static int answer_sales(struct req *q)
{
    const char *grain;
    int64_t from = 0, to = 0;
    int has_from, has_to, status;
    char from_s[24], to_s[24];
    const char *params[3];
    long long windows = 0;
    size_t mark = q->out->len;

    if (rx_api_parse_grain(q->arg(q->ctx, "grain"), &grain, q->err, sizeof q->err) ||
        rx_api_parse_time("from", q->arg(q->ctx, "from"), &from, &has_from, q->err,
                          sizeof q->err) ||
        rx_api_parse_time("to", q->arg(q->ctx, "to"), &to, &has_to, q->err, sizeof q->err))
        return 400;
    if (has_from && has_to && from >= to) {
        snprintf(q->err, sizeof q->err, "from must be before to");
        return 400;
    }
    snprintf(from_s, sizeof from_s, "%lld", (long long)from);
    snprintf(to_s, sizeof to_s, "%lld", (long long)to);
    params[0] = grain;
    params[1] = has_from ? from_s : NULL;
    params[2] = has_to ? to_s : NULL;
    status = run_json(q, rx_api_sql_sales, 3, params, "no sales", &windows);
    if (status == 200 && windows > RX_API_WINDOWS_MAX) {
        q->out->len = mark; /* drop the too long answer */
        snprintf(q->err, sizeof q->err,
                 "more than %d %s windows between from and to: narrow the range with from and "
                 "to, or use a coarser grain",
                 RX_API_WINDOWS_MAX, grain);
        return 400;
    }
    return status;
}

static int answer_customer(struct req *q)
{
    char id[RX_API_ID_MAX + 1], limit_s[24], offset_s[24];
    const char *params[3] = {id, limit_s, offset_s};
    int64_t limit, offset;

    if (take_id(q, "customer id", id))
        return 400;
    switch (q->r->res) {
    case RX_API_CUSTOMER:
        return run_json(q, rx_api_sql_customer, 1, params, "no such customer", NULL);
    case RX_API_CUSTOMER_RETURNS:
        return run_json(q, rx_api_sql_returns, 1, params, "no such customer", NULL);
    default:
        break;
    }
    if (rx_api_parse_int("limit", q->arg(q->ctx, "limit"), 1, RX_API_LIMIT_MAX,
                         RX_API_LIMIT_DEFAULT, &limit, q->err, sizeof q->err) ||
        rx_api_parse_int("offset", q->arg(q->ctx, "offset"), 0, RX_API_OFFSET_MAX, 0, &offset,
                         q->err, sizeof q->err))
        return 400;
    snprintf(limit_s, sizeof limit_s, "%lld", (long long)limit);
    snprintf(offset_s, sizeof offset_s, "%lld", (long long)offset);
    return run_json(q, rx_api_sql_orders, 3, params, "no such customer", NULL);
}

static int answer_parcel(struct req *q)
{
    char id[RX_API_ID_MAX + 1];
    const char *params[1] = {id};

    if (take_id(q, "tracking number", id))
        return 400;
    return run_json(q, rx_api_sql_parcel, 1, params, "no such tracking number", NULL);
}

/* The loop's part of /pipeline: "lake": {...} or null. 0 or -ENOMEM. */
static int add_lake(struct hc_buf *out, struct rx_lake_loop *loop)
{
    struct rx_lake_status st;
    char t[HC_TIME_STRLEN];
    size_t n;
    int rc = 0;

    if (!loop)
        return hc_buf_adds(out, "\"lake\": null");
    rx_lake_loop_status(loop, &st);
    rc |= hc_buf_addf(out,
                      "\"lake\": {\"connected\": %s, \"cycles\": %llu, \"errors\": %llu, "
                      "\"reconnects\": %llu, \"last_cycle\": ",
                      st.connected ? "true" : "false", (unsigned long long)st.cycles,
                      (unsigned long long)st.errors, (unsigned long long)st.reconnects);
    if (st.last_cycle_ms) {
        hc_time_format(st.last_cycle_ms, t);
        rc |= hc_buf_add_json_str(out, t, strlen(t));
    } else {
        rc |= hc_buf_adds(out, "null");
    }
    rc |= hc_buf_adds(out, ", \"last_error\": ");
    n = strnlen(st.last_error, sizeof st.last_error);
    if (!st.last_error[0]) {
        rc |= hc_buf_adds(out, "null");
    } else {
        /* PostgreSQL's messages may be in the server's encoding: keep ASCII only */
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)st.last_error[i] > 0x7e)
                st.last_error[i] = '?';
        rc |= hc_buf_add_json_str(out, st.last_error, n);
    }
    rc |= hc_buf_adds(out, "}");
    return rc ? -ENOMEM : 0;
}

static int answer_pipeline(struct req *q)
{
    size_t mark = q->out->len;
    int status = run_json(q, rx_api_sql_pipeline, 0, NULL, "no pipeline figures", NULL);

    if (status != 200)
        return status;
    /* the statement's object ends with '}': reopen it for the loop's figures */
    if (q->out->len == mark || q->out->p[q->out->len - 1] != '}') {
        snprintf(q->err, sizeof q->err, "the pipeline figures are not a JSON object");
        return 500;
    }
    q->out->len--;
    if (hc_buf_adds(q->out, ", ") || add_lake(q->out, q->a->loop) || hc_buf_adds(q->out, "}")) {
        snprintf(q->err, sizeof q->err, "out of memory");
        return 500;
    }
    return 200;
}

static int answer(struct req *q)
{
    switch (q->r->res) {
    case RX_API_SALES:
        return answer_sales(q);
    case RX_API_TOP_PRODUCTS:
        return run_json(q, rx_api_sql_top_products, 0, NULL, "no products", NULL);
    case RX_API_CUSTOMER:
    case RX_API_CUSTOMER_ORDERS:
    case RX_API_CUSTOMER_RETURNS:
        return answer_customer(q);
    case RX_API_PARCEL:
        return answer_parcel(q);
    case RX_API_TRACKING:
        return run_json(q, rx_api_sql_tracking, 0, NULL, "no parcels", NULL);
    case RX_API_CARS:
        return run_json(q, rx_api_sql_cars, 0, NULL, "no cars", NULL);
    case RX_API_CANCELLATIONS:
        return run_json(q, rx_api_sql_cancellations, 0, NULL, "no figures", NULL);
    case RX_API_PIPELINE:
        return answer_pipeline(q);
    default:
        snprintf(q->err, sizeof q->err, "no such API resource");
        return 404;
    }
}

void rx_api_handle(struct rx_api *a, const char *method, const char *path, rx_api_arg_fn arg,
                   void *ctx, int *status, struct hc_buf *out)
{
    struct rx_api_route r;
    struct req q = {.a = a, .r = &r, .arg = arg, .ctx = ctx, .out = out};
    size_t mark = out->len;

    if (rx_api_route(path, &r) == RX_API_NONE) {
        snprintf(q.err, sizeof q.err,
                 "no such API resource: the API answers /api/v1/sales, top-products, "
                 "customers/{id}[/orders|/returns], tracking[/{tracking_num}], cars/turnover, "
                 "cancellations and pipeline");
        *status = 404;
    } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        snprintf(q.err, sizeof q.err, "the API is read-only: only GET and HEAD are allowed");
        *status = 405;
    } else {
        *status = answer(&q);
    }
    if (*status >= 500)
        hc_log(*status == 503 ? HC_LOG_DEBUG : HC_LOG_WARN, "api: %s %s: %d: %s", method, path,
               *status, q.err);
    if (*status != 200) {
        out->len = mark;
        if (hc_buf_adds(out, "{\"error\": ") || hc_buf_add_json_str(out, q.err, strlen(q.err)) ||
            hc_buf_adds(out, "}")) {
            *status = 500;
            return;
        }
    }
    if (hc_buf_adds(out, "\n"))
        *status = 500;
}
