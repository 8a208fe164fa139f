/*
 * promote_int.h - internal to receiver/lake's promotion (promote.h): the batch a promotion works
 * on, shared by promote_read.c (bronze into a batch), promote_settle.c (dropping what silver holds,
 * summing for gold) and promote.c (the transactions, staging, the silver writer, read-ahead).
 * Functions return 0 or an error code and write a sentence into err (cap bytes) where they take
 * one; a batch owns its buffers until rx_promote__batch_free.
 */
#ifndef RX_LAKE_PROMOTE_INT_H
#define RX_LAKE_PROMOTE_INT_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/envelope.h"

/*
 * One batch: the bronze files (lo, hi] read in file and record order (COPY out), each body
 * checked once (rules.c); the valid records of a file wait in `pend` until the file's greatest
 * valid event time is known (too_late needs it), then go to their kind's rows unless this batch
 * already took a copy of the event (the first copy wins). Settling the batch then drops the events
 * silver holds and reduces the rows to what gold reads; PostgreSQL gets those, the quarantine
 * records and the per-file watermarks by COPY, and lake.promote_staged does the rest.
 */
struct pend {
    int32_t record_no;
    enum hc_kind kind;
    int64_t event_us;
    size_t off, len; /* the row in batch.pend_rows (COPY binary); its first field the event_id */
};

/* A row is COPY binary: a field count (2 bytes), then the event_id's length (4) and bytes. */
#define ROW_ID_AT 6
/* The event_ids taken by this batch: an open-addressing set of slots, each naming its id in
 * batch.idv, a binary text[] (lake.known_ids' parameter): ID_ARRAY_HEAD bytes of header, then
 * per id its length (4 bytes) and bytes. */
#define ID_ARRAY_HEAD 20
struct id_slot {
    uint64_t hash; /* 0: empty */
    uint32_t kind, len;
    size_t off;      /* the id's bytes in batch.idv */
    int64_t file_id; /* the file the copy was taken from */
    int known;       /* silver holds the event from an earlier batch: the row is dropped */
};

struct batch {
    int64_t lo, hi, n;
    int has_max, had_max;
    int64_t max_us, lateness_us, horizon_us; /* running maximum of valid event times */
    int64_t max_before;                      /* max_us before the batch (had_max: not NULL) */
    int64_t split_events;  /* from this many records on, silver is written on a second connection */
    struct hc_buf rows[4]; /* COPY binary tuples per kind (index: enum hc_kind) */
    struct hc_buf quar, files; /* COPY text for lake_q and lake_files */
    /* the file being read */
    int64_t file_id;
    int file_has;
    int64_t file_max;
    struct pend *pend;
    size_t npend, cappend;
    struct hc_buf pend_rows;
    /* the set of taken event_ids */
    struct id_slot *ids;
    size_t nids, capids; /* capids: a power of two */
    struct hc_buf idv;
    int checked;             /* settled: known events dropped, order lines summed */
    struct hc_buf oi, op;    /* COPY text for lake_oi and lake_op (receiver/lake/orders.h) */
    struct hc_buf latest[4]; /* parcels' and listings' latest rows (rx_latest_rows) */
};

/* Free b's buffers (its range and carried state stay); b can be freed again. */
void rx_promote__batch_free(struct batch *b);

/* The slot of the id p[0..n) with hash h (hc_hash_bytes) in b's set: its own or the empty one
 * where it would go. The set must have room (capids > nids). */
struct id_slot *rx_promote__id_find(struct batch *b, const char *p, size_t n, uint64_t h);

/* Read the batch's records (b->lo, b->hi] from bronze on c into b: checked, the first copy of each
 * event kept, too_late decided per file, quarantine records and watermarks written. */
int rx_promote__read_bronze(PGconn *c, struct batch *b, char *err, size_t cap);

/* Settle a batch read from bronze: drop the events silver (lake.known_ids on c) or prev (the batch
 * before, still being written; NULL: none) holds, and sum what gold reads. Sets b->checked. */
int rx_promote__settle(PGconn *c, struct batch *b, struct batch *prev, char *err, size_t cap);

#endif
