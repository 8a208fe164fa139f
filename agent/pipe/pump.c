#include "agent/pipe/pump.h"

#include "common/error.h"
#include "common/hctime.h"

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

int ag_pump_run(struct ag_queue *q, struct ag_gen *g, const struct ag_pump_opts *o,
                uint64_t *committed)
{
    uint64_t batch = o->batch ? o->batch : 1000, made = 0, held = 0, done = 0;
    int64_t linger = (o->linger_ms > 0 ? o->linger_ms : 200) * 1000000;
    int64_t t0 = hc_mono_ns(), opened = 0, committed_at = t0;
    struct ag_txn *t = NULL;
    struct hc_event ev;
    int rc = 0, have = 0, full_told = 0, disk_told = 0, disk_tries = 0;

    while ((!o->count || made < o->count || have) && !stopping(o)) {
        int flush = 0; /* paced and nothing due: commit now, wait without the write lock */
        if (!have) {
            int64_t due = o->rate > 0 ? t0 + (int64_t)((double)made * 1e9 / o->rate) : 0;
            int64_t now = due ? hc_mono_ns() : 0;
            if (due > now && t) {
                flush = 1;
            } else {
                if (due > now) { /* the due events come in one group per linger */
                    int64_t until = due > committed_at + linger ? due : committed_at + linger;
                    hc_sleep_ms((until - now + 999999) / 1000000, o->stop);
                }
                if (stopping(o))
                    break;
                ag_gen_next(g, &ev);
                have = 1;
                made++;
            }
        }
        if (!flush) {
            if (!t) {
                if ((rc = ag_queue_begin(q, &t)) != 0)
                    break;
                opened = hc_mono_ns();
            }
            rc = ag_txn_put(t, &ev);
            if (rc == 0) {
                have = 0;
                held++;
            } else if (rc != HC_E_FULL) {
                ag_txn_abort(t);
                t = NULL;
                break;
            } else if (!full_told++ && o->on_full) {
                o->on_full(o->arg);
            }
        }
        if (flush || rc == HC_E_FULL || held >= batch || hc_mono_ns() - opened > linger ||
            (o->count && made >= o->count && !have)) {
            rc = ag_txn_commit(t);
            t = NULL;
            committed_at = hc_mono_ns();
            if (ag_queue_diskfull_retry(rc, &disk_tries, o->stop)) {
                /*
                 * The batch was never accepted; the queue learned a cap for the disk and made
                 * room under it: go on (the events of the batch are made again, so that count
                 * still counts accepted events).
                 */
                made -= held;
                held = 0;
                if (!disk_told++ && o->on_disk_full)
                    o->on_disk_full(o->arg);
                rc = 0;
                continue;
            }
            if (rc)
                break;
            if (!disk_told && ag_queue_disk_cap(q)) { /* learned before a commit failed */
                disk_told = 1;
                if (o->on_disk_full)
                    o->on_disk_full(o->arg);
            }
            done += held;
            held = 0;
            if (o->on_commit)
                o->on_commit(done, o->arg);
            if (have)
                hc_sleep_ms(100, o->stop); /* full: give the shipper time to make room */
            else
                full_told = 0;
        }
    }
    if (t) {
        int crc = ag_txn_commit(t);
        if (!crc) {
            done += held;
            if (o->on_commit)
                o->on_commit(done, o->arg);
        } else if (!rc) {
            rc = crc;
        }
    }
    if (committed)
        *committed = done;
    return rc == HC_E_FULL ? 0 : rc;
}
