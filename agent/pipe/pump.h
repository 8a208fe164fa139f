/*
 * pump.h - the generator into the buffer: paced, group-committed, waiting when the buffer is full.
 *
 * Paced (rate > 0), the write transaction is never held while waiting: the events due are put
 * and committed together, then the pump sleeps until the next is due, and at least linger_ms
 * after the last commit. So a shipper's acks on the same buffer never wait for the pump's
 * pacing, and commits stay at about one per linger_ms.
 */
#ifndef AG_PUMP_H
#define AG_PUMP_H

#include <stdint.h>

#include "agent/buffer/queue.h"
#include "agent/source/generator.h"

struct ag_pump_opts {
    double rate;        /* events per second; 0 = as fast as possible */
    uint64_t count;     /* stop after this many; 0 = until *stop */
    uint64_t batch;     /* events per commit at most; 0 = 1000 */
    int64_t linger_ms;  /* commit at least this often; 0 = 200 */
    volatile int *stop; /* non-zero: commit what is held and return */
    /* After each commit (committed = total so far; while the buffer is full the pump commits
     * and calls it every 100 ms with the same total); once each time the buffer turns full
     * (again after room was made); once when the queue first keeps to a cap for a full disk
     * (may be NULL). */
    void (*on_commit)(uint64_t committed, void *arg);
    void (*on_full)(void *arg);
    void (*on_disk_full)(void *arg);
    void *arg;
};

/* Sleep until event i of a stream paced at rate events/s that began at t0_ns (hc_mono_ns)
 * is due; returns at once when rate <= 0 or when *stop (may be NULL) is set. */
void ag_pace(double rate, int64_t t0_ns, uint64_t i, volatile int *stop);

/*
 * Generate into q until count or *stop. *committed (may be NULL) gets the number of events
 * committed. Returns 0, or the error of a commit/put: what was committed before stays. A full
 * buffer (policy block) is waited out, holding the next event. A commit that fails for a full
 * disk (HC_E_DISKFULL: the queue then keeps to a cap for the disk, queue.h) loses only its own
 * batch, never accepted: generating goes on (and count still counts committed events, less
 * drops); HC_E_DISKFULL is returned only after AG_QUEUE_DISKFULL_TRIES such commits in a row
 * (ag_queue_diskfull_retry).
 */
int ag_pump_run(struct ag_queue *q, struct ag_gen *g, const struct ag_pump_opts *o,
                uint64_t *committed);

#endif
