/*
 * address.h - link addresses and CBS audiences in every form Azure's clients write them (pure).
 *
 *   events                          JavaScript sender          → hub "events"
 *   events/Partitions/2             JavaScript, to a partition → hub, partition 2
 *   /events, /events/Partitions/2   .NET
 *   amqps://host[:port]/events...   Python (also amqp://, sb://: CBS audiences)
 *   events/ConsumerGroups/$Default/Partitions/0   a receiver's source
 *   events/$management, $management, $cbs         the request nodes
 *   sb://host/                      a namespace audience (covers every hub)
 *
 * "Partitions" and "ConsumerGroups" are matched case-insensitively; hub names are compared
 * case-insensitively by the core (rx_core_hub). The results point into the input.
 */
#ifndef RX_AMQP_ADDRESS_H
#define RX_AMQP_ADDRESS_H

#include <stddef.h>

enum rx_amqp_node {
    RX_AN_HUB,        /* hub, with partition -1 or N */
    RX_AN_CONSUMER,   /* hub/ConsumerGroups/cg[/Partitions/N] */
    RX_AN_MANAGEMENT, /* $management or hub/$management */
    RX_AN_CBS,        /* $cbs */
    RX_AN_NAMESPACE,  /* no path: the namespace (an audience) */
};

struct rx_amqp_addr {
    enum rx_amqp_node node;
    const char *host; /* the URI's host[:port], NULL for a bare path */
    size_t host_len;
    const char *hub; /* NULL for $cbs, $management and the namespace */
    size_t hub_len;
    const char *cg; /* consumer group, NULL unless RX_AN_CONSUMER */
    size_t cg_len;
    int partition;    /* -1 when none */
    const char *path; /* from the first '/' after the host (or the whole bare path) */
    size_t path_len;
};

/*
 * Parse s[0..n). Returns 0, or HC_E_PARSE: empty, a scheme other than amqp, amqps, sb, a path
 * of another shape, a partition that is not a number from 0 to 1023 written plainly.
 */
int rx_amqp_addr_parse(const char *s, size_t n, struct rx_amqp_addr *a);

#endif
