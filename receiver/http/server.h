/*
 * server.h - the receiver's HTTP server on libmicrohttpd: /healthz, /metrics, the JSON API
 * (/api/v1, api/api.h), the dashboard (/, /static/..., web/web.h), and one mounted handler for
 * the send paths (the Event Hubs REST send API, rest/send.h). Routes: http/route.h.
 *
 * The server owns the connections and what is hostile about them; handlers see whole requests:
 *
 * - Framing: a request with a Transfer-Encoding other than chunked is answered 501 (RFC 9112
 *   6.1: a coding the server does not implement; 415 is about the content's type, not its
 *   framing), with two different Content-Length values or both Content-Length and
 *   Transfer-Encoding 400, and then the connection is closed (its body cannot be delimited).
 *   HTTP/1.1 without Host is 400.
 * - Refusals (400, 401, 404, 405, 413, 503) keep the connection: the body is read and dropped
 *   first, so a client that writes its whole body before reading sees the answer, and a
 *   pipelined request behind it is served (libmicrohttpd 0.9.75 closes every connection
 *   answered from the headers, so every answer that can wait is given after the body). Only a
 *   body declared over RX_HTTP_DRAIN_X times max_publication, or one the client holds back for
 *   Expect: 100-continue, is answered at once; the connection is then closed lingeringly: the
 *   answer is sent, the write side shut, and what the client still sends read and dropped for
 *   up to RX_HTTP_LINGER_MS before the socket is closed, so the client reads the answer instead
 *   of a reset. A chunked body that goes past RX_HTTP_DRAIN_X times max_publication is cut off
 *   (the connection closed without an answer).
 * - Deadlines: a request's line and headers must be in within header_timeout of the
 *   connection's start; on a kept connection, its request line within connection_timeout +
 *   header_timeout of the previous answer (an idle one is closed by connection_timeout first)
 *   and its headers within header_timeout of its request line; its body within body_timeout of
 *   its headers. Else the connection is closed (hubcap_receiver_http_deadline_closed_total
 *   {phase}): a client sending a byte a second cannot hold a connection for longer.
 * - Memory: each connection's libmicrohttpd pool (RX_HTTP_POOL bytes; libmicrohttpd zeroes all
 *   of it after each request, so it is resident) is charged against max_inflight
 *   (rx_core_charge) from its first request until it closes; a request on a connection whose
 *   pool cannot be charged is answered 503 (except /healthz and /metrics).
 *
 * Answers from the server are 200, 400, 404, 405 (Allow: GET, HEAD; Allow: POST on the send
 * paths), 501, 503 (Retry-After: 1); errors in Event Hubs' XML:
 * <Error><Code>404</Code><Detail>…</Detail></Error>. Every answer is counted in /metrics by
 * status.
 *
 * Threads: libmicrohttpd's (http_threads of them) call the handler; rx_http_adopt may be called
 * from any thread.
 */
#ifndef RX_HTTP_SERVER_H
#define RX_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "receiver/core/frontend.h"
#include "receiver/http/route.h"

#define RX_HTTP_POOL      (32u * 1024) /* libmicrohttpd's memory per connection */
#define RX_HTTP_DRAIN_X   4            /* a refused body is drained up to 4 x max_publication */
#define RX_HTTP_LINGER_MS 5000         /* reading what follows an answer given before the body */

struct rx_http;

/* What a request's headers say of its body. */
struct rx_http_body {
    uint64_t length; /* Content-Length (0 when none or chunked) */
    int chunked;     /* Transfer-Encoding: chunked: the length is not known */
};

/*
 * The handler of the send paths (RX_ROUTE_SEND). Its functions run on libmicrohttpd's threads,
 * one request of a connection at a time.
 */
struct rx_http_handler {
    /*
     * The headers of a request on route rt are in. Return 0 and set *req (the handler's state
     * for this request, not NULL), or refuse: return the status (400, 401, 404, 405, 413, 503)
     * with *why a static sentence; the server answers it (draining the body when it can).
     */
    int (*begin)(void *ctx, struct MHD_Connection *conn, const char *url, const char *method,
                 const struct rx_route *rt, const struct rx_http_body *body, void **req,
                 const char **why);
    /* A piece of the body: 0, or refuse as begin does (the rest is read and dropped). */
    int (*body)(void *req, const char *data, size_t len, const char **why);
    /*
     * The whole body is in: queue the answer (rx_http_answer...) and return its result, or
     * suspend the connection (MHD_suspend_connection) and return MHD_YES: after
     * MHD_resume_connection, end is called again.
     */
    enum MHD_Result (*end)(void *req, struct MHD_Connection *conn);
    /* The request is over (answered, refused, or its connection ended): release req. */
    void (*done)(void *req);
    /*
     * Stop taking requests (refuse them 503) and return how many are still being processed;
     * rx_http_stop calls it until 0 or its drain time is up.
     */
    int (*drain)(void *ctx);
};

/* rx_http_start flags */
#define RX_HTTP_NO_LISTEN 1u /* no listening socket: connections come from rx_http_adopt */

/*
 * Start the server: listening on c->listen_addr:c->port (HTTPS when c->tls_cert is set), or
 * with RX_HTTP_NO_LISTEN on no socket of its own, with c->http_threads threads. send (with its
 * ctx) answers the send paths; NULL: 404. env's members, send and ctx must outlive the server.
 * Returns 0 and sets *out, or -errno / HC_E_INVAL with *why a static sentence.
 */
int rx_http_start(const struct rx_frontend_env *env, const struct rx_http_handler *send, void *ctx,
                  unsigned flags, struct rx_http **out, const char **why);

/*
 * Serve the accepted connection fd (a stream socket; bytes the acceptor only peeked with
 * MSG_PEEK are still there for the server to read), from the peer sa (salen bytes, as accept(2)
 * gave them; copied; not NULL). Only for a server started with RX_HTTP_NO_LISTEN: it keeps to
 * connection_limit by counting what it is handed (libmicrohttpd 0.9.75 hangs a thread when a
 * connection handed to it finds that thread full: the server refuses first, which it can only
 * do exactly when every connection comes through here).
 * Thread-safe, also against rx_http_stop (which makes it refuse: -ESHUTDOWN); not after
 * rx_http_stop returned. With HTTPS the TLS handshake is the server's. The fd belongs to the
 * server from this call on, whatever it returns: the server closes it when the connection ends,
 * or at once when it cannot serve it. Returns 0; -ENFILE (connection_limit connections open),
 * -ESHUTDOWN (stopping), -EINVAL (the server has a listener of its own), or another -errno
 * from libmicrohttpd (-ENOMEM...).
 */
int rx_http_adopt(struct rx_http *h, int fd, const struct sockaddr *sa, socklen_t salen);

/* The port listened on (useful with port 0); 0 with RX_HTTP_NO_LISTEN. */
int rx_http_port(const struct rx_http *h);

/*
 * Stop: accept no new connection, refuse new requests 503, wait up to drain_ms for the handler
 * to finish what it holds, close every connection (and lingering socket) and free h. Returns 0;
 * or the number of requests the handler still holds, and then h is left allocated for them
 * (the process is about to exit): the handler's ctx must stay too. NULL is ok.
 */
int rx_http_stop(struct rx_http *h, int64_t drain_ms);

/*
 * Answers, for the handler (on the thread that called it, or after resuming). Each counts the
 * status in /metrics and returns MHD_queue_response's result. rx_http_answer copies text (len
 * bytes) with Content-Type ctype; rx_http_answer_error answers status with the XML error body
 * and why (static), Retry-After: 1 with a 503; rx_http_answer_response queues resp (not
 * consumed).
 */
enum MHD_Result rx_http_answer(struct MHD_Connection *conn, int status, const char *ctype,
                               const char *text, size_t len);
enum MHD_Result rx_http_answer_error(struct MHD_Connection *conn, int status, const char *why);
enum MHD_Result rx_http_answer_response(struct MHD_Connection *conn, int status,
                                        struct MHD_Response *resp);

#endif
