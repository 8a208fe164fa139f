/*
 * amqp_conf.h - settings of the Event Hubs AMQP 1.0 transport, and the pure parts of amqp.c.
 *
 * amqp_conf.c turns settings into a struct ag_amqp_conf without I/O; amqp_msg.c holds the other
 * pure pieces (the message encoding, the outcome mapping, the contiguous acknowledgement);
 * amqp.c does the I/O (qpid-proton's connection driver over the agent's own socket) and fills
 * ag_transport_amqp (agent/transport/transport.h). Wire facts: /work/shared/AMQP.md.
 *
 * Settings (ag_amqp_conf_set): those of every Event Hubs transport (hubconf.h:
 * connection_string, hub, ca_file, connect_timeout, timeout, token_ttl, token_renew, tier,
 * max_batch_bytes) and
 *   idle_timeout   the idle-time-out this side announces: the hub must send something (a
 *                  heartbeat at least) this often, else the connection counts as dead;
 *                  default 60s, 0 = none
 * Where it connects (ag_amqp_conf_finish): the Endpoint's host and port; without a port 5671
 * with TLS, or 5672 in plain TCP with UseDevelopmentEmulator=true (the only way to plain TCP: an
 * http:// Endpoint is refused). TLS always verifies the peer's certificate and sends SNI, against
 * ca_file and the system's CA store (proton loads both); the name checked is the Endpoint's
 * host (proton compares DNS names and the CN only: give a host name, not an IP address).
 * Tokens are signed for sb://{host}/{hub} (lower case, no port), sent by CBS put-token.
 */
#ifndef AG_AMQP_CONF_H
#define AG_AMQP_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "agent/buffer/queue.h"
#include "agent/transport/hubconf.h"
#include "agent/transport/transport.h"
#include "common/buf.h"

#define AG_AMQP_PORT_TLS   5671
#define AG_AMQP_PORT_PLAIN 5672

struct ag_amqp_conf {
    struct ag_hub_conf hub;
    int64_t idle_timeout_ms;

    char host[HC_CONNSTR_HOST_MAX]; /* to connect to: IPv6 without its brackets */
    int port;
    int tls;
    char audience[HC_CONNSTR_HOST_MAX + HC_CONNSTR_NAME_MAX + 16]; /* sb://host/hub */
};

/* Defaults, no strings. Free with ag_amqp_conf_free. */
void ag_amqp_conf_default(struct ag_amqp_conf *c);

/* Apply one setting, as ag_https_conf_set does (HC_E_NOTFOUND for an unknown key, *why). */
int ag_amqp_conf_set(struct ag_amqp_conf *c, const char *key, const char *value, const char **why);

/* Check the settings and derive host, port, tls and audience. Returns 0, or a code with a
 * sentence in *why ("AMQP in plain TCP needs UseDevelopmentEmulator=true", ...). */
int ag_amqp_conf_finish(struct ag_amqp_conf *c, const char **why);

/* Release and wipe; accepts NULL. */
void ag_amqp_conf_free(struct ag_amqp_conf *c);

/* ---- the message of one event (amqp_msg.c) -------------------------------------------------- */

/*
 * One event as one AMQP message, encoded by hand (the bytes of a transfer), in this order:
 *   message-annotations  {symbol "x-opt-partition-key": string device_id}
 *   application-properties {"event_id": string uuid, "device_id": string, "kind": string,
 *                           "schema": long}
 *   data                 the envelope JSON (rec->json) as binary
 * the sections Event Hubs' own clients send for an event with a partition key and properties.
 * Short forms (str8, sym8, map8, vbin8, smalllong) where they fit, else the 32-bit forms.
 * ag_amqp_message_size(rec) is exactly what ag_amqp_message_encode appends. Returns 0 or
 * -ENOMEM (out left as it was).
 */
size_t ag_amqp_message_size(const struct ag_record *rec);
int ag_amqp_message_encode(const struct ag_record *rec, struct hc_buf *out);

/*
 * The reply to a CBS put-token (AMQP.md), from the encoded message msg[0..len) as it came on the
 * $cbs receiver link (decoded with qpid-proton). Returns 1 when its correlation-id is the ulong
 * id: *status gets its application property status-code (any integer type), -1 when it has
 * none (or 0); desc (cap bytes) its status-description string, "" when none, cut to fit.
 * Returns 0 for another message (status and desc untouched), HC_E_PARSE when msg is empty or
 * does not decode, -ENOMEM.
 */
int ag_amqp_cbs_reply(const char *msg, size_t len, uint64_t id, int *status, char *desc,
                      size_t cap);

/* ---- outcomes (amqp_msg.c) --------------------------------------------------------------- */

/*
 * An AMQP error condition (of a rejected delivery, a refused attach, a detach or a close) as a
 * result (AMQP.md "Dispositions"): com.microsoft:server-busy THROTTLED; com.microsoft:timeout,
 * amqp:internal-error, amqp:link:detach-forced, amqp:connection:forced and anything unknown
 * SERVER (RETRY); amqp:unauthorized-access AUTH (RETRY); amqp:link:message-size-exceeded SIZE
 * (REJECT); amqp:not-found, amqp:not-allowed, amqp:link:stolen, amqp:resource-limit-exceeded,
 * com.microsoft:argument-error REFUSED (REJECT). of_delivery: the condition rejected one
 * delivery, so a refusal is of that event: REJECT with SIZE (dead letter) for every refusing
 * condition but unauthorized-access.
 */
enum ag_send_result ag_amqp_condition_result(const char *condition, int of_delivery,
                                             enum ag_send_why *why);

/* What became of one transfer of a send. */
enum ag_amqp_outcome {
    AG_AMQP_PENDING = 0, /* no answer (yet): not stored, as far as is known */
    AG_AMQP_ACCEPTED,    /* the accepted disposition came */
    AG_AMQP_REFUSED,     /* rejected, the hub will refuse it again: dead-letter it */
    AG_AMQP_RETRY,       /* rejected or released for a passing reason: send again */
};

/*
 * The shipper's view of outcomes[0..n) (transport.h): st->acked = the leading run of
 * ACCEPTED; when the first other one is REFUSED, st->one is set, st->acked_after counts the
 * ACCEPTED right after it, and the result is REJECT/SIZE; else RETRY (its why, code and error
 * are the caller's to fill); all ACCEPTED: OK. Returns st->result.
 */
enum ag_send_result ag_amqp_summarize(const uint8_t *outcomes, size_t n, struct ag_send_status *st);

#endif
