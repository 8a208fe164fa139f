/*
 * route.h - what a request asks for, from its method, path and Content-Type (pure).
 *
 *   GET  /healthz                                    health
 *   GET  /metrics                                    Prometheus text
 *   POST /{hub}/messages                             send (single or batch)
 *   POST /{hub}/partitions/{id}/messages             send to partition id
 *   POST /{hub}/publishers/{name}/messages           send as publisher name (its partition key)
 *   GET  /api/v1/...                                 the JSON API (receiver/api/api.h)
 *   GET  /, /index.html, /static/{name}              the dashboard (receiver/web/web.h)
 *
 * A send path wins over the API and dashboard paths (a hub may be named "api" or "static").
 * The query string is not part of path (libmicrohttpd passes it apart); a trailing '/' is
 * allowed.
 */
#ifndef RX_ROUTE_H
#define RX_ROUTE_H

#include <stddef.h>

enum rx_route_kind {
    RX_ROUTE_NONE = 0, /* no such resource: 404 */
    RX_ROUTE_HEALTH,
    RX_ROUTE_METRICS,
    RX_ROUTE_SEND,
    RX_ROUTE_API,
    RX_ROUTE_WEB,
};

#define RX_PUBLISHER_MAX 128

struct rx_route {
    enum rx_route_kind kind;
    const char *hub; /* points into path; hub_len bytes */
    size_t hub_len;
    int partition;         /* -1 unless /partitions/{id} */
    const char *publisher; /* NULL unless /publishers/{name}; points into path */
    size_t publisher_len;
};

/*
 * Route path. Returns the kind (also stored in r->kind). A partition id that is not a decimal
 * number below 100000, or a publisher name that is empty, longer than RX_PUBLISHER_MAX or has
 * bytes outside printable ASCII, gives RX_ROUTE_NONE.
 */
enum rx_route_kind rx_route_parse(const char *path, struct rx_route *r);

enum rx_ctype {
    RX_CT_BATCH,  /* application/vnd.microsoft.servicebus.json */
    RX_CT_TEXT,   /* one event; declared as text: its body must be UTF-8 */
    RX_CT_BINARY, /* one event; any bytes (application/octet-stream, or no Content-Type) */
    RX_CT_BAD,    /* not something an event can be sent as (forms, multipart, a bad charset) */
};

/*
 * Classify a Content-Type header value (NULL when absent). Media types and parameter names are
 * case-insensitive. A batch with a charset other than utf-8, a form or multipart type, or a value
 * without a '/' is RX_CT_BAD; text in a charset other than utf-8/us-ascii is RX_CT_BINARY.
 */
enum rx_ctype rx_content_type(const char *value);

#endif
