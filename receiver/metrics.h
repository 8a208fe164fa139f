/*
 * metrics.h - the receiver's counters, updated from any thread (atomics, no locks), and their
 * Prometheus text exposition for GET /metrics.
 */
#ifndef RX_METRICS_H
#define RX_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "common/buf.h"

/* Answers counted by status code. */
enum rx_status_slot {
    RX_ST_200,
    RX_ST_201,
    RX_ST_400,
    RX_ST_401,
    RX_ST_404,
    RX_ST_405,
    RX_ST_413,
    RX_ST_500,
    RX_ST_501,
    RX_ST_503,
    RX_ST_OTHER,
    RX_ST_COUNT
};

#define RX_FSYNC_BUCKETS   12
#define RX_METRICS_SOURCES 8

/* More lines for /metrics from a module (the core's gauges, the lake, a front end). */
typedef int (*rx_metrics_source_fn)(void *ctx, struct hc_buf *out);

struct rx_metrics {
    atomic_uint_fast64_t requests[RX_ST_COUNT];
    atomic_uint_fast64_t events_in;     /* events acknowledged (on disk) */
    atomic_uint_fast64_t event_bytes;   /* their body bytes */
    atomic_uint_fast64_t request_bytes; /* request body bytes received */
    atomic_uint_fast64_t fsyncs;
    atomic_uint_fast64_t fsync_ns_sum;
    atomic_uint_fast64_t fsync_bucket[RX_FSYNC_BUCKETS]; /* non-cumulative */
    atomic_int_fast64_t files_open;
    atomic_uint_fast64_t files_closed;
    atomic_uint_fast64_t files_recovered;
    atomic_uint_fast64_t files_set_aside;
    atomic_uint_fast64_t write_errors;
    atomic_int_fast64_t inflight_bytes;
    atomic_int_fast64_t connections;
    atomic_uint_fast64_t http_deadline_closed[2]; /* by a read deadline: headers, body */
    atomic_uint_fast64_t http_lingering;          /* closed lingeringly (answered before body) */
    int64_t started_ms;
    struct {
        rx_metrics_source_fn fn;
        void *ctx;
    } src[RX_METRICS_SOURCES];
    atomic_int nsrc;
};

/* Zero everything and note the start time. */
void rx_metrics_init(struct rx_metrics *m);

/* Count one answer. */
void rx_metrics_status(struct rx_metrics *m, int status);

/* Count one fsync that took ns nanoseconds. */
void rx_metrics_fsync(struct rx_metrics *m, int64_t ns);

/*
 * Add a source of lines, rendered after the counters of m, in the order added; ctx must live as
 * long as m is rendered. Call before the /metrics endpoint can run it (at start). Returns 0 or
 * HC_E_TOOBIG (more than RX_METRICS_SOURCES).
 */
int rx_metrics_add_source(struct rx_metrics *m, rx_metrics_source_fn fn, void *ctx);

/* Append the Prometheus text of m and of its sources to out. Returns 0 or -ENOMEM. */
int rx_metrics_render(struct rx_metrics *m, struct hc_buf *out);

#endif
