/*
 * https_conf.h - settings of the Event Hubs REST transport, and the pure parts of https.c.
 *
 * https_conf.c turns settings (key/value text from the INI file or the command line) into a
 * struct ag_https_conf, without I/O. https.c does the I/O (libcurl) and fills ag_transport_https
 * (agent/transport/transport.h). The functions at the end of this header are the pure pieces of
 * https.c (body format, size accounting, status mapping, Retry-After), exposed for unit tests.
 *
 * Settings (ag_https_conf_set): those of every Event Hubs transport (hubconf.h:
 * connection_string, hub, ca_file, connect_timeout, timeout, token_ttl, token_renew, tier,
 * max_batch_bytes) and
 *   proxy              an HTTP proxy, "http://[user:password@]host:port" (the hub is reached
 *                      through a CONNECT tunnel); "none": no proxy whatever the environment.
 *                      Default: the environment's HTTPS_PROXY / https_proxy (http_proxy for an
 *                      http:// hub), as curl reads them
 *   no_proxy           hosts reached without the proxy, comma-separated ("localhost,.lan");
 *                      default: the environment's NO_PROXY / no_proxy
 * ca_file, for this transport, is the only CA bundle trusted (the system's is not used then).
 */
#ifndef AG_HTTPS_CONF_H
#define AG_HTTPS_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "agent/buffer/queue.h"
#include "agent/transport/hubconf.h"
#include "agent/transport/transport.h"
#include "common/buf.h"

#define AG_HTTPS_CONTENT_TYPE "application/vnd.microsoft.servicebus.json"
#define AG_HTTPS_QUERY        "?timeout=60&api-version=2014-01"

/*
 * The transport's configuration: the shared settings (hub), its own, and what finish derives
 * (url and below).
 */
struct ag_https_conf {
    struct ag_hub_conf hub;
    char *proxy;    /* NULL: the environment's; "" for "none" */
    char *no_proxy; /* NULL: the environment's */

    char *url;      /* POST target: {scheme}://{host}[:port]/{hub}/messages?timeout=60&… */
    char *audience; /* what tokens are signed for: {scheme}://{host}/{hub}, lower case */
};

/* Defaults, no strings. Free with ag_https_conf_free. */
void ag_https_conf_default(struct ag_https_conf *c);

/*
 * Apply one setting (keys above; case-insensitive). Returns 0; HC_E_NOTFOUND for an unknown key;
 * HC_E_PARSE or HC_E_INVAL for a bad value; -ENOMEM. On failure *why (when not NULL) is a static
 * sentence naming the problem, and c is unchanged.
 */
int ag_https_conf_set(struct ag_https_conf *c, const char *key, const char *value,
                      const char **why);

/*
 * Check the settings together and derive the hub's (hubconf.h), url and audience. Returns 0, or
 * a code with *why as for ag_hub_conf_finish.
 */
int ag_https_conf_finish(struct ag_https_conf *c, const char **why);

/* Release the strings and wipe the secrets; accepts NULL. c may be reused after
 * ag_https_conf_default. */
void ag_https_conf_free(struct ag_https_conf *c);

/* ---- Pure parts of https.c ---------------------------------------------------------------- */

/*
 * The batch body of DESIGN.md, one object per record, in order:
 *   [{"Body":"<rec->json as a JSON string>","UserProperties":{"event_id":"<uuid>",
 *     "device_id":"…","kind":"…","schema":N},"BrokerProperties":{"PartitionKey":"<device_id>"}},…]
 * No spaces. ag_https_record_size(rec) is exactly what one record adds (its object plus the one
 * byte before it: '[' for the first, ',' for the others); AG_HTTPS_BATCH_OVERHEAD is the closing
 * ']'. Returns 0 or -ENOMEM (out left as it was).
 */
int ag_https_format(const struct ag_record *const *recs, size_t n, struct hc_buf *out);
size_t ag_https_record_size(const struct ag_record *rec);
#define AG_HTTPS_BATCH_OVERHEAD 1

/* One record's object preceded by sep ('[' or ','): what ag_https_format appends for it. */
int ag_https_format_one(const struct ag_record *rec, char sep, struct hc_buf *out);

/*
 * Map an HTTP status to a result: 200/201 OK; 408, 410, 429, 5xx RETRY; 401/403 RETRY with
 * AG_WHY_AUTH; 400/413 REJECT with AG_WHY_SIZE; other 4xx REJECT (AG_WHY_REFUSED); anything else
 * (1xx, 3xx) RETRY (AG_WHY_SERVER).
 */
enum ag_send_result ag_https_status_result(int status, enum ag_send_why *why);

/*
 * A Retry-After value: delay-seconds ("120") or an HTTP-date (IMF-fixdate
 * "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 or asctime form), relative to now_ms.
 * Returns the delay in ms (0 for a date in the past), or -1 when value is neither.
 */
int64_t ag_https_retry_after_ms(const char *value, int64_t now_ms);

/* The retry wishes of one answer, from its header lines. */
#define AG_HTTPS_HDR_MAX 64 /* a kept header value, NUL included */
struct ag_https_wish {
    char retry_after[AG_HTTPS_HDR_MAX];    /* Retry-After as sent, "" when absent */
    char retry_after_ms[AG_HTTPS_HDR_MAX]; /* retry-after-ms or x-ms-retry-after-ms */
};

/*
 * One header line of an answer as curl hands it over: line[0..len), not NUL-terminated, with its
 * CRLF. A status line ("HTTP/...": a new answer, after a 100 or a CONNECT) clears w and returns 1;
 * Retry-After, retry-after-ms and x-ms-retry-after-ms (names case-insensitive) are kept in w,
 * trimmed and cut to AG_HTTPS_HDR_MAX - 1 bytes; other lines are ignored. Returns 0 but for a
 * status line.
 */
int ag_https_header_line(struct ag_https_wish *w, const char *line, size_t len);

/*
 * The server's wish in ms: retry-after-ms first (a whole number of milliseconds, >= 0), else
 * Retry-After (ag_https_retry_after_ms at now_ms); -1 when neither says one.
 */
int64_t ag_https_wish_ms(const struct ag_https_wish *w, int64_t now_ms);

#endif
