/*
 * sasl.h - the SASL layer of the AMQP front end: a proton SASL implementation
 * (proton/sasl_plugin.h) that offers MSSBCBS, ANONYMOUS and PLAIN and lets every client in.
 *
 * Debian's qpid-proton 0.37 has no Cyrus SASL: its own server offers ANONYMOUS and EXTERNAL
 * only, and .NET and uAMQP-C insist on MSSBCBS. Nothing is authenticated here: a connection
 * may also come without a SASL layer (rhea without a key name, Java), and every link is
 * authorized through CBS put-token (conn.c). A PLAIN password is not looked at (Event Hubs has
 * no such credential).
 */
#ifndef RX_AMQP_SASL_H
#define RX_AMQP_SASL_H

#include <proton/transport.h>

/* The mechanisms offered, in order of preference. */
#define RX_AMQP_SASL_MECHS "MSSBCBS ANONYMOUS PLAIN"

/*
 * Whether the mechanism a client chose (a NUL-terminated name) is one we offer: 1 or 0 (pure;
 * the client is refused with a SASL outcome "auth" then).
 */
int rx_amqp_sasl_accepts(const char *mechanism);

/*
 * Give transport t (a server transport, before its connection is bound) the SASL layer: offered,
 * not required. Returns 0.
 */
int rx_amqp_sasl_setup(pn_transport_t *t);

#endif
