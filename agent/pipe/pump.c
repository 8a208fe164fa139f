/* pump.c - the generator into the buffer (pump.h): ag_pump_run as a loop of named steps over one
 * struct pump: next_event (paced), put_event, commit_due, commit (the disk-full rule), finish. */
#include "agent/pipe/pump.h"

#include "common/error.h"
#include "common/hctime.h"

#include <string.h>

static int stopping(const struct ag_pump_opts *o)
{
    return o->stop && *o->stop;
}

void ag_pace(double rate, int64_t t0_ns, uint64_t i, volatile int *stop)
{
    int64_t due, now;
    if (rate <= 0)
        return;
    due = t0_ns + (int64_t)((double)i * 1e9 / rate);
    now = hc_mono_ns();
    if (due > now)
        hc_sleep_ms((due - now + 999999) / 1000000, stop);
}

/* One run of the pump: its options, the open txn and the event held, and what it counted. */
struct pump {
    struct ag_queue *q;
    struct ag_gen *g;
    const struct ag_pump_opts *o;
    uint64_t batch, made, held, done; /* held: put in the open txn; done: committed */
    int64_t linger, t0, opened, committed_at;
    struct ag_txn *t;
    struct hc_event ev;
    int have; /* ev is made and not yet put */
    int full_told, disk_told, disk_tries;
};

static void pump_init(struct pump *p, struct ag_queue *q, struct ag_gen *g,
                      const struct ag_pump_opts *o)
{
    memset(p, 0, sizeof *p);
    p->q = q;
    p->g = g;
    p->o = o;
    p->batch = o->batch ? o->batch : 1000;
    p->linger = (o->linger_ms > 0 ? o->linger_ms : 200) * 1000000;
    p->t0 = p->committed_at = hc_mono_ns();
}

/* More to do: the count not reached or an event held, and no stop asked. */
static int more(const struct pump *p)
{
    return (!p->o->count || p->made < p->o->count || p->have) && !stopping(p->o);
}

/*
 * Hold the next event when none is held, sleeping until it is due (paced: the due events come in
 * one group per linger). Returns 0 (an event held), 1 when the open txn should be committed
 * first (paced, nothing due yet: wait without the write lock), -1 when a stop came.
 */
static int next_event(struct pump *p)
{
    int64_t due, now;

    if (p->have)
        return 0;
    due = p->o->rate > 0 ? p->t0 + (int64_t)((double)p->made * 1e9 / p->o->rate) : 0;
    now = due ? hc_mono_ns() : 0;
    if (due > now && p->t)
        return 1;
    if (due > now) {
        int64_t until = due > p->committed_at + p->linger ? due : p->committed_at + p->linger;
        hc_sleep_ms((until - now + 999999) / 1000000, p->o->stop);
    }
    if (stopping(p->o))
        return -1;
    ag_gen_next(p->g, &p->ev);
    p->have = 1;
    p->made++;
    return 0;
}

/* Put the held event into the open txn (begun when there is none). Returns 0 (put),
 * HC_E_FULL (the buffer is full: still held; on_full told once), or an error (the txn is
 * aborted). */
static int put_event(struct pump *p)
{
    int rc;

    if (!p->t) {
        if ((rc = ag_queue_begin(p->q, &p->t)) != 0)
            return rc;
        p->opened = hc_mono_ns();
    }
    rc = ag_txn_put(p->t, &p->ev);
    if (rc == 0) {
        p->have = 0;
        p->held++;
    } else if (rc != HC_E_FULL) {
        ag_txn_abort(p->t);
        p->t = NULL;
    } else if (!p->full_told++ && p->o->on_full) {
        p->o->on_full(p->o->arg);
    }
    return rc;
}

/* Whether the open txn is due for its commit after a put that returned put_rc. */
static int commit_due(const struct pump *p, int put_rc)
{
    return put_rc == HC_E_FULL || p->held >= p->batch || hc_mono_ns() - p->opened > p->linger ||
           (p->o->count && p->made >= p->o->count && !p->have);
}

static void tell_disk_full(struct pump *p)
{
    if (!p->disk_told++ && p->o->on_disk_full)
        p->o->on_disk_full(p->o->arg);
}

/*
 * Commit the open txn. Returns 0 or the commit's error. A commit that failed for a full disk,
 * retried by the queue's rule (ag_queue_diskfull_retry), returns 0: the batch was never
 * accepted, and the queue learned a cap for the disk and made room under it; its events are
 * made again, so that count still counts accepted events.
 */
static int commit(struct pump *p)
{
    int rc = ag_txn_commit(p->t);

    p->t = NULL;
    p->committed_at = hc_mono_ns();
    if (ag_queue_diskfull_retry(rc, &p->disk_tries, p->o->stop)) {
        p->made -= p->held;
        p->held = 0;
        tell_disk_full(p);
        return 0;
    }
    if (rc)
        return rc;
    if (!p->disk_told && ag_queue_disk_cap(p->q)) /* learned before a commit failed */
        tell_disk_full(p);
    p->done += p->held;
    p->held = 0;
    if (p->o->on_commit)
        p->o->on_commit(p->done, p->o->arg);
    if (p->have)
        hc_sleep_ms(100, p->o->stop); /* full: give the shipper time to make room */
    else
        p->full_told = 0;
    return 0;
}

/* At the end (stop, count, or an error rc): commit the txn still open. Returns rc, or the
 * commit's error when rc is 0. */
static int finish(struct pump *p, int rc)
{
    int crc;

    if (!p->t)
        return rc;
    crc = ag_txn_commit(p->t);
    p->t = NULL;
    if (!crc) {
        p->done += p->held;
        p->held = 0;
        if (p->o->on_commit)
            p->o->on_commit(p->done, p->o->arg);
    }
    return rc ? rc : crc;
}

int ag_pump_run(struct ag_queue *q, struct ag_gen *g, const struct ag_pump_opts *o,
                uint64_t *committed)
{
    struct pump p;
    int rc = 0;

    pump_init(&p, q, g, o);
    while (!rc && more(&p)) {
        int flush = next_event(&p);
        if (flush < 0)
            break;
        if (!flush && (rc = put_event(&p)) != 0 && rc != HC_E_FULL)
            break;
        rc = flush || commit_due(&p, rc) ? commit(&p) : 0;
    }
    rc = finish(&p, rc);
    if (committed)
        *committed = p.done;
    return rc == HC_E_FULL ? 0 : rc;
}
