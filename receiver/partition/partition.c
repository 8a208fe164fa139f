#include "receiver/partition/partition.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hctime.h"
#include "common/log.h"
#include "receiver/capture/avro_writer.h"
#include "receiver/capture/layout.h"
#include "receiver/capture/record.h"

struct rx_partition {
    struct rx_partition_opts o;
    char dir[RX_PATH_MAX];

    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct rx_job *head, *tail;
    int stop;
    pthread_t thread;

    /* writer thread only */
    struct rx_avro_file *file;
    char final_path[RX_PATH_MAX];
    int64_t file_opened_ms;
    int64_t window_start_ms; /* for empty files (skip_empty off) */
    int64_t last_name_s;
    int64_t seq, offset;                 /* next to assign */
    int64_t durable_seq, durable_offset; /* next after what is on disk */
    const char *open_why;                /* why the last file could not be opened, or NULL */
    int64_t failing;                     /* commits failed since the last that succeeded */
    int64_t refused;                     /* requests they failed */
    struct hc_buf rec;
    int64_t file_s;                /* the current file's name second */
    uint64_t synced_at;            /* its synced size before the pending events */
    struct rx_durable_event *pend; /* events appended since the last sync (for the hooks) */
    size_t npend, pend_cap;
    atomic_int_fast64_t next_seq;                 /* for readers outside the thread */
    atomic_int_fast64_t last_offset, last_enq_ms; /* of the last event on disk, -1 / 0 unknown */
};

void rx_done_finish(struct rx_done *d, int status)
{
    int expected = 0;
    if (status)
        atomic_compare_exchange_strong(&d->status, &expected, status);
    if (atomic_fetch_sub(&d->left, 1) == 1)
        d->fn(d);
}

/* ---- Files ---------------------------------------------------------------------------------- */

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Pick the next file's second: now, but after the last name used, and free. */
static int part_names(struct rx_partition *p, int64_t now_ms, char *tmp, size_t cap)
{
    int64_t t = now_ms / 1000;
    if (t <= p->last_name_s)
        t = p->last_name_s + 1;
    for (int tries = 0; tries < 100000; tries++, t++) {
        int rc;
        if ((rc = rx_layout_file(p->final_path, sizeof p->final_path, p->dir, t, 0)) < 0 ||
            (rc = rx_layout_file(tmp, cap, p->dir, t, 1)) < 0)
            return rc;
        if (!exists(p->final_path) && !exists(tmp)) {
            p->last_name_s = t;
            return 0;
        }
    }
    return -EEXIST;
}

static int part_open_file(struct rx_partition *p, int64_t now_ms)
{
    char tmp[RX_PATH_MAX];
    const char *why = NULL;
    int rc = part_names(p, now_ms, tmp, sizeof tmp);
    if (!rc)
        rc = rx_avro_file_create(tmp, p->o.codec, p->o.block_size, &p->file, &why);
    if (rc) { /* said by part_fail, once per failing spell */
        p->open_why = why ? why : "no free file name";
        return rc;
    }
    p->file_opened_ms = now_ms;
    p->window_start_ms = now_ms;
    p->file_s = p->last_name_s;
    p->synced_at = rx_avro_file_synced_size(p->file);
    p->npend = 0;
    atomic_fetch_add(&p->o.metrics->files_open, 1);
    return 0;
}

static void part_file_gone(struct rx_partition *p, int closed)
{
    p->file = NULL;
    atomic_fetch_sub(&p->o.metrics->files_open, 1);
    if (closed)
        atomic_fetch_add(&p->o.metrics->files_closed, 1);
}

/*
 * Close the current file (everything in it is durable once this returns 0). One that holds no
 * event (every commit into it failed) goes when skip_empty.
 */
static int part_close_file(struct rx_partition *p)
{
    int rc;
    if (!p->file)
        return 0;
    if (p->o.skip_empty && rx_avro_file_records(p->file) == 0 && !rx_avro_file_pending(p->file)) {
        rc = rx_avro_file_abandon(p->file, p->final_path);
        part_file_gone(p, 0);
        return rc;
    }
    rc = rx_avro_file_close(p->file, p->final_path);
    part_file_gone(p, !rc);
    if (rc)
        hc_error("capture %s: cannot close: %s (left as .tmp for recovery)", p->final_path,
                 hc_strerror(rc));
    return rc;
}

/* skip_empty off: a window passed without a file, so write an empty one. */
static void part_empty_file(struct rx_partition *p, int64_t now_ms)
{
    p->window_start_ms = now_ms; /* also when it fails: try again a window later */
    if (part_open_file(p, now_ms))
        return;
    if (rx_avro_file_sync(p->file, NULL)) {
        rx_avro_file_abandon(p->file, p->final_path);
        part_file_gone(p, 0);
        return;
    }
    part_close_file(p);
}

/* Tell the hooks what the last sync made durable. */
static void part_durable(struct rx_partition *p)
{
    const struct rx_partition_hooks *h = p->o.hooks;
    uint64_t to = rx_avro_file_synced_size(p->file);
    if (h && h->durable && p->npend) {
        struct rx_durable d = {.file_s = p->file_s,
                               .path = rx_avro_file_path(p->file),
                               .from = p->synced_at,
                               .to = to,
                               .ev = p->pend,
                               .n = p->npend};
        h->durable(h->ctx, &d);
    }
    p->synced_at = to;
    p->npend = 0;
}

static int part_sync(struct rx_partition *p)
{
    int64_t ns = 0;
    int rc = rx_avro_file_sync(p->file, &ns);
    if (rc)
        return rc;
    rx_metrics_fsync(p->o.metrics, ns);
    p->durable_seq = p->seq;
    p->durable_offset = p->offset;
    part_durable(p);
    return 0;
}

/* Note an appended event for the hooks. Returns 0 or -ENOMEM. */
static int part_pend(struct rx_partition *p, const struct rx_record_meta *m,
                     const struct rx_event *ev)
{
    if (!p->o.hooks || !p->o.hooks->durable)
        return 0;
    if (p->npend == p->pend_cap) {
        size_t cap = p->pend_cap ? p->pend_cap * 2 : 256;
        struct rx_durable_event *n = realloc(p->pend, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        p->pend = n;
        p->pend_cap = cap;
    }
    p->pend[p->npend++] = (struct rx_durable_event){m->seq, m->offset, m->enq_ms, ev};
    return 0;
}

/* ---- Group commit --------------------------------------------------------------------------- */

static int part_append(struct rx_partition *p, const struct rx_job *job, const struct rx_event *ev,
                       struct rx_record_meta *m, int64_t now_ms)
{
    int rc;
    if (!p->file && (rc = part_open_file(p, now_ms)))
        return rc;
    m->seq = p->seq;
    m->offset = p->offset;
    m->publisher = job->publisher;
    m->publisher_len = job->publisher ? job->publisher_len : 0;
    hc_buf_reset(&p->rec);
    if ((rc = rx_record_encode(&p->rec, m, ev)) || (rc = part_pend(p, m, ev)) ||
        (rc = rx_avro_file_append(p->file, p->rec.p, p->rec.len)))
        return rc;
    p->seq++;
    p->offset += rx_record_offset_step(ev->body ? ev->body_len : 0);
    /* roll by size: the pending bytes (uncompressed) overestimate what the block adds */
    if (rx_avro_file_synced_size(p->file) + rx_avro_file_pending(p->file) >= p->o.window_bytes) {
        if ((rc = part_sync(p)))
            return rc;
        if (rx_avro_file_synced_size(p->file) >= p->o.window_bytes)
            return part_close_file(p);
    }
    return 0;
}

/* What to do about a write error, for the log line. */
static const char *part_advice(int rc)
{
    return rc == -ENOSPC || rc == -EDQUOT ? "free space under"
                                          : "check the disk and the file system (dmesg) under";
}

/*
 * A commit failed (rc) and its njobs requests get 503: cut the file back to what is durable and
 * number from there again. When the cut cannot be made durable, the file is ended where it is
 * (left for recovery at the next start) and the numbers handed to it are not used again: a gap
 * in the sequence, never a repeat. Said once per failing spell; the next commit tries again.
 */
static void part_fail(struct rx_partition *p, int rc, size_t njobs)
{
    int rewound = 1;
    atomic_fetch_add(&p->o.metrics->write_errors, 1);
    if (!p->failing++)
        hc_error("capture %s/%d: cannot write %s: %s%s%s; %zu request(s) get 503 with "
                 "Retry-After, the file is cut back to its last synced block; %s %s (the "
                 "partition tries again with each request, no restart needed)",
                 p->o.hub, p->o.pid, p->file ? rx_avro_file_path(p->file) : p->dir,
                 p->open_why ? p->open_why : "", p->open_why ? ": " : "", hc_strerror(rc), njobs,
                 part_advice(rc), p->o.capture_dir);
    p->open_why = NULL;
    p->refused += njobs;
    p->npend = 0;
    if (p->file) {
        int crc = rx_avro_file_rewind(p->file);
        if (crc) {
            rewound = 0;
            hc_error("capture %s: cannot cut back to the last synced block: %s; the file is "
                     "left for recovery at the next start, sequence numbers %lld to %lld are "
                     "skipped",
                     rx_avro_file_path(p->file), hc_strerror(crc), (long long)p->durable_seq,
                     (long long)p->seq - 1);
            rx_avro_file_abandon(p->file, p->final_path);
            part_file_gone(p, 0);
        }
    }
    if (rewound) {
        p->seq = p->durable_seq;
        p->offset = p->durable_offset;
    } else {
        p->durable_seq = p->seq;
        p->durable_offset = p->offset;
    }
}

/* A commit succeeded after failures: say so once. */
static void part_recovered(struct rx_partition *p)
{
    hc_info("capture %s/%d: writing again after %lld failed commit(s) (%lld request(s) got 503)",
            p->o.hub, p->o.pid, (long long)p->failing, (long long)p->refused);
    p->failing = 0;
    p->refused = 0;
}

static void part_commit(struct rx_partition *p, struct rx_job *jobs)
{
    char text[RX_ENQ_TEXT_MAX];
    int64_t now_ms = hc_now_ms();
    struct rx_record_meta m = {0};
    uint64_t events = 0, bytes = 0;
    int rc = 0;
    m.enq_ms = now_ms;
    m.enq_text = text;
    m.enq_text_len = rx_record_time_text(now_ms, text);
    for (struct rx_job *j = jobs; j && !rc; j = j->next)
        for (size_t i = 0; i < j->n && !rc; i++) {
            rc = part_append(p, j, j->ev[i], &m, now_ms);
            bytes += j->ev[i]->body_len;
        }
    for (struct rx_job *j = jobs; j && !rc; j = j->next)
        events += j->n;
    if (!rc && p->file && (rx_avro_file_pending(p->file) || p->seq != p->durable_seq))
        rc = part_sync(p);
    if (rc) {
        size_t njobs = 0;
        for (struct rx_job *j = jobs; j; j = j->next)
            njobs++;
        part_fail(p, rc, njobs);
    } else {
        if (p->failing)
            part_recovered(p);
        atomic_fetch_add(&p->o.metrics->events_in, events);
        if (events) {
            atomic_store(&p->last_offset, m.offset);
            atomic_store(&p->last_enq_ms, now_ms);
        }
        atomic_fetch_add(&p->o.metrics->event_bytes, bytes);
    }
    atomic_store(&p->next_seq, p->seq);
    while (jobs) {
        struct rx_job *next = jobs->next;
        rx_done_finish(jobs->done, rc);
        jobs = next;
    }
}

/* ---- The writer thread ---------------------------------------------------------------------- */

/* When the thread must wake up with no job: the file's time window, or the next empty file. */
static int64_t part_deadline(const struct rx_partition *p)
{
    if (p->file)
        return p->file_opened_ms + p->o.window_ms;
    if (!p->o.skip_empty)
        return p->window_start_ms + p->o.window_ms;
    return -1;
}

static struct rx_job *part_wait(struct rx_partition *p, int *stop)
{
    struct rx_job *jobs;
    pthread_mutex_lock(&p->mu);
    while (!p->head && !p->stop) {
        int64_t deadline = part_deadline(p);
        struct timespec ts;
        if (deadline < 0) {
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        if (hc_now_ms() >= deadline)
            break;
        ts.tv_sec = (time_t)(deadline / 1000);
        ts.tv_nsec = (long)(deadline % 1000) * 1000000L;
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    }
    jobs = p->head;
    p->head = p->tail = NULL;
    *stop = p->stop;
    pthread_mutex_unlock(&p->mu);
    return jobs;
}

static void *part_main(void *arg)
{
    struct rx_partition *p = arg;
    int stop = 0;
    while (!stop) {
        struct rx_job *jobs = part_wait(p, &stop);
        int64_t now = hc_now_ms();
        int64_t deadline = part_deadline(p);
        if (p->file && now >= deadline)
            part_close_file(p);
        else if (!p->file && !jobs && deadline >= 0 && now >= deadline && !stop)
            part_empty_file(p, now);
        if (jobs)
            part_commit(p, jobs);
        if (stop) { /* finish what came in meanwhile */
            pthread_mutex_lock(&p->mu);
            stop = p->head == NULL;
            pthread_mutex_unlock(&p->mu);
        }
    }
    part_close_file(p);
    return NULL;
}

/* ---- Life cycle ----------------------------------------------------------------------------- */

int rx_partition_open(const struct rx_partition_opts *o, rx_recover_note_fn note, void *ctx,
                      struct rx_partition **out, struct rx_recovery *rec)
{
    struct rx_recovery r;
    struct rx_partition *p = calloc(1, sizeof *p);
    int rc;
    if (!p)
        return -ENOMEM;
    p->o = *o;
    rc = rx_layout_partition_dir(p->dir, sizeof p->dir, o->capture_dir, o->ns, o->hub, o->pid);
    if (rc < 0)
        goto out_free;
    if ((rc = rx_recover_partition(p->dir, o->skip_empty, note, ctx, &r)))
        goto out_free;
    if (o->hooks && o->hooks->recovered && (rc = o->hooks->recovered(o->hooks->ctx, p->dir, &r)))
        goto out_free;
    atomic_fetch_add(&o->metrics->files_recovered, (uint64_t)r.recovered);
    atomic_fetch_add(&o->metrics->files_set_aside, (uint64_t)r.set_aside);
    p->seq = p->durable_seq = r.next_seq;
    p->offset = p->durable_offset = r.next_offset;
    p->last_name_s = r.last_name_s;
    p->window_start_ms = hc_now_ms();
    atomic_init(&p->next_seq, p->seq);
    atomic_init(&p->last_offset, -1);
    atomic_init(&p->last_enq_ms, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if ((rc = -pthread_create(&p->thread, NULL, part_main, p)))
        goto out_destroy;
    if (rec)
        *rec = r;
    *out = p;
    return 0;
out_destroy:
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
out_free:
    free(p);
    return rc;
}

void rx_partition_submit(struct rx_partition *p, struct rx_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->tail)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void rx_partition_close(struct rx_partition *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    hc_buf_free(&p->rec);
    free(p->pend);
    free(p);
}

int64_t rx_partition_next_seq(struct rx_partition *p)
{
    return atomic_load(&p->next_seq);
}

void rx_partition_last(struct rx_partition *p, int64_t *offset, int64_t *enq_ms)
{
    *offset = atomic_load(&p->last_offset);
    *enq_ms = atomic_load(&p->last_enq_ms);
}
