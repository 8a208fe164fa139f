/*
 * queue_int.h - what the files of the buffer module share (not a public interface).
 *
 * record.c  the record format: header, checksum, keys, the state blob
 * crc32c.c  the checksum (CRC-32C, in hardware where the CPU has it)
 * open.c    opening and closing the environment
 * pages.c   the map's resident pages (RSS)
 * diskcap.c the cap learned from a full disk
 * queue.c   write transactions, puts, meta, the cap and pruning
 * maint.c   ack, dead letters, set-aside, replay, prune
 * iter.c    iterators and stats
 *
 * Record (value of the "events" DB; little-endian fields, no alignment assumed):
 *
 *   off size
 *     0    1  format version (AG_REC_VERSION)
 *     1    1  kind (enum hc_kind)
 *     2    1  device_id length (1..HC_DEVICE_ID_MAX)
 *     3    1  flags: AG_REC_F_REASON = a dead-letter reason follows the JSON
 *     4    4  CRC-32C of the whole record with these 4 bytes taken as absent
 *     8    8  enqueue time, ms since the epoch
 *    16    8  event time, ms since the epoch
 *    24   16  event_id (UUID bytes)
 *    40    4  schema (int32)
 *    44    4  JSON length
 *    48    4  offset of the data object inside the JSON
 *    52    n  device_id bytes
 *  52+n    m  the envelope JSON exactly as hc_event_encode() wrote it (no NUL)
 *  [AG_REC_F_REASON: the reason text and a NUL, to the end of the value]
 *
 * Keys of "events", "dead" and "corrupt" are the big-endian u64 sequence number (memcmp order is
 * numeric order, so MDB_APPEND works). Sequence numbers start at 1 and are never reused.
 */
#ifndef AG_QUEUE_INT_H
#define AG_QUEUE_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/buffer/queue.h"
#include "common/buf.h"
#include "common/uuid.h"

#define AG_FORMAT_VERSION 1 /* the layout as a whole: meta "ag.format" */
#define AG_REC_VERSION    1 /* byte 0 of each record */
#define AG_REC_HDR        52
#define AG_REC_F_REASON   0x01
#define AG_REASON_MAX     1024 /* dead-letter reasons are cut to this many bytes */

#define AG_MIB         (1024ull * 1024)
#define AG_DEFAULT_MAX (sizeof(size_t) < 8 ? 512 * AG_MIB : 1024 * AG_MIB)
#define AG_TXN_SLACK   (1 * AG_MIB) /* pages a txn needs besides its records (branches, meta) */

#define AG_META_FORMAT "ag.format"
#define AG_META_STATE  "ag.state"
/* u64 (little-endian): the cap the buffer was last opened with for writing (ag_queue_open). */
#define AG_META_MAX_BYTES "ag.max_bytes"
/* u64 cap, i64 since (ms), little-endian: the cap learned from a full disk; absent = none. */
#define AG_META_DISK_CAP "ag.disk_cap"

/* Cursor, queued/retained accounting and counters: one blob in meta, rewritten by each commit. */
struct ag_state {
    uint64_t next_seq, cursor;
    uint64_t queued, queued_bytes;
    uint64_t retained, retained_bytes;
    uint64_t ctr[AG_CTR_COUNT];
};
#define AG_STATE_SLOTS (6 + AG_CTR_COUNT)
#define AG_STATE_BYTES (8 * AG_STATE_SLOTS)

struct ag_queue {
    MDB_env *env;
    MDB_dbi db_events, db_meta, db_dead, db_corrupt;
    struct ag_queue_opts o; /* defaults resolved */
    size_t mapsize, psize;
    /* Bounds of the map in this process (see trim_map in queue.c); NULL when unknown. */
    pthread_mutex_t map_lock;
    void *map_start;
    size_t map_len;
    /*
     * Used only while holding the write transaction (LMDB's writer lock serialises every write
     * transaction of the environment, across threads and processes).
     */
    struct hc_uuid7 gen;
    struct hc_buf json;  /* a record being replayed */
    struct hc_buf copy;  /* a record copied out before it is moved */
    unsigned since_trim; /* commits since the map's pages were last dropped */
    /* Record bytes read or written through the map since then, by any thread (a proxy for the
     * pages made resident). */
    _Atomic uint64_t touched;
    /*
     * The full disk (queue.c, "the disk cap"): the cap learned when a commit failed for want of
     * disk space (0 = none), since when, and the headroom it keeps. Written under the writer
     * lock only; disk_cap is read without it (ag_queue_stats of this process).
     */
    _Atomic uint64_t disk_cap;
    int64_t disk_since_ms;
    uint64_t disk_headroom;
    int disk_dirty;          /* the meta key AG_META_DISK_CAP must be rewritten */
    int64_t disk_checked_ns; /* when free space was last looked at (hc_mono_ns) */
    uint64_t last_txn_bytes; /* record bytes put by the last write txn committed */
};

struct ag_txn {
    struct ag_queue *q;
    MDB_txn *txn;
    MDB_cursor *cur;         /* appends to "events" */
    struct ag_state st, st0; /* now, and as loaded at begin */
    uint64_t map_used;       /* bytes of the map in use when the txn began */
    uint64_t txn_bytes;      /* record bytes put by this txn */
    uint64_t walked;         /* record bytes it read (ack, prune, replay) */
    int failed;              /* an LMDB call failed: the txn can only be aborted */
    uint8_t last_id[16];
};

/* A record decoded in place: every pointer points into the value. */
struct ag_rec_view {
    int64_t enqueued_ms;
    struct hc_event ev;
    const char *json;
    size_t json_len;
    const char *reason; /* AG_REC_F_REASON only */
};

/* crc32c.c: CRC-32C of n bytes, continuing crc (0 to start). _sw: the portable code alone. */
uint32_t ag_queue__crc32c(uint32_t crc, const void *data, size_t n);
uint32_t ag_queue__crc32c_sw(uint32_t crc, const void *data, size_t n);

/* record.c */
void ag_queue__key(uint64_t seq, uint8_t out[8]);
/* The seq of a key; 0 (never a valid seq) when the key is not 8 bytes. */
uint64_t ag_queue__seq(const MDB_val *k);
/* Put c on the first record at or after seq: 0 with its key and value in *k, *v (LMDB's
 * memory, valid as mdb_cursor_get says) and its seq in *at (may be NULL), or LMDB's code
 * (MDB_NOTFOUND: none). The one seek of the buffer's records by sequence. */
int ag_queue__seek(MDB_cursor *c, uint64_t seq, MDB_val *k, MDB_val *v, uint64_t *at);
/* Bytes of the record of ev whose envelope JSON is json_len bytes. */
size_t ag_queue__rec_size(const struct hc_event *ev, size_t json_len);
/* Where the envelope JSON goes in the record of ev. */
char *ag_queue__rec_json(uint8_t *rec, const struct hc_event *ev);
/*
 * Complete the record of ev in out (ag_queue__rec_size bytes) whose JSON (json_len bytes) is
 * already in place: header, device id, checksum. The data object is located from ev->data_len
 * (the envelope ends with the data object and a '}').
 */
void ag_queue__rec_write(uint8_t *out, const struct hc_event *ev, int64_t enqueued_ms,
                         size_t json_len);
/* Recompute the checksum of a record of size bytes (after its bytes were changed on purpose). */
void ag_queue__rec_seal(uint8_t *rec, size_t size);
/* Set the enqueue time of a record (and re-seal it). */
void ag_queue__rec_set_enqueued(uint8_t *rec, size_t size, int64_t ms);
/* Check version, lengths and checksum and fill *out. 0 or HC_E_CORRUPT. */
int ag_queue__rec_read(const void *val, size_t size, struct ag_rec_view *out);
void ag_queue__state_put(const struct ag_state *st, uint8_t out[AG_STATE_BYTES]);
/* 0 or HC_E_CORRUPT (wrong size). */
int ag_queue__state_get(const void *val, size_t size, struct ag_state *st);

/* queue.c */
/* LMDB or system error → common/error.h code. */
int ag_queue__err(int rc);
/*
 * A txn of q's env (flags as mdb_txn_begin). When another process grew the map past ours, LMDB
 * asks us to adopt its size (MDB_MAP_RESIZED); that remaps, which LMDB allows only while this
 * process has no other txn open: it happens only when processes open one buffer with different
 * max_bytes.
 */
int ag_queue__begin_txn(struct ag_queue *q, unsigned flags, MDB_txn **out);
/* Begin a read transaction (adopting a map grown by another process). */
int ag_queue__rdtxn(struct ag_queue *q, MDB_txn **out);
/* Load the state blob inside any txn. */
int ag_queue__load_state(struct ag_queue *q, MDB_txn *txn, struct ag_state *st);
/* Store the state blob in txn. */
int ag_queue__store_state(struct ag_queue *q, MDB_txn *txn, const struct ag_state *st);
/* n u64 (little-endian) under a reserved meta key: HC_E_NOTFOUND when absent or short. */
int ag_queue__meta_u64s(struct ag_queue *q, MDB_txn *txn, const char *key, uint64_t *out, int n);
/* Store n u64 (n <= 2) under key; n == 0 deletes it. An LMDB error code. */
int ag_queue__meta_u64s_put(struct ag_queue *q, MDB_txn *txn, const char *key, const uint64_t *in,
                            int n);
/* Mark t failed with the LMDB error mdb_rc; its common/error.h code. */
int ag_queue__txn_fail(struct ag_txn *t, int mdb_rc);
/* Remove seq (size record bytes) from the queued or retained accounting of t. */
void ag_queue__forget(struct ag_txn *t, uint64_t seq, uint64_t size);
/*
 * Move the record seq, whose current value is v, from db to the corrupt DB and count it.
 * v is copied first, so it may point into the map.
 */
int ag_queue__move_aside(struct ag_txn *t, MDB_dbi db, uint64_t seq, const MDB_val *v);
/*
 * Make room for a record of size bytes under the cap (pruning retained events, then the full
 * policy), then reserve it under the next seq and count it as queued. *out gets the reserved
 * bytes, valid until the next LMDB call of the txn: the caller fills them at once.
 * 0; HC_E_FULL (nothing stored, t usable); HC_E_TOOBIG; or an LMDB error (t failed).
 */
int ag_queue__reserve(struct ag_txn *t, size_t size, uint8_t **out);
/*
 * Delete retained events, oldest first, while they are expired (age, retention bytes) or while
 * the stored bytes plus need exceed the cap (ag_queue__cap: with need 0, only while over a disk
 * cap learned below them). Counts AG_CTR_EXPIRED.
 */
int ag_queue__prune(struct ag_txn *t, uint64_t need, int64_t now);
/* Policy drop-oldest: delete queued events from the cursor on until need fits under the cap. */
int ag_queue__drop_oldest(struct ag_txn *t, uint64_t need);
/* ag_txn_commit without learning from a full disk. */
int ag_queue__txn_commit(struct ag_txn *t);

/* Record bytes stored (queued and retained). */
static inline uint64_t ag_queue__stored(const struct ag_state *st)
{
    return st->queued_bytes + st->retained_bytes;
}

/* pages.c */
/* Learn where the map is from a value read in txn (nothing is dirty yet, so it is in the map). */
void ag_queue__map_probe(struct ag_queue *q, MDB_txn *txn);
/* Count bytes read or written through the map; past a threshold, drop its resident pages. */
void ag_queue__touched(struct ag_queue *q, uint64_t bytes);
/* Drop the map's resident pages (RSS) now; safe at any time. */
void ag_queue__trim(struct ag_queue *q);

/* diskcap.c */
/* The cap make_room keeps to now: max_bytes, or the disk cap when lower. */
uint64_t ag_queue__cap(struct ag_queue *q);
/* Read the learned disk cap stored in txn: 0 when none (*since_ms then 0). */
int ag_queue__disk_cap_get(struct ag_queue *q, MDB_txn *txn, uint64_t *cap, int64_t *since_ms);
/* At the start of a write txn without a disk cap: learn it when free space is under headroom. */
void ag_queue__disk_watch(struct ag_txn *t);
/* Relax the disk cap when the file system has room again (at most once a second). */
void ag_queue__disk_relax(struct ag_queue *q);
/* The code of a failed mdb_txn_commit: HC_E_DISKFULL when the disk has no room for txn_bytes. */
int ag_queue__commit_error(struct ag_queue *q, int mdb_rc, uint64_t txn_bytes);
/* In t: write the disk cap to meta when it changed (or delete it when it went away). */
int ag_queue__store_disk_cap(struct ag_txn *t);
/* A commit failed for want of disk space: learn (or lower) the cap, free the headroom now. */
void ag_queue__disk_full(struct ag_queue *q, uint64_t stored0, uint64_t txn_bytes);

#endif
