/*
 * partition.h - one partition of an event hub: it numbers events (SequenceNumber, Offset,
 * EnqueuedTimeUtc) and writes them to its capture file, with group commit.
 *
 * A writer thread per partition takes every job queued since its last turn, appends their events
 * to the current capture file, makes the file durable with one fdatasync, and only then
 * completes the jobs: many requests share one fsync, and no request is told "done" before its
 * events are on disk. Files are rolled by time (window_ms after they were opened) and by size
 * (window_bytes), written under "*.avro.tmp" and renamed when closed.
 *
 * When a write or an fdatasync fails (a full disk: ENOSPC, EIO, a short write), every job of that
 * commit finishes with the error (the front ends answer 503 with Retry-After), the file is cut
 * back to its last synced block and made durable, and numbering goes back to what is on disk;
 * metrics->write_errors counts it and one log line per failing spell says what to do. The next
 * commit simply tries again, so the partition writes again by itself once there is room. Should
 * the cut itself fail, the file is left for recovery and the numbers handed to it are skipped,
 * never used twice.
 *
 * On open, the partition's folder is recovered (capture/recover.h) and numbering resumes after
 * the highest sequence number and offset on disk, files set aside included. On close, queued jobs
 * are finished and the file is closed and renamed (one that holds no event is removed when
 * skip_empty).
 */
#ifndef RX_PARTITION_H
#define RX_PARTITION_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "receiver/capture/recover.h"
#include "receiver/conf.h"
#include "receiver/core/event.h"
#include "receiver/metrics.h"

/* The completion of a request whose events went to one or more partitions (one job each). */
struct rx_done {
    atomic_int left;               /* jobs not finished yet; set before submitting */
    atomic_int status;             /* 0, or the first failure (-errno) */
    void (*fn)(struct rx_done *d); /* called once, by the thread that finishes the last job */
};

/* Events of one request for one partition. The caller owns it until done->fn runs. */
struct rx_job {
    struct rx_job *next; /* private: the partition's queue */
    struct rx_done *done;
    struct rx_event **ev; /* in the order they must be numbered */
    size_t n;
    const char *publisher; /* for a /publishers/{name} send, else NULL */
    size_t publisher_len;
};

/* One event made durable, as the partition numbered it. */
struct rx_durable_event {
    int64_t seq, offset, enq_ms;
    const struct rx_event *ev; /* valid during the call only */
};

/*
 * Events just made durable in one capture file: they lie in the complete blocks of bytes
 * [from, to) of the file (from is a block boundary: the header's end or an earlier sync's),
 * in order.
 */
struct rx_durable {
    int64_t file_s;    /* the file's name second (layout.h): its id within the partition */
    const char *path;  /* its temporary name ("*.avro.tmp"; renamed "*.avro" when closed) */
    uint64_t from, to; /* the bytes synced by this fdatasync */
    const struct rx_durable_event *ev;
    size_t n;
};

/*
 * What a partition tells its log (receiver/log/log.h), optional. Both run on the partition's
 * threads and must not block on anything but their own I/O.
 */
struct rx_partition_hooks {
    /*
     * The folder pdir was recovered (r), before the writer thread starts. A non-zero return
     * fails rx_partition_open with it.
     */
    int (*recovered)(void *ctx, const char *pdir, const struct rx_recovery *r);
    /* Events are on disk (fdatasync returned 0); called before their jobs are finished. */
    void (*durable)(void *ctx, const struct rx_durable *d);
    void *ctx;
};

struct rx_partition_opts {
    const char *capture_dir;
    const char *ns;
    const char *hub;
    int pid;
    int64_t window_ms;
    uint64_t window_bytes;
    int skip_empty;
    enum rx_codec codec;
    size_t block_size; /* must hold the largest record */
    struct rx_metrics *metrics;
    const struct rx_partition_hooks *hooks; /* may be NULL; must outlive the partition */
};

struct rx_partition;

/*
 * Recover the partition's folder (note gets what recovery did; may be NULL), then start its
 * writer thread. *rec (when not NULL) gets the recovery's figures. Returns 0 and sets *out, or
 * -errno / -ENOMEM (nothing is left running).
 */
int rx_partition_open(const struct rx_partition_opts *o, rx_recover_note_fn note, void *ctx,
                      struct rx_partition **out, struct rx_recovery *rec);

/* Queue a job. Thread-safe; never blocks on I/O. */
void rx_partition_submit(struct rx_partition *p, struct rx_job *job);

/* Finish the queued jobs, close the capture file (renamed), stop the thread, free. NULL is ok. */
void rx_partition_close(struct rx_partition *p);

/* The sequence number the next event will get. */
int64_t rx_partition_next_seq(struct rx_partition *p);

/*
 * The Offset and enqueued time (ms) of the last event this process made durable, for readers
 * outside the thread; -1 and 0 before the first one (the numbers recovered from disk at open
 * are not kept: rx_partition_next_seq tells whether there are events).
 */
void rx_partition_last(struct rx_partition *p, int64_t *offset, int64_t *enq_ms);

/* Finish one job of a request: d->fn runs when it was the last. status 0 or -errno. */
void rx_done_finish(struct rx_done *d, int status);

#endif
