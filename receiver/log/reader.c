/*
 * reader.c - readers of a partition's log: a position resolved through the index, then batches
 * of events, from a block of a capture file (read with pread, decoded) or from the tail, handed
 * out in order; waking a reader that reached the end.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "receiver/capture/avro_enc.h"
#include "receiver/capture/record.h"
#include "receiver/capture/scan.h"
#include "receiver/log/log_int.h"

#define BATCH_EVENTS 1024
#define BATCH_BYTES  (1u << 20)

/* ---- Selector filters ----------------------------------------------------------------------- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static int parse_i64(const char *p, size_t n, int64_t *v)
{
    int neg = 0;
    int64_t x = 0;
    if (n && *p == '-') {
        neg = 1;
        p++;
        n--;
    }
    if (!n || n > 18)
        return HC_E_PARSE;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return HC_E_PARSE;
        x = x * 10 + (p[i] - '0');
    }
    *v = neg ? -x : x;
    return 0;
}

int rx_log_pos_parse(const char *s, size_t len, struct rx_log_pos *pos)
{
    static const char pre[] = "amqp.annotation.";
    static const struct {
        const char *name;
        enum rx_log_pos_kind kind;
    } names[] = {{"x-opt-offset", RX_LOG_OFFSET},
                 {"x-opt-sequence-number", RX_LOG_SEQ},
                 {"x-opt-enqueued-time", RX_LOG_TIME}};
    const char *p = skip_ws(s, s + len), *end = s + len, *v, *ve;
    enum rx_log_pos_kind kind = RX_LOG_START;
    size_t i;
    int inclusive;
    if ((size_t)(end - p) < sizeof pre - 1 || strncasecmp(p, pre, sizeof pre - 1))
        return HC_E_PARSE;
    p += sizeof pre - 1;
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i].name);
        if ((size_t)(end - p) >= n && !strncasecmp(p, names[i].name, n) &&
            (p + n == end || p[n] == ' ' || p[n] == '>' || p[n] == '=')) {
            kind = names[i].kind;
            p += n;
            break;
        }
    }
    if (i == sizeof names / sizeof names[0])
        return HC_E_PARSE;
    p = skip_ws(p, end);
    if (end - p >= 2 && p[0] == '>' && p[1] == '=') {
        inclusive = 1;
        p += 2;
    } else if (p < end && *p == '>') {
        inclusive = 0;
        p++;
    } else if (p < end && *p == '=') { /* an exact sequence number, as some clients send */
        inclusive = 1;
        p++;
    } else {
        return HC_E_PARSE;
    }
    p = skip_ws(p, end);
    ve = end;
    while (ve > p && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    v = p;
    if (ve - v >= 2 && (*v == '\'' || *v == '"') && ve[-1] == *v) {
        v++;
        ve--;
    }
    pos->inclusive = inclusive;
    if (kind == RX_LOG_OFFSET && ve - v == 7 && !memcmp(v, "@latest", 7)) {
        pos->kind = RX_LOG_END;
        pos->value = 0;
        return 0;
    }
    if (parse_i64(v, (size_t)(ve - v), &pos->value))
        return HC_E_PARSE;
    if (kind == RX_LOG_OFFSET && pos->value == -1) {
        pos->kind = RX_LOG_START;
        return 0;
    }
    if (pos->value < 0)
        return HC_E_PARSE;
    pos->kind = kind;
    return 0;
}

/* ---- Opening -------------------------------------------------------------------------------- */

/* Resolve an offset or a time to the block to start in; -1 when after every block. */
static int resolve_block(struct rx_log *log, const struct rx_log_pos *pos, int64_t target,
                         int64_t *seq)
{
    struct rx_log__blk b;
    MDB_txn *txn;
    int rc;
    *seq = -1;
    if (!atomic_load(&log->ix_ok))
        return HC_E_RETRY;
    if ((rc = mdb_txn_begin(log->ix.env, NULL, MDB_RDONLY, &txn)))
        return rx_log__mdb_err(rc);
    rc = pos->kind == RX_LOG_OFFSET ? rx_log__find_offset(&log->ix, txn, target, &b)
                                    : rx_log__find_time(&log->ix, txn, target, &b);
    mdb_txn_abort(txn);
    if (rc == HC_E_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    *seq = b.seq;
    return 0;
}

int rx_log_reader_open(struct rx_log *log, const struct rx_log_pos *pos, struct rx_log_reader **out)
{
    struct rx_log_reader *r = calloc(1, sizeof *r);
    int64_t target = pos->inclusive ? pos->value : pos->value + 1, seq = -1, end;
    int rc;
    if (!r)
        return -ENOMEM;
    r->log = log;
    r->efd = r->fd = -1;
    r->fd_file_s = -1;
    r->skip.kind = RX_LOG_END; /* no filter */
    pthread_mutex_init(&r->wmu, NULL);
    pthread_cond_init(&r->wcv, NULL);
    pthread_mutex_lock(&log->mu);
    end = log->end_seq;
    pthread_mutex_unlock(&log->mu);
    if ((pos->kind == RX_LOG_OFFSET || pos->kind == RX_LOG_TIME) &&
        (rc = resolve_block(log, pos, target, &seq))) {
        rx_log_reader_close(r);
        return rc;
    }
    pthread_mutex_lock(&log->mu);
    switch (pos->kind) {
    case RX_LOG_START:
        seq = log->begin_seq;
        break;
    case RX_LOG_END:
        seq = log->end_seq;
        break;
    case RX_LOG_SEQ:
        seq = target;
        break;
    case RX_LOG_OFFSET:
    case RX_LOG_TIME:
        if (seq < 0)
            seq = end;
        r->skip.kind = pos->kind;
        r->skip.value = target;
        break;
    }
    if (seq < log->begin_seq)
        seq = log->begin_seq;
    if (seq > log->end_seq)
        seq = log->end_seq;
    atomic_init(&r->next_seq, seq);
    r->fill_seq = seq;
    r->next = log->readers;
    if (log->readers)
        log->readers->prev = r;
    log->readers = r;
    log->nreaders++;
    pthread_mutex_unlock(&log->mu);
    *out = r;
    return 0;
}

void rx_log_reader_close(struct rx_log_reader *r)
{
    struct rx_log *log;
    if (!r)
        return;
    log = r->log;
    pthread_mutex_lock(&log->mu);
    if (r->prev || log->readers == r) {
        if (r->prev)
            r->prev->next = r->next;
        else
            log->readers = r->next;
        if (r->next)
            r->next->prev = r->prev;
        log->nreaders--;
    }
    pthread_mutex_unlock(&log->mu);
    if (r->fd >= 0)
        close(r->fd);
    if (r->efd >= 0)
        close(r->efd);
    pthread_cond_destroy(&r->wcv);
    pthread_mutex_destroy(&r->wmu);
    hc_buf_free(&r->arena);
    hc_buf_free(&r->raw);
    free(r->ev);
    free(r->tev);
    free(r);
}

int64_t rx_log_reader_next(const struct rx_log_reader *r)
{
    return atomic_load(&((struct rx_log_reader *)r)->next_seq);
}

/* ---- Batches -------------------------------------------------------------------------------- */

/* Does the event pass the position's filter (dropped before it)? Clears the filter once. */
static int passes(struct rx_log_reader *r, int64_t offset, int64_t enq)
{
    int ok;
    switch (r->skip.kind) {
    case RX_LOG_OFFSET:
        ok = offset >= r->skip.value;
        break;
    case RX_LOG_TIME:
        ok = enq >= r->skip.value;
        break;
    default:
        return 1;
    }
    if (ok)
        r->skip.kind = RX_LOG_END;
    return ok;
}

/* Stage one event: its bytes into the arena, its header into tev. */
static int stage(struct rx_log_reader *r, const struct rx_log__tev *e, const uint8_t *body,
                 const uint8_t *props, const uint8_t *pkey)
{
    struct rx_log__tev t = *e;
    if (r->nev == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct rx_log__tev *n = realloc(r->tev, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        r->tev = n;
        r->cap = cap;
    }
    t.body_off = r->arena.len;
    if (hc_buf_add(&r->arena, body, e->body_len))
        return -ENOMEM;
    t.props_off = r->arena.len;
    if (hc_buf_add(&r->arena, props, e->props_len))
        return -ENOMEM;
    t.pkey_off = r->arena.len;
    if (hc_buf_add(&r->arena, pkey, e->pkey_len))
        return -ENOMEM;
    r->tev[r->nev++] = t;
    return 0;
}

/* From the tail, under log->mu: events from fill_seq on. 1 when some came from there. */
static int fill_tail(struct rx_log_reader *r)
{
    struct rx_log__chunk *c = r->log->tail.newest;
    int rc;
    while (c && c->prev && c->first_seq > r->fill_seq)
        c = c->prev;
    for (; c && r->nev < BATCH_EVENTS && r->arena.len < BATCH_BYTES; c = c->next) {
        for (size_t i = 0; i < c->n; i++) {
            const struct rx_log__tev *e = &c->ev[i];
            if (e->seq < r->fill_seq)
                continue;
            r->fill_seq = e->seq + 1;
            if (!passes(r, e->offset, e->enq_ms))
                continue;
            if ((rc = stage(r, e, c->data + e->body_off, c->data + e->props_off,
                            c->data + e->pkey_off)))
                return rc;
        }
    }
    return 0;
}

struct decode {
    struct rx_log_reader *r;
    int err;
};

static int decode_record(void *ctx, const struct rx_record *rec)
{
    struct rx_log_reader *r = ctx;
    struct rx_log__tev e = {0};
    const uint8_t *v, *q, *pk = NULL;
    size_t len;
    if (rec->seq < r->fill_seq)
        return 0;
    e.seq = rec->seq;
    if (rec->offset_len == 0 || rec->offset_len > 18)
        return HC_E_PARSE;
    for (size_t i = 0; i < rec->offset_len; i++) {
        if (rec->offset[i] < '0' || rec->offset[i] > '9')
            return HC_E_PARSE;
        e.offset = e.offset * 10 + (rec->offset[i] - '0');
    }
    if (rx_record_map_get(rec->sysprops, rec->sysprops_len, "x-opt-enqueued-time", &v, &len) ==
        RX_AVRO_LONG) {
        q = v;
        if (rx_avro_get_long(&q, v + len, &e.enq_ms))
            return HC_E_PARSE;
    }
    if (rx_record_map_get(rec->sysprops, rec->sysprops_len, "x-opt-partition-key", &v, &len) ==
        RX_AVRO_STRING) {
        pk = v;
        e.has_pkey = 1;
        e.pkey_len = len;
    }
    e.has_body = rec->has_body;
    e.body_len = rec->has_body ? rec->body_len : 0;
    e.props_len = rec->props_len;
    r->fill_seq = rec->seq + 1;
    if (!passes(r, e.offset, e.enq_ms))
        return 0;
    return stage(r, &e, rec->body, rec->props, pk);
}

/*
 * A read transaction for one lookup, ended right after it (not kept reset: a reset transaction
 * keeps its reader slot, and a partition may have many readers).
 */
static int txn_get(struct rx_log_reader *r, MDB_txn **txn)
{
    return rx_log__mdb_err(mdb_txn_begin(r->log->ix.env, NULL, MDB_RDONLY, txn));
}

/* The block holding fill_seq (or the next one) from its file. 0 when none is indexed there. */
static int fill_file(struct rx_log_reader *r, int64_t tail_first)
{
    struct rx_log *log = r->log;
    struct rx_log__blk b;
    struct rx_log__frame fr;
    struct rx_avro_block ab;
    MDB_txn *txn = NULL;
    int rc;
    if (!atomic_load(&log->ix_ok))
        return HC_E_RETRY; /* not indexed now: nothing is skipped, the reader asks again */
    if ((rc = txn_get(r, &txn)))
        return rc;
    rc = rx_log__find_seq(&log->ix, txn, r->fill_seq, &b);
    if (!rc && b.seq >= tail_first)
        rc = HC_E_NOTFOUND; /* a gap up to the tail */
    if (!rc && b.file_s != r->fcur.file_s)
        rc = rx_log__get_file(&log->ix, txn, b.file_s, &r->fcur);
    mdb_txn_abort(txn);
    if (rc)
        return rc;
    if (r->fd_file_s != b.file_s) {
        if (r->fd >= 0)
            close(r->fd);
        r->fd_file_s = -1;
        if ((r->fd = rx_log__open_file(log, b.file_s)) < 0) {
            rc = r->fd;
            r->fd = -1;
            return rc;
        }
        r->fd_file_s = b.file_s;
    }
    hc_buf_reset(&r->raw);
    if (hc_buf_reserve(&r->raw, b.len))
        return -ENOMEM;
    if (pread(r->fd, r->raw.p, b.len, (off_t)b.off) != (ssize_t)b.len)
        return HC_E_PARSE;
    if ((rc = rx_log__frame((const uint8_t *)r->raw.p, b.len, r->fcur.sync, &fr)) ||
        fr.count != b.count)
        return rc ? rc : HC_E_PARSE;
    ab = (struct rx_avro_block){0, fr.len, fr.count, fr.data_off, fr.data_len};
    if (r->fill_seq < b.seq)
        r->fill_seq = b.seq;
    if ((rc = rx_avro_block_records((const uint8_t *)r->raw.p, &ab, (enum rx_codec)r->fcur.codec,
                                    decode_record, r)))
        return rc;
    if (r->fill_seq <= b.last_seq)
        r->fill_seq = b.last_seq + 1;
    return 0;
}

/* Read the next batch into tev/arena. *at_end set when there is nothing to read. */
static int refill(struct rx_log_reader *r, int *at_end)
{
    struct rx_log *log = r->log;
    int rc = 0;
    r->nev = r->at = 0;
    hc_buf_reset(&r->arena);
    *at_end = 0;
    while (r->nev == 0) {
        int64_t tail_first;
        pthread_mutex_lock(&log->mu);
        if (r->fill_seq < log->begin_seq)
            r->fill_seq = log->begin_seq;
        if (r->fill_seq >= log->end_seq) {
            r->armed = 1;
            pthread_mutex_lock(&r->wmu);
            r->woken = 0;
            pthread_mutex_unlock(&r->wmu);
            pthread_mutex_unlock(&log->mu);
            *at_end = 1;
            return 0;
        }
        tail_first = rx_log__tail_first(&log->tail);
        if (r->fill_seq >= tail_first) {
            rc = fill_tail(r);
            pthread_mutex_unlock(&log->mu);
            if (rc)
                return rc;
            continue;
        }
        pthread_mutex_unlock(&log->mu);
        rc = fill_file(r, tail_first);
        if (rc == HC_E_NOTFOUND && !atomic_load(&log->ix_ok))
            rc = HC_E_RETRY;       /* an index write failed meanwhile: skip nothing */
        if (rc == HC_E_NOTFOUND) { /* nothing indexed from fill_seq to the tail */
            r->fill_seq = tail_first;
            rc = 0;
        }
        if (rc)
            return rc;
    }
    return 0;
}

int rx_log_read(struct rx_log_reader *r, size_t max, size_t max_bytes,
                const struct rx_log_event **ev, size_t *n)
{
    size_t k = 0, bytes = 0;
    int rc;
    *n = 0;
    *ev = NULL;
    if (r->at == r->nev) {
        int at_end;
        int64_t keep = r->fill_seq;
        struct rx_log_pos skip = r->skip;
        if ((rc = refill(r, &at_end))) {
            r->fill_seq = keep; /* the position stays */
            r->skip = skip;
            r->nev = r->at = 0;
            return rc;
        }
        if (at_end)
            return 0;
        if (r->nev > 0) {
            struct rx_log_event *e = realloc(r->ev, r->nev * sizeof *e);
            if (!e)
                return -ENOMEM;
            r->ev = e;
            for (size_t i = 0; i < r->nev; i++) {
                const struct rx_log__tev *t = &r->tev[i];
                e[i] = (struct rx_log_event){
                    .seq = t->seq,
                    .offset = t->offset,
                    .enq_ms = t->enq_ms,
                    .body = t->has_body ? (const uint8_t *)r->arena.p + t->body_off : NULL,
                    .body_len = t->body_len,
                    .props = (const uint8_t *)r->arena.p + t->props_off,
                    .props_len = t->props_len,
                    .pkey = t->has_pkey ? (const char *)r->arena.p + t->pkey_off : NULL,
                    .pkey_len = t->pkey_len,
                };
            }
        }
    }
    while (r->at + k < r->nev && k < max) {
        size_t b = r->ev[r->at + k].body_len;
        if (k && max_bytes && bytes + b > max_bytes)
            break;
        bytes += b;
        k++;
    }
    *ev = r->ev + r->at;
    *n = k;
    r->at += k;
    if (k)
        atomic_store(&r->next_seq, (*ev)[k - 1].seq + 1);
    return 0;
}

/* ---- Waking --------------------------------------------------------------------------------- */

void rx_log__wake(struct rx_log *log)
{
    for (struct rx_log_reader *r = log->readers; r; r = r->next) {
        if (!r->armed)
            continue;
        r->armed = 0;
        if (r->efd >= 0) {
            uint64_t one = 1;
            if (write(r->efd, &one, sizeof one) < 0) {
                /* EAGAIN: the counter is already readable */
            }
        }
        if (r->notify)
            r->notify(r->notify_ctx);
        pthread_mutex_lock(&r->wmu);
        r->woken = 1;
        pthread_cond_signal(&r->wcv);
        pthread_mutex_unlock(&r->wmu);
    }
}

int rx_log_reader_fd(struct rx_log_reader *r)
{
    int fd;
    pthread_mutex_lock(&r->log->mu);
    if (r->efd < 0)
        r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    fd = r->efd < 0 ? -errno : r->efd;
    pthread_mutex_unlock(&r->log->mu);
    return fd;
}

void rx_log_reader_notify(struct rx_log_reader *r, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&r->log->mu);
    r->notify = fn;
    r->notify_ctx = ctx;
    pthread_mutex_unlock(&r->log->mu);
}

int rx_log_wait(struct rx_log_reader *r, int timeout_ms)
{
    struct timespec ts;
    int armed, got;
    pthread_mutex_lock(&r->log->mu);
    armed = r->armed;
    pthread_mutex_unlock(&r->log->mu);
    if (!armed || r->at < r->nev)
        return 1;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (timeout_ms >= 0) {
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&r->wmu);
    while (!r->woken) {
        if (timeout_ms < 0)
            pthread_cond_wait(&r->wcv, &r->wmu);
        else if (pthread_cond_timedwait(&r->wcv, &r->wmu, &ts))
            break;
    }
    got = r->woken;
    r->woken = 0;
    pthread_mutex_unlock(&r->wmu);
    return got;
}
