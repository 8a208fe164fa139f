/*
 * transport.h - the interface every transport (https, amqp, mqtt) fills in, and the registry
 * that finds them by name.
 *
 * A transport is a `const struct ag_transport` of function pointers with named fields, as Fluent
 * Bit's output plugins are. The shipper owns the loop: it takes the oldest queued records, keeps
 * a batch within the transport's limits (summing record_size), hands the records to send, and
 * decides what the answer means (DESIGN.md "Shipper"). A transport turns records into what its
 * protocol carries (format, pure: no I/O, unit-tested without a network) and puts them on the
 * wire: one request for the whole batch (REST), or one transfer per record with many in flight
 * (AMQP, MQTT). Either way send answers per record, as a contiguous prefix:
 *
 *   st->acked       recs[0..acked) are stored by the hub (201, accepted dispositions, PUBACKs):
 *                   the shipper advances the cursor over them, whatever the result says of the
 *                   rest. A record after an unacknowledged one never counts, even when its own
 *                   acknowledgement came: the cursor moves only over a contiguous run.
 *   st->result      what became of recs[acked..n):
 *     AG_SEND_OK      every record is stored (acked == n).
 *     AG_SEND_RETRY   nothing from recs[acked] on is known to be stored: send them again after
 *                     a back-off (honour retry_after_ms when it is >= 0). why == AG_WHY_AUTH:
 *                     renew the token once (renew_auth) and retry; refused again: pause, report.
 *     AG_SEND_REJECT  the hub refused and will refuse again. why == AG_WHY_SIZE: an event is
 *                     too large or malformed. With st->one the hub named it: recs[acked] alone
 *                     (dead-letter it; the acked_after records right after it were stored);
 *                     without, the refusal is of the whole body: the shipper splits the batch to
 *                     find the event. why == AG_WHY_REFUSED (unknown hub, ...): the request as a
 *                     whole, not an event: pause and report, do not dead-letter.
 *
 * Answers read alike whatever the protocol: st->code is the peer's condition ("HTTP 413",
 * "amqp:link:message-size-exceeded", "" when no peer answered) and st->error a sentence a user
 * can act on, which quotes the peer's own text. Dead-letter reasons and `status` show
 * "CODE: SENTENCE" (ag_send_status_text).
 *
 * Threads: one context is used by one thread at a time. format and record_size are pure (they
 * read the context's settings only) and may be called from any thread.
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
    AG_WHY_NETWORK,   /* RETRY: no answer: refused, reset, DNS, timeout, connection lost */
    AG_WHY_TLS,       /* RETRY: TLS handshake or certificate check failed (likely configuration) */
    AG_WHY_THROTTLED, /* RETRY: 429, 503, com.microsoft:server-busy */
    AG_WHY_SERVER,    /* RETRY: other 5xx, 408, 410, amqp:internal-error, detach-forced, ... */
    AG_WHY_AUTH,      /* RETRY: 401/403, amqp:unauthorized-access: the token or policy refused */
    AG_WHY_SIZE,      /* REJECT: 400/413, message-size-exceeded, a rejected event */
    AG_WHY_REFUSED,   /* REJECT: any other 4xx, amqp:not-found: the request as a whole */
    AG_WHY_INTERNAL,  /* RETRY: out of memory or a local failure */
};

#define AG_SEND_CODE_MAX  64
#define AG_SEND_ERROR_MAX 320

/* What a send tells the shipper. Filled completely by every send (ag_send_status_reset). */
struct ag_send_status {
    enum ag_send_result result;
    enum ag_send_why why;
    size_t acked;                  /* recs[0..acked) are stored (see the top of this file) */
    int one;                       /* the result is about recs[acked] alone */
    size_t acked_after;            /* with one: stored records right after recs[acked] */
    int64_t retry_after_ms;        /* the server's wish, -1 when it gave none */
    char code[AG_SEND_CODE_MAX];   /* the peer's condition: "HTTP 503", "amqp:…"; "" if none */
    char error[AG_SEND_ERROR_MAX]; /* "" on OK, else a sentence a user can act on */
};

/* One configuration setting, as read from the agent's INI section or the command line. */
struct ag_kv {
    const char *key;
    const char *value;
};

/* What the shipper must respect when building batches for this context. */
struct ag_transport_limits {
    size_t batch_overhead;   /* the bytes a batch has beyond its records' record_size sum */
    size_t max_batch_bytes;  /* batch_overhead + the record_size sum of a batch, at most */
    size_t max_event_bytes;  /* one record_size at most; a larger event is dead-lettered unsent */
    size_t max_batch_events; /* records per send at most; 0: the transport sets none */
    size_t max_in_flight;    /* batches begun and not ended at most (begin/end); 0, 1: one */
};

/* What a context has done since init, for `status` and metrics (names: ag_tp_counter_name). */
enum ag_tp_counter {
    AG_TPC_CONNECTS,     /* connections made (TCP + TLS + protocol open) */
    AG_TPC_DISCONNECTS,  /* connections lost or dropped after a failure */
    AG_TPC_REQUESTS,     /* HTTP requests, AMQP transfers, MQTT publishes */
    AG_TPC_ACCEPTED,     /* events the hub acknowledged */
    AG_TPC_RETRIED,      /* events of sends that failed and will be sent again */
    AG_TPC_REJECTED,     /* events the hub refused on their own */
    AG_TPC_BYTES,        /* payload bytes sent (bodies, messages) */
    AG_TPC_TOKENS,       /* SAS tokens made or renewed after the first */
    AG_TPC_AUTH_REFUSED, /* answers that refused the token */
    AG_TPC_COUNT
};

struct ag_transport_counters {
    uint64_t v[AG_TPC_COUNT];
};

struct ag_transport {
    const char *name; /* "https", "amqp", ... */

    /*
     * Read the settings conf[0..n) (the keys each transport documents; unknown keys are an
     * error) and prepare to send. No connection is made yet. arg is the shipper's tp_arg,
     * passed through for decorators (NULL for the plain transports). On success returns 0 and
     * *ctx owns the context (close it with close). On failure returns a negative code, writes a
     * sentence a user can act on into err (errlen bytes) and *ctx is NULL.
     */
    int (*init)(const struct ag_kv *conf, size_t n, void *arg, void **ctx, char *err,
                size_t errlen);

    /*
     * Send recs[0..n) (n >= 1, within the limits) and wait for the answers, at most the
     * configured timeout. Fills *st completely and returns st->result. The records (and the
     * bytes they point to) are valid during the call only: keep nothing of them. Connections
     * are kept and reused between sends; a connection found dead before anything was sent on
     * it is made again at once.
     */
    enum ag_send_result (*send)(void *ctx, const struct ag_record *const *recs, size_t n,
                                struct ag_send_status *st);

    /* Release the context; accepts NULL. */
    void (*close)(void *ctx);

    /*
     * Pure: append what the protocol carries for recs[0..n) to out (REST: the batch body;
     * AMQP: the encoded messages, one after the other). The appended length is exactly
     * limits' batch_overhead + the sum of record_size(recs[i]). Returns 0, or -ENOMEM (out is then
     * left as it was).
     */
    int (*format)(void *ctx, const struct ag_record *const *recs, size_t n, struct hc_buf *out);

    /* Pure: the exact number of bytes rec adds to what format makes. */
    size_t (*record_size)(void *ctx, const struct ag_record *rec);

    /*
     * Get fresh credentials now (the AG_WHY_AUTH path), whatever the current ones' age.
     * Returns 0, or HC_E_AUTH when the credentials cannot be renewed (a prebuilt token).
     * NULL when the transport has no credentials to renew.
     */
    int (*renew_auth)(void *ctx);

    /* Fill *lim for this context. Read again after every send: a transport may learn its
     * limits when it connects (AMQP's max-message-size comes with the attach). */
    void (*limits)(void *ctx, struct ag_transport_limits *lim);

    /*
     * Optional (NULL: nothing to do): called by the shipper when it has nothing to send, at
     * least every second or so. Keeps a connection alive (heartbeats, answers to the peer,
     * token renewal before expiry). Never blocks for long.
     */
    void (*idle)(void *ctx);

    /* Optional: the context's counters so far. */
    void (*counters)(void *ctx, struct ag_transport_counters *c);

    /*
     * Optional, for transports that keep events in flight across batches (NULL: the shipper
     * waits for each send's answer before it sends again). begin starts sending recs[0..n) as
     * send does and returns without waiting for their answers; the records stay valid until
     * end has answered for them. At most limits.max_in_flight batches are begun and not ended;
     * events go on the wire in the order they were begun. end waits for the answers of the
     * oldest begun batch and fills *st exactly as send would have for it. After an answer that
     * is not a whole OK, the shipper calls abort: every batch still begun is forgotten (not
     * known to be stored: the shipper sends its events again). send(recs, n) = begin + end.
     */
    void (*begin)(void *ctx, const struct ag_record *const *recs, size_t n);
    enum ag_send_result (*end)(void *ctx, struct ag_send_status *st);
    void (*abort)(void *ctx);
};

/* Status fields to "nothing known yet": RETRY/INTERNAL, nothing acked, no code or error. */
void ag_send_status_reset(struct ag_send_status *st);

/* "CODE: error" (or just the error when there is no code) into out (cap bytes); returns out. */
const char *ag_send_status_text(const struct ag_send_status *st, char *out, size_t cap);

/* "ok", "retry", "reject". Static. */
const char *ag_send_result_name(enum ag_send_result r);

/* "connects", "requests", ... (snake_case, for JSON and metrics). Static. */
const char *ag_tp_counter_name(enum ag_tp_counter c);

/* ---- registry ------------------------------------------------------------------------------ */

/* The transport named name (case-insensitive) in this build, or NULL. */
const struct ag_transport *ag_transport_find(const char *name);

/* The transports of this build, comma-separated ("https, amqp"). Static. */
const char *ag_transport_names(void);

/*
 * The transport to use: name when given (NULL or "" = the default for the connection string
 * among conf[0..n)). The default follows the connection string, as Azure's SDKs do:
 *   https:// or http:// Endpoint                     https
 *   sb:// Endpoint                                   amqp (TLS, 5671 or the Endpoint's port)
 *   sb:// with UseDevelopmentEmulator=true and no    amqp, plain (Azure's emulator, which has
 *     port, or port 5672                             no REST; hubcap-receiver's AMQP string)
 *   sb:// with UseDevelopmentEmulator=true and       https, plain HTTP on that port (the string
 *     another port                                   hubcap-receiver prints for REST and every
 *                                                    local REST endpoint before AMQP existed)
 * and falls back to the other transport when the chosen one is not in this build. Returns 0
 * and *out, or HC_E_NOTFOUND with a sentence in err (an unknown name, or one not built).
 */
int ag_transport_choose(const char *name, const struct ag_kv *conf, size_t n,
                        const struct ag_transport **out, char *err, size_t errlen);

/* Event Hubs REST over HTTPS (agent/transport/https), built with HUBCAP_WITH_HTTPS. */
extern const struct ag_transport ag_transport_https;
/* Event Hubs AMQP 1.0 (agent/transport/amqp), built with HUBCAP_WITH_AMQP. */
extern const struct ag_transport ag_transport_amqp;
/* MQTT to Azure IoT Hub or a broker (agent/transport/mqtt), built with HUBCAP_WITH_MQTT. */
extern const struct ag_transport ag_transport_mqtt;

#endif
