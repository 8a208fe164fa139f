/*
 * send.h - the Event Hubs REST send API, as the send handler of the HTTP server
 * (http/server.h): check, body, parse, submit, answer.
 *
 *   POST /{hub}/messages                      a batch or a single event
 *   POST /{hub}/partitions/{id}/messages      to partition id
 *   POST /{hub}/publishers/{name}/messages    as publisher name (its partition, and a property)
 *
 * A send is checked as soon as its headers are in (hub, partition, SAS token with Send, Content-
 * Type, Content-Length against max_publication, the in-flight budget), so a refused request
 * costs no body buffering. Its body is then parsed (rest/batch.h) and submitted to the hub core
 * (core/core.h), and the connection is suspended until every partition has its events on disk:
 * then 201. Nothing of a request that fails a check reaches a partition.
 *
 * Memory: the body (its declared length, or as it grows when chunked), then the parsed batch
 * (rx_batch_bytes: its arena and arrays, which roughly double a body while both exist) are
 * charged against max_inflight (rx_core_charge) before they are held, and given back when the
 * request ends; past the budget: 503.
 *
 * Answers: 201 sent; 400 malformed (JSON, UTF-8, Content-Type, partition key...); 401 token
 * refused; 404 no such hub or partition; 405 not POST; 413 body over max_publication; 503
 * (Retry-After) the receiver is full (max_inflight), stopping, or could not write the events
 * (a full disk: the client sends again later).
 */
#ifndef RX_REST_SEND_H
#define RX_REST_SEND_H

#include <stdint.h>

#include "receiver/conf.h"
#include "receiver/core/core.h"
#include "receiver/http/server.h"
#include "receiver/metrics.h"

struct rx_send_api;

/* The handler's functions (ctx: a struct rx_send_api). */
extern const struct rx_http_handler rx_send_handler;

/*
 * The send API's state for one HTTP server: c, core and m must outlive it. NULL when out of
 * memory.
 */
struct rx_send_api *rx_send_api_new(const struct rx_conf *c, struct rx_core *core,
                                    struct rx_metrics *m);

/*
 * Free a. Only once rx_send_handler.drain(a) is 0 (no send held by a partition), else a is left
 * to them (the process exits). NULL is ok.
 */
void rx_send_api_free(struct rx_send_api *a);

#endif
