/*
 * The shipper's decisions, against the real buffer and a scripted transport (the network is
 * tested end to end in tests/integration/test_ship_*.sh): batches under the limits and in order,
 * the cursor moves only on OK, poison events found by splitting and dead-lettered, retries
 * counted, auth renewed once then reported.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "agent/buffer/queue.h"
#include "agent/ship/shipper.h"
#include "common/error.h"
#include "tests/unit/testutil.h"

/* ---- a scripted transport: format is "n:seq,seq,…", send answers by rule ----------------- */

struct script {
    int calls, renews;
    int auth_failures; /* answer 401 this many times */
    int retries;       /* answer 503 (Retry-After 0) this many times */
    long poison;       /* REJECT/SIZE every body holding this seq (the data's "n") */
    size_t max_seen;   /* largest body seen */
    long last_n;       /* events must arrive in order */
    int out_of_order;
    long delivered;
};
static struct script sc;

static size_t rec_size(const struct ag_record *r)
{
    return r->json_len + 1;
}

static int fmt(const struct ag_record *const *recs, size_t n, struct hc_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        const char *p = strstr(recs[i]->json, "\"n\":");
        size_t start = out->len;
        hc_buf_addf(out, "%ld,", strtol(p + 4, NULL, 10));
        /* pad with spaces to exactly rec_size(), as the contract says */
        while (out->len - start < rec_size(recs[i]))
            hc_buf_addc(out, ' ');
    }
    return 0;
}

static int t_init(const struct ag_kv *c, size_t n, void **ctx, char *err, size_t len)
{
    (void)c;
    (void)n;
    (void)err;
    (void)len;
    *ctx = &sc;
    return 0;
}

static enum ag_send_result t_send(void *ctx, const char *body, size_t len,
                                  struct ag_send_status *st)
{
    (void)ctx;
    memset(st, 0, sizeof *st);
    st->retry_after_ms = -1;
    sc.calls++;
    if (len > sc.max_seen)
        sc.max_seen = len;
    if (sc.auth_failures > 0) {
        sc.auth_failures--;
        st->result = AG_SEND_RETRY;
        st->why = AG_WHY_AUTH;
        st->http_status = 401;
        snprintf(st->error, sizeof st->error, "401 unauthorized");
        return st->result;
    }
    if (sc.retries > 0) {
        sc.retries--;
        st->result = AG_SEND_RETRY;
        st->why = AG_WHY_THROTTLED;
        st->http_status = 503;
        st->retry_after_ms = 0;
        snprintf(st->error, sizeof st->error, "503 busy");
        return st->result;
    }
    /* REJECT when the poison is in the body */
    char *copy = strndup(body, len), *save = NULL;
    long ids[10000];
    int n = 0, bad = 0;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        if (!*t)
            continue;
        ids[n] = strtol(t, NULL, 10);
        bad |= ids[n] == sc.poison;
        n++;
    }
    free(copy);
    if (bad) {
        st->result = AG_SEND_REJECT;
        st->why = AG_WHY_SIZE;
        st->http_status = 400;
        snprintf(st->error, sizeof st->error, "poison");
        return st->result;
    }
    for (int i = 0; i < n; i++) {
        if (ids[i] <= sc.last_n)
            sc.out_of_order++;
        sc.last_n = ids[i];
    }
    sc.delivered += n;
    st->result = AG_SEND_OK;
    return st->result;
}

static void t_close(void *ctx)
{
    (void)ctx;
}

static int t_renew(void *ctx)
{
    (void)ctx;
    sc.renews++;
    return 0;
}

static void t_limits(void *ctx, struct ag_transport_limits *lim)
{
    (void)ctx;
    lim->max_batch_bytes = 64 * 1024;
}

static const struct ag_transport scripted = {
    .name = "scripted",
    .init = t_init,
    .send = t_send,
    .close = t_close,
    .format = fmt,
    .record_size = rec_size,
    .batch_overhead = 0,
    .renew_auth = t_renew,
    .limits = t_limits,
};

/* ---- fixture -------------------------------------------------------------------------------- */

struct fx {
    char dir[256];
    struct ag_queue *q;
};

static void fill(struct ag_queue *q, int from, int to, size_t pad)
{
    struct ag_txn *t;
    char data[300000];
    assert_int_equal(ag_queue_begin(q, &t), 0);
    for (int i = from; i <= to; i++) {
        struct hc_event ev;
        int n = snprintf(data, sizeof data, "{\"n\":%d,\"pad\":\"", i);
        memset(data + n, 'x', pad);
        memcpy(data + n + pad, "\"}", 3);
        memset(&ev, 0, sizeof ev);
        ev.device_id = "dev";
        ev.device_id_len = 3;
        ev.kind = HC_KIND_ORDER_LINE;
        ev.schema = 1;
        ev.event_time_ms = 1763780400000;
        ev.data = data;
        ev.data_len = strlen(data);
        assert_int_equal(ag_txn_put(t, &ev), 0);
    }
    assert_int_equal(ag_txn_commit(t), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_non_null(tu_mkdtemp(f->dir, sizeof f->dir, "shipper.XXXXXX"));
    assert_int_equal(ag_queue_open(f->dir, NULL, &f->q), 0);
    memset(&sc, 0, sizeof sc);
    sc.poison = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    ag_queue_close(f->q);
    tu_rm_tree(f->dir);
    free(f);
    return 0;
}

static int run_once(struct fx *f, size_t max_events)
{
    struct ag_shipper_opts o;
    struct ag_shipper *s;
    char err[256];
    int rc;
    memset(&o, 0, sizeof o);
    o.tp = &scripted;
    o.once = 1;
    o.max_batch_events = max_events;
    o.give_up_ms = 2000;
    assert_int_equal(ag_shipper_new(f->q, f->dir, &o, &s, err, sizeof err), 0);
    rc = ag_shipper_run(s);
    ag_shipper_free(s);
    return rc;
}

static struct ag_queue_stats stats(struct fx *f)
{
    struct ag_queue_stats st;
    assert_int_equal(ag_queue_stats(f->q, &st), 0);
    return st;
}

static void test_all_ok_in_order_under_limits(void **state)
{
    struct fx *f = *state;
    fill(f->q, 1, 3000, 100);
    assert_int_equal(run_once(f, 500), 0);
    assert_int_equal(sc.delivered, 3000);
    assert_int_equal(sc.out_of_order, 0);
    assert_true(sc.calls >= 6); /* 500 per batch at most */
    struct ag_queue_stats st = stats(f);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.counters[AG_CTR_SHIPPED], 3000);
}

static void test_poison_is_dead_lettered_rest_ships(void **state)
{
    struct fx *f = *state;
    struct ag_iter *it;
    struct ag_record r;
    fill(f->q, 1, 1000, 10);
    sc.poison = 637;
    assert_int_equal(run_once(f, 1000), 0);
    assert_int_equal(sc.delivered, 999);
    assert_int_equal(sc.out_of_order, 0);
    struct ag_queue_stats st = stats(f);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.dead, 1);
    assert_int_equal(st.counters[AG_CTR_DEAD], 1);
    assert_int_equal(ag_iter_open(f->q, AG_SCOPE_DEAD, 0, &it), 0);
    assert_int_equal(ag_iter_next(it, &r), 0);
    assert_non_null(strstr(r.json, "\"n\":637,"));
    assert_non_null(strstr(r.reason, "poison"));
    ag_iter_close(it);
    assert_true(sc.calls < 40); /* bisection, not one send per event */
}

static void test_retries_are_counted_nothing_twice(void **state)
{
    struct fx *f = *state;
    fill(f->q, 1, 200, 10);
    sc.retries = 3;
    assert_int_equal(run_once(f, 1000), 0);
    assert_int_equal(sc.delivered, 200);
    assert_int_equal(stats(f).counters[AG_CTR_RETRIED], 3);
}

static void test_auth_renewed_once_then_reported(void **state)
{
    struct fx *f = *state;
    struct ag_ship_state st;
    fill(f->q, 1, 50, 10);
    sc.auth_failures = 1;
    assert_int_equal(run_once(f, 1000), 0); /* one 401: renewed, then shipped */
    assert_int_equal(sc.renews, 1);
    assert_int_equal(sc.delivered, 50);
    fill(f->q, 51, 60, 10);
    sc.auth_failures = 5;
    sc.renews = 0;
    assert_int_equal(run_once(f, 1000), HC_E_AUTH);
    assert_int_equal(sc.renews, 1);
    assert_int_equal(stats(f).queued, 10); /* nothing lost */
    assert_int_equal(ag_ship_state_read(f->dir, &st), 0);
    assert_true(st.paused);
    assert_string_equal(st.last_error, "401 unauthorized");
}

static void test_event_over_batch_limit_dead_lettered_unsent(void **state)
{
    struct fx *f = *state;
    fill(f->q, 1, 3, 10);
    fill(f->q, 4, 4, 100000); /* over the 64 KiB batch limit on its own */
    fill(f->q, 5, 6, 10);
    assert_int_equal(run_once(f, 1000), 0);
    assert_int_equal(sc.delivered, 5);
    assert_true(sc.max_seen <= 64 * 1024);
    assert_int_equal(stats(f).dead, 1);
}

static void test_one_shipper_per_buffer(void **state)
{
    struct fx *f = *state;
    struct ag_shipper_opts o;
    struct ag_shipper *a, *b;
    char err[256];
    memset(&o, 0, sizeof o);
    o.tp = &scripted;
    assert_int_equal(ag_shipper_new(f->q, f->dir, &o, &a, err, sizeof err), 0);
    assert_int_equal(ag_shipper_new(f->q, f->dir, &o, &b, err, sizeof err), -EWOULDBLOCK);
    assert_non_null(strstr(err, "another shipper"));
    ag_shipper_free(a);
    assert_int_equal(ag_shipper_new(f->q, f->dir, &o, &b, err, sizeof err), 0);
    ag_shipper_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_all_ok_in_order_under_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poison_is_dead_lettered_rest_ships, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries_are_counted_nothing_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_renewed_once_then_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_over_batch_limit_dead_lettered_unsent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_one_shipper_per_buffer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
