/*
 * core.h - the hub core: the namespace's event hubs and their partitions, and the one way every
 * front end (REST, AMQP, MQTT) hands events in.
 *
 * Front ends translate, the core decides. A front end turns its protocol into struct rx_event
 * (core/event.h, properties through core/props.h) and calls rx_core_submit; the core routes each
 * event to a partition (the send's partition, the publisher's, the event's partition key hashed
 * as Event Hubs does, else round-robin), groups the events of one send into one job per partition
 * (keeping their order), and calls the send's done callback once, only after every partition has
 * its events on disk (fsync, shared with every other send that arrived meanwhile: group commit),
 * or once one of them failed to write. Only then may the front end acknowledge (201, AMQP
 * accepted, MQTT PUBACK).
 *
 * The in-flight budget (max_inflight): request bytes a front end holds (bodies read, events
 * waiting for their fsync) are charged with rx_core_charge before they are buffered and given
 * back with rx_core_uncharge when the send is answered; past the budget a front end answers
 * "busy" (503 + Retry-After, com.microsoft:server-busy) instead of buffering.
 *
 * Threads: every function may be called from any thread.
 */
#ifndef RX_CORE_H
#define RX_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "receiver/capture/recover.h"
#include "receiver/conf.h"
#include "receiver/core/event.h"
#include "receiver/log/log.h"
#include "receiver/metrics.h"
#include "receiver/partition/partition.h"

struct rx_core;
struct rx_send;

/*
 * Called once per submitted send, from a partition's writer thread, when every event of the
 * send is on disk (status 0) or a partition could not write (status -errno, e.g. -ENOSPC: none
 * of the send may be acknowledged; the front end answers busy and the client sends again).
 */
typedef void (*rx_send_done_fn)(struct rx_send *s, int status);

/*
 * One send of a front end. The front end fills the public fields, owns the struct and the events
 * until done has run, and then releases the core's part with rx_send_release.
 */
struct rx_send {
    int hub;               /* index in the configuration (rx_core_hub) */
    int partition;         /* a fixed partition, or -1: route each event */
    const char *publisher; /* /publishers/{name} (REST): its partition and property; */
    size_t publisher_len;  /*   NULL when none */
    struct rx_event *ev;   /* the events, numbered in this order within a partition */
    size_t n;              /* at least 1 */
    rx_send_done_fn done;  /* see above */
    void *ctx;             /* free for the front end */

    /* private: the core's */
    struct rx_done d;
    struct rx_job *jobs;
    struct rx_event **evp;
    int njobs;
};

/*
 * Open every partition of every hub of c (recovering their capture folders; note gets what
 * recovery did and may be NULL). c and m must outlive the core. Returns 0 and sets *out, or a
 * code from rx_partition_open with why_buf (why_cap bytes) naming the partition.
 */
int rx_core_open(const struct rx_conf *c, struct rx_metrics *m, rx_recover_note_fn note, void *ctx,
                 struct rx_core **out, char *why_buf, size_t why_cap);

/*
 * Finish every queued send (their done callbacks run), close the capture files, free. Front ends
 * must be stopped first (none may submit any more). NULL is ok.
 */
void rx_core_close(struct rx_core *core);

const struct rx_conf *rx_core_conf(const struct rx_core *core);
struct rx_metrics *rx_core_metrics(const struct rx_core *core);

/* The hub named name[0..len) (case-insensitive), or -1. */
int rx_core_hub(const struct rx_core *core, const char *name, size_t len);
/* The number of partitions of hub (an index from rx_core_hub). */
int rx_core_partitions(const struct rx_core *core, int hub);
/* Partition pid of hub, for readers of its state (rx_partition_next_seq, ...). */
struct rx_partition *rx_core_partition(const struct rx_core *core, int hub, int pid);

/*
 * The log of partition pid of hub (receiver/log/log.h): consumers read it back from there. Valid
 * while the core is open; NULL for a bad hub or partition.
 */
struct rx_log *rx_core_log(const struct rx_core *core, int hub, int pid);

/*
 * Start the retention thread: every every_ms (0: 30 s) it deletes, partition by partition, the
 * capture files past their hub's retention that safe (may be NULL: every file; with a lake, "is
 * it in bronze") allows and no reader is behind (rx_log_retain). Nothing starts when no hub has a
 * retention. Stopped by rx_core_close. Returns 0 or -errno.
 */
int rx_core_retention_start(struct rx_core *core, int64_t every_ms, rx_log_safe_fn safe, void *ctx);

/*
 * Charge bytes against the in-flight budget. Returns 0, or HC_E_RETRY (nothing charged) when it
 * would go over max_inflight: answer busy.
 */
int rx_core_charge(struct rx_core *core, int64_t bytes);
/* Give back bytes charged before. */
void rx_core_uncharge(struct rx_core *core, int64_t bytes);

/*
 * Route and queue the send s (s->partition must be -1 or below the hub's partition count).
 * Returns 0: s->done will be called exactly once. Or -ENOMEM / HC_E_INVAL (a bad hub or
 * partition): done is not called and nothing was queued. Never blocks on I/O.
 */
int rx_core_submit(struct rx_core *core, struct rx_send *s);

/* Release what rx_core_submit allocated for s (after done ran, or after it failed). NULL ok. */
void rx_send_release(struct rx_send *s);

/* The core's gauges in Prometheus text (per-partition next sequence). Returns 0 or -ENOMEM. */
int rx_core_render(const struct rx_core *core, struct hc_buf *out);

#endif
