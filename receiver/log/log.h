/*
 * log.h - one partition's durable log, read back: the capture files ARE the log; this module
 * finds any position in them without scanning, and feeds readers at the end from memory.
 *
 * Three parts, one handle (struct rx_log) per partition:
 *
 *  - The index (index.c): an LMDB environment per partition, {capture_dir}/.index/{ns}/{hub}/{pid}
 *    (the lander and recovery skip names that start with '.'). One entry per complete block of a
 *    capture file, keyed by the block's first SequenceNumber: the file (its name second, layout.h),
 *    the block's position and length, its record count, its first Offset and the highest
 *    EnqueuedTimeUtc up to its end; two more tables order the blocks by first offset and by that
 *    time, so a position by sequence number, offset or enqueued time is one B-tree search and one
 *    block read. The index is derived data: at open it is checked against the files (name, inode,
 *    size indexed) and rebuilt from them where it is missing, stale or unreadable; deleting it
 *    loses nothing. It is written without fsync (MDB_NOSYNC; synced when a file is closed): after
 *    a crash what it lacks is indexed again from the files.
 *  - The tail (tail.c): the most recent events, in memory, appended by the partition's writer
 *    thread the moment their fdatasync returns (rx_log_durable, the partition's hook), not when
 *    the file closes. A reader whose position is in the tail reads from memory.
 *  - Readers (reader.c): opened at a position, they read events in order, from the files through
 *    the index, then from the tail. A reader at the end can wait (rx_log_wait), poll an eventfd
 *    (rx_log_reader_fd) or be called back (rx_log_reader_notify) when new events are durable.
 *
 * Numbering: sequence numbers increase by one per event (a failed cut of a capture file may skip
 * some, never repeat one); offsets strictly increase (capture/record.h: rx_record_offset_step) and
 * are those written in the files, so they are stable across restarts and rebuilds.
 *
 * Retention (rx_log_retain): closed files whose newest event is older than the hub's retention
 * may be deleted once the caller says they are safe (landed in bronze when a lake is configured)
 * and no open reader is at or before their last event; begin_seq moves past them, and a reader
 * asking for an earlier position starts at the oldest retained event, as Event Hubs does.
 *
 * Threads: rx_log_durable is called by the partition's writer thread; every other function may be
 * called from any thread; one reader is used by one thread at a time.
 *
 * When the index cannot be opened or written (a full disk), capture goes on: the log says so once,
 * readers get the events the tail holds, and a read that needs the index returns HC_E_RETRY (the
 * reader's position stays; nothing is skipped); the files are checked and indexed again when the
 * partition starts its next capture file.
 *
 * Errors: 0 or a negative code (common/error.h): -errno for file and LMDB I/O (LMDB's own codes
 * map to HC_E_MAPFULL, HC_E_CORRUPT, HC_E_VERSION), HC_E_PARSE for a block that does not decode
 * as the index says, HC_E_RETRY (above), HC_E_INVAL for a bad argument, -ENOMEM.
 */
#ifndef RX_LOG_H
#define RX_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "receiver/capture/recover.h"
#include "receiver/partition/partition.h"

struct rx_log;
struct rx_log_reader;

struct rx_log_opts {
    const char *pdir;      /* the partition's capture folder (layout.h); copied */
    const char *index_dir; /* its index environment; copied */
    size_t tail_bytes;     /* memory for the tail (body, properties, key); 0: 8 MiB */
    int64_t retention_ms;  /* 0: keep everything (rx_log_retain deletes nothing) */
};

/* What a partition holds now. */
struct rx_log_info {
    int64_t begin_seq;    /* the oldest retained event's sequence number (end_seq when empty) */
    int64_t end_seq;      /* the sequence number the next event gets */
    int64_t last_seq;     /* the newest event's, -1 when empty */
    int64_t last_offset;  /* its offset, -1 when empty */
    int64_t last_enq_ms;  /* its enqueued time, 0 when empty */
    int64_t files;        /* capture files indexed */
    int64_t blocks;       /* blocks indexed */
    int64_t readers;      /* open readers */
    int64_t rebuilt;      /* files (re)indexed from their bytes at open */
    int64_t retained_out; /* files deleted by retention since open */
};

/*
 * A new log for the partition folder o->pdir, with no I/O yet: rx_log_load reads it. Returns
 * NULL on -ENOMEM.
 */
struct rx_log *rx_log_new(const struct rx_log_opts *o);

/*
 * Open the index (creating it), check it against every capture file of the folder (recovered
 * first: call after rx_recover_partition, before new events arrive) and (re)index what is
 * missing or stale; r (may be NULL) gives the numbering recovery found. Returns 0: an index that
 * cannot be created, written or checked is logged and left out until the next capture file (see
 * above), and a capture file that does not decode is not indexed and is named in the log.
 */
int rx_log_load(struct rx_log *log, const struct rx_recovery *r);

/* Close the index (synced), free the tail. Open readers must be closed first. NULL is ok. */
void rx_log_free(struct rx_log *log);

/*
 * The partition's hook (partition.h, struct rx_partition_hooks.durable): index the blocks of
 * d->path in [d->from, d->to), copy the events into the tail, wake the readers that wait. An
 * index write that fails is logged once; the index is then rebuilt at the next start (readers
 * still get these events from the tail).
 */
void rx_log_durable(struct rx_log *log, const struct rx_durable *d);

/* Hooks for rx_partition_opts.hooks, with ctx = the log (rx_log_load and rx_log_durable). */
void rx_log_hooks(struct rx_log *log, struct rx_partition_hooks *h);

void rx_log_info(struct rx_log *log, struct rx_log_info *out);

/* ---- Positions and readers ------------------------------------------------------------------ */

enum rx_log_pos_kind {
    RX_LOG_START,  /* the oldest retained event (offset "-1") */
    RX_LOG_END,    /* after the newest: only new events ("@latest") */
    RX_LOG_SEQ,    /* by sequence number */
    RX_LOG_OFFSET, /* by offset */
    RX_LOG_TIME,   /* by enqueued time, ms since the epoch */
};

/*
 * Where a reader starts: the first event whose value is >= value (inclusive) or > value. A
 * position before begin_seq starts at the oldest retained event; one after the newest at the end.
 */
struct rx_log_pos {
    enum rx_log_pos_kind kind;
    int64_t value;
    int inclusive;
};

/*
 * Parse an Event Hubs selector filter ("amqp.annotation.x-opt-offset > '1234'", with
 * x-opt-sequence-number or x-opt-enqueued-time, >= or >, the value quoted or bare; offset "-1"
 * is the start, "@latest" the end) into *pos. Returns 0 or HC_E_PARSE.
 */
int rx_log_pos_parse(const char *s, size_t len, struct rx_log_pos *pos);

/* One event read back. Its bytes belong to the reader: valid until its next read or close. */
struct rx_log_event {
    int64_t seq;
    int64_t offset;
    int64_t enq_ms;
    const uint8_t *body; /* NULL when the body is null */
    size_t body_len;
    const uint8_t *props; /* the Avro "Properties" map as stored (core/props.h) */
    size_t props_len;
    const char *pkey; /* the partition key, NULL when none */
    size_t pkey_len;
};

/*
 * Open a reader at pos (resolved now, through the index). Returns 0 and sets *out, or a code.
 * The reader counts as "behind" its position for retention until it is closed.
 */
int rx_log_reader_open(struct rx_log *log, const struct rx_log_pos *pos,
                       struct rx_log_reader **out);

/* Close the reader (its events go with it). NULL is ok. */
void rx_log_reader_close(struct rx_log_reader *r);

/*
 * Read up to max events (and, after the first, up to max_bytes of bodies; 0: no limit) in order,
 * without blocking. *ev points at the reader's array, *n gets how many (0 at the end: the reader
 * is then armed, see below). Returns 0 or a code (the reader's position stays where it was).
 */
int rx_log_read(struct rx_log_reader *r, size_t max, size_t max_bytes,
                const struct rx_log_event **ev, size_t *n);

/* The sequence number the reader reads next. */
int64_t rx_log_reader_next(const struct rx_log_reader *r);

/*
 * Waking a reader at the end. A read that returns no event arms the reader; the next durable
 * event then, once: makes its eventfd readable (created by the first call of rx_log_reader_fd,
 * EFD_NONBLOCK; the caller reads it to reset it, and owns nothing: it goes with the reader) and
 * calls its notify callback (set with rx_log_reader_notify; from the writer thread, which it must
 * not block; it may call nothing of the log). rx_log_wait blocks until then, up to timeout_ms
 * (-1: no limit); returns 1 when there may be events, 0 on timeout, or a code.
 */
int rx_log_reader_fd(struct rx_log_reader *r);
void rx_log_reader_notify(struct rx_log_reader *r, void (*fn)(void *ctx), void *ctx);
int rx_log_wait(struct rx_log_reader *r, int timeout_ms);

/* ---- Retention ------------------------------------------------------------------------------ */

/*
 * Whether the closed capture file path may go (landed in bronze when a lake is configured):
 * 1 yes, 0 not yet, or a negative code (nothing is deleted then).
 */
typedef int (*rx_log_safe_fn)(void *ctx, const char *path);

/*
 * Delete the closed files whose newest event is older than now_ms - retention, oldest first, up
 * to the first one that is not safe (safe may be NULL: all are) or that an open reader has not
 * read past; their index entries go first. *deleted (may be NULL) gets how many. Returns 0 or a
 * code. With retention 0, nothing.
 */
int rx_log_retain(struct rx_log *log, int64_t now_ms, rx_log_safe_fn safe, void *ctx, int *deleted);

#endif
