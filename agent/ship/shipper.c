#include "agent/ship/shipper.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/hctime.h"
#include "common/log.h"
#include "common/rng.h"

#define BACKOFF_BASE_MS    100
#define CATCH_UP_BEHIND_MS 1000 /* events older than this mean the shipper is catching up */
#define CATCH_UP_SLICES    5    /* while catching up, batches of rate/5 events: 5 sends a second */
#define PIPE_MAX           2    /* batches in flight at once at most (transports with begin/end) */

/* One batch taken from the queue: its records live in its slot's arrays and in the snapshot of
 * its iterator, until its answer was dealt with. */
struct batch {
    size_t n;
    uint64_t first_seq, last_seq;
    int64_t oldest_enqueued_ms;
    int more;        /* events are left after this batch */
    int too_big;     /* recs[0] alone is over the limits: dead-letter it */
    int catching_up; /* its oldest event waited over CATCH_UP_BEHIND_MS: a backlog drains */
    struct ag_iter *it;
    const struct ag_record **recs; /* pointers into the iterator's snapshot */
    struct ag_record *store;
};

struct ag_shipper {
    struct ag_queue *q;
    struct ag_shipper_opts o;
    void *tp_ctx;
    struct ag_transport_limits lim;
    int lock_fd;
    char state_path[PATH_MAX];
    struct ag_ship_state st;
    int64_t state_written_ms;
    const struct ag_record **recs[PIPE_MAX]; /* one set of arrays per batch in flight */
    struct ag_record *rec_store[PIPE_MAX];
    struct batch fl[PIPE_MAX]; /* begun and not ended (begin/end), the oldest at fl_head */
    size_t nfl, fl_head;
    size_t split;         /* while bisecting a rejected batch: events per batch */
    uint64_t split_until; /* bisect until the cursor passes this seq */
    int attempt;          /* failed attempts in a row */
    int renewed;          /* the token was renewed for this auth failure */
    struct hc_rng rng;
    double tokens; /* catch-up token bucket, events */
    int64_t tokens_at_ns;
    int stepping;          /* driven by ag_shipper_step: waits are recorded, not slept */
    int64_t not_before_ns; /* stepping: no send before this (hc_mono_ns) */
};

static int stopping(const struct ag_shipper *s)
{
    return s->o.stop && *s->o.stop;
}

/* ---- state file --------------------------------------------------------------------------- */

static void put_time(struct hc_buf *b, const char *key, int64_t ms)
{
    char ts[HC_TIME_STRLEN];
    hc_buf_addf(b, ",\"%s\":", key);
    if (!ms) {
        hc_buf_adds(b, "null");
        return;
    }
    hc_time_format(ms, ts);
    hc_buf_addf(b, "\"%s\"", ts);
}

/* Write ship.json (temp name, rename): informational, so no fsync. force: ignore the rate. */
static void state_write(struct ag_shipper *s, int force)
{
    struct hc_buf b = HC_BUF_INIT;
    char tmp[PATH_MAX + 8];
    int64_t now = hc_now_ms();
    FILE *f;

    if (!force && now - s->state_written_ms < 1000)
        return;
    s->state_written_ms = now;
    hc_buf_addf(&b, "{\"pid\":%ld,\"shipped\":%llu,\"dead\":%llu,\"retried\":%llu,\"sends\":%llu",
                (long)getpid(), (unsigned long long)s->st.shipped, (unsigned long long)s->st.dead,
                (unsigned long long)s->st.retried, (unsigned long long)s->st.sends);
    put_time(&b, "last_success", s->st.last_success_ms);
    put_time(&b, "updated", now);
    hc_buf_addf(&b,
                ",\"backoff_ms\":%lld,\"paused\":%s,\"last_error\":", (long long)s->st.backoff_ms,
                s->st.paused ? "true" : "false");
    if (s->st.last_error[0])
        hc_buf_add_json_str(&b, s->st.last_error, strlen(s->st.last_error));
    else
        hc_buf_adds(&b, "null");
    if (s->o.tp->counters)
        s->o.tp->counters(s->tp_ctx, &s->st.tp);
    hc_buf_addf(&b, ",\"transport\":\"%s\",\"transport_counters\":{", s->st.transport);
    for (int c = 0; c < AG_TPC_COUNT; c++)
        hc_buf_addf(&b, "%s\"%s\":%llu", c ? "," : "", ag_tp_counter_name((enum ag_tp_counter)c),
                    (unsigned long long)s->st.tp.v[c]);
    hc_buf_adds(&b, "}}\n");
    snprintf(tmp, sizeof tmp, "%s.tmp", s->state_path);
    f = fopen(tmp, "w");
    if (f) {
        int bad = fwrite(b.p, 1, b.len, f) != b.len;
        bad |= fclose(f) != 0;
        if (bad || rename(tmp, s->state_path))
            unlink(tmp);
    }
    hc_buf_free(&b);
}

static int64_t json_time(const cJSON *it)
{
    int64_t ms = 0;
    if (cJSON_IsString(it))
        hc_time_parse(it->valuestring, -1, &ms);
    return ms;
}

int ag_ship_state_read(const char *dir, struct ag_ship_state *st)
{
    char path[PATH_MAX], text[4096];
    size_t n;
    cJSON *j, *it;
    FILE *f;

    memset(st, 0, sizeof *st);
    if ((size_t)snprintf(path, sizeof path, "%s/ship.json", dir) >= sizeof path)
        return -ENAMETOOLONG;
    f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? HC_E_NOTFOUND : -errno;
    n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    j = cJSON_Parse(text);
    if (!j)
        return HC_E_PARSE;
    if ((it = cJSON_GetObjectItem(j, "shipped")) && cJSON_IsNumber(it))
        st->shipped = (uint64_t)it->valuedouble;
    if ((it = cJSON_GetObjectItem(j, "backoff_ms")) && cJSON_IsNumber(it))
        st->backoff_ms = (int64_t)it->valuedouble;
    st->paused = cJSON_IsTrue(cJSON_GetObjectItem(j, "paused"));
    st->last_success_ms = json_time(cJSON_GetObjectItem(j, "last_success"));
    if ((it = cJSON_GetObjectItem(j, "last_error")) && cJSON_IsString(it))
        snprintf(st->last_error, sizeof st->last_error, "%s", it->valuestring);
    if ((it = cJSON_GetObjectItem(j, "transport")) && cJSON_IsString(it))
        snprintf(st->transport, sizeof st->transport, "%s", it->valuestring);
    if ((it = cJSON_GetObjectItem(j, "transport_counters")) && cJSON_IsObject(it)) {
        for (int c = 0; c < AG_TPC_COUNT; c++) {
            const cJSON *v = cJSON_GetObjectItem(it, ag_tp_counter_name((enum ag_tp_counter)c));
            if (cJSON_IsNumber(v))
                st->tp.v[c] = (uint64_t)v->valuedouble;
        }
    }
    cJSON_Delete(j);
    return 0;
}

/* ---- life cycle --------------------------------------------------------------------------- */

static int take_lock(struct ag_shipper *s, const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX], pid[32] = "";
    ssize_t n;

    snprintf(path, sizeof path, "%s/ship.lock", dir);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -errno;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB)) {
        n = pread(s->lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(err, errlen, "another shipper (pid %s) is shipping from %s: stop it first",
                 pid[0] ? pid : "?", dir);
        return -EWOULDBLOCK;
    }
    n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(s->lock_fd, 0) == 0 && pwrite(s->lock_fd, pid, (size_t)n, 0) != n)
        hc_debug("cannot write the pid to %s", path);
    return 0;
}

int ag_shipper_new(struct ag_queue *q, const char *dir, const struct ag_shipper_opts *opts,
                   struct ag_shipper **out, char *err, size_t errlen)
{
    struct ag_shipper *s = calloc(1, sizeof *s);
    int rc = -ENOMEM;

    *out = NULL;
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    s->q = q;
    s->o = *opts;
    s->lock_fd = -1;
    if (!s->o.max_batch_events)
        s->o.max_batch_events = 5000;
    if (s->o.linger_ms <= 0)
        s->o.linger_ms = 100;
    if (s->o.backoff_max_ms <= 0)
        s->o.backoff_max_ms = 30000;
    if (s->o.pause_ms <= 0)
        s->o.pause_ms = 60000;
    if (s->o.give_up_ms <= 0)
        s->o.give_up_ms = 60000;
    hc_rng_seed_random(&s->rng);
    snprintf(s->state_path, sizeof s->state_path, "%s/ship.json", dir);
    /* The last success of an earlier run still tells the truth; its counters are its own. */
    if (ag_ship_state_read(dir, &s->st) == 0) {
        int64_t last = s->st.last_success_ms;
        memset(&s->st, 0, sizeof s->st);
        s->st.last_success_ms = last;
    }
    for (int i = 0; i < PIPE_MAX; i++) { /* pages untouched (a second slot unused) cost nothing */
        s->recs[i] = calloc(s->o.max_batch_events, sizeof *s->recs[i]);
        /* One more than a batch: the record read to find that a batch is full lands there. */
        s->rec_store[i] = calloc(s->o.max_batch_events + 1, sizeof *s->rec_store[i]);
        if (!s->recs[i] || !s->rec_store[i]) {
            snprintf(err, errlen, "out of memory for %zu events per batch", s->o.max_batch_events);
            goto out_free;
        }
    }
    rc = take_lock(s, dir, err, errlen);
    if (rc)
        goto out_free;
    rc = s->o.tp->init(s->o.conf, s->o.nconf, s->o.tp_arg, &s->tp_ctx, err, errlen);
    if (rc)
        goto out_free;
    snprintf(s->st.transport, sizeof s->st.transport, "%s", s->o.tp->name);
    s->o.tp->limits(s->tp_ctx, &s->lim);
    *out = s;
    return 0;
out_free:
    ag_shipper_free(s);
    return rc;
}

void ag_shipper_free(struct ag_shipper *s)
{
    if (!s)
        return;
    if (s->nfl && s->o.tp->abort)
        s->o.tp->abort(s->tp_ctx);
    for (; s->nfl; s->nfl--, s->fl_head = (s->fl_head + 1) % PIPE_MAX)
        ag_iter_close(s->fl[s->fl_head].it);
    if (s->tp_ctx)
        s->o.tp->close(s->tp_ctx);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    for (int i = 0; i < PIPE_MAX; i++) {
        free(s->recs[i]);
        free(s->rec_store[i]);
    }
    free(s);
}

const struct ag_ship_state *ag_shipper_state(const struct ag_shipper *s)
{
    return &s->st;
}

/* ---- batches ------------------------------------------------------------------------------- */

/* Behind by more than CATCH_UP_BEHIND_MS with a catch-up rate: smaller, paced batches. */
static size_t catch_up_limit(const struct ag_shipper *s, struct batch *b, size_t max_n)
{
    size_t slice;
    if (s->o.catch_up_rate <= 0 || hc_now_ms() - b->oldest_enqueued_ms <= CATCH_UP_BEHIND_MS)
        return max_n;
    b->catching_up = 1;
    slice = (size_t)(s->o.catch_up_rate / CATCH_UP_SLICES);
    if (slice < 1)
        slice = 1;
    return slice < max_n ? slice : max_n;
}

/* Events per batch now: the split, the options' and the transport's limits. */
static size_t batch_events(const struct ag_shipper *s)
{
    size_t n = s->split ? s->split : s->o.max_batch_events;
    if (s->lim.max_batch_events && s->lim.max_batch_events < n)
        n = s->lim.max_batch_events;
    return n;
}

/*
 * Take up to the limits from the oldest queued event at or after seq from into the arrays of
 * slot. Corrupt records met on the way are set aside. Returns 0 (b->n may be 0: nothing queued)
 * or an error. The records point into the snapshot of b->it, open until the batch was dealt
 * with (closed by the caller, with ag_iter_close).
 */
static int take_batch(struct ag_shipper *s, struct batch *b, size_t slot, uint64_t from)
{
    size_t max_n = batch_events(s);
    size_t bytes = s->lim.batch_overhead, cap = s->lim.max_batch_bytes;
    size_t one_cap = s->lim.max_event_bytes ? s->lim.max_event_bytes : cap;
    uint64_t corrupt[16];
    size_t ncorrupt = 0;
    struct ag_iter *it;
    int rc;

    memset(b, 0, sizeof *b);
    b->recs = s->recs[slot];
    b->store = s->rec_store[slot];
    rc = ag_iter_open(s->q, AG_SCOPE_QUEUED, from, &it);
    if (rc)
        return rc;
    for (;;) {
        struct ag_record *r = &b->store[b->n];
        rc = ag_iter_next(it, r);
        if (rc == HC_E_CORRUPT) {
            if (ncorrupt < sizeof corrupt / sizeof corrupt[0])
                corrupt[ncorrupt++] = r->seq;
            continue;
        }
        if (rc == HC_E_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc)
            break;
        size_t sz = s->o.tp->record_size(s->tp_ctx, r);
        if (b->n && (b->n == max_n || bytes + sz > cap || sz > one_cap)) {
            b->more = 1;
            break;
        }
        if (!b->n && (bytes + sz > cap || sz > one_cap)) {
            b->too_big = 1;
            b->n = 1;
            b->first_seq = b->last_seq = r->seq;
            break;
        }
        b->recs[b->n++] = r;
        bytes += sz;
        if (b->n == 1) {
            b->first_seq = r->seq;
            b->oldest_enqueued_ms = r->enqueued_ms;
            max_n = catch_up_limit(s, b, max_n);
        }
        b->last_seq = r->seq;
    }
    if (rc || !b->n || b->too_big)
        ag_iter_close(it);
    else
        b->it = it;
    for (size_t i = 0; i < ncorrupt; i++) {
        if (ag_queue_set_aside(s->q, corrupt[i]) == 0)
            hc_warn("event %llu in the buffer failed its checksum: set aside (see status: "
                    "corrupt)",
                    (unsigned long long)corrupt[i]);
    }
    return rc;
}

/* ---- results ------------------------------------------------------------------------------- */

static void count_retry(struct ag_shipper *s)
{
    struct ag_txn *t;
    s->st.retried++;
    if (ag_queue_begin(s->q, &t) == 0) {
        if (ag_txn_count(t, AG_CTR_RETRIED, 1) == 0)
            ag_txn_commit(t);
        else
            ag_txn_abort(t);
    }
}

/* Full jitter: uniform in [0, min(cap, base * 2^attempt)]; the server's Retry-After wins. */
static int64_t backoff_ms(struct ag_shipper *s, int64_t retry_after_ms)
{
    int64_t ceil = BACKOFF_BASE_MS << (s->attempt < 16 ? s->attempt : 16);
    if (retry_after_ms >= 0)
        return retry_after_ms < s->o.backoff_max_ms * 10 ? retry_after_ms : s->o.backoff_max_ms;
    if (ceil > s->o.backoff_max_ms)
        ceil = s->o.backoff_max_ms;
    return hc_rng_range(&s->rng, 0, ceil);
}

/* Sleep ms (state written meanwhile); when stepping, only note that nothing goes before then. */
static void wait_ms(struct ag_shipper *s, int64_t ms)
{
    int64_t end = hc_mono_ns() / 1000000 + ms;
    if (s->stepping) {
        s->not_before_ns = end * 1000000;
        return;
    }
    while (!stopping(s)) {
        int64_t left = end - hc_mono_ns() / 1000000;
        if (left <= 0)
            break;
        hc_sleep_ms(left < 200 ? left : 200, s->o.stop);
        if (left > 200 && s->o.tp->idle)
            s->o.tp->idle(s->tp_ctx);
        state_write(s, 0);
    }
}

/* The hub stored the first k records of the batch: the cursor moves over them. */
static int ack_prefix(struct ag_shipper *s, const struct batch *b, size_t k)
{
    uint64_t through;
    int rc;
    if (!k)
        return 0;
    through = b->store[k - 1].seq;
    rc = ag_queue_ack(s->q, through);
    if (rc)
        return rc;
    s->st.shipped += k;
    s->st.last_success_ms = hc_now_ms();
    s->st.backoff_ms = 0;
    s->st.paused = 0;
    s->st.last_error[0] = '\0';
    s->attempt = 0;
    s->renewed = 0;
    if (s->split && through >= s->split_until)
        s->split = 0; /* past the rejected range and nothing offending found: whole batches */
    if (k == b->n)
        state_write(s, s->st.shipped == k);
    return 0;
}

static int dead_letter(struct ag_shipper *s, uint64_t seq, const char *reason)
{
    int rc = ag_queue_dead_letter(s->q, seq, reason);
    if (rc)
        return rc;
    s->st.dead++;
    s->split = 0;
    hc_warn("event %llu dead-lettered: %s (see dump --dead-letter)", (unsigned long long)seq,
            reason);
    state_write(s, 1);
    return 0;
}

static void set_error(struct ag_shipper *s, const struct ag_send_status *st)
{
    char text[sizeof s->st.last_error];
    ag_send_status_text(st, text, sizeof text);
    if (strcmp(s->st.last_error, text))
        hc_warn("%s", text);
    memcpy(s->st.last_error, text, sizeof text);
}

/* A REJECT of recs[k..n): dead-letter the event the hub named, or split the batch to find it
 * (size/format), or pause (the request as a whole). */
static int on_reject(struct ag_shipper *s, const struct batch *b, size_t k,
                     const struct ag_send_status *st)
{
    char reason[AG_SEND_CODE_MAX + AG_SEND_ERROR_MAX];
    size_t left = b->n - k, after;
    int rc;
    if (st->why != AG_WHY_SIZE) {
        set_error(s, st);
        s->st.paused = 1;
        return HC_E_REJECT;
    }
    if (!st->one && left > 1) {
        s->split = left / 2;
        if (b->last_seq > s->split_until)
            s->split_until = b->last_seq;
        return 0;
    }
    rc = dead_letter(s, b->store[k].seq, ag_send_status_text(st, reason, sizeof reason));
    after = st->one && st->acked_after < left ? st->acked_after : 0;
    if (rc || !after)
        return rc;
    /* the records stored right after the refused one: not sent again */
    rc = ag_queue_ack(s->q, b->store[k + after].seq);
    if (!rc)
        s->st.shipped += after;
    return rc;
}

/* A RETRY: renew auth once, else back off. Returns HC_E_AUTH when auth stays refused. */
static int on_retry(struct ag_shipper *s, const struct ag_send_status *st)
{
    set_error(s, st);
    if (st->why == AG_WHY_AUTH) {
        if (!s->renewed && s->o.tp->renew_auth && s->o.tp->renew_auth(s->tp_ctx) == 0) {
            s->renewed = 1;
            return 0;
        }
        s->st.paused = 1;
        return HC_E_AUTH;
    }
    count_retry(s);
    s->st.backoff_ms = backoff_ms(s, st->retry_after_ms);
    s->attempt++;
    state_write(s, 1);
    wait_ms(s, s->st.backoff_ms);
    return 0;
}

/* Catch-up's token bucket, refilled to now: 1 when b may go now (its tokens are spent), 0 when
 * it would have to wait. */
static int tokens_take(struct ag_shipper *s, const struct batch *b)
{
    double rate = s->o.catch_up_rate;
    int64_t now = hc_mono_ns();
    if (rate <= 0)
        return 1;
    if (!s->tokens_at_ns)
        s->tokens_at_ns = now;
    s->tokens += (double)(now - s->tokens_at_ns) / 1e9 * rate;
    if (s->tokens > rate)
        s->tokens = rate;
    s->tokens_at_ns = now;
    if (b->catching_up && s->tokens < (double)b->n)
        return 0;
    if (b->catching_up)
        s->tokens -= (double)b->n;
    return 1;
}

/* Catch-up: while a backlog drains, send at most catch_up_rate events/s (token bucket with
 * one second of burst); fresh events, when the shipper is not behind, go at once. Returns 1
 * when stepping and the batch must wait (the wait is recorded), else 0: send now. */
static int throttle(struct ag_shipper *s, const struct batch *b)
{
    if (tokens_take(s, b))
        return 0;
    wait_ms(s, (int64_t)(((double)b->n - s->tokens) / s->o.catch_up_rate * 1000) + 1);
    if (s->stepping)
        return 1;
    s->tokens = 0; /* what the wait earned, spent at once */
    s->tokens_at_ns = hc_mono_ns();
    return 0;
}

/* Paused (auth, refused): wait, then try again with a fresh token. Stepping: the pause is
 * recorded and rc returned, so the caller hears of it. */
static int pause_then_retry(struct ag_shipper *s, int rc)
{
    state_write(s, 1);
    if (s->o.once)
        return rc;
    hc_warn("shipping paused for %llds: %s", (long long)(s->o.pause_ms / 1000), s->st.last_error);
    wait_ms(s, s->o.pause_ms);
    s->renewed = 0;
    if (s->o.tp->renew_auth)
        s->o.tp->renew_auth(s->tp_ctx);
    return s->stepping ? rc : 0;
}

/* What a send answered: the stored prefix is acked, then the rest is dealt with. */
static int on_answer(struct ag_shipper *s, const struct batch *b, const struct ag_send_status *st)
{
    size_t k = st->result == AG_SEND_OK ? b->n : st->acked < b->n ? st->acked : b->n;
    int rc = ack_prefix(s, b, k);
    if (rc || k == b->n)
        return rc;
    if (st->result == AG_SEND_REJECT) {
        rc = on_reject(s, b, k, st);
        return rc == HC_E_REJECT ? pause_then_retry(s, rc) : rc;
    }
    rc = on_retry(s, st);
    return rc == HC_E_AUTH ? pause_then_retry(s, rc) : rc;
}

/* A batch whose one event is over the limits: it goes to the dead-letter store unsent. */
static int too_big(struct ag_shipper *s, const struct batch *b)
{
    char reason[160];
    snprintf(reason, sizeof reason, "event is larger than the hub's limit of %zu bytes",
             s->lim.max_event_bytes && s->lim.max_event_bytes < s->lim.max_batch_bytes
                 ? s->lim.max_event_bytes
                 : s->lim.max_batch_bytes);
    return dead_letter(s, b->first_seq, reason);
}

/* Send the batch b and deal with the answer; its iterator is closed after the send. */
static int ship_one(struct ag_shipper *s, struct batch *b)
{
    struct ag_send_status st;

    if (b->too_big)
        return too_big(s, b);
    if (throttle(s, b)) {
        ag_iter_close(b->it);
        return 0;
    }
    s->st.sends++;
    ag_send_status_reset(&st);
    s->o.tp->send(s->tp_ctx, b->recs, b->n, &st);
    ag_iter_close(b->it);
    b->it = NULL;
    s->o.tp->limits(s->tp_ctx, &s->lim);
    return on_answer(s, b, &st);
}

/* Nothing to send now: let the transport keep its connection (heartbeats, token renewal). */
static void idle(struct ag_shipper *s)
{
    if (s->o.tp->idle)
        s->o.tp->idle(s->tp_ctx);
}

/* ---- batches in flight (transports with begin/end) ------------------------------------------ */

/* Batches in flight at most now: 1 unless the transport pipelines and nothing asks for care
 * (a rejected batch being split goes one batch at a time). */
static size_t depth(const struct ag_shipper *s)
{
    size_t d = s->lim.max_in_flight < PIPE_MAX ? s->lim.max_in_flight : PIPE_MAX;
    if (!s->o.tp->begin || s->stepping || s->split || d < 2)
        return 1;
    return d;
}

/* The slot of the next batch, and the first seq it may hold (after the batches in flight). */
static size_t next_slot(const struct ag_shipper *s, uint64_t *from)
{
    *from = s->nfl ? s->fl[(s->fl_head + s->nfl - 1) % PIPE_MAX].last_seq + 1 : 0;
    return (s->fl_head + s->nfl) % PIPE_MAX;
}

static void begin(struct ag_shipper *s, const struct batch *b)
{
    s->st.sends++;
    s->fl[(s->fl_head + s->nfl) % PIPE_MAX] = *b;
    s->nfl++;
    s->o.tp->begin(s->tp_ctx, b->recs, b->n);
}

/* Forget the batches in flight: their events are sent again from the cursor. */
static void abort_flights(struct ag_shipper *s)
{
    if (!s->nfl)
        return;
    s->o.tp->abort(s->tp_ctx);
    for (; s->nfl; s->nfl--, s->fl_head = (s->fl_head + 1) % PIPE_MAX)
        ag_iter_close(s->fl[s->fl_head].it);
}

/* The answer for the oldest batch in flight. One not wholly OK forgets the later ones. */
static int end_oldest(struct ag_shipper *s)
{
    struct batch b = s->fl[s->fl_head];
    struct ag_send_status st;
    ag_send_status_reset(&st);
    s->o.tp->end(s->tp_ctx, &st);
    s->fl_head = (s->fl_head + 1) % PIPE_MAX;
    s->nfl--;
    if (st.result != AG_SEND_OK)
        abort_flights(s);
    ag_iter_close(b.it);
    s->o.tp->limits(s->tp_ctx, &s->lim);
    return on_answer(s, &b, &st);
}

/*
 * One step of the loop of ag_shipper_run: begin, send or end a batch, or wait. Returns 0,
 * HC_E_DONE (once: the queue is empty) or an error that ends the loop.
 */
static int run_step(struct ag_shipper *s)
{
    uint64_t from;
    size_t slot = next_slot(s, &from);
    struct batch b;
    int rc;

    if (s->nfl) {
        /* a backlog: keep depth() batches in flight; else, or when full, the oldest's answer */
        const struct batch *last = &s->fl[(s->fl_head + s->nfl - 1) % PIPE_MAX];
        if (s->nfl < depth(s) && last->more) {
            if ((rc = take_batch(s, &b, slot, from)) != 0)
                return rc;
            if (b.n && !b.too_big && tokens_take(s, &b)) { /* catch-up: go when due */
                begin(s, &b);
                return 0;
            }
            if (b.n && b.it)
                ag_iter_close(b.it);
        }
        return end_oldest(s);
    }
    if ((rc = take_batch(s, &b, slot, 0)) != 0)
        return rc;
    if (!b.n) {
        if (s->o.once)
            return HC_E_DONE;
        idle(s);
        wait_ms(s, 50);
        return 0;
    }
    /* Linger: a batch that is not full waits a little for company (not when draining). */
    if (!b.more && !s->o.once && !b.too_big &&
        hc_now_ms() - b.oldest_enqueued_ms < s->o.linger_ms) {
        ag_iter_close(b.it);
        wait_ms(s, 10);
        return 0;
    }
    if (depth(s) > 1 && !b.too_big) {
        throttle(s, &b); /* not stepping: a wait is slept here */
        begin(s, &b);
        return 0;
    }
    return ship_one(s, &b);
}

int ag_shipper_run(struct ag_shipper *s)
{
    int64_t progress_at = hc_mono_ns() / 1000000;
    uint64_t last_shipped = 0;
    int rc = 0;

    while (!stopping(s)) {
        rc = run_step(s);
        if (rc == HC_E_DONE) {
            rc = 0;
            break;
        }
        if (rc)
            break;
        if (s->st.shipped + s->st.dead != last_shipped) {
            last_shipped = s->st.shipped + s->st.dead;
            progress_at = hc_mono_ns() / 1000000;
        } else if (s->o.once && !s->nfl && hc_mono_ns() / 1000000 - progress_at > s->o.give_up_ms) {
            rc = HC_E_RETRY;
            break;
        }
    }
    /* stopping: the answers of what is in flight still count (fewer events sent twice) */
    while (s->nfl && !rc)
        rc = end_oldest(s);
    abort_flights(s);
    state_write(s, 1);
    return rc;
}

int ag_shipper_step(struct ag_shipper *s, int64_t *next_ms)
{
    int64_t now = hc_mono_ns(), next = -1;
    struct batch b;
    int rc;

    s->stepping = 1;
    if (now >= s->not_before_ns) {
        rc = take_batch(s, &b, s->fl_head, 0);
        if (rc)
            return rc;
        if (!b.n) {
            idle(s);
            state_write(s, 0);
            goto out_next;
        }
        rc = ship_one(s, &b);
        if (rc)
            goto out_next_rc;
        next = b.more || s->split ? 0 : -1;
    }
out_next:
    rc = 0;
out_next_rc:
    now = hc_mono_ns();
    if (s->not_before_ns > now)
        next = (s->not_before_ns - now + 999999) / 1000000;
    if (next_ms)
        *next_ms = next;
    return rc;
}
