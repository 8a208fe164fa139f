/*
 * frontend.h - what `serve` starts: a list of front ends, each translating one protocol to the
 * hub core (REST on libmicrohttpd today; AMQP 1.0 and an MQTT subscription plug in the same way).
 *
 * A front end is a `const struct rx_frontend` of function pointers with named fields, found in
 * serve.c's list. serve starts them in order after the core is open and stops them in reverse
 * order before the core closes, so a front end may submit from its start until its stop returns.
 */
#ifndef RX_FRONTEND_H
#define RX_FRONTEND_H

#include <stdint.h>
#include <stdio.h>

#include "receiver/api/api.h"
#include "receiver/conf.h"
#include "receiver/core/core.h"
#include "receiver/metrics.h"

/* What a front end gets at start; everything outlives the front end. */
struct rx_frontend_env {
    const struct rx_conf *c;
    struct rx_core *core;
    struct rx_metrics *m; /* add /metrics lines with rx_metrics_add_source */
    struct rx_api *api;   /* the JSON API over the lake, NULL without --pg */
};

struct rx_frontend {
    const char *name; /* "rest", "amqp", "mqtt" */

    /*
     * Start serving. Returns 0 and sets *ctx; 1 when the configuration does not ask for this
     * front end (nothing started, *ctx NULL); or a negative code with *why a sentence a user
     * can act on (static, or in the front end's own memory until the process exits).
     */
    int (*start)(const struct rx_frontend_env *env, void **ctx, const char **why);

    /* Print where it listens (and how to connect) for the start-up banner. May be NULL. */
    void (*banner)(void *ctx, FILE *out);

    /*
     * Stop: take nothing new, answer what the core still writes (waiting up to drain_ms),
     * release everything. ctx NULL is ok.
     */
    void (*stop)(void *ctx, int64_t drain_ms);
};

/* The Event Hubs REST send API, /metrics, /healthz, the JSON API and the dashboard. */
extern const struct rx_frontend rx_frontend_rest;
/* A subscription to an MQTT broker ([mqtt], `serve --mqtt URL`): receiver/mqtt/mqtt.h. */
extern const struct rx_frontend rx_frontend_mqtt;

#endif
