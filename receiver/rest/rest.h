/*
 * rest.h - the REST front end: the HTTP server (http/server.h) with the Event Hubs send API
 * (rest/send.h) mounted on it, as serve starts it (rx_frontend_rest, core/frontend.h): listening
 * on [receiver] listen. rx_rest_start also starts it without a listening socket of its own, for
 * an acceptor that serves several protocols on one port and hands the HTTP connections over
 * (rx_http_adopt).
 */
#ifndef RX_REST_H
#define RX_REST_H

#include <stdint.h>

#include "receiver/core/frontend.h"
#include "receiver/http/server.h"

struct rx_rest;

/*
 * Start the send API and its HTTP server (flags: 0, or RX_HTTP_NO_LISTEN). env's members must
 * outlive it. Returns 0 and sets *out, or a code from rx_http_start with *why a static sentence.
 */
int rx_rest_start(const struct rx_frontend_env *env, unsigned flags, struct rx_rest **out,
                  const char **why);

/* Its HTTP server: for rx_http_adopt and rx_http_port. Valid until rx_rest_stop. */
struct rx_http *rx_rest_http(const struct rx_rest *r);

/*
 * Stop (as rx_http_stop: answer what the partitions still write, waiting up to drain_ms) and
 * free. NULL is ok.
 */
void rx_rest_stop(struct rx_rest *r, int64_t drain_ms);

#endif
