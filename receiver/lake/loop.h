/*
 * loop.h - the lake inside `hubcap-receiver serve --pg CONNINFO`: one thread that lands closed
 * capture files into bronze and promotes them to silver and gold, again and again.
 *
 * A cycle runs as soon as a capture file closes (rx_metrics.files_closed moves; checked every
 * 100 ms) and at least every interval_ms otherwise. When PostgreSQL is unreachable or the
 * connection breaks, the thread reconnects with exponential back-off (250 ms doubling to 30 s,
 * with jitter) and catches up: nothing is lost, because capture files stay on disk until they are
 * in the manifest and promotion resumes after its checkpoint. Any other failure (a statement
 * PostgreSQL refuses) is logged, counted and retried on the next cycle.
 *
 * Status (rx_lake_loop_status) is what /api/v1/pipeline and /metrics report; it may be read from
 * any thread.
 */
#ifndef RX_LAKE_LOOP_H
#define RX_LAKE_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "receiver/metrics.h"

#define RX_LAKE_ERR_MAX 512

struct rx_lake_loop_opts {
    const char *conninfo;    /* libpq string or URI; NULL or "": PG* environment (copied) */
    const char *capture_dir; /* the capture folder to land from (copied) */
    int64_t interval_ms;     /* longest wait between cycles; 0 = 1000 */
    struct rx_metrics *m;    /* files_closed wakes the loop; may be NULL; must outlive the loop */
    int64_t window_ms;       /* the capture window, recorded in lake.config capture_window_ms
                                on each connect (a reconciliation tells events not landed yet
                                by it); 0: not recorded */
};

struct rx_lake_status {
    int connected;          /* the last cycle reached PostgreSQL */
    int schema_ready;       /* the schema is applied */
    uint64_t cycles;        /* cycles completed */
    uint64_t files_landed;  /* capture files landed by this process */
    uint64_t events_landed; /* their records */
    uint64_t files_failed;  /* capture files that could not be landed (each counted per try) */
    uint64_t events_promoted;
    uint64_t errors;       /* failed cycles */
    uint64_t reconnects;   /* connections made after the first */
    int64_t last_cycle_ms; /* wall clock of the last completed cycle, 0 = none */
    int64_t last_cycle_dur_ms;
    int64_t last_error_ms; /* 0 = never */
    char last_error[RX_LAKE_ERR_MAX];
};

struct rx_lake_loop;

/*
 * Start the thread (it connects by itself; PostgreSQL may be down at start). Returns 0 and *out,
 * or -errno / -ENOMEM.
 */
int rx_lake_loop_start(const struct rx_lake_loop_opts *o, struct rx_lake_loop **out);

/* Run a cycle now (e.g. a capture file closed). Any thread. */
void rx_lake_loop_kick(struct rx_lake_loop *l);

/* A copy of the status. Any thread. */
void rx_lake_loop_status(struct rx_lake_loop *l, struct rx_lake_status *st);

/* Prometheus lines of the status (hubcap_lake_*), appended to out. Returns 0 or -ENOMEM. */
int rx_lake_loop_render(struct rx_lake_loop *l, struct hc_buf *out);

/*
 * Stop: the cycle running finishes its current file (promotion commits file by file), the thread
 * ends, the connection closes, l is freed. NULL is ok.
 */
void rx_lake_loop_stop(struct rx_lake_loop *l);

#endif
