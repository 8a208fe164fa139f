/*
 * bench_enqueue - durable enqueue into the agent's buffer against raw LMDB appends.
 *
 *   bench-enqueue [--events N] [--batch N] [--rounds N] [--nosync] [--dir D] [--agent-only]
 *
 * agent: a forked child (so that its peak RSS is its own, read with wait4) opens an ag_queue and
 *        puts generated events whose envelope JSON is exactly 300 bytes, one ag_txn_commit per
 *        batch. Building each batch's events is not timed; the puts (id, encoding, checksum,
 *        LMDB) and the synced commits are.
 * raw:   in a fresh folder, mdb_put(MDB_APPEND) of exactly the records the agent stored (read
 *        back from its buffer before each batch, untimed), with the same batch size and sync.
 * The events are done in --rounds rounds (default 10), each an agent part then the raw part of
 * the same records, so that both see the same machine and disk over time.
 *
 * Prints one JSON line. --agent-only runs the agent part in this process and skips raw, so
 * `/usr/bin/time -v bench-enqueue --agent-only` measures the enqueue alone.
 */
#include "agent/buffer/queue.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/hctime.h"

#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define EVENT_BYTES   300
#define TARGET_RATIO  0.7
#define TARGET_RSS_KB 8192
#define DEVICE        "bench-0001"
#define BASE_MS       1700000000000ll

struct args {
    uint64_t events, batch, rounds;
    int nosync, agent_only;
    const char *dir;
};

/* Time spent, over some events: in puts, and in commits. */
struct timing {
    int rc;
    uint64_t events, commits;
    int64_t put_ns, commit_ns;
};

static int usage(void)
{
    fprintf(stderr, "usage: bench-enqueue [--events N] [--batch N] [--rounds N] [--nosync] "
                    "[--dir D] [--agent-only]\n");
    return 2;
}

static int parse_args(int argc, char **argv, struct args *a)
{
    a->events = 1000000;
    a->batch = 1000;
    a->rounds = 10;
    a->nosync = a->agent_only = 0;
    a->dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--events") && i + 1 < argc)
            a->events = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            a->batch = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            a->rounds = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            a->dir = argv[++i];
        else if (!strcmp(argv[i], "--nosync"))
            a->nosync = 1;
        else if (!strcmp(argv[i], "--agent-only"))
            a->agent_only = 1;
        else
            return -1;
    }
    return a->events && a->batch && a->rounds ? 0 : -1;
}

static void add_timing(struct timing *sum, const struct timing *t)
{
    sum->events += t->events;
    sum->commits += t->commits;
    sum->put_ns += t->put_ns;
    sum->commit_ns += t->commit_ns;
}

/* rm -r of a buffer folder (LMDB makes only these files in it). */
static void remove_dir(const char *dir)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", dir);
    unlink(p);
    rmdir(dir);
}

/* ---- agent ------------------------------------------------------------------------------ */

struct gen {
    size_t dlen;          /* data object length that makes a 300-byte envelope */
    char *arena;          /* batch * (dlen + 1) */
    struct hc_event *evs; /* batch */
    uint64_t next;        /* events made so far */
};

static int gen_init(struct gen *g, uint64_t batch)
{
    struct hc_event ev = {.device_id = DEVICE,
                          .device_id_len = strlen(DEVICE),
                          .kind = HC_KIND_ORDER_LINE,
                          .schema = 1,
                          .event_time_ms = BASE_MS,
                          .data = "{}",
                          .data_len = 2};
    struct hc_buf b = HC_BUF_INIT;
    int rc = hc_event_encode(&ev, &b);
    g->dlen = EVENT_BYTES - (b.len - 2);
    hc_buf_free(&b);
    g->next = 0;
    g->arena = malloc(batch * (g->dlen + 1));
    g->evs = calloc(batch, sizeof *g->evs);
    return rc ? rc : g->arena && g->evs ? 0 : -ENOMEM;
}

static void gen_free(struct gen *g)
{
    free(g->arena);
    free(g->evs);
}

/* n order lines with fixed-width fields and padding: every envelope is EVENT_BYTES long. */
static void gen_batch(struct gen *g, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++, g->next++) {
        char *d = g->arena + i * (g->dlen + 1);
        int used = snprintf(d, g->dlen + 1,
                            "{\"invoice_no\":\"%07" PRIu64 "\",\"stock_code\":\"85123A\","
                            "\"quantity\":6,\"unit_price\":2.55,\"country\":\"United Kingdom\","
                            "\"description\":\"",
                            g->next % 10000000);
        memset(d + used, 'x', g->dlen - (size_t)used - 2);
        memcpy(d + g->dlen - 2, "\"}", 2);
        g->evs[i] = (struct hc_event){.device_id = DEVICE,
                                      .device_id_len = strlen(DEVICE),
                                      .kind = HC_KIND_ORDER_LINE,
                                      .schema = 1,
                                      .event_time_ms = BASE_MS + (int64_t)g->next,
                                      .data = d,
                                      .data_len = g->dlen};
    }
}

/* Put n more events in batches; t gets the time. */
static int agent_run(struct ag_queue *q, struct gen *g, uint64_t n, uint64_t batch,
                     struct timing *t)
{
    int rc = 0;
    memset(t, 0, sizeof *t);
    while (n && !rc) {
        uint64_t b = n < batch ? n : batch;
        struct ag_txn *txn = NULL;
        int64_t t0, t1;
        gen_batch(g, b);
        t0 = hc_mono_ns();
        rc = ag_queue_begin(q, &txn);
        for (uint64_t i = 0; i < b && !rc; i++)
            rc = ag_txn_put(txn, &g->evs[i]);
        t1 = hc_mono_ns();
        if (!rc)
            rc = ag_txn_commit(txn);
        else
            ag_txn_abort(txn);
        t->commit_ns += hc_mono_ns() - t1;
        t->put_ns += t1 - t0;
        t->commits++;
        t->events += b;
        n -= b;
    }
    t->rc = rc;
    return rc;
}

static int agent_open(const struct args *a, const char *dir, struct ag_queue **q)
{
    struct ag_queue_opts o;
    ag_queue_opts_default(&o);
    o.nosync = a->nosync;
    o.max_bytes = 4ull << 30; /* the run must not reach the cap */
    return ag_queue_open(dir, &o, q);
}

/* Average stored record size. */
static size_t record_bytes(struct ag_queue *q)
{
    struct ag_queue_stats st;
    if (ag_queue_stats(q, &st) || !st.queued)
        return 0;
    return (size_t)(st.queued_bytes / st.queued);
}

/* The child: a round size in on cmd, its timing out on res; 0 ends (then the record size). */
static void agent_child(const struct args *a, const char *dir, int cmd, int res)
{
    struct ag_queue *q = NULL;
    struct gen g;
    struct timing t = {0};
    uint64_t n;
    size_t rb;

    t.rc = gen_init(&g, a->batch);
    if (!t.rc)
        t.rc = agent_open(a, dir, &q);
    while (read(cmd, &n, sizeof n) == (ssize_t)sizeof n && n) {
        if (!t.rc)
            agent_run(q, &g, n, a->batch, &t);
        if (write(res, &t, sizeof t) != (ssize_t)sizeof t)
            _exit(1);
    }
    rb = q ? record_bytes(q) : 0;
    ag_queue_close(q);
    gen_free(&g);
    _exit(write(res, &rb, sizeof rb) == (ssize_t)sizeof rb ? 0 : 1);
}

/* ---- raw LMDB --------------------------------------------------------------------------- */

struct raw {
    MDB_env *src, *dst;
    MDB_dbi sdb, ddb;
    uint8_t next_key[8]; /* first key of the agent's buffer not copied yet */
    int started;
    struct hc_buf arena;
    size_t *offs;
    MDB_val *keys, *vals;
};

static int env_open(MDB_env **env, const char *dir, unsigned flags)
{
    int rc = mdb_env_create(env);
    if (!rc)
        rc = mdb_env_set_maxdbs(*env, 4);
    if (!rc)
        rc = mdb_env_set_mapsize(*env, (size_t)9 << 30);
    if (!rc)
        rc = mdb_env_open(*env, dir, flags | MDB_NOTLS, 0600);
    return rc;
}

static int raw_open(struct raw *r, const struct args *a, const char *agent_dir, const char *raw_dir)
{
    MDB_txn *txn;
    int rc;

    memset(r, 0, sizeof *r);
    r->offs = calloc(a->batch, sizeof *r->offs);
    r->keys = calloc(a->batch, sizeof *r->keys);
    r->vals = calloc(a->batch, sizeof *r->vals);
    if (!r->offs || !r->keys || !r->vals)
        return ENOMEM;
    rc = env_open(&r->src, agent_dir, MDB_RDONLY);
    if (!rc)
        rc = mdb_txn_begin(r->src, NULL, MDB_RDONLY, &txn);
    if (!rc) {
        rc = mdb_dbi_open(txn, "events", 0, &r->sdb);
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    }
    if (!rc && mkdir(raw_dir, 0700))
        rc = errno;
    if (!rc)
        rc = env_open(&r->dst, raw_dir, a->nosync ? MDB_NOSYNC : 0);
    if (!rc)
        rc = mdb_txn_begin(r->dst, NULL, 0, &txn);
    if (!rc) {
        rc = mdb_dbi_open(txn, "events", MDB_CREATE, &r->ddb);
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    }
    return rc;
}

static void raw_close(struct raw *r)
{
    if (r->src)
        mdb_env_close(r->src);
    if (r->dst)
        mdb_env_close(r->dst);
    hc_buf_free(&r->arena);
    free(r->offs);
    free(r->keys);
    free(r->vals);
}

/* Copy up to batch of the agent's records (key and value) into the arena: *n of them. */
static int raw_fetch(struct raw *r, MDB_cursor *c, uint64_t batch, uint64_t *n)
{
    MDB_val k = {sizeof r->next_key, r->next_key}, v;
    int rc = 0, op = r->started ? MDB_SET_RANGE : MDB_FIRST;

    *n = 0;
    hc_buf_reset(&r->arena);
    while (*n < batch && !(rc = mdb_cursor_get(c, &k, &v, op))) {
        op = MDB_NEXT;
        r->offs[*n] = r->arena.len;
        r->vals[*n].mv_size = v.mv_size;
        if (hc_buf_add(&r->arena, k.mv_data, 8) || hc_buf_add(&r->arena, v.mv_data, v.mv_size))
            return ENOMEM;
        memcpy(r->next_key, k.mv_data, 8);
        (*n)++;
    }
    /* next_key is the last copied: step past it (keys are big-endian seqs). */
    for (int i = 7; *n && i >= 0 && ++r->next_key[i] == 0; i--)
        ;
    r->started = 1;
    for (uint64_t i = 0; i < *n; i++) {
        r->keys[i].mv_size = 8;
        r->keys[i].mv_data = r->arena.p + r->offs[i];
        r->vals[i].mv_data = r->arena.p + r->offs[i] + 8;
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Append the next n records of the agent's buffer to the raw env, batch by batch. */
static int raw_run(struct raw *r, uint64_t n, uint64_t batch, struct timing *t)
{
    MDB_txn *stxn = NULL;
    MDB_cursor *c = NULL;
    int rc;

    memset(t, 0, sizeof *t);
    rc = mdb_txn_begin(r->src, NULL, MDB_RDONLY, &stxn);
    if (!rc)
        rc = mdb_cursor_open(stxn, r->sdb, &c);
    while (!rc && n) {
        uint64_t got;
        MDB_txn *txn;
        int64_t t0, t1;
        rc = raw_fetch(r, c, n < batch ? n : batch, &got);
        if (rc || !got)
            break;
        t0 = hc_mono_ns();
        rc = mdb_txn_begin(r->dst, NULL, 0, &txn);
        for (uint64_t i = 0; i < got && !rc; i++)
            rc = mdb_put(txn, r->ddb, &r->keys[i], &r->vals[i], MDB_APPEND);
        t1 = hc_mono_ns();
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
        t->commit_ns += hc_mono_ns() - t1;
        t->put_ns += t1 - t0;
        t->commits++;
        t->events += got;
        n -= got;
    }
    if (c)
        mdb_cursor_close(c); /* a read txn's cursor outlives the txn unless closed */
    if (stxn)
        mdb_txn_abort(stxn);
    return rc;
}

/* ---- driver ----------------------------------------------------------------------------- */

/* Rounds of agent (in the child) then raw (here). */
static int run_rounds(const struct args *a, const char *agent_dir, const char *raw_dir,
                      struct timing *ag, struct timing *raw, size_t *rec_bytes, long *rss_kb)
{
    int cmd[2], res[2], rc = 0, status;
    uint64_t per = (a->events + a->rounds - 1) / a->rounds, done = 0, zero = 0;
    struct rusage ru;
    struct raw r = {0};
    pid_t pid;

    per = (per + a->batch - 1) / a->batch * a->batch;
    if (pipe(cmd) || pipe(res))
        return -errno;
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return -errno;
    if (!pid) {
        close(cmd[1]);
        close(res[0]);
        agent_child(a, agent_dir, cmd[0], res[1]);
    }
    close(cmd[0]);
    close(res[1]);
    while (!rc && done < a->events) {
        uint64_t n = a->events - done < per ? a->events - done : per;
        struct timing t;
        if (write(cmd[1], &n, sizeof n) != (ssize_t)sizeof n ||
            read(res[0], &t, sizeof t) != (ssize_t)sizeof t) {
            rc = -EPIPE;
            break;
        }
        if (t.rc) {
            rc = t.rc;
            break;
        }
        add_timing(ag, &t);
        if (!r.src && (rc = raw_open(&r, a, agent_dir, raw_dir)) != 0)
            break;
        rc = raw_run(&r, n, a->batch, &t);
        add_timing(raw, &t);
        done += n;
    }
    raw_close(&r);
    if (write(cmd[1], &zero, sizeof zero) != (ssize_t)sizeof zero ||
        read(res[0], rec_bytes, sizeof *rec_bytes) != (ssize_t)sizeof *rec_bytes)
        *rec_bytes = 0;
    close(cmd[1]);
    close(res[0]);
    if (wait4(pid, &status, 0, &ru) < 0)
        return -errno;
    *rss_kb = ru.ru_maxrss;
    return rc;
}

static int agent_only(const struct args *a, const char *dir, struct timing *ag, size_t *rec_bytes,
                      long *rss_kb)
{
    struct ag_queue *q = NULL;
    struct rusage ru;
    struct gen g;
    int rc = gen_init(&g, a->batch);
    if (!rc)
        rc = agent_open(a, dir, &q);
    if (!rc)
        rc = agent_run(q, &g, a->events, a->batch, ag);
    *rec_bytes = q ? record_bytes(q) : 0;
    ag_queue_close(q);
    gen_free(&g);
    getrusage(RUSAGE_SELF, &ru);
    *rss_kb = ru.ru_maxrss;
    return rc;
}

static double eps(const struct timing *t)
{
    int64_t ns = t->put_ns + t->commit_ns;
    return ns ? (double)t->events * 1e9 / (double)ns : 0;
}

static void print_result(const struct args *a, const struct timing *ag, const struct timing *raw,
                         size_t rec_bytes, long rss_kb)
{
    double ae = eps(ag), re = eps(raw);
    printf("{\"bench\":\"enqueue\",\"events\":%" PRIu64 ",\"event_bytes\":%d,"
           "\"record_bytes\":%zu,\"batch\":%" PRIu64 ",\"rounds\":%" PRIu64 ",\"sync\":%s,"
           "\"agent_eps\":%.0f,",
           ag->events, EVENT_BYTES, rec_bytes, a->batch, a->agent_only ? 1 : a->rounds,
           a->nosync ? "false" : "true", ae);
    if (a->agent_only)
        printf("\"raw_lmdb_eps\":null,\"ratio\":null,");
    else
        printf("\"raw_lmdb_eps\":%.0f,\"ratio\":%.3f,", re, re ? ae / re : 0);
    printf("\"agent_put_ns\":%.0f,\"agent_commit_us\":%.0f,", (double)ag->put_ns / ag->events,
           ag->commits ? (double)ag->commit_ns / 1e3 / ag->commits : 0);
    if (!a->agent_only)
        printf("\"raw_put_ns\":%.0f,\"raw_commit_us\":%.0f,", (double)raw->put_ns / raw->events,
               raw->commits ? (double)raw->commit_ns / 1e3 / raw->commits : 0);
    printf("\"target_ratio\":%.1f,\"peak_rss_kb\":%ld,\"target_rss_kb\":%d}\n", TARGET_RATIO,
           rss_kb, TARGET_RSS_KB);
}

int main(int argc, char **argv)
{
    struct args a;
    struct timing ag = {0}, raw = {0};
    char agent_dir[4200], raw_dir[4200], base[4096];
    size_t rec_bytes = 0;
    long rss_kb = 0;
    int rc;

    if (parse_args(argc, argv, &a))
        return usage();
    if (snprintf(base, sizeof base, "%s/bench-enqueue.XXXXXX", a.dir) >= (int)sizeof base)
        return usage();
    if (!mkdtemp(base)) {
        fprintf(stderr, "bench-enqueue: cannot make a folder in %s: %s\n", a.dir, strerror(errno));
        return 1;
    }
    snprintf(agent_dir, sizeof agent_dir, "%s/agent", base);
    snprintf(raw_dir, sizeof raw_dir, "%s/raw", base);
    if (a.agent_only)
        rc = agent_only(&a, agent_dir, &ag, &rec_bytes, &rss_kb);
    else
        rc = run_rounds(&a, agent_dir, raw_dir, &ag, &raw, &rec_bytes, &rss_kb);
    if (rc)
        fprintf(stderr, "bench-enqueue: %s\n", rc > 0 ? mdb_strerror(rc) : hc_strerror(rc));
    else
        print_result(&a, &ag, &raw, rec_bytes, rss_kb);
    remove_dir(agent_dir);
    remove_dir(raw_dir);
    rmdir(base);
    return rc ? 1 : 0;
}
