/*
 * transport.h - the interface every transport (https, amqp, mqtt) fills in.
 *
 * A transport is a `const struct ag_transport` of function pointers with named fields, as Fluent
 * Bit's output plugins are. The shipper owns the loop; a transport only turns records into one
 * request body (format, pure: no I/O, unit-tested without a network) and puts a body on the wire
 * (send). The shipper builds a batch by summing record_size() so the body stays under the limit,
 * formats it, sends it, and decides what the result means (DESIGN.md "Shipper"):
 *
 *   AG_SEND_OK      the hub accepted every event of the body: advance the cursor.
 *   AG_SEND_RETRY   nothing is known to be stored: send the same events again after a back-off
 *                   (honour retry_after_ms when it is >= 0). why == AG_WHY_AUTH: renew the token
 *                   once (renew_auth) and retry; refused again: pause and report.
 *   AG_SEND_REJECT  the hub refused the body and will refuse it again. why == AG_WHY_SIZE
 *                   (400/413): split the batch to find the offending event (dead-letter it, ship
 *                   the rest). why == AG_WHY_REFUSED (404 unknown hub, ...): the request as a whole
 *                   is refused, not one event: pause and report, do not dead-letter.
 *
 * Threads: one context is used by one thread at a time. format and record_size are pure and may
 * be called from any thread.
 */
#ifndef AG_TRANSPORT_H
#define AG_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "agent/buffer/queue.h"
#include "common/buf.h"

enum ag_send_result {
    AG_SEND_OK = 0,
    AG_SEND_RETRY = 1,
    AG_SEND_REJECT = 2,
};

/* Why a send did not succeed (AG_WHY_NONE when it did). */
enum ag_send_why {
    AG_WHY_NONE = 0,
    AG_WHY_NETWORK,   /* RETRY: no answer: refused, reset, DNS, timeout */
    AG_WHY_TLS,       /* RETRY: TLS handshake or certificate check failed (likely configuration) */
    AG_WHY_THROTTLED, /* RETRY: 429, or 503 server busy */
    AG_WHY_SERVER,    /* RETRY: other 5xx, 408, 410 (hub not ready) */
    AG_WHY_AUTH,      /* RETRY: 401/403, the token or the policy was refused */
    AG_WHY_SIZE,      /* REJECT: 400/413, the body or one of its events (size or format) */
    AG_WHY_REFUSED,   /* REJECT: any other 4xx: the request as a whole */
    AG_WHY_INTERNAL,  /* RETRY: out of memory or a local failure */
};

#define AG_SEND_ERROR_MAX 320

/* What a send tells the shipper. Filled completely by every send. */
struct ag_send_status {
    enum ag_send_result result;
    enum ag_send_why why;
    int http_status;               /* the HTTP status, 0 when there was no response */
    int64_t retry_after_ms;        /* the server's Retry-After, -1 when it gave none */
    char error[AG_SEND_ERROR_MAX]; /* "" on OK, else a sentence a user can act on */
};

/* One configuration setting, as read from the agent's INI section or the command line. */
struct ag_kv {
    const char *key;
    const char *value;
};

/* What the shipper must respect when building batches for this context. */
struct ag_transport_limits {
    size_t max_batch_bytes; /* a body (batch_overhead + the record_size sum) must not exceed it */
};

struct ag_transport {
    const char *name; /* "https", ... */

    /*
     * Read the settings conf[0..n) (the keys each transport documents; unknown keys are an
     * error) and prepare to send. No connection is made yet. On success returns 0 and *ctx owns
     * the context (close it with close). On failure returns a negative code, writes a sentence
     * a user can act on into err (errlen bytes) and *ctx is NULL.
     */
    int (*init)(const struct ag_kv *conf, size_t n, void **ctx, char *err, size_t errlen);

    /*
     * Send body[0..len) (a body made by format) and wait for the answer. Fills *st completely
     * and returns st->result. Connections are kept and reused between sends.
     */
    enum ag_send_result (*send)(void *ctx, const char *body, size_t len, struct ag_send_status *st);

    /* Release the context; accepts NULL. */
    void (*close)(void *ctx);

    /*
     * Pure: append the body for recs[0..n) (n >= 1) to out. The appended length is exactly
     * batch_overhead + the sum of record_size(recs[i]). Returns 0, or -ENOMEM (out is then left
     * as it was).
     */
    int (*format)(const struct ag_record *const *recs, size_t n, struct hc_buf *out);

    /* Pure: the exact number of bytes rec adds to a body made by format. */
    size_t (*record_size)(const struct ag_record *rec);

    /* The bytes a body has beyond its records' record_size sum (its framing). */
    size_t batch_overhead;

    /*
     * Get fresh credentials now (the AG_WHY_AUTH path), whatever the current ones' age.
     * Returns 0, or HC_E_AUTH when the credentials cannot be renewed (a prebuilt token).
     * NULL when the transport has no credentials to renew.
     */
    int (*renew_auth)(void *ctx);

    /* Fill *lim for this context (from its configuration). */
    void (*limits)(void *ctx, struct ag_transport_limits *lim);
};

/* Event Hubs REST over HTTPS (agent/transport/https), built when HUBCAP_WITH_HTTPS is set. */
extern const struct ag_transport ag_transport_https;

/* "ok", "retry", "reject". Static. (Inline: the interface has no .c of its own.) */
static inline const char *ag_send_result_name(enum ag_send_result r)
{
    return r == AG_SEND_OK ? "ok" : r == AG_SEND_RETRY ? "retry" : "reject";
}

#endif
