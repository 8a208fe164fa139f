#include "receiver/partition/hubs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"

/* A record holds at most the publication (body and properties come from it) plus its framing. */
#define RX_RECORD_OVERHEAD (128u * 1024)

static int hub_open(const struct rx_conf *c, int i, struct rx_metrics *m, rx_recover_note_fn note,
                    void *ctx, struct rx_hub *hub, char *why_buf, size_t why_cap)
{
    struct rx_partition_opts o = {c->capture_dir,
                                  c->ns,
                                  c->hubs[i].name,
                                  0,
                                  c->window_ms,
                                  c->window_bytes,
                                  c->skip_empty,
                                  c->codec,
                                  c->max_publication + RX_RECORD_OVERHEAD,
                                  m};
    hub->conf = &c->hubs[i];
    hub->parts = calloc((size_t)c->hubs[i].partitions, sizeof *hub->parts);
    if (!hub->parts)
        return -ENOMEM;
    for (int p = 0; p < c->hubs[i].partitions; p++) {
        int rc;
        o.pid = p;
        if ((rc = rx_partition_open(&o, note, ctx, &hub->parts[p], NULL))) {
            snprintf(why_buf, why_cap, "hub %s partition %d: %s", c->hubs[i].name, p,
                     hc_strerror(rc));
            return rc;
        }
        hub->nparts++;
    }
    return 0;
}

int rx_hubs_open(const struct rx_conf *c, struct rx_metrics *m, rx_recover_note_fn note, void *ctx,
                 struct rx_hubs **out, char *why_buf, size_t why_cap)
{
    struct rx_hubs *h = calloc(1, sizeof *h);
    int rc = -ENOMEM;
    if (!h || !(h->hub = calloc((size_t)c->nhubs, sizeof *h->hub)))
        goto out_close;
    for (int i = 0; i < c->nhubs; i++) {
        h->n++;
        if ((rc = hub_open(c, i, m, note, ctx, &h->hub[i], why_buf, why_cap)))
            goto out_close;
    }
    *out = h;
    return 0;
out_close:
    if (rc == -ENOMEM)
        snprintf(why_buf, why_cap, "out of memory");
    rx_hubs_close(h);
    return rc;
}

void rx_hubs_close(struct rx_hubs *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->n; i++) {
        for (int p = 0; p < h->hub[i].nparts; p++)
            rx_partition_close(h->hub[i].parts[p]);
        free(h->hub[i].parts);
    }
    free(h->hub);
    free(h);
}

int rx_hub_next_rr(struct rx_hub *hub)
{
    return (int)(atomic_fetch_add_explicit(&hub->rr, 1, memory_order_relaxed) %
                 (unsigned)hub->nparts);
}

int rx_hubs_render(struct rx_hubs *h, struct hc_buf *out)
{
    if (hc_buf_adds(out, "# HELP hubcap_receiver_partition_next_sequence The SequenceNumber the "
                         "next event of a partition gets.\n"
                         "# TYPE hubcap_receiver_partition_next_sequence gauge\n"))
        return -ENOMEM;
    for (int i = 0; i < h->n; i++)
        for (int p = 0; p < h->hub[i].nparts; p++)
            if (hc_buf_addf(out,
                            "hubcap_receiver_partition_next_sequence{hub=\"%s\",partition=\"%d\"}"
                            " %lld\n",
                            h->hub[i].conf->name, p,
                            (long long)rx_partition_next_seq(h->hub[i].parts[p])))
                return -ENOMEM;
    return 0;
}
