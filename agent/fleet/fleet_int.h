/*
 * fleet_int.h - what fleet.c and link.c share: a simulated device, and the link transport that
 * wraps the https transport to play the device's connectivity faults.
 */
#ifndef FL_FLEET_INT_H
#define FL_FLEET_INT_H

#include "agent/buffer/queue.h"
#include "agent/fleet/fleet.h"
#include "agent/ship/shipper.h"
#include "agent/source/generator.h"
#include "agent/transport/transport.h"

/* One simulated device. Owned and used by one worker thread. */
struct fl_dev {
    struct fl_plan plan;
    char *dir; /* its buffer folder (owned) */
    struct ag_queue *q;
    struct ag_gen *g;
    struct ag_shipper *s;
    double credit;      /* events due but not generated yet */
    int64_t ship_at_ns; /* no shipper step before (hc_mono_ns) */
    int link_was_up;    /* the link was up at the last look */
    int drop_conn;      /* the link went down: the next send connects anew */
    uint64_t shipped;   /* this run, as the shipper reported it */
    uint64_t dead;
};

/*
 * The link transport: ag_transport_https with init, send and close wrapped (fl__link_init fills
 * it). Its init takes the device from fl__link_device (set by the thread that calls
 * ag_shipper_new, just before). send plays the device's link: after the link went down it
 * reconnects; on a flapping link 2 % of the accepted batches are reported lost (RETRY).
 */
extern struct ag_transport fl__link;
extern _Thread_local struct fl_dev *fl__link_device;
void fl__link_init(void);

#endif
