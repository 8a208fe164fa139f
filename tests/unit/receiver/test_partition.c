/*
 * test_partition.c - a partition under concurrent senders: every job completes only once its
 * events are on disk, many jobs share one fsync, numbering is contiguous across files rolled by
 * size and by time and across a restart, and empty windows give empty files when asked. A write
 * that fails (short, ENOSPC, EIO from fdatasync) fails its jobs, leaves the file at its last
 * synced block, and the next commit succeeds; a cut that fails skips numbers, never repeats them.
 *
 * Linked with --wrap=fdatasync,pwrite64,ftruncate64 (tests/CMakeLists.txt): the wrappers below
 * record the order of writes and fdatasyncs, can make fdatasync slow, and inject real errors.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "common/buf.h"
#include "common/hctime.h"
#include "receiver/capture/layout.h"
#include "receiver/capture/scan.h"
#include "receiver/metrics.h"
#include "receiver/partition/partition.h"
#include "tests/unit/testutil.h"

#define SENDERS      4
#define JOBS         150
#define PER_JOB      7
#define SLOW_SENDERS 16 /* closed-loop senders against a slow fdatasync */
#define SLOW_JOBS    40

static char root[512];
static struct rx_metrics metrics;

/* ---- System calls, wrapped ------------------------------------------------------------------ */

ssize_t __real_pwrite64(int fd, const void *buf, size_t n, off_t off);
int __real_fdatasync(int fd);
int __real_ftruncate64(int fd, off_t len);
ssize_t __wrap_pwrite64(int fd, const void *buf, size_t n, off_t off);
int __wrap_fdatasync(int fd);
int __wrap_ftruncate64(int fd, off_t len);

static atomic_long clock_tick;    /* one tick per write or fdatasync */
static atomic_long last_write;    /* the tick of the last write */
static atomic_long last_fsync;    /* the tick of the last fdatasync that succeeded */
static atomic_long fdatasyncs;    /* fdatasyncs that succeeded */
static atomic_int synced_fd = -1; /* the file of the last one, and its size then */
static atomic_long synced_len;
static atomic_int fsync_sleep_us; /* make fdatasync this slow */
static atomic_int fail_pwrite;    /* 1: the next write is cut short, the one after gets ENOSPC */
static atomic_int fail_fsync;     /* the next fdatasync fails with this errno */
static atomic_int fail_ftruncate; /* that many ftruncates fail with EIO */

ssize_t __wrap_pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    ssize_t w;
    if (atomic_load(&fail_pwrite) == 2) {
        atomic_store(&fail_pwrite, 0);
        errno = ENOSPC;
        return -1;
    }
    if (atomic_load(&fail_pwrite) == 1 && n > 1) {
        atomic_store(&fail_pwrite, 2);
        n /= 2;
    }
    w = __real_pwrite64(fd, buf, n, off);
    atomic_store(&last_write, atomic_fetch_add(&clock_tick, 1) + 1);
    return w;
}

int __wrap_fdatasync(int fd)
{
    struct stat st;
    int err = atomic_exchange(&fail_fsync, 0), us = atomic_load(&fsync_sleep_us);
    if (us)
        usleep((useconds_t)us);
    if (err) {
        errno = err;
        return -1;
    }
    if (__real_fdatasync(fd))
        return -1;
    if (fstat(fd, &st) == 0) {
        atomic_store(&synced_fd, fd);
        atomic_store(&synced_len, (long)st.st_size);
    }
    atomic_fetch_add(&fdatasyncs, 1);
    atomic_store(&last_fsync, atomic_fetch_add(&clock_tick, 1) + 1);
    return 0;
}

int __wrap_ftruncate64(int fd, off_t len)
{
    if (atomic_load(&fail_ftruncate) > 0) {
        atomic_fetch_sub(&fail_ftruncate, 1);
        errno = EIO;
        return -1;
    }
    return __real_ftruncate64(fd, len);
}

static int setup(void **state)
{
    (void)state;
    return tu_mkdtemp(root, sizeof root, "rx_partition_XXXXXX") ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return tu_rm_tree(root);
}

static struct rx_partition_opts opts(const char *hub, int64_t window_ms, uint64_t window_bytes,
                                     int skip_empty)
{
    struct rx_partition_opts o = {root,       "ns",         hub,        0,
                                  window_ms,  window_bytes, skip_empty, RX_CODEC_DEFLATE,
                                  256 * 1024, &metrics,     NULL};
    return o;
}

/* The counters of the wrappers and of on_done, zeroed. */
static void reset_counters(void)
{
    extern atomic_int early_acks, unsynced_events;
    rx_metrics_init(&metrics);
    atomic_store(&fdatasyncs, 0);
    atomic_store(&early_acks, 0);
    atomic_store(&unsynced_events, 0);
}

/* A request: one job, its own events, a flag set when done. */
struct req {
    struct rx_done done;
    struct rx_job job;
    struct rx_event ev[PER_JOB];
    struct rx_event *evp[PER_JOB];
    char body[PER_JOB][48];
    atomic_int finished;
    int status;
};

atomic_int early_acks;      /* jobs done while a write was not covered by an fdatasync */
atomic_int unsynced_events; /* events of a done job not in the bytes an fdatasync covered */
static int check_bodies;    /* on_done looks for every event in the synced bytes (null codec) */

/* The writer thread runs on_done: look for r's events in what the last fdatasync covered. */
static void bodies_synced(const struct req *r)
{
    static char buf[8 << 20];
    char fdpath[64];
    long len = atomic_load(&synced_len);
    ssize_t n = -1;
    int fd; /* the writer's descriptor is write-only: open the same file again */
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", atomic_load(&synced_fd));
    if ((fd = open(fdpath, O_RDONLY | O_CLOEXEC)) >= 0) {
        n = pread(fd, buf, len < (long)sizeof buf ? (size_t)len : sizeof buf, 0);
        close(fd);
    }
    for (int i = 0; i < PER_JOB; i++)
        if (n <= 0 || !memmem(buf, (size_t)n, r->body[i], r->ev[i].body_len))
            atomic_fetch_add(&unsynced_events, 1);
}

/*
 * A job is done: it may succeed only when every write so far was followed by an fdatasync (the
 * clock ticks at each), and (check_bodies) when its events are in the bytes that were synced.
 * Counted, not asserted: cmocka asserts only in the main thread.
 */
static void on_done(struct rx_done *d)
{
    struct req *r = (struct req *)((char *)d - offsetof(struct req, done));
    r->status = atomic_load(&d->status);
    if (!r->status && atomic_load(&last_write) > atomic_load(&last_fsync))
        atomic_fetch_add(&early_acks, 1);
    if (!r->status && check_bodies)
        bodies_synced(r);
    atomic_store(&r->finished, 1);
}

static const uint8_t empty_map[] = {0};

static void req_init(struct req *r, int sender, int n)
{
    memset(r, 0, sizeof *r);
    atomic_init(&r->done.left, 1);
    atomic_init(&r->done.status, 0);
    r->done.fn = on_done;
    r->job.done = &r->done;
    r->job.ev = r->evp;
    r->job.n = PER_JOB;
    for (int i = 0; i < PER_JOB; i++) {
        r->evp[i] = &r->ev[i];
        r->ev[i].body = (const uint8_t *)r->body[i];
        r->ev[i].body_len = (size_t)sprintf(r->body[i], "<s%d-r%d-e%d>", sender, n, i);
        r->ev[i].props = empty_map;
        r->ev[i].props_len = 1;
    }
}

struct sender {
    struct rx_partition *p;
    int id;
    struct req *reqs;
};

static void *send_all(void *arg)
{
    struct sender *s = arg;
    for (int n = 0; n < JOBS; n++) {
        req_init(&s->reqs[n], s->id, n);
        rx_partition_submit(s->p, &s->reqs[n].job);
        if (n % 10 == 9) /* like a client waiting for its answer now and then */
            while (!atomic_load(&s->reqs[n].finished))
                usleep(50);
    }
    return NULL;
}

struct seen {
    int64_t next;
    int64_t offset;
    int64_t gap_at, gap_to, gap_bytes; /* numbers skipped on purpose (gap_at 0: none) */
    int last[SLOW_SENDERS][1];         /* per sender: the last request number seen, for order */
    int count;
};

static int on_record(void *arg, const struct rx_record *r)
{
    struct seen *s = arg;
    int sender, n, e;
    char body[64], off[32];
    if (s->gap_at && s->next == s->gap_at) {
        s->next = s->gap_to;
        s->offset += s->gap_bytes;
    }
    assert_int_equal(r->seq, s->next);
    sprintf(off, "%lld", (long long)s->offset);
    assert_memory_equal(r->offset, off, r->offset_len);
    s->next++;
    s->offset += (int64_t)r->body_len;
    memcpy(body, r->body, r->body_len);
    body[r->body_len] = '\0';
    assert_int_equal(sscanf(body, "<s%d-r%d-e%d>", &sender, &n, &e), 3);
    /* a request's events are together and in order, requests of a sender in order */
    assert_true(e == 0 ? n > s->last[sender][0] : n == s->last[sender][0]);
    s->last[sender][0] = n;
    s->count++;
    return 0;
}

/* Read every capture file of the hub's partition 0, in name order. */
static void read_partition(const char *hub, struct seen *s, int *files)
{
    char cmd[700], path[700];
    FILE *ls;
    snprintf(cmd, sizeof cmd, "find '%s/ns/%s/0' -name '*.avro' | sort", root, hub);
    ls = popen(cmd, "r");
    assert_non_null(ls);
    *files = 0;
    while (fgets(path, sizeof path, ls)) {
        FILE *f;
        struct rx_avro_scan sc;
        static uint8_t buf[8 << 20];
        size_t len;
        path[strcspn(path, "\n")] = '\0';
        f = fopen(path, "rb");
        assert_non_null(f);
        len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        assert_int_equal(rx_avro_scan(buf, len, &sc), 0);
        assert_int_equal(sc.good_len, len);
        assert_int_equal(rx_avro_scan_records(buf, &sc, 0, on_record, s), 0);
        (*files)++;
    }
    pclose(ls);
}

static void run_senders(struct rx_partition *p, struct req **all)
{
    pthread_t t[SENDERS];
    struct sender s[SENDERS];
    for (int i = 0; i < SENDERS; i++) {
        all[i] = calloc(JOBS, sizeof **all);
        s[i] = (struct sender){p, i, all[i]};
        pthread_create(&t[i], NULL, send_all, &s[i]);
    }
    for (int i = 0; i < SENDERS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < SENDERS; i++)
        for (int n = 0; n < JOBS; n++) {
            while (!atomic_load(&all[i][n].finished))
                usleep(100);
            assert_int_equal(all[i][n].status, 0);
        }
}

/*
 * No job is done before the fdatasync of its events: every done callback finds each of its
 * events in the bytes the last fdatasync covered (null codec: the bodies are there as they are),
 * and no write after that fdatasync. Then the file reads back whole, and a reopen goes on.
 */
static void test_ack_after_fsync(void **state)
{
    struct rx_partition *p;
    struct rx_partition_opts o = opts("gc", 60000, 1 << 30, 1);
    struct req *all[SENDERS];
    struct seen s;
    int files;
    (void)state;
    o.codec = RX_CODEC_NULL;
    reset_counters();
    check_bodies = 1;
    assert_int_equal(rx_partition_open(&o, NULL, NULL, &p, NULL), 0);
    run_senders(p, all);
    check_bodies = 0;
    assert_int_equal(atomic_load(&early_acks), 0);
    assert_int_equal(atomic_load(&unsynced_events), 0);
    assert_int_equal(rx_partition_next_seq(p), SENDERS * JOBS * PER_JOB);
    assert_int_equal(atomic_load(&metrics.events_in), SENDERS * JOBS * PER_JOB);
    assert_int_equal(atomic_load(&metrics.fsyncs), atomic_load(&fdatasyncs));
    assert_int_equal(atomic_load(&metrics.files_open), 1);
    rx_partition_close(p);
    assert_int_equal(atomic_load(&metrics.files_open), 0);
    assert_int_equal(atomic_load(&metrics.files_closed), 1);
    memset(&s, 0, sizeof s);
    memset(s.last, -1, sizeof s.last);
    read_partition("gc", &s, &files);
    assert_int_equal(files, 1);
    assert_int_equal(s.count, SENDERS * JOBS * PER_JOB);
    /* reopened: numbering goes on */
    assert_int_equal(rx_partition_open(&o, NULL, NULL, &p, NULL), 0);
    assert_int_equal(rx_partition_next_seq(p), SENDERS * JOBS * PER_JOB);
    rx_partition_close(p);
    for (int i = 0; i < SENDERS; i++)
        free(all[i]);
}

struct closed_loop {
    struct rx_partition *p;
    int id;
    struct req *reqs;
};

/* A client that waits for each answer before it sends the next request. */
static void *send_wait(void *arg)
{
    struct closed_loop *c = arg;
    for (int n = 0; n < SLOW_JOBS; n++) {
        req_init(&c->reqs[n], c->id, n);
        rx_partition_submit(c->p, &c->reqs[n].job);
        while (!atomic_load(&c->reqs[n].finished))
            usleep(100);
    }
    return NULL;
}

/*
 * Group commit: with fdatasync made slow (20 ms) and 16 clients each waiting for its answer, the
 * requests that arrive during one fdatasync share the next: far fewer fdatasyncs than requests.
 * One fdatasync per request (no group commit) gives 640 here, and fails.
 */
static void test_group_commit(void **state)
{
    struct rx_partition *p;
    struct rx_partition_opts o = opts("slow", 60000, 1 << 30, 1);
    struct closed_loop c[SLOW_SENDERS];
    pthread_t t[SLOW_SENDERS];
    struct seen s;
    int files, requests = SLOW_SENDERS * SLOW_JOBS;
    long syncs;
    (void)state;
    reset_counters();
    assert_int_equal(rx_partition_open(&o, NULL, NULL, &p, NULL), 0);
    atomic_store(&fsync_sleep_us, 20000);
    for (int i = 0; i < SLOW_SENDERS; i++) {
        c[i] = (struct closed_loop){p, i, calloc(SLOW_JOBS, sizeof(struct req))};
        pthread_create(&t[i], NULL, send_wait, &c[i]);
    }
    for (int i = 0; i < SLOW_SENDERS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&fsync_sleep_us, 0);
    syncs = atomic_load(&fdatasyncs);
    printf("# %d requests from %d clients, %ld fdatasyncs\n", requests, SLOW_SENDERS, syncs);
    for (int i = 0; i < SLOW_SENDERS; i++)
        for (int n = 0; n < SLOW_JOBS; n++)
            assert_int_equal(c[i].reqs[n].status, 0);
    assert_int_equal(atomic_load(&early_acks), 0);
    assert_true(syncs >= 1);
    assert_true(syncs < requests / 4);
    assert_int_equal((long)atomic_load(&metrics.fsyncs), syncs);
    rx_partition_close(p);
    memset(&s, 0, sizeof s);
    memset(s.last, -1, sizeof s.last);
    read_partition("slow", &s, &files);
    assert_int_equal(s.count, requests * PER_JOB);
    for (int i = 0; i < SLOW_SENDERS; i++)
        free(c[i].reqs);
}

/* Submit one request of PER_JOB events and wait for its answer; returns its status. */
static int send_one(struct rx_partition *p, struct req *r, int sender, int n)
{
    req_init(r, sender, n);
    rx_partition_submit(p, &r->job);
    while (!atomic_load(&r->finished))
        usleep(100);
    return r->status;
}

/* The one .avro.tmp of hub's partition 0 into path; its size. */
static long tmp_file(const char *hub, char *path, size_t cap)
{
    char cmd[700];
    struct stat st;
    FILE *ls;
    snprintf(cmd, sizeof cmd, "find '%s/ns/%s/0' -name '*.avro.tmp'", root, hub);
    ls = popen(cmd, "r");
    assert_non_null(ls);
    assert_non_null(fgets(path, (int)cap, ls));
    pclose(ls);
    path[strcspn(path, "\n")] = '\0';
    assert_int_equal(stat(path, &st), 0);
    return (long)st.st_size;
}

/* The file at path is a complete container of n records (it ends at its last synced block). */
static void file_holds(const char *path, int64_t n)
{
    static uint8_t buf[1 << 20];
    struct rx_avro_scan sc;
    FILE *f = fopen(path, "rb");
    size_t len;
    assert_non_null(f);
    len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_int_equal(rx_avro_scan(buf, len, &sc), 0);
    assert_int_equal(sc.good_len, len);
    assert_int_equal(sc.records, n);
}

/*
 * A write cut short in the middle of a block, then ENOSPC: the request fails, the file is back at
 * its last synced block (on disk, at once), numbering rewinds, and the next request succeeds into
 * the same file. Then an fdatasync that fails (EIO): the same.
 */
static void test_write_errors(void **state)
{
    struct rx_partition *p;
    struct rx_partition_opts o = opts("full", 60000, 1 << 30, 1);
    struct req a, b, c, d, e;
    struct seen s;
    char path[700];
    long size_a, size_c;
    int files;
    (void)state;
    reset_counters();
    assert_int_equal(rx_partition_open(&o, NULL, NULL, &p, NULL), 0);
    assert_int_equal(send_one(p, &a, 0, 0), 0);
    size_a = tmp_file("full", path, sizeof path);
    file_holds(path, PER_JOB);

    atomic_store(&fail_pwrite, 1);
    assert_int_equal(send_one(p, &b, 0, 1), -ENOSPC);
    assert_int_equal(atomic_load(&fail_pwrite), 0); /* both faults were met */
    assert_int_equal(tmp_file("full", path, sizeof path), size_a);
    file_holds(path, PER_JOB);
    assert_int_equal(rx_partition_next_seq(p), PER_JOB);
    assert_int_equal(atomic_load(&metrics.write_errors), 1);

    assert_int_equal(send_one(p, &c, 0, 2), 0);
    size_c = tmp_file("full", path, sizeof path);
    file_holds(path, 2 * PER_JOB);

    atomic_store(&fail_fsync, EIO);
    assert_int_equal(send_one(p, &d, 0, 3), -EIO);
    assert_int_equal(tmp_file("full", path, sizeof path), size_c);
    assert_int_equal(atomic_load(&metrics.write_errors), 2);
    assert_int_equal(send_one(p, &e, 0, 4), 0);
    assert_int_equal(atomic_load(&early_acks), 0);
    rx_partition_close(p);

    /* requests 0, 2 and 4, numbered 0 to 20 with no gap */
    memset(&s, 0, sizeof s);
    memset(s.last, -1, sizeof s.last);
    read_partition("full", &s, &files);
    assert_int_equal(files, 1);
    assert_int_equal(s.count, 3 * PER_JOB);
    assert_int_equal(atomic_load(&metrics.events_in), 3 * PER_JOB);
}

/*
 * A failed write whose cut back fails too: what lies past the synced size is unknown, so the file
 * is left for recovery and the numbers handed to it are skipped: a gap, never a repeat, also
 * after the restart that recovers the file.
 */
static void test_cut_fails(void **state)
{
    struct rx_partition *p;
    struct rx_partition_opts o = opts("cut", 60000, 1 << 30, 1);
    struct req a, b, c;
    struct seen s;
    int files;
    (void)state;
    reset_counters();
    assert_int_equal(rx_partition_open(&o, NULL, NULL, &p, NULL), 0);
    assert_int_equal(send_one(p, &a, 0, 0), 0);
    atomic_store(&fail_pwrite, 1);
    atomic_store(&fail_ftruncate, 2); /* the rewind, and the abandon's */
    assert_int_equal(send_one(p, &b, 0, 1), -ENOSPC);
    assert_int_equal(atomic_load(&fail_ftruncate), 0);
    assert_int_equal(rx_partition_next_seq(p), 2 * PER_JOB);
    assert_int_equal(send_one(p, &c, 0, 2), 0);
    rx_partition_close(p);
    /* the restart recovers the first file (cut back to request 0); numbering after request 2 */
    assert_int_equal(rx_partition_open(&o, NULL, NULL, &p, NULL), 0);
    assert_int_equal(rx_partition_next_seq(p), 3 * PER_JOB);
    rx_partition_close(p);
    memset(&s, 0, sizeof s);
    memset(s.last, -1, sizeof s.last);
    s.gap_at = PER_JOB; /* request 1's numbers and offsets */
    s.gap_to = 2 * PER_JOB;
    for (int i = 0; i < PER_JOB; i++)
        s.gap_bytes += (int64_t)b.ev[i].body_len;
    read_partition("cut", &s, &files);
    assert_int_equal(files, 2);
    assert_int_equal(s.count, 2 * PER_JOB);
}

static void test_roll_by_size_and_time(void **state)
{
    struct rx_partition *p;
    struct rx_partition_opts o = opts("roll", 1000, 8192, 1);
    struct req *all[SENDERS], one;
    struct seen s;
    int files;
    (void)state;
    rx_metrics_init(&metrics);
    assert_int_equal(rx_partition_open(&o, NULL, NULL, &p, NULL), 0);
    run_senders(p, all);
    /* by time: the last file is closed a window after it was opened, with no new event */
    hc_sleep_ms(1500, NULL);
    assert_int_equal(atomic_load(&metrics.files_open), 0);
    req_init(&one, 0, JOBS);
    rx_partition_submit(p, &one.job);
    while (!atomic_load(&one.finished))
        usleep(100);
    rx_partition_close(p);
    memset(&s, 0, sizeof s);
    memset(s.last, -1, sizeof s.last);
    read_partition("roll", &s, &files);
    assert_true(files > 3);
    assert_int_equal(s.count, SENDERS * JOBS * PER_JOB + PER_JOB);
    assert_int_equal((int)atomic_load(&metrics.files_closed), files);
    for (int i = 0; i < SENDERS; i++)
        free(all[i]);
}

static void test_empty_files(void **state)
{
    struct rx_partition *p;
    struct rx_partition_opts o = opts("empty", 1000, 1 << 30, 0);
    struct seen s;
    int files;
    (void)state;
    rx_metrics_init(&metrics);
    assert_int_equal(rx_partition_open(&o, NULL, NULL, &p, NULL), 0);
    hc_sleep_ms(3300, NULL);
    rx_partition_close(p);
    memset(&s, 0, sizeof s);
    read_partition("empty", &s, &files);
    assert_true(files >= 2);
    assert_int_equal(s.count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ack_after_fsync),       cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_write_errors),          cmocka_unit_test(test_cut_fails),
        cmocka_unit_test(test_roll_by_size_and_time), cmocka_unit_test(test_empty_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
