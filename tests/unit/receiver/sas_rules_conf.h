/*
 * sas_rules_conf.h - the receiver configuration that test_sas_rules.c and the fuzz target
 * fuzz_sas_rules.c check tokens against: the development defaults (rx_conf_dev) plus hub
 * "orders" (2 partitions), rule "listen-only" (key "listen-key", listen rights) and rule
 * "orders-send" (key "orders-key", send rights on hub orders only). Header-only.
 */
#ifndef TESTS_SAS_RULES_CONF_H
#define TESTS_SAS_RULES_CONF_H

#include <string.h>

#include "receiver/conf.h"

/* Fill c (zeroed by the caller) as above. */
static inline void sas_rules_conf_fill(struct rx_conf *c)
{
    rx_conf_dev(c);
    strcpy(c->hubs[1].name, "orders");
    c->hubs[1].partitions = 2;
    c->nhubs = 2;
    strcpy(c->rules[1].name, "listen-only");
    strcpy(c->rules[1].key, "listen-key");
    c->rules[1].rights = RX_RIGHT_LISTEN;
    strcpy(c->rules[2].name, "orders-send");
    strcpy(c->rules[2].key, "orders-key");
    c->rules[2].rights = RX_RIGHT_SEND;
    strcpy(c->rules[2].hub, "orders");
    c->nrules = 3;
}

#endif
