/*
 * test_partition.c - a partition under concurrent senders: every job completes only once its
 * events are on disk, many jobs share one fsync, numbering is contiguous across files rolled by
 * size and by time and across a restart, and empty windows give empty files when asked.
 */
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

#define SENDERS 4
#define JOBS    150
#define PER_JOB 7

static char root[512];
static struct rx_metrics metrics;

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
                                  256 * 1024, &metrics};
    return o;
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

static void on_done(struct rx_done *d)
{
    struct req *r = (struct req *)((char *)d - offsetof(struct req, done));
    r->status = atomic_load(&d->status);
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
        r->ev[i].body_len = (size_t)sprintf(r->body[i], "s%d-r%d-e%d", sender, n, i);
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
    int last[SENDERS][1]; /* per sender: the last request number seen, for order */
    int count;
};

static int on_record(void *arg, const struct rx_record *r)
{
    struct seen *s = arg;
    int sender, n, e;
    char body[64], off[32];
    assert_int_equal(r->seq, s->next);
    sprintf(off, "%lld", (long long)s->offset);
    assert_memory_equal(r->offset, off, r->offset_len);
    s->next++;
    s->offset += (int64_t)r->body_len;
    memcpy(body, r->body, r->body_len);
    body[r->body_len] = '\0';
    assert_int_equal(sscanf(body, "s%d-r%d-e%d", &sender, &n, &e), 3);
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

static void test_group_commit(void **state)
{
    struct rx_partition *p;
    struct rx_partition_opts o = opts("gc", 60000, 1 << 30, 1);
    struct req *all[SENDERS];
    struct seen s;
    int files;
    (void)state;
    rx_metrics_init(&metrics);
    assert_int_equal(rx_partition_open(&o, NULL, NULL, &p, NULL), 0);
    run_senders(p, all);
    assert_int_equal(rx_partition_next_seq(p), SENDERS * JOBS * PER_JOB);
    assert_int_equal(atomic_load(&metrics.events_in), SENDERS * JOBS * PER_JOB);
    /* group commit: never more fsyncs than requests, and here far fewer */
    printf("# %d requests, %llu fsyncs\n", SENDERS * JOBS,
           (unsigned long long)atomic_load(&metrics.fsyncs));
    assert_true(atomic_load(&metrics.fsyncs) <= SENDERS * JOBS);
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
        cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_roll_by_size_and_time),
        cmocka_unit_test(test_empty_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
