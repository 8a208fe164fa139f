/*
 * test_log.c - a partition's log read back (receiver/log/log.h), written by the real partition
 * writer (receiver/partition/) into real capture files rolled every few KiB:
 *   - from the start every event comes back in order with its body (empty and null ones too),
 *     properties, partition key, sequence number and a strictly increasing offset;
 *   - every kind of position (sequence number, offset, enqueued time, inclusive or not, the
 *     start, the end, before the first, after the last) starts at the event Event Hubs would;
 *   - the index deleted, or a file's rows lost, is rebuilt from the files with identical answers;
 *     a capture file deleted moves begin_seq and an earlier position starts at the oldest event;
 *   - a reader at the end is woken (eventfd, callback, rx_log_wait) by the next durable event;
 *   - retention deletes old closed files only when they are safe and no reader is behind them;
 *   - selector filters as the Azure clients write them parse to positions.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/hctime.h"
#include "receiver/capture/avro_enc.h"
#include "receiver/capture/layout.h"
#include "receiver/capture/record.h"
#include "receiver/core/props.h"
#include "receiver/log/log.h"
#include "receiver/metrics.h"
#include "receiver/partition/partition.h"
#include "tests/unit/testutil.h"

#define EVENTS   1500
#define PER_SEND 10

static char root[512], pdir[600], idir[600];
static struct rx_metrics metrics;

/* ---- A partition with its log --------------------------------------------------------------- */

struct part {
    struct rx_log *log;
    struct rx_partition *p;
    struct rx_partition_hooks hooks;
};

static void part_open(struct part *pt, size_t tail_bytes, int64_t retention_ms)
{
    struct rx_log_opts lo = {pdir, idir, tail_bytes, retention_ms};
    struct rx_partition_opts o = {
        root, "ns", "hub", 0, 3600000, 4096, 1, RX_CODEC_DEFLATE, 256 * 1024, &metrics, NULL};
    assert_non_null(pt->log = rx_log_new(&lo));
    rx_log_hooks(pt->log, &pt->hooks);
    o.hooks = &pt->hooks;
    assert_int_equal(rx_partition_open(&o, NULL, NULL, &pt->p, NULL), 0);
}

static void part_close(struct part *pt)
{
    rx_partition_close(pt->p);
    rx_log_free(pt->log);
    memset(pt, 0, sizeof *pt);
}

/* What event i holds: every 7th a null body, every 11th an empty one, every 3rd a key. */
static size_t body_of(int i, char *out)
{
    if (i % 7 == 6 || i % 11 == 10)
        return 0;
    return (size_t)sprintf(out, "event-%d-%.*s", i, i % 50,
                           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
}

static int has_key(int i)
{
    return i % 3 == 0;
}

struct send {
    struct rx_done done;
    struct rx_job job;
    struct rx_event ev[PER_SEND], *evp[PER_SEND];
    char body[PER_SEND][96], key[PER_SEND][32];
    struct hc_buf props;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int finished;
};

static void send_done(struct rx_done *d)
{
    struct send *s = (struct send *)((char *)d - offsetof(struct send, done));
    pthread_mutex_lock(&s->mu);
    s->finished = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Send events first .. first+n-1 (n <= PER_SEND) as one job and wait until they are durable. */
static void send_events(struct rx_partition *p, int first, int n)
{
    struct send s;
    struct rx_props pr;
    size_t at[PER_SEND];
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    atomic_init(&s.done.left, 1);
    atomic_init(&s.done.status, 0);
    s.done.fn = send_done;
    s.job.done = &s.done;
    s.job.ev = s.evp;
    s.job.n = (size_t)n;
    rx_props_init(&pr);
    for (int k = 0; k < n; k++) {
        int i = first + k;
        rx_props_reset(&pr);
        assert_int_equal(rx_props_long(&pr, "i", 1, i, NULL), 0);
        at[k] = s.props.len;
        assert_int_equal(rx_props_finish(&pr, &s.props), 0);
    }
    rx_props_free(&pr);
    for (int k = 0; k < n; k++) {
        int i = first + k;
        struct rx_event *ev = &s.ev[k];
        size_t len = body_of(i, s.body[k]);
        s.evp[k] = ev;
        ev->body = i % 7 == 6 ? NULL : (const uint8_t *)s.body[k];
        ev->body_len = len;
        ev->props = (const uint8_t *)s.props.p + at[k];
        ev->props_len = (k + 1 < n ? at[k + 1] : s.props.len) - at[k];
        if (has_key(i)) {
            ev->pkey = s.key[k];
            ev->pkey_len = (size_t)sprintf(s.key[k], "dev-%d", i % 17);
        }
    }
    rx_partition_submit(p, &s.job);
    pthread_mutex_lock(&s.mu);
    while (!s.finished)
        pthread_cond_wait(&s.cv, &s.mu);
    pthread_mutex_unlock(&s.mu);
    assert_int_equal(atomic_load(&s.done.status), 0);
    hc_buf_free(&s.props);
    pthread_cond_destroy(&s.cv);
    pthread_mutex_destroy(&s.mu);
}

static void send_range(struct rx_partition *p, int from, int to)
{
    for (int i = from; i < to; i += PER_SEND)
        send_events(p, i, to - i < PER_SEND ? to - i : PER_SEND);
}

/* ---- Reading back --------------------------------------------------------------------------- */

/* What one read-back event was, for comparing answers. */
struct seen {
    int64_t seq, offset, enq;
};

static struct seen all[EVENTS + 64];
static int64_t offsets[EVENTS + 64];

static void check_event(const struct rx_log_event *e)
{
    char body[96];
    int i = (int)e->seq;
    size_t len = body_of(i, body);
    const uint8_t *v, *q;
    int64_t prop = -1;
    size_t vl;
    assert_int_equal(e->body_len, len);
    if (i % 7 == 6)
        assert_null(e->body);
    else
        assert_non_null(e->body);
    if (len)
        assert_memory_equal(e->body, body, len);
    assert_int_equal(rx_record_map_get(e->props, e->props_len, "i", &v, &vl), RX_AVRO_LONG);
    q = v;
    assert_int_equal(rx_avro_get_long(&q, v + vl, &prop), 0);
    assert_int_equal(prop, i);
    if (has_key(i)) {
        char key[32];
        int n = sprintf(key, "dev-%d", i % 17);
        assert_non_null(e->pkey);
        assert_int_equal(e->pkey_len, (size_t)n);
        assert_memory_equal(e->pkey, key, (size_t)n);
    } else {
        assert_null(e->pkey);
    }
}

/* Read from pos to the end: up to cap events into out (checked). Returns how many. */
static int read_all(struct rx_log *log, const struct rx_log_pos *pos, struct seen *out, int cap)
{
    struct rx_log_reader *r;
    int n = 0;
    assert_int_equal(rx_log_reader_open(log, pos, &r), 0);
    for (;;) {
        const struct rx_log_event *ev;
        size_t k;
        assert_int_equal(rx_log_read(r, 97, 0, &ev, &k), 0);
        if (!k)
            break;
        for (size_t j = 0; j < k; j++) {
            check_event(&ev[j]);
            if (n < cap)
                out[n] = (struct seen){ev[j].seq, ev[j].offset, ev[j].enq_ms};
            n++;
        }
    }
    rx_log_reader_close(r);
    return n;
}

/* The first sequence number a reader at pos reads, -1 when it is at the end. */
static int64_t first_at(struct rx_log *log, enum rx_log_pos_kind kind, int64_t v, int incl)
{
    struct rx_log_pos pos = {kind, v, incl};
    struct rx_log_reader *r;
    const struct rx_log_event *ev;
    size_t k;
    int64_t s;
    assert_int_equal(rx_log_reader_open(log, &pos, &r), 0);
    assert_int_equal(rx_log_read(r, 1, 0, &ev, &k), 0);
    s = k ? ev[0].seq : -1;
    rx_log_reader_close(r);
    return s;
}

/* The expected first event at an offset / a time: the first with a value >= v. */
static int64_t want_offset(int64_t v, int n)
{
    for (int i = 0; i < n; i++)
        if (all[i].offset >= v)
            return all[i].seq;
    return -1;
}

static int64_t want_time(int64_t v, int n)
{
    for (int i = 0; i < n; i++)
        if (all[i].enq >= v)
            return all[i].seq;
    return -1;
}

/* Every position's answer, into ans (the same list each call). Returns how many. */
static int answers(struct rx_log *log, int64_t *ans, int n)
{
    int k = 0;
    for (int i = 0; i < n; i += 37) {
        ans[k++] = first_at(log, RX_LOG_SEQ, all[i].seq, 1);
        ans[k++] = first_at(log, RX_LOG_SEQ, all[i].seq, 0);
        ans[k++] = first_at(log, RX_LOG_OFFSET, all[i].offset, 1);
        ans[k++] = first_at(log, RX_LOG_OFFSET, all[i].offset, 0);
        ans[k++] = first_at(log, RX_LOG_OFFSET, all[i].offset + 1, 1);
        ans[k++] = first_at(log, RX_LOG_TIME, all[i].enq, 1);
        ans[k++] = first_at(log, RX_LOG_TIME, all[i].enq, 0);
    }
    ans[k++] = first_at(log, RX_LOG_START, 0, 1);
    ans[k++] = first_at(log, RX_LOG_END, 0, 1);
    ans[k++] = first_at(log, RX_LOG_SEQ, 1000000, 1);
    ans[k++] = first_at(log, RX_LOG_OFFSET, 1000000000, 1);
    ans[k++] = first_at(log, RX_LOG_TIME, 0, 1);
    return k;
}

static int setup(void **state)
{
    (void)state;
    assert_non_null(tu_mkdtemp(root, sizeof root, "rx_log_XXXXXX"));
    snprintf(pdir, sizeof pdir, "%s/ns/hub/0", root);
    snprintf(idir, sizeof idir, "%s/.index/ns/hub/0", root);
    rx_metrics_init(&metrics);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tu_rm_tree(root);
}

/* ---- Tests ---------------------------------------------------------------------------------- */

static struct rx_log_pos pos_start = {RX_LOG_START, 0, 1};

/* Written, then read back from the start and from every kind of position. */
static void test_positions(void **state)
{
    struct part pt = {0};
    struct rx_log_info info;
    int64_t off = 0;
    (void)state;
    part_open(&pt, 2048, 0); /* a small tail: most reads go through the index and the files */
    send_range(pt.p, 0, EVENTS);
    rx_log_info(pt.log, &info);
    assert_int_equal(info.begin_seq, 0);
    assert_int_equal(info.end_seq, EVENTS);
    print_message("%lld files, %lld blocks\n", (long long)info.files, (long long)info.blocks);
    assert_true(info.files > 5); /* rolled every 4 KiB */
    assert_true(info.blocks >= EVENTS / PER_SEND);

    assert_int_equal(read_all(pt.log, &pos_start, all, EVENTS + 64), EVENTS);
    for (int i = 0; i < EVENTS; i++) {
        char b[96];
        assert_int_equal(all[i].seq, i);
        assert_int_equal(all[i].offset, off);
        offsets[i] = off;
        off += rx_record_offset_step(body_of(i, b));
        if (i)
            assert_true(all[i].enq >= all[i - 1].enq || all[i].offset > all[i - 1].offset);
    }
    assert_int_equal(info.last_offset, offsets[EVENTS - 1]);
    for (int i = 0; i < EVENTS; i += 13) {
        assert_int_equal(first_at(pt.log, RX_LOG_SEQ, i, 1), i);
        assert_int_equal(first_at(pt.log, RX_LOG_SEQ, i, 0), i + 1 < EVENTS ? i + 1 : -1);
        assert_int_equal(first_at(pt.log, RX_LOG_OFFSET, all[i].offset, 1), i);
        assert_int_equal(first_at(pt.log, RX_LOG_OFFSET, all[i].offset, 0),
                         want_offset(all[i].offset + 1, EVENTS));
        assert_int_equal(first_at(pt.log, RX_LOG_OFFSET, all[i].offset + 1, 1),
                         want_offset(all[i].offset + 1, EVENTS));
        assert_int_equal(first_at(pt.log, RX_LOG_TIME, all[i].enq, 1),
                         want_time(all[i].enq, EVENTS));
        assert_int_equal(first_at(pt.log, RX_LOG_TIME, all[i].enq, 0),
                         want_time(all[i].enq + 1, EVENTS));
    }
    assert_int_equal(first_at(pt.log, RX_LOG_START, 0, 1), 0);
    assert_int_equal(first_at(pt.log, RX_LOG_TIME, 0, 1), 0);
    assert_int_equal(first_at(pt.log, RX_LOG_END, 0, 1), -1);
    assert_int_equal(first_at(pt.log, RX_LOG_SEQ, 1 << 30, 1), -1);
    assert_int_equal(first_at(pt.log, RX_LOG_OFFSET, 1LL << 40, 1), -1);
    assert_int_equal(first_at(pt.log, RX_LOG_TIME, hc_now_ms() + 3600000, 1), -1);

    /* a reader at the end reads what comes next, and a reader by offset past the end too */
    {
        struct rx_log_pos end = {RX_LOG_END, 0, 1};
        struct rx_log_pos far = {RX_LOG_OFFSET, offsets[EVENTS - 1], 0};
        struct rx_log_reader *r, *r2;
        const struct rx_log_event *ev;
        size_t k;
        assert_int_equal(rx_log_reader_open(pt.log, &end, &r), 0);
        assert_int_equal(rx_log_reader_open(pt.log, &far, &r2), 0);
        assert_int_equal(rx_log_read(r, 10, 0, &ev, &k), 0);
        assert_int_equal(k, 0);
        send_range(pt.p, EVENTS, EVENTS + 3);
        assert_int_equal(rx_log_read(r, 10, 0, &ev, &k), 0);
        assert_int_equal(k, 3);
        assert_int_equal(ev[0].seq, EVENTS);
        check_event(&ev[2]);
        assert_int_equal(rx_log_read(r2, 10, 0, &ev, &k), 0);
        assert_int_equal(k, 3);
        assert_int_equal(ev[0].seq, EVENTS);
        rx_log_reader_close(r);
        rx_log_reader_close(r2);
    }
    part_close(&pt);
}

/* The index is derived: deleted, or missing a file's rows, it is rebuilt with identical answers. */
static void test_rebuild(void **state)
{
    static int64_t before[2048], after[2048];
    struct part pt = {0};
    struct rx_log_info info;
    int n = EVENTS + 3, k1, k2;
    char cmd[1400];
    (void)state;
    part_open(&pt, 2048, 0);
    assert_int_equal(read_all(pt.log, &pos_start, all, EVENTS + 64), n);
    k1 = answers(pt.log, before, n);
    rx_log_info(pt.log, &info);
    assert_int_equal(info.rebuilt, 0); /* reopened: nothing to index again */
    part_close(&pt);

    snprintf(cmd, sizeof cmd, "rm -rf '%s/.index'", root);
    assert_int_equal(system(cmd), 0);
    part_open(&pt, 2048, 0);
    rx_log_info(pt.log, &info);
    assert_true(info.rebuilt > 5);
    assert_int_equal(info.begin_seq, 0);
    assert_int_equal(info.end_seq, n);
    k2 = answers(pt.log, after, n);
    assert_int_equal(k1, k2);
    assert_memory_equal(before, after, (size_t)k1 * sizeof before[0]);
    assert_int_equal(read_all(pt.log, &pos_start, all, EVENTS + 64), n);

    /* a damaged index file: set aside and rebuilt */
    part_close(&pt);
    snprintf(cmd, sizeof cmd,
             "dd if=/dev/urandom of='%s/data.mdb' bs=4096 count=4 conv=notrunc "
             "status=none",
             idir);
    assert_int_equal(system(cmd), 0);
    part_open(&pt, 2048, 0);
    k2 = answers(pt.log, after, n);
    assert_memory_equal(before, after, (size_t)k1 * sizeof before[0]);
    part_close(&pt);
}

/* The oldest capture file deleted by hand: begin_seq moves, earlier positions start there. */
static void test_deleted_file(void **state)
{
    struct part pt = {0};
    struct rx_log_info info;
    char cmd[1400];
    int64_t begin;
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -f \"$(find '%s' -name '*.avro' | sort | head -1)\"", pdir);
    assert_int_equal(system(cmd), 0);
    part_open(&pt, 2048, 0);
    rx_log_info(pt.log, &info);
    begin = info.begin_seq;
    assert_true(begin > 0);
    assert_int_equal(first_at(pt.log, RX_LOG_START, 0, 1), begin);
    assert_int_equal(first_at(pt.log, RX_LOG_SEQ, 0, 1), begin);
    assert_int_equal(first_at(pt.log, RX_LOG_OFFSET, 0, 1), begin);
    assert_int_equal(first_at(pt.log, RX_LOG_TIME, 0, 1), begin);
    assert_int_equal(read_all(pt.log, &pos_start, all, EVENTS + 64), EVENTS + 3 - begin);
    part_close(&pt);
}

/* ---- Waking --------------------------------------------------------------------------------- */

static atomic_int notified;

static void on_notify(void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&notified, 1);
}

struct later {
    struct rx_partition *p;
    int first;
};

static void *send_later(void *arg)
{
    struct later *l = arg;
    usleep(100 * 1000);
    send_events(l->p, l->first, 1);
    return NULL;
}

/* A reader at the end is woken by the next durable event: eventfd, callback and wait. */
static void test_wake(void **state)
{
    struct part pt = {0};
    struct rx_log_pos end = {RX_LOG_END, 0, 1};
    struct rx_log_reader *r, *w;
    struct rx_log_info info;
    const struct rx_log_event *ev;
    struct later l;
    pthread_t t;
    size_t k;
    int fd;
    struct pollfd pfd;
    uint64_t cnt;
    (void)state;
    part_open(&pt, 0, 0);
    rx_log_info(pt.log, &info);
    l = (struct later){pt.p, (int)info.end_seq};
    assert_int_equal(rx_log_reader_open(pt.log, &end, &r), 0);
    assert_int_equal(rx_log_reader_open(pt.log, &end, &w), 0);
    assert_true((fd = rx_log_reader_fd(r)) >= 0);
    rx_log_reader_notify(r, on_notify, NULL);
    assert_int_equal(rx_log_read(r, 10, 0, &ev, &k), 0);
    assert_int_equal(k, 0);
    assert_int_equal(rx_log_read(w, 10, 0, &ev, &k), 0);
    assert_int_equal(k, 0);
    pfd = (struct pollfd){fd, POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, 0), 0); /* nothing yet */
    assert_int_equal(rx_log_wait(w, 10), 0);

    assert_int_equal(pthread_create(&t, NULL, send_later, &l), 0);
    assert_int_equal(rx_log_wait(w, 5000), 1);
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    assert_int_equal(read(fd, &cnt, sizeof cnt), (ssize_t)sizeof cnt);
    pthread_join(t, NULL); /* the wake-up writes the eventfd before it calls back: both done */
    assert_int_equal(atomic_load(&notified), 1);
    assert_int_equal(rx_log_read(r, 10, 0, &ev, &k), 0);
    assert_int_equal(k, 1);
    assert_int_equal(ev[0].seq, l.first);
    check_event(&ev[0]);
    assert_int_equal(rx_log_read(w, 10, 0, &ev, &k), 0);
    assert_int_equal(k, 1);
    /* not armed again until a read finds nothing: the next event does not call back */
    send_events(pt.p, l.first + 1, 1);
    assert_int_equal(atomic_load(&notified), 1);
    rx_log_reader_close(r);
    rx_log_reader_close(w);
    part_close(&pt);
}

/* ---- Retention ------------------------------------------------------------------------------ */

static int safe_answer;

static int safe_fn(void *ctx, const char *path)
{
    (void)ctx;
    assert_non_null(strstr(path, ".avro"));
    return safe_answer;
}

static void test_retention(void **state)
{
    struct part pt = {0};
    struct rx_log_info info, after;
    struct rx_log_reader *r;
    int deleted;
    int64_t later = hc_now_ms() + 3600000;
    (void)state;
    part_open(&pt, 2048, 60000);
    send_range(pt.p, (int)(EVENTS + 5), (int)(EVENTS + 5 + 300)); /* more files; one stays open */
    rx_log_info(pt.log, &info);

    /* nothing is old enough now */
    assert_int_equal(rx_log_retain(pt.log, hc_now_ms(), NULL, NULL, &deleted), 0);
    assert_int_equal(deleted, 0);
    /* a reader at the start holds every file */
    assert_int_equal(rx_log_reader_open(pt.log, &pos_start, &r), 0);
    assert_int_equal(rx_log_retain(pt.log, later, NULL, NULL, &deleted), 0);
    assert_int_equal(deleted, 0);
    rx_log_reader_close(r);
    /* not in bronze yet */
    safe_answer = 0;
    assert_int_equal(rx_log_retain(pt.log, later, safe_fn, NULL, &deleted), 0);
    assert_int_equal(deleted, 0);
    safe_answer = 1;
    assert_int_equal(rx_log_retain(pt.log, later, safe_fn, NULL, &deleted), 0);
    assert_true(deleted > 0);
    rx_log_info(pt.log, &after);
    assert_int_equal(after.files, info.files - deleted);
    assert_true(after.begin_seq > info.begin_seq);
    assert_int_equal(after.end_seq, info.end_seq);
    assert_int_equal(first_at(pt.log, RX_LOG_START, 0, 1), after.begin_seq);
    assert_int_equal(first_at(pt.log, RX_LOG_SEQ, 0, 1), after.begin_seq);
    /* the file being written stays, with its events */
    assert_int_equal(first_at(pt.log, RX_LOG_SEQ, info.end_seq - 1, 1), info.end_seq - 1);
    part_close(&pt);

    /* after a restart the numbers stay */
    part_open(&pt, 2048, 60000);
    rx_log_info(pt.log, &info);
    assert_int_equal(info.begin_seq, after.begin_seq);
    assert_int_equal(info.end_seq, after.end_seq);
    part_close(&pt);
}

/* ---- Selector filters ----------------------------------------------------------------------- */

static void expect_pos(const char *s, enum rx_log_pos_kind kind, int64_t v, int incl)
{
    struct rx_log_pos p;
    assert_int_equal(rx_log_pos_parse(s, strlen(s), &p), 0);
    assert_int_equal(p.kind, kind);
    if (kind != RX_LOG_START && kind != RX_LOG_END) {
        assert_int_equal(p.value, v);
        assert_int_equal(p.inclusive, incl);
    }
}

static void test_parse(void **state)
{
    static const char *bad[] = {"",
                                "amqp.annotation.x-opt-offset",
                                "amqp.annotation.x-opt-offset < '5'",
                                "amqp.annotation.x-opt-offset > 'abc'",
                                "amqp.annotation.x-opt-partition-key > '5'",
                                "x-opt-offset > '5'",
                                "amqp.annotation.x-opt-sequence-number > '-5'",
                                "amqp.annotation.x-opt-offset > '99999999999999999999'"};
    struct rx_log_pos p;
    (void)state;
    expect_pos("amqp.annotation.x-opt-offset > '-1'", RX_LOG_START, 0, 0);
    expect_pos("amqp.annotation.x-opt-offset > '@latest'", RX_LOG_END, 0, 0);
    expect_pos("amqp.annotation.x-opt-offset >= '1234'", RX_LOG_OFFSET, 1234, 1);
    expect_pos("amqp.annotation.x-opt-offset > 1234", RX_LOG_OFFSET, 1234, 0);
    expect_pos("amqp.annotation.x-opt-sequence-number > '41'", RX_LOG_SEQ, 41, 0);
    expect_pos("amqp.annotation.x-opt-sequence-number >= 41", RX_LOG_SEQ, 41, 1);
    expect_pos("amqp.annotation.x-opt-enqueued-time > '1700000000000'", RX_LOG_TIME,
               1700000000000LL, 0);
    expect_pos("  AMQP.ANNOTATION.X-OPT-ENQUEUED-TIME>=\"5\"  ", RX_LOG_TIME, 5, 1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(rx_log_pos_parse(bad[i], strlen(bad[i]), &p), HC_E_PARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positions),    cmocka_unit_test(test_rebuild),
        cmocka_unit_test(test_deleted_file), cmocka_unit_test(test_wake),
        cmocka_unit_test(test_retention),    cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
