/*
 * queue.h - the agent's durable event buffer: one LMDB environment in a folder.
 *
 * Layout (DESIGN.md "Buffer"): records keyed by a big-endian u64 sequence number in the
 * "events" DB; a "meta" DB holds the ship cursor, the counters and the sources' checkpoints;
 * "dead" holds dead-lettered events, "corrupt" the raw bytes of records that failed their
 * checksum. Every record carries a CRC-32C and a format version (layout: buffer/queue_int.h):
 * a 52-byte header (version, kind, schema, event_id, enqueue and event time, lengths), the
 * device id and the envelope JSON exactly as hc_event_encode() wrote it, so nothing needs to
 * parse JSON to ship. Sequence numbers start at 1 and are never reused. The meta DB holds
 * "ag.format" (a buffer of another format version is refused with HC_E_VERSION) and "ag.state"
 * (cursor, next seq, queued/retained counts and bytes, counters), rewritten by every commit
 * that changes them, in the same transaction as the change.
 *
 * Events with seq < cursor have been shipped and are *retained* for replay until they are older
 * than retention_ms (by enqueue time) or the retained bytes exceed retention_bytes (oldest go
 * first). Events with seq >= cursor are *queued*. Queued + retained bytes never exceed max_bytes:
 * when a put would go over, retained events are pruned first, then the full policy applies
 * (AG_FULL_BLOCK: the put fails with HC_E_FULL; AG_FULL_DROP_OLDEST: the oldest queued events
 * are deleted, counted in AG_CTR_DROPPED, and the cursor moves past them). Bytes are record
 * bytes (header + device id + JSON); the dead and corrupt DBs are not counted in them. The LMDB
 * map is max_bytes * 2 + 64 MiB, room for copy-on-write and free pages. The cap is the buffer's
 * own: kept in meta ("ag.max_bytes"); opened with max_bytes 0, a buffer keeps the cap it has.
 * On a 32-bit system the map stays within 1.5 GiB of the address space: a cap over
 * ag_queue_max_bytes_limit() (736 MiB there) is refused for writing with HC_E_TOOBIG, whether
 * given or stored, and a new buffer's default cap is 512 MiB there (1 GiB on 64-bit).
 *
 * A full disk (the file system fills before max_bytes) works like the cap: the queue learns a
 * *disk cap* (a write txn that begins with less free space than about four txns need takes what
 * is stored as the cap; a commit that fails with HC_E_DISKFULL lowers it below what was stored
 * and at once prunes/drops down to it in two commits of its own) and from then on keeps to
 * min(max_bytes, disk cap) exactly as above: retained events are pruned first, then the full
 * policy applies (drop-oldest counts AG_CTR_DROPPED; block refuses with HC_E_FULL). Under it the
 * data file need not grow: LMDB reuses the pages of deleted records two commits later. A commit
 * that failed with HC_E_DISKFULL stored nothing (nothing accepted is lost): retry the batch.
 * The disk cap is kept in meta ("ag.disk_cap", with since when: ag_queue_stats, `status`) and
 * taken up by the next open; at most once a second a writer looks at the free space and, when
 * more than twice the headroom is free again, gives half of it back to the cap (gone once it
 * reaches max_bytes). Too much given back is learned again by the next full commit.
 *
 * Writes are grouped: ag_queue_begin() opens one write transaction, any number of ag_txn_put()
 * and ag_txn_meta_put() go into it, ag_txn_commit() makes all of it durable at once (fsync unless
 * opts.nosync). An event is "accepted" only when ag_txn_commit() returned 0.
 *
 * Threads: one struct ag_queue may be shared by threads; each thread uses its own txn and
 * iterators. Write transactions are serialised (one at a time per folder, across threads and
 * processes): a thread that calls ag_queue_begin (or ack, dead_letter, set_aside, replay, prune)
 * while it holds a txn deadlocks; it may hold iterators meanwhile. Several processes may open
 * the same folder (e.g. `status` while `run` works), but one process opens a folder once.
 * A folder left by kill -9 always opens (stale readers are cleared at open, ack and prune; a
 * writer that died mid-transaction leaves nothing of it).
 *
 * Memory: pages of the map that a process reads count in its RSS; the buffer drops them every
 * few commits and after long iterations, so an agent stays within a few MiB however big the
 * buffer is.
 *
 * All functions return 0 or a negative code (common/error.h).
 */
#ifndef AG_QUEUE_H
#define AG_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "common/envelope.h"

enum ag_full_policy { AG_FULL_BLOCK = 0, AG_FULL_DROP_OLDEST = 1 };

struct ag_queue_opts {
    uint64_t max_bytes; /* cap on stored record bytes (queued + retained); 0 = the buffer's
                           own (1 GiB for a new one; 512 MiB on 32-bit). Ignored readonly:
                           the buffer's own. At most ag_queue_max_bytes_limit(). */
    enum ag_full_policy policy;
    int nosync;           /* 1: commits are not fsynced (faster, loses the tail on power loss) */
    int64_t retention_ms; /* keep shipped events this long; < 0 = default 24 h; 0 = none */
    uint64_t retention_bytes; /* and at most this many bytes; 0 = max_bytes / 4 */
    int readonly;             /* open for reading only (status, dump) */
};

/* Counters kept durably in the meta DB. Names: ag_counter_name(). */
enum ag_counter {
    AG_CTR_ENQUEUED, /* events accepted into the buffer */
    AG_CTR_SHIPPED,  /* events acknowledged by the hub */
    AG_CTR_DROPPED,  /* queued events deleted by drop-oldest, never shipped */
    AG_CTR_REJECTED, /* input rows refused by a source (bad rows) */
    AG_CTR_CORRUPT,  /* records set aside after a failed checksum */
    AG_CTR_DEAD,     /* events moved to the dead-letter DB */
    AG_CTR_EXPIRED,  /* retained (already shipped) events pruned */
    AG_CTR_REPLAYED, /* retained events queued again by replay */
    AG_CTR_RETRIED,  /* send attempts that failed and were retried */
    AG_CTR_FULL,     /* puts refused because the buffer was full (policy block) */
    AG_CTR_COUNT
};

struct ag_queue;
struct ag_txn;

struct ag_queue_stats {
    uint64_t queued, queued_bytes;
    uint64_t retained, retained_bytes;
    uint64_t dead, corrupt_held; /* records in the dead and corrupt DBs now */
    int64_t oldest_queued_ms;    /* event_time of the oldest queued event, 0 if none */
    int64_t oldest_enqueued_ms;  /* enqueue time of the oldest queued event, 0 if none */
    uint64_t cursor, next_seq;   /* next seq to ship; next seq to assign */
    uint64_t max_bytes;          /* the buffer's cap */
    uint64_t disk_cap;           /* the cap learned from a full disk; 0 = none (see above) */
    int64_t disk_full_since_ms;  /* when the disk was first found full (0 with disk_cap 0) */
    uint64_t counters[AG_CTR_COUNT];
};

/*
 * A stored event, as read back. Pointers are valid until the iterator moves or closes; none of
 * the texts is NUL-terminated except reason.
 */
struct ag_record {
    uint64_t seq;
    int64_t enqueued_ms; /* wall clock at the put (coarse: a few ms of resolution) */
    struct hc_event ev;  /* fields point into the stored bytes; ev.data is the data object
                            inside json (ev.data_len bytes) */
    const char *json;    /* the envelope exactly as it is shipped */
    size_t json_len;
    const char *reason; /* dead-letter reason (AG_SCOPE_DEAD only), else NULL */
};

enum ag_scope {
    AG_SCOPE_QUEUED,   /* seq >= cursor, oldest first: what the shipper sends */
    AG_SCOPE_RETAINED, /* seq < cursor */
    AG_SCOPE_ALL,      /* both */
    AG_SCOPE_DEAD,     /* the dead-letter DB */
};

struct ag_iter;

const char *ag_counter_name(enum ag_counter c);

/* The largest max_bytes this build maps: 736 MiB on a 32-bit system (the map, 2 x max_bytes +
 * 64 MiB, within 1.5 GiB of a 3 GiB address space); on 64-bit, no limit that a disk reaches. */
uint64_t ag_queue_max_bytes_limit(void);

/* Default options: 1 GiB cap (512 MiB on 32-bit), block, synced, 24 h retention, retention_bytes 0
 * (max_bytes / 4, 256 MiB with the default cap). */
void ag_queue_opts_default(struct ag_queue_opts *o);

/*
 * Open (creating when missing, unless readonly) the buffer in folder dir, making missing parent
 * folders. opts may be NULL for defaults. On success *out owns the handle (ag_queue_close); on
 * failure *out is NULL. Errors: -ENOENT (no buffer there, readonly), -EACCES/-EROFS (folder not
 * writable), -ENOTDIR, HC_E_VERSION (another format, or an LMDB environment that is not a
 * buffer), HC_E_CORRUPT, HC_E_INVAL (bad opts), HC_E_TOOBIG (a cap, given or stored, over
 * ag_queue_max_bytes_limit(): 32-bit), -ENOMEM (also: the map did not fit the address space),
 * -errno.
 */
int ag_queue_open(const char *dir, const struct ag_queue_opts *opts, struct ag_queue **out);
/* Close; accepts NULL. Open txns and iterators (of every thread) must be finished first. */
void ag_queue_close(struct ag_queue *q);

/* Start a write transaction (blocks while another writer, in any process, holds one).
 * -EROFS on a queue opened readonly. */
int ag_queue_begin(struct ag_queue *q, struct ag_txn **out);
/*
 * Add one event. When ev->id is nil a UUIDv7 is assigned now (ag_txn_last_id() tells which);
 * a set id is kept. The envelope stored is the one hc_event_encode() makes, byte for byte
 * (hc_event_encode_to() writes it straight into the record); ev's memory is not kept.
 * Errors that leave the txn usable (commit what it holds, or go on putting):
 *   HC_E_FULL   policy block and no room; also, under any policy, when this txn's pages might
 *               not fit the LMDB map (commit, then go on in a new txn). Counted in AG_CTR_FULL
 *               (with the txn: an aborted txn loses the count).
 *   HC_E_TOOBIG over HC_EVENT_MAX or the whole cap;  HC_E_INVAL no device id, kind, or data;
 *   -ENOMEM.
 * Any other error (HC_E_MAPFULL, HC_E_DISKFULL, -EIO, ...) failed the LMDB txn: abort it
 * (ag_txn_commit would return the same error and store nothing).
 */
int ag_txn_put(struct ag_txn *t, const struct hc_event *ev);
/* The id of the event the last successful ag_txn_put stored. */
const uint8_t *ag_txn_last_id(const struct ag_txn *t);
/*
 * Store a small value under key in the meta DB (source checkpoints). Keys starting "ag." are
 * reserved (HC_E_INVAL), as is the empty key; keys are at most 511 bytes (LMDB's limit:
 * HC_E_TOOBIG; hash longer names, e.g. paths).
 */
int ag_txn_meta_put(struct ag_txn *t, const char *key, const void *val, size_t len);
/* Delete key from the meta DB; 0 also when it was not there. */
int ag_txn_meta_del(struct ag_txn *t, const char *key);
/* Add n to a counter within the txn (HC_E_INVAL for an unknown counter). */
int ag_txn_count(struct ag_txn *t, enum ag_counter c, uint64_t n);
/* Commit (fsync unless nosync) and free t. On error the txn is aborted and freed; nothing of it
 * was stored. HC_E_DISKFULL when the disk is full (the disk cap is then learned or lowered and
 * room made under it: retry the batch once), HC_E_MAPFULL when the map is. */
int ag_txn_commit(struct ag_txn *t);
/* Abort and free; accepts NULL. */
void ag_txn_abort(struct ag_txn *t);

/*
 * Read the meta value under key into val (cap bytes), *len (may be NULL) set to its full length
 * (may exceed cap: then only cap bytes were copied). HC_E_NOTFOUND when absent. Reads the last
 * committed value (a read snapshot of its own).
 */
int ag_queue_meta_get(struct ag_queue *q, const char *key, void *val, size_t cap, size_t *len);

/*
 * Mark every queued event with seq <= through as shipped: the cursor moves to through + 1,
 * AG_CTR_SHIPPED grows by their count, and retention pruning runs, all in one synced commit.
 * through below the cursor acks nothing (events dropped or dead-lettered meanwhile are simply
 * not there); through >= next_seq is HC_E_INVAL.
 */
int ag_queue_ack(struct ag_queue *q, uint64_t through);
/*
 * Move the queued event seq to the dead-letter DB with a reason (copied, cut at 1 KiB; NULL =
 * ""), count AG_CTR_DEAD. HC_E_NOTFOUND when seq is not queued (gone, or shipped already).
 * HC_E_CORRUPT when the record failed its checksum: it was set aside instead (committed).
 */
int ag_queue_dead_letter(struct ag_queue *q, uint64_t seq, const char *reason);
/* Move the raw bytes of record seq (any scope, dead included) to the corrupt DB, count
 * AG_CTR_CORRUPT. HC_E_NOTFOUND when there is no such record. */
int ag_queue_set_aside(struct ag_queue *q, uint64_t seq);
/*
 * Queue again, as new records at the tail with their original event_id and content, every
 * retained event whose enqueue time is in [since_ms, until_ms], in their order. The copies get a
 * new enqueue time (now) and count in AG_CTR_REPLAYED (not ENQUEUED). *n (may be NULL) gets the
 * count. Committed in chunks of 1000, so *n are queued even when an error comes later. Subject
 * to the cap like any put: HC_E_FULL stops the replay (what was replayed stays). A retained
 * record that fails its checksum is set aside. HC_E_INVAL when since_ms > until_ms.
 */
int ag_queue_replay(struct ag_queue *q, int64_t since_ms, int64_t until_ms, uint64_t *n);
/* Prune expired retained events now (ack does this too). Retained records that fail their
 * checksum are set aside on the way. */
int ag_queue_prune(struct ag_queue *q);

/* The disk cap this handle keeps to now (0: none; see "A full disk"). Cheap: for callers that
 * say once that the disk is full. */
uint64_t ag_queue_disk_cap(struct ag_queue *q);

#define AG_QUEUE_DISKFULL_TRIES 5 /* batches in a row that may fail for a full disk */

/*
 * The one retry rule for writers whose batch failed with HC_E_DISKFULL (see "A full disk"):
 * given the batch's result rc, returns 1 when the caller should make the batch again (the
 * queue keeps to the disk cap now; from the second failure in a row on it first sleeps 100 ms,
 * less when *stop is set, stop may be NULL), 0 when rc stands (0, another error, or the
 * AG_QUEUE_DISKFULL_TRIES-th full disk in a row). *tries counts the failures in a row: start
 * it at 0; a success (rc 0) sets it back to 0, another error leaves it.
 */
int ag_queue_diskfull_retry(int rc, int *tries, volatile int *stop);

/* The accounting and counters of the last commit, and the oldest queued event's times. */
int ag_queue_stats(struct ag_queue *q, struct ag_queue_stats *st);

/*
 * Iterate records of a scope in seq order starting at seq >= from (0 = from the start). The
 * iterator holds a read snapshot until closed (keep it short: a snapshot keeps old pages from
 * being reused). ag_iter_next returns 0 and fills rec, HC_E_NOTFOUND at the end (and after),
 * or HC_E_CORRUPT with only rec->seq set (the iterator has moved past it; the caller may
 * ag_queue_set_aside(rec->seq) after closing the iterator; seq 0 means a damaged key that
 * cannot be set aside).
 */
int ag_iter_open(struct ag_queue *q, enum ag_scope scope, uint64_t from, struct ag_iter **out);
int ag_iter_next(struct ag_iter *it, struct ag_record *rec);
void ag_iter_close(struct ag_iter *it);

#endif
