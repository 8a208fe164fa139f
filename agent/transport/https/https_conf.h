/*
 * https_conf.h - settings of the Event Hubs REST transport, and the pure parts of https.c.
 *
 * https_conf.c turns settings (key/value text from the INI file or the command line) into a
 * struct ag_https_conf, without I/O. https.c does the I/O and fills ag_transport_https
 * (agent/transport/transport.h). The functions at the end of this header are the pure pieces of
 * https.c (body format, size accounting, status mapping, Retry-After), exposed for unit tests.
 *
 * Settings (ag_https_conf_set):
 *   connection_string  as Azure prints it (common/connstr.h); required
 *   hub                the event hub name, when the connection string has no EntityPath
 *   ca_file            PEM CA bundle to verify the hub's certificate; default: the system's
 *   connect_timeout    duration (common/hctime.h), default 10s
 *   timeout            whole request, default 70s (the hub's own timeout is 60 s)
 *   token_ttl          lifetime of a SAS token, default 1h
 *   token_renew        renew a token when less than this is left, default 5m
 *   tier               basic | standard | premium | dedicated: sets the default max_batch_bytes
 *   max_batch_bytes    size (e.g. "1M"), default 1048576 (262144 for the basic tier)
 */
#ifndef AG_HTTPS_CONF_H
#define AG_HTTPS_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "agent/buffer/queue.h"
#include "agent/transport/transport.h"
#include "common/buf.h"
#include "common/connstr.h"

#define AG_HTTPS_BATCH_STANDARD 1048576 /* 1 MB: Standard, Premium, Dedicated */
#define AG_HTTPS_BATCH_BASIC    262144  /* 256 KB: Basic */
#define AG_HTTPS_BATCH_MIN      1024
#define AG_HTTPS_BATCH_MAX      (64u * 1024 * 1024)

#define AG_HTTPS_CONTENT_TYPE "application/vnd.microsoft.servicebus.json"
#define AG_HTTPS_QUERY        "?timeout=60&api-version=2014-01"

/*
 * The transport's configuration. Fields above `cs` are settings (strings owned by the struct);
 * `cs` and below are derived by ag_https_conf_finish.
 */
struct ag_https_conf {
    char *connection_string;
    char *hub;
    char *ca_file;
    int64_t connect_timeout_ms;
    int64_t timeout_ms;
    int64_t token_ttl_ms;
    int64_t token_renew_ms;
    uint64_t max_batch_bytes; /* 0 until finish: then the setting, or the tier's default */
    int basic_tier;

    struct hc_connstr cs; /* the parsed connection string */
    char *url;            /* POST target: {scheme}://{host}[:port]/{hub}/messages?timeout=60&… */
    char *path;           /* the same without {scheme}://{host}[:port]: /{hub}/messages?… */
    char *audience;       /* what tokens are signed for: {scheme}://{host}/{hub}, lower case */
    char *host_port;      /* "host:port", for messages */
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
 * Check the settings together and derive cs, url, audience, host_port and max_batch_bytes.
 * Returns 0, or a code with *why as for hc_connstr_parse ("no connection string: pass
 * --connection-string or set HUBCAP_CONNECTION_STRING", "no EntityPath: pass the event hub name",
 * "token_renew must be shorter than token_ttl", ...).
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

#endif
