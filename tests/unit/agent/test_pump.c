/*
 * The pump (agent/pipe/pump.h), generator into a real LMDB buffer in a scratch folder: every
 * event it counts is committed and in the buffer, in commits of at most `batch`; a stop commits
 * what is held; and a full buffer (policy block) is waited out while the hub is down: a shipper
 * on the same buffer, with the registry's https transport, fails (nothing listens on the hub's
 * port) until a real hubcap-receiver is started there, then drains the buffer, and the pump ends
 * with every event committed, shipped and acknowledged by the receiver (its
 * hubcap_receiver_events_total: events fsynced into capture files), none dropped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/buffer/queue.h"
#include "agent/pipe/pump.h"
#include "agent/ship/shipper.h"
#include "agent/source/generator.h"
#include "agent/transport/transport.h"
#include "common/error.h"
#include "tests/unit/testutil.h"

struct fix {
    char dir[512];
    struct ag_queue *q;
    struct ag_gen *g;
    pid_t rx_pid;     /* a receiver the test started: killed by the teardown if still running */
    char rx_dir[512]; /* its folder, removed by the teardown */
};

/* What the pump's callbacks saw. */
struct seen {
    uint64_t commits, last, out_of_order, stop_at;
    int fulls;
    volatile int *stop;
};

static void on_commit(uint64_t committed, void *arg)
{
    struct seen *s = arg;
    if (committed < s->last)
        s->out_of_order++;
    s->last = committed;
    s->commits++;
    if (s->stop_at && committed >= s->stop_at)
        *s->stop = 1;
}

static void on_full(void *arg)
{
    ((struct seen *)arg)->fulls++;
}

static void open_queue(struct fix *f, uint64_t max_bytes, int64_t retention_ms)
{
    struct ag_queue_opts o;
    ag_queue_opts_default(&o);
    o.max_bytes = max_bytes;
    o.retention_ms = retention_ms;
    o.nosync = 1; /* commits are the pump's; fsync is the queue's own test */
    assert_int_equal(ag_queue_open(f->dir, &o, &f->q), 0);
}

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof *f);
    struct ag_gen_opts go;

    assert_non_null(f);
    assert_non_null(tu_mkdtemp(f->dir, sizeof f->dir, "pump.XXXXXX"));
    memset(&go, 0, sizeof go);
    go.seed = 7;
    go.device_id = "pump-01";
    assert_non_null(f->g = ag_gen_new(&go));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    if (f->rx_pid > 0) { /* a failed assertion left it running */
        kill(f->rx_pid, SIGKILL);
        waitpid(f->rx_pid, NULL, 0);
    }
    if (f->rx_dir[0])
        tu_rm_tree(f->rx_dir);
    ag_queue_close(f->q);
    ag_gen_free(f->g);
    tu_rm_tree(f->dir);
    free(f);
    return 0;
}

static struct ag_queue_stats stats(struct ag_queue *q)
{
    struct ag_queue_stats st;
    assert_int_equal(ag_queue_stats(q, &st), 0);
    return st;
}

/* Every queued record, counted; their event ids must differ. */
static uint64_t count_queued(struct ag_queue *q)
{
    struct ag_iter *it;
    struct ag_record r;
    uint64_t n = 0, prev = 0;
    int rc;

    assert_int_equal(ag_iter_open(q, AG_SCOPE_QUEUED, 0, &it), 0);
    while ((rc = ag_iter_next(it, &r)) == 0) {
        if (n)
            assert_true(r.seq > prev);
        prev = r.seq;
        n++;
    }
    assert_int_equal(rc, HC_E_NOTFOUND);
    ag_iter_close(it);
    return n;
}

static void test_count_committed_in_batches(void **state)
{
    struct fix *f = *state;
    struct seen s = {0};
    struct ag_pump_opts o = {0};
    uint64_t committed = 0;

    open_queue(f, 0, -1);
    o.count = 2500;
    o.batch = 1000;
    o.linger_ms = 10000; /* only the batch size and the count make commits */
    o.on_commit = on_commit;
    o.arg = &s;
    assert_int_equal(ag_pump_run(f->q, f->g, &o, &committed), 0);
    assert_int_equal(committed, 2500);
    assert_int_equal(s.last, 2500);
    assert_int_equal(s.commits, 3); /* 1000, 2000, 2500 */
    assert_int_equal(s.out_of_order, 0);
    assert_int_equal(stats(f->q).counters[AG_CTR_ENQUEUED], 2500);
    /* on disk: the buffer opened again holds them all */
    ag_queue_close(f->q);
    f->q = NULL;
    open_queue(f, 0, -1);
    assert_int_equal(count_queued(f->q), 2500);
}

static void test_stop_commits_what_is_held(void **state)
{
    struct fix *f = *state;
    volatile int stop = 0;
    struct seen s = {0};
    struct ag_pump_opts o = {0};
    uint64_t committed = 0;

    open_queue(f, 0, -1);
    s.stop = &stop;
    s.stop_at = 1500; /* asked after the commit that reaches it: the rest held is committed */
    o.batch = 500;
    o.linger_ms = 10000;
    o.stop = &stop;
    o.on_commit = on_commit;
    o.arg = &s;
    assert_int_equal(ag_pump_run(f->q, f->g, &o, &committed), 0);
    assert_true(committed >= 1500);
    assert_int_equal(s.last, committed);
    assert_int_equal(count_queued(f->q), committed);
    assert_int_equal(stats(f->q).counters[AG_CTR_ENQUEUED], committed);
}

/* ---- a full buffer, the hub down, then a real receiver -------------------------------------- */

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* hubcap-receiver beside this test's executable (the build's bin/), or NULL. */
static const char *receiver_path(void)
{
    static char path[1024];
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

    if (n <= 0)
        return NULL;
    self[n] = '\0';
    snprintf(path, sizeof path, "%s/hubcap-receiver", dirname(self));
    return access(path, X_OK) == 0 ? path : NULL;
}

struct rx {
    pid_t pid;
    char out[600], cs[512];
};

/* Start `hubcap-receiver serve` on 127.0.0.1:port, capture under dir; wait for its connection
 * string (10 s at most). */
static void rx_start(struct rx *r, const char *bin, int port, const char *dir)
{
    char listen[32], cap[560];

    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(cap, sizeof cap, "%s/cap", dir);
    snprintf(r->out, sizeof r->out, "%s/rx.out", dir);
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        int fd = open(r->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int null = open("/dev/null", O_WRONLY);
        if (fd < 0 || null < 0 || dup2(fd, 1) < 0 || dup2(null, 2) < 0)
            _exit(127);
        execl(bin, bin, "serve", "--listen", listen, "--capture", cap, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        FILE *fp = fopen(r->out, "r");
        char line[512];
        while (fp && fgets(line, sizeof line, fp))
            if (!strncmp(line, "Endpoint=", 9)) {
                line[strcspn(line, "\r\n")] = '\0';
                snprintf(r->cs, sizeof r->cs, "%s", line);
            }
        if (fp)
            fclose(fp);
        if (r->cs[0])
            return;
        assert_int_equal(waitpid(r->pid, NULL, WNOHANG), 0); /* it must not exit at start */
        usleep(50000);
    }
    kill(r->pid, SIGKILL);
    waitpid(r->pid, NULL, 0);
    fail_msg("the receiver did not print its connection string in 10 s");
}

static void rx_stop(struct rx *r)
{
    int status;
    if (r->pid <= 0)
        return;
    kill(r->pid, SIGTERM);
    assert_int_equal(waitpid(r->pid, &status, 0), r->pid);
    r->pid = 0;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* One counter of the receiver's /metrics (a plain HTTP/1.0 GET), or -1. */
static long long rx_metric(int port, const char *name)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    static char buf[1 << 20];
    size_t len = 0;
    ssize_t n;
    long long v = -1;
    const char *req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char *p;

    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    for (p = buf; (p = strstr(p, name)); p++)
        if (p > buf && p[-1] == '\n' && p[strlen(name)] == ' ')
            v = strtoll(p + strlen(name) + 1, NULL, 10);
    return v;
}

struct pump_run {
    struct fix *f;
    struct ag_pump_opts o;
    uint64_t committed;
    int rc;
    volatile int done;
};

static void *pump_thread(void *arg)
{
    struct pump_run *p = arg;
    p->rc = ag_pump_run(p->f->q, p->f->g, &p->o, &p->committed);
    p->done = 1;
    return NULL;
}

struct ship_run {
    struct ag_shipper *s;
    int rc;
};

static void *ship_thread(void *arg)
{
    struct ship_run *r = arg;
    r->rc = ag_shipper_run(r->s);
    return NULL;
}

/* Wait up to secs for *flag (polled every 20 ms). */
static int wait_flag(volatile int *flag, int secs)
{
    for (int i = 0; i < secs * 50 && !*flag; i++)
        usleep(20000);
    return *flag;
}

static void test_full_buffer_waits_for_the_hub(void **state)
{
    enum { COUNT = 8000 };
    struct fix *f = *state;
    const struct ag_transport *tp = ag_transport_find("https");
    const char *rx_bin = receiver_path();
    struct seen s = {0};
    struct pump_run pr = {0};
    struct ship_run sr = {0};
    struct ag_shipper_opts so = {0};
    struct ag_kv conf[2];
    struct rx r = {0};
    struct ag_queue_stats st;
    volatile int stop = 0;
    pthread_t pt, shipt;
    char cs[512], err[512], portstr[16];
    int port = free_port();

    if (!tp || !rx_bin) {
        print_message("skip: %s is not in this build\n", tp ? "hubcap-receiver" : "https");
        skip();
    }
    assert_non_null(tu_mkdtemp(f->rx_dir, sizeof f->rx_dir, "pump_rx.XXXXXX"));
    open_queue(f, 1u << 20, 0); /* 1 MiB: a few thousand events; shipped ones pruned at once */

    /* the hub is down: the receiver's connection string, nothing listening on its port yet */
    snprintf(cs, sizeof cs,
             "Endpoint=sb://127.0.0.1:%d/;SharedAccessKeyName=RootManageSharedAccessKey;"
             "SharedAccessKey=SAS_KEY_VALUE;EntityPath=events;UseDevelopmentEmulator=true",
             port);
    conf[0] = (struct ag_kv){"connection_string", cs};
    conf[1] = (struct ag_kv){"connect_timeout", "2s"};
    so.tp = tp;
    so.conf = conf;
    so.nconf = 2;
    so.max_batch_events = 500;
    so.linger_ms = 10;
    so.backoff_max_ms = 200;
    so.stop = &stop;
    assert_int_equal(ag_shipper_new(f->q, f->dir, &so, &sr.s, err, sizeof err), 0);
    assert_int_equal(pthread_create(&shipt, NULL, ship_thread, &sr), 0);

    pr.f = f;
    pr.o.count = COUNT;
    pr.o.batch = 500;
    pr.o.on_commit = on_commit;
    pr.o.on_full = on_full;
    pr.o.arg = &s;
    assert_int_equal(pthread_create(&pt, NULL, pump_thread, &pr), 0);

    /* the buffer fills and the pump waits, holding its next event; nothing was shipped */
    for (int i = 0; i < 1500 && !s.fulls; i++)
        usleep(20000);
    assert_true(s.fulls >= 1);
    usleep(500000);
    assert_false(pr.done);
    st = stats(f->q);
    assert_int_equal(st.counters[AG_CTR_SHIPPED], 0);
    assert_true(st.counters[AG_CTR_FULL] > 0);
    assert_true(st.queued > 0 && st.queued < COUNT);
    assert_true(st.counters[AG_CTR_RETRIED] > 0); /* the transport failed: the hub is down */

    /* the hub comes up: the shipper drains, the pump goes on and ends */
    rx_start(&r, rx_bin, port, f->rx_dir);
    f->rx_pid = r.pid;
    snprintf(portstr, sizeof portstr, ":%d/", port);
    assert_non_null(strstr(r.cs, portstr)); /* the port the agent was given */
    assert_true(wait_flag(&pr.done, 120));
    pthread_join(pt, NULL);
    assert_int_equal(pr.rc, 0);
    assert_int_equal(pr.committed, COUNT);
    assert_int_equal(s.last, COUNT);
    assert_int_equal(s.out_of_order, 0);
    for (int i = 0; i < 6000; i++) {
        st = stats(f->q);
        if (!st.queued)
            break;
        usleep(20000);
    }
    stop = 1;
    pthread_join(shipt, NULL);
    assert_int_equal(sr.rc, 0);
    ag_shipper_free(sr.s);

    assert_int_equal(st.queued, 0);
    assert_int_equal(st.counters[AG_CTR_ENQUEUED], COUNT);
    assert_int_equal(st.counters[AG_CTR_SHIPPED], COUNT);
    assert_int_equal(st.counters[AG_CTR_DROPPED], 0);
    assert_int_equal(st.counters[AG_CTR_DEAD], 0);
    /* the receiver stored each one (fsynced into a capture file) */
    assert_int_equal(rx_metric(port, "hubcap_receiver_events_total"), COUNT);
    f->rx_pid = 0;
    rx_stop(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_count_committed_in_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_commits_what_is_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_buffer_waits_for_the_hub, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
