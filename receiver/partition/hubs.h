/*
 * hubs.h - the namespace at run time: each configured event hub with its open partitions.
 */
#ifndef RX_HUBS_H
#define RX_HUBS_H

#include <stdatomic.h>

#include "common/buf.h"
#include "receiver/capture/recover.h"
#include "receiver/conf.h"
#include "receiver/metrics.h"
#include "receiver/partition/partition.h"

struct rx_hub {
    const struct rx_hub_conf *conf; /* borrowed from the rx_conf given to rx_hubs_open */
    int nparts;
    struct rx_partition **parts;
    atomic_uint rr; /* round-robin for events without a partition key */
};

struct rx_hubs {
    struct rx_hub *hub; /* in the order of c->hubs: hub[i] is c->hubs[i] */
    int n;
};

/*
 * Open every partition of every hub of c (recovering their folders; note gets what recovery did).
 * c must outlive the result. Returns 0 and sets *out, or a code from rx_partition_open with *why
 * naming the partition (static buffer of the caller: why_buf, why_cap).
 */
int rx_hubs_open(const struct rx_conf *c, struct rx_metrics *m, rx_recover_note_fn note, void *ctx,
                 struct rx_hubs **out, char *why_buf, size_t why_cap);

/* Close every partition (finishing queued jobs, closing files), free. NULL is ok. */
void rx_hubs_close(struct rx_hubs *h);

/* The partition a round-robin event of hub goes to next. */
int rx_hub_next_rr(struct rx_hub *hub);

/* Per-partition gauges (next sequence number) in Prometheus text. Returns 0 or -ENOMEM. */
int rx_hubs_render(struct rx_hubs *h, struct hc_buf *out);

#endif
