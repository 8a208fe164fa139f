/*
 * request.h - a request to the $cbs or $management node as a struct (pure), and what its reply
 * must echo.
 *
 * CBS put-token: amqp-value string body = the token; application-properties operation =
 * "put-token", type = "servicebus.windows.net:sastoken" (or "jwt"), name = the audience,
 * expiration (.NET, Python) ignored. $management READ: operation "READ", name = the hub, type
 * "com.microsoft:eventhub" or "com.microsoft:partition", partition, security_token (.NET sends
 * no put-token for that link). Property values may be strings or symbols.
 *
 * The reply's correlation-id is the request's message-id with its AMQP type (JavaScript: a UUID
 * string; Python and uAMQP: ulong counters; .NET: strings or uuids). reply-to may be absent
 * (Python, uAMQP). Views point into the request's bytes.
 */
#ifndef RX_AMQP_REQUEST_H
#define RX_AMQP_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "receiver/amqp/codec.h"

/* A string view; s NULL when absent. */
struct rx_amqp_str {
    const char *s;
    size_t len;
};

struct rx_amqp_request {
    struct rx_amqp_val message_id; /* kind NULL when absent */
    struct rx_amqp_str reply_to;
    struct rx_amqp_str operation, type, name, partition, security_token;
    struct rx_amqp_str token; /* the amqp-value string body (put-token) */
};

/*
 * Parse the request message p[0..n). Returns 0, or HC_E_PARSE with *why a static sentence
 * (not a message, no operation). What a particular operation needs is the caller's to check.
 */
int rx_amqp_request_parse(const uint8_t *p, size_t n, struct rx_amqp_request *r, const char **why);

/* 1 when v equals s (len bytes) exactly; s NULL-safe. */
int rx_amqp_str_is(const struct rx_amqp_str *v, const char *s);

#endif
