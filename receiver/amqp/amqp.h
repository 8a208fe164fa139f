/*
 * amqp.h - the Event Hubs AMQP 1.0 front end, as serve starts it (rx_frontend_amqp,
 * core/frontend.h), for Azure's own clients unchanged (the facts: /work/shared/AMQP.md).
 *
 * Listeners: plain AMQP on [amqp] listen (development mode: 127.0.0.1:5672, or --amqp) and AMQP
 * over TLS on [amqp] listen_tls (5671 when a certificate is given; our own TLS with OpenSSL, TLS
 * 1.2 and 1.3, not proton's: the checks and padding of wire.h need the plain bytes). Connections
 * are spread over [amqp] threads event loops (epoll); each runs qpid-proton's connection driver
 * over our own non-blocking sockets, so a slow client holds only its own connection.
 *
 * Per connection: SASL offered (MSSBCBS, ANONYMOUS, PLAIN; not required: sasl.h), links
 * authorized by CBS put-token on $cbs (checked with rx_sas_check, renewed on the live link; a
 * sender link whose token expires is detached with amqp:unauthorized-access), $management READ
 * of the hub and its partitions (node.c), sender links to a hub or one of its partitions in every
 * address form (address.h) whose deliveries, single messages or batches (message.h), go to the
 * core; each is settled `accepted` only after its events are on disk (the core's done callback,
 * handed back to the connection's loop through an eventfd), else `rejected` with
 * com.microsoft:server-busy (back-pressure, a disk failure), amqp:link:message-size-exceeded,
 * amqp:decode-error (a malformed message). What a client sends is checked before proton reads
 * it (wire.h): a malformed frame closes that connection with amqp:decode-error (its
 * performative) or amqp:connection:framing-error (its header), a description, and nothing of it
 * reaches proton; what proton writes is padded to whole performatives (wire.h: Azure's Python
 * client reads fields by position). Connections silent for idle_timeout are closed
 * (amqp:resource-limit-exceeded, proton's idle timer); past connection_limit a new connection is
 * told amqp:resource-limit-exceeded in an AMQP close once it has sent its open (at most 64 such
 * at once; past that the socket is closed). A consumer whose socket does not take what it is
 * sent gets no more events encoded until it does.
 *
 * /metrics: hubcap_receiver_amqp_connections_total{result}, _connections_open, _links_open,
 * _links_expired_total, _links_refused_total{condition}, _deliveries_total{outcome},
 * _cbs_total{status}, _management_total{status}, _decode_errors_total, _idle_closed_total.
 */
#ifndef RX_AMQP_AMQP_H
#define RX_AMQP_AMQP_H

#include "receiver/core/frontend.h"

extern const struct rx_frontend rx_frontend_amqp;

#endif
