/*
 * fleet_int.h - what fleet.c and link.c share: a simulated device, and the link transport that
 * wraps the chosen transport to play the device's connectivity faults.
 */
#ifndef FL_FLEET_INT_H
#define FL_FLEET_INT_H

#include "agent/buffer/queue.h"
#include "agent/fleet/fleet.h"
#include "agent/ship/shipper.h"
#include "agent/source/generator.h"
#include "agent/transport/transport.h"

struct fl_dev;

/*
 * The link: a decorator over any transport (link.c). Its init takes a struct fl_link_arg as the
 * shipper's tp_arg (the inner transport and the device, alive as long as the shipper). send
 * plays the device's link: after the link went down it makes a new inner context (a new
 * connection); on a flapping link 2 % of the stored sends are reported lost (RETRY, nothing
 * acked), so the shipper sends them again and the hub gets real duplicates.
 */
struct fl_link_arg {
    const struct ag_transport *inner;
    struct fl_dev *dev;
};
extern const struct ag_transport fl_link;

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
    struct fl_link_arg link; /* its shipper's tp_arg */
};

#endif
