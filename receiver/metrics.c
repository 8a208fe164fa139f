#include "receiver/metrics.h"

#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "common/hctime.h"

/* Upper bounds of the fsync latency buckets, in seconds (the last is +Inf). */
static const double fsync_le[RX_FSYNC_BUCKETS - 1] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                      0.01,   0.025,   0.05,   0.1,   1.0};

static const struct {
    int code;
    enum rx_status_slot slot;
} status_slots[] = {
    {200, RX_ST_200}, {201, RX_ST_201}, {400, RX_ST_400}, {401, RX_ST_401}, {404, RX_ST_404},
    {405, RX_ST_405}, {413, RX_ST_413}, {500, RX_ST_500}, {501, RX_ST_501}, {503, RX_ST_503},
};

void rx_metrics_init(struct rx_metrics *m)
{
    memset(m, 0, sizeof *m);
    m->started_ms = hc_now_ms();
}

void rx_metrics_status(struct rx_metrics *m, int status)
{
    enum rx_status_slot slot = RX_ST_OTHER;
    for (size_t i = 0; i < sizeof status_slots / sizeof status_slots[0]; i++)
        if (status_slots[i].code == status)
            slot = status_slots[i].slot;
    atomic_fetch_add_explicit(&m->requests[slot], 1, memory_order_relaxed);
}

void rx_metrics_fsync(struct rx_metrics *m, int64_t ns)
{
    int b = 0;
    double s = (double)ns / 1e9;
    while (b < RX_FSYNC_BUCKETS - 1 && s > fsync_le[b])
        b++;
    atomic_fetch_add_explicit(&m->fsync_bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->fsyncs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->fsync_ns_sum, (uint64_t)(ns > 0 ? ns : 0), memory_order_relaxed);
}

#define LOAD(x) ((unsigned long long)atomic_load_explicit(&(x), memory_order_relaxed))

static int render_requests(struct rx_metrics *m, struct hc_buf *out)
{
    int rc = hc_buf_adds(out, "# HELP hubcap_receiver_requests_total HTTP requests answered, by "
                              "status code.\n# TYPE hubcap_receiver_requests_total counter\n");
    for (size_t i = 0; i < sizeof status_slots / sizeof status_slots[0] && !rc; i++)
        rc = hc_buf_addf(out, "hubcap_receiver_requests_total{code=\"%d\"} %llu\n",
                         status_slots[i].code, LOAD(m->requests[status_slots[i].slot]));
    return rc ? rc
              : hc_buf_addf(out, "hubcap_receiver_requests_total{code=\"other\"} %llu\n",
                            LOAD(m->requests[RX_ST_OTHER]));
}

static int render_fsync(struct rx_metrics *m, struct hc_buf *out)
{
    unsigned long long cum = 0;
    int rc = hc_buf_adds(out, "# HELP hubcap_receiver_fsync_seconds Time fdatasync of a capture "
                              "file took (one per group commit).\n"
                              "# TYPE hubcap_receiver_fsync_seconds histogram\n");
    for (int b = 0; b < RX_FSYNC_BUCKETS && !rc; b++) {
        cum += LOAD(m->fsync_bucket[b]);
        if (b < RX_FSYNC_BUCKETS - 1)
            rc = hc_buf_addf(out, "hubcap_receiver_fsync_seconds_bucket{le=\"%g\"} %llu\n",
                             fsync_le[b], cum);
        else
            rc = hc_buf_addf(out, "hubcap_receiver_fsync_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    }
    return rc ? rc
              : hc_buf_addf(out,
                            "hubcap_receiver_fsync_seconds_sum %.9f\n"
                            "hubcap_receiver_fsync_seconds_count %llu\n",
                            (double)LOAD(m->fsync_ns_sum) / 1e9, LOAD(m->fsyncs));
}

static int render_one(struct hc_buf *out, const char *name, const char *type, const char *help,
                      long long v)
{
    return hc_buf_addf(out, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", name, help, name, type, name,
                       v);
}

static int render_http(struct rx_metrics *m, struct hc_buf *out)
{
    return hc_buf_addf(
        out,
        "# HELP hubcap_receiver_http_deadline_closed_total HTTP connections closed because a "
        "request's headers (header_timeout) or body (body_timeout) did not arrive in time.\n"
        "# TYPE hubcap_receiver_http_deadline_closed_total counter\n"
        "hubcap_receiver_http_deadline_closed_total{phase=\"headers\"} %llu\n"
        "hubcap_receiver_http_deadline_closed_total{phase=\"body\"} %llu\n"
        "# HELP hubcap_receiver_http_lingering_closes_total HTTP connections answered before "
        "their body was read (too big to drain, or not delimited), then closed after reading "
        "what followed.\n"
        "# TYPE hubcap_receiver_http_lingering_closes_total counter\n"
        "hubcap_receiver_http_lingering_closes_total %llu\n",
        LOAD(m->http_deadline_closed[0]), LOAD(m->http_deadline_closed[1]),
        LOAD(m->http_lingering));
}

int rx_metrics_add_source(struct rx_metrics *m, rx_metrics_source_fn fn, void *ctx)
{
    int i = atomic_load(&m->nsrc);
    if (i == RX_METRICS_SOURCES)
        return HC_E_TOOBIG;
    m->src[i].fn = fn;
    m->src[i].ctx = ctx;
    atomic_store(&m->nsrc, i + 1);
    return 0;
}

int rx_metrics_render(struct rx_metrics *m, struct hc_buf *out)
{
    int nsrc = atomic_load(&m->nsrc);
    if (render_requests(m, out) ||
        render_one(out, "hubcap_receiver_events_total", "counter",
                   "Events acknowledged (fsynced into a capture file).",
                   (long long)LOAD(m->events_in)) ||
        render_one(out, "hubcap_receiver_event_bytes_total", "counter",
                   "Body bytes of the events acknowledged.", (long long)LOAD(m->event_bytes)) ||
        render_one(out, "hubcap_receiver_request_bytes_total", "counter",
                   "Request body bytes received.", (long long)LOAD(m->request_bytes)) ||
        render_fsync(m, out) ||
        render_one(out, "hubcap_receiver_capture_files_open", "gauge",
                   "Capture files being written.", (long long)atomic_load(&m->files_open)) ||
        render_one(out, "hubcap_receiver_capture_files_closed_total", "counter",
                   "Capture files closed and renamed.", (long long)LOAD(m->files_closed)) ||
        render_one(out, "hubcap_receiver_capture_files_recovered_total", "counter",
                   "Partial capture files recovered at start.",
                   (long long)LOAD(m->files_recovered)) ||
        render_one(out, "hubcap_receiver_capture_files_set_aside_total", "counter",
                   "Capture files with an unreadable header renamed *.corrupt at start (kept "
                   "in place; their complete blocks written anew).",
                   (long long)LOAD(m->files_set_aside)) ||
        render_one(out, "hubcap_receiver_capture_write_errors_total", "counter",
                   "Capture writes or fsyncs that failed (their requests got 503).",
                   (long long)LOAD(m->write_errors)) ||
        render_one(out, "hubcap_receiver_inflight_bytes", "gauge", "Request bytes held in memory.",
                   (long long)atomic_load(&m->inflight_bytes)) ||
        render_one(out, "hubcap_receiver_connections", "gauge", "Open HTTP connections.",
                   (long long)atomic_load(&m->connections)) ||
        render_http(m, out) ||
        render_one(out, "hubcap_receiver_start_time_seconds", "gauge",
                   "When the receiver started, in Unix seconds.",
                   (long long)(m->started_ms / 1000)))
        return -ENOMEM;
    for (int i = 0; i < nsrc; i++)
        if (m->src[i].fn(m->src[i].ctx, out))
            return -ENOMEM;
    return 0;
}
