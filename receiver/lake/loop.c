#include "receiver/lake/loop.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/hctime.h"
#include "common/log.h"
#include "common/rng.h"
#include "receiver/lake/db.h"
#include "receiver/lake/land.h"
#include "receiver/lake/promote.h"

#define LOOP_TICK_MS   100
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 30000

struct rx_lake_loop {
    pthread_t th;
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;
    int stop;
    int kick;
    struct rx_lake_status st;

    char *conninfo;
    char *capture_dir;
    int64_t interval_ms;
    struct rx_metrics *m;
    int64_t window_ms;
};

/* Record a failed cycle; log it when it is not the same as the last one (no log flood). */
static void note_error(struct rx_lake_loop *l, const char *what, const char *err)
{
    char msg[RX_LAKE_ERR_MAX];
    int same;
    snprintf(msg, sizeof msg, "%s: %s", what, err);
    for (char *p = msg; *p; p++) /* libpq's messages span lines: keep one */
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    pthread_mutex_lock(&l->mu);
    same = !strcmp(l->st.last_error, msg);
    l->st.errors++;
    l->st.last_error_ms = hc_now_ms();
    memcpy(l->st.last_error, msg, sizeof msg);
    pthread_mutex_unlock(&l->mu);
    if (!same)
        hc_warn("lake: %s", msg);
}

static void set_connected(struct rx_lake_loop *l, int connected, int schema_ready)
{
    pthread_mutex_lock(&l->mu);
    if (connected && !l->st.connected && l->st.cycles + l->st.errors > 0)
        l->st.reconnects++;
    l->st.connected = connected;
    l->st.schema_ready = schema_ready;
    pthread_mutex_unlock(&l->mu);
}

/*
 * Wait up to ms, until a stop, a kick or a capture file closing. Returns 1 when stopping.
 * Called without mu.
 */
static int wait_for_work(struct rx_lake_loop *l, int64_t ms, uint64_t *closed_seen)
{
    int64_t end = hc_mono_ns() / 1000000 + ms;
    int stop;
    pthread_mutex_lock(&l->mu);
    while (!l->stop && !l->kick) {
        int64_t now = hc_mono_ns() / 1000000, step;
        struct timespec ts;
        if (l->m) {
            uint64_t closed = atomic_load(&l->m->files_closed);
            if (closed != *closed_seen) {
                *closed_seen = closed;
                break;
            }
        }
        if (now >= end)
            break;
        step = end - now < LOOP_TICK_MS ? end - now : LOOP_TICK_MS;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(step % 1000) * 1000000L;
        ts.tv_sec += step / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&l->cv, &l->mu, &ts);
    }
    l->kick = 0;
    stop = l->stop;
    pthread_mutex_unlock(&l->mu);
    return stop;
}

/* One cycle: land what closed, promote what landed. Returns 0 or the first error. */
static int cycle(struct rx_lake_loop *l, PGconn *c)
{
    struct rx_land_stats ls;
    struct rx_promote_stats ps = {0, 0};
    char err[RX_LAKE_ERR_MAX];
    int64_t t0 = hc_mono_ns();
    int rc_land, rc = 0;

    memset(&ls, 0, sizeof ls);
    rc_land = rx_land_dir(c, l->capture_dir, NULL, NULL, &ls, err, sizeof err);
    if (rc_land == HC_E_RETRY) {
        note_error(l, "landing", err);
        return rc_land;
    }
    if (rc_land) /* some files could not be landed: the others go on to promotion */
        note_error(l, "landing", err);
    if ((rc = rx_lake_promote(c, &ps, err, sizeof err)))
        note_error(l, "promoting", err);
    pthread_mutex_lock(&l->mu);
    l->st.files_landed += (uint64_t)ls.files_landed;
    l->st.events_landed += (uint64_t)ls.events;
    l->st.files_failed += (uint64_t)ls.files_failed;
    l->st.events_promoted += (uint64_t)ps.events;
    l->st.cycles++;
    l->st.last_cycle_ms = hc_now_ms();
    l->st.last_cycle_dur_ms = (hc_mono_ns() - t0) / 1000000;
    if (!rc && !rc_land)
        l->st.last_error[0] = '\0';
    pthread_mutex_unlock(&l->mu);
    if (ls.files_landed || ps.events)
        hc_debug("lake: landed %" PRId64 " files (%" PRId64 " events), promoted %" PRId64 " events",
                 ls.files_landed, ls.events, ps.events);
    return rc ? rc : rc_land;
}

/* The capture window into lake.config: events acknowledged reach bronze when their file closes,
 * at most this long after it opened. */
static int note_window(PGconn *c, int64_t window_ms, char *err, size_t cap)
{
    char v[24];
    const char *p[1] = {v};

    snprintf(v, sizeof v, "%" PRId64, window_ms);
    return rx_lake_run(c,
                       "INSERT INTO lake.config (key, value) VALUES ('capture_window_ms', $1) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                       1, p, err, cap);
}

/* Connect and apply the schema. Returns the connection or NULL (the error noted). */
static PGconn *connect_lake(struct rx_lake_loop *l)
{
    char err[RX_LAKE_ERR_MAX];
    int applied = 0, rc;
    PGconn *c = rx_lake_connect(l->conninfo, err, sizeof err);
    if (!c) {
        note_error(l, "connecting", err);
        return NULL;
    }
    if ((rc = rx_lake_migrate(c, &applied, err, sizeof err))) {
        note_error(l, "applying the schema", err);
        set_connected(l, rc != HC_E_RETRY, 0);
        PQfinish(c);
        return NULL;
    }
    if (applied)
        hc_info("lake: applied %d schema files", applied);
    if (l->window_ms && (rc = note_window(c, l->window_ms, err, sizeof err)))
        note_error(l, "recording the capture window", err); /* only a reconciliation needs it */
    set_connected(l, 1, 1);
    return c;
}

static void *loop_main(void *arg)
{
    struct rx_lake_loop *l = arg;
    struct hc_rng rng;
    PGconn *c = NULL;
    int64_t backoff = 0;
    uint64_t closed_seen = l->m ? atomic_load(&l->m->files_closed) : 0;
    int stopping = 0;

    hc_rng_seed_random(&rng);
    for (;;) {
        int64_t wait_ms = l->interval_ms;
        int rc;
        if (!c)
            c = connect_lake(l);
        if (c) {
            rc = cycle(l, c);
            if (rc == HC_E_RETRY || PQstatus(c) != CONNECTION_OK) {
                PQfinish(c);
                c = NULL;
                set_connected(l, 0, 0);
            }
        }
        if (stopping)
            break;
        if (!c) { /* reconnect with exponential back-off and jitter */
            backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
            if (backoff > BACKOFF_MAX_MS)
                backoff = BACKOFF_MAX_MS;
            wait_ms = backoff / 2 + hc_rng_range(&rng, 0, backoff / 2);
        } else {
            backoff = 0;
        }
        if (wait_for_work(l, wait_ms, &closed_seen)) {
            /* one last cycle lands the files the stopping receiver closed, when connected */
            if (!c)
                break;
            stopping = 1;
        }
    }
    PQfinish(c);
    return NULL;
}

int rx_lake_loop_start(const struct rx_lake_loop_opts *o, struct rx_lake_loop **out)
{
    struct rx_lake_loop *l = calloc(1, sizeof *l);
    int rc;
    if (!l)
        return -ENOMEM;
    l->conninfo = strdup(o->conninfo ? o->conninfo : "");
    l->capture_dir = strdup(o->capture_dir ? o->capture_dir : ".");
    l->interval_ms = o->interval_ms > 0 ? o->interval_ms : 1000;
    l->m = o->m;
    l->window_ms = o->window_ms;
    if (!l->conninfo || !l->capture_dir) {
        rc = -ENOMEM;
        goto out_free;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if ((rc = -pthread_create(&l->th, NULL, loop_main, l)))
        goto out_destroy;
    *out = l;
    return 0;
out_destroy:
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
out_free:
    free(l->conninfo);
    free(l->capture_dir);
    free(l);
    return rc;
}

void rx_lake_loop_kick(struct rx_lake_loop *l)
{
    pthread_mutex_lock(&l->mu);
    l->kick = 1;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

void rx_lake_loop_status(struct rx_lake_loop *l, struct rx_lake_status *st)
{
    pthread_mutex_lock(&l->mu);
    *st = l->st;
    pthread_mutex_unlock(&l->mu);
}

int rx_lake_loop_render(struct rx_lake_loop *l, struct hc_buf *out)
{
    struct rx_lake_status st;
    rx_lake_loop_status(l, &st);
    return hc_buf_addf(
        out,
        "# HELP hubcap_lake_connected 1 when the lake reached PostgreSQL in its last cycle\n"
        "# TYPE hubcap_lake_connected gauge\nhubcap_lake_connected %d\n"
        "# TYPE hubcap_lake_cycles_total counter\nhubcap_lake_cycles_total %" PRIu64 "\n"
        "# TYPE hubcap_lake_files_landed_total counter\nhubcap_lake_files_landed_total %" PRIu64
        "\n"
        "# TYPE hubcap_lake_events_landed_total counter\nhubcap_lake_events_landed_total %" PRIu64
        "\n"
        "# HELP hubcap_lake_files_failed_total capture files that could not be landed, per try\n"
        "# TYPE hubcap_lake_files_failed_total counter\nhubcap_lake_files_failed_total %" PRIu64
        "\n"
        "# TYPE hubcap_lake_events_promoted_total counter\n"
        "hubcap_lake_events_promoted_total %" PRIu64 "\n"
        "# TYPE hubcap_lake_errors_total counter\nhubcap_lake_errors_total %" PRIu64 "\n"
        "# TYPE hubcap_lake_reconnects_total counter\nhubcap_lake_reconnects_total %" PRIu64 "\n"
        "# TYPE hubcap_lake_last_cycle_seconds gauge\nhubcap_lake_last_cycle_seconds %.3f\n",
        st.connected, st.cycles, st.files_landed, st.events_landed, st.files_failed,
        st.events_promoted, st.errors, st.reconnects, (double)st.last_cycle_dur_ms / 1000.0);
}

void rx_lake_loop_stop(struct rx_lake_loop *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->th, NULL);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l->conninfo);
    free(l->capture_dir);
    free(l);
}
