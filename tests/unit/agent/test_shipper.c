/*
 * The shipper's decisions, against the real buffer and a scripted transport (the network is
 * tested end to end in tests/integration/test_ship_*.sh): batches under the limits and in order,
 * the cursor moves only over what the hub stored (a whole body, or the contiguous prefix of a
 * per-event answer), poison events found by splitting (whole-body answers) or named by the hub
 * (per-event answers) and dead-lettered, retries counted, auth renewed once then reported, the
 * transport's limits read again after a send.
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

/* ---- a scripted transport: it reads each record's "n" and answers by rule ----------------- */

struct script {
    int calls, renews;
    int auth_failures; /* answer 401 this many times */
    int retries;       /* answer 503 (Retry-After 0) this many times */
    long poison;       /* REJECT/SIZE every send holding this n (the data's "n") */
    int per_event;     /* answer per record, as AMQP does: a poison alone, the rest stored */
    long drop_after;   /* per_event: the connection "drops" after storing records up to this n */
    size_t learn_max;  /* after the first send, max_event_bytes becomes this (an attach) */
    size_t max_events; /* the transport's max_batch_events */
    size_t max_seen;   /* largest batch seen, bytes */
    size_t most_events;
    long last_n; /* events must arrive in order */
    int out_of_order;
    long delivered;
    long stored[20000]; /* how often each n was stored */
};
static struct script sc;

static size_t rec_size(void *ctx, const struct ag_record *r)
{
    (void)ctx;
    return r->json_len + 1;
}

static long rec_n(const struct ag_record *r)
{
    char *copy = strndup(r->json, r->json_len);
    long n = strtol(strstr(copy, "\"n\":") + 4, NULL, 10);
    free(copy);
    return n;
}

static int fmt(void *ctx, const struct ag_record *const *recs, size_t n, struct hc_buf *out)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        size_t start = out->len;
        hc_buf_addf(out, "%ld,", rec_n(recs[i]));
        /* pad with spaces to exactly rec_size(), as the contract says */
        while (out->len - start < rec_size(NULL, recs[i]))
            hc_buf_addc(out, ' ');
    }
    return 0;
}

static int t_init(const struct ag_kv *c, size_t n, void *arg, void **ctx, char *err, size_t len)
{
    (void)c, (void)n, (void)arg, (void)err, (void)len;
    *ctx = &sc;
    return 0;
}

static void store(long n)
{
    if (n <= sc.last_n)
        sc.out_of_order++;
    sc.last_n = n;
    sc.delivered++;
    sc.stored[n]++;
}

static enum ag_send_result refuse(struct ag_send_status *st, enum ag_send_result r,
                                  enum ag_send_why why, const char *code, const char *error)
{
    st->result = r;
    st->why = why;
    snprintf(st->code, sizeof st->code, "%s", code);
    snprintf(st->error, sizeof st->error, "%s", error);
    return r;
}

/* Per record, as AMQP answers: stored up to the poison (named alone) or the drop. */
static enum ag_send_result send_per_event(const struct ag_record *const *recs, size_t n,
                                          struct ag_send_status *st)
{
    size_t i = 0;
    for (; i < n; i++) {
        long k = rec_n(recs[i]);
        if (k == sc.poison || (sc.drop_after && k > sc.drop_after))
            break;
        store(k);
    }
    st->acked = i;
    if (i == n) {
        st->result = AG_SEND_OK;
        return st->result;
    }
    if (sc.drop_after && rec_n(recs[i]) > sc.drop_after) {
        sc.drop_after = 0;
        return refuse(st, AG_SEND_RETRY, AG_WHY_NETWORK, "", "connection lost");
    }
    st->one = 1;
    for (size_t j = i + 1; j < n; j++, st->acked_after++)
        store(rec_n(recs[j])); /* the rest of the batch was accepted */
    return refuse(st, AG_SEND_REJECT, AG_WHY_SIZE, "amqp:link:message-size-exceeded",
                  "hub refused the event: poison");
}

static enum ag_send_result t_send(void *ctx, const struct ag_record *const *recs, size_t n,
                                  struct ag_send_status *st)
{
    size_t bytes = 0;
    int bad = 0;
    (void)ctx;
    ag_send_status_reset(st);
    sc.calls++;
    for (size_t i = 0; i < n; i++) {
        bytes += rec_size(NULL, recs[i]);
        bad |= rec_n(recs[i]) == sc.poison;
    }
    if (bytes > sc.max_seen)
        sc.max_seen = bytes;
    if (n > sc.most_events)
        sc.most_events = n;
    if (sc.auth_failures > 0) {
        sc.auth_failures--;
        return refuse(st, AG_SEND_RETRY, AG_WHY_AUTH, "HTTP 401", "unauthorized");
    }
    if (sc.retries > 0) {
        sc.retries--;
        st->retry_after_ms = 0;
        return refuse(st, AG_SEND_RETRY, AG_WHY_THROTTLED, "HTTP 503", "busy");
    }
    if (sc.per_event)
        return send_per_event(recs, n, st);
    if (bad) /* a whole-body answer: the shipper must find the event */
        return refuse(st, AG_SEND_REJECT, AG_WHY_SIZE, "HTTP 400", "poison");
    for (size_t i = 0; i < n; i++)
        store(rec_n(recs[i]));
    st->acked = n;
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
    lim->batch_overhead = 0;
    lim->max_batch_bytes = 64 * 1024;
    lim->max_event_bytes = sc.calls && sc.learn_max ? sc.learn_max : 0;
    lim->max_batch_events = sc.max_events;
}

/* ---- the same, pipelined: begin keeps a batch, end answers the oldest ------------------------ */

static struct {
    const struct ag_record *const *recs[4];
    size_t n[4];
    int head, count, most; /* begun and not ended; the most at once */
    int ends, aborts;
    int fail_end;      /* the end with this number (1-based) loses the connection */
    size_t fail_after; /* ... after storing this many of its events */
} pp;

static void p_begin(void *ctx, const struct ag_record *const *recs, size_t n)
{
    (void)ctx;
    int slot = (pp.head + pp.count) % 4;
    pp.recs[slot] = recs;
    pp.n[slot] = n;
    if (++pp.count > pp.most)
        pp.most = pp.count;
}

static enum ag_send_result p_end(void *ctx, struct ag_send_status *st)
{
    const struct ag_record *const *recs = pp.recs[pp.head];
    size_t n = pp.n[pp.head];
    (void)ctx;
    pp.head = (pp.head + 1) % 4;
    pp.count--;
    if (++pp.ends == pp.fail_end) { /* part of it stored, then the connection went */
        ag_send_status_reset(st);
        for (size_t i = 0; i < pp.fail_after && i < n; i++)
            store(rec_n(recs[i]));
        st->acked = pp.fail_after < n ? pp.fail_after : n;
        return refuse(st, AG_SEND_RETRY, AG_WHY_NETWORK, "", "connection lost");
    }
    return t_send(ctx, recs, n, st);
}

static void p_abort(void *ctx)
{
    (void)ctx;
    pp.aborts++;
    pp.count = 0;
}

static void p_limits(void *ctx, struct ag_transport_limits *lim)
{
    t_limits(ctx, lim);
    lim->max_in_flight = 2;
}

static const struct ag_transport pipelined = {
    .name = "pipelined",
    .init = t_init,
    .send = t_send,
    .close = t_close,
    .format = fmt,
    .record_size = rec_size,
    .renew_auth = t_renew,
    .limits = p_limits,
    .begin = p_begin,
    .end = p_end,
    .abort = p_abort,
};

static const struct ag_transport scripted = {
    .name = "scripted",
    .init = t_init,
    .send = t_send,
    .close = t_close,
    .format = fmt,
    .record_size = rec_size,
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

static const struct ag_transport *tp_under_test = &scripted;

static int run_once(struct fx *f, size_t max_events)
{
    struct ag_shipper_opts o;
    struct ag_shipper *s;
    char err[256];
    int rc;
    memset(&o, 0, sizeof o);
    o.tp = tp_under_test;
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
    assert_string_equal(r.reason, "HTTP 400: poison");
    ag_iter_close(it);
    assert_true(sc.calls < 40); /* bisection, not one send per event */
}

/* A per-event refusal (AMQP's rejected delivery): dead-lettered at once, no bisection, and the
 * records stored after it in the same send are not sent again. */
static void test_per_event_reject_no_bisection_no_resend(void **state)
{
    struct fx *f = *state;
    struct ag_iter *it;
    struct ag_record r;
    fill(f->q, 1, 1000, 10);
    sc.poison = 637;
    sc.per_event = 1;
    assert_int_equal(run_once(f, 1000), 0);
    assert_true(sc.calls <= 3); /* two 64 KiB batches, the second again after the dead letter */
    assert_int_equal(sc.delivered, 999);
    for (long n = 1; n <= 1000; n++)
        assert_int_equal(sc.stored[n], n == 637 ? 0 : 1);
    struct ag_queue_stats st = stats(f);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.dead, 1);
    assert_int_equal(st.counters[AG_CTR_SHIPPED], 999);
    assert_int_equal(ag_iter_open(f->q, AG_SCOPE_DEAD, 0, &it), 0);
    assert_int_equal(ag_iter_next(it, &r), 0);
    assert_non_null(strstr(r.json, "\"n\":637,"));
    assert_string_equal(r.reason, "amqp:link:message-size-exceeded: hub refused the event: poison");
    ag_iter_close(it);
}

/* A connection lost mid-send: the cursor moves over the stored prefix only; the rest, and
 * only the rest, is sent again. */
static void test_partial_ack_advances_over_the_prefix(void **state)
{
    struct fx *f = *state;
    fill(f->q, 1, 500, 10);
    sc.per_event = 1;
    sc.drop_after = 321;
    assert_int_equal(run_once(f, 1000), 0);
    assert_int_equal(sc.calls, 2);
    for (long n = 1; n <= 500; n++)
        assert_int_equal(sc.stored[n], 1);
    struct ag_queue_stats st = stats(f);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.counters[AG_CTR_SHIPPED], 500);
    assert_int_equal(st.counters[AG_CTR_RETRIED], 1);
}

/* The transport's limits: max_batch_events, and a max_event_bytes learned after a send (AMQP's
 * attach): a later event over it is dead-lettered unsent. */
static void test_transport_limits_are_read_again(void **state)
{
    struct fx *f = *state;
    fill(f->q, 1, 300, 10);
    sc.max_events = 7;
    assert_int_equal(run_once(f, 1000), 0);
    assert_int_equal(sc.most_events, 7);
    assert_int_equal(sc.delivered, 300);
    fill(f->q, 301, 301, 10);
    fill(f->q, 302, 302, 3000); /* under the batch limit, over what the transport learns */
    fill(f->q, 303, 303, 10);
    memset(&sc, 0, sizeof sc);
    sc.poison = -1;
    sc.learn_max = 1000;
    sc.max_events = 1; /* the first send (the "attach") comes before 302 is taken */
    assert_int_equal(run_once(f, 1000), 0);
    assert_int_equal(sc.delivered, 2);
    assert_int_equal(sc.stored[302], 0);
    assert_int_equal(stats(f).dead, 1);
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
    assert_string_equal(st.last_error, "HTTP 401: unauthorized");
    assert_string_equal(st.transport, "scripted");
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

/* A transport that keeps batches in flight: two at once while a backlog drains, in order,
 * every event stored once. */
static void test_pipelined_two_in_flight(void **state)
{
    struct fx *f = *state;
    fill(f->q, 1, 3000, 10);
    memset(&pp, 0, sizeof pp);
    tp_under_test = &pipelined;
    assert_int_equal(run_once(f, 200), 0);
    tp_under_test = &scripted;
    assert_int_equal(pp.most, 2);
    assert_int_equal(pp.ends, 15);
    assert_int_equal(pp.aborts, 0);
    assert_int_equal(sc.delivered, 3000);
    assert_int_equal(sc.out_of_order, 0);
    for (long n = 1; n <= 3000; n++)
        assert_int_equal(sc.stored[n], 1);
    assert_int_equal(stats(f).counters[AG_CTR_SHIPPED], 3000);
}

/* The connection lost in the oldest batch in flight: its stored prefix is acked, the batch
 * behind it forgotten (abort), and both are sent again from the cursor: nothing lost, nothing
 * stored twice (the script stores a batch only when it is ended). */
static void test_pipelined_failure_forgets_the_rest(void **state)
{
    struct fx *f = *state;
    fill(f->q, 1, 1000, 10);
    memset(&pp, 0, sizeof pp);
    pp.fail_end = 2;
    pp.fail_after = 50;
    tp_under_test = &pipelined;
    assert_int_equal(run_once(f, 200), 0);
    tp_under_test = &scripted;
    assert_int_equal(pp.aborts, 1);
    assert_int_equal(sc.delivered, 1000);
    for (long n = 1; n <= 1000; n++)
        assert_int_equal(sc.stored[n], 1);
    struct ag_queue_stats st = stats(f);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.counters[AG_CTR_SHIPPED], 1000);
    assert_int_equal(st.counters[AG_CTR_RETRIED], 1);
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
        cmocka_unit_test_setup_teardown(test_per_event_reject_no_bisection_no_resend, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_partial_ack_advances_over_the_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_limits_are_read_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries_are_counted_nothing_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_renewed_once_then_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_over_batch_limit_dead_lettered_unsent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_two_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_failure_forgets_the_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_shipper_per_buffer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
