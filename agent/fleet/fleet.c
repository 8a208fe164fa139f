/* fleet.c - running the simulated devices: a few worker threads, each stepping many devices. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/fleet/fleet_int.h"
#include "common/error.h"
#include "common/hctime.h"
#include "common/log.h"
#include "common/rng.h"

#define TICK_MS          100  /* a worker's round over its devices */
#define LINGER_MS        1000 /* a device ships at most this often while generating */
#define SETTLE_LINGER_MS 200  /* ... and this often while the run settles */
#define PUTS_MAX         2000 /* events per device and commit at most */
#define STEPS_MAX        4    /* shipper steps per device and round at most (fairness) */
#define BATCH_EVENTS     200  /* the shippers' batches (each holds ~130 bytes per event) */
#define RETENTION_MS     (400LL * 86400 * 1000) /* longer than any run: nothing is pruned */
#define FDS_PER_DEVICE   5  /* data.mdb, lock.mdb, ship.lock, a socket, ship.json */
#define PARCEL_EVENTS    10 /* order_status events per open parcel in a run (a parcel has 6-7) */
#define LISTING_EVENTS   6  /* car_listing events per open listing in a run (a listing has 2-5) */

struct fl_worker {
    pthread_t tid;
    struct fleet *f;
    unsigned first; /* devices first, first + nw, first + 2 nw, ... */
    _Atomic uint64_t generated, shipped, dead, full, queued0;
    _Atomic int opened;
    int rc;
    char err[256];
};

struct fleet {
    struct fl_opts o; /* devices and seed as the folder says */
    unsigned run;
    struct fl_dev *dev;
    struct fl_worker *w;
    unsigned nw;
    struct ag_kv kv[2];
    const struct ag_transport *tp; /* what the devices' links wrap */
    _Atomic int64_t t0_ns;         /* 0 until every device is open */
    atomic_int finish;             /* stop the workers */
    volatile int *stop;
};

/* ---- the folder ---------------------------------------------------------------------------- */

int fl_state_devices(const char *dir, unsigned *devices)
{
    char path[PATH_MAX];
    unsigned long long seed;
    unsigned runs;
    FILE *f;
    int n;
    snprintf(path, sizeof path, "%s/fleet.state", dir);
    if (!(f = fopen(path, "r")))
        return errno == ENOENT ? HC_E_NOTFOUND : -errno;
    n = fscanf(f, "devices %u runs %u seed %llu", devices, &runs, &seed);
    fclose(f);
    return n == 3 ? 0 : HC_E_PARSE;
}

/* Read DIR/fleet.state (devices, runs, seed) into f, or start one; write it back with one more
 * run (temp name, fsync, rename). */
static int state_update(struct fleet *f, const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    unsigned long long seed = 0;
    unsigned devices = 0, runs = 0;
    FILE *fp;
    int n = 0, ok;

    snprintf(path, sizeof path, "%s/fleet.state", dir);
    if ((fp = fopen(path, "r"))) {
        n = fscanf(fp, "devices %u runs %u seed %llu", &devices, &runs, &seed);
        fclose(fp);
        if (n != 3) {
            snprintf(err, errlen, "%s is damaged: remove the folder or pick another --dir", path);
            return HC_E_PARSE;
        }
        if (f->o.devices && f->o.devices != devices) {
            snprintf(err, errlen,
                     "%s holds a fleet of %u devices: pass --devices %u to continue it, or "
                     "another --dir",
                     dir, devices, devices);
            return HC_E_INVAL;
        }
        f->o.devices = devices;
        if (!f->o.seed)
            f->o.seed = seed;
    }
    if (!f->o.devices)
        f->o.devices = 50;
    if (!f->o.seed) {
        struct hc_rng r;
        hc_rng_seed_random(&r);
        f->o.seed = hc_rng_next(&r) | 1;
    }
    f->run = runs + 1;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!(fp = fopen(tmp, "w"))) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return -errno;
    }
    ok = fprintf(fp, "devices %u runs %u seed %llu\n", f->o.devices, f->run,
                 (unsigned long long)f->o.seed) > 0;
    ok &= fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    ok &= fclose(fp) == 0;
    if (!ok || rename(tmp, path)) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -EIO;
    }
    return 0;
}

static int prepare_dir(const struct fl_opts *o, char *dir, size_t cap, char *err, size_t errlen)
{
    if (o->dir) {
        if ((size_t)snprintf(dir, cap, "%s", o->dir) >= cap)
            return -ENAMETOOLONG;
        if (mkdir(dir, 0755) && errno != EEXIST) {
            snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
            return -errno;
        }
        return 0;
    }
    const char *t = getenv("TMPDIR");
    snprintf(dir, cap, "%s/hubcap-fleet.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) {
        snprintf(err, errlen, "cannot create a temp folder %s: %s (set TMPDIR or --dir)", dir,
                 strerror(errno));
        return -errno;
    }
    return 0;
}

/* Room for every device's files: raise the soft limit of open files to the hard one. */
static int raise_fd_limit(unsigned devices, char *err, size_t errlen)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)devices * FDS_PER_DEVICE + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl))
        return 0;
    if (rl.rlim_max < need) { /* raising the hard limit works with CAP_SYS_RESOURCE (root) */
        struct rlimit up = {need, need};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl = up;
    }
    if (rl.rlim_cur < need && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < need) {
        snprintf(err, errlen,
                 "%u devices need about %llu open files, the limit is %llu: raise it "
                 "(ulimit -n) or run fewer devices",
                 devices, (unsigned long long)need, (unsigned long long)rl.rlim_cur);
        return -EMFILE;
    }
    return 0;
}

/* ---- one device ---------------------------------------------------------------------------- */

/*
 * How many parcels (or listings) the device keeps open: so many that each gets about `per`
 * events of its kind in the run (a whole lifecycle), from the events of that kind the device
 * is expected to generate; 4 at least.
 */
static unsigned live_target(const struct fleet *f, const struct fl_dev *d, enum hc_kind k,
                            double per)
{
    double total = 0, rate = (f->o.rate > 0 ? f->o.rate : 2.0 * f->o.devices) * d->plan.weight;
    double n;

    for (int i = 1; i < HC_KIND_COUNT; i++)
        total += d->plan.mix[i];
    n = total > 0 ? rate * f->o.duration_s * d->plan.mix[k] / total / per : 0;
    return n < 4 ? 4 : n > AG_GEN_LIVE_MAX ? AG_GEN_LIVE_MAX : (unsigned)n;
}

static int dev_open(struct fleet *f, struct fl_dev *d, char *err, size_t errlen)
{
    struct ag_queue_opts qo;
    struct ag_shipper_opts so;
    struct ag_gen_opts go;
    int rc;

    ag_queue_opts_default(&qo);
    qo.max_bytes = f->o.buffer_bytes;
    qo.nosync = !f->o.sync;
    qo.retention_ms = RETENTION_MS;
    qo.retention_bytes = f->o.buffer_bytes;
    rc = ag_queue_open(d->dir, &qo, &d->q);
    if (rc) {
        snprintf(err, errlen, "cannot open the buffer %s: %s", d->dir, hc_strerror(rc));
        return rc;
    }
    memset(&go, 0, sizeof go);
    go.seed = d->plan.seed;
    go.device_id = d->plan.device_id;
    memcpy(go.mix, d->plan.mix, sizeof go.mix);
    go.late = f->o.late;
    go.duplicate = f->o.duplicate;
    go.malformed = f->o.malformed;
    go.out_of_order = f->o.out_of_order;
    go.history = 1;
    go.live_parcels = live_target(f, d, HC_KIND_ORDER_STATUS, PARCEL_EVENTS);
    go.live_listings = live_target(f, d, HC_KIND_CAR_LISTING, LISTING_EVENTS);
    if (f->o.day_s < 86400) {
        /* a faster day: event times run as fast, ending near now when the run ends */
        double speed = 86400 / f->o.day_s;
        double rate = (f->o.rate > 0 ? f->o.rate : 2.0 * f->o.devices) * d->plan.weight;
        go.start_ms = hc_now_ms() - (int64_t)(f->o.duration_s * 1000 * speed);
        go.step_ms = rate > 0 ? (int64_t)(speed * 1000 / rate) : 1;
        if (go.step_ms < 1)
            go.step_ms = 1;
    }
    if (!(d->g = ag_gen_new(&go))) {
        snprintf(err, errlen, "cannot make a generator for %s (out of memory?)", d->plan.device_id);
        return -ENOMEM;
    }
    memset(&so, 0, sizeof so);
    d->link = (struct fl_link_arg){.inner = f->tp, .dev = d};
    so.tp = &fl_link;
    so.tp_arg = &d->link;
    so.conf = f->kv;
    so.nconf = 1;
    so.max_batch_events = BATCH_EVENTS;
    so.backoff_max_ms = 10000;
    so.pause_ms = 10000;
    rc = ag_shipper_new(d->q, d->dir, &so, &d->s, err, errlen);
    d->link_was_up = 1;
    return rc;
}

static void dev_close(struct fl_dev *d)
{
    ag_shipper_free(d->s);
    ag_gen_free(d->g);
    ag_queue_close(d->q);
    d->s = NULL;
    d->g = NULL;
    d->q = NULL;
}

/* Generate what is due (credit) into the buffer, in one commit. */
static int dev_generate(struct fl_worker *w, struct fl_dev *d)
{
    uint64_t n = d->credit >= PUTS_MAX ? PUTS_MAX : (uint64_t)d->credit, put = 0;
    struct ag_txn *t;
    struct hc_event ev;
    int rc = 0;

    if (!n)
        return 0;
    rc = ag_queue_begin(d->q, &t);
    if (rc)
        return rc;
    for (; put < n; put++) {
        ag_gen_next(d->g, &ev);
        ev.event_time_ms += d->plan.skew_ms;
        rc = ag_txn_put(t, &ev);
        if (rc)
            break;
    }
    if (rc && rc != HC_E_FULL) {
        ag_txn_abort(t);
        return rc;
    }
    if (rc == HC_E_FULL) {
        atomic_fetch_add(&w->full, 1);
        d->credit = 0; /* a full buffer (blocked shipping): what was due is not made up later */
    } else {
        d->credit -= (double)n;
    }
    rc = ag_txn_commit(t);
    if (!rc)
        atomic_fetch_add(&w->generated, put);
    if (rc == HC_E_DISKFULL) {
        /* Never accepted; the buffer keeps to a cap for the disk from now on (queue.h). */
        atomic_fetch_add(&w->full, 1);
        rc = 0;
    }
    return rc;
}

/* A few shipper steps when the link is up and the device's time has come. */
static int dev_ship(struct fleet *f, struct fl_worker *w, struct fl_dev *d, double t, int64_t now)
{
    const struct ag_ship_state *st;
    int64_t next = -1, linger = t < f->o.duration_s ? LINGER_MS : SETTLE_LINGER_MS;
    int up = fl_link_up(&d->plan, f->o.seed, t, f->o.duration_s), rc = 0;

    if (!up && d->link_was_up)
        d->drop_conn = 1;
    d->link_was_up = up;
    if (!up || now < d->ship_at_ns)
        return 0;
    for (int i = 0; i < STEPS_MAX; i++) {
        rc = ag_shipper_step(d->s, &next);
        if (rc && rc != HC_E_AUTH && rc != HC_E_REJECT)
            return rc;
        if (next != 0)
            break;
    }
    st = ag_shipper_state(d->s);
    atomic_fetch_add(&w->shipped, st->shipped - d->shipped);
    atomic_fetch_add(&w->dead, st->dead - d->dead);
    d->shipped = st->shipped;
    d->dead = st->dead;
    d->ship_at_ns = now + (next > 0 ? next : next < 0 ? linger : 0) * 1000000;
    return 0;
}

/* ---- workers ------------------------------------------------------------------------------- */

static int worker_open(struct fl_worker *w)
{
    struct fleet *f = w->f;
    struct ag_queue_stats qs;
    int rc;
    for (unsigned i = w->first; i < f->o.devices; i += f->nw) {
        rc = dev_open(f, &f->dev[i], w->err, sizeof w->err);
        if (rc)
            return rc;
        if (ag_queue_stats(f->dev[i].q, &qs) == 0)
            atomic_fetch_add(&w->queued0, qs.queued);
        atomic_fetch_add(&w->opened, 1);
    }
    return 0;
}

static int worker_round(struct fl_worker *w, double rate_now, double dt)
{
    struct fleet *f = w->f;
    int64_t now = hc_mono_ns();
    double t = (double)(now - f->t0_ns) / 1e9;
    int rc;
    for (unsigned i = w->first; i < f->o.devices && !atomic_load(&f->finish); i += f->nw) {
        struct fl_dev *d = &f->dev[i];
        if (t < f->o.duration_s) {
            d->credit += rate_now * d->plan.weight * dt;
            if ((rc = dev_generate(w, d)) != 0) {
                snprintf(w->err, sizeof w->err, "%s: cannot buffer events in %s: %s",
                         d->plan.device_id, d->dir, hc_strerror(rc));
                return rc;
            }
        }
        if ((rc = dev_ship(f, w, d, t, hc_mono_ns())) != 0) {
            snprintf(w->err, sizeof w->err, "%s: shipping from %s failed: %s", d->plan.device_id,
                     d->dir, hc_strerror(rc));
            return rc;
        }
    }
    return 0;
}

static void *worker_main(void *arg)
{
    struct fl_worker *w = arg;
    struct fleet *f = w->f;
    int64_t last = 0;

    w->rc = worker_open(w);
    while (!w->rc && !atomic_load(&f->finish) && !(f->stop && *f->stop)) {
        int64_t now = hc_mono_ns(), t0 = f->t0_ns;
        double t, rate, dt;
        if (!t0) { /* the run starts when every worker has opened its devices */
            hc_sleep_ms(10, f->stop);
            continue;
        }
        if (!last)
            last = t0;
        t = (double)(now - t0) / 1e9;
        dt = (double)(now - last) / 1e9;
        last = now;
        rate = f->o.rate * (f->o.flat ? 1 : fl_curve(fl_sim_hour(&f->o, t)));
        w->rc = worker_round(w, rate, dt);
        now = hc_mono_ns();
        if (now < last + TICK_MS * 1000000LL)
            hc_sleep_ms((last + TICK_MS * 1000000LL - now) / 1000000 + 1, f->stop);
    }
    for (unsigned i = w->first; i < f->o.devices; i += f->nw)
        dev_close(&f->dev[i]);
    return NULL;
}

/* ---- progress ------------------------------------------------------------------------------ */

struct sums {
    uint64_t generated, shipped, dead, full, queued0;
    unsigned opened;
    int rc;
    const char *err;
};

static void sum_workers(const struct fleet *f, struct sums *s)
{
    memset(s, 0, sizeof *s);
    for (unsigned i = 0; i < f->nw; i++) {
        struct fl_worker *w = &f->w[i];
        s->generated += atomic_load(&w->generated);
        s->shipped += atomic_load(&w->shipped);
        s->dead += atomic_load(&w->dead);
        s->full += atomic_load(&w->full);
        s->queued0 += atomic_load(&w->queued0);
        s->opened += (unsigned)atomic_load(&w->opened);
        if (w->rc && !s->rc) {
            s->rc = w->rc;
            s->err = w->err;
        }
    }
}

static uint64_t buffered(const struct sums *s)
{
    uint64_t out = s->shipped + s->dead, in = s->queued0 + s->generated;
    return in > out ? in - out : 0;
}

static void progress(const struct fleet *f, const struct sums *s, double t, double eps, int tty,
                     int last)
{
    char eta[32];
    uint64_t q = buffered(s);
    if (t < f->o.duration_s)
        snprintf(eta, sizeof eta, "%.0fs", f->o.duration_s - t);
    else if (eps > 0)
        snprintf(eta, sizeof eta, "%.0fs (draining)", (double)q / eps);
    else
        snprintf(eta, sizeof eta, "? (draining)");
    fprintf(stderr,
            "%s[%5.0fs] %u devices  generated %" PRIu64 "  buffered %" PRIu64 "  shipped %" PRIu64
            "  %.0f ev/s  ETA %s%s",
            tty ? "\r" : "", t, f->o.devices, s->generated, q, s->shipped, eps, eta,
            tty ? (last ? "\033[K\n" : "\033[K") : "\n");
    fflush(stderr);
}

/* Watch the workers until the run and its drain are over (or stop, or an error). */
static void supervise(struct fleet *f, struct sums *s)
{
    int tty = isatty(2);
    int64_t every_ms = tty ? 1000 : 5000, printed = 0;
    double prev_t = 0;
    uint64_t prev_shipped = 0;
    double eps = 0;

    for (;;) {
        double t;
        hc_sleep_ms(200, f->stop);
        sum_workers(f, s);
        t = (double)(hc_mono_ns() - f->t0_ns) / 1e9;
        if (t - prev_t >= 1) {
            eps = (double)(s->shipped - prev_shipped) / (t - prev_t);
            prev_shipped = s->shipped;
            prev_t = t;
        }
        if (s->rc || (f->stop && *f->stop))
            break;
        if (t >= f->o.duration_s && (!buffered(s) || t >= f->o.duration_s + f->o.settle_s))
            break;
        if ((int64_t)(t * 1000) - printed >= every_ms) {
            printed = (int64_t)(t * 1000);
            progress(f, s, t, eps, tty, 0);
        }
    }
    progress(f, s, (double)(hc_mono_ns() - f->t0_ns) / 1e9, eps, tty, 1);
}

/* ---- the run -------------------------------------------------------------------------------- */

static int fleet_alloc(struct fleet *f, const char *dir)
{
    unsigned ncpu = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    f->nw = f->o.threads ? f->o.threads : (ncpu ? ncpu : 1) * 4;
    if (f->nw > 64 && !f->o.threads)
        f->nw = 64;
    if (f->nw > f->o.devices)
        f->nw = f->o.devices;
    f->dev = calloc(f->o.devices, sizeof *f->dev);
    f->w = calloc(f->nw, sizeof *f->w);
    if (!f->dev || !f->w)
        return -ENOMEM;
    double wsum = 0;
    for (unsigned i = 0; i < f->o.devices; i++) {
        struct fl_dev *d = &f->dev[i];
        fl_plan_device(&f->o, i, f->run, &d->plan);
        wsum += d->plan.weight;
        size_t n = strlen(dir) + 16;
        if (!(d->dir = malloc(n)))
            return -ENOMEM;
        snprintf(d->dir, n, "%s/dev-%05u", dir, i);
    }
    for (unsigned i = 0; i < f->o.devices; i++)
        f->dev[i].plan.weight /= wsum; /* the devices' shares sum to 1 */
    return 0;
}

static void fleet_free(struct fleet *f)
{
    if (f->dev)
        for (unsigned i = 0; i < f->o.devices; i++)
            free(f->dev[i].dir);
    free(f->dev);
    free(f->w);
}

static int start_workers(struct fleet *f, char *err, size_t errlen)
{
    unsigned started = 0;
    struct sums s;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 256 * 1024);
    for (; started < f->nw; started++) {
        f->w[started].f = f;
        f->w[started].first = started;
        if (pthread_create(&f->w[started].tid, &a, worker_main, &f->w[started]))
            break;
    }
    pthread_attr_destroy(&a);
    if (started < f->nw) {
        atomic_store(&f->finish, 1);
        f->nw = started;
        snprintf(err, errlen, "cannot start %u worker threads", f->nw);
        return -EAGAIN;
    }
    do { /* every device open before the clock starts */
        hc_sleep_ms(20, f->stop);
        sum_workers(f, &s);
    } while (s.opened < f->o.devices && !s.rc && !(f->stop && *f->stop));
    f->t0_ns = hc_mono_ns();
    if (s.rc) {
        snprintf(err, errlen, "%s", s.err);
        return s.rc;
    }
    return 0;
}

int fl_run(const struct fl_opts *o, volatile int *stop, struct fl_totals *tot, char *dir_out,
           size_t cap, char *err, size_t errlen)
{
    struct fleet f;
    struct sums s;
    int rc;

    memset(&f, 0, sizeof f);
    memset(tot, 0, sizeof *tot);
    f.o = *o;
    f.stop = stop;
    f.kv[0] = (struct ag_kv){"connection_string", o->connstr};
    if (!o->verbose)
        hc_log_set_level(HC_LOG_ERROR); /* one warning per device and change is noise here */
    if ((rc = ag_transport_choose(o->transport, f.kv, 1, &f.tp, err, errlen)) != 0)
        return rc;
    if ((rc = prepare_dir(o, dir_out, cap, err, errlen)) != 0)
        return rc;
    if ((rc = state_update(&f, dir_out, err, errlen)) != 0)
        return rc;
    if (!f.o.rate)
        f.o.rate = 2.0 * f.o.devices;
    if ((rc = raise_fd_limit(f.o.devices, err, errlen)) != 0)
        return rc;
    if ((rc = fleet_alloc(&f, dir_out)) != 0) {
        snprintf(err, errlen, "out of memory for %u devices", f.o.devices);
        goto out_free;
    }
    fprintf(stderr,
            "hubcap-fleet: %u devices (run %u of the fleet in %s), %.0f events/s, %u threads\n",
            f.o.devices, f.run, dir_out, f.o.rate, f.nw);
    rc = start_workers(&f, err, errlen);
    if (!rc) {
        supervise(&f, &s);
        if (s.rc) {
            snprintf(err, errlen, "%s", s.err);
            rc = s.rc;
        }
    }
    atomic_store(&f.finish, 1);
    for (unsigned i = 0; i < f.nw; i++)
        pthread_join(f.w[i].tid, NULL);
    sum_workers(&f, &s);
    tot->generated = s.generated;
    tot->shipped = s.shipped;
    tot->dead = s.dead;
    tot->full = s.full;
    tot->queued = buffered(&s);
    tot->seconds = f.t0_ns ? (double)(hc_mono_ns() - f.t0_ns) / 1e9 : 0;
out_free:
    fleet_free(&f);
    return rc;
}
