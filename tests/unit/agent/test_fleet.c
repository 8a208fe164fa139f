/*
 * hubcap-fleet's pure parts: the daily rate curve, the simulated clock, clock skew, device plans
 * and links, option parsing; and the shipper's non-blocking step the fleet drives its devices
 * with (against the real buffer and a scripted transport).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/buffer/queue.h"
#include "agent/fleet/fleet.h"
#include "agent/ship/shipper.h"
#include "common/error.h"
#include "common/hctime.h"
#include "tests/unit/testutil.h"

static void test_curve_has_mean_one_and_a_shape(void **state)
{
    double sum = 0, lo = 1e9, hi = 0;
    (void)state;
    for (int m = 0; m < 1440; m++) {
        double c = fl_curve(m / 60.0);
        sum += c;
        lo = c < lo ? c : lo;
        hi = c > hi ? c : hi;
    }
    assert_true(fabs(sum / 1440 - 1) < 0.01);
    assert_true(lo >= 0.1);
    assert_true(hi > 1.5);
    assert_true(fl_curve(4) < 0.5 * fl_curve(12));         /* quiet nights, busy noon */
    assert_true(fl_curve(20) > fl_curve(16));              /* an evening peak */
    assert_true(fabs(fl_curve(-4) - fl_curve(20)) < 1e-9); /* a circle of 24 hours */
    assert_true(fabs(fl_curve(36) - fl_curve(12)) < 1e-9);
}

static void test_sim_hour_runs_at_the_days_pace(void **state)
{
    struct fl_opts o;
    (void)state;
    fl_opts_default(&o);
    o.start_hour = 23;
    assert_true(fabs(fl_sim_hour(&o, 0) - 23) < 1e-9);
    assert_true(fabs(fl_sim_hour(&o, 3600) - 0) < 1e-9); /* real time by default */
    o.day_s = 240;                                       /* a day in 4 minutes */
    assert_true(fabs(fl_sim_hour(&o, 10) - 0) < 1e-9);
    assert_true(fabs(fl_sim_hour(&o, 25) - 1.5) < 1e-9);
    o.start_hour = -1; /* the UTC hour now */
    double h = fl_sim_hour(&o, 0);
    assert_true(h >= 0 && h < 24);
}

static void test_skew_is_bounded_deterministic_and_mostly_small(void **state)
{
    int neg = 0, pos = 0, small = 0;
    (void)state;
    for (unsigned i = 0; i < 1000; i++) {
        int64_t s = fl_skew(42, i, 60000);
        assert_true(s >= -60000 && s <= 60000);
        assert_int_equal(s, fl_skew(42, i, 60000));
        assert_int_equal(fl_skew(42, i, 0), 0);
        neg += s < 0;
        pos += s > 0;
        small += llabs(s) < 15000;
    }
    assert_true(neg > 300 && pos > 300);
    assert_true(small > 500); /* u^3: most clocks are nearly right */
    assert_true(fl_skew(42, 1, 60000) != fl_skew(43, 1, 60000));
}

static void test_plans_are_deterministic_and_follow_the_knobs(void **state)
{
    struct fl_opts o;
    struct fl_plan a, b;
    int offline = 0, flaps = 0, kinds[HC_KIND_COUNT] = {0};
    double wsum = 0;
    (void)state;
    fl_opts_default(&o);
    o.devices = 2000;
    o.seed = 9;
    o.duration_s = 100;
    o.offline = 0.25;
    o.flap = 1;
    o.clock_skew_ms = 5000;
    for (unsigned i = 0; i < o.devices; i++) {
        fl_plan_device(&o, i, 1, &a);
        fl_plan_device(&o, i, 1, &b);
        assert_memory_equal(&a, &b, sizeof a);
        wsum += a.weight;
        assert_true(a.weight > 0);
        assert_int_equal(a.skew_ms, fl_skew(9, i, 5000));
        for (int k = 0; k < HC_KIND_COUNT; k++)
            kinds[k] += a.mix[k] > 0;
        if (a.offline_to > a.offline_from) {
            offline++;
            assert_true(a.offline_from >= 0 && a.offline_to <= o.duration_s);
            double mid = (a.offline_from + a.offline_to) / 2;
            assert_false(fl_link_up(&a, o.seed, mid, o.duration_s));
        }
        flaps += a.flaps;
        assert_true(fl_link_up(&a, o.seed, o.duration_s, o.duration_s)); /* up for the drain */
        fl_plan_device(&o, i, 2, &b); /* another run: new event ids, the same device */
        assert_true(a.seed != b.seed);
        assert_string_equal(a.device_id, b.device_id);
        assert_true(a.skew_ms == b.skew_ms && a.offline_from == b.offline_from);
    }
    assert_true(fabs(wsum - 1) < 0.1);
    assert_true(offline > 400 && offline < 600);
    assert_true(flaps > 550 && flaps < 800);
    assert_int_equal(kinds[HC_KIND_UNKNOWN], 0);
    assert_true(kinds[HC_KIND_ORDER_LINE] > kinds[HC_KIND_ORDER_STATUS] / 2);
    assert_true(kinds[HC_KIND_CAR_LISTING] > 100);
    fl_plan_device(&o, 42, 1, &a);
    assert_string_equal(a.device_id, "fleet-00042");
}

static void test_a_flapping_link_is_down_some_seconds(void **state)
{
    struct fl_opts o;
    struct fl_plan p;
    int down = 0;
    unsigned i = 0;
    (void)state;
    fl_opts_default(&o);
    o.devices = 100;
    o.seed = 3;
    o.flap = 1;
    o.duration_s = 1000;
    do
        fl_plan_device(&o, i++, 1, &p);
    while (!p.flaps);
    for (int t = 0; t < 1000; t++)
        down += !fl_link_up(&p, o.seed, t + 0.5, o.duration_s);
    assert_true(down > 150 && down < 350);
    o.flap = 0;
    fl_plan_device(&o, i - 1, 1, &p);
    for (int t = 0; t < 1000; t++)
        assert_true(fl_link_up(&p, o.seed, t, o.duration_s));
}

static int parse(struct fl_opts *o, char *err, const char *first, ...)
{
    char *argv[64] = {"hubcap-fleet"};
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    return fl_opts_parse(argc, argv, o, err, 256);
}

static void test_options(void **state)
{
    struct fl_opts o;
    char err[256];
    (void)state;
    unsetenv("HUBCAP_CONNECTION_STRING");
    assert_int_equal(parse(&o, err, "-s", "Endpoint=x", NULL), 0);
    assert_int_equal(o.devices, 0); /* 50, or the folder's */
    assert_true(o.duration_s == 60 && o.settle_s == 60 && o.reconcile && !o.json);
    assert_int_equal(o.buffer_bytes, 64ULL << 20);
    assert_int_equal(parse(&o, err, "--devices", "1000", "--duration", "2m", "-s", "E=1", "--pg",
                           "dbname=x", "--rate", "500", "--dir", "/d", "--keep", "--seed", "5",
                           "--late", "0.1", "--duplicate", "0.02", "--malformed", "0.05",
                           "--out-of-order", "0", "--offline", "0.3", "--flap", "--clock-skew",
                           "5m", "--settle", "30", "--json", "--threads", "8", "--buffer-bytes",
                           "16M", "--flat", "--day-length", "10m", "--start-hour", "9.5", NULL),
                     0);
    assert_int_equal(o.devices, 1000);
    assert_true(o.duration_s == 120 && o.rate == 500 && o.settle_s == 30 && o.day_s == 600);
    assert_string_equal(o.pg, "dbname=x");
    assert_string_equal(o.dir, "/d");
    assert_true(o.keep && o.flap && o.json && o.flat);
    assert_true(o.seed == 5 && o.threads == 8 && o.buffer_bytes == 16ULL << 20);
    assert_true(o.late == 0.1 && o.duplicate == 0.02 && o.malformed == 0.05 && o.offline == 0.3);
    assert_int_equal(o.clock_skew_ms, 300000);
    assert_true(o.start_hour == 9.5);

    assert_int_equal(parse(&o, err, "--devices", "10001", "-s", "E", NULL), HC_E_INVAL);
    assert_non_null(strstr(err, "--devices"));
    assert_int_equal(parse(&o, err, "--malformed", "1.5", "-s", "E", NULL), HC_E_INVAL);
    assert_non_null(strstr(err, "--malformed"));
    assert_int_equal(parse(&o, err, "--clock-skew", "soon", "-s", "E", NULL), HC_E_INVAL);
    assert_int_equal(parse(&o, err, "--bogus", NULL), HC_E_INVAL);
    assert_non_null(strstr(err, "--bogus"));
    assert_int_equal(parse(&o, err, NULL), HC_E_INVAL);
    assert_non_null(strstr(err, "HUBCAP_CONNECTION_STRING"));
    assert_int_equal(parse(&o, err, "--reconcile-only", NULL), HC_E_INVAL);
    assert_non_null(strstr(err, "--dir"));
    assert_int_equal(parse(&o, err, "--reconcile-only", "--dir", "/d", NULL), 0);
    assert_int_equal(parse(&o, err, "--reconcile-only", "--no-reconcile", "--dir", "/d", NULL),
                     HC_E_INVAL);
    setenv("HUBCAP_CONNECTION_STRING", "Endpoint=env", 1);
    assert_int_equal(parse(&o, err, "-n", "3", NULL), 0);
    assert_string_equal(o.connstr, "Endpoint=env");
    unsetenv("HUBCAP_CONNECTION_STRING");
}

/* ---- ag_shipper_step: a transport that refuses the first send, then accepts ---------------- */

static int sends, refuse;

static size_t rec_size(void *ctx, const struct ag_record *r)
{
    (void)ctx;
    return r->json_len;
}

static int fmt(void *ctx, const struct ag_record *const *recs, size_t n, struct hc_buf *out)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++)
        hc_buf_add(out, recs[i]->json, recs[i]->json_len);
    return 0;
}

static int t_init(const struct ag_kv *c, size_t n, void *arg, void **ctx, char *err, size_t len)
{
    (void)c, (void)n, (void)arg, (void)err, (void)len;
    *ctx = &sends;
    return 0;
}

static enum ag_send_result t_send(void *ctx, const struct ag_record *const *recs, size_t n,
                                  struct ag_send_status *st)
{
    (void)ctx, (void)recs;
    ag_send_status_reset(st);
    st->retry_after_ms = refuse ? 300 : -1;
    sends++;
    st->result = refuse ? AG_SEND_RETRY : AG_SEND_OK;
    st->why = refuse ? AG_WHY_THROTTLED : AG_WHY_NONE;
    st->acked = refuse ? 0 : n;
    refuse = 0;
    return st->result;
}

static void t_close(void *ctx)
{
    (void)ctx;
}

static void t_limits(void *ctx, struct ag_transport_limits *l)
{
    (void)ctx;
    l->max_batch_bytes = 1 << 20;
}

static const struct ag_transport scripted = {.name = "scripted",
                                             .init = t_init,
                                             .send = t_send,
                                             .close = t_close,
                                             .format = fmt,
                                             .record_size = rec_size,
                                             .limits = t_limits};

static void test_shipper_step_never_sleeps(void **state)
{
    char dir[256], err[256];
    struct ag_queue *q;
    struct ag_shipper *s;
    struct ag_shipper_opts so = {.tp = &scripted, .max_batch_events = 2};
    struct ag_txn *t;
    struct hc_event ev = {.device_id = "d",
                          .device_id_len = 1,
                          .kind = HC_KIND_ORDER_LINE,
                          .schema = 1,
                          .event_time_ms = 1,
                          .data = "{}",
                          .data_len = 2};
    int64_t next, t0;
    (void)state;
    assert_non_null(tu_mkdtemp(dir, sizeof dir, "fleet_step_XXXXXX"));
    assert_int_equal(ag_queue_open(dir, NULL, &q), 0);
    assert_int_equal(ag_shipper_new(q, dir, &so, &s, err, sizeof err), 0);
    assert_int_equal(ag_shipper_step(s, &next), 0);
    assert_int_equal(next, -1); /* nothing queued */
    assert_int_equal(sends, 0);
    assert_int_equal(ag_queue_begin(q, &t), 0);
    for (int i = 0; i < 3; i++) {
        memset(ev.id, 0, sizeof ev.id);
        assert_int_equal(ag_txn_put(t, &ev), 0);
    }
    assert_int_equal(ag_txn_commit(t), 0);

    refuse = 1;
    t0 = hc_mono_ns();
    assert_int_equal(ag_shipper_step(s, &next), 0); /* refused: Retry-After 300 ms, recorded */
    assert_true(next > 200 && next <= 300);
    assert_int_equal(ag_shipper_step(s, &next), 0); /* too early: nothing is sent */
    assert_int_equal(sends, 1);
    assert_true(hc_mono_ns() - t0 < 150 * 1000000LL);
    assert_int_equal(ag_shipper_state(s)->retried, 1);

    hc_sleep_ms(next, NULL);
    assert_int_equal(ag_shipper_step(s, &next), 0); /* two events, one more queued */
    assert_int_equal(next, 0);
    assert_int_equal(ag_shipper_step(s, &next), 0);
    assert_int_equal(next, -1);
    assert_int_equal(sends, 3);
    assert_int_equal(ag_shipper_state(s)->shipped, 3);
    ag_shipper_free(s);
    ag_queue_close(q);
    tu_rm_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curve_has_mean_one_and_a_shape),
        cmocka_unit_test(test_sim_hour_runs_at_the_days_pace),
        cmocka_unit_test(test_skew_is_bounded_deterministic_and_mostly_small),
        cmocka_unit_test(test_plans_are_deterministic_and_follow_the_knobs),
        cmocka_unit_test(test_a_flapping_link_is_down_some_seconds),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_shipper_step_never_sleeps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
