/*
 * log_int.h - what the parts of receiver/log/ share (not for other modules: use log.h).
 *
 *   index.c   the LMDB index: blocks by first sequence number, by first offset, by time; files
 *   build.c   (re)indexing a capture file from its bytes, and the checks at open
 *   tail.c    the in-memory tail
 *   reader.c  readers, positions, waking
 *   log.c     the handle: load, the durable hook, info, retention
 */
#ifndef RX_LOG_INT_H
#define RX_LOG_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "receiver/conf.h"
#include "receiver/log/log.h"

/* One complete block of a capture file, as the index holds it. */
struct rx_log__blk {
    int64_t seq;    /* its first record's sequence number (the key) */
    int64_t file_s; /* the file: its name second */
    uint64_t off;   /* the block's first byte (its count) in the file */
    uint32_t len;   /* count, size, data and sync marker */
    uint32_t count; /* records */
    int64_t offset; /* its first record's offset */
    int64_t enq_hi; /* the highest enqueued time of the partition up to its last record */
    int64_t last_seq;
};

/* One capture file, as the index holds it. */
struct rx_log__file {
    int64_t file_s;
    uint64_t ino;
    uint64_t size;     /* bytes indexed (a block boundary) */
    int64_t first_seq; /* -1 while it holds no block */
    int64_t last_seq;  /* -1 while it holds no block */
    int64_t last_offset;
    int64_t last_enq; /* of its last record */
    int64_t enq_hi;   /* the highest enqueued time up to its last record */
    int32_t codec;    /* enum rx_codec */
    int32_t closed;   /* 1 once it has its final name */
    uint8_t sync[16];
};

struct rx_log__index {
    MDB_env *env;
    MDB_dbi blocks, by_off, by_time, files;
};

/* index.c */
int rx_log__index_open(struct rx_log__index *ix, const char *dir);
void rx_log__index_close(struct rx_log__index *ix);
int rx_log__mdb_err(int rc);
int rx_log__put_block(struct rx_log__index *ix, MDB_txn *txn, const struct rx_log__blk *b);
int rx_log__put_file(struct rx_log__index *ix, MDB_txn *txn, const struct rx_log__file *f);
int rx_log__get_file(struct rx_log__index *ix, MDB_txn *txn, int64_t file_s,
                     struct rx_log__file *f);
/* Delete f's blocks and its row. */
int rx_log__drop_file(struct rx_log__index *ix, MDB_txn *txn, const struct rx_log__file *f);
/* The block holding seq, or the first after it; HC_E_NOTFOUND when none. */
int rx_log__find_seq(struct rx_log__index *ix, MDB_txn *txn, int64_t seq, struct rx_log__blk *b);
/* The block where the first event with offset >= off may be; HC_E_NOTFOUND when none. */
int rx_log__find_offset(struct rx_log__index *ix, MDB_txn *txn, int64_t off, struct rx_log__blk *b);
/* The first block with an event enqueued at or after t; HC_E_NOTFOUND when none. */
int rx_log__find_time(struct rx_log__index *ix, MDB_txn *txn, int64_t t, struct rx_log__blk *b);
/* The first (last = 0) or last block. HC_E_NOTFOUND when empty. */
int rx_log__edge_block(struct rx_log__index *ix, MDB_txn *txn, int last, struct rx_log__blk *b);
typedef int (*rx_log__file_fn)(void *ctx, const struct rx_log__file *f);
/* Each file row in name order; a non-zero return of fn stops and is returned. */
int rx_log__each_file(struct rx_log__index *ix, MDB_txn *txn, rx_log__file_fn fn, void *ctx);
/* Counts for info: files and blocks indexed. */
void rx_log__counts(struct rx_log__index *ix, MDB_txn *txn, int64_t *files, int64_t *blocks);

/* The framing of one block at p[0..len): count, data size, and where the data lies. */
struct rx_log__frame {
    int64_t count;
    size_t data_off, data_len, len; /* len: the whole block with its sync marker */
};
/* Read the framing of the block at p; HC_E_PARSE when it is not complete or not sync-ended. */
int rx_log__frame(const uint8_t *p, size_t len, const uint8_t sync[16], struct rx_log__frame *f);

/* build.c */
struct rx_log;
/* What the index says of the partition after a check. */
struct rx_log__numbers {
    int64_t begin_seq; /* -1 when no block */
    int64_t last_seq, last_offset, last_enq, enq_hi;
};
/* Check every capture file of the folder against the index and (re)index what must be. */
int rx_log__check(struct rx_log *log, struct rx_log__numbers *out);
/* The path of a file: tmp 0 the final name, 1 the temporary one. */
int rx_log__path(const struct rx_log *log, int64_t file_s, int tmp, char *out, size_t cap);
/* Open the file (final name, else temporary, else final again). Returns an fd or -errno. */
int rx_log__open_file(const struct rx_log *log, int64_t file_s);

/* tail.c: the most recent events, in chunks (one per durable batch). */
struct rx_log__tev {
    int64_t seq, offset, enq_ms;
    size_t body_off, body_len, props_off, props_len, pkey_off, pkey_len;
    int has_body, has_pkey;
};
struct rx_log__chunk {
    struct rx_log__chunk *next, *prev;
    size_t n, bytes;
    int64_t first_seq, last_seq;
    uint8_t *data;
    struct rx_log__tev ev[];
};
struct rx_log__tail {
    struct rx_log__chunk *oldest, *newest;
    size_t bytes, max_bytes;
};
int rx_log__tail_add(struct rx_log__tail *t, const struct rx_durable *d);
void rx_log__tail_free(struct rx_log__tail *t);
/* The first sequence number in the tail, INT64_MAX when empty. */
int64_t rx_log__tail_first(const struct rx_log__tail *t);

/* reader.c: what the log keeps of its readers. */
struct rx_log_reader {
    struct rx_log *log;
    struct rx_log_reader *next, *prev; /* the log's list, under log->mu */
    atomic_int_fast64_t next_seq;      /* the next event handed out (retention reads it) */
    int64_t fill_seq;                  /* where the next batch is read from */
    struct rx_log_pos skip;            /* drop events before this (after open), kind END: none */
    int armed;                         /* under log->mu */
    int efd;
    void (*notify)(void *ctx);
    void *notify_ctx;
    pthread_mutex_t wmu; /* rx_log_wait */
    pthread_cond_t wcv;
    int woken;
    /* the batch being handed out */
    struct rx_log_event *ev;
    struct rx_log__tev *tev;
    size_t nev, cap, at;
    struct hc_buf arena;
    struct hc_buf raw, inflated;
    /* files */
    int fd;
    int64_t fd_file_s;
    struct rx_log__file fcur;
};
/* Wake the armed readers (under log->mu). */
void rx_log__wake(struct rx_log *log);

struct rx_log {
    char pdir[RX_PATH_MAX];
    char index_dir[RX_PATH_MAX];
    int64_t retention_ms;
    struct rx_log__index ix;
    int ix_open;      /* the environment is open (writer thread, and at load) */
    atomic_int ix_ok; /* open, and holds every durable block: readers may trust it */

    pthread_mutex_t mu;
    struct rx_log__tail tail;
    struct rx_log_reader *readers;
    int64_t nreaders;
    int64_t begin_seq, end_seq, last_seq, last_offset, last_enq, enq_hi;
    atomic_int_fast64_t rebuilt;
    int64_t retained_out;
    int64_t writing_s; /* the file the writer thread appends to, -1 before the first */

    /* writer thread: the file being written */
    struct rx_log__file cur;
    int cur_valid;
    struct hc_buf wbuf;
};

#endif
