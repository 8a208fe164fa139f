/*
 * test_core.c - the hub core as every front end uses it: a send's events are routed (fixed
 * partition, publisher, partition key as Event Hubs hashes it, else one round-robin partition per
 * send), done runs exactly once and only when every partition has written them, a bad hub or
 * partition is refused before anything is queued, and the in-flight budget refuses past
 * max_inflight.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "receiver/conf.h"
#include "receiver/core/core.h"
#include "receiver/core/props.h"
#include "receiver/partition/hash.h"
#include "tests/unit/testutil.h"

#define NEV 40

static char root[512];
static struct rx_conf conf;
static struct rx_metrics metrics;
static struct rx_core *core;

static int setup(void **state)
{
    char why[256];
    (void)state;
    if (!tu_mkdtemp(root, sizeof root, "rx_core_XXXXXX"))
        return -1;
    rx_conf_dev(&conf);
    snprintf(conf.capture_dir, sizeof conf.capture_dir, "%s", root);
    conf.max_inflight = 1000;
    rx_metrics_init(&metrics);
    return rx_core_open(&conf, &metrics, NULL, NULL, &core, why, sizeof why);
}

static int teardown(void **state)
{
    (void)state;
    rx_core_close(core);
    return tu_rm_tree(root);
}

struct send {
    struct rx_send s;
    struct rx_event ev[NEV];
    char body[NEV][16];
    atomic_int calls;
    int status;
};

static void on_done(struct rx_send *s, int status)
{
    struct send *x = s->ctx;
    x->status = status;
    atomic_fetch_add(&x->calls, 1);
}

static void make(struct send *x, int partition, const char *publisher, int keyed)
{
    memset(x, 0, sizeof *x);
    for (int i = 0; i < NEV; i++) {
        struct rx_event *ev = &x->ev[i];
        ev->body_len = (size_t)snprintf(x->body[i], sizeof x->body[i], "e%d", i);
        ev->body = (const uint8_t *)x->body[i];
        ev->props = rx_props_empty;
        ev->props_len = sizeof rx_props_empty;
        if (keyed) {
            ev->pkey = i % 2 ? "device-a" : "device-b";
            ev->pkey_len = 8;
        }
    }
    x->s = (struct rx_send){.hub = 0,
                            .partition = partition,
                            .publisher = publisher,
                            .publisher_len = publisher ? strlen(publisher) : 0,
                            .ev = x->ev,
                            .n = NEV,
                            .done = on_done,
                            .ctx = x};
}

static int64_t seq(int pid)
{
    return rx_partition_next_seq(rx_core_partition(core, 0, pid));
}

static void run(struct send *x)
{
    assert_int_equal(rx_core_submit(core, &x->s), 0);
    for (int i = 0; i < 10000 && !atomic_load(&x->calls); i++)
        usleep(1000);
    usleep(20000); /* a second call would come now */
    assert_int_equal(atomic_load(&x->calls), 1);
    assert_int_equal(x->status, 0);
    rx_send_release(&x->s);
}

static void test_routing(void **state)
{
    static struct send x;
    int64_t before[4], a, b, pub;
    (void)state;
    assert_int_equal(rx_core_partitions(core, 0), 4);
    for (int p = 0; p < 4; p++)
        before[p] = seq(p);

    make(&x, 2, NULL, 1); /* a fixed partition wins over the keys */
    run(&x);
    assert_int_equal(seq(2) - before[2], NEV);
    for (int i = 0; i < NEV; i++)
        assert_int_equal(x.ev[i].partition, 2);

    for (int p = 0; p < 4; p++)
        before[p] = seq(p);
    make(&x, -1, NULL, 1); /* keys: Event Hubs' hash */
    run(&x);
    a = rx_partition_for_key("device-a", 8, 4);
    b = rx_partition_for_key("device-b", 8, 4);
    for (int i = 0; i < NEV; i++)
        assert_int_equal(x.ev[i].partition, i % 2 ? a : b);
    assert_int_equal(seq((int)a) - before[a] + (a == b ? 0 : seq((int)b) - before[b]), NEV);

    for (int p = 0; p < 4; p++)
        before[p] = seq(p);
    make(&x, -1, "pub-7", 1); /* a publisher: its partition for every event */
    run(&x);
    pub = rx_partition_for_key("pub-7", 5, 4);
    assert_int_equal(seq((int)pub) - before[pub], NEV);

    /* keyless: one partition per send, the next send the next partition */
    make(&x, -1, NULL, 0);
    run(&x);
    int first = x.ev[0].partition;
    for (int i = 0; i < NEV; i++)
        assert_int_equal(x.ev[i].partition, first);
    make(&x, -1, NULL, 0);
    run(&x);
    assert_int_equal(x.ev[0].partition, (first + 1) % 4);
}

static void test_refused(void **state)
{
    static struct send x;
    (void)state;
    make(&x, 4, NULL, 0); /* no partition 4 */
    assert_int_equal(rx_core_submit(core, &x.s), HC_E_INVAL);
    make(&x, -1, NULL, 0);
    x.s.hub = 1; /* no second hub */
    assert_int_equal(rx_core_submit(core, &x.s), HC_E_INVAL);
    usleep(20000);
    assert_int_equal(atomic_load(&x.calls), 0);
    assert_int_equal(rx_core_hub(core, "EVENTS", 6), 0);
    assert_int_equal(rx_core_hub(core, "nope", 4), -1);
}

static void test_budget(void **state)
{
    (void)state;
    assert_int_equal(rx_core_charge(core, 600), 0);
    assert_int_equal(rx_core_charge(core, 600), HC_E_RETRY);
    assert_int_equal(atomic_load(&metrics.inflight_bytes), 600);
    assert_int_equal(rx_core_charge(core, 400), 0);
    rx_core_uncharge(core, 1000);
    assert_int_equal(atomic_load(&metrics.inflight_bytes), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_budget),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
