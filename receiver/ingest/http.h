/*
 * http.h - the Event Hubs REST endpoint on libmicrohttpd (routes: ingest/route.h).
 *
 * A send is checked as soon as its headers are in (hub, Content-Type, Content-Length against
 * max_publication, SAS token), so a refused request costs no body buffering. Its body is then
 * parsed (ingest/batch.h) and submitted to the hub core (core/core.h), and the connection is
 * suspended until every partition has its events on disk: then 201. Nothing of a request that
 * fails a check reaches a partition.
 *
 * GET /api/... goes to the JSON API (api/api.h) and GET / and /static/... to the dashboard
 * (web/web.h); both are answered without a SAS token (read-only, as is /metrics).
 *
 * Answers: 201 sent; 400 malformed (JSON, UTF-8, Content-Type, partition key...); 401 token
 * refused; 404 no such hub, partition or path; 405 wrong method; 413 body over max_publication;
 * 503 (Retry-After) the receiver is full (max_inflight), stopping, or could not write.
 * Error bodies are Event Hubs-like XML: <Error><Code>401</Code><Detail>…</Detail></Error>.
 */
#ifndef RX_HTTP_H
#define RX_HTTP_H

#include <stdint.h>

#include "receiver/api/api.h"
#include "receiver/conf.h"
#include "receiver/core/core.h"
#include "receiver/core/frontend.h"
#include "receiver/metrics.h"

struct rx_http;

/*
 * Listen on c->listen_addr:c->port (HTTPS when c->tls_cert is set) with c->http_threads threads.
 * api answers /api/... (NULL: 503 "start serve with --pg"); /metrics renders m (and its
 * sources). c, core, m and api must outlive the server. Returns 0 and sets *out, or
 * -errno / HC_E_INVAL with *why a static sentence.
 */
int rx_http_start(const struct rx_conf *c, struct rx_core *core, struct rx_metrics *m,
                  struct rx_api *api, struct rx_http **out, const char **why);

/* The port listened on (useful with port 0). */
int rx_http_port(const struct rx_http *h);

/*
 * Stop: accept no new connection, answer new requests 503, wait up to drain_ms for the sends
 * already handed to partitions to be answered, then close every connection and free h.
 * The partitions must still be running. NULL is ok.
 */
void rx_http_stop(struct rx_http *h, int64_t drain_ms);

#endif
