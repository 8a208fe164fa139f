#include "receiver/core/core.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"
#include "common/hctime.h"
#include "common/log.h"
#include "receiver/capture/layout.h"
#include "receiver/log/log.h"
#include "receiver/partition/hash.h"

/* A record holds at most the publication (body and properties come from it) plus its framing. */
#define RX_RECORD_OVERHEAD (128u * 1024)

struct rx_hub {
    const struct rx_hub_conf *conf; /* borrowed from the rx_conf given to rx_core_open */
    int nparts;
    struct rx_partition **parts;
    struct rx_log **logs; /* logs[p]: partition p read back (receiver/log/log.h) */
    struct rx_partition_hooks *hooks;
    atomic_uint rr; /* round-robin for events without a partition key */
};

struct rx_core {
    const struct rx_conf *c;
    struct rx_metrics *m;
    struct rx_hub *hub; /* hub[i] is c->hubs[i] */
    int n;

    /* retention (rx_core_retention_start) */
    pthread_t ret_thread;
    int ret_running;
    pthread_mutex_t ret_mu;
    pthread_cond_t ret_cv;
    int ret_stop;
    int64_t ret_every_ms;
    rx_log_safe_fn ret_safe;
    void *ret_ctx;
};

/* ---- Life cycle ----------------------------------------------------------------------------- */

/* The log of partition pid of hub i: its folder, and its index beside it under .index/. */
static int core_log_new(struct rx_core *core, int i, int pid, struct rx_log **out)
{
    const struct rx_conf *c = core->c;
    char pdir[RX_PATH_MAX], iroot[RX_PATH_MAX], idir[RX_PATH_MAX];
    struct rx_log_opts lo = {
        .pdir = pdir, .index_dir = idir, .retention_ms = c->hubs[i].retention_ms};
    int rc =
        rx_layout_partition_dir(pdir, sizeof pdir, c->capture_dir, c->ns, c->hubs[i].name, pid);
    if (rc < 0)
        return rc;
    rc = c->index_dir[0] ? snprintf(iroot, sizeof iroot, "%s", c->index_dir)
                         : snprintf(iroot, sizeof iroot, "%s/.index", c->capture_dir);
    if (rc < 0 || (size_t)rc >= sizeof iroot ||
        rx_layout_partition_dir(idir, sizeof idir, iroot, c->ns, c->hubs[i].name, pid) < 0)
        return HC_E_TOOBIG;
    if (!(*out = rx_log_new(&lo)))
        return -ENOMEM;
    return 0;
}

static int hub_open(struct rx_core *core, int i, rx_recover_note_fn note, void *ctx, char *why_buf,
                    size_t why_cap)
{
    const struct rx_conf *c = core->c;
    struct rx_hub *hub = &core->hub[i];
    struct rx_partition_opts o = {.capture_dir = c->capture_dir,
                                  .ns = c->ns,
                                  .hub = c->hubs[i].name,
                                  .window_ms = c->window_ms,
                                  .window_bytes = c->window_bytes,
                                  .skip_empty = c->skip_empty,
                                  .codec = c->codec,
                                  .block_size = c->max_publication + RX_RECORD_OVERHEAD,
                                  .metrics = core->m};
    size_t np = (size_t)c->hubs[i].partitions;
    hub->conf = &c->hubs[i];
    hub->parts = calloc(np, sizeof *hub->parts);
    hub->logs = calloc(np, sizeof *hub->logs);
    hub->hooks = calloc(np, sizeof *hub->hooks);
    if (!hub->parts || !hub->logs || !hub->hooks)
        return -ENOMEM;
    for (int p = 0; p < c->hubs[i].partitions; p++) {
        int rc;
        o.pid = p;
        if ((rc = core_log_new(core, i, p, &hub->logs[p]))) {
            snprintf(why_buf, why_cap, "hub %s partition %d: log: %s", c->hubs[i].name, p,
                     hc_strerror(rc));
            return rc;
        }
        rx_log_hooks(hub->logs[p], &hub->hooks[p]);
        o.hooks = &hub->hooks[p];
        if ((rc = rx_partition_open(&o, note, ctx, &hub->parts[p], NULL))) {
            snprintf(why_buf, why_cap, "hub %s partition %d: %s", c->hubs[i].name, p,
                     hc_strerror(rc));
            return rc;
        }
        hub->nparts++;
    }
    return 0;
}

int rx_core_open(const struct rx_conf *c, struct rx_metrics *m, rx_recover_note_fn note, void *ctx,
                 struct rx_core **out, char *why_buf, size_t why_cap)
{
    struct rx_core *core = calloc(1, sizeof *core);
    int rc = -ENOMEM;
    if (!core || !(core->hub = calloc((size_t)c->nhubs, sizeof *core->hub)))
        goto out_close;
    core->c = c;
    core->m = m;
    for (int i = 0; i < c->nhubs; i++) {
        core->n++;
        if ((rc = hub_open(core, i, note, ctx, why_buf, why_cap)))
            goto out_close;
    }
    *out = core;
    return 0;
out_close:
    if (rc == -ENOMEM)
        snprintf(why_buf, why_cap, "out of memory");
    rx_core_close(core);
    return rc;
}

void rx_core_close(struct rx_core *core)
{
    if (!core)
        return;
    if (core->ret_running) {
        pthread_mutex_lock(&core->ret_mu);
        core->ret_stop = 1;
        pthread_cond_signal(&core->ret_cv);
        pthread_mutex_unlock(&core->ret_mu);
        pthread_join(core->ret_thread, NULL);
        pthread_cond_destroy(&core->ret_cv);
        pthread_mutex_destroy(&core->ret_mu);
    }
    for (int i = 0; core->hub && i < core->n; i++) {
        for (int p = 0; p < core->hub[i].nparts; p++)
            rx_partition_close(core->hub[i].parts[p]);
        for (int p = 0; core->hub[i].logs && p < core->c->hubs[i].partitions; p++)
            rx_log_free(core->hub[i].logs[p]);
        free(core->hub[i].parts);
        free(core->hub[i].logs);
        free(core->hub[i].hooks);
    }
    free(core->hub);
    free(core);
}

const struct rx_conf *rx_core_conf(const struct rx_core *core)
{
    return core->c;
}

struct rx_metrics *rx_core_metrics(const struct rx_core *core)
{
    return core->m;
}

int rx_core_hub(const struct rx_core *core, const char *name, size_t len)
{
    return rx_conf_hub_index(core->c, name, len);
}

int rx_core_partitions(const struct rx_core *core, int hub)
{
    return hub >= 0 && hub < core->n ? core->hub[hub].nparts : 0;
}

struct rx_partition *rx_core_partition(const struct rx_core *core, int hub, int pid)
{
    if (hub < 0 || hub >= core->n || pid < 0 || pid >= core->hub[hub].nparts)
        return NULL;
    return core->hub[hub].parts[pid];
}

struct rx_log *rx_core_log(const struct rx_core *core, int hub, int pid)
{
    if (hub < 0 || hub >= core->n || pid < 0 || pid >= core->hub[hub].nparts)
        return NULL;
    return core->hub[hub].logs[pid];
}

/* ---- Retention ------------------------------------------------------------------------------ */

/* One pass over every partition of the hubs with a retention. */
static void retain_all(struct rx_core *core)
{
    for (int i = 0; i < core->n; i++) {
        if (!core->hub[i].conf->retention_ms)
            continue;
        for (int p = 0; p < core->hub[i].nparts; p++) {
            int deleted = 0, rc;
            rc = rx_log_retain(core->hub[i].logs[p], hc_now_ms(), core->ret_safe, core->ret_ctx,
                               &deleted);
            if (rc && rc != HC_E_RETRY)
                hc_warn("retention %s/%d: %s", core->hub[i].conf->name, p, hc_strerror(rc));
            else if (deleted)
                hc_info("retention %s/%d: %d capture file(s) past the hub's retention deleted",
                        core->hub[i].conf->name, p, deleted);
        }
    }
}

static void *retain_main(void *arg)
{
    struct rx_core *core = arg;
    pthread_mutex_lock(&core->ret_mu);
    while (!core->ret_stop) {
        int64_t until = hc_now_ms() + core->ret_every_ms;
        struct timespec ts = {(time_t)(until / 1000), (long)(until % 1000) * 1000000L};
        pthread_mutex_unlock(&core->ret_mu);
        retain_all(core);
        pthread_mutex_lock(&core->ret_mu);
        while (!core->ret_stop && hc_now_ms() < until)
            pthread_cond_timedwait(&core->ret_cv, &core->ret_mu, &ts);
    }
    pthread_mutex_unlock(&core->ret_mu);
    return NULL;
}

int rx_core_retention_start(struct rx_core *core, int64_t every_ms, rx_log_safe_fn safe, void *ctx)
{
    int any = 0, rc;
    for (int i = 0; i < core->n; i++)
        any |= core->hub[i].conf->retention_ms > 0;
    if (!any || core->ret_running)
        return 0;
    core->ret_every_ms = every_ms > 0 ? every_ms : 30000;
    core->ret_safe = safe;
    core->ret_ctx = ctx;
    pthread_mutex_init(&core->ret_mu, NULL);
    pthread_cond_init(&core->ret_cv, NULL);
    if ((rc = -pthread_create(&core->ret_thread, NULL, retain_main, core))) {
        pthread_cond_destroy(&core->ret_cv);
        pthread_mutex_destroy(&core->ret_mu);
        return rc;
    }
    core->ret_running = 1;
    return 0;
}

/* ---- The in-flight budget ------------------------------------------------------------------- */

int rx_core_charge(struct rx_core *core, int64_t bytes)
{
    int64_t now = atomic_fetch_add(&core->m->inflight_bytes, bytes) + bytes;
    if (now > (int64_t)core->c->max_inflight) {
        atomic_fetch_sub(&core->m->inflight_bytes, bytes);
        return HC_E_RETRY;
    }
    return 0;
}

void rx_core_uncharge(struct rx_core *core, int64_t bytes)
{
    atomic_fetch_sub(&core->m->inflight_bytes, bytes);
}

/* ---- Routing and submission ----------------------------------------------------------------- */

static int next_rr(struct rx_hub *hub)
{
    return (int)(atomic_fetch_add_explicit(&hub->rr, 1, memory_order_relaxed) %
                 (unsigned)hub->nparts);
}

/*
 * Which partition each event goes to: the send's, the publisher's, its key's, or round-robin
 * (one partition for all the keyless events of a send, so they stay together and in order).
 */
static void route(const struct rx_send *s, struct rx_hub *hub)
{
    int rr = -1, fixed = s->partition;
    if (fixed < 0 && s->publisher)
        fixed = rx_partition_for_key(s->publisher, s->publisher_len, hub->nparts);
    for (size_t i = 0; i < s->n; i++) {
        struct rx_event *ev = &s->ev[i];
        if (fixed >= 0)
            ev->partition = fixed;
        else if (ev->pkey)
            ev->partition = rx_partition_for_key(ev->pkey, ev->pkey_len, hub->nparts);
        else
            ev->partition = rr >= 0 ? rr : (rr = next_rr(hub));
    }
}

/* Group the events into one job per partition, keeping their order. */
static int group(struct rx_send *s, struct rx_hub *hub)
{
    size_t n = s->n, np = (size_t)hub->nparts;
    size_t *count = calloc(np, sizeof *count);
    int *job_of = calloc(np, sizeof *job_of);
    int rc = -ENOMEM;
    s->evp = malloc(n * sizeof *s->evp);
    s->jobs = calloc(n < np ? n : np, sizeof *s->jobs);
    if (!count || !job_of || !s->evp || !s->jobs)
        goto out_free;
    for (size_t i = 0; i < n; i++)
        count[s->ev[i].partition]++;
    for (size_t p = 0, at = 0; p < np; p++) {
        if (!count[p])
            continue;
        struct rx_job *j = &s->jobs[s->njobs];
        job_of[p] = s->njobs++;
        j->done = &s->d;
        j->ev = s->evp + at;
        j->publisher = s->publisher;
        j->publisher_len = s->publisher ? s->publisher_len : 0;
        at += count[p];
    }
    for (size_t i = 0; i < n; i++) {
        struct rx_job *j = &s->jobs[job_of[s->ev[i].partition]];
        j->ev[j->n++] = &s->ev[i];
    }
    rc = 0;
out_free:
    free(count);
    free(job_of);
    return rc;
}

/* rx_done.fn: the last partition finished the send. */
static void send_done(struct rx_done *d)
{
    struct rx_send *s = (struct rx_send *)((char *)d - offsetof(struct rx_send, d));
    s->done(s, atomic_load(&d->status));
}

int rx_core_submit(struct rx_core *core, struct rx_send *s)
{
    struct rx_hub *hub;
    int rc;
    if (s->hub < 0 || s->hub >= core->n || s->n == 0 || s->partition >= core->hub[s->hub].nparts)
        return HC_E_INVAL;
    hub = &core->hub[s->hub];
    s->jobs = NULL;
    s->evp = NULL;
    s->njobs = 0;
    route(s, hub);
    if ((rc = group(s, hub))) {
        rx_send_release(s);
        return rc;
    }
    atomic_init(&s->d.left, s->njobs);
    atomic_init(&s->d.status, 0);
    s->d.fn = send_done;
    /* after the last submit, s may already be done (and freed by the front end) */
    for (int i = 0, nj = s->njobs; i < nj; i++) {
        struct rx_job *j = &s->jobs[i];
        rx_partition_submit(hub->parts[j->ev[0]->partition], j);
    }
    return 0;
}

void rx_send_release(struct rx_send *s)
{
    if (!s)
        return;
    free(s->jobs);
    free(s->evp);
    s->jobs = NULL;
    s->evp = NULL;
    s->njobs = 0;
}

/* The logs' gauges: what consumers can read, and who reads. */
static int core_render_logs(const struct rx_core *core, struct hc_buf *out)
{
    static const struct {
        const char *name, *help;
        size_t at;
    } g[] = {
        {"log_begin_sequence",
         "The oldest retained event's SequenceNumber (begin_sequence_number).",
         offsetof(struct rx_log_info, begin_seq)},
        {"log_files", "Capture files in the partition's index.",
         offsetof(struct rx_log_info, files)},
        {"log_blocks", "Blocks in the partition's index.", offsetof(struct rx_log_info, blocks)},
        {"log_readers", "Open readers of the partition's log.",
         offsetof(struct rx_log_info, readers)},
        {"log_files_reindexed", "Capture files indexed again from their bytes at start.",
         offsetof(struct rx_log_info, rebuilt)},
        {"log_files_retained_out", "Capture files deleted past the hub's retention.",
         offsetof(struct rx_log_info, retained_out)},
    };
    for (size_t k = 0; k < sizeof g / sizeof g[0]; k++) {
        if (hc_buf_addf(out, "# HELP hubcap_receiver_%s %s\n# TYPE hubcap_receiver_%s gauge\n",
                        g[k].name, g[k].help, g[k].name))
            return -ENOMEM;
        for (int i = 0; i < core->n; i++)
            for (int p = 0; p < core->hub[i].nparts; p++) {
                struct rx_log_info li;
                rx_log_info(core->hub[i].logs[p], &li);
                if (hc_buf_addf(out, "hubcap_receiver_%s{hub=\"%s\",partition=\"%d\"} %lld\n",
                                g[k].name, core->hub[i].conf->name, p,
                                (long long)*(const int64_t *)((const char *)&li + g[k].at)))
                    return -ENOMEM;
            }
    }
    return 0;
}

int rx_core_render(const struct rx_core *core, struct hc_buf *out)
{
    if (hc_buf_adds(out, "# HELP hubcap_receiver_partition_next_sequence The SequenceNumber the "
                         "next event of a partition gets.\n"
                         "# TYPE hubcap_receiver_partition_next_sequence gauge\n"))
        return -ENOMEM;
    for (int i = 0; i < core->n; i++)
        for (int p = 0; p < core->hub[i].nparts; p++)
            if (hc_buf_addf(out,
                            "hubcap_receiver_partition_next_sequence{hub=\"%s\",partition=\"%d\"}"
                            " %lld\n",
                            core->hub[i].conf->name, p,
                            (long long)rx_partition_next_seq(core->hub[i].parts[p])))
                return -ENOMEM;
    return core_render_logs(core, out);
}
