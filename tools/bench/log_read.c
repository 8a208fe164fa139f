/*
 * log_read.c - the partition log's read rate (tools/bench/log_read.sh runs it).
 *
 *   bench-log-read DIR EVENTS
 *
 * Writes EVENTS agent-like events (about 300-byte JSON bodies, four properties, a partition key)
 * into one partition's capture files under DIR with the real partition writer (group commits of
 * 500, deflate, 16 MiB files), then, on a log opened again (an empty tail: every event comes from
 * the files through the index):
 *   - reads every event from the start with a reader (events/s, MB/s of bodies);
 *   - the peer in the same run: every record of every file decoded in order by the capture
 *     scanner alone (capture/scan.h), with no index and no copy: the floor of reading the files;
 *   - opens 2000 readers at random positions (sequence number, offset, enqueued time) and reads
 *     one event from each (median and p99 microseconds);
 *   - deletes the index and times its rebuild from the files.
 * Prints one JSON line.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/hctime.h"
#include "receiver/capture/scan.h"
#include "receiver/core/props.h"
#include "receiver/log/log.h"
#include "receiver/metrics.h"
#include "receiver/partition/partition.h"

#define PER_JOB 500

static char pdir[1024], idir[1100];
static struct rx_metrics metrics;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench-log-read: %s: %d\n", what, rc);
    exit(1);
}

/* ---- Writing -------------------------------------------------------------------------------- */

struct job {
    struct rx_done done;
    struct rx_job job;
    struct rx_event ev[PER_JOB], *evp[PER_JOB];
    struct hc_buf bytes;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int finished;
};

static void job_done(struct rx_done *d)
{
    struct job *j = (struct job *)((char *)d - offsetof(struct job, done));
    pthread_mutex_lock(&j->mu);
    j->finished = 1;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static void job_fill(struct job *j, long first, int n)
{
    size_t boff[PER_JOB], blen[PER_JOB], poff[PER_JOB], plen[PER_JOB], koff[PER_JOB], klen[PER_JOB];
    struct rx_props pr;
    rx_props_init(&pr);
    hc_buf_reset(&j->bytes);
    for (int k = 0; k < n; k++) {
        long i = first + k;
        char dev[32];
        int dl = snprintf(dev, sizeof dev, "bench-pi-%ld", i % 64);
        boff[k] = j->bytes.len;
        hc_buf_addf(
            &j->bytes,
            "{\"event_id\":\"0190f3c2-%012ld\",\"device_id\":\"%s\",\"kind\":\"order_line\","
            "\"schema\":1,\"event_time\":\"2026-11-22T03:00:00.123Z\",\"data\":{"
            "\"invoice_no\":\"%ld\",\"stock_code\":\"85123A\",\"description\":\"WHITE "
            "HANGING HEART T-LIGHT HOLDER\",\"quantity\":%ld,\"unit_price\":2.55,"
            "\"customer_id\":%ld,\"country\":\"United Kingdom\"}}",
            i, dev, 536365 + i / 7, i % 12 + 1, 17850 + i % 500);
        blen[k] = j->bytes.len - boff[k];
        rx_props_reset(&pr);
        rx_props_string(&pr, "event_id", 8, "0190f3c2", 8, NULL);
        rx_props_string(&pr, "device_id", 9, dev, (size_t)dl, NULL);
        rx_props_string(&pr, "kind", 4, "order_line", 10, NULL);
        rx_props_long(&pr, "schema", 6, 1, NULL);
        poff[k] = j->bytes.len;
        rx_props_finish(&pr, &j->bytes);
        plen[k] = j->bytes.len - poff[k];
        koff[k] = j->bytes.len;
        hc_buf_add(&j->bytes, dev, (size_t)dl);
        klen[k] = (size_t)dl;
    }
    rx_props_free(&pr);
    for (int k = 0; k < n; k++) {
        j->evp[k] = &j->ev[k];
        j->ev[k] = (struct rx_event){(const uint8_t *)j->bytes.p + boff[k],
                                     blen[k],
                                     j->bytes.p + koff[k],
                                     klen[k],
                                     (const uint8_t *)j->bytes.p + poff[k],
                                     plen[k],
                                     0};
    }
    j->job.ev = j->evp;
    j->job.n = (size_t)n;
    j->job.done = &j->done;
    atomic_init(&j->done.left, 1);
    atomic_init(&j->done.status, 0);
    j->done.fn = job_done;
    j->finished = 0;
}

static void write_events(struct rx_partition *p, long events)
{
    static struct job j;
    pthread_mutex_init(&j.mu, NULL);
    pthread_cond_init(&j.cv, NULL);
    for (long i = 0; i < events; i += PER_JOB) {
        int n = events - i < PER_JOB ? (int)(events - i) : PER_JOB;
        job_fill(&j, i, n);
        rx_partition_submit(p, &j.job);
        pthread_mutex_lock(&j.mu);
        while (!j.finished)
            pthread_cond_wait(&j.cv, &j.mu);
        pthread_mutex_unlock(&j.mu);
        if (atomic_load(&j.done.status))
            die("write", atomic_load(&j.done.status));
    }
    hc_buf_free(&j.bytes);
}

/* ---- The peer: every file decoded in order -------------------------------------------------- */

struct scan_count {
    long n;
    uint64_t bytes;
};

static int scan_record(void *ctx, const struct rx_record *r)
{
    struct scan_count *c = ctx;
    c->n++;
    c->bytes += r->body_len + r->props_len;
    return 0;
}

static void scan_tree(const char *dir, struct scan_count *c)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d))) {
        char p[2048];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &st))
            continue;
        if (S_ISDIR(st.st_mode)) {
            scan_tree(p, c);
        } else if (strstr(e->d_name, ".avro") && st.st_size > 0) {
            int fd = open(p, O_RDONLY);
            void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
            struct rx_avro_scan s;
            if (m != MAP_FAILED && !rx_avro_scan(m, (size_t)st.st_size, &s))
                rx_avro_scan_records(m, &s, 0, scan_record, c);
            if (m != MAP_FAILED)
                munmap(m, (size_t)st.st_size);
            close(fd);
        }
    }
    closedir(d);
}

/* ---- The log -------------------------------------------------------------------------------- */

static struct rx_log *log_open(void)
{
    struct rx_log_opts lo = {pdir, idir, 1 << 20, 0};
    struct rx_log *log = rx_log_new(&lo);
    int rc;
    if (!log)
        die("log", -ENOMEM);
    if ((rc = rx_log_load(log, NULL)))
        die("log load", rc);
    return log;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    struct rx_partition_hooks h;
    struct rx_partition *p;
    struct rx_log *log;
    struct rx_log_info info;
    struct rx_log_reader *r;
    struct scan_count sc = {0};
    static double seek[2000];
    long events, n = 0;
    uint64_t bytes = 0;
    double t0, t1, t2, t3, t4, t5, write_s;
    char cmd[1300];
    int rc;
    if (argc != 3)
        die("usage: bench-log-read DIR EVENTS", 2);
    events = atol(argv[2]);
    snprintf(pdir, sizeof pdir, "%s/ns/bench/0", argv[1]);
    snprintf(idir, sizeof idir, "%s/.index/ns/bench/0", argv[1]);
    rx_metrics_init(&metrics);

    /* write */
    log = rx_log_new(&(struct rx_log_opts){pdir, idir, 0, 0});
    rx_log_hooks(log, &h);
    {
        struct rx_partition_opts o = {argv[1],  "ns",      "bench", 0,
                                      3600000,  16u << 20, 1,       RX_CODEC_DEFLATE,
                                      2u << 20, &metrics,  &h};
        if ((rc = rx_partition_open(&o, NULL, NULL, &p, NULL)))
            die("partition", rc);
    }
    t0 = now_s();
    write_events(p, events);
    write_s = now_s() - t0;
    rx_partition_close(p);
    rx_log_free(log);

    /* read everything from the start, from the files */
    log = log_open();
    rx_log_info(log, &info);
    t1 = now_s();
    if ((rc = rx_log_reader_open(log, &(struct rx_log_pos){RX_LOG_START, 0, 1}, &r)))
        die("reader", rc);
    for (;;) {
        const struct rx_log_event *ev;
        size_t k;
        if ((rc = rx_log_read(r, 300, 0, &ev, &k)))
            die("read", rc);
        if (!k)
            break;
        for (size_t i = 0; i < k; i++)
            bytes += ev[i].body_len;
        n += (long)k;
    }
    rx_log_reader_close(r);
    t2 = now_s();
    if (n != events)
        die("events read back", (int)n);

    /* the peer */
    scan_tree(pdir, &sc);
    t3 = now_s();
    if (sc.n != events)
        die("events scanned", (int)sc.n);

    /* random positions */
    srand(42);
    for (int i = 0; i < 2000; i++) {
        struct rx_log_pos pos = {RX_LOG_SEQ, rand() % events, 1};
        const struct rx_log_event *ev;
        size_t k;
        double s = now_s();
        if (i % 3 == 1) {
            pos.kind = RX_LOG_OFFSET;
            pos.value = (int64_t)((double)rand() / RAND_MAX * (double)info.last_offset);
        } else if (i % 3 == 2) {
            pos.kind = RX_LOG_TIME;
            pos.value = info.last_enq_ms - (int64_t)((double)rand() / RAND_MAX * write_s * 1000);
        }
        if ((rc = rx_log_reader_open(log, &pos, &r)) || (rc = rx_log_read(r, 1, 0, &ev, &k)))
            die("seek", rc);
        rx_log_reader_close(r);
        seek[i] = (now_s() - s) * 1e6;
    }
    qsort(seek, 2000, sizeof seek[0], cmp_d);
    rx_log_free(log);

    /* rebuild */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", idir);
    if (system(cmd))
        die("rm", 1);
    t4 = now_s();
    log = log_open();
    t5 = now_s();
    rx_log_free(log);

    printf("{\"bench\":\"log_read\",\"events\":%ld,\"files\":%lld,\"blocks\":%lld,"
           "\"write_s\":%.2f,\"read_s\":%.2f,\"read_eps\":%.0f,\"read_body_mb_s\":%.1f,"
           "\"scan_peer_s\":%.2f,\"scan_peer_eps\":%.0f,\"read_vs_scan\":%.2f,"
           "\"seek_us_median\":%.0f,\"seek_us_p99\":%.0f,\"rebuild_s\":%.2f}\n",
           events, (long long)info.files, (long long)info.blocks, write_s, t2 - t1,
           (double)n / (t2 - t1), (double)bytes / 1e6 / (t2 - t1), t3 - t2,
           (double)sc.n / (t3 - t2), ((double)n / (t2 - t1)) / ((double)sc.n / (t3 - t2)),
           seek[1000], seek[1980], t5 - t4);
    return 0;
}
